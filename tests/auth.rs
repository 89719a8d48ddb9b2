//! The auth stage and `token inspect`: tokens minted here (Kubernetes-shaped, EMQX-shaped,
//! HS256/RS256/ES256, unsigned, broken), read from files, arguments and stdin.

mod common;

use std::io::Write as _;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::jwt::{EcKey, RsaKey, Token, kubernetes, now};
use common::{
    Mosquitto, ReportExt, StageExt, doctor_command, doctor_json, evidence, run, run_with,
};
use mqtt_doctor::report::TokenReport;
use serde_json::json;

const HOUR: i64 = 3600;

/// Runs `token inspect <args> --format json` and returns the report and the exit code.
fn inspect(args: &[&str]) -> (TokenReport, i32) {
    let mut all = vec!["token", "inspect"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = run(&all);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    (run.token_report(), run.code)
}

/// Inspects `token` given as an argument.
fn inspect_token(token: &str, extra: &[&str]) -> (TokenReport, i32) {
    let mut args = vec!["--token", token];
    args.extend_from_slice(extra);
    inspect(&args)
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An EMQX-style device token: HS256, the device's issuer and client id as claims.
fn device_token(iss: &str) -> Token {
    Token::new("HS256")
        .claim("iss", iss)
        .claim("sub", "esp32-sensor-01")
        .claim("clientid", "esp32-sensor-01")
        .lifetime(-60, HOUR)
}

#[test]
fn a_valid_kubernetes_token_is_shown_with_its_service_account() {
    let token = kubernetes(
        "azure-iot-operations",
        "mqtt-client",
        &["aio-internal"],
        -HOUR,
        23 * HOUR,
    )
    .hs256(b"k");
    let (report, code) = inspect_token(&token, &["--audience", "aio-internal"]);
    assert_eq!(code, 0, "{report:?}");
    assert_eq!(report.ids(), ["token.ok"]);
    let ok = report.finding("token.ok");
    let k8s = evidence(ok, "kubernetes");
    assert!(
        k8s.contains("azure-iot-operations") && k8s.contains("mqtt-client"),
        "{k8s}"
    );
    assert!(
        k8s.contains("mqtt-client-7d9f") && k8s.contains("aks-node-0"),
        "{k8s}"
    );
    let exp = evidence(ok, "exp");
    assert!(exp.contains("(in 22h") || exp.contains("(in 23h"), "{exp}");
    assert_eq!(evidence(ok, "lifetime"), "1d");
    assert!(evidence(ok, "token").contains("bytes, fp:"));
    assert!(
        report
            .verdict
            .summary
            .contains("Kubernetes token for azure-iot-operations/mqtt-client")
    );
}

#[test]
fn an_expired_kubernetes_token_names_the_refresh_problem() {
    let dir = tempfile::tempdir().unwrap();
    let token = kubernetes("ns", "client", &["aio-internal"], -25 * HOUR, -HOUR).hs256(b"k");
    let file = write(dir.path(), "broker-sat", &token);
    let (report, code) = inspect(&[path(&file), "--audience", "aio-internal"]);
    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("token.expired"));
    let expired = report.finding("token.expired");
    assert_eq!(expired.status.as_str(), "fail");
    assert!(evidence(expired, "exp").contains("1h ago"), "{expired:?}");
    let fix = expired.fix.as_deref().unwrap();
    assert!(
        fix.contains("subPath")
            && fix.contains("kubectl create token client -n ns --audience aio-internal"),
        "{fix}"
    );
    // The claims are still shown, as a separate finding.
    let decoded = report.finding("token.decoded");
    assert_eq!(
        evidence(decoded, "projected_volume"),
        "no (a plain file: nothing refreshes it)"
    );
}

#[test]
fn not_yet_valid_and_clock_skew() {
    let future = Token::new("HS256")
        .claim("nbf", now() + HOUR)
        .lifetime(0, 2 * HOUR)
        .hs256(b"k");
    let (report, code) = inspect_token(&future, &[]);
    assert_eq!(code, 1);
    let finding = report.finding("token.not_yet_valid");
    assert!(
        finding.detail.contains("1h from now") || finding.detail.contains("59m"),
        "{}",
        finding.detail
    );
    assert!(finding.fix.as_deref().unwrap().contains("NTP"));

    // iat an hour ahead: the minting clock runs fast. A warning, a failure with --strict.
    let skewed = Token::new("HS256").lifetime(HOUR, 2 * HOUR).hs256(b"k");
    let (report, code) = inspect_token(&skewed, &[]);
    assert_eq!(code, 0);
    assert_eq!(report.verdict.status.as_str(), "warn");
    let skew = report.finding("token.clock_skew");
    assert_eq!(skew.status.as_str(), "warn");
    assert!(
        skew.detail.contains("in the future") || skew.detail.contains("from now"),
        "{}",
        skew.detail
    );
    let (_, code) = inspect_token(&skewed, &["--strict"]);
    assert_eq!(code, 1);
}

/// Seed guide 002: an ESP32 that signs its JWT before SNTP has set its clock mints a token
/// issued in 1970, expired at birth, and EMQX answers return code 4.
#[test]
fn a_token_minted_by_an_unset_clock_is_recognised() {
    let token = Token::new("HS256")
        .claim("iss", "esp32-sensor")
        .claim("iat", 12)
        .claim("exp", 12 + HOUR)
        .hs256(b"k");
    let (report, _) = inspect_token(&token, &[]);
    let skew = report.finding("token.clock_skew");
    assert!(skew.detail.contains("1970-01-01"), "{}", skew.detail);
    assert!(
        skew.fix.as_deref().unwrap().contains("SNTP")
            || skew
                .fix
                .as_deref()
                .unwrap()
                .contains("time synchronisation")
    );
    let expired = report.finding("token.expired");
    assert!(
        expired.fix.as_deref().unwrap().contains("never set"),
        "{expired:?}"
    );
}

#[test]
fn expiring_soon_and_the_kubelet_refresh_point() {
    let token = Token::new("HS256").lifetime(-HOUR, 300).hs256(b"k");
    let (report, code) = inspect_token(&token, &[]);
    assert_eq!(code, 0);
    let soon = report.finding("token.expiring_soon");
    assert!(
        soon.detail.contains("expires in 4m") || soon.detail.contains("expires in 5m"),
        "{}",
        soon.detail
    );
    let (report, _) = inspect_token(&token, &["--token-expiry-warning", "1m"]);
    assert_eq!(report.ids(), ["token.ok"]);

    // A projected volume as the kubelet lays it out: FILE -> ..data/FILE, ..data -> ..TIMESTAMP.
    // A 24 h token that is 21 h old is past the kubelet's refresh point (80%, 19h12m).
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("..2026_11_22_10_00_00.123");
    std::fs::create_dir(&stamp).unwrap();
    let token = kubernetes("ns", "client", &["aio-internal"], -21 * HOUR, 3 * HOUR).hs256(b"k");
    write(&stamp, "broker-sat", &token);
    symlink("..2026_11_22_10_00_00.123", dir.path().join("..data")).unwrap();
    symlink("..data/broker-sat", dir.path().join("broker-sat")).unwrap();
    let file = dir.path().join("broker-sat");
    let (report, _) = inspect(&[path(&file)]);
    let stale = report.finding("token.expiring_soon");
    assert!(
        stale.detail.contains("not being refreshed"),
        "{}",
        stale.detail
    );
    assert_eq!(evidence(stale, "kubelet_refresh_after"), "19h 12m");
    let decoded = report.finding("token.decoded");
    assert!(evidence(decoded, "projected_volume").starts_with("yes"));
}

#[test]
fn audience_mismatch_as_string_and_as_list() {
    let as_string = Token::new("HS256")
        .claim("aud", "aio-mq")
        .lifetime(0, HOUR)
        .hs256(b"k");
    let (report, code) = inspect_token(&as_string, &["--audience", "aio-internal"]);
    assert_eq!(code, 1);
    let mismatch = report.finding("token.audience_mismatch");
    assert_eq!(evidence(mismatch, "expected"), "aio-internal");
    assert_eq!(evidence(mismatch, "aud"), "aio-mq");

    // The pod's default token: its audience is the API server, which no broker accepts.
    let api = kubernetes(
        "ns",
        "default",
        &["https://kubernetes.default.svc.cluster.local", "k3s"],
        0,
        HOUR,
    )
    .hs256(b"k");
    let (report, _) = inspect_token(&api, &["--audience", "aio-internal"]);
    let mismatch = report.finding("token.audience_mismatch");
    assert_eq!(
        evidence(mismatch, "aud"),
        r#"["https://kubernetes.default.svc.cluster.local","k3s"]"#
    );
    let fix = mismatch.fix.as_deref().unwrap();
    assert!(fix.contains("audience: aio-internal"), "{fix}");
    assert!(
        fix.contains("kubectl create token default -n ns --audience aio-internal"),
        "{fix}"
    );
    assert!(fix.contains("default service-account token"), "{fix}");

    // The expected audience anywhere in the list is enough.
    let listed = kubernetes("ns", "client", &["other", "aio-internal"], 0, HOUR).hs256(b"k");
    let (report, code) = inspect_token(&listed, &["--audience", "aio-internal"]);
    assert_eq!((code, report.ids()), (0, vec!["token.ok"]));
}

#[test]
fn legacy_secret_tokens_never_expire_and_have_no_audience() {
    let legacy = Token::new("RS256")
        .claim("iss", "kubernetes/serviceaccount")
        .claim("kubernetes.io/serviceaccount/namespace", "factory")
        .claim(
            "kubernetes.io/serviceaccount/service-account.name",
            "gateway",
        )
        .claim("sub", "system:serviceaccount:factory:gateway")
        .hs256(b"k");
    let (report, code) = inspect_token(&legacy, &[]);
    assert_eq!(code, 0);
    let ok = report.finding("token.ok");
    assert!(evidence(ok, "exp").contains("legacy"), "{ok:?}");
    assert!(
        report
            .verdict
            .summary
            .contains("legacy Kubernetes token for factory/gateway")
    );
    let (report, _) = inspect_token(&legacy, &["--audience", "aio-internal"]);
    let mismatch = report.finding("token.audience_mismatch");
    assert!(mismatch.detail.contains("legacy"), "{}", mismatch.detail);
}

/// Seed guide 002: the firmware minted `iss: esp32-device`, the broker expected `esp32-sensor`.
#[test]
fn issuer_mismatch() {
    let token = device_token("esp32-device").hs256(b"k");
    let (report, code) = inspect_token(&token, &["--issuer", "esp32-sensor"]);
    assert_eq!(code, 1);
    let mismatch = report.finding("token.issuer_mismatch");
    assert_eq!(evidence(mismatch, "iss"), "esp32-device");
    assert_eq!(evidence(mismatch, "expected"), "esp32-sensor");
    assert!(mismatch.fix.as_deref().unwrap().contains("firmware"));
    let other = report.finding("token.decoded");
    assert!(evidence(other, "other_claims").contains("clientid"));
}

#[test]
fn hmac_signatures_with_raw_and_base64_secrets() {
    let secret = "emqx-jwt-secret-0123456789";
    let token = device_token("esp32-sensor").hs256(secret.as_bytes());
    let (report, code) = inspect_token(&token, &["--jwt-secret", secret]);
    assert_eq!(code, 0);
    let ok = report.finding("token.signature_ok");
    assert!(evidence(ok, "key").starts_with("--jwt-secret"));
    assert!(report.ids().contains(&"token.ok"));

    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret);
    let (report, _) = inspect_token(&token, &["--jwt-secret", &encoded, "--jwt-secret-base64"]);
    report.finding("token.signature_ok");

    let (report, code) = inspect_token(&token, &["--jwt-secret", "another-secret"]);
    assert_eq!(code, 1);
    let invalid = report.finding("token.signature_invalid");
    assert!(invalid.fix.as_deref().unwrap().contains("0x87"));

    let (report, _) = inspect_token(
        &token,
        &["--jwt-secret", "not base64!", "--jwt-secret-base64"],
    );
    let key = report.finding("token.key_invalid");
    assert!(key.detail.contains("not base64"), "{}", key.detail);
}

