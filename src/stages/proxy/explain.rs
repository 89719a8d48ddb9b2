//! What the proxy stage's observations mean: an [`Outcome`] turned into one finding (quoting the
//! proxy's own reply, with whose problem it is and what to do) and the stage's summary line.
//! Pure: every network exchange, the follow-up probe included, happened in the observing part.

use std::net::SocketAddr;

use crate::config::DoctorConfig;
use crate::findings::registry::{
    FindingDef, PROXY_AUTH_REQUIRED, PROXY_CONNECTED, PROXY_REFUSED, PROXY_TARGET_UNREACHABLE,
    PROXY_TIMEOUT, PROXY_WRONG_KIND,
};
use crate::findings::{Finding, millis};
use crate::proxy::ProxyKind;
use crate::secret::peer_bytes;
use crate::stages::context::Budget;
use crate::transport::tunnel::{MAX_REPLY_HEAD, ProxyFailure, Tunnel, is_reset};

use super::Outcome;

/// What the proxy stage concluded about a failure.
struct Diagnosis {
    def: &'static FindingDef,
    /// An HTTP proxy's `Proxy-Authenticate` challenge.
    authenticate: Option<String>,
    reply: String,
    detail: String,
    fix: String,
}

/// The stage's summary line and its finding, for `outcome` of asking the proxy at `proxy_addr`
/// for `tunnel`.
pub(super) fn explain(
    config: &DoctorConfig,
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    outcome: &Outcome,
) -> (String, Finding) {
    let diagnosis = match outcome {
        Outcome::Opened { reply, elapsed, .. } => {
            return (
                connected_summary(tunnel),
                connected(tunnel, proxy_addr, reply, *elapsed),
            );
        }
        Outcome::NoAnswer {
            budget,
            bytes_received,
            other,
        } => match other {
            Some(other) => {
                let silence = format!("no answer within {}", budget.describe());
                wrong_kind(tunnel, proxy_addr, *other, silence)
            }
            None => {
                return (
                    "no answer from the proxy".to_string(),
                    no_answer(tunnel, proxy_addr, budget, *bytes_received),
                );
            }
        },
        Outcome::Failed { failure, other } => diagnose(config, tunnel, proxy_addr, failure, *other),
    };
    let finding = failure_finding(tunnel, diagnosis);
    (finding.def.title.to_string(), finding)
}

fn connected_summary(tunnel: &Tunnel) -> String {
    format!(
        "{} → {} ({})",
        tunnel.proxy.url(),
        tunnel.target.authority(),
        tunnel.proxy.source
    )
}

fn connected(
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    reply: &str,
    elapsed: std::time::Duration,
) -> Finding {
    evidence(
        Finding::new(
            &PROXY_CONNECTED,
            format!(
                "The proxy at {proxy_addr} opened a tunnel to {} in {} ms ({reply}).",
                tunnel.target.authority(),
                millis(elapsed)
            ),
        ),
        tunnel,
    )
    .with_evidence("reply", reply)
    .with_evidence("elapsed_ms", millis(elapsed))
}

fn no_answer(tunnel: &Tunnel, proxy_addr: SocketAddr, budget: &Budget, bytes: usize) -> Finding {
    evidence(
        Finding::new(
            &PROXY_TIMEOUT,
            format!(
                "The proxy at {proxy_addr} accepted the TCP connection but did not answer the \
                 {} request within {}{}.",
                request_name(tunnel.proxy.kind),
                budget.describe(),
                if bytes > 0 {
                    format!(" (it sent {bytes} bytes of a reply, then nothing more)")
                } else {
                    String::new()
                }
            ),
        ),
        tunnel,
    )
    .with_evidence("timeout_ms", budget.timeout.as_millis() as u64)
    .with_evidence("bytes_received", bytes as u64)
    .with_fix(format!(
        "Check that {} is a proxy of the kind the URL says ({}), that it is not \
         overloaded, and its log for this request. A proxy waiting on its own slow \
         connection to {} answers late too: raise --timeout to see whether an answer \
         comes.",
        tunnel.proxy.authority(),
        tunnel.proxy.kind.scheme(),
        tunnel.target.authority()
    ))
}

/// The finding for a failure, with the evidence its kind adds.
fn failure_finding(tunnel: &Tunnel, diagnosis: Diagnosis) -> Finding {
    let mut finding = evidence(Finding::new(diagnosis.def, diagnosis.detail), tunnel)
        .with_evidence("reply", diagnosis.reply)
        .with_fix(diagnosis.fix);
    if let Some(challenge) = diagnosis.authenticate {
        finding = finding.with_evidence("authenticate", challenge);
    }
    match &finding.def {
        def if *def == &PROXY_AUTH_REQUIRED => {
            finding.with_evidence("credentials_sent", tunnel.proxy.has_credentials())
        }
        def if *def == &PROXY_WRONG_KIND => finding.with_evidence(
            "speaks",
            match tunnel.proxy.kind {
                ProxyKind::Http => "socks5",
                ProxyKind::Socks5 | ProxyKind::Socks5h => "http",
            },
        ),
        _ => finding,
    }
}

