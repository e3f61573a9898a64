//! The built-in `fs` target: a directory tree as a tar stream, and back.
//!
//! Endpoint: `{"base_dir": "/srv/data", "include": ["*.db"], "exclude": ["cache", "*.tmp"]}`.
//! Patterns are globs matched against each path relative to `base_dir` and against its bare
//! name (`*` also crosses `/`). An excluded directory is skipped with everything under it; with
//! `include`, only entries that match it, or lie under a directory that matches it, are kept.
//!
//! Backup writes a POSIX (ustar, with GNU long names) tar stream with modes, mtimes, owners,
//! symbolic links and empty directories. Sockets, FIFOs and device files are skipped with a
//! warning. Restore unpacks into `base_dir` (created if missing) and refuses what could write
//! outside it: an absolute path or a `..` fails the restore; a symbolic link that points outside
//! the directory is not created and is reported. Files present in the directory but not in the
//! archive are left alone.

use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::Value;
use tar::{EntryType, HeaderMode};

use crate::builtin::required_abspath;
use crate::{Endpoint, Exit, PluginError, Result, TargetPlugin};

/// The `fs` target plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsTarget;

const BUFFER: usize = 1 << 20;

/// What to back up, read from an endpoint.
struct Spec {
    base: PathBuf,
    include: Option<GlobSet>,
    exclude: GlobSet,
}

fn globs(endpoint: &Endpoint, key: &str) -> Result<Option<GlobSet>> {
    let wrong = || {
        PluginError::new(
            Exit::WrongEndpointType,
            format!("endpoint key '{key}' must be a list of glob patterns"),
        )
    };
    let list = match endpoint.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(wrong()),
    };
    let mut set = GlobSetBuilder::new();
    for item in list {
        let pattern = item.as_str().ok_or_else(wrong)?;
        let glob = Glob::new(pattern).map_err(|e| {
            PluginError::new(
                Exit::WrongEndpointType,
                format!("endpoint key '{key}': '{pattern}' is not a valid glob: {e}"),
            )
        })?;
        set.add(glob);
    }
    let set = set
        .build()
        .map_err(|e| PluginError::new(Exit::WrongEndpointType, format!("{key}: {e}")))?;
    Ok((!list.is_empty()).then_some(set))
}

impl Spec {
    fn read(endpoint: &Endpoint) -> Result<Spec> {
        Ok(Spec {
            base: required_abspath(endpoint, "base_dir")?,
            include: globs(endpoint, "include")?,
            exclude: globs(endpoint, "exclude")?.unwrap_or_else(GlobSet::empty),
        })
    }

    fn matches(set: &GlobSet, rel: &Path) -> bool {
        set.is_match(rel) || rel.file_name().is_some_and(|n| set.is_match(n))
    }

    fn included(&self, rel: &Path) -> bool {
        match &self.include {
            None => true,
            Some(set) => rel
                .ancestors()
                .any(|a| !a.as_os_str().is_empty() && Self::matches(set, a)),
        }
    }
}

