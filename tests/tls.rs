//! The TLS stage against real Mosquitto TLS listeners, with certificates generated per test.

mod common;

use std::path::PathBuf;

use common::pki::{Ca, Leaf, Pair, dns, write};
use common::{Mosquitto, ReportExt, StageExt, doctor_command, doctor_json, evidence, run_with};
use mqtt_doctor::report::Report;
use rcgen::ExtendedKeyUsagePurpose;

/// A Mosquitto TLS listener and the files it was started with.
struct TlsBroker {
    broker: Mosquitto,
    files: tempfile::TempDir,
    ca: PathBuf,
}

impl TlsBroker {
    /// Mosquitto serving `server`, trusting `client_ca` for client certificates, plus `extra`.
    fn start(client_ca: &Ca, server: &Pair, extra: &str) -> TlsBroker {
        let files = tempfile::tempdir().unwrap();
        let ca = write(files.path(), "client-ca.pem", &client_ca.pem);
        let cert = write(files.path(), "server.pem", &server.cert);
        let key = write(files.path(), "server.key", &server.key);
        let config = format!(
            "cafile {}\ncertfile {}\nkeyfile {}\n{extra}",
            ca.display(),
            cert.display(),
            key.display()
        );
        let broker = Mosquitto::start(&config);
        TlsBroker { broker, files, ca }
    }

    fn url(&self) -> String {
        format!("mqtts://127.0.0.1:{}", self.broker.port)
    }

    fn file(&self, name: &str, contents: &str) -> String {
        write(self.files.path(), name, contents)
            .display()
            .to_string()
    }

    /// Runs the doctor against this listener with `--cafile` set to `ca_pem` (when given).
    fn doctor(&self, ca_pem: Option<&str>, extra: &[&str]) -> (Report, i32) {
        let url = self.url();
        let mut args = vec![url.as_str()];
        let ca;
        if let Some(pem) = ca_pem {
            ca = self.file("trusted-ca.pem", pem);
            args.extend(["--cafile", ca.as_str()]);
        }
        args.extend_from_slice(extra);
        doctor_json(&args)
    }
}

#[test]
fn valid_chain_passes_and_is_shown() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server()), "");
    let (report, code) = broker.doctor(Some(&ca.pem), &[]);

    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.verdict.status.as_str(), "pass");
    let ok = report.finding("tls.ok");
    assert!(
        evidence(ok, "version").starts_with("TLSv1."),
        "{:?}",
        ok.evidence
    );
    assert_eq!(
        evidence(ok, "sni"),
        "none (no SNI is sent for an IP address)"
    );
    let chain = &ok.evidence["chain"][0];
    assert_eq!(chain["subject"], "CN=mqtt-doctor test broker");
    assert_eq!(chain["issuer"], "CN=mqtt-doctor test CA");
    assert_eq!(chain["sans"], "DNS:localhost, IP:127.0.0.1");
    assert!(chain["days_left"].as_i64().unwrap() >= 364);
    assert_eq!(chain["eku"], "serverAuth");
    assert!(report.target.tls);
    assert_eq!(report.stage_status("tls"), "pass");

    // The text report shows the chain as a table.
    let mut command = doctor_command();
    command.env("MQTT_DOCTOR_CAFILE", broker.file("ca-env.pem", &ca.pem));
    let text = run_with(command, &["doctor", &broker.url(), "--verbose"]);
    assert!(
        text.stdout.contains("chain:") && text.stdout.contains("CN=mqtt-doctor test broker"),
        "{}",
        text.stdout
    );
}

#[test]
fn host_name_and_sni() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server()), "");
    let url = format!("mqtts://localhost:{}", broker.broker.port);
    let ca_file = broker.file("ca.pem", &ca.pem);
    let (report, code) = doctor_json(&[&url, "--cafile", &ca_file]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(evidence(report.finding("tls.ok"), "sni"), "localhost");
}

