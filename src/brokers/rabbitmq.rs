//! RabbitMQ with its MQTT plugin. Observed by this project's tests against RabbitMQ 3.10.8
//! (tests/brokers.rs, tests/families.rs): it speaks MQTT 3.1.1 only and closes the connection on
//! an MQTT 5 CONNECT without a CONNACK; a wrong password is return code 4; a denied publish or
//! subscribe closes the connection. From its source (rabbit_mqtt_processor.erl) and
//! documentation: a username may name the virtual host as `vhost:user`; topic permissions apply
//! to the `amq.topic` exchange; the `guest` user may connect only from localhost; a user without
//! permissions on the vhost is refused with 5 / 0x87.

use super::{Broker, Causes, Clues, Family, Fixes, Mqtt5Answer, Sighting, v3, v5};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

const BAD_CREDENTIALS: &[&str] = &[
    "wrong password or unknown user: `rabbitmqctl authenticate_user USER PASSWORD` checks them",
    "the username names a virtual host that does not exist (`vhost:user`), or the plugin's default vhost (`mqtt.vhost`) is not where the user is",
];
const NOT_AUTHORIZED: &[&str] = &[
    "the user has no permissions on the virtual host: `rabbitmqctl set_permissions -p VHOST USER \".*\" \".*\" \".*\"`",
    "the `guest` user connecting from another host than localhost (`loopback_users`)",
];

const CAUSES: &[Causes] = &[
    v3(
        1,
        &["RabbitMQ before 3.13 speaks MQTT 3.1.1 only: connect with MQTT 3.1.1"],
    ),
    v3(4, BAD_CREDENTIALS),
    v3(5, NOT_AUTHORIZED),
    v5(0x86, BAD_CREDENTIALS),
    v5(0x87, NOT_AUTHORIZED),
];

fn recognise(clues: &Clues) -> Option<Sighting> {
    (clues.mqtt5_answer == Some(Mqtt5Answer::Closed))
        .then_some(())
        .and_then(|_| {
            Sighting::likely(
                "it closed the connection on the MQTT 5 CONNECT without a CONNACK and accepted \
                 MQTT 3.1.1, as RabbitMQ's MQTT plugin before 3.13 does",
            )
        })
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Rabbitmq,
    name: "RabbitMQ",
    id: "rabbitmq",
    aliases: &["rabbit"],
    preset: Preset {
        broker: Broker::Rabbitmq,
        title: "RabbitMQ with the MQTT plugin",
        target: "localhost",
        scheme: Scheme::Mqtt,
        port: 1883,
        settings: &[
            Setting {
                option: "mqtt-version",
                value: Value::Text("auto"),
                why: "RabbitMQ before 3.13 speaks MQTT 3.1.1 only; auto tries 5, then 3.1.1",
            },
            Setting {
                option: "broker",
                value: Value::Text("rabbitmq"),
                why: "rank causes as RabbitMQ shows them (vhost permissions, topic permissions)",
            },
        ],
        notes: "Enable the plugin with rabbitmq-plugins enable rabbitmq_mqtt. A username may name \
                the virtual host as vhost:user. Topic permissions apply to the amq.topic \
                exchange. The guest user connects only from localhost.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Check the user and password with `rabbitmqctl authenticate_user USER \
                      PASSWORD`; give the virtual host in the username as `vhost:user` (or set \
                      `mqtt.vhost`), and its permissions with `rabbitmqctl set_permissions -p \
                      VHOST USER \".*\" \".*\" \".*\"`. `guest` connects only from localhost.",
        publish_denied: "RabbitMQ closes the connection on a publish the user may not make: \
                         allow it with `rabbitmqctl set_topic_permissions -p VHOST USER \
                         amq.topic \"WRITE-REGEX\" \"READ-REGEX\"` (MQTT's `/` is `.` in the \
                         routing key), and write permission on the vhost (`rabbitmqctl \
                         list_permissions -p VHOST`).",
        subscribe_denied: "RabbitMQ refuses (or closes the connection on) a subscription the \
                           user may not read: allow it with `rabbitmqctl set_topic_permissions \
                           -p VHOST USER amq.topic \"WRITE-REGEX\" \"READ-REGEX\"`, and read \
                           and configure permissions on the vhost for the subscription's queue.",
        delivery_lost: "Check the user's topic permissions on the amq.topic exchange on both \
                        sides (`rabbitmqctl list_topic_permissions -p VHOST`) and the vhost \
                        permissions (`rabbitmqctl list_permissions -p VHOST`).",
        tls: "Check the plugin's TLS listener (`mqtt.listeners.ssl.default = 8883`) and the \
              `ssl_options.cacertfile`, `certfile` and `keyfile` in rabbitmq.conf.",
        connection_limits: "Check the vhost's and user's connection limits (`rabbitmqctl \
                            list_vhost_limits`, `rabbitmqctl list_user_limits`) and the node's \
                            file-descriptor limit (`rabbitmq-diagnostics status`).",
        client_id_taken: "`rabbitmqctl list_mqtt_connections client_id peer_host` shows which \
                          address holds the id now: give every device an id of its own.",
    },
    quirks: &[
        "before 3.13 speaks MQTT 3.1.1 only, and closes the connection on an MQTT 5 CONNECT",
        "a denied publish or subscribe closes the connection",
        "usernames may name the virtual host: `vhost:user`",
        "`guest` connects only from localhost",
        "authentication failures are answered after a fixed delay",
    ],
    recognise,
};
