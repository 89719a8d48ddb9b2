//! `kubectl mqtt-doctor`: the kubectl plugin that runs the doctor inside a client's pod.
//!
//! The same static binary serves both: run under the file name `kubectl-mqtt_doctor` (krew's
//! name for it, or a symlink) it parses the plugin's arguments instead of the doctor's. The
//! plugin never talks to the API server itself: it plans a list of kubectl invocations
//! ([`plan`]), which `--dry-run` prints ([`render`]) and the runner ([`run`]) executes with the
//! user's kubectl, so both show and do the same commands.
//!
//! The broker resources reach the doctor on its standard input (`--k8s-resources -`), in both
//! modes: the debug container's image is `scratch`, without the `tar` that `kubectl cp` needs, so
//! a file cannot be copied into it; stdin works the same for `kubectl debug -i` and
//! `kubectl exec -i`, and leaves no copy of the cluster's resources in the pod. An ephemeral
//! container's stdin only reaches end-of-file when the container has `stdinOnce: true`, which
//! `kubectl debug` does not set, so the plan hands kubectl a `--custom` profile that does.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};

use crate::cli::exit;

/// The file name under which the binary runs as the plugin (kubectl finds plugins on PATH by
/// `kubectl-` and the command's name, with `-` in the name spelled `_`).
pub const PLUGIN_NAME: &str = "kubectl-mqtt_doctor";

/// The image the debug container runs. Nobody publishes it yet: this is the tag
/// `docker build -t mqtt-doctor:VERSION .` gives, which only a cluster that sees local images
/// (kind load, minikube image load) can pull. Everyone else sets `--image` or MQTT_DOCTOR_IMAGE.
pub const DEFAULT_IMAGE: &str = concat!("mqtt-doctor:", env!("CARGO_PKG_VERSION"));

/// What kubectl prints the resources from; the doctor's `--k8s-resources` reads the same list.
pub const RESOURCES: &str =
    "brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services";

/// The doctor's path in its image (Containerfile).
const IMAGE_BINARY: &str = "/mqtt-doctor";

/// More than any cluster's broker resources and services; a larger answer is not read.
const MAX_RESOURCES: u64 = 16 * 1024 * 1024;
/// What is kept of a failed kubectl's stderr for the one-line message.
const MAX_STDERR: u64 = 64 * 1024;
/// Bounds each API request the plugin itself makes (the resources, the exit code).
const REQUEST_TIMEOUT: &str = "--request-timeout=30s";
/// How often, one second apart, the debug container's exit code is asked for: the pod's status
/// can lag behind the end of the attached stream.
const EXIT_CODE_POLLS: u32 = 10;

const PLUGIN_EXAMPLES: &str = "Examples:
  kubectl mqtt-doctor mqtt-client-7d9f8 -n factory -c app --image registry.example.com/mqtt-doctor:0.1.0
  kubectl mqtt-doctor mqtt-client-7d9f8 -n factory -c app --user 0 -- --preset aio --format json
  kubectl mqtt-doctor mqtt-client-7d9f8 -n factory --mode copy -- --preset aio aio-broker
  kubectl mqtt-doctor mqtt-client-7d9f8 -n factory -c app --no-resources --dry-run
  kubectl mqtt-doctor mqtt-client-7d9f8 --context prod --kubeconfig ~/.kube/prod -c app

Without doctor options the doctor runs `doctor --preset aio`. Before it, the plugin runs
`kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json`
and gives the result to the doctor's --k8s-resources on its standard input; when that fails (no
Azure IoT Operations CRDs, or forbidden) it says so and runs the doctor without it.

--mode debug (the default) adds an ephemeral container with --image to the pod (kubectl debug
--target=CONTAINER, MQTT_DOCTOR_ROOT=/proc/1/root). Reading the app's files through /proc/1/root
needs the app's user or root: the image runs as 65532; --user sets another UID (0 is root, which
--profile general's SYS_PTRACE lets read any container's files). --mode copy copies this binary
into the container with kubectl cp (the container needs tar) and runs it with kubectl exec.

--dry-run prints the kubectl commands, one per line, shell-quoted, as they would run. The
guide: docs/guide/pod.md, section \"kubectl mqtt-doctor\".

Exit codes: the doctor's (0 healthy, 1 failure found, 2 invalid invocation, 3 the doctor could
not run); 2 also for the plugin's own bad arguments, 3 when kubectl could not start or copy the
doctor or the debug container's exit code could not be read.";

