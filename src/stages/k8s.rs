//! K8s stage: the client's settings against Azure IoT Operations' own resources
//! (`--k8s-resources`), before any connection.
//!
//! A refused AIO client gets CONNACK 0x86 and nothing else (seed guide 000: a wrong audience,
//! port 1883 against 18883, a short Service name from another namespace). `az iot ops check`
//! only tells that the BrokerListener, BrokerAuthentication and BrokerAuthorization exist; the
//! answers are in their values: which Service and ports the listener has, which port speaks TLS,
//! which audiences the ServiceAccountToken method accepts, which rule lets this client connect
//! and publish. This stage compares them with the run's target, TLS options, token and topics,
//! names the resource and field each answer comes from, and gives the `kubectl` change or the
//! client-side change. It needs no network and runs first, so that a refusal it predicts is the
//! root cause rather than the symptom (a refused port, a CONNACK code) it explains.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::config::{CredentialSource, DoctorConfig, K8sInput};
use crate::files::read_capped;
use crate::findings::Finding;
use crate::findings::Status;
use crate::findings::registry::{
    K8S_AIO_NOT_FOUND, K8S_API_FORBIDDEN, K8S_API_UNAUTHORIZED, K8S_API_UNAVAILABLE,
    K8S_AUDIENCE_REJECTED, K8S_AUTH_METHOD_MISMATCH, K8S_CONNECT_DENIED, K8S_CONSISTENT,
    K8S_DANGLING_REF, K8S_LISTENER_UNKNOWN, K8S_PORT_MISMATCH, K8S_SERVICE_MISMATCH,
    K8S_TLS_MISMATCH, K8S_TLS_TRUST, K8S_TOPIC_DENIED,
};
use crate::k8s::{
    AuthenticationSpec, AuthorizationSpec, GROUP, ListenerPort, ListenerSpec, Named, ParseError,
    Resources, Rule,
};
use crate::k8s_api::{AIO_VERSION, ApiError, ApiSettings, Kind, ListError, Lists};
use crate::stages::context::{Context, StageOutput};
use crate::target::Host;

/// AIO's default certificate issuer, used when a port's Automatic TLS names none.
const AIO_ISSUER: &str = "azure-iot-operations-aio-certificate-issuer";
/// Where AIO publishes the CA of its default issuer for clients.
const AIO_TRUST_BUNDLE: &str = "azure-iot-operations-aio-ca-trust-bundle";
/// Tokens are a few kilobytes; a larger file is not read here (the auth stage says why).
const MAX_TOKEN_FILE: u64 = 64 * 1024;
/// At most this many names are listed in a finding (listeners, ports, rules).
const MAX_LISTED: usize = 20;

pub(crate) async fn run(ctx: &mut Context<'_>) -> StageOutput {
    match &ctx.config.k8s {
        Some(K8sInput::Resources(resources)) => {
            let (summary, findings) = check(ctx.config, resources);
            StageOutput::done(summary, findings)
        }
        Some(K8sInput::Api(api)) => {
            let lists = api.lists(ctx.config.timeout, ctx.deadline()).await;
            let (summary, findings) = from_api(ctx.config, &api.settings, &lists);
            StageOutput::done(summary, findings)
        }
        None => StageOutput::not_applicable("no --k8s-resources or --k8s-api given"),
    }
}

/// The checks on what `--k8s-api` fetched, and a finding for what it could not.
fn from_api(
    config: &DoctorConfig,
    settings: &ApiSettings,
    lists: &Result<Lists, ApiError>,
) -> (String, Vec<Finding>) {
    let endpoint = settings.endpoint();
    let lists = match lists {
        Ok(lists) => lists,
        Err(error) => {
            let finding = match error {
                ApiError::Unauthorized { message, .. } => Finding::new(
                    &K8S_API_UNAUTHORIZED,
                    format!(
                        "{error}: the token is expired, or its ServiceAccount no longer exists. \
                         Nothing was compared with the cluster's resources."
                    ),
                )
                .with_evidence("endpoint", endpoint.clone())
                .with_evidence("message", message.clone())
                .with_fix(
                    "Restart the pod for a fresh token, and check that its ServiceAccount exists \
                     (`kubectl get serviceaccount -n NAMESPACE`); or give the resources with \
                     --k8s-resources from a machine with kubectl.",
                ),
                _ => Finding::new(
                    &K8S_API_UNAVAILABLE,
                    format!(
                        "The cluster's resources could not be fetched: {error}. Nothing was \
                         compared with them."
                    ),
                )
                .with_evidence("endpoint", endpoint.clone())
                .with_evidence("namespace", settings.namespace.clone())
                .with_evidence("problem", error.to_string())
                .with_fix(unavailable_fix(error)),
            };
            return (finding.def.title.to_string(), vec![finding]);
        }
    };
    let mut findings = Vec::new();
    let forbidden: Vec<Kind> = lists
        .failed
        .iter()
        .filter(|(_, e)| matches!(e, ListError::Forbidden { .. }))
        .map(|(k, _)| *k)
        .collect();
    let not_found = lists
        .failed
        .iter()
        .find(|(k, e)| k.group() == GROUP && matches!(e, ListError::NotFound { .. }));
    if let Some((kind, _)) = not_found {
        findings.push(
            Finding::new(
                &K8S_AIO_NOT_FOUND,
                format!(
                    "Azure IoT Operations' resources are not in this cluster: the API server at \
                     {endpoint} has no {}/{AIO_VERSION} {} (404 Not Found), so AIO's CRDs are \
                     not installed. Nothing was compared.",
                    kind.group(),
                    kind.resource()
                ),
            )
            .with_evidence("endpoint", endpoint.clone())
            .with_evidence("namespace", lists.namespace.clone())
            .with_evidence("path", kind.path(&lists.namespace))
            .with_fix(
                "If the broker runs in another cluster, run the doctor there, or give its \
                 resources with --k8s-resources (`kubectl get brokers,brokerlisteners,\
                 brokerauthentications,brokerauthorizations,services -A -o json` against that \
                 cluster).",
            ),
        );
    }
    if !forbidden.is_empty() {
        findings.push(forbidden_finding(settings, lists, &forbidden));
    }
    for (kind, error) in &lists.failed {
        if matches!(
            error,
            ListError::Status { .. } | ListError::TooLarge | ListError::NotFound { .. }
        ) && !(kind.group() == GROUP && matches!(error, ListError::NotFound { .. }))
        {
            findings.push(
                Finding::new(
                    &K8S_API_UNAVAILABLE,
                    format!(
                        "The API server at {endpoint} did not give the {} of namespace {}: \
                         {error}.",
                        kind.qualified(),
                        lists.namespace
                    ),
                )
                .with_evidence("endpoint", endpoint.clone())
                .with_evidence("namespace", lists.namespace.clone())
                .with_evidence("resource", kind.qualified())
                .with_evidence("problem", error.to_string())
                .with_fix(
                    "Run again; if it persists, give the resources with --k8s-resources from a \
                     machine with kubectl.",
                ),
            );
        }
    }
    let resources = match &lists.resources {
        None => {
            let summary = findings
                .first()
                .map(|f| f.def.title.to_string())
                .unwrap_or_else(|| "no BrokerListener could be read".into());
            return (summary, findings);
        }
        Some(Err(ParseError::NoListener { found })) => {
            findings.push(
                Finding::new(
                    &K8S_AIO_NOT_FOUND,
                    format!(
                        "Namespace {} holds no BrokerListener ({found}): Azure IoT Operations' \
                         broker runs in another namespace, or not in this cluster. Nothing was \
                         compared.",
                        lists.namespace
                    ),
                )
                .with_evidence("endpoint", endpoint.clone())
                .with_evidence("namespace", lists.namespace.clone())
                .with_evidence("path", Kind::BrokerListener.path(&lists.namespace))
                .with_fix(
                    "Give the broker's namespace with --k8s-namespace NS (`kubectl get \
                     brokerlisteners -A` lists them).",
                ),
            );
            return (findings[findings.len() - 1].def.title.to_string(), findings);
        }
        Some(Err(error)) => {
            findings.push(
                Finding::new(
                    &K8S_API_UNAVAILABLE,
                    format!(
                        "The API server's answers could not be read as AIO's resources: {error}. \
                         Nothing was compared."
                    ),
                )
                .with_evidence("endpoint", endpoint.clone())
                .with_evidence("namespace", lists.namespace.clone())
                .with_evidence("problem", error.to_string())
                .with_fix(
                    "Check the AIO version (the doctor reads mqttbroker.iot.azure.com/v1), or \
                     give the resources with --k8s-resources.",
                ),
            );
            return (findings[findings.len() - 1].def.title.to_string(), findings);
        }
        Some(Ok(resources)) => resources,
    };
    let (summary, checked) = check(config, resources);
    findings.extend(checked);
    (summary, findings)
}

