//! Tokens minted by the tests: any header and claims, signed with HMAC, RSA (a key made by
//! `openssl genpkey`, since ring cannot generate RSA keys), ECDSA P-256, or not at all.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature;
use serde_json::{Value, json};

/// Seconds since 1970, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token being built.
#[derive(Clone, Debug)]
pub struct Token {
    pub header: Value,
    pub claims: Value,
}

impl Token {
    pub fn new(alg: &str) -> Token {
        Token {
            header: json!({ "alg": alg, "typ": "JWT" }),
            claims: json!({}),
        }
    }

    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Token {
        self.claims[name] = value.into();
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Token {
        self.header[name] = value.into();
        self
    }

    /// `iat` and `exp` relative to now, in seconds.
    pub fn lifetime(self, issued: i64, expires: i64) -> Token {
        let now = now();
        self.claim("iat", now + issued).claim("exp", now + expires)
    }

    pub fn signing_input(&self) -> String {
        format!(
            "{}.{}",
            b64(self.header.to_string().as_bytes()),
            b64(self.claims.to_string().as_bytes())
        )
    }

    pub fn with_signature(&self, signature: &[u8]) -> String {
        format!("{}.{}", self.signing_input(), b64(signature))
    }

    pub fn hs256(&self, secret: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let tag = ring::hmac::sign(&key, self.signing_input().as_bytes());
        self.with_signature(tag.as_ref())
    }

    pub fn rs256(&self, key: &RsaKey) -> String {
        let pair = signature::RsaKeyPair::from_pkcs8(&key.pkcs8).unwrap();
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            self.signing_input().as_bytes(),
            &mut sig,
        )
        .unwrap();
        self.with_signature(&sig)
    }

    pub fn es256(&self, key: &EcKey) -> String {
        let rng = SystemRandom::new();
        let pair = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.pkcs8,
            &rng,
        )
        .unwrap();
        let sig = pair.sign(&rng, self.signing_input().as_bytes()).unwrap();
        self.with_signature(sig.as_ref())
    }

    /// `alg: none`: no signature.
    pub fn unsigned(&self) -> String {
        format!("{}.", self.signing_input())
    }
}

/// The claims of a projected Kubernetes ServiceAccount token (KEP-1205 shape).
pub fn kubernetes(
    namespace: &str,
    account: &str,
    aud: &[&str],
    issued: i64,
    expires: i64,
) -> Token {
    Token::new("RS256")
        .header("kid", "k8s-signing-key")
        .claim("iss", "https://kubernetes.default.svc.cluster.local")
        .claim("sub", format!("system:serviceaccount:{namespace}:{account}"))
        .claim("aud", json!(aud))
        .claim("nbf", now() + issued)
        .lifetime(issued, expires)
        .claim(
            "kubernetes.io",
            json!({
                "namespace": namespace,
                "serviceaccount": { "name": account, "uid": "5f0c1b2e-0000-4000-8000-000000000001" },
                "pod": { "name": "mqtt-client-7d9f", "uid": "5f0c1b2e-0000-4000-8000-000000000002" },
                "node": { "name": "aks-node-0", "uid": "5f0c1b2e-0000-4000-8000-000000000003" }
            }),
        )
}

/// An RSA key pair: PKCS#8 for signing, SPKI PEM for `--jwt-key`, n and e for a JWKS.
pub struct RsaKey {
    pub pkcs8: Vec<u8>,
    pub private_pem: String,
    pub public_pem: String,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl RsaKey {
    pub fn generate() -> RsaKey {
        let output = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl runs (scripts/install-test-deps.sh installs it)");
        assert!(output.status.success(), "openssl genpkey failed");
        let private_pem = String::from_utf8(output.stdout).unwrap();
        let pair = rcgen::KeyPair::from_pem(&private_pem).unwrap();
        let pkcs8 = pair.serialize_der();
        let ring_pair = signature::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
        let components: signature::RsaPublicKeyComponents<Vec<u8>> = ring_pair.public().into();
        RsaKey {
            public_pem: pair.public_key_pem(),
            private_pem,
            pkcs8,
            n: components.n,
            e: components.e,
        }
    }

    pub fn jwk(&self, kid: &str) -> Value {
        json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&self.n), "e": b64(&self.e) })
    }
}

/// An ECDSA P-256 key pair.
pub struct EcKey {
    pub pkcs8: Vec<u8>,
    pub public_pem: String,
}

impl EcKey {
    pub fn generate() -> EcKey {
        let rng = SystemRandom::new();
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let pair = rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
        EcKey {
            public_pem: pair.public_key_pem(),
            pkcs8: pkcs8.as_ref().to_vec(),
        }
    }
}
