//! Auth stage: what the client will authenticate with, checked before the broker sees it.
//!
//! Three of the seed guides end at a refused CONNECT whose cause was the credential: a projected
//! ServiceAccountToken that was missing, expired or minted for the wrong audience; a JWT with the
//! wrong issuer or minted by a device whose clock was never set. The broker only answers "bad
//! credentials", so this stage reads the token (from a file, an argument, stdin, or a password
//! that is a JWT, as EMQX takes them), decodes it without trusting it, and checks every claim at
//! once instead of stopping at the first, so one run names every problem. It needs no network;
//! `mqtt-doctor token inspect` runs the same checks on their own.
//!
//! Secrets never leave as text: findings carry lengths, fingerprints and decoded claims, never a
//! token, its signature, a password or a key.
//!
//! This file observes: it reads the password, token and key files, decodes the token and checks
//! its signature, and hands back an [`Observed`] of typed values (where each credential came
//! from, the `io::ErrorKind` or [`ReadError`] of what could not be read, the claims with their
//! times as Unix seconds, the signature's [`Verification`]). `explain.rs` turns that, with the
//! configuration, into the token.*, auth.* and pod.* findings and the stage's summary.

mod explain;

use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::config::{AuthOptions, CredentialSource, KeySource, TokenChecks};
use crate::files::{ReadError, read_capped};
use crate::findings::Finding;
use crate::jwt::{self, Jwt, KeyError, Verification, VerifyingKey};
use crate::secret::Secret;
use crate::stages::context::{Context, Credentials, StageOutput};

/// How far a timestamp may lie in the future before it counts as clock skew (`iat`) or as not yet
/// valid (`nbf`). Brokers and the Kubernetes API allow about this much; jwt-cli's 1000 s hides real
/// skew.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(60);

/// Tokens are a few kilobytes at most; a larger file is the wrong file, and is not read whole.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// Timestamps before this (2001-09-09) come from a clock that was never set, as on a
/// microcontroller that minted its JWT before SNTP answered.
const UNSET_CLOCK_BEFORE: i64 = 1_000_000_000;

/// How long after the kubelet's refresh point a projected token may still be on disk.
const KUBELET_REFRESH_SLACK: Duration = Duration::from_secs(5 * 60);

/// At most this many names of a missing token's directory are kept: enough to spot the token
/// under another name, bounded however full the directory is.
const MAX_LISTED_NAMES: usize = 20;

pub(crate) fn run(ctx: &mut Context<'_>) -> StageOutput {
    let observed = observe(&ctx.config.auth, SystemTime::now());
    let output = explain::stage(observed.as_ref(), ctx.config);
    ctx.credentials = observed
        .as_ref()
        .map(|observed| credentials(observed, &ctx.config.auth));
    output
}

/// Reads a token from its source and checks it; returns the one-line summary and the findings.
pub(crate) fn inspect(
    source: &CredentialSource,
    checks: &TokenChecks,
    now: SystemTime,
) -> (String, Vec<Finding>) {
    let read = read_token(source, checks);
    explain::token(&read, checks, unix_now(now))
}

/// What the stage read: `None` from [`observe`] when no credential was given.
#[derive(Debug)]
struct Observed {
    /// When the token's times are compared, as Unix seconds.
    now: i64,
    token: Option<TokenRead>,
    password: Option<PasswordRead>,
}

/// Reads and decodes every credential the options name.
fn observe(auth: &AuthOptions, now: SystemTime) -> Option<Observed> {
    if auth.is_empty() {
        return None;
    }
    Some(Observed {
        now: unix_now(now),
        token: auth
            .token
            .as_ref()
            .map(|source| read_token(source, &auth.checks)),
        password: auth
            .password
            .as_ref()
            .map(|source| read_password(source, &auth.checks)),
    })
}

