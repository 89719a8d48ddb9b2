//! `--k8s-resources`: the client's settings against Azure IoT Operations' own resources, fed
//! real resource documents (fixtures/k8s, modelled on the examples of learn.microsoft.com's
//! "Configure BrokerListener", "Configure BrokerAuthentication" and "Configure
//! BrokerAuthorization" pages) in a simulated pod filesystem (`MQTT_DOCTOR_ROOT`,
//! `KUBERNETES_SERVICE_HOST`), with a real Mosquitto standing in for the broker's network part.
//!
//! No Azure IoT Operations broker can be installed here. Mosquitto listens where the fixtures'
//! Service `aio-broker` does (its clusterIP is replaced by a loopback address of this test's own,
//! the ports are the fixtures' 18883 and 8883) with a certificate from a test CA. It knows no
//! K8S-SAT, so a client that authenticates with a token is refused there (CONNACK 0x8C): what
//! these tests check is that the doctor says, before connecting, what the resources predict.
//!
//! `--k8s-api` fetches the same resources from a scripted API server (tests/common/apiserver.rs),
//! which stands in for the real one: see the section at the end.

mod common;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::apiserver::{ApiServer, Script, fixture_items};
use common::jwt::{RsaKey, kubernetes};
use common::pki::{Ca, Leaf, Pair, dns, write};
use common::{Mosquitto, ReportExt, StageExt, doctor_command, evidence, run_with};
use mqtt_doctor::report::Report;
use rcgen::SanType;

const CLUSTER_IP: &str = "10.43.131.208";

/// A loopback address of this test binary's own (tests/pod.rs uses 127.53.x.x), so that ports
/// 18883 and 8883 are free on it.
fn loopback(last: u8) -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, 54, (pid % 250) as u8 + 1, last)
}

/// A pod in namespace `factory` (ServiceAccount `sensor`) with a projected token for `audience`
/// at /var/run/secrets/tokens/broker-sat, the broker's test CA at /var/run/certs/ca.crt, and the
/// cluster's resources (a fixture with its clusterIP replaced by `ip`) at /tmp/resources.
struct Pod {
    dir: tempfile::TempDir,
    resources: PathBuf,
}

impl Pod {
    fn new(fixture: &str, ip: Ipv4Addr, audience: &str, ca_pem: &str) -> Pod {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |path: &str, contents: &str| {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, contents).unwrap();
            path
        };
        put(
            "etc/resolv.conf",
            "search factory.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 127.0.0.1\noptions ndots:5\n",
        );
        put("etc/hosts", "127.0.0.1 localhost\n");
        put(
            "var/run/secrets/kubernetes.io/serviceaccount/namespace",
            "factory",
        );
        let key = RsaKey::generate();
        put(
            "var/run/secrets/tokens/broker-sat",
            &kubernetes("factory", "sensor", &[audience], -60, 3600).rs256(&key),
        );
        put("var/run/certs/ca.crt", ca_pem);
        let text = fs::read_to_string(Path::new("fixtures/k8s").join(fixture))
            .unwrap()
            .replace(CLUSTER_IP, &ip.to_string());
        let extension = Path::new(fixture).extension().unwrap().to_str().unwrap();
        let resources = put(&format!("tmp/resources.{extension}"), &text);
        Pod { dir, resources }
    }

    fn file(&self, absolute: &str) -> String {
        self.dir
            .path()
            .join(absolute.trim_start_matches('/'))
            .display()
            .to_string()
    }

    /// `doctor ARGS --k8s-resources RESOURCES --format json` inside the pod.
    fn doctor(&self, args: &[&str]) -> (Report, i32) {
        let resources = self.resources.display().to_string();
        let mut all = vec!["doctor"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--k8s-resources", &resources, "--format", "json"]);
        let run = run_with(self.command(), &all);
        (run.report(), run.code)
    }

    fn command(&self) -> std::process::Command {
        let mut command = doctor_command();
        command
            .env("MQTT_DOCTOR_ROOT", self.dir.path())
            .env("KUBERNETES_SERVICE_HOST", "10.96.0.1");
        command
    }

    /// The arguments of a K8S-SAT client with the pod's token and CA.
    fn sat_args(&self) -> Vec<String> {
        vec![
            "--token-file".into(),
            self.file("/var/run/secrets/tokens/broker-sat"),
            "--auth-method".into(),
            "K8S-SAT".into(),
            "--cafile".into(),
            self.file("/var/run/certs/ca.crt"),
        ]
    }
}

/// Mosquitto with TLS on `ip`:`port`, its certificate for the address and the Service's names.
fn tls_broker(ca: &Ca, ip: Ipv4Addr, port: u16, extra: &str) -> (Mosquitto, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let server: Pair = ca.issue(&Leaf::server().sans(vec![
        SanType::IpAddress(ip.into()),
        dns("aio-broker"),
        dns("aio-broker.azure-iot-operations.svc.cluster.local"),
    ]));
    let config = format!(
        "cafile {}\ncertfile {}\nkeyfile {}\n{extra}",
        write(files.path(), "ca.pem", &ca.pem).display(),
        write(files.path(), "server.pem", &server.cert).display(),
        write(files.path(), "server.key", &server.key).display()
    );
    (Mosquitto::start_at(ip, port, &config), files)
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn assert_root_cause(report: &Report, id: &str) {
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some(id),
        "{}",
        report.verdict.summary
    );
}

