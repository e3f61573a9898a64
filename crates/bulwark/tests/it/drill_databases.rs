//! Restore drills of database jobs against throwaway real servers: each drill restores the
//! newest archive into a scratch target (another database on the same server, or another
//! Redis), verifies tables and row counts (keys, for Redis), and wipes the scratch target. The
//! plugins' `verify` names missing tables and wrong row counts; a scratch Redis too small for
//! the data fails its drill.

use serde_json::{Value, json};

use crate::databases::{PG_SEED, mysql_seed};
use crate::drills::plugin;
use crate::engine::{backup_archive, engine_daemon, finished, wire};
use crate::servers::{Mariadb, Postgres, Redis};
use bulwark_testkit::TestDaemon;

/// A job of `plugin` over `endpoint` into an fs store, whose drills go to a new scratch target
/// over `scratch`; returns the job after one backup.
async fn drilled_job(
    d: &TestDaemon,
    work: &std::path::Path,
    plugin: &str,
    endpoint: Value,
    scratch: Value,
) -> String {
    let w = wire(
        d,
        (plugin, endpoint),
        (
            "fs",
            json!({"base_dir": work.join(format!("blobs-{plugin}"))}),
        ),
        3600,
    )
    .await;
    let st = d
        .create("/v1/targets", &json!({"name": format!("{plugin} scratch"), "plugin": plugin, "endpoint": scratch, "agent": "127.0.0.1:1", "validate": false}))
        .await
        .unwrap();
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    let body = json!({"name": j["name"], "summary": "", "store": j["store_uuid"], "target": j["target_uuid"],
        "retention": j["retention_uuid"], "schedule": j["schedule_uuid"], "drill_target": st});
    let (s, b) = d.put(&format!("/v1/job/{}", w.job), &body).await.unwrap();
    assert_eq!(s, 200, "{b}");
    backup_archive(d, &w.job).await;
    w.job
}

async fn drill(d: &TestDaemon, job: &str) -> Value {
    let t = d
        .post_ok(&format!("/v1/job/{job}/drill"), &json!({}))
        .await
        .unwrap();
    finished(d, t["task_uuid"].as_str().unwrap()).await
}

#[tokio::test]
async fn postgres_drills_into_a_scratch_database() {
    let Some(pg) = Postgres::start("drill pw") else {
        return;
    };
    pg.sql("postgres", "CREATE DATABASE shop");
    pg.sql("shop", PG_SEED);
    pg.sql("shop", "CREATE SCHEMA \"Sales Dept\"; CREATE TABLE \"Sales Dept\".\"Odd \"\"Name\"\"\" (x int); INSERT INTO \"Sales Dept\".\"Odd \"\"Name\"\"\" SELECT generate_series(1, 7);");
    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;
    let job = drilled_job(
        &d,
        work.path(),
        "postgres",
        pg.endpoint(Some("shop")),
        pg.endpoint(Some("shop_drill")),
    )
    .await;
    let t = drill(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("has every table of the backup with its rows: 43 tables, 2011 rows"),
        "{log}"
    );
    assert!(log.contains("dropped database shop_drill"), "{log}");
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'shop_drill'"
        )
        .trim(),
        "0"
    );

    // What verify finds, through the plugin as any caller runs it.
    let (code, dump, err) = plugin("postgres", "backup", &pg.endpoint(Some("shop")), b"");
    assert_eq!(code, 0, "{err}");
    let check = pg.endpoint(Some("shop_check"));
    assert_eq!(plugin("postgres", "restore", &check, &dump).0, 0);
    assert_eq!(plugin("postgres", "verify", &check, &dump).0, 0);
    pg.sql(
        "shop_check",
        "DELETE FROM t7 WHERE id > 45; DROP TABLE \"Sales Dept\".\"Odd \"\"Name\"\"\";",
    );
    let (code, _, err) = plugin("postgres", "verify", &check, &dump);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("table public.t7 of database shop_check has 45 rows, not 50"),
        "{err}"
    );
    assert!(
        err.contains("table \"Sales Dept\".\"Odd \"\"Name\"\"\" of database shop_check is missing"),
        "{err}"
    );
    assert_eq!(plugin("postgres", "wipe", &check, b"").0, 0);
    let (code, _, err) = plugin("postgres", "verify", &check, &dump);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("database shop_check is missing") || err.contains("does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn mariadb_drills_into_a_scratch_database() {
    let Some(m) = Mariadb::start("drill pw") else {
        return;
    };
    m.sql(&mysql_seed());
    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;
    let job = drilled_job(
        &d,
        work.path(),
        "mysql",
        m.endpoint(Some("shop")),
        m.endpoint(Some("shop_drill")),
    )
    .await;
    let t = drill(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("has every table of the backup with its rows: 42 tables, 2005 rows"),
        "{log}"
    );
    assert!(log.contains("dropped database shop_drill"), "{log}");
    assert!(!m.sql("SHOW DATABASES").lines().any(|l| l == "shop_drill"));

    let (code, dump, err) = plugin("mysql", "backup", &m.endpoint(Some("shop")), b"");
    assert_eq!(code, 0, "{err}");
    let check = m.endpoint(Some("shop_check"));
    assert_eq!(plugin("mysql", "restore", &check, &dump).0, 0);
    assert_eq!(plugin("mysql", "verify", &check, &dump).0, 0);
    m.sql("DELETE FROM shop_check.t3 WHERE id <= 10; DROP TABLE shop_check.blobs;");
    let (code, _, err) = plugin("mysql", "verify", &check, &dump);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("table shop_check.t3 has 40 rows, not 50"),
        "{err}"
    );
    assert!(err.contains("table shop_check.blobs is missing"), "{err}");
}

#[tokio::test]
async fn redis_drills_into_a_scratch_server_and_one_too_small_fails() {
    let (Some(prod), Some(scratch)) = (Redis::start("prod pw"), Redis::start("scratch pw")) else {
        return;
    };
    let mut c = prod.conn();
    for db in [0u8, 3] {
        redis::cmd("SELECT").arg(db).exec(&mut c).unwrap();
        for i in 0..300 {
            redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(vec![b'x'; 20_000])
                .exec(&mut c)
                .unwrap();
        }
        redis::cmd("RPUSH")
            .arg("list")
            .arg(&["a", "b"])
            .exec(&mut c)
            .unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;
    let job = drilled_job(
        &d,
        work.path(),
        "redis",
        prod.endpoint(),
        scratch.endpoint(),
    )
    .await;
    let t = drill(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("holds every key of the backup (602 keys in 2 database(s)"),
        "{log}"
    );
    assert!(log.contains("flushed every database"), "{log}");
    let mut s = scratch.conn();
    let n: i64 = redis::cmd("DBSIZE").query(&mut s).unwrap();
    assert_eq!(n, 0, "the scratch server was not flushed");

    // A scratch server that evicts keys to stay under 2 MB: the restore goes through, the
    // verify finds keys missing, and the drill fails.
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-random")
        .exec(&mut s)
        .unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("2mb")
        .exec(&mut s)
        .unwrap();
    let t = drill(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    let last = t["log"]
        .as_str()
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        last.starts_with("Failed: the drill failed: the restored data did not verify"),
        "{last}"
    );
    assert!(last.contains("is missing"), "{last}");
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    assert_eq!(j["last_drill"]["outcome"], "failed");
    assert!(
        j["last_drill"]["rto"].as_f64().is_some(),
        "the restore itself finished: {j}"
    );
}
