//! The authorization matrix: every route of the OpenAPI document, with no credential, bad,
//! expired and revoked tokens, each role, target-limited users, and a token whose role is below
//! its owner's, against a daemon holding real objects. The expected minimum of each route is
//! written here, apart from the daemon's own table: a route the document gains without an entry
//! here fails the test, and so does a route the daemon serves with the wrong rule.

use std::collections::BTreeMap;

use bulwark_catalog::Catalog;
use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::common::{HOLD_TASKS, bin, documented_routes, fixture, record_archive};

/// What a route needs, as the README documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Public,
    Login,
    Viewer,
    Operator,
    Admin,
}

fn expected_rules() -> BTreeMap<(&'static str, &'static str), Need> {
    use Need::*;
    BTreeMap::from([
        (("get", "/v1/status"), Public),
        (("get", "/v1/meta/pubkey"), Public),
        (("post", "/v1/auth/login"), Public),
        (("post", "/v1/auth/logout"), Login),
        (("get", "/v1/auth/whoami"), Login),
        (("get", "/v1/auth/tokens"), Login),
        (("post", "/v1/auth/tokens"), Login),
        (("delete", "/v1/auth/token/{id}"), Login),
        (("get", "/v1/users"), Admin),
        (("get", "/v1/audit"), Admin),
        (("get", "/v1/archive/{uuid}/files"), Viewer),
        (("get", "/v1/archive/{uuid}/files/content"), Operator),
        (("get", "/v1/notifications"), Admin),
        (("post", "/v1/notifications"), Admin),
        (("get", "/v1/notification/{uuid}"), Admin),
        (("put", "/v1/notification/{uuid}"), Admin),
        (("delete", "/v1/notification/{uuid}"), Admin),
        (("post", "/v1/notification/{uuid}/test"), Admin),
        (("get", "/v1/notifications/deliveries"), Admin),
        (("get", "/v1/schedules"), Viewer),
        (("get", "/v1/schedules/check"), Viewer),
        (("post", "/v1/schedules"), Admin),
        (("get", "/v1/schedule/{uuid}"), Viewer),
        (("put", "/v1/schedule/{uuid}"), Admin),
        (("delete", "/v1/schedule/{uuid}"), Admin),
        (("get", "/v1/retention"), Viewer),
        (("post", "/v1/retention"), Admin),
        (("get", "/v1/retention/{uuid}"), Viewer),
        (("put", "/v1/retention/{uuid}"), Admin),
        (("delete", "/v1/retention/{uuid}"), Admin),
        (("get", "/v1/retention/{uuid}/preview"), Viewer),
        (("post", "/v1/retention/preview"), Viewer),
        (("post", "/v1/retention/sweep"), Operator),
        (("get", "/v1/agents"), Viewer),
        (("post", "/v1/agents"), Admin),
        (("get", "/v1/agent/{uuid}"), Viewer),
        (("delete", "/v1/agent/{uuid}"), Admin),
        (("post", "/v1/agent/{uuid}/approve"), Admin),
        (("post", "/v1/agent/{uuid}/revoke"), Admin),
        (("post", "/v1/agent/{uuid}/rotate-key"), Admin),
        (("post", "/v1/agent-tokens"), Admin),
        (("post", "/v1/agents/rotate-core-key"), Admin),
        (("get", "/v1/job/{uuid}/schelly/backups"), Viewer),
        (("post", "/v1/job/{uuid}/schelly/backups"), Operator),
        (("get", "/v1/job/{uuid}/schelly/backups/{id}"), Viewer),
        (("get", "/v1/targets"), Viewer),
        (("post", "/v1/targets"), Admin),
        (("get", "/v1/target/{uuid}"), Viewer),
        (("put", "/v1/target/{uuid}"), Admin),
        (("delete", "/v1/target/{uuid}"), Admin),
        (("get", "/v1/stores"), Viewer),
        (("post", "/v1/stores"), Admin),
        (("get", "/v1/store/{uuid}"), Viewer),
        (("put", "/v1/store/{uuid}"), Admin),
        (("delete", "/v1/store/{uuid}"), Admin),
        (("post", "/v1/store/{uuid}/check"), Admin),
        (("post", "/v1/store/{uuid}/validate"), Operator),
        (("post", "/v1/target/{uuid}/validate"), Operator),
        (("post", "/v1/store/{uuid}/prune"), Admin),
        (("get", "/v1/jobs"), Viewer),
        (("post", "/v1/jobs"), Admin),
        (("get", "/v1/job/{uuid}"), Viewer),
        (("put", "/v1/job/{uuid}"), Admin),
        (("delete", "/v1/job/{uuid}"), Admin),
        (("post", "/v1/job/{uuid}/pause"), Operator),
        (("post", "/v1/job/{uuid}/unpause"), Operator),
        (("post", "/v1/job/{uuid}/run"), Operator),
        (("post", "/v1/job/{uuid}/drill"), Operator),
        (("get", "/v1/archives"), Viewer),
        (("get", "/v1/archive/{uuid}"), Viewer),
        (("put", "/v1/archive/{uuid}"), Operator),
        (("delete", "/v1/archive/{uuid}"), Admin),
        (("post", "/v1/archive/{uuid}/restore"), Operator),
        (("get", "/v1/tasks"), Viewer),
        (("get", "/v1/task/{uuid}"), Viewer),
        (("delete", "/v1/task/{uuid}"), Operator),
        (("get", "/v1/task/{uuid}/log"), Viewer),
        (("get", "/v1/plugins"), Viewer),
        (("get", "/v1/plugin/{name}"), Viewer),
        (("post", "/v1/plugin/{name}/validate"), Admin),
    ])
}

