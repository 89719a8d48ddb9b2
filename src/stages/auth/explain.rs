//! What the auth stage's observations mean: the credentials the client sends, what could not be
//! read and how to fix it, and every claim of the token checked against the clock, the broker's
//! audience and issuer, and the key. Pure functions of the [`Observed`] values and the
//! configuration, so that the wording can change without touching the reading and decoding.

use serde_json::{Map, Value, json};

use super::*;
use crate::config::DoctorConfig;
use crate::files::io_problem;
use crate::findings::{Status, registry as r};
use crate::jwt::KeyKind;
use crate::secret;

/// The stage's findings and summary, as the pipeline shows them: the credentials', then the
/// pod's ahead of them, with fixes worded for the pod.
pub(super) fn stage(observed: Option<&Observed>, config: &DoctorConfig) -> StageOutput {
    let mut output = credentials(observed, &config.auth, config.mqtt.auth_method.as_deref());
    if !config.reads_host_files() {
        // Fixes are for the pod: a mountPath or a `> FILE` names the path the pod sees, not the
        // copy below --root that was read.
        let root = config.root.display().to_string();
        let prefix = format!("{}/", root.trim_end_matches('/'));
        for finding in &mut output.findings {
            if let Some(fix) = &mut finding.fix {
                *fix = fix.replace(&prefix, "/");
            }
        }
    }
    if let Some(namespace) = config.pod.as_ref().and_then(|p| p.namespace.as_deref()) {
        for fix in output.findings.iter_mut().filter_map(|f| f.fix.as_mut()) {
            *fix = fix.replace("-n NAMESPACE", &format!("-n {namespace}"));
        }
    }
    let mut context = pod_findings(config);
    if !context.is_empty() {
        context.append(&mut output.findings);
        output.findings = context;
        output.not_applicable = false;
    }
    output
}

/// In a pod: what it has mounted, and which token a preset found in place of its own.
fn pod_findings(config: &DoctorConfig) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(pod) = &config.pod {
        let mut finding = Finding::new(
            &r::POD_DETECTED,
            format!(
                "Running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set): {}.",
                pod.summary()
            ),
        );
        for (key, value) in pod.evidence() {
            finding = finding.with_evidence(key, value);
        }
        findings.push(finding);
    }
    if let Some(fallback) = config
        .preset
        .as_ref()
        .and_then(|p| p.token_fallback.as_ref())
    {
        findings.push(
            Finding::new(
                &r::POD_TOKEN_ELSEWHERE,
                format!(
                    "The preset's token {} is missing; {} holds a token for audience {} and was \
                     used instead. A client that reads {} has no token.",
                    fallback.expected, fallback.used, fallback.audience, fallback.expected
                ),
            )
            .with_evidence("expected", fallback.expected.as_str())
            .with_evidence("used", fallback.used.as_str())
            .with_evidence("audience", fallback.audience.as_str())
            .with_fix(format!(
                "Point the client at {} (and the doctor with --token-file), or rename the \
                 projection: the `path` of its serviceAccountToken source names the file. Then \
                 `kubectl rollout restart deployment/NAME -n {}`.",
                fallback.used,
                config
                    .pod
                    .as_ref()
                    .and_then(|p| p.namespace.as_deref())
                    .unwrap_or("NAMESPACE")
            )),
        );
    }
    findings
}

