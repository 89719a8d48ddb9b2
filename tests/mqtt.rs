//! The MQTT stage against real Mosquitto brokers: CONNACK codes, enhanced auth, ACLs (acl_file
//! and dynamic security), duplicate client ids, a websockets listener and a TLS listener.

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::jwt::{RsaKey, Token, kubernetes};
use common::pki::{Ca, Leaf, write};
use common::{
    Mosquitto, ReportExt, StageExt, closed_port, doctor_json, evidence, password_config, run,
    run_env,
};
use serde_json::Value;

/// A Mosquitto that admits only `alice` / `secret`.
fn password_broker() -> Mosquitto {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let broker = Mosquitto::start(&password_config(
        dir.path(),
        "passwd",
        "alice",
        "secret",
        None,
    ));
    // The broker read the file at start; keep the directory alive with the broker's own.
    std::fs::copy(&file, broker.dir.path().join("passwd")).unwrap();
    broker
}

fn url(broker: &Mosquitto) -> String {
    format!("mqtt://127.0.0.1:{}", broker.port)
}

#[test]
fn anonymous_connect_shows_the_capabilities() {
    let broker = Mosquitto::start("");
    let (report, code) = doctor_json(&[&url(&broker)]);

    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(report.stage_status("mqtt"), "pass");
    let connected = report.finding("mqtt.connected");
    assert_eq!(evidence(connected, "protocol"), "MQTT 5");
    assert_eq!(connected.evidence["code"], 0);
    // Mosquitto 2.0's defaults, observed: receive maximum 20, topic alias maximum 10.
    assert_eq!(connected.evidence["properties"]["receive_maximum"], 20);
    assert!(evidence(connected, "broker").starts_with("Mosquitto"));
    assert!(evidence(connected, "client_id").starts_with("mqtt-doctor-"));
    let capabilities = connected.evidence["capabilities"].as_array().unwrap();
    let row = |name: &str| {
        capabilities
            .iter()
            .find(|r| r["capability"] == name)
            .unwrap_or_else(|| panic!("no {name} row"))["value"]
            .clone()
    };
    assert_eq!(row("topic alias maximum"), "10");
    assert_eq!(row("maximum QoS"), "2 (default)");
    assert_eq!(report.finding("session.ok").status.as_str(), "pass");
    // The doctor said goodbye: Mosquitto logs a clean disconnect, not a lost connection.
    let log = broker.log();
    assert!(log.contains("disconnected."), "{log}");
    assert!(!log.contains("closed its connection"), "{log}");
}

/// With --subscribe, Mosquitto names itself: its retained `$SYS/broker/version`, read on a
/// connection of its own beside the topic checks, which says goodbye like the session does.
#[test]
fn mosquitto_is_identified_by_its_sys_version_when_the_client_may_subscribe() {
    let broker = Mosquitto::start("");
    let (report, code) = doctor_json(&[&url(&broker), "--subscribe", "doctor/#"]);
    assert_eq!(code, 0, "{:?}", report.ids());
    let connected = report.finding("mqtt.connected");
    let named = evidence(connected, "broker");
    assert!(
        named.starts_with(
            "Mosquitto (identified: its $SYS/broker/version reads \"mosquitto version 2."
        ),
        "{named}"
    );
    assert_eq!(evidence(connected, "broker_confidence"), "identified");
    let log = broker.log();
    // Two clients, each gone with a DISCONNECT: nothing lost, nothing left.
    assert_eq!(log.matches(" disconnected.").count(), 2, "{log}");
    assert!(!log.contains("closed its connection"), "{log}");

    // Without --subscribe the doctor subscribes to nothing: Mosquitto's defaults make it likely.
    let (report, _) = doctor_json(&[&url(&broker)]);
    assert_eq!(
        evidence(report.finding("mqtt.connected"), "broker_confidence"),
        "likely"
    );
}

