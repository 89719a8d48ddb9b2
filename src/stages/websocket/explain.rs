//! What the WebSocket stage's observations mean: an [`Upgrade`] turned into one finding (the
//! server's status line and the response headers that matter, whose problem it is and what to
//! do) and the stage's summary line. Pure: the upgrade and the plain MQTT probe happened in the
//! observing part.

use async_tungstenite::tungstenite::error::{Error as WsError, ProtocolError, SubProtocolError};
use async_tungstenite::tungstenite::http::{HeaderMap, Response};
use serde_json::{Map, Value};

use crate::config::DoctorConfig;
use crate::findings::registry::{
    WS_BAD_PATH, WS_FORBIDDEN, WS_HTTP_ERROR, WS_NO_SUBPROTOCOL, WS_NOT_WEBSOCKET, WS_UPGRADED,
};
use crate::findings::{Finding, millis};
use crate::secret::{MAX_PEER_BODY, MAX_PEER_TEXT, peer_bytes, peer_text};
use crate::stages::tcp;
use crate::transport::Peer;
use crate::transport::probe::PlainReply;
use crate::transport::websocket::SUBPROTOCOL;

use super::{NoHttp, Upgrade};

/// Response headers worth showing: who answered, and what it said about the upgrade.
const SHOWN_HEADERS: [&str; 9] = [
    "server",
    "upgrade",
    "connection",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "www-authenticate",
    "location",
    "via",
    "content-type",
];

/// The stage's summary line and its finding, for `upgrade` of the connection to `peer`.
pub(super) fn explain(config: &DoctorConfig, peer: &Peer, upgrade: &Upgrade) -> (String, Finding) {
    let url = config.target.url();
    let sent = sent_headers(config);

    let finding = match upgrade {
        Upgrade::Upgraded {
            response, elapsed, ..
        } => {
            let status = status_line(response);
            let subprotocol = header(response.headers(), "sec-websocket-protocol");
            let finding = Finding::new(
                &WS_UPGRADED,
                format!(
                    "{peer} upgraded {} to a WebSocket in {} ms (\"{status}\", subprotocol {}).",
                    config.target.path.as_deref().unwrap_or("/mqtt"),
                    millis(*elapsed),
                    subprotocol.as_deref().unwrap_or(SUBPROTOCOL)
                ),
            )
            .with_evidence("url", url.as_str())
            .with_evidence("status", status.as_str())
            .with_evidence("subprotocol", subprotocol.as_deref().unwrap_or(SUBPROTOCOL))
            .with_evidence("headers", shown_headers(response.headers()))
            .with_evidence("elapsed_ms", millis(*elapsed));
            let finding = with_sent(finding, &sent);
            return (format!("{status}, subprotocol mqtt"), finding);
        }
        Upgrade::Refused(response) => http_finding(config, peer, response, &sent),
        Upgrade::NoSubprotocol(error) => no_subprotocol(peer, &url, *error),
        Upgrade::NotHttp { why, plain, proxy } => {
            let what = match why {
                NoHttp::Broken(error) => {
                    let what = match error {
                        WsError::Io(io) => format!("the connection ended ({})", io.kind()),
                        WsError::Protocol(ProtocolError::HandshakeIncomplete) => {
                            "the server closed the connection without answering".to_string()
                        }
                        WsError::Protocol(ProtocolError::HttparseError(_)) => {
                            "the server answered with something that is not HTTP".to_string()
                        }
                        WsError::Protocol(protocol) => {
                            format!("the answer broke the handshake: {protocol}")
                        }
                        other => other.to_string(),
                    };
                    // tungstenite's messages may quote what the server sent (a header name, a
                    // status).
                    peer_text(&what, MAX_PEER_TEXT)
                }
                NoHttp::Silent(budget) => {
                    format!("no answer to the upgrade within {}", budget.describe())
                }
            };
            if proxy.is_empty() {
                not_websocket(config, peer, &url, what, plain)
            } else {
                tcp::proxy_protocol_expected(
                    peer,
                    "WebSocket upgrade",
                    &format!("got no HTTP answer ({what})"),
                    proxy,
                    "was upgraded",
                )
            }
        }
    };
    let summary = finding.def.title.to_string();
    (summary, with_sent(finding, &sent))
}

fn status_line(response: &Response<Option<Vec<u8>>>) -> String {
    let status = response.status();
    format!(
        "{:?} {} {}",
        response.version(),
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_string()
}

/// A response header's value, as the server's own words: cleaned and capped.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| peer_bytes(v.as_bytes(), MAX_PEER_TEXT))
}

/// The response headers that tell who answered and why.
fn shown_headers(headers: &HeaderMap) -> Value {
    let mut shown = Map::new();
    for name in SHOWN_HEADERS {
        if let Some(value) = header(headers, name) {
            shown.insert(name.to_string(), Value::String(value));
        }
    }
    Value::Object(shown)
}

/// The extra headers sent, each value as its length and fingerprint only.
fn sent_headers(config: &DoctorConfig) -> Vec<(String, String)> {
    config
        .websocket
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.describe()))
        .collect()
}

