//! Backup and restore pipelines: one plugin's stdout streamed into another's stdin.
//!
//! A backup is `target backup | store store`; a restore is `store retrieve --key K | target
//! restore`. The runner sits in the middle of the pipe: it copies the stream in 1 MiB pieces
//! (bounded memory, and backpressure both ways: a slow store slows the target), counts the
//! bytes, and decides when the consumer may see the end of its input. The consumer gets EOF
//! only after the producer has exited 0 having written something; when the producer fails,
//! the consumer is killed first, so a store never commits a truncated archive.
//!
//! Both plugins run in process groups of their own under one timeout and one cancel token;
//! stopping kills both groups with everything they started. Their stderr streams into the task
//! log as it arrives, with secrets hidden.

use std::fmt;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bulwark_plugin::{Action, StoreOutput, UPLOAD_ENV};
use tokio::process::Child;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::codec::{self, Coded, StreamKey};
use crate::exec::{PluginCommand, kill_group, read_bounded};
use crate::stderr::{LogSink, Tail, stream_lines};

/// Copy buffer and requested pipe size.
pub(crate) const CHUNK: usize = 1 << 20;
/// How much of a consumer's stdout is kept (a store's key document).
pub(crate) const MAX_STDOUT: usize = 64 * 1024;

/// One end of a pipeline: a plugin and its endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The plugin.
    pub plugin: &'a PluginCommand,
    /// Its endpoint document, secrets included.
    pub endpoint: &'a str,
    /// Values to hide in what it prints.
    pub secrets: &'a [String],
    /// Environment variables to set for it (a repository password, snapshot tags).
    pub env: &'a [(String, String)],
    /// For a store: the key its stream is sealed with (see [`crate::codec`]); `None` keeps
    /// the stream as the target wrote it.
    pub key: Option<&'a StreamKey>,
}

/// How long a pipeline may run, and the token that cancels it.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Killed after this long.
    pub timeout: Duration,
    /// Killed when this is canceled.
    pub cancel: CancellationToken,
    /// Counts the bytes a pipeline has moved so far, for a progress display. A pipeline adds to
    /// it; it starts wherever the caller set it (zero for a new task).
    pub progress: Arc<AtomicU64>,
    /// At most this many bytes a second go to the store (a job's `bandwidth`); `None`: no
    /// limit.
    pub bandwidth: Option<u64>,
}

/// Which plugin of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The target plugin.
    Target,
    /// The store plugin.
    Store,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Target => "target",
            Role::Store => "store",
        })
    }
}

/// Why a pipeline did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// One plugin failed; the message says how.
    Plugin {
        /// Which one.
        role: Role,
        /// Its name.
        name: String,
        /// What went wrong: its exit, or what it did wrong.
        reason: String,
        /// The end of what it said on stderr (already in the task log, line by line).
        said: String,
    },
    /// The pipeline ran longer than its timeout and was killed.
    TimedOut(Duration),
    /// The pipeline was canceled and killed.
    Canceled,
}

impl Failure {
    /// True when a plugin exited 2: it does not support the action.
    pub fn unsupported(&self) -> bool {
        matches!(self, Failure::Plugin { reason, .. } if reason.starts_with("exit 2 ("))
    }

    /// What the plugin said last, or the failure itself when it said nothing.
    pub fn said_or_brief(&self) -> String {
        match self {
            Failure::Plugin { said, .. } if !said.trim().is_empty() => said.clone(),
            other => other.brief(),
        }
    }

    /// The failure without what the plugin said (which the task log already holds): for the
    /// task's last line, so the plugin's words are not said twice.
    pub fn brief(&self) -> String {
        match self {
            Failure::Plugin {
                role, name, reason, ..
            } => format!("the {role} plugin {name} failed: {reason}"),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Plugin {
                role,
                name,
                reason,
                said,
            } => {
                write!(f, "the {role} plugin {name} failed: {reason}")?;
                if !said.is_empty() {
                    write!(f, ": {said}")?;
                }
                Ok(())
            }
            Failure::TimedOut(d) => write!(
                f,
                "the task did not finish within {}s; both plugins were killed",
                d.as_secs()
            ),
            Failure::Canceled => f.write_str("the task was canceled; both plugins were killed"),
        }
    }
}

