//! Entry points for the fuzz targets under `fuzz/` and for `tests/fuzz_regressions.rs`, which
//! replays every input the fuzzers were seeded with or ever failed on. Each takes arbitrary
//! bytes, as a broken file or a hostile server would supply them, and goes through the same code
//! the doctor runs on them; it must return without a panic, a hang or an unbounded allocation.
//! Not part of the tool's interface.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::certs::{self, CertSummary};
use crate::config::{CredentialSource, KeySource, TokenChecks};
use crate::config_file::ConfigFile;
use crate::secret::Secret;
use crate::target::{self, Scheme};
use crate::wire::Wire;

/// A fuzz target's body.
pub type Entry = fn(&[u8]);

/// Every fuzz target by name, as `fuzz/fuzz_targets/NAME.rs` calls it. `mqtt_session` needs
/// tokio's paused clock, which only the `fuzzing` feature builds in.
pub const TARGETS: &[(&str, Entry)] = &[
    ("target_url", target_url),
    ("token", token),
    ("pem", pem),
    ("mqtt_frames", mqtt_frames),
    ("config_file", config_file),
    #[cfg(feature = "fuzzing")]
    ("mqtt_session", mqtt_session),
];

/// The fuzz targets that only the `fuzzing` feature builds in.
pub const FEATURE_TARGETS: &[&str] = &["mqtt_session"];

/// A fixed "now" (2026-01-01), so that a crash found today reproduces next year.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// The target on the command line, with every scheme a preset may imply, and the same text read
/// as a proxy URL (`--proxy`, `HTTPS_PROXY`).
pub fn target_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    target::redact(text);
    crate::proxy::redact(text);
    if let Ok(proxy) = crate::proxy::parse(text, "fuzz") {
        proxy.url();
    }
    if let Ok(target) = target::parse(text) {
        target.url();
        target.authority();
    }
    for scheme in [Scheme::Mqtt, Scheme::Mqtts, Scheme::Ws, Scheme::Wss] {
        if let Ok(target) = target::parse_with(text, scheme, Some(18883)) {
            target.url();
        }
    }
}

/// A token as a file or value holds it, checked with and without a key, as `token inspect` and
/// the auth stage do.
pub fn token(data: &[u8]) {
    let source = CredentialSource::Value(Secret::new(data));
    let mut checks = TokenChecks {
        audience: Some("aio-internal".into()),
        issuer: Some("https://issuer.example".into()),
        ..TokenChecks::default()
    };
    crate::stages::auth::inspect(&source, &checks, now());
    checks.key = Some(KeySource::Secret {
        secret: Secret::new(&b"fuzzing-hmac-secret"[..]),
        base64: false,
    });
    crate::stages::auth::inspect(&source, &checks, now());
}

/// A CA bundle, a client certificate, a private key, or a JWT verification key (PEM or JWKS).
pub fn pem(data: &[u8]) {
    let path = Path::new("fuzz.pem");
    if let Ok(chain) = certs::parse_certs(data, path) {
        let summaries: Vec<CertSummary> = chain
            .iter()
            .filter_map(|der| CertSummary::from_der(der).ok())
            .collect();
        for summary in &summaries {
            summary.sans_text();
        }
        certs::chain_json(&summaries, now());
    }
    if let Ok(key) = certs::parse_key(data, path) {
        let _ = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(key);
    }
    let _ = CertSummary::from_der(data);
    let _ = crate::jwt::keys_from_pem(data, "fuzz.pem");
    let _ = crate::jwt::keys_from_jwks(data, "fuzz.jwks");
}

/// Bytes from a broker: cut into frames by the doctor's frame reader, each frame given to every
/// packet reader (CONNACK, AUTH, SUBACK, PUBACK, PUBLISH, DISCONNECT).
pub fn mqtt_frames(data: &[u8]) {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    });
    let stream = tokio::io::join(std::io::Cursor::new(data.to_vec()), tokio::io::sink());
    let mut wire = Wire::new(Box::new(stream));
    runtime.block_on(async {
        while let Ok(frame) = wire.read_frame().await {
            crate::stages::mqtt::decode_any(&frame);
        }
    });
}

/// An `mqtt-doctor.toml`, with every profile it names.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ConfigFile::parse(text, Path::new("/fuzz/mqtt-doctor.toml")) else {
        return;
    };
    let _ = file.layers(None);
    for profile in file.profiles() {
        let _ = file.layers(Some(&profile));
    }
}

#[cfg(feature = "fuzzing")]
pub use session::{SessionRun, mqtt_session, session_run};