#[test]
fn mqtt_311_on_request() {
    let broker = Mosquitto::start("");
    let (report, code) = doctor_json(&[&url(&broker), "--mqtt-version", "3.1.1"]);

    assert_eq!(code, 0);
    let connected = report.finding("mqtt.connected");
    assert_eq!(evidence(connected, "protocol"), "MQTT 3.1.1");
    assert!(connected.evidence.get("capabilities").is_none());
    assert!(broker.log().contains("(p2, c1, k60)"), "{}", broker.log());
}

#[test]
fn wrong_password_is_not_authorized_with_mosquitto_causes_first() {
    let broker = password_broker();
    let run = run_env(
        &[("MQTT_DOCTOR_PASSWORD", "Wr0ng-pass-1738")],
        &[
            "doctor",
            &url(&broker),
            "-u",
            "alice",
            "--broker",
            "mosquitto",
            "--format",
            "json",
        ],
    );
    let report = run.report();

    assert_eq!(run.code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("mqtt.not_authorized")
    );
    let refused = report.finding("mqtt.not_authorized");
    assert_eq!(refused.evidence["code"], 135);
    assert_eq!(evidence(refused, "code_hex"), "0x87");
    assert_eq!(evidence(refused, "raw"), "20 03 00 87 00");
    let fix = refused.fix.as_deref().unwrap();
    assert!(fix.starts_with("Most likely first:\n1. "), "{fix}");
    assert!(fix.contains("systemctl reload mosquitto"), "{fix}");
    assert!(
        !fix.contains("EMQX"),
        "causes are ranked for Mosquitto only: {fix}"
    );
    assert!(
        !run.stdout.contains("Wr0ng-pass-1738"),
        "the password leaked"
    );

    // The same refusal on 3.1.1 is return code 5, and the text report names code and meaning.
    let text = run_env(
        &[("MQTT_DOCTOR_PASSWORD", "Wr0ng-pass-1738")],
        &[
            "doctor",
            &url(&broker),
            "-u",
            "alice",
            "--mqtt-version",
            "3.1.1",
        ],
    );
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("mqtt.not_authorized"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("return code 5: Connection Refused, not authorized"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("1. "), "{}", text.stdout);
}

#[test]
fn right_password_connects() {
    let broker = password_broker();
    let run = run_env(
        &[("MQTT_DOCTOR_PASSWORD", "secret")],
        &["doctor", &url(&broker), "-u", "alice", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        evidence(run.report().finding("mqtt.connected"), "sent"),
        "username alice, a password"
    );
}

#[test]
fn anonymous_client_on_a_closed_broker_is_told_to_send_credentials() {
    let broker = password_broker();
    let (report, _) = doctor_json(&[&url(&broker)]);
    let refused = report.finding("mqtt.not_authorized");
    assert!(
        refused
            .fix
            .as_deref()
            .unwrap()
            .starts_with("Most likely first:\n1. The doctor sent no credentials"),
        "{:?}",
        refused.fix
    );
}

#[test]
fn k8s_sat_to_mosquitto_is_a_bad_auth_method() {
    let broker = Mosquitto::start("");
    let token =
        kubernetes("apps", "sensor", &["aio-internal"], -60, 3600).rs256(&RsaKey::generate());
    let run = run_env(
        &[("MQTT_DOCTOR_TOKEN", token.as_str())],
        &[
            "doctor",
            &url(&broker),
            "--auth-method",
            "K8S-SAT",
            "--format",
            "json",
        ],
    );
    let report = run.report();

    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("mqtt.bad_auth_method")
    );
    let refused = report.finding("mqtt.bad_auth_method");
    assert_eq!(refused.evidence["code"], 0x8C);
    assert_eq!(
        evidence(refused, "sent"),
        "authentication method K8S-SAT with the token as data"
    );
    assert!(!run.stdout.contains(&token));
}

/// A token minted for another audience than the one the user expects, sent as the password.
fn audience_mismatch_run(broker: &Mosquitto) -> common::Run {
    let token = Token::new("HS256")
        .lifetime(-60, 3600)
        .claim("aud", "emqx")
        .hs256(b"k");
    let run = run_env(
        &[("MQTT_DOCTOR_TOKEN", token.as_str())],
        &[
            "doctor",
            &url(broker),
            "-u",
            "alice",
            "--audience",
            "aio-internal",
            "--format",
            "json",
        ],
    );
    assert!(!run.stdout.contains(&token));
    run
}

#[test]
fn accepted_connect_clears_token_suspicions() {
    // Mosquitto without a password file takes any password: the audience the user expected is
    // not this broker's concern, and the finding is kept as information.
    let run = audience_mismatch_run(&Mosquitto::start(""));
    let report = run.report();

    assert_eq!(run.code, 0, "{:?}", report.ids());
    let suspicion = report.finding("token.audience_mismatch");
    assert_eq!(suspicion.status.as_str(), "info");
    assert!(suspicion.detail.contains("accepted the connection"));
    assert_eq!(report.stage_status("auth"), "pass");
    assert_eq!(
        evidence(report.finding("mqtt.connected"), "sent"),
        "username alice, the token as password"
    );
}

#[test]
fn refused_connect_with_a_token_problem_roots_in_the_token() {
    let run = audience_mismatch_run(&password_broker());
    let report = run.report();

    assert_eq!(run.code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("token.audience_mismatch")
    );
    assert_eq!(
        report.finding("mqtt.not_authorized").status.as_str(),
        "fail"
    );
}

/// An acl_file that lets anonymous clients write `a/#` but read nothing.
fn write_only_broker() -> Mosquitto {
    let dir = tempfile::tempdir().unwrap();
    let acl = write(dir.path(), "acl", "topic write a/#\n");
    let broker = Mosquitto::start(&format!("acl_file {}\n", acl.display()));
    std::fs::copy(&acl, broker.dir.path().join("acl")).unwrap();
    broker
}

#[test]
fn acl_file_denies_publish_with_puback_0x87_on_mqtt5() {
    let dir = tempfile::tempdir().unwrap();
    let acl = write(dir.path(), "acl", "topic read a/#\n");
    let broker = Mosquitto::start(&format!("acl_file {}\n", acl.display()));
    let (report, code) = doctor_json(&[&url(&broker), "--publish", "a/b", "--subscribe", "a/#"]);

    assert_eq!(code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("acl.publish_denied")
    );
    let denied = report.finding("acl.publish_denied");
    assert_eq!(denied.evidence["denied"][0]["code"], "0x87");
    assert!(broker.log().contains("Denied PUBLISH"), "{}", broker.log());
}

#[test]
fn acl_file_read_denial_is_only_seen_by_the_round_trip() {
    let broker = write_only_broker();
    for version in ["5", "3.1.1"] {
        let (report, code) = doctor_json(&[
            &url(&broker),
            "--mqtt-version",
            version,
            "--subscribe",
            "a/#",
            "--publish",
            "a/b",
            "--timeout",
            "1s",
        ]);
        assert_eq!(code, 1, "{version}: {:?}", report.ids());
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some("acl.roundtrip_failed")
        );
        let lost = report.finding("acl.roundtrip_failed");
        assert_eq!(lost.evidence["topics"][0], "a/b");
        let checks = lost.evidence["checks"].as_array().unwrap();
        assert!(
            checks
                .iter()
                .any(|c| c["check"] == "subscribe" && c["result"] == "granted QoS 1")
        );
    }
    // Nothing was retained: a fresh subscriber gets no message.
    let retained = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "-t",
            "a/#",
            "-W",
            "1",
            "-C",
            "1",
        ])
        .output()
        .unwrap();
    assert!(retained.stdout.is_empty());
}

