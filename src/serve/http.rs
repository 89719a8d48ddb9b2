//! The exporter's HTTP endpoints: `/probe`, `/metrics`, `/-/healthy`, `/-/ready`, the landing
//! page `/` and the kept reports `/report?id=N`.

use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;

use super::modules::{Configure, Module};
use super::state::{Outcome, Rejected, Stats, cut};
use crate::config::{AuthOptions, CredentialSource};
use crate::report::Report;
use crate::report::prometheus::{self, Probe};
use crate::report::text::{self, TextOptions};

/// The longest query string read; a target URL and a module name fit many times over.
const MAX_QUERY: usize = 4096;
/// The longest token file read for its expiry, as the auth stage reads it.
const MAX_TOKEN: u64 = 64 * 1024;
/// Time to read the token file for its expiry.
const TOKEN_READ: Duration = Duration::from_secs(1);
/// Kept back from a probe's time limit for rendering and writing the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(50);
/// The longest scrape timeout believed; Prometheus' own maximum is far below.
const MAX_SCRAPE_TIMEOUT: f64 = 3600.0;
const PLAIN: &str = "text/plain; charset=utf-8";

#[derive(Debug)]
pub struct State {
    pub modules: Vec<Module>,
    pub configure: Configure,
    pub stats: Stats,
    /// One permit per probe allowed at once.
    pub probes: Semaphore,
    pub timeout_offset: Duration,
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A plain-text error page: one line saying why.
fn refuse(status: StatusCode, reason: &str) -> Answer {
    answer(status, PLAIN, format!("{reason}\n"))
}

pub async fn handle(state: &State, request: Request<Incoming>) -> Answer {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served",
        );
    }
    let query = request.uri().query().unwrap_or_default();
    if query.len() > MAX_QUERY {
        return refuse(
            StatusCode::URI_TOO_LONG,
            &format!("the query is longer than {MAX_QUERY} bytes"),
        );
    }
    match request.uri().path() {
        "/probe" => probe(state, query, request.headers()).await,
        "/metrics" => answer(
            StatusCode::OK,
            prometheus::CONTENT_TYPE,
            state.stats.metrics(),
        ),
        "/-/healthy" | "/-/ready" => answer(StatusCode::OK, PLAIN, "OK\n"),
        "/" => answer(StatusCode::OK, "text/html; charset=utf-8", landing(state)),
        "/report" => {
            let id = param(query, "id").and_then(|id| id.parse::<u64>().ok());
            match id.and_then(|id| state.stats.report(id)) {
                Some(text) => answer(StatusCode::OK, PLAIN, text),
                None => refuse(
                    StatusCode::NOT_FOUND,
                    "no such report: only the last 100 probes are kept",
                ),
            }
        }
        _ => refuse(StatusCode::NOT_FOUND, "not found: see / for what is served"),
    }
}

/// The first value of a query parameter, percent-decoded.
fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The probe's time limit: Prometheus' scrape timeout less the offset, as blackbox_exporter
/// takes it, and never more than the module's deadline. An offset as long as the timeout
/// leaves half the timeout rather than nothing.
fn time_limit(headers: &hyper::HeaderMap, offset: Duration, deadline: Duration) -> Duration {
    let scrape = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(MAX_SCRAPE_TIMEOUT)));
    match scrape {
        Some(scrape) => {
            let less = scrape.saturating_sub(offset);
            let limit = if less.is_zero() { scrape / 2 } else { less };
            limit.min(deadline)
        }
        None => deadline,
    }
}

