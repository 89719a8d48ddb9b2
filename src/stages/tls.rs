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
    AlertDescription, CertificateError, DigitallySignedStruct, Error as TlsError, NamedGroup,
    ProtocolVersion, RootCertStore, SignatureScheme,
};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;

use crate::certs::{self, CertSummary, FileProblem};
use crate::config::DoctorConfig;
use crate::findings::registry::{
    TLS_BAD_PURPOSE, TLS_BUILTIN_ROOTS, TLS_CA_FILE_INVALID, TLS_CLIENT_CERT_BAD_PURPOSE,
    TLS_CLIENT_CERT_EXPIRED, TLS_CLIENT_CERT_INVALID, TLS_CLIENT_CERT_REJECTED,
    TLS_CLIENT_CERT_REQUIRED, TLS_CLIENT_KEY_MISMATCH, TLS_EXPIRED, TLS_EXPIRING_SOON,
    TLS_HANDSHAKE_FAILED, TLS_INSECURE, TLS_NAME_MISMATCH, TLS_NO_SNI, TLS_NOT_TLS,
    TLS_NOT_YET_VALID, TLS_OK, TLS_UNKNOWN_ISSUER,
};
use crate::findings::{Finding, Status, millis};
use crate::observations::CertificateFacts;
use crate::reason_codes::Broker;
use crate::stages::context::{Budget, Context, StageOutput};
use crate::target::Host;
use crate::transport::probe::{self, PlainReply};
use crate::transport::{Connection, Peer, TlsDialer, Transport};

/// How long to wait after a TLS 1.3 handshake for the server's verdict on our certificate when
/// it sends no session ticket.
const CLIENT_AUTH_GRACE: Duration = Duration::from_millis(500);

const AIO_CA_FIX: &str = "For Azure IoT Operations, the broker's CA is in the ConfigMap \
azure-iot-operations-aio-ca-trust-bundle:\n  kubectl get configmap \
azure-iot-operations-aio-ca-trust-bundle -n azure-iot-operations -o jsonpath='{.data.ca\\.crt}' > ca.crt";

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
            Ok(ServerCertVerified::assertion())
        } else {
            verdict
        }
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

/// The trust anchors in force, and where they came from.
struct Trust {
    roots: RootCertStore,
    source: String,
}

/// A client certificate that passed the local checks.
struct ClientIdentity {
    key: Arc<CertifiedKey>,
    summary: CertSummary,
}

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
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
    let tls_config = match client_config(config, trust.roots, &client, &seen, config.tls.insecure) {
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
    let facts = Facts {
        name: &name_text,
        sni: &sni,
        peer: peer.clone(),
        trust_source: &trust.source,
        seen: &seen,
        chain: seen.chain(),
        client: client.as_ref(),
        now,
    };
    // Whatever the outcome, the certificate the node presented is a fact about that node.
    let trusted = matches!(handshake, Some(Ok(_))) && seen.verify_error().is_none();
    ctx.observed.certificate = facts
        .leaf()
        .map(|leaf| CertificateFacts::new(leaf, trusted));
    match handshake {
        None => {
            let received = std::mem::take(&mut *received.lock().unwrap_or_else(|e| e.into_inner()));
            let finding = if received.total == 0 {
                Finding::new(
                    &TLS_HANDSHAKE_FAILED,
                    format!(
                        "{peer} did not complete the TLS handshake within {}: it accepted the \
                         TCP connection but did not answer the ClientHello like a TLS server.",
                        budget.describe()
                    ),
                )
                .with_fix(format!(
                    "Check that port {} is the broker's TLS listener; a plain MQTT port answers \
                     a ClientHello with nothing or closes.",
                    peer.port()
                ))
            } else {
                Finding::new(
                    &TLS_HANDSHAKE_FAILED,
                    format!(
                        "{peer} began the TLS handshake but did not finish it within {}: it sent \
                         {} bytes ({}) and then nothing more.",
                        budget.describe(),
                        received.total,
                        crate::wire::hex(&received.head)
                    ),
                )
                .with_evidence("bytes_received", received.total as u64)
                .with_fix(
                    "A handshake that stalls half-way is most often one of two things. A TLS \
                     terminator or proxy in front of the broker (HAProxy, a cloud load balancer, \
                     an ingress) that waits for a backend which does not answer: check its \
                     backend health and its log. Or a network path that loses large packets: the \
                     server's certificate chain is the largest message of the handshake, and a \
                     VPN or tunnel without MSS clamping drops it. Try from a host on the broker's \
                     network, and check the path MTU (ping -M do -s 1400 HOST).",
                )
            };
            findings.push(facts.evidence(finding));
            StageOutput::done("no answer to the TLS handshake", findings)
        }
        Some(Err(error)) => {
            // No TLS alert, just a close or bytes that are not TLS: find out what the port speaks.
            let finding = match rustls_error(&error) {
                None | Some(TlsError::InvalidMessage(_)) => {
                    closed_during_handshake(ctx, &facts, &error).await
                }
                Some(tls_error) => classify(&facts, tls_error),
            };
            let summary = finding.def.title.to_string();
            findings.push(finding);
            StageOutput::done(summary, findings)
        }
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

            if version == Some(ProtocolVersion::TLSv1_3)
                && seen.cert_requested()
                && let Some(finding) = client_auth_verdict(&facts, &mut stream, ctx.budget()).await
            {
                findings.push(finding);
                return StageOutput::done("the broker refused the client certificate", findings);
            }
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
            StageOutput::done(format!("{version_text}, {suite}"), findings)
        }
    }
}

