//! JSON Web Tokens: decoding without trust, and signature checks with `ring`.
//!
//! Decoding needs no key: the doctor's job is to show what a token says and which claim a broker
//! will reject, so [`decode`] splits, base64url-decodes and parses header and payload, and on
//! failure says which part is broken and how (never quoting the token). Signature checks are
//! optional and use `ring`, which rustls already brings in: HMAC secrets, PEM public keys (SPKI,
//! PKCS#1 or a certificate) and JWKS files. Keys are matched by `kid` and by type before any
//! check, so "no key for this kid" and "an RS256 token checked with an HMAC secret" are told apart
//! from a signature that does not verify.

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::{hmac, signature};
use serde_json::{Map, Value};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::secret::Secret;

/// base64url as JWTs use it; padding is tolerated because some minting code adds it.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One of the three dot-separated parts of a compact JWT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Header,
    Payload,
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a string is not a decodable JWT. Messages name the part and the position, never content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("it has {0} dot-separated parts; a JWT has three (header.payload.signature)")]
    Segments(usize),
    #[error("the {0} part is empty")]
    EmptyPart(Part),
    #[error("the {part} is not base64url: {problem}")]
    Base64 { part: Part, problem: String },
    #[error("the {0} does not decode to UTF-8 text")]
    NotUtf8(Part),
    #[error("the {part} is not JSON: {problem}")]
    Json { part: Part, problem: String },
    #[error("the {0} is JSON but not an object")]
    NotObject(Part),
}

impl Malformed {
    /// The part that is broken, when it is one part.
    pub fn part(&self) -> Option<Part> {
        match self {
            Malformed::Segments(_) => None,
            Malformed::EmptyPart(part)
            | Malformed::NotUtf8(part)
            | Malformed::NotObject(part)
            | Malformed::Base64 { part, .. }
            | Malformed::Json { part, .. } => Some(*part),
        }
    }
}

/// A decoded, unverified token.
#[derive(Clone, Debug)]
pub struct Jwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The `aud` claim as a list (RFC 7519 allows one string or an array); `None` without
    /// one, an empty list when it has another type.
    pub fn audiences(&self) -> Option<Vec<String>> {
        match self.claims.get("aud")? {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            ),
            _ => Some(Vec::new()),
        }
    }
}

/// Whether a string has the shape of a compact JWT (`eyJ…` with two dots), to tell a password
/// that is a JWT (EMQX takes them as passwords) from an ordinary one.
pub fn looks_like_jwt(text: &str) -> bool {
    text.starts_with("eyJ") && text.matches('.').count() == 2
}

pub fn decode(token: &str) -> Result<Jwt, Malformed> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(Malformed::Segments(parts.len()));
    };
    let header_map = json_part(Part::Header, header)?;
    let claims = json_part(Part::Payload, payload)?;
    // An unsigned token (`alg: none`) legitimately has an empty signature; the verdict on that
    // belongs to the signature check, not to decoding.
    let signature = bytes_part(Part::Signature, signature, true)?;
    Ok(Jwt {
        header: header_map,
        claims,
        signing_input: format!("{header}.{payload}"),
        signature,
    })
}

fn bytes_part(part: Part, text: &str, may_be_empty: bool) -> Result<Vec<u8>, Malformed> {
    if text.is_empty() {
        return if may_be_empty {
            Ok(Vec::new())
        } else {
            Err(Malformed::EmptyPart(part))
        };
    }
    BASE64URL.decode(text).map_err(|e| Malformed::Base64 {
        part,
        problem: base64_problem(&e),
    })
}

