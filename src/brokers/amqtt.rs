//! amqtt (formerly HBMQTT), the Python broker. Observed by this project's tests against amqtt
//! 0.12.1 (tests/brokers.rs, tests/families.rs): it speaks MQTT 3.1.1 only; an MQTT 5 CONNECT
//! with a username gets no answer (it waits for more bytes), one without credentials a 3.1.1
//! CONNACK 1; a wrong password is return code 5; a denied publish is
//! acknowledged and silently dropped; a denied subscribe is SUBACK 0x80.

use super::{Broker, Causes, Clues, Family, Fixes, Mqtt5Answer, Mqtt31Answer, Sighting, v3};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

const CAUSES: &[Causes] = &[v3(
    5,
    &[
        "wrong password or unknown user in the password file of the `auth` section (`password-file`), or `allow-anonymous: false` with no username",
    ],
)];

/// amqtt 0.12 waits in silence on an MQTT 5 CONNECT that carries a username, and answers one
/// without credentials with a 3.1.1-format CONNACK 1, as aedes does (seen on the wire by
/// tests/brokers.rs): the second alone does not tell the two apart.
fn recognise(clues: &Clues) -> Option<Sighting> {
    match clues.mqtt5_answer {
        Some(Mqtt5Answer::Silent) => Sighting::likely(
            "it never answered the MQTT 5 CONNECT and accepted MQTT 3.1.1, as amqtt does",
        ),
        // With a username amqtt would have stayed silent: then the CONNACK 1 is aedes's.
        Some(Mqtt5Answer::V311Connack(1)) if !clues.username_sent => match clues.mqtt31_answer {
            // amqtt reads the protocol name and closes on anything but `MQTT`
            // (tests/brokers.rs); aedes answers MQTT 3.1.
            Some(Mqtt31Answer::Closed) => Sighting::likely(
                "it answered the MQTT 5 CONNECT with a 3.1.1-format CONNACK 1 and closed the \
                 connection on MQTT 3.1 without a CONNACK, as amqtt does (aedes answers MQTT 3.1)",
            ),
            Some(_) => None,
            None => Sighting::likely(
                "it answered the MQTT 5 CONNECT with a 3.1.1-format CONNACK 1, as amqtt does to \
                 a client without credentials",
            ),
        },
        _ => None,
    }
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Amqtt,
    name: "amqtt",
    id: "amqtt",
    aliases: &["hbmqtt"],
    preset: Preset {
        broker: Broker::Amqtt,
        title: "amqtt (Python, formerly HBMQTT)",
        target: "localhost",
        scheme: Scheme::Mqtt,
        port: 1883,
        settings: &[
            Setting {
                option: "mqtt-version",
                value: Value::Text("3.1.1"),
                why: "amqtt speaks MQTT 3.1.1 only, and leaves an MQTT 5 CONNECT with a username unanswered",
            },
            Setting {
                option: "broker",
                value: Value::Text("amqtt"),
                why: "rank causes as amqtt shows them (silent publish denials)",
            },
        ],
        notes: "amqtt acknowledges a publish it may not forward and drops it: add --subscribe \
                and --publish on the same topic so the round trip shows it.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Check the user in the password file the broker's `auth` section names \
                      (`password-file`, lines `user:hash` made with the hashing amqtt \
                      accepts), and `allow-anonymous`.",
        publish_denied: "Allow the topic for this user under `topic-check` → `publish-acl` in \
                         the amqtt broker configuration (`topic-check.enabled: true`).",
        subscribe_denied: "Allow the filter for this user under `topic-check` → `acl` in the \
                           amqtt broker configuration (`topic-check.enabled: true`).",
        delivery_lost: "amqtt acknowledges a publish its topic check refuses and drops it: \
                        allow the topic under `topic-check` → `publish-acl` and the filter \
                        under `acl` in the amqtt broker configuration.",
        tls: "Check the listener's `ssl: on`, `certfile` and `keyfile` (and `cafile`) in the \
              amqtt broker configuration.",
        connection_limits: "Check the listener's `max-connections` in the amqtt broker \
                            configuration.",
        client_id_taken: "amqtt keeps both clean-session connections of a client id open (against \
                          the specification), so a drop here is a client connecting with clean \
                          session off: give every device an id of its own.",
    },
    quirks: &[
        "no MQTT 5: a v5 CONNECT is never answered",
        "a denied publish is acknowledged and dropped; a denied subscribe is SUBACK 0x80",
    ],
    recognise,
};
