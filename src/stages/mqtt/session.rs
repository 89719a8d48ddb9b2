//! After CONNACK: the topic checks (SUBACK, PUBACK and the round trip that alone reveals a
//! silent ACL denial) and the hold that shows whether the broker keeps the connection. Every
//! message is non-retained and the session is clean, so nothing is left on the broker.

use super::*;

/// A connected session: topic checks, the hold, and the DISCONNECT.
pub(super) struct Session {
    pub(super) wire: Wire,
    pub(super) protocol: Protocol,
    pub(super) next_packet_id: u16,
    /// Seconds between PINGREQs, at most: ours, or the broker's Server Keep Alive.
    pub(super) keepalive: u16,
    /// The round trips timed on the way, for the latency waterfall.
    pub(super) timings: Timings,
    /// The broker ended the connection during the topic checks: nothing more can be asked.
    pub(super) gone: bool,
}

/// The round trips the session timed, for the waterfall.
#[derive(Debug, Default)]
pub(super) struct Timings {
    /// The first QoS 1 PUBLISH to its PUBACK.
    pub(super) puback: Option<Duration>,
    /// The first PINGREQ to its PINGRESP.
    pub(super) ping: Option<Duration>,
}

/// A frame read during the session, or why none came.
pub(super) enum Next {
    Frame(Frame),
    TimedOut,
    Ended(String, Ending),
}

/// How a connection ended without a DISCONNECT, as far as the socket tells: what an idle
/// timeout in front of the broker looks like from the client's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// The peer closed it (FIN): HAProxy's and NGINX's timeouts, a broker closing a socket.
    Closed,
    /// The peer reset it (RST): AWS NLB after its idle timeout, Azure Load Balancer with TCP
    /// reset on idle.
    Reset,
    /// No answer to a PINGREQ within the step: a NAT or firewall that forgot the flow.
    Silence,
    /// Anything else: bytes that are not MQTT, a ping flood, a TLS or other I/O error.
    Broken,
}

impl Ending {
    /// Closed or reset, from the error a read or write gave.
    fn of(error: &std::io::Error) -> Ending {
        match error.kind() {
            // TLS over a TCP stream closed without close_notify: the TCP peer closed it.
            std::io::ErrorKind::UnexpectedEof => Ending::Closed,
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => Ending::Reset,
            _ => Ending::Broken,
        }
    }

    /// The evidence value.
    fn name(self) -> &'static str {
        match self {
            Ending::Closed => "closed",
            Ending::Reset => "reset",
            Ending::Silence => "silence",
            Ending::Broken => "broken",
        }
    }
}

/// The shortest silence before a drop that is taken for an idle timeout. Nothing configures an
/// idle timeout under a second (no MQTT client could live behind it); a close that soon after
/// traffic answers the traffic, or something else (another client taking the client id over).
const MIN_IDLE: Duration = Duration::from_secs(1);

/// The PINGREQ in flight during the hold.
struct Ping {
    sent: Instant,
    /// The silence, in both directions, that the PINGREQ broke.
    quiet: Duration,
    /// The step that waits for its PINGRESP.
    budget: Budget,
}

/// How the hold ended without a DISCONNECT.
struct Cut {
    how: String,
    ending: Ending,
    /// The silence before the end: up to the end itself, or, when a PINGREQ was waiting for its
    /// answer, up to that PINGREQ.
    idle: Duration,
    /// Whether a PINGREQ was waiting for its answer (or could not be sent).
    after_ping: bool,
}

/// Messages kept that arrived, before the doctor published, through its own subscriptions: no
/// more than the topics it publishes to, and this many at most. Anything else that arrives on
/// them is counted and dropped, so a broker (or a busy topic) that floods PUBLISH packets costs
/// nothing to hold.
const MAX_KEPT_PUBLISHES: usize = 16;

/// Messages that arrived before they could be matched with the doctor's own publishes.
#[derive(Default)]
pub(super) struct Early {
    kept: Vec<(String, Bytes)>,
    dropped: u64,
    dropped_bytes: u64,
}

impl Early {
    /// Keeps a message only if it can be one of the doctor's own: on a topic it publishes to,
    /// with the payload marker of this client id.
    fn offer(&mut self, config: &DoctorConfig, marker: &[u8], topic: String, payload: Bytes) {
        let ours = payload.starts_with(marker)
            && payload.len() <= marker.len() + 8
            && config.mqtt.publish.contains(&topic);
        if ours && self.kept.len() < MAX_KEPT_PUBLISHES.min(config.mqtt.publish.len()) {
            self.kept.push((topic, payload));
        } else {
            self.count_dropped(&payload);
        }
    }

    /// Counts a message that is not the doctor's, and keeps nothing of it.
    fn count_dropped(&mut self, payload: &[u8]) {
        self.dropped += 1;
        self.dropped_bytes += payload.len() as u64;
    }
}

/// The start of every payload the doctor publishes, for `client_id`.
pub(super) fn payload_marker(client_id: &str) -> Vec<u8> {
    format!("mqtt-doctor check {client_id} ").into_bytes()
}

/// What the topic checks saw of one published message.
pub(super) struct Published {
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    pub(super) packet_id: u16,
    pub(super) puback: Option<u8>,
    /// The PUBACK's reason string (MQTT 5).
    pub(super) reason: Option<String>,
    pub(super) came_back: bool,
}