/// How the doctor gets into the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// An ephemeral container from --image (kubectl debug --target): works for distroless and
    /// scratch images
    Debug,
    /// This binary copied into the container (kubectl cp, needs tar) and run with kubectl exec
    Copy,
}

/// Runs mqtt-doctor in a pod, where the MQTT client runs, with the user's kubectl.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mqtt_doctor",
    bin_name = "kubectl mqtt-doctor",
    version,
    after_help = PLUGIN_EXAMPLES
)]
pub struct PluginArgs {
    /// The pod the client runs in
    #[arg(value_name = "POD")]
    pub pod: String,

    /// The pod's namespace (passed to every kubectl call)
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// The client's container in the pod: the debug container's --target (required with --mode
    /// debug); with --mode copy, kubectl's default container when left out
    #[arg(short = 'c', long, value_name = "CONTAINER")]
    pub container: Option<String>,

    /// The kubeconfig context (passed to every kubectl call)
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,

    /// The kubeconfig file (passed to every kubectl call)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<String>,

    /// How the doctor gets into the pod
    #[arg(long, value_enum, default_value_t = Mode::Debug)]
    pub mode: Mode,

    /// The doctor's image for --mode debug (the Containerfile's). The default is only the tag a
    /// local `docker build -t mqtt-doctor:VERSION .` gives: set this to where you pushed it
    #[arg(long, value_name = "IMAGE", env = "MQTT_DOCTOR_IMAGE", default_value = DEFAULT_IMAGE)]
    pub image: String,

    /// kubectl debug's --profile for the debug container: general adds SYS_PTRACE, which root
    /// needs to read another user's /proc/1/root; restricted for a namespace whose Pod Security
    /// level refuses it (then use --user with the app's UID)
    #[arg(long, value_name = "PROFILE", default_value = "general")]
    pub profile: String,

    /// The debug container's user (runAsUser): the app container's UID, or 0 for root; by default
    /// the image's 65532
    #[arg(long, value_name = "UID")]
    pub user: Option<u32>,

    /// The debug container's name [default: mqtt-doctor- and a suffix from the clock]; ephemeral
    /// containers cannot be removed, so each run needs a new one
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The static Linux binary --mode copy copies [default: this binary]; it must match the
    /// node's architecture
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,

    /// Where --mode copy puts the binary in the container (a writable, exec-mounted path)
    #[arg(long, value_name = "PATH", default_value = "/tmp/mqtt-doctor")]
    pub dest: String,

    /// Do not collect the broker resources for the doctor's --k8s-resources
    #[arg(long)]
    pub no_resources: bool,

    /// Print the kubectl commands, one per line, shell-quoted, and run none
    #[arg(long)]
    pub dry_run: bool,

    /// The doctor's options, after `--` [default: --preset aio]
    #[arg(last = true, value_name = "DOCTOR OPTIONS")]
    pub doctor_args: Vec<String>,
}

/// The program every invocation runs: the user's kubectl, from PATH.
pub const KUBECTL: &str = "kubectl";

/// What the runner does with one invocation's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `kubectl get ... -o json`: its output is the doctor's stdin; a failure is reported and the
    /// run goes on without it.
    Resources,
    /// `kubectl cp` of the binary: a failure stops the run.
    Copy,
    /// The doctor itself, attached to the user's terminal; stdin is the resources, if any.
    Doctor,
    /// The debug container's exit code, read from the pod's status.
    ExitCode,
    /// Removing the copied binary: best effort.
    Cleanup,
}

/// One kubectl call: the program and its arguments, exactly as run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub role: Role,
    pub program: &'static str,
    pub args: Vec<String>,
}

/// The `--custom` file kubectl debug reads: a partial container spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub path: PathBuf,
    pub contents: String,
}

/// Everything a run does, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub invocations: Vec<Invocation>,
    /// Written before the invocations run (never by `--dry-run`).
    pub profile: Option<Profile>,
}

/// What the plan needs from outside the arguments, fixed before planning so that a dry run and
/// a real run of the same arguments plan the same commands.
#[derive(Clone, Debug)]
pub struct Environment {
    /// The debug container's name when `--name` is not given.
    pub default_name: String,
    /// The binary `--mode copy` copies when `--binary` is not given.
    pub own_binary: PathBuf,
    /// Where the `--custom` profiles are written.
    pub profile_dir: PathBuf,
}

