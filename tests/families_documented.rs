//! Broker families with no broker installable here (EMQX, HiveMQ, VerneMQ, NanoMQ, Azure IoT
//! Operations), from their documented behaviour replayed by the scripted broker
//! (tests/common/scripted.rs). Each test names where the behaviour is documented.

mod common;

use common::scripted::{Scripted, Step, connack_v5, string_property};
use common::{ReportExt, doctor_json, evidence, run, run_env};
use mqtt_doctor::report::FindingReport;

fn answers(reply: Vec<u8>) -> Vec<Step> {
    vec![Step::Read, Step::Send(reply), Step::Serve]
}

fn first_fix_line(finding: &FindingReport) -> String {
    let fix = finding.fix.as_deref().unwrap_or_default();
    fix.lines()
        .find(|l| l.starts_with("1. "))
        .unwrap_or_default()
        .to_string()
}

/// Words only some other family's fix would contain.
fn assert_names_none_of(finding: &FindingReport, words: &[&str]) {
    let fix = finding.fix.as_deref().unwrap_or_default();
    for word in words {
        assert!(!fix.contains(word), "{word} in:\n{fix}");
    }
}

#[test]
fn vernemq_is_identified_by_its_assigned_client_id() {
    // VerneMQ assigns `anon-` and base64 to a client without an id (vmq_mqtt_fsm.erl and
    // vmq_mqtt5_fsm.erl, `generate_random_client_id`, in VerneMQ's source).
    let id = string_property(0x12, "anon-cmFuZG9tIGJ5dGVz");
    let broker = Scripted::start(vec![answers(connack_v5(0x00, &id))]);
    let (report, code) = doctor_json(&[&broker.url(), "--client-id", ""]);
    assert_eq!(code, 0, "{:?}", report.ids());
    let connected = report.finding("mqtt.connected");
    assert!(evidence(connected, "broker").starts_with("VerneMQ (identified"));
    assert_eq!(evidence(connected, "broker_confidence"), "identified");
}

#[test]
fn vernemq_netsplit_refusal_names_allow_register_during_netsplit() {
    // During a netsplit VerneMQ refuses new sessions as `not_ready`, server unavailable, unless
    // allow_register_during_netsplit is on (VerneMQ documentation, "Clustering: netsplits";
    // vernemq issues 36 and 1332).
    let broker = Scripted::start(vec![answers(connack_v5(0x88, &[]))]);
    let (report, _) = doctor_json(&[&broker.url(), "--broker", "verne"]);
    let refused = report.finding("mqtt.server_unavailable");
    assert!(first_fix_line(refused).contains("allow_register_during_netsplit"));
    assert_names_none_of(refused, &["mosquitto", "emqx ctl", "rabbitmqctl"]);
}

#[test]
fn hivemq_is_identified_by_its_assigned_client_id() {
    // HiveMQ assigns `hmq_` + node + counter + hash (HiveMQ documentation, "Client identifier";
    // ClientIds.java in HiveMQ CE).
    let id = string_property(0x12, "hmq_7Fz2a_1_d41d8cd98f00b204e9800998ecf8427e");
    let broker = Scripted::start(vec![answers(connack_v5(0x00, &id))]);
    let (report, code) = doctor_json(&[&broker.url(), "--client-id", ""]);
    assert_eq!(code, 0, "{:?}", report.ids());
    assert!(evidence(report.finding("mqtt.connected"), "broker").starts_with("HiveMQ (identified"));
}

#[test]
fn emqx_defaults_make_it_likely_and_its_jwt_claims_come_first() {
    // EMQX 5's listener defaults: maximum packet size 1 MB, topic alias maximum 65535 (EMQX
    // documentation, MQTT configuration; emqx_schema.erl); a failed JWT claim is 0x86
    // (emqx_authn_jwt.erl, emqx_reason_codes.erl).
    let properties = [0x27, 0x00, 0x10, 0x00, 0x00, 0x22, 0xFF, 0xFF];
    let broker = Scripted::start(vec![answers(connack_v5(0x86, &properties))]);
    let (report, _) = doctor_json(&[&broker.url(), "-u", "device", "--password", "x"]);
    let refused = report.finding("mqtt.bad_credentials");
    assert_eq!(evidence(refused, "broker_confidence"), "likely");
    assert!(evidence(refused, "broker").starts_with("EMQX (likely"));
    assert!(first_fix_line(refused).contains("JWT claim"));
    assert_names_none_of(
        refused,
        &["mosquitto_", "rabbitmqctl", "vmq-", "ejabberdctl"],
    );
}

#[test]
fn nanomq_refusal_names_its_own_configuration() {
    // NanoMQ's authentication is the `auth` section of nanomq.conf, its ACL denials silent by
    // default, `deny_action = ignore` (NanoMQ documentation, "Access Control" and
    // "Authorization").
    let broker = Scripted::start(vec![answers(connack_v5(0x87, &[]))]);
    let (report, _) = doctor_json(&[
        &broker.url(),
        "-u",
        "u",
        "--password",
        "p",
        "--preset",
        "nanomq",
        "--mqtt-version",
        "5",
    ]);
    let refused = report.finding("mqtt.not_authorized");
    assert_eq!(evidence(refused, "broker_confidence"), "given");
    assert!(
        first_fix_line(refused).contains("`auth` section"),
        "{:?}",
        refused.fix
    );
    assert_names_none_of(
        refused,
        &["mosquitto_", "rabbitmqctl", "vmq-", "ejabberdctl"],
    );
    let explained = run(&["explain", "0x87", "--broker", "nanomq"]);
    assert!(
        explained.stdout.contains("## Likely causes on NanoMQ"),
        "{}",
        explained.stdout
    );
}

