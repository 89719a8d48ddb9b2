//! The doctor's own machine as the hostile party: local reads that never end (a named pipe no
//! one writes to, a standard input that never closes) and a limit on open files too low for the
//! targets. Each run ends within its deadline plus [`SLACK`], in under [`max_rss_kb`] of memory,
//! with the exit code and message that say what was waited for or what ran out; running out of
//! descriptors is never blamed on the network.

mod common;

use std::time::Duration;

use common::hostile::{DEADLINE, Measured, SLACK, Setup, max_rss_kb, measure};
use common::{Mosquitto, ReportExt, closed_port};
use serde_json::Value;

/// The deadline these runs get: short, so that a wait that ignores it shows.
const SHORT: Duration = Duration::from_secs(1);

fn assert_within(measured: &Measured, deadline: Duration, case: &str) {
    assert!(
        measured.elapsed < deadline + SLACK,
        "{case}: took {:?}, deadline {deadline:?}\n{}",
        measured.elapsed,
        measured.run.stderr
    );
    assert!(
        measured.peak_rss_kb > 0 && measured.peak_rss_kb < max_rss_kb(),
        "{case}: peak resident memory {} KiB",
        measured.peak_rss_kb
    );
}

#[test]
fn a_token_pipe_no_one_writes_to_is_given_up_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = common::fifo(dir.path(), "token-pipe");
    let fifo = fifo.to_str().unwrap();
    let target = format!("mqtt://127.0.0.1:{}", closed_port());
    let measured = measure(
        Setup::default(),
        &[
            "doctor",
            &target,
            "--format",
            "json",
            "--deadline",
            "1s",
            "-u",
            "device",
            "--token-file",
            fifo,
        ],
    );
    assert_within(&measured, SHORT, "--token-file FIFO");
    // The port is closed: that is the root cause, and the token is reported beside it.
    assert_eq!(measured.run.code, 1, "{}", measured.run.stderr);
    let report = measured.report();
    let finding = report.finding("token.unreadable");
    assert!(finding.detail.contains(fifo), "{}", finding.detail);
    assert!(
        finding
            .detail
            .contains("within 1s (the run's deadline): a named pipe that no one writes to"),
        "{}",
        finding.detail
    );
}

/// A pipe on standard input whose writer stays, writing nothing.
const HELD_STDIN: Setup = Setup {
    stdin_held_open: true,
    open_files: None,
};

fn assert_stdin_given_up(measured: &Measured, case: &str) {
    assert_within(measured, SHORT, case);
    assert_eq!(
        measured.run.code, 2,
        "{case}: {}{}",
        measured.run.stdout, measured.run.stderr
    );
    assert!(
        measured.run.stderr.contains(
            "standard input gave no end of input within 1s (the run's deadline): the token is \
             read from it (`-`)"
        ),
        "{case}: {}",
        measured.run.stderr
    );
    // A pipe is not a terminal: no prompt.
    assert!(
        !measured.run.stderr.contains("paste it"),
        "{case}: {}",
        measured.run.stderr
    );
    assert!(
        measured.run.stdout.is_empty(),
        "{case}: {}",
        measured.run.stdout
    );
}

#[test]
fn a_token_on_a_standard_input_that_never_ends_is_given_up_at_the_deadline() {
    let target = format!("mqtt://127.0.0.1:{}", closed_port());
    let measured = measure(
        HELD_STDIN,
        &["doctor", &target, "--token", "-", "--deadline", "1s"],
    );
    assert_stdin_given_up(&measured, "doctor --token -");
}

#[test]
fn token_inspect_gives_up_on_a_standard_input_that_never_ends() {
    let measured = measure(HELD_STDIN, &["token", "inspect", "-", "--deadline", "1s"]);
    assert_stdin_given_up(&measured, "token inspect -");
}

/// Every id of every finding in a JSON report, one target's or several targets'.
fn finding_ids(report: &Value) -> Vec<String> {
    let reports = match report.get("reports") {
        Some(Value::Array(reports)) => reports.clone(),
        _ => vec![report.clone()],
    };
    reports
        .iter()
        .flat_map(|r| r["findings"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn many_targets_under_a_low_descriptor_limit_all_get_their_verdict() {
    let broker = Mosquitto::start("");
    let target = format!("mqtt://127.0.0.1:{}", broker.port);
    let deadline = format!("{}s", DEADLINE.as_secs());
    let mut args = vec!["doctor", "--format", "json", "--deadline", &deadline];
    args.extend(std::iter::repeat_n(target.as_str(), 200));
    let measured = measure(
        Setup {
            stdin_held_open: false,
            open_files: Some(64),
        },
        &args,
    );
    assert_within(&measured, DEADLINE, "200 targets, ulimit -n 64");
    let report: Value = common::parse_valid(&measured.run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", measured.run.stdout, measured.run.stderr));
    let ids = finding_ids(&report);
    assert!(
        !ids.iter()
            .any(|id| id.starts_with("tcp.") && id != "tcp.connected"),
        "the network was blamed: {ids:?}"
    );
    let reports = report["reports"].as_array().expect("one report per target");
    assert_eq!(reports.len(), 200);
    for one in reports {
        assert_eq!(one["verdict"]["status"], "pass", "{}", one["verdict"]);
    }
    assert_eq!(measured.run.code, 0, "{}", measured.run.stderr);
}

#[test]
fn running_out_of_descriptors_is_the_doctors_error_not_the_networks() {
    let broker = Mosquitto::start("");
    let target = format!("mqtt://127.0.0.1:{}", broker.port);
    let deadline = format!("{}s", DEADLINE.as_secs());
    // Below some limit the process cannot even start its runtime; above it, the connect is what
    // runs out. Where exactly depends on the platform, so a range of limits is walked and each
    // must end the same honest way: healthy, or exit 3 naming `ulimit -n`.
    let mut checked_and_ran_out = false;
    let mut healthy = false;
    for limit in 4..=16 {
        let case = format!("ulimit -n {limit}");
        let measured = measure(
            Setup {
                stdin_held_open: false,
                open_files: Some(limit),
            },
            &[
                "doctor",
                &target,
                "--format",
                "json",
                "--deadline",
                &deadline,
            ],
        );
        assert_within(&measured, DEADLINE, &case);
        let run = &measured.run;
        match run.code {
            0 => healthy = true,
            3 => {
                assert!(
                    run.stderr.contains("`ulimit -n`")
                        && run.stderr.contains("ran out of file descriptors"),
                    "{case}: {}",
                    run.stderr
                );
                if !run.stdout.is_empty() {
                    // The check started and a connect ran out: its report says so.
                    let report = measured.report();
                    assert_eq!(report.verdict.status.as_str(), "skip", "{case}");
                    assert!(
                        report
                            .verdict
                            .summary
                            .contains("ran out of file descriptors"),
                        "{case}: {}",
                        report.verdict.summary
                    );
                    assert!(
                        !report.ids().iter().any(|id| id.starts_with("tcp.")),
                        "{case}: {:?}",
                        report.ids()
                    );
                    checked_and_ran_out = true;
                }
            }
            // Too low for the dynamic loader to open the doctor's libraries: it never ran.
            127 if run.stderr.contains("error while loading shared libraries") => {}
            code => panic!("{case}: exit code {code}:\n{}{}", run.stdout, run.stderr),
        }
    }
    assert!(
        checked_and_ran_out,
        "no limit let the doctor start and then run out of descriptors"
    );
    assert!(healthy, "no limit was enough for one target");
}