impl Environment {
    pub fn current() -> Environment {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        // Five base-36 characters, like kubectl's own `debugger-xxxxx`: unique enough within one
        // pod's handful of debug containers.
        let mut suffix = String::new();
        let mut n = (nanos / 1000) ^ u128::from(std::process::id());
        for _ in 0..5 {
            let digit = (n % 36) as u32;
            suffix.push(char::from_digit(digit, 36).unwrap_or('0'));
            n /= 36;
        }
        Environment {
            default_name: format!("mqtt-doctor-{suffix}"),
            own_binary: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mqtt-doctor")),
            profile_dir: profile_dir(),
        }
    }
}

/// The user's cache directory, not a shared temporary one: the profile's path is fixed (so the
/// dry run can show it) and only its owner can put something else there.
fn profile_dir() -> PathBuf {
    let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = nonempty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| nonempty("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("mqtt-doctor")
}

/// A bad combination of arguments, caught before kubectl runs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "--mode debug needs -c CONTAINER: the container whose files the doctor reads \
         (`kubectl get pod POD -o jsonpath='{{.spec.containers[*].name}}'` lists them)"
    )]
    NoContainer,
    #[error("{what} {value:?} is not a Kubernetes name (lowercase letters, digits, '-' and '.')")]
    BadName { what: &'static str, value: String },
    /// kubectl cp reads `a:b` as a pod's path and `-x` as an option.
    #[error(
        "--binary {0:?} cannot be given to kubectl cp: give a UTF-8 path without ':' that does not \
         start with '-' (e.g. ./{0})"
    )]
    BadBinary(String),
    #[error("{option} only applies to --mode {mode}")]
    WrongMode {
        option: &'static str,
        mode: &'static str,
    },
}

/// The kubectl commands for these arguments. `with_resources` is false when the resources are
/// not wanted or could not be collected: the doctor then runs without `--k8s-resources`.
pub fn plan(args: &PluginArgs, env: &Environment, with_resources: bool) -> Result<Plan, PlanError> {
    validate(args)?;
    let kubectl = |role: Role, verb: &[&str]| {
        let mut all = Vec::new();
        // Global flags first: every verb takes them there, and each call names the same cluster.
        if let Some(kubeconfig) = &args.kubeconfig {
            all.push(format!("--kubeconfig={kubeconfig}"));
        }
        if let Some(context) = &args.context {
            all.push(format!("--context={context}"));
        }
        if let Some(namespace) = &args.namespace {
            all.push(format!("--namespace={namespace}"));
        }
        all.extend(verb.iter().map(|s| s.to_string()));
        Invocation {
            role,
            program: KUBECTL,
            args: all,
        }
    };
    // The doctor's own way to the resources (a file, or --k8s-api from the pod), or its standard
    // input taken for a token: then the plugin sends none.
    let own_way = |a: &String| {
        a == "--k8s-resources"
            || a.starts_with("--k8s-resources=")
            || a == "--k8s-api"
            || a.starts_with("--k8s-api=")
    };
    let stdin_taken = args
        .doctor_args
        .windows(2)
        .any(|w| w[0] == "--token" && w[1] == "-")
        || args.doctor_args.iter().any(|a| a == "--token=-");
    let user_resources = args.doctor_args.iter().any(own_way) || stdin_taken;
    let with_resources = with_resources && !args.no_resources && !user_resources;

    let mut invocations = Vec::new();
    if with_resources {
        invocations.push(kubectl(
            Role::Resources,
            &[
                "get",
                RESOURCES,
                "--all-namespaces",
                "--output=json",
                REQUEST_TIMEOUT,
            ],
        ));
    }
    let doctor_command = |binary: &str| {
        let mut all = vec![binary.to_string(), "doctor".to_string()];
        if with_resources {
            all.extend(["--k8s-resources".to_string(), "-".to_string()]);
        }
        if args.doctor_args.is_empty() {
            all.extend(["--preset".to_string(), "aio".to_string()]);
        } else {
            all.extend(args.doctor_args.iter().cloned());
        }
        all
    };
    let mut profile = None;
    match args.mode {
        Mode::Debug => {
            let container = args.container.as_deref().ok_or(PlanError::NoContainer)?;
            let name = args
                .name
                .clone()
                .unwrap_or_else(|| env.default_name.clone());
            profile = debug_profile(with_resources, args.user, &env.profile_dir);
            let mut verb = vec![
                "debug".to_string(),
                args.pod.clone(),
                format!("--image={}", args.image),
                format!("--target={container}"),
                format!("--container={name}"),
                format!("--profile={}", args.profile),
            ];
            if let Some(profile) = &profile {
                verb.push(format!("--custom={}", profile.path.display()));
            }
            verb.push("--env=MQTT_DOCTOR_ROOT=/proc/1/root".to_string());
            verb.push("--quiet".to_string());
            // -i attaches with stdin; without resources --attach still shows the output.
            verb.push(
                if with_resources {
                    "--stdin"
                } else {
                    "--attach"
                }
                .to_string(),
            );
            verb.push("--".to_string());
            verb.extend(doctor_command(IMAGE_BINARY));
            let verb: Vec<&str> = verb.iter().map(String::as_str).collect();
            invocations.push(kubectl(Role::Doctor, &verb));
            let jsonpath = format!(
                "--output=jsonpath={{.status.ephemeralContainerStatuses[?(@.name==\"{name}\")].state.terminated.exitCode}}"
            );
            invocations.push(kubectl(
                Role::ExitCode,
                &["get", "pod", &args.pod, &jsonpath, REQUEST_TIMEOUT],
            ));
        }
        Mode::Copy => {
            let binary = args.binary.as_ref().unwrap_or(&env.own_binary);
            let container: Vec<String> = args
                .container
                .iter()
                .map(|c| format!("--container={c}"))
                .collect();
            let container: Vec<&str> = container.iter().map(String::as_str).collect();
            let target = format!("{}:{}", args.pod, args.dest);
            let mut verb = vec!["cp", binary.to_str().unwrap_or_default(), &target];
            verb.extend(&container);
            invocations.push(kubectl(Role::Copy, &verb));
            let doctor = doctor_command(&args.dest);
            let mut verb = vec!["exec", args.pod.as_str()];
            verb.extend(&container);
            if with_resources {
                verb.push("--stdin");
            }
            verb.push("--");
            verb.extend(doctor.iter().map(String::as_str));
            invocations.push(kubectl(Role::Doctor, &verb));
            let mut verb = vec!["exec", args.pod.as_str()];
            verb.extend(&container);
            verb.extend(["--", "rm", "-f", args.dest.as_str()]);
            invocations.push(kubectl(Role::Cleanup, &verb));
        }
    }
    Ok(Plan {
        invocations,
        profile,
    })
}

