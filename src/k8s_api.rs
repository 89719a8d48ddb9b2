//! `--k8s-api`: Azure IoT Operations' resources fetched from the Kubernetes API server with the
//! pod's own ServiceAccount, instead of a file of `kubectl get` output.
//!
//! Five list requests at most, over one TLS connection that trusts the cluster's CA alone
//! (`ca.crt` beside the token) and checks the API server's certificate against the host it was
//! given (`KUBERNETES_SERVICE_HOST`, an address, or `kubernetes.default.svc`): brokers,
//! brokerlisteners, brokerauthentications and brokerauthorizations of
//! `mqttbroker.iot.azure.com/v1`, then core Services, all in one namespace. Every step waits
//! against a [`Budget`] (`--timeout`, cut at the run's deadline), and the bodies together are
//! capped at [`crate::k8s::MAX_BYTES`]. The answers go through the same parser as
//! `--k8s-resources` ([`crate::k8s::parse_lists`]).
//!
//! What goes wrong is typed: the whole fetch fails with an [`ApiError`] (no token, no CA, no
//! connection, the token refused), or one list with a [`ListError`] (forbidden, not found), so
//! that the stage runs the checks the lists it got allow and names the ones it could not. The
//! token is read here, sent in one header marked sensitive, and never put in any error or value
//! that leaves this module. Nothing here prints.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{ACCEPT, AUTHORIZATION, HOST, HeaderValue, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::budget::Budget;
use crate::files::{self, below_root};
use crate::k8s::{self, GROUP, MAX_BYTES, ParseError, Resources};
use crate::secret::{MAX_PEER_TEXT, Secret, peer_text};

/// Where a pod's ServiceAccount token, the cluster's CA and the pod's namespace are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = crate::pod::SERVICE_ACCOUNT_DIR;
/// The namespace listed when `--k8s-namespace` is not given: the one Azure IoT Operations
/// installs its broker in by default.
pub const DEFAULT_NAMESPACE: &str = "azure-iot-operations";
/// The API server's name inside every cluster, when `KUBERNETES_SERVICE_HOST` is not set.
pub const DEFAULT_HOST: &str = "kubernetes.default.svc";
/// The version of AIO's resources asked for (AIO's generally available API).
pub const AIO_VERSION: &str = "v1";
/// A token or a CA bundle is a few kilobytes.
const MAX_FILE: u64 = 1 << 20;

/// One of the five lists, in the order they are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Broker,
    BrokerListener,
    BrokerAuthentication,
    BrokerAuthorization,
    Service,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Broker,
        Kind::BrokerListener,
        Kind::BrokerAuthentication,
        Kind::BrokerAuthorization,
        Kind::Service,
    ];

    /// The resource's kind, as in `kind:`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Broker => "Broker",
            Kind::BrokerListener => "BrokerListener",
            Kind::BrokerAuthentication => "BrokerAuthentication",
            Kind::BrokerAuthorization => "BrokerAuthorization",
            Kind::Service => "Service",
        }
    }

    /// The resource's plural, as RBAC rules and URLs name it.
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Broker => "brokers",
            Kind::BrokerListener => "brokerlisteners",
            Kind::BrokerAuthentication => "brokerauthentications",
            Kind::BrokerAuthorization => "brokerauthorizations",
            Kind::Service => "services",
        }
    }

    /// The API group: AIO's, or the core group (`""`).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Service => "",
            _ => GROUP,
        }
    }

    /// `brokerauthorizations.mqttbroker.iot.azure.com`, or `services`.
    pub fn qualified(self) -> String {
        match self.group() {
            "" => self.resource().to_string(),
            group => format!("{}.{group}", self.resource()),
        }
    }

    /// The list request's path in `namespace`.
    pub fn path(self, namespace: &str) -> String {
        match self.group() {
            "" => format!("/api/v1/namespaces/{namespace}/{}", self.resource()),
            group => format!(
                "/apis/{group}/{AIO_VERSION}/namespaces/{namespace}/{}",
                self.resource()
            ),
        }
    }
}

/// Where the API server is and what to ask it, fixed by the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiSettings {
    /// A host name or an IP address, without brackets.
    pub host: String,
    pub port: u16,
    pub namespace: String,
    /// `MQTT_DOCTOR_ROOT`: the token and the CA are read below it.
    pub root: PathBuf,
    /// The pod's ServiceAccount (namespace, name), for the RoleBinding a refusal asks for.
    pub service_account: (Option<String>, Option<String>),
}

