//! The TCP stage against loopback peers: a real broker, a closed port, a listener that never
//! answers, one that resets every connection, and a network namespace with no usable network.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use common::dns::{Answer, DnsServer, v4};
use common::{
    BIN, Mosquitto, ReportExt, Resetter, StageExt, Unanswered, closed_port, doctor_json, evidence,
    fake_root, run_with,
};

#[test]
fn healthy_broker_passes() {
    let broker = Mosquitto::start("");
    let target = format!("mqtt://127.0.0.1:{}", broker.port);
    let (report, code) = doctor_json(&[&target]);

    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.verdict.status.as_str(), "pass");
    assert_eq!(report.verdict.root_cause, None);
    assert_eq!(
        report.stage_status("dns"),
        "skip",
        "an IP literal needs no DNS"
    );
    assert_eq!(report.stage_status("tcp"), "pass");
    let connected = report.finding("tcp.connected");
    assert_eq!(
        evidence(connected, "address"),
        format!("127.0.0.1:{}", broker.port)
    );
    assert!(connected.evidence["connect_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(report.target.url, target);
}

#[test]
fn closed_port_is_refused() {
    let port = closed_port();
    let (report, code) = doctor_json(&[&format!("127.0.0.1:{port}")]);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.status.as_str(), "fail");
    assert_eq!(report.verdict.root_cause.as_deref(), Some("tcp.refused"));
    let refused = report.finding("tcp.refused");
    assert_eq!(
        evidence(refused, "addresses"),
        format!(r#"["127.0.0.1:{port}"]"#)
    );
    assert!(
        refused
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("ss -ltnp | grep :{port}"))
    );
    assert!(
        report
            .verdict
            .summary
            .starts_with("Connection refused: 127.0.0.1:")
    );
}

#[test]
fn listener_that_never_answers_times_out() {
    let silent = Unanswered::bind((Ipv4Addr::LOCALHOST, 0).into()).expect("silent listener");
    let (report, code) = doctor_json(&[&silent.addr.to_string(), "--timeout", "300ms"]);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("tcp.timeout"));
    let finding = report.finding("tcp.timeout");
    assert_eq!(finding.evidence["timeout_ms"].as_f64(), Some(300.0));
    assert!(
        finding.detail.contains("within 300ms"),
        "{}",
        finding.detail
    );
}

#[test]
fn run_deadline_cuts_a_step_short() {
    let silent = Unanswered::bind((Ipv4Addr::LOCALHOST, 0).into()).expect("silent listener");
    let (report, code) = doctor_json(&[
        &silent.addr.to_string(),
        "--timeout",
        "10s",
        "--deadline",
        "400ms",
    ]);

    assert_eq!(code, 1);
    let finding = report.finding("tcp.timeout");
    assert!(
        finding.detail.contains("left of the run deadline"),
        "{}",
        finding.detail
    );
    assert!(finding.evidence["timeout_ms"].as_f64().unwrap() <= 400.0);
}

/// In a fresh network namespace the loopback interface is down: nothing is routable.
#[test]
fn no_route_is_unreachable() {
    let mut command = Command::new("unshare");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command.args(["--net", "--", BIN]);
    let run = run_with(command, &["doctor", "127.0.0.1:1883", "--format", "json"]);
    assert!(
        run.stderr.is_empty(),
        "unshare --net must work here (run as root): {}",
        run.stderr
    );
    let report = run.report();

    assert_eq!(run.code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tcp.unreachable")
    );
    let finding = report.finding("tcp.unreachable");
    assert!(
        finding.detail.contains("network unreachable"),
        "{}",
        finding.detail
    );
}

/// A name with two addresses: one accepts and resets at once (a load balancer without a healthy
/// backend), the other never answers. Checked as one chain (`--nodes 1`), every address is
/// tried at once and by the time the slow one times out the reset has arrived, so both failures
/// are TCP findings. Checked node by node, each node names its own failure.
#[test]
fn accepted_then_reset() {
    let resetter = Resetter::bind((Ipv4Addr::LOCALHOST, 0).into()).expect("resetting listener");
    let port = resetter.addr.port();
    let silent = Unanswered::bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), port)))
        .expect("silent listener on 127.0.0.2 with the same port");
    assert_eq!(silent.addr.port(), port);
    let dns = DnsServer::start(&[(
        "lb.test",
        Answer::Addresses(vec![v4("127.0.0.1"), v4("127.0.0.2")]),
    )]);
    let root = fake_root("");
    let target = format!("lb.test:{port}");
    let (report, code) = dns.doctor(
        &target,
        root.path(),
        &["--timeout", "500ms", "--nodes", "1"],
    );

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("tcp.reset"));
    let reset = report.finding("tcp.reset");
    assert_eq!(
        evidence(reset, "addresses"),
        format!(r#"["127.0.0.1:{port}"]"#)
    );
    assert!(evidence(reset, "attempts").contains("accepted, then reset"));
    let timeout = report.finding("tcp.timeout");
    assert_eq!(
        evidence(timeout, "addresses"),
        format!(r#"["127.0.0.2:{port}"]"#)
    );

    // Node by node: the first resets (seen by the TCP stage, or by the MQTT stage's CONNECT and
    // then confirmed on a connection that sends nothing), the second is silent.
    let (report, code) = dns.doctor(&target, root.path(), &["--timeout", "500ms"]);
    assert_eq!(code, 1);
    assert!(
        report.verdict.summary.starts_with("all 2 nodes fail."),
        "{}",
        report.verdict.summary
    );
    let on = |node: &str| {
        report
            .findings
            .iter()
            .filter(|f| f.node.as_deref() == Some(node) && f.status.as_str() == "fail")
            .map(|f| (f.id.as_str(), f.detail.as_str()))
            .collect::<Vec<_>>()
    };
    let first = on(&format!("127.0.0.1:{port}"));
    assert!(
        first
            .iter()
            .any(|(id, detail)| *id == "tcp.reset" && detail.contains("accepted the connection")),
        "{first:?}"
    );
    assert_eq!(on(&format!("127.0.0.2:{port}"))[0].0, "tcp.timeout");
}
