//! The broker's own word on what it is: the version it publishes under `$SYS` (Mosquitto's
//! `$SYS/broker/version`, EMQX's `$SYS/brokers/NODE/version`). Asked only when the user lets the
//! client subscribe (`--subscribe`) and nothing has identified the family yet, on a connection
//! of its own with the run's credentials and a new client id, so that a broker that denies by
//! closing cannot end the session the topic checks run on. QoS 0, a clean session and a
//! DISCONNECT: nothing is left on the broker.

use super::*;
use session::Next;

/// How long the question may take, from opening the connection to the version: a broker
/// publishes it as a retained message right after the SUBACK, and one that has none only costs
/// this much, beside the topic checks that run at the same time.
const SYS_WINDOW: Duration = Duration::from_millis(500);

/// The filters asked, Mosquitto's and EMQX's.
const FILTERS: [&str; 2] = ["$SYS/broker/version", "$SYS/brokers/+/version"];

/// Characters of the topic and version kept: what a broker puts there is short, and it is the
/// peer's text.
const MAX_SYS_TEXT: usize = 120;

/// What a `$SYS` version topic said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SysVersion {
    pub(super) topic: String,
    pub(super) text: String,
}

/// Connects as the run did and reads the first version published on [`FILTERS`], if one comes
/// within [`SYS_WINDOW`] (and the step).
pub(super) async fn version(
    ctx: &Context<'_>,
    peer: &Peer,
    protocol: Protocol,
    sent: &Sent,
) -> Option<SysVersion> {
    let window = Budget::new(SYS_WINDOW, ctx.budget().until);
    let ask = async {
        let stream = ctx.reconnect(peer).await.ok()?;
        let client_id = probe::random_client_id();
        let attempt = connect(ctx, Wire::new(stream), protocol, &client_id, sent).await;
        let Answer::Connack { wire, connack } = attempt.answer else {
            return None;
        };
        if connack.code != 0 {
            return None;
        }
        let mut session = Session {
            wire,
            protocol,
            next_packet_id: 1,
            keepalive: ctx.config.mqtt.keepalive,
            timings: session::Timings::default(),
            gone: false,
        };
        let id = session.packet_id();
        let mut packet = BytesMut::new();
        match protocol {
            Protocol::V5 => {
                let mut subscribe = Subscribe::new_many(
                    FILTERS.map(|f| Filter::new(f.to_string(), QoS::AtMostOnce)),
                    None,
                );
                subscribe.pkid = id;
                subscribe.write(&mut packet).ok()?;
            }
            Protocol::V311 => {
                let mut subscribe = v4::Subscribe::new_many(FILTERS.map(|f| {
                    v4::SubscribeFilter::new(f.to_string(), rumqttc::mqttbytes::QoS::AtMostOnce)
                }));
                subscribe.pkid = id;
                subscribe.write(&mut packet).ok()?;
            }
        }
        session.wire.send(&packet, window.until).await.ok()?;
        let found = loop {
            match session.next(window.until).await {
                Next::Frame(frame) if frame.packet_type() == PACKET_PUBLISH => {
                    let Some((topic, payload)) = session.take_publish(&frame, window.until).await
                    else {
                        continue;
                    };
                    if topic.starts_with("$SYS/") && topic.ends_with("/version") {
                        break Some(SysVersion {
                            topic: peer_text(&topic, MAX_SYS_TEXT),
                            text: crate::secret::peer_bytes(&payload, MAX_SYS_TEXT),
                        });
                    }
                }
                Next::Frame(_) => continue,
                Next::TimedOut => break None,
                Next::Ended(..) => {
                    session.gone = true;
                    break None;
                }
            }
        };
        if !session.gone {
            session.disconnect(window.until).await;
        }
        found
    };
    window.run(ask).await.flatten()
}
