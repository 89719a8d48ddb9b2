//! Hostile and broken peers, all on loopback: the doctor is run when things are already broken,
//! so against each of them it must reach a verdict within its run deadline, name what it saw, and
//! keep its memory small however much the peer claims or sends.
//!
//! Every run goes through GNU time, which reports the process's peak resident set size: a peer
//! that could make the doctor buffer what it sends would show here.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::dns::SilentDns;
use common::jwt::{Token, now};
use common::{ReportExt, Run, doctor_command, run_with};
use mqtt_doctor::report::Report;

/// Each network step's timeout and the whole run's deadline, as a CI job would set them.
const TIMEOUT: &str = "1s";
const DEADLINE: Duration = Duration::from_secs(4);
/// Process start and the report after the deadline, on a loaded two-core machine.
const SLACK: Duration = Duration::from_secs(2);
/// The bound on peak memory.
const MAX_RSS_KB: u64 = 20 * 1024;

/// What a hostile peer does with each connection it accepts.
type Behaviour = fn(TcpStream, &AtomicBool);

/// A loopback server running one behaviour on every connection, stopped when dropped.
struct Peer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Peer {
    fn start(behaviour: Behaviour) -> Peer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let flag = flag.clone();
                thread::spawn(move || behaviour(stream, &flag));
            }
        });
        Peer { addr, stop }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Holds the connection open, reading and discarding, until the peer is stopped or the client
/// leaves.
fn hold(mut stream: TcpStream, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut sink = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Reads whatever the client sent first (its CONNECT or ClientHello).
fn read_first(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.read(&mut [0u8; 4096]);
}

/// Writes `bytes` one a second, over and over, until the client leaves.
fn trickle(mut stream: TcpStream, stop: &AtomicBool, bytes: &[u8]) {
    for byte in bytes.iter().cycle() {
        if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).is_err() {
            return;
        }
        thread::sleep(Duration::from_secs(1));
    }
}

