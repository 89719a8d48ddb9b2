//! `watch` against real Mosquitto on loopback: JSON Lines that parse line by line (stdout is a
//! pipe here), a broker stopped and started during the watch (the flaps, both verdicts' counts,
//! the root cause), Ctrl-C (SIGINT) ending the watch with its summary, even in the middle of a
//! run that would wait for its timeout, and bad input refused before any run.

mod common;

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Mosquitto, Unanswered, closed_port, doctor_command, parse_valid};
use mqtt_doctor::findings::Status;
use mqtt_doctor::report::watch::{WatchRun, WatchSummary, WatchSummaryLine};
use serde_json::Value;

/// How long a test waits for something before it fails: far more than any of these watches
/// needs, so that only a watch that hangs hits it.
const PATIENCE: Duration = Duration::from_secs(60);

/// A watch running as a child process, its stdout read line by line on a thread.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        let mut child = doctor_command()
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the doctor binary runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line of output, parsed as a run; fails the test on the summary or at the end.
    fn next_run(&mut self) -> WatchRun {
        let line = self
            .lines
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("no run line ({e}); so far:\n{}", self.seen.join("\n")));
        self.seen.push(line.clone());
        parse_valid(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Runs until one whose first target has `status`.
    fn until(&mut self, status: Status) -> WatchRun {
        loop {
            let run = self.next_run();
            if run.targets[0].verdict.status == status {
                return run;
            }
        }
    }

    fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -s {name}");
    }

    /// Waits for the process to end, and returns its exit code, the run lines after those read
    /// so far, and the summary (the last line).
    fn finish(mut self) -> (i32, Vec<WatchRun>, WatchSummary) {
        let until = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the watch") {
                break status;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("the watch did not end; so far:\n{}", self.seen.join("\n"));
            }
            thread::sleep(Duration::from_millis(20));
        };
        let mut rest: Vec<String> = self.lines.iter().collect();
        let stderr = std::io::read_to_string(self.child.stderr.take().unwrap()).unwrap();
        let last = rest
            .pop()
            .unwrap_or_else(|| panic!("no summary line; stderr:\n{stderr}"));
        let summary: WatchSummaryLine =
            parse_valid(&last).unwrap_or_else(|e| panic!("{e}: {last}\nstderr:\n{stderr}"));
        let runs = rest
            .iter()
            .map(|line| parse_valid(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let code = status
            .code()
            .expect("the watch ended by itself, not by a signal");
        (code, runs, summary.summary)
    }
}

#[test]
fn three_runs_against_a_healthy_broker_are_three_json_lines_and_a_summary() {
    let broker = Mosquitto::start("");
    let target = format!("mqtt://127.0.0.1:{}", broker.port);
    let run = common::run(&["watch", &target, "--count", "3", "--interval", "100ms"]);

    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "3 runs and the summary:\n{}", run.stdout);
    for (n, line) in lines[..3].iter().enumerate() {
        // Each line on its own, strictly, against the published schema.
        let parsed: WatchRun = parse_valid(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(parsed.run, n as u64 + 1);
        assert_eq!(parsed.status, Status::Pass);
        let target_run = &parsed.targets[0];
        assert_eq!(target_run.url, target);
        let node = &target_run.nodes[0];
        assert_eq!(node.address, format!("127.0.0.1:{}", broker.port));
        assert!(node.phases.tcp.is_some() && node.phases.connack.is_some());
        assert!(node.phases.dns.is_none(), "an IP address needs no DNS");
    }
    let summary: WatchSummaryLine = parse_valid(lines[3]).unwrap();
    let summary = summary.summary;
    assert_eq!(
        (summary.runs, summary.passed, summary.failed),
        (3, 3, 0),
        "{summary:#?}"
    );
    assert_eq!(summary.status, Status::Pass);
    assert!(!summary.interrupted);
    assert_eq!(summary.flaps, 0);
    assert!(summary.root_causes.is_empty());
    let target_summary = &summary.targets[0];
    assert_eq!(target_summary.success_ratio, Some(1.0));
    assert_eq!(target_summary.nodes[0].runs, 3);
    let tcp = target_summary
        .phases
        .iter()
        .find(|p| p.phase == "tcp")
        .expect("tcp latency");
    assert_eq!(tcp.samples, 3);
    assert!(tcp.p50_ms <= tcp.p95_ms && tcp.p95_ms <= tcp.p99_ms && tcp.p99_ms <= tcp.max_ms);

    // Every field of both kinds of line is in docs/json-schema.md.
    let doc = std::fs::read_to_string("docs/json-schema.md").unwrap();
    let run_line: Value = serde_json::from_str(lines[0]).unwrap();
    let summary_line: Value = serde_json::from_str(lines[3]).unwrap();
    let summary = &summary_line["summary"];
    let mut fields = Vec::new();
    for object in [
        &run_line,
        &run_line["targets"][0],
        &run_line["targets"][0]["nodes"][0],
        &run_line["targets"][0]["nodes"][0]["phases"],
        &summary_line,
        summary,
        &summary["targets"][0],
        &summary["targets"][0]["nodes"][0],
        &summary["targets"][0]["phases"][0],
    ] {
        fields.extend(object.as_object().expect("an object").keys().cloned());
    }
    for field in fields {
        assert!(
            doc.contains(&format!("`{field}`")),
            "docs/json-schema.md does not document `{field}`"
        );
    }
}

