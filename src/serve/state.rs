//! The exporter's own state: its counters for `/metrics` and the last probes for the landing
//! page. Everything here has a size fixed at startup (one slot per module, a ring of
//! [`RECENT`] probes), so memory stays flat however long the exporter runs and whatever targets
//! it is asked about.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::report::prometheus::Exposition;

/// How many probes the landing page keeps.
pub const RECENT: usize = 100;
/// The longest target kept for the landing page, in characters.
const MAX_TARGET: usize = 256;
/// The largest text report kept for the landing page.
const MAX_REPORT: usize = 64 * 1024;

/// Upper bounds of the probe-duration histogram, in seconds: from a loopback CONNACK to the
/// longest deadline a scrape allows.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
];

/// How a probe request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Not probed: the module does not allow the target, or the target is not a target.
    Refused,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Refused];

    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Refused => "refused",
        }
    }
}

/// Why a request to `/probe` was turned away before a module was chosen or a turn was had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// No turn among `--max-concurrent` probes within the probe's time limit (HTTP 503).
    Busy,
    UnknownModule,
    /// A parameter is missing or too long.
    BadRequest,
}

impl Rejected {
    const ALL: [Rejected; 3] = [
        Rejected::Busy,
        Rejected::UnknownModule,
        Rejected::BadRequest,
    ];

    fn label(self) -> &'static str {
        match self {
            Rejected::Busy => "busy",
            Rejected::UnknownModule => "unknown_module",
            Rejected::BadRequest => "bad_request",
        }
    }
}

