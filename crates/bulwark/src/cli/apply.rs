//! Configuration as code: `bulwark apply FILE` makes the daemon's schedules, retention
//! policies, stores, targets and jobs (with their steps) what a TOML (or YAML, by the file's
//! extension) file says, by name;
//! `bulwark export` writes the current setup in the same form. Applying the same file twice
//! changes nothing; `--dry-run` prints what would change and changes nothing.
//!
//! Secrets are never inline: an endpoint value may be `${env:NAME}` (an environment variable of
//! the `apply`) or `${file:/path}` (a file's content, trimmed), and `export` writes every
//! secret as `${env:...}`. The daemon never shows a secret, so a changed secret is sent again
//! only with `--update-secrets`.

use std::collections::BTreeMap;

use reqwest13::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{CliResult, Client, Conn, finish};

/// What the daemon shows in place of a secret.
const REDACTED: &str = "<redacted>";

/// A setup, as the file says it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    #[serde(default, rename = "schedule", skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<Map<String, Value>>,
    #[serde(default, rename = "store", skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<Map<String, Value>>,
    #[serde(default, rename = "target", skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Map<String, Value>>,
    #[serde(default, rename = "job", skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Map<String, Value>>,
}

/// One kind of object: its paths and the fields a file may give it.
struct Kind {
    what: &'static str,
    list: &'static str,
    item: &'static str,
    fields: &'static [&'static str],
}

const SCHEDULE: Kind = Kind {
    what: "schedule",
    list: "/v1/schedules",
    item: "/v1/schedule/",
    fields: &["name", "summary", "when"],
};
const RETENTION: Kind = Kind {
    what: "retention policy",
    list: "/v1/retention",
    item: "/v1/retention/",
    fields: &[
        "name",
        "summary",
        "expires",
        "keep_last",
        "keep_hourly",
        "keep_daily",
        "keep_weekly",
        "keep_monthly",
        "keep_yearly",
        "keep_within",
        "min_good",
    ],
};
const STORE: Kind = Kind {
    what: "store",
    list: "/v1/stores",
    item: "/v1/store/",
    fields: &["name", "summary", "plugin", "endpoint", "prune_schedule"],
};
const TARGET: Kind = Kind {
    what: "target",
    list: "/v1/targets",
    item: "/v1/target/",
    fields: &["name", "summary", "plugin", "endpoint", "agent"],
};
const JOB: Kind = Kind {
    what: "job",
    list: "/v1/jobs",
    item: "/v1/job/",
    fields: &[
        "name",
        "summary",
        "target",
        "store",
        "schedule",
        "retention",
        "paused",
        "priority",
        "rpo",
        "retries",
        "retry_delay",
        "grace",
        "bandwidth",
        "watch",
        "steps",
        "copies",
        "drill_schedule",
        "drill_target",
    ],
};

/// `${env:NAME}` and `${file:PATH}` in a string, resolved.
fn resolve_secret(text: &str) -> CliResult<String> {
    if let Some(name) = text
        .strip_prefix("${env:")
        .and_then(|r| r.strip_suffix('}'))
    {
        return std::env::var(name)
            .map_err(|_| format!("the environment variable {name} is not set ({text})"));
    }
    if let Some(path) = text
        .strip_prefix("${file:")
        .and_then(|r| r.strip_suffix('}'))
    {
        return std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("{path} cannot be read ({text}): {e}"));
    }
    Ok(text.to_string())
}

/// A TOML number or string as JSON: seconds may be written `30d`.
fn seconds(v: &Value) -> CliResult<Value> {
    match v {
        Value::String(s) => Ok(super::change::seconds(s)?.into()),
        other => Ok(other.clone()),
    }
}

