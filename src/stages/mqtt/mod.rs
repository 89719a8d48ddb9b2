//! MQTT stage: a real CONNECT over the connection the TCP and TLS stages opened, and the
//! broker's answer read byte-exactly and explained.
//!
//! Every seed guide ends in a number the user does not understand, and the same number means
//! different things on different brokers. So the stage keeps everything the broker says: the raw
//! CONNACK, its code in the catalog of [`crate::reason_codes`] with causes ranked for the broker
//! in front of us, every property, and the reason string. Frames are cut by [`crate::wire`] and
//! decoded with rumqttc's per-packet readers, so a 3.1.1-format answer to an MQTT 5 CONNECT, an
//! AUTH packet, an HTTP reply or a TLS record is recognised instead of lost.
//!
//! Once connected it can check topics (SUBACK, PUBACK, and a round trip, the only way to see a
//! silent ACL denial) and hold the connection to see whether the broker drops it. It leaves
//! nothing behind: a random client id unless told otherwise, clean start with session expiry 0,
//! non-retained messages, and a DISCONNECT at the end.

use std::time::Duration;

// tokio's clock throughout the exchange, so that the fuzz target's paused clock drives it.
use tokio::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    ConnAckProperties, Connect, ConnectProperties, Disconnect, DisconnectReasonCode, Filter, Login,
    PubAckProperties, Publish, SubAckProperties, Subscribe,
};
use serde_json::{Map, Value, json};

use crate::brokers::Mqtt5Answer;
use crate::config::{DoctorConfig, MqttVersion};
use crate::findings::registry as r;
use crate::findings::{Finding, FindingDef, Status, millis};
use crate::observations::ConnackFacts;
use crate::reason_codes::{self, Broker, CodeQuery, Protocol};
use crate::secret::{MAX_PEER_TEXT, peer_text};
use crate::stages::context::{Budget, Context, StageOutput};
use crate::stages::{tcp, tls};
use crate::transport::probe::{self, Idle, PlainReply};
use crate::transport::websocket::bytes::PingFlood;
use crate::transport::{Peer, ProxyHeader};
use crate::wire::{self, Frame, ReadError, SendError, Wire, hex, packet_name};

mod explain;
mod latency;
mod session;
mod sys;

use explain::{
    BrokerGuess, connack_finding, disconnect_reason, not_mqtt, nothing_back, ranked_fix,
};
use session::Session;

/// AUTH packets from the broker, of any reason code, the doctor takes before a CONNACK; past
/// them it gives up. Every AUTH counts, not only "continue authentication": a broker that sends
/// any other AUTH before its CONNACK breaks the protocol and must not keep the doctor reading.
pub(super) const MAX_AUTH_ROUNDS: usize = 4;

/// Lines of the AUTH exchange kept as evidence; the rest are counted.
pub(super) const MAX_AUTH_EVIDENCE: usize = 8;

/// MQTT strings and binary data carry a 16-bit length.
pub(super) const MAX_MQTT_BYTES: usize = u16::MAX as usize;

pub(super) const PACKET_CONNACK: u8 = 2;

pub(super) const PACKET_PUBLISH: u8 = 3;

pub(super) const PACKET_PUBACK: u8 = 4;

pub(super) const PACKET_SUBACK: u8 = 9;

pub(super) const PACKET_PINGRESP: u8 = 13;

pub(super) const PACKET_DISCONNECT: u8 = 14;

pub(super) const PACKET_AUTH: u8 = 15;

/// What the client sends to authenticate, resolved from the auth stage.
#[derive(Clone)]
pub(super) struct Sent {
    pub(super) username: Option<String>,
    /// The password, or the token sent as the password.
    pub(super) password: Option<String>,
    pub(super) password_is_token: bool,
    pub(super) method: Option<String>,
    pub(super) token: Option<Bytes>,
}

impl Sent {
    pub(super) fn sends_credentials(&self) -> bool {
        self.username.is_some() || self.password.is_some() || self.method.is_some()
    }