fn request_name(kind: ProxyKind) -> &'static str {
    match kind {
        ProxyKind::Http => "CONNECT",
        ProxyKind::Socks5 | ProxyKind::Socks5h => "SOCKS5",
    }
}

fn evidence(finding: Finding, tunnel: &Tunnel) -> Finding {
    finding
        .with_evidence("proxy", tunnel.proxy.url())
        .with_evidence("source", tunnel.proxy.source.as_str())
        .with_evidence("kind", tunnel.proxy.kind.scheme())
        .with_evidence("target", tunnel.target.authority())
}

/// `other` is the other proxy protocol the port answered on a new connection, when the failure
/// called for that probe.
fn diagnose(
    config: &DoctorConfig,
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    failure: &ProxyFailure,
    other: Option<ProxyKind>,
) -> Diagnosis {
    let proxy = &tunnel.proxy;
    let target = tunnel.target.authority();
    let credentials_sent = proxy.has_credentials();
    let unreachable = |reply: String, what: &str| Diagnosis {
        authenticate: None,
        def: &PROXY_TARGET_UNREACHABLE,
        detail: format!(
            "The proxy at {proxy_addr} could not connect to {target}: {what}. This is the \
             proxy's view from its own network; the broker may well be reachable from here, \
             and the proxy {}.",
            if proxy.kind.resolves_names() {
                "also resolved the broker's name with its own DNS"
            } else {
                "was given the address resolved here"
            }
        ),
        reply,
        fix: format!(
            "Check the broker from the proxy's side (its log for this request), and whether \
             the broker should be reached through this proxy at all: an internal broker is \
             often reachable only directly (to try: {}). If the proxy cannot resolve an internal name, \
             use socks5:// to resolve it here instead.",
            proxy.direct_hint()
        ),
    };
    let auth = |reply: String, what: String| Diagnosis {
        authenticate: None,
        def: &PROXY_AUTH_REQUIRED,
        detail: what,
        reply,
        fix: if credentials_sent {
            "The proxy rejected the user name or password in the proxy URL: check them \
             (percent-encode @ : / and % in them, e.g. p%40ss for p@ss)."
                .to_string()
        } else {
            format!(
                "Give the proxy's credentials in its URL: {}://USER:PASSWORD@{} (in --proxy or \
                 the variable it came from, {}). Only Basic (HTTP) and user/password (SOCKS5) \
                 are spoken; for an NTLM or Kerberos proxy run a local relay such as cntlm or \
                 px and point --proxy at it.",
                proxy.kind.scheme(),
                proxy.authority(),
                proxy.source
            )
        },
    };
    let refused = |reply: String, what: String| Diagnosis {
        authenticate: None,
        def: &PROXY_REFUSED,
        detail: what,
        reply,
        fix: format!(
            "Ask the proxy's administrators to allow tunnels to {target}: Squid allows CONNECT \
             to its SSL_ports only (add the port to that list: acl SSL_ports port {port}), \
             tinyproxy only to its ConnectPort list. \
             Otherwise reach the broker another way (directly: {}).",
            proxy.direct_hint(),
            port = config.target.port
        ),
    };
    match failure {
        ProxyFailure::Http {
            status,
            status_line,
            authenticate,
        } => match *status {
            407 | 401 => {
                let quirk = if *status == 401 {
                    " (401 rather than 407: tinyproxy answers wrong credentials so)"
                } else {
                    ""
                };
                let mut diagnosis = auth(
                    status_line.clone(),
                    format!(
                        "The proxy at {proxy_addr} answered \"{status_line}\"{quirk}: it {}.",
                        if credentials_sent {
                            "rejected the credentials given"
                        } else {
                            "wants credentials, and none were given"
                        }
                    ),
                );
                if let Some(challenge) = authenticate {
                    diagnosis
                        .detail
                        .push_str(&format!(" It asks for: {challenge}."));
                }
                diagnosis.authenticate = authenticate.clone();
                diagnosis
            }
            500 | 502 | 503 | 504 => unreachable(
                status_line.clone(),
                &format!("it answered \"{status_line}\""),
            ),
            _ => refused(
                status_line.clone(),
                format!(
                    "The proxy at {proxy_addr} refused to open a tunnel to {target}: it answered \
                     \"{status_line}\"."
                ),
            ),
        },
        ProxyFailure::Socks(error) => {
            socks_diagnosis(tunnel, proxy_addr, error, other, auth, refused, unreachable)
        }
        ProxyFailure::NotHttp(bytes) => {
            wrong_kind_or(tunnel, proxy_addr, Some(bytes.as_slice()), other, refused)
        }
        ProxyFailure::Closed => wrong_kind_or(tunnel, proxy_addr, None, other, refused),
        ProxyFailure::TooLong => refused(
            format!("more than {MAX_REPLY_HEAD} bytes of reply head"),
            format!(
                "The proxy at {proxy_addr} answered the CONNECT with a reply head of more than \
                 {MAX_REPLY_HEAD} bytes: this is not an HTTP proxy's answer."
            ),
        ),
        ProxyFailure::Io(error) => refused(
            error.kind().to_string(),
            format!(
                "The connection to the proxy at {proxy_addr} failed during the CONNECT: {error}."
            ),
        ),
    }
}