/// A pipeline that did not succeed, with what the store may have kept anyway.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineError {
    /// What went wrong.
    pub failure: Failure,
    /// A key the store printed before the pipeline failed: data to purge.
    pub stored: Option<StoreOutput>,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.failure.fmt(f)
    }
}

impl std::error::Error for PipelineError {}

/// A finished backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    /// What the store printed.
    pub stored: StoreOutput,
    /// Bytes that went from the target to the store.
    pub bytes: u64,
}

/// Streams `target backup` into `store store`. `upload` names the upload for the store (see
/// [`UPLOAD_ENV`]) so a failed one can be abandoned.
pub async fn backup(
    target: Side<'_>,
    store: Side<'_>,
    upload: &str,
    limits: &Limits,
    log: &LogSink,
) -> Result<Backup, PipelineError> {
    let producer = Proc {
        role: Role::Target,
        side: target,
        action: Action::Backup,
        key: None,
        upload: None,
    };
    let consumer = Proc {
        role: Role::Store,
        side: store,
        action: Action::Store,
        key: None,
        upload: Some(upload),
    };
    stored(run_pair(producer, consumer, limits, log).await, store)
}

/// Streams `store retrieve --key KEY` into `target restore`; returns the bytes restored.
pub async fn restore(
    store: Side<'_>,
    key: &str,
    target: Side<'_>,
    limits: &Limits,
    log: &LogSink,
) -> Result<u64, PipelineError> {
    let producer = Proc {
        role: Role::Store,
        side: store,
        action: Action::Retrieve,
        key: Some(key),
        upload: None,
    };
    let consumer = Proc {
        role: Role::Target,
        side: target,
        action: Action::Restore,
        key: None,
        upload: None,
    };
    match run_pair(producer, consumer, limits, log).await {
        Ok(d) => Ok(d.bytes),
        Err((failure, _)) => Err(PipelineError {
            failure,
            stored: None,
        }),
    }
}

/// Streams `source retrieve --key KEY` into `dest store`: a copy of an archive into a further
/// store. A sealed source is opened with its key and, for a sealed destination, sealed again
/// with the destination's; `upload` names the upload for the destination, as for a backup.
pub async fn copy(
    source: Side<'_>,
    key: &str,
    dest: Side<'_>,
    upload: &str,
    limits: &Limits,
    log: &LogSink,
) -> Result<Backup, PipelineError> {
    let producer = Proc {
        role: Role::Store,
        side: source,
        action: Action::Retrieve,
        key: Some(key),
        upload: None,
    };
    let consumer = Proc {
        role: Role::Store,
        side: dest,
        action: Action::Store,
        key: None,
        upload: Some(upload),
    };
    stored(run_pair(producer, consumer, limits, log).await, dest)
}

/// What a pair ending in a store's `store` gave: the key document it printed, or the failure
/// with any key it printed before failing (data to purge).
#[allow(clippy::result_large_err)] // The very result `backup` and `copy` hand their callers.
fn stored(
    done: Result<PairDone, (Failure, Option<Vec<u8>>)>,
    store: Side<'_>,
) -> Result<Backup, PipelineError> {
    match done {
        Ok(d) => match StoreOutput::parse(&d.consumer_stdout) {
            Ok(stored) if !d.stdout_overflow => Ok(Backup {
                stored,
                bytes: d.bytes,
            }),
            Ok(_) => Err(store_failure(
                store,
                "it printed more than 64 KiB on stdout".into(),
            )),
            Err(e) => Err(store_failure(
                store,
                format!("its output is not the key document the protocol asks for: {e}"),
            )),
        },
        Err((failure, stdout)) => Err(PipelineError {
            failure,
            stored: stdout
                .as_deref()
                .and_then(|out| StoreOutput::parse(out).ok()),
        }),
    }
}

