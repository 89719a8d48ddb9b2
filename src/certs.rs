//! Certificate files and the facts a person needs from a certificate.
//!
//! Loading is rustls-pki-types' PEM reader over a file read with a size cap; reading a certificate is x509-parser. What is added
//! here is the reporting: every failure names the file and what is wrong with it (and never
//! quotes key material), and a certificate becomes a [`CertSummary`]: subject, issuer, SANs,
//! validity with days left, key, serial, CA flag and EKU, the columns of the chain table.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::files;
use crate::secret::{MAX_PEER_TEXT, peer_text};

/// A file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

fn problem(path: &Path, problem: impl Into<String>) -> FileProblem {
    FileProblem {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Describes a PEM error without its payload: for key files the payload could be secret.
fn pem_problem(path: &Path, error: &pem::Error, what: &str) -> FileProblem {
    let text = match error {
        pem::Error::Io(io) => return unreadable(path, io),
        pem::Error::NoItemsFound => format!("contains no PEM {what}"),
        pem::Error::MissingSectionEnd { .. } => {
            "a PEM section has no END line (truncated file?)".into()
        }
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".into(),
        _ => format!("is not a valid PEM file of {what}"),
    };
    problem(path, text)
}

/// A file that could not be read at all.
fn unreadable(path: &Path, error: &std::io::Error) -> FileProblem {
    match error.kind() {
        std::io::ErrorKind::NotFound => problem(path, "the file does not exist"),
        std::io::ErrorKind::PermissionDenied => problem(path, "permission denied"),
        _ => problem(
            path,
            format!("cannot be read: {}", files::io_problem(error)),
        ),
    }
}

/// Every certificate in a PEM bundle; a bundle without one is an error.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileProblem> {
    parse_certs(&read_pem_file(path)?, path)
}

/// [`load_certs`] on bytes already read; `path` names them in problems.
pub fn parse_certs(bytes: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, FileProblem> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_problem(path, &e, "certificates"))?;
    if certs.is_empty() {
        return Err(problem(
            path,
            "contains no PEM certificate (no BEGIN CERTIFICATE block)",
        ));
    }
    for (index, cert) in certs.iter().enumerate() {
        X509Certificate::from_der(cert.as_ref()).map_err(|e| {
            problem(
                path,
                format!("certificate #{} cannot be parsed: {e}", index + 1),
            )
        })?;
    }
    Ok(certs)
}

/// A certificate or key file, read whole up to [`files::MAX_PEM_FILE`].
fn read_pem_file(path: &Path) -> Result<Vec<u8>, FileProblem> {
    files::read_capped(path, files::MAX_PEM_FILE).map_err(|e| match e {
        files::ReadError::Io(error) => unreadable(path, &error),
        files::ReadError::TooLarge(size) => problem(
            path,
            format!(
                "holds at least {size} bytes, more than any certificate or key file ({} MiB at \
                 most): is it the right file?",
                files::MAX_PEM_FILE >> 20
            ),
        ),
    })
}

/// Every certificate in the regular files of a directory (an OpenSSL `capath` holds PEM files
/// and hash-named links to them).
pub fn load_cert_dir(dir: &Path) -> Result<Vec<CertificateDer<'static>>, FileProblem> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| problem(dir, format!("cannot be read as a directory ({})", e.kind())))?;
    let mut certs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file()
            && let Ok(mut found) = load_certs(&path)
        {
            certs.append(&mut found);
        }
    }
    if certs.is_empty() {
        return Err(problem(dir, "holds no readable PEM certificate"));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, FileProblem> {
    parse_key(&read_pem_file(path)?, path)
}

/// [`load_key`] on bytes already read; `path` names them in problems.
pub fn parse_key(bytes: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, FileProblem> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| pem_problem(path, &e, "private key"))
}

/// What a certificate says, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub not_before: i64,
    pub not_after: i64,
    pub serial: String,
    pub key: String,
    pub is_ca: bool,
    /// Extended key usages, when the extension is present: `serverAuth`, `clientAuth`, ...
    pub eku: Option<Vec<&'static str>>,
    /// SHA-256 of the DER encoding, lower-case hex: what tells two certificates apart when
    /// every name in them is the same.
    pub sha256: String,
}

