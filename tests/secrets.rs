//! No password, token, signature, signing secret or private key ever reaches any output: every
//! format of a run that used all of them is searched for every one of them.

mod common;

use common::jwt::{Token, now};
use common::pki::{Ca, Leaf, write};
use common::{Mosquitto, ReportExt, doctor_command, run_with};

const PASSWORD: &str = "correct-horse-battery-staple";
const JWT_SECRET: &str = "emqx-hmac-secret-do-not-print";

/// The secrets of one run, and the strings that would betray them.
struct Secrets {
    needles: Vec<(String, &'static str)>,
}

impl Secrets {
    fn assert_absent(&self, what: &str, output: &str) {
        for (needle, name) in &self.needles {
            assert!(
                !output.contains(needle.as_str()),
                "{what} contains the {name}:\n{output}"
            );
        }
    }
}

/// Every regular file below `dir`.
fn files_below(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_secret_reaches_any_output_format() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("secrets test CA");
    let server = ca.issue(&Leaf::server());
    let client = ca.issue(&Leaf::client("device-1"));
    let config = format!(
        // The broker refuses the credentials, as one checking the token would.
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nallow_anonymous false\n",
        write(dir.path(), "ca.pem", &ca.pem).display(),
        write(dir.path(), "server.pem", &server.cert).display(),
        write(dir.path(), "server.key", &server.key).display(),
    );
    let broker = Mosquitto::start(&config);
    let cert = write(dir.path(), "client.pem", &client.cert);
    let key = write(dir.path(), "client.key", &client.key);
    let cafile = write(dir.path(), "trust.pem", &ca.pem);

    // An expired token, so that every finding about it (and its decoded claims) is printed.
    let token = Token::new("HS256")
        .claim("iss", "esp32-device")
        .claim("iat", now() - 7200)
        .claim("exp", now() - 3600)
        .hs256(b"some-other-secret");
    let signature = token.rsplit('.').next().unwrap().to_string();
    let mut needles = vec![
        (PASSWORD.to_string(), "password"),
        (token.clone(), "token"),
        (signature, "token signature"),
        (JWT_SECRET.to_string(), "JWT secret"),
    ];
    for line in client.key.lines().filter(|l| !l.starts_with("-----")) {
        needles.push((line.to_string(), "private key"));
    }
    let secrets = Secrets { needles };

    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let args = [
        "doctor",
        url.as_str(),
        "--cafile",
        cafile.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "-u",
        "device-1",
        "--token",
        token.as_str(),
        "--issuer",
        "esp32-sensor",
        "--verbose",
    ];
    // Every format, for one target and for two, with GitHub annotations on stderr, in a fresh
    // working directory, HOME and TMPDIR: whatever the doctor wrote there is searched too.
    let second = format!("mqtts://localhost:{}", broker.port);
    for format in ["text", "json", "junit"] {
        for targets in [vec![url.as_str()], vec![url.as_str(), second.as_str()]] {
            let scratch = tempfile::tempdir().unwrap();
            let mut command = doctor_command();
            command
                .current_dir(scratch.path())
                .env("HOME", scratch.path())
                .env("TMPDIR", scratch.path())
                .env("GITHUB_ACTIONS", "true")
                .env("MQTT_DOCTOR_PASSWORD", PASSWORD)
                .env("MQTT_DOCTOR_JWT_SECRET", JWT_SECRET);
            let mut all = vec!["doctor"];
            all.extend(&targets);
            all.extend_from_slice(&args[2..]);
            all.extend(["--format", format]);
            let case = format!("{format}, {} target(s)", targets.len());
            let run = run_with(command, &all);
            assert_eq!(run.code, 1, "{case}: {}{}", run.stdout, run.stderr);
            // The run did look at every secret: the output proves each was used.
            let mut expected = vec!["token.expired", "token.signature_invalid"];
            if format != "junit" {
                // JUnit carries only what needs attention.
                expected.extend(["auth.credentials", "tls.ok"]);
            }
            for expected in expected {
                assert!(
                    run.stdout.contains(expected),
                    "{case}: no {expected}:\n{}",
                    run.stdout
                );
            }
            assert!(run.stderr.contains("::error"), "{case}: no annotations");
            secrets.assert_absent(&format!("{case} stdout"), &run.stdout);
            secrets.assert_absent(&format!("{case} stderr"), &run.stderr);
            let written = files_below(scratch.path());
            for file in &written {
                let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
                secrets.assert_absent(&format!("{case}: {}", file.display()), &text);
            }
            assert!(written.is_empty(), "{case}: the doctor wrote {written:?}");
        }
    }

    // The same token as a password (EMQX style) and through token inspect.
    for format in ["text", "json"] {
        let mut command = doctor_command();
        command.env("MQTT_DOCTOR_JWT_SECRET", JWT_SECRET);
        let run = run_with(
            command,
            &["token", "inspect", "--token", &token, "--format", format],
        );
        assert!(
            run.stdout.contains("token.signature_invalid"),
            "{}",
            run.stdout
        );
        secrets.assert_absent(&format!("token inspect {format}"), &run.stdout);
        secrets.assert_absent(&format!("token inspect {format} stderr"), &run.stderr);
    }
    let mut command = doctor_command();
    command.env("MQTT_DOCTOR_PASSWORD", &token);
    let run = run_with(
        command,
        &["doctor", &url, "-u", "d", "--format", "json", "--verbose"],
    );
    run.report().finding("token.expired");
    secrets.assert_absent("password-as-JWT run", &run.stdout);

    // Help and errors: clap never shows a secret from the environment or the command line.
    let mut command = doctor_command();
    command.env("MQTT_DOCTOR_PASSWORD", PASSWORD);
    let help = run_with(command, &["doctor", "--help"]);
    assert!(help.stdout.contains("MQTT_DOCTOR_PASSWORD"));
    secrets.assert_absent("--help", &help.stdout);
    let conflict = run_with(
        doctor_command(),
        &[
            "doctor",
            "--password",
            PASSWORD,
            "--password-file",
            "/nonexistent",
        ],
    );
    assert_eq!(conflict.code, 2);
    secrets.assert_absent("a usage error", &conflict.stderr);
}

#[test]
fn junit_is_well_formed_and_names_the_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let token = Token::new("HS256").claim("exp", now() - 60).hs256(b"k");
    let file = write(dir.path(), "token", &token);
    let broker = Mosquitto::start("allow_anonymous false\n");
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let run = run_with(
        doctor_command(),
        &[
            "doctor",
            &url,
            "--token-file",
            file.to_str().unwrap(),
            "--format",
            "junit",
        ],
    );
    assert_eq!(run.code, 1);
    let mut reader = quick_xml::Reader::from_str(&run.stdout);
    let (mut testcases, mut failures, mut skipped) = (Vec::new(), Vec::new(), 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                let attr = |name: &str| {
                    e.try_get_attribute(name).unwrap().map(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned()
                    })
                };
                match e.name().as_ref() {
                    "testcase" => testcases.push(attr("name").unwrap()),
                    "failure" => failures.push(attr("type").unwrap()),
                    "skipped" => skipped += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert_eq!(testcases, ["dns", "tcp", "tls", "auth", "mqtt"]);
    assert_eq!(failures, ["token.expired", "mqtt.not_authorized"]);
    // DNS (an IP literal) and TLS (a plain target) did not run.
    assert_eq!(skipped, 2);
}

/// Fingerprints are keyed once per run (src/secret.rs; its unit tests check that one run gives
/// one secret one fingerprint): the same token gets another fingerprint in the next run, so a
/// report cannot be used to confirm guesses of the secret offline.
#[test]
fn fingerprints_differ_between_runs() {
    let token = Token::new("HS256")
        .claim("exp", now() + 600)
        .with_signature(b"fingerprinted");
    let fingerprints = || -> Vec<String> {
        let run = run_with(
            doctor_command(),
            &["token", "inspect", "--token", &token, "--format", "json"],
        );
        let found: Vec<String> = run
            .stdout
            .match_indices("fp:")
            .map(|(at, _)| run.stdout[at..at + 11].to_string())
            .collect();
        assert!(!found.is_empty(), "no fingerprint:\n{}", run.stdout);
        found
    };
    let first = fingerprints();
    let second = fingerprints();
    // The token and its signature, in the same places in both reports.
    assert_eq!(first.len(), second.len(), "{first:?} {second:?}");
    for (a, b) in first.iter().zip(&second) {
        assert!(
            a.len() == 11 && a[3..].bytes().all(|c| c.is_ascii_hexdigit()),
            "{a}"
        );
        assert_ne!(a, b, "the same fingerprint in two runs: not keyed per run");
    }
}
