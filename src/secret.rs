//! Secrets the doctor holds (passwords, tokens, signing secrets) and how it may mention them.
//!
//! A [`Secret`] has no `Display`, and its `Debug` shows only its length and fingerprint, so a
//! secret cannot reach a report, a log or an error by accident: the only way to its bytes is
//! [`Secret::expose`], which the code that sends or checks the secret calls by name.
//!
//! # Fingerprints
//!
//! A report says "the same password as that one" with a fingerprint, `fp:` and eight hex
//! digits: the first four bytes of an HMAC-SHA256 of the secret under a random key made once
//! per process and never shown. Within one run (every target, every stage) the same secret has
//! the same fingerprint, so a report can still tell that two tokens are one; across runs the
//! fingerprints differ. The doctor used to show a plain SHA-256 prefix, and anyone holding a
//! report (a CI log, an issue a user pasted it into) could test guesses of a weak password
//! against it offline, as fast as they could hash; a keyed fingerprint gives them nothing to
//! test against. The price is that fingerprints cannot be compared between two runs or two
//! machines: compare the lengths, or run the doctor once with both. The prefix is `fp:`, not
//! `sha256:`, so that nobody takes it for a hash they could recompute.
//!
//! # Text from peers
//!
//! [`peer_text`] and [`peer_bytes`] make what a peer said (a status line, a reason string, an
//! error page) safe to put in a finding: no control characters, no bidirectional overrides,
//! and a bounded length. The run's secrets are replaced in it later, by
//! [`crate::redact::Redactor`], once every secret of the run is known.

use std::sync::OnceLock;

use ring::hmac;
use ring::rand::SystemRandom;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    /// The secret itself, for the code that sends or verifies it. Never for output.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `fp:` and eight hex digits, the same for the same secret within this process only.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// How reports mention the secret: `24 bytes, fp:1a2b3c4d`.
    pub fn describe(&self) -> String {
        format!("{} bytes, {}", self.0.len(), self.fingerprint())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", self.describe())
    }
}

/// The short keyed fingerprint of any secret bytes (e.g. a signature segment): `fp:` and the
/// first four bytes of their HMAC-SHA256 under this process's [`run_key`], in hex.
pub fn fingerprint(bytes: &[u8]) -> String {
    let tag = hmac::sign(run_key(), bytes);
    let hex: String = tag.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("fp:{hex}")
}

/// The fingerprint key: random, made on first use, the same for the rest of the process.
fn run_key() -> &'static hmac::Key {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| {
        hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &fallback_seed()))
    })
}

/// Key material for the rare system whose random source fails (ring reads `getrandom`): the
/// standard library's per-process hash seed, which comes from the operating system's own
/// randomness, mixed with the time and process id. Weaker than `getrandom`, but still unknown
/// to whoever reads a report, which is all a fingerprint key needs; failing the run instead
/// would cost a diagnosis for a fingerprint.
fn fallback_seed() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let mut seed = Vec::with_capacity(32);
    for round in 0u64..4 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(round);
        hasher.write_u32(std::process::id());
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(now.as_nanos());
        }
        seed.extend_from_slice(&hasher.finish().to_le_bytes());
    }
    seed
}

/// How many characters of a short peer-supplied string (a reason string, a status line, a
/// header value) a finding keeps.
pub const MAX_PEER_TEXT: usize = 256;
/// How many characters of a peer-supplied body (an HTTP error page) a finding keeps.
pub const MAX_PEER_BODY: usize = 512;

/// Text a peer supplied, made safe to print: every control character (C0 including CR, LF and
/// TAB, DEL, C1) and every bidirectional override or isolate becomes a space, so a peer can
/// neither forge lines in the report or a GitHub annotation, nor send terminal escapes, nor
/// make text display in another order than it reads; runs of whitespace collapse to one space
/// and the ends are trimmed; and the result keeps at most `max_chars` characters, followed by
/// `… (N more bytes)` when cut, so a peer cannot make a finding (and the memory behind it) as
/// large as it likes.
pub fn peer_text(raw: &str, max_chars: usize) -> String {
    clean(raw.char_indices(), raw.len(), max_chars)
}

/// [`peer_text`] of bytes that should be text: each invalid UTF-8 sequence becomes U+FFFD.
/// Decoding stops where the text is cut, so a huge body costs no more than a short one, and
/// the `N more bytes` counts the peer's bytes, not the decoded ones.
pub fn peer_bytes(raw: &[u8], max_chars: usize) -> String {
    let mut at = 0usize;
    let chars = raw.utf8_chunks().flat_map(move |chunk| {
        let valid = chunk.valid();
        let invalid = chunk.invalid();
        let valid_at = at;
        let invalid_at = valid_at + valid.len();
        at = invalid_at + invalid.len();
        valid
            .char_indices()
            .map(move |(i, c)| (valid_at + i, c))
            .chain((!invalid.is_empty()).then_some((invalid_at, char::REPLACEMENT_CHARACTER)))
    });
    clean(chars, raw.len(), max_chars)
}

