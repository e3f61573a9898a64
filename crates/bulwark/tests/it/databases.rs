//! The database targets end to end, against throwaway real servers: each is seeded with tricky
//! data, backed up through the daemon into a plain fs store and into a repository store, then
//! damaged, restored, and compared exactly. Then what goes wrong: a wrong password, an
//! unreachable server, a missing database or tool, each a failed task with one clear line, no
//! archive, and the password in no log, task output or process command line.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::engine::{archives_of, engine_daemon, finished, run_job, wire};
use crate::repository::{backup, restore};
use crate::servers::{self, Mariadb, Postgres, Rabbit, Redis, free_port};

/// The two kinds of store every database is tested against, new ones on each call.
fn stores(work: &Path) -> Vec<(&'static str, Value)> {
    let tag = uuid::Uuid::new_v4();
    vec![
        (
            "fs",
            json!({"base_dir": work.join(format!("fs-store-{tag}"))}),
        ),
        (
            "repository",
            json!({"path": work.join(format!("repository-{tag}"))}),
        ),
    ]
}

/// Reads every process's command line until stopped, keeping those that hold `needle`.
struct ArgvWatch {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<String>>,
}

impl ArgvWatch {
    fn start(needle: &str) -> ArgvWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let needle = needle.as_bytes().to_vec();
        let handle = std::thread::spawn(move || {
            let mut hits = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Ok(argv) = std::fs::read(e.path().join("cmdline")) else {
                        continue;
                    };
                    if argv.windows(needle.len()).any(|w| w == needle.as_slice()) {
                        hits.push(String::from_utf8_lossy(&argv).replace('\0', " "));
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            hits
        });
        ArgvWatch { stop, handle }
    }

    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Backs up `endpoint` into each kind of store, wrecks the data, restores and compares, and
/// checks that `secret` appears nowhere. Returns the archives (one per store).
async fn cycle(
    d: &TestDaemon,
    work: &Path,
    plugin: &str,
    endpoint: &Value,
    secret: &str,
    state: &mut dyn FnMut() -> String,
    wreck: &mut dyn FnMut(),
) -> Vec<Value> {
    let mut archives = Vec::new();
    let before = state();
    for store in stores(work) {
        let kind = store.0;
        let w = wire(d, (plugin, endpoint.clone()), store, 3600).await;
        let watch = ArgvWatch::start(secret);
        let (task, archive) = backup(d, &w).await;
        wreck();
        assert_ne!(state(), before, "{plugin}: the wreck changed nothing");
        let t = restore(d, &archive, &w.target).await;
        let hits = watch.finish();
        assert_eq!(t["status"], "done", "{plugin} into {kind}: {}", t["log"]);
        let after = state();
        if after != before {
            let lost: Vec<&str> = before
                .lines()
                .filter(|l| !after.contains(l))
                .take(20)
                .collect();
            let new: Vec<&str> = after
                .lines()
                .filter(|l| !before.contains(l))
                .take(20)
                .collect();
            panic!(
                "{plugin} through {kind}: restored data differs\nonly before: {lost:#?}\nonly after: {new:#?}"
            );
        }
        assert!(
            hits.is_empty(),
            "the password was on a command line: {hits:?}"
        );
        for log in [&task["log"], &t["log"]] {
            assert!(!log.to_string().contains(secret), "{plugin}: {log}");
        }
        if kind == "repository" {
            assert_eq!(archive["format"], "stream");
        }
        archives.push(archive);
    }
    assert!(
        !d.log().contains(secret),
        "the daemon log holds the password"
    );
    archives
}

/// What `validate` says of an endpoint, through the API.
async fn validate(d: &TestDaemon, plugin: &str, endpoint: &Value) -> (Value, String) {
    let v = d
        .post_ok(
            &format!("/v1/plugin/{plugin}/validate"),
            &json!({ "endpoint": endpoint }),
        )
        .await
        .unwrap();
    let out = v["output"].as_str().unwrap_or("").trim().to_string();
    (v["valid"].clone(), out)
}

/// A backup of `endpoint` must fail with `needle` in one line, leave no archive, and keep
/// `secrets` out of the task log; `validate` must say the same.
async fn refused(
    d: &TestDaemon,
    work: &Path,
    plugin: &str,
    endpoint: Value,
    needle: &str,
    secrets: &[&str],
) {
    let (valid, out) = validate(d, plugin, &endpoint).await;
    assert_eq!(valid, false, "{plugin} {endpoint}: {out}");
    assert_eq!(out.lines().count(), 1, "one line: {out}");
    assert!(
        out.contains(needle),
        "{plugin}: expected '{needle}' in: {out}"
    );
    let w = wire(
        d,
        (plugin, endpoint.clone()),
        ("fs", json!({"base_dir": work.join("fs-store")})),
        3600,
    )
    .await;
    let task = finished(d, &run_job(d, &w.job).await).await;
    assert_eq!(task["status"], "failed", "{plugin} {endpoint}: {task}");
    let log = task["log"].as_str().unwrap();
    assert!(
        log.contains(needle),
        "{plugin}: expected '{needle}' in the task log: {log}"
    );
    assert!(
        archives_of(d, &w.target).await.is_empty(),
        "a failed backup left an archive"
    );
    for s in secrets {
        assert!(
            !log.contains(s),
            "{plugin}: a password in the task log: {log}"
        );
        assert!(
            !out.contains(s),
            "{plugin}: a password in validate's output: {out}"
        );
        assert!(
            !d.log().contains(s),
            "{plugin}: a password in the daemon log"
        );
    }
}

fn with(endpoint: &Value, key: &str, value: Value) -> Value {
    let mut e = endpoint.clone();
    e[key] = value;
    e
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

pub(crate) const PG_SEED: &str = r#"
CREATE TABLE people (id serial PRIMARY KEY, name text, note text, born date, data jsonb);
INSERT INTO people (name, note, born, data) VALUES
  ('Zoë ✓ 名前 🦀', NULL, '1990-01-02', '{"a": [1, null, "ü"]}'),
  (E'tab\there', E'line\nbreak', NULL, NULL),
  ('', '', NULL, 'null');
CREATE TABLE blobs (id int PRIMARY KEY, body bytea);
INSERT INTO blobs SELECT 1, (SELECT string_agg(sha256(i::text::bytea), ''::bytea) FROM generate_series(1, 360000) i);
DO $$ BEGIN FOR i IN 1..40 LOOP
  EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i);
  EXECUTE format('INSERT INTO t%s SELECT g, md5(g::text) FROM generate_series(1, 50) g', i);
END LOOP; END $$;
CREATE SEQUENCE invoice_no START 1000;
SELECT setval('invoice_no', 1234);
CREATE VIEW adults AS SELECT name FROM people WHERE born < '2000-01-01';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN NEW.note := coalesce(NEW.note, 'touched'); RETURN NEW; END $f$;
CREATE TRIGGER people_touch BEFORE INSERT ON people FOR EACH ROW EXECUTE FUNCTION touch();
"#;

/// Every table's and view's row count and a digest of its rows, the sequence, the triggers and
/// the view's definition.
fn pg_state(pg: &Postgres, db: &str) -> String {
    let rows = pg.sql(
        db,
        "SELECT string_agg(format('%s %s %s', c.relname,
            (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text,
            (xpath('/row/m/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) AS m FROM %I x', '|', '', c.relname), false, true, '')))[1]::text),
            E'\\n' ORDER BY c.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')",
    );
    let seq = pg.sql(db, "SELECT last_value || ',' || is_called FROM invoice_no");
    // The wreck drops the view; its absence is part of the state.
    let triggers = pg.sql(
        db,
        "SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal",
    );
    let view = pg.sql(
        db,
        "SELECT coalesce((SELECT pg_get_viewdef(oid) FROM pg_class WHERE relname = 'adults'), 'no view')",
    );
    format!("{rows}\nseq {seq}triggers {triggers}view {view}")
}

