//! The proxy stage against real proxies from Debian's packages on loopback: tinyproxy for HTTP
//! CONNECT and microsocks for SOCKS5, with and without credentials, in front of a real
//! Mosquitto websockets listener. A proxy that never answers is a listener that never accepts.

mod common;

use std::net::{Ipv4Addr, TcpListener};

use common::servers::{Microsocks, Tinyproxy, TinyproxyOptions, WsBroker};
use common::{ReportExt, StageExt, closed_port, doctor_json, evidence, run, run_env};

const USER: &str = "alice";
const PASSWORD: &str = "pr0xy-s3cret";

fn tinyproxy_with_auth() -> Tinyproxy {
    Tinyproxy::start(TinyproxyOptions {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..TinyproxyOptions::default()
    })
}

fn ws_url(broker: &WsBroker) -> String {
    format!("ws://127.0.0.1:{}/mqtt", broker.ws_port)
}

#[test]
fn http_connect_tunnel_reaches_the_broker_and_hides_the_password() {
    let broker = WsBroker::start(None, "");
    let proxy = tinyproxy_with_auth();
    let proxy_url = format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", proxy.port);
    let (report, code) = doctor_json(&[&ws_url(&broker), "--proxy", &proxy_url]);

    assert_eq!(code, 0, "{report:#?}");
    let connected = report.finding("proxy.connected");
    assert_eq!(evidence(connected, "kind"), "http");
    assert_eq!(evidence(connected, "source"), "--proxy");
    assert_eq!(
        evidence(connected, "reply"),
        "HTTP/1.0 200 Connection established"
    );
    assert_eq!(
        evidence(connected, "target"),
        format!("127.0.0.1:{}", broker.ws_port)
    );
    report.finding("ws.upgraded");
    report.finding("mqtt.connected");
    let shown = report.proxy.as_ref().expect("the report names the proxy");
    assert_eq!(
        shown.url.as_deref(),
        Some(format!("http://{USER}:***@127.0.0.1:{}", proxy.port).as_str())
    );

    // The text report names the proxy too, and no format shows the password.
    let text = run(&[
        "doctor",
        &ws_url(&broker),
        "--proxy",
        &proxy_url,
        "--color",
        "never",
        "--verbose",
    ]);
    assert!(
        text.stdout.contains("via http://alice:***@"),
        "{}",
        text.stdout
    );
    for out in [&text.stdout, &text.stderr] {
        assert!(!out.contains(PASSWORD), "{out}");
    }
}

#[test]
fn the_proxy_resolves_the_name_and_the_dns_stage_says_so() {
    // tinyproxy resolves `localhost` itself and tries each address it gets.
    let broker = WsBroker::start(None, "");
    let proxy = tinyproxy_with_auth();
    let (report, code) = doctor_json(&[
        &format!("ws://localhost:{}/mqtt", broker.ws_port),
        "--proxy",
        &format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", proxy.port),
    ]);

    assert_eq!(code, 0, "{report:#?}");
    let dns = report.stage("dns");
    assert_eq!(dns.status.as_str(), "skip");
    assert!(
        dns.summary
            .contains("localhost is resolved by the http proxy 127.0.0.1:"),
        "{}",
        dns.summary
    );
    assert_eq!(
        evidence(report.finding("proxy.connected"), "target"),
        format!("localhost:{}", broker.ws_port)
    );
    report.finding("mqtt.connected");
}

#[test]
fn socks5_and_socks5h_tunnels_reach_the_broker() {
    let broker = WsBroker::start(None, "");
    let socks = Microsocks::start(Some(("bob", "s0cks-pw")));
    for kind in ["socks5", "socks5h"] {
        let (report, code) = doctor_json(&[
            &ws_url(&broker),
            "--proxy",
            &format!("{kind}://bob:s0cks-pw@127.0.0.1:{}", socks.port),
        ]);
        assert_eq!(code, 0, "{kind}: {report:#?}");
        let connected = report.finding("proxy.connected");
        assert_eq!(evidence(connected, "kind"), kind);
        assert_eq!(evidence(connected, "reply"), "succeeded (reply 0x00)");
        report.finding("mqtt.connected");
    }
    // Plain MQTT goes through the same tunnel.
    let (report, code) = doctor_json(&[
        &format!("mqtt://127.0.0.1:{}", broker.port),
        "--proxy",
        &format!("socks5://bob:s0cks-pw@127.0.0.1:{}", socks.port),
    ]);
    assert_eq!(code, 0, "{report:#?}");
    report.finding("mqtt.connected");
}

