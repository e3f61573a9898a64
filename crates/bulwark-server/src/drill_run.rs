//! A restore drill's steps once its plugins are resolved, wherever they run: the daemon's
//! host, or the agent of the scratch target. A tree is restored by the repository plugin and
//! compared file by file with the snapshot; a stream is retrieved whole into a staging file,
//! restored from it, then given to the target's `verify` from the same file. Then the scratch
//! target is wiped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bulwark_catalog::ArchiveFormat;
use bulwark_plugin::Action;
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::{Failure, Limits, Role};
use bulwark_runner::single::run_logged;

use crate::engine::work::{Resolved, say};

/// How long wiping the scratch target may take.
const CLEANUP: Duration = Duration::from_secs(600);

/// One drill's particulars.
pub(crate) struct DrillRun<'a> {
    /// The archive's key in its store.
    pub(crate) key: &'a str,
    /// How its data is kept.
    pub(crate) format: ArchiveFormat,
    /// Where a tree is restored.
    pub(crate) dir: Option<&'a str>,
    /// The staging file of a stream.
    pub(crate) staging: PathBuf,
    pub(crate) limits: &'a Limits,
    pub(crate) log: &'a LogSink,
}

/// How the restored data checked out.
#[derive(Debug)]
pub(crate) enum Checked {
    /// It is what the archive holds.
    Passed,
    /// The plugin cannot verify: the drill proves the restore only.
    Unsupported,
    /// It is not.
    Failed(Failure),
}

/// A step before the check failed: which, and how.
#[derive(Debug)]
pub(crate) struct StepFailed {
    /// "the archive could not be retrieved", "the restore failed", ...
    pub(crate) what: &'static str,
    pub(crate) failure: Failure,
}

fn step(what: &'static str, failure: Failure) -> StepFailed {
    StepFailed { what, failure }
}

fn checked(r: Result<(), Failure>) -> Checked {
    match r {
        Ok(()) => Checked::Passed,
        Err(f) if f.unsupported() => Checked::Unsupported,
        Err(f) => Checked::Failed(f),
    }
}

/// Restores the archive into the scratch target and checks it; returns the RTO (seconds to
/// restore) and the check.
pub(crate) async fn restore_and_check(
    store: &Resolved,
    target: &Resolved,
    r: &DrillRun<'_>,
) -> Result<(f64, Checked), StepFailed> {
    let clock = Instant::now();
    if r.format == ArchiveFormat::Tree {
        let Some(dir) = r.dir else {
            return Err(step(
                "the restore failed",
                Failure::Plugin {
                    role: Role::Target,
                    name: target.command.name().to_string(),
                    reason: "a tree restores only into an fs target's directory".into(),
                    said: String::new(),
                },
            ));
        };
        let restore = ["restore-tree", "--key", r.key, "--dir", dir];
        run_logged(store.single(Role::Store, &restore), r.limits, r.log)
            .await
            .map_err(|f| step("the restore failed", f))?;
        let rto = clock.elapsed().as_secs_f64();
        say(
            r.log,
            format!("Restored in {rto:.3}s; comparing every file with the snapshot."),
        );
        let verify = ["verify-tree", "--key", r.key, "--dir", dir];
        let check = run_logged(store.single(Role::Store, &verify), r.limits, r.log)
            .await
            .map(|_| ());
        return Ok((rto, checked(check)));
    }
    let result = stream(store, target, r, clock).await;
    let _ = std::fs::remove_file(&r.staging);
    result
}

async fn stream(
    store: &Resolved,
    target: &Resolved,
    r: &DrillRun<'_>,
    clock: Instant,
) -> Result<(f64, Checked), StepFailed> {
    use std::os::unix::fs::OpenOptionsExt;
    let staging_failed = |m: String| {
        step(
            "the archive could not be retrieved",
            Failure::Plugin {
                role: Role::Store,
                name: "staging".into(),
                reason: m,
                said: String::new(),
            },
        )
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&r.staging)
        .map_err(|err| {
            staging_failed(format!(
                "the staging file {} cannot be made: {err}",
                r.staging.display()
            ))
        })?;
    bulwark_runner::staged::retrieve_to(store.side(), r.key, file, false, r.limits, r.log)
        .await
        .map_err(|err| step("the archive could not be retrieved", err.failure))?;
    let open = || {
        std::fs::File::open(&r.staging)
            .map_err(|err| staging_failed(format!("the staging file cannot be read: {err}")))
    };
    bulwark_runner::staged::feed(open()?, target.side(), r.limits, r.log)
        .await
        .map_err(|err| step("the restore failed", err.failure))?;
    let rto = clock.elapsed().as_secs_f64();
    say(
        r.log,
        format!("Restored in {rto:.3}s; verifying the restored data."),
    );
    let check =
        bulwark_runner::staged::feed_to(open()?, target.side(), Action::Verify, r.limits, r.log)
            .await
            .map(|_| ())
            .map_err(|err| err.failure);
    Ok((rto, checked(check)))
}

/// Empties a scratch target (`wipe`), whatever the drill came to; `what` names it in the log.
pub(crate) async fn wipe(target: &Resolved, what: &str, log: &LogSink) {
    let limits = Limits {
        timeout: CLEANUP,
        cancel: tokio_util::sync::CancellationToken::new(),
        progress: Default::default(),
        bandwidth: None,
    };
    match run_logged(target.single(Role::Target, &["wipe"]), &limits, log).await {
        Ok(_) => say(log, format!("Wiped {what}.")),
        Err(f) if f.unsupported() => say(
            log,
            format!(
                "The {} plugin cannot wipe; {what} keeps the restored data.",
                target.command.name(),
            ),
        ),
        Err(f) => say(log, format!("Could not wipe {what}: {}", f.said_or_brief())),
    }
}
