//! The WebSocket upgrade for `ws://` and `wss://` targets (tungstenite's handshake, through
//! async-tungstenite, over whatever stream the lower layers built), and the byte stream MQTT
//! runs over afterwards ([`bytes::MessageStream`]). The WebSocket stage reports on the first
//! upgrade; the [`super::Dialer`] repeats it.

pub(crate) mod bytes;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::error::Error as WsError;
use async_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Response};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::Transport;
use crate::config::DoctorConfig;

/// The subprotocol MQTT over WebSocket is registered under (MQTT 5.0, section 6).
pub(crate) const SUBPROTOCOL: &str = "mqtt";

/// The largest WebSocket message or frame accepted: well above the MQTT stage's own frame cap,
/// far below what could hurt.
const MAX_MESSAGE: usize = 1024 * 1024;

/// The upgrade request for the target: its path, `Sec-WebSocket-Protocol: mqtt`, and the extra
/// headers given with `--ws-header`.
pub(crate) fn request(
    config: &DoctorConfig,
) -> Result<async_tungstenite::tungstenite::handshake::client::Request, Box<WsError>> {
    let target = &config.target;
    let scheme = if config.uses_tls() { "wss" } else { "ws" };
    let path = target.path.as_deref().unwrap_or("/mqtt");
    let mut request = format!("{scheme}://{}{path}", target.authority())
        .into_client_request()
        .map_err(Box::new)?;
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    for header in &config.websocket.headers {
        // Both were checked when the option was parsed.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(header.value.expose()),
        ) {
            headers.append(name, value);
        }
    }
    Ok(request)
}

/// The most the doctor lets tungstenite buffer for writing. MQTT packets the doctor sends are
/// small; the bound is for the pongs tungstenite queues by itself when a peer pings and does
/// not read (the default is unbounded).
const MAX_WRITE_BUFFER: usize = 256 * 1024;

/// Upgrades `stream` to a WebSocket and returns it as a byte stream, with the server's response.
pub(crate) async fn upgrade(
    config: &DoctorConfig,
    stream: Box<dyn Transport>,
) -> Result<(Box<dyn Transport>, Response<Option<Vec<u8>>>), Box<WsError>> {
    let mut limits = WebSocketConfig::default();
    limits.max_message_size = Some(MAX_MESSAGE);
    limits.max_frame_size = Some(MAX_MESSAGE);
    limits.write_buffer_size = 0;
    limits.max_write_buffer_size = MAX_WRITE_BUFFER;
    let (socket, response) =
        async_tungstenite::tokio::client_async_with_config(request(config)?, stream, Some(limits))
            .await?;
    Ok((Box::new(bytes::MessageStream::new(socket)), response))
}