    pub(super) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(user) = &self.username {
            parts.push(format!("username {user}"));
        }
        if self.password.is_some() {
            parts.push(if self.password_is_token {
                "the token as password".to_string()
            } else {
                "a password".to_string()
            });
        }
        if let Some(method) = &self.method {
            parts.push(format!(
                "authentication method {method}{}",
                if self.token.is_some() {
                    " with the token as data"
                } else {
                    ""
                }
            ));
        }
        if parts.is_empty() {
            "no credentials (anonymous)".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A CONNACK as received.
#[derive(Debug)]
pub(super) struct Connack {
    /// The format of the answer, which may differ from the CONNECT's.
    pub(super) protocol: Protocol,
    pub(super) sent: Protocol,
    pub(super) code: u8,
    pub(super) session_present: bool,
    pub(super) properties: Option<ConnAckProperties>,
    /// The properties could not be decoded: what was wrong.
    pub(super) properties_error: Option<String>,
    pub(super) raw: String,
}

/// How an attempt to connect ended.
pub(super) enum Answer {
    Connack {
        wire: Wire,
        /// Boxed: the CONNACK's properties would make every other answer as large.
        connack: Box<Connack>,
    },
    /// The connection ended, or stayed silent, without a CONNACK.
    Nothing {
        what: Silence,
        /// From CONNECT sent to the end.
        after: Duration,
    },
    /// Something came back that is not an MQTT answer to a CONNECT.
    NotMqtt(NotMqtt),
    /// The TLS layer failed on the first read (an alert after a TLS 1.3 handshake).
    TlsFailure(Finding),
    /// The CONNECT could not even be sent.
    SendFailed(SendError),
    /// The WebSocket server flooded pings instead of answering.
    PingFlood { pings: u64, after: Duration },
}

pub(super) enum Silence {
    Closed,
    Reset(std::io::ErrorKind),
    TimedOut(Budget),
    /// Part of a frame arrived, then nothing more within the timeout (a slowloris peer).
    Stalled {
        budget: Budget,
        received: Vec<u8>,
    },
    /// Bytes arrived but the frame never completed.
    Cut(Vec<u8>),
    /// A DISCONNECT instead of a CONNACK.
    Disconnected {
        code: u8,
        raw: String,
    },
    /// The broker kept sending AUTH packets: `packets` of them, `continues` asking for more
    /// authentication data, none completing it.
    AuthLoop {
        packets: usize,
        continues: usize,
    },
    /// The step ended during the AUTH exchange, after `packets` AUTH packets from the broker
    /// (`continues` of them asking for more), none completing authentication.
    AuthCut {
        budget: Budget,
        packets: usize,
        continues: usize,
    },
}

pub(super) enum NotMqtt {
    Http(String),
    Tls(Vec<u8>),
    TooLarge {
        packet_type: u8,
        claimed: usize,
    },
    BadLength(Vec<u8>),
    /// The first bytes, and how many there were in all.
    Garbage {
        received: Vec<u8>,
        total: usize,
    },
    Unexpected {
        frame: Frame,
    },
    Malformed {
        frame: Frame,
        problem: String,
    },
}

/// One attempt, with what the stage reports about it.
pub(super) struct Attempt {
    pub(super) protocol: Protocol,
    pub(super) answer: Answer,
    /// AUTH packets exchanged before the answer.
    pub(super) auth_rounds: Vec<String>,
    pub(super) started: Instant,
}

/// The AUTH exchange as evidence: the first [`MAX_AUTH_EVIDENCE`] lines, then a count.
#[derive(Default)]
struct AuthLog {
    lines: Vec<String>,
    left_out: usize,
}

impl AuthLog {
    fn push(&mut self, line: String) {
        if self.lines.len() < MAX_AUTH_EVIDENCE {
            self.lines.push(line);
        } else {
            self.left_out += 1;
        }
    }

    fn into_lines(mut self) -> Vec<String> {
        if self.left_out > 0 {
            self.lines
                .push(format!("… and {} more AUTH packets", self.left_out));
        }
        self.lines
    }
}

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
    let config = ctx.config;
    if let Some(why) = ctx.credentials.as_ref().and_then(|c| c.unusable.as_deref()) {
        return StageOutput::not_applicable(format!("not connecting: {why} (see auth)"));
    }
    let Some(connection) = ctx.connection.take() else {
        return StageOutput::not_applicable("no connection to speak MQTT over");
    };
    let peer = connection.peer;
    let mut sent = match what_to_send(ctx) {
        Ok(sent) => sent,
        Err(why) => return StageOutput::not_applicable(format!("not connecting: {why}")),
    };
    let mut findings = Vec::new();
    let mut client_id = match &config.mqtt.client_id {
        Some(id) => {
            findings.push(client_id_warning(id));
            id.clone()
        }
        None => probe::random_client_id(),
    };

    // Enhanced authentication does not exist in 3.1.1: a 3.1.1 attempt goes without it.
    let plain = Sent {
        method: None,
        token: None,
        ..sent.clone()
    };
    let (mut attempt, fallback) = match config.mqtt.version {
        MqttVersion::Auto => {
            auto_connect(ctx, connection.stream, &peer, &client_id, &sent, &plain).await
        }
        MqttVersion::V311 => {
            let wire = Wire::new(connection.stream);
            let attempt = connect(ctx, wire, Protocol::V311, &client_id, &sent).await;
            (attempt, None)
        }
        MqttVersion::V5 => {
            let wire = Wire::new(connection.stream);
            let attempt = connect(ctx, wire, Protocol::V5, &client_id, &sent).await;
            (attempt, None)
        }
    };
    let mut mqtt5_answer = None;
    if let Some(fallback) = fallback {
        let mut detail = format!(
            "The broker does not speak MQTT 5: it {}. The doctor connected again with MQTT \
             3.1.1, and the broker answered that.",
            fallback.why
        );
        if sent.method.is_some() {
            detail.push_str(
                " Enhanced authentication (--auth-method) needs MQTT 5, so the retry sent no \
                 authentication method.",
            );
        }
        findings.push(
            Finding::new(&r::MQTT_V311_ONLY, detail)
                .with_evidence("mqtt5_answer", fallback.why)
                .with_fix(
                    "Nothing to fix for the doctor; give --mqtt-version 3.1.1 to skip the MQTT 5 \
                     attempt, and configure MQTT 3.1.1 in clients of this broker.",
                ),
        );
        client_id = fallback.client_id;
        sent = plain;
        mqtt5_answer = fallback.answer;
    }

    let broker = BrokerGuess::before_connack(config, &peer, &sent, mqtt5_answer);
    let protocol = attempt.protocol;
    let auth_rounds = std::mem::take(&mut attempt.auth_rounds);
    let elapsed = attempt.started.elapsed();
    match attempt.answer {
        Answer::Connack { wire, connack } => {
            let mut broker = broker.refine(&connack);
            // A refusal that leaves the family unknown: how it answers MQTT 3.1 may tell, and
            // the fixes that follow are then the family's own. A successful run asks nothing.
            if broker.worth_asking_mqtt31() {
                let window = Budget::new(MQTT31_WINDOW, ctx.budget().until);
                let reply = probe::mqtt31_connect(ctx.reconnect(&peer), window).await;
                broker = broker.with_mqtt31(&reply);
            }
            ctx.observed.connack_ms = Some(millis(elapsed));
            ctx.observed.connack = Some(ConnackFacts {
                protocol: match protocol {
                    Protocol::V5 => "5",
                    Protocol::V311 => "3.1.1",
                }
                .to_string(),
                code: connack.code,
                capabilities: explain::capabilities_of(connack.properties.as_ref()),
                broker: broker.broker.map(|b| b.name().to_string()),
                broker_confidence: Some(broker.confidence()),
            });
            let mut finding = connack_finding(&connack, &broker, &sent, &auth_rounds, elapsed);
            if connack.code != 0 {
                let summary = format!(
                    "{} refused with {} {}: {}",
                    protocol_label(protocol),
                    code_kind(protocol),
                    code_label(protocol, connack.code),
                    code_name(protocol, connack.code)
                );
                findings.push(finding);
                wire.close(ctx.budget().until).await;
                return StageOutput::done(summary, findings);
            }
            finding = finding.with_evidence("client_id", client_id.as_str());
            let connected = findings.len();
            findings.push(finding);
            // A Server Keep Alive in the CONNACK replaces the keepalive the client asked for.
            let keepalive = connack
                .properties
                .as_ref()
                .and_then(|p| p.server_keep_alive)
                .unwrap_or(config.mqtt.keepalive);
            let mut session = Session {
                wire,
                protocol,
                next_packet_id: 1,
                keepalive,
                timings: session::Timings::default(),
                gone: false,
            };
            let mut summary = format!(
                "{} connected in {:.1} ms",
                protocol_label(protocol),
                millis(elapsed)
            );
            // The broker's $SYS version may name it where the CONNACK did not; asked beside
            // the topic checks, on its own connection (sys.rs).
            let asks_sys = !config.mqtt.subscribe.is_empty() && broker.worth_asking_sys();
            let sys_version = async {
                match asks_sys {
                    true => sys::version(ctx, &peer, protocol, &sent).await,
                    false => None,
                }
            };
            let topics = async {
                match !config.mqtt.subscribe.is_empty() || !config.mqtt.publish.is_empty() {
                    true => Some(session.topic_checks(ctx, &client_id, &broker).await),
                    false => None,
                }
            };
            let (sys_version, topics) = tokio::join!(sys_version, topics);
            if let Some(seen) = sys_version {
                broker = broker.with_sys_version(seen.topic, seen.text);
                if let Some(facts) = ctx.observed.connack.as_mut() {
                    facts.broker = broker.broker.map(|b| b.name().to_string());
                    facts.broker_confidence = Some(broker.confidence());
                }
                let finding = std::mem::replace(
                    &mut findings[connected],
                    Finding::new(&r::MQTT_CONNECTED, String::new()),
                );
                findings[connected] = finding
                    .with_evidence("broker", broker.describe())
                    .with_evidence("broker_confidence", broker.confidence().as_str());
            }
            if let Some((topic_summary, topic_findings)) = topics {
                summary.push_str(&format!(", {topic_summary}"));
                let lost = session.gone
                    || topic_findings
                        .iter()
                        .any(|f| f.def.id == r::SESSION_DROPPED.id);
                findings.extend(topic_findings);
                if lost {
                    return StageOutput::done(summary, findings);
                }
            }
            let (hold_summary, hold_finding) = session.hold(ctx, &broker).await;
            summary.push_str(&format!(", {hold_summary}"));
            let dropped = hold_finding.status != Status::Pass;
            findings.push(hold_finding);
            // The waterfall's last steps, and the Nagle check (latency.rs), which needs this
            // session gone before it connects with the same client id.
            ctx.observed.puback_ms = session.timings.puback.map(millis);
            ctx.observed.ping_ms = session.timings.ping.map(millis);
            if !dropped {
                session.disconnect(ctx.budget().until).await;
                let nagle = latency::check(ctx, &peer, protocol, &client_id, &sent, &broker);
                findings.extend(nagle.await);
            }
            StageOutput::done(summary, findings)
        }
        Answer::Nothing { what, after } => {
            // Boxed: the four probes side by side make a large future, which would otherwise
            // grow every run's stack frame though only failing runs ask them.
            let follow_up = Box::pin(follow_up(ctx, &peer, &what)).await;
            let connect = Unanswered {
                what,
                after,
                protocol,
                auth_rounds: &auth_rounds,
                bare_password: protocol == Protocol::V311
                    && sent.password.is_some()
                    && sent.username.is_none(),
            };
            let finding = nothing_back(config, &peer, connect, &follow_up);
            let summary = finding.def.title.to_string();
            findings.push(finding);
            StageOutput::done(summary, findings)
        }
        Answer::NotMqtt(what) => {
            let tls_answer = match what {
                NotMqtt::Tls(_) => tls_answer(ctx, &peer).await,
                _ => None,
            };
            let finding = not_mqtt(config, &peer, what, tls_answer);
            let summary = finding.def.title.to_string();
            findings.push(finding);
            StageOutput::done(summary, findings)
        }
        Answer::PingFlood { pings, after } => {
            let finding = explain::ping_flood(&peer, pings, after, protocol);
            let summary = finding.def.title.to_string();
            findings.push(finding);
            StageOutput::done(summary, findings)
        }
        Answer::TlsFailure(finding) => {
            let summary = finding.def.title.to_string();
            findings.push(finding);
            StageOutput::done(summary, findings)
        }
        Answer::SendFailed(error) => {
            findings.push(
                Finding::new(
                    &r::MQTT_NO_CONNACK,
                    format!(
                        "The CONNECT could not be sent to {peer}: {}. The connection was lost \
                         right after it was opened.",
                        error.describe()
                    ),
                )
                .with_fix(
                    "The peer accepts connections and drops them at once: check the broker's log \
                     and connection limits, and any load balancer in front of it.",
                ),
            );
            StageOutput::done("the CONNECT could not be sent", findings)
        }
    }
}

/// Resolves what to send from the auth stage's reading.
fn what_to_send(ctx: &Context<'_>) -> Result<Sent, String> {
    let method = ctx.config.mqtt.auth_method.clone();
    let credentials = ctx.credentials.clone().unwrap_or_default();
    let token = credentials.token;
    let (password, password_is_token) = match (credentials.password, &token, &method) {
        (Some(password), _, _) => (Some(password), false),
        (None, Some(token), None) => (Some(token.clone()), true),
        _ => (None, false),
    };
    let password = password
        .map(|p| {
            String::from_utf8(p.expose().to_vec()).map_err(|_| {
                "the password is not UTF-8 text, which the doctor cannot send".to_string()
            })
        })
        .transpose()?;
    if password.as_ref().is_some_and(|p| p.len() > MAX_MQTT_BYTES) {
        return Err("the password is longer than MQTT allows (65535 bytes)".into());
    }
    let token = match (&method, token) {
        (Some(_), Some(token)) if token.len() > MAX_MQTT_BYTES => {
            return Err(
                "the token is longer than MQTT authentication data allows (65535 bytes)".into(),
            );
        }
        (Some(_), Some(token)) => Some(Bytes::copy_from_slice(token.expose())),
        _ => None,
    };
    Ok(Sent {
        username: credentials.username,
        password,
        password_is_token,
        method,
        token,
    })
}

fn client_id_warning(id: &str) -> Finding {
    Finding::new(
        &r::MQTT_CLIENT_ID_GIVEN,
        format!(
            "The doctor connects with the client id \"{id}\" as asked. A broker allows one \
             connection per client id: a device connected with this id now is disconnected (a \
             session takeover), and if it reconnects it kicks the doctor off in turn."
        ),
    )
    .with_evidence("client_id", id)
    .with_fix(
        "Leave out --client-id unless the broker only admits this id (an ACL or a certificate \
         bound to it); the default is a random mqtt-doctor-… id that no device uses.",
    )
}

/// Sends CONNECT and reads until the broker's answer, going through any AUTH exchange.
async fn connect(
    ctx: &Context<'_>,
    wire: Wire,
    protocol: Protocol,
    client_id: &str,
    sent: &Sent,
) -> Attempt {
    let started = Instant::now();
    let mut auth = AuthLog::default();
    let answer = exchange(ctx, wire, protocol, client_id, sent, started, &mut auth).await;
    Attempt {
        protocol,
        answer,
        auth_rounds: auth.into_lines(),
        started,
    }
}

/// The CONNECT exchange proper, as one step: from the CONNECT to the CONNACK, AUTH rounds
/// included, within one [`Budget`]; AUTH packets seen and sent are logged in `auth`.
async fn exchange(
    ctx: &Context<'_>,
    mut wire: Wire,
    protocol: Protocol,
    client_id: &str,
    sent: &Sent,
    started: Instant,
    auth: &mut AuthLog,
) -> Answer {
    let budget = ctx.budget();
    let mut packets = 0;
    let mut continues = 0;
    let packet = connect_packet(ctx.config, protocol, client_id, sent);
    if let Err(error) = wire.send(&packet, budget.until).await {
        return Answer::SendFailed(error);
    }
    loop {
        let frame = match wire.read_frame_until(budget.until).await {
            Ok(None) => {
                let received = wire.pending();
                let what = if packets > 0 {
                    Silence::AuthCut {
                        budget,
                        packets,
                        continues,
                    }
                } else if received.is_empty() {
                    Silence::TimedOut(budget)
                } else {
                    Silence::Stalled {
                        budget,
                        received: received.to_vec(),
                    }
                };
                return Answer::Nothing {
                    what,
                    after: started.elapsed(),
                };
            }
            Err(error) => {
                return read_failure(ctx, error, started);
            }
            Ok(Some(frame)) => frame,
        };
        match frame.packet_type() {
            PACKET_CONNACK => {
                return match parse_connack(&frame, protocol) {
                    Ok(connack) => Answer::Connack {
                        wire,
                        connack: Box::new(connack),
                    },
                    Err(problem) => Answer::NotMqtt(NotMqtt::Malformed { frame, problem }),
                };
            }
            PACKET_AUTH if protocol == Protocol::V5 => {
                let Some(packet) = parse_auth(frame.body()) else {
                    return Answer::NotMqtt(NotMqtt::Malformed {
                        problem: "an AUTH packet whose properties do not decode".into(),
                        frame,
                    });
                };
                packets += 1;
                let reason = packet.reason;
                auth.push(format!(
                    "broker: AUTH 0x{reason:02X} method {:?}, {} bytes of data",
                    packet.method.as_deref().unwrap_or_default(),
                    packet.data_len
                ));
                if reason == 0x18 {
                    continues += 1;
                }
                if packets > MAX_AUTH_ROUNDS {
                    return Answer::Nothing {
                        what: Silence::AuthLoop { packets, continues },
                        after: started.elapsed(),
                    };
                }
                if reason != 0x18 {
                    continue;
                }
                let method = sent.method.clone().or(packet.method).unwrap_or_default();
                let data = sent.token.clone().unwrap_or_default();
                auth.push(format!(
                    "doctor: AUTH continue method {method:?}, the token again ({} bytes)",
                    data.len()
                ));
                if let Err(error) = wire.send(&auth_packet(&method, &data), budget.until).await {
                    return Answer::SendFailed(error);
                }
            }
            PACKET_DISCONNECT => {
                return Answer::Nothing {
                    what: Silence::Disconnected {
                        code: frame.body().first().copied().unwrap_or(0),
                        raw: frame.hex(),
                    },
                    after: started.elapsed(),
                };
            }
            _ => {
                return Answer::NotMqtt(NotMqtt::Unexpected { frame });
            }
        }
    }
}

/// How long a follow-up connection on which nothing is sent waits for the server to close it. A
/// server that refuses connections (a connection limit, an allowlist, a load balancer with no
/// backend) closes them at once; a broker waits for the CONNECT far longer than this.
const IDLE_WINDOW: Duration = Duration::from_secs(1);

/// How long the MQTT 3.1 question that may name the family after a refusal waits: a broker
/// answers a CONNECT without credentials at once, and one that does not only leaves the family
/// unknown, so the run is not held for a whole step.
const MQTT31_WINDOW: Duration = Duration::from_secs(1);

/// A CONNECT that got no CONNACK, as the finding tells it.
pub(super) struct Unanswered<'a> {
    pub(super) what: Silence,
    pub(super) after: Duration,
    pub(super) protocol: Protocol,
    pub(super) auth_rounds: &'a [String],
    /// An MQTT 3.1.1 CONNECT with a password and no username, which the spec forbids.
    pub(super) bare_password: bool,
}

