//! `bulwark plugin repository ACTION`: the repository store through the Plugin Calling Protocol,
//! plus the actions only the daemon uses.
//!
//! Protocol actions: `info`, `validate`, `store` (stdin becomes a snapshot of one file; prints
//! `{"key": SNAPSHOT, "archive_size": N, "added": N}`), `retrieve --key`, `purge --key` (forgets
//! the snapshot), `abandon --key UPLOAD`. Extensions: `init`, `prune`, `check [--read SUBSET]`,
//! `backup-tree --dir DIR [--parent SNAPSHOT]`, `restore-tree --key SNAPSHOT --dir DIR [--path P
//! ...]` (only those paths), `verify-tree --key SNAPSHOT --dir DIR` (a drill's byte-by-byte
//! comparison of a restored tree with its snapshot), `ls --key SNAPSHOT [--path P]` (a JSON array of entries) and `cat
//! --key SNAPSHOT --path P` (one file's bytes), `copy --key SNAPSHOT` (into the repository of
//! [`crate::copy::DEST_ENDPOINT_ENV`] and [`crate::copy::DEST_PASSWORD_ENV`]; prints the
//! copy's key document).
//!
//! The repository password comes from [`PASSWORD_ENV`], never from the command line. The
//! snapshot's file name and tags for `store` and `backup-tree` come from [`FILENAME_ENV`] and
//! [`TAGS_ENV`] (`key=value,key=value`), and [`bulwark_plugin::UPLOAD_ENV`] adds `upload=ID`.

use std::io::Write;
use std::path::PathBuf;

use bulwark_plugin::{Exit, PluginError, PluginInfo};

use crate::endpoint::RepoEndpoint;
use crate::repo::{self, Labels};

/// The environment variable holding the repository password.
pub const PASSWORD_ENV: &str = "BULWARK_REPOSITORY_PASSWORD";
/// The environment variable naming the file a stream snapshot holds.
pub const FILENAME_ENV: &str = "BULWARK_SNAPSHOT_FILENAME";
/// The environment variable with the snapshot's `key=value` tags, comma-separated.
pub const TAGS_ENV: &str = "BULWARK_SNAPSHOT_TAGS";
/// At most this many bytes a second are written to the repository (a job's bandwidth).
pub const BANDWIDTH_ENV: &str = "BULWARK_BANDWIDTH";

/// What a call gets from its environment.
#[derive(Debug, Default, Clone)]
pub struct Env {
    /// The endpoint, when `--endpoint` is absent.
    pub endpoint: Option<String>,
    /// The repository password.
    pub password: Option<String>,
    /// The upload id.
    pub upload: Option<String>,
    /// The stream's file name.
    pub filename: Option<String>,
    /// `key=value,...` tags.
    pub tags: Option<String>,
    /// A copy's destination endpoint.
    pub dest_endpoint: Option<String>,
    /// A copy's destination password.
    pub dest_password: Option<String>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            endpoint: var(bulwark_plugin::cli::ENDPOINT_ENV),
            password: var(PASSWORD_ENV),
            upload: var(bulwark_plugin::UPLOAD_ENV),
            filename: var(FILENAME_ENV),
            tags: var(TAGS_ENV),
            dest_endpoint: var(crate::copy::DEST_ENDPOINT_ENV),
            dest_password: var(crate::copy::DEST_PASSWORD_ENV),
        }
    }
}

#[derive(Debug, Default)]
struct Args {
    action: String,
    endpoint: Option<String>,
    key: Option<String>,
    dir: Option<PathBuf>,
    parent: Option<String>,
    read: Option<String>,
    /// `--path`: what to list or cat, or (repeated) what to restore.
    paths: Vec<String>,
}

fn usage(m: impl Into<String>) -> PluginError {
    PluginError::new(Exit::Usage, m)
}

fn parse(args: &[String]) -> Result<Args, PluginError> {
    let (first, rest) = args.split_first().ok_or_else(|| {
        usage("no action given; expected info, validate, store, retrieve, purge, abandon, init, prune, check, backup-tree, restore-tree, verify-tree, copy, ls or cat")
    })?;
    let mut a = Args {
        action: first.clone(),
        ..Args::default()
    };
    let valued = [
        "-e",
        "--endpoint",
        "-k",
        "--key",
        "--dir",
        "--parent",
        "--read",
        "--path",
    ];
    for (flag, value) in bulwark_plugin::cli::flags(rest, &valued)? {
        match flag.as_str() {
            "-e" | "--endpoint" => a.endpoint = Some(value),
            "-k" | "--key" => a.key = Some(value),
            "--dir" => a.dir = Some(PathBuf::from(value)),
            "--parent" => a.parent = Some(value),
            "--path" => a.paths.push(value),
            _ => a.read = Some(value),
        }
    }
    Ok(a)
}

fn endpoint(text: Option<String>) -> Result<RepoEndpoint, PluginError> {
    RepoEndpoint::parse(&bulwark_plugin::cli::endpoint(text)?)
}

