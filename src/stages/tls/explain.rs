//! The TLS stage's prose: from what the handshake showed (the chain as presented, rustls'
//! verdict, how the handshake ended, a plain CONNECT's answer when it broke off) to the
//! findings, each with the evidence and the fix for its cause. No I/O here: `mod.rs` observes.

use std::io;
use std::time::SystemTime;

use rustls::{AlertDescription, CertificateError, Error as TlsError};
use serde_json::{Value, json};

use super::{AfterHandshake, ChainGap, ClientIdentity, Failure, Received};
use crate::brokers;
use crate::certs::{self, CertSummary, FileProblem};
use crate::config::DoctorConfig;
use crate::findings::registry::{
    TLS_BAD_PURPOSE, TLS_CA_AS_SERVER_CERTIFICATE, TLS_CA_FILE_INVALID, TLS_CHAIN_SAVED,
    TLS_CLIENT_CERT_INVALID, TLS_CLIENT_CERT_REJECTED, TLS_CLIENT_CERT_REQUIRED,
    TLS_CLIENT_CERT_REVOKED, TLS_EXPIRED, TLS_EXPIRING_SOON, TLS_HANDSHAKE_FAILED,
    TLS_INCOMPLETE_CHAIN, TLS_INSECURE, TLS_NAME_MISMATCH, TLS_NO_SNI, TLS_NOT_TLS,
    TLS_NOT_YET_VALID, TLS_OK, TLS_UNKNOWN_ISSUER,
};
use crate::findings::{Finding, FindingDef, Status};
use crate::reason_codes::Broker;
use crate::stages::context::Budget;
use crate::stages::tcp;
use crate::target::Host;
use crate::transport::probe::PlainReply;
use crate::transport::{Peer, ProxyHeader};

const AIO_CA_FIX: &str = "For Azure IoT Operations, the broker's CA is in the ConfigMap \
azure-iot-operations-aio-ca-trust-bundle:\n  kubectl get configmap \
azure-iot-operations-aio-ca-trust-bundle -n azure-iot-operations -o jsonpath='{.data.ca\\.crt}' > ca.crt";

/// Everything the findings quote.
pub(super) struct Facts<'a> {
    pub(super) name: &'a str,
    pub(super) sni: &'a str,
    /// A name went as SNI: the server name is a host name, not an IP address.
    pub(super) sni_sent: bool,
    /// DNS names the certificates given with `--cafile`/`--capath` carry.
    pub(super) known_names: Vec<String>,
    /// The trust anchors are the user's (`--cafile`/`--capath`), not the system's.
    pub(super) trust_given: bool,
    /// With an unknown issuer: what stands above a leaf the server sent alone.
    pub(super) gap: Option<ChainGap>,
    pub(super) peer: Peer,
    pub(super) trust_source: &'a str,
    /// The server asked for a client certificate.
    pub(super) cert_requested: bool,
    /// WebPKI's verdict on the chain, kept even when `--insecure` overrode it.
    pub(super) verify_error: Option<TlsError>,
    /// The server's certificate is a CA certificate the user gave with `--cafile`, accepted.
    pub(super) ca_as_leaf: bool,
    /// The broker's chain as presented, leaf first.
    pub(super) chain: Vec<CertSummary>,
    pub(super) client: Option<&'a ClientIdentity>,
    pub(super) now: SystemTime,
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

    pub(super) fn leaf(&self) -> Option<&CertSummary> {
        self.chain.first()
    }
}

/// What `--save-chain` did: how many certificates went to `path`, or why none did.
pub(super) fn chain_saved(path: &std::path::Path, saved: io::Result<usize>) -> Finding {
    let shown = path.display().to_string();
    match saved {
        Ok(0) => Finding::new(
            &TLS_CHAIN_SAVED,
            format!("The broker presented no certificate, so nothing was written to {shown}."),
        )
        .with_evidence("path", shown)
        .with_evidence("certificates", 0u64),
        Ok(count) => Finding::new(
            &TLS_CHAIN_SAVED,
            format!(
                "The {count} certificates the broker presented were written to {shown} as PEM, \
                 leaf first."
            ),
        )
        .with_evidence("path", shown.clone())
        .with_evidence("certificates", count as u64)
        .with_fix(format!(
            "Read them with:\n  openssl crl2pkcs7 -nocrl -certfile {shown} | openssl pkcs7 \
             -print_certs -noout"
        )),
        Err(error) => Finding::new(
            &TLS_CHAIN_SAVED,
            format!(
                "The chain could not be written to {shown}: {}.",
                crate::files::io_problem(&error)
            ),
        )
        .with_status(Status::Warn)
        .with_evidence("path", shown)
        .with_fix("Give --save-chain a path in a directory this user can write to."),
    }
}