/// What the follow-up connections found after a CONNECT that got no CONNACK.
#[derive(Debug, Default)]
pub(super) struct FollowUp {
    /// A plain CONNECT was closed and the port answered a TLS handshake: that answer.
    pub(super) tls: Option<String>,
    /// The PROXY headers behind which a CONNECT got a CONNACK, with its return code.
    pub(super) proxy: Vec<(ProxyHeader, u8)>,
    /// What a connection on which nothing was sent saw (asked when the CONNECT was closed).
    pub(super) idle: Option<Idle>,
    /// What a minimal MQTT 3.1.1 CONNECT got (asked when the CONNECT was closed).
    pub(super) minimal: Option<PlainReply>,
}

/// On a plain target, whether the port answers a TLS handshake on a new connection, and how:
/// a plain CONNECT met by a close or a TLS record may have been sent to a TLS port.
async fn tls_answer(ctx: &Context<'_>, peer: &Peer) -> Option<String> {
    if ctx.config.uses_tls() {
        return None;
    }
    let name = tls::probe_name(ctx.config, peer);
    probe::speaks_tls(&ctx.dialer, name, peer, ctx.budget()).await
}

/// The questions that tell apart the causes of a CONNECT without a CONNACK, each on a new
/// connection opened as the stages opened theirs, all at once within one more step: does a plain
/// port speak TLS? Does the CONNECT get a CONNACK behind a PROXY header? Is a connection closed
/// when nothing is sent? Does a minimal CONNECT get one? Nothing is asked after a CONNACK, so a
/// healthy run opens no extra connection.
async fn follow_up(ctx: &Context<'_>, peer: &Peer, what: &Silence) -> FollowUp {
    let config = ctx.config;
    let closed = matches!(what, Silence::Closed | Silence::Reset(_));
    if !closed && !matches!(what, Silence::TimedOut(_)) {
        return FollowUp::default();
    }
    if closed && let Some(answer) = tls_answer(ctx, peer).await {
        return FollowUp {
            tls: Some(answer),
            ..FollowUp::default()
        };
    }
    let budget = ctx.budget();
    // A CONNACK behind a header settles the question: the idle connection's wait is cut short.
    let settled = tokio::sync::Notify::new();
    let behind = |header| {
        let settled = &settled;
        async move {
            let reply = probe::plain_connect(
                ctx.dialer.reconnect_with(config, peer, Some(header)),
                budget,
            )
            .await;
            if matches!(reply, PlainReply::Connack(_)) {
                settled.notify_one();
            }
            reply
        }
    };
    let idle = async {
        if closed {
            let window = Budget::new(IDLE_WINDOW, budget.until);
            tokio::select! {
                idle = probe::idle(ctx.reconnect(peer), window) => Some(idle),
                () = settled.notified() => None,
            }
        } else {
            None
        }
    };
    let minimal = async {
        if closed {
            Some(probe::plain_connect(ctx.reconnect(peer), budget).await)
        } else {
            None
        }
    };
    let (v1, v2, idle, minimal) = tokio::join!(
        behind(ProxyHeader::V1),
        behind(ProxyHeader::V2),
        idle,
        minimal
    );
    let proxy = [(ProxyHeader::V1, v1), (ProxyHeader::V2, v2)]
        .into_iter()
        .filter_map(|(header, reply)| match reply {
            PlainReply::Connack(code) => Some((header, code)),
            _ => None,
        })
        .collect();
    FollowUp {
        tls: None,
        proxy,
        idle,
        minimal,
    }
}

