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

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::DoctorConfig;
use crate::findings::registry::MQTT_CONNECTED;
use crate::findings::{Finding, Status};
use crate::limits::LocalFailure;
use crate::observations::Observations;
use crate::redact::Redactor;
use crate::stage::Stage;
use crate::stages;
use crate::stages::cluster::{Capped, NodeView};
use crate::stages::context::{Context, StageOutput};

/// A stage as it ran.
#[derive(Clone, Debug)]
pub struct StageRun {
    pub stage: Stage,
    /// The node whose connection chain this ran in; `None` for a target-level stage.
    pub node: Option<SocketAddr>,
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
    /// Every node checked, in the order DNS gave them: one for a single connection chain (the
    /// address it connected to, or the first it tried), none when nothing was resolved.
    pub nodes: Vec<NodeRun>,
}

/// One node: an address with a connection chain of its own.
#[derive(Clone, Debug)]
pub struct NodeRun {
    pub address: SocketAddr,
    /// The verdict of this node's chain alone.
    pub verdict: Verdict,
    /// What its chain observed, as typed values.
    pub observed: Observations,
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

/// What one connection chain (or the target-level stages) produced so far.
#[derive(Default)]
struct Chain {
    stages: Vec<StageRun>,
    findings: Vec<Finding>,
    /// Stages that failed or could not run, so their dependents are skipped too.
    blocked: Vec<(Stage, String)>,
    local_failure: Option<LocalFailure>,
}

impl Chain {
    /// Runs `stage` on `ctx`, or records it as skipped when a stage it depends on failed.
    async fn run(&mut self, stage: Stage, ctx: &mut Context<'_>) {
        let blocker = stage
            .depends_on()
            .iter()
            .find_map(|dep| self.blocked.iter().find(|(s, _)| s == dep));
        if let Some((_, reason)) = blocker {
            let reason = reason.clone();
            self.stages.push(skipped(stage, reason.clone()));
            self.blocked.push((stage, reason));
            return;
        }
        let stage_start = Instant::now();
        ctx.progress =
            crate::progress::stage_started(stage, ctx.peer_label(stage), ctx.config.timeout);
        let output = match stage {
            Stage::K8s => stages::k8s::run(ctx).await,
            Stage::Dns => stages::dns::run(ctx).await,
            Stage::Tcp => stages::tcp::run(ctx).await,
            Stage::Proxy => stages::proxy::run(ctx).await,
            Stage::Tls => stages::tls::run(ctx).await,
            Stage::Websocket => stages::websocket::run(ctx).await,
            Stage::Auth => stages::auth::run(ctx),
            Stage::Mqtt => stages::mqtt::run(ctx).await,
            // The comparison runs over finished nodes, in `compare_nodes`, never on a context.
            Stage::Cluster => StageOutput::not_applicable("compared after the nodes ran"),
        };
        crate::progress::stage_ended(ctx.progress);
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
            self.blocked
                .push((stage, format!("skipped: {} failed", stage.name())));
        }
        if let Some(failure) = output.local_failure {
            self.blocked.push((stage, format!("skipped: {failure}")));
            self.local_failure.get_or_insert(failure);
        }
        self.stages.push(StageRun {
            stage,
            node: None,
            status,
            duration: stage_start.elapsed(),
            summary: output.summary,
        });
        credit_earlier_stages(&mut self.stages, &output.findings);
        self.findings.extend(output.findings);
    }
}

/// The stages of one node's connection chain, in run order.
const NODE_STAGES: [Stage; 4] = [Stage::Tcp, Stage::Tls, Stage::Websocket, Stage::Mqtt];

/// The addresses that get a connection chain of their own (the first `--nodes` of them); `None`
/// when one chain runs, as a client connects: one address (or none), `--nodes 1`, or a proxy,
/// which picks the broker's address itself.
fn node_plan(config: &DoctorConfig, addresses: &[SocketAddr]) -> Option<Vec<SocketAddr>> {
    let proxied = config.proxy.proxy().is_some();
    if proxied || config.nodes < 2 || addresses.len() < 2 {
        return None;
    }
    Some(addresses.iter().copied().take(config.nodes).collect())
}

