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

mod common;

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

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
