//! Reading a plugin store's blob back to check it: the store's `retrieve --key` streamed to its
//! end and, for a sealed blob, opened with the store's key (age authenticates every chunk, zstd
//! checks its frames), so a missing, altered or truncated blob is found without restoring it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bulwark_plugin::Action;

use crate::exec::kill_group;
use crate::pipeline::{Limits, Side};
use crate::stderr::StderrLog;

/// What reading a blob back found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It was read to its end (and opened, when sealed): this many plain bytes.
    Sound(u64),
    /// The store could not give it (the key is unknown to it, the store failed).
    Missing(String),
    /// It came back, but it is not what was stored.
    Damaged(String),
}

/// Reads the blob under `key` back from `store` and checks it. Only a timeout or a cancel is an
/// `Err`: the check as a whole cannot go on.
pub async fn verify_blob(store: Side<'_>, key: &str, limits: &Limits) -> Result<Verdict, String> {
    let mut cmd = store
        .plugin
        .command(Action::Retrieve, store.endpoint, Some(key));
    for (k, v) in store.env {
        cmd.env(k, v);
    }
    let (mut child, run) = match crate::exec::spawn(&mut cmd).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(Verdict::Missing(format!(
                "the store plugin could not be started: {e}"
            )));
        }
    };
    let pgid = child.id();
    drop(child.stdin.take());
    let secrets = store.secrets.to_vec();
    let stderr = child
        .stderr
        .take()
        .map(|e| tokio::spawn(async move { StderrLog::capture(e, &secrets).await }));
    let Some(out) = child.stdout.take() else {
        kill_group(pgid);
        return Ok(Verdict::Missing("no output pipe".into()));
    };
    let read = async {
        let fd = out.into_owned_fd().map_err(|e| e.to_string())?;
        let from = crate::pipeline::blocking_file(fd).map_err(|e| e.to_string())?;
        let sink = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map_err(|e| e.to_string())?;
        let counter = Arc::new(AtomicU64::new(0));
        let c = counter.clone();
        // What the store sent, before any opening: nothing at all is a blob it does not have.
        let raw = Arc::new(AtomicU64::new(0));
        let from = RawCount {
            inner: from,
            count: raw.clone(),
        };
        let key = store.key.cloned();
        let verdict = tokio::task::spawn_blocking(move || match key {
            Some(k) => match crate::codec::open(from, sink, &k, c) {
                crate::codec::Coded::Done(_) => None,
                crate::codec::Coded::Corrupt(m) => Some(m),
                crate::codec::Coded::ReadFailed(e) => Some(format!("reading it failed: {e}")),
                crate::codec::Coded::ConsumerGone => Some("it could not be read to its end".into()),
            },
            None => {
                let mut from = from;
                let mut counted = CountingSink(c);
                std::io::copy(&mut from, &mut counted)
                    .err()
                    .map(|e| format!("reading it failed: {e}"))
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok::<_, String>((
            verdict,
            counter.load(Ordering::Relaxed),
            raw.load(Ordering::Relaxed),
        ))
    };
    let ended = tokio::select! {
        r = read => Ok(r),
        () = tokio::time::sleep(limits.timeout) => Err(format!("the check did not finish within {}s", limits.timeout.as_secs())),
        () = limits.cancel.cancelled() => Err("the check was canceled".to_string()),
    };
    kill_group(pgid);
    let status = child.wait().await;
    crate::leftovers::kill_marked(&run);
    let said = match stderr {
        Some(h) => h.await.map(|l| l.text).unwrap_or_default(),
        None => String::new(),
    };
    let (damage, bytes, raw) = ended??;
    let exit_ok = matches!(&status, Ok(s) if s.success());
    let said = said.lines().last().unwrap_or_default().to_string();
    let missing = || {
        let how = crate::pipeline::exit_how(&status);
        Verdict::Missing(if said.is_empty() {
            how
        } else {
            format!("{how}: {said}")
        })
    };
    Ok(match (exit_ok, damage) {
        // Nothing came back: the store does not have it.
        (false, _) if raw == 0 => missing(),
        // What came back is wrong (and the plugin may have failed only because the reading
        // stopped there).
        (_, Some(m)) => Verdict::Damaged(m),
        (false, None) => missing(),
        (true, None) => Verdict::Sound(bytes),
    })
}

/// Counts what is read through it.
struct RawCount<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for RawCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Counts what is written to it, and keeps nothing.
struct CountingSink(Arc<AtomicU64>);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