impl Session {
    pub(super) fn packet_id(&mut self) -> u16 {
        let id = self.next_packet_id;
        self.next_packet_id = self.next_packet_id.wrapping_add(1).max(1);
        id
    }

    /// The next frame, unless `until` comes first: an absolute instant, so frames that keep
    /// arriving never stretch a wait.
    pub(super) async fn next(&mut self, until: Instant) -> Next {
        match self.wire.read_frame_until(until).await {
            Ok(None) => Next::TimedOut,
            Ok(Some(frame)) => Next::Frame(frame),
            Err(ReadError::Closed { .. }) => {
                Next::Ended("closed the connection".into(), Ending::Closed)
            }
            Err(ReadError::Io { error, .. }) => match PingFlood::behind(&error) {
                Some(flood) => Next::Ended(
                    format!(
                        "sent {} WebSocket pings in a row instead of MQTT",
                        flood.pings
                    ),
                    Ending::Broken,
                ),
                None => Next::Ended(
                    format!("broke the connection ({})", error.kind()),
                    Ending::of(&error),
                ),
            },
            Err(_) => Next::Ended("sent bytes that are not MQTT".into(), Ending::Broken),
        }
    }

    /// Acknowledges a QoS 1 PUBLISH (a retained message arriving on our subscription), so the
    /// broker has nothing in flight for us, by `until`; returns its topic and payload.
    pub(super) async fn take_publish(
        &mut self,
        frame: &Frame,
        until: Instant,
    ) -> Option<(String, Bytes)> {
        let (topic, payload, qos, pkid) = read_publish(frame, self.protocol)?;
        if qos == QoS::AtLeastOnce {
            let mut ack = BytesMut::new();
            let _ = v4::PubAck::new(pkid).write(&mut ack);
            let _ = self.wire.send(&ack, until).await;
        }
        Some((topic, payload))
    }

    /// What arrived during a wait that ended without its answer, as a clause for the finding:
    /// `; meanwhile the broker sent 15 PUBLISH packets (3.0 MB)`.
    fn meanwhile(&mut self) -> String {
        let tally = self.wire.take_tally();
        if tally.total() == 0 {
            String::new()
        } else {
            format!("; meanwhile the broker sent {}", tally.describe())
        }
    }

