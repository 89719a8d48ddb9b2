//! JSON renderer: the [`Report`] model, pretty-printed, one document per run.

use super::Report;

pub fn render(report: &Report) -> String {
    // Serializing plain structs, strings and JSON values cannot fail.
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}
