//! What the user points the doctor at.
//!
//! A target is either a URL (`mqtt://`, `mqtts://`, `tcp://`, `ssl://`, `ws://`, `wss://`) or a bare
//! `host[:port]`, which means plain MQTT. Parsing leans on the `url` crate (already in the tree
//! through hickory); what is added here is the MQTT-specific part: the schemes, their default ports,
//! and errors that say exactly which part of the input is wrong. Non-special URL schemes keep their
//! host opaque, so IP literals and host names are validated here rather than by `url`.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the doctor talks to the broker once TCP is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain MQTT over TCP (`mqtt://`, `tcp://`, or no scheme).
    Mqtt,
    /// MQTT over TLS (`mqtts://`, `ssl://`).
    Mqtts,
    /// MQTT over WebSocket (`ws://`).
    Ws,
    /// MQTT over WebSocket over TLS (`wss://`).
    Wss,
}

impl Scheme {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "mqtt" | "tcp" => Some(Self::Mqtt),
            "mqtts" | "ssl" => Some(Self::Mqtts),
            "ws" => Some(Self::Ws),
            "wss" => Some(Self::Wss),
            _ => None,
        }
    }

    /// The canonical scheme name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mqtt => "mqtt",
            Self::Mqtts => "mqtts",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// The port used when the target names none: the IANA MQTT ports, and the web ports for
    /// WebSocket URLs as a browser would use them.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Mqtt => 1883,
            Self::Mqtts => 8883,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }

    /// Whether the connection is wrapped in TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Mqtts | Self::Wss)
    }

    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// The host part of a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A name to resolve, without a trailing dot unless the user wrote one.
    Name(String),
    /// An IP literal: nothing to resolve.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A validated target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The text the user gave, for reports.
    pub input: String,
    pub scheme: Scheme,
    pub host: Host,
    pub port: u16,
    /// The HTTP path of a WebSocket target (default `/mqtt`); `None` for MQTT over TCP.
    pub path: Option<String>,
    /// The path was written in the target rather than defaulted.
    pub explicit_path: bool,
}

impl Target {
    /// The target in canonical URL form, e.g. `mqtt://127.0.0.1:1883`.
    pub fn url(&self) -> String {
        let path = self.path.as_deref().unwrap_or("");
        format!(
            "{}://{}:{}{}",
            self.scheme.as_str(),
            self.host,
            self.port,
            path
        )
    }

    /// `host:port` as a client would dial it (IPv6 in brackets).
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

impl std::str::FromStr for Target {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse(input)
    }
}

/// Why a target was rejected; each variant names the offending part.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("the target is empty; give a URL such as mqtt://broker:1883 or host:port")]
    Empty,
    #[error("unknown scheme \"{0}://\"; use mqtt, mqtts, tcp, ssl, ws or wss")]
    UnknownScheme(String),
    #[error("\"{input}\": {source}")]
    Url {
        input: String,
        #[source]
        source: url::ParseError,
    },
    #[error("\"{0}\" has no host; give one, e.g. mqtt://broker.example.com:1883")]
    MissingHost(String),
    #[error("write IPv6 addresses in brackets, e.g. [{0}] or [{0}]:1883")]
    BareIpv6(Ipv6Addr),
    #[error("\"{host}\" is not a valid host name: {reason}")]
    InvalidHost { host: String, reason: &'static str },
    #[error("port 0 is not a port a broker can listen on")]
    PortZero,
    #[error(
        "credentials in the target URL are not accepted (they would end up in shell history and CI logs); remove \"{0}@\""
    )]
    Credentials(String),
    #[error("{scheme}:// targets take no path (got \"{path}\"); paths are for ws:// and wss://")]
    UnexpectedPath { scheme: &'static str, path: String },
    #[error("targets take no query or fragment (got \"{0}\")")]
    QueryOrFragment(String),
}

/// Parses a target as typed on the command line.
pub fn parse(input: &str) -> Result<Target, TargetError> {
    parse_with(input, Scheme::Mqtt, None)
}

