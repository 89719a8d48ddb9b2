//! The staged probe pipeline.
//!
//! Stages run in a fixed order, each on what the earlier ones established (addresses, then a
//! connection). A stage that fails makes the stages that depend on it `skip` with the reason, so
//! the report always names the lowest broken layer instead of a cascade of symptoms. Every network
//! step gets the per-step timeout or whatever is left of the run's deadline, whichever is less:
//! the pipeline cannot hang, and it never retries in a loop. A stage that starts with no time
//! left still runs, and its steps time out at once with a finding that says the deadline cut them
//! short, so a run can never pass by running out of time.
//!
//! Probes only collect findings; nothing here prints. Renderers turn the [`Outcome`] into text,
//! JSON or other formats.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::DoctorConfig;
use crate::findings::{Finding, Status};
use crate::limits::LocalFailure;
use crate::redact::Redactor;
use crate::stage::Stage;
use crate::stages;
use crate::stages::context::Context;

/// A stage as it ran.
#[derive(Clone, Debug)]
pub struct StageRun {
    pub stage: Stage,
    pub status: Status,
    pub duration: Duration,
    /// One line: what the stage established, or why it was skipped.
    pub summary: String,
}

/// The overall result.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub status: Status,
    /// The finding that best explains the failure; `None` when nothing failed.
    pub root_cause: Option<&'static str>,
    pub summary: String,
}

/// Everything a run produced, for the renderers.
#[derive(Debug)]
pub struct Outcome {
    pub config: DoctorConfig,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub stages: Vec<StageRun>,
    pub findings: Vec<Finding>,
    pub verdict: Verdict,
    /// The doctor's own environment stopped a stage (no descriptor, memory or local port left):
    /// the target was not fully checked, whatever the findings say.
    pub local_failure: Option<LocalFailure>,
}

use crate::limits::MAX_CONCURRENT_TARGETS;

/// How far ahead of the earliest target whose result is not out yet the run may start targets.
/// Results come out in the order given (reports that diff cleanly between runs, and the order
/// docs/json-schema.md promises), so a target that finishes before a slower earlier one waits,
/// as whatever the caller's `summarize` made of it (a rendered report, a few KiB). At most this
/// many wait, so memory stays flat however many targets there are. The price: a slow target (a
/// connect nobody answers waits out `--timeout`) stops new targets from starting once this many
/// later ones have finished. At sixteen times the concurrency, only a run of thousands of fast
/// targets gets there; and since every deadline counts from the start of the run, the run still
/// ends within the longest deadline.
pub const REORDER_WINDOW: usize = 16 * MAX_CONCURRENT_TARGETS;

/// Runs one pipeline per configuration, up to [`crate::limits::target_concurrency`] (at most
/// [`MAX_CONCURRENT_TARGETS`]) at the same time, and hands each result to `emit` in the order
/// given, as soon as it and every earlier one are done.
/// Every deadline counts from the start of the whole run, so a target that waited for its turn
/// gets what is left, and the run as a whole ends within the longest deadline.
///
/// Tasks are spawned only as earlier ones finish: 10,000 targets never hold 10,000 pipelines
/// (each an async state machine with its buffers) at once. `summarize` runs in the target's task
/// as soon as it finishes, so the [`Outcome`] is dropped there and only its summary (e.g. the
/// rendered report) waits in the reorder buffer, bounded by [`REORDER_WINDOW`]. `emit` returning
/// [`ControlFlow::Break`] stops the run: nothing more is started and the running checks are
/// cancelled. A target whose task panicked has no result; `emit` never sees its index.
///
/// Deadlines count from `start`: the process's start, so that the time spent before the run
/// (a token read from standard input) comes out of the same `--deadline`.
pub async fn run_all<T, S, E>(configs: Vec<DoctorConfig>, start: Instant, summarize: S, emit: E)
where
    T: Send + 'static,
    S: Fn(Outcome) -> T + Send + Sync + 'static,
    E: FnMut(usize, T) -> ControlFlow<()>,
{
    // How many targets run at once.
    let concurrency = crate::limits::target_concurrency();
    let summarize = Arc::new(summarize);
    let task = move |config| {
        let summarize = summarize.clone();
        async move { summarize(run_from(config, start).await) }
    };
    crate::schedule::in_order(configs, concurrency, REORDER_WINDOW, task, emit).await;
}

