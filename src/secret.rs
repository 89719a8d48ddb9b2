//! Secrets the doctor holds (passwords, tokens, signing secrets) and how it may mention them.
//!
//! A [`Secret`] has no `Display`, and its `Debug` shows only its length and fingerprint, so a
//! secret cannot reach a report, a log or an error by accident: the only way to its bytes is
//! [`Secret::expose`], which the code that sends or checks the secret calls by name. The
//! fingerprint is the first four bytes of the SHA-256: enough to tell "the same password as on
//! the other machine" from "a different one", too short to be worth much to anyone guessing.

use ring::digest;

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

    /// `sha256:` and the first four bytes of the SHA-256, in hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// How reports mention the secret: `24 bytes, sha256:1a2b3c4d`.
    pub fn describe(&self) -> String {
        format!("{} bytes, {}", self.0.len(), self.fingerprint())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", self.describe())
    }
}

/// The short fingerprint of any secret bytes (e.g. a signature segment).
pub fn fingerprint(bytes: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, bytes);
    let hex: String = hash.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = Secret::new("hunter2");
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hunter2"));
        // SHA-256("hunter2") = f52fbd32...
        assert_eq!(shown, "Secret(7 bytes, sha256:f52fbd32)");
    }
}
