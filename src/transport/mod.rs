//! The transport: how the doctor reaches a broker, layer by layer. A [`Transport`] is any byte
//! stream the upper stages talk over (TCP, a proxy's tunnel, TLS, WebSocket, stacked); a
//! [`Connection`] is one with its [`Peer`]; a [`Dialer`] opens another connection the way the
//! stages opened the first, for the side probes and the MQTT stage's retry. The layers'
//! handshakes live here too ([`tunnel`], [`websocket`]), so that the stages that report on them
//! and the dialer that repeats them share one implementation without importing each other.

pub(crate) mod probe;
pub(crate) mod tunnel;
pub(crate) mod websocket;

use std::net::SocketAddr;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::DoctorConfig;

/// A byte stream the upper stages talk over: TCP, a proxy tunnel, TLS, WebSocket, stacked.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + Sync {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Transport for T {}

/// Who is at the other end of a connection, as reports name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Where the TCP connection goes: the broker, or the proxy.
    pub addr: SocketAddr,
    /// Through a proxy: the broker as the proxy was asked for it (`host:port`).
    pub via_proxy: Option<String>,
    /// The broker's port (the proxy's port is in `addr`).
    broker_port: u16,
}

impl Peer {
    pub fn direct(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            via_proxy: None,
            broker_port: addr.port(),
        }
    }

    pub fn proxied(proxy: SocketAddr, broker: String, broker_port: u16) -> Peer {
        Peer {
            addr: proxy,
            via_proxy: Some(broker),
            broker_port,
        }
    }

    /// The broker's port, whichever way the connection goes.
    pub fn port(&self) -> u16 {
        self.broker_port
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.via_proxy {
            None => write!(f, "{}", self.addr),
            Some(broker) => write!(f, "{broker} (through the proxy at {})", self.addr),
        }
    }
}

/// An established connection, handed up from stage to stage.
pub struct Connection {
    pub stream: Box<dyn Transport>,
    pub peer: Peer,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A PROXY protocol header (HAProxy's proxy-protocol.txt), the line or binary block a load
/// balancer puts before the client's first byte so that the broker learns the client's address.
/// The follow-up probes send one to find out whether a listener expects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProxyHeader {
    /// The text line, `PROXY TCP4 src dst sport dport\r\n` (HAProxy `send-proxy`).
    V1,
    /// The binary header (HAProxy `send-proxy-v2`, AWS NLB, Azure Private Link).
    V2,
}

impl ProxyHeader {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ProxyHeader::V1 => "v1",
            ProxyHeader::V2 => "v2",
        }
    }

    /// The header for a connection from `source` to `destination`: the doctor's own addresses,
    /// as a load balancer would pass on the client's.
    fn bytes(self, source: SocketAddr, destination: SocketAddr) -> std::io::Result<Vec<u8>> {
        match self {
            ProxyHeader::V1 => Ok(ppp::v1::Addresses::from((source, destination))
                .to_string()
                .into_bytes()),
            ProxyHeader::V2 => ppp::v2::Builder::with_addresses(
                ppp::v2::Version::Two | ppp::v2::Command::Proxy,
                ppp::v2::Protocol::Stream,
                (source, destination),
            )
            .build(),
        }
    }
}

/// The TLS stage's client configuration and server name, to secure another connection.
pub(crate) struct TlsDialer {
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
}

impl std::fmt::Debug for TlsDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsDialer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How to open another connection the way the stages opened the first: the proxy's tunnel, TLS
/// and the WebSocket upgrade, each as the stage that put it up did it.
#[derive(Debug, Default)]
pub(crate) struct Dialer {
    /// The proxy tunnel the proxy stage opened.
    pub tunnel: Option<tunnel::Tunnel>,
    /// How the TLS stage secured the connection.
    pub tls: Option<TlsDialer>,
    /// The WebSocket stage upgraded the connection.
    pub websocket: bool,
}

impl Dialer {
    /// Opens a new connection to `peer` as the TCP and proxy stages did: TCP, and the proxy's
    /// tunnel when there is one. What the side probes (is this port TLS? plain MQTT?) talk over.
    pub async fn open_raw(&self, peer: &Peer) -> std::io::Result<Box<dyn Transport>> {
        self.open_raw_with(peer, None).await
    }

    /// [`Dialer::open_raw`], then `header` as the first bytes the broker's side receives:
    /// after the proxy's tunnel, before TLS, as a load balancer in front would put it.
    pub async fn open_raw_with(
        &self,
        peer: &Peer,
        header: Option<ProxyHeader>,
    ) -> std::io::Result<Box<dyn Transport>> {
        let tcp = TcpStream::connect(peer.addr).await?;
        let _ = tcp.set_nodelay(true);
        let addresses = (tcp.local_addr()?, tcp.peer_addr()?);
        let mut stream: Box<dyn Transport> = match &self.tunnel {
            None => Box::new(tcp),
            Some(tunnel) => tunnel::open(tcp, tunnel)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        };
        if let Some(header) = header {
            stream
                .write_all(&header.bytes(addresses.0, addresses.1)?)
                .await?;
        }
        Ok(stream)
    }

    /// [`Dialer::open_raw`], then TLS as the TLS stage did it, when it did.
    pub async fn open_secured(&self, peer: &Peer) -> std::io::Result<Box<dyn Transport>> {
        self.open_secured_with(peer, None).await
    }

    /// [`Dialer::open_secured`] with a PROXY header first (see [`Dialer::open_raw_with`]).
    pub async fn open_secured_with(
        &self,
        peer: &Peer,
        header: Option<ProxyHeader>,
    ) -> std::io::Result<Box<dyn Transport>> {
        let raw = self.open_raw_with(peer, header).await?;
        match &self.tls {
            None => Ok(raw),
            Some(TlsDialer { connector, name }) => {
                Ok(Box::new(connector.connect(name.clone(), raw).await?))
            }
        }
    }

    /// Opens a new connection to `peer` with every layer the stages put up: TCP, the proxy's
    /// tunnel, TLS and the WebSocket upgrade.
    pub async fn reconnect(
        &self,
        config: &DoctorConfig,
        peer: &Peer,
    ) -> std::io::Result<Box<dyn Transport>> {
        self.reconnect_with(config, peer, None).await
    }

    /// [`Dialer::reconnect`] with a PROXY header first (see [`Dialer::open_raw_with`]).
    pub async fn reconnect_with(
        &self,
        config: &DoctorConfig,
        peer: &Peer,
        header: Option<ProxyHeader>,
    ) -> std::io::Result<Box<dyn Transport>> {
        let secured = self.open_secured_with(peer, header).await?;
        if !self.websocket {
            return Ok(secured);
        }
        websocket::upgrade(config, secured)
            .await
            .map(|(stream, _)| stream)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}
