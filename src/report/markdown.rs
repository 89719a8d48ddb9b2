//! Markdown renderer: the report as GitHub-flavoured Markdown, for a GitHub Actions job summary
//! (`$GITHUB_STEP_SUMMARY`), a GitLab or pull-request comment, or `--format markdown`.
//!
//! Per target: the verdict, the stage table, a node table when there are several nodes, then
//! every failing or warning finding with its detail, its evidence keys and its fix. Several
//! targets end with one row per target and the overall verdict. Text that a peer may have
//! chosen (a reason string in a detail, a certificate name) is escaped, so it cannot turn into
//! a link, an image, a heading or HTML; fixes go in fenced blocks longer than any run of
//! backticks inside them.

use std::fmt::Write as _;

use serde_json::Value;

use super::{ClusterReport, FindingReport, MultiVerdict, Report, TargetSummary, VerdictReport};
use crate::findings::Status;

/// How many targets a brief summary (the job summary) shows in full; the rest are rows of the
/// closing table. GitHub caps a step's summary at 1 MiB.
pub const BRIEF_SECTIONS: usize = 20;

fn badge(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ PASS",
        Status::Info => "ℹ️ INFO",
        Status::Skip => "⏭️ SKIP",
        Status::Warn => "⚠️ WARN",
        Status::Fail => "❌ FAIL",
    }
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅",
        Status::Info => "ℹ️",
        Status::Skip => "⏭️",
        Status::Warn => "⚠️",
        Status::Fail => "❌",
    }
}

/// Escapes Markdown and HTML in one line of text, so that it reads as written.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '|' | '~' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A paragraph: escaped, its line breaks kept as Markdown hard breaks.
fn paragraph(text: &str) -> String {
    text.lines().map(escape).collect::<Vec<_>>().join("  \n")
}

/// A fenced block around `text`, the fence longer than any run of backticks in it.
fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n", text.trim_end())
}

/// One target's section.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {} `{}`\n",
        badge(report.verdict.status),
        report.target.url.replace('`', "")
    );
    render_verdict(&mut out, &report.verdict);

    out.push_str("| stage | status | time | summary |\n|---|---|---|---|\n");
    for stage in report.stages.iter().filter(|s| s.node.is_none()) {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | {} |",
            stage.name.name(),
            mark(stage.status),
            stage.status.as_str(),
            if stage.status == Status::Skip {
                String::new()
            } else {
                format!("{} ms", stage.duration_ms)
            },
            escape(&stage.summary)
        );
    }
    if let [node] = report.nodes.as_slice() {
        let steps = node.observed.waterfall();
        if !steps.is_empty() {
            let line = steps
                .iter()
                .map(|(step, ms)| format!("{step} {ms:.1} ms"))
                .collect::<Vec<_>>()
                .join(" · ");
            let _ = writeln!(out, "\nLatency: {line}");
        }
    }
    if report.nodes.len() > 1 {
        out.push_str("\n| node | verdict | root cause | connect | TLS | CONNACK |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        let ms = |v: Option<f64>| v.map(|v| format!("{v} ms")).unwrap_or_default();
        for node in &report.nodes {
            let _ = writeln!(
                out,
                "| {} | {} {} | {} | {} | {} | {} |",
                escape(node.address.as_deref().unwrap_or("")),
                mark(node.verdict.status),
                node.verdict.status.as_str(),
                node.verdict
                    .root_cause
                    .as_deref()
                    .map(|id| format!("`{id}`"))
                    .unwrap_or_default(),
                ms(node.observed.connect_ms),
                ms(node.observed.tls_handshake_ms),
                ms(node.observed.connack_ms),
            );
        }
    }
    for finding in report
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Warn))
    {
        out.push('\n');
        render_finding(&mut out, finding);
    }
    out
}

fn render_verdict(out: &mut String, verdict: &VerdictReport) {
    match &verdict.root_cause {
        Some(id) => {
            let _ = writeln!(out, "**Root cause `{id}`**: {}\n", escape(&verdict.summary));
        }
        None => {
            let _ = writeln!(out, "{}\n", escape(&verdict.summary));
        }
    }
}

