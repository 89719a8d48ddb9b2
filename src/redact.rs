//! Keeping the run's secrets out of everything a peer says.
//!
//! The doctor never prints a secret it holds (see [`crate::secret`]), but a peer can: a proxy
//! that echoes the `Proxy-Authorization` header in its 407 page, a broker that quotes the
//! password in its CONNACK reason string, a web server whose 401 page repeats the
//! `Authorization` header. Such text reaches findings as evidence and details, and from there
//! every output format and GitHub annotation. A [`Redactor`] is built once per run from every
//! secret of the run, and [`Redactor::redact_run`] rewrites every finding's detail, fix and
//! evidence and every stage summary at the end of the run, before the verdict quotes a finding
//! and before any renderer sees them, so that no stage has to remember to do it.
//!
//! # What is replaced
//!
//! Every secret of the run: the MQTT password and token (as given, and as the auth stage read
//! them from a file or standard input), the JWT HMAC secret, every `--ws-header` value (and the
//! credentials after its scheme, `Bearer X` → `X`; for `Basic`, the password inside), and the
//! proxy password. Each in the forms a peer is likely to quote it in:
//!
//! - raw, and with its whitespace collapsed as [`crate::secret::peer_text`] collapses it;
//! - standard and URL-safe base64, padded and unpadded;
//! - HTTP Basic, base64 of `user:password`, for the MQTT username with the password or the
//!   token, and for the proxy's user and password (what the proxy stage sends);
//! - percent-encoded (every non-alphanumeric byte, and only what RFC 3986 does not leave
//!   unreserved; hex digits in both cases; `+` for a space as forms do);
//! - in hex, as the doctor shows raw bytes of a reply (`63 6f 72`, and `636f72`), since a
//!   CONNACK whose reason string quotes the password is also shown as its bytes;
//! - for a JWT, its signature segment on its own, since a peer may quote a token partly.
//!
//! Each becomes a marker naming what it was, e.g. `[redacted password]`, so the report still
//! says that the peer quoted the password. A peer's text cut by the length cap
//! (`… (N more bytes)`, or `… (N bytes)` after raw bytes in hex) may end in the first part of a
//! secret; such a tail (at least [`MIN_CUT_TAIL`] characters of a form) is replaced too.
//!
//! # Short secrets
//!
//! A secret of fewer than [`SHORT_SECRET`] bytes (and each of its forms) is replaced only as a
//! whole token, where the bytes on either side are not ASCII letters or digits: a one-letter
//! password replaced everywhere would make the report unreadable, and a secret that short is
//! guessed faster than it is read off a report anyway. A longer secret is replaced wherever it
//! occurs, even inside a word the doctor wrote itself, because a garbled word is a small price
//! for never printing it.
//!
//! What cannot be recognised is not replaced: a secret transformed in a way not listed above
//! (hashed, reversed, split across fields, quoted only in part other than a JWT's signature or
//! at a cut). Peer text is also capped in length where it enters a finding, which bounds how
//! much a peer can say at all.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::config::{CredentialSource, DoctorConfig, KeySource};
use crate::findings::Finding;
use crate::secret::Secret;

/// Secrets shorter than this many bytes are replaced only as whole tokens.
pub const SHORT_SECRET: usize = 4;

/// The shortest start of a secret form that counts as quoting it, where a cut ends the text:
/// shorter tails are too likely to be ordinary text.
const MIN_CUT_TAIL: usize = 6;

/// The shortest JWT signature segment replaced on its own (an HS256 signature has 43
/// characters); anything shorter is no signature worth guarding.
const MIN_SIGNATURE: usize = 16;

/// What RFC 3986 leaves unreserved (`A-Z a-z 0-9 - . _ ~`) is not encoded; everything else is,
/// as `encodeURIComponent` and most URL libraries do.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One form of one secret, and what it is replaced with.
#[derive(Clone)]
struct Needle {
    text: String,
    marker: String,
    /// Replaced only where no ASCII letter or digit adjoins it.
    whole_token: bool,
}

/// The run's secrets in every form a peer may quote them in, and the replacement of each.
/// Built once per run; see the module documentation for what is replaced and why.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that where two forms overlap the longer one wins.
    needles: Vec<Needle>,
    /// The bytes some form starts with, as a bit set: the scan tries the forms only where the
    /// text holds one, so a report with no secret in it costs one lookup per byte.
    first_bytes: [u64; 4],
}

