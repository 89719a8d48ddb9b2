//! Presets: one short word for the defaults a broker family needs (`--preset aio`).
//!
//! The Azure IoT Operations docs have people type a long `mosquitto_sub` line with the auth method,
//! the token file, the CA and the port; a preset carries that knowledge instead. A preset only
//! supplies defaults: a flag, an `MQTT_DOCTOR_*` variable or a profile in the config file beats
//! it, option by option (the CLI does the layering). Well-known files are named as absolute pod
//! paths and read below `MQTT_DOCTOR_ROOT`, so a copied pod filesystem works like a real pod.

use std::path::Path;

use crate::files::below_root;
use crate::reason_codes::Broker;
use crate::target::Scheme;

/// How a preset value is found.
#[derive(Clone, Copy, Debug)]
pub enum Value {
    /// Used as written.
    Text(&'static str),
    /// A well-known file, read below the root. Used whether or not it exists: its absence is
    /// then a finding with the fix (a token the broker needs).
    File(&'static str),
    /// A well-known file, read below the root, used only when it exists there (a CA bundle that
    /// is mounted in some pods and not others).
    FileIfPresent(&'static str),
}

/// One default of a preset, with the reason it is what it is.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// The long option name, as on the command line and in the config file.
    pub option: &'static str,
    pub value: Value,
    pub why: &'static str,
}

#[derive(Debug)]
pub struct Preset {
    pub broker: Broker,
    pub title: &'static str,
    /// The target when none is given.
    pub target: &'static str,
    /// What a target without a scheme means, and the port when it names none.
    pub scheme: Scheme,
    pub port: u16,
    pub settings: &'static [Setting],
    /// What else to know about this broker family, shown by `mqtt-doctor presets`.
    pub notes: &'static str,
}

impl Preset {
    pub fn name(&self) -> &'static str {
        name(self.broker)
    }
}

/// The preset's name on the command line.
pub fn name(broker: Broker) -> &'static str {
    match broker {
        Broker::Aio => "aio",
        Broker::Mosquitto => "mosquitto",
        Broker::Emqx => "emqx",
        Broker::Hivemq => "hivemq",
    }
}

/// Where Kubernetes projects extra tokens by convention, and the token Azure IoT Operations
/// clients use.
pub const TOKENS_DIR: &str = "/var/run/secrets/tokens";
pub const AIO_TOKEN: &str = "/var/run/secrets/tokens/broker-sat";
pub const AIO_AUDIENCE: &str = "aio-internal";

pub const ALL: [Preset; 4] = [
    Preset {
        broker: Broker::Aio,
        title: "Azure IoT Operations MQTT broker, from a pod in the cluster",
        target: "aio-broker.azure-iot-operations.svc.cluster.local",
        scheme: Scheme::Mqtts,
        port: 18883,
        settings: &[
            Setting {
                option: "cafile",
                value: Value::FileIfPresent("/var/run/certs/ca.crt"),
                why: "the trust bundle (ConfigMap azure-iot-operations-aio-ca-trust-bundle, key ca.crt) where clients mount it",
            },
            Setting {
                option: "token-file",
                value: Value::File(AIO_TOKEN),
                why: "the projected ServiceAccount token; in a pod, another projected token with audience aio-internal is used when this one is missing",
            },
            Setting {
                option: "auth-method",
                value: Value::Text("K8S-SAT"),
                why: "MQTT 5 enhanced authentication with the token as data",
            },
            Setting {
                option: "audience",
                value: Value::Text(AIO_AUDIENCE),
                why: "the audience BrokerAuthentication accepts by default",
            },
            Setting {
                option: "mqtt-version",
                value: Value::Text("5"),
                why: "enhanced authentication exists only in MQTT 5",
            },
            Setting {
                option: "broker",
                value: Value::Text("aio"),
                why: "rank causes as Azure IoT Operations shows them",
            },
        ],
        notes: "Listener: service aio-broker in namespace azure-iot-operations, port 18883, TLS. \
                From the azure-iot-operations namespace the short name aio-broker works too. \
                A token the broker rejects comes back as CONNACK 0x86 or 0x87.",
    },
    Preset {
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
    Preset {
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
    Preset {
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
];

pub fn get(broker: Broker) -> &'static Preset {
    ALL.iter().find(|p| p.broker == broker).unwrap_or(&ALL[0])
}

/// A preset setting as it applies to this run: its value, and whether a well-known file was
/// missing (then the setting is left out).
pub fn resolve(setting: &Setting, root: &Path) -> Option<String> {
    match setting.value {
        Value::Text(text) => Some(text.to_string()),
        Value::File(path) => Some(below_root(root, path).display().to_string()),
        Value::FileIfPresent(path) => {
            let path = below_root(root, path);
            path.is_file().then(|| path.display().to_string())
        }
    }
}

/// The `mqtt-doctor presets` listing.
pub fn listing() -> String {
    let mut text = String::new();
    for preset in &ALL {
        text.push_str(&format!("{}: {}\n", preset.name(), preset.title));
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
                Value::Text(text) => text.to_string(),
                Value::File(path) => path.to_string(),
                Value::FileIfPresent(path) => format!("{path} (when present)"),
            };
            text.push_str(&format!(
                "  {:<13} {value}\n  {:<13} ({})\n",
                setting.option, "", setting.why
            ));
        }
        text.push_str(&format!(
            "{}\n\n",
            textwrap::indent(&textwrap::fill(preset.notes, 94), "  ")
        ));
    }
    text.push_str(
        "Any option given on the command line, in an MQTT_DOCTOR_* variable or in a config-file \
         profile overrides the preset's.\nFiles are read below MQTT_DOCTOR_ROOT (default /).\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_broker_has_one_preset() {
        for broker in [Broker::Aio, Broker::Mosquitto, Broker::Emqx, Broker::Hivemq] {
            assert_eq!(get(broker).broker, broker);
        }
    }

    #[test]
    fn files_are_read_below_the_root() {
        let root = tempfile::tempdir().unwrap();
        let aio = get(Broker::Aio);
        let setting = |option: &str| aio.settings.iter().find(|s| s.option == option).unwrap();
        // The CA is used only when it is there; the token always, so that its absence is a finding.
        assert_eq!(resolve(setting("cafile"), root.path()), None);
        assert_eq!(
            resolve(setting("token-file"), root.path()),
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
            resolve(setting("cafile"), root.path()),
            Some(
                root.path()
                    .join("var/run/certs/ca.crt")
                    .display()
                    .to_string()
            )
        );
    }
}
