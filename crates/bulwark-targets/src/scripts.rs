//! The `scripts` target: OSB Backup Manager's lifecycle scripts (seed 001), for data whose
//! backup a DBA scripts best. Meant to run on the data's host, through an agent.
//!
//! Endpoint: `{"scripts": "/etc/bulwark/mydb", "work_dir": "/var/tmp", "parameters":
//! ["DB_NAME=shop"], "password": "..."}`.
//!
//! A backup runs `pre-backup-lock`, `pre-backup-check`, `backup`, `backup-cleanup` and
//! `post-backup-unlock` from the `scripts` directory, in that order. `backup` leaves the file or
//! files to keep in the directory named by `BULWARK_DIR` (a fresh directory under `work_dir`);
//! the plugin streams that directory to the store (as the `fs` target's tar) right after
//! `backup` and before `backup-cleanup`. A restore first unpacks the archive into a fresh
//! `BULWARK_DIR`, then runs `pre-restore-lock`, `restore`, `restore-cleanup` and
//! `post-restore-unlock`. Only `backup` and `restore` are required; a missing script is skipped.
//!
//! The cleanup and unlock scripts always run: after a script failed and after a cancel or a
//! timeout, when the runner asks the plugin to stop with SIGTERM and waits for it. On SIGTERM the
//! running script gets SIGTERM (and SIGKILL ten seconds later), no further main script starts,
//! and the cleanup and unlock scripts run with `BULWARK_STATUS=canceled`.
//!
//! Each script runs in a process group of its own with the plugin's environment minus the
//! endpoint, plus `BULWARK_PHASE` (its name), `BULWARK_ACTION` (`backup` or `restore`),
//! `BULWARK_DIR`, `BULWARK_STATUS` (`ok`, `failed` or `canceled`: how the run stands so far),
//! `BULWARK_PASSWORD` when the endpoint has one, and each `NAME=value` of `parameters`. Its
//! stdout and stderr go to the task log (the runner hides the password there).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bulwark_plugin::builtin::fs_target::FsTarget;
use bulwark_plugin::{Endpoint, Exit, PluginError, Result, TargetPlugin};
use serde_json::Value;

use crate::params::{opt_abspath, opt_str};

/// The `scripts` target plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scripts;

/// The backup's scripts, in order; the last two always run.
pub const BACKUP: [&str; 5] = [
    "pre-backup-lock",
    "pre-backup-check",
    "backup",
    "backup-cleanup",
    "post-backup-unlock",
];
/// The restore's scripts, in order; the last two always run.
pub const RESTORE: [&str; 4] = [
    "pre-restore-lock",
    "restore",
    "restore-cleanup",
    "post-restore-unlock",
];

/// How long a script has after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(10);

struct Spec {
    dir: PathBuf,
    work: PathBuf,
    env: Vec<(String, String)>,
    timeout: Option<Duration>,
}

fn wrong(key: &str, what: impl std::fmt::Display) -> PluginError {
    PluginError::new(
        Exit::WrongEndpointType,
        format!("endpoint key '{key}' {what}"),
    )
}

fn env_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("BULWARK_")
}

fn parameters(ep: &Endpoint) -> Result<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = match ep.get("parameters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| s.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| wrong("parameters", "must be a list of NAME=value strings"))
            })
            .collect::<Result<_>>()?,
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                _ => Err(wrong(
                    "parameters",
                    format!("value of {k} must be a string"),
                )),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(wrong("parameters", "must be a list of NAME=value strings")),
    };
    for (k, _) in &pairs {
        if !env_name_ok(k) {
            return Err(wrong(
                "parameters",
                format!(
                    "names '{k}', which is not an environment variable name (letters, digits and _, not starting with a digit or BULWARK_)"
                ),
            ));
        }
    }
    Ok(pairs)
}