fn pg_wreck(pg: &Postgres) {
    pg.sql(
        "shop",
        "DROP VIEW adults; DROP TABLE blobs; UPDATE people SET name = 'changed';
         DELETE FROM t7; TRUNCATE t12; SELECT nextval('invoice_no');
         DROP TRIGGER people_touch ON people;",
    );
}

#[tokio::test]
async fn postgres_one_database_and_the_whole_cluster() {
    let secret = "pg S3cret/pw'\"";
    let Some(pg) = Postgres::start(secret) else {
        return;
    };
    pg.sql("postgres", "CREATE DATABASE shop");
    pg.sql("shop", PG_SEED);
    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;

    let ep = pg.endpoint(Some("shop"));
    let (valid, out) = validate(&d, "postgres", &ep).await;
    assert_eq!(valid, true, "{out}");
    let archives = cycle(
        &d,
        work.path(),
        "postgres",
        &ep,
        secret,
        &mut || pg_state(&pg, "shop"),
        &mut || pg_wreck(&pg),
    )
    .await;
    // The dump is pg_dump's custom format, uncompressed: the 11 MB value is in it whole.
    assert!(
        archives[0]["size"].as_i64().unwrap() > 11_000_000,
        "{}",
        archives[0]
    );

    // Restore anywhere: into a database that does not exist yet, which is created.
    let copy = d
        .create(
            "/v1/targets",
            &json!({"name": "shop copy", "plugin": "postgres", "endpoint": pg.endpoint(Some("shop copy ✓")), "agent": "127.0.0.1:1"}),
        )
        .await
        .unwrap();
    let t = restore(&d, &archives[1], &copy).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("did not exist; created it")
    );
    assert_eq!(pg_state(&pg, "shop copy ✓"), pg_state(&pg, "shop"));

    // The whole cluster: roles and databases come back after being dropped.
    pg.sql("postgres", "CREATE ROLE app LOGIN PASSWORD 'app-pw'");
    pg.sql("postgres", "CREATE DATABASE crm OWNER app");
    pg.sql("crm", "CREATE TABLE notes (id int, body text); INSERT INTO notes VALUES (1, 'ünïcode'), (2, NULL)");
    let all = pg.endpoint(None);
    let cluster_state = || {
        format!(
            "{}|{}|{}",
            pg.sql("postgres", "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname !~ '^pg_'"),
            pg.sql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"),
            pg.sql("crm", "SELECT string_agg(id || ':' || coalesce(body, 'NULL'), ',' ORDER BY id) FROM notes"),
        )
    };
    cycle(
        &d,
        work.path(),
        "postgres",
        &all,
        secret,
        &mut || {
            // The database may be gone; its absence is part of the state.
            let dbs = pg.sql(
                "postgres",
                "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database",
            );
            if dbs.contains("crm") {
                cluster_state()
            } else {
                format!("no crm: {dbs}")
            }
        },
        &mut || {
            pg.sql("postgres", "DROP DATABASE crm");
            pg.sql("postgres", "DROP ROLE app");
        },
    )
    .await;

    // A single-database archive does not go into a cluster target, and the reverse.
    let cluster_target = d
        .create(
            "/v1/targets",
            &json!({"name": "cluster", "plugin": "postgres", "endpoint": all, "agent": "127.0.0.1:1"}),
        )
        .await
        .unwrap();
    let t = restore(&d, &archives[0], &cluster_target).await;
    assert_eq!(t["status"], "failed");
    assert!(
        t["log"].as_str().unwrap().contains("holds one database"),
        "{}",
        t["log"]
    );

    // What goes wrong, each with its one line.
    let wrong = "not-the-pg-password";
    refused(
        &d,
        work.path(),
        "postgres",
        with(&ep, "password", wrong.into()),
        "wrong password for user postgres",
        &[secret, wrong],
    )
    .await;
    refused(
        &d,
        work.path(),
        "postgres",
        with(&ep, "port", free_port().into()),
        "cannot reach PostgreSQL",
        &[secret],
    )
    .await;
    refused(
        &d,
        work.path(),
        "postgres",
        with(&ep, "database", "no_such_db".into()),
        "database no_such_db does not exist",
        &[secret],
    )
    .await;
    refused(
        &d,
        work.path(),
        "postgres",
        with(&ep, "bin_dir", "/nonexistent/bin".into()),
        "pg_dump is not installed",
        &[secret],
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB

pub(crate) fn mysql_seed() -> String {
    let mut s = String::from(
        r#"CREATE DATABASE shop;
USE shop;
CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100), note TEXT, born DATE);
INSERT INTO people (name, note, born) VALUES
  ('Zoë ✓ 名前 🦀', NULL, '1990-01-02'), ('tab\there', 'line\nbreak', NULL), ('', '', NULL);
CREATE TABLE blobs (id INT PRIMARY KEY, body LONGBLOB);
INSERT INTO blobs VALUES (1, REPEAT(UNHEX(SHA2('bulwark', 256)), 360000)), (2, UNHEX('00FF0D0A5C27221A'));
CREATE SEQUENCE invoice_no START WITH 1000;
SELECT SETVAL(invoice_no, 1234);
CREATE VIEW adults AS SELECT name FROM people WHERE born < '2000-01-01';
CREATE TRIGGER people_touch BEFORE INSERT ON people FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'touched');
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM people WHERE id < 0;
"#,
    );
    for i in 1..=40 {
        s.push_str(&format!(
            "CREATE TABLE t{i} (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO t{i} SELECT seq, MD5(seq) FROM seq_1_to_50;\n"
        ));
    }
    s
}

