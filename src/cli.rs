//! The command line: clap definitions, the argv → [`DoctorConfig`] step, and dispatch.
//!
//! `main` stays thin: [`main`] parses, decides colour once, runs one command and returns the
//! documented exit code. Everything a probe needs is validated here into a [`DoctorConfig`], so
//! a malformed target or option is a one-line error with exit code 2 before any network work.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::config::{
    AppliedPreset, AuthOptions, CredentialSource, DEFAULT_KEEPALIVE, DEFAULT_NODES, DoctorConfig,
    K8sInput, KeySource, MqttOptions, MqttVersion, TlsOptions, TokenChecks, TokenFallback,
    WsHeader, WsHeaderError, WsOptions, parse_dns_server, parse_duration, parse_duration_or_zero,
    parse_nodes,
};
use crate::config_file::{self, ConfigFile};
use crate::files::{self, ReadError};
use crate::findings::{Status, registry};
use crate::limits::{self, LocalFailures};
use crate::pipeline;
use crate::pod::PodInfo;
use crate::presets;
use crate::proxy::{self, Proxy};
use crate::reason_codes::{self, Broker};
use crate::report::status::StatusLine;
use crate::report::stream::{Layout, Outputs, StreamOptions};
use crate::report::{self, TokenReport, text::TextOptions};
use crate::secret::Secret;
use crate::stages::auth;
use crate::target::{self, Scheme, Target};

/// Exit codes, as documented in `--help` and the README.
pub mod exit {
    /// Healthy: no failure found (warnings allowed unless `--strict`).
    pub const HEALTHY: u8 = 0;
    /// A failure was found; the report names the root cause.
    pub const FAILURE: u8 = 1;
    /// Invalid invocation or input (bad target, bad option, unknown finding id).
    pub const USAGE: u8 = 2;
    /// The doctor itself could not run (e.g. it could not start its runtime or write its output),
    /// or its own environment stopped a check: it ran out of file descriptors (`ulimit -n`),
    /// memory or local ports. The reports are still written; stderr says what ran out.
    pub const INTERNAL: u8 = 3;
}

/// The exit-code table, shown under the top-level and the `doctor` help.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  healthy (warnings allowed unless --strict)
  1  a failure was found; the report names the root cause
  2  invalid invocation or input
  3  the doctor itself could not run, or ran out of file descriptors
     (ulimit -n), memory or local ports; stderr says which"
    };
}

const EXIT_CODES: &str = exit_codes!();

const DOCTOR_EXAMPLES: &str = concat!(
    "Examples:
  mqtt-doctor doctor                                  # mqtt://localhost:1883
  mqtt-doctor doctor broker.example.com               # plain MQTT, port 1883
  mqtt-doctor doctor mqtts://broker.example.com       # MQTT over TLS, port 8883
  mqtt-doctor doctor mqtts://10.0.0.5 --cafile ca.crt --servername broker.internal
  mqtt-doctor doctor mqtts://broker:8883 --cert client.crt --key client.key --cafile ca.crt
  mqtt-doctor doctor '[::1]:1884' --timeout 2s
  mqtt-doctor doctor mqtt://broker:1883 --format json > report.json
  mqtt-doctor doctor aio-broker:18883 --dns-server 10.96.0.10
  mqtt-doctor doctor mqtt://broker -u alice --password-file ./password
  mqtt-doctor doctor mqtts://aio-broker:18883 --token-file /var/run/secrets/tokens/broker-sat --audience aio-internal
  MQTT_DOCTOR_PASSWORD=$JWT mqtt-doctor doctor mqtt://emqx:1883 -u device1 --issuer esp32-sensor
  mqtt-doctor doctor --preset aio                     # in a pod: token, CA and K8S-SAT found
  kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json \
    | mqtt-doctor doctor --preset aio --k8s-resources - --client-id my-app --publish sensors/my-app
  mqtt-doctor doctor --preset aio --k8s-api --client-id my-app   # in a pod with get/list RBAC
  mqtt-doctor doctor --preset hivemq abc123.s1.eu.hivemq.cloud
  mqtt-doctor doctor --profile staging --format junit > mqtt-doctor.xml
  mqtt-doctor doctor broker-a:1883 broker-b:1883 --quiet
  mqtt-doctor doctor mqtts://emqx.example.com       # every address of the name, compared
  mqtt-doctor doctor mqtts://emqx.example.com --nodes 1   # one address, as a client picks it
  mqtt-doctor doctor mqtts://10.0.0.11 mqtts://10.0.0.12 mqtts://10.0.0.13 --cluster
  mqtt-doctor doctor ws://broker:9001                 # MQTT over WebSocket, path /mqtt
  mqtt-doctor doctor wss://broker/mqtt --ws-header 'Authorization: Bearer …'
  mqtt-doctor doctor mqtts://broker:8883 --proxy http://proxy.corp:3128
  mqtt-doctor doctor ws://broker:8083 --proxy socks5h://127.0.0.1:1080

",
    exit_codes!()
);

/// Tells in one run why a client cannot connect to an MQTT broker, and what to do about it.
#[derive(Debug, Parser)]
#[command(name = "mqtt-doctor", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// When to colour the output (NO_COLOR in the environment turns colour off for `auto`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, env = "MQTT_DOCTOR_COLOR")]
    pub color: ColorChoice,
}

// Parsed once per run and dropped soon after: the size of the doctor's arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose the connection to a broker, stage by stage (DNS, TCP, proxy, TLS, WebSocket,
    /// credentials, MQTT)
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),
    /// Run the doctor again and again, for failures that come and go: a line per run, then a
    /// summary (success ratios, latency percentiles, root causes, flaps)
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
    /// Explain a finding id (`explain tcp.refused`) or a CONNACK code (`explain 134`), offline
    #[command(after_help = EXPLAIN_EXAMPLES)]
    Explain(ExplainArgs),
    /// Work with tokens (JWTs, Kubernetes ServiceAccount tokens) offline
    #[command(subcommand)]
    Token(TokenCommand),
    /// List the presets (--preset NAME) and the defaults each one sets
    Presets,
    /// Print the JSON Schema (2020-12) of the JSON reports: doctor's, several targets', token
    /// inspect's (also in docs/report.schema.json)
    Schema,
    /// Serve Prometheus metrics: each scrape of /probe?target=URL&module=NAME runs one doctor
    /// check, with a config file's profiles as the modules
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Print a shell completion script
    Completions {
        /// The shell to complete for
        shell: Shell,
    },
    /// Print a man page (roff): the top page, or a command's (`man doctor`, `man token-inspect`)
    Man {
        /// The command whose page to print
        #[arg(value_name = "COMMAND", value_parser = MAN_TOPICS)]
        command: Option<String>,
    },
}

const WATCH_EXAMPLES: &str = "Examples:
  mqtt-doctor watch                                   # mqtt://localhost:1883 every 5 s, until Ctrl-C
  mqtt-doctor watch mqtts://broker:8883 --interval 1s --count 600
  mqtt-doctor watch broker-a:1883 broker-b:1883 --quiet   # text: only the runs that do not pass
  mqtt-doctor watch --profile staging --hold 2m --keepalive 30 --interval 5m
  mqtt-doctor watch broker:1883 --count 100 > runs.jsonl   # JSON Lines, the summary last
  mqtt-doctor watch broker:1883 --format json | jq -c 'select(.status == \"fail\")'

