//! Directory trees for tests: building tricky content and comparing two trees entry by entry.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One entry of a tree, as a restore must reproduce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file: mode, mtime (seconds) and size.
    File {
        /// Permission bits.
        mode: u32,
        /// Modification time, whole seconds.
        mtime: i64,
        /// Bytes.
        size: u64,
    },
    /// A directory: mode and mtime.
    Dir {
        /// Permission bits.
        mode: u32,
        /// Modification time, whole seconds.
        mtime: i64,
    },
    /// A symbolic link and where it points.
    Link(PathBuf),
}

/// Every entry under `root` (not `root` itself), by relative path.
pub fn entries(root: &Path) -> Result<BTreeMap<PathBuf, Entry>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path)?;
            let rel = path.strip_prefix(root)?.to_path_buf();
            let mode = meta.permissions().mode() & 0o7777;
            let entry = if meta.file_type().is_symlink() {
                Entry::Link(std::fs::read_link(&path)?)
            } else if meta.is_dir() {
                stack.push(path.clone());
                Entry::Dir {
                    mode,
                    mtime: meta.mtime(),
                }
            } else {
                Entry::File {
                    mode,
                    mtime: meta.mtime(),
                    size: meta.len(),
                }
            };
            out.insert(rel, entry);
        }
    }
    Ok(out)
}

/// Fails unless `b` holds exactly the entries of `a`, with the same metadata and bytes.
pub fn assert_same_tree(a: &Path, b: &Path) -> Result<()> {
    let ea = entries(a)?;
    let eb = entries(b)?;
    let names_a: Vec<_> = ea.keys().collect();
    let names_b: Vec<_> = eb.keys().collect();
    if names_a != names_b {
        bail!("the trees hold different paths:\n{names_a:?}\n{names_b:?}");
    }
    for (rel, entry) in &ea {
        if eb.get(rel) != Some(entry) {
            bail!("{} differs: {entry:?} vs {:?}", rel.display(), eb.get(rel));
        }
        if matches!(entry, Entry::File { .. }) && !same_bytes(&a.join(rel), &b.join(rel))? {
            bail!("{} has different content", rel.display());
        }
    }
    Ok(())
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let mut fa = std::fs::File::open(a)?;
    let mut fb = std::fs::File::open(b)?;
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Fills `root` with content that trips naive backup tools: unicode and spaces in names, a
/// symbolic link (relative, inside the tree), an empty directory, modes 0600 and 0755, old
/// mtimes, a long path, and a file of `big` bytes (non-repeating, so nothing compresses it away).
pub fn tricky(root: &Path, big: u64) -> Result<()> {
    use std::io::Write;
    let set_mtime = |p: &Path, t: i64| -> Result<()> {
        // Through `touch`, which every machine has.
        let status = std::process::Command::new("touch")
            .arg("-h")
            .arg("-d")
            .arg(format!("@{t}"))
            .arg(p)
            .status()?;
        if !status.success() {
            bail!("touch failed on {}", p.display());
        }
        Ok(())
    };
    std::fs::create_dir_all(root.join("dir with space/ünïcødé ✓"))?;
    std::fs::create_dir_all(root.join("empty dir"))?;
    std::fs::write(
        root.join("dir with space/ünïcødé ✓/naïve café.txt"),
        "crème brûlée\n",
    )?;
    std::fs::write(root.join("secret.key"), "hunter2\n")?;
    std::fs::set_permissions(
        root.join("secret.key"),
        std::fs::Permissions::from_mode(0o600),
    )?;
    std::fs::write(root.join("run me.sh"), "#!/bin/sh\necho hi\n")?;
    std::fs::set_permissions(
        root.join("run me.sh"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    std::os::unix::fs::symlink(
        "dir with space/ünïcødé ✓/naïve café.txt",
        root.join("link to café"),
    )?;
    let long = "long-name-".repeat(12);
    std::fs::create_dir_all(root.join(&long))?;
    std::fs::write(root.join(&long).join(&long), "deep\n")?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(root.join("big.bin"))?);
    // xorshift: fast, and every block differs.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 16];
    let mut left = big;
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    drop(f);
    set_mtime(&root.join("secret.key"), 1_000_000_000)?;
    set_mtime(&root.join("empty dir"), 1_100_000_000)?;
    set_mtime(&root.join("dir with space"), 1_200_000_000)?;
    Ok(())
}