/// [`run`], with the deadline counted from `start`.
async fn run_from(config: DoctorConfig, start: Instant) -> Outcome {
    let started_at = SystemTime::now();
    let began = Instant::now();
    let mut ctx = Context::new(
        &config,
        tokio::time::Instant::from_std(start + config.deadline),
    );
    let applicable: Vec<Stage> = Stage::ALL
        .into_iter()
        .filter(|s| s.applies(&config))
        .collect();
    let mut chain = Chain::default();
    // Target-level stages before the connection chain: the resources' cross-check, then DNS.
    let target_level = [Stage::K8s, Stage::Dns];
    for stage in target_level.into_iter().filter(|s| applicable.contains(s)) {
        chain.run(stage, &mut ctx).await;
    }

    let plan = node_plan(&config, &ctx.addresses);
    let mut nodes = Vec::new();
    let mut single = None;
    let redactor;
    match plan {
        None => {
            for stage in applicable.iter().filter(|s| !target_level.contains(s)) {
                chain.run(*stage, &mut ctx).await;
            }
            redactor = redactor_for(&config, &ctx);
            let observed = std::mem::take(&mut ctx.observed);
            let address = ctx.connected_to.or_else(|| ctx.addresses.first().copied());
            drop(ctx);
            clear_suspicions(&mut chain.stages, &mut chain.findings);
            redactor.redact_run(
                &mut chain.findings,
                chain.stages.iter_mut().map(|s| &mut s.summary),
            );
            // One chain: its node's verdict is the target's, set once that is known.
            single = address.map(|address| (address, observed));
        }
        Some(addresses) => {
            if applicable.contains(&Stage::Auth) {
                chain.run(Stage::Auth, &mut ctx).await;
            }
            redactor = redactor_for(&config, &ctx);
            let resolved = ctx.addresses.len();
            let node_stages: Vec<Stage> = NODE_STAGES
                .into_iter()
                .filter(|s| applicable.contains(s))
                .collect();
            let mut chains = run_nodes(&ctx, &addresses, &node_stages).await;
            drop(ctx);
            let connected = chains
                .iter()
                .any(|(_, c, _)| c.findings.iter().any(|f| f.id() == MQTT_CONNECTED.id));
            if connected {
                clear_suspicions(&mut chain.stages, &mut chain.findings);
            }
            for (address, node_chain, observed) in &mut chains {
                redactor.redact_run(
                    &mut node_chain.findings,
                    node_chain.stages.iter_mut().map(|s| &mut s.summary),
                );
                nodes.push(NodeRun {
                    address: *address,
                    verdict: verdict(
                        &address.to_string(),
                        config.strict,
                        &node_chain.stages,
                        node_chain.findings.iter(),
                    ),
                    observed: std::mem::take(observed),
                });
            }
            let views: Vec<NodeView> = nodes
                .iter()
                .map(|n| NodeView {
                    label: n.address.to_string(),
                    address: Some(n.address),
                    status: n.verdict.status,
                    root_cause: n.verdict.root_cause,
                    summary: &n.verdict.summary,
                    observed: &n.observed,
                })
                .collect();
            let name = config.target.host.to_string();
            let capped = (resolved > addresses.len()).then_some(Capped {
                name: &name,
                resolved,
                checked: addresses.len(),
            });
            let compare_start = Instant::now();
            let comparison = stages::cluster::compare(&views, capped);
            let compared = StageRun {
                stage: Stage::Cluster,
                node: None,
                status: stage_status(&comparison.findings),
                duration: compare_start.elapsed(),
                summary: comparison.summary,
            };
            for (address, node_chain, _) in chains {
                chain.local_failure = chain.local_failure.or(node_chain.local_failure);
                chain
                    .stages
                    .extend(node_chain.stages.into_iter().map(|mut s| {
                        s.node = Some(address);
                        s
                    }));
                chain
                    .findings
                    .extend(node_chain.findings.into_iter().map(|mut f| {
                        f.node = Some(address);
                        f
                    }));
            }
            chain.stages.push(compared);
            chain.findings.extend(comparison.findings);
        }
    }
    let Chain {
        mut stages,
        mut findings,
        local_failure,
        ..
    } = chain;
    // The comparison quotes the nodes' verdicts, redacted already; once more costs nothing.
    redactor.redact_run(&mut findings, stages.iter_mut().map(|s| &mut s.summary));

    let label = config.target.to_string();
    let mut verdict = target_verdict(&label, config.strict, &stages, &findings, &nodes);
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
    if let Some((address, observed)) = single {
        nodes.push(NodeRun {
            address,
            verdict: verdict.clone(),
            observed,
        });
    }
    Outcome {
        config,
        started_at,
        duration: began.elapsed(),
        stages,
        findings,
        verdict,
        local_failure,
        nodes,
    }
}

