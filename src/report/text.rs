//! Text renderer: a doctor-style report a person reads in seconds.
//!
//! First one line per stage with ✓ ! ✗, then every finding that needs attention with its
//! evidence and its fix, then the verdict. Passing findings stay on their stage line unless
//! `--verbose` asks for them. Colour is decided once by the CLI (`colored`'s global override);
//! this module only asks for it.

use std::fmt::Write as _;

use colored::{ColoredString, Colorize};
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

use super::{
    ClusterReport, FindingReport, MultiVerdict, Report, StageReport, TargetSummary, TokenReport,
    VerdictReport,
};
use crate::findings::Status;
use crate::observations::Observations;
use crate::stage::Stage;

/// How the text report is laid out.
#[derive(Clone, Copy, Debug)]
pub struct TextOptions {
    /// Show passing findings in full too.
    pub verbose: bool,
    /// Show only what failed: nothing at all for a healthy run.
    pub quiet: bool,
    /// Columns to wrap at.
    pub width: usize,
}

/// Colours text the way every status is coloured throughout the report.
pub(super) fn paint(status: Status, text: &str) -> ColoredString {
    match status {
        Status::Pass => text.green().bold(),
        Status::Info => text.blue().bold(),
        Status::Skip => text.dimmed(),
        Status::Warn => text.yellow().bold(),
        Status::Fail => text.red().bold(),
    }
}

pub(super) fn glyph(status: Status) -> &'static str {
    match status {
        Status::Pass => "✓",
        Status::Info => "i",
        Status::Skip => "-",
        Status::Warn => "!",
        Status::Fail => "✗",
    }
}

fn symbol(status: Status) -> ColoredString {
    paint(status, glyph(status))
}

fn word(status: Status) -> ColoredString {
    paint(status, &status.as_str().to_uppercase())
}

fn header(report: &Report) -> String {
    let preset = report
        .preset
        .as_ref()
        .map(|p| format!(" · preset {p}"))
        .unwrap_or_default();
    let proxy = match &report.proxy {
        Some(super::ProxyReport {
            url: Some(url),
            source,
            ..
        }) => format!(" · via {url} ({source})"),
        _ => String::new(),
    };
    format!(
        "{} {} · {}{preset}{proxy}",
        report.tool.name.bold(),
        report.tool.version,
        report.target.url.bold()
    )
}

pub fn render(report: &Report, options: TextOptions) -> String {
    if options.quiet {
        return render_quiet(report, options);
    }
    let mut out = String::new();
    let width = options.width.max(40);
    push_wrapped(&mut out, &header(report), width, "");
    out.push('\n');

    // With several nodes, the stage lines are the target's own (DNS, credentials, the
    // comparison); each node's chain is a row of the node table.
    let target_stages: Vec<&StageReport> =
        report.stages.iter().filter(|s| s.node.is_none()).collect();
    let name_width = target_stages
        .iter()
        .map(|s| s.name.name().len())
        .max()
        .unwrap_or(3);
    for stage in target_stages {
        let timing = if stage.status == Status::Skip {
            String::new()
        } else {
            // A no-break space: the number and its unit stay on one line.
            format!("  {}", format!("{}\u{a0}ms", stage.duration_ms).dimmed())
        };
        // A long summary continues under itself, not under the stage names.
        let prefix = format!(
            " {} {:<name_width$}  ",
            symbol(stage.status),
            stage.name.name()
        );
        let indent = " ".repeat(name_width + 5);
        push_wrapped_with(
            &mut out,
            &format!("{}{timing}", stage.summary),
            width,
            &prefix,
            &indent,
        );
    }

    if let [node] = report.nodes.as_slice() {
        render_latency(&mut out, &node.observed, width, options.verbose);
    }
    if report.nodes.len() > 1 {
        let _ = writeln!(out, "\n{}", node_table(report, width));
    }

    let shown: Vec<&FindingReport> = report
        .findings
        .iter()
        .filter(|f| options.verbose || f.status != Status::Pass)
        .collect();
    for finding in shown {
        out.push('\n');
        render_finding(&mut out, finding, width, options.verbose);
    }

    render_verdict(&mut out, &report.verdict, width);
    out
}

/// The latency waterfall on one line; with `--verbose`, the time to connected and the second
/// CONNACK of the Nagle check under it.
fn render_latency(out: &mut String, observed: &Observations, width: usize, verbose: bool) {
    let steps = observed.waterfall();
    if steps.is_empty() {
        return;
    }
    let line = steps
        .iter()
        .map(|(step, ms)| format!("{step}\u{a0}{ms:.1}\u{a0}ms"))
        .collect::<Vec<_>>()
        .join(" · ");
    out.push('\n');
    push_wrapped_with(out, &line, width, " latency: ", "          ");
    if !verbose {
        return;
    }
    if let Some(total) = observed.to_connack_ms() {
        push_wrapped(
            out,
            &format!("{total:.1} ms in all from the first step to the CONNACK"),
            width,
            "          ",
        );
    }
    if let Some(again) = observed.connack_after_pause_ms {
        push_wrapped(
            out,
            &format!("connack {again:.1} ms on a second connection, after a pause"),
            width,
            "          ",
        );
    }
}