#[test]
fn expired_server_certificate() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server().valid(-400, -35)), "");
    let (report, code) = broker.doctor(Some(&ca.pem), &[]);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("tls.expired"));
    let finding = report.finding("tls.expired");
    assert!(
        finding.detail.contains("35 days ago") || finding.detail.contains("36 days ago"),
        "{}",
        finding.detail
    );
    assert!(finding.evidence["chain"][0]["days_left"].as_i64().unwrap() < 0);
}

#[test]
fn server_certificate_not_yet_valid() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server().valid(10, 400)), "");
    let (report, code) = broker.doctor(Some(&ca.pem), &[]);

    assert_eq!(code, 1);
    let finding = report.finding("tls.not_yet_valid");
    assert!(finding.detail.contains("clock"), "{}", finding.detail);
}

#[test]
fn server_certificate_expiring_soon_warns() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server().valid(-300, 10)), "");
    let (report, code) = broker.doctor(Some(&ca.pem), &[]);

    assert_eq!(code, 0, "a warning alone does not fail the run");
    let finding = report.finding("tls.expiring_soon");
    assert_eq!(finding.status.as_str(), "warn");
    assert!((8..=10).contains(&finding.evidence["days_left"].as_i64().unwrap()));

    let (quiet, _) = broker.doctor(Some(&ca.pem), &["--expiry-warning", "5d"]);
    assert!(
        !quiet.ids().contains(&"tls.expiring_soon"),
        "threshold is configurable"
    );
}

#[test]
fn certificate_for_another_name() {
    let ca = Ca::new("mqtt-doctor test CA");
    let leaf = Leaf::server().sans(vec![dns("broker.example.test")]);
    let broker = TlsBroker::start(&ca, &ca.issue(&leaf), "");
    let (report, code) = broker.doctor(Some(&ca.pem), &[]);

    assert_eq!(code, 1);
    let finding = report.finding("tls.name_mismatch");
    assert_eq!(
        evidence(finding, "presented_sans"),
        "DNS:broker.example.test"
    );
    assert!(
        finding.detail.contains("IP address"),
        "an IP target with DNS-only SANs is called out: {}",
        finding.detail
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains("mqtts://broker.example.test:")
    );

    // --servername checks (and sends) the name the certificate has.
    let (fixed, code) = broker.doctor(Some(&ca.pem), &["--servername", "broker.example.test"]);
    assert_eq!(code, 0, "{fixed:#?}");
    assert_eq!(
        evidence(fixed.finding("tls.ok"), "sni"),
        "broker.example.test"
    );
}

#[test]
fn certificate_with_only_a_common_name() {
    let ca = Ca::new("mqtt-doctor test CA");
    let leaf = Leaf {
        common_name: "localhost".into(),
        ..Leaf::server().sans(vec![])
    };
    let broker = TlsBroker::start(&ca, &ca.issue(&leaf), "");
    let url = format!("mqtts://localhost:{}", broker.broker.port);
    let ca_file = broker.file("ca.pem", &ca.pem);
    let (report, code) = doctor_json(&[&url, "--cafile", &ca_file]);

    assert_eq!(code, 1);
    let finding = report.finding("tls.name_mismatch");
    assert!(
        finding.detail.contains("only a common name (localhost)"),
        "{}",
        finding.detail
    );
    assert_eq!(evidence(finding, "common_name"), "localhost");
}

#[test]
fn self_signed_certificate_is_an_unknown_issuer() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &Leaf::server().self_signed(), "");
    let (report, code) = broker.doctor(None, &[]);

    assert_eq!(code, 1);
    let finding = report.finding("tls.unknown_issuer");
    assert_eq!(finding.evidence["self_signed"], true);
    assert!(finding.detail.contains("self-signed"));
    assert!(
        evidence(finding, "trust").starts_with("system roots")
            || evidence(finding, "trust").starts_with("built-in")
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains("azure-iot-operations-aio-ca-trust-bundle")
    );
}