/// The stage's checks on explicit options and clock.
fn credentials(
    observed: Option<&Observed>,
    auth: &AuthOptions,
    auth_method: Option<&str>,
) -> StageOutput {
    let Some(observed) = observed else {
        return StageOutput::not_applicable(if auth_method.is_some() {
            "no token given for the authentication method"
        } else {
            "no credentials given: the client connects anonymously"
        });
    };
    let mut findings = Vec::new();
    let mut parts = Vec::new();

    if let Some(read) = &observed.token {
        let (summary, token_findings) = token(read, &auth.checks, observed.now);
        parts.push(summary);
        findings.extend(token_findings);
    }

    let mut password_shown = None;
    match &observed.password {
        Some(PasswordRead::Unreadable { path, problem }) => {
            parts.push("password unusable".into());
            findings.push(password_problem(path, problem));
        }
        Some(PasswordRead::Read { password, jwt }) => {
            if let Some(text) = jwt {
                let (summary, token_findings) = analyse(text, &auth.checks, observed.now);
                parts.push(format!("password: {summary}"));
                findings.extend(token_findings);
            } else {
                parts.push(format!("password ({})", password.describe()));
            }
            password_shown = Some(password.describe());
        }
        None => {}
    }

    let token_as_password =
        auth.token.is_some() && auth.password.is_none() && auth_method.is_none();
    if token_as_password && auth.username.is_none() {
        findings.push(
            Finding::new(
                &r::AUTH_PASSWORD_WITHOUT_USERNAME,
                "The token is sent as the MQTT password (no --auth-method is given), without a \
                 username. MQTT 3.1.1 forbids a password without a username (the broker closes \
                 the connection); MQTT 5 allows it, but most JWT authenticators read the token \
                 from the password field of a client that also sends a username.",
            )
            .with_fix(
                "Give a username (--username; EMQX's JWT authenticator accepts any unless its \
                 verify_claims names ${username}), or send the token by enhanced authentication \
                 with --auth-method METHOD (Azure IoT Operations: K8S-SAT).",
            ),
        );
    }
    if auth.password.is_some() && auth.username.is_none() {
        findings.push(
            Finding::new(
                &r::AUTH_PASSWORD_WITHOUT_USERNAME,
                "A password is given without a username. MQTT 3.1.1 forbids this (the broker \
                 closes the connection); MQTT 5 allows it, but password checks that look the \
                 password up by user name cannot match it.",
            )
            .with_fix(
                "Give the username the broker knows this password under (--username, \
                 MQTT_DOCTOR_USERNAME). For EMQX's JWT authenticator any username works unless \
                 its verify_claims names ${username}.",
            ),
        );
    }

    let mut sent = Vec::new();
    if auth.username.is_some() {
        sent.push("a username");
    }
    if password_shown.is_some() {
        sent.push("a password");
    }
    if auth.token.is_some() {
        sent.push("a token");
    }
    let mut credentials_finding = Finding::new(
        &r::AUTH_CREDENTIALS,
        if sent.is_empty() {
            "No usable credential was given; see the other findings.".to_string()
        } else {
            format!("The client authenticates with {}.", sent.join(" and "))
        },
    );
    if let Some(username) = &auth.username {
        credentials_finding = credentials_finding.with_evidence("username", username.as_str());
        parts.insert(0, format!("user {username}"));
    }
    if let Some(described) = password_shown {
        credentials_finding = credentials_finding.with_evidence("password", described);
    }
    findings.insert(0, credentials_finding);

    StageOutput::done(parts.join(", "), findings)
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::File { path, .. } => format!("file {}", path.display()),
            Origin::Value => "argument or environment".into(),
            Origin::Stdin => "standard input".into(),
            Origin::Password => "the password (a JWT)".into(),
        }
    }

    fn file(&self) -> Option<&Path> {
        match self {
            Origin::File { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// A token as read and checked: the one-line summary and the findings.
pub(super) fn token(read: &TokenRead, checks: &TokenChecks, now: i64) -> (String, Vec<Finding>) {
    match read {
        TokenRead::Unread { path, problem } => {
            let finding = token_file_problem(path, problem, checks.audience.as_deref());
            let summary = format!(
                "token {}: {}",
                path.display(),
                finding.def.title.to_lowercase()
            );
            (summary, vec![finding])
        }
        TokenRead::Read(text) => {
            let (summary, findings) = analyse(text, checks, now);
            let summary = match &text.origin {
                Origin::File { path, .. } => format!("token {}: {summary}", path.display()),
                _ => format!("token: {summary}"),
            };
            (summary, findings)
        }
    }
}

fn password_problem(path: &Path, problem: &PasswordFileProblem) -> Finding {
    let detail = match problem {
        PasswordFileProblem::Read(ReadError::Io(e)) => format!(
            "The password file {} cannot be read: {}.",
            path.display(),
            io_problem(e)
        ),
        PasswordFileProblem::Read(ReadError::TooLarge(len)) => format!(
            "The password file {} is at least {len} bytes, too large to be a password: is it the \
             right file?",
            path.display()
        ),
        PasswordFileProblem::Empty => format!("The password file {} is empty.", path.display()),
    };
    Finding::new(&r::AUTH_PASSWORD_FILE_INVALID, detail)
        .with_evidence("path", path.display().to_string())
        .with_fix(
            "Point --password-file at the file that holds the password (one line; a \
             trailing newline is ignored), readable by the user the doctor runs as.",
        )
}

fn token_file_problem(path: &Path, problem: &TokenFileProblem, audience: Option<&str>) -> Finding {
    match problem {
        TokenFileProblem::Missing { directory, listing } => {
            missing_token(path, directory, listing, audience)
        }
        TokenFileProblem::Unreadable { error, owner } => unreadable_token(path, error, *owner),
        TokenFileProblem::TooLarge(len) => Finding::new(
            &r::TOKEN_MALFORMED,
            format!(
                "The token file {} is at least {len} bytes; tokens are a few kilobytes at most, so \
                 this is not a token file.",
                path.display()
            ),
        )
        .with_evidence("path", path.display().to_string())
        .with_evidence("size_bytes", *len)
        .with_fix("Point --token-file at the file that holds the token itself."),
        TokenFileProblem::Blank(len) => {
            let what = if *len == 0 {
                "is empty".to_string()
            } else {
                format!("holds only whitespace ({len} bytes)")
            };
            Finding::new(
                &r::TOKEN_EMPTY,
                format!("The token file {} {what}.", path.display()),
            )
            .with_evidence("path", path.display().to_string())
            .with_evidence("size_bytes", *len)
            .with_fix(
                "Whatever wrote the file wrote nothing: a `kubectl create token … > FILE` that \
                 failed still creates FILE, empty. Write the token again and check the command's \
                 error output; for a projected volume, check the pod's events \
                 (`kubectl describe pod`).",
            )
        }
    }
}

fn missing_token(path: &Path, dir: &Path, listing: &Listing, audience: Option<&str>) -> Finding {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token".into());
    let mut finding = Finding::new(
        &r::TOKEN_MISSING,
        format!("The token file {} does not exist.", path.display()),
    )
    .with_evidence("path", path.display().to_string());
    match listing {
        Listing::Holds(names) => {
            finding.detail.push_str(&format!(
                " Its directory {} exists{}.",
                dir.display(),
                if names.is_empty() {
                    " but is empty".to_string()
                } else {
                    format!(" and holds: {}", names.join(", "))
                }
            ));
            finding = finding.with_evidence("directory_holds", names.clone());
        }
        Listing::Absent => {
            finding.detail.push_str(&format!(
                " Its directory {} does not exist either: nothing is mounted there.",
                dir.display()
            ));
        }
        Listing::Unlistable(e) => {
            finding.detail.push_str(&format!(
                " Its directory {} cannot be listed: {}.",
                dir.display(),
                io_problem(e)
            ));
        }
    }
    finding.with_fix(format!(
        "Mount a projected service-account token there. In the pod spec:\n\
         \x20 volumes:\n\
         \x20   - name: mqtt-token\n\
         \x20     projected:\n\
         \x20       sources:\n\
         \x20         - serviceAccountToken:\n\
         \x20             path: {name}\n\
         \x20             audience: {audience}\n\
         \x20             expirationSeconds: 86400\n\
         \x20 containers:\n\
         \x20   - volumeMounts:\n\
         \x20       - name: mqtt-token\n\
         \x20         mountPath: {dir}\n\
         Volumes are set up when a pod starts: apply the change, then\n\
         \x20 kubectl rollout restart deployment/NAME -n NAMESPACE\n\
         Mount the directory, never the file with subPath: the kubelet refreshes the token by \
         swapping a `..data` symlink, which a subPath mount never sees, so the token expires in \
         place. Outside Kubernetes: `kubectl create token SERVICE_ACCOUNT --audience AUDIENCE > \
         {path}`.",
        dir = dir.display(),
        path = path.display(),
        audience = audience.unwrap_or("aio-internal   # the audience your broker expects"),
    ))
}

fn unreadable_token(path: &Path, error: &io::Error, owner: Option<Owner>) -> Finding {
    let mut finding = Finding::new(
        &r::TOKEN_UNREADABLE,
        format!(
            "The token file {} cannot be read: {}.",
            path.display(),
            io_problem(error)
        ),
    )
    .with_evidence("path", path.display().to_string())
    .with_evidence("error", io_problem(error));
    if let Some(owner) = owner {
        finding = finding
            .with_evidence("mode", format!("{:o}", owner.mode & 0o7777))
            .with_evidence("owner", format!("uid {} gid {}", owner.uid, owner.gid));
    }
    let fix = if error.kind() == io::ErrorKind::IsADirectory {
        "Give the path of the token file inside that directory (e.g. \
         /var/run/secrets/tokens/broker-sat), not the mount point."
    } else {
        "Let the user the client runs as read the file. For a projected volume set the pod's \
         `securityContext.fsGroup` (the token is then group-readable) or the volume's \
         `defaultMode: 0440`; on a host, `chmod`/`chown` the file. Check with `id` which user \
         the client runs as."
    };
    finding.with_fix(fix)
}

/// The findings on one decoded token, and its summary.
fn analyse(text: &TokenText, checks: &TokenChecks, now: i64) -> (String, Vec<Finding>) {
    let TokenText {
        raw,
        origin,
        decoded,
    } = text;
    let mut findings = Vec::new();
    let source = origin.describe();
    let (whitespace, token, decoded) = match decoded {
        Decoded::NotUtf8 => {
            let finding = Finding::new(
                &r::TOKEN_MALFORMED,
                format!("The token ({source}) is not UTF-8 text, so it cannot be a JWT."),
            )
            .with_evidence("source", source.clone())
            .with_evidence("token", raw.describe())
            .with_fix("Check that the file or value holds the token and nothing else.");
            return ("not a JWT".into(), vec![finding]);
        }
        Decoded::Empty => {
            let finding =
                Finding::new(&r::TOKEN_EMPTY, format!("The token ({source}) is empty."))
                    .with_evidence("source", source.clone())
                    .with_evidence("size_bytes", raw.len())
                    .with_fix(
                        "Whatever produced the value produced nothing: check the command or variable that \
             should hold the token (an unset variable expands to nothing).",
                    );
            return ("empty".into(), vec![finding]);
        }
        Decoded::Text {
            whitespace,
            token,
            jwt,
        } => (whitespace, token, jwt),
    };
    if let Some(whitespace) = whitespace {
        findings.push(whitespace_finding(whitespace, &source, origin));
    }

    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(NotJwt { error, parts }) => {
            let mut finding = Finding::new(
                &r::TOKEN_MALFORMED,
                format!("The token ({source}) is not a JWT: {error}."),
            )
            .with_evidence("source", source.clone())
            .with_evidence("token", token.describe());
            if let Some(part) = error.part() {
                finding = finding.with_evidence("broken_part", part.to_string());
            }
            finding = finding.with_evidence("parts", *parts).with_fix(
                "Check that the value is the whole token, copied without line breaks or quotes: \
                 three base64url parts joined by dots (header.payload.signature). A token cut \
                 by a terminal or wrapped by `base64` (use `base64 -w0`) loses its shape.",
            );
            findings.push(finding);
            return ("not a JWT".into(), findings);
        }
    };

    let mut problems = mistyped_times(decoded, now);
    check_times(
        &decoded.times,
        &decoded.kind,
        origin,
        checks,
        now,
        &mut problems,
    );
    check_audience(decoded, checks, &mut problems);
    check_issuer(decoded, checks, &mut problems);
    check_signature(decoded, checks, &mut problems);

    let evidence = claims_evidence(decoded, token, origin, now);
    let summary = summary(decoded, now, &problems);
    let clean = problems
        .iter()
        .all(|f| matches!(f.status, Status::Pass | Status::Info));
    findings.extend(problems);
    if clean {
        let mut ok = Finding::new(
            &r::TOKEN_OK,
            format!(
                "The token ({source}) decodes, and every claim that was checked holds: {summary}."
            ),
        );
        ok.evidence = evidence;
        findings.push(ok);
    } else {
        let mut decoded = Finding::new(
            &r::TOKEN_DECODED,
            format!("What the token ({source}) says, decoded without trusting it."),
        );
        decoded.evidence = evidence;
        findings.push(decoded);
    }
    (summary, findings)
}

fn whitespace_finding(whitespace: &Whitespace, source: &str, origin: &Origin) -> Finding {
    let what = match (whitespace.leading, whitespace.trailing, whitespace.line_end) {
        (0, _, Some(LineEnd::Lf)) => "a trailing newline".to_string(),
        (0, _, Some(LineEnd::CrLf)) => {
            "a trailing CRLF (the file was written on Windows)".to_string()
        }
        (0, t, None) => format!("{t} trailing whitespace bytes"),
        (n, 0, _) => format!("{n} leading whitespace bytes"),
        (n, t, _) => format!("{n} leading and {t} trailing whitespace bytes"),
    };
    let mut finding = Finding::new(
        &r::TOKEN_WHITESPACE,
        format!(
            "The token ({source}) has {what}. The doctor checks it without, but a client that \
             sends the file's bytes as they are sends the whitespace too, and the broker \
             rejects the token."
        ),
    )
    .with_evidence("whitespace", what);
    if let Some(path) = origin.file() {
        finding = finding.with_fix(format!(
            "Write the token without the newline, e.g. `kubectl create token SA | tr -d '\\n' > \
             {}` or `printf %s \"$TOKEN\" > FILE`, or make the client trim what it reads. \
             Kubernetes' projected tokens have no newline; this file was written by something \
             else.",
            path.display()
        ));
    } else {
        finding = finding.with_fix(
            "Strip the whitespace where the token is stored or passed (`tr -d '\\n'`, \
             `printf %s`).",
        );
    }
    finding
}

/// A time claim of the wrong type is a problem of its own.
fn mistyped_times(token: &Token, now: i64) -> Vec<Finding> {
    token
        .mistyped
        .iter()
        .map(|(claim, found)| {
            let name = claim.name();
            Finding::new(
                &r::TOKEN_MALFORMED,
                format!(
                    "The claim \"{name}\" is {}, not a NumericDate (seconds since \
                     1970). Brokers reject the token or ignore the claim.",
                    json_type(*found)
                ),
            )
            .with_evidence("claim", name)
            .with_evidence("broken_part", "payload")
            .with_fix(format!(
                "Mint the token with \"{name}\" as a number of seconds since \
                 1970-01-01 UTC, e.g. {now}."
            ))
        })
        .collect()
}

fn json_type(found: JsonType) -> &'static str {
    match found {
        JsonType::Bool => "a boolean",
        JsonType::String => "a string",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    }
}

impl TokenKind {
    fn create_token_command(&self, audience: &str) -> String {
        match self {
            TokenKind::Kubernetes {
                namespace, account, ..
            } => format!("kubectl create token {account} -n {namespace} --audience {audience}"),
            TokenKind::Other => {
                format!("kubectl create token SERVICE_ACCOUNT --audience {audience}")
            }
        }
    }
}

/// A NumericDate as RFC 3339, guarded against values no calendar can show.
fn timestamp(seconds: i64) -> String {
    if !(0..=253_402_300_799).contains(&seconds) {
        return format!("{seconds} (outside 1970–9999)");
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds as u64)).to_string()
}