/// Sends `bytes`, then keeps sending zeros as fast as the client takes them: a peer whose claim
/// would be believed gets all the data it asked for.
fn flood_after(mut stream: TcpStream, stop: &AtomicBool, bytes: &[u8]) {
    if stream.write_all(bytes).is_err() {
        return;
    }
    let zeros = [0u8; 64 * 1024];
    let mut sent = 0usize;
    while !stop.load(Ordering::Relaxed) && sent < 512 << 20 {
        match stream.write(&zeros) {
            Ok(n) if n > 0 => sent += n,
            _ => return,
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift64*): the same garbage on every run.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// One measured run of the doctor.
struct Measured {
    run: Run,
    elapsed: Duration,
    peak_rss_kb: u64,
}

impl Measured {
    fn report(&self) -> Report {
        self.run.report()
    }

    /// The verdict came within the deadline, with a root cause, in little memory.
    fn assert_bounded(&self, case: &str) -> Report {
        assert_eq!(
            self.run.code, 1,
            "{case}: exit code {}:\n{}{}",
            self.run.code, self.run.stdout, self.run.stderr
        );
        assert!(
            self.elapsed < DEADLINE + SLACK,
            "{case}: the verdict took {:?}, deadline {DEADLINE:?}",
            self.elapsed
        );
        assert!(
            self.peak_rss_kb > 0 && self.peak_rss_kb < MAX_RSS_KB,
            "{case}: peak resident memory {} KiB",
            self.peak_rss_kb
        );
        let report = self.report();
        let cause = report
            .verdict
            .root_cause
            .clone()
            .unwrap_or_else(|| panic!("{case}: no root cause:\n{}", self.run.stdout));
        assert!(
            !report.finding(&cause).detail.is_empty(),
            "{case}: an empty detail"
        );
        report
    }
}

/// Runs `doctor TARGET --format json` with the hostile-peer timeout and deadline under GNU time.
fn doctor(target: &str, extra: &[&str]) -> Measured {
    let time = ["/usr/bin/time", "/bin/time"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("GNU time is not installed; run `bash scripts/install-test-deps.sh`");
    let dir = tempfile::tempdir().unwrap();
    let rss_file = dir.path().join("rss");
    let deadline = format!("{}s", DEADLINE.as_secs());
    let doctor = doctor_command();
    let mut command = Command::new(time);
    command
        .env_clear()
        .envs(doctor.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    command
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(doctor.get_program());
    let mut args = vec![
        "doctor",
        target,
        "--format",
        "json",
        "--timeout",
        TIMEOUT,
        "--deadline",
        &deadline,
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let run = run_with(command, &args);
    let elapsed = started.elapsed();
    let text = fs::read_to_string(&rss_file).unwrap_or_default();
    let peak_rss_kb = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time wrote no peak memory: {text:?}"));
    Measured {
        run,
        elapsed,
        peak_rss_kb,
    }
}

#[test]
fn accepts_and_never_speaks() {
    let peer = Peer::start(hold);
    let plain = doctor(&format!("mqtt://{}", peer.addr), &[]);
    let report = plain.assert_bounded("plain, silent");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("mqtt.no_connack")
    );
    assert!(
        report
            .finding("mqtt.no_connack")
            .detail
            .contains("did not answer"),
        "{}",
        report.finding("mqtt.no_connack").detail
    );

    let tls = doctor(&format!("mqtts://{}", peer.addr), &[]);
    let report = tls.assert_bounded("TLS, silent");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.handshake_failed")
    );
    let detail = &report.finding("tls.handshake_failed").detail;
    assert!(
        detail.contains("did not complete the TLS handshake within 1s"),
        "{detail}"
    );
}

#[test]
fn slowloris_one_byte_a_second() {
    // A CONNACK that would accept the connection, if it ever arrived whole.
    let peer = Peer::start(|mut stream, stop| {
        read_first(&mut stream);
        trickle(stream, stop, &[0x20, 0x7f, 0x00, 0x00]);
    });
    let measured = doctor(&format!("mqtt://{}", peer.addr), &[]);
    let report = measured.assert_bounded("slowloris");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("mqtt.no_connack")
    );
    // It says how far the packet got, not that nothing came.
    let detail = &report.finding("mqtt.no_connack").detail;
    assert!(detail.contains("began answering"), "{detail}");
    assert!(detail.contains("so far: 20"), "{detail}");

    // The same peer on a TLS target: the trickle is not a ServerHello.
    let measured = doctor(&format!("mqtts://{}", peer.addr), &[]);
    let report = measured.assert_bounded("slowloris, TLS");
    assert!(
        report
            .verdict
            .root_cause
            .as_deref()
            .unwrap()
            .starts_with("tls."),
        "{:?}",
        report.ids()
    );
}

#[test]
fn connack_claiming_256_megabytes() {
    // Remaining length 268,435,455 (the largest MQTT can encode), then the data to match.
    let peer = Peer::start(|mut stream, stop| {
        read_first(&mut stream);
        flood_after(stream, stop, &[0x20, 0xff, 0xff, 0xff, 0x7f]);
    });
    let measured = doctor(&format!("mqtt://{}", peer.addr), &[]);
    let report = measured.assert_bounded("256 MB CONNACK");
    assert_eq!(report.verdict.root_cause.as_deref(), Some("mqtt.not_mqtt"));
    let detail = &report.finding("mqtt.not_mqtt").detail;
    assert!(detail.contains("claiming 268435455 bytes"), "{detail}");
}

#[test]
fn random_bytes() {
    // Garbage at once on accept (before CONNECT is even read) and, on a TLS target, in answer
    // to the ClientHello.
    let seeds: Vec<u64> = (1..=6).collect();
    let handles: Vec<_> = seeds
        .into_iter()
        .map(|seed| {
            thread::spawn(move || {
                fn behaviour(mut stream: TcpStream, stop: &AtomicBool) {
                    let seed = stream.local_addr().unwrap().port() as u64;
                    let _ = stream.write_all(&garbage(seed, 1 << 20));
                    hold(stream, stop);
                }
                let peer = Peer::start(behaviour);
                let plain = doctor(&format!("mqtt://{}", peer.addr), &[]);
                let report = plain.assert_bounded(&format!("random bytes, seed {seed}"));
                let tls = doctor(&format!("mqtts://{}", peer.addr), &[]);
                let tls_report = tls.assert_bounded(&format!("random bytes, TLS, seed {seed}"));
                (report, tls_report)
            })
        })
        .collect();
    for handle in handles {
        let (plain, tls) = handle.join().expect("a random-bytes case");
        // Whatever the bytes, they are named as not what was expected, never as success.
        let cause = plain.verdict.root_cause.unwrap();
        assert!(
            cause.starts_with("mqtt.") && cause != "mqtt.connected",
            "{cause}"
        );
        let cause = tls.verdict.root_cause.unwrap();
        assert!(cause.starts_with("tls."), "{cause}");
    }
}

#[test]
fn an_http_server() {
    // What nginx answers to bytes that are not HTTP.
    let peer = Peer::start(|mut stream, stop| {
        read_first(&mut stream);
        let body = "<html>\r\n<head><title>400 Bad Request</title></head>\r\n</html>\r\n";
        let reply = format!(
            "HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
        hold(stream, stop);
    });
    let measured = doctor(&format!("mqtt://{}", peer.addr), &[]);
    let report = measured.assert_bounded("HTTP server");
    assert_eq!(report.verdict.root_cause.as_deref(), Some("mqtt.not_mqtt"));
    let detail = &report.finding("mqtt.not_mqtt").detail;
    assert!(detail.contains("HTTP/1.1 400 Bad Request"), "{detail}");
}

#[test]
fn tls_server_stalling_mid_handshake() {
    // The first bytes of a ServerHello record (handshake, TLS 1.2, 0x0400 bytes long) after the
    // ClientHello, then nothing: a TLS terminator whose backend hangs.
    let peer = Peer::start(|mut stream, stop| {
        read_first(&mut stream);
        let _ = stream.write_all(&[0x16, 0x03, 0x03, 0x04, 0x00, 0x02, 0x00, 0x00]);
        hold(stream, stop);
    });
    let measured = doctor(&format!("mqtts://{}", peer.addr), &[]);
    let report = measured.assert_bounded("TLS stall");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("tls.handshake_failed")
    );
    let finding = report.finding("tls.handshake_failed");
    assert!(
        finding
            .detail
            .contains("began the TLS handshake but did not finish it within 1s")
            && finding
                .detail
                .contains("sent 8 bytes (16 03 03 04 00 02 00 00)"),
        "{}",
        finding.detail
    );
    assert!(finding.fix.as_deref().unwrap().contains("MSS clamping"));
}

#[test]
fn dns_server_that_never_answers() {
    let silent = SilentDns::start();
    // Well-known files are read below an empty root, so the machine's resolver is never asked.
    let root = common::fake_root("");
    let measured = doctor(
        "mqtt://broker.example.test:1883",
        &[
            "--dns-server",
            &silent.addr.to_string(),
            "--root",
            &root.path().display().to_string(),
        ],
    );
    let report = measured.assert_bounded("silent DNS");
    assert_eq!(report.verdict.root_cause.as_deref(), Some("dns.timeout"));
}

/// Files that never end or never open: `/dev/zero` and a named pipe no one writes to, given
/// wherever the doctor takes a file. Each is named as unusable, quickly and in little memory.
#[test]
fn endless_and_blocking_files() {
    let peer = Peer::start(hold);
    let tls = format!("mqtts://{}", peer.addr);
    let plain = format!("mqtt://{}", peer.addr);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let fifo = fifo.to_str().unwrap();
    let token = Token::new("RS256")
        .claim("exp", now() + 600)
        .with_signature(b"not checked: the key file is unusable");

    // Every case waits out the file timeout on the pipe: run them side by side.
    thread::scope(|scope| {
        for file in ["/dev/zero", fifo] {
            let token_id = if file == fifo {
                "token.unreadable"
            } else {
                // Too large to be a token.
                "token.malformed"
            };
            let cases = [
                (&tls, vec!["--cafile", file], "tls.ca_file_invalid"),
                (
                    &tls,
                    vec!["--cert", file, "--key", file],
                    "tls.client_cert_invalid",
                ),
                (&plain, vec!["-u", "u", "--token-file", file], token_id),
                (
                    &plain,
                    vec!["-u", "u", "--password-file", file],
                    "auth.password_file_invalid",
                ),
                (
                    &plain,
                    vec!["-u", "u", "--token", &token, "--jwt-key", file],
                    "token.key_invalid",
                ),
            ];
            for (target, extra, id) in cases {
                scope.spawn(move || {
                    let case = format!("{extra:?}");
                    let measured = doctor(target, &extra);
                    let report = measured.assert_bounded(&case);
                    let finding = report.finding(id);
                    let evidence = serde_json::to_string(&finding.evidence).unwrap();
                    assert!(
                        finding.detail.contains(file) || evidence.contains(file),
                        "{case}: {id} does not name {file}: {}",
                        finding.detail
                    );
                    let reason = if file == fifo {
                        "named pipe that no one writes to"
                    } else {
                        "bytes"
                    };
                    assert!(
                        finding.detail.contains(reason),
                        "{case}: {}",
                        finding.detail
                    );
                });
            }
            // The config file is read before anything runs: a usage error, exit code 2.
            let plain = &plain;
            scope.spawn(move || {
                let measured = doctor(plain, &["--config", file]);
                assert_eq!(measured.run.code, 2, "{}", measured.run.stderr);
                assert!(
                    measured.run.stderr.contains(file),
                    "{}",
                    measured.run.stderr
                );
                assert!(measured.peak_rss_kb < MAX_RSS_KB);
                assert!(measured.elapsed < DEADLINE + SLACK);
            });
        }
    });
}
