//! The protocol's command line, for built-in plugins: what `bulwark plugin NAME ACTION ...` runs.
//!
//! `ACTION [-e|--endpoint JSON] [-k|--key KEY] [-D|--debug]`, exactly as an external plugin is
//! called. Because secrets on a command line are visible to every local user, built-ins also take
//! the endpoint from the environment variable [`ENDPOINT_ENV`]; the daemon passes it that way.

use std::io::{Read, Write};

use serde_json::Value;

use crate::builtin::Builtin;
use crate::{Action, Endpoint, Exit, PluginError};

/// The environment variable a built-in plugin reads its endpoint from when `--endpoint` is absent.
pub const ENDPOINT_ENV: &str = "BULWARK_PLUGIN_ENDPOINT";

/// A parsed command line.
#[derive(Debug, PartialEq)]
struct Call {
    action: Action,
    endpoint: Option<String>,
    key: Option<String>,
}

fn usage(m: impl Into<String>) -> PluginError {
    PluginError::new(Exit::Usage, m)
}

/// Reads the flags after the action: `FLAG VALUE` or `--flag=VALUE` for each flag in `valued`
/// (short and long forms alike), and `-D`/`--debug`, which is accepted and ignored. Anything
/// else is a usage error (exit 1). Returns `(flag as written, value)` in order.
pub fn flags(rest: &[String], valued: &[&str]) -> Result<Vec<(String, String)>, PluginError> {
    let mut out = Vec::new();
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if flag == "-D" || flag == "--debug" {
            continue;
        }
        if !valued.contains(&flag) {
            return Err(usage(format!("unexpected argument '{flag}'")));
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .cloned()
                .ok_or_else(|| usage(format!("{flag} needs a value")))?,
        };
        out.push((flag.to_string(), value));
    }
    Ok(out)
}

fn parse(args: &[String]) -> Result<Call, PluginError> {
    let (first, rest) = args.split_first().ok_or_else(|| {
        usage("no action given; expected one of info, validate, backup, restore, verify, wipe, store, retrieve, purge")
    })?;
    let action: Action = first.parse().map_err(usage)?;
    let mut call = Call {
        action,
        endpoint: None,
        key: None,
    };
    for (flag, value) in flags(rest, &["-e", "--endpoint", "-k", "--key"])? {
        match flag.as_str() {
            "-e" | "--endpoint" => call.endpoint = Some(value),
            _ => call.key = Some(value),
        }
    }
    Ok(call)
}

/// Reads `--endpoint`: it must be a JSON object (exit 10 otherwise); absent means `{}`.
pub fn endpoint(text: Option<String>) -> Result<Endpoint, PluginError> {
    let text = text.unwrap_or_else(|| "{}".to_string());
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(PluginError::new(
            Exit::EndpointNotObject,
            "--endpoint must be a JSON object",
        )),
    }
}

/// What a built-in plugin call gets from its environment besides the command line.
#[derive(Debug, Default, Clone)]
pub struct Env {
    /// [`ENDPOINT_ENV`], used when `--endpoint` is absent.
    pub endpoint: Option<String>,
    /// [`crate::UPLOAD_ENV`], for `store`.
    pub upload: Option<String>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Env {
        Env {
            endpoint: std::env::var(ENDPOINT_ENV).ok(),
            upload: std::env::var(crate::UPLOAD_ENV)
                .ok()
                .filter(|v| !v.is_empty()),
        }
    }
}