fn render_finding(out: &mut String, finding: &FindingReport) {
    let node = finding
        .node
        .as_deref()
        .map(|n| format!(" (node {})", escape(n)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "#### {} `{}` {}{node}\n",
        mark(finding.status),
        finding.id,
        escape(&finding.title)
    );
    let _ = writeln!(out, "{}\n", paragraph(&finding.detail));
    let scalars: Vec<String> = finding
        .evidence
        .iter()
        .filter_map(|(key, value)| match value {
            Value::String(s) => Some(format!("- {}: {}", escape(key), escape(s))),
            Value::Number(n) => Some(format!("- {}: {n}", escape(key))),
            Value::Bool(b) => Some(format!("- {}: {b}", escape(key))),
            _ => None,
        })
        .collect();
    if !scalars.is_empty() {
        let _ = writeln!(out, "{}\n", scalars.join("\n"));
    }
    if let Some(fix) = &finding.fix {
        let _ = writeln!(out, "**Fix**\n\n{}", fenced(fix));
    }
    let _ = writeln!(out, "More: `{}`", finding.docs);
}

/// Several targets, a section at a time as each finishes; only the summary rows are kept.
#[derive(Debug)]
pub struct ManyMarkdown {
    /// Only targets that did not pass get a section, at most [`BRIEF_SECTIONS`] of them.
    brief: bool,
    sections: usize,
    left_out: usize,
    rows: Vec<TargetSummary>,
}

impl ManyMarkdown {
    pub fn new(brief: bool) -> ManyMarkdown {
        ManyMarkdown {
            brief,
            sections: 0,
            left_out: 0,
            rows: Vec::new(),
        }
    }

    /// What to write for the next target, given its section as [`render`] made it.
    pub fn target(&mut self, section: &str, summary: TargetSummary) -> String {
        let show =
            !self.brief || (summary.status != Status::Pass && self.sections < BRIEF_SECTIONS);
        if self.brief && summary.status != Status::Pass && !show {
            self.left_out += 1;
        }
        self.rows.push(summary);
        if !show {
            return String::new();
        }
        self.sections += 1;
        format!("{section}\n")
    }

    /// The `--cluster` comparison if there is one, one row per target and the verdict.
    pub fn finish(self, cluster: Option<&ClusterReport>, verdict: &MultiVerdict) -> String {
        let mut out = String::new();
        if let Some(cluster) = cluster {
            let _ = writeln!(out, "### {} cluster\n", badge(cluster.verdict.status));
            render_verdict(&mut out, &cluster.verdict);
            out.push_str("| node | verdict | root cause |\n|---|---|---|\n");
            for node in &cluster.nodes {
                let name = match (&node.target, &node.address) {
                    (Some(target), Some(address)) => format!("{target} {address}"),
                    (Some(target), None) => target.clone(),
                    (None, address) => address.clone().unwrap_or_default(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} {} | {} |",
                    escape(&name),
                    mark(node.verdict.status),
                    node.verdict.status.as_str(),
                    node.verdict.root_cause.as_deref().unwrap_or("")
                );
            }
            for finding in cluster
                .findings
                .iter()
                .filter(|f| matches!(f.status, Status::Fail | Status::Warn))
            {
                out.push('\n');
                render_finding(&mut out, finding);
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "### {} {}\n",
            badge(verdict.status),
            escape(&verdict.summary)
        );
        if self.left_out > 0 {
            let _ = writeln!(
                out,
                "{} more targets did not pass; the job log has their reports.\n",
                self.left_out
            );
        }
        out.push_str("| target | verdict | root cause | time |\n|---|---|---|---|\n");
        for row in self.rows {
            let _ = writeln!(
                out,
                "| `{}` | {} {} | {} | {:.0} ms |",
                row.url.replace('`', ""),
                mark(row.status),
                row.status.as_str(),
                row.root_cause
                    .map(|id| format!("`{id}`"))
                    .unwrap_or_default(),
                row.duration_ms
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples::reports;

    #[test]
    fn peer_text_cannot_become_markup() {
        assert_eq!(
            escape("![x](http://evil) <img> # h | c `code` \n"),
            "\\!\\[x\\](http://evil) \\<img\\> \\# h \\| c \\`code\\`  "
        );
        // A fence longer than any backtick run inside.
        assert!(fenced("run ```this```").starts_with("````text\n"));
        assert!(fenced("plain").starts_with("```text\n"));
    }

    #[test]
    fn a_section_names_the_verdict_the_stages_and_the_fix() {
        let reports = reports();
        let failing = render(&reports[0]);
        assert!(
            failing.starts_with("### ❌ FAIL `mqtt://127.0.0.1:1`"),
            "{failing}"
        );
        assert!(failing.contains("**Root cause `tcp.refused`**"));
        assert!(failing.contains("| tcp | ❌ fail | 1.25 ms | connected & more |"));
        assert!(failing.contains("**Fix**\n\n```text\nStart the broker:"));
        // The detail's "::error::" and "50%" stay text; its line break is a hard break.
        assert!(failing.contains("A detail with a line break  \nand 50% ::error:: in it."));

        let mut many = ManyMarkdown::new(true);
        let mut out = String::new();
        for report in &reports {
            out.push_str(&many.target(&render(report), TargetSummary::of(report)));
        }
        out.push_str(&many.finish(None, &crate::report::overall(&reports)));
        // Brief: the healthy target is a row, not a section.
        assert_eq!(
            out.matches("\n### ").count() + usize::from(out.starts_with("### ")),
            3
        );
        assert!(out.contains("| `mqtt://127.0.0.1:3` | ✅ pass |  |"));
    }
}