/// Names of each kind (DNS, IP) kept from a certificate's SANs. Real certificates carry a few,
/// at most a few hundred; a hostile server's may carry thousands, each of which would be shown.
const MAX_NAMES: usize = 256;

/// SHA-256 of `der`, lower-case hex without separators, as `openssl x509 -fingerprint -sha256`
/// prints it less the colons.
fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl CertSummary {
    /// The certificate's facts, its strings (chosen by whoever made it, often the peer) cleaned of
    /// control characters and capped like everything else a peer says.
    pub fn from_der(der: &[u8]) -> Result<CertSummary, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) if dns_names.len() < MAX_NAMES => {
                        dns_names.push(peer_text(dns, MAX_PEER_TEXT));
                    }
                    GeneralName::IPAddress(bytes) if ip_addresses.len() < MAX_NAMES => {
                        if let Ok(octets) = <[u8; 4]>::try_from(*bytes) {
                            ip_addresses.push(IpAddr::from(octets));
                        } else if let Ok(octets) = <[u8; 16]>::try_from(*bytes) {
                            ip_addresses.push(IpAddr::from(octets));
                        }
                    }
                    _ => {}
                }
            }
        }
        let eku = cert.extended_key_usage().ok().flatten().map(|ext| {
            let usage = ext.value;
            let mut names = Vec::new();
            if usage.server_auth {
                names.push("serverAuth");
            }
            if usage.client_auth {
                names.push("clientAuth");
            }
            if usage.any {
                names.push("any");
            }
            if !usage.other.is_empty() || usage.code_signing || usage.email_protection {
                names.push("other");
            }
            names
        });
        let key = match cert.public_key().parsed() {
            Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
            Ok(PublicKey::EC(ec)) => format!("EC {}", ec.key_size()),
            Ok(other) => format!("{} bits", other.key_size()),
            Err(_) => "unknown".into(),
        };
        Ok(CertSummary {
            sha256: sha256_hex(der),
            subject: peer_text(&cert.subject().to_string(), MAX_PEER_TEXT),
            issuer: peer_text(&cert.issuer().to_string(), MAX_PEER_TEXT),
            common_name: cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(|cn| peer_text(cn, MAX_PEER_TEXT)),
            dns_names,
            ip_addresses,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial: cert.raw_serial_as_string(),
            key,
            is_ca: cert.is_ca(),
            eku,
        })
    }

    pub fn self_signed(&self) -> bool {
        self.subject == self.issuer
    }

    /// Whole days until expiry (negative once expired).
    pub fn days_left(&self, now: SystemTime) -> i64 {
        (self.not_after - unix(now)).div_euclid(86_400)
    }

    pub fn expired(&self, now: SystemTime) -> bool {
        unix(now) > self.not_after
    }

    pub fn not_yet_valid(&self, now: SystemTime) -> bool {
        unix(now) < self.not_before
    }

    pub fn sans_text(&self) -> String {
        let mut all: Vec<String> = self.dns_names.iter().map(|d| format!("DNS:{d}")).collect();
        all.extend(self.ip_addresses.iter().map(|ip| format!("IP:{ip}")));
        if all.is_empty() {
            "none".into()
        } else {
            all.join(", ")
        }
    }

    /// One row of the chain table.
    pub fn to_json(&self, now: SystemTime) -> Value {
        json!({
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": self.sans_text(),
            "not_before": timestamp_text(self.not_before),
            "not_after": timestamp_text(self.not_after),
            "days_left": self.days_left(now),
            "key": self.key,
            "serial": self.serial,
            "ca": self.is_ca,
            "eku": self.eku.as_ref().map(|e| e.join(", ")).unwrap_or_else(|| "none".into()),
        })
    }
}

fn unix(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

/// A Unix timestamp as RFC 3339 UTC.
pub fn timestamp_text(secs: i64) -> String {
    // humantime formats only times after the epoch; certificates may claim earlier ones.
    match u64::try_from(secs) {
        Ok(secs) => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
        }
        Err(_) => "before 1970-01-01".to_string(),
    }
}

/// A chain of summaries, leaf first, as the rows of the chain table.
pub fn chain_json(chain: &[CertSummary], now: SystemTime) -> Value {
    Value::Array(chain.iter().map(|c| c.to_json(now)).collect())
}
