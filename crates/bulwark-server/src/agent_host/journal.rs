//! A task's events on the agent, numbered and kept, so that a core whose link broke can read
//! them again from where it stopped. A dropped link is not a cancel: while no core reads a
//! running task's events, it goes on for the agent's `grace`; past that it is canceled (and
//! cleans up). A finished task's events are kept until the core acknowledges its end.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::wire::Event;

/// One task's journal.
pub(super) struct Journal {
    events: Mutex<Vec<Event>>,
    count: tokio::sync::watch::Sender<usize>,
    finished: AtomicBool,
    /// The core has its end: the journal can go.
    acked: AtomicBool,
    readers: AtomicUsize,
    /// Cancels the task.
    pub(super) cancel: CancellationToken,
}

impl Journal {
    pub(super) fn new() -> Arc<Journal> {
        Arc::new(Journal {
            events: Mutex::new(Vec::new()),
            count: tokio::sync::watch::channel(0).0,
            finished: AtomicBool::new(false),
            acked: AtomicBool::new(false),
            readers: AtomicUsize::new(0),
            cancel: CancellationToken::new(),
        })
    }

    fn events(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an event; `last` marks the task's end.
    pub(super) fn push(&self, event: Event, last: bool) {
        let n = {
            let mut events = self.events();
            events.push(event);
            events.len()
        };
        if last {
            self.finished.store(true, Ordering::SeqCst);
        }
        self.count.send_replace(n);
    }

    /// The events after the first `after`, as lines `[seq, event]`, waiting for new ones until
    /// the task's end. While the stream lives it counts as a reader.
    pub(super) fn read(
        self: &Arc<Journal>,
        after: usize,
    ) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        let reader = Reader::new(self.clone());
        let rx = self.count.subscribe();
        futures_util::stream::unfold((reader, after, rx), |(reader, next, mut rx)| async move {
            loop {
                let found = reader.0.events().get(next).cloned();
                if let Some(event) = found {
                    let mut line = serde_json::to_vec(&(next + 1, event)).unwrap_or_default();
                    line.push(b'\n');
                    return Some((Ok(Bytes::from(line)), (reader, next + 1, rx)));
                }
                if reader.0.finished.load(Ordering::SeqCst) {
                    return None;
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        })
    }

    /// The core says it has the task's end.
    pub(super) fn ack(&self) {
        self.acked.store(true, Ordering::SeqCst);
    }

    /// Cancels the task after `grace` without a reader while it runs. Returns (and the journal
    /// may go) once it has finished and the core acknowledged its end, or no reader has come
    /// for an hour (a core that wrote its end to the socket may still be waiting to read it).
    pub(super) async fn watch(&self, grace: Duration) {
        let step = Duration::from_millis(250);
        let keep = grace.max(Duration::from_secs(3600));
        let mut alone = Duration::ZERO;
        loop {
            tokio::time::sleep(step).await;
            if self.finished.load(Ordering::SeqCst) && self.acked.load(Ordering::SeqCst) {
                return;
            }
            if self.readers.load(Ordering::SeqCst) == 0 {
                alone += step;
            } else {
                alone = Duration::ZERO;
            }
            if self.finished.load(Ordering::SeqCst) {
                if alone >= keep {
                    return;
                }
                continue;
            }
            if alone < grace {
                continue;
            }
            if !self.cancel.is_cancelled() {
                tracing::warn!(
                    "No core has read this task's events for {}s; it is canceled.",
                    grace.as_secs()
                );
                self.cancel.cancel();
            }
        }
    }
}

/// Counts a reader while it lives.
struct Reader(Arc<Journal>);

impl Reader {
    fn new(j: Arc<Journal>) -> Reader {
        j.readers.fetch_add(1, Ordering::SeqCst);
        Reader(j)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.readers.fetch_sub(1, Ordering::SeqCst);
    }
}
