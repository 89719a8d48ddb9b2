//! The doctor against real brokers of four more families (issue 20): RabbitMQ with its MQTT
//! plugin, ejabberd with mod_mqtt, aedes and amqtt (tests/common/brokers.rs). For each family,
//! every case of the issue's matrix: healthy, wrong password, unknown user, no credentials,
//! publish denied, subscribe denied, an allowed round trip, a duplicate client id during
//! `--hold`, TLS with a private CA, WebSocket, and recognition of the broker without
//! `--broker`. Each family answers these in its own way on the wire (the doc comment of each
//! test says how), and each way must come out as the right root cause.
//!
//! RabbitMQ and ejabberd are shared by the tests of this binary (they are slow to start);
//! aedes and amqtt start per test (a second or less), with the same users, TLS and WebSocket
//! listeners as the shared ones ([`BrokerOptions::standard`]).
//!
//! Where a refusal carries nothing that names the family (ejabberd's `20 03 00 87 00`, the
//! 3.1.1 CONNACK 1 that aedes and amqtt both give an MQTT 5 CONNECT without credentials), the
//! doctor asks one more harmless question, an MQTT 3.1 CONNECT without credentials, and the
//! `*_is_recognised_in_every_case` tests hold it to naming the family all the same.

mod common;

use std::any::Any;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::brokers::{
    Aedes, Amqtt, BrokerOptions, Ejabberd, PASSWORD, Ports, READER, READER_PASSWORD, RabbitMq, USER,
};
use common::{ReportExt, StageExt, doctor_json, evidence};
use mqtt_doctor::report::{FindingReport, Report};

// ---------------------------------------------------------------------------------------------
// Recognition and broker-specific fixes. Issue 20's recognition (a family with a confidence in
// the `broker` evidence) and its fixes are being built in parallel: what these helpers expect is
// written in one place, to be adjusted when that work lands.

/// A broker family as the report should name it, with what its own fix lines name.
#[derive(Debug, Clone, Copy)]
struct Family {
    /// The name the `broker` evidence should carry.
    name: &'static str,
    /// Words of which the first fix line names at least one: the family's own tool or config.
    fix_markers: &'static [&'static str],
    /// The family's own commands and config names, which no other family's fix may mention.
    commands: &'static [&'static str],
}

const RABBITMQ: Family = Family {
    name: "RabbitMQ",
    fix_markers: &["rabbitmqctl"],
    commands: &["rabbitmqctl"],
};

const EJABBERD: Family = Family {
    name: "ejabberd",
    fix_markers: &[
        "ejabberdctl",
        "ejabberd.yml",
        "access_rules",
        "access_publish",
        "access_subscribe",
    ],
    commands: &["ejabberdctl", "ejabberd.yml"],
};

const AEDES: Family = Family {
    name: "aedes",
    fix_markers: &["authenticate", "authorizePublish", "authorizeSubscribe"],
    commands: &["authorizePublish", "authorizeSubscribe"],
};

const AMQTT: Family = Family {
    name: "amqtt",
    fix_markers: &[
        "auth:",
        "topic-check",
        "password-file",
        "password_file",
        "FileAuthPlugin",
        "TopicAccessControlListPlugin",
    ],
    commands: &[
        "topic-check",
        "FileAuthPlugin",
        "TopicAccessControlListPlugin",
    ],
};

/// Commands of the families the doctor knew before issue 20: never in a fix for these four.
const OLDER_FAMILIES_COMMANDS: &[&str] = &[
    "mosquitto_passwd",
    "mosquitto_ctrl",
    "acl_file",
    "emqx ctl",
    "emqx_ctl",
    "vmq-passwd",
    "vmq-admin",
];

/// How sure the doctor says it is of a broker it named (given with --broker, identified from
/// something only that broker sends, or likely from several hints).
const CONFIDENCES: &[&str] = &["given", "identified", "likely"];

/// The `broker` evidence (on `mqtt.connected`, or on the CONNACK refusal) names `family`, with
/// its confidence.
fn assert_broker(report: &Report, family: Family) {
    let named: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.evidence.contains_key("broker"))
        .map(|f| evidence(f, "broker"))
        .collect();
    assert!(
        !named.is_empty(),
        "no finding carries the broker evidence: {:?}",
        report.ids()
    );
    for broker in &named {
        let lower = broker.to_lowercase();
        assert!(
            lower.starts_with(&family.name.to_lowercase())
                && CONFIDENCES.iter().any(|c| lower.contains(c)),
            "the broker evidence should name {} with a confidence ({CONFIDENCES:?}): {broker:?}",
            family.name
        );
    }
}

/// The first line of a fix that says what to do: after the "Most likely first:" heading of a
/// ranked list, without the list's numbering.
fn first_fix_line(finding: &FindingReport) -> String {
    let fix = finding
        .fix
        .as_deref()
        .unwrap_or_else(|| panic!("{} has no fix", finding.id));
    let line = fix
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && *l != "Most likely first:")
        .unwrap_or_else(|| panic!("{} has an empty fix: {fix:?}", finding.id));
    line.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ')' || c == '-')
        .trim()
        .to_string()
}

