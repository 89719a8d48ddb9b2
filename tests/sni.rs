//! SNI routing: a real HAProxy in TCP mode that picks its backend by the ClientHello's server
//! name (`req.ssl_sni`) and has no default backend, in front of a real Mosquitto TLS listener
//! whose certificate names broker.test. Reached by IP address, the ClientHello carries no SNI
//! and HAProxy drops it, as SNI-routing listeners do.

mod common;

use common::pki::{Ca, Leaf, dns, write};
use common::servers::Haproxy;
use common::{Mosquitto, ReportExt, StageExt, doctor_json, evidence};

/// Mosquitto serving a certificate for broker.test, HAProxy routing only that name to it, and
/// the files: the CA's certificate (which itself names broker.test, as a broker's own
/// self-signed certificate given as its CA would) at `ca.pem`.
struct Routed {
    haproxy: Haproxy,
    _broker: Mosquitto,
    files: tempfile::TempDir,
}

impl Routed {
    fn start() -> Routed {
        let files = tempfile::tempdir().unwrap();
        let ca = Ca::with_sans("mqtt-doctor SNI test CA", vec![dns("broker.test")]);
        let server = ca.issue(&Leaf::server().sans(vec![dns("broker.test")]));
        let ca_file = write(files.path(), "ca.pem", &ca.pem);
        let cert = write(files.path(), "server.pem", &server.cert);
        let key = write(files.path(), "server.key", &server.key);
        let broker = Mosquitto::start(&format!(
            "cafile {}\ncertfile {}\nkeyfile {}\n",
            ca_file.display(),
            cert.display(),
            key.display()
        ));
        let haproxy = Haproxy::start(&format!(
            "frontend tls\n  bind 127.0.0.1:{{port}}\n  tcp-request inspect-delay 5s\n  \
             tcp-request content accept if {{ req.ssl_hello_type 1 }}\n  \
             use_backend b if {{ req.ssl_sni -i broker.test }}\n\
             backend b\n  server m 127.0.0.1:{}\n",
            broker.port
        ));
        Routed {
            haproxy,
            _broker: broker,
            files,
        }
    }

    fn url(&self) -> String {
        format!("mqtts://127.0.0.1:{}", self.haproxy.port)
    }

    fn ca(&self) -> String {
        self.files.path().join("ca.pem").display().to_string()
    }
}

#[test]
fn haproxy_routing_by_sni_reached_by_ip_without_servername_is_no_sni() {
    let routed = Routed::start();
    let (report, code) = doctor_json(&[&routed.url()]);

    assert_eq!(code, 1, "{:?}", report.ids());
    assert_eq!(report.verdict.root_cause.as_deref(), Some("tls.no_sni"));
    assert_eq!(report.stage_status("tls"), "fail");
    let finding = report.finding("tls.no_sni");
    assert_eq!(finding.status.as_str(), "fail");
    assert!(
        finding.detail.contains("no SNI was sent") && finding.detail.contains("req.ssl_sni"),
        "{}",
        finding.detail
    );
    assert_eq!(
        evidence(finding, "sni"),
        "none (no SNI is sent for an IP address)"
    );
    // No CA file given: no name to offer but the form.
    assert_eq!(finding.evidence["names_known"], serde_json::json!([]));
    let fix = finding.fix.as_deref().unwrap();
    assert!(fix.contains("--servername NAME"), "{fix}");
    assert!(
        report.ids().iter().all(|id| *id != "tls.handshake_failed"),
        "{:?}",
        report.ids()
    );
}

#[test]
fn the_names_the_ca_file_carries_are_offered_as_the_servername() {
    let routed = Routed::start();
    let (report, code) = doctor_json(&[&routed.url(), "--cafile", &routed.ca()]);

    assert_eq!(code, 1, "{:?}", report.ids());
    assert_eq!(report.verdict.root_cause.as_deref(), Some("tls.no_sni"));
    let finding = report.finding("tls.no_sni");
    assert_eq!(
        finding.evidence["names_known"],
        serde_json::json!(["broker.test"])
    );
    let fix = finding.fix.as_deref().unwrap();
    assert!(fix.contains("--servername broker.test"), "{fix}");
}

#[test]
fn haproxy_routing_by_sni_with_servername_passes() {
    let routed = Routed::start();
    let (report, code) = doctor_json(&[
        &routed.url(),
        "--servername",
        "broker.test",
        "--cafile",
        &routed.ca(),
    ]);

    assert_eq!(code, 0, "{:?}\n{}", report.ids(), routed.haproxy.log());
    assert_eq!(evidence(report.finding("tls.ok"), "sni"), "broker.test");
    assert_eq!(report.stage_status("mqtt"), "pass");
    assert!(report.ids().iter().all(|id| *id != "tls.no_sni"));
}

#[test]
fn a_handshake_dropped_with_sni_sent_is_not_blamed_on_sni() {
    // A name HAProxy does not route: dropped the same way, but SNI was sent.
    let routed = Routed::start();
    let (report, code) = doctor_json(&[
        &routed.url(),
        "--servername",
        "other.test",
        "--cafile",
        &routed.ca(),
    ]);

    assert_eq!(code, 1, "{:?}", report.ids());
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.handshake_failed")
    );
    assert!(report.ids().iter().all(|id| *id != "tls.no_sni"));
    assert_eq!(
        evidence(report.finding("tls.handshake_failed"), "sni"),
        "other.test"
    );
}
