//! The Kubernetes deployment under deploy/kubernetes: every manifest parses and has what its kind
//! needs; the exporter's modules are doctor profiles (read by the doctor's own config reader)
//! whose files the Deployment mounts; each Probe asks the exporter's Service for a module that
//! exists and allows its target; the alert rules pass `promtool check rules` and promtool's unit
//! tests of when each alert fires and what it says; every metric the rules and the dashboard read
//! is one the exporter exposes; and every `mqtt-doctor explain <id>` they point to exists.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;
use mqtt_doctor::config_file::ConfigFile;
use serde::Deserialize;
use serde_norway::Value;

const DIR: &str = "deploy/kubernetes";

/// The exporter's metrics (issue 21). The rules and the dashboard are checked against these
/// names, so a rename in the exporter must be made here too, and then fails wherever the
/// manifests still use the old name.
const PROBE_METRICS: &[&str] = &[
    "probe_success",
    "probe_duration_seconds",
    "probe_timeout_seconds",
    "probe_mqtt_duration_seconds",
    "probe_mqtt_connack_reason_code",
    "probe_mqtt_protocol_version",
    "probe_ssl_earliest_cert_expiry",
    "probe_mqtt_token_expiry_timestamp_seconds",
    "probe_mqtt_node_success",
    "probe_mqtt_finding_info",
    "probe_mqtt_root_cause_info",
];
const EXPORTER_METRICS: &[&str] = &[
    "mqtt_doctor_probes_total",
    "mqtt_doctor_probe_duration_seconds",
    "mqtt_doctor_probes_in_flight",
    "mqtt_doctor_build_info",
];
/// Histograms, whose series carry the `_bucket`, `_sum` and `_count` suffixes.
const HISTOGRAMS: &[&str] = &["mqtt_doctor_probe_duration_seconds"];
/// The values of probe_mqtt_duration_seconds' `phase` label.
const PHASES: &[&str] = &[
    "dns",
    "connect",
    "proxy",
    "tls",
    "websocket",
    "connack",
    "puback",
    "ping",
];

/// The exporter's own key in a module: the targets the module may be asked to probe. It is not
/// a doctor option, so it is the one key the doctor's option list does not cover.
const ALLOW_KEY: &str = "allow";

/// The job label every Probe sets, and the one the alerts and the dashboard select.
const PROBE_JOB: &str = "mqtt-doctor";

fn path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR).join(file)
}

fn read(file: &str) -> String {
    fs::read_to_string(path(file)).unwrap_or_else(|e| panic!("{DIR}/{file}: {e}"))
}

/// Every YAML document of a file, in order (empty documents left out).
fn documents(file: &str) -> Vec<Value> {
    let text = read(file);
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{DIR}/{file} is not valid YAML: {e}"))
        })
        .filter(|value| !value.is_null())
        .collect()
}

fn kustomization() -> Value {
    let mut documents = documents("kustomization.yaml");
    assert_eq!(documents.len(), 1, "kustomization.yaml is one document");
    documents.remove(0)
}

/// Every resource kustomization.yaml applies, with the file it comes from.
fn manifests() -> Vec<(String, Value)> {
    let kustomization = kustomization();
    let files = kustomization["resources"]
        .as_sequence()
        .expect("kustomization.yaml lists its resources");
    files
        .iter()
        .flat_map(|file| {
            let file = file
                .as_str()
                .expect("a resource is a file name")
                .to_string();
            documents(&file)
                .into_iter()
                .map(move |document| (file.clone(), document))
        })
        .collect()
}

fn text<'a>(value: &'a Value, at: &str) -> &'a str {
    let mut current = value;
    for key in at.split('.') {
        current = match key.parse::<usize>() {
            Ok(index) => &current[index],
            Err(_) => &current[key],
        };
    }
    current
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{at} is not a non-empty string in {value:?}"))
}

fn one<'a>(manifests: &'a [(String, Value)], kind: &str) -> &'a Value {
    let found: Vec<&Value> = manifests
        .iter()
        .filter(|(_, m)| m["kind"].as_str() == Some(kind))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(found.len(), 1, "one {kind}, found {}", found.len());
    found[0]
}

fn all<'a>(manifests: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    manifests
        .iter()
        .filter(|(_, m)| m["kind"].as_str() == Some(kind))
        .map(|(_, m)| m)
        .collect()
}

fn sequence<'a>(value: &'a Value, what: &str) -> &'a Vec<Value> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("{what} is not a list: {value:?}"))
}

