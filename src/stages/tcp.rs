//! TCP stage: connect to every address the name resolved to, at once.
//!
//! Clients connect to one address and fall back to the next, so a broken IPv6 path or one dead
//! load-balancer backend shows up as "slow sometimes" or "fails from some machines". Connecting
//! to all of them concurrently, each with its own timeout and timing, turns that into a finding
//! that names the bad address. Failures are classified by `io::ErrorKind`, never by message text.
//! A connect that fails for want of this machine's own resources (descriptors, memory, local
//! ports) is not about the address at all: the stage then reports a [`LocalFailure`] and no
//! finding, rather than blame the network.
//!
//! Once every attempt has settled, each open connection is checked once, without waiting, for a
//! reset or close that already arrived: a load balancer with no healthy backend or a connection
//! limit accepts and drops at once, and that is a TCP-level fact, not a broker answer.

use std::io::{self, ErrorKind};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::findings::registry::{
    FindingDef, TCP_CONNECTED, TCP_PARTIAL, TCP_REFUSED, TCP_RESET, TCP_TIMEOUT, TCP_UNREACHABLE,
};
use crate::findings::{Finding, millis};
use crate::limits::LocalFailure;
use crate::proxy::Proxy;
use crate::stages::context::{Budget, Context, StageOutput};
use crate::transport::{Connection, Peer};

/// How one connection attempt ended.
#[derive(Debug)]
enum Attempt {
    Connected,
    Refused,
    TimedOut,
    Unreachable(ErrorKind),
    /// Accepted, then reset (`true`) or closed (`false`) before anything was sent.
    Dropped {
        reset: bool,
    },
    Other(io::Error),
    /// Not tried: the doctor could not open a socket for it.
    Local(LocalFailure),
}

#[derive(Debug)]
struct Outcome {
    addr: SocketAddr,
    attempt: Attempt,
    elapsed: Duration,
}

impl Outcome {
    fn result_text(&self, budget: Budget) -> String {
        match &self.attempt {
            Attempt::Connected => "connected".into(),
            Attempt::Refused => "refused".into(),
            Attempt::TimedOut => format!("no answer within {}", budget.describe()),
            Attempt::Unreachable(ErrorKind::NetworkUnreachable) => "network unreachable".into(),
            Attempt::Unreachable(_) => "host unreachable".into(),
            Attempt::Dropped { reset: true } => "accepted, then reset".into(),
            Attempt::Dropped { reset: false } => "accepted, then closed".into(),
            Attempt::Other(e) => format!("error: {e}"),
            Attempt::Local(failure) => format!("not tried: {failure}"),
        }
    }

    /// The finding this failed attempt belongs to.
    fn failure_def(&self) -> Option<&'static FindingDef> {
        match self.attempt {
            Attempt::Connected | Attempt::Local(_) => None,
            Attempt::Refused => Some(&TCP_REFUSED),
            Attempt::TimedOut => Some(&TCP_TIMEOUT),
            Attempt::Unreachable(_) | Attempt::Other(_) => Some(&TCP_UNREACHABLE),
            Attempt::Dropped { .. } => Some(&TCP_RESET),
        }
    }
}

async fn connect(addr: SocketAddr, budget: Budget) -> (Outcome, Option<TcpStream>) {
    let start = Instant::now();
    let mut stream = None;
    let attempt = match budget.run(TcpStream::connect(addr)).await {
        None => Attempt::TimedOut,
        Some(Ok(connected)) => {
            stream = Some(connected);
            Attempt::Connected
        }
        Some(Err(error)) => match LocalFailure::on_connect(&error, addr) {
            Some(failure) => Attempt::Local(failure),
            None => classify(error),
        },
    };
    (
        Outcome {
            addr,
            attempt,
            elapsed: start.elapsed(),
        },
        stream,
    )
}

/// A connect error about the address or the path to it.
fn classify(error: io::Error) -> Attempt {
    match error.kind() {
        ErrorKind::ConnectionRefused => Attempt::Refused,
        ErrorKind::TimedOut => Attempt::TimedOut,
        kind @ (ErrorKind::NetworkUnreachable
        | ErrorKind::HostUnreachable
        | ErrorKind::AddrNotAvailable) => Attempt::Unreachable(kind),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
            Attempt::Dropped { reset: true }
        }
        _ => Attempt::Other(error),
    }
}