/// The body the API takes for one object of `kind`, from the file, with names resolved.
fn body(c: &Client, kind: &Kind, def: &Map<String, Value>) -> CliResult<Map<String, Value>> {
    let name = def
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("a {} without a name", kind.what))?;
    if let Some(k) = def.keys().find(|k| !kind.fields.contains(&k.as_str())) {
        return Err(format!("{} '{name}': unknown field '{k}'", kind.what));
    }
    let mut b = Map::new();
    for (k, v) in def {
        let v = match (kind.what, k.as_str()) {
            (_, "endpoint") => {
                let mut ep = Map::new();
                for (ek, ev) in v
                    .as_object()
                    .ok_or_else(|| format!("{} '{name}': endpoint must be a table", kind.what))?
                {
                    ep.insert(ek.clone(), resolve_all(ev)?);
                }
                Value::Object(ep)
            }
            ("retention policy", "expires" | "keep_within")
            | ("job", "rpo" | "retry_delay" | "grace") => seconds(v)?,
            ("job", "target" | "drill_target") => {
                c.uuid_of(super::Kind::Target, str_of(v)?)?.into()
            }
            ("job", "store") => c.uuid_of(super::Kind::Store, str_of(v)?)?.into(),
            ("job", "schedule" | "drill_schedule") => {
                c.uuid_of(super::Kind::Schedule, str_of(v)?)?.into()
            }
            ("job", "retention") => c.uuid_of(super::Kind::Retention, str_of(v)?)?.into(),
            ("job", "bandwidth") => match v {
                Value::Number(n) => n.to_string().into(),
                other => other.clone(),
            },
            ("job", "priority") => match v {
                Value::String(s) => super::change::priority_arg(s)?.into(),
                other => other.clone(),
            },
            ("job", "copies") => copies_body(c, v)?,
            _ => v.clone(),
        };
        b.insert(k.clone(), v);
    }
    if kind.what == "target" && !b.contains_key("agent") {
        b.insert("agent".into(), "local".into());
    }
    if kind.what == "job" {
        b.entry("paused").or_insert(false.into());
    }
    if !b.contains_key("summary") {
        b.insert("summary".into(), "".into());
    }
    Ok(b)
}

/// Every `${env:...}` and `${file:...}` string in a value resolved, at any depth.
fn resolve_all(v: &Value) -> CliResult<Value> {
    Ok(match v {
        Value::String(s) => resolve_secret(s)?.into(),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_all(v)?)))
                .collect::<CliResult<_>>()?,
        ),
        Value::Array(a) => Value::Array(a.iter().map(resolve_all).collect::<CliResult<_>>()?),
        other => other.clone(),
    })
}

/// A job's `copies` from the file (store and policy names, `retry_delay` maybe `5m`) as the
/// API takes them.
fn copies_body(c: &Client, v: &Value) -> CliResult<Value> {
    let list = v
        .as_array()
        .ok_or_else(|| "copies must be a list of {store, retention}".to_string())?;
    let mut out = Vec::new();
    for item in list {
        let mut m = Map::new();
        for (k, v) in item
            .as_object()
            .ok_or_else(|| "each copy must be a table: {store, retention}".to_string())?
        {
            let v = match k.as_str() {
                "store" => c.uuid_of(super::Kind::Store, str_of(v)?)?.into(),
                "retention" => c.uuid_of(super::Kind::Retention, str_of(v)?)?.into(),
                "retry_delay" => seconds(v)?,
                "retries" => v.clone(),
                other => return Err(format!("a copy has no field '{other}'")),
            };
            m.insert(k.clone(), v);
        }
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

fn str_of(v: &Value) -> CliResult<&str> {
    v.as_str().ok_or_else(|| format!("{v} is not a name"))
}

/// What differs between the wanted body and the object the daemon has: (field, now, wanted).
fn differences(
    kind: &Kind,
    want: &Map<String, Value>,
    have: &Value,
    update_secrets: bool,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut fields: Vec<&str> = kind.fields.to_vec();
    if kind.what == "retention policy" {
        // A rule the file leaves out is no rule.
        fields.retain(|f| *f != "name");
    } else {
        fields.retain(|f| want.contains_key(*f) && *f != "name");
    }
    for f in fields {
        let w = want.get(f).cloned().unwrap_or(Value::Null);
        let h = match (kind.what, f) {
            (
                "job",
                "target" | "store" | "schedule" | "retention" | "drill_schedule" | "drill_target",
            ) => have[format!("{f}_uuid")].clone(),
            (_, "endpoint") => {
                let h: Map<String, Value> = have["endpoint"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                let mut w = w.as_object().cloned().unwrap_or_default();
                // A secret the daemon does not show counts as unchanged unless asked.
                for (k, v) in &h {
                    if v == REDACTED && !update_secrets && w.contains_key(k) {
                        w.insert(k.clone(), v.clone());
                    }
                }
                if Value::Object(h.clone()) != Value::Object(w.clone()) {
                    out.push((
                        f.to_string(),
                        Value::Object(h).to_string(),
                        Value::Object(w).to_string(),
                    ));
                }
                continue;
            }
            ("job", "bandwidth") => {
                let w = match &w {
                    Value::String(s) => bulwark_api::parse_bandwidth(s)
                        .ok()
                        .flatten()
                        .map_or(Value::Null, Value::from),
                    other => other.clone(),
                };
                if w != have["bandwidth"] {
                    out.push((f.to_string(), have["bandwidth"].to_string(), w.to_string()));
                }
                continue;
            }
            ("job", "steps") => {
                let canon = serde_json::from_value::<Vec<bulwark_api::Step>>(w.clone())
                    .ok()
                    .and_then(|s| serde_json::to_value(s).ok())
                    .unwrap_or(w.clone());
                if canon != have["steps"] {
                    out.push((f.to_string(), have["steps"].to_string(), canon.to_string()));
                }
                continue;
            }
            ("job", "copies") => {
                let have: Vec<Value> = have["copies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        json!({"store": c["store_uuid"], "retention": c["retention_uuid"],
                               "retries": c["retries"], "retry_delay": c["retry_delay"]})
                    })
                    .collect();
                let want: Vec<Value> = w
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        json!({"store": c["store"], "retention": c["retention"],
                               "retries": normal(c.get("retries").unwrap_or(&json!(3))),
                               "retry_delay": normal(c.get("retry_delay").unwrap_or(&json!(300)))})
                    })
                    .collect();
                if have != want {
                    out.push((
                        f.to_string(),
                        json!(have).to_string(),
                        json!(want).to_string(),
                    ));
                }
                continue;
            }
            ("job", "watch") => {
                let canon = serde_json::from_value::<bulwark_api::Watch>(w.clone())
                    .ok()
                    .filter(|w| w.settle > 0)
                    .and_then(|w| serde_json::to_value(w).ok())
                    .unwrap_or(Value::Null);
                if canon != have["watch"] {
                    out.push((f.to_string(), have["watch"].to_string(), canon.to_string()));
                }
                continue;
            }
            ("retention policy", "min_good") if w.is_null() => {
                if have["min_good"] != json!(1) {
                    out.push((f.to_string(), have["min_good"].to_string(), "1".into()));
                }
                continue;
            }
            _ => have[f].clone(),
        };
        let (w, h) = (normal(&w), normal(&h));
        if w != h {
            out.push((f.to_string(), h.to_string(), w.to_string()));
        }
    }
    out
}

