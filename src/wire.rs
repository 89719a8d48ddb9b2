//! MQTT frames read off the wire by the doctor itself.
//!
//! rumqttc's codec decodes packets well but loses what a diagnosis needs: an incoming
//! AUTH is an error, a 3.1.1 CONNACK fed to the MQTT 5 parser is consumed and lost, unknown codes
//! drop the properties, and a TLS alert or an HTTP reply decodes as nonsense. So this module cuts
//! the byte stream into frames (fixed header and remaining length) and keeps every byte, and the
//! MQTT stage hands each whole frame to the codec's per-packet readers. Before the first frame it
//! sniffs for a TLS record and for HTTP, the two answers a wrong port gives.
//!
//! A hostile or broken server cannot make the doctor allocate much: a frame may claim at most
//! [`MAX_FRAME`] bytes, and the claim is refused before anything of that size is read. Nor can it
//! hold the doctor: every read and write ends at an absolute instant (the step's end, see
//! [`Wire::read_frame_until`]), however the peer trickles, and a [`Tally`] counts what arrived so
//! that a finding can say what came before the cut.

use std::io;
// tokio's clock, not std's: a step's end is a tokio timer, and the fuzz target runs the exchange
// on a paused tokio clock, where only tokio's `Instant` moves.
use tokio::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use rumqttc::mqttbytes::FixedHeader as V4Header;
use rumqttc::v5::mqttbytes::v5::FixedHeader as V5Header;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::transport::Transport;

/// The largest frame the doctor accepts: CONNACK, SUBACK, PUBACK, AUTH and DISCONNECT are small,
/// and the only PUBLISH it waits for is its own.
pub const MAX_FRAME: usize = 256 * 1024;

/// How much of an HTTP reply is kept to find its status line.
const MAX_HTTP_LINE: usize = 256;

/// Bytes shown as evidence, at most.
const EVIDENCE_BYTES: usize = 48;

/// One MQTT control packet, every byte of it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The whole frame, fixed header included.
    pub bytes: Bytes,
    header_len: usize,
}

impl Frame {
    pub fn byte1(&self) -> u8 {
        self.bytes[0]
    }

    pub fn packet_type(&self) -> u8 {
        self.byte1() >> 4
    }

    /// The variable header and payload.
    pub fn body(&self) -> &[u8] {
        &self.bytes[self.header_len..]
    }

    /// The header the MQTT 5 packet readers take with the whole frame.
    pub fn v5_header(&self) -> V5Header {
        V5Header::new(self.byte1(), self.header_len - 1, self.body().len())
    }

    /// The header the MQTT 3.1.1 packet readers take with the whole frame.
    pub fn v4_header(&self) -> V4Header {
        V4Header::new(self.byte1(), self.header_len - 1, self.body().len())
    }

    /// The frame as hex, shortened, for evidence.
    pub fn hex(&self) -> String {
        hex(&self.bytes)
    }
}

/// The MQTT control packet type's name.
pub fn packet_name(packet_type: u8) -> &'static str {
    match packet_type {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        15 => "AUTH",
        _ => "reserved type 0",
    }
}

/// Bytes as space-separated hex, cut at [`EVIDENCE_BYTES`].
pub fn hex(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes
        .iter()
        .take(EVIDENCE_BYTES)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut text = shown.join(" ");
    if bytes.len() > EVIDENCE_BYTES {
        text.push_str(&format!(" … ({} bytes)", bytes.len()));
    }
    text
}

/// Why no frame came.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection; `received` holds the bytes of an unfinished frame.
    Closed { received: Vec<u8> },
    /// The connection failed (reset, or a TLS error inside the stream).
    Io { error: io::Error, received: Vec<u8> },
    /// The first bytes are a TLS record, not MQTT.
    Tls { received: Vec<u8> },
    /// The first bytes are an HTTP response.
    Http { status_line: String },
    /// The frame claims more than [`MAX_FRAME`] bytes.
    TooLarge { packet_type: u8, claimed: usize },
    /// The remaining length runs over four bytes, which MQTT forbids.
    BadLength { received: Vec<u8> },
    /// The first byte cannot start a server's answer to CONNECT (CONNACK, AUTH or DISCONNECT).
    /// `received` holds the first [`EVIDENCE_BYTES`] of the `total` buffered.
    NotAnAnswer { received: Vec<u8>, total: usize },
}

/// What arrived over a connection: frames by packet type, and their bytes. Counters, never the
/// frames themselves, so a flood costs nothing to remember.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub frames: [u32; 16],
    pub bytes: u64,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.frames.iter().map(|&n| u64::from(n)).sum()
    }

    pub fn of(&self, packet_type: u8) -> u32 {
        self.frames[usize::from(packet_type & 0x0f)]
    }

    /// `12000 AUTH packets (720.1 KB)`, the packet types most frequent first; empty when nothing
    /// arrived.
    pub fn describe(&self) -> String {
        let mut kinds: Vec<(u8, u32)> = (0u8..16)
            .map(|t| (t, self.of(t)))
            .filter(|&(_, n)| n > 0)
            .collect();
        if kinds.is_empty() {
            return String::new();
        }
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let parts: Vec<String> = kinds
            .iter()
            .map(|&(t, n)| {
                format!(
                    "{n} {} packet{}",
                    packet_name(t),
                    if n == 1 { "" } else { "s" }
                )
            })
            .collect();
        format!("{} ({})", parts.join(", "), size(self.bytes))
    }
}