/// Runs every stage against the configured target.
pub async fn run(config: DoctorConfig) -> Outcome {
    run_from(config, Instant::now()).await
}

/// [`run`], with the deadline counted from `start`.
async fn run_from(config: DoctorConfig, start: Instant) -> Outcome {
    let started_at = SystemTime::now();
    let began = Instant::now();
    let mut ctx = Context::new(
        &config,
        tokio::time::Instant::from_std(start + config.deadline),
    );

    let mut stages: Vec<StageRun> = Vec::new();
    let mut findings = Vec::new();
    // Stages that failed or could not run, so their dependents are skipped too.
    let mut blocked: Vec<(Stage, String)> = Vec::new();
    let mut local_failure = None;

    for stage in Stage::ALL.into_iter().filter(|s| s.applies(&config)) {
        let blocker = stage
            .depends_on()
            .iter()
            .find_map(|dep| blocked.iter().find(|(s, _)| s == dep));
        if let Some((_, reason)) = blocker {
            let reason = reason.clone();
            stages.push(skipped(stage, reason.clone()));
            blocked.push((stage, reason));
            continue;
        }
        let stage_start = Instant::now();
        let output = match stage {
            Stage::Dns => stages::dns::run(&mut ctx).await,
            Stage::Tcp => stages::tcp::run(&mut ctx).await,
            Stage::Proxy => stages::proxy::run(&mut ctx).await,
            Stage::Tls => stages::tls::run(&mut ctx).await,
            Stage::Websocket => stages::websocket::run(&mut ctx).await,
            Stage::Auth => stages::auth::run(&mut ctx),
            Stage::Mqtt => stages::mqtt::run(&mut ctx).await,
        };
        let status = if output.not_applicable || output.local_failure.is_some() {
            Status::Skip
        } else {
            let worst = output
                .findings
                .iter()
                .fold(Status::Pass, |acc, f| acc.max(f.status));
            if worst == Status::Info {
                Status::Pass
            } else {
                worst
            }
        };
        if status == Status::Fail {
            blocked.push((stage, format!("skipped: {} failed", stage.name())));
        }
        if let Some(failure) = output.local_failure {
            blocked.push((stage, format!("skipped: {failure}")));
            local_failure.get_or_insert(failure);
        }
        stages.push(StageRun {
            stage,
            status,
            duration: stage_start.elapsed(),
            summary: output.summary,
        });
        credit_earlier_stages(&mut stages, &output.findings);
        findings.extend(output.findings);
    }
    // Secrets the auth stage read from files are known only now, so the redactor is built
    // here, before the context goes.
    let mut redactor = Redactor::for_config(&config);
    if let Some(credentials) = &ctx.credentials {
        let username = credentials.username.as_deref();
        if let Some(password) = &credentials.password {
            redactor.add_login(username, password, "password");
        }
        if let Some(token) = &credentials.token {
            redactor.add_login(username, token, "token");
        }
    }
    drop(ctx);
    clear_suspicions(&mut stages, &mut findings);
    // A peer may have quoted a secret: redacted before the verdict quotes findings.
    redactor.redact_run(&mut findings, stages.iter_mut().map(|s| &mut s.summary));

    let mut verdict = verdict(&config, &stages, &findings);
    // A failure found stands; a pass or a warning would claim checks that never ran.
    if let Some(failure) = local_failure
        && verdict.status != Status::Fail
    {
        verdict = Verdict {
            status: Status::Skip,
            root_cause: None,
            summary: format!("{} was not fully checked: {failure}", config.target),
        };
    }
    Outcome {
        config,
        started_at,
        duration: began.elapsed(),
        stages,
        findings,
        verdict,
        local_failure,
    }
}

