//! The report model and one renderer per output format (text, JSON, JUnit XML).
//!
//! [`Report`] is the documented wire format (`docs/json-schema.md`): the JSON renderer writes it
//! as is, and the text renderer reads the same model, so the two formats can never disagree. It
//! derives `Deserialize` with `deny_unknown_fields` so that the contract test (and any Rust
//! consumer) reads it strictly. Renderers never probe; they only format.

pub mod github;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod prometheus;
pub mod status;
pub mod stream;
pub mod text;
pub mod watch;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::CredentialSource;
use crate::findings::{Finding, Status, millis};
use crate::observations::Observations;
use crate::pipeline::{ClusterOutcome, Outcome, Verdict};
use crate::proxy::{ProxyChoice, ProxyKind};
use crate::stage::Stage;
use crate::target::{Host, Scheme};

/// Bumped on any change a strict consumer would notice.
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Every node checked: one for a single connection chain, one per address when the name
    /// resolved to several (up to `--nodes`), none when nothing resolved.
    pub nodes: Vec<NodeReport>,
    /// Every stage that ran; those of one node's chain carry its address in `node`.
    pub stages: Vec<StageReport>,
    /// Every finding; those of one node's chain carry its address in `node`.
    pub findings: Vec<FindingReport>,
}

/// One node: an address with its own connection chain, or for a `--cluster` a target's node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeReport {
    /// The target this node belongs to; only in a `--cluster` comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `IP:PORT`; absent for a cluster target that resolved to nothing.
    pub address: Option<String>,
    /// This node's own verdict.
    pub verdict: VerdictReport,
    /// What its chain observed, as numbers: timings, certificate, CONNACK.
    pub observed: Observations,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictReport {
    /// `pass`, `warn` or `fail`.
    pub status: Status,
    /// The id of the finding that best explains a failure; `null` when nothing failed.
    pub root_cause: Option<String>,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageReport {
    pub name: Stage,
    /// The node whose chain ran it, when the target has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub status: Status,
    pub duration_ms: f64,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingReport {
    pub id: String,
    pub stage: Stage,
    /// The node whose chain saw it, when the target has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
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
        // A single chain's stages and findings belong to the target as before.
        let several = outcome.nodes.len() > 1;
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
                .map(|p| p.broker.id().to_string()),
            proxy: ProxyReport::from_choice(&outcome.config.proxy),
            started_at: humantime::format_rfc3339_millis(outcome.started_at).to_string(),
            duration_ms: millis(outcome.duration),
            verdict: VerdictReport::of(&outcome.verdict),
            nodes: outcome
                .nodes
                .iter()
                .map(|node| NodeReport {
                    target: None,
                    address: Some(node.address.to_string()),
                    verdict: VerdictReport::of(&node.verdict),
                    observed: node.observed.clone(),
                })
                .collect(),
            stages: outcome
                .stages
                .iter()
                .map(|run| StageReport {
                    name: run.stage,
                    node: several.then_some(run.node).flatten().map(|a| a.to_string()),
                    status: run.status,
                    duration_ms: millis(run.duration),
                    summary: run.summary.clone(),
                })
                .collect(),
            findings: outcome
                .findings
                .iter()
                .map(|f| FindingReport::from(f).on_node(several.then_some(f.node).flatten()))
                .collect(),
        }
    }
}

impl VerdictReport {
    pub fn of(verdict: &Verdict) -> VerdictReport {
        VerdictReport {
            status: verdict.status,
            root_cause: verdict.root_cause.map(str::to_string),
            summary: verdict.summary.clone(),
        }
    }
}

/// The JSON report of a run over several targets: one [`Report`] each, in the order given, and
/// an overall verdict (the worst). A run over one target writes that target's [`Report`] alone.
///
/// The verdict comes after the reports: serde writes fields in this order, and a run streams
/// each report as its target finishes (see [`json::MultiJson`]), so the verdict over all of them
/// can only be written last. JSON objects are unordered, so a consumer does not notice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    description = "A run over several targets: one report per target, in the order given, the \
                   --cluster comparison when asked for, and the verdict over all of them."
)]
pub struct MultiReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub reports: Vec<Report>,
    /// The comparison of the targets as the nodes of one cluster; only with `--cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterReport>,
    pub verdict: MultiVerdict,
}