#[test]
fn private_ca_not_given() {
    let ca = Ca::new("Factory Private CA");
    let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server()), "");
    let other = Ca::new("Some Other CA");
    let (report, code) = broker.doctor(Some(&other.pem), &[]);

    assert_eq!(code, 1);
    let finding = report.finding("tls.unknown_issuer");
    assert_eq!(finding.evidence["self_signed"], false);
    assert_eq!(evidence(finding, "issuer"), "CN=Factory Private CA");
}

#[test]
fn server_certificate_without_server_purpose() {
    let ca = Ca::new("mqtt-doctor test CA");
    let leaf = Leaf::server().eku(vec![ExtendedKeyUsagePurpose::ClientAuth]);
    let broker = TlsBroker::start(&ca, &ca.issue(&leaf), "");
    let (report, code) = broker.doctor(Some(&ca.pem), &[]);

    assert_eq!(code, 1);
    let finding = report.finding("tls.bad_purpose");
    assert!(finding.detail.contains("clientAuth"), "{}", finding.detail);
}

/// `openssl req -x509` marks its self-signed certificate as a CA; strict clients refuse it.
#[test]
fn ca_certificate_used_as_the_server_certificate() {
    // The CA's own certificate served as the broker's, with 127.0.0.1 among its names (as
    // `openssl req -x509 -addext subjectAltName=IP:127.0.0.1` makes one), and given as --cafile.
    let ca = Ca::with_sans(
        "broker.factory.test",
        vec![rcgen::SanType::IpAddress([127, 0, 0, 1].into())],
    );
    let files = tempfile::tempdir().unwrap();
    let broker = TlsBroker::start(&ca, &ca.as_pair(), "");
    let ca_file = write(files.path(), "ca.pem", &ca.pem).display().to_string();
    let (report, code) = doctor_json(&[&broker.url(), "--cafile", &ca_file]);

    // OpenSSL-based clients accept it: a warning, and MQTT is checked too.
    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(report.verdict.status.as_str(), "warn");
    let finding = report.finding("tls.ca_as_server_certificate");
    assert!(
        finding.detail.contains("OpenSSL-based clients"),
        "{}",
        finding.detail
    );
    assert!(finding.fix.as_deref().unwrap().contains("CA:FALSE"));
    assert!(
        report.ids().contains(&"mqtt.connected"),
        "{:?}",
        report.ids()
    );
    // Strict verifiers refuse it: with --strict, the run fails on it.
    let (strict, code) = doctor_json(&[&broker.url(), "--cafile", &ca_file, "--strict"]);
    assert_eq!(code, 1);
    assert_eq!(
        strict.verdict.root_cause.as_deref(),
        Some("tls.ca_as_server_certificate")
    );

    // Trusted only through another CA file, it is refused as before.
    let other = Ca::new("another CA");
    let other_file = write(files.path(), "other.pem", &other.pem)
        .display()
        .to_string();
    let (report, code) = doctor_json(&[&broker.url(), "--cafile", &other_file]);
    assert_eq!(code, 1);
    assert!(!report.ids().contains(&"tls.ca_as_server_certificate"));
}

#[test]
fn tls_to_a_plain_port() {
    let plain = Mosquitto::start("");
    let url = format!("mqtts://127.0.0.1:{}", plain.port);
    let (report, code) = doctor_json(&[&url]);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("tls.not_tls"));
    let finding = report.finding("tls.not_tls");
    assert_eq!(finding.evidence["plain_connack_code"], 0);
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("mqtt://127.0.0.1:{}", plain.port))
    );

    // --tls on a plain URL asks for TLS too.
    let plain_url = format!("mqtt://127.0.0.1:{}", plain.port);
    let (forced, _) = doctor_json(&[&plain_url, "--tls"]);
    assert!(forced.ids().contains(&"tls.not_tls"));
}

