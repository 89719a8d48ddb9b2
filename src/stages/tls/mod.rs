//! TLS stage: the handshake over the connection the TCP stage opened, with every certificate
//! and handshake failure named.
//!
//! "A TLS error occurred" is what users get today. To do better the stage keeps what a plain
//! client throws away: the server's chain, captured by a verifier that wraps rustls' WebPKI
//! verifier and records its verdict (returned unchanged unless `--insecure`); whether the server
//! asked for a client certificate, recorded by the client-certificate resolver; and, for TLS 1.3,
//! whether the server issued a session ticket after our Finished (it accepted us) or sent an alert
//! (it did not: with TLS 1.3 a rejected client certificate is only reported after the handshake).
//! Failures are classified by matching rustls' error variants, never by message text.
//!
//! Client certificates are checked locally first (parse, key match, validity, EKU), so a wrong
//! file is named before any byte goes to the broker.
//!
//! This module observes: the chain, rustls' verdict, and how the handshake ended as a typed
//! [`Failure`] (stalled with what arrived, a rustls error, broken off with a plain CONNECT's
//! answer, a client certificate refused after TLS 1.3). `explain.rs` writes the findings.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionStore, ResolvesClientCert, Resumption, Tls12ClientSessionValue,
    Tls13ClientSessionValue, WebPkiServerVerifier,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, Error as TlsError, NamedGroup, ProtocolVersion, RootCertStore,
    SignatureScheme,
};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;

use crate::certs::{self, CertSummary, FileProblem};
use crate::config::DoctorConfig;
use crate::findings::registry::{
    TLS_BUILTIN_ROOTS, TLS_CLIENT_CERT_BAD_PURPOSE, TLS_CLIENT_CERT_EXPIRED,
    TLS_CLIENT_KEY_MISMATCH, TLS_HANDSHAKE_FAILED, TLS_NO_SNI,
};
use crate::findings::{Finding, millis};
use crate::observations::CertificateFacts;
use crate::reason_codes::Broker;
use crate::secret::{MAX_PEER_TEXT, peer_text};
use crate::stages::context::{Budget, Context, StageOutput};
use crate::target::Host;
use crate::transport::probe::{self, PlainReply};
use crate::transport::{Connection, Peer, ProxyHeader, TlsDialer, Transport};

/// How long to wait after a TLS 1.3 handshake for the server's verdict on our certificate when
/// it sends no session ticket.
const CLIENT_AUTH_GRACE: Duration = Duration::from_millis(500);

mod explain;

use explain::{
    Facts, ca_file_invalid, certificates, client_invalid, rustls_error, success_findings,
};
pub(crate) use explain::{alert_after_handshake, plain_to_tls_port};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What the handshake let us see, whatever its outcome.
#[derive(Debug, Default)]
struct Seen {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    verify_error: Mutex<Option<TlsError>>,
    client_cert_requested: AtomicBool,
    ticket: Notify,
    /// The server's certificate is a CA certificate that `--cafile` holds, accepted as
    /// OpenSSL-based clients accept it (see [`RecordingVerifier`]).
    ca_as_leaf: AtomicBool,
}