/// The first fix line of `finding` is for `family` (it names the family's own tool or config),
/// and no other family's command appears anywhere in the fix.
fn assert_fix_is_for(finding: &FindingReport, family: Family) {
    let first = first_fix_line(finding);
    assert!(
        family.fix_markers.iter().any(|m| first.contains(m)),
        "the first fix line of {} should be {}'s (naming one of {:?}): {first:?}",
        finding.id,
        family.name,
        family.fix_markers
    );
    let fix = finding.fix.as_deref().unwrap_or_default();
    let others = [RABBITMQ, EJABBERD, AEDES, AMQTT]
        .into_iter()
        .filter(|f| f.name != family.name)
        .flat_map(|f| f.commands.iter())
        .chain(OLDER_FAMILIES_COMMANDS);
    for command in others {
        assert!(
            !fix.contains(command),
            "the fix of {} for {} names another broker's {command:?}:\n{fix}",
            finding.id,
            family.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The brokers under test.

/// What the doctor sees of its own session when a client holding the same client id is kicked
/// by the doctor's CONNECT and reconnects during the hold.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Held {
    /// An MQTT 5 DISCONNECT 0x8E: `session.takeover`.
    TakenOver,
    /// The connection closed without a DISCONNECT (MQTT 3.1.1 has none): `session.dropped`.
    Dropped,
    /// Nothing: the broker kicked neither connection, and the hold passes.
    Kept,
}

/// One broker under test: where it listens and how it answers the cases that differ between
/// families.
struct Under {
    family: Family,
    ports: Ports,
    ca_file: PathBuf,
    /// The path of its MQTT-over-WebSocket endpoint.
    ws_path: &'static str,
    /// Arguments every run against it adds.
    extra: &'static [&'static str],
    /// The root cause and the CONNACK code of a refused login (wrong password, unknown user,
    /// no credentials).
    refusal: (&'static str, u8),
    /// The root cause of a PUBLISH the user may not make, with a matching subscription.
    publish_denial: &'static str,
    /// What the doctor's held session sees when the client it kicked reconnects.
    held: Held,
    log: Box<dyn Fn() -> String + Send + Sync>,
    /// What must live as long as the broker: its own broker and directory, for aedes and amqtt.
    _own: Option<Box<dyn Any + Send + Sync>>,
}

fn rabbitmq() -> Under {
    let broker = RabbitMq::shared();
    eprintln!("RabbitMQ started in {:?}", broker.started_in);
    Under {
        family: RABBITMQ,
        ports: broker.ports,
        ca_file: broker.ca_file.clone().expect("the shared broker's CA"),
        ws_path: "/ws",
        extra: &[],
        refusal: ("mqtt.bad_credentials", 4),
        publish_denial: "acl.publish_denied",
        held: Held::Dropped,
        log: Box::new(|| broker.log()),
        _own: None,
    }
}

fn ejabberd() -> Under {
    let broker = Ejabberd::shared();
    eprintln!("ejabberd started in {:?}", broker.started_in);
    Under {
        family: EJABBERD,
        ports: broker.ports,
        ca_file: broker.ca_file.clone().expect("the shared broker's CA"),
        ws_path: "/mqtt",
        extra: &[],
        refusal: ("mqtt.not_authorized", 0x87),
        publish_denial: "acl.publish_denied",
        held: Held::TakenOver,
        log: Box::new(|| broker.log()),
        _own: None,
    }
}

fn aedes() -> Under {
    let dir = tempfile::tempdir().expect("temp dir");
    let (options, ca_file) = BrokerOptions::standard(dir.path());
    let broker = Aedes::start(&options);
    eprintln!("aedes started in {:?}", broker.started_in);
    Under {
        family: AEDES,
        ports: broker.ports,
        ca_file,
        ws_path: "/mqtt",
        extra: &[],
        refusal: ("mqtt.not_authorized", 5),
        publish_denial: "acl.publish_denied",
        held: Held::Dropped,
        log: Box::new(move || broker.log()),
        _own: Some(Box::new(dir)),
    }
}

/// amqtt in the default version mode: silent on the MQTT 5 CONNECT, it gets the 3.1.1 CONNECT
/// sent beside it (see `amqtt_admits_the_right_password`).
fn amqtt() -> Under {
    let dir = tempfile::tempdir().expect("temp dir");
    let (options, ca_file) = BrokerOptions::standard(dir.path());
    let broker = Amqtt::start(&options);
    eprintln!("amqtt started in {:?}", broker.started_in);
    Under {
        family: AMQTT,
        ports: broker.ports,
        ca_file,
        ws_path: "/mqtt",
        extra: &[],
        refusal: ("mqtt.not_authorized", 5),
        publish_denial: "acl.roundtrip_failed",
        held: Held::Kept,
        log: Box::new(move || broker.log()),
        _own: Some(Box::new(dir)),
    }
}

impl Under {
    /// The doctor against `url` as `user`/`password` (none when `None`), with `args`.
    fn doctor_at(&self, url: &str, login: Option<(&str, &str)>, args: &[&str]) -> (Report, i32) {
        let mut all = vec![url];
        if let Some((user, password)) = login {
            all.extend_from_slice(&["-u", user, "--password", password]);
        }
        all.extend_from_slice(args);
        all.extend_from_slice(self.extra);
        doctor_json(&all)
    }

    /// The doctor against the plain MQTT listener.
    fn doctor(&self, login: Option<(&str, &str)>, args: &[&str]) -> (Report, i32) {
        self.doctor_at(&self.ports.mqtt_url(), login, args)
    }

    fn log(&self) -> String {
        (self.log)()
    }
}

const DOCTOR: Option<(&str, &str)> = Some((USER, PASSWORD));
/// May subscribe to `doctor/#` and publish nowhere.
const READ_ONLY: Option<(&str, &str)> = Some((READER, READER_PASSWORD));

/// A client of the broker's own, MQTT 3.1.1 over a raw TCP socket, logged in as [`USER`] with
/// `client_id`: the device whose client id the doctor borrows.
fn device(port: u16, client_id: &str, clean: bool) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the broker");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Protocol name, level 4, flags (user name, password, clean session), keep alive 60 s.
    let flags = 0xC0 | if clean { 0x02 } else { 0x00 };
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 60];
    for field in [client_id, USER, PASSWORD] {
        body.extend_from_slice(&(field.len() as u16).to_be_bytes());
        body.extend_from_slice(field.as_bytes());
    }
    assert!(body.len() < 128, "one byte of remaining length");
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    stream.write_all(&packet).unwrap();
    let mut connack = [0; 4];
    stream
        .read_exact(&mut connack)
        .expect("the device's CONNACK");
    assert_eq!(
        (connack[0], connack[1], connack[3]),
        (0x20, 2, 0),
        "the device's CONNACK"
    );
    stream
}

