//! MQTT over WebSocket as a byte stream: binary messages in, binary messages out, so the MQTT
//! stage runs over it unchanged.
//!
//! `ws_stream_tungstenite` did this before, but a peer could hurt the doctor through it: every
//! ping it reads is handled by recursing into the next read and queued as an event, and
//! tungstenite's write buffer is unbounded by default, so a server that floods pings while not
//! reading grew the doctor by hundreds of megabytes. This adapter reads in a loop, never
//! recursing, counts the pings, and gives up with a typed [`PingFlood`] when a peer sends
//! [`MAX_PINGS_WITHOUT_DATA`] of them without a byte of MQTT in between. tungstenite answers each
//! ping itself, and its write buffer is bounded by the stage's `WebSocketConfig`, so queued pongs
//! cannot pile up either: tungstenite keeps at most one pong waiting.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use bytes::{Buf, Bytes};
use futures_util::io::{AsyncRead as FuturesRead, AsyncWrite as FuturesWrite};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Pings in a row, without MQTT data between them, that make a flood. A server pings every few
/// seconds to keep a connection alive; a hundred in a row, within one run, is no keepalive.
pub(crate) const MAX_PINGS_WITHOUT_DATA: u64 = 100;

/// The WebSocket peer sent ping after ping and no MQTT data: the typed error inside the
/// `io::Error` a read returns, for the MQTT stage to recognise by downcasting.
#[derive(Debug, thiserror::Error)]
#[error("the WebSocket server sent {pings} pings in a row without any MQTT data")]
pub(crate) struct PingFlood {
    pub pings: u64,
}

impl PingFlood {
    /// The flood behind an I/O error, if that is what it is.
    pub(crate) fn behind(error: &io::Error) -> Option<&PingFlood> {
        error.get_ref()?.downcast_ref::<PingFlood>()
    }
}

/// A WebSocket client connection as a byte stream.
pub(crate) struct MessageStream<S> {
    socket: WebSocketStream<S>,
    /// What is left of the last binary message.
    pending: Bytes,
    pings_in_a_row: u64,
}

impl<S> MessageStream<S> {
    pub(crate) fn new(socket: WebSocketStream<S>) -> Self {
        MessageStream {
            socket,
            pending: Bytes::new(),
            pings_in_a_row: 0,
        }
    }
}

impl<S> std::fmt::Debug for MessageStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("pending", &self.pending.len())
            .field("pings_in_a_row", &self.pings_in_a_row)
            .finish_non_exhaustive()
    }
}

/// A tungstenite error as the `io::Error` the byte stream returns: the transport's own error
/// when there is one, so that the MQTT stage classifies resets and TLS alerts as it does on TCP.
fn io_error(error: WsError) -> io::Error {
    match error {
        WsError::Io(error) => error,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::from(io::ErrorKind::ConnectionAborted)
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

impl<S: FuturesRead + FuturesWrite + Unpin> AsyncRead for MessageStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            // Each poll of the socket spends tokio's cooperative budget, so a peer whose data
            // is always ready still lets a step's timer fire.
            match ready!(Pin::new(&mut self.socket).poll_next(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                // Only data breaks a run of pings: empty messages would let a flood go on forever.
                Some(Ok(Message::Binary(data))) if !data.is_empty() => {
                    self.pings_in_a_row = 0;
                    self.pending = data;
                }
                Some(Ok(Message::Ping(_))) => {
                    self.pings_in_a_row += 1;
                    if self.pings_in_a_row >= MAX_PINGS_WITHOUT_DATA {
                        let flood = PingFlood {
                            pings: self.pings_in_a_row,
                        };
                        return Poll::Ready(Err(io::Error::other(flood)));
                    }
                }
                // MQTT travels in binary messages only (MQTT 5.0, 6.0); a text message's bytes
                // are still what the peer sent, and the MQTT stage names them.
                Some(Ok(Message::Text(text))) if !text.is_empty() => {
                    self.pings_in_a_row = 0;
                    self.pending = Bytes::from(text);
                }
                Some(Ok(
                    Message::Binary(_) | Message::Text(_) | Message::Pong(_) | Message::Frame(_),
                )) => {}
                Some(Err(error)) => return Poll::Ready(Err(io_error(error))),
            }
        }
    }
}

impl<S: FuturesRead + FuturesWrite + Unpin> AsyncWrite for MessageStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(Pin::new(&mut self.socket).poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut self.socket)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx).map_err(io_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_close(cx).map_err(io_error)
    }
}