/// Everything the findings quote.
struct Facts<'a> {
    name: &'a str,
    sni: &'a str,
    peer: Peer,
    trust_source: &'a str,
    seen: &'a Seen,
    /// The broker's chain as presented, leaf first.
    chain: Vec<CertSummary>,
    client: Option<&'a ClientIdentity>,
    now: SystemTime,
}

impl Facts<'_> {
    fn evidence(&self, finding: Finding) -> Finding {
        let mut finding = finding
            .with_evidence("address", self.peer.to_string())
            .with_evidence("server_name", self.name)
            .with_evidence("sni", self.sni)
            .with_evidence("trust", self.trust_source)
            .with_evidence("client_certificate", self.client_json());
        if !self.chain.is_empty() {
            finding = finding.with_evidence("chain", certs::chain_json(&self.chain, self.now));
        }
        finding
    }

    fn client_json(&self) -> Value {
        match self.client {
            Some(client) => json!(format!(
                "{} (issued by {}, expires {})",
                client.summary.subject,
                client.summary.issuer,
                certs::timestamp_text(client.summary.not_after)
            )),
            None => json!("none"),
        }
    }

    fn leaf(&self) -> Option<&CertSummary> {
        self.chain.first()
    }
}

fn rustls_error(error: &io::Error) -> Option<&TlsError> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
}

fn load_trust(config: &DoctorConfig) -> Result<(Trust, Option<Finding>), Box<Finding>> {
    let mut roots = RootCertStore::empty();
    let tls = &config.tls;
    if tls.cafile.is_some() || tls.capath.is_some() {
        let mut sources = Vec::new();
        for (path, loader) in [
            (
                tls.cafile.as_deref(),
                certs::load_certs as fn(&Path) -> Result<_, FileProblem>,
            ),
            (tls.capath.as_deref(), certs::load_cert_dir),
        ] {
            let Some(path) = path else { continue };
            let found = loader(path).map_err(ca_file_invalid)?;
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
        },
        Some(finding),
    ))
}

fn certificates(count: usize) -> String {
    if count == 1 {
        "1 certificate".into()
    } else {
        format!("{count} certificates")
    }
}

fn ca_file_invalid(problem: FileProblem) -> Box<Finding> {
    Box::new(Finding::new(
        &TLS_CA_FILE_INVALID,
        format!("The CA file cannot be used: {problem}. Without it the server's certificate cannot be checked."),
    )
    .with_evidence("file", problem.path.display().to_string())
    .with_evidence("problem", problem.problem.as_str())
    .with_fix(format!(
        "Give a PEM bundle of the CA certificates that issued the broker's certificate:\n  \
         openssl x509 -in ca.crt -noout -subject -enddate\n{AIO_CA_FIX}"
    )))
}