#[test]
fn the_environment_proxy_is_used_and_reported_with_its_variable() {
    let broker = WsBroker::start(None, "");
    let socks = Microsocks::start(None);
    let proxy = format!("socks5://127.0.0.1:{}", socks.port);
    // A loopback target is never proxied from the environment...
    let out = run_env(
        &[("ALL_PROXY", &proxy)],
        &["doctor", &ws_url(&broker), "--format", "json"],
    );
    let report = out.report();
    assert_eq!(out.code, 0, "{report:#?}");
    let shown = report.proxy.as_ref().unwrap();
    assert_eq!(shown.source, "ALL_PROXY");
    assert!(shown.url.is_none());
    assert!(
        shown.bypassed.as_deref().unwrap().contains("loopback"),
        "{shown:?}"
    );
    assert_eq!(report.stage("proxy").status.as_str(), "skip");

    // Lower case wins over upper case. 192.0.2.1 (TEST-NET-1) is never contacted: the doctor
    // connects only to the proxy, and tinyproxy refuses the port by policy before it connects.
    let strict = Tinyproxy::start(TinyproxyOptions {
        connect_ports: vec![443],
        ..TinyproxyOptions::default()
    });
    let out = run_env(
        &[
            ("all_proxy", &format!("http://127.0.0.1:{}", strict.port)),
            ("ALL_PROXY", &proxy),
        ],
        &[
            "doctor",
            "ws://192.0.2.1:8083/mqtt",
            "--format",
            "json",
            "--timeout",
            "1s",
        ],
    );
    let report = out.report();
    assert_eq!(report.proxy.as_ref().unwrap().source, "all_proxy");
    assert_eq!(
        evidence(report.finding("proxy.refused"), "source"),
        "all_proxy"
    );

    // NO_PROXY sends the target direct; the name then fails at a loopback name server that is
    // not there, so nothing leaves this machine.
    let out = run_env(
        &[
            ("HTTPS_PROXY", &proxy),
            ("NO_PROXY", "example.com,.internal.test"),
        ],
        &[
            "doctor",
            "ws://broker.internal.test:8083/mqtt",
            "--dns-server",
            &format!("127.0.0.1:{}", closed_port()),
            "--format",
            "json",
            "--timeout",
            "1s",
        ],
    );
    let report = out.report();
    let shown = report.proxy.as_ref().unwrap();
    assert_eq!(shown.source, "HTTPS_PROXY");
    assert_eq!(
        shown.bypassed.as_deref(),
        Some("NO_PROXY lists \".internal.test\"")
    );
    assert!(report.ids().iter().all(|id| !id.starts_with("proxy.")));
}

#[test]
fn missing_and_wrong_credentials_are_named_for_both_kinds() {
    let broker = WsBroker::start(None, "");
    let http = tinyproxy_with_auth();
    let socks = Microsocks::start(Some(("bob", "s0cks-pw")));
    let cases = [
        (format!("http://127.0.0.1:{}", http.port), false, "407"),
        // tinyproxy answers wrong credentials with 401, not 407.
        (
            format!("http://{USER}:n0t-it@127.0.0.1:{}", http.port),
            true,
            "401",
        ),
        (format!("socks5://127.0.0.1:{}", socks.port), false, "0xFF"),
        (
            format!("socks5://bob:n0t-it@127.0.0.1:{}", socks.port),
            true,
            "rejected",
        ),
    ];
    for (proxy, sent, reply) in cases {
        let (report, code) = doctor_json(&[&ws_url(&broker), "--proxy", &proxy]);
        assert_eq!(code, 1, "{proxy}: {report:#?}");
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some("proxy.auth_required"),
            "{proxy}"
        );
        let finding = report.finding("proxy.auth_required");
        assert_eq!(finding.evidence["credentials_sent"], sent, "{proxy}");
        assert!(
            evidence(finding, "reply").contains(reply),
            "{proxy}: {finding:?}"
        );
        assert!(!format!("{report:?}").contains("n0t-it"), "{proxy}");
        if proxy.starts_with("http") {
            assert_eq!(
                evidence(finding, "authenticate"),
                "Basic realm=\"Tinyproxy\""
            );
        }
        assert_eq!(report.stage("mqtt").status.as_str(), "skip");
    }
}

