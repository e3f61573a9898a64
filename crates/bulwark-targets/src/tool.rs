//! Running a database's own client tools (pg_dump, mariadb-dump, ...) as child processes: found
//! on `PATH` or in a configured directory, fed and drained through pipes, with their stderr kept
//! for a one-line error.
//!
//! Nothing secret goes on a child's command line: callers pass passwords in the child's
//! environment or in a temporary option file. The plugin's own endpoint variable is removed from
//! every child's environment, so a tool never sees more than it needs.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use bulwark_plugin::{PluginError, Result};

/// How much of a tool's stderr is kept.
const STDERR_LIMIT: usize = 64 * 1024;

const BUFFER: usize = 1 << 20;

/// Finds the executable `name`: in `dir` when given, else on `PATH`. `hint` says how to install
/// it and ends the error when it is missing.
pub fn find(name: &str, dir: Option<&Path>, hint: &str) -> Result<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(dir) = dir {
        let p = dir.join(name);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(PluginError::failed(format!(
                "{name} is not installed: there is no executable {}",
                p.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| executable(p))
        .ok_or_else(|| {
            PluginError::failed(format!(
                "{name} is not installed: it is not on PATH ({hint})"
            ))
        })
}

/// The first of `names` that [`find`] finds, for tools that go by two names
/// (`mariadb-dump` and `mysqldump`).
pub fn find_any(names: &[&str], dir: Option<&Path>, hint: &str) -> Result<PathBuf> {
    let mut first_error = None;
    for name in names {
        match find(name, dir, hint) {
            Ok(p) => return Ok(p),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(PluginError::failed(format!(
        "{} is not installed: none of {} was found{}",
        names.first().copied().unwrap_or("the tool"),
        names.join(", "),
        first_error
            .map(|_| format!(" ({hint})"))
            .unwrap_or_default()
    )))
}

/// A command for `program` with a clean slate: no stdin, its output captured, and without the
/// plugin's endpoint in its environment.
pub fn command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove(bulwark_plugin::cli::ENDPOINT_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Turns a failed tool's stderr into the one line an error shows.
pub type Explain<'a> = &'a dyn Fn(&str) -> String;

/// What a tool printed on stderr, kept in a thread so a chatty tool never blocks.
struct Stderr(Option<JoinHandle<String>>);

impl Stderr {
    fn take(child: &mut Child) -> Stderr {
        Stderr(child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    match e.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let room = STDERR_LIMIT.saturating_sub(kept.len());
                            kept.extend_from_slice(&buf[..n.min(room)]);
                        }
                    }
                }
                String::from_utf8_lossy(&kept).into_owned()
            })
        }))
    }

    fn text(self) -> String {
        self.0.and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

fn spawn(cmd: &mut Command, what: &str) -> Result<Child> {
    cmd.spawn()
        .map_err(|e| PluginError::failed(format!("{what} could not be started: {e}")))
}

/// Waits for the child; a failure becomes an error through `explain`. Returns its stderr.
fn finish(mut child: Child, stderr: Stderr, what: &str, explain: Explain) -> Result<String> {
    let status = child
        .wait()
        .map_err(|e| PluginError::failed(format!("waiting for {what} failed: {e}")))?;
    let text = stderr.text();
    if status.success() {
        Ok(text)
    } else {
        let why = explain(&text);
        let why = if why.is_empty() {
            format!("{what} failed ({status}) and said nothing")
        } else {
            why
        };
        Err(PluginError::failed(why))
    }
}

/// Runs `cmd` and copies its stdout to `out`. Returns its stderr and the bytes copied when it
/// succeeds.
pub fn run_to(
    mut cmd: Command,
    what: &str,
    out: &mut dyn Write,
    explain: Explain,
) -> Result<(String, u64)> {
    cmd.stdout(Stdio::piped());
    let mut child = spawn(&mut cmd, what)?;
    let stderr = Stderr::take(&mut child);
    let copied = match child.stdout.take() {
        Some(mut stdout) => copy(&mut stdout, out),
        None => Ok(0),
    };
    match copied {
        Err(e) => {
            // Our side failed (the store stopped reading): the tool is stopped.
            let _ = child.kill();
            let _ = child.wait();
            Err(PluginError::failed(format!(
                "writing {what}'s output failed: {e}"
            )))
        }
        Ok(bytes) => finish(child, stderr, what, explain).map(|err| (err, bytes)),
    }
}

/// Runs `cmd` with `input` on its stdin, to the end. Returns its stderr and stdout when it
/// succeeds.
pub fn run_from(
    mut cmd: Command,
    what: &str,
    input: &mut dyn Read,
    explain: Explain,
) -> Result<(String, String)> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = spawn(&mut cmd, what)?;
    let stderr = Stderr::take(&mut child);
    let stdout = child.stdout.take().map(|mut o| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = o.by_ref().take(STDERR_LIMIT as u64).read_to_end(&mut s);
            let _ = std::io::copy(&mut o, &mut std::io::sink());
            String::from_utf8_lossy(&s).into_owned()
        })
    });
    let fed = match child.stdin.take() {
        Some(mut stdin) => copy(input, &mut stdin),
        None => Ok(0),
    };
    let stdout = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    let result = finish(child, stderr, what, explain);
    match (result, fed) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(PluginError::failed(format!(
            "{what} stopped reading the backup before its end: {e}"
        ))),
        (Ok(err), Ok(_)) => Ok((err, stdout)),
    }
}