/// Looks, without waiting, for a reset or close that has already arrived on a fresh connection.
/// Peeks so that a byte the server sent first stays for the next stage.
fn dropped_already(stream: &TcpStream) -> Option<bool> {
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    match socket2::SockRef::from(stream).peek(&mut byte) {
        Ok(0) => Some(false),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) =>
        {
            Some(true)
        }
        _ => None,
    }
}

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
    let budget = ctx.budget();
    let handles: Vec<_> = ctx
        .addresses
        .iter()
        .map(|&addr| tokio::spawn(connect(addr, budget)))
        .collect();
    let mut outcomes = Vec::with_capacity(handles.len());
    let mut streams = Vec::with_capacity(handles.len());
    for (handle, &addr) in handles.into_iter().zip(&ctx.addresses) {
        let (outcome, stream) = handle.await.unwrap_or_else(|e| {
            let error = io::Error::other(format!("connect task failed: {e}"));
            (
                Outcome {
                    addr,
                    attempt: Attempt::Other(error),
                    elapsed: Duration::ZERO,
                },
                None,
            )
        });
        outcomes.push(outcome);
        streams.push(stream);
    }
    for (outcome, stream) in outcomes.iter_mut().zip(&mut streams) {
        if let Some(reset) = stream.as_ref().and_then(dropped_already) {
            outcome.attempt = Attempt::Dropped { reset };
            *stream = None;
        }
    }

    // Every address is tried at once, so one that could not be tried makes the others' results
    // no comparison: the stage did not check this target, and the run says why.
    if let Some((addr, failure)) = outcomes.iter().find_map(|o| match o.attempt {
        Attempt::Local(failure) => Some((o.addr, failure)),
        _ => None,
    }) {
        return StageOutput::local_failure(
            format!("not checked: connecting to {addr}: {failure}"),
            failure,
        );
    }

    let table = attempts_json(&outcomes, budget);
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !matches!(o.attempt, Attempt::Connected))
        .collect();
    let chosen = outcomes
        .iter()
        .zip(&mut streams)
        .find_map(|(o, stream)| Some((o.addr, stream.take()?, o.elapsed)));

    let Some((peer, stream, elapsed)) = chosen else {
        // One finding per kind of failure, in address order.
        let mut findings = Vec::new();
        let mut seen: Vec<&'static FindingDef> = Vec::new();
        for def in failed.iter().filter_map(|o| o.failure_def()) {
            if !seen.contains(&def) {
                seen.push(def);
                let same: Vec<&Outcome> = failed
                    .iter()
                    .copied()
                    .filter(|o| o.failure_def() == Some(def))
                    .collect();
                findings.push(failure_finding(ctx, def, &same, budget, table.clone()));
            }
        }
        let first = failed
            .first()
            .map(|o| format!("{}: {}", o.addr, o.result_text(budget)));
        let summary = match outcomes.len() {
            0 => "no address to connect to".to_string(),
            1 => first.unwrap_or_default(),
            n => format!(
                "none of {n} addresses connected ({})",
                first.unwrap_or_default()
            ),
        };
        return StageOutput::done(summary, findings);
    };

    let connected = Finding::new(
        &TCP_CONNECTED,
        format!(
            "{peer} accepted the TCP connection in {} ms.",
            millis(elapsed)
        ),
    )
    .with_evidence("address", peer.to_string())
    .with_evidence("connect_ms", millis(elapsed));
    let mut findings = vec![with_attempts(connected, table.clone())];
    if !failed.is_empty() {
        let bad: Vec<String> = failed
            .iter()
            .map(|o| format!("{} ({})", o.addr, o.result_text(budget)))
            .collect();
        findings.push(
            Finding::new(
                &TCP_PARTIAL,
                format!(
                    "{} of {} addresses did not connect: {}. Clients that pick one of them first \
                     wait for a timeout or fail, so the broker looks flaky from some machines.",
                    failed.len(),
                    outcomes.len(),
                    bad.join(", ")
                ),
            )
            .with_evidence("attempts", table)
            .with_fix(partial_fix(ctx, &failed)),
        );
    }
    ctx.observed.connect_ms = Some(millis(elapsed));
    ctx.connected_to = Some(peer);
    ctx.connection = Some(Connection {
        stream: Box::new(stream),
        peer: Peer::direct(peer),
    });
    StageOutput::done(format!("connected to {peer}"), findings)
}

fn attempts_json(outcomes: &[Outcome], budget: Budget) -> Value {
    Value::Array(
        outcomes
            .iter()
            .map(|o| {
                json!({
                    "address": o.addr.to_string(),
                    "result": o.result_text(budget),
                    "ms": millis(o.elapsed),
                })
            })
            .collect(),
    )
}

