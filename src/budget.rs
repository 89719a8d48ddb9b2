//! The time one network step may take, as an absolute instant: below the transport and the
//! stages, which both wait against it.

use std::time::Duration;

// tokio's clock: a step's end is a tokio timer, and a test or fuzz target may pause it.
use tokio::time::Instant;

/// The time a network step may take, fixed when the step starts: `--timeout` from then, or the
/// run's deadline if that comes first. A step waits against [`Budget::until`], an absolute
/// instant, so a peer that keeps sending (one frame a second, an endless AUTH exchange) cannot
/// stretch the step: frames that arrive do not restart anything.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub timeout: Duration,
    /// When the step ends, whatever arrives meanwhile, on tokio's clock.
    pub until: Instant,
    /// The step got less than `--timeout` because the run's deadline is near.
    pub cut_by_deadline: bool,
}

impl Budget {
    /// A step of at most `timeout` starting now, cut at `deadline`.
    pub fn new(timeout: Duration, deadline: Instant) -> Budget {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        Budget {
            timeout: timeout.min(left),
            until: now + timeout.min(left),
            cut_by_deadline: left < timeout,
        }
    }

    /// The limit as a report states it, e.g. `300ms`, and whether the deadline cut it short.
    pub fn describe(&self) -> String {
        let limit = crate::durations::text(Duration::from_millis(self.timeout.as_millis() as u64));
        if self.cut_by_deadline {
            format!("{limit} (all that was left of the run deadline)")
        } else {
            limit.to_string()
        }
    }

    /// Runs `future` until the step's end; `None` when the step ran out first.
    pub async fn run<F: std::future::Future>(&self, future: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.until, future).await.ok()
    }
}
