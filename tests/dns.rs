//! The DNS stage against a real DNS server on loopback: every outcome the stage names.

mod common;

use std::path::Path;

use common::dns::{Answer, DnsServer, SilentDns, v4, v6};
use common::{Mosquitto, ReportExt, StageExt, closed_port, doctor_json, evidence, fake_root};

#[test]
fn name_resolves_and_the_broker_connects() {
    let broker = Mosquitto::start("");
    let dns = DnsServer::start(&[("broker.test", Answer::Addresses(vec![v4("127.0.0.1")]))]);
    let root = fake_root("");
    let target = format!("broker.test:{}", broker.port);
    let (report, code) = dns.doctor(&target, root.path(), &[]);

    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.verdict.status.as_str(), "pass");
    let resolved = report.finding("dns.resolved");
    assert_eq!(resolved.status.as_str(), "pass");
    assert_eq!(evidence(resolved, "answered_as"), "broker.test.");
    assert_eq!(evidence(resolved, "a"), r#"["127.0.0.1"]"#);
    assert!(evidence(resolved, "aaaa").contains("NODATA"));
    assert!(
        dns.queries().contains(&"broker.test. A".to_string()),
        "{:?}",
        dns.queries()
    );
    assert!(dns.queries().contains(&"broker.test. AAAA".to_string()));
    assert_eq!(
        report.finding("tcp.connected").evidence["address"],
        format!("127.0.0.1:{}", broker.port)
    );
}

#[test]
fn nxdomain() {
    let dns = DnsServer::start(&[]);
    let root = fake_root("search corp.test\noptions ndots:1\n");
    let (report, code) = dns.doctor("missing.test:1883", root.path(), &[]);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("dns.nxdomain"));
    let finding = report.finding("dns.nxdomain");
    assert!(
        finding.detail.contains("does not exist"),
        "{}",
        finding.detail
    );
    // Both candidates (as-is first, since it has ndots dots) were asked, A and AAAA.
    let queries = evidence(finding, "queries");
    assert!(
        queries.contains("missing.test.") && queries.contains("missing.test.corp.test."),
        "{queries}"
    );
    assert_eq!(evidence(finding, "search"), r#"["corp.test"]"#);
    assert_eq!(report.stage_status("tcp"), "skip");
    assert!(report.stage("tcp").summary.contains("dns failed"));
}

#[test]
fn name_without_address_records() {
    let dns = DnsServer::start(&[("nodata.test", Answer::NoData)]);
    let root = fake_root("");
    let (report, code) = dns.doctor("nodata.test", root.path(), &[]);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("dns.no_records"));
    assert!(
        report
            .finding("dns.no_records")
            .detail
            .contains("no A or AAAA record")
    );
}

#[test]
fn servfail() {
    let dns = DnsServer::start(&[("broken.test", Answer::ServFail)]);
    let root = fake_root("");
    let (report, code) = dns.doctor("broken.test", root.path(), &[]);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("dns.servfail"));
    let finding = report.finding("dns.servfail");
    assert_eq!(evidence(finding, "rcode"), "SERVFAIL");
    assert!(finding.detail.contains("may well exist"));
}

#[test]
fn server_that_never_answers() {
    let silent = SilentDns::start();
    let root = fake_root("");
    let (report, code) = doctor_json(&[
        "quiet.test",
        "--dns-server",
        &silent.addr.to_string(),
        "--root",
        &root.path().display().to_string(),
        "--timeout",
        "300ms",
    ]);

    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("dns.timeout"));
    let finding = report.finding("dns.timeout");
    assert!(
        evidence(finding, "reason").contains("nothing within 300ms"),
        "{:?}",
        finding.evidence
    );
    assert_eq!(report.stage_status("tcp"), "skip");
}

#[test]
fn no_nameserver_configured() {
    let root = fake_root("# nothing here\nsearch example.test\n");
    let (report, code) = doctor_json(&[
        "broker.example.test",
        "--root",
        &root.path().display().to_string(),
    ]);

    assert_eq!(code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("dns.no_resolver")
    );
    let finding = report.finding("dns.no_resolver");
    assert!(evidence(finding, "reason").contains("lists no nameserver"));
    assert!(evidence(finding, "resolv_conf").ends_with("etc/resolv.conf"));
}

#[test]
fn missing_resolv_conf_is_no_resolver() {
    let root = tempfile::tempdir().unwrap();
    let (report, code) = doctor_json(&[
        "broker.example.test",
        "--root",
        &root.path().display().to_string(),
    ]);

    assert_eq!(code, 1);
    let finding = report.finding("dns.no_resolver");
    assert!(
        evidence(finding, "reason").contains("cannot read"),
        "{:?}",
        finding.evidence
    );
}

