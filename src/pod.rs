//! What a pod has mounted: its namespace, its ServiceAccount, and the tokens it could present.
//!
//! Inside a pod the usual question is not "is my token valid" but "which token do I have at
//! all": the default ServiceAccount token (audience: the API server) is always there, while the
//! token a broker accepts is a projected one under `/var/run/secrets/tokens/` only if the pod spec
//! asks for it. Listing them, with audience and expiry, answers that before any CONNECT. Every
//! path is read below `MQTT_DOCTOR_ROOT`, so a copied pod filesystem reads like the pod itself.
//! Token contents never leave this module: only claims that are not secret, a length and a
//! fingerprint.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::files::below_root;
use crate::jwt;
use crate::secret;

pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
pub const TOKENS_DIR: &str = crate::presets::TOKENS_DIR;

/// The most read of any one file here: far more than any token or namespace name.
const MAX_FILE: u64 = 64 * 1024;
/// The most projected tokens listed; a directory with more is not a token directory.
const MAX_TOKENS: usize = 32;

/// A token file found in the pod.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenFile {
    /// The path as the pod sees it (without the root prefix).
    pub path: String,
    /// The path actually read.
    pub host_path: PathBuf,
    pub audiences: Vec<String>,
    /// Seconds until `exp` (negative: expired); `None` without `exp`.
    pub expires_in: Option<i64>,
    /// `NAMESPACE/NAME` of the ServiceAccount it speaks for.
    pub service_account: Option<String>,
    /// `N bytes, fp:…`, or why the file is not a token.
    pub describe: String,
}

impl TokenFile {
    fn to_json(&self) -> Value {
        // Every key in every row, so that the rows read as one table.
        json!({
            "path": self.path,
            "audiences": self.audiences,
            "expires_in_s": self.expires_in,
            "service_account": self.service_account,
            "token": self.describe,
        })
    }

    pub fn has_audience(&self, audience: &str) -> bool {
        self.audiences.iter().any(|a| a == audience)
    }
}

/// What the doctor could learn about the pod it runs in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodInfo {
    pub namespace: Option<String>,
    /// The ServiceAccount's name, from the default token's claims.
    pub service_account: Option<String>,
    pub pod: Option<String>,
    /// The default ServiceAccount token, when mounted.
    pub default_token: Option<TokenFile>,
    /// Tokens projected under `/var/run/secrets/tokens/`, by name.
    pub projected: Vec<TokenFile>,
    /// Why the tokens directory could not be listed, when it exists but cannot be.
    pub projected_problem: Option<String>,
}

impl PodInfo {
    /// Reads the pod's files below `root`.
    pub fn discover(root: &Path, now: SystemTime) -> PodInfo {
        let below = |absolute: &str| below_root(root, absolute);
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let default_path = format!("{SERVICE_ACCOUNT_DIR}/token");
        let default = token_file(&default_path, &below(&default_path), now);
        let mut info = PodInfo {
            namespace: read_small(&below(&format!("{SERVICE_ACCOUNT_DIR}/namespace")))
                .map(|text| text.trim().to_string())
                .filter(|ns| !ns.is_empty()),
            ..PodInfo::default()
        };
        if let Some((token, claims)) = default {
            info.service_account = token
                .service_account
                .as_deref()
                .and_then(|account| account.split('/').nth(1))
                .map(str::to_string);
            info.pod = claims
                .get("kubernetes.io")
                .and_then(|k| k.get("pod"))
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string);
            info.default_token = Some(token);
        }

        let dir = below(TOKENS_DIR);
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    // The kubelet's `..data` and timestamped directories are its bookkeeping.
                    .filter(|n| !n.starts_with('.'))
                    .collect();
                names.sort();
                names.truncate(MAX_TOKENS);
                info.projected = names
                    .iter()
                    .filter_map(|name| {
                        let path = format!("{TOKENS_DIR}/{name}");
                        token_file(&path, &dir.join(name), now).map(|(token, _)| token)
                    })
                    .collect();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => info.projected_problem = Some(e.to_string()),
        }
        info
    }

    /// The projected tokens whose audience is `audience`.
    pub fn projected_for(&self, audience: &str) -> Vec<&TokenFile> {
        self.projected
            .iter()
            .filter(|t| t.has_audience(audience))
            .collect()
    }

    /// One line, e.g. `namespace factory, ServiceAccount mqtt-client, 2 projected tokens`.
    pub fn summary(&self) -> String {
        format!(
            "namespace {}, ServiceAccount {}, {} projected token{}",
            self.namespace.as_deref().unwrap_or("unknown"),
            self.service_account.as_deref().unwrap_or("unknown"),
            self.projected.len(),
            if self.projected.len() == 1 { "" } else { "s" }
        )
    }

    pub fn evidence(&self) -> Vec<(&'static str, Value)> {
        let mut evidence = vec![
            ("namespace", json!(self.namespace)),
            ("service_account", json!(self.service_account)),
        ];
        if let Some(pod) = &self.pod {
            evidence.push(("pod", json!(pod)));
        }
        evidence.push((
            "default_token",
            self.default_token
                .as_ref()
                .map_or(Value::Null, TokenFile::to_json),
        ));
        evidence.push((
            "projected_tokens",
            Value::Array(self.projected.iter().map(TokenFile::to_json).collect()),
        ));
        if let Some(problem) = &self.projected_problem {
            evidence.push(("projected_tokens_problem", json!(problem)));
        }
        evidence
    }
}

fn read_small(path: &Path) -> Option<String> {
    String::from_utf8(crate::files::read_capped(path, MAX_FILE).ok()?).ok()
}

/// A token file and its claims (empty when it is not a JWT).
fn token_file(path: &str, host_path: &Path, now: i64) -> Option<(TokenFile, Map<String, Value>)> {
    if !host_path.is_file() {
        return None;
    }
    let text = read_small(host_path);
    let trimmed = text.as_deref().map(str::trim).unwrap_or("");
    let decoded = jwt::decode(trimmed).ok();
    let describe = match &text {
        None => "unreadable, or not UTF-8".to_string(),
        Some(_) if decoded.is_none() => format!(
            "{} bytes, {}, not a JWT",
            trimmed.len(),
            secret::fingerprint(trimmed.as_bytes())
        ),
        Some(_) => format!(
            "{} bytes, {}",
            trimmed.len(),
            secret::fingerprint(trimmed.as_bytes())
        ),
    };
    let audiences = decoded
        .as_ref()
        .and_then(|jwt| jwt.audiences())
        .unwrap_or_default();
    let claims = decoded.map(|jwt| jwt.claims).unwrap_or_default();
    let service_account = claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("system:serviceaccount:"))
        .map(|s| s.replacen(':', "/", 1));
    let token = TokenFile {
        path: path.to_string(),
        host_path: host_path.to_path_buf(),
        expires_in: claims
            .get("exp")
            .and_then(Value::as_i64)
            .map(|exp| exp - now),
        audiences,
        service_account,
        describe,
    };
    Some((token, claims))
}
