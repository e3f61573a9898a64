//! Capturing a plugin's stderr for the task log.

use std::sync::atomic::{AtomicU64, Ordering};

use bulwark_core::redact::is_secret_key;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of a plugin's stderr a task log keeps; the rest is counted and dropped.
pub const MAX_KEPT: usize = 1 << 20;

/// The values of an endpoint's secret keys (and of `extra` keys), longest first, so they can be
/// hidden wherever a plugin prints them.
pub fn secret_values(endpoint: &str, extra: &[String]) -> Vec<String> {
    fn walk(v: &Value, extra: &[String], out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if is_secret_key(k) || extra.iter().any(|e| e == k) {
                        match v {
                            Value::String(s) if !s.is_empty() => out.push(s.clone()),
                            Value::Number(n) => out.push(n.to_string()),
                            _ => {}
                        }
                    } else {
                        walk(v, extra, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, extra, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(endpoint) {
        walk(&v, extra, &mut out);
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// A plugin's stderr as the task log keeps it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StderrLog {
    /// What was kept, secrets replaced by `<redacted>`.
    pub text: String,
    /// Bytes beyond [`MAX_KEPT`] that were read and dropped.
    pub dropped: u64,
}

impl StderrLog {
    /// Reads `stream` to its end in chunks, keeping at most [`MAX_KEPT`] bytes, and hides
    /// `secrets`. It never stops reading early, so the plugin never blocks on a full pipe.
    pub async fn capture(mut stream: impl AsyncRead + Unpin, secrets: &[String]) -> StderrLog {
        let mut kept = Vec::new();
        let mut dropped = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_KEPT.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&buf[..room]);
                    dropped += (n - room) as u64;
                }
            }
        }
        let text = bulwark_core::redact::hide_secrets(&String::from_utf8_lossy(&kept), secrets);
        StderrLog { text, dropped }
    }
}

/// Where a task's log lines go while it runs: one line per message, without the newline.
pub type LogSink = tokio::sync::mpsc::UnboundedSender<String>;

/// The end of a plugin's stderr, for the one-line reason of a failure.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tail {
    /// The last non-empty lines (at most [`TAIL_LINES`]), secrets hidden.
    pub lines: Vec<String>,
}

/// How many lines a [`Tail`] keeps.
pub const TAIL_LINES: usize = 3;

/// How many bytes of each line a [`Tail`] keeps.
const TAIL_WIDTH: usize = 300;

/// Lines longer than this are cut into pieces of this size.
const MAX_LINE: usize = 64 * 1024;

impl Tail {
    /// The kept lines joined with " / ", or "" when the plugin printed nothing.
    pub fn summary(&self) -> String {
        self.lines.join(" / ")
    }
}