/// The MQTT stage's receive loops driven by a fuzzed peer: the CONNECT exchange with its AUTH
/// rounds, the topic checks and the hold, over an in-memory duplex stream, on tokio's paused
/// clock. Time then costs nothing: a peer that goes silent makes the clock jump to the next
/// timer, so an input that would hold a real run for its whole deadline takes microseconds, and
/// the entry point can check that the stage ended within the run's deadline on that clock.
#[cfg(feature = "fuzzing")]
mod session {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    use crate::config::{DoctorConfig, MqttVersion};
    use crate::stages::context::Context;
    use crate::target::{self, Scheme};
    use crate::transport::{Connection, Peer};

    /// Each network step's timeout, as the hostile-peer tests set it.
    const TIMEOUT: Duration = Duration::from_secs(1);
    /// The run's deadline, far beyond what the stage needs, so that the bound below checks every
    /// step and not only the run: a wait stretched by a trickling peer would run on to here.
    const DEADLINE: Duration = Duration::from_secs(60);
    /// The hold some inputs ask for.
    const HOLD: Duration = Duration::from_secs(2);
    /// The steps the stage may take at most, each within [`TIMEOUT`]: the CONNECT exchange, the
    /// MQTT 3.1.1 retry (a new connection, then its exchange), a side probe of the port, the
    /// SUBACK and PUBACK waits, the hold's last PINGREQ, the DISCONNECT; and one to spare.
    const MAX_STEPS: u32 = 9;

    /// The most the stage's findings may weigh, serialized, whatever the peer sent.
    const MAX_FINDINGS_BYTES: usize = 256 * 1024;

    /// What a run did, for the replay test to look at.
    #[derive(Debug)]
    pub struct SessionRun {
        /// Time on the paused clock from the CONNECT to the stage's end.
        pub elapsed: Duration,
        /// The stage's findings, serialized.
        pub findings_bytes: usize,
        pub finding_ids: Vec<&'static str>,
    }

    /// The fuzz target: panics if the stage outlives its deadline or reports without bound.
    pub fn mqtt_session(data: &[u8]) {
        let run = session_run(data);
        let bound = HOLD + TIMEOUT * MAX_STEPS;
        assert!(
            run.elapsed <= bound,
            "the MQTT stage ran {:?}: more than {MAX_STEPS} steps of {TIMEOUT:?} and the hold",
            run.elapsed
        );
        assert!(
            run.findings_bytes <= MAX_FINDINGS_BYTES,
            "{} bytes of findings",
            run.findings_bytes
        );
    }

    /// The peer's script, from the fuzz input. The first byte chooses the run's options
    /// (protocol version, subscribe, publish, hold, enhanced authentication); each byte after it
    /// is an instruction, its top two bits the kind:
    /// - `00nnnnnn`: send the next n+1 bytes of the input;
    /// - `01nnnnnn`: wait (n+1) × 100 ms;
    /// - `10nnnnnn`: send the last chunk again (n+1) × 16 times: a flood (up to 1,024 copies a
    ///   step: enough to cross every count the stage keeps, few enough that the fuzzer stays
    ///   fast: at × 256, floods took a third of a second an input, natively);
    /// - `11nnnnnn`: n = 0 closes the peer's side, 1 stops reading what the doctor sends, 2..=7
    ///   send a well-formed packet (CONNACK 5 and 3.1.1, SUBACK, PUBACK, PINGRESP, the doctor's
    ///   own message coming back), so that the fuzzer reaches the later loops quickly.
    enum Op<'a> {
        Send(&'a [u8]),
        Wait(Duration),
        Repeat(usize),
        Close,
        StopReading,
    }

    const CANNED: [&[u8]; 6] = [
        // CONNACK, MQTT 5, success, no properties.
        &[0x20, 0x03, 0x00, 0x00, 0x00],
        // CONNACK, MQTT 3.1.1, accepted.
        &[0x20, 0x02, 0x00, 0x00],
        // SUBACK for packet 1, MQTT 5, QoS 0 granted.
        &[0x90, 0x04, 0x00, 0x01, 0x00, 0x00],
        // PUBACK for packet 2.
        &[0x40, 0x02, 0x00, 0x02],
        // PINGRESP.
        &[0xd0, 0x00],
        // PUBLISH QoS 0 on "t" with MQTT 5's empty properties: the doctor's message for packet 2.
        b"\x30\x1c\x00\x01t\x00mqtt-doctor check fuzz 2",
    ];