/// Mosquitto limited to a static-RSA TLS 1.2 suite and a CCM TLS 1.3 suite: nothing rustls offers.
#[test]
fn no_common_cipher_suite() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(
        &ca,
        &ca.issue(&Leaf::server()),
        "ciphers AES128-GCM-SHA256\nciphers_tls1.3 TLS_AES_128_CCM_SHA256\n",
    );
    let (report, code) = broker.doctor(Some(&ca.pem), &[]);

    assert_eq!(code, 1, "{report:#?}");
    let finding = report.finding("tls.handshake_failed");
    assert!(
        finding.detail.contains("HandshakeFailure"),
        "{}",
        finding.detail
    );
    assert!(evidence(finding, "offered_suites").contains("TLS13_AES_128_GCM_SHA256"));
}

#[test]
fn unusable_ca_files() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server()), "");
    let missing = broker.files.path().join("nope.pem").display().to_string();
    let (report, code) = broker.doctor(None, &["--cafile", &missing]);
    assert_eq!(code, 1);
    let finding = report.finding("tls.ca_file_invalid");
    assert_eq!(evidence(finding, "problem"), "the file does not exist");

    let garbage = broker.file("garbage.pem", "this is not a certificate\n");
    let (report, _) = broker.doctor(None, &["--cafile", &garbage]);
    assert!(
        evidence(report.finding("tls.ca_file_invalid"), "problem").contains("no PEM certificate")
    );

    let truncated = broker.file("truncated.pem", &ca.pem[..ca.pem.len() / 2]);
    let (report, _) = broker.doctor(None, &["--cafile", &truncated]);
    assert!(evidence(report.finding("tls.ca_file_invalid"), "problem").contains("END"));
}

#[test]
fn mutual_tls_with_a_trusted_client_certificate() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(
        &ca,
        &ca.issue(&Leaf::server()),
        "require_certificate true\n",
    );
    let client = ca.issue(&Leaf::client("device-17"));
    let cert = broker.file("client.pem", &client.cert);
    let key = broker.file("client.key", &client.key);
    let (report, code) = broker.doctor(Some(&ca.pem), &["--cert", &cert, "--key", &key]);

    assert_eq!(code, 0, "{report:#?}");
    let ok = report.finding("tls.ok");
    assert_eq!(ok.evidence["client_certificate_requested"], true);
    assert!(evidence(ok, "client_certificate").starts_with("CN=device-17"));
}

#[test]
fn client_certificate_required_but_not_given() {
    for version in ["tlsv1.3", "tlsv1.2"] {
        let ca = Ca::new("mqtt-doctor test CA");
        let extra = format!("require_certificate true\ntls_version {version}\n");
        let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server()), &extra);
        let (report, code) = broker.doctor(Some(&ca.pem), &[]);

        assert_eq!(code, 1, "{version}: {report:#?}");
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some("tls.client_cert_required"),
            "{version}"
        );
        assert!(
            report
                .finding("tls.client_cert_required")
                .fix
                .as_deref()
                .unwrap()
                .contains("--cert")
        );
    }
}

#[test]
fn client_certificate_from_an_untrusted_ca() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(
        &ca,
        &ca.issue(&Leaf::server()),
        "require_certificate true\n",
    );
    let rogue = Ca::new("Rogue CA");
    let client = rogue.issue(&Leaf::client("device-17"));
    let cert = broker.file("client.pem", &client.cert);
    let key = broker.file("client.key", &client.key);
    let (report, code) = broker.doctor(Some(&ca.pem), &["--cert", &cert, "--key", &key]);

    assert_eq!(code, 1, "{report:#?}");
    let finding = report.finding("tls.client_cert_rejected");
    assert!(finding.detail.contains("unknown_ca"), "{}", finding.detail);
    assert_eq!(evidence(finding, "client_issuer"), "CN=Rogue CA");
    let _ = &broker.ca;
}

