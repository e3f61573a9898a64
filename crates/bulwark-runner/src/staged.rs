//! A restore in two steps, so that a target never sees a byte of a stream that does not come
//! out whole: the store's stream is first retrieved into a staging file (a sealed stream opened
//! and authenticated on the way, a repository's blobs checked by their hashes); only when the
//! store's plugin exited 0 having written it all is the file fed to the target's `restore`.
//!
//! A piped restore (`store retrieve | target restore`) cannot promise that: a target such as
//! tar or psql applies what it reads as it reads it, so a stream damaged half-way has already
//! overwritten half the target when the damage shows. The price is disk space for one archive
//! and a second pass over it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bulwark_plugin::Action;

use crate::codec;
use crate::exec::{kill_group, read_bounded};
use crate::pipeline::{
    Failure, Limits, MAX_STDOUT, PipelineError, Proc, Pumped, Role, Side, blocking, pump, start,
    tail_of, widen,
};
use crate::stderr::LogSink;

fn failed(failure: Failure) -> PipelineError {
    PipelineError {
        failure,
        stored: None,
    }
}

/// Retrieves `key` from `store` into `file` (opening a sealed stream); returns the bytes written.
/// With `durable`, the file is synced to disk before this returns (a file that is kept); a
/// staging file read back at once needs no more than the page cache.
pub async fn retrieve_to(
    store: Side<'_>,
    key: &str,
    file: std::fs::File,
    durable: bool,
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
    let mut prod = start(&producer, log).await.map_err(failed)?;
    let pgid = prod.pgid;
    let Some(from) = prod.child.stdout.take() else {
        kill_group(pgid);
        return Err(failed(producer.fail("internal error: no stdout pipe")));
    };
    widen(&from);
    let from = match from.into_owned_fd().and_then(blocking) {
        Ok(f) => f,
        Err(e) => {
            kill_group(pgid);
            return Err(failed(
                producer.fail(format!("internal error: a pipe: {e}")),
            ));
        }
    };
    let counter = limits.progress.clone();
    let start_bytes = counter.load(Ordering::Relaxed);
    let c = counter.clone();
    let open = store.key.cloned();
    let mut pumping = tokio::task::spawn_blocking(move || match open {
        Some(k) => codec::open(from, file, &k, c).into(),
        None => pump(from, file, c, None),
    });
    let stopped = tokio::select! {
        p = &mut pumping => Ok(p),
        () = tokio::time::sleep(limits.timeout) => Err(Failure::TimedOut(limits.timeout)),
        () = limits.cancel.cancelled() => Err(Failure::Canceled),
    };
    if stopped.is_err() {
        kill_group(pgid);
    }
    let status = prod.child.wait().await;
    kill_group(pgid);
    crate::leftovers::kill_marked(&prod.run);
    let pumped = match stopped {
        Ok(p) => p.unwrap_or_else(|e| Pumped::ReadFailed(std::io::Error::other(e))),
        Err(f) => {
            let _ = pumping.await;
            return Err(failed(f));
        }
    };
    let tail = tail_of(&mut prod.stderr).await;
    let bytes = counter.load(Ordering::Relaxed) - start_bytes;
    let ok = matches!(&status, Ok(s) if s.success());
    match pumped {
        Pumped::Eof(file) if ok && bytes > 0 => {
            match if durable { file.sync_all() } else { Ok(()) } {
                Ok(()) => Ok(bytes),
                Err(e) => Err(failed(
                    producer.fail(format!("the staging file could not be written: {e}")),
                )),
            }
        }
        Pumped::Eof(_) if !ok => Err(failed(producer.failed_exit(&status, &tail))),
        Pumped::Eof(_) => Err(failed(
            producer.fail("it exited 0 but wrote nothing; the archive is empty"),
        )),
        Pumped::Corrupt(m) => Err(failed(producer.fail(m))),
        Pumped::ReadFailed(e) => Err(failed(
            producer.fail(format!("reading its output failed: {e}")),
        )),
        Pumped::ConsumerGone => Err(failed(
            producer.fail("the staging file could not be written (is its disk full?)"),
        )),
    }
}

/// Feeds `file` to `target`'s `restore`; returns the bytes it read.
pub async fn feed(
    file: std::fs::File,
    target: Side<'_>,
    limits: &Limits,
    log: &LogSink,
) -> Result<u64, PipelineError> {
    feed_to(file, target, Action::Restore, limits, log).await
}

/// Feeds `file` to `target`'s `action` (`restore`, or a drill's `verify`); returns the bytes it
/// read. The plugin must read it all.
pub async fn feed_to(
    file: std::fs::File,
    target: Side<'_>,
    action: Action,
    limits: &Limits,
    log: &LogSink,
) -> Result<u64, PipelineError> {
    let consumer = Proc {
        role: Role::Target,
        side: target,
        action,
        key: None,
        upload: None,
    };
    let mut cons = start(&consumer, log).await.map_err(failed)?;
    let pgid = cons.pgid;
    let (Some(to), Some(mut out)) = (cons.child.stdin.take(), cons.child.stdout.take()) else {
        kill_group(pgid);
        return Err(failed(
            consumer.fail("internal error: no stdin or stdout pipe"),
        ));
    };
    widen(&to);
    let to = match to.into_owned_fd().and_then(blocking) {
        Ok(t) => t,
        Err(e) => {
            kill_group(pgid);
            return Err(failed(
                consumer.fail(format!("internal error: a pipe: {e}")),
            ));
        }
    };
    let reader = tokio::spawn(async move { read_bounded(&mut out, MAX_STDOUT).await });
    let counter = Arc::new(AtomicU64::new(0));
    let c = counter.clone();
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let work = async {
        let pumped = tokio::task::spawn_blocking(move || pump(file, to, c, None))
            .await
            .unwrap_or_else(|e| Pumped::ReadFailed(std::io::Error::other(e)));
        let read_error = match pumped {
            Pumped::ReadFailed(e) => {
                kill_group(pgid);
                Some(e)
            }
            // Closing the pipe is the target's end of input.
            other => {
                drop(other);
                None
            }
        };
        (read_error, cons.child.wait().await)
    };
    let ended = tokio::select! {
        r = work => Ok(r),
        () = tokio::time::sleep(limits.timeout) => Err(Failure::TimedOut(limits.timeout)),
        () = limits.cancel.cancelled() => Err(Failure::Canceled),
    };
    if ended.is_err() {
        // Asked to stop, with the grace to clean up after itself (an unlock).
        crate::exec::stop_group(pgid, &mut cons.child).await;
    }
    kill_group(pgid);
    let _ = cons.child.wait().await;
    crate::leftovers::kill_marked(&cons.run);
    reader.abort();
    let (read_error, status) = ended.map_err(failed)?;
    let bytes = counter.load(Ordering::Relaxed);
    if let Some(e) = read_error {
        return Err(failed(
            consumer.fail(format!("reading the staging file failed: {e}")),
        ));
    }
    let tail = tail_of(&mut cons.stderr).await;
    if !matches!(&status, Ok(s) if s.success()) {
        return Err(failed(consumer.failed_exit(&status, &tail)));
    }
    if bytes < total {
        return Err(failed(consumer.fail(format!(
            "it exited 0 but stopped reading its input after {bytes} of {total} bytes"
        ))));
    }
    Ok(bytes)
}