/// `--quiet`: the failing findings and the verdict, and nothing for a healthy run, so that a
/// CI log or a cron mail holds only what needs doing.
fn render_quiet(report: &Report, options: TextOptions) -> String {
    let mut out = String::new();
    if report.verdict.status != Status::Fail {
        return out;
    }
    let width = options.width.max(40);
    let _ = writeln!(out, "{}", header(report));
    let mut failing: Vec<&FindingReport> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .collect();
    if failing.is_empty() {
        // Failed by --strict: the warnings are the failures.
        failing = report
            .findings
            .iter()
            .filter(|f| f.status == Status::Warn)
            .collect();
    }
    for finding in failing {
        out.push('\n');
        render_finding(&mut out, finding, width, options.verbose);
    }
    render_verdict(&mut out, &report.verdict, width);
    out
}

/// Several targets: each report in turn, then one line per target and the overall verdict.
pub fn render_many(reports: &[Report], options: TextOptions) -> String {
    let mut many = ManyText::new(options);
    let mut out = String::new();
    for report in reports {
        out.push_str(&many.target(&render(report, options), TargetSummary::of(report)));
    }
    out.push_str(&many.finish(None, &super::overall(reports)));
    out
}

/// [`render_many`] a target at a time, for a run that writes each report as its target
/// finishes: only the summary row of each target is kept, for the closing table.
#[derive(Debug)]
pub struct ManyText {
    options: TextOptions,
    rule: String,
    /// A section was written, so the next one is set apart by a rule.
    wrote: bool,
    rows: Vec<TargetSummary>,
}

impl ManyText {
    pub fn new(options: TextOptions) -> ManyText {
        let width = options.width.max(40);
        ManyText {
            options,
            rule: "─".repeat(width.min(100)).dimmed().to_string(),
            wrote: false,
            rows: Vec::new(),
        }
    }

    /// What to write for the next target, given its report as [`render`] made it. A section
    /// `--quiet` left empty (a healthy target) gets no rule either.
    pub fn target(&mut self, section: &str, summary: TargetSummary) -> String {
        self.rows.push(summary);
        if section.is_empty() {
            return String::new();
        }
        let mut out = String::with_capacity(section.len() + self.rule.len() + 3);
        if self.wrote {
            let _ = writeln!(out, "\n{}\n", self.rule);
        }
        self.wrote = true;
        out.push_str(section);
        out
    }

    /// The `--cluster` comparison if there is one, the closing table, one line per target, and
    /// the overall verdict; nothing with `--quiet` unless something failed.
    pub fn finish(self, cluster: Option<&ClusterReport>, verdict: &MultiVerdict) -> String {
        let mut out = String::new();
        if self.options.quiet && verdict.status != Status::Fail {
            return out;
        }
        let width = self.options.width.max(40);
        if let Some(cluster) = cluster {
            let _ = writeln!(out, "\n{}\n", self.rule);
            out.push_str(&render_cluster(cluster, self.options));
        }
        let mut table = Table::new();
        table
            .load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX))
            .set_header(vec!["target", "verdict", "root cause", "time"]);
        for row in self.rows {
            table.add_row(vec![
                row.url,
                row.status.as_str().to_string(),
                row.root_cause.unwrap_or_default(),
                format!("{:.0} ms", row.duration_ms),
            ]);
        }
        let _ = writeln!(out, "\n{}", self.rule);
        let _ = writeln!(out, "\n{table}");
        let _ = writeln!(out, "\n{} {}", word(verdict.status), verdict.summary);
        out
    }
}

/// The `--cluster` comparison: every node with its verdict and times, the comparison's
/// findings, and its verdict.
fn render_cluster(cluster: &ClusterReport, options: TextOptions) -> String {
    let mut out = String::new();
    let width = options.width.max(40);
    let _ = writeln!(
        out,
        "{} {} nodes compared",
        "cluster".bold(),
        cluster.nodes.len()
    );
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX))
        .set_header(vec![
            "node",
            "verdict",
            "connect",
            "tls",
            "connack",
            "root cause",
        ]);
    let ms = |value: Option<f64>| value.map(|v| format!("{v:.1} ms")).unwrap_or_default();
    for node in &cluster.nodes {
        let name = match (&node.target, &node.address) {
            (Some(target), Some(address)) if !target.contains(address.as_str()) => {
                format!("{target} ({address})")
            }
            (Some(target), _) => target.clone(),
            (None, address) => address.clone().unwrap_or_default(),
        };
        table.add_row(vec![
            name,
            node.verdict.status.as_str().to_string(),
            ms(node.observed.connect_ms),
            ms(node.observed.tls_handshake_ms),
            ms(node.observed.connack_ms),
            node.verdict.root_cause.clone().unwrap_or_default(),
        ]);
    }
    let _ = writeln!(out, "\n{table}");
    for finding in cluster
        .findings
        .iter()
        .filter(|f| options.verbose || f.status != Status::Pass)
    {
        out.push('\n');
        render_finding(&mut out, finding, width, options.verbose);
    }
    render_verdict(&mut out, &cluster.verdict, width);
    out
}