impl Spec {
    fn read(ep: &Endpoint) -> Result<Spec> {
        let dir = bulwark_plugin::builtin::required_abspath(ep, "scripts")?;
        let work = opt_abspath(ep, "work_dir")?.unwrap_or_else(std::env::temp_dir);
        let mut env = parameters(ep)?;
        if let Some(p) = opt_str(ep, "password")? {
            env.push(("BULWARK_PASSWORD".into(), p));
        }
        let timeout = match ep.get("script_timeout") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|n| *n > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| wrong("script_timeout", "must be a number of seconds"))?,
            ),
        };
        Ok(Spec {
            dir,
            work,
            env,
            timeout,
        })
    }

    /// The script `name`, when the directory has it; an entry that is there but not an
    /// executable file is an error.
    fn script(&self, name: &str) -> Result<Option<PathBuf>> {
        let p = self.dir.join(name);
        match std::fs::metadata(&p) {
            Err(_) => Ok(None),
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(Some(p)),
            Ok(_) => Err(PluginError::failed(format!(
                "{} is there but is not an executable file",
                p.display()
            ))),
        }
    }

    fn check(&self, required: &str) -> Result<()> {
        if !self.dir.is_dir() {
            return Err(PluginError::failed(format!(
                "the scripts directory {} does not exist",
                self.dir.display()
            )));
        }
        if self.script(required)?.is_none() {
            return Err(PluginError::failed(format!(
                "the scripts directory {} has no executable '{required}' script",
                self.dir.display()
            )));
        }
        Ok(())
    }
}

/// How the run stands: what the cleanup and unlock scripts are told.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    Ok,
    Failed,
    Canceled,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
        }
    }
}

/// One run of a sequence: its spec, its directory, its stop flag and how it stands.
struct Run<'a> {
    spec: &'a Spec,
    action: &'static str,
    dir: &'a Path,
    stop: Arc<AtomicBool>,
    status: Status,
    first_error: Option<String>,
}

impl Run<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn fail(&mut self, message: String) {
        if self.stopped() {
            self.status = Status::Canceled;
        } else if self.status == Status::Ok {
            self.status = Status::Failed;
        }
        self.first_error.get_or_insert(message);
    }

    /// Runs the script `name` (when the directory has it); a failure is recorded, not returned.
    /// `main` scripts are skipped once the run has failed or was canceled.
    fn step(&mut self, name: &str, main: bool, log: &mut dyn Write) {
        if main && (self.status != Status::Ok || self.stopped()) {
            if self.stopped() {
                self.status = Status::Canceled;
            }
            let _ = writeln!(log, "{name}: not run ({})", self.status.word());
            return;
        }
        let path = match self.spec.script(name) {
            Ok(Some(p)) => p,
            Ok(None) => {
                let _ = writeln!(log, "{name}: no such script; skipped");
                return;
            }
            Err(e) => return self.fail(format!("{name}: {}", e.message)),
        };
        let _ = writeln!(log, "{name}: running");
        let _ = log.flush();
        match self.exec(name, &path, main) {
            Ok(()) => {
                let _ = writeln!(log, "{name}: done");
            }
            Err(e) => {
                let _ = writeln!(log, "{name}: {e}");
                self.fail(format!("the {name} script {e}"));
            }
        }
    }

    fn exec(&self, name: &str, path: &Path, main: bool) -> std::result::Result<(), String> {
        let mut cmd = Command::new(path);
        cmd.current_dir(self.dir)
            .env_remove(bulwark_plugin::cli::ENDPOINT_ENV)
            .env("BULWARK_PHASE", name)
            .env("BULWARK_ACTION", self.action)
            .env("BULWARK_DIR", self.dir)
            .env("BULWARK_STATUS", self.status.word())
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .process_group(0);
        // Both of its outputs go to the plugin's stderr: the task log. Stdout is the data.
        let err = std::io::stderr();
        let to_log = |fd: std::io::Stderr| {
            std::os::fd::AsFd::as_fd(&fd)
                .try_clone_to_owned()
                .map(Stdio::from)
        };
        cmd.stdout(to_log(err).map_err(|e| format!("could not be started: {e}"))?)
            .stderr(to_log(std::io::stderr()).map_err(|e| format!("could not be started: {e}"))?);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("could not be started: {e}"))?;
        let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let started = Instant::now();
        let mut termed: Option<Instant> = None;
        loop {
            match child.try_wait() {
                Ok(Some(s)) => {
                    // What the script started in its group does not outlive it.
                    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                    return match (s.code(), termed) {
                        (Some(0), _) => Ok(()),
                        (_, Some(_)) => Err("was stopped (the task was canceled)".into()),
                        (Some(c), None) => Err(format!("failed (exit {c})")),
                        (None, None) => Err("was killed by a signal".into()),
                    };
                }
                Ok(None) => {}
                Err(e) => return Err(format!("could not be waited for: {e}")),
            }
            let over = self.spec.timeout.is_some_and(|t| started.elapsed() > t);
            if termed.is_none() && ((main && self.stopped()) || over) {
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
                termed = Some(Instant::now());
                if over {
                    let _ = child.kill();
                    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                    let _ = child.wait();
                    return Err(format!(
                        "did not finish within {}s and was killed",
                        self.spec.timeout.map_or(0, |t| t.as_secs())
                    ));
                }
            }
            if termed.is_some_and(|t| t.elapsed() > TERM_GRACE) {
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn result(self) -> Result<()> {
        match (self.status, self.first_error) {
            (Status::Ok, _) => Ok(()),
            (Status::Canceled, e) => Err(PluginError::failed(format!(
                "canceled; the cleanup and unlock scripts ran{}",
                e.map(|e| format!(" ({e})")).unwrap_or_default()
            ))),
            (Status::Failed, e) => Err(PluginError::failed(
                e.unwrap_or_else(|| "a script failed".into()),
            )),
        }
    }
}

/// SIGTERM sets the flag (the runner's request to stop) instead of ending the plugin.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, flag.clone())
        .map_err(|e| PluginError::failed(format!("could not watch for SIGTERM: {e}")))?;
    Ok(flag)
}

