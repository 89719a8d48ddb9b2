//! Azure IoT Operations' own Kubernetes resources, as `kubectl get brokers,brokerlisteners,
//! brokerauthentications,brokerauthorizations,services -A -o json` prints them (a `List`), or as
//! YAML (several documents, or a YAML `List`), read for `--k8s-resources`.
//!
//! `az iot ops check` tells whether these resources exist; what they mean for one client (its
//! host, port, scheme, token audience, client id, topics) is checked by the `k8s` stage against
//! the model here. Only the fields that stage compares are kept: the rest of a resource is
//! ignored, so a newer AIO version with more fields still parses. The input is the user's, so it
//! is capped (bytes, resources, ports, rules) and bad input is a [`ParseError`] naming what was
//! wrong, never a panic. This module reads no files and knows nothing of the run: the CLI reads
//! the bytes, the stage does the comparing.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeSeed as _;
use serde_json::Value;

/// The most bytes read: a cluster with hundreds of listeners and Services prints far less.
pub const MAX_BYTES: u64 = 16 << 20;
/// The most resources (of any kind) kept from one input.
pub const MAX_RESOURCES: usize = 10_000;
/// The most YAML documents read from one input.
const MAX_DOCUMENTS: usize = 10_000;
/// The most entries kept of any one list inside a resource (ports, methods, rules, topics):
/// AIO's own limits are far lower, and a list beyond this is not a real configuration.
pub const MAX_ENTRIES: usize = 1_000;

/// The API group of AIO's broker resources.
pub const GROUP: &str = "mqttbroker.iot.azure.com";

/// Why the input could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("it is not UTF-8 text (byte {0})")]
    NotUtf8(usize),
    #[error("it is empty")]
    Empty,
    #[error("it is not JSON ({0})")]
    Json(String),
    #[error("it is not YAML ({0})")]
    Yaml(String),
    #[error(
        "{where_} is not a Kubernetes resource: it has no `kind` (give what `kubectl get ... -o \
         json` or `-o yaml` prints)"
    )]
    NoKind { where_: String },
    #[error("{kind} {name}: {problem}")]
    Resource {
        kind: String,
        name: String,
        problem: String,
    },
    #[error("it holds more than {MAX_RESOURCES} resources")]
    TooMany,
    #[error(
        "it holds more than {MAX_NODES} values (YAML aliases count each time they are used); \
         give `kubectl get ... -o json`"
    )]
    TooLarge,
    #[error(
        "it holds no BrokerListener ({found}); give the output of `kubectl get \
         brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json`"
    )]
    NoListener { found: String },
}

/// Everything read from one input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// Where it came from, for findings: the file name, or `standard input`.
    pub source: String,
    pub brokers: Vec<Named<Value>>,
    pub listeners: Vec<Named<ListenerSpec>>,
    pub authentications: Vec<Named<AuthenticationSpec>>,
    pub authorizations: Vec<Named<AuthorizationSpec>>,
    pub services: Vec<Named<ServiceInfo>>,
    /// Resources of other kinds, counted by kind: they are not an error (`kubectl get all`).
    pub ignored: BTreeMap<String, usize>,
    /// Kinds that could not be read (`--k8s-api` was refused them, e.g. `BrokerAuthorization`):
    /// their checks are left out, not run against an empty list.
    pub unread: Vec<String>,
}

