//! One plugin call run as a task step: its stderr streams into the task log, its stdout is
//! kept (bounded), and it dies with the task's timeout or cancel. Used for what is not a
//! pipeline: a repository's tree backups and restores, checks and prunes.

use std::time::Duration;

use crate::exec::{PluginCommand, kill_group, read_bounded};
use crate::pipeline::{Failure, Limits, Role};
use crate::stderr::{LogSink, Tail, stream_lines};

/// How much stdout is kept.
const MAX_STDOUT: usize = 1 << 20;

/// One call: which plugin, with what.
#[derive(Debug, Clone, Copy)]
pub struct Single<'a> {
    /// The plugin.
    pub plugin: &'a PluginCommand,
    /// Its role, for messages.
    pub role: Role,
    /// The action and its flags.
    pub args: &'a [&'a str],
    /// The endpoint, secrets included.
    pub endpoint: &'a str,
    /// Environment variables to set.
    pub env: &'a [(String, String)],
    /// Values to hide in what it prints.
    pub secrets: &'a [String],
}

impl Single<'_> {
    /// This plugin failed for `reason`.
    fn failure(&self, reason: String) -> Failure {
        Failure::Plugin {
            role: self.role,
            name: self.plugin.name().to_string(),
            reason,
            said: String::new(),
        }
    }

    /// The command to start, with its environment.
    fn command(&self) -> tokio::process::Command {
        let mut cmd = self.plugin.command_args(self.args, self.endpoint);
        for (k, v) in self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// Runs the call to its end; returns its stdout when it exits 0.
pub async fn run_logged(
    call: Single<'_>,
    limits: &Limits,
    log: &LogSink,
) -> Result<Vec<u8>, Failure> {
    let name = call.plugin.name().to_string();
    let fail = |reason: String| call.failure(reason);
    let mut cmd = call.command();
    let (mut child, run) = crate::exec::spawn(&mut cmd)
        .await
        .map_err(|e| fail(format!("it could not be started: {e}")))?;
    let pgid = child.id();
    drop(child.stdin.take());
    let label = format!("{} {}", call.role, name);
    let secrets = call.secrets.to_vec();
    let sink = log.clone();
    let err = child.stderr.take();
    // A plugin that moves the data itself may report its progress on stderr.
    let progress = limits.progress.clone();
    let stderr = tokio::spawn(async move {
        match err {
            Some(s) => stream_lines(s, &label, &secrets, &sink, Some(&progress)).await,
            None => Tail::default(),
        }
    });
    let out = child.stdout.take();
    let reader = tokio::spawn(async move {
        match out {
            Some(mut out) => read_bounded(&mut out, MAX_STDOUT).await.0,
            None => Vec::new(),
        }
    });
    let ended = tokio::select! {
        s = child.wait() => Ok(s),
        () = tokio::time::sleep(limits.timeout) => Err(Failure::TimedOut(limits.timeout)),
        () = limits.cancel.cancelled() => Err(Failure::Canceled),
    };
    kill_group(pgid);
    let _ = child.wait().await;
    // What left the group: after a short grace for its output to end.
    if !reader.is_finished() {
        let _ = tokio::time::timeout(crate::leftovers::EXIT_GRACE, async {
            while !reader.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    crate::leftovers::kill_marked(&run);
    let tail = match tokio::time::timeout(Duration::from_secs(5), stderr).await {
        Ok(Ok(t)) => t,
        _ => Tail::default(),
    };
    let stdout = reader.await.unwrap_or_default();
    let status = ended?.map_err(|e| fail(format!("waiting for it failed: {e}")))?;
    if status.success() {
        return Ok(stdout);
    }
    Err(Failure::Plugin {
        role: call.role,
        name,
        reason: crate::pipeline::exit_how(&Ok(status)),
        said: tail.summary(),
    })
}

/// A plugin whose stdout is being read by someone else (a download): dropping this kills it
/// and everything it started, whether it finished or not.
#[derive(Debug)]
pub struct Running {
    child: tokio::process::Child,
    pgid: Option<u32>,
    run: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        kill_group(self.pgid);
        let _ = self.child.start_kill();
        crate::leftovers::kill_marked(&self.run);
    }
}

/// Starts a call whose stdout the caller streams on; its stderr is dropped (a listing run first
/// tells whether the call can work). The process dies with the returned [`Running`].
pub async fn start_streaming(
    call: Single<'_>,
) -> Result<(tokio::process::ChildStdout, Running), Failure> {
    let fail = |reason: String| call.failure(reason);
    let mut cmd = call.command();
    cmd.stderr(std::process::Stdio::null());
    let (mut child, run) = crate::exec::spawn(&mut cmd)
        .await
        .map_err(|e| fail(format!("it could not be started: {e}")))?;
    drop(child.stdin.take());
    let pgid = child.id();
    let out = child
        .stdout
        .take()
        .ok_or_else(|| fail("internal error: no stdout pipe".into()))?;
    Ok((out, Running { child, pgid, run }))
}