/// Describes a base64 error by position and kind only.
pub fn base64_problem(error: &base64::DecodeError) -> String {
    use base64::DecodeError;
    match *error {
        DecodeError::InvalidByte(offset, b'+' | b'/') => format!(
            "character {} is '+' or '/', from the standard base64 alphabet; JWTs use base64url ('-' and '_')",
            offset + 1
        ),
        DecodeError::InvalidByte(offset, byte) if byte.is_ascii_whitespace() => {
            format!("character {} is whitespace", offset + 1)
        }
        DecodeError::InvalidByte(offset, _) => {
            format!("character {} is not in the base64url alphabet", offset + 1)
        }
        DecodeError::InvalidLength(length) => {
            format!("{length} characters cannot be base64 (the text is cut short)")
        }
        DecodeError::InvalidLastSymbol { offset, .. } => format!(
            "the last character (position {}) has stray bits: the text was cut or altered",
            offset + 1
        ),
        DecodeError::InvalidPadding => "its '=' padding is wrong".to_string(),
    }
}

fn json_part(part: Part, text: &str) -> Result<Map<String, Value>, Malformed> {
    let bytes = bytes_part(part, text, false)?;
    let text = String::from_utf8(bytes).map_err(|_| Malformed::NotUtf8(part))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Malformed::NotObject(part)),
        // serde_json's syntax errors name a position, never the input, so they may be shown.
        Err(e) => Err(Malformed::Json {
            part,
            problem: format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            )
            .to_lowercase(),
        }),
    }
}

/// The signature algorithm a token's `alg` names.
#[derive(Clone, Copy, Debug)]
enum Algorithm {
    Hmac(hmac::Algorithm),
    Rsa(&'static signature::RsaParameters),
    Ecdsa(&'static signature::EcdsaVerificationAlgorithm, Curve),
    EdDsa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
}

fn algorithm(alg: &str) -> Option<Algorithm> {
    use signature::*;
    Some(match alg {
        "HS256" => Algorithm::Hmac(hmac::HMAC_SHA256),
        "HS384" => Algorithm::Hmac(hmac::HMAC_SHA384),
        "HS512" => Algorithm::Hmac(hmac::HMAC_SHA512),
        "RS256" => Algorithm::Rsa(&RSA_PKCS1_2048_8192_SHA256),
        "RS384" => Algorithm::Rsa(&RSA_PKCS1_2048_8192_SHA384),
        "RS512" => Algorithm::Rsa(&RSA_PKCS1_2048_8192_SHA512),
        "PS256" => Algorithm::Rsa(&RSA_PSS_2048_8192_SHA256),
        "PS384" => Algorithm::Rsa(&RSA_PSS_2048_8192_SHA384),
        "PS512" => Algorithm::Rsa(&RSA_PSS_2048_8192_SHA512),
        "ES256" => Algorithm::Ecdsa(&ECDSA_P256_SHA256_FIXED, Curve::P256),
        "ES384" => Algorithm::Ecdsa(&ECDSA_P384_SHA384_FIXED, Curve::P384),
        "EdDSA" | "Ed25519" => Algorithm::EdDsa,
        _ => return None,
    })
}

/// What kind of key a verifying key is, as reports name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Hmac,
    Rsa { bits: usize },
    Ec(Curve),
    Ed25519,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Hmac => f.write_str("HMAC secret"),
            KeyKind::Rsa { bits } => write!(f, "RSA {bits}-bit public key"),
            KeyKind::Ec(curve) => write!(f, "EC {} public key", curve.name()),
            KeyKind::Ed25519 => f.write_str("Ed25519 public key"),
        }
    }
}

