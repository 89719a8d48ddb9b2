//! The doctor as a CI preflight step and from a committed config file: JUnit that validates
//! against the common schema, GitHub Actions annotations only under GitHub Actions, `--quiet`,
//! several targets in one report, and `mqtt-doctor.toml` profiles beneath the environment and
//! the command line. Against real Mosquitto brokers and closed ports on loopback.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Mosquitto, ReportExt, closed_port, doctor_command, evidence, run_env, run_with};
use mqtt_doctor::report::MultiReport;

/// The schema that scripts/install-test-deps.sh fetches.
const JUNIT_XSD: &str = "target/test-deps/junit-10.xsd";

fn refused() -> String {
    format!("mqtt://127.0.0.1:{}", closed_port())
}

#[test]
fn junit_validates_against_the_common_schema() {
    assert!(
        Path::new(JUNIT_XSD).is_file(),
        "{JUNIT_XSD} is missing: run `bash scripts/install-test-deps.sh`"
    );
    let broker = Mosquitto::start("");
    let healthy = format!("mqtt://127.0.0.1:{}", broker.port);
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("one", vec![healthy.clone()]),
        ("two", vec![healthy.clone(), refused()]),
        (
            "strict",
            vec![
                healthy.clone(),
                "--strict".into(),
                "-i".into(),
                "ci-probe".into(),
            ],
        ),
        (
            "cluster",
            vec![healthy.clone(), refused(), "--cluster".into()],
        ),
    ] {
        let mut all = vec!["doctor".to_string(), "--format".into(), "junit".into()];
        all.extend(args);
        let argv: Vec<&str> = all.iter().map(String::as_str).collect();
        let run = common::run(&argv);
        let file = dir.path().join(format!("{name}.xml"));
        fs::write(&file, &run.stdout).unwrap();
        let check = Command::new("xmllint")
            .args(["--noout", "--schema", JUNIT_XSD])
            .arg(&file)
            .output()
            .expect("xmllint runs (scripts/install-test-deps.sh installs it)");
        assert!(
            check.status.success(),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&check.stderr),
            run.stdout
        );
        // Jenkins and GitLab split a classname at its last dot: none may come from the URL.
        for classname in run.stdout.split("classname=\"").skip(1) {
            let classname = &classname[..classname.find('"').unwrap()];
            assert_eq!(classname.matches('.').count(), 1, "{classname}");
        }
        // Loopback stages take well under a millisecond; one that ran does not read as
        // `0.000` (not run), and its exact time is in its output.
        for case in run.stdout.split("<testcase ").skip(1) {
            let case = &case[..case.find("</testcase>").unwrap()];
            if !case.contains("<skipped") && !case.contains("\"mqtt-doctor.cluster\"") {
                assert!(!case.contains("time=\"0.000\""), "{case}");
                assert!(case.contains(" ms)"), "{case}");
            }
        }
        match name {
            "one" => assert_eq!(run.code, 0),
            "cluster" => {
                assert_eq!(run.code, 1);
                assert!(
                    run.stdout
                        .contains("<testsuite name=\"mqtt-doctor cluster\"")
                );
                // The refused member fails its own suite; the comparison names it (a warning:
                // only its TCP connect fails).
                assert!(
                    run.stdout.contains("[warn] cluster.nodes_fail"),
                    "{}",
                    run.stdout
                );
            }
            "two" => {
                assert_eq!(run.code, 1);
                assert_eq!(run.stdout.matches("<testsuite ").count(), 2);
                assert!(
                    run.stdout.contains("type=\"tcp.refused\""),
                    "{}",
                    run.stdout
                );
            }
            _ => {
                // A chosen client id is a warning; --strict makes it the failure.
                assert_eq!(run.code, 1);
                assert!(run.stdout.contains("type=\"mqtt.client_id_given\""));
            }
        }
    }
}

