//! Browsers cannot be turned against the daemon, and the audit log records what happens.

use std::process::Command;

use bulwark_testkit::TestDaemon;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{bin, daemon, fixture, snapshot};

/// Logs in as the admin from a "browser": the session cookie and the CSRF token.
async fn browser_login(d: &TestDaemon) -> (String, String) {
    let res = d
        .bare(Method::POST, "/v1/auth/login")
        .json(&json!({"username": "admin", "password": d.admin_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure flag over plain HTTP: {cookie}"
    );
    let body: Value = res.json().await.unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    (pair, body["csrf"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_change_nothing() {
    let d = daemon().await;
    let f = fixture(&d, "x").await;
    let (cookie, csrf) = browser_login(&d).await;
    let own = d.base_url.clone();
    let before = snapshot(&d).await;
    let schedule = r#"{"name": "evil", "when": "hourly"}"#;
    let restore = format!("/v1/archive/{}/restore", f.job);
    // (what, request, status)
    let attempts: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "text/plain with the cookie, as a cross-site fetch sends it",
            d.bare(Method::POST, "/v1/schedules")
                .header("cookie", &cookie)
                .header("content-type", "text/plain")
                .header("origin", "http://evil.example")
                .body(schedule),
            403,
        ),
        (
            "a form post with the cookie",
            d.bare(Method::POST, "/v1/schedules")
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("name=evil&when=hourly"),
            403,
        ),
        (
            "JSON with the cookie from a foreign origin",
            d.bare(Method::POST, "/v1/schedules")
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .header("origin", "http://evil.example")
                .json(&serde_json::from_str::<Value>(schedule).unwrap()),
            403,
        ),
        (
            "Sec-Fetch-Site: cross-site",
            d.bare(Method::POST, "/v1/schedules")
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .header("sec-fetch-site", "cross-site")
                .json(&serde_json::from_str::<Value>(schedule).unwrap()),
            403,
        ),
        (
            "the cookie without the CSRF token",
            d.bare(Method::POST, "/v1/schedules")
                .header("cookie", &cookie)
                .header("origin", &own)
                .json(&serde_json::from_str::<Value>(schedule).unwrap()),
            403,
        ),
        (
            "a wrong CSRF token",
            d.bare(Method::DELETE, &format!("/v1/job/{}", f.job))
                .header("cookie", &cookie)
                .header("x-csrf-token", "guess"),
            403,
        ),
        (
            "a bearer token from a foreign origin",
            d.bare(Method::POST, &restore)
                .bearer_auth(d.token())
                .header("origin", "http://evil.example")
                .json(&json!({})),
            403,
        ),
        (
            "text/plain with a bearer token",
            d.bare(Method::POST, "/v1/schedules")
                .bearer_auth(d.token())
                .header("content-type", "text/plain")
                .body(schedule),
            415,
        ),
        (
            "no credential at all, the old attack",
            d.bare(Method::POST, &format!("/v1/job/{}/run", f.job))
                .header("content-type", "text/plain")
                .body("{}"),
            401,
        ),
    ];
    for (what, req, want) in attempts {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        assert!(
            res.headers().get("access-control-allow-origin").is_none(),
            "{what}"
        );
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, want, "{what}: {body}");
        assert!(body["error"].is_string(), "{what}: {body}");
    }
    assert_eq!(
        snapshot(&d).await,
        before,
        "a refused request changed the catalog"
    );

    // The same change, done right from the daemon's own page, works.
    let res = d
        .bare(Method::POST, "/v1/schedules")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("origin", &own)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"name": "fine", "when": "daily at 4am"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // whoami tells a reloaded page its CSRF token; logout clears the cookie and ends it.
    let who: Value = d
        .bare(Method::GET, "/v1/auth/whoami")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["csrf"], csrf.as_str());
    assert_eq!(who["via"], "session");
    let res = d
        .bare(Method::POST, "/v1/auth/logout")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let res = d
        .bare(Method::GET, "/v1/jobs")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    // Oversized bodies: 413, nothing stored.
    let big = json!({"name": "big", "when": "hourly", "summary": "x".repeat(2 << 20)});
    let (s, body) = d.post("/v1/schedules", &big).await.unwrap();
    assert_eq!(s, 413, "{body}");
    // Names with control characters: 400.
    let (s, body) = d
        .post(
            "/v1/schedules",
            &json!({"name": "a\u{1b}[31mred", "when": "daily at 4am"}),
        )
        .await
        .unwrap();
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("control characters")
    );
}

