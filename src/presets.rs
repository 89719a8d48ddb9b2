//! Presets: one short word for the defaults a broker family needs (`--preset aio`).
//!
//! The Azure IoT Operations docs have people type a long `mosquitto_sub` line with the auth method,
//! the token file, the CA and the port; a preset carries that knowledge instead. A preset only
//! supplies defaults: a flag, an `MQTT_DOCTOR_*` variable or a profile in the config file beats
//! it, option by option (the CLI does the layering). Well-known files are named as absolute pod
//! paths and read below `MQTT_DOCTOR_ROOT`, so a copied pod filesystem works like a real pod.

use std::path::Path;

use crate::broker_id::Broker;
use crate::files::below_root;
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

/// Where Kubernetes projects extra tokens by convention, and the token Azure IoT Operations
/// clients use.
pub const TOKENS_DIR: &str = "/var/run/secrets/tokens";
pub const AIO_TOKEN: &str = "/var/run/secrets/tokens/broker-sat";
pub const AIO_AUDIENCE: &str = "aio-internal";

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
