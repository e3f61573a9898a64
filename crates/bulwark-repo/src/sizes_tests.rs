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

#[test]
fn a_repository_made_with_restics_sizes_keeps_them_and_stays_usable() {
    use rustic_core::{ConfigOptions, Credentials, KeyOptions, Repository, RepositoryOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old");
    let text = serde_json::json!({"path": path}).to_string();
    let ep = RepoEndpoint::parse(&bulwark_plugin::cli::endpoint(Some(text)).unwrap()).unwrap();
    // Made as an older Bulwark (and rustic) made them: rustic_core's defaults.
    let be = crate::repo::backends(&ep).unwrap();
    be.repository().create().unwrap();
    Repository::new(&RepositoryOptions::default().no_cache(true), &be)
        .unwrap()
        .init(
            &Credentials::password("pw"),
            &KeyOptions::default(),
            &ConfigOptions::default().set_version(2u32),
        )
        .unwrap();
    assert!(!init(&ep, "pw").unwrap());
    let c = open(&ep, "pw").unwrap().config().clone();
    assert_eq!(c.chunk_size(), 1 << 20);
    assert_eq!(c.datapack_size, None);
    // And Bulwark writes into it with those sizes.
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), vec![3u8; 3 << 20]).unwrap();
    let labels = crate::repo::Labels::default();
    let first = crate::repo::store_tree(&ep, "pw", &src, None, &labels).unwrap();
    let again = crate::repo::store_tree(&ep, "pw", &src, None, &labels).unwrap();
    assert!(first.added > 0);
    assert!(
        again.added < first.added / 10,
        "{} then {}",
        first.added,
        again.added
    );
}