#[test]
fn round_trip_passes_when_allowed() {
    let broker = Mosquitto::start("");
    let (report, code) = doctor_json(&[
        &url(&broker),
        "--subscribe",
        "doctor/#",
        "--publish",
        "doctor/x",
    ]);
    assert_eq!(code, 0, "{:?}", report.ids());
    let ok = report.finding("acl.ok");
    let checks = ok.evidence["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "round trip" && c["result"] == "came back")
    );
}

/// Mosquitto's dynamic security with only the admin client, whose role may subscribe to
/// `$CONTROL/#` and `$SYS/#` but not `#` (the test removes that ACL from the role init makes).
fn dynsec_broker() -> Mosquitto {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynsec.json");
    let status = Command::new("mosquitto_ctrl")
        .args(["dynsec", "init"])
        .arg(&file)
        .args(["admin", "adminpw"])
        .output()
        .expect("mosquitto_ctrl runs (apt-get install mosquitto)");
    assert!(status.status.success());
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for role in json["roles"].as_array_mut().unwrap() {
        role["acls"]
            .as_array_mut()
            .unwrap()
            .retain(|acl| acl["topic"] != "#");
    }
    let broker_file =
        std::env::temp_dir().join(format!("mqtt-doctor-dynsec-{}.json", closed_port()));
    std::fs::write(&broker_file, json.to_string()).unwrap();
    let plugin = [
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("the dynamic security plugin is installed with mosquitto");
    Mosquitto::start(&format!(
        "allow_anonymous false\nplugin {plugin}\nplugin_opt_config_file {}\n",
        broker_file.display()
    ))
}

#[test]
fn dynamic_security_denies_subscribe_in_the_suback() {
    let broker = dynsec_broker();
    for (version, code) in [("5", "0x87"), ("3.1.1", "0x80")] {
        let run = run_env(
            &[("MQTT_DOCTOR_PASSWORD", "adminpw")],
            &[
                "doctor",
                &url(&broker),
                "-u",
                "admin",
                "--mqtt-version",
                version,
                "--subscribe",
                "plant/#",
                "--format",
                "json",
            ],
        );
        let report = run.report();
        assert_eq!(run.code, 1, "{version}: {:?}", report.ids());
        let denied = report.finding("acl.subscribe_denied");
        assert_eq!(denied.evidence["denied"][0]["code"], code);
        assert_eq!(denied.evidence["denied"][0]["filter"], "plant/#");
    }
}

/// Sends a 3.1.1 CONNECT with `client_id` from a plain socket and keeps the connection.
fn connect_as(port: u16, client_id: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c];
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut frame = vec![0x10, body.len() as u8];
    frame.extend(body);
    stream.write_all(&frame).unwrap();
    stream
}