fn client_invalid(problem: FileProblem) -> Box<Finding> {
    Box::new(Finding::new(
        &TLS_CLIENT_CERT_INVALID,
        format!("The client certificate or key cannot be used: {problem}."),
    )
    .with_evidence("file", problem.path.display().to_string())
    .with_evidence("problem", problem.problem.as_str())
    .with_fix(
        "Give the certificate (PEM, leaf first, then intermediates) with --cert and its private key \
         (PEM: PKCS#8, PKCS#1 or SEC1) with --key:\n  openssl x509 -in client.crt -noout -subject \
         -issuer -enddate",
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

/// With TLS 1.3 the server judges our certificate after the handshake: a session ticket means
/// accepted; an alert or a close means refused.
async fn client_auth_verdict<S>(
    facts: &Facts<'_>,
    stream: &mut S,
    budget: Budget,
) -> Option<Finding>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut byte = [0u8; 1];
    let grace = budget.timeout.min(CLIENT_AUTH_GRACE);
    tokio::select! {
        read = stream.read(&mut byte) => match read {
            Err(error) => match rustls_error(&error) {
                Some(tls_error) => Some(classify(facts, tls_error)),
                None => Some(client_refused(facts, "closed the connection after the handshake", None)),
            },
            Ok(0) => Some(client_refused(facts, "closed the connection after the handshake", None)),
            Ok(_) => None,
        },
        _ = facts.seen.ticket.notified() => None,
        _ = tokio::time::sleep(grace) => None,
    }
}

/// The handshake broke off without a TLS error: the port may speak plain MQTT. A plain CONNECT
/// on a new connection settles it.
async fn closed_during_handshake(
    ctx: &Context<'_>,
    facts: &Facts<'_>,
    error: &io::Error,
) -> Finding {
    let reply = probe::plain_connect(ctx.open_raw(&facts.peer), ctx.budget()).await;
    match reply {
        PlainReply::Connack(code) => facts.evidence(
            Finding::new(
                &TLS_NOT_TLS,
                format!(
                    "{} does not speak TLS: the TLS handshake ended with \"{}\", and a plain MQTT \
                     CONNECT on a new connection got a CONNACK (return code {code}). This is a \
                     plain MQTT port.",
                    facts.peer,
                    error.kind()
                ),
            )
            .with_evidence("plain_connack_code", code)
            .with_fix(format!(
                "Use mqtt://{}:{} for this port, or the broker's TLS port (often 8883) with mqtts://.",
                facts.name,
                facts.peer.port()
            )),
        ),
        other => facts.evidence(
            Finding::new(
                &TLS_HANDSHAKE_FAILED,
                format!(
                    "{} broke off the TLS handshake ({}) without a TLS alert, and a plain MQTT \
                     CONNECT got no CONNACK either ({}). Whatever listens there is neither a TLS \
                     listener nor a plain MQTT broker, or it drops this client.",
                    facts.peer,
                    error.kind(),
                    other.describe()
                ),
            )
            .with_fix(
                "Check which service listens on the port and whether a proxy or load balancer in \
                 front expects another protocol (PROXY protocol, HTTP).",
            ),
        ),
    }
}

fn client_refused(facts: &Facts<'_>, what: &str, alert: Option<AlertDescription>) -> Finding {
    let alert_text = alert
        .map(|a| format!("alert {a:?}"))
        .unwrap_or_else(|| what.to_string());
    match facts.client {
        None => facts.evidence(
            Finding::new(
                &TLS_CLIENT_CERT_REQUIRED,
                format!(
                    "The broker at {} demands a client certificate and none was given ({alert_text}). \
                     Listeners with require_certificate (Mosquitto) or mutual TLS (EMQX, HAProxy) \
                     refuse clients without one.",
                    facts.peer
                ),
            )
            .with_evidence("tls_alert", alert_text.as_str())
            .with_fix(
                "Give the client certificate and key issued by the CA the broker trusts:\n  \
                 mqtt-doctor doctor <target> --cert client.crt --key client.key --cafile ca.crt",
            ),
        ),
        Some(client) => {
            let why = match alert {
                Some(AlertDescription::UnknownCA) => {
                    "it does not trust the CA that issued it (alert unknown_ca)".to_string()
                }
                Some(AlertDescription::CertificateExpired) => {
                    "it considers it expired (alert certificate_expired)".to_string()
                }
                Some(AlertDescription::BadCertificate) => "it found it malformed or its signature wrong (alert bad_certificate)".into(),
                _ => alert_text.clone(),
            };
            facts.evidence(
                Finding::new(
                    &TLS_CLIENT_CERT_REJECTED,
                    format!(
                        "The broker at {} rejected the client certificate {}: {why}.",
                        facts.peer, client.summary.subject
                    ),
                )
                .with_evidence("tls_alert", alert_text.as_str())
                .with_evidence("client_issuer", client.summary.issuer.as_str())
                .with_fix(format!(
                    "The broker's trusted CA file (Mosquitto: cafile; EMQX: ssl_options.cacertfile) \
                     must contain the CA that issued the client certificate, {}. Check with:\n  \
                     openssl verify -CAfile <broker-ca.pem> client.crt",
                    client.summary.issuer
                )),
            )
        }
    }
}

/// Names a rustls failure.
fn classify(facts: &Facts<'_>, error: &TlsError) -> Finding {
    match error {
        TlsError::InvalidCertificate(cert_error) => certificate_finding(facts, cert_error),
        TlsError::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired => client_refused(facts, "", Some(*alert)),
            AlertDescription::HandshakeFailure
                if facts.seen.cert_requested() && facts.client.is_none() =>
            {
                client_refused(facts, "", Some(*alert))
            }
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError
                if facts.seen.cert_requested() =>
            {
                client_refused(facts, "", Some(*alert))
            }
            other => handshake_failed(facts, format!("the server sent alert {other:?}"), true),
        },
        TlsError::InappropriateMessage { .. } | TlsError::InappropriateHandshakeMessage { .. } => {
            handshake_failed(
                facts,
                format!("the server's reply is not valid TLS ({error})"),
                false,
            )
        }
        other => handshake_failed(facts, other.to_string(), true),
    }
}

/// A handshake failure no more specific finding covers. `negotiation` says whether it happened
/// while agreeing on versions and suites, which is then what the detail explains.
fn handshake_failed(facts: &Facts<'_>, why: String, negotiation: bool) -> Finding {
    let explanation = if negotiation {
        " The two sides share no protocol version or cipher suite, or the server refused this \
         client. mqtt-doctor offers TLS 1.3 and 1.2 with ECDHE key exchange and AES-GCM or \
         ChaCha20-Poly1305."
    } else {
        ""
    };
    facts.evidence(
        Finding::new(
            &TLS_HANDSHAKE_FAILED,
            format!(
                "The TLS handshake with {} failed: {why}.{explanation}",
                facts.peer
            ),
        )
        .with_evidence("offered_versions", json!(["TLSv1.3", "TLSv1.2"]))
        .with_evidence(
            "offered_suites",
            json!(
                rustls::crypto::ring::default_provider()
                    .cipher_suites
                    .iter()
                    .map(|s| format!("{:?}", s.suite()))
                    .collect::<Vec<_>>()
            ),
        )
        .with_fix(
            "See what the server accepts:\n  openssl s_client -connect <host>:<port> -tls1_2\n\
             Brokers restricted to TLS 1.0/1.1 or to non-ECDHE (static RSA) or CBC suites need a \
             modern configuration (Mosquitto: tls_version tlsv1.2 and no narrow `ciphers` line).",
        ),
    )
}

fn certificate_finding(facts: &Facts<'_>, error: &CertificateError) -> Finding {
    let leaf = facts.leaf();
    let subject = leaf
        .as_ref()
        .map(|l| l.subject.clone())
        .unwrap_or_else(|| "the server certificate".into());
    let now = facts.now;
    match error {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let when = leaf.as_ref().map(|l| certs::timestamp_text(l.not_after)).unwrap_or_default();
            let days = leaf.as_ref().map(|l| -l.days_left(now)).unwrap_or_default();
            facts.evidence(
                Finding::new(
                    &TLS_EXPIRED,
                    format!(
                        "The broker's certificate {subject} expired on {when} ({days} days ago); \
                         every client that checks certificates refuses it."
                    ),
                )
                .with_fix(
                    "Renew the broker's certificate and reload the broker (Mosquitto: systemctl \
                     reload mosquitto; cert-manager: cmctl renew <certificate>). If it looks \
                     valid, check this machine's clock: date -u",
                ),
            )
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            let when = leaf.as_ref().map(|l| certs::timestamp_text(l.not_before)).unwrap_or_default();
            facts.evidence(
                Finding::new(
                    &TLS_NOT_YET_VALID,
                    format!(
                        "The broker's certificate {subject} is not valid before {when}, and this \
                         machine's clock says {}. Either it was issued with a future start date or \
                         a clock is wrong (devices without NTP, like a fresh ESP32, start in 1970).",
                        humantime::format_rfc3339_seconds(now)
                    ),
                )
                .with_fix(
                    "Check the clock here and on the broker: date -u (and timedatectl for NTP). If \
                     the clocks are right, reissue the certificate with a start date in the past.",
                ),
            )
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            name_mismatch(facts, leaf)
        }
        CertificateError::UnknownIssuer => unknown_issuer(facts, leaf),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            let eku = leaf.as_ref().and_then(|l| l.eku.as_ref()).map(|e| e.join(", ")).unwrap_or_default();
            facts.evidence(
                Finding::new(
                    &TLS_BAD_PURPOSE,
                    format!(
                        "The broker's certificate {subject} is not issued for TLS servers: its \
                         extended key usage is {eku}, without serverAuth."
                    ),
                )
                .with_fix(
                    "Reissue the broker's certificate with extendedKeyUsage = serverAuth \
                     (cert-manager: usages: [server auth]).",
                ),
            )
        }
        CertificateError::Other(other)
            if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)) =>
        {
            facts.evidence(
                Finding::new(
                    &TLS_BAD_PURPOSE,
                    format!(
                        "The broker presents a CA certificate ({subject}, basicConstraints CA:TRUE) \
                         as its own server certificate. `openssl req -x509` makes such certificates \
                         by default; rustls and other strict clients refuse them."
                    ),
                )
                .with_fix(
                    "Create a CA and issue the broker a separate server certificate from it, or make \
                     the self-signed certificate an end-entity one:\n  openssl req -x509 -newkey ec \
                     -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout broker.key -out broker.crt \
                     -subj /CN=<name> -addext subjectAltName=DNS:<name> -addext \
                     basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth",
                ),
            )
        }
        other => handshake_failed(facts, format!("the server's certificate was rejected ({other:?})"), false),
    }
}

