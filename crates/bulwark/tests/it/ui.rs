//! The web UI through the real daemon: every page renders for a signed-in user with the strict
//! Content-Security-Policy, hostile names shown escaped, every input labelled and every state
//! said in words; a viewer is offered no action; a stranger is sent to sign in; with no user
//! yet, the sign-in page says how to make the first one.

use serde_json::json;

use crate::engine::{backup_archive, engine_daemon, wire};
use bulwark_testkit::TestDaemon;

const HOSTILE: &str = "<script>alert(1)</script> \"quoted\" & <img src=x onerror=alert(2)> ✓ 名前";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `GET path` as the holder of `token`: status, headers, body.
async fn page(
    d: &TestDaemon,
    token: Option<&str>,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = no_redirects().get(format!("{}{path}", d.base_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

/// Every `<input>` and `<select>` with an id has a `<label for>` naming it.
fn labelled(html: &str) -> Result<(), String> {
    for tag in ["<input", "<select"] {
        for (i, _) in html.match_indices(tag) {
            let end = html[i..].find('>').map(|e| i + e).unwrap_or(html.len());
            let el = &html[i..end];
            let id = el
                .split("id=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .ok_or_else(|| format!("an input without an id: {el}"))?;
            if !html.contains(&format!("for=\"{id}\"")) {
                return Err(format!("no label for {id}"));
            }
        }
    }
    Ok(())
}

struct World {
    _work: tempfile::TempDir,
    d: TestDaemon,
    job: String,
    target: String,
    store: String,
    schedule: String,
    retention: String,
    task: String,
    archive: String,
}

async fn world() -> World {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"hello").unwrap();
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("blobs")})),
        3600,
    )
    .await;
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    let offsite = d
        .create("/v1/stores", &json!({"name": "offsite copies", "plugin": "fs", "endpoint": {"base_dir": work.path().join("copies")}}))
        .await
        .unwrap();
    let body = json!({"name": HOSTILE, "summary": HOSTILE, "store": j["store_uuid"], "target": j["target_uuid"],
        "retention": j["retention_uuid"], "schedule": j["schedule_uuid"], "bandwidth": "50M",
        "copies": [{"store": offsite, "retention": j["retention_uuid"]}],
        "steps": [{"name": HOSTILE, "when": "after_backup", "always": true, "command": ["/bin/echo", HOSTILE]}]});
    let (s, b) = d.put(&format!("/v1/job/{}", w.job), &body).await.unwrap();
    assert_eq!(s, 200, "{b}");
    let t = d.get_ok(&format!("/v1/target/{}", w.target)).await.unwrap();
    let (s, b) = d
        .put(&format!("/v1/target/{}", w.target), &json!({"name": HOSTILE, "summary": "", "plugin": "fs", "endpoint": t["endpoint"], "agent": t["agent"]}))
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let archive = backup_archive(&d, &w.job).await;
    let tasks = d.get_ok(&format!("/v1/tasks?job={}", w.job)).await.unwrap();
    World {
        task: tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "backup")
            .unwrap()["uuid"]
            .as_str()
            .unwrap()
            .to_string(),
        archive: archive["uuid"].as_str().unwrap().to_string(),
        job: w.job,
        target: w.target,
        store: w.store,
        schedule: j["schedule_uuid"].as_str().unwrap().to_string(),
        retention: j["retention_uuid"].as_str().unwrap().to_string(),
        _work: work,
        d,
    }
}

fn pages(w: &World) -> Vec<String> {
    vec![
        "/".into(),
        "/jobs".into(),
        format!("/jobs/{}", w.job),
        "/tasks".into(),
        format!("/tasks/{}", w.task),
        "/tasks?status=done&op=backup".into(),
        "/archives".into(),
        format!("/archives/{}", w.archive),
        format!("/archives/{}/restore", w.archive),
        "/targets".into(),
        "/targets/new".into(),
        "/targets/new?plugin=fs".into(),
        "/targets/new?plugin=postgres".into(),
        format!("/targets/{}", w.target),
        "/stores".into(),
        "/stores/new?plugin=repository".into(),
        format!("/stores/{}", w.store),
        "/schedules".into(),
        "/schedules/new".into(),
        format!("/schedules/{}", w.schedule),
        "/retention".into(),
        "/retention/new".into(),
        format!("/retention/{}", w.retention),
    ]
}