/// The one cleaning loop behind [`peer_text`] and [`peer_bytes`]: `chars` yields each
/// character with its byte offset in the peer's text of `total` bytes.
fn clean(chars: impl Iterator<Item = (usize, char)>, total: usize, max_chars: usize) -> String {
    let mut out = String::new();
    let mut kept = 0usize;
    // A pending space is written only before the next kept character, which both collapses
    // runs and trims the end.
    let mut pending_space = false;
    // Where the pending run of whitespace began: a cut there counts it as not shown.
    let mut pending_from = 0;
    for (offset, c) in chars {
        if c.is_whitespace() || is_unsafe_char(c) {
            if !pending_space {
                pending_from = offset;
            }
            pending_space = kept > 0;
            continue;
        }
        let needed = if pending_space { 2 } else { 1 };
        if kept + needed > max_chars {
            let from = if pending_space { pending_from } else { offset };
            out.push_str(&format!("… ({} more bytes)", total - from));
            return out;
        }
        if pending_space {
            out.push(' ');
            kept += 1;
            pending_space = false;
        }
        out.push(c);
        kept += 1;
    }
    out
}

/// Characters that must never reach a report from a peer: controls (C0, DEL, C1) and the
/// bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), plus the
/// implicit marks and separators that reorder or break lines (U+200E, U+200F, U+061C, U+2028,
/// U+2029).
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = Secret::new("hunter2");
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.starts_with("Secret(7 bytes, fp:"), "{shown}");
        assert_eq!(shown.len(), "Secret(7 bytes, fp:1a2b3c4d)".len(), "{shown}");
    }

    #[test]
    fn fingerprints_are_keyed_not_a_plain_hash() {
        let a = Secret::new("hunter2");
        // The same secret, the same fingerprint within the process; another, another.
        assert_eq!(a.fingerprint(), Secret::new("hunter2").fingerprint());
        assert_ne!(a.fingerprint(), Secret::new("hunter3").fingerprint());
        // Not the SHA-256 prefix the doctor used to show (SHA-256("hunter2") = f52fbd32...),
        // except by a 1 in 2^32 chance.
        assert_ne!(a.fingerprint(), "fp:f52fbd32");
        assert!(!a.fingerprint().contains("sha256"));
        assert!(a.fingerprint()[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(fallback_seed().len() >= 32);
    }

    #[test]
    fn peer_text_strips_controls_and_bidi_and_collapses_whitespace() {
        assert_eq!(
            peer_text("  Not\r\n  authorized\t\x1b[31m ", 100),
            "Not authorized [31m"
        );
        assert_eq!(
            peer_text("a\u{202E}b\u{2066}c\u{85}d\u{7f}e", 100),
            "a b c d e"
        );
        assert_eq!(peer_text("\u{0}\u{1}\u{9b}", 100), "");
        assert_eq!(peer_text("fine text", 100), "fine text");
        // Nothing the output could take for a new line or an escape survives.
        let hostile = "ok\r\n::error::forged\u{1b}]0;title\u{7}\u{2028}x";
        assert!(
            !peer_text(hostile, 100)
                .chars()
                .any(|c| c.is_control() || c == '\u{2028}')
        );
    }

    #[test]
    fn peer_text_is_capped_in_characters_and_says_how_much_was_cut() {
        assert_eq!(peer_text("abcdef", 6), "abcdef");
        assert_eq!(peer_text("abcdefgh", 6), "abcdef… (2 more bytes)");
        // Characters, not bytes: never cut inside one.
        assert_eq!(peer_text("ééééé", 3), "ééé… (4 more bytes)");
        // The cut counts the peer's bytes, whitespace included.
        assert_eq!(peer_text("ab   cd", 3), "ab… (5 more bytes)");
        let huge = "x".repeat(1 << 20);
        let shown = peer_text(&huge, MAX_PEER_TEXT);
        assert_eq!(
            shown,
            format!("{}… ({} more bytes)", "x".repeat(256), (1 << 20) - 256)
        );
    }

    #[test]
    fn peer_bytes_decodes_lossily_and_counts_raw_bytes() {
        assert_eq!(peer_bytes(b"ok\xff\xfeend", 100), "ok\u{FFFD}\u{FFFD}end");
        assert_eq!(peer_bytes(b"\xffabcdef", 3), "\u{FFFD}ab… (4 more bytes)");
        assert_eq!(peer_bytes(b"line\r\nnext\x00", 100), "line next");
        assert_eq!(peer_bytes(b"", 10), "");
        let body = vec![b'y'; 10 << 20];
        assert_eq!(
            peer_bytes(&body, MAX_PEER_BODY),
            format!("{}… ({} more bytes)", "y".repeat(512), (10 << 20) - 512)
        );
    }
}