/// Runs `cmd` with `input` on its stdin while `consume` reads its stdout in a thread of its
/// own (it must read to the end). Returns the tool's stderr and what `consume` made of it.
pub fn run_through<T: Send + 'static>(
    mut cmd: Command,
    what: &str,
    input: &mut dyn Read,
    consume: impl FnOnce(&mut dyn Read) -> T + Send + 'static,
    explain: Explain,
) -> Result<(String, T)> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = spawn(&mut cmd, what)?;
    let stderr = Stderr::take(&mut child);
    let Some(mut out) = child.stdout.take() else {
        return Err(PluginError::failed(format!("{what} has no output pipe")));
    };
    let reader = std::thread::spawn(move || {
        let made = consume(&mut out);
        let _ = std::io::copy(&mut out, &mut std::io::sink());
        made
    });
    let fed = match child.stdin.take() {
        Some(mut stdin) => copy(input, &mut stdin),
        None => Ok(0),
    };
    let made = reader.join();
    let result = finish(child, stderr, what, explain);
    match (result, fed, made) {
        (Err(e), _, _) => Err(e),
        (Ok(_), Err(e), _) => Err(PluginError::failed(format!(
            "{what} stopped reading the backup before its end: {e}"
        ))),
        (Ok(_), _, Err(_)) => Err(PluginError::failed(format!(
            "reading {what}'s output failed"
        ))),
        (Ok(err), Ok(_), Ok(made)) => Ok((err, made)),
    }
}

/// Runs `cmd` with `stdin` (a short script) and returns its stdout.
pub fn run_capture(mut cmd: Command, what: &str, stdin: &[u8], explain: Explain) -> Result<String> {
    let mut input = stdin;
    run_from(
        {
            cmd.stdout(Stdio::piped());
            cmd
        },
        what,
        &mut input,
        explain,
    )
    .map(|(_, out)| out)
}

/// Copies to the end in large blocks. A broken pipe on either side is an error.
pub fn copy(from: &mut dyn Read, to: &mut dyn Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; BUFFER];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
    to.flush()?;
    Ok(total)
}

/// Passes what a tool said on stderr while succeeding (warnings) on to the task log, line by
/// line, without the empty lines.
pub fn relay(stderr: &str, log: &mut dyn Write) {
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(log, "{line}");
    }
}

/// The most of a tool's stderr an error repeats.
const ONE_LINE_LIMIT: usize = 500;

/// The lines of a tool's stderr that say something, joined into one line of at most 500
/// characters.
pub fn one_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if line.chars().count() > ONE_LINE_LIMIT {
        let cut: String = line.chars().take(ONE_LINE_LIMIT).collect();
        format!("{cut}…")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_missing_tool_is_named_with_a_hint() {
        let e = find("no-such-tool-bulwark", None, "install it").unwrap_err();
        assert!(
            e.message.contains("no-such-tool-bulwark is not installed"),
            "{e}"
        );
        assert!(e.message.contains("install it"), "{e}");
        let e = find("sh", Some(Path::new("/nonexistent")), "x").unwrap_err();
        assert!(e.message.contains("/nonexistent/sh"), "{e}");
        assert!(find_any(&["no-such-tool-bulwark", "sh"], None, "x").is_ok());
    }

    #[test]
    fn output_input_and_failures_of_a_tool() {
        let sh = find("sh", None, "").unwrap();
        let explain: Explain = &|s| format!("explained: {}", one_line(s));
        let mut cmd = command(&sh);
        cmd.args(["-c", "printf hello; echo note >&2"]);
        let mut out = Vec::new();
        let (err, bytes) = run_to(cmd, "sh", &mut out, explain).unwrap();
        assert_eq!(out, b"hello");
        assert_eq!(bytes, 5);
        assert_eq!(err.trim(), "note");

        let mut cmd = command(&sh);
        cmd.args([
            "-c",
            "cat >/dev/null; echo broken >&2; echo more >&2; exit 3",
        ]);
        let e = run_from(cmd, "sh", &mut &b"data"[..], explain).unwrap_err();
        assert_eq!(e.message, "explained: broken; more");

        let mut cmd = command(&sh);
        cmd.args(["-c", "exit 0"]);
        let big = vec![7u8; 8 << 20];
        let e = run_from(cmd, "sh", &mut &big[..], explain).unwrap_err();
        assert!(e.message.contains("stopped reading"), "{e}");

        let mut cmd = command(&sh);
        cmd.args(["-c", "tr a-z A-Z"]);
        assert_eq!(run_capture(cmd, "sh", b"abc", explain).unwrap(), "ABC");

        let mut cmd = command(&sh);
        cmd.args(["-c", "exit 5"]);
        let e = run_capture(cmd, "sh", b"", &|_| String::new()).unwrap_err();
        assert!(e.message.contains("sh failed"), "{e}");
        assert_eq!(one_line(&"x".repeat(2000)).chars().count(), 501);
    }
}
