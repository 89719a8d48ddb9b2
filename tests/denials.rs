//! How brokers deny a topic, on the wire, and what the doctor makes of it (issue 20): aedes
//! closes the connection on a publish its authorizePublish hook refuses, ejabberd answers with
//! codes the specification reserves for invalid names (SUBACK 0x8F, PUBACK 0x90) and a reason
//! string, and a publish without a matching subscription is acknowledged but not seen delivered.

mod common;

use common::brokers::{Aedes, BrokerOptions, Ejabberd, PASSWORD, USER, User};
use common::{Mosquitto, ReportExt, doctor_json, evidence};

/// aedes' `authorizePublish` hook refusing a QoS 1 publish: aedes closes the connection
/// (aedes' lib/handlers/publish.js: an error from the hook ends the client), and no PUBACK
/// comes. That is the denial, named as one, not a dropped session.
#[test]
fn aedes_denies_a_publish_by_closing() {
    let broker = Aedes::start(&BrokerOptions {
        users: vec![User::new(USER, PASSWORD).may("doctor/#")],
        ..BrokerOptions::default()
    });
    let (report, code) = doctor_json(&[
        &broker.ports.mqtt_url(),
        "-u",
        USER,
        "--password",
        PASSWORD,
        "--publish",
        "forbidden/t",
    ]);

    assert_eq!(code, 1, "{report:#?}\n{}", broker.log());
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("acl.publish_denied"),
        "{report:#?}"
    );
    let finding = report.finding("acl.publish_denied");
    assert_eq!(evidence(finding, "packet"), "PUBLISH");
    assert!(
        finding
            .detail
            .contains("after the PUBLISH to forbidden/t, before any PUBACK"),
        "{}",
        finding.detail
    );
    assert!(report.findings.iter().all(|f| f.id != "session.dropped"));
}

/// ejabberd 23.01 refuses a subscription its access rules deny with SUBACK 0x8F ("topic filter
/// invalid" in the specification) and the reason string "forbidden by service policy"; the
/// doctor reads the reason string, not the code's name.
#[test]
fn ejabberd_subscribe_denial_is_read_from_its_reason_string() {
    let broker = Ejabberd::shared();
    let (report, code) = doctor_json(&[
        &broker.ports.mqtt_url(),
        "-u",
        USER,
        "--password",
        PASSWORD,
        "--subscribe",
        "forbidden/#",
    ]);

    assert_eq!(code, 1, "{report:#?}\n{}", broker.log());
    let finding = report.finding("acl.subscribe_denied");
    let denied = evidence(finding, "denied");
    assert!(denied.contains("0x8F"), "{denied}");
    assert!(denied.contains("a denial"), "{denied}");
}

/// Mosquitto acknowledges a publish to a topic no subscription of the run matches: the check
/// passes, and a note says that delivery was not verified.
#[test]
fn publish_without_a_subscription_says_delivery_was_not_checked() {
    let broker = Mosquitto::start("");
    let (report, code) = doctor_json(&[
        &format!("mqtt://127.0.0.1:{}", broker.port),
        "--publish",
        "doctor/t",
    ]);

    assert_eq!(code, 0, "{report:#?}");
    let note = report.finding("acl.delivery_unverified");
    assert_eq!(note.status.as_str(), "info");
    assert_eq!(evidence(note, "topics"), r#"["doctor/t"]"#);
    assert!(
        note.fix
            .as_deref()
            .unwrap()
            .contains("--subscribe doctor/t")
    );
    assert_eq!(report.finding("acl.ok").status.as_str(), "pass");
}