Every option of `doctor` applies, with the same config file, profiles, presets and MQTT_DOCTOR_*
variables. On a terminal, each run is one line (time in UTC, verdict, root cause, the time of each
phase) and the summary block follows every 10 runs and at the end. When standard output is not
a terminal (or with --format json), each run is one JSON object on a line of its own and the
summary is one more line, {\"summary\": {…}}, last; --format text keeps text in a pipe.
Ctrl-C (SIGINT) or SIGTERM cancels the run in flight and writes the summary. --output,
--cluster and the JUnit and Markdown formats belong to one doctor run and are refused here;
--annotations has no effect.

Exit codes:
  0  no run failed (warnings allowed unless --strict)
  1  some run failed (the summary names the root causes), or none finished
  2  invalid invocation or input
  3  the doctor itself could not run, or ran out of file descriptors
     (ulimit -n), memory or local ports in some run; stderr says which";

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub doctor: DoctorArgs,

    /// From the start of one run to the start of the next, e.g. 500ms, 5s, 1m; a run that
    /// takes longer is followed at once (runs never overlap). Zero is refused: back-to-back
    /// connections to a broker are a load test, not a watch
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration, env = "MQTT_DOCTOR_INTERVAL", help_heading = "Watch")]
    pub interval: Duration,

    /// Stop after N runs [default: until Ctrl-C]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), env = "MQTT_DOCTOR_COUNT", help_heading = "Watch")]
    pub count: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The broker: a URL (mqtt://, mqtts://, tcp://, ssl://, ws://, wss://) or host[:port].
    /// Several targets are checked at the same time, in one report [default:
    /// mqtt://localhost:1883, or the preset's]
    #[arg(value_name = "TARGET", value_parser = TargetText)]
    pub target: Vec<String>,

    /// Defaults for a broker family: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq,
    /// ejabberd, aedes, amqtt (`mqtt-doctor presets` shows them); any option overrides them
    #[arg(long, value_enum, value_name = "NAME", env = "MQTT_DOCTOR_PRESET")]
    pub preset: Option<Broker>,

    /// Config file with settings and named profiles [default: ./mqtt-doctor.toml when present]
    #[arg(long, value_name = "FILE", env = "MQTT_DOCTOR_CONFIG")]
    pub config: Option<PathBuf>,

    /// The profile of the config file to use ([profiles.NAME])
    #[arg(long, value_name = "NAME", env = "MQTT_DOCTOR_PROFILE")]
    pub profile: Option<String>,

    /// Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s
    #[arg(long, short = 't', default_value = "5s", value_parser = parse_duration, env = "MQTT_DOCTOR_TIMEOUT")]
    pub timeout: Duration,

    /// Time allowed for the whole run; no step outlives it
    #[arg(long, default_value = "30s", value_parser = parse_duration, env = "MQTT_DOCTOR_DEADLINE")]
    pub deadline: Duration,

    /// Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = parse_dns_server, env = "MQTT_DOCTOR_DNS_SERVER")]
    pub dns_server: Option<SocketAddr>,

    /// Check up to N of the addresses the target's name resolves to, each over its own
    /// connection (TCP, TLS, MQTT, topics), and compare them; 1 checks one address, as a
    /// client does
    #[arg(long, value_name = "N", default_value_t = DEFAULT_NODES, value_parser = parse_nodes, env = "MQTT_DOCTOR_NODES")]
    pub nodes: usize,

    /// The targets are the nodes of one cluster (e.g. each node's own address behind a load
    /// balancer): check each, then compare their failures, certificates and capabilities
    #[arg(long, env = "MQTT_DOCTOR_CLUSTER")]
    pub cluster: bool,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text, env = "MQTT_DOCTOR_FORMAT")]
    pub format: Format,

    /// Also write the report of this same run to FILE, in FORMAT (text, json, junit);
    /// repeatable, e.g. --output junit=report.xml --output json=report.json. Text in a file has
    /// no colours
    #[arg(long, value_name = "FORMAT=FILE", value_parser = parse_output)]
    pub output: Vec<OutputFile>,

    /// Treat warnings as failures (exit code 1)
    #[arg(long, env = "MQTT_DOCTOR_STRICT")]
    pub strict: bool,

    /// Show passing findings with their evidence too
    #[arg(
        long,
        short = 'v',
        env = "MQTT_DOCTOR_VERBOSE",
        conflicts_with = "quiet"
    )]
    pub verbose: bool,

    /// Print only failures (text format): nothing at all when the broker is healthy
    #[arg(long, short = 'q', env = "MQTT_DOCTOR_QUIET")]
    pub quiet: bool,

    /// GitHub Actions annotations (::error::/::warning:: lines on stderr); `auto` writes them
    /// when GITHUB_ACTIONS=true
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Annotations::Auto, env = "MQTT_DOCTOR_ANNOTATIONS")]
    pub annotations: Annotations,

    /// Read every well-known file below this directory: etc/resolv.conf, etc/hosts, the
    /// ServiceAccount files, the preset's token and CA. E.g. a copy of a pod's filesystem, or
    /// /proc/1/root from `kubectl debug --target`; the system resolver is then not consulted
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        env = "MQTT_DOCTOR_ROOT"
    )]
    pub root: PathBuf,

    /// Azure IoT Operations' resources to check the client against before connecting: what
    /// `kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services
    /// -A -o json` (or -o yaml) prints, or - to read it from standard input. The host must be a
    /// listener's Service, the port one of its ports with the scheme's TLS mode, the token's
    /// audience one its BrokerAuthentication accepts, the client id and --publish/--subscribe
    /// topics allowed by its BrokerAuthorization
    #[arg(long, value_name = "FILE|-", env = "MQTT_DOCTOR_K8S_RESOURCES")]
    pub k8s_resources: Option<PathBuf>,

    /// In a pod: fetch those resources from the Kubernetes API server itself, with the pod's
    /// ServiceAccount token and CA (at most five list requests, in --k8s-namespace), and check
    /// the client against them as --k8s-resources does. The ServiceAccount needs a Role with get
    /// and list on brokers, brokerlisteners, brokerauthentications, brokerauthorizations
    /// (mqttbroker.iot.azure.com) and services (see docs/guide/pod.md)
    #[arg(long, env = "MQTT_DOCTOR_K8S_API")]
    pub k8s_api: bool,

    /// The namespace --k8s-api lists the resources in: where the broker runs
    #[arg(
        long,
        value_name = "NS",
        default_value = crate::k8s_api::DEFAULT_NAMESPACE,
        value_parser = crate::k8s_api::parse_namespace,
        env = "MQTT_DOCTOR_K8S_NAMESPACE"
    )]
    pub k8s_namespace: String,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub credentials: CredentialArgs,

    #[command(flatten)]
    pub mqtt: MqttArgs,

    #[command(flatten)]
    pub transport: TransportArgs,
}

/// How the connection is carried: a proxy in front, WebSocket on top.
#[derive(Debug, Args)]
#[command(next_help_heading = "Proxy and WebSocket")]
pub struct TransportArgs {
    /// Tunnel through this proxy: http://[USER:PASS@]HOST:PORT (HTTP CONNECT), socks5://… or
    /// socks5h://… (the proxy resolves the broker's name) [default: https_proxy, HTTPS_PROXY,
    /// all_proxy or ALL_PROXY, unless NO_PROXY lists the broker or it is on this machine]
    #[arg(long, value_name = "URL", value_parser = ProxyText, env = "MQTT_DOCTOR_PROXY", hide_env_values = true)]
    pub proxy: Option<Proxy>,

    /// Connect directly, ignoring the proxy environment variables
    #[arg(long, conflicts_with = "proxy", env = "MQTT_DOCTOR_NO_PROXY")]
    pub no_proxy: bool,

    /// HTTP path of the WebSocket endpoint, for ws:// and wss:// targets that name none
    /// [default: /mqtt]
    #[arg(long, value_name = "PATH", value_parser = parse_ws_path, env = "MQTT_DOCTOR_WS_PATH")]
    pub ws_path: Option<String>,

    /// Extra header for the WebSocket upgrade, as 'Name: value' (repeatable). Values are never
    /// shown, only their length and fingerprint
    #[arg(long, value_name = "'NAME: VALUE'", value_parser = WsHeaderText, env = "MQTT_DOCTOR_WS_HEADER", hide_env_values = true)]
    pub ws_header: Vec<WsHeader>,
}

/// An option's value refused with `message` alone: clap's own error for a value parser quotes
/// the whole value, which for these options may hold a secret.
fn refused_without_value(
    cmd: &clap::Command,
    what: &str,
    message: impl std::fmt::Display,
) -> clap::Error {
    clap::Error::raw(
        clap::error::ErrorKind::ValueValidation,
        format!("invalid {what}: {message}\n"),
    )
    .with_cmd(cmd)
}

/// Checks a proxy URL without letting clap echo it: it may carry a password.
#[derive(Clone, Debug)]
struct ProxyText;

impl clap::builder::TypedValueParser for ProxyText {
    type Value = Proxy;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Proxy, clap::Error> {
        let invalid = |message: String| refused_without_value(cmd, "proxy", message);
        let text = value
            .to_str()
            .ok_or_else(|| invalid("it is not valid UTF-8".into()))?;
        proxy::parse(text, "--proxy").map_err(|e| invalid(e.to_string()))
    }
}

/// A WebSocket path: starts with `/`, printable ASCII, no query (it would end up in reports).
fn parse_ws_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!("\"{text}\" must start with /, e.g. /mqtt"));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) || text.contains(['?', '#']) {
        return Err(format!(
            "\"{text}\" may hold only printable ASCII without spaces, ? or # (percent-encode others)"
        ));
    }
    Ok(text.to_string())
}

/// Checks a `--ws-header` without letting clap echo it: clap's own error for a value parser
/// quotes the whole text (`invalid value 'Authorization Bearer SECRET' for ...`), and the
/// value is often a bearer token or an API key. The error names the header only; the same
/// parser checks `MQTT_DOCTOR_WS_HEADER` and a config file's `ws-header`.
#[derive(Clone, Debug)]
struct WsHeaderText;

impl clap::builder::TypedValueParser for WsHeaderText {
    type Value = WsHeader;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<WsHeader, clap::Error> {
        let parsed = match value.to_str() {
            Some(text) => WsHeader::parse(text),
            None => Err(WsHeaderError::NotUtf8),
        };
        parsed.map_err(|error| refused_without_value(cmd, "--ws-header", error))
    }
}

/// A topic to publish to: no wildcards, not empty.
fn parse_topic(text: &str) -> Result<String, String> {
    if text.is_empty() || !rumqttc::mqttbytes::valid_topic(text) {
        return Err(format!(
            "\"{text}\" is not a topic to publish to: it must be non-empty and hold no + or #"
        ));
    }
    Ok(text.to_string())
}

/// A topic filter to subscribe to: `+` and `#` only as whole levels, `#` last.
fn parse_filter(text: &str) -> Result<String, String> {
    if text.is_empty() || !rumqttc::mqttbytes::valid_filter(text) {
        return Err(format!(
            "\"{text}\" is not a topic filter: + and # stand for whole levels, and # only last"
        ));
    }
    Ok(text.to_string())
}

/// How the MQTT stage connects and what it checks once connected.
#[derive(Debug, Args)]
#[command(next_help_heading = "MQTT")]
pub struct MqttArgs {
    /// MQTT version: 5, 3.1.1, or auto (5, then 3.1.1 if the broker only speaks that, or stays
    /// silent on MQTT 5)
    #[arg(long, value_enum, default_value_t = MqttVersion::Auto, env = "MQTT_DOCTOR_MQTT_VERSION")]
    pub mqtt_version: MqttVersion,

    /// Client id to connect with (default: a random mqtt-doctor-… id). A device connected with
    /// the same id is disconnected by the broker
    #[arg(long, short = 'i', value_name = "ID", env = "MQTT_DOCTOR_CLIENT_ID")]
    pub client_id: Option<String>,

