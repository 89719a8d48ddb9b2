//! A proxy's tunnel: HTTP `CONNECT` (its reply head read byte by byte, capped, parsed with
//! httparse) or SOCKS5 (tokio-socks), over a connection to the proxy. The proxy stage reports on
//! the first tunnel; the [`super::Dialer`] opens the next ones the same way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_socks::tcp::Socks5Stream;

use super::Transport;
use crate::proxy::{Proxy, ProxyKind};
use crate::secret::{MAX_PEER_TEXT, peer_bytes, peer_text};

/// The longest HTTP reply head read from a proxy; real ones are a few hundred bytes.
pub(crate) const MAX_REPLY_HEAD: usize = 16 * 1024;

/// A tunnel as the proxy stage opened it, to open another one the same way.
#[derive(Clone, Debug)]
pub(crate) struct Tunnel {
    pub proxy: Proxy,
    pub target: TunnelTarget,
}

/// What the proxy is asked to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TunnelTarget {
    /// A name (or IP literal) and port, for the proxy to resolve.
    Name(String, u16),
    /// An address resolved here (SOCKS5 without `h`).
    Addr(SocketAddr),
}

impl TunnelTarget {
    /// `host:port`, IPv6 in brackets, as an HTTP CONNECT line names it.
    pub fn authority(&self) -> String {
        match self {
            TunnelTarget::Name(host, port) if host.contains(':') => format!("[{host}]:{port}"),
            TunnelTarget::Name(host, port) => format!("{host}:{port}"),
            TunnelTarget::Addr(addr) => addr.to_string(),
        }
    }
}

/// How a tunnel request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyFailure {
    #[error("the proxy answered \"{status_line}\"")]
    Http {
        status: u16,
        status_line: String,
        /// `Proxy-Authenticate` (or `WWW-Authenticate`), when the proxy sent one.
        authenticate: Option<String>,
    },
    #[error("the proxy answered with {} bytes that are not HTTP", .0.len())]
    NotHttp(Vec<u8>),
    #[error("the proxy's reply head is longer than {MAX_REPLY_HEAD} bytes")]
    TooLong,
    #[error("the proxy closed the connection without answering")]
    Closed,
    #[error("SOCKS5: {0}")]
    Socks(#[from] tokio_socks::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Opens the tunnel over `stream`, a connection to the proxy. `received` counts the bytes the
/// proxy sent during an HTTP handshake, for the report when it stops answering.
pub(crate) async fn open<S: Transport + 'static>(
    stream: S,
    tunnel: &Tunnel,
) -> Result<Box<dyn Transport>, ProxyFailure> {
    open_counting(stream, tunnel, &AtomicUsize::new(0))
        .await
        .map(|(stream, _)| stream)
}

pub(crate) async fn open_counting<S: Transport + 'static>(
    stream: S,
    tunnel: &Tunnel,
    received: &AtomicUsize,
) -> Result<(Box<dyn Transport>, String), ProxyFailure> {
    match tunnel.proxy.kind {
        ProxyKind::Http => http_connect(stream, tunnel, received).await,
        ProxyKind::Socks5 | ProxyKind::Socks5h => socks_connect(stream, tunnel).await,
    }
}

async fn http_connect<S: Transport + 'static>(
    mut stream: S,
    tunnel: &Tunnel,
    received: &AtomicUsize,
) -> Result<(Box<dyn Transport>, String), ProxyFailure> {
    let authority = tunnel.target.authority();
    let mut request = format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: mqtt-doctor/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(credentials) = basic_credentials(&tunnel.proxy) {
        request.push_str(&format!("Proxy-Authorization: Basic {credentials}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;

    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_REPLY_HEAD {
            return Err(ProxyFailure::TooLong);
        }
        let mut byte = [0u8; 1];
        match stream.read(&mut byte).await {
            Ok(0) if head.is_empty() => return Err(ProxyFailure::Closed),
            Ok(0) => return Err(ProxyFailure::NotHttp(head)),
            Ok(_) => {
                head.push(byte[0]);
                received.fetch_add(1, Ordering::Relaxed);
                if head.len() == 5 && !head.starts_with(b"HTTP/") {
                    return Err(ProxyFailure::NotHttp(head));
                }
            }
            Err(e) if head.is_empty() && is_reset(&e) => return Err(ProxyFailure::Closed),
            Err(e) => return Err(e.into()),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    if !matches!(response.parse(&head), Ok(httparse::Status::Complete(_))) {
        return Err(ProxyFailure::NotHttp(head));
    }
    let status = response.code.unwrap_or(0);
    // The reason phrase and the challenge are the proxy's own words, quoted in findings:
    // cleaned of control characters and capped (a hostile proxy may send anything there).
    let status_line = peer_text(
        &format!(
            "HTTP/1.{} {status} {}",
            response.version.unwrap_or(1),
            response.reason.unwrap_or("")
        ),
        MAX_PEER_TEXT,
    );
    if (200..300).contains(&status) {
        return Ok((Box::new(stream), status_line));
    }
    let authenticate = response
        .headers
        .iter()
        .find(|h| {
            h.name.eq_ignore_ascii_case("proxy-authenticate")
                || h.name.eq_ignore_ascii_case("www-authenticate")
        })
        .map(|h| peer_bytes(h.value, MAX_PEER_TEXT));
    Err(ProxyFailure::Http {
        status,
        status_line,
        authenticate,
    })
}

pub(crate) fn is_reset(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
    )
}

/// `user:password` in Base64, for HTTP Basic; `None` without a user name or password.
fn basic_credentials(proxy: &Proxy) -> Option<String> {
    if !proxy.has_credentials() {
        return None;
    }
    let mut plain = proxy.username.clone().unwrap_or_default().into_bytes();
    plain.push(b':');
    if let Some(password) = &proxy.password {
        plain.extend_from_slice(password.expose());
    }
    Some(base64::engine::general_purpose::STANDARD.encode(plain))
}

async fn socks_connect<S: Transport + 'static>(
    stream: S,
    tunnel: &Tunnel,
) -> Result<(Box<dyn Transport>, String), ProxyFailure> {
    let proxy = &tunnel.proxy;
    let password = proxy
        .password
        .as_ref()
        .map(|p| String::from_utf8_lossy(p.expose()).into_owned());
    let connected = match (&tunnel.target, &proxy.username) {
        (TunnelTarget::Name(host, port), Some(user)) => {
            Socks5Stream::connect_with_password_and_socket(
                stream,
                (host.as_str(), *port),
                user,
                password.as_deref().unwrap_or(""),
            )
            .await
        }
        (TunnelTarget::Name(host, port), None) => {
            Socks5Stream::connect_with_socket(stream, (host.as_str(), *port)).await
        }
        (TunnelTarget::Addr(addr), Some(user)) => {
            Socks5Stream::connect_with_password_and_socket(
                stream,
                *addr,
                user,
                password.as_deref().unwrap_or(""),
            )
            .await
        }
        (TunnelTarget::Addr(addr), None) => Socks5Stream::connect_with_socket(stream, *addr).await,
    };
    Ok((Box::new(connected?), "succeeded (reply 0x00)".to_string()))
}