#[test]
fn a_broker_stopped_and_started_during_the_watch_shows_the_flaps() {
    let port = closed_port();
    let broker = Mosquitto::start_at(Ipv4Addr::LOCALHOST, port, "");
    let target = format!("mqtt://127.0.0.1:{port}");
    let mut watch = Watch::start(&[
        &target,
        "--interval",
        "250ms",
        "--count",
        "16",
        "--timeout",
        "2s",
    ]);

    watch.until(Status::Pass);
    drop(broker);
    let refused = watch.until(Status::Fail);
    assert_eq!(
        refused.targets[0].verdict.root_cause.as_deref(),
        Some("tcp.refused")
    );
    watch.until(Status::Fail);
    let broker = Mosquitto::start_at(Ipv4Addr::LOCALHOST, port, "");
    watch.until(Status::Pass);
    let (code, _, summary) = watch.finish();
    drop(broker);

    assert_eq!(code, 1, "a run failed: {summary:#?}");
    assert_eq!(summary.runs, 16, "{summary:#?}");
    assert!(summary.flaps >= 2, "pass→fail and fail→pass: {summary:#?}");
    assert!(summary.failed >= 2 && summary.passed >= 2, "{summary:#?}");
    assert_eq!(summary.passed + summary.failed, 16, "{summary:#?}");
    assert_eq!(summary.status, Status::Fail);
    let refused = summary
        .root_causes
        .iter()
        .find(|c| c.id == "tcp.refused")
        .expect("tcp.refused among the root causes");
    assert_eq!(refused.count, summary.failed);
    assert_eq!(summary.recent_flaps[0].from, Status::Pass);
    assert_eq!(summary.recent_flaps[0].to, Status::Fail);
    assert_eq!(
        summary.recent_flaps[0].root_cause.as_deref(),
        Some("tcp.refused")
    );
    assert_eq!(summary.recent_flaps[1].to, Status::Pass);
    let target_summary = &summary.targets[0];
    assert_eq!(target_summary.flaps, summary.flaps);
    assert_eq!(target_summary.last_status, Some(Status::Pass));
    let ratio = target_summary.success_ratio.unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
}

#[test]
fn ctrl_c_ends_an_endless_watch_with_its_summary() {
    let broker = Mosquitto::start("");
    let target = format!("mqtt://127.0.0.1:{}", broker.port);
    let mut watch = Watch::start(&[&target, "--interval", "200ms"]);
    watch.next_run();
    watch.next_run();
    watch.signal("INT");
    let (code, _, summary) = watch.finish();

    assert!(summary.interrupted, "{summary:#?}");
    assert!(summary.runs >= 2, "{summary:#?}");
    // The rule: 0 only when no run failed. Here every run passed.
    assert_eq!(summary.failed, 0, "{summary:#?}");
    assert_eq!(summary.passed, summary.runs);
    assert_eq!(code, 0);
}