fn validate(args: &PluginArgs) -> Result<(), PlanError> {
    // Names go into kubectl's arguments and `POD:PATH`; anything else (a ':' or a leading '-')
    // would change what kubectl does.
    let names = [
        ("POD", Some(&args.pod)),
        ("-n", args.namespace.as_ref()),
        ("-c", args.container.as_ref()),
        ("--name", args.name.as_ref()),
    ];
    for (what, value) in names {
        if let Some(value) = value {
            let ok = !value.is_empty()
                && value.len() <= 253
                && value.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                })
                && value.as_bytes()[0].is_ascii_alphanumeric();
            if !ok {
                return Err(PlanError::BadName {
                    what,
                    value: value.clone(),
                });
            }
        }
    }
    if let Some(binary) = &args.binary {
        let usable = binary
            .to_str()
            .is_some_and(|b| !b.contains(':') && !b.starts_with('-'));
        if !usable {
            return Err(PlanError::BadBinary(binary.display().to_string()));
        }
    }
    if args.mode == Mode::Copy {
        if args.user.is_some() {
            return Err(PlanError::WrongMode {
                option: "--user",
                mode: "debug",
            });
        }
        if args.name.is_some() {
            return Err(PlanError::WrongMode {
                option: "--name",
                mode: "debug",
            });
        }
    } else if args.binary.is_some() {
        return Err(PlanError::WrongMode {
            option: "--binary",
            mode: "copy",
        });
    }
    Ok(())
}