#[test]
fn an_audience_the_broker_authentication_does_not_accept() {
    let ip = loopback(1);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let (_broker, _files) = tls_broker(&ca, ip, 18883, "");
    let pod = Pod::new("aio-default.json", ip, "my-app", &ca.pem);
    let target = format!("mqtts://{ip}:18883");
    let mut args = vec![target.as_str()];
    let sat = pod.sat_args();
    args.extend(strs(&sat));
    let (report, code) = pod.doctor(&args);
    assert_eq!(code, 1);
    assert_root_cause(&report, "k8s.audience_rejected");
    let finding = report.finding("k8s.audience_rejected");
    assert!(
        finding.detail.contains(
            "this token will be refused: audience `my-app` is not in BrokerAuthentication \
             `default`'s audiences [aio-internal]"
        ) || finding.detail.contains(
            "This token will be refused: audience `my-app` is not in BrokerAuthentication \
             `default`'s audiences [aio-internal]"
        ),
        "{}",
        finding.detail
    );
    assert_eq!(
        evidence(finding, "field"),
        "BrokerAuthentication default: spec.authenticationMethods[0].serviceAccountTokenSettings.audiences"
    );
    let fix = finding.fix.as_deref().unwrap();
    assert!(
        fix.contains(
            "kubectl patch brokerauthentication default -n azure-iot-operations --type json -p \
             '[{\"op\":\"add\",\"path\":\"/spec/authenticationMethods/0/serviceAccountTokenSettings/audiences/-\",\"value\":\"my-app\"}]'"
        ),
        "{fix}"
    );
    assert!(fix.contains("audience: aio-internal"), "{fix}");
    // The listener, port and TLS did match: only the audience is named.
    assert!(!report.ids().contains(&"k8s.port_mismatch"));
    assert_eq!(report.finding("k8s.tls_trust").status.as_str(), "info");
    // The check ran first, before any connection, and the network part still ran.
    assert_eq!(report.stages[0].name.name(), "k8s");
    assert_eq!(report.stage_status("tcp"), "pass");
}

#[test]
fn a_port_that_is_not_on_the_listener() {
    let ip = loopback(2);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let (_broker, _files) = tls_broker(&ca, ip, 18883, "");
    let pod = Pod::new("aio-default.json", ip, "aio-internal", &ca.pem);
    // The seed guide's mistake: the usual MQTT port instead of AIO's 18883.
    let target = format!("mqtts://{ip}:1883");
    let mut args = vec![target.as_str()];
    let sat = pod.sat_args();
    args.extend(strs(&sat));
    let (report, code) = pod.doctor(&args);
    assert_eq!(code, 1);
    assert_root_cause(&report, "k8s.port_mismatch");
    let finding = report.finding("k8s.port_mismatch");
    assert!(
        finding.detail.contains(
            "Port 1883 is not a port of BrokerListener azure-iot-operations/default (Service \
             aio-broker): its ports are 18883 TLS Automatic"
        ),
        "{}",
        finding.detail
    );
    assert_eq!(
        evidence(finding, "field"),
        "BrokerListener default: spec.ports"
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("Point the client at port 18883: {ip}:18883")),
        "{:?}",
        finding.fix
    );
    // What the network shows is the symptom the resources explain.
    assert!(report.ids().contains(&"tcp.refused"), "{:?}", report.ids());
}

#[test]
fn a_plain_connection_to_a_tls_port() {
    let ip = loopback(3);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let (_broker, _files) = tls_broker(&ca, ip, 18883, "");
    let pod = Pod::new("aio-default.json", ip, "aio-internal", &ca.pem);
    let target = format!("mqtt://{ip}:18883");
    let token = pod.file("/var/run/secrets/tokens/broker-sat");
    let (report, code) = pod.doctor(&[&target, "--token-file", &token, "--auth-method", "K8S-SAT"]);
    assert_eq!(code, 1);
    assert_root_cause(&report, "k8s.tls_mismatch");
    let finding = report.finding("k8s.tls_mismatch");
    assert!(
        finding.detail.contains(
            "Port 18883 of BrokerListener default speaks TLS (mode Automatic), but the client \
             connects without TLS"
        ),
        "{}",
        finding.detail
    );
    assert_eq!(
        evidence(finding, "field"),
        "BrokerListener default: spec.ports[0].tls.mode"
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("mqtts://{ip}:18883"))
    );
}

