//! Retention rules through the daemon: policies with rules, previews, what a policy change
//! would purge, min_good holding the last archive, and two simulated years of daily backups
//! under "7 daily, 4 weekly, 12 monthly, 2 yearly" with the daemon's clock read from a file.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bulwark_core::retention::{Item, Rules, decide};
use bulwark_testkit::TestDaemon;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::cli::cli;
use crate::common::{assert_error, bin};
use crate::engine::{backup_archive, engine_daemon, finished, run_job, wire};

/// Sessions that outlive two simulated years.
pub(crate) const LONG_SESSIONS: &str = "[auth]\nsession_idle = 315360000\nsession_max = 315360000";

fn valid(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "valid")
        .map(|a| a["uuid"].as_str().unwrap().to_string())
        .collect()
}

async fn archives(d: &TestDaemon, target: &str) -> Value {
    d.get_ok(&format!("/v1/archives?target={target}"))
        .await
        .unwrap()
}

/// Waits until no purge is pending or running.
async fn purges_done(d: &TestDaemon) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tasks = d.get_ok("/v1/tasks?limit=50").await.unwrap();
        let busy = tasks.as_array().unwrap().iter().any(|t| {
            t["type"] == "purge" && (t["status"] == "pending" || t["status"] == "running")
        });
        if !busy {
            return;
        }
        assert!(Instant::now() < deadline, "purges never ended: {tasks}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn policies_take_rules_and_refuse_what_keeps_nothing() {
    let d = engine_daemon("").await;
    let id = d
        .create(
            "/v1/retention",
            &json!({"name": "gfs", "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}),
        )
        .await
        .unwrap();
    let r = d.get_ok(&format!("/v1/retention/{id}")).await.unwrap();
    assert_eq!(r["expires"], Value::Null);
    assert_eq!(r["keep_daily"], 7);
    assert_eq!(r["min_good"], 1, "the guard is on by default");
    assert_eq!(r["rules"], "7 daily, 4 weekly, 12 monthly, at least 1 left");
    for (body, needle) in [
        (json!({"name": "none"}), "needs expires or a keep_* rule"),
        (
            json!({"name": "zero", "keep_daily": 0}),
            "needs expires or a keep_* rule",
        ),
        (
            json!({"name": "big", "keep_last": 100_001}),
            "keep_last must be 0 to 100000",
        ),
        (
            json!({"name": "w", "keep_within": 0}),
            "keep_within must be 1",
        ),
        (
            json!({"name": "m", "expires": 3600, "min_good": 1001}),
            "min_good must be 0 to 1000",
        ),
        (
            json!({"name": "e", "expires": 5}),
            "expires must be at least",
        ),
        (json!({"name": "n", "keep_daily": -1}), "keep_daily"),
    ] {
        assert_error(d.post("/v1/retention", &body).await.unwrap(), 400, needle);
    }
    // A PUT replaces the rules: here by an expiry alone.
    let (s, b) = d
        .put(
            &format!("/v1/retention/{id}"),
            &json!({"name": "gfs", "summary": "", "expires": 86400}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let r = d.get_ok(&format!("/v1/retention/{id}")).await.unwrap();
    assert_eq!(
        (r["expires"].clone(), r["keep_daily"].clone()),
        (json!(86400), Value::Null)
    );
    // The CLI speaks restic's flags.
    let (code, out, err) = cli(
        &d,
        &[
            "create",
            "retention",
            "policy",
            "--name",
            "cli",
            "--keep-daily",
            "7",
            "--keep-within",
            "2d",
            "--min-good",
            "2",
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    let (_, shown, _) = cli(&d, &["--json", "show", "retention", "cli"]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        (
            &shown["keep_daily"],
            &shown["keep_within"],
            &shown["min_good"],
            &shown["expires"]
        ),
        (&json!(7), &json!(172_800), &json!(2), &Value::Null)
    );
    let (code, _, err) = cli(
        &d,
        &[
            "edit",
            "retention",
            "cli",
            "--keep-within",
            "none",
            "--keep-weekly",
            "4",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (_, shown, _) = cli(&d, &["--json", "show", "retention", "cli"]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        (
            &shown["keep_daily"],
            &shown["keep_weekly"],
            &shown["keep_within"]
        ),
        (&json!(7), &json!(4), &Value::Null),
        "an edit changes only what its flags say"
    );
}

#[tokio::test]
async fn previews_say_what_goes_and_min_good_holds_the_last_archive() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    // Sweeps only when asked, so the test decides when.
    let d = engine_daemon("[retention]\nminimum_expiry = 1\nsweep_interval = 3600").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("store")})),
        1,
    )
    .await;
    // The job's policy keeps every archive for a second and has no guard (wire's); give it
    // one that has.
    let guarded = d
        .create(
            "/v1/retention",
            &json!({"name": "1s guarded", "expires": 1}),
        )
        .await
        .unwrap();
    let last_two = d
        .create("/v1/retention", &json!({"name": "last 2", "keep_last": 2}))
        .await
        .unwrap();
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(backup_archive(&d, &w.job).await["uuid"].clone());
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // What "last 2" would do: the oldest goes.
    let p = d
        .get_ok(&format!("/v1/retention/{last_two}/preview?job={}", w.job))
        .await
        .unwrap();
    assert_eq!(
        (p["keep"].clone(), p["purge"].clone()),
        (json!(2), json!(1)),
        "{p}"
    );
    let actions: Vec<&str> = p["archives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["keep", "keep", "purge"], "newest first: {p}");
    assert_eq!(p["archives"][0]["kept_by"], json!(["keep_last"]));
    assert_eq!(p["archives"][0]["expires_at"], Value::Null);
    assert_eq!(p["archives"][2]["uuid"], made[0]);
    // The same rules, unsaved.
    let unsaved = d
        .post_ok(
            &format!("/v1/retention/preview?job={}", w.job),
            &json!({"name": "draft", "keep_last": 2}),
        )
        .await
        .unwrap();
    assert_eq!(unsaved["archives"], p["archives"]);
    assert_error(
        d.post(
            &format!("/v1/retention/preview?job={}", w.job),
            &json!({"name": "draft"}),
        )
        .await
        .unwrap(),
        400,
        "needs expires",
    );
    assert_error(
        d.get(&format!(
            "/v1/retention/{last_two}/preview?job=00000000-0000-4000-8000-000000000000"
        ))
        .await
        .unwrap(),
        404,
        "job",
    );
    // Previewing changed nothing.
    assert_eq!(valid(&archives(&d, &w.target).await).len(), 3);

    // Moving the job to the guarded 1 s policy: the answer names the two that go.
    let job = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    let (s, answer) = d
        .put(
            &format!("/v1/job/{}", w.job),
            &json!({"name": job["name"], "summary": "", "store": w.store, "target": w.target,
                    "schedule": job["schedule_uuid"], "retention": guarded}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{answer}");
    let would: BTreeSet<String> = answer["would_purge"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        would,
        BTreeSet::from([
            made[0].as_str().unwrap().to_string(),
            made[1].as_str().unwrap().to_string()
        ])
    );
    assert!(
        answer["warning"]
            .as_str()
            .unwrap()
            .contains("purges 2 of the job's 3"),
        "{answer}"
    );
    // Every archive is past its second; min_good keeps the newest, and it says so.
    let (code, out, err) = cli(&d, &["retention", "sweep"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queued 2 purges"), "{out}");
    purges_done(&d).await;
    let list = archives(&d, &w.target).await;
    assert_eq!(
        valid(&list),
        BTreeSet::from([made[2].as_str().unwrap().to_string()])
    );
    let newest = &list.as_array().unwrap()[0];
    assert_eq!(newest["kept_by"], json!(["min_good"]));
    assert_eq!(newest["expires_at"], Value::Null);
    assert_eq!(newest["job_uuid"], w.job.as_str());
    // Backups failing for days leave it alone: a failed run makes no archive, and sweeps pass.
    std::fs::remove_dir_all(&src).unwrap();
    let t = finished(&d, &run_job(&d, &w.job).await).await;
    assert_eq!(t["status"], "failed");
    assert_eq!(
        d.post_ok("/v1/retention/sweep", &json!({})).await.unwrap()["purges"],
        0
    );
    assert_eq!(valid(&archives(&d, &w.target).await).len(), 1);
    // The CLI preview says the same.
    let (code, out, err) = cli(&d, &["retention", "preview", "1s guarded", "--job", &w.job]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("keeps 1, purges 0") && out.contains("min_good"),
        "{out}"
    );
}

/// Runs a backup that must succeed, looking often, and returns its archive.
async fn quick_backup(d: &TestDaemon, job: &str) -> Value {
    let task = run_job(d, job).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = d.get_ok(&format!("/v1/task/{task}")).await.unwrap();
        match t["status"].as_str().unwrap() {
            "done" => {
                let a = t["archive_uuid"].as_str().unwrap();
                return d.get_ok(&format!("/v1/archive/{a}")).await.unwrap();
            }
            "pending" | "running" => {}
            _ => panic!("the backup did not succeed: {t}"),
        }
        assert!(Instant::now() < deadline, "never ended: {t}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Days from the start when no backup runs (a week of outage, a long weekend), and days with
/// two backups.
fn plan(day: i64) -> Vec<i64> {
    if (200..207).contains(&day) || day % 97 == 3 {
        vec![]
    } else if day % 11 == 0 {
        vec![3 * 3600, 15 * 3600 + 1800]
    } else {
        vec![2 * 3600 + 60 * (day % 45)]
    }
}

#[tokio::test]
async fn two_simulated_years_leave_exactly_what_the_rules_keep() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "a small file").unwrap();
    let clock = work.path().join("clock");
    // 2025-01-01 is a Wednesday: weeks, months and a year's end all fall inside.
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let set = |t: i64| std::fs::write(&clock, t.to_string()).unwrap();
    set(start);
    let d = TestDaemon::start_with(
        bin(),
        &format!(
            "[testing]\nclock_file = \"{}\"\n[retention]\nsweep_interval = 3600\n{LONG_SESSIONS}",
            clock.display()
        ),
    )
    .await
    .unwrap();
    assert!(d.log().contains("testing.clock_file"), "the daemon warns");
    let rules = Rules {
        keep_daily: Some(7),
        keep_weekly: Some(4),
        keep_monthly: Some(12),
        keep_yearly: Some(2),
        min_good: 1,
        ..Rules::default()
    };
    let policy = d
        .create(
            "/v1/retention",
            &json!({"name": "gfs", "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12, "keep_yearly": 2}),
        )
        .await
        .unwrap();
    let w = crate::engine::wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("store")})),
        86_400,
    )
    .await;
    // Runs are started here, not by the schedule.
    d.post_ok(&format!("/v1/job/{}/pause", w.job), &json!({}))
        .await
        .unwrap();
    let job = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    let (s, b) = d
        .put(
            &format!("/v1/job/{}", w.job),
            &json!({"name": job["name"], "summary": "", "store": w.store, "target": w.target,
                    "schedule": job["schedule_uuid"], "retention": policy}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");

    let mut taken: Vec<(String, i64)> = Vec::new();
    let mut purged_by_sweeps = 0;
    for day in 0..730 {
        for offset in plan(day) {
            let t = start + day * 86_400 + offset;
            set(t);
            let a = quick_backup(&d, &w.job).await;
            assert_eq!(
                a["taken_at"],
                bulwark_core::timefmt::format_epoch(t),
                "the archive is taken at the daemon's time"
            );
            taken.push((a["uuid"].as_str().unwrap().to_string(), t));
        }
        set(start + day * 86_400 + 23 * 3600);
        // What the preview says goes is exactly what the sweep purges.
        let p = d
            .get_ok(&format!("/v1/retention/{policy}/preview?job={}", w.job))
            .await
            .unwrap();
        let before = valid(&archives(&d, &w.target).await);
        let going: BTreeSet<String> = p["archives"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["action"] == "purge")
            .map(|a| a["uuid"].as_str().unwrap().to_string())
            .collect();
        let queued = d.post_ok("/v1/retention/sweep", &json!({})).await.unwrap()["purges"]
            .as_u64()
            .unwrap();
        assert_eq!(queued as usize, going.len(), "day {day}: {p}");
        if queued > 0 {
            purges_done(&d).await;
        }
        purged_by_sweeps += queued;
        let after = valid(&archives(&d, &w.target).await);
        assert_eq!(
            before.difference(&after).cloned().collect::<BTreeSet<_>>(),
            going,
            "day {day}: the sweep purged what the preview said, and nothing else"
        );
    }
    // Decided from the whole history at the end: exactly those are left.
    let now = Utc
        .timestamp_opt(start + 729 * 86_400 + 23 * 3600, 0)
        .unwrap();
    let items: Vec<Item<String>> = taken
        .iter()
        .map(|(id, t)| Item {
            id: id.clone(),
            taken_at: *t,
            pinned: false,
        })
        .collect();
    let want: BTreeSet<String> = decide(&items, &rules, now, chrono_tz::UTC)
        .into_iter()
        .filter(|v| v.keep())
        .map(|v| v.id)
        .collect();
    let left = valid(&archives(&d, &w.target).await);
    assert_eq!(left, want);
    // 7 days, 4 weeks, 12 months and 2 years overlap: between 12 and 25 archives.
    assert!((12..=25).contains(&left.len()), "{}", left.len());
    assert_eq!(purged_by_sweeps as usize, taken.len() - left.len());
    // The store holds the data of exactly those.
    let blobs = std::fs::read_dir(work.path().join("store"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(blobs, left.len());
}

#[tokio::test]
async fn archives_of_a_deleted_job_keep_the_policy_they_were_made_under() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let d = engine_daemon("[retention]\nsweep_interval = 3600").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("store")})),
        3600,
    )
    .await;
    let policy = d
        .create("/v1/retention", &json!({"name": "last 2", "keep_last": 2}))
        .await
        .unwrap();
    let job = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    let (s, b) = d
        .put(
            &format!("/v1/job/{}", w.job),
            &json!({"name": job["name"], "summary": "", "store": w.store, "target": w.target,
                    "schedule": job["schedule_uuid"], "retention": policy}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    for _ in 0..3 {
        backup_archive(&d, &w.job).await;
    }
    d.post_ok("/v1/retention/sweep", &json!({})).await.unwrap();
    purges_done(&d).await;
    assert_eq!(valid(&archives(&d, &w.target).await).len(), 2);
    // The job goes; the policy, now unused, is tightened to one archive.
    assert_eq!(
        d.delete(&format!("/v1/job/{}", w.job)).await.unwrap().0,
        200
    );
    let (s, b) = d
        .put(
            &format!("/v1/retention/{policy}"),
            &json!({"name": "last 1", "summary": "", "keep_last": 1}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    // The archives keep "last 2", as they were made under it.
    assert_eq!(
        d.post_ok("/v1/retention/sweep", &json!({})).await.unwrap()["purges"],
        0
    );
    let list = archives(&d, &w.target).await;
    assert_eq!(valid(&list).len(), 2);
    for a in list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "valid")
    {
        assert_eq!(a["kept_by"], json!(["keep_last"]), "{a}");
        assert_eq!(a["job_uuid"], Value::Null, "the job is gone");
    }
}