/// Runs the connection chain of every node at once, each on its own context with the target's
/// clock and credentials. With a fixed `--client-id` they run one after another instead: on a
/// real cluster, nodes share their sessions, and two connections with one client id at once
/// would take each other's session over.
async fn run_nodes(
    ctx: &Context<'_>,
    addresses: &[SocketAddr],
    node_stages: &[Stage],
) -> Vec<(SocketAddr, Chain, Observations)> {
    let one = |address: SocketAddr| {
        let mut node_ctx = ctx.for_node(address);
        async move {
            let mut chain = Chain::default();
            for stage in node_stages {
                chain.run(*stage, &mut node_ctx).await;
            }
            (address, chain, node_ctx.observed)
        }
    };
    if ctx.config.mqtt.client_id.is_some() {
        let mut done = Vec::with_capacity(addresses.len());
        for address in addresses {
            done.push(one(*address).await);
        }
        done
    } else {
        futures_util::future::join_all(addresses.iter().map(|a| one(*a))).await
    }
}

/// Secrets the auth stage read from files are known only once it ran.
fn redactor_for(config: &DoctorConfig, ctx: &Context<'_>) -> Redactor {
    let mut redactor = Redactor::for_config(config);
    if let Some(credentials) = &ctx.credentials {
        let username = credentials.username.as_deref();
        if let Some(password) = &credentials.password {
            redactor.add_login(username, password, "password");
        }
        if let Some(token) = &credentials.token {
            redactor.add_login(username, token, "token");
        }
    }
    redactor
}