/// What happened to the device while the doctor held the same client id.
#[derive(Debug)]
struct DeviceSaw {
    /// The broker closed the device's connection when the doctor connected.
    kicked: bool,
}

/// A device holds `client_id`; the doctor connects with it and holds for 2 s. When the broker
/// kicks the device off, the device reconnects at once, as devices do, and kicks the doctor off
/// in turn.
fn borrow_a_held_client_id(under: &Under, client_id: &str, clean: bool) -> (Report, DeviceSaw) {
    let port = under.ports.mqtt;
    let first = device(port, client_id, clean);
    let watch = first.try_clone().unwrap();
    watch
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let id = client_id.to_string();
    let holder = thread::spawn(move || {
        let mut watch = watch;
        let mut byte = [0; 1];
        let kicked = loop {
            if flag.load(Ordering::SeqCst) {
                break false;
            }
            match watch.read(&mut byte) {
                Ok(0) => break true,
                Ok(_) => panic!("the device got a packet: {byte:?}"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(_) => break true,
            }
        };
        // Back at once; held until the doctor is done.
        let again = (kicked && !flag.load(Ordering::SeqCst)).then(|| device(port, &id, clean));
        while !flag.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
        }
        drop(again);
        DeviceSaw { kicked }
    });
    let (report, _) = under.doctor(DOCTOR, &["--client-id", client_id, "--hold", "2s"]);
    done.store(true, Ordering::SeqCst);
    let saw = holder.join().expect("the device thread");
    drop(first);
    (report, saw)
}

// ---------------------------------------------------------------------------------------------
// The cases, each asserting the right root cause; the tests below run them per broker.

/// A clean pass of the mqtt stage, `log` being the broker's account for when it is not.
fn assert_healthy(report: &Report, code: i32, log: &str) {
    assert_eq!(
        (code, report.stage_status("mqtt")),
        (0, "pass"),
        "{report:#?}\nbroker log:\n{log}"
    );
    assert_eq!(report.verdict.root_cause, None);
}

/// The broker refused the doctor's CONNECT with `connack`, which the doctor names `root_cause`.
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

fn assert_root_cause(report: &Report, code: i32, root_cause: &str, log: &str) {
    assert_eq!(
        (code, report.verdict.root_cause.as_deref()),
        (1, Some(root_cause)),
        "{report:#?}\nbroker log:\n{log}"
    );
}

fn healthy(under: &Under) -> Report {
    let (report, code) = under.doctor(DOCTOR, &[]);
    assert_healthy(&report, code, &under.log());
    report
}

fn refused(under: &Under, login: Option<(&str, &str)>) -> Report {
    let (report, code) = under.doctor(login, &[]);
    let (root_cause, connack) = under.refusal;
    assert_refused(&report, code, root_cause, connack, &under.log());
    report
}

