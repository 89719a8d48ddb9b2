//! JSON renderer: a report model ([`super::Report`] or [`super::TokenReport`]), pretty-printed,
//! one document per run.

use serde::Serialize;

pub fn render(report: &impl Serialize) -> String {
    // Serializing plain structs, strings and JSON values cannot fail.
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}