/// The plugin's `info`.
pub fn info() -> PluginInfo {
    use bulwark_plugin::builtin::field;
    PluginInfo {
        name: "Repository (restic format: deduplicated, compressed, encrypted)".into(),
        author: "Bulwark".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        features: bulwark_plugin::Features {
            target: false,
            store: true,
            endpoint_env: true,
        },
        fields: vec![
            field(
                "backend",
                "string",
                "Backend",
                "local (default), s3, or another OpenDAL service compiled in.",
                "s3",
                false,
            ),
            field(
                "path",
                "abspath",
                "Directory",
                "Local repositories: the repository's directory.",
                "/var/backups/bulwark-repo",
                false,
            ),
            field(
                "bucket",
                "string",
                "Bucket",
                "S3: the bucket.",
                "backups",
                false,
            ),
            field(
                "endpoint",
                "string",
                "Endpoint URL",
                "S3: the server's URL (AWS when absent).",
                "https://s3.example.com",
                false,
            ),
            field(
                "region",
                "string",
                "Region",
                "S3: the region (default us-east-1).",
                "eu-west-1",
                false,
            ),
            field(
                "access_key_id",
                "password",
                "Access key id",
                "S3: the access key id.",
                "AKIA...",
                false,
            ),
            field(
                "secret_access_key",
                "password",
                "Secret access key",
                "S3: the secret access key.",
                "...",
                false,
            ),
            field(
                "prefix",
                "string",
                "Prefix",
                "S3: a key prefix, so that repositories share a bucket.",
                "bulwark/db1",
                false,
            ),
            field(
                "options",
                "object",
                "OpenDAL options",
                "Other backends: the service's options as OpenDAL names them.",
                "{\"bucket\": \"b\"}",
                false,
            ),
            field(
                "compression",
                "number",
                "Compression",
                "zstd level for a new repository (default 2).",
                "3",
                false,
            ),
            field(
                "cache_dir",
                "abspath",
                "Cache",
                "Object stores: a local cache of index and snapshot files.",
                "/var/cache/bulwark",
                false,
            ),
        ],
    }
}

fn labels(env: &Env) -> Result<Labels, PluginError> {
    let mut tags = Vec::new();
    for pair in env.tags.as_deref().unwrap_or("").split(',') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| usage(format!("{TAGS_ENV}: '{pair}' is not key=value")))?;
        tags.push((k.to_string(), v.to_string()));
    }
    if let Some(u) = &env.upload {
        tags.push(("upload".into(), u.clone()));
    }
    let host = nix_hostname();
    Ok(Labels { tags, host })
}

fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "bulwark".into())
}

/// Makes a panic (in rustic_core's worker threads too) one line on stderr, never a backtrace in
/// a task's log. A panic of the call itself (or one a worker pool hands back to it) ends the
/// call with exit 4, the protocol's plugin failure (see [`run`]); a worker thread that dies
/// alone leaves the call to report what went wrong, as it does.
pub fn one_line_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "an unexplained panic".into());
        let what = what.lines().next().unwrap_or_default().to_string();
        eprintln!(
            "repository: the repository library failed ({what}); the repository may be damaged: check it with `bulwark check store`"
        );
    }));
}

/// Runs one call and returns the exit code. Diagnostics go to `stderr` as `repository: ...`.
/// `store` reads the process's standard input itself (rustic_core reads it from its own
/// threads), so the caller must not hold it locked.
pub fn run(args: &[String], env: Env, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8 {
    let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        call(args, &env, &mut *stdout, &mut *stderr)
    }));
    match called {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            let _ = writeln!(stderr, "repository: {e}");
            e.exit.code()
        }
        // The panic hook said what happened.
        Err(_) => Exit::Failure.code(),
    }
}

