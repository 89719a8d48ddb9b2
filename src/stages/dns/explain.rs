//! What the DNS stage's observations mean: the findings for a name that resolved, resolved only
//! through the search list, failed, or resolved differently through the system resolver; the
//! stage's summary; and the addresses the next stages connect to. Pure: everything it needs was
//! observed in `mod.rs`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Value, json};

use super::*;
use crate::findings::registry::{
    DNS_FQDN_FAILS_SHORT_WORKS, DNS_NO_RECORDS, DNS_NO_RESOLVER, DNS_NXDOMAIN, DNS_RESOLVED,
    DNS_SEARCH_LIST_ONLY, DNS_SERVFAIL, DNS_SYSTEM_RESOLVER_DIFFERS, DNS_TIMEOUT,
};
use crate::findings::{Finding, Status, millis};
use crate::proxy::ProxyKind;

/// What the stage reports, and what it establishes for the later stages.
pub(super) struct Explained {
    pub(super) output: StageOutput,
    /// The addresses to connect to (the broker's, or the proxy's), when the stage got that far.
    pub(super) addresses: Option<Vec<SocketAddr>>,
    /// With a SOCKS5 proxy that is given addresses: the broker's.
    pub(super) broker_addresses: Option<Vec<SocketAddr>>,
}

pub(super) fn stage(config: &DoctorConfig, observed: &Observed<'_>) -> Explained {
    let port = config.target.port;
    match observed {
        Observed::Direct(Addressed::Ip(ip)) => Explained {
            output: StageOutput::not_applicable(format!(
                "{ip} is an IP address: nothing to resolve"
            )),
            addresses: Some(vec![SocketAddr::new(*ip, port)]),
            broker_addresses: None,
        },
        Observed::Direct(Addressed::Name(lookup)) => {
            let (output, ips) = name(config, lookup);
            Explained {
                output,
                addresses: Some(with_port(ips, port)),
                broker_addresses: None,
            }
        }
        Observed::Proxied {
            proxy,
            proxy_host,
            broker,
        } => through_proxy(config, proxy, proxy_host, broker.as_ref()),
    }
}

fn with_port(ips: Vec<IpAddr>, port: u16) -> Vec<SocketAddr> {
    ips.into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect()
}

/// Behind a proxy: the proxy's name, when it has one, and the broker's, unless the proxy
/// resolves it (then the stage says so rather than report answers that would not be used).
fn through_proxy(
    config: &DoctorConfig,
    proxy: &Proxy,
    proxy_host: &Addressed,
    broker: Option<&Addressed>,
) -> Explained {
    let mut findings = Vec::new();
    let mut summaries = Vec::new();
    let proxy_ips = match proxy_host {
        Addressed::Ip(ip) => vec![*ip],
        Addressed::Name(lookup) => {
            let (output, ips) = name(config, lookup);
            if output.local_failure.is_some() {
                return Explained {
                    output,
                    addresses: None,
                    broker_addresses: None,
                };
            }
            summaries.push(format!("proxy {}", output.summary));
            findings.extend(output.findings);
            ips
        }
    };
    let addresses = Some(with_port(proxy_ips, proxy.port));
    let port = config.target.port;
    let broker_name = config.target.host.to_string();
    let mut broker_addresses = None;
    match broker {
        None => {
            let why = format!(
                "{broker_name} is resolved by the {} proxy {}, with its own DNS",
                proxy.kind.scheme(),
                proxy.authority()
            );
            if summaries.is_empty() {
                return Explained {
                    output: StageOutput::not_applicable(format!("skipped: {why}")),
                    addresses,
                    broker_addresses,
                };
            }
            summaries.push(why);
        }
        Some(Addressed::Ip(ip)) => {
            if proxy.kind == ProxyKind::Socks5 {
                broker_addresses = Some(vec![SocketAddr::new(*ip, port)]);
            }
        }
        Some(Addressed::Name(lookup)) => {
            let (output, ips) = name(config, lookup);
            if output.local_failure.is_some() {
                return Explained {
                    output,
                    addresses,
                    broker_addresses,
                };
            }
            summaries.push(output.summary);
            findings.extend(output.findings);
            broker_addresses = Some(with_port(ips, port));
        }
    }
    let output = if summaries.is_empty() {
        StageOutput::not_applicable(format!(
            "{} and {broker_name} are IP addresses: nothing to resolve",
            proxy.host
        ))
    } else {
        StageOutput::done(summaries.join("; "), findings)
    };
    Explained {
        output,
        addresses,
        broker_addresses,
    }
}

