//! The doctor's own resources: file descriptors, memory and local ports.
//!
//! A connect that fails because this process has too many files open (`EMFILE`), the system's
//! file table is full (`ENFILE`), the kernel has no memory for a socket (`ENOMEM`, `ENOBUFS`),
//! or no local port is left to connect from (`EADDRNOTAVAIL` while the address has a route) says
//! nothing about the broker or the network: a finding that blamed them would send the user to
//! the wrong machine. Such errors are classified here by their OS error number, never by their
//! text, and travel as a [`LocalFailure`] up to the outcome, where the command line turns them
//! into an error of the doctor's environment (exit code 3) that says what to change.
//!
//! The TCP stage and getaddrinfo report these errors as they are. hickory's name-server pool
//! does not: it prefers "no connection to any name server" over the I/O error of a socket it
//! could not open, so descriptors that run out during DNS queries still read as `dns.timeout`.
//! [`DESCRIPTORS_PER_TARGET`] counts the DNS stage's sockets so that it does not come to that.
//!
//! Many targets at once need many descriptors, so the number of targets checked at the same
//! time is sized from the descriptor limit ([`target_concurrency`]), after raising the soft limit
//! to what the most targets at once need, within the hard limit, as network tools do
//! ([`raise_descriptor_limit`]).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use rlimit::Resource;

/// How many targets are checked at once, at most. Mosquitto listens with a backlog of 100: 200
/// targets against one broker, all at once, overflowed it, and the dropped SYNs cost each of
/// those connections a one-second retransmission (measured: 1.05 s for 200 targets in one run,
/// slower than running them one after another).
pub const MAX_CONCURRENT_TARGETS: usize = 64;

/// Descriptors one target may hold open at its busiest. Stages run one after another, so this
/// is the busiest stage's count, not a sum. Measured as the peak of descriptors open (from
/// `strace -f -e trace=desc,network`) in runs of 1 and of 10 concurrent targets:
/// - an IP address against Mosquitto, with a token file, `--subscribe` and `--publish`: about 1
///   more per target; against a server that accepts and never answers, plain, TLS or WebSocket:
///   about 1.2 (the connection, and now and then a side probe);
/// - a name whose queries go unanswered, no search list: about 2 (a UDP socket for each of the A
///   and AAAA queries, and getaddrinfo's own);
/// - the same with 5 search domains and `ndots:5`: about 10 (12 UDP sockets, A and AAAA for each
///   of the 6 candidate names, all at once); a Kubernetes pod's resolv.conf (3 domains) needs 9.
///
/// 16 covers a name with up to 7 candidates, or up to 16 resolved addresses, which the TCP stage
/// connects to all at once. A target beyond that can still run out, and then says so (exit 3).
pub const DESCRIPTORS_PER_TARGET: u64 = 16;

/// Descriptors the process holds whatever the targets: standard input, output and error, the
/// runtime's epoll instance and waker (the runtime cannot start below 6), the files read before
/// and during the run one at a time (config file, the pod's tokens, resolv.conf, certificates),
/// with room to spare.
pub const DESCRIPTOR_RESERVE: u64 = 32;

/// What the doctor's own environment ran out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalFailure {
    /// `EMFILE`: this process's limit on open files (`ulimit -n`, RLIMIT_NOFILE).
    ProcessDescriptors,
    /// `ENFILE`: the system-wide table of open files (`fs.file-max`).
    SystemDescriptors,
    /// `ENOMEM`, `ENOBUFS`: the kernel could not allocate memory for a socket or its buffers.
    Memory,
    /// `EADDRNOTAVAIL` on a connect to an address this machine has a route to: every local port
    /// is taken (connections open or in TIME_WAIT).
    EphemeralPorts,
}

impl LocalFailure {
    /// The local failure `error` stands for, by its OS error number; `None` for everything
    /// else, which is about the peer or the network. `EADDRNOTAVAIL` is not classified here: on
    /// a connect it can also mean an address this machine cannot reach (IPv6 on a host without
    /// it), so [`LocalFailure::on_connect`] decides.
    pub fn classify(error: &io::Error) -> Option<LocalFailure> {
        match error.raw_os_error() {
            Some(libc::EMFILE) => Some(LocalFailure::ProcessDescriptors),
            Some(libc::ENFILE) => Some(LocalFailure::SystemDescriptors),
            Some(libc::ENOMEM | libc::ENOBUFS) => Some(LocalFailure::Memory),
            _ if error.kind() == io::ErrorKind::OutOfMemory => Some(LocalFailure::Memory),
            _ => None,
        }
    }