#[derive(Debug, Default)]
struct ModuleCounts {
    outcomes: [u64; 3],
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// One probe, as the landing page lists it.
#[derive(Clone, Debug)]
pub struct Recent {
    pub id: u64,
    pub module: String,
    pub target: String,
    pub at: SystemTime,
    pub success: bool,
    pub root_cause: Option<String>,
    pub duration: Duration,
    /// The plain text report (and the metrics returned), cut at [`MAX_REPORT`].
    pub text: String,
}

#[derive(Debug)]
pub struct Stats {
    modules: Vec<String>,
    counts: Mutex<Vec<ModuleCounts>>,
    rejected: [AtomicU64; 3],
    in_flight: AtomicUsize,
    max_concurrent: usize,
    recent: Mutex<VecDeque<Recent>>,
    next_id: AtomicU64,
    started: SystemTime,
}

/// Keeps a value's first `max` characters.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

impl Stats {
    pub fn new(modules: Vec<String>, max_concurrent: usize) -> Stats {
        Stats {
            counts: Mutex::new(modules.iter().map(|_| ModuleCounts::default()).collect()),
            modules,
            rejected: Default::default(),
            in_flight: AtomicUsize::new(0),
            max_concurrent,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            next_id: AtomicU64::new(1),
            started: SystemTime::now(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Vec<ModuleCounts>> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A probe request of module number `module` ended; `duration` is `None` when nothing ran.
    pub fn record(&self, module: usize, outcome: Outcome, duration: Option<Duration>) {
        let mut counts = self.counts();
        let Some(slot) = counts.get_mut(module) else {
            return;
        };
        slot.outcomes[outcome as usize] += 1;
        if let Some(duration) = duration {
            let seconds = duration.as_secs_f64();
            for (bucket, bound) in slot.buckets.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            slot.sum += seconds;
            slot.count += 1;
        }
    }

    pub fn reject(&self, why: Rejected) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a probe in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Keeps a finished probe for the landing page, the oldest leaving once [`RECENT`] are kept.
    #[allow(clippy::too_many_arguments)]
    pub fn remember(
        &self,
        module: &str,
        target: &str,
        at: SystemTime,
        success: bool,
        root_cause: Option<String>,
        duration: Duration,
        mut text: String,
    ) {
        if text.len() > MAX_REPORT {
            let mut end = MAX_REPORT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("\n[cut]\n");
        }
        let entry = Recent {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            module: module.to_string(),
            target: cut(target, MAX_TARGET),
            at,
            success,
            root_cause,
            duration,
            text,
        };
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(entry);
    }

    /// The probes kept, newest first.
    pub fn recent(&self) -> Vec<Recent> {
        let recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The landing page shows a row per probe: its report text (up to 64 KiB each) stays
        // behind, so a page costs kilobytes, not 100 reports' worth.
        recent
            .iter()
            .rev()
            .map(|r| Recent {
                text: String::new(),
                module: r.module.clone(),
                target: r.target.clone(),
                root_cause: r.root_cause.clone(),
                ..*r
            })
            .collect()
    }

    pub fn report(&self, id: u64) -> Option<String> {
        let recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recent.iter().find(|r| r.id == id).map(|r| r.text.clone())
    }

    /// The exporter's own metrics, in the text format.
    pub fn metrics(&self) -> String {
        let mut out = Exposition::new();
        out.family(
            "mqtt_doctor_build_info",
            "gauge",
            "The exporter's version, as a label",
        )
        .sample(
            "mqtt_doctor_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        {
            let counts = self.counts();
            out.family(
                "mqtt_doctor_probes_total",
                "counter",
                "Probe requests by module and result: success, failure, or refused (the module \
                 does not allow the target, or it is not a target; nothing was probed)",
            );
            for (name, slot) in self.modules.iter().zip(counts.iter()) {
                for outcome in Outcome::ALL {
                    out.sample(
                        "mqtt_doctor_probes_total",
                        &[("module", name), ("result", outcome.label())],
                        slot.outcomes[outcome as usize] as f64,
                    );
                }
            }
            out.family(
                "mqtt_doctor_probe_duration_seconds",
                "histogram",
                "How long the probes that ran took, by module",
            );
            for (name, slot) in self.modules.iter().zip(counts.iter()) {
                for (bound, count) in BUCKETS.iter().zip(slot.buckets) {
                    let le = crate::report::prometheus::number(*bound);
                    out.sample(
                        "mqtt_doctor_probe_duration_seconds_bucket",
                        &[("module", name), ("le", &le)],
                        count as f64,
                    );
                }
                out.sample(
                    "mqtt_doctor_probe_duration_seconds_bucket",
                    &[("module", name), ("le", "+Inf")],
                    slot.count as f64,
                );
                out.sample(
                    "mqtt_doctor_probe_duration_seconds_sum",
                    &[("module", name)],
                    slot.sum,
                );
                out.sample(
                    "mqtt_doctor_probe_duration_seconds_count",
                    &[("module", name)],
                    slot.count as f64,
                );
            }
        }
        out.family(
            "mqtt_doctor_requests_rejected_total",
            "counter",
            "Probe requests turned away before probing: busy (no turn among --max-concurrent \
             within the time limit, HTTP 503), unknown_module, bad_request",
        );
        for why in Rejected::ALL {
            out.sample(
                "mqtt_doctor_requests_rejected_total",
                &[("reason", why.label())],
                self.rejected[why as usize].load(Ordering::Relaxed) as f64,
            );
        }
        out.gauge(
            "mqtt_doctor_probes_in_flight",
            "Probes running now",
            self.in_flight.load(Ordering::Relaxed) as f64,
        );
        out.gauge(
            "mqtt_doctor_probes_max_concurrent",
            "Probes allowed to run at the same time (--max-concurrent)",
            self.max_concurrent as f64,
        );
        process_metrics(&mut out, self.started);
        out.finish()
    }
}

pub struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The process's own resources under the names Prometheus' client libraries give them, so that
/// a benchmark or an alert on the exporter's memory, CPU and descriptors needs nothing else.
fn process_metrics(out: &mut Exposition, started: SystemTime) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map(|k| k * 1024.0)
    };
    if let Some(rss) = kib("VmRSS:") {
        out.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            rss,
        );
    }
    if let Some(virtual_size) = kib("VmSize:") {
        out.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            virtual_size,
        );
    }
    // Fields 14 and 15 of /proc/self/stat, after the parenthesised command name: user and
    // system time in clock ticks, which Linux exposes at 100 per second (USER_HZ) everywhere.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let ticks: Option<f64> = stat.rsplit_once(')').and_then(|(_, rest)| {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
    });
    if let Some(ticks) = ticks {
        out.family(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds",
        )
        .sample("process_cpu_seconds_total", &[], ticks / 100.0);
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        out.gauge(
            "process_open_fds",
            "Number of open file descriptors",
            entries.count() as f64,
        );
    }
    if let Some(limit) = crate::limits::descriptor_limit() {
        out.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors",
            limit as f64,
        );
    }
    if let Ok(since) = started.duration_since(SystemTime::UNIX_EPOCH) {
        out.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            since.as_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_hundred_and_counts_go_by_module() {
        let stats = Stats::new(vec!["a".into(), "b".into()], 4);
        for i in 0..250 {
            stats.remember(
                "a",
                &"x".repeat(1000),
                SystemTime::now(),
                i % 2 == 0,
                None,
                Duration::from_millis(i),
                "r".repeat(MAX_REPORT + 10),
            );
        }
        let recent = stats.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].id, 250);
        assert!(recent[0].target.chars().count() <= MAX_TARGET + 1);
        // The listing leaves the reports behind; each is kept, cut, for /report.
        assert!(recent.iter().all(|r| r.text.is_empty()));
        let kept = stats.report(250).expect("the newest report");
        assert!(kept.len() < MAX_REPORT + 20);
        assert!(stats.report(1).is_none());
        stats.record(1, Outcome::Failure, Some(Duration::from_millis(30)));
        stats.record(1, Outcome::Refused, None);
        let text = stats.metrics();
        assert!(text.contains("mqtt_doctor_probes_total{module=\"b\",result=\"failure\"} 1\n"));
        assert!(text.contains("mqtt_doctor_probes_total{module=\"b\",result=\"refused\"} 1\n"));
        assert!(text.contains("mqtt_doctor_probes_total{module=\"a\",result=\"success\"} 0\n"));
        assert!(
            text.contains(
                "mqtt_doctor_probe_duration_seconds_bucket{module=\"b\",le=\"0.025\"} 0\n"
            )
        );
        assert!(
            text.contains(
                "mqtt_doctor_probe_duration_seconds_bucket{module=\"b\",le=\"0.05\"} 1\n"
            )
        );
        assert!(text.contains("mqtt_doctor_probe_duration_seconds_count{module=\"b\"} 1\n"));
    }
}