fn work_dir(spec: &Spec, action: &str) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(&spec.work)
        .and_then(|()| {
            tempfile::Builder::new()
                .prefix(&format!("bulwark-{action}-"))
                .tempdir_in(&spec.work)
        })
        .map_err(|e| {
            PluginError::failed(format!(
                "a working directory under {} could not be made: {e}",
                spec.work.display()
            ))
        })
}

fn fs_endpoint(dir: &Path) -> Endpoint {
    let mut ep = Endpoint::new();
    ep.insert(
        "base_dir".into(),
        Value::String(dir.to_string_lossy().into_owned()),
    );
    ep
}

impl TargetPlugin for Scripts {
    fn validate(&self, endpoint: &Endpoint) -> Result<()> {
        let spec = Spec::read(endpoint)?;
        spec.check("backup")?;
        spec.check("restore")?;
        for name in BACKUP.iter().chain(RESTORE.iter()) {
            spec.script(name)?;
        }
        Ok(())
    }

    fn backup(
        &self,
        endpoint: &Endpoint,
        output: &mut dyn Write,
        log: &mut dyn Write,
    ) -> Result<()> {
        let spec = Spec::read(endpoint)?;
        spec.check("backup")?;
        let stop = stop_flag()?;
        let dir = work_dir(&spec, "backup")?;
        let mut run = Run {
            spec: &spec,
            action: "backup",
            dir: dir.path(),
            stop,
            status: Status::Ok,
            first_error: None,
        };
        for name in &BACKUP[..3] {
            run.step(name, true, log);
        }
        if run.status == Status::Ok && !run.stopped() {
            let empty = std::fs::read_dir(dir.path()).map_or(true, |mut d| d.next().is_none());
            if empty {
                run.fail(
                    "the backup script left nothing in BULWARK_DIR; an empty backup is not kept"
                        .into(),
                );
            } else if let Err(e) = FsTarget.backup(&fs_endpoint(dir.path()), output, log) {
                run.fail(format!("streaming BULWARK_DIR failed: {}", e.message));
            }
        }
        for name in &BACKUP[3..] {
            run.step(name, false, log);
        }
        run.result()
    }

    fn restore(
        &self,
        endpoint: &Endpoint,
        input: &mut dyn Read,
        log: &mut dyn Write,
    ) -> Result<()> {
        let spec = Spec::read(endpoint)?;
        spec.check("restore")?;
        let stop = stop_flag()?;
        let dir = work_dir(&spec, "restore")?;
        // The archive is unpacked before anything is locked: nothing waits on the download.
        FsTarget.restore(&fs_endpoint(dir.path()), input, log)?;
        let mut run = Run {
            spec: &spec,
            action: "restore",
            dir: dir.path(),
            stop,
            status: Status::Ok,
            first_error: None,
        };
        if run.stopped() {
            return run.result_canceled_early();
        }
        for name in &RESTORE[..2] {
            run.step(name, true, log);
        }
        for name in &RESTORE[2..] {
            run.step(name, false, log);
        }
        run.result()
    }
}

impl Run<'_> {
    fn result_canceled_early(mut self) -> Result<()> {
        self.status = Status::Canceled;
        self.result()
    }
}
