//! Bulwark's retention rules against restic's own `forget --dry-run` (the installed restic, the
//! semantics its users know): a repository gets snapshots at irregular times (hours, days, gaps
//! of days, two in one minute, across months and a year's end), and for each policy the
//! snapshots restic keeps are exactly the archives `bulwark_core::retention::decide` keeps.

use std::process::Command;

use bulwark_core::retention::{Item, Rules, decide};
use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::servers::have;

/// Snapshot times: hourly for two days, daily for three weeks, a gap, weekly for months, two in
/// one minute, across a year's end.
fn times() -> Vec<i64> {
    let start = Utc
        .with_ymd_and_hms(2025, 10, 1, 3, 0, 0)
        .unwrap()
        .timestamp();
    let mut t = Vec::new();
    let mut at = start;
    for _ in 0..8 {
        at += 7 * 86_400 + 3600;
        t.push(at);
    }
    at += 20 * 86_400;
    for _ in 0..21 {
        at += 86_400 - 600;
        t.push(at);
    }
    t.push(at + 30);
    for _ in 0..30 {
        at += 3600 + 17;
        t.push(at);
    }
    t
}

fn restic(repo: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("restic")
        .arg("--repo")
        .arg(repo)
        .arg("--no-cache")
        .args(args)
        .env("RESTIC_PASSWORD", "retention test")
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_rules_keep_what_restic_forget_keeps() {
    if !have("restic", "restic") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), b"x").unwrap();
    assert!(restic(&repo, &["init"]).status.success());
    let times = times();
    for t in &times {
        let when = Utc
            .timestamp_opt(*t, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let out = restic(
            &repo,
            &[
                "backup",
                "--quiet",
                "--time",
                &when,
                "--host",
                "h",
                data.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let policies: Vec<(Vec<&str>, Rules)> = vec![
        (
            vec!["--keep-daily", "7"],
            Rules {
                keep_daily: Some(7),
                ..Rules::default()
            },
        ),
        (
            vec!["--keep-last", "3", "--keep-hourly", "5"],
            Rules {
                keep_last: Some(3),
                keep_hourly: Some(5),
                ..Rules::default()
            },
        ),
        (
            vec![
                "--keep-daily",
                "7",
                "--keep-weekly",
                "4",
                "--keep-monthly",
                "12",
                "--keep-yearly",
                "2",
            ],
            Rules {
                keep_daily: Some(7),
                keep_weekly: Some(4),
                keep_monthly: Some(12),
                keep_yearly: Some(2),
                ..Rules::default()
            },
        ),
        (
            vec!["--keep-weekly", "50"],
            Rules {
                keep_weekly: Some(50),
                ..Rules::default()
            },
        ),
        (
            vec!["--keep-within", "3d"],
            Rules {
                keep_within: Some(3 * 86_400),
                ..Rules::default()
            },
        ),
    ];
    let items: Vec<Item<i64>> = times
        .iter()
        .map(|t| Item {
            id: *t,
            taken_at: *t,
            pinned: false,
        })
        .collect();
    let now = Utc.timestamp_opt(times[times.len() - 1] + 3600, 0).unwrap();
    for (args, rules) in policies {
        let mut a = vec!["forget", "--dry-run", "--json"];
        a.extend(&args);
        let out = restic(&repo, &a);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let groups: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut theirs: Vec<i64> = groups[0]["keep"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                chrono::DateTime::parse_from_rfc3339(s["time"].as_str().unwrap())
                    .unwrap()
                    .timestamp()
            })
            .collect();
        theirs.sort_unstable();
        let mut ours: Vec<i64> = decide(&items, &rules, now, chrono_tz::UTC)
            .into_iter()
            .filter(|v| v.keep())
            .map(|v| v.id)
            .collect();
        ours.sort_unstable();
        assert_eq!(ours, theirs, "{args:?}");
        assert!(
            ours.len() < times.len(),
            "{args:?} keeps everything; the case proves nothing"
        );
    }
}
