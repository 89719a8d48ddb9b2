//! amqtt (formerly HBMQTT), the Python broker. Observed by this project's tests against amqtt
//! 0.12.1 (tests/families.rs): it speaks MQTT 3.1.1 only and never answers an MQTT 5 CONNECT
//! (it waits for more bytes); a wrong password is return code 5; a denied publish is
//! acknowledged and silently dropped; a denied subscribe is SUBACK 0x80.

use super::{Broker, Causes, Clues, Family, Fixes, Mqtt5Answer, Sighting, v3};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

const CAUSES: &[Causes] = &[v3(
    5,
    &[
        "wrong password or unknown user in the password file of the `auth` section (`password-file`), or `allow-anonymous: false` with no username",
    ],
)];

fn recognise(clues: &Clues) -> Option<Sighting> {
    (clues.mqtt5_answer == Some(Mqtt5Answer::Silent))
        .then_some(())
        .and_then(|_| {
            Sighting::likely(
                "it never answered the MQTT 5 CONNECT and accepted MQTT 3.1.1, as amqtt does",
            )
        })
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
                why: "amqtt speaks MQTT 3.1.1 only and never answers an MQTT 5 CONNECT",
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
    },
    quirks: &[
        "no MQTT 5: a v5 CONNECT is never answered",
        "a denied publish is acknowledged and dropped; a denied subscribe is SUBACK 0x80",
    ],
    recognise,
};