#[derive(Clone)]
enum Material {
    Secret(Secret),
    /// In the form ring's `UnparsedPublicKey` takes: PKCS#1 for RSA, the point for EC and EdDSA.
    Public(Vec<u8>),
    /// An RSA key given as modulus and exponent (JWKS).
    RsaComponents {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

/// A key a signature may be checked with.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kind: KeyKind,
    pub kid: Option<String>,
    /// Where the key came from, e.g. `--jwt-key keys/pub.pem` or `JWKS key 2 (kid "a1")`.
    pub origin: String,
    material: Material,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kind", &self.kind)
            .field("kid", &self.kid)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Why a key file or secret could not be used. Never quotes key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("it holds no PEM block (-----BEGIN PUBLIC KEY----- or CERTIFICATE)")]
    NoPem,
    #[error("it holds a private key; give the public key (openssl pkey -in KEY -pubout)")]
    PrivateKey,
    #[error("its {0} block cannot be parsed")]
    BadBlock(String),
    #[error("it holds a {0} block; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE")]
    UnexpectedBlock(String),
    #[error("its key type is not one JWTs are signed with (RSA, EC P-256/P-384/P-521, Ed25519)")]
    UnsupportedKey,
    #[error("it is not JSON: {0}")]
    NotJson(String),
    #[error("it is neither a JWKS ({{\"keys\": [...]}}) nor a single JWK")]
    NotJwks,
    #[error("its \"keys\" list is empty")]
    EmptyJwks,
    #[error("key {index}: {problem}")]
    BadJwk { index: usize, problem: String },
    #[error("the secret is not base64: {0}")]
    SecretNotBase64(String),
    #[error("the secret is empty")]
    EmptySecret,
}

/// An HMAC secret, raw or in the base64 form EMQX's `secret_base64_encoded` uses.
pub fn key_from_secret(secret: &Secret, base64_encoded: bool) -> Result<VerifyingKey, KeyError> {
    let bytes = if base64_encoded {
        let text = String::from_utf8_lossy(secret.expose());
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .or_else(|_| BASE64URL.decode(text.trim()))
            .map_err(|e| KeyError::SecretNotBase64(base64_problem(&e)))?
    } else {
        secret.expose().to_vec()
    };
    if bytes.is_empty() {
        return Err(KeyError::EmptySecret);
    }
    let secret = Secret::new(bytes);
    Ok(VerifyingKey {
        kind: KeyKind::Hmac,
        kid: None,
        origin: format!("--jwt-secret ({})", secret.describe()),
        material: Material::Secret(secret),
    })
}

/// Public keys from a PEM file: SPKI (`PUBLIC KEY`), PKCS#1 (`RSA PUBLIC KEY`) or certificates.
pub fn keys_from_pem(bytes: &[u8], origin: &str) -> Result<Vec<VerifyingKey>, KeyError> {
    let mut keys = Vec::new();
    for (index, block) in x509_parser::pem::Pem::iter_from_buffer(bytes).enumerate() {
        let Ok(block) = block else {
            // The first broken block ends the scan; report what came before, or the problem.
            if keys.is_empty() {
                return Err(KeyError::BadBlock(format!("PEM block {}", index + 1)));
            }
            break;
        };
        let label = block.label.as_str();
        let key = match label {
            "PUBLIC KEY" => key_from_spki(&block.contents),
            "RSA PUBLIC KEY" => rsa_bits_pkcs1(&block.contents).map(|bits| {
                (
                    KeyKind::Rsa { bits },
                    Material::Public(block.contents.clone()),
                )
            }),
            "CERTIFICATE" => x509_parser::parse_x509_certificate(&block.contents)
                .map_err(|_| KeyError::BadBlock(label.to_string()))
                .and_then(|(_, cert)| key_from_spki(cert.public_key().raw)),
            l if l.contains("PRIVATE KEY") => Err(KeyError::PrivateKey),
            other => Err(KeyError::UnexpectedBlock(other.to_string())),
        }?;
        let suffix = if index == 0 {
            String::new()
        } else {
            format!(" (block {})", index + 1)
        };
        keys.push(VerifyingKey {
            kind: key.0,
            kid: None,
            origin: format!("{origin}{suffix}"),
            material: key.1,
        });
    }
    if keys.is_empty() {
        return Err(KeyError::NoPem);
    }
    Ok(keys)
}

