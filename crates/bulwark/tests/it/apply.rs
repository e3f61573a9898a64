//! Configuration as code: `bulwark apply` makes a setup from a TOML file, changes nothing when
//! applied twice or in a dry run, and round-trips with `bulwark export`, secrets never inline.

use std::process::{Command, Stdio};

use bulwark_testkit::TestDaemon;
use serde_json::Value;

use crate::common::bin;

const SECRET: &str = "apply-s3cret-7781";

/// Runs the CLI with `APPLY_SECRET` in its environment.
fn run(d: &TestDaemon, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .args(["--api", &d.base_url])
        .env_remove("BULWARK_API")
        .env("BULWARK_TOKEN", d.token())
        .env("HOME", "/nonexistent")
        .env("APPLY_SECRET", SECRET)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Applies an exported file with the secrets it names in the environment: nothing changes.
fn unchanged_with_secrets(d: &TestDaemon, file: &std::path::Path) {
    let out = Command::new(bin())
        .args(["apply", file.to_str().unwrap(), "--api", &d.base_url])
        .env("BULWARK_TOKEN", d.token())
        .env("HOME", "/nonexistent")
        .env("BULWARK_SECRET_TARGET_DOCS_PASSWORD", SECRET)
        .env("BULWARK_SECRET_TARGET_DOCS_TOKEN", "tok-from-file")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("0 object(s) changed"), "{text}");
}

fn setup(root: &std::path::Path, priority: &str, when: &str) -> String {
    format!(
        r#"
[[schedule]]
name = "nightly"
when = "{when}"

[[retention]]
name = "gfs"
keep_daily = 7
keep_weekly = 4

[[store]]
name = "disk"
plugin = "fs"
endpoint = {{ base_dir = "{root}/store" }}

[[store]]
name = "offsite"
plugin = "fs"
endpoint = {{ base_dir = "{root}/offsite" }}

[[target]]
name = "docs"
plugin = "fs"
endpoint = {{ base_dir = "{root}/src", password = "${{env:APPLY_SECRET}}", token = "${{file:{root}/token}}" }}

[[job]]
name = "docs nightly"
target = "docs"
store = "disk"
schedule = "nightly"
retention = "gfs"
paused = true
priority = "{priority}"
bandwidth = "50M"
watch = {{ settle = 30, min_interval = 600 }}
copies = [{{ store = "offsite", retention = "gfs", retry_delay = "10m" }}]

[[job.steps]]
name = "lock"
when = "before_backup"
command = ["/bin/true"]

[[job.steps]]
name = "unlock"
when = "after_backup"
always = true
command = ["/bin/true"]
"#,
        root = root.display()
    )
}

async fn count(d: &TestDaemon, path: &str) -> usize {
    d.get_ok(path).await.unwrap().as_array().unwrap().len()
}

#[tokio::test]
async fn apply_makes_the_setup_once_and_export_round_trips() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    std::fs::create_dir(root.join("src")).unwrap();
    std::fs::write(root.join("token"), "tok-from-file\n").unwrap();
    let file = root.join("setup.toml");
    std::fs::write(&file, setup(&root, "inferior", "daily at 4am")).unwrap();
    let file = file.to_str().unwrap();
    let d = TestDaemon::start_with(bin(), "").await.unwrap();

    // A dry run says what it would make and makes nothing.
    let (code, out, err) = run(&d, &["apply", file, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("create schedule 'nightly'"), "{out}");
    assert!(out.contains("create store 'disk'"), "{out}");
    assert!(out.contains("create job 'docs nightly'"), "{out}");
    assert!(out.contains("6 object(s) would change"), "{out}");
    for path in [
        "/v1/schedules",
        "/v1/retention",
        "/v1/stores",
        "/v1/targets",
        "/v1/jobs",
    ] {
        assert_eq!(count(&d, path).await, 0, "{path}");
    }

    // Applied: everything made, names resolved, words mapped, secrets from the environment and
    // a file (the daemon holds them, shows them redacted).
    let (code, out, err) = run(&d, &["apply", file]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("6 object(s) changed"), "{out}");
    let job = &d.get_ok("/v1/jobs").await.unwrap()[0];
    assert_eq!(job["priority"], 75);
    assert_eq!(job["bandwidth"], 50 << 20);
    assert_eq!(job["paused"], true);
    assert_eq!(job["watch"]["settle"], 30);
    assert_eq!(job["steps"].as_array().unwrap().len(), 2);
    assert_eq!(job["target_name"], "docs");
    assert_eq!(job["copies"][0]["store_name"], "offsite");
    assert_eq!(job["copies"][0]["retention_name"], "gfs");
    assert_eq!(job["copies"][0]["retry_delay"], 600);
    let target = &d.get_ok("/v1/targets").await.unwrap()[0];
    let ep: Value = serde_json::from_str(target["endpoint"].as_str().unwrap()).unwrap();
    assert_eq!(ep["password"], "<redacted>");
    assert_eq!(ep["token"], "<redacted>");
    assert!(!out.contains(SECRET) && !err.contains(SECRET));

    // Again: nothing changes.
    let (code, out, err) = run(&d, &["apply", file]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 object(s) changed"), "{out}");
    assert!(!out.contains("update "), "{out}");

    // A changed file: the dry run shows the changes and makes none; applying makes them.
    std::fs::write(file, setup(&root, "normal", "daily at 5am")).unwrap();
    let (code, out, _) = run(&d, &["apply", file, "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("update job 'docs nightly': priority: 75 -> 50"),
        "{out}"
    );
    assert!(out.contains("update schedule 'nightly': when"), "{out}");
    assert_eq!(d.get_ok("/v1/jobs").await.unwrap()[0]["priority"], 75);
    let (code, out, err) = run(&d, &["apply", file]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 object(s) changed"), "{out}");
    assert_eq!(d.get_ok("/v1/jobs").await.unwrap()[0]["priority"], 50);

    // Exported: the same setup, secrets as references; applying the export changes nothing.
    let (code, exported, err) = run(&d, &["export"]);
    assert_eq!(code, 0, "{err}");
    assert!(!exported.contains(SECRET) && !exported.contains("tok-from-file"));
    assert!(
        exported.contains("${env:BULWARK_SECRET_TARGET_DOCS_PASSWORD}"),
        "{exported}"
    );
    let again = root.join("exported.toml");
    std::fs::write(&again, &exported).unwrap();
    unchanged_with_secrets(&d, &again);

    // The same in YAML.
    let (code, yaml, err) = run(&d, &["export", "--yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(yaml.contains("name: docs nightly"), "{yaml}");
    assert!(yaml.contains("store: offsite"), "{yaml}");
    let again_yaml = root.join("exported.yaml");
    std::fs::write(&again_yaml, &yaml).unwrap();
    unchanged_with_secrets(&d, &again_yaml);

    // A missing secret is an error that names it, and changes nothing.
    let (code, _, err) =
        crate::cli::cli(&d, &["apply", again.to_str().unwrap(), "--update-secrets"]);
    assert_eq!(code, 1);
    assert!(err.contains("BULWARK_SECRET_TARGET_DOCS_PASSWORD"), "{err}");
}
