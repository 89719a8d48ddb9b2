//! `kubectl mqtt-doctor` (issue 22): the binary run as `kubectl-mqtt_doctor` (through a symlink,
//! as krew installs it) parses the plugin's arguments; `--dry-run` prints the kubectl commands
//! for each combination of options; bad input is a usage error; the real runner, with a fake
//! `kubectl` on PATH that records its arguments, runs exactly the commands the dry run prints
//! and goes on without the resources when `kubectl get` is forbidden; and the krew manifest is
//! a valid plugin manifest whose release archives hold what it names.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{BIN, Run};
use mqtt_doctor::plugin::shell_quote;
use serde_norway::Value;

const GET: &str = "kubectl --namespace=factory get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services --all-namespaces --output=json --request-timeout=30s";

/// A temporary directory with the plugin's symlink, a cache directory and, when asked, a fake
/// kubectl.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("bin")).unwrap();
        symlink(BIN, dir.path().join("bin/kubectl-mqtt_doctor")).unwrap();
        Sandbox { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// The plugin, started through its symlink, with a clean environment: this sandbox's bin
    /// directory first on PATH, its cache as XDG_CACHE_HOME.
    fn plugin(&self) -> Command {
        let mut command = Command::new(self.path("bin/kubectl-mqtt_doctor"));
        command.env_clear();
        command.env("PATH", self.path_var());
        command.env("XDG_CACHE_HOME", self.cache());
        command.stdin(Stdio::null());
        command
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn run(&self, args: &[&str]) -> Run {
        run_command(self.plugin(), args)
    }

    /// A fake kubectl: it appends its arguments (one call per line, each argument followed by
    /// a 0x1f byte) to calls.log, keeps what `debug`/`exec` read on stdin and the `--custom`
    /// file, and answers like kubectl: canned JSON for the resources (or, with FAKE_GET=forbidden,
    /// kubectl's Forbidden error and exit 1), "1" for the debug container's exit code, exit 1
    /// from the doctor under `exec`.
    fn fake_kubectl(&self) {
        let script = r#"#!/bin/sh
dir=$(dirname "$0")/..
for arg in "$@"; do printf '%s\037' "$arg"; done >> "$dir/calls.log"
echo >> "$dir/calls.log"
for arg in "$@"; do
  case "$arg" in
    --custom=*) cp "${arg#--custom=}" "$dir/custom.json" ;;
  esac
done
case " $* " in
  *" get brokers,"*)
    if [ "$FAKE_GET" = forbidden ]; then
      echo 'Error from server (Forbidden): brokers.connectivity.iot.azure.com is forbidden: User "dev" cannot list resource "brokers" in API group "connectivity.iot.azure.com" at the cluster scope' >&2
      exit 1
    fi
    echo '{"apiVersion":"v1","items":[],"kind":"List","metadata":{"resourceVersion":""}}' ;;
  *" debug "*) cat > "$dir/stdin"; echo "doctor output" ;;
  *" get pod "*) echo 1 ;;
  *" cp "*) ;;
  *" exec "*" rm -f "*) ;;
  *" exec "*) cat > "$dir/stdin"; echo "doctor output"; exit 1 ;;
  *) echo "fake kubectl: unexpected call: $*" >&2; exit 99 ;;
esac
"#;
        let path = self.path("bin/kubectl");
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The recorded calls, each as its list of arguments (without the program).
    fn calls(&self) -> Vec<Vec<String>> {
        let log = fs::read_to_string(self.path("calls.log")).unwrap_or_default();
        log.lines()
            .map(|line| {
                line.split('\u{1f}')
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect()
            })
            .collect()
    }

    /// Runs each dry-run line with `sh`, as a person would paste it, against the fake kubectl,
    /// and returns the calls it recorded: the shell's reading of the quoted lines.
    fn replay(&self, dry_run: &str) -> Vec<Vec<String>> {
        let _ = fs::remove_file(self.path("calls.log"));
        for line in dry_run.lines() {
            let status = Command::new("sh")
                .arg("-c")
                .arg(format!("{line} < /dev/null > /dev/null"))
                .env_clear()
                .env("PATH", self.path_var())
                .status()
                .expect("sh runs");
            assert!(status.code().is_some(), "{line}");
        }
        self.calls()
    }
}