/// `2026-11-22T10:00:00Z (in 21h 3m)` or `(… ago)`.
fn when(seconds: i64, now: i64) -> String {
    let relative = if seconds >= now {
        format!("in {}", approx(elapsed(seconds, now)))
    } else {
        format!("{} ago", approx(elapsed(now, seconds)))
    };
    format!("{} ({relative})", timestamp(seconds))
}
fn check_times(
    claims: &Times,
    kind: &TokenKind,
    origin: &Origin,
    checks: &TokenChecks,
    now: i64,
    out: &mut Vec<Finding>,
) {
    let leeway = CLOCK_LEEWAY.as_secs() as i64;
    let unset_clock = claims.iat.is_some_and(|iat| iat < UNSET_CLOCK_BEFORE);

    if let Some(iat) = claims.iat {
        if iat > now + leeway {
            out.push(
                Finding::new(
                    &r::TOKEN_CLOCK_SKEW,
                    format!(
                        "The token says it was issued {} from now. Either the clock of whatever \
                         minted it runs fast, or this machine's clock runs slow; brokers that check \
                         iat, and every nbf = iat, reject it until the clocks agree.",
                        approx(elapsed(iat, now))
                    ),
                )
                .with_evidence("iat", when(iat, now))
                .with_evidence("now", timestamp(now))
                .with_fix(
                    "Compare both clocks with a time server: `timedatectl status` or `chronyc \
                     tracking` here, and the minting side's NTP/SNTP status. Fix whichever is off \
                     and mint the token again.",
                ),
            );
        } else if unset_clock {
            out.push(
                Finding::new(
                    &r::TOKEN_CLOCK_SKEW,
                    format!(
                        "The token says it was issued on {}: whatever minted it had a clock that \
                         was never set (a device that signs its JWT before SNTP has answered).",
                        timestamp(iat)
                    ),
                )
                .with_evidence("iat", when(iat, now))
                .with_evidence("now", timestamp(now))
                .with_fix(
                    "Make the device wait for time synchronisation before it mints the token \
                     (e.g. ESP32: configTime() and wait until time(nullptr) is past 2020), then \
                     mint it again.",
                ),
            );
        }
    }

    if let Some(nbf) = claims.nbf
        && nbf > now + leeway
    {
        out.push(
            Finding::new(
                &r::TOKEN_NOT_YET_VALID,
                format!(
                    "The token is not valid until {}, {} from now; brokers reject it until then.",
                    timestamp(nbf),
                    approx(elapsed(nbf, now))
                ),
            )
            .with_evidence("nbf", when(nbf, now))
            .with_evidence("now", timestamp(now))
            .with_fix(
                "If the token was just minted, the minting clock runs ahead of this one: check \
                 both with `timedatectl status` / `chronyc tracking` and sync them over NTP. \
                 Otherwise mint a token whose nbf is now.",
            ),
        );
    }

    let Some(exp) = claims.exp else {
        return;
    };
    if exp <= now {
        let mut finding = Finding::new(
            &r::TOKEN_EXPIRED,
            format!(
                "The token expired {} ago, at {}; every broker rejects it.",
                approx(elapsed(now, exp)),
                timestamp(exp)
            ),
        )
        .with_evidence("exp", when(exp, now))
        .with_evidence("now", timestamp(now));
        if let Some(iat) = claims.iat {
            finding = finding.with_evidence("iat", when(iat, now));
        }
        let fix = if unset_clock {
            "The minting clock was never set, so the token was born expired. Make the device sync \
             its clock (SNTP) before it mints, then mint it again."
                .to_string()
        } else {
            match (kind, origin) {
                (TokenKind::Kubernetes { bound: true, .. }, Origin::File { projected, path }) => {
                    if *projected {
                        format!(
                            "The kubelet should have replaced {} long before expiry (at 80% of \
                             its lifetime). Check the kubelet and the pod's events (`kubectl \
                             describe pod`); restarting the pod (`kubectl rollout restart \
                             deployment/NAME`) mounts a fresh token.",
                            path.display()
                        )
                    } else {
                        format!(
                            "{} is not the kubelet's `..data` symlink, so nothing refreshes it: \
                             it is a copy, or mounted with subPath. Mount the projected volume's \
                             directory instead, or mint a new token with `{}`.",
                            path.display(),
                            kind.create_token_command(
                                checks.audience.as_deref().unwrap_or("AUDIENCE")
                            )
                        )
                    }
                }
                (TokenKind::Kubernetes { bound: true, .. }, _) => format!(
                    "Mint a new token: `{}`. Clients should read projected tokens from their file \
                     on every connect, not once at start.",
                    kind.create_token_command(checks.audience.as_deref().unwrap_or("AUDIENCE"))
                ),
                _ => "Mint a new token. If tokens expire while a client still uses them, the \
                      client must mint or fetch a fresh one before each connect."
                    .to_string(),
            }
        };
        out.push(finding.with_fix(fix));
        return;
    }

    let left = elapsed(exp, now);
    let projected_file = matches!(origin, Origin::File { .. })
        && matches!(kind, TokenKind::Kubernetes { bound: true, .. });
    if projected_file && let Some(iat) = claims.iat.filter(|iat| *iat < exp) {
        let lifetime = elapsed(exp, iat);
        let refresh_after = (lifetime * 8 / 10).min(86_400);
        let age = now.saturating_sub(iat).max(0) as u64;
        if age > refresh_after + KUBELET_REFRESH_SLACK.as_secs() {
            out.push(
                Finding::new(
                    &r::TOKEN_EXPIRING_SOON,
                    format!(
                        "The token is {} old and expires in {}. The kubelet replaces projected \
                         tokens after 80% of their lifetime (or 24 h), here after {}: this file \
                         is not being refreshed.",
                        approx(age),
                        approx(left),
                        approx(refresh_after)
                    ),
                )
                .with_evidence("iat", when(iat, now))
                .with_evidence("exp", when(exp, now))
                .with_evidence("lifetime", approx(lifetime))
                .with_evidence("kubelet_refresh_after", approx(refresh_after))
                .with_fix(
                    if matches!(
                        origin,
                        Origin::File {
                            projected: true,
                            ..
                        }
                    ) {
                        "The file is the kubelet's projected volume, so the kubelet itself has not \
                     refreshed it: look at the pod's events (`kubectl describe pod`) and the \
                     kubelet's log on the node for TokenRequest errors. `kubectl rollout \
                     restart` gives the pod a fresh token now."
                    } else {
                        "Mount the projected volume's directory, not the file with subPath (a \
                     subPath mount never sees the kubelet's `..data` swap), and do not copy the \
                     token elsewhere. `kubectl rollout restart` gives the pod a fresh token now."
                    },
                ),
            );
            return;
        }
    }
    if left < checks.expiry_warning.as_secs() {
        let mut finding = Finding::new(
            &r::TOKEN_EXPIRING_SOON,
            format!(
                "The token expires in {}, at {}.",
                approx(left),
                timestamp(exp)
            ),
        )
        .with_evidence("exp", when(exp, now))
        .with_evidence("warning_threshold", approx(checks.expiry_warning.as_secs()));
        finding = if projected_file {
            finding.with_fix(
                "The kubelet replaces the file before it expires; make sure the client reads the \
                 file again on every reconnect instead of keeping the token it read at start.",
            )
        } else {
            finding.with_fix(
                "Mint a fresh token before this one runs out, and have clients renew tokens \
                 before expiry (Azure IoT Operations takes a new one in an AUTH packet with \
                 re-authenticate, reason 0x19).",
            )
        };
        out.push(finding);
    }
}

