//! The WebSocket stage against a real Mosquitto websockets listener (plain and TLS), and against
//! a real nginx in front of it, the way brokers are published to browsers and gateways: nginx
//! gives the 404 of a path with no route, the 401 and 403 of auth_basic and deny, the 502 of a
//! backend that is down, and the upgrade without a subprotocol of a proxy that drops the header.

mod common;

use common::pki::{Ca, Leaf, write};
use common::servers::{Nginx, WsBroker, ws_location};
use common::{ReportExt, StageExt, closed_port, doctor_json, evidence, run};

#[test]
fn ws_reaches_mqtt_connected_through_mosquittos_websockets_listener() {
    let broker = WsBroker::start(None, "");
    let (report, code) = doctor_json(&[&format!("ws://127.0.0.1:{}/mqtt", broker.ws_port)]);

    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.stage("websocket").status.as_str(), "pass");
    assert!(
        report.stages.iter().all(|s| s.name.name() != "proxy"),
        "no proxy configured, no proxy stage"
    );
    let upgraded = report.finding("ws.upgraded");
    assert_eq!(
        evidence(upgraded, "status"),
        "HTTP/1.1 101 Switching Protocols"
    );
    assert_eq!(evidence(upgraded, "subprotocol"), "mqtt");
    assert_eq!(
        upgraded.evidence["headers"]["sec-websocket-protocol"],
        "mqtt"
    );
    let connected = report.finding("mqtt.connected");
    assert_eq!(evidence(connected, "protocol"), "MQTT 5");
    assert!(
        broker.log().contains("New client connected"),
        "{}",
        broker.log()
    );
}

#[test]
fn wss_reaches_mqtt_connected_over_tls() {
    let ca = Ca::new("mqtt-doctor test CA");
    let pair = ca.issue(&Leaf::server());
    let files = tempfile::tempdir().unwrap();
    let cert = write(files.path(), "server.pem", &pair.cert);
    let key = write(files.path(), "server.key", &pair.key);
    let ca_file = write(files.path(), "ca.pem", &ca.pem);
    let broker = WsBroker::start(Some((&cert, &key)), "");

    let (report, code) = doctor_json(&[
        &format!("wss://127.0.0.1:{}", broker.ws_port),
        "--cafile",
        ca_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.target.path.as_deref(), Some("/mqtt"));
    report.finding("tls.ok");
    report.finding("ws.upgraded");
    report.finding("mqtt.connected");
}

#[test]
fn ws_to_a_plain_mqtt_port_says_use_mqtt() {
    let broker = WsBroker::start(None, "");
    let (report, code) = doctor_json(&[&format!("ws://127.0.0.1:{}/mqtt", broker.port)]);

    assert_eq!(code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("ws.not_websocket")
    );
    let finding = report.finding("ws.not_websocket");
    assert_eq!(evidence(finding, "plain_connect"), "CONNACK, return code 0");
    assert!(
        finding
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("mqtt://127.0.0.1:{}", broker.port)),
        "{finding:?}"
    );
    assert_eq!(report.stage("mqtt").status.as_str(), "skip");
}

/// Mosquitto behind nginx: `/mqtt` is routed, `/private` wants Basic credentials, `/denied` is
/// denied, `/down` leads to a backend that is not running, `/nosub` drops the subprotocol header,
/// and everything else is 404.
struct Fronted {
    broker: WsBroker,
    nginx: Nginx,
    _files: tempfile::TempDir,
}

impl Fronted {
    fn start() -> Fronted {
        let broker = WsBroker::start(None, "");
        let files = tempfile::tempdir().unwrap();
        let htpasswd = write(files.path(), "htpasswd", "gateway:{PLAIN}open-sesame\n");
        let ws = broker.ws_port;
        let upgrade = "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; \
                       proxy_set_header Connection \"upgrade\";";
        let server = format!(
            "{routed}\n\
             location = /private {{ auth_basic \"mqtt\"; auth_basic_user_file {htpasswd}; \
             proxy_pass http://127.0.0.1:{ws}; {upgrade} }}\n\
             location = /denied {{ deny all; }}\n\
             location = /down {{ proxy_pass http://127.0.0.1:{down}; {upgrade} }}\n\
             location = /nosub {{ proxy_pass http://127.0.0.1:{ws}; {upgrade} \
             proxy_set_header Sec-WebSocket-Protocol \"\"; }}\n\
             location / {{ return 404; }}\n",
            routed = ws_location("/mqtt", ws),
            htpasswd = htpasswd.display(),
            down = closed_port(),
        );
        let nginx = Nginx::start(&server);
        Fronted {
            broker,
            nginx,
            _files: files,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.nginx.port)
    }
}

