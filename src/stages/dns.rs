//! DNS stage: turn the target's name into addresses, and say exactly how that went.
//!
//! A resolver library answers "here are addresses" or "error"; a doctor must say *which* name
//! answered and *why* the others did not. So the search list is expanded here, glibc-style, and
//! every candidate is queried as a fully qualified name, A and AAAA separately, each with its own
//! timing (hickory's own search returns only the last candidate's error, and its timeouts add up
//! across candidates). The operating system's resolver (getaddrinfo, which also reads the hosts
//! file) is asked at the same time, because it is what most clients use; when the two disagree
//! the report says so and the TCP stage uses what the clients would use.
//!
//! All hickory types stay inside this module: its API moves between releases.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RecordType};
use serde_json::{Value, json};

use crate::config::DoctorConfig;
use crate::files;
use crate::findings::registry::{
    DNS_FQDN_FAILS_SHORT_WORKS, DNS_NO_RECORDS, DNS_NO_RESOLVER, DNS_NXDOMAIN, DNS_RESOLVED,
    DNS_SEARCH_LIST_ONLY, DNS_SERVFAIL, DNS_SYSTEM_RESOLVER_DIFFERS, DNS_TIMEOUT,
};
use crate::findings::{Finding, Status, millis};
use crate::limits::LocalFailure;
use crate::proxy::{Proxy, ProxyKind};
use crate::stages::context::{Budget, Context, StageOutput};
use crate::target::Host;

const RESOLV_CONF: &str = "/etc/resolv.conf";
const HOSTS: &str = "/etc/hosts";

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
    let config = ctx.config;
    if let Some(proxy) = config.proxy.proxy() {
        return through_proxy(ctx, proxy).await;
    }
    let port = config.target.port;
    let name = match &config.target.host {
        Host::Ip(ip) => {
            ctx.addresses = vec![SocketAddr::new(*ip, port)];
            return StageOutput::not_applicable(format!(
                "{ip} is an IP address: nothing to resolve"
            ));
        }
        Host::Name(name) => name.clone(),
    };

    let (output, addresses) = lookup(ctx, &name).await;
    ctx.addresses = addresses
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    output
}

/// Behind a proxy the connection goes to the proxy, so its name is the one resolved here. The
/// broker's name is resolved here too for a SOCKS5 proxy that takes addresses; an HTTP or
/// `socks5h` proxy resolves it itself, with its own DNS, and this stage says so rather than
/// report answers that would not be used.
async fn through_proxy(ctx: &mut Context<'_>, proxy: &Proxy) -> StageOutput {
    let config = ctx.config;
    let mut findings = Vec::new();
    let mut summaries = Vec::new();
    let proxy_ips = match &proxy.host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(name) => {
            let (output, ips) = lookup(ctx, name).await;
            if output.local_failure.is_some() {
                return output;
            }
            summaries.push(format!("proxy {}", output.summary));
            findings.extend(output.findings);
            ips
        }
    };
    ctx.addresses = proxy_ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, proxy.port))
        .collect();
    let port = config.target.port;
    let broker = config.target.host.to_string();
    match &config.target.host {
        Host::Name(_) if proxy.kind.resolves_names() => {
            let why = format!(
                "{broker} is resolved by the {} proxy {}, with its own DNS",
                proxy.kind.scheme(),
                proxy.authority()
            );
            if summaries.is_empty() {
                return StageOutput::not_applicable(format!("skipped: {why}"));
            }
            summaries.push(why);
        }
        Host::Ip(ip) => {
            if proxy.kind == ProxyKind::Socks5 {
                ctx.broker_addresses = vec![SocketAddr::new(*ip, port)];
            }
        }
        Host::Name(name) => {
            let (output, ips) = lookup(ctx, name).await;
            if output.local_failure.is_some() {
                return output;
            }
            summaries.push(output.summary);
            findings.extend(output.findings);
            ctx.broker_addresses = ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
        }
    }
    if summaries.is_empty() {
        return StageOutput::not_applicable(format!(
            "{} and {broker} are IP addresses: nothing to resolve",
            proxy.host
        ));
    }
    StageOutput::done(summaries.join("; "), findings)
}

/// Resolves `name`: a loopback name without DNS, any other through it.
async fn lookup(ctx: &Context<'_>, name: &str) -> (StageOutput, Vec<IpAddr>) {
    if is_localhost(name) {
        localhost(ctx.config, name, ctx.budget()).await
    } else {
        resolve(ctx, name).await
    }
}

/// RFC 6761: `localhost` and names below it are loopback and never sent to DNS.
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name == "localhost" || name.ends_with(".localhost")
}