fn run_command(mut command: Command, args: &[&str]) -> Run {
    let output = command.args(args).output().expect("the plugin runs");
    Run {
        code: output.status.code().expect("not killed by a signal"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn dry_run(sandbox: &Sandbox, args: &[&str]) -> Vec<String> {
    // Before any `--`, behind which it would be a doctor option.
    let mut all = args.to_vec();
    all.insert(0, "--dry-run");
    let run = sandbox.run(&all);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
    run.stdout.lines().map(String::from).collect()
}

#[test]
fn debug_mode_dry_run_collects_the_resources_and_pipes_them_to_the_debug_container() {
    let sandbox = Sandbox::new();
    let custom = sandbox
        .cache()
        .join("mqtt-doctor/kubectl-debug-stdin-once.json");
    let lines = dry_run(
        &sandbox,
        &[
            "mqtt-client-7d9f8",
            "-n",
            "factory",
            "-c",
            "app",
            "--name",
            "doctor-1",
        ],
    );
    assert_eq!(
        lines,
        [
            GET.to_string(),
            format!(
                "kubectl --namespace=factory debug mqtt-client-7d9f8 --image=mqtt-doctor:{} \
                 --target=app --container=doctor-1 --profile=general --custom={} \
                 --env=MQTT_DOCTOR_ROOT=/proc/1/root --quiet --stdin -- /mqtt-doctor doctor \
                 --k8s-resources - --preset aio",
                env!("CARGO_PKG_VERSION"),
                custom.display()
            ),
            "kubectl --namespace=factory get pod mqtt-client-7d9f8 \
             '--output=jsonpath={.status.ephemeralContainerStatuses[?(@.name==\"doctor-1\")].state.terminated.exitCode}' \
             --request-timeout=30s"
                .to_string(),
        ]
    );
    // A dry run writes nothing.
    assert!(!custom.exists());
}

#[test]
fn context_kubeconfig_and_namespace_go_to_every_kubectl_call() {
    let sandbox = Sandbox::new();
    for mode in ["debug", "copy"] {
        let lines = dry_run(
            &sandbox,
            &[
                "pod-1",
                "--mode",
                mode,
                "-c",
                "app",
                "-n",
                "factory",
                "--context",
                "prod-west",
                "--kubeconfig",
                "/home/me/kube configs/prod",
            ],
        );
        assert_eq!(
            lines.len(),
            if mode == "debug" { 3 } else { 4 },
            "{lines:#?}"
        );
        for line in &lines {
            assert!(
                line.starts_with(
                    "kubectl '--kubeconfig=/home/me/kube configs/prod' --context=prod-west \
                     --namespace=factory "
                ),
                "{line}"
            );
        }
    }
}

#[test]
fn doctor_options_after_the_double_dash_replace_the_default_preset() {
    let sandbox = Sandbox::new();
    let lines = dry_run(
        &sandbox,
        &[
            "pod-1",
            "-c",
            "app",
            "--name",
            "d",
            "--",
            "--preset",
            "aio",
            "aio-broker",
            "--format",
            "json",
            "--ws-header",
            "X-Note: it's here",
        ],
    );
    assert!(
        lines[1].ends_with(
            " -- /mqtt-doctor doctor --k8s-resources - --preset aio aio-broker --format json \
             --ws-header 'X-Note: it'\\''s here'"
        ),
        "{}",
        lines[1]
    );
    // Without a namespace, none is passed: kubectl's own default applies.
    assert!(
        lines.iter().all(|l| !l.contains("--namespace")),
        "{lines:#?}"
    );
    // The doctor fetching the resources itself (--k8s-api), or reading a token from its
    // standard input, gets no resources from the plugin: the two would clash (a usage error).
    for own in [
        &["--k8s-api"][..],
        &["--token", "-"][..],
        &["--token=-"][..],
    ] {
        let mut args = vec!["pod-1", "-c", "app", "--name", "d", "--", "--preset", "aio"];
        args.extend_from_slice(own);
        let lines = dry_run(&sandbox, &args);
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("brokerlisteners") && !l.contains("--k8s-resources")),
            "{own:?}: {lines:#?}"
        );
    }
}

#[test]
fn copy_mode_copies_this_binary_runs_it_with_exec_and_removes_it() {
    let sandbox = Sandbox::new();
    let own = fs::canonicalize(BIN).unwrap();
    let lines = dry_run(
        &sandbox,
        &["pod-1", "-n", "factory", "--mode", "copy", "-c", "app"],
    );
    assert_eq!(
        lines,
        [
            GET.to_string(),
            format!(
                "kubectl --namespace=factory cp {} pod-1:/tmp/mqtt-doctor --container=app",
                own.display()
            ),
            "kubectl --namespace=factory exec pod-1 --container=app --stdin -- /tmp/mqtt-doctor \
             doctor --k8s-resources - --preset aio"
                .to_string(),
            "kubectl --namespace=factory exec pod-1 --container=app -- rm -f /tmp/mqtt-doctor"
                .to_string(),
        ]
    );
    // No container: kubectl picks the pod's default one; another binary and destination.
    let lines = dry_run(
        &sandbox,
        &[
            "pod-1",
            "--mode",
            "copy",
            "--no-resources",
            "--binary",
            "/opt/arm64/mqtt-doctor",
            "--dest",
            "/work/md",
        ],
    );
    assert_eq!(
        lines,
        [
            "kubectl cp /opt/arm64/mqtt-doctor pod-1:/work/md",
            "kubectl exec pod-1 -- /work/md doctor --preset aio",
            "kubectl exec pod-1 -- rm -f /work/md",
        ]
    );
}

#[test]
fn no_resources_attaches_without_stdin_and_user_goes_into_the_custom_profile() {
    let sandbox = Sandbox::new();
    let lines = dry_run(
        &sandbox,
        &[
            "pod-1",
            "-c",
            "app",
            "--name",
            "d",
            "--no-resources",
            "--image",
            "reg.example/md:1",
        ],
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(
        lines[0],
        "kubectl debug pod-1 --image=reg.example/md:1 --target=app --container=d \
         --profile=general --env=MQTT_DOCTOR_ROOT=/proc/1/root --quiet --attach -- /mqtt-doctor \
         doctor --preset aio"
    );
    let lines = dry_run(
        &sandbox,
        &[
            "pod-1",
            "-c",
            "app",
            "--name",
            "d",
            "--user",
            "0",
            "--profile",
            "sysadmin",
        ],
    );
    let custom = sandbox
        .cache()
        .join("mqtt-doctor/kubectl-debug-stdin-once-user-0.json");
    assert!(
        lines[1].contains(&format!(
            "--profile=sysadmin --custom={} ",
            custom.display()
        )),
        "{}",
        lines[1]
    );
    // The image can come from the environment.
    let mut command = sandbox.plugin();
    command.env(
        "MQTT_DOCTOR_IMAGE",
        "registry.example.com/mqtt-doctor:0.1.0",
    );
    let run = run_command(command, &["pod-1", "-c", "app", "--dry-run"]);
    assert!(
        run.stdout
            .contains(" --image=registry.example.com/mqtt-doctor:0.1.0 "),
        "{run:?}"
    );
}

#[test]
fn the_default_debug_container_name_is_new_for_each_run() {
    let sandbox = Sandbox::new();
    let name = |lines: Vec<String>| {
        let at = lines[0]
            .find("--container=mqtt-doctor-")
            .expect("a default name")
            + 12;
        lines[0][at..at + 17].to_string()
    };
    let first = name(dry_run(&sandbox, &["pod-1", "-c", "app", "--no-resources"]));
    assert!(
        first.len() == 17
            && first[12..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{first}"
    );
    let second = name(dry_run(&sandbox, &["pod-1", "-c", "app", "--no-resources"]));
    assert_ne!(first, second);
}

#[test]
fn bad_arguments_are_usage_errors_with_a_clear_message() {
    let sandbox = Sandbox::new();
    let cases: &[(&[&str], &str)] = &[
        (&[], "the following required arguments were not provided"),
        (
            &["pod-1", "--mode", "exec"],
            "invalid value 'exec' for '--mode <MODE>'",
        ),
        (&["pod-1"], "--mode debug needs -c CONTAINER"),
        (
            &["Pod_1", "-c", "app"],
            "POD \"Pod_1\" is not a Kubernetes name",
        ),
        (
            &["pod-1", "-c", "app", "-n", "a:b"],
            "-n \"a:b\" is not a Kubernetes name",
        ),
        (
            &["pod-1", "--mode", "copy", "--user", "0"],
            "--user only applies to --mode debug",
        ),
        (
            &["pod-1", "-c", "app", "--binary", "/x"],
            "--binary only applies to --mode copy",
        ),
        (
            &[
                "pod-1",
                "--mode",
                "copy",
                "--binary",
                "build:arm64/mqtt-doctor",
            ],
            "cannot be given to kubectl cp",
        ),
        (
            &["pod-1", "--mode", "copy", "--binary=-mqtt-doctor"],
            "cannot be given to kubectl cp",
        ),
        (
            &["pod-1", "-c", "app", "--user", "root"],
            "invalid value 'root' for '--user <UID>'",
        ),
        (
            &["pod-1", "-c", "app", "--preset", "aio"],
            "unexpected argument '--preset'",
        ),
    ];
    for (args, message) in cases {
        for dry in [true, false] {
            let mut all = args.to_vec();
            if dry {
                all.insert(0, "--dry-run");
            }
            let run = sandbox.run(&all);
            assert_eq!(run.code, 2, "{all:?}: {run:?}");
            assert!(run.stderr.contains(message), "{all:?}: {}", run.stderr);
            assert!(run.stderr.contains("try '--help'"), "{}", run.stderr);
            assert_eq!(run.stdout, "");
        }
    }
}

#[test]
fn help_shows_examples_and_the_binary_stays_the_doctor_under_its_own_name() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout
            .contains("Usage: kubectl mqtt-doctor [OPTIONS] <POD> [-- <DOCTOR OPTIONS>...]")
    );
    assert!(
        run.stdout
            .contains("Examples:\n  kubectl mqtt-doctor mqtt-client-7d9f8")
    );
    assert!(run.stdout.contains("docs/guide/pod.md"));
    // The same file under its own name is the doctor.
    let run = common::run(&["--help"]);
    assert!(run.stdout.contains("Usage: mqtt-doctor"), "{run:?}");
}

#[test]
fn the_runner_runs_exactly_the_dry_run_commands_and_pipes_the_resources() {
    for mode in ["debug", "copy"] {
        let sandbox = Sandbox::new();
        sandbox.fake_kubectl();
        let args = [
            "pod-1",
            "-n",
            "factory",
            "-c",
            "app",
            "--context",
            "kind-kind",
            "--mode",
            mode,
            "--",
            "--format",
            "json",
            "--ws-header",
            "X-Note: it's $HOME",
        ];
        let mut args: Vec<&str> = args.to_vec();
        if mode == "debug" {
            args.splice(1..1, ["--name", "doctor-1", "--user", "1000"]);
        }
        let run = sandbox.run(&args);
        // The doctor's exit code: the pod status's for debug, exec's for copy.
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(run.stdout, "doctor output\n", "{run:?}");
        assert_eq!(run.stderr, "", "{run:?}");
        let real = sandbox.calls();
        let stdin = fs::read_to_string(sandbox.path("stdin")).unwrap();
        assert!(
            stdin.starts_with("{\"apiVersion\":\"v1\",\"items\":[]"),
            "{stdin}"
        );
        if mode == "debug" {
            let custom = fs::read_to_string(sandbox.path("custom.json")).unwrap();
            let custom: serde_json::Value = serde_json::from_str(&custom).unwrap();
            assert_eq!(
                custom,
                serde_json::json!({
                    "stdinOnce": true,
                    "securityContext": {"runAsUser": 1000, "runAsNonRoot": true}
                })
            );
        }

        let mut dry = args.clone();
        dry.insert(1, "--dry-run");
        let printed = sandbox.run(&dry);
        assert_eq!(printed.code, 0, "{printed:?}");
        assert_eq!(
            printed.stdout.lines().count(),
            real.len(),
            "{printed:?}\n{real:#?}"
        );
        assert_eq!(sandbox.replay(&printed.stdout), real, "{}", printed.stdout);
        assert!(
            real.iter().all(|call| call[0] == "--context=kind-kind"),
            "{real:#?}"
        );
    }
}

#[test]
fn a_forbidden_get_is_reported_and_the_doctor_runs_without_the_resources() {
    let sandbox = Sandbox::new();
    sandbox.fake_kubectl();
    let args = ["pod-1", "-n", "factory", "-c", "app", "--name", "doctor-1"];
    let mut command = sandbox.plugin();
    command.env("FAKE_GET", "forbidden");
    let run = run_command(command, &args);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "doctor output\n");
    assert_eq!(
        run.stderr,
        "kubectl mqtt-doctor: could not collect the broker resources (kubectl get: Error from \
         server (Forbidden): brokers.connectivity.iot.azure.com is forbidden: User \"dev\" \
         cannot list resource \"brokers\" in API group \"connectivity.iot.azure.com\" at the \
         cluster scope); the doctor runs without --k8s-resources\n"
    );
    let real = sandbox.calls();
    assert_eq!(real.len(), 3, "{real:#?}");
    // --attach, not --stdin: nothing was piped to the doctor.
    assert_eq!(fs::read_to_string(sandbox.path("stdin")).unwrap(), "");
    // After the failed get, the same commands as a run that never asked for the resources.
    let mut no_resources = args.to_vec();
    no_resources.extend(["--no-resources", "--dry-run"]);
    let printed = sandbox.run(&no_resources);
    assert_eq!(
        sandbox.replay(&printed.stdout),
        real[1..],
        "{}",
        printed.stdout
    );
    assert!(!real[1].contains(&"--k8s-resources".to_string()));
    assert!(real[1].contains(&"--attach".to_string()));
}

