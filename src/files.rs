//! Files the doctor reads (certificates, keys, tokens, passwords, the resolver's configuration,
//! the config file) and standard input, read with a size cap and within the run's deadline.
//!
//! Any of them may be named by mistake or by a hostile setup: `--cafile /dev/zero`, a named
//! pipe that no one writes to, or `--token -` on a terminal or a pipe that never closes. Reading
//! without a cap would make the doctor allocate until it is killed, and opening such a pipe
//! blocks for ever, so every read stops one byte past its limit. A regular file is read where
//! the caller stands (it cannot block for long); anything else, and standard input, is read on
//! a thread of its own, given up at the run's deadline (the thread ends with the process).
//! Pipes stay usable: `--token-file <(kubectl create token …)` is a common way to pass a token.
//!
//! The deadline is process-wide: [`set_run_deadline`] is called by the command line, which
//! knows when the process started and how long the run may take, before anything is read.
//! Passing an instant to every read instead would thread it through loaders that run before
//! any configuration exists (the config file, the pod's files), outside the pipeline (`token
//! inspect`) and deep inside it (certificates, resolv.conf), while a process runs exactly one
//! command with one deadline. Code that uses the library without the command line (tests,
//! fuzzing) sets none, and each read then gets [`FILE_WAIT`]; [`read_capped_by`] takes an
//! explicit deadline where one is at hand.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

/// How long a read may take when no run deadline was set: ample for a disk, a /proc file or a
/// command's pipe.
pub const FILE_WAIT: Duration = Duration::from_secs(3);

/// A read that starts at or past its deadline still gets this long: a pipe whose writer has its
/// bytes ready (`<(cat token)`) is read in microseconds, and giving it up unread would report a
/// dead pipe where there is none. A pipe that no one writes to costs the run no more than this
/// past its deadline.
const GRACE: Duration = Duration::from_millis(100);

/// A CA bundle (Debian's holds about 150 certificates in 220 KB), a certificate or a key file.
/// Nine times the largest real bundle; an endless file given by mistake costs this much memory.
pub const MAX_PEM_FILE: u64 = 2 << 20;
/// A hosts file or resolv.conf.
pub const MAX_SYSTEM_FILE: u64 = 1 << 20;

/// When local reads give up, and what the bound was, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    allowed: Duration,
    /// The run's deadline (`--deadline`), rather than the per-read [`FILE_WAIT`].
    run: bool,
}

impl Deadline {
    /// The run's deadline: `allowed` counted from `started`.
    pub fn run(started: Instant, allowed: Duration) -> Deadline {
        Deadline {
            at: started + allowed,
            allowed,
            run: true,
        }
    }

    /// `allowed` from now, for one read.
    pub fn from_now(allowed: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + allowed,
            allowed,
            run: false,
        }
    }

    /// How long a read that starts now may wait.
    fn wait(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now()).max(GRACE)
    }
}

/// `1s (the run's deadline)`, or `3s` for a single read's bound.
impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rounded = Duration::from_millis(self.allowed.as_millis() as u64);
        write!(f, "{}", crate::durations::text(rounded))?;
        if self.run {
            write!(f, " (the run's deadline)")?;
        }
        Ok(())
    }
}

static RUN_DEADLINE: Mutex<Option<Deadline>> = Mutex::new(None);

/// Makes every later read give up at `allowed` after `started` (the process's start). Called by
/// the command line before it reads anything, and again once the config file has had its say.
pub fn set_run_deadline(started: Instant, allowed: Duration) {
    *RUN_DEADLINE.lock().unwrap_or_else(PoisonError::into_inner) =
        Some(Deadline::run(started, allowed));
}

/// The deadline a read that starts now gives up at.
fn current_deadline() -> Deadline {
    RUN_DEADLINE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .unwrap_or_else(|| Deadline::from_now(FILE_WAIT))
}

/// The payload of a read's `TimedOut` error: the deadline it was given up at.
#[derive(Debug)]
pub struct GaveUp(pub Deadline);

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nothing could be read within {}", self.0)
    }
}

impl std::error::Error for GaveUp {}

/// The deadline a read was given up at, when `error` is such a read's.
pub fn gave_up(error: &io::Error) -> Option<Deadline> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<GaveUp>())
        .map(|gave_up| gave_up.0)
}

/// Where the well-known absolute path `absolute` is read when the filesystem root is `root`
/// (`MQTT_DOCTOR_ROOT`, a copied pod filesystem). Here, below everything that names such paths
/// (the configuration, the pod, the presets), so that none of them imports another for it.
pub fn below_root(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The file holds more than the limit; the size is the honest lower bound (a pipe or a
    /// device reports no size).
    TooLarge(u64),
}

impl ReadError {
    /// The reason in words, classified by kind, for messages that name the file themselves.
    pub fn describe(&self) -> String {
        match self {
            ReadError::Io(error) => io_problem(error),
            ReadError::TooLarge(size) => format!("it holds at least {size} bytes, far too many"),
        }
    }
}

/// An I/O error in words, classified by kind.
pub fn io_problem(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "it does not exist".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "it is a directory, not a file".into(),
        io::ErrorKind::NotADirectory => "a part of its path is not a directory".into(),
        io::ErrorKind::TimedOut => match gave_up(error) {
            Some(deadline) => format!(
                "nothing could be read from it within {deadline}: a named pipe that no one \
                 writes to?"
            ),
            None => "reading it timed out".into(),
        },
        kind => format!("{kind}"),
    }
}