#[test]
fn rsa_and_ecdsa_signatures_with_pem_keys_and_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = RsaKey::generate();
    let other_rsa = RsaKey::generate();
    let ec = EcKey::generate();
    let rsa_pub = write(dir.path(), "rsa.pub.pem", &rsa.public_pem);
    let other_pub = write(dir.path(), "other.pub.pem", &other_rsa.public_pem);
    let ec_pub = write(dir.path(), "ec.pub.pem", &ec.public_pem);

    let claims = Token::new("RS256")
        .header("kid", "key-2026")
        .claim("sub", "dev")
        .lifetime(0, HOUR);
    let rs256 = claims.rs256(&rsa);
    let (report, code) = inspect_token(&rs256, &["--jwt-key", path(&rsa_pub)]);
    assert_eq!(code, 0, "{report:?}");
    report.finding("token.signature_ok");
    let (report, _) = inspect_token(&rs256, &["--jwt-key", path(&other_pub)]);
    let invalid = report.finding("token.signature_invalid");
    assert!(
        evidence(invalid, "keys_tried").contains("RSA 2048-bit"),
        "{invalid:?}"
    );

    // JWKS: the key is picked by kid.
    let jwks = json!({ "keys": [other_rsa.jwk("old-key"), rsa.jwk("key-2026")] });
    let jwks_file = write(dir.path(), "jwks.json", &jwks.to_string());
    let (report, _) = inspect_token(&rs256, &["--jwks", path(&jwks_file)]);
    assert!(evidence(report.finding("token.signature_ok"), "key").contains("kid \"key-2026\""));
    let only_old = write(
        dir.path(),
        "old.json",
        &json!({ "keys": [other_rsa.jwk("old-key")] }).to_string(),
    );
    let (report, _) = inspect_token(&rs256, &["--jwks", path(&only_old)]);
    let missing_kid = report.finding("token.signature_invalid");
    assert!(
        missing_kid.detail.contains("\"key-2026\""),
        "{}",
        missing_kid.detail
    );

    let es256 = Token::new("ES256")
        .claim("sub", "dev")
        .lifetime(0, HOUR)
        .es256(&ec);
    let (report, code) = inspect_token(&es256, &["--jwt-key", path(&ec_pub)]);
    assert_eq!(code, 0, "{report:?}");
    report.finding("token.signature_ok");

    // An HS256 token checked with an RSA key never verifies, and the doctor says why.
    let hs256 = device_token("esp32-sensor").hs256(b"k");
    let (report, _) = inspect_token(&hs256, &["--jwt-key", path(&rsa_pub)]);
    let confusion = report.finding("token.signature_invalid");
    assert!(
        confusion.detail.contains("different types"),
        "{}",
        confusion.detail
    );

    // ES512 is beyond ring: said, not guessed.
    let es512 = Token::new("ES512")
        .claim("sub", "dev")
        .lifetime(0, HOUR)
        .with_signature(&[7; 132]);
    let (report, code) = inspect_token(&es512, &["--jwt-key", path(&ec_pub)]);
    assert_eq!(code, 0);
    assert!(
        report
            .finding("token.signature_unchecked")
            .detail
            .contains("ES512")
    );

    // A private key where the public key belongs: named, never quoted.
    let private = write(dir.path(), "rsa.key", &rsa.private_pem);
    let run = run(&[
        "token",
        "inspect",
        "--token",
        &rs256,
        "--jwt-key",
        path(&private),
    ]);
    assert!(
        run.stdout.contains("token.key_invalid") && run.stdout.contains("private key"),
        "{}",
        run.stdout
    );
    let body = rsa.private_pem.lines().nth(1).unwrap();
    assert!(!run.stdout.contains(body) && !run.stderr.contains(body));
}

