//! The report of a run, written target by target as the targets finish, so that memory stays
//! flat however many targets a run checks.
//!
//! Each target's report is rendered in that target's task the moment it finishes ([`render`]);
//! the [`crate::pipeline::Outcome`] and the [`Report`] are dropped there, and only the rendered
//! text goes on to the [`ReportWriter`], which writes it in the order the targets were given.
//! What each format keeps until the end of the run:
//!
//! - text: one [`TargetSummary`] row per target (URL, verdict, root cause, time: a few dozen
//!   bytes) for the closing table;
//! - JSON: nothing but a count; the overall verdict follows the `reports` array;
//! - JUnit: the rendered XML of every `<testsuite>` (a few KiB a target), because `<testsuites>`
//!   carries the totals as attributes of its opening tag, which comes first;
//! - Markdown: as text, one summary row per target (and a brief job summary writes a section
//!   only for the first targets that did not pass);
//! - GitHub annotations: nothing; the caller writes each target's lines as they come.
//!
//! One run may write several of these at once ([`Outputs`]: standard output, `--output` files,
//! the job summary); each keeps what its format keeps.
//!
//! A run over one target writes that target's report whole, exactly as before.

use std::io::{self, Write};

use super::json::MultiJson;
use super::markdown::{self, ManyMarkdown};
use super::text::{ManyText, TextOptions};
use super::{ClusterReport, Report, Tally, TargetSummary, github, json, junit, text};
use crate::pipeline::Outcome;

/// The report format, with what it needs to know.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    Text(TextOptions),
    Json,
    Junit,
    /// GitHub-flavoured Markdown; `brief` (a job summary) gives a section only to targets that
    /// did not pass, at most [`markdown::BRIEF_SECTIONS`] of them.
    Markdown {
        brief: bool,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct StreamOptions {
    pub layout: Layout,
    /// Warnings count as failures (JUnit failures and annotations follow the exit code).
    pub strict: bool,
    /// Write GitHub Actions annotations.
    pub annotate: bool,
    /// The run has one target: its report is a document of its own.
    pub single: bool,
    /// Fold each target's text report into a GitHub Actions log group (`::group::`).
    pub fold: bool,
}

/// One target's report, rendered as soon as the target finished.
#[derive(Debug)]
pub struct Rendered {
    body: Body,
    /// The target's GitHub Actions annotations; empty unless asked for.
    pub annotations: String,
    summary: TargetSummary,
}

#[derive(Debug)]
enum Body {
    /// A run over one target: the whole document.
    Whole(String),
    /// Text: the target's section, empty when `--quiet` has nothing to say.
    Section(String),
    /// JSON: the target's element of `reports`.
    Element(String),
    /// JUnit: the target's `<testsuite>`.
    Suite(junit::Suite),
}

/// Renders one target's outcome in the run's format; runs in the target's task.
pub fn render(outcome: &Outcome, options: &StreamOptions) -> Rendered {
    render_report(&Report::from_outcome(outcome), options)
}

/// Renders one target's outcome in every format the run writes (stdout's, then each
/// `--output` file's), from one report model.
pub fn render_each(outcome: &Outcome, options: &[StreamOptions]) -> Vec<Rendered> {
    let report = Report::from_outcome(outcome);
    options.iter().map(|o| render_report(&report, o)).collect()
}

fn render_report(report: &Report, options: &StreamOptions) -> Rendered {
    let strict = options.strict;
    let body = match (options.layout, options.single) {
        (Layout::Text(text), true) => Body::Whole(text::render(report, text)),
        (Layout::Json, true) => Body::Whole(json::render(report)),
        (Layout::Junit, true) => Body::Whole(junit::render(std::slice::from_ref(report), strict)),
        (Layout::Markdown { .. }, true) => Body::Whole(markdown::render(report)),
        (Layout::Markdown { .. }, false) => Body::Section(markdown::render(report)),
        (Layout::Text(text), false) => Body::Section(text::render(report, text)),
        (Layout::Json, false) => Body::Element(MultiJson::element(report)),
        (Layout::Junit, false) => Body::Suite(junit::Suite::new(report, strict)),
    };
    Rendered {
        body,
        annotations: if options.annotate {
            github::render_one(report, strict)
        } else {
            String::new()
        },
        summary: TargetSummary::of(report),
    }
}

/// Every report of one run: stdout's and each `--output` file's, each in its own format, fed
/// the same targets in the same order. A name goes with each, for an error to say which failed.
pub struct Outputs {
    writers: Vec<(String, ReportWriter<Box<dyn Write>>)>,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.writers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Outputs").field("writers", &names).finish()
    }
}

/// A report that could not be written: where, and why.
#[derive(Debug)]
pub struct OutputError {
    pub name: String,
    pub error: io::Error,
}

