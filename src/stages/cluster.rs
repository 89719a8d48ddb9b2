//! The cluster stage: once every node of a target (every address its name resolved to, or
//! every target of a `--cluster`) has run its own connection chain, compare them.
//!
//! A client connects to whichever node DNS or the load balancer hands it, so a node that differs
//! from the others is a failure that comes and goes: one connection in three refused, a
//! certificate that one node in three presents, a packet size that one node in three refuses.
//! This stage reads only the nodes' verdicts and typed [`Observations`] (never a finding's prose),
//! and writes one finding per kind of difference with the nodes side by side.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::certs;
use crate::config::MAX_NODES;
use crate::findings::registry::{
    CLUSTER_CAPABILITIES_DIFFER, CLUSTER_CERTIFICATES_DIFFER, CLUSTER_CONSISTENT,
    CLUSTER_NODES_CAPPED, CLUSTER_NODES_FAIL, CLUSTER_SLOW_NODE,
};
use crate::findings::{Finding, Status};
use crate::observations::Observations;

/// One node as the comparison sees it.
#[derive(Debug)]
pub(crate) struct NodeView<'a> {
    /// How the report names it: its address, or for a `--cluster` its target and address.
    pub label: String,
    pub address: Option<SocketAddr>,
    pub status: Status,
    pub root_cause: Option<&'static str>,
    /// The node's verdict in one line.
    pub summary: &'a str,
    pub observed: &'a Observations,
}

/// The name resolved to more addresses than were checked.
#[derive(Debug)]
pub(crate) struct Capped<'a> {
    pub name: &'a str,
    pub resolved: usize,
    pub checked: usize,
}

/// What the comparison found, and its stage line.
#[derive(Debug)]
pub(crate) struct Comparison {
    pub summary: String,
    pub findings: Vec<Finding>,
}

/// A node slower than this many times the others' median at a step is called out...
const SLOW_FACTOR: f64 = 5.0;
/// ...when it is also at least this many milliseconds slower: on loopback or a LAN every step
/// takes a millisecond or less, and five times nothing is still nothing.
const SLOW_MARGIN_MS: f64 = 50.0;