fn name_mismatch(facts: &Facts<'_>, leaf: Option<&CertSummary>) -> Finding {
    let name = facts.name;
    let used_ip = name.parse::<std::net::IpAddr>().is_ok();
    let (sans, cn) = leaf
        .map(|l| (l.sans_text(), l.common_name.clone()))
        .unwrap_or(("none".into(), None));
    let mut detail = format!("The broker's certificate is not valid for {name}: it names {sans}.");
    let no_sans = leaf.is_some_and(|l| l.dns_names.is_empty() && l.ip_addresses.is_empty());
    if no_sans && let Some(cn) = &cn {
        detail.push_str(&format!(
            " It has only a common name ({cn}) and no subjectAltName; rustls, browsers and \
             current clients ignore the CN."
        ));
    }

    if used_ip && leaf.is_some_and(|l| l.ip_addresses.is_empty() && !l.dns_names.is_empty()) {
        detail.push_str(" The target is an IP address, and the certificate lists DNS names only: an IP must appear as an IP SAN.");
    }
    let first_dns = leaf.and_then(|l| l.dns_names.first().cloned());
    let mut fix = String::new();
    if let Some(dns) = &first_dns {
        fix.push_str(&format!(
            "Connect by a name the certificate lists:\n  mqtt-doctor doctor mqtts://{dns}:{}\n",
            facts.peer.port()
        ));
    }
    fix.push_str(&format!(
        "Or reissue the certificate with the name clients use as a subjectAltName:\n  \
         openssl req ... -addext \"subjectAltName = {}:{name}\"\n\
         --servername NAME checks another name (and sends it as SNI) without changing the address.",
        if used_ip { "IP" } else { "DNS" }
    ));
    facts.evidence(
        Finding::new(&TLS_NAME_MISMATCH, detail)
            .with_evidence("presented_sans", sans.as_str())
            .with_evidence("common_name", cn.unwrap_or_else(|| "none".into()))
            .with_fix(fix),
    )
}