    pub(super) async fn topic_checks(
        &mut self,
        ctx: &Context<'_>,
        client_id: &str,
        broker: &BrokerGuess,
    ) -> (String, Vec<Finding>) {
        let config = ctx.config;
        let mut findings = Vec::new();
        let mut rows = Vec::new();

        // Subscribe first, so that our own messages can come back.
        let mut granted: Vec<String> = Vec::new();
        let mut denied: Vec<Value> = Vec::new();
        let marker = payload_marker(client_id);
        let mut early = Early::default();
        if !config.mqtt.subscribe.is_empty() {
            let id = self.packet_id();
            let mut packet = BytesMut::new();
            match self.protocol {
                Protocol::V5 => {
                    let mut subscribe = Subscribe::new_many(
                        config
                            .mqtt
                            .subscribe
                            .iter()
                            .map(|f| Filter::new(f.clone(), QoS::AtLeastOnce)),
                        None,
                    );
                    subscribe.pkid = id;
                    let _ = subscribe.write(&mut packet);
                }
                Protocol::V311 => {
                    let mut subscribe =
                        v4::Subscribe::new_many(config.mqtt.subscribe.iter().map(|f| {
                            v4::SubscribeFilter::new(
                                f.clone(),
                                rumqttc::mqttbytes::QoS::AtLeastOnce,
                            )
                        }));
                    subscribe.pkid = id;
                    let _ = subscribe.write(&mut packet);
                }
            }
            let budget = ctx.budget();
            if let Err(error) = self.wire.send(&packet, budget.until).await {
                return self.lost(format!(
                    "the SUBSCRIBE could not be sent ({})",
                    error.describe()
                ));
            }
            self.wire.take_tally();
            let sent_at = Instant::now();
            let (codes, reason) = loop {
                match self.next(budget.until).await {
                    Next::Frame(frame) if frame.packet_type() == PACKET_SUBACK => {
                        match parse_suback(&frame, self.protocol) {
                            Some((pkid, codes, reason)) if pkid == id => break (codes, reason),
                            _ => continue,
                        }
                    }
                    Next::Frame(frame) if frame.packet_type() == PACKET_PUBLISH => {
                        if let Some((topic, payload)) =
                            self.take_publish(&frame, budget.until).await
                        {
                            early.offer(config, &marker, topic, payload);
                        }
                    }
                    Next::Frame(frame) if frame.packet_type() == PACKET_DISCONNECT => {
                        let (summary, finding) =
                            self.disconnected(&frame, Instant::now(), config, broker);
                        return (summary, vec![finding]);
                    }
                    Next::Frame(_) => continue,
                    Next::TimedOut => {
                        let meanwhile = self.meanwhile();
                        return self.lost(format!(
                            "no SUBACK came within {}{meanwhile}",
                            budget.describe()
                        ));
                    }
                    Next::Ended(how, ending @ (Ending::Closed | Ending::Reset)) => {
                        self.gone = true;
                        let finding = closed_on(
                            &r::ACL_SUBSCRIBE_DENIED,
                            "SUBSCRIBE",
                            &config.mqtt.subscribe,
                            &how,
                            ending,
                            sent_at.elapsed(),
                        )
                        .with_fix(broker.fixes().subscribe_denied);
                        return ("subscription denied by closing".into(), vec![finding]);
                    }
                    Next::Ended(how, _) => {
                        return self.lost(format!("the broker {how} after the SUBSCRIBE"));
                    }
                }
            };
            for (i, filter) in config.mqtt.subscribe.iter().enumerate() {
                let code = codes.get(i).copied().unwrap_or(0x80);
                if code >= 0x80 {
                    let meaning = refusal_meaning(code, suback_reason(code), reason.as_deref());
                    rows.push(json!({ "check": "subscribe", "topic": filter, "result": format!("denied, 0x{code:02X} {meaning}") }));
                    denied.push(json!({
                        "filter": filter,
                        "code": format!("0x{code:02X}"),
                        "meaning": meaning,
                    }));
                } else {
                    granted.push(filter.clone());
                    rows.push(json!({ "check": "subscribe", "topic": filter, "result": format!("granted QoS {code}") }));
                }
            }
            if !denied.is_empty() {
                let mut finding = Finding::new(
                    &r::ACL_SUBSCRIBE_DENIED,
                    format!(
                        "The broker refused {} of {} subscriptions in its SUBACK.",
                        denied.len(),
                        config.mqtt.subscribe.len()
                    ),
                )
                .with_evidence("denied", denied);
                if let Some(reason) = reason {
                    finding = finding.with_evidence("reason_string", reason);
                }
                findings.push(finding.with_fix(broker.fixes().subscribe_denied));
            }
        }

        let mut published: Vec<Published> = Vec::new();
        let budget = ctx.budget();
        // The first PUBLISH and when it went out: its PUBACK's wait is the waterfall's.
        let mut first_sent: Option<(u16, Instant)> = None;
        for topic in &config.mqtt.publish {
            let id = self.packet_id();
            let mut payload = marker.clone();
            payload.extend_from_slice(id.to_string().as_bytes());
            let mut packet = BytesMut::new();
            match self.protocol {
                Protocol::V5 => {
                    let mut publish =
                        Publish::new(topic.clone(), QoS::AtLeastOnce, payload.clone(), None);
                    publish.pkid = id;
                    let _ = publish.write(&mut packet);
                }
                Protocol::V311 => {
                    let mut publish = v4::Publish::new(
                        topic.clone(),
                        rumqttc::mqttbytes::QoS::AtLeastOnce,
                        payload.clone(),
                    );
                    publish.pkid = id;
                    let _ = publish.write(&mut packet);
                }
            }
            first_sent.get_or_insert((id, Instant::now()));
            if let Err(error) = self.wire.send(&packet, budget.until).await {
                return self.lost(format!(
                    "a PUBLISH could not be sent ({})",
                    error.describe()
                ));
            }
            published.push(Published {
                topic: topic.clone(),
                payload,
                packet_id: id,
                puback: None,
                reason: None,
                came_back: false,
            });
        }

        // Wait for every PUBACK and for each message a granted subscription should bring back.
        let expects_echo = |p: &Published| {
            granted
                .iter()
                .any(|f| rumqttc::mqttbytes::matches(&p.topic, f))
        };
        for (topic, payload) in std::mem::take(&mut early.kept) {
            mark_echo(&mut published, &topic, &payload);
        }
        let mut ended = None;
        while published.iter().any(|p| {
            p.puback.is_none()
                || (expects_echo(p) && !p.came_back && p.puback.is_some_and(|c| c < 0x80))
        }) {
            match self.next(budget.until).await {
                Next::Frame(frame) if frame.packet_type() == PACKET_PUBACK => {
                    if let Some((pkid, code, reason)) = parse_puback(&frame, self.protocol)
                        && let Some(p) = published.iter_mut().find(|p| p.packet_id == pkid)
                    {
                        p.reason = reason;
                        if let Some((first, sent)) = first_sent
                            && first == pkid
                        {
                            self.timings.puback.get_or_insert(sent.elapsed());
                        }
                        p.puback = Some(code);
                    }
                }
                Next::Frame(frame) if frame.packet_type() == PACKET_PUBLISH => {
                    if let Some((topic, payload)) = self.take_publish(&frame, budget.until).await
                        && !mark_echo(&mut published, &topic, &payload)
                    {
                        early.count_dropped(&payload);
                    }
                }
                Next::Frame(frame) if frame.packet_type() == PACKET_DISCONNECT => {
                    let (summary, finding) =
                        self.disconnected(&frame, Instant::now(), config, broker);
                    findings.push(finding);
                    return (summary, findings);
                }
                Next::Frame(_) => {}
                Next::TimedOut => break,
                Next::Ended(how, ending) => {
                    ended = Some((how, ending));
                    break;
                }
            }
        }
        // A broker that denies a publish by closing the connection (RabbitMQ, aedes) ends it
        // before the PUBACK: that is the answer to the publishes still waiting for one.
        if let Some((how, ending @ (Ending::Closed | Ending::Reset))) = &ended
            && let Some(sent) = first_sent.map(|(_, at)| at)
        {
            let waiting: Vec<String> = published
                .iter()
                .filter(|p| p.puback.is_none())
                .map(|p| p.topic.clone())
                .collect();
            if !waiting.is_empty() {
                self.gone = true;
                let finding = closed_on(
                    &r::ACL_PUBLISH_DENIED,
                    "PUBLISH",
                    &waiting,
                    how,
                    *ending,
                    sent.elapsed(),
                )
                .with_fix(broker.fixes().publish_denied);
                findings.push(finding);
                return ("publish denied by closing".into(), findings);
            }
        }

        let mut publish_denied = Vec::new();
        let mut lost = Vec::new();
        for p in &published {
            let result = match p.puback {
                None => {
                    publish_denied.push(json!({
                        "topic": p.topic,
                        "code": "none",
                        "meaning": format!("no PUBACK within {}", budget.describe()),
                    }));
                    "no PUBACK".to_string()
                }
                Some(code) if code >= 0x80 => {
                    let meaning = refusal_meaning(code, puback_reason(code), p.reason.as_deref());
                    publish_denied.push(json!({
                        "topic": p.topic,
                        "code": format!("0x{code:02X}"),
                        "meaning": meaning,
                    }));
                    format!("denied, PUBACK 0x{code:02X} {meaning}")
                }
                Some(0x10) => "accepted, no matching subscribers (0x10)".to_string(),
                Some(_) => "accepted (PUBACK)".to_string(),
            };
            rows.push(json!({ "check": "publish", "topic": p.topic, "result": result }));
            if expects_echo(p) && p.puback.is_some_and(|c| c < 0x80) {
                let echo = if p.came_back {
                    "came back".to_string()
                } else {
                    lost.push(p.topic.clone());
                    "did not come back".to_string()
                };
                rows.push(json!({ "check": "round trip", "topic": p.topic, "result": echo }));
            }
        }
        if !publish_denied.is_empty() {
            findings.push(
                Finding::new(
                    &r::ACL_PUBLISH_DENIED,
                    format!(
                        "The broker refused {} of {} publishes in its PUBACK.",
                        publish_denied.len(),
                        published.len()
                    ),
                )
                .with_evidence("denied", publish_denied)
                .with_fix(broker.fixes().publish_denied),
            );
        }
        if !lost.is_empty() {
            let silent = match self.protocol {
                Protocol::V311 => {
                    "MQTT 3.1.1 has no way to report a denied publish or read: the \
                                   broker acknowledges and drops the message"
                }
                Protocol::V5 => {
                    "the broker acknowledged the publish and granted the subscription, \
                                 yet did not deliver: Mosquitto's acl_file denies reads this way, \
                                 without a reason code"
                }
            };
            findings.push(
                Finding::new(
                    &r::ACL_ROUNDTRIP_FAILED,
                    format!(
                        "The message published to {} did not come back through the matching \
                         subscription within {}: {silent}. A silent ACL denial of the publish or \
                         of the read is the usual cause.",
                        lost.join(", "),
                        budget.describe()
                    ),
                )
                .with_evidence("topics", lost)
                .with_fix(broker.fixes().delivery_lost),
            );
        }
        // Accepted, but no subscription of this run could bring the message back: the broker
        // may still drop it (3.1.1 cannot say otherwise), and nothing here saw it delivered.
        let unverified: Vec<String> = published
            .iter()
            .filter(|p| p.puback.is_some_and(|c| c < 0x80) && !expects_echo(p))
            .map(|p| p.topic.clone())
            .collect();
        let failed = findings.len();
        if !unverified.is_empty() {
            findings.push(delivery_unverified(&unverified));
        }
        if let Some((how, _)) = ended {
            let (summary, mut more) =
                self.lost(format!("the broker {how} during the topic checks"));
            findings.append(&mut more);
            return (summary, findings);
        }
        // Messages on the subscriptions that were not the doctor's: other clients' traffic, or
        // a flood. Only their number is kept.
        let others = (early.dropped > 0)
            .then(|| json!({ "messages": early.dropped, "bytes": early.dropped_bytes }));
        if failed == 0 {
            let passed = if unverified.is_empty() {
                "delivered them back where a subscription matched"
            } else {
                "delivered them back where a subscription matched (not every publish had one)"
            };
            let mut finding = Finding::new(
                &r::ACL_OK,
                format!(
                    "Every topic check passed: the broker granted the subscriptions, \
                     acknowledged the publishes, and {passed}."
                ),
            )
            .with_evidence("checks", rows);
            if let Some(others) = others {
                finding = finding.with_evidence("other_messages", others);
            }
            // The check's own finding first, as the report lists a stage's pass before notes.
            findings.insert(0, finding);
            ("topic checks passed".into(), findings)
        } else {
            if let Some(first) = findings.first_mut() {
                first.evidence.insert("checks".into(), Value::from(rows));
                if let Some(others) = others {
                    first.evidence.insert("other_messages".into(), others);
                }
            }
            ("a topic check failed".into(), findings)
        }
    }

