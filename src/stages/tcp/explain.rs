//! The TCP stage's prose: from the attempts as observed (address, how each ended, how long it
//! took) to the findings, with the fix that fits each kind of failure and, behind a proxy, the
//! proxy's side of it. No I/O here.

use serde_json::{Value, json};

use super::{Attempt, Observation, Outcome};
use crate::brokers::{self, Broker};
use crate::config::DoctorConfig;
use crate::findings::registry::{
    FindingDef, TCP_CONNECTED, TCP_PARTIAL, TCP_PROXY_PROTOCOL_EXPECTED, TCP_REFUSED, TCP_TIMEOUT,
    TCP_UNREACHABLE,
};
use crate::findings::{Finding, millis};
use crate::proxy::Proxy;
use crate::stages::context::{Budget, StageOutput};
use crate::transport::{Peer, ProxyHeader};

/// The findings and the stage line for what was observed (the caller has already turned an
/// attempt the doctor could not make into a local failure).
pub(super) fn explain(config: &DoctorConfig, seen: &Observation) -> StageOutput {
    let (outcomes, budget) = (&seen.attempts, seen.budget);
    let table = attempts_json(outcomes, budget);
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !matches!(o.attempt, Attempt::Connected))
        .collect();
    let Some(chosen) = outcomes
        .iter()
        .find(|o| matches!(o.attempt, Attempt::Connected))
    else {
        // One finding per kind of failure, in address order.
        let mut findings = Vec::new();
        let mut seen: Vec<&'static FindingDef> = Vec::new();
        for def in failed.iter().filter_map(|o| o.failure_def()) {
            if !seen.contains(&def) {
                seen.push(def);
                let same: Vec<&Outcome> = failed
                    .iter()
                    .copied()
                    .filter(|o| o.failure_def() == Some(def))
                    .collect();
                findings.push(failure_finding(config, def, &same, budget, table.clone()));
            }
        }
        let first = failed
            .first()
            .map(|o| format!("{}: {}", o.addr, o.result_text(budget)));
        let summary = match outcomes.len() {
            0 => "no address to connect to".to_string(),
            1 => first.unwrap_or_default(),
            n => format!(
                "none of {n} addresses connected ({})",
                first.unwrap_or_default()
            ),
        };
        return StageOutput::done(summary, findings);
    };
    let (peer, elapsed) = (chosen.addr, chosen.elapsed);

    let connected = Finding::new(
        &TCP_CONNECTED,
        format!(
            "{peer} accepted the TCP connection in {} ms.",
            millis(elapsed)
        ),
    )
    .with_evidence("address", peer.to_string())
    .with_evidence("connect_ms", millis(elapsed));
    let mut findings = vec![with_attempts(connected, table.clone())];
    if !failed.is_empty() {
        let bad: Vec<String> = failed
            .iter()
            .map(|o| format!("{} ({})", o.addr, o.result_text(budget)))
            .collect();
        findings.push(
            Finding::new(
                &TCP_PARTIAL,
                format!(
                    "{} of {} addresses did not connect: {}. Clients that pick one of them first \
                     wait for a timeout or fail, so the broker looks flaky from some machines.",
                    failed.len(),
                    outcomes.len(),
                    bad.join(", ")
                ),
            )
            .with_evidence("attempts", table)
            .with_fix(partial_fix(config, &failed)),
        );
    }
    StageOutput::done(format!("connected to {peer}"), findings)
}

fn attempts_json(outcomes: &[Outcome], budget: Budget) -> Value {
    Value::Array(
        outcomes
            .iter()
            .map(|o| {
                json!({
                    "address": o.addr.to_string(),
                    "result": o.result_text(budget),
                    "ms": millis(o.elapsed),
                })
            })
            .collect(),
    )
}