fn io_failed(what: impl std::fmt::Display, e: impl std::error::Error) -> PluginError {
    // The tar crate nests the cause ("failed to unpack X" ← "permission denied").
    let mut text = format!("{what}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    PluginError::failed(text)
}

impl TargetPlugin for FsTarget {
    fn validate(&self, endpoint: &Endpoint) -> Result<()> {
        let spec = Spec::read(endpoint)?;
        if spec.base.exists() && !spec.base.is_dir() {
            return Err(PluginError::failed(format!(
                "base_dir {} exists and is not a directory",
                spec.base.display()
            )));
        }
        Ok(())
    }

    fn backup(
        &self,
        endpoint: &Endpoint,
        output: &mut dyn Write,
        log: &mut dyn Write,
    ) -> Result<()> {
        let spec = Spec::read(endpoint)?;
        if !spec.base.is_dir() {
            return Err(PluginError::failed(format!(
                "base_dir {} is not a directory",
                spec.base.display()
            )));
        }
        let mut out = BufWriter::with_capacity(BUFFER, output);
        let mut tar = tar::Builder::new(&mut out);
        tar.mode(HeaderMode::Complete);
        tar.follow_symlinks(false);
        let walk = walkdir::WalkDir::new(&spec.base)
            .follow_links(false)
            .sort_by_file_name()
            .min_depth(1)
            .into_iter()
            .filter_entry(|e| {
                e.path()
                    .strip_prefix(&spec.base)
                    .map(|rel| !Spec::matches(&spec.exclude, rel))
                    .unwrap_or(false)
            });
        let (mut files, mut bytes) = (0u64, 0u64);
        for entry in walk {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if e.io_error().map(|i| i.kind()) == Some(std::io::ErrorKind::NotFound) => {
                    let _ = writeln!(log, "warning: {e}; it vanished during the backup");
                    continue;
                }
                Err(e) => return Err(io_failed("reading the directory failed", e)),
            };
            let Ok(rel) = entry.path().strip_prefix(&spec.base) else {
                continue;
            };
            if !spec.included(rel) {
                continue;
            }
            let kind = entry.file_type();
            if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
                let _ = writeln!(
                    log,
                    "warning: skipping {}: not a file, directory or symbolic link",
                    rel.display()
                );
                continue;
            }
            match tar.append_path_with_name(entry.path(), rel) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = writeln!(log, "warning: {} vanished during the backup", rel.display());
                    continue;
                }
                Err(e) => return Err(io_failed(format!("backing up {}", rel.display()), e)),
            }
            files += 1;
            if kind.is_file() {
                bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        tar.finish()
            .map_err(|e| io_failed("writing the backup failed", e))?;
        drop(tar);
        out.flush()
            .map_err(|e| io_failed("writing the backup failed", e))?;
        let _ = writeln!(
            log,
            "backed up {} ({bytes} bytes of file data) from {}",
            count(files, "entry", "entries"),
            spec.base.display()
        );
        Ok(())
    }

    fn restore(
        &self,
        endpoint: &Endpoint,
        input: &mut dyn Read,
        log: &mut dyn Write,
    ) -> Result<()> {
        let spec = Spec::read(endpoint)?;
        let base = &spec.base;
        std::fs::create_dir_all(base)
            .map_err(|e| io_failed(format!("cannot create {}", base.display()), e))?;
        let canon = base
            .canonicalize()
            .map_err(|e| io_failed(format!("cannot resolve {}", base.display()), e))?;
        let mut archive = tar::Archive::new(input);
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        archive.set_unpack_xattrs(false);
        archive.set_preserve_ownerships(nix::unistd::geteuid().is_root());
        let entries = archive
            .entries()
            .map_err(|e| io_failed("reading the archive failed", e))?;
        // Directories get their mode and mtime last, deepest first: files written into them
        // would change the mtime, and a read-only mode would stop the writes.
        let mut dirs: Vec<(PathBuf, u32, u64)> = Vec::new();
        let (mut files, mut skipped) = (0u64, 0u64);
        for entry in entries {
            let mut entry = entry.map_err(|e| io_failed("reading the archive failed", e))?;
            let raw = entry
                .path()
                .map_err(|e| io_failed("reading the archive failed", e))?
                .into_owned();
            let rel = relative(&raw)?;
            if rel.as_os_str().is_empty() {
                continue;
            }
            let kind = entry.header().entry_type();
            match kind {
                EntryType::Symlink => {
                    let target = entry
                        .link_name()
                        .map_err(|e| io_failed("reading the archive failed", e))?
                        .unwrap_or_default()
                        .into_owned();
                    if link_escapes(&rel, &target) {
                        let _ = writeln!(
                            log,
                            "warning: not restoring symbolic link {} -> {}: it points outside the directory",
                            rel.display(),
                            target.display()
                        );
                        skipped += 1;
                        continue;
                    }
                }
                EntryType::Link => {
                    let target = entry
                        .link_name()
                        .map_err(|e| io_failed("reading the archive failed", e))?
                        .unwrap_or_default()
                        .into_owned();
                    relative(&target)?;
                }
                EntryType::Directory => {
                    let dest = base.join(&rel);
                    std::fs::create_dir_all(&dest)
                        .map_err(|e| io_failed(format!("cannot create {}", dest.display()), e))?;
                    inside(&canon, &dest)?;
                    let mode = entry.header().mode().unwrap_or(0o755);
                    let mtime = entry.header().mtime().unwrap_or(0);
                    dirs.push((dest, mode, mtime));
                    continue;
                }
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {}
                other => {
                    let _ = writeln!(
                        log,
                        "warning: not restoring {} (a {other:?} entry)",
                        rel.display()
                    );
                    skipped += 1;
                    continue;
                }
            }
            let unpacked = entry
                .unpack_in(base)
                .map_err(|e| io_failed(format!("restoring {}", rel.display()), e))?;
            if !unpacked {
                return Err(PluginError::failed(format!(
                    "refusing archive entry {}: it would be written outside {}",
                    raw.display(),
                    base.display()
                )));
            }
            files += 1;
        }
        // Read the input to its end (the archive's end-of-archive blocks and any padding): a
        // restore that exits with input unread looks, to whoever feeds it, like one that gave
        // up midway.
        let trailing = std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
            .map_err(|e| io_failed("reading the end of the archive failed", e))?;
        if trailing > 1 << 20 {
            let _ = writeln!(log, "ignored {trailing} bytes after the end of the archive");
        }
        for (dir, mode, mtime) in dirs.iter().rev() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|e| io_failed(format!("cannot set the mode of {}", dir.display()), e))?;
            let t = filetime::FileTime::from_unix_time(i64::try_from(*mtime).unwrap_or(0), 0);
            filetime::set_file_mtime(dir, t)
                .map_err(|e| io_failed(format!("cannot set the mtime of {}", dir.display()), e))?;
        }
        let _ = writeln!(
            log,
            "restored {} and links and {} into {}{}",
            count(files, "file", "files"),
            count(dirs.len() as u64, "directory", "directories"),
            base.display(),
            if skipped > 0 {
                format!("; {} refused", count(skipped, "entry", "entries"))
            } else {
                String::new()
            }
        );
        Ok(())
    }

    fn verify(&self, endpoint: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        super::fs_verify::verify(&base_dir(endpoint)?, input, log)
    }

    fn wipe(&self, endpoint: &Endpoint, log: &mut dyn Write) -> Result<()> {
        super::fs_verify::wipe(&base_dir(endpoint)?, log)
    }
}

