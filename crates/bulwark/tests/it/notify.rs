//! Notifications against real receivers: a webhook receiver that checks the signature itself,
//! and an SMTP server. A receiver that is down makes deliveries wait and retry, never a task;
//! a secret of an endpoint never reaches a notification.

use serde_json::{Value, json};

use crate::cli::fails;
use crate::engine::{engine_daemon, finished, run_job, wire};
use crate::receivers::{Smtp, Webhook, within};
use crate::servers::free_port;
use bulwark_testkit::TestDaemon;

const FAST: &str = "[notifications]\nretry_delay = 1\nlate_check_interval = 1\n";

/// Runs the CLI, which must succeed, and returns what it printed.
fn cli(d: &TestDaemon, args: &[&str]) -> String {
    let (code, out, err) = crate::cli::cli(d, args);
    assert_eq!(code, 0, "{args:?}: {out} {err}");
    out
}

/// Waits until the deliveries of `query` number `n`, and returns them.
async fn deliveries_when(d: &TestDaemon, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let list = deliveries(d, query).await;
        if list.len() == n {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "never {n} deliveries of {query}: {:?}",
        deliveries(d, query).await
    );
}

async fn deliveries(d: &TestDaemon, query: &str) -> Vec<Value> {
    d.get_ok(&format!("/v1/notifications/deliveries?{query}"))
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Replaces a target's endpoint (the rest as it is).
async fn set_endpoint(d: &TestDaemon, target: &str, endpoint: Value) {
    let t = d.get_ok(&format!("/v1/target/{target}")).await.unwrap();
    let body = json!({"name": t["name"], "summary": t["summary"], "plugin": t["plugin"],
        "endpoint": endpoint, "agent": t["agent"]});
    let (s, v) = d.put(&format!("/v1/target/{target}"), &body).await.unwrap();
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_webhook_is_told_signed_retried_and_never_holds_up_a_task() {
    let d = engine_daemon(FAST).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let password = "Sesame-7f3q-secret";
    let w = wire(
        &d,
        (
            "shtarget",
            json!({"base_dir": src, "mode": "leakfail", "password": password}),
        ),
        ("fs", json!({"base_dir": dir.path().join("store")})),
        3600,
    )
    .await;

    // Bad channels are refused and change nothing.
    let mut receiver = Webhook::on(free_port());
    for (bad, says) in [
        (
            json!({"name": "x", "kind": "webhook", "config": {"url": receiver.url()}, "events": ["backup_exploded"]}),
            "unknown event",
        ),
        (
            json!({"name": "x", "kind": "pager", "config": {}}),
            "webhook or email",
        ),
        (
            json!({"name": "x", "kind": "webhook", "config": {"url": "ftp://h/"}}),
            "http://",
        ),
        (
            json!({"name": "x", "kind": "webhook", "config": {"url": receiver.url(), "secret": "short"}}),
            "at least 16",
        ),
        (
            json!({"name": "x", "kind": "webhook", "config": {"url": receiver.url()}, "jobs": [uuid::Uuid::new_v4()]}),
            "does not exist",
        ),
    ] {
        crate::common::assert_error(d.post("/v1/notifications", &bad).await.unwrap(), 400, says);
    }
    assert_eq!(d.get_ok("/v1/notifications").await.unwrap(), json!([]));

    // The receiver is down when the channel is made and the backup fails.
    let made = d
        .post_ok(
            "/v1/notifications",
            &json!({"name": "ops", "kind": "webhook", "config": {"url": receiver.url()},
                    "events": ["backup_failed", "job_recovered", "job_late"], "jobs": [w.job]}),
        )
        .await
        .unwrap();
    let secret = made["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 16);
    let shown = d
        .get_ok(&format!(
            "/v1/notification/{}",
            made["uuid"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(shown["config"]["secret"], "<redacted>", "{shown}");
    let catalog = std::fs::read(d.data_dir().join("catalog.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&catalog).contains(&secret),
        "the secret is sealed"
    );

    let failed = finished(&d, &run_job(&d, &w.job).await).await;
    assert_eq!(failed["status"], "failed");
    let mut tried = Vec::new();
    for _ in 0..300 {
        tried = deliveries(&d, "status=pending").await;
        if tried
            .first()
            .is_some_and(|t| t["attempts"].as_i64() >= Some(1))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert_eq!(tried[0]["event"], "backup_failed");
    assert!(
        tried[0]["error"].as_str().unwrap().contains("connect"),
        "{}",
        tried[0]
    );
    assert!(tried[0]["next_attempt_at"].is_string());

    // A good backup is not held up by the receiver being down.
    set_endpoint(
        &d,
        &w.target,
        json!({"base_dir": src, "password": password}),
    )
    .await;
    let done = finished(&d, &run_job(&d, &w.job).await).await;
    assert_eq!(done["status"], "done", "{}", done["log"]);

    // The receiver comes up: both arrive, signed, in order of queueing.
    receiver.run(&secret);
    within("both deliveries sent", 60, || {
        receiver.received().len() >= 2
    })
    .await;
    let got = receiver.received();
    assert!(got.iter().all(|g| g["verified"] == true), "{got:?}");
    let events: Vec<&str> = got.iter().map(|g| g["event"].as_str().unwrap()).collect();
    assert!(
        events.contains(&"backup_failed") && events.contains(&"job_recovered"),
        "{events:?}"
    );
    let fail = got.iter().find(|g| g["event"] == "backup_failed").unwrap();
    let body = &fail["body"];
    assert_eq!(body["job"]["uuid"], w.job.as_str());
    assert_eq!(body["target"]["uuid"], w.target.as_str());
    assert_eq!(body["task"], failed["uuid"]);
    assert!(
        body["error"].as_str().unwrap().starts_with("Failed:"),
        "{body}"
    );
    assert!(body["started_at"].is_string() && body["stopped_at"].is_string());
    for g in &got {
        assert!(
            !g["body"].to_string().contains(password),
            "a secret was sent: {g}"
        );
    }
    let back = got.iter().find(|g| g["event"] == "job_recovered").unwrap();
    assert_eq!(back["body"]["archive"], done["archive_uuid"]);
    assert_eq!(back["body"]["task"], done["uuid"]);
    let sent = deliveries_when(&d, "status=sent", 2).await;
    assert!(
        sent.iter()
            .all(|s| s["attempts"].as_i64() >= Some(1) && s["sent_at"].is_string())
    );
    assert!(
        sent.iter().any(|s| s["attempts"].as_i64() >= Some(2)),
        "the failure was retried"
    );

    // A receiver with another secret refuses what is signed with ours.
    let other = d
        .post_ok(
            "/v1/notifications",
            &json!({"name": "wrong", "kind": "webhook",
                    "config": {"url": receiver.url(), "secret": "not-the-receivers-secret"}}),
        )
        .await
        .unwrap();
    let t = d
        .post_ok(
            &format!("/v1/notification/{}/test", other["uuid"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(t["status"], "failed", "{t}");
    assert!(t["error"].as_str().unwrap().contains("401"), "{t}");
    assert_eq!(receiver.received().last().unwrap()["verified"], false);

    // The CLI's test send, and the delivery list's filters.
    let out = cli(&d, &["notify", "test", "ops"]);
    assert!(out.contains("Sent a test"), "{out}");
    assert_eq!(receiver.received().last().unwrap()["event"], "test");
    assert_eq!(receiver.received().last().unwrap()["verified"], true);
    let err = fails(&d, &["notify", "test", "wrong"]);
    assert!(err.contains("401"), "{err}");
    let failed_list = deliveries(&d, "status=failed").await;
    assert!(failed_list.iter().all(|f| f["channel_name"] == "wrong") && !failed_list.is_empty());
    let of_ops = deliveries(&d, &format!("channel={}", made["uuid"].as_str().unwrap())).await;
    assert_eq!(of_ops.len(), 3, "two events and a test: {of_ops:?}");
    let listed = cli(&d, &["notify", "deliveries", "--channel", "ops"]);
    assert!(
        listed.contains("job_recovered") && listed.contains("sent"),
        "{listed}"
    );

    // Late: the newest good archive grows older than the job's RPO; told once.
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    let update = json!({"name": j["name"], "summary": "", "store": j["store_uuid"], "target": j["target_uuid"],
        "retention": j["retention_uuid"], "schedule": j["schedule_uuid"], "rpo": 3600});
    assert_eq!(
        d.put(&format!("/v1/job/{}", w.job), &update)
            .await
            .unwrap()
            .0,
        200
    );
    let db = rusqlite::Connection::open(d.data_dir().join("catalog.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute(
        "UPDATE tasks SET stopped_at = stopped_at - 7200 WHERE job_uuid = ?1",
        [&w.job],
    )
    .unwrap();
    within("a job_late notice", 30, || {
        receiver.received().iter().any(|g| g["event"] == "job_late")
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // (The channel 'wrong' wants every job's events too: its tries are refused and retried.)
    let late: Vec<Value> = receiver
        .received()
        .into_iter()
        .filter(|g| g["event"] == "job_late" && g["verified"] == true)
        .collect();
    assert_eq!(late.len(), 1, "told once: {late:?}");
    let queued = deliveries(&d, "event=job_late").await;
    assert_eq!(queued.len(), 2, "one per channel that wants it: {queued:?}");
    assert_eq!(late[0]["body"]["rpo"], 3600);
    assert!(late[0]["body"]["last_success_at"].is_string());

    // Disabled: nothing is queued for it.
    cli(&d, &["notify", "disable", "ops"]);
    set_endpoint(&d, &w.target, json!({"base_dir": src, "mode": "fail"})).await;
    finished(&d, &run_job(&d, &w.job).await).await;
    let ops = made["uuid"].as_str().unwrap();
    let of_ops = deliveries(&d, &format!("event=backup_failed&channel={ops}")).await;
    assert_eq!(
        of_ops.len(),
        1,
        "nothing new for the disabled channel: {of_ops:?}"
    );
    assert_eq!(
        deliveries(&d, "event=backup_failed").await.len(),
        2,
        "'wrong' got it"
    );
    let listed = cli(&d, &["notify", "list"]);
    assert!(listed.contains("ops") && listed.contains("no"), "{listed}");
    cli(&d, &["notify", "remove", "wrong"]);
    assert!(
        deliveries(&d, "status=failed").await.is_empty(),
        "deliveries go with their channel"
    );
}

#[tokio::test]
async fn email_goes_through_a_real_smtp_server() {
    let Some(smtp) = Smtp::start() else { return };
    let d = engine_daemon(FAST).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wire(
        &d,
        ("shtarget", json!({"base_dir": dir.path(), "mode": "fail"})),
        ("fs", json!({"base_dir": dir.path().join("store")})),
        3600,
    )
    .await;
    let config = json!({"host": "127.0.0.1", "port": smtp.port, "security": "none",
        "from": "backup@example.com", "to": "oncall@example.com, dba@example.com"});
    let mut with_password = config.clone();
    with_password["username"] = "backup".into();
    with_password["password"] = "smtp-Pa55-word".into();
    crate::common::assert_error(
        d.post(
            "/v1/notifications",
            &json!({"name": "m", "kind": "email", "config": with_password}),
        )
        .await
        .unwrap(),
        400,
        "never sent without encryption",
    );
    with_password["security"] = "starttls".into();
    let sealed = d
        .create(
            "/v1/notifications",
            &json!({"name": "relay", "kind": "email", "config": with_password, "enabled": false}),
        )
        .await
        .unwrap();
    let shown = d
        .get_ok(&format!("/v1/notification/{sealed}"))
        .await
        .unwrap();
    assert_eq!(shown["config"]["password"], "<redacted>");
    assert_eq!(shown["enabled"], false);
    let catalog = std::fs::read(d.data_dir().join("catalog.db")).unwrap();
    assert!(!String::from_utf8_lossy(&catalog).contains("smtp-Pa55-word"));

    d.create(
        "/v1/notifications",
        &json!({"name": "mail", "kind": "email", "config": config}),
    )
    .await
    .unwrap();
    let out = cli(&d, &["notify", "test", "mail"]);
    assert!(out.contains("Sent a test"), "{out}");
    let failed = finished(&d, &run_job(&d, &w.job).await).await;
    assert_eq!(failed["status"], "failed");
    within("two messages", 30, || smtp.messages().len() >= 2).await;
    let all = smtp.messages().join("\n-----\n");
    assert!(
        all.contains("Subject: [Bulwark] A test from Bulwark"),
        "{all}"
    );
    assert!(
        all.contains("Subject: [Bulwark] The backup of job"),
        "{all}"
    );
    assert!(all.contains("oncall@example.com") && all.contains("dba@example.com"));
    assert!(all.contains("Error: Failed:"), "{all}");
    assert!(all.contains(failed["uuid"].as_str().unwrap()), "{all}");
    assert_eq!(
        smtp.messages().len(),
        2,
        "the disabled channel sent nothing"
    );
}

#[tokio::test]
async fn restores_and_store_checks_are_announced() {
    let d = engine_daemon(FAST).await;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), vec![3u8; 100_000]).unwrap();
    let repo = work.path().join("repo");
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("repository", json!({"path": repo})),
        3600,
    )
    .await;
    let mut receiver = Webhook::on(free_port());
    let made = d
        .post_ok(
            "/v1/notifications",
            &json!({"name": "restores", "kind": "webhook", "config": {"url": receiver.url()},
                    "events": ["restore_done", "restore_failed", "check_failed"]}),
        )
        .await
        .unwrap();
    receiver.run(made["secret"].as_str().unwrap());
    let (_, a) = crate::repository::backup(&d, &w).await;
    let done = crate::repository::restore(&d, &a, &w.target).await;
    assert_eq!(done["status"], "done", "{}", done["log"]);
    for pack in crate::repository::walk(&repo.join("data")) {
        let mut perms = std::fs::metadata(&pack).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&pack, perms).unwrap();
        let len = std::fs::metadata(&pack).unwrap().len();
        crate::repository::scribble(&pack, len / 2, 64);
    }
    let failed = crate::repository::restore(&d, &a, &w.target).await;
    assert_eq!(failed["status"], "failed");
    let check = crate::repository::post_task(
        &d,
        &format!("/v1/store/{}/check", w.store),
        &json!({"read_data": "100%"}),
    )
    .await;
    assert_eq!(check["status"], "failed");
    within("three notices", 30, || receiver.received().len() >= 3).await;
    let got = receiver.received();
    let of = |e: &str| {
        got.iter()
            .find(|g| g["event"] == e)
            .unwrap_or_else(|| panic!("no {e}: {got:?}"))["body"]
            .clone()
    };
    assert_eq!(of("restore_done")["task"], done["uuid"]);
    assert_eq!(of("restore_done")["archive"], a["uuid"]);
    assert_eq!(of("restore_done")["target"]["uuid"], w.target.as_str());
    assert!(
        of("restore_failed")["error"]
            .as_str()
            .unwrap()
            .starts_with("Failed:")
    );
    assert_eq!(of("check_failed")["store"]["uuid"], w.store.as_str());
    assert_eq!(of("check_failed")["task"], check["uuid"]);
    assert!(got.iter().all(|g| g["verified"] == true));
}
