//! ejabberd with mod_mqtt. Observed by this project's tests against ejabberd 23.01
//! (tests/families.rs): it speaks MQTT 5; a wrong password is 0x87; its CONNACK carries topic
//! alias maximum 100, shared subscriptions unavailable, session expiry and server keep alive;
//! an assigned client id is a decimal number; a denied publish is PUBACK 0x90 and a denied
//! subscribe SUBACK 0x8F, with the reason string "… forbidden by service policy". From its
//! source (mod_mqtt_session.erl) and documentation: a username that is not a JID is 0x86;
//! a host without the module 0x88; the only enhanced-auth method is `X-OAUTH2`.

use super::{Broker, Causes, Clues, Family, Fixes, Mqtt31Answer, Sighting, only_defaults, v3, v5};
use crate::presets::{Preset, Setting, Value};
use crate::reason_codes::Protocol;
use crate::target::Scheme;

const BAD_USERNAME: &[&str] = &[
    "the username is not a JID of a host ejabberd serves (user@host), or names a user that does not exist",
];
const NOT_AUTHORIZED: &[&str] = &[
    "wrong password for the JID (`ejabberdctl check_password USER HOST PASSWORD`)",
    "an `access` rule of mod_mqtt (or the host's `access_rules`) does not let this user connect",
];

const CAUSES: &[Causes] = &[
    v3(4, BAD_USERNAME),
    v3(5, NOT_AUTHORIZED),
    v5(0x86, BAD_USERNAME),
    v5(0x87, NOT_AUTHORIZED),
    v5(
        0x88,
        &["the host named in the username does not run mod_mqtt"],
    ),
    v5(
        0x8C,
        &[
            "ejabberd's only enhanced-authentication method is X-OAUTH2 (an OAuth token issued by ejabberd)",
        ],
    ),
];

fn recognise(clues: &Clues) -> Option<Sighting> {
    // A refusal carries no properties: what sets ejabberd apart then is that it speaks MQTT 5
    // and refuses MQTT 3.1 with return code 1 (tests/brokers.rs), where Mosquitto, aedes,
    // RabbitMQ, EMQX, HiveMQ and VerneMQ speak 3.1 and amqtt closes the connection.
    if let Some((Protocol::V5, code)) = clues.connack
        && code != 0
        && clues.mqtt31_answer == Some(Mqtt31Answer::Connack(1))
        && clues.properties.as_ref().is_none_or(|p| p.count == 0)
    {
        return Sighting::likely(
            "it refused the MQTT 5 CONNECT without CONNACK properties and refused MQTT 3.1 \
             with return code 1, as ejabberd's mod_mqtt does (a broker of another family that \
             speaks no MQTT 3.1 would answer the same)",
        );
    }
    let p = clues.properties.as_ref()?;
    let c = &p.capabilities;
    let fingerprint = c.topic_alias_maximum == Some(100)
        && c.shared_subscription_available == Some(false)
        && p.session_expiry_interval.is_some();
    let numeric_id = p
        .assigned_client_identifier
        .as_deref()
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    if fingerprint && numeric_id {
        return Sighting::identified(
            "a decimal client id assigned, topic alias maximum 100 and no shared \
             subscriptions, as ejabberd's mod_mqtt answers",
        );
    }
    (fingerprint && only_defaults(p, 4))
        .then_some(())
        .and_then(|_| {
            Sighting::likely(
                "CONNACK properties topic alias maximum 100, no shared subscriptions, session \
             expiry and server keep alive and nothing else, ejabberd's mod_mqtt defaults",
            )
        })
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Ejabberd,
    name: "ejabberd",
    id: "ejabberd",
    aliases: &[],
    preset: Preset {
        broker: Broker::Ejabberd,
        title: "ejabberd with mod_mqtt",
        target: "localhost",
        scheme: Scheme::Mqtt,
        port: 1883,
        settings: &[
            Setting {
                option: "mqtt-version",
                value: Value::Text("5"),
                why: "mod_mqtt speaks MQTT 5, whose reason codes and reason strings say more",
            },
            Setting {
                option: "broker",
                value: Value::Text("ejabberd"),
                why: "rank causes as ejabberd shows them (JIDs, access rules)",
            },
        ],
        notes: "Usernames are JIDs (user@host) of users ejabberd knows; who may connect, publish \
                and subscribe is set by mod_mqtt's access options. The only enhanced-auth method \
                is X-OAUTH2.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Use the JID as username (user@host) and check the password with \
                      `ejabberdctl check_password USER HOST PASSWORD`; who may connect is \
                      mod_mqtt's `access_subscribe`/`access_publish` and the host's \
                      `access_rules` in ejabberd.yml.",
        publish_denied: "ejabberd refused the publish by service policy: allow the topic in \
                         mod_mqtt's `access_publish` in ejabberd.yml (a rule for the topic \
                         filter naming an access rule that matches this user), then \
                         `ejabberdctl reload_config`.",
        subscribe_denied: "ejabberd refused the subscription by service policy: allow the \
                           filter in mod_mqtt's `access_subscribe` in ejabberd.yml, then \
                           `ejabberdctl reload_config`.",
        delivery_lost: "Check mod_mqtt's `access_publish` and `access_subscribe` in \
                        ejabberd.yml for this user on both sides.",
        tls: "Check the mod_mqtt listener's `tls: true` and the `certfiles` in ejabberd.yml \
              (`ejabberdctl list_certificates` shows what it loaded).",
        connection_limits: "Check mod_mqtt's `max_queue` and the listener's `max_fsm_queue` \
                            and `shaper` in ejabberd.yml, and the session limits \
                            (`max_user_sessions`).",
        client_id_taken: "ejabberd closes the older session (its DISCONNECT says \"Replaced by \
                          another connection\"); with `loglevel: info` in ejabberd.yml its log \
                          names each MQTT session's address: give every device an id of its own.",
    },
    quirks: &[
        "usernames are JIDs (user@host)",
        "denials carry reason strings: PUBACK 0x90 and SUBACK 0x8F \"forbidden by service policy\"",
        "the only enhanced-authentication method is X-OAUTH2; no shared subscriptions",
    ],
    recognise,
};
