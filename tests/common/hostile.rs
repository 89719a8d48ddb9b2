//! Hostile peers and the measured run: a loopback server with one behaviour per connection,
//! and the doctor run under GNU time, which reports the process's peak resident set size, so
//! a peer that could make the doctor buffer what it sends would show. Shared by the hostile
//! test files.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_doctor::report::Report;

use super::{ReportExt, Run, doctor_command};

/// Each network step's timeout and the whole run's deadline, as a CI job would set them.
pub const TIMEOUT: &str = "1s";
pub const DEADLINE: Duration = Duration::from_secs(4);
/// Process start and the report after the deadline, on a loaded two-core machine.
pub const SLACK: Duration = Duration::from_secs(2);
/// What a hostile peer or file may add to the doctor's own peak memory. The bound, 20
/// MiB, is met by the release build with room to spare (6 to 7 MiB, docs/benchmarks.md); these
/// tests run the debug build, whose code pages alone now take 18 MiB or more and grow with every
/// feature, so they bound what the peer can add: a doctor that buffered what a flood sends would
/// take tens of megabytes more.
pub const ALLOWANCE_KB: u64 = 6 * 1024;

/// The bound on a measured run's peak memory: the doctor's own footprint, measured once per test
/// binary on a refused loopback port (runtime, report, no peer), plus [`ALLOWANCE_KB`].
pub fn max_rss_kb() -> u64 {
    static BOUND: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BOUND.get_or_init(|| {
        let closed = super::closed_port();
        let url = format!("mqtt://127.0.0.1:{closed}");
        let baseline = measure(
            Setup::default(),
            &["doctor", &url, "--timeout", TIMEOUT, "--format", "json"],
        );
        assert_eq!(
            baseline.run.code, 1,
            "the baseline run should end refused: {}{}",
            baseline.run.stdout, baseline.run.stderr
        );
        eprintln!("baseline: peak {} KiB", baseline.peak_rss_kb);
        baseline.peak_rss_kb + ALLOWANCE_KB
    })
}

/// What a hostile peer does with each connection it accepts.
pub type Behaviour = fn(TcpStream, &AtomicBool);

/// A loopback server running one behaviour on every connection, stopped when dropped.
pub struct Peer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Peer {
    pub fn start(behaviour: Behaviour) -> Peer {
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
pub fn hold(mut stream: TcpStream, stop: &AtomicBool) {
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
pub fn read_first(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.read(&mut [0u8; 4096]);
}

/// Writes `bytes` one a second, over and over, until the client leaves.
pub fn trickle(mut stream: TcpStream, stop: &AtomicBool, bytes: &[u8]) {
    for byte in bytes.iter().cycle() {
        if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).is_err() {
            return;
        }
        thread::sleep(Duration::from_secs(1));
    }
}

/// Sends `bytes`, then keeps sending zeros as fast as the client takes them: a peer whose claim
/// would be believed gets all the data it asked for.
pub fn flood_after(mut stream: TcpStream, stop: &AtomicBool, bytes: &[u8]) {
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
pub fn garbage(seed: u64, len: usize) -> Vec<u8> {
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
pub struct Measured {
    pub run: Run,
    pub elapsed: Duration,
    pub peak_rss_kb: u64,
}

impl Measured {
    pub fn report(&self) -> Report {
        self.run.report()
    }

    /// The verdict came within the deadline, with a root cause, in little memory.
    pub fn assert_bounded(&self, case: &str) -> Report {
        self.assert_failure_in_bounds(case);
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

    /// A failure (exit code 1) reported within the deadline, in little memory, in any format.
    pub fn assert_failure_in_bounds(&self, case: &str) {
        // Shown with --nocapture: the numbers behind the bounds, for the benchmarks and notes.
        eprintln!(
            "{case}: {:.2} s, peak {} KiB",
            self.elapsed.as_secs_f64(),
            self.peak_rss_kb
        );
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
            self.peak_rss_kb > 0 && self.peak_rss_kb < max_rss_kb(),
            "{case}: peak resident memory {} KiB, bound {} KiB",
            self.peak_rss_kb,
            max_rss_kb()
        );
    }
}

/// Runs `doctor TARGET --format json` with the hostile-peer timeout and deadline under GNU time.
pub fn doctor(target: &str, extra: &[&str]) -> Measured {
    doctor_with(target, TIMEOUT, DEADLINE, extra)
}

/// [`doctor`] with its own per-step timeout and run deadline.
pub fn doctor_with(target: &str, timeout: &str, deadline: Duration, extra: &[&str]) -> Measured {
    let deadline = format!("{}ms", deadline.as_millis());
    let mut args = vec![
        "doctor",
        target,
        "--format",
        "json",
        "--timeout",
        timeout,
        "--deadline",
        &deadline,
    ];
    args.extend_from_slice(extra);
    measure(Setup::default(), &args)
}

/// Runs `doctor TARGET` in `format` with GitHub annotations on stderr and every finding shown,
/// with the hostile-peer timeout and deadline, for the tests that search every output format.
pub fn in_format(target: &str, format: &str, extra: &[&str]) -> Measured {
    let deadline = format!("{}ms", DEADLINE.as_millis());
    let mut args = vec![
        "doctor",
        target,
        "--format",
        format,
        "--annotations",
        "always",
        "--verbose",
        "--timeout",
        TIMEOUT,
        "--deadline",
        &deadline,
    ];
    args.extend_from_slice(extra);
    measure(Setup::default(), &args)
}

/// How [`measure`] starts the doctor, beyond the clean environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Setup {
    /// Standard input is a pipe that the test holds open, writing nothing, until the doctor
    /// exits: a writer that never closes it. Otherwise it is /dev/null.
    pub stdin_held_open: bool,
    /// The doctor's limit on open files (`ulimit -n`, soft and hard), set by a shell that then
    /// execs it.
    pub open_files: Option<u32>,
}

/// Runs the doctor with exactly `args` under GNU time, set up as `setup` says.
pub fn measure(setup: Setup, args: &[&str]) -> Measured {
    use std::process::Stdio;
    let time = ["/usr/bin/time", "/bin/time"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("GNU time is not installed; run `bash scripts/install-test-deps.sh`");
    let dir = tempfile::tempdir().unwrap();
    let rss_file = dir.path().join("rss");
    let doctor = doctor_command();
    let mut command = Command::new(time);
    command
        .env_clear()
        .envs(doctor.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .args(["-f", "%M", "-o"])
        .arg(&rss_file);
    if let Some(limit) = setup.open_files {
        command.args([
            "bash",
            "-c",
            &format!("ulimit -n {limit}; exec \"$0\" \"$@\""),
        ]);
    }
    command
        .arg(doctor.get_program())
        .args(args)
        .stdin(if setup.stdin_held_open {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("GNU time runs the doctor");
    // Held, not dropped, until the doctor has exited: it never sees the end of its input.
    let held = child.stdin.take();
    let output = child.wait_with_output().expect("the doctor's output");
    let elapsed = started.elapsed();
    drop(held);
    let text = fs::read_to_string(&rss_file).unwrap_or_default();
    let peak_rss_kb = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time wrote no peak memory: {text:?}"));
    Measured {
        run: Run::from_output(output),
        elapsed,
        peak_rss_kb,
    }
}