#[test]
fn duplicate_client_id_drops_the_held_session() {
    let broker = Mosquitto::start("");
    let port = broker.port;
    let intruder = thread::spawn(move || {
        thread::sleep(Duration::from_millis(700));
        let stream = connect_as(port, "plant-gateway-7");
        thread::sleep(Duration::from_millis(1500));
        drop(stream);
    });
    let (report, code) = doctor_json(&[
        &url(&broker),
        "--client-id",
        "plant-gateway-7",
        "--hold",
        "4s",
    ]);
    intruder.join().unwrap();

    assert_eq!(code, 1, "{:?}", report.ids());
    assert_eq!(
        report.finding("mqtt.client_id_given").status.as_str(),
        "warn"
    );
    let dropped = report.finding("session.dropped");
    assert!(
        dropped.fix.as_deref().unwrap().contains("plant-gateway-7"),
        "{:?}",
        dropped.fix
    );
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("session.dropped")
    );
    assert!(
        broker.log().contains("already connected"),
        "{}",
        broker.log()
    );
}

#[test]
fn websockets_listener_answers_http() {
    let ws_port = closed_port();
    let broker = Mosquitto::start(&format!("listener {ws_port}\nprotocol websockets\n"));
    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{ws_port}")]);
    drop(broker);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("mqtt.not_mqtt"));
    let finding = report.finding("mqtt.not_mqtt");
    assert!(
        evidence(finding, "reply").starts_with("HTTP/1."),
        "{:?}",
        finding.evidence
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("ws://127.0.0.1:{ws_port}/mqtt"))
    );
}

