//! `/metrics`, parsed with a Prometheus text-format parser and checked against what the API
//! says; who may read it; and the shipped alert rules and dashboard.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use prometheus_parse::{Sample, Scrape, Value as PValue};
use serde_json::{Value, json};

use crate::engine::{backup_archive, engine_daemon, finished, run_job, wire};
use bulwark_testkit::TestDaemon;

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn value(s: &Sample) -> f64 {
    match &s.value {
        PValue::Counter(v) | PValue::Gauge(v) | PValue::Untyped(v) => *v,
        other => panic!("{} is not a plain value: {other:?}", s.metric),
    }
}

/// The value of `metric` whose labels include `want`.
fn find(scrape: &Scrape, metric: &str, want: &[(&str, &str)]) -> Option<f64> {
    let hits: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && want.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(
        hits.len() <= 1,
        "{metric} {want:?} matches {} samples",
        hits.len()
    );
    hits.first().map(|s| value(s))
}

fn unix(api_time: &Value) -> f64 {
    chrono::NaiveDateTime::parse_from_str(api_time.as_str().unwrap(), "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp() as f64
}

async fn metrics_text(d: &TestDaemon, token: Option<&str>) -> (u16, String) {
    let mut req = d.bare(reqwest::Method::GET, "/metrics");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    }
    (status, r.text().await.unwrap())
}