/// The pod case: a short service name resolves only with the namespace's search domain
/// (the resolv.conf of a real pod, from fixtures/pod-root).
#[test]
fn short_name_resolves_only_through_the_search_list() {
    let broker = Mosquitto::start("");
    let dns = DnsServer::start(&[(
        "aio-broker.azure-iot-operations.svc.cluster.local",
        Answer::Addresses(vec![v4("127.0.0.1")]),
    )]);
    let target = format!("aio-broker:{}", broker.port);
    let (report, code) = dns.doctor(&target, Path::new("fixtures/pod-root"), &[]);

    assert_eq!(code, 0, "{report:#?}");
    let resolved = report.finding("dns.resolved");
    assert_eq!(
        evidence(resolved, "answered_as"),
        "aio-broker.azure-iot-operations.svc.cluster.local."
    );
    let hint = report.finding("dns.search_list_only");
    assert_eq!(hint.status.as_str(), "info");
    assert_eq!(
        evidence(hint, "search_domain"),
        "azure-iot-operations.svc.cluster.local"
    );
    assert!(
        hint.fix
            .as_deref()
            .unwrap()
            .contains("aio-broker.azure-iot-operations.svc.cluster.local")
    );
    // --dns-server replaced the nameserver from resolv.conf; the doctor never asked 10.96.0.10.
    assert!(evidence(resolved, "nameservers").contains("--dns-server"));
    assert_eq!(report.verdict.status.as_str(), "pass");
}

/// Seed guide 000: the FQDN fails while the short name works. Here the cluster's DNS domain is
/// not cluster.local, which the finding spells out.
#[test]
fn fqdn_fails_where_the_short_name_works() {
    let dns = DnsServer::start(&[(
        "aio-broker.azure-iot-operations.svc.corp.internal",
        Answer::Addresses(vec![v4("127.0.0.1")]),
    )]);
    let root = fake_root(
        "nameserver 10.96.0.10\n\
         search default.svc.corp.internal svc.corp.internal corp.internal\n\
         options ndots:5\n",
    );
    let port = closed_port().to_string();
    let target = format!("aio-broker.azure-iot-operations.svc.cluster.local:{port}");
    let (report, code) = dns.doctor(&target, root.path(), &[]);

    assert_eq!(code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("dns.fqdn_fails_short_works")
    );
    let finding = report.finding("dns.fqdn_fails_short_works");
    assert_eq!(
        evidence(finding, "short_name"),
        "aio-broker.azure-iot-operations"
    );
    assert_eq!(
        evidence(finding, "answered_as"),
        "aio-broker.azure-iot-operations.svc.corp.internal."
    );
    assert!(
        finding
            .detail
            .contains("looks like corp.internal, not cluster.local"),
        "{}",
        finding.detail
    );
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains("kubectl rollout restart")
    );
    assert!(
        !report.ids().contains(&"dns.nxdomain"),
        "the specific finding replaces the generic one"
    );
}

/// Dual stack where the broker only listens on IPv4: the IPv6 address refuses.
#[test]
fn one_address_of_several_fails() {
    let broker = Mosquitto::start("");
    let dns = DnsServer::start(&[(
        "dual.test",
        Answer::Addresses(vec![v4("127.0.0.1"), v6("::1")]),
    )]);
    let root = fake_root("");
    let target = format!("dual.test:{}", broker.port);
    let (report, code) = dns.doctor(&target, root.path(), &[]);

    assert_eq!(
        code,
        0,
        "a warning alone does not fail the run: {:?} {}",
        report.ids(),
        report.verdict.summary
    );
    assert_eq!(report.verdict.status.as_str(), "warn");
    assert_eq!(
        evidence(report.finding("dns.resolved"), "aaaa"),
        r#"["::1"]"#
    );
    // Each address is a node of its own: the IPv6 one is named with its own refusal.
    let partial = report.finding("cluster.nodes_fail");
    assert_eq!(partial.status.as_str(), "warn");
    assert!(
        partial
            .detail
            .contains(&format!("[::1]:{} (tcp.refused)", broker.port)),
        "{}",
        partial.detail
    );
    assert!(
        partial
            .fix
            .as_deref()
            .unwrap()
            .contains("Only IPv6 addresses fail")
    );
    let connected = report.finding("tcp.connected");
    assert_eq!(
        connected.node.as_deref(),
        Some(format!("127.0.0.1:{}", broker.port).as_str())
    );

    let (strict, code) = dns.doctor(&target, root.path(), &["--strict"]);
    assert_eq!(code, 1, "--strict turns the warning into a failure");
    assert_eq!(
        strict.verdict.root_cause.as_deref(),
        Some("cluster.nodes_fail")
    );

    // One node, as a client connects: the first address that answers, and the other one as
    // a TCP warning.
    let (one, code) = dns.doctor(&target, root.path(), &["--nodes", "1"]);
    assert_eq!(code, 0);
    let partial = one.finding("tcp.partial");
    assert!(
        partial
            .detail
            .contains(&format!("[::1]:{} (refused)", broker.port)),
        "{}",
        partial.detail
    );
    assert!(
        partial
            .fix
            .as_deref()
            .unwrap()
            .contains("Only IPv6 addresses fail")
    );
}