impl std::fmt::Debug for Redactor {
    /// The needles are the secrets: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("forms", &self.needles.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor with no secrets: it changes nothing.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Every secret the configuration holds: the password and token given as values or on
    /// standard input, the JWT HMAC secret, the `--ws-header` values and the proxy's
    /// credentials. Passwords and tokens in files are read by the auth stage: add them with
    /// [`Redactor::add`] once read.
    pub fn for_config(config: &DoctorConfig) -> Self {
        let mut redactor = Redactor::new();
        let auth = &config.auth;
        let username = auth.username.as_deref();
        if let Some(CredentialSource::Value(password) | CredentialSource::Stdin(password)) =
            &auth.password
        {
            redactor.add_login(username, password, "password");
        }
        if let Some(CredentialSource::Value(token) | CredentialSource::Stdin(token)) = &auth.token {
            redactor.add_login(username, token, "token");
        }
        if let Some(KeySource::Secret { secret, base64 }) = &auth.checks.key {
            redactor.add(secret, "JWT secret");
            if *base64 {
                // The key itself, for a peer that quotes it in another encoding.
                let text = String::from_utf8_lossy(secret.expose());
                if let Ok(key) = STANDARD.decode(text.trim()) {
                    redactor.add(&Secret::new(key), "JWT secret");
                }
            }
        }
        for header in &config.websocket.headers {
            redactor.add_header(&header.name, &header.value);
        }
        if let Some(proxy) = config.proxy.proxy() {
            if let Some(password) = &proxy.password {
                redactor.add(password, "proxy password");
            }
            if proxy.has_credentials() {
                // Exactly what the proxy stage sends in `Proxy-Authorization: Basic …`.
                let mut plain = proxy.username.clone().unwrap_or_default().into_bytes();
                plain.push(b':');
                if let Some(password) = &proxy.password {
                    plain.extend_from_slice(password.expose());
                }
                redactor.add_encoded(&plain, "proxy credentials");
            }
        }
        redactor
    }

    /// Adds one secret, in all its forms, replaced by `[redacted WHAT]`. A secret that is a
    /// JWT has its signature segment added too. Adding a secret twice changes nothing.
    pub fn add(&mut self, secret: &Secret, what: &str) {
        let bytes = secret.expose();
        self.add_encoded(bytes, what);
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        // Surrounding whitespace is not part of what is sent (the auth stage trims a token).
        let trimmed = text.trim();
        if trimmed.len() != text.len() {
            self.add_encoded(trimmed.as_bytes(), what);
        }
        // The text as peer_text leaves it, where the secret holds runs of whitespace or
        // control characters.
        let cleaned = crate::secret::peer_text(trimmed, usize::MAX);
        if cleaned != trimmed {
            self.push(cleaned, what, trimmed.len());
        }
        if let Some(signature) = jwt_signature(trimmed) {
            self.add_encoded(signature.as_bytes(), &format!("{what} signature"));
        }
    }

    /// Adds an MQTT password or token, and the HTTP Basic form of the username with it: a
    /// broker's HTTP auth backend (or a gateway in front) may be sent, and quote, exactly that.
    pub fn add_login(&mut self, username: Option<&str>, secret: &Secret, what: &str) {
        self.add(secret, what);
        if let Some(username) = username {
            let mut plain = username.as_bytes().to_vec();
            plain.push(b':');
            plain.extend_from_slice(secret.expose());
            self.add_encoded(&plain, "credentials");
        }
    }