async fn localhost(
    config: &DoctorConfig,
    name: &str,
    budget: Budget,
) -> (StageOutput, Vec<IpAddr>) {
    // Without a hosts file (a scratch image, a bare chroot) getaddrinfo has nothing to read for
    // localhost and would only wait for a name server that owes no answer.
    let system = if config.reads_host_files() && config.host_path(HOSTS).is_file() {
        Some(system_lookup(name, config.target.port, budget).await)
    } else {
        None
    };
    let (addresses, source, elapsed) = match system {
        Some(SystemAnswer::Addresses(addrs, elapsed)) => {
            (addrs, "system resolver (hosts file)", elapsed)
        }
        _ => (
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            "loopback by definition (RFC 6761)",
            Duration::ZERO,
        ),
    };
    let list = join_ips(&addresses);
    let finding = Finding::new(
        &DNS_RESOLVED,
        format!("{name} is a loopback name; it resolved to {list} without asking DNS."),
    )
    .with_evidence("name", name)
    .with_evidence("addresses", ips_json(&addresses))
    .with_evidence("source", source)
    .with_evidence("elapsed_ms", millis(elapsed));
    (
        StageOutput::done(format!("{name} → {list} ({source})"), vec![finding]),
        addresses,
    )
}

/// The resolver configuration in force: resolv.conf, with the name servers replaced by
/// `--dns-server` when given.
#[derive(Debug)]
struct Settings {
    path: String,
    nameservers: Vec<SocketAddr>,
    from_flag: bool,
    search: Vec<String>,
    ndots: usize,
    /// Why resolv.conf could not be used, when it could not.
    problem: Option<String>,
}

impl Settings {
    fn load(config: &DoctorConfig) -> Settings {
        let path = config.host_path(RESOLV_CONF);
        let mut settings = Settings {
            path: path.display().to_string(),
            nameservers: Vec::new(),
            from_flag: config.dns_server.is_some(),
            search: Vec::new(),
            ndots: 1,
            problem: None,
        };
        match files::read_capped(&path, files::MAX_SYSTEM_FILE) {
            Ok(bytes) => {
                // Lines glibc would ignore are ignored here too; the rest is what clients use.
                let (conf, _ignored) = resolv_conf::Config::parse_with_errors(&bytes);
                settings.nameservers = conf
                    .nameservers
                    .iter()
                    .map(|ip| SocketAddr::new(IpAddr::from(ip), 53))
                    .collect();
                settings.search = conf
                    .get_last_search_or_domain()
                    .filter(|d| d.as_str() != "--")
                    .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                    .filter(|d| !d.is_empty())
                    .collect();
                settings.ndots = conf.ndots as usize;
            }
            Err(files::ReadError::Io(e))
                if e.kind() == std::io::ErrorKind::PermissionDenied
                    && !config.reads_host_files() =>
            {
                settings.problem = Some(format!(
                    "cannot read {}: {e}. Files below --root / MQTT_DOCTOR_ROOT must be readable \
                     by this user: a debug container reading /proc/1/root must run as the target \
                     container's user or as root",
                    settings.path
                ))
            }
            Err(e) => {
                settings.problem = Some(format!("cannot read {}: {}", settings.path, e.describe()))
            }
        }
        if let Some(server) = config.dns_server {
            settings.nameservers = vec![server];
        }
        settings
    }

    fn evidence(&self, finding: Finding) -> Finding {
        let servers: Vec<String> = self.nameservers.iter().map(|s| server_text(*s)).collect();
        finding
            .with_evidence("resolv_conf", self.path.as_str())
            .with_evidence(
                "nameservers",
                if self.from_flag {
                    json!({ "from": "--dns-server", "servers": servers })
                } else {
                    json!(servers)
                },
            )
            .with_evidence("search", json!(self.search))
            .with_evidence("ndots", self.ndots)
    }

    fn servers_text(&self) -> String {
        self.nameservers
            .iter()
            .map(|s| server_text(*s))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn server_text(server: SocketAddr) -> String {
    if server.port() == 53 {
        server.ip().to_string()
    } else {
        server.to_string()
    }
}

/// A name to query, fully qualified, and the search domain that produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Candidate {
    fqdn: String,
    via_search: Option<String>,
}

impl Candidate {
    fn display(&self) -> &str {
        self.fqdn.trim_end_matches('.')
    }
}

/// The names a glibc client tries, in its order: a name with a trailing dot is final; one with
/// at least `ndots` dots is tried as-is first, then with each search domain; one with fewer
/// dots goes through the search list first. (musl skips the search list for the first kind.)
fn candidates(name: &str, search: &[String], ndots: usize) -> Vec<Candidate> {
    if name.ends_with('.') {
        return vec![Candidate {
            fqdn: name.to_string(),
            via_search: None,
        }];
    }
    let as_is = Candidate {
        fqdn: format!("{name}."),
        via_search: None,
    };
    let searched = search.iter().filter_map(|domain| {
        let fqdn = format!("{name}.{domain}.");
        (fqdn.len() <= 254).then(|| Candidate {
            fqdn,
            via_search: Some(domain.clone()),
        })
    });
    let mut list: Vec<Candidate> = Vec::new();
    if name.matches('.').count() >= ndots {
        list.push(as_is);
        list.extend(searched);
    } else {
        list.extend(searched);
        list.push(as_is);
    }
    list.dedup();
    list
}

/// The result of one query (one name, one record type).
#[derive(Clone, Debug)]
enum Answer {
    Addresses(Vec<IpAddr>),
    NxDomain,
    /// The name exists, with no record of this type (NOERROR, empty answer).
    NoData,
    /// The server answered with an error code (SERVFAIL, REFUSED, ...).
    ServerError(ResponseCode),
    /// No usable answer: timeout, unreachable server, unparsable reply.
    Unanswered(String),
    /// Not asked: the doctor could not open a socket for the query.
    Local(LocalFailure),
}

impl Answer {
    fn text(&self) -> String {
        match self {
            Answer::Addresses(ips) => join_ips(ips),
            Answer::NxDomain => "NXDOMAIN".into(),
            Answer::NoData => "no records (NODATA)".into(),
            Answer::ServerError(code) => rcode_text(*code),
            Answer::Unanswered(why) => format!("no answer ({why})"),
            Answer::Local(failure) => format!("not asked: {failure}"),
        }
    }
}

/// The mnemonic DNS tools print (dig's `status:`), so the evidence matches what users search for.
fn rcode_text(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        other => format!("{} ({})", other.to_str().to_uppercase(), u16::from(other)),
    }
}

