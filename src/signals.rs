//! SIGINT and SIGTERM for the long-running commands (`watch`, `serve`), as something a task can
//! await. signal-hook's handler writes to a pipe that a thread of its own reads, and the thread
//! wakes the task: registering can fail (no descriptor left) and says so, where tokio's signal
//! driver, built into every runtime once its feature is on, would panic in the one-shot doctor.

use std::io;
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::Notify;

/// SIGINT or SIGTERM came, or will: [`Stop::wait`] returns once one has.
#[derive(Debug, Clone)]
pub struct Stop {
    notify: Arc<Notify>,
}

impl Stop {
    /// Catches SIGINT and SIGTERM from now on, for the rest of the process: a signal before
    /// anyone waits is kept, not lost.
    pub fn new() -> io::Result<Stop> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let notify = Arc::new(Notify::new());
        let wake = Arc::clone(&notify);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for _ in signals.forever() {
                    // One stored permit at most: a second Ctrl-C before the first is seen
                    // changes nothing.
                    wake.notify_one();
                }
            })?;
        Ok(Stop { notify })
    }

    /// Until SIGINT or SIGTERM.
    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}