fn addr_list(outcomes: &[&Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| o.addr.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn failure_finding(
    ctx: &Context<'_>,
    def: &'static FindingDef,
    outcomes: &[&Outcome],
    budget: Budget,
    table: Value,
) -> Finding {
    let addrs = addr_list(outcomes);
    let port = ctx.config.target.port;
    let host = ctx.config.target.host.to_string();
    let (detail, fix) = if def == &TCP_REFUSED {
        (
            format!(
                "{addrs} refused the connection: the host is up, but nothing listens on port \
                 {port} there (or a firewall rejects it)."
            ),
            format!(
                "Check that the broker runs and which addresses and ports it listens on (on the \
                 broker host):\n  ss -ltnp | grep :{port}\n\
                 Mosquitto 2.x without a `listener` line listens on loopback only; to accept \
                 other hosts add:\n  listener {port} 0.0.0.0\n\
                 In Kubernetes, a Service without ready endpoints refuses connections:\n  \
                 kubectl get endpointslices -A | grep <service>"
            ),
        )
    } else if def == &TCP_TIMEOUT {
        (
            format!(
                "{addrs} did not answer the connection attempt within {}: packets are dropped \
                 on the way (firewall, security group, NetworkPolicy), the address is wrong, or \
                 the broker's listen queue is full.",
                budget.describe()
            ),
            format!(
                "Check the path to the broker from this machine:\n  nc -vz -w 5 {host} {port}\n\
                 Look for a firewall or cloud security group dropping port {port}, and in \
                 Kubernetes for a NetworkPolicy without egress to the broker:\n  \
                 kubectl get networkpolicy -A\n\
                 If the broker host is reachable, look at its load and connection limits."
            ),
        )
    } else if def == &TCP_UNREACHABLE {
        let reasons: Vec<String> = outcomes.iter().map(|o| o.result_text(budget)).collect();
        (
            format!(
                "{addrs} cannot be reached from here ({}): this machine has no route to that \
                 network, or a router reported the host unreachable.",
                reasons.join(", ")
            ),
            format!(
                "Check the route and the interface that would carry the traffic:\n  ip route get \
                 {ip}\nA VPN that is down, an IPv6 address on a machine without IPv6 \
                 connectivity, or a container without a network all look like this.",
                ip = outcomes
                    .first()
                    .map(|o| o.addr.ip().to_string())
                    .unwrap_or_default()
            ),
        )
    } else {
        (
            format!(
                "{addrs} accepted the connection and dropped it at once, before anything was \
                 sent. Something in front of the broker takes connections it cannot serve: a \
                 load balancer with no healthy backend, a connection limit (Mosquitto \
                 max_connections), an address allowlist, or a proxy that expects the PROXY \
                 protocol."
            ),
            "Look at whatever listens on that port first (load balancer, ingress, broker):\n  \
             its backend health, its connection limit, its allowlist, and whether it expects \
             the PROXY protocol (HAProxy `send-proxy`, EMQX `proxy_protocol`) on one side but \
             not the other."
                .to_string(),
        )
    };
    let (detail, fix) = match ctx.config.proxy.proxy() {
        Some(proxy) => proxy_failure(proxy, def, &addrs, budget),
        None => (detail, fix),
    };
    let finding = Finding::new(def, detail)
        .with_evidence(
            "addresses",
            json!(
                outcomes
                    .iter()
                    .map(|o| o.addr.to_string())
                    .collect::<Vec<_>>()
            ),
        )
        .with_evidence("timeout_ms", budget.timeout.as_millis() as u64)
        .with_fix(fix);
    with_attempts(finding, table)
}

/// Behind a proxy the TCP connection goes to the proxy: the broker was not tried at all, and the
/// fix is about the proxy setting.
fn proxy_failure(
    proxy: &Proxy,
    def: &'static FindingDef,
    addrs: &str,
    budget: Budget,
) -> (String, String) {
    let what = if def == &TCP_REFUSED {
        "refused the connection: no proxy listens there".to_string()
    } else if def == &TCP_TIMEOUT {
        format!("did not answer within {}", budget.describe())
    } else if def == &TCP_UNREACHABLE {
        "cannot be reached from here".to_string()
    } else {
        "accepted the connection and dropped it at once".to_string()
    };
    (
        format!(
            "{addrs} is the proxy {} (from {}), and it {what}. The broker was not tried: every \
             connection goes through the proxy.",
            proxy.url(),
            proxy.source
        ),
        format!(
            "Check the proxy address in {} and that the proxy runs:\n  nc -vz {} {}\nTo try the \
             broker directly instead, {direct}.",
            proxy.source,
            proxy.host,
            proxy.port,
            direct = proxy.direct_hint()
        ),
    )
}

/// The per-address table, when there was more than one address to try.
fn with_attempts(finding: Finding, table: Value) -> Finding {
    match &table {
        Value::Array(rows) if rows.len() > 1 => finding.with_evidence("attempts", table),
        _ => finding,
    }
}

fn partial_fix(ctx: &Context<'_>, failed: &[&Outcome]) -> String {
    let v6_only = failed.iter().all(|o| o.addr.is_ipv6());
    let host = ctx.config.target.host.to_string();
    if v6_only {
        format!(
            "Only IPv6 addresses fail. Either give this machine working IPv6, make the broker \
             listen on IPv6 too, or remove the AAAA record of {host}."
        )
    } else {
        format!(
            "Remove or repair the addresses that fail (a dead load-balancer backend, a stale DNS \
             record for {host}); each is listed with its result above."
        )
    }
}
