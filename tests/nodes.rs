//! Every node behind one name: real Mosquitto brokers on 127.0.0.1, .2 and .3, all on the same
//! port, behind one name that the test DNS server resolves to all of them, as DNS round robin or
//! a Kubernetes headless Service hands them out. One node is broken in a different way per test;
//! the doctor must name it wherever DNS puts it.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::dns::{Answer, DnsServer};
use common::pki::{Ca, Leaf, dns, write};
use common::{Mosquitto, ReportExt, fake_root, password_config, run, shared_port};
use mqtt_doctor::report::{MultiReport, Report};

const NAME: &str = "broker.test";

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// Brokers on 127.0.0.1, .2, .3 (one per entry of `configs`, in that order) on one port, and a
/// DNS server that answers `broker.test` with their addresses in `order` (last octets).
struct Cluster {
    brokers: Vec<Mosquitto>,
    port: u16,
    dns: DnsServer,
    root: tempfile::TempDir,
}

impl Cluster {
    /// `None` for a node where nothing listens.
    fn start(configs: &[Option<String>], order: &[u8]) -> Cluster {
        let ips: Vec<Ipv4Addr> = (1..=configs.len() as u8).map(ip).collect();
        let port = shared_port(&ips);
        let brokers = configs
            .iter()
            .zip(&ips)
            .filter_map(|(config, ip)| Some(Mosquitto::start_at(*ip, port, config.as_deref()?)))
            .collect();
        let answer = order.iter().map(|n| IpAddr::V4(ip(*n))).collect();
        let dns = DnsServer::start(&[(NAME, Answer::Addresses(answer))]);
        let root = fake_root("nameserver 192.0.2.1\n");
        Cluster {
            brokers,
            port,
            dns,
            root,
        }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{NAME}:{}", self.port)
    }

    fn doctor(&self, scheme: &str, extra: &[&str]) -> (Report, i32) {
        self.dns.doctor(&self.url(scheme), self.root.path(), extra)
    }

    fn node(&self, last: u8) -> String {
        format!("{}:{}", ip(last), self.port)
    }
}

fn plain() -> Option<String> {
    Some(String::new())
}

/// The findings of one node.
fn on_node<'a>(report: &'a Report, node: &str) -> Vec<&'a str> {
    report
        .findings
        .iter()
        .filter(|f| f.node.as_deref() == Some(node))
        .map(|f| f.id.as_str())
        .collect()
}

