//! Many targets in one run: every target's report comes out, in the order given, in each
//! format, and memory stays flat because each report is written as its target finishes
//! (`report::stream`) instead of all of them being held until the end. Against a real Mosquitto
//! and refused ports on loopback.

mod common;

use common::{Mosquitto, Run, closed_port, run};
use mqtt_doctor::report::MultiReport;

/// Targets that are refused at once, each told apart by its URL: distinct loopback addresses
/// (all of 127.0.0.0/8 is this machine) on a port nobody listens on.
fn refused_targets(count: usize) -> Vec<String> {
    let port = closed_port();
    (0..count)
        .map(|i| format!("mqtt://127.0.{}.{}:{port}", i / 250, i % 250 + 1))
        .collect()
}

/// Asserts that `needles` occur in `text` in this order, each after the one before.
fn assert_in_order(text: &str, needles: impl IntoIterator<Item = String>, what: &str) {
    let mut from = 0;
    for needle in needles {
        match text[from..].find(&needle) {
            Some(at) => from += at + needle.len(),
            None => panic!("{what}: {needle:?} is missing or out of order"),
        }
    }
}

/// The text report's header line of one target.
fn header(url: &str) -> String {
    format!(" · {url}\n")
}

/// The JUnit suite of one target.
fn suite(url: &str) -> String {
    format!("<testsuite name=\"mqtt-doctor {url}\"")
}

fn doctor(targets: &[String], extra: &[&str]) -> Run {
    let mut args = vec!["doctor"];
    args.extend(targets.iter().map(String::as_str));
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn several_targets_keep_their_order_in_every_format() {
    let broker = Mosquitto::start("");
    let healthy = format!("mqtt://127.0.0.1:{}", broker.port);
    let mut targets = vec![healthy.clone()];
    targets.extend(refused_targets(3));
    targets.push(healthy.clone());

    let json = doctor(&targets, &["--format", "json"]);
    assert_eq!(json.code, 1, "{}", json.stderr);
    let multi: MultiReport = common::parse_valid(&json.stdout).unwrap();
    let urls: Vec<&str> = multi
        .reports
        .iter()
        .map(|r| r.target.url.as_str())
        .collect();
    assert_eq!(urls, targets.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        (
            multi.verdict.targets,
            multi.verdict.failed,
            multi.verdict.warned
        ),
        (5, 3, 0)
    );
    assert_eq!(multi.verdict.summary, "3 of 5 targets failed");
    for report in &multi.reports[1..4] {
        assert_eq!(report.verdict.root_cause.as_deref(), Some("tcp.refused"));
    }
    // The verdict over all targets comes after the reports: it is known only at the end.
    assert!(json.stdout.find("\"reports\"") < json.stdout.find("\n  \"verdict\""));

    let text = doctor(&targets, &[]);
    assert_eq!(text.code, 1);
    assert_in_order(&text.stdout, targets.iter().map(|t| header(t)), "sections");
    let table = &text.stdout[text.stdout.rfind("┌").expect("the closing table")..];
    assert_in_order(table, targets.iter().cloned(), "table rows");
    assert!(
        text.stdout
            .trim_end()
            .ends_with("FAIL 3 of 5 targets failed"),
        "{}",
        text.stdout
    );

    // --quiet: the failing targets' sections only, then the table of all of them.
    let quiet = doctor(&targets, &["--quiet"]);
    assert_eq!(quiet.code, 1);
    assert!(
        !quiet.stdout.contains(&header(&healthy)),
        "{}",
        quiet.stdout
    );
    assert_in_order(
        &quiet.stdout,
        targets[1..4].iter().map(|t| header(t)),
        "quiet",
    );

    let junit = doctor(&targets, &["--format", "junit"]);
    assert_eq!(junit.code, 1);
    assert_in_order(&junit.stdout, targets.iter().map(|t| suite(t)), "suites");
    assert!(
        junit
            .stdout
            .contains("<testsuites name=\"mqtt-doctor\" tests=\""),
        "{}",
        junit.stdout
    );

    // Annotations, one target's after another, on stderr.
    let annotated = doctor(&targets, &["--annotations", "always", "--quiet"]);
    let errors: Vec<&str> = annotated
        .stderr
        .lines()
        .filter(|l| l.starts_with("::error title="))
        .collect();
    assert_eq!(errors.len(), 3, "{}", annotated.stderr);
}

/// Peak resident memory of a run over this many targets; the bound for a monitor that
/// checks a fleet. Before reports streamed, 1,000 targets alone took 58 MB.
const MANY: usize = 2_000;
const MAX_RSS_KB: u64 = 40 * 1024;

/// Runs the doctor under GNU time, which reports the process's peak resident set size.
fn measured(targets: &[String], extra: &[&str]) -> (Run, u64) {
    let mut args = vec!["doctor", "--timeout", "2s", "--deadline", "30s"];
    args.extend(targets.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let measured = common::hostile::measure(common::hostile::Setup::default(), &args);
    (measured.run, measured.peak_rss_kb)
}

#[test]
fn thousands_of_targets_stream_in_order_in_little_memory() {
    let targets = refused_targets(MANY);

    let (json, peak) = measured(&targets, &["--format", "json"]);
    assert_eq!(json.code, 1, "{}", json.stderr);
    assert!(peak < MAX_RSS_KB, "JSON: peak resident memory {peak} KiB");
    let multi: MultiReport = common::parse_valid(&json.stdout).unwrap();
    assert_eq!((multi.verdict.targets, multi.verdict.failed), (MANY, MANY));
    for (report, target) in multi.reports.iter().zip(&targets) {
        assert_eq!(&report.target.url, target);
        assert_eq!(report.verdict.root_cause.as_deref(), Some("tcp.refused"));
    }
    assert_eq!(multi.reports.len(), MANY);

    let (text, peak) = measured(&targets, &[]);
    assert_eq!(text.code, 1, "{}", text.stderr);
    assert!(peak < MAX_RSS_KB, "text: peak resident memory {peak} KiB");
    assert_in_order(&text.stdout, targets.iter().map(|t| header(t)), "sections");
    assert!(
        text.stdout
            .trim_end()
            .ends_with(&format!("FAIL {MANY} of {MANY} targets failed")),
        "the verdict closes the report"
    );

    // JUnit keeps every suite's XML until the end (the totals come first), and still fits.
    let (junit, peak) = measured(&targets, &["--format", "junit"]);
    assert_eq!(junit.code, 1, "{}", junit.stderr);
    assert!(peak < MAX_RSS_KB, "JUnit: peak resident memory {peak} KiB");
    assert_in_order(&junit.stdout, targets.iter().map(|t| suite(t)), "suites");
    // Five testcases a target (dns, tcp, tls, auth, mqtt), one failing (tcp).
    assert!(
        junit
            .stdout
            .contains(&format!("tests=\"{}\" failures=\"{MANY}\"", MANY * 5)),
        "{}",
        &junit.stdout[..400.min(junit.stdout.len())]
    );
}
