//! What the MQTT stage's observations mean: a CONNACK code turned into a finding with its causes
//! ranked for the broker in front of us, the broker guessed from what it shows, and the cases
//! where no CONNACK came at all. Kept apart from the exchange itself so that the wording can grow
//! without touching the protocol code.

use super::*;
use crate::brokers::{
    self, Clues, Confidence, Fixes, Mqtt5Answer, Mqtt31Answer, PropertyClues, Recognition,
};
use crate::observations::Capabilities;

/// The finding a CONNACK code maps to.
pub(super) fn connack_def(protocol: Protocol, code: u8) -> &'static FindingDef {
    match (protocol, code) {
        (_, 0) => &r::MQTT_CONNECTED,
        (Protocol::V311, 1) | (Protocol::V5, 0x84) => &r::MQTT_PROTOCOL_UNSUPPORTED,
        (Protocol::V311, 2) | (Protocol::V5, 0x85) => &r::MQTT_CLIENT_ID_REJECTED,
        (Protocol::V311, 3) | (Protocol::V5, 0x88 | 0x89) => &r::MQTT_SERVER_UNAVAILABLE,
        (Protocol::V311, 4) | (Protocol::V5, 0x86) => &r::MQTT_BAD_CREDENTIALS,
        (Protocol::V311, 5) | (Protocol::V5, 0x87) => &r::MQTT_NOT_AUTHORIZED,
        (Protocol::V5, 0x8A) => &r::MQTT_BANNED,
        (Protocol::V5, 0x8C) => &r::MQTT_BAD_AUTH_METHOD,
        (Protocol::V5, 0x97) => &r::MQTT_QUOTA_EXCEEDED,
        (Protocol::V5, 0x9F) => &r::MQTT_RATE_LIMITED,
        (Protocol::V5, 0x9C | 0x9D) => &r::MQTT_REDIRECT,
        _ => &r::MQTT_CONNACK_OTHER,
    }
}

/// The broker we are most likely talking to, and how sure we are: what the doctor observed so
/// far, and the family recognised from it (`crate::brokers::recognise`).
#[derive(Clone, Debug)]
pub(crate) struct BrokerGuess {
    /// The family whose knowledge applies: given, identified or likely; never an unknown one.
    pub(super) broker: Option<Broker>,
    pub(super) seen: Recognition,
    given: Option<Broker>,
    clues: Clues,
}

impl BrokerGuess {
    /// What is known before the CONNACK: the port, the authentication method sent, and how the
    /// broker answered an MQTT 5 CONNECT the doctor then retried in 3.1.1.
    pub(super) fn before_connack(
        config: &DoctorConfig,
        peer: &Peer,
        sent: &Sent,
        mqtt5_answer: Option<Mqtt5Answer>,
    ) -> BrokerGuess {
        let clues = Clues {
            port: peer.port(),
            auth_method: sent.method.clone(),
            username_sent: sent.username.is_some(),
            mqtt5_answer,
            ..Clues::default()
        };
        BrokerGuess::from(config.mqtt.broker, clues)
    }

    fn from(given: Option<Broker>, clues: Clues) -> BrokerGuess {
        let seen = brokers::recognise(given, &clues);
        BrokerGuess {
            broker: seen.applies(),
            seen,
            given,
            clues,
        }
    }

    /// Recognises the broker again with the CONNACK: its code and its properties, their
    /// defaults, the client id it assigned and its reason string.
    pub(super) fn refine(self, connack: &Connack) -> BrokerGuess {
        let mut clues = self.clues;
        clues.connack = Some((connack.protocol, connack.code));
        if clues.mqtt5_answer.is_none()
            && connack.sent == Protocol::V5
            && connack.protocol == Protocol::V311
        {
            clues.mqtt5_answer = Some(Mqtt5Answer::V311Connack(connack.code));
        }
        clues.properties = connack.properties.as_ref().map(|p| PropertyClues {
            capabilities: capabilities_of(Some(p)),
            session_expiry_interval: p.session_expiry_interval,
            assigned_client_identifier: p.assigned_client_identifier.clone(),
            reason_string: p.reason_string.clone(),
            authentication_method: p.authentication_method.clone(),
            count: properties_json(p).as_object().map_or(0, Map::len),
        });
        BrokerGuess::from(self.given, clues)
    }

    /// Whether an MQTT 3.1 CONNECT could still tell the family: the CONNACK refused the doctor
    /// and left it unknown, and nobody named it.
    pub(super) fn worth_asking_mqtt31(&self) -> bool {
        self.given.is_none()
            && self.seen.confidence == Confidence::Unknown
            && self.clues.connack.is_some_and(|(_, code)| code != 0)
            && self.clues.mqtt31_answer.is_none()
    }

