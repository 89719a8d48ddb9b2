//! WebSocket stage: the HTTP upgrade for `ws://` and `wss://` targets, then MQTT over it.
//!
//! Brokers behind browsers, gateways and ingresses are reached over WebSocket, and the upgrade
//! fails in ways an MQTT client reports as "connection lost": a path the server has no route for
//! (404), something in front wanting credentials (401/403), a reverse proxy whose backend is down
//! (502), a server that upgrades but does not take the `mqtt` subprotocol (MQTT.js and Paho
//! abort), or a port that is plain MQTT. Each gets a finding with the server's own status line and
//! the response headers that matter.
//!
//! The handshake is tungstenite's (through async-tungstenite, over whatever stream the lower
//! stages built: TCP, a proxy tunnel, TLS), classified by its error variants. Once upgraded,
//! [`bytes::MessageStream`] turns binary messages back into a byte stream, so the MQTT stage runs
//! over it unchanged, and counts the pings a hostile server floods it with.
//!
//! This module observes: it makes the upgrade, and when no HTTP answer comes, the plain MQTT
//! CONNECT on a new connection; it returns what happened as an [`Upgrade`] of typed values
//! (tungstenite's response and error variants, the probe's [`PlainReply`]). [`explain`] turns
//! that into the finding and the summary line, without I/O.
//!
//! [`bytes::MessageStream`]: crate::transport::websocket::bytes::MessageStream

use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::error::{Error as WsError, ProtocolError, SubProtocolError};
use async_tungstenite::tungstenite::http::Response;

use crate::findings::millis;
use crate::stages::context::{Budget, Context, StageOutput};
use crate::transport::probe::{self, PlainReply};
use crate::transport::websocket::upgrade;
use crate::transport::{Connection, Peer, ProxyHeader, Transport};

mod explain;

/// How the upgrade ended.
pub(super) enum Upgrade {
    /// The server switched to WebSocket with the `mqtt` subprotocol.
    Upgraded {
        stream: Box<dyn Transport>,
        response: Response<Option<Vec<u8>>>,
        elapsed: Duration,
    },
    /// The server answered with an HTTP status other than 101 (tungstenite keeps the body,
    /// capped when shown).
    Refused(Response<Option<Vec<u8>>>),
    /// The server switched protocols, but not to `mqtt`.
    NoSubprotocol(SubProtocolError),
    /// No HTTP answer came, and `plain` is what a plain MQTT CONNECT on a new connection (with
    /// TLS when the target has it) got back; `proxy`, the PROXY protocol headers behind which
    /// the upgrade succeeded on a new connection.
    NotHttp {
        why: NoHttp,
        plain: PlainReply,
        proxy: Vec<ProxyHeader>,
    },
}

/// Why the upgrade got no HTTP answer.
pub(super) enum NoHttp {
    /// The handshake broke: the connection ended, or what came back is not HTTP.
    Broken(WsError),
    /// Nothing came back within the step's budget.
    Silent(Budget),
}

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
    let config = ctx.config;
    if !config.target.scheme.is_websocket() {
        return StageOutput::not_applicable(format!(
            "{}:// is MQTT over TCP: no WebSocket upgrade",
            config.target.scheme.as_str()
        ));
    }
    let Some(connection) = ctx.connection.take() else {
        return StageOutput::not_applicable("no connection to upgrade");
    };
    let peer = connection.peer;

    let observed = observe(ctx, connection.stream, &peer).await;
    let (summary, finding) = explain::explain(config, &peer, &observed);

    if let Upgrade::Upgraded {
        stream, elapsed, ..
    } = observed
    {
        ctx.observed.websocket_ms = Some(millis(elapsed));
        ctx.connection = Some(Connection { stream, peer });
        ctx.dialer.websocket = true;
    }
    StageOutput::done(summary, vec![finding])
}

/// Upgrades `stream`, a connection to `peer`; without an HTTP answer, tries a plain MQTT CONNECT
/// on a new connection to see whether the port is an MQTT listener.
async fn observe(ctx: &Context<'_>, stream: Box<dyn Transport>, peer: &Peer) -> Upgrade {
    let budget = ctx.budget();
    let started = Instant::now();
    let attempt = budget.run(upgrade(ctx.config, stream)).await;
    let elapsed = started.elapsed();

    let why = match attempt {
        Some(Ok((stream, response))) => {
            return Upgrade::Upgraded {
                stream,
                response,
                elapsed,
            };
        }
        Some(Err(error)) => match *error {
            WsError::Http(response) => return Upgrade::Refused(response),
            WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(error)) => {
                return Upgrade::NoSubprotocol(error);
            }
            error => NoHttp::Broken(error),
        },
        None => NoHttp::Silent(budget),
    };
    // Side by side, within one more step: is the port plain MQTT? Does the upgrade go through
    // behind a PROXY header (a listener that expects one)?
    let budget = ctx.budget();
    let behind = |header| async move {
        let upgraded = budget
            .run(async {
                let stream = ctx
                    .dialer
                    .open_secured_with(peer, Some(header))
                    .await
                    .ok()?;
                upgrade(ctx.config, stream).await.ok()
            })
            .await
            .flatten();
        upgraded.map(|_| header)
    };
    let (plain, v1, v2) = tokio::join!(
        probe::plain_connect(ctx.dialer.open_secured(peer), budget),
        behind(ProxyHeader::V1),
        behind(ProxyHeader::V2)
    );
    let proxy = [v1, v2].into_iter().flatten().collect();
    Upgrade::NotHttp { why, plain, proxy }
}
