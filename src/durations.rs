//! How a duration reads in every report, error and finding: one set of units.

/// A duration as every report writes one: humantime's reading (`2s`, `500ms`, `3h 1m`) with the
/// long units shortened the same way (`3d 2h`, `1y 2mo`), so that `1day` never stands next to
/// `23h 59m`.
pub fn text(duration: std::time::Duration) -> String {
    humantime::format_duration(duration)
        .to_string()
        .split(' ')
        .map(|part| {
            let digits = part.trim_end_matches(|c: char| c.is_alphabetic());
            let unit = &part[digits.len()..];
            let short = match unit {
                "years" | "year" => "y",
                "months" | "month" => "mo",
                "days" | "day" => "d",
                other => other,
            };
            format!("{digits}{short}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::text as duration_text;

    #[test]
    fn durations_use_one_set_of_units() {
        use std::time::Duration;
        assert_eq!(duration_text(Duration::from_secs(86_400)), "1d");
        assert_eq!(duration_text(Duration::from_secs(86_340)), "23h 59m");
        assert_eq!(
            duration_text(Duration::from_secs(3 * 86_400 + 7200)),
            "3d 2h"
        );
        assert_eq!(duration_text(Duration::from_millis(1500)), "1s 500ms");
        assert!(duration_text(Duration::from_secs(400 * 86_400)).starts_with("1y 1mo 4d "));
    }
}
