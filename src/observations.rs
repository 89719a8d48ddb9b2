//! What one node's connection chain observed, as typed values: times as milliseconds, the
//! server certificate's facts with its expiry as a Unix timestamp, the CONNACK's code and
//! capabilities as numbers. The stages fill them in as they go; the node comparison reads them,
//! and the JSON report carries them as they are, so that a consumer (a metrics exporter, a
//! dashboard) never has to parse a finding's prose or evidence for a number.
//!
//! Below the stages, the pipeline and the report, so that all three use it without importing
//! each other.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::certs::CertSummary;

/// One node's typed facts. A field is absent when its stage did not get that far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observations {
    /// Resolving the name the connection goes to (the broker's, or the proxy's), in
    /// milliseconds: the system resolver's answer where it was asked, else DNS's. Absent for an
    /// IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_ms: Option<f64>,
    /// The TCP connect, in milliseconds: about one round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    /// The proxy's tunnel (HTTP CONNECT or SOCKS5), in milliseconds, when it opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_ms: Option<f64>,
    /// The TLS handshake, in milliseconds, when it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake_ms: Option<f64>,
    /// The server's leaf certificate, whether or not it was trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateFacts>,
    /// The WebSocket upgrade (HTTP request to 101 response), in milliseconds, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_ms: Option<f64>,
    /// CONNECT sent to CONNACK received, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connack_ms: Option<f64>,
    /// The first QoS 1 PUBLISH sent to its PUBACK, in milliseconds, when `--publish` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub puback_ms: Option<f64>,
    /// The first PINGREQ sent to its PINGRESP, in milliseconds: the broker's round trip once
    /// connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_ms: Option<f64>,
    /// A second CONNECT's CONNACK, in milliseconds, sent after a pause on a new connection: made
    /// only when the first CONNACK came in the delay that Nagle's algorithm meeting delayed
    /// ACKs causes (see the finding `mqtt.nagle_delay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connack_after_pause_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connack: Option<ConnackFacts>,
}

impl Observations {
    /// The connection's steps in the order a client goes through them, each with its time in
    /// milliseconds: those that happened.
    pub fn waterfall(&self) -> Vec<(&'static str, f64)> {
        [
            ("dns", self.dns_ms),
            ("tcp", self.connect_ms),
            ("proxy", self.proxy_ms),
            ("tls", self.tls_handshake_ms),
            ("websocket", self.websocket_ms),
            ("connack", self.connack_ms),
            ("puback", self.puback_ms),
            ("ping", self.ping_ms),
        ]
        .into_iter()
        .filter_map(|(step, ms)| Some((step, ms?)))
        .collect()
    }

    /// From nothing to connected: every step up to and including the CONNACK.
    pub fn to_connack_ms(&self) -> Option<f64> {
        let connack = self.connack_ms?;
        Some(
            [
                self.dns_ms,
                self.connect_ms,
                self.proxy_ms,
                self.tls_handshake_ms,
                self.websocket_ms,
            ]
            .into_iter()
            .flatten()
            .sum::<f64>()
                + connack,
        )
    }
}

/// A server certificate as the comparison of nodes needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateFacts {
    /// SHA-256 of the DER encoding, lower-case hex: what tells two certificates apart.
    pub sha256: String,
    pub subject: String,
    pub issuer: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    /// The end of validity, in seconds since the Unix epoch.
    pub not_after: i64,
    /// The client trusted it (chain, name and dates): `false` for a certificate the handshake
    /// refused.
    pub trusted: bool,
}

impl CertificateFacts {
    pub fn new(leaf: &CertSummary, trusted: bool) -> CertificateFacts {
        CertificateFacts {
            sha256: leaf.sha256.clone(),
            subject: leaf.subject.clone(),
            issuer: leaf.issuer.clone(),
            dns_names: leaf.dns_names.clone(),
            ip_addresses: leaf.ip_addresses.iter().map(|ip| ip.to_string()).collect(),
            not_after: leaf.not_after,
            trusted,
        }
    }
}

/// The broker's answer to the CONNECT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnackFacts {
    /// `5` or `3.1.1`: the protocol of the answer.
    pub protocol: String,
    /// The reason code (MQTT 5) or return code (3.1.1); 0 is success.
    pub code: u8,
    /// What the broker announced in its CONNACK properties (MQTT 5 only).
    pub capabilities: Capabilities,
    /// The broker family the doctor recognised, when it could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
    /// How sure the doctor is of `broker`: `given` (with --broker or a preset), `identified`
    /// (something only that family sends), `likely` (its defaults or behaviour), or `unknown`
    /// (then `broker` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_confidence: Option<crate::broker_id::Confidence>,
}

/// The CONNACK properties that say what a client may do on this broker. Absent means the
/// broker did not send the property (MQTT 5 then defines the default; 3.1.1 has none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_packet_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_maximum: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_qos: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_available: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_alias_maximum: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wildcard_subscription_available: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_subscription_available: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_identifiers_available: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_keep_alive: Option<u16>,
}

impl Capabilities {
    /// Each capability by its property name, with its value as a report states it: `default`
    /// for one the broker did not send.
    pub fn rows(&self) -> [(&'static str, String); 9] {
        fn show<T: ToString>(value: Option<T>) -> String {
            value.map_or_else(|| "default".to_string(), |v| v.to_string())
        }
        [
            ("maximum_packet_size", show(self.maximum_packet_size)),
            ("receive_maximum", show(self.receive_maximum)),
            ("maximum_qos", show(self.maximum_qos)),
            ("retain_available", show(self.retain_available)),
            ("topic_alias_maximum", show(self.topic_alias_maximum)),
            (
                "wildcard_subscription_available",
                show(self.wildcard_subscription_available),
            ),
            (
                "shared_subscription_available",
                show(self.shared_subscription_available),
            ),
            (
                "subscription_identifiers_available",
                show(self.subscription_identifiers_available),
            ),
            ("server_keep_alive", show(self.server_keep_alive)),
        ]
    }
}
