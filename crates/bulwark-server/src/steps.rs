//! Running a job's steps (commands, HTTP calls, plugin actions) before and after a backup or a
//! restore, where the task runs: the daemon's host, or the target's agent.
//!
//! A step's failure does what its `on_failure` says: `ignore` nothing, `continue` ends the run
//! failed once it is over, `break` stops it (no backup is made after a before-step broke). After
//! a failed or canceled run only the `always` after-steps run, with their own timeouts (a cancel
//! of the task does not cut them short): an unlock is never skipped.
//!
//! Steps get the task's context in their environment (`BULWARK_JOB`, `BULWARK_TARGET`,
//! `BULWARK_TASK`, `BULWARK_ARCHIVE`, `BULWARK_PHASE`, `BULWARK_STATUS`, `BULWARK_STEP`) and never
//! the target's secrets unless they name them (`secrets: ["password"]` gives
//! `BULWARK_SECRET_PASSWORD`); an HTTP step's headers and body may say `${secret:KEY}`. What they
//! print goes into the task log with every secret value hidden.

use std::time::Duration;

use bulwark_api::{OnFailure, Step, StepWhen};
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::{Limits, Role};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::engine::work::Resolved;

/// A job's steps as the catalog keeps them (a list the API checked).
pub(crate) fn of(job: &bulwark_catalog::Job) -> Vec<Step> {
    serde_json::from_str(&job.steps).unwrap_or_default()
}

/// What steps are run with.
pub(crate) struct StepEnv<'a> {
    /// `BULWARK_JOB`, `BULWARK_TARGET`, `BULWARK_TASK`, `BULWARK_ARCHIVE`.
    pub(crate) vars: Vec<(String, String)>,
    /// The target, its endpoint in clear: for named secrets, `${secret:KEY}` and plugin actions.
    pub(crate) target: &'a Resolved,
}

/// How a phase of steps went.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Outcome {
    /// Steps that failed with `on_failure: continue`: the run ends failed.
    pub(crate) failed: Vec<String>,
    /// The step that failed with `on_failure: break` (or was stopped by a cancel).
    pub(crate) broke: Option<String>,
}

