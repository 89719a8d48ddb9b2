//! Broker families against real brokers (issue 20): the doctor names the family with the
//! confidence it has, and the fix it gives first is that family's, naming no other family's
//! commands. RabbitMQ 3.10, ejabberd 23.01, aedes 0.51 and amqtt 0.12 come from
//! tests/common/brokers.rs; Mosquitto 2.0.11 from tests/common/mod.rs.

mod common;

use common::brokers::{
    Aedes, Amqtt, BrokerOptions, Ejabberd, PASSWORD, Ports, RabbitMq, USER, User,
};
use common::{Mosquitto, ReportExt, doctor_json, evidence};
use mqtt_doctor::report::{FindingReport, Report};

/// Commands and files that belong to one family only.
const OWN_WORDS: &[(&str, &[&str])] = &[
    (
        "Mosquitto",
        &[
            "mosquitto_",
            "Mosquitto's acl_file",
            "mosquitto.conf",
            "systemctl reload mosquitto",
        ],
    ),
    ("EMQX", &["emqx ctl", "emqx.conf"]),
    ("RabbitMQ", &["rabbitmqctl"]),
    ("VerneMQ", &["vmq-"]),
    ("NanoMQ", &["nanomq.conf"]),
    ("ejabberd", &["ejabberdctl", "ejabberd.yml"]),
    ("HiveMQ", &["file-rbac", "credentials.xml"]),
    ("Azure IoT Operations", &["BrokerAuthentication", "kubectl"]),
    ("amqtt", &["amqtt"]),
    ("aedes", &["authorizePublish", "`authenticate"]),
];

/// The fix's first numbered line contains `first`, and the fix names no other family's
/// commands.
fn assert_fix_is_only(finding: &FindingReport, family: &str, first: &str) {
    let fix = finding.fix.as_deref().unwrap_or_default();
    let line = fix
        .lines()
        .find(|l| l.starts_with("1. "))
        .unwrap_or_else(|| fix.lines().next().unwrap_or_default());
    assert!(line.contains(first), "first line {line:?} of:\n{fix}");
    for (other, words) in OWN_WORDS.iter().filter(|(name, _)| *name != family) {
        for word in *words {
            assert!(
                !fix.contains(word),
                "{family}'s fix names {other}'s {word}:\n{fix}"
            );
        }
    }
}

/// The broker named in the finding's evidence and in the JSON observations, with `confidence`.
fn assert_named(report: &Report, finding: &FindingReport, family: &str, confidence: &str) {
    assert!(
        evidence(finding, "broker").starts_with(&format!("{family} ({confidence}")),
        "{}",
        evidence(finding, "broker")
    );
    assert_eq!(evidence(finding, "broker_confidence"), confidence);
    let connack = report.nodes[0]
        .observed
        .connack
        .as_ref()
        .expect("a CONNACK");
    assert_eq!(connack.broker.as_deref(), Some(family));
    assert_eq!(
        connack
            .broker_confidence
            .map(|c| format!("{c:?}").to_lowercase()),
        Some(confidence.to_string())
    );
}

fn options() -> BrokerOptions {
    BrokerOptions {
        users: vec![User::new(USER, PASSWORD).may("doctor/#")],
        ..BrokerOptions::default()
    }
}

fn doctor(ports: &Ports, password: &str, extra: &[&str]) -> (Report, i32) {
    let url = ports.mqtt_url();
    let mut args = vec![url.as_str(), "-u", USER, "--password", password];
    args.extend_from_slice(extra);
    doctor_json(&args)
}

/// RabbitMQ 3.10 closes the connection on an MQTT 5 CONNECT and answers 3.1.1: that is enough
/// to call it likely, and its code 4 gets RabbitMQ's causes and commands.
#[test]
fn rabbitmq_is_recognised_and_its_wrong_password_gets_its_own_fix() {
    let broker = RabbitMq::shared();
    let (report, code) = doctor(&broker.ports, "not-the-password", &[]);
    assert_eq!(code, 1, "{:?}", report.ids());
    let refused = report.finding("mqtt.bad_credentials");
    assert_named(&report, refused, "RabbitMQ", "likely");
    assert_fix_is_only(refused, "RabbitMQ", "rabbitmqctl authenticate_user");
}