    /// Adds a `--ws-header` value, and the credentials inside it: a page may echo `X` out of
    /// `Authorization: Bearer X`, or the password inside a Basic header.
    fn add_header(&mut self, name: &str, value: &Secret) {
        let what = format!("{name} value");
        self.add(value, &what);
        let Ok(text) = std::str::from_utf8(value.expose()) else {
            return;
        };
        let Some((scheme, credentials)) = text.trim().split_once(' ') else {
            return;
        };
        let credentials = credentials.trim();
        if !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return;
        }
        self.add(&Secret::new(credentials), &what);
        if scheme.eq_ignore_ascii_case("basic")
            && let Ok(plain) = STANDARD.decode(credentials)
            && let Some(at) = plain.iter().position(|b| *b == b':')
        {
            self.add(&Secret::new(&plain[at + 1..]), &what);
        }
    }

    /// Adds `bytes` in its raw, base64 and percent-encoded forms.
    fn add_encoded(&mut self, bytes: &[u8], what: &str) {
        if bytes.is_empty() {
            return;
        }
        let len = bytes.len();
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut forms = vec![
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            hex.join(" "),
            hex.concat(),
        ];
        if let Ok(text) = std::str::from_utf8(bytes) {
            forms.push(text.to_string());
            for set in [NON_ALPHANUMERIC, COMPONENT] {
                let upper = utf8_percent_encode(text, set).to_string();
                forms.push(lower_hex(&upper));
                forms.push(upper.replace("%20", "+"));
                forms.push(upper);
            }
        }
        for form in forms {
            self.push(form, what, len);
        }
    }

    /// Adds one form, `plain_len` being the length of the secret it encodes.
    fn push(&mut self, text: String, what: &str, plain_len: usize) {
        if text.is_empty() || self.needles.iter().any(|n| n.text == text) {
            return;
        }
        let first = text.as_bytes()[0];
        self.first_bytes[usize::from(first / 64)] |= 1 << (first % 64);
        let needle = Needle {
            text,
            marker: format!("[redacted {what}]"),
            whole_token: plain_len < SHORT_SECRET,
        };
        // Longest first, so that the scan prefers the longer form where two start together.
        let at = self
            .needles
            .partition_point(|n| n.text.len() >= needle.text.len());
        self.needles.insert(at, needle);
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every form of every secret replaced by its marker.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.needles.is_empty() {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        let mut out: Option<String> = None;
        // The end of the text already copied to `out`.
        let mut copied = 0;
        let mut at = 0;
        while at < bytes.len() {
            let byte = bytes[at];
            let starts_some = self.first_bytes[usize::from(byte / 64)] & (1 << (byte % 64)) != 0;
            let found = starts_some.then(|| {
                self.needles.iter().find(|needle| {
                    let form = needle.text.as_bytes();
                    bytes[at..].starts_with(form)
                        && (!needle.whole_token
                            || (!alnum_at(bytes, at.wrapping_sub(1))
                                && !alnum_at(bytes, at + form.len())))
                })
            });
            match found.flatten() {
                Some(needle) => {
                    let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    out.push_str(&text[copied..at]);
                    out.push_str(&needle.marker);
                    at += needle.text.len();
                    copied = at;
                }
                None => {
                    // The next character: forms are whole strings, so they start on one.
                    at += text[at..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        let text = match out {
            None => Cow::Borrowed(text),
            Some(mut out) => {
                out.push_str(&text[copied..]);
                Cow::Owned(out)
            }
        };
        self.redact_cut_tails(text)
    }

    /// A peer's text cut by [`crate::secret::peer_text`] ends in `… (N more bytes)`, raw bytes
    /// cut by [`crate::wire::hex`] in ` … (N bytes)`; what comes just before may be the start of
    /// a secret that the cut split. Such a start is replaced.
    fn redact_cut_tails<'t>(&self, text: Cow<'t, str>) -> Cow<'t, str> {
        const CUT: &str = "… (";
        let mut search_from = 0;
        let mut text = text;
        while let Some(found) = text[search_from..].find(CUT) {
            let cut = search_from + found;
            search_from = cut + CUT.len();
            let rest = &text[search_from..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let after = &rest[digits..];
            if digits == 0 || !(after.starts_with(" more bytes)") || after.starts_with(" bytes)")) {
                continue;
            }
            // `wire::hex` puts a space before the ellipsis.
            let before = text[..cut].strip_suffix(' ').unwrap_or(&text[..cut]);
            let tail = self
                .needles
                .iter()
                .filter(|needle| !needle.whole_token)
                .find_map(|needle| cut_tail(before, &needle.text).map(|len| (len, needle)));
            if let Some((len, needle)) = tail {
                let start = before.len() - len;
                let end = before.len();
                let replaced = format!("{}{}{}", &text[..start], needle.marker, &text[end..]);
                search_from = start + needle.marker.len() + (cut - end) + CUT.len();
                text = Cow::Owned(replaced);
            }
        }
        text
    }

    /// Redacts a string in place.
    pub fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(redacted) = self.redact(text) {
            *text = redacted;
        }
    }

    /// Redacts every string in a JSON value, object keys included (a peer names user
    /// properties), recursively.
    pub fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(text) => self.redact_string(text),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => self.redact_map(map),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn redact_map(&self, map: &mut Map<String, Value>) {
        let keys_change = map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_)));
        if !keys_change {
            map.values_mut().for_each(|v| self.redact_value(v));
            return;
        }
        // Rebuilt in the same order; two keys that redact alike are both kept.
        let old = std::mem::take(map);
        for (key, mut value) in old {
            self.redact_value(&mut value);
            let mut key = self.redact(&key).into_owned();
            let base = key.clone();
            let mut n = 2;
            while map.contains_key(&key) {
                key = format!("{base} ({n})");
                n += 1;
            }
            map.insert(key, value);
        }
    }

    /// Redacts a finding's detail, fix and evidence.
    pub fn redact_finding(&self, finding: &mut Finding) {
        self.redact_string(&mut finding.detail);
        if let Some(fix) = &mut finding.fix {
            self.redact_string(fix);
        }
        self.redact_map(&mut finding.evidence);
    }

    /// Redacts every finding and every other text given (the stages' summaries): what the
    /// pipeline does before it picks the verdict, so that the verdict quotes redacted text.
    pub fn redact_run<'t>(
        &self,
        findings: &mut [Finding],
        texts: impl IntoIterator<Item = &'t mut String>,
    ) {
        if self.is_empty() {
            return;
        }
        findings.iter_mut().for_each(|f| self.redact_finding(f));
        texts.into_iter().for_each(|text| self.redact_string(text));
    }
}