#[test]
fn client_certificate_checked_before_connecting() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(
        &ca,
        &ca.issue(&Leaf::server()),
        "require_certificate true\n",
    );
    let good = ca.issue(&Leaf::client("device-17"));
    let other = ca.issue(&Leaf::client("device-18"));

    // A key that belongs to another certificate.
    let cert = broker.file("client.pem", &good.cert);
    let wrong_key = broker.file("other.key", &other.key);
    let (report, code) = broker.doctor(Some(&ca.pem), &["--cert", &cert, "--key", &wrong_key]);
    assert_eq!(code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.client_key_mismatch")
    );

    // An expired client certificate.
    let expired = ca.issue(&Leaf::client("device-17").valid(-100, -1));
    let cert = broker.file("expired.pem", &expired.cert);
    let key = broker.file("expired.key", &expired.key);
    let (report, _) = broker.doctor(Some(&ca.pem), &["--cert", &cert, "--key", &key]);
    assert!(
        report
            .finding("tls.client_cert_expired")
            .detail
            .contains("expired on")
    );

    // A certificate issued for servers only.
    let server_only =
        ca.issue(&Leaf::client("device-17").eku(vec![ExtendedKeyUsagePurpose::ServerAuth]));
    let cert = broker.file("server-only.pem", &server_only.cert);
    let key = broker.file("server-only.key", &server_only.key);
    let (report, _) = broker.doctor(Some(&ca.pem), &["--cert", &cert, "--key", &key]);
    assert!(
        report
            .finding("tls.client_cert_bad_purpose")
            .detail
            .contains("serverAuth")
    );

    // Files that are not what they claim; the key's content never shows.
    let not_a_key = broker.file(
        "bad.key",
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n",
    );
    let cert = broker.file("client.pem", &good.cert);
    let (report, _) = broker.doctor(Some(&ca.pem), &["--cert", &cert, "--key", &not_a_key]);
    let finding = report.finding("tls.client_cert_invalid");
    assert!(
        evidence(finding, "problem").contains("END line"),
        "{:?}",
        finding.evidence
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("c2VjcmV0"), "key material leaked");

    let missing = broker
        .files
        .path()
        .join("missing.pem")
        .display()
        .to_string();
    let (report, _) = broker.doctor(Some(&ca.pem), &["--cert", &missing, "--key", &not_a_key]);
    assert_eq!(
        evidence(report.finding("tls.client_cert_invalid"), "problem"),
        "the file does not exist"
    );
}

#[test]
fn insecure_is_loud() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &Leaf::server().self_signed(), "");
    let (report, code) = broker.doctor(None, &["--insecure"]);

    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.verdict.status.as_str(), "warn");
    let finding = report.finding("tls.insecure");
    assert!(
        finding.detail.contains("NOT verified") && finding.detail.contains("would have failed"),
        "{}",
        finding.detail
    );
    assert_eq!(report.finding("tls.ok").status.as_str(), "info");
}

/// A system without CA certificates (a distroless image): the built-in roots stand in.
#[test]
fn builtin_roots_when_the_system_has_none() {
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &Leaf::server().self_signed(), "");
    let mut command = doctor_command();
    let empty = broker.files.path().join("no-such-bundle.pem");
    command
        .env("SSL_CERT_FILE", &empty)
        .env("SSL_CERT_DIR", &empty);
    let out = run_with(command, &["doctor", &broker.url(), "--format", "json"]);
    let report = out.report();

    assert_eq!(report.finding("tls.builtin_roots").status.as_str(), "info");
    assert!(
        evidence(report.finding("tls.unknown_issuer"), "trust")
            .starts_with("built-in Mozilla roots")
    );
}