/// Numbers as numbers, whatever JSON wrote them as (`3600` and `3600.0`).
fn normal(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && v.is_number() => json!(f as i64),
        _ => v.clone(),
    }
}

/// `bulwark apply FILE [--dry-run] [--update-secrets]`.
pub fn apply(
    file: &str,
    dry_run: bool,
    update_secrets: bool,
    conn: &Conn,
) -> std::process::ExitCode {
    finish((|| -> CliResult<()> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        let yaml = file.ends_with(".yaml") || file.ends_with(".yml");
        let setup: Setup = if yaml {
            yaml_serde::from_str(&text).map_err(|e| format!("{file}: {e}"))?
        } else {
            toml::from_str(&text).map_err(|e| format!("{file}: {e}"))?
        };
        let c = Client::new(conn)?;
        let mut changes = 0;
        for (kind, defs) in [
            (&SCHEDULE, &setup.schedules),
            (&RETENTION, &setup.retention),
            (&STORE, &setup.stores),
            (&TARGET, &setup.targets),
            (&JOB, &setup.jobs),
        ] {
            let existing = c.get(kind.list)?;
            for def in defs {
                let name = def.get("name").and_then(Value::as_str).unwrap_or_default();
                let have = existing
                    .as_array()
                    .and_then(|l| l.iter().find(|o| o["name"] == name))
                    .cloned();
                // Names of objects this file makes in this run cannot be resolved in a dry run.
                let want = match body(&c, kind, def) {
                    Ok(b) => b,
                    Err(e) if dry_run => {
                        // It names objects this file makes: a dry run cannot resolve them yet.
                        if have.is_none() {
                            println!("create {} '{name}'", kind.what);
                        } else {
                            println!(
                                "update {} '{name}' once what it names exists ({e})",
                                kind.what
                            );
                        }
                        changes += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                changes += apply_one(
                    &c,
                    kind,
                    name,
                    &want,
                    have.as_ref(),
                    dry_run,
                    update_secrets,
                )?;
            }
        }
        let verb = if dry_run { "would change" } else { "changed" };
        println!("{changes} object(s) {verb}.");
        Ok(())
    })())
}

fn apply_one(
    c: &Client,
    kind: &Kind,
    name: &str,
    want: &Map<String, Value>,
    have: Option<&Value>,
    dry_run: bool,
    update_secrets: bool,
) -> CliResult<usize> {
    let Some(have) = have else {
        println!("create {} '{name}'", kind.what);
        if !dry_run {
            c.send(Method::POST, kind.list, Some(&Value::Object(want.clone())))?;
        }
        return Ok(1);
    };
    let diffs = differences(kind, want, have, update_secrets);
    if diffs.is_empty() {
        println!("unchanged {} '{name}'", kind.what);
        return Ok(0);
    }
    for (f, h, w) in &diffs {
        println!("update {} '{name}': {f}: {h} -> {w}", kind.what);
    }
    if dry_run {
        return Ok(1);
    }
    let id = have["uuid"].as_str().unwrap_or_default();
    let mut put = want.clone();
    let paused = put.remove("paused");
    if kind.what == "job" {
        // Pausing has routes of its own.
        if let Some(p) = paused.filter(|p| *p != have["paused"]) {
            let route = if p == json!(true) { "pause" } else { "unpause" };
            c.send(
                Method::POST,
                &format!("{}{id}/{route}", kind.item),
                Some(&json!({})),
            )?;
        }
        if diffs.iter().all(|(f, _, _)| f == "paused") {
            return Ok(1);
        }
    }
    c.send(
        Method::PUT,
        &format!("{}{id}", kind.item),
        Some(&Value::Object(put)),
    )?;
    Ok(1)
}

/// `bulwark export [--yaml]`: the current setup as a file `apply` takes.
pub fn export(yaml: bool, conn: &Conn) -> std::process::ExitCode {
    finish((|| -> CliResult<()> {
        let c = Client::new(conn)?;
        let mut setup = Setup::default();
        let names = |list: &Value| -> BTreeMap<String, String> {
            list.as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    (
                        o["uuid"].as_str().unwrap_or_default().to_string(),
                        o["name"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        };
        let keep = |o: &Value, fields: &[&str]| -> Map<String, Value> {
            fields
                .iter()
                .filter_map(|f| {
                    let v = &o[*f];
                    (!v.is_null() && *v != json!("")).then(|| (f.to_string(), v.clone()))
                })
                .collect()
        };
        for o in c.get(SCHEDULE.list)?.as_array().into_iter().flatten() {
            setup.schedules.push(keep(o, SCHEDULE.fields));
        }
        for o in c.get(RETENTION.list)?.as_array().into_iter().flatten() {
            setup.retention.push(keep(o, RETENTION.fields));
        }
        for (kind, into) in [(&STORE, &mut setup.stores), (&TARGET, &mut setup.targets)] {
            for o in c.get(kind.list)?.as_array().into_iter().flatten() {
                let mut m = keep(o, kind.fields);
                let name = o["name"].as_str().unwrap_or_default();
                let ep: Map<String, Value> = o["endpoint"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                let ep: Map<String, Value> = ep
                    .into_iter()
                    .map(|(k, v)| {
                        let v = if v == REDACTED {
                            Value::String(format!("${{env:{}}}", env_name(kind.what, name, &k)))
                        } else {
                            v
                        };
                        (k, v)
                    })
                    .collect();
                m.insert("endpoint".into(), Value::Object(ep));
                into.push(m);
            }
        }
        let (targets, stores, schedules, policies) = (
            names(&c.get(TARGET.list)?),
            names(&c.get(STORE.list)?),
            names(&c.get(SCHEDULE.list)?),
            names(&c.get(RETENTION.list)?),
        );
        for o in c.get(JOB.list)?.as_array().into_iter().flatten() {
            let mut m = keep(
                o,
                &[
                    "name",
                    "summary",
                    "paused",
                    "priority",
                    "rpo",
                    "retries",
                    "retry_delay",
                    "grace",
                    "bandwidth",
                    "watch",
                ],
            );
            for (f, map) in [
                ("target", &targets),
                ("store", &stores),
                ("schedule", &schedules),
                ("retention", &policies),
                ("drill_schedule", &schedules),
                ("drill_target", &targets),
            ] {
                if let Some(n) = o[format!("{f}_uuid")].as_str().and_then(|u| map.get(u)) {
                    m.insert(f.into(), n.clone().into());
                }
            }
            if o["steps"].as_array().is_some_and(|s| !s.is_empty()) {
                m.insert("steps".into(), o["steps"].clone());
            }
            let copies: Vec<Value> = o["copies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    json!({"store": c["store_name"], "retention": c["retention_name"],
                           "retries": c["retries"], "retry_delay": c["retry_delay"]})
                })
                .collect();
            if !copies.is_empty() {
                m.insert("copies".into(), Value::Array(copies));
            }
            setup.jobs.push(m);
        }
        let doc = strip_nulls(serde_json::to_value(&setup).map_err(|e| e.to_string())?);
        let text = if yaml {
            yaml_serde::to_string(&doc)
                .map_err(|e| format!("the setup cannot be written as YAML: {e}"))?
        } else {
            toml::to_string_pretty(&doc)
                .map_err(|e| format!("the setup cannot be written as TOML: {e}"))?
        };
        print!("{text}");
        Ok(())
    })())
}

/// TOML has no null: nulls are left out.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// The environment variable `export` names for a secret: `BULWARK_SECRET_STORE_S3_SECRET_KEY`.
fn env_name(what: &str, name: &str, key: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "BULWARK_SECRET_{}_{}_{}",
        clean(what),
        clean(name),
        clean(key)
    )
}
