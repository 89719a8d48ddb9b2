//! What the run waits for right now, for the live status line a terminal shows on stderr
//! ("tls: waiting for the handshake with 10.0.0.5:8883, 2.1 s of 5 s").
//!
//! The pipeline says which stage of which target or node runs; each network step says when it
//! starts and how long it may take. Nothing here prints: the CLI reads [`current`] and draws
//! the line, so probes stay silent and a run without a terminal pays one uncontended lock per
//! step. With several targets or nodes at once, the step that started last is shown.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::stage::Stage;

/// One wait, as the status line shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub stage: Stage,
    /// The address or name the stage talks to.
    pub peer: String,
    /// When the current step started, and how long it may take.
    pub since: Instant,
    pub limit: Duration,
    /// Which stage run this is, so that a stage ending clears only its own wait.
    run: u64,
}

impl Waiting {
    /// What the stage waits for, in words.
    pub fn what(&self) -> &'static str {
        match self.stage {
            Stage::K8s => "comparing the cluster's resources with",
            Stage::Dns => "waiting for the name server about",
            Stage::Tcp => "connecting to",
            Stage::Proxy => "waiting for the proxy's tunnel to",
            Stage::Tls => "waiting for the handshake with",
            Stage::Websocket => "waiting for the WebSocket upgrade from",
            Stage::Auth => "reading the credentials for",
            Stage::Mqtt => "waiting for the broker at",
            Stage::Cluster => "comparing the nodes of",
        }
    }
}

static CURRENT: Mutex<Option<Waiting>> = Mutex::new(None);
static RUNS: AtomicU64 = AtomicU64::new(0);

fn slot() -> std::sync::MutexGuard<'static, Option<Waiting>> {
    CURRENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A stage starts for `peer`; returns the token that ends it.
pub fn stage_started(stage: Stage, peer: String, limit: Duration) -> u64 {
    let run = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
    *slot() = Some(Waiting {
        stage,
        peer,
        since: Instant::now(),
        limit,
        run,
    });
    run
}

/// A network step of the stage that started `run` begins now, with `limit` to finish.
pub fn step_started(run: u64, limit: Duration) {
    if let Some(waiting) = slot().as_mut().filter(|w| w.run == run) {
        waiting.since = Instant::now();
        waiting.limit = limit;
    }
}

/// The stage that started `run` ended: its wait is no longer shown.
pub fn stage_ended(run: u64) {
    let mut slot = slot();
    if slot.as_ref().is_some_and(|w| w.run == run) {
        *slot = None;
    }
}

/// The wait to show, if any.
pub fn current() -> Option<Waiting> {
    slot().clone()
}

/// The status line for `waiting` as of now: `tls: waiting for the handshake with 10.0.0.5:8883,
/// 2.1 s of 5 s`.
pub fn line(waiting: &Waiting) -> String {
    format!(
        "{}: {} {}, {:.1} s of {}",
        waiting.stage.name(),
        waiting.what(),
        waiting.peer,
        waiting.since.elapsed().as_secs_f64(),
        crate::durations::text(waiting.limit)
    )
}
