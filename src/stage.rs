//! The stages of the pipeline, by name: what every finding is filed under, which the findings
//! registry, the reports and the pipeline all name. A module of its own, below all of them, so
//! that a finding can say its stage without importing the pipeline that runs it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::DoctorConfig;

/// A stage of the pipeline, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The client's settings against Azure IoT Operations' resources (`--k8s-resources`),
    /// before any connection.
    K8s,
    Dns,
    Tcp,
    Proxy,
    Tls,
    Websocket,
    Auth,
    Mqtt,
    /// The comparison of a target's nodes (or a `--cluster`'s targets), after every node ran.
    Cluster,
}

impl Stage {
    /// Every stage, in run order.
    pub const ALL: [Stage; 9] = [
        Stage::K8s,
        Stage::Dns,
        Stage::Tcp,
        Stage::Proxy,
        Stage::Tls,
        Stage::Websocket,
        Stage::Auth,
        Stage::Mqtt,
        Stage::Cluster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::K8s => "k8s",
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Proxy => "proxy",
            Stage::Tls => "tls",
            Stage::Websocket => "websocket",
            Stage::Auth => "auth",
            Stage::Mqtt => "mqtt",
            Stage::Cluster => "cluster",
        }
    }

    /// The prefixes of the finding ids filed under this stage: its name, for the auth stage
    /// `token` too (a token is checked the same way by `token inspect`) and `pod` (the tokens a
    /// pod has mounted), and for the MQTT stage
    /// the topic (`acl`) and session checks it runs over its connection.
    pub fn id_prefixes(self) -> &'static [&'static str] {
        match self {
            Stage::K8s => &["k8s"],
            Stage::Dns => &["dns"],
            Stage::Tcp => &["tcp"],
            Stage::Proxy => &["proxy"],
            Stage::Tls => &["tls"],
            Stage::Websocket => &["ws"],
            Stage::Auth => &["auth", "token", "pod"],
            Stage::Mqtt => &["mqtt", "acl", "session"],
            Stage::Cluster => &["cluster"],
        }
    }

    /// Whether the stage belongs in this run at all. The transport layers that the target does
    /// not use are left out of the report rather than listed as skipped: a plain `mqtt://` run
    /// without any proxy configured reads as it always has. A proxy in the environment that is
    /// not used for this target keeps its stage, which says why.
    pub(crate) fn applies(self, config: &DoctorConfig) -> bool {
        match self {
            Stage::Proxy => !matches!(config.proxy, crate::proxy::ProxyChoice::None),
            Stage::Websocket => config.target.scheme.is_websocket(),
            Stage::K8s => config.k8s.is_some(),
            // Only a target with several nodes has one; the pipeline adds it after them.
            Stage::Cluster => false,
            _ => true,
        }
    }

    /// The stages whose failure makes this one pointless.
    pub(crate) fn depends_on(self) -> &'static [Stage] {
        match self {
            // Compared offline: what it finds stands whatever the network does.
            Stage::K8s => &[],
            Stage::Dns => &[],
            Stage::Tcp => &[Stage::Dns],
            Stage::Proxy => &[Stage::Tcp],
            Stage::Tls => &[Stage::Tcp, Stage::Proxy],
            Stage::Websocket => &[Stage::Tcp, Stage::Proxy, Stage::Tls],
            // Credentials are checked offline, so their findings stand even when the broker
            // cannot be reached.
            Stage::Auth => &[],
            Stage::Mqtt => &[Stage::Tcp, Stage::Proxy, Stage::Tls, Stage::Websocket],
            Stage::Cluster => &[],
        }
    }
}