impl Outputs {
    /// Opens every output: `outputs` pairs a name (`standard output`, a path) with where the
    /// report goes and its options. A text report bound for a file loses its colours there.
    pub fn new(
        outputs: Vec<(String, Box<dyn Write>, StreamOptions)>,
    ) -> Result<Outputs, OutputError> {
        let mut writers = Vec::with_capacity(outputs.len());
        for (name, out, options) in outputs {
            match ReportWriter::new(out, &options) {
                Ok(writer) => writers.push((name, writer)),
                Err(error) => return Err(OutputError { name, error }),
            }
        }
        Ok(Outputs { writers })
    }

    /// The next target, rendered once per output in the order the outputs were given.
    pub fn target(&mut self, rendered: Vec<Rendered>) -> Result<(), OutputError> {
        for ((name, writer), rendered) in self.writers.iter_mut().zip(rendered) {
            writer.target(rendered).map_err(|error| OutputError {
                name: name.clone(),
                error,
            })?;
        }
        Ok(())
    }

    /// The `--cluster` comparison, for every output.
    pub fn cluster(&mut self, report: ClusterReport) {
        for (_, writer) in &mut self.writers {
            writer.cluster(report.clone());
        }
    }

    /// Ends every report; the tally is the same for all of them (the first's is returned).
    pub fn finish(self) -> Result<Tally, OutputError> {
        let mut tally = None;
        for (name, writer) in self.writers {
            let this = writer
                .finish()
                .map_err(|error| OutputError { name, error })?;
            tally.get_or_insert(this);
        }
        Ok(tally.unwrap_or_default())
    }
}

/// Writes the rendered targets, in order, and what the format puts around them.
#[derive(Debug)]
pub struct ReportWriter<W: Write> {
    out: Sink<W>,
    state: State,
    tally: Tally,
    /// The `--cluster` comparison, written after the targets.
    cluster: Option<ClusterReport>,
    strict: bool,
    /// Each target's text in a GitHub Actions log group.
    fold: bool,
}

#[derive(Debug)]
enum State {
    Whole,
    Text(ManyText),
    Markdown(ManyMarkdown),
    Json(MultiJson),
    Junit(junit::Document),
}

impl<W: Write> ReportWriter<W> {
    /// Starts the report: for JSON over several targets, its opening is written at once.
    pub fn new(out: W, options: &StreamOptions) -> io::Result<ReportWriter<W>> {
        let state = match (options.layout, options.single) {
            (_, true) => State::Whole,
            (Layout::Text(text), false) => State::Text(ManyText::new(text)),
            (Layout::Json, false) => State::Json(MultiJson::default()),
            (Layout::Junit, false) => State::Junit(junit::Document::default()),
            (Layout::Markdown { brief }, false) => State::Markdown(ManyMarkdown::new(brief)),
        };
        let mut writer = ReportWriter {
            out: Sink { out, closed: false },
            state,
            tally: Tally::default(),
            cluster: None,
            strict: options.strict,
            fold: options.fold && matches!(options.layout, Layout::Text(_)),
        };
        if matches!(writer.state, State::Json(_)) {
            writer.write(MultiJson::open().as_bytes())?;
        }
        Ok(writer)
    }

    /// Writes the next target's report (JUnit: keeps its suite for the end).
    pub fn target(&mut self, rendered: Rendered) -> io::Result<()> {
        self.tally.add(rendered.summary.status);
        let title = format!(
            "mqtt-doctor {} · {}",
            rendered.summary.url,
            rendered.summary.status.as_str()
        );
        let text = match (&mut self.state, rendered.body) {
            (State::Text(many), Body::Section(section)) => many.target(&section, rendered.summary),
            (State::Markdown(many), Body::Section(section)) => {
                many.target(&section, rendered.summary)
            }
            (State::Json(multi), Body::Element(element)) => multi.push(&element),
            (State::Junit(document), Body::Suite(suite)) => {
                document.push(suite);
                return Ok(());
            }
            (_, Body::Whole(text) | Body::Section(text) | Body::Element(text)) => text,
            // A suite for a run that is not JUnit cannot be made: `render` and `new` both
            // follow the same options.
            (_, Body::Suite(_)) => return Ok(()),
        };
        if self.fold && !text.is_empty() {
            return self.write(github::group(&title, &text).as_bytes());
        }
        self.write(text.as_bytes())
    }

    /// The `--cluster` comparison, once every target is written: it goes after them, before
    /// the overall verdict, which counts it.
    pub fn cluster(&mut self, report: ClusterReport) {
        self.tally.cluster = Some(report.verdict.status);
        self.cluster = Some(report);
    }

    /// Ends the report and returns the tally of every target written.
    pub fn finish(mut self) -> io::Result<Tally> {
        let verdict = self.tally.verdict();
        let cluster = self.cluster.take();
        match std::mem::replace(&mut self.state, State::Whole) {
            State::Whole => {}
            State::Text(many) => {
                let text = many.finish(cluster.as_ref(), &verdict);
                self.write(text.as_bytes())?
            }
            State::Json(multi) => self.write(multi.close(cluster.as_ref(), &verdict).as_bytes())?,
            State::Markdown(many) => {
                let text = many.finish(cluster.as_ref(), &verdict);
                self.write(text.as_bytes())?
            }
            State::Junit(mut document) => {
                if let Some(cluster) = &cluster {
                    document.push(junit::Suite::cluster(cluster, self.strict));
                }
                document.write(&mut self.out)?;
                self.out.flush()?;
            }
        }
        Ok(self.tally)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        // Flushed at once: the reader sees each target as it finishes.
        self.out.write_all(bytes)?;
        self.out.flush()
    }
}

