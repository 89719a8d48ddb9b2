//! The validated configuration of one doctor run.
//!
//! The CLI's clap structs describe what a user may type; this is what the probes may rely on:
//! a parsed target, positive timeouts, and facts about the environment (Kubernetes, the root
//! below which well-known files are read) gathered once, so that no probe reads the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::k8s::Resources;
use crate::k8s_api::ApiSource;
use crate::pod::PodInfo;
use crate::proxy::ProxyChoice;
use crate::reason_codes::Broker;
use crate::secret::Secret;
use crate::target::Target;

/// Default time for each network step (one DNS query, one TCP connect, ...).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for the whole run, all stages together.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct DoctorConfig {
    pub target: Target,
    /// Time allowed for each network step.
    pub timeout: Duration,
    /// Time allowed for the whole run; each step gets at most what is left of it.
    pub deadline: Duration,
    /// Query this server instead of the nameservers in resolv.conf.
    pub dns_server: Option<SocketAddr>,
    /// Directory below which well-known files (`etc/resolv.conf`, ...) are read: `/` normally,
    /// a copied pod filesystem in tests or post-mortems.
    pub root: PathBuf,
    /// `KUBERNETES_SERVICE_HOST` is set: the doctor runs inside a pod.
    pub in_kubernetes: bool,
    /// What the pod has mounted (namespace, ServiceAccount, tokens), read below `root` when
    /// the doctor runs in one.
    pub pod: Option<PodInfo>,
    /// The preset in force, if any, and what it found in the pod.
    pub preset: Option<AppliedPreset>,
    /// Warnings count as failures.
    pub strict: bool,
    /// At most this many of the addresses the name resolved to get their own connection chain
    /// (`--nodes`); 1 checks one address, as a client would.
    pub nodes: usize,
    /// The proxy to tunnel through, or why none is used.
    pub proxy: ProxyChoice,
    pub websocket: WsOptions,
    pub tls: TlsOptions,
    pub auth: AuthOptions,
    pub mqtt: MqttOptions,
    /// Azure IoT Operations' resources to check the client's settings against: read once for
    /// every target (`--k8s-resources`), or fetched from the API server by the first target
    /// that needs them (`--k8s-api`).
    pub k8s: Option<K8sInput>,
}

/// Where the k8s stage gets AIO's resources from.
#[derive(Clone, Debug)]
pub enum K8sInput {
    /// `--k8s-resources FILE|-`, parsed.
    Resources(Arc<Resources>),
    /// `--k8s-api`: fetched with the pod's ServiceAccount, once per run.
    Api(Arc<ApiSource>),
}

/// A preset as applied to this run.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedPreset {
    pub broker: Broker,
    /// The preset's token file was missing, and this projected token with the preset's audience
    /// was used instead.
    pub token_fallback: Option<TokenFallback>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TokenFallback {
    /// The path the preset names, as the pod sees it.
    pub expected: String,
    /// The token used instead, as the pod sees it.
    pub used: String,
    pub audience: String,
}

/// The MQTT protocol version to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MqttVersion {
    /// MQTT 5, and MQTT 3.1.1 again if the broker only speaks that
    #[default]
    Auto,
    /// MQTT 3.1.1 only
    #[value(name = "3.1.1", alias = "3", alias = "4")]
    V311,
    /// MQTT 5 only
    #[value(name = "5")]
    V5,
}

/// How the MQTT stage connects, and what it checks once connected.
///
/// There is no option for a persistent session: the doctor always connects with clean start
/// (and, on MQTT 5, session expiry 0), so it never leaves a session on the broker.
#[derive(Clone, Debug)]
pub struct MqttOptions {
    pub version: MqttVersion,
    /// Given by the user; otherwise a random `mqtt-doctor-…` id that no device uses.
    pub client_id: Option<String>,
    pub keepalive: u16,
    /// MQTT 5 enhanced authentication method (e.g. `K8S-SAT`); the token is its data.
    pub auth_method: Option<String>,
    /// The broker's flavour as the user states it; inferred when `None`.
    pub broker: Option<Broker>,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    /// How long to keep the connection after CONNACK and watch what the broker does.
    pub hold: Duration,
}

/// Default keepalive: what mosquitto_pub and most libraries send.
pub const DEFAULT_KEEPALIVE: u16 = 60;