fn store_failure(store: Side<'_>, reason: String) -> PipelineError {
    PipelineError {
        failure: Failure::Plugin {
            role: Role::Store,
            name: store.plugin.name().to_string(),
            reason,
            said: String::new(),
        },
        stored: None,
    }
}

/// One plugin of a pair, before it starts.
pub(crate) struct Proc<'a> {
    pub(crate) role: Role,
    pub(crate) side: Side<'a>,
    pub(crate) action: Action,
    pub(crate) key: Option<&'a str>,
    pub(crate) upload: Option<&'a str>,
}

impl Proc<'_> {
    pub(crate) fn fail(&self, reason: impl Into<String>) -> Failure {
        Failure::Plugin {
            role: self.role,
            name: self.side.plugin.name().to_string(),
            reason: reason.into(),
            said: String::new(),
        }
    }

    /// The failure of a plugin that exited badly: how, and the end of what it said.
    pub(crate) fn failed_exit(&self, status: &std::io::Result<ExitStatus>, tail: &Tail) -> Failure {
        Failure::Plugin {
            role: self.role,
            name: self.side.plugin.name().to_string(),
            reason: exit_how(status),
            said: tail.summary(),
        }
    }
}

/// "exit 4 (plugin failure)", "it was killed by a signal".
pub(crate) fn exit_how(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => match s.code() {
            Some(c) => format!("exit {c} ({})", bulwark_plugin::Exit::describe(c)),
            None => "it was killed by a signal".to_string(),
        },
        Err(e) => format!("waiting for it failed: {e}"),
    }
}

/// A pair that ran to the end.
struct PairDone {
    bytes: u64,
    consumer_stdout: Vec<u8>,
    stdout_overflow: bool,
}

/// A started plugin.
pub(crate) struct Started {
    pub(crate) child: Child,
    pub(crate) pgid: Option<u32>,
    pub(crate) stderr: JoinHandle<Tail>,
    /// The mark its processes carry (see [`crate::leftovers`]).
    pub(crate) run: String,
}

pub(crate) async fn start(p: &Proc<'_>, log: &LogSink) -> Result<Started, Failure> {
    let mut cmd = p.side.plugin.command(p.action, p.side.endpoint, p.key);
    if let Some(u) = p.upload {
        cmd.env(UPLOAD_ENV, u);
    }
    for (k, v) in p.side.env {
        cmd.env(k, v);
    }
    let (mut child, run) = crate::exec::spawn(&mut cmd)
        .await
        .map_err(|e| p.fail(format!("it could not be started: {e}")))?;
    let pgid = child.id();
    let stderr = child.stderr.take();
    let label = format!("{} {}", p.role, p.side.plugin.name());
    let secrets = p.side.secrets.to_vec();
    let sink = log.clone();
    let stderr = tokio::spawn(async move {
        match stderr {
            // The pipeline counts the stream itself.
            Some(s) => stream_lines(s, &label, &secrets, &sink, None).await,
            None => Tail::default(),
        }
    });
    Ok(Started {
        child,
        pgid,
        run,
        stderr,
    })
}

/// Asks for a larger pipe, so the copy loop makes fewer, larger reads and writes.
pub(crate) fn widen(fd: impl AsFd) {
    let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(CHUNK as i32));
}

/// How the copy from producer to consumer ended.
pub(crate) enum Pumped {
    /// The producer's stdout ended; the consumer's stdin is still open.
    Eof(std::fs::File),
    /// Writing to the consumer failed: it stopped reading.
    ConsumerGone,
    /// Reading the producer's stdout failed.
    ReadFailed(std::io::Error),
    /// A sealed stream did not open: wrong key, or a damaged blob.
    Corrupt(String),
}

