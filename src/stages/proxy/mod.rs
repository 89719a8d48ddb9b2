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
//!
//! This module observes: it asks for the tunnel, makes the follow-up probe in the other proxy
//! protocol when the reply calls for it, and returns what happened as an [`Outcome`] of typed
//! values. [`explain`] turns an outcome into the finding and the summary line, without I/O.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::findings::millis;
use crate::proxy::{ProxyChoice, ProxyKind};
use crate::stages::context::{Budget, Context, StageOutput};
use crate::target::Host;
use crate::transport::tunnel::{ProxyFailure, Tunnel, TunnelTarget, is_reset, open_counting};
use crate::transport::{Connection, Peer, Transport};

mod explain;

/// How the request for a tunnel ended.
pub(super) enum Outcome {
    /// The proxy opened the tunnel.
    Opened {
        stream: Box<dyn Transport>,
        /// The proxy's reply, as [`open_counting`] states it (capped there).
        reply: String,
        elapsed: Duration,
    },
    /// The proxy sent no complete reply within the step's budget.
    NoAnswer {
        /// The budget the request had.
        budget: Budget,
        /// Bytes of a reply received before the proxy went quiet.
        bytes_received: usize,
        /// The other proxy protocol, when the port answered it on a new connection. Only asked
        /// when not one byte came back: a proxy that started a reply speaks the URL's protocol.
        other: Option<ProxyKind>,
    },
    /// The proxy answered, but with no tunnel.
    Failed {
        failure: ProxyFailure,
        /// The other proxy protocol, when the reply fits neither protocol (see
        /// [`fits_neither`]) and the port answered the other one on a new connection.
        other: Option<ProxyKind>,
    },
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
    let proxy_addr = connection.peer.addr;

    let outcome = observe(ctx, connection.stream, &tunnel, proxy_addr).await;
    let (summary, finding) = explain::explain(config, &tunnel, proxy_addr, &outcome);

    if let Outcome::Opened {
        stream, elapsed, ..
    } = outcome
    {
        ctx.observed.proxy_ms = Some(millis(elapsed));
        ctx.connection = Some(Connection {
            stream,
            peer: Peer::proxied(proxy_addr, tunnel.target.authority(), target.port),
        });
        ctx.dialer.tunnel = Some(tunnel);
    }
    StageOutput::done(summary, vec![finding])
}

/// Asks the proxy at `proxy_addr`, over `stream`, for `tunnel`; on a failure that leaves the
/// proxy's kind in doubt, asks the port in the other protocol on a new connection.
async fn observe(
    ctx: &Context<'_>,
    stream: Box<dyn Transport>,
    tunnel: &Tunnel,
    proxy_addr: SocketAddr,
) -> Outcome {
    let budget = ctx.budget();
    let started = Instant::now();
    let received = Arc::new(AtomicUsize::new(0));
    let attempt = budget.run(open_counting(stream, tunnel, &received)).await;
    let elapsed = started.elapsed();

    match attempt {
        Some(Ok((stream, reply))) => Outcome::Opened {
            stream,
            reply,
            elapsed,
        },
        None => {
            let bytes_received = received.load(Ordering::Relaxed);
            // Silence to one protocol and an answer to the other: tinyproxy waits for the end of
            // a request line that a SOCKS5 greeting never sends.
            let other = match bytes_received {
                0 => {
                    other_protocol(proxy_addr, tunnel.proxy.kind, &tunnel.target, ctx.budget())
                        .await
                }
                _ => None,
            };
            Outcome::NoAnswer {
                budget,
                bytes_received,
                other,
            }
        }
        Some(Err(failure)) => {
            let other = if fits_neither(&failure) {
                other_protocol(proxy_addr, tunnel.proxy.kind, &tunnel.target, ctx.budget()).await
            } else {
                None
            };
            Outcome::Failed { failure, other }
        }
    }
}

/// Whether `failure` is a reply that fits no protocol the URL names, so that the port is asked,
/// on a new connection, in the other proxy protocol: a SOCKS port given as `http://` or an HTTP
/// proxy given as `socks5://` is named; anything else is a refusal with what came back. These
/// are the failures [`explain`] reads the probe's answer for.
fn fits_neither(failure: &ProxyFailure) -> bool {
    use tokio_socks::Error as E;
    match failure {
        ProxyFailure::NotHttp(_) | ProxyFailure::Closed => true,
        ProxyFailure::Socks(
            E::InvalidResponseVersion
            | E::UnknownError
            | E::InvalidReservedByte
            | E::UnknownAddressType,
        ) => true,
        ProxyFailure::Socks(E::Io(io)) => {
            io.kind() == std::io::ErrorKind::UnexpectedEof || is_reset(io)
        }
        _ => false,
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