/// The rustls error inside an I/O error from a TLS stream, if that is what it is.
pub(super) fn rustls_error(error: &io::Error) -> Option<&TlsError> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
}

/// The findings and the stage line for a handshake that gave no usable connection.
pub(super) fn failure(facts: &Facts<'_>, failure: &Failure) -> (String, Finding) {
    match failure {
        Failure::Stalled { budget, received } => (
            "no answer to the TLS handshake".to_string(),
            facts.evidence(stalled(facts, *budget, received)),
        ),
        Failure::Rejected(error) => titled(classify(facts, error)),
        Failure::BrokenOff {
            kind,
            received,
            plain,
            proxy,
        } => titled(match proxy.first() {
            Some((_, answer)) => {
                let headers: Vec<ProxyHeader> = proxy.iter().map(|(h, _)| *h).collect();
                facts.evidence(tcp::proxy_protocol_expected(
                    &facts.peer,
                    "TLS handshake",
                    &format!("was broken off ({kind})"),
                    &headers,
                    &format!("was answered ({answer})"),
                ))
            }
            None => broken_off(facts, *kind, *received, plain),
        }),
        Failure::ClientRefused(refused) => (
            "the broker refused the client certificate".to_string(),
            match refused {
                AfterHandshake::Alert(error) => classify(facts, error),
                AfterHandshake::Closed => {
                    client_refused(facts, "closed the connection after the handshake", None)
                }
            },
        ),
    }
}

/// A finding with its title as the stage line.
fn titled(finding: Finding) -> (String, Finding) {
    (finding.def.title.to_string(), finding)
}

/// No end to the handshake within the step: nothing like TLS came back, or it stalled half-way.
fn stalled(facts: &Facts<'_>, budget: Budget, received: &Received) -> Finding {
    let peer = &facts.peer;
    if received.total == 0 {
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
             a ClientHello with nothing or closes.{}",
            peer.port(),
            if facts.sni_sent {
                ""
            } else {
                " No SNI was sent (the target is an IP address): a listener that routes TLS by \
                 SNI may hold such a handshake too; try --servername NAME with the broker's \
                 host name."
            }
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
    }
}