/// What to do when the API server could not be asked at all.
fn unavailable_fix(error: &ApiError) -> String {
    let kubectl = "Or give the resources from a machine with kubectl: `kubectl get \
                   brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services \
                   -A -o json | mqtt-doctor doctor --k8s-resources - ...`.";
    let first = match error {
        ApiError::Token { .. } | ApiError::Ca { .. } => {
            "Mount the pod's ServiceAccount token (`automountServiceAccountToken: true`, the \
             default), or point MQTT_DOCTOR_ROOT at a copy of the pod's filesystem that has it."
        }
        ApiError::Connect { .. } | ApiError::Timeout { .. } => {
            "Allow the pod to reach the API server (a NetworkPolicy may block egress to it; \
             `kubectl get endpoints kubernetes -n default` gives its addresses)."
        }
        ApiError::Tls { .. } => {
            "The API server's certificate must chain to the pod's ca.crt and name the host the \
             doctor was given (KUBERNETES_SERVICE_HOST); a proxy or a wrong host in between \
             breaks that."
        }
        ApiError::Http { .. } | ApiError::Unauthorized { .. } => "Run again.",
    };
    format!("{first} {kubectl}")
}

/// 403 on some lists: which checks that leaves out, and the Role and RoleBinding that fix it.
fn forbidden_finding(settings: &ApiSettings, lists: &Lists, forbidden: &[Kind]) -> Finding {
    let ns = &lists.namespace;
    let refused: Vec<String> = forbidden
        .iter()
        .map(|k| format!("list {} in namespace {ns}", k.qualified()))
        .collect();
    let not_checked: Vec<&str> = forbidden
        .iter()
        .filter_map(|k| match k {
            Kind::BrokerListener => Some("everything (no listener to compare with)"),
            Kind::BrokerAuthentication => Some("the token's audience and authentication method"),
            Kind::BrokerAuthorization => {
                Some("whether the client may connect, publish and subscribe")
            }
            Kind::Service => Some("which listener an address reaches"),
            Kind::Broker => None,
        })
        .collect();
    let message = lists.failed.iter().find_map(|(_, e)| match e {
        ListError::Forbidden { message } if !message.is_empty() => Some(message.clone()),
        _ => None,
    });
    let (sa_ns, sa_name) = &settings.service_account;
    let sa_ns = sa_ns.as_deref().unwrap_or("POD-NAMESPACE");
    let sa_name = sa_name.as_deref().unwrap_or("SERVICE-ACCOUNT");
    let yaml = rbac_yaml(ns, sa_ns, sa_name);
    let indented: String = yaml.lines().map(|l| format!("  {l}\n")).collect();
    Finding::new(
        &K8S_API_FORBIDDEN,
        format!(
            "The pod's ServiceAccount {sa_ns}/{sa_name} may not {} (403 Forbidden), so {} could \
             not be checked; the checks the other resources allow still ran.",
            refused.join(", "),
            if not_checked.is_empty() {
                "nothing the doctor compares".to_string()
            } else {
                not_checked.join("; ")
            }
        ),
    )
    .with_evidence("forbidden", refused)
    .with_evidence("not_checked", not_checked)
    .with_evidence("message", message)
    .with_fix(format!(
        "Give it get and list on AIO's resources and Services in namespace {ns} with this Role \
         and RoleBinding (`kubectl apply -f rbac.yaml`):\n{indented}"
    ))
}

/// The Role (get and list on the five kinds in `namespace`) and the RoleBinding to the pod's
/// ServiceAccount that `--k8s-api` needs.
pub(crate) fn rbac_yaml(namespace: &str, sa_namespace: &str, sa_name: &str) -> String {
    let aio: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| k.group() == GROUP)
        .map(|k| k.resource())
        .collect();
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: mqtt-doctor
  namespace: {namespace}