    pub(super) fn lost(&self, what: String) -> (String, Vec<Finding>) {
        let finding = Finding::new(
            &r::SESSION_DROPPED,
            format!("The connection was lost during the topic checks: {what}."),
        )
        .with_fix(
            "A broker that closes the connection after a SUBSCRIBE or PUBLISH objects to the \
             packet (a topic or QoS it does not support, a packet over its maximum size) or to \
             the client: check the broker's log for this client id.",
        );
        ("connection lost during topic checks".into(), vec![finding])
    }

    /// Holds the connection for `--hold` and reports how it ended. A PINGREQ goes out at once,
    /// for the round trip that shows the session works, then, as a client does, whenever the
    /// keepalive passes without the doctor sending anything, and once more at the end after a
    /// silence of [`MIN_IDLE`] or more, since only sending shows a connection that a NAT or
    /// firewall dropped without a word.
    pub(super) async fn hold(
        &mut self,
        ctx: &Context<'_>,
        broker: &BrokerGuess,
    ) -> (String, Finding) {
        let config = ctx.config;
        // Leave time for the PINGREQ round trip and the DISCONNECT within the deadline.
        let left = ctx
            .time_left()
            .saturating_sub(config.timeout.min(ctx.time_left() / 2));
        let hold = config.mqtt.hold.min(left);
        let started = Instant::now();
        let until = started + hold;
        // A keepalive of 0 turns the mechanism off (MQTT 5 spec 3.1.2.10): no PINGREQ is due.
        let keepalive =
            (self.keepalive > 0).then(|| Duration::from_secs(u64::from(self.keepalive)));
        let mut last_sent = started;
        let mut last_received = started;
        let mut ping: Option<Ping> = None;
        let mut rtt = None;
        let mut checked_at_end = false;
        self.wire.take_tally();
        loop {
            let now = Instant::now();
            let quiet = now.saturating_duration_since(last_sent.max(last_received));
            let due = keepalive.is_some_and(|k| now >= last_sent + k);
            let end_check = now >= until && !checked_at_end && quiet >= MIN_IDLE;
            if ping.is_none() && (rtt.is_none() || due || end_check) {
                checked_at_end |= now >= until;
                let budget = ctx.budget();
                let mut packet = BytesMut::new();
                let _ = v4::PingReq.write(&mut packet);
                if let Err(error) = self.wire.send(&packet, budget.until).await {
                    let (how, ending) = match &error {
                        SendError::Cut => (
                            "stopped reading: the PINGREQ could not be written".to_string(),
                            Ending::Broken,
                        ),
                        SendError::Io(error) => {
                            ("broke the connection".to_string(), Ending::of(error))
                        }
                    };
                    let cut = Cut {
                        how,
                        ending,
                        idle: quiet,
                        after_ping: true,
                    };
                    return self.ended(config, broker, started, cut);
                }
                last_sent = Instant::now();
                // "Meanwhile" is what came while this PINGREQ waited, not the whole hold.
                self.wire.take_tally();
                ping = Some(Ping {
                    sent: now,
                    quiet,
                    budget,
                });
            }
            if rtt.is_some() && ping.is_none() && now >= until {
                break;
            }
            // Waits end at absolute instants: the PINGRESP's step, or the next ping or the end
            // of the hold. Whatever else the broker sends meanwhile does not move them.
            let wait_until = match &ping {
                Some(ping) => ping.budget.until,
                None => match keepalive {
                    Some(k) => until.min(last_sent + k),
                    None => until,
                },
            };
            let next = self.next(wait_until).await;
            if let Next::Frame(_) = &next {
                last_received = Instant::now();
            }
            match next {
                Next::Frame(frame) => match frame.packet_type() {
                    PACKET_PINGRESP => {
                        if let Some(ping) = ping.take() {
                            rtt.get_or_insert(ping.sent.elapsed());
                            self.timings.ping.get_or_insert(ping.sent.elapsed());
                        }
                    }
                    PACKET_DISCONNECT => return self.disconnected(&frame, started, config, broker),
                    PACKET_PUBLISH => {
                        // QoS 1 (the QoS bits of the fixed header): a PUBACK goes back.
                        let acked = frame.byte1() & 0x06 == 0x02;
                        let _ = self.take_publish(&frame, wait_until).await;
                        if acked {
                            last_sent = Instant::now();
                        }
                    }
                    _ => {}
                },
                Next::TimedOut => {
                    if let Some(ping) = &ping {
                        let meanwhile = self.meanwhile();
                        let cut = Cut {
                            how: format!(
                                "did not answer a PINGREQ within {}{meanwhile}",
                                ping.budget.describe()
                            ),
                            ending: Ending::Silence,
                            idle: ping.quiet,
                            after_ping: true,
                        };
                        return self.ended(config, broker, started, cut);
                    }
                }
                Next::Ended(how, ending) => {
                    let idle = match &ping {
                        Some(ping) => ping.quiet,
                        None => {
                            Instant::now().saturating_duration_since(last_sent.max(last_received))
                        }
                    };
                    let cut = Cut {
                        how,
                        ending,
                        idle,
                        after_ping: ping.is_some(),
                    };
                    return self.ended(config, broker, started, cut);
                }
            }
        }
        let rtt = rtt.unwrap_or_default();
        let held = started.elapsed();
        let held_text = if held < Duration::from_secs(1) {
            format!("{:.1} ms", millis(held))
        } else {
            crate::durations::text(Duration::from_millis(held.as_millis() as u64))
        };
        let mut detail = format!(
            "The broker kept the connection open for {held_text} and answered a PINGREQ in {:.1} ms.",
            millis(rtt)
        );
        if config.mqtt.hold > hold {
            detail.push_str(" The hold was cut short by the run's deadline.");
        }
        let finding = Finding::new(&r::SESSION_OK, detail)
            .with_evidence("held_ms", millis(held))
            .with_evidence("ping_rtt_ms", millis(rtt));
        ("session held".into(), finding)
    }

