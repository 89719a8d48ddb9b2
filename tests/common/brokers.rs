//! Real brokers of four more families for the broker tests (issue 20): RabbitMQ with its MQTT
//! plugins and ejabberd with mod_mqtt (Debian's packages), aedes (npm) and amqtt (PyPI), each
//! installed by `scripts/install-test-deps.sh` and started here in the foreground with its own
//! configuration, data directory, users and per-user topic permissions, on ephemeral ports of
//! 127.0.0.1 only: plain MQTT always, MQTT over TLS with the certificate a test gives as PEM
//! files, and MQTT over WebSocket (plain and TLS) where the broker offers it.
//!
//! Readiness is read from each broker's log (or, for epmd, from a bare TCP connect), never by
//! speaking MQTT. A missing program fails the test with the install hint: these tests never skip.
//!
//! RabbitMQ takes about ten seconds to start, so a test binary shares one instance
//! ([`RabbitMq::shared`], and [`Ejabberd::shared`] likewise) rather than start one per test. A
//! `static` is never dropped, so every broker runs under a watchdog shell whose standard input
//! is a pipe from the test process: when the test binary ends, however it ends, the pipe closes
//! and the watchdog kills the broker (and removes a shared broker's directory). The broker also
//! runs under `setpriv --pdeathsig KILL`, so that it dies with the watchdog if the watchdog is
//! killed. The Erlang brokers each get a private epmd on an ephemeral port (`ERL_EPMD_PORT`),
//! under the same watchdog, instead of the system-wide one on 4369 that an Erlang node would
//! otherwise start and leave running.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;

use super::pki::{self, Ca, Leaf};
use super::{closed_port, find_program};

const ATTEMPTS: usize = 3;
/// Generous: the Erlang brokers boot slowly on a loaded two-core CI machine.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The user every shared broker admits, allowed to publish and subscribe under `doctor/#`.
pub const USER: &str = "doctor";
pub const PASSWORD: &str = "doctor-pass-1";
/// A second user of the shared brokers, who may subscribe to `doctor/#` but publish nowhere.
pub const READER: &str = "reader";
pub const READER_PASSWORD: &str = "reader-pass-1";

/// A user a broker admits, with the topic filters (MQTT syntax, `+` and `#`) it may publish to
/// and subscribe to; everything else is denied.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

impl User {
    pub fn new(name: &str, password: &str) -> User {
        for word in [name, password] {
            // Every broker's configuration below quotes them without escaping.
            assert!(
                !word.is_empty()
                    && word
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "test users and passwords are plain words: {word:?}"
            );
        }
        User {
            name: name.into(),
            password: password.into(),
            publish: Vec::new(),
            subscribe: Vec::new(),
        }
    }

    pub fn may_publish(mut self, filter: &str) -> User {
        self.publish.push(filter.into());
        self
    }

    pub fn may_subscribe(mut self, filter: &str) -> User {
        self.subscribe.push(filter.into());
        self
    }

    /// May publish and subscribe under `filter`.
    pub fn may(self, filter: &str) -> User {
        self.may_publish(filter).may_subscribe(filter)
    }
}

/// A broker's certificate and key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    pub users: Vec<User>,
    /// Opens an MQTT-over-TLS listener (and a WebSocket-over-TLS one with `websocket`).
    pub tls: Option<TlsFiles>,
    /// Opens a WebSocket listener where the broker offers one.
    pub websocket: bool,
}

impl BrokerOptions {
    /// What the shared brokers run with: [`USER`] and [`READER`], TLS with a certificate for
    /// 127.0.0.1 and localhost from a fresh private CA written into `dir` (its certificate is
    /// the returned path), and WebSocket.
    pub fn standard(dir: &Path) -> (BrokerOptions, PathBuf) {
        let ca = Ca::new("mqtt-doctor broker tests CA");
        let server = ca.issue(&Leaf::server());
        let ca_file = pki::write(dir, "ca.pem", &ca.pem);
        let tls = TlsFiles {
            cert: pki::write(dir, "server.pem", &server.cert),
            key: pki::write(dir, "server.key", &server.key),
        };
        let options = BrokerOptions {
            users: vec![
                User::new(USER, PASSWORD).may("doctor/#"),
                User::new(READER, READER_PASSWORD).may_subscribe("doctor/#"),
            ],
            tls: Some(tls),
            websocket: true,
        };
        (options, ca_file)
    }
}

