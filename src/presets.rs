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

/// The preset's name on the command line: the family's.
pub fn name(broker: Broker) -> &'static str {
    broker.id()
}

/// Where Kubernetes projects extra tokens by convention, and the token Azure IoT Operations
/// clients use.
pub const TOKENS_DIR: &str = "/var/run/secrets/tokens";
pub const AIO_TOKEN: &str = "/var/run/secrets/tokens/broker-sat";
pub const AIO_AUDIENCE: &str = "aio-internal";

/// Every family's preset, in the order of [`Broker::ALL`]; each lives in its family's module.
pub fn all() -> impl Iterator<Item = &'static Preset> {
    Broker::ALL.into_iter().map(|b| &b.family().preset)
}

pub fn get(broker: Broker) -> &'static Preset {
    &broker.family().preset
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
    for preset in all() {
        let family = preset.broker.family();
        text.push_str(&format!("{}: {}\n", preset.name(), preset.title));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_broker_has_one_preset() {
        for broker in Broker::ALL {
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