/// What the MQTT stage will send, from what was read.
fn credentials(observed: &Observed, auth: &AuthOptions) -> Credentials {
    let mut credentials = Credentials {
        username: auth.username.clone(),
        ..Credentials::default()
    };
    if let Some(read) = &observed.token {
        match read.usable() {
            Some(token) => credentials.token = Some(token),
            None => credentials.unusable = Some("the token could not be read".into()),
        }
    }
    match &observed.password {
        Some(PasswordRead::Unreadable { .. }) => {
            credentials.unusable = Some("the password file could not be read".into());
        }
        Some(PasswordRead::Read { password, .. }) => credentials.password = Some(password.clone()),
        None => {}
    }
    credentials
}

/// Where a token came from, for the wording of findings and fixes.
#[derive(Clone, Debug)]
enum Origin {
    File {
        path: PathBuf,
        /// The file is the kubelet's `..data` symlink of a projected volume.
        projected: bool,
    },
    Value,
    Stdin,
    Password,
}

/// A token's source, read.
#[derive(Debug)]
enum TokenRead {
    /// The token file gave no token.
    Unread {
        path: PathBuf,
        problem: TokenFileProblem,
    },
    Read(TokenText),
}

impl TokenRead {
    /// The token as the MQTT stage sends it (trimmed), when there is one.
    fn usable(&self) -> Option<Secret> {
        match self {
            TokenRead::Unread { .. } => None,
            TokenRead::Read(text) => {
                let trimmed = text.raw.expose().trim_ascii();
                (!trimmed.is_empty()).then(|| Secret::new(trimmed))
            }
        }
    }
}

/// Why a token file gave no token.
#[derive(Debug)]
enum TokenFileProblem {
    /// It does not exist; what its directory holds tells whether anything is mounted there.
    Missing {
        directory: PathBuf,
        listing: Listing,
    },
    Unreadable {
        error: io::Error,
        /// The file's mode and owner, when its metadata can be read.
        owner: Option<Owner>,
    },
    /// It holds at least this many bytes.
    TooLarge(u64),
    /// It is empty or holds only whitespace: this many bytes.
    Blank(usize),
}

/// What the directory of a missing token file holds.
#[derive(Debug)]
enum Listing {
    /// Its names, sorted, without the kubelet's `..` entries, at most [`MAX_LISTED_NAMES`].
    Holds(Vec<String>),
    Absent,
    Unlistable(io::Error),
}

/// A file's permission bits and owner.
#[derive(Clone, Copy, Debug)]
struct Owner {
    mode: u32,
    uid: u32,
    gid: u32,
}

/// A token's bytes, where they came from, and what they decode to.
#[derive(Debug)]
struct TokenText {
    raw: Secret,
    origin: Origin,
    decoded: Decoded,
}

#[derive(Debug)]
enum Decoded {
    NotUtf8,
    /// Nothing but whitespace.
    Empty,
    Text {
        whitespace: Option<Whitespace>,
        /// The token without its surrounding whitespace.
        token: Secret,
        jwt: Result<Box<Token>, NotJwt>,
    },
}

/// Why a token is not a JWT.
#[derive(Debug)]
struct NotJwt {
    error: jwt::Malformed,
    /// How many dot-separated parts it has.
    parts: usize,
}

/// Whitespace around a token, in bytes.
#[derive(Clone, Copy, Debug)]
struct Whitespace {
    leading: usize,
    trailing: usize,
    /// The trailing whitespace is exactly one line end.
    line_end: Option<LineEnd>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineEnd {
    Lf,
    CrLf,
}

impl Whitespace {
    fn around(text: &str) -> Whitespace {
        let trailing = &text[text.trim_end().len()..];
        Whitespace {
            leading: text.len() - text.trim_start().len(),
            trailing: trailing.len(),
            line_end: match trailing {
                "\n" => Some(LineEnd::Lf),
                "\r\n" => Some(LineEnd::CrLf),
                _ => None,
            },
        }
    }
}

/// A decoded token, not trusted: what it claims, and how its signature fared.
#[derive(Debug)]
struct Token {
    jwt: Jwt,
    times: Times,
    /// Time claims that are neither a number nor null, in the order exp, nbf, iat.
    mistyped: Vec<(TimeClaim, JsonType)>,
    kind: TokenKind,
    /// The `aud` claim as a list (see [`Jwt::audiences`]).
    audiences: Option<Vec<String>>,
    /// The `iss` claim, when it is a string.
    issuer: Option<String>,
    signature: Signature,
}

/// The registered time claims, read leniently: a claim of the wrong type is a problem of its
/// own, and the other claims are still checked.
#[derive(Clone, Copy, Debug, Default)]
struct Times {
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeClaim {
    Exp,
    Nbf,
    Iat,
}

impl TimeClaim {
    fn name(self) -> &'static str {
        match self {
            TimeClaim::Exp => "exp",
            TimeClaim::Nbf => "nbf",
            TimeClaim::Iat => "iat",
        }
    }
}

/// The JSON type of a claim that should have been a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonType {
    Bool,
    String,
    Array,
    Object,
}