#[test]
fn a_host_that_is_not_the_listeners_service() {
    let pod = Pod::new("aio-default.json", loopback(4), "aio-internal", "");
    // The short name from namespace `factory` means aio-broker.factory, not the broker.
    let (report, code) = pod.doctor(&[
        "mqtts://aio-broker:18883",
        "--dns-server",
        "127.0.0.1:9",
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 1);
    assert_root_cause(&report, "k8s.service_mismatch");
    let finding = report.finding("k8s.service_mismatch");
    assert!(
        finding.detail.contains(
            "`aio-broker` is the short name of Service aio-broker in namespace \
             azure-iot-operations, but this client runs in namespace factory"
        ),
        "{}",
        finding.detail
    );
    assert_eq!(evidence(finding, "client_namespace"), "factory");
    assert!(
        finding.fix.as_deref().unwrap().contains(
            "Point the client at aio-broker.azure-iot-operations.svc.cluster.local:18883"
        )
    );

    // A misspelt Service: the listeners' Services are named.
    let (report, _) = pod.doctor(&[
        "mqtts://aio-brokr.azure-iot-operations.svc.cluster.local:18883",
        "--dns-server",
        "127.0.0.1:9",
        "--timeout",
        "1s",
    ]);
    assert_root_cause(&report, "k8s.service_mismatch");
    let finding = report.finding("k8s.service_mismatch");
    assert!(
        finding.detail.contains(
            "`aio-brokr.azure-iot-operations.svc.cluster.local` is no BrokerListener's Service: \
             the listeners in"
        ),
        "{}",
        finding.detail
    );
    assert!(
        finding.detail.contains(
            "aio-broker.azure-iot-operations.svc.cluster.local (BrokerListener \
             azure-iot-operations/default)"
        ),
        "{}",
        finding.detail
    );

    // The full name passes that check (DNS, pointed at nothing here, is another matter).
    let (report, _) = pod.doctor(&[
        "mqtts://aio-broker.azure-iot-operations.svc.cluster.local:18883",
        "--dns-server",
        "127.0.0.1:9",
        "--timeout",
        "1s",
    ]);
    assert!(!report.ids().contains(&"k8s.service_mismatch"));
}

#[test]
fn an_authentication_ref_to_a_missing_resource() {
    let ip = loopback(5);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let (_broker, _files) = tls_broker(&ca, ip, 18883, "");
    let pod = Pod::new("aio-default.json", ip, "aio-internal", &ca.pem);
    // The default listener's port, pointed at a BrokerAuthentication that was never created.
    let text = fs::read_to_string(&pod.resources).unwrap().replacen(
        "\"authenticationRef\": \"default\"",
        "\"authenticationRef\": \"custom-authn\"",
        1,
    );
    fs::write(&pod.resources, text).unwrap();
    let target = format!("mqtts://{ip}:18883");
    let mut args = vec![target.as_str()];
    let sat = pod.sat_args();
    args.extend(strs(&sat));
    let (report, code) = pod.doctor(&args);
    assert_eq!(code, 1);
    assert_root_cause(&report, "k8s.dangling_ref");
    let finding = report.finding("k8s.dangling_ref");
    assert_eq!(
        evidence(finding, "field"),
        "BrokerListener default: spec.ports[0].authenticationRef"
    );
    assert_eq!(
        evidence(finding, "missing"),
        "BrokerAuthentication azure-iot-operations/custom-authn"
    );
    assert!(
        finding.detail.contains("(there: default)"),
        "{}",
        finding.detail
    );
    assert!(
        finding.fix.as_deref().unwrap().contains(
            "kubectl patch brokerlistener default -n azure-iot-operations --type json -p \
             '[{\"op\":\"replace\",\"path\":\"/spec/ports/0/authenticationRef\",\"value\":\"NAME\"}]'"
        ),
        "{:?}",
        finding.fix
    );
}

#[test]
fn a_client_the_authorization_does_not_let_connect() {
    let ip = loopback(6);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let (_broker, _files) = tls_broker(&ca, ip, 18883, "");
    let pod = Pod::new("aio-authz.yaml", ip, "aio-internal", &ca.pem);
    let target = format!("mqtts://{ip}:18883");
    let mut args = vec![target.as_str(), "--client-id", "pressure-sensor"];
    let sat = pod.sat_args();
    args.extend(strs(&sat));
    let (report, code) = pod.doctor(&args);
    assert_eq!(code, 1);
    assert_root_cause(&report, "k8s.connect_denied");
    let finding = report.finding("k8s.connect_denied");
    assert!(
        finding.detail.contains(
            "No rule of BrokerAuthorization my-authz-policies lets client id pressure-sensor, \
             ServiceAccount factory/sensor connect"
        ),
        "{}",
        finding.detail
    );
    assert_eq!(
        evidence(finding, "field"),
        "BrokerAuthorization my-authz-policies: spec.authorizationPolicies.rules"
    );
    assert!(
        finding.fix.as_deref().unwrap().contains(
            "{\"principals\":{\"clientIds\":[\"pressure-sensor\"]},\"brokerResources\":[{\"method\":\"Connect\"}]}"
        ),
        "{:?}",
        finding.fix
    );
    // Authentication itself matched: the token's audience is accepted.
    assert!(!report.ids().contains(&"k8s.audience_rejected"));
}

#[test]
fn a_publish_topic_the_authorization_does_not_allow() {
    let ip = loopback(7);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let (_broker, _files) = tls_broker(&ca, ip, 18883, "");
    let pod = Pod::new("aio-authz.yaml", ip, "aio-internal", &ca.pem);
    let target = format!("mqtts://{ip}:18883");
    let mut args = vec![
        target.as_str(),
        "--client-id",
        "temperature-sensor",
        "--publish",
        "sensors/humidity-sensor/telemetry",
        "--publish",
        "sensors/temperature-sensor/status/battery",
    ];
    let sat = pod.sat_args();
    args.extend(strs(&sat));
    let (report, code) = pod.doctor(&args);
    assert_eq!(code, 1);
    assert_root_cause(&report, "k8s.topic_denied");
    let denied: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.id == "k8s.topic_denied")
        .collect();
    // Another sensor's topic is refused; its own status topic matches `status/#`.
    assert_eq!(denied.len(), 1, "{:?}", report.ids());
    let finding = denied[0];
    assert_eq!(
        evidence(finding, "topic"),
        "sensors/humidity-sensor/telemetry"
    );
    assert_eq!(evidence(finding, "method"), "Publish");
    assert!(
        finding.detail.contains(
            "No rule of BrokerAuthorization my-authz-policies lets client id temperature-sensor, \
             ServiceAccount factory/sensor publish to `sensors/humidity-sensor/telemetry`"
        ),
        "{}",
        finding.detail
    );
    assert!(!report.ids().contains(&"k8s.connect_denied"));
}