fn read_failure(ctx: &Context<'_>, error: ReadError, started: Instant) -> Answer {
    let after = started.elapsed();
    match error {
        ReadError::Closed { received } if received.is_empty() => Answer::Nothing {
            what: Silence::Closed,
            after,
        },
        ReadError::Closed { received } => Answer::Nothing {
            what: Silence::Cut(received),
            after,
        },
        ReadError::Io { error, received } => {
            if let Some(finding) = tls::alert_after_handshake(ctx.config, &error) {
                return Answer::TlsFailure(finding);
            }
            if let Some(flood) = PingFlood::behind(&error) {
                return Answer::PingFlood {
                    pings: flood.pings,
                    after,
                };
            }
            if received.is_empty() {
                Answer::Nothing {
                    what: Silence::Reset(error.kind()),
                    after,
                }
            } else {
                Answer::Nothing {
                    what: Silence::Cut(received),
                    after,
                }
            }
        }
        ReadError::Tls { received } => Answer::NotMqtt(NotMqtt::Tls(received)),
        ReadError::Http { status_line } => Answer::NotMqtt(NotMqtt::Http(status_line)),
        ReadError::TooLarge {
            packet_type,
            claimed,
        } => Answer::NotMqtt(NotMqtt::TooLarge {
            packet_type,
            claimed,
        }),
        ReadError::BadLength { received } => Answer::NotMqtt(NotMqtt::BadLength(received)),
        ReadError::NotAnAnswer { received, total } => {
            Answer::NotMqtt(NotMqtt::Garbage { received, total })
        }
    }
}

