//! `bulwark create`, `bulwark edit` (alias `update`) and `bulwark delete`.
//!
//! `create` takes every field as a flag; on a terminal it asks for a required field that is
//! missing (a target's or store's endpoint field by field, as its plugin's `info` describes
//! them, secrets without echo). Without a terminal a missing field is an error. `edit` reads the
//! record, changes what the flags say and sends it back whole (the API's `PUT` wants every
//! field); stored secrets stay as they are unless a flag replaces them. `delete` asks first on a
//! terminal, unless `--yes`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use reqwest13::Method;
use serde_json::{Map, Value, json};

use super::{CliResult, Client, Conn, Kind, encode, finish, label, print_json, reference, text};

pub use super::change_args::*;
use super::endpoint_input::{apply_endpoint, fields_of, new_endpoint, steps_arg};

/// Asks on a terminal for what the flags left out.
pub(super) struct Asker {
    pub(super) terminal: bool,
}

impl Asker {
    pub(super) fn new() -> Asker {
        Asker {
            terminal: std::io::stdin().is_terminal(),
        }
    }

    /// `given`, or on a terminal an answer to `label`; otherwise an error naming the flag.
    pub(super) fn required(
        &self,
        given: Option<String>,
        flag: &str,
        label: &str,
    ) -> CliResult<String> {
        if let Some(v) = given {
            return Ok(v);
        }
        if !self.terminal {
            return Err(format!(
                "missing --{flag}: {label} is required (on a terminal, bulwark asks for it)"
            ));
        }
        loop {
            let answer = self.line(&format!("{label}: "))?;
            if !answer.is_empty() {
                return Ok(answer);
            }
            eprintln!("{label} is required.");
        }
    }

    /// One line from the terminal, trimmed.
    pub(super) fn line(&self, prompt: &str) -> CliResult<String> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let n = std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| format!("reading the terminal failed: {e}"))?;
        if n == 0 {
            return Err("no answer (end of input)".into());
        }
        Ok(answer.trim().to_string())
    }

    /// A secret, read without echo.
    pub(super) fn secret(&self, prompt: &str) -> CliResult<String> {
        rpassword::prompt_password(prompt).map_err(|e| format!("reading the terminal failed: {e}"))
    }
}

/// Seconds from `7d`, `12h`, `2w`, `90m` or a plain number of seconds.
/// A duration as the help says it: seconds (`3600`), or a number with `s`, `m`, `h`, `d` or `w`
/// (`90m`, `12h`, `7d`, `2w`; parts may follow one another: `1d12h`).
pub(crate) fn seconds(s: &str) -> CliResult<i64> {
    if let Ok(n) = s.trim().parse::<i64>() {
        return Ok(n);
    }
    let bad = || {
        format!(
            "'{s}' is not a duration: say seconds (3600) or a number with s, m, h, d or w (90m, 12h, 7d, 2w)"
        )
    };
    let d = humantime::parse_duration(s.trim()).map_err(|_| bad())?;
    if d.subsec_nanos() != 0 {
        return Err(bad());
    }
    i64::try_from(d.as_secs()).map_err(|_| format!("'{s}' is too long"))
}

fn insert_opt(body: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(v) = value {
        body.insert(key.to_string(), Value::String(v));
    }
}

