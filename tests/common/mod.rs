//! Shared test harness: run the real binary, start real Mosquitto brokers, a DNS server and
//! misbehaving TCP peers, all on loopback. Nothing here talks to any other address.
#![allow(dead_code)]

pub mod apiserver;
pub mod brokers;
pub mod dns;
pub mod hostile;
pub mod jwt;
pub mod pki;
pub mod scripted;
pub mod servers;

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_doctor::report::{FindingReport, MultiReport, Report, StageReport, TokenReport};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_mqtt-doctor");

/// The binary with a clean environment: no colour, no Kubernetes, no MQTT_DOCTOR_* settings
/// leaking in from the developer's shell.
pub fn doctor_command() -> Command {
    let mut command = Command::new(BIN);
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.stdin(Stdio::null());
    command
}

/// The outcome of one run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Run {
        Run {
            code: output
                .status
                .code()
                .expect("the doctor was killed by a signal"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// The JSON report, read strictly: unknown fields fail the test.
    pub fn report(&self) -> Report {
        self.parse()
    }

    /// The JSON report of `token inspect`, read strictly.
    pub fn token_report(&self) -> TokenReport {
        self.parse()
    }

    /// The JSON report of a run over several targets, validated and read strictly.
    pub fn multi_report(&self) -> MultiReport {
        self.parse()
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        parse_valid(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

pub fn run(args: &[&str]) -> Run {
    run_with(doctor_command(), args)
}

pub fn run_with(mut command: Command, args: &[&str]) -> Run {
    Run::from_output(command.args(args).output().expect("the doctor binary runs"))
}

/// Runs the binary with `env` set on top of the clean environment: how secrets are passed.
pub fn run_env(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = doctor_command();
    command.envs(env.iter().copied());
    run_with(command, args)
}

/// A JSON report checked against docs/report.schema.json with a real JSON Schema validator,
/// then read strictly into its type: what every JSON report a test reads goes through.
pub fn parse_valid<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let schema: Value = serde_json::from_str(
            &fs::read_to_string("docs/report.schema.json").expect("docs/report.schema.json"),
        )
        .expect("docs/report.schema.json is JSON");
        jsonschema::validator_for(&schema).expect("docs/report.schema.json is a valid schema")
    });
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the report is not JSON ({e})"))?;
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if !errors.is_empty() {
        return Err(format!(
            "the report does not match docs/report.schema.json: {}",
            errors.join("; ")
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("the report is not a strict report ({e})"))
}

/// Runs `doctor <args> --format json` and returns the report and the exit code.
pub fn doctor_json(args: &[&str]) -> (Report, i32) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = run(&all);
    (run.report(), run.code)
}

pub trait ReportExt {
    fn all_findings(&self) -> &[FindingReport];

    fn finding(&self, id: &str) -> &FindingReport {
        self.all_findings()
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no {id} among {:?}", self.ids()))
    }

    fn ids(&self) -> Vec<&str> {
        self.all_findings().iter().map(|f| f.id.as_str()).collect()
    }
}

impl ReportExt for TokenReport {
    fn all_findings(&self) -> &[FindingReport] {
        &self.findings
    }
}

impl ReportExt for Report {
    fn all_findings(&self) -> &[FindingReport] {
        &self.findings
    }
}

pub trait StageExt {
    fn stage(&self, stage: &str) -> &StageReport;

    fn stage_status(&self, stage: &str) -> &str {
        self.stage(stage).status.as_str()
    }
}

impl StageExt for Report {
    fn stage(&self, stage: &str) -> &StageReport {
        self.stages
            .iter()
            .find(|s| s.name.name() == stage)
            .unwrap_or_else(|| panic!("no stage {stage}"))
    }
}

/// An evidence value as text, for assertions.
pub fn evidence(finding: &FindingReport, key: &str) -> String {
    match finding.evidence.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => panic!(
            "{} has no evidence {key}: {:?}",
            finding.id, finding.evidence
        ),
    }
}

/// Mosquitto configuration admitting only `user` with `password`, from a password file that
/// mosquitto_passwd writes to `dir/name`, hashed with `rounds` PBKDF2 rounds (its default, 101,
/// when `None`).
pub fn password_config(
    dir: &Path,
    name: &str,
    user: &str,
    password: &str,
    rounds: Option<u32>,
) -> String {
    let file = dir.join(name);
    let mut command = Command::new("mosquitto_passwd");
    command.args(["-c", "-b"]);
    if let Some(rounds) = rounds {
        command.args(["-I", &rounds.to_string()]);
    }
    let status = command
        .arg(&file)
        .args([user, password])
        .status()
        .expect("mosquitto_passwd runs (apt-get install mosquitto)");
    assert!(status.success(), "mosquitto_passwd {}", file.display());
    format!("allow_anonymous false\npassword_file {}\n", file.display())
}

/// A port that was free a moment ago on `ip`.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// A named pipe `name` in `dir`, that nothing writes to: opening it to read blocks for ever.
pub fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let made = Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
    path
}