/// Why a retry with MQTT 3.1.1 is worth it after an MQTT 5 attempt, in words.
/// How long an MQTT 5 CONNECT may go unanswered before a 3.1.1 one is sent beside it (a quarter
/// of the step, at most this): brokers that do not speak MQTT 5 may wait in silence for bytes
/// that never come (amqtt does), and the 3.1.1 attempt must not wait for the whole step.
const SILENCE_GRACE: Duration = Duration::from_secs(1);

/// The 3.1.1 CONNECT that replaced an MQTT 5 one in auto mode, and why.
struct Fallback {
    /// What the broker did with the MQTT 5 CONNECT.
    why: String,
    /// The same, typed, for recognising the broker.
    answer: Option<Mqtt5Answer>,
    /// The client id the 3.1.1 session has (its own, when it ran beside the MQTT 5 one).
    client_id: String,
}

/// A 3.1.1 CONNECT on a new connection opened as the stages opened theirs. `None` when the
/// connection could not be opened.
async fn connect_311(
    ctx: &Context<'_>,
    peer: &Peer,
    client_id: String,
    plain: &Sent,
) -> Option<Attempt> {
    let budget = ctx.budget();
    let stream = budget.run(ctx.reconnect(peer)).await?.ok()?;
    Some(connect(ctx, Wire::new(stream), Protocol::V311, &client_id, plain).await)
}

