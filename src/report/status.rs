//! The live status line on a terminal's stderr while a step waits: what the run waits for and
//! for how long (see [`crate::progress`]), redrawn every tenth of a second on a thread of its
//! own, cleared when the step ends and before any report is written, so that the report reads
//! as if the line had never been there. Only for a terminal: the CLI starts it when stderr is
//! one, and never with `--quiet` or a report format other than text.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::progress;

/// A wait shorter than this is not shown: most steps end before the line would be read.
const SHOW_AFTER: Duration = Duration::from_millis(300);
const REDRAW: Duration = Duration::from_millis(100);
/// Clears the terminal line the cursor is on.
const CLEAR: &str = "\r\x1b[2K";

#[derive(Debug)]
pub struct StatusLine {
    stop: Arc<AtomicBool>,
    /// Whether a line is on the screen; held while anything else writes to the terminal.
    drawn: Arc<Mutex<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl StatusLine {
    /// Starts drawing, `width` columns at most.
    pub fn start(width: usize) -> StatusLine {
        let stop = Arc::new(AtomicBool::new(false));
        let drawn = Arc::new(Mutex::new(false));
        let (stop_flag, shown) = (stop.clone(), drawn.clone());
        let thread = std::thread::Builder::new()
            .name("status-line".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    // Parked rather than asleep: `stop` wakes it at once.
                    std::thread::park_timeout(REDRAW);
                    if stop_flag.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut drawn = shown.lock().unwrap_or_else(|e| e.into_inner());
                    let mut err = std::io::stderr().lock();
                    match progress::current().filter(|w| w.since.elapsed() >= SHOW_AFTER) {
                        Some(waiting) => {
                            // Cut to the width: a line that wraps cannot be cleared with \r.
                            let line: String = progress::line(&waiting)
                                .chars()
                                .take(width.saturating_sub(1))
                                .collect();
                            let _ = write!(err, "{CLEAR}{line}");
                            *drawn = true;
                        }
                        None if *drawn => {
                            let _ = write!(err, "{CLEAR}");
                            *drawn = false;
                        }
                        None => {}
                    }
                    let _ = err.flush();
                }
            })
            .ok();
        StatusLine {
            stop,
            drawn,
            thread,
        }
    }

    /// Runs `write` with the line cleared and kept off the screen meanwhile.
    pub fn quiet<T>(&self, write: impl FnOnce() -> T) -> T {
        let mut drawn = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        if *drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{CLEAR}");
            let _ = err.flush();
            *drawn = false;
        }
        write()
    }

    /// Stops drawing and leaves the line clear.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        self.quiet(|| ());
    }
}