#[test]
fn without_kubectl_the_plugin_says_so() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.plugin();
    command.env("PATH", sandbox.path("bin"));
    let run = run_command(command, &["pod-1", "-c", "app", "--no-resources"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("cannot run kubectl"), "{}", run.stderr);
}

#[test]
fn shell_quoting_keeps_plain_words_and_quotes_the_rest() {
    assert_eq!(
        shell_quote("--image=reg.example/md:1"),
        "--image=reg.example/md:1"
    );
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), "'it'\\''s'");
    assert_eq!(shell_quote("$HOME"), "'$HOME'");
    assert_eq!(shell_quote("{.a[?(@.b==\"c\")]}"), "'{.a[?(@.b==\"c\")]}'");
}

/// The krew manifest: what krew requires of a plugin manifest, one platform per release archive.
#[test]
fn the_krew_manifest_has_what_krew_requires() {
    let manifest: Value =
        serde_norway::from_str(&fs::read_to_string("deploy/krew/mqtt-doctor.yaml").unwrap())
            .unwrap();
    let text = |value: &Value, key: &str| -> String {
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is not a string: {value:?}"))
            .to_string()
    };
    assert_eq!(
        text(&manifest, "apiVersion"),
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(text(&manifest, "kind"), "Plugin");
    assert_eq!(text(&manifest["metadata"], "name"), "mqtt-doctor");
    let spec = &manifest["spec"];
    assert_eq!(
        text(spec, "version"),
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(text(spec, "homepage").starts_with("https://"));
    assert!(!text(spec, "shortDescription").is_empty());
    assert!(text(spec, "shortDescription").len() <= 60);
    assert!(text(spec, "description").len() > 100);
    let platforms = spec["platforms"].as_sequence().expect("platforms");
    let mut seen = Vec::new();
    for platform in platforms {
        let labels = &platform["selector"]["matchLabels"];
        let (os, arch) = (text(labels, "os"), text(labels, "arch"));
        seen.push(format!("{os}/{arch}"));
        assert_eq!(
            text(platform, "uri"),
            format!(
                "https://github.com/OWNER/mqtt-doctor/releases/download/v{0}/kubectl-mqtt_doctor-v{0}-{os}-{arch}.tar.gz",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(
            text(platform, "sha256"),
            format!("SHA256_{}_{}", os.to_uppercase(), arch.to_uppercase())
        );
        assert_eq!(text(platform, "bin"), "kubectl-mqtt_doctor");
        let files = platform["files"].as_sequence().expect("files");
        let from: Vec<String> = files.iter().map(|f| text(f, "from")).collect();
        assert!(
            from.contains(&"kubectl-mqtt_doctor".to_string()),
            "{from:?}"
        );
        for file in files {
            assert_eq!(text(file, "to"), ".");
        }
    }
    assert_eq!(seen, ["linux/amd64", "linux/arm64"]);
}

/// The release script builds the archives the manifest names, holding the files it names, and
/// fills the placeholders with the owner and the archives' real SHA-256.
#[test]
fn the_release_script_fills_the_manifest_from_the_archives() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    // Any file stands in for the binaries: the script only packs them.
    let amd64 = dir.path().join("amd64");
    let arm64 = dir.path().join("arm64");
    fs::write(&amd64, "x86-64 binary").unwrap();
    fs::write(&arm64, "arm64 binary").unwrap();
    let status = Command::new("bash")
        .arg("deploy/krew/release.sh")
        .arg("example-org")
        .env("OUT_DIR", &out)
        .env("AMD64_BIN", &amd64)
        .env("ARM64_BIN", &arm64)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let filled: Value =
        serde_norway::from_str(&fs::read_to_string(out.join("mqtt-doctor.yaml")).unwrap()).unwrap();
    assert_eq!(
        filled["spec"]["homepage"].as_str(),
        Some("https://github.com/example-org/mqtt-doctor")
    );
    for (platform, contents) in filled["spec"]["platforms"]
        .as_sequence()
        .unwrap()
        .iter()
        .zip(["x86-64 binary", "arm64 binary"])
    {
        let uri = platform["uri"].as_str().unwrap();
        assert!(uri.starts_with("https://github.com/example-org/mqtt-doctor/releases/download/"));
        let archive = out.join(Path::new(uri).file_name().unwrap());
        let bytes = fs::read(&archive).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(platform["sha256"].as_str(), Some(hex.as_str()));
        let listing = Command::new("tar")
            .arg("-tzf")
            .arg(&archive)
            .output()
            .unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        let names: Vec<&str> = listing.lines().collect();
        for file in platform["files"].as_sequence().unwrap() {
            assert!(names.contains(&file["from"].as_str().unwrap()), "{names:?}");
        }
        let binary = Command::new("tar")
            .arg("-xzOf")
            .arg(&archive)
            .arg("kubectl-mqtt_doctor")
            .output()
            .unwrap();
        assert_eq!(binary.stdout, contents.as_bytes());
    }
}

/// Every `$ kubectl mqtt-doctor --dry-run ...` example in docs/guide/pod.md prints what the guide
/// shows under it (run with HOME=/home/me, as the guide's examples were).
#[test]
fn the_guides_dry_run_examples_are_real_output() {
    let sandbox = Sandbox::new();
    let guide = fs::read_to_string("docs/guide/pod.md").unwrap();
    let mut examples = 0;
    for block in guide.split("```console\n").skip(1) {
        let block = &block[..block.find("```").unwrap()];
        let mut lines = block.lines();
        let mut command = String::new();
        for line in lines.by_ref() {
            let line = line.strip_prefix("$ ").unwrap_or(line).trim();
            match line.strip_suffix('\\') {
                Some(more) => command.push_str(more),
                None => {
                    command.push_str(line);
                    break;
                }
            }
        }
        let Some(args) = command.strip_prefix("kubectl mqtt-doctor --dry-run ") else {
            continue;
        };
        let expected: String = lines.map(|l| format!("{l}\n")).collect();
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec {} --dry-run {args}",
                sandbox.path("bin/kubectl-mqtt_doctor").display()
            ))
            .env_clear()
            .env("PATH", sandbox.path_var())
            .env("HOME", "/home/me")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            expected,
            "{command}"
        );
        examples += 1;
    }
    assert_eq!(examples, 3);
}