fn wrong_password(under: &Under) -> Report {
    refused(under, Some((USER, "not-the-password")))
}

fn unknown_user(under: &Under) -> Report {
    refused(under, Some(("nobody", "not-the-password")))
}

fn no_credentials(under: &Under) -> Report {
    let report = refused(under, None);
    assert_eq!(
        evidence(report.finding(under.refusal.0), "sent"),
        "no credentials (anonymous)"
    );
    report
}

/// The read-only user publishes where it may subscribe: a denial the broker reports (a PUBACK
/// code, or closing the connection), or one only the round trip shows.
fn publish_denied(under: &Under) -> Report {
    let (report, code) = under.doctor(
        READ_ONLY,
        &["--subscribe", "doctor/#", "--publish", "doctor/denied"],
    );
    assert_root_cause(&report, code, under.publish_denial, &under.log());
    report
}

fn subscribe_denied(under: &Under) -> Report {
    let (report, code) = under.doctor(DOCTOR, &["--subscribe", "elsewhere/#"]);
    assert_root_cause(&report, code, "acl.subscribe_denied", &under.log());
    let denied = &report.finding("acl.subscribe_denied").evidence["denied"];
    assert_eq!(denied[0]["filter"], "elsewhere/#", "{denied}");
    report
}

fn round_trip(under: &Under) -> Report {
    let (report, code) = under.doctor(
        DOCTOR,
        &["--subscribe", "doctor/#", "--publish", "doctor/round-trip"],
    );
    assert_healthy(&report, code, &under.log());
    let checks = evidence(report.finding("acl.ok"), "checks");
    assert!(checks.contains("came back"), "{checks}");
    report
}

/// The doctor borrows a client id a device holds: its warning, then what the broker does to
/// its session when the device it kicked comes back.
fn duplicate_client_id(under: &Under) -> Report {
    let client_id = format!("device-{}", under.family.name.to_lowercase());
    let (report, device) = borrow_a_held_client_id(under, &client_id, true);
    assert_eq!(
        evidence(report.finding("mqtt.client_id_given"), "client_id"),
        client_id
    );
    let log = under.log();
    match under.held {
        Held::TakenOver => {
            assert!(device.kicked, "the doctor's CONNECT kicked the device off");
            assert_eq!(
                report.verdict.root_cause.as_deref(),
                Some("session.takeover"),
                "{report:#?}\nbroker log:\n{log}"
            );
            assert_eq!(evidence(report.finding("session.takeover"), "code"), "142");
        }
        Held::Dropped => {
            assert!(device.kicked, "the doctor's CONNECT kicked the device off");
            assert_eq!(
                report.verdict.root_cause.as_deref(),
                Some("session.dropped"),
                "{report:#?}\nbroker log:\n{log}"
            );
        }
        Held::Kept => {
            assert!(!device.kicked, "{device:?}");
            assert_eq!(report.verdict.root_cause, None, "{report:#?}\n{log}");
            assert!(report.ids().contains(&"session.ok"), "{:?}", report.ids());
        }
    }
    report
}

fn tls_with_the_private_ca(under: &Under) -> Report {
    let url = format!("mqtts://127.0.0.1:{}", under.ports.mqtts.expect("TLS"));
    let ca = under.ca_file.to_str().unwrap();
    let (report, code) = under.doctor_at(&url, DOCTOR, &["--cafile", ca]);
    // Not assert_healthy: aedes over TLS earns a warning of its own (mqtt.nagle_delay).
    assert_eq!(
        (code, report.verdict.root_cause.as_deref()),
        (0, None),
        "{report:#?}\nbroker log:\n{}",
        under.log()
    );
    assert_eq!(report.stage_status("tls"), "pass");
    assert_ne!(report.stage_status("mqtt"), "fail");
    report
}

fn tls_without_the_private_ca(under: &Under) -> Report {
    let url = format!("mqtts://127.0.0.1:{}", under.ports.mqtts.expect("TLS"));
    let (report, code) = under.doctor_at(&url, DOCTOR, &[]);
    assert_root_cause(&report, code, "tls.unknown_issuer", &under.log());
    assert_eq!(
        evidence(report.finding("tls.unknown_issuer"), "issuer"),
        "CN=mqtt-doctor broker tests CA"
    );
    report
}

fn websocket(under: &Under) -> Report {
    let url = format!(
        "ws://127.0.0.1:{}{}",
        under.ports.ws.expect("a WebSocket listener"),
        under.ws_path
    );
    let (report, code) = under.doctor_at(&url, DOCTOR, &[]);
    assert_healthy(&report, code, &under.log());
    assert_eq!(report.stage_status("websocket"), "pass");
    report
}

