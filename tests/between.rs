//! What sits between the client and the broker: a real HAProxy (Debian's package) in front of a
//! real Mosquitto, configured the ways that break connections in the field: a listener that
//! expects the PROXY protocol reached without it, a `send-proxy` backend that does not expect
//! it, a broker at its connection limit.

mod common;

use common::pki::{Ca, Leaf, write};
use common::servers::{Haproxy, WsBroker};
use common::{Mosquitto, ReportExt, StageExt, doctor_json, evidence};
use mqtt_doctor::report::{FindingReport, Report};

/// HAProxy in TCP mode in front of `port`, with `bind` and `server` options (`accept-proxy`,
/// `send-proxy`) on its one frontend and one server.
fn in_front_of(port: u16, bind: &str, server: &str) -> Haproxy {
    Haproxy::start(&format!(
        "frontend lb\n  bind 127.0.0.1:{{port}}{bind}\n  default_backend broker\n\
         backend broker\n  server m 127.0.0.1:{port}{server}\n"
    ))
}

/// The run failed (exit 1) with `id` as its root cause: that finding.
fn root_cause<'a>(report: &'a Report, code: i32, id: &str) -> &'a FindingReport {
    assert_eq!(code, 1, "{report:#?}");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some(id),
        "{report:#?}"
    );
    report.finding(id)
}

#[test]
fn healthy_run_through_haproxy_passes() {
    let broker = Mosquitto::start("");
    let haproxy = in_front_of(broker.port, "", "");
    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{}", haproxy.port)]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.stage_status("mqtt"), "pass");
    // One connection, the doctor's own: no follow-up probe on a healthy run.
    let connections = haproxy
        .log()
        .lines()
        .filter(|l| l.contains(" lb broker/m "))
        .count();
    assert_eq!(connections, 1, "{}", haproxy.log());
}

/// HAProxy's `bind ... accept-proxy` resets a connection whose first bytes are not a PROXY
/// header; behind one, the CONNECT reaches Mosquitto and gets its CONNACK.
#[test]
fn listener_expecting_proxy_protocol_is_named() {
    let broker = Mosquitto::start("");
    let haproxy = in_front_of(broker.port, " accept-proxy", "");
    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{}", haproxy.port)]);

    let finding = root_cause(&report, code, "tcp.proxy_protocol_expected");
    assert_eq!(evidence(finding, "proxy_protocol"), "v1 and v2");
    assert_eq!(evidence(finding, "connack_code"), "0");
    assert!(finding.fix.as_deref().unwrap().contains("accept-proxy"));
    // The probes' CONNECTs reached Mosquitto through HAProxy, and disconnected cleanly.
    // Mosquitto logs a DISCONNECT when its loop gets to it, which may be after the doctor has
    // exited: the log is read until both are there, for up to five seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut log = broker.log();
    while log.matches("disconnected.").count() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        log = broker.log();
    }
    assert_eq!(log.matches("New client connected").count(), 2, "{log}");
    assert_eq!(log.matches("disconnected.").count(), 2, "{log}");
}

/// HAProxy `send-proxy` in front of Mosquitto 2.0, which does not expect the header: Mosquitto
/// closes at the header's first byte, before the doctor's CONNECT, exactly as it closes a
/// connection over its `max_connections`. The doctor confirms on an idle connection that the
/// server refuses connections as such, and ranks the causes that look alike from the client.
#[test]
fn send_proxy_to_a_broker_that_does_not_expect_it() {
    let broker = Mosquitto::start("");
    let haproxy = in_front_of(broker.port, "", " send-proxy");
    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{}", haproxy.port)]);

    root_cause(&report, code, "tcp.reset");
    // The TCP stage sees the close when it has arrived once connected; otherwise the MQTT
    // stage's CONNECT meets it and an idle second connection confirms it. Same finding.
    let finding = report.finding("tcp.reset");
    if let Some(idle) = finding.evidence.get("idle_connection") {
        assert_eq!(idle, "closed");
    }
    let fix = finding.fix.as_deref().unwrap();
    assert!(fix.contains("send-proxy"), "{fix}");
    assert!(fix.contains("max_connections"), "{fix}");
    assert!(broker.log().contains("protocol error"), "{}", broker.log());
}