/// A port free a moment ago on every one of `ips`: the one port of the nodes behind one name.
pub fn shared_port(ips: &[Ipv4Addr]) -> u16 {
    for _ in 0..50 {
        let port = free_port(ips[0]);
        if ips[1..]
            .iter()
            .all(|ip| TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    free_port(Ipv4Addr::LOCALHOST)
}

/// Finds a program on PATH or in the sbin directories where Debian puts daemons.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A real Mosquitto broker with its own config, port and directory, killed when dropped.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts Mosquitto listening on 127.0.0.1 with `extra` appended to its configuration.
    /// Fails the test loudly when Mosquitto is not installed: these tests never skip.
    pub fn start(extra: &str) -> Mosquitto {
        let mut last_log = String::new();
        for _ in 0..3 {
            match Mosquitto::try_start(Ipv4Addr::LOCALHOST, closed_port(), extra) {
                Ok(broker) => return broker,
                Err(log) => last_log = log,
            }
        }
        panic!("mosquitto did not start listening; its last log:\n{last_log}");
    }

    /// Starts Mosquitto on `ip`:`port` (a node of a cluster behind one name, where every node
    /// listens on the same port), with `extra` appended to its configuration.
    pub fn start_at(ip: Ipv4Addr, port: u16, extra: &str) -> Mosquitto {
        Mosquitto::try_start(ip, port, extra)
            .unwrap_or_else(|log| panic!("mosquitto did not start on {ip}:{port}; its log:\n{log}"))
    }

    /// One attempt; the broker's log when it did not come up.
    fn try_start(ip: Ipv4Addr, port: u16, extra: &str) -> Result<Mosquitto, String> {
        let binary = find_program("mosquitto").unwrap_or_else(|| {
            panic!(
                "mosquitto is not installed; run `bash scripts/install-test-deps.sh` \
                 (apt-get install mosquitto) and try again"
            )
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("mosquitto.log");
        let config = format!(
            "# As root, Mosquitto would switch to user mosquitto and lose access to this dir.\n\
             user root\n\
             listener {port} {ip}\n\
             allow_anonymous true\n\
             persistence false\n\
             # Healthy: without it a CONNACK after TLS 1.3 waits ~40 ms (mqtt.nagle_delay).\n\
             set_tcp_nodelay true\n\
             log_dest file {}\n\
             log_type all\n{extra}\n",
            log.display()
        );
        let config_path = dir.path().join("mosquitto.conf");
        fs::write(&config_path, config).expect("write mosquitto.conf");
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        let mut broker = Mosquitto { child, port, dir };
        if broker.wait_ready(&log) {
            return Ok(broker);
        }
        Err(fs::read_to_string(&log).unwrap_or_default())
    }

    /// Waits for the broker to report its listener open, without connecting to it.
    fn wait_ready(&mut self, log: &Path) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let text = fs::read_to_string(log).unwrap_or_default();
            if text.contains("Opening ipv4 listen socket") && text.contains("running") {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listener whose accept queue is full, so that further connection attempts get no answer:
/// the loopback stand-in for a host that silently drops packets.
pub struct Unanswered {
    _listener: socket2::Socket,
    _fillers: Vec<TcpStream>,
    pub addr: SocketAddr,
}

impl Unanswered {
    pub fn bind(addr: SocketAddr) -> io::Result<Unanswered> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.bind(&addr.into())?;
        socket.listen(0)?;
        let addr = socket.local_addr()?.as_socket().expect("an IP socket");
        let mut fillers = Vec::new();
        // Fill the queue until an attempt goes unanswered.
        for _ in 0..16 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => fillers.push(stream),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Ok(Unanswered {
                        _listener: socket,
                        _fillers: fillers,
                        addr,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("the listen queue never filled up"))
    }
}

/// A listener that accepts every connection and resets it at once (SO_LINGER 0), like a load
/// balancer with no healthy backend.
pub struct Resetter {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Resetter {
    pub fn bind(addr: SocketAddr) -> io::Result<Resetter> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                        drop(stream);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Resetter { addr, stop })
    }
}

impl Drop for Resetter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A directory laid out like a filesystem root, for `--root` / `MQTT_DOCTOR_ROOT`.
pub fn fake_root(resolv_conf: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(root.path().join("etc")).unwrap();
    fs::write(root.path().join("etc/resolv.conf"), resolv_conf).unwrap();
    root
}

/// Whether this process runs as root (needed for mount namespaces and port 53).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