impl Seen {
    fn chain(&self) -> Vec<CertSummary> {
        self.chain
            .lock()
            .map(|chain| {
                chain
                    .iter()
                    .filter_map(|c| CertSummary::from_der(c.as_ref()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn verify_error(&self) -> Option<TlsError> {
        self.verify_error.lock().ok().and_then(|e| e.clone())
    }

    fn cert_requested(&self) -> bool {
        self.client_cert_requested.load(Ordering::Relaxed)
    }
}

/// Records the chain and WebPKI's verdict; returns the verdict unless `--insecure`.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Seen>,
    insecure: bool,
    /// The certificates `--cafile`/`--capath` gave, as given.
    given: Vec<CertificateDer<'static>>,
}

impl RecordingVerifier {
    /// A self-signed CA certificate used as the server's own, which the user trusts by giving
    /// exactly that certificate: mosquitto_pub, paho and Python (OpenSSL) accept it, webpki
    /// refuses any CA certificate as an end entity. Accepted here when it is byte for byte one
    /// of the given certificates, names the server and is within its dates, so that the run
    /// goes on to MQTT and the TLS stage warns.
    fn pinned_ca(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        if !self.given.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return false;
        }
        let named = rustls::server::ParsedCertificate::try_from(end_entity)
            .is_ok_and(|parsed| rustls::client::verify_server_name(&parsed, server_name).is_ok());
        let now = now.as_secs() as i64;
        let dated = CertSummary::from_der(end_entity.as_ref())
            .is_ok_and(|c| c.not_before <= now && now <= c.not_after);
        named && dated
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        if let Ok(mut chain) = self.seen.chain.lock() {
            chain.push(end_entity.clone().into_owned());
            chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let (Err(error), Ok(mut slot)) = (&verdict, self.seen.verify_error.lock()) {
            *slot = Some(error.clone());
        }
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        let ca_as_leaf = matches!(
            &verdict,
            Err(TlsError::InvalidCertificate(rustls::CertificateError::Other(other)))
                if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity))
        );
        if ca_as_leaf && self.pinned_ca(end_entity, server_name, now) {
            self.seen.ca_as_leaf.store(true, Ordering::Relaxed);
            return Ok(ServerCertVerified::assertion());
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Hands over the client certificate (if any) and notes that the server asked for one.
#[derive(Debug)]
struct RecordingResolver {
    key: Option<Arc<CertifiedKey>>,
    seen: Arc<Seen>,
}

impl ResolvesClientCert for RecordingResolver {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.seen
            .client_cert_requested
            .store(true, Ordering::Relaxed);
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

/// Stores nothing; tells the stage when a TLS 1.3 session ticket arrived, which a server only
/// issues once it has accepted the handshake, client certificate included.
#[derive(Debug)]
struct TicketWatch(Arc<Seen>);

impl ClientSessionStore for TicketWatch {
    fn set_kx_hint(&self, _: ServerName<'static>, _: NamedGroup) {}
    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        None
    }
    fn set_tls12_session(&self, _: ServerName<'static>, _: Tls12ClientSessionValue) {}
    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }
    fn remove_tls12_session(&self, _: &ServerName<'static>) {}
    fn insert_tls13_ticket(&self, _: ServerName<'static>, _: Tls13ClientSessionValue) {
        self.0.ticket.notify_one();
    }
    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        None
    }
}

/// How a handshake that did not give a usable connection ended, as observed.
#[derive(Debug)]
pub(super) enum Failure {
    /// No end within the step's budget; what the server sent meanwhile.
    Stalled { budget: Budget, received: Received },
    /// rustls named the failure: an alert from the server, or its own verdict (a certificate
    /// error, no common version or suite).
    Rejected(TlsError),
    /// Broken off without a TLS error (a close, a reset, bytes that are not TLS), how many bytes
    /// the server had sent by then, and what a plain MQTT CONNECT on a new connection got back.
    BrokenOff {
        kind: io::ErrorKind,
        received: usize,
        plain: PlainReply,
        /// The PROXY protocol headers behind which a new connection's handshake was answered.
        proxy: Vec<(ProxyHeader, String)>,
    },
    /// TLS 1.3 finished, then the server refused the client certificate.
    ClientRefused(AfterHandshake),
}

/// The server's verdict on the client certificate after a TLS 1.3 handshake, when it refused.
#[derive(Debug)]
pub(super) enum AfterHandshake {
    Alert(TlsError),
    /// Closed without an alert.
    Closed,
}

/// The certificate above a leaf the server sent alone, when nothing this client holds names it.
/// Seen from the client, a missing intermediate and a private root this client was not given
/// look alike (the leaf's issuer is unknown either way); these are the facts that tell them
/// apart, gathered when the server sent no certificate that issued its leaf, the leaf is not
/// self-issued, and no trust anchor bears the issuer's name.
#[derive(Debug)]
pub(super) struct ChainGap {
    /// The issuer's distinguished name, as the leaf gives it.
    pub(super) issuer: String,
    /// The leaf's authority key identifier, as `openssl x509 -text` prints it.
    pub(super) key_id: Option<String>,
    /// The leaf's Authority Information Access caIssuers URLs: where its CA publishes the
    /// issuer's certificate. CAs set it on leaves they issue from an intermediate.
    pub(super) ca_issuers: Vec<String>,
    /// The client certificate file (`--cert`) holds the issuer's certificate, a CA certificate
    /// that is not self-issued: an intermediate, proven.
    pub(super) in_client_chain: bool,
}

impl ChainGap {
    /// Whether the issuer is known to be an intermediate the server should have sent, rather
    /// than a root this client lacks.
    pub(super) fn is_intermediate(&self) -> bool {
        !self.ca_issuers.is_empty() || self.in_client_chain
    }
}

/// How many caIssuers URLs of a (peer-made) certificate are kept.
const MAX_CA_ISSUERS: usize = 4;
/// How many bytes of a (peer-made) key identifier are shown: real ones have 20 or 32.
const MAX_KEY_ID: usize = 64;
/// How many DNS names from the CA file an SNI finding suggests.
const MAX_SUGGESTED_NAMES: usize = 8;

/// The contents of a DER `Name`, without its SEQUENCE header: how webpki keeps a trust
/// anchor's subject.
fn name_contents(der: &[u8]) -> &[u8] {
    let Some(&length) = der.get(1) else {
        return der;
    };
    let start = if length < 0x80 {
        2
    } else {
        2 + usize::from(length & 0x7f)
    };
    der.get(start..).unwrap_or(der)
}

/// The gap above the leaf of `chain` (see [`ChainGap`]), or `None` when the server sent the
/// leaf's issuer, the leaf is self-issued, or a trust anchor in `anchor_names` bears the
/// issuer's name (then the issuer is there but did not sign this leaf: another matter).
fn chain_gap(
    chain: &[CertificateDer<'_>],
    anchor_names: &[Vec<u8>],
    client_chain: &[CertificateDer<'_>],
) -> Option<ChainGap> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS;
    use x509_parser::prelude::{FromDer, X509Certificate};

    fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
        X509Certificate::from_der(der).ok().map(|(_, c)| c)
    }
    let leaf = parse(chain.first()?.as_ref())?;
    let issuer = leaf.issuer().as_raw();
    if leaf.subject().as_raw() == issuer {
        return None;
    }
    let names_issuer = |der: &CertificateDer<'_>| {
        parse(der.as_ref()).is_some_and(|c| c.subject().as_raw() == issuer)
    };
    if chain.iter().skip(1).any(names_issuer) {
        return None;
    }
    if anchor_names
        .iter()
        .any(|anchor| anchor.as_slice() == name_contents(issuer))
    {
        return None;
    }
    let mut key_id = None;
    let mut ca_issuers = Vec::new();
    for extension in leaf.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                key_id = aki.key_identifier.as_ref().map(|id| {
                    id.0.iter()
                        .take(MAX_KEY_ID)
                        .map(|b| format!("{b:02X}"))
                        .collect::<Vec<_>>()
                        .join(":")
                });
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                ca_issuers.extend(
                    aia.iter()
                        .filter(|d| d.access_method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS)
                        .filter_map(|d| match &d.access_location {
                            GeneralName::URI(uri) => Some(peer_text(uri, MAX_PEER_TEXT)),
                            _ => None,
                        })
                        .take(MAX_CA_ISSUERS),
                );
            }
            _ => {}
        }
    }
    let in_client_chain = client_chain.iter().skip(1).any(|der| {
        parse(der.as_ref()).is_some_and(|c| {
            c.subject().as_raw() == issuer && c.issuer().as_raw() != issuer && c.is_ca()
        })
    });
    Some(ChainGap {
        issuer: peer_text(&leaf.issuer().to_string(), MAX_PEER_TEXT),
        key_id,
        ca_issuers,
        in_client_chain,
    })
}

/// The DNS names the certificates given with `--cafile`/`--capath` carry: a broker's own
/// self-signed certificate given as the CA names the broker; a CA rarely names anything.
fn given_dns_names(given: &[CertificateDer<'_>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in given
        .iter()
        .filter_map(|c| CertSummary::from_der(c.as_ref()).ok())
        .flat_map(|c| c.dns_names)
    {
        if !names.contains(&name) && names.len() < MAX_SUGGESTED_NAMES {
            names.push(name);
        }
    }
    names
}

/// The trust anchors in force, and where they came from.
struct Trust {
    roots: RootCertStore,
    source: String,
    /// The certificates `--cafile`/`--capath` gave, as given (none for system roots).
    given: Vec<CertificateDer<'static>>,
}

/// A client certificate that passed the local checks.
pub(super) struct ClientIdentity {
    key: Arc<CertifiedKey>,
    pub(super) summary: CertSummary,
}

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
    let mut output = handshake(ctx).await;
    // The broker's family is known here only when the user named it: recognition needs the
    // CONNACK, which comes after.
    if let Some(broker) = ctx.config.mqtt.broker {
        explain::with_family_fix(&mut output.findings, broker);
    }
    output
}

async fn handshake(ctx: &mut Context<'_>) -> StageOutput {
    let config = ctx.config;
    if !config.uses_tls() {
        let (what, secure) = if config.target.scheme.is_websocket() {
            ("WebSocket without TLS", "wss://")
        } else {
            ("plain MQTT", "mqtts://")
        };
        return StageOutput::not_applicable(format!(
            "{}:// is {what} (use {secure} or --tls for TLS)",
            config.target.scheme.as_str()
        ));
    }
    let Some(connection) = ctx.connection.take() else {
        return StageOutput::not_applicable("no connection to secure");
    };
    let now = SystemTime::now();
    let mut findings = Vec::new();

    let trust = match load_trust(config) {
        Ok((trust, builtin)) => {
            findings.extend(builtin);
            trust
        }
        Err(finding) => return StageOutput::done("the CA file cannot be used", vec![*finding]),
    };
    let client = match local_client_checks(config, now) {
        Ok(client) => client,
        Err(finding) => {
            return StageOutput::done("the client certificate cannot be used", vec![*finding]);
        }
    };

    let seen = Arc::new(Seen::default());
    // Kept before the trust anchors go into the verifier: what the findings compare with.
    let trust_given = !trust.given.is_empty();
    let anchor_names: Vec<Vec<u8>> = trust
        .roots
        .roots
        .iter()
        .map(|anchor| anchor.subject.as_ref().to_vec())
        .collect();
    let known_names = given_dns_names(&trust.given);
    let tls_config = match client_config(
        config,
        trust.roots,
        trust.given,
        &client,
        &seen,
        config.tls.insecure,
    ) {
        Ok(tls_config) => tls_config,
        Err(error) => {
            let finding = Finding::new(
                &TLS_HANDSHAKE_FAILED,
                format!("The TLS client could not be set up: {error}."),
            );
            return StageOutput::done("TLS could not be set up", vec![finding]);
        }
    };
    let (name_text, server_name) = server_name(config);
    let Some(server_name) = server_name else {
        let finding = Finding::new(
            &TLS_HANDSHAKE_FAILED,
            format!("{name_text} cannot be checked against a certificate: it is not a valid TLS server name."),
        )
        .with_fix("Give the name on the broker's certificate with --servername NAME.");
        return StageOutput::done("no valid TLS server name", vec![finding]);
    };
    let sni = match &server_name {
        ServerName::DnsName(name) => name.as_ref().to_string(),
        _ => "none (no SNI is sent for an IP address)".to_string(),
    };
    if let ServerName::IpAddress(ip) = &server_name
        && config.mqtt.broker == Some(Broker::Hivemq)
    {
        let address = std::net::IpAddr::from(*ip).to_string();
        findings.push(
            Finding::new(
                &TLS_NO_SNI,
                format!(
                    "The target is the IP address {address}, so no SNI was sent. HiveMQ Cloud \
                     picks the cluster by SNI and fails the connection without it."
                ),
            )
            .with_evidence("address", address)
            .with_evidence("broker", Broker::Hivemq.name())
            .with_fix(
                "Connect by the broker's host name, or keep the address and send the name with \
                 --servername CLUSTER.s1.eu.hivemq.cloud.",
            ),
        );
    }
    let budget = ctx.budget();
    let peer = connection.peer;
    let connector = TlsConnector::from(Arc::new(tls_config));
    let received = Arc::new(Mutex::new(Received::default()));
    let stream = Tally {
        inner: connection.stream,
        received: received.clone(),
    };
    let handshake_started = std::time::Instant::now();
    let handshake = budget
        .run(connector.connect(server_name.clone(), stream))
        .await;
    let handshake_time = handshake_started.elapsed();

    // The verifier has run (or never will): parse the captured chain once for every finding.
    let verify_error = seen.verify_error();
    let gap = match &verify_error {
        Some(TlsError::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            let chain = seen.chain.lock().map(|c| c.clone()).unwrap_or_default();
            let client_chain = client
                .as_ref()
                .map(|c| c.key.cert.as_slice())
                .unwrap_or(&[]);
            chain_gap(&chain, &anchor_names, client_chain)
        }
        _ => None,
    };
    let facts = Facts {
        name: &name_text,
        sni: &sni,
        sni_sent: matches!(server_name, ServerName::DnsName(_)),
        known_names,
        trust_given,
        gap,
        peer: peer.clone(),
        trust_source: &trust.source,
        cert_requested: seen.cert_requested(),
        verify_error,
        ca_as_leaf: seen.ca_as_leaf.load(Ordering::Relaxed),
        chain: seen.chain(),
        client: client.as_ref(),
        now,
    };
    // `--save-chain`: what the broker presented, written whatever the outcome, since a chain
    // that fails to verify is the one a person wants to look at.
    if let Some(path) = &config.tls.save_chain {
        let path = chain_path(path, ctx.node);
        let saved = save_chain(&seen, &path);
        findings.push(explain::chain_saved(&path, saved));
    }
    // Whatever the outcome, the certificate the node presented is a fact about that node.
    let trusted =
        matches!(handshake, Some(Ok(_))) && (facts.verify_error.is_none() || facts.ca_as_leaf);
    ctx.observed.certificate = facts
        .leaf()
        .map(|leaf| CertificateFacts::new(leaf, trusted));
    let failure = match handshake {
        None => Failure::Stalled {
            budget,
            received: std::mem::take(&mut *received.lock().unwrap_or_else(|e| e.into_inner())),
        },
        Some(Err(error)) => match rustls_error(&error) {
            // No TLS alert, just a close or bytes that are not TLS: find out what the port
            // speaks, with a plain CONNECT on a new connection.
            // Beside it, the same handshake behind PROXY headers: a listener that expects one
            // (HAProxy `accept-proxy`) breaks off a ClientHello that comes first.
            None | Some(TlsError::InvalidMessage(_)) => {
                let budget = ctx.budget();
                let behind = |header| {
                    let name = probe_name(config, &peer);
                    let peer = &peer;
                    let dialer = &ctx.dialer;
                    async move {
                        probe::speaks_tls_with(dialer, name, peer, budget, Some(header))
                            .await
                            .map(|answer| (header, answer))
                    }
                };
                let (plain, v1, v2) = tokio::join!(
                    probe::plain_connect(ctx.open_raw(&peer), budget),
                    behind(ProxyHeader::V1),
                    behind(ProxyHeader::V2)
                );
                Failure::BrokenOff {
                    kind: error.kind(),
                    received: received.lock().map(|r| r.total).unwrap_or_default(),
                    plain,
                    proxy: [v1, v2].into_iter().flatten().collect(),
                }
            }
            Some(tls_error) => Failure::Rejected(tls_error.clone()),
        },
        Some(Ok(mut stream)) => {
            let (_, session) = stream.get_ref();
            let version = session.protocol_version();
            let suite = session
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default();
            let alpn = session
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            let refused = if version == Some(ProtocolVersion::TLSv1_3) && facts.cert_requested {
                client_auth_verdict(&seen, &mut stream, ctx.budget()).await
            } else {
                None
            };
            match refused {
                Some(refused) => Failure::ClientRefused(refused),
                None => {
                    ctx.observed.tls_handshake_ms = Some(millis(handshake_time));
                    let version_text = version
                        .map(|v| format!("{v:?}").replace('_', "."))
                        .unwrap_or_default();
                    findings.extend(success_findings(
                        config,
                        &facts,
                        &version_text,
                        &suite,
                        alpn.as_deref(),
                    ));
                    ctx.connection = Some(Connection {
                        stream: Box::new(stream),
                        peer,
                    });
                    ctx.dialer.tls = Some(TlsDialer {
                        connector,
                        name: server_name,
                    });
                    return StageOutput::done(format!("{version_text}, {suite}"), findings);
                }
            }
        }
    };
    let (summary, finding) = explain::failure(&facts, &failure);
    // A handshake dropped for want of SNI says all the HiveMQ warning said, and more.
    if finding.def.id == TLS_NO_SNI.id {
        findings.retain(|f| f.def.id != TLS_NO_SNI.id);
    }
    findings.push(finding);
    StageOutput::done(summary, findings)
}

fn load_trust(config: &DoctorConfig) -> Result<(Trust, Option<Finding>), Box<Finding>> {
    let mut roots = RootCertStore::empty();
    let tls = &config.tls;
    if tls.cafile.is_some() || tls.capath.is_some() {
        let mut sources = Vec::new();
        let mut given = Vec::new();
        for (path, loader) in [
            (
                tls.cafile.as_deref(),
                certs::load_certs as fn(&Path) -> Result<_, FileProblem>,
            ),
            (tls.capath.as_deref(), certs::load_cert_dir),
        ] {
            let Some(path) = path else { continue };
            let found = loader(path).map_err(ca_file_invalid)?;
            given.extend(found.iter().cloned());
            let (added, _) = roots.add_parsable_certificates(found);
            if added == 0 {
                return Err(ca_file_invalid(FileProblem {
                    path: path.to_path_buf(),
                    problem: "holds no certificate usable as a trust anchor".into(),
                }));
            }
            sources.push(format!("{} ({})", path.display(), certificates(added)));
        }
        return Ok((
            Trust {
                roots,
                source: sources.join(", "),
                given,
            },
            None,
        ));
    }

    let native = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added > 0 {
        return Ok((
            Trust {
                roots,
                source: format!("system roots ({})", certificates(added)),
                given: Vec::new(),
            },
            None,
        ));
    }
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let count = roots.len();
    let finding = Finding::new(
        &TLS_BUILTIN_ROOTS,
        format!(
            "This system has no CA certificates (as in distroless and scratch images), so the \
             server is checked against the {count} Mozilla roots built into mqtt-doctor."
        ),
    )
    .with_evidence(
        "system_errors",
        json!(
            native
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        ),
    )
    .with_fix(
        "Install the CA bundle (Debian: apt-get install ca-certificates), point SSL_CERT_FILE at \
         one, or give the broker's CA with --cafile.",
    );
    Ok((
        Trust {
            roots,
            source: format!("built-in Mozilla roots ({count} certificates)"),
            given: Vec::new(),
        },
        Some(finding),
    ))
}

/// Parses the client certificate and key and checks what can be checked without the broker.
fn local_client_checks(
    config: &DoctorConfig,
    now: SystemTime,
) -> Result<Option<ClientIdentity>, Box<Finding>> {
    let (Some(cert_path), Some(key_path)) = (&config.tls.cert, &config.tls.key) else {
        return Ok(None);
    };
    let chain = certs::load_certs(cert_path).map_err(client_invalid)?;
    let key = certs::load_key(key_path).map_err(client_invalid)?;
    let summary = CertSummary::from_der(chain[0].as_ref()).map_err(|e| {
        client_invalid(FileProblem {
            path: cert_path.clone(),
            problem: format!("cannot be parsed: {e}"),
        })
    })?;
    let evidence = |finding: Finding| {
        Box::new(
            finding
                .with_evidence("file", cert_path.display().to_string())
                .with_evidence("certificate", summary.to_json(now)),
        )
    };

    let certified = match CertifiedKey::from_der(chain, key, &provider()) {
        Ok(certified) => certified,
        Err(TlsError::InconsistentKeys(_)) => {
            return Err(evidence(
                Finding::new(
                    &TLS_CLIENT_KEY_MISMATCH,
                    format!(
                        "The key in {} does not belong to the certificate in {}: the handshake \
                         would fail however the broker is set up.",
                        key_path.display(),
                        cert_path.display()
                    ),
                )
                .with_evidence("key_file", key_path.display().to_string())
                .with_fix(
                    "Compare the public keys; the two lines must be equal:\n  openssl x509 -in \
                     client.crt -noout -pubkey | sha256sum\n  openssl pkey -in client.key -pubout | \
                     sha256sum\nThen give the key that was generated with this certificate's CSR.",
                ),
            ));
        }
        Err(error) => {
            return Err(client_invalid(FileProblem {
                path: key_path.clone(),
                problem: format!("the key cannot be used ({})", key_error_kind(&error)),
            }));
        }
    };

    if summary.expired(now) || summary.not_yet_valid(now) {
        let when = if summary.expired(now) {
            format!("expired on {}", certs::timestamp_text(summary.not_after))
        } else {
            format!(
                "is not valid before {}",
                certs::timestamp_text(summary.not_before)
            )
        };
        return Err(evidence(
            Finding::new(
                &TLS_CLIENT_CERT_EXPIRED,
                format!(
                    "The client certificate {} {when}; the broker will reject it.",
                    summary.subject
                ),
            )
            .with_fix(
                "Issue a new client certificate from the same CA (with cert-manager: cmctl renew \
                 <certificate>), and check this machine's clock: date -u",
            ),
        ));
    }
    if let Some(eku) = &summary.eku
        && !eku.iter().any(|u| *u == "clientAuth" || *u == "any")
    {
        return Err(evidence(
            Finding::new(
                &TLS_CLIENT_CERT_BAD_PURPOSE,
                format!(
                    "The client certificate {} is restricted to {} and lacks the clientAuth \
                         extended key usage: brokers that check the purpose (OpenSSL-based ones \
                         such as Mosquitto) reject it.",
                    summary.subject,
                    eku.join(", ")
                ),
            )
            .with_fix(
                "Issue the client certificate with extendedKeyUsage = clientAuth (openssl: \
                     -addext extendedKeyUsage=clientAuth; cert-manager: usages: [client auth]).",
            ),
        ));
    }
    Ok(Some(ClientIdentity {
        key: Arc::new(certified),
        summary,
    }))
}

/// The kind of a key-loading error, without any of the key.
fn key_error_kind(error: &TlsError) -> &'static str {
    match error {
        TlsError::General(_) => "unsupported or malformed private key",
        _ => "rejected by the TLS library",
    }
}

fn client_config(
    config: &DoctorConfig,
    roots: RootCertStore,
    given: Vec<CertificateDer<'static>>,
    client: &Option<ClientIdentity>,
    seen: &Arc<Seen>,
    insecure: bool,
) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let verifier = RecordingVerifier {
        inner,
        seen: seen.clone(),
        insecure,
        given,
    };
    let resolver = RecordingResolver {
        key: client.as_ref().map(|c| c.key.clone()),
        seen: seen.clone(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(resolver));
    tls.alpn_protocols = config
        .tls
        .alpn
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    tls.resumption = Resumption::store(Arc::new(TicketWatch(seen.clone())));
    Ok(tls)
}

/// The name checked against the certificate, and the SNI: `--servername`, else the target host.
fn server_name(config: &DoctorConfig) -> (String, Option<ServerName<'static>>) {
    let text = match (&config.tls.servername, &config.target.host) {
        (Some(name), _) => name.clone(),
        (None, Host::Name(name)) => name.trim_end_matches('.').to_string(),
        (None, Host::Ip(ip)) => ip.to_string(),
    };
    let name = ServerName::try_from(text.clone()).ok();
    (text, name)
}

/// Where `--save-chain` writes for `node`: the path as given, or with several nodes, the node's
/// address before the extension (`chain.pem` becomes `chain-127.0.0.2-8883.pem`).
fn chain_path(path: &Path, node: Option<std::net::SocketAddr>) -> std::path::PathBuf {
    let Some(node) = node else {
        return path.to_path_buf();
    };
    let address = format!("{}-{}", node.ip(), node.port()).replace(':', "_");
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{address}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{address}"),
    };
    path.with_file_name(name)
}

