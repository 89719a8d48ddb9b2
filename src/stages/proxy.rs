//! Proxy stage: ask the proxy the TCP stage reached for a tunnel to the broker.
//!
//! Behind a proxy, "cannot connect" has three more answers than without one: the proxy wants
//! credentials, its policy refuses the destination (Squid and tinyproxy allow CONNECT to port 443
//! only by default), or it cannot reach the broker from where it stands. Each is a different
//! person's problem, so each gets its own finding, quoting the proxy's own reply. What the proxy
//! reports about the broker is its view from its network, and the findings say so.
//!
//! HTTP proxies get a `CONNECT`, read byte by byte up to the blank line so that not one byte of
//! the tunnel is taken from the stages above; the reply is parsed with `httparse`. SOCKS5 is
//! `tokio-socks`, whose error variants map one to one onto the SOCKS reply codes. A reply that
//! fits neither protocol is checked against the other one on a new connection, so that a SOCKS
//! port given as `http://` (or the reverse) is named as such.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::findings::registry::{
    FindingDef, PROXY_AUTH_REQUIRED, PROXY_CONNECTED, PROXY_REFUSED, PROXY_TARGET_UNREACHABLE,
    PROXY_TIMEOUT, PROXY_WRONG_KIND,
};
use crate::findings::{Finding, millis};
use crate::proxy::{ProxyChoice, ProxyKind};
use crate::secret::peer_bytes;
use crate::stages::context::{Budget, Context, StageOutput};
use crate::target::Host;
use crate::transport::tunnel::{
    MAX_REPLY_HEAD, ProxyFailure, Tunnel, TunnelTarget, is_reset, open_counting,
};
use crate::transport::{Connection, Peer};

/// What the proxy stage concluded about a failure.
struct Diagnosis {
    def: &'static FindingDef,
    /// An HTTP proxy's `Proxy-Authenticate` challenge.
    authenticate: Option<String>,
    reply: String,
    detail: String,
    fix: String,
}

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
    let config = ctx.config;
    let proxy = match &config.proxy {
        ProxyChoice::Use(proxy) => proxy.clone(),
        ProxyChoice::None => return StageOutput::not_applicable("no proxy: connecting directly"),
        ProxyChoice::Bypassed { variable, reason } => {
            return StageOutput::not_applicable(format!(
                "{variable} is set but not used here: {reason}"
            ));
        }
    };
    let Some(connection) = ctx.connection.take() else {
        return StageOutput::not_applicable("no connection to the proxy");
    };
    let target = config.target.clone();
    let tunnel_target = match (&target.host, proxy.kind, ctx.broker_addresses.first()) {
        (_, ProxyKind::Socks5, Some(addr)) => TunnelTarget::Addr(*addr),
        (Host::Ip(ip), _, _) => TunnelTarget::Name(ip.to_string(), target.port),
        (Host::Name(name), _, _) => TunnelTarget::Name(name.clone(), target.port),
    };
    let tunnel = Tunnel {
        proxy,
        target: tunnel_target,
    };
    let budget = ctx.budget();
    let started = Instant::now();
    let received = Arc::new(AtomicUsize::new(0));
    let attempt = budget
        .run(open_counting(connection.stream, &tunnel, &received))
        .await;
    let elapsed = started.elapsed();
    let proxy_addr = connection.peer.addr;
    let base = |finding: Finding| evidence(finding, &tunnel);

    let diagnosis = match attempt {
        Some(Ok((stream, reply))) => {
            let finding = base(Finding::new(
                &PROXY_CONNECTED,
                format!(
                    "The proxy at {proxy_addr} opened a tunnel to {} in {} ms ({reply}).",
                    tunnel.target.authority(),
                    millis(elapsed)
                ),
            ))
            .with_evidence("reply", reply.as_str())
            .with_evidence("elapsed_ms", millis(elapsed));
            ctx.connection = Some(Connection {
                stream,
                peer: Peer::proxied(proxy_addr, tunnel.target.authority(), target.port),
            });
            let summary = format!(
                "{} → {} ({})",
                tunnel.proxy.url(),
                tunnel.target.authority(),
                tunnel.proxy.source
            );
            ctx.dialer.tunnel = Some(tunnel);
            return StageOutput::done(summary, vec![finding]);
        }
        None => {
            let bytes = received.load(Ordering::Relaxed);
            // Silence to one protocol and an answer to the other: tinyproxy waits for the end of
            // a request line that a SOCKS5 greeting never sends.
            let other = match bytes {
                0 => {
                    other_protocol(proxy_addr, tunnel.proxy.kind, &tunnel.target, ctx.budget())
                        .await
                }
                _ => None,
            };
            if let Some(other) = other {
                let silence = format!("no answer within {}", budget.describe());
                wrong_kind(&tunnel, proxy_addr, other, silence)
            } else {
                let finding = base(Finding::new(
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
            ))
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
            ));
                return StageOutput::done("no answer from the proxy", vec![finding]);
            }
        }
        Some(Err(failure)) => diagnose(ctx, &tunnel, proxy_addr, failure).await,
    };
    let mut finding = base(Finding::new(diagnosis.def, diagnosis.detail))
        .with_evidence("reply", diagnosis.reply)
        .with_fix(diagnosis.fix);
    if let Some(challenge) = diagnosis.authenticate {
        finding = finding.with_evidence("authenticate", challenge);
    }
    let finding = match &finding.def {
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
    };
    StageOutput::done(finding.def.title, vec![finding])
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