/// A resource's name and namespace, with the part of it that is compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Named<T> {
    pub name: String,
    pub namespace: String,
    pub spec: T,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ListenerSpec {
    pub broker_ref: Option<String>,
    pub service_name: Option<String>,
    pub service_type: Option<String>,
    pub ports: Vec<ListenerPort>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ListenerPort {
    pub port: Option<u16>,
    pub node_port: Option<u16>,
    /// `Mqtt` (the default) or `WebSockets`.
    pub protocol: Option<String>,
    pub authentication_ref: Option<String>,
    pub authorization_ref: Option<String>,
    pub tls: Option<ListenerTls>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ListenerTls {
    /// `Automatic` (cert-manager) or `Manual` (a Secret).
    pub mode: Option<String>,
    pub cert_manager_certificate_spec: Option<CertManagerSpec>,
    pub manual: Option<ManualTls>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CertManagerSpec {
    pub issuer_ref: Option<IssuerRef>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IssuerRef {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub group: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ManualTls {
    pub secret_ref: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthenticationSpec {
    pub authentication_methods: Vec<AuthenticationMethod>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthenticationMethod {
    /// `ServiceAccountToken`, `X509` or `Custom`.
    pub method: Option<String>,
    pub service_account_token_settings: Option<SatSettings>,
    pub x509_settings: Option<X509Settings>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SatSettings {
    pub audiences: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct X509Settings {
    pub trusted_client_ca_cert: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationSpec {
    pub authorization_policies: AuthorizationPolicies,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationPolicies {
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Rule {
    pub principals: Principals,
    pub broker_resources: Vec<BrokerResource>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Principals {
    pub client_ids: Vec<String>,
    pub usernames: Vec<String>,
    /// Each map is one set of attributes a client must all have.
    pub attributes: Vec<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerResource {
    /// `Connect`, `Publish` or `Subscribe`.
    pub method: Option<String>,
    pub topics: Vec<String>,
}

/// The parts of a Service that name how it is reached.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceInfo {
    /// ClusterIP, cluster IPs, external IPs and load balancer ingress IPs.
    pub addresses: Vec<String>,
    /// Load balancer ingress host names.
    pub hostnames: Vec<String>,
    pub ports: Vec<u16>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawService {
    spec: RawServiceSpec,
    status: RawServiceStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawServiceSpec {
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
    #[serde(rename = "clusterIPs")]
    cluster_ips: Vec<String>,
    #[serde(rename = "externalIPs")]
    external_ips: Vec<String>,
    ports: Vec<RawServicePort>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawServicePort {
    port: Option<u16>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawServiceStatus {
    load_balancer: RawLoadBalancer,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLoadBalancer {
    ingress: Vec<RawIngress>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawIngress {
    ip: Option<String>,
    hostname: Option<String>,
}

/// Parses what `kubectl get ... -o json` or `-o yaml` prints. `source` names the input in
/// findings.
pub fn parse(bytes: &[u8], source: &str) -> Result<Resources, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::NotUtf8(e.valid_up_to()))?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    let documents = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // YAML's flow style starts the same way: JSON first, then YAML, and the JSON error when
        // neither reads it.
        match json_value(trimmed) {
            Ok(value) => vec![value],
            Err(ParseError::Json(error)) => {
                yaml_documents(trimmed).map_err(|_| ParseError::Json(error))?
            }
            Err(other) => return Err(other),
        }
    } else {
        yaml_documents(trimmed)?
    };
    from_documents(documents, source)
}

/// Parses the API server's answers to list requests (`GET /apis/GROUP/VERSION/namespaces/NS/
/// brokerlisteners`, ...), one body per request: what `--k8s-api` fetched. The server leaves
/// `kind` and `apiVersion` out of a list's items (they are the list's, `BrokerListenerList` less
/// `List`), so they are put back here; then the bodies are read as one `kubectl get` list would
/// be. `unread` names the kinds that could not be fetched, for the stage to leave their checks
/// out rather than take their absence for an empty list.
pub fn parse_lists(
    bodies: &[&[u8]],
    unread: Vec<String>,
    source: &str,
) -> Result<Resources, ParseError> {
    let mut all = Vec::new();
    for body in bodies {
        let text = std::str::from_utf8(body).map_err(|e| ParseError::NotUtf8(e.valid_up_to()))?;
        let list = json_value(text)?;
        let kind = list.get("kind").and_then(Value::as_str).unwrap_or("");
        let Some(item_kind) = kind.strip_suffix("List").filter(|k| !k.is_empty()) else {
            return Err(ParseError::NoKind {
                where_: format!("an answer of the API server (kind `{kind}`)"),
            });
        };
        let api_version = list.get("apiVersion").cloned().unwrap_or(Value::Null);
        let item_kind = Value::String(item_kind.to_string());
        for item in items(list, "the API server's answer")? {
            let Value::Object(mut item) = item else {
                return Err(ParseError::NoKind {
                    where_: "an item of the API server's answer".into(),
                });
            };
            item.entry("kind").or_insert_with(|| item_kind.clone());
            item.entry("apiVersion")
                .or_insert_with(|| api_version.clone());
            all.push(Value::Object(item));
        }
    }
    let mut resources = from_documents(
        vec![serde_json::json!({"kind": "List", "items": all})],
        source,
    )?;
    resources.unread = unread;
    Ok(resources)
}

fn from_documents(documents: Vec<Value>, source: &str) -> Result<Resources, ParseError> {
    let mut resources = Resources {
        source: source.to_string(),
        ..Resources::default()
    };
    let mut count = 0;
    for (index, document) in documents.into_iter().enumerate() {
        let where_ = format!("document {}", index + 1);
        for item in items(document, &where_)? {
            count += 1;
            if count > MAX_RESOURCES {
                return Err(ParseError::TooMany);
            }
            resources.add(item, &where_)?;
        }
    }
    if resources.listeners.is_empty() {
        let mut found: Vec<String> = [
            ("Broker", resources.brokers.len()),
            ("BrokerAuthentication", resources.authentications.len()),
            ("BrokerAuthorization", resources.authorizations.len()),
            ("Service", resources.services.len()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{kind} ×{n}"))
        .collect();
        found.extend(resources.ignored.iter().map(|(k, n)| format!("{k} ×{n}")));
        let found = if found.is_empty() {
            "no resources at all".to_string()
        } else {
            format!("found {}", found.join(", "))
        };
        return Err(ParseError::NoListener { found });
    }
    Ok(resources)
}

/// Every document of a YAML stream, as JSON values. Empty documents (a trailing `---`) are
/// skipped. Aliases count as often as they are used, so neither a "billion laughs" nor a wide
/// alias fan-out builds more than [`MAX_NODES`] values.
fn yaml_documents(text: &str) -> Result<Vec<Value>, ParseError> {
    // serde_norway bounds how often aliases are followed, not how much each one expands: a
    // sequence of 10^5 aliases to a sequence of 10^5 scalars passes its guard and would build
    // 10^10 values. Counting first, without keeping anything, bounds the values built after.
    let counted = Cell::new(0);
    for document in serde_norway::Deserializer::from_str(text) {
        Count(&counted).deserialize(document).map_err(|e| {
            if counted.get() > MAX_NODES {
                ParseError::TooLarge
            } else {
                ParseError::Yaml(e.to_string())
            }
        })?;
    }
    let mut out = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        if out.len() >= MAX_DOCUMENTS {
            return Err(ParseError::TooMany);
        }
        let value = Value::deserialize(document).map_err(|e| ParseError::Yaml(e.to_string()))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// The most values (scalars, sequences, mappings; an alias each time it is used) built from one
/// input: 16 MiB of real resources hold far fewer, and a million values stay within a few
/// hundred megabytes at worst.
pub const MAX_NODES: usize = 1_000_000;

/// One JSON value, counted first (building nothing) so that no more than [`MAX_NODES`] values
/// are ever built from it.
fn json_value(text: &str) -> Result<Value, ParseError> {
    let counted = Cell::new(0);
    Count(&counted)
        .deserialize(&mut serde_json::Deserializer::from_str(text))
        .map_err(|e| {
            if counted.get() > MAX_NODES {
                ParseError::TooLarge
            } else {
                ParseError::Json(e.to_string())
            }
        })?;
    serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))
}

/// A visitor that counts every value it is shown into a shared counter.
struct Count<'a>(&'a Cell<usize>);

impl Count<'_> {
    fn tick<E: serde::de::Error>(&self) -> Result<(), E> {
        let n = self.0.get() + 1;
        self.0.set(n);
        if n > MAX_NODES {
            return Err(E::custom("more values than the limit"));
        }
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Count<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Count<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.tick()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.tick()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.tick()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.tick()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.tick()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        serde::de::DeserializeSeed::deserialize(self, deserializer)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.tick()?;
        while seq.next_element_seed(Count(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.tick()?;
        while map.next_key_seed(Count(self.0))?.is_some() {
            map.next_value_seed(Count(self.0))?;
        }
        Ok(())
    }
}

/// The resources of one document: its `items` when it is a `List` (kind `List` or `XxxList`),
/// else the document itself.
fn items(document: Value, where_: &str) -> Result<Vec<Value>, ParseError> {
    let Value::Object(mut object) = document else {
        return Err(ParseError::NoKind {
            where_: where_.to_string(),
        });
    };
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if kind.is_empty() {
        return Err(ParseError::NoKind {
            where_: where_.to_string(),
        });
    }
    if kind.ends_with("List") {
        return match object.remove("items") {
            Some(Value::Array(items)) => Ok(items),
            Some(Value::Null) | None => Ok(Vec::new()),
            Some(_) => Err(ParseError::Resource {
                kind,
                name: where_.to_string(),
                problem: "`items` is not a list".into(),
            }),
        };
    }
    Ok(vec![Value::Object(object)])
}

impl Resources {
    fn add(&mut self, item: Value, where_: &str) -> Result<(), ParseError> {
        let kind = item
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| ParseError::NoKind {
                where_: format!("an item of {where_}"),
            })?
            .to_string();
        let group = item
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.split_once('/').map(|(group, _)| group))
            .unwrap_or("");
        let metadata = item.get("metadata");
        let text = |key: &str| {
            metadata
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name = text("name").unwrap_or_default();
        // Namespaced resources without one are in the default namespace, as kubectl reads them.
        let namespace = text("namespace").unwrap_or_else(|| "default".into());
        let spec = item.get("spec").cloned().unwrap_or(Value::Null);
        let bad = |problem: serde_json::Error| ParseError::Resource {
            kind: kind.clone(),
            name: if name.is_empty() {
                "(no name)".into()
            } else {
                name.clone()
            },
            problem: format!("spec does not have AIO's shape: {problem}"),
        };
        let aio = group == GROUP;
        match kind.as_str() {
            "BrokerListener" if aio => {
                let mut spec: ListenerSpec = spec_of(spec).map_err(bad)?;
                spec.ports.truncate(MAX_ENTRIES);
                self.listeners.push(Named {
                    name,
                    namespace,
                    spec,
                });
            }
            "BrokerAuthentication" if aio => {
                let mut spec: AuthenticationSpec = spec_of(spec).map_err(bad)?;
                spec.authentication_methods.truncate(MAX_ENTRIES);
                for method in &mut spec.authentication_methods {
                    if let Some(sat) = method.service_account_token_settings.as_mut() {
                        sat.audiences.truncate(MAX_ENTRIES);
                    }
                }
                self.authentications.push(Named {
                    name,
                    namespace,
                    spec,
                });
            }
            "BrokerAuthorization" if aio => {
                let mut spec: AuthorizationSpec = spec_of(spec).map_err(bad)?;
                let rules = &mut spec.authorization_policies.rules;
                rules.truncate(MAX_ENTRIES);
                for rule in rules.iter_mut() {
                    rule.broker_resources.truncate(MAX_ENTRIES);
                    for resource in &mut rule.broker_resources {
                        resource.topics.truncate(MAX_ENTRIES);
                    }
                    rule.principals.client_ids.truncate(MAX_ENTRIES);
                    rule.principals.usernames.truncate(MAX_ENTRIES);
                    rule.principals.attributes.truncate(MAX_ENTRIES);
                }
                self.authorizations.push(Named {
                    name,
                    namespace,
                    spec,
                });
            }
            "Broker" if aio => self.brokers.push(Named {
                name,
                namespace,
                spec: Value::Null,
            }),
            "Service" if group.is_empty() => {
                let raw: RawService = serde_json::from_value(item).map_err(bad)?;
                let mut addresses: Vec<String> = raw
                    .spec
                    .cluster_ip
                    .into_iter()
                    .chain(raw.spec.cluster_ips)
                    .chain(raw.spec.external_ips)
                    .chain(
                        raw.status
                            .load_balancer
                            .ingress
                            .iter()
                            .filter_map(|i| i.ip.clone()),
                    )
                    .filter(|a| a != "None")
                    .collect();
                addresses.dedup();
                addresses.truncate(MAX_ENTRIES);
                let mut hostnames: Vec<String> = raw
                    .status
                    .load_balancer
                    .ingress
                    .into_iter()
                    .filter_map(|i| i.hostname)
                    .collect();
                hostnames.truncate(MAX_ENTRIES);
                let mut ports: Vec<u16> =
                    raw.spec.ports.into_iter().filter_map(|p| p.port).collect();
                ports.truncate(MAX_ENTRIES);
                self.services.push(Named {
                    name,
                    namespace,
                    spec: ServiceInfo {
                        addresses,
                        hostnames,
                        ports,
                    },
                });
            }
            _ => *self.ignored.entry(kind).or_default() += 1,
        }
        Ok(())
    }

    /// One line: what was read.
    pub fn summary(&self) -> String {
        format!(
            "{} BrokerListener{}, {} BrokerAuthentication{}, {} BrokerAuthorization{}, {} \
             Service{} from {}",
            self.listeners.len(),
            plural(self.listeners.len()),
            self.authentications.len(),
            plural(self.authentications.len()),
            self.authorizations.len(),
            plural(self.authorizations.len()),
            self.services.len(),
            plural(self.services.len()),
            self.source
        )
    }

    pub fn authentication(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<&Named<AuthenticationSpec>> {
        self.authentications
            .iter()
            .find(|a| a.namespace == namespace && a.name == name)
    }

    pub fn authorization(&self, namespace: &str, name: &str) -> Option<&Named<AuthorizationSpec>> {
        self.authorizations
            .iter()
            .find(|a| a.namespace == namespace && a.name == name)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&Named<ServiceInfo>> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A spec of AIO's shape; a missing spec is an empty one.
fn spec_of<T: for<'de> Deserialize<'de> + Default>(spec: Value) -> Result<T, serde_json::Error> {
    if spec.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(spec)
}

impl ListenerSpec {
    /// The Service the listener creates: `serviceName`, or AIO's default `aio-broker`.
    pub fn service(&self) -> &str {
        self.service_name.as_deref().unwrap_or("aio-broker")
    }
}

impl ListenerPort {
    /// Whether the port speaks TLS: it has a `tls` block with a mode.
    pub fn tls_mode(&self) -> Option<&str> {
        self.tls.as_ref().and_then(|t| t.mode.as_deref())
    }

    pub fn is_websockets(&self) -> bool {
        self.protocol
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("WebSockets"))
    }
}

impl AuthenticationMethod {
    pub fn is(&self, name: &str) -> bool {
        self.method
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"{"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"mqttbroker.iot.azure.com/v1","kind":"BrokerListener",
       "metadata":{"name":"default","namespace":"azure-iot-operations"},
       "spec":{"brokerRef":"default","serviceName":"aio-broker","serviceType":"ClusterIp",
        "ports":[{"port":18883,"authenticationRef":"default","protocol":"Mqtt",
                  "tls":{"mode":"Automatic","certManagerCertificateSpec":{"issuerRef":
                  {"name":"azure-iot-operations-aio-certificate-issuer","kind":"ClusterIssuer"}}}}]}},
      {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}
    ]}"#;

    #[test]
    fn json_list() {
        let r = parse(LIST.as_bytes(), "f").unwrap();
        assert_eq!(r.listeners.len(), 1);
        assert_eq!(r.listeners[0].spec.ports[0].port, Some(18883));
        assert_eq!(r.listeners[0].spec.ports[0].tls_mode(), Some("Automatic"));
        assert_eq!(r.ignored.get("Pod"), Some(&1));
    }

    #[test]
    fn api_lists_without_per_item_kind() {
        // As the API server answers a list request: the items carry no kind or apiVersion.
        let listeners =
            br#"{"kind":"BrokerListenerList","apiVersion":"mqttbroker.iot.azure.com/v1",
            "metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"default",
            "namespace":"azure-iot-operations"},"spec":{"ports":[{"port":18883}]}}]}"#;
        let services = br#"{"kind":"ServiceList","apiVersion":"v1","items":[{"metadata":
            {"name":"aio-broker","namespace":"azure-iot-operations"},"spec":{"clusterIP":"10.0.0.1",
            "ports":[{"port":18883}]}}]}"#;
        let empty = br#"{"kind":"BrokerAuthenticationList","apiVersion":"mqttbroker.iot.azure.com/v1","items":null}"#;
        let r = parse_lists(
            &[listeners, services, empty],
            vec!["BrokerAuthorization".into()],
            "api",
        )
        .unwrap();
        assert_eq!(r.listeners[0].spec.ports[0].port, Some(18883));
        assert_eq!(r.services[0].spec.addresses, ["10.0.0.1"]);
        assert!(r.authentications.is_empty() && r.ignored.is_empty());
        assert_eq!(r.unread, ["BrokerAuthorization"]);
        assert!(matches!(
            parse_lists(&[br#"{"kind":"Status"}"#], vec![], "api"),
            Err(ParseError::NoKind { .. })
        ));
    }

    #[test]
    fn yaml_documents_and_yaml_list() {
        let yaml = "apiVersion: mqttbroker.iot.azure.com/v1\nkind: BrokerListener\nmetadata:\n  \
                    name: a\n  namespace: ns\nspec:\n  serviceName: s\n  ports:\n  - port: 1883\n\
                    ---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: mqttbroker.iot.azure.com/v1\n  \
                    kind: BrokerAuthentication\n  metadata: {name: default, namespace: ns}\n  spec:\n    \
                    authenticationMethods:\n    - method: ServiceAccountToken\n      \
                    serviceAccountTokenSettings:\n        audiences: [aio-internal]\n---\n";
        let r = parse(yaml.as_bytes(), "f").unwrap();
        assert_eq!(r.listeners[0].spec.service(), "s");
        let sat = r.authentications[0].spec.authentication_methods[0]
            .service_account_token_settings
            .as_ref()
            .unwrap();
        assert_eq!(sat.audiences, ["aio-internal"]);
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(parse(b"", "f"), Err(ParseError::Empty));
        assert!(matches!(parse(b"{nope", "f"), Err(ParseError::Json(_))));
        assert!(matches!(
            parse(b"\xff\xfe", "f"),
            Err(ParseError::NotUtf8(0))
        ));
        assert!(matches!(parse(b"a: [b", "f"), Err(ParseError::Yaml(_))));
        assert!(matches!(
            parse(b"just text", "f"),
            Err(ParseError::NoKind { .. })
        ));
        let pods = br#"{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod"}]}"#;
        let err = parse(pods, "f").unwrap_err().to_string();
        assert!(err.contains("no BrokerListener (found Pod ×1)"), "{err}");
        let wrong = br#"{"apiVersion":"mqttbroker.iot.azure.com/v1","kind":"BrokerListener",
            "metadata":{"name":"x"},"spec":{"ports":"many"}}"#;
        let err = parse(wrong, "f").unwrap_err().to_string();
        assert!(
            err.starts_with("BrokerListener x: spec does not have AIO's shape"),
            "{err}"
        );
    }

    #[test]
    fn yaml_alias_bombs_are_refused() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("a{}", i - 1)
            };
            bomb.push_str(&format!("a{i}: &a{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        bomb.push_str("kind: List\n");
        assert!(matches!(
            parse(bomb.as_bytes(), "f"),
            Err(ParseError::Yaml(_) | ParseError::TooLarge)
        ));
    }

    /// YAML in flow style starts like JSON and is read as YAML.
    #[test]
    fn flow_style_yaml_is_yaml() {
        let flow = "{kind: List, items: [{kind: Service, metadata: {name: s}}]}";
        assert!(
            matches!(
                parse(flow.as_bytes(), "f"),
                Err(ParseError::NoListener { .. })
            ),
            "{:?}",
            parse(flow.as_bytes(), "f")
        );
        assert!(matches!(
            parse(b"{not json: [", "f"),
            Err(ParseError::Json(_))
        ));
    }

    /// Under a megabyte, within serde_norway's own alias limit, and 10^10 values expanded:
    /// refused before any is built.
    #[test]
    fn a_wide_alias_fan_out_is_refused_before_it_is_built() {
        let scalars = vec!["x"; 100_000].join(",");
        let aliases = vec!["*a"; 100_000].join(",");
        let wide = format!("a: &a [{scalars}]\nb: [{aliases}]\nkind: List\n");
        assert!(wide.len() < 1 << 20);
        assert_eq!(parse(wide.as_bytes(), "f"), Err(ParseError::TooLarge));
        // JSON has no aliases, but a flat list of empty objects is counted the same way.
        let flat = format!(
            "{{\"kind\":\"List\",\"items\":[{}]}}",
            vec!["{}"; MAX_NODES].join(",")
        );
        assert_eq!(parse(flat.as_bytes(), "f"), Err(ParseError::TooLarge));
    }
}
