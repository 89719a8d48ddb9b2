//! `watch`: the doctor run again and again on one runtime, for failures that come and go.
//!
//! Each run is [`pipeline::run_all`] on fresh copies of the configurations, with its deadlines
//! counted from its own start. Runs start `interval` apart, start to start; one that takes longer
//! is followed at once, never overlapped. Every finished run becomes a line (text for a
//! terminal, JSON otherwise) and goes into [`stats::Stats`], whose size does not grow with the
//! number of runs; the summary comes at the end (`--count`, SIGINT, SIGTERM) and, on a terminal,
//! every [`Output::Text::summary_every`] runs. A signal cancels the run in flight: its tasks are
//! dropped, and a resolver thread that never returns is left behind by the runtime's shutdown.
//!
//! Like the pipeline, this module never decides exit codes: the command line reads the
//! [`Ended`] it returns.

pub mod stats;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime};

use crate::config::DoctorConfig;
use crate::findings::registry as r;
use crate::findings::{Status, millis};
use crate::limits::RuntimeError;
use crate::limits::{LocalFailure, LocalFailures};
use crate::pipeline::{self, Outcome};
use crate::report::VerdictReport;
use crate::report::watch::{
    self as render, Phases, WatchNode, WatchRun, WatchSummary, WatchSummaryLine, WatchTarget,
};
use crate::signals::Stop;
use stats::Stats;

/// How the runs are shown.
#[derive(Clone, Copy, Debug)]
pub enum Output {
    /// One line per run for a person, and the summary block every `summary_every` runs and at
    /// the end. `quiet` leaves out the lines of runs that passed.
    Text {
        quiet: bool,
        verbose: bool,
        summary_every: u64,
    },
    /// One JSON object per run, and the summary as one more line at the end.
    JsonLines,
}

/// What to watch, how often, and how to show it.
#[derive(Debug)]
pub struct Plan {
    /// One per target; cloned for every run.
    pub configs: Vec<DoctorConfig>,
    /// From the start of one run to the start of the next.
    pub interval: Duration,
    /// Stop after this many runs; `None` runs until a signal.
    pub count: Option<u64>,
    pub output: Output,
}

/// How a watch ended.
#[derive(Debug)]
pub struct Ended {
    /// The summary as written last.
    pub summary: WatchSummary,
    /// The doctor's own environment stopped a check in some run (descriptors, memory, ports).
    pub local_failure: Option<String>,
    /// A run's check stopped without a result (its task panicked).
    pub lost_result: bool,
    /// Writing the output failed (a closed pipe is not counted: the watch just ends).
    pub write_error: Option<io::Error>,
}

/// What one target's run leaves for the watch: its line, and whether the doctor's own
/// environment got in the way. Made in the target's task, so the [`Outcome`] is dropped there.
struct TargetRun {
    target: WatchTarget,
    local_failure: Option<LocalFailure>,
}

/// The findings that say a connection was lost while it was held.
const DROPS: [&r::FindingDef; 4] = [
    &r::SESSION_DROPPED,
    &r::SESSION_IDLE_TIMEOUT,
    &r::SESSION_TAKEOVER,
    &r::MQTT_DISCONNECTED,
];

fn summarize(outcome: Outcome) -> TargetRun {
    let session_dropped = outcome
        .findings
        .iter()
        .any(|f| DROPS.iter().any(|d| d.id == f.def.id));
    let node =
        |address: SocketAddr, status: Status, root: Option<&str>, phases: Phases| WatchNode {
            address: address.to_string(),
            status,
            root_cause: root.map(String::from),
            phases,
        };
    TargetRun {
        target: WatchTarget {
            url: outcome.config.target.url(),
            verdict: VerdictReport::of(&outcome.verdict),
            session_dropped,
            nodes: outcome
                .nodes
                .iter()
                .map(|n| {
                    node(
                        n.address,
                        n.verdict.status,
                        n.verdict.root_cause,
                        Phases::from_observed(&n.observed),
                    )
                })
                .collect(),
        },
        local_failure: outcome.local_failure,
    }
}

/// The status of a run over its targets: see [`WatchRun::status`].
fn run_status(targets: &[WatchTarget]) -> Status {
    targets
        .iter()
        .fold(Status::Pass, |acc, t| stats::worst(acc, t.verdict.status))
}

