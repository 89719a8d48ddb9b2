//! The one latency a broker setting removes: Nagle's algorithm on the broker's socket meeting
//! the client's delayed ACK.
//!
//! A broker that leaves Nagle's algorithm on holds a small write while earlier data of its own
//! is unacknowledged. After a TLS 1.3 handshake the broker has sent its session tickets; the
//! client owes no answer to them, so its system delays the ACK (40 ms on Linux, up to 200 ms
//! elsewhere), and the CONNACK waits for that ACK. Measured on loopback with Mosquitto 2.0.11:
//! CONNACK 40–44 ms without `set_tcp_nodelay true`, 0.1–0.3 ms with it; under TLS 1.2, which
//! sends no tickets after the handshake, 0.1 ms either way. The same wait falls on a PUBACK
//! whenever the broker writes twice before the client sends again: three QoS 1 publishes sent
//! together got their PUBACKs after 40–44 ms, 0.1 ms with the option.
//!
//! A CONNACK as late as that may also be a slow broker (a password hash, an auth plugin), so a
//! late CONNACK alone proves nothing. The check connects once more and pauses after the
//! handshake longer than the delayed-ACK timer before sending the CONNECT: the client's ACK has
//! then gone out, and Nagle's algorithm has nothing to wait for. A CONNACK that is prompt after
//! the pause was held by the broker's socket; one that is still late is the broker's own time,
//! and no warning is given.
//!
//! Observation (the second connection, [`recheck`]) and the rule ([`suspect`], [`confirmed`])
//! are kept apart so that the rule is tested without a network; [`finding`] writes the prose.

use std::ops::RangeInclusive;
use std::time::Duration;

use tokio::time::Instant;

use super::explain::BrokerGuess;
use super::session::{Session, Timings};
use super::{Answer, Sent, connect};
use crate::findings::registry as r;
use crate::findings::{Finding, millis};
use crate::observations::Observations;
use crate::reason_codes::{Broker, Protocol};
use crate::stages::context::Context;
use crate::transport::Peer;
use crate::wire::Wire;

/// How much later than the round trip a CONNACK held for the client's delayed ACK comes, in
/// milliseconds: the delayed-ACK timer of the doctor's own system, since the doctor is the
/// client whose ACK the broker waits for. Linux's is 40 ms (TCP_DELACK_MIN).
#[cfg(target_os = "linux")]
pub(crate) const DELAYED_ACK_MS: RangeInclusive<f64> = 35.0..=60.0;
/// Windows delays ACKs by 200 ms, macOS by up to about 100 ms.
#[cfg(not(target_os = "linux"))]
pub(crate) const DELAYED_ACK_MS: RangeInclusive<f64> = 90.0..=260.0;

/// The pause after the second handshake, longer than the delayed-ACK timer with a margin.
#[cfg(target_os = "linux")]
const PAUSE: Duration = Duration::from_millis(100);
#[cfg(not(target_os = "linux"))]
const PAUSE: Duration = Duration::from_millis(300);

/// The CONNACK came as late as the delayed-ACK timer beyond the round trip the TCP connect
/// measured, after a TLS handshake: worth a second look. Without TLS the broker writes nothing
/// before its CONNACK, so Nagle's algorithm has nothing unacknowledged to wait behind, and a
/// late CONNACK is the broker's own time (or a proxy's).
pub(crate) fn suspect(observed: &Observations) -> bool {
    observed.tls_handshake_ms.is_some()
        && excess(observed).is_some_and(|late| DELAYED_ACK_MS.contains(&late))
}

/// How far the CONNACK came after one round trip, in milliseconds.
fn excess(observed: &Observations) -> Option<f64> {
    Some(observed.connack_ms? - observed.connect_ms.unwrap_or(0.0))
}

/// After the pause the CONNACK came within a round trip and a small margin: the delay was the
/// broker's socket waiting for an ACK, not the broker's work.
pub(crate) fn confirmed(observed: &Observations) -> bool {
    let (Some(first), Some(after_pause)) = (excess(observed), observed.connack_after_pause_ms)
    else {
        return false;
    };
    let rtt = observed.connect_ms.unwrap_or(0.0);
    let late = after_pause - rtt;
    late < DELAYED_ACK_MS.start() / 2.0 && late < first / 3.0
}

/// Connects again the way the first connection went, pauses for [`PAUSE`] after the handshake,
/// then sends the same CONNECT and times the CONNACK. `None` when that second connection gave
/// no successful CONNACK within its steps: then nothing is concluded.
pub(super) async fn recheck(
    ctx: &Context<'_>,
    peer: &Peer,
    protocol: Protocol,
    client_id: &str,
    sent: &Sent,
) -> Option<Duration> {
    // The pause and the CONNECT each get a step; a run too close to its deadline skips this.
    if ctx.time_left() < PAUSE + ctx.config.timeout.min(Duration::from_secs(1)) {
        return None;
    }
    let budget = ctx.budget();
    let stream = budget.run(ctx.reconnect(peer)).await?.ok()?;
    tokio::time::sleep_until((Instant::now() + PAUSE).min(budget.until)).await;
    let attempt = connect(ctx, Wire::new(stream), protocol, client_id, sent).await;
    let elapsed = attempt.started.elapsed();
    let Answer::Connack { wire, connack } = attempt.answer else {
        return None;
    };
    let session = Session {
        wire,
        protocol,
        next_packet_id: 1,
        keepalive: 0,
        timings: Timings::default(),
        gone: false,
    };
    session.disconnect(ctx.budget().until).await;
    (connack.code == 0).then_some(elapsed)
}

