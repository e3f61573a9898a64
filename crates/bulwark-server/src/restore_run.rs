//! Running a restore once its plugins are resolved, wherever that is: the daemon's host, or an
//! agent's. A tree is restored by the repository plugin; a stream in two steps (see
//! [`bulwark_runner::staged`]): the archive is retrieved whole into a staging file, checked on the
//! way, and only then does the target get it. With `to_file` the stream lands in a file instead.

use std::path::PathBuf;

use bulwark_catalog::ArchiveFormat;
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::{self, Limits, Role};
use bulwark_runner::single::run_logged;

use crate::engine::work::{Resolved, say};

/// One restore's particulars.
pub(crate) struct RestoreRun<'a> {
    /// The archive's key in its store.
    pub(crate) key: &'a str,
    /// How its data is kept.
    pub(crate) format: ArchiveFormat,
    /// Where a tree goes: the directory asked for, or the fs target's own.
    pub(crate) dir: Option<String>,
    /// Only these paths of a tree.
    pub(crate) paths: &'a [String],
    /// A stream into a file (directory, name) instead of the target.
    pub(crate) to_file: Option<(&'a str, &'a str)>,
    /// The staging file of a stream.
    pub(crate) staging: PathBuf,
    pub(crate) limits: Limits,
    pub(crate) log: &'a LogSink,
}

/// Why a restore did not happen.
pub(crate) enum Outcome {
    /// It cannot be done; the line says why (the target was not touched).
    Refused(String),
    /// It failed on the way.
    Broke(pipeline::PipelineError),
}

/// Restores: the bytes that went into the target.
pub(crate) async fn execute(
    s: &Resolved,
    t: Option<&Resolved>,
    r: &RestoreRun<'_>,
) -> Result<u64, Outcome> {
    if r.format == ArchiveFormat::Tree {
        let Some(dir) = &r.dir else {
            return Err(Outcome::Refused(
                "Failed: the archive is a directory tree; it can only be restored into an fs target without include or exclude patterns.".into(),
            ));
        };
        say(r.log, format!("Restoring the tree into {dir}."));
        let mut args = vec!["restore-tree", "--key", r.key, "--dir", dir];
        for p in r.paths {
            args.extend(["--path", p.as_str()]);
        }
        return match run_logged(s.single(Role::Store, &args), &r.limits, r.log).await {
            Ok(out) => Ok(serde_json::from_slice::<serde_json::Value>(&out)
                .ok()
                .and_then(|v| v["bytes"].as_u64())
                .unwrap_or(0)),
            Err(failure) => Err(Outcome::Broke(pipeline::PipelineError {
                failure,
                stored: None,
            })),
        };
    }
    staged(s, t, r).await.map_err(Outcome::Broke)
}

async fn staged(
    s: &Resolved,
    t: Option<&Resolved>,
    r: &RestoreRun<'_>,
) -> Result<u64, pipeline::PipelineError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = &r.staging;
    let internal = |m: String| pipeline::PipelineError {
        failure: pipeline::Failure::Plugin {
            role: Role::Store,
            name: "staging".into(),
            reason: m,
            said: String::new(),
        },
        stored: None,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| {
            internal(format!(
                "the staging file {} cannot be made: {err}",
                path.display()
            ))
        })?;
    say(
        r.log,
        "Retrieving the whole archive first; the target is not touched until all of it has come out of the store intact.",
    );
    let result = match bulwark_runner::staged::retrieve_to(
        s.side(),
        r.key,
        file,
        r.to_file.is_some(),
        &r.limits,
        r.log,
    )
    .await
    {
        Ok(n) => match (r.to_file, t) {
            (Some((dir, name)), _) => {
                let done = std::path::Path::new(dir).join(name);
                std::fs::rename(path, &done)
                    .map(|()| n)
                    .map_err(|err| internal(format!("{} cannot be made: {err}", done.display())))
            }
            (None, Some(t)) => {
                say(
                    r.log,
                    format!("Retrieved {n} bytes intact; now restoring them into the target."),
                );
                match std::fs::File::open(path) {
                    Ok(f) => bulwark_runner::staged::feed(f, t.side(), &r.limits, r.log).await,
                    Err(err) => Err(internal(format!("the staging file cannot be read: {err}"))),
                }
            }
            (None, None) => Err(internal("no target to restore into".into())),
        },
        Err(err) => {
            say(r.log, "The target was not touched.");
            Err(err)
        }
    };
    let _ = std::fs::remove_file(path);
    result
}
