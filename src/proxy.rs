//! Which proxy, if any, the doctor goes through, and where that choice came from.
//!
//! Corporate laptops and CI runners often reach the internet only through an HTTP or SOCKS proxy,
//! set in `HTTPS_PROXY` or `ALL_PROXY`. A device on the same desk may connect directly. So the
//! report always says which path was taken and why: the `--proxy` flag, an environment variable,
//! or `NO_PROXY` (or loopback) sending the connection direct.
//!
//! Every proxy here is used as a tunnel (HTTP `CONNECT`, SOCKS5 `CONNECT`), whatever the target's
//! scheme, so the variables read are the ones curl reads for tunnelled HTTPS: `https_proxy`,
//! then `all_proxy`, lower case before upper case. A proxy from the environment is not used for
//! loopback targets (as Go's `ProxyFromEnvironment` does): a corporate proxy cannot reach this
//! machine's own broker. A proxy given with `--proxy` is always used.

use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::target::{Host, Target};

/// How the proxy is asked for a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    /// HTTP `CONNECT host:port`; the proxy resolves the broker's name.
    Http,
    /// SOCKS5 with an address resolved here.
    Socks5,
    /// SOCKS5 with the name sent to the proxy, which resolves it.
    Socks5h,
}

impl ProxyKind {
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }

    /// Whether the proxy, not this machine, resolves the broker's name.
    pub fn resolves_names(self) -> bool {
        matches!(self, ProxyKind::Http | ProxyKind::Socks5h)
    }
}

/// A proxy to tunnel through.
#[derive(Clone, Debug, PartialEq)]
pub struct Proxy {
    pub kind: ProxyKind,
    pub host: Host,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `--proxy`, or the environment variable it came from.
    pub source: String,
}

impl Proxy {
    /// The proxy as a URL with the password left out, for reports.
    pub fn url(&self) -> String {
        let user = match (&self.username, &self.password) {
            (Some(user), Some(_)) => format!("{user}:***@"),
            (Some(user), None) => format!("{user}@"),
            (None, Some(_)) => ":***@".to_string(),
            (None, None) => String::new(),
        };
        format!("{}://{user}{}:{}", self.kind.scheme(), self.host, self.port)
    }

    pub fn has_credentials(&self) -> bool {
        self.username.is_some() || self.password.is_some()
    }

    /// How to reach the broker without this proxy, for fixes.
    pub fn direct_hint(&self) -> String {
        if self.source == "--proxy" {
            "leave out --proxy".to_string()
        } else {
            format!(
                "pass --no-proxy or list the broker in NO_PROXY (the proxy comes from {})",
                self.source
            )
        }
    }

    /// `host:port` of the proxy itself.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// How the proxy decision came out, for the report.
#[derive(Clone, Debug, PartialEq)]
pub enum ProxyChoice {
    /// No proxy is configured anywhere.
    None,
    /// Tunnel through this proxy.
    Use(Proxy),
    /// A proxy is configured in the environment but not used for this target, and why.
    Bypassed { variable: String, reason: String },
}

impl ProxyChoice {
    pub fn proxy(&self) -> Option<&Proxy> {
        match self {
            ProxyChoice::Use(proxy) => Some(proxy),
            _ => None,
        }
    }
}

/// Why a proxy URL was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    #[error(
        "unsupported proxy scheme \"{0}://\"; use http://, socks5:// or socks5h:// (https:// and socks4 proxies are not supported)"
    )]
    Scheme(String),
    #[error("\"{input}\" is not a proxy URL: {reason}")]
    Invalid { input: String, reason: String },
    #[error("\"{0}\" has no host")]
    MissingHost(String),
    #[error("proxy URLs take no path, query or fragment (got \"{0}\")")]
    Path(String),
}

/// The default port of each proxy kind: Squid's 3128 for HTTP, as curl assumes 1080 for SOCKS.
fn default_port(kind: ProxyKind) -> u16 {
    match kind {
        ProxyKind::Http => 3128,
        ProxyKind::Socks5 | ProxyKind::Socks5h => 1080,
    }
}