/// A stage's status from its findings: the worst, with information counting as a pass.
fn stage_status(findings: &[Finding]) -> Status {
    match findings
        .iter()
        .fold(Status::Pass, |acc, f| acc.max(f.status))
    {
        Status::Info => Status::Pass,
        worst => worst,
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
/// The same holds for what the cluster's resources predicted about the credentials (a resources
/// file from another cluster, or an old one); what they say of the host, port and TLS stands.
fn clear_suspicions(stages: &mut [StageRun], findings: &mut [Finding]) {
    use crate::findings::registry::{
        K8S_AUDIENCE_REJECTED, K8S_AUTH_METHOD_MISMATCH, K8S_CONNECT_DENIED,
    };
    let connected = findings
        .iter()
        .any(|f| f.def.id == crate::findings::registry::MQTT_CONNECTED.id);
    if !connected {
        return;
    }
    let suspicion = |f: &Finding| {
        f.status == Status::Fail
            && (f.stage() == Stage::Auth
                || [
                    K8S_AUDIENCE_REJECTED.id,
                    K8S_AUTH_METHOD_MISMATCH.id,
                    K8S_CONNECT_DENIED.id,
                ]
                .contains(&f.id()))
    };
    let mut cleared = Vec::new();
    for finding in findings.iter_mut().filter(|f| suspicion(f)) {
        finding.status = Status::Info;
        finding.detail.push_str(
            " The broker accepted the connection all the same, so this did not stop it here.",
        );
        if !cleared.contains(&finding.stage()) {
            cleared.push(finding.stage());
        }
    }
    for stage in cleared {
        if let Some(run) = stages.iter_mut().find(|s| s.stage == stage) {
            let worst = findings
                .iter()
                .filter(|f| f.stage() == stage)
                .fold(Status::Pass, |acc, f| acc.max(f.status));
            run.status = if worst == Status::Info {
                Status::Pass
            } else {
                worst
            };
        }
    }
}

fn skipped(stage: Stage, summary: String) -> StageRun {
    StageRun {
        stage,
        node: None,
        status: Status::Skip,
        duration: Duration::ZERO,
        summary,
    }
}

/// Picks the root cause: the first failing finding of the lowest stage (with `--strict`, the
/// first warning counts too). A finding is filed under its own stage even when a later one saw
/// it, so the lowest broken layer wins; within a stage, the first finding does. The credential
/// checks come before the MQTT stage, so a refused CONNECT whose token was already found wanting
/// (`token.audience_mismatch`) has that token finding as its root cause. `label` names what was
/// checked: the target, or one node.
fn verdict<'a, I>(label: &str, strict: bool, stages: &[StageRun], findings: I) -> Verdict
where
    I: Iterator<Item = &'a Finding> + Clone,
{
    if let Some(root) = root_cause(findings.clone(), strict) {
        return failed(root);
    }
    let mut ran: Vec<&str> = Vec::new();
    for stage in stages.iter().filter(|s| s.status != Status::Skip) {
        if !ran.contains(&stage.stage.name()) {
            ran.push(stage.stage.name());
        }
    }
    let warnings: Vec<&Finding> = findings.filter(|f| f.status == Status::Warn).collect();
    if let Some(first) = warnings.first() {
        let more = match warnings.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Verdict {
            status: Status::Warn,
            root_cause: None,
            summary: format!(
                "{label} is reachable with a warning: {}{more}",
                first.def.title
            ),
        };
    }
    Verdict {
        status: Status::Pass,
        root_cause: None,
        summary: format!("{label} passed every check that ran ({})", ran.join(", ")),
    }
}

/// The verdict over a whole target. With several nodes, what holds for the target (DNS, the
/// credentials, the comparison) decides: the comparison names the failing nodes and says what
/// share of connections fails (a failure, or a warning when only TCP connects fail, which a
/// client that tries the next address gets past), where one node's refusal alone would hide
/// the nodes that work. When every node fails, the lowest failing finding of any node is the
/// root cause, as for one node.
fn target_verdict(
    label: &str,
    strict: bool,
    stages: &[StageRun],
    findings: &[Finding],
    nodes: &[NodeRun],
) -> Verdict {
    if nodes.len() < 2 {
        return verdict(label, strict, stages, findings.iter());
    }
    let all_fail = nodes.iter().all(|n| n.verdict.status == Status::Fail);
    if all_fail && let Some(root) = root_cause(findings.iter(), strict) {
        let mut verdict = failed(root);
        verdict.summary = format!("all {} nodes fail. {}", nodes.len(), verdict.summary);
        return verdict;
    }
    // A failing node's own failures stand in the comparison's finding.
    let considered = findings
        .iter()
        .filter(|f| f.node.is_none() || f.status != Status::Fail);
    let mut verdict = verdict(label, strict, stages, considered);
    if verdict.status == Status::Pass {
        verdict.summary = format!("{} on all {} nodes", verdict.summary, nodes.len());
    }
    verdict
}

/// The failing finding of the lowest stage, the first of its stage.
fn root_cause<'a>(
    findings: impl Iterator<Item = &'a Finding>,
    strict: bool,
) -> Option<&'a Finding> {
    let layer = |f: &&Finding| Stage::ALL.iter().position(|s| *s == f.stage());
    findings
        .filter(|f| f.status.fails(strict))
        .min_by_key(layer)
}

