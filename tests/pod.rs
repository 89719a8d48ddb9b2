//! The doctor inside a pod: `--preset aio` in a simulated pod filesystem (MQTT_DOCTOR_ROOT), with
//! the pod's resolv.conf pointing at a real DNS server on a loopback address, and a scripted
//! Azure IoT Operations broker behind TLS on port 18883.
//!
//! The broker is scripted because no Azure IoT Operations broker can be installed here. It does
//! what Microsoft's Azure IoT Operations documentation describes: a TLS listener for service
//! `aio-broker` in namespace `azure-iot-operations` on port 18883, MQTT 5 enhanced
//! authentication with method `K8S-SAT` and the projected ServiceAccount token as data, answered
//! with CONNACK 0 when the token is accepted.

mod common;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::symlink;
use std::path::Path;

use common::dns::{Answer, DnsServer};
use common::jwt::{RsaKey, kubernetes};
use common::pki::{Ca, Leaf, dns};
use common::scripted::{Scripted, Step, connack_v5, contains, tls_config};
use common::{ReportExt, StageExt, doctor_command, evidence, is_root, run_with};
use serde_json::Value;

const AIO_HOST: &str = "aio-broker.azure-iot-operations.svc.cluster.local";

/// A loopback address of this test's own, so that port 53 and port 18883 are free on it.
fn loopback(last: u8) -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, 53, (pid % 250) as u8 + 1, last)
}

/// A pod's filesystem: namespace, default ServiceAccount token, the AIO trust bundle, projected
/// tokens laid out the way the kubelet writes them (files are symlinks into `..data`).
struct PodRoot {
    dir: tempfile::TempDir,
}