#[test]
fn alg_none_always_fails() {
    let unsigned = Token::new("none")
        .claim("sub", "dev")
        .lifetime(0, HOUR)
        .unsigned();
    let (report, code) = inspect_token(&unsigned, &[]);
    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("token.alg_none"));
    assert_eq!(
        evidence(report.finding("token.decoded"), "signature"),
        "none"
    );
}

#[test]
fn malformed_tokens_name_the_broken_part() {
    let (report, code) = inspect_token("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0", &[]);
    assert_eq!(code, 1);
    let malformed = report.finding("token.malformed");
    assert_eq!(evidence(malformed, "parts"), "2");
    assert!(malformed.detail.contains("three"), "{}", malformed.detail);

    let not_json = format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
        common::jwt::b64(b"{\"exp\": 17")
    );
    let (report, _) = inspect_token(&not_json, &[]);
    let malformed = report.finding("token.malformed");
    assert_eq!(evidence(malformed, "broken_part"), "payload");
    assert!(
        malformed.detail.contains("not JSON"),
        "{}",
        malformed.detail
    );

    let standard_alphabet = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.ab+/cd";
    let (report, _) = inspect_token(standard_alphabet, &[]);
    let malformed = report.finding("token.malformed");
    assert_eq!(evidence(malformed, "broken_part"), "signature");
    assert!(
        malformed.detail.contains("base64url"),
        "{}",
        malformed.detail
    );

    let no_alg = Token::new("HS256");
    let no_alg = Token {
        header: json!({ "typ": "JWT" }),
        ..no_alg
    }
    .hs256(b"k");
    let (report, _) = inspect_token(&no_alg, &[]);
    assert_eq!(
        evidence(report.finding("token.malformed"), "broken_part"),
        "header"
    );

    // The signature cut off: no key could ever verify it, key or not.
    let cut = Token::new("HS256").lifetime(0, HOUR).with_signature(b"");
    let (report, code) = inspect_token(&cut, &[]);
    assert_eq!(code, 1);
    assert!(
        report
            .finding("token.signature_invalid")
            .detail
            .contains("cut off")
    );

    let (report, _) = inspect_token("", &[]);
    report.finding("token.empty");

    let wrong_type = Token::new("HS256").claim("exp", "tomorrow").hs256(b"k");
    let (report, _) = inspect_token(&wrong_type, &[]);
    let malformed = report.finding("token.malformed");
    assert_eq!(evidence(malformed, "claim"), "exp");
}

