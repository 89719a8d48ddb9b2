//! Keeps the finding registry, its pages under docs/findings/ and the tests that emit each id
//! in step, the way rustc's tidy keeps error codes, their docs and their tests together.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use mqtt_doctor::findings::registry::{ALL, FindingDef};

const SECTIONS: [&str; 3] = ["## What it means", "## How to fix", "## Evidence"];

#[test]
fn ids_are_unique_and_well_formed() {
    let mut seen = HashSet::new();
    for def in ALL {
        assert!(seen.insert(def.id), "{} is registered twice", def.id);
        let (prefix, name) = def.id.split_once('.').expect("id is prefix.name");
        assert!(
            def.stage.id_prefixes().contains(&prefix),
            "{} is filed under stage {}, whose ids start with {:?}",
            def.id,
            def.stage.name(),
            def.stage.id_prefixes()
        );
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{} is not snake_case",
            def.id
        );
    }
}

fn check_page(def: &FindingDef) {
    let heading = format!("# {}: {}\n", def.id, def.title);
    assert!(
        def.page.starts_with(&heading),
        "{}: the page must start with {heading:?}",
        def.id
    );
    let status_line = format!(
        "Stage: {} · Default status: {}",
        def.stage.name(),
        def.status.as_str()
    );
    assert!(
        def.page.contains(&status_line),
        "{}: the page must say {status_line:?}",
        def.id
    );
    for section in SECTIONS {
        assert!(
            def.page.contains(section),
            "{}: the page lacks {section:?}",
            def.id
        );
    }
}

#[test]
fn every_id_has_a_complete_page() {
    for def in ALL {
        check_page(def);
    }
}

#[test]
fn every_page_belongs_to_a_registered_id() {
    let ids: HashSet<&str> = ALL.iter().map(|d| d.id).collect();
    for entry in fs::read_dir("docs/findings").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        if name == "README.md" {
            continue;
        }
        let id = name
            .strip_suffix(".md")
            .unwrap_or_else(|| panic!("{name} is not a page"));
        assert!(
            ids.contains(id),
            "docs/findings/{name} documents no registered id"
        );
    }
}

#[test]
fn the_findings_index_lists_every_id() {
    let index = fs::read_to_string("docs/findings/README.md").unwrap();
    for def in ALL {
        let row = format!("[`{id}`]({id}.md)", id = def.id);
        assert!(index.contains(&row), "docs/findings/README.md lacks {row}");
    }
}

/// Every id must be produced by at least one test that runs the doctor and names the id.
#[test]
fn every_id_is_emitted_by_a_test() {
    let mut sources = String::new();
    for entry in fs::read_dir("tests").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") && path != Path::new("tests/registry.rs") {
            sources.push_str(&fs::read_to_string(&path).unwrap());
        }
    }
    let missing: Vec<&str> = ALL
        .iter()
        .map(|d| d.id)
        .filter(|id| !sources.contains(&format!("\"{id}\"")))
        .collect();
    assert!(missing.is_empty(), "no test names these ids: {missing:?}");
}
