//! Endpoints and other values given on the command line: `--endpoint JSON|@FILE`, `--set`,
//! `--unset`, asked field by field on a terminal as the plugin's `info` describes them, and
//! `--steps`.

use serde_json::{Map, Value};

use super::change::Asker;
use super::change_args::EndpointArgs;
use super::{CliResult, Client, encode, text};

/// An endpoint field as a plugin's `info` describes it.
pub(super) struct Field {
    name: String,
    kind: String,
    title: String,
    required: bool,
    default: Option<String>,
    example: Option<String>,
}

/// The endpoint fields plugin `name` describes (none when it describes none).
pub(super) fn fields_of(c: &Client, plugin: &str) -> CliResult<Vec<Field>> {
    let p = c.get(&format!("/v1/plugin/{}", encode(plugin)))?;
    if let Some(e) = p["error"].as_str() {
        return Err(format!("plugin '{plugin}' cannot be used: {e}"));
    }
    Ok(p["fields"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|f| Field {
            name: text(&f["name"]),
            kind: text(&f["type"]),
            title: text(&f["title"]),
            required: f["required"].as_bool().unwrap_or(false),
            default: f["default"].as_str().map(str::to_string),
            example: f["example"].as_str().map(str::to_string),
        })
        .filter(|f| !f.name.is_empty())
        .collect())
}

/// `value` typed as the field `kind` says.
pub(super) fn typed(key: &str, value: &str, kind: Option<&str>) -> CliResult<Value> {
    Ok(match kind {
        Some("port" | "number" | "integer") => value
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{key} must be a number, not '{value}'"))?,
        Some("bool") => match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "t" => Value::Bool(true),
            "false" | "no" | "n" | "0" | "f" => Value::Bool(false),
            _ => return Err(format!("{key} must be true or false, not '{value}'")),
        },
        Some("list") => Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        _ => Value::String(value.to_string()),
    })
}

/// `--steps`: a JSON list, given or read from a file.
pub(super) fn steps_arg(given: &str) -> CliResult<Value> {
    let text = read_at(given)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("--steps is not JSON: {e}"))?;
    if !v.is_array() {
        return Err("--steps must be a JSON list of steps".to_string());
    }
    Ok(v)
}

/// A flag's value, or with `@FILE` the file's content (`@-`: standard input), which keeps
/// secrets off the command line.
pub(super) fn read_at(given: &str) -> CliResult<String> {
    match given.strip_prefix('@') {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| format!("reading standard input failed: {e}"))?;
            Ok(s)
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the endpoint file {path}: {e}")),
        None => Ok(given.to_string()),
    }
}

/// Applies `--endpoint`, `--set` and `--unset` to `base`.
pub(super) fn apply_endpoint(
    args: &EndpointArgs,
    fields: &[Field],
    mut base: Map<String, Value>,
) -> CliResult<Map<String, Value>> {
    if let Some(given) = &args.endpoint {
        let json = read_at(given)?;
        base = match serde_json::from_str::<Value>(&json) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("--endpoint must be a JSON object".into()),
            Err(e) => return Err(format!("--endpoint is not valid JSON: {e}")),
        };
    }
    for pair in &args.set {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("--set wants KEY=VALUE, not '{pair}'"))?;
        let kind = fields.iter().find(|f| f.name == k).map(|f| f.kind.as_str());
        base.insert(k.to_string(), typed(k, v, kind)?);
    }
    for k in &args.unset {
        base.remove(k);
    }
    Ok(base)
}

/// Asks for each endpoint field on a terminal: required ones until answered, optional ones
/// skipped on an empty answer, passwords without echo.
/// With `given` keys already set (from flags), asks only for the required fields still missing.
pub(super) fn ask_endpoint(
    asker: &Asker,
    plugin: &str,
    fields: &[Field],
    given: Map<String, Value>,
) -> CliResult<Map<String, Value>> {
    let only_missing = !given.is_empty();
    let mut map = given;
    let fields: Vec<&Field> = fields
        .iter()
        .filter(|f| !only_missing || (f.required && !map.contains_key(&f.name)))
        .collect();
    if only_missing && fields.is_empty() {
        return Ok(map);
    }
    if fields.is_empty() {
        let json = asker.required(None, "endpoint", &format!("{plugin} endpoint (JSON)"))?;
        return apply_endpoint(
            &EndpointArgs {
                endpoint: Some(json),
                ..EndpointArgs::default()
            },
            &[],
            map,
        );
    }
    if only_missing {
        eprintln!("The {plugin} endpoint still needs:");
    } else {
        eprintln!("The {plugin} endpoint (an empty answer skips an optional field):");
    }
    for f in fields {
        let title = if f.title.is_empty() {
            &f.name
        } else {
            &f.title
        };
        let hint = match (&f.default, &f.example) {
            (Some(d), _) => format!(" [default {d}]"),
            (None, Some(e)) if f.kind != "password" => format!(" [e.g. {e}]"),
            _ => String::new(),
        };
        let opt = if f.required { "" } else { " (optional)" };
        let prompt = format!("  {} - {title}{opt}{hint}: ", f.name);
        loop {
            let answer = if f.kind == "password" {
                asker.secret(&prompt)?
            } else {
                asker.line(&prompt)?
            };
            if answer.is_empty() {
                if f.required {
                    eprintln!("  {} is required.", f.name);
                    continue;
                }
                break;
            }
            match typed(&f.name, &answer, Some(&f.kind)) {
                Ok(v) => {
                    map.insert(f.name.clone(), v);
                    break;
                }
                Err(e) => eprintln!("  {e}"),
            }
        }
    }
    Ok(map)
}

/// A target's or store's endpoint for `create`: from the flags, and on a terminal asked for (all
/// of it, or the required fields the flags left out).
pub(super) fn new_endpoint(
    c: &Client,
    asker: &Asker,
    plugin: &str,
    args: &EndpointArgs,
) -> CliResult<Map<String, Value>> {
    let fields = fields_of(c, plugin)?;
    let given = if args.given() {
        apply_endpoint(args, &fields, Map::new())?
    } else {
        Map::new()
    };
    if !asker.terminal {
        if args.given() {
            return Ok(given);
        }
        return Err(
            "missing --endpoint (or --set KEY=VALUE): the endpoint is required (on a terminal, bulwark asks for it)"
                .into(),
        );
    }
    ask_endpoint(asker, plugin, &fields, given)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_flags_apply_in_order() {
        let fields = vec![Field {
            name: "port".into(),
            kind: "port".into(),
            title: String::new(),
            required: false,
            default: None,
            example: None,
        }];
        let args = EndpointArgs {
            endpoint: Some(r#"{"host":"a","sslmode":"require"}"#.into()),
            set: vec!["port=5433".into(), "host=b=c".into()],
            unset: vec!["sslmode".into()],
        };
        let m = apply_endpoint(&args, &fields, Map::new()).unwrap();
        assert_eq!(Value::Object(m), json!({"host": "b=c", "port": 5433}));
        let bad = EndpointArgs {
            set: vec!["novalue".into()],
            ..EndpointArgs::default()
        };
        assert!(
            apply_endpoint(&bad, &fields, Map::new())
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        let bad = EndpointArgs {
            endpoint: Some("[1]".into()),
            ..EndpointArgs::default()
        };
        assert!(apply_endpoint(&bad, &fields, Map::new()).is_err());
    }
}