/// The length of the longest start of `form` (at least [`MIN_CUT_TAIL`] bytes, shorter than
/// all of it) that `before` ends with. Only positions holding the form's first byte are tried,
/// so this costs little even for a long token.
fn cut_tail(before: &str, form: &str) -> Option<usize> {
    let first = *form.as_bytes().first()?;
    let longest = form.len().checked_sub(1)?.min(before.len());
    let bytes = before.as_bytes();
    (before.len() - longest..=before.len().checked_sub(MIN_CUT_TAIL)?)
        .filter(|p| bytes[*p] == first)
        .find(|p| form.as_bytes().starts_with(&bytes[*p..]))
        .map(|p| before.len() - p)
}

/// Whether `bytes[at]` is an ASCII letter or digit; outside the text it is not.
fn alnum_at(bytes: &[u8], at: usize) -> bool {
    bytes.get(at).is_some_and(u8::is_ascii_alphanumeric)
}

/// A percent-encoded text with its hex digits in lower case (`%2f` for `%2F`).
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The signature segment of a compact JWT (`header.payload.signature`), when long enough to be
/// one.
fn jwt_signature(text: &str) -> Option<&str> {
    let mut parts = text.split('.');
    let (Some(_), Some(_), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let base64url = signature
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (signature.len() >= MIN_SIGNATURE && base64url).then_some(signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WsHeader;
    use crate::findings::registry as r;

    fn redactor(secrets: &[(&str, &str)]) -> Redactor {
        let mut redactor = Redactor::new();
        for (secret, what) in secrets {
            redactor.add(&Secret::new(*secret), what);
        }
        redactor
    }

    #[test]
    fn every_encoding_of_a_secret_is_replaced() {
        let secret = "p@ss word/+?";
        let r = redactor(&[(secret, "password")]);
        let quoted = [
            secret.to_string(),
            STANDARD.encode(secret),
            STANDARD_NO_PAD.encode(secret),
            URL_SAFE.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
            utf8_percent_encode(secret, COMPONENT).to_string(),
            "p%40ss%20word%2f%2b%3f".to_string(),
            "p%40ss+word%2F%2B%3F".to_string(),
        ];
        for form in quoted {
            let text = format!("denied: <{form}>!");
            assert_eq!(r.redact(&text), "denied: <[redacted password]>!", "{form}");
        }
    }

    #[test]
    fn raw_bytes_in_hex_are_replaced_whole_and_at_a_cut() {
        let r = redactor(&[("hunter22", "password")]);
        let mut frame = vec![0x20, 0x30, 0x00, 0x86];
        frame.extend_from_slice(b"pw hunter22 ok");
        let shown = frame.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>();
        assert_eq!(
            r.redact(&shown.join(" ")),
            "20 30 00 86 70 77 20 [redacted password] 20 6f 6b"
        );
        assert_eq!(
            r.redact(&shown.concat()),
            "20300086707720[redacted password]206f6b"
        );
        // Cut as wire::hex cuts: the first bytes of the password end the text.
        let cut = format!("{} … (400 bytes)", shown[..12].join(" "));
        assert_eq!(
            r.redact(&cut),
            "20 30 00 86 70 77 20 [redacted password] … (400 bytes)"
        );
    }

    #[test]
    fn basic_forms_of_the_mqtt_and_proxy_credentials_are_replaced() {
        let mut config = DoctorConfig::new(crate::target::parse("ws://broker").unwrap());
        config.auth.username = Some("alice".into());
        config.auth.password = Some(CredentialSource::Value(Secret::new("hunter22")));
        config.proxy = crate::proxy::ProxyChoice::Use(
            crate::proxy::parse("http://bob:pr0xy-pass@proxy:3128", "--proxy").unwrap(),
        );
        let r = Redactor::for_config(&config);
        let mqtt_basic = STANDARD.encode("alice:hunter22");
        let proxy_basic = STANDARD.encode("bob:pr0xy-pass");
        let text =
            format!("Authorization: Basic {mqtt_basic}; Proxy-Authorization: Basic {proxy_basic}");
        assert_eq!(
            r.redact(&text),
            "Authorization: Basic [redacted credentials]; Proxy-Authorization: Basic \
             [redacted proxy credentials]"
        );
        assert_eq!(r.redact("pw pr0xy-pass"), "pw [redacted proxy password]");
    }

    #[test]
    fn header_values_and_the_credentials_inside_them_are_replaced() {
        let mut config = DoctorConfig::new(crate::target::parse("ws://broker").unwrap());
        config.websocket.headers.push(WsHeader {
            name: "Authorization".into(),
            value: Secret::new("Bearer s3cr3t-t0ken"),
        });
        config.websocket.headers.push(WsHeader {
            name: "X-Auth".into(),
            value: Secret::new(format!("Basic {}", STANDARD.encode("u:basic-pass"))),
        });
        let r = Redactor::for_config(&config);
        assert_eq!(
            r.redact("got Bearer s3cr3t-t0ken and s3cr3t-t0ken and basic-pass"),
            "got [redacted Authorization value] and [redacted Authorization value] and \
             [redacted X-Auth value]"
        );
    }

    #[test]
    fn short_secrets_are_replaced_only_as_whole_tokens() {
        let r = redactor(&[("ab1", "password")]);
        assert_eq!(
            r.redact("cab1e ab1 x=ab1;"),
            "cab1e [redacted password] x=[redacted password];"
        );
        // Its base64 (YWIx) too, only where it stands alone.
        assert_eq!(r.redact("YWIxYWIx YWIx"), "YWIxYWIx [redacted password]");
        // Four bytes are replaced anywhere.
        let r = redactor(&[("abcd", "password")]);
        assert_eq!(r.redact("xabcdx"), "x[redacted password]x");
    }

    #[test]
    fn a_jwt_is_replaced_whole_or_by_its_signature() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
        let r = redactor(&[(token, "token")]);
        assert_eq!(r.redact(&format!("bad {token}")), "bad [redacted token]");
        assert_eq!(
            r.redact("sig c2lnbmF0dXJlLW9mLXRoZS10b2tlbg."),
            "sig [redacted token signature]."
        );
    }

    #[test]
    fn a_secret_split_by_the_length_cap_is_replaced() {
        let secret = "correct-horse-battery-staple";
        let r = redactor(&[(secret, "password")]);
        let cut = crate::secret::peer_text(&format!("your password {secret} is wrong"), 25);
        assert!(cut.contains("more bytes)"), "{cut}");
        let redacted = r.redact(&cut);
        assert!(!redacted.contains("correct-h"), "{redacted}");
        assert!(redacted.contains("[redacted password]…"), "{redacted}");
        // An ordinary cut is left alone.
        assert_eq!(r.redact("abc… (3 more bytes)"), "abc… (3 more bytes)");
    }

    #[test]
    fn evidence_keys_and_nested_values_are_replaced() {
        let r = redactor(&[("hunter22", "password")]);
        let mut finding = crate::findings::Finding::new(&r::MQTT_BAD_CREDENTIALS, "said hunter22")
            .with_fix("not hunter22")
            .with_evidence(
                "user_properties",
                serde_json::json!({"hunter22": ["x hunter22", {"k": "hunter22"}], "n": 1}),
            );
        r.redact_finding(&mut finding);
        let shown = format!(
            "{} {:?} {}",
            finding.detail,
            finding.fix,
            Value::Object(finding.evidence)
        );
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(
            shown.contains("\"[redacted password]\":[\"x [redacted password]\""),
            "{shown}"
        );
    }

    #[test]
    fn debug_never_shows_the_secrets() {
        let r = redactor(&[("hunter22", "password")]);
        assert!(!format!("{r:?}").contains("hunter22"));
    }
}