    /// Keepalive to announce, in seconds. During --hold the doctor sends a PINGREQ whenever this
    /// long passes without it sending anything, as a client does
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_KEEPALIVE, env = "MQTT_DOCTOR_KEEPALIVE")]
    pub keepalive: u16,

    /// MQTT 5 enhanced authentication method (e.g. K8S-SAT); the token is sent as its data
    #[arg(long, value_name = "METHOD", env = "MQTT_DOCTOR_AUTH_METHOD")]
    pub auth_method: Option<String>,

    /// The broker's family, for causes and fixes in its own terms: mosquitto, emqx, aio, hivemq,
    /// rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (default: recognised from what the
    /// broker shows, with the confidence the report states)
    #[arg(long, value_enum, env = "MQTT_DOCTOR_BROKER")]
    pub broker: Option<Broker>,

    /// After connecting, publish at QoS 1 to TOPIC and check the broker allows it (repeatable)
    #[arg(long, value_name = "TOPIC", value_parser = parse_topic, env = "MQTT_DOCTOR_PUBLISH")]
    pub publish: Vec<String>,

    /// After connecting, subscribe to FILTER and check the broker allows it (repeatable); with
    /// --publish, a message must come back through a matching subscription
    #[arg(long, value_name = "FILTER", value_parser = parse_filter, env = "MQTT_DOCTOR_SUBSCRIBE")]
    pub subscribe: Vec<String>,

    /// Keep the connection this long after CONNACK and report whether the broker drops it
    /// (default: one PINGREQ round trip). A PINGREQ goes out whenever the keepalive passes
    /// without the doctor sending anything, so a hold longer than a load balancer's idle
    /// timeout, with --keepalive below it, checks that the keepalive keeps connections alive
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration_or_zero, env = "MQTT_DOCTOR_HOLD")]
    pub hold: Duration,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// Use TLS even though the target's scheme is plain (mqtt://, tcp://)
    #[arg(long, env = "MQTT_DOCTOR_TLS")]
    pub tls: bool,

    /// CA certificates (PEM bundle) to trust instead of the system roots
    #[arg(long, value_name = "FILE", env = "MQTT_DOCTOR_CAFILE")]
    pub cafile: Option<PathBuf>,

    /// Directory of CA certificates (PEM files) to trust instead of the system roots
    #[arg(long, value_name = "DIR", env = "MQTT_DOCTOR_CAPATH")]
    pub capath: Option<PathBuf>,

    /// Do not verify the broker's certificate (reported as a warning, never silently)
    #[arg(long, env = "MQTT_DOCTOR_INSECURE")]
    pub insecure: bool,

    /// Name to send as SNI and to check the certificate against (default: the target host)
    #[arg(long, value_name = "NAME", value_parser = parse_server_name, env = "MQTT_DOCTOR_SERVERNAME")]
    pub servername: Option<String>,

    /// ALPN protocols to offer, comma-separated or repeated (e.g. mqtt)
    #[arg(
        long,
        value_name = "PROTOCOL",
        value_delimiter = ',',
        env = "MQTT_DOCTOR_ALPN"
    )]
    pub alpn: Vec<String>,

    /// Client certificate (PEM, leaf first) for mutual TLS; needs --key
    #[arg(long, value_name = "FILE", requires = "key", env = "MQTT_DOCTOR_CERT")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of the client certificate; needs --cert
    #[arg(long, value_name = "FILE", requires = "cert", env = "MQTT_DOCTOR_KEY")]
    pub key: Option<PathBuf>,

    /// Warn when the broker's certificate expires within this time
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration, env = "MQTT_DOCTOR_EXPIRY_WARNING")]
    pub expiry_warning: Duration,

    /// Write the certificate chain the broker presents to FILE as PEM, leaf first, trusted or
    /// not (what `openssl s_client -showcerts` is used for); with several nodes, one file per
    /// node, its address in the name
    #[arg(long, value_name = "FILE", env = "MQTT_DOCTOR_SAVE_CHAIN")]
    pub save_chain: Option<PathBuf>,
}

/// What the client authenticates with. Secrets are better passed through the environment or a
/// file than as arguments, which other users can read in `ps`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Credentials")]
pub struct CredentialArgs {
    /// Username to send in CONNECT
    #[arg(long, short = 'u', value_name = "NAME", env = "MQTT_DOCTOR_USERNAME")]
    pub username: Option<String>,

    /// Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer
    /// MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`
    #[arg(
        long,
        short = 'P',
        value_name = "PASSWORD",
        value_parser = parse_secret,
        env = "MQTT_DOCTOR_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<Secret>,

    /// File holding the password (one line)
    #[arg(long, value_name = "FILE", env = "MQTT_DOCTOR_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,

    /// Token (a JWT such as a Kubernetes ServiceAccount token), or - to read it from stdin
    #[arg(
        long,
        value_name = "TOKEN|-",
        value_parser = parse_secret,
        env = "MQTT_DOCTOR_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<Secret>,

    /// File holding the token, e.g. /var/run/secrets/tokens/broker-sat
    #[arg(long, value_name = "FILE", env = "MQTT_DOCTOR_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    #[command(flatten)]
    pub checks: TokenCheckArgs,
}

/// What a token is checked against: shared by `doctor` and `token inspect`.
#[derive(Debug, Args)]
pub struct TokenCheckArgs {
    /// Audience the broker expects in the token's aud claim (Azure IoT Operations: aio-internal)
    #[arg(long, value_name = "AUD", env = "MQTT_DOCTOR_AUDIENCE")]
    pub audience: Option<String>,

    /// Issuer the broker expects in the token's iss claim
    #[arg(long, value_name = "ISS", env = "MQTT_DOCTOR_ISSUER")]
    pub issuer: Option<String>,

    /// HMAC secret to check an HS256/HS384/HS512 signature with
    #[arg(
        long,
        value_name = "SECRET",
        value_parser = parse_secret,
        env = "MQTT_DOCTOR_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<Secret>,

    /// The --jwt-secret is base64-encoded (EMQX's secret_base64_encoded)
    #[arg(long, requires = "jwt_secret", env = "MQTT_DOCTOR_JWT_SECRET_BASE64")]
    pub jwt_secret_base64: bool,

    /// PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "jwks",
        env = "MQTT_DOCTOR_JWT_KEY"
    )]
    pub jwt_key: Option<PathBuf>,

    /// JWKS file to check the signature with (the key is picked by kid)
    #[arg(long, value_name = "FILE", env = "MQTT_DOCTOR_JWKS")]
    pub jwks: Option<PathBuf>,

    /// Warn when the token expires within this time
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration, env = "MQTT_DOCTOR_TOKEN_EXPIRY_WARNING")]
    pub token_expiry_warning: Duration,
}

impl TokenCheckArgs {
    fn into_checks(self, on_command_line: &dyn Fn(&str) -> bool) -> Result<TokenChecks, String> {
        let present = [
            self.jwt_secret.is_some(),
            self.jwt_key.is_some(),
            self.jwks.is_some(),
        ];
        let key = match choose(
            &["jwt_secret", "jwt_key", "jwks"],
            &present,
            on_command_line,
        )? {
            Some(0) => self.jwt_secret.map(|secret| KeySource::Secret {
                secret,
                base64: self.jwt_secret_base64,
            }),
            Some(1) => self.jwt_key.map(KeySource::Pem),
            Some(_) => self.jwks.map(KeySource::Jwks),
            None => None,
        };
        Ok(TokenChecks {
            audience: self.audience,
            issuer: self.issuer,
            key,
            expiry_warning: self.token_expiry_warning,
        })
    }
}

/// Picks one of several alternative options (`--token` or `--token-file`, ...). A value on the
/// command line beats one from the environment, so that a pod's `MQTT_DOCTOR_TOKEN` does not
/// stop anyone from trying `--token-file`; two from the same place are an error.
fn choose(
    ids: &[&str],
    present: &[bool],
    on_command_line: &dyn Fn(&str) -> bool,
) -> Result<Option<usize>, String> {
    let given: Vec<usize> = (0..ids.len()).filter(|i| present[*i]).collect();
    if given.len() <= 1 {
        return Ok(given.first().copied());
    }
    let typed: Vec<usize> = given
        .iter()
        .copied()
        .filter(|i| on_command_line(ids[*i]))
        .collect();
    match typed[..] {
        [one] => Ok(Some(one)),
        _ => {
            let clash = if typed.is_empty() { &given } else { &typed };
            let flags: Vec<String> = clash
                .iter()
                .map(|i| format!("--{}", ids[*i].replace('_', "-")))
                .collect();
            Err(format!(
                "{} are alternatives; give one{}",
                flags.join(" and "),
                if typed.is_empty() {
                    " (they come from MQTT_DOCTOR_* variables)"
                } else {
                    ""
                }
            ))
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Decode a token and check its claims (and signature, given a key), without any network
    #[command(after_help = TOKEN_EXAMPLES)]
    Inspect(TokenInspectArgs),
}

const TOKEN_EXAMPLES: &str = "Examples:
  mqtt-doctor token inspect /var/run/secrets/tokens/broker-sat --audience aio-internal
  kubectl create token mqtt-client --audience aio-internal | mqtt-doctor token inspect -
  MQTT_DOCTOR_TOKEN=... MQTT_DOCTOR_JWT_SECRET=... mqtt-doctor token inspect --issuer esp32-sensor
  mqtt-doctor token inspect token.jwt --jwks jwks.json --format json

Exit codes:
  0  the token passes every check (warnings allowed unless --strict)
  1  a check failed; the report names it
  2  invalid invocation or input (standard input gave no token within --deadline)
  3  the doctor itself could not run";

#[derive(Debug, Args)]
pub struct TokenInspectArgs {
    /// Token file, or - to read the token from standard input
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,

    /// The token itself, when no FILE is given
    #[arg(
        long,
        value_name = "TOKEN",
        value_parser = parse_secret,
        env = "MQTT_DOCTOR_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<Secret>,

    #[command(flatten)]
    pub checks: TokenCheckArgs,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text, env = "MQTT_DOCTOR_FORMAT")]
    pub format: Format,

    /// Treat warnings as failures (exit code 1)
    #[arg(long, env = "MQTT_DOCTOR_STRICT")]
    pub strict: bool,

    /// Time allowed for the whole run: reading the token or a key from a file, a pipe or
    /// standard input gives up after it
    #[arg(long, default_value = "30s", value_parser = parse_duration, env = "MQTT_DOCTOR_DEADLINE")]
    pub deadline: Duration,
}

/// Secrets are taken as given; clap never shows a parsed value in its errors or help.
fn parse_secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}

/// The most the doctor reads from standard input: far more than any token.
const MAX_STDIN: u64 = 64 * 1024;

/// A credential given as `-` is read from standard input, until it ends or the run's deadline
/// passes: a pipe whose writer never closes it, or a terminal no one types into, must not hold
/// the run past its deadline.
fn secret_source(value: Secret) -> Result<CredentialSource, String> {
    if value.expose() != b"-" {
        return Ok(CredentialSource::Value(value));
    }
    if io::stdin().is_terminal() {
        eprintln!("mqtt-doctor: reading the token from the terminal; paste it and press Ctrl-D");
    }
    let bytes = files::read_stdin_capped(MAX_STDIN).map_err(|e| match e {
        ReadError::TooLarge(_) => {
            format!("standard input holds more than {MAX_STDIN} bytes, far more than a token")
        }
        ReadError::Io(error) => match files::gave_up(&error) {
            Some(deadline) => format!(
                "standard input gave no end of input within {deadline}: the token is read from \
                 it (`-`) until it ends; close it after the token (`echo \"$TOKEN\" | …`, or \
                 Ctrl-D on a terminal), or pass the token in a file"
            ),
            None => format!("cannot read the token from standard input: {error}"),
        },
    })?;
    Ok(CredentialSource::Stdin(Secret::new(bytes)))
}

