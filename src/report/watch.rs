//! `watch`'s output: one line per run and a summary of every run so far, as JSON Lines (one
//! object a line, the summary last under `"summary"`) or as text for a terminal.
//!
//! The types are the documented wire format (docs/json-schema.md, "watch"); the statistics that
//! fill a [`WatchSummary`] live in `crate::watch`, which renders through this module and never
//! the other way round.

use std::fmt::Write as _;

use colored::Colorize;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::VerdictReport;
use super::text::{glyph, paint};
use crate::findings::Status;

/// One run of the watch: every target's verdict and each node's times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchRun {
    /// The run's number, from 1.
    pub run: u64,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: f64,
    /// The run's status over its targets: `fail` when one failed, else `skip` when one could
    /// not be fully checked, else the worst of `warn` and `pass`.
    pub status: Status,
    pub targets: Vec<WatchTarget>,
}

/// One target in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchTarget {
    /// Canonical form, e.g. `mqtt://127.0.0.1:1883`.
    pub url: String,
    pub verdict: VerdictReport,
    /// The connection was closed, taken over or disconnected while it was held (`--hold`, or
    /// the one PINGREQ round trip without it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub session_dropped: bool,
    /// Every node checked, as in the doctor's report; none when nothing resolved.
    pub nodes: Vec<WatchNode>,
}

/// One node of a target in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchNode {
    /// `IP:PORT`.
    pub address: String,
    pub status: Status,
    pub root_cause: Option<String>,
    /// The steps of the connection that happened, in milliseconds.
    pub phases: Phases,
}

/// The connection's steps, in the order a client goes through them (the report's
/// `nodes[].observed` times, under the names `watch` gives its phases).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connack: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub puback: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping: Option<f64>,
}

/// The phases by name, in a client's order.
pub const PHASES: [&str; 8] = [
    "dns",
    "tcp",
    "proxy",
    "tls",
    "websocket",
    "connack",
    "puback",
    "ping",
];

impl Phases {
    pub fn from_observed(observed: &crate::observations::Observations) -> Phases {
        Phases {
            dns: observed.dns_ms,
            tcp: observed.connect_ms,
            proxy: observed.proxy_ms,
            tls: observed.tls_handshake_ms,
            websocket: observed.websocket_ms,
            connack: observed.connack_ms,
            puback: observed.puback_ms,
            ping: observed.ping_ms,
        }
    }

    /// Each phase's time, indexed as [`PHASES`].
    pub fn values(&self) -> [Option<f64>; 8] {
        [
            self.dns,
            self.tcp,
            self.proxy,
            self.tls,
            self.websocket,
            self.connack,
            self.puback,
            self.ping,
        ]
    }
}

/// The last line of a JSON Lines watch: the summary under its own key, which no run line has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchSummaryLine {
    pub summary: WatchSummary,
}

/// Every run of a watch so far, in bounded space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchSummary {
    /// Runs that finished (a run cut short by Ctrl-C is not counted).
    pub runs: u64,
    pub passed: u64,
    pub warned: u64,
    pub failed: u64,
    /// Runs the doctor's own environment stopped (no descriptor, memory or local port left).
    pub skipped: u64,
    /// The watch was stopped by SIGINT (Ctrl-C) or SIGTERM rather than by `--count`.
    pub interrupted: bool,
    /// RFC 3339, UTC: the first run's start.
    pub started_at: String,
    /// From the first run's start to the summary.
    pub duration_ms: f64,
    /// The worst run's status (`pass` before any run).
    pub status: Status,
    /// Times a target's verdict changed from one run to the next, over every target.
    pub flaps: u64,
    /// Runs in which a target's held connection was dropped, over every target.
    pub session_drops: u64,
    pub targets: Vec<WatchTargetSummary>,
    /// The root causes seen, the most frequent first, with the runs they failed.
    pub root_causes: Vec<RootCauseCount>,
    /// Failed runs whose root cause is not listed (only past the list's cap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_root_causes: u64,
    /// The latest verdict changes, oldest first (the earlier ones are only counted).
    pub recent_flaps: Vec<Flap>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One target over every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchTargetSummary {
    pub url: String,
    pub runs: u64,
    pub passed: u64,
    pub warned: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Runs that did not fail (passed or warned) over runs; `null` before the first run.
    pub success_ratio: Option<f64>,
    pub flaps: u64,
    pub session_drops: u64,
    /// The latest run's status.
    pub last_status: Option<Status>,
    /// Each address checked, by first appearance.
    pub nodes: Vec<WatchNodeSummary>,
    /// The addresses past the cap on listed nodes, counted together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_nodes: Option<WatchNodeSummary>,
    /// Latency per phase, over every node and run in which the phase happened.
    pub phases: Vec<PhaseSummary>,
}