#[test]
fn ctrl_c_cancels_a_run_that_waits_and_a_watch_with_no_run_finished_fails() {
    // A connect that nobody answers waits out --timeout: the signal must not wait with it.
    let silent = Unanswered::bind((Ipv4Addr::LOCALHOST, 0).into()).expect("silent listener");
    let watch = Watch::start(&[
        &silent.addr.to_string(),
        "--timeout",
        "10m",
        "--deadline",
        "10m",
    ]);
    // Give the run time to start waiting on the connect.
    thread::sleep(Duration::from_millis(500));
    watch.signal("INT");
    let (code, runs, summary) = watch.finish();

    assert!(runs.is_empty(), "{runs:#?}");
    assert!(summary.interrupted);
    assert_eq!(summary.runs, 0);
    assert_eq!(
        code, 1,
        "a watch cut short before any run finished shows nothing healthy"
    );
}

#[test]
fn sigterm_ends_the_watch_like_ctrl_c() {
    let port = closed_port();
    let target = format!("127.0.0.1:{port}");
    let mut watch = Watch::start(&[&target, "--interval", "200ms"]);
    let first = watch.next_run();
    assert_eq!(first.status, Status::Fail);
    watch.signal("TERM");
    let (code, _, summary) = watch.finish();

    assert!(summary.interrupted);
    assert!(summary.failed >= 1);
    assert_eq!(code, 1, "a run failed");
}