/// The `--custom` profile: `stdinOnce` so the doctor sees the end of its stdin, the user when
/// asked. The file's name says what it holds, so equal profiles share one file.
fn debug_profile(stdin_once: bool, user: Option<u32>, dir: &Path) -> Option<Profile> {
    let mut spec = serde_json::Map::new();
    let mut name = String::from("kubectl-debug");
    if stdin_once {
        spec.insert("stdinOnce".into(), true.into());
        name.push_str("-stdin-once");
    }
    if let Some(uid) = user {
        let mut context = serde_json::Map::new();
        context.insert("runAsUser".into(), uid.into());
        // The image says 65532 and a profile may say non-root; root must say otherwise.
        context.insert("runAsNonRoot".into(), (uid != 0).into());
        spec.insert("securityContext".into(), context.into());
        let _ = write!(name, "-user-{uid}");
    }
    if spec.is_empty() {
        return None;
    }
    Some(Profile {
        path: dir.join(format!("{name}.json")),
        contents: format!("{}\n", serde_json::Value::Object(spec)),
    })
}

/// The commands, one per line, shell-quoted: what `--dry-run` prints.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    for invocation in &plan.invocations {
        let words: Vec<String> = std::iter::once(invocation.program)
            .chain(invocation.args.iter().map(String::as_str))
            .map(shell_quote)
            .collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

/// POSIX shell quoting: plain words stay as they are, anything else goes in single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The plugin's entry point, when the binary runs as `kubectl-mqtt_doctor`.
pub fn main() -> ExitCode {
    let args = match PluginArgs::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                exit::USAGE
            } else {
                exit::HEALTHY
            });
        }
    };
    ExitCode::from(run_args(&args, &Environment::current()))
}

fn run_args(args: &PluginArgs, env: &Environment) -> u8 {
    let planned = match plan(args, env, true) {
        Ok(planned) => planned,
        Err(error) => {
            let _ = PluginArgs::command()
                .error(ErrorKind::ArgumentConflict, error.to_string())
                .print();
            return exit::USAGE;
        }
    };
    if args.dry_run {
        let text = render(&planned);
        let mut stdout = io::stdout().lock();
        return match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => exit::HEALTHY,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => exit::HEALTHY,
            Err(e) => {
                eprintln!("kubectl mqtt-doctor: cannot write to stdout: {e}");
                exit::INTERNAL
            }
        };
    }
    run(args, env, planned)
}

/// Runs the plan; when the resources cannot be collected, plans again without them.
pub fn run(args: &PluginArgs, env: &Environment, mut planned: Plan) -> u8 {
    let mut resources = None;
    if let Some(first) = planned
        .invocations
        .first()
        .filter(|i| i.role == Role::Resources)
    {
        match collect(first) {
            Ok(json) => resources = Some(json),
            Err(why) => {
                eprintln!(
                    "kubectl mqtt-doctor: could not collect the broker resources ({why}); \
                     the doctor runs without --k8s-resources"
                );
                planned = match plan(args, env, false) {
                    Ok(planned) => planned,
                    Err(e) => {
                        eprintln!("kubectl mqtt-doctor: {e}");
                        return exit::USAGE;
                    }
                };
            }
        }
    }
    if let Some(profile) = &planned.profile
        && let Err(e) = write_profile(profile)
    {
        eprintln!(
            "kubectl mqtt-doctor: cannot write {}: {e}",
            profile.path.display()
        );
        return exit::INTERNAL;
    }
    let mut code = exit::INTERNAL;
    for invocation in &planned.invocations {
        match invocation.role {
            Role::Resources => {}
            Role::Copy => match status(invocation, None) {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    eprintln!(
                        "kubectl mqtt-doctor: kubectl cp failed ({status}); the container needs \
                         tar and a writable --dest, or use --mode debug"
                    );
                    return exit::INTERNAL;
                }
                Err(e) => return cannot_run(&e),
            },
            Role::Doctor => match status(invocation, resources.as_deref()) {
                Ok(status) => match args.mode {
                    // kubectl exec ends with the command's own exit code.
                    Mode::Copy => code = status.code().map_or(exit::INTERNAL, clamp),
                    Mode::Debug if !status.success() => {
                        eprintln!(
                            "kubectl mqtt-doctor: kubectl debug failed ({status}): the debug \
                             container did not run"
                        );
                        return exit::INTERNAL;
                    }
                    Mode::Debug => {}
                },
                Err(e) => return cannot_run(&e),
            },
            Role::ExitCode => code = debug_exit_code(invocation),
            Role::Cleanup => {
                if !matches!(status_quiet(invocation), Ok(s) if s.success()) {
                    eprintln!(
                        "kubectl mqtt-doctor: could not remove {} from the container; it goes \
                         when the container restarts",
                        args.dest
                    );
                }
            }
        }
    }
    code
}

fn clamp(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(exit::INTERNAL)
}