/// Where `--k8s-api` finds the API server: `KUBERNETES_SERVICE_HOST` and `_PORT`, as the kubelet
/// sets them in every pod, else the in-cluster name. Outside a pod (neither the variable nor a
/// ServiceAccount token) it is a usage error that points at `--k8s-resources`.
fn api_settings(
    env: &Environment,
    root: &Path,
    namespace: String,
) -> Result<crate::k8s_api::ApiSettings, String> {
    use crate::k8s_api::{ApiSettings, DEFAULT_HOST};
    let (host, port) = &env.kubernetes_service;
    let token = files::below_root(root, &ApiSettings::token_path());
    if host.is_none() && !token.exists() {
        return Err(format!(
            "--k8s-api works only in a pod: KUBERNETES_SERVICE_HOST is not set and there is no \
             ServiceAccount token at {}. Outside a pod, give kubectl's output instead: `kubectl \
             get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A \
             -o json | mqtt-doctor doctor --k8s-resources - ...`",
            token.display()
        ));
    }
    let host = match host.as_deref().map(str::trim) {
        Some(host) if !host.is_empty() => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            rustls::pki_types::ServerName::try_from(bare.to_string()).map_err(|_| {
                format!(
                    "--k8s-api: KUBERNETES_SERVICE_HOST ({}) is neither a DNS name nor an IP \
                     address",
                    crate::secret::peer_text(host, 80)
                )
            })?;
            bare.to_string()
        }
        _ => DEFAULT_HOST.to_string(),
    };
    let port = match port.as_deref().map(str::trim) {
        Some(port) if !port.is_empty() => {
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    format!(
                        "--k8s-api: KUBERNETES_SERVICE_PORT ({}) is not a port number",
                        crate::secret::peer_text(port, 20)
                    )
                })?
        }
        _ => 443,
    };
    let pod = env.pod.as_ref();
    Ok(ApiSettings {
        host,
        port,
        namespace,
        root: root.to_path_buf(),
        service_account: (
            pod.and_then(|p| p.namespace.clone()),
            pod.and_then(|p| p.service_account.clone()),
        ),
    })
}

/// `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`, as set.
fn kubernetes_service() -> (Option<String>, Option<String>) {
    (
        std::env::var("KUBERNETES_SERVICE_HOST").ok(),
        std::env::var("KUBERNETES_SERVICE_PORT").ok(),
    )
}

/// Reads and parses `--k8s-resources`: a usage error names the file and what is wrong with it.
fn read_k8s_resources(path: &Path) -> Result<std::sync::Arc<crate::k8s::Resources>, String> {
    use crate::k8s::MAX_BYTES;
    let (bytes, source) = if path == Path::new("-") {
        let bytes = files::read_stdin_capped(MAX_BYTES).map_err(|e| match e {
            ReadError::TooLarge(_) => {
                format!("--k8s-resources -: standard input holds more than {MAX_BYTES} bytes")
            }
            ReadError::Io(error) => match files::gave_up(&error) {
                Some(deadline) => format!(
                    "--k8s-resources -: standard input gave no end of input within {deadline}; \
                     pipe kubectl's output in (`kubectl get ... -o json | mqtt-doctor doctor \
                     --k8s-resources - ...`), or pass a file"
                ),
                None => format!("--k8s-resources -: cannot read standard input: {error}"),
            },
        })?;
        (bytes, "standard input".to_string())
    } else {
        let shown = path.display().to_string();
        let bytes = files::read_capped(path, MAX_BYTES)
            .map_err(|e| format!("--k8s-resources {shown}: cannot be read: {}", e.describe()))?;
        (bytes, shown)
    };
    crate::k8s::parse(&bytes, &source)
        .map(std::sync::Arc::new)
        .map_err(|e| format!("--k8s-resources {source}: {e}"))
}

fn parse_server_name(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.').to_string();
    rustls::pki_types::ServerName::try_from(name.clone())
        .map(|_| name)
        .map_err(|_| format!("\"{text}\" is not a valid DNS name or IP address"))
}

const EXPLAIN_EXAMPLES: &str = "Examples:
  mqtt-doctor explain tcp.refused            # the page behind a finding id
  mqtt-doctor explain 134                    # CONNACK 0x86, as decimal
  mqtt-doctor explain 0x87 --broker mosquitto
  mqtt-doctor explain connack:5 --broker emqx
  mqtt-doctor explain --list";

const SERVE_EXAMPLES: &str = "Examples:
  mqtt-doctor serve --config mqtt-doctor.toml        # modules: its profiles; 127.0.0.1:9883
  mqtt-doctor serve --config /etc/mqtt-doctor.toml --listen 0.0.0.0:9883 --max-concurrent 32
  curl '127.0.0.1:9883/probe?module=staging&target=mqtts://emqx-1.staging:8883'
  curl '127.0.0.1:9883/probe?module=staging&target=mqtts://emqx-1.staging:8883&debug=true'

A module (a [profiles.NAME] table) probes only its own targets, or those its `allow` list of
host or host:port patterns matches (`allow = [\"*.staging:8883\"]`); any other target gets
HTTP 403 and no connection. docs/guide/monitor.md has the Prometheus scrape configuration.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file whose profiles ([profiles.NAME]) are the modules [default:
    /// ./mqtt-doctor.toml when present]
    #[arg(long, value_name = "FILE", env = "MQTT_DOCTOR_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address to listen on for HTTP
    #[arg(
        long,
        value_name = "ADDR:PORT",
        default_value = "127.0.0.1:9883",
        env = "MQTT_DOCTOR_LISTEN"
    )]
    pub listen: SocketAddr,

    /// Taken off Prometheus' scrape timeout (X-Prometheus-Scrape-Timeout-Seconds) to give a
    /// probe's time limit, so that the answer arrives before Prometheus gives up
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration_or_zero)]
    pub timeout_offset: Duration,

    /// Probes run at the same time; more wait for a turn within their time limit, then get
    /// HTTP 503
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrent: u16,
}

/// One probe's configuration for `serve`: a module's config-file layers (the top level, then its
/// profile) with `target` as the only target, through the same parsers and precedence as
/// `doctor --config FILE --profile NAME TARGET` with nothing typed on the command line.
fn serve_config(layers: &[config_file::Layer], target: &str) -> Result<DoctorConfig, String> {
    let doctor = Cli::command()
        .find_subcommand("doctor")
        .cloned()
        .ok_or("the doctor command is missing")?;
    let usage = |e: LayerError| match e {
        LayerError::Usage(message) => message,
        LayerError::Clap(error) => error.to_string(),
    };
    // Nothing is typed: the module's layers and its preset are all there is.
    let (merged, env) = merge_layers(
        &doctor,
        layers,
        &|_| false,
        None,
        (false, PathBuf::from("/")),
    )
    .map_err(usage)?;
    let mut command = doctor.no_binary_name(true);
    // The probe's target replaces the module's own (and its preset's).
    for (id, items) in merged.into_iter().filter(|(id, _)| id != "target") {
        command = command.mut_arg(id.as_str(), |arg| arg.default_values(items));
    }
    let first_line = |e: clap::Error| {
        let rendered = e.render().to_string();
        let line = rendered.lines().next().unwrap_or_default();
        line.strip_prefix("error: ").unwrap_or(line).to_string()
    };
    // After `--`, the target is only ever the target, whatever it starts with.
    let matches = command
        .try_get_matches_from(["--", target])
        .map_err(first_line)?;
    let args = DoctorArgs::from_arg_matches(&matches).map_err(first_line)?;
    args.into_configs(&env, &|_| false)?
        .pop()
        .ok_or_else(|| "no target".into())
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding id such as tcp.refused, or a CONNACK code: 134, 0x86, connack:5, v3:5, v5:0x87
    #[arg(
        required_unless_present = "list",
        value_name = "ID|CODE",
        value_parser = EXPLAIN_TOPICS,
        hide_possible_values = true
    )]
    pub id: Option<String>,

    /// Rank a code's causes for this broker
    #[arg(long, value_enum)]
    pub broker: Option<reason_codes::Broker>,

    /// List every finding id with its title
    #[arg(long, conflicts_with = "id")]
    pub list: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable report
    Text,
    /// The documented JSON report (docs/json-schema.md)
    Json,
    /// JUnit XML, one testcase per stage, for CI test-report views
    Junit,
    /// GitHub-flavoured Markdown: a job summary, a merge-request or pull-request comment
    Markdown,
}

/// `--output FORMAT=FILE`: one more report of the same run, in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    pub format: Format,
    pub path: PathBuf,
}

fn parse_output(text: &str) -> Result<OutputFile, String> {
    let Some((format, path)) = text.split_once('=') else {
        return Err(format!(
            "\"{text}\" names no format: write FORMAT=FILE, e.g. junit=report.xml"
        ));
    };
    let format = Format::from_str(format.trim(), true)
        .map_err(|_| format!("\"{format}\" is not a report format: text, json or junit"))?;
    if path.is_empty() {
        return Err(format!(
            "{text} names no file: write FORMAT=FILE, e.g. junit=report.xml"
        ));
    }
    Ok(OutputFile {
        format,
        path: PathBuf::from(path),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Annotations {
    /// When GITHUB_ACTIONS=true
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A free-text argument whose usual values shell completion should offer: the value is taken
/// as given (the command tells the forms apart), and [`Offers::values`] lists what to offer.
#[derive(Clone, Debug)]
struct Offers {
    values: fn() -> Vec<clap::builder::PossibleValue>,
}

impl clap::builder::TypedValueParser for Offers {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new((self.values)().into_iter()))
    }
}

/// What `explain` is offered: every finding id (CONNACK codes are accepted too; the list is
/// hidden from `--help`, which would otherwise print every id).
const EXPLAIN_TOPICS: Offers = Offers {
    values: || {
        registry::ALL
            .iter()
            .map(|def| clap::builder::PossibleValue::new(def.id).help(def.title))
            .collect()
    },
};

/// What `man` is offered: the commands with a page, by the walk `man_pages` renders them by.
const MAN_TOPICS: Offers = Offers {
    values: || {
        fn walk(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("{prefix}{}", sub.get_name());
                out.push(name.clone());
                walk(sub, &format!("{name}-"), out);
            }
        }
        let mut names = Vec::new();
        walk(&Cli::command(), "", &mut names);
        names
            .into_iter()
            .map(clap::builder::PossibleValue::new)
            .collect()
    },
};

/// Checks a target for clap without letting clap echo the raw value: a target may carry a
/// password (which is then rejected), and secrets never reach any output. The text is kept:
/// a preset decides what a bare `host[:port]` means, and that is known only later.
#[derive(Clone, Debug)]
struct TargetText;

impl clap::builder::TypedValueParser for TargetText {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let invalid = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{message}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| invalid("invalid target: it is not valid UTF-8".into()))?;
        text.parse::<Target>()
            .map(|_| text.to_string())
            .map_err(|e| invalid(format!("invalid target: {e}")))
    }
}

/// Facts about where the doctor runs, gathered once before the configuration is built.
#[derive(Debug, Default)]
pub struct Environment {
    /// `KUBERNETES_SERVICE_HOST` is set.
    pub in_kubernetes: bool,
    pub pod: Option<PodInfo>,
    pub preset: Option<AppliedPreset>,
    /// The proxy variables that are set (`HTTPS_PROXY`, `NO_PROXY`, ...), name and value.
    pub proxy_variables: Vec<(String, String)>,
    /// `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`: where `--k8s-api` asks.
    pub kubernetes_service: (Option<String>, Option<String>),
}

