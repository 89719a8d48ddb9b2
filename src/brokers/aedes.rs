//! aedes, the Node.js broker library. Observed by this project's tests against aedes 0.51.3
//! (tests/families.rs): it speaks MQTT 3.1.1 only and answers an MQTT 5 CONNECT with a
//! 3.1.1-format CONNACK 1; a refused `authenticate` hook is return code 5 (the hook may choose
//! 2 to 5); a denied publish closes the connection; a denied subscribe is SUBACK 0x80.

use super::{Broker, Causes, Clues, Family, Fixes, Mqtt5Answer, Mqtt31Answer, Sighting, v3};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

const CAUSES: &[Causes] = &[
    v3(
        1,
        &["aedes speaks no MQTT 5 and answers it with return code 1: connect with MQTT 3.1.1"],
    ),
    v3(
        4,
        &["the application's `authenticate` hook refused the credentials and set return code 4"],
    ),
    v3(
        5,
        &[
            "the application's `authenticate` hook refused the credentials (aedes's default return code for a refusal is 5)",
        ],
    ),
];

fn recognise(clues: &Clues) -> Option<Sighting> {
    if clues.mqtt5_answer != Some(Mqtt5Answer::V311Connack(1)) {
        return None;
    }
    match clues.mqtt31_answer {
        // aedes speaks MQTT 3.1 (tests/brokers.rs saw its return code 5 to one without
        // credentials); amqtt closes the connection on it.
        Some(Mqtt31Answer::Connack(code)) if code != 1 => Sighting::likely(
            "it answered the MQTT 5 CONNECT with a 3.1.1-format CONNACK 1 and answered MQTT 3.1 \
             with a CONNACK, as aedes does (amqtt closes the connection on MQTT 3.1)",
        ),
        Some(_) => None,
        None => Sighting::likely(
            "it answered the MQTT 5 CONNECT with a 3.1.1-format CONNACK 1 and accepted \
             MQTT 3.1.1, as aedes does (and Mosquitto before 1.6; amqtt too when the CONNECT \
             has no username)",
        ),
    }
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Aedes,
    name: "aedes",
    id: "aedes",
    aliases: &[],
    preset: Preset {
        broker: Broker::Aedes,
        title: "aedes (Node.js)",
        target: "localhost",
        scheme: Scheme::Mqtt,
        port: 1883,
        settings: &[
            Setting {
                option: "mqtt-version",
                value: Value::Text("3.1.1"),
                why: "aedes speaks MQTT 3.1.1 only",
            },
            Setting {
                option: "broker",
                value: Value::Text("aedes"),
                why: "rank causes as aedes shows them (its application's hooks decide)",
            },
        ],
        notes: "aedes is a library: its application's authenticate, authorizePublish and \
                authorizeSubscribe hooks decide who may connect and what. A denied publish \
                closes the connection.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "The application's `authenticate(client, username, password, callback)` \
                      hook refused the client: check the user store it reads, and the hook's \
                      `returnCode` on error.",
        publish_denied: "aedes closes the connection on a publish the `authorizePublish` hook \
                         refuses: make the hook call back without an error for this client and \
                         topic.",
        subscribe_denied: "The `authorizeSubscribe` hook refused the filter (SUBACK 0x80): make \
                           it call back with the subscription instead of an error or null.",
        delivery_lost: "Check the `authorizePublish` and `authorizeSubscribe` hooks for this \
                        client on both sides, and `authorizeForward`, which may drop messages \
                        silently.",
        tls: "aedes runs behind the application's own server: check the key, cert and ca \
              passed to `tls.createServer`.",
        connection_limits: "aedes has no connection limit of its own: check the application's \
                            server (`server.maxConnections`) and the process's file limit.",
        client_id_taken: "aedes closes the older connection of a client id; an `authenticate` \
                          hook that refuses an id already in `aedes.clients` stops two clients \
                          taking turns: give every device an id of its own.",
    },
    quirks: &[
        "no MQTT 5: a v5 CONNECT gets a 3.1.1 CONNACK 1",
        "a denied publish closes the connection; a denied subscribe is SUBACK 0x80",
        "return codes come from the application's hooks",
    ],
    recognise,
};
