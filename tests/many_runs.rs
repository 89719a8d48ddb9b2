//! The pipeline run thousands of times in one process, as a long-running prober will run it:
//! threads, open descriptors and memory must not grow with the number of runs. Each run goes
//! through every layer a healthy broker offers (TCP, the credentials read from a file, CONNECT,
//! SUBSCRIBE, PUBLISH and the round trip, the hold's PINGREQ, DISCONNECT) against one real
//! Mosquitto on loopback.

mod common;

use std::fs;
use std::time::Duration;

use common::Mosquitto;
use mqtt_doctor::config::{CredentialSource, DoctorConfig};
use mqtt_doctor::findings::Status;
use mqtt_doctor::pipeline;

/// Runs in all, and how many of them before the first measurement: the runtime's threads, the
/// allocator's arenas and tokio's internal tables grow to their working size during the first
/// ones (8 MiB in the first 1,000 runs, little after).
///
/// This test found a real cost: every file read ran on a thread of its own, so each run that
/// read a password file started a thread, and blocked a worker while it waited. Over 8,000 runs
/// the process held 12 threads instead of 4 and its resident memory kept growing (by 440, 164,
/// 164, 156, 80, 80 and 48 KiB a thousand runs). Regular files are now read where the caller
/// stands; with that, 2,000 more runs grew it by 32 KiB.
const RUNS: usize = 2_000;
const WARM_UP: usize = 1_000;
/// Runs at a time, as a prober checking a few brokers at once would.
const AT_ONCE: usize = 8;

/// What the process holds, read from /proc/self.
#[derive(Debug, Clone, Copy)]
struct Held {
    descriptors: usize,
    threads: usize,
    rss_kb: u64,
}

fn held() -> Held {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    Held {
        descriptors: fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .count(),
        threads: field("Threads:") as usize,
        rss_kb: field("VmRSS:"),
    }
}

#[test]
fn thousands_of_runs_in_one_process_hold_nothing_more() {
    let broker = Mosquitto::start("");
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    fs::write(&password, "not-a-real-password\n").unwrap();
    let target = mqtt_doctor::target::parse(&format!("mqtt://127.0.0.1:{}", broker.port)).unwrap();
    let mut config = DoctorConfig::new(target);
    config.timeout = Duration::from_secs(2);
    config.deadline = Duration::from_secs(10);
    config.auth.username = Some("prober".into());
    config.auth.password = Some(CredentialSource::File(password));
    config.mqtt.subscribe = vec!["mqtt-doctor/many-runs/#".into()];
    config.mqtt.publish = vec!["mqtt-doctor/many-runs/check".into()];

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut before = None;
    let mut failed = Vec::new();
    for round in 0..RUNS / AT_ONCE {
        if round * AT_ONCE == WARM_UP {
            before = Some(held());
        }

        let outcomes = runtime.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..AT_ONCE {
                set.spawn(pipeline::run(config.clone()));
            }
            set.join_all().await
        });
        for outcome in outcomes {
            if outcome.verdict.status != Status::Pass {
                failed.push(outcome.verdict.summary);
            }
        }
    }
    let after = held();
    let before = before.unwrap();
    eprintln!("after {WARM_UP} runs: {before:?}; after {RUNS}: {after:?}");
    assert!(
        failed.is_empty(),
        "{} runs failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(
        after.descriptors <= before.descriptors,
        "descriptors grew from {} to {}",
        before.descriptors,
        after.descriptors
    );
    // The runtime's blocking pool may start a thread for a burst and keep it idle a while.
    assert!(
        after.threads <= before.threads + 1,
        "threads grew from {} to {}",
        before.threads,
        after.threads
    );
    // 1,000 more runs: a leak of 256 bytes a run would show as 250 KiB.
    assert!(
        after.rss_kb <= before.rss_kb + 256,
        "resident memory grew from {} KiB to {} KiB over {} runs",
        before.rss_kb,
        after.rss_kb,
        RUNS - WARM_UP
    );
}