/// The request path and body that create `what`.
fn create_request(c: &Client, what: &CreateWhat) -> CliResult<(Kind, Value)> {
    let asker = Asker::new();
    let name = |common: &Common| asker.required(common.name.clone(), "name", "Name");
    Ok(match what {
        CreateWhat::Schedule(a) => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            let when = asker.required(a.when.clone(), "when", "When (e.g. daily at 4am)")?;
            body.insert("when".into(), when.into());
            (Kind::Schedule, Value::Object(body))
        }
        CreateWhat::Retention { args: a, .. } => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            // Rules alone need no expiry; without any rule, ask for one.
            let expires = if a.rules.given() {
                a.expires.clone()
            } else {
                Some(asker.required(
                    a.expires.clone(),
                    "expires",
                    "Keep archives for (e.g. 30d)",
                )?)
            };
            super::retention::duration_or_none(&mut body, "expires", expires.as_deref())?;
            a.rules.apply(&mut body)?;
            (Kind::Retention, Value::Object(body))
        }
        CreateWhat::Target(a) => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            let plugin = asker.required(a.plugin.clone(), "plugin", "Plugin (e.g. postgres)")?;
            let endpoint = new_endpoint(c, &asker, &plugin, &a.endpoint)?;
            body.insert("plugin".into(), plugin.into());
            body.insert("endpoint".into(), Value::Object(endpoint));
            body.insert(
                "agent".into(),
                a.agent
                    .clone()
                    .unwrap_or_else(|| DEFAULT_AGENT.into())
                    .into(),
            );
            if a.no_validate {
                body.insert("validate".into(), false.into());
            }
            (Kind::Target, Value::Object(body))
        }
        CreateWhat::Store(a) => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            let plugin = asker.required(a.plugin.clone(), "plugin", "Plugin (e.g. fs)")?;
            let endpoint = new_endpoint(c, &asker, &plugin, &a.endpoint)?;
            body.insert("plugin".into(), plugin.into());
            body.insert("endpoint".into(), Value::Object(endpoint));
            insert_opt(&mut body, "prune_schedule", a.prune_schedule.clone());
            if a.no_validate {
                body.insert("validate".into(), false.into());
            }
            (Kind::Store, Value::Object(body))
        }
        CreateWhat::Job(a) => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            for (kind, key, flag, given) in [
                (Kind::Target, "target", "target", &a.target),
                (Kind::Store, "store", "store", &a.store),
                (Kind::Schedule, "schedule", "schedule", &a.schedule),
                (
                    Kind::Retention,
                    "retention",
                    "retention-policy",
                    &a.retention,
                ),
            ] {
                let label = format!("{} (name or UUID)", capitalized(kind.what()));
                let r = asker.required(given.clone(), flag, &label)?;
                body.insert(key.into(), c.uuid_of(kind, &r)?.into());
            }
            body.insert("paused".into(), a.paused.into());
            for (kind, key, given) in [
                (Kind::Schedule, "drill_schedule", &a.drill_schedule),
                (Kind::Target, "drill_target", &a.drill_target),
            ] {
                if let Some(r) = given.as_deref().filter(|r| !r.is_empty()) {
                    body.insert(key.into(), c.uuid_of(kind, r)?.into());
                }
            }
            if let Some(r) = &a.rpo {
                body.insert("rpo".into(), seconds(r)?.into());
            }
            if let Some(p) = a.priority {
                body.insert("priority".into(), p.into());
            }
            if let Some(steps) = &a.steps {
                body.insert("steps".into(), steps_arg(steps)?);
            }
            insert_opt(&mut body, "bandwidth", a.bandwidth.clone());
            if !a.copies.is_empty() {
                body.insert("copies".into(), copies_arg(c, &a.copies)?);
            }
            a.retry.apply(&mut body, None)?;
            (Kind::Job, Value::Object(body))
        }
    })
}

/// `--copy STORE:POLICY` flags as the API's `copies` (names resolved to UUIDs).
fn copies_arg(c: &Client, given: &[String]) -> Result<Value, String> {
    let mut out = Vec::new();
    for g in given {
        let (store, policy) = g.rsplit_once(':').ok_or_else(|| {
            format!("--copy wants STORE:POLICY (a store and the retention policy of its copies), not '{g}'")
        })?;
        out.push(json!({
            "store": c.uuid_of(Kind::Store, store)?,
            "retention": c.uuid_of(Kind::Retention, policy)?,
        }));
    }
    Ok(Value::Array(out))
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `bulwark create WHAT`.
pub fn create(what: &CreateWhat, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let (kind, body) = create_request(&c, what)?;
        let answer = c.send(Method::POST, kind.paths().0, Some(&body))?;
        if let Some(w) = answer["warning"].as_str() {
            eprintln!("bulwark: warning: {w}");
        }
        if conn.json {
            print_json(&answer);
        } else {
            println!(
                "created {} '{}' ({})",
                kind.what(),
                text(&body["name"]),
                text(&answer["uuid"])
            );
        }
        Ok(())
    })())
}