/// Writes the chain the verifier captured as PEM, leaf first; how many certificates it wrote.
fn save_chain(seen: &Seen, path: &Path) -> io::Result<usize> {
    use base64::Engine as _;
    let chain = seen.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let mut pem = String::new();
    for cert in &chain {
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        // PEM's 64-column lines: base64 output is ASCII, so byte chunks are whole characters.
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    if !chain.is_empty() {
        std::fs::write(path, pem)?;
    }
    Ok(chain.len())
}

/// With TLS 1.3 the server judges our certificate after the handshake: a session ticket means
/// accepted; an alert or a close means refused.
async fn client_auth_verdict<S>(
    seen: &Seen,
    stream: &mut S,
    budget: Budget,
) -> Option<AfterHandshake>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut byte = [0u8; 1];
    let grace = budget.timeout.min(CLIENT_AUTH_GRACE);
    tokio::select! {
        read = stream.read(&mut byte) => match read {
            Err(error) => match rustls_error(&error) {
                Some(tls_error) => Some(AfterHandshake::Alert(tls_error.clone())),
                None => Some(AfterHandshake::Closed),
            },
            Ok(0) => Some(AfterHandshake::Closed),
            Ok(_) => None,
        },
        _ = seen.ticket.notified() => None,
        _ = tokio::time::sleep(grace) => None,
    }
}