fn with_sent(finding: Finding, sent: &[(String, String)]) -> Finding {
    if sent.is_empty() {
        return finding;
    }
    let list: Map<String, Value> = sent
        .iter()
        .map(|(name, described)| (name.clone(), Value::String(described.clone())))
        .collect();
    finding.with_evidence("sent_headers", Value::Object(list))
}

/// The start of an error page, enough to recognise it: cleaned of control characters and
/// capped. A page may echo the request, `--ws-header` values included: the pipeline's
/// [`crate::redact::Redactor`] replaces those, as it does in everything a peer says.
fn body_text(body: Option<&Vec<u8>>) -> Option<String> {
    let text = peer_bytes(body?, MAX_PEER_BODY);
    (!text.is_empty()).then_some(text)
}

fn http_finding(
    config: &DoctorConfig,
    peer: &Peer,
    response: &Response<Option<Vec<u8>>>,
    sent: &[(String, String)],
) -> Finding {
    let status = response.status().as_u16();
    let line = status_line(response);
    let headers = response.headers();
    let path = config.target.path.as_deref().unwrap_or("/mqtt");
    let host = config.target.authority();
    let scheme = config.target.scheme.as_str();
    let server = header(headers, "server")
        .map(|s| format!(" (server: {s})"))
        .unwrap_or_default();
    let finding = match status {
        404 => Finding::new(
            &WS_BAD_PATH,
            format!(
                "{peer} answered the upgrade of {path} with \"{line}\"{server}: there is no \
                 WebSocket endpoint at this path."
            ),
        )
        .with_evidence("path", path)
        .with_fix(format!(
            "Use the path the broker serves MQTT on: EMQX and HiveMQ use /mqtt (EMQX: \
             listeners.ws.default.websocket.mqtt_path), others /ws or /. Give it in the URL \
             ({scheme}://{host}/PATH) or with --ws-path. Behind nginx, an ingress or a load \
             balancer, check that a route for {path} leads to the broker's WebSocket listener."
        )),
        401 | 403 => {
            let challenge = header(headers, "www-authenticate")
                .map(|c| format!(" It asks for: {c}."))
                .unwrap_or_default();
            let given = if sent.is_empty() {
                "No extra headers were sent".to_string()
            } else {
                format!(
                    "The headers sent ({}) did not satisfy it",
                    sent.iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Finding::new(
                &WS_FORBIDDEN,
                format!(
                    "{peer} answered the upgrade with \"{line}\"{server}: something in front of \
                     the broker does not let this client upgrade.{challenge} {given}. This is \
                     HTTP, not MQTT: the broker has not seen the MQTT credentials yet."
                ),
            )
            .with_fix(
                "Give what the web server, gateway or ingress in front wants as a header, e.g. \
                 --ws-header 'Authorization: Bearer <token>', or have this client's address or \
                 Origin allowed there (nginx auth_basic or allow/deny, an ingress auth \
                 annotation, a WAF rule).",
            )
        }
        301 | 302 | 303 | 307 | 308 => {
            let location = header(headers, "location").unwrap_or_default();
            let hint = if location.starts_with("https://") || location.starts_with("wss://") {
                " The server wants TLS: use wss://.".to_string()
            } else {
                String::new()
            };
            Finding::new(
                &WS_HTTP_ERROR,
                format!(
                    "{peer} answered the upgrade with a redirect, \"{line}\" to {location}.{hint} \
                     WebSocket clients do not follow redirects."
                ),
            )
            .with_fix(format!(
                "Connect to where the redirect points: the scheme, host, port and path of \
                 {location}."
            ))
        }
        502..=504 => Finding::new(
            &WS_HTTP_ERROR,
            format!(
                "{peer} answered the upgrade with \"{line}\"{server}: a reverse proxy or load \
                 balancer answered, and it cannot reach the broker behind it."
            ),
        )
        .with_fix(
            "Check the proxy's backend: is the broker running, and does the proxy point at its \
             WebSocket listener's port? nginx logs the backend error in its error.log (\"connect() \
             failed\", \"upstream timed out\").",
        ),
        200 => Finding::new(
            &WS_HTTP_ERROR,
            format!(
                "{peer} answered the upgrade with \"{line}\"{server}, a web page: the server \
                 behind this URL ignores WebSocket upgrades."
            ),
        )
        .with_fix(
            "Point at the broker's WebSocket listener: a web server or a reverse proxy without \
             WebSocket forwarding (nginx needs proxy_http_version 1.1 and the Upgrade and \
             Connection headers passed on) answers like this.",
        ),
        _ => Finding::new(
            &WS_HTTP_ERROR,
            format!("{peer} refused the upgrade with \"{line}\"{server}."),
        )
        .with_fix(
            "A 400 often means the server wants something in the request it did not get (EMQX \
             answers 400 to an upgrade without a subprotocol it supports); 426 means it wants \
             another protocol version. Check the broker's or the proxy's log for this request.",
        ),
    };
    let mut finding = finding
        .with_evidence("url", config.target.url())
        .with_evidence("status", line.as_str())
        .with_evidence("headers", shown_headers(headers));
    if let Some(body) = body_text(response.body().as_ref()) {
        finding = finding.with_evidence("body", body);
    }
    finding
}

fn no_subprotocol(peer: &Peer, url: &str, error: SubProtocolError) -> Finding {
    let (answered, what) = match error {
        SubProtocolError::NoSubProtocol => (
            Value::Null,
            "accepted the upgrade without naming a subprotocol".to_string(),
        ),
        SubProtocolError::InvalidSubProtocol => (
            Value::String("not mqtt".into()),
            "accepted the upgrade with a subprotocol other than mqtt".to_string(),
        ),
        SubProtocolError::ServerSentSubProtocolNoneRequested => (
            Value::String("unrequested".into()),
            "named a subprotocol that was not asked for".to_string(),
        ),
    };
    Finding::new(
        &WS_NO_SUBPROTOCOL,
        format!(
            "{peer} {what}: it did not take the mqtt subprotocol the upgrade asked for. \
             Browsers, MQTT.js and Paho close such a connection at once."
        ),
    )
    .with_evidence("url", url)
    .with_evidence("status", "101 Switching Protocols")
    .with_evidence("subprotocol", answered)
    .with_fix(
        "Either this path leads to another application's WebSocket (check the route to the \
         broker), or a proxy in front drops the Sec-WebSocket-Protocol header so that the broker \
         never sees it: pass it through (nginx passes it unless told otherwise; check \
         proxy_set_header lines and ingress annotations). Mosquitto upgrades a request without \
         the header and answers without a subprotocol, which is exactly this.",
    )
}

/// The upgrade got no HTTP answer. If a plain MQTT CONNECT on a new connection (with TLS when
/// the target has it) got a CONNACK, the port is an MQTT listener; otherwise say what came back.
fn not_websocket(
    config: &DoctorConfig,
    peer: &Peer,
    url: &str,
    what: String,
    plain: &PlainReply,
) -> Finding {
    let plain_scheme = if config.uses_tls() { "mqtts" } else { "mqtt" };
    let host = config.target.authority();
    match plain {
        PlainReply::Connack(code) => Finding::new(
            &WS_NOT_WEBSOCKET,
            format!(
                "{peer} did not answer the WebSocket upgrade ({what}), and a plain MQTT CONNECT \
                 on a new connection got a CONNACK (return code {code}): this port speaks MQTT \
                 directly, not over WebSocket."
            ),
        )
        .with_evidence("url", url)
        .with_evidence("upgrade_answer", what)
        .with_evidence("plain_connect", format!("CONNACK, return code {code}"))
        .with_fix(format!(
            "Use {plain_scheme}://{host} for this port, or the broker's WebSocket listener (a \
             Mosquitto listener with protocol websockets, often 9001 or 8080; EMQX 8083, or \
             8084 for wss; HiveMQ 8000)."
        )),
        other => Finding::new(
            &WS_HTTP_ERROR,
            format!(
                "{peer} did not answer the WebSocket upgrade like a web server: {what}. A plain \
                 MQTT CONNECT got no CONNACK either ({}).",
                other.describe()
            ),
        )
        .with_evidence("url", url)
        .with_evidence("status", what)
        .with_fix(
            "Check which service listens on this port, and whether a proxy or load balancer in \
             front expects another protocol (TLS: wss://, the PROXY protocol).",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WsHeader;
    use crate::secret::Secret;

    #[test]
    fn the_request_asks_for_mqtt_and_carries_the_extra_headers() {
        let mut config = DoctorConfig::new(crate::target::parse("ws://broker:8083").unwrap());
        config.websocket.headers.push(WsHeader {
            name: "Authorization".into(),
            value: Secret::new("Bearer abc"),
        });
        let request = crate::transport::websocket::request(&config).unwrap();
        assert_eq!(request.uri().to_string(), "ws://broker:8083/mqtt");
        assert_eq!(request.headers()["sec-websocket-protocol"], "mqtt");
        assert_eq!(request.headers()["authorization"], "Bearer abc");
        let sent = sent_headers(&config);
        assert_eq!(sent[0].0, "Authorization");
        assert!(!sent[0].1.contains("abc"));
    }

    #[test]
    fn an_error_page_is_cleaned_and_capped() {
        let body = b"<html>\r\n denied:\x1b[2J X-Api-Key k3y-value\n</html>".to_vec();
        assert_eq!(
            body_text(Some(&body)).unwrap(),
            "<html> denied: [2J X-Api-Key k3y-value </html>"
        );
        let huge = vec![b'x'; 1 << 20];
        let text = body_text(Some(&huge)).unwrap();
        assert!(text.len() < MAX_PEER_BODY + 40, "{}", text.len());
        assert!(body_text(Some(&b" \r\n".to_vec())).is_none());
        assert!(body_text(None).is_none());
    }
}
