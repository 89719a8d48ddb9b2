//! What the stages share and hand back: the [`Context`] of one run (the configuration, the
//! clock, and what earlier stages established), the [`Budget`] of one network step, and the
//! [`StageOutput`] each stage returns to the pipeline. Below every stage and the pipeline, so
//! that neither imports the other for them.

use std::net::SocketAddr;
use std::time::Duration;

// tokio's clock: a step's end is a tokio timer, and a test or fuzz target may pause it.
use tokio::time::Instant;

pub(crate) use crate::budget::Budget;
use crate::config::DoctorConfig;
use crate::findings::Finding;
use crate::limits::LocalFailure;
use crate::observations::Observations;
use crate::secret::Secret;
use crate::transport::{Connection, Dialer, Peer, Transport};

/// What a stage hands back to the pipeline.
#[derive(Debug)]
pub(crate) struct StageOutput {
    pub summary: String,
    pub findings: Vec<Finding>,
    /// The stage had nothing to do here (e.g. DNS for an IP literal); its dependents still run.
    pub not_applicable: bool,
    /// The stage could not do its work for want of the doctor's own resources; its dependents
    /// are skipped, and the run ends as an error of the doctor's environment.
    pub local_failure: Option<LocalFailure>,
}

impl StageOutput {
    pub fn done(summary: impl Into<String>, findings: Vec<Finding>) -> Self {
        StageOutput {
            summary: summary.into(),
            findings,
            not_applicable: false,
            local_failure: None,
        }
    }

    pub fn not_applicable(summary: impl Into<String>) -> Self {
        StageOutput {
            summary: summary.into(),
            findings: Vec::new(),
            not_applicable: true,
            local_failure: None,
        }
    }

    /// The stage did not check the target: `failure` stopped it. `summary` says so.
    pub fn local_failure(summary: impl Into<String>, failure: LocalFailure) -> Self {
        StageOutput {
            summary: summary.into(),
            findings: Vec::new(),
            not_applicable: false,
            local_failure: Some(failure),
        }
    }
}

/// What the MQTT stage sends, as the auth stage read it. The token is trimmed of surrounding
/// whitespace, as a shell's `$(cat FILE)` does.
#[derive(Clone, Debug, Default)]
pub(crate) struct Credentials {
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    /// A credential the user gave could not be read: connecting without it would only show a
    /// refusal whose cause is already known.
    pub unusable: Option<String>,
}

/// What the stages share: the configuration, the clock, and what earlier stages established.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    pub config: &'a DoctorConfig,
    /// On tokio's clock, which the steps' timers use (and which a test or fuzz target may
    /// pause).
    deadline: Instant,
    /// Addresses to connect to, in the order a client would try them: the broker's, or the
    /// proxy's.
    pub addresses: Vec<SocketAddr>,
    /// With a SOCKS5 proxy that is given addresses: the broker's, resolved here.
    pub broker_addresses: Vec<SocketAddr>,
    pub connection: Option<Connection>,
    /// How the lower stages connected (the proxy's tunnel, TLS, the WebSocket upgrade), so that
    /// a later stage can open another connection the same way: a side probe, or the MQTT
    /// stage's retry with MQTT 3.1.1.
    pub dialer: Dialer,
    /// What the auth stage read, for the MQTT stage to send.
    pub credentials: Option<Credentials>,
    /// The typed facts the connection chain gathered, for the node comparison and the report.
    pub observed: Observations,
    /// The address the TCP stage connected to (the proxy's, through a proxy).
    pub connected_to: Option<SocketAddr>,
    /// The running stage's token for the live status line (see [`crate::progress`]).
    pub progress: u64,
    /// The node this context's chain checks, when the target's nodes are checked one by one.
    pub node: Option<SocketAddr>,
}

impl<'a> Context<'a> {
    /// A context before any stage ran, for a run that ends at `deadline`.
    pub fn new(config: &'a DoctorConfig, deadline: Instant) -> Context<'a> {
        Context {
            config,
            deadline,
            addresses: Vec::new(),
            broker_addresses: Vec::new(),
            connection: None,
            dialer: Dialer::default(),
            credentials: None,
            observed: Observations::default(),
            connected_to: None,
            progress: 0,
            node: None,
        }
    }

    /// A context for one node's connection chain: this one's clock and credentials, with
    /// `address` as the only address and nothing connected yet.
    pub fn for_node(&self, address: SocketAddr) -> Context<'a> {
        Context {
            config: self.config,
            deadline: self.deadline,
            addresses: vec![address],
            broker_addresses: Vec::new(),
            connection: None,
            dialer: Dialer::default(),
            credentials: self.credentials.clone(),
            // The name was resolved once for all nodes: each node's waterfall starts with it.
            observed: Observations {
                dns_ms: self.observed.dns_ms,
                ..Observations::default()
            },
            connected_to: None,
            progress: 0,
            node: Some(address),
        }
    }
}

impl Context<'_> {
    /// Opens a new connection to `peer` as the TCP and proxy stages did (see
    /// [`Dialer::open_raw`]).
    pub async fn open_raw(&self, peer: &Peer) -> std::io::Result<Box<dyn Transport>> {
        self.dialer.open_raw(peer).await
    }

    /// Opens a new connection to `peer` with every layer the stages put up (see
    /// [`Dialer::reconnect`]).
    pub async fn reconnect(&self, peer: &Peer) -> std::io::Result<Box<dyn Transport>> {
        self.dialer.reconnect(self.config, peer).await
    }

    /// When the run ends, on tokio's clock.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// What is left of the run's deadline.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// A new step's budget: `--timeout` from now, or what is left of the run if less. The
    /// live status line counts the step from here.
    pub fn budget(&self) -> Budget {
        let budget = Budget::new(self.config.timeout, self.deadline);
        crate::progress::step_started(self.progress, budget.timeout);
        budget
    }

    /// What the status line names as the stage's peer: the address it talks to, or the name.
    pub fn peer_label(&self, stage: crate::stage::Stage) -> String {
        use crate::stage::Stage;
        let target = &self.config.target;
        match (stage, self.addresses.as_slice(), self.connected_to) {
            (Stage::K8s | Stage::Dns | Stage::Auth | Stage::Cluster, _, _) => {
                target.host.to_string()
            }
            (Stage::Tcp, [one], _) => one.to_string(),
            (Stage::Tcp, _, _) => format!("{}:{}", target.host, target.port),
            (_, _, Some(address)) => address.to_string(),
            (_, _, None) => format!("{}:{}", target.host, target.port),
        }
    }
}