/// Auto mode: the MQTT 5 CONNECT, and the 3.1.1 one that replaces it when the broker closes on
/// MQTT 5, answers it as a 3.1.1 broker, refuses its version, or stays silent. A broker silent
/// for a short part of the step is asked in 3.1.1 beside the MQTT 5 wait, on a new connection
/// with a client id of its own (the two sessions must not take each other over), and the first
/// CONNACK wins; the other connection is closed. With a client id given, the two ask one after
/// the other.
async fn auto_connect(
    ctx: &Context<'_>,
    stream: Box<dyn crate::transport::Transport>,
    peer: &Peer,
    client_id: &str,
    sent: &Sent,
    plain: &Sent,
) -> (Attempt, Option<Fallback>) {
    let started = Instant::now();
    let v5 = connect(ctx, Wire::new(stream), Protocol::V5, client_id, sent);
    tokio::pin!(v5);
    let grace = (ctx.config.timeout / 4).min(SILENCE_GRACE);
    let mut beside = None;
    // A 3.1.1 attempt beside the MQTT 5 one that got no CONNACK: not asked again.
    let mut asked_311 = false;
    let attempt = if ctx.config.mqtt.client_id.is_some() {
        (&mut v5).await
    } else {
        match tokio::time::timeout(grace, &mut v5).await {
            Ok(attempt) => attempt,
            Err(_) => {
                let retry_id = probe::random_client_id();
                let mut v311 = Box::pin(connect_311(ctx, peer, retry_id.clone(), plain));
                tokio::select! {
                    attempt = &mut v5 => {
                        beside = Some((retry_id, v311));
                        attempt
                    }
                    retry = &mut v311 => match retry {
                        Some(retry) if matches!(retry.answer, Answer::Connack { .. }) => {
                            let why = format!(
                                "did not answer the MQTT 5 CONNECT in {:.1} s, while a 3.1.1 \
                                 CONNECT sent after {:.1} s was answered",
                                started.elapsed().as_secs_f64(),
                                grace.as_secs_f64()
                            );
                            let fallback = Fallback {
                                why,
                                answer: Some(Mqtt5Answer::Silent),
                                client_id: retry_id,
                            };
                            return (retry, Some(fallback));
                        }
                        _ => {
                            asked_311 = true;
                            (&mut v5).await
                        }
                    },
                }
            }
        }
    };
    let Some(why) = only_311(&attempt).filter(|_| !asked_311) else {
        return (attempt, None);
    };
    let (retry_id, retry) = match beside {
        Some((id, v311)) => (id, v311.await),
        None => {
            let id = client_id.to_string();
            (id.clone(), connect_311(ctx, peer, id, plain).await)
        }
    };
    match retry {
        Some(retry) if matches!(retry.answer, Answer::Connack { .. }) => {
            let fallback = Fallback {
                why,
                answer: explain::mqtt5_answer(&attempt),
                client_id: retry_id,
            };
            (retry, Some(fallback))
        }
        _ => (attempt, None),
    }
}