#[test]
fn healthy_nodes_pass_with_a_node_table() {
    let cluster = Cluster::start(&[plain(), plain(), plain()], &[1, 2, 3]);
    let (report, code) = cluster.doctor("mqtt", &[]);

    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(report.verdict.status.as_str(), "pass");
    assert!(
        report.verdict.summary.ends_with("on all 3 nodes"),
        "{}",
        report.verdict.summary
    );
    let addresses: Vec<&str> = report
        .nodes
        .iter()
        .map(|n| n.address.as_deref().unwrap())
        .collect();
    assert_eq!(
        addresses,
        [cluster.node(1), cluster.node(2), cluster.node(3)]
    );
    for node in &report.nodes {
        assert_eq!(node.verdict.status.as_str(), "pass", "{node:?}");
        // The numbers a metrics exporter reads, as numbers.
        assert!(node.observed.connect_ms.is_some_and(|ms| ms >= 0.0));
        let connack = node.observed.connack.as_ref().expect("a CONNACK");
        assert_eq!((connack.code, connack.protocol.as_str()), (0, "5"));
        assert_eq!(connack.capabilities.receive_maximum, Some(20));
        assert_eq!(
            on_node(&report, node.address.as_deref().unwrap()),
            ["tcp.connected", "mqtt.connected", "session.ok"]
        );
    }
    // DNS and the credentials ran once for the target; the chain once per node.
    let count = |name: &str| {
        report
            .stages
            .iter()
            .filter(|s| s.name.name() == name)
            .count()
    };
    assert_eq!(
        (count("dns"), count("auth"), count("tcp"), count("mqtt")),
        (1, 1, 3, 3)
    );
    assert!(report.ids().contains(&"cluster.consistent"));
    // Every CONNECT reached its own node.
    for broker in &cluster.brokers {
        assert!(
            broker.log().contains("New client connected"),
            "{}",
            broker.log()
        );
    }

    // The text report: the target's stages, then one row per node.
    let server = cluster.dns.addr.to_string();
    let root = cluster.root.path().display().to_string();
    let text = run(&[
        "doctor",
        &cluster.url("mqtt"),
        "--dns-server",
        &server,
        "--root",
        &root,
        "--color",
        "never",
    ]);
    assert_eq!(text.code, 0, "{}", text.stdout);
    for last in 1..=3 {
        let row = text
            .stdout
            .lines()
            .find(|l| l.contains(&cluster.node(last)))
            .unwrap_or_else(|| panic!("no row for node {last}:\n{}", text.stdout));
        assert!(row.contains("pass") && row.contains("✓"), "{row}");
    }
    assert!(
        text.stdout.contains(" ✓ cluster  3 nodes answer alike"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_refusing_node_is_named_with_the_share_of_connections_that_fail() {
    let cluster = Cluster::start(&[plain(), plain(), None], &[1, 2, 3]);
    let (report, code) = cluster.doctor("mqtt", &[]);

    // A client that walks the address list gets past a refused connect: a warning, which
    // names the node and what clients that take one address see.
    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(report.verdict.status.as_str(), "warn");
    let failing = report.finding("cluster.nodes_fail");
    assert_eq!(failing.status.as_str(), "warn");
    let bad = cluster.node(3);
    assert!(
        failing
            .detail
            .starts_with(&format!("1 of 3 nodes fail: {bad} (tcp.refused)")),
        "{}",
        failing.detail
    );
    assert!(
        failing
            .detail
            .contains("about one connection in three fails")
    );
    assert_eq!(on_node(&report, &bad), ["tcp.refused"]);
    let node = report
        .nodes
        .iter()
        .find(|n| n.address.as_deref() == Some(bad.as_str()));
    assert_eq!(
        node.unwrap().verdict.root_cause.as_deref(),
        Some("tcp.refused")
    );
    // The healthy nodes still connected; the node's own refusal does not stand for the target.
    assert_eq!(
        on_node(&report, &cluster.node(1)),
        ["tcp.connected", "mqtt.connected", "session.ok"]
    );
    let (strict, code) = cluster.doctor("mqtt", &["--strict"]);
    assert_eq!(code, 1);
    assert_eq!(
        strict.verdict.root_cause.as_deref(),
        Some("cluster.nodes_fail")
    );
}

/// A TLS node per entry: `true` for a certificate for `broker.test`, `false` for one made out
/// to another name.
fn tls_cluster(good: &[bool], order: &[u8]) -> (Cluster, tempfile::TempDir, String) {
    let ca = Ca::new("mqtt-doctor nodes CA");
    let files = tempfile::tempdir().unwrap();
    let ca_file = write(files.path(), "ca.pem", &ca.pem);
    let configs: Vec<Option<String>> = good
        .iter()
        .enumerate()
        .map(|(i, good)| {
            let name = if *good { NAME } else { "other.test" };
            let pair = ca.issue(&Leaf::server().sans(vec![dns(name)]));
            let cert = write(files.path(), &format!("server{i}.pem"), &pair.cert);
            let key = write(files.path(), &format!("server{i}.key"), &pair.key);
            Some(format!(
                "certfile {}\nkeyfile {}\n",
                cert.display(),
                key.display()
            ))
        })
        .collect();
    let cluster = Cluster::start(&configs, order);
    (cluster, files, ca_file.display().to_string())
}

#[test]
fn a_node_with_a_certificate_for_another_name_fails_wherever_dns_puts_it() {
    // Node 2 has the wrong certificate; DNS gives it first, then in the middle, then last.
    for order in [[2, 1, 3], [1, 2, 3], [1, 3, 2]] {
        let (cluster, files, ca) = tls_cluster(&[true, false, true], &order);
        let chain = files.path().join("chain.pem").display().to_string();
        let (report, code) = cluster.doctor("mqtts", &["--cafile", &ca, "--save-chain", &chain]);
        // Each node's chain in a file of its own, named by its address.
        for last in 1..=3 {
            let saved = files
                .path()
                .join(format!("chain-127.0.0.{last}-{}.pem", cluster.port));
            let pem = std::fs::read_to_string(&saved).unwrap_or_else(|e| panic!("{saved:?}: {e}"));
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
        }

        assert_eq!(code, 1, "order {order:?}: {:?}", report.ids());
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some("cluster.nodes_fail")
        );
        let bad = cluster.node(2);
        assert!(
            on_node(&report, &bad).contains(&"tls.name_mismatch"),
            "{order:?}"
        );
        for good in [1, 3] {
            assert!(
                on_node(&report, &cluster.node(good)).contains(&"mqtt.connected"),
                "order {order:?}, node {good}"
            );
        }
        assert!(
            report
                .finding("cluster.nodes_fail")
                .detail
                .contains(&format!("{bad} (tls.name_mismatch)"))
        );
        let certificates = report.finding("cluster.certificates_differ");
        assert_eq!(certificates.status.as_str(), "fail");
        assert!(
            certificates
                .detail
                .contains(&format!("The certificate of {bad} is not accepted"))
        );
        let bad_node = report
            .nodes
            .iter()
            .find(|n| n.address.as_deref() == Some(bad.as_str()))
            .unwrap();
        let cert = bad_node.observed.certificate.as_ref().unwrap();
        assert_eq!(
            (cert.dns_names.as_slice(), cert.trusted),
            (["other.test".to_string()].as_slice(), false)
        );
        assert!(cert.not_after > 0 && cert.sha256.len() == 64);
    }
}

#[test]
fn a_node_with_another_password_file_refuses_the_login_the_others_accept() {
    let files = tempfile::tempdir().unwrap();
    let right = password_config(files.path(), "right", "alice", "secret", None);
    let stale = password_config(files.path(), "stale", "alice", "last-years-secret", None);
    let cluster = Cluster::start(&[Some(right.clone()), Some(right), Some(stale)], &[3, 1, 2]);
    let (report, code) = cluster.doctor("mqtt", &["-u", "alice", "--password", "secret"]);

    assert_eq!(code, 1, "{:?}", report.ids());
    let bad = cluster.node(3);
    let bad_findings = on_node(&report, &bad);
    assert!(
        bad_findings.contains(&"mqtt.not_authorized")
            || bad_findings.contains(&"mqtt.bad_credentials"),
        "{bad_findings:?}"
    );
    let failing = report.finding("cluster.nodes_fail");
    assert!(
        failing
            .detail
            .starts_with(&format!("1 of 3 nodes fail: {bad}")),
        "{}",
        failing.detail
    );
    // The credentials were checked once, offline, and the password never shows.
    assert_eq!(
        report
            .stages
            .iter()
            .filter(|s| s.name.name() == "auth")
            .count(),
        1
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("secret\"") && !json.contains("last-years-secret"));
}

#[test]
fn nodes_with_different_packet_limits_get_a_capability_warning() {
    let small = Some("max_packet_size 1024\n".to_string());
    let cluster = Cluster::start(&[plain(), small, plain()], &[1, 2, 3]);
    let (report, code) = cluster.doctor("mqtt", &[]);

    assert_eq!(code, 0, "a warning alone passes: {:?}", report.ids());
    assert_eq!(report.verdict.status.as_str(), "warn");
    let differ = report.finding("cluster.capabilities_differ");
    assert_eq!(differ.status.as_str(), "warn");
    assert!(
        differ.detail.contains(&format!(
            "maximum_packet_size is default on {}, 1024 on {}, default on {}",
            cluster.node(1),
            cluster.node(2),
            cluster.node(3)
        )),
        "{}",
        differ.detail
    );
    let rows = differ.evidence["capabilities"].as_array().unwrap();
    assert_eq!(rows[1]["maximum_packet_size"], "1024");
    // With --strict the warning fails the run.
    let (_, strict) = cluster.doctor("mqtt", &["--strict"]);
    assert_eq!(strict, 1);
}

#[test]
fn one_node_checks_one_address_as_before() {
    let cluster = Cluster::start(&[plain(), plain(), None], &[1, 2, 3]);
    let (report, code) = cluster.doctor("mqtt", &["--nodes", "1"]);

    // As a client would: the first address connects, the refusing one is a TCP warning.
    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(report.nodes.len(), 1);
    assert_eq!(
        report.nodes[0].address.as_deref(),
        Some(cluster.node(1).as_str())
    );
    // One chain: its node's verdict is the target's.
    assert_eq!(report.nodes[0].verdict, report.verdict);
    assert!(
        report
            .stages
            .iter()
            .all(|s| s.node.is_none() && s.name.name() != "cluster")
    );
    assert!(report.findings.iter().all(|f| f.node.is_none()));
    assert!(report.ids().contains(&"tcp.partial"), "{:?}", report.ids());
    assert_eq!(
        cluster.brokers[1]
            .log()
            .matches("New client connected")
            .count(),
        0
    );
}

#[test]
fn targets_given_as_a_cluster_are_compared() {
    let a = Mosquitto::start("");
    let b = Mosquitto::start("max_packet_size 2048\n");
    let urls = [
        format!("mqtt://127.0.0.1:{}", a.port),
        format!("mqtt://127.0.0.1:{}", b.port),
    ];
    let out = run(&[
        "doctor",
        &urls[0],
        &urls[1],
        "--cluster",
        "--format",
        "json",
    ]);
    let multi: MultiReport = common::parse_valid(&out.stdout).unwrap();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let cluster = multi.cluster.expect("a cluster comparison");
    assert_eq!(cluster.verdict.status.as_str(), "warn");
    assert_eq!(multi.verdict.status.as_str(), "warn");
    let targets: Vec<&str> = cluster
        .nodes
        .iter()
        .map(|n| n.target.as_deref().unwrap())
        .collect();
    assert_eq!(targets, [urls[0].as_str(), urls[1].as_str()]);
    let differ = cluster
        .findings
        .iter()
        .find(|f| f.id == "cluster.capabilities_differ")
        .unwrap();
    assert!(
        differ.detail.contains(&format!("2048 on {}", urls[1])),
        "{}",
        differ.detail
    );

    // A refusing member fails the cluster, whose comparison names it.
    let gone = format!("mqtt://127.0.0.1:{}", common::closed_port());
    let out = run(&["doctor", &urls[0], &gone, "--cluster", "--format", "json"]);
    assert_eq!(out.code, 1, "the refusing target fails on its own");
    let multi: MultiReport = common::parse_valid(&out.stdout).unwrap();
    let cluster = multi.cluster.unwrap();
    assert_eq!(cluster.verdict.status.as_str(), "warn");
    let failing = cluster
        .findings
        .iter()
        .find(|f| f.id == "cluster.nodes_fail")
        .unwrap();
    assert!(
        failing.detail.contains(&format!("{gone} (tcp.refused)")),
        "{}",
        failing.detail
    );

    // The same from a config file's profile; one target is not a cluster.
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "mqtt-doctor.toml",
        &format!(
            "[profiles.nodes]\ncluster = true\ntargets = [\"{}\", \"{}\"]\n",
            urls[0], urls[1]
        ),
    );
    let config = config.display().to_string();
    let out = run(&[
        "doctor",
        "--config",
        &config,
        "--profile",
        "nodes",
        "--format",
        "json",
    ]);
    let multi: MultiReport = common::parse_valid(&out.stdout).unwrap();
    assert!(multi.cluster.is_some());
    let one = run(&["doctor", &urls[0], "--cluster"]);
    assert_eq!(one.code, 2);
    assert!(one.stderr.contains("at least two"), "{}", one.stderr);
}

#[test]
fn a_node_whose_password_check_is_slow_is_called_out() {
    // The same password on every node; node 2 hashes it with 300,000 PBKDF2 rounds where the
    // others use the default 101, as a node with a slow authentication backend answers.
    let files = tempfile::tempdir().unwrap();
    let fast = password_config(files.path(), "fast", "alice", "secret", None);
    let slow = password_config(files.path(), "slow", "alice", "secret", Some(300_000));
    let cluster = Cluster::start(&[Some(fast.clone()), Some(slow), Some(fast)], &[1, 2, 3]);
    let (report, code) = cluster.doctor("mqtt", &["-u", "alice", "--password", "secret"]);

    assert_eq!(code, 0, "{:?}", report.ids());
    let slow = report.finding("cluster.slow_node");
    assert_eq!(slow.status.as_str(), "info");
    assert!(
        slow.detail
            .starts_with(&format!("{} took", cluster.node(2))),
        "{}",
        slow.detail
    );
    assert!(slow.detail.contains("for the CONNACK"), "{}", slow.detail);
    assert_eq!(slow.evidence["slow"][0]["step"], "CONNACK");
}

#[test]
fn nodes_past_the_cap_are_counted_not_checked() {
    let cluster = Cluster::start(&[plain(), plain(), plain()], &[1, 2, 3]);
    let (report, code) = cluster.doctor("mqtt", &["--nodes", "2"]);

    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(report.nodes.len(), 2);
    let capped = report.finding("cluster.nodes_capped");
    assert_eq!(capped.evidence["resolved"], 3);
    assert_eq!(capped.evidence["checked"], 2);
    assert!(capped.fix.as_deref().unwrap().contains("--nodes 3"));
    assert!(!cluster.brokers[2].log().contains("New client connected"));
}