rules:
- apiGroups: [\"{GROUP}\"]
  resources: [{}]
  verbs: [\"get\", \"list\"]
- apiGroups: [\"\"]
  resources: [\"services\"]
  verbs: [\"get\", \"list\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: mqtt-doctor
  namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: mqtt-doctor
subjects:
- kind: ServiceAccount
  name: {sa_name}
  namespace: {sa_namespace}
",
        aio.iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// What the client presents, as far as the resources can judge it.
struct Client {
    /// The token's audiences and ServiceAccount (`NAMESPACE/NAME`), when it is a readable JWT.
    token: Option<TokenFacts>,
    /// A token is given at all (readable or not).
    has_token: bool,
    sat: bool,
    cert: bool,
    username: Option<String>,
    client_id: Option<String>,
    /// The namespace the client runs in: the pod's, else the token's ServiceAccount's.
    namespace: Option<String>,
}

struct TokenFacts {
    audiences: Vec<String>,
    service_account: Option<(String, String)>,
}

fn client(config: &DoctorConfig) -> Client {
    let token = config.auth.token.as_ref().and_then(token_facts);
    let namespace = config
        .pod
        .as_ref()
        .and_then(|p| p.namespace.clone())
        .or_else(|| {
            token
                .as_ref()
                .and_then(|t| t.service_account.as_ref())
                .map(|(ns, _)| ns.clone())
        });
    Client {
        has_token: config.auth.token.is_some(),
        sat: config.auth.token.is_some()
            && config
                .mqtt
                .auth_method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("K8S-SAT")),
        cert: config.tls.cert.is_some() && config.uses_tls(),
        username: config.auth.username.clone(),
        client_id: config.mqtt.client_id.clone(),
        namespace,
        token,
    }
}

/// The claims that are not secret: audiences and the ServiceAccount. The token itself stays here.
fn token_facts(source: &CredentialSource) -> Option<TokenFacts> {
    let bytes = match source {
        CredentialSource::Value(secret) | CredentialSource::Stdin(secret) => {
            secret.expose().to_vec()
        }
        CredentialSource::File(path) => read_capped(path, MAX_TOKEN_FILE).ok()?,
    };
    let text = String::from_utf8(bytes).ok()?;
    let jwt = crate::jwt::decode(text.trim()).ok()?;
    let service_account = jwt
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("system:serviceaccount:"))
        .and_then(|s| s.split_once(':'))
        .map(|(ns, name)| (ns.to_string(), name.to_string()));
    Some(TokenFacts {
        audiences: jwt.audiences().unwrap_or_default(),
        service_account,
    })
}

/// The listener port the target reaches, and how.
struct Matched<'a> {
    listener: &'a Named<ListenerSpec>,
    index: usize,
    port: &'a ListenerPort,
    /// `spec.ports[i].port`, or `nodePort` (from outside the cluster).
    field: &'static str,
}

pub(crate) fn check(config: &DoctorConfig, resources: &Resources) -> (String, Vec<Finding>) {
    let client = client(config);
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    let candidates = match listeners_for(config, resources, &client, &mut findings) {
        Some(candidates) => candidates,
        None => return (summary(resources, &findings), findings),
    };
    let Some(matched) = port_for(config, &candidates, &mut findings) else {
        return (summary(resources, &findings), findings);
    };
    let listener = matched.listener;
    let at = format!(
        "BrokerListener {}: spec.ports[{}]",
        listener.name, matched.index
    );
    checked.push(format!(
        "port {} of BrokerListener {}/{} (Service {})",
        config.target.port,
        listener.namespace,
        listener.name,
        listener.spec.service()
    ));
    tls(config, &matched, &at, &mut findings, &mut checked);
    let authn = authentication(
        resources,
        &matched,
        &at,
        &client,
        &mut findings,
        &mut checked,
    );
    authorization(
        config,
        resources,
        &matched,
        &at,
        &client,
        authn,
        &mut findings,
        &mut checked,
    );
    if !findings
        .iter()
        .any(|f| matches!(f.status, Status::Warn | Status::Fail))
    {
        findings.push(
            Finding::new(
                &K8S_CONSISTENT,
                format!(
                    "The client's settings match the cluster's resources: {}.",
                    checked.join("; ")
                ),
            )
            .with_evidence("resources", resources.source.clone())
            .with_evidence(
                "listener",
                format!("{}/{}", listener.namespace, listener.name),
            )
            .with_evidence("port", format!("{at}.{}", matched.field)),
        );
    }
    (summary(resources, &findings), findings)
}

fn summary(resources: &Resources, findings: &[Finding]) -> String {
    // The worst finding names the stage; the first of them when several are as bad.
    let worst = findings
        .iter()
        .filter(|f| matches!(f.status, Status::Warn | Status::Fail))
        .fold(None::<&Finding>, |acc, f| match acc {
            Some(a) if a.status.max(f.status) == a.status => Some(a),
            _ => Some(f),
        });
    match worst {
        Some(finding) => format!(
            "{} (checked against {})",
            finding.def.title, resources.source
        ),
        None => format!("matches {}", resources.summary()),
    }
}

/// The listeners whose Service the target names (or whose addresses it is).
fn listeners_for<'a>(
    config: &DoctorConfig,
    resources: &'a Resources,
    client: &Client,
    findings: &mut Vec<Finding>,
) -> Option<Vec<&'a Named<ListenerSpec>>> {
    let all: Vec<String> = resources
        .listeners
        .iter()
        .take(MAX_LISTED)
        .map(|l| {
            format!(
                "{} (BrokerListener {}/{})",
                service_fqdn(l),
                l.namespace,
                l.name
            )
        })
        .collect();
    let host = match &config.target.host {
        Host::Name(name) => name.trim_end_matches('.').to_ascii_lowercase(),
        Host::Ip(ip) => ip.to_string(),
    };
    // An address or a load balancer's host name: the Services say whose it is.
    let by_address: Vec<&Named<ListenerSpec>> = resources
        .listeners
        .iter()
        .filter(|l| {
            resources
                .service(&l.namespace, l.spec.service())
                .is_some_and(|s| {
                    s.spec.addresses.contains(&host)
                        || s.spec
                            .hostnames
                            .iter()
                            .any(|h| h.eq_ignore_ascii_case(&host))
                })
        })
        .collect();
    if !by_address.is_empty() {
        return Some(by_address);
    }
    let labels: Vec<&str> = host.split('.').collect();
    let cluster_name = labels.len() == 1
        || host.ends_with(".svc")
        || host.contains(".svc.")
        || (labels.len() == 2
            && resources
                .listeners
                .iter()
                .any(|l| l.namespace.eq_ignore_ascii_case(labels[1])));
    let mut by_name = Vec::new();
    let mut short_elsewhere = Vec::new();
    for listener in &resources.listeners {
        let service = listener.spec.service().to_ascii_lowercase();
        let namespace = listener.namespace.to_ascii_lowercase();
        if labels[0] != service {
            continue;
        }
        match labels.get(1) {
            None => match &client.namespace {
                Some(ns) if ns.to_ascii_lowercase() != namespace => short_elsewhere.push(listener),
                _ => by_name.push(listener),
            },
            Some(ns) if *ns == namespace => {
                // `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster domain>`.
                if labels.len() == 2 || labels.get(2) == Some(&"svc") {
                    by_name.push(listener);
                }
            }
            Some(_) => {}
        }
    }
    if !by_name.is_empty() {
        return Some(by_name);
    }
    let Host::Name(_) = &config.target.host else {
        findings.push(
            Finding::new(
                &K8S_LISTENER_UNKNOWN,
                format!(
                    "No Service in {} has the address {host}, so which listener it reaches cannot \
                     be told; the listeners' Services are {}. Nothing more was compared.",
                    resources.source,
                    all.join(", ")
                ),
            )
            .with_evidence("target_host", host.clone())
            .with_evidence("listeners", all)
            .with_fix(
                "Give the Services too (`kubectl get services -A -o json` in the same list), or \
                 target the listener's Service by name.",
            ),
        );
        return None;
    };
    if let Some(listener) = short_elsewhere.first() {
        let fqdn = service_fqdn(listener);
        findings.push(
            Finding::new(
                &K8S_SERVICE_MISMATCH,
                format!(
                    "`{host}` is the short name of Service {} in namespace {}, but this client \
                     runs in namespace {}: there the short name means a Service of its own \
                     namespace, not the broker's. Use {fqdn}.",
                    listener.spec.service(),
                    listener.namespace,
                    client.namespace.as_deref().unwrap_or("?")
                ),
            )
            .with_evidence("target_host", host.clone())
            .with_evidence(
                "listener",
                format!(
                    "BrokerListener {}: spec.serviceName ({}, namespace {})",
                    listener.name,
                    listener.spec.service(),
                    listener.namespace
                ),
            )
            .with_evidence("client_namespace", client.namespace.clone())
            .with_fix(format!(
                "Point the client at {fqdn}:{} (the full name works from every namespace).",
                config.target.port
            )),
        );
        // The listener meant is known: the rest is compared with it, so that one run names
        // every mistake (the seed guide's client had the short name and the wrong port).
        return Some(short_elsewhere);
    }
    if cluster_name {
        findings.push(
            Finding::new(
                &K8S_SERVICE_MISMATCH,
                format!(
                    "`{host}` is no BrokerListener's Service: the listeners in {} are {}.",
                    resources.source,
                    all.join(", ")
                ),
            )
            .with_evidence("target_host", host.clone())
            .with_evidence("listeners", all.clone())
            .with_fix(format!(
                "Point the client at one of: {}. `kubectl get brokerlisteners -A -o \
                 custom-columns=NAME:.metadata.name,NAMESPACE:.metadata.namespace,SERVICE:.spec.serviceName` \
                 lists them.",
                resources
                    .listeners
                    .iter()
                    .take(MAX_LISTED)
                    .map(service_fqdn)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
        return None;
    }
    findings.push(
        Finding::new(
            &K8S_LISTENER_UNKNOWN,
            format!(
                "`{host}` is not a cluster Service name, and no Service in {} has it as its load \
                 balancer's name, so which listener it reaches cannot be told; the listeners' \
                 Services are {}. Nothing more was compared.",
                resources.source,
                all.join(", ")
            ),
        )
        .with_evidence("target_host", host)
        .with_evidence("listeners", all)
        .with_fix(
            "Give the Services too (`kubectl get services -A -o json` in the same list), or \
             target the listener's Service by name from inside the cluster.",
        ),
    );
    None
}

fn service_fqdn(listener: &Named<ListenerSpec>) -> String {
    format!(
        "{}.{}.svc.cluster.local",
        listener.spec.service(),
        listener.namespace
    )
}

/// The port of one of the listeners that the target's port is.
fn port_for<'a>(
    config: &DoctorConfig,
    candidates: &[&'a Named<ListenerSpec>],
    findings: &mut Vec<Finding>,
) -> Option<Matched<'a>> {
    let port = config.target.port;
    for listener in candidates {
        for (index, p) in listener.spec.ports.iter().enumerate() {
            let field = if p.port == Some(port) {
                "port"
            } else if p.node_port == Some(port) {
                "nodePort"
            } else {
                continue;
            };
            let wants_ws = config.target.scheme.is_websocket();
            if wants_ws != p.is_websockets() {
                let speaks = |ws: bool| {
                    if ws {
                        "MQTT over WebSockets"
                    } else {
                        "MQTT over TCP"
                    }
                };
                findings.push(
                    Finding::new(
                        &K8S_PORT_MISMATCH,
                        format!(
                            "Port {port} of BrokerListener {} speaks {}, but the client speaks {}.",
                            listener.name,
                            speaks(p.is_websockets()),
                            speaks(wants_ws)
                        ),
                    )
                    .with_evidence(
                        "field",
                        format!(
                            "BrokerListener {}: spec.ports[{index}].protocol",
                            listener.name
                        ),
                    )
                    .with_evidence("protocol", p.protocol.clone().unwrap_or("Mqtt".into()))
                    .with_fix(if p.is_websockets() {
                        format!(
                            "Use wss://{}:{port}/mqtt (or ws:// without TLS).",
                            config.target.host
                        )
                    } else {
                        format!(
                            "Use mqtts://{}:{port} (or mqtt:// without TLS).",
                            config.target.host
                        )
                    }),
                );
                return None;
            }
            return Some(Matched {
                listener,
                index,
                port: p,
                field,
            });
        }
    }
    let listener = candidates[0];
    let ports: Vec<String> = candidates
        .iter()
        .flat_map(|l| l.spec.ports.iter())
        .take(MAX_LISTED)
        .map(describe_port)
        .collect();
    let suggestion = candidates
        .iter()
        .flat_map(|l| l.spec.ports.iter())
        .find(|p| p.tls_mode().is_some() == config.uses_tls())
        .or_else(|| listener.spec.ports.first())
        .and_then(|p| p.port);
    let mut fix = String::new();
    if let Some(suggested) = suggestion {
        let _ = write!(
            fix,
            "Point the client at port {suggested}: {}:{suggested}. ",
            config.target.host
        );
    }
    let _ = write!(
        fix,
        "Or, to serve port {port}, add it to the listener: `kubectl patch brokerlistener {} -n {} \
         --type json -p '[{{\"op\":\"add\",\"path\":\"/spec/ports/-\",\"value\":{{\"port\":{port},\
         \"authenticationRef\":\"default\"}}}}]'`.",
        listener.name, listener.namespace
    );
    findings.push(
        Finding::new(
            &K8S_PORT_MISMATCH,
            format!(
                "Port {port} is not a port of BrokerListener {}/{} (Service {}): its ports are {}.",
                listener.namespace,
                listener.name,
                listener.spec.service(),
                ports.join(", ")
            ),
        )
        .with_evidence(
            "field",
            format!("BrokerListener {}: spec.ports", listener.name),
        )
        .with_evidence("target_port", port)
        .with_evidence("ports", ports)
        .with_fix(fix),
    );
    None
}

fn describe_port(p: &ListenerPort) -> String {
    let mut text = p.port.map_or("?".into(), |n| n.to_string());
    if let Some(node) = p.node_port {
        let _ = write!(text, " (nodePort {node})");
    }
    match p.tls_mode() {
        Some(mode) => {
            let _ = write!(text, " TLS {mode}");
        }
        None => text.push_str(" without TLS"),
    }
    if p.is_websockets() {
        text.push_str(" WebSockets");
    }
    text
}

fn tls(
    config: &DoctorConfig,
    matched: &Matched<'_>,
    at: &str,
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) {
    let port = config.target.port;
    let mode = matched.port.tls_mode();
    let client_tls = config.uses_tls();
    let name = &matched.listener.name;
    let host = &config.target.host;
    match (mode, client_tls) {
        (Some(mode), false) => {
            findings.push(
                Finding::new(
                    &K8S_TLS_MISMATCH,
                    format!(
                        "Port {port} of BrokerListener {name} speaks TLS (mode {mode}), but the \
                         client connects without TLS: the broker will close the connection at the \
                         first byte."
                    ),
                )
                .with_evidence("field", format!("{at}.tls.mode"))
                .with_evidence("mode", mode.to_string())
                .with_fix(format!(
                    "Connect with TLS: mqtts://{host}:{port}, trusting the listener's CA \
                     (--cafile; for AIO's default issuer the ConfigMap {AIO_TRUST_BUNDLE}, key \
                     ca.crt)."
                )),
            );
        }
        (None, true) => {
            findings.push(
                Finding::new(
                    &K8S_TLS_MISMATCH,
                    format!(
                        "Port {port} of BrokerListener {name} has no TLS, but the client starts a \
                         TLS handshake: the broker reads it as a malformed MQTT packet."
                    ),
                )
                .with_evidence("field", format!("{at}.tls"))
                .with_evidence("mode", Value::Null)
                .with_fix(format!(
                    "Connect without TLS (mqtt://{host}:{port}), or use a port of the listener \
                     with `tls.mode: Automatic`."
                )),
            );
        }
        (None, false) => checked.push("no TLS on either side".into()),
        (Some(mode), true) => trust(config, matched, mode, at, findings, checked),
    }
}

/// Whether the CA the client trusts can be the listener's issuer: what the resources tell
/// (the issuer's name, or the Secret of a Manual port), never the CA itself.
fn trust(
    config: &DoctorConfig,
    matched: &Matched<'_>,
    mode: &str,
    at: &str,
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) {
    let tls = matched.port.tls.as_ref();
    let (source, field) = if mode.eq_ignore_ascii_case("Manual") {
        let secret = tls
            .and_then(|t| t.manual.as_ref())
            .and_then(|m| m.secret_ref.clone())
            .unwrap_or_else(|| "?".into());
        (
            format!("the certificate in Secret {secret}"),
            format!("{at}.tls.manual.secretRef"),
        )
    } else {
        let issuer = tls
            .and_then(|t| t.cert_manager_certificate_spec.as_ref())
            .and_then(|c| c.issuer_ref.as_ref());
        let name = issuer
            .and_then(|i| i.name.clone())
            .unwrap_or_else(|| format!("{AIO_ISSUER} (AIO's default)"));
        let kind = issuer
            .and_then(|i| i.kind.clone())
            .unwrap_or_else(|| "ClusterIssuer".into());
        (
            format!("cert-manager {kind} {name}"),
            format!("{at}.tls.certManagerCertificateSpec.issuerRef.name"),
        )
    };
    let trusts = if config.tls.insecure {
        "nothing (--insecure: the certificate is not verified)".to_string()
    } else if let Some(file) = &config.tls.cafile {
        format!("--cafile {}", file.display())
    } else if let Some(dir) = &config.tls.capath {
        format!("--capath {}", dir.display())
    } else {
        "the system's roots".to_string()
    };
    let private =
        config.tls.cafile.is_none() && config.tls.capath.is_none() && !config.tls.insecure;
    let detail = if private {
        format!(
            "The listener's certificate comes from {source}; the client trusts {trusts}, which \
             hold no cluster-private CA: the handshake will fail unless that issuer chains to a \
             public root (the resources do not tell)."
        )
    } else {
        format!(
            "The listener's certificate comes from {source}; the client trusts {trusts}. Whether \
             that holds the issuer's CA cannot be told from the resources: the TLS stage checks \
             the chain itself."
        )
    };
    let finding = Finding::new(&K8S_TLS_TRUST, detail)
        .with_evidence("field", field)
        .with_evidence("issuer", source.clone())
        .with_evidence("client_trusts", trusts.clone())
        .with_fix(format!(
            "Trust the issuer's CA: for AIO's default issuer, `kubectl get configmap \
             {AIO_TRUST_BUNDLE} -n {} -o jsonpath='{{.data.ca\\.crt}}' > ca.crt`, then \
             --cafile ca.crt (in a pod, mount the ConfigMap and point the client at it).",
            matched.listener.namespace
        ));
    findings.push(if private {
        finding.with_status(Status::Warn)
    } else {
        finding
    });
    checked.push(format!("TLS ({mode}) on both sides"));
}

/// What the authentication check left for authorization: whether the client authenticates at
/// all (a port without authentication has no authorization either).
#[derive(Clone, Copy, PartialEq)]
enum Authn {
    None,
    Some,
}

fn authentication(
    resources: &Resources,
    matched: &Matched<'_>,
    at: &str,
    client: &Client,
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) -> Authn {
    let listener = matched.listener;
    let Some(reference) = &matched.port.authentication_ref else {
        checked.push("no authentication on the port (anyone may connect)".into());
        return Authn::None;
    };
    let Some(authn) = resources.authentication(&listener.namespace, reference) else {
        if resources.unread.iter().any(|k| k == "BrokerAuthentication") {
            checked.push(format!(
                "BrokerAuthentication {reference} not compared: the BrokerAuthentications could \
                 not be read"
            ));
            return Authn::Some;
        }
        let existing = resources
            .authentications
            .iter()
            .map(|a| (&a.namespace, &a.name));
        findings.push(dangling(
            matched,
            at,
            ("BrokerAuthentication", "authenticationRef"),
            reference,
            existing,
        ));
        return Authn::Some;
    };
    sat_or_x509(authn, client, findings, checked);
    Authn::Some
}

fn methods(authn: &Named<AuthenticationSpec>) -> Vec<String> {
    authn
        .spec
        .authentication_methods
        .iter()
        .take(MAX_LISTED)
        .map(|m| m.method.clone().unwrap_or_else(|| "?".into()))
        .collect()
}

fn sat_or_x509(
    authn: &Named<AuthenticationSpec>,
    client: &Client,
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) {
    let name = &authn.name;
    let ns = &authn.namespace;
    let methods_list = methods(authn);
    let mismatch = |detail: String, fix: String| {
        Finding::new(&K8S_AUTH_METHOD_MISMATCH, detail)
            .with_evidence(
                "field",
                format!("BrokerAuthentication {name}: spec.authenticationMethods"),
            )
            .with_evidence("methods", methods_list.clone())
            .with_fix(fix)
    };
    let found = |method: &str| {
        authn
            .spec
            .authentication_methods
            .iter()
            .enumerate()
            .find(|(_, m)| m.is(method))
    };
    if client.sat {
        let Some((index, method)) = found("ServiceAccountToken") else {
            findings.push(mismatch(
                format!(
                    "The client authenticates with a ServiceAccountToken (K8S-SAT), but \
                     BrokerAuthentication {name} has no ServiceAccountToken method (its methods: \
                     {}).",
                    methods_list.join(", ")
                ),
                format!(
                    "Add the method: `kubectl patch brokerauthentication {name} -n {ns} --type \
                     json -p '[{{\"op\":\"add\",\"path\":\"/spec/authenticationMethods/-\",\"value\":\
                     {{\"method\":\"ServiceAccountToken\",\"serviceAccountTokenSettings\":\
                     {{\"audiences\":[\"aio-internal\"]}}}}}}]'`, or authenticate the way it accepts."
                ),
            ));
            return;
        };
        let accepted = method
            .service_account_token_settings
            .as_ref()
            .map(|s| s.audiences.clone())
            .unwrap_or_default();
        let field = format!(
            "BrokerAuthentication {name}: spec.authenticationMethods[{index}].serviceAccountTokenSettings.audiences"
        );
        let Some(token) = &client.token else {
            checked.push(format!(
                "BrokerAuthentication {name} takes ServiceAccountTokens with audiences [{}]; the \
                 token could not be decoded, so its audience was not compared",
                accepted.join(", ")
            ));
            return;
        };
        if token.audiences.iter().any(|a| accepted.contains(a)) {
            let used: Vec<&String> = token
                .audiences
                .iter()
                .filter(|a| accepted.contains(a))
                .collect();
            checked.push(format!(
                "the token's audience {} is one BrokerAuthentication {name} accepts",
                used.first().map_or("", |a| a.as_str())
            ));
            return;
        }
        let shown = if token.audiences.is_empty() {
            "none".to_string()
        } else {
            token
                .audiences
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let first = token.audiences.first().cloned().unwrap_or_default();
        let patch = format!(
            "kubectl patch brokerauthentication {name} -n {ns} --type json -p \
             '[{{\"op\":\"add\",\"path\":\"/spec/authenticationMethods/{index}/serviceAccountTokenSettings/audiences/-\",\"value\":\"{first}\"}}]'"
        );
        let wanted = accepted
            .first()
            .cloned()
            .unwrap_or_else(|| "aio-internal".into());
        findings.push(
            Finding::new(
                &K8S_AUDIENCE_REJECTED,
                format!(
                    "This token will be refused: audience {shown} is not in BrokerAuthentication \
                     `{name}`'s audiences [{}].",
                    accepted.join(", ")
                ),
            )
            .with_evidence("field", field)
            .with_evidence("accepted", accepted.clone())
            .with_evidence("token_audiences", token.audiences.clone())
            .with_fix(format!(
                "Either project the token with an accepted audience (in the pod spec, \
                 `serviceAccountToken: {{path: broker-sat, audience: {wanted}}}`, then restart \
                 the pod), or make the broker accept this one: `{patch}`."
            )),
        );
        return;
    }
    if client.cert {
        match found("X509") {
            Some((index, method)) => checked.push(format!(
                "BrokerAuthentication {name} takes X.509 client certificates (spec.authenticationMethods[{index}], trusted CA ConfigMap {})",
                method
                    .x509_settings
                    .as_ref()
                    .and_then(|x| x.trusted_client_ca_cert.clone())
                    .unwrap_or_else(|| "?".into())
            )),
            None => findings.push(mismatch(
                format!(
                    "The client authenticates with an X.509 certificate, but BrokerAuthentication \
                     {name} has no X509 method (its methods: {}).",
                    methods_list.join(", ")
                ),
                format!(
                    "Authenticate the way it accepts, or add an X509 method with the client CA: \
                     `kubectl patch brokerauthentication {name} -n {ns} --type json -p \
                     '[{{\"op\":\"add\",\"path\":\"/spec/authenticationMethods/-\",\"value\":\
                     {{\"method\":\"X509\",\"x509Settings\":{{\"trustedClientCaCert\":\"client-ca\"}}}}}}]'`."
                ),
            )),
        }
        return;
    }
    if found("Custom").is_some() {
        checked.push(format!(
            "BrokerAuthentication {name} has a Custom method: its authentication server decides"
        ));
        return;
    }
    let sends = if client.has_token {
        "a token without --auth-method K8S-SAT (sent as a password)"
    } else if client.username.is_some() {
        "a username and password"
    } else {
        "no credentials"
    };
    let mut fix = String::new();
    if found("ServiceAccountToken").is_some() {
        fix.push_str(
            "Send a ServiceAccountToken with MQTT 5 enhanced authentication: --auth-method \
             K8S-SAT --token-file /var/run/secrets/tokens/broker-sat (or --preset aio). ",
        );
    }
    if found("X509").is_some() {
        fix.push_str(
            "Present a client certificate issued by the trusted client CA (--cert, --key). ",
        );
    }
    fix.push_str("Or use a port of the listener without authenticationRef.");
    findings.push(mismatch(
        format!(
            "The client sends {sends}, but BrokerAuthentication {name} accepts only {}.",
            methods_list.join(", ")
        ),
        fix,
    ));
}

/// A port's `ref_field` (at `at`) names a `kind` that is not among `existing` (namespace and
/// name of every resource of that kind): the finding, with the patch that points the port at
/// another.
fn dangling<'a>(
    matched: &Matched<'_>,
    at: &str,
    (kind, ref_field): (&str, &str),
    reference: &str,
    existing: impl Iterator<Item = (&'a String, &'a String)>,
) -> Finding {
    let listener = matched.listener;
    let namespace = &listener.namespace;
    let field = format!("{at}.{ref_field}");
    let patch = format!(
        "kubectl patch brokerlistener {} -n {namespace} --type json -p \
         '[{{\"op\":\"replace\",\"path\":\"/spec/ports/{}/{ref_field}\",\"value\":\"NAME\"}}]'",
        listener.name, matched.index
    );
    let existing: Vec<String> = existing
        .filter(|(ns, _)| *ns == namespace)
        .map(|(_, name)| name.clone())
        .take(MAX_LISTED)
        .collect();
    Finding::new(
        &K8S_DANGLING_REF,
        format!(
            "{field} names {kind} `{reference}`, which does not exist in namespace \
                 {namespace} (there: {}). The broker refuses clients on this port.",
            if existing.is_empty() {
                "none".to_string()
            } else {
                existing.join(", ")
            }
        ),
    )
    .with_evidence("field", field)
    .with_evidence("missing", format!("{kind} {namespace}/{reference}"))
    .with_evidence("existing", existing)
    .with_fix(format!(
        "Create {kind} {reference} in namespace {namespace}, or point the port at one that \
             exists: `{patch}`."
    ))
}

/// Whether a rule's principals take this client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fits {
    Yes,
    /// Only through attributes, which come from the ServiceAccount's annotations or the
    /// certificate: not in the resources.
    Unknown,
    No,
}

fn principal_fits(rule: &Rule, client: &Client) -> (Fits, String) {
    let p = &rule.principals;
    if let Some(id) = &client.client_id
        && let Some(pattern) = p
            .client_ids
            .iter()
            .find(|pattern| wildmatch::WildMatch::new(&substitute(pattern, client)).matches(id))
    {
        return (Fits::Yes, format!("clientIds has {pattern}"));
    }
    if let Some(user) = &client.username
        && let Some(pattern) = p
            .usernames
            .iter()
            .find(|pattern| wildmatch::WildMatch::new(&substitute(pattern, client)).matches(user))
    {
        return (Fits::Yes, format!("usernames has {pattern}"));
    }
    if let Some(attributes) = p.attributes.first() {
        let text = attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        return (
            Fits::Unknown,
            format!(
                "attributes {{{text}}}, which a ServiceAccount gets from annotations \
                 aio-broker-auth/KEY (a certificate from the BrokerAuthentication's \
                 authorizationAttributes), not in the resources"
            ),
        );
    }
    (Fits::No, String::new())
}

/// A rule's pattern with the client's own values put in. Attributes stay as `{...}`.
fn substitute(pattern: &str, client: &Client) -> String {
    let mut out = pattern.to_string();
    if let Some(id) = &client.client_id {
        out = out.replace("{principal.clientId}", id);
    }
    if let Some(user) = &client.username {
        out = out.replace("{principal.username}", user);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn authorization(
    config: &DoctorConfig,
    resources: &Resources,
    matched: &Matched<'_>,
    at: &str,
    client: &Client,
    authn: Authn,
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) {
    let listener = matched.listener;
    let Some(reference) = &matched.port.authorization_ref else {
        checked.push(
            "no authorization on the port (every client may connect, publish and subscribe)".into(),
        );
        return;
    };
    if authn == Authn::None {
        checked.push(format!(
            "BrokerAuthorization {reference} does not apply: AIO applies authorization only to \
             ports with authentication"
        ));
        return;
    }
    let Some(authz) = resources.authorization(&listener.namespace, reference) else {
        if resources.unread.iter().any(|k| k == "BrokerAuthorization") {
            checked.push(format!(
                "BrokerAuthorization {reference} not compared: the BrokerAuthorizations could \
                 not be read"
            ));
            return;
        }
        let existing = resources
            .authorizations
            .iter()
            .map(|a| (&a.namespace, &a.name));
        findings.push(dangling(
            matched,
            at,
            ("BrokerAuthorization", "authorizationRef"),
            reference,
            existing,
        ));
        return;
    };
    let who = who(client);
    let connect = allowed(authz, client, "Connect", None);
    let rule_fix = |method_topics: Value| {
        let principal = match (&client.client_id, &client.username) {
            (Some(id), _) => json!({"clientIds": [id]}),
            (None, Some(user)) => json!({"usernames": [user]}),
            (None, None) => json!({"clientIds": ["YOUR-CLIENT-ID"]}),
        };
        let value = json!({"principals": principal, "brokerResources": method_topics});
        format!(
            "kubectl patch brokerauthorization {} -n {} --type json -p '[{{\"op\":\"add\",\"path\":\"/spec/authorizationPolicies/rules/-\",\"value\":{value}}}]'",
            authz.name, authz.namespace
        )
    };
    match &connect {
        Verdict::Allowed(rule) => checked.push(format!(
            "BrokerAuthorization {} lets {who} connect ({rule})",
            authz.name
        )),
        Verdict::Undecided(rule) | Verdict::Denied(rule) => {
            let undecided = matches!(connect, Verdict::Undecided(_));
            let detail = if undecided {
                format!(
                    "BrokerAuthorization {} lets {who} connect only if the client has the \
                     attributes of {rule}.",
                    authz.name
                )
            } else {
                format!(
                    "No rule of BrokerAuthorization {} lets {who} connect: none names its client \
                     id or username with method Connect ({} rule{}). The broker will refuse the \
                     CONNECT.",
                    authz.name,
                    authz.spec.authorization_policies.rules.len(),
                    if authz.spec.authorization_policies.rules.len() == 1 {
                        ""
                    } else {
                        "s"
                    }
                )
            };
            let mut finding = Finding::new(&K8S_CONNECT_DENIED, detail)
                .with_evidence(
                    "field",
                    format!(
                        "BrokerAuthorization {}: spec.authorizationPolicies.rules",
                        authz.name
                    ),
                )
                .with_evidence("client", who.clone())
                .with_fix(format!(
                    "Add a rule for the client: `{}`{}",
                    rule_fix(json!([{"method": "Connect"}])),
                    if client.client_id.is_none() {
                        ". The doctor connects with a random client id: give --client-id as the \
                         client's own to check its rules"
                    } else {
                        ""
                    }
                ));
            if undecided {
                finding = finding.with_status(Status::Warn);
            }
            findings.push(finding);
            if !undecided {
                return;
            }
        }
    }
    let ops = config
        .mqtt
        .publish
        .iter()
        .map(|t| ("Publish", t))
        .chain(config.mqtt.subscribe.iter().map(|t| ("Subscribe", t)));
    for (method, topic) in ops {
        match allowed(authz, client, method, Some(topic)) {
            Verdict::Allowed(rule) => checked.push(format!(
                "{method} {topic} allowed by {rule} of BrokerAuthorization {}",
                authz.name
            )),
            verdict => {
                let undecided = matches!(verdict, Verdict::Undecided(_));
                let detail = match &verdict {
                    Verdict::Undecided(rule) => format!(
                        "{method} to `{topic}` is allowed by {rule} of BrokerAuthorization {} \
                         only if the client has its attributes.",
                        authz.name
                    ),
                    _ => format!(
                        "No rule of BrokerAuthorization {} lets {who} {} `{topic}`: the broker \
                         will refuse it.",
                        authz.name,
                        if method == "Publish" {
                            "publish to"
                        } else {
                            "subscribe to"
                        }
                    ),
                };
                let mut finding = Finding::new(&K8S_TOPIC_DENIED, detail)
                    .with_evidence(
                        "field",
                        format!(
                            "BrokerAuthorization {}: spec.authorizationPolicies.rules[*].brokerResources",
                            authz.name
                        ),
                    )
                    .with_evidence("method", method)
                    .with_evidence("topic", topic.clone())
                    .with_evidence("client", who.clone())
                    .with_fix(format!(
                        "Allow it: `{}`",
                        rule_fix(json!([{"method": "Connect"}, {"method": method, "topics": [topic]}]))
                    ));
                if undecided {
                    finding = finding.with_status(Status::Warn);
                }
                findings.push(finding);
            }
        }
    }
}

fn who(client: &Client) -> String {
    let mut parts = Vec::new();
    match &client.client_id {
        Some(id) => parts.push(format!("client id {id}")),
        None => parts.push("a random client id".into()),
    }
    if let Some(user) = &client.username {
        parts.push(format!("username {user}"));
    }
    if let Some((ns, name)) = client
        .token
        .as_ref()
        .and_then(|t| t.service_account.as_ref())
    {
        parts.push(format!("ServiceAccount {ns}/{name}"));
    }
    parts.join(", ")
}

enum Verdict {
    /// The rule that allows it, e.g. `rule 0 (clientIds has sensor-*)`.
    Allowed(String),
    Undecided(String),
    Denied(String),
}

fn allowed(
    authz: &Named<AuthorizationSpec>,
    client: &Client,
    method: &str,
    topic: Option<&str>,
) -> Verdict {
    let mut undecided = None;
    for (index, rule) in authz.spec.authorization_policies.rules.iter().enumerate() {
        let (fits, why) = principal_fits(rule, client);
        if fits == Fits::No {
            continue;
        }
        for (r, resource) in rule.broker_resources.iter().enumerate() {
            let Some(m) = &resource.method else { continue };
            if !m.eq_ignore_ascii_case(method) {
                continue;
            }
            // The topic the rule matched, if any; a shared subscription is checked as the
            // filter it shares (`$share/GROUP/FILTER`).
            let matched = match topic {
                None => Some(None),
                Some(topic) => {
                    let topic = unshared(topic);
                    resource
                        .topics
                        .iter()
                        .map(|pattern| substitute(pattern, client))
                        .find(|pattern| {
                            if method == "Publish" {
                                filter_matches(pattern, topic)
                            } else {
                                filter_covers(pattern, topic)
                            }
                        })
                        .map(Some)
                }
            };
            let Some(matched) = matched else {
                continue;
            };
            // A level that is a client attribute matched any level: the attributes come from
            // annotations the resources do not hold, so that match is not a certainty.
            let through_attributes = matched
                .as_deref()
                .is_some_and(|p| p.contains("{principal.attributes."));
            let name = format!("rules[{index}] ({why}), brokerResources[{r}]");
            match fits {
                Fits::Yes if !through_attributes => return Verdict::Allowed(name),
                _ => {
                    undecided.get_or_insert(name);
                }
            }
        }
    }
    match undecided {
        Some(rule) => Verdict::Undecided(rule),
        None => Verdict::Denied(String::new()),
    }
}

/// One level of a rule's topic against one level of the client's: `+`, an AIO
/// `{principal.attributes.X}` (not known here: taken as any level) and `*` globs.
fn level_matches(pattern: &str, level: &str) -> bool {
    pattern == "+"
        || pattern.contains("{principal.")
        || wildmatch::WildMatch::new(pattern).matches(level)
}

/// The filter a shared subscription (`$share/GROUP/FILTER`) subscribes to; any other as it is.
fn unshared(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, shared)| shared)
}

/// A filter whose first level is a wildcard matches no topic that starts with `$` (MQTT
/// 3.1.1 4.7.2, MQTT 5 4.7.2): `#` does not cover `$SYS/...`.
fn wildcard_meets_dollar(filter: &str, topic: &str) -> bool {
    topic.starts_with('$') && (filter.starts_with('#') || filter.starts_with('+'))
}

/// Whether the rule's topic filter matches a topic (MQTT wildcards).
pub(crate) fn filter_matches(filter: &str, topic: &str) -> bool {
    if wildcard_meets_dollar(filter, topic) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some(p), Some(l)) if level_matches(p, l) => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic the client's filter matches is matched by the rule's filter: the rule
/// `sensors/#` covers `sensors/+/temp`, but `sensors/+` does not cover `sensors/#`.
pub(crate) fn filter_covers(rule: &str, filter: &str) -> bool {
    if wildcard_meets_dollar(rule, filter) {
        return false;
    }
    let mut r = rule.split('/');
    let mut f = filter.split('/');
    loop {
        match (r.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(p), Some("+")) => {
                if !p.contains("{principal.") && p != "*" {
                    return false;
                }
            }
            (Some(p), Some(l)) if level_matches(p, l) => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(filter_matches("sensors/#", "sensors/a/b"));
        assert!(filter_matches("sensors/+/temp", "sensors/a/temp"));
        assert!(!filter_matches("sensors/+/temp", "sensors/a/hum"));
        assert!(filter_matches(
            "sensors/{principal.attributes.building}/x",
            "sensors/b1/x"
        ));
        assert!(!filter_matches("odd", "even"));
        assert!(filter_covers("sensors/#", "sensors/+/temp"));
        assert!(!filter_covers("sensors/+", "sensors/#"));
        assert!(filter_covers("sensors/+", "sensors/+"));
        // `$` topics are not matched by a leading wildcard; a shared subscription is its filter.
        assert!(!filter_matches("#", "$SYS/broker/version"));
        assert!(!filter_covers("+/#", "$SYS/#"));
        assert!(filter_matches("$SYS/#", "$SYS/broker/version"));
        assert_eq!(unshared("$share/g/sensors/#"), "sensors/#");
        assert_eq!(unshared("sensors/#"), "sensors/#");
        assert!(!filter_covers("sensors/a", "sensors/+"));
    }
}