fn unknown_issuer(facts: &Facts<'_>, leaf: Option<&CertSummary>) -> Finding {
    let self_signed = leaf.is_some_and(CertSummary::self_signed);
    let issuer = leaf
        .map(|l| l.issuer.clone())
        .unwrap_or_else(|| "an unknown issuer".into());
    let detail = if self_signed {
        format!(
            "The broker's certificate is self-signed ({issuer}) and not in the trust store used \
             ({}). Clients must be given exactly this certificate, or a CA, to trust.",
            facts.trust_source
        )
    } else {
        format!(
            "The broker's certificate was issued by {issuer}, a CA that is not in the trust store \
             used ({}): a private CA that this client was not given.",
            facts.trust_source
        )
    };
    facts.evidence(
        Finding::new(&TLS_UNKNOWN_ISSUER, detail)
            .with_evidence("issuer", issuer.as_str())
            .with_evidence("self_signed", self_signed)
            .with_fix(format!(
                "Get the CA certificate that issued the broker's certificate ({issuer}) and pass it:\n  \
                 mqtt-doctor doctor <target> --cafile ca.crt\n  mosquitto_pub --cafile ca.crt ...\n{AIO_CA_FIX}"
            )),
    )
}

fn success_findings(
    config: &DoctorConfig,
    facts: &Facts<'_>,
    version: &str,
    suite: &str,
    alpn: Option<&str>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let leaf = facts.leaf();
    let mut detail = format!("TLS is up with {}: {version}, {suite}", facts.peer);
    if let Some(leaf) = &leaf {
        detail.push_str(&format!(
            "; the certificate {} is valid for {} more days",
            leaf.subject,
            leaf.days_left(facts.now)
        ));
    }
    detail.push('.');
    if facts.client.is_some() && config.tls.cafile.is_none() && config.tls.capath.is_none() {
        detail.push_str(
            " No --cafile was given, so the server was checked against the system roots.",
        );
    }
    let status = if config.tls.insecure {
        Status::Info
    } else {
        Status::Pass
    };
    findings.push(
        facts
            .evidence(Finding::new(&TLS_OK, detail))
            .with_status(status)
            .with_evidence("version", version)
            .with_evidence("cipher_suite", suite)
            .with_evidence("alpn", alpn.unwrap_or("none"))
            .with_evidence("client_certificate_requested", facts.seen.cert_requested()),
    );
    if config.tls.insecure {
        let would = match facts.seen.verify_error() {
            Some(error) => format!("Verification would have failed: {error}."),
            None => "Verification would have passed.".to_string(),
        };
        findings.push(
            facts.evidence(
                Finding::new(
                    &TLS_INSECURE,
                    format!(
                        "--insecure: the broker's certificate was NOT verified, so this run proves \
                         nothing about who is at the other end. {would}"
                    ),
                )
                .with_fix("Drop --insecure and give the broker's CA with --cafile."),
            ),
        );
    }
    if let Some(leaf) = &leaf {
        let left = leaf.days_left(facts.now);
        let threshold = (config.tls.expiry_warning.as_secs() / 86_400) as i64;
        if left < threshold {
            findings.push(
                facts.evidence(
                    Finding::new(
                        &TLS_EXPIRING_SOON,
                        format!(
                            "The broker's certificate {} expires on {}, in {left} days (warning \
                             threshold {threshold} days). Clients will refuse the broker from then on.",
                            leaf.subject,
                            certs::timestamp_text(leaf.not_after)
                        ),
                    )
                    .with_evidence("days_left", left)
                    .with_fix(
                        "Renew the certificate and reload the broker before it expires; automate it \
                         (cert-manager, certbot with a deploy hook that reloads the broker).",
                    ),
                ),
            );
        }
    }
    findings
}

