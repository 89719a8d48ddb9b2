//! NanoMQ. From its documentation (the ACL and authorization configuration): an ACL denial is
//! silent by default (`deny_action = ignore`): the publish is acknowledged and dropped, the
//! subscription granted and never fed; `deny_action = disconnect` closes the connection instead.

use super::{Broker, Causes, Clues, Family, Fixes, Sighting, v3, v5};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

const NOT_AUTHORIZED: &[&str] = &[
    "wrong credentials for the `auth` section's users (or its HTTP authentication service refused them)",
];

const CAUSES: &[Causes] = &[v3(5, NOT_AUTHORIZED), v5(0x87, NOT_AUTHORIZED)];

fn recognise(_: &Clues) -> Option<Sighting> {
    // Nothing NanoMQ sends by default sets it apart from other brokers.
    None
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Nanomq,
    name: "NanoMQ",
    id: "nanomq",
    aliases: &[],
    preset: Preset {
        broker: Broker::Nanomq,
        title: "NanoMQ",
        target: "localhost",
        scheme: Scheme::Mqtt,
        port: 1883,
        settings: &[Setting {
            option: "broker",
            value: Value::Text("nanomq"),
            why: "rank causes as NanoMQ shows them (silent ACL denials)",
        }],
        notes: "ACL denials are silent by default (deny_action = ignore): add --subscribe and \
                --publish on the same topic so the round trip shows them.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Check the user in the `auth` section of nanomq.conf (`auth.password`), or \
                      the HTTP authentication service it calls (`auth.http_auth`).",
        publish_denied: "Allow the topic in the `authorization` rules of nanomq.conf (or the \
                         acl file it includes): `{\"permit\": \"allow\", \"username\": \"USER\", \
                         \"action\": \"publish\", \"topics\": [\"TOPIC\"]}`.",
        subscribe_denied: "Allow the filter in the `authorization` rules of nanomq.conf: \
                           `{\"permit\": \"allow\", \"username\": \"USER\", \"action\": \
                           \"subscribe\", \"topics\": [\"FILTER\"]}`.",
        delivery_lost: "NanoMQ drops denied messages silently by default (`deny_action = \
                        ignore` in the `authorization` section of nanomq.conf): check its rules \
                        for this user on both sides, and set `deny_action = disconnect` to see \
                        denials as a closed connection.",
        tls: "Check the `listeners.ssl` section of nanomq.conf: `keyfile`, `certfile`, \
              `cacertfile` and `verify_peer`.",
        connection_limits: "Check `max_connections` (or `num_taskq_thread` and the file-descriptor \
                            limit) in nanomq.conf.",
        client_id_taken: "NanoMQ's HTTP API (`GET /api/v4/clients/CLIENTID`) shows the connection \
                          that holds the id now: give every device an id of its own.",
    },
    quirks: &["ACL denials are silent by default (deny_action = ignore)"],
    recognise,
};