/// A connection closed right after a PUBLISH or SUBSCRIBE is the broker denying that packet's
/// topic, and the report says so: which packet, and that this broker denies by closing; the
/// close is not a second failure of its own.
fn assert_denied_by_closing(report: &Report, root_cause: &str, packet: &str) {
    let finding = report.finding(root_cause);
    let text = format!("{} {}", finding.detail, finding.evidence["denied"]);
    assert!(
        text.contains(packet) && text.contains("clos"),
        "{root_cause} should say the broker closed the connection on the {packet}: {text}"
    );
    assert!(
        !report.ids().contains(&"session.dropped"),
        "the close is the denial, not a dropped session: {:?}",
        report.ids()
    );
}

type Case = fn(&Under) -> Report;

/// Every case whose report reaches the MQTT stage, where the broker can be recognised.
const RECOGNISABLE: &[(&str, Case)] = &[
    ("healthy", healthy),
    ("wrong password", wrong_password),
    ("unknown user", unknown_user),
    ("no credentials", no_credentials),
    ("publish denied", publish_denied),
    ("subscribe denied", subscribe_denied),
    ("round trip", round_trip),
    ("duplicate client id", duplicate_client_id),
    ("TLS with the private CA", tls_with_the_private_ca),
    ("WebSocket", websocket),
];

/// Without `--broker`, every case names the broker's family with a confidence, and every
/// failure's first fix line is that family's; all cases are run, and all that fall short are
/// listed.
fn assert_recognised_in_every_case(under: &Under) {
    let mut short = Vec::new();
    for (name, case) in RECOGNISABLE {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let report = case(under);
            assert_broker(&report, under.family);
            if let Some(root_cause) = &report.verdict.root_cause {
                assert_fix_is_for(report.finding(root_cause), under.family);
            }
        }));
        if outcome.is_err() {
            short.push(*name);
        }
    }
    assert!(
        short.is_empty(),
        "{} not named, or its fix not first, in: {short:?} (each panic above says how)",
        under.family.name
    );
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ 3.10, MQTT plugin (3.1.1 only: it closes the connection on an MQTT 5 CONNECT).

/// RabbitMQ closes the connection on an MQTT 5 CONNECT without a CONNACK, and the doctor's
/// second try, in 3.1.1, is accepted.
#[test]
fn rabbitmq_admits_the_right_password() {
    let under = rabbitmq();
    let report = healthy(&under);
    assert_eq!(
        evidence(report.finding("mqtt.v311_only"), "mqtt5_answer"),
        "closed the connection on the MQTT 5 CONNECT without a CONNACK"
    );
}

/// Wire: CONNACK return code 4, "bad user name or password".
#[test]
fn rabbitmq_wrong_password_is_bad_credentials() {
    wrong_password(&rabbitmq());
}

/// Wire: CONNACK return code 4, as for a wrong password.
#[test]
fn rabbitmq_unknown_user_is_bad_credentials() {
    unknown_user(&rabbitmq());
}

/// Wire: CONNACK return code 4 (`mqtt.allow_anonymous = false`).
#[test]
fn rabbitmq_no_credentials_is_bad_credentials() {
    no_credentials(&rabbitmq());
}

/// Wire: the topic permission check fails and RabbitMQ closes the connection right after the
/// QoS 1 PUBLISH, without a PUBACK (3.1.1 has no code for it).
#[test]
fn rabbitmq_publish_denied_is_publish_denied() {
    publish_denied(&rabbitmq());
}

/// Wire: as above; today the denial reads "refused ... in its PUBACK" ("no PUBACK within 5s")
/// and a `session.dropped` comes with it.
#[test]
fn rabbitmq_publish_denied_says_rabbitmq_denies_by_closing() {
    let report = publish_denied(&rabbitmq());
    assert_denied_by_closing(&report, "acl.publish_denied", "PUBLISH");
}

/// Wire: the topic permission check fails and RabbitMQ closes the connection right after the
/// SUBSCRIBE, without a SUBACK.
#[test]
fn rabbitmq_subscribe_denied_is_subscribe_denied() {
    let report = subscribe_denied(&rabbitmq());
    assert_denied_by_closing(&report, "acl.subscribe_denied", "SUBSCRIBE");
}

/// Wire: SUBACK 1, PUBACK, and the message back.
#[test]
fn rabbitmq_round_trip_passes() {
    round_trip(&rabbitmq());
}

/// Wire: the doctor's 3.1.1 CONNECT makes RabbitMQ close the device's connection (no packet);
/// the device's reconnect makes it close the doctor's the same way: `session.dropped`.
#[test]
fn rabbitmq_duplicate_client_id_drops_the_held_session() {
    duplicate_client_id(&rabbitmq());
}

/// Wire: the TLS listener's certificate from the tests' private CA.
#[test]
fn rabbitmq_tls_passes_with_the_private_ca() {
    tls_with_the_private_ca(&rabbitmq());
}

/// Wire: the same certificate, which the system roots do not trust; no MQTT is spoken.
#[test]
fn rabbitmq_tls_without_the_private_ca_is_unknown_issuer() {
    tls_without_the_private_ca(&rabbitmq());
}

