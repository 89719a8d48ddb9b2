//! The text report at the widths people read it: 60, 100 and 160 columns (`COLUMNS`), for real
//! failures with long names, paths and commands. No line may be wider than the width, and no word
//! may be cut: a path or command pasted from the report must work.

mod common;

use std::process::Command;

use common::pki::{Ca, Leaf, dns, write};
use common::{Mosquitto, closed_port, doctor_command, run_with};

const WIDTHS: [usize; 3] = [60, 100, 160];

/// Runs `doctor ARGS --color never` at `width` columns.
fn text_at(width: usize, args: &[&str]) -> String {
    let mut command: Command = doctor_command();
    command.env("COLUMNS", width.to_string());
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--color", "never"]);
    run_with(command, &all).stdout
}

/// Every line fits `width`; no line ends in a hyphen that cut a word (the next line would go on
/// with it), and every `needle` (a path, a command, a name with hyphens) is on one line, whole.
fn check(report: &str, width: usize, needles: &[&str]) {
    for line in report.lines() {
        assert!(
            textwrap::core::display_width(line) <= width,
            "wider than {width}: {line:?}\n{report}"
        );
    }
    let lines: Vec<&str> = report.lines().collect();
    for pair in lines.windows(2) {
        let cut = pair[0].ends_with('-')
            && pair[1]
                .trim_start()
                .starts_with(|c: char| c.is_alphanumeric());
        assert!(
            !cut,
            "a word cut at a hyphen at {width}:\n{}\n{}",
            pair[0], pair[1]
        );
    }
    for needle in needles {
        assert!(
            report.lines().any(|l| l.contains(needle)),
            "{needle:?} is not whole on one line at {width}:\n{report}"
        );
    }
}

/// A Mosquitto TLS listener whose certificate names only `name`, and the CA file that trusts it.
struct TlsBroker {
    broker: Mosquitto,
    files: tempfile::TempDir,
}

impl TlsBroker {
    fn start(name: &str) -> TlsBroker {
        let ca = Ca::new("mqtt-doctor text CA");
        let files = tempfile::tempdir().unwrap();
        write(files.path(), "ca.pem", &ca.pem);
        let pair = ca.issue(&Leaf::server().sans(vec![dns(name)]));
        let cert = write(files.path(), "server.pem", &pair.cert);
        let key = write(files.path(), "server.key", &pair.key);
        let broker = Mosquitto::start(&format!(
            "certfile {}\nkeyfile {}\n",
            cert.display(),
            key.display()
        ));
        TlsBroker { broker, files }
    }

    fn target(&self) -> String {
        format!("mqtts://127.0.0.1:{}", self.broker.port)
    }

    fn ca(&self) -> String {
        self.files.path().join("ca.pem").display().to_string()
    }
}

#[test]
fn a_refused_port_reads_whole_at_every_width() {
    let target = format!("mqtt://127.0.0.1:{}", closed_port());
    for width in WIDTHS {
        let report = text_at(width, &[&target]);
        assert!(report.contains("tcp.refused"), "{report}");
        check(
            &report,
            width,
            &[
                "kubectl get endpointslices -A | grep <service>",
                "ss -ltnp | grep :",
                "mqtt-doctor explain tcp.refused",
            ],
        );
    }
}

#[test]
fn a_certificate_for_another_name_reads_whole_at_every_width() {
    let broker = TlsBroker::start("old-broker.example.test");
    let (target, ca_arg) = (broker.target(), broker.ca());
    for width in WIDTHS {
        let report = text_at(
            width,
            &[
                &target,
                "--cafile",
                &ca_arg,
                "--servername",
                "broker-1.example.test",
            ],
        );
        assert!(report.contains("tls.name_mismatch"), "{report}");
        // The chain with its serials is for -v; the default view says it is there.
        assert!(!report.contains("serial"), "{report}");
        assert!(report.contains("chain (with -v)"), "{report}");
        check(
            &report,
            width,
            &[
                "old-broker.example.test",
                "broker-1.example.test",
                "mqtt-doctor explain tls.name_mismatch",
            ],
        );
    }
}

#[test]
fn verbose_shows_the_evidence_kept_for_the_record() {
    let broker = TlsBroker::start("elsewhere.test");
    let (target, ca_arg) = (broker.target(), broker.ca());
    let report = text_at(100, &[&target, "--cafile", &ca_arg, "-v"]);
    assert!(report.contains("serial"), "{report}");
    assert!(!report.contains("(with -v)"), "{report}");
}