#[test]
fn hivemq_without_sni_is_warned_and_a_servername_clears_it() {
    // HiveMQ Cloud picks the cluster by SNI (HiveMQ Cloud's documentation). Mosquitto does not care, so
    // the handshake passes and the warning stands alone: it is about the broker named.
    let ca = Ca::new("mqtt-doctor test CA");
    let broker = TlsBroker::start(&ca, &ca.issue(&Leaf::server()), "");
    let (report, code) = broker.doctor(Some(&ca.pem), &["--preset", "hivemq"]);
    assert_eq!(code, 0, "{:?}", report.ids());
    let no_sni = report.finding("tls.no_sni");
    assert_eq!(evidence(no_sni, "address"), "127.0.0.1");
    assert!(no_sni.fix.as_deref().unwrap().contains("--servername"));
    assert_eq!(report.stage_status("tls"), "warn");

    let (named, _) = broker.doctor(
        Some(&ca.pem),
        &["--preset", "hivemq", "--servername", "localhost"],
    );
    assert!(!named.ids().contains(&"tls.no_sni"), "{:?}", named.ids());
    let (other, _) = broker.doctor(Some(&ca.pem), &[]);
    assert!(!other.ids().contains(&"tls.no_sni"), "{:?}", other.ids());
}

/// A client certificate the broker's CRL revokes (Mosquitto `crlfile`): its own finding, whose
/// fix is a new certificate or the list, never the CA file. A certificate the list does not name
/// still connects through the same listener.
#[test]
fn a_revoked_client_certificate_is_named_as_revoked() {
    let ca = Ca::new("mqtt-doctor CRL CA");
    let files = tempfile::tempdir().unwrap();
    let crl = write(files.path(), "revoked.crl", &ca.crl(&[4242]));
    let broker = TlsBroker::start(
        &ca,
        &ca.issue(&Leaf::server()),
        &format!("require_certificate true\ncrlfile {}\n", crl.display()),
    );
    let revoked = ca.issue(&Leaf::client("device-lost").serial(4242));
    let cert = broker.file("lost.pem", &revoked.cert);
    let key = broker.file("lost.key", &revoked.key);
    let (report, code) = broker.doctor(Some(&ca.pem), &["--cert", &cert, "--key", &key]);
    assert_eq!(code, 1, "{:?}", report.ids());
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.client_cert_revoked"),
        "{:?}",
        report.ids()
    );
    let finding = report.finding("tls.client_cert_revoked");
    assert_eq!(evidence(finding, "client_serial"), "10:92");
    let fix = finding.fix.as_deref().unwrap();
    assert!(
        fix.contains("new certificate") && fix.contains("crlfile"),
        "{fix}"
    );
    assert!(!fix.contains("cafile"), "{fix}");

    let fine = ca.issue(&Leaf::client("device-ok").serial(7));
    let cert = broker.file("ok.pem", &fine.cert);
    let key = broker.file("ok.key", &fine.key);
    let (report, code) = broker.doctor(Some(&ca.pem), &["--cert", &cert, "--key", &key]);
    assert_eq!(code, 0, "{:?}", report.ids());
}

/// `--save-chain FILE` writes what the broker presented, as PEM, whether the chain is trusted or
/// not; a path that cannot be written is a warning, and the check goes on.
#[test]
fn the_presented_chain_is_saved_as_pem() {
    let ca = Ca::new("mqtt-doctor chain CA");
    let server = ca.issue(&Leaf::server());
    let broker = TlsBroker::start(&ca, &server, "");
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("chain.pem");
    let path_arg = path.display().to_string();

    // Mosquitto (OpenSSL) sends the leaf and, from its cafile, the CA: both, in that order.
    let presented = format!("{}{}", server.cert, ca.pem);
    // Not trusted (no --cafile): the chain is what a person wants to look at.
    let (report, code) = broker.doctor(None, &["--save-chain", &path_arg]);
    assert_eq!(code, 1, "{:?}", report.ids());
    let saved = report.finding("tls.chain_saved");
    assert_eq!(saved.evidence["certificates"], 2);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), presented);

    // Trusted: the same file, and the run passes.
    std::fs::remove_file(&path).unwrap();
    let (report, code) = broker.doctor(Some(&ca.pem), &["--save-chain", &path_arg]);
    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), presented);

    // A directory that does not exist: a warning that names the path; the run goes on.
    let nowhere = out.path().join("missing/chain.pem").display().to_string();
    let (report, code) = broker.doctor(Some(&ca.pem), &["--save-chain", &nowhere]);
    assert_eq!(code, 0, "{:?}", report.ids());
    let saved = report.finding("tls.chain_saved");
    assert_eq!(saved.status.as_str(), "warn");
    assert!(saved.detail.contains(&nowhere), "{}", saved.detail);
}