/// The `token inspect` report: the source, every finding, the verdict.
pub fn render_token(report: &TokenReport, options: TextOptions) -> String {
    let mut out = String::new();
    let width = options.width.max(40);
    let _ = writeln!(
        out,
        "{} {} · token from {}",
        report.tool.name.bold(),
        report.tool.version,
        report.source.bold()
    );
    for finding in report
        .findings
        .iter()
        .filter(|f| options.verbose || f.status != Status::Pass)
    {
        out.push('\n');
        render_finding(&mut out, finding, width, options.verbose);
    }
    render_verdict(&mut out, &report.verdict, width);
    out
}

fn render_verdict(out: &mut String, verdict: &VerdictReport, width: usize) {
    let _ = write!(out, "\n{} ", word(verdict.status));
    match &verdict.root_cause {
        Some(id) => {
            let _ = writeln!(out, "root cause {}", id.bold());
            push_wrapped(out, &verdict.summary, width, "     ");
        }
        None => {
            let _ = writeln!(out, "{}", verdict.summary);
        }
    }
}

/// One row per node: its verdict, each stage of its chain with its time, and its root cause.
fn node_table(report: &Report, width: usize) -> String {
    let mut stages: Vec<Stage> = Vec::new();
    for stage in report.stages.iter().filter(|s| s.node.is_some()) {
        if !stages.contains(&stage.name) {
            stages.push(stage.name);
        }
    }
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    let mut header = vec!["node".to_string(), "verdict".to_string()];
    header.extend(stages.iter().map(|s| s.name().to_string()));
    header.push("root cause".to_string());
    table.set_header(header);
    for node in &report.nodes {
        let address = node.address.clone().unwrap_or_default();
        let mut row = vec![address.clone(), node.verdict.status.as_str().to_string()];
        for stage in &stages {
            let cell = report
                .stages
                .iter()
                .find(|s| s.name == *stage && s.node.as_deref() == Some(address.as_str()))
                .map(|s| match s.status {
                    Status::Skip => "-".to_string(),
                    status => format!("{} {:.1} ms", glyph(status), s.duration_ms),
                })
                .unwrap_or_default();
            row.push(cell);
        }
        row.push(node.verdict.root_cause.clone().unwrap_or_default());
        table.add_row(row);
    }
    table.to_string()
}

/// Evidence for the record rather than for acting on it: raw bytes, the code again in hex, the
/// CONNACK's session flag, the whole certificate chain with serials. Shown with `--verbose`;
/// the JSON report always has them.
const DETAIL_EVIDENCE: &[&str] = &["raw", "code_hex", "session_present", "chain"];

