//! Modules: the config file's profiles, each fixing everything about a probe but its target, and
//! the targets each may probe. A module probes its own targets (`targets` in the profile) and
//! whatever its `allow` patterns match, nothing else: an open `/probe` must not become a way to
//! scan the network the exporter sits in.

use std::path::Path;
use std::time::Duration;

use wildmatch::WildMatch;

use crate::config::DoctorConfig;
use crate::config_file::{ConfigFile, Layer};
use crate::target::Target;

/// Builds one probe's configuration from a module's layers and the probe's target: the CLI's
/// parsers and precedence, handed in by the CLI (which this module must not import).
pub type Configure = fn(&[Layer], &str) -> Result<DoctorConfig, String>;

/// The longest module name shown or used as a label; longer ones are refused at startup.
const MAX_NAME: usize = 64;

#[derive(Debug)]
pub struct Module {
    pub name: String,
    layers: Vec<Layer>,
    /// The `allow` patterns as written, for the landing page.
    pub allow: Vec<String>,
    /// The same, as `host:port` matchers.
    matchers: Vec<WildMatch>,
    /// The module's own targets as `host:port`, lower case.
    pub own: Vec<String>,
    /// The module's `--deadline`: no probe with it runs longer.
    pub deadline: Duration,
}

/// `host:port` of a target, lower case, IPv6 in brackets: what patterns are matched against.
pub fn endpoint(target: &Target) -> String {
    format!("{}:{}", target.host, target.port).to_ascii_lowercase()
}

/// A pattern without a port (`*.lan`, `10.0.0.5`, `[fd00::1]`) matches every port.
fn matcher(pattern: &str) -> WildMatch {
    let pattern = pattern.trim().to_ascii_lowercase();
    let host_only = !pattern.contains(':') || pattern.ends_with(']');
    if host_only {
        WildMatch::new(&format!("{pattern}:*"))
    } else {
        WildMatch::new(&pattern)
    }
}

impl Module {
    /// Whether this module may probe `target`.
    pub fn allows(&self, target: &Target) -> bool {
        let endpoint = endpoint(target);
        self.own.contains(&endpoint) || self.matchers.iter().any(|m| m.matches(&endpoint))
    }

    /// The probe's configuration, before anything touches the network.
    pub fn config(&self, configure: Configure, target: &str) -> Result<DoctorConfig, String> {
        configure(&self.layers, target)
    }
}

/// Every profile of the file as a module, each checked as a probe of its own first target
/// would be, so that a mistake is found at startup rather than at the first scrape.
pub fn load(path: &Path, configure: Configure) -> Result<Vec<Module>, String> {
    let file = ConfigFile::load(path)?;
    let names = file.profiles();
    if names.is_empty() {
        return Err(format!(
            "{} has no profiles; each [profiles.NAME] table is a module of `serve`",
            path.display()
        ));
    }
    let mut modules = Vec::new();
    for name in names {
        if name.len() > MAX_NAME || name.chars().any(|c| c.is_control()) {
            return Err(format!(
                "{}: a profile name used as a module is at most {MAX_NAME} printable characters",
                path.display()
            ));
        }
        let layers = file.layers(Some(&name))?;
        let allow = file.allowed(&name)?;
        let written: Vec<String> = layers
            .iter()
            .rev()
            .find_map(|l| l.values.iter().find(|(k, _)| k == "target"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut own = Vec::new();
        let mut deadline = None;
        for text in &written {
            let config = configure(&layers, text).map_err(|e| format!("[profiles.{name}]: {e}"))?;
            own.push(endpoint(&config.target));
            deadline.get_or_insert(config.deadline);
        }
        let deadline = match deadline {
            Some(deadline) => deadline,
            None => {
                configure(&layers, "localhost")
                    .map_err(|e| format!("[profiles.{name}]: {e}"))?
                    .deadline
            }
        };
        modules.push(Module {
            name,
            layers,
            matchers: allow.iter().map(|p| matcher(p)).collect(),
            allow,
            own,
            deadline,
        });
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> Target {
        crate::target::parse_with(text, crate::target::Scheme::Mqtt, None).unwrap()
    }

    #[test]
    fn patterns_match_host_and_port() {
        let module = Module {
            name: "m".into(),
            layers: Vec::new(),
            allow: Vec::new(),
            matchers: [
                "*.lan",
                "10.0.0.5:1883",
                "[fd00::1]",
                "Broker-?.EXAMPLE.com:88*",
            ]
            .iter()
            .map(|p| matcher(p))
            .collect(),
            own: vec!["own.example:1883".into()],
            deadline: Duration::from_secs(1),
        };
        for yes in [
            "mqtt://a.lan:1",
            "b.c.lan",
            "10.0.0.5",
            "mqtts://[fd00::1]:8883",
            "mqtts://broker-1.example.com",
            "own.example",
        ] {
            assert!(module.allows(&target(yes)), "{yes}");
        }
        for no in [
            "lan",
            "a.lan.evil.com",
            "10.0.0.5:1884",
            "10.0.0.50",
            "[fd00::2]",
            "mqtt://broker-12.example.com:8883",
            "own.example:1884",
        ] {
            assert!(!module.allows(&target(no)), "{no}");
        }
    }
}