/// `--cluster`: the targets compared as the nodes of one cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterReport {
    pub verdict: VerdictReport,
    /// Every node of every target, with the target it belongs to.
    pub nodes: Vec<NodeReport>,
    /// The comparison's findings (stage `cluster`).
    pub findings: Vec<FindingReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiVerdict {
    /// The worst verdict of all targets.
    pub status: Status,
    pub targets: usize,
    pub failed: usize,
    pub warned: usize,
    pub summary: String,
}

impl ClusterReport {
    pub fn from_outcome(outcome: &ClusterOutcome) -> ClusterReport {
        ClusterReport {
            verdict: VerdictReport::of(&outcome.verdict),
            nodes: outcome
                .nodes
                .iter()
                .map(|node| NodeReport {
                    target: Some(node.target.clone()),
                    address: node.address.map(|a| a.to_string()),
                    verdict: VerdictReport::of(&node.verdict),
                    observed: node.observed.clone(),
                })
                .collect(),
            findings: outcome.findings.iter().map(FindingReport::from).collect(),
        }
    }
}

impl MultiReport {
    pub fn new(reports: &[Report]) -> MultiReport {
        MultiReport {
            schema_version: SCHEMA_VERSION,
            tool: tool(),
            reports: reports.to_vec(),
            cluster: None,
            verdict: overall(reports),
        }
    }
}

/// The verdict over several targets: the worst status, and how many failed and warned.
pub fn overall(reports: &[Report]) -> MultiVerdict {
    let mut tally = Tally::default();
    for report in reports {
        tally.add(report.verdict.status);
    }
    tally.verdict()
}

/// The overall verdict counted target by target, so that a run over many targets need not keep
/// their reports to give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub targets: usize,
    pub failed: usize,
    pub warned: usize,
    /// Targets that could not be fully checked (the doctor's own resources ran out).
    pub skipped: usize,
    /// The worst status so far (`pass` before any target).
    pub worst: Status,
    /// The verdict of the `--cluster` comparison, once made.
    pub cluster: Option<Status>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            targets: 0,
            failed: 0,
            warned: 0,
            skipped: 0,
            worst: Status::Pass,
            cluster: None,
        }
    }
}

impl Tally {
    pub fn add(&mut self, status: Status) {
        self.targets += 1;
        match status {
            Status::Fail => self.failed += 1,
            Status::Warn => self.warned += 1,
            Status::Skip => self.skipped += 1,
            _ => {}
        }
        self.worst = self.worst.max(status);
    }

    /// Whether the run failed: a target did, or the cluster comparison.
    pub fn failed_any(&self) -> bool {
        self.failed > 0 || self.cluster == Some(Status::Fail)
    }

    pub fn verdict(&self) -> MultiVerdict {
        let mut verdict = self.targets_verdict();
        match self.cluster {
            Some(Status::Fail) if verdict.status != Status::Fail => {
                verdict.status = Status::Fail;
                verdict.summary = format!("{}, but the cluster comparison failed", verdict.summary);
            }
            Some(Status::Warn) if verdict.status == Status::Pass => {
                verdict.status = Status::Warn;
                verdict.summary = format!("{}; the cluster's nodes differ", verdict.summary);
            }
            _ => {}
        }
        verdict
    }

    fn targets_verdict(&self) -> MultiVerdict {
        let (targets, failed, warned) = (self.targets, self.failed, self.warned);
        let mut summary = match (failed, warned) {
            (0, 0) => format!("all {targets} targets are healthy"),
            (0, w) => format!(
                "{} of {targets} targets healthy, {w} with warnings",
                targets - w
            ),
            (f, _) => format!("{f} of {targets} targets failed"),
        };
        // `skip` ranks below `pass` when statuses are compared, but a run in which some targets
        // could not be checked is not healthy: it says so, and its status is `skip`.
        let mut status = self.worst;
        if self.skipped > 0 && failed == 0 {
            status = Status::Skip;
            summary = match (self.skipped, warned) {
                (n, 0) => format!("{n} of {targets} targets could not be fully checked"),
                (n, w) => format!(
                    "{n} of {targets} targets could not be fully checked, {w} with warnings"
                ),
            };
        }
        MultiVerdict {
            status,
            targets,
            failed,
            warned,
            summary,
        }
    }
}