/// The whole file, or [`ReadError::TooLarge`] as soon as it holds more than `limit` bytes, or
/// an error of kind `TimedOut` (carrying [`GaveUp`]) when it cannot be read by the run's
/// deadline.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_capped_by(path, limit, current_deadline())
}

/// [`read_capped`], given up at `deadline`.
///
/// A regular file is read at once, where the caller stands: opening and reading it cannot
/// block for long, and the cap bounds it. Anything else (a named pipe, whose open blocks until a
/// writer comes; a device; a socket) is read on a thread of its own that the caller waits for
/// until `deadline`. Asking what the path is does not block: `stat` does not open it. Reading
/// regular files inline matters to a long-running process: a thread for every read of a token
/// file, thousands of times, grew the doctor's threads and memory (tests/many_runs.rs). Handing
/// the read to tokio's blocking pool costs the same: with `block_in_place` around it, 2,000 runs
/// held 12 threads and grew by 364 KiB over the second thousand, against 4 threads and 44 KiB
/// read inline. A local file read takes microseconds; a pipe, which can take the whole
/// deadline, is what gets a thread.
pub fn read_capped_by(path: &Path, limit: u64, deadline: Deadline) -> Result<Vec<u8>, ReadError> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => read_now(path, limit),
        _ => {
            let owned = path.to_path_buf();
            on_thread("read-file", deadline, move || read_now(&owned, limit))
        }
    }
}

/// Standard input to its end, or [`ReadError::TooLarge`] past `limit` bytes, or an error of
/// kind `TimedOut` (carrying [`GaveUp`]) when it has not ended by the run's deadline: a terminal
/// no one types into, or a pipe whose writer never closes it.
pub fn read_stdin_capped(limit: u64) -> Result<Vec<u8>, ReadError> {
    on_thread("read-stdin", current_deadline(), move || {
        let mut bytes = Vec::new();
        io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(ReadError::Io)?;
        if bytes.len() as u64 > limit {
            return Err(ReadError::TooLarge(bytes.len() as u64));
        }
        Ok(bytes)
    })
}

/// Runs a blocking read on its own thread and waits for it until `deadline`. A read given up is
/// left blocked on its thread; the process does not wait for it when it exits.
fn on_thread(
    name: &str,
    deadline: Deadline,
    read: impl FnOnce() -> Result<Vec<u8>, ReadError> + Send + 'static,
) -> Result<Vec<u8>, ReadError> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = sender.send(read());
        })
        .map_err(ReadError::Io)?;
    let wait = || receiver.recv_timeout(deadline.wait());
    // The stages read files on the runtime's workers. Waiting there for a pipe would stall every
    // target whose task shares the worker, for up to the whole deadline: block_in_place hands
    // them to another worker first. A current-thread runtime (tests) has none to hand them to.
    let received = match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    };
    match received {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ReadError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            GaveUp(deadline),
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ReadError::Io(io::Error::other(
            "the reading thread ended without an answer",
        ))),
    }
}

fn read_now(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if metadata.is_dir() {
        return Err(ReadError::Io(io::Error::from(io::ErrorKind::IsADirectory)));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(metadata.len().max(bytes.len() as u64)));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_cut_at_the_limit() {
        match read_capped(Path::new("/dev/zero"), 1000) {
            Err(ReadError::TooLarge(size)) => assert_eq!(size, 1001),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_directory_and_a_missing_file_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_capped(dir.path(), 10).unwrap_err();
        assert_eq!(error.describe(), "it is a directory, not a file");
        let error = read_capped(&dir.path().join("nope"), 10).unwrap_err();
        assert_eq!(error.describe(), "it does not exist");
        std::fs::write(dir.path().join("small"), b"abc").unwrap();
        assert_eq!(read_capped(&dir.path().join("small"), 3).unwrap(), b"abc");
    }

    #[test]
    fn a_pipe_no_one_writes_to_is_given_up_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let started = Instant::now();
        let deadline = Deadline::run(started, Duration::from_millis(300));
        let error = read_capped_by(&fifo, 10, deadline).unwrap_err();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        assert_eq!(
            error.describe(),
            "nothing could be read from it within 300ms (the run's deadline): a named pipe that \
             no one writes to?"
        );
    }

    #[test]
    fn a_file_is_still_read_when_the_deadline_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, b"abc").unwrap();
        let long_ago = Deadline::run(Instant::now(), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(read_capped_by(&path, 3, long_ago).unwrap(), b"abc");
    }

    #[test]
    fn a_bound_says_whose_it_is() {
        assert_eq!(Deadline::from_now(FILE_WAIT).to_string(), "3s");
        assert_eq!(
            Deadline::run(Instant::now(), Duration::from_millis(1500)).to_string(),
            "1s 500ms (the run's deadline)"
        );
        let plain = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(gave_up(&plain), None);
        assert_eq!(io_problem(&plain), "reading it timed out");
    }
}
