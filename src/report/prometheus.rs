//! The Prometheus text exposition format (version 0.0.4) of one finished probe: what
//! `mqtt-doctor serve` answers on `/probe`. Metric names follow blackbox_exporter's where they
//! mean the same (`probe_success`, `probe_duration_seconds`, `probe_ssl_earliest_cert_expiry`),
//! so dashboards and alerts written for it read these too; the rest are `probe_mqtt_*`.
//!
//! Only numbers the report holds as typed values are used ([`Observations`], the verdict, the
//! findings' ids, stages and statuses): never a finding's prose, which may quote a peer.
//!
//! [`Observations`]: crate::observations::Observations

use std::collections::BTreeSet;
use std::fmt::Write;
use std::time::Duration;

use super::Report;
use crate::findings::{Status, registry};

/// The media type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What one probe produced, for [`render`].
#[derive(Debug)]
pub struct Probe<'a> {
    /// The doctor's report; `None` when the probe was cut at its time limit before the report
    /// was made.
    pub report: Option<&'a Report>,
    /// From the request to the answer.
    pub duration: Duration,
    /// The probe's time limit.
    pub timeout: Duration,
    /// The `exp` claim of the JWT the module authenticates with, in Unix seconds.
    pub token_expiry: Option<i64>,
}

/// One metric family at a time, in the text format.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label(text));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
        self
    }

    /// A family with a single unlabelled sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, "gauge", help).sample(name, &[], value)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A value as the text format writes it: integers without a fraction, `+Inf` for infinity.
