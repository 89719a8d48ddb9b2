//! Secrets scrubbed from everything a peer says (issue 16): peers on loopback that quote back
//! the credentials the doctor sent them, in their status lines, headers, bodies, reason strings
//! and user properties, with control characters mixed in. Each is a scripted peer reproducing a
//! hostile or broken peer (a proxy that echoes `Proxy-Authorization`, a broker that quotes the
//! password in its CONNACK, a gateway whose 401 page repeats the request's headers), which no
//! real server installable here does on purpose.
//!
//! Every run goes through GNU time (`common::hostile::measure`): it must end within the
//! deadline, in little memory, with the right exit code and finding; and in every output format
//! (text, JSON, JUnit, GitHub annotations on stderr) no form of any secret may appear (raw,
//! base64, HTTP Basic, percent-encoded, hex), nor any control character but a line feed or a
//! tab.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::hostile::{DEADLINE, Measured, Peer, SLACK, Setup, in_format, max_rss_kb, measure};
use common::jwt::Token;
use common::scripted::{Scripted, Step, connack_v5, string_property};
use common::{ReportExt, run_env};

/// The proxy's password, in the proxy URL.
const PROXY_USER: &str = "proxy-user";
const PROXY_PASSWORD: &str = "SECRETPASS-pr0xy";
/// The MQTT password, read from a file by the auth stage.
const USERNAME: &str = "device-7";
const PASSWORD: &str = "mqtt-Pa55w0rd/with:specials";
/// The credentials part of `--ws-header 'Authorization: Bearer …'`.
const WS_TOKEN: &str = "SECRET-ws-bearer-3f9a1c";

/// Every form in which `secret` must not appear, named for the failure message.
fn forms(secret: &str, what: &str) -> Vec<(String, String)> {
    let encoded = |name: &str, text: String| (text, format!("{what} ({name})"));
    let hex: Vec<String> = secret.bytes().map(|b| format!("{b:02x}")).collect();
    vec![
        encoded("raw", secret.to_string()),
        encoded("base64", STANDARD.encode(secret)),
        encoded("base64, unpadded", STANDARD_NO_PAD.encode(secret)),
        encoded("base64url", URL_SAFE.encode(secret)),
        encoded("base64url, unpadded", URL_SAFE_NO_PAD.encode(secret)),
        encoded(
            "percent-encoded",
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        ),
        encoded("hex", hex.join(" ")),
    ]
}

/// The HTTP Basic form of `user:password`, as it would appear after `Basic `.
fn basic(user: &str, password: &str, what: &str) -> Vec<(String, String)> {
    let plain = format!("{user}:{password}");
    vec![
        (STANDARD.encode(&plain), format!("{what} (Basic)")),
        (
            STANDARD_NO_PAD.encode(&plain),
            format!("{what} (Basic, unpadded)"),
        ),
    ]
}