/// One name's summary and findings, and the addresses clients would connect to.
fn name(config: &DoctorConfig, lookup: &Lookup) -> (StageOutput, Vec<IpAddr>) {
    match lookup {
        Lookup::Loopback {
            name,
            system,
            hosts,
        } => localhost(name, system.as_ref(), hosts.as_deref()),
        Lookup::NotChecked { name, failure } => (
            StageOutput::local_failure(format!("{name}: not checked: {failure}"), *failure),
            Vec::new(),
        ),
        Lookup::Asked(asked) => resolution(config, asked),
    }
}

fn localhost(
    name: &str,
    system: Option<&SystemAnswer>,
    hosts: Option<&[IpAddr]>,
) -> (StageOutput, Vec<IpAddr>) {
    let (addresses, source, elapsed) = match (system, hosts) {
        (Some(SystemAnswer::Addresses(addrs, elapsed)), _) => {
            (addrs.clone(), "system resolver (hosts file)", *elapsed)
        }
        (_, Some(hosts)) if !hosts.is_empty() => (
            hosts.to_vec(),
            "the hosts file below --root",
            Duration::ZERO,
        ),
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

impl Settings {
    fn evidence(&self, finding: Finding) -> Finding {
        let servers: Vec<String> = self.nameservers.iter().map(|s| server_text(*s)).collect();
        finding
            .with_evidence("resolv_conf", self.path.display().to_string())
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

    /// Why resolv.conf could not be used, in words.
    fn problem_text(&self, config: &DoctorConfig, problem: &files::ReadError) -> String {
        match problem {
            files::ReadError::Io(e)
                if e.kind() == io::ErrorKind::PermissionDenied && !config.reads_host_files() =>
            {
                format!(
                    "cannot read {}: {e}. Files below --root / MQTT_DOCTOR_ROOT must be readable \
                     by this user: a debug container reading /proc/1/root must run as the target \
                     container's user or as root",
                    self.path.display()
                )
            }
            e => format!("cannot read {}: {}", self.path.display(), e.describe()),
        }
    }
}

fn server_text(server: SocketAddr) -> String {
    if server.port() == 53 {
        server.ip().to_string()
    } else {
        server.to_string()
    }
}

/// Why no name server could be asked, in words.
fn no_resolver_text(config: &DoctorConfig, settings: &Settings, why: &NoResolver) -> String {
    match why {
        NoResolver::NoNameserver => match &settings.problem {
            Some(problem) => settings.problem_text(config, problem),
            None => format!("{} lists no nameserver", settings.path.display()),
        },
        NoResolver::Setup(e) => format!("the resolver could not be set up: {e}"),
    }
}

fn answer_text(answer: &Answer) -> String {
    match answer {
        Answer::Addresses(ips) => join_ips(ips),
        Answer::NxDomain => "NXDOMAIN".into(),
        Answer::NoData => "no records (NODATA)".into(),
        Answer::ServerError(code) => rcode_text(*code),
        Answer::Unanswered(why) => format!("no answer ({})", unanswered_text(why)),
        Answer::Local(failure) => format!("not asked: {failure}"),
    }
}

fn unanswered_text(why: &Unanswered) -> String {
    match why {
        Unanswered::Unencodable(e) => format!("the name cannot be encoded: {e}"),
        Unanswered::TimedOut(budget) => timeout_text(*budget),
        Unanswered::NoConnections => "no connection to any name server".into(),
        Unanswered::Network(io::ErrorKind::ConnectionRefused) => {
            "the name server port refused the query".into()
        }
        Unanswered::Network(kind) => format!("network error: {kind}"),
        Unanswered::Unreadable(proto) => format!("unreadable reply: {proto}"),
        Unanswered::Other(error) => error.to_string(),
        Unanswered::TaskFailed(join_error) => format!("query task failed: {join_error}"),
    }
}

fn system_failure_text(why: &SystemFailure) -> String {
    match why {
        SystemFailure::TimedOut(budget) => timeout_text(*budget),
        SystemFailure::Error(error) => error.to_string(),
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

fn timeout_text(budget: Budget) -> String {
    format!("nothing within {}", budget.describe())
}

fn queries_json<'a>(results: impl IntoIterator<Item = &'a CandidateResult>) -> Value {
    Value::Array(
        results
            .into_iter()
            .map(|r| {
                json!({
                    "name": r.candidate.fqdn,
                    "a": format!("{} in {} ms", answer_text(&r.a.answer), millis(r.a.elapsed)),
                    "aaaa": format!(
                        "{} in {} ms",
                        answer_text(&r.aaaa.answer),
                        millis(r.aaaa.elapsed)
                    ),
                })
            })
            .collect(),
    )
}

/// A name asked of DNS and getaddrinfo: what they said, and which answer the clients here use.
fn resolution(config: &DoctorConfig, asked: &Asked) -> (StageOutput, Vec<IpAddr>) {
    let Asked {
        name,
        settings,
        dns,
        system,
        hosts,
        shorter,
    } = asked;
    let name = name.as_str();
    let results = dns.as_ref().map(Vec::as_slice).unwrap_or(&[]);
    let answered = answered(results);
    // Set when no name server could be asked at all.
    let no_resolver = dns
        .as_ref()
        .err()
        .map(|why| no_resolver_text(config, settings, why));
    let no_resolver = no_resolver.as_ref();
    let class = overall_class(results);
    // Read by the observation exactly where the two resolvers disagree, which is where they are
    // quoted.
    let hosts = hosts.as_deref().unwrap_or_default();

    let mut findings = Vec::new();
    let mut addresses = Vec::new();
    let summary;

    if let Some(answer) = answered {
        addresses = answer.addresses();
        findings.push(resolved_finding(
            config,
            settings,
            name,
            answer,
            results,
            system.as_ref(),
        ));
        if let Some(finding) = search_list_finding(config, settings, name, answer, results) {
            findings.push(finding);
        }
        summary = format!("{name} → {}", join_ips(&addresses));
    } else {
        summary = format!("{name}: {}", failure_text(no_resolver, class));
    }

    match (system, answered) {
        (Some(SystemAnswer::Addresses(sys, _)), Some(_)) if !same_set(sys, &addresses) => {
            findings.push(differs_finding(name, hosts, sys, Ok(&addresses)));
            addresses = sys.clone();
        }
        (Some(SystemAnswer::Failed(why)), Some(_)) => {
            findings.push(
                differs_finding(name, hosts, &[], Ok(&addresses))
                    .with_status(Status::Fail)
                    .with_evidence("system_error", system_failure_text(why)),
            );
        }
        (Some(SystemAnswer::Addresses(sys, _)), None) => {
            let dns_said = failure_text(no_resolver, class);
            findings.push(differs_finding(name, hosts, sys, Err(&dns_said)));
            addresses = sys.clone();
        }
        (_, None) => {
            let finding = match no_resolver {
                Some(why) => no_resolver_finding(settings, name, why),
                _ => {
                    let class = class.unwrap_or(Class::NxDomain);
                    let short = match (class, shorter) {
                        (Class::NxDomain | Class::NoData, Some(shorter)) => {
                            shorter_finding(settings, name, class, results, shorter)
                        }
                        _ => None,
                    };
                    short.unwrap_or_else(|| failure_finding(settings, name, class, results))
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
        other => json!(answer_text(other)),
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

/// A shorter form of a name that failed resolved (see [`shorter_name`]): the configured name is
/// wrong *here* (a different cluster domain, a stale cache) while the service itself exists.
fn shorter_finding(
    settings: &Settings,
    name: &str,
    class: Class,
    results: &[CandidateResult],
    shorter: &ShorterName,
) -> Option<Finding> {
    let short = shorter.short.as_str();
    let hit = answered(&shorter.results)?;
    let bare = name.trim_end_matches('.');
    let labels: Vec<&str> = bare.split('.').collect();
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
    Some(
        settings.evidence(
            Finding::new(&DNS_FQDN_FAILS_SHORT_WORKS, detail)
                .with_evidence("name", bare)
                .with_evidence("name_result", class_text(class))
                .with_evidence("short_name", short)
                .with_evidence("answered_as", hit.candidate.fqdn.as_str())
                .with_evidence("addresses", ips_json(&hit.addresses()))
                .with_evidence(
                    "queries",
                    queries_json(results.iter().chain(&shorter.results)),
                )
                .with_fix(fix),
        ),
    )
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
                    Answer::Unanswered(why) => Some(unanswered_text(why)),
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

/// `hosts`: the hosts-file lines that name `name`.
fn differs_finding(
    name: &str,
    hosts: &[String],
    system: &[IpAddr],
    dns: Result<&[IpAddr], &String>,
) -> Finding {
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

/// Whether getaddrinfo and DNS disagree about a name in a way the report shows with
/// dns.system_resolver_differs: other addresses, a failure where DNS answered, or addresses where
/// DNS failed. The observation reads the hosts file exactly then; the match in [`resolution`]
/// that writes dns.system_resolver_differs has the same three cases, so the two live here side
/// by side.
pub(super) fn disagree(system: Option<&SystemAnswer>, dns: Option<&CandidateResult>) -> bool {
    match (system, dns) {
        (Some(SystemAnswer::Addresses(sys, _)), Some(answer)) => {
            !same_set(sys, &answer.addresses())
        }
        (Some(SystemAnswer::Failed(_)), Some(_)) | (Some(SystemAnswer::Addresses(..)), None) => {
            true
        }
        _ => false,
    }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.iter().all(|ip| b.contains(ip)) && b.iter().all(|ip| a.contains(ip))
}
