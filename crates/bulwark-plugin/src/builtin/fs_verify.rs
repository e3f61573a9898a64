//! The `fs` target's drill actions: `verify` compares a directory with a tar stream `backup`
//! wrote, entry by entry and byte by byte; `wipe` empties the directory.

use std::io::{Read, Write};
use std::path::Path;

use tar::EntryType;

use super::fs_target::{link_escapes, relative};
use crate::{Differences, PluginError, Result};

const CHUNK: usize = 1 << 16;

fn failed(what: impl std::fmt::Display, e: impl std::fmt::Display) -> PluginError {
    PluginError::failed(format!("{what}: {e}"))
}

/// Reads as much of `buf` as `r` has; fewer bytes only at its end.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The first byte where `a` and `b` differ, if they do (lengths included).
fn first_difference(a: &mut impl Read, b: &mut impl Read) -> std::io::Result<Option<u64>> {
    let (mut x, mut y) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut offset = 0u64;
    loop {
        let n = fill(a, &mut x)?;
        let m = fill(b, &mut y)?;
        if let Some(i) = x[..n.min(m)]
            .iter()
            .zip(&y[..n.min(m)])
            .position(|(p, q)| p != q)
        {
            return Ok(Some(offset + i as u64));
        }
        if n != m {
            return Ok(Some(offset + n.min(m) as u64));
        }
        if n == 0 {
            return Ok(None);
        }
        offset += n as u64;
    }
}

/// Compares `base` with the tar stream on `input`.
pub(crate) fn verify(base: &Path, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
    if !base.is_dir() {
        return Err(PluginError::failed(format!(
            "{} is not a directory; nothing was restored there",
            base.display()
        )));
    }
    let mut archive = tar::Archive::new(input);
    let mut diffs = Differences::new();
    let (mut files, mut dirs, mut links, mut bytes, mut passed) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let entries = archive
        .entries()
        .map_err(|e| failed("reading the backup failed", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| failed("reading the backup failed", e))?;
        let raw = entry
            .path()
            .map_err(|e| failed("reading the backup failed", e))?
            .into_owned();
        let rel = relative(&raw)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let name = rel.display().to_string();
        let dest = base.join(&rel);
        let meta = std::fs::symlink_metadata(&dest).ok();
        match entry.header().entry_type() {
            EntryType::Directory => {
                dirs += 1;
                if !meta.is_some_and(|m| m.is_dir()) {
                    diffs.note(format!("directory {name} is missing"));
                }
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| failed("reading the backup failed", e))?
                    .unwrap_or_default()
                    .into_owned();
                if link_escapes(&rel, &target) {
                    // A restore never makes it (it says so); not a difference.
                    passed += 1;
                    continue;
                }
                links += 1;
                match std::fs::read_link(&dest) {
                    Ok(t) if t == target => {}
                    Ok(t) => diffs.note(format!(
                        "link {name} points to {}, not {}",
                        t.display(),
                        target.display()
                    )),
                    Err(_) => diffs.note(format!("link {name} is missing")),
                }
            }
            EntryType::Link => {
                links += 1;
                if !meta.is_some_and(|m| m.is_file()) {
                    diffs.note(format!("file {name} is missing"));
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                files += 1;
                let size = entry.size();
                bytes += size;
                match meta {
                    Some(m) if m.is_file() && m.len() != size => {
                        diffs.note(format!("file {name} has {} bytes, not {size}", m.len()))
                    }
                    Some(m) if m.is_file() => {
                        let mut f = std::fs::File::open(&dest)
                            .map_err(|e| failed(format!("cannot read {}", dest.display()), e))?;
                        let at = first_difference(&mut entry, &mut f)
                            .map_err(|e| failed(format!("comparing {name} failed"), e))?;
                        if let Some(at) = at {
                            diffs.note(format!("file {name} differs at byte {at}"));
                        }
                    }
                    Some(_) => diffs.note(format!("{name} is not a file")),
                    None => diffs.note(format!("file {name} is missing")),
                }
            }
            // Never restored (sockets, devices): nothing to compare.
            _ => passed += 1,
        }
    }
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .map_err(|e| failed("reading the end of the backup failed", e))?;
    let total = files + dirs + links;
    diffs.finish(&format!("{total} entries"))?;
    let _ = writeln!(
        log,
        "verified {files} files ({bytes} bytes, compared byte by byte), {dirs} directories and {links} links in {} against the backup: identical{}",
        base.display(),
        if passed > 0 {
            format!("; {passed} entries a restore never makes were passed over")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Removes everything inside `base` (not `base` itself).
pub(crate) fn wipe(base: &Path, log: &mut dyn Write) -> Result<()> {
    if base.parent().is_none() {
        return Err(PluginError::failed("refusing to wipe the root directory"));
    }
    let entries = match std::fs::read_dir(base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(failed(format!("cannot read {}", base.display()), e)),
    };
    let mut removed = 0u64;
    for entry in entries {
        let entry = entry.map_err(|e| failed(format!("cannot read {}", base.display()), e))?;
        let path = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        gone.map_err(|e| failed(format!("cannot remove {}", path.display()), e))?;
        removed += 1;
    }
    let _ = writeln!(log, "removed {removed} entries from {}", base.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_where_two_streams_part() {
        let diff = |a: &[u8], b: &[u8]| first_difference(&mut &a[..], &mut &b[..]).unwrap();
        assert_eq!(diff(b"abc", b"abc"), None);
        assert_eq!(diff(b"abc", b"abd"), Some(2));
        assert_eq!(diff(b"abc", b"ab"), Some(2));
        let big = vec![7u8; CHUNK * 2 + 5];
        let mut other = big.clone();
        other[CHUNK + 3] = 0;
        assert_eq!(diff(&big, &other), Some(CHUNK as u64 + 3));
        assert_eq!(diff(b"", b""), None);
    }
}
