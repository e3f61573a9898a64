//! Starting a plugin process and running one action to its end.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bulwark_plugin::Action;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::stderr::StderrLog;

/// How to start one plugin.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginCommand {
    /// An executable found in a plugin directory, called exactly as seed 003 says.
    External {
        /// The plugin's name (its file name).
        name: String,
        /// The executable.
        path: PathBuf,
        /// The plugin said (`"endpoint": "env"` in its `info` features) that it reads its
        /// endpoint from `BULWARK_PLUGIN_ENDPOINT`: it is not put on the command line.
        endpoint_env: bool,
    },
    /// A plugin compiled into Bulwark, called as `BULWARK plugin NAME ACTION`, with the endpoint
    /// in `BULWARK_PLUGIN_ENDPOINT` rather than on the command line.
    Builtin {
        /// The plugin's name.
        name: String,
        /// The `bulwark` binary.
        bulwark: PathBuf,
    },
}

impl PluginCommand {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        match self {
            PluginCommand::External { name, .. } | PluginCommand::Builtin { name, .. } => name,
        }
    }

    /// The command for one action, in a process group of its own.
    pub fn command(&self, action: Action, endpoint: &str, key: Option<&str>) -> Command {
        let mut args = vec![action.as_str()];
        if let Some(k) = key {
            args.extend(["--key", k]);
        }
        self.command_args(&args, endpoint)
    }

    /// The command for `args` (an action and its flags), in a process group of its own.
    pub fn command_args(&self, args: &[&str], endpoint: &str) -> Command {
        let (action, flags) = args.split_first().unwrap_or((&"info", &[]));
        let mut cmd = match self {
            PluginCommand::External {
                path, endpoint_env, ..
            } => {
                let mut c = Command::new(path);
                c.arg(action);
                if *endpoint_env {
                    c.env(bulwark_plugin::cli::ENDPOINT_ENV, endpoint);
                } else {
                    c.arg("--endpoint").arg(endpoint);
                }
                c
            }
            PluginCommand::Builtin { name, bulwark } => {
                let mut c = Command::new(bulwark);
                c.arg("plugin")
                    .arg(name)
                    .arg(action)
                    .env(bulwark_plugin::cli::ENDPOINT_ENV, endpoint)
                    // glibc gives each thread that allocates an arena of its own (up to 8 per
                    // core) and keeps what is freed in them: the repository's restore (20
                    // reader threads handing blobs to writers) peaked at 427 MiB on the shared
                    // 1 GiB data set, and at 251 MiB with two arenas, as fast.
                    .env("MALLOC_ARENA_MAX", MALLOC_ARENAS);
                c
            }
        };
        cmd.args(flags);
        die_with_parent(&mut cmd);
        cmd.process_group(0)
            .kill_on_drop(true)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

/// The glibc malloc arenas a built-in plugin's process may use (`MALLOC_ARENA_MAX`).
pub const MALLOC_ARENAS: &str = "2";

/// Makes the kernel kill the plugin when the process that started it dies, even by SIGKILL:
/// a plugin left running by a dead daemon could otherwise finish a store whose key nobody
/// records. (The signal follows the starting thread; plugins are started from the runtime's
/// worker threads, which live as long as the daemon.)
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec. It makes two system calls
    // (prctl, getppid) and builds an error from a raw errno: no allocation, no locks, which is
    // what a child of a multi-threaded process may do.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            // The parent may have died before the line above took effect.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::from(nix::errno::Errno::ESRCH));
            }
            Ok(())
        });
    }
}

/// Starts a command, trying again briefly when the executable is "busy" (ETXTBSY): a plugin
/// file that was just written can still be open for writing in a child that another thread
/// forked at that moment, until that child execs.
/// Starts a plugin's process with a mark of its own in its environment (see
/// [`crate::leftovers`]); returns the process and its mark.
pub(crate) async fn spawn(cmd: &mut Command) -> std::io::Result<(tokio::process::Child, String)> {
    let run = crate::leftovers::new_mark();
    crate::leftovers::mark(cmd, &run);
    let mut tries = 0;
    loop {
        match cmd.spawn().map(|c| (c, run.clone())) {
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ETXTBSY as i32) && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => return other,
        }
    }
}

/// Reads `out` to its end, keeping at most `max` bytes; the rest is read and dropped so the
/// writer never blocks. Returns what was kept and whether anything was dropped.
pub(crate) async fn read_bounded(
    out: &mut (impl tokio::io::AsyncRead + Unpin),
    max: usize,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut overflow = false;
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = out.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = max.saturating_sub(kept.len()).min(n);
        kept.extend_from_slice(&buf[..room]);
        overflow |= room < n;
    }
    (kept, overflow)
}

/// How a plugin action ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// What it printed on stdout (at most the limit given to [`run_collect`]).
    pub stdout: Vec<u8>,
    /// True when stdout was longer than the limit.
    pub stdout_overflow: bool,
    /// Its stderr, secrets hidden.
    pub stderr: StderrLog,
}