/// Who calls: a name, the token, and what it may do (`None`: nothing, the token is bad).
struct Principal {
    name: &'static str,
    token: Option<String>,
    role: Option<Need>,
    /// Limited to target A.
    limited: bool,
}

struct Objects {
    /// kind → uuid, for target A's side.
    a: BTreeMap<&'static str, String>,
    /// kind → uuid, for target B's side.
    b: BTreeMap<&'static str, String>,
}

/// A daemon with two sides, A and B: each a target, store, schedule, policy, job, archive and
/// task.
async fn world(dir: &std::path::Path) -> (TestDaemon, Objects) {
    let mut d = TestDaemon::start_in(bin(), dir, HOLD_TASKS).await.unwrap();
    let (fa, fb) = (fixture(&d, "a").await, fixture(&d, "b").await);
    d.stop().unwrap();
    let catalog = Catalog::open(&d.data_dir().join("catalog.db"))
        .await
        .unwrap();
    let (aa, ab) = (
        record_archive(&catalog, &fa, "k", 1_700_000_000, 4_000_000_000).await,
        record_archive(&catalog, &fb, "k", 1_700_000_000, 4_000_000_000).await,
    );
    // An agent, recorded at first contact.
    let agent = catalog
        .create_agent(
            &bulwark_catalog::NewAgent {
                name: "db".into(),
                address: "10.9.9.9:5444".into(),
                mode: "listen",
                public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ agent".into(),
                status: "pending",
            },
            1_700_000_000,
        )
        .await
        .unwrap()
        .to_string();
    catalog.close().await;
    d.restart().unwrap();
    let side = async |f: &crate::common::Fixture, archive: String| {
        let task = d
            .post_ok(&format!("/v1/job/{}/run", f.job), &Value::Null)
            .await
            .unwrap()["task_uuid"]
            .as_str()
            .unwrap()
            .to_string();
        BTreeMap::from([
            ("schedule", f.schedule.clone()),
            ("retention", f.retention.clone()),
            ("target", f.target.clone()),
            ("store", f.store.clone()),
            ("job", f.job.clone()),
            ("archive", archive),
            ("task", task),
        ])
    };
    let mut a = side(&fa, aa).await;
    a.insert("agent", agent);
    let b = side(&fb, ab).await;
    let channel = d
        .create(
            "/v1/notifications",
            &json!({"name": "authz", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}}),
        )
        .await
        .unwrap();
    a.insert("notification", channel);
    (d, Objects { a, b })
}

/// A path with its parameters filled: real objects of one side.
fn fill(path: &str, side: &BTreeMap<&'static str, String>) -> String {
    let kind = path
        .trim_start_matches("/v1/")
        .split('/')
        .next()
        .unwrap_or("");
    let filled = path
        .replace("{uuid}", side.get(kind).map_or("x", String::as_str))
        .replace("{name}", "fs")
        .replace("{id}", "000000000000");
    // A retention preview is of one job's archives.
    if path.ends_with("/preview") {
        format!(
            "{filled}?job={}",
            side.get("job").map_or("x", String::as_str)
        )
    } else {
        filled
    }
}