/// After a successful session: when the CONNACK was suspect, the second connection, and the
/// warning when it confirms. The second CONNACK's time goes into the observations either way.
pub(super) async fn check(
    ctx: &mut Context<'_>,
    peer: &Peer,
    protocol: Protocol,
    client_id: &str,
    sent: &Sent,
    broker: &BrokerGuess,
) -> Option<Finding> {
    if !suspect(&ctx.observed) {
        return None;
    }
    let after_pause = recheck(ctx, peer, protocol, client_id, sent).await?;
    ctx.observed.connack_after_pause_ms = Some(millis(after_pause));
    confirmed(&ctx.observed).then(|| finding(&ctx.observed, broker))
}

/// The warning, with the setting to change for the broker the doctor recognised.
pub(super) fn finding(observed: &Observations, broker: &BrokerGuess) -> Finding {
    let connack = observed.connack_ms.unwrap_or_default();
    let rtt = observed.connect_ms.unwrap_or_default();
    let after_pause = observed.connack_after_pause_ms.unwrap_or_default();
    let detail = format!(
        "The CONNACK came {connack:.1} ms after the CONNECT, while a round trip (the TCP \
         connect) took {rtt:.1} ms. On a second connection that paused after the TLS handshake \
         before the CONNECT, it came in {after_pause:.1} ms. That is Nagle's algorithm on the \
         broker's socket waiting for this system's delayed ACK ({:.0}–{:.0} ms here): the \
         broker does not set TCP_NODELAY. Every client pays it on connecting, and on every \
         QoS 1 PUBACK written while an earlier answer is still unacknowledged.",
        DELAYED_ACK_MS.start(),
        DELAYED_ACK_MS.end()
    );
    let fix = match broker.broker {
        Some(Broker::Mosquitto) => {
            "Add `set_tcp_nodelay true` to mosquitto.conf (a global option, for every listener; \
             Mosquitto 1.6 and later, default false) and restart or reload the broker."
        }
        Some(Broker::Emqx) => {
            "EMQX sets TCP_NODELAY by default: check that the listener's \
             `tcp_options.nodelay` was not set to false, and look for a proxy or load balancer \
             in front of the broker that terminates the connection without TCP_NODELAY."
        }
        _ => {
            "Turn on TCP_NODELAY for client connections on the broker (Mosquitto: \
             `set_tcp_nodelay true` in mosquitto.conf; EMQX: the listener's \
             `tcp_options.nodelay`, true by default), or on the proxy or load balancer that \
             terminates TLS in front of it."
        }
    };
    Finding::new(&r::MQTT_NAGLE_DELAY, detail)
        .with_evidence("connack_ms", connack)
        .with_evidence("connect_ms", rtt)
        .with_evidence("connack_after_pause_ms", after_pause)
        .with_evidence(
            "delayed_ack_window_ms",
            format!("{:.0}–{:.0}", DELAYED_ACK_MS.start(), DELAYED_ACK_MS.end()),
        )
        .with_fix(fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(connect: f64, connack: f64, after_pause: Option<f64>) -> Observations {
        Observations {
            connect_ms: Some(connect),
            tls_handshake_ms: Some(2.0),
            connack_ms: Some(connack),
            connack_after_pause_ms: after_pause,
            ..Observations::default()
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_connack_held_for_the_delayed_ack_is_suspect_and_a_prompt_one_is_not() {
        assert!(suspect(&observed(0.2, 42.5, None)));
        // Far away, the hold comes on top of the round trip.
        assert!(suspect(&observed(80.0, 122.0, None)));
        assert!(!suspect(&observed(0.2, 0.4, None)));
        assert!(!suspect(&observed(80.0, 81.0, None)));
        // Slower than any delayed ACK: the broker's own time.
        assert!(!suspect(&observed(0.2, 300.0, None)));
        let plain = Observations {
            tls_handshake_ms: None,
            ..observed(0.2, 42.5, None)
        };
        assert!(!suspect(&plain));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_a_prompt_connack_after_the_pause_confirms() {
        assert!(confirmed(&observed(0.2, 42.5, Some(0.4))));
        assert!(confirmed(&observed(80.0, 122.0, Some(81.0))));
        // A slow auth plugin is as slow the second time.
        assert!(!confirmed(&observed(0.2, 42.5, Some(41.0))));
        assert!(!confirmed(&observed(0.2, 42.5, None)));
    }
}
