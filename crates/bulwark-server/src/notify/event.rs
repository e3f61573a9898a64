//! The events channels can be told of, and the document each is sent as.

use serde::Serialize;
use uuid::Uuid;

use bulwark_catalog::Notice;
use bulwark_core::ids::JobId;
use bulwark_core::timefmt::format_epoch;

/// Something worth telling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A backup failed (not one canceled by request).
    BackupFailed,
    /// A job's newest good archive became older than its RPO.
    JobLate,
    /// A backup succeeded after its job was announced failing or late.
    JobRecovered,
    /// A restore finished.
    RestoreDone,
    /// A restore failed.
    RestoreFailed,
    /// A store's check found damage or could not run.
    CheckFailed,
    /// A restore drill failed: the archive could not be restored, or what came back is not
    /// what was backed up.
    DrillFailed,
    /// A copy of an archive into a job's further store failed, and will not be retried.
    CopyFailed,
    /// A test send, asked for by a person.
    Test,
}

impl Event {
    /// The events a channel can choose (a test goes to the channel asked, whatever it chose).
    pub const CHOOSABLE: [Event; 8] = [
        Event::BackupFailed,
        Event::JobLate,
        Event::JobRecovered,
        Event::RestoreDone,
        Event::RestoreFailed,
        Event::CheckFailed,
        Event::DrillFailed,
        Event::CopyFailed,
    ];

    /// Its name in the API and in documents sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::BackupFailed => "backup_failed",
            Event::JobLate => "job_late",
            Event::JobRecovered => "job_recovered",
            Event::RestoreDone => "restore_done",
            Event::RestoreFailed => "restore_failed",
            Event::CheckFailed => "check_failed",
            Event::DrillFailed => "drill_failed",
            Event::CopyFailed => "copy_failed",
            Event::Test => "test",
        }
    }

    /// A choosable event by name.
    pub fn parse(s: &str) -> Option<Event> {
        Event::CHOOSABLE.into_iter().find(|e| e.as_str() == s)
    }

    /// What a channel gets when it names no events: everything that means trouble, and
    /// recoveries (not restores that went well).
    pub fn defaults() -> Vec<String> {
        [
            Event::BackupFailed,
            Event::JobLate,
            Event::JobRecovered,
            Event::RestoreFailed,
            Event::CheckFailed,
            Event::DrillFailed,
            Event::CopyFailed,
        ]
        .iter()
        .map(|e| e.as_str().to_string())
        .collect()
    }
}

/// A named object an event concerns.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Named {
    pub uuid: Uuid,
    pub name: String,
}

impl Named {
    /// `{uuid, name}`.
    pub fn of(uuid: Uuid, name: &str) -> Option<Named> {
        Some(Named {
            uuid,
            name: name.to_string(),
        })
    }
}

/// The document a channel is sent (a webhook's JSON body; an email is written from it).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Payload {
    /// The event's name.
    pub event: String,
    /// One sentence for people.
    pub summary: String,
    /// When it happened (UTC).
    pub at: String,
    pub job: Option<Named>,
    pub target: Option<Named>,
    pub store: Option<Named>,
    pub task: Option<Uuid>,
    pub archive: Option<Uuid>,
    /// Why it failed (the task's last line, secrets hidden).
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    /// The job's newest good archive, for `job_late` and `job_recovered`.
    pub last_success_at: Option<String>,
    /// The job's RPO in seconds, for `job_late`.
    pub rpo: Option<i64>,
}

impl Payload {
    /// A payload of `event` at `at` (Unix seconds), saying `summary`.
    pub fn new(event: Event, at: i64, summary: String) -> Payload {
        Payload {
            event: event.as_str().to_string(),
            summary,
            at: format_epoch(at),
            ..Payload::default()
        }
    }

    /// What the catalog queues.
    pub fn notice(&self) -> Notice {
        Notice {
            event: self.event.clone(),
            job: self.job.as_ref().map(|j| JobId(j.uuid)),
            task: self.task.map(bulwark_core::ids::TaskId),
            payload: serde_json::to_string(self).unwrap_or_default(),
        }
    }
}

/// An email's subject and plain-text body, from a payload document.
pub fn email_text(payload: &serde_json::Value) -> (String, String) {
    let field = |k: &str| payload[k].as_str().unwrap_or_default().to_string();
    let subject = format!("[Bulwark] {}", field("summary"));
    let mut body = format!("{}\n\n", field("summary"));
    for (label, key) in [
        ("Event", "event"),
        ("At", "at"),
        ("Error", "error"),
        ("Started", "started_at"),
        ("Stopped", "stopped_at"),
        ("Last good backup", "last_success_at"),
    ] {
        let v = field(key);
        if !v.is_empty() {
            body.push_str(&format!("{label}: {v}\n"));
        }
    }
    for (label, key) in [("Job", "job"), ("Target", "target"), ("Store", "store")] {
        if let Some(name) = payload[key]["name"].as_str() {
            let uuid = payload[key]["uuid"].as_str().unwrap_or_default();
            body.push_str(&format!("{label}: {name} ({uuid})\n"));
        }
    }
    for (label, key) in [("Task", "task"), ("Archive", "archive")] {
        if let Some(v) = payload[key].as_str() {
            body.push_str(&format!("{label}: {v}\n"));
        }
    }
    if let Some(rpo) = payload["rpo"].as_i64() {
        body.push_str(&format!("RPO: {rpo} seconds\n"));
    }
    body.push_str("\nSent by Bulwark. The same facts as JSON:\n");
    body.push_str(&serde_json::to_string_pretty(payload).unwrap_or_default());
    body.push('\n');
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choosable_event_parses_back_and_test_is_not_choosable() {
        for e in Event::CHOOSABLE {
            assert_eq!(Event::parse(e.as_str()), Some(e));
        }
        assert_eq!(Event::parse("test"), None);
        assert_eq!(Event::parse("backup-failed"), None);
        assert!(!Event::defaults().contains(&"restore_done".to_string()));
    }

    #[test]
    fn an_email_says_the_summary_and_the_facts() {
        let mut p = Payload::new(Event::BackupFailed, 0, "Backup of job 'db' failed.".into());
        p.error = Some("Failed: pg_dump exited 1.".into());
        p.job = Some(Named {
            uuid: Uuid::nil(),
            name: "db".into(),
        });
        let v = serde_json::to_value(&p).unwrap_or_default();
        let (subject, body) = email_text(&v);
        assert_eq!(subject, "[Bulwark] Backup of job 'db' failed.");
        assert!(
            body.contains("Error: Failed: pg_dump exited 1.\n"),
            "{body}"
        );
        assert!(body.contains("Job: db (00000000-0000-0000-0000-000000000000)\n"));
        assert!(body.contains("At: 1970-01-01"), "{body}");
    }
}
