//! The physical floor of a healthy TLS check: a TCP connect, a TLS handshake, an MQTT 3.1.1
//! CONNECT and its CONNACK, then DISCONNECT, and nothing else. bench/run.sh times it against
//! the doctor on the same broker in the same run, so the doctor's cost over the bare protocol
//! is a ratio rather than a guess (docs/benchmarks.md).
//!
//! usage: cargo run --release --example floor -- HOST PORT CAFILE
//! Exits 0 on CONNACK return code 0, 1 otherwise.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type Error = Box<dyn std::error::Error>;

/// CONNECT, MQTT 3.1.1: clean session, keepalive 60 s, a client id of its own.
fn connect_packet(client_id: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

async fn floor(host: &str, port: u16, cafile: &str) -> Result<u8, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cafile)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // The doctor sets TCP_NODELAY too: the floor must not pay Nagle's delay where it does not.
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(host.to_string())?;
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(&connect_packet(&format!("floor-{}", std::process::id())))
        .await?;
    let mut connack = [0u8; 4];
    tls.read_exact(&mut connack).await?;
    if connack[0] != 0x20 {
        return Err(format!("not a CONNACK: {connack:02x?}").into());
    }
    tls.write_all(&[0xe0, 0x00]).await?;
    tls.shutdown().await?;
    Ok(connack[3])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, cafile] = args.as_slice() else {
        eprintln!("usage: floor HOST PORT CAFILE");
        std::process::exit(2);
    };
    let port: u16 = port.parse().unwrap_or_else(|_| {
        eprintln!("floor: not a port: {port}");
        std::process::exit(2);
    });
    match tokio::time::timeout(Duration::from_secs(5), floor(host, port, cafile)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(code)) => {
            eprintln!("floor: CONNACK return code {code}");
            std::process::exit(1);
        }
        Ok(Err(error)) => {
            eprintln!("floor: {error}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("floor: no CONNACK within 5 s");
            std::process::exit(1);
        }
    }
}
