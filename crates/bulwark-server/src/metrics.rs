//! Prometheus metrics at `GET /metrics`, in the text exposition format (version 0.0.4).
//!
//! Most figures are read from the catalog at each scrape, so they agree with the API and
//! survive restarts: per job its last success and failure (Unix times), last duration, last
//! size and added bytes, runs by outcome (counters), health (a gauge per health word) and RPO;
//! tasks by kind and state; the queue; per store its size and archives. What only the running
//! daemon knows is kept here: how long tasks took, by kind and plugin (histograms), and how late
//! the scheduler queued the last scheduled backup.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use bulwark_core::health::Health;

use crate::state::AppState;

/// The bucket bounds of task durations, in seconds: a second to a day.
const BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations at or below each bound (not yet cumulative).
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Recorded {
    /// By (op, plugin).
    durations: BTreeMap<(String, String), Histogram>,
    /// Seconds between a scheduled backup's due time and its queueing, last seen.
    scheduler_lag: Option<f64>,
}

/// What the running daemon measures itself.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Recorded>,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A task of kind `op` whose plugin is `plugin` took `secs`.
    pub fn task_took(&self, op: &str, plugin: &str, secs: f64) {
        let mut r = self.lock();
        let h = r
            .durations
            .entry((op.to_string(), plugin.to_string()))
            .or_default();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The scheduler queued a backup `secs` after it was due.
    pub fn scheduler_lag(&self, secs: f64) {
        self.lock().scheduler_lag = Some(secs);
    }
}

/// The text being written.
struct Out(String);

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// One job's labels and figures.
struct JobRow {
    labels: [(String, String); 4],
    health: Health,
    rpo: i64,
    figures: bulwark_catalog::JobFigures,
    drills: bulwark_catalog::JobDrills,
}

