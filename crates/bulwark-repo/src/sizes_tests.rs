//! The chunk and pack sizes of the repositories Bulwark creates.

use crate::endpoint::RepoEndpoint;
use crate::repo::{init, open};

#[test]
fn a_new_repository_has_bulwarks_chunk_and_pack_sizes_and_an_old_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let text = serde_json::json!({"path": dir.path().join("r")}).to_string();
    let ep = RepoEndpoint::parse(&bulwark_plugin::cli::endpoint(Some(text)).unwrap()).unwrap();
    assert!(init(&ep, "pw").unwrap());
    let repo = open(&ep, "pw").unwrap();
    let c = repo.config();
    assert_eq!(c.version, 2);
    assert_eq!(
        (c.chunk_size(), c.chunk_min_size(), c.chunk_max_size()),
        (256 << 10, 64 << 10, 4 << 20)
    );
    assert_eq!(
        (c.datapack_size, c.datapack_size_limit),
        (Some(4 << 20), Some(4 << 20))
    );
    // Made again over it: the repository there is kept as it is.
    assert!(!init(&ep, "pw").unwrap());
    assert!(init(&ep, "other").is_err());
}