#[tokio::test]
async fn every_page_renders_escaped_labelled_and_locked_down() {
    let w = world().await;
    let d = &w.d;
    let mut all = pages(&w);
    all.push("/admin".into());
    for path in all {
        let (status, headers, html) = page(d, Some(d.token()), &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert_eq!(
            headers["content-type"], "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(
            headers["content-security-policy"],
            bulwark_ui::CSP,
            "{path}"
        );
        assert!(!html.contains("<script>alert"), "{path} shows a raw script");
        assert!(!html.contains("<img src=x"), "{path} shows a raw tag");
        for bad in ["<script>", "onerror=alert(2)>"] {
            if let Some(i) = html.find(bad) {
                let around = &html[i.saturating_sub(200)..(i + 100).min(html.len())];
                panic!("{path} has inline script: {around}");
            }
        }
        labelled(&html).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(html.contains("<main id=\"main\""), "{path}");
        assert!(html.contains("Sign out"), "{path}");
    }
    let (_, _, dash) = page(d, Some(d.token()), "/").await;
    assert!(
        dash.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{dash}"
    );
    assert!(
        dash.contains("The one job has a good backup within its RPO."),
        "{dash}"
    );
    assert!(
        dash.contains("</span> Ok</span>"),
        "a state is a word too: {dash}"
    );
    let (_, _, admin) = page(d, Some(d.token()), "/admin").await;
    assert!(
        admin.contains("data-post=\"/v1/agents/rotate-core-key\""),
        "the core's key can be rotated from the admin page: {admin}"
    );
    let (_, _, job) = page(d, Some(d.token()), &format!("/jobs/{}", w.job)).await;
    assert!(
        job.contains(&format!("data-post=\"/v1/job/{}/run\"", w.job)),
        "{job}"
    );
    assert!(job.contains("at most 50.0 MiB/s to the store"), "{job}");
    assert!(
        job.contains("into <a href=\"/stores/") && job.contains("offsite copies"),
        "the job's copies are shown: {job}"
    );
    assert!(
        job.contains("after_backup: <strong>"),
        "the job's steps are shown: {job}"
    );
    assert!(job.contains("(on failure break, always, 60 s)"), "{job}");
    let (_, _, task) = page(d, Some(d.token()), &format!("/tasks/{}", w.task)).await;
    assert!(task.contains("role=\"log\""), "{task}");
    assert!(task.contains("Done: "), "{task}");
    let (_, _, restore) = page(
        d,
        Some(d.token()),
        &format!("/archives/{}/restore", w.archive),
    )
    .await;
    assert!(restore.contains("To confirm, type the target"), "{restore}");
    assert!(
        restore.contains("disabled>Restore"),
        "in place is confirmed by typing: {restore}"
    );
    assert!(
        restore.contains("base_dir"),
        "the review says where it goes: {restore}"
    );

    // The assets are versioned and cached; an unknown one is a 404.
    let css = dash
        .split("href=\"/ui/assets/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (status, headers, _) = page(d, None, &format!("/ui/assets/{css}")).await;
    assert_eq!(status, 200);
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(page(d, None, "/ui/assets/app.0000.css").await.0, 404);

    // A stranger is sent to sign in, and the sign-in page to the dashboard once signed in.
    let (status, headers, _) = page(d, None, "/jobs").await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/login");
    let (status, _, login) = page(d, None, "/login").await;
    assert_eq!(status, 200);
    assert!(
        login.contains("<label for=\"password\">") && !login.contains("First run"),
        "{login}"
    );
    assert_eq!(page(d, Some(d.token()), "/login").await.0, 303);
    // A page of something that does not exist says so.
    let (status, _, html) = page(
        d,
        Some(d.token()),
        &format!("/jobs/{}", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, 404, "{html}");
}

#[tokio::test]
async fn a_schedule_phrase_is_checked_without_saving() {
    let d = engine_daemon("").await;
    let c = d
        .get_ok("/v1/schedules/check?when=daily%20at%204am")
        .await
        .unwrap();
    assert_eq!(c["when"], "daily at 4:00");
    let runs = c["next_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    assert!(
        runs.iter()
            .all(|r| r.as_str().unwrap().ends_with("04:00:00")),
        "{c}"
    );
    assert!(
        runs.windows(2).all(|w| w[0].as_str() < w[1].as_str()),
        "{c}"
    );
    crate::common::assert_error(
        d.get("/v1/schedules/check?when=daily%20at%2025pm")
            .await
            .unwrap(),
        400,
        "when:",
    );
    assert!(
        d.get_ok("/v1/schedules")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_viewer_is_offered_no_action() {
    let w = world().await;
    let d = &w.d;
    d.add_user("watcher", "viewer", &[], "watcher pw 123456")
        .unwrap();
    let token = d.login("watcher", "watcher pw 123456").await.unwrap();
    for path in pages(&w) {
        let (status, _, html) = page(d, Some(&token), &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            !html.contains("data-post"),
            "{path} offers a viewer an action"
        );
    }
    let (_, _, restore) = page(d, Some(&token), &format!("/archives/{}/restore", w.archive)).await;
    assert!(
        restore.contains("may look at archives but not restore"),
        "{restore}"
    );
    let (status, _, admin) = page(d, Some(&token), "/admin").await;
    assert_eq!(status, 403, "{admin}");
    let (_, _, dash) = page(d, Some(&token), "/").await;
    assert!(
        !dash.contains("href=\"/admin\""),
        "a viewer is shown the admin page"
    );
    let (_, _, archive) = page(d, Some(&token), &format!("/archives/{}", w.archive)).await;
    assert!(!archive.contains("Restore this archive"), "{archive}");
}

#[tokio::test]
async fn with_no_user_the_sign_in_page_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut child) = crate::common::userless_server(dir.path());
    use std::io::BufRead;
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("web UI on http://"), "{first}");
    let url = first
        .split("web UI on ")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches('/')
        .to_string();
    let res = no_redirects()
        .get(format!("{url}/login"))
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(html.contains("First run"), "{html}");
    assert!(
        html.contains("bulwark user add admin --role admin --password-stdin"),
        "{html}"
    );
}