#[test]
fn token_files_missing_empty_padded_and_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broker-sat2", "x");
    let missing = dir.path().join("broker-sat");
    let (report, code) = inspect(&[path(&missing)]);
    assert_eq!(code, 1);
    let finding = report.finding("token.missing");
    assert!(finding.detail.contains("broker-sat2"), "{}", finding.detail);
    let fix = finding.fix.as_deref().unwrap();
    assert!(
        fix.contains("serviceAccountToken:")
            && fix.contains("path: broker-sat")
            && fix.contains("subPath"),
        "{fix}"
    );

    let empty = write(dir.path(), "empty", "");
    let (report, _) = inspect(&[path(&empty)]);
    report.finding("token.empty");

    let token = device_token("esp32-sensor").hs256(b"k");
    let padded = write(dir.path(), "padded", &format!("{token}\n"));
    let (report, code) = inspect(&[path(&padded)]);
    assert_eq!(code, 0);
    assert_eq!(report.ids(), ["token.whitespace", "token.ok"]);
    assert_eq!(
        evidence(report.finding("token.whitespace"), "whitespace"),
        "a trailing newline"
    );

    let (report, _) = inspect(&[path(dir.path())]);
    let unreadable = report.finding("token.unreadable");
    assert!(
        unreadable.detail.contains("directory"),
        "{}",
        unreadable.detail
    );
}

