//! A job's copies as a request gives them: checked against the job's store and target before
//! the catalog keeps them.

use bulwark_api::JobCopy;
use bulwark_catalog::{CopyFields, JobCopy as Kept};
use bulwark_core::ids::{StoreId, TargetId};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store_keys::{is_repository, keeps_its_own_data};

/// Retries of a failed copy when none is given.
pub const DEFAULT_RETRIES: i64 = 3;
/// Seconds before a failed copy's first retry when none is given.
pub const DEFAULT_RETRY_DELAY: i64 = 300;
/// The most copies a job may have.
const MOST: usize = 10;

/// The copies a job has, as a request would give them (an update that leaves them out keeps
/// them).
pub(super) fn as_given(kept: &[Kept]) -> Vec<JobCopy> {
    kept.iter()
        .map(|c| JobCopy {
            store: c.store.uuid.0,
            retention: c.retention.uuid.0,
            retries: Some(c.retries),
            retry_delay: Some(c.retry_delay),
        })
        .collect()
}

/// Checks a job's copies: stores and policies that exist, none the job's own store or twice
/// the same, stores that can take what the job makes, retries in range.
pub(super) async fn check(
    st: &AppState,
    store: StoreId,
    target: TargetId,
    copies: &[JobCopy],
) -> ApiResult<Vec<CopyFields>> {
    if copies.is_empty() {
        return Ok(Vec::new());
    }
    if copies.len() > MOST {
        return Err(ApiError::bad_request(format!(
            "a job copies into at most {MOST} further stores, not {}",
            copies.len()
        )));
    }
    let primary = st.catalog.get_store(store).await?;
    if let Some(p) = primary.as_ref().filter(|p| keeps_its_own_data(&p.plugin)) {
        return Err(ApiError::bad_request(format!(
            "store '{}' is a {} backup provider, which keeps its own data: Bulwark cannot read it back to copy it",
            p.name, p.plugin
        )));
    }
    // A directory backed up into a repository is a tree snapshot: only a repository takes it.
    let tree = match (&primary, st.catalog.get_target(target).await?) {
        (Some(p), Some(t)) => is_repository(&p.plugin) && crate::engine::tree_dir(&t).is_some(),
        _ => false,
    };
    let mut out = Vec::with_capacity(copies.len());
    for (i, c) in copies.iter().enumerate() {
        let at = format!("copies[{i}]");
        let s: StoreId = c.store.into();
        if s == store {
            return Err(ApiError::bad_request(format!(
                "{at}: store {s} is the job's own store; a copy goes to a further store"
            )));
        }
        if copies[..i].iter().any(|o| o.store == c.store) {
            return Err(ApiError::bad_request(format!(
                "{at}: store {s} is named twice; a job copies into a store once"
            )));
        }
        let Some(dest) = st.catalog.get_store(s).await? else {
            return Err(ApiError::bad_request(format!(
                "{at}: store {s} does not exist"
            )));
        };
        if keeps_its_own_data(&dest.plugin) {
            return Err(ApiError::bad_request(format!(
                "{at}: store '{}' is a {} backup provider, which makes its own backups and takes no copies",
                dest.name, dest.plugin
            )));
        }
        if tree && !is_repository(&dest.plugin) {
            return Err(ApiError::bad_request(format!(
                "{at}: the job backs up a directory tree into a repository, and store '{}' ({}) is not a repository; a tree snapshot is copied only into another repository store",
                dest.name, dest.plugin
            )));
        }
        if st
            .catalog
            .get_retention(c.retention.into())
            .await?
            .is_none()
        {
            return Err(ApiError::bad_request(format!(
                "{at}: retention policy {} does not exist",
                c.retention
            )));
        }
        let retries = c.retries.unwrap_or(DEFAULT_RETRIES);
        if !(0..=100).contains(&retries) {
            return Err(ApiError::bad_request(format!(
                "{at}: retries must be 0 to 100, not {retries}"
            )));
        }
        let retry_delay = c.retry_delay.unwrap_or(DEFAULT_RETRY_DELAY);
        if !(1..=86_400).contains(&retry_delay) {
            return Err(ApiError::bad_request(format!(
                "{at}: retry_delay must be 1 to 86400 seconds, not {retry_delay}"
            )));
        }
        out.push(CopyFields {
            store: s,
            retention: c.retention.into(),
            retries,
            retry_delay,
        });
    }
    Ok(out)
}
