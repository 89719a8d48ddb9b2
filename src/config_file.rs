//! The config file: `mqtt-doctor.toml`, committed next to the code that talks to the brokers.
//!
//! ```toml
//! timeout = "3s"                  # top level: every run
//!
//! [profiles.staging]
//! preset = "emqx"
//! targets = ["mqtts://emqx-1.staging:8883", "mqtts://emqx-2.staging:8883"]
//! cafile = "certs/staging-ca.pem" # relative to this file
//! username = "ci-preflight"
//! token-file = "/run/secrets/mqtt-jwt"
//! ```
//!
//! Keys are the doctor's long option names, so there is nothing new to learn and `--help` is the
//! reference. This module only reads the file into layers of option values; the CLI checks them
//! with the same parsers as the command line and puts them under the flags and the environment.
//! Secrets are refused: a file meant to be committed must not hold a password or a token, only
//! the path of a file that does.

use std::path::{Path, PathBuf};

use crate::files;

/// Where the doctor looks when `--config` is not given.
pub const DEFAULT_FILE: &str = "mqtt-doctor.toml";

/// The largest config file read; anything bigger is not a config file.
const MAX_SIZE: u64 = 1024 * 1024;

/// Options whose values are paths: a relative path means relative to the config file.
const PATH_OPTIONS: &[&str] = &[
    "cafile",
    "capath",
    "cert",
    "key",
    "password-file",
    "token-file",
    "jwt-key",
    "jwks",
    "root",
    "save-chain",
    "k8s-resources",
];

/// Options that take a secret, which a committed file must not hold.
const SECRET_OPTIONS: &[(&str, &str)] = &[
    ("password", "password-file"),
    ("token", "token-file"),
    ("jwt-secret", "MQTT_DOCTOR_JWT_SECRET"),
];

/// A profile's key that is no doctor option: the targets `serve` may probe with the profile
/// (host or host:port patterns). The doctor ignores it, so one profile serves both.
pub const ALLOW: &str = "allow";

/// Options that choose what the file means, or how output looks only on a terminal.
const NOT_IN_FILE: &[&str] = &["config", "profile", "help"];

/// Option values from one part of the file, in the order written.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// For messages, e.g. `mqtt-doctor.toml [profiles.staging]`.
    pub source: String,
    /// Long option name (`target` for `target`/`targets`), and its values, sorted by name.
    pub values: Vec<(String, Vec<String>)>,
}

#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    table: toml::Table,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, String> {
        let shown = path.display();
        let bytes = files::read_capped(path, MAX_SIZE).map_err(|e| match e {
            files::ReadError::TooLarge(_) => {
                format!("{shown} is larger than {MAX_SIZE} bytes; it is not a config file")
            }
            files::ReadError::Io(error) => {
                format!("cannot read {shown}: {}", files::io_problem(&error))
            }
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!(
                "{shown} is not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            )
        })?;
        Self::parse(&text, path)
    }

    /// A config file's text; `path` names it in errors and anchors its relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, String> {
        let shown = path.display();
        // The message without the quoted source line, which may hold a secret typed by mistake.
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| format!(" (line {})", text[..span.start].matches('\n').count() + 1))
                .unwrap_or_default();
            format!("{shown} is not valid TOML{line}: {}", e.message())
        })?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            table,
        })
    }

    /// The profile names, sorted.
    pub fn profiles(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .table
            .get("profiles")
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The top-level settings, then the profile's (later layers win).
    pub fn layers(&self, profile: Option<&str>) -> Result<Vec<Layer>, String> {
        let name = self.path.display().to_string();
        let mut layers = vec![self.layer(&self.table, name.clone(), true)?];
        if let Some(profile) = profile {
            let profiles = self.table.get("profiles").and_then(toml::Value::as_table);
            let Some(table) = profiles
                .and_then(|p| p.get(profile))
                .and_then(toml::Value::as_table)
            else {
                let known = self.profiles();
                return Err(if known.is_empty() {
                    format!("{name} has no profiles; add a [profiles.{profile}] table")
                } else {
                    format!(
                        "{name} has no profile \"{profile}\"; it has: {}",
                        known.join(", ")
                    )
                });
            };
            layers.push(self.layer(table, format!("{name} [profiles.{profile}]"), false)?);
        }
        Ok(layers)
    }

    /// A profile's `allow` patterns, as written; empty when it has none.
    pub fn allowed(&self, profile: &str) -> Result<Vec<String>, String> {
        let value = self
            .table
            .get("profiles")
            .and_then(toml::Value::as_table)
            .and_then(|p| p.get(profile))
            .and_then(toml::Value::as_table)
            .and_then(|t| t.get(ALLOW));
        match value {
            Some(value) => scalars(value).map_err(|what| {
                format!(
                    "{} [profiles.{profile}]: {ALLOW}: {what}",
                    self.path.display()
                )
            }),
            None => Ok(Vec::new()),
        }
    }

    fn layer(&self, table: &toml::Table, source: String, top: bool) -> Result<Layer, String> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        let mut values = Vec::new();
        for (key, value) in table {
            if top && key == "profiles" {
                if !value.is_table() {
                    return Err(format!("{source}: profiles must be a table of tables"));
                }
                continue;
            }
            if key == ALLOW {
                if top {
                    return Err(format!(
                        "{source}: {ALLOW} belongs in a [profiles.NAME] table: it lists the \
                         targets `mqtt-doctor serve` may probe with that profile"
                    ));
                }
                scalars(value).map_err(|what| format!("{source}: {key}: {what}"))?;
                continue;
            }
            if let Some((_, instead)) = SECRET_OPTIONS.iter().find(|(k, _)| k == key) {
                return Err(format!(
                    "{source}: {key} is a secret and does not belong in a config file; use \
                     {instead} instead"
                ));
            }
            if NOT_IN_FILE.contains(&key.as_str()) {
                return Err(format!("{source}: {key} cannot be set in the config file"));
            }
            let option = if key == "targets" { "target" } else { key };
            let mut list = scalars(value).map_err(|what| format!("{source}: {key}: {what}"))?;
            if PATH_OPTIONS.contains(&option) {
                list = list
                    .into_iter()
                    .map(|p| base.join(p).display().to_string())
                    .collect();
            }
            values.push((option.to_string(), list));
        }
        Ok(Layer { source, values })
    }
}

