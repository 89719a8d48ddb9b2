//! `mqtt-doctor serve`, the Prometheus exporter, as Prometheus itself sees it: a real
//! Prometheus (Debian's) scrapes the exporter on loopback, blackbox_exporter style, against
//! real Mosquitto brokers, and the results are read back through Prometheus' HTTP API. Also:
//! promtool's verdict on the output, the allowed-targets rule, secrets, and SIGTERM.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::jwt::{Token, now};
use common::pki::{Ca, Leaf, write};
use common::{BIN, Mosquitto, closed_port, free_port, password_config};
use serde_json::Value;

/// The exporter, started with its own config file; killed when dropped.
struct Exporter {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Exporter {
    fn start(config: &str, extra: &[&str]) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "mqtt-doctor.toml", config);
        let stderr = fs::File::create(dir.path().join("stderr")).unwrap();
        let child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["serve", "--config"])
            .arg(&path)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the doctor binary runs");
        let mut exporter = Exporter {
            child,
            port: 0,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while exporter.port == 0 {
            let log = exporter.stderr();
            if let Some(rest) = log.split("listening on http://127.0.0.1:").nth(1) {
                exporter.port = rest.split_whitespace().next().unwrap().parse().unwrap();
            } else if Instant::now() > deadline || exporter.child.try_wait().unwrap().is_some() {
                panic!("the exporter did not start; its stderr:\n{log}");
            }
            thread::sleep(Duration::from_millis(20));
        }
        exporter
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    fn get(&self, path: &str) -> (u16, String) {
        get(self.port, path, &[])
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET on loopback: status and body.
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    let text = String::from_utf8(response).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn query_part(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn probe_path(module: &str, target: &str) -> String {
    format!(
        "/probe?module={}&target={}",
        query_part(module),
        query_part(target)
    )
}

/// The value of an unlabelled sample in a text exposition.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} "))?.parse().ok())
}

/// A real Prometheus with its own config and storage, on a loopback port; killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(config: &str) -> Prometheus {
        let binary = Path::new("/usr/bin/prometheus");
        assert!(
            binary.is_file(),
            "prometheus is not installed; run `bash scripts/install-test-deps.sh` \
             (apt-get install prometheus)"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "prometheus.yml", config);
        let port = free_port(Ipv4Addr::LOCALHOST);
        let log = fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let prometheus = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
                && get(port, "/-/ready", &[]).0 == 200
            {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not become ready; its log:\n{}",
                fs::read_to_string(prometheus._dir.path().join("prometheus.log"))
                    .unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// An instant query: each series' labels and value.
    fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let (status, body) = get(
            self.port,
            &format!("/api/v1/query?query={}", query_part(promql)),
            &[],
        );
        assert_eq!(status, 200, "{promql}: {body}");
        let value: Value = serde_json::from_str(&body).unwrap();
        value["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| {
                let labels = series["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let value = series["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }

    /// The single value of `promql`, waiting for the scrapes to bring it.
    fn value(&self, promql: &str) -> f64 {
        self.value_when(promql, |_| true)
    }

    /// The single value of `promql` once `wanted` holds for it (a counter grows between
    /// scrapes), or the last one seen after 30 s.
    fn value_when(&self, promql: &str, wanted: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let result = self.query(promql);
            if let [(_, value)] = result.as_slice()
                && (wanted(*value) || Instant::now() > deadline)
            {
                return *value;
            }
            assert!(result.len() <= 1, "{promql} has several series: {result:?}");
            assert!(Instant::now() < deadline, "{promql} never had a value");
            thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP listener that accepts every connection and never says a word.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Silent { port, stop }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A scrape job in blackbox_exporter's relabelling style: the target becomes the `target`
/// parameter and the instance label, the exporter the address scraped.
fn probe_job(name: &str, module: &str, targets: &[String], exporter: u16, timeout: &str) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "  - job_name: {name}
    metrics_path: /probe
    scrape_interval: 2s
    scrape_timeout: {timeout}
    params:
      module: [{module}]
    static_configs:
      - targets: [{}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{exporter}
",
        targets.join(", ")
    )
}

fn not_after(pem: &str) -> i64 {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    cert.validity().not_after.timestamp()
}

/// Prometheus scrapes the exporter probing a healthy broker, a closed port, a broker that
/// refuses the password, one whose certificate expires in five days, and a listener that never
/// answers; what it stored says which succeeded, why the others failed, and when the
/// certificate and the token expire.
#[test]
fn prometheus_scrapes_the_exporter_and_stores_each_verdict() {
    let healthy = Mosquitto::start("");
    let dir = tempfile::tempdir().unwrap();
    let guarded = Mosquitto::start(&password_config(
        dir.path(),
        "passwd",
        "alice",
        "right-password",
        None,
    ));
    let ca = Ca::new("mqtt-doctor test CA");
    let leaf = ca.issue(&Leaf::server().valid(-10, 5));
    let cert = write(dir.path(), "server.pem", &leaf.cert);
    let key = write(dir.path(), "server.key", &leaf.key);
    let tls = Mosquitto::start(&format!(
        "certfile {}\nkeyfile {}\n",
        cert.display(),
        key.display()
    ));
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let wrong = write(dir.path(), "password", "wrong-password\n");
    let expiry = now() + 7200;
    let token = Token::new("HS256")
        .claim("iat", now() - 60)
        .claim("exp", expiry)
        .hs256(b"key");
    let token_file = write(dir.path(), "token", &token);
    let silent = Silent::start();
    let closed = closed_port();

    let healthy_url = format!("mqtt://127.0.0.1:{}", healthy.port);
    let closed_url = format!("mqtt://127.0.0.1:{closed}");
    let guarded_url = format!("mqtt://127.0.0.1:{}", guarded.port);
    let tls_url = format!("mqtts://127.0.0.1:{}", tls.port);
    let silent_url = format!("mqtt://127.0.0.1:{}", silent.port);
    let exporter = Exporter::start(
        &format!(
            "timeout = \"2s\"\n\
             [profiles.plain]\nallow = [\"127.0.0.1\"]\n\
             [profiles.login]\ntargets = [\"{guarded_url}\"]\nusername = \"alice\"\n\
             password-file = \"{}\"\n\
             [profiles.tls]\ntargets = [\"{tls_url}\"]\ncafile = \"{}\"\n\
             [profiles.token]\ntargets = [\"{healthy_url}\"]\nusername = \"device\"\n\
             token-file = \"{}\"\n\
             [profiles.silent]\ntargets = [\"{silent_url}\"]\ntimeout = \"20s\"\n",
            wrong.display(),
            ca_file.display(),
            token_file.display()
        ),
        &[],
    );
    let port = exporter.port;
    let config = format!(
        "global:\n  scrape_interval: 2s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}{}{}{}  \
         - job_name: exporter\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
        probe_job(
            "plain",
            "plain",
            &[healthy_url.clone(), closed_url.clone()],
            port,
            "1s"
        ),
        probe_job(
            "login",
            "login",
            std::slice::from_ref(&guarded_url),
            port,
            "1s"
        ),
        probe_job("tls", "tls", std::slice::from_ref(&tls_url), port, "1s"),
        probe_job(
            "token",
            "token",
            std::slice::from_ref(&healthy_url),
            port,
            "1s"
        ),
        probe_job(
            "silent",
            "silent",
            std::slice::from_ref(&silent_url),
            port,
            "1500ms"
        ),
    );
    let prometheus = Prometheus::start(&config);

    let instance = |job: &str, url: &str| format!("job=\"{job}\",instance=\"{url}\"");
    let healthy_labels = instance("plain", &healthy_url);
    assert_eq!(
        prometheus.value(&format!("probe_success{{{healthy_labels}}}")),
        1.0
    );
    assert_eq!(
        prometheus.value(&format!(
            "probe_mqtt_connack_reason_code{{{healthy_labels}}}"
        )),
        0.0
    );
    assert_eq!(
        prometheus.value(&format!("probe_mqtt_protocol_version{{{healthy_labels}}}")),
        5.0
    );
    let phases = prometheus.query(&format!("probe_mqtt_duration_seconds{{{healthy_labels}}}"));
    let names: Vec<&str> = phases.iter().map(|(l, _)| l["phase"].as_str()).collect();
    assert!(
        names.contains(&"connect") && names.contains(&"connack"),
        "{names:?}"
    );
    assert!(
        phases.iter().all(|(_, v)| *v >= 0.0 && *v < 2.0),
        "{phases:?}"
    );
    assert_eq!(
        prometheus.value(&format!(
            "probe_mqtt_node_success{{{healthy_labels},node=\"127.0.0.1:{}\"}}",
            healthy.port
        )),
        1.0
    );
    assert!(
        prometheus
            .query(&format!("probe_mqtt_root_cause_info{{{healthy_labels}}}"))
            .is_empty()
    );

    let closed_labels = instance("plain", &closed_url);
    assert_eq!(
        prometheus.value(&format!("probe_success{{{closed_labels}}}")),
        0.0
    );
    assert_eq!(
        prometheus.value(&format!(
            "probe_mqtt_root_cause_info{{{closed_labels},id=\"tcp.refused\",stage=\"tcp\"}}"
        )),
        1.0
    );
    assert_eq!(
        prometheus.value(&format!(
            "probe_mqtt_finding_info{{{closed_labels},id=\"tcp.refused\",stage=\"tcp\",\
             status=\"fail\"}}"
        )),
        1.0
    );

    let login_labels = instance("login", &guarded_url);
    assert_eq!(
        prometheus.value(&format!("probe_success{{{login_labels}}}")),
        0.0
    );
    assert_eq!(
        prometheus.value(&format!(
            "probe_mqtt_root_cause_info{{{login_labels},id=\"mqtt.not_authorized\",\
             stage=\"mqtt\"}}"
        )),
        1.0
    );
    // Mosquitto answers a wrong password with MQTT 5's Not authorized (0x87).
    assert_eq!(
        prometheus.value(&format!("probe_mqtt_connack_reason_code{{{login_labels}}}")),
        135.0
    );

    let tls_labels = instance("tls", &tls_url);
    assert_eq!(
        prometheus.value(&format!("probe_success{{{tls_labels}}}")),
        1.0,
        "a certificate that expires in five days warns, and a warning is no failure"
    );
    assert_eq!(
        prometheus.value(&format!("probe_ssl_earliest_cert_expiry{{{tls_labels}}}")),
        not_after(&leaf.cert) as f64
    );
    assert_eq!(
        prometheus.value(&format!(
            "probe_mqtt_finding_info{{{tls_labels},id=\"tls.expiring_soon\",stage=\"tls\",\
             status=\"warn\"}}"
        )),
        1.0
    );
    assert!(
        prometheus
            .query(&format!(
                "probe_ssl_earliest_cert_expiry{{{healthy_labels}}}"
            ))
            .is_empty(),
        "no TLS, no certificate expiry"
    );

    let token_labels = instance("token", &healthy_url);
    assert_eq!(
        prometheus.value(&format!(
            "probe_mqtt_token_expiry_timestamp_seconds{{{token_labels}}}"
        )),
        expiry as f64
    );

    // The silent listener: the probe ends inside the scrape timeout (1.5 s less the 0.5 s
    // offset), so Prometheus records a successful scrape of a failed probe.
    let silent_labels = instance("silent", &silent_url);
    assert_eq!(
        prometheus.value(&format!("probe_success{{{silent_labels}}}")),
        0.0
    );
    assert_eq!(prometheus.value(&format!("up{{{silent_labels}}}")), 1.0);
    assert_eq!(
        prometheus.value(&format!("probe_timeout_seconds{{{silent_labels}}}")),
        1.0
    );
    let took = prometheus.value(&format!("probe_duration_seconds{{{silent_labels}}}"));
    assert!(
        took < 1.5,
        "the probe took {took} s, past the scrape timeout"
    );
    assert!(took >= 0.9, "the probe gave up early, after {took} s");

    // The exporter's own metrics, scraped as any target.
    let at_least_one = |v: f64| v >= 1.0;
    assert!(at_least_one(prometheus.value_when(
        "mqtt_doctor_probes_total{job=\"exporter\",module=\"plain\",result=\"success\"}",
        at_least_one
    )));
    assert!(at_least_one(prometheus.value_when(
        "mqtt_doctor_probe_duration_seconds_count{job=\"exporter\",module=\"silent\"}",
        at_least_one
    )));
    assert_eq!(
        prometheus.value(&format!(
            "mqtt_doctor_build_info{{job=\"exporter\",version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert_eq!(prometheus.value("up{job=\"exporter\"}"), 1.0);
}

/// promtool accepts the probe's metrics (healthy and failed) and the exporter's own, without a
/// lint remark.
#[test]
fn promtool_accepts_every_exposition() {
    let promtool = Path::new("/usr/bin/promtool");
    assert!(
        promtool.is_file(),
        "promtool is not installed; run `bash scripts/install-test-deps.sh` \
         (apt-get install prometheus)"
    );
    let healthy = Mosquitto::start("");
    let exporter = Exporter::start("[profiles.m]\nallow = [\"127.0.0.1\"]\n", &[]);
    let bodies = [
        exporter.get(&probe_path("m", &format!("127.0.0.1:{}", healthy.port))),
        exporter.get(&probe_path("m", &format!("127.0.0.1:{}", closed_port()))),
        exporter.get("/metrics"),
    ];
    for (status, body) in bodies {
        assert_eq!(status, 200, "{body}");
        let mut check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        check
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let output = check.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "promtool: {said}\n{body}");
        assert_eq!(said.trim(), "", "promtool's lint: {body}");
    }
    assert!(bodies_contain_process_metrics(&exporter));
}

fn bodies_contain_process_metrics(exporter: &Exporter) -> bool {
    let (_, body) = exporter.get("/metrics");
    sample(&body, "process_resident_memory_bytes").is_some_and(|v| v > 0.0)
        && sample(&body, "process_open_fds").is_some_and(|v| v > 0.0)
        && sample(&body, "mqtt_doctor_probes_in_flight") == Some(0.0)
}

/// A target no module allows is refused with 403 before any connection; and no secret of a
/// module (a password and a token, both from files) shows in any page or in the log.
#[test]
fn refuses_unlisted_targets_and_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let password = "s3cret-Passw0rd-never-shown";
    let broker = Mosquitto::start(&password_config(
        dir.path(),
        "passwd",
        "alice",
        "other",
        None,
    ));
    let password_file = write(dir.path(), "password", password);
    let token = Token::new("HS256")
        .lifetime(-60, 3600)
        .claim("sub", "device-1")
        .hs256(b"signing-key");
    let token_file = write(dir.path(), "token", &token);
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let exporter = Exporter::start(
        &format!(
            "[profiles.pw]\ntargets = [\"{url}\"]\nusername = \"alice\"\npassword-file = \"{}\"\n\
             [profiles.tok]\ntargets = [\"{url}\"]\nusername = \"alice\"\ntoken-file = \"{}\"\n",
            password_file.display(),
            token_file.display()
        ),
        &[],
    );

    // A listener the modules do not allow: refused, and never connected to.
    let watched = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    watched.set_nonblocking(true).unwrap();
    let watched_port = watched.local_addr().unwrap().port();
    for module in ["pw", "tok"] {
        let (status, body) =
            exporter.get(&probe_path(module, &format!("127.0.0.1:{watched_port}")));
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("does not allow target 127.0.0.1:"), "{body}");
        assert!(!body.contains("probe_success"), "{body}");
    }
    let (status, body) = exporter.get(&probe_path("pw", "mqtt://localhost:1883"));
    assert_eq!(status, 403, "{body}");
    // A target that is an option would be parsed as one, the module's own target standing in:
    // `--proxy=` (or `--dns-server=`) to the watched listener would carry the module's
    // credentials there, past the allow patterns. Refused, with no connection.
    for option in [
        format!("--proxy=http://127.0.0.1:{watched_port}"),
        format!("--dns-server=127.0.0.1:{watched_port}"),
    ] {
        let (status, body) = exporter.get(&probe_path("pw", &option));
        assert_eq!(status, 400, "{option}: {body}");
        assert!(body.contains("not an option"), "{body}");
    }
    thread::sleep(Duration::from_millis(200));
    match watched.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the refused target was connected to: {other:?}"),
    }

    let mut pages = vec![
        exporter.get(&probe_path("pw", &url)),
        exporter.get(&format!("{}&debug=true", probe_path("pw", &url))),
        exporter.get(&probe_path("tok", &url)),
        exporter.get(&format!("{}&debug=true", probe_path("tok", &url))),
    ];
    for (status, body) in &pages {
        assert_eq!(*status, 200, "{body}");
    }
    assert!(pages[0].1.contains("probe_success 0"), "{}", pages[0].1);
    assert!(
        pages[1].1.contains("mqtt.not_authorized"),
        "the debug page is the text report: {}",
        pages[1].1
    );
    assert!(!pages[1].1.contains('\u{1b}'), "no colours: {}", pages[1].1);
    pages.extend([
        exporter.get("/metrics"),
        exporter.get("/"),
        exporter.get("/report?id=1"),
        exporter.get("/report?id=2"),
        exporter.get("/report?id=999"),
        exporter.get(&probe_path("nope", &url)),
        exporter.get("/probe?module=pw"),
        exporter.get("/elsewhere"),
        exporter.get(&probe_path("pw", "mqtt://[::1")),
    ]);
    let statuses: Vec<u16> = pages.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        &statuses[4..],
        &[200, 200, 200, 200, 404, 400, 400, 404, 400]
    );
    assert!(pages[5].1.contains("mqtt.not_authorized"), "{}", pages[5].1);
    let signature = token.rsplit('.').next().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    for (status, body) in &pages {
        for secret in [password, token.as_str(), signature, payload] {
            assert!(
                !body.contains(secret),
                "a secret in a {status} page:\n{body}"
            );
        }
    }
    let stderr = exporter.stderr();
    for secret in [password, token.as_str(), signature, payload] {
        assert!(!stderr.contains(secret), "a secret on stderr:\n{stderr}");
    }
    let (_, metrics) = exporter.get("/metrics");
    assert!(
        metrics.contains("mqtt_doctor_probes_total{module=\"pw\",result=\"refused\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mqtt_doctor_requests_rejected_total{reason=\"unknown_module\"} 1\n"),
        "{metrics}"
    );
}

/// SIGTERM while a probe waits on a silent listener: no new connection is taken, the probe
/// answers at its deadline, and the exporter exits 0.
#[test]
fn sigterm_drains_the_probe_in_flight_and_exits_zero() {
    let silent = Silent::start();
    let url = format!("mqtt://127.0.0.1:{}", silent.port);
    let mut exporter = Exporter::start(
        &format!("[profiles.s]\ntargets = [\"{url}\"]\ndeadline = \"3s\"\n"),
        &["--max-concurrent", "1"],
    );
    let port = exporter.port;
    let path = probe_path("s", &url);
    let started = Instant::now();
    let in_flight = thread::spawn(move || {
        let answer = get(port, &path, &[]);
        (answer, started.elapsed())
    });
    thread::sleep(Duration::from_millis(500));
    // A second probe finds the only slot taken for all of its 1 s limit (1.5 s less 0.5 s).
    let (status, body) = get(
        port,
        &probe_path("s", &url),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    );
    assert_eq!(status, 503, "{body}");
    let killed = Command::new("kill")
        .args(["-TERM", &exporter.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let ((status, body), took) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(sample(&body, "probe_success"), Some(0.0), "{body}");
    assert!(
        took < Duration::from_millis(3500),
        "the probe outlived its deadline: {took:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let code = loop {
        if let Some(status) = exporter.child.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "the exporter did not stop");
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "{}", exporter.stderr());
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "still listening"
    );
    assert!(
        exporter.stderr().contains("stopped"),
        "{}",
        exporter.stderr()
    );
}

/// A client that pipelines requests and never reads the answers holds its connection only until
/// a write has waited 10 s (the exporter's write deadline): then the exporter closes it, where
/// it used to block on the write for good, holding one of its 256 connections each time.
#[test]
fn a_client_that_stops_reading_loses_its_connection() {
    use std::io::{Read as _, Write as _};
    let exporter = Exporter::start("[profiles.m]\nallow = [\"127.0.0.1\"]\n", &[]);
    let mut stuck = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, exporter.port)).unwrap();
    // A small receive buffer fills at once; the requests go on until the exporter stops reading
    // them (it is blocked writing) and our send buffer fills too.
    socket2::SockRef::from(&stuck)
        .set_recv_buffer_size(4096)
        .unwrap();
    stuck
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(5) && stuck.write_all(request).is_ok() {}
    // Meanwhile the exporter answers others.
    let (status, _) = exporter.get("/-/healthy");
    assert_eq!(status, 200);
    // Past the write deadline, start reading: the connection should already be closed, so only
    // what sat in the buffers comes, then its end. Without the deadline the exporter would now
    // go on answering the queued requests, and close only after its 10 s idle timeout.
    std::thread::sleep(Duration::from_secs(13).saturating_sub(started.elapsed()));
    let reading = std::time::Instant::now();
    stuck
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut sink = [0u8; 65536];
    let ended = loop {
        match stuck.read(&mut sink) {
            Ok(0) => break Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(
        ended.is_ok(),
        "the stuck connection was not closed: {ended:?}"
    );
    assert!(
        reading.elapsed() < Duration::from_secs(5),
        "the connection ended {:?} after reading resumed: it was still being served",
        reading.elapsed()
    );
}