    /// Whether the `$SYS` version topic could still tell more: nobody named the family and
    /// nothing identified it.
    pub(super) fn worth_asking_sys(&self) -> bool {
        self.given.is_none() && self.seen.confidence < Confidence::Identified
    }

    /// Recognises the broker again with what its `$SYS` version topic said.
    pub(super) fn with_sys_version(self, topic: String, text: String) -> BrokerGuess {
        let mut clues = self.clues;
        clues.sys_version = Some((topic, text));
        BrokerGuess::from(self.given, clues)
    }

    /// Recognises the broker again with its answer to an MQTT 3.1 CONNECT.
    pub(super) fn with_mqtt31(self, reply: &PlainReply) -> BrokerGuess {
        let mut clues = self.clues;
        clues.mqtt31_answer = Some(match reply {
            PlainReply::Connack(code) => Mqtt31Answer::Connack(*code),
            PlainReply::Closed => Mqtt31Answer::Closed,
            PlainReply::Other(_) | PlainReply::Nothing(_) => Mqtt31Answer::Other,
        });
        BrokerGuess::from(self.given, clues)
    }

    pub(super) fn describe(&self) -> String {
        self.seen.describe()
    }

    pub(super) fn confidence(&self) -> Confidence {
        self.seen.confidence
    }

    /// The fixes for the family, or the ones every broker shares.
    pub(super) fn fixes(&self) -> &'static Fixes {
        brokers::fixes(self.broker)
    }
}

/// How the broker answered an MQTT 5 CONNECT, when that answer says it speaks only 3.1.1.
pub(super) fn mqtt5_answer(attempt: &Attempt) -> Option<Mqtt5Answer> {
    if attempt.protocol != Protocol::V5 {
        return None;
    }
    match &attempt.answer {
        Answer::Connack { connack, .. } if connack.protocol == Protocol::V311 => {
            Some(Mqtt5Answer::V311Connack(connack.code))
        }
        Answer::Nothing {
            what: Silence::Closed | Silence::Reset(_),
            ..
        } => Some(Mqtt5Answer::Closed),
        Answer::Nothing {
            what: Silence::TimedOut(_),
            ..
        } => Some(Mqtt5Answer::Silent),
        _ => None,
    }
}

pub(super) fn connack_finding(
    connack: &Connack,
    broker: &BrokerGuess,
    sent: &Sent,
    auth_rounds: &[String],
    elapsed: Duration,
) -> Finding {
    let protocol = connack.protocol;
    let code = connack.code;
    let label = code_label(protocol, code);
    let entry = reason_codes::find(CodeQuery {
        value: code,
        protocol: Some(protocol),
    });
    let def = connack_def(protocol, code);
    let detail = if code == 0 {
        format!(
            "The broker accepted the {} CONNECT in {:.1} ms{}.",
            protocol_label(protocol),
            millis(elapsed),
            if connack.session_present {
                ", with a session present (a session under this client id survived)"
            } else {
                ""
            }
        )
    } else {
        let mismatch = if connack.sent != protocol {
            format!(
                " The answer is in the MQTT 3.1.1 format ({}): the broker does not speak {}; \
                 give --mqtt-version 3.1.1 (or auto).",
                connack.raw,
                protocol_label(connack.sent)
            )
        } else {
            String::new()
        };
        match entry {
            Some(entry) => format!(
                "The broker refused the {} CONNECT with {} {label}: {}. {}{mismatch}",
                protocol_label(connack.sent),
                code_kind(protocol),
                entry.name,
                entry.meaning
            ),
            None => format!(
                "The broker answered the {} CONNECT with code {label}, which is not a CONNACK code \
                 of that protocol: the broker breaks the specification, or something else speaks \
                 on this port.",
                protocol_label(protocol)
            ),
        }
    };
    let mut finding = Finding::new(def, detail)
        .with_evidence("protocol", protocol_label(protocol))
        .with_evidence("code", code)
        .with_evidence("code_hex", format!("0x{code:02X}"))
        .with_evidence("reason", entry.map_or("undefined", |e| e.name))
        .with_evidence("sent", sent.describe())
        .with_evidence("broker", broker.describe())
        .with_evidence("broker_confidence", broker.confidence().as_str());
    if let Some(reason) = connack
        .properties
        .as_ref()
        .and_then(|p| p.reason_string.as_deref())
    {
        finding = finding.with_evidence("reason_string", peer_text(reason, MAX_PEER_TEXT));
    }
    if let Some(properties) = &connack.properties {
        finding = finding.with_evidence("properties", properties_json(properties));
    }
    if let Some(problem) = &connack.properties_error {
        finding = finding.with_evidence("properties_error", problem.as_str());
    }
    if !auth_rounds.is_empty() {
        finding = finding.with_evidence("auth_exchange", auth_rounds.to_vec());
    }
    finding = finding
        .with_evidence("session_present", connack.session_present)
        .with_evidence("raw", connack.raw.as_str());
    if code == 0 {
        if protocol == Protocol::V5 {
            finding =
                finding.with_evidence("capabilities", capabilities(connack.properties.as_ref()));
        }
        return finding;
    }
    if def.id == r::MQTT_REDIRECT.id {
        let reference = connack
            .properties
            .as_ref()
            .and_then(|p| p.server_reference.clone());
        let reference = reference.map(|r| peer_text(&r, MAX_PEER_TEXT));
        finding = finding.with_evidence(
            "server_reference",
            reference.clone().map_or(Value::Null, Value::from),
        );
        let fix = match reference {
            Some(reference) => format!(
                "Connect to the server the broker names: {reference}. {}",
                if code == 0x9D {
                    "The move is permanent: update the client's configuration."
                } else {
                    "The redirect is temporary (load or maintenance): retry there, keep the configured address."
                }
            ),
            None => "The broker sent no server reference: ask its operator where clients should \
                     connect now."
                .to_string(),
        };
        return finding.with_fix(fix);
    }
    let mut causes = leading_causes(connack, sent, broker.broker);
    let mut more = None;
    if let Some(entry) = entry {
        match broker.broker {
            Some(known) => causes.extend(brokers::ranked_causes(entry, Some(known))),
            // Every broker's own causes, labelled, made a list of ten that sent readers to
            // brokers they do not run: the causes all brokers share, and how to get the rest.
            None => {
                causes.extend(
                    entry
                        .causes
                        .iter()
                        .take(SHARED_CAUSES_SHOWN)
                        .map(|c| c.to_string()),
                );
                more = Some(format!(
                    "The causes ranked for your broker: add --broker with its name ({}); each \
                     family's: mqtt-doctor explain {}.",
                    brokers::names_list(),
                    entry.value
                ));
            }
        }
    }
    if causes.is_empty() {
        causes.push(
            "Compare the broker's log at the time of this run: it names why it refused.".into(),
        );
    }
    let mut fix = ranked_fix(&causes);
    if is_auth_refusal(connack) {
        let on = broker
            .broker
            .map_or("Then".to_string(), |b| format!("On {}", b.name()));
        fix.push_str(&format!("\n{on}: {}", broker.fixes().credentials));
    }
    if let Some(more) = more {
        fix.push('\n');
        fix.push_str(&more);
    }
    finding.with_fix(fix)
}