/// Parses a target, reading a bare `host[:port]` as `scheme` and a missing port of that scheme
/// as `port` (a preset's listener, e.g. Azure IoT Operations' mqtts on 18883). An explicit
/// scheme or port always wins.
pub fn parse_with(input: &str, scheme: Scheme, port: Option<u16>) -> Result<Target, TargetError> {
    let default = (scheme, port);
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(TargetError::Empty);
    }
    let (scheme, url_text) = match trimmed.split_once("://") {
        Some((name, _)) => {
            let lower = name.to_ascii_lowercase();
            let scheme =
                Scheme::from_name(&lower).ok_or_else(|| TargetError::UnknownScheme(name.into()))?;
            (scheme, trimmed.to_string())
        }
        None => {
            if let Ok(ip) = trimmed.parse::<Ipv6Addr>() {
                return Err(TargetError::BareIpv6(ip));
            }
            (default.0, format!("{}://{trimmed}", default.0.as_str()))
        }
    };

    let url = url::Url::parse(&url_text).map_err(|source| TargetError::Url {
        input: redact(trimmed),
        source,
    })?;

    if !url.username().is_empty() || url.password().is_some() {
        let user = url.username();
        let shown = if url.password().is_some() {
            format!("{user}:***")
        } else {
            user.to_string()
        };
        return Err(TargetError::Credentials(shown));
    }
    if url.query().is_some() || url.fragment().is_some() {
        let extra = [url.query(), url.fragment()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("#");
        return Err(TargetError::QueryOrFragment(extra));
    }

    let host = match url.host() {
        None => return Err(TargetError::MissingHost(trimmed.to_string())),
        Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(domain)) => {
            if domain.is_empty() {
                return Err(TargetError::MissingHost(trimmed.to_string()));
            }
            match domain.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(validate_hostname(domain)?),
            }
        }
    };

    let port = match (url.port(), default) {
        (Some(port), _) => port,
        (None, (preset_scheme, Some(port))) if preset_scheme == scheme => port,
        (None, _) => scheme.default_port(),
    };
    if port == 0 {
        return Err(TargetError::PortZero);
    }

    let path = url.path();
    let explicit_path = !(path.is_empty() || path == "/");
    let path = if scheme.is_websocket() {
        Some(if path.is_empty() || path == "/" {
            "/mqtt".to_string()
        } else {
            path.to_string()
        })
    } else if path.is_empty() || path == "/" {
        None
    } else {
        return Err(TargetError::UnexpectedPath {
            scheme: scheme.as_str(),
            path: path.to_string(),
        });
    };

    Ok(Target {
        input: input.to_string(),
        scheme,
        host,
        port,
        path,
        explicit_path,
    })
}

/// The input with any password in it masked, fit to appear in an error message.
pub fn redact(input: &str) -> String {
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), input),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            let masked = if rest[..at].contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}{masked}{}", &rest[at..])
        }
        None => input.to_string(),
    }
}

