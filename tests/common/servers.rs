//! Real servers from Debian's packages for the WebSocket, proxy and load-balancer tests:
//! Mosquitto with a websockets listener, tinyproxy, microsocks, nginx and HAProxy. Their replies,
//! quirks included, are what the doctor meets in the field; a hand-written stand-in would only
//! echo our own reading of the RFCs. Each runs in the foreground as a child of the test, with
//! its own configuration in a temporary directory, on an ephemeral port of 127.0.0.1 only, and
//! is killed and reaped when dropped. Readiness is read from logs (or, for microsocks, which has none, from a bare
//! connect), never by speaking the protocol under test. A missing program fails the test: these
//! tests never skip.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{closed_port, find_program, is_root};

const ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(10);

fn program(name: &str, package: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!(
            "{name} is not installed; run `bash scripts/install-test-deps.sh` \
             (apt-get install {package}) and try again"
        )
    })
}

/// Polls `ready` until it holds, the child exits, or ten seconds pass.
fn wait_for(child: &mut Child, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ready() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// A real Mosquitto with its usual plain MQTT listener on `port` and a websockets listener on
/// `ws_port` (wss when started with a certificate): the 101 upgrade with `Sec-WebSocket-Protocol:
/// mqtt` on any path, and MQTT inside it. Mosquitto 2.0.11 refuses to start with a websockets
/// listener alone, hence the plain one, which also gives the tests a port that speaks MQTT but
/// not HTTP.
#[derive(Debug)]
pub struct WsBroker {
    child: Child,
    pub port: u16,
    pub ws_port: u16,
    pub dir: TempDir,
}

impl WsBroker {
    /// Starts the broker; `tls` is `(certfile, keyfile)` for the websockets listener. `extra` is
    /// appended to the configuration, after the websockets listener: global options such as
    /// `password_file` apply to both listeners, per-listener options to the websockets one.
    pub fn start(tls: Option<(&Path, &Path)>, extra: &str) -> WsBroker {
        let binary = program("mosquitto", "mosquitto");
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let dir = tempfile::tempdir().expect("temp dir");
            let (port, ws_port) = (closed_port(), closed_port());
            let log = dir.path().join("mosquitto.log");
            let mut config = format!(
                "# As root, Mosquitto would switch to user mosquitto and lose access to this dir.\n\
                 user root\n\
                 listener {port} 127.0.0.1\n\
                 allow_anonymous true\n\
                 persistence false\n\
                 log_dest file {}\n\
                 log_type all\n\
                 listener {ws_port} 127.0.0.1\n\
                 protocol websockets\n",
                log.display()
            );
            if let Some((certfile, keyfile)) = tls {
                writeln!(config, "certfile {}", certfile.display()).unwrap();
                writeln!(config, "keyfile {}", keyfile.display()).unwrap();
            }
            writeln!(config, "{extra}").unwrap();
            let config_path = dir.path().join("mosquitto.conf");
            fs::write(&config_path, config).expect("write mosquitto.conf");
            // Configuration errors go to stderr: the log file is not open yet.
            let stderr = fs::File::create(dir.path().join("stderr")).expect("create stderr");
            let child = Command::new(&binary)
                .arg("-c")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn mosquitto");
            let mut broker = WsBroker {
                child,
                port,
                ws_port,
                dir,
            };
            let plain = format!("Opening ipv4 listen socket on port {port}.");
            let websockets = format!("Opening websockets listen socket on port {ws_port}.");
            if wait_for(&mut broker.child, || {
                let text = read(&log);
                text.contains(&plain) && text.contains(&websockets) && text.contains(" running")
            }) {
                return broker;
            }
            last_log = format!(
                "{}{}",
                broker.log(),
                read(&broker.dir.path().join("stderr"))
            );
        }
        panic!("mosquitto did not open its listeners; its last log:\n{last_log}");
    }

    pub fn log(&self) -> String {
        read(&self.dir.path().join("mosquitto.log"))
    }
}