fn is_auth_refusal(connack: &Connack) -> bool {
    matches!(
        (connack.protocol, connack.code),
        (Protocol::V311, 4 | 5) | (Protocol::V5, 0x86 | 0x87)
    )
}

/// Causes shown for a refusal when the broker is not known: the ones every broker shares.
const SHARED_CAUSES_SHOWN: usize = 3;

/// Causes the facts of this run put first, before the catalog's general ranking.
pub(super) fn leading_causes(
    connack: &Connack,
    sent: &Sent,
    broker: Option<Broker>,
) -> Vec<String> {
    let mut causes = Vec::new();
    if is_auth_refusal(connack) && !sent.sends_credentials() {
        let default = if broker == Some(Broker::Mosquitto) {
            " (Mosquitto 2 defaults to allow_anonymous false)"
        } else {
            ""
        };
        // The broker's own way to find or make a user belongs on the same line: it is the
        // first thing to do after learning that credentials are needed.
        let own = broker
            .map(|b| format!(" On {}: {}", b.name(), brokers::fixes(Some(b)).credentials))
            .unwrap_or_default();
        causes.push(format!(
            "The doctor sent no credentials, and the broker does not admit anonymous \
             clients{default}: give --username and --password, or the token with --token-file.{own}"
        ));
    }
    causes
}

/// User properties shown, at most; a CONNACK may carry thousands within its size.
const MAX_USER_PROPERTIES: usize = 16;

/// The capabilities a CONNACK announced, as numbers and flags.
pub(super) fn capabilities_of(p: Option<&ConnAckProperties>) -> Capabilities {
    let Some(p) = p else {
        return Capabilities::default();
    };
    let flag = |value: Option<u8>| value.map(|v| v != 0);
    Capabilities {
        maximum_packet_size: p.max_packet_size,
        receive_maximum: p.receive_max,
        maximum_qos: p.max_qos,
        retain_available: flag(p.retain_available),
        topic_alias_maximum: p.topic_alias_max,
        wildcard_subscription_available: flag(p.wildcard_subscription_available),
        shared_subscription_available: flag(p.shared_subscription_available),
        subscription_identifiers_available: flag(p.subscription_identifiers_available),
        server_keep_alive: p.server_keep_alive,
    }
}