async fn probe(state: &State, query: &str, headers: &hyper::HeaderMap) -> Answer {
    let started = Instant::now();
    let at = SystemTime::now();
    let Some(target) = param(query, "target").filter(|t| !t.trim().is_empty()) else {
        state.stats.reject(Rejected::BadRequest);
        return refuse(StatusCode::BAD_REQUEST, "the target parameter is missing");
    };
    // The target is the one thing a scraper chooses: never an option (`--proxy=...` would send
    // the module's credentials wherever the scraper likes, past the allow patterns).
    if target.starts_with('-') {
        state.stats.reject(Rejected::BadRequest);
        return refuse(
            StatusCode::BAD_REQUEST,
            "the target must be a URL or host[:port], not an option",
        );
    }
    let chosen = match param(query, "module") {
        Some(name) => state.modules.iter().position(|m| m.name == name),
        None if state.modules.len() == 1 => Some(0),
        None => {
            state.stats.reject(Rejected::BadRequest);
            return refuse(
                StatusCode::BAD_REQUEST,
                "the module parameter is missing; see / for the modules",
            );
        }
    };
    let Some(index) = chosen else {
        state.stats.reject(Rejected::UnknownModule);
        return refuse(
            StatusCode::BAD_REQUEST,
            "unknown module; see / for the modules",
        );
    };
    let module = &state.modules[index];
    let debug = param(query, "debug").is_some_and(|v| v == "true");

    let mut config = match module.config(state.configure, &target) {
        Ok(config) => config,
        Err(message) => {
            state.stats.record(index, Outcome::Refused, None);
            return refuse(StatusCode::BAD_REQUEST, &cut(&message, 300));
        }
    };
    if !module.allows(&config.target) {
        state.stats.record(index, Outcome::Refused, None);
        return refuse(
            StatusCode::FORBIDDEN,
            &format!(
                "module {} does not allow target {}: it probes only its own targets and those \
                 its allow patterns match",
                module.name,
                cut(&super::modules::endpoint(&config.target), 300)
            ),
        );
    }
    let limit = time_limit(headers, state.timeout_offset, config.deadline);
    let ends = started + limit;
    // A turn among --max-concurrent, waited for within the time limit.
    let Ok(Ok(_turn)) = tokio::time::timeout_at(ends.into(), state.probes.acquire()).await else {
        state.stats.reject(Rejected::Busy);
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: every probe slot (--max-concurrent) stayed taken within the time limit",
        );
    };
    let _in_flight = state.stats.in_flight();
    // Within the probe's time limit: the token is a file, and a file can be slow.
    let token_expiry = tokio::time::timeout_at(ends.into(), token_expiry(&config.auth))
        .await
        .ok()
        .flatten();
    let left = ends.saturating_duration_since(Instant::now());
    config.deadline = left
        .saturating_sub(ANSWER_MARGIN)
        .max(Duration::from_millis(1));
    config.timeout = config.timeout.min(config.deadline);
    let outcome = tokio::time::timeout(left, crate::pipeline::run(config)).await;
    let report = outcome.ok().map(|outcome| Report::from_outcome(&outcome));
    let duration = started.elapsed();
    let metrics = prometheus::render(&Probe {
        report: report.as_ref(),
        duration,
        timeout: limit,
        token_expiry,
    });
    let success = prometheus::succeeded(report.as_ref());
    state.stats.record(
        index,
        if success {
            Outcome::Success
        } else {
            Outcome::Failure
        },
        Some(duration),
    );
    let text = debug_text(report.as_ref(), limit, &metrics);
    state.stats.remember(
        &module.name,
        &target,
        at,
        success,
        report.as_ref().and_then(|r| r.verdict.root_cause.clone()),
        duration,
        text.clone(),
    );
    if debug {
        answer(StatusCode::OK, PLAIN, text)
    } else {
        answer(StatusCode::OK, prometheus::CONTENT_TYPE, metrics)
    }
}

/// The text report, then the metrics the probe returned.
fn debug_text(report: Option<&Report>, limit: Duration, metrics: &str) -> String {
    let mut text = match report {
        Some(report) => text::render(
            report,
            TextOptions {
                verbose: true,
                quiet: false,
                width: 100,
            },
        ),
        None => format!(
            "The probe did not finish within its time limit ({}).\n",
            crate::durations::text(limit)
        ),
    };
    text.push_str("\nMetrics returned:\n\n");
    text.push_str(metrics);
    text
}