impl DoctorArgs {
    /// The validated configuration, one per target; whether an option was typed on the command
    /// line (rather than taken from the environment) comes from the caller. A token given as
    /// `-` is read from standard input here, once, so the probes never touch it.
    pub fn into_configs(
        self,
        env: &Environment,
        on_command_line: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<DoctorConfig>, String> {
        let (scheme, port, default_target) = match self.preset {
            Some(broker) => {
                let preset = crate::brokers::preset(broker);
                (preset.scheme, Some(preset.port), preset.target)
            }
            None => (Scheme::Mqtt, None, "mqtt://localhost:1883"),
        };
        let texts = if self.target.is_empty() {
            vec![default_target.to_string()]
        } else {
            self.target.clone()
        };
        let targets = texts
            .iter()
            .map(|text| {
                target::parse_with(text, scheme, port).map_err(|e| format!("invalid target: {e}"))
            })
            .collect::<Result<Vec<Target>, String>>()?;
        let credentials = self.credentials;
        if self.k8s_resources.as_deref() == Some(Path::new("-"))
            && credentials
                .token
                .as_ref()
                .is_some_and(|t| t.expose() == b"-")
        {
            return Err(
                "--k8s-resources - and --token - both read standard input; pass one of them in a \
                 file"
                    .into(),
            );
        }
        if self.k8s_api && self.k8s_resources.is_some() {
            return Err(
                "--k8s-api and --k8s-resources both give the cluster's resources; pass one of them"
                    .into(),
            );
        }
        let k8s = match &self.k8s_resources {
            Some(path) => Some(K8sInput::Resources(read_k8s_resources(path)?)),
            None if self.k8s_api => Some(K8sInput::Api(std::sync::Arc::new(
                crate::k8s_api::ApiSource::new(api_settings(
                    env,
                    &self.root,
                    self.k8s_namespace.clone(),
                )?),
            ))),
            None => None,
        };
        let token = match choose(
            &["token", "token_file"],
            &[
                credentials.token.is_some(),
                credentials.token_file.is_some(),
            ],
            on_command_line,
        )? {
            Some(0) => credentials.token.map(secret_source).transpose()?,
            Some(_) => credentials.token_file.map(CredentialSource::File),
            None => None,
        };
        let password = match choose(
            &["password", "password_file"],
            &[
                credentials.password.is_some(),
                credentials.password_file.is_some(),
            ],
            on_command_line,
        )? {
            Some(0) => credentials.password.map(CredentialSource::Value),
            Some(_) => credentials.password_file.map(CredentialSource::File),
            None => None,
        };
        let checks = credentials.checks.into_checks(on_command_line)?;
        // clap checks `requires` for typed values only; a profile can still give one alone.
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err("--cert and --key go together: give both, or neither".into());
        }
        if self.mqtt.auth_method.is_some() && self.mqtt.mqtt_version == MqttVersion::V311 {
            return Err(
                "--auth-method needs MQTT 5 (enhanced authentication does not exist in 3.1.1); \
                 drop --mqtt-version 3.1.1"
                    .into(),
            );
        }
        let base = DoctorConfig {
            target: targets[0].clone(),
            timeout: self.timeout,
            deadline: self.deadline,
            dns_server: self.dns_server,
            root: self.root,
            in_kubernetes: env.in_kubernetes,
            pod: env.pod.clone(),
            preset: env.preset.clone(),
            strict: self.strict,
            nodes: self.nodes,
            proxy: proxy::ProxyChoice::None,
            websocket: WsOptions::default(),
            tls: TlsOptions {
                force: self.tls.tls,
                cafile: self.tls.cafile,
                capath: self.tls.capath,
                insecure: self.tls.insecure,
                servername: self.tls.servername,
                alpn: self.tls.alpn,
                cert: self.tls.cert,
                key: self.tls.key,
                expiry_warning: self.tls.expiry_warning,
                save_chain: self.tls.save_chain,
            },
            auth: AuthOptions {
                username: credentials.username,
                password,
                token,
                checks,
            },
            mqtt: MqttOptions {
                version: self.mqtt.mqtt_version,
                client_id: self.mqtt.client_id,
                keepalive: self.mqtt.keepalive,
                auth_method: self.mqtt.auth_method,
                broker: self.mqtt.broker,
                publish: self.mqtt.publish,
                subscribe: self.mqtt.subscribe,
                hold: self.mqtt.hold,
            },
            k8s,
        };
        let transport = self.transport;
        let mut flag_proxy = transport.proxy;
        if let Some(proxy) = flag_proxy.as_mut()
            && !on_command_line("proxy")
        {
            proxy.source = "MQTT_DOCTOR_PROXY or the config file".into();
        }
        let lookup = |name: &str| {
            env.proxy_variables
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        targets
            .into_iter()
            .map(|mut target| {
                if let (Some(path), false) = (&transport.ws_path, target.explicit_path)
                    && target.path.is_some()
                {
                    target.path = Some(path.clone());
                }
                let proxy = match &flag_proxy {
                    Some(proxy) => proxy::ProxyChoice::Use(proxy.clone()),
                    None => proxy::choose(&target, None, transport.no_proxy, &lookup)
                        .map_err(|e| format!("invalid proxy in the environment: {e}"))?,
                };
                Ok(DoctorConfig {
                    target,
                    proxy,
                    websocket: WsOptions {
                        headers: transport.ws_header.clone(),
                    },
                    ..base.clone()
                })
            })
            .collect()
    }
}

/// Options that are alternatives: a layer that sets one replaces the others from lower layers,
/// and one given on the command line or in the environment hides all of them from every layer.
const ALTERNATIVES: &[&[&str]] = &[
    &["token", "token_file"],
    &["password", "password_file"],
    &["jwt_secret", "jwt_key", "jwks"],
];

/// Option values from one source below the command line and the environment.
#[derive(Debug)]
struct LayerValues {
    source: String,
    /// Clap argument id and values.
    values: Vec<(String, Vec<String>)>,
}

/// The doctor's arguments with the preset and the config file under them: the command line
/// beats `MQTT_DOCTOR_*`, which beats the config file's profile, then its top level, then the
/// preset, then the built-in defaults. The layers become clap defaults, so every value goes
/// through the same parser as a typed one, and clap's own precedence does the rest.
fn layered(first: &ArgMatches) -> Result<(DoctorArgs, ArgMatches, Environment), LayerError> {
    let (command, matches, env) = layered_for(first, "doctor")?;
    let Command::Doctor(args) = command else {
        return Err(LayerError::Usage("expected the doctor command".into()));
    };
    Ok((args, matches, env))
}

/// [`layered`] for the subcommand `name`, whose arguments flatten the doctor's (`watch`): the
/// config file's keys are still checked against the doctor's options, so one file serves both.
fn layered_for(
    first: &ArgMatches,
    name: &str,
) -> Result<(Command, ArgMatches, Environment), LayerError> {
    let explicit = |id: &str| {
        matches!(
            first.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let doctor_command = Cli::command()
        .find_subcommand("doctor")
        .cloned()
        .ok_or_else(|| LayerError::Usage("the doctor command is missing".into()))?;

    let config_path = match first.get_one::<PathBuf>("config") {
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from(config_file::DEFAULT_FILE)).filter(|p| p.is_file()),
    };
    let profile = first.get_one::<String>("profile");
    let file_layers = match (&config_path, profile) {
        (Some(path), _) => ConfigFile::load(path)
            .and_then(|file| file.layers(profile.map(String::as_str)))
            .map_err(LayerError::Usage)?,
        (None, Some(name)) => {
            return Err(LayerError::Usage(format!(
                "--profile {name} needs a config file: give --config FILE or create ./{}",
                config_file::DEFAULT_FILE
            )));
        }
        (None, None) => Vec::new(),
    };
    let typed_preset = first
        .get_one::<Broker>("preset")
        .copied()
        .filter(|_| explicit("preset"));
    let typed_root = first
        .get_one::<PathBuf>("root")
        .cloned()
        .unwrap_or_else(|| PathBuf::from("/"));
    let (merged, env) = merge_layers(
        &doctor_command,
        &file_layers,
        &explicit,
        typed_preset,
        (explicit("root"), typed_root),
    )?;

    let mut command = Cli::command();
    if !merged.is_empty() {
        command = command.mut_subcommand(name, |mut doctor| {
            for (id, values) in merged {
                doctor = doctor.mut_arg(id.as_str(), |arg| arg.default_values(values));
            }
            doctor
        });
    }
    let matches = command.try_get_matches().map_err(LayerError::Clap)?;
    let cli = Cli::from_arg_matches(&matches).map_err(LayerError::Clap)?;
    let doctor_matches = matches
        .subcommand_matches(name)
        .cloned()
        .ok_or_else(|| LayerError::Usage(format!("expected the {name} command")))?;
    Ok((cli.command, doctor_matches, env))
}

/// Option ids with their values, as the layers set them.
type OptionValues = Vec<(String, Vec<String>)>;

/// The values a config file's layers and a preset set, merged lowest first (the preset, then
/// the file's top level, then its profile; a higher layer replaces a value and its
/// alternatives), less those `explicit` says the command line or the environment set; and the
/// environment they imply (the pod, the preset and its token fallback). Shared by `doctor`,
/// `watch` and `serve`, so that a profile means the same to each.
fn merge_layers(
    doctor_command: &clap::Command,
    file_layers: &[config_file::Layer],
    explicit: &dyn Fn(&str) -> bool,
    typed_preset: Option<Broker>,
    (root_typed, typed_root): (bool, PathBuf),
) -> Result<(OptionValues, Environment), LayerError> {
    let mut layers = Vec::new();
    for layer in file_layers {
        let mut values = Vec::new();
        for (long, items) in &layer.values {
            let id = check_file_option(doctor_command, &layer.source, long, items)?;
            values.push((id, items.clone()));
        }
        layers.push(LayerValues {
            source: layer.source.clone(),
            values,
        });
    }
    let from_file = |id: &str| -> Option<&Vec<String>> {
        layers
            .iter()
            .rev()
            .find_map(|l| l.values.iter().find(|(k, _)| k == id).map(|(_, v)| v))
    };

    let preset = match typed_preset {
        Some(broker) => Some(broker),
        None => match from_file("preset").and_then(|v| v.first()) {
            Some(name) => Some(Broker::from_str(name, true).map_err(LayerError::Usage)?),
            None => None,
        },
    };
    let root = match (root_typed, from_file("root").and_then(|v| v.first())) {
        (false, Some(root)) => PathBuf::from(root),
        _ => typed_root,
    };
    let in_kubernetes = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let pod = in_kubernetes.then(|| PodInfo::discover(&root, std::time::SystemTime::now()));

    if let Some(broker) = preset {
        let preset = crate::brokers::preset(broker);
        let mut values = vec![("target".to_string(), vec![preset.target.to_string()])];
        for setting in preset.settings {
            if let Some(value) = presets::resolve(setting, &root) {
                values.push((setting.option.replace('-', "_"), vec![value]));
            }
        }
        layers.insert(
            0,
            LayerValues {
                source: format!("preset {}", preset.broker.id()),
                values,
            },
        );
    }

    // Merge, lowest first: a higher layer replaces a value and its alternatives.
    let alternatives = |id: &str| -> &[&str] {
        ALTERNATIVES
            .iter()
            .find(|group| group.contains(&id))
            .copied()
            .unwrap_or(&[])
    };
    let mut merged: Vec<(String, Vec<String>, usize)> = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        for (id, values) in &layer.values {
            merged.retain(|(k, _, _)| k != id && !alternatives(id).contains(&k.as_str()));
            merged.push((id.clone(), values.clone(), index));
        }
    }
    merged.retain(|(id, _, _)| {
        !explicit(id) && !alternatives(id).iter().any(|member| explicit(member))
    });

    let mut applied = preset.map(|broker| AppliedPreset {
        broker,
        token_fallback: None,
    });
    if let (Some(applied), Some(pod)) = (applied.as_mut(), &pod)
        && let Some(entry) = merged.iter_mut().find(|(id, _, layer)| {
            id == "token_file" && layers[*layer].source.starts_with("preset")
        })
        && let Some((fallback, read_from)) = token_fallback(applied.broker, &root, pod)
    {
        entry.1 = vec![read_from.display().to_string()];
        applied.token_fallback = Some(fallback);
    }

    let env = Environment {
        in_kubernetes,
        pod,
        preset: applied,
        proxy_variables: proxy::PROXY_VARIABLES
            .iter()
            .chain(&proxy::NO_PROXY_VARIABLES)
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
            .collect(),
        kubernetes_service: kubernetes_service(),
    };
    let merged = merged
        .into_iter()
        .map(|(id, values, _)| (id, values))
        .collect();
    Ok((merged, env))
}

#[derive(Debug)]
enum LayerError {
    Usage(String),
    Clap(clap::Error),
}

/// When the preset's token file is missing in a pod, a projected token with the preset's
/// audience is the one the pod was meant to use; returned with the path to read it from.
fn token_fallback(broker: Broker, root: &Path, pod: &PodInfo) -> Option<(TokenFallback, PathBuf)> {
    let preset = crate::brokers::preset(broker);
    let expected = preset.settings.iter().find_map(|s| match s.value {
        presets::Value::File(path) if s.option == "token-file" => Some(path),
        _ => None,
    })?;
    let audience = preset.settings.iter().find_map(|s| match s.value {
        presets::Value::Text(text) if s.option == "audience" => Some(text),
        _ => None,
    })?;
    if crate::config::below_root(root, expected).exists() {
        return None;
    }
    let used = pod.projected_for(audience).into_iter().next()?;
    Some((
        TokenFallback {
            expected: expected.to_string(),
            used: used.path.clone(),
            audience: audience.to_string(),
        },
        used.host_path.clone(),
    ))
}

/// Checks one config-file option with the doctor's own parser for it, and returns its clap id.
fn check_file_option(
    doctor: &clap::Command,
    source: &str,
    long: &str,
    values: &[String],
) -> Result<String, LayerError> {
    let arg = doctor
        .get_arguments()
        .find(|a| a.get_long() == Some(long) || (a.is_positional() && a.get_id().as_str() == long))
        .filter(|a| !["config", "profile"].contains(&a.get_id().as_str()))
        .ok_or_else(|| {
            LayerError::Usage(format!(
                "{source}: unknown option \"{long}\"; keys are the long options of \
                 `mqtt-doctor doctor --help` (timeout, cafile, token-file, ...) and targets"
            ))
        })?;
    let many = matches!(arg.get_action(), clap::ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    if values.len() != 1 && !many {
        return Err(LayerError::Usage(format!(
            "{source}: {long} takes one value, not {}",
            values.len()
        )));
    }
    // The same parser as on the command line, on an argument with nothing else attached.
    let check = clap::Arg::new("value")
        .long("value")
        .value_parser(arg.get_value_parser().clone())
        .action(clap::ArgAction::Append);
    let mut argv = Vec::new();
    for value in values {
        argv.push("--value".to_string());
        argv.push(value.clone());
    }
    clap::Command::new("check")
        .no_binary_name(true)
        .arg(check)
        .try_get_matches_from(argv)
        .map_err(|e| {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            let reason = first
                .strip_prefix("error: ")
                .unwrap_or(first)
                .replace("'--value <value>'", long);
            LayerError::Usage(format!("{source}: {reason}"))
        })?;
    Ok(arg.get_id().to_string())
}

/// The program: parse, run one command, return its exit code.
pub fn main() -> ExitCode {
    // The run's deadline counts from here: reading files and standard input is part of the run.
    let started = Instant::now();
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                exit::USAGE
            } else {
                exit::HEALTHY
            });
        }
    };
    colored::control::set_override(use_color(cli.color));
    // Set before anything is read: the doctor's config file may move it (see `doctor`).
    match &cli.command {
        Command::Doctor(DoctorArgs { deadline, .. })
        | Command::Watch(WatchArgs {
            doctor: DoctorArgs { deadline, .. },
            ..
        })
        | Command::Token(TokenCommand::Inspect(TokenInspectArgs { deadline, .. })) => {
            files::set_run_deadline(started, *deadline);
        }
        _ => {}
    }
    let code = match cli.command {
        Command::Doctor(_) => doctor(matches.subcommand_matches("doctor"), started),
        Command::Watch(_) => watch(matches.subcommand_matches("watch"), started),
        Command::Presets => emit(crate::brokers::presets_listing().as_bytes()),
        Command::Schema => emit(report::json_schema().as_bytes()),
        Command::Explain(args) => explain(&args),
        Command::Token(TokenCommand::Inspect(args)) => token_inspect(
            args,
            matches
                .subcommand_matches("token")
                .and_then(|m| m.subcommand_matches("inspect")),
        ),
        Command::Serve(args) => crate::serve::main(
            crate::serve::Options {
                config: args.config,
                listen: args.listen,
                timeout_offset: args.timeout_offset,
                max_concurrent: usize::from(args.max_concurrent),
            },
            serve_config,
        ),
        Command::Completions { shell } => emit(&completion_script(shell)),
        Command::Man { command } => man(command.as_deref()),
    };
    ExitCode::from(code)
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
        }
    }
}