#[test]
fn annotations_appear_only_under_github_actions() {
    let target = refused();
    let under_actions = run_env(
        &[("GITHUB_ACTIONS", "true")],
        &["doctor", &target, "--format", "json"],
    );
    assert_eq!(under_actions.code, 1);
    let annotation = under_actions
        .stderr
        .lines()
        .find(|l| l.starts_with("::error title="))
        .unwrap_or_else(|| panic!("no annotation in {:?}", under_actions.stderr));
    assert!(annotation.contains("tcp.refused") && annotation.contains("Fix: "));
    assert!(!annotation.contains('\n'));
    // The report on stdout is untouched.
    under_actions.report().finding("tcp.refused");

    let elsewhere = common::run(&["doctor", &target]);
    assert!(!elsewhere.stderr.contains("::"), "{}", elsewhere.stderr);
    let told_not_to = run_env(
        &[("GITHUB_ACTIONS", "true")],
        &["doctor", &target, "--annotations", "never"],
    );
    assert!(!told_not_to.stderr.contains("::"), "{}", told_not_to.stderr);
    let told_to = common::run(&["doctor", &target, "--annotations", "always"]);
    assert!(
        told_to.stderr.contains("::error title="),
        "{}",
        told_to.stderr
    );
    // A warning is a warning annotation, and a healthy run writes none.
    let broker = Mosquitto::start("");
    let healthy = format!("mqtt://127.0.0.1:{}", broker.port);
    let warned = run_env(
        &[("GITHUB_ACTIONS", "true")],
        &["doctor", &healthy, "-i", "ci-probe"],
    );
    assert_eq!(warned.code, 0);
    assert!(
        warned.stderr.starts_with("::warning title="),
        "{}",
        warned.stderr
    );
    assert!(warned.stderr.contains("mqtt.client_id_given"));
    let clean = run_env(&[("GITHUB_ACTIONS", "true")], &["doctor", &healthy]);
    assert!(clean.stderr.is_empty(), "{}", clean.stderr);
}

#[test]
fn quiet_prints_only_failures() {
    let broker = Mosquitto::start("");
    let healthy = format!("mqtt://127.0.0.1:{}", broker.port);
    let calm = common::run(&["doctor", &healthy, "--quiet"]);
    assert_eq!((calm.code, calm.stdout.as_str()), (0, ""));

    let failing = common::run(&["doctor", &refused(), "-q"]);
    assert_eq!(failing.code, 1);
    assert!(failing.stdout.contains("tcp.refused"), "{}", failing.stdout);
    assert!(failing.stdout.contains("Fix:"));
    // No stage lines, no passing findings.
    assert!(!failing.stdout.contains(" - dns "), "{}", failing.stdout);

    let both = common::run(&["doctor", &healthy, &refused(), "--quiet"]);
    assert_eq!(both.code, 1);
    assert!(!both.stdout.contains(&format!("{healthy} ·")));
    assert!(
        both.stdout.contains("1 of 2 targets failed"),
        "{}",
        both.stdout
    );
}

#[test]
fn several_targets_run_into_one_report() {
    let broker = Mosquitto::start("");
    let healthy = format!("mqtt://127.0.0.1:{}", broker.port);
    let target = refused();
    let run = common::run(&["doctor", &healthy, &target, "--format", "json"]);
    assert_eq!(run.code, 1);
    let multi: MultiReport = common::parse_valid(&run.stdout).unwrap();
    assert_eq!(multi.verdict.status.as_str(), "fail");
    assert_eq!((multi.verdict.targets, multi.verdict.failed), (2, 1));
    assert_eq!(multi.reports[0].target.url, healthy);
    assert_eq!(multi.reports[0].verdict.status.as_str(), "pass");
    assert_eq!(multi.reports[1].target.url, target);
    assert_eq!(
        multi.reports[1].verdict.root_cause.as_deref(),
        Some("tcp.refused")
    );

    let text = common::run(&["doctor", &healthy, &target]);
    assert!(
        text.stdout.contains("1 of 2 targets failed"),
        "{}",
        text.stdout
    );
}

