//! Broker families: one module each, holding everything the doctor knows about one family — its
//! name and aliases, its preset, how to recognise it from what it shows, its own causes for
//! CONNACK codes (ranked above the general ones of [`crate::reason_codes::CATALOG`], which holds
//! only what a code means on any broker), its fixes with its own commands and config lines, and
//! its quirks.
//!
//! Adding a family is one new file with a `pub(super) static FAMILY: Family`, a variant of
//! [`Broker`] and a line in [`Broker::family`]; the unit tests below then check it like the others.
//!
//! A family's knowledge is shown only when the broker is that family: given with `--broker`, or
//! recognised. An unrecognised broker gets [`GENERIC_FIXES`], which name no one broker's commands,
//! so that a RabbitMQ user is never told what Mosquitto does.

use std::fmt;

pub use crate::broker_id::{Broker, Confidence};
use crate::observations::Capabilities;
use crate::presets::Preset;
use crate::reason_codes::{ConnackCode, Protocol};

mod aedes;
mod aio;
mod amqtt;
mod ejabberd;
mod emqx;
mod hivemq;
mod mosquitto;
mod nanomq;
mod rabbitmq;
mod vernemq;

impl Broker {
    /// Everything the doctor knows about this family.
    pub fn family(self) -> &'static Family {
        match self {
            Broker::Mosquitto => &mosquitto::FAMILY,
            Broker::Emqx => &emqx::FAMILY,
            Broker::Aio => &aio::FAMILY,
            Broker::Hivemq => &hivemq::FAMILY,
            Broker::Rabbitmq => &rabbitmq::FAMILY,
            Broker::Vernemq => &vernemq::FAMILY,
            Broker::Nanomq => &nanomq::FAMILY,
            Broker::Ejabberd => &ejabberd::FAMILY,
            Broker::Aedes => &aedes::FAMILY,
            Broker::Amqtt => &amqtt::FAMILY,
        }
    }

    /// The family's name as people write it: `RabbitMQ`.
    pub fn name(self) -> &'static str {
        self.family().name
    }

    /// The family's name on the command line: `rabbitmq`.
    pub fn id(self) -> &'static str {
        self.family().id
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One family.
#[derive(Debug)]
pub struct Family {
    pub broker: Broker,
    /// As people write it: `RabbitMQ`.
    pub name: &'static str,
    /// On the command line: `rabbitmq`.
    pub id: &'static str,
    /// Other names accepted on the command line (the `#[value(alias)]`s of [`Broker`]).
    pub aliases: &'static [&'static str],
    pub preset: Preset,
    /// Its own causes for CONNACK codes, most likely first.
    pub causes: &'static [Causes],
    pub fixes: Fixes,
    /// What sets it apart from other brokers, shown by `mqtt-doctor presets`.
    pub quirks: &'static [&'static str],
    /// Recognises the family from what the doctor observed, or says nothing.
    pub recognise: fn(&Clues) -> Option<Sighting>,
}

impl Family {
    /// This family's causes for a code, most likely first.
    pub fn causes_for(&self, protocol: Protocol, code: u8) -> &'static [&'static str] {
        self.causes
            .iter()
            .find(|c| c.protocol == protocol && c.code == code)
            .map_or(&[], |c| c.causes)
    }
}

/// A family's causes for one CONNACK code.
#[derive(Debug)]
pub struct Causes {
    pub protocol: Protocol,
    pub code: u8,
    pub causes: &'static [&'static str],
}

/// Causes for a 3.1.1 return code.
pub const fn v3(code: u8, causes: &'static [&'static str]) -> Causes {
    Causes {
        protocol: Protocol::V311,
        code,
        causes,
    }
}

/// Causes for an MQTT 5 reason code.
pub const fn v5(code: u8, causes: &'static [&'static str]) -> Causes {
    Causes {
        protocol: Protocol::V5,
        code,
        causes,
    }
}

/// What to do, in the family's own commands and configuration lines.
#[derive(Debug)]
pub struct Fixes {
    /// The broker refused the credentials (CONNACK 4/5, 0x86/0x87).
    pub credentials: &'static str,
    /// A publish was refused (PUBACK ≥ 0x80, or the broker closed on it).
    pub publish_denied: &'static str,
    /// A subscription was refused in the SUBACK.
    pub subscribe_denied: &'static str,
    /// A publish was acknowledged but never came back through a granted subscription.
    pub delivery_lost: &'static str,
    /// TLS: the listener, its certificate, client certificates.
    pub tls: &'static str,
    /// Connection limits: per-listener or per-user maximums, rates, quotas.
    pub connection_limits: &'static str,
    /// Another connection took this client id over: how to find it on this broker.
    pub client_id_taken: &'static str,
}

