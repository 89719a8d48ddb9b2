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
//! This file observes: it reads resolv.conf and the hosts file, asks DNS and getaddrinfo, makes
//! the shorter-name follow-up lookup after a failure, and returns what came back as typed values
//! ([`Observed`], [`Lookup`], [`Answer`], [`SystemAnswer`]). `explain.rs` turns those into the
//! findings, the summary and the addresses to connect to, without further I/O.
//!
//! All hickory types stay inside this module: its API moves between releases.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::ProtoError;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RecordType};
use tokio::task::JoinError;

use crate::config::DoctorConfig;
use crate::files;
use crate::findings::millis;
use crate::limits::LocalFailure;
use crate::proxy::Proxy;
use crate::stages::context::{Budget, Context, StageOutput};
use crate::target::Host;

mod explain;

const RESOLV_CONF: &str = "/etc/resolv.conf";
const HOSTS: &str = "/etc/hosts";

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
    let observed = observe(ctx).await;
    ctx.observed.dns_ms = observed.resolve_time().map(millis);
    let explained = explain::stage(ctx.config, &observed);
    if let Some(addresses) = explained.addresses {
        ctx.addresses = addresses;
    }
    if let Some(addresses) = explained.broker_addresses {
        ctx.broker_addresses = addresses;
    }
    explained.output
}

/// What the stage observed for the target, and for the proxy in front of it.
#[derive(Debug)]
enum Observed<'a> {
    /// No proxy: the target's host.
    Direct(Addressed),
    Proxied {
        proxy: &'a Proxy,
        proxy_host: Addressed,
        /// `None` when the broker's name is not resolved here: the proxy resolves it with its
        /// own DNS, or the proxy's own name could not be checked.
        broker: Option<Addressed>,
    },
}

impl Observed<'_> {
    /// What resolving the name the connection goes to cost: what a client pays before its
    /// first packet. `None` for an IP address, or a name that did not resolve.
    fn resolve_time(&self) -> Option<Duration> {
        let host = match self {
            Observed::Direct(host) => host,
            Observed::Proxied { proxy_host, .. } => proxy_host,
        };
        let Addressed::Name(lookup) = host else {
            return None;
        };
        let system = |answer: &Option<SystemAnswer>| match answer {
            Some(SystemAnswer::Addresses(_, elapsed)) => Some(*elapsed),
            _ => None,
        };
        match lookup {
            Lookup::Loopback { system: answer, .. } => system(answer),
            Lookup::NotChecked { .. } => None,
            // A and AAAA go out together: the slower of the two is what the answer cost.
            Lookup::Asked(asked) => system(&asked.system).or_else(|| {
                let results = asked.dns.as_ref().ok()?;
                let first = answered(results)?;
                Some(first.a.elapsed.max(first.aaaa.elapsed))
            }),
        }
    }
}

/// A host as given: an IP address, or a name and what looking it up showed.
#[derive(Debug)]
enum Addressed {
    Ip(IpAddr),
    Name(Lookup),
}

/// What looking up one name showed.
#[derive(Debug)]
enum Lookup {
    /// A loopback name, never sent to DNS: what getaddrinfo read from the hosts file, when there
    /// is a hosts file to read; with `--root`, the addresses the hosts file below it gives the
    /// name (getaddrinfo would read this machine's).
    Loopback {
        name: String,
        system: Option<SystemAnswer>,
        hosts: Option<Vec<IpAddr>>,
    },
    /// A query could not be sent for want of the doctor's own resources: nothing is known about
    /// the name.
    NotChecked { name: String, failure: LocalFailure },
    /// Asked of DNS, and of the system resolver where the two are comparable.
    Asked(Box<Asked>),
}

impl Lookup {
    fn not_checked(&self) -> bool {
        matches!(self, Lookup::NotChecked { .. })
    }
}

/// A name asked of DNS, candidate by candidate, and of getaddrinfo.
#[derive(Debug)]
struct Asked {
    name: String,
    settings: Settings,
    /// Every candidate's answers, in candidate order; or why no name server could be asked.
    dns: Result<Vec<CandidateResult>, NoResolver>,
    /// `None` where getaddrinfo's answer would not be comparable (see [`resolve`]).
    system: Option<SystemAnswer>,
    /// The hosts-file lines that name the name, read only where getaddrinfo and DNS disagree
    /// (see [`explain::disagree`]): the report quotes them then.
    hosts: Option<Vec<String>>,
    /// The follow-up lookup of a shorter form of a name that failed (see [`shorter_name`]): the
    /// first that resolved.
    shorter: Option<ShorterName>,
}