/// A committed config file: `mqtt-doctor --profile NAME` from the directory that holds it.
fn in_dir(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> common::Run {
    let mut command = doctor_command();
    command.current_dir(dir).envs(env.iter().copied());
    run_with(command, args)
}

#[test]
fn profiles_sit_beneath_the_environment_and_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let closed = closed_port();
    fs::write(dir.path().join("token"), "not-a-jwt\n").unwrap();
    fs::write(
        dir.path().join("mqtt-doctor.toml"),
        format!(
            "timeout = \"2s\"\n\
             [profiles.staging]\n\
             targets = [\"127.0.0.1:{closed}\"]\n\
             timeout = \"3s\"\n\
             token-file = \"token\"\n\
             [profiles.plain]\n\
             target = \"127.0.0.1:{closed}\"\n"
        ),
    )
    .unwrap();
    let timeout = |run: &common::Run| {
        let report = run.report();
        evidence(report.finding("tcp.refused"), "timeout_ms")
    };
    let json = ["--format", "json"];
    let staging = in_dir(
        dir.path(),
        &[],
        &[&["doctor", "--profile", "staging"][..], &json].concat(),
    );
    assert_eq!(timeout(&staging), "3000", "the profile beats the top level");
    assert_eq!(
        evidence(staging.report().finding("token.malformed"), "source"),
        "file token"
    );
    // From elsewhere, the token file is still read relative to the config file.
    let config = dir.path().join("mqtt-doctor.toml").display().to_string();
    let away = in_dir(
        Path::new("/"),
        &[],
        &[
            &["doctor", "--config", &config, "--profile", "staging"][..],
            &json,
        ]
        .concat(),
    );
    assert_eq!(
        evidence(away.report().finding("token.malformed"), "source"),
        format!("file {}", dir.path().join("token").display())
    );
    let plain = in_dir(
        dir.path(),
        &[],
        &[&["doctor", "--profile", "plain"][..], &json].concat(),
    );
    assert_eq!(
        timeout(&plain),
        "2000",
        "the top level applies to every profile"
    );
    let env = in_dir(
        dir.path(),
        &[
            ("MQTT_DOCTOR_TIMEOUT", "4s"),
            ("MQTT_DOCTOR_PROFILE", "staging"),
        ],
        &[&["doctor"][..], &json].concat(),
    );
    assert_eq!(timeout(&env), "4000", "the environment beats the profile");
    let typed = in_dir(
        dir.path(),
        &[("MQTT_DOCTOR_TIMEOUT", "4s")],
        &[
            &["doctor", "--profile", "staging", "--timeout", "5s"][..],
            &json,
        ]
        .concat(),
    );
    assert_eq!(timeout(&typed), "5000", "the command line beats everything");
    // A token in the environment replaces the profile's token file instead of clashing with it.
    let token_env = in_dir(
        dir.path(),
        &[("MQTT_DOCTOR_TOKEN", "also-not-a-jwt")],
        &[&["doctor", "--profile", "staging"][..], &json].concat(),
    );
    assert_eq!(token_env.code, 1, "{}", token_env.stderr);
    assert_eq!(
        evidence(token_env.report().finding("token.malformed"), "source"),
        "argument or environment"
    );
}