/// The `exp` claim of the JWT the module authenticates with (its token, or a password that is
/// a JWT), read as the auth stage reads it; `None` for anything else.
async fn token_expiry(auth: &AuthOptions) -> Option<i64> {
    let source = auth.token.as_ref().or(auth.password.as_ref())?;
    let secret = match source {
        CredentialSource::Value(secret) | CredentialSource::Stdin(secret) => secret.clone(),
        CredentialSource::File(path) => {
            let path = path.clone();
            let read = tokio::task::spawn_blocking(move || {
                crate::files::read_capped_by(
                    &path,
                    MAX_TOKEN,
                    crate::files::Deadline::from_now(TOKEN_READ),
                )
            });
            crate::secret::Secret::new(read.await.ok()?.ok()?)
        }
    };
    let text = std::str::from_utf8(secret.expose()).ok()?.trim();
    if !crate::jwt::looks_like_jwt(text) {
        return None;
    }
    crate::jwt::decode(text).ok()?.claims.get("exp")?.as_i64()
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn query_part(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The landing page: the modules, what each may probe, and the last probes.
fn landing(state: &State) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mqtt-doctor exporter</title>\
         </head><body>\n<h1>mqtt-doctor exporter</h1>\n<p><a href=\"/metrics\">Metrics</a> · \
         <code>/probe?module=NAME&amp;target=URL</code> (add <code>&amp;debug=true</code> for \
         the text report)</p>\n<h2>Modules</h2>\n<table border=\"1\"><tr><th>Module</th>\
         <th>Own targets</th><th>Allowed patterns</th><th>Deadline</th></tr>\n",
    );
    for module in &state.modules {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&module.name),
            escape_html(&module.own.join(", ")),
            escape_html(&module.allow.join(", ")),
            crate::durations::text(module.deadline),
        );
    }
    page.push_str(
        "</table>\n<h2>Last probes</h2>\n<table border=\"1\"><tr><th>When (UTC)</th>\
         <th>Module</th><th>Target</th><th>Result</th><th>Root cause</th><th>Duration</th>\
         <th>Report</th></tr>\n",
    );
    for probe in state.stats.recent() {
        let again = format!(
            "/probe?module={}&amp;target={}&amp;debug=true",
            query_part(&probe.module),
            query_part(&probe.target)
        );
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3} s</td>\
             <td><a href=\"/report?id={}\">report</a> · <a href=\"{again}\">probe again</a>\
             </td></tr>",
            humantime::format_rfc3339_seconds(probe.at),
            escape_html(&probe.module),
            escape_html(&probe.target),
            if probe.success { "success" } else { "failure" },
            escape_html(probe.root_cause.as_deref().unwrap_or("")),
            probe.duration.as_secs_f64(),
            probe.id,
        );
    }
    page.push_str("</table>\n</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_limit_follows_the_scrape_timeout_less_the_offset() {
        let mut headers = hyper::HeaderMap::new();
        let half = Duration::from_millis(500);
        let thirty = Duration::from_secs(30);
        assert_eq!(time_limit(&headers, half, thirty), thirty);
        headers.insert(
            "X-Prometheus-Scrape-Timeout-Seconds",
            HeaderValue::from_static("3"),
        );
        assert_eq!(
            time_limit(&headers, half, thirty),
            Duration::from_millis(2500)
        );
        assert_eq!(
            time_limit(&headers, half, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        headers.insert(
            "X-Prometheus-Scrape-Timeout-Seconds",
            HeaderValue::from_static("0.4"),
        );
        assert_eq!(
            time_limit(&headers, half, thirty),
            Duration::from_millis(200)
        );
        for bad in ["-1", "NaN", "inf", "x"] {
            headers.insert(
                "X-Prometheus-Scrape-Timeout-Seconds",
                HeaderValue::from_static(bad),
            );
            assert_eq!(time_limit(&headers, half, thirty), thirty, "{bad}");
        }
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