/// A target's or store's plugin and endpoint after an edit: the current ones, changed by the
/// flags (stored secrets come back `<redacted>`, which the API keeps).
fn edited_endpoint(
    c: &Client,
    plugin: &Option<String>,
    args: &EndpointArgs,
    cur: &Value,
) -> CliResult<(String, Map<String, Value>)> {
    let plugin = plugin.clone().unwrap_or_else(|| text(&cur["plugin"]));
    let fields = fields_of(c, &plugin)?;
    let endpoint = match serde_json::from_str::<Value>(cur["endpoint"].as_str().unwrap_or("{}")) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    Ok((plugin, apply_endpoint(args, &fields, endpoint)?))
}

/// On a terminal with no flags given: asks for each field, the current value as the default.
fn ask_changes(asker: &Asker, current: &Value, keys: &[&str]) -> CliResult<Map<String, Value>> {
    eprintln!("Editing; press Enter to keep a value.");
    let mut out = Map::new();
    for k in keys {
        let now = text(&current[*k]);
        let answer = asker.line(&format!("  {k} [{now}]: "))?;
        if !answer.is_empty() {
            out.insert(k.to_string(), Value::String(answer));
        }
    }
    Ok(out)
}

/// The request path and body that edit `what`, and what it is.
fn edit_request(c: &Client, what: &EditWhat) -> CliResult<(String, Value, String)> {
    let asker = Asker::new();
    let (kind, r) = match what {
        EditWhat::Schedule { reference, .. } => (Kind::Schedule, reference.clone()),
        EditWhat::Retention { reference: r, .. } => {
            (Kind::Retention, reference(Kind::Retention, r)?)
        }
        EditWhat::Target { reference, .. } => (Kind::Target, reference.clone()),
        EditWhat::Store { reference, .. } => (Kind::Store, reference.clone()),
        EditWhat::Job { reference, .. } => (Kind::Job, reference.clone()),
        EditWhat::Archive { reference, .. } => (Kind::Archive, reference.clone()),
    };
    let found = c.resolve(kind, &r)?;
    let uuid = text(&found["uuid"]);
    let cur = c.get(&format!("{}{}", kind.paths().1, encode(&uuid)))?;
    let pick = |given: &Option<String>, key: &str| -> Value {
        given
            .clone()
            .map(Value::String)
            .unwrap_or_else(|| Value::String(text(&cur[key])))
    };
    // With no flags on a terminal, ask for the plain fields.
    let nothing = |given: bool, keys: &[&str]| -> CliResult<Option<Map<String, Value>>> {
        if given {
            return Ok(None);
        }
        if !asker.terminal {
            return Err(format!(
                "nothing to change: give at least one of {}",
                keys.iter()
                    .map(|k| format!("--{}", k.replace('_', "-")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        ask_changes(&asker, &cur, keys).map(Some)
    };
    let common_given = |c: &Common| c.name.is_some() || c.summary.is_some();
    let body = match what {
        EditWhat::Schedule { args: a, .. } => {
            let asked = nothing(
                common_given(&a.common) || a.when.is_some(),
                &["name", "summary", "when"],
            )?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
                "when": pick(&a.when, "when"),
            });
            merge(&mut body, asked);
            body
        }
        EditWhat::Retention { args: a, .. } => {
            let asked = nothing(
                common_given(&a.common) || a.expires.is_some() || a.rules.given(),
                &["name", "summary", "expires"],
            )?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
            });
            if let Value::Object(m) = &mut body {
                m.extend(super::retention::current_rules(&cur));
            }
            merge(&mut body, asked);
            let expires = match (&a.expires, &body["expires"]) {
                (Some(e), _) => Some(e.clone()),
                (None, Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            if let Value::Object(m) = &mut body {
                super::retention::duration_or_none(m, "expires", expires.as_deref())?;
                a.rules.apply(m)?;
            }
            body
        }
        EditWhat::Target { args: a, .. } => {
            let asked = nothing(
                common_given(&a.common)
                    || a.plugin.is_some()
                    || a.endpoint.given()
                    || a.agent.is_some(),
                &["name", "summary", "agent"],
            )?;
            let (plugin, endpoint) = edited_endpoint(c, &a.plugin, &a.endpoint, &cur)?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
                "plugin": plugin,
                "endpoint": endpoint,
                "agent": pick(&a.agent, "agent"),
            });
            merge(&mut body, asked);
            body
        }
        EditWhat::Store { args: a, .. } => {
            let asked = nothing(
                common_given(&a.common)
                    || a.plugin.is_some()
                    || a.endpoint.given()
                    || a.prune_schedule.is_some(),
                &["name", "summary", "prune_schedule"],
            )?;
            let (plugin, endpoint) = edited_endpoint(c, &a.plugin, &a.endpoint, &cur)?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
                "plugin": plugin,
                "endpoint": endpoint,
            });
            if let Some(p) = &a.prune_schedule {
                body["prune_schedule"] = p.clone().into();
            }
            merge(&mut body, asked);
            body
        }
        EditWhat::Job { args: a, .. } => {
            let refs_given = [&a.target, &a.store, &a.schedule, &a.retention]
                .iter()
                .any(|r| r.is_some());
            let asked = nothing(
                common_given(&a.common)
                    || refs_given
                    || a.priority.is_some()
                    || a.rpo.is_some()
                    || a.drill_schedule.is_some()
                    || a.drill_target.is_some()
                    || a.steps.is_some()
                    || a.bandwidth.is_some()
                    || !a.copies.is_empty()
                    || a.no_copies
                    || a.retry.given()
                    || a.paused
                    || a.unpaused,
                &["name", "summary", "priority"],
            )?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
                "priority": a.priority.map(Value::from).unwrap_or_else(|| cur["priority"].clone()),
                "rpo": match &a.rpo {
                    Some(r) => seconds(r)?.into(),
                    None => cur["rpo"].clone(),
                },
            });
            for (kind, key, given) in [
                (Kind::Target, "target", &a.target),
                (Kind::Store, "store", &a.store),
                (Kind::Schedule, "schedule", &a.schedule),
                (Kind::Retention, "retention", &a.retention),
            ] {
                body[key] = match given {
                    Some(r) => c.uuid_of(kind, r)?.into(),
                    None => cur[format!("{key}_uuid")].clone(),
                };
            }
            for (kind, key, given) in [
                (Kind::Schedule, "drill_schedule", &a.drill_schedule),
                (Kind::Target, "drill_target", &a.drill_target),
            ] {
                body[key] = match given.as_deref() {
                    Some("") => Value::Null,
                    Some(r) => c.uuid_of(kind, r)?.into(),
                    None => cur[format!("{key}_uuid")].clone(),
                };
            }
            if let Some(steps) = &a.steps {
                body["steps"] = steps_arg(steps)?;
            }
            if let Some(b) = &a.bandwidth {
                body["bandwidth"] = b.clone().into();
            }
            if !a.copies.is_empty() || a.no_copies {
                body["copies"] = copies_arg(c, &a.copies)?;
            }
            if a.paused || a.unpaused {
                body["paused"] = a.paused.into();
            }
            if let Value::Object(m) = &mut body {
                a.retry.apply(m, Some(&cur))?;
            }
            merge(&mut body, asked);
            if let Value::String(p) = &body["priority"] {
                body["priority"] = p
                    .parse::<i64>()
                    .map_err(|_| format!("priority must be a number, not '{p}'"))?
                    .into();
            }
            body
        }
        EditWhat::Archive {
            notes,
            keep,
            no_keep,
            ..
        } => {
            let asked = nothing(notes.is_some() || *keep || *no_keep, &["notes"])?;
            let mut body = json!({ "notes": pick(notes, "notes") });
            if *keep || *no_keep {
                body["keep"] = (*keep).into();
            }
            merge(&mut body, asked);
            body
        }
    };
    let path = format!("{}{}", kind.paths().1, encode(&uuid));
    Ok((path, body, format!("{} {}", kind.what(), label(&found))))
}