impl PodRoot {
    fn new(nameserver: Ipv4Addr, ca_pem: &str, tokens: &[(&str, &str)]) -> PodRoot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |path: &str, contents: &str| {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, contents).unwrap();
        };
        write(
            "etc/resolv.conf",
            &format!(
                "search factory.svc.cluster.local svc.cluster.local cluster.local\n\
                 nameserver {nameserver}\noptions ndots:5\n"
            ),
        );
        write("etc/hosts", "127.0.0.1 localhost\n");
        let key = RsaKey::generate();
        write(
            "var/run/secrets/kubernetes.io/serviceaccount/namespace",
            "factory",
        );
        write(
            "var/run/secrets/kubernetes.io/serviceaccount/token",
            &kubernetes(
                "factory",
                "sensor",
                &["https://kubernetes.default.svc.cluster.local"],
                -60,
                3600,
            )
            .rs256(&key),
        );
        write("var/run/certs/ca.crt", ca_pem);
        if !tokens.is_empty() {
            let data = "var/run/secrets/tokens/..2026_11_22_04_00_00.000000001";
            for (name, token) in tokens {
                write(&format!("{data}/{name}"), token);
                symlink(
                    format!("..data/{name}"),
                    root.join("var/run/secrets/tokens").join(name),
                )
                .unwrap();
            }
            symlink(
                "..2026_11_22_04_00_00.000000001",
                root.join("var/run/secrets/tokens/..data"),
            )
            .unwrap();
        }
        PodRoot { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// DNS answering the broker's service name, a TLS broker on 18883 that accepts K8S-SAT, and a
/// pod filesystem holding `tokens`. Returns what a test needs to run and check.
struct Cluster {
    _dns: DnsServer,
    broker: Scripted,
    pod: PodRoot,
}

impl Cluster {
    fn start(octet: u8, tokens: &[(&str, &str)]) -> Cluster {
        assert!(
            is_root(),
            "these tests bind port 53 on a loopback address: run them as root"
        );
        let nameserver = loopback(octet);
        let broker_ip = loopback(octet + 1);
        let dns_server = DnsServer::start_on(
            SocketAddr::new(nameserver.into(), 53),
            &[(AIO_HOST, Answer::Addresses(vec![broker_ip.into()]))],
        )
        .expect("bind port 53 on a loopback address");
        let ca = Ca::new("azure-iot-operations-aio-ca");
        let server = ca.issue(&Leaf::server().sans(vec![
            dns("aio-broker"),
            dns("aio-broker.azure-iot-operations"),
            dns(AIO_HOST),
        ]));
        let broker = Scripted::start_on(
            SocketAddr::new(broker_ip.into(), 18883),
            vec![vec![
                Step::Read,
                Step::Send(connack_v5(0x00, &[])),
                Step::Serve,
            ]],
            Some(tls_config(&server.cert, &server.key)),
        )
        .expect("bind port 18883 on a loopback address");
        let pod = PodRoot::new(nameserver, &ca.pem, tokens);
        Cluster {
            _dns: dns_server,
            broker,
            pod,
        }
    }

    /// `mqtt-doctor doctor --preset aio` in the pod, with nothing else on the command line.
    fn doctor(&self, extra: &[&str]) -> common::Run {
        let mut command = doctor_command();
        command
            .env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
            .env("MQTT_DOCTOR_ROOT", self.pod.path());
        let mut args = vec!["doctor", "--preset", "aio"];
        args.extend_from_slice(extra);
        run_with(command, &args)
    }
}

fn sat(audience: &str) -> String {
    kubernetes("factory", "sensor", &[audience], -60, 86_400).rs256(&RsaKey::generate())
}

#[test]
fn preset_aio_in_a_pod_finds_token_ca_and_audience_and_connects() {
    let token = sat("aio-internal");
    let cluster = Cluster::start(10, &[("broker-sat", &token)]);
    let run = cluster.doctor(&["--format", "json"]);
    let report = run.report();

    assert_eq!(run.code, 0, "{:?}\n{}", report.ids(), run.stderr);
    assert_eq!(report.preset.as_deref(), Some("aio"));
    assert_eq!(report.target.url, format!("mqtts://{AIO_HOST}:18883"));
    report.finding("mqtt.connected");
    // The CA came from the pod's /var/run/certs/ca.crt: the private CA verified the broker.
    assert_eq!(report.stage_status("tls"), "pass");
    assert!(evidence(report.finding("tls.ok"), "trust").contains("var/run/certs/ca.crt"));
    // The audience was checked against the preset's aio-internal.
    report.finding("token.ok");
    assert!(!report.ids().contains(&"token.audience_mismatch"));

    let pod = report.finding("pod.detected");
    assert_eq!(evidence(pod, "namespace"), "factory");
    assert_eq!(evidence(pod, "service_account"), "sensor");
    let projected = pod.evidence["projected_tokens"].as_array().unwrap();
    assert_eq!(
        projected.len(),
        1,
        "the kubelet's ..data entries are not tokens"
    );
    assert_eq!(projected[0]["path"], "/var/run/secrets/tokens/broker-sat");
    assert_eq!(projected[0]["audiences"][0], "aio-internal");
    assert_eq!(projected[0]["service_account"], "factory/sensor");
    assert_eq!(
        pod.evidence["default_token"]["audiences"][0],
        "https://kubernetes.default.svc.cluster.local"
    );

    // K8S-SAT with the projected token as authentication data, over TLS.
    let connect = &cluster.broker.frames(0)[0];
    assert!(contains(connect, b"K8S-SAT"));
    assert!(contains(connect, token.as_bytes()));
    // Only the length and fingerprint of the token are shown, nowhere the token.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!run.stdout.contains(signature) && !run.stderr.contains(signature));
}

#[test]
fn a_projected_token_under_another_name_is_used_and_named() {
    let token = sat("aio-internal");
    let cluster = Cluster::start(20, &[("api-token", &sat("vault")), ("mqtt-sat", &token)]);
    let run = cluster.doctor(&["--format", "json"]);
    let report = run.report();

    assert_eq!(run.code, 0, "{:?}", report.ids());
    assert_eq!(report.verdict.status.as_str(), "warn");
    let elsewhere = report.finding("pod.token_elsewhere");
    assert_eq!(
        evidence(elsewhere, "expected"),
        "/var/run/secrets/tokens/broker-sat"
    );
    assert_eq!(
        evidence(elsewhere, "used"),
        "/var/run/secrets/tokens/mqtt-sat"
    );
    assert!(
        elsewhere
            .fix
            .as_deref()
            .unwrap()
            .contains("kubectl rollout restart")
    );
    report.finding("mqtt.connected");
    assert!(contains(&cluster.broker.frames(0)[0], token.as_bytes()));
}

#[test]
fn without_the_projected_token_the_fix_is_the_volume_and_nothing_is_sent() {
    let cluster = Cluster::start(30, &[]);
    let run = cluster.doctor(&["--format", "json"]);
    let report = run.report();

    assert_eq!(run.code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("token.missing"));
    let missing = report.finding("token.missing");
    let fix = missing.fix.as_deref().unwrap();
    assert!(fix.contains("serviceAccountToken"));
    // The fix speaks of the pod's paths and namespace, not of the copy that was read.
    assert!(
        fix.contains("mountPath: /var/run/secrets/tokens\n"),
        "{fix}"
    );
    assert!(
        fix.contains("kubectl rollout restart deployment/NAME -n factory"),
        "{fix}"
    );
    let root = cluster.pod.path().display().to_string();
    assert!(!fix.contains(&root), "{fix}");
    let pod = report.finding("pod.detected");
    assert_eq!(pod.evidence["projected_tokens"], Value::Array(Vec::new()));
    // A CONNECT without the token would only be refused for a reason already known.
    assert!(cluster.broker.frames(0).is_empty());
}

#[test]
fn outside_a_pod_nothing_is_said_about_pods() {
    let token = sat("aio-internal");
    let cluster = Cluster::start(40, &[("broker-sat", &token)]);
    let mut command = doctor_command();
    command.env("MQTT_DOCTOR_ROOT", cluster.pod.path());
    let run = run_with(command, &["doctor", "--preset", "aio", "--format", "json"]);
    let report = run.report();
    assert_eq!(run.code, 0, "{:?}", report.ids());
    assert!(!report.ids().iter().any(|id| id.starts_with("pod.")));
}