/// The fixes for a broker the doctor could not recognise: what every broker shares, naming no
/// one broker's commands.
pub static GENERIC_FIXES: Fixes = Fixes {
    credentials: "Check the username and password (or token) against the broker's user \
                  database, and whether the broker reloaded it since the last change; the \
                  broker's log names the refused user.",
    publish_denied: "Grant this client write (publish) access to the topic in the broker's \
                     access-control rules, then reload them if the broker needs it.",
    subscribe_denied: "Grant this client read (subscribe) access to the filter in the broker's \
                       access-control rules, then reload them if the broker needs it.",
    delivery_lost: "Check the broker's access-control rules for this user on both sides: write \
                    on the topic and read on the filter. Many brokers deny silently, with no \
                    reason code: the broker's log shows the denial.",
    tls: "Check the listener's certificate, key and CA in the broker's configuration, and \
          whether the listener requires client certificates.",
    connection_limits: "Check the broker's limits on connections (per listener, per user, per \
                        second) and its log at the time of this run.",
    client_id_taken: "The broker's log names the connection that took the client id over: give \
                      every device an id of its own.",
};

/// The fixes for `broker`, or [`GENERIC_FIXES`] when it is not known.
pub fn fixes(broker: Option<Broker>) -> &'static Fixes {
    broker.map_or(&GENERIC_FIXES, |b| &b.family().fixes)
}

/// What a family's recognition saw: how sure, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub confidence: Confidence,
    pub why: String,
}

impl Sighting {
    pub fn likely(why: impl Into<String>) -> Option<Sighting> {
        Some(Sighting {
            confidence: Confidence::Likely,
            why: why.into(),
        })
    }

    pub fn identified(why: impl Into<String>) -> Option<Sighting> {
        Some(Sighting {
            confidence: Confidence::Identified,
            why: why.into(),
        })
    }
}

/// How the broker answered an MQTT 5 CONNECT it did not accept as MQTT 5 (the doctor then
/// retried with 3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mqtt5Answer {
    /// A 3.1.1-format CONNACK with this return code.
    V311Connack(u8),
    /// The connection was closed (or reset) without a CONNACK.
    Closed,
    /// Nothing came back.
    Silent,
}

/// How the broker answered an MQTT 3.1 CONNECT (`MQIsdp`, level 3) without credentials, asked
/// only when a refusal left the family unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mqtt31Answer {
    /// A CONNACK with this return code: 0 or a refusal of the login means it speaks 3.1; 1 that
    /// it does not.
    Connack(u8),
    /// The connection was closed without a CONNACK.
    Closed,
    /// Anything else: reset, silence, other bytes.
    Other,
}

/// What the CONNACK's properties showed (MQTT 5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropertyClues {
    pub capabilities: Capabilities,
    pub session_expiry_interval: Option<u32>,
    pub assigned_client_identifier: Option<String>,
    pub reason_string: Option<String>,
    pub authentication_method: Option<String>,
    /// How many properties the CONNACK carried, of any kind.
    pub count: usize,
}

/// What the doctor observed without harm, from which a family is recognised.
#[derive(Clone, Debug, Default)]
pub struct Clues {
    pub port: u16,
    /// The enhanced-authentication method the doctor sent.
    pub auth_method: Option<String>,
    /// The CONNECT carried a username (amqtt answers MQTT 5 differently with one).
    pub username_sent: bool,
    pub mqtt5_answer: Option<Mqtt5Answer>,
    /// The CONNACK: its protocol, its code, and its properties (MQTT 5).
    pub connack: Option<(Protocol, u8)>,
    pub properties: Option<PropertyClues>,
    pub mqtt31_answer: Option<Mqtt31Answer>,
    /// A `$SYS` version topic and what it said (asked only with `--subscribe`).
    pub sys_version: Option<(String, String)>,
}

/// The family the doctor believes it is talking to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recognition {
    pub broker: Option<Broker>,
    pub confidence: Confidence,
    /// What the belief rests on.
    pub how: String,
}

