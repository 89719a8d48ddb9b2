//! JUnit XML renderer, for CI systems that show test reports (GitLab, Jenkins, GitHub via
//! report actions).
//!
//! One `<testsuite>` per target and one `<testcase>` per stage (per stage per node, named
//! `tls 127.0.0.2:8883`, when the target has several nodes): a failing stage carries its
//! failing findings in `<failure>` (the detail, the evidence and the fix, so the CI page alone
//! says what to do); a stage that did not run is `<skipped>`; warnings go to `<system-out>` and
//! count as failures with `--strict`, as they do for the exit code. The output validates against
//! the common schema (Jenkins' junit-10.xsd, which GitLab and the GitHub report actions read
//! too). quick-xml does the escaping, so a hostile reason string from a broker cannot break the
//! document.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{ClusterReport, FindingReport, Report, StageReport};
use crate::findings::Status;

pub fn render(reports: &[Report], strict: bool) -> String {
    let mut document = Document::default();
    for report in reports {
        document.push(Suite::new(report, strict));
    }
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = document.write(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Test, failure and skip counts of one report's stages.
fn counts(report: &Report, strict: bool) -> (usize, usize, usize) {
    let failures = report
        .stages
        .iter()
        .filter(|s| s.status.fails(strict))
        .count();
    let skipped = report
        .stages
        .iter()
        .filter(|s| s.status == Status::Skip)
        .count();
    (report.stages.len(), failures, skipped)
}

/// One target's `<testsuite>`, rendered as soon as the target finishes: the XML text exactly as
/// it sits inside `<testsuites>`, and the counts the enclosing element totals.
#[derive(Clone, Debug)]
pub struct Suite {
    /// Boxed, so that a buffered suite holds no spare capacity.
    xml: Box<[u8]>,
    tests: usize,
    failures: usize,
    duration_ms: f64,
}

impl Suite {
    pub fn new(report: &Report, strict: bool) -> Suite {
        // A writer one level inside `<testsuites>`, so that the suite is indented (and its line
        // breaks placed) as in the whole document; the opening tag itself is thrown away.
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        // Writing into a Vec cannot fail.
        let _ = writer.write_event(Event::Start(BytesStart::new("testsuites")));
        writer.get_mut().clear();
        let _ = testsuite(&mut writer, report, strict);
        let (tests, failures, _) = counts(report, strict);
        Suite {
            xml: writer.into_inner().into_boxed_slice(),
            tests,
            failures,
            duration_ms: report.duration_ms,
        }
    }
}

impl Suite {
    /// The `--cluster` comparison as a suite of its own: one testcase per node, and one for
    /// the comparison.
    pub fn cluster(cluster: &ClusterReport, strict: bool) -> Suite {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        let _ = writer.write_event(Event::Start(BytesStart::new("testsuites")));
        writer.get_mut().clear();
        let failing_nodes = cluster
            .nodes
            .iter()
            .filter(|n| n.verdict.status.fails(strict))
            .count();
        let comparison_fails = cluster.findings.iter().any(|f| f.status.fails(strict));
        let tests = cluster.nodes.len() + 1;
        let failures = failing_nodes + usize::from(comparison_fails);
        let _ = cluster_suite(&mut writer, cluster, strict, tests, failures);
        Suite {
            xml: writer.into_inner().into_boxed_slice(),
            tests,
            failures,
            duration_ms: 0.0,
        }
    }
}

fn cluster_suite(
    w: &mut Writer<Vec<u8>>,
    cluster: &ClusterReport,
    strict: bool,
    tests: usize,
    failures: usize,
) -> io::Result<()> {
    let (tests, failures) = (tests.to_string(), failures.to_string());
    w.create_element("testsuite")
        .with_attributes([
            ("name", "mqtt-doctor cluster"),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", "0"),
            ("skipped", "0"),
            ("time", ZERO),
        ])
        .write_inner_content(|w| {
            for node in &cluster.nodes {
                let name = match (&node.target, &node.address) {
                    (Some(target), Some(address)) => format!("node {target} {address}"),
                    (Some(target), None) => format!("node {target}"),
                    (None, address) => format!("node {}", address.clone().unwrap_or_default()),
                };
                w.create_element("testcase")
                    .with_attributes([
                        ("name", name.as_str()),
                        ("classname", "mqtt-doctor.cluster"),
                        ("time", ZERO),
                    ])
                    .write_inner_content(|w| {
                        if node.verdict.status.fails(strict) {
                            let id = node.verdict.root_cause.clone().unwrap_or_default();
                            w.create_element("failure")
                                .with_attributes([
                                    ("message", node.verdict.summary.as_str()),
                                    ("type", id.as_str()),
                                ])
                                .write_text_content(BytesText::new(&node.verdict.summary))?;
                        } else {
                            w.create_element("system-out")
                                .write_text_content(BytesText::new(&node.verdict.summary))?;
                        }
                        Ok(())
                    })?;
            }
            w.create_element("testcase")
                .with_attributes([
                    ("name", "comparison"),
                    ("classname", "mqtt-doctor.cluster"),
                    ("time", ZERO),
                ])
                .write_inner_content(|w| {
                    for finding in cluster.findings.iter().filter(|f| f.status.fails(strict)) {
                        let message = format!("{}: {}", finding.id, finding.title);
                        w.create_element("failure")
                            .with_attributes([
                                ("message", message.as_str()),
                                ("type", finding.id.as_str()),
                            ])
                            .write_text_content(BytesText::new(&body(finding)))?;
                    }
                    let notes: Vec<String> = cluster
                        .findings
                        .iter()
                        .filter(|f| !f.status.fails(strict))
                        .map(body)
                        .collect();
                    let out = format!("{}\n\n{}", cluster.verdict.summary, notes.join("\n\n"));
                    w.create_element("system-out")
                        .write_text_content(BytesText::new(out.trim_end()))?;
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(())
}

/// The JUnit document of a run. `<testsuites>` carries the totals as attributes of its opening
/// tag, which comes before every suite, so the suites wait here until the last target is done:
/// their rendered XML text only (a few KiB a target), never the reports.
#[derive(Debug, Default)]
pub struct Document {
    suites: Vec<Suite>,
}

impl Document {
    pub fn push(&mut self, suite: Suite) {
        self.suites.push(suite);
    }

    pub fn write(self, out: &mut impl io::Write) -> io::Result<()> {
        // The common schema (Jenkins' junit-10.xsd) has no `skipped` on <testsuites>.
        let (mut tests, mut failures, mut ms) = (0, 0, 0.0_f64);
        for suite in &self.suites {
            tests += suite.tests;
            failures += suite.failures;
            // Targets run at the same time: the run took as long as the slowest.
            ms = ms.max(suite.duration_ms);
        }
        let (tests, failures, time) = (tests.to_string(), failures.to_string(), seconds(ms));
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        writer.write_event(Event::Start(BytesStart::new("testsuites").with_attributes(
            [
                ("name", "mqtt-doctor"),
                ("tests", tests.as_str()),
                ("failures", failures.as_str()),
                ("errors", "0"),
                ("time", time.as_str()),
            ],
        )))?;
        out.write_all(&std::mem::take(writer.get_mut()))?;
        for suite in self.suites {
            out.write_all(&suite.xml)?;
        }
        // The writer is still one level in, so the closing tag goes on a line of its own.
        writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
        out.write_all(writer.get_mut())?;
        out.write_all(b"\n")
    }
}

/// The time of what took none (the cluster comparison's testcases).
const ZERO: &str = "0.000";

/// One `<testsuite>` per target.
fn testsuite(w: &mut Writer<Vec<u8>>, report: &Report, strict: bool) -> io::Result<()> {
    let (tests, failures, skipped) = counts(report, strict);
    let (tests, failures, skipped) = (tests.to_string(), failures.to_string(), skipped.to_string());
    let time = seconds(report.duration_ms);
    let suite = format!("mqtt-doctor {}", report.target.url);
    w.create_element("testsuite")
        .with_attributes([
            ("name", suite.as_str()),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", "0"),
            ("skipped", skipped.as_str()),
            ("time", time.as_str()),
            ("timestamp", report.started_at.as_str()),
        ])
        .write_inner_content(|w| {
            w.create_element("properties").write_inner_content(|w| {
                let root = report.verdict.root_cause.as_deref().unwrap_or("");
                for (name, value) in [
                    ("verdict", report.verdict.status.as_str()),
                    ("root_cause", root),
                    ("summary", report.verdict.summary.as_str()),
                ] {
                    w.create_element("property")
                        .with_attributes([("name", name), ("value", value)])
                        .write_empty()?;
                }
                Ok(())
            })?;
            for stage in &report.stages {
                testcase(w, report, stage, strict)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn testcase(
    w: &mut Writer<Vec<u8>>,
    report: &Report,
    stage: &StageReport,
    strict: bool,
) -> io::Result<()> {
    let classname = classname(&report.target.url);
    let time = seconds(stage.duration_ms);
    // One testcase per stage per node: the node's findings only, named after the node.
    let findings: Vec<&FindingReport> = report
        .findings
        .iter()
        .filter(|f| f.stage == stage.name && f.node == stage.node)
        .collect();
    let name = match &stage.node {
        Some(node) => format!("{} {node}", stage.name.name()),
        None => stage.name.name().to_string(),
    };
    w.create_element("testcase")
        .with_attributes([
            ("name", name.as_str()),
            ("classname", classname.as_str()),
            ("time", time.as_str()),
        ])
        .write_inner_content(|w| {
            if stage.status == Status::Skip {
                w.create_element("skipped")
                    .with_attribute(("message", stage.summary.as_str()))
                    .write_empty()?;
                return Ok(());
            }
            for finding in findings.iter().filter(|f| f.status.fails(strict)) {
                let message = format!("{}: {}", finding.id, finding.title);
                w.create_element("failure")
                    .with_attributes([("message", message.as_str()), ("type", finding.id.as_str())])
                    .write_text_content(BytesText::new(&body(finding)))?;
            }
            let notes: Vec<String> = findings
                .iter()
                .filter(|f| !f.status.fails(strict) && f.status != Status::Pass)
                .map(|f| body(f))
                .collect();
            // The exact time: `time` keeps milliseconds only.
            let head = format!("{} ({} ms)", stage.summary, stage.duration_ms);
            let out = if notes.is_empty() {
                head
            } else {
                format!("{head}\n\n{}", notes.join("\n\n"))
            };
            w.create_element("system-out")
                .write_text_content(BytesText::new(&out))?;
            Ok(())
        })?;
    Ok(())
}

/// A finding as plain text: what a CI page shows when the failure is opened.
fn body(finding: &FindingReport) -> String {
    let mut text = format!(
        "[{}] {}: {}\n{}\n",
        finding.status.as_str(),
        finding.id,
        finding.title,
        finding.detail
    );
    for (key, value) in &finding.evidence {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.push_str(&format!("  {key}: {value}\n"));
    }
    if let Some(fix) = &finding.fix {
        text.push_str(&format!("Fix:\n{fix}\n"));
    }
    text.push_str(&format!("More: {}", finding.docs));
    text
}

/// JUnit times are seconds.
/// Seconds, to the millisecond: the common schema (junit-10.xsd) allows three decimals. A stage
/// that ran in less than a millisecond, as loopback stages do, shows `0.001` rather than `0.000`,
/// which reads as "did not run"; its exact time is in its `<system-out>`.
fn seconds(ms: f64) -> String {
    if ms > 0.0 && ms < 1.0 {
        return "0.001".to_string();
    }
    format!("{:.3}", ms / 1000.0)
}

/// `mqtt-doctor.` and the target's URL with its dots made underscores: Jenkins and GitLab read
/// a classname's last dot as the split between package and class, and `mqtt://127.0.0.1:1883`
/// would become package `mqtt-doctor.mqtt://127.0.0` and class `1:1883`.
fn classname(url: &str) -> String {
    format!("mqtt-doctor.{}", url.replace('.', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples::reports;

    /// The document as it was written before suites were rendered one at a time, kept as the
    /// reference: one writer for the whole document.
    fn whole(reports: &[Report], strict: bool) -> String {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        writer
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .unwrap();
        let (mut tests, mut failures, mut ms) = (0, 0, 0.0_f64);
        for report in reports {
            let (t, f, _) = counts(report, strict);
            tests += t;
            failures += f;
            ms = ms.max(report.duration_ms);
        }
        let (tests, failures, time) = (tests.to_string(), failures.to_string(), seconds(ms));
        writer
            .create_element("testsuites")
            .with_attributes([
                ("name", "mqtt-doctor"),
                ("tests", tests.as_str()),
                ("failures", failures.as_str()),
                ("errors", "0"),
                ("time", time.as_str()),
            ])
            .write_inner_content(|w| {
                for report in reports {
                    testsuite(w, report, strict)?;
                }
                Ok(())
            })
            .unwrap();
        let mut text = String::from_utf8(writer.into_inner()).unwrap();
        text.push('\n');
        text
    }

    #[test]
    fn suites_rendered_one_at_a_time_make_the_same_document() {
        let reports = reports();
        for strict in [false, true] {
            for n in 0..=reports.len() {
                assert_eq!(
                    render(&reports[..n], strict),
                    whole(&reports[..n], strict),
                    "{n} reports, strict {strict}"
                );
            }
        }
    }
}