impl ApiSettings {
    /// `https://HOST:PORT`, an IPv6 address in brackets.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("https://[{}]:{}", self.host, self.port)
        } else {
            format!("https://{}:{}", self.host, self.port)
        }
    }

    fn authority(&self) -> String {
        self.endpoint().trim_start_matches("https://").to_string()
    }

    /// The token's path as the pod sees it.
    pub fn token_path() -> String {
        format!("{SERVICE_ACCOUNT_DIR}/token")
    }

    pub fn ca_path() -> String {
        format!("{SERVICE_ACCOUNT_DIR}/ca.crt")
    }
}

/// Checks a namespace name as Kubernetes does (an RFC 1123 label), so that it can go in a path.
pub fn parse_namespace(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "\"{}\" is not a Kubernetes namespace name (lower-case letters, digits and '-', at \
             most 63)",
            peer_text(text, 80)
        ))
    }
}

/// Why nothing could be fetched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    #[error("the ServiceAccount token {path} cannot be used: {problem}")]
    Token { path: String, problem: String },
    #[error("the cluster's CA {path} cannot be used: {problem}")]
    Ca { path: String, problem: String },
    #[error("cannot connect to the API server at {endpoint}: {problem}")]
    Connect { endpoint: String, problem: String },
    #[error("the TLS handshake with the API server at {endpoint} failed: {problem}")]
    Tls { endpoint: String, problem: String },
    #[error("the API server at {endpoint} did not {step} within {limit}")]
    Timeout {
        endpoint: String,
        step: String,
        limit: String,
    },
    #[error("the API server at {endpoint} broke off the HTTP exchange: {problem}")]
    Http { endpoint: String, problem: String },
    /// 401: the token was not accepted at all.
    #[error("the API server at {endpoint} refused the ServiceAccount token (401 Unauthorized)")]
    Unauthorized { endpoint: String, message: String },
}

/// Why one list could not be had.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    /// 403: the ServiceAccount may not list it. `message` is the API server's.
    #[error("403 Forbidden: {message}")]
    Forbidden { message: String },
    /// 404: no such resource type on this server (AIO's CRDs are not installed).
    #[error("404 Not Found: {message}")]
    NotFound { message: String },
    /// Not asked for: AIO's group was already found missing.
    #[error("not asked for: the API group {GROUP}/{AIO_VERSION} is not served")]
    Skipped,
    #[error("HTTP {code}: {message}")]
    Status { code: u16, message: String },
    #[error("the answers hold more than {MAX_BYTES} bytes")]
    TooLarge,
}

/// What the fetch brought back.
#[derive(Debug)]
pub struct Lists {
    pub endpoint: String,
    pub namespace: String,
    /// The lists that could not be had, in request order.
    pub failed: Vec<(Kind, ListError)>,
    /// The lists that came back, parsed together; `None` when no BrokerListener list came back
    /// (nothing can be compared without one).
    pub resources: Option<Result<Resources, ParseError>>,
}

/// What one fetch gave, shared by the targets of a run.
pub type Fetched = Arc<Result<Lists, ApiError>>;

/// `--k8s-api`: the settings, and the lists of the latest run, which every target of that run
/// shares.
#[derive(Debug)]
pub struct ApiSource {
    pub settings: ApiSettings,
    /// The lists, with the deadline of the run that fetched them: the targets of one run share a
    /// deadline (they all count from its start), so one fetch serves them all, while each run of
    /// `watch` fetches anew and sees a fixed Role or a changed listener.
    fetched: tokio::sync::Mutex<Option<(Instant, Fetched)>>,
}

impl ApiSource {
    pub fn new(settings: ApiSettings) -> ApiSource {
        ApiSource {
            settings,
            fetched: tokio::sync::Mutex::new(None),
        }
    }

    /// The lists for the run that ends at `deadline`, fetched by the first target that asks;
    /// the others wait for that fetch (itself bounded by the deadline) rather than repeat it.
    pub async fn lists(&self, timeout: Duration, deadline: Instant) -> Fetched {
        let mut fetched = self.fetched.lock().await;
        if let Some((run, lists)) = fetched.as_ref()
            && *run == deadline
        {
            return lists.clone();
        }
        let lists = Arc::new(fetch(&self.settings, timeout, deadline).await);
        *fetched = Some((deadline, lists.clone()));
        lists
    }
}

