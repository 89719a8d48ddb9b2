//! Checked-in generated files (shell completions, man pages, the JSON Schema) must match what the current clap
//! definition generates. To refresh them after changing the CLI:
//!
//!     UPDATE_GENERATED=1 cargo test --test generated

use std::fs;

use clap_complete::Shell;
use mqtt_doctor::cli::{completion_script, man_pages};

fn check(path: &str, generated: &[u8]) {
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        fs::write(path, generated).unwrap();
        return;
    }
    let on_disk = fs::read(path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{path} is stale; run `UPDATE_GENERATED=1 cargo test --test generated` and commit the result"
    );
}

#[test]
fn the_json_schema_is_current() {
    check(
        "docs/report.schema.json",
        mqtt_doctor::report::json_schema().as_bytes(),
    );
}

#[test]
fn completions_are_current() {
    for (shell, file) in [
        (Shell::Bash, "completions/mqtt-doctor.bash"),
        (Shell::Zsh, "completions/_mqtt-doctor"),
        (Shell::Fish, "completions/mqtt-doctor.fish"),
        (Shell::PowerShell, "completions/_mqtt-doctor.ps1"),
        (Shell::Elvish, "completions/mqtt-doctor.elv"),
    ] {
        check(file, &completion_script(shell));
    }
}

#[test]
fn man_pages_are_current() {
    let pages = man_pages();
    let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "mqtt-doctor",
        "mqtt-doctor-doctor",
        "mqtt-doctor-token-inspect",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    for (name, page) in &pages {
        check(&format!("docs/man/{name}.1"), page);
    }
    // No page is left behind from a command that no longer exists.
    for entry in fs::read_dir("docs/man").unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        let stem = file.trim_end_matches(".1");
        assert!(
            names.contains(&stem),
            "docs/man/{file} belongs to no command"
        );
    }
}

/// The bash script completes options after a subcommand (clap-rs/clap#6421 worked around).
#[test]
fn bash_completes_options_of_a_subcommand() {
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(
            "source completions/mqtt-doctor.bash; COMP_WORDS=(mqtt-doctor doctor --pres); \
             COMP_CWORD=2; _mqtt__doctor mqtt-doctor --pres doctor; echo \"${COMPREPLY[*]}\"",
        )
        .output()
        .expect("bash runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "--preset");
}

#[test]
fn completions_offer_finding_ids_and_man_topics() {
    // clap_complete's fish and PowerShell scripts complete options only, not positional values.
    for shell in [Shell::Bash, Shell::Zsh] {
        let script = String::from_utf8(completion_script(shell)).unwrap();
        for id in ["tcp.refused", "cluster.nodes_fail", "token.expired"] {
            assert!(script.contains(id), "{shell:?} does not offer {id}");
        }
        assert!(
            script.contains("token-inspect"),
            "{shell:?} offers no man topics"
        );
    }
}

#[test]
fn man_pages_have_exit_status_environment_and_files() {
    let pages = man_pages();
    let page = |name: &str| {
        let (_, page) = pages.iter().find(|(n, _)| n == name).unwrap();
        String::from_utf8(page.clone()).unwrap()
    };
    let doctor = page("mqtt-doctor-doctor");
    for section in [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES"] {
        assert!(doctor.contains(section), "doctor's page has no {section}");
    }
    assert!(doctor.contains("\\fBMQTT_DOCTOR_TIMEOUT\\fR\nthe same as \\-\\-timeout"));
    assert!(doctor.contains("\\fB./mqtt\\-doctor.toml\\fR"));
    // No hyphenation, so that paths and options are never split at a line's end.
    for (name, page) in &pages {
        let text = String::from_utf8_lossy(page);
        let th = text
            .find("\n.TH ")
            .unwrap_or_else(|| panic!("{name}: no .TH"));
        assert!(text[th..].contains("\n.nh\n"), "{name} hyphenates");
    }
}
