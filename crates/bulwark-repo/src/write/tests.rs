//! Bulwark's writer against rustic_core's and stock restic: one repository written by both,
//! read by both.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::endpoint::RepoEndpoint;
use crate::repo::{self, Labels};

fn endpoint(path: &Path) -> RepoEndpoint {
    let text = serde_json::json!({ "path": path }).to_string();
    RepoEndpoint::parse(&bulwark_plugin::cli::endpoint(Some(text)).unwrap()).unwrap()
}

use super::chunker::noise;

fn make_tree(dir: &Path) {
    fs::create_dir_all(dir.join("a/b")).unwrap();
    fs::create_dir_all(dir.join("empty")).unwrap();
    fs::write(dir.join("big.bin"), noise(3 << 20, 1)).unwrap();
    fs::write(dir.join("a/text.txt"), "line of text\n".repeat(50_000)).unwrap();
    fs::write(dir.join("a/b/small"), b"tiny").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join("a/b/small"), fs::Permissions::from_mode(0o400)).unwrap();
    fs::set_permissions(dir.join("big.bin"), fs::Permissions::from_mode(0o750)).unwrap();
    xattr::set(dir.join("a/text.txt"), "user.bulwark.test", b"kept").unwrap();
    fs::write(dir.join("zero"), b"").unwrap();
    std::os::unix::fs::symlink("a/text.txt", dir.join("link")).unwrap();
}

/// Stock restic, when installed (always in CI).
fn restic(repo: &Path, args: &[&str]) -> Option<std::process::Output> {
    let out = Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", "pw")
        .output();
    match out {
        Ok(o) => Some(o),
        Err(_) if std::env::var_os("CI").is_none() => None,
        Err(e) => panic!("restic is needed in CI: {e}"),
    }
}

fn same_tree(a: &Path, b: &Path) {
    for entry in fs::read_dir(a).unwrap() {
        let entry = entry.unwrap();
        let (pa, pb) = (entry.path(), b.join(entry.file_name()));
        let m = fs::symlink_metadata(&pa).unwrap();
        if m.is_dir() {
            same_tree(&pa, &pb);
        } else if m.file_type().is_symlink() {
            assert_eq!(fs::read_link(&pa).unwrap(), fs::read_link(&pb).unwrap());
        } else {
            assert!(
                fs::read(&pa).unwrap() == fs::read(&pb).unwrap(),
                "{pa:?} differs"
            );
        }
    }
}

#[test]
fn both_writers_share_one_repository_and_restic_reads_what_bulwark_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, rp) = (tmp.path().join("src"), tmp.path().join("repo"));
    make_tree(&src);
    let ep = endpoint(&rp);
    repo::init(&ep, "pw").unwrap();
    let labels = Labels::default();

    // rustic_core's archiver first, then Bulwark's writer over the same files.
    let old = crate::archiver::store_tree_rustic(&ep, "pw", &src, None, &labels).unwrap();
    let first = super::store_tree(&ep, "pw", &src, Some(&old.key), &labels).unwrap();
    assert_eq!(
        first.files,
        [0, 0, 4],
        "unchanged files keep the old path's blobs"
    );
    assert!(
        first.added < 4096,
        "only trees may be new: {} bytes",
        first.added
    );

    // A change: one new file; the rest is not read again.
    fs::write(src.join("a/new.bin"), noise(1 << 20, 9)).unwrap();
    let second = super::store_tree(&ep, "pw", &src, Some(&first.key), &labels).unwrap();
    assert_eq!(second.files, [1, 0, 4]);
    assert!(second.added > 1 << 20 && second.added < (1 << 20) + 65536);

    // A stream, stored twice: the second time adds nothing but its tree.
    let dump = noise(5 << 20, 4);
    let s1 = super::store_stream(&ep, "pw", "dump.sql", &labels, dump.as_slice()).unwrap();
    let s2 = super::store_stream(&ep, "pw", "dump.sql", &labels, dump.as_slice()).unwrap();
    assert_eq!(s1.archive_size, dump.len() as u64);
    assert!(s2.added < 4096, "{}", s2.added);

    // rustic_core reads, checks and restores all of it.
    let mut back = Vec::new();
    repo::dump(&ep, "pw", &s2.key, &mut back).unwrap();
    assert!(back == dump, "the stream came back different");
    let checked = repo::check(&ep, "pw", Some("all")).unwrap();
    assert!(checked.ok, "{:?}", checked.errors);
    let out = tmp.path().join("rustic-restore");
    crate::restore::restore_tree(&ep, "pw", &second.key, &out, &[]).unwrap();
    same_tree(&src, &out);
    // Again over it: the directories are merged, and still get the snapshot's times (moving
    // the files into them changed theirs).
    crate::restore::restore_tree(&ep, "pw", &second.key, &out, &[]).unwrap();
    same_tree(&src, &out);
    for d in ["a", "a/b"] {
        let when = |root: &Path| fs::metadata(root.join(d)).unwrap().modified().unwrap();
        assert_eq!(
            when(&src),
            when(&out),
            "{d}'s mtime after a restore over it"
        );
    }

    // And so does stock restic.
    let Some(snaps) = restic(&rp, &["snapshots", "--json"]) else {
        return;
    };
    let listed: serde_json::Value = serde_json::from_slice(&snaps.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(5));
    let check = restic(&rp, &["check", "--read-data"]).unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let target = tmp.path().join("restic-restore");
    let r = restic(
        &rp,
        &["restore", &second.key, "--target", target.to_str().unwrap()],
    )
    .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    same_tree(&src, &target.join(src.strip_prefix("/").unwrap()));
    let d = restic(&rp, &["dump", &s1.key, "dump.sql"]).unwrap();
    assert!(d.stdout == dump, "restic dumps the stream differently");
}