/// Reads `stream` to its end and sends each line, prefixed with `label` and with secrets
/// hidden, to `sink` as it arrives, so a task log grows while the task runs. At most
/// [`MAX_KEPT`] bytes are forwarded; the rest is counted and reported in one last line. It never
/// stops reading early, so the plugin never blocks on a full pipe.
///
/// A `bulwark-progress: BYTES` line (see [`bulwark_plugin::PROGRESS_PREFIX`]) is not logged; its
/// count goes to `progress`, when there is one.
pub async fn stream_lines(
    mut stream: impl AsyncRead + Unpin,
    label: &str,
    secrets: &[String],
    sink: &LogSink,
    progress: Option<&AtomicU64>,
) -> Tail {
    let mut tail = Tail::default();
    // A plugin that starts its lines with its own name (`postgres: ...`), as many do.
    let own = format!("{}: ", label.rsplit(' ').next().unwrap_or(label));
    let mut pending: Vec<u8> = Vec::new();
    let mut sent = 0usize;
    let mut dropped = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let emit = |line: &[u8], tail: &mut Tail, sent: &mut usize, dropped: &mut u64| {
        let mut text = String::from_utf8_lossy(line).trim_end().to_string();
        if let Some(bytes) = bulwark_plugin::progress_line(&text) {
            if let Some(p) = progress {
                p.store(bytes, Ordering::Relaxed);
            }
            return;
        }
        text = bulwark_core::redact::hide_secrets(&text, secrets);
        if !text.is_empty() {
            if tail.lines.len() == TAIL_LINES {
                tail.lines.remove(0);
            }
            let mut short = text.clone();
            if short.len() > TAIL_WIDTH {
                let mut cut = TAIL_WIDTH;
                while !short.is_char_boundary(cut) {
                    cut -= 1;
                }
                short.truncate(cut);
                short.push('…');
            }
            tail.lines.push(short);
        }
        if *sent + line.len() > MAX_KEPT {
            *dropped += line.len() as u64;
            return;
        }
        *sent += line.len();
        // "target postgres: postgres: cannot reach ..." says the name twice.
        let shown = text.strip_prefix(&own).unwrap_or(&text);
        let _ = sink.send(format!("{label}: {shown}"));
    };
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            emit(&line, &mut tail, &mut sent, &mut dropped);
        }
        while pending.len() >= MAX_LINE {
            let piece: Vec<u8> = pending.drain(..MAX_LINE).collect();
            emit(&piece, &mut tail, &mut sent, &mut dropped);
        }
    }
    if !pending.is_empty() {
        emit(&pending, &mut tail, &mut sent, &mut dropped);
    }
    if dropped > 0 {
        let _ = sink.send(format!(
            "{label}: ({dropped} more bytes of output were not kept)"
        ));
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secret_values() {
        let ep = r#"{"host":"db","password":"hunter2","nested":{"api_token":"tok"},"pin":{"secret":1234}}"#;
        let s = secret_values(ep, &[]);
        assert_eq!(s, vec!["hunter2".to_string(), "1234".into(), "tok".into()]);
        assert_eq!(
            secret_values(r#"{"key":"AKIA"}"#, &["key".into()]),
            vec!["AKIA".to_string()]
        );
        assert!(secret_values("not json", &[]).is_empty());
    }

    #[tokio::test]
    async fn streams_lines_with_a_label_and_a_tail() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut data = b"one\npassword hunter2\n\nlast".to_vec();
        data.extend(std::iter::repeat_n(b'y', 2 * MAX_KEPT));
        let tail = stream_lines(&data[..], "store", &["hunter2".to_string()], &tx, None).await;
        drop(tx);
        let mut lines = Vec::new();
        while let Some(l) = rx.recv().await {
            lines.push(l);
        }
        assert_eq!(lines[0], "store: one");
        assert_eq!(lines[1], "store: password <redacted>");
        assert!(
            lines
                .last()
                .unwrap()
                .contains("more bytes of output were not kept")
        );
        assert!(lines.iter().map(String::len).sum::<usize>() < MAX_KEPT + 64 * 1024);
        assert_eq!(tail.lines.len(), TAIL_LINES);
        assert!(tail.lines.iter().all(|l| l.len() <= TAIL_WIDTH + 3));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let tail = stream_lines(
            &b"a\nsecret: hunter2\n"[..],
            "x",
            &["hunter2".into()],
            &tx,
            None,
        )
        .await;
        assert_eq!(tail.summary(), "a / secret: <redacted>");
    }

    #[tokio::test]
    async fn captures_long_output_and_hides_secrets() {
        let mut data = b"connecting with password hunter2\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 3 * MAX_KEPT));
        let log = StderrLog::capture(&data[..], &["hunter2".to_string()]).await;
        assert!(
            log.text
                .starts_with("connecting with password <redacted>\n")
        );
        assert!(!log.text.contains("hunter2"));
        assert_eq!(
            log.text.len() + log.dropped as usize - "<redacted>".len() + "hunter2".len(),
            data.len()
        );
    }

    #[tokio::test]
    async fn progress_lines_count_and_stay_out_of_the_log() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let data =
            b"start\nbulwark-progress: 1000\nbulwark-progress: 52000\nbulwark-progress: x\ndone\n";
        let counter = AtomicU64::new(0);
        let tail = stream_lines(&data[..], "store", &[], &tx, Some(&counter)).await;
        drop(tx);
        let mut lines = Vec::new();
        while let Some(l) = rx.recv().await {
            lines.push(l);
        }
        assert_eq!(counter.load(Ordering::Relaxed), 52000);
        // A malformed one is an ordinary line.
        assert_eq!(
            lines,
            ["store: start", "store: bulwark-progress: x", "store: done"]
        );
        assert_eq!(tail.summary(), "start / bulwark-progress: x / done");
    }
}