/// One node over every run it was checked in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchNodeSummary {
    /// `IP:PORT`, or `other` for the addresses past the cap.
    pub address: String,
    pub runs: u64,
    /// Runs in which this node did not fail.
    pub passed: u64,
    pub success_ratio: Option<f64>,
}

/// Percentiles of one phase's times, in milliseconds, within 2.5% (a fixed-size histogram of
/// 5% buckets holds them); `max_ms` is exact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSummary {
    pub phase: String,
    pub samples: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RootCauseCount {
    /// A finding id (`mqtt-doctor explain ID`).
    pub id: String,
    pub count: u64,
}

/// A target's verdict that changed between two consecutive runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flap {
    /// The run with the new verdict.
    pub run: u64,
    /// RFC 3339, UTC: that run's start.
    pub at: String,
    pub target: String,
    pub from: Status,
    pub to: Status,
    /// The new verdict's root cause, for a change to `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
}

/// One JSON line: no newline inside, one at the end.
pub fn json_line<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs cannot fail; an empty object would still be one line.
    let mut line = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    line.push('\n');
    line
}

/// Milliseconds as a person reads them: 0.42ms, 3.1ms, 250ms, 1.2s.
fn ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.1}s", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0}ms")
    } else if value >= 10.0 {
        format!("{value:.1}ms")
    } else {
        format!("{value:.2}ms")
    }
}