fn only_311(attempt: &Attempt) -> Option<String> {
    if attempt.protocol != Protocol::V5 {
        return None;
    }
    match &attempt.answer {
        Answer::Connack { connack, .. } if connack.protocol == Protocol::V311 => Some(format!(
            "answered the MQTT 5 CONNECT with a 3.1.1-format CONNACK (return code {}, bytes {})",
            connack.code, connack.raw
        )),
        Answer::Connack { connack, .. } if connack.code == 0x84 => {
            Some("refused the MQTT 5 CONNECT with 0x84 (unsupported protocol version)".into())
        }
        Answer::Nothing {
            what: Silence::Closed | Silence::Reset(_),
            ..
        } => Some("closed the connection on the MQTT 5 CONNECT without a CONNACK".into()),
        Answer::Nothing {
            what: Silence::TimedOut(budget),
            ..
        } => Some(format!(
            "did not answer the MQTT 5 CONNECT within {}",
            budget.describe()
        )),
        _ => None,
    }
}

fn connect_packet(
    config: &DoctorConfig,
    protocol: Protocol,
    client_id: &str,
    sent: &Sent,
) -> Vec<u8> {
    let mut out = BytesMut::new();
    let keep_alive = config.mqtt.keepalive;
    match protocol {
        Protocol::V5 => {
            let mut properties = ConnectProperties::new();
            properties.authentication_method = sent.method.clone();
            properties.authentication_data = sent.token.clone();
            let connect = Connect {
                keep_alive,
                client_id: client_id.to_string(),
                clean_start: true,
                properties: Some(properties),
            };
            let credentials = (sent.username.is_some() || sent.password.is_some()).then(|| {
                Login::new(
                    sent.username.clone().unwrap_or_default(),
                    sent.password.clone().unwrap_or_default(),
                )
            });
            // Lengths were checked when the login was resolved; nothing else can fail.
            let _ = connect.write(&None, &credentials, &mut out);
        }
        Protocol::V311 => {
            let mut connect = v4::Connect::new(client_id);
            connect.keep_alive = keep_alive;
            connect.clean_session = true;
            if sent.username.is_some() || sent.password.is_some() {
                connect.login = Some(v4::Login::new(
                    sent.username.clone().unwrap_or_default(),
                    sent.password.clone().unwrap_or_default(),
                ));
            }
            let _ = connect.write(&mut out);
        }
    }
    out.to_vec()
}

/// An AUTH packet (rumqttc cannot build one from outside): reason 0x18 continue, method, data.
fn auth_packet(method: &str, data: &[u8]) -> Vec<u8> {
    let method = &method.as_bytes()[..method.len().min(MAX_MQTT_BYTES)];
    let data = &data[..data.len().min(MAX_MQTT_BYTES)];
    let mut properties = vec![0x15];
    properties.extend_from_slice(&(method.len() as u16).to_be_bytes());
    properties.extend_from_slice(method);
    properties.push(0x16);
    properties.extend_from_slice(&(data.len() as u16).to_be_bytes());
    properties.extend_from_slice(data);
    let mut body = vec![0x18];
    wire::write_varint(&mut body, properties.len());
    body.extend(properties);
    let mut packet = vec![0xF0];
    wire::write_varint(&mut packet, body.len());
    packet.extend(body);
    packet
}