#[test]
fn plain_mqtt_to_a_tls_port() {
    let ca = Ca::new("Doctor Test CA");
    let server = ca.issue(&Leaf::server());
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "cafile {}\ncertfile {}\nkeyfile {}\n",
        write(dir.path(), "ca.pem", &ca.pem).display(),
        write(dir.path(), "server.pem", &server.cert).display(),
        write(dir.path(), "server.key", &server.key).display(),
    );
    let broker = Mosquitto::start(&config);
    let (report, code) = doctor_json(&[&url(&broker)]);

    assert_eq!(code, 1, "{:?}", report.ids());
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.plain_to_tls_port")
    );
    assert_eq!(report.stage_status("tls"), "fail");
    let finding = report.finding("tls.plain_to_tls_port");
    assert!(
        evidence(finding, "tls_answer").starts_with("TLSv1"),
        "{:?}",
        finding.evidence
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("mqtts://127.0.0.1:{}", broker.port))
    );
}

#[test]
fn bad_topic_arguments_are_usage_errors() {
    let run = run(&["doctor", "mqtt://127.0.0.1:1", "--publish", "a/#"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("hold no + or #"), "{}", run.stderr);
    let run = common::run(&["doctor", "mqtt://127.0.0.1:1", "--subscribe", "a/#/b"]);
    assert_eq!(run.code, 2);
}

#[test]
fn no_credential_no_connect() {
    let broker = Mosquitto::start("");
    let (report, _) = doctor_json(&[&url(&broker), "--token-file", "/nonexistent/broker-sat"]);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("token.missing"));
    assert_eq!(report.stage_status("mqtt"), "skip");
    assert!(!broker.log().contains("New client connected"));
}

#[test]
fn a_token_sent_as_password_without_username_is_warned_about() {
    let broker = Mosquitto::start("");
    let token = Token::new("HS256").lifetime(-60, 3600).hs256(b"k");
    let run = run_env(
        &[("MQTT_DOCTOR_TOKEN", token.as_str())],
        &["doctor", &url(&broker), "--format", "json"],
    );
    let report = run.report();
    let warning = report.finding("auth.password_without_username");
    assert_eq!(warning.status.as_str(), "warn");
    assert!(
        warning
            .detail
            .contains("token is sent as the MQTT password"),
        "{}",
        warning.detail
    );
    assert!(warning.fix.as_deref().unwrap().contains("--auth-method"));
    assert!(!run.stdout.contains(&token));
}

/// A refusal from a broker the doctor cannot place (here Mosquitto whose packet limit hides its
/// fingerprint) lists the causes every broker shares, three at most after this run's own, and
/// says how to get the ranked list, instead of every broker family's causes in a row.
#[test]
fn a_refusal_from_an_unknown_broker_lists_the_shared_causes_and_how_to_rank_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&format!(
        "{}max_packet_size 4096\n",
        password_config(dir.path(), "passwd", "alice", "secret", None)
    ));
    let (report, code) = doctor_json(&[&url(&broker), "-u", "alice", "--password", "wrong"]);
    assert_eq!(code, 1);
    let refused = report
        .findings
        .iter()
        .find(|f| f.status.as_str() == "fail" && f.id.starts_with("mqtt."))
        .unwrap_or_else(|| panic!("{:?}", report.ids()));
    assert!(
        evidence(refused, "broker").contains("unknown"),
        "{:?}",
        refused.evidence
    );
    let fix = refused.fix.as_deref().unwrap();
    let numbered = fix
        .lines()
        .filter(|l| l.starts_with(char::is_numeric))
        .count();
    assert!((1..=5).contains(&numbered), "{fix}");
    for family in ["EMQX:", "HiveMQ:", "Azure IoT Operations:", "Mosquitto:"] {
        assert!(!fix.contains(family), "{fix}");
    }
    assert!(
        fix.contains("add --broker with its name (mosquitto, emqx, aio, hivemq, rabbitmq"),
        "{fix}"
    );
    assert!(fix.contains("mqtt-doctor explain 135"), "{fix}");
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