/// Compares `base_dir` with a tar stream: see [`super::fs_verify`].
fn base_dir(endpoint: &Endpoint) -> Result<PathBuf> {
    required_abspath(endpoint, "base_dir")
}

/// An archive path as a path under the restore directory; an absolute path or `..` is refused.
pub(crate) fn relative(path: &Path) -> Result<PathBuf> {
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => {
                return Err(PluginError::failed(format!(
                    "refusing archive entry {}: absolute paths and '..' are not restored",
                    path.display()
                )));
            }
        }
    }
    Ok(rel)
}

/// True when a link at `rel` pointing to `target` would resolve outside the directory.
pub(crate) fn link_escapes(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return true;
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// Fails when `dest` (which exists) resolves outside `canon_base`: a directory reached through
/// a link that was already there.
fn inside(canon_base: &Path, dest: &Path) -> Result<()> {
    let real = dest
        .canonicalize()
        .map_err(|e| io_failed(format!("cannot resolve {}", dest.display()), e))?;
    if real.starts_with(canon_base) {
        Ok(())
    } else {
        Err(PluginError::failed(format!(
            "refusing to restore into {}: it resolves to {}, outside the directory",
            dest.display(),
            real.display()
        )))
    }
}

/// `1 entry`, `2 entries`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn ep(v: serde_json::Value) -> Endpoint {
        v.as_object().unwrap().clone()
    }

    fn backup(endpoint: &Endpoint) -> Vec<u8> {
        let mut out = Vec::new();
        FsTarget
            .backup(endpoint, &mut out, &mut Vec::new())
            .unwrap();
        out
    }

    fn restore(dir: &Path, data: &[u8]) -> (Result<()>, String) {
        let mut log = Vec::new();
        let r = FsTarget.restore(&ep(json!({"base_dir": dir})), &mut &data[..], &mut log);
        (r, String::from_utf8_lossy(&log).into_owned())
    }

    #[test]
    fn round_trip_keeps_modes_mtimes_links_and_empty_dirs() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        std::fs::create_dir_all(s.join("dir with space/ünïcødé")).unwrap();
        std::fs::create_dir(s.join("empty")).unwrap();
        std::fs::write(s.join("dir with space/ünïcødé/file €.txt"), b"hello").unwrap();
        std::fs::write(s.join("secret"), b"s").unwrap();
        std::fs::set_permissions(s.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(s.join("run.sh"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(s.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("dir with space/ünïcødé/file €.txt", s.join("link")).unwrap();
        let long = "x".repeat(120);
        std::fs::create_dir_all(s.join(&long).join(&long)).unwrap();
        std::fs::write(s.join(&long).join(&long).join("deep"), b"d").unwrap();
        filetime::set_file_mtime(
            s.join("secret"),
            filetime::FileTime::from_unix_time(1_000_000, 0),
        )
        .unwrap();
        filetime::set_file_mtime(
            s.join("empty"),
            filetime::FileTime::from_unix_time(2_000_000, 0),
        )
        .unwrap();

        let data = backup(&ep(json!({"base_dir": s})));
        let dst = tempfile::tempdir().unwrap();
        let d = dst.path().join("restored");
        let (r, log) = restore(&d, &data);
        r.unwrap();
        assert!(log.contains("restored"), "{log}");
        assert_eq!(
            std::fs::read(d.join("dir with space/ünïcødé/file €.txt")).unwrap(),
            b"hello"
        );
        assert_eq!(
            std::fs::read(d.join(&long).join(&long).join("deep")).unwrap(),
            b"d"
        );
        let mode = |p: &str| std::fs::metadata(d.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("secret"), 0o600);
        assert_eq!(mode("run.sh"), 0o755);
        assert!(d.join("empty").is_dir());
        assert_eq!(
            std::fs::metadata(d.join("secret")).unwrap().mtime(),
            1_000_000
        );
        assert_eq!(
            std::fs::metadata(d.join("empty")).unwrap().mtime(),
            2_000_000
        );
        assert_eq!(
            std::fs::read_link(d.join("link")).unwrap(),
            Path::new("dir with space/ünïcødé/file €.txt")
        );
    }

    #[test]
    fn include_and_exclude() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        std::fs::create_dir_all(s.join("cache/sub")).unwrap();
        std::fs::create_dir_all(s.join("data")).unwrap();
        std::fs::write(s.join("cache/sub/x.db"), b"c").unwrap();
        std::fs::write(s.join("data/a.db"), b"a").unwrap();
        std::fs::write(s.join("data/a.tmp"), b"t").unwrap();
        std::fs::write(s.join("top.db"), b"t").unwrap();
        let data = backup(&ep(
            json!({"base_dir": s, "include": ["*.db"], "exclude": ["cache"]}),
        ));
        let dst = tempfile::tempdir().unwrap();
        restore(dst.path(), &data).0.unwrap();
        assert!(dst.path().join("data/a.db").exists());
        assert!(dst.path().join("top.db").exists());
        assert!(!dst.path().join("data/a.tmp").exists());
        assert!(!dst.path().join("cache").exists());
    }

    fn evil(path: &str, kind: EntryType, link: Option<&str>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(if kind == EntryType::Regular { 4 } else { 0 });
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        // Write the name bytes directly: the builder's own setters refuse `..`.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        let body: &[u8] = if kind == EntryType::Regular {
            b"evil"
        } else {
            b""
        };
        b.append(&h, body).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn restore_refuses_what_escapes() {
        let dst = tempfile::tempdir().unwrap();
        let d = dst.path().join("r");
        for path in ["../escape", "/tmp/absolute-escape", "a/../../escape"] {
            let (r, _) = restore(&d, &evil(path, EntryType::Regular, None));
            let err = r.unwrap_err();
            assert!(
                err.message.contains("refusing archive entry"),
                "{path}: {err}"
            );
        }
        assert!(!dst.path().join("escape").exists());
        for target in ["/etc/passwd", "../../x", "a/../../x"] {
            let (r, log) = restore(&d, &evil("link", EntryType::Symlink, Some(target)));
            r.unwrap();
            assert!(log.contains("points outside the directory"), "{log}");
            assert!(std::fs::symlink_metadata(d.join("link")).is_err());
        }
        let (r, _) = restore(&d, &evil("ok", EntryType::Symlink, Some("sub/../file")));
        r.unwrap();
        assert!(std::fs::symlink_metadata(d.join("ok")).is_ok());
        // A directory that is a link to the outside (already there) is not written through.
        std::os::unix::fs::symlink(dst.path(), d.join("out")).unwrap();
        let (r, _) = restore(&d, &evil("out/planted", EntryType::Regular, None));
        assert!(r.is_err());
        assert!(!dst.path().join("planted").exists());
        // Junk is an error, not an empty restore.
        let (r, _) = restore(&d, &[7u8; 2000]);
        assert!(r.is_err());
    }

    #[test]
    fn bad_endpoints() {
        assert_eq!(
            FsTarget.validate(&ep(json!({}))).unwrap_err().exit,
            Exit::MissingEndpointKey
        );
        assert_eq!(
            FsTarget
                .validate(&ep(json!({"base_dir": "/tmp", "include": "*.db"})))
                .unwrap_err()
                .exit,
            Exit::WrongEndpointType
        );
        assert_eq!(
            FsTarget
                .validate(&ep(json!({"base_dir": "/tmp", "exclude": ["a[" ]})))
                .unwrap_err()
                .exit,
            Exit::WrongEndpointType
        );
        let err = FsTarget
            .backup(
                &ep(json!({"base_dir": "/nonexistent/bulwark"})),
                &mut Vec::new(),
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(err.message.contains("is not a directory"), "{err}");
    }
}