/// Wire: rabbitmq_web_mqtt on /ws, subprotocol mqtt; MQTT as on TCP (5 closed, 3.1.1 admitted).
#[test]
fn rabbitmq_websocket_passes() {
    websocket(&rabbitmq());
}

/// Wire: nothing RabbitMQ-specific in a 3.1.1 CONNACK; its signature is the close of the MQTT 5
/// CONNECT without a CONNACK, the close after a denied PUBLISH or SUBSCRIBE, and code 4 for
/// any refused login.
#[test]
fn rabbitmq_is_recognised_in_every_case() {
    assert_recognised_in_every_case(&rabbitmq());
}

// ---------------------------------------------------------------------------------------------
// ejabberd 23.01, mod_mqtt (MQTT 5).

/// Wire: MQTT 5 CONNACK 0 at the first try.
#[test]
fn ejabberd_admits_the_right_password() {
    let report = healthy(&ejabberd());
    assert!(
        !report.ids().contains(&"mqtt.v311_only"),
        "ejabberd speaks MQTT 5: {:?}",
        report.ids()
    );
}

/// Wire: CONNACK 0x87, "not authorized", not 0x86.
#[test]
fn ejabberd_wrong_password_is_not_authorized() {
    wrong_password(&ejabberd());
}

/// Wire: CONNACK 0x87, as for a wrong password.
#[test]
fn ejabberd_unknown_user_is_not_authorized() {
    unknown_user(&ejabberd());
}

/// Wire: CONNACK 0x87.
#[test]
fn ejabberd_no_credentials_is_not_authorized() {
    no_credentials(&ejabberd());
}

/// Wire: PUBACK 0x90, "topic name invalid", for a topic `access_publish` denies; the
/// connection stays up.
#[test]
fn ejabberd_publish_denied_is_publish_denied() {
    let report = publish_denied(&ejabberd());
    let denied = &report.finding("acl.publish_denied").evidence["denied"];
    assert_eq!(denied[0]["code"], "0x90", "{denied}");
}

/// Wire: SUBACK 0x8F, "topic filter invalid", with the reason string "Subscribing to this
/// topic is forbidden by service policy"; the connection stays up.
#[test]
fn ejabberd_subscribe_denied_is_subscribe_denied() {
    let report = subscribe_denied(&ejabberd());
    let finding = report.finding("acl.subscribe_denied");
    assert_eq!(finding.evidence["denied"][0]["code"], "0x8F");
    assert!(evidence(finding, "reason_string").contains("forbidden"));
    // "Topic filter invalid" on a valid filter, with that reason string, is read as a denial.
    let meaning = finding.evidence["denied"][0]["meaning"].as_str().unwrap();
    assert!(meaning.contains("a denial"), "{meaning}");
}

/// Wire: SUBACK 1, PUBACK 0, and the message back.
#[test]
fn ejabberd_round_trip_passes() {
    round_trip(&ejabberd());
}

/// Wire: the doctor's CONNECT makes ejabberd close the (3.1.1) device's connection; the
/// device's reconnect gets the doctor an MQTT 5 DISCONNECT 0x8E with the reason string
/// "Replaced by another connection": `session.takeover`.
#[test]
fn ejabberd_duplicate_client_id_is_a_takeover() {
    duplicate_client_id(&ejabberd());
}

/// Wire: mod_mqtt with `tls: true` and the certificate from the tests' private CA.
#[test]
fn ejabberd_tls_passes_with_the_private_ca() {
    tls_with_the_private_ca(&ejabberd());
}

/// Wire: the same certificate, which the system roots do not trust; no MQTT is spoken.
#[test]
fn ejabberd_tls_without_the_private_ca_is_unknown_issuer() {
    tls_without_the_private_ca(&ejabberd());
}

/// Wire: ejabberd_http with mod_mqtt on /mqtt.
#[test]
fn ejabberd_websocket_passes() {
    websocket(&ejabberd());
}

/// Wire: an MQTT 5 broker that refuses logins with 0x87, publishes with PUBACK 0x90 and
/// subscriptions with SUBACK 0x8F and a reason string, and takes sessions over with 0x8E
/// "Replaced by another connection".
#[test]
fn ejabberd_is_recognised_in_every_case() {
    assert_recognised_in_every_case(&ejabberd());
}

// ---------------------------------------------------------------------------------------------
// aedes 0.51 (3.1.1 only: it answers an MQTT 5 CONNECT with a 3.1.1 CONNACK 1).

/// Wire: a 3.1.1 CONNACK 1 to the MQTT 5 CONNECT, then CONNACK 0 to the 3.1.1 one.
#[test]
fn aedes_admits_the_right_password() {
    let report = healthy(&aedes());
    assert_eq!(
        evidence(report.finding("mqtt.v311_only"), "mqtt5_answer"),
        "answered the MQTT 5 CONNECT with a 3.1.1-format CONNACK (return code 1, bytes 20 02 00 01)"
    );
}