pub(super) fn properties_json(p: &ConnAckProperties) -> Value {
    let mut map = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            map.insert(key.to_string(), value);
        }
    };
    put(
        "session_expiry_interval",
        p.session_expiry_interval.map(Value::from),
    );
    put("receive_maximum", p.receive_max.map(Value::from));
    put("maximum_qos", p.max_qos.map(Value::from));
    put("retain_available", p.retain_available.map(Value::from));
    put("maximum_packet_size", p.max_packet_size.map(Value::from));
    // Strings the broker chose: cleaned and capped before they reach any report.
    let text = |value: &Option<String>| {
        value
            .as_deref()
            .map(|v| Value::from(peer_text(v, MAX_PEER_TEXT)))
    };
    put(
        "assigned_client_identifier",
        text(&p.assigned_client_identifier),
    );
    put("topic_alias_maximum", p.topic_alias_max.map(Value::from));
    put("reason_string", text(&p.reason_string));
    put(
        "wildcard_subscription_available",
        p.wildcard_subscription_available.map(Value::from),
    );
    put(
        "subscription_identifiers_available",
        p.subscription_identifiers_available.map(Value::from),
    );
    put(
        "shared_subscription_available",
        p.shared_subscription_available.map(Value::from),
    );
    put("server_keep_alive", p.server_keep_alive.map(Value::from));
    put("response_information", text(&p.response_information));
    put("server_reference", text(&p.server_reference));
    put("authentication_method", text(&p.authentication_method));
    put(
        "authentication_data",
        p.authentication_data
            .as_ref()
            .map(|d| Value::from(format!("{} bytes", d.len()))),
    );
    if !p.user_properties.is_empty() {
        let mut shown: Vec<Value> = p
            .user_properties
            .iter()
            .take(MAX_USER_PROPERTIES)
            .map(|(k, v)| {
                json!({
                    "key": peer_text(k, MAX_PEER_TEXT),
                    "value": peer_text(v, MAX_PEER_TEXT),
                })
            })
            .collect();
        if p.user_properties.len() > MAX_USER_PROPERTIES {
            shown.push(json!({
                "left_out": p.user_properties.len() - MAX_USER_PROPERTIES,
            }));
        }
        put("user_properties", Some(Value::from(shown)));
    }
    Value::Object(map)
}

/// The table HiveMQ's `mqtt test` prints: what this broker allows, with the protocol's defaults
/// where the CONNACK leaves a property out.
pub(super) fn capabilities(p: Option<&ConnAckProperties>) -> Value {
    let flag = |value: Option<u8>| match value {
        Some(0) => "no".to_string(),
        Some(_) => "yes".to_string(),
        None => "yes (default)".to_string(),
    };
    let row = |name: &str, value: String| json!({ "capability": name, "value": value });
    let default = ConnAckProperties {
        session_expiry_interval: None,
        receive_max: None,
        max_qos: None,
        retain_available: None,
        max_packet_size: None,
        assigned_client_identifier: None,
        topic_alias_max: None,
        reason_string: None,
        user_properties: Vec::new(),
        wildcard_subscription_available: None,
        subscription_identifiers_available: None,
        shared_subscription_available: None,
        server_keep_alive: None,
        response_information: None,
        server_reference: None,
        authentication_method: None,
        authentication_data: None,
    };
    let p = p.unwrap_or(&default);
    Value::from(vec![
        row(
            "maximum QoS",
            p.max_qos
                .map_or("2 (default)".to_string(), |q| q.to_string()),
        ),
        row("retain available", flag(p.retain_available)),
        row(
            "wildcard subscriptions",
            flag(p.wildcard_subscription_available),
        ),
        row(
            "shared subscriptions",
            flag(p.shared_subscription_available),
        ),
        row(
            "subscription identifiers",
            flag(p.subscription_identifiers_available),
        ),
        row(
            "maximum packet size",
            p.max_packet_size
                .map_or("no limit (default)".to_string(), |s| format!("{s} bytes")),
        ),
        row(
            "receive maximum",
            p.receive_max
                .map_or("65535 (default)".to_string(), |v| v.to_string()),
        ),
        row(
            "topic alias maximum",
            p.topic_alias_max
                .map_or("0 (default)".to_string(), |v| v.to_string()),
        ),
        row(
            "server keep alive",
            p.server_keep_alive
                .map_or("as requested".to_string(), |v| format!("{v} s")),
        ),
        row(
            "assigned client id",
            p.assigned_client_identifier
                .clone()
                .unwrap_or_else(|| "none (ours kept)".to_string()),
        ),
        row(
            "session expiry",
            p.session_expiry_interval
                .map_or("0 s, as requested".to_string(), |v| format!("{v} s")),
        ),
    ])
}

