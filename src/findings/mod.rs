//! The finding model: what every stage reports and every renderer shows.
//!
//! A finding is one named observation with a stable id (`stage.snake_case`), a status, a detail
//! that says what was seen and why it matters, the evidence it rests on, and the fix. Ids, titles
//! and long-form pages live in one registry ([`registry`]) so that a finding can only be emitted
//! under an id that is documented; the detail, evidence and fix are written by the stage that saw
//! the problem, because only it knows the addresses, names and timings that make a fix concrete.

pub mod registry;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

use serde_json::{Map, Value};

pub use registry::FindingDef;

use crate::stage::Stage;

/// The status of a finding, a stage, or a whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Info,
    Skip,
    Warn,
    Fail,
}

impl Status {
    /// How bad a status is, for picking the worst of several.
    fn severity(self) -> u8 {
        match self {
            Status::Info => 0,
            Status::Skip => 1,
            Status::Pass => 2,
            Status::Warn => 3,
            Status::Fail => 4,
        }
    }

    /// The worst of two statuses.
    pub fn max(self, other: Status) -> Status {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// Whether a finding with this status fails the run: a failure always, a warning with
    /// `--strict`. The exit code, the verdict and the JUnit report all follow this one rule.
    pub fn fails(self, strict: bool) -> bool {
        self == Status::Fail || (strict && self == Status::Warn)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// Key/value evidence, kept in insertion order so reports read the way the stage wrote them.
/// Values are JSON so that structured evidence (per-address results, later certificate chains)
/// reaches the JSON report as structure, not as pre-formatted text.
pub type Evidence = Map<String, Value>;

/// One observation, as emitted by a stage.
#[derive(Clone, Debug)]
pub struct Finding {
    pub def: &'static FindingDef,
    pub status: Status,
    pub detail: String,
    pub evidence: Evidence,
    pub fix: Option<String>,
    /// The node (the address of a target that resolved to several) whose connection chain saw
    /// this; `None` for what holds for the whole target.
    pub node: Option<SocketAddr>,
}

impl Finding {
    /// A finding with the registry's default status and the given detail.
    pub fn new(def: &'static FindingDef, detail: impl Into<String>) -> Self {
        Finding {
            def,
            status: def.status,
            detail: detail.into(),
            evidence: Evidence::new(),
            fix: None,
            node: None,
        }
    }

    pub fn id(&self) -> &'static str {
        self.def.id
    }

    pub fn stage(&self) -> Stage {
        self.def.stage
    }

    /// Overrides the registry's default status (e.g. a suspicion cleared by a later stage).
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    pub fn with_evidence(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.evidence.insert(key.to_string(), value.into());
        self
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// The first sentence of the detail: what the verdict line quotes.
    pub fn headline(&self) -> &str {
        first_sentence(&self.detail)
    }
}

fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let end = text
        .match_indices(". ")
        .map(|(i, _)| i + 1)
        .chain(text.find('\n'))
        .min()
        .unwrap_or(text.len());
    text[..end].trim_end()
}

/// Milliseconds with microsecond resolution: loopback timings are far below one millisecond.
pub fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_wins() {
        assert_eq!(Status::Pass.max(Status::Warn), Status::Warn);
        assert_eq!(Status::Fail.max(Status::Warn), Status::Fail);
        assert_eq!(Status::Info.max(Status::Pass), Status::Pass);
        assert_eq!(Status::Skip.max(Status::Info), Status::Skip);
    }

    #[test]
    fn headline_is_the_first_sentence() {
        assert_eq!(first_sentence("A b. C d."), "A b.");
        assert_eq!(
            first_sentence("127.0.0.1:1883 refused. Next."),
            "127.0.0.1:1883 refused."
        );
        assert_eq!(first_sentence("One line\nsecond"), "One line");
        assert_eq!(first_sentence("no stop"), "no stop");
    }

    #[test]
    fn millis_keeps_microseconds() {
        assert_eq!(millis(std::time::Duration::from_micros(1234)), 1.234);
    }
}