fn key_from_spki(der: &[u8]) -> Result<(KeyKind, Material), KeyError> {
    let (_, spki) =
        SubjectPublicKeyInfo::from_der(der).map_err(|_| KeyError::BadBlock("PUBLIC KEY".into()))?;
    let oid = &spki.algorithm.algorithm;
    let raw = spki.subject_public_key.data.to_vec();
    if *oid == OID_PKCS1_RSAENCRYPTION {
        let bits = rsa_bits_pkcs1(&raw)?;
        Ok((KeyKind::Rsa { bits }, Material::Public(raw)))
    } else if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let curve = match curve {
            Some(c) if c == OID_EC_P256 => Curve::P256,
            Some(c) if c == OID_NIST_EC_P384 => Curve::P384,
            Some(c) if c == OID_NIST_EC_P521 => Curve::P521,
            _ => return Err(KeyError::UnsupportedKey),
        };
        Ok((KeyKind::Ec(curve), Material::Public(raw)))
    } else if *oid == OID_SIG_ED25519 {
        Ok((KeyKind::Ed25519, Material::Public(raw)))
    } else {
        Err(KeyError::UnsupportedKey)
    }
}

fn rsa_bits_pkcs1(der: &[u8]) -> Result<usize, KeyError> {
    let (_, key) = x509_parser::public_key::RSAPublicKey::from_der(der)
        .map_err(|_| KeyError::BadBlock("RSA PUBLIC KEY".into()))?;
    let modulus = key.modulus;
    let leading = modulus.iter().take_while(|b| **b == 0).count();
    Ok((modulus.len() - leading) * 8)
}

/// Keys from a JWKS file (`{"keys": [...]}`) or a single JWK.
pub fn keys_from_jwks(bytes: &[u8], origin: &str) -> Result<Vec<VerifyingKey>, KeyError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        KeyError::NotJson(
            format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            )
            .to_lowercase(),
        )
    })?;
    let jwks: Vec<&Value> = match &value {
        Value::Object(map) if map.get("keys").is_some_and(Value::is_array) => map["keys"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Value::Object(map) if map.contains_key("kty") => vec![&value],
        _ => return Err(KeyError::NotJwks),
    };
    let mut keys = Vec::new();
    for (index, jwk) in jwks.into_iter().enumerate() {
        let bad = |problem: &str| KeyError::BadJwk {
            index: index + 1,
            problem: problem.to_string(),
        };
        let Some(jwk) = jwk.as_object() else {
            return Err(bad("not an object"));
        };
        let field = |name: &str| -> Result<Vec<u8>, KeyError> {
            let text = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("no \"{name}\"")))?;
            BASE64URL.decode(text).map_err(|e| {
                bad(&format!(
                    "\"{name}\" is not base64url: {}",
                    base64_problem(&e)
                ))
            })
        };
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
        let (kind, material) = match (kty, crv) {
            ("RSA", _) => {
                let n = field("n")?;
                let e = field("e")?;
                let leading = n.iter().take_while(|b| **b == 0).count();
                let bits = (n.len() - leading) * 8;
                (KeyKind::Rsa { bits }, Material::RsaComponents { n, e })
            }
            ("EC", curve) => {
                let curve = match curve {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    "P-521" => Curve::P521,
                    _ => return Err(bad("EC key on a curve JWTs do not use")),
                };
                let mut point = vec![0x04];
                point.extend(field("x")?);
                point.extend(field("y")?);
                (KeyKind::Ec(curve), Material::Public(point))
            }
            ("OKP", "Ed25519") => (KeyKind::Ed25519, Material::Public(field("x")?)),
            ("oct", _) => (KeyKind::Hmac, Material::Secret(Secret::new(field("k")?))),
            _ => return Err(bad("unsupported \"kty\"/\"crv\"")),
        };
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_string);
        let name = match &kid {
            Some(kid) => format!("{origin} key {} (kid \"{kid}\")", index + 1),
            None => format!("{origin} key {}", index + 1),
        };
        keys.push(VerifyingKey {
            kind,
            kid,
            origin: name,
            material,
        });
    }
    if keys.is_empty() {
        return Err(KeyError::EmptyJwks);
    }
    Ok(keys)
}