/// The output, where a reader that went away (`| head`) is not an error: the rest is dropped
/// and the run goes on, so that its exit code still tells whether every target is healthy.
#[derive(Debug)]
struct Sink<W> {
    out: W,
    closed: bool,
}

impl<W: Write> Sink<W> {
    fn closed_pipe<T>(&mut self, result: io::Result<T>, otherwise: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(otherwise)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.out.write(buf);
        self.closed_pipe(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.out.flush();
        self.closed_pipe(result, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Status;
    use crate::report::MultiReport;
    use crate::report::samples::reports;

    /// Streams `reports` through the writer, as the CLI does, each rendered as [`render`]
    /// renders an outcome's report.
    fn streamed(reports: &[Report], layout: Layout, strict: bool) -> (String, Tally) {
        let options = StreamOptions {
            fold: false,
            layout,
            strict,
            annotate: false,
            single: reports.len() == 1,
        };
        let mut out = Vec::new();
        let mut writer = ReportWriter::new(&mut out, &options).unwrap();
        for report in reports {
            let rendered = render_report(report, &options);
            writer.target(rendered).unwrap();
        }
        let tally = writer.finish().unwrap();
        (String::from_utf8(out).unwrap(), tally)
    }

    #[test]
    fn streamed_json_is_the_whole_multi_report_byte_for_byte() {
        let reports = reports();
        for n in 2..=3 {
            let whole = json::render(&MultiReport::new(&reports[..n]));
            let (text, tally) = streamed(&reports[..n], Layout::Json, false);
            assert_eq!(text, whole);
            let back: MultiReport = serde_json::from_str(&text).expect("a strict MultiReport");
            assert_eq!(back.reports, reports[..n].to_vec());
            assert_eq!(back.verdict.targets, n);
            assert_eq!(tally.failed, 1);
        }
        // No report at all (every check stopped without a result) is still a document.
        let mut out = Vec::new();
        let options = StreamOptions {
            fold: false,
            layout: Layout::Json,
            strict: false,
            annotate: false,
            single: false,
        };
        ReportWriter::new(&mut out, &options)
            .unwrap()
            .finish()
            .unwrap();
        let empty: MultiReport = serde_json::from_slice(&out).expect("a strict MultiReport");
        assert!(empty.reports.is_empty());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            json::render(&MultiReport::new(&[]))
        );
    }

    #[test]
    fn one_target_is_written_whole() {
        let reports = reports();
        let one = &reports[..1];
        let text = TextOptions {
            verbose: false,
            quiet: false,
            width: 100,
        };
        assert_eq!(streamed(one, Layout::Json, false).0, json::render(&one[0]));
        assert_eq!(
            streamed(one, Layout::Text(text), false).0,
            text::render(&one[0], text)
        );
        assert_eq!(
            streamed(one, Layout::Junit, false).0,
            junit::render(one, false)
        );
    }

    #[test]
    fn streamed_text_and_junit_match_the_whole_renderers() {
        let reports = reports();
        for quiet in [false, true] {
            let options = TextOptions {
                verbose: false,
                quiet,
                width: 80,
            };
            assert_eq!(
                streamed(&reports, Layout::Text(options), false).0,
                text::render_many(&reports, options),
                "quiet: {quiet}"
            );
            // Healthy targets only: --quiet writes nothing at all.
            let healthy = [reports[2].clone(), reports[2].clone()];
            let (calm, _) = streamed(&healthy, Layout::Text(options), false);
            assert_eq!(calm, text::render_many(&healthy, options));
            assert_eq!(calm.is_empty(), quiet);
        }
        for strict in [false, true] {
            let (xml, tally) = streamed(&reports, Layout::Junit, strict);
            assert_eq!(xml, junit::render(&reports, strict));
            assert_eq!(xml.matches("<testsuite ").count(), 3);
            assert_eq!(tally.worst, Status::Fail);
        }
    }

    #[test]
    fn a_closed_pipe_ends_the_output_not_the_run() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let reports = reports();
        let options = StreamOptions {
            fold: false,
            layout: Layout::Json,
            strict: false,
            annotate: false,
            single: false,
        };
        let mut writer = ReportWriter::new(Closed, &options).unwrap();
        for report in &reports {
            let rendered = Rendered {
                body: Body::Element(MultiJson::element(report)),
                annotations: String::new(),
                summary: TargetSummary::of(report),
            };
            writer.target(rendered).unwrap();
        }
        let tally = writer.finish().unwrap();
        assert_eq!((tally.targets, tally.failed, tally.warned), (3, 1, 1));
        assert_eq!(tally.worst, Status::Fail);
    }
}