/// A byte count as a report shows it.
pub fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Why a write did not go through.
#[derive(Debug)]
pub enum SendError {
    /// The step ended first: the peer stopped reading, and the connection's buffers are full.
    Cut,
    /// The connection failed.
    Io(io::Error),
}

impl SendError {
    /// The reason in words, for a finding's detail.
    pub fn describe(&self) -> String {
        match self {
            SendError::Cut => "the peer stopped reading before the step ended".into(),
            SendError::Io(error) => error.kind().to_string(),
        }
    }
}

/// Frames in both directions over one connection.
pub struct Wire {
    stream: Box<dyn Transport>,
    buffer: BytesMut,
    first: bool,
    tally: Tally,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl Wire {
    pub fn new(stream: Box<dyn Transport>) -> Wire {
        Wire {
            stream,
            buffer: BytesMut::with_capacity(1024),
            first: true,
            tally: Tally::default(),
        }
    }

    /// Writes `bytes` whole by `until`: a peer that stops reading cannot block the doctor past
    /// it.
    pub async fn send(&mut self, bytes: &[u8], until: Instant) -> Result<(), SendError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout_at(until, write).await {
            Ok(result) => result.map_err(SendError::Io),
            Err(_) => Err(SendError::Cut),
        }
    }

    /// Closes our side, giving up at `until`; errors do not matter any more.
    pub async fn close(mut self, until: Instant) {
        let _ = tokio::time::timeout_at(until, self.stream.shutdown()).await;
    }

    /// What has arrived since the last call, and a fresh count from here on.
    pub fn take_tally(&mut self) -> Tally {
        std::mem::take(&mut self.tally)
    }

    /// Reads the next frame, unless `until` comes first: then `Ok(None)`, even when a whole
    /// frame is already buffered. The instant is absolute, so frames that keep arriving never
    /// extend a wait; a peer that trickles one frame a second gets as much time as a silent one.
    pub async fn read_frame_until(&mut self, until: Instant) -> Result<Option<Frame>, ReadError> {
        if Instant::now() >= until {
            return Ok(None);
        }
        match tokio::time::timeout_at(until, self.read_frame()).await {
            Err(_) => Ok(None),
            Ok(result) => result.map(Some),
        }
    }

    /// The bytes of a frame that has begun but not finished arriving.
    pub fn pending(&self) -> &[u8] {
        &self.buffer[..self.buffer.len().min(EVIDENCE_BYTES)]
    }

    /// Reads the next frame, with no time limit of its own: callers bound it with
    /// [`Wire::read_frame_until`]. Cancel-safe: bytes already read stay in the buffer, so a
    /// cancelled read loses nothing.
    pub async fn read_frame(&mut self) -> Result<Frame, ReadError> {
        loop {
            if self.first
                && let Some(error) = self.sniff()
            {
                return Err(error);
            }
            if let Some(frame) = self.split_frame()? {
                self.first = false;
                return Ok(frame);
            }
            match self.stream.read_buf(&mut self.buffer).await {
                Ok(0) => {
                    if self.first && self.buffer.starts_with(b"HTTP/") {
                        let line = self.buffer[..]
                            .split(|&b| b == b'\r' || b == b'\n')
                            .next()
                            .unwrap_or_default();
                        return Err(ReadError::Http {
                            status_line: String::from_utf8_lossy(line).to_string(),
                        });
                    }
                    return Err(ReadError::Closed {
                        received: self.buffer.to_vec(),
                    });
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(ReadError::Io {
                        error,
                        received: self.buffer.to_vec(),
                    });
                }
            }
        }
    }

    /// A TLS record (handshake or alert, version 3.x), an HTTP status line, or any byte that
    /// cannot start an answer to CONNECT, where the first MQTT frame should be.
    fn sniff(&self) -> Option<ReadError> {
        let bytes = &self.buffer[..];
        if bytes.len() >= 2 && (0x14..=0x17).contains(&bytes[0]) && bytes[1] == 0x03 {
            return Some(ReadError::Tls {
                received: bytes.to_vec(),
            });
        }
        if let Some(&first) = bytes.first()
            && !matches!(first, 0x20 | 0xE0 | 0xF0)
            && !b"HTTP/".starts_with(&bytes[..bytes.len().min(5)])
        {
            return Some(ReadError::NotAnAnswer {
                received: bytes.iter().take(EVIDENCE_BYTES).copied().collect(),
                total: bytes.len(),
            });
        }
        if bytes.len() >= 5 && bytes.starts_with(b"HTTP/") {
            let end = bytes.iter().position(|&b| b == b'\n');
            if end.is_some() || bytes.len() >= MAX_HTTP_LINE {
                let line = &bytes[..end.unwrap_or(MAX_HTTP_LINE).min(MAX_HTTP_LINE)];
                return Some(ReadError::Http {
                    status_line: String::from_utf8_lossy(line).trim_end().to_string(),
                });
            }
        }
        None
    }

