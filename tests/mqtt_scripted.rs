//! The MQTT stage against a scripted broker, for what no broker installable here shows. Each test
//! names the real broker whose behaviour it reproduces and where that behaviour is documented
//! (the broker's source or its vendor's documentation).

mod common;

use std::time::Duration;

use common::jwt::{RsaKey, kubernetes};
use common::scripted::{
    Scripted, Step, auth_v5, connack_v5, contains, disconnect_v5, protocol_level, string_property,
};
use common::{ReportExt, doctor_json, evidence, run_env};

/// Reads the CONNECT, answers `reply`, then serves pings until the client leaves.
fn answers(reply: Vec<u8>) -> Vec<Step> {
    vec![Step::Read, Step::Send(reply), Step::Serve]
}

#[test]
fn emqx_jwt_claim_failure_is_bad_credentials() {
    // EMQX 5's JWT authenticator answers a failed claim check (exp, nbf, verify_claims) with
    // 0x86 (emqx_authn_jwt.erl and emqx_reason_codes.erl in EMQX's source).
    let broker = Scripted::start(vec![answers(connack_v5(0x86, &[]))]);
    let run = run_env(
        &[("MQTT_DOCTOR_PASSWORD", "not-a-jwt-but-a-password")],
        &[
            "doctor",
            &broker.url(),
            "-u",
            "esp32-01",
            "--broker",
            "emqx",
            "--format",
            "json",
        ],
    );
    let report = run.report();

    assert_eq!(run.code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("mqtt.bad_credentials")
    );
    let refused = report.finding("mqtt.bad_credentials");
    assert_eq!(refused.evidence["code"], 134);
    assert_eq!(evidence(refused, "broker"), "EMQX (given with --broker)");
    let fix = refused.fix.as_deref().unwrap();
    assert!(fix.contains("1. "), "{fix}");
    assert!(fix.to_lowercase().contains("claim"), "{fix}");
    assert!(!run.stdout.contains("not-a-jwt-but-a-password"));
}

#[test]
fn hivemq_client_id_rejection_keeps_the_reason_string() {
    // HiveMQ refuses a client id with `#` or `+` with 0x85 and a reason string (HiveMQ docs,
    // HiveMQ's documentation).
    let reason = string_property(0x1F, "Client identifier is not valid");
    let broker = Scripted::start(vec![answers(connack_v5(0x85, &reason))]);
    let (report, code) = doctor_json(&[&broker.url(), "--client-id", "plant/#"]);

    assert_eq!(code, 1);
    let refused = report.finding("mqtt.client_id_rejected");
    assert_eq!(
        evidence(refused, "reason_string"),
        "Client identifier is not valid"
    );
    assert_eq!(
        refused.evidence["properties"]["reason_string"],
        "Client identifier is not valid"
    );
    assert_eq!(
        report.finding("mqtt.client_id_given").status.as_str(),
        "warn"
    );
    assert_eq!(protocol_level(&broker.frames(0)[0]), 5);
}

#[test]
fn redirect_carries_the_server_reference() {
    // MQTT 5 server redirection (spec 4.11): 0x9C use another server with a Server Reference
    // property; EMQX's reason-code table lists it (emqx_reason_codes.erl).
    let reference = string_property(0x1C, "broker-2.example.internal:1883");
    let broker = Scripted::start(vec![answers(connack_v5(0x9C, &reference))]);
    let (report, code) = doctor_json(&[&broker.url()]);

    assert_eq!(code, 1);
    let finding = report.finding("mqtt.redirect");
    assert_eq!(
        evidence(finding, "server_reference"),
        "broker-2.example.internal:1883"
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains("broker-2.example.internal:1883")
    );
}

#[test]
fn every_other_refusal_maps_to_its_finding() {
    // EMQX's reason-code table (emqx_reason_codes.erl, EMQX's source) sends each of these.
    for (code, id) in [
        (0x88, "mqtt.server_unavailable"),
        (0x89, "mqtt.server_unavailable"),
        (0x8A, "mqtt.banned"),
        (0x97, "mqtt.quota_exceeded"),
        (0x9F, "mqtt.rate_limited"),
        (0x84, "mqtt.protocol_unsupported"),
        (0x95, "mqtt.connack_other"),
        (0x42, "mqtt.connack_other"),
    ] {
        let broker = Scripted::start(vec![answers(connack_v5(code, &[]))]);
        let (report, exit) = doctor_json(&[&broker.url(), "--mqtt-version", "5"]);
        assert_eq!(exit, 1, "0x{code:02X}");
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some(id),
            "0x{code:02X}"
        );
        assert_eq!(report.finding(id).evidence["code"], code, "0x{code:02X}");
        assert!(report.finding(id).fix.is_some(), "0x{code:02X} has no fix");
    }
}