#[derive(Clone, Debug)]
struct Query {
    answer: Answer,
    elapsed: Duration,
}

#[derive(Clone, Debug)]
struct CandidateResult {
    candidate: Candidate,
    a: Query,
    aaaa: Query,
}

/// What a candidate amounts to, failures ordered from "we cannot trust the answer" down to
/// "the name does not exist".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    NoAnswer,
    ServerError,
    NoData,
    NxDomain,
    Resolved,
}

impl CandidateResult {
    fn addresses(&self) -> Vec<IpAddr> {
        [&self.a, &self.aaaa]
            .into_iter()
            .filter_map(|q| match &q.answer {
                Answer::Addresses(ips) => Some(ips.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn class(&self) -> Class {
        let answers = [&self.a.answer, &self.aaaa.answer];
        if answers.iter().any(|a| matches!(a, Answer::Addresses(_))) {
            Class::Resolved
        } else if answers
            .iter()
            .any(|a| matches!(a, Answer::Unanswered(_) | Answer::Local(_)))
        {
            Class::NoAnswer
        } else if answers.iter().any(|a| matches!(a, Answer::ServerError(_))) {
            Class::ServerError
        } else if answers.iter().any(|a| matches!(a, Answer::NoData)) {
            Class::NoData
        } else {
            Class::NxDomain
        }
    }
}

fn queries_json(results: &[CandidateResult]) -> Value {
    Value::Array(
        results
            .iter()
            .map(|r| {
                json!({
                    "name": r.candidate.fqdn,
                    "a": format!("{} in {} ms", r.a.answer.text(), millis(r.a.elapsed)),
                    "aaaa": format!("{} in {} ms", r.aaaa.answer.text(), millis(r.aaaa.elapsed)),
                })
            })
            .collect(),
    )
}

fn build_resolver(nameservers: &[SocketAddr], budget: Budget) -> Result<TokioResolver, NetError> {
    let servers = nameservers
        .iter()
        .map(|server| {
            let mut config = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut config.connections {
                connection.port = server.port();
            }
            config
        })
        .collect();
    let mut builder = TokioResolver::builder_with_config(
        ResolverConfig::from_parts(None, Vec::new(), servers),
        TokioRuntimeProvider::default(),
    );
    let options = builder.options_mut();
    // One attempt per query: the outer timeout bounds each query, and a retry would hide a
    // flaky server behind a slow success.
    options.timeout = budget.timeout.max(Duration::from_millis(1));
    options.attempts = 1;
    // The hosts file is the system resolver's business; here we want what DNS itself says.
    options.use_hosts_file = ResolveHosts::Never;
    builder.build()
}

async fn query(resolver: TokioResolver, fqdn: String, rtype: RecordType, budget: Budget) -> Query {
    let start = Instant::now();
    let answer = match Name::from_ascii(&fqdn) {
        Err(e) => Answer::Unanswered(format!("the name cannot be encoded: {e}")),
        Ok(name) => match budget.run(resolver.lookup(name, rtype)).await {
            None => Answer::Unanswered(timeout_text(budget)),
            Some(Ok(lookup)) => {
                let ips: Vec<IpAddr> = lookup
                    .answers()
                    .iter()
                    .filter(|record| record.record_type() == rtype)
                    .filter_map(|record| record.data.ip_addr())
                    .collect();
                if ips.is_empty() {
                    Answer::NoData
                } else {
                    Answer::Addresses(ips)
                }
            }
            Some(Err(error)) => classify(&error, budget),
        },
    };
    Query {
        answer,
        elapsed: start.elapsed(),
    }
}

/// Maps hickory's error variants onto what a user can act on.
fn classify(error: &NetError, budget: Budget) -> Answer {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => {
            if no_records.response_code == ResponseCode::NXDomain {
                Answer::NxDomain
            } else {
                Answer::NoData
            }
        }
        NetError::Dns(DnsError::ResponseCode(ResponseCode::NXDomain)) => Answer::NxDomain,
        NetError::Dns(DnsError::ResponseCode(code)) => Answer::ServerError(*code),
        NetError::Timeout => Answer::Unanswered(timeout_text(budget)),
        NetError::NoConnections => Answer::Unanswered("no connection to any name server".into()),
        NetError::Io(io) => match LocalFailure::classify(io) {
            Some(failure) => Answer::Local(failure),
            None => Answer::Unanswered(match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    "the name server port refused the query".into()
                }
                kind => format!("network error: {kind}"),
            }),
        },
        NetError::Proto(proto) => Answer::Unanswered(format!("unreadable reply: {proto}")),
        other => Answer::Unanswered(other.to_string()),
    }
}

fn timeout_text(budget: Budget) -> String {
    format!("nothing within {}", budget.describe())
}

/// Queries every candidate, A and AAAA, all at once; results come back in candidate order.
async fn query_all(
    nameservers: &[SocketAddr],
    candidates: &[Candidate],
    budget: Budget,
) -> Result<Vec<CandidateResult>, NetError> {
    let resolver = build_resolver(nameservers, budget)?;
    let handles: Vec<_> = candidates
        .iter()
        .map(|candidate| {
            let resolver = resolver.clone();
            let candidate = candidate.clone();
            tokio::spawn(async move {
                let (a, aaaa) = tokio::join!(
                    query(
                        resolver.clone(),
                        candidate.fqdn.clone(),
                        RecordType::A,
                        budget
                    ),
                    query(resolver, candidate.fqdn.clone(), RecordType::AAAA, budget),
                );
                CandidateResult { candidate, a, aaaa }
            })
        })
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for (handle, candidate) in handles.into_iter().zip(candidates) {
        results.push(handle.await.unwrap_or_else(|join_error| {
            let failed = Query {
                answer: Answer::Unanswered(format!("query task failed: {join_error}")),
                elapsed: Duration::ZERO,
            };
            CandidateResult {
                candidate: candidate.clone(),
                a: failed.clone(),
                aaaa: failed,
            }
        }));
    }
    Ok(results)
}

/// What getaddrinfo said.
#[derive(Debug)]
enum SystemAnswer {
    Addresses(Vec<IpAddr>, Duration),
    Failed(String),
    /// Not asked: the doctor's own resources ran out (getaddrinfo's `EAI_SYSTEM` carries the
    /// OS error number).
    Local(LocalFailure),
}

async fn system_lookup(name: &str, port: u16, budget: Budget) -> SystemAnswer {
    let start = Instant::now();
    match budget.run(tokio::net::lookup_host((name, port))).await {
        None => SystemAnswer::Failed(timeout_text(budget)),
        // getaddrinfo's errors carry no portable type; the text is shown, never interpreted.
        Some(Err(error)) => match LocalFailure::classify(&error) {
            Some(failure) => SystemAnswer::Local(failure),
            None => SystemAnswer::Failed(error.to_string()),
        },
        Some(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = Vec::new();
            for addr in addrs {
                if !ips.contains(&addr.ip()) {
                    ips.push(addr.ip());
                }
            }
            SystemAnswer::Addresses(ips, start.elapsed())
        }
    }
}

/// The hosts-file lines that name `name`, to quote as evidence.
fn hosts_entries(config: &DoctorConfig, name: &str) -> Vec<String> {
    let name = name.trim_end_matches('.');
    files::read_capped(&config.host_path(HOSTS), files::MAX_SYSTEM_FILE)
        .map(|bytes| {
            let text = String::from_utf8_lossy(&bytes);
            text.lines()
                .map(|line| line.split('#').next().unwrap_or("").trim())
                .filter(|line| {
                    line.split_whitespace()
                        .skip(1)
                        .any(|n| n.eq_ignore_ascii_case(name))
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

async fn resolve(ctx: &Context<'_>, name: &str) -> (StageOutput, Vec<IpAddr>) {
    let config = ctx.config;
    let budget = ctx.budget();
    let settings = Settings::load(config);
    // getaddrinfo reads the real /etc: only comparable when we read it too and ask the same servers.
    let consult_system = config.dns_server.is_none() && config.reads_host_files();
    let candidates = candidates(name, &settings.search, settings.ndots);

    let dns_query = async {
        if settings.nameservers.is_empty() {
            return Err(settings
                .problem
                .clone()
                .unwrap_or_else(|| format!("{} lists no nameserver", settings.path)));
        }
        query_all(&settings.nameservers, &candidates, budget)
            .await
            .map_err(|e| format!("the resolver could not be set up: {e}"))
    };
    let system_query = async {
        if consult_system {
            Some(system_lookup(name, config.target.port, budget).await)
        } else {
            None
        }
    };
    let (dns, system) = tokio::join!(dns_query, system_query);

    // A query the doctor could not even send says nothing about the name.
    let local = dns
        .iter()
        .flatten()
        .flat_map(|r| [&r.a.answer, &r.aaaa.answer])
        .find_map(|a| match a {
            Answer::Local(failure) => Some(*failure),
            _ => None,
        })
        .or(match &system {
            Some(SystemAnswer::Local(failure)) => Some(*failure),
            _ => None,
        });
    if let Some(failure) = local {
        return (
            StageOutput::local_failure(format!("{name}: not checked: {failure}"), failure),
            Vec::new(),
        );
    }

    let results = dns.as_ref().map(Vec::as_slice).unwrap_or(&[]);
    let answered = results.iter().find(|r| r.class() == Class::Resolved);
    // Set when no name server could be asked at all.
    let no_resolver = dns.as_ref().err();
    let class = results.iter().map(CandidateResult::class).min();

    let mut findings = Vec::new();
    let mut addresses = Vec::new();
    let summary;

    if let Some(answer) = answered {
        addresses = answer.addresses();
        findings.push(resolved_finding(
            config,
            &settings,
            name,
            answer,
            results,
            system.as_ref(),
        ));
        if let Some(finding) = search_list_finding(config, &settings, name, answer, results) {
            findings.push(finding);
        }
        summary = format!("{name} → {}", join_ips(&addresses));
    } else {
        summary = format!("{name}: {}", failure_text(no_resolver, class));
    }

    match (&system, answered) {
        (Some(SystemAnswer::Addresses(sys, _)), Some(_)) if !same_set(sys, &addresses) => {
            findings.push(differs_finding(config, name, sys, Ok(&addresses)));
            addresses = sys.clone();
        }
        (Some(SystemAnswer::Failed(why)), Some(_)) => {
            findings.push(
                differs_finding(config, name, &[], Ok(&addresses))
                    .with_status(Status::Fail)
                    .with_evidence("system_error", why.as_str()),
            );
        }
        (Some(SystemAnswer::Addresses(sys, _)), None) => {
            let dns_said = failure_text(no_resolver, class);
            findings.push(differs_finding(config, name, sys, Err(&dns_said)));
            addresses = sys.clone();
        }
        (_, None) => {
            let finding = match no_resolver {
                Some(why) => no_resolver_finding(&settings, name, why),
                _ => {
                    let class = class.unwrap_or(Class::NxDomain);
                    let short = match class {
                        Class::NxDomain | Class::NoData => {
                            shorter_name(ctx, &settings, name, class, results).await
                        }
                        _ => None,
                    };
                    short.unwrap_or_else(|| failure_finding(&settings, name, class, results))
                }
            };
            findings.push(finding);
        }
        _ => {}
    }
    (StageOutput::done(summary, findings), addresses)
}

fn failure_text(no_resolver: Option<&String>, class: Option<Class>) -> String {
    match no_resolver {
        Some(why) => why.clone(),
        None => class_text(class.unwrap_or(Class::NxDomain)).to_string(),
    }
}

fn class_text(class: Class) -> &'static str {
    match class {
        Class::NoAnswer => "no answer from the name server",
        Class::ServerError => "the name server returned an error",
        Class::NoData => "the name exists but has no A or AAAA record",
        Class::NxDomain => "NXDOMAIN (no such name)",
        Class::Resolved => "resolved",
    }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.iter().all(|ip| b.contains(ip)) && b.iter().all(|ip| a.contains(ip))
}

fn join_ips(ips: &[IpAddr]) -> String {
    if ips.is_empty() {
        return "nothing".into();
    }
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn ips_json(ips: &[IpAddr]) -> Value {
    json!(ips.iter().map(IpAddr::to_string).collect::<Vec<_>>())
}

fn show_resolver_config(config: &DoctorConfig, answer: &CandidateResult) -> bool {
    config.in_kubernetes || answer.candidate.via_search.is_some()
}

fn resolved_finding(
    config: &DoctorConfig,
    settings: &Settings,
    name: &str,
    answer: &CandidateResult,
    results: &[CandidateResult],
    system: Option<&SystemAnswer>,
) -> Finding {
    let addresses = answer.addresses();
    let shown = answer.candidate.display();
    let as_text = if shown == name.trim_end_matches('.') {
        String::new()
    } else {
        format!(" as {shown}")
    };
    let mut finding = Finding::new(
        &DNS_RESOLVED,
        format!(
            "{name} resolved{as_text} to {} (A in {} ms, AAAA in {} ms).",
            join_ips(&addresses),
            millis(answer.a.elapsed),
            millis(answer.aaaa.elapsed)
        ),
    )
    .with_evidence("name", name)
    .with_evidence("answered_as", answer.candidate.fqdn.as_str())
    .with_evidence("a", answer_json(&answer.a))
    .with_evidence("aaaa", answer_json(&answer.aaaa))
    .with_evidence("a_ms", millis(answer.a.elapsed))
    .with_evidence("aaaa_ms", millis(answer.aaaa.elapsed));
    if show_resolver_config(config, answer) {
        finding = settings.evidence(finding);
    }
    if results.len() > 1 {
        finding = finding.with_evidence("queries", queries_json(results));
    }
    if let Some(SystemAnswer::Addresses(ips, elapsed)) = system {
        finding = finding.with_evidence(
            "system_resolver",
            json!({ "addresses": ips_json(ips), "elapsed_ms": millis(*elapsed) }),
        );
    }
    finding
}

fn answer_json(query: &Query) -> Value {
    match &query.answer {
        Answer::Addresses(ips) => ips_json(ips),
        other => json!(other.text()),
    }
}

fn search_list_finding(
    config: &DoctorConfig,
    settings: &Settings,
    name: &str,
    answer: &CandidateResult,
    results: &[CandidateResult],
) -> Option<Finding> {
    let domain = answer.candidate.via_search.as_deref()?;
    let as_is = results.iter().find(|r| r.candidate.via_search.is_none())?;
    if as_is.class() == Class::Resolved {
        return None;
    }
    let full = answer.candidate.display();
    let mut fix = format!("Configure clients that run elsewhere with the full name:\n  {full}\n");
    if config.in_kubernetes {
        fix.push_str(
            "Inside the cluster, <service>.<namespace> works from every namespace; a bare service \
             name only works from the service's own namespace.\n",
        );
    }
    Some(
        settings.evidence(
            Finding::new(
                &DNS_SEARCH_LIST_ONLY,
                format!(
                    "{name} exists only as {full}: the name as given is {}, and it resolves only \
                     because the search list here contains {domain}. Clients with other DNS \
                     settings (another namespace, a laptop, a device) will not find it.",
                    class_text(as_is.class())
                ),
            )
            .with_evidence("name", name)
            .with_evidence("answered_as", answer.candidate.fqdn.as_str())
            .with_evidence("search_domain", domain)
            .with_fix(fix),
        ),
    )
}

/// Tries shorter forms of a name that failed, through the search list: a Kubernetes service
/// name without its cluster domain (`svc.ns.svc.cluster.local` → `svc.ns`), and the first
/// label. A hit means the configured name is wrong *here* (a different cluster domain, a stale
/// cache) while the service itself exists.
async fn shorter_name(
    ctx: &Context<'_>,
    settings: &Settings,
    name: &str,
    class: Class,
    results: &[CandidateResult],
) -> Option<Finding> {
    if settings.search.is_empty() {
        return None;
    }
    let bare = name.trim_end_matches('.');
    let labels: Vec<&str> = bare.split('.').collect();
    let mut shorter: Vec<String> = Vec::new();
    if let Some(svc) = labels.iter().position(|l| *l == "svc").filter(|&i| i > 0) {
        shorter.push(labels[..svc].join("."));
    }
    if labels.len() > 1 {
        shorter.push(labels[0].to_string());
    }
    shorter.dedup();

    let tried: Vec<&str> = results.iter().map(|r| r.candidate.fqdn.as_str()).collect();
    for short in shorter {
        let fresh: Vec<Candidate> = candidates(&short, &settings.search, settings.ndots)
            .into_iter()
            .filter(|c| c.via_search.is_some() && !tried.contains(&c.fqdn.as_str()))
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let short_results = query_all(&settings.nameservers, &fresh, ctx.budget())
            .await
            .ok()?;
        let Some(hit) = short_results.iter().find(|r| r.class() == Class::Resolved) else {
            continue;
        };
        let answered = hit.candidate.display();
        let mut detail = format!(
            "{bare} does not resolve here ({}), but the shorter {short} does, as {answered} ({}).",
            class_text(class),
            join_ips(&hit.addresses())
        );
        let assumed_domain = labels
            .iter()
            .position(|l| *l == "svc")
            .map(|i| labels[i + 1..].join("."));
        let actual_domain = answered.split_once(".svc.").map(|(_, d)| d.to_string());
        if let (Some(assumed), Some(actual)) = (&assumed_domain, &actual_domain)
            && !assumed.is_empty()
            && assumed != actual
        {
            let _ = write!(
                detail,
                " The cluster's DNS domain looks like {actual}, not {assumed}."
            );
        }
        detail.push_str(
            " A client configured with the full name fails here while the service itself exists.",
        );
        let fix = format!(
            "Point the client at a name that resolves from where it runs:\n  \
             {short}    (through the search list)\n  {answered}    (fully qualified)\n\
             If the full name used to work, a DNS cache in the pod or node is stale: restart the \
             workload so it resolves afresh:\n  kubectl rollout restart deployment/<name> -n <namespace>\n\
             and look at the cluster DNS:\n  kubectl -n kube-system logs -l k8s-app=kube-dns --tail=50"
        );
        let mut all = results.to_vec();
        all.extend(short_results.iter().cloned());
        return Some(
            settings.evidence(
                Finding::new(&DNS_FQDN_FAILS_SHORT_WORKS, detail)
                    .with_evidence("name", bare)
                    .with_evidence("name_result", class_text(class))
                    .with_evidence("short_name", short.as_str())
                    .with_evidence("answered_as", hit.candidate.fqdn.as_str())
                    .with_evidence("addresses", ips_json(&hit.addresses()))
                    .with_evidence("queries", queries_json(&all))
                    .with_fix(fix),
            ),
        );
    }
    None
}

fn failure_finding(
    settings: &Settings,
    name: &str,
    class: Class,
    results: &[CandidateResult],
) -> Finding {
    let servers = settings.servers_text();
    let tried = results.len();
    let names = if tried == 1 {
        "the name".to_string()
    } else {
        format!("all {tried} candidate names from the search list")
    };
    let finding = match class {
        Class::NxDomain => Finding::new(
            &DNS_NXDOMAIN,
            format!(
                "{name} does not exist: {servers} answered NXDOMAIN for {names}. No client can \
                 connect by this name until it is spelled right or the record is created."
            ),
        )
        .with_fix(format!(
            "Check the spelling of {name} and which zone it belongs to:\n  dig {name}\n\
             For a Kubernetes service the full form is <service>.<namespace>.svc.<cluster-domain>:\n  \
             kubectl get svc -A | grep {first}\n\
             If the name exists only on some machines, a hosts-file entry is doing the work there.",
            first = name.split('.').next().unwrap_or(name)
        )),
        Class::NoData => Finding::new(
            &DNS_NO_RECORDS,
            format!(
                "{name} exists, but {servers} returned no A or AAAA record for {names}: there is \
                 no address to connect to."
            ),
        )
        .with_fix(format!(
            "See what records the name has:\n  dig {name} ANY\n\
             A record of another type (only TXT/SRV, or a CNAME to a name without addresses) \
             needs an A or AAAA record next to it.\n\
             For a headless Kubernetes Service, addresses exist only while pods are ready:\n  \
             kubectl get endpointslices -A | grep {first}",
            first = name.split('.').next().unwrap_or(name)
        )),
        Class::ServerError => {
            let code = results
                .iter()
                .flat_map(|r| [&r.a.answer, &r.aaaa.answer])
                .find_map(|a| match a {
                    Answer::ServerError(code) => Some(rcode_text(*code)),
                    _ => None,
                })
                .unwrap_or_else(|| "SERVFAIL".into());
            Finding::new(
                &DNS_SERVFAIL,
                format!(
                    "{servers} answered {code} for {name}: the name server could not or would \
                     not resolve it (its upstream failed, DNSSEC validation failed, or it refuses \
                     to recurse for this client). The name may well exist."
                ),
            )
            .with_evidence("rcode", code)
            .with_fix(format!(
                "Ask another server to tell a server fault from a missing name:\n  dig @1.1.1.1 {name}\n\
                 Look at the name server's log and its forwarders; in Kubernetes:\n  \
                 kubectl -n kube-system logs -l k8s-app=kube-dns --tail=50"
            ))
        }
        Class::NoAnswer | Class::Resolved => {
            let why = results
                .iter()
                .flat_map(|r| [&r.a.answer, &r.aaaa.answer])
                .find_map(|a| match a {
                    Answer::Unanswered(why) => Some(why.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "no reply".into());
            Finding::new(
                &DNS_TIMEOUT,
                format!(
                    "{servers} did not answer for {name}: {why}. Without an answer nothing can \
                     connect by name, whether or not the name exists."
                ),
            )
            .with_evidence("reason", why)
            .with_fix(format!(
                "Check that the name server answers at all:\n  dig @{first_server} {name}\n\
                 A firewall or NetworkPolicy may block UDP and TCP port 53; in a pod, allow egress \
                 to kube-dns and check CoreDNS runs:\n  kubectl -n kube-system get pods -l k8s-app=kube-dns",
                first_server = settings.nameservers.first().map(|s| s.ip().to_string()).unwrap_or_default()
            ))
        }
    };
    settings.evidence(
        finding
            .with_evidence("name", name)
            .with_evidence("queries", queries_json(results)),
    )
}

fn no_resolver_finding(settings: &Settings, name: &str, why: &str) -> Finding {
    settings.evidence(
        Finding::new(
            &DNS_NO_RESOLVER,
            format!(
                "No name server to ask for {name}: {why}. (glibc then falls back to 127.0.0.1, \
                 where usually nothing answers.)"
            ),
        )
        .with_evidence("name", name)
        .with_evidence("reason", why)
        .with_fix(
            "Add the name server to /etc/resolv.conf:\n  nameserver <ip>\n\
             In a pod with dnsPolicy: None, give spec.dnsConfig.nameservers. Or test against a \
             given server:\n  mqtt-doctor doctor <target> --dns-server <ip>",
        ),
    )
}

fn differs_finding(
    config: &DoctorConfig,
    name: &str,
    system: &[IpAddr],
    dns: Result<&[IpAddr], &String>,
) -> Finding {
    let hosts = hosts_entries(config, name);
    let dns_text = match dns {
        Ok(ips) => join_ips(ips),
        Err(why) => why.clone(),
    };
    let detail = if system.is_empty() {
        format!(
            "DNS resolves {name} to {dns_text}, but the system resolver (getaddrinfo) fails for \
             it. Programs on this machine that resolve through the system (mosquitto_pub, paho \
             and most clients) cannot connect by this name."
        )
    } else if dns.is_ok() {
        format!(
            "The system resolver gives {} for {name}, DNS gives {dns_text}. Programs on this \
             machine connect to the first; devices and pods that ask DNS get the second. The \
             doctor goes on with the system's answer.",
            join_ips(system)
        )
    } else {
        format!(
            "Only the system resolver knows {name} ({}); DNS says: {dns_text}. A hosts-file \
             entry or another NSS source stands in for DNS here, and clients elsewhere will not \
             resolve the name. The doctor goes on with the system's answer.",
            join_ips(system)
        )
    };
    let mut finding = Finding::new(&DNS_SYSTEM_RESOLVER_DIFFERS, detail)
        .with_evidence("name", name)
        .with_evidence("system_resolver", ips_json(system))
        .with_evidence(
            "dns",
            match dns {
                Ok(ips) => ips_json(ips),
                Err(why) => json!(why),
            },
        );
    if !hosts.is_empty() {
        finding = finding.with_evidence("hosts_file", json!(hosts));
    }
    let fix = if hosts.is_empty() {
        format!(
            "See which source answers, in the order /etc/nsswitch.conf gives:\n  getent ahosts {name}\n  \
             grep hosts: /etc/nsswitch.conf\nthen make DNS and that source agree."
        )
    } else {
        format!(
            "/etc/hosts has an entry for {name}:\n  {}\nRemove it if it is stale, or make DNS \
             agree with it.",
            hosts.join("\n  ")
        )
    };
    finding.with_fix(fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[Candidate]) -> Vec<&str> {
        list.iter().map(|c| c.fqdn.as_str()).collect()
    }

    #[test]
    fn search_order_follows_glibc() {
        let search = vec![
            "ns.svc.cluster.local".to_string(),
            "svc.cluster.local".to_string(),
        ];
        assert_eq!(
            names(&candidates("aio-broker", &search, 5)),
            [
                "aio-broker.ns.svc.cluster.local.",
                "aio-broker.svc.cluster.local.",
                "aio-broker."
            ]
        );
        assert_eq!(
            names(&candidates("broker.example.com", &search, 1)),
            [
                "broker.example.com.",
                "broker.example.com.ns.svc.cluster.local.",
                "broker.example.com.svc.cluster.local."
            ]
        );
        assert_eq!(
            names(&candidates("broker.example.com.", &search, 5)),
            ["broker.example.com."]
        );
        assert_eq!(names(&candidates("broker", &[], 1)), ["broker."]);
    }

    #[test]
    fn candidates_beyond_the_name_length_limit_are_dropped() {
        let long = "a".repeat(63);
        let name = [long.as_str(); 3].join(".");
        let search = vec![long.clone()];
        assert_eq!(
            names(&candidates(&name, &search, 1)),
            [format!("{name}.").as_str()]
        );
    }

    #[test]
    fn class_prefers_the_least_certain_failure() {
        let q = |answer| Query {
            answer,
            elapsed: Duration::ZERO,
        };
        let result = |a, aaaa| CandidateResult {
            candidate: Candidate {
                fqdn: "x.".into(),
                via_search: None,
            },
            a: q(a),
            aaaa: q(aaaa),
        };
        assert_eq!(
            result(Answer::NxDomain, Answer::NxDomain).class(),
            Class::NxDomain
        );
        assert_eq!(
            result(Answer::NoData, Answer::NxDomain).class(),
            Class::NoData
        );
        assert_eq!(
            result(Answer::ServerError(ResponseCode::ServFail), Answer::NoData).class(),
            Class::ServerError
        );
        assert_eq!(
            result(Answer::Unanswered("t".into()), Answer::NoData).class(),
            Class::NoAnswer
        );
        assert_eq!(
            result(
                Answer::Unanswered("t".into()),
                Answer::Addresses(vec![Ipv6Addr::LOCALHOST.into()])
            )
            .class(),
            Class::Resolved
        );
    }

    #[test]
    fn localhost_names() {
        assert!(is_localhost("localhost"));
        assert!(is_localhost("localhost."));
        assert!(is_localhost("broker.localhost"));
        assert!(!is_localhost("localhost.example.com"));
    }
}