/// Permissions only bite a user without CAP_DAC_OVERRIDE: run the doctor as `nobody`.
#[test]
fn a_token_file_the_user_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let file = write(dir.path(), "broker-sat", &device_token("x").hs256(b"k"));
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut command = doctor_command();
    if common::is_root() {
        command = std::process::Command::new("setpriv");
        command.env_clear().args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            common::BIN,
        ]);
    }
    let run = run_with(
        command,
        &["token", "inspect", path(&file), "--format", "json"],
    );
    let report = run.token_report();
    let unreadable = report.finding("token.unreadable");
    assert_eq!(evidence(unreadable, "error"), "permission denied");
    assert_eq!(evidence(unreadable, "mode"), "600");
    assert!(unreadable.fix.as_deref().unwrap().contains("fsGroup"));
}

#[test]
fn tokens_from_stdin_arguments_and_the_environment() {
    let token = device_token("esp32-sensor").hs256(b"k");
    let mut child = doctor_command()
        .args(["token", "inspect", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report: TokenReport =
        common::parse_valid(&String::from_utf8(output.stdout).unwrap()).unwrap();
    assert_eq!(report.source, "standard input");
    report.finding("token.ok");

    let mut command = doctor_command();
    command.env("MQTT_DOCTOR_TOKEN", &token);
    let from_env = run_with(command, &["token", "inspect", "--format", "json"]);
    assert_eq!(from_env.token_report().source, "argument or environment");

    // A token pasted where the file belongs is refused without being echoed.
    let pasted = run(&["token", "inspect", &token]);
    assert_eq!(pasted.code, 2);
    assert!(
        pasted.stderr.contains("--token") && !pasted.stderr.contains(&token),
        "{}",
        pasted.stderr
    );
    assert_eq!(run(&["token", "inspect"]).code, 2);
}

#[test]
fn the_text_report_shows_claims_and_fixes() {
    let token = kubernetes("ns", "client", &["aio-mq"], -HOUR, HOUR).hs256(b"k");
    let run = run(&[
        "token",
        "inspect",
        "--token",
        &token,
        "--audience",
        "aio-internal",
    ]);
    assert_eq!(run.code, 1);
    for expected in [
        "token.audience_mismatch",
        "Fix:",
        "sub: system:serviceaccount:ns:client",
        "FAIL root cause token.audience_mismatch",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            run.stdout
        );
    }
}

#[test]
fn the_doctor_checks_the_token_before_the_broker_sees_it() {
    // A broker that refuses the token, as Azure IoT Operations refuses a wrong audience.
    let broker = Mosquitto::start("allow_anonymous false\n");
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let dir = tempfile::tempdir().unwrap();
    let token = kubernetes(
        "azure-iot-operations",
        "mqtt-client",
        &["aio-mq"],
        -HOUR,
        23 * HOUR,
    )
    .hs256(b"k");
    let file = write(dir.path(), "broker-sat", &token);
    let (report, code) = doctor_json(&[
        &url,
        "--token-file",
        path(&file),
        "--audience",
        "aio-internal",
    ]);
    assert_eq!(code, 1);
    assert_eq!(report.stage_status("tcp"), "pass");
    assert_eq!(report.stage_status("auth"), "fail");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("token.audience_mismatch")
    );
    assert_eq!(
        report.finding("token.audience_mismatch").stage.name(),
        "auth"
    );

    assert_eq!(
        report.finding("mqtt.not_authorized").status.as_str(),
        "fail"
    );

    // Without credentials the stage has nothing to do.
    let open = Mosquitto::start("");
    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{}", open.port)]);
    assert_eq!(code, 0);
    assert_eq!(report.stage_status("auth"), "skip");
    assert!(report.stage("auth").summary.contains("anonymous"));
}

