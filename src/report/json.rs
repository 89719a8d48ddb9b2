//! JSON renderer: a report model ([`super::Report`] or [`super::TokenReport`]), pretty-printed,
//! one document per run. A run over several targets writes its [`super::MultiReport`] a report
//! at a time with [`MultiJson`], byte for byte what [`render`] would write for the whole.

use serde::Serialize;

use super::{ClusterReport, MultiVerdict, Report, SCHEMA_VERSION};

pub fn render(report: &impl Serialize) -> String {
    let mut text = pretty(report);
    text.push('\n');
    text
}

fn pretty(value: &impl Serialize) -> String {
    // Serializing plain structs, strings and JSON values cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Pretty JSON nested `levels` deep in a pretty document: every line but the first moves right
/// by two spaces a level. JSON strings hold no raw line breaks (they are escaped), so this only
/// ever indents structure.
fn nest(text: &str, levels: usize) -> String {
    text.replace('\n', &format!("\n{}", "  ".repeat(levels)))
}

/// A [`super::MultiReport`] written as its targets finish: the opening, each report as it
/// comes, then the verdict over all of them. Nothing is kept but a count.
#[derive(Debug, Default)]
pub struct MultiJson {
    reports: usize,
}

impl MultiJson {
    /// Everything before the first report.
    pub fn open() -> String {
        format!(
            "{{\n  \"schema_version\": {SCHEMA_VERSION},\n  \"tool\": {},\n  \"reports\": [",
            nest(&pretty(&super::tool()), 1)
        )
    }

    /// One target's report as an element of `reports`: what a target's task renders.
    pub fn element(report: &Report) -> String {
        format!("    {}", nest(&pretty(report), 2))
    }

    /// What to write for the next element.
    pub fn push(&mut self, element: &str) -> String {
        let separator = if self.reports == 0 { "\n" } else { ",\n" };
        self.reports += 1;
        format!("{separator}{element}")
    }

    /// Everything after the last report: the end of `reports`, the cluster comparison when
    /// there is one, and the overall verdict.
    pub fn close(self, cluster: Option<&ClusterReport>, verdict: &MultiVerdict) -> String {
        let end = if self.reports == 0 { "]" } else { "\n  ]" };
        let cluster = cluster
            .map(|c| format!(",\n  \"cluster\": {}", nest(&pretty(c), 1)))
            .unwrap_or_default();
        format!(
            "{end}{cluster},\n  \"verdict\": {}\n}}\n",
            nest(&pretty(verdict), 1)
        )
    }
}