    pub(super) fn disconnected(
        &self,
        frame: &Frame,
        started: Instant,
        config: &DoctorConfig,
        broker: &BrokerGuess,
    ) -> (String, Finding) {
        let code = frame.body().first().copied().unwrap_or(0);
        let properties = disconnect_properties(frame);
        let reason_string = properties
            .as_ref()
            .and_then(|p| p.reason_string.as_deref())
            .map(|r| peer_text(r, MAX_PEER_TEXT));
        let reference = properties
            .and_then(|p| p.server_reference)
            .map(|r| peer_text(&r, MAX_PEER_TEXT));
        let after = started.elapsed();
        let reason = disconnect_reason(code);
        let (def, fix) = match code {
            0x8E => (
                &r::SESSION_TAKEOVER,
                format!(
                    "Another client connected with the same client id{}; two clients sharing \
                     one kick each other off in a loop. {}",
                    match &config.mqtt.client_id {
                        Some(id) => format!(" ({id})"),
                        None => String::new(),
                    },
                    broker.fixes().client_id_taken
                ),
            ),
            0x8D => (
                &r::MQTT_DISCONNECTED,
                "The broker saw no packet within 1.5 times the keepalive: lower --keepalive below \
                 any idle timeout in between, and check that the client's network sends \
                 PINGREQs."
                    .to_string(),
            ),
            0x98 => (
                &r::MQTT_DISCONNECTED,
                "An administrator or an admin API disconnected this client (Mosquitto's dynamic \
                 security disableClient or a changed role, EMQX's kick-out): ask who, and check \
                 whether the client is disabled."
                    .to_string(),
            ),
            0x87 => (
                &r::MQTT_DISCONNECTED,
                "The broker withdrew its authorisation: the credentials or ACLs changed (and the \
                 broker reloaded), or the token expired (EMQX's disconnect_after_expire)."
                    .to_string(),
            ),
            _ => (
                &r::MQTT_DISCONNECTED,
                format!(
                    "The broker ended the session with {reason}; its log says why{}.",
                    match &reference {
                        Some(r) => format!(", and it points to {r}"),
                        None => String::new(),
                    }
                ),
            ),
        };
        let mut finding = Finding::new(
            def,
            format!(
                "The broker sent DISCONNECT with reason 0x{code:02X} ({reason}) {:.0} ms after \
                 the connection was up.",
                millis(after)
            ),
        )
        .with_evidence("code", code)
        .with_evidence("code_hex", format!("0x{code:02X}"))
        .with_evidence("reason", reason)
        .with_evidence("raw", frame.hex())
        .with_fix(fix);
        if let Some(reason) = reason_string {
            finding = finding.with_evidence("reason_string", reason);
        }
        if let Some(reference) = reference {
            finding = finding.with_evidence("server_reference", reference);
        }
        (format!("disconnected: {reason}"), finding)
    }