/// What a run over several targets keeps of each target for the closing table once its report
/// is written: a few dozen bytes, where the report is kilobytes.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSummary {
    pub url: String,
    pub status: Status,
    pub root_cause: Option<String>,
    pub duration_ms: f64,
}

impl TargetSummary {
    pub fn of(report: &Report) -> TargetSummary {
        TargetSummary {
            url: report.target.url.clone(),
            status: report.verdict.status,
            root_cause: report.verdict.root_cause.clone(),
            duration_ms: report.duration_ms,
        }
    }
}

impl FindingReport {
    fn on_node(mut self, node: Option<std::net::SocketAddr>) -> FindingReport {
        self.node = node.map(|a| a.to_string());
        self
    }
}

impl From<&Finding> for FindingReport {
    fn from(f: &Finding) -> Self {
        FindingReport {
            id: f.id().to_string(),
            stage: f.stage(),
            node: None,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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

/// Every JSON document the doctor writes: one target's [`Report`], a [`MultiReport`] over
/// several targets, or `token inspect`'s [`TokenReport`]. Only its schema is ever made.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(
    title = "mqtt-doctor report",
    description = "A JSON document written by mqtt-doctor: `doctor --format json` over one target \
                   (Report) or several (MultiReport), `token inspect --format json` \
                   (TokenReport), or one line of `watch`'s JSON Lines (WatchRun, then \
                   WatchSummaryLine last). docs/json-schema.md describes every field."
)]
#[allow(dead_code)]
enum Document {
    Report(Report),
    Multi(MultiReport),
    Token(TokenReport),
    WatchRun(watch::WatchRun),
    WatchSummary(watch::WatchSummaryLine),
}

/// The JSON Schema (2020-12) of every JSON document the doctor writes, derived from the report
/// types: what `mqtt-doctor schema` prints and `docs/report.schema.json` holds.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Document);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Reports for the renderers' tests, without running anything.
#[cfg(test)]
pub(crate) mod samples {
    use super::Report;

    /// Reports as a target's run would make it: one failing target, one warning, one healthy.
    pub(crate) fn reports() -> Vec<Report> {
        let json = |status: &str, root: Option<&str>, url: &str, finding: &str| {
            serde_json::json!({
                "schema_version": 3,
                "tool": {"name": "mqtt-doctor", "version": env!("CARGO_PKG_VERSION")},
                "target": {"input": url, "url": url, "scheme": "mqtt", "host": "127.0.0.1",
                           "port": 1883, "tls": false},
                "started_at": "2026-01-01T00:00:00.000Z",
                "duration_ms": 12.5,
                "verdict": {"status": status, "root_cause": root, "summary": "what <it> \"said\"\nand more"},
                "nodes": [],
                "stages": [
                    {"name": "dns", "status": "skip", "duration_ms": 0.0, "summary": "an IP address"},
                    {"name": "tcp", "status": status, "duration_ms": 1.25, "summary": "connected & more"}
                ],
                "findings": [{
                    "id": finding, "stage": "tcp", "status": status, "title": "A title",
                    "detail": "A detail with a line break\nand 50% ::error:: in it.",
                    "evidence": {"addresses": [{"address": "127.0.0.1:1883", "result": "refused"}],
                                 "empty": [], "nothing": {}},
                    "fix": "Start the broker:\n  systemctl start mosquitto",
                    "docs": format!("mqtt-doctor explain {finding}")
                }]
            })
        };
        [
            json(
                "fail",
                Some("tcp.refused"),
                "mqtt://127.0.0.1:1",
                "tcp.refused",
            ),
            json("warn", None, "mqtt://127.0.0.1:2", "tcp.slow"),
            json("pass", None, "mqtt://127.0.0.1:3", "tcp.connected"),
        ]
        .into_iter()
        .map(|value| serde_json::from_value(value).expect("a valid report"))
        .collect()
    }
}