impl From<Coded> for Pumped {
    fn from(c: Coded) -> Pumped {
        match c {
            Coded::Done(to) => Pumped::Eof(to),
            Coded::ConsumerGone => Pumped::ConsumerGone,
            Coded::ReadFailed(e) => Pumped::ReadFailed(e),
            Coded::Corrupt(m) => Pumped::Corrupt(m),
        }
    }
}

/// A pipe end as a blocking file. The copy loop runs on a thread of its own with plain
/// blocking reads and writes: an event-loop relay pays a readiness round trip per chunk, which
/// costs more than the copy itself at pipe speeds.
/// A pipe end as a blocking `File`, for the copying threads.
pub(crate) fn blocking_file(fd: std::os::fd::OwnedFd) -> std::io::Result<std::fs::File> {
    blocking(fd)
}

pub(crate) fn blocking(fd: std::os::fd::OwnedFd) -> std::io::Result<std::fs::File> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(std::fs::File::from(fd))
}

pub(crate) fn pump(
    mut from: std::fs::File,
    mut to: std::fs::File,
    counter: Arc<AtomicU64>,
    rate: Option<u64>,
) -> Pumped {
    let mut pace = crate::pace::Pace::new(rate);
    use nix::errno::Errno;
    use nix::fcntl::{SpliceFFlags, splice};
    use std::io::{Read, Write};
    // Pipe to pipe, the kernel moves pages without copying them through this process. Where
    // splice is refused (EINVAL), the plain copy below takes over.
    loop {
        match splice(&from, None, &to, None, CHUNK, SpliceFFlags::SPLICE_F_MOVE) {
            Ok(0) => return Pumped::Eof(to),
            Ok(n) => {
                counter.fetch_add(n as u64, Ordering::Relaxed);
                if let Some(p) = &mut pace {
                    p.sent(n as u64);
                }
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EPIPE) => return Pumped::ConsumerGone,
            Err(Errno::EINVAL) => break,
            Err(e) => return Pumped::ReadFailed(std::io::Error::from(e)),
        }
    }
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Pumped::Eof(to),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Pumped::ReadFailed(e),
        };
        if to.write_all(&buf[..n]).is_err() {
            return Pumped::ConsumerGone;
        }
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(p) = &mut pace {
            p.sent(n as u64);
        }
    }
}