/// No CONNACK: say what the evidence, with the follow-up probes' answers, points to.
pub(super) fn nothing_back(
    config: &DoctorConfig,
    peer: &Peer,
    connect: Unanswered<'_>,
    follow_up: &FollowUp,
) -> Finding {
    let Unanswered {
        what,
        after,
        protocol,
        auth_rounds,
        bare_password,
    } = connect;
    let ended = match &what {
        Silence::Closed => Some("was answered by the broker closing the connection".to_string()),
        Silence::Reset(std::io::ErrorKind::ConnectionReset) => {
            Some("was answered by a connection reset".to_string())
        }
        Silence::Reset(kind) => Some(format!("was answered by a connection reset ({kind})")),
        _ => None,
    };
    if let Some(answer) = &follow_up.tls {
        let ended = ended.as_deref().unwrap_or("got no CONNACK");
        return tls::plain_to_tls_port(config, peer, ended, answer);
    }
    let without = match &what {
        Silence::TimedOut(budget) => format!("got no answer within {}", budget.describe()),
        _ => ended.clone().unwrap_or_else(|| "got no CONNACK".into()),
    };
    if let Some((_, code)) = follow_up.proxy.first() {
        let headers: Vec<ProxyHeader> = follow_up.proxy.iter().map(|(h, _)| *h).collect();
        return tcp::proxy_protocol_expected(
            peer,
            &format!("{} CONNECT", protocol_label(protocol)),
            &without,
            &headers,
            &format!("got a CONNACK (return code {code})"),
        )
        .with_evidence("connack_code", *code);
    }
    if let (Some(ended), Some(idle)) = (&ended, follow_up.idle) {
        if idle.closed() {
            return closed_before_connect(config, peer, idle);
        }
        if idle == Idle::Waits {
            return connect_rejected(
                config.mqtt.broker,
                peer,
                protocol,
                (ended, after),
                follow_up.minimal.as_ref(),
                auth_rounds,
                bare_password,
            );
        }
    }
    let after_text = format!("{:.1} ms", millis(after));
    let (detail, causes): (String, Vec<String>) = match what {
        Silence::Closed | Silence::Reset(_) => (
            format!(
                "{peer} accepted the connection, but the {} CONNECT {} after {after_text}, \
                 without a CONNACK.",
                protocol_label(protocol),
                ended.unwrap_or_default()
            ),
            vec![
                "A load balancer or broker that expects the PROXY protocol header first (HAProxy \
                 `send-proxy`, an AWS NLB with proxy protocol, EMQX `proxy_protocol = true`, \
                 logged as invalid_proxy_info) drops a client that starts with CONNECT: make both \
                 sides agree."
                    .into(),
                "The service on this port is not an MQTT broker, or not the one you meant: check \
                 the port and the Kubernetes Service's targetPort."
                    .into(),
                "The broker rejected the CONNECT before answering: its connection limit \
                 (max_connections), a malformed CONNECT (MQTT 3.1.1 forbids a password without a \
                 username), or a client-certificate check; its log says which."
                    .into(),
            ],
        ),
        Silence::TimedOut(budget) => (
            format!(
                "{peer} accepted the connection but did not answer the {} CONNECT within {}.",
                protocol_label(protocol),
                budget.describe()
            ),
            vec![
                "A load balancer that accepts connections while no backend is healthy (HAProxy, \
                 a cloud load balancer) holds them open in silence: check its backend health."
                    .into(),
                "The broker is overloaded or stuck: check its CPU, its log, and its connection \
                 count."
                    .into(),
                "The port belongs to a service that waits for another protocol (HTTP, PROXY \
                 protocol v2 header): check what listens there."
                    .into(),
            ],
        ),
        Silence::Stalled { budget, received } => (
            format!(
                "{peer} began answering the {} CONNECT ({} bytes so far: {}) but did not finish \
                 the packet within {}.",
                protocol_label(protocol),
                received.len(),
                hex(&received),
                budget.describe()
            ),
            vec![
                "Something on this port sends a byte at a time and never completes a packet (a \
                 tarpit, or a proxy starved of bandwidth): check what listens there."
                    .into(),
                "The broker is overloaded and its writes stall: check its CPU, its log, and its \
                 connection count."
                    .into(),
            ],
        ),
        Silence::Cut(received) => (
            format!(
                "{peer} sent {} bytes that do not complete an MQTT packet ({}) and then stopped, \
                 after {after_text}.",
                received.len(),
                hex(&received)
            ),
            vec![
                "The peer is not an MQTT broker, or the stream is corrupted by something in \
                 between: check what listens on the port."
                    .into(),
            ],
        ),
        Silence::Disconnected { code, raw } => (
            format!(
                "{peer} answered the CONNECT with a DISCONNECT (reason 0x{code:02X}: {}) instead \
                 of a CONNACK; bytes {raw}.",
                disconnect_reason(code)
            ),
            vec![
                "The broker breaks the protocol (a DISCONNECT may only follow a CONNACK); its log \
                 says why it refused the client."
                    .into(),
            ],
        ),
        Silence::AuthCut {
            budget,
            packets,
            continues,
        } => (
            format!(
                "The broker sent {packets} AUTH packet{} ({continues} asking to continue \
                 authentication) and no CONNACK within {}: the exchange did not complete in \
                 time.",
                if packets == 1 { "" } else { "s" },
                budget.describe()
            ),
            vec![
                "The authentication method needs a challenge-response the doctor cannot compute \
                 (it resends the token), or the broker's authenticator is slow: test the method \
                 with the client library that implements it, and check the broker's log."
                    .into(),
            ],
        ),
        Silence::AuthLoop { packets, continues } if continues == packets => (
            format!(
                "The broker kept asking for more authentication data (AUTH continue) and sent no \
                 CONNACK: {packets} AUTH packets in {after_text}, none completing authentication."
            ),
            vec![
                "The authentication method needs a challenge-response the doctor cannot compute \
                 (it resends the token): test it with the client library that implements the \
                 method."
                    .into(),
            ],
        ),
        Silence::AuthLoop { packets, continues } => (
            format!(
                "The broker sent {packets} AUTH packets in {after_text} and no CONNACK; {} of them \
                 asked to continue authentication and {} carried a reason code a broker may not \
                 send before its CONNACK. The doctor takes at most {MAX_AUTH_ROUNDS} before a \
                 CONNACK, and gave up at the next one.",
                continues,
                packets - continues
            ),
            vec![
                "The peer breaks MQTT 5's enhanced authentication (spec 4.12): only AUTH with \
                 reason 0x18 (continue) may precede the CONNACK. It is not a broker, or a broken \
                 or hostile one: check what listens on this port and the broker's version."
                    .into(),
            ],
        ),
    };
    let mut finding = Finding::new(&r::MQTT_NO_CONNACK, detail)
        .with_evidence("waited_ms", millis(after))
        .with_fix(ranked_fix(&causes));
    if !auth_rounds.is_empty() {
        finding = finding.with_evidence("auth_exchange", auth_rounds.to_vec());
    }
    finding
}