/// What issued the token, as far as its claims tell.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TokenKind {
    /// A Kubernetes ServiceAccount token.
    Kubernetes {
        namespace: String,
        account: String,
        pod: Option<String>,
        node: Option<String>,
        /// Minted by the TokenRequest API (projected volume or `kubectl create token`), with an
        /// expiry; `false` for a legacy Secret-based token, which never expires.
        bound: bool,
    },
    Other,
}

/// What became of the token's signature.
#[derive(Debug)]
enum Signature {
    /// The header says alg "none".
    AlgNone,
    /// The header has no alg.
    NoAlg,
    /// The header names an algorithm, but the signature part is empty.
    Missing,
    /// No key was given to check it with.
    NoKey,
    KeyUnusable(KeyProblem),
    Checked {
        keys: Vec<VerifyingKey>,
        verdict: Verification,
    },
}

/// Why the key given to check the signature with cannot be used.
#[derive(Debug)]
enum KeyProblem {
    /// The HMAC secret (`--jwt-secret`).
    Secret(KeyError),
    /// The key file (`--jwt-key`, `--jwks`) cannot be read.
    Unreadable { path: PathBuf, error: ReadError },
    /// The key file holds no key that can be used.
    Unusable { path: PathBuf, error: KeyError },
}

/// A password's source, read.
#[derive(Debug)]
enum PasswordRead {
    Unreadable {
        path: PathBuf,
        problem: PasswordFileProblem,
    },
    Read {
        password: Secret,
        /// The password decoded as a token, when it looks like a JWT (EMQX takes them so).
        jwt: Option<TokenText>,
    },
}

#[derive(Debug)]
enum PasswordFileProblem {
    Read(ReadError),
    Empty,
}

fn read_token(source: &CredentialSource, checks: &TokenChecks) -> TokenRead {
    let (token, origin) = match source {
        CredentialSource::Value(secret) => (secret.clone(), Origin::Value),
        CredentialSource::Stdin(secret) => (secret.clone(), Origin::Stdin),
        CredentialSource::File(path) => match read_token_file(path) {
            Ok(read) => read,
            Err(problem) => {
                return TokenRead::Unread {
                    path: path.clone(),
                    problem,
                };
            }
        },
    };
    TokenRead::Read(TokenText::decode(token, origin, checks))
}

fn read_password(source: &CredentialSource, checks: &TokenChecks) -> PasswordRead {
    let path = match source {
        CredentialSource::Value(secret) | CredentialSource::Stdin(secret) => {
            return PasswordRead::read(secret.clone(), checks);
        }
        CredentialSource::File(path) => path,
    };
    let unreadable = |problem| PasswordRead::Unreadable {
        path: path.clone(),
        problem,
    };
    let bytes = match read_capped(path, MAX_TOKEN_FILE) {
        Ok(bytes) => bytes,
        Err(error) => return unreadable(PasswordFileProblem::Read(error)),
    };
    // A password file holds one line; the newline an editor adds is not part of it.
    let line = bytes
        .strip_suffix(b"\n")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
        .unwrap_or(&bytes);
    if line.is_empty() {
        return unreadable(PasswordFileProblem::Empty);
    }
    PasswordRead::read(Secret::new(line), checks)
}

impl PasswordRead {
    fn read(password: Secret, checks: &TokenChecks) -> PasswordRead {
        let text = String::from_utf8_lossy(password.expose()).into_owned();
        let jwt = jwt::looks_like_jwt(text.trim())
            .then(|| TokenText::decode(password.clone(), Origin::Password, checks));
        PasswordRead::Read { password, jwt }
    }
}