impl Default for MqttOptions {
    fn default() -> Self {
        MqttOptions {
            version: MqttVersion::Auto,
            client_id: None,
            keepalive: DEFAULT_KEEPALIVE,
            auth_method: None,
            broker: None,
            publish: Vec::new(),
            subscribe: Vec::new(),
            hold: Duration::ZERO,
        }
    }
}

/// What the WebSocket stage adds to its upgrade request.
#[derive(Clone, Debug, Default)]
pub struct WsOptions {
    pub headers: Vec<WsHeader>,
}

/// An extra header for the upgrade; its value is treated as a secret.
#[derive(Clone, Debug, PartialEq)]
pub struct WsHeader {
    pub name: String,
    pub value: Secret,
}

/// Why a `--ws-header` was rejected. No variant holds the value, nor any text that could be
/// part of it: the value is often a bearer token, and a usage error is printed in CI logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WsHeaderError {
    #[error("{} has no colon; write it as 'Name: value'", named(.0))]
    NoColon(Option<String>),
    #[error(
        "the text before the colon is not a valid HTTP header name (letters, digits and \
         !#$%&'*+-.^_`|~ only, no spaces); write the header as 'Name: value'"
    )]
    BadName,
    #[error(
        "the value of {0} holds a line break or another control character; a header value \
         is one line of printable text"
    )]
    ControlCharacter(String),
    #[error("the value of {0} is not a valid HTTP header value (printable ASCII only)")]
    BadValue(String),
    #[error("{0} is part of the WebSocket handshake; the doctor sets it itself")]
    Reserved(String),
    #[error("the --ws-header value is not valid UTF-8")]
    NotUtf8,
}

/// `the Authorization header`, or `the --ws-header value` when no name can be told.
fn named(name: &Option<String>) -> String {
    match name {
        Some(name) => format!("the {name} header"),
        None => "the --ws-header value".to_string(),
    }
}

/// Headers the WebSocket handshake sets itself.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
];

impl WsHeader {
    /// Parses `Name: value`, checked as an HTTP header. The value is kept as a secret, and no
    /// error repeats it: a line break or other control character in it is rejected (it would
    /// split the request or garble a log), a malformed header is named by its name alone.
    /// Whitespace around the name and the value (a trailing line break included, as a value
    /// read from a file has) is not part of them.
    pub fn parse(text: &str) -> Result<WsHeader, WsHeaderError> {
        use async_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        let Some((name, value)) = text.split_once(':') else {
            return Err(WsHeaderError::NoColon(guessed_name(text)));
        };
        let name = name.trim();
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(WsHeaderError::BadName);
        }
        let value = value.trim();
        if value.chars().any(char::is_control) {
            return Err(WsHeaderError::ControlCharacter(name.to_string()));
        }
        if HeaderValue::from_str(value).is_err() {
            return Err(WsHeaderError::BadValue(name.to_string()));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(WsHeaderError::Reserved(name.to_string()));
        }
        Ok(WsHeader {
            name: name.to_string(),
            value: Secret::new(value),
        })
    }
}

/// The header a colon-less `--ws-header` was meant to be: its first word, when that looks
/// like a header name and something follows it (`Authorization Bearer X`). A single word is
/// not named, since it is as likely to be the value (`--ws-header "$TOKEN"`).
fn guessed_name(text: &str) -> Option<String> {
    let (first, rest) = text.trim_start().split_once(char::is_whitespace)?;
    let looks_like_name = (1..=64).contains(&first.len())
        && first.starts_with(|c: char| c.is_ascii_alphabetic())
        && first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (looks_like_name && !rest.trim().is_empty()).then(|| first.to_string())
}

/// How the TLS stage connects and what it trusts.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Use TLS even though the target's scheme is plain.
    pub force: bool,
    pub cafile: Option<PathBuf>,
    pub capath: Option<PathBuf>,
    /// Do not verify the server certificate (reported as a warning).
    pub insecure: bool,
    /// Name to send as SNI and to check the certificate against, instead of the target host.
    pub servername: Option<String>,
    pub alpn: Vec<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Warn when the server certificate expires within this time.
    pub expiry_warning: Duration,
    /// Write the presented chain here, as PEM (`--save-chain`).
    pub save_chain: Option<PathBuf>,
}