/// A stage may find what an earlier layer hid: the MQTT stage's first read can carry the TLS
/// alert that rejects a client certificate, and a plain CONNECT answered by a reset is how a TLS
/// port shows itself. Such findings keep their own stage, and that stage's line shows them.
fn credit_earlier_stages(stages: &mut [StageRun], findings: &[Finding]) {
    let Some(current) = stages.last().map(|s| s.stage) else {
        return;
    };
    for finding in findings.iter().filter(|f| f.stage() != current) {
        if let Some(run) = stages.iter_mut().find(|s| s.stage == finding.stage())
            && matches!(finding.status, Status::Warn | Status::Fail)
            && finding.status.max(run.status) != run.status
        {
            run.status = finding.status;
            run.summary = finding.def.title.to_string();
        }
    }
}

/// The broker accepted the CONNECT, so the credential checks that predicted a refusal were
/// wrong for this broker (an audience it does not check, a clock it does not trust): they stay
/// in the report as information. Warnings about the future (a token about to expire) stay.
fn clear_suspicions(stages: &mut [StageRun], findings: &mut [Finding]) {
    let connected = findings
        .iter()
        .any(|f| f.def.id == crate::findings::registry::MQTT_CONNECTED.id);
    if !connected {
        return;
    }
    let mut cleared = false;
    for finding in findings
        .iter_mut()
        .filter(|f| f.stage() == Stage::Auth && f.status == Status::Fail)
    {
        finding.status = Status::Info;
        finding.detail.push_str(
            " The broker accepted the connection all the same, so this did not stop it here.",
        );
        cleared = true;
    }
    if cleared && let Some(run) = stages.iter_mut().find(|s| s.stage == Stage::Auth) {
        let worst = findings
            .iter()
            .filter(|f| f.stage() == Stage::Auth)
            .fold(Status::Pass, |acc, f| acc.max(f.status));
        run.status = if worst == Status::Info {
            Status::Pass
        } else {
            worst
        };
    }
}

fn skipped(stage: Stage, summary: String) -> StageRun {
    StageRun {
        stage,
        status: Status::Skip,
        duration: Duration::ZERO,
        summary,
    }
}

/// Picks the root cause: the first failing finding of the lowest stage (with `--strict`, the
/// first warning counts too). A finding is filed under its own stage even when a later one saw
/// it, so the lowest broken layer wins; within a stage, the first finding does. The credential
/// checks come before the MQTT stage, so a refused CONNECT whose token was already found wanting
/// (`token.audience_mismatch`) has that token finding as its root cause.
fn verdict(config: &DoctorConfig, stages: &[StageRun], findings: &[Finding]) -> Verdict {
    let layer = |f: &&Finding| Stage::ALL.iter().position(|s| *s == f.stage());
    if let Some(root) = findings
        .iter()
        .filter(|f| f.status.fails(config.strict))
        .min_by_key(layer)
    {
        return Verdict {
            status: Status::Fail,
            root_cause: Some(root.id()),
            summary: format!("{}: {}", root.def.title, root.headline()),
        };
    }
    let ran: Vec<&str> = stages
        .iter()
        .filter(|s| s.status != Status::Skip)
        .map(|s| s.stage.name())
        .collect();
    let warnings: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Warn)
        .collect();
    if let Some(first) = warnings.first() {
        let more = match warnings.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Verdict {
            status: Status::Warn,
            root_cause: None,
            summary: format!(
                "{} is reachable with a warning: {}{more}",
                config.target, first.def.title
            ),
        };
    }
    Verdict {
        status: Status::Pass,
        root_cause: None,
        summary: format!(
            "{} passed every check that ran ({})",
            config.target,
            ran.join(", ")
        ),
    }
}