/// Whether `id` was typed on the command line (not taken from the environment or a default).
fn typed(matches: Option<&ArgMatches>) -> impl Fn(&str) -> bool + '_ {
    move |id| matches.and_then(|m| m.value_source(id)) == Some(ValueSource::CommandLine)
}

fn doctor(first: Option<&ArgMatches>, started: Instant) -> u8 {
    let Some(first) = first else {
        return exit::INTERNAL;
    };
    let (args, matches, env) = match layered(first) {
        Ok(layered) => layered,
        Err(LayerError::Usage(message)) => {
            eprintln!("mqtt-doctor: error: {message}");
            return exit::USAGE;
        }
        Err(LayerError::Clap(error)) => {
            let _ = error.print();
            return exit::USAGE;
        }
    };
    // The config file or a preset may have set another deadline; reading it was bounded by the
    // one from the command line, the environment or the default.
    files::set_run_deadline(started, args.deadline);
    let format = args.format;
    let text = TextOptions {
        verbose: args.verbose,
        quiet: args.quiet,
        width: text_width(),
    };
    let strict = args.strict;
    let cluster = args.cluster;
    let outputs = args.output.clone();
    let github_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let annotate = match args.annotations {
        Annotations::Always => true,
        Annotations::Never => false,
        Annotations::Auto => github_actions,
    };
    let configs = match args.into_configs(&env, &typed(Some(&matches))) {
        Ok(configs) => configs,
        Err(message) => {
            eprintln!("mqtt-doctor: error: {message}");
            return exit::USAGE;
        }
    };
    if cluster && configs.len() < 2 {
        eprintln!(
            "mqtt-doctor: error: --cluster compares the targets as the nodes of one cluster: give \
             at least two (a name with several addresses is compared without it)"
        );
        return exit::USAGE;
    }
    // Before the run, whose number of targets checked at once follows the limit.
    limits::raise_descriptor_limit();
    let runtime = match limits::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mqtt-doctor: error: {e}");
            return exit::INTERNAL;
        }
    };
    let expected = configs.len();
    let layout = |format: Format| match format {
        Format::Text => Layout::Text(text),
        Format::Json => Layout::Json,
        Format::Junit => Layout::Junit,
        Format::Markdown => Layout::Markdown { brief: false },
    };
    let options = StreamOptions {
        layout: layout(format),
        strict,
        annotate,
        single: expected == 1,
        // In a GitHub Actions log, each target's text report folds under one line.
        fold: github_actions,
    };
    // Each target's report is rendered in its task as it finishes, once per output, and
    // written here in the order given, so memory stays flat with the number of targets
    // (report::stream says what each format keeps until the end).
    let mut sinks: Vec<(String, Box<dyn Write>, StreamOptions)> =
        vec![("standard output".into(), Box::new(io::stdout()), options)];
    for output in &outputs {
        let file = match std::fs::File::create(&output.path) {
            Ok(file) => io::BufWriter::new(file),
            Err(e) => {
                eprintln!(
                    "mqtt-doctor: error: cannot write {}: {}",
                    output.path.display(),
                    files::io_problem(&e)
                );
                return exit::USAGE;
            }
        };
        // The text report's colours are for a terminal; a file gets the plain text.
        let out: Box<dyn Write> = match output.format {
            Format::Text => {
                let inner: Box<dyn Write> = Box::new(file);
                Box::new(anstream::StripStream::new(inner))
            }
            _ => Box::new(file),
        };
        let file_options = StreamOptions {
            layout: layout(output.format),
            annotate: false,
            fold: false,
            ..options
        };
        sinks.push((output.path.display().to_string(), out, file_options));
    }
    // Under GitHub Actions, a Markdown summary of the run goes on the job's summary page: the
    // file the runner names is appended to, as every step's summary is.
    if github_actions && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        let path = PathBuf::from(path);
        match std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
        {
            Ok(file) => sinks.push((
                path.display().to_string(),
                Box::new(io::BufWriter::new(file)),
                StreamOptions {
                    layout: Layout::Markdown { brief: true },
                    annotate: false,
                    fold: false,
                    ..options
                },
            )),
            // The report on stdout still says everything; the summary page is a courtesy.
            Err(e) => eprintln!(
                "mqtt-doctor: warning: cannot write the job summary {}: {}",
                path.display(),
                files::io_problem(&e)
            ),
        }
    }
    let every: Vec<StreamOptions> = sinks.iter().map(|(_, _, o)| *o).collect();
    let mut writer = match Outputs::new(sinks) {
        Ok(writer) => writer,
        Err(e) => {
            eprintln!("mqtt-doctor: error: cannot write {}: {}", e.name, e.error);
            return exit::INTERNAL;
        }
    };
    // A live line on stderr while a step waits, for a person at a terminal reading text.
    let status = (format == Format::Text && !text.quiet && io::stderr().is_terminal()).then(|| {
        let width = terminal_size::terminal_size_of(io::stderr())
            .map_or(80, |(terminal_size::Width(w), _)| usize::from(w));
        StatusLine::start(width)
    });
    let mut written = 0;
    let mut write_error = None;
    let mut local_failures = LocalFailures::default();
    // With --cluster, each target's nodes are kept (a few hundred bytes each) for the
    // comparison once all are done.
    let mut cluster_nodes = Vec::new();
    runtime.block_on(pipeline::run_all(
        configs,
        started,
        move |outcome| {
            let nodes = if cluster {
                outcome.cluster_nodes()
            } else {
                Vec::new()
            };
            (
                outcome.local_failure,
                report::stream::render_each(&outcome, &every),
                nodes,
            )
        },
        |_, (local_failure, mut rendered, nodes)| {
            local_failures.record(local_failure);
            cluster_nodes.extend(nodes);
            // Only standard output's rendering carries annotations.
            let annotations = rendered
                .first_mut()
                .map(|r| std::mem::take(&mut r.annotations))
                .unwrap_or_default();
            let wrote = match &status {
                Some(status) => status.quiet(|| writer.target(rendered)),
                None => writer.target(rendered),
            };
            if let Err(e) = wrote {
                write_error = Some(e);
                return ControlFlow::Break(());
            }
            written += 1;
            if !annotations.is_empty() {
                let _ = io::stderr().lock().write_all(annotations.as_bytes());
            }
            ControlFlow::Continue(())
        },
    ));
    // A getaddrinfo call that never returns must not hold the process open past its verdict.
    runtime.shutdown_background();
    if let Some(status) = status {
        status.stop();
    }

    if cluster && write_error.is_none() {
        let compared = pipeline::compare_cluster(cluster_nodes, strict);
        writer.cluster(report::ClusterReport::from_outcome(&compared));
    }
    let tally = match write_error.map_or_else(|| writer.finish(), Err) {
        Ok(tally) => tally,
        Err(e) => {
            eprintln!("mqtt-doctor: error: cannot write {}: {}", e.name, e.error);
            return exit::INTERNAL;
        }
    };
    if written != expected {
        eprintln!("mqtt-doctor: error: a check stopped without a result");
        return exit::INTERNAL;
    }
    // The reports are out; what stopped the checks was this machine, not the broker.
    if let Some(message) = local_failures.message() {
        eprintln!("mqtt-doctor: error: {message}");
        return exit::INTERNAL;
    }
    if tally.failed_any() {
        exit::FAILURE
    } else {
        exit::HEALTHY
    }
}