#[test]
fn bad_input_is_a_usage_error_before_any_run() {
    let port = closed_port();
    let target = format!("127.0.0.1:{port}");
    for args in [
        &["--interval", "0"][..],
        &["--interval", "0s"],
        &["--interval", "soon"],
        &["--count", "0"],
        &["--count", "many"],
        &["--format", "junit"],
        &["--output", "json=/dev/null"],
        &["--cluster", "127.0.0.1:1", "127.0.0.1:2"],
    ] {
        let mut all = vec!["watch", target.as_str()];
        all.extend_from_slice(args);
        let mut child = doctor_command()
            .args(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the doctor binary runs");
        let until = Instant::now() + PATIENCE;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > until {
                let _ = child.kill();
                panic!("{args:?} started a watch instead of refusing it");
            }
            thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: no run was written");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

#[test]
fn the_terminal_text_has_a_line_per_run_and_the_summary() {
    let port = closed_port();
    let run = common::run(&[
        "watch",
        &format!("127.0.0.1:{port}"),
        "--count",
        "2",
        "--interval",
        "100ms",
        "--format",
        "text",
    ]);

    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].contains("#1") && lines[0].contains("FAIL"),
        "{}",
        run.stdout
    );
    assert!(lines[0].contains("tcp.refused"), "{}", run.stdout);
    assert!(lines[1].contains("#2"), "{}", run.stdout);
    assert!(lines[2].contains("2 runs"), "{}", run.stdout);
    assert!(
        run.stdout.contains("root causes: tcp.refused ×2"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("0/2 ok (0.0%)"), "{}", run.stdout);
}

#[test]
fn the_config_file_profiles_and_environment_apply_as_for_doctor() {
    let broker = Mosquitto::start("");
    let closed = closed_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mqtt-doctor.toml"),
        format!(
            "target = \"127.0.0.1:{closed}\"\n\
             [profiles.live]\n\
             targets = [\"127.0.0.1:{}\"]\n\
             [profiles.watching]\n\
             interval = \"1s\"\n",
            broker.port
        ),
    )
    .unwrap();
    let watch = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = doctor_command();
        command.current_dir(dir.path()).envs(env.iter().copied());
        let mut all = vec!["watch", "--count", "1", "--interval", "100ms"];
        all.extend_from_slice(args);
        common::run_with(command, &all)
    };
    let first_run = |run: &common::Run| -> WatchRun {
        let line = run.stdout.lines().next().expect("a run line");
        parse_valid(line).unwrap_or_else(|e| panic!("{e}: {line}\n{}", run.stderr))
    };

    let top = watch(&[], &[]);
    assert_eq!(top.code, 1, "{}", top.stderr);
    let run = first_run(&top);
    assert_eq!(run.targets[0].url, format!("mqtt://127.0.0.1:{closed}"));
    assert_eq!(
        run.targets[0].verdict.root_cause.as_deref(),
        Some("tcp.refused")
    );

    let live = watch(&[], &["--profile", "live"]);
    assert_eq!(live.code, 0, "{}", live.stderr);
    assert_eq!(
        first_run(&live).targets[0].url,
        format!("mqtt://127.0.0.1:{}", broker.port)
    );
    let from_env = watch(&[("MQTT_DOCTOR_PROFILE", "live")], &[]);
    assert_eq!(from_env.code, 0, "{}", from_env.stderr);

    // A format set in the environment is chosen: text even in a pipe.
    let text = watch(&[("MQTT_DOCTOR_FORMAT", "text")], &["--profile", "live"]);
    assert!(
        text.stdout.starts_with(|c: char| c.is_ascii_digit()),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("1 run in"), "{}", text.stdout);

    // The file's keys are the doctor's options: `interval` in it would break `doctor`.
    let refused = watch(&[], &["--profile", "watching"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("interval"), "{}", refused.stderr);
}

#[test]
fn each_address_behind_a_name_has_its_own_success_ratio() {
    use common::dns::{Answer, DnsServer, v4};
    let ips = [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)];
    let port = common::shared_port(&ips);
    // A broker on the first address only: the second refuses every connection.
    let _broker = Mosquitto::start_at(ips[0], port, "");
    let dns = DnsServer::start(&[(
        "broker.test",
        Answer::Addresses(vec![v4("127.0.0.1"), v4("127.0.0.2")]),
    )]);
    let root = common::fake_root("nameserver 192.0.2.1\n");
    let run = common::run(&[
        "watch",
        &format!("mqtt://broker.test:{port}"),
        "--dns-server",
        &dns.addr.to_string(),
        "--root",
        &root.path().display().to_string(),
        "--count",
        "2",
        "--interval",
        "100ms",
    ]);

    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}\n{}", run.stdout, run.stderr);
    let first: WatchRun = parse_valid(lines[0]).unwrap();
    let nodes = &first.targets[0].nodes;
    assert_eq!(nodes.len(), 2, "{first:#?}");
    assert_eq!(nodes[1].root_cause.as_deref(), Some("tcp.refused"));
    let summary: WatchSummaryLine = parse_valid(lines[2]).unwrap();
    let target = &summary.summary.targets[0];
    let ratio = |address: String| {
        let node = target
            .nodes
            .iter()
            .find(|n| n.address == address)
            .unwrap_or_else(|| panic!("{address} in {target:#?}"));
        (node.runs, node.success_ratio)
    };
    assert_eq!(ratio(format!("127.0.0.1:{port}")), (2, Some(1.0)));
    assert_eq!(ratio(format!("127.0.0.2:{port}")), (2, Some(0.0)));
    assert!(
        target.phases.iter().any(|p| p.phase == "connack"),
        "the healthy node's phases: {target:#?}"
    );
    // The target's verdict follows the doctor's: a client that tries the next address gets
    // past a refused one, so the run warns rather than fails, and the exit code says so.
    assert_eq!(summary.summary.failed, 0, "{summary:#?}");
    assert_eq!(run.code, 0);
}

#[test]
fn a_session_dropped_during_the_hold_is_counted() {
    let port = closed_port();
    let broker = Mosquitto::start_at(Ipv4Addr::LOCALHOST, port, "");
    let target = format!("mqtt://127.0.0.1:{port}");
    let watch = Watch::start(&[
        &target,
        "--hold",
        "20s",
        "--keepalive",
        "60",
        "--count",
        "2",
        "--interval",
        "100ms",
    ]);
    // Once the doctor is connected and holding, the broker goes away under it.
    let until = Instant::now() + PATIENCE;
    while !broker.log().contains("New client connected") {
        assert!(Instant::now() < until, "the watch never connected");
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    drop(broker);
    let (code, runs, summary) = watch.finish();

    assert_eq!(code, 1);
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(runs[0].targets[0].session_dropped, "{:#?}", runs[0]);
    assert!(!runs[1].targets[0].session_dropped, "{:#?}", runs[1]);
    assert_eq!(summary.session_drops, 1, "{summary:#?}");
    assert_eq!(summary.targets[0].session_drops, 1);
    assert_eq!(summary.failed, 2);
    let ids: Vec<&str> = summary.root_causes.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(&"tcp.refused"), "{ids:?}");
}