fn call(
    args: &[String],
    env: &Env,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), PluginError> {
    let a = parse(args)?;
    let print = |out: &mut dyn Write, v: &dyn erased::Json| -> Result<(), PluginError> {
        writeln!(out, "{}", v.json())
            .and_then(|_| out.flush())
            .map_err(|e| PluginError::failed(format!("writing to stdout failed: {e}")))
    };
    if a.action == "info" {
        return print(stdout, &info());
    }
    let known = [
        "validate",
        "store",
        "retrieve",
        "purge",
        "abandon",
        "init",
        "prune",
        "check",
        "backup-tree",
        "restore-tree",
        "verify-tree",
        "ls",
        "cat",
        "copy",
    ];
    if a.action == "backup" || a.action == "restore" {
        return Err(PluginError::new(
            Exit::Unsupported,
            format!(
                "repository is a store plugin; it does not support {}",
                a.action
            ),
        ));
    }
    if !known.contains(&a.action.as_str()) {
        return Err(usage(format!("unknown action '{}'", a.action)));
    }
    let ep = endpoint(a.endpoint.clone().or_else(|| env.endpoint.clone()))?;
    let failed = PluginError::failed;
    let key = || {
        a.key
            .clone()
            .ok_or_else(|| PluginError::new(Exit::MissingKey, format!("{} needs --key", a.action)))
    };
    let dir = || {
        a.dir
            .clone()
            .filter(|d| d.is_absolute())
            .ok_or_else(|| usage(format!("{} needs --dir with an absolute path", a.action)))
    };
    let password = || {
        env.password.clone().ok_or_else(|| {
            failed(format!(
                "no repository password: the daemon passes the store's password in {PASSWORD_ENV}"
            ))
        })
    };
    match a.action.as_str() {
        "validate" => {
            match &env.password {
                Some(pw) => {
                    repo::open(&ep, pw).map_err(failed)?;
                    let _ = writeln!(stderr, "repository: {} opens", ep.describe());
                }
                None => {
                    // No password yet (the store is not created): the location must at
                    // least be reachable with these credentials.
                    repo::reachable(&ep).map_err(failed)?;
                    let _ = writeln!(stderr, "repository: {} is reachable", ep.describe());
                }
            }
            Ok(())
        }
        "init" => {
            let created = repo::init(&ep, &password()?).map_err(failed)?;
            print(stdout, &serde_json::json!({ "created": created }))
        }
        "store" => {
            let filename = env.filename.clone().unwrap_or_else(|| "stdin".into());
            let stored =
                repo::store_stdin(&ep, &password()?, &filename, &labels(env)?).map_err(failed)?;
            print(stdout, &stored)
        }
        "backup-tree" => {
            let stored = repo::store_tree(
                &ep,
                &password()?,
                &dir()?,
                a.parent.as_deref(),
                &labels(env)?,
            )
            .map_err(failed)?;
            print(stdout, &stored)
        }
        "copy" => {
            use crate::copy::{DEST_ENDPOINT_ENV, DEST_PASSWORD_ENV};
            let dest = env.dest_endpoint.clone().ok_or_else(|| {
                usage(format!(
                    "copy needs the destination's endpoint in {DEST_ENDPOINT_ENV}"
                ))
            })?;
            let dest = endpoint(Some(dest))?;
            let dest_password = env.dest_password.clone().ok_or_else(|| {
                failed(format!(
                    "no destination password: the daemon passes it in {DEST_PASSWORD_ENV}"
                ))
            })?;
            let stored = crate::copy::copy_snapshot(
                &ep,
                &password()?,
                &key()?,
                &dest,
                &dest_password,
                &labels(env)?,
            )
            .map_err(failed)?;
            print(stdout, &stored)
        }
        "retrieve" => {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout);
            repo::dump(&ep, &password()?, &key()?, &mut out).map_err(failed)?;
            out.flush()
                .map_err(|e| failed(format!("writing to stdout failed: {e}")))
        }
        "restore-tree" => {
            let restored =
                crate::restore::restore_tree(&ep, &password()?, &key()?, &dir()?, &a.paths)
                    .map_err(failed)?;
            print(stdout, &restored)
        }
        "verify-tree" => {
            let verified =
                crate::verify::verify_tree(&ep, &password()?, &key()?, &dir()?).map_err(failed)?;
            let _ = writeln!(
                stderr,
                "repository: {} files ({} bytes, compared byte by byte), {} directories and {} links in {} are the snapshot's",
                verified.files,
                verified.bytes,
                verified.dirs,
                verified.links,
                dir()?.display()
            );
            print(stdout, &verified)
        }
        "ls" => {
            let path = a.paths.first().map_or("", String::as_str);
            let entries = crate::browse::list(&ep, &password()?, &key()?, path).map_err(failed)?;
            print(stdout, &entries)
        }
        "cat" => {
            let path = a.paths.first().ok_or_else(|| usage("cat needs --path"))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout);
            crate::browse::cat(&ep, &password()?, &key()?, path, &mut out).map_err(failed)?;
            out.flush()
                .map_err(|e| failed(format!("writing to stdout failed: {e}")))
        }
        "purge" => repo::forget(&ep, &password()?, &key()?).map_err(failed),
        "abandon" => {
            let n = repo::abandon(&ep, &password()?, &key()?).map_err(failed)?;
            if n > 0 {
                let _ = writeln!(stderr, "repository: forgot {n} snapshot(s) of the upload");
            }
            Ok(())
        }
        "prune" => {
            let pruned = repo::prune(&ep, &password()?).map_err(failed)?;
            print(stdout, &pruned)
        }
        "check" => {
            let checked = repo::check(&ep, &password()?, a.read.as_deref()).map_err(failed)?;
            print(stdout, &checked)?;
            if checked.ok {
                Ok(())
            } else {
                Err(failed(format!(
                    "the check found {} error(s): {}",
                    checked.errors.len(),
                    checked.errors.join(" / ")
                )))
            }
        }
        _ => Err(usage(format!("unknown action '{}'", a.action))),
    }
}

/// JSON output of any serializable answer.
mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