/// An intermediate that expired (or is not valid yet) under a leaf that is fine: the finding
/// names the intermediate with its own dates, and never calls the leaf expired.
#[test]
fn an_out_of_date_intermediate_is_named_not_the_leaf() {
    let root = Ca::new("mqtt-doctor root CA");
    for (from, until, id, says) in [
        (-400, -10, "tls.expired", "expired on"),
        (10, 400, "tls.not_yet_valid", "is not valid before"),
    ] {
        let intermediate = root.intermediate("mqtt-doctor issuing CA", from, until);
        let leaf = intermediate.issue(&Leaf::server());
        // The broker's certfile: its certificate, then the intermediate.
        let served = Pair {
            cert: format!("{}{}", leaf.cert, intermediate.pem),
            key: leaf.key.clone(),
        };
        let broker = TlsBroker::start(&root, &served, "");
        let (report, code) = broker.doctor(Some(&root.pem), &[]);
        assert_eq!(code, 1, "{:?}", report.ids());
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some(id),
            "{:?}",
            report.ids()
        );
        let finding = report.finding(id);
        assert!(
            finding.detail.starts_with(
                "Certificate 2 of the broker's chain, CN=mqtt-doctor issuing CA (issued by CN=mqtt-doctor root CA)"
            ),
            "{}",
            finding.detail
        );
        assert!(finding.detail.contains(says), "{}", finding.detail);
        assert!(
            finding
                .detail
                .contains("the broker's own certificate is fine")
        );
        assert_eq!(finding.evidence["chain_position"], 2);
        assert!(!finding.detail.contains("days ago"), "{}", finding.detail);
    }
}

/// A root, an intermediate under it, and a broker certificate from the intermediate, as public
/// and most enterprise PKIs issue them.
fn root_and_intermediate() -> (Ca, Ca) {
    let root = Ca::new("mqtt-doctor test root");
    let intermediate = root.intermediate("mqtt-doctor test intermediate", -30, 1000);
    (root, intermediate)
}

#[test]
fn leaf_sent_without_its_intermediate_is_an_incomplete_chain() {
    let (root, intermediate) = root_and_intermediate();
    let url = "http://pki.example.test/intermediate.crt";
    let server = intermediate.issue(&Leaf::server().ca_issuers(url));
    let broker = TlsBroker::start(&root, &server, "");
    let (report, code) = broker.doctor(Some(&root.pem), &[]);

    assert_eq!(code, 1, "{:?}", report.ids());
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.incomplete_chain")
    );
    let finding = report.finding("tls.incomplete_chain");
    assert_eq!(
        evidence(finding, "missing_issuer"),
        "CN=mqtt-doctor test intermediate"
    );
    assert_eq!(finding.evidence["ca_issuers"][0], url);
    // rcgen's key ids are 20 bytes: 20 hex pairs joined by colons.
    assert_eq!(
        evidence(finding, "missing_issuer_key_id")
            .split(':')
            .count(),
        20,
        "{:?}",
        finding.evidence
    );
    assert!(
        finding.detail.contains(
            "without the intermediate CA that issued it: CN=mqtt-doctor test intermediate"
        ),
        "{}",
        finding.detail
    );
    let fix = finding.fix.as_deref().unwrap();
    assert!(
        fix.contains("certfile") && fix.contains("followed by its intermediates"),
        "{fix}"
    );
    assert!(
        fix.contains(url) && fix.contains("--cafile instead"),
        "{fix}"
    );
    assert!(report.ids().iter().all(|id| *id != "tls.unknown_issuer"));
}