async fn run_pair(
    producer: Proc<'_>,
    consumer: Proc<'_>,
    limits: &Limits,
    log: &LogSink,
) -> Result<PairDone, (Failure, Option<Vec<u8>>)> {
    // The consumer starts first: a producer must never write into a pipe nobody will read.
    let mut cons = start(&consumer, log).await.map_err(|f| (f, None))?;
    let mut prod = match start(&producer, log).await {
        Ok(p) => p,
        Err(f) => {
            kill_group(cons.pgid);
            let _ = cons.child.wait().await;
            return Err((f, None));
        }
    };
    let pgids = (prod.pgid, cons.pgid);
    let flow = flow(&producer, &consumer, &mut prod, &mut cons, limits, log);
    let result = tokio::select! {
        r = flow => r,
        () = tokio::time::sleep(limits.timeout) => Err((Failure::TimedOut(limits.timeout), None)),
        () = limits.cancel.cancelled() => Err((Failure::Canceled, None)),
    };
    if matches!(result, Err((Failure::TimedOut(_) | Failure::Canceled, _))) {
        // A cancel or a timeout: the store dies at once (nothing partial may be committed);
        // the target is asked to stop and given the grace to clean up after itself. Between
        // two stores (a copy) both die at once, the one written first.
        match (producer.role, consumer.role) {
            (Role::Target, _) => {
                kill_group(cons.pgid);
                crate::exec::stop_group(prod.pgid, &mut prod.child).await;
            }
            (_, Role::Target) => {
                kill_group(prod.pgid);
                crate::exec::stop_group(cons.pgid, &mut cons.child).await;
            }
            _ => kill_group(cons.pgid),
        }
    }
    // Whatever happened, nothing either plugin started outlives the pipeline. The consumer
    // goes first, so it cannot take a closed input for the end of the stream.
    kill_group(pgids.1);
    kill_group(pgids.0);
    let _ = cons.child.wait().await;
    let _ = prod.child.wait().await;
    // And what they started outside their groups (a child in a session of its own).
    crate::leftovers::kill_marked(&cons.run);
    crate::leftovers::kill_marked(&prod.run);
    // The stderr readers end once every holder of the pipes is dead.
    for h in [&mut prod.stderr, &mut cons.stderr] {
        if !h.is_finished() {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
    }
    result
}

async fn flow(
    producer: &Proc<'_>,
    consumer: &Proc<'_>,
    prod: &mut Started,
    cons: &mut Started,
    limits: &Limits,
    log: &LogSink,
) -> Result<PairDone, (Failure, Option<Vec<u8>>)> {
    let internal = |what: &str| {
        (
            consumer.fail(format!("internal error: no {what} pipe")),
            None,
        )
    };
    let from = prod.child.stdout.take().ok_or_else(|| internal("stdout"))?;
    let to = cons.child.stdin.take().ok_or_else(|| internal("stdin"))?;
    let mut out = cons.child.stdout.take().ok_or_else(|| internal("stdout"))?;
    widen(&from);
    widen(&to);
    let pipe_err =
        |e: std::io::Error| (consumer.fail(format!("internal error: a pipe: {e}")), None);
    let from = blocking(from.into_owned_fd().map_err(pipe_err)?).map_err(pipe_err)?;
    let to = blocking(to.into_owned_fd().map_err(pipe_err)?).map_err(pipe_err)?;
    let reader = tokio::spawn(async move { read_bounded(&mut out, MAX_STDOUT).await });
    let counter = limits.progress.clone();
    let start_bytes = counter.load(Ordering::Relaxed);
    let c = counter.clone();
    // A store with a key gets the stream sealed on the way in and opened on the way out.
    let seal = (consumer.role == Role::Store)
        .then_some(consumer.side.key)
        .flatten()
        .cloned();
    let open = (producer.role == Role::Store)
        .then_some(producer.side.key)
        .flatten()
        .cloned();
    // The pace applies to what goes into a store.
    let rate = (consumer.role == Role::Store)
        .then_some(limits.bandwidth)
        .flatten();
    let mut pumping = tokio::task::spawn_blocking(move || match (seal, open) {
        // Store to store (a copy): opened with one store's key, sealed with the other's.
        (Some(new), Some(old)) => codec::reseal(from, to, &old, &new, c, rate).into(),
        (Some(k), None) => codec::seal(from, to, &k, c, rate).into(),
        (None, Some(k)) => codec::open(from, to, &k, c).into(),
        (None, None) => pump(from, to, c, rate),
    });

    // Copy until the producer's stdout ends, unless the consumer dies first; then the producer
    // is killed, which ends the copy too.
    let prod_pgid = prod.pgid;
    let mut consumer_status = None;
    // Set when processes the producer left behind still held its output, idle, after it had
    // exited, and were killed.
    let mut left_behind = false;
    let pumped = tokio::select! {
        p = &mut pumping => p,
        s = cons.child.wait() => {
            consumer_status = Some(s);
            kill_group(prod_pgid);
            (&mut pumping).await
        }
        _ = prod.child.wait() => {
            // The producer has exited, so its output should end. While bytes still flow (a
            // slow consumer draining the pipe), wait; once nothing has moved for the grace and
            // processes with its mark remain, they hold the pipe: kill them.
            loop {
                let before = counter.load(Ordering::Relaxed);
                match tokio::time::timeout(crate::leftovers::EXIT_GRACE, &mut pumping).await {
                    Ok(p) => break p,
                    Err(_) if counter.load(Ordering::Relaxed) != before => continue,
                    Err(_) if crate::leftovers::marked(&prod.run).is_empty() => continue,
                    Err(_) => {
                        kill_group(prod_pgid);
                        crate::leftovers::kill_marked(&prod.run);
                        left_behind = true;
                        break (&mut pumping).await;
                    }
                }
            }
        }
    };
    if left_behind {
        let _ = log.send(format!(
            "The {} plugin {} exited, but processes it left behind still held its output {}s later; they were killed.",
            producer.role,
            producer.side.plugin.name(),
            crate::leftovers::EXIT_GRACE.as_secs(),
        ));
    }
    let pumped = pumped.unwrap_or_else(|e| Pumped::ReadFailed(std::io::Error::other(e)));
    let consumer_first = consumer_status.is_some() || matches!(pumped, Pumped::ConsumerGone);
    if !matches!(pumped, Pumped::Eof(_)) {
        kill_group(prod_pgid);
    }
    // A producer's leftover children may hold its stdout; they go with its group once it
    // has exited.
    let prod_status = prod.child.wait().await;
    kill_group(prod_pgid);
    let bytes = counter.load(Ordering::Relaxed) - start_bytes;
    let prod_ok = matches!(&prod_status, Ok(s) if s.success());

    let mut read_error = None;
    let mut corrupt = None;
    let stdin = match pumped {
        Pumped::Eof(stdin) if prod_ok && bytes > 0 && !consumer_first => Some(stdin),
        Pumped::Eof(stdin) => {
            // Kill the consumer before it can see the end of a stream that is not whole.
            kill_group(cons.pgid);
            drop(stdin);
            None
        }
        Pumped::ConsumerGone => None,
        Pumped::ReadFailed(e) => {
            kill_group(cons.pgid);
            read_error = Some(e);
            None
        }
        Pumped::Corrupt(m) => {
            kill_group(cons.pgid);
            corrupt = Some(m);
            None
        }
    };
    let closing = stdin.is_some();
    drop(stdin);
    let cons_status = match consumer_status {
        Some(s) => s,
        None => cons.child.wait().await,
    };
    // The consumer has exited; a process it left behind may still hold its stdout.
    if tokio::time::timeout(crate::leftovers::EXIT_GRACE, async {
        while !reader.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_err()
    {
        kill_group(cons.pgid);
        if crate::leftovers::kill_marked(&cons.run) > 0 {
            let _ = log.send(format!(
            "The {} plugin {} exited, but processes it left behind still held its output {}s later; they were killed.",
            consumer.role,
            consumer.side.plugin.name(),
            crate::leftovers::EXIT_GRACE.as_secs()
            ));
        }
    }
    let (stdout, overflow) = reader.await.unwrap_or_default();
    let cons_ok = matches!(&cons_status, Ok(s) if s.success());
    if closing && cons_ok {
        return Ok(PairDone {
            bytes,
            consumer_stdout: stdout,
            stdout_overflow: overflow,
        });
    }
    let prod_tail = tail_of(&mut prod.stderr).await;
    let cons_tail = tail_of(&mut cons.stderr).await;
    let failure = if let Some(m) = corrupt {
        producer.fail(m)
    } else if let Some(e) = read_error {
        producer.fail(format!("reading its output failed: {e}"))
    } else if consumer_first {
        if cons_ok {
            consumer.fail(format!(
                "it exited 0 but stopped reading its input after {bytes} bytes"
            ))
        } else {
            consumer.failed_exit(&cons_status, &cons_tail)
        }
    } else if !prod_ok {
        producer.failed_exit(&prod_status, &prod_tail)
    } else if bytes == 0 {
        producer.fail("it exited 0 but wrote nothing; an empty stream is not a backup")
    } else {
        consumer.failed_exit(&cons_status, &cons_tail)
    };
    Err((failure, Some(stdout)))
}

/// The stderr tail of a plugin that has exited (its readers end once the pipe closes).
pub(crate) async fn tail_of(h: &mut JoinHandle<Tail>) -> Tail {
    match tokio::time::timeout(Duration::from_secs(5), h).await {
        Ok(Ok(t)) => t,
        _ => Tail::default(),
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