impl Recognition {
    pub fn given(broker: Broker) -> Recognition {
        Recognition {
            broker: Some(broker),
            confidence: Confidence::Given,
            how: "given with --broker".into(),
        }
    }

    pub fn unknown() -> Recognition {
        Recognition {
            broker: None,
            confidence: Confidence::Unknown,
            how: "unknown: nothing the broker showed sets one family apart; give --broker for \
                  hints ranked for one broker"
                .into(),
        }
    }

    /// The family whose knowledge applies: a given or recognised one, never an unknown.
    pub fn applies(&self) -> Option<Broker> {
        self.broker
            .filter(|_| self.confidence > Confidence::Unknown)
    }

    /// `RabbitMQ (likely: …)`, or the unknown's explanation.
    pub fn describe(&self) -> String {
        match self.broker {
            Some(broker) if self.confidence == Confidence::Given => {
                format!("{} ({})", broker.name(), self.how)
            }
            Some(broker) => format!(
                "{} ({}: {})",
                broker.name(),
                self.confidence.as_str(),
                self.how
            ),
            None => self.how.clone(),
        }
    }
}

/// Recognises the family from `clues`, unless the user gave it. The strongest sighting wins; two
/// families seen equally strongly leave the broker unknown rather than pick one.
pub fn recognise(given: Option<Broker>, clues: &Clues) -> Recognition {
    if let Some(broker) = given {
        return Recognition::given(broker);
    }
    let mut seen: Vec<(Broker, Sighting)> = Broker::ALL
        .iter()
        .filter_map(|b| (b.family().recognise)(clues).map(|s| (*b, s)))
        .collect();
    seen.sort_by_key(|s| std::cmp::Reverse(s.1.confidence));
    match seen.as_slice() {
        [] => Recognition::unknown(),
        [(broker, best), rest @ ..] => {
            if rest
                .first()
                .is_some_and(|r| r.1.confidence == best.confidence)
            {
                let names: Vec<&str> = seen
                    .iter()
                    .filter(|s| s.1.confidence == best.confidence)
                    .map(|s| s.0.name())
                    .collect();
                return Recognition {
                    broker: None,
                    confidence: Confidence::Unknown,
                    how: format!(
                        "unknown: what the broker showed fits {} alike; give --broker for hints \
                         ranked for one broker",
                        names.join(" and ")
                    ),
                };
            }
            Recognition {
                broker: Some(*broker),
                confidence: best.confidence,
                how: best.why.clone(),
            }
        }
    }
}

/// The properties a CONNACK carried other than the ones every broker may add to any answer
/// (assigned client id, reason string, authentication): for matching a family's defaults.
pub fn only_defaults(p: &PropertyClues, expected: usize) -> bool {
    let extra = [
        p.assigned_client_identifier.is_some(),
        p.reason_string.is_some(),
        p.authentication_method.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    p.count.saturating_sub(extra) == expected
}

/// The names a family answers to on the command line, for help texts: `aio (azure-iot-operations)`.
pub fn names_list() -> String {
    Broker::ALL
        .iter()
        .map(|b| b.id())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A family's preset; its name on the command line is the family's.
pub fn preset(broker: Broker) -> &'static Preset {
    &broker.family().preset
}

/// Every family's preset, in the order of [`Broker::ALL`]; each lives in its family's module.
pub fn presets() -> impl Iterator<Item = &'static Preset> {
    Broker::ALL.into_iter().map(|b| &b.family().preset)
}

/// The `mqtt-doctor presets` listing.
pub fn presets_listing() -> String {
    let mut text = String::new();
    for preset in presets() {
        let family = preset.broker.family();
        text.push_str(&format!("{}: {}\n", preset.broker.id(), preset.title));
        if !family.aliases.is_empty() {
            text.push_str(&format!("  also named    {}\n", family.aliases.join(", ")));
        }
        text.push_str(&format!(
            "  target        {}://{}:{} (a bare host means {}, port {})\n",
            preset.scheme.as_str(),
            preset.target,
            preset.port,
            preset.scheme.as_str(),
            preset.port
        ));
        for setting in preset.settings {
            let value = match setting.value {
                crate::presets::Value::Text(text) => text.to_string(),
                crate::presets::Value::File(path) => path.to_string(),
                crate::presets::Value::FileIfPresent(path) => format!("{path} (when present)"),
            };
            text.push_str(&format!(
                "  {:<13} {value}\n  {:<13} ({})\n",
                setting.option, "", setting.why
            ));
        }
        text.push_str(&format!(
            "{}\n",
            textwrap::indent(&textwrap::fill(preset.notes, 94), "  ")
        ));
        for quirk in family.quirks {
            text.push_str(&format!(
                "{}\n",
                textwrap::indent(&textwrap::fill(&format!("- {quirk}"), 94), "  ")
            ));
        }
        text.push('\n');
    }
    text.push_str(
        "Any option given on the command line, in an MQTT_DOCTOR_* variable or in a config-file \
         profile overrides the preset's.\nFiles are read below MQTT_DOCTOR_ROOT (default /).\n",
    );
    text
}