impl Drop for WsBroker {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// How to configure [`Tinyproxy`]; the default is an open proxy that tunnels to any port.
#[derive(Debug, Clone, Default)]
pub struct TinyproxyOptions {
    /// `BasicAuth user password`: no whitespace or quotes in either.
    pub basic_auth: Option<(String, String)>,
    /// One `ConnectPort` line each; when empty, CONNECT may reach any port.
    pub connect_ports: Vec<u16>,
}

/// A real tinyproxy 1.11, an HTTP proxy that tunnels with CONNECT, answering as it does:
/// - no credentials when it wants some: `HTTP/1.0 407 Proxy Authentication Required` with
///   `Proxy-Authenticate: Basic realm="Tinyproxy"`;
/// - wrong credentials: `HTTP/1.0 401 Unauthorized` with `WWW-Authenticate`, not a 407 (a
///   tinyproxy quirk);
/// - a port missing from `connect_ports`: `HTTP/1.1 403 Access violation`, without connecting;
/// - a target where nothing listens: `HTTP/1.1 500 Unable to connect`;
/// - success: `HTTP/1.0 200 Connection established`.
///
/// It closes connections idle for 5 seconds (`Timeout 5`).
#[derive(Debug)]
pub struct Tinyproxy {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Tinyproxy {
    pub fn start(options: TinyproxyOptions) -> Tinyproxy {
        let binary = program("tinyproxy", "tinyproxy");
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = closed_port();
            let log = dir.path().join("tinyproxy.log");
            let mut config = String::new();
            if is_root() {
                config.push_str(
                    "# As root, tinyproxy would switch to user nobody and lose this dir.\n\
                     User root\nGroup root\n",
                );
            }
            write!(
                config,
                "Port {port}\n\
                 Listen 127.0.0.1\n\
                 Timeout 5\n\
                 LogFile \"{}\"\n\
                 LogLevel Info\n\
                 MaxClients 50\n",
                log.display()
            )
            .unwrap();
            if let Some((user, password)) = &options.basic_auth {
                for word in [user, password] {
                    assert!(
                        !word.is_empty() && !word.contains(char::is_whitespace),
                        "tinyproxy reads BasicAuth as two words: {word:?}"
                    );
                }
                writeln!(config, "BasicAuth {user} {password}").unwrap();
            }
            for connect_port in &options.connect_ports {
                writeln!(config, "ConnectPort {connect_port}").unwrap();
            }
            let config_path = dir.path().join("tinyproxy.conf");
            fs::write(&config_path, config).expect("write tinyproxy.conf");
            let stderr = fs::File::create(dir.path().join("stderr")).expect("create stderr");
            let child = Command::new(&binary)
                .arg("-d")
                .arg("-c")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn tinyproxy");
            let mut proxy = Tinyproxy { child, port, dir };
            if wait_for(&mut proxy.child, || {
                read(&log).contains("Starting main loop. Accepting connections.")
            }) {
                return proxy;
            }
            last_log = format!("{}{}", proxy.log(), read(&proxy.dir.path().join("stderr")));
        }
        panic!("tinyproxy did not start listening; its last log:\n{last_log}");
    }