async fn diagnose(
    ctx: &Context<'_>,
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    failure: ProxyFailure,
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
            port = ctx.config.target.port
        ),
    };
    match failure {
        ProxyFailure::Http {
            status,
            status_line,
            authenticate,
        } => match status {
            407 | 401 => {
                let quirk = if status == 401 {
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
                if let Some(challenge) = &authenticate {
                    diagnosis
                        .detail
                        .push_str(&format!(" It asks for: {challenge}."));
                }
                diagnosis.authenticate = authenticate;
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
            socks_diagnosis(ctx, tunnel, proxy_addr, error, auth, refused, unreachable).await
        }
        ProxyFailure::NotHttp(bytes) => {
            wrong_kind_or(ctx, tunnel, proxy_addr, Some(bytes), refused).await
        }
        ProxyFailure::Closed => wrong_kind_or(ctx, tunnel, proxy_addr, None, refused).await,
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

#[allow(clippy::too_many_arguments)]
async fn socks_diagnosis(
    ctx: &Context<'_>,
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    error: tokio_socks::Error,
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
        E::InvalidResponseVersion
        | E::UnknownError
        | E::InvalidReservedByte
        | E::UnknownAddressType => wrong_kind_or(ctx, tunnel, proxy_addr, None, refused).await,
        E::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof || is_reset(&io) => {
            wrong_kind_or(ctx, tunnel, proxy_addr, None, refused).await
        }
        other => refused(
            other.to_string(),
            format!("The SOCKS5 handshake with the proxy at {proxy_addr} failed: {other}."),
        ),
    }
}

/// The proxy's reply fits no protocol the URL names: ask the port, on a new connection, in the
/// other proxy protocol. A SOCKS port given as `http://` or an HTTP proxy given as `socks5://`
/// is named; anything else is a refusal with what came back.
async fn wrong_kind_or(
    ctx: &Context<'_>,
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
    reply: Option<Vec<u8>>,
    refused: impl Fn(String, String) -> Diagnosis,
) -> Diagnosis {
    let proxy = &tunnel.proxy;
    let shown = match &reply {
        Some(bytes) => shown_bytes(bytes),
        None => "closed without answering".to_string(),
    };
    match other_protocol(proxy_addr, proxy.kind, &tunnel.target, ctx.budget()).await {
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

/// Whether the proxy port answers the protocol other than `kind`, on a new connection.
async fn other_protocol(
    proxy_addr: SocketAddr,
    kind: ProxyKind,
    target: &TunnelTarget,
    budget: Budget,
) -> Option<ProxyKind> {
    let probe = async {
        let mut stream = TcpStream::connect(proxy_addr).await.ok()?;
        let (hello, other): (Vec<u8>, ProxyKind) = match kind {
            // No authentication offered: a SOCKS5 server answers 05 00 or 05 FF either way.
            ProxyKind::Http => (vec![5, 1, 0], ProxyKind::Socks5),
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                let authority = target.authority();
                (
                    format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n")
                        .into_bytes(),
                    ProxyKind::Http,
                )
            }
        };
        stream.write_all(&hello).await.ok()?;
        // A SOCKS5 server answers the greeting with two bytes and waits; an HTTP reply starts
        // with five known ones.
        let mut reply = [0u8; 5];
        let wanted = if other == ProxyKind::Http { 5 } else { 2 };
        let mut read = 0;
        while read < wanted {
            match stream.read(&mut reply[read..wanted]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
        let answered = match other {
            ProxyKind::Socks5 | ProxyKind::Socks5h => read >= 2 && reply[0] == 5,
            ProxyKind::Http => reply[..read].starts_with(b"HTTP/"),
        };
        answered.then_some(other)
    };
    budget.run(probe).await.flatten()
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