fn read_token_file(path: &Path) -> Result<(Secret, Origin), TokenFileProblem> {
    let projected = is_projected(path);
    let bytes = match read_capped(path, MAX_TOKEN_FILE) {
        Ok(bytes) => bytes,
        Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            let directory = token_directory(path).to_path_buf();
            let listing = list(&directory);
            return Err(TokenFileProblem::Missing { directory, listing });
        }
        Err(ReadError::Io(error)) => {
            let owner = std::fs::metadata(path).ok().map(|metadata| Owner {
                mode: metadata.mode(),
                uid: metadata.uid(),
                gid: metadata.gid(),
            });
            return Err(TokenFileProblem::Unreadable { error, owner });
        }
        Err(ReadError::TooLarge(len)) => return Err(TokenFileProblem::TooLarge(len)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(TokenFileProblem::Blank(bytes.len()));
    }
    Ok((
        Secret::new(bytes),
        Origin::File {
            path: path.to_path_buf(),
            projected,
        },
    ))
}

/// Whether `path` is a projected-volume file: the kubelet makes each one a symlink into `..data`,
/// which it swaps atomically when it refreshes the token.
fn is_projected(path: &Path) -> bool {
    std::fs::read_link(path).is_ok_and(|target| target.starts_with("..data"))
}

/// The directory a token file is in (`.` for a bare name).
fn token_directory(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        Some(_) => Path::new("."),
        None => Path::new("/"),
    }
}

fn list(dir: &Path) -> Listing {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(".."))
                .collect();
            names.sort();
            names.truncate(MAX_LISTED_NAMES);
            Listing::Holds(names)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Listing::Absent,
        Err(e) => Listing::Unlistable(e),
    }
}

impl TokenText {
    /// Decodes one token and checks its signature.
    fn decode(raw: Secret, origin: Origin, checks: &TokenChecks) -> TokenText {
        let decoded = match std::str::from_utf8(raw.expose()) {
            Err(_) => Decoded::NotUtf8,
            Ok(text) => {
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    Decoded::Empty
                } else {
                    Decoded::Text {
                        whitespace: (trimmed.len() != text.len()).then(|| Whitespace::around(text)),
                        token: Secret::new(trimmed),
                        jwt: match jwt::decode(trimmed) {
                            Ok(jwt) => Ok(Box::new(Token::read(jwt, checks))),
                            Err(error) => Err(NotJwt {
                                error,
                                parts: trimmed.split('.').count(),
                            }),
                        },
                    }
                }
            }
        };
        TokenText {
            raw,
            origin,
            decoded,
        }
    }
}

impl Token {
    fn read(jwt: Jwt, checks: &TokenChecks) -> Token {
        let mut times = Times::default();
        let mut mistyped = Vec::new();
        for claim in [TimeClaim::Exp, TimeClaim::Nbf, TimeClaim::Iat] {
            let found = match jwt.claims.get(claim.name()) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))),
                Some(Value::Bool(_)) => Err(JsonType::Bool),
                Some(Value::String(_)) => Err(JsonType::String),
                Some(Value::Array(_)) => Err(JsonType::Array),
                Some(Value::Object(_)) => Err(JsonType::Object),
            };
            let value = found.unwrap_or_else(|found| {
                mistyped.push((claim, found));
                None
            });
            match claim {
                TimeClaim::Exp => times.exp = value,
                TimeClaim::Nbf => times.nbf = value,
                TimeClaim::Iat => times.iat = value,
            }
        }
        Token {
            times,
            mistyped,
            kind: TokenKind::of(&jwt),
            audiences: jwt.audiences(),
            issuer: jwt
                .claims
                .get("iss")
                .and_then(Value::as_str)
                .map(str::to_string),
            signature: signature(&jwt, checks.key.as_ref()),
            jwt,
        }
    }
}