fn socks_diagnosis(
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    error: &tokio_socks::Error,
    other: Option<ProxyKind>,
    auth: impl Fn(String, String) -> Diagnosis,
    refused: impl Fn(String, String) -> Diagnosis,
    unreachable: impl Fn(String, &str) -> Diagnosis,
) -> Diagnosis {
    use tokio_socks::Error as E;
    let target = tunnel.target.authority();
    match error {
        E::NoAcceptableAuthMethods | E::AuthorizationRequired | E::UnknownAuthMethod => {
            let offered = if tunnel.proxy.username.is_some() {
                "user name and password"
            } else {
                "no authentication"
            };
            auth(
                "no acceptable authentication method (0xFF)".into(),
                format!(
                    "The SOCKS5 proxy at {proxy_addr} accepts none of the authentication methods \
                     offered ({offered}): it wants credentials the doctor was not given, or a \
                     method it does not speak."
                ),
            )
        }
        E::PasswordAuthFailure(code) => auth(
            format!("user name/password rejected (status 0x{code:02X})"),
            format!(
                "The SOCKS5 proxy at {proxy_addr} rejected the user name and password \
                 (RFC 1929 status 0x{code:02X})."
            ),
        ),
        E::GeneralSocksServerFailure => unreachable(
            "general SOCKS server failure (0x01)".into(),
            "it reported a general failure (0x01), which most proxies send when they cannot \
             resolve the name or connect",
        ),
        E::NetworkUnreachable => unreachable(
            "network unreachable (0x03)".into(),
            "its network has no route to the broker (0x03)",
        ),
        E::HostUnreachable => unreachable(
            "host unreachable (0x04)".into(),
            "the broker's host is unreachable from it (0x04)",
        ),
        E::ConnectionRefused => unreachable(
            "connection refused (0x05)".into(),
            "the broker refused the proxy's connection (0x05): nothing listens on that port as \
             the proxy sees it",
        ),
        E::TtlExpired => unreachable(
            "TTL expired (0x06)".into(),
            "its connection attempt timed out (0x06)",
        ),
        E::ConnectionNotAllowedByRuleset => refused(
            "connection not allowed by ruleset (0x02)".into(),
            format!(
                "The SOCKS5 proxy at {proxy_addr} does not allow connections to {target} (reply \
                 0x02, not allowed by ruleset)."
            ),
        ),
        E::CommandNotSupported | E::AddressTypeNotSupported => {
            let what = if matches!(error, E::CommandNotSupported) {
                "command not supported (0x07)"
            } else {
                "address type not supported (0x08)"
            };
            refused(
                what.into(),
                format!(
                    "The SOCKS5 proxy at {proxy_addr} cannot serve this request: {what}.{}",
                    if tunnel.proxy.kind == ProxyKind::Socks5h {
                        " A proxy that does not resolve names answers a socks5h request so: use \
                         socks5:// to resolve the name here."
                    } else {
                        ""
                    }
                ),
            )
        }
        // The replies the observing part asked the other protocol about (`fits_neither`).
        E::InvalidResponseVersion
        | E::UnknownError
        | E::InvalidReservedByte
        | E::UnknownAddressType => wrong_kind_or(tunnel, proxy_addr, None, other, refused),
        E::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof || is_reset(io) => {
            wrong_kind_or(tunnel, proxy_addr, None, other, refused)
        }
        _ => refused(
            error.to_string(),
            format!("The SOCKS5 handshake with the proxy at {proxy_addr} failed: {error}."),
        ),
    }
}

/// The proxy's reply fits no protocol the URL names, and `other` is what the port answered, on
/// a new connection, in the other proxy protocol. A SOCKS port given as `http://` or an HTTP
/// proxy given as `socks5://` is named; anything else is a refusal with what came back.
fn wrong_kind_or(
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    reply: Option<&[u8]>,
    other: Option<ProxyKind>,
    refused: impl Fn(String, String) -> Diagnosis,
) -> Diagnosis {
    let proxy = &tunnel.proxy;
    let shown = match reply {
        Some(bytes) => shown_bytes(bytes),
        None => "closed without answering".to_string(),
    };
    match other {
        Some(other) => wrong_kind(tunnel, proxy_addr, other, shown),
        None => refused(
            shown.clone(),
            format!(
                "The proxy at {proxy_addr} did not answer the {} request like a {} proxy: {shown}.",
                request_name(proxy.kind),
                proxy.kind.scheme()
            ),
        ),
    }
}

