//! A catalog made by the release before retention rules and agents (schema 9), with rows in it,
//! opened by this one: its rows migrate as the README says.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::*;

#[tokio::test]
async fn a_schema_9_catalog_upgrades_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let options = SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(&path)
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    let mut old = sqlx::migrate!("./migrations");
    old.migrations = std::borrow::Cow::Owned(
        old.migrations
            .iter()
            .filter(|m| m.version <= 9)
            .cloned()
            .collect(),
    );
    old.run(&pool).await.unwrap();
    for sql in [
        "INSERT INTO targets (uuid, name, plugin, endpoint, agent) VALUES
           ('00000000-0000-4000-8000-000000000001', 'here', 'fs', '{}', '127.0.0.1:5444'),
           ('00000000-0000-4000-8000-000000000002', 'there', 'fs', '{}', '10.0.0.5:5444'),
           ('00000000-0000-4000-8000-000000000003', 'twice', 'fs', '{}', 'localhost:5444')",
        "INSERT INTO stores (uuid, name, plugin, endpoint) VALUES
           ('00000000-0000-4000-8000-000000000011', 's', 'fs', '{}')",
        "INSERT INTO schedules (uuid, name, timespec) VALUES
           ('00000000-0000-4000-8000-000000000021', 'n', 'daily at 4:00')",
        "INSERT INTO retention (uuid, name, expiry) VALUES
           ('00000000-0000-4000-8000-000000000031', 'week', 604800)",
        // One job of 'here' into 's'; two of 'twice' into 's'; none of 'there'.
        "INSERT INTO jobs (uuid, name, target_uuid, store_uuid, schedule_uuid, retention_uuid) VALUES
           ('00000000-0000-4000-8000-000000000041', 'j', '00000000-0000-4000-8000-000000000001',
            '00000000-0000-4000-8000-000000000011', '00000000-0000-4000-8000-000000000021',
            '00000000-0000-4000-8000-000000000031'),
           ('00000000-0000-4000-8000-000000000042', 'k', '00000000-0000-4000-8000-000000000003',
            '00000000-0000-4000-8000-000000000011', '00000000-0000-4000-8000-000000000021',
            '00000000-0000-4000-8000-000000000031'),
           ('00000000-0000-4000-8000-000000000043', 'l', '00000000-0000-4000-8000-000000000003',
            '00000000-0000-4000-8000-000000000011', '00000000-0000-4000-8000-000000000021',
            '00000000-0000-4000-8000-000000000031')",
        "INSERT INTO archives (uuid, target_uuid, store_uuid, store_key, taken_at, expires_at) VALUES
           ('00000000-0000-4000-8000-000000000051', '00000000-0000-4000-8000-000000000001',
            '00000000-0000-4000-8000-000000000011', 'a', 1000, 605800),
           ('00000000-0000-4000-8000-000000000052', '00000000-0000-4000-8000-000000000003',
            '00000000-0000-4000-8000-000000000011', 'b', 1000, 4600)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let c = Catalog::open(&path).await.unwrap();
    assert_eq!(c.schema_version().await.unwrap(), 13);
    // Jobs from before have no steps.
    let jobs = c.list_jobs(&crate::JobFilter::default()).await.unwrap();
    assert!(!jobs.is_empty());
    assert!(jobs.iter().all(|j| j.steps == "[]"), "{jobs:?}");
    // Loopback agents were the daemon's own host: now `local`; other addresses stay.
    let agents: Vec<(String, String)> =
        sqlx::query_as("SELECT name, agent FROM targets ORDER BY name")
            .fetch_all(&c.pool)
            .await
            .unwrap();
    assert_eq!(
        agents,
        [
            ("here".to_string(), "local".to_string()),
            ("there".to_string(), "10.0.0.5:5444".to_string()),
            ("twice".to_string(), "local".to_string()),
        ]
    );
    // An archive with one job of its target and store belongs to it and follows its policy;
    // one whose job cannot be told keeps the expiry it was given, as rules of its own.
    let members = c.retention_members(None, None).await.unwrap();
    let a = members
        .iter()
        .find(|m| m.item.id.to_string().ends_with("051"))
        .unwrap();
    assert!(a.group.starts_with("00000000-0000-4000-8000-000000000041/"));
    assert_eq!(a.rules.expires, Some(604_800));
    assert_eq!(a.rules.min_good, 1);
    let b = members
        .iter()
        .find(|m| m.item.id.to_string().ends_with("052"))
        .unwrap();
    assert!(b.group.starts_with("-/"), "{}", b.group);
    assert_eq!(b.rules.expires, Some(3600));
    // The policy is the same policy, with the guard on.
    let r = c.list_retention(None).await.unwrap().pop().unwrap();
    assert_eq!(r.rules.expires, Some(604_800));
    assert_eq!(r.rules.min_good, 1);
    // Schedules keep their text.
    assert_eq!(
        c.list_schedules(None).await.unwrap()[0].text,
        "daily at 4:00"
    );
}