/// Principals of every kind.
async fn principals(d: &TestDaemon, o: &Objects) -> Vec<Principal> {
    let mut out = vec![
        Principal {
            name: "nobody",
            token: None,
            role: None,
            limited: false,
        },
        Principal {
            name: "bad token",
            token: Some("bwk_0123456789ab_notasecret".into()),
            role: None,
            limited: false,
        },
        Principal {
            name: "garbage",
            token: Some("hunter2".into()),
            role: None,
            limited: false,
        },
    ];
    for (name, role, need, limit) in [
        ("viewer", "viewer", Need::Viewer, false),
        ("operator", "operator", Need::Operator, false),
        ("admin2", "admin", Need::Admin, false),
        ("viewer@A", "viewer", Need::Viewer, true),
        ("operator@A", "operator", Need::Operator, true),
    ] {
        let pw = bulwark_testkit::random_password();
        let targets: Vec<&str> = if limit {
            vec![o.a["target"].as_str()]
        } else {
            vec![]
        };
        d.add_user(name, role, &targets, &pw).unwrap();
        let token = d.login(name, &pw).await.unwrap();
        out.push(Principal {
            name,
            token: Some(token),
            role: Some(need),
            limited: limit,
        });
    }
    // An admin's token with the viewer role: the token's role rules.
    let made = d
        .post_ok("/v1/auth/tokens", &json!({"name": "ro", "role": "viewer"}))
        .await
        .unwrap();
    out.push(Principal {
        name: "admin's viewer token",
        token: Some(made["token"].as_str().unwrap().into()),
        role: Some(Need::Viewer),
        limited: false,
    });
    // Revoked and expired tokens of the admin.
    let revoked = d
        .post_ok("/v1/auth/tokens", &json!({"name": "gone"}))
        .await
        .unwrap();
    let id = revoked["id"].as_str().unwrap();
    assert_eq!(
        d.delete(&format!("/v1/auth/token/{id}")).await.unwrap().0,
        200
    );
    out.push(Principal {
        name: "revoked token",
        token: Some(revoked["token"].as_str().unwrap().into()),
        role: None,
        limited: false,
    });
    let expired = d
        .post_ok("/v1/auth/tokens", &json!({"name": "old"}))
        .await
        .unwrap();
    // Its expiry moved into the past in the catalog (the daemon's clock is the wall clock).
    let db = rusqlite::Connection::open(d.data_dir().join("catalog.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute(
        "UPDATE api_tokens SET expires_at = 1 WHERE id = ?1",
        [expired["id"].as_str().unwrap()],
    )
    .unwrap();
    out.push(Principal {
        name: "expired token",
        token: Some(expired["token"].as_str().unwrap().into()),
        role: None,
        limited: false,
    });
    out
}

#[tokio::test]
async fn every_route_answers_every_principal_as_its_rule_says() {
    let dir = tempfile::tempdir().unwrap();
    let (d, o) = world(dir.path()).await;
    let rules = expected_rules();
    let doc = d.get_ok("/v1/openapi.json").await.unwrap();
    let mut routes = documented_routes(&doc);
    // Reads first, then changes, then logout (it ends the caller's session).
    routes.sort_by_key(|(m, p)| (p == "/v1/auth/logout", m != "get", p.clone(), m.clone()));
    let unruled: Vec<String> = routes
        .iter()
        .filter(|(m, p)| !rules.contains_key(&(m.as_str(), p.as_str())))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        unruled.is_empty(),
        "routes with no expected rule in this test: {unruled:?}"
    );
    let people = principals(&d, &o).await;
    let mut wrong = Vec::new();
    // Target-limited callers: B's objects do not exist for them, and lists hold only A's.
    for p in people.iter().filter(|p| p.limited) {
        for (method, path) in routes
            .iter()
            .filter(|(m, p)| m == "get" && p.contains("{uuid}"))
        {
            let kind = path.trim_start_matches("/v1/").split('/').next().unwrap();
            if !["target", "job", "archive", "task"].contains(&kind) {
                continue;
            }
            // A route above the caller's role is refused for that first.
            if matches!(
                rules[&(method.as_str(), path.as_str())],
                Need::Operator | Need::Admin
            ) && p.role.is_some_and(|r| r < Need::Operator)
            {
                continue;
            }
            let url = fill(path, &o.b);
            let (status, answer) = d
                .request_as(p.token.as_deref(), "GET", &url, None)
                .await
                .unwrap();
            if status != 404 {
                wrong.push(format!(
                    "{method} {url} (B's) as {}: {status} (expected 404): {answer}",
                    p.name
                ));
            }
        }
        for (list, key) in [
            ("/v1/targets", "uuid"),
            ("/v1/jobs", "target_uuid"),
            ("/v1/archives", "target_uuid"),
            ("/v1/tasks", "target_uuid"),
        ] {
            let (_, rows) = d
                .request_as(p.token.as_deref(), "GET", list, None)
                .await
                .unwrap();
            let rows = rows.as_array().cloned().unwrap_or_default();
            if rows.is_empty() || rows.iter().any(|r| r[key] != o.a["target"].as_str()) {
                wrong.push(format!("GET {list} as {}: {rows:?}", p.name));
            }
        }
    }
    for (method, path) in &routes {
        let need = rules[&(method.as_str(), path.as_str())];
        let reads = method == "get";
        // Reads go to A's real objects; changes to objects that do not exist, so that a caller
        // who passes the check changes nothing (a 400 or 404 counts as passing).
        let url = if reads {
            fill(path, &o.a)
        } else {
            fill(path, &BTreeMap::new()).replace('x', "00000000-0000-4000-8000-000000000000")
        };
        let body = (!reads).then(|| json!({}));
        for p in &people {
            let (status, answer) = d
                .request_as(
                    p.token.as_deref(),
                    &method.to_uppercase(),
                    &url,
                    body.as_ref(),
                )
                .await
                .unwrap();
            let expect = match (need, p.role) {
                (Need::Public, _) => "not 401/403",
                (_, None) => "401",
                (Need::Login, Some(_)) => "not 401/403",
                (need, Some(role)) if role >= need => {
                    // Looking into an archive needs one in a repository store, and a path;
                    // checking a schedule phrase needs the phrase; a Schelly backup, a real one.
                    if reads
                        && !path.contains("/files")
                        && !path.ends_with("/check")
                        && !path.ends_with("/backups/{id}")
                    {
                        "200"
                    } else {
                        "not 401/403"
                    }
                }
                _ => "403",
            };
            let ok = match expect {
                "401" => status == 401,
                "403" => status == 403,
                "200" => status == 200,
                _ => status != 401 && status != 403,
            };
            if !ok {
                wrong.push(format!(
                    "{method} {url} as {}: {status} (expected {expect}): {answer}",
                    p.name
                ));
            }
            if status == 401 {
                // Every 401 is the usual JSON error.
                assert!(answer["error"].is_string(), "{answer}");
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn an_operator_of_one_target_restores_only_onto_it() {
    let dir = tempfile::tempdir().unwrap();
    let (d, o) = world(dir.path()).await;
    let pw = bulwark_testkit::random_password();
    d.add_user("ops-a", "operator", &[o.a["target"].as_str()], &pw)
        .unwrap();
    let t = d.login("ops-a", &pw).await.unwrap();
    let restore = |archive: &str| format!("/v1/archive/{archive}/restore");
    // A's archive onto B: the destination is out of reach (SHIELD checked only the archive).
    let (s, body) = d
        .request_as(
            Some(&t),
            "POST",
            &restore(&o.a["archive"]),
            Some(&json!({"target": o.b["target"]})),
        )
        .await
        .unwrap();
    assert_eq!(s, 404, "{body}");
    // B's archive onto A: the archive is out of reach.
    let (s, _) = d
        .request_as(
            Some(&t),
            "POST",
            &restore(&o.b["archive"]),
            Some(&json!({"target": o.a["target"]})),
        )
        .await
        .unwrap();
    assert_eq!(s, 404);
    // B's job cannot be run; A's can, and the task is the operator's whatever the body says.
    let (s, _) = d
        .request_as(
            Some(&t),
            "POST",
            &format!("/v1/job/{}/run", o.b["job"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(s, 404);
    let (s, body) = d
        .request_as(
            Some(&t),
            "POST",
            &format!("/v1/job/{}/run", o.a["job"]),
            Some(&json!({"owner": "mallory"})),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{body}");
    let task = d
        .get_ok(&format!("/v1/task/{}", body["task_uuid"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(task["owner"], "ops-a");
    // A's archive onto A works.
    let (s, body) = d
        .request_as(Some(&t), "POST", &restore(&o.a["archive"]), None)
        .await
        .unwrap();
    assert_eq!(s, 200, "{body}");
    // No credentials and a bad body: 401, never 400.
    let (s, _) = d
        .request_as(
            None,
            "POST",
            "/v1/schedules",
            Some(&json!({"nonsense": true})),
        )
        .await
        .unwrap();
    assert_eq!(s, 401);
}