/// Wire: CONNACK return code 5 from the authenticate hook refusing.
#[test]
fn aedes_wrong_password_is_not_authorized() {
    wrong_password(&aedes());
}

/// Wire: CONNACK return code 5, as for a wrong password.
#[test]
fn aedes_unknown_user_is_not_authorized() {
    unknown_user(&aedes());
}

/// Wire: CONNACK return code 5 (the hook gets no user name).
#[test]
fn aedes_no_credentials_is_not_authorized() {
    no_credentials(&aedes());
}

/// Wire: authorizePublish refusing makes aedes close the connection right after the PUBLISH,
/// without a PUBACK.
#[test]
fn aedes_publish_denied_is_publish_denied() {
    publish_denied(&aedes());
}

/// Wire: as above; today the denial reads "refused ... in its PUBACK" ("no PUBACK within 5s")
/// and a `session.dropped` comes with it.
#[test]
fn aedes_publish_denied_says_aedes_denies_by_closing() {
    let report = publish_denied(&aedes());
    assert_denied_by_closing(&report, "acl.publish_denied", "PUBLISH");
}

/// Wire: authorizeSubscribe refusing gets SUBACK 0x80; the connection stays up.
#[test]
fn aedes_subscribe_denied_is_subscribe_denied() {
    let report = subscribe_denied(&aedes());
    assert_eq!(
        report.finding("acl.subscribe_denied").evidence["denied"][0]["code"],
        "0x80"
    );
}

/// Wire: SUBACK 1, PUBACK, and the message back.
#[test]
fn aedes_round_trip_passes() {
    round_trip(&aedes());
}

/// Wire: the doctor's CONNECT makes aedes close the device's connection; the device's
/// reconnect closes the doctor's the same way (3.1.1, no DISCONNECT): `session.dropped`.
#[test]
fn aedes_duplicate_client_id_drops_the_held_session() {
    duplicate_client_id(&aedes());
}

/// Wire: node's TLS server, without TCP_NODELAY: the CONNACK waits for the doctor's delayed
/// ACK, and the doctor warns of it (`mqtt.nagle_delay`); plain TCP answers at once.
#[test]
fn aedes_tls_passes_with_the_private_ca() {
    tls_with_the_private_ca(&aedes());
}

/// Wire: the same certificate, which the system roots do not trust; no MQTT is spoken.
#[test]
fn aedes_tls_without_the_private_ca_is_unknown_issuer() {
    tls_without_the_private_ca(&aedes());
}

/// Wire: node's TLS server with a certificate that expired yesterday. A certificate is fixed on
/// the broker's side, where each family keeps it its own way: with `--broker aedes` the first
/// fix line is aedes's (`tls.createServer`), without it no family's.
#[test]
fn aedes_expired_certificate_fix_is_aedes_own_when_named() {
    use common::pki::{self, Ca, Leaf};
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("mqtt-doctor expired tests CA");
    let server = ca.issue(&Leaf::server().valid(-30, -1));
    let ca_file = pki::write(dir.path(), "ca.pem", &ca.pem);
    let options = BrokerOptions {
        tls: Some(common::brokers::TlsFiles {
            cert: pki::write(dir.path(), "server.pem", &server.cert),
            key: pki::write(dir.path(), "server.key", &server.key),
        }),
        ..BrokerOptions::default()
    };
    let broker = Aedes::start(&options);
    let url = format!("mqtts://127.0.0.1:{}", broker.ports.mqtts.expect("TLS"));
    let ca = ca_file.to_str().unwrap();

    let (named, code) = doctor_json(&[&url, "--cafile", ca, "--broker", "aedes"]);
    assert_eq!(
        (code, named.verdict.root_cause.as_deref()),
        (1, Some("tls.expired")),
        "{named:#?}"
    );
    let expired = named.finding("tls.expired");
    let first = first_fix_line(expired);
    assert!(
        first.starts_with("aedes: ") && first.contains("tls.createServer"),
        "{first:?}"
    );

    let (unnamed, _) = doctor_json(&[&url, "--cafile", ca]);
    let fix = unnamed
        .finding("tls.expired")
        .fix
        .clone()
        .unwrap_or_default();
    assert!(!fix.contains("tls.createServer"), "{fix}");
}

/// Wire: the ws package's server, any path, subprotocol mqtt.
#[test]
fn aedes_websocket_passes() {
    websocket(&aedes());
}

/// Wire: a 3.1.1 CONNACK 1 to an MQTT 5 CONNECT, code 5 for any refused login, a close after
/// a denied PUBLISH and SUBACK 0x80 for a denied SUBSCRIBE.
#[test]
fn aedes_is_recognised_in_every_case() {
    assert_recognised_in_every_case(&aedes());
}

// ---------------------------------------------------------------------------------------------
// amqtt 0.12 (3.1.1 only: it reads an MQTT 5 CONNECT and never answers it).