#[test]
fn a_311_only_broker_gets_a_311_retry() {
    // Mosquitto answers a protocol level it does not speak with the 3.1.1-format CONNACK
    // `20 02 00 01` (observed, Mosquitto's source and mosquitto.conf(5)); a 3.1.1-only broker does the same (3.1.1
    // spec 3.1.2.2). The retry on a new connection is accepted.
    let broker = Scripted::start(vec![
        vec![
            Step::Read,
            Step::Send(vec![0x20, 0x02, 0x00, 0x01]),
            Step::Close,
        ],
        answers(vec![0x20, 0x02, 0x00, 0x00]),
    ]);
    let (report, code) = doctor_json(&[&broker.url()]);

    assert_eq!(code, 0, "{:?}", report.ids());
    let note = report.finding("mqtt.v311_only");
    assert!(evidence(note, "mqtt5_answer").contains("20 02 00 01"));
    assert_eq!(
        evidence(report.finding("mqtt.connected"), "protocol"),
        "MQTT 3.1.1"
    );
    assert_eq!(protocol_level(&broker.frames(0)[0]), 5);
    assert_eq!(protocol_level(&broker.frames(1)[0]), 4);

    // Asked for MQTT 5 only, the same answer is a refusal that says what the broker speaks.
    let broker = Scripted::start(vec![vec![
        Step::Read,
        Step::Send(vec![0x20, 0x02, 0x00, 0x01]),
        Step::Close,
    ]]);
    let (report, code) = doctor_json(&[&broker.url(), "--mqtt-version", "5"]);
    assert_eq!(code, 1);
    let refused = report.finding("mqtt.protocol_unsupported");
    assert!(
        refused.detail.contains("3.1.1 format"),
        "{}",
        refused.detail
    );
}

