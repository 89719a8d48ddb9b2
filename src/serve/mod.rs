//! `mqtt-doctor serve`: a Prometheus multi-target exporter in the manner of blackbox_exporter.
//! Each `GET /probe?target=URL&module=NAME` runs one doctor check with the module's settings
//! and answers with its metrics ([`crate::report::prometheus`]); `/metrics` has the exporter's
//! own.
//!
//! What a client controls is capped: the request's size and header count (hyper's limits), the
//! probes at once (`--max-concurrent`), the connections at once ([`MAX_CONNECTIONS`]), and the
//! time a probe runs (the scrape timeout less an offset, never more than the module's deadline).
//! A module probes only the targets it allows ([`modules`]). SIGTERM or SIGINT stops accepting,
//! lets the probes in flight finish within their deadlines, and exits 0.

mod http;
pub mod modules;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config_file;
pub use modules::Configure;

/// The exit codes of `serve` (the doctor's: see `cli::exit`).
const EXIT_STOPPED: u8 = 0;
const EXIT_USAGE: u8 = 2;
const EXIT_INTERNAL: u8 = 3;

/// HTTP connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 256;
/// Headers in one request; more get HTTP 431.
const MAX_HEADERS: usize = 32;
/// The request line and headers together, in bytes (hyper's smallest buffer).
const MAX_HEAD: usize = 8192;
/// Time for a client to send a request's head once it starts, or an idle connection's next.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an answer may wait for a client that stopped reading it: without it, a client that
/// pipelines requests and never reads would hold its connection, and one of
/// [`MAX_CONNECTIONS`], for good.
const WRITE_STALL: Duration = Duration::from_secs(10);

/// A connection whose writes fail once one has made no progress for `stall`.
struct WriteDeadline<T> {
    inner: T,
    stall: Duration,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    waiting: bool,
}

impl<T> WriteDeadline<T> {
    fn new(inner: T, stall: Duration) -> WriteDeadline<T> {
        WriteDeadline {
            inner,
            stall,
            timer: Box::pin(tokio::time::sleep(stall)),
            waiting: false,
        }
    }

    /// `poll` made no progress: start the clock if it is not running, and fail when it ends.
    fn stalled<R>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        poll: std::task::Poll<std::io::Result<R>>,
    ) -> std::task::Poll<std::io::Result<R>> {
        use std::future::Future as _;
        use std::task::Poll;
        match poll {
            Poll::Ready(result) => {
                self.waiting = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    let at = tokio::time::Instant::now() + self.stall;
                    self.timer.as_mut().reset(at);
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped reading the answer",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.stalled(cx, poll)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.stalled(cx, poll)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_shutdown(cx);
        self.stalled(cx, poll)
    }
}

/// What `serve` was asked, as the CLI parsed it.
#[derive(Debug)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub listen: SocketAddr,
    pub timeout_offset: Duration,
    pub max_concurrent: usize,
}

/// Runs the exporter until SIGTERM or SIGINT; returns the exit code.
pub fn main(options: Options, configure: Configure) -> u8 {
    // Reports kept for the landing page and `debug=true` are plain text.
    colored::control::set_override(false);
    let path = match options.config.clone() {
        Some(path) => path,
        None if std::path::Path::new(config_file::DEFAULT_FILE).is_file() => {
            PathBuf::from(config_file::DEFAULT_FILE)
        }
        None => {
            eprintln!(
                "mqtt-doctor serve: error: give --config FILE (or create ./{}): its profiles are \
                 the modules",
                config_file::DEFAULT_FILE
            );
            return EXIT_USAGE;
        }
    };
    let modules = match modules::load(&path, configure) {
        Ok(modules) => modules,
        Err(message) => {
            eprintln!("mqtt-doctor serve: error: {message}");
            return EXIT_USAGE;
        }
    };
    crate::limits::raise_descriptor_limit();
    let runtime = match crate::limits::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mqtt-doctor serve: error: {e}");
            return EXIT_INTERNAL;
        }
    };
    let code = runtime.block_on(serve(options, modules, configure));
    // A getaddrinfo call that never returns must not hold the process open.
    runtime.shutdown_background();
    code
}

async fn serve(options: Options, modules: Vec<modules::Module>, configure: Configure) -> u8 {
    let listener = match TcpListener::bind(options.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "mqtt-doctor serve: error: cannot listen on {}: {}",
                options.listen,
                crate::files::io_problem(&e)
            );
            // A port in use or not ours to bind is the machine's state, not a usage error.
            return EXIT_INTERNAL;
        }
    };
    let address = listener.local_addr().unwrap_or(options.listen);
    for module in &modules {
        if module.own.is_empty() && module.allow.is_empty() {
            eprintln!(
                "mqtt-doctor serve: note: module {} has no targets and no allow list: it \
                 refuses every target",
                module.name
            );
        }
    }
    let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    eprintln!(
        "mqtt-doctor serve: listening on http://{address} with modules: {}",
        names.join(", ")
    );
    let drain =
        modules.iter().map(|m| m.deadline).max().unwrap_or_default() + Duration::from_secs(1);
    let state = Arc::new(http::State {
        stats: state::Stats::new(
            modules.iter().map(|m| m.name.clone()).collect(),
            options.max_concurrent,
        ),
        modules,
        configure,
        probes: Semaphore::new(options.max_concurrent),
        timeout_offset: options.timeout_offset,
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEAD);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    // SIGTERM (what Kubernetes and systemd send) or SIGINT (Ctrl-C); without a handler the
    // exporter still serves, and a signal ends it at once instead of draining.
    let signals = match crate::signals::Stop::new() {
        Ok(signals) => Some(signals),
        Err(e) => {
            eprintln!("mqtt-doctor serve: warning: cannot catch SIGTERM and SIGINT ({e})");
            None
        }
    };
    let stop = async {
        match &signals {
            Some(signals) => signals.wait().await,
            None => std::future::pending().await,
        }
    };
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, most likely: wait for connections to end.
                    eprintln!(
                        "mqtt-doctor serve: warning: accept failed: {}",
                        crate::files::io_problem(&e)
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        let service = hyper::service::service_fn(move |request| {
            let state = state.clone();
            async move { Ok::<_, std::convert::Infallible>(http::handle(&state, request).await) }
        });
        let connection = builder.serve_connection(
            TokioIo::new(WriteDeadline::new(stream, WRITE_STALL)),
            service,
        );
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = watched.await;
            drop(permit);
        });
    }
    drop(listener);
    eprintln!("mqtt-doctor serve: stopping: no new probes; the probes in flight finish");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "mqtt-doctor serve: warning: connections still open after {}; closing them",
            crate::durations::text(drain)
        );
    }
    eprintln!("mqtt-doctor serve: stopped");
    EXIT_STOPPED
}