/// The name a TLS probe of `peer` sends and checks: the one the TLS stage would use, or the
/// peer's address when the target gives no valid server name.
pub(crate) fn probe_name(config: &DoctorConfig, peer: &Peer) -> ServerName<'static> {
    server_name(config)
        .1
        .unwrap_or_else(|| ServerName::IpAddress(peer.addr.ip().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_provider_is_the_one_compiled_in() {
        assert!(!provider().cipher_suites.is_empty());
    }

    #[test]
    fn a_name_is_compared_without_its_sequence_header() {
        // Short form: SEQUENCE of 3 bytes.
        assert_eq!(name_contents(&[0x30, 0x03, 1, 2, 3]), &[1, 2, 3]);
        // Long form: 0x81 and one length byte, as names of 128 to 255 bytes have.
        let mut long = vec![0x30, 0x81, 200];
        long.extend(std::iter::repeat_n(7u8, 200));
        assert_eq!(name_contents(&long), &long[3..]);
        // Truncated input is returned whole rather than misread.
        assert_eq!(name_contents(&[0x30]), &[0x30]);
        assert_eq!(name_contents(&[0x30, 0x84, 0]), &[0x30, 0x84, 0]);
    }
}

/// How much of the server's first bytes a stalled handshake shows.
const RECEIVED_HEAD: usize = 16;

/// What the server sent during the handshake: how many bytes, and the first few.
#[derive(Debug, Default)]
pub(super) struct Received {
    pub(super) total: usize,
    pub(super) head: Vec<u8>,
}

/// The TCP stream under the handshake, counting what the server sends, so that a handshake that
/// stalls half-way can say how far it got (rustls' future is dropped whole by the timeout).
struct Tally {
    inner: Box<dyn Transport>,
    received: Arc<Mutex<Received>>,
}

impl AsyncRead for Tally {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            let mut received = self.received.lock().unwrap_or_else(|e| e.into_inner());
            received.total += new.len();
            let room = RECEIVED_HEAD.saturating_sub(received.head.len());
            received.head.extend_from_slice(&new[..new.len().min(room)]);
        }
        poll
    }
}

impl AsyncWrite for Tally {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
