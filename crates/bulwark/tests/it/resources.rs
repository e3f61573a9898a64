//! Schedules, retention policies, targets and stores: create, list, show, update, delete, and
//! the `unused` and `plugin` filters.

use serde_json::json;

use crate::common::{assert_error, daemon, fixture, uuids};

#[tokio::test]
async fn schedule_crud() {
    let d = daemon().await;
    let id = d
        .create(
            "/v1/schedules",
            &json!({"name": "Nightly", "when": "daily 4am"}),
        )
        .await
        .unwrap();

    let s = d.get_ok(&format!("/v1/schedule/{id}")).await.unwrap();
    assert_eq!(s["name"], "Nightly");
    assert_eq!(s["summary"], "");
    assert_eq!(s["when"], "daily 4am", "the author's text comes back");
    assert_eq!(s["canonical"], "daily at 4:00", "beside its canonical form");
    assert_eq!(s["next_runs"].as_array().unwrap().len(), 5, "{s}");
    assert_eq!(s["next_runs"][0], s["next_run"]);
    let next = s["next_run"].as_str().unwrap();
    assert!(
        next.ends_with("04:00:00"),
        "next run of a daily 4am schedule in UTC: {next}"
    );

    let (status, body) = d
        .put(
            &format!("/v1/schedule/{id}"),
            &json!({"name": "Weekly", "summary": "sunday mornings", "when": "sundays 8am"}),
        )
        .await
        .unwrap();
    assert_eq!((status, body), (200, json!({"ok": "updated"})));
    let s = d.get_ok(&format!("/v1/schedule/{id}")).await.unwrap();
    assert_eq!(s["name"], "Weekly");
    assert_eq!(s["summary"], "sunday mornings");
    assert_eq!(s["when"], "sundays 8am");
    assert_eq!(s["canonical"], "sundays at 8:00");

    let list = d.get_ok("/v1/schedules").await.unwrap();
    assert_eq!(uuids(&list), vec![id.clone()]);

    let (status, body) = d.delete(&format!("/v1/schedule/{id}")).await.unwrap();
    assert_eq!((status, body), (200, json!({"ok": "deleted"})));
    assert_error(
        d.get(&format!("/v1/schedule/{id}")).await.unwrap(),
        404,
        "does not exist",
    );
    assert_eq!(d.get_ok("/v1/schedules").await.unwrap(), json!([]));
}

#[tokio::test]
async fn schedules_accept_cron_and_intervals() {
    let d = daemon().await;
    for (when, canonical) in [
        ("0/3 * * * * *", "0/3 * * * * *"),
        ("30 2 * * mon-fri", "30 2 * * mon-fri"),
        ("every 90s", "every 1m30s"),
        ("2nd tuesday at 23:15", "2nd tuesday at 23:15"),
        ("every 6 hours from 4:39", "every 6 hours from 4:39"),
    ] {
        let id = d
            .create("/v1/schedules", &json!({"name": when, "when": when}))
            .await
            .unwrap();
        let s = d.get_ok(&format!("/v1/schedule/{id}")).await.unwrap();
        assert_eq!(s["when"], when);
        assert_eq!(s["canonical"], canonical);
        assert!(s["next_run"].is_string(), "{s}");
    }
}

