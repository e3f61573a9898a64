//! Status, the public key, the OpenAPI document, and answers for unknown routes.

use serde_json::Value;

use crate::common::{assert_error, daemon, documented_routes};

#[tokio::test]
async fn status_reports_health() {
    let d = daemon().await;
    let s = d.get_ok("/v1/status").await.unwrap();
    assert_eq!(s["health"], "ok");
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["timezone"], "UTC");
    assert_eq!(s["mode"], "normal");
    assert_eq!(s["catalog"]["kind"], "sqlite");
    assert_eq!(s["catalog"]["ok"], true);
    assert_eq!(s["catalog"]["schema_version"], 13);
    assert!(s["uptime_seconds"].is_u64());
    // The log goes to a file here: no colour codes in it.
    assert!(d.log().contains("Daemon started."));
    assert!(!d.log().contains('\u{1b}'), "colour escapes in a log file");
}

#[tokio::test]
async fn pubkey_is_an_openssh_ed25519_key() {
    let d = daemon().await;
    let res = reqwest::get(format!("{}/v1/meta/pubkey", d.base_url))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let key = res.text().await.unwrap();
    let words: Vec<&str> = key.split_whitespace().collect();
    assert_eq!(words[0], "ssh-ed25519");
    assert!(words[1].starts_with("AAAAC3NzaC1lZDI1NTE5"), "{key}");
    // The private key is kept owner-only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.data_dir().join("core_ed25519"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Every route of seed 003's API, plus our additions.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/schedules/check"),
    ("get", "/v1/schedules"),
    ("post", "/v1/schedules"),
    ("get", "/v1/schedule/{uuid}"),
    ("put", "/v1/schedule/{uuid}"),
    ("delete", "/v1/schedule/{uuid}"),
    ("get", "/v1/retention"),
    ("post", "/v1/retention"),
    ("get", "/v1/retention/{uuid}"),
    ("put", "/v1/retention/{uuid}"),
    ("delete", "/v1/retention/{uuid}"),
    ("get", "/v1/retention/{uuid}/preview"),
    ("post", "/v1/retention/preview"),
    ("post", "/v1/retention/sweep"),
    ("get", "/v1/agents"),
    ("post", "/v1/agents"),
    ("get", "/v1/agent/{uuid}"),
    ("delete", "/v1/agent/{uuid}"),
    ("post", "/v1/agent/{uuid}/approve"),
    ("post", "/v1/agent/{uuid}/revoke"),
    ("post", "/v1/agent/{uuid}/rotate-key"),
    ("post", "/v1/agent-tokens"),
    ("post", "/v1/agents/rotate-core-key"),
    ("get", "/v1/job/{uuid}/schelly/backups"),
    ("post", "/v1/job/{uuid}/schelly/backups"),
    ("get", "/v1/job/{uuid}/schelly/backups/{id}"),
    ("get", "/v1/targets"),
    ("post", "/v1/targets"),
    ("get", "/v1/target/{uuid}"),
    ("put", "/v1/target/{uuid}"),
    ("delete", "/v1/target/{uuid}"),
    ("get", "/v1/stores"),
    ("post", "/v1/stores"),
    ("get", "/v1/store/{uuid}"),
    ("put", "/v1/store/{uuid}"),
    ("delete", "/v1/store/{uuid}"),
    ("post", "/v1/store/{uuid}/check"),
    ("post", "/v1/store/{uuid}/prune"),
    ("get", "/v1/jobs"),
    ("post", "/v1/jobs"),
    ("get", "/v1/job/{uuid}"),
    ("put", "/v1/job/{uuid}"),
    ("delete", "/v1/job/{uuid}"),
    ("post", "/v1/job/{uuid}/pause"),
    ("post", "/v1/job/{uuid}/unpause"),
    ("post", "/v1/job/{uuid}/run"),
    ("post", "/v1/job/{uuid}/drill"),
    ("get", "/v1/archives"),
    ("get", "/v1/archive/{uuid}"),
    ("put", "/v1/archive/{uuid}"),
    ("delete", "/v1/archive/{uuid}"),
    ("post", "/v1/archive/{uuid}/restore"),
    ("get", "/v1/tasks"),
    ("get", "/v1/task/{uuid}"),
    ("delete", "/v1/task/{uuid}"),
    ("get", "/v1/plugins"),
    ("get", "/v1/plugin/{name}"),
    ("post", "/v1/plugin/{name}/validate"),
    ("get", "/v1/task/{uuid}/log"),
    ("get", "/v1/meta/pubkey"),
    ("get", "/v1/status"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/auth/whoami"),
    ("get", "/v1/auth/tokens"),
    ("post", "/v1/auth/tokens"),
    ("delete", "/v1/auth/token/{id}"),
    ("get", "/v1/users"),
    ("get", "/v1/audit"),
    ("get", "/v1/archive/{uuid}/files"),
    ("get", "/v1/archive/{uuid}/files/content"),
    ("get", "/v1/notifications"),
    ("post", "/v1/notifications"),
    ("get", "/v1/notification/{uuid}"),
    ("put", "/v1/notification/{uuid}"),
    ("delete", "/v1/notification/{uuid}"),
    ("post", "/v1/notification/{uuid}/test"),
    ("get", "/v1/notifications/deliveries"),
    ("post", "/v1/target/{uuid}/validate"),
    ("post", "/v1/store/{uuid}/validate"),
];

#[tokio::test]
async fn openapi_documents_every_route() {
    let d = daemon().await;
    let doc = d.get_ok("/v1/openapi.json").await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = documented_routes(&doc);
    documented.sort();
    let mut want: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    want.sort();
    assert_eq!(documented, want);
    // Every route that needs a login says so, with its 401 and 403; the public ones do not.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let public = [
        ("get", "/v1/status"),
        ("get", "/v1/meta/pubkey"),
        ("post", "/v1/auth/login"),
    ];
    for (m, p) in &documented {
        let op = &doc["paths"][p][m];
        let open = public.contains(&(m.as_str(), p.as_str()));
        assert_eq!(op["security"].is_null(), open, "{m} {p}");
        if !open {
            assert!(op["responses"]["401"].is_object(), "{m} {p}");
            assert!(op["responses"]["403"].is_object(), "{m} {p}");
        }
    }
    // Request and response schemas are there too.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "CreateJob",
        "JobResponse",
        "ArchiveResponse",
        "TaskResponse",
        "ErrorResponse",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
}