#[test]
fn a_fully_matching_setup_passes() {
    let ip = loopback(8);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let client_ca = Ca::new("client-ca");
    let client = client_ca.issue(&Leaf::client("temperature-sensor"));
    // The listener's X.509 port: Mosquitto requires a certificate from the client CA.
    let (_broker, files) = {
        let files = tempfile::tempdir().unwrap();
        let server: Pair = ca.issue(&Leaf::server().sans(vec![SanType::IpAddress(ip.into())]));
        let config = format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            write(files.path(), "client-ca.pem", &client_ca.pem).display(),
            write(files.path(), "server.pem", &server.cert).display(),
            write(files.path(), "server.key", &server.key).display()
        );
        (Mosquitto::start_at(ip, 8883, &config), files)
    };
    let cert = write(files.path(), "client.pem", &client.cert);
    let key = write(files.path(), "client.key", &client.key);
    let pod = Pod::new("aio-authz.yaml", ip, "aio-internal", &ca.pem);
    let target = format!("mqtts://{ip}:8883");
    let cafile = pod.file("/var/run/certs/ca.crt");
    let (report, code) = pod.doctor(&[
        &target,
        "--cafile",
        &cafile,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--client-id",
        "temperature-sensor",
        "--publish",
        "sensors/temperature-sensor/telemetry",
        "--subscribe",
        "commands/temperature-sensor/#",
    ]);
    assert_eq!(code, 0, "{}", report.verdict.summary);
    // The one warning is the doctor's own about --client-id (it would take over a session of
    // that id), which the authorization check needs; nothing else warns or fails.
    let troubles: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| matches!(f.status.as_str(), "warn" | "fail"))
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(
        troubles,
        ["mqtt.client_id_given"],
        "{}",
        report.verdict.summary
    );
    let k8s: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.stage.name() == "k8s")
        .collect();
    assert!(
        k8s.iter()
            .all(|f| matches!(f.status.as_str(), "pass" | "info")),
        "{:?}",
        k8s.iter().map(|f| (&f.id, &f.detail)).collect::<Vec<_>>()
    );
    let consistent = report.finding("k8s.consistent");
    assert_eq!(consistent.status.as_str(), "pass");
    assert_eq!(
        evidence(consistent, "port"),
        "BrokerListener default: spec.ports[1].port"
    );
    for said in [
        "port 8883 of BrokerListener azure-iot-operations/default (Service aio-broker)",
        "BrokerAuthentication x509-authn takes X.509 client certificates",
        "BrokerAuthorization my-authz-policies lets client id temperature-sensor connect",
        "Publish sensors/temperature-sensor/telemetry allowed by rules[0]",
        "Subscribe commands/temperature-sensor/# allowed by rules[0]",
    ] {
        assert!(
            consistent.detail.contains(said),
            "{said}: {}",
            consistent.detail
        );
    }
    let trust = report.finding("k8s.tls_trust");
    assert_eq!(trust.status.as_str(), "info");
    assert_eq!(
        evidence(trust, "issuer"),
        "cert-manager ClusterIssuer azure-iot-operations-aio-certificate-issuer"
    );
    assert_eq!(report.stage_status("k8s"), "pass");
    // The network part agrees: Mosquitto took the certificate, the CONNECT and the topics.
    assert_eq!(report.finding("mqtt.connected").status.as_str(), "pass");
    assert_eq!(report.finding("acl.ok").status.as_str(), "pass");
}