/// A second connection, on which the doctor sent nothing, was closed as well: the server
/// refuses connections, whatever they carry.
fn closed_before_connect(config: &DoctorConfig, peer: &Peer, idle: Idle) -> Finding {
    let how = if idle == Idle::Reset {
        "reset"
    } else {
        "closed"
    };
    Finding::new(
        &r::TCP_RESET,
        format!(
            "{peer} accepted the connection and {how} it without a CONNACK; a second connection, \
             on which the doctor sent nothing, was {how} as well. The server refuses connections \
             before reading them: a broker by itself waits for the CONNECT."
        ),
    )
    .with_evidence("addresses", vec![peer.addr.to_string()])
    .with_evidence("idle_connection", how)
    .with_fix(tcp::refused_after_accept_fix(config.mqtt.broker))
}

/// The server waits when nothing is sent, and closed the connection on the CONNECT: it refused
/// what the CONNECT carried, or what came before it.
fn connect_rejected(
    broker: Option<Broker>,
    peer: &Peer,
    protocol: Protocol,
    (ended, after): (&str, Duration),
    minimal: Option<&PlainReply>,
    auth_rounds: &[String],
    bare_password: bool,
) -> Finding {
    let mut detail = format!(
        "The {} CONNECT to {peer} {ended} after {:.1} ms, without a CONNACK, while a second \
         connection on which the doctor sent nothing stayed open: the server refused what it \
         received.",
        protocol_label(protocol),
        millis(after)
    );
    // Mosquitto's and EMQX's settings are examples for a broker nobody named; another family
    // is not told of them.
    let examples = matches!(broker, None | Some(Broker::Mosquitto | Broker::Emqx));
    let causes: Vec<String> = match minimal {
        Some(PlainReply::Connack(code)) => {
            detail.push_str(&format!(
                " A minimal MQTT 3.1.1 CONNECT (no credentials, a new client id) got CONNACK \
                 {code}: the broker drops something this CONNECT carries instead of answering it."
            ));
            let (malformed, too_large) = if examples {
                (
                    "The broker finds the CONNECT malformed: MQTT 3.1.1 forbids a password \
                     without a username, and Mosquitto closes such a connection; a client id \
                     with characters the broker refuses.",
                    "The CONNECT is larger than the broker accepts (Mosquitto \
                     `max_packet_size`, EMQX `mqtt.max_packet_size`): a long token or password, \
                     many properties.",
                )
            } else {
                (
                    "The broker finds the CONNECT malformed: MQTT 3.1.1 forbids a password \
                     without a username, and a broker may close such a connection; a client id \
                     with characters the broker refuses.",
                    "The CONNECT is larger than the broker's maximum packet size: a long token \
                     or password, many properties.",
                )
            };
            // This CONNECT was 3.1.1 with a password and no username: that comes first.
            let (first, second) = if bare_password {
                (malformed, too_large)
            } else {
                (too_large, malformed)
            };
            vec![
                first.into(),
                second.into(),
                "An authentication plugin drops the connection instead of refusing it with a \
                 code: the broker's log says why."
                    .into(),
            ]
        }
        _ => {
            let minimal = minimal.map_or("was not tried".to_string(), |reply| {
                format!("got no CONNACK either ({})", reply.describe())
            });
            detail.push_str(&format!(
                " A minimal MQTT 3.1.1 CONNECT (no credentials, a new client id) {minimal}: the \
                 server closes any MQTT CONNECT."
            ));
            vec![
                "Something in front adds bytes before the client's CONNECT: a load balancer's \
                 PROXY header (HAProxy `send-proxy`, proxy protocol on a cloud load balancer) \
                 that the broker does not expect. Brokers that read the whole first packet close \
                 after the CONNECT arrives. Remove it, or turn on the broker's PROXY support."
                    .into(),
                if examples {
                    "The broker's maximum packet size is smaller than any CONNECT (Mosquitto \
                     `max_packet_size`)."
                } else {
                    "The broker's maximum packet size is smaller than any CONNECT."
                }
                .into(),
                "The service on this port is not an MQTT broker: check the port and the \
                 Kubernetes Service's targetPort."
                    .into(),
            ]
        }
    };
    let mut finding = Finding::new(&r::MQTT_CONNECT_REJECTED, detail)
        .with_evidence("waited_ms", millis(after))
        .with_evidence(
            "minimal_connect",
            minimal.map_or("not tried".to_string(), PlainReply::describe),
        )
        .with_fix(ranked_fix(&causes));
    if !auth_rounds.is_empty() {
        finding = finding.with_evidence("auth_exchange", auth_rounds.to_vec());
    }
    finding
}