    /// The local failure a failed TCP connect to `addr` stands for, if any. For
    /// `EADDRNOTAVAIL` the kernel is asked, by connecting a UDP socket (which sends nothing),
    /// whether it has a source address and route for `addr`: if it has, the TCP connect failed
    /// for want of a local port; if not, the address is unreachable from here, which is the
    /// network's business.
    pub fn on_connect(error: &io::Error, addr: SocketAddr) -> Option<LocalFailure> {
        if error.raw_os_error() != Some(libc::EADDRNOTAVAIL) {
            return LocalFailure::classify(error);
        }
        let any: SocketAddr = match addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        match UdpSocket::bind(any).and_then(|socket| socket.connect(addr)) {
            Ok(()) => Some(LocalFailure::EphemeralPorts),
            Err(probe) => LocalFailure::classify(&probe),
        }
    }

    /// What to do about it, for the error message.
    pub fn advice(self) -> String {
        match self {
            LocalFailure::ProcessDescriptors => {
                let limit = descriptor_limit()
                    .map(|limit| format!(" is {limit}"))
                    .unwrap_or_default();
                format!(
                    "its limit on open files{limit} (`ulimit -n`): raise it, e.g. `ulimit -n \
                     4096` in the shell that runs the doctor (or LimitNOFILE= for a systemd \
                     unit), or check fewer targets at once"
                )
            }
            LocalFailure::SystemDescriptors => {
                "the system's table of open files is full (`cat /proc/sys/fs/file-nr`): close \
                 what holds many files, or raise `sysctl fs.file-max`; `ulimit -n` does not help"
                    .into()
            }
            LocalFailure::Memory => "free memory on this machine, or raise the memory limit of \
                                     the container the doctor runs in"
                .into(),
            LocalFailure::EphemeralPorts => "too many connections from this machine are open or \
                                             in TIME_WAIT (`ss -s`): wait for them to close, or \
                                             widen `sysctl net.ipv4.ip_local_port_range`"
                .into(),
        }
    }
}

/// One line for a stage summary: what ran out.
impl fmt::Display for LocalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocalFailure::ProcessDescriptors => {
                "the doctor ran out of file descriptors (too many open files)"
            }
            LocalFailure::SystemDescriptors => {
                "the system ran out of file descriptors (file table full)"
            }
            LocalFailure::Memory => "the doctor's machine ran out of memory for a socket",
            LocalFailure::EphemeralPorts => "no local port was left to connect from",
        })
    }
}

/// The local failures of a run's targets, counted as they finish, for the error at its end.
#[derive(Debug, Default)]
pub struct LocalFailures {
    targets: usize,
    hit: usize,
    first: Option<LocalFailure>,
}

impl LocalFailures {
    /// One target's outcome: `None` when the doctor's environment did not get in its way.
    pub fn record(&mut self, failure: Option<LocalFailure>) {
        self.targets += 1;
        if let Some(failure) = failure {
            self.hit += 1;
            self.first.get_or_insert(failure);
        }
    }

    /// The error message, naming what ran out and what to do; `None` when nothing did.
    pub fn message(&self) -> Option<String> {
        let failure = self.first?;
        let which = if self.targets == 1 {
            "the target could not be checked".to_string()
        } else {
            format!(
                "{} of {} targets could not be checked",
                self.hit, self.targets
            )
        };
        Some(format!("{which}: {failure}; {}", failure.advice()))
    }
}