/// The result of checking a token's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The signature verifies with this key (its origin).
    Valid(String),
    /// It verifies with none of the keys that fit (their origins).
    Invalid(Vec<String>),
    /// `alg: none`: no signature at all.
    Unsigned,
    /// The doctor cannot check this algorithm (e.g. ES512, which ring lacks), or `alg` is missing.
    Unsupported(String),
    /// No key fits the token: wrong `kid`, or a key of the wrong type for `alg`.
    NoMatchingKey(String),
}

pub fn verify(jwt: &Jwt, keys: &[VerifyingKey]) -> Verification {
    let Some(alg) = jwt.alg() else {
        return Verification::Unsupported("the header has no \"alg\"".into());
    };
    if alg.eq_ignore_ascii_case("none") {
        return Verification::Unsigned;
    }
    if alg == "ES512" {
        return Verification::Unsupported(
            "ES512 (P-521) signatures cannot be checked by this build".into(),
        );
    }
    let Some(algorithm) = algorithm(alg) else {
        return Verification::Unsupported(format!("unknown \"alg\" {alg:?}"));
    };

    let by_kid: Vec<&VerifyingKey> = match jwt.kid() {
        Some(kid) if keys.iter().any(|k| k.kid.is_some()) => {
            let matching: Vec<&VerifyingKey> = keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect();
            if matching.is_empty() {
                let known: Vec<&str> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
                return Verification::NoMatchingKey(format!(
                    "no key has the token's kid {kid:?} (the keys have {})",
                    known.join(", ")
                ));
            }
            matching
        }
        _ => keys.iter().collect(),
    };
    let fitting: Vec<&VerifyingKey> = by_kid
        .into_iter()
        .filter(|k| fits(algorithm, &k.kind))
        .collect();
    if fitting.is_empty() {
        let kinds: Vec<String> = keys.iter().map(|k| k.kind.to_string()).collect();
        return Verification::NoMatchingKey(format!(
            "the token is signed with {alg}, but the key given is {}: a token and key of different types never verify",
            kinds.join(", ")
        ));
    }
    let message = jwt.signing_input.as_bytes();
    for key in &fitting {
        let ok = match (&key.material, algorithm) {
            (Material::Secret(secret), Algorithm::Hmac(alg)) => hmac::verify(
                &hmac::Key::new(alg, secret.expose()),
                message,
                &jwt.signature,
            )
            .is_ok(),
            (Material::RsaComponents { n, e }, Algorithm::Rsa(params)) => {
                signature::RsaPublicKeyComponents { n, e }
                    .verify(params, message, &jwt.signature)
                    .is_ok()
            }
            (Material::Public(der), Algorithm::Rsa(params)) => {
                signature::UnparsedPublicKey::new(params, der)
                    .verify(message, &jwt.signature)
                    .is_ok()
            }
            (Material::Public(point), Algorithm::Ecdsa(params, _)) => {
                signature::UnparsedPublicKey::new(params, point)
                    .verify(message, &jwt.signature)
                    .is_ok()
            }
            (Material::Public(raw), Algorithm::EdDsa) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, raw)
                    .verify(message, &jwt.signature)
                    .is_ok()
            }
            _ => false,
        };
        if ok {
            return Verification::Valid(key.origin.clone());
        }
    }
    Verification::Invalid(fitting.iter().map(|k| k.origin.clone()).collect())
}

