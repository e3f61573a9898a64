//! How pages say times, ages, sizes and states.

use chrono::{DateTime, NaiveDateTime, Utc};

/// A time as the API writes it ("2026-12-02 11:00:00", UTC).
pub fn parse(t: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

/// "3 h", "2 days", "45 s".
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=89 => format!("{s} s"),
        90..=5399 => format!("{} min", (s + 30) / 60),
        5400..=172_799 => format!("{} h", (s + 1800) / 3600),
        _ => format!("{} days", (s + 43_200) / 86_400),
    }
}

/// "3 h ago" for an API time, measured at `now`; "" for none.
pub fn ago(t: Option<&str>, now: DateTime<Utc>) -> String {
    t.and_then(parse)
        .map(|t| format!("{} ago", span((now - t).num_seconds())))
        .unwrap_or_default()
}

/// "in 3 h" for a future API time.
pub fn until(t: Option<&str>, now: DateTime<Utc>) -> String {
    t.and_then(parse)
        .map(|t| {
            let d = (t - now).num_seconds();
            if d <= 0 {
                "due now".to_string()
            } else {
                format!("in {}", span(d))
            }
        })
        .unwrap_or_default()
}

/// "48.1 MiB".
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// A state as a word, with the icon and the colour class that go with it.
#[derive(Debug, Clone)]
pub struct Badge {
    /// The word ("Failing").
    pub word: String,
    /// A glyph that says it without colour.
    pub icon: &'static str,
    /// `ok`, `warn`, `bad`, `busy` or `idle`.
    pub tone: &'static str,
}

/// The badge of a job's health or a task's or archive's status.
pub fn badge(state: &str) -> Badge {
    let (icon, tone) = match state {
        "ok" | "done" | "valid" | "passed" => ("✓", "ok"),
        "late" | "never" | "canceled" | "purging" | "unverified" | "retrying" => ("!", "warn"),
        "failing" | "failed" => ("✗", "bad"),
        "running" => ("▶", "busy"),
        "pending" => ("…", "busy"),
        _ => ("–", "idle"),
    };
    let mut word = state.replace('_', " ");
    if let Some(first) = word.get(..1) {
        word = first.to_uppercase() + word.get(1..).unwrap_or_default();
    }
    Badge { word, icon, tone }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes_read_as_people_say_them() {
        let now = parse("2026-12-02 12:00:00").unwrap_or_default();
        assert_eq!(ago(Some("2026-12-02 09:00:00"), now), "3 h ago");
        assert_eq!(ago(Some("2026-11-29 12:00:00"), now), "3 days ago");
        assert_eq!(until(Some("2026-12-02 12:10:00"), now), "in 10 min");
        assert_eq!(ago(None, now), "");
        assert_eq!(bytes(50_435_456), "48.1 MiB");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(badge("failing").word, "Failing");
        assert_eq!(badge("failing").tone, "bad");
    }
}