pub fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if value.is_nan() {
        "NaN".to_string()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The phases of the latency waterfall as label values, in the order a client goes through them.
fn phase_label(step: &str) -> &str {
    match step {
        "tcp" => "connect",
        other => other,
    }
}

/// Whether a probe succeeded: it finished, and found no failure. A run the doctor's own
/// resources stopped (`skip`) did not check the broker, so it is no success either.
pub fn succeeded(report: Option<&Report>) -> bool {
    report.is_some_and(|r| !matches!(r.verdict.status, Status::Fail | Status::Skip))
}

/// The probe as Prometheus metrics. A series is present only when its stage got that far: no
/// CONNACK, no reason code; no TLS, no certificate expiry.
pub fn render(probe: &Probe) -> String {
    let mut out = Exposition::new();
    let success = succeeded(probe.report);
    out.gauge(
        "probe_success",
        "Whether the probe succeeded: 1 when the doctor found no failure (warnings allowed unless \
         the module is strict), else 0",
        f64::from(u8::from(success)),
    );
    out.gauge(
        "probe_duration_seconds",
        "How long the probe took, from the request to the answer",
        probe.duration.as_secs_f64(),
    );
    out.gauge(
        "probe_timeout_seconds",
        "The probe's time limit: the scrape timeout less the offset, at most the module's deadline",
        probe.timeout.as_secs_f64(),
    );
    if let Some(expiry) = probe.token_expiry {
        out.gauge(
            "probe_mqtt_token_expiry_timestamp_seconds",
            "When the module's JWT expires (its exp claim), in Unix seconds",
            expiry as f64,
        );
    }
    let Some(report) = probe.report else {
        return out.finish();
    };
    // The node a client would use: the first that connected, else the first tried.
    let node = report
        .nodes
        .iter()
        .find(|n| n.observed.connack.is_some())
        .or_else(|| report.nodes.first());
    if let Some(node) = node {
        let phases = node.observed.waterfall();
        if !phases.is_empty() {
            out.family(
                "probe_mqtt_duration_seconds",
                "gauge",
                "Each phase of the connection (dns, connect, proxy, tls, websocket, connack, \
                 puback, ping) that completed",
            );
            for (step, ms) in phases {
                out.sample(
                    "probe_mqtt_duration_seconds",
                    &[("phase", phase_label(step))],
                    // Whole microseconds: what the report measures, without float noise.
                    (ms * 1000.0).round() / 1e6,
                );
            }
        }
        if let Some(connack) = &node.observed.connack {
            out.gauge(
                "probe_mqtt_connack_reason_code",
                "The CONNACK's reason code (MQTT 5) or return code (3.1.1); 0 is success",
                f64::from(connack.code),
            );
            let version = if connack.protocol == "5" { 5.0 } else { 4.0 };
            out.gauge(
                "probe_mqtt_protocol_version",
                "The MQTT protocol level of the CONNACK: 4 for 3.1.1, 5 for MQTT 5",
                version,
            );
        }
    }
    let expiry = report
        .nodes
        .iter()
        .filter_map(|n| n.observed.certificate.as_ref().map(|c| c.not_after))
        .min();
    if let Some(expiry) = expiry {
        out.gauge(
            "probe_ssl_earliest_cert_expiry",
            "When the broker's certificate expires (the earliest of the nodes'), in Unix seconds",
            expiry as f64,
        );
    }
    let nodes: Vec<(&str, bool)> = report
        .nodes
        .iter()
        .filter_map(|n| {
            let ok = !matches!(n.verdict.status, Status::Fail | Status::Skip);
            Some((n.address.as_deref()?, ok))
        })
        .collect();
    if !nodes.is_empty() {
        out.family(
            "probe_mqtt_node_success",
            "gauge",
            "Whether each node (address) the probe checked succeeded",
        );
        for (address, ok) in nodes {
            out.sample(
                "probe_mqtt_node_success",
                &[("node", address)],
                f64::from(u8::from(ok)),
            );
        }
    }
    // Several nodes report the same finding: one series each.
    let findings: BTreeSet<(&str, &str, &str)> = report
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Warn))
        .map(|f| (f.id.as_str(), f.stage.name(), f.status.as_str()))
        .collect();
    if !findings.is_empty() {
        out.family(
            "probe_mqtt_finding_info",
            "gauge",
            "A failing or warning finding (`mqtt-doctor explain ID` tells what it means)",
        );
        for (id, stage, status) in findings {
            out.sample(
                "probe_mqtt_finding_info",
                &[("id", id), ("stage", stage), ("status", status)],
                1.0,
            );
        }
    }
    if let Some(root) = &report.verdict.root_cause {
        let stage = registry::ALL
            .iter()
            .find(|def| def.id == root)
            .map_or("", |def| def.stage.name());
        out.family(
            "probe_mqtt_root_cause_info",
            "gauge",
            "The finding that best explains the failure",
        );
        out.sample(
            "probe_mqtt_root_cause_info",
            &[("id", root), ("stage", stage)],
            1.0,
        );
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples;

    #[test]
    fn a_failed_probe_names_its_root_cause_and_findings() {
        let reports = samples::reports();
        let text = render(&Probe {
            report: Some(&reports[0]),
            duration: Duration::from_millis(1500),
            timeout: Duration::from_millis(4500),
            token_expiry: Some(1_900_000_000),
        });
        assert!(text.contains("\nprobe_success 0\n"), "{text}");
        assert!(text.contains("\nprobe_duration_seconds 1.5\n"), "{text}");
        assert!(text.contains("\nprobe_timeout_seconds 4.5\n"), "{text}");
        assert!(text.contains("probe_mqtt_token_expiry_timestamp_seconds 1900000000\n"));
        assert!(
            text.contains(
                "probe_mqtt_finding_info{id=\"tcp.refused\",stage=\"tcp\",status=\"fail\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("probe_mqtt_root_cause_info{id=\"tcp.refused\",stage=\"tcp\"} 1\n"));
        assert!(!text.contains("probe_mqtt_connack_reason_code"));
        // Healthy: no root cause, no finding.
        let text = render(&Probe {
            report: Some(&reports[2]),
            duration: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
            token_expiry: None,
        });
        assert!(text.contains("\nprobe_success 1\n") || text.starts_with("# HELP"));
        assert!(!text.contains("root_cause"), "{text}");
        assert!(!text.contains("probe_mqtt_finding_info"), "{text}");
    }

    #[test]
    fn label_values_and_numbers_are_written_as_the_format_wants() {
        let mut out = Exposition::new();
        out.family("x", "gauge", "a \\ help\nline")
            .sample("x", &[("l", "a\"b\\c\nd")], 0.25)
            .sample("x", &[("l", "e")], f64::INFINITY);
        assert_eq!(
            out.finish(),
            "# HELP x a \\\\ help\\nline\n# TYPE x gauge\nx{l=\"a\\\"b\\\\c\\nd\"} 0.25\nx{l=\"e\"} +Inf\n"
        );
        assert_eq!(number(3.0), "3");
        assert_eq!(number(-1.5), "-1.5");
    }
}