fn fits(algorithm: Algorithm, kind: &KeyKind) -> bool {
    match (algorithm, kind) {
        (Algorithm::Hmac(_), KeyKind::Hmac) => true,
        (Algorithm::Rsa(_), KeyKind::Rsa { .. }) => true,
        (Algorithm::Ecdsa(_, want), KeyKind::Ec(have)) => want == *have,
        (Algorithm::EdDsa, KeyKind::Ed25519) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        BASE64URL.encode(text)
    }

    fn hs256(secret: &[u8], header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
        format!("{input}.{}", BASE64URL.encode(tag.as_ref()))
    }

    #[test]
    fn decodes_header_and_claims() {
        let token = hs256(
            b"s",
            r#"{"alg":"HS256","kid":"k1"}"#,
            r#"{"sub":"dev","exp":5}"#,
        );
        let jwt = decode(&token).unwrap();
        assert_eq!(jwt.alg(), Some("HS256"));
        assert_eq!(jwt.kid(), Some("k1"));
        assert_eq!(jwt.claims["exp"], 5);
        assert_eq!(jwt.signature().len(), 32);
        assert!(looks_like_jwt(&token));
        assert!(!looks_like_jwt("hunter2"));
    }

    #[test]
    fn names_the_broken_part() {
        assert_eq!(decode("a.b").unwrap_err(), Malformed::Segments(2));
        assert_eq!(decode("").unwrap_err(), Malformed::Segments(1));
        let header = b64(r#"{"alg":"HS256"}"#);
        assert_eq!(
            decode(&format!("{header}..sig")).unwrap_err(),
            Malformed::EmptyPart(Part::Payload)
        );
        let error = decode(&format!("{header}.ab+c.sig")).unwrap_err();
        assert_eq!(error.part(), Some(Part::Payload));
        assert!(error.to_string().contains("standard base64"), "{error}");
        let error = decode(&format!("{header}.{}.sig", b64("{\"exp\": 1"))).unwrap_err();
        assert!(
            matches!(
                error,
                Malformed::Json {
                    part: Part::Payload,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(
            decode(&format!("{header}.{}.sig", b64("[1]"))).unwrap_err(),
            Malformed::NotObject(Part::Payload)
        );
        // Padding is tolerated.
        let padded = base64::engine::general_purpose::URL_SAFE.encode(r#"{"a":1}"#);
        assert!(padded.ends_with("=="));
        assert!(decode(&format!("{header}.{padded}.")).is_ok());
    }

    #[test]
    fn hmac_signatures() {
        let token = hs256(b"right", r#"{"alg":"HS256"}"#, r#"{"sub":"dev"}"#);
        let jwt = decode(&token).unwrap();
        let right = key_from_secret(&Secret::new("right"), false).unwrap();
        let wrong = key_from_secret(&Secret::new("wrong"), false).unwrap();
        assert!(matches!(verify(&jwt, &[right]), Verification::Valid(_)));
        assert!(matches!(verify(&jwt, &[wrong]), Verification::Invalid(_)));
        // "cmlnaHQ=" is base64 for "right".
        let encoded = key_from_secret(&Secret::new("cmlnaHQ="), true).unwrap();
        assert!(matches!(verify(&jwt, &[encoded]), Verification::Valid(_)));
        assert!(key_from_secret(&Secret::new("not base64!"), true).is_err());
    }

    #[test]
    fn alg_none_and_unknown_algorithms() {
        let unsigned = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("{}"));
        assert_eq!(
            verify(&decode(&unsigned).unwrap(), &[]),
            Verification::Unsigned
        );
        let odd = format!("{}.{}.c2ln", b64(r#"{"alg":"XX1"}"#), b64("{}"));
        assert!(matches!(
            verify(&decode(&odd).unwrap(), &[]),
            Verification::Unsupported(_)
        ));
    }

    #[test]
    fn key_files_never_quote_their_content() {
        let private = "-----BEGIN PRIVATE KEY-----\nTUlJQ1NFQ1JFVA==\n-----END PRIVATE KEY-----\n";
        let error = keys_from_pem(private.as_bytes(), "k.pem").unwrap_err();
        assert_eq!(error, KeyError::PrivateKey);
        assert!(!error.to_string().contains("TUlJ"));
        assert_eq!(
            keys_from_pem(b"garbage", "k.pem").unwrap_err(),
            KeyError::NoPem
        );
        assert_eq!(keys_from_jwks(b"[]", "j").unwrap_err(), KeyError::NotJwks);
        assert!(matches!(
            keys_from_jwks(br#"{"keys":[{"kty":"RSA","n":"+"}]}"#, "j").unwrap_err(),
            KeyError::BadJwk { index: 1, .. }
        ));
    }
}
