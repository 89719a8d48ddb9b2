//! Replays every fuzz seed and every input a fuzzer ever failed on (`fuzz/seeds/TARGET/`,
//! `fuzz/regressions/TARGET/`) through the entry points the fuzz targets call, so that a fixed
//! crash stays fixed in the ordinary test suite, without nightly Rust or cargo-fuzz.

use std::fs;
use std::path::{Path, PathBuf};

use mqtt_doctor::fuzzing::{FEATURE_TARGETS, TARGETS};

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
    if !cfg!(feature = "fuzzing") {
        names.extend(FEATURE_TARGETS.iter().map(|n| n.to_string()));
    }
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

/// The `mqtt_session` seeds are scenarios, each named for what its peer does: they must reach
/// the loops they are meant to exercise (a seed that no longer gets past the CONNACK would let
/// the fuzzer start from nowhere), and every wait ends at its step's end on the paused clock.
/// Without the `fuzzing` feature the `mqtt_session` seeds cannot run (they need tokio's paused
/// clock): that is a failure to see, not a test to skip silently.
#[cfg(not(feature = "fuzzing"))]
#[test]
fn session_seeds_need_the_fuzzing_feature() {
    panic!(
        "the mqtt_session fuzz seeds were not replayed: run the tests with --features fuzzing, \
         as scripts/test.sh does"
    );
}

#[cfg(feature = "fuzzing")]
#[test]
fn session_seeds_reach_their_loops_within_their_steps() {
    use std::time::Duration;

    use mqtt_doctor::fuzzing::session_run;

    let step = Duration::from_secs(1);
    let cases: [(&str, &[&str], Duration); 10] = [
        (
            "healthy-v5",
            &[
                "mqtt.client_id_given",
                "mqtt.connected",
                "acl.ok",
                "session.ok",
            ],
            Duration::from_secs(3),
        ),
        (
            "healthy-311",
            &["mqtt.client_id_given", "mqtt.connected", "session.ok"],
            Duration::from_secs(3),
        ),
        ("silent", &["mqtt.client_id_given", "mqtt.no_connack"], step),
        (
            "auth-continue-flood",
            &["mqtt.client_id_given", "mqtt.no_connack"],
            step,
        ),
        (
            "auth-reauth-flood",
            &["mqtt.client_id_given", "mqtt.no_connack"],
            step,
        ),
        (
            "auth-trickle",
            &["mqtt.client_id_given", "mqtt.no_connack"],
            step,
        ),
        (
            "publish-flood-before-suback",
            &["mqtt.client_id_given", "mqtt.connected", "session.dropped"],
            step,
        ),
        (
            "frame-trickle-in-suback-wait",
            &["mqtt.client_id_given", "mqtt.connected", "session.dropped"],
            step,
        ),
        (
            "frame-trickle-in-hold",
            &["mqtt.client_id_given", "mqtt.connected", "session.dropped"],
            step,
        ),
        (
            "slowloris-connack",
            &["mqtt.client_id_given", "mqtt.no_connack"],
            step,
        ),
    ];
    for (name, ids, bound) in cases {
        let input = fs::read(root().join("seeds/mqtt_session").join(name)).unwrap();
        let run = session_run(&input);
        assert_eq!(run.finding_ids, ids, "{name}: {run:?}");
        // The clock is paused: a wait lasts exactly its step, never a frame's worth longer.
        assert!(
            run.elapsed <= bound + Duration::from_millis(50),
            "{name}: {:?}, its step is {bound:?}",
            run.elapsed
        );
    }
}