/// Fetches the five lists: each step (the connection with its handshake, then each request
/// with its body) gets `timeout`, cut at `deadline`.
pub async fn fetch(
    settings: &ApiSettings,
    timeout: Duration,
    deadline: Instant,
) -> Result<Lists, ApiError> {
    let endpoint = settings.endpoint();
    let token = read_token(&settings.root)?;
    let roots = read_roots(&settings.root)?;
    let name = ServerName::try_from(settings.host.clone()).map_err(|_| ApiError::Connect {
        endpoint: endpoint.clone(),
        problem: "the host is neither a DNS name nor an IP address".into(),
    })?;
    let mut bearer =
        HeaderValue::from_bytes(&[b"Bearer ", token.expose()].concat()).map_err(|_| {
            ApiError::Token {
                path: ApiSettings::token_path(),
                problem: "it holds bytes an HTTP header cannot carry".into(),
            }
        })?;
    bearer.set_sensitive(true);

    let budget = Budget::new(timeout, deadline);
    let timed_out = |step: &str, budget: &Budget| ApiError::Timeout {
        endpoint: endpoint.clone(),
        step: step.to_string(),
        limit: budget.describe(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ApiError::Tls {
        endpoint: endpoint.clone(),
        problem: e.to_string(),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = budget
        .run(TcpStream::connect((settings.host.as_str(), settings.port)))
        .await
        .ok_or_else(|| timed_out("accept a connection", &budget))?
        .map_err(|e| ApiError::Connect {
            endpoint: endpoint.clone(),
            problem: files::io_problem(&e),
        })?;
    let stream = budget
        .run(TlsConnector::from(Arc::new(tls)).connect(name, tcp))
        .await
        .ok_or_else(|| timed_out("finish the TLS handshake", &budget))?
        .map_err(|e| ApiError::Tls {
            endpoint: endpoint.clone(),
            problem: tls_problem(&e),
        })?;
    let http_error = |e: hyper::Error| ApiError::Http {
        endpoint: endpoint.clone(),
        problem: e.to_string(),
    };
    let (mut sender, connection) = budget
        .run(hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(
            TokioIo::new(stream),
        ))
        .await
        .ok_or_else(|| timed_out("accept a connection", &budget))?
        .map_err(http_error)?;
    // The connection's task ends with the requests: dropping the guard aborts it.
    let _connection = AbortOnDrop(tokio::spawn(connection));

    let mut failed = Vec::new();
    let mut bodies: Vec<(Kind, Bytes)> = Vec::new();
    let mut left = MAX_BYTES;
    let mut aio_missing = false;
    for kind in Kind::ALL {
        // Without AIO's group its other kinds 404 too, and the Services compare with nothing.
        if aio_missing {
            failed.push((kind, ListError::Skipped));
            continue;
        }
        let budget = Budget::new(timeout, deadline);
        let what = format!("answer GET {}", kind.path(&settings.namespace));
        let request = Request::get(kind.path(&settings.namespace))
            .header(HOST, settings.authority())
            .header(AUTHORIZATION, bearer.clone())
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("mqtt-doctor/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| ApiError::Http {
                endpoint: endpoint.clone(),
                problem: e.to_string(),
            })?;
        let answer = budget
            .run(async {
                sender.ready().await?;
                sender.send_request(request).await
            })
            .await
            .ok_or_else(|| timed_out(&what, &budget))?
            .map_err(http_error)?;
        let status = answer.status();
        let body = match budget
            .run(Limited::new(answer.into_body(), left as usize).collect())
            .await
            .ok_or_else(|| timed_out(&what, &budget))?
        {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                failed.push((kind, ListError::TooLarge));
                // The rest of that body is still on the connection: nothing more can be asked.
                break;
            }
            Err(error) => {
                return Err(ApiError::Http {
                    endpoint: endpoint.clone(),
                    problem: error.to_string(),
                });
            }
        };
        left = left.saturating_sub(body.len() as u64);
        match status {
            StatusCode::OK => bodies.push((kind, body)),
            StatusCode::UNAUTHORIZED => {
                return Err(ApiError::Unauthorized {
                    endpoint,
                    message: status_message(&body, token.expose()),
                });
            }
            StatusCode::FORBIDDEN => failed.push((
                kind,
                ListError::Forbidden {
                    message: status_message(&body, token.expose()),
                },
            )),
            StatusCode::NOT_FOUND => {
                aio_missing |= kind.group() == GROUP;
                failed.push((
                    kind,
                    ListError::NotFound {
                        message: status_message(&body, token.expose()),
                    },
                ));
            }
            other => failed.push((
                kind,
                ListError::Status {
                    code: other.as_u16(),
                    message: status_message(&body, token.expose()),
                },
            )),
        }
    }
    let unread: Vec<String> = failed.iter().map(|(k, _)| k.name().to_string()).collect();
    let source = format!(
        "the API server ({endpoint}, namespace {})",
        settings.namespace
    );
    let resources = bodies
        .iter()
        .any(|(kind, _)| *kind == Kind::BrokerListener)
        .then(|| {
            let slices: Vec<&[u8]> = bodies.iter().map(|(_, b)| b.as_ref()).collect();
            k8s::parse_lists(&slices, unread, &source)
        });
    Ok(Lists {
        endpoint,
        namespace: settings.namespace.clone(),
        failed,
        resources,
    })
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> fmt::Debug for AbortOnDrop<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AbortOnDrop")
    }
}