/// Mosquitto over its `max_connections`: accepted, then closed before a byte is read.
#[test]
fn broker_at_its_connection_limit() {
    let broker = Mosquitto::start("max_connections 1\n");
    // The one connection the limit allows, held by a real client for the whole test.
    let mut holder = std::net::TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
    let connect = [
        0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 4, b'h', b'o', b'l', b'd',
    ];
    std::io::Write::write_all(&mut holder, &connect).unwrap();
    let mut connack = [0u8; 4];
    std::io::Read::read_exact(&mut holder, &mut connack).unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0]);

    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{}", broker.port)]);

    let finding = root_cause(&report, code, "tcp.reset");
    let fix = finding.fix.as_deref().unwrap();
    assert!(
        fix.starts_with("Most likely first:\n1. The broker is at its connection limit"),
        "{fix}"
    );
    assert!(broker.log().contains("max_connections exceeded"));
    // Named as Mosquitto, the broker's own limits come with the list.
    let (report, _) = doctor_json(&[
        &format!("mqtt://127.0.0.1:{}", broker.port),
        "--broker",
        "mosquitto",
    ]);
    let fix = report.finding("tcp.reset").fix.clone().unwrap();
    assert!(
        fix.contains("\nOn Mosquitto: Check `max_connections` on the listener"),
        "{fix}"
    );
    // Named as another family, its own limits lead and no Mosquitto or EMQX setting is named
    // as if it were that broker's.
    let (report, _) = doctor_json(&[
        &format!("mqtt://127.0.0.1:{}", broker.port),
        "--broker",
        "rabbitmq",
    ]);
    let fix = report.finding("tcp.reset").fix.clone().unwrap();
    assert!(
        fix.starts_with(
            "Most likely first:\n1. The broker is at its connection limit. On RabbitMQ: Check \
             the vhost's and user's connection limits"
        ),
        "{fix}"
    );
    assert!(!fix.contains("Mosquitto") && !fix.contains("EMQX"), "{fix}");
    // The real client was not kicked off.
    let log = broker.log();
    assert!(!log.contains("Client hold disconnected"), "{log}");
    drop(holder);
}

/// Mosquitto closes an MQTT 3.1.1 CONNECT that carries a password without a username (the spec
/// forbids it): the server waits on an idle connection and answers a minimal CONNECT, so the
/// doctor names the CONNECT itself, with that cause first.
#[test]
fn connect_closed_for_what_it_carries() {
    let broker = Mosquitto::start("");
    let (report, code) = doctor_json(&[
        &format!("mqtt://127.0.0.1:{}", broker.port),
        "--mqtt-version",
        "3.1.1",
        "--password",
        "not-a-real-secret",
    ]);

    let finding = root_cause(&report, code, "mqtt.connect_rejected");
    assert_eq!(evidence(finding, "minimal_connect"), "CONNACK 0");
    let fix = finding.fix.as_deref().unwrap();
    assert!(
        fix.starts_with("Most likely first:\n1. The broker finds the CONNECT malformed"),
        "{fix}"
    );
    assert!(!format!("{report:?}").contains("not-a-real-secret"));
}

/// Mosquitto with a `max_packet_size` below any CONNECT closes every CONNECT, the doctor's and a
/// minimal one alike, while it waits on an idle connection: the server refuses any CONNECT, and
/// the ranked causes say what does that. (A listener that expects the PROXY protocol, which this
/// used to be confused with, answers behind a header: see the `accept-proxy` test above.)
#[test]
fn every_connect_closed() {
    let broker = Mosquitto::start("max_packet_size 20\n");
    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{}", broker.port)]);

    let finding = root_cause(&report, code, "mqtt.connect_rejected");
    assert_ne!(evidence(finding, "minimal_connect"), "CONNACK 0");
    assert!(
        finding.detail.contains("closes any MQTT CONNECT"),
        "{}",
        finding.detail
    );
    let fix = finding.fix.as_deref().unwrap();
    assert!(fix.contains("`max_packet_size`"), "{fix}");
    assert!(broker.log().contains("oversize packet"), "{}", broker.log());
}

/// The same `accept-proxy` listener in front of Mosquitto's websockets listener: the upgrade
/// gets no HTTP answer, and goes through behind a PROXY header.
#[test]
fn websocket_listener_expecting_proxy_protocol_is_named() {
    let broker = WsBroker::start(None, "");
    let haproxy = in_front_of(broker.ws_port, " accept-proxy", "");
    let (report, code) = doctor_json(&[&format!("ws://127.0.0.1:{}/mqtt", haproxy.port)]);

    let finding = root_cause(&report, code, "tcp.proxy_protocol_expected");
    assert_eq!(evidence(finding, "proxy_protocol"), "v1 and v2");
    assert!(
        finding.detail.contains("WebSocket upgrade"),
        "{}",
        finding.detail
    );
}

/// The same `accept-proxy` listener passing TLS through to Mosquitto's TLS listener: HAProxy
/// breaks off the ClientHello, and a handshake behind a PROXY header is answered.
#[test]
fn tls_listener_expecting_proxy_protocol_is_named() {
    let ca = Ca::new("mqtt-doctor test CA");
    let server = ca.issue(&Leaf::server());
    let files = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&format!(
        "certfile {}\nkeyfile {}\n",
        write(files.path(), "server.pem", &server.cert).display(),
        write(files.path(), "server.key", &server.key).display()
    ));
    let haproxy = in_front_of(broker.port, " accept-proxy", "");
    let cafile = write(files.path(), "ca.pem", &ca.pem);
    let (report, code) = doctor_json(&[
        &format!("mqtts://127.0.0.1:{}", haproxy.port),
        "--cafile",
        &cafile.display().to_string(),
    ]);

    let finding = root_cause(&report, code, "tcp.proxy_protocol_expected");
    assert_eq!(evidence(finding, "proxy_protocol"), "v1 and v2");
    assert!(
        finding.detail.contains("TLS handshake"),
        "{}",
        finding.detail
    );
    // Not taken for an SNI-routing listener, though no SNI went to this IP address.
    assert!(report.findings.iter().all(|f| f.id != "tls.no_sni"));
}
