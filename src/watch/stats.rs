//! The statistics of a watch, in space that does not grow with the number of runs: a fixed-size
//! histogram per phase and target, counters, and maps capped with an "other" bucket (a DNS name
//! may return new addresses on every run; root causes are few, but a cap costs nothing).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::findings::Status;
use crate::report::watch::{
    Flap, PHASES, PhaseSummary, RootCauseCount, WatchNodeSummary, WatchRun, WatchSummary,
    WatchTargetSummary,
};

/// Addresses listed per target; later ones share one "other" row.
pub const MAX_NODES: usize = 32;
/// Root causes listed; later ones share one count.
pub const MAX_ROOT_CAUSES: usize = 32;
/// Verdict changes kept with their details; earlier ones are only counted.
pub const RECENT_FLAPS: usize = 20;

/// The smallest time told apart (10 µs): everything below falls in the first bucket.
const MIN_MS: f64 = 0.01;
/// Each bucket is 5% wider than the one before: its geometric middle is within 2.5% of any
/// value in it.
const GROWTH: f64 = 1.05;
/// From 10 µs up to about 47 minutes (0.01 × 1.05^399 ms); a longer time (none can be: every
/// run has its deadline) goes into the last bucket, and `max` stays exact.
const BUCKETS: usize = 400;

/// A latency histogram of fixed size (3.2 KB) whatever the number of samples.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    samples: u64,
    min: f64,
    max: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            samples: 0,
            min: f64::INFINITY,
            max: 0.0,
        }
    }
}

impl Histogram {
    fn bucket(ms: f64) -> usize {
        if ms.is_nan() || ms <= MIN_MS {
            return 0;
        }
        let index = ((ms / MIN_MS).ln() / GROWTH.ln()).ceil();
        (index as usize).min(BUCKETS - 1)
    }

    /// The value a bucket stands for: the geometric middle of its bounds.
    fn value(index: usize) -> f64 {
        if index == 0 {
            MIN_MS
        } else {
            MIN_MS * GROWTH.powf(index as f64 - 0.5)
        }
    }

    pub fn record(&mut self, ms: f64) {
        let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
        self.counts[Histogram::bucket(ms)] += 1;
        self.samples += 1;
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    /// The `q` quantile (0 < q ≤ 1): the smallest sample with at least that share of the samples
    /// at or below it, within the bucket's precision, never outside the samples' range (so that
    /// times that barely vary read as what they are).
    pub fn quantile(&self, q: f64) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        let rank = ((q * self.samples as f64).ceil() as u64).clamp(1, self.samples);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return round3(Histogram::value(index).clamp(self.min, self.max));
            }
        }
        self.max
    }
}

fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn success_ratio(ok: u64, runs: u64) -> Option<f64> {
    (runs > 0).then(|| (ok as f64 / runs as f64 * 10_000.0).round() / 10_000.0)
}

#[derive(Clone, Debug, Default)]
struct NodeCounts {
    runs: u64,
    passed: u64,
}

impl NodeCounts {
    /// A skipped run (the doctor ran out of something before it checked) counts neither way,
    /// as in the target's ratio.
    fn add(&mut self, status: Status) {
        if status == Status::Skip {
            return;
        }
        self.runs += 1;
        if status != Status::Fail {
            self.passed += 1;
        }
    }

    fn summary(&self, address: String) -> WatchNodeSummary {
        WatchNodeSummary {
            address,
            runs: self.runs,
            passed: self.passed,
            success_ratio: success_ratio(self.passed, self.runs),
        }
    }
}

#[derive(Debug, Default)]
struct TargetStats {
    url: String,
    runs: u64,
    passed: u64,
    warned: u64,
    failed: u64,
    skipped: u64,
    flaps: u64,
    session_drops: u64,
    last: Option<Status>,
    nodes: Vec<(String, NodeCounts)>,
    other_nodes: Option<NodeCounts>,
    /// One histogram per phase, made when the phase first happens.
    phases: [Option<Histogram>; 8],
}