/// ejabberd's CONNACK properties (topic alias maximum 100, no shared subscriptions) are its
/// mod_mqtt's defaults; with an assigned client id, a decimal number, it is identified.
#[test]
fn ejabberd_is_recognised_by_its_connack() {
    let broker = Ejabberd::shared();
    let (report, code) = doctor(&broker.ports, PASSWORD, &[]);
    assert_eq!(code, 0, "{:?}\n{}", report.ids(), broker.log());
    assert_named(
        &report,
        report.finding("mqtt.connected"),
        "ejabberd",
        "likely",
    );

    let (report, _) = doctor(&broker.ports, PASSWORD, &["--client-id", ""]);
    assert_named(
        &report,
        report.finding("mqtt.connected"),
        "ejabberd",
        "identified",
    );
}

/// ejabberd refuses a subscription by service policy (SUBACK 0x8F): the fix is mod_mqtt's
/// access rule.
#[test]
fn ejabberd_subscribe_denial_gets_its_own_fix() {
    let broker = Ejabberd::shared();
    let (report, _) = doctor(&broker.ports, PASSWORD, &["--subscribe", "forbidden/#"]);
    let denied = report.finding("acl.subscribe_denied");
    assert_fix_is_only(denied, "ejabberd", "access_subscribe");
}

#[test]
fn ejabberd_wrong_password_gets_its_own_fix() {
    let broker = Ejabberd::shared();
    let (report, _) = doctor(&broker.ports, "not-the-password", &["--broker", "ejabberd"]);
    let refused = report.finding("mqtt.not_authorized");
    assert_named(&report, refused, "ejabberd", "given");
    assert_fix_is_only(refused, "ejabberd", "ejabberdctl check_password");
}

/// aedes answers an MQTT 5 CONNECT with a 3.1.1 CONNACK 1, then refuses the wrong password
/// with 5: with a username sent, likely aedes (amqtt would have stayed silent), and its
/// authenticate hook comes first. Without credentials amqtt gives the same CONNACK 1, so that
/// answer alone names neither: the doctor then asks in MQTT 3.1, which aedes answers (code 5)
/// and amqtt does not (it closes), and names aedes from that.
#[test]
fn aedes_is_recognised_even_where_amqtt_would_answer_alike() {
    let broker = Aedes::start(&options());
    let (report, code) = doctor(&broker.ports, "not-the-password", &[]);
    assert_eq!(code, 1, "{:?}\n{}", report.ids(), broker.log());
    let refused = report.finding("mqtt.not_authorized");
    assert_named(&report, refused, "aedes", "likely");
    assert_fix_is_only(refused, "aedes", "`authenticate` hook");

    let (report, _) = doctor_json(&[&broker.ports.mqtt_url()]);
    let refused = report.finding("mqtt.not_authorized");
    assert_named(&report, refused, "aedes", "likely");
    let named = evidence(refused, "broker");
    assert!(
        named.contains("answered MQTT 3.1 with a CONNACK"),
        "{named}"
    );
    // No credentials sent: that comes first, with aedes's hook beside it.
    assert_fix_is_only(refused, "aedes", "`authenticate(client, username, password");
}

/// amqtt speaks 3.1.1 only; named with --broker, its refusal gets its password file first.
#[test]
fn amqtt_refusal_gets_its_own_fix() {
    let broker = Amqtt::start(&options());
    let (report, code) = doctor(
        &broker.ports,
        "not-the-password",
        &["--mqtt-version", "3.1.1", "--broker", "amqtt"],
    );
    assert_eq!(code, 1, "{:?}\n{}", report.ids(), broker.log());
    let refused = report.finding("mqtt.not_authorized");
    assert_named(&report, refused, "amqtt", "given");
    assert_fix_is_only(refused, "amqtt", "password file");
}

/// Mosquitto assigns `auto-` and a UUID to a client that sends an empty id: identified.
#[test]
fn mosquitto_is_identified_by_the_client_id_it_assigns() {
    let broker = Mosquitto::start("");
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let (report, code) = doctor_json(&[&url, "--client-id", ""]);
    assert_eq!(code, 0, "{:?}", report.ids());
    assert_named(
        &report,
        report.finding("mqtt.connected"),
        "Mosquitto",
        "identified",
    );
}
