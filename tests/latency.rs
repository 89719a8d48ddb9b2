//! The latency waterfall and the Nagle/delayed-ACK warning, against real Mosquitto listeners:
//! TLS 1.3 with and without `set_tcp_nodelay true`, and a real HAProxy that holds the broker's
//! answers.
//!
//! Without `set_tcp_nodelay`, Mosquitto 2.0.11's CONNACK after a TLS 1.3 handshake waits for
//! the client's delayed ACK of the session tickets: 40–45 ms on Linux on every run measured
//! (see src/stages/mqtt/latency.rs), so the warning is deterministic here, not a sample.

mod common;

use common::pki::{Ca, Leaf, write};
use common::servers::Haproxy;
use common::{Mosquitto, ReportExt, doctor_json, evidence};
use mqtt_doctor::report::Report;

/// A Mosquitto TLS listener with `extra` configuration, and the CA file that trusts it.
fn tls_broker(extra: &str) -> (Mosquitto, tempfile::TempDir, String) {
    let ca = Ca::new("mqtt-doctor test CA");
    let server = ca.issue(&Leaf::server());
    let files = tempfile::tempdir().unwrap();
    let ca_file = write(files.path(), "ca.pem", &ca.pem);
    let cert = write(files.path(), "server.pem", &server.cert);
    let key = write(files.path(), "server.key", &server.key);
    let broker = Mosquitto::start(&format!(
        "certfile {}\nkeyfile {}\n{extra}",
        cert.display(),
        key.display()
    ));
    (broker, files, ca_file.display().to_string())
}

fn doctor_tls(broker: &Mosquitto, ca: &str) -> (Report, i32) {
    doctor_json(&[
        &format!("mqtts://127.0.0.1:{}", broker.port),
        "--cafile",
        ca,
        "--publish",
        "mqtt-doctor/latency",
    ])
}

#[test]
fn nagle_delay_is_warned_when_the_broker_leaves_nagle_on() {
    // Mosquitto's own default; tests/common starts brokers with `set_tcp_nodelay true`, as a
    // healthy broker is, and the last setting wins.
    let (broker, _files, ca) = tls_broker("set_tcp_nodelay false\n");
    let (report, code) = doctor_tls(&broker, &ca);

    // A warning: the connection works, exit 0 without --strict.
    assert_eq!(code, 0, "{report:#?}");
    let nagle = report.finding("mqtt.nagle_delay");
    assert_eq!(nagle.status.as_str(), "warn");
    assert!(
        nagle
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("set_tcp_nodelay true")
    );
    let first: f64 = evidence(nagle, "connack_ms").parse().unwrap();
    let again: f64 = evidence(nagle, "connack_after_pause_ms").parse().unwrap();
    assert!(first > 30.0 && again < first / 3.0, "{first} then {again}");

    let observed = &report.nodes[0].observed;
    assert_eq!(observed.connack_ms, Some(first));
    assert_eq!(observed.connack_after_pause_ms, Some(again));
}

#[test]
fn no_nagle_warning_with_set_tcp_nodelay_and_the_waterfall_is_complete() {
    let (broker, _files, ca) = tls_broker("set_tcp_nodelay true\n");
    let (report, code) = doctor_tls(&broker, &ca);

    assert_eq!(code, 0, "{report:#?}");
    assert!(
        !report.ids().contains(&"mqtt.nagle_delay"),
        "{:?}",
        report.ids()
    );
    let observed = &report.nodes[0].observed;
    for (name, value) in [
        ("connect_ms", observed.connect_ms),
        ("tls_handshake_ms", observed.tls_handshake_ms),
        ("connack_ms", observed.connack_ms),
        ("puback_ms", observed.puback_ms),
        ("ping_ms", observed.ping_ms),
    ] {
        assert!(value.is_some_and(|ms| ms >= 0.0), "{name}: {observed:?}");
    }
    // An IP address is not resolved, no proxy, no WebSocket; a prompt CONNACK needs no second
    // connection.
    assert_eq!(observed.dns_ms, None);
    assert_eq!(observed.proxy_ms, None);
    assert_eq!(observed.websocket_ms, None);
    assert_eq!(observed.connack_after_pause_ms, None);
}

#[test]
fn a_late_connack_without_tls_is_not_taken_for_nagle() {
    // HAProxy holds the broker's first answer for 45 ms, inside the delayed-ACK window; over
    // plain TCP the broker writes nothing before the CONNACK, so nothing can hold it there.
    let broker = Mosquitto::start("");
    let haproxy = Haproxy::start(&format!(
        "frontend mqtt\n  bind 127.0.0.1:{{port}}\n  default_backend broker\n\
         backend broker\n  tcp-response inspect-delay 45ms\n\
         \x20 tcp-response content accept if WAIT_END\n  server m 127.0.0.1:{}\n",
        broker.port
    ));
    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{}", haproxy.port)]);

    assert_eq!(code, 0, "{report:#?}");
    assert!(
        report.nodes[0].observed.connack_ms.unwrap() >= 40.0,
        "{:?}",
        report.nodes[0].observed
    );
    assert!(
        !report.ids().contains(&"mqtt.nagle_delay"),
        "{:?}",
        report.ids()
    );
    assert_eq!(report.nodes[0].observed.connack_after_pause_ms, None);
    let connections = haproxy
        .log()
        .lines()
        .filter(|l| l.contains(" mqtt broker/m "))
        .count();
    assert_eq!(connections, 1, "{}", haproxy.log());
}