/// amqtt reads an MQTT 5 CONNECT and never answers it, waiting for bytes that do not come;
/// a broker that only speaks 3.1.1 deserves the doctor's 3.1.1 retry all the same.
#[test]
fn amqtt_admits_the_right_password() {
    let under = Under {
        extra: &[],
        ..amqtt()
    };
    let report = healthy(&under);
    assert!(
        report.ids().contains(&"mqtt.v311_only"),
        "{:?}",
        report.ids()
    );
}

/// Wire: no answer to the MQTT 5 CONNECT; code 5 to a 3.1.1 one with a wrong password.
#[test]
fn amqtt_wrong_password_is_not_authorized() {
    wrong_password(&Under {
        extra: &[],
        ..amqtt()
    });
}

/// Wire: CONNACK 0 to a 3.1.1 CONNECT.
#[test]
fn amqtt_admits_the_right_password_on_mqtt_311() {
    healthy(&amqtt());
}

/// Wire: CONNACK return code 5 from its file authentication.
#[test]
fn amqtt_wrong_password_is_not_authorized_on_mqtt_311() {
    wrong_password(&amqtt());
}

/// Wire: CONNACK return code 5, as for a wrong password.
#[test]
fn amqtt_unknown_user_is_not_authorized() {
    unknown_user(&amqtt());
}

/// Wire: CONNACK return code 5.
#[test]
fn amqtt_no_credentials_is_not_authorized() {
    no_credentials(&amqtt());
}

/// Wire: amqtt acknowledges the denied PUBLISH (PUBACK) and drops it; only the matching
/// subscription shows it: `acl.roundtrip_failed`. Without `--subscribe` the doctor cannot tell
/// (3.1.1 has no PUBACK code) and passes.
#[test]
fn amqtt_publish_denied_is_a_failed_round_trip() {
    let report = publish_denied(&amqtt());
    let checks = evidence(report.finding("acl.roundtrip_failed"), "checks");
    assert!(checks.contains("accepted (PUBACK)"), "{checks}");
}

/// Wire: the topic access-control list refusing gets SUBACK 0x80; the connection stays up.
#[test]
fn amqtt_subscribe_denied_is_subscribe_denied() {
    let report = subscribe_denied(&amqtt());
    assert_eq!(
        report.finding("acl.subscribe_denied").evidence["denied"][0]["code"],
        "0x80"
    );
}

/// Wire: SUBACK 1, PUBACK, and the message back.
#[test]
fn amqtt_round_trip_passes() {
    round_trip(&amqtt());
}

/// Wire: with clean sessions amqtt kicks neither connection: it deletes the device's session
/// and lets both connections live with one client id (it takes over only a session kept with
/// clean session 0). The doctor warns of the client id and holds without trouble.
#[test]
fn amqtt_duplicate_client_id_kicks_no_one() {
    duplicate_client_id(&amqtt());
}

/// Wire: a device with a kept session (clean session 0) connecting while the doctor holds its
/// client id takes the session over: amqtt closes the doctor's connection (3.1.1, no
/// DISCONNECT): `session.dropped`.
#[test]
fn amqtt_duplicate_client_id_of_a_kept_session_drops_the_held_session() {
    let under = amqtt();
    let client_id = "device-kept";
    let port = under.ports.mqtt;
    let (report, _) = thread::scope(|scope| {
        let arriving = scope.spawn(|| {
            // Once amqtt has the doctor's session running (its debug log says so).
            let running = format!("{client_id} Start messages handling");
            while !under.log().contains(&running) {
                thread::sleep(Duration::from_millis(20));
            }
            let device = device(port, client_id, false);
            thread::sleep(Duration::from_secs(3));
            drop(device);
        });
        let outcome = under.doctor(DOCTOR, &["--client-id", client_id, "--hold", "2s"]);
        arriving.join().expect("the device thread");
        outcome
    });
    assert!(report.ids().contains(&"mqtt.client_id_given"));
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("session.dropped"),
        "{report:#?}\nbroker log:\n{}",
        under.log()
    );
}

/// Wire: its TLS listener with the certificate from the tests' private CA.
#[test]
fn amqtt_tls_passes_with_the_private_ca() {
    tls_with_the_private_ca(&amqtt());
}

/// Wire: the same certificate, which the system roots do not trust; no MQTT is spoken.
#[test]
fn amqtt_tls_without_the_private_ca_is_unknown_issuer() {
    tls_without_the_private_ca(&amqtt());
}

/// Wire: amqtt's websockets listener, any path.
#[test]
fn amqtt_websocket_passes() {
    websocket(&amqtt());
}

/// Wire: silence on an MQTT 5 CONNECT, code 5 for any refused login, SUBACK 0x80 for a
/// denied SUBSCRIBE, a denied PUBLISH acknowledged and dropped.
#[test]
fn amqtt_is_recognised_in_every_case() {
    assert_recognised_in_every_case(&amqtt());
}
