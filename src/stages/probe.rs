//! Small protocol probes on a fresh connection, used to tell which protocol a port speaks when
//! the expected one fails: a plain MQTT 3.1.1 CONNECT (does a CONNACK come back?).
//!
//! The probe leaves nothing behind: a random client id (so no real device is kicked off), a
//! clean session, and a DISCONNECT right after the CONNACK.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{Connect, Disconnect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stages::context::Budget;
use crate::transport::Transport;

/// What came back to a plain CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlainReply {
    /// A CONNACK, with its return code.
    Connack(u8),
    /// Something else, first bytes kept as evidence.
    Other(Vec<u8>),
    /// Closed, reset, or no answer in time.
    Nothing(String),
}

impl PlainReply {
    /// What came back, for a finding's text.
    pub(crate) fn describe(&self) -> String {
        match self {
            PlainReply::Connack(code) => format!("CONNACK {code}"),
            PlainReply::Other(bytes) => format!("it answered {}", crate::wire::hex(bytes)),
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
    let exchange = async {
        let mut stream = open.await?;
        let mut packet = BytesMut::new();
        Connect::new(random_client_id())
            .write(&mut packet)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
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
            return Ok(PlainReply::Nothing("closed without a reply".into()));
        }
        Ok::<_, std::io::Error>(PlainReply::Other(reply[..read].to_vec()))
    };
    match budget.run(exchange).await {
        None => PlainReply::Nothing(format!("no reply within {}", budget.describe())),
        Some(Err(e)) => PlainReply::Nothing(format!("{}", e.kind())),
        Some(Ok(reply)) => reply,
    }
}