fn parse_connack(frame: &Frame, sent: Protocol) -> Result<Connack, String> {
    let body = frame.body();
    if frame.byte1() != 0x20 {
        return Err(format!(
            "a CONNACK with reserved flags set (first byte 0x{:02x})",
            frame.byte1()
        ));
    }
    if body.len() < 2 {
        return Err(format!(
            "a CONNACK of {} bytes; it needs at least 2",
            body.len()
        ));
    }
    let mut connack = Connack {
        protocol: sent,
        sent,
        code: body[1],
        session_present: body[0] & 1 == 1,
        properties: None,
        properties_error: None,
        raw: frame.hex(),
    };
    // An MQTT 5 CONNACK always has a property length; two bytes are the 3.1.1 format.
    if sent == Protocol::V311 || body.len() == 2 {
        connack.protocol = Protocol::V311;
        return Ok(connack);
    }
    let mut rest = Bytes::copy_from_slice(&body[2..]);
    match ConnAckProperties::read(&mut rest) {
        Ok(properties) => connack.properties = properties,
        Err(error) => connack.properties_error = Some(error.to_string()),
    }
    Ok(connack)
}

pub(super) fn protocol_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::V311 => "MQTT 3.1.1",
        Protocol::V5 => "MQTT 5",
    }
}

pub(super) fn code_kind(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::V311 => "return code",
        Protocol::V5 => "reason code",
    }
}

/// `0x87 (135)` for MQTT 5, `5` for 3.1.1.
pub(super) fn code_label(protocol: Protocol, code: u8) -> String {
    match protocol {
        Protocol::V311 => code.to_string(),
        Protocol::V5 => format!("0x{code:02X} ({code})"),
    }
}

pub(super) fn code_name(protocol: Protocol, code: u8) -> &'static str {
    reason_codes::find(CodeQuery {
        value: code,
        protocol: Some(protocol),
    })
    .map_or("not a CONNACK code the protocol defines", |c| c.name)
}

/// An incoming AUTH packet, as far as the doctor needs it.
pub(super) struct AuthPacket {
    reason: u8,
    method: Option<String>,
    data_len: usize,
}

/// Decodes an AUTH body. rumqttc's `Auth::read` miscounts string properties (it leaves out
/// their two length bytes) and rejects every AUTH that carries a method, so the few properties
/// AUTH may carry (spec 3.15.2.2) are read here.
pub(super) fn parse_auth(body: &[u8]) -> Option<AuthPacket> {
    let mut bytes = Bytes::copy_from_slice(body);
    let mut packet = AuthPacket {
        reason: 0,
        method: None,
        data_len: 0,
    };
    if !bytes.has_remaining() {
        return Some(packet);
    }
    packet.reason = bytes.get_u8();
    if !bytes.has_remaining() {
        return Some(packet);
    }
    let length = wire::read_varint(&mut bytes)?;
    if length > bytes.remaining() {
        return None;
    }
    let mut properties = bytes.split_to(length);
    let field = |properties: &mut Bytes| -> Option<Bytes> {
        if properties.remaining() < 2 {
            return None;
        }
        let len = usize::from(properties.get_u16());
        (properties.remaining() >= len).then(|| properties.split_to(len))
    };
    while properties.has_remaining() {
        match properties.get_u8() {
            0x15 => {
                let method = field(&mut properties)?;
                packet.method = Some(peer_text(&String::from_utf8_lossy(&method), MAX_PEER_TEXT));
            }
            0x16 => packet.data_len = field(&mut properties)?.len(),
            0x1F => {
                field(&mut properties)?;
            }
            0x26 => {
                field(&mut properties)?;
                field(&mut properties)?;
            }
            _ => return None,
        }
    }
    Some(packet)
}

/// Every reader the stage applies to a frame from the broker, each for both protocol versions,
/// with the reporting that follows a successful read: the body of the `mqtt_frames` fuzz target.
pub(crate) fn decode_any(frame: &Frame) {
    for protocol in [Protocol::V5, Protocol::V311] {
        if let Ok(connack) = parse_connack(frame, protocol) {
            if let Some(properties) = &connack.properties {
                explain::properties_json(properties);
            }
            explain::capabilities(connack.properties.as_ref());
            code_name(protocol, connack.code);
        }
        if let Some((_, codes, _)) = session::parse_suback(frame, protocol) {
            codes.iter().for_each(|&code| {
                session::suback_reason(code);
            });
        }
        if let Some((_, code, reason)) = session::parse_puback(frame, protocol) {
            session::refusal_meaning(code, session::puback_reason(code), reason.as_deref());
        }
        session::read_publish(frame, protocol);
    }
    if let Some(auth) = parse_auth(frame.body()) {
        code_name(Protocol::V5, auth.reason);
    }
    session::disconnect_properties(frame);
    explain::disconnect_reason(frame.body().first().copied().unwrap_or(0));
    explain::printable(frame.body(), frame.body().len());
    frame.hex();
}