pub(crate) fn compare(nodes: &[NodeView<'_>], capped: Option<Capped<'_>>) -> Comparison {
    let mut findings = Vec::new();
    let total = nodes.len();
    let failing: Vec<&NodeView> = nodes.iter().filter(|n| n.status == Status::Fail).collect();
    let partial = !failing.is_empty() && failing.len() < total;
    if partial {
        findings.push(nodes_fail(nodes, &failing));
    }
    let certificates = certificates_differ(nodes);
    let capabilities = capabilities_differ(nodes);
    findings.extend(certificates);
    findings.extend(capabilities);
    findings.extend(slow_node(nodes));
    // A node the doctor could not fully check (its own resources ran out) is no evidence of
    // agreement.
    let all_checked = nodes.iter().all(|n| n.status != Status::Skip);
    if failing.is_empty() && all_checked && !findings.iter().any(|f| f.status == Status::Warn) {
        findings.insert(0, consistent(nodes));
    }
    if let Some(capped) = capped {
        findings.push(
            Finding::new(
                &CLUSTER_NODES_CAPPED,
                format!(
                    "{} resolved to {} addresses; the doctor checked the first {} of them, as \
                     --nodes allows.",
                    capped.name, capped.resolved, capped.checked
                ),
            )
            .with_evidence("resolved", capped.resolved as u64)
            .with_evidence("checked", capped.checked as u64)
            .with_fix(if capped.resolved <= MAX_NODES {
                format!(
                    "To check every node, raise the cap: --nodes {}.",
                    capped.resolved
                )
            } else {
                format!(
                    "--nodes goes up to {MAX_NODES}; to check the others, give their addresses \
                     as targets with --cluster."
                )
            }),
        );
    }
    let summary = if failing.len() == total {
        format!("all {total} nodes fail")
    } else if partial {
        format!("{} of {total} nodes fail", failing.len())
    } else {
        let differ: Vec<&str> = findings
            .iter()
            .filter(|f| f.status == Status::Warn)
            .map(|f| {
                if f.def == &CLUSTER_CERTIFICATES_DIFFER {
                    "certificates"
                } else {
                    "capabilities"
                }
            })
            .collect();
        if differ.is_empty() {
            format!("{total} nodes answer alike")
        } else {
            format!("{total} nodes pass; their {} differ", differ.join(" and "))
        }
    };
    Comparison { summary, findings }
}

fn nodes_fail(nodes: &[NodeView<'_>], failing: &[&NodeView<'_>]) -> Finding {
    let causes: Vec<String> = failing
        .iter()
        .map(|n| match n.root_cause {
            Some(id) => format!("{} ({id})", n.label),
            None => n.label.clone(),
        })
        .collect();
    let table: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "node": n.label,
                "verdict": n.status.as_str(),
                "root_cause": n.root_cause.unwrap_or(""),
                "summary": n.summary,
            })
        })
        .collect();
    // A node that does not take the TCP connection is skipped by a client that tries the
    // next address (most libraries walk getaddrinfo's list; after a timeout when the node is
    // silent); only a client that takes one address fails. Above TCP there is no next address:
    // a refused handshake or CONNECT is that connection's end.
    let tcp_only = failing
        .iter()
        .all(|n| n.root_cause.is_some_and(|id| id.starts_with("tcp.")));
    let (status, consequence) = if tcp_only {
        (
            Status::Warn,
            format!(
                "Clients that try the next address when one does not connect get through (after \
                 their connect timeout when a node does not answer); clients that use only the \
                 address they are handed (many embedded stacks) fail: {}.",
                share(failing.len(), nodes.len())
            ),
        )
    } else {
        (
            Status::Fail,
            format!(
                "A client is handed one node or another (DNS round robin, a load balancer), so \
                 {}, and retrying often seems to fix it.",
                share(failing.len(), nodes.len())
            ),
        )
    };
    let v6_only = tcp_only
        && failing
            .iter()
            .all(|n| n.address.is_some_and(|a| a.is_ipv6()));
    let fix = if v6_only {
        "Only IPv6 addresses fail. Either give this machine working IPv6, make the broker listen \
         on IPv6 too, or remove the name's AAAA record."
    } else {
        "Each failing node's own findings (marked with its address) name its cause and fix. \
         Compare that node's configuration with a healthy node's (certificate files, password \
         and ACL files, listeners), and take it out of rotation (its DNS record, its load \
         balancer backend) until it is repaired."
    };
    Finding::new(
        &CLUSTER_NODES_FAIL,
        format!(
            "{} of {} nodes fail: {}. {consequence}",
            failing.len(),
            nodes.len(),
            causes.join(", "),
        ),
    )
    .with_status(status)
    .with_evidence("failing", failing.len() as u64)
    .with_evidence("nodes_checked", nodes.len() as u64)
    .with_evidence("nodes", Value::Array(table))
    .with_fix(fix)
}

/// "about one connection in three", "about two connections in three".
fn share(failing: usize, total: usize) -> String {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    let word = |n: usize| {
        WORDS
            .get(n)
            .map_or_else(|| n.to_string(), |w| w.to_string())
    };
    if failing == 1 {
        format!("about one connection in {} fails", word(total))
    } else {
        format!(
            "about {} connections in {} fail",
            word(failing),
            word(total)
        )
    }
}

