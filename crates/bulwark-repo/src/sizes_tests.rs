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
    // One key file, with scrypt at Bulwark's cost, not rustic_core's 128 MiB one.
    let keys: Vec<_> = std::fs::read_dir(dir.path().join("r/keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(&keys[0]).unwrap()).unwrap();
    assert_eq!(key["N"], 1 << crate::write::KEY_LOG_N);
    assert_eq!((key["r"].as_u64(), key["p"].as_u64()), (Some(8), Some(1)));
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
    // Noise, so the data (not the trees) is what the first backup adds.
    std::fs::write(src.join("f"), crate::write::chunker::noise(3 << 20, 7)).unwrap();
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