#[test]
fn aio_accepts_k8s_sat_after_an_auth_exchange() {
    // Azure IoT Operations' broker authenticates MQTT 5 clients with method K8S-SAT and the
    // ServiceAccountToken as data (Microsoft docs, Microsoft's Azure IoT Operations documentation). The AUTH continue round
    // is the MQTT 5 enhanced-auth exchange (spec 4.12) a broker may ask for.
    let token =
        kubernetes("apps", "sensor", &["aio-internal"], -60, 3600).rs256(&RsaKey::generate());
    let broker = Scripted::start(vec![vec![
        Step::Read,
        Step::Send(auth_v5(0x18, "K8S-SAT", b"")),
        Step::Read,
        Step::Send(connack_v5(0x00, &[0x21, 0x00, 0x0a])),
        Step::Serve,
    ]]);
    let run = run_env(
        &[("MQTT_DOCTOR_TOKEN", token.as_str())],
        &[
            "doctor",
            &broker.url(),
            "--auth-method",
            "K8S-SAT",
            "--audience",
            "aio-internal",
            "--format",
            "json",
        ],
    );
    let report = run.report();

    assert_eq!(run.code, 0, "{:?}", report.ids());
    let connected = report.finding("mqtt.connected");
    assert!(evidence(connected, "broker").starts_with("Azure IoT Operations"));
    assert_eq!(
        connected.evidence["auth_exchange"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let frames = broker.frames(0);
    assert!(contains(&frames[0], b"K8S-SAT"), "method in CONNECT");
    assert!(
        contains(&frames[0], token.as_bytes()),
        "token as authentication data"
    );
    assert_eq!(frames[1][0], 0xf0, "an AUTH packet answered the continue");
    assert!(contains(&frames[1], token.as_bytes()));
    assert!(
        !run.stdout.contains(&token),
        "the token leaked into the report"
    );
}

#[test]
fn endless_auth_continue_ends_in_no_connack() {
    let mut script = vec![Step::Read];
    for _ in 0..8 {
        script.push(Step::Send(auth_v5(0x18, "K8S-SAT", b"more")));
        script.push(Step::Read);
    }
    let broker = Scripted::start(vec![script]);
    let run = run_env(
        &[("MQTT_DOCTOR_TOKEN", "opaque-token")],
        &[
            "doctor",
            &broker.url(),
            "--auth-method",
            "SCRAM-SHA-1",
            "--format",
            "json",
        ],
    );
    let report = run.report();
    let finding = report.finding("mqtt.no_connack");
    assert!(finding.detail.contains("kept asking"), "{}", finding.detail);
}

#[test]
fn silence_after_connect_times_out_into_no_connack() {
    let broker = Scripted::start(vec![vec![Step::Read, Step::Sleep(Duration::from_secs(5))]]);
    let (report, code) = doctor_json(&[&broker.url(), "--timeout", "300ms"]);
    assert_eq!(code, 1);
    let finding = report.finding("mqtt.no_connack");
    assert!(
        finding.detail.contains("did not answer"),
        "{}",
        finding.detail
    );
}

#[test]
fn garbage_and_huge_claims_are_not_mqtt() {
    for (reply, needle) in [
        (
            vec![0x20, 0xff, 0xff, 0xff, 0x7f],
            "claiming 268435455 bytes",
        ),
        (
            b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
            "as text \"SSH-2.0-OpenSSH_9.2\"",
        ),
        (vec![0x20, 0x80, 0x80, 0x80, 0x80, 0x01], "four bytes"),
    ] {
        let broker = Scripted::start(vec![vec![
            Step::Read,
            Step::Send(reply),
            Step::Sleep(Duration::from_secs(2)),
        ]]);
        let (report, code) = doctor_json(&[&broker.url()]);
        assert_eq!(code, 1);
        let finding = report.finding("mqtt.not_mqtt");
        assert!(finding.detail.contains(needle), "{}", finding.detail);
    }
}

#[test]
fn takeover_while_held_is_session_takeover() {
    // EMQX and Mosquitto 2.0.15+ send DISCONNECT 0x8E to the old client when another connects
    // with its client id (Mosquitto's, EMQX's and HiveMQ's documentation).
    let broker = Scripted::start(vec![vec![
        Step::Read,
        Step::Send(connack_v5(0x00, &[])),
        Step::ServeThen(Duration::from_millis(300), disconnect_v5(0x8E, &[])),
    ]]);
    let (report, code) = doctor_json(&[&broker.url(), "--hold", "3s"]);
    assert_eq!(code, 1);
    let finding = report.finding("session.takeover");
    assert_eq!(evidence(finding, "code_hex"), "0x8E");
}

#[test]
fn keepalive_disconnect_is_reported_with_its_reason() {
    // EMQX disconnects a client that misses its keepalive with 0x8D (EMQX's source).
    let reason = string_property(0x1F, "keepalive_timeout");
    let broker = Scripted::start(vec![vec![
        Step::Read,
        Step::Send(connack_v5(0x00, &[])),
        Step::ServeThen(Duration::from_millis(300), disconnect_v5(0x8D, &reason)),
    ]]);
    let (report, code) = doctor_json(&[&broker.url(), "--hold", "3s"]);
    assert_eq!(code, 1);
    let finding = report.finding("mqtt.disconnected");
    assert_eq!(evidence(finding, "reason"), "keep alive timeout");
    assert_eq!(evidence(finding, "reason_string"), "keepalive_timeout");
}

#[test]
fn the_hold_keeps_the_brokers_server_keep_alive() {
    // A broker may impose its own keepalive with the Server Keep Alive property (MQTT 5 spec
    // 3.2.2.3.14); Mosquitto does with `max_keepalive` (Mosquitto's source and mosquitto.conf(5)). 2 s here.
    let broker = Scripted::start(vec![answers(connack_v5(0x00, &[0x13, 0x00, 0x02]))]);
    let (report, code) = doctor_json(&[&broker.url(), "--hold", "2500ms"]);
    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(report.finding("session.ok").status.as_str(), "pass");
    let pings = broker.frames(0).iter().filter(|f| f[0] == 0xc0).count();
    assert!(
        pings >= 2,
        "{pings} PINGREQs in a 2.5 s hold with a 2 s keepalive"
    );
}
