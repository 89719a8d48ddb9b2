//! Hostile and broken peers, all on loopback: the doctor is run when things are already broken,
//! so against each of them it must reach a verdict within its run deadline, name what it saw, and
//! keep its memory small however much the peer claims or sends.
//!
//! Every run goes through GNU time (`common::hostile`), which reports the process's peak
//! resident set size: a peer that could make the doctor buffer what it sends would show here.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::ReportExt;
use common::dns::SilentDns;
use common::hostile::{
    Behaviour, DEADLINE, Peer, SLACK, doctor, doctor_with, flood_after, garbage, hold, in_format,
    max_rss_kb, read_first, trickle,
};
use common::jwt::{Token, now};
use mqtt_doctor::report::Report;

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
    let fifo = common::fifo(dir.path(), "fifo");
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
                assert!(measured.peak_rss_kb < max_rss_kb());
                assert!(measured.elapsed < DEADLINE + SLACK);
            });
        }
    });
}

/// Reads the client's first packet whole (the CONNECT), so that what follows answers it.
fn read_connect(stream: &mut TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    common::scripted::read_frame(stream).is_ok()
}

/// AUTH packets that never complete authentication, as fast as the client takes them, each
/// with a 60 KB method: the exchange must be cut by the round limit, and its evidence kept
/// short. A hostile peer: no real broker behaves so (MQTT 5.0, 4.12: only AUTH 0x18 may come
/// before the CONNACK).
#[test]
fn auth_flood() {
    fn flood(mut stream: TcpStream, stop: &AtomicBool, reason: u8) {
        if !read_connect(&mut stream) {
            return;
        }
        let packet = common::scripted::auth_v5(reason, &"M".repeat(60_000), b"challenge");
        while !stop.load(Ordering::Relaxed) && stream.write_all(&packet).is_ok() {}
    }
    for (reason, case) in [(0x19u8, "re-authenticate"), (0x18, "continue")] {
        let peer = match reason {
            0x19 => Peer::start(|s, stop| flood(s, stop, 0x19)),
            _ => Peer::start(|s, stop| flood(s, stop, 0x18)),
        };
        let token = Token::new("RS256")
            .claim("exp", now() + 600)
            .with_signature(b"not checked");
        let measured = doctor(
            &format!("mqtt://{}", peer.addr),
            &["--auth-method", "K8S-SAT", "--token", &token],
        );
        let report = measured.assert_bounded(&format!("AUTH flood, {case}"));
        assert_eq!(
            report.verdict.root_cause.as_deref(),
            Some("mqtt.no_connack"),
            "{case}"
        );
        let finding = report.finding("mqtt.no_connack");
        assert!(
            finding.detail.contains("5 AUTH packets"),
            "{case}: {}",
            finding.detail
        );
        let exchange = finding.evidence["auth_exchange"].as_array().unwrap();
        assert!(exchange.len() <= 9, "{case}: {} lines", exchange.len());
        // The 60 KB method is cut before it reaches the report.
        assert!(measured.run.stdout.len() < 64 * 1024, "{case}");
        assert_token_nowhere(
            &format!("AUTH flood, {case}"),
            &format!("mqtt://{}", peer.addr),
            &["--auth-method", "K8S-SAT", "--token", &token],
            &token,
        );
    }
}

/// The token sent as authentication data appears in no output format, nor in the GitHub
/// annotations, nor its signature on its own.
fn assert_token_nowhere(case: &str, target: &str, extra: &[&str], token: &str) {
    let signature = token.rsplit('.').next().unwrap();
    for format in ["json", "text", "junit"] {
        let measured = in_format(target, format, extra);
        for (stream, output) in [
            ("stdout", &measured.run.stdout),
            ("stderr", &measured.run.stderr),
        ] {
            assert!(
                !output.contains(token) && !output.contains(signature),
                "{case}, --format {format}: the token is in {stream}:\n{output}"
            );
        }
        assert!(
            measured.peak_rss_kb < max_rss_kb(),
            "{case}, --format {format}"
        );
    }
}

/// A broker that accepts the connection and then floods 200 KB PUBLISH packets, never
/// answering the SUBSCRIBE: none of them can be the doctor's own, so none is kept.
#[test]
fn publish_flood_before_suback() {
    let peer = Peer::start(|mut stream, stop| {
        if !read_connect(&mut stream) {
            return;
        }
        let _ = stream.write_all(&common::scripted::connack_v5(0, &[]));
        // QoS 0 PUBLISH on "flood": topic, empty property length, 200 KB of payload.
        let mut body = vec![0x00, 0x05];
        body.extend_from_slice(b"flood");
        body.push(0x00);
        body.resize(body.len() + 200_000, b'x');
        let mut packet = vec![0x30];
        let mut len = body.len();
        loop {
            let byte = (len % 128) as u8;
            len /= 128;
            packet.push(if len > 0 { byte | 0x80 } else { byte });
            if len == 0 {
                break;
            }
        }
        packet.extend(body);
        while !stop.load(Ordering::Relaxed) && stream.write_all(&packet).is_ok() {}
    });
    let measured = doctor(
        &format!("mqtt://{}", peer.addr),
        &["--subscribe", "flood", "--publish", "flood"],
    );
    let report = measured.assert_bounded("PUBLISH flood");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("session.dropped")
    );
    let detail = &report.finding("session.dropped").detail;
    assert!(
        detail.contains("no SUBACK came within 1s; meanwhile the broker sent")
            && detail.contains("PUBLISH packets"),
        "{detail}"
    );
}