/// The exporter's config file, from the ConfigMap, read by the doctor's own config reader.
struct ExporterConfig {
    /// The ConfigMap's key, which is the file name in the container.
    key: String,
    text: String,
    file: ConfigFile,
    toml: toml::Table,
}

fn exporter_config(manifests: &[(String, Value)]) -> ExporterConfig {
    let config_map = one(manifests, "ConfigMap");
    let data = config_map["data"]
        .as_mapping()
        .expect("the ConfigMap has data");
    assert_eq!(data.len(), 1, "the ConfigMap holds the config file only");
    let (key, value) = data.iter().next().unwrap();
    let key = key.as_str().unwrap().to_string();
    let text = value.as_str().expect("the config file is text").to_string();
    let file = ConfigFile::parse(&text, Path::new(&key))
        .unwrap_or_else(|e| panic!("the doctor does not read the exporter's config: {e}"));
    let toml: toml::Table = toml::from_str(&text).unwrap();
    ExporterConfig {
        key,
        text,
        file,
        toml,
    }
}

/// A module's setting, or else the file's top-level one.
fn setting(config: &ExporterConfig, module: &str, key: &str) -> Option<toml::Value> {
    config.toml["profiles"][module]
        .get(key)
        .or_else(|| config.toml.get(key))
        .cloned()
}

fn allow_patterns(config: &ExporterConfig, module: &str) -> Vec<String> {
    config.toml["profiles"][module]
        .get(ALLOW_KEY)
        .and_then(toml::Value::as_array)
        .unwrap_or_else(|| panic!("module {module} has no {ALLOW_KEY} list"))
        .iter()
        .map(|p| {
            p.as_str()
                .expect("an allow pattern is a string")
                .to_string()
        })
        .collect()
}

/// `*` stands for any run of characters, as in the exporter's allow lists.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head) && (head.len()..=text.len()).any(|i| glob(tail, &text[i..]))
        }
    }
}

fn duration(value: &str) -> Duration {
    humantime::parse_duration(value).unwrap_or_else(|e| panic!("{value} is not a duration: {e}"))
}

fn promtool() -> Command {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .any(|dir| dir.join("promtool").is_file());
    assert!(
        found,
        "promtool is missing: run scripts/install-test-deps.sh (Debian's prometheus package)"
    );
    Command::new("promtool")
}

fn rule_groups(manifests: &[(String, Value)]) -> Value {
    let rule = one(manifests, "PrometheusRule");
    let groups = rule["spec"]["groups"].clone();
    assert!(
        !sequence(&groups, "spec.groups").is_empty(),
        "the PrometheusRule has groups"
    );
    groups
}

fn rules(manifests: &[(String, Value)]) -> Vec<Value> {
    let groups = rule_groups(manifests);
    sequence(&groups, "spec.groups")
        .iter()
        .flat_map(|group| sequence(&group["rules"], "a group's rules").clone())
        .collect()
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read("grafana-dashboard.json"))
        .unwrap_or_else(|e| panic!("grafana-dashboard.json is not JSON: {e}"))
}

/// Every PromQL expression of the dashboard: its panels' targets and its variables' queries.
fn dashboard_expressions(dashboard: &serde_json::Value) -> Vec<String> {
    let mut expressions = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                expressions.push(expr.to_string());
            }
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            expressions.push(query.to_string());
        }
    }
    expressions
}

/// The names in an expression that look like the exporter's metrics.
fn metric_names(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expression.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &expression[i..];
        if at_boundary && (rest.starts_with("probe_") || rest.starts_with("mqtt_doctor_")) {
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            names.push(rest[..end].to_string());
            i += end;
        } else {
            i += 1;
        }
    }
    names
}

fn is_exposed(name: &str) -> bool {
    PROBE_METRICS.contains(&name)
        || EXPORTER_METRICS.contains(&name)
        || HISTOGRAMS.iter().any(|histogram| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| name == format!("{histogram}{suffix}"))
        })
}

/// The values an expression matches the `phase` label against (`phase="x"`, `phase=~"x|y"`).
fn phase_values(expression: &str) -> Vec<String> {
    let mut values = Vec::new();
    for (start, _) in expression.match_indices("phase") {
        let rest = expression[start + "phase".len()..].trim_start();
        let Some(rest) = rest.strip_prefix("=~").or_else(|| rest.strip_prefix('=')) else {
            continue;
        };
        let Some(quoted) = rest.trim_start().strip_prefix('"') else {
            continue;
        };
        let value = &quoted[..quoted.find('"').expect("a closed quote")];
        values.extend(value.split('|').map(str::to_string));
    }
    values
}