/// Where the lines go, and whether the reader is still there.
struct Sink {
    out: Box<dyn Write>,
    /// The reader went away (`| head`): nothing more is written, and the watch ends.
    closed: bool,
    error: Option<io::Error>,
}

impl Sink {
    fn write(&mut self, text: &str) {
        if self.closed || self.error.is_some() {
            return;
        }
        match self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
            Err(e) => self.error = Some(e),
        }
    }

    fn stopped(&self) -> bool {
        self.closed || self.error.is_some()
    }
}

/// Runs the watch to its end, writing to `out`.
pub fn run(plan: Plan, out: Box<dyn Write>) -> Result<Ended, RuntimeError> {
    let runtime = crate::limits::runtime()?;
    let ended = runtime.block_on(watch(plan, out));
    // A getaddrinfo call that never returns (a run cut short in it) must not hold the process.
    runtime.shutdown_background();
    Ok(ended)
}

async fn watch(plan: Plan, out: Box<dyn Write>) -> Ended {
    let Plan {
        configs,
        interval,
        count,
        output,
    } = plan;
    let mut sink = Sink {
        out,
        closed: false,
        error: None,
    };
    let mut stats = Stats::new(configs.iter().map(|c| c.target.url()).collect());
    let mut local_failures = LocalFailures::default();
    let mut lost_result = false;
    let deadline = configs.iter().map(|c| c.deadline).max().unwrap_or_default();
    // Without a signal handler the watch still runs; Ctrl-C then ends it without a summary.
    let mut stop = match Stop::new() {
        Ok(stop) => Some(stop),
        Err(e) => {
            eprintln!(
                "mqtt-doctor: warning: cannot catch Ctrl-C ({e}); it will end the watch without a summary"
            );
            None
        }
    };
    let mut interrupted = false;
    let mut number = 0u64;
    loop {
        let started = Instant::now();
        let started_at = SystemTime::now();
        let next = tokio::time::Instant::from_std(started) + interval;
        // The files a run reads (password, token, CA) are read again, within this run's time.
        crate::files::set_run_deadline(started, deadline);
        let mut results: Vec<TargetRun> = Vec::with_capacity(configs.len());
        let finished = {
            let run = pipeline::run_all(configs.clone(), started, summarize, |_, result| {
                results.push(result);
                ControlFlow::Continue(())
            });
            tokio::select! {
                () = run => true,
                () = signalled(&mut stop) => false,
            }
        };
        if !finished {
            interrupted = true;
            break;
        }
        number += 1;
        if results.len() != configs.len() {
            lost_result = true;
        }
        let mut targets = Vec::with_capacity(results.len());
        for result in results {
            local_failures.record(result.local_failure);
            targets.push(result.target);
        }
        let line = WatchRun {
            run: number,
            started_at: humantime::format_rfc3339_millis(started_at).to_string(),
            duration_ms: millis(started.elapsed()),
            status: run_status(&targets),
            targets,
        };
        stats.record(&line, started_at);
        match output {
            Output::JsonLines => sink.write(&render::json_line(&line)),
            Output::Text {
                quiet,
                verbose,
                summary_every,
            } => {
                if !(quiet && line.status == Status::Pass) {
                    sink.write(&render::render_run_text(&line, verbose));
                }
                let last = count == Some(number);
                if summary_every > 0 && number.is_multiple_of(summary_every) && !last {
                    let summary = stats.summary(false, SystemTime::now());
                    sink.write(&render::render_summary_text(&summary));
                }
            }
        }
        if sink.stopped() || count.is_some_and(|count| number >= count) {
            break;
        }
        let waited = tokio::select! {
            () = tokio::time::sleep_until(next) => true,
            () = signalled(&mut stop) => false,
        };
        if !waited {
            interrupted = true;
            break;
        }
    }
    let summary = stats.summary(interrupted, SystemTime::now());
    match output {
        Output::JsonLines => sink.write(&render::json_line(&WatchSummaryLine {
            summary: summary.clone(),
        })),
        Output::Text { .. } => sink.write(&render::render_summary_text(&summary)),
    }
    Ended {
        summary,
        local_failure: local_failures.message(),
        lost_result,
        write_error: sink.error,
    }
}

/// Resolves on SIGINT or SIGTERM; never without a handler. The handler is made before the
/// first run, so that a signal during it already ends the watch with its summary.
async fn signalled(stop: &mut Option<Stop>) {
    match stop {
        Some(stop) => stop.wait().await,
        None => std::future::pending().await,
    }
}
