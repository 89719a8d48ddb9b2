//! Certificates for the TLS tests, generated per test with rcgen: CAs, server and client
//! certificates in every broken shape the TLS stage names, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// A certificate authority that can issue leaves.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    key_pem: String,
    pub pem: String,
    pub name: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        Ca::with_sans(name, Vec::new())
    }

    /// A CA whose own certificate also names hosts, as `openssl req -x509 -addext
    /// subjectAltName=...` makes one for a broker to serve as its own certificate.
    pub fn with_sans(name: &str, sans: Vec<SanType>) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(30);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
        let pem = params.self_signed(&key).unwrap().pem();
        let key_pem = key.serialize_pem();
        Ca {
            issuer: Issuer::new(params, key),
            key_pem,
            pem,
            name: name.to_string(),
        }
    }

    /// The CA's own certificate and key, as a broker misconfigured to serve them would use.
    pub fn as_pair(&self) -> Pair {
        Pair {
            cert: self.pem.clone(),
            key: self.key_pem.clone(),
        }
    }

    pub fn issue(&self, leaf: &Leaf) -> Pair {
        let key = KeyPair::generate().unwrap();
        let cert = leaf.params().signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

impl Ca {
    /// An intermediate CA issued by this one, valid from `from_days` to `until_days` from now
    /// (negative: in the past); its `pem` is the intermediate's certificate alone.
    pub fn intermediate(&self, name: &str, from_days: i64, until_days: i64) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = OffsetDateTime::now_utc() + Duration::days(from_days);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(until_days);
        let pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        let key_pem = key.serialize_pem();
        Ca {
            issuer: Issuer::new(params, key),
            key_pem,
            pem,
            name: name.to_string(),
        }
    }

    /// A certificate revocation list, signed by this CA, revoking the certificates with these
    /// serial numbers (PEM), as a broker's `crlfile` takes it.
    pub fn crl(&self, serials: &[u64]) -> String {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::days(1),
            next_update: now + Duration::days(30),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: now - Duration::hours(1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().pem().unwrap()
    }
}

/// A certificate and its private key, PEM.
pub struct Pair {
    pub cert: String,
    pub key: String,
}

/// What a leaf certificate looks like.
pub struct Leaf {
    pub common_name: String,
    pub sans: Vec<SanType>,
    pub valid_from_days: i64,
    pub valid_until_days: i64,
    pub eku: Vec<ExtendedKeyUsagePurpose>,
    /// Random unless given, e.g. to revoke it in a CRL.
    pub serial: Option<u64>,
    /// An Authority Information Access caIssuers URL, as public and enterprise CAs set on the
    /// leaves they issue from an intermediate; such a leaf also gets an authority key id.
    pub ca_issuers: Option<String>,
}

impl Leaf {
    /// A broker certificate for 127.0.0.1 and localhost, valid for a year.
    pub fn server() -> Leaf {
        Leaf {
            common_name: "mqtt-doctor test broker".into(),
            sans: vec![
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::IpAddress([127, 0, 0, 1].into()),
            ],
            valid_from_days: -1,
            valid_until_days: 365,
            eku: vec![ExtendedKeyUsagePurpose::ServerAuth],
            serial: None,
            ca_issuers: None,
        }
    }

    pub fn client(name: &str) -> Leaf {
        Leaf {
            common_name: name.into(),
            sans: Vec::new(),
            valid_from_days: -1,
            valid_until_days: 365,
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
            serial: None,
            ca_issuers: None,
        }
    }

    pub fn valid(mut self, from_days: i64, until_days: i64) -> Leaf {
        self.valid_from_days = from_days;
        self.valid_until_days = until_days;
        self
    }

    pub fn sans(mut self, sans: Vec<SanType>) -> Leaf {
        self.sans = sans;
        self
    }

    pub fn serial(mut self, serial: u64) -> Leaf {
        self.serial = Some(serial);
        self
    }

    pub fn eku(mut self, eku: Vec<ExtendedKeyUsagePurpose>) -> Leaf {
        self.eku = eku;
        self
    }

    pub fn ca_issuers(mut self, url: &str) -> Leaf {
        self.ca_issuers = Some(url.to_string());
        self
    }

    fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, self.common_name.as_str());
        params.subject_alt_names = self.sans.clone();
        params.extended_key_usages = self.eku.clone();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.not_before = OffsetDateTime::now_utc() + Duration::days(self.valid_from_days);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(self.valid_until_days);
        params.serial_number = self.serial.map(SerialNumber::from);
        if let Some(url) = &self.ca_issuers {
            params.custom_extensions = vec![authority_info_access(url)];
            params.use_authority_key_identifier_extension = true;
        }
        params
    }

    /// A self-signed certificate with these properties.
    pub fn self_signed(&self) -> Pair {
        let key = KeyPair::generate().unwrap();
        let cert = self.params().self_signed(&key).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// The Authority Information Access extension (RFC 5280, 4.2.2.1) with one caIssuers URL:
/// `SEQUENCE { SEQUENCE { id-ad-caIssuers, [6] IA5String url } }`, for URLs under 100 bytes.
fn authority_info_access(url: &str) -> CustomExtension {
    assert!(url.len() < 100, "short URLs only: one-byte DER lengths");
    let mut description = vec![0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    description.push(0x86);
    description.push(url.len() as u8);
    description.extend_from_slice(url.as_bytes());
    let mut access = vec![0x30, description.len() as u8];
    access.extend(description);
    let mut content = vec![0x30, access.len() as u8];
    content.extend(access);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], content)
}

pub fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}