#[test]
fn every_manifest_parses_and_has_its_kind_s_required_fields() {
    let kustomization = kustomization();
    assert_eq!(
        text(&kustomization, "apiVersion"),
        "kustomize.config.k8s.io/v1beta1"
    );
    assert_eq!(text(&kustomization, "kind"), "Kustomization");
    text(&kustomization, "namespace");

    // kustomization.yaml applies every manifest of the directory, and ships the dashboard.
    let listed: BTreeSet<String> = sequence(&kustomization["resources"], "resources")
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let on_disk: BTreeSet<String> = fs::read_dir(path(""))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    assert_eq!(listed, on_disk, "kustomization.yaml's resources");
    let generated = &kustomization["configMapGenerator"][0];
    assert_eq!(
        sequence(&generated["files"], "configMapGenerator files"),
        &[Value::from("grafana-dashboard.json")]
    );

    let manifests = manifests();
    let mut kinds = Vec::new();
    for (file, manifest) in &manifests {
        let kind = text(manifest, "kind");
        let api = text(manifest, "apiVersion");
        let name = text(manifest, "metadata.name");
        let expected = match kind {
            "ConfigMap" | "ServiceAccount" | "Service" => "v1",
            "Deployment" => "apps/v1",
            "Probe" | "ServiceMonitor" | "PrometheusRule" => "monitoring.coreos.com/v1",
            other => panic!("{file}: unexpected kind {other} ({name})"),
        };
        assert_eq!(api, expected, "{file}: {kind} {name}");
        // The namespace is kustomization.yaml's alone, which the Probes' prober.url names.
        assert!(
            manifest["metadata"]["namespace"].is_null(),
            "{file}: {kind} {name} sets its own namespace"
        );
        kinds.push(kind.to_string());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Deployment",
            "Probe",
            "Probe",
            "PrometheusRule",
            "Service",
            "ServiceAccount",
            "ServiceMonitor"
        ],
        "credentials come from Secrets made outside these files: none is written here"
    );
}