fn render_finding(out: &mut String, finding: &FindingReport, width: usize, verbose: bool) {
    let node = finding
        .node
        .as_ref()
        .map(|n| format!("  {}", format!("node {n}").dimmed()))
        .unwrap_or_default();
    let head = format!(
        "{} {}  {}{node}",
        symbol(finding.status),
        finding.id.bold(),
        finding.title
    );
    push_wrapped_with(out, &head, width, "", "  ");
    push_wrapped(out, &finding.detail, width, "  ");

    let mut tables = Vec::new();
    let mut held_back = Vec::new();
    for (key, value) in &finding.evidence {
        if !verbose && DETAIL_EVIDENCE.contains(&key.as_str()) {
            held_back.push(key.as_str());
            continue;
        }
        match value {
            Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
                tables.push((key, items))
            }
            _ => {
                let line = format!("{}: {}", key.dimmed(), scalar_text(value));
                push_wrapped(out, &line, width, "    ");
            }
        }
    }
    for (key, rows) in tables {
        let _ = writeln!(out, "    {}:", key.dimmed());
        for line in table(rows, width.saturating_sub(4)).lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    if !held_back.is_empty() {
        let line = format!("{} {}", held_back.join(", ").dimmed(), "(with -v)".dimmed());
        push_wrapped(out, &line, width, "    ");
    }

    if let Some(fix) = &finding.fix {
        let _ = writeln!(out, "  {}", "Fix:".bold());
        for line in fix.lines() {
            // Command lines (indented in the fix text) are kept whole so they can be copied.
            if line.starts_with("  ") {
                for part in command_lines(&format!("    {line}"), width) {
                    let _ = writeln!(out, "{}", part.cyan());
                }
            } else {
                push_wrapped(out, line, width, "    ");
            }
        }
    }
    let _ = writeln!(out, "  {} {}", "More:".dimmed(), finding.docs.dimmed());
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(", "),
        Value::Null => "none".into(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", scalar_text(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Evidence rows (an array of objects with the same keys) as a table. Rows with many fields (a
/// certificate chain) are laid out transposed, one column per row, so that each value keeps
/// enough width to be read.
fn table(rows: &[Value], width: usize) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    let objects: Vec<&serde_json::Map<String, Value>> =
        rows.iter().filter_map(Value::as_object).collect();
    let keys: Vec<&String> = objects
        .first()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    if keys.len() > 5 {
        let mut header = vec![String::new()];
        header.extend((1..=objects.len()).map(|n| format!("#{n}")));
        table.set_header(header);
        for key in keys {
            let mut row = vec![key.clone()];
            row.extend(
                objects
                    .iter()
                    .map(|o| o.get(key).map(scalar_text).unwrap_or_default()),
            );
            table.add_row(row);
        }
    } else {
        table.set_header(keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
        for object in objects {
            table.add_row(object.values().map(scalar_text).collect::<Vec<_>>());
        }
    }
    table.to_string()
}

/// A command line as it can be pasted: whole when it fits `width`; otherwise broken at spaces
/// outside quotes, each part but the last ending in ` \` (a shell line continuation), the
/// continuations indented two more columns. A word longer than the width stays whole.
fn command_lines(line: &str, width: usize) -> Vec<String> {
    if textwrap::core::display_width(line) <= width {
        return vec![line.to_string()];
    }
    let indent = line.len() - line.trim_start().len();
    // Words, split at spaces outside single or double quotes.
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in line.trim_start().chars() {
        match (quote, c) {
            (None, ' ') => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    let first = " ".repeat(indent);
    let rest = " ".repeat(indent + 2);
    let mut lines = Vec::new();
    let mut current = first.clone();
    for word in words {
        let bare = current.trim_start().is_empty();
        // Room for the word and, if more follows, " \".
        let fits = textwrap::core::display_width(&current)
            + usize::from(!bare)
            + textwrap::core::display_width(&word)
            + 2
            <= width;
        if !bare && !fits {
            lines.push(format!("{current} \\"));
            current = rest.clone();
        }
        if !current.trim_start().is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    lines.push(current);
    lines
}

fn push_wrapped(out: &mut String, text: &str, width: usize, indent: &str) {
    push_wrapped_with(out, text, width, indent, indent);
}

/// Wraps at spaces only: a name, path, URL or command is never split, at a hyphen or anywhere
/// else, so that what a reader copies from the report works. A word longer than the line gets
/// a line of its own.
fn push_wrapped_with(out: &mut String, text: &str, width: usize, first: &str, rest: &str) {
    let options = textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .break_words(false);
    for line in textwrap::wrap(text, options) {
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples::reports;

    /// `render_many` as it was before reports were streamed, kept as the reference: the
    /// streamed pieces must add up to exactly this.
    fn whole(reports: &[Report], options: TextOptions) -> String {
        let mut out = String::new();
        let width = options.width.max(40);
        let rule = "─".repeat(width.min(100)).dimmed();
        for report in reports {
            let section = render(report, options);
            if section.is_empty() {
                continue;
            }
            if !out.is_empty() {
                let _ = writeln!(out, "\n{rule}\n");
            }
            out.push_str(&section);
        }
        let verdict = super::super::overall(reports);
        if options.quiet && verdict.status != Status::Fail {
            return out;
        }
        let mut table = Table::new();
        table
            .load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX))
            .set_header(vec!["target", "verdict", "root cause", "time"]);
        for report in reports {
            table.add_row(vec![
                report.target.url.clone(),
                report.verdict.status.as_str().to_string(),
                report.verdict.root_cause.clone().unwrap_or_default(),
                format!("{:.0} ms", report.duration_ms),
            ]);
        }
        let _ = writeln!(out, "\n{rule}");
        let _ = writeln!(out, "\n{table}");
        let _ = writeln!(out, "\n{} {}", word(verdict.status), verdict.summary);
        out
    }

    #[test]
    fn many_targets_a_piece_at_a_time_read_as_before() {
        let reports = reports();
        let healthy = vec![reports[2].clone(), reports[2].clone()];
        for quiet in [false, true] {
            for verbose in [false, true] {
                let options = TextOptions {
                    verbose,
                    quiet,
                    width: 72,
                };
                assert_eq!(render_many(&reports, options), whole(&reports, options));
                assert_eq!(render_many(&healthy, options), whole(&healthy, options));
            }
        }
    }
}
