//! EMQX 5. From its source (emqx_reason_codes.erl for the code mapping, emqx_authn_jwt.erl for
//! the JWT authenticator) and its documentation: a failed JWT claim is 0x86 / 4, a bad signature
//! falls through the chain to 0x87 / 5; its listeners' defaults are a 1 MB maximum packet size
//! and a topic alias maximum of 65535.

use super::{Broker, Causes, Clues, Family, Fixes, Sighting, v3, v5};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

const JWT_CLAIMS: &[&str] = &[
    "a JWT claim check failed: exp in the past, nbf in the future, a verify_claims mismatch (e.g. iss), a missing claim or a bad aud — run `mqtt-doctor token inspect` on the token",
    "the device clock was not set when it minted the JWT (iat/exp in 1970)",
];
const JWT_REJECTED: &[&str] = &[
    "the JWT signature does not verify: wrong secret or key, `secret_base64_encoded` wrong, a JWKS without the token's kid",
    "the JWT is in the wrong field (the authenticator's `from` is password by default)",
];
const CLIENT_ID: &[&str] =
    &["the client id fails a `clientid` rule of the authenticator or a banned-client-id rule"];

const CAUSES: &[Causes] = &[
    v3(2, CLIENT_ID),
    v3(
        3,
        &[
            "EMQX maps server busy, quota, rate limit and 'use another server' to 3 on MQTT 3.1.1; connect with MQTT 5 to see which",
        ],
    ),
    v3(4, JWT_CLAIMS),
    v3(5, JWT_REJECTED),
    v5(0x85, CLIENT_ID),
    v5(0x86, JWT_CLAIMS),
    v5(0x87, JWT_REJECTED),
    v5(
        0x89,
        &["EMQX's overload protection is refusing new connections"],
    ),
    v5(
        0x8A,
        &[
            "an entry in EMQX's banned list (dashboard: Access Control → Blacklist), possibly added automatically by flapping detection",
        ],
    ),
    v5(
        0x97,
        &["the licence's connection limit, or a per-listener max_connections"],
    ),
];

fn recognise(clues: &Clues) -> Option<Sighting> {
    // EMQX's system topics (its documentation, "System Topic"): the version of each node on
    // $SYS/brokers/NODE/version, where a node is named `name@host`.
    if let Some((topic, text)) = &clues.sys_version
        && let Some(node) = topic
            .strip_prefix("$SYS/brokers/")
            .and_then(|rest| rest.strip_suffix("/version"))
        && node.contains('@')
    {
        return Sighting::identified(format!("its {topic} reads \"{text}\", EMQX's system topic"));
    }
    let c = &clues.properties.as_ref()?.capabilities;
    (c.maximum_packet_size == Some(1_048_576) && c.topic_alias_maximum == Some(65_535))
        .then_some(())
        .and_then(|_| {
            Sighting::likely(
                "CONNACK properties maximum packet size 1 MB and topic alias maximum 65535, \
                 EMQX's defaults",
            )
        })
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Emqx,
    name: "EMQX",
    id: "emqx",
    aliases: &[],
    preset: Preset {
        broker: Broker::Emqx,
        title: "EMQX, with JWT authentication",
        target: "localhost",
        scheme: Scheme::Mqtt,
        port: 1883,
        settings: &[
            Setting {
                option: "mqtt-version",
                value: Value::Text("5"),
                why: "EMQX 5 speaks MQTT 5, whose reason codes say more",
            },
            Setting {
                option: "broker",
                value: Value::Text("emqx"),
                why: "rank causes as EMQX shows them (JWT claims, secret, verify_claims)",
            },
        ],
        notes: "The JWT goes in the password field: pass it with --token-file or MQTT_DOCTOR_TOKEN \
                (sent as the password, and checked offline first) and the username your \
                verify_claims expect. Add --jwt-secret or --jwt-key to check the signature.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Check the authenticator chain (dashboard: Access Control → \
                      Authentication): the user in the built-in database, or for JWT the \
                      secret or key, `from`, and `verify_claims`. Trace the client with `emqx \
                      ctl trace start client CLIENTID /tmp/client.log`.",
        publish_denied: "Add an authorization rule allowing publish on the topic for this \
                         client (dashboard: Access Control → Authorization; in a file source, \
                         `{allow, {username, \"USER\"}, publish, [\"TOPIC\"]}.`). EMQX's \
                         `authorization.no_match` decides topics no rule matches.",
        subscribe_denied: "Add an authorization rule allowing subscribe on the filter for this \
                           client (dashboard: Access Control → Authorization; in a file source, \
                           `{allow, {username, \"USER\"}, subscribe, [\"FILTER\"]}.`).",
        delivery_lost: "On MQTT 3.1.1 EMQX acknowledges a denied publish and drops it: check \
                        the authorization rules for both the publish and the subscribe, and \
                        trace the client with `emqx ctl trace start client CLIENTID \
                        /tmp/client.log`.",
        tls: "Check the ssl listener's `ssl_options` (certfile, keyfile, cacertfile, verify) \
              in emqx.conf or the dashboard's listener settings.",
        connection_limits: "Check the listener's `max_connections` and `max_conn_rate` in \
                            emqx.conf, the licence's connection limit, and overload protection \
                            (`overload_protection`).",
        client_id_taken: "`emqx ctl clients show CLIENTID` shows the connection that holds the id \
                          now, with its address: give every device an id of its own.",
    },
    quirks: &[
        "a failed JWT claim is 0x86 / 4, a bad JWT signature 0x87 / 5",
        "`authorization.no_match = allow` by default: topics no rule names are allowed",
        "its version is on `$SYS/brokers/NODE/version`",
    ],
    recognise,
};
