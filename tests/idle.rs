//! Idle timeouts during `--hold`: a real HAProxy (Debian's package) with short `timeout client`
//! and `timeout server` in front of a real Mosquitto. A keepalive above the timeout lets the
//! connection go idle long enough for HAProxy to close it; one below it keeps it open, because
//! the doctor sends a PINGREQ whenever the keepalive passes without traffic, as a client does.

mod common;

use std::time::Duration;

use common::scripted::{Scripted, Step, connack_v5};
use common::servers::Haproxy;
use common::{Mosquitto, ReportExt, doctor_json, evidence};
use mqtt_doctor::report::Report;

/// HAProxy in TCP mode that closes a connection idle for 2 s, in front of `broker`.
fn haproxy_with_2s_timeouts(broker: &Mosquitto) -> Haproxy {
    Haproxy::start(&format!(
        "frontend mqtt\n  bind 127.0.0.1:{{port}}\n  timeout client 2s\n  default_backend broker\n\
         backend broker\n  timeout server 2s\n  server m 127.0.0.1:{}\n",
        broker.port
    ))
}

/// The doctor holding a connection through `haproxy` for 5 s with the keepalive `keepalive`.
fn hold_5s_through(haproxy: &Haproxy, keepalive: &str) -> (Report, i32) {
    let target = format!("mqtt://127.0.0.1:{}", haproxy.port);
    doctor_json(&[
        &target,
        "--hold",
        "5s",
        "--keepalive",
        keepalive,
        "--deadline",
        "30s",
    ])
}

#[test]
fn keepalive_above_haproxy_timeout_is_an_idle_timeout() {
    let broker = Mosquitto::start("");
    let haproxy = haproxy_with_2s_timeouts(&broker);
    let (report, code) = hold_5s_through(&haproxy, "3");

    assert_eq!(code, 1, "{report:#?}");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("session.idle_timeout"),
        "{:?}\n{}",
        report.ids(),
        haproxy.log()
    );
    let finding = report.finding("session.idle_timeout");
    let idle: f64 = evidence(finding, "idle_s").parse().unwrap();
    // HAProxy's timers run to the millisecond; the rest is its scheduler and ours.
    assert!((1.8..=2.5).contains(&idle), "idle_s {idle}: {finding:#?}");
    // HAProxy ends a stream whose timeout expired by closing both sides (FIN), not a reset.
    assert_eq!(evidence(finding, "how"), "closed", "{finding:#?}");
    assert_eq!(evidence(finding, "keepalive_s"), "3");
    let held: f64 = evidence(finding, "held_s").parse().unwrap();
    assert!(held < 5.0, "held_s {held}");
    assert!(
        finding.detail.contains("closed (FIN) after 2.")
            && finding.detail.contains("keepalive is 3 s"),
        "{}",
        finding.detail
    );
    let fix = finding.fix.as_deref().unwrap();
    assert!(
        fix.contains("keepalive below 2.") && fix.contains("--keepalive 1"),
        "{fix}"
    );
    assert!(fix.contains("timeout client"), "{fix}");
}

#[test]
fn keepalive_below_haproxy_timeout_holds() {
    let broker = Mosquitto::start("");
    let haproxy = haproxy_with_2s_timeouts(&broker);
    let (report, code) = hold_5s_through(&haproxy, "1");

    assert_eq!(code, 0, "{:?}\n{}", report.ids(), haproxy.log());
    let finding = report.finding("session.ok");
    assert_eq!(finding.status.as_str(), "pass");
    let held: f64 = evidence(finding, "held_ms").parse().unwrap();
    assert!(held >= 5000.0, "held_ms {held}");
}

#[test]
fn unanswered_pingreq_after_the_silence_is_an_idle_timeout() {
    // A NAT or firewall that forgot an idle flow drops the next packet without a word: the
    // first PINGREQ is answered, the one the keepalive sends after 2 s of silence is not. No
    // loopback component forgets a flow, so a scripted broker stands in for the path.
    let broker = Scripted::start(vec![vec![
        Step::Read,
        Step::Send(connack_v5(0x00, &[])),
        Step::Read,
        Step::Send(vec![0xd0, 0x00]),
        Step::Read,
        Step::Sleep(Duration::from_secs(4)),
    ]]);
    let (report, code) = doctor_json(&[
        &broker.url(),
        "--hold",
        "5s",
        "--keepalive",
        "2",
        "--timeout",
        "1s",
    ]);

    assert_eq!(code, 1, "{report:#?}");
    let finding = report.finding("session.idle_timeout");
    assert_eq!(evidence(finding, "how"), "silence", "{finding:#?}");
    let idle: f64 = evidence(finding, "idle_s").parse().unwrap();
    assert!((1.9..=2.5).contains(&idle), "idle_s {idle}");
    assert!(
        finding.detail.contains("after less than 2."),
        "{}",
        finding.detail
    );
    assert_eq!(broker.frames(0).iter().filter(|f| f[0] == 0xc0).count(), 2);
}

#[test]
fn unanswered_first_pingreq_stays_a_drop() {
    // The PINGREQ that starts the hold follows the CONNACK at once: no silence came before it,
    // so a broker that never answers it is not an idle timeout.
    let broker = Scripted::start(vec![vec![
        Step::Read,
        Step::Send(connack_v5(0x00, &[])),
        Step::Read,
        Step::Sleep(Duration::from_secs(3)),
    ]]);
    let (report, code) = doctor_json(&[&broker.url(), "--hold", "2s", "--timeout", "1s"]);

    assert_eq!(code, 1, "{report:#?}");
    assert!(
        report
            .finding("session.dropped")
            .detail
            .contains("did not answer a PINGREQ"),
        "{report:#?}"
    );
    assert!(!report.ids().contains(&"session.idle_timeout"));
}