/// Every run so far, summed up.
#[derive(Debug)]
pub struct Stats {
    started_at: Option<SystemTime>,
    runs: u64,
    passed: u64,
    warned: u64,
    failed: u64,
    skipped: u64,
    worst: Status,
    flaps: u64,
    session_drops: u64,
    targets: Vec<TargetStats>,
    root_causes: Vec<(String, u64)>,
    other_root_causes: u64,
    recent_flaps: VecDeque<Flap>,
}

impl Stats {
    /// Statistics for targets given by their URLs, in the order each run lists them.
    pub fn new(urls: Vec<String>) -> Stats {
        Stats {
            started_at: None,
            runs: 0,
            passed: 0,
            warned: 0,
            failed: 0,
            skipped: 0,
            worst: Status::Pass,
            flaps: 0,
            session_drops: 0,
            targets: urls
                .into_iter()
                .map(|url| TargetStats {
                    url,
                    ..TargetStats::default()
                })
                .collect(),
            root_causes: Vec::new(),
            other_root_causes: 0,
            recent_flaps: VecDeque::new(),
        }
    }

    /// Adds a finished run; `started_at` is its start.
    pub fn record(&mut self, run: &WatchRun, started_at: SystemTime) {
        self.started_at.get_or_insert(started_at);
        self.runs += 1;
        match run.status {
            Status::Fail => self.failed += 1,
            Status::Warn => self.warned += 1,
            Status::Skip => self.skipped += 1,
            _ => self.passed += 1,
        }
        self.worst = worst(self.worst, run.status);
        // A run's targets come in the order given, less any whose task was lost: each is
        // matched to the next statistics of its URL, so a lost one shifts none of the others.
        let mut next = 0;
        for target in &run.targets {
            let Some(offset) = self.targets[next.min(self.targets.len())..]
                .iter()
                .position(|s| s.url == target.url)
            else {
                continue;
            };
            let index = next + offset;
            next = index + 1;
            let stats = &mut self.targets[index];
            let status = target.verdict.status;
            stats.runs += 1;
            match status {
                Status::Fail => stats.failed += 1,
                Status::Warn => stats.warned += 1,
                Status::Skip => stats.skipped += 1,
                _ => stats.passed += 1,
            }
            if target.session_dropped {
                stats.session_drops += 1;
                self.session_drops += 1;
            }
            if let Some(last) = stats.last
                && last != status
            {
                stats.flaps += 1;
                self.flaps += 1;
                if self.recent_flaps.len() == RECENT_FLAPS {
                    self.recent_flaps.pop_front();
                }
                self.recent_flaps.push_back(Flap {
                    run: run.run,
                    at: run.started_at.clone(),
                    target: target.url.clone(),
                    from: last,
                    to: status,
                    root_cause: target.verdict.root_cause.clone(),
                });
            }
            stats.last = Some(status);
            if status == Status::Fail {
                let id = target.verdict.root_cause.as_deref().unwrap_or("unknown");
                let full = self.root_causes.len() >= MAX_ROOT_CAUSES;
                match self.root_causes.iter_mut().find(|(known, _)| known == id) {
                    Some((_, count)) => *count += 1,
                    None if !full => self.root_causes.push((id.to_string(), 1)),
                    None => self.other_root_causes += 1,
                }
            }
            for node in &target.nodes {
                let full = stats.nodes.len() >= MAX_NODES;
                match stats.nodes.iter_mut().find(|(a, _)| *a == node.address) {
                    Some((_, counts)) => counts.add(node.status),
                    None if !full => {
                        let mut counts = NodeCounts::default();
                        counts.add(node.status);
                        stats.nodes.push((node.address.clone(), counts));
                    }
                    None => stats
                        .other_nodes
                        .get_or_insert_with(NodeCounts::default)
                        .add(node.status),
                }
                for (slot, value) in stats.phases.iter_mut().zip(node.phases.values()) {
                    if let Some(value) = value {
                        slot.get_or_insert_with(Histogram::default).record(value);
                    }
                }
            }
        }
    }

    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The summary as it stands; `interrupted` when a signal ended the watch.
    pub fn summary(&self, interrupted: bool, now: SystemTime) -> WatchSummary {
        let started_at = self.started_at.unwrap_or(now);
        let mut root_causes: Vec<RootCauseCount> = self
            .root_causes
            .iter()
            .map(|(id, count)| RootCauseCount {
                id: id.clone(),
                count: *count,
            })
            .collect();
        // The most frequent first; among equals, the first seen.
        root_causes.sort_by_key(|c| std::cmp::Reverse(c.count));
        WatchSummary {
            runs: self.runs,
            passed: self.passed,
            warned: self.warned,
            failed: self.failed,
            skipped: self.skipped,
            interrupted,
            started_at: humantime::format_rfc3339_millis(started_at).to_string(),
            duration_ms: crate::findings::millis(
                now.duration_since(started_at).unwrap_or(Duration::ZERO),
            ),
            status: self.worst,
            flaps: self.flaps,
            session_drops: self.session_drops,
            targets: self.targets.iter().map(target_summary).collect(),
            root_causes,
            other_root_causes: self.other_root_causes,
            recent_flaps: self.recent_flaps.iter().cloned().collect(),
        }
    }
}

