//! A scripted MQTT broker on loopback, for behaviour no broker installable here shows (EMQX's
//! 0x86, HiveMQ's reason strings, Azure IoT Operations' K8S-SAT acceptance, a 3.1.1-only broker,
//! an AUTH continue exchange, redirects). Each test that uses it names the real broker whose
//! behaviour it reproduces and where that behaviour is documented.
//!
//! Connection number N follows `scripts[N]` (the last script repeats). Every frame the client
//! sends is recorded, so a test can check what the doctor put on the wire.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One step of a script.
#[derive(Clone, Debug)]
pub enum Step {
    /// Read one frame from the client (and record it).
    Read,
    /// Send these bytes.
    Send(Vec<u8>),
    /// Wait.
    Sleep(Duration),
    /// Answer every PINGREQ with PINGRESP and ack nothing else, until the client leaves.
    Serve,
    /// Answer PINGREQs like [`Step::Serve`], but after this long send these bytes and stop.
    ServeThen(Duration, Vec<u8>),
    /// Close the connection.
    Close,
}

pub struct Scripted {
    pub addr: SocketAddr,
    /// Frames received, per connection.
    pub received: Arc<Mutex<Vec<Vec<Vec<u8>>>>>,
}

/// A connection the script runs over: plain TCP, or TLS over it.
trait Conn: Read + Write {
    fn socket(&self) -> &TcpStream;
}

impl Conn for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

/// A TLS server configuration with this certificate chain and key (PEM).
pub fn tls_config(cert_pem: &str, key_pem: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate"),
    )
}

impl Scripted {
    pub fn start(scripts: Vec<Vec<Step>>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        Self::serve(listener, scripts, None)
    }

    /// Listens on `addr` (a loopback address) and speaks TLS with `tls` when given, as a broker's
    /// TLS listener does.
    pub fn start_on(
        addr: SocketAddr,
        scripts: Vec<Vec<Step>>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Scripted> {
        Ok(Self::serve(TcpListener::bind(addr)?, scripts, tls))
    }

    fn serve(
        listener: TcpListener,
        scripts: Vec<Vec<Step>>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Scripted {
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Vec<Vec<u8>>>>> = Arc::default();
        let log = received.clone();
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let script = scripts[n.min(scripts.len() - 1)].clone();
                log.lock().unwrap().push(Vec::new());
                let log = log.clone();
                let tls = tls.clone();
                thread::spawn(move || {
                    let _ = match tls {
                        None => run(stream, &script, &log, n),
                        Some(config) => rustls::ServerConnection::new(config)
                            .map_err(io::Error::other)
                            .and_then(|conn| {
                                run(rustls::StreamOwned::new(conn, stream), &script, &log, n)
                            }),
                    };
                });
            }
        });
        Scripted { addr, received }
    }

    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// The frames the client sent on connection `n`.
    pub fn frames(&self, n: usize) -> Vec<Vec<u8>> {
        self.received
            .lock()
            .unwrap()
            .get(n)
            .cloned()
            .unwrap_or_default()
    }
}

fn run(
    mut stream: impl Conn,
    script: &[Step],
    log: &Mutex<Vec<Vec<Vec<u8>>>>,
    n: usize,
) -> io::Result<()> {
    stream
        .socket()
        .set_read_timeout(Some(Duration::from_secs(20)))?;
    let record = |frame: &[u8]| log.lock().unwrap()[n].push(frame.to_vec());
    for step in script {
        match step {
            Step::Read => {
                let frame = read_frame(&mut stream)?;
                record(&frame);
            }
            Step::Send(bytes) => stream.write_all(bytes)?,
            Step::Sleep(d) => thread::sleep(*d),
            Step::Close => return Ok(()),
            Step::Serve => loop {
                let frame = read_frame(&mut stream)?;
                record(&frame);
                match frame[0] >> 4 {
                    12 => stream.write_all(&[0xd0, 0x00])?,
                    14 => return Ok(()),
                    _ => {}
                }
            },
            Step::ServeThen(after, bytes) => {
                stream.socket().set_read_timeout(Some(*after))?;
                loop {
                    match read_frame(&mut stream) {
                        Ok(frame) => {
                            record(&frame);
                            if frame[0] >> 4 == 12 {
                                stream.write_all(&[0xd0, 0x00])?;
                            }
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                            ) =>
                        {
                            stream.write_all(bytes)?;
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
    // Keep the connection until the client leaves.
    let mut sink = [0u8; 256];
    while stream.read(&mut sink)? > 0 {}
    Ok(())
}

/// One whole MQTT frame, fixed header included, read from a blocking stream.
pub fn read_frame(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut frame = vec![0u8; 1];
    stream.read_exact(&mut frame)?;
    let mut remaining = 0usize;
    let mut multiplier = 1usize;
    loop {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte)?;
        frame.push(byte[0]);
        remaining += (byte[0] & 0x7f) as usize * multiplier;
        multiplier *= 128;
        if byte[0] & 0x80 == 0 || frame.len() > 5 {
            break;
        }
    }
    let start = frame.len();
    frame.resize(start + remaining, 0);
    stream.read_exact(&mut frame[start..])?;
    Ok(frame)
}

/// An MQTT 5 CONNACK with `code` and raw property bytes.
pub fn connack_v5(code: u8, properties: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, code];
    push_varint(&mut body, properties.len());
    body.extend_from_slice(properties);
    let mut frame = vec![0x20];
    push_varint(&mut frame, body.len());
    frame.extend(body);
    frame
}

/// An MQTT 5 DISCONNECT with `code` and raw property bytes.
pub fn disconnect_v5(code: u8, properties: &[u8]) -> Vec<u8> {
    let mut body = vec![code];
    push_varint(&mut body, properties.len());
    body.extend_from_slice(properties);
    let mut frame = vec![0xe0];
    push_varint(&mut frame, body.len());
    frame.extend(body);
    frame
}

/// An MQTT 5 AUTH with reason `code`, method and data.
pub fn auth_v5(code: u8, method: &str, data: &[u8]) -> Vec<u8> {
    let mut properties = string_property(0x15, method);
    properties.push(0x16);
    properties.extend_from_slice(&(data.len() as u16).to_be_bytes());
    properties.extend_from_slice(data);
    let mut body = vec![code];
    push_varint(&mut body, properties.len());
    body.extend(properties);
    let mut frame = vec![0xf0];
    push_varint(&mut frame, body.len());
    frame.extend(body);
    frame
}

/// A UTF-8 string property (reason string 0x1F, server reference 0x1C, ...).
pub fn string_property(id: u8, value: &str) -> Vec<u8> {
    let mut out = vec![id];
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    out
}

fn push_varint(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            return;
        }
    }
}

/// The protocol level byte of a CONNECT frame (4 = 3.1.1, 5 = MQTT 5).
pub fn protocol_level(connect: &[u8]) -> u8 {
    // Fixed header (1 + length bytes), then "MQTT" as a 2-byte-length string, then the level.
    let mut i = 1;
    while connect[i] & 0x80 != 0 {
        i += 1;
    }
    connect[i + 1 + 6]
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