    /// The finding for a hold that ended without a DISCONNECT: an idle timeout when the
    /// connection died after a silence of [`MIN_IDLE`] or more, closed or reset while idle, or
    /// closed, reset or silent in answer to the PINGREQ that broke such a silence; otherwise a
    /// plain drop.
    fn ended(
        &self,
        config: &DoctorConfig,
        broker: &BrokerGuess,
        started: Instant,
        cut: Cut,
    ) -> (String, Finding) {
        let idle_end = matches!(cut.ending, Ending::Closed | Ending::Reset | Ending::Silence);
        if idle_end && cut.idle >= MIN_IDLE {
            return self.idle_timeout(config, started, &cut);
        }
        self.dropped(config, broker, started, &cut.how)
    }

    fn idle_timeout(
        &self,
        config: &DoctorConfig,
        started: Instant,
        cut: &Cut,
    ) -> (String, Finding) {
        let idle_s = cut.idle.as_millis() as f64 / 1000.0;
        let idle = format!("{idle_s:.1} s");
        let keepalive = match self.keepalive {
            0 => "off (0)".to_string(),
            k => format!("{k} s"),
        };
        let how = match cut.ending {
            Ending::Closed => "closed (FIN)",
            Ending::Reset => "reset (RST)",
            _ => "left unanswered",
        };
        let detail = if cut.after_ping {
            let answer = match cut.ending {
                Ending::Silence => format!(
                    "the broker {} (a NAT or firewall that forgot the connection drops packets \
                     silently; a broker that stopped answering looks the same)",
                    cut.how
                ),
                _ => format!(
                    "the doctor's PINGREQ was answered by the connection being {how}, not a \
                     PINGRESP"
                ),
            };
            format!(
                "After {idle} idle, {answer}, while the doctor's \
                 keepalive is {keepalive}: something between the client and the broker, or the \
                 broker, dropped the connection while it was idle, after less than {idle}; the \
                 keepalive came too late to keep it open."
            )
        } else {
            format!(
                "The connection was {how} after {idle} idle, while the doctor's keepalive is \
                 {keepalive}: something between the client and the broker, or the broker, drops \
                 connections idle for about {idle}."
            )
        };
        // Half the silence keeps a margin for a timer that is not exact, and for the network.
        let suggested = (cut.idle.as_secs() / 2).max(1);
        let below = if cut.after_ping {
            format!("well below {idle}")
        } else {
            format!("below {idle}")
        };
        let mut fix = format!(
            "Set the client's keepalive {below} (e.g. --keepalive {suggested}, and the same in \
             the device's MQTT client), or raise the idle timeout of what is in front. Known \
             defaults: AWS Network Load Balancer and NAT gateway 350 s (a packet after it gets \
             a reset), Azure Load Balancer 4 min (silent, or a reset with TCP reset on idle), \
             AWS Application Load Balancer 60 s, NGINX stream proxy_timeout 10 min and http \
             proxy_read_timeout 60 s (MQTT over WebSockets), HAProxy timeout client and \
             timeout server (timeout tunnel, when set, replaces both once the connection is \
             up)."
        );
        if let Some(id) = &config.mqtt.client_id {
            fix.push_str(&format!(
                " If the idle time differs from run to run, suspect instead another client \
                 connecting with the client id \"{id}\" (see session.dropped)."
            ));
        }
        let held = started.elapsed();
        let finding = Finding::new(&r::SESSION_IDLE_TIMEOUT, detail)
            .with_evidence("idle_s", idle_s)
            .with_evidence("how", cut.ending.name())
            .with_evidence("keepalive_s", self.keepalive)
            .with_evidence("held_s", held.as_millis() as f64 / 1000.0)
            .with_fix(fix);
        (format!("closed after {idle} idle"), finding)
    }