/// The WebSocket handshake answered by hand, then nothing but pings, as fast as the client
/// takes them, while never reading its pongs. A hostile peer: no broker answers so.
#[test]
fn websocket_ping_flood() {
    let peer = Peer::start(|mut stream, stop| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && request.len() < 8192 {
            if stream.read_exact(&mut byte).is_err() {
                return;
            }
            request.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&request);
        let Some(key) = text.lines().find_map(|l| {
            l.strip_prefix("sec-websocket-key: ")
                .or(l.strip_prefix("Sec-WebSocket-Key: "))
        }) else {
            return;
        };
        let accept = {
            use base64::Engine;
            let mut input = key.trim().as_bytes().to_vec();
            input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
            let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
        };
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
        // Unmasked ping frames with a 100-byte payload, many per write.
        let mut ping = vec![0x89, 100];
        ping.resize(102, b'p');
        let burst: Vec<u8> = ping.repeat(500);
        while !stop.load(Ordering::Relaxed) && stream.write_all(&burst).is_ok() {}
    });
    let measured = doctor(&format!("ws://{}/mqtt", peer.addr), &[]);
    let report = measured.assert_bounded("WebSocket ping flood");
    assert_eq!(
        report.verdict.root_cause.as_deref(),
        Some("ws.ping_flood"),
        "{:?}",
        report.ids()
    );
    assert!(
        report
            .finding("ws.ping_flood")
            .detail
            .contains("100 WebSocket pings")
    );
}

/// A peer that sends a frame every 900 ms, never the one awaited: each wait must end at its
/// step's end (2 s), not at the run's deadline (8 s), and say how long it waited.
fn trickle_case(case: &str, extra: &[&str], behaviour: Behaviour) -> Report {
    let peer = Peer::start(behaviour);
    let deadline = Duration::from_secs(8);
    let measured = doctor_with(&format!("mqtt://{}", peer.addr), "2s", deadline, extra);
    assert_eq!(measured.run.code, 1, "{case}: {}", measured.run.stdout);
    assert!(
        measured.elapsed < Duration::from_secs(2) + SLACK,
        "{case}: took {:?}, the step is 2 s",
        measured.elapsed
    );
    assert!(measured.peak_rss_kb < max_rss_kb(), "{case}");
    measured.report()
}

/// Sends `frame` every 900 ms until the client leaves.
fn every_900ms(mut stream: TcpStream, stop: &AtomicBool, frame: &[u8]) {
    while !stop.load(Ordering::Relaxed) && stream.write_all(frame).is_ok() {
        thread::sleep(Duration::from_millis(900));
    }
}

#[test]
fn one_frame_every_900ms_in_the_connack_wait() {
    let token = Token::new("RS256")
        .claim("exp", now() + 600)
        .with_signature(b"not checked");
    let report = trickle_case(
        "CONNACK wait",
        &["--auth-method", "K8S-SAT", "--token", &token],
        |mut stream, stop| {
            if read_connect(&mut stream) {
                every_900ms(
                    stream,
                    stop,
                    &common::scripted::auth_v5(0x18, "K8S-SAT", b"?"),
                );
            }
        },
    );
    // What came before the cut is named: AUTH packets, none completing authentication.
    let finding = report.finding("mqtt.no_connack");
    assert!(
        finding.detail.contains("AUTH packets (")
            && finding.detail.contains("and no CONNACK within 2s"),
        "{}",
        finding.detail
    );
}

#[test]
fn one_frame_every_900ms_in_the_suback_wait() {
    let report = trickle_case(
        "SUBACK wait",
        &["--subscribe", "t/#"],
        |mut stream, stop| {
            if read_connect(&mut stream) {
                let _ = stream.write_all(&common::scripted::connack_v5(0, &[]));
                // PINGRESP: a frame the client never asked for, and not a SUBACK.
                every_900ms(stream, stop, &[0xd0, 0x00]);
            }
        },
    );
    let detail = &report.finding("session.dropped").detail;
    assert!(
        detail.contains("no SUBACK came within 2s; meanwhile the broker sent")
            && detail.contains("PINGRESP packets"),
        "{detail}"
    );
}

#[test]
fn one_frame_every_900ms_in_the_hold() {
    let report = trickle_case("hold", &["--hold", "1s"], |mut stream, stop| {
        if read_connect(&mut stream) {
            let _ = stream.write_all(&common::scripted::connack_v5(0, &[]));
            // A QoS 0 PUBLISH on "t": traffic, but never the PINGRESP the hold waits for.
            every_900ms(stream, stop, &[0x30, 0x05, 0x00, 0x01, b't', 0x00, b'x']);
        }
    });
    let detail = &report.finding("session.dropped").detail;
    assert!(
        detail.contains("did not answer a PINGREQ within 2s; meanwhile the broker sent"),
        "{detail}"
    );
}
