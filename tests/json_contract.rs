//! The JSON report is a contract: real reports deserialize strictly into the documented model,
//! and every field they carry is listed in docs/json-schema.md.

mod common;

use common::{closed_port, run};
use serde_json::Value;

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn report_fields_are_documented_and_strict() {
    let out = run(&[
        "doctor",
        &format!("127.0.0.1:{}", closed_port()),
        "--format",
        "json",
    ]);
    let report = out.report();
    assert_eq!(report.schema_version, 3);
    assert_eq!(report.preset, None, "absent without --preset");
    assert_eq!(report.tool.name, "mqtt-doctor");
    assert!(report.started_at.ends_with('Z'), "{}", report.started_at);

    let doc = std::fs::read_to_string("docs/json-schema.md").unwrap();
    let json: Value = common::parse_valid(&out.stdout).unwrap();
    let mut fields = keys(&json);
    for object in [
        &json["tool"],
        &json["target"],
        &json["verdict"],
        &json["stages"][0],
        &json["findings"][0],
    ] {
        fields.extend(keys(object));
    }
    for field in fields {
        assert!(
            doc.contains(&format!("`{field}`")),
            "docs/json-schema.md does not document `{field}`"
        );
    }
}

#[test]
fn token_report_fields_are_documented_and_strict() {
    let token = common::jwt::Token::new("HS256")
        .claim("sub", "device")
        .lifetime(0, 3600)
        .hs256(b"k");
    let out = run(&["token", "inspect", "--token", &token, "--format", "json"]);
    let report = out.token_report();
    assert_eq!(report.schema_version, 3);
    let doc = std::fs::read_to_string("docs/json-schema.md").unwrap();
    let json: Value = common::parse_valid(&out.stdout).unwrap();
    let mut fields = keys(&json);
    fields.extend(keys(&json["verdict"]));
    fields.extend(keys(&json["findings"][0]));
    for field in fields {
        assert!(
            doc.contains(&format!("`{field}`")),
            "docs/json-schema.md does not document `{field}`"
        );
    }
}

#[test]
fn unknown_fields_are_rejected() {
    let out = run(&[
        "doctor",
        &format!("127.0.0.1:{}", closed_port()),
        "--format",
        "json",
    ]);
    let mut json: Value = common::parse_valid(&out.stdout).unwrap();
    json["surprise"] = Value::Bool(true);
    let strict = serde_json::from_value::<mqtt_doctor::report::Report>(json.clone());
    assert!(
        strict.is_err(),
        "the model must reject fields it does not know"
    );
    // The published schema rejects it too, and a wrong type, with a real validator.
    let schema_says = common::parse_valid::<Value>(&json.to_string());
    assert!(
        schema_says.as_ref().is_err_and(|e| e.contains("surprise")),
        "{schema_says:?}"
    );
    json.as_object_mut().unwrap().remove("surprise");
    json["duration_ms"] = Value::String("fast".into());
    assert!(common::parse_valid::<Value>(&json.to_string()).is_err());
    // `mqtt-doctor schema` prints the published file.
    let schema = run(&["schema"]);
    assert_eq!(
        schema.stdout,
        std::fs::read_to_string("docs/report.schema.json").unwrap()
    );
}

#[test]
fn multi_target_fields_are_documented_and_strict() {
    let (a, b) = (
        format!("127.0.0.1:{}", closed_port()),
        format!("127.0.0.1:{}", closed_port()),
    );
    let out = run(&[
        "doctor",
        &a,
        &b,
        "--preset",
        "mosquitto",
        "--format",
        "json",
    ]);
    let multi: mqtt_doctor::report::MultiReport = common::parse_valid(&out.stdout).unwrap();
    assert_eq!(multi.reports.len(), 2);
    assert_eq!(multi.reports[0].preset.as_deref(), Some("mosquitto"));

    let doc = std::fs::read_to_string("docs/json-schema.md").unwrap();
    let json: Value = common::parse_valid(&out.stdout).unwrap();
    let mut fields = keys(&json);
    fields.extend(keys(&json["verdict"]));
    fields.extend(keys(&json["reports"][0]));
    for field in fields {
        assert!(
            doc.contains(&format!("`{field}`")),
            "docs/json-schema.md does not document `{field}`"
        );
    }
}

#[test]
fn node_and_cluster_fields_are_documented_and_strict() {
    let a = common::Mosquitto::start("");
    let b = common::Mosquitto::start("");
    let urls = [
        format!("mqtt://127.0.0.1:{}", a.port),
        format!("mqtt://127.0.0.1:{}", b.port),
    ];
    let out = run(&[
        "doctor",
        &urls[0],
        &urls[1],
        "--cluster",
        "--format",
        "json",
    ]);
    let multi: mqtt_doctor::report::MultiReport = common::parse_valid(&out.stdout).unwrap();
    assert_eq!(multi.schema_version, 3);
    let doc = std::fs::read_to_string("docs/json-schema.md").unwrap();
    let json: Value = common::parse_valid(&out.stdout).unwrap();
    let node = &json["reports"][0]["nodes"][0];
    let mut fields = keys(&json["cluster"]);
    fields.extend(keys(&json["cluster"]["nodes"][0]));
    fields.extend(keys(node));
    fields.extend(keys(&node["observed"]));
    fields.extend(keys(&node["observed"]["connack"]));
    fields.extend(keys(&node["observed"]["connack"]["capabilities"]));
    assert!(fields.len() > 12, "{fields:?}");
    for field in fields {
        assert!(
            doc.contains(&format!("`{field}`")),
            "docs/json-schema.md does not document `{field}`"
        );
    }
}