#[test]
fn behind_nginx_every_upgrade_failure_is_named() {
    let front = Fronted::start();

    let (report, code) = doctor_json(&[&front.url("/mqtt")]);
    assert_eq!(code, 0, "{report:#?}");
    let upgraded = report.finding("ws.upgraded");
    assert!(
        upgraded.evidence["headers"]["server"]
            .as_str()
            .unwrap()
            .starts_with("nginx"),
        "{upgraded:?}"
    );
    report.finding("mqtt.connected");

    let expect = |path: &str, id: &str, status: &str| {
        let (report, code) = doctor_json(&[&front.url(path)]);
        assert_eq!(code, 1, "{path}: {report:#?}");
        assert_eq!(report.verdict.root_cause.as_deref(), Some(id), "{path}");
        let finding = report.finding(id);
        assert!(
            evidence(finding, "status").contains(status),
            "{path}: {finding:?}"
        );
        assert_eq!(report.stage("mqtt").status.as_str(), "skip", "{path}");
        finding.clone()
    };
    let missing = expect("/wrong", "ws.bad_path", "404");
    assert_eq!(evidence(&missing, "path"), "/wrong");
    assert!(missing.fix.as_deref().unwrap().contains("--ws-path"));

    let unauthorized = expect("/private", "ws.forbidden", "401");
    assert_eq!(
        unauthorized.evidence["headers"]["www-authenticate"],
        "Basic realm=\"mqtt\""
    );
    expect("/denied", "ws.forbidden", "403");
    let down = expect("/down", "ws.http_error", "502");
    assert!(
        down.detail.contains("cannot reach the broker behind it"),
        "{down:?}"
    );

    let (report, code) = doctor_json(&[&front.url("/nosub")]);
    assert_eq!(code, 1);
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("ws.no_subprotocol")
    );
    assert!(report.finding("ws.no_subprotocol").evidence["subprotocol"].is_null());
    drop(front.broker);
}

#[test]
fn ws_header_and_ws_path_reach_a_protected_endpoint_without_showing_the_value() {
    let front = Fronted::start();
    // base64("gateway:open-sesame")
    let header = "Authorization: Basic Z2F0ZXdheTpvcGVuLXNlc2FtZQ==";
    let base = format!("ws://127.0.0.1:{}", front.nginx.port);
    let (report, code) = doctor_json(&[&base, "--ws-path", "/private", "--ws-header", header]);

    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.target.path.as_deref(), Some("/private"));
    let upgraded = report.finding("ws.upgraded");
    let sent = upgraded.evidence["sent_headers"]["Authorization"]
        .as_str()
        .unwrap();
    assert!(sent.contains("bytes, fp:"), "{sent}");
    report.finding("mqtt.connected");

    let text = run(&[
        "doctor",
        &base,
        "--ws-path",
        "/private",
        "--ws-header",
        header,
        "--verbose",
        "--color",
        "never",
    ]);
    assert_eq!(text.code, 0, "{}", text.stdout);
    for out in [&text.stdout, &text.stderr] {
        assert!(!out.contains("Z2F0ZXdheTpvcGVuLXNlc2FtZQ"), "{out}");
    }

    // A path in the URL wins over --ws-path.
    let (report, _) = doctor_json(&[&front.url("/wrong"), "--ws-path", "/mqtt"]);
    assert_eq!(report.target.path.as_deref(), Some("/wrong"));
}

#[test]
fn bad_websocket_options_are_usage_errors() {
    for (args, says) in [
        (vec!["--ws-path", "mqtt"], "must start with /"),
        (vec!["--ws-path", "/a b"], "printable ASCII"),
        (vec!["--ws-header", "NoColon"], "'Name: value'"),
        (
            vec!["--ws-header", "Bad Name: x"],
            "not a valid HTTP header name",
        ),
        (vec!["--ws-header", "Host: elsewhere"], "sets it itself"),
    ] {
        let mut all = vec!["doctor", "ws://127.0.0.1:9"];
        all.extend(args.iter().copied());
        let out = run(&all);
        assert_eq!(out.code, 2, "{args:?}");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}