fn mysql_state(m: &Mariadb, db: &str) -> String {
    let q = |sql: &str| m.sql(&sql.replace("DB", db));
    let tables = q(
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'DB' ORDER BY TABLE_NAME",
    );
    let mut out = tables.clone();
    for line in tables.lines() {
        let mut cols = line.split('\t');
        let (name, kind) = (cols.next().unwrap(), cols.next().unwrap_or(""));
        if kind == "BASE TABLE" {
            out.push_str(&q(&format!("CHECKSUM TABLE `DB`.`{name}` EXTENDED")).replace(db, "DB"));
        }
    }
    // The wreck drops the view; its absence is part of the state.
    out.push_str(&m.sql_or_error(&format!("SELECT name FROM `{db}`.adults ORDER BY name")));
    out.push_str(&q("SELECT next_not_cached_value FROM `DB`.invoice_no"));
    out.push_str(&q("SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'DB'"));
    out.push_str(&q("SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'DB'"));
    out.push_str(&q("SELECT EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'DB'"));
    out.push_str(&q(
        "SELECT id, name, note, born FROM `DB`.people ORDER BY id",
    ));
    out
}

#[tokio::test]
async fn mysql_one_database_and_all() {
    let secret = "my S3cret\\pw'\"";
    let Some(m) = Mariadb::start(secret) else {
        return;
    };
    m.sql(&mysql_seed());
    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;
    let ep = m.endpoint(Some("shop"));
    let (valid, out) = validate(&d, "mysql", &ep).await;
    assert_eq!(valid, true, "{out}");
    let archives = cycle(&d, work.path(), "mysql", &ep, secret, &mut || mysql_state(&m, "shop"), &mut || {
        m.sql("USE shop; DROP VIEW adults; DROP TABLE blobs; UPDATE people SET name = 'changed'; DELETE FROM t7;
               DROP TRIGGER people_touch; DROP FUNCTION twice; DROP EVENT nightly; SELECT SETVAL(invoice_no, 5000);");
    })
    .await;
    assert!(
        archives[0]["size"].as_i64().unwrap() > 11_000_000,
        "{}",
        archives[0]
    );

    // Into another database, created on the way.
    let copy = d
        .create(
            "/v1/targets",
            &json!({"name": "shop copy", "plugin": "mysql", "endpoint": m.endpoint(Some("shop_copy")), "agent": "127.0.0.1:1"}),
        )
        .await
        .unwrap();
    let t = restore(&d, &archives[1], &copy).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(mysql_state(&m, "shop_copy"), mysql_state(&m, "shop"));

    // Every database: a dropped database comes back.
    m.sql("CREATE DATABASE crm; CREATE TABLE crm.notes (id INT, body TEXT); INSERT INTO crm.notes VALUES (1, 'ünïcode'), (2, NULL);");
    let crm = || {
        m.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'crm'")
            + &m.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'crm'")
    };
    let all = m.endpoint(None);
    cycle(
        &d,
        work.path(),
        "mysql",
        &all,
        secret,
        &mut || {
            let mut s = crm();
            if s.starts_with("crm") {
                s.push_str(&m.sql("SELECT id, body FROM crm.notes ORDER BY id"));
            }
            s
        },
        &mut || {
            m.sql("DROP DATABASE crm");
        },
    )
    .await;

    let wrong = "not-the-my-password";
    refused(
        &d,
        work.path(),
        "mysql",
        with(&ep, "password", wrong.into()),
        "wrong password (or no access) for user root",
        &[secret, wrong],
    )
    .await;
    refused(
        &d,
        work.path(),
        "mysql",
        with(&ep, "port", free_port().into()),
        "cannot reach MySQL/MariaDB",
        &[secret],
    )
    .await;
    refused(
        &d,
        work.path(),
        "mysql",
        with(&ep, "database", "no_such_db".into()),
        "database no_such_db does not exist",
        &[secret],
    )
    .await;
    refused(
        &d,
        work.path(),
        "mysql",
        with(&ep, "bin_dir", "/nonexistent/bin".into()),
        "mariadb-dump is not installed",
        &[secret],
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Redis

/// Every key of every database: its type, its DUMP payload (the exact value) and whether it has
/// an expiry.
pub(crate) fn redis_state(r: &Redis) -> String {
    let mut c = r.conn();
    let mut out = BTreeMap::new();
    for db in 0..16 {
        redis::cmd("SELECT").arg(db).exec(&mut c).unwrap();
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
        for k in keys {
            let kind: String = redis::cmd("TYPE").arg(&k).query(&mut c).unwrap();
            // Sets and hashes in hash tables dump their members in table order, which a rebuilt
            // table need not repeat: those are compared by content, the rest byte for byte.
            let dump: Vec<u8> = match kind.as_str() {
                "set" => {
                    let mut m: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(&k).query(&mut c).unwrap();
                    m.sort();
                    m.concat()
                }
                "hash" => {
                    let mut m: Vec<(Vec<u8>, Vec<u8>)> =
                        redis::cmd("HGETALL").arg(&k).query(&mut c).unwrap();
                    m.sort();
                    m.into_iter()
                        .flat_map(|(a, b)| [a, b])
                        .collect::<Vec<_>>()
                        .concat()
                }
                _ => redis::cmd("DUMP").arg(&k).query(&mut c).unwrap(),
            };
            let ttl: i64 = redis::cmd("PTTL").arg(&k).query(&mut c).unwrap();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            dump.hash(&mut h);
            out.insert(
                (db, k.clone()),
                format!("{kind} {:x} {} ttl={}", h.finish(), dump.len(), ttl > 0),
            );
        }
    }
    let lines: Vec<String> = out
        .iter()
        .map(|((db, k), v)| format!("{db} {} {v}", String::from_utf8_lossy(k)))
        .collect();
    format!("{} keys\n{}", out.len(), lines.join("\n"))
}

#[tokio::test]
async fn redis_every_type_with_expiry() {
    let secret = "rd S3cret pw@!";
    let Some(r) = Redis::start(secret) else {
        return;
    };
    let mut c = r.conn();
    let q = |c: &mut redis::Connection, args: &[&[u8]]| {
        let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.exec(c).unwrap();
    };
    q(&mut c, &[b"SET", b"greeting", "Grüße ✓ 🦀".as_bytes()]);
    q(&mut c, &[b"SET", b"\x00bin\xffkey", b"\x00\x01\x02"]);
    q(&mut c, &[b"SET", b"counter", b"12345"]);
    let big: Vec<u8> = (0..11u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    q(&mut c, &[b"SET", b"big", &big]);
    q(
        &mut c,
        &[b"HSET", b"user:1", b"name", "Zoë".as_bytes(), b"empty", b""],
    );
    q(&mut c, &[b"RPUSH", b"queue", b"a", b"b", b"c"]);
    q(&mut c, &[b"SADD", b"tags", b"x", b"y", b"1"]);
    q(&mut c, &[b"SADD", b"ints", b"1", b"2", b"3"]);
    q(
        &mut c,
        &[
            b"ZADD", b"scores", b"-1.5", b"low", b"3", b"mid", b"inf", b"top",
        ],
    );
    q(&mut c, &[b"XADD", b"events", b"1-1", b"kind", b"created"]);
    q(&mut c, &[b"XADD", b"events", b"2-1", b"kind", b"paid"]);
    q(&mut c, &[b"XGROUP", b"CREATE", b"events", b"billing", b"0"]);
    redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("billing")
        .arg("worker")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg("events")
        .arg(">")
        .exec(&mut c)
        .unwrap();
    q(&mut c, &[b"SET", b"session", b"token", b"EX", b"3600"]);
    let mut p = redis::pipe();
    for i in 0..3000 {
        p.cmd("SET").arg(format!("k:{i}")).arg(i).ignore();
        p.cmd("RPUSH").arg(format!("l:{}", i % 50)).arg(i).ignore();
    }
    p.exec(&mut c).unwrap();
    q(&mut c, &[b"SELECT", b"3"]);
    q(&mut c, &[b"SET", b"elsewhere", b"db3"]);
    q(&mut c, &[b"SELECT", b"0"]);

    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;
    let ep = r.endpoint();
    cycle(
        &d,
        work.path(),
        "redis",
        &ep,
        secret,
        &mut || redis_state(&r),
        &mut || {
            let mut c = r.conn();
            redis::cmd("FLUSHALL").exec(&mut c).unwrap();
            redis::cmd("SET")
                .arg("junk")
                .arg("after the backup")
                .exec(&mut c)
                .unwrap();
        },
    )
    .await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg("session")
        .query(&mut r.conn())
        .unwrap();
    assert!(
        (3_000_000..=3_600_000).contains(&ttl),
        "the expiry came back: {ttl}"
    );

    let wrong = "not-the-rd-password";
    refused(
        &d,
        work.path(),
        "redis",
        with(&ep, "password", wrong.into()),
        "wrong password for user default",
        &[secret, wrong],
    )
    .await;
    refused(
        &d,
        work.path(),
        "redis",
        with(&ep, "password", Value::Null),
        "wants a password",
        &[secret],
    )
    .await;
    refused(
        &d,
        work.path(),
        "redis",
        with(&ep, "port", free_port().into()),
        "cannot reach Redis",
        &[secret],
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// SQLite

fn sqlite_state(path: &Path) -> String {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut out = String::new();
    let mut s = c
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name")
        .unwrap();
    let schema: Vec<(String, String, Option<String>)> = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for (kind, name, sql) in &schema {
        out.push_str(&format!("{kind} {name} {sql:?}\n"));
        if kind == "table" || kind == "view" {
            let mut rows = c.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
            let n = rows.column_count();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            let mut count = 0;
            let mut it = rows.query([]).unwrap();
            while let Some(row) = it.next().unwrap() {
                count += 1;
                for i in 0..n {
                    match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Null => 0u8.hash(&mut h),
                        rusqlite::types::ValueRef::Integer(v) => v.hash(&mut h),
                        rusqlite::types::ValueRef::Real(v) => v.to_bits().hash(&mut h),
                        rusqlite::types::ValueRef::Text(v) | rusqlite::types::ValueRef::Blob(v) => {
                            v.hash(&mut h)
                        }
                    }
                }
            }
            out.push_str(&format!("  {count} rows {:x}\n", h.finish()));
        }
    }
    out
}

#[tokio::test]
async fn sqlite_live_file_in_wal_mode() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("data/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let live = rusqlite::Connection::open(&db).unwrap();
    let mut seed = String::from(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, note TEXT, score REAL);
         INSERT INTO people (name, note, score) VALUES ('Zoë ✓ 名前 🦀', NULL, 1.5), ('', 'x', NULL);
         CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB);
         INSERT INTO blobs VALUES (1, randomblob(11 * 1024 * 1024));
         CREATE VIEW named AS SELECT name FROM people WHERE name <> '';
         CREATE TRIGGER touch AFTER INSERT ON people BEGIN UPDATE people SET note = coalesce(note, 'touched') WHERE id = NEW.id; END;
         CREATE INDEX people_name ON people(name);",
    );
    for i in 1..=40 {
        seed.push_str(&format!(
            "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t{i} (v) VALUES ('a'), ('b'), (NULL);"
        ));
    }
    live.execute_batch(&seed).unwrap();
    let d = engine_daemon("").await;
    let ep = json!({"path": db});
    let (valid, out) = validate(&d, "sqlite", &ep).await;
    assert_eq!(valid, true, "{out}");
    cycle(&d, work.path(), "sqlite", &ep, "no secret here", &mut || sqlite_state(&db), &mut || {
        live.execute_batch(
            "DROP VIEW named; DROP TABLE blobs; DELETE FROM t7; INSERT INTO people (name) VALUES ('new');
             UPDATE people SET score = 9 WHERE id = 1;",
        )
        .unwrap();
    })
    .await;
    // The connection that stayed open through the restore sees the restored database.
    let n: i64 = live
        .query_row("SELECT count(*) FROM people", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);

    let (valid, out) = validate(
        &d,
        "sqlite",
        &json!({"path": work.path().join("missing.db")}),
    )
    .await;
    assert_eq!(valid, false);
    assert!(out.contains("does not exist"), "{out}");
    refused(
        &d,
        work.path(),
        "sqlite",
        json!({"path": work.path().join("missing.db")}),
        "does not exist",
        &[],
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ

async fn rabbit_call(
    url: &str,
    auth: (&str, &str),
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let client = reqwest::Client::new();
    let mut rb = client
        .request(method.clone(), format!("{url}{path}"))
        .basic_auth(auth.0, Some(auth.1));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The definitions without what changes by itself (versions, the cluster id), arrays sorted.
fn canonical(mut defs: Value) -> String {
    let obj = defs.as_object_mut().unwrap();
    for k in [
        "rabbit_version",
        "rabbitmq_version",
        "product_name",
        "product_version",
        "global_parameters",
    ] {
        obj.remove(k);
    }
    let mut out = BTreeMap::new();
    for (k, v) in obj.iter() {
        let mut items: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(|i| i.to_string()).collect())
            .unwrap_or_default();
        items.sort();
        out.insert(k.clone(), items);
    }
    format!("{out:#?}")
}

#[tokio::test]
async fn rabbitmq_definitions() {
    let Some(rabbit) = Rabbit::start() else {
        return;
    };
    // The node keeps to its own port mapper: the machine's (4369) never hears of it.
    let short = rabbit.node.split('@').next().unwrap().to_string();
    assert!(
        Rabbit::epmd_names(rabbit.epmd_port).contains(&format!("name {short} at port")),
        "the node is not registered with its own epmd"
    );
    assert!(!Rabbit::epmd_names(4369).contains(&short));
    let url = rabbit.url();
    let guest = ("guest", "guest");
    let secret = "rb S3cret-pw";
    let put = reqwest::Method::PUT;
    rabbit_call(
        &url,
        guest,
        put.clone(),
        "/api/users/bulwark-admin",
        Some(json!({"password": secret, "tags": "administrator"})),
    )
    .await;
    let admin = ("bulwark-admin", secret);
    rabbit_call(
        &url,
        admin,
        put.clone(),
        "/api/permissions/%2F/bulwark-admin",
        Some(json!({"configure": ".*", "write": ".*", "read": ".*"})),
    )
    .await;
    rabbit_call(
        &url,
        admin,
        put.clone(),
        "/api/vhosts/shop%20✓",
        Some(json!({})),
    )
    .await;
    rabbit_call(
        &url,
        admin,
        put.clone(),
        "/api/users/app",
        Some(json!({"password": "app-pw", "tags": "monitoring"})),
    )
    .await;
    rabbit_call(
        &url,
        admin,
        put.clone(),
        "/api/permissions/shop%20✓/app",
        Some(json!({"configure": "^app", "write": ".*", "read": ".*"})),
    )
    .await;
    rabbit_call(
        &url,
        admin,
        put.clone(),
        "/api/exchanges/shop%20✓/orders",
        Some(json!({"type": "topic", "durable": true})),
    )
    .await;
    rabbit_call(
        &url,
        admin,
        put.clone(),
        "/api/queues/shop%20✓/orders.eu",
        Some(json!({"durable": true, "arguments": {"x-max-length": 1000}})),
    )
    .await;
    rabbit_call(
        &url,
        admin,
        reqwest::Method::POST,
        "/api/bindings/shop%20✓/e/orders/q/orders.eu",
        Some(json!({"routing_key": "eu.#"})),
    )
    .await;
    rabbit_call(&url, admin, put.clone(), "/api/policies/shop%20✓/ttl", Some(json!({"pattern": "^orders", "definition": {"message-ttl": 60000}, "apply-to": "queues"}))).await;

    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;
    let ep = json!({"url": url, "user": "bulwark-admin", "password": secret});
    let (valid, out) = validate(&d, "rabbitmq", &ep).await;
    assert_eq!(valid, true, "{out}");
    let defs = || {
        let out = servers::curl(
            "bulwark-admin",
            secret,
            &[&format!("{url}/api/definitions")],
        );
        canonical(serde_json::from_str(&out).unwrap())
    };
    assert!(defs().contains("orders.eu"));
    cycle(
        &d,
        work.path(),
        "rabbitmq",
        &ep,
        secret,
        &mut || defs(),
        &mut || {
            for path in ["/api/vhosts/shop%20%E2%9C%93", "/api/users/app"] {
                servers::curl(
                    "bulwark-admin",
                    secret,
                    &["-X", "DELETE", &format!("{url}{path}")],
                );
            }
        },
    )
    .await;

    let wrong = "not-the-rb-password";
    refused(
        &d,
        work.path(),
        "rabbitmq",
        with(&ep, "password", wrong.into()),
        "wrong password for user bulwark-admin",
        &[secret, wrong],
    )
    .await;
    refused(
        &d,
        work.path(),
        "rabbitmq",
        with(
            &ep,
            "url",
            format!("http://127.0.0.1:{}", free_port()).into(),
        ),
        "not AMQP's 5672), which needs the rabbitmq_management plugin",
        &[secret],
    )
    .await;
    refused(
        &d,
        work.path(),
        "rabbitmq",
        with(&ep, "vhost", "no-such-vhost".into()),
        "vhost no-such-vhost does not exist",
        &[secret],
    )
    .await;
    // Stopping the node stops its epmd too: nothing of the test outlives it.
    let epmd_port = rabbit.epmd_port;
    drop(rabbit);
    assert!(std::net::TcpStream::connect(("127.0.0.1", epmd_port)).is_err());
}