/// promtool: from BULWARK_PROMTOOL (CI unpacks Debian's prometheus package) or PATH.
fn promtool() -> Option<String> {
    let path = std::env::var("BULWARK_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    crate::servers::have(&path, "prometheus (promtool; .ci/run unpacks it)").then_some(path)
}

#[tokio::test]
async fn metrics_agree_with_the_api_and_need_a_token_of_their_scope() {
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), vec![7u8; 300_000]).unwrap();
    let store = json!({"base_dir": dir.path().join("store")});
    let good = wire(
        &d,
        ("shtarget", json!({"base_dir": src})),
        ("fs", store.clone()),
        3600,
    )
    .await;
    let bad = wire(
        &d,
        ("shtarget", json!({"base_dir": src, "mode": "fail"})),
        ("fs", store),
        3600,
    )
    .await;
    backup_archive(&d, &good.job).await;
    let last = backup_archive(&d, &good.job).await;
    assert_eq!(
        finished(&d, &run_job(&d, &bad.job).await).await["status"],
        "failed"
    );

    // Who may read it.
    assert_eq!(metrics_text(&d, None).await.0, 401);
    let scoped = d
        .post_ok(
            "/v1/auth/tokens",
            &json!({"name": "prometheus", "scope": "metrics", "role": "viewer"}),
        )
        .await
        .unwrap();
    assert_eq!(scoped["scope"], "metrics");
    let token = scoped["token"].as_str().unwrap();
    assert_eq!(d.status_as(Some(token), "/v1/jobs").await.unwrap(), 403);
    assert_eq!(
        d.status_as(Some(token), "/v1/auth/whoami").await.unwrap(),
        403
    );
    let bad_scope = d
        .post(
            "/v1/auth/tokens",
            &json!({"name": "x", "scope": "everything"}),
        )
        .await
        .unwrap();
    assert_eq!(bad_scope.0, 400, "{}", bad_scope.1);
    let (status, text) = metrics_text(&d, Some(token)).await;
    assert_eq!(status, 200, "{text}");
    let m = parse(&text);

    // Per job, as the API says.
    let g = d.get_ok(&format!("/v1/job/{}", good.job)).await.unwrap();
    let b = d.get_ok(&format!("/v1/job/{}", bad.job)).await.unwrap();
    let gl = [("job_uuid", good.job.as_str())];
    let bl = [("job_uuid", bad.job.as_str())];
    let runs = |labels: &[(&str, &str)], outcome: &str| {
        let mut l = labels.to_vec();
        l.push(("outcome", outcome));
        find(&m, "bulwark_job_runs_total", &l)
    };
    assert_eq!(runs(&gl, "done"), Some(2.0));
    assert_eq!(runs(&gl, "failed"), Some(0.0));
    assert_eq!(runs(&bl, "failed"), Some(1.0));
    assert_eq!(
        find(&m, "bulwark_job_last_success_timestamp_seconds", &gl),
        Some(unix(&g["last_success"]["at"]))
    );
    assert_eq!(
        find(&m, "bulwark_job_last_success_timestamp_seconds", &bl),
        None
    );
    assert_eq!(
        find(&m, "bulwark_job_last_failure_timestamp_seconds", &bl),
        Some(unix(&b["last_run"]["at"]))
    );
    assert_eq!(
        find(&m, "bulwark_job_last_size_bytes", &gl),
        last["size"].as_f64()
    );
    assert_eq!(
        find(&m, "bulwark_job_last_added_bytes", &gl),
        last["added"].as_f64()
    );
    assert!(find(&m, "bulwark_job_last_duration_seconds", &gl).is_some());
    assert_eq!(
        find(&m, "bulwark_job_rpo_seconds", &gl),
        g["effective_rpo"].as_f64()
    );
    for (job, labels) in [(&g, &gl), (&b, &bl)] {
        for h in ["ok", "late", "failing", "never", "paused"] {
            let mut l = labels.to_vec();
            l.push(("health", h));
            let want = if job["health"] == h { 1.0 } else { 0.0 };
            assert_eq!(find(&m, "bulwark_job_health", &l), Some(want), "{h}");
        }
    }
    let name = g["name"].as_str().unwrap();
    assert_eq!(
        find(
            &m,
            "bulwark_job_health",
            &[
                ("job_name", name),
                ("health", "ok"),
                ("store", g["store_name"].as_str().unwrap())
            ]
        ),
        Some(1.0)
    );

    // Tasks, the queue, the store.
    assert_eq!(
        find(&m, "bulwark_tasks", &[("op", "backup"), ("status", "done")]),
        Some(2.0)
    );
    assert_eq!(
        find(
            &m,
            "bulwark_tasks",
            &[("op", "backup"), ("status", "failed")]
        ),
        Some(1.0)
    );
    assert_eq!(find(&m, "bulwark_queue_length", &[]), Some(0.0));
    let s = d
        .get_ok(&format!("/v1/store/{}", good.store))
        .await
        .unwrap();
    let sl = [("store_uuid", good.store.as_str())];
    assert_eq!(
        find(&m, "bulwark_store_archives", &sl),
        s["usage"]["archives"].as_f64()
    );
    assert_eq!(
        find(&m, "bulwark_store_size_bytes", &sl),
        s["usage"]["stored"].as_f64()
    );
    assert_eq!(
        find(&m, "bulwark_store_archive_bytes", &sl),
        s["usage"]["size"].as_f64()
    );
    assert_eq!(find(&m, "bulwark_store_archives", &sl), Some(2.0));

    // Task durations: a histogram of the three backups, by plugin.
    let hist: Vec<&Sample> = m
        .samples
        .iter()
        .filter(|s| s.metric == "bulwark_task_duration_seconds")
        .collect();
    assert_eq!(hist.len(), 1, "{hist:?}");
    assert_eq!(hist[0].labels.get("plugin"), Some("shtarget"));
    match &hist[0].value {
        PValue::Histogram(buckets) => {
            let inf = buckets
                .iter()
                .find(|b| b.less_than == f64::INFINITY)
                .unwrap();
            assert_eq!(inf.count, 3.0);
            assert!(
                buckets.windows(2).all(|w| w[0].count <= w[1].count),
                "cumulative"
            );
        }
        other => panic!("not a histogram: {other:?}"),
    }
    let docs: HashMap<String, String> = m.docs.clone();
    assert!(docs.keys().all(|k| k.starts_with("bulwark_")), "{docs:?}");

    // Prometheus' own linter agrees with the names and the format.
    if let Some(promtool) = promtool() {
        let out = crate::common::piped(Command::new(&promtool).args(["check", "metrics"]), &text);
        assert_eq!(out.0, 0, "promtool check metrics: {} {}", out.1, out.2);
        let rules =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/monitoring/bulwark-alerts.yml");
        let out = Command::new(&promtool)
            .arg("check")
            .arg("rules")
            .arg(&rules)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test]
async fn metrics_can_be_open_by_configuration_and_the_docs_use_only_real_names() {
    let d = engine_daemon("[metrics]\npublic = true\n").await;
    let (status, text) = metrics_text(&d, None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        d.status_as(None, "/v1/jobs").await.unwrap(),
        401,
        "only /metrics is open"
    );
    let names: Vec<String> = parse(&text).docs.keys().cloned().collect();
    let known = |n: &str| {
        names.iter().any(|k| {
            n == k
                || [
                    k.clone() + "_bucket",
                    k.clone() + "_sum",
                    k.clone() + "_count",
                ]
                .iter()
                .any(|s| s == n)
        })
    };
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/monitoring");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(docs.join("grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let rules = std::fs::read_to_string(docs.join("bulwark-alerts.yml")).unwrap();
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    exprs.extend(
        rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr:"))
            .map(str::to_string),
    );
    assert!(exprs.len() > 10);
    for e in &exprs {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("bulwark_") {
                assert!(
                    known(word),
                    "{word} (in {e}) is not a metric the daemon serves"
                );
            }
        }
    }
}