/// RFC 6761: localhost never goes to DNS; the hosts file answers.
#[test]
fn localhost_is_not_sent_to_dns() {
    let broker = Mosquitto::start("");
    let dns = DnsServer::start(&[]);
    let target = format!("localhost:{}", broker.port);
    let (report, code) = doctor_json(&[&target, "--dns-server", &dns.addr.to_string()]);

    assert_eq!(code, 0, "{report:#?}");
    let resolved = report.finding("dns.resolved");
    assert_eq!(evidence(resolved, "source"), "system resolver (hosts file)");
    assert!(evidence(resolved, "addresses").contains("127.0.0.1"));
    assert!(dns.queries().is_empty(), "asked DNS: {:?}", dns.queries());
}

/// With `--root` (a copied pod filesystem), localhost resolves as the hosts file below it says:
/// a pod whose hosts file has no `::1` never tries IPv6, so the doctor must not check `::1`
/// and then warn that it refuses. Without a hosts file, both loopback addresses stand.
#[test]
fn localhost_below_a_root_follows_its_hosts_file() {
    let broker = Mosquitto::start("");
    let dns = DnsServer::start(&[]);
    let root = fake_root("nameserver 192.0.2.1\n");
    std::fs::write(
        root.path().join("etc/hosts"),
        "127.0.0.1 localhost\n# ::1 localhost ip6-localhost\n",
    )
    .unwrap();
    let target = format!("localhost:{}", broker.port);
    let (report, code) = dns.doctor(&target, root.path(), &[]);

    assert_eq!(code, 0, "{:?}", report.ids());
    assert_eq!(report.verdict.status.as_str(), "pass", "{:?}", report.ids());
    let resolved = report.finding("dns.resolved");
    assert_eq!(evidence(resolved, "source"), "the hosts file below --root");
    assert_eq!(evidence(resolved, "addresses"), r#"["127.0.0.1"]"#);
    assert_eq!(report.nodes.len(), 1);
    assert!(dns.queries().is_empty(), "asked DNS: {:?}", dns.queries());

    // No hosts file at all: loopback by definition, both addresses.
    std::fs::remove_file(root.path().join("etc/hosts")).unwrap();
    let (report, _) = dns.doctor(&target, root.path(), &[]);
    let resolved = report.finding("dns.resolved");
    assert_eq!(
        evidence(resolved, "source"),
        "loopback by definition (RFC 6761)"
    );
}

/// Inside a pod the resolver configuration is always part of the evidence, because ndots:5 and
/// the namespace's search list decide which names a client really asks for.
#[test]
fn inside_kubernetes_the_resolver_configuration_is_shown() {
    let dns = DnsServer::start(&[(
        "broker.example.test",
        Answer::Addresses(vec![v4("127.0.0.1")]),
    )]);
    let mut command = common::doctor_command();
    command.env("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    let run = common::run_with(
        command,
        &[
            "doctor",
            &format!("broker.example.test.:{}", closed_port()),
            "--dns-server",
            &dns.addr.to_string(),
            "--root",
            "fixtures/pod-root",
            "--format",
            "json",
        ],
    );
    let report = run.report();
    let resolved = report.finding("dns.resolved");
    assert_eq!(evidence(resolved, "ndots"), "5");
    assert!(evidence(resolved, "search").contains("azure-iot-operations.svc.cluster.local"));
    // A trailing dot makes the name final: no search candidates were asked.
    assert!(
        dns.queries()
            .iter()
            .all(|q| q.starts_with("broker.example.test. ")),
        "{:?}",
        dns.queries()
    );
}