    pub(super) fn dropped(
        &self,
        config: &DoctorConfig,
        broker: &BrokerGuess,
        started: Instant,
        how: &str,
    ) -> (String, Finding) {
        let mut causes = Vec::new();
        if let Some(id) = &config.mqtt.client_id {
            // Only Mosquitto's own history is named, and only to a Mosquitto user.
            let quirk = match broker.broker {
                Some(Broker::Mosquitto) => " (Mosquitto before 2.0.15 sends no DISCONNECT)",
                _ => "",
            };
            causes.push(format!(
                "Another client connected with the client id \"{id}\" and the broker closed this \
                 connection for it{quirk}. Two clients sharing an id kick each other off in a \
                 loop: the classic \"keeps disconnecting\". {}",
                broker.fixes().client_id_taken
            ));
        }
        if broker.broker == Some(Broker::Aio) {
            causes.push(
                "Azure IoT Operations closes the connection without a DISCONNECT when the \
                 ServiceAccountToken expires: re-authenticate (AUTH 0x19) with a fresh token \
                 before it does."
                    .into(),
            );
        }
        causes.push(
            "The broker's credentials or ACLs changed and it was reloaded: a broker may drop \
             clients whose credentials became invalid without a DISCONNECT (Mosquitto does)."
                .into(),
        );
        causes.push(
            "Something in between (a NAT, load balancer or firewall) closed the connection: \
             compare with its idle timeout."
                .into(),
        );
        let finding = Finding::new(
            &r::SESSION_DROPPED,
            format!(
                "The broker {how} {:.0} ms after accepting the connection, without a DISCONNECT.",
                millis(started.elapsed())
            ),
        )
        .with_evidence("after_ms", millis(started.elapsed()))
        .with_fix(ranked_fix(&causes));
        ("the broker dropped the connection".into(), finding)
    }

    /// Ends the session cleanly, giving up at `until`.
    pub(super) async fn disconnect(mut self, until: Instant) {
        let mut packet = BytesMut::new();
        match self.protocol {
            Protocol::V5 => {
                let _ =
                    Disconnect::new(DisconnectReasonCode::NormalDisconnection).write(&mut packet);
            }
            Protocol::V311 => {
                let _ = v4::Disconnect.write(&mut packet);
            }
        }
        let _ = self.wire.send(&packet, until).await;
        self.wire.close(until).await;
    }
}

/// A PUBLISH's topic, payload, QoS and packet id, read with rumqttc's reader for `protocol`.
pub(super) fn read_publish(frame: &Frame, protocol: Protocol) -> Option<(String, Bytes, QoS, u16)> {
    Some(match protocol {
        Protocol::V5 => {
            let publish = Publish::read(frame.v5_header(), frame.bytes.clone()).ok()?;
            (
                String::from_utf8_lossy(&publish.topic).into_owned(),
                publish.payload,
                publish.qos,
                publish.pkid,
            )
        }
        Protocol::V311 => {
            let publish = v4::Publish::read(frame.v4_header(), frame.bytes.clone()).ok()?;
            let qos = match publish.qos {
                rumqttc::mqttbytes::QoS::AtMostOnce => QoS::AtMostOnce,
                rumqttc::mqttbytes::QoS::AtLeastOnce => QoS::AtLeastOnce,
                rumqttc::mqttbytes::QoS::ExactlyOnce => QoS::ExactlyOnce,
            };
            (publish.topic, publish.payload, qos, publish.pkid)
        }
    })
}

/// A DISCONNECT's properties. The reason code is read raw by the callers: rumqttc's reader
/// refuses codes it does not know, properties and all.
pub(super) fn disconnect_properties(
    frame: &Frame,
) -> Option<rumqttc::v5::mqttbytes::v5::DisconnectProperties> {
    Disconnect::read(frame.v5_header(), frame.bytes.clone())
        .ok()
        .and_then(|d| d.properties)
}

/// Marks the message that came back, if it is one of ours; whether it was.
pub(super) fn mark_echo(published: &mut [Published], topic: &str, payload: &[u8]) -> bool {
    match published
        .iter_mut()
        .find(|p| p.topic == topic && p.payload == payload)
    {
        Some(p) => {
            p.came_back = true;
            true
        }
        None => false,
    }
}