/// The name a TLS probe of `peer` sends and checks: the one the TLS stage would use, or the
/// peer's address when the target gives no valid server name.
pub(crate) fn probe_name(config: &DoctorConfig, peer: &Peer) -> ServerName<'static> {
    server_name(config)
        .1
        .unwrap_or_else(|| ServerName::IpAddress(peer.addr.ip().into()))
}

/// The finding for a plain MQTT connection closed by a port that speaks TLS.
pub(crate) fn plain_to_tls_port(
    config: &DoctorConfig,
    peer: &Peer,
    what_happened: &str,
    tls_answer: &str,
) -> Finding {
    let host = match &config.target.host {
        Host::Name(name) => name.clone(),
        Host::Ip(ip) if ip.is_ipv6() => format!("[{ip}]"),
        Host::Ip(ip) => ip.to_string(),
    };
    Finding::new(
        &crate::findings::registry::TLS_PLAIN_TO_TLS_PORT,
        format!(
            "{peer} speaks TLS: the plain MQTT CONNECT {what_happened}, and a TLS ClientHello on \
             a new connection got a TLS answer ({tls_answer}). The client talks plain MQTT to a \
             TLS listener."
        ),
    )
    .with_evidence("plain_connect", what_happened.to_string())
    .with_evidence("tls_answer", tls_answer.to_string())
    .with_fix(format!(
        "Connect with TLS: mqtts://{host}:{} (or --tls), with --cafile CA.pem when the broker's \
         certificate comes from a private CA. For Mosquitto, the log line `OpenSSL Error … wrong \
         version number` on the broker is the same mistake seen from its side.",
        peer.port()
    ))
}