#[tokio::test]
async fn every_documented_route_answers() {
    // Each route answers with JSON (or the key), never with the router's own 404/405.
    let d = daemon().await;
    let id = uuid::Uuid::new_v4();
    for (method, path) in ROUTES {
        let path = path
            .replace("{uuid}", &id.to_string())
            .replace("{name}", "nosuch");
        let (status, body) = d.raw(&method.to_uppercase(), &path, "{}").await.unwrap();
        if status == 404 {
            let msg = body["error"].as_str().unwrap();
            assert!(
                msg.contains("does not exist") || msg.contains("is not installed"),
                "{method} {path}: {body}"
            );
        }
        assert_ne!(status, 405, "{method} {path}");
        assert!(status < 500, "{method} {path}: {status} {body}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let d = daemon().await;
    assert_error(d.get("/v1/nothing").await.unwrap(), 404, "no such route");
    assert_error(d.get("/v2/jobs").await.unwrap(), 404, "no such route");
    assert_error(
        d.raw("PATCH", "/v1/jobs", "{}").await.unwrap(),
        405,
        "method not allowed",
    );
    assert_error(
        d.raw("DELETE", "/v1/schedules", "").await.unwrap(),
        405,
        "method not allowed",
    );
    let (status, body) = d.get("/").await.unwrap();
    assert_eq!(status, 200);
    assert!(matches!(body, Value::String(ref s) if s.contains("/v1/openapi.json")));
}