/// Why no name server could be asked at all.
#[derive(Debug)]
enum NoResolver {
    /// None configured; [`Settings::problem`] says why when resolv.conf could not be read.
    NoNameserver,
    /// hickory could not build a resolver for the servers.
    Setup(NetError),
}

/// A shorter form of a failed name that resolved through the search list.
#[derive(Debug)]
struct ShorterName {
    /// The shorter name, as tried through the search list.
    short: String,
    /// Its fresh candidates' answers, in candidate order; one of them resolved.
    results: Vec<CandidateResult>,
}

async fn observe<'a>(ctx: &Context<'a>) -> Observed<'a> {
    let config = ctx.config;
    if let Some(proxy) = config.proxy.proxy() {
        return through_proxy(ctx, proxy).await;
    }
    Observed::Direct(addressed(ctx, &config.target.host).await)
}

async fn addressed(ctx: &Context<'_>, host: &Host) -> Addressed {
    match host {
        Host::Ip(ip) => Addressed::Ip(*ip),
        Host::Name(name) => Addressed::Name(lookup(ctx, name).await),
    }
}

/// Behind a proxy the connection goes to the proxy, so its name is the one resolved here. The
/// broker's name is resolved here too for a SOCKS5 proxy that takes addresses; an HTTP or
/// `socks5h` proxy resolves it itself, with its own DNS, and this stage says so rather than
/// report answers that would not be used.
async fn through_proxy<'a>(ctx: &Context<'a>, proxy: &'a Proxy) -> Observed<'a> {
    let proxy_host = addressed(ctx, &proxy.host).await;
    let broker = match (&proxy_host, &ctx.config.target.host) {
        // The stage stops at a proxy name it could not check.
        (Addressed::Name(lookup), _) if lookup.not_checked() => None,
        (_, Host::Name(_)) if proxy.kind.resolves_names() => None,
        (_, host) => Some(addressed(ctx, host).await),
    };
    Observed::Proxied {
        proxy,
        proxy_host,
        broker,
    }
}