fn watch(first: Option<&ArgMatches>, started: Instant) -> u8 {
    let Some(first) = first else {
        return exit::INTERNAL;
    };
    let usage = |message: &str| {
        eprintln!("mqtt-doctor: error: {message}");
        exit::USAGE
    };
    let (command, matches, env) = match layered_for(first, "watch") {
        Ok(layered) => layered,
        Err(LayerError::Usage(message)) => return usage(&message),
        Err(LayerError::Clap(error)) => {
            let _ = error.print();
            return exit::USAGE;
        }
    };
    let Command::Watch(args) = command else {
        return exit::INTERNAL;
    };
    files::set_run_deadline(started, args.doctor.deadline);
    let doctor = args.doctor;
    // Text for a person at a terminal, JSON Lines for a program; a format typed on the command
    // line or set in MQTT_DOCTOR_FORMAT wins either way.
    let chosen = matches!(
        matches.value_source("format"),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    );
    let json = match doctor.format {
        Format::Json => true,
        Format::Text if chosen => false,
        Format::Text => !io::stdout().is_terminal(),
        Format::Junit | Format::Markdown => {
            return usage(
                "watch writes text or JSON Lines (--format text or json); JUnit and Markdown \
                 are for one doctor run",
            );
        }
    };
    if !doctor.output.is_empty() {
        return usage(
            "watch writes to standard output only; redirect it to keep the runs \
             (`> runs.jsonl`)",
        );
    }
    if doctor.cluster {
        return usage("--cluster compares one run's targets; use it with doctor, not watch");
    }
    let (quiet, verbose) = (doctor.quiet, doctor.verbose);
    let configs = match doctor.into_configs(&env, &typed(Some(&matches))) {
        Ok(configs) => configs,
        Err(message) => return usage(&message),
    };
    limits::raise_descriptor_limit();
    let plan = crate::watch::Plan {
        configs,
        interval: args.interval,
        count: args.count,
        output: if json {
            crate::watch::Output::JsonLines
        } else {
            crate::watch::Output::Text {
                quiet,
                verbose,
                summary_every: WATCH_SUMMARY_EVERY,
            }
        },
    };
    let ended = match crate::watch::run(plan, Box::new(io::stdout())) {
        Ok(ended) => ended,
        Err(e) => {
            eprintln!("mqtt-doctor: error: {e}");
            return exit::INTERNAL;
        }
    };
    if let Some(e) = ended.write_error {
        eprintln!("mqtt-doctor: error: cannot write to stdout: {e}");
        return exit::INTERNAL;
    }
    if ended.lost_result {
        eprintln!("mqtt-doctor: error: a check stopped without a result");
        return exit::INTERNAL;
    }
    if let Some(message) = ended.local_failure {
        eprintln!("mqtt-doctor: error: {message}");
        return exit::INTERNAL;
    }
    // A watch stopped before any run finished has shown nothing healthy.
    if ended.summary.failed > 0 || ended.summary.runs == 0 {
        exit::FAILURE
    } else {
        exit::HEALTHY
    }
}

/// On a terminal, the summary block comes back every this many runs (and at the end), as
/// WATCH_EXAMPLES tells.
const WATCH_SUMMARY_EVERY: u64 = 10;

fn token_inspect(args: TokenInspectArgs, matches: Option<&ArgMatches>) -> u8 {
    let source = match (args.file, args.token) {
        (Some(path), _) if path.as_os_str() == "-" => match secret_source(Secret::new("-")) {
            Ok(source) => source,
            Err(message) => {
                eprintln!("mqtt-doctor: error: {message}");
                return exit::USAGE;
            }
        },
        (Some(path), _) => {
            // A token pasted where a path belongs must not be echoed back as a "missing file".
            let text = path.to_string_lossy();
            if !path.exists() && crate::jwt::looks_like_jwt(&text) {
                eprintln!(
                    "mqtt-doctor: error: the argument is a token, not a file; pass it with --token \
                     or MQTT_DOCTOR_TOKEN, or pipe it in with `-`"
                );
                return exit::USAGE;
            }
            CredentialSource::File(path)
        }
        (None, Some(token)) => CredentialSource::Value(token),
        (None, None) => {
            eprintln!(
                "mqtt-doctor: error: give a token file, - for standard input, or --token \
                 (MQTT_DOCTOR_TOKEN)"
            );
            return exit::USAGE;
        }
    };
    let checks = match args.checks.into_checks(&typed(matches)) {
        Ok(checks) => checks,
        Err(message) => {
            eprintln!("mqtt-doctor: error: {message}");
            return exit::USAGE;
        }
    };
    let (summary, findings) = auth::inspect(&source, &checks, std::time::SystemTime::now());
    let report = TokenReport::new(&source, summary, &findings, args.strict);
    let rendered = match args.format {
        Format::Json => report::json::render(&report),
        Format::Junit | Format::Markdown => {
            eprintln!(
                "mqtt-doctor: error: token inspect writes text or JSON; JUnit and Markdown are \
                 for doctor runs"
            );
            return exit::USAGE;
        }
        Format::Text => report::text::render_token(
            &report,
            TextOptions {
                verbose: true,
                quiet: false,
                width: text_width(),
            },
        ),
    };
    if let Err(e) = write_stdout(rendered.as_bytes()) {
        eprintln!("mqtt-doctor: error: cannot write the report: {e}");
        return exit::INTERNAL;
    }
    match report.verdict.status {
        Status::Fail => exit::FAILURE,
        _ => exit::HEALTHY,
    }
}

/// The width the text report wraps at: `COLUMNS` when set (as shells export it, and as a CI job
/// or a test can ask for a width), else the terminal's, at most 120; 100 for a pipe or a file.
fn text_width() -> usize {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return columns.clamp(40, 400);
    }
    if io::stdout().is_terminal()
        && let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size()
    {
        return usize::from(w).min(120);
    }
    100
}

fn explain(args: &ExplainArgs) -> u8 {
    if args.list {
        let width = registry::ALL.iter().map(|d| d.id.len()).max().unwrap_or(0);
        let text: String = registry::ALL
            .iter()
            .map(|d| format!("{:<width$}  {:<4}  {}\n", d.id, d.status.as_str(), d.title))
            .collect();
        return emit(text.as_bytes());
    }
    let id = args.id.as_deref().unwrap_or_default();
    let query = match id.parse::<reason_codes::CodeQuery>() {
        Err(reason_codes::CodeQueryError::TooLarge(_)) => {
            eprintln!("mqtt-doctor: error: {id} is too large for a CONNACK code (one byte, 0-255)");
            return exit::USAGE;
        }
        other => other.ok(),
    };
    if let Some(query) = query {
        return match reason_codes::find(query) {
            Some(code) => emit(crate::brokers::page(code, args.broker).as_bytes()),
            None => {
                eprintln!(
                    "mqtt-doctor: error: {id} is not a CONNACK code; MQTT 3.1.1 has 0-5, MQTT 5 \
                     has 0x00 and 0x80-0x9F (`mqtt-doctor explain 0x86`)"
                );
                exit::USAGE
            }
        };
    }
    match registry::find(id) {
        Some(def) => emit(def.page.as_bytes()),
        None => {
            let stage = id.split('.').next().unwrap_or(id);
            let near: Vec<&str> = registry::ALL
                .iter()
                .filter(|d| d.id.starts_with(&format!("{stage}.")))
                .map(|d| d.id)
                .collect();
            if near.is_empty() {
                eprintln!(
                    "mqtt-doctor: error: unknown finding id \"{id}\"; `mqtt-doctor explain --list` lists them all"
                );
            } else {
                eprintln!(
                    "mqtt-doctor: error: unknown finding id \"{id}\"; {stage} has: {}",
                    near.join(", ")
                );
            }
            exit::USAGE
        }
    }
}