fn certificates_differ(nodes: &[NodeView<'_>]) -> Option<Finding> {
    let with_cert: Vec<(&NodeView, &crate::observations::CertificateFacts)> = nodes
        .iter()
        .filter_map(|n| Some((n, n.observed.certificate.as_ref()?)))
        .collect();
    let mut groups: BTreeMap<&str, Vec<&NodeView>> = BTreeMap::new();
    for (node, cert) in &with_cert {
        groups.entry(cert.sha256.as_str()).or_default().push(node);
    }
    if groups.len() < 2 {
        return None;
    }
    let rows: Vec<Value> = with_cert
        .iter()
        .map(|(node, cert)| {
            let mut names = cert.dns_names.clone();
            names.extend(cert.ip_addresses.iter().cloned());
            json!({
                "node": node.label,
                "sha256": cert.sha256.get(..16).unwrap_or(&cert.sha256),
                "names": names.join(", "),
                "issuer": cert.issuer,
                "expires": certs::timestamp_text(cert.not_after),
                "trusted": cert.trusted,
            })
        })
        .collect();
    // What differs, in words: the facts a person compares first.
    let first = with_cert[0].1;
    let mut differs = Vec::new();
    if with_cert
        .iter()
        .any(|(_, c)| c.dns_names != first.dns_names || c.ip_addresses != first.ip_addresses)
    {
        differs.push("names");
    }
    if with_cert.iter().any(|(_, c)| c.issuer != first.issuer) {
        differs.push("issuer");
    }
    // Certificates issued per node minutes apart are not a difference; a renewal missed on one
    // node is.
    if with_cert
        .iter()
        .any(|(_, c)| (c.not_after - first.not_after).abs() > 86_400)
    {
        differs.push("expiry");
    }
    let what = if differs.is_empty() {
        "the same names, issuer and expiry but different keys or serials".to_string()
    } else {
        format!("differing in {}", differs.join(", "))
    };
    let untrusted: Vec<&str> = with_cert
        .iter()
        .filter(|(_, c)| !c.trusted)
        .map(|(n, _)| n.label.as_str())
        .collect();
    let mut detail = format!(
        "The {} nodes present {} different certificates, {what}.",
        with_cert.len(),
        groups.len()
    );
    let status = if untrusted.is_empty() || untrusted.len() == with_cert.len() {
        detail.push_str(
            " A client that pins a certificate, or caches one node's, fails on the others, and a \
             certificate renewed on one node only expires on the rest.",
        );
        Status::Warn
    } else {
        detail.push_str(&format!(
            " The certificate of {} is not accepted: clients fail on that node and pass on the \
             others.",
            untrusted.join(", ")
        ));
        Status::Fail
    };
    Some(
        Finding::new(&CLUSTER_CERTIFICATES_DIFFER, detail)
            .with_status(status)
            .with_evidence("certificates", Value::Array(rows))
            .with_fix(
                "Deploy the same certificate and key to every node (or certificates from one CA \
                 with the same names and renewal date), and reload each node. Compare them from \
                 here:\n  openssl s_client -connect ADDRESS:PORT -servername NAME </dev/null \
                 2>/dev/null | openssl x509 -noout -fingerprint -sha256 -subject -ext \
                 subjectAltName -enddate",
            ),
    )
}

fn capabilities_differ(nodes: &[NodeView<'_>]) -> Option<Finding> {
    let answered: Vec<(&NodeView, &crate::observations::ConnackFacts)> = nodes
        .iter()
        .filter_map(|n| Some((n, n.observed.connack.as_ref()?)))
        .collect();
    if answered.len() < 2 {
        return None;
    }
    // Every property, with each node's value; only those that differ are kept.
    let mut properties: Vec<(&'static str, Vec<String>)> = vec![
        (
            "protocol",
            answered.iter().map(|(_, c)| c.protocol.clone()).collect(),
        ),
        (
            "broker",
            answered
                .iter()
                .map(|(_, c)| c.broker.clone().unwrap_or_else(|| "unknown".into()))
                .collect(),
        ),
    ];
    let rows: Vec<_> = answered
        .iter()
        .map(|(_, c)| c.capabilities.rows())
        .collect();
    for (i, (name, _)) in rows[0].iter().enumerate() {
        properties.push((name, rows.iter().map(|r| r[i].1.clone()).collect()));
    }
    properties.retain(|(name, values)| {
        // The broker family is a guess from the CONNACK; a node it could not place is not a
        // different broker (a changed limit is enough to hide Mosquitto's defaults).
        let known: Vec<&String> = values
            .iter()
            .filter(|v| *name != "broker" || v.as_str() != "unknown")
            .collect();
        known.iter().any(|v| *v != known[0])
    });
    if properties.is_empty() {
        return None;
    }
    let table: Vec<Value> = answered
        .iter()
        .enumerate()
        .map(|(i, (node, _))| {
            let mut row = serde_json::Map::new();
            row.insert("node".into(), json!(node.label));
            for (name, values) in &properties {
                row.insert((*name).into(), json!(values[i]));
            }
            Value::Object(row)
        })
        .collect();
    let described: Vec<String> = properties
        .iter()
        .map(|(name, values)| {
            let shown: Vec<String> = answered
                .iter()
                .zip(values)
                .map(|((node, _), value)| format!("{value} on {}", node.label))
                .collect();
            format!("{name} is {}", shown.join(", "))
        })
        .collect();
    Some(
        Finding::new(
            &CLUSTER_CAPABILITIES_DIFFER,
            format!(
                "The nodes answer the same CONNECT differently: {}. A client tuned to one node \
                 breaks on another (a message that fits one node's maximum packet size is \
                 refused by the next), and a client reconnecting to another node finds other \
                 rules.",
                described.join("; ")
            ),
        )
        .with_evidence("capabilities", Value::Array(table))
        .with_fix(
            "Give every node the same listener and limits configuration (Mosquitto \
             max_packet_size, max_inflight_messages, max_qos, retain_available; EMQX \
             mqtt.max_packet_size and zone settings) and the same broker version, then reload \
             them.",
        ),
    )
}

/// A step's time in a node's observations.
type Phase = fn(&Observations) -> Option<f64>;

fn slow_node(nodes: &[NodeView<'_>]) -> Option<Finding> {
    let phases: [(&str, Phase); 3] = [
        ("TCP connect", |o| o.connect_ms),
        ("TLS handshake", |o| o.tls_handshake_ms),
        ("CONNACK", |o| o.connack_ms),
    ];
    let mut slow = Vec::new();
    let mut rows = Vec::new();
    for (phase, time) in phases {
        let timed: Vec<(&NodeView, f64)> = nodes
            .iter()
            .filter_map(|n| Some((n, time(n.observed)?)))
            .collect();
        if timed.len() < 2 {
            continue;
        }
        let Some((slowest, worst)) = timed.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            continue;
        };
        let mut others: Vec<f64> = timed
            .iter()
            .filter(|(n, _)| n.label != slowest.label)
            .map(|(_, t)| *t)
            .collect();
        others.sort_by(f64::total_cmp);
        let median = others[others.len() / 2];
        if worst > median * SLOW_FACTOR && worst - median > SLOW_MARGIN_MS {
            slow.push(format!(
                "{} took {worst:.1} ms for the {phase} where the other nodes took {median:.1} ms",
                slowest.label
            ));
            rows.push(json!({
                "node": slowest.label,
                "step": phase,
                "ms": worst,
                "others_median_ms": median,
            }));
        }
    }
    if slow.is_empty() {
        return None;
    }
    Some(
        Finding::new(
            &CLUSTER_SLOW_NODE,
            format!(
                "{}. Clients handed that node connect slowly, or time out where others do not.",
                slow.join("; ")
            ),
        )
        .with_evidence("slow", Value::Array(rows))
        .with_fix(
            "Look at that node's load, its network path and its logs (a node busy rebalancing \
             sessions, a full disk, a saturated link).",
        ),
    )
}

fn consistent(nodes: &[NodeView<'_>]) -> Finding {
    let mut same = Vec::new();
    if nodes.iter().any(|n| n.observed.certificate.is_some()) {
        same.push("the same certificate");
    }
    if nodes.iter().any(|n| n.observed.connack.is_some()) {
        same.push("the same CONNACK capabilities");
    }
    let same = if same.is_empty() {
        "the same results".to_string()
    } else {
        same.join(" and ")
    };
    let labels: Vec<&str> = nodes.iter().map(|n| n.label.as_str()).collect();
    Finding::new(
        &CLUSTER_CONSISTENT,
        format!(
            "All {} nodes passed with {same}: {}.",
            nodes.len(),
            labels.join(", ")
        ),
    )
    .with_evidence("nodes", json!(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observations::{Capabilities, CertificateFacts, ConnackFacts};

    fn node<'a>(label: &str, status: Status, observed: &'a Observations) -> NodeView<'a> {
        NodeView {
            label: label.into(),
            address: None,
            status,
            root_cause: (status == Status::Fail).then_some("tls.name_mismatch"),
            summary: "a summary",
            observed,
        }
    }

    fn observed(sha: &str, packet: Option<u32>, connack_ms: f64) -> Observations {
        Observations {
            connect_ms: Some(0.2),
            tls_handshake_ms: Some(3.0),
            certificate: Some(CertificateFacts {
                sha256: sha.into(),
                subject: "CN=broker".into(),
                issuer: "CN=ca".into(),
                dns_names: vec!["broker.test".into()],
                ip_addresses: vec![],
                not_after: 2_000_000_000,
                trusted: true,
            }),
            connack_ms: Some(connack_ms),
            connack: Some(ConnackFacts {
                protocol: "5".into(),
                code: 0,
                capabilities: Capabilities {
                    maximum_packet_size: packet,
                    ..Capabilities::default()
                },
                broker: None,
                broker_confidence: None,
            }),
            ..Observations::default()
        }
    }

    #[test]
    fn the_share_of_failing_connections_reads_as_words() {
        assert_eq!(share(1, 3), "about one connection in three fails");
        assert_eq!(share(2, 3), "about two connections in three fail");
        assert_eq!(share(1, 20), "about one connection in 20 fails");
    }

    #[test]
    fn alike_nodes_are_consistent() {
        let a = observed("aa", None, 1.0);
        let nodes = [node("n1", Status::Pass, &a), node("n2", Status::Pass, &a)];
        let found = compare(&nodes, None);
        let ids: Vec<&str> = found.findings.iter().map(Finding::id).collect();
        assert_eq!(ids, ["cluster.consistent"]);
        assert_eq!(found.summary, "2 nodes answer alike");
    }

    #[test]
    fn one_failing_node_of_three_is_named_with_its_cause_and_share() {
        let ok = observed("aa", None, 1.0);
        let bad = observed("bb", None, 1.0);
        let nodes = [
            node("n1", Status::Pass, &ok),
            node("n2", Status::Fail, &bad),
            node("n3", Status::Pass, &ok),
        ];
        let found = compare(&nodes, None);
        assert_eq!(found.summary, "1 of 3 nodes fail");
        let fail = &found.findings[0];
        assert_eq!(fail.id(), "cluster.nodes_fail");
        assert!(
            fail.detail.contains("n2 (tls.name_mismatch)"),
            "{}",
            fail.detail
        );
        assert!(fail.detail.contains("about one connection in three fails"));
        assert_eq!(found.findings[1].id(), "cluster.certificates_differ");
    }

    #[test]
    fn a_different_packet_size_is_a_capability_warning_naming_each_value() {
        let a = observed("aa", None, 1.0);
        let b = observed("aa", Some(1024), 1.0);
        let nodes = [node("n1", Status::Pass, &a), node("n2", Status::Pass, &b)];
        let found = compare(&nodes, None);
        let warning = &found.findings[0];
        assert_eq!(warning.id(), "cluster.capabilities_differ");
        assert!(
            warning
                .detail
                .contains("maximum_packet_size is default on n1, 1024 on n2"),
            "{}",
            warning.detail
        );
        assert_eq!(found.summary, "2 nodes pass; their capabilities differ");
    }

    #[test]
    fn only_a_node_far_slower_than_the_rest_is_slow() {
        let fast = observed("aa", None, 1.0);
        let slow = observed("aa", None, 300.0);
        let slightly = observed("aa", None, 4.0);
        let nodes = [
            node("n1", Status::Pass, &fast),
            node("n2", Status::Pass, &slow),
            node("n3", Status::Pass, &fast),
        ];
        assert!(
            compare(&nodes, None)
                .findings
                .iter()
                .any(|f| f.id() == "cluster.slow_node" && f.detail.starts_with("n2 took 300.0"))
        );
        let nodes = [
            node("n1", Status::Pass, &fast),
            node("n2", Status::Pass, &slightly),
        ];
        assert!(
            !compare(&nodes, None)
                .findings
                .iter()
                .any(|f| f.id() == "cluster.slow_node")
        );
    }
}