/// EMQX takes the JWT as the MQTT password: a password that is a JWT is checked as one.
#[test]
fn a_password_that_is_a_jwt_is_checked_as_a_token() {
    let broker = Mosquitto::start("allow_anonymous false\n");
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let token = device_token("esp32-device").hs256(b"k");
    let mut command = doctor_command();
    command.env("MQTT_DOCTOR_PASSWORD", &token);
    let run = run_with(
        command,
        &[
            "doctor",
            &url,
            "-u",
            "esp32-sensor-01",
            "--issuer",
            "esp32-sensor",
            "--format",
            "json",
        ],
    );
    let report = run.report();
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("token.issuer_mismatch")
    );
    let credentials = report.finding("auth.credentials");
    assert_eq!(evidence(credentials, "username"), "esp32-sensor-01");
    assert!(evidence(credentials, "password").contains("bytes, fp:"));
    assert_eq!(
        evidence(report.finding("token.decoded"), "source"),
        "the password (a JWT)"
    );
}

#[test]
fn passwords_from_files_and_without_usernames() {
    let broker = Mosquitto::start("");
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "password", "hunter2\n");
    let (report, code) = doctor_json(&[&url, "-u", "alice", "--password-file", path(&file)]);
    assert_eq!(code, 0);
    // The newline is not part of the password: 7 bytes.
    assert!(evidence(report.finding("auth.credentials"), "password").starts_with("7 bytes"));

    let (report, code) = doctor_json(&[&url, "--password-file", path(&dir.path().join("nope"))]);
    assert_eq!(code, 1);
    let invalid = report.finding("auth.password_file_invalid");
    assert!(
        invalid.detail.contains("does not exist"),
        "{}",
        invalid.detail
    );
    report.finding("auth.password_without_username");

    let (report, code) = doctor_json(&[&url, "-P", "hunter2"]);
    assert_eq!(code, 0);
    assert_eq!(
        report
            .finding("auth.password_without_username")
            .status
            .as_str(),
        "warn"
    );
}