/// Parses a proxy URL: `http://[user:pass@]host[:port]`, `socks5://…`, `socks5h://…`, or a bare
/// `host:port`, which means HTTP as it does for curl. Percent-encoded credentials are decoded.
pub fn parse(input: &str, source: &str) -> Result<Proxy, ProxyError> {
    let trimmed = input.trim();
    let text = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let (scheme, _) = text.split_once("://").unwrap_or(("http", ""));
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "http" => ProxyKind::Http,
        "socks5" => ProxyKind::Socks5,
        "socks5h" => ProxyKind::Socks5h,
        other => return Err(ProxyError::Scheme(other.to_string())),
    };
    // Parsed as http:// whatever the kind, so that `url` validates the host the same way.
    let rest = &text[scheme.len()..];
    let url = url::Url::parse(&format!("http{rest}")).map_err(|e| ProxyError::Invalid {
        input: redact(trimmed),
        reason: e.to_string(),
    })?;
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(ProxyError::Path(redact(trimmed)));
    }
    let host = match url.host() {
        Some(url::Host::Domain(name)) => Host::Name(name.to_string()),
        Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
        None => return Err(ProxyError::MissingHost(redact(trimmed))),
    };
    let decode = |part: &str| {
        percent_decode(part).map_err(|reason| ProxyError::Invalid {
            input: redact(trimmed),
            reason,
        })
    };
    let username = match url.username() {
        "" => None,
        user => Some(decode(user)?),
    };
    let password = match url.password() {
        Some(pass) => Some(Secret::new(decode(pass)?)),
        None => None,
    };
    Ok(Proxy {
        kind,
        port: url.port().unwrap_or(default_port(kind)),
        host,
        username,
        password,
        source: source.to_string(),
    })
}

fn percent_decode(text: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| "the credentials are not UTF-8 once percent-decoded".to_string())
}

/// The input with any `user:password@` replaced, for error messages.
pub fn redact(input: &str) -> String {
    match input.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => input.to_string(),
        },
        None => match input.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => input.to_string(),
        },
    }
}