/// A TLS alert on the first read after the handshake, seen by the MQTT stage: with TLS 1.3 a
/// broker reports a missing or rejected client certificate only then. `None` when the error is
/// not a TLS alert.
pub(crate) fn alert_after_handshake(config: &DoctorConfig, error: &io::Error) -> Option<Finding> {
    let Some(TlsError::AlertReceived(alert)) = rustls_error(error) else {
        return None;
    };
    let alert_text = format!("alert {alert:?}");
    let finding = match (alert, &config.tls.cert) {
        (AlertDescription::CertificateRequired, _) | (_, None) => Finding::new(
            &TLS_CLIENT_CERT_REQUIRED,
            format!(
                "The broker ended the connection with TLS {alert_text} when the first MQTT answer \
                 was due: it demands a client certificate{}.",
                if config.tls.cert.is_some() {
                    " and did not accept the one given"
                } else {
                    " and none was given"
                }
            ),
        )
        .with_fix(
            "Give the client certificate and key issued by the CA the broker trusts:\n  \
             mqtt-doctor doctor <target> --cert client.crt --key client.key --cafile ca.crt",
        ),
        (_, Some(cert)) => Finding::new(
            &TLS_CLIENT_CERT_REJECTED,
            format!(
                "The broker ended the connection with TLS {alert_text} when the first MQTT answer \
                 was due: it rejected the client certificate {}.",
                cert.display()
            ),
        )
        .with_fix(
            "The broker's trusted CA file (Mosquitto: cafile; EMQX: ssl_options.cacertfile) must \
             contain the CA that issued the client certificate. Check with:\n  \
             openssl verify -CAfile <broker-ca.pem> client.crt",
        ),
    };
    Some(finding.with_evidence("tls_alert", alert_text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_provider_is_the_one_compiled_in() {
        assert!(!provider().cipher_suites.is_empty());
    }
}

/// How much of the server's first bytes a stalled handshake shows.
const RECEIVED_HEAD: usize = 16;

/// What the server sent during the handshake: how many bytes, and the first few.
#[derive(Debug, Default)]
struct Received {
    total: usize,
    head: Vec<u8>,
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
