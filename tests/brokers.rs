//! The doctor against real brokers of four more families (issue 20): RabbitMQ with its MQTT
//! plugin, ejabberd with mod_mqtt, aedes and amqtt (tests/common/brokers.rs). Each family
//! refuses bad credentials in its own way, and each way must come out as the right root cause.
//! RabbitMQ and ejabberd are shared by the tests of this binary (they are slow to start);
//! aedes and amqtt start per test.

mod common;

use common::brokers::{
    Aedes, Amqtt, BrokerOptions, Ejabberd, PASSWORD, Ports, RabbitMq, USER, User,
};
use common::{ReportExt, StageExt, doctor_json, evidence};
use mqtt_doctor::report::Report;

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

/// A clean pass of the mqtt stage, `log` being the broker's account for when it is not.
fn assert_healthy(report: &Report, code: i32, log: &str) {
    assert_eq!(
        (code, report.stage_status("mqtt")),
        (0, "pass"),
        "{report:#?}\nbroker log:\n{log}"
    );
    assert_eq!(report.verdict.root_cause, None);
}

/// The broker refused the doctor's CONNECT with `code`, which the doctor names `root_cause`.
fn assert_refused(report: &Report, code: i32, root_cause: &str, connack: u8, log: &str) {
    assert_eq!(
        (code, report.verdict.root_cause.as_deref()),
        (1, Some(root_cause)),
        "{report:#?}\nbroker log:\n{log}"
    );
    assert_eq!(report.stage_status("mqtt"), "fail");
    assert_eq!(
        evidence(report.finding(root_cause), "code"),
        connack.to_string()
    );
}

/// RabbitMQ 3.10 speaks MQTT 3.1.1 only: it closes the connection on an MQTT 5 CONNECT, and
/// the doctor's second try, in 3.1.1, is accepted.
#[test]
fn rabbitmq_admits_the_right_password() {
    let broker = RabbitMq::shared();
    eprintln!("RabbitMQ started in {:?}", broker.started_in);
    let (report, code) = doctor(&broker.ports, PASSWORD, &[]);
    assert_healthy(&report, code, &broker.log());
    assert_eq!(
        evidence(report.finding("mqtt.v311_only"), "mqtt5_answer"),
        "closed the connection on the MQTT 5 CONNECT without a CONNACK"
    );
}

/// RabbitMQ answers a wrong password with return code 4, "bad user name or password".
#[test]
fn rabbitmq_wrong_password_is_bad_credentials() {
    let broker = RabbitMq::shared();
    let (report, code) = doctor(&broker.ports, "not-the-password", &[]);
    assert_refused(&report, code, "mqtt.bad_credentials", 4, &broker.log());
}

#[test]
fn ejabberd_admits_the_right_password() {
    let broker = Ejabberd::shared();
    eprintln!("ejabberd started in {:?}", broker.started_in);
    let (report, code) = doctor(&broker.ports, PASSWORD, &[]);
    assert_healthy(&report, code, &broker.log());
    assert!(
        !report.ids().contains(&"mqtt.v311_only"),
        "ejabberd speaks MQTT 5: {:?}",
        report.ids()
    );
}

/// ejabberd answers a wrong password with 0x87, "not authorized", not 0x86.
#[test]
fn ejabberd_wrong_password_is_not_authorized() {
    let broker = Ejabberd::shared();
    let (report, code) = doctor(&broker.ports, "not-the-password", &[]);
    assert_refused(&report, code, "mqtt.not_authorized", 0x87, &broker.log());
}

/// aedes speaks MQTT 3.1.1 only and answers an MQTT 5 CONNECT with a 3.1.1 CONNACK 1.
#[test]
fn aedes_admits_the_right_password() {
    let broker = Aedes::start(&options());
    eprintln!("aedes started in {:?}", broker.started_in);
    let (report, code) = doctor(&broker.ports, PASSWORD, &[]);
    assert_healthy(&report, code, &broker.log());
    assert_eq!(
        evidence(report.finding("mqtt.v311_only"), "mqtt5_answer"),
        "answered the MQTT 5 CONNECT with a 3.1.1-format CONNACK (return code 1, bytes 20 02 00 01)"
    );
}

/// aedes's authenticate hook refusing gets return code 5, "not authorized".
#[test]
fn aedes_wrong_password_is_not_authorized() {
    let broker = Aedes::start(&options());
    let (report, code) = doctor(&broker.ports, "not-the-password", &[]);
    assert_refused(&report, code, "mqtt.not_authorized", 5, &broker.log());
}

/// amqtt reads an MQTT 5 CONNECT and never answers it, waiting for bytes that do not come;
/// a broker that only speaks 3.1.1 deserves the doctor's 3.1.1 retry all the same.
#[test]
/// amqtt 0.12 stays silent on an MQTT 5 CONNECT (it waits for bytes that never come): the
/// default version mode sends a 3.1.1 CONNECT beside it after a short wait, and says so.
fn amqtt_admits_the_right_password() {
    let broker = Amqtt::start(&options());
    let (report, code) = doctor(&broker.ports, PASSWORD, &[]);
    assert_healthy(&report, code, &broker.log());
    let fallback = report.finding("mqtt.v311_only");
    assert!(
        fallback
            .detail
            .contains("did not answer the MQTT 5 CONNECT"),
        "{}",
        fallback.detail
    );
}

#[test]
fn amqtt_admits_the_right_password_on_mqtt_311() {
    let broker = Amqtt::start(&options());
    eprintln!("amqtt started in {:?}", broker.started_in);
    let (report, code) = doctor(&broker.ports, PASSWORD, &["--mqtt-version", "3.1.1"]);
    assert_healthy(&report, code, &broker.log());
}

#[test]
fn amqtt_wrong_password_is_not_authorized() {
    let broker = Amqtt::start(&options());
    let (report, code) = doctor(&broker.ports, "not-the-password", &[]);
    assert_refused(&report, code, "mqtt.not_authorized", 5, &broker.log());
}

/// amqtt's file authentication refusing gets return code 5, "not authorized".
#[test]
fn amqtt_wrong_password_is_not_authorized_on_mqtt_311() {
    let broker = Amqtt::start(&options());
    let (report, code) = doctor(
        &broker.ports,
        "not-the-password",
        &["--mqtt-version", "3.1.1"],
    );
    assert_refused(&report, code, "mqtt.not_authorized", 5, &broker.log());
}
