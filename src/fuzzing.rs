//! Entry points for the fuzz targets under `fuzz/` and for `tests/fuzz_regressions.rs`, which
//! replays every input the fuzzers were seeded with or ever failed on. Each takes arbitrary
//! bytes, as a broken file or a hostile server would supply them, and goes through the same code
//! the doctor runs on them; it must return without a panic, a hang or an unbounded allocation.
//! Not part of the tool's interface.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::certs::{self, CertSummary};
use crate::config::{CredentialSource, KeySource, TokenChecks};
use crate::config_file::ConfigFile;
use crate::secret::Secret;
use crate::target::{self, Scheme};
use crate::wire::Wire;

/// A fuzz target's body.
pub type Entry = fn(&[u8]);

/// Every fuzz target by name, as `fuzz/fuzz_targets/NAME.rs` calls it.
pub const TARGETS: &[(&str, Entry)] = &[
    ("target_url", target_url),
    ("token", token),
    ("pem", pem),
    ("mqtt_frames", mqtt_frames),
    ("config_file", config_file),
];

/// A fixed "now" (2026-01-01), so that a crash found today reproduces next year.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// The target on the command line, with every scheme a preset may imply, and the same text read
/// as a proxy URL (`--proxy`, `HTTPS_PROXY`).
pub fn target_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    target::redact(text);
    crate::proxy::redact(text);
    if let Ok(proxy) = crate::proxy::parse(text, "fuzz") {
        proxy.url();
    }
    if let Ok(target) = target::parse(text) {
        target.url();
        target.authority();
    }
    for scheme in [Scheme::Mqtt, Scheme::Mqtts, Scheme::Ws, Scheme::Wss] {
        if let Ok(target) = target::parse_with(text, scheme, Some(18883)) {
            target.url();
        }
    }
}

/// A token as a file or value holds it, checked with and without a key, as `token inspect` and
/// the auth stage do.
pub fn token(data: &[u8]) {
    let source = CredentialSource::Value(Secret::new(data));
    let mut checks = TokenChecks {
        audience: Some("aio-internal".into()),
        issuer: Some("https://issuer.example".into()),
        ..TokenChecks::default()
    };
    crate::stages::auth::inspect(&source, &checks, now());
    checks.key = Some(KeySource::Secret {
        secret: Secret::new(&b"fuzzing-hmac-secret"[..]),
        base64: false,
    });
    crate::stages::auth::inspect(&source, &checks, now());
}

/// A CA bundle, a client certificate, a private key, or a JWT verification key (PEM or JWKS).
pub fn pem(data: &[u8]) {
    let path = Path::new("fuzz.pem");
    if let Ok(chain) = certs::parse_certs(data, path) {
        let summaries: Vec<CertSummary> = chain
            .iter()
            .filter_map(|der| CertSummary::from_der(der).ok())
            .collect();
        for summary in &summaries {
            summary.sans_text();
        }
        certs::chain_json(&summaries, now());
    }
    if let Ok(key) = certs::parse_key(data, path) {
        let _ = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(key);
    }
    let _ = CertSummary::from_der(data);
    let _ = crate::jwt::keys_from_pem(data, "fuzz.pem");
    let _ = crate::jwt::keys_from_jwks(data, "fuzz.jwks");
}

/// Bytes from a broker: cut into frames by the doctor's frame reader, each frame given to every
/// packet reader (CONNACK, AUTH, SUBACK, PUBACK, PUBLISH, DISCONNECT).
pub fn mqtt_frames(data: &[u8]) {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    });
    let stream = tokio::io::join(std::io::Cursor::new(data.to_vec()), tokio::io::sink());
    let mut wire = Wire::new(Box::new(stream));
    runtime.block_on(async {
        while let Ok(frame) = wire.read_frame().await {
            crate::stages::mqtt::decode_any(&frame);
        }
    });
}

/// An `mqtt-doctor.toml`, with every profile it names.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ConfigFile::parse(text, Path::new("/fuzz/mqtt-doctor.toml")) else {
        return;
    };
    let _ = file.layers(None);
    for profile in file.profiles() {
        let _ = file.layers(Some(&profile));
    }
}