#[test]
fn aio_is_identified_when_it_accepts_k8s_sat() {
    // Azure IoT Operations authenticates with MQTT 5 enhanced authentication, method K8S-SAT
    // (Microsoft's Azure IoT Operations documentation, "Configure MQTT broker authentication").
    let broker = Scripted::start(vec![answers(connack_v5(0x00, &[]))]);
    let report = run_env(
        &[("MQTT_DOCTOR_TOKEN", "eyJhbGciOiJub25lIn0.e30.")],
        &[
            "doctor",
            &broker.url(),
            "--auth-method",
            "K8S-SAT",
            "--format",
            "json",
        ],
    )
    .report();
    let connected = report.finding("mqtt.connected");
    assert_eq!(
        evidence(connected, "broker_confidence"),
        "identified",
        "{:?}",
        connected.evidence
    );
}

#[test]
fn an_unknown_broker_gets_the_shared_causes_and_no_familys_commands() {
    // Nothing in a bare 0x87 sets a family apart (MQTT 5 spec 3.2.2.2).
    let broker = Scripted::start(vec![answers(connack_v5(0x87, &[]))]);
    let (report, _) = doctor_json(&[&broker.url(), "-u", "u", "--password", "p"]);
    let refused = report.finding("mqtt.not_authorized");
    assert_eq!(evidence(refused, "broker_confidence"), "unknown");
    assert!(
        report.nodes[0]
            .observed
            .connack
            .as_ref()
            .unwrap()
            .broker
            .is_none()
    );
    assert_names_none_of(
        refused,
        &[
            "Mosquitto",
            "mosquitto_",
            "acl_file",
            "rabbitmqctl",
            "vmq-",
            "ejabberdctl",
            "emqx ctl",
            "JWT",
        ],
    );
}

#[test]
fn every_family_is_accepted_by_broker_preset_and_explain() {
    for name in [
        "mosquitto",
        "emqx",
        "aio",
        "azure-iot-operations",
        "hivemq",
        "rabbitmq",
        "rabbit",
        "vernemq",
        "nanomq",
        "ejabberd",
        "aedes",
        "amqtt",
    ] {
        let explained = run(&["explain", "5", "--broker", name]);
        assert_eq!(explained.code, 0, "{name}: {}", explained.stderr);
        assert!(explained.stdout.contains("## Likely causes on "), "{name}");
    }
    let presets = run(&["presets"]);
    for name in [
        "mosquitto:",
        "emqx:",
        "aio:",
        "hivemq:",
        "rabbitmq:",
        "vernemq:",
        "nanomq:",
        "ejabberd:",
        "aedes:",
        "amqtt:",
    ] {
        assert!(presets.stdout.contains(name), "{name}");
    }
}

#[test]
fn emqx_is_identified_by_its_sys_version_topic_when_the_client_may_subscribe() {
    // EMQX publishes each node's version, retained, on `$SYS/brokers/${node}/version`, a node
    // being named `emqx@host` (EMQX documentation, "System Topic"; emqx_sys.erl). The doctor
    // asks on a second connection, beside the topic checks, only with --subscribe.
    let suback_one = vec![0x90, 0x04, 0x00, 0x01, 0x00, 0x01];
    let suback_two = vec![0x90, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00];
    let topic = b"$SYS/brokers/emqx@10.0.0.7/version";
    let mut publish = vec![0x30, 0];
    publish.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    publish.extend_from_slice(topic);
    publish.push(0); // no properties
    publish.extend_from_slice(b"5.8.6");
    publish[1] = (publish.len() - 2) as u8;
    let broker = Scripted::start(vec![
        vec![
            Step::Read,
            Step::Send(connack_v5(0x00, &[])),
            Step::Read,
            Step::Send(suback_one),
            Step::Serve,
        ],
        vec![
            Step::Read,
            Step::Send(connack_v5(0x00, &[])),
            Step::Read,
            Step::Send(suback_two),
            Step::Send(publish),
            Step::Serve,
        ],
    ]);
    let (report, code) = doctor_json(&[&broker.url(), "--subscribe", "devices/#"]);
    assert_eq!(code, 0, "{:?}", report.ids());
    let connected = report.finding("mqtt.connected");
    assert_eq!(
        evidence(connected, "broker"),
        "EMQX (identified: its $SYS/brokers/emqx@10.0.0.7/version reads \"5.8.6\", EMQX's \
         system topic)"
    );
    // The second connection asked for both families' version topics, at QoS 0.
    let frames = broker.frames(1);
    assert!(
        frames
            .iter()
            .any(|f| common::scripted::contains(f, b"$SYS/brokers/+/version")),
        "{frames:?}"
    );
    // Without --subscribe nothing is asked: one connection only.
    let quiet = Scripted::start(vec![answers(connack_v5(0x00, &[]))]);
    let (report, _) = doctor_json(&[&quiet.url()]);
    assert_eq!(
        evidence(report.finding("mqtt.connected"), "broker_confidence"),
        "unknown"
    );
    assert_eq!(quiet.received.lock().unwrap().len(), 1);
}