    pub fn log(&self) -> String {
        read(&self.dir.path().join("tinyproxy.log"))
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A real microsocks, a SOCKS5 proxy: with credentials it offers only username/password
/// authentication (method 0x02) and answers a client offering only "no authentication" with
/// 0xFF; without, it offers "no authentication". It logs nothing.
#[derive(Debug)]
pub struct Microsocks {
    child: Child,
    pub port: u16,
}

impl Microsocks {
    /// Starts microsocks, requiring `auth` = `(user, password)` when given.
    pub fn start(auth: Option<(&str, &str)>) -> Microsocks {
        let binary = program("microsocks", "microsocks");
        for _ in 0..ATTEMPTS {
            let port = closed_port();
            let mut command = Command::new(&binary);
            command.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
            if let Some((user, password)) = auth {
                command.args(["-u", user, "-P", password]);
            }
            let child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn microsocks");
            let mut proxy = Microsocks { child, port };
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let accepts = || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
            // A connect that succeeded while microsocks was dying on a port someone else took
            // would be the other listener's.
            if wait_for(&mut proxy.child, accepts) && matches!(proxy.child.try_wait(), Ok(None)) {
                return proxy;
            }
        }
        panic!("microsocks did not start listening in {ATTEMPTS} attempts");
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A real nginx serving one `server` block on `port`: the reverse proxy brokers are published
/// behind, with its own 404, 401 (`auth_basic`), 403 (`deny`) and 502 (backend down), and with
/// [`ws_location`] the WebSocket upgrade passed through to Mosquitto. One process, no master
/// and workers, so killing it leaves nothing behind.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Nginx {
    /// Starts nginx with `server_block` inside `server { listen 127.0.0.1:PORT; ... }`.
    pub fn start(server_block: &str) -> Nginx {
        let binary = program("nginx", "nginx-light");
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = closed_port();
            let d = dir.path().display();
            let user = if is_root() {
                "# As root, nginx would switch to user nobody and lose this dir.\nuser root;\n"
            } else {
                ""
            };
            let config = format!(
                "{user}daemon off;\n\
                 master_process off;\n\
                 worker_processes 1;\n\
                 pid {d}/nginx.pid;\n\
                 error_log {d}/error.log info;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n\
                 access_log {d}/access.log;\n\
                 client_body_temp_path {d}/body;\n\
                 proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n\
                 scgi_temp_path {d}/scgi;\n\
                 server {{\n\
                 listen 127.0.0.1:{port};\n\
                 {server_block}\n\
                 }}\n\
                 }}\n"
            );
            let config_path = dir.path().join("nginx.conf");
            fs::write(&config_path, config).expect("write nginx.conf");
            let error_log = dir.path().join("error.log");
            let stderr = fs::File::create(dir.path().join("stderr")).expect("create stderr");
            // -e keeps nginx from opening /var/log/nginx/error.log before it reads the config.
            let child = Command::new(&binary)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&config_path)
                .arg("-e")
                .arg(&error_log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn nginx");
            let mut nginx = Nginx { child, port, dir };
            // nginx writes its pid file only once its listening sockets are open.
            let pid_file = nginx.dir.path().join("nginx.pid");
            let pid = nginx.child.id().to_string();
            if wait_for(&mut nginx.child, || read(&pid_file).trim() == pid) {
                return nginx;
            }
            last_log = format!(
                "{}{}",
                nginx.error_log(),
                read(&nginx.dir.path().join("stderr"))
            );
        }
        panic!("nginx did not start listening; its last error.log:\n{last_log}");
    }

    pub fn error_log(&self) -> String {
        read(&self.dir.path().join("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// An nginx `location = path` that passes WebSocket upgrades on to 127.0.0.1:`backend_port`,
/// as the nginx documentation tells one to publish a websockets endpoint.
pub fn ws_location(path: &str, backend_port: u16) -> String {
    format!(
        "location = {path} {{\n\
         proxy_pass http://127.0.0.1:{backend_port};\n\
         proxy_http_version 1.1;\n\
         proxy_set_header Upgrade $http_upgrade;\n\
         proxy_set_header Connection \"upgrade\";\n\
         proxy_read_timeout 60s;\n\
         }}\n"
    )
}

/// A real HAProxy from Debian's package, in TCP mode, in front of whatever the test gives it: the
/// load balancer whose PROXY protocol, idle timeout and SNI routing the doctor must tell apart.
/// `sections` is the configuration after `global` and `defaults`: the test's own frontends and
/// backends, written with the listening port this helper chose (`{port}` is replaced by it).
/// Defaults are generous (30 s client and server timeouts) so that only what a test sets bites.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Haproxy {
    pub fn start(sections: &str) -> Haproxy {
        let binary = program("haproxy", "haproxy");
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = closed_port();
            let d = dir.path().display();
            let config = format!(
                "global\n\
                 \x20 log stderr format raw local0 info\n\
                 \x20 stats socket {d}/admin.sock mode 600\n\
                 defaults\n\
                 \x20 mode tcp\n\
                 \x20 log global\n\
                 \x20 option tcplog\n\
                 \x20 timeout connect 2s\n\
                 \x20 timeout client 30s\n\
                 \x20 timeout server 30s\n\
                 {}\n",
                sections.replace("{port}", &port.to_string())
            );
            let config_path = dir.path().join("haproxy.cfg");
            fs::write(&config_path, config).expect("write haproxy.cfg");
            let log = fs::File::create(dir.path().join("haproxy.log")).expect("create log");
            // -db: stay in the foreground, a child the test kills and reaps.
            let child = Command::new(&binary)
                .arg("-db")
                .arg("-f")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn haproxy");
            let mut haproxy = Haproxy { child, port, dir };
            // HAProxy binds the stats socket with its listeners, before it serves any: once
            // the socket exists, the frontends listen.
            let socket = haproxy.dir.path().join("admin.sock");
            if wait_for(&mut haproxy.child, || socket.exists()) {
                return haproxy;
            }
            last_log = haproxy.log();
        }
        panic!("haproxy did not start listening; its last log:\n{last_log}");
    }

    /// HAProxy's log: one line per connection (`option tcplog`), with its termination state.
    pub fn log(&self) -> String {
        read(&self.dir.path().join("haproxy.log"))
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
