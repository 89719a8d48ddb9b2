//! HiveMQ (Cloud and self-hosted). From its documentation and the HiveMQ CE source: without a
//! security extension every client is refused; the file-rbac extension answers missing
//! credentials with 0x86 and wrong ones with 0x87; `#` or `+` in a client id is 0x85; its
//! CONNACK defaults are receive maximum 10 and topic alias maximum 5, and an assigned client id
//! is `hmq_` followed by the node, a counter and a hash.

use super::{Broker, Causes, Clues, Family, Fixes, Sighting, v3, v5};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

const NOT_AUTHORIZED: &[&str] = &[
    "wrong credentials (file-rbac), or no security extension installed, which denies every client",
];
const MISSING: &[&str] = &["the username or password is missing (file-rbac extension)"];
const CLIENT_ID: &[&str] = &["'#' or '+' in the client id"];

const CAUSES: &[Causes] = &[
    v3(2, CLIENT_ID),
    v3(4, MISSING),
    v3(5, NOT_AUTHORIZED),
    v5(0x85, CLIENT_ID),
    v5(0x86, MISSING),
    v5(0x87, NOT_AUTHORIZED),
];

fn recognise(clues: &Clues) -> Option<Sighting> {
    let p = clues.properties.as_ref()?;
    if p.assigned_client_identifier
        .as_deref()
        .is_some_and(|id| id.starts_with("hmq_"))
    {
        return Sighting::identified("the client id it assigned has HiveMQ's format, `hmq_…`");
    }
    let c = &p.capabilities;
    (c.receive_maximum == Some(10) && c.topic_alias_maximum == Some(5))
        .then_some(())
        .and_then(|_| {
            Sighting::likely(
                "CONNACK properties receive maximum 10 and topic alias maximum 5, HiveMQ's \
                 defaults",
            )
        })
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Hivemq,
    name: "HiveMQ",
    id: "hivemq",
    aliases: &[],
    preset: Preset {
        broker: Broker::Hivemq,
        title: "HiveMQ (Cloud and self-hosted)",
        target: "localhost",
        scheme: Scheme::Mqtts,
        port: 8883,
        settings: &[Setting {
            option: "broker",
            value: Value::Text("hivemq"),
            why: "rank causes as HiveMQ shows them, and warn when no SNI is sent",
        }],
        notes: "HiveMQ Cloud listens on TLS port 8883 only and picks the cluster by SNI: connect \
                by host name, or give --servername when dialling an IP address.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Check the user in the file-rbac extension's credentials.xml (or, on \
                      HiveMQ Cloud, the cluster's Access Management page); without any \
                      security extension HiveMQ refuses every client.",
        publish_denied: "Give the user's role a permission with `<activity>PUBLISH</activity>` \
                         (or ALL) for the topic in the file-rbac credentials.xml (HiveMQ Cloud: \
                         the credentials' permissions).",
        subscribe_denied: "Give the user's role a permission with `<activity>SUBSCRIBE</activity>` \
                           (or ALL) for the filter in the file-rbac credentials.xml (HiveMQ \
                           Cloud: the credentials' permissions).",
        delivery_lost: "Check the role's permissions in the file-rbac credentials.xml on both \
                        sides, PUBLISH on the topic and SUBSCRIBE on the filter; HiveMQ's \
                        event.log records the client's connects and disconnects.",
        tls: "HiveMQ Cloud picks the cluster by SNI: connect by host name, or give --servername \
              with an IP address. Self-hosted: the `<tls-tcp-listener>` keystore in config.xml.",
        connection_limits: "Check the licence's or cluster plan's connection limit and \
                            `<max-connections>` under `<restrictions>` in config.xml.",
        client_id_taken: "HiveMQ's event.log records each client disconnected by a takeover, with \
                          its address: give every device an id of its own.",
    },
    quirks: &[
        "no security extension installed: every client is refused",
        "HiveMQ Cloud needs SNI: without it the connection fails as if unauthorized",
        "an assigned client id starts with `hmq_`",
    ],
    recognise,
};
