//! Files the doctor reads (certificates, keys, tokens, passwords, the resolver's configuration,
//! the config file), read with a size cap.
//!
//! Any of them may be named by mistake or by a hostile setup: `--cafile /dev/zero`, or a named
//! pipe that no one writes to. Reading without a cap would make the doctor allocate until it is
//! killed, and opening such a pipe blocks for ever, so every read stops one byte past its limit
//! and runs on its own thread, given up after [`FILE_WAIT`] (the thread ends with the process).
//! Pipes stay usable: `--token-file <(kubectl create token …)` is a common way to pass a token.

use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How long a file may take to read: ample for a disk, a /proc file or a command's pipe.
pub const FILE_WAIT: Duration = Duration::from_secs(3);

/// A CA bundle (Debian's holds about 150 certificates in 220 KB), a certificate or a key file.
pub const MAX_PEM_FILE: u64 = 4 << 20;
/// A hosts file or resolv.conf.
pub const MAX_SYSTEM_FILE: u64 = 1 << 20;

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
        io::ErrorKind::TimedOut => format!(
            "nothing could be read from it within {}s: a named pipe that no one writes to?",
            FILE_WAIT.as_secs()
        ),
        kind => format!("{kind}"),
    }
}

/// The whole file, or [`ReadError::TooLarge`] as soon as it holds more than `limit` bytes, or
/// an error of kind `TimedOut` when it cannot be read within [`FILE_WAIT`].
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (sender, receiver) = mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::Builder::new()
        .name("read-file".into())
        .spawn(move || {
            let _ = sender.send(read_now(&owned, limit));
        })
        .map_err(ReadError::Io)?;
    match receiver.recv_timeout(FILE_WAIT) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(ReadError::Io(io::Error::from(io::ErrorKind::TimedOut)))
        }
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
    fn a_pipe_no_one_writes_to_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let error = read_capped(&fifo, 10).unwrap_err();
        assert!(
            error
                .describe()
                .contains("a named pipe that no one writes to"),
            "{}",
            error.describe()
        );
    }
}