/// Not MQTT back. `tls_answer`: on a plain target answered with a TLS record, what a TLS
/// handshake on a new connection got (the stage asks it, in `tls_answer`).
pub(super) fn not_mqtt(
    config: &DoctorConfig,
    peer: &Peer,
    what: NotMqtt,
    tls_answer: Option<String>,
) -> Finding {
    let host = config.target.host.to_string();
    let port = peer.port();
    match what {
        NotMqtt::Http(status_line) => Finding::new(
            &r::MQTT_NOT_MQTT,
            format!(
                "{peer} answered the CONNECT with HTTP (\"{status_line}\"): this port is a \
                 WebSocket listener or a web server, not an MQTT-over-TCP listener."
            ),
        )
        .with_evidence("reply", status_line)
        .with_fix(format!(
            "For MQTT over WebSocket use ws://{host}:{port}/mqtt (wss:// with TLS); otherwise use \
             the broker's MQTT port (1883, or 8883 for TLS)."
        )),
        NotMqtt::Tls(received) if config.uses_tls() => Finding::new(
            &r::MQTT_NOT_MQTT,
            format!(
                "{peer} answered the MQTT CONNECT, sent inside TLS, with another TLS record ({}): \
                 something behind the TLS layer (a TLS-terminating proxy forwarding to a TLS port) \
                 speaks TLS again.",
                hex(&received)
            ),
        )
        .with_evidence("reply", hex(&received))
        .with_fix(
            "A proxy that terminates TLS must forward to the broker's plain port, or pass TLS \
             through untouched: check the proxy's backend port and mode.",
        ),
        NotMqtt::Tls(received) => {
            if let Some(answer) = tls_answer {
                return tls::plain_to_tls_port(
                    config,
                    peer,
                    "was answered with a TLS record",
                    &answer,
                )
                .with_evidence("reply", hex(&received));
            }
            Finding::new(
                &r::MQTT_NOT_MQTT,
                format!(
                    "{peer} answered the CONNECT with a TLS record ({}), not MQTT.",
                    hex(&received)
                ),
            )
            .with_evidence("reply", hex(&received))
            .with_fix(format!("Connect with TLS: mqtts://{host}:{port}."))
        }
        NotMqtt::TooLarge {
            packet_type,
            claimed,
        } => Finding::new(
            &r::MQTT_NOT_MQTT,
            format!(
                "{peer} sent a {} header claiming {claimed} bytes; the doctor reads at most {} \
                 and no CONNACK is that large. This is not an MQTT broker's answer, or the stream \
                 is corrupted.",
                packet_name(packet_type),
                wire::MAX_FRAME
            ),
        )
        .with_evidence("claimed_bytes", claimed)
        .with_fix("Check what listens on this port: it does not speak MQTT."),
        NotMqtt::BadLength(received) => Finding::new(
            &r::MQTT_NOT_MQTT,
            format!(
                "{peer} sent bytes whose length field runs over four bytes, which MQTT forbids \
                 ({}).",
                hex(&received)
            ),
        )
        .with_evidence("reply", hex(&received))
        .with_fix("Check what listens on this port: it does not speak MQTT."),
        NotMqtt::Garbage { received, total } => {
            let text = printable(&received, total);
            Finding::new(
                &r::MQTT_NOT_MQTT,
                format!(
                    "{peer} answered the CONNECT with bytes that are not a CONNACK and cannot \
                     start any MQTT answer ({}){}: this is not an MQTT broker.",
                    hex(&received),
                    text.map(|t| format!(", as text \"{t}\"")).unwrap_or_default()
                ),
            )
            .with_evidence("reply", hex(&received))
            .with_fix("Check what listens on this port (e.g. `ss -ltnp` on the host): it is another service.")
        }
        NotMqtt::Unexpected { frame } => Finding::new(
            &r::MQTT_NOT_MQTT,
            format!(
                "{peer} answered the CONNECT with {} bytes that are not a CONNACK (they read as \
                 {}): not an MQTT broker's answer.",
                frame.bytes.len(),
                packet_name(frame.packet_type())
            ),
        )
        .with_evidence("reply", frame.hex())
        .with_fix("Check what listens on this port: it does not speak MQTT."),
        NotMqtt::Malformed { frame, problem } => Finding::new(
            &r::MQTT_NOT_MQTT,
            format!("{peer} answered the CONNECT with {problem}."),
        )
        .with_evidence("reply", frame.hex())
        .with_fix(
            "The broker breaks the protocol, or something between corrupts the stream: check the \
             broker's version and any proxy in between.",
        ),
    }
}

