//! The doctor leaves nothing behind on the broker and never kicks a real client off: after runs
//! with topic checks (MQTT 5 and 3.1.1), a real Mosquitto holds no retained message, no
//! persistent session and no subscription of the doctor's, every doctor connection asked for a
//! clean session under a fresh random client id, and a device connected meanwhile stays
//! connected.

mod common;

use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Mosquitto, ReportExt, doctor_json, evidence};

/// Reads one `$SYS` topic (Mosquitto publishes them retained every `sys_interval`).
fn sys(broker: &Mosquitto, topic: &str) -> u64 {
    let output = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-t", topic, "-C", "1", "-W", "5"])
        .output()
        .expect("mosquitto_sub runs (apt-get install mosquitto-clients)");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{topic}: {text:?}"))
}

/// A device that stays connected with a persistent session for the whole test.
fn device(broker: &Mosquitto) -> Child {
    Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-i", "device-1", "-c", "-q", "1", "-t", "devices/1/#"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub runs")
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn topic_checks_leave_no_trace_and_kick_no_one() {
    let broker = Mosquitto::start("sys_interval 1\n");
    let mut device = device(&broker);
    wait_for("the device to connect", || {
        broker.log().contains("as device-1")
    });
    let url = format!("mqtt://127.0.0.1:{}", broker.port);

    let mut client_ids = Vec::new();
    for version in ["5", "3.1.1"] {
        for _ in 0..2 {
            let (report, code) = doctor_json(&[
                &url,
                "--mqtt-version",
                version,
                "--publish",
                "devices/1/doctor",
                "--subscribe",
                "devices/1/#",
                "--hold",
                "1s",
            ]);
            assert_eq!(code, 0, "{version}: {:?}", report.ids());
            report.finding("acl.ok");
            client_ids.push(evidence(report.finding("mqtt.connected"), "client_id"));
        }
    }

    // A fresh random id every run, none of them a device's.
    let mut unique = client_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), client_ids.len(), "{client_ids:?}");
    assert!(client_ids.iter().all(|id| id.starts_with("mqtt-doctor-")));

    // Each doctor connection asked for a clean session (Mosquitto logs `c1`) and left.
    let log = broker.log();
    for id in &client_ids {
        let connected = log
            .lines()
            .find(|l| l.contains(&format!(" as {id} ")))
            .unwrap_or_else(|| panic!("{id} never connected:\n{log}"));
        assert!(connected.contains(", c1,"), "{connected}");
        assert!(
            log.contains(&format!("Client {id} disconnected")),
            "{id} did not disconnect cleanly:\n{log}"
        );
    }

    // The device was never kicked off and still holds its connection.
    assert!(
        !log.contains("already connected, closing old connection"),
        "{log}"
    );
    assert!(
        device.try_wait().unwrap().is_none(),
        "the device was disconnected"
    );

    // No retained message: a fresh subscriber to everything gets nothing retained.
    let retained = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-t", "#", "--retained-only", "-W", "2", "-v"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&retained.stdout).trim().is_empty(),
        "retained: {}",
        String::from_utf8_lossy(&retained.stdout)
    );

    // Once $SYS has caught up: the only persistent session and the only subscription are the
    // device's, the only client is the device (plus the reader of $SYS itself).
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(sys(&broker, "$SYS/broker/clients/disconnected"), 0);
    assert_eq!(sys(&broker, "$SYS/broker/clients/connected"), 2);
    // The device's filter and the $SYS reader's.
    assert_eq!(sys(&broker, "$SYS/broker/subscriptions/count"), 2);

    let _ = device.kill();
    let _ = device.wait();
}