/// Asserts that nothing in `output` betrays a secret, and that no control character a peer sent
/// survived (a terminal escape, a carriage return that forges a line, a bidi override).
fn assert_clean(case: &str, stream: &str, output: &str, needles: &[(String, String)]) {
    for (needle, what) in needles {
        assert!(
            !output.contains(needle.as_str()),
            "{case}: {stream} contains the {what}:\n{output}"
        );
    }
    let bad: Vec<char> = output
        .chars()
        .filter(|c| {
            (c.is_control() && !matches!(c, '\n' | '\t'))
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{case}: {stream} holds control characters {bad:?}:\n{output}"
    );
    // JSON and XML escape what they carry: the escapes must not be there either.
    for escaped in ["\\u001b", "\\u0000", "\\r", "&#27;", "&#x1b;", "\\u202e"] {
        assert!(
            !output.to_lowercase().contains(escaped),
            "{case}: {stream} holds {escaped}:\n{output}"
        );
    }
}

/// Runs the doctor against `target` in every output format, GitHub annotations on stderr, and
/// checks each run: bounded, exit code 1, `finding` the root cause, and clean. Returns the
/// JSON run.
fn every_format(
    case: &str,
    target: &str,
    extra: &[&str],
    finding: &str,
    needles: &[(String, String)],
) -> Measured {
    let mut json = None;
    for format in ["json", "text", "junit"] {
        let measured = in_format(target, format, extra);
        let case = format!("{case}, --format {format}");
        measured.assert_failure_in_bounds(&case);
        let run = &measured.run;
        assert!(
            run.stdout.contains(finding),
            "{case}: no {finding}:\n{}",
            run.stdout
        );
        assert!(
            run.stderr.contains("::error"),
            "{case}: no annotations:\n{}",
            run.stderr
        );
        assert_clean(&case, "stdout", &run.stdout, needles);
        assert_clean(&case, "stderr", &run.stderr, needles);
        if format == "json" {
            let report = measured.report();
            assert_eq!(
                report.verdict.root_cause.as_deref(),
                Some(finding),
                "{case}:\n{}",
                run.stdout
            );
            json = Some(measured);
        }
    }
    json.expect("the JSON run")
}

/// The request head a client sent (up to the blank line, at most 16 KiB), as text.
fn read_head(stream: &mut TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The value of header `name` in a request head, as sent.
fn header_value(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default()
}

/// An HTTP answer whose status line, headers and body all quote `echo` and `quote`, with
/// control characters and a bidi override in the body (where HTTP parsers let them through).
fn echoing_answer(status: &str, challenge: &str, echo: &str, quote: &str) -> Vec<u8> {
    let body = format!(
        "<html>\r\n<h1>Denied</h1>\x1b[2J\x1b]0;pwned\x07 you sent {echo}\r\n\
         and the password {quote}\u{202E}txt.exe\x00\r\n</html>\r\n"
    );
    format!(
        "HTTP/1.1 {status} {echo} {quote}\r\n\
         {challenge}: Basic realm=\"{echo} {quote}\"\r\n\
         Via: 1.1 {echo}\r\n\
         Server: echo-{quote}\r\n\
         Content-Type: text/html\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A proxy that answers CONNECT with 407, quoting the `Proxy-Authorization` it was sent and the
/// password itself everywhere it can.
fn proxy_407(mut stream: TcpStream, _stop: &AtomicBool) {
    let head = read_head(&mut stream);
    let echo = header_value(&head, "proxy-authorization");
    let answer = echoing_answer(
        "407 Proxy Authentication Required",
        "Proxy-Authenticate",
        &echo,
        PROXY_PASSWORD,
    );
    let _ = stream.write_all(&answer);
    std::thread::sleep(Duration::from_millis(500));
}

/// The same proxy refusing with 403, with tabs in its status line (which HTTP allows there).
fn proxy_403(mut stream: TcpStream, _stop: &AtomicBool) {
    let head = read_head(&mut stream);
    let echo = format!("\t{}\t", header_value(&head, "proxy-authorization"));
    let answer = echoing_answer("403 Forbidden", "X-Echo", &echo, PROXY_PASSWORD);
    let _ = stream.write_all(&answer);
    std::thread::sleep(Duration::from_millis(500));
}

fn proxy_needles() -> Vec<(String, String)> {
    let mut needles = forms(PROXY_PASSWORD, "proxy password");
    needles.extend(basic(PROXY_USER, PROXY_PASSWORD, "proxy credentials"));
    needles
}

#[test]
fn a_proxy_that_echoes_proxy_authorization() {
    let needles = proxy_needles();
    let proxy_url_password =
        percent_encoding::utf8_percent_encode(PROXY_PASSWORD, percent_encoding::NON_ALPHANUMERIC);
    for (behaviour, status, finding) in [
        (
            proxy_407 as fn(TcpStream, &AtomicBool),
            "407",
            "proxy.auth_required",
        ),
        (proxy_403, "403", "proxy.refused"),
    ] {
        let peer = Peer::start(behaviour);
        let proxy = format!("http://{PROXY_USER}:{proxy_url_password}@{}", peer.addr);
        for target in ["ws://127.0.0.1:9/mqtt", "mqtt://127.0.0.1:9"] {
            let case = format!("proxy {status}, {target}");
            let measured = every_format(&case, target, &["--proxy", &proxy], finding, &needles);
            // The proxy's answer is still quoted, with the secrets replaced.
            let report = measured.report();
            let reply = common::evidence(report.finding(finding), "reply");
            assert!(reply.contains(status), "{case}: {reply}");
            assert!(
                reply.contains("[redacted proxy"),
                "{case}: the echo is not marked as redacted: {reply}"
            );
        }
    }
}

/// A user property (0x26): a name and a value.
fn user_property(name: &str, value: &str) -> Vec<u8> {
    let mut out = string_property(0x26, name);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    out
}

#[test]
fn a_broker_that_quotes_the_credentials_in_its_connack() {
    let token = Token::new("HS256")
        .claim("iss", "hostile-test")
        .lifetime(-60, 3600)
        .hs256(b"the-signing-key-is-not-given");
    let signature = token.rsplit('.').next().unwrap().to_string();
    // EMQX's and HiveMQ's reason strings name the problem; this one names the password (read
    // from a file, so only the auth stage knows it), its base64, the token, and forges lines.
    let reason = format!(
        "bad password {PASSWORD} ({}) for {USERNAME}\r\n::error::forged\x1b[31m red \u{202E} sig {signature}",
        STANDARD.encode(PASSWORD)
    );
    let mut properties = string_property(0x1F, &reason);
    properties.extend(user_property("token", &token));
    properties.extend(user_property(&format!("pw-{PASSWORD}"), "key holds it"));
    properties.extend(user_property("hex", "\x00\x01\x7f\u{85}"));
    let frame = connack_v5(0x86, &properties);
    let broker = Scripted::start(vec![vec![Step::Read, Step::Send(frame), Step::Close]]);

    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let mut needles = forms(PASSWORD, "password");
    needles.extend(basic(USERNAME, PASSWORD, "credentials"));
    needles.extend(forms(&token, "token"));
    needles.push((signature.clone(), "token signature".into()));
    let measured = every_format(
        "CONNACK 0x86 quoting the credentials",
        &broker.url(),
        &[
            "-u",
            USERNAME,
            "--password-file",
            password_file.to_str().unwrap(),
            "--token",
            &token,
            "--mqtt-version",
            "5",
        ],
        "mqtt.bad_credentials",
        &needles,
    );
    let report = measured.report();
    let shown = format!("{:?}", report.finding("mqtt.bad_credentials"));
    assert!(shown.contains("[redacted password]"), "{shown}");
}

/// A gateway in front of a WebSocket listener that answers the upgrade with 401, its page and
/// headers echoing the `Authorization` header it was sent.
fn gateway_401(mut stream: TcpStream, _stop: &AtomicBool) {
    let head = read_head(&mut stream);
    let echo = header_value(&head, "authorization");
    let token = echo.rsplit(' ').next().unwrap_or_default().to_string();
    let answer = echoing_answer("401 Unauthorized", "WWW-Authenticate", &echo, &token);
    let _ = stream.write_all(&answer);
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn a_websocket_gateway_that_echoes_the_ws_header() {
    let peer = Peer::start(gateway_401);
    let header = format!("Authorization: Bearer {WS_TOKEN}");
    let mut needles = forms(WS_TOKEN, "--ws-header token");
    needles.extend(forms(&format!("Bearer {WS_TOKEN}"), "--ws-header value"));
    let measured = every_format(
        "WebSocket 401 echoing the header",
        &format!("ws://{}/mqtt", peer.addr),
        &["--ws-header", &header],
        "ws.forbidden",
        &needles,
    );
    let report = measured.report();
    let shown = format!("{:?}", report.finding("ws.forbidden"));
    assert!(shown.contains("[redacted Authorization value]"), "{shown}");
}

#[test]
fn a_malformed_ws_header_is_rejected_without_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("Authorization Bearer SECRET-abc", Some("Authorization")),
        (
            "Authorization: Bearer SECRET-abc\r\nX-Injected: 1",
            Some("Authorization"),
        ),
        ("X-Api-Key: SECRET-abc\nHost: evil", Some("X-Api-Key")),
        ("X-Api-Key: SECRET\u{1b}[2J-abc", Some("X-Api-Key")),
        ("SECRET-abc", None),
    ];
    for (value, named) in cases {
        let case = format!("--ws-header {value:?}");
        let measured = measure(
            Setup::default(),
            &[
                "doctor",
                "ws://127.0.0.1:9",
                "--ws-header",
                value,
                "--format",
                "json",
                "--annotations",
                "always",
            ],
        );
        let run = &measured.run;
        assert!(measured.elapsed < DEADLINE + SLACK, "{case}");
        assert!(measured.peak_rss_kb < max_rss_kb(), "{case}");
        assert_eq!(run.code, 2, "{case}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("--ws-header"), "{case}: {}", run.stderr);
        match named {
            Some(name) => assert!(run.stderr.contains(name), "{case}: {}", run.stderr),
            None => assert!(
                run.stderr.contains("the --ws-header value"),
                "{case}: {}",
                run.stderr
            ),
        }
        let needles = forms("SECRET-abc", "header value");
        assert_clean(&case, "stdout", &run.stdout, &needles);
        assert_clean(&case, "stderr", &run.stderr, &needles);

        // The same text from the environment, and from a config file.
        let from_env = run_env(
            &[("MQTT_DOCTOR_WS_HEADER", value)],
            &["doctor", "ws://127.0.0.1:9"],
        );
        assert_eq!(from_env.code, 2, "{case} (env): {}", from_env.stderr);
        assert_clean(
            &format!("{case} (env)"),
            "stderr",
            &from_env.stderr,
            &needles,
        );
        assert_clean(
            &format!("{case} (env)"),
            "stdout",
            &from_env.stdout,
            &needles,
        );

        let config = dir.path().join("mqtt-doctor.toml");
        let toml_value = serde_json::to_string(value).unwrap();
        std::fs::write(&config, format!("ws-header = [{toml_value}]\n")).unwrap();
        let from_file = common::run(&[
            "doctor",
            "ws://127.0.0.1:9",
            "--config",
            config.to_str().unwrap(),
        ]);
        assert_eq!(
            from_file.code, 2,
            "{case} (file): {}{}",
            from_file.stdout, from_file.stderr
        );
        assert!(
            from_file.stderr.contains("ws-header"),
            "{case} (file): {}",
            from_file.stderr
        );
        assert_clean(
            &format!("{case} (file)"),
            "stderr",
            &from_file.stderr,
            &needles,
        );
        assert_clean(
            &format!("{case} (file)"),
            "stdout",
            &from_file.stdout,
            &needles,
        );
    }
}