    fn script(data: &[u8]) -> Vec<Op<'_>> {
        let mut ops = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let op = data[i];
            let n = usize::from(op & 0x3f);
            i += 1;
            ops.push(match op >> 6 {
                0 => {
                    let end = (i + n + 1).min(data.len());
                    let chunk = &data[i..end];
                    i = end;
                    Op::Send(chunk)
                }
                1 => Op::Wait(Duration::from_millis(100 * (n as u64 + 1))),
                2 => Op::Repeat((n + 1) * 16),
                _ => match n {
                    0 => Op::Close,
                    1 => Op::StopReading,
                    n => Op::Send(CANNED[(n - 2) % CANNED.len()]),
                },
            });
        }
        ops
    }

    fn config(options: u8) -> DoctorConfig {
        // Port 1 on loopback: the side probes the stage may try (does this port speak TLS? a
        // second connection for MQTT 3.1.1) are refused at once, and never leave the machine.
        let target = target::parse_with("127.0.0.1:1", Scheme::Mqtt, None)
            .expect("a loopback target parses");
        let mut config = DoctorConfig::new(target);
        config.timeout = TIMEOUT;
        config.deadline = DEADLINE;
        config.mqtt.client_id = Some("fuzz".into());
        config.mqtt.version = match options & 3 {
            0 => MqttVersion::Auto,
            2 => MqttVersion::V311,
            _ => MqttVersion::V5,
        };
        if options & 4 != 0 {
            config.mqtt.subscribe = vec!["t".into()];
        }
        if options & 8 != 0 {
            config.mqtt.publish = vec!["t".into()];
        }
        if options & 16 != 0 {
            config.mqtt.hold = HOLD;
        }
        if options & 32 != 0 && config.mqtt.version != MqttVersion::V311 {
            config.mqtt.auth_method = Some("K8S-SAT".into());
        }
        config
    }

    /// Runs the MQTT stage against the scripted peer and says how it went.
    pub fn session_run(data: &[u8]) -> SessionRun {
        let (options, rest) = data.split_first().unwrap_or((&0, &[]));
        let config = config(*options);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
        runtime.block_on(async {
            let (doctor_side, peer_side) = tokio::io::duplex(16 * 1024);
            let (mut from_doctor, mut to_doctor) = tokio::io::split(peer_side);
            let stop_reading = tokio::sync::Notify::new();
            // What the doctor sends is drained until the script says otherwise; then it backs
            // up in the duplex buffer and the doctor's writes must give up at their deadline.
            let reader = async {
                let mut sink = [0u8; 4096];
                loop {
                    tokio::select! {
                        _ = stop_reading.notified() => return,
                        read = from_doctor.read(&mut sink) => {
                            if !matches!(read, Ok(n) if n > 0) {
                                return;
                            }
                        }
                    }
                }
            };
            let writer = async {
                let mut last: &[u8] = &[];
                for op in script(rest) {
                    let sent = match op {
                        Op::Send(chunk) => {
                            last = chunk;
                            to_doctor.write_all(chunk).await
                        }
                        Op::Repeat(times) => {
                            let mut result = Ok(());
                            for _ in 0..times {
                                result = to_doctor.write_all(last).await;
                                if result.is_err() {
                                    break;
                                }
                            }
                            result
                        }
                        Op::Wait(pause) => {
                            tokio::time::sleep(pause).await;
                            Ok(())
                        }
                        Op::Close => {
                            let _ = to_doctor.shutdown().await;
                            return;
                        }
                        Op::StopReading => {
                            stop_reading.notify_one();
                            Ok(())
                        }
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            };
            // The peer stays, silent, once its script is done, until the doctor leaves.
            let peer = async {
                tokio::join!(reader, writer);
                std::future::pending::<()>().await
            };

            let started = Instant::now();
            let mut ctx = Context::new(&config, started + config.deadline);
            ctx.connection = Some(Connection {
                stream: Box::new(doctor_side),
                peer: Peer::direct(SocketAddr::from((Ipv4Addr::LOCALHOST, 1))),
            });
            let stage = crate::stages::mqtt::run(&mut ctx);
            let output = tokio::select! {
                output = stage => output,
                () = peer => unreachable!("the scripted peer never finishes"),
            };
            let elapsed = started.elapsed();
            let findings_bytes = output
                .findings
                .iter()
                .map(|f| {
                    f.detail.len()
                        + f.fix.as_ref().map_or(0, String::len)
                        + serde_json::to_string(&f.evidence).map_or(0, |e| e.len())
                })
                .sum();
            SessionRun {
                elapsed,
                findings_bytes,
                finding_ids: output.findings.iter().map(|f| f.id()).collect(),
            }
        })
    }
}