#[tokio::test]
async fn retention_crud() {
    let d = daemon().await;
    let id = d
        .create(
            "/v1/retention",
            &json!({"name": "1 day", "summary": "short", "expires": 86400}),
        )
        .await
        .unwrap();
    let r = d.get_ok(&format!("/v1/retention/{id}")).await.unwrap();
    assert_eq!(
        r,
        json!({"uuid": id, "name": "1 day", "summary": "short", "expires": 86400,
               "keep_last": null, "keep_hourly": null, "keep_daily": null, "keep_weekly": null,
               "keep_monthly": null, "keep_yearly": null, "keep_within": null, "min_good": 1,
               "rules": "for 1d, at least 1 left"})
    );
    let (status, _) = d
        .put(
            &format!("/v1/retention/{id}"),
            &json!({"name": "2 days", "summary": "longer", "expires": 172800}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let r = d.get_ok(&format!("/v1/retention/{id}")).await.unwrap();
    assert_eq!(r["expires"], 172800);
    assert_eq!(r["name"], "2 days");
    assert_eq!(
        d.get_ok("/v1/retention")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, _) = d.delete(&format!("/v1/retention/{id}")).await.unwrap();
    assert_eq!(status, 200);
    assert_error(
        d.get(&format!("/v1/retention/{id}")).await.unwrap(),
        404,
        "does not exist",
    );
}

#[tokio::test]
async fn target_crud_with_secrets_redacted() {
    let d = daemon().await;
    // The seed's form: the endpoint as a JSON-encoded string.
    let id = d
        .create(
            "/v1/targets",
            &json!({"name": "orders", "summary": "Production PostgreSQL", "plugin": "postgres", "validate": false,
                    "endpoint": "{\"host\":\"db1\",\"password\":\"hunter2\",\"port\":5432}",
                    "agent": "10.17.66.54:5544"}),
        )
        .await
        .unwrap();
    let t = d.get_ok(&format!("/v1/target/{id}")).await.unwrap();
    assert_eq!(t["plugin"], "postgres");
    assert_eq!(t["agent"], "10.17.66.54:5544");
    let ep: serde_json::Value = serde_json::from_str(t["endpoint"].as_str().unwrap()).unwrap();
    assert_eq!(
        ep,
        json!({"host": "db1", "password": "<redacted>", "port": 5432})
    );
    for path in ["/v1/targets".to_string(), format!("/v1/target/{id}")] {
        let raw = d.get_ok(&path).await.unwrap().to_string();
        assert!(!raw.contains("hunter2"), "{path} leaks the password: {raw}");
    }

    // An update that sends back what it read keeps the password; a new host is taken.
    let (status, _) = d
        .put(
            &format!("/v1/target/{id}"),
            &json!({"name": "orders", "summary": "moved", "plugin": "postgres",
                    "endpoint": {"host": "db2", "password": "<redacted>", "port": 5432},
                    "agent": "10.17.66.54:5544"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let stored = stored_endpoint(&d, "targets", &id).await;
    assert_eq!(
        stored,
        json!({"host": "db2", "password": "hunter2", "port": 5432})
    );

    // A new password replaces the old one.
    let (status, _) = d
        .put(
            &format!("/v1/target/{id}"),
            &json!({"name": "orders", "summary": "moved", "plugin": "postgres",
                    "endpoint": {"host": "db2", "password": "s3cret", "port": 5432},
                    "agent": "10.17.66.54:5544"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        stored_endpoint(&d, "targets", &id).await["password"],
        "s3cret"
    );

    let (status, _) = d.delete(&format!("/v1/target/{id}")).await.unwrap();
    assert_eq!(status, 200);
    assert_error(
        d.get(&format!("/v1/target/{id}")).await.unwrap(),
        404,
        "does not exist",
    );
}

/// Reads an endpoint as stored, through the catalog file (the API never shows secrets).
async fn stored_endpoint(
    d: &bulwark_testkit::TestDaemon,
    table: &str,
    id: &str,
) -> serde_json::Value {
    let catalog = bulwark_catalog::Catalog::open(&d.data_dir().join("catalog.db"))
        .await
        .unwrap();
    let text = match table {
        "targets" => {
            catalog
                .get_target(id.parse().unwrap())
                .await
                .unwrap()
                .unwrap()
                .endpoint
        }
        _ => {
            catalog
                .get_store(id.parse().unwrap())
                .await
                .unwrap()
                .unwrap()
                .endpoint
        }
    };
    catalog.close().await;
    // Secrets are sealed at rest: open them with the data directory's master key.
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (k, v) in value.as_object().unwrap() {
        if bulwark_core::redact::is_secret_key(k) {
            assert!(
                v.as_str()
                    .unwrap()
                    .starts_with(bulwark_server::sealing::MARK),
                "{k} is stored in clear: {text}"
            );
        }
    }
    let vault = bulwark_server::vault::Vault::load(&d.data_dir(), None).unwrap();
    serde_json::from_str(&bulwark_server::sealing::open(&vault, &text).unwrap()).unwrap()
}

#[tokio::test]
async fn store_crud_with_secrets_redacted() {
    let d = daemon().await;
    let id = d
        .create(
            "/v1/stores",
            &json!({"name": "s3", "plugin": "s3",
                    "endpoint": {"bucket": "b", "access_key_id": "AKIA1", "secret_access_key": "wJalr"}}),
        )
        .await
        .unwrap();
    let s = d.get_ok(&format!("/v1/store/{id}")).await.unwrap();
    assert_eq!(s["summary"], "");
    assert!(!s.to_string().contains("wJalr"), "{s}");
    let (status, _) = d
        .put(
            &format!("/v1/store/{id}"),
            &json!({"name": "s3 eu", "summary": "eu bucket", "plugin": "s3",
                    "endpoint": {"bucket": "b-eu", "access_key_id": "<redacted>", "secret_access_key": "<redacted>"}}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        stored_endpoint(&d, "stores", &id).await,
        json!({"bucket": "b-eu", "access_key_id": "AKIA1", "secret_access_key": "wJalr"})
    );
    let s = d.get_ok(&format!("/v1/store/{id}")).await.unwrap();
    assert_eq!(s["name"], "s3 eu");
    let (status, _) = d.delete(&format!("/v1/store/{id}")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(d.get_ok("/v1/stores").await.unwrap(), json!([]));
}

#[tokio::test]
async fn unused_and_plugin_filters() {
    let d = daemon().await;
    let f = fixture(&d, "a").await;
    let spare_schedule = d
        .create(
            "/v1/schedules",
            &json!({"name": "spare", "when": "hourly at :15"}),
        )
        .await
        .unwrap();
    let spare_retention = d
        .create("/v1/retention", &json!({"name": "spare", "expires": 3600}))
        .await
        .unwrap();
    let spare_target = d
        .create(
            "/v1/targets",
            &json!({"name": "spare", "plugin": "redis", "endpoint": {}, "agent": "127.0.0.1:5444"}),
        )
        .await
        .unwrap();
    let spare_store = d
        .create(
            "/v1/stores",
            &json!({"name": "spare", "plugin": "s3", "endpoint": "{}"}),
        )
        .await
        .unwrap();

    let cases = [
        ("/v1/schedules", &f.schedule, &spare_schedule),
        ("/v1/retention", &f.retention, &spare_retention),
        ("/v1/targets", &f.target, &spare_target),
        ("/v1/stores", &f.store, &spare_store),
    ];
    for (path, used, spare) in cases {
        for flag in ["t", "true"] {
            let list = d.get_ok(&format!("{path}?unused={flag}")).await.unwrap();
            assert_eq!(uuids(&list), vec![spare.clone()], "{path}?unused={flag}");
        }
        let list = d.get_ok(&format!("{path}?unused=f")).await.unwrap();
        assert_eq!(uuids(&list), vec![used.clone()], "{path}?unused=f");
        let list = d.get_ok(path).await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 2, "{path}");
    }

    let pg = d.get_ok("/v1/targets?plugin=postgres").await.unwrap();
    assert_eq!(uuids(&pg), vec![f.target.clone()]);
    let redis = d.get_ok("/v1/targets?plugin=redis&unused=t").await.unwrap();
    assert_eq!(uuids(&redis), vec![spare_target.clone()]);
    let none = d.get_ok("/v1/targets?plugin=redis&unused=f").await.unwrap();
    assert_eq!(none, json!([]));
    let fs = d.get_ok("/v1/stores?plugin=fs").await.unwrap();
    assert_eq!(uuids(&fs), vec![f.store.clone()]);
    assert_eq!(
        d.get_ok("/v1/stores?plugin=nothing").await.unwrap(),
        json!([])
    );
}