/// A value as option values: a string, number or boolean, or an array of them.
fn scalars(value: &toml::Value) -> Result<Vec<String>, String> {
    let one = |v: &toml::Value| -> Result<String, String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(n) => Ok(n.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            other => Err(format!(
                "expected a string, number or boolean, found {}",
                other.type_str()
            )),
        }
    };
    match value {
        toml::Value::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|v| vec![v]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, ConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mqtt-doctor.toml");
        std::fs::write(&path, text).unwrap();
        let file = ConfigFile::load(&path).unwrap();
        (dir, file)
    }

    #[test]
    fn top_level_then_profile_with_paths_relative_to_the_file() {
        let (dir, file) = file(
            "timeout = \"3s\"\n[profiles.staging]\ntargets = [\"a\", \"b\"]\ncafile = \"ca.pem\"\nkeepalive = 30\nstrict = true\n",
        );
        assert_eq!(file.profiles(), ["staging"]);
        let layers = file.layers(Some("staging")).unwrap();
        assert_eq!(layers[0].values, [("timeout".into(), vec!["3s".into()])]);
        let ca = dir.path().join("ca.pem").display().to_string();
        assert_eq!(
            layers[1].values,
            [
                ("cafile".to_string(), vec![ca]),
                ("keepalive".into(), vec!["30".into()]),
                ("strict".into(), vec!["true".into()]),
                ("target".into(), vec!["a".into(), "b".into()]),
            ]
        );
        assert!(layers[1].source.ends_with("[profiles.staging]"));
    }

    #[test]
    fn allow_is_a_profile_key_for_serve_that_the_doctor_never_sees() {
        let (_dir, f) =
            file("[profiles.a]\nallow = [\"*.lan:1883\", \"10.0.0.5\"]\nkeepalive = 5\n");
        assert_eq!(f.allowed("a").unwrap(), ["*.lan:1883", "10.0.0.5"]);
        let layers = f.layers(Some("a")).unwrap();
        assert_eq!(layers[1].values, [("keepalive".into(), vec!["5".into()])]);
        let (_dir, f) = file("allow = [\"x\"]\n");
        assert!(
            f.layers(None)
                .unwrap_err()
                .contains("allow belongs in a [profiles.NAME]")
        );
    }

    #[test]
    fn errors_name_the_file_the_profile_and_the_key() {
        let (_dir, f) = file("[profiles.a]\npassword = \"hunter2\"\n");
        let error = f.layers(Some("a")).unwrap_err();
        assert!(
            error.contains("[profiles.a]: password is a secret"),
            "{error}"
        );
        assert!(!error.contains("hunter2"));
        assert!(f.layers(Some("b")).unwrap_err().contains("it has: a"));
        let (_dir, f) = file("[profiles.a]\ncafile = { x = 1 }\n");
        assert!(
            f.layers(Some("a"))
                .unwrap_err()
                .contains("cafile: expected")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "timeout = ").unwrap();
        assert!(
            ConfigFile::load(&path)
                .unwrap_err()
                .contains("not valid TOML")
        );
        assert!(
            ConfigFile::load(&dir.path().join("none.toml"))
                .unwrap_err()
                .ends_with("none.toml: it does not exist")
        );
        assert!(
            ConfigFile::load(Path::new("/dev/zero"))
                .unwrap_err()
                .contains("larger than 1048576 bytes")
        );
        std::fs::write(&path, b"timeout = \"\xff\"").unwrap();
        assert!(
            ConfigFile::load(&path)
                .unwrap_err()
                .contains("is not UTF-8 text (byte 11)")
        );
    }
}