fn check_audience(token: &Token, checks: &TokenChecks, out: &mut Vec<Finding>) {
    let Some(expected) = &checks.audience else {
        return;
    };
    let kind = &token.kind;
    let found = &token.audiences;
    if found.as_ref().is_some_and(|f| f.contains(expected)) {
        return;
    }
    let detail = match found {
        None => format!(
            "The broker expects audience \"{expected}\", but the token has no aud claim{}.",
            if matches!(kind, TokenKind::Kubernetes { bound: false, .. }) {
                " (it is a legacy Secret-based service-account token, which never has one)"
            } else {
                ""
            }
        ),
        Some(found) => format!(
            "The broker expects audience \"{expected}\", but the token was minted for {}.",
            if found.is_empty() {
                "no usable audience".to_string()
            } else {
                found
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    };
    // The audiences API servers give the default service-account token: in-cluster, AKS, EKS, GKE.
    let api_server = found.as_ref().is_some_and(|f| {
        f.iter().any(|a| {
            [
                "kubernetes.default.svc",
                "azmk8s.io",
                "eks.amazonaws.com",
                "container.googleapis.com",
            ]
            .iter()
            .any(|marker| a.contains(marker))
        })
    });
    let mut finding = Finding::new(&r::TOKEN_AUDIENCE_MISMATCH, detail)
        .with_evidence("expected", expected.as_str())
        .with_evidence(
            "aud",
            token.jwt.claims.get("aud").cloned().unwrap_or(Value::Null),
        );
    let fix = match kind {
        TokenKind::Kubernetes { .. } => {
            let mut fix = format!(
                "Mint the token for \"{expected}\". For a projected volume, set the audience in \
                 the pod spec:\n\
                 \x20 - serviceAccountToken:\n\
                 \x20     path: broker-sat\n\
                 \x20     audience: {expected}\n\
                 then restart the pods, since volumes are set up when a pod starts:\n\
                 \x20 kubectl rollout restart deployment/NAME -n {namespace}\n\
                 For a token minted by hand:\n\
                 \x20 {}",
                kind.create_token_command(expected),
                namespace = match kind {
                    TokenKind::Kubernetes { namespace, .. } => namespace.as_str(),
                    TokenKind::Other => "NAMESPACE",
                }
            );
            if api_server {
                fix.push_str(
                    "\nThe token's audience is the Kubernetes API server: it is the pod's default \
                     service-account token, which no MQTT broker accepts. Use a projected token \
                     with the broker's audience instead.",
                );
            }
            fix
        }
        TokenKind::Other => format!(
            "Mint the token with \"aud\": \"{expected}\", or, if the broker's expectation is the \
             wrong one, change its audience check (EMQX: the JWT authenticator's verify_claims)."
        ),
    };
    finding = finding.with_fix(fix);
    out.push(finding);
}

fn check_issuer(token: &Token, checks: &TokenChecks, out: &mut Vec<Finding>) {
    let Some(expected) = &checks.issuer else {
        return;
    };
    let found = token.issuer.as_deref();
    if found == Some(expected.as_str()) {
        return;
    }
    let detail = match found {
        Some(found) => {
            format!("The broker expects issuer \"{expected}\", but the token's iss is \"{found}\".")
        }
        None => {
            format!("The broker expects issuer \"{expected}\", but the token has no iss claim.")
        }
    };
    out.push(
        Finding::new(&r::TOKEN_ISSUER_MISMATCH, detail)
            .with_evidence("expected", expected.as_str())
            .with_evidence("iss", found.map(Value::from).unwrap_or(Value::Null))
            .with_fix(format!(
                "Change the code or service that mints the token (e.g. the device firmware) to \
                 set \"iss\": \"{expected}\", or correct the issuer the broker checks (EMQX: \
                 verify_claims). The two must match character for character."
            )),
    );
}

fn check_signature(token: &Token, checks: &TokenChecks, out: &mut Vec<Finding>) {
    let jwt = &token.jwt;
    let alg = jwt.alg().unwrap_or("(none given)").to_string();
    let (keys, verdict) = match &token.signature {
        Signature::AlgNone => {
            out.push(
                Finding::new(
                    &r::TOKEN_ALG_NONE,
                    "The token's header says alg \"none\": it carries no signature, and anyone \
                     could have written it. Brokers must reject it, and one that accepts it is \
                     misconfigured.",
                )
                .with_evidence("alg", alg)
                .with_evidence("signature_bytes", jwt.signature().len())
                .with_fix(
                    "Mint the token with a real algorithm (HS256 with the broker's secret, or RS256 / \
                     ES256 with a key whose public half the broker has).",
                ),
            );
            return;
        }
        Signature::NoAlg => {
            out.push(
                Finding::new(
                    &r::TOKEN_MALFORMED,
                    "The token's header has no \"alg\": no broker can tell how to check its \
                     signature, and every one rejects it.",
                )
                .with_evidence("broken_part", "header")
                .with_fix(
                    "Mint the token with a library that writes a complete header (alg, typ).",
                ),
            );
            return;
        }
        Signature::Missing => {
            out.push(
                Finding::new(
                    &r::TOKEN_SIGNATURE_INVALID,
                    format!(
                        "The token has no signature although its header says {alg}: the signature \
                         part was cut off, so no key can verify it."
                    ),
                )
                .with_evidence("alg", alg)
                .with_evidence("signature_bytes", 0)
                .with_fix(
                    "Copy the whole token, all three parts: the signature is the part after the \
                     second dot.",
                ),
            );
            return;
        }
        Signature::NoKey => return,
        Signature::KeyUnusable(problem) => {
            // Only a key that was given can be unusable.
            if let Some(source) = &checks.key {
                out.push(key_problem(source, problem));
            }
            return;
        }
        Signature::Checked { keys, verdict } => (keys, verdict),
    };
    let key_names: Vec<String> = keys
        .iter()
        .map(|k| format!("{} ({})", k.origin, k.kind))
        .collect();
    match verdict {
        Verification::Valid(key) => out.push(
            Finding::new(
                &r::TOKEN_SIGNATURE_OK,
                format!("The {alg} signature verifies with {key}."),
            )
            .with_evidence("alg", alg)
            .with_evidence("key", key.as_str()),
        ),
        Verification::Invalid(tried) => {
            let tried: Vec<String> = tried
                .iter()
                .map(|origin| match keys.iter().find(|k| &k.origin == origin) {
                    Some(key) => format!("{origin} ({})", key.kind),
                    None => origin.clone(),
                })
                .collect();
            let short_rsa = keys
                .iter()
                .any(|k| matches!(k.kind, KeyKind::Rsa { bits } if bits < 2048));
            let why = if short_rsa {
                " (an RSA key under 2048 bits is refused by the verifier, as by current brokers: \
                 use a 2048-bit key or larger)"
            } else {
                ": the token was signed with another key, or altered after signing"
            };
            out.push(
            Finding::new(
                &r::TOKEN_SIGNATURE_INVALID,
                format!(
                    "The {alg} signature does not verify with {}{why}.",
                    tried.join(", ")
                ),
            )
            .with_evidence("alg", alg)
            .with_evidence("keys_tried", tried)
            .with_evidence("signature", secret::fingerprint(jwt.signature()))
            .with_fix(
                "Sign with the secret or private key whose counterpart the broker holds, or give \
                 the broker the right one. EMQX answers a bad signature with 5 / 0x87 (not \
                 authorized), not 4 / 0x86; check `secret_base64_encoded` if the secret is \
                 stored in base64.",
            ),
            )
        }
        Verification::NoMatchingKey(reason) => out.push(
            Finding::new(
                &r::TOKEN_SIGNATURE_INVALID,
                format!("The signature cannot verify: {reason}."),
            )
            .with_evidence("alg", alg)
            .with_evidence("kid", jwt.kid().map(Value::from).unwrap_or(Value::Null))
            .with_evidence("keys", key_names)
            .with_fix(
                "Give the key that matches the token's alg and kid (a JWKS must list the kid the \
                 token names), or mint the token with the key the broker knows.",
            ),
        ),
        Verification::Unsigned => {}
        Verification::Unsupported(reason) => out.push(
            Finding::new(
                &r::TOKEN_SIGNATURE_UNCHECKED,
                format!("The signature was not checked: {reason}."),
            )
            .with_evidence("alg", alg)
            .with_fix(
                "Check it with a tool that supports the algorithm, or sign with RS256, ES256 or \
                 HS256.",
            ),
        ),
    }
}

fn key_problem(source: &KeySource, problem: &KeyProblem) -> Finding {
    let detail = match problem {
        KeyProblem::Secret(e) => format!("The signing secret cannot be used: {e}."),
        KeyProblem::Unreadable {
            path,
            error: ReadError::Io(e),
        } => format!(
            "The key file {} cannot be read: {}.",
            path.display(),
            io_problem(e)
        ),
        KeyProblem::Unreadable {
            path,
            error: ReadError::TooLarge(len),
        } => format!(
            "The key file {} is at least {len} bytes, too large for a key file.",
            path.display()
        ),
        KeyProblem::Unusable { path, error } => {
            format!("The key file {} cannot be used: {error}.", path.display())
        }
    };
    Finding::new(&r::TOKEN_KEY_INVALID, detail)
        .with_evidence("key", key_name(source))
        .with_fix(
            "Give --jwt-key a PEM public key or certificate, --jwks a JWKS file \
             ({\"keys\": [...]}), or --jwt-secret the HMAC secret (with \
             --jwt-secret-base64 if it is stored base64-encoded).",
        )
}

fn claims_evidence(
    decoded: &Token,
    token: &Secret,
    origin: &Origin,
    now: i64,
) -> Map<String, Value> {
    let Token {
        jwt,
        times: claims,
        kind,
        ..
    } = decoded;
    let mut evidence = Map::new();
    evidence.insert("source".into(), origin.describe().into());
    if let Origin::File { projected, .. } = origin {
        evidence.insert(
            "projected_volume".into(),
            Value::from(if *projected {
                "yes (the kubelet's ..data symlink)"
            } else {
                "no (a plain file: nothing refreshes it)"
            }),
        );
    }
    evidence.insert("token".into(), token.describe().into());
    for name in ["alg", "kid", "typ"] {
        if let Some(value) = jwt.header.get(name) {
            evidence.insert(name.into(), value.clone());
        }
    }
    for name in ["iss", "sub", "aud"] {
        if let Some(value) = jwt.claims.get(name) {
            evidence.insert(name.into(), value.clone());
        }
    }
    for (name, value) in [
        ("iat", claims.iat),
        ("nbf", claims.nbf),
        ("exp", claims.exp),
    ] {
        if let Some(seconds) = value {
            evidence.insert(name.into(), when(seconds, now).into());
        }
    }
    if claims.exp.is_none() {
        let note = if matches!(kind, TokenKind::Kubernetes { bound: false, .. }) {
            "none: a legacy Secret-based service-account token, which never expires"
        } else {
            "none: the token never expires"
        };
        evidence.insert("exp".into(), note.into());
    }
    if let (Some(iat), Some(exp)) = (claims.iat, claims.exp)
        && exp > iat
    {
        evidence.insert("lifetime".into(), approx(elapsed(exp, iat)).into());
    }
    if let TokenKind::Kubernetes {
        namespace,
        account,
        pod,
        node,
        bound,
    } = kind
    {
        let mut k8s = json!({
            "namespace": namespace,
            "service_account": account,
            "kind": if *bound { "bound (TokenRequest)" } else { "legacy Secret-based" },
        });
        if let Some(pod) = pod {
            k8s["pod"] = pod.as_str().into();
        }
        if let Some(node) = node {
            k8s["node"] = node.as_str().into();
        }
        evidence.insert("kubernetes".into(), k8s);
    }
    let standard = [
        "iss",
        "sub",
        "aud",
        "iat",
        "nbf",
        "exp",
        "jti",
        "kubernetes.io",
    ];
    let other: Map<String, Value> = jwt
        .claims
        .iter()
        .filter(|(k, _)| !standard.contains(&k.as_str()) && !k.starts_with("kubernetes.io/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !other.is_empty() {
        evidence.insert("other_claims".into(), Value::Object(other));
    }
    evidence.insert(
        "signature".into(),
        if jwt.signature().is_empty() {
            Value::from("none")
        } else {
            Value::from(format!(
                "{} bytes, {}",
                jwt.signature().len(),
                secret::fingerprint(jwt.signature())
            ))
        },
    );
    evidence
}

fn summary(token: &Token, now: i64, problems: &[Finding]) -> String {
    let Token {
        jwt,
        times: claims,
        kind,
        audiences,
        ..
    } = token;
    let what = match kind {
        TokenKind::Kubernetes {
            namespace,
            account,
            bound,
            ..
        } => format!(
            "{}Kubernetes token for {namespace}/{account}",
            if *bound { "" } else { "legacy " }
        ),
        TokenKind::Other => format!("JWT ({})", jwt.alg().unwrap_or("no alg")),
    };
    let aud = audiences
        .as_ref()
        .filter(|a| !a.is_empty())
        .map(|a| format!(", audience {}", a.join(" ")))
        .unwrap_or_default();
    if let Some(problem) = problems.iter().find(|f| f.status == Status::Fail) {
        return format!("{what}{aud}: {}", problem.def.title.to_lowercase());
    }
    let expiry = match claims.exp {
        Some(exp) if exp > now => format!(", expires in {}", approx(elapsed(exp, now))),
        Some(_) => String::new(),
        None => ", never expires".into(),
    };
    format!("{what}{aud}{expiry}")
}

/// `later - earlier` in seconds, for a claim the token's author chose: an `exp` of 1e300 and
/// an `iat` of -5 would overflow the subtraction (a panic in a debug build); it saturates.
/// Callers have checked that `later` is the later one.
fn elapsed(later: i64, earlier: i64) -> u64 {
    later.saturating_sub(earlier).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_speech() {
        assert_eq!(approx(42), "42s");
        assert_eq!(approx(3 * 3600 + 61), "3h 1m");
        assert_eq!(approx(3 * 86_400 + 7200 + 59), "3d 2h");
    }

    #[test]
    fn timestamps_outside_the_calendar_do_not_panic() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert!(timestamp(-5).contains("outside"));
        assert!(timestamp(i64::MAX).contains("outside"));
    }
}