/// A CONNACK code's causes with the families' own: what `explain CODE` and the findings rank.
/// Causes ranked for `broker`: the family's own first, then the general ones. Without a
/// broker, only the general ones: no family's causes are offered as if it were the one in
/// front.
pub fn ranked_causes(code: &ConnackCode, broker: Option<Broker>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(broker) = broker {
        out.extend(
            broker
                .family()
                .causes_for(code.protocol, code.value)
                .iter()
                .map(|c| c.to_string()),
        );
    }
    out.extend(code.causes.iter().map(|c| c.to_string()));
    out
}

/// The families that have causes of their own for this code.
pub fn families_with_causes(code: &ConnackCode) -> Vec<Broker> {
    Broker::ALL
        .into_iter()
        .filter(|b| !b.family().causes_for(code.protocol, code.value).is_empty())
        .collect()
}

/// The page `mqtt-doctor explain CODE` prints.
pub fn page(code: &ConnackCode, broker: Option<Broker>) -> String {
    let mut out = format!("# {code}\n\n{}\n", code.meaning);
    if let Some(other) = code.counterpart {
        let (version, label) = match code.protocol {
            Protocol::V311 => ("MQTT 5", format!("0x{other:02X} ({other})")),
            Protocol::V5 => ("MQTT 3.1.1", other.to_string()),
        };
        out.push_str(&format!(
            "\nThe same refusal on {version} (as EMQX maps it): {label}.\n"
        ));
    }
    let causes = ranked_causes(code, broker);
    if !causes.is_empty() {
        match broker {
            Some(broker) => out.push_str(&format!("\n## Likely causes on {}\n\n", broker.name())),
            None => out.push_str("\n## Likely causes\n\n"),
        }
        for (n, cause) in causes.iter().enumerate() {
            out.push_str(&format!("{}. {cause}\n", n + 1));
        }
    }
    let families = families_with_causes(code);
    if broker.is_none() && !families.is_empty() {
        // A reference page, not a diagnosis: each family's own causes, under its name.
        out.push_str("\n## On particular brokers\n\n");
        for family in &families {
            for cause in family.family().causes_for(code.protocol, code.value) {
                out.push_str(&format!("- {}: {cause}\n", family.name()));
            }
        }
        let names: Vec<&str> = families.iter().map(|b| b.id()).collect();
        out.push_str(&format!(
            "\nName the broker for its own ranking: --broker {}\n",
            names.join("|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason_codes::{CATALOG, find};

    #[test]
    fn every_family_is_registered_once_under_its_own_name_and_aliases() {
        for broker in Broker::ALL {
            let family = broker.family();
            assert_eq!(family.broker, broker);
            assert_eq!(family.preset.broker, broker, "{}", family.name);
            assert_eq!(Broker::parse(family.id), Some(broker));
            for alias in family.aliases {
                assert_eq!(Broker::parse(alias), Some(broker), "{alias}");
            }
            assert!(!family.quirks.is_empty(), "{}", family.name);
        }
        assert_eq!(Broker::parse("rabbit"), Some(Broker::Rabbitmq));
        assert_eq!(Broker::parse("azure-iot-operations"), Some(Broker::Aio));
        assert_eq!(Broker::parse("kafka"), None);
    }

    #[test]
    fn a_familys_causes_are_for_codes_the_catalog_has() {
        for broker in Broker::ALL {
            for causes in broker.family().causes {
                assert!(
                    CATALOG
                        .iter()
                        .any(|c| c.protocol == causes.protocol && c.value == causes.code),
                    "{}: code {} not in the catalog",
                    broker.name(),
                    causes.code
                );
                assert!(!causes.causes.is_empty());
            }
        }
    }

    /// The commands and files that belong to one family only: shown to any other, they would
    /// send its user to a broker they do not run.
    const OWN_WORDS: &[(Broker, &[&str])] = &[
        (
            Broker::Mosquitto,
            &["mosquitto_", "Mosquitto's acl_file", "mosquitto.conf"],
        ),
        (Broker::Emqx, &["emqx ctl", "emqx.conf"]),
        (Broker::Rabbitmq, &["rabbitmqctl"]),
        (Broker::Vernemq, &["vmq-"]),
        (Broker::Nanomq, &["nanomq.conf"]),
        (Broker::Ejabberd, &["ejabberdctl", "ejabberd.yml"]),
        (Broker::Hivemq, &["file-rbac", "credentials.xml"]),
        (Broker::Aio, &["BrokerAuthentication", "kubectl"]),
        (Broker::Amqtt, &["amqtt"]),
        (Broker::Aedes, &["aedes"]),
    ];

    fn fix_texts(fixes: &Fixes) -> [&'static str; 6] {
        [
            fixes.credentials,
            fixes.publish_denied,
            fixes.subscribe_denied,
            fixes.delivery_lost,
            fixes.tls,
            fixes.connection_limits,
        ]
    }

    #[test]
    fn no_family_names_another_familys_commands_and_the_generic_fixes_name_none() {
        for broker in Broker::ALL {
            let family = broker.family();
            for text in fix_texts(&family.fixes) {
                for (other, words) in OWN_WORDS.iter().filter(|(b, _)| *b != broker) {
                    for word in *words {
                        assert!(
                            !text.contains(word),
                            "{}'s fix names {}'s {word}: {text}",
                            family.name,
                            other.name()
                        );
                    }
                }
            }
        }
        for text in fix_texts(&GENERIC_FIXES) {
            for broker in Broker::ALL {
                assert!(!text.contains(broker.name()), "{text}");
                for word in OWN_WORDS.iter().find(|(b, _)| *b == broker).unwrap().1 {
                    assert!(!text.contains(word), "{text}");
                }
            }
        }
    }

    fn clues(properties: PropertyClues) -> Clues {
        Clues {
            port: 1883,
            connack: Some((Protocol::V5, 0)),
            properties: Some(properties),
            ..Clues::default()
        }
    }

    #[test]
    fn a_given_broker_beats_any_sighting_and_nothing_seen_is_unknown() {
        let ejabberd_like = clues(PropertyClues {
            capabilities: Capabilities {
                topic_alias_maximum: Some(100),
                shared_subscription_available: Some(false),
                server_keep_alive: Some(60),
                ..Capabilities::default()
            },
            session_expiry_interval: Some(0),
            count: 4,
            ..PropertyClues::default()
        });
        let seen = recognise(None, &ejabberd_like);
        assert_eq!(
            (seen.broker, seen.confidence),
            (Some(Broker::Ejabberd), Confidence::Likely)
        );
        let given = recognise(Some(Broker::Emqx), &ejabberd_like);
        assert_eq!(
            (given.broker, given.confidence),
            (Some(Broker::Emqx), Confidence::Given)
        );
        let nothing = recognise(None, &Clues::default());
        assert_eq!(
            (nothing.broker, nothing.confidence),
            (None, Confidence::Unknown)
        );
        assert_eq!(nothing.applies(), None);
    }

    /// The MQTT 3.1 answers tests/brokers.rs saw: aedes code 5, amqtt a close, ejabberd code 1,
    /// Mosquitto 0 or 5.
    #[test]
    fn an_mqtt31_answer_breaks_the_ties_a_refusal_leaves() {
        let no_credentials = |answer| Clues {
            mqtt5_answer: Some(Mqtt5Answer::V311Connack(1)),
            connack: Some((Protocol::V311, 5)),
            mqtt31_answer: answer,
            ..Clues::default()
        };
        let tie = recognise(None, &no_credentials(None));
        assert_eq!(tie.broker, None);
        assert!(tie.how.contains("aedes and amqtt alike"), "{}", tie.how);
        let seen = |clues: &Clues| recognise(None, clues).broker;
        assert_eq!(
            seen(&no_credentials(Some(Mqtt31Answer::Connack(5)))),
            Some(Broker::Aedes)
        );
        assert_eq!(
            seen(&no_credentials(Some(Mqtt31Answer::Closed))),
            Some(Broker::Amqtt)
        );
        assert_eq!(seen(&no_credentials(Some(Mqtt31Answer::Other))), None);

        let refused_v5 = |answer| Clues {
            connack: Some((Protocol::V5, 0x87)),
            mqtt31_answer: Some(answer),
            ..Clues::default()
        };
        let ejabberd = recognise(None, &refused_v5(Mqtt31Answer::Connack(1)));
        assert_eq!(
            (ejabberd.broker, ejabberd.confidence),
            (Some(Broker::Ejabberd), Confidence::Likely)
        );
        // A broker that speaks 3.1 (Mosquitto among many) stays unknown.
        assert_eq!(seen(&refused_v5(Mqtt31Answer::Connack(5))), None);
        assert_eq!(seen(&refused_v5(Mqtt31Answer::Connack(0))), None);
    }

    #[test]
    fn assigned_client_ids_identify_their_family() {
        let cases = [
            (
                "auto-F9BC7AB9-8D93-8A48-0DAB-9EA73D3BCA71",
                Broker::Mosquitto,
            ),
            (
                "hmq_xy7Az_1_0d3c2f1e6a8b4c5d9e0f1a2b3c4d5e6f",
                Broker::Hivemq,
            ),
            ("anon-aGVsbG8gd29ybGQ=", Broker::Vernemq),
            ("2975000589581927627", Broker::Ejabberd),
        ];
        for (id, broker) in cases {
            // ejabberd's numbers are told from other ids by its CONNACK's other defaults.
            let capabilities = match broker {
                Broker::Ejabberd => Capabilities {
                    topic_alias_maximum: Some(100),
                    shared_subscription_available: Some(false),
                    ..Capabilities::default()
                },
                _ => Capabilities::default(),
            };
            let seen = recognise(
                None,
                &clues(PropertyClues {
                    capabilities,
                    session_expiry_interval: (broker == Broker::Ejabberd).then_some(0),
                    assigned_client_identifier: Some(id.into()),
                    count: 1,
                    ..PropertyClues::default()
                }),
            );
            assert_eq!(
                (seen.broker, seen.confidence),
                (Some(broker), Confidence::Identified),
                "{id}: {}",
                seen.how
            );
        }
    }

    #[test]
    fn the_broker_changes_the_ranking() {
        let code = find("5".parse().unwrap()).unwrap();
        let mosquitto = ranked_causes(code, Some(Broker::Mosquitto));
        assert!(mosquitto[0].contains("password file"));
        assert!(
            mosquitto
                .iter()
                .any(|c| c.contains("systemctl reload mosquitto"))
        );
        let emqx = ranked_causes(find("0x86".parse().unwrap()).unwrap(), Some(Broker::Emqx));
        assert!(emqx[0].contains("JWT claim"));
        // Without a broker, no family's causes pass for the general ones.
        let all = ranked_causes(code, None);
        assert_eq!(all.len(), code.causes.len());
        assert!(page(code, None).contains("- Mosquitto: "));
        let rabbit = ranked_causes(code, Some(Broker::Rabbitmq));
        assert!(
            rabbit[0].contains("rabbitmqctl set_permissions"),
            "{rabbit:?}"
        );
        assert!(!rabbit.iter().any(|c| c.contains("mosquitto")));
    }

    #[test]
    fn every_broker_has_one_preset() {
        for broker in Broker::ALL {
            assert_eq!(preset(broker).broker, broker);
        }
    }

    #[test]
    fn files_are_read_below_the_root() {
        let root = tempfile::tempdir().unwrap();
        let aio = preset(Broker::Aio);
        let setting = |option: &str| aio.settings.iter().find(|s| s.option == option).unwrap();
        // The CA is used only when it is there; the token always, so that its absence is a finding.
        assert_eq!(
            crate::presets::resolve(setting("cafile"), root.path()),
            None
        );
        assert_eq!(
            crate::presets::resolve(setting("token-file"), root.path()),
            Some(
                root.path()
                    .join("var/run/secrets/tokens/broker-sat")
                    .display()
                    .to_string()
            )
        );
        std::fs::create_dir_all(root.path().join("var/run/certs")).unwrap();
        std::fs::write(root.path().join("var/run/certs/ca.crt"), "x").unwrap();
        assert_eq!(
            crate::presets::resolve(setting("cafile"), root.path()),
            Some(
                root.path()
                    .join("var/run/certs/ca.crt")
                    .display()
                    .to_string()
            )
        );
    }
}
