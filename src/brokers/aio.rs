//! Azure IoT Operations' MQTT broker. From Microsoft's Azure IoT Operations documentation: the
//! default listener is service `aio-broker` in namespace `azure-iot-operations`, port 18883, TLS;
//! clients authenticate with MQTT 5 enhanced authentication, method `K8S-SAT`, a projected
//! ServiceAccountToken with audience `aio-internal`; the code for a rejected token is not
//! documented (0x86 and 0x87 are both seen); on token expiry it closes without a DISCONNECT.

use super::{Broker, Causes, Clues, Family, Fixes, Sighting, v3, v5};
use crate::presets::{AIO_AUDIENCE, AIO_TOKEN, Preset, Setting, Value};
use crate::reason_codes::Protocol;
use crate::target::Scheme;

/// The default listener's port.
pub const PORT: u16 = 18883;

const CAUSES: &[Causes] = &[
    v3(
        4,
        &[
            "the ServiceAccountToken was rejected: wrong audience (must be aio-internal), expired, or a service account the BrokerAuthentication does not allow",
        ],
    ),
    v3(
        5,
        &["the ServiceAccountToken was rejected (audience, expiry, service account)"],
    ),
    v5(
        0x86,
        &[
            "the ServiceAccountToken's audience is not one the BrokerAuthentication accepts (aio-internal by default)",
            "the token expired: the client kept an old copy instead of re-reading the file, or the file is a subPath mount the kubelet never refreshes",
            "the service account is not the one the broker's authorization expects",
        ],
    ),
    v5(
        0x87,
        &[
            "the ServiceAccountToken was rejected (audience, expiry, service account); AIO does not document which code it sends",
        ],
    ),
    v5(
        0x8C,
        &[
            "the listener's BrokerAuthentication lacks the service-account-token method, or the method name is not exactly K8S-SAT",
        ],
    ),
];

fn recognise(clues: &Clues) -> Option<Sighting> {
    let sat = clues.auth_method.as_deref() == Some("K8S-SAT");
    if sat && clues.connack == Some((Protocol::V5, 0)) {
        return Sighting::identified(
            "it accepted enhanced authentication with method K8S-SAT, which only Azure IoT \
             Operations implements",
        );
    }
    (sat && clues.port == PORT).then_some(()).and_then(|_| {
        Sighting::likely(
            "port 18883, Azure IoT Operations' default, and authentication method K8S-SAT",
        )
    })
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Aio,
    name: "Azure IoT Operations",
    id: "aio",
    aliases: &["azure-iot-operations", "azure"],
    preset: Preset {
        broker: Broker::Aio,
        title: "Azure IoT Operations MQTT broker, from a pod in the cluster",
        target: "aio-broker.azure-iot-operations.svc.cluster.local",
        scheme: Scheme::Mqtts,
        port: PORT,
        settings: &[
            Setting {
                option: "cafile",
                value: Value::FileIfPresent("/var/run/certs/ca.crt"),
                why: "the trust bundle (ConfigMap azure-iot-operations-aio-ca-trust-bundle, key ca.crt) where clients mount it",
            },
            Setting {
                option: "token-file",
                value: Value::File(AIO_TOKEN),
                why: "the projected ServiceAccount token; in a pod, another projected token with audience aio-internal is used when this one is missing",
            },
            Setting {
                option: "auth-method",
                value: Value::Text("K8S-SAT"),
                why: "MQTT 5 enhanced authentication with the token as data",
            },
            Setting {
                option: "audience",
                value: Value::Text(AIO_AUDIENCE),
                why: "the audience BrokerAuthentication accepts by default",
            },
            Setting {
                option: "mqtt-version",
                value: Value::Text("5"),
                why: "enhanced authentication exists only in MQTT 5",
            },
            Setting {
                option: "broker",
                value: Value::Text("aio"),
                why: "rank causes as Azure IoT Operations shows them",
            },
        ],
        notes: "Listener: service aio-broker in namespace azure-iot-operations, port 18883, TLS. \
                From the azure-iot-operations namespace the short name aio-broker works too. \
                A token the broker rejects comes back as CONNACK 0x86 or 0x87.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Check the token against the listener's BrokerAuthentication: `kubectl get \
                      brokerauthentication -n azure-iot-operations -o yaml` lists the accepted \
                      audiences (keep aio-internal); the token must be a projected \
                      serviceAccountToken with that audience, re-read from its file on every \
                      connect.",
        publish_denied: "Add a Publish rule for the topic to the BrokerAuthorization's \
                         authorizationPolicies for this client's principal (`kubectl edit \
                         brokerauthorization -n azure-iot-operations`).",
        subscribe_denied: "Add a Subscribe rule for the filter to the BrokerAuthorization's \
                           authorizationPolicies for this client's principal (`kubectl edit \
                           brokerauthorization -n azure-iot-operations`).",
        delivery_lost: "Check the BrokerAuthorization's Publish and Subscribe rules for this \
                        client's principal on both sides (`kubectl get brokerauthorization -n \
                        azure-iot-operations -o yaml`).",
        tls: "Trust the broker's CA: the ConfigMap azure-iot-operations-aio-ca-trust-bundle, \
              key ca.crt (`kubectl get configmap azure-iot-operations-aio-ca-trust-bundle -n \
              azure-iot-operations -o jsonpath='{.data.ca\\.crt}'`); the BrokerListener's port \
              sets the TLS mode.",
        connection_limits: "Check the Broker resource's cardinality (frontend replicas and \
                            workers) and the broker pods' health: `kubectl get pods -n \
                            azure-iot-operations`.",
        client_id_taken: "The broker's frontend pod logs name the session taken over: give every \
                          client (and every pod replica) an id of its own.",
    },
    quirks: &[
        "authentication is MQTT 5 enhanced authentication, method K8S-SAT, the token as data",
        "on token expiry the broker closes the connection without a DISCONNECT",
        "the CONNACK code for a rejected token is not documented: 0x86 or 0x87",
    ],
    recognise,
};