fn read_token(root: &Path) -> Result<Secret, ApiError> {
    let path = ApiSettings::token_path();
    let bytes = read_file(root, &path).map_err(|problem| ApiError::Token {
        path: path.clone(),
        problem,
    })?;
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Err(ApiError::Token {
            path,
            problem: "the file is empty".into(),
        });
    }
    Ok(Secret::new(trimmed))
}

fn read_roots(root: &Path) -> Result<RootCertStore, ApiError> {
    let path = ApiSettings::ca_path();
    let problem = |problem: String| ApiError::Ca {
        path: path.clone(),
        problem,
    };
    let bytes = read_file(root, &path).map_err(problem)?;
    let certs = crate::certs::parse_certs(&bytes, Path::new(&path)).map_err(|e| ApiError::Ca {
        path: path.clone(),
        problem: e.problem,
    })?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(problem(
            "it holds no certificate usable as a trust anchor".into(),
        ));
    }
    Ok(roots)
}

/// A file below the root, as a problem a person reads when it cannot be had.
fn read_file(root: &Path, absolute: &str) -> Result<Vec<u8>, String> {
    files::read_capped(&below_root(root, absolute), MAX_FILE).map_err(|e| match e {
        files::ReadError::Io(error) if error.kind() == std::io::ErrorKind::NotFound => {
            "the file does not exist (is automountServiceAccountToken false for this pod?)".into()
        }
        files::ReadError::Io(error) => files::io_problem(&error),
        files::ReadError::TooLarge(_) => format!("it holds more than {MAX_FILE} bytes"),
    })
}

/// What a failed handshake means, from rustls' typed error.
fn tls_problem(error: &std::io::Error) -> String {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => format!(
            "its certificate is not valid for the cluster's CA ({SERVICE_ACCOUNT_DIR}/ca.crt) and \
             this host: {cert:?}"
        ),
        Some(other) => other.to_string(),
        None => files::io_problem(error),
    }
}

/// The `message` of the API server's `Status` answer, as text from a peer.
/// The `message` of a Status body, as peer text; withheld whole when it carries any 16
/// characters of the token, which a proxy or webhook in front of the API server may echo from
/// the Authorization header (the run's redactor knows only the MQTT credentials).
fn status_message(body: &[u8], token: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .map(|m| peer_text(&m, MAX_PEER_TEXT))
        .unwrap_or_default();
    let echoes = token
        .windows(16)
        .any(|w| message.as_bytes().windows(16).any(|m| m == w));
    if echoes {
        return "(the message is withheld: it repeats part of the ServiceAccount token)".into();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_endpoints() {
        assert_eq!(
            Kind::BrokerAuthorization.path("azure-iot-operations"),
            "/apis/mqttbroker.iot.azure.com/v1/namespaces/azure-iot-operations/brokerauthorizations"
        );
        assert_eq!(Kind::Service.path("ns"), "/api/v1/namespaces/ns/services");
        let mut settings = ApiSettings {
            host: "fd00::1".into(),
            port: 443,
            namespace: "ns".into(),
            root: "/".into(),
            service_account: (None, None),
        };
        assert_eq!(settings.endpoint(), "https://[fd00::1]:443");
        settings.host = "10.96.0.1".into();
        assert_eq!(settings.authority(), "10.96.0.1:443");
        assert!(parse_namespace("azure-iot-operations").is_ok());
        assert!(parse_namespace("../x").is_err());
        assert!(parse_namespace("").is_err());
    }

    #[test]
    fn status_messages_are_peer_text() {
        let body = br#"{"kind":"Status","message":"brokers is forbidden: User \"x\" cannot list"}"#;
        let token = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl";
        assert_eq!(
            status_message(body, token),
            "brokers is forbidden: User \"x\" cannot list"
        );
        assert_eq!(status_message(b"<html>", token), "");
        let echoed =
            br#"{"message":"bad header: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ"}"#;
        let withheld = status_message(echoed, token);
        assert!(withheld.contains("withheld"), "{withheld}");
        assert!(!withheld.contains("eyJzdWIi"), "{withheld}");
    }
}