/// A pod spec's MQTT_DOCTOR_TOKEN must not stop anyone from trying --token-file.
#[test]
fn a_typed_option_beats_its_alternative_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "token",
        &device_token("esp32-sensor").hs256(b"k"),
    );
    let mut command = doctor_command();
    command.env("MQTT_DOCTOR_TOKEN", "not-a-token");
    let url = format!("127.0.0.1:{}", common::closed_port());
    let run = run_with(
        command,
        &[
            "doctor",
            &url,
            "--token-file",
            path(&file),
            "--format",
            "json",
        ],
    );
    let report = run.report();
    let ok = report.finding("token.ok");
    assert!(evidence(ok, "source").starts_with("file "), "{ok:?}");
}

#[test]
fn conflicting_credential_flags_are_usage_errors() {
    let both = run(&["doctor", "--password", "hunter2", "--password-file", "/x"]);
    assert_eq!(both.code, 2);
    assert!(!both.stderr.contains("hunter2"), "{}", both.stderr);
    let keys = run(&["doctor", "--jwt-secret", "s3cret", "--jwks", "/x"]);
    assert_eq!(keys.code, 2);
    assert!(!keys.stderr.contains("s3cret"), "{}", keys.stderr);
}

/// Times a token's author chose to be absurd: an `exp` far past the year 9999 and an `iat`
/// before 1970. The lifetime and the time left overflowed a subtraction (a panic in a debug
/// build); now they saturate, and the token is judged like any other.
#[test]
fn absurd_token_times_do_not_overflow() {
    for (exp, iat) in [(1e300, -5.0), (-1e300, 1e300)] {
        let token = Token::new("HS256")
            .claim("sub", "device")
            .claim("exp", exp)
            .claim("iat", iat)
            .hs256(b"k");
        // `inspect` fails the test on anything written to stderr, a panic's message included.
        let (report, code) = inspect_token(&token, &[]);
        assert!(code == 0 || code == 1, "exit {code}: {:?}", report.ids());
        assert!(
            report.findings.iter().any(|f| f.id == "token.decoded"),
            "{:?}",
            report.ids()
        );
    }
}
