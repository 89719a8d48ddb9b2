//! Replays every fuzz seed and every input a fuzzer ever failed on (`fuzz/seeds/TARGET/`,
//! `fuzz/regressions/TARGET/`) through the entry points the fuzz targets call, so that a fixed
//! crash stays fixed in the ordinary test suite, without nightly Rust or cargo-fuzz.

use std::fs;
use std::path::{Path, PathBuf};

use mqtt_doctor::fuzzing::TARGETS;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_input_runs_clean() {
    for (name, entry) in TARGETS {
        let seeds = inputs(&root().join("seeds").join(name));
        assert!(
            seeds.len() >= 3,
            "fuzz/seeds/{name} needs seeds: the fuzzer starts from them"
        );
        let regressions = inputs(&root().join("regressions").join(name));
        for input in seeds.iter().chain(&regressions) {
            let bytes = fs::read(input).unwrap();
            // A panic here names the input through the test's output.
            eprintln!("{name}: {}", input.display());
            entry(&bytes);
        }
    }
}

/// `fuzz/fuzz_targets/` and [`TARGETS`] name the same targets, each file calling its entry.
#[test]
fn fuzz_targets_match_the_entry_points() {
    let mut files: Vec<String> = inputs(&root().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(files, names);
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for name in &names {
        let source = fs::read_to_string(root().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            source.contains(&format!("mqtt_doctor::fuzzing::{name}(data)")),
            "fuzz_targets/{name}.rs does not call fuzzing::{name}"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
}
