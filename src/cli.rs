//! The command line: clap definitions, the argv → [`DoctorConfig`] step, and dispatch.
//!
//! `main` stays thin: [`main`] parses, decides colour once, runs one command and returns the
//! documented exit code. Everything a probe needs is validated here into a [`DoctorConfig`], so
//! a malformed target or option is a one-line error with exit code 2 before any network work.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::config::{DoctorConfig, TlsOptions, parse_dns_server, parse_duration};
use crate::findings::{Status, registry};
use crate::pipeline;
use crate::report::{self, Report, text::TextOptions};
use crate::target::Target;

/// Exit codes, as documented in `--help` and the README.
pub mod exit {
    /// Healthy: no failure found (warnings allowed unless `--strict`).
    pub const HEALTHY: u8 = 0;
    /// A failure was found; the report names the root cause.
    pub const FAILURE: u8 = 1;
    /// Invalid invocation or input (bad target, bad option, unknown finding id).
    pub const USAGE: u8 = 2;
    /// The doctor itself could not run (e.g. it could not start its runtime or write its output).
    pub const INTERNAL: u8 = 3;
}

/// The exit-code table, shown under the top-level and the `doctor` help.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  healthy (warnings allowed unless --strict)
  1  a failure was found; the report names the root cause
  2  invalid invocation or input
  3  the doctor itself could not run"
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
    /// Diagnose the connection to a broker, stage by stage (DNS, TCP, TLS)
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),
    /// Print the page that explains a finding id, e.g. `explain tcp.refused`
    Explain(ExplainArgs),
    /// Print a shell completion script
    Completions {
        /// The shell to complete for
        shell: Shell,
    },
    /// Print the man page (roff)
    Man,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The broker: a URL (mqtt://, mqtts://, tcp://, ssl://, ws://, wss://) or host[:port]
    #[arg(default_value = "mqtt://localhost:1883", value_parser = TargetParser)]
    pub target: Target,

    /// Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s
    #[arg(long, short = 't', default_value = "5s", value_parser = parse_duration, env = "MQTT_DOCTOR_TIMEOUT")]
    pub timeout: Duration,

    /// Time allowed for the whole run; no step outlives it
    #[arg(long, default_value = "30s", value_parser = parse_duration, env = "MQTT_DOCTOR_DEADLINE")]
    pub deadline: Duration,

    /// Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = parse_dns_server, env = "MQTT_DOCTOR_DNS_SERVER")]
    pub dns_server: Option<SocketAddr>,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text, env = "MQTT_DOCTOR_FORMAT")]
    pub format: Format,

    /// Treat warnings as failures (exit code 1)
    #[arg(long, env = "MQTT_DOCTOR_STRICT")]
    pub strict: bool,

    /// Show passing findings with their evidence too
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Read well-known files (etc/resolv.conf, etc/hosts) below this directory, e.g. a copy of a
    /// pod's filesystem; the system resolver is then not consulted
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        env = "MQTT_DOCTOR_ROOT"
    )]
    pub root: PathBuf,

    #[command(flatten)]
    pub tls: TlsArgs,
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
}

fn parse_server_name(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.').to_string();
    rustls::pki_types::ServerName::try_from(name.clone())
        .map(|_| name)
        .map_err(|_| format!("\"{text}\" is not a valid DNS name or IP address"))
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding id such as tcp.refused
    #[arg(required_unless_present = "list")]
    pub id: Option<String>,

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Parses the target for clap without letting clap echo the raw value: a target may carry a
/// password (which is then rejected), and secrets never reach any output.
#[derive(Clone, Debug)]
struct TargetParser;

impl clap::builder::TypedValueParser for TargetParser {
    type Value = Target;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Target, clap::Error> {
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
            .map_err(|e| invalid(format!("invalid target: {e}")))
    }
}

impl DoctorArgs {
    /// The validated configuration; `in_kubernetes` comes from the caller so that this stays a
    /// pure function of its inputs.
    pub fn into_config(self, in_kubernetes: bool) -> DoctorConfig {
        DoctorConfig {
            target: self.target,
            timeout: self.timeout,
            deadline: self.deadline,
            dns_server: self.dns_server,
            root: self.root,
            in_kubernetes,
            strict: self.strict,
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
            },
        }
    }
}

/// The program: parse, run one command, return its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
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
    let code = match cli.command {
        Command::Doctor(args) => doctor(args),
        Command::Explain(args) => explain(&args),
        Command::Completions { shell } => emit(&completion_script(shell)),
        Command::Man => emit(&man_page()),
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

fn doctor(args: DoctorArgs) -> u8 {
    let format = args.format;
    let verbose = args.verbose;
    let config = args.into_config(std::env::var_os("KUBERNETES_SERVICE_HOST").is_some());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mqtt-doctor: error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    let outcome = runtime.block_on(pipeline::run(config));
    // A getaddrinfo call that never returns must not hold the process open past its verdict.
    runtime.shutdown_background();

    let report = Report::from_outcome(&outcome);
    let rendered = match format {
        Format::Json => report::json::render(&report),
        Format::Text => report::text::render(
            &report,
            TextOptions {
                verbose,
                width: text_width(),
            },
        ),
    };
    match write_stdout(rendered.as_bytes()) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("mqtt-doctor: error: cannot write the report: {e}");
            return exit::INTERNAL;
        }
    }
    match report.verdict.status {
        Status::Fail => exit::FAILURE,
        _ => exit::HEALTHY,
    }
}

fn text_width() -> usize {
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
    out
}

/// The man page, generated from the clap definition.
pub fn man_page() -> Vec<u8> {
    let mut out = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(Cli::command()).render(&mut out);
    out
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
        let config = args.into_config(false);
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
        let config = args.into_config(true);
        assert_eq!(config.target.url(), "mqtts://[::1]:8883");
        assert_eq!(config.timeout, Duration::from_millis(250));
        assert_eq!(config.deadline, Duration::from_secs(60));
        assert_eq!(config.dns_server, Some("127.0.0.1:5300".parse().unwrap()));
        assert!(config.strict && config.in_kubernetes);
        assert_eq!(config.root, PathBuf::from("/tmp/pod"));
    }

    #[test]
    fn bad_invocations_are_usage_errors() {
        for args in [
            &["doctor", "http://x"][..],
            &["doctor", "--timeout", "0s"],
            &["doctor", "--timeout", "soon"],
            &["doctor", "--dns-server", "resolver"],
            &["doctor", "--format", "xml"],
            &["doctor", "a", "b"],
            &["explain"],
        ] {
            let error = parse(args).expect_err(&format!("{args:?}"));
            assert!(error.use_stderr(), "{args:?}");
        }
    }
}