impl Outcome {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// "exit 4 (plugin failure)" or "killed by a signal".
    pub fn describe_exit(&self) -> String {
        match self.code {
            Some(c) => format!("exit {c} ({})", bulwark_plugin::Exit::describe(c)),
            None => "killed by a signal".into(),
        }
    }
}

/// A plugin that could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The process could not be started.
    #[error("plugin {name} could not be started: {source}")]
    Spawn {
        /// The plugin.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// The action took longer than allowed; the plugin's process group was killed.
    #[error("plugin {name} did not finish {action} within {}s and was killed", after.as_secs_f64())]
    TimedOut {
        /// The plugin.
        name: String,
        /// The action.
        action: Action,
        /// The limit.
        after: Duration,
        /// What it printed on stderr before it was killed.
        stderr: StderrLog,
    },
    /// Waiting for the process failed.
    #[error("plugin {name}: {source}")]
    Io {
        /// The plugin.
        name: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Kills a plugin's whole process group (its id is the plugin's pid, taken at spawn: tokio
/// forgets the pid once the child is reaped). A group that is already gone is fine. Ids 0 and 1
/// are never signalled: `killpg(0)` would hit the daemon's own group and 1 is init's.
pub fn kill_group(pgid: Option<u32>) {
    if let Some(pid) = pgid.and_then(|p| i32::try_from(p).ok()).filter(|&p| p > 1) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// How long a target plugin has, after SIGTERM on a cancel or a timeout, to stop by itself
/// before its group is killed: time for a plugin that locked something to unlock it (the
/// `scripts` target's cleanup and unlock scripts). A plugin that does not catch SIGTERM dies
/// at once, as before.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// Asks a target plugin's process group to stop (SIGTERM) and waits up to [`STOP_GRACE`] for
/// `child` to exit; the caller kills the group after. Same ids refused as [`kill_group`].
pub async fn stop_group(pgid: Option<u32>, child: &mut tokio::process::Child) {
    if let Some(pid) = pgid.and_then(|p| i32::try_from(p).ok()).filter(|&p| p > 1) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        let _ = tokio::time::timeout(STOP_GRACE, child.wait()).await;
    }
}

/// One protocol call: what to ask, with which endpoint, for how long.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The action.
    pub action: Action,
    /// The endpoint document (a JSON object, secrets included).
    pub endpoint: &'a str,
    /// `--key`, for retrieve and purge.
    pub key: Option<&'a str>,
    /// How long it may take before its process group is killed.
    pub timeout: Duration,
    /// Values to hide in its stderr ([`crate::secret_values`]).
    pub secrets: &'a [String],
    /// Environment variables to set for it.
    pub env: &'a [(String, String)],
}

/// Runs one action with `stdin` as input and collects its output, killing the plugin's process
/// group if it takes longer than `timeout`. Stdout beyond `max_stdout` bytes is read and dropped
/// (and reported), so a chatty plugin can neither block nor exhaust memory.
pub async fn run_collect(
    plugin: &PluginCommand,
    call: &Call<'_>,
    stdin: Vec<u8>,
    max_stdout: usize,
) -> Result<Outcome, RunError> {
    let name = plugin.name().to_string();
    let mut cmd = plugin.command(call.action, call.endpoint, call.key);
    for (k, v) in call.env {
        cmd.env(k, v);
    }
    let (mut child, run) = spawn(&mut cmd).await.map_err(|source| RunError::Spawn {
        name: name.clone(),
        source,
    })?;
    let pgid = child.id();
    let io_err = |source| RunError::Io {
        name: name.clone(),
        source,
    };
    let mut input = child
        .stdin
        .take()
        .ok_or_else(|| io_err(std::io::Error::other("no stdin")))?;
    let writer = tokio::spawn(async move {
        // A plugin that does not read its input closes the pipe; that is its business.
        let _ = input.write_all(&stdin).await;
    });
    let mut out = child
        .stdout
        .take()
        .ok_or_else(|| io_err(std::io::Error::other("no stdout")))?;
    let reader = tokio::spawn(async move { read_bounded(&mut out, max_stdout).await });
    let err = child
        .stderr
        .take()
        .ok_or_else(|| io_err(std::io::Error::other("no stderr")))?;
    let secrets = call.secrets.to_vec();
    let stderr = tokio::spawn(async move { StderrLog::capture(err, &secrets).await });

    let waited = tokio::time::timeout(call.timeout, child.wait()).await;
    // Whatever happened, nothing the plugin started may outlive the call: a leftover child
    // holding our pipes open would also keep the readers below waiting forever. Its group
    // goes first, then whatever left the group (after a short grace for output still in flight).
    kill_group(pgid);
    if !reader.is_finished() {
        let _ = tokio::time::timeout(crate::leftovers::EXIT_GRACE, async {
            while !reader.is_finished() {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    crate::leftovers::kill_marked(&run);
    let status = match waited {
        Ok(status) => status.map_err(io_err)?,
        Err(_) => {
            let _ = child.wait().await;
            writer.abort();
            reader.abort();
            let stderr = stderr.await.unwrap_or_default();
            return Err(RunError::TimedOut {
                name,
                action: call.action,
                after: call.timeout,
                stderr,
            });
        }
    };
    writer.abort();
    let (stdout, stdout_overflow) = reader.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();
    Ok(Outcome {
        code: status.code(),
        stdout,
        stdout_overflow,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn built_in_plugins_run_with_few_malloc_arenas_and_external_ones_as_they_are() {
        let env_of = |p: &PluginCommand| {
            p.command(Action::Store, "{}", None)
                .as_std()
                .get_envs()
                .find(|(k, _)| *k == "MALLOC_ARENA_MAX")
                .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
        };
        let builtin = PluginCommand::Builtin {
            name: "repository".into(),
            bulwark: "/usr/bin/bulwark".into(),
        };
        assert_eq!(env_of(&builtin).as_deref(), Some(MALLOC_ARENAS));
        let external = PluginCommand::External {
            name: "x".into(),
            path: "/bin/true".into(),
            endpoint_env: true,
        };
        assert_eq!(env_of(&external), None);
    }

    #[test]
    fn groups_zero_and_one_are_never_signalled() {
        // A stopped process in this test's own group would die by killpg(0); none is sent.
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        kill_group(Some(0));
        kill_group(Some(1));
        assert!(sleeper.try_wait().expect("try_wait").is_none());
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }

    /// Writes an external plugin as a shell script.
    fn script(dir: &std::path::Path, body: &str) -> PluginCommand {
        let path = dir.join("testplugin");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        PluginCommand::External {
            name: "testplugin".into(),
            path,
            endpoint_env: false,
        }
    }

    async fn run(
        p: &PluginCommand,
        action: Action,
        stdin: &[u8],
        timeout_ms: u64,
    ) -> Result<Outcome, RunError> {
        let secrets = ["hunter2".to_string()];
        let call = Call {
            action,
            endpoint: r#"{"password":"hunter2"}"#,
            key: None,
            timeout: Duration::from_millis(timeout_ms),
            secrets: &secrets,
            env: &[],
        };
        run_collect(p, &call, stdin.to_vec(), 1024).await
    }

    #[tokio::test]
    async fn passes_the_protocol_arguments_and_collects_output() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(
            dir.path(),
            r#"echo "args: $*" >&2; cat; echo; echo "secret is hunter2" >&2; exit 3"#,
        );
        let out = run(&p, Action::Store, b"payload", 10_000).await.unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.describe_exit(), "exit 3 (an external tool failed)");
        assert_eq!(out.stdout, b"payload\n");
        assert!(
            out.stderr
                .text
                .contains("args: store --endpoint {\"password\":\"<redacted>\"}"),
            "{}",
            out.stderr.text
        );
        assert!(out.stderr.text.contains("secret is <redacted>"));
        assert!(!out.stderr.text.contains("hunter2"));
    }

    #[tokio::test]
    async fn a_hanging_plugin_is_killed_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let p = script(
            dir.path(),
            &format!(
                "sleep 300 & echo $! > {}; echo started >&2; wait",
                pidfile.display()
            ),
        );
        let err = run(&p, Action::Backup, b"", 1500).await.unwrap_err();
        match &err {
            RunError::TimedOut { stderr, action, .. } => {
                assert_eq!(*action, Action::Backup);
                assert!(stderr.text.contains("started"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .contains("did not finish backup within 1.5s"),
            "{err}"
        );
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let pid = pid.trim();
        // The grandchild dies too (SIGKILL lands asynchronously; a zombie counts as dead).
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
        };
        for _ in 0..100 {
            if !alive() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(), "grandchild {pid} survived the kill");
    }

    #[tokio::test]
    async fn a_background_child_holding_stdout_does_not_hang_the_call() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(dir.path(), "sleep 300 & echo done");
        let out = run(&p, Action::Info, b"", 10_000).await.unwrap();
        assert!(out.success());
        assert_eq!(out.stdout, b"done\n");
    }

    #[tokio::test]
    async fn huge_output_is_bounded_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        // 4 MB on stdout and a single 3 MB stderr line.
        let p = script(
            dir.path(),
            "head -c 3000000 /dev/zero | tr '\\0' 'e' >&2; head -c 4000000 /dev/zero; exit 0",
        );
        let out = run(&p, Action::Info, b"", 20_000).await.unwrap();
        assert!(out.success());
        assert_eq!(out.stdout.len(), 1024);
        assert!(out.stdout_overflow);
        assert_eq!(out.stderr.text.len(), crate::stderr::MAX_KEPT);
        assert_eq!(
            out.stderr.dropped,
            3_000_000 - crate::stderr::MAX_KEPT as u64
        );
    }

    #[tokio::test]
    async fn a_missing_executable_is_a_spawn_error() {
        let p = PluginCommand::External {
            name: "ghost".into(),
            path: "/nonexistent/ghost".into(),
            endpoint_env: false,
        };
        let err = run(&p, Action::Info, b"", 1000).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("plugin ghost could not be started"),
            "{err}"
        );
    }
}
