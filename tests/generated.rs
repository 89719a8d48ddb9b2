//! Checked-in generated files (shell completions, man page) must match what the current clap
//! definition generates. To refresh them after changing the CLI:
//!
//!     UPDATE_GENERATED=1 cargo test --test generated

use std::fs;

use clap_complete::Shell;
use mqtt_doctor::cli::{completion_script, man_page};

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
fn man_page_is_current() {
    check("docs/man/mqtt-doctor.1", &man_page());
}