impl JobRow {
    fn labels(&self) -> Vec<(&str, &str)> {
        self.labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// What the jobs' restore drills found: when one last passed, its RTO, and whether the newest
/// failed.
fn drill_families(out: &mut Out, jobs: &[JobRow]) {
    out.family(
        "bulwark_job_last_verified_timestamp_seconds",
        "gauge",
        "When a restore drill of the job last passed (Unix time); absent before its first.",
    );
    for j in jobs {
        if let Some(d) = &j.drills.last_passed {
            let name = "bulwark_job_last_verified_timestamp_seconds";
            out.sample(name, &j.labels(), d.finished_at as f64);
        }
    }
    out.family(
        "bulwark_job_rto_seconds",
        "gauge",
        "The time to restore the last passed drill of the job measured.",
    );
    for j in jobs {
        if let Some(rto) = j.drills.last_passed.as_ref().and_then(|d| d.rto) {
            out.sample("bulwark_job_rto_seconds", &j.labels(), rto);
        }
    }
    out.family(
        "bulwark_job_drill_failing",
        "gauge",
        "1 when the job's newest restore drill failed, 0 when it did not; absent before its first.",
    );
    for j in jobs {
        if let Some(d) = &j.drills.last {
            let failed = d.outcome == bulwark_catalog::DrillOutcome::Failed;
            out.sample(
                "bulwark_job_drill_failing",
                &j.labels(),
                if failed { 1.0 } else { 0.0 },
            );
        }
    }
}

/// The whole exposition.
pub async fn render(st: &AppState) -> Result<String, bulwark_catalog::CatalogError> {
    let mut out = Out(String::new());
    let now = st.clock.now();
    out.family("bulwark_info", "gauge", "The daemon's version.");
    out.sample(
        "bulwark_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );

    let mut figures = st.catalog.job_figures().await?;
    let mut jobs = Vec::new();
    for j in st
        .catalog
        .list_jobs(&bulwark_catalog::JobFilter::default())
        .await?
    {
        let runs = st.catalog.job_runs(j.uuid).await?;
        let a = crate::jobhealth::assess(&j, &runs, now, st.tz, st.mode);
        jobs.push(JobRow {
            labels: [
                ("job_uuid".into(), j.uuid.to_string()),
                ("job_name".into(), j.name.clone()),
                ("target".into(), j.target.name.clone()),
                ("store".into(), j.store.name.clone()),
            ],
            health: a.health,
            rpo: a.effective_rpo,
            figures: figures.remove(&j.uuid.to_string()).unwrap_or_default(),
            drills: st.catalog.job_drills(j.uuid).await?,
        });
    }
    type Pick = fn(&bulwark_catalog::JobFigures) -> Option<i64>;
    let per_job: [(&str, &str, Pick); 5] = [
        (
            "bulwark_job_last_success_timestamp_seconds",
            "When the job's newest good backup ended (Unix time); absent before its first.",
            |f| f.last_success_at,
        ),
        (
            "bulwark_job_last_failure_timestamp_seconds",
            "When the job's newest failed backup ended (Unix time); absent if none failed.",
            |f| f.last_failure_at,
        ),
        (
            "bulwark_job_last_duration_seconds",
            "How long the job's newest finished backup took.",
            |f| f.last_duration,
        ),
        (
            "bulwark_job_last_size_bytes",
            "Bytes the job's newest archive holds.",
            |f| f.last_size,
        ),
        (
            "bulwark_job_last_added_bytes",
            "Bytes the job's newest archive added to its store.",
            |f| f.last_added,
        ),
    ];
    for (name, help, pick) in per_job {
        out.family(name, "gauge", help);
        for j in &jobs {
            if let Some(v) = pick(&j.figures) {
                out.sample(name, &j.labels(), v as f64);
            }
        }
    }
    out.family(
        "bulwark_job_runs_total",
        "counter",
        "Finished backups of the job, by outcome (done, failed, canceled).",
    );
    for j in &jobs {
        for outcome in ["done", "failed", "canceled"] {
            let mut l = j.labels();
            l.push(("outcome", outcome));
            let n = j.figures.runs.get(outcome).copied().unwrap_or(0);
            out.sample("bulwark_job_runs_total", &l, n as f64);
        }
    }
    out.family(
        "bulwark_job_health",
        "gauge",
        "1 for the job's health (ok, late, failing, never, paused), 0 for the others.",
    );
    for j in &jobs {
        for h in Health::ALL {
            let mut l = j.labels();
            l.push(("health", h.as_str()));
            let v = if h == j.health { 1.0 } else { 0.0 };
            out.sample("bulwark_job_health", &l, v);
        }
    }
    out.family(
        "bulwark_job_rpo_seconds",
        "gauge",
        "How old the job's newest good archive may be before it is late.",
    );
    for j in &jobs {
        out.sample("bulwark_job_rpo_seconds", &j.labels(), j.rpo as f64);
    }
    drill_families(&mut out, &jobs);

    let counts = st.catalog.task_counts().await?;
    out.family(
        "bulwark_tasks",
        "gauge",
        "Tasks in the catalog, by kind and state.",
    );
    for (op, status, n) in &counts {
        out.sample(
            "bulwark_tasks",
            &[("op", op), ("status", status)],
            *n as f64,
        );
    }
    let pending: i64 = counts
        .iter()
        .filter(|c| c.1 == "pending")
        .map(|c| c.2)
        .sum();
    out.family(
        "bulwark_queue_length",
        "gauge",
        "Tasks waiting for a worker.",
    );
    out.sample("bulwark_queue_length", &[], pending as f64);

    let stores = st.catalog.list_stores(None, None).await?;
    let mut usage = Vec::new();
    for s in stores {
        let u = st.catalog.store_usage(s.uuid, now.timestamp()).await?;
        usage.push((s.uuid.to_string(), s.name, s.plugin, u));
    }
    type Figure = fn(&bulwark_catalog::StoreUsage) -> i64;
    let per_store: [(&str, &str, Figure); 3] = [
        (
            "bulwark_store_size_bytes",
            "Bytes the store keeps for its archives (a repository's packs as last measured, plus what was added since).",
            |u| u.stored,
        ),
        (
            "bulwark_store_archive_bytes",
            "Bytes the store's valid archives hold before deduplication and compression.",
            |u| u.size,
        ),
        (
            "bulwark_store_archives",
            "Valid archives in the store.",
            |u| u.archives,
        ),
    ];
    for (name, help, pick) in per_store {
        out.family(name, "gauge", help);
        for (uuid, store, plugin, u) in &usage {
            let l = [
                ("store_uuid", uuid.as_str()),
                ("store", store),
                ("plugin", plugin),
            ];
            out.sample(name, &l, pick(u) as f64);
        }
    }

    let recorded = st.engine.metrics();
    let r = recorded.lock();
    out.family(
        "bulwark_scheduler_lag_seconds",
        "gauge",
        "How long after its due time the scheduler queued the last scheduled backup.",
    );
    if let Some(lag) = r.scheduler_lag {
        out.sample("bulwark_scheduler_lag_seconds", &[], lag);
    }
    out.family(
        "bulwark_task_duration_seconds",
        "histogram",
        "How long tasks ran their plugins, by kind and plugin (the target's for backups and restores, the store's otherwise), since the daemon started.",
    );
    for ((op, plugin), h) in &r.durations {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(h.counts) {
            cumulative += n;
            let le = bound.to_string();
            let l = [
                ("op", op.as_str()),
                ("plugin", plugin.as_str()),
                ("le", le.as_str()),
            ];
            out.sample(
                "bulwark_task_duration_seconds_bucket",
                &l,
                cumulative as f64,
            );
        }
        let l = [
            ("op", op.as_str()),
            ("plugin", plugin.as_str()),
            ("le", "+Inf"),
        ];
        out.sample("bulwark_task_duration_seconds_bucket", &l, h.count as f64);
        let l = [("op", op.as_str()), ("plugin", plugin.as_str())];
        out.sample("bulwark_task_duration_seconds_sum", &l, h.sum);
        out.sample("bulwark_task_duration_seconds_count", &l, h.count as f64);
    }
    Ok(out.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a "b" \c"#), r#"a \"b\" \\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }

    #[test]
    fn durations_fall_in_their_buckets() {
        let r = Recorder::default();
        r.task_took("backup", "postgres", 0.5);
        r.task_took("backup", "postgres", 100.0);
        r.task_took("backup", "postgres", 200_000.0);
        let rec = r.lock();
        let h = &rec.durations[&("backup".to_string(), "postgres".to_string())];
        assert_eq!(h.count, 3);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[5], 1, "100 s is in the 300 s bucket");
        assert_eq!(
            h.counts.iter().sum::<u64>(),
            2,
            "over a day is only in +Inf"
        );
        assert!((h.sum - 200_100.5).abs() < 1e-6);
    }
}