/// What the client authenticates with, and what its token is checked against.
#[derive(Clone, Debug, Default)]
pub struct AuthOptions {
    pub username: Option<String>,
    pub password: Option<CredentialSource>,
    pub token: Option<CredentialSource>,
    pub checks: TokenChecks,
}

impl AuthOptions {
    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.password.is_none() && self.token.is_none()
    }
}

/// Where a password or token comes from. Files are read by the auth stage, so that a missing or
/// unreadable file is a finding with its fix rather than a usage error.
#[derive(Clone, Debug)]
pub enum CredentialSource {
    /// Given as an argument or through the environment.
    Value(Secret),
    /// Read from standard input (`-`).
    Stdin(Secret),
    File(PathBuf),
}

/// What a token is checked against besides the clock.
#[derive(Clone, Debug)]
pub struct TokenChecks {
    /// The audience the broker expects (`aud` must contain it).
    pub audience: Option<String>,
    /// The issuer the broker expects (`iss` must equal it).
    pub issuer: Option<String>,
    /// A key to check the signature with; without one the signature is not checked.
    pub key: Option<KeySource>,
    /// Warn when the token expires within this time.
    pub expiry_warning: Duration,
}

impl Default for TokenChecks {
    fn default() -> Self {
        TokenChecks {
            audience: None,
            issuer: None,
            key: None,
            expiry_warning: DEFAULT_TOKEN_EXPIRY_WARNING,
        }
    }
}

/// Default warning threshold for token expiry.
pub const DEFAULT_TOKEN_EXPIRY_WARNING: Duration = Duration::from_secs(10 * 60);

/// A key to check a JWT signature with.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// An HMAC secret (HS256/384/512), raw or base64-encoded.
    Secret { secret: Secret, base64: bool },
    /// A PEM public key or certificate (RS*, PS*, ES*, EdDSA).
    Pem(PathBuf),
    /// A JWKS file.
    Jwks(PathBuf),
}

/// How many nodes of a name are checked unless `--nodes` says otherwise: enough for the
/// clusters and replica sets people run, few enough that a name with hundreds of addresses
/// does not open hundreds of connections.
pub const DEFAULT_NODES: usize = 16;

/// The most `--nodes` accepts: every node holds a few descriptors for the length of its chain.
pub const MAX_NODES: usize = 64;

/// Default warning threshold for certificate expiry.
pub const DEFAULT_EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);

impl DoctorConfig {
    /// A configuration with defaults for everything but the target.
    pub fn new(target: Target) -> Self {
        DoctorConfig {
            target,
            timeout: DEFAULT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            dns_server: None,
            root: PathBuf::from("/"),
            in_kubernetes: false,
            pod: None,
            preset: None,
            strict: false,
            nodes: DEFAULT_NODES,
            proxy: ProxyChoice::None,
            websocket: WsOptions::default(),
            tls: TlsOptions {
                expiry_warning: DEFAULT_EXPIRY_WARNING,
                ..TlsOptions::default()
            },
            auth: AuthOptions::default(),
            mqtt: MqttOptions::default(),
            k8s: None,
        }
    }

    /// A well-known absolute path, read below [`DoctorConfig::root`].
    pub fn host_path(&self, absolute: &str) -> PathBuf {
        below_root(&self.root, absolute)
    }

    /// Whether the connection is wrapped in TLS.
    pub fn uses_tls(&self) -> bool {
        self.target.scheme.uses_tls() || self.tls.force
    }

    /// Whether the files read are this machine's own, so that asking the operating system's
    /// resolver (which reads the real `/etc`) answers the same question.
    pub fn reads_host_files(&self) -> bool {
        self.root == Path::new("/")
    }
}

pub use crate::files::below_root;

/// Parses a duration written like `500ms`, `2s`, `1m` or `1m30s`; zero is rejected because every
/// step would time out at once.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("\"{text}\" is not a duration ({e}); write e.g. 500ms, 2s or 1m"))?;
    if duration.is_zero() {
        return Err(format!(
            "\"{text}\" is zero; give a positive duration such as 2s"
        ));
    }
    at_most_the_longest(text, duration)
}

/// Parses a duration that may be zero (`--hold 0s`).
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("\"{text}\" is not a duration ({e}); write e.g. 0s, 500ms or 2s"))?;
    at_most_the_longest(text, duration)
}