#[test]
fn config_file_mistakes_are_usage_errors_naming_file_profile_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("brokers.toml");
    fs::write(
        &file,
        "[profiles.a]\ntimeout = \"soon\"\n[profiles.b]\npassword = \"hunter2\"\n\
         [profiles.c]\ncolour = \"red\"\n[profiles.d]\ntimeout = [\"1s\", \"2s\"]\n",
    )
    .unwrap();
    let config = file.display().to_string();
    for (profile, expected) in [
        ("a", "[profiles.a]: invalid value 'soon' for timeout"),
        ("b", "[profiles.b]: password is a secret"),
        ("c", "[profiles.c]: unknown option \"colour\""),
        ("d", "[profiles.d]: timeout takes one value"),
        ("e", "has no profile \"e\"; it has: a, b, c, d"),
    ] {
        let run = common::run(&["doctor", "--config", &config, "--profile", profile]);
        assert_eq!(run.code, 2, "{profile}: {run:?}");
        assert!(run.stderr.contains(expected), "{profile}: {}", run.stderr);
        assert!(!run.stderr.contains("hunter2"));
        assert!(run.stdout.is_empty());
    }
    let nowhere = in_dir(dir.path(), &[], &["doctor", "--profile", "a"]);
    assert_eq!(nowhere.code, 2);
    assert!(
        nowhere.stderr.contains("needs a config file"),
        "{}",
        nowhere.stderr
    );
}