/// The port answered `other`, not the protocol the URL names.
fn wrong_kind(
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    other: ProxyKind,
    shown: String,
) -> Diagnosis {
    let proxy = &tunnel.proxy;
    let (said, is, url_scheme) = match other {
        ProxyKind::Http => ("SOCKS5", "an HTTP proxy", "http"),
        ProxyKind::Socks5 | ProxyKind::Socks5h => ("HTTP", "a SOCKS5 proxy", "socks5h"),
    };
    Diagnosis {
        def: &PROXY_WRONG_KIND,
        authenticate: None,
        detail: format!(
            "The proxy URL says {said}, but {proxy_addr} is {is}: it did not answer the {said} \
             request ({shown}), and answered the other protocol on a new connection."
        ),
        reply: shown,
        fix: format!(
            "Use the proxy as what it is: --proxy {url_scheme}://{} (or fix the scheme in {}).",
            proxy.authority(),
            proxy.source
        ),
    }
}

/// The start of a reply that is not what the URL promised: as text when printable (cleaned and
/// capped, enough to recognise an HTTP or TLS answer), else in hex. Either way a cut is marked
/// (`… (N more bytes)`, `… (N bytes)`), so that a secret the reply quotes where it is cut is
/// still recognised by the redactor.
fn shown_bytes(bytes: &[u8]) -> String {
    const SHOWN: usize = 32;
    let head = &bytes[..bytes.len().min(SHOWN)];
    if head
        .iter()
        .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n'))
    {
        format!("\"{}\"", peer_bytes(bytes, SHOWN))
    } else {
        crate::wire::hex(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::proxy::fits_neither;
    use crate::transport::tunnel::TunnelTarget;

    /// The observing part probes the other protocol exactly for the failures whose explanation
    /// reads the probe's answer: a probe for any other failure would be wasted, and a missing one
    /// would turn a wrong scheme into a refusal.
    #[test]
    fn the_probe_is_made_for_exactly_the_failures_that_read_it() {
        use std::io::{Error, ErrorKind};
        use tokio_socks::Error as E;
        let config = DoctorConfig::new(crate::target::parse("mqtt://broker:1883").unwrap());
        let failures = || {
            vec![
                ProxyFailure::Http {
                    status: 403,
                    status_line: "HTTP/1.1 403 Forbidden".into(),
                    authenticate: None,
                },
                ProxyFailure::NotHttp(b"SSH-2.0".to_vec()),
                ProxyFailure::TooLong,
                ProxyFailure::Closed,
                ProxyFailure::Io(Error::from(ErrorKind::ConnectionReset)),
                ProxyFailure::Socks(E::InvalidResponseVersion),
                ProxyFailure::Socks(E::UnknownError),
                ProxyFailure::Socks(E::InvalidReservedByte),
                ProxyFailure::Socks(E::UnknownAddressType),
                ProxyFailure::Socks(E::Io(Error::from(ErrorKind::UnexpectedEof))),
                ProxyFailure::Socks(E::Io(Error::from(ErrorKind::ConnectionReset))),
                ProxyFailure::Socks(E::Io(Error::from(ErrorKind::ConnectionAborted))),
                ProxyFailure::Socks(E::Io(Error::from(ErrorKind::PermissionDenied))),
                ProxyFailure::Socks(E::ConnectionNotAllowedByRuleset),
                ProxyFailure::Socks(E::NoAcceptableAuthMethods),
                ProxyFailure::Socks(E::GeneralSocksServerFailure),
            ]
        };
        for url in ["http://proxy:3128", "socks5://proxy:1080"] {
            let proxy = crate::proxy::parse(url, "--proxy").unwrap();
            let other = match proxy.kind {
                ProxyKind::Http => ProxyKind::Socks5,
                ProxyKind::Socks5 | ProxyKind::Socks5h => ProxyKind::Http,
            };
            let tunnel = Tunnel {
                proxy,
                target: TunnelTarget::Name("broker".into(), 1883),
            };
            let addr = "127.0.0.1:3128".parse().unwrap();
            for failure in failures() {
                let diagnosis = diagnose(&config, &tunnel, addr, &failure, Some(other));
                assert_eq!(
                    fits_neither(&failure),
                    diagnosis.def == &PROXY_WRONG_KIND,
                    "{url}: {failure:?}"
                );
            }
        }
    }
}