/// The handshake broke off without a TLS error after the server sent `received` bytes, and
/// `plain` is what a plain MQTT CONNECT on a new connection got: a CONNACK means a plain MQTT
/// port; silence both times, without SNI, is how SNI-routing listeners drop a ClientHello.
fn broken_off(
    facts: &Facts<'_>,
    kind: io::ErrorKind,
    received: usize,
    plain: &PlainReply,
) -> Finding {
    match plain {
        PlainReply::Nothing(_) | PlainReply::Closed if !facts.sni_sent && received == 0 => {
            dropped_without_sni(facts, kind, plain)
        }
        PlainReply::Connack(code) => facts.evidence(
            Finding::new(
                &TLS_NOT_TLS,
                format!(
                    "{} does not speak TLS: the TLS handshake ended with \"{}\", and a plain MQTT \
                     CONNECT on a new connection got a CONNACK (return code {code}). This is a \
                     plain MQTT port.",
                    facts.peer, kind
                ),
            )
            .with_evidence("plain_connack_code", *code)
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
                    kind,
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

/// The handshake was dropped without a byte in answer, and no SNI was sent.
fn dropped_without_sni(facts: &Facts<'_>, kind: io::ErrorKind, plain: &PlainReply) -> Finding {
    let port = facts.peer.port();
    let address = match facts.name.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => facts.name.to_string(),
    };
    let (names, name) = match facts.known_names.as_slice() {
        [] => (
            "Send the broker's host name (the DNS name its certificate carries, the one other \
             clients connect by) as SNI, keeping the address:"
                .to_string(),
            "NAME",
        ),
        names => (
            format!(
                "The CA file names {}: send that as SNI, keeping the address:",
                names.join(", ")
            ),
            names[0].as_str(),
        ),
    };
    let fix = format!(
        "{names}\n  mqtt-doctor doctor mqtts://{address}:{port} --servername {name}\nor connect by \
         that name: mqtts://{name}:{port}. In clients, give the host name rather than a resolved \
         address. To see the listener answer once it has a name:\n  openssl s_client -connect \
         {address}:{port} -servername {name} </dev/null"
    );
    facts.evidence(
        Finding::new(
            &TLS_NO_SNI,
            format!(
                "{} broke off the TLS handshake ({kind}) without a TLS alert or a byte in answer, \
                 and no SNI was sent: the target is the IP address {address} and no \
                 --servername was given. Listeners that route TLS by SNI (HAProxy req.ssl_sni, \
                 Traefik HostSNI, Istio and Envoy, NGINX stream ssl_preread, HiveMQ Cloud) drop a \
                 ClientHello that names no host they serve in just this way. A plain MQTT CONNECT on a new \
                 connection got no answer either ({}).",
                facts.peer,
                plain.describe()
            ),
        )
        .with_status(Status::Fail)
        .with_evidence("handshake_end", kind.to_string())
        .with_evidence("plain_connect", plain.describe())
        .with_evidence("names_known", json!(facts.known_names))
        .with_fix(format!(
            "{fix}\n--servername is also the name checked against the broker's certificate. If a \
             name changes nothing, the listener drops this client for another reason: read its \
             log (a proxy that expects the PROXY protocol, an address allow list)."
        )),
    )
}

pub(super) fn certificates(count: usize) -> String {
    if count == 1 {
        "1 certificate".into()
    } else {
        format!("{count} certificates")
    }
}

pub(super) fn ca_file_invalid(problem: FileProblem) -> Box<Finding> {
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

pub(super) fn client_invalid(problem: FileProblem) -> Box<Finding> {
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
        // Revoked is not a trust problem: the broker knows the certificate and has withdrawn
        // it, and no CA file fixes that.
        Some(client) if alert == Some(AlertDescription::CertificateRevoked) => facts.evidence(
            Finding::new(
                &TLS_CLIENT_CERT_REVOKED,
                format!(
                    "The broker at {} refused the client certificate {} (serial {}) as revoked \
                     (alert certificate_revoked): the certificate revocation list it checks \
                     names this certificate.",
                    facts.peer, client.summary.subject, client.summary.serial
                ),
            )
            .with_evidence("tls_alert", alert_text.as_str())
            .with_evidence("client_serial", client.summary.serial.as_str())
            .with_evidence("client_issuer", client.summary.issuer.as_str())
            .with_fix(format!(
                "A revoked certificate stays revoked: issue this client a new certificate and key \
                 from {issuer}, and deploy both. If the revocation was a mistake, take serial \
                 {serial} off the CA's revocation list, publish the new list and give it to the \
                 broker (Mosquitto: crlfile, then restart; EMQX: the listener's \
                 ssl_options.crlfile with enable_crl_check). To see whether a list revokes it:\n  \
                 openssl verify -crl_check -CAfile <ca.pem> -CRLfile <crl.pem> client.crt",
                issuer = client.summary.issuer,
                serial = client.summary.serial
            )),
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
                if facts.cert_requested && facts.client.is_none() =>
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
                if facts.cert_requested =>
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

/// The first certificate above the leaf that is past its end (`expired`) or before its start,
/// with its 1-based position in the chain as presented, when the leaf itself is within its
/// dates: webpki says "expired" for whichever certificate of the path is, and the leaf must not
/// be blamed (nor its future end date shown as past) for an intermediate's.
fn out_of_date_above_leaf<'f>(
    facts: &'f Facts<'_>,
    expired: bool,
) -> Option<(usize, &'f CertSummary)> {
    let now = facts
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let out = |c: &CertSummary| {
        if expired {
            c.not_after < now
        } else {
            c.not_before > now
        }
    };
    let leaf = facts.chain.first()?;
    if out(leaf) {
        return None;
    }
    facts
        .chain
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, c)| out(c))
        .map(|(i, c)| (i + 1, c))
}

/// An intermediate (or a root the broker sends) past its end or before its start.
fn chain_member_out_of_date(
    facts: &Facts<'_>,
    position: usize,
    member: &CertSummary,
    expired: bool,
) -> Finding {
    let leaf = facts
        .leaf()
        .map(|l| {
            format!(
                "{}, valid from {} to {}",
                l.subject,
                certs::timestamp_text(l.not_before),
                certs::timestamp_text(l.not_after)
            )
        })
        .unwrap_or_default();
    let (def, when) = if expired {
        (
            &TLS_EXPIRED,
            format!("expired on {}", certs::timestamp_text(member.not_after)),
        )
    } else {
        (
            &TLS_NOT_YET_VALID,
            format!(
                "is not valid before {}",
                certs::timestamp_text(member.not_before)
            ),
        )
    };
    facts.evidence(
        Finding::new(
            def,
            format!(
                "Certificate {position} of the broker's chain, {} (issued by {}), {when}; the \
                 broker's own certificate is fine ({leaf}). Every client that checks the chain \
                 refuses it.",
                member.subject, member.issuer
            ),
        )
        .with_evidence("out_of_date_certificate", member.subject.as_str())
        .with_evidence("chain_position", position as u64)
        .with_fix(format!(
            "Replace {} in the broker's certificate file (Mosquitto: certfile; EMQX: the \
             listener's certfile) with the CA's current one: the file holds the broker's \
             certificate followed by its intermediates. Then reload the broker. If the dates \
             look right, check this machine's clock: date -u",
            member.subject
        )),
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
        CertificateError::Expired | CertificateError::ExpiredContext { .. }
            if let Some((position, expired)) = out_of_date_above_leaf(facts, true) =>
        {
            chain_member_out_of_date(facts, position, expired, true)
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }
            if let Some((position, early)) = out_of_date_above_leaf(facts, false) =>
        {
            chain_member_out_of_date(facts, position, early, false)
        }
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
        CertificateError::UnknownIssuer => match &facts.gap {
            Some(gap) if gap.is_intermediate() => incomplete_chain(facts, leaf, gap),
            _ => unknown_issuer(facts, leaf),
        },
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

/// The server sent its leaf without the intermediate that issued it.
fn incomplete_chain(facts: &Facts<'_>, leaf: Option<&CertSummary>, gap: &ChainGap) -> Finding {
    let subject = leaf.map(|l| l.subject.clone()).unwrap_or_default();
    let issuer = &gap.issuer;
    let key_id = gap
        .key_id
        .as_ref()
        .map(|id| format!(" (key identifier {id})"))
        .unwrap_or_default();
    let sent = match facts.chain.len() {
        0 | 1 => "only its own certificate".to_string(),
        n => format!("{n} certificates, none of which issued its own"),
    };
    let why = if gap.in_client_chain {
        format!(
            "The client certificate file given with --cert holds {issuer}, and it is an \
             intermediate CA (issued by another CA, not self-signed)."
        )
    } else {
        format!(
            "The certificate's Authority Information Access names where its CA publishes that \
             issuer ({}): CAs set it on certificates they issue from an intermediate.",
            gap.ca_issuers.join(", ")
        )
    };
    let mut fix = "The broker's certificate file must hold its own certificate followed by its \
                   intermediates (a full chain), not the certificate alone:\n  cat broker.crt \
                   intermediate.crt > broker-fullchain.crt\nMosquitto: certfile \
                   broker-fullchain.crt; EMQX: the listener's certfile; HiveMQ: a keystore made \
                   from the full chain (openssl pkcs12 -export -in broker-fullchain.crt -inkey \
                   broker.key -out broker.p12, then keytool -importkeystore); NGINX or HAProxy \
                   terminating TLS: ssl_certificate (crt) broker-fullchain.crt (certbot's \
                   fullchain.pem, not cert.pem). Then reload the broker."
        .to_string();
    if let Some(url) = gap.ca_issuers.first() {
        fix.push_str(&format!(
            "\nThe missing certificate is published at {url}:\n  curl -o intermediate.der \
             '{url}'\n  openssl x509 -inform der -in intermediate.der -out intermediate.crt\n  \
             openssl x509 -in intermediate.crt -noout -subject -issuer\nIf its subject and issuer \
             are the same, it is a root, not an intermediate: give it to clients with --cafile \
             instead."
        ));
    }
    fix.push_str(
        "\nSee what the broker sends: openssl s_client -connect <host>:<port> -showcerts </dev/null",
    );
    facts.evidence(
        Finding::new(
            &TLS_INCOMPLETE_CHAIN,
            format!(
                "The broker sent {sent} ({subject}), without the intermediate CA that issued it: \
                 {issuer}{key_id}. Without that certificate no client can link the broker's \
                 certificate to a trusted root ({}). {why}",
                facts.trust_source
            ),
        )
        .with_evidence("missing_issuer", issuer.as_str())
        .with_evidence(
            "missing_issuer_key_id",
            gap.key_id.clone().unwrap_or_else(|| "none".into()),
        )
        .with_evidence("ca_issuers", json!(gap.ca_issuers))
        .with_evidence("issuer_in_client_certificate_file", gap.in_client_chain)
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
        let mut detail = format!(
            "The broker's certificate was issued by {issuer}, a CA that is not in the trust store \
             used ({}): a private CA that this client was not given.",
            facts.trust_source
        );
        // From here a root the user lacks and an intermediate the broker did not send look
        // alike: say both when the CA file given does not settle it.
        if facts.gap.is_some() && facts.trust_given {
            detail.push_str(
                " The broker sent only its own certificate, so that issuer may instead be an \
                 intermediate CA the broker should send with it, under a root the CA file holds.",
            );
        }
        detail
    };
    let mut fix = format!(
        "Get the CA certificate that issued the broker's certificate ({issuer}) and pass it:\n  \
         mqtt-doctor doctor <target> --cafile ca.crt\n  mosquitto_pub --cafile ca.crt ...\n{AIO_CA_FIX}"
    );
    if facts.gap.is_some() && facts.trust_given {
        fix.push_str(&format!(
            "\nIf {issuer} is an intermediate under the root in the CA file, the broker is at \
             fault: its certificate file must hold its certificate followed by that intermediate \
             (Mosquitto and EMQX: certfile), and then every client succeeds."
        ));
    }
    facts.evidence(
        Finding::new(&TLS_UNKNOWN_ISSUER, detail)
            .with_evidence("issuer", issuer.as_str())
            .with_evidence("self_signed", self_signed)
            .with_fix(fix),
    )
}

pub(super) fn success_findings(
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
            .with_evidence("client_certificate_requested", facts.cert_requested),
    );
    if facts.ca_as_leaf {
        let subject = leaf.map(|l| l.subject.clone()).unwrap_or_default();
        findings.push(
            facts.evidence(
                Finding::new(
                    &TLS_CA_AS_SERVER_CERTIFICATE,
                    format!(
                        "The broker presents a CA certificate ({subject}, basicConstraints \
                         CA:TRUE) as its own server certificate, and --cafile holds exactly that \
                         certificate. OpenSSL-based clients (mosquitto_pub, paho, Python, Node.js) \
                         accept it, so the run went on; strict verifiers (rustls, webpki: Rust \
                         clients, rumqttc, some embedded stacks) refuse it."
                    ),
                )
                .with_fix(
                    "Make the broker's certificate an end-entity one, so that every client \
                     accepts it: issue it from a CA, or create it self-signed with CA:FALSE:\n  \
                     openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                     -keyout broker.key -out broker.crt -subj /CN=<name> -addext \
                     subjectAltName=DNS:<name> -addext basicConstraints=critical,CA:FALSE \
                     -addext extendedKeyUsage=serverAuth",
                ),
            ),
        );
    }
    if config.tls.insecure {
        let would = match facts.verify_error.clone() {
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

/// Findings whose fix is on the broker's side: its certificate, its chain, its listener's
/// client-certificate settings. The client's own files and choices are fixed the same way
/// whatever the broker.
const BROKER_SIDE: &[&FindingDef] = &[
    &TLS_EXPIRED,
    &TLS_NOT_YET_VALID,
    &TLS_EXPIRING_SOON,
    &TLS_INCOMPLETE_CHAIN,
    &TLS_NAME_MISMATCH,
    &TLS_BAD_PURPOSE,
    &TLS_CA_AS_SERVER_CERTIFICATE,
    &TLS_CLIENT_CERT_REQUIRED,
    &TLS_CLIENT_CERT_REJECTED,
    &TLS_CLIENT_CERT_REVOKED,
    &TLS_HANDSHAKE_FAILED,
];

/// Adds the named family's own TLS settings to the broker-side fixes: where that broker keeps
/// its certificate, key, CA and client-certificate options.
pub(super) fn with_family_fix(findings: &mut [Finding], broker: Broker) {
    let line = format!("{}: {}", broker.name(), brokers::fixes(Some(broker)).tls);
    for finding in findings.iter_mut() {
        if finding.status == Status::Pass || !BROKER_SIDE.iter().any(|d| d.id == finding.def.id) {
            continue;
        }
        // First, so that the first line a user reads is about the broker they named.
        finding.fix = Some(match finding.fix.take() {
            Some(fix) => format!("{line}\n{fix}"),
            None => line.clone(),
        });
    }
}