/// The soft limit on open files, when the platform has one.
pub fn descriptor_limit() -> Option<u64> {
    rlimit::getrlimit(Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The runtime a command runs on: two workers (the machine class's cores), I/O and timers.
/// Failing to build it is the doctor's own environment (no descriptor, no thread), said with
/// what to change.
pub fn runtime() -> Result<tokio::runtime::Runtime, RuntimeError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| RuntimeError {
            advice: LocalFailure::classify(&error)
                .map(|failure| format!(" ({failure}; {})", failure.advice()))
                .unwrap_or_default(),
            error,
        })
}

/// The async runtime could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the async runtime: {error}{advice}")]
pub struct RuntimeError {
    error: io::Error,
    advice: String,
}

/// Raises the soft limit on open files to what [`MAX_CONCURRENT_TARGETS`] targets need, or to
/// the hard limit if that is lower, as network tools do: the soft limit is often 1024 where the
/// hard one is far higher. Never lowers it; a failure leaves it as it was, and
/// [`target_concurrency`] then works with what there is.
pub fn raise_descriptor_limit() {
    let wanted = DESCRIPTOR_RESERVE + MAX_CONCURRENT_TARGETS as u64 * DESCRIPTORS_PER_TARGET;
    let _ = rlimit::increase_nofile_limit(wanted);
}

/// How many targets to check at once: [`MAX_CONCURRENT_TARGETS`], or fewer when the limit on
/// open files would not hold their descriptors, and never none.
pub fn target_concurrency() -> usize {
    descriptor_limit().map_or(MAX_CONCURRENT_TARGETS, concurrency_for)
}

fn concurrency_for(limit: u64) -> usize {
    let fit = limit.saturating_sub(DESCRIPTOR_RESERVE) / DESCRIPTORS_PER_TARGET;
    usize::try_from(fit)
        .unwrap_or(usize::MAX)
        .clamp(1, MAX_CONCURRENT_TARGETS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_number() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(
            LocalFailure::classify(&os(libc::EMFILE)),
            Some(LocalFailure::ProcessDescriptors)
        );
        assert_eq!(
            LocalFailure::classify(&os(libc::ENFILE)),
            Some(LocalFailure::SystemDescriptors)
        );
        assert_eq!(
            LocalFailure::classify(&os(libc::ENOBUFS)),
            Some(LocalFailure::Memory)
        );
        assert_eq!(
            LocalFailure::classify(&io::Error::from(io::ErrorKind::OutOfMemory)),
            Some(LocalFailure::Memory)
        );
        for network in [libc::ECONNREFUSED, libc::ENETUNREACH, libc::EHOSTUNREACH] {
            assert_eq!(LocalFailure::classify(&os(network)), None);
        }
        // Text that looks local is not looked at.
        assert_eq!(
            LocalFailure::classify(&io::Error::other("Too many open files")),
            None
        );
    }

    #[test]
    fn no_port_left_is_told_from_no_route() {
        let not_available = io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
        // Loopback always has a source address: the ports must have run out.
        assert_eq!(
            LocalFailure::on_connect(&not_available, "127.0.0.1:1".parse().unwrap()),
            Some(LocalFailure::EphemeralPorts)
        );
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(
            LocalFailure::on_connect(&refused, "127.0.0.1:1".parse().unwrap()),
            None
        );
    }

    #[test]
    fn concurrency_follows_the_descriptor_limit() {
        assert_eq!(concurrency_for(1 << 20), MAX_CONCURRENT_TARGETS);
        // What raise_descriptor_limit asks for is enough for all of them.
        assert_eq!(
            concurrency_for(
                DESCRIPTOR_RESERVE + MAX_CONCURRENT_TARGETS as u64 * DESCRIPTORS_PER_TARGET
            ),
            MAX_CONCURRENT_TARGETS
        );
        assert_eq!(
            concurrency_for(64),
            ((64 - DESCRIPTOR_RESERVE) / DESCRIPTORS_PER_TARGET) as usize
        );
        assert_eq!(concurrency_for(12), 1);
        assert_eq!(concurrency_for(0), 1);
    }

    #[test]
    fn the_message_names_the_limit_and_counts_targets() {
        let mut failures = LocalFailures::default();
        failures.record(None);
        assert_eq!(failures.message(), None);
        failures.record(Some(LocalFailure::ProcessDescriptors));
        failures.record(Some(LocalFailure::Memory));
        let message = failures.message().unwrap();
        assert!(
            message.starts_with("2 of 3 targets could not be checked: the doctor ran out of file"),
            "{message}"
        );
        assert!(message.contains("`ulimit -n`"), "{message}");
    }
}
