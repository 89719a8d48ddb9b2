//! GitHub Actions annotations: `::error::` and `::warning::` workflow commands.
//!
//! Written to stderr next to whatever report goes to stdout, so `--format json > report.json`
//! stays valid JSON while the run's summary page still shows each failure with its fix. The
//! runner reads workflow commands from both streams. Values are escaped as the runner expects
//! (`%`, CR, LF; in properties also `:` and `,`), so a broker's reason string cannot forge a
//! command of its own.

use super::Report;
use crate::findings::Status;

/// One target's annotations, written as soon as that target finishes.
pub fn render_one(report: &Report, strict: bool) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        let command = if finding.status.fails(strict) {
            "error"
        } else if finding.status == Status::Warn {
            "warning"
        } else {
            continue;
        };
        let node = finding
            .node
            .as_ref()
            .map(|n| format!(" node {n}"))
            .unwrap_or_default();
        let title = format!("mqtt-doctor {}{node}: {}", report.target.url, finding.id);
        let mut message = format!("{}: {}", finding.title, finding.detail);
        if let Some(fix) = &finding.fix {
            message.push_str("\nFix: ");
            message.push_str(fix);
        }
        message.push_str(&format!("\nMore: {}", finding.docs));
        out.push_str(&format!(
            "::{command} title={}::{}\n",
            escape_property(&title),
            escape_data(&message)
        ));
    }
    out
}

/// `body` folded into a log group titled `title`: the runner shows the title, and the body when
/// it is opened.
pub fn group(title: &str, body: &str) -> String {
    let mut out = format!("::group::{}\n{body}", escape_data(title));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("::endgroup::\n");
    out
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_cannot_start_a_command() {
        assert_eq!(
            escape_data("50% done\n::error::forged"),
            "50%25 done%0A::error::forged"
        );
        assert_eq!(
            escape_property("mqtt://h:1883, x"),
            "mqtt%3A//h%3A1883%2C x"
        );
    }
}
