//! The command line as a user meets it: errors, help, explain, the text report, colour.

mod common;

use common::{Mosquitto, closed_port, doctor_command, run, run_with};
use mqtt_doctor::findings::registry;

#[test]
fn malformed_input_is_a_one_line_usage_error() {
    for (args, expected) in [
        (&["doctor", "http://broker"][..], "unknown scheme"),
        (&["doctor", "mqtt://broker:70000"], "invalid port number"),
        (&["doctor", "::1"], "brackets"),
        (&["doctor", "mqtt://user:hunter2@broker"], "credentials"),
        (&["doctor", "--timeout", "0s"], "zero"),
        (&["doctor", "--timeout", "soon"], "not a duration"),
        (&["doctor", "--dns-server", "my-dns"], "not an IP address"),
        (&["doctor", "--format", "yaml"], "invalid value"),
        (&["frobnicate"], "unrecognized subcommand"),
    ] {
        let out = run(args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(expected),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("hunter2"),
            "{args:?}"
        );
    }
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let out = run(&["doctor", "--help"]);
    assert_eq!(out.code, 0);
    for text in [
        "Examples:",
        "mqtt-doctor doctor mqtts://broker.example.com",
        "Exit codes:",
        "--dns-server",
        "MQTT_DOCTOR_TIMEOUT",
    ] {
        assert!(
            out.stdout.contains(text),
            "missing {text:?} in:\n{}",
            out.stdout
        );
    }
    let top = run(&["--help"]);
    assert!(top.stdout.contains("Exit codes:") && top.stdout.contains("explain"));
    let version = run(&["--version"]);
    assert_eq!(
        version.stdout.trim(),
        format!("mqtt-doctor {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn explain_prints_the_page() {
    let out = run(&["explain", "tcp.refused"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout
            .starts_with("# tcp.refused: Connection refused\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("## How to fix"));

    let unknown = common::run(&["explain", "tcp.refuse"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("tcp.refused"),
        "suggests the ids of the stage: {}",
        unknown.stderr
    );

    let list = common::run(&["explain", "--list"]);
    assert_eq!(list.code, 0);
    for def in registry::ALL {
        assert!(
            list.stdout.contains(def.id) && list.stdout.contains(def.title),
            "{}",
            def.id
        );
    }
}

#[test]
fn text_report_reads_like_a_doctor() {
    let port = closed_port();
    let out = run(&["doctor", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.code, 1);
    let out = &out.stdout;
    assert!(
        !out.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    for text in [
        "mqtt-doctor ",
        &format!("mqtt://127.0.0.1:{port}"),
        " - dns   127.0.0.1 is an IP address: nothing to resolve",
        " ✗ tcp   127.0.0.1:",
        "✗ tcp.refused  Connection refused",
        "Fix:",
        "More: mqtt-doctor explain tcp.refused",
        "FAIL root cause tcp.refused",
    ] {
        assert!(out.contains(text), "missing {text:?} in:\n{out}");
    }
}

#[test]
fn healthy_text_report_is_short() {
    let broker = Mosquitto::start("");
    let out = run(&["doctor", &format!("127.0.0.1:{}", broker.port)]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains(" ✓ tcp   connected to 127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("PASS mqtt://127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("Fix:"),
        "a healthy run prints no fixes:\n{}",
        out.stdout
    );

    let verbose = common::run(&["doctor", &format!("127.0.0.1:{}", broker.port), "--verbose"]);
    assert!(
        verbose
            .stdout
            .contains("✓ tcp.connected  TCP connection established"),
        "{}",
        verbose.stdout
    );
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let target = format!("127.0.0.1:{}", closed_port());
    let always = run(&["doctor", &target, "--color", "always"]);
    assert!(
        always.stdout.contains("\u{1b}["),
        "--color always colours even into a pipe"
    );

    let mut command = doctor_command();
    command.env("NO_COLOR", "1");
    let auto = run_with(command, &["doctor", &target]);
    assert!(!auto.stdout.contains('\u{1b}'));

    let mut command = doctor_command();
    command.env("MQTT_DOCTOR_COLOR", "never");
    let never = run_with(command, &["doctor", &target]);
    assert!(!never.stdout.contains('\u{1b}'));
}

#[test]
fn options_come_from_the_environment_too() {
    let mut command = doctor_command();
    command
        .env("MQTT_DOCTOR_FORMAT", "json")
        .env("MQTT_DOCTOR_TIMEOUT", "750ms");
    let out = run_with(
        command,
        &["doctor", &format!("127.0.0.1:{}", closed_port())],
    );
    let report = out.report();
    assert_eq!(
        report.findings[0].evidence["timeout_ms"].as_f64(),
        Some(750.0)
    );
}

#[test]
fn completions_and_man_page_are_printed() {
    let bash = run(&["completions", "bash"]);
    assert_eq!(bash.code, 0);
    assert!(bash.stdout.contains("mqtt-doctor") && bash.stdout.contains("--dns-server"));
    let man = run(&["man"]);
    assert!(
        man.stdout.contains(".TH mqtt-doctor"),
        "{}",
        &man.stdout[..man.stdout.len().min(200)]
    );
}

#[test]
fn explain_reads_connack_codes_in_every_spelling() {
    let decimal = run(&["explain", "134"]);
    assert_eq!(decimal.code, 0, "{}", decimal.stderr);
    assert!(
        decimal
            .stdout
            .starts_with("# CONNACK 0x86 (134), MQTT 5 reason code: Bad User Name or Password")
    );
    assert_eq!(run(&["explain", "0x86"]).stdout, decimal.stdout);

    // Seed guide 001: Mosquitto's code 5 after a password change is a missing reload.
    let mosquitto = run(&["explain", "connack:5", "--broker", "mosquitto"]);
    assert!(
        mosquitto.stdout.contains("## Likely causes on Mosquitto"),
        "{}",
        mosquitto.stdout
    );
    assert!(mosquitto.stdout.contains("systemctl reload mosquitto"));
    let first = mosquitto
        .stdout
        .lines()
        .find(|l| l.starts_with("1. "))
        .unwrap();
    assert!(first.contains("password file"), "{first}");
    // Seed guide 002: EMQX's code 4 ranks the JWT's claims first.
    let emqx = run(&["explain", "4", "--broker", "emqx"]);
    let first = emqx.stdout.lines().find(|l| l.starts_with("1. ")).unwrap();
    assert!(first.contains("JWT claim"), "{first}");

    for bad in ["0x8B", "300"] {
        let out = run(&["explain", bad]);
        assert_eq!(out.code, 2, "{bad}");
        assert!(out.stderr.contains("CONNACK code"), "{}", out.stderr);
    }
}
