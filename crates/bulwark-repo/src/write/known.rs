//! What the repository already holds: every blob its index files list and where it lies, read
//! once at the start of a backup or restore.

use std::collections::HashMap;
use std::sync::Arc;

use rustic_core::repofile::Tree;
use rustic_core::{FileType, Id, WriteBackend};

use super::pack::{IndexFile, Kind};
use super::seal::{Sealer, hash};
use crate::repo::{Result, said};

/// A blob's place.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub kind: Kind,
    pub pack: [u8; 32],
    pub offset: u32,
    pub length: u32,
    /// The plain length, when the blob is stored compressed.
    pub uncompressed: Option<u32>,
}

impl Place {
    /// The blob's plain length.
    pub fn plain_len(&self) -> u64 {
        u64::from(
            self.uncompressed
                .unwrap_or(self.length.saturating_sub(super::seal::OVERHEAD as u32)),
        )
    }
}

/// The repository's blobs.
#[derive(Debug, Default)]
pub struct Known {
    blobs: HashMap<Id, Place>,
}

impl Known {
    /// Reads every index file.
    pub fn load(be: &Arc<dyn WriteBackend>, sealer: &Sealer) -> Result<Self> {
        let mut known = Self::default();
        let ids = be
            .list(FileType::Index)
            .map_err(said("the repository's index cannot be listed"))?;
        for id in ids {
            let sealed = be
                .read_full(FileType::Index, &id)
                .map_err(said("an index file cannot be read"))?;
            let json = sealer
                .read_file(&sealed)
                .map_err(|e| format!("index file {}: {e}", id.to_hex().as_str()))?;
            let file: IndexFile = serde_json::from_slice(&json)
                .map_err(|e| format!("index file {} cannot be read: {e}", id.to_hex().as_str()))?;
            for pack in file.packs {
                for b in pack.blobs {
                    let place = Place {
                        kind: b.kind,
                        pack: pack.id,
                        offset: b.offset,
                        length: b.length,
                        uncompressed: b.uncompressed_length,
                    };
                    known.blobs.insert(Id::new(b.id), place);
                }
            }
        }
        Ok(known)
    }

    /// Where blob `id` lies.
    pub fn place(&self, id: &Id) -> Option<&Place> {
        self.blobs.get(id)
    }

    /// True when the repository holds data blob `id`.
    pub fn has_data(&self, id: &Id) -> bool {
        self.place(id).is_some_and(|p| p.kind == Kind::Data)
    }

    /// True when the repository holds tree blob `id`.
    pub fn has_tree(&self, id: &Id) -> bool {
        self.place(id).is_some_and(|p| p.kind == Kind::Tree)
    }

    /// Reads tree `id`; `None` when the index does not list it.
    pub fn tree(
        &self,
        id: &Id,
        be: &Arc<dyn WriteBackend>,
        sealer: &Sealer,
    ) -> Result<Option<Tree>> {
        let Some(p) = self.blobs.get(id).filter(|p| p.kind == Kind::Tree) else {
            return Ok(None);
        };
        let sealed = be
            .read_partial(FileType::Pack, &Id::new(p.pack), true, p.offset, p.length)
            .map_err(said("a tree cannot be read"))?;
        let json = open_blob(sealer, p, &sealed, None)?;
        if Id::new(hash(&json)) != *id {
            return Err(format!("tree {} is damaged", id.to_hex().as_str()));
        }
        let tree = serde_json::from_slice(&json).map_err(|e| format!("a tree is damaged: {e}"))?;
        Ok(Some(tree))
    }
}

/// Opens a blob's sealed bytes and decompresses them when stored compressed.
pub fn open_blob(
    sealer: &Sealer,
    place: &Place,
    sealed: &[u8],
    decomp: Option<&mut zstd::bulk::Decompressor<'_>>,
) -> Result<Vec<u8>> {
    let plain = sealer.open(sealed)?;
    let Some(n) = place.uncompressed else {
        return Ok(plain);
    };
    let out = match decomp {
        Some(d) => d.decompress(&plain, n as usize),
        None => zstd::bulk::decompress(&plain, n as usize),
    };
    out.map_err(|e| format!("a blob does not decompress: {e}"))
}