impl Outcome {
    /// Why the run fails because of its steps, if it does.
    pub(crate) fn failure(&self) -> Option<String> {
        let all: Vec<&String> = self.broke.iter().chain(self.failed.iter()).collect();
        (!all.is_empty()).then(|| {
            all.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// This outcome followed by `later`'s.
    pub(crate) fn and(mut self, later: Outcome) -> Outcome {
        self.failed.extend(later.failed);
        self.broke = self.broke.or(later.broke);
        self
    }
}

/// Runs the before-steps of `when`. When one breaks the run, the `always` steps of the
/// matching after-phase run, told the run failed or was canceled, and the answer is why and
/// whether it was a cancel.
pub(crate) async fn before(
    steps: &[Step],
    when: StepWhen,
    env: &StepEnv<'_>,
    cancel: &CancellationToken,
    log: &LogSink,
) -> Result<Outcome, (String, bool)> {
    let out = run(steps, when, "ok", env, cancel, log).await;
    let Some(why) = out.broke.clone() else {
        return Ok(out);
    };
    let canceled = cancel.is_cancelled();
    let after = match when {
        StepWhen::BeforeBackup => StepWhen::AfterBackup,
        _ => StepWhen::AfterRestore,
    };
    let status = if canceled { "canceled" } else { "failed" };
    run(steps, after, status, env, cancel, log).await;
    Err((why, canceled))
}

/// How a run that ended with `failure` stands for its after-steps.
pub(crate) fn status_of(failure: Option<&bulwark_runner::pipeline::Failure>) -> &'static str {
    match failure {
        None => "ok",
        Some(bulwark_runner::pipeline::Failure::Canceled) => "canceled",
        Some(_) => "failed",
    }
}

/// On an agent: every command a step would start must be on its `step_commands` list.
pub(crate) fn allowed(steps: &[Step], commands: &[String]) -> Result<(), String> {
    for s in steps {
        if let Some(program) = s.command.as_ref().and_then(|a| a.first())
            && !commands.iter().any(|c| c == program)
        {
            return Err(format!(
                "this agent does not run the step command '{program}' of step '{}' (its step_commands: {})",
                s.name,
                if commands.is_empty() {
                    "none".to_string()
                } else {
                    commands.join(", ")
                }
            ));
        }
    }
    Ok(())
}

fn say(log: &LogSink, line: String) {
    let _ = log.send(line);
}

/// Runs the steps of `when` in order. `status` is how the run stands (`ok`, `failed`,
/// `canceled`); unless it is `ok`, only `always` steps run. Before-steps stop at the first
/// `break` failure.
pub(crate) async fn run(
    steps: &[Step],
    when: StepWhen,
    status: &str,
    env: &StepEnv<'_>,
    cancel: &CancellationToken,
    log: &LogSink,
) -> Outcome {
    let mut out = Outcome::default();
    for step in steps.iter().filter(|s| s.when == when) {
        let running_on = status == "ok" && out.broke.is_none();
        if !(running_on || step.always) {
            say(
                log,
                format!("Step '{}' ({}): not run.", step.name, when.as_str()),
            );
            continue;
        }
        let status = if out.broke.is_some() {
            "failed"
        } else {
            status
        };
        say(
            log,
            format!("Step '{}' ({}) runs.", step.name, when.as_str()),
        );
        // After-steps that always run are not cut short by the task's cancel.
        let own = CancellationToken::new();
        let token = if step.always { &own } else { cancel };
        let result = one(step, when, status, env, token, log).await;
        match result {
            Ok(()) => say(log, format!("Step '{}' done.", step.name)),
            Err(why) => {
                let line = format!("step '{}' {why}", step.name);
                let policy = if token.is_cancelled() {
                    OnFailure::Break
                } else {
                    step.on_failure
                };
                match policy {
                    OnFailure::Ignore => say(log, format!("{line}; ignored (on_failure ignore).")),
                    OnFailure::Continue => {
                        say(log, format!("{line}; the run goes on and will end failed."));
                        out.failed.push(line);
                    }
                    OnFailure::Break => {
                        say(log, format!("{line}; the run stops."));
                        out.broke.get_or_insert(line);
                        if !when.after() {
                            break;
                        }
                    }
                }
            }
        }
    }
    out
}

async fn one(
    step: &Step,
    when: StepWhen,
    status: &str,
    env: &StepEnv<'_>,
    cancel: &CancellationToken,
    log: &LogSink,
) -> Result<(), String> {
    let timeout = Duration::from_secs(step.timeout_secs());
    if let Some(argv) = &step.command {
        return command(step, argv, when, status, env, timeout, cancel, log).await;
    }
    if let Some(h) = &step.http {
        return http(h, env, timeout, cancel).await;
    }
    if let Some(action) = &step.plugin_action {
        let limits = Limits {
            timeout,
            cancel: cancel.clone(),
            progress: Default::default(),
            bandwidth: None,
        };
        return bulwark_runner::single::run_logged(
            env.target.single(Role::Target, &[action.as_str()]),
            &limits,
            log,
        )
        .await
        .map(|_| ())
        .map_err(|f| format!("failed: {}", f.said_or_brief()));
    }
    Err("has nothing to run".into())
}

/// The target's endpoint value under `key`, as text.
fn endpoint_value(env: &StepEnv<'_>, key: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(&env.target.endpoint).unwrap_or_default();
    match &v[key] {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!(
            "names secret '{key}', which the target's endpoint does not have"
        )),
    }
}

/// `text` with every `${secret:KEY}` replaced by the endpoint's value.
fn substitute(text: &str, env: &StepEnv<'_>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${secret:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 9..];
        let end = after
            .find('}')
            .ok_or_else(|| "has a ${secret: with no closing }".to_string())?;
        out.push_str(&endpoint_value(env, &after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every secret value hidden in `line`.
fn hide(line: &str, env: &StepEnv<'_>) -> String {
    let mut line = line.to_string();
    for s in &env.target.secrets {
        if !s.is_empty() {
            line = line.replace(s.as_str(), "<redacted>");
        }
    }
    line
}

#[allow(clippy::too_many_arguments)]
async fn command(
    step: &Step,
    argv: &[String],
    when: StepWhen,
    status: &str,
    env: &StepEnv<'_>,
    timeout: Duration,
    cancel: &CancellationToken,
    log: &LogSink,
) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("has an empty command")?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_remove(bulwark_plugin::cli::ENDPOINT_ENV)
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .env("BULWARK_PHASE", when.as_str())
        .env("BULWARK_STATUS", status)
        .env("BULWARK_STEP", &step.name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for key in &step.secrets {
        cmd.env(
            format!("BULWARK_SECRET_{}", key.to_ascii_uppercase()),
            endpoint_value(env, key)?,
        );
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not be started ({program}): {e}"))?;
    let pgid = child.id();
    let mut readers = Vec::new();
    let out = child
        .stdout
        .take()
        .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    let err = child
        .stderr
        .take()
        .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    for pipe in [out, err].into_iter().flatten() {
        let (log, name) = (log.clone(), step.name.clone());
        let hidden: Vec<String> = env.target.secrets.clone();
        readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let mut l = l;
                for s in hidden.iter().filter(|s| !s.is_empty()) {
                    l = l.replace(s.as_str(), "<redacted>");
                }
                let _ = log.send(format!("step {name}: {l}"));
            }
        }));
    }
    let ended = tokio::select! {
        s = child.wait() => s.map_err(|e| format!("could not be waited for: {e}")),
        () = tokio::time::sleep(timeout) => Err(format!("did not finish within {}s and was killed", timeout.as_secs())),
        () = cancel.cancelled() => Err("was stopped: the task was canceled".into()),
    };
    // Nothing it started outlives it.
    bulwark_runner::kill_group(pgid);
    let _ = child.wait().await;
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
    }
    let status = ended?;
    match status.code() {
        Some(0) => Ok(()),
        Some(c) => Err(format!("failed (exit {c})")),
        None => Err("was killed by a signal".into()),
    }
}

async fn http(
    h: &bulwark_api::HttpStep,
    env: &StepEnv<'_>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let method = h.method.as_deref().unwrap_or("POST");
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| format!("has a bad method: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("could not make an HTTP client: {e}"))?;
    let mut req = client.request(method.clone(), &h.url);
    for (k, v) in &h.headers {
        req = req.header(k, substitute(v, env)?);
    }
    if let Some(b) = &h.body {
        req = req.body(substitute(b, env)?);
    }
    let answer = tokio::select! {
        r = req.send() => r.map_err(|e| format!("failed: {}", hide(&e.to_string(), env)))?,
        () = cancel.cancelled() => return Err("was stopped: the task was canceled".into()),
    };
    let code = answer.status();
    if code.is_success() {
        Ok(())
    } else {
        Err(format!(
            "failed: {method} {} answered {code}",
            hide(&h.url, env)
        ))
    }
}