impl TokenKind {
    fn of(jwt: &Jwt) -> TokenKind {
        let claim = |name: &str| jwt.claims.get(name).and_then(Value::as_str);
        if let Some(k8s) = jwt.claims.get("kubernetes.io").and_then(Value::as_object) {
            let name_of = |key: &str| {
                k8s.get(key)
                    .and_then(|v| v.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let from_sub = claim("sub").and_then(|s| s.strip_prefix("system:serviceaccount:"));
            return TokenKind::Kubernetes {
                namespace: k8s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .or_else(|| from_sub.and_then(|s| s.split(':').next()))
                    .unwrap_or("?")
                    .to_string(),
                account: name_of("serviceaccount")
                    .or_else(|| {
                        from_sub
                            .and_then(|s| s.split(':').nth(1))
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "?".into()),
                pod: name_of("pod"),
                node: name_of("node"),
                bound: true,
            };
        }
        if claim("iss") == Some("kubernetes/serviceaccount") {
            return TokenKind::Kubernetes {
                namespace: claim("kubernetes.io/serviceaccount/namespace")
                    .unwrap_or("?")
                    .to_string(),
                account: claim("kubernetes.io/serviceaccount/service-account.name")
                    .unwrap_or("?")
                    .to_string(),
                pod: None,
                node: None,
                bound: false,
            };
        }
        if let Some(rest) = claim("sub").and_then(|s| s.strip_prefix("system:serviceaccount:"))
            && let Some((namespace, account)) = rest.split_once(':')
        {
            return TokenKind::Kubernetes {
                namespace: namespace.to_string(),
                account: account.to_string(),
                pod: None,
                node: None,
                bound: true,
            };
        }
        TokenKind::Other
    }
}

/// Checks the signature with the key given, when there is one and the token has a signature
/// to check.
fn signature(jwt: &Jwt, key: Option<&KeySource>) -> Signature {
    if jwt.alg().is_some_and(|a| a.eq_ignore_ascii_case("none")) {
        return Signature::AlgNone;
    }
    if jwt.alg().is_none() {
        return Signature::NoAlg;
    }
    if jwt.signature().is_empty() {
        return Signature::Missing;
    }
    let Some(source) = key else {
        return Signature::NoKey;
    };
    match load_keys(source) {
        Ok(keys) => {
            let verdict = jwt::verify(jwt, &keys);
            Signature::Checked { keys, verdict }
        }
        Err(problem) => Signature::KeyUnusable(problem),
    }
}

fn load_keys(source: &KeySource) -> Result<Vec<VerifyingKey>, KeyProblem> {
    match source {
        KeySource::Secret { secret, base64 } => jwt::key_from_secret(secret, *base64)
            .map(|key| vec![key])
            .map_err(KeyProblem::Secret),
        KeySource::Pem(path) | KeySource::Jwks(path) => {
            let name = key_name(source);
            let bytes =
                read_capped(path, MAX_TOKEN_FILE).map_err(|error| KeyProblem::Unreadable {
                    path: path.clone(),
                    error,
                })?;
            let keys = if matches!(source, KeySource::Pem(_)) {
                jwt::keys_from_pem(&bytes, &name)
            } else {
                jwt::keys_from_jwks(&bytes, &name)
            };
            keys.map_err(|error| KeyProblem::Unusable {
                path: path.clone(),
                error,
            })
        }
    }
}

/// How a key is named, both as the origin of the keys a file holds and in findings: the option
/// that gave it, and its file (or, for a secret, its length and fingerprint).
fn key_name(source: &KeySource) -> String {
    match source {
        KeySource::Secret { secret, .. } => format!("--jwt-secret ({})", secret.describe()),
        KeySource::Pem(path) => format!("--jwt-key {}", path.display()),
        KeySource::Jwks(path) => format!("--jwks {}", path.display()),
    }
}

fn unix_now(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// A duration rounded the way people say it: `21h 3m`, `5m 10s`, `3d 4h`. Here rather than in
/// `explain.rs`, which uses it, so that it stays at `crate::stages::auth::approx`.
pub(crate) fn approx(seconds: u64) -> String {
    let rounded = if seconds >= 2 * 86_400 {
        seconds - seconds % 3600
    } else if seconds >= 3600 {
        seconds - seconds % 60
    } else {
        seconds
    };
    crate::durations::text(Duration::from_secs(rounded))
}