fn merge(body: &mut Value, asked: Option<Map<String, Value>>) {
    if let (Some(map), Some(asked)) = (body.as_object_mut(), asked) {
        map.extend(asked);
    }
}

/// `bulwark edit WHAT REF`.
pub fn edit(what: &EditWhat, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let (path, mut body, described) = edit_request(&c, what)?;
        // Pausing is its own request; the rest is one PUT of the whole record.
        let pause = body.as_object_mut().and_then(|m| m.remove("paused"));
        let answer = c.send(Method::PUT, &path, Some(&body))?;
        if let Some(p) = pause.and_then(|p| p.as_bool()) {
            let verb = if p { "pause" } else { "unpause" };
            c.send(Method::POST, &format!("{path}/{verb}"), Some(&json!({})))?;
        }
        if conn.json {
            print_json(&answer);
        } else {
            println!("updated {described}");
        }
        Ok(())
    })())
}

/// `bulwark delete KIND REF`.
pub fn delete(kind: Kind, words: &[String], yes: bool, conn: &Conn) -> ExitCode {
    finish((|| {
        if matches!(kind, Kind::Task | Kind::Plugin) {
            return Err(match kind {
                Kind::Task => "tasks are history and are not deleted; stop a running one with `bulwark cancel task REF`".into(),
                _ => "plugins are installed on the daemon's host, not deleted through the API".into(),
            });
        }
        let c = Client::new(conn)?;
        let found = c.resolve(kind, &reference(kind, words)?)?;
        let described = format!("{} {}", kind.what(), label(&found));
        let asker = Asker::new();
        if !yes && asker.terminal {
            let extra = if kind == Kind::Archive {
                " Its data is removed from the store."
            } else {
                ""
            };
            let answer = asker.line(&format!("Delete {described}?{extra} [y/N] "))?;
            if !matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes") {
                return Err("not deleted".into());
            }
        }
        let path = format!("{}{}", kind.paths().1, encode(&text(&found["uuid"])));
        let answer = c.send(Method::DELETE, &path, None)?;
        if conn.json {
            print_json(&answer);
        } else {
            println!("deleted {described}");
        }
        Ok(())
    })())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cli::endpoint_input::typed;

    #[test]
    fn durations_and_typed_values() {
        assert_eq!(seconds("3600").unwrap(), 3600);
        assert_eq!(seconds("7d").unwrap(), 7 * 86400);
        assert_eq!(seconds("2w").unwrap(), 14 * 86400);
        assert_eq!(seconds("12h").unwrap(), 12 * 3600);
        assert!(seconds("soon").unwrap_err().contains("not a duration"));
        assert_eq!(seconds("1d12h").unwrap(), 36 * 3600);
        // Units that make no sense for retention are refused, and not offered.
        let err = seconds("5ms").unwrap_err();
        assert!(
            err.contains("s, m, h, d or w") && !err.contains("nsec"),
            "{err}"
        );
        assert!(!seconds("7x").unwrap_err().contains("nsec"));
        assert_eq!(typed("port", "5432", Some("port")).unwrap(), json!(5432));
        assert!(typed("port", "x", Some("port")).is_err());
        assert_eq!(typed("all", "yes", Some("bool")).unwrap(), json!(true));
        assert_eq!(
            typed("include", "a, b,", Some("list")).unwrap(),
            json!(["a", "b"])
        );
        // A password of digits stays a string.
        assert_eq!(
            typed("password", "0123", Some("password")).unwrap(),
            json!("0123")
        );
        assert_eq!(typed("x", "42", None).unwrap(), json!("42"));
    }
}