/// Where a broker listens, all on 127.0.0.1. A `None` is a listener not asked for, or one the
/// broker does not offer.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub mqtt: u16,
    pub mqtts: Option<u16>,
    pub ws: Option<u16>,
    pub wss: Option<u16>,
}

impl Ports {
    fn choose(options: &BrokerOptions, offers_ws: bool) -> Ports {
        let ws = options.websocket && offers_ws;
        let tls = options.tls.is_some();
        Ports {
            mqtt: closed_port(),
            mqtts: tls.then(closed_port),
            ws: ws.then(closed_port),
            wss: (ws && tls).then(closed_port),
        }
    }

    /// `mqtt://127.0.0.1:PORT`, the doctor's target for the plain listener.
    pub fn mqtt_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.mqtt)
    }
}

fn program(name: &str, package: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!(
            "{name} is not installed; run `bash scripts/install-test-deps.sh` \
             ({package}) and try again"
        )
    })
}

fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A file or directory `scripts/install-test-deps.sh` puts under target/test-deps.
fn test_dep(relative: &str, what: &str) -> PathBuf {
    let path = project_path("target/test-deps").join(relative);
    assert!(
        path.exists(),
        "{what} is not installed ({} is missing); run `bash scripts/install-test-deps.sh` and \
         try again",
        path.display()
    );
    path
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// A node name no other broker of this or another test binary uses.
fn node_name(family: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "mqttdoctor-{family}-{}-{}@localhost",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `"$@"` under `setpriv --pdeathsig KILL` and kills it when a line arrives on standard
/// input (the broker dropped) or when standard input reaches its end without one (the test
/// process gone, whose end of the pipe the kernel closes however it ended); only in that second
/// case does it remove `$MQTT_DOCTOR_CLEAN`, which nothing else will. Exits with the broker's
/// status when the broker exits first.
const WATCHDOG: &str = r#"
exec 3<&0 </dev/null
"$MQTT_DOCTOR_SETPRIV" --pdeathsig KILL -- "$@" 3<&- &
child=$!
{
  if read -r _ <&3; then
    kill -KILL "$child"
  else
    kill -KILL "$child"
    sleep 1
    if [ -n "$MQTT_DOCTOR_CLEAN" ]; then rm -rf "$MQTT_DOCTOR_CLEAN"; fi
  fi
} >/dev/null 2>&1 &
exec 3<&-
wait "$child"
"#;

/// A process under the watchdog: ended when dropped, or when the test process ends.
#[derive(Debug)]
struct Watched {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watched {
    /// Starts `command` (its program, arguments, environment and working directory; its output
    /// goes to `output`) under the watchdog. `clean` is removed once the test process is gone.
    fn spawn(command: &Command, output: &Path, clean: Option<&Path>) -> Watched {
        let setpriv = program("setpriv", "apt-get install util-linux");
        let mut watchdog = Command::new("sh");
        watchdog
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(command.get_program())
            .args(command.get_args())
            .env("MQTT_DOCTOR_SETPRIV", setpriv)
            .env("MQTT_DOCTOR_CLEAN", clean.unwrap_or(Path::new("")));
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => watchdog.env(key, value),
                None => watchdog.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            watchdog.current_dir(dir);
        }
        let out = fs::File::create(output).expect("create the broker's output file");
        let err = out.try_clone().expect("clone the output file");
        let mut child = watchdog
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn sh");
        let stdin = child.stdin.take();
        Watched { child, stdin }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Polls `ready` until it holds, the process exits, or [`READY_TIMEOUT`] passes.
    fn wait_for(&mut self, mut ready: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if self.exited() {
                return false;
            }
            if ready() {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // The watchdog kills the broker, then exits.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.child.wait();
    }
}

/// A broker's directory: a temporary one removed when the broker is dropped, or, for a shared
/// broker (never dropped), one the watchdog removes when the test process ends.
#[derive(Debug)]
struct Dir {
    path: PathBuf,
    _temp: Option<TempDir>,
}

impl Dir {
    fn new(shared: bool) -> Dir {
        let temp = tempfile::Builder::new()
            .prefix("mqtt-doctor-broker-")
            .tempdir()
            .expect("temp dir");
        if shared {
            Dir {
                path: temp.keep(),
                _temp: None,
            }
        } else {
            Dir {
                path: temp.path().to_path_buf(),
                _temp: Some(temp),
            }
        }
    }

    /// What the watchdog removes once the test process is gone: a shared broker's directory,
    /// and a test's own broker's too when the test binary was killed before dropping it.
    fn clean_at_exit(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A private epmd for one Erlang broker: the name server its node and its control tools meet
/// at, on `ERL_EPMD_PORT`.
#[derive(Debug)]
struct Epmd {
    _process: Watched,
    port: u16,
}

impl Epmd {
    fn start(dir: &Path) -> Epmd {
        let binary = program("epmd", "apt-get install erlang-base");
        for _ in 0..ATTEMPTS {
            let port = closed_port();
            let mut command = Command::new(&binary);
            command.args(["-port", &port.to_string(), "-address", "127.0.0.1"]);
            let mut process = Watched::spawn(&command, &dir.join("epmd.log"), None);
            // epmd logs nothing when it listens; a connect is all there is.
            if process.wait_for(|| accepts(port)) && !process.exited() {
                return Epmd {
                    _process: process,
                    port,
                };
            }
        }
        panic!("epmd did not start listening in {ATTEMPTS} attempts");
    }
}

/// The Erlang `-kernel` arguments that keep a node's distribution port on loopback.
const ERL_LOOPBACK: &str = "-kernel inet_dist_use_interface {127,0,0,1}";

/// A topic filter as the regular expression RabbitMQ's topic permissions match against routing
/// keys: the MQTT plugin turns `/` into `.`, and the filters of SUBSCRIBE into `*` and `#`.
fn rabbit_regex(filters: &[String]) -> String {
    if filters.is_empty() {
        // Matches no routing key.
        return "^$".into();
    }
    let alternatives: Vec<String> = filters
        .iter()
        .map(|filter| {
            filter
                .split('/')
                .map(|level| match level {
                    "#" => ".*".to_string(),
                    "+" => "[^.]+".to_string(),
                    literal => literal
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                                c.to_string()
                            } else {
                                format!("\\{c}")
                            }
                        })
                        .collect(),
                })
                .collect::<Vec<_>>()
                .join("\\.")
        })
        .collect();
    format!("^({})$", alternatives.join("|"))
}

/// A real RabbitMQ 3.10 (Debian's package) with the MQTT and Web MQTT plugins, its own node
/// name, cookie, epmd, mnesia and log directory; AMQP is off. Users, vhost permissions and topic
/// permissions come from a definitions file loaded at boot; anonymous MQTT is off.
///
/// What it answers (seen here): MQTT 3.1.1 only, so an MQTT 5 CONNECT gets the connection
/// closed without a CONNACK; a wrong password or an unknown user gets return code 4.
#[derive(Debug)]
pub struct RabbitMq {
    process: Watched,
    epmd: Epmd,
    dir: Dir,
    pub ports: Ports,
    pub node: String,
    /// The CA of the shared broker's certificate (`None` for one a test started itself).
    pub ca_file: Option<PathBuf>,
    /// How long the broker took to start, for the record.
    pub started_in: Duration,
}

impl RabbitMq {
    /// The one RabbitMQ of this test binary, started on first use with
    /// [`BrokerOptions::standard`].
    pub fn shared() -> &'static RabbitMq {
        static SHARED: OnceLock<RabbitMq> = OnceLock::new();
        SHARED.get_or_init(|| {
            let dir = Dir::new(true);
            let (options, ca_file) = BrokerOptions::standard(&dir.path);
            let mut broker = RabbitMq::start_in(dir, &options);
            broker.ca_file = Some(ca_file);
            broker
        })
    }

    /// A RabbitMQ of the test's own: about ten seconds; prefer [`RabbitMq::shared`].
    pub fn start(options: &BrokerOptions) -> RabbitMq {
        RabbitMq::start_in(Dir::new(false), options)
    }

    fn start_in(dir: Dir, options: &BrokerOptions) -> RabbitMq {
        let started = Instant::now();
        // The script under /usr/sbin switches to the rabbitmq user; this one runs as we are.
        let server = Path::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
        assert!(
            server.exists(),
            "RabbitMQ is not installed; run `bash scripts/install-test-deps.sh` \
             (apt-get install rabbitmq-server) and try again"
        );
        let d = dir.path.clone();
        let definitions = json!({
            "vhosts": [{"name": "/"}],
            "users": options.users.iter().map(|u| json!({
                "name": u.name, "password": u.password, "tags": ""
            })).collect::<Vec<_>>(),
            "permissions": options.users.iter().map(|u| json!({
                "user": u.name, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"
            })).collect::<Vec<_>>(),
            "topic_permissions": options.users.iter().map(|u| json!({
                "user": u.name, "vhost": "/", "exchange": "amq.topic",
                "write": rabbit_regex(&u.publish), "read": rabbit_regex(&u.subscribe)
            })).collect::<Vec<_>>(),
        });
        fs::write(d.join("definitions.json"), definitions.to_string()).unwrap();
        let plugins = if options.websocket {
            "[rabbitmq_mqtt,rabbitmq_web_mqtt]."
        } else {
            "[rabbitmq_mqtt]."
        };
        fs::write(d.join("enabled_plugins"), plugins).unwrap();
        let epmd = Epmd::start(&d);
        let mut last_log = String::new();
        for attempt in 0..ATTEMPTS {
            let ports = Ports::choose(options, true);
            let mut config = format!(
                "listeners.tcp = none\n\
                 mqtt.allow_anonymous = false\n\
                 mqtt.listeners.tcp.1 = 127.0.0.1:{}\n\
                 load_definitions = {}\n\
                 log.file.level = info\n\
                 log.console = false\n",
                ports.mqtt,
                d.join("definitions.json").display()
            );
            if let Some(tls) = &options.tls {
                write!(
                    config,
                    "mqtt.listeners.ssl.1 = 127.0.0.1:{}\n\
                     ssl_options.certfile = {}\n\
                     ssl_options.keyfile = {}\n\
                     ssl_options.verify = verify_none\n\
                     ssl_options.fail_if_no_peer_cert = false\n",
                    ports.mqtts.unwrap(),
                    tls.cert.display(),
                    tls.key.display()
                )
                .unwrap();
            }
            if let Some(ws) = ports.ws {
                write!(
                    config,
                    "web_mqtt.tcp.ip = 127.0.0.1\nweb_mqtt.tcp.port = {ws}\n"
                )
                .unwrap();
            }
            if let (Some(wss), Some(tls)) = (ports.wss, &options.tls) {
                write!(
                    config,
                    "web_mqtt.ssl.ip = 127.0.0.1\n\
                     web_mqtt.ssl.port = {wss}\n\
                     web_mqtt.ssl.certfile = {}\n\
                     web_mqtt.ssl.keyfile = {}\n",
                    tls.cert.display(),
                    tls.key.display()
                )
                .unwrap();
            }
            fs::write(d.join("rabbitmq.conf"), config).unwrap();
            let node = node_name("rabbit");
            let mnesia = d.join(format!("mnesia-{attempt}"));
            let log = d.join("rabbit.log");
            let _ = fs::remove_file(&log);
            let mut command = Command::new(server);
            command
                .current_dir(&d)
                .env("HOME", &d)
                .env("ERL_EPMD_PORT", epmd.port.to_string())
                .env("ERL_EPMD_ADDRESS", "127.0.0.1")
                .env("RABBITMQ_NODENAME", &node)
                .env("RABBITMQ_DIST_PORT", closed_port().to_string())
                .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
                .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
                .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
                .env("RABBITMQ_MNESIA_BASE", &mnesia)
                .env("RABBITMQ_LOG_BASE", &d)
                .env("RABBITMQ_LOGS", &log)
                .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", ERL_LOOPBACK)
                // Without it the script stays as a parent that turns signals into
                // `rabbitmqctl stop`; with it, it execs the VM: the watchdog's child is the
                // broker itself.
                .env("RUNNING_UNDER_SYSTEMD", "true");
            let mut process = Watched::spawn(&command, &d.join("stdout.log"), dir.clean_at_exit());
            let ready = process.wait_for(|| read(&log).contains("Server startup complete"));
            if ready {
                return RabbitMq {
                    process,
                    epmd,
                    dir,
                    ports,
                    node,
                    ca_file: None,
                    started_in: started.elapsed(),
                };
            }
            drop(process);
            last_log = format!("{}\n{}", read(&log), read(&d.join("stdout.log")));
        }
        panic!("RabbitMQ did not start; its last log:\n{last_log}");
    }

    /// RabbitMQ's own log (debug level), where it says why it refused a client.
    pub fn log(&self) -> String {
        read(&self.dir.path.join("rabbit.log"))
    }

    /// Runs `rabbitmqctl ARGS` against this node (about a second each) and returns its output;
    /// panics when it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let output = Command::new("/usr/lib/rabbitmq/bin/rabbitmqctl")
            .arg("-n")
            .arg(&self.node)
            .args(args)
            .current_dir(&self.dir.path)
            .env("HOME", &self.dir.path)
            .env("ERL_EPMD_PORT", self.epmd.port.to_string())
            .env("RABBITMQ_CTL_ERL_ARGS", ERL_LOOPBACK)
            .stdin(Stdio::null())
            .output()
            .expect("run rabbitmqctl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "rabbitmqctl {args:?}: {text}");
        text
    }

    /// Adds `user` with its topic permissions to the running broker (a few seconds).
    pub fn add_user(&self, user: &User) {
        self.ctl(&["add_user", &user.name, &user.password]);
        self.ctl(&["set_permissions", &user.name, ".*", ".*", ".*"]);
        self.ctl(&[
            "set_topic_permissions",
            &user.name,
            "amq.topic",
            &rabbit_regex(&user.publish),
            &rabbit_regex(&user.subscribe),
        ]);
    }

    /// Whether the broker is still running.
    pub fn running(&mut self) -> bool {
        !self.process.exited()
    }
}

/// Where Debian puts ejabberd's Erlang applications (`ERL_LIBS`).
fn ejabberd_libs() -> PathBuf {
    let missing = "ejabberd is not installed; run `bash scripts/install-test-deps.sh` \
                   (apt-get install ejabberd) and try again";
    let lib = fs::read_dir("/usr/lib").expect(missing);
    for arch in lib.flatten() {
        let Ok(entries) = fs::read_dir(arch.path()) else {
            continue;
        };
        if entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("ejabberd-"))
        {
            return arch.path();
        }
    }
    panic!("{missing}");
}

/// A real ejabberd 23.01 (Debian's package) with mod_mqtt, started as a bare Erlang node (the
/// `ejabberdctl` script would switch to the ejabberd user) with its own ejabberd.yml, node name,
/// cookie, epmd and mnesia directory. Users are registered in its internal database through an
/// Erlang RPC once it is up; `access_publish` and `access_subscribe` give each user its filters
/// and deny every other topic.
///
/// What it answers (seen here): MQTT 5; a wrong password or an unknown user gets 0x87.
#[derive(Debug)]
pub struct Ejabberd {
    process: Watched,
    epmd: Epmd,
    dir: Dir,
    pub ports: Ports,
    pub node: String,
    cookie: String,
    pub ca_file: Option<PathBuf>,
    pub started_in: Duration,
}

const EJABBERD_HOST: &str = "localhost";

impl Ejabberd {
    /// The one ejabberd of this test binary, started on first use with
    /// [`BrokerOptions::standard`].
    pub fn shared() -> &'static Ejabberd {
        static SHARED: OnceLock<Ejabberd> = OnceLock::new();
        SHARED.get_or_init(|| {
            let dir = Dir::new(true);
            let (options, ca_file) = BrokerOptions::standard(&dir.path);
            let mut broker = Ejabberd::start_in(dir, &options);
            broker.ca_file = Some(ca_file);
            broker
        })
    }

    pub fn start(options: &BrokerOptions) -> Ejabberd {
        Ejabberd::start_in(Dir::new(false), options)
    }

    fn config(options: &BrokerOptions, ports: &Ports) -> String {
        let mut yml = format!(
            "hosts:\n  - {EJABBERD_HOST}\n\
             loglevel: debug\n\
             log_rotate_count: 0\n\
             acme:\n  auto: false\n\
             auth_method: [internal]\n"
        );
        if let Some(tls) = &options.tls {
            write!(
                yml,
                "certfiles:\n  - \"{}\"\n  - \"{}\"\n",
                tls.cert.display(),
                tls.key.display()
            )
            .unwrap();
        }
        // One ACL and one access rule per distinct filter, allowing the users that list it.
        let mut acl = String::new();
        let mut rules = String::new();
        let mut access = BTreeMap::new();
        for (kind, pick) in [
            (
                "publish",
                (|u: &User| &u.publish) as fn(&User) -> &Vec<String>,
            ),
            ("subscribe", |u: &User| &u.subscribe),
        ] {
            let mut filters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for user in &options.users {
                for filter in pick(user) {
                    filters.entry(filter).or_default().push(&user.name);
                }
            }
            let mut mapping = String::new();
            for (n, (filter, users)) in filters.iter().enumerate() {
                let name = format!("mqtt_{kind}_{n}");
                write!(
                    acl,
                    "  {name}:\n    user: [{}]\n",
                    users
                        .iter()
                        .map(|u| format!("\"{u}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                .unwrap();
                write!(rules, "  {name}:\n    allow: {name}\n").unwrap();
                writeln!(mapping, "      \"{filter}\": {name}").unwrap();
            }
            // Topics no filter covers are denied to everyone.
            if !filters.contains_key("#") {
                mapping.push_str("      \"#\": none\n");
            }
            access.insert(kind, mapping);
        }
        if !acl.is_empty() {
            write!(yml, "acl:\n{acl}access_rules:\n{rules}").unwrap();
        }
        write!(
            yml,
            "listen:\n\
             \x20 - port: {}\n    ip: \"127.0.0.1\"\n    module: mod_mqtt\n",
            ports.mqtt
        )
        .unwrap();
        if let Some(port) = ports.mqtts {
            write!(
                yml,
                "  - port: {port}\n    ip: \"127.0.0.1\"\n    module: mod_mqtt\n    tls: true\n"
            )
            .unwrap();
        }
        for (port, tls) in [(ports.ws, false), (ports.wss, true)] {
            if let Some(port) = port {
                write!(
                    yml,
                    "  - port: {port}\n    ip: \"127.0.0.1\"\n    module: ejabberd_http\n    \
                     tls: {tls}\n    request_handlers:\n      /mqtt: mod_mqtt\n"
                )
                .unwrap();
            }
        }
        write!(
            yml,
            "modules:\n  mod_mqtt:\n    access_publish:\n{}    access_subscribe:\n{}",
            access["publish"], access["subscribe"]
        )
        .unwrap();
        yml
    }

    fn start_in(dir: Dir, options: &BrokerOptions) -> Ejabberd {
        let started = Instant::now();
        let libs = ejabberd_libs();
        let erl = program("erl", "apt-get install erlang-base");
        let d = dir.path.clone();
        let epmd = Epmd::start(&d);
        let cookie = format!("mqttdoctor{}", std::process::id());
        let mut last_log = String::new();
        for attempt in 0..ATTEMPTS {
            let ports = Ports::choose(options, true);
            fs::write(d.join("ejabberd.yml"), Ejabberd::config(options, &ports)).unwrap();
            let node = node_name("ejabberd");
            let log = d.join("ejabberd.log");
            let _ = fs::remove_file(&log);
            let mut command = Command::new(&erl);
            command
                .args([
                    "-sname",
                    &node,
                    "-setcookie",
                    &cookie,
                    "-noinput",
                    "+K",
                    "true",
                ])
                .args(ERL_LOOPBACK.split(' '))
                .args(["-mnesia", "dir"])
                .arg(format!("\"{}\"", d.join(format!("db-{attempt}")).display()))
                .args(["-s", "ejabberd"])
                .current_dir(&d)
                .env("HOME", &d)
                .env("ERL_EPMD_PORT", epmd.port.to_string())
                .env("ERL_EPMD_ADDRESS", "127.0.0.1")
                .env("ERL_LIBS", &libs)
                .env("ERL_CRASH_DUMP", d.join("erl_crash.dump"))
                .env("EJABBERD_CONFIG_PATH", d.join("ejabberd.yml"))
                .env("EJABBERD_LOG_PATH", &log);
            let mut process = Watched::spawn(&command, &d.join("stdout.log"), dir.clean_at_exit());
            let listening: Vec<String> = [Some(ports.mqtt), ports.mqtts, ports.ws, ports.wss]
                .into_iter()
                .flatten()
                .map(|port| format!("connections at 127.0.0.1:{port} for"))
                .collect();
            let ready = process.wait_for(|| {
                let text = read(&log);
                text.contains(" is started in the node ")
                    && listening.iter().all(|line| text.contains(line.as_str()))
            });
            if ready {
                let broker = Ejabberd {
                    process,
                    epmd,
                    dir,
                    ports,
                    node,
                    cookie,
                    ca_file: None,
                    started_in: Duration::ZERO,
                };
                broker.register(&options.users);
                return Ejabberd {
                    started_in: started.elapsed(),
                    ..broker
                };
            }
            drop(process);
            last_log = format!("{}\n{}", read(&log), read(&d.join("stdout.log")));
        }
        panic!("ejabberd did not start; its last log:\n{last_log}");
    }

    /// Registers `users` in ejabberd's internal database, all through one RPC node (a second).
    pub fn register(&self, users: &[User]) {
        if users.is_empty() {
            return;
        }
        let calls: Vec<String> = users
            .iter()
            .map(|u| {
                format!(
                    "{{<<\"{}\">>, rpc:call('{}', ejabberd_auth, try_register, \
                     [<<\"{}\">>, <<\"{EJABBERD_HOST}\">>, <<\"{}\">>])}}",
                    u.name, self.node, u.name, u.password
                )
            })
            .collect();
        let eval = format!(
            "R = [{}], io:format(\"~p~n\", [R]), \
             halt(case lists:all(fun({{_, X}}) -> X =:= ok end, R) of true -> 0; false -> 1 end).",
            calls.join(", ")
        );
        let output = Command::new(program("erl", "apt-get install erlang-base"))
            .args(["-sname", &node_name("ctl"), "-hidden", "-noinput"])
            .args(["-setcookie", &self.cookie])
            .args(ERL_LOOPBACK.split(' '))
            .args(["-eval", &eval])
            .current_dir(&self.dir.path)
            .env("HOME", &self.dir.path)
            .env("ERL_EPMD_PORT", self.epmd.port.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run erl");
        assert!(
            output.status.success(),
            "registering ejabberd users failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// ejabberd's own log (debug level).
    pub fn log(&self) -> String {
        read(&self.dir.path.join("ejabberd.log"))
    }

    pub fn running(&mut self) -> bool {
        !self.process.exited()
    }
}

/// A real aedes 0.51 (npm) run by Node.js from tests/brokers/aedes/server.js, with its
/// authenticate, authorizePublish and authorizeSubscribe hooks reading the users and filters
/// given here. Cheap to start (under a second): one per test.
///
/// What it answers (seen here): MQTT 3.1.1 only, an MQTT 5 CONNECT gets a 3.1.1 CONNACK with
/// return code 1; a wrong password or an unknown user gets return code 5.
#[derive(Debug)]
pub struct Aedes {
    _process: Watched,
    dir: Dir,
    pub ports: Ports,
    pub started_in: Duration,
}

impl Aedes {
    pub fn start(options: &BrokerOptions) -> Aedes {
        let started = Instant::now();
        let node = program("node", "apt-get install nodejs");
        let modules = test_dep("aedes/node_modules", "aedes");
        test_dep("aedes/node_modules/aedes", "aedes");
        let server = project_path("tests/brokers/aedes/server.js");
        let dir = Dir::new(false);
        let d = dir.path.clone();
        let users: serde_json::Map<String, serde_json::Value> = options
            .users
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    json!({"password": u.password, "publish": u.publish, "subscribe": u.subscribe}),
                )
            })
            .collect();
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let ports = Ports::choose(options, true);
            let mut config = json!({"host": "127.0.0.1", "port": ports.mqtt, "users": users});
            if let Some(tls) = &options.tls {
                config["cert"] = json!(tls.cert);
                config["key"] = json!(tls.key);
                config["tls_port"] = json!(ports.mqtts);
            }
            if let Some(ws) = ports.ws {
                config["ws_port"] = json!(ws);
            }
            if let Some(wss) = ports.wss {
                config["wss_port"] = json!(wss);
            }
            let config_path = d.join("aedes.json");
            fs::write(&config_path, config.to_string()).unwrap();
            let log = d.join("aedes.log");
            let mut command = Command::new(&node);
            command
                .arg(&server)
                .arg(&config_path)
                .current_dir(&d)
                .env("NODE_PATH", &modules);
            let mut process = Watched::spawn(&command, &log, dir.clean_at_exit());
            if process.wait_for(|| read(&log).contains(" ready\n")) {
                return Aedes {
                    _process: process,
                    dir,
                    ports,
                    started_in: started.elapsed(),
                };
            }
            drop(process);
            last_log = read(&log);
        }
        panic!("aedes did not start; its last log:\n{last_log}");
    }

    /// server.js's log: connections, refused credentials, denied topics.
    pub fn log(&self) -> String {
        read(&self.dir.path.join("aedes.log"))
    }
}

/// A real amqtt 0.12 (PyPI) from its venv under target/test-deps, with its password file (argon2
/// hashes made by the pwdlib it ships with) and its topic access-control list plugin. Cheap to
/// start (about a second): one per test.
///
/// What it answers (seen here): MQTT 3.1.1; an MQTT 5 CONNECT gets no answer at all (it waits
/// for more bytes); a wrong password or an unknown user gets return code 5.
#[derive(Debug)]
pub struct Amqtt {
    _process: Watched,
    dir: Dir,
    pub ports: Ports,
    pub started_in: Duration,
}

impl Amqtt {
    pub fn start(options: &BrokerOptions) -> Amqtt {
        let started = Instant::now();
        let venv = test_dep("amqtt-venv", "amqtt");
        let amqtt = venv.join("bin/amqtt");
        let python = venv.join("bin/python");
        let dir = Dir::new(false);
        let d = dir.path.clone();
        let passwd = d.join("passwd");
        let hash = Command::new(&python)
            .arg("-c")
            .arg(
                "import sys\n\
                 from pwdlib import PasswordHash\n\
                 from pwdlib.hashers.argon2 import Argon2Hasher\n\
                 h = PasswordHash((Argon2Hasher(),))\n\
                 args = sys.argv[1:]\n\
                 for user, password in zip(args[::2], args[1::2]):\n\
                 \x20   print(f'{user}:{h.hash(password)}')\n",
            )
            .args(
                options
                    .users
                    .iter()
                    .flat_map(|u| [u.name.as_str(), u.password.as_str()]),
            )
            .output()
            .expect("run the amqtt venv's python");
        assert!(
            hash.status.success(),
            "hashing amqtt passwords: {}",
            String::from_utf8_lossy(&hash.stderr)
        );
        fs::write(&passwd, &hash.stdout).unwrap();
        let acl = |pick: fn(&User) -> &Vec<String>| -> String {
            let mut text = String::new();
            for user in &options.users {
                let filters: Vec<String> = pick(user).iter().map(|f| format!("\"{f}\"")).collect();
                writeln!(text, "      {}: [{}]", user.name, filters.join(", ")).unwrap();
            }
            if text.is_empty() {
                " {}\n".into()
            } else {
                format!("\n{text}")
            }
        };
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let ports = Ports::choose(options, true);
            let mut listeners = format!(
                "  default:\n    type: tcp\n    bind: 127.0.0.1:{}\n",
                ports.mqtt
            );
            let mut listen = |name: &str, kind: &str, port: Option<u16>| {
                if let (Some(port), Some(tls)) = (port, &options.tls) {
                    write!(
                        listeners,
                        "  {name}:\n    type: {kind}\n    bind: 127.0.0.1:{port}\n    \
                         ssl: true\n    certfile: \"{}\"\n    keyfile: \"{}\"\n",
                        tls.cert.display(),
                        tls.key.display()
                    )
                    .unwrap();
                } else if let Some(port) = port {
                    write!(
                        listeners,
                        "  {name}:\n    type: {kind}\n    bind: 127.0.0.1:{port}\n"
                    )
                    .unwrap();
                }
            };
            listen("tls", "tcp", ports.mqtts);
            listen("wss", "ws", ports.wss);
            let mut plain_ws = String::new();
            if let Some(port) = ports.ws {
                write!(
                    plain_ws,
                    "  ws:\n    type: ws\n    bind: 127.0.0.1:{port}\n"
                )
                .unwrap();
            }
            let config = format!(
                "listeners:\n{listeners}{plain_ws}\
                 plugins:\n\
                 \x20 amqtt.plugins.logging_amqtt.EventLoggerPlugin:\n\
                 \x20 amqtt.plugins.authentication.FileAuthPlugin:\n\
                 \x20   password_file: \"{}\"\n\
                 \x20 amqtt.plugins.topic_checking.TopicAccessControlListPlugin:\n\
                 \x20   publish_acl:{}\
                 \x20   acl:{}",
                passwd.display(),
                acl(|u| &u.publish),
                acl(|u| &u.subscribe),
            );
            let config_path = d.join("amqtt.yaml");
            fs::write(&config_path, config).unwrap();
            let log = d.join("amqtt.log");
            let mut command = Command::new(&amqtt);
            command
                .arg("-c")
                .arg(&config_path)
                .arg("-d")
                .current_dir(&d);
            let mut process = Watched::spawn(&command, &log, dir.clean_at_exit());
            let listening: Vec<String> = [Some(ports.mqtt), ports.mqtts, ports.ws, ports.wss]
                .into_iter()
                .flatten()
                .map(|port| format!(" bind to 127.0.0.1:{port} "))
                .collect();
            if process.wait_for(|| {
                let text = read(&log);
                text.contains("Broker started")
                    && listening.iter().all(|line| text.contains(line.as_str()))
            }) {
                return Amqtt {
                    _process: process,
                    dir,
                    ports,
                    started_in: started.elapsed(),
                };
            }
            drop(process);
            last_log = read(&log);
        }
        panic!("amqtt did not start; its last log:\n{last_log}");
    }

    /// amqtt's debug log, every packet in and out included.
    pub fn log(&self) -> String {
        read(&self.dir.path.join("amqtt.log"))
    }
}
