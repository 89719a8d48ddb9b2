//! VerneMQ. From its source (vmq_mqtt_fsm.erl, vmq_mqtt5_fsm.erl) and documentation: a wrong
//! password is 4 / 0x86; a CONNECT during a netsplit is refused as `not_ready` (server
//! unavailable, 3 / 0x88) unless `allow_register_during_netsplit = on`; an assigned client id is
//! `anon-` and base64; users are managed with `vmq-passwd`, ACLs in the file `vmq-acl` reads.

use super::{Broker, Causes, Clues, Family, Fixes, Sighting, v3, v5};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

const BAD_PASSWORD: &[&str] = &[
    "wrong password or unknown user in the password file: `vmq-passwd` sets them, and the broker rereads the file (`vmq_passwd.password_reload_interval`)",
];
const NOT_READY: &[&str] = &[
    "the cluster is in a netsplit and refuses new sessions (`not_ready`): heal the cluster (`vmq-admin cluster show`), or allow it with `allow_register_during_netsplit = on`",
];

const CAUSES: &[Causes] = &[
    v3(3, NOT_READY),
    v3(4, BAD_PASSWORD),
    v3(
        5,
        &[
            "no plugin accepted the client: `allow_anonymous = off` with no credentials, or an auth plugin refusing it",
        ],
    ),
    v5(0x86, BAD_PASSWORD),
    v5(0x88, NOT_READY),
];

fn recognise(clues: &Clues) -> Option<Sighting> {
    let p = clues.properties.as_ref()?;
    p.assigned_client_identifier
        .as_deref()
        .is_some_and(|id| id.starts_with("anon-"))
        .then_some(())
        .and_then(|_| {
            Sighting::identified("the client id it assigned has VerneMQ's format, `anon-…`")
        })
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Vernemq,
    name: "VerneMQ",
    id: "vernemq",
    aliases: &["verne"],
    preset: Preset {
        broker: Broker::Vernemq,
        title: "VerneMQ",
        target: "localhost",
        scheme: Scheme::Mqtt,
        port: 1883,
        settings: &[Setting {
            option: "broker",
            value: Value::Text("vernemq"),
            why: "rank causes as VerneMQ shows them (vmq-passwd, vmq-acl, netsplits)",
        }],
        notes: "Users come from the vmq-passwd file and topics from the vmq-acl file. During a \
                netsplit the cluster refuses new sessions unless allow_register_during_netsplit \
                is on.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Set the password with `vmq-passwd /etc/vernemq/vmq.passwd USER` (the file \
                      `vmq_passwd.password_file` names); VerneMQ rereads it every \
                      `vmq_passwd.password_reload_interval` seconds. Trace the client with \
                      `vmq-admin trace client client-id=CLIENTID`.",
        publish_denied: "Allow the topic in the ACL file (`vmq_acl.acl_file`): a `user USER` \
                         section with `topic write TOPIC` (or `topic TOPIC` for both); it is \
                         reread every `vmq_acl.acl_reload_interval` seconds.",
        subscribe_denied: "Allow the filter in the ACL file (`vmq_acl.acl_file`): a `user USER` \
                           section with `topic read FILTER` (or `topic FILTER` for both).",
        delivery_lost: "Check the ACL file (`vmq_acl.acl_file`) for this user on both sides, \
                        write on the topic and read on the filter, and trace the client with \
                        `vmq-admin trace client client-id=CLIENTID`.",
        tls: "Check the ssl listener's `listener.ssl.cafile`, `certfile` and `keyfile` in \
              vernemq.conf, and `listener.ssl.require_certificate`.",
        connection_limits: "Check `max_connections` on the listener (`listener.max_connections`) \
                            and, in a cluster, that every node is up: `vmq-admin cluster show`.",
        client_id_taken: "`vmq-admin session show --client_id=CLIENTID --peer_host` shows which \
                          address holds the id now: give every device an id of its own.",
    },
    quirks: &[
        "during a netsplit, refuses new sessions (`not_ready`) unless allow_register_during_netsplit",
        "an assigned client id starts with `anon-`",
        "a load balancer in front has no client-id stickiness",
    ],
    recognise,
};