#[test]
fn presets_are_listed_with_their_values() {
    let run = common::run(&["presets"]);
    assert_eq!(run.code, 0);
    for expected in [
        "aio:",
        "mqtts://aio-broker.azure-iot-operations.svc.cluster.local:18883",
        "/var/run/secrets/tokens/broker-sat",
        "K8S-SAT",
        "aio-internal",
        "mosquitto:",
        "emqx:",
        "hivemq:",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
}

/// `--output FORMAT=FILE`: one run, several reports, and they agree with each other and with
/// standard output (the same targets, verdicts, start times; text without colours).
#[test]
fn outputs_from_one_run_agree() {
    let broker = Mosquitto::start("");
    let healthy = format!("mqtt://127.0.0.1:{}", broker.port);
    let refused = refused();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (json, xml, txt) = (path("r.json"), path("r.xml"), path("r.txt"));
    let run = common::run(&[
        "doctor",
        &healthy,
        &refused,
        "--color",
        "always",
        "--output",
        &format!("json={json}"),
        "--output",
        &format!("junit={xml}"),
        "--output",
        &format!("TEXT={txt}"),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Standard output is coloured as asked; the text file is the same report without colour.
    assert!(run.stdout.contains('\u{1b}'));
    let text = fs::read_to_string(&txt).unwrap();
    assert!(!text.contains('\u{1b}'));
    // Both come from the same report model of the same run: the same text, byte for byte.
    assert_eq!(text, anstream::adapter::strip_str(&run.stdout).to_string());

    let multi: MultiReport = common::parse_valid(&fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!((multi.verdict.targets, multi.verdict.failed), (2, 1));
    let junit = fs::read_to_string(&xml).unwrap();
    assert!(junit.contains("failures=\"1\""), "{junit}");
    for report in &multi.reports {
        // The JUnit suite of each target has the JSON report's start time: one run.
        assert!(
            junit.contains(&format!("timestamp=\"{}\"", report.started_at)),
            "{junit}"
        );
        assert!(text.contains(&report.target.url));
    }
    assert!(text.contains("1 of 2 targets failed"));

    // Mistakes are usage errors that name what was wrong, before any check runs.
    for (spec, says) in [
        ("yaml=out.yaml", "\"yaml\" is not a report format"),
        ("report.json", "names no format"),
        (
            "json=/nonexistent/dir/r.json",
            "cannot write /nonexistent/dir/r.json",
        ),
    ] {
        let run = common::run(&["doctor", &healthy, "--output", spec]);
        assert_eq!(run.code, 2, "{spec}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{spec}: {}", run.stderr);
    }
}

/// Under GitHub Actions the run appends a Markdown summary to `$GITHUB_STEP_SUMMARY` (the
/// verdict, the failing target's root cause with its fix and stage table, a row per target) and
/// folds each target's text report into a log group; elsewhere it does neither.
#[test]
fn github_actions_gets_a_job_summary_and_folded_logs() {
    let broker = Mosquitto::start("");
    let healthy = format!("mqtt://127.0.0.1:{}", broker.port);
    let refused = refused();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    fs::write(&summary, "## An earlier step\n").unwrap();
    let summary_text = summary.display().to_string();
    let run = run_env(
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", &summary_text),
        ],
        &["doctor", &healthy, &refused],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);

    let page = fs::read_to_string(&summary).unwrap();
    assert!(page.starts_with("## An earlier step\n"), "appended: {page}");
    assert!(page.contains(&format!("### ❌ FAIL `{refused}`")), "{page}");
    assert!(page.contains("**Root cause `tcp.refused`**"), "{page}");
    assert!(page.contains("| tcp | ❌ fail |"), "{page}");
    assert!(page.contains("**Fix**\n\n```text\n"), "{page}");
    // The healthy target is a row of the closing table, not a section.
    assert!(
        !page.contains(&format!("### ✅ PASS `{healthy}`")),
        "{page}"
    );
    assert!(
        page.contains(&format!("| `{healthy}` | ✅ pass |")),
        "{page}"
    );
    assert!(page.contains("### ❌ FAIL 1 of 2 targets failed"), "{page}");

    // The log: one group per target, the closing table outside them.
    assert_eq!(run.stdout.matches("::group::mqtt-doctor ").count(), 2);
    assert_eq!(run.stdout.matches("\n::endgroup::\n").count(), 2);
    assert!(
        run.stdout
            .contains(&format!("::group::mqtt-doctor {refused} · fail\n")),
        "{}",
        run.stdout
    );
    let table = run.stdout.rfind("::endgroup::").unwrap();
    assert!(run.stdout[table..].contains("1 of 2 targets failed"));

    // Elsewhere: no groups, and no summary file is touched.
    let before = fs::read_to_string(&summary).unwrap();
    let plain = run_env(
        &[("GITHUB_STEP_SUMMARY", &summary_text)],
        &["doctor", &healthy, &refused],
    );
    assert!(!plain.stdout.contains("::group::"));
    assert_eq!(fs::read_to_string(&summary).unwrap(), before);

    // The same Markdown on standard output, for a comment elsewhere: every target in full.
    let markdown = common::run(&["doctor", &healthy, &refused, "--format", "markdown"]);
    assert!(
        markdown.stdout.starts_with("### ✅ PASS `"),
        "{}",
        markdown.stdout
    );
    assert!(markdown.stdout.contains("### ❌ FAIL `"));
}

/// While a step waits, a terminal's stderr shows what for and for how long: checked in a real
/// pseudo-terminal, which `script` (util-linux, in every Debian) sets up, with the report sent
/// to a file. The line is cleared before the report, and a pipe never gets it.
#[test]
fn a_terminal_sees_the_step_it_waits_for_and_a_pipe_does_not() {
    let silent = common::Unanswered::bind("127.0.0.1:0".parse().unwrap()).expect("a silent port");
    let target = format!("mqtt://{}", silent.addr);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    let inner = format!(
        "{} doctor {target} --timeout 1s --color never > {}",
        common::BIN,
        report.display()
    );
    let terminal = Command::new("script")
        .args(["--quiet", "--return", "--command", &inner, "/dev/null"])
        .output()
        .expect("script runs (util-linux)");
    assert_eq!(terminal.status.code(), Some(1), "{terminal:?}");
    let screen = String::from_utf8_lossy(&terminal.stdout);
    assert!(
        screen.contains(&format!("tcp: connecting to {}, ", silent.addr))
            && screen.contains(" s of 1s"),
        "{screen:?}"
    );
    // Cleared at the end, and never in the report itself.
    assert!(
        screen
            .trim_end_matches(['\r', '\n'])
            .ends_with("\r\u{1b}[2K"),
        "{screen:?}"
    );
    let report = fs::read_to_string(&report).unwrap();
    assert!(
        report.contains("tcp.timeout") && !report.contains('\u{1b}'),
        "{report}"
    );

    let piped = common::run(&["doctor", &target, "--timeout", "1s"]);
    assert!(!piped.stderr.contains("connecting to"), "{}", piped.stderr);
}