fn addr_list(outcomes: &[&Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| o.addr.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn failure_finding(
    config: &DoctorConfig,
    def: &'static FindingDef,
    outcomes: &[&Outcome],
    budget: Budget,
    table: Value,
) -> Finding {
    let addrs = addr_list(outcomes);
    let port = config.target.port;
    let host = config.target.host.to_string();
    let (detail, fix) = if def == &TCP_REFUSED {
        (
            format!(
                "{addrs} refused the connection: the host is up, but nothing listens on port \
                 {port} there (or a firewall rejects it)."
            ),
            {
                // Listening on every interface is the fix for a broker other hosts cannot
                // reach; a refusal on loopback is a broker that does not run or listens on
                // another port, and the hint would send the reader the wrong way.
                let other_hosts = if outcomes.iter().all(|o| o.addr.ip().is_loopback()) {
                    String::new()
                } else {
                    format!(
                        "Mosquitto 2.x without a `listener` line listens on loopback only; to \
                         accept other hosts add:\n  listener {port} 0.0.0.0\n"
                    )
                };
                format!(
                    "Check that the broker runs and which addresses and ports it listens on (on \
                     the broker host):\n  ss -ltnp | grep :{port}\n{other_hosts}\
                     In Kubernetes, a Service without ready endpoints refuses connections:\n  \
                     kubectl get endpointslices -A | grep <service>"
                )
            },
        )
    } else if def == &TCP_TIMEOUT {
        (
            format!(
                "{addrs} did not answer the connection attempt within {}: packets are dropped \
                 on the way (firewall, security group, NetworkPolicy), the address is wrong, or \
                 the broker's listen queue is full.",
                budget.describe()
            ),
            format!(
                "Check the path to the broker from this machine:\n  nc -vz -w 5 {host} {port}\n\
                 Look for a firewall or cloud security group dropping port {port}, and in \
                 Kubernetes for a NetworkPolicy without egress to the broker:\n  \
                 kubectl get networkpolicy -A\n\
                 If the broker host is reachable, look at its load and connection limits."
            ),
        )
    } else if def == &TCP_UNREACHABLE {
        let reasons: Vec<String> = outcomes.iter().map(|o| o.result_text(budget)).collect();
        (
            format!(
                "{addrs} cannot be reached from here ({}): this machine has no route to that \
                 network, or a router reported the host unreachable.",
                reasons.join(", ")
            ),
            format!(
                "Check the route and the interface that would carry the traffic:\n  ip route get \
                 {ip}\nA VPN that is down, an IPv6 address on a machine without IPv6 \
                 connectivity, or a container without a network all look like this.",
                ip = outcomes
                    .first()
                    .map(|o| o.addr.ip().to_string())
                    .unwrap_or_default()
            ),
        )
    } else {
        (
            format!(
                "{addrs} accepted the connection and dropped it at once, before anything was \
                 sent. Something in front of the broker takes connections it cannot serve: a \
                 load balancer with no healthy backend, a connection limit (Mosquitto \
                 max_connections), an address allowlist, or a proxy that expects the PROXY \
                 protocol."
            ),
            refused_after_accept_fix(config.mqtt.broker),
        )
    };
    let (detail, fix) = match config.proxy.proxy() {
        Some(proxy) => proxy_failure(proxy, def, &addrs, budget),
        None => (detail, fix),
    };
    let finding = Finding::new(def, detail)
        .with_evidence(
            "addresses",
            json!(
                outcomes
                    .iter()
                    .map(|o| o.addr.to_string())
                    .collect::<Vec<_>>()
            ),
        )
        .with_evidence("timeout_ms", budget.timeout.as_millis() as u64)
        .with_fix(fix);
    with_attempts(finding, table)
}

/// Behind a proxy the TCP connection goes to the proxy: the broker was not tried at all, and the
/// fix is about the proxy setting.
fn proxy_failure(
    proxy: &Proxy,
    def: &'static FindingDef,
    addrs: &str,
    budget: Budget,
) -> (String, String) {
    let what = if def == &TCP_REFUSED {
        "refused the connection: no proxy listens there".to_string()
    } else if def == &TCP_TIMEOUT {
        format!("did not answer within {}", budget.describe())
    } else if def == &TCP_UNREACHABLE {
        "cannot be reached from here".to_string()
    } else {
        "accepted the connection and dropped it at once".to_string()
    };
    (
        format!(
            "{addrs} is the proxy {} (from {}), and it {what}. The broker was not tried: every \
             connection goes through the proxy.",
            proxy.url(),
            proxy.source
        ),
        format!(
            "Check the proxy address in {} and that the proxy runs:\n  nc -vz {} {}\nTo try the \
             broker directly instead, {direct}.",
            proxy.source,
            proxy.host,
            proxy.port,
            direct = proxy.direct_hint()
        ),
    )
}

/// The per-address table, when there was more than one address to try.
fn with_attempts(finding: Finding, table: Value) -> Finding {
    match &table {
        Value::Array(rows) if rows.len() > 1 => finding.with_evidence("attempts", table),
        _ => finding,
    }
}

fn partial_fix(config: &DoctorConfig, failed: &[&Outcome]) -> String {
    let v6_only = failed.iter().all(|o| o.addr.is_ipv6());
    let host = config.target.host.to_string();
    if v6_only {
        format!(
            "Only IPv6 addresses fail. Either give this machine working IPv6, make the broker \
             listen on IPv6 too, or remove the AAAA record of {host}."
        )
    } else {
        format!(
            "Remove or repair the addresses that fail (a dead load-balancer backend, a stale DNS \
             record for {host}); each is listed with its result above."
        )
    }
}

/// A follow-up behind a PROXY protocol header got the answer the plain attempt did not: the
/// listener expects the header. `asked` is what was tried ("MQTT 5 CONNECT", "TLS handshake",
/// "WebSocket upgrade"), `without` what it got plainly, `behind` what it got behind a header.
pub(crate) fn proxy_protocol_expected(
    peer: &Peer,
    asked: &str,
    without: &str,
    headers: &[ProxyHeader],
    behind: &str,
) -> Finding {
    let versions: Vec<&str> = headers.iter().map(|header| header.name()).collect();
    let versions = versions.join(" and ");
    let header = match headers {
        [one] => format!("a PROXY protocol {} header", one.name()),
        _ => "a PROXY protocol header, v1 and v2 alike,".to_string(),
    };
    Finding::new(
        &TCP_PROXY_PROTOCOL_EXPECTED,
        format!(
            "The {asked} to {peer} {without}, yet sent behind {header} it {behind}: this \
             listener expects the PROXY protocol, the header a load balancer \
             puts before the client's bytes. This client reached it without going through that \
             load balancer, or the load balancer in front does not send the header."
        ),
    )
    .with_evidence("proxy_protocol", versions)
    .with_evidence("without_header", without)
    .with_fix(
        "MQTT clients cannot send the header themselves. Either connect through the load \
         balancer (its address, not the broker's, the node's or the pod's), or make the two sides \
         agree: the load balancer sends the header (HAProxy `server ... send-proxy` or \
         `send-proxy-v2`; NGINX stream `proxy_protocol on;`; AWS NLB target group attribute \
         `proxy_protocol_v2.enabled`), or the listener stops expecting it (HAProxy `bind ... \
         accept-proxy`; NGINX `listen ... proxy_protocol`; EMQX \
         `listeners.tcp.default.proxy_protocol`; Mosquitto 2.1 `enable_proxy_protocol`).",
    )
}

/// The causes of a connection accepted and then closed before the client sent a byte, most
/// likely first. From the client they look alike byte for byte (a Mosquitto over its
/// `max_connections` and a Mosquitto handed an unexpected PROXY header both close at once, with
/// a FIN), so the fix ranks them; the MQTT stage gives the same list when its CONNECT finds the
/// close.
pub(crate) fn refused_after_accept_fix(broker: Option<Broker>) -> String {
    // Mosquitto's and EMQX's settings are examples for a broker nobody named, and the right
    // words for those two; another family gets its own limits and no other broker's names.
    let examples = matches!(broker, None | Some(Broker::Mosquitto | Broker::Emqx));
    let limit = match broker {
        Some(broker) if !examples => format!(
            "The broker is at its connection limit. On {}: {}",
            broker.name(),
            brokers::fixes(Some(broker)).connection_limits
        ),
        _ => "The broker is at its connection limit: Mosquitto `max_connections` (its log says \
              \"denied: max_connections exceeded\"), EMQX's listener `max_connections`. Count the \
              broker's clients, raise the limit, or find the client that leaks connections."
            .to_string(),
    };
    let proxy = if examples {
        "A load balancer in front sends a PROXY header the broker does not expect (HAProxy \
         `send-proxy`, proxy protocol on an AWS NLB target group): Mosquitto closes at the \
         header's first byte, before the client's CONNECT arrives. Remove it, or turn on the \
         broker's PROXY support (Mosquitto 2.1 `enable_proxy_protocol`, EMQX `proxy_protocol`)."
    } else {
        "A load balancer in front sends a PROXY header the broker does not expect (HAProxy \
         `send-proxy`, proxy protocol on an AWS NLB target group): a broker may close at the \
         header's first byte, before the client's CONNECT arrives. Remove it, or turn on the \
         broker's PROXY support if it has one."
    };
    let causes = [
        limit.as_str(),
        "A load balancer in front has no healthy backend (HAProxy, a cloud load balancer, an \
         ingress): it accepts, then drops. Check its backend health and its log.",
        proxy,
        "An address allowlist or TCP wrapper refuses this client's address after accepting.",
    ];
    let lines: Vec<String> = causes
        .iter()
        .enumerate()
        .map(|(i, cause)| format!("{}. {cause}", i + 1))
        .collect();
    let mut fix = format!("Most likely first:\n{}", lines.join("\n"));
    // Named Mosquitto or EMQX, the broker's own limits come with the examples.
    if let Some(broker) = broker
        && examples
    {
        fix.push_str(&format!(
            "\nOn {}: {}",
            broker.name(),
            brokers::fixes(Some(broker)).connection_limits
        ));
    }
    fix
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::target;

    fn refused_at(address: &str) -> String {
        let addr: std::net::SocketAddr = address.parse().unwrap();
        let config = DoctorConfig::new(
            target::parse_with(address, target::Scheme::Mqtt, None).expect("a target"),
        );
        let seen = Observation {
            attempts: vec![Outcome {
                addr,
                attempt: Attempt::Refused,
                elapsed: Duration::from_micros(300),
            }],
            budget: Budget::new(Duration::from_secs(1), tokio::time::Instant::now()),
        };
        let output = explain(&config, &seen);
        output.findings[0].fix.clone().unwrap()
    }

    // Explain is pure: the address need not exist, and nothing is sent to it.
    #[test]
    fn the_listen_everywhere_hint_is_for_other_hosts_only() {
        assert!(!refused_at("127.0.0.1:1883").contains("0.0.0.0"));
        assert!(!refused_at("[::1]:1883").contains("0.0.0.0"));
        assert!(refused_at("192.0.2.10:1883").contains("listener 1883 0.0.0.0"));
    }
}