/// The completion script for `shell`, generated from the clap definition.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mqtt-doctor", &mut out);
    if shell == Shell::Bash {
        // clap_complete's bash script names a hyphenated program's subcommands one way where it
        // walks the words and another in its case labels (clap-rs/clap#6421), so no option after
        // a subcommand would complete. One spelling, until the fix is released.
        let text = String::from_utf8_lossy(&out)
            .replace("mqtt__subcmd__doctor__subcmd__", "mqtt__doctor__subcmd__");
        out = text.into_bytes();
    }
    out
}

/// The man pages, generated from the clap definition: `mqtt-doctor` and one per subcommand
/// (`mqtt-doctor-doctor`, `mqtt-doctor-token-inspect`, ...), which the top page refers to.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    fn walk(command: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
        let name = command
            .get_display_name()
            .unwrap_or(command.get_name())
            .to_string();
        let mut out = Vec::new();
        // Rendering into a Vec cannot fail.
        let _ = clap_mangen::Man::new(command.clone()).render(&mut out);
        // No hyphenation: a path or option split at a hyphen (`bro-ker-sat`) cannot be copied.
        // `.TH` sets it, so `.nh` goes right after.
        let text = String::from_utf8_lossy(&out).into_owned();
        let text = match text
            .find("\n.TH ")
            .and_then(|at| text[at + 1..].find('\n').map(|end| at + 1 + end + 1))
        {
            Some(after) => format!("{}.nh\n{}", &text[..after], &text[after..]),
            None => text,
        };
        let mut out = text.into_bytes();
        out.extend_from_slice(man_sections(command, &name).as_bytes());
        pages.push((name, out));
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, pages);
        }
    }
    let mut command = Cli::command();
    // Building names the subcommands as the pages refer to them (mqtt-doctor-doctor).
    command.build();
    let mut pages = Vec::new();
    walk(&command, &mut pages);
    pages
}

/// The sections clap_mangen does not write: EXIT STATUS, ENVIRONMENT (every variable the
/// command's options read, and the ones the doctor reads itself) and FILES, in roff.
fn man_sections(command: &clap::Command, name: &str) -> String {
    // Text for roff: backslashes doubled, hyphens made real minus signs so options copy right.
    let roff = |text: &str| text.replace('\\', "\\\\").replace('-', "\\-");
    let item = |term: &str, text: &str| format!(".TP\n\\fB{}\\fR\n{}\n", roff(term), roff(text));
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for line in EXIT_CODES.lines().skip(1) {
        let line = line.trim();
        if let Some((code, meaning)) = line.split_once("  ") {
            out.push_str(&item(code, meaning.trim()));
        } else if let Some(last) = out.strip_suffix('\n') {
            // A meaning continued on the next line.
            out = format!("{last} {}\n", roff(line));
        }
    }
    let mut environment: Vec<(String, String)> = command
        .get_arguments()
        .filter_map(|arg| {
            let variable = arg.get_env()?.to_string_lossy().into_owned();
            let option = arg
                .get_long()
                .map(|long| format!("the same as --{long}"))
                .unwrap_or_else(|| format!("the {} argument", arg.get_id()));
            Some((variable, option))
        })
        .collect();
    // watch takes every option of doctor, so it reads the same environment and files.
    let runs_the_doctor = matches!(
        name,
        "mqtt-doctor" | "mqtt-doctor-doctor" | "mqtt-doctor-watch"
    );
    if runs_the_doctor {
        for (variable, meaning) in [
            ("NO_COLOR", "set and not empty: no colour with --color auto"),
            ("COLUMNS", "the width the text report wraps at"),
            (
                "GITHUB_ACTIONS",
                "true: annotations, log groups and the job summary",
            ),
            (
                "GITHUB_STEP_SUMMARY",
                "under GitHub Actions, the file the Markdown summary is appended to",
            ),
            (
                "https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY, NO_PROXY",
                "the proxy to tunnel through, and the brokers to reach directly",
            ),
            (
                "KUBERNETES_SERVICE_HOST",
                "set: the doctor runs in a pod and reads what the pod has mounted",
            ),
        ] {
            environment.push((variable.to_string(), meaning.to_string()));
        }
    }
    if !environment.is_empty() {
        out.push_str(".SH ENVIRONMENT\n");
        for (variable, meaning) in &environment {
            out.push_str(&item(variable, meaning));
        }
    }
    if runs_the_doctor {
        out.push_str(".SH FILES\n");
        for (file, meaning) in [
            (
                "./mqtt-doctor.toml",
                "settings and named profiles, unless --config names another file",
            ),
            (
                "/etc/resolv.conf, /etc/hosts",
                "the resolver configuration and the hosts file, below --root",
            ),
            (
                "/var/run/secrets/kubernetes.io/serviceaccount/",
                "in a pod: its namespace, ServiceAccount token and cluster CA",
            ),
            (
                "/var/run/secrets/tokens/",
                "in a pod: projected ServiceAccount tokens (broker-sat for --preset aio)",
            ),
        ] {
            out.push_str(&item(file, meaning));
        }
    }
    out
}

fn man(command: Option<&str>) -> u8 {
    let wanted = match command {
        None => "mqtt-doctor".to_string(),
        Some(name) => format!("mqtt-doctor-{}", name.replace(' ', "-")),
    };
    let pages = man_pages();
    match pages.iter().find(|(name, _)| *name == wanted) {
        Some((_, page)) => emit(page),
        None => {
            let names: Vec<&str> = pages
                .iter()
                .filter_map(|(name, _)| name.strip_prefix("mqtt-doctor-"))
                .collect();
            eprintln!(
                "mqtt-doctor: error: no man page for \"{}\"; there are: {}",
                command.unwrap_or_default(),
                names.join(", ")
            );
            exit::USAGE
        }
    }
}

fn emit(bytes: &[u8]) -> u8 {
    match write_stdout(bytes) {
        Ok(()) => exit::HEALTHY,
        Err(e) => {
            eprintln!("mqtt-doctor: error: cannot write to stdout: {e}");
            exit::INTERNAL
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth reporting.
fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mqtt-doctor").chain(args.iter().copied()))
    }

    #[test]
    fn argv_to_config() {
        let Command::Doctor(args) = parse(&["doctor"]).unwrap().command else {
            panic!()
        };
        let configs = args
            .into_configs(&Environment::default(), &|_| true)
            .unwrap();
        assert_eq!(configs.len(), 1);
        let config = &configs[0];
        assert_eq!(config.target.url(), "mqtt://localhost:1883");
        assert_eq!(config.timeout, crate::config::DEFAULT_TIMEOUT);
        assert_eq!(config.deadline, crate::config::DEFAULT_DEADLINE);

        let Command::Doctor(args) = parse(&[
            "doctor",
            "mqtts://[::1]",
            "--timeout",
            "250ms",
            "--deadline",
            "1m",
            "--dns-server",
            "127.0.0.1:5300",
            "--strict",
            "--root",
            "/tmp/pod",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        let in_pod = Environment {
            in_kubernetes: true,
            ..Environment::default()
        };
        let config = args.into_configs(&in_pod, &|_| true).unwrap().remove(0);
        assert_eq!(config.target.url(), "mqtts://[::1]:8883");
        assert_eq!(config.timeout, Duration::from_millis(250));
        assert_eq!(config.deadline, Duration::from_secs(60));
        assert_eq!(config.dns_server, Some("127.0.0.1:5300".parse().unwrap()));
        assert!(config.strict && config.in_kubernetes);
        assert_eq!(config.root, PathBuf::from("/tmp/pod"));
    }

    #[test]
    fn a_preset_decides_what_a_bare_host_means() {
        let configs = |args: &[&str]| {
            let Command::Doctor(args) = parse(args).unwrap().command else {
                panic!()
            };
            args.into_configs(&Environment::default(), &|_| true)
                .unwrap()
                .into_iter()
                .map(|c| c.target.url())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            configs(&["doctor", "--preset", "aio", "10.1.2.3", "mqtt://b", "c:1"]),
            ["mqtts://10.1.2.3:18883", "mqtt://b:1883", "mqtts://c:1"]
        );
        assert_eq!(
            configs(&["doctor", "--preset", "aio"]),
            ["mqtts://aio-broker.azure-iot-operations.svc.cluster.local:18883"]
        );
        assert_eq!(
            configs(&["doctor", "--preset", "hivemq", "cluster.example"]),
            ["mqtts://cluster.example:8883"]
        );
        assert_eq!(
            configs(&["doctor", "a", "b"]),
            ["mqtt://a:1883", "mqtt://b:1883"]
        );
    }

    #[test]
    fn the_command_line_beats_the_environment_for_alternatives() {
        let ids = ["token", "token_file"];
        let nowhere = |_: &str| false;
        let typed_file = |id: &str| id == "token_file";
        let everywhere = |_: &str| true;
        assert_eq!(choose(&ids, &[false, false], &nowhere), Ok(None));
        assert_eq!(choose(&ids, &[true, false], &nowhere), Ok(Some(0)));
        assert_eq!(choose(&ids, &[true, true], &typed_file), Ok(Some(1)));
        let both_typed = choose(&ids, &[true, true], &everywhere).unwrap_err();
        assert_eq!(
            both_typed,
            "--token and --token-file are alternatives; give one"
        );
        let both_env = choose(&ids, &[true, true], &nowhere).unwrap_err();
        assert!(both_env.contains("MQTT_DOCTOR_"), "{both_env}");
    }

    #[test]
    fn bad_invocations_are_usage_errors() {
        for args in [
            &["doctor", "http://x"][..],
            &["doctor", "--timeout", "0s"],
            &["doctor", "--timeout", "soon"],
            &["doctor", "--dns-server", "resolver"],
            &["doctor", "--format", "xml"],
            &["doctor", "a", "http://b"],
            &["explain"],
        ] {
            let error = parse(args).expect_err(&format!("{args:?}"));
            assert!(error.use_stderr(), "{args:?}");
        }
    }
}