/// Resolves `name`: a loopback name without DNS, any other through it.
async fn lookup(ctx: &Context<'_>, name: &str) -> Lookup {
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

async fn localhost(config: &DoctorConfig, name: &str, budget: Budget) -> Lookup {
    // Without a hosts file (a scratch image, a bare chroot) getaddrinfo has nothing to read for
    // localhost and would only wait for a name server that owes no answer.
    let has_hosts = config.host_path(HOSTS).is_file();
    let system = if config.reads_host_files() && has_hosts {
        Some(system_lookup(name, config.target.port, budget).await)
    } else {
        None
    };
    // A copied pod filesystem says what the pod's own resolver gives localhost: often
    // 127.0.0.1 alone, and ::1 added by definition would be an address the pod never tries.
    let hosts = (!config.reads_host_files() && has_hosts).then(|| {
        hosts_entries(config, name)
            .iter()
            .filter_map(|line| line.split_whitespace().next()?.parse::<IpAddr>().ok())
            .collect::<Vec<IpAddr>>()
    });
    Lookup::Loopback {
        name: name.to_string(),
        system,
        hosts,
    }
}

/// The resolver configuration in force: resolv.conf, with the name servers replaced by
/// `--dns-server` when given.
#[derive(Debug)]
struct Settings {
    path: PathBuf,
    nameservers: Vec<SocketAddr>,
    from_flag: bool,
    search: Vec<String>,
    ndots: usize,
    /// Why resolv.conf could not be used, when it could not.
    problem: Option<files::ReadError>,
}

impl Settings {
    fn load(config: &DoctorConfig) -> Settings {
        let path = config.host_path(RESOLV_CONF);
        let mut settings = Settings {
            path: path.clone(),
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
            Err(error) => settings.problem = Some(error),
        }
        if let Some(server) = config.dns_server {
            settings.nameservers = vec![server];
        }
        settings
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
    Unanswered(Unanswered),
    /// Not asked: the doctor could not open a socket for the query.
    Local(LocalFailure),
}

/// Why a query got no usable answer.
#[derive(Clone, Debug)]
enum Unanswered {
    /// The name cannot be put in a query.
    Unencodable(ProtoError),
    /// Nothing within the step (the outer budget's timer or hickory's own).
    TimedOut(Budget),
    NoConnections,
    /// A socket error that is not the doctor's own shortage (a refused port, an unreachable
    /// network).
    Network(io::ErrorKind),
    /// The reply could not be parsed.
    Unreadable(ProtoError),
    /// Any other hickory error, shown as hickory words it.
    Other(NetError),
    /// The query's task ended without a result (it panicked or was cancelled).
    TaskFailed(Arc<JoinError>),
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

/// The first candidate that resolved: the one a client uses.
fn answered(results: &[CandidateResult]) -> Option<&CandidateResult> {
    results.iter().find(|r| r.class() == Class::Resolved)
}

/// The name's outcome over all candidates: the least certain one (`None` when none was asked).
fn overall_class(results: &[CandidateResult]) -> Option<Class> {
    results.iter().map(CandidateResult::class).min()
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
        Err(e) => Answer::Unanswered(Unanswered::Unencodable(e)),
        Ok(name) => match budget.run(resolver.lookup(name, rtype)).await {
            None => Answer::Unanswered(Unanswered::TimedOut(budget)),
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
        NetError::Timeout => Answer::Unanswered(Unanswered::TimedOut(budget)),
        NetError::NoConnections => Answer::Unanswered(Unanswered::NoConnections),
        NetError::Io(io) => match LocalFailure::classify(io) {
            Some(failure) => Answer::Local(failure),
            None => Answer::Unanswered(Unanswered::Network(io.kind())),
        },
        NetError::Proto(proto) => Answer::Unanswered(Unanswered::Unreadable(proto.clone())),
        other => Answer::Unanswered(Unanswered::Other(other.clone())),
    }
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
                answer: Answer::Unanswered(Unanswered::TaskFailed(Arc::new(join_error))),
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
    Failed(SystemFailure),
    /// Not asked: the doctor's own resources ran out (getaddrinfo's `EAI_SYSTEM` carries the
    /// OS error number).
    Local(LocalFailure),
}

/// Why getaddrinfo gave no addresses.
#[derive(Debug)]
enum SystemFailure {
    /// Nothing within the step.
    TimedOut(Budget),
    /// getaddrinfo's errors carry no portable type: the error is kept whole, and its text is
    /// shown, never interpreted.
    Error(io::Error),
}

async fn system_lookup(name: &str, port: u16, budget: Budget) -> SystemAnswer {
    let start = Instant::now();
    match budget.run(tokio::net::lookup_host((name, port))).await {
        None => SystemAnswer::Failed(SystemFailure::TimedOut(budget)),
        Some(Err(error)) => match LocalFailure::classify(&error) {
            Some(failure) => SystemAnswer::Local(failure),
            None => SystemAnswer::Failed(SystemFailure::Error(error)),
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

async fn resolve(ctx: &Context<'_>, name: &str) -> Lookup {
    let config = ctx.config;
    let budget = ctx.budget();
    let settings = Settings::load(config);
    // getaddrinfo reads the real /etc: only comparable when we read it too and ask the same servers.
    let consult_system = config.dns_server.is_none() && config.reads_host_files();
    let candidates = candidates(name, &settings.search, settings.ndots);

    let dns_query = async {
        if settings.nameservers.is_empty() {
            return Err(NoResolver::NoNameserver);
        }
        query_all(&settings.nameservers, &candidates, budget)
            .await
            .map_err(NoResolver::Setup)
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
        return Lookup::NotChecked {
            name: name.to_string(),
            failure,
        };
    }

    let answer = dns.as_ref().ok().and_then(|results| answered(results));
    let hosts = explain::disagree(system.as_ref(), answer).then(|| hosts_entries(config, name));
    // Only a name that failed everywhere is worth the follow-up: where getaddrinfo answered, its
    // answer is the one reported.
    let shorter = match &dns {
        Ok(results)
            if answer.is_none()
                && !matches!(system, Some(SystemAnswer::Addresses(..)))
                && matches!(
                    overall_class(results).unwrap_or(Class::NxDomain),
                    Class::NxDomain | Class::NoData
                ) =>
        {
            shorter_name(ctx, &settings, name, results).await
        }
        _ => None,
    };
    Lookup::Asked(Box::new(Asked {
        name: name.to_string(),
        settings,
        dns,
        system,
        hosts,
        shorter,
    }))
}

/// Tries shorter forms of a name that failed, through the search list: a Kubernetes service
/// name without its cluster domain (`svc.ns.svc.cluster.local` → `svc.ns`), and the first
/// label. A hit means the configured name is wrong *here* (a different cluster domain, a stale
/// cache) while the service itself exists.
async fn shorter_name(
    ctx: &Context<'_>,
    settings: &Settings,
    name: &str,
    results: &[CandidateResult],
) -> Option<ShorterName> {
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
        if answered(&short_results).is_some() {
            return Some(ShorterName {
                short,
                results: short_results,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

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
            result(
                Answer::Unanswered(Unanswered::NoConnections),
                Answer::NoData
            )
            .class(),
            Class::NoAnswer
        );
        assert_eq!(
            result(
                Answer::Unanswered(Unanswered::NoConnections),
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
