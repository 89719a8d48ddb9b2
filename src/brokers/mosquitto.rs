//! Eclipse Mosquitto 2. Observed on the wire against Mosquitto 2.0.11 by this project's tests
//! (tests/mqtt.rs, tests/families.rs): every bad password is 5 / 0x87, never 4 / 0x86; an
//! `acl_file` grants a subscription it will not deliver; an assigned client id is `auto-` and a
//! UUID; the CONNACK of a default listener carries receive maximum 20 and topic alias maximum 10.

use super::{Broker, Causes, Clues, Family, Fixes, Sighting, only_defaults, v3, v5};
use crate::presets::{Preset, Setting, Value};
use crate::target::Scheme;

// 3.1.1's 5 and MQTT 5's 0x87 are the same refusal, so they share their causes.
const NOT_AUTHORIZED: &[&str] = &[
    "wrong password or unknown user in the password file",
    "no username sent while `allow_anonymous false`",
    "the password file changed but the broker was not reloaded: `systemctl reload mosquitto` (or SIGHUP)",
    "a plaintext or unreadable password file (create it with `mosquitto_passwd`)",
    "the dynamic-security client is disabled or its file unreadable",
];

const CAUSES: &[Causes] = &[
    v3(
        1,
        &[
            "the broker is older than 1.6 and speaks no MQTT 5; Mosquitto 2 answers an unknown protocol level with a 3.1.1-format 1",
        ],
    ),
    v3(
        4,
        &[
            "Mosquitto itself answers bad passwords with 5, never 4: an authentication plugin sent this",
        ],
    ),
    v3(5, NOT_AUTHORIZED),
    v5(
        0x80,
        &[
            "an empty client id while `allow_zero_length_clientid false` (Mosquitto answers 0x80 where others answer 0x85)",
        ],
    ),
    v5(
        0x86,
        &[
            "Mosquitto itself answers bad passwords with 0x87, never 0x86: an authentication plugin sent this",
        ],
    ),
    v5(0x87, NOT_AUTHORIZED),
    v5(
        0x8C,
        &[
            "Mosquitto without an auth plugin has no enhanced-auth methods: drop --auth-method and send a username and password",
        ],
    ),
];

fn recognise(clues: &Clues) -> Option<Sighting> {
    // Mosquitto publishes "mosquitto version 2.0.11", retained, on $SYS/broker/version.
    if let Some((topic, text)) = &clues.sys_version
        && topic == "$SYS/broker/version"
        && text.starts_with("mosquitto version ")
    {
        return Sighting::identified(format!("its $SYS/broker/version reads \"{text}\""));
    }
    let p = clues.properties.as_ref()?;
    if let Some(id) = &p.assigned_client_identifier
        && is_auto_id(id)
    {
        return Sighting::identified(
            "the client id it assigned has Mosquitto's format, `auto-` and a UUID",
        );
    }
    let c = &p.capabilities;
    (c.receive_maximum == Some(20) && c.topic_alias_maximum == Some(10) && only_defaults(p, 2))
        .then_some(())
        .and_then(|_| {
            Sighting::likely(
                "CONNACK properties receive maximum 20 and topic alias maximum 10 and nothing \
                 else, Mosquitto 2's defaults",
            )
        })
}

/// `auto-` and an uppercase UUID: `auto-F9BC7AB9-8D93-8A48-0DAB-9EA73D3BCA71`.
fn is_auto_id(id: &str) -> bool {
    let Some(uuid) = id.strip_prefix("auto-") else {
        return false;
    };
    let groups: Vec<&str> = uuid.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(super) static FAMILY: Family = Family {
    broker: Broker::Mosquitto,
    name: "Mosquitto",
    id: "mosquitto",
    aliases: &[],
    preset: Preset {
        broker: Broker::Mosquitto,
        title: "Eclipse Mosquitto 2",
        target: "localhost",
        scheme: Scheme::Mqtt,
        port: 1883,
        settings: &[Setting {
            option: "broker",
            value: Value::Text("mosquitto"),
            why: "rank causes as Mosquitto shows them (e.g. a password file not reloaded)",
        }],
        notes: "Mosquitto 2 refuses anonymous clients unless a listener has allow_anonymous true. \
                With acl_file, a subscription that may not read is still granted: add --subscribe \
                and --publish so the round trip shows it.",
    },
    causes: CAUSES,
    fixes: Fixes {
        credentials: "Check the user in the password file (`mosquitto_passwd -b FILE USER \
                      PASSWORD` sets it), then reload the broker: `systemctl reload mosquitto` \
                      (or SIGHUP). Mosquitto 2 defaults to `allow_anonymous false`. With dynamic \
                      security: `mosquitto_ctrl dynsec getClient USER`.",
        publish_denied: "Grant this client write access to the topic: for Mosquitto's acl_file a \
                         `topic write TOPIC` (or readwrite) line under the user, then reload the \
                         broker (SIGHUP); for dynamic security a publishClientSend ACL on one of \
                         the client's roles (`mosquitto_ctrl dynsec addRoleACL ROLE \
                         publishClientSend TOPIC allow`).",
        subscribe_denied: "Grant this client read access to the filters: for Mosquitto's \
                           dynamic security, a role with a subscribePattern (and \
                           publishClientReceive) ACL for the filter, added to the client \
                           (`mosquitto_ctrl dynsec addRoleACL ROLE subscribePattern FILTER \
                           allow`). Mosquitto's acl_file never refuses in the SUBACK: its \
                           denials show only in the round trip.",
        delivery_lost: "Check Mosquitto's ACL for this user on both sides: write on the topic \
                        and read on the filter. Mosquitto logs `Denied PUBLISH from …` for a \
                        write denial; an acl_file needs `topic readwrite TOPIC` (or separate \
                        read and write lines) and a reload (SIGHUP, `systemctl reload \
                        mosquitto`).",
        tls: "Check the listener's `certfile`, `keyfile` and `cafile` in mosquitto.conf; with \
              `require_certificate true` every client needs a certificate from `cafile`.",
        connection_limits: "Check `max_connections` on the listener in mosquitto.conf (-1 is \
                            unlimited) and the process's open-file limit (`LimitNOFILE` in the \
                            systemd unit).",
        client_id_taken: "Mosquitto logs \"Client ID already connected, closing old connection\" \
                          for each takeover, beside the \"New client connected\" line with the \
                          other client's address: give every device an id of its own.",
    },
    quirks: &[
        "answers every bad password with 5 / 0x87, never 4 / 0x86",
        "an acl_file grants a subscription it will not deliver: only a round trip shows it",
        "before 2.0.15, a client taken over by another with the same id sees no DISCONNECT",
        "without `set_tcp_nodelay true`, answers wait for the client's delayed ACK (about 40 ms)",
    ],
    recognise,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_ids_are_recognised() {
        assert!(is_auto_id("auto-F9BC7AB9-8D93-8A48-0DAB-9EA73D3BCA71"));
        assert!(!is_auto_id("auto-1234"));
        assert!(!is_auto_id("F9BC7AB9-8D93-8A48-0DAB-9EA73D3BCA71"));
    }
}