/// The clock time of an RFC 3339 instant, in UTC: `2026-11-26T17:58:03.120Z` gives
/// `17:58:03Z`.
fn clock(rfc3339: &str) -> String {
    rfc3339
        .get(11..19)
        .map_or_else(|| rfc3339.to_string(), |time| format!("{time}Z"))
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// A run for a terminal: one line per target (one line for the usual single target), with the
/// time, the verdict, the root cause and the times of the phases that happened. `--verbose`
/// adds the verdict's summary under it.
pub fn render_run_text(run: &WatchRun, verbose: bool) -> String {
    let mut out = String::new();
    for target in &run.targets {
        let status = target.verdict.status;
        // Padded before it is painted: colour codes would count in the width.
        let upper = format!("{:<4}", status.as_str().to_uppercase());
        let _ = write!(
            out,
            "{}  #{:<4} {} {}  {}",
            clock(&run.started_at),
            run.run,
            paint(status, glyph(status)),
            paint(status, &upper),
            target.url
        );
        if let Some(root) = &target.verdict.root_cause {
            let _ = write!(out, "  {}", root.red());
        }
        if target.session_dropped {
            let _ = write!(out, "  {}", "session dropped".red());
        }
        // The first node stands for the target: the one a client connects to. The others are
        // counted, and each has its own line in the JSON output.
        if let Some(node) = target.nodes.first() {
            for (name, value) in PHASES.iter().zip(node.phases.values()) {
                if let Some(value) = value {
                    let _ = write!(out, "  {} {}", name.dimmed(), ms(value));
                }
            }
        }
        if target.nodes.len() > 1 {
            let passing = target
                .nodes
                .iter()
                .filter(|n| n.status != Status::Fail)
                .count();
            let _ = write!(out, "  [{passing}/{} nodes ok]", target.nodes.len());
        }
        let _ = writeln!(out, "  ({})", ms(run.duration_ms));
        if verbose {
            let _ = writeln!(out, "    {}", target.verdict.summary);
        }
    }
    out
}

/// The summary for a terminal: counts, each target's success ratio and its nodes', latency
/// percentiles per phase, root causes and flaps.
pub fn render_summary_text(summary: &WatchSummary) -> String {
    let mut out = String::new();
    let head = format!(
        "── {} run{} in {}{}: {} passed, {} warned, {} failed{} ──",
        summary.runs,
        if summary.runs == 1 { "" } else { "s" },
        if summary.duration_ms < 60_000.0 {
            ms(summary.duration_ms)
        } else {
            humantime::format_duration(std::time::Duration::from_secs(
                (summary.duration_ms / 1000.0).round() as u64,
            ))
            .to_string()
        },
        if summary.interrupted {
            ", interrupted"
        } else {
            ""
        },
        summary.passed,
        summary.warned,
        summary.failed,
        if summary.skipped > 0 {
            format!(", {} not fully checked", summary.skipped)
        } else {
            String::new()
        },
    );
    let _ = writeln!(out, "{}", head.bold());
    for target in &summary.targets {
        let _ = writeln!(
            out,
            "{}  {}/{} ok ({})  flaps {}  sessions dropped {}  last {}",
            target.url.bold(),
            target.passed + target.warned,
            target.runs,
            ratio(target.success_ratio),
            target.flaps,
            target.session_drops,
            target
                .last_status
                .map_or_else(|| "-".normal(), |s| paint(s, &s.as_str().to_uppercase())),
        );
        let several = target.nodes.len() + usize::from(target.other_nodes.is_some()) > 1;
        if several {
            for node in target.nodes.iter().chain(&target.other_nodes) {
                let _ = writeln!(
                    out,
                    "  node {:<22} {}/{} ok ({})",
                    node.address,
                    node.passed,
                    node.runs,
                    ratio(node.success_ratio)
                );
            }
        }
        if !target.phases.is_empty() {
            let _ = writeln!(
                out,
                "  {} {:>9} {:>9} {:>9} {:>9} {:>8}",
                format!("{:<10}", "phase").dimmed(),
                "p50",
                "p95",
                "p99",
                "max",
                "samples"
            );
            for phase in &target.phases {
                let _ = writeln!(
                    out,
                    "  {:<10} {:>9} {:>9} {:>9} {:>9} {:>8}",
                    phase.phase,
                    ms(phase.p50_ms),
                    ms(phase.p95_ms),
                    ms(phase.p99_ms),
                    ms(phase.max_ms),
                    phase.samples
                );
            }
        }
    }
    if !summary.root_causes.is_empty() {
        let mut causes: Vec<String> = summary
            .root_causes
            .iter()
            .map(|c| format!("{} ×{}", c.id.red(), c.count))
            .collect();
        if summary.other_root_causes > 0 {
            causes.push(format!("other ×{}", summary.other_root_causes));
        }
        let _ = writeln!(out, "root causes: {}", causes.join(", "));
    }
    if summary.flaps > 0 {
        let shown: Vec<String> = summary
            .recent_flaps
            .iter()
            .map(|f| {
                format!(
                    "#{} {} {}→{}",
                    f.run,
                    clock(&f.at),
                    f.from.as_str(),
                    f.to.as_str()
                )
            })
            .collect();
        let earlier = summary.flaps.saturating_sub(shown.len() as u64);
        let _ = writeln!(
            out,
            "flaps: {}{}",
            shown.join(", "),
            if earlier > 0 {
                format!(" (and {earlier} earlier)")
            } else {
                String::new()
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_run(status: Status, root: Option<&str>) -> WatchRun {
        WatchRun {
            run: 7,
            started_at: "2026-11-26T17:58:03.120Z".into(),
            duration_ms: 4.5,
            status,
            targets: vec![WatchTarget {
                url: "mqtt://127.0.0.1:1883".into(),
                verdict: VerdictReport {
                    status,
                    root_cause: root.map(String::from),
                    summary: "said".into(),
                },
                session_dropped: false,
                nodes: vec![WatchNode {
                    address: "127.0.0.1:1883".into(),
                    status,
                    root_cause: root.map(String::from),
                    phases: Phases {
                        tcp: Some(0.25),
                        connack: Some(1.5),
                        ..Phases::default()
                    },
                }],
            }],
        }
    }

    #[test]
    fn a_run_is_one_line_with_its_phases() {
        colored::control::set_override(false);
        let text = render_run_text(&sample_run(Status::Fail, Some("tcp.refused")), false);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("17:58:03Z  #7"), "{text}");
        assert!(text.contains("FAIL"), "{text}");
        assert!(text.contains("tcp.refused"), "{text}");
        assert!(text.contains("tcp 0.25ms  connack 1.50ms"), "{text}");
    }

    #[test]
    fn a_json_line_is_one_line_and_reads_back() {
        let run = sample_run(Status::Pass, None);
        let line = json_line(&run);
        assert_eq!(line.matches('\n').count(), 1);
        let back: WatchRun = serde_json::from_str(&line).unwrap();
        assert_eq!(back, run);
        // No empty phases and no `session_dropped: false` in a line.
        assert!(!line.contains("\"dns\"") && !line.contains("session_dropped"));
    }
}