fn cannot_run(error: &io::Error) -> u8 {
    eprintln!("kubectl mqtt-doctor: cannot run {KUBECTL}: {error}");
    exit::INTERNAL
}

fn command(invocation: &Invocation) -> Command {
    let mut command = Command::new(invocation.program);
    command.args(&invocation.args);
    command
}

/// Runs one invocation with the user's stdout and stderr; `stdin` is written to it and closed.
fn status(invocation: &Invocation, stdin: Option<&[u8]>) -> io::Result<ExitStatus> {
    let mut command = command(invocation);
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = command.spawn()?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let bytes = bytes.to_vec();
        // A thread, so that a child that stops reading cannot block the wait below; dropping
        // the pipe is the end of file the doctor waits for.
        thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    child.wait()
}

fn status_quiet(invocation: &Invocation) -> io::Result<ExitStatus> {
    command(invocation)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}

/// Runs an invocation and keeps its output (at most `cap` bytes of stdout).
fn capture(invocation: &Invocation, cap: u64) -> io::Result<(ExitStatus, Vec<u8>, String, bool)> {
    let mut child = command(invocation)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take();
    let reader = thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(stderr) = stderr {
            let _ = stderr.take(MAX_STDERR).read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout.take(cap + 1).read_to_end(&mut out)?;
    }
    let too_big = out.len() as u64 > cap;
    if too_big {
        // The rest is not wanted; kubectl must not block on a full pipe.
        let _ = child.kill();
    }
    let status = child.wait()?;
    let stderr = reader.join().unwrap_or_default();
    Ok((status, out, stderr, too_big))
}

/// The resources' JSON, or why there is none: kubectl's last line of complaint (a missing CRD,
/// Forbidden, no cluster), which follows any client-side log lines.
fn collect(invocation: &Invocation) -> Result<Vec<u8>, String> {
    let (status, out, stderr, too_big) =
        capture(invocation, MAX_RESOURCES).map_err(|e| format!("cannot run {KUBECTL}: {e}"))?;
    if too_big {
        return Err(format!("more than {} MiB", MAX_RESOURCES / 1024 / 1024));
    }
    if !status.success() {
        let first = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("no message");
        return Err(format!("kubectl get: {first}"));
    }
    Ok(out)
}

/// The debug container's exit code, from the pod's status: kubectl debug's attach ends with the
/// stream, not with the container's exit code.
fn debug_exit_code(invocation: &Invocation) -> u8 {
    for attempt in 0..EXIT_CODE_POLLS {
        if attempt > 0 {
            thread::sleep(Duration::from_secs(1));
        }
        if let Ok((status, out, _, _)) = capture(invocation, 64)
            && status.success()
            && let Ok(code) = String::from_utf8_lossy(&out).trim().parse::<u8>()
        {
            return code;
        }
    }
    eprintln!(
        "kubectl mqtt-doctor: the debug container's exit code did not show in the pod's status \
         within {EXIT_CODE_POLLS} s"
    );
    exit::INTERNAL
}

/// Writes the profile next to a temporary name and renames it into place, so that a file (or
/// symlink) already there is replaced, never written through.
/// The directory must be this user's and writable by nobody else: kubectl applies the profile
/// with the user's credentials, and with neither HOME nor XDG_CACHE_HOME set it lies under the
/// shared temporary directory, where another user could have made it first.
fn write_profile(profile: &Profile) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let dir = profile.path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let temporary = dir.join(format!(".profile-{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    // A file just made is owned by this process's user: the directory must be too.
    let me = file.metadata()?.uid();
    let owner = std::fs::symlink_metadata(dir)?;
    if !owner.is_dir() || owner.uid() != me || owner.mode() & 0o022 != 0 {
        let _ = std::fs::remove_file(&temporary);
        return Err(io::Error::other(format!(
            "{} is not a directory of this user's that only they can write: set XDG_CACHE_HOME \
             or HOME",
            dir.display()
        )));
    }
    file.write_all(profile.contents.as_bytes())?;
    drop(file);
    std::fs::rename(&temporary, &profile.path)
}

/// True when the program was started as the plugin: `kubectl-mqtt_doctor` (krew's symlink, or
/// one of your own), whatever the directory.
pub fn invoked_as_plugin(argv0: &OsStr) -> bool {
    Path::new(argv0)
        .file_stem()
        .is_some_and(|stem| stem == PLUGIN_NAME)
}