#[test]
fn no_credentials_on_a_port_that_requires_them_and_an_unknown_address() {
    let pod = Pod::new("aio-default.json", loopback(9), "aio-internal", "");
    let target = format!("mqtts://{}:18883", loopback(9));
    let cafile = pod.file("/var/run/certs/ca.crt");
    // No broker listens here: the finding comes before any connection.
    let (report, _) = pod.doctor(&[&target, "--cafile", &cafile, "--timeout", "1s"]);
    let finding = report.finding("k8s.auth_method_mismatch");
    assert!(
        finding.detail.contains(
            "The client sends no credentials, but BrokerAuthentication default accepts only \
             ServiceAccountToken"
        ),
        "{}",
        finding.detail
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains("--auth-method K8S-SAT")
    );
    assert_root_cause(&report, "k8s.auth_method_mismatch");

    // An address that no Service in the resources has.
    let (report, _) = pod.doctor(&["mqtts://127.0.0.1:1", "--timeout", "1s"]);
    let finding = report.finding("k8s.listener_unknown");
    assert_eq!(finding.status.as_str(), "info");
    assert_eq!(evidence(finding, "target_host"), "127.0.0.1");
    assert!(!report.ids().contains(&"k8s.port_mismatch"));
}

#[test]
fn resources_from_standard_input_the_environment_and_a_profile() {
    let pod = Pod::new("aio-authz.yaml", loopback(10), "my-app", "");
    let token = pod.file("/var/run/secrets/tokens/broker-sat");
    let args = [
        "doctor",
        "mqtts://aio-broker.azure-iot-operations.svc.cluster.local:18883",
        "--token-file",
        &token,
        "--auth-method",
        "K8S-SAT",
        "--dns-server",
        "127.0.0.1:9",
        "--timeout",
        "1s",
        "--format",
        "json",
    ];
    let yaml = fs::read(&pod.resources).unwrap();

    // `kubectl get ... -o yaml | mqtt-doctor doctor --k8s-resources - ...`
    let mut command = pod.command();
    let mut child = command
        .args(args)
        .args(["--k8s-resources", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(&yaml).unwrap();
    let output = child.wait_with_output().unwrap();
    let report: Report = common::parse_valid(&String::from_utf8_lossy(&output.stdout)).unwrap();
    assert_root_cause(&report, "k8s.audience_rejected");
    assert!(
        report
            .finding("k8s.audience_rejected")
            .detail
            .contains("`default`'s audiences [aio-internal]")
    );

    // MQTT_DOCTOR_K8S_RESOURCES.
    let mut command = pod.command();
    command.env("MQTT_DOCTOR_K8S_RESOURCES", &pod.resources);
    let run = run_with(command, &args);
    assert_root_cause(&run.report(), "k8s.audience_rejected");

    // A profile's `k8s-resources`, relative to the config file.
    let config = pod.dir.path().join("tmp/mqtt-doctor.toml");
    let name = pod.resources.file_name().unwrap().to_str().unwrap();
    fs::write(
        &config,
        format!("[profiles.aio]\nk8s-resources = \"{name}\"\n"),
    )
    .unwrap();
    let mut with_profile = args.to_vec();
    let config_text = config.display().to_string();
    with_profile.extend(["--config", &config_text, "--profile", "aio"]);
    let run = run_with(pod.command(), &with_profile);
    assert_root_cause(&run.report(), "k8s.audience_rejected");
}

#[test]
fn bad_resources_are_a_usage_error_that_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty.json", b"", "it is empty"),
        ("broken.json", b"{\"kind\": \"List\", ", "it is not JSON"),
        ("binary.json", b"\xff\xfe\x00", "it is not UTF-8 text"),
        (
            "pods.json",
            br#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}]}"#,
            "it holds no BrokerListener (found Pod ×1)",
        ),
        (
            "wrong.yaml",
            b"apiVersion: mqttbroker.iot.azure.com/v1\nkind: BrokerListener\nmetadata: {name: default}\nspec:\n  ports: 18883\n",
            "BrokerListener default: spec does not have AIO's shape",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = write(dir.path(), name, &String::from_utf8_lossy(bytes));
        if name == "binary.json" {
            fs::write(&path, bytes).unwrap();
        }
        let run = common::run(&[
            "doctor",
            "mqtt://127.0.0.1:1",
            "--k8s-resources",
            path.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("--k8s-resources {}: {expected}", path.display())),
            "{name}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    let run = common::run(&[
        "doctor",
        "mqtt://127.0.0.1:1",
        "--k8s-resources",
        "/nonexistent/resources.json",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--k8s-resources /nonexistent/resources.json: cannot be read"),
        "{}",
        run.stderr
    );
}

// `--k8s-api`: the same checks on resources fetched from the API server. The API server is the
// scripted one of tests/common/apiserver.rs (no real one can be installed here), which reproduces
// the Kubernetes API conventions the doctor relies on: the list paths, the Bearer token, list
// bodies whose items carry no kind, Status bodies for 401/403/404
// (https://kubernetes.io/docs/reference/using-api/api-concepts/). It serves the fixtures' items
// split into the five lists.

/// The pod's default ServiceAccount token (audience: the API server), as the kubelet mounts it.
fn api_token() -> String {
    kubernetes(
        "factory",
        "sensor",
        &["https://kubernetes.default.svc.cluster.local"],
        -60,
        3600,
    )
    .rs256(&RsaKey::generate())
}

fn api_server(
    fixture: &str,
    ip: Ipv4Addr,
    token: &str,
    statuses: &[(&'static str, u16)],
) -> ApiServer {
    let text = fs::read_to_string(Path::new("fixtures/k8s").join(fixture))
        .unwrap()
        .replace(CLUSTER_IP, &ip.to_string());
    ApiServer::start(Script {
        token: token.to_string(),
        items: fixture_items(&text),
        statuses: statuses.iter().copied().collect(),
        silent: false,
    })
}

const API_PATHS: [&str; 5] = [
    "/apis/mqttbroker.iot.azure.com/v1/namespaces/azure-iot-operations/brokers",
    "/apis/mqttbroker.iot.azure.com/v1/namespaces/azure-iot-operations/brokerlisteners",
    "/apis/mqttbroker.iot.azure.com/v1/namespaces/azure-iot-operations/brokerauthentications",
    "/apis/mqttbroker.iot.azure.com/v1/namespaces/azure-iot-operations/brokerauthorizations",
    "/api/v1/namespaces/azure-iot-operations/services",
];

impl Pod {
    /// Mounts the ServiceAccount's token and the API server's CA where the kubelet puts them.
    fn mount_service_account(&self, token: &str, ca_pem: &str) {
        let dir = self
            .dir
            .path()
            .join("var/run/secrets/kubernetes.io/serviceaccount");
        fs::write(dir.join("token"), token).unwrap();
        fs::write(dir.join("ca.crt"), ca_pem).unwrap();
    }

    /// `doctor ARGS --k8s-api` inside the pod, with the API server's address in
    /// KUBERNETES_SERVICE_HOST and _PORT as the kubelet sets them.
    fn api_run(&self, server: SocketAddr, args: &[&str]) -> common::Run {
        let mut command = self.command();
        command
            .env("KUBERNETES_SERVICE_HOST", server.ip().to_string())
            .env("KUBERNETES_SERVICE_PORT", server.port().to_string());
        let mut all = vec!["doctor"];
        all.extend_from_slice(args);
        all.push("--k8s-api");
        run_with(command, &all)
    }

    fn api_doctor(&self, server: SocketAddr, args: &[&str]) -> (Report, i32) {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--format", "json"]);
        let run = self.api_run(server, &all);
        (run.report(), run.code)
    }
}

fn assert_token_hidden(run: &common::Run, token: &str) {
    let signature = token.rsplit('.').next().unwrap();
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains(token), "the token is in {name}");
        assert!(
            !text.contains(signature),
            "the token's signature is in {name}"
        );
    }
}

#[test]
fn k8s_api_an_audience_the_broker_authentication_does_not_accept() {
    let ip = loopback(31);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let (_broker, _files) = tls_broker(&ca, ip, 18883, "");
    let pod = Pod::new("aio-default.json", ip, "my-app", &ca.pem);
    let token = api_token();
    let api = api_server("aio-default.json", ip, &token, &[]);
    pod.mount_service_account(&token, &api.ca_pem);
    let target = format!("mqtts://{ip}:18883");
    let sat = pod.sat_args();
    let mut args = vec![target.as_str()];
    args.extend(strs(&sat));
    let (report, code) = pod.api_doctor(api.addr, &args);
    assert_eq!(code, 1);
    assert_root_cause(&report, "k8s.audience_rejected");
    let finding = report.finding("k8s.audience_rejected");
    assert!(
        finding.detail.contains(
            "This token will be refused: audience `my-app` is not in BrokerAuthentication \
             `default`'s audiences [aio-internal]"
        ),
        "{}",
        finding.detail
    );
    assert_eq!(
        evidence(finding, "field"),
        "BrokerAuthentication default: spec.authenticationMethods[0].serviceAccountTokenSettings.audiences"
    );
    assert_eq!(report.stage_status("tcp"), "pass");
    // The five lists, once each, each with the pod's token.
    assert_eq!(api.paths(), API_PATHS);
    for seen in api.seen() {
        assert_eq!(
            seen.authorization.as_deref(),
            Some(format!("Bearer {token}").as_str())
        );
    }
    // The text report, verbose, holds the token no more than the JSON one.
    let run = pod.api_run(api.addr, &[&args[..], &["-v"]].concat());
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("k8s.audience_rejected"),
        "{}",
        run.stdout
    );
    assert_token_hidden(&run, &token);
    // Two targets in one run share one fetch: five more requests, not ten.
    let other = format!("mqtts://{ip}:18884");
    let run = pod.api_run(
        api.addr,
        &[&args[..], &[other.as_str(), "--format", "json"]].concat(),
    );
    assert_eq!(run.multi_report().reports.len(), 2);
    assert_eq!(api.paths().len(), 15);
}

#[test]
fn k8s_api_forbidden_authorizations_leave_the_other_checks_running() {
    let ip = loopback(32);
    let ca = Ca::new("azure-iot-operations-aio-ca");
    let (_broker, _files) = tls_broker(&ca, ip, 18883, "");
    let pod = Pod::new("aio-authz.yaml", ip, "my-app", &ca.pem);
    let token = api_token();
    let api = api_server(
        "aio-authz.yaml",
        ip,
        &token,
        &[("brokerauthorizations", 403)],
    );
    pod.mount_service_account(&token, &api.ca_pem);
    let target = format!("mqtts://{ip}:18883");
    let sat = pod.sat_args();
    let mut args = vec![target.as_str(), "--client-id", "sensor-1"];
    args.extend(strs(&sat));
    let (report, code) = pod.api_doctor(api.addr, &args);
    assert_eq!(code, 1);
    // The authentication check ran on what could be read.
    assert_root_cause(&report, "k8s.audience_rejected");
    let finding = report.finding("k8s.api_forbidden");
    assert_eq!(finding.status.as_str(), "warn");
    assert!(
        finding.detail.contains(
            "The pod's ServiceAccount factory/sensor may not list \
             brokerauthorizations.mqttbroker.iot.azure.com in namespace azure-iot-operations \
             (403 Forbidden), so whether the client may connect, publish and subscribe could not \
             be checked"
        ),
        "{}",
        finding.detail
    );
    assert!(
        evidence(finding, "message").contains("cannot list resource \"brokerauthorizations\""),
        "{}",
        evidence(finding, "message")
    );
    let fix = finding.fix.as_deref().unwrap();
    for line in [
        "kind: Role",
        "  namespace: azure-iot-operations",
        "- apiGroups: [\"mqttbroker.iot.azure.com\"]",
        "  resources: [\"brokers\", \"brokerlisteners\", \"brokerauthentications\", \"brokerauthorizations\"]",
        "  verbs: [\"get\", \"list\"]",
        "  resources: [\"services\"]",
        "kind: RoleBinding",
        "- kind: ServiceAccount",
        "  name: sensor",
        "  namespace: factory",
    ] {
        assert!(fix.contains(line), "{line:?} not in {fix}");
    }
    // The missing list is not taken for an empty one: no dangling reference, no denial.
    assert!(
        !report.ids().contains(&"k8s.dangling_ref"),
        "{:?}",
        report.ids()
    );
    assert!(
        !report.ids().contains(&"k8s.connect_denied"),
        "{:?}",
        report.ids()
    );
    assert_eq!(api.paths(), API_PATHS);
    let run = pod.api_run(api.addr, &args);
    assert_token_hidden(&run, &token);
}

#[test]
fn k8s_api_a_refused_token_is_named_and_the_connection_still_checked() {
    let ip = loopback(33);
    let broker = Mosquitto::start_at(ip, 1883, "");
    let pod = Pod::new("aio-default.json", ip, "aio-internal", "");
    let token = api_token();
    // The API server knows another token: this one is refused with 401.
    let api = api_server("aio-default.json", ip, "another-token", &[]);
    pod.mount_service_account(&token, &api.ca_pem);
    let target = format!("mqtt://{ip}:{}", broker.port);
    let (report, code) = pod.api_doctor(api.addr, &[&target]);
    // A warning: the cross-check could not run, the broker answered.
    assert_eq!(code, 0, "{}", report.verdict.summary);
    let finding = report.finding("k8s.api_unauthorized");
    assert!(
        finding.detail.contains(&format!(
            "the API server at https://127.0.0.1:{} refused the ServiceAccount token (401 \
             Unauthorized)",
            api.addr.port()
        )),
        "{}",
        finding.detail
    );
    assert_eq!(report.stage_status("k8s"), "warn");
    assert_eq!(report.stage_status("mqtt"), "pass");
    // Nothing more is asked once the token is refused.
    assert_eq!(api.paths(), &API_PATHS[..1]);
    let run = pod.api_run(api.addr, &[&target, "-v"]);
    assert!(
        run.stdout.contains("k8s.api_unauthorized"),
        "{}",
        run.stdout
    );
    assert_token_hidden(&run, &token);
    let (report, code) = pod.api_doctor(api.addr, &[&target, "--strict"]);
    assert_eq!(code, 1, "{}", report.verdict.summary);
}

#[test]
fn k8s_api_without_aio_in_the_cluster_or_the_namespace() {
    let ip = loopback(34);
    let broker = Mosquitto::start_at(ip, 1883, "");
    let pod = Pod::new("aio-default.json", ip, "aio-internal", "");
    let token = api_token();
    let api = api_server(
        "aio-default.json",
        ip,
        &token,
        &[
            ("brokers", 404),
            ("brokerlisteners", 404),
            ("brokerauthentications", 404),
            ("brokerauthorizations", 404),
        ],
    );
    pod.mount_service_account(&token, &api.ca_pem);
    let target = format!("mqtt://{ip}:{}", broker.port);
    let (report, code) = pod.api_doctor(api.addr, &[&target]);
    assert_eq!(code, 0, "{}", report.verdict.summary);
    let finding = report.finding("k8s.aio_not_found");
    assert!(
        finding
            .detail
            .contains("Azure IoT Operations' resources are not in this cluster: the API server at")
            && finding
                .detail
                .contains("has no mqttbroker.iot.azure.com/v1 brokers (404 Not Found)"),
        "{}",
        finding.detail
    );
    assert_eq!(evidence(finding, "path"), API_PATHS[0]);
    // The group is missing: its other kinds, and the Services, are not asked for.
    assert_eq!(api.paths(), &API_PATHS[..1]);
    assert_eq!(
        report
            .ids()
            .iter()
            .filter(|id| id.starts_with("k8s."))
            .count(),
        1
    );

    // AIO is there, but in another namespace than the one given.
    let api = api_server("aio-default.json", ip, &token, &[]);
    pod.mount_service_account(&token, &api.ca_pem);
    let (report, _) = pod.api_doctor(api.addr, &[&target, "--k8s-namespace", "factory"]);
    let finding = report.finding("k8s.aio_not_found");
    assert!(
        finding
            .detail
            .contains("Namespace factory holds no BrokerListener"),
        "{}",
        finding.detail
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains("--k8s-namespace NS")
    );
    assert_eq!(
        api.paths()[1],
        "/apis/mqttbroker.iot.azure.com/v1/namespaces/factory/brokerlisteners"
    );
}

#[test]
fn k8s_api_a_server_that_never_answers_or_another_ca() {
    use common::hostile::SLACK;
    let pod = Pod::new("aio-default.json", loopback(35), "aio-internal", "");
    let token = api_token();
    let silent = ApiServer::start(Script {
        token: token.clone(),
        items: Vec::new(),
        statuses: Default::default(),
        silent: true,
    });
    pod.mount_service_account(&token, &silent.ca_pem);
    let target = format!("mqtt://127.0.0.1:{}", common::closed_port());
    let deadline = std::time::Duration::from_secs(3);
    let started = std::time::Instant::now();
    let (report, _) = pod.api_doctor(
        silent.addr,
        &[&target, "--timeout", "1s", "--deadline", "3s"],
    );
    let elapsed = started.elapsed();
    assert!(elapsed < deadline + SLACK, "took {elapsed:?}");
    let finding = report.finding("k8s.api_unavailable");
    assert!(
        finding
            .detail
            .contains("did not finish the TLS handshake within 1s"),
        "{}",
        finding.detail
    );

    // The API server's certificate from a CA the pod does not hold.
    let api = api_server("aio-default.json", loopback(35), &token, &[]);
    pod.mount_service_account(&token, &Ca::new("another cluster").pem);
    let (report, _) = pod.api_doctor(api.addr, &[&target, "--timeout", "2s"]);
    let finding = report.finding("k8s.api_unavailable");
    assert!(
        finding
            .detail
            .contains("the TLS handshake with the API server at")
            && finding.detail.contains("its certificate is not valid"),
        "{}",
        finding.detail
    );
    assert!(api.paths().is_empty());
}

#[test]
fn k8s_api_outside_a_pod_is_a_usage_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mqtt-doctor.toml");
    fs::write(&config, "[profiles.aio]\nk8s-api = true\n").unwrap();
    let config = config.display().to_string();
    for (env, args) in [
        (None, vec!["doctor", "--k8s-api"]),
        (Some(("MQTT_DOCTOR_K8S_API", "true")), vec!["doctor"]),
        (
            None,
            vec!["doctor", "--config", &config, "--profile", "aio"],
        ),
    ] {
        let mut command = doctor_command();
        command.env("MQTT_DOCTOR_ROOT", root.path());
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        let run = run_with(command, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("--k8s-api works only in a pod")
                && run.stderr.contains("--k8s-resources -"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let pod = Pod::new("aio-default.json", loopback(36), "aio-internal", "");
    let run = run_with(
        pod.command(),
        &["doctor", "--k8s-api", "--k8s-resources", "x.json"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("pass one of them"), "{}", run.stderr);
    let run = run_with(
        pod.command(),
        &["doctor", "--k8s-api", "--k8s-namespace", "../x"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not a Kubernetes namespace name"),
        "{}",
        run.stderr
    );
}