#[test]
fn the_exporter_runs_the_static_image_as_65532_read_only_with_its_health_checks() {
    let manifests = manifests();
    let deployment = one(&manifests, "Deployment");
    let pod = &deployment["spec"]["template"];
    let spec = &pod["spec"];
    let containers = sequence(&spec["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];

    let image = text(container, "image");
    let images = &kustomization()["images"][0];
    assert_eq!(
        image.rsplit_once(':').map(|(name, _)| name),
        Some(text(images, "name")),
        "kustomization.yaml's images entry is the Deployment's image"
    );
    assert!(
        container["command"].is_null(),
        "the image's entrypoint, /mqtt-doctor, runs"
    );
    let args: Vec<&str> = sequence(&container["args"], "args")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    let after = |flag: &str| {
        let i = args.iter().position(|a| *a == flag);
        args[i.unwrap_or_else(|| panic!("args without {flag}: {args:?}")) + 1]
    };
    assert_eq!(after("--listen"), "0.0.0.0:9883");
    after("--config");

    for context in [&spec["securityContext"], &container["securityContext"]] {
        assert_eq!(context["runAsNonRoot"].as_bool(), Some(true));
        assert_eq!(context["runAsUser"].as_u64(), Some(65532));
        assert_eq!(context["runAsGroup"].as_u64(), Some(65532));
    }
    let context = &container["securityContext"];
    assert_eq!(context["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(context["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(
        sequence(&context["capabilities"]["drop"], "dropped capabilities"),
        &[Value::from("ALL")]
    );
    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            text(&container["resources"][bound], resource);
        }
    }

    let ports = sequence(&container["ports"], "ports");
    assert_eq!(text(&ports[0], "name"), "http-metrics");
    assert_eq!(ports[0]["containerPort"].as_u64(), Some(9883));
    for (probe, route) in [
        ("livenessProbe", "/-/healthy"),
        ("readinessProbe", "/-/ready"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(text(get, "path"), route, "{probe}");
        assert_eq!(get["port"].as_str(), Some("http-metrics"), "{probe}");
    }

    // The Service sends its port 9883 to those pods.
    let service = one(&manifests, "Service");
    let port = &service["spec"]["ports"][0];
    assert_eq!(text(port, "name"), "http-metrics");
    assert_eq!(port["port"].as_u64(), Some(9883));
    assert_eq!(text(port, "targetPort"), "http-metrics");
    let selector = service["spec"]["selector"].as_mapping().unwrap();
    assert_eq!(
        Some(selector),
        deployment["spec"]["selector"]["matchLabels"].as_mapping()
    );
    for (key, value) in selector {
        assert_eq!(&pod["metadata"]["labels"][key.as_str().unwrap()], value);
    }
    let account = one(&manifests, "ServiceAccount");
    assert_eq!(
        text(spec, "serviceAccountName"),
        text(account, "metadata.name")
    );
}

#[test]
fn the_modules_are_doctor_profiles_that_read_credentials_only_from_mounted_files() {
    let manifests = manifests();
    let config = exporter_config(&manifests);
    let modules = config.file.profiles();
    assert_eq!(modules, ["mqtt_plain", "mqtts_sa_token"]);

    let cli = mqtt_doctor::cli::Cli::command();
    let doctor = cli.find_subcommand("doctor").expect("the doctor command");
    let options: BTreeSet<&str> = doctor
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .collect();
    let deployment = one(&manifests, "Deployment");
    let spec = &deployment["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let mounts = sequence(&container["volumeMounts"], "volumeMounts");
    let volumes = sequence(&spec["volumes"], "volumes");

    // Where a file the exporter reads comes from: (volume, the file's name in it).
    let source_of = |file: &str| -> (&Value, String) {
        let mount = mounts
            .iter()
            .find(|m| file.starts_with(&format!("{}/", text(m, "mountPath"))))
            .unwrap_or_else(|| panic!("{file} is on no volume the Deployment mounts"));
        assert_eq!(mount["readOnly"].as_bool(), Some(true), "{file}");
        assert!(
            mount["subPath"].is_null(),
            "{file}: a subPath never updates"
        );
        let name = text(mount, "name");
        let volume = volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"));
        let inside = file[text(mount, "mountPath").len() + 1..].to_string();
        (volume, inside)
    };

    for module in &modules {
        // The doctor's own reader takes the module (it refuses secrets written in the file).
        let layers = config
            .file
            .layers(Some(module))
            .unwrap_or_else(|e| panic!("{e}"));
        for layer in &layers {
            for (option, values) in &layer.values {
                assert!(
                    option == ALLOW_KEY || options.contains(option.as_str()),
                    "{}: {option} is not an option of `mqtt-doctor doctor`",
                    layer.source
                );
                assert_ne!(
                    option, "target",
                    "{}: the Probe gives the target",
                    layer.source
                );
                let is_file = [
                    "cafile",
                    "capath",
                    "cert",
                    "key",
                    "password-file",
                    "token-file",
                    "jwt-key",
                    "jwks",
                ]
                .contains(&option.as_str());
                if !is_file {
                    continue;
                }
                let file = &values[0];
                let (volume, inside) = source_of(file);
                if let Some(secret) = volume.get("secret") {
                    let items = sequence(&secret["items"], "the Secret's items");
                    assert!(
                        items.iter().any(|i| i["path"].as_str() == Some(&inside)),
                        "{module}: {file} is not among the Secret's items"
                    );
                } else if let Some(projected) = volume.get("projected") {
                    let sources = sequence(&projected["sources"], "projected sources");
                    assert!(
                        sources.iter().any(|s| {
                            s["serviceAccountToken"]["path"].as_str() == Some(&inside)
                        }),
                        "{module}: {file} is not a projected ServiceAccount token"
                    );
                } else {
                    panic!("{module}: {file} comes from neither a Secret nor a projected token");
                }
            }
        }
        assert!(
            !allow_patterns(&config, module).is_empty(),
            "{module} allows no target"
        );
    }

    // The exporter reads the ConfigMap's file, from a volume of that ConfigMap.
    let args = sequence(&container["args"], "args");
    let at = args
        .iter()
        .position(|a| a.as_str() == Some("--config"))
        .unwrap();
    let config_path = args[at + 1].as_str().unwrap();
    let (volume, inside) = source_of(config_path);
    assert_eq!(inside, config.key);
    assert_eq!(
        text(volume, "configMap.name"),
        text(one(&manifests, "ConfigMap"), "metadata.name")
    );
    assert!(
        !config.text.contains("password =") && !config.text.contains("token ="),
        "no credential in the ConfigMap"
    );
}

#[test]
fn each_probe_asks_the_exporter_service_for_a_module_that_allows_its_targets() {
    let manifests = manifests();
    let config = exporter_config(&manifests);
    let service = one(&manifests, "Service");
    let namespace = kustomization()["namespace"].as_str().unwrap().to_string();
    let exporter = format!(
        "{}.{namespace}.svc:{}",
        text(service, "metadata.name"),
        service["spec"]["ports"][0]["port"].as_u64().unwrap()
    );

    let probes = all(&manifests, "Probe");
    assert_eq!(probes.len(), 2, "a cluster's Probe and a single broker's");
    let mut modules_used = BTreeSet::new();
    for probe in probes {
        let name = text(probe, "metadata.name");
        let spec = &probe["spec"];
        assert_eq!(text(spec, "prober.url"), exporter, "{name}: prober.url");
        assert_eq!(text(spec, "prober.path"), "/probe", "{name}");
        assert_eq!(
            text(spec, "jobName"),
            PROBE_JOB,
            "{name}: the alerts select it"
        );
        let module = text(spec, "module");
        assert!(
            config.file.profiles().iter().any(|m| m == module),
            "{name}: module {module} is not in the exporter's config"
        );
        modules_used.insert(module.to_string());
        assert_eq!(
            text(&spec["targets"]["staticConfig"]["labels"], "module"),
            module,
            "{name}: the module label the alerts print"
        );

        let interval = duration(text(spec, "interval"));
        let scrape_timeout = duration(text(spec, "scrapeTimeout"));
        assert!(scrape_timeout <= interval, "{name}");
        let deadline = setting(&config, module, "deadline").expect("a deadline");
        let deadline = duration(deadline.as_str().unwrap());
        assert!(
            deadline < scrape_timeout,
            "{name}: the module's deadline ({deadline:?}) leaves the exporter no time to \
             answer within scrapeTimeout ({scrape_timeout:?})"
        );

        let targets = sequence(&spec["targets"]["staticConfig"]["static"], "static targets");
        assert!(!targets.is_empty(), "{name} has no target");
        let patterns = allow_patterns(&config, module);
        for target in targets {
            let url = url::Url::parse(target.as_str().unwrap())
                .unwrap_or_else(|e| panic!("{name}: {target:?}: {e}"));
            let host_port = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
            assert!(
                patterns.iter().any(|p| glob(p, &host_port)),
                "{name}: module {module} allows {patterns:?}, not {host_port}"
            );
        }
    }
    assert_eq!(modules_used.len(), 2, "each example module is used");

    // The exporter's own /metrics is scraped through its Service.
    let monitor = one(&manifests, "ServiceMonitor");
    let labels = service["metadata"]["labels"].as_mapping().unwrap();
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(
            labels.get(key),
            Some(value),
            "the ServiceMonitor selects the Service"
        );
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(
        text(endpoint, "port"),
        text(&service["spec"]["ports"][0], "name")
    );
    assert_eq!(text(endpoint, "path"), "/metrics");
    assert!(glob(
        "*.mqtt.svc.cluster.local:8883",
        "emqx.mqtt.svc.cluster.local:8883"
    ));
    assert!(!glob(
        "*.mqtt.svc.cluster.local:8883",
        "emqx.mqtt.svc.cluster.local:1883"
    ));
    assert!(!glob("*.mqtt.svc.cluster.local:8883", "evil.example:8883"));
}

#[test]
fn the_alert_rules_pass_promtool_check_rules() {
    let manifests = manifests();
    for rule in rules(&manifests) {
        let alert = text(&rule, "alert");
        text(&rule, "expr");
        let severity = text(&rule["labels"], "severity");
        assert!(["critical", "warning"].contains(&severity), "{alert}");
        let summary = text(&rule["annotations"], "summary");
        text(&rule["annotations"], "description");
        if text(&rule, "expr").contains("probe_") {
            assert!(
                summary.contains("$labels.instance"),
                "{alert}'s summary names the target"
            );
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mqtt-doctor.rules.yml");
    let mut plain = serde_norway::Mapping::new();
    plain.insert("groups".into(), rule_groups(&manifests));
    fs::write(&file, serde_norway::to_string(&plain).unwrap()).unwrap();
    let output = promtool()
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "promtool check rules:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("SUCCESS: 7 rules found"), "{stdout}");
}

/// What promtool feeds the rules and expects from them: each alert fires for what it is about,
/// after its `for`, and not for its look-alikes. The two alerts that name a root cause are
/// checked with their real annotations; the others' annotations are left out of the rules under
/// test, since promtool compares annotations whole.
const RULE_TESTS: &str = r#"
rule_files: [rules.yml]
evaluation_interval: 30s
tests:
  - name: a broker down, with its root cause
    interval: 30s
    input_series:
      - series: 'probe_success{job="mqtt-doctor",instance="mqtts://down:8883",module="mqtts_sa_token"}'
        values: '0x20'
      - series: 'probe_mqtt_root_cause_info{job="mqtt-doctor",instance="mqtts://down:8883",module="mqtts_sa_token",id="tls.expired",stage="tls"}'
        values: '1x20'
      - series: 'probe_success{job="mqtt-doctor",instance="mqtt://up:1883",module="mqtt_plain"}'
        values: '1x20'
      - series: 'up{job="mqtt-doctor",instance="mqtts://down:8883"}'
        values: '1x20'
      - series: 'up{job="mqtt-doctor-exporter",instance="exporter:9883"}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 1m
        alertname: MqttBrokerDown
      - eval_time: 3m
        alertname: MqttBrokerDown
        exp_alerts:
          - exp_labels: {severity: critical, job: mqtt-doctor, instance: "mqtts://down:8883", module: mqtts_sa_token}
            exp_annotations:
              summary: "MQTT broker mqtts://down:8883 fails mqtt-doctor's probe"
              description: "Every run of mqtt-doctor against mqtts://down:8883 (module mqtts_sa_token) has failed for 2 minutes: a client with the same settings cannot connect. Root cause: tls.expired (stage tls); run `mqtt-doctor explain tls.expired` for what it means and how to fix it."
      - eval_time: 10m
        alertname: MqttDoctorExporterDown

  - name: one node of three fails; all nodes of another fail
    interval: 30s
    input_series:
      - series: 'probe_mqtt_node_success{job="mqtt-doctor",instance="mqtts://three:8883",module="m",node="emqx-0:8883"}'
        values: '1x20'
      - series: 'probe_mqtt_node_success{job="mqtt-doctor",instance="mqtts://three:8883",module="m",node="emqx-1:8883"}'
        values: '0x20'
      - series: 'probe_mqtt_node_success{job="mqtt-doctor",instance="mqtts://three:8883",module="m",node="emqx-2:8883"}'
        values: '1x20'
      - series: 'probe_mqtt_root_cause_info{job="mqtt-doctor",instance="mqtts://three:8883",module="m",id="cluster.nodes_fail",stage="cluster"}'
        values: '1x20'
      - series: 'probe_mqtt_node_success{job="mqtt-doctor",instance="mqtts://two:8883",module="m",node="a:8883"}'
        values: '0x20'
      - series: 'probe_mqtt_node_success{job="mqtt-doctor",instance="mqtts://two:8883",module="m",node="b:8883"}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 4m
        alertname: MqttBrokerNodeFailing
      - eval_time: 6m
        alertname: MqttBrokerNodeFailing
        exp_alerts:
          - exp_labels: {severity: warning, job: mqtt-doctor, instance: "mqtts://three:8883", module: m, node: "emqx-1:8883"}
            exp_annotations:
              summary: "Node emqx-1:8883 of MQTT broker mqtts://three:8883 fails"
              description: "Node emqx-1:8883 behind mqtts://three:8883 has failed mqtt-doctor's probe for 5 minutes while other nodes of the same name pass: clients that resolve to it cannot connect. Root cause: cluster.nodes_fail (stage cluster); run `mqtt-doctor explain cluster.nodes_fail`."

  - name: certificates 10 and 20 days from expiry
    interval: 1m
    input_series:
      - series: 'probe_ssl_earliest_cert_expiry{job="mqtt-doctor",instance="mqtts://soon:8883"}'
        values: '864000x40'
      - series: 'probe_ssl_earliest_cert_expiry{job="mqtt-doctor",instance="mqtts://later:8883"}'
        values: '1728000x40'
    alert_rule_test:
      - eval_time: 10m
        alertname: MqttBrokerCertificateExpiringSoon
      - eval_time: 20m
        alertname: MqttBrokerCertificateExpiringSoon
        exp_alerts:
          - exp_labels: {severity: warning, job: mqtt-doctor, instance: "mqtts://soon:8883"}

  - name: a token that is no longer renewed, and one that is
    interval: 30s
    input_series:
      - series: 'probe_mqtt_token_expiry_timestamp_seconds{job="mqtt-doctor",instance="mqtts://stale:8883"}'
        values: '600x30'
      - series: 'probe_mqtt_token_expiry_timestamp_seconds{job="mqtt-doctor",instance="mqtts://renewed:8883"}'
        values: '720+30x30'
    alert_rule_test:
      - eval_time: 5m
        alertname: MqttProbeTokenExpiringSoon
      - eval_time: 7m
        alertname: MqttProbeTokenExpiringSoon
        exp_alerts:
          - exp_labels: {severity: warning, job: mqtt-doctor, instance: "mqtts://stale:8883"}

  - name: a slow CONNACK, a slow handshake and a fast broker
    interval: 30s
    input_series:
      - series: 'probe_mqtt_duration_seconds{job="mqtt-doctor",instance="mqtt://slow:1883",phase="connack"}'
        values: '1.5x20'
      - series: 'probe_mqtt_duration_seconds{job="mqtt-doctor",instance="mqtt://slow:1883",phase="tls"}'
        values: '1.5x20'
      - series: 'probe_mqtt_duration_seconds{job="mqtt-doctor",instance="mqtt://fast:1883",phase="connack"}'
        values: '0.2x20'
    alert_rule_test:
      - eval_time: 4m
        alertname: MqttBrokerConnackSlow
      - eval_time: 6m
        alertname: MqttBrokerConnackSlow
        exp_alerts:
          - exp_labels: {severity: warning, job: mqtt-doctor, instance: "mqtt://slow:1883", phase: connack}

  - name: the exporter does not answer a Probe
    interval: 30s
    input_series:
      - series: 'up{job="mqtt-doctor",instance="mqtt://x:1883"}'
        values: '0x20'
      - series: 'up{job="mqtt-doctor-exporter",instance="exporter:9883"}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 6m
        alertname: MqttDoctorExporterDown
        exp_alerts:
          - exp_labels: {severity: critical, job: mqtt-doctor, instance: "mqtt://x:1883"}

  - name: no Probe is scraped at all
    interval: 30s
    input_series:
      - series: 'up{job="mqtt-doctor-exporter",instance="exporter:9883"}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 6m
        alertname: MqttDoctorExporterDown
        exp_alerts:
          - exp_labels: {severity: critical, job: mqtt-doctor}

  - name: refused probes for one module
    interval: 30s
    input_series:
      - series: 'mqtt_doctor_probes_total{job="mqtt-doctor-exporter",instance="exporter:9883",module="mqtt_plain",result="refused"}'
        values: '0+1x20'
      - series: 'mqtt_doctor_probes_total{job="mqtt-doctor-exporter",instance="exporter:9883",module="mqtt_plain",result="success"}'
        values: '0+2x20'
      - series: 'mqtt_doctor_probes_total{job="mqtt-doctor-exporter",instance="exporter:9883",module="mqtts_sa_token",result="refused"}'
        values: '3x20'
    alert_rule_test:
      - eval_time: 5m
        alertname: MqttDoctorProbesRefused
        exp_alerts:
          - exp_labels: {severity: warning, job: mqtt-doctor-exporter, module: mqtt_plain}
"#;

#[test]
fn the_alerts_fire_when_promtool_s_unit_tests_say() {
    let manifests = manifests();
    let mut groups = rule_groups(&manifests);
    let mut alerts = BTreeSet::new();
    for group in groups.as_sequence_mut().unwrap() {
        for rule in group["rules"].as_sequence_mut().unwrap() {
            let alert = text(rule, "alert").to_string();
            if !["MqttBrokerDown", "MqttBrokerNodeFailing"].contains(&alert.as_str()) {
                rule.as_mapping_mut().unwrap().remove("annotations");
            }
            alerts.insert(alert);
        }
    }
    // Every alert is tested.
    for alert in &alerts {
        assert!(
            RULE_TESTS.contains(&format!("alertname: {alert}\n")),
            "{alert} has no promtool unit test"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let mut plain = serde_norway::Mapping::new();
    plain.insert("groups".into(), groups);
    fs::write(
        dir.path().join("rules.yml"),
        serde_norway::to_string(&plain).unwrap(),
    )
    .unwrap();
    fs::write(dir.path().join("tests.yml"), RULE_TESTS).unwrap();
    let output = promtool()
        .current_dir(dir.path())
        .args(["test", "rules", "tests.yml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "promtool test rules:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("SUCCESS"), "{stdout}");
}

#[test]
fn the_rules_and_the_dashboard_read_only_metrics_the_exporter_exposes() {
    let manifests = manifests();
    let mut from_rules = BTreeSet::new();
    let mut phases = Vec::new();
    for rule in rules(&manifests) {
        let mut texts = vec![text(&rule, "expr").to_string()];
        // Annotations run queries too (the root cause).
        for (_, value) in rule["annotations"].as_mapping().unwrap() {
            texts.push(value.as_str().unwrap().to_string());
        }
        for t in &texts {
            from_rules.extend(metric_names(t));
            phases.extend(phase_values(t));
        }
    }
    let mut from_dashboard = BTreeSet::new();
    for expression in dashboard_expressions(&dashboard()) {
        from_dashboard.extend(metric_names(&expression));
        phases.extend(phase_values(&expression));
    }
    for (what, names) in [("rules", &from_rules), ("dashboard", &from_dashboard)] {
        for name in names.iter() {
            assert!(
                is_exposed(name),
                "the {what} read {name}, which the exporter does not expose"
            );
        }
    }
    for phase in &phases {
        assert!(PHASES.contains(&phase.as_str()), "no phase {phase:?}");
    }
    assert!(phases.iter().any(|p| p == "connack"));

    // What each is for, so that the checks above are not vacuous.
    for name in [
        "probe_success",
        "probe_mqtt_node_success",
        "probe_ssl_earliest_cert_expiry",
        "probe_mqtt_token_expiry_timestamp_seconds",
        "probe_mqtt_duration_seconds",
        "probe_mqtt_root_cause_info",
        "mqtt_doctor_probes_total",
    ] {
        assert!(from_rules.contains(name), "the rules do not use {name}");
    }
    for name in [
        "probe_success",
        "probe_mqtt_duration_seconds",
        "probe_ssl_earliest_cert_expiry",
        "probe_mqtt_root_cause_info",
        "probe_mqtt_node_success",
    ] {
        assert!(
            from_dashboard.contains(name),
            "the dashboard does not use {name}"
        );
    }
    assert_eq!(
        metric_names("sum(rate(mqtt_doctor_probe_duration_seconds_bucket[5m])) / probe_success"),
        ["mqtt_doctor_probe_duration_seconds_bucket", "probe_success"]
    );
    assert!(is_exposed("mqtt_doctor_probe_duration_seconds_bucket"));
    assert!(!is_exposed("probe_mqtt_connack_seconds"));
    assert!(!is_exposed("probe_success_bucket"));
}

#[test]
fn the_dashboard_parses_and_every_panel_queries_the_chosen_data_source_and_targets() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39);
    assert!(!dashboard["title"].as_str().unwrap().is_empty());
    let variables: BTreeMap<&str, &serde_json::Value> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    assert_eq!(variables["datasource"]["type"], "datasource");
    assert_eq!(variables["datasource"]["query"], "prometheus");
    let target = variables["target"];
    assert_eq!(target["type"], "query");
    assert_eq!(
        target["query"]["query"],
        format!("label_values(probe_success{{job=\"{PROBE_JOB}\"}}, instance)")
    );
    assert_eq!(target["datasource"]["uid"], "${datasource}");

    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 5);
    let mut ids = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "{title}: id");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title}: wider than the grid"
        );
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            assert!(!expr.trim().is_empty(), "{title}: empty query");
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            if expr.contains("probe_") {
                assert!(
                    expr.contains(&format!("job=\"{PROBE_JOB}\""))
                        && expr.contains("instance=~\"$target\""),
                    "{title}: {expr} ignores the job or the target variable"
                );
            }
        }
    }
}

#[test]
fn every_explain_the_manifests_point_to_exists() {
    let mut ids = BTreeSet::new();
    for file in ["prometheusrule.yaml", "grafana-dashboard.json", "README.md"] {
        let text = read(file);
        for (start, _) in text.match_indices("mqtt-doctor explain ") {
            let rest = &text[start + "mqtt-doctor explain ".len()..];
            let id: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == '.')
                .collect();
            if id.contains('.') {
                ids.insert(id);
            }
        }
    }
    assert!(ids.len() >= 2, "{ids:?}");
    for id in &ids {
        let run = common::run(&["explain", id]);
        assert_eq!(run.code, 0, "mqtt-doctor explain {id}: {}", run.stderr);
    }
}
