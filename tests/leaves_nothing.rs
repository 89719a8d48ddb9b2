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

/// Follows the broker's client and subscription counts in `$SYS` (Mosquitto publishes a count
/// when it changes, every `sys_interval`) for the whole test, so that the last value of each is
/// the state after the doctor's runs, with this reader counted the same way throughout.
struct SysReader {
    child: Child,
    file: std::path::PathBuf,
}

impl SysReader {
    fn start(broker: &Mosquitto) -> SysReader {
        let file = broker.dir.path().join("sys.txt");
        let child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-v"])
            .args([
                "-t",
                "$SYS/broker/clients/+",
                "-t",
                "$SYS/broker/subscriptions/count",
            ])
            .stdout(std::fs::File::create(&file).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub runs (apt-get install mosquitto-clients)");
        SysReader { child, file }
    }

    /// The last value published on `topic`.
    fn last(&self, topic: &str) -> Option<u64> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix(topic)?.strip_prefix(' '))
            .next_back()
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for SysReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let sys = SysReader::start(&broker);
    wait_for("the device and the $SYS reader to connect", || {
        sys.last("$SYS/broker/clients/connected") == Some(2)
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

    // Once $SYS has caught up: the only persistent session and the only subscription left are
    // the device's, the only clients connected are the device and the $SYS reader.
    let settled = |topic: &str, expected: u64| {
        wait_for(&format!("{topic} = {expected}"), || {
            sys.last(topic) == Some(expected)
        });
    };
    thread::sleep(Duration::from_millis(2500));
    settled("$SYS/broker/clients/disconnected", 0);
    settled("$SYS/broker/clients/connected", 2);
    // The device's filter and the reader's two.
    settled("$SYS/broker/subscriptions/count", 3);

    let _ = device.kill();
    let _ = device.wait();
}