fn target_summary(stats: &TargetStats) -> WatchTargetSummary {
    WatchTargetSummary {
        url: stats.url.clone(),
        runs: stats.runs,
        passed: stats.passed,
        warned: stats.warned,
        failed: stats.failed,
        skipped: stats.skipped,
        success_ratio: success_ratio(stats.passed + stats.warned, stats.runs),
        flaps: stats.flaps,
        session_drops: stats.session_drops,
        last_status: stats.last,
        nodes: stats
            .nodes
            .iter()
            .map(|(address, counts)| counts.summary(address.clone()))
            .collect(),
        other_nodes: stats
            .other_nodes
            .as_ref()
            .map(|counts| counts.summary("other".into())),
        phases: PHASES
            .iter()
            .zip(&stats.phases)
            .filter_map(|(name, histogram)| {
                let histogram = histogram.as_ref()?;
                Some(PhaseSummary {
                    phase: name.to_string(),
                    samples: histogram.samples(),
                    p50_ms: histogram.quantile(0.50),
                    p95_ms: histogram.quantile(0.95),
                    p99_ms: histogram.quantile(0.99),
                    max_ms: histogram.max(),
                })
            })
            .collect(),
    }
}

/// The worse of two run statuses: a failure, then a run not fully checked, then a warning.
/// (`Status::max` ranks `skip` below `pass`, right for stages, not for whole runs.)
pub fn worst(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Fail => 3,
        Status::Skip => 2,
        Status::Warn => 1,
        Status::Pass | Status::Info => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::VerdictReport;
    use crate::report::watch::{Phases, WatchNode, WatchTarget};

    #[test]
    fn percentiles_are_within_the_bucket_precision() {
        let mut h = Histogram::default();
        for i in 1..=1000 {
            h.record(i as f64 / 10.0); // 0.1 ms to 100 ms
        }
        for (q, exact) in [(0.5, 50.0), (0.95, 95.0), (0.99, 99.0)] {
            let got = h.quantile(q);
            assert!(
                (got - exact).abs() / exact < 0.026,
                "p{q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.max(), 100.0);
        let top = h.quantile(1.0);
        assert!(
            top <= 100.0 && top > 97.5,
            "never above the largest sample: {top}"
        );
        let mut one = Histogram::default();
        one.record(3.0);
        assert_eq!(
            one.quantile(0.99),
            3.0,
            "a lone sample is its own percentile"
        );
        assert_eq!(h.samples(), 1000);
    }

    #[test]
    fn extreme_samples_land_in_the_end_buckets() {
        let mut h = Histogram::default();
        h.record(0.0);
        h.record(f64::NAN);
        h.record(1e12);
        assert_eq!(h.samples(), 3);
        assert_eq!(h.quantile(0.5), MIN_MS);
        assert_eq!(h.max(), 1e12);
    }

    fn run(n: u64, status: Status, root: Option<&str>, addresses: &[String]) -> WatchRun {
        WatchRun {
            run: n,
            started_at: "2026-11-26T17:58:03.120Z".into(),
            duration_ms: 1.0,
            status,
            targets: vec![WatchTarget {
                url: "mqtt://a:1883".into(),
                verdict: VerdictReport {
                    status,
                    root_cause: root.map(String::from),
                    summary: String::new(),
                },
                session_dropped: false,
                nodes: addresses
                    .iter()
                    .map(|address| WatchNode {
                        address: address.clone(),
                        status,
                        root_cause: None,
                        phases: Phases {
                            tcp: Some(n as f64),
                            ..Phases::default()
                        },
                    })
                    .collect(),
            }],
        }
    }

    /// A run whose first target's task was lost still counts the second under its own URL.
    #[test]
    fn a_lost_target_shifts_none_of_the_others() {
        let mut stats = Stats::new(vec!["mqtt://first:1883".into(), "mqtt://a:1883".into()]);
        stats.record(
            &run(1, Status::Fail, Some("tcp.refused"), &[]),
            SystemTime::now(),
        );
        let summary = stats.summary(false, SystemTime::now());
        assert_eq!(summary.targets[0].url, "mqtt://first:1883");
        assert_eq!((summary.targets[0].runs, summary.targets[1].runs), (0, 1));
        assert_eq!(summary.targets[1].failed, 1);
    }

    #[test]
    fn flaps_root_causes_and_ratios_are_counted() {
        let mut stats = Stats::new(vec!["mqtt://a:1883".into()]);
        let node = vec!["10.0.0.1:1883".to_string()];
        let now = SystemTime::now();
        for (n, status) in [
            Status::Pass,
            Status::Pass,
            Status::Fail,
            Status::Fail,
            Status::Pass,
        ]
        .into_iter()
        .enumerate()
        {
            let root = (status == Status::Fail).then_some("tcp.refused");
            stats.record(&run(n as u64 + 1, status, root, &node), now);
        }
        let summary = stats.summary(false, now);
        assert_eq!((summary.runs, summary.passed, summary.failed), (5, 3, 2));
        assert_eq!(summary.flaps, 2);
        assert_eq!(summary.recent_flaps[0].run, 3);
        assert_eq!(summary.recent_flaps[1].to, Status::Pass);
        assert_eq!(summary.status, Status::Fail);
        assert_eq!(
            summary.root_causes,
            [RootCauseCount {
                id: "tcp.refused".into(),
                count: 2
            }]
        );
        let target = &summary.targets[0];
        assert_eq!(target.success_ratio, Some(0.6));
        assert_eq!(target.nodes[0].runs, 5);
        assert_eq!(target.phases[0].phase, "tcp");
        assert_eq!(target.phases[0].samples, 5);
        assert_eq!(target.phases[0].max_ms, 5.0);
    }

    #[test]
    fn many_addresses_and_flaps_stay_bounded() {
        let mut stats = Stats::new(vec!["mqtt://a:1883".into()]);
        let now = SystemTime::now();
        for n in 0..1000u64 {
            let address = vec![format!("10.0.{}.{}:1883", n / 256, n % 256)];
            let status = if n % 2 == 0 {
                Status::Pass
            } else {
                Status::Fail
            };
            let root = format!("x.{n}");
            let root = (n % 2 == 1).then_some(root.as_str());
            stats.record(&run(n + 1, status, root, &address), now);
        }
        let summary = stats.summary(true, now);
        let target = &summary.targets[0];
        assert_eq!(target.nodes.len(), MAX_NODES);
        assert_eq!(
            target.other_nodes.as_ref().unwrap().runs,
            1000 - MAX_NODES as u64
        );
        assert_eq!(summary.root_causes.len(), MAX_ROOT_CAUSES);
        assert_eq!(summary.other_root_causes, 500 - MAX_ROOT_CAUSES as u64);
        assert_eq!(summary.flaps, 999);
        assert_eq!(summary.recent_flaps.len(), RECENT_FLAPS);
        assert!(summary.interrupted);
    }
}