/// Checks a host name against RFC 1123 (plus `_`, which real service names carry) and lowercases
/// it, so that the DNS stage never sends a query the name cannot stand for.
fn validate_hostname(name: &str) -> Result<String, TargetError> {
    let invalid = |reason| TargetError::InvalidHost {
        host: name.to_string(),
        reason,
    };
    if !name.is_ascii() || name.contains('%') {
        return Err(invalid(
            "only ASCII letters, digits, '-', '_' and '.' are allowed (write internationalised names in their xn-- form)",
        ));
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.len() > 253 {
        return Err(invalid("longer than 253 characters"));
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return Err(invalid(
                "it has an empty label (two dots in a row, or a leading dot)",
            ));
        }
        if label.len() > 63 {
            return Err(invalid("a label is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "only ASCII letters, digits, '-', '_' and '.' are allowed",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label starts or ends with '-'"));
        }
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ok(input: &str) -> Target {
        parse(input).unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    #[test]
    fn accepts_every_documented_form() {
        let cases: &[(&str, Scheme, Host, u16, Option<&str>)] = &[
            (
                "mqtt://broker:1884",
                Scheme::Mqtt,
                Host::Name("broker".into()),
                1884,
                None,
            ),
            (
                "tcp://broker",
                Scheme::Mqtt,
                Host::Name("broker".into()),
                1883,
                None,
            ),
            (
                "mqtts://broker",
                Scheme::Mqtts,
                Host::Name("broker".into()),
                8883,
                None,
            ),
            (
                "SSL://Broker.Example.COM:18883",
                Scheme::Mqtts,
                Host::Name("broker.example.com".into()),
                18883,
                None,
            ),
            (
                "ws://broker:9001",
                Scheme::Ws,
                Host::Name("broker".into()),
                9001,
                Some("/mqtt"),
            ),
            (
                "wss://broker/ws",
                Scheme::Wss,
                Host::Name("broker".into()),
                443,
                Some("/ws"),
            ),
            (
                "broker",
                Scheme::Mqtt,
                Host::Name("broker".into()),
                1883,
                None,
            ),
            (
                "broker:1999",
                Scheme::Mqtt,
                Host::Name("broker".into()),
                1999,
                None,
            ),
            (
                "127.0.0.1",
                Scheme::Mqtt,
                Host::Ip(Ipv4Addr::LOCALHOST.into()),
                1883,
                None,
            ),
            (
                "mqtt://127.0.0.1:1",
                Scheme::Mqtt,
                Host::Ip(Ipv4Addr::LOCALHOST.into()),
                1,
                None,
            ),
            (
                "[::1]:8883",
                Scheme::Mqtt,
                Host::Ip(Ipv6Addr::LOCALHOST.into()),
                8883,
                None,
            ),
            (
                "mqtts://[::1]",
                Scheme::Mqtts,
                Host::Ip(Ipv6Addr::LOCALHOST.into()),
                8883,
                None,
            ),
            (
                "aio-broker.azure-iot-operations.svc.cluster.local.",
                Scheme::Mqtt,
                Host::Name("aio-broker.azure-iot-operations.svc.cluster.local.".into()),
                1883,
                None,
            ),
            (
                "_mqtt.example",
                Scheme::Mqtt,
                Host::Name("_mqtt.example".into()),
                1883,
                None,
            ),
        ];
        for (input, scheme, host, port, path) in cases {
            let t = ok(input);
            assert_eq!(
                (&t.scheme, &t.host, t.port, t.path.as_deref()),
                (scheme, host, *port, *path),
                "{input}"
            );
        }
    }

    #[test]
    fn canonical_url_brackets_ipv6() {
        assert_eq!(ok("[::1]:1883").url(), "mqtt://[::1]:1883");
        assert_eq!(ok("ws://h").url(), "ws://h:80/mqtt");
        assert_eq!(ok("h").authority(), "h:1883");
    }

    #[test]
    fn redaction_masks_passwords_only() {
        assert_eq!(redact("mqtt://u:pw@h:99999"), "mqtt://u:***@h:99999");
        assert_eq!(redact("u:p:w@h"), "u:***@h");
        assert_eq!(redact("mqtt://u@h"), "mqtt://u@h");
        assert_eq!(redact("ws://h/p@th"), "ws://h/p@th");
        assert_eq!(redact("mqtt://h:1883"), "mqtt://h:1883");
    }

    #[test]
    fn rejects_malformed_targets_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("http://broker", "unknown scheme \"http://\""),
            ("mqtt://broker:99999", "invalid port number"),
            ("mqtt://broker:abc", "invalid port number"),
            ("mqtt://broker:0", "port 0"),
            ("mqtt://", "has no host"),
            ("mqtt://[::1", "invalid IPv6 address"),
            ("::1", "brackets"),
            ("fe80::1:1883", "brackets"),
            ("mqtt://user:secret@broker", "user:***"),
            ("mqtt://user:secret@broker:99999", "user:***@broker:99999"),
            ("mqtt://broker/topic", "take no path"),
            ("mqtt://broker?x=1", "no query"),
            ("mqtt://bro ker", "invalid domain character"),
            ("mqtt://a..b", "empty label"),
            ("mqtt://-a.b", "starts or ends with '-'"),
            ("mqtt://bröker", "ASCII"),
        ];
        for (input, expected) in cases {
            let err = parse(input).expect_err(input).to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
            assert!(
                !err.contains("secret"),
                "{input:?} leaked a password: {err}"
            );
        }
    }
}