/// The environment variables read, in order of precedence.
pub const PROXY_VARIABLES: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
/// The variables that list hosts to reach directly.
pub const NO_PROXY_VARIABLES: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// Decides the proxy for `target`: `--no-proxy` wins, then `--proxy`, then the environment
/// (`lookup` reads one variable) unless `NO_PROXY` or loopback sends the target direct.
pub fn choose(
    target: &Target,
    flag: Option<&str>,
    no_proxy_flag: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ProxyChoice, ProxyError> {
    if let Some(text) = flag {
        return parse(text, "--proxy").map(ProxyChoice::Use);
    }
    let found = PROXY_VARIABLES.iter().find_map(|name| {
        lookup(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*name, v))
    });
    let Some((variable, value)) = found else {
        return Ok(ProxyChoice::None);
    };
    if no_proxy_flag {
        return Ok(ProxyChoice::Bypassed {
            variable: variable.to_string(),
            reason: "--no-proxy".to_string(),
        });
    }
    if is_loopback(&target.host) {
        return Ok(ProxyChoice::Bypassed {
            variable: variable.to_string(),
            reason: format!("{} is this machine (loopback)", target.host),
        });
    }
    let no_proxy = NO_PROXY_VARIABLES
        .iter()
        .find_map(|name| lookup(name).map(|v| (*name, v)));
    if let Some((name, list)) = no_proxy
        && let Some(entry) = no_proxy_match(&list, &target.host)
    {
        return Ok(ProxyChoice::Bypassed {
            variable: variable.to_string(),
            reason: format!("{name} lists \"{entry}\""),
        });
    }
    parse(&value, variable).map(ProxyChoice::Use)
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Ip(ip) => ip.is_loopback(),
        Host::Name(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// The `NO_PROXY` entry that matches `host`, if any: `*`, an exact name or address, a domain
/// suffix (`example.com` and `.example.com` both match `broker.example.com`), or a CIDR block.
/// Ports in entries are ignored, as curl does.
fn no_proxy_match(list: &str, host: &Host) -> Option<String> {
    let host_text = match host {
        Host::Name(name) => name.trim_end_matches('.').to_ascii_lowercase(),
        Host::Ip(ip) => ip.to_string(),
    };
    list.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .find(|entry| {
            if *entry == "*" {
                return true;
            }
            let bare = strip_port(entry).to_ascii_lowercase();
            if let (Host::Ip(ip), Some((net, bits))) = (host, bare.split_once('/')) {
                return in_cidr(*ip, net, bits);
            }
            let domain = bare.trim_start_matches('.').trim_end_matches('.');
            !domain.is_empty()
                && (host_text == domain
                    || (matches!(host, Host::Name(_))
                        && host_text.ends_with(&format!(".{domain}"))))
        })
        .map(str::to_string)
}

fn strip_port(entry: &str) -> &str {
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => entry,
    }
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> Target {
        crate::target::parse(text).unwrap()
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn parses_kinds_ports_and_credentials() {
        let p = parse("http://alice:s%40cret@proxy.corp:8080", "--proxy").unwrap();
        assert_eq!(p.kind, ProxyKind::Http);
        assert_eq!(p.host, Host::Name("proxy.corp".into()));
        assert_eq!(p.port, 8080);
        assert_eq!(p.username.as_deref(), Some("alice"));
        assert_eq!(p.password.as_ref().unwrap().expose(), b"s@cret");
        assert_eq!(p.url(), "http://alice:***@proxy.corp:8080");

        let p = parse("socks5h://[::1]", "ALL_PROXY").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::Socks5h, 1080));
        assert_eq!(p.url(), "socks5h://[::1]:1080");

        let p = parse("proxy.corp:3129", "HTTPS_PROXY").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::Http, 3129));
    }

    #[test]
    fn rejects_what_it_cannot_use_without_echoing_the_password() {
        assert_eq!(
            parse("https://proxy:443", "--proxy"),
            Err(ProxyError::Scheme("https".into()))
        );
        assert!(matches!(
            parse("socks4://proxy", "--proxy"),
            Err(ProxyError::Scheme(_))
        ));
        let error = parse("http://user:hunter2@proxy:99999", "--proxy").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(matches!(
            parse("http://proxy:3128/path", "--proxy"),
            Err(ProxyError::Path(_))
        ));
    }

    #[test]
    fn environment_precedence_lower_case_first_then_all_proxy() {
        let t = target("mqtt://broker.example.com");
        let vars = [
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
            ("ALL_PROXY", "socks5://all:3"),
        ];
        let choice = choose(&t, None, false, &env(&vars)).unwrap();
        let proxy = choice.proxy().unwrap();
        assert_eq!(proxy.host, Host::Name("lower".into()));
        assert_eq!(proxy.source, "https_proxy");

        let choice = choose(&t, None, false, &env(&[("ALL_PROXY", "socks5://all:3")])).unwrap();
        assert_eq!(choice.proxy().unwrap().kind, ProxyKind::Socks5);

        let flag = choose(&t, Some("socks5h://f:9"), false, &env(&vars)).unwrap();
        assert_eq!(flag.proxy().unwrap().source, "--proxy");
    }

    #[test]
    fn no_proxy_loopback_and_the_flag_send_the_target_direct() {
        let vars = [
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("NO_PROXY", "internal.corp, 10.0.0.0/8,.lab:1883"),
        ];
        let bypassed = |text: &str| {
            matches!(
                choose(&target(text), None, false, &env(&vars)).unwrap(),
                ProxyChoice::Bypassed { .. }
            )
        };
        assert!(bypassed("mqtt://internal.corp"));
        assert!(bypassed("mqtt://broker.internal.corp"));
        assert!(bypassed("mqtt://10.1.2.3"));
        assert!(bypassed("mqtt://edge.lab"));
        assert!(bypassed("mqtt://127.0.0.1"));
        assert!(bypassed("mqtt://localhost"));
        assert!(!bypassed("mqtt://notinternal.corp"));
        assert!(!bypassed("mqtt://11.1.2.3"));
        assert!(matches!(
            choose(&target("mqtt://x.example"), None, true, &env(&vars)).unwrap(),
            ProxyChoice::Bypassed { reason, .. } if reason == "--no-proxy"
        ));
        assert_eq!(
            choose(&target("mqtt://x.example"), None, false, &env(&[])).unwrap(),
            ProxyChoice::None
        );
        // An explicit --proxy is used even for loopback.
        assert!(
            choose(
                &target("mqtt://127.0.0.1"),
                Some("http://p:1"),
                false,
                &env(&vars)
            )
            .unwrap()
            .proxy()
            .is_some()
        );
    }
}
