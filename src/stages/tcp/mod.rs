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
//!
//! This module observes (each attempt as a typed [`Attempt`] with its address and time);
//! `explain.rs` writes the findings from that.

use std::io::{self, ErrorKind};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::findings::millis;
use crate::findings::registry::{FindingDef, TCP_REFUSED, TCP_RESET, TCP_TIMEOUT, TCP_UNREACHABLE};
use crate::limits::LocalFailure;
use crate::stages::context::{Budget, Context, StageOutput};
use crate::transport::{Connection, Peer};

mod explain;

pub(crate) use explain::{proxy_protocol_expected, refused_after_accept_fix};

/// How one connection attempt ended.
#[derive(Debug)]
pub(super) enum Attempt {
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

/// One address's connection attempt.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) addr: SocketAddr,
    pub(super) attempt: Attempt,
    pub(super) elapsed: Duration,
}

impl Outcome {
    pub(super) fn result_text(&self, budget: Budget) -> String {
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
    pub(super) fn failure_def(&self) -> Option<&'static FindingDef> {
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
    let (seen, mut streams) = observe(ctx).await;
    // Every address is tried at once, so one that could not be tried makes the others' results
    // no comparison: the stage did not check this target, and the run says why.
    if let Some((addr, failure)) = seen.attempts.iter().find_map(|o| match o.attempt {
        Attempt::Local(failure) => Some((o.addr, failure)),
        _ => None,
    }) {
        return StageOutput::local_failure(
            format!("not checked: connecting to {addr}: {failure}"),
            failure,
        );
    }
    let output = explain::explain(ctx.config, &seen);
    // The first address that connected carries the upper stages, as a client goes on with it.
    if let Some((outcome, stream)) = seen
        .attempts
        .iter()
        .zip(&mut streams)
        .find_map(|(o, stream)| Some((o, stream.take()?)))
    {
        ctx.observed.connect_ms = Some(millis(outcome.elapsed));
        ctx.connected_to = Some(outcome.addr);
        ctx.connection = Some(Connection {
            stream: Box::new(stream),
            peer: Peer::direct(outcome.addr),
        });
    }
    output
}

/// What the stage saw: every attempt, in the order the addresses came, and the step's budget.
#[derive(Debug)]
pub(super) struct Observation {
    pub(super) attempts: Vec<Outcome>,
    pub(super) budget: Budget,
}

/// Connects to every address at once, each within the step's budget, then looks once at each
/// open connection for a reset or close that already arrived. The open streams come back
/// beside the observation, in the same order.
async fn observe(ctx: &Context<'_>) -> (Observation, Vec<Option<TcpStream>>) {
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
    (
        Observation {
            attempts: outcomes,
            budget,
        },
        streams,
    )
}