/// Runs one protocol call of a built-in plugin and returns the exit code. Diagnostics go to
/// `stderr` prefixed with the plugin's name; `stdout` carries only the protocol's data.
pub fn run(
    plugin: &Builtin,
    args: &[String],
    env: Env,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let name = plugin.name;
    let result = parse(args).and_then(|call| {
        let ep = endpoint(call.endpoint.or(env.endpoint))?;
        let key = || {
            call.key.clone().ok_or_else(|| {
                PluginError::new(Exit::MissingKey, format!("{} needs --key", call.action))
            })
        };
        let print = |out: &mut dyn Write, v: String| {
            writeln!(out, "{v}")
                .and_then(|_| out.flush())
                .map_err(|e| PluginError::failed(format!("writing to stdout failed: {e}")))
        };
        let unsupported = |what: &str| {
            PluginError::new(
                Exit::Unsupported,
                format!(
                    "{name} is not a {what} plugin; it does not support {}",
                    call.action
                ),
            )
        };
        let target = || plugin.target.ok_or_else(|| unsupported("target"));
        let store = || plugin.store.ok_or_else(|| unsupported("store"));
        let mut log = Prefixed {
            name,
            out: stderr,
            fresh: true,
        };
        match call.action {
            Action::Info => print(
                stdout,
                serde_json::to_string(&plugin.info).unwrap_or_default(),
            ),
            Action::Validate => {
                // A plugin that is both checks the keys both sides share through its target
                // side, which writes nothing.
                match (plugin.target, plugin.store) {
                    (Some(t), _) => t.validate(&ep)?,
                    (None, Some(s)) => s.validate(&ep)?,
                    (None, None) => return Err(unsupported("target or store")),
                }
                let _ = writeln!(log, "the endpoint is valid");
                Ok(())
            }
            Action::Backup => target()?.backup(&ep, stdout, &mut log),
            Action::Restore => target()?.restore(&ep, stdin, &mut log),
            Action::Verify => {
                target()?.verify(&ep, stdin, &mut log)?;
                // The caller checks that the whole backup was read.
                std::io::copy(stdin, &mut std::io::sink())
                    .map(|_| ())
                    .map_err(|e| PluginError::failed(format!("reading the backup failed: {e}")))
            }
            Action::Wipe => target()?.wipe(&ep, &mut log),
            Action::Store => {
                let out = store()?.store(&ep, env.upload.as_deref(), stdin)?;
                print(stdout, serde_json::to_string(&out).unwrap_or_default())
            }
            Action::Retrieve => store()?.retrieve(&ep, &key()?, stdout),
            Action::Purge => store()?.purge(&ep, &key()?),
            Action::Abandon => store()?.abandon(&ep, &key()?),
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(stderr, "{name}: {e}");
            e.exit.code()
        }
    }
}

/// Prefixes each line written through it with the plugin's name.
struct Prefixed<'a> {
    name: &'a str,
    out: &'a mut dyn Write,
    /// True when the next byte starts a line.
    fresh: bool,
}

impl Write for Prefixed<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if self.fresh {
                self.out.write_all(self.name.as_bytes())?;
                self.out.write_all(b": ")?;
            }
            self.out.write_all(line)?;
            self.fresh = line.ends_with(b"\n");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn call(a: &[&str], stdin: &[u8]) -> (u8, Vec<u8>, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run(
            &crate::builtin::get("fs").unwrap(),
            &args(a),
            Env::default(),
            &mut &stdin[..],
            &mut out,
            &mut err,
        );
        (code, out, String::from_utf8_lossy(&err).into_owned())
    }

    #[test]
    fn parses_the_protocol_command_line() {
        let c = parse(&args(&["retrieve", "-e", "{}", "--key=abc", "-D"])).unwrap();
        assert_eq!(c.action, Action::Retrieve);
        assert_eq!(c.key.as_deref(), Some("abc"));
        assert_eq!(c.endpoint.as_deref(), Some("{}"));
        assert_eq!(parse(&args(&[])).unwrap_err().exit, Exit::Usage);
        assert_eq!(parse(&args(&["dance"])).unwrap_err().exit, Exit::Usage);
        assert_eq!(
            parse(&args(&["store", "extra"])).unwrap_err().exit,
            Exit::Usage
        );
        assert_eq!(
            parse(&args(&["store", "--endpoint"])).unwrap_err().exit,
            Exit::Usage
        );
    }

    #[test]
    fn exit_codes_of_the_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let ep = serde_json::json!({"base_dir": dir.path()}).to_string();
        assert_eq!(call(&["store", "-e", "[]"], b"").0, 10);
        assert_eq!(call(&["store", "-e", "{"], b"").0, 10);
        assert_eq!(call(&["retrieve", "-e", &ep], b"").0, 11);
        assert_eq!(call(&["store", "-e", "{}"], b"").0, 12);
        assert_eq!(call(&["store", "-e", "{\"base_dir\": 1}"], b"").0, 13);
        assert_eq!(call(&["backup", "-e", "{}"], b"").0, 12);
        let (code, _, err) = call(
            &["purge", "-e", &ep, "-k", &uuid::Uuid::new_v4().to_string()],
            b"",
        );
        assert_eq!(code, 4);
        assert!(err.starts_with("fs: no archive with key"), "{err}");
    }

    #[test]
    fn store_then_retrieve_through_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let ep = serde_json::json!({"base_dir": dir.path()}).to_string();
        let (code, out, err) = call(&["store", "--endpoint", &ep], b"hello, world");
        assert_eq!(code, 0, "{err}");
        let stored = crate::StoreOutput::parse(&out).unwrap();
        assert_eq!(stored.archive_size, Some(12));
        let (code, out, _) = call(&["retrieve", "-e", &ep, "-k", &stored.key], b"");
        assert_eq!(code, 0);
        assert_eq!(out, b"hello, world");
        let (code, out, _) = call(&["info"], b"");
        assert_eq!(code, 0);
        let info = crate::PluginInfo::parse(&out).unwrap();
        assert!(info.features.store && info.features.target);
    }
}