fn failed(root: &Finding) -> Verdict {
    let node = root
        .node
        .map(|address| format!(" (node {address})"))
        .unwrap_or_default();
    Verdict {
        status: Status::Fail,
        root_cause: Some(root.id()),
        summary: format!("{}{node}: {}", root.def.title, root.headline()),
    }
}

/// One node of a `--cluster`, as kept from its target's outcome until every target is done:
/// a few hundred bytes, where the outcome is kilobytes.
#[derive(Clone, Debug)]
pub struct ClusterNode {
    /// The target's URL.
    pub target: String,
    /// `None` for a target that resolved to nothing.
    pub address: Option<SocketAddr>,
    pub verdict: Verdict,
    pub observed: Observations,
    /// The target has more than one node, so the address is part of the node's name.
    several: bool,
}

impl ClusterNode {
    /// How the comparison names the node: the target, and its address when the target has
    /// several.
    pub fn label(&self) -> String {
        match (self.several, self.address) {
            (true, Some(address)) => format!("{} {address}", self.target),
            _ => self.target.clone(),
        }
    }
}

impl Outcome {
    /// The nodes this target brings to a `--cluster`: each of its nodes, or the target itself
    /// when it has none (its name did not resolve), with its verdict.
    pub fn cluster_nodes(&self) -> Vec<ClusterNode> {
        let target = self.config.target.url();
        if self.nodes.is_empty() {
            return vec![ClusterNode {
                target,
                address: None,
                verdict: self.verdict.clone(),
                observed: Observations::default(),
                several: false,
            }];
        }
        let several = self.nodes.len() > 1;
        self.nodes
            .iter()
            .map(|node| ClusterNode {
                target: target.clone(),
                address: Some(node.address),
                verdict: node.verdict.clone(),
                observed: node.observed.clone(),
                several,
            })
            .collect()
    }
}

/// The comparison of a `--cluster`'s targets.
#[derive(Debug)]
pub struct ClusterOutcome {
    pub verdict: Verdict,
    pub nodes: Vec<ClusterNode>,
    pub findings: Vec<Finding>,
}

/// Compares the nodes of every target of a `--cluster` as the nodes of one target are
/// compared. The verdict: the comparison's failure (some nodes fail), or when every node
/// fails, the first node's root cause; a warning when they differ; a pass when they agree.
pub fn compare_cluster(nodes: Vec<ClusterNode>, strict: bool) -> ClusterOutcome {
    let labels: Vec<String> = nodes.iter().map(ClusterNode::label).collect();
    let views: Vec<NodeView> = nodes
        .iter()
        .zip(&labels)
        .map(|(node, label)| NodeView {
            label: label.clone(),
            address: node.address,
            status: node.verdict.status,
            root_cause: node.verdict.root_cause,
            summary: &node.verdict.summary,
            observed: &node.observed,
        })
        .collect();
    let comparison = stages::cluster::compare(&views, None);
    let all_fail = nodes.iter().all(|n| n.verdict.status == Status::Fail);
    let verdict = match root_cause(comparison.findings.iter(), strict) {
        Some(root) => failed(root),
        None if all_fail => Verdict {
            status: Status::Fail,
            root_cause: nodes.first().and_then(|n| n.verdict.root_cause),
            summary: format!("all {} nodes of the cluster fail", nodes.len()),
        },
        None if comparison.findings.iter().any(|f| f.status == Status::Warn) => Verdict {
            status: Status::Warn,
            root_cause: None,
            summary: format!(
                "the cluster's nodes pass but differ: {}",
                comparison.summary
            ),
        },
        None => Verdict {
            status: Status::Pass,
            root_cause: None,
            summary: format!("the cluster's {}", comparison.summary),
        },
    };
    ClusterOutcome {
        verdict,
        nodes,
        findings: comparison.findings,
    }
}
