//! A scripted Kubernetes API server on loopback, for `--k8s-api`.
//!
//! No real API server can be installed here. This one reproduces the conventions of the
//! Kubernetes API that the doctor relies on
//! (https://kubernetes.io/docs/reference/using-api/api-concepts/): HTTPS with a certificate from
//! the cluster's CA; collections listed at `/apis/GROUP/VERSION/namespaces/NS/RESOURCE` and, for
//! the core group, `/api/v1/namespaces/NS/services`; the ServiceAccount token as
//! `Authorization: Bearer TOKEN` (401 without the right one); list answers
//! `{"kind":"XxxList","apiVersion":...,"metadata":{"resourceVersion":...},"items":[...]}` whose
//! items carry no `kind` or `apiVersion`; and `Status` bodies for 401, 403 and 404, worded as the
//! API server words them. Every request is recorded so that a test can check what was asked.
//! The items served are a fixture's (fixtures/k8s), split by kind and namespace.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use super::pki::{Ca, Leaf, Pair};
use super::scripted::tls_config;

const AIO_GROUP: &str = "mqttbroker.iot.azure.com";

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
}

/// What the server does.
pub struct Script {
    /// The token it accepts.
    pub token: String,
    /// Resources (with kind and apiVersion, as in a fixture) it lists.
    pub items: Vec<Value>,
    /// An HTTP status instead of the list, by resource (`brokerauthorizations`).
    pub statuses: HashMap<&'static str, u16>,
    /// Accept connections and never answer (no TLS handshake, no HTTP).
    pub silent: bool,
}

pub struct ApiServer {
    pub addr: SocketAddr,
    /// The CA that issued its certificate: the pod's `ca.crt`.
    pub ca_pem: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ApiServer {
    /// Starts on 127.0.0.1, with a certificate for that address from a CA of its own.
    pub fn start(script: Script) -> ApiServer {
        let ca = Ca::new("kubernetes");
        let pair: Pair = ca.issue(&Leaf::server());
        let tls = tls_config(&pair.cert, &pair.key);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let record = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (tls, script, record) = (tls.clone(), script.clone(), record.clone());
                thread::spawn(move || serve(stream, tls, &script, &record));
            }
        });
        ApiServer {
            addr,
            ca_pem: ca.pem,
            seen,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.path).collect()
    }
}

fn serve(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    script: &Script,
    seen: &Mutex<Vec<Seen>>,
) {
    if script.silent {
        // Holds the connection open without a byte, longer than any test's deadline.
        thread::sleep(Duration::from_secs(60));
        drop(stream);
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let connection = rustls::ServerConnection::new(tls).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, stream);
    let mut buffer = Vec::new();
    loop {
        // One request head (GETs carry no body).
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if buffer.len() > 64 * 1024 {
                return;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head: Vec<u8> = buffer.drain(..end).collect();
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
            return;
        }
        let path = request.path.unwrap_or_default().to_string();
        let authorization = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("authorization"))
            .map(|h| String::from_utf8_lossy(h.value).into_owned());
        seen.lock().unwrap().push(Seen {
            path: path.clone(),
            authorization: authorization.clone(),
        });
        let (status, body) = answer(script, &path, authorization.as_deref());
        let reason = match status {
            200 => "OK",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            _ => "Error",
        };
        let body = body.to_string();
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: \
             {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
    }
}

/// The status and body for one request.
fn answer(script: &Script, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let status = |code: u16, reason: &str, message: String| {
        (
            code,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": message, "reason": reason, "code": code}),
        )
    };
    if authorization != Some(format!("Bearer {}", script.token).as_str()) {
        return status(401, "Unauthorized", "Unauthorized".into());
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, version, namespace, resource) = match parts.as_slice() {
        ["api", "v1", "namespaces", ns, resource] => ("", "v1", *ns, *resource),
        ["apis", group, version, "namespaces", ns, resource] => (*group, *version, *ns, *resource),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
            );
        }
    };
    match script.statuses.get(resource) {
        Some(403) => {
            let qualified = if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            };
            return status(
                403,
                "Forbidden",
                format!(
                    "{qualified} is forbidden: User \"system:serviceaccount:factory:sensor\" \
                     cannot list resource \"{resource}\" in API group \"{group}\" in the \
                     namespace \"{namespace}\""
                ),
            );
        }
        Some(404) => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
            );
        }
        Some(code) => return status(*code, "InternalError", "scripted failure".into()),
        None => {}
    }
    let kind = match resource {
        "brokers" => "Broker",
        "brokerlisteners" => "BrokerListener",
        "brokerauthentications" => "BrokerAuthentication",
        "brokerauthorizations" => "BrokerAuthorization",
        "services" => "Service",
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
            );
        }
    };
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let items: Vec<Value> = script
        .items
        .iter()
        .filter(|item| item["kind"] == kind)
        .filter(|item| {
            let aio = item["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with(AIO_GROUP));
            aio != group.is_empty()
        })
        .filter(|item| item["metadata"]["namespace"].as_str().unwrap_or("default") == namespace)
        .map(|item| {
            // The API server leaves these out of a list's items.
            let mut item = item.clone();
            let object = item.as_object_mut().unwrap();
            object.remove("kind");
            object.remove("apiVersion");
            item
        })
        .collect();
    (
        200,
        json!({"kind": format!("{kind}List"), "apiVersion": api_version,
               "metadata": {"resourceVersion": "4711"}, "items": items}),
    )
}

/// Every resource of a fixture (JSON `List`, or YAML documents and `List`s), flattened.
pub fn fixture_items(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    let documents: Vec<Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text).unwrap()]
    } else {
        serde_norway::Deserializer::from_str(text)
            .map(|d| Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null())
            .collect()
    };
    documents
        .into_iter()
        .flat_map(|d| {
            if d["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
                d["items"].as_array().cloned().unwrap_or_default()
            } else {
                vec![d]
            }
        })
        .collect()
}
