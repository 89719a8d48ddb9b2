//! Side probes on a fresh connection, used to tell which protocol a port speaks when the
//! expected one fails: a plain MQTT 3.1.1 CONNECT (does a CONNACK come back?), a TLS handshake
//! (does a TLS server answer?). Stages call them with the [`Dialer`] the lower stages set up,
//! never through each other.
//!
//! The MQTT probe leaves nothing behind: a random client id (so no real device is kicked off), a
//! clean session, and a DISCONNECT right after the CONNACK.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{Connect, Disconnect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

use super::{Dialer, Peer, ProxyHeader, Transport};
use crate::budget::Budget;

/// What came back to a plain CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlainReply {
    /// A CONNACK, with its return code.
    Connack(u8),
    /// Something else, first bytes kept as evidence.
    Other(Vec<u8>),
    /// Closed (FIN) before a byte came back: a broker that refuses what it read without a word.
    Closed,
    /// Reset, no answer in time, or the probe could not be opened.
    Nothing(String),
}

impl PlainReply {
    /// What came back, for a finding's text.
    pub(crate) fn describe(&self) -> String {
        match self {
            PlainReply::Connack(code) => format!("CONNACK {code}"),
            // At most the four bytes read: no cap needed.
            PlainReply::Other(bytes) => {
                let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                format!("it answered {}", hex.join(" "))
            }
            PlainReply::Closed => "closed without a reply".into(),
            PlainReply::Nothing(why) => why.clone(),
        }
    }
}

/// A client id no real device uses: `mqtt-doctor-` and a per-process unique suffix, 23
/// characters in all, the longest MQTT 3.1.1 obliges every broker to accept.
pub(crate) fn random_client_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "mqtt-doctor-{:08x}{:03x}",
        nanos ^ std::process::id().rotate_left(16),
        n & 0xfff
    )
}

/// Opens a new connection with `open` (TCP, and whatever the lower stages put on it) and sends
/// a plain MQTT 3.1.1 CONNECT; opening and the exchange together get `budget`.
pub(crate) async fn plain_connect<F>(open: F, budget: Budget) -> PlainReply
where
    F: Future<Output = std::io::Result<Box<dyn Transport>>>,
{
    let mut packet = BytesMut::new();
    if let Err(e) = Connect::new(random_client_id()).write(&mut packet) {
        return PlainReply::Nothing(e.to_string());
    }
    exchange(open, packet.to_vec(), budget).await
}

/// The same question in MQTT 3.1 (protocol name `MQIsdp`, level 3), without credentials: brokers
/// answer it in their own ways (Mosquitto, aedes, RabbitMQ, EMQX and HiveMQ speak it; ejabberd
/// refuses it with CONNACK 1; amqtt closes the connection), which tells apart families whose
/// refusals of the doctor's own CONNECT look the same byte for byte.
pub(crate) async fn mqtt31_connect<F>(open: F, budget: Budget) -> PlainReply
where
    F: Future<Output = std::io::Result<Box<dyn Transport>>>,
{
    exchange(open, mqtt31_packet(&random_client_id()), budget).await
}

/// An MQTT 3.1 CONNECT with a clean session, a 60 s keepalive and no credentials or will, so
/// that a broker admitting it keeps nothing once the DISCONNECT comes. `client_id` is at most
/// 23 bytes, MQTT 3.1's limit.
fn mqtt31_packet(client_id: &str) -> Vec<u8> {
    let id = &client_id.as_bytes()[..client_id.len().min(23)];
    let mut body = vec![0, 6];
    body.extend_from_slice(b"MQIsdp");
    // Level 3, clean session, keepalive 60 s.
    body.extend_from_slice(&[3, 0x02, 0, 60]);
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id);
    // At most 2 + 6 + 4 + 2 + 23 bytes: one byte of remaining length.
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