    fn split_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        let Some((header_len, remaining)) = remaining_length(&self.buffer)? else {
            return Ok(None);
        };
        if remaining > MAX_FRAME {
            return Err(ReadError::TooLarge {
                packet_type: self.buffer[0] >> 4,
                claimed: remaining,
            });
        }
        // A frame that may still be an HTTP line waits for its newline instead.
        if self.first && self.buffer.starts_with(b"HTTP/") {
            return Ok(None);
        }
        let total = header_len + remaining;
        if self.buffer.len() < total {
            self.buffer.reserve(total - self.buffer.len());
            return Ok(None);
        }
        let bytes = self.buffer.split_to(total).freeze();
        let count = &mut self.tally.frames[usize::from(bytes[0] >> 4)];
        *count = count.saturating_add(1);
        self.tally.bytes = self.tally.bytes.saturating_add(total as u64);
        Ok(Some(Frame { bytes, header_len }))
    }
}

/// The fixed header's length and the remaining length, once enough bytes are there.
fn remaining_length(buffer: &[u8]) -> Result<Option<(usize, usize)>, ReadError> {
    let mut value = 0usize;
    let mut bytes = buffer.iter().skip(1);
    for (i, multiplier) in [1usize, 128, 128 * 128, 128 * 128 * 128].iter().enumerate() {
        let Some(&byte) = bytes.next() else {
            return Ok(None);
        };
        value += (byte & 0x7f) as usize * multiplier;
        if byte & 0x80 == 0 {
            return Ok(Some((i + 2, value)));
        }
    }
    Err(ReadError::BadLength {
        received: buffer.iter().take(EVIDENCE_BYTES).copied().collect(),
    })
}

/// An MQTT 5 variable byte integer at the start of `bytes`, consumed.
pub fn read_varint(bytes: &mut Bytes) -> Option<usize> {
    let mut value = 0usize;
    for multiplier in [1usize, 128, 128 * 128, 128 * 128 * 128] {
        if !bytes.has_remaining() {
            return None;
        }
        let byte = bytes.get_u8();
        value += (byte & 0x7f) as usize * multiplier;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Appends an MQTT 5 variable byte integer.
pub fn write_varint(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(bytes: &[u8]) -> Vec<Result<Frame, ReadError>> {
        let (mut client, server) = tokio::io::duplex(4096);
        client.write_all(bytes).await.unwrap();
        drop(client);
        let mut wire = Wire::new(Box::new(server));
        let mut out = Vec::new();
        loop {
            let result = wire.read_frame().await;
            let stop = result.is_err();
            out.push(result);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn splits_frames_and_keeps_their_bytes() {
        let out = frames(&[0x20, 0x03, 0x00, 0x87, 0x00, 0xd0, 0x00]).await;
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.packet_type(), 2);
        assert_eq!(first.body(), &[0x00, 0x87, 0x00]);
        assert_eq!(out[1].as_ref().unwrap().packet_type(), 13);
        assert!(matches!(&out[2], Err(ReadError::Closed { received }) if received.is_empty()));
    }

    #[tokio::test]
    async fn refuses_a_huge_claim_without_reading_it() {
        // 256 MB: ff ff ff 7f.
        let out = frames(&[0x20, 0xff, 0xff, 0xff, 0x7f, 0x00]).await;
        assert!(matches!(
            out[0],
            Err(ReadError::TooLarge {
                packet_type: 2,
                claimed: 268_435_455
            })
        ));
    }

    #[tokio::test]
    async fn refuses_a_fifth_length_byte() {
        let out = frames(&[0x20, 0x80, 0x80, 0x80, 0x80, 0x01]).await;
        assert!(matches!(out[0], Err(ReadError::BadLength { .. })));
    }

    #[tokio::test]
    async fn recognises_http_and_tls() {
        let out = frames(b"HTTP/1.0 403 Forbidden\r\n\r\n").await;
        assert!(
            matches!(&out[0], Err(ReadError::Http { status_line }) if status_line == "HTTP/1.0 403 Forbidden")
        );
        let out = frames(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]).await;
        assert!(matches!(out[0], Err(ReadError::Tls { .. })));
    }

    #[tokio::test]
    async fn a_cut_frame_is_reported_with_its_bytes() {
        let out = frames(&[0x20, 0x03, 0x00]).await;
        assert!(
            matches!(&out[0], Err(ReadError::Closed { received }) if received == &[0x20, 0x03, 0x00])
        );
    }

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 16_383, 16_384, 2_097_152] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(read_varint(&mut Bytes::from(out)), Some(value));
        }
    }
}