/// The longest duration any option takes: ten years. Deadlines are instants on the monotonic
/// clock, and a duration of centuries would overflow them (the run would panic instead of
/// starting); nothing the doctor waits for, nor any certificate warning, needs more.
pub const LONGEST: Duration = Duration::from_secs(10 * 365 * 86_400);

fn at_most_the_longest(text: &str, duration: Duration) -> Result<Duration, String> {
    if duration > LONGEST {
        return Err(format!(
            "\"{text}\" is longer than the longest allowed, 10 years"
        ));
    }
    Ok(duration)
}

/// Parses `--nodes`: a whole number from 1 to [`MAX_NODES`].
pub fn parse_nodes(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_NODES).contains(&n) => Ok(n),
        Ok(_) => Err(format!(
            "{text} is out of range: give 1 to check one address as a client does, up to {MAX_NODES}"
        )),
        Err(_) => Err(format!(
            "\"{text}\" is not a number of nodes, e.g. 1, 3 or {DEFAULT_NODES}"
        )),
    }
}

/// Parses `ADDR` or `ADDR:PORT` (IPv6 as `[ADDR]:PORT`) for `--dns-server`; the port defaults to 53.
pub fn parse_dns_server(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| {
            format!("\"{text}\" is not an IP address with an optional port, e.g. 10.96.0.10 or 127.0.0.1:5353")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_counts() {
        assert_eq!(parse_nodes("3"), Ok(3));
        assert_eq!(parse_nodes("64"), Ok(MAX_NODES));
        assert!(parse_nodes("0").unwrap_err().contains("out of range"));
        assert!(parse_nodes("65").unwrap_err().contains("up to 64"));
        assert!(parse_nodes("three").unwrap_err().contains("not a number"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").unwrap_err().contains("zero"));
        // Centuries would overflow the deadline's instant: refused, not a panic.
        assert!(
            parse_duration("500000000000y")
                .unwrap_err()
                .contains("10 years")
        );
        assert!(
            parse_duration_or_zero("500000000000y")
                .unwrap_err()
                .contains("10 years")
        );
        assert!(parse_duration("5").unwrap_err().contains("not a duration"));
        assert!(
            parse_duration("fast")
                .unwrap_err()
                .contains("not a duration")
        );
    }

    #[test]
    fn dns_servers() {
        assert_eq!(
            parse_dns_server("127.0.0.1"),
            Ok("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
        assert_eq!(parse_dns_server("::1"), Ok("[::1]:53".parse().unwrap()));
        assert!(parse_dns_server("dns.google").is_err());
    }

    #[test]
    fn ws_headers_are_parsed_and_rejected_without_their_value() {
        let header = WsHeader::parse("Authorization:  Bearer abc ").unwrap();
        assert_eq!(header.name, "Authorization");
        assert_eq!(header.value.expose(), b"Bearer abc");
        let cases = [
            (
                "Authorization Bearer SECRET",
                "the Authorization header has no colon",
            ),
            ("SECRET", "the --ws-header value has no colon"),
            ("Bad Name SECRET: x", "is not a valid HTTP header name"),
            (
                "X-Key: SECRET\r\nHost: evil",
                "the value of X-Key holds a line break",
            ),
            (
                "X-Key: SEC\u{1b}RET",
                "the value of X-Key holds a line break",
            ),
            (
                "X-Key: SEC\u{85}RET",
                "the value of X-Key holds a line break",
            ),
            ("Host: SECRET", "Host is part of the WebSocket handshake"),
        ];
        for (text, expected) in cases {
            let error = WsHeader::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(!error.contains("SEC"), "{text:?}: {error}");
        }
    }

    #[test]
    fn host_paths_stay_below_the_root() {
        let mut config = DoctorConfig::new(crate::target::parse("h").unwrap());
        assert_eq!(
            config.host_path("/etc/resolv.conf"),
            Path::new("/etc/resolv.conf")
        );
        assert!(config.reads_host_files());
        config.root = PathBuf::from("/tmp/pod");
        assert_eq!(
            config.host_path("/etc/resolv.conf"),
            Path::new("/tmp/pod/etc/resolv.conf")
        );
        assert!(!config.reads_host_files());
    }
}