/// Sends `packet`, a CONNECT, on a connection `open` makes, and reads what comes back: a CONNACK
/// is answered with a DISCONNECT so that nothing stays on the broker.
async fn exchange<F>(open: F, packet: Vec<u8>, budget: Budget) -> PlainReply
where
    F: Future<Output = std::io::Result<Box<dyn Transport>>>,
{
    let exchange = async {
        let mut stream = open.await?;
        stream.write_all(&packet).await?;
        let mut reply = [0u8; 4];
        let mut read = 0;
        while read < reply.len() {
            match stream.read(&mut reply[read..]).await? {
                0 => break,
                n => read += n,
            }
        }
        if read >= 4 && reply[0] == 0x20 && reply[1] == 0x02 {
            let mut packet = BytesMut::new();
            if Disconnect.write(&mut packet).is_ok() {
                let _ = stream.write_all(&packet).await;
            }
            return Ok(PlainReply::Connack(reply[3]));
        }
        if read == 0 {
            return Ok(PlainReply::Closed);
        }
        Ok::<_, std::io::Error>(PlainReply::Other(reply[..read].to_vec()))
    };
    match budget.run(exchange).await {
        None => PlainReply::Nothing(format!("no reply within {}", budget.describe())),
        Some(Err(e)) => PlainReply::Nothing(format!("{}", e.kind())),
        Some(Ok(reply)) => reply,
    }
}

/// What a connection on which the doctor sends nothing sees: the follow-up that tells a server
/// refusing connections (it closes before the client speaks) from one refusing what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idle {
    /// Closed (FIN) with nothing sent.
    Closed,
    /// Reset (RST) with nothing sent, or before the layers below MQTT were up.
    Reset,
    /// Still open when the window ended: the server waits for the client, as a broker does.
    Waits,
    /// The server spoke first: not what an MQTT broker does, and not a close either.
    Spoke,
    /// The probe could not even be opened (the port stopped listening, the run ran out).
    Failed,
}

impl Idle {
    pub(crate) fn closed(self) -> bool {
        matches!(self, Idle::Closed | Idle::Reset)
    }
}

/// Opens a new connection with `open` and sends nothing: does the server close it, and how,
/// within `window`? Opening counts against the window too.
pub(crate) async fn idle<F>(open: F, window: Budget) -> Idle
where
    F: Future<Output = std::io::Result<Box<dyn Transport>>>,
{
    let watch = async {
        let mut stream = match open.await {
            Ok(stream) => stream,
            Err(e) => return of_error(&e),
        };
        let mut byte = [0u8; 1];
        match stream.read(&mut byte).await {
            Ok(0) => Idle::Closed,
            Ok(_) => Idle::Spoke,
            Err(e) => of_error(&e),
        }
    };
    window.run(watch).await.unwrap_or(Idle::Waits)
}

/// A failure to open or read, as the idle probe reads it: a close or reset from the far end,
/// or anything else.
fn of_error(error: &std::io::Error) -> Idle {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::UnexpectedEof => Idle::Closed,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Idle::Reset
        }
        _ => Idle::Failed,
    }
}

/// Accepts any certificate, noting that one came: the TLS probe asks only whether a TLS server
/// answers, not whether to trust it, and sends nothing over the connection.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
    presented: AtomicBool,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.presented.store(true, Ordering::Relaxed);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether `peer` answers a TLS handshake, on a new connection opened as the lower stages did
/// (through the proxy's tunnel, if any), within `budget`: the version and cipher suite
/// negotiated, `TLS alert …` for a server that refused the handshake, `a certificate chain` for
/// one that sent its certificate and then failed it; `None` when nothing TLS came back.
pub(crate) async fn speaks_tls(
    dialer: &Dialer,
    name: ServerName<'static>,
    peer: &Peer,
    budget: Budget,
) -> Option<String> {
    speaks_tls_with(dialer, name, peer, budget, None).await
}

/// [`speaks_tls`] with a PROXY protocol header before the ClientHello, as a load balancer in
/// front would send it.
pub(crate) async fn speaks_tls_with(
    dialer: &Dialer,
    name: ServerName<'static>,
    peer: &Peer,
    budget: Budget,
    header: Option<ProxyHeader>,
) -> Option<String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate {
        provider: provider.clone(),
        presented: AtomicBool::new(false),
    });
    let tls_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let attempt = async {
        let tcp = dialer.open_raw_with(peer, header).await?;
        TlsConnector::from(Arc::new(tls_config))
            .connect(name, tcp)
            .await
    };
    match budget.run(attempt).await {
        Some(Ok(stream)) => {
            let (_, session) = stream.get_ref();
            let version = session
                .protocol_version()
                .map(|v| format!("{v:?}").replace('_', "."))
                .unwrap_or_default();
            let suite = session
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default();
            Some(format!("{version}, {suite}"))
        }
        Some(Err(error)) => match error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::AlertReceived(alert)) => Some(format!("TLS alert {alert:?}")),
            _ if verifier.presented.load(Ordering::Relaxed) => Some("a certificate chain".into()),
            _ => None,
        },
        None => None,
    }
}