#[test]
fn intermediate_in_the_client_certificate_file_shows_the_chain_incomplete() {
    // No AIA on the broker's certificate: the client's own chain file holds the intermediate,
    // which proves the broker's issuer is one.
    let (root, intermediate) = root_and_intermediate();
    let broker = TlsBroker::start(&root, &intermediate.issue(&Leaf::server()), "");
    let client = intermediate.issue(&Leaf::client("sensor-1"));
    let cert = broker.file(
        "client-chain.pem",
        &format!("{}{}", client.cert, intermediate.pem),
    );
    let key = broker.file("client.key", &client.key);
    let (report, code) = broker.doctor(Some(&root.pem), &["--cert", &cert, "--key", &key]);

    assert_eq!(code, 1, "{:?}", report.ids());
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.incomplete_chain")
    );
    let finding = report.finding("tls.incomplete_chain");
    assert_eq!(finding.evidence["issuer_in_client_certificate_file"], true);
    assert_eq!(finding.evidence["ca_issuers"], serde_json::json!([]));
    assert_eq!(evidence(finding, "missing_issuer_key_id"), "none");
    assert!(finding.detail.contains("--cert"), "{}", finding.detail);
}

#[test]
fn leaf_sent_alone_with_nothing_to_tell_stays_an_unknown_issuer_naming_both_causes() {
    // The root given and an intermediate missing, or a leaf from a root not given: from the
    // client these look alike, so the finding is the unknown issuer and says both.
    let (root, intermediate) = root_and_intermediate();
    let broker = TlsBroker::start(&root, &intermediate.issue(&Leaf::server()), "");
    let (report, code) = broker.doctor(Some(&root.pem), &[]);

    assert_eq!(code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.unknown_issuer")
    );
    let finding = report.finding("tls.unknown_issuer");
    assert_eq!(
        evidence(finding, "issuer"),
        "CN=mqtt-doctor test intermediate"
    );
    assert!(
        finding
            .detail
            .contains("may instead be an intermediate CA the broker should send with it"),
        "{}",
        finding.detail
    );
    let fix = finding.fix.as_deref().unwrap();
    assert!(fix.contains("certfile"), "{fix}");
}

#[test]
fn full_chain_in_the_certfile_passes() {
    let (root, intermediate) = root_and_intermediate();
    let leaf = intermediate.issue(&Leaf::server().ca_issuers("http://pki.example.test/i.crt"));
    let full_chain = Pair {
        cert: format!("{}{}", leaf.cert, intermediate.pem),
        key: leaf.key,
    };
    let broker = TlsBroker::start(&root, &full_chain, "");
    let (report, code) = broker.doctor(Some(&root.pem), &[]);

    assert_eq!(code, 0, "{:?}", report.ids());
    let chain = &report.finding("tls.ok").evidence["chain"];
    assert_eq!(chain[1]["subject"], "CN=mqtt-doctor test intermediate");
}

#[test]
fn leaf_from_a_private_root_not_given_is_an_unknown_issuer() {
    let root = Ca::new("Factory Private Root");
    let broker = TlsBroker::start(&root, &root.issue(&Leaf::server()), "");
    let (report, code) = broker.doctor(None, &[]);

    assert_eq!(code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.unknown_issuer")
    );
    let finding = report.finding("tls.unknown_issuer");
    assert_eq!(evidence(finding, "issuer"), "CN=Factory Private Root");
    assert!(
        !finding.detail.contains("intermediate"),
        "{}",
        finding.detail
    );
}
