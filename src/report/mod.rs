//! The report model and one renderer per output format (text, JSON, JUnit XML).
//!
//! [`Report`] is the documented wire format (`docs/json-schema.md`): the JSON renderer writes it
//! as is, and the text renderer reads the same model, so the two formats can never disagree. It
//! derives `Deserialize` with `deny_unknown_fields` so that the contract test (and any Rust
//! consumer) reads it strictly. Renderers never probe; they only format.

pub mod github;
pub mod json;
pub mod junit;
pub mod text;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::CredentialSource;
use crate::findings::{Finding, Status, millis};
use crate::pipeline::{Outcome, Stage};
use crate::proxy::{ProxyChoice, ProxyKind};
use crate::target::{Host, Scheme};

/// Bumped on any change a strict consumer would notice.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub target: TargetReport,
    /// The preset in force (`--preset`), absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The proxy in force, or the one the environment names and why it was not used; absent
    /// when no proxy is configured anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyReport>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: f64,
    pub verdict: VerdictReport,
    pub stages: Vec<StageReport>,
    pub findings: Vec<FindingReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetReport {
    /// As the user typed it.
    pub input: String,
    /// Canonical form, e.g. `mqtt://127.0.0.1:1883`.
    pub url: String,
    pub scheme: Scheme,
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// WebSocket path; absent for MQTT over TCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyReport {
    /// The proxy URL, password masked; absent when the proxy was not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `http`, `socks5` or `socks5h`; absent when the proxy was not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProxyKind>,
    /// `--proxy`, or the environment variable the proxy came from.
    pub source: String,
    /// Why a proxy from the environment was not used (`NO_PROXY`, loopback, `--no-proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypassed: Option<String>,
}

impl ProxyReport {
    fn from_choice(choice: &ProxyChoice) -> Option<ProxyReport> {
        match choice {
            ProxyChoice::None => None,
            ProxyChoice::Use(proxy) => Some(ProxyReport {
                url: Some(proxy.url()),
                kind: Some(proxy.kind),
                source: proxy.source.clone(),
                bypassed: None,
            }),
            ProxyChoice::Bypassed { variable, reason } => Some(ProxyReport {
                url: None,
                kind: None,
                source: variable.clone(),
                bypassed: Some(reason.clone()),
            }),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictReport {
    /// `pass`, `warn` or `fail`.
    pub status: Status,
    /// The id of the finding that best explains a failure; `null` when nothing failed.
    pub root_cause: Option<String>,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageReport {
    pub name: Stage,
    pub status: Status,
    pub duration_ms: f64,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingReport {
    pub id: String,
    pub stage: Stage,
    pub status: Status,
    pub title: String,
    pub detail: String,
    pub evidence: Map<String, Value>,
    pub fix: Option<String>,
    /// How to read the long-form page for this id.
    pub docs: String,
}

impl Report {
    pub fn from_outcome(outcome: &Outcome) -> Report {
        let target = &outcome.config.target;
        Report {
            schema_version: SCHEMA_VERSION,
            tool: tool(),
            target: TargetReport {
                input: target.input.clone(),
                url: target.url(),
                scheme: target.scheme,
                host: match &target.host {
                    Host::Name(name) => name.clone(),
                    Host::Ip(ip) => ip.to_string(),
                },
                port: target.port,
                tls: target.scheme.uses_tls(),
                path: target.path.clone(),
            },
            preset: outcome
                .config
                .preset
                .as_ref()
                .map(|p| crate::presets::name(p.broker).to_string()),
            proxy: ProxyReport::from_choice(&outcome.config.proxy),
            started_at: humantime::format_rfc3339_millis(outcome.started_at).to_string(),
            duration_ms: millis(outcome.duration),
            verdict: VerdictReport {
                status: outcome.verdict.status,
                root_cause: outcome.verdict.root_cause.map(str::to_string),
                summary: outcome.verdict.summary.clone(),
            },
            stages: outcome
                .stages
                .iter()
                .map(|run| StageReport {
                    name: run.stage,
                    status: run.status,
                    duration_ms: millis(run.duration),
                    summary: run.summary.clone(),
                })
                .collect(),
            findings: outcome.findings.iter().map(FindingReport::from).collect(),
        }
    }
}

/// The JSON report of a run over several targets: one [`Report`] each, in the order given, and
/// an overall verdict (the worst). A run over one target writes that target's [`Report`] alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub verdict: MultiVerdict,
    pub reports: Vec<Report>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiVerdict {
    /// The worst verdict of all targets.
    pub status: Status,
    pub targets: usize,
    pub failed: usize,
    pub warned: usize,
    pub summary: String,
}

impl MultiReport {
    pub fn new(reports: &[Report]) -> MultiReport {
        MultiReport {
            schema_version: SCHEMA_VERSION,
            tool: tool(),
            verdict: overall(reports),
            reports: reports.to_vec(),
        }
    }
}

/// The verdict over several targets: the worst status, and how many failed and warned.
pub fn overall(reports: &[Report]) -> MultiVerdict {
    let count = |status| {
        reports
            .iter()
            .filter(|r| r.verdict.status == status)
            .count()
    };
    let (failed, warned) = (count(Status::Fail), count(Status::Warn));
    let status = reports
        .iter()
        .map(|r| r.verdict.status)
        .fold(Status::Pass, Status::max);
    let summary = match (failed, warned) {
        (0, 0) => format!("all {} targets are healthy", reports.len()),
        (0, w) => format!(
            "{} of {} targets healthy, {w} with warnings",
            reports.len() - w,
            reports.len()
        ),
        (f, _) => format!("{f} of {} targets failed", reports.len()),
    };
    MultiVerdict {
        status,
        targets: reports.len(),
        failed,
        warned,
        summary,
    }
}

impl From<&Finding> for FindingReport {
    fn from(f: &Finding) -> Self {
        FindingReport {
            id: f.id().to_string(),
            stage: f.stage(),
            status: f.status,
            title: f.def.title.to_string(),
            detail: f.detail.clone(),
            evidence: f.evidence.clone(),
            fix: f.fix.clone(),
            docs: format!("mqtt-doctor explain {}", f.id()),
        }
    }
}

fn tool() -> Tool {
    Tool {
        name: env!("CARGO_PKG_NAME").to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The report of `mqtt-doctor token inspect`: the auth stage's checks on one token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenReport {
    pub schema_version: u32,
    pub tool: Tool,
    /// Where the token came from: `file PATH`, `standard input` or `argument or environment`.
    pub source: String,
    pub verdict: VerdictReport,
    pub findings: Vec<FindingReport>,
}

impl TokenReport {
    /// The verdict follows the doctor's rule: the first failing finding is the root cause
    /// (with `strict`, the first warning too).
    pub fn new(
        source: &CredentialSource,
        summary: String,
        findings: &[Finding],
        strict: bool,
    ) -> TokenReport {
        let root = findings.iter().find(|f| f.status.fails(strict));
        let status = match root {
            Some(_) => Status::Fail,
            None if findings.iter().any(|f| f.status == Status::Warn) => Status::Warn,
            None => Status::Pass,
        };
        TokenReport {
            schema_version: SCHEMA_VERSION,
            tool: tool(),
            source: match source {
                CredentialSource::File(path) => format!("file {}", path.display()),
                CredentialSource::Stdin(_) => "standard input".into(),
                CredentialSource::Value(_) => "argument or environment".into(),
            },
            verdict: VerdictReport {
                status,
                root_cause: root.map(|f| f.id().to_string()),
                summary,
            },
            findings: findings.iter().map(FindingReport::from).collect(),
        }
    }
}