/// The WebSocket server flooded pings instead of answering the CONNECT.
pub(super) fn ping_flood(peer: &Peer, pings: u64, after: Duration, protocol: Protocol) -> Finding {
    Finding::new(
        &r::WS_PING_FLOOD,
        format!(
            "{peer} sent {pings} WebSocket pings in a row and no MQTT data in answer to the {} \
             CONNECT, within {:.1} ms: a ping flood, not a broker's answer.",
            protocol_label(protocol),
            millis(after)
        ),
    )
    .with_evidence("pings", pings)
    .with_evidence("waited_ms", millis(after))
    .with_fix(
        "Something between the client and the broker (a WebSocket gateway or proxy) is broken or \
         hostile, or the port is not a broker's WebSocket listener: connect to the broker's \
         listener directly to compare.",
    )
}

/// The first line of a reply that is printable ASCII (an SSH or SMTP banner), for the detail:
/// `bytes` are the first of the `total` the peer sent. A line cut by that limit ends in
/// `… (N more bytes)`, the mark by which the redactor knows that a secret may be cut there too.
pub(super) fn printable(bytes: &[u8], total: usize) -> Option<String> {
    let line: Vec<u8> = bytes
        .iter()
        .copied()
        .take_while(|&b| b != b'\r' && b != b'\n')
        .collect();
    if line.len() < 4 || !line.iter().all(|b| (0x20..0x7f).contains(b)) {
        return None;
    }
    let text = String::from_utf8_lossy(&line).into_owned();
    if line.len() == bytes.len() && total > bytes.len() {
        return Some(format!("{text}… ({} more bytes)", total - bytes.len()));
    }
    Some(peer_text(&text, 80))
}

/// MQTT 5 DISCONNECT reason codes a server sends (spec 3.14.2.1).
pub(super) fn disconnect_reason(code: u8) -> &'static str {
    match code {
        0x00 => "normal disconnection",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x87 => "not authorized",
        0x89 => "server busy",
        0x8B => "server shutting down",
        0x8D => "keep alive timeout",
        0x8E => "session taken over",
        0x8F => "topic filter invalid",
        0x90 => "topic name invalid",
        0x93 => "receive maximum exceeded",
        0x94 => "topic alias invalid",
        0x95 => "packet too large",
        0x96 => "message rate too high",
        0x97 => "quota exceeded",
        0x98 => "administrative action",
        0x99 => "payload format invalid",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9C => "use another server",
        0x9D => "server moved",
        0x9E => "shared subscriptions not supported",
        0x9F => "connection rate exceeded",
        0xA0 => "maximum connect time",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => "not a DISCONNECT reason the protocol defines",
    }
}

/// Causes as a fix: numbered, most likely first.
pub(super) fn ranked_fix(causes: &[String]) -> String {
    let lines: Vec<String> = causes
        .iter()
        .enumerate()
        .map(|(i, cause)| format!("{}. {cause}", i + 1))
        .collect();
    format!("Most likely first:\n{}", lines.join("\n"))
}
