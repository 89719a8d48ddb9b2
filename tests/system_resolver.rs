//! The DNS stage as users run it: no flags, the machine's own /etc/resolv.conf and /etc/hosts,
//! and the operating system's resolver (getaddrinfo) asked alongside DNS.
//!
//! Each run happens in a private mount namespace (`unshare --mount`) where a hosts file and a
//! resolv.conf made by the test are bind-mounted over the real ones, pointing at a DNS server
//! the test runs on its own loopback address, port 53. Nothing outside loopback is asked, and the
//! machine's real files are untouched. This needs root, as CI and the dev machines have.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use common::dns::{Answer, DnsServer, v4};
use common::{BIN, Mosquitto, ReportExt, StageExt, evidence, is_root, run_with};
use mqtt_doctor::report::Report;

struct Host {
    _dns: DnsServer,
    dir: tempfile::TempDir,
}

/// A DNS server on 127.0.0.N:53 for a free N, and the files that point at it.
fn host(hosts: &str, zone: &[(&str, Answer)]) -> Host {
    assert!(
        is_root(),
        "these tests bind port 53 and mount over /etc: run them as root"
    );
    // Start from a per-process offset so concurrent test binaries rarely collide.
    let offset = std::process::id() as usize;
    let dns = (0..240)
        .map(|i| 10 + ((offset + i) % 240) as u8)
        .find_map(|n| {
            DnsServer::start_on(SocketAddr::from((Ipv4Addr::new(127, 0, 53, n), 53)), zone).ok()
        })
        .expect("a free loopback address for port 53");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts"), hosts).unwrap();
    std::fs::write(
        dir.path().join("resolv.conf"),
        format!("nameserver {}\n", dns.addr.ip()),
    )
    .unwrap();
    Host { _dns: dns, dir }
}

fn doctor_in(host: &Host, target: &str) -> (Report, i32) {
    let mut command = Command::new("unshare");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command.args([
        "--mount",
        "--",
        "sh",
        "-c",
        r#"mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@""#,
        "sh",
    ]);
    command
        .arg(host.dir.path().join("hosts"))
        .arg(host.dir.path().join("resolv.conf"))
        .arg(BIN);
    let run = run_with(command, &["doctor", target, "--format", "json"]);
    assert!(
        run.stderr.is_empty(),
        "unshare/mount failed: {}",
        run.stderr
    );
    (run.report(), run.code)
}

const HOSTS: &str = "127.0.0.1 localhost\n127.0.0.1 stale.test\n127.0.0.1 hostsonly.test # lab\n";

#[test]
fn agreeing_resolvers_pass_with_the_system_answer_as_evidence() {
    let broker = Mosquitto::start("");
    let host = host(
        HOSTS,
        &[("same.test", Answer::Addresses(vec![v4("127.0.0.1")]))],
    );
    let (report, code) = doctor_in(&host, &format!("same.test:{}", broker.port));

    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.verdict.status.as_str(), "pass");
    let resolved = report.finding("dns.resolved");
    assert!(
        evidence(resolved, "system_resolver").contains("127.0.0.1"),
        "{:?}",
        resolved.evidence
    );
    assert!(!report.ids().contains(&"dns.system_resolver_differs"));
}

/// A stale hosts-file entry: clients on this machine go one way, DNS users another.
#[test]
fn hosts_file_overrides_dns() {
    let broker = Mosquitto::start("");
    let host = host(
        HOSTS,
        &[("stale.test", Answer::Addresses(vec![v4("127.0.0.3")]))],
    );
    let (report, code) = doctor_in(&host, &format!("stale.test:{}", broker.port));

    assert_eq!(code, 0, "a warning alone does not fail the run");
    assert_eq!(report.verdict.status.as_str(), "warn");
    let differs = report.finding("dns.system_resolver_differs");
    assert_eq!(differs.status.as_str(), "warn");
    assert_eq!(evidence(differs, "system_resolver"), r#"["127.0.0.1"]"#);
    assert_eq!(evidence(differs, "dns"), r#"["127.0.0.3"]"#);
    assert_eq!(
        evidence(differs, "hosts_file"),
        r#"["127.0.0.1 stale.test"]"#
    );
    // The doctor follows the system resolver, as a client here would, and reaches the broker.
    assert_eq!(
        evidence(report.finding("tcp.connected"), "address"),
        format!("127.0.0.1:{}", broker.port)
    );
}

/// A name only the hosts file knows: it works on this machine and nowhere else.
#[test]
fn name_known_only_to_the_hosts_file() {
    let broker = Mosquitto::start("");
    let host = host(HOSTS, &[]);
    let (report, code) = doctor_in(&host, &format!("hostsonly.test:{}", broker.port));

    assert_eq!(code, 0);
    let differs = report.finding("dns.system_resolver_differs");
    assert!(
        differs
            .detail
            .starts_with("Only the system resolver knows hostsonly.test"),
        "{}",
        differs.detail
    );
    assert!(evidence(differs, "dns").contains("NXDOMAIN"));
    assert!(!report.ids().contains(&"dns.nxdomain"));
    assert_eq!(report.stage_status("tcp"), "pass");
}