#[tokio::test]
async fn the_audit_log_records_changes_logins_and_refusals() {
    let d = daemon().await;
    let f = fixture(&d, "au").await;
    let run = d
        .post_ok(&format!("/v1/job/{}/run", f.job), &Value::Null)
        .await
        .unwrap();
    let (s, _) = d
        .delete(&format!("/v1/schedule/{}", f.schedule))
        .await
        .unwrap();
    assert_eq!(s, 409);
    assert_eq!(
        d.request_as(
            None,
            "POST",
            "/v1/auth/login",
            Some(&json!({"username": "admin", "password": "not the password"}))
        )
        .await
        .unwrap()
        .0,
        401
    );
    let pw = bulwark_testkit::random_password();
    d.add_user("vic", "viewer", &[], &pw).unwrap();
    let viewer = d.login("vic", &pw).await.unwrap();
    let (s, _) = d
        .request_as(Some(&viewer), "DELETE", &format!("/v1/job/{}", f.job), None)
        .await
        .unwrap();
    assert_eq!(s, 403);
    let (s, _) = d
        .request_as(Some(&viewer), "GET", "/v1/audit", None)
        .await
        .unwrap();
    assert_eq!(s, 403, "viewers do not read the audit log");
    let made = d
        .post_ok("/v1/auth/tokens", &json!({"name": "mon", "role": "viewer"}))
        .await
        .unwrap();
    let token_id = made["id"].as_str().unwrap().to_string();
    assert_eq!(
        d.delete(&format!("/v1/auth/token/{token_id}"))
            .await
            .unwrap()
            .0,
        200
    );

    let rows = d.get_ok("/v1/audit").await.unwrap();
    let rows = rows.as_array().unwrap();
    let find = |action: &str, object: &str| {
        rows.iter()
            .find(|r| r["action"] == action && (object.is_empty() || r["object"] == object))
            .unwrap_or_else(|| panic!("no audit row {action} {object}: {rows:#?}"))
            .clone()
    };
    let created = find("POST /v1/jobs", &f.job);
    assert_eq!(created["actor"], "admin");
    assert_eq!(created["outcome"], "ok");
    assert_eq!(created["address"], "127.0.0.1");
    assert_eq!(
        find("POST /v1/schedules", &f.schedule)["object_kind"],
        "schedule"
    );
    let r = find("POST /v1/job/{uuid}/run", &f.job);
    assert_eq!(r["outcome"], "ok");
    assert!(run["task_uuid"].is_string());
    let refused = find("DELETE /v1/schedule/{uuid}", &f.schedule);
    assert!(
        refused["outcome"]
            .as_str()
            .unwrap()
            .starts_with("refused (409): schedule"),
        "{refused}"
    );
    let denied = find("DELETE /v1/job/{uuid}", &f.job);
    assert_eq!(denied["actor"], "vic");
    assert!(
        denied["outcome"]
            .as_str()
            .unwrap()
            .starts_with("refused (403)"),
        "{denied}"
    );
    assert!(rows.iter().any(|r| r["action"] == "login"
        && r["actor"] == "admin"
        && r["outcome"].as_str().unwrap().starts_with("refused (401)")));
    assert!(
        rows.iter()
            .any(|r| r["action"] == "login" && r["actor"] == "vic" && r["outcome"] == "ok")
    );
    assert_eq!(find("POST /v1/auth/tokens", &token_id)["outcome"], "ok");
    assert_eq!(
        find("DELETE /v1/auth/token/{id}", &token_id)["outcome"],
        "ok"
    );
    assert!(
        rows.iter()
            .any(|r| r["action"] == "user.add" && r["object"] == "vic")
    );
    // No secret in it.
    let text = serde_json::to_string(rows).unwrap();
    assert!(!text.contains(&d.admin_password) && !text.contains(&pw) && !text.contains("hunter2"));
    // Filters.
    let vic = d.get_ok("/v1/audit?user=vic").await.unwrap();
    assert!(
        vic.as_array().unwrap().iter().all(|r| r["actor"] == "vic"),
        "{vic}"
    );
    let about = d
        .get_ok(&format!("/v1/audit?object={}", f.schedule))
        .await
        .unwrap();
    assert!(about.as_array().unwrap().len() >= 2);
    assert_eq!(
        d.get_ok("/v1/audit?before=20000101").await.unwrap(),
        json!([])
    );
    assert_eq!(d.get("/v1/audit?after=yesterday").await.unwrap().0, 400);
    // No route deletes it, and the catalog itself refuses to.
    assert_eq!(d.delete("/v1/audit").await.unwrap().0, 405);
    let db = rusqlite::Connection::open(d.data_dir().join("catalog.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let err = db.execute("DELETE FROM audit", []).unwrap_err();
    assert!(err.to_string().contains("never deleted"), "{err}");
    assert!(db.execute("UPDATE audit SET actor = 'x'", []).is_err());
    // The CLI lists it.
    let out = Command::new(bin())
        .args(["list", "audit", "--user", "vic", "--api", &d.base_url])
        .env("BULWARK_TOKEN", d.token())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("AT") && table.contains("refused (403)"),
        "{table}"
    );
}