/// SUBACK: packet id, per-filter codes, reason string.
/// A SUBSCRIBE or PUBLISH answered by the connection closing before its SUBACK or PUBACK: the
/// way some brokers deny one. Says only what happened on the wire, and which packet it followed.
fn closed_on(
    def: &'static FindingDef,
    packet: &str,
    topics: &[String],
    how: &str,
    ending: Ending,
    after: Duration,
) -> Finding {
    let (answer, key) = if packet == "SUBSCRIBE" {
        ("SUBACK", "filter")
    } else {
        ("PUBACK", "topic")
    };
    let denied: Vec<Value> = topics
        .iter()
        .map(|t| {
            json!({
                key: t,
                "code": "none",
                "meaning": format!("the connection ended before the {answer}"),
            })
        })
        .collect();
    Finding::new(
        def,
        format!(
            "The broker {how} {:.1} ms after the {packet} to {}, before any {answer}: it denies \
             by closing the connection rather than with a code.",
            millis(after),
            topics.join(", ")
        ),
    )
    .with_evidence("denied", denied)
    .with_evidence("packet", packet)
    .with_evidence("connection", ending.name())
    .with_evidence("after_ms", millis(after))
}

/// Publishes the broker acknowledged with no subscription of this run to see them delivered.
fn delivery_unverified(topics: &[String]) -> Finding {
    Finding::new(
        &r::ACL_DELIVERY_UNVERIFIED,
        format!(
            "The broker acknowledged the publish to {}, but no --subscribe filter of this run \
             matches it, so delivery was not checked. A broker may acknowledge a publish it then \
             drops: MQTT 3.1.1 has no way to say otherwise, and some brokers' ACLs do it under \
             MQTT 5 too.",
            topics.join(", ")
        ),
    )
    .with_evidence("topics", topics.to_vec())
    .with_fix(format!(
        "Check the round trip: add --subscribe {} (the client must also be allowed to read it).",
        topics.first().map(String::as_str).unwrap_or("TOPIC")
    ))
}

pub(super) fn parse_suback(
    frame: &Frame,
    protocol: Protocol,
) -> Option<(u16, Vec<u8>, Option<String>)> {
    let mut body = Bytes::copy_from_slice(frame.body());
    if body.remaining() < 2 {
        return None;
    }
    let pkid = body.get_u16();
    let reason = match protocol {
        Protocol::V5 => SubAckProperties::read(&mut body)
            .ok()
            .flatten()
            .and_then(|p| p.reason_string)
            .map(|r| peer_text(&r, MAX_PEER_TEXT)),
        Protocol::V311 => None,
    };
    Some((pkid, body.to_vec(), reason))
}

/// PUBACK: packet id, reason code (0 when absent, and always on 3.1.1) and reason string.
pub(super) fn parse_puback(frame: &Frame, protocol: Protocol) -> Option<(u16, u8, Option<String>)> {
    let mut body = Bytes::copy_from_slice(frame.body());
    if body.remaining() < 2 {
        return None;
    }
    let pkid = body.get_u16();
    let code = match protocol {
        Protocol::V5 if body.has_remaining() => body.get_u8(),
        _ => 0,
    };
    let mut reason = None;
    if protocol == Protocol::V5 && body.has_remaining() {
        reason = PubAckProperties::read(&mut body)
            .ok()
            .flatten()
            .and_then(|p| p.reason_string)
            .map(|r| peer_text(&r, MAX_PEER_TEXT));
    }
    Some((pkid, code, reason))
}

/// What a refusal code means for a topic or filter the doctor checked, read with the broker's
/// reason string. "Topic name invalid" (0x90) and "topic filter invalid" (0x8F) on a name the
/// doctor has already validated cannot be about its form: brokers send them for a denial
/// (ejabberd does, with the reason string "forbidden by service policy").
pub(super) fn refusal_meaning(code: u8, spec: &str, reason: Option<&str>) -> String {
    let says_denied = reason.is_some_and(|r| {
        let r = r.to_ascii_lowercase();
        [
            "forbid",
            "denied",
            "deny",
            "not authori",
            "unauthori",
            "permission",
            "policy",
            "acl",
        ]
        .iter()
        .any(|word| r.contains(word))
    });
    match reason {
        Some(reason) if says_denied => {
            format!("{spec}, a denial: the broker's reason string says \"{reason}\"")
        }
        _ if matches!(code, 0x8F | 0x90) => format!(
            "{spec}, though the doctor checked it is a valid one: the broker uses this code for a \
             denial{}",
            reason
                .map(|r| format!(" (reason string \"{r}\")"))
                .unwrap_or_default()
        ),
        Some(reason) => format!("{spec} (reason string \"{reason}\")"),
        None => spec.to_string(),
    }
}

pub(super) fn suback_reason(code: u8) -> &'static str {
    match code {
        0x80 => "unspecified error (3.1.1: failure)",
        0x83 => "implementation specific error",
        0x87 => "not authorized",
        0x8F => "topic filter invalid",
        0x91 => "packet identifier in use",
        0x97 => "quota exceeded",
        0x9E => "shared subscriptions not supported",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => "refused",
    }
}

pub(super) fn puback_reason(code: u8) -> &'static str {
    match code {
        0x80 => "unspecified error",
        0x83 => "implementation specific error",
        0x87 => "not authorized",
        0x90 => "topic name invalid",
        0x91 => "packet identifier in use",
        0x97 => "quota exceeded",
        0x99 => "payload format invalid",
        _ => "refused",
    }
}