#[test]
fn a_policy_refusal_is_not_an_unreachable_broker() {
    let broker = WsBroker::start(None, "");
    // tinyproxy, like Squid, allows CONNECT to listed ports only.
    let strict = Tinyproxy::start(TinyproxyOptions {
        connect_ports: vec![443],
        ..TinyproxyOptions::default()
    });
    let (report, code) = doctor_json(&[
        &ws_url(&broker),
        "--proxy",
        &format!("http://127.0.0.1:{}", strict.port),
    ]);
    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("proxy.refused"));
    let refused = report.finding("proxy.refused");
    assert!(evidence(refused, "reply").contains("403"), "{refused:?}");
    assert!(refused.fix.as_deref().unwrap().contains("ConnectPort"));
}

#[test]
fn the_proxys_view_of_an_unreachable_broker_is_labelled_as_such() {
    let http = tinyproxy_with_auth();
    let socks = Microsocks::start(None);
    let target = format!("ws://127.0.0.1:{}/mqtt", closed_port());
    for (proxy, reply) in [
        (
            format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", http.port),
            "500",
        ),
        (format!("socks5://127.0.0.1:{}", socks.port), "0x05"),
    ] {
        let (report, code) = doctor_json(&[&target, "--proxy", &proxy]);
        assert_eq!(code, 1);
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some("proxy.target_unreachable"),
            "{proxy}"
        );
        let finding = report.finding("proxy.target_unreachable");
        assert!(evidence(finding, "reply").contains(reply), "{finding:?}");
        assert!(
            finding.detail.contains("the proxy's view"),
            "{}",
            finding.detail
        );
    }
}

#[test]
fn a_proxy_that_never_answers_times_out_within_the_deadline() {
    // The kernel completes the handshake for a listener that never accepts; nothing answers.
    let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = silent.local_addr().unwrap().port();
    for kind in ["http", "socks5"] {
        let started = std::time::Instant::now();
        let (report, code) = doctor_json(&[
            "ws://127.0.0.1:9/mqtt",
            "--proxy",
            &format!("{kind}://127.0.0.1:{port}"),
            "--timeout",
            "1s",
            "--deadline",
            "5s",
        ]);
        assert!(started.elapsed() < std::time::Duration::from_secs(8));
        assert_eq!(code, 1);
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some("proxy.timeout"),
            "{kind}: {report:#?}"
        );
        let finding = report.finding("proxy.timeout");
        assert_eq!(finding.evidence["timeout_ms"], 1000);
        assert_eq!(finding.evidence["bytes_received"], 0);
    }
}

#[test]
fn a_socks_port_given_as_http_and_the_reverse_are_named() {
    let broker = WsBroker::start(None, "");
    let http = Tinyproxy::start(TinyproxyOptions::default());
    let socks = Microsocks::start(None);
    for (proxy, speaks) in [
        (format!("http://127.0.0.1:{}", socks.port), "socks5"),
        (format!("socks5://127.0.0.1:{}", http.port), "http"),
    ] {
        let (report, code) = doctor_json(&[&ws_url(&broker), "--proxy", &proxy, "--timeout", "1s"]);
        assert_eq!(code, 1);
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some("proxy.wrong_kind"),
            "{proxy}: {report:#?}"
        );
        let finding = report.finding("proxy.wrong_kind");
        assert_eq!(evidence(finding, "speaks"), speaks);
    }
}

#[test]
fn a_proxy_that_is_not_running_is_a_tcp_failure_about_the_proxy() {
    let (report, code) = doctor_json(&[
        "ws://127.0.0.1:9/mqtt",
        "--proxy",
        &format!("http://127.0.0.1:{}", closed_port()),
    ]);
    assert_eq!(code, 1);
    assert_eq!(report.verdict.root_cause.as_deref(), Some("tcp.refused"));
    let refused = report.finding("tcp.refused");
    assert!(
        refused.detail.contains("is the proxy"),
        "{}",
        refused.detail
    );
    assert_eq!(report.stage("proxy").status.as_str(), "skip");
}

#[test]
fn bad_proxy_urls_are_usage_errors_that_do_not_echo_the_password() {
    for (proxy, says) in [
        ("https://proxy:443", "unsupported proxy scheme"),
        ("socks4://proxy:1080", "unsupported proxy scheme"),
        ("http://user:hunter2@proxy:99999", "invalid proxy"),
        ("http://proxy:3128/path", "no path"),
    ] {
        let out = run(&["doctor", "mqtt://broker", "--proxy", proxy]);
        assert_eq!(out.code, 2, "{proxy}");
        assert!(out.stderr.contains(says), "{proxy}: {}", out.stderr);
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    }
    let out = run_env(
        &[("HTTPS_PROXY", "ftp://proxy:21")],
        &["doctor", "mqtt://broker.example"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("invalid proxy in the environment"),
        "{}",
        out.stderr
    );
}
