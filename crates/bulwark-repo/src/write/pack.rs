//! Packs and index files in the restic format.
//!
//! A pack is its sealed blobs one after another, then the sealed header (one entry per blob:
//! type, sealed length, uncompressed length when compressed, id), then the header's length as
//! four little-endian bytes. Its id is the SHA-256 of the whole file. An index file lists packs
//! and where each blob lies in them; a blob is only ever found through an index file written
//! after its pack, so a crash leaves at most packs nothing refers to.

use std::sync::Arc;

use rustic_core::{FileType, Id, WriteBackend};
use serde::{Deserialize, Serialize};

use super::seal::{Sealer, hash};
use crate::repo::{Result, said};

/// Blob kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// File contents.
    Data,
    /// Directory listings.
    Tree,
}

/// A blob ready for a pack: sealed, with what its header entry says.
#[derive(Debug)]
pub struct Sealed<'a> {
    pub id: [u8; 32],
    pub kind: Kind,
    pub bytes: &'a [u8],
    /// The plain length when the sealed bytes are compressed.
    pub uncompressed: Option<u32>,
}

/// Where a blob lies, as an index file says it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexBlob {
    #[serde(with = "hex::serde")]
    pub id: [u8; 32],
    #[serde(rename = "type")]
    pub kind: Kind,
    pub offset: u32,
    pub length: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncompressed_length: Option<u32>,
}

/// One pack of an index file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexPack {
    #[serde(with = "hex::serde")]
    pub id: [u8; 32],
    pub blobs: Vec<IndexBlob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
}

/// An index file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IndexFile {
    /// Packs (those a prune marked for deletion, `packs_to_delete`, are not read: their blobs
    /// do not count as stored).
    pub packs: Vec<IndexPack>,
}

/// A pack being filled.
#[derive(Debug, Default)]
pub struct Pack {
    bytes: Vec<u8>,
    blobs: Vec<IndexBlob>,
}

/// When a pack is full enough to write (the size restic wrote before 0.14).
pub const PACK_SIZE: usize = 4 << 20;

impl Pack {
    /// Adds a blob; returns true when the pack should now be written.
    pub fn add(&mut self, blob: Sealed<'_>) -> Result<bool> {
        let offset = u32::try_from(self.bytes.len()).map_err(|_| "a pack grew too large")?;
        let length = u32::try_from(blob.bytes.len()).map_err(|_| "a blob is too large")?;
        if self.bytes.is_empty() {
            self.bytes.reserve(PACK_SIZE + (PACK_SIZE >> 2));
        }
        self.bytes.extend_from_slice(blob.bytes);
        self.blobs.push(IndexBlob {
            id: blob.id,
            kind: blob.kind,
            offset,
            length,
            uncompressed_length: blob.uncompressed,
        });
        Ok(self.bytes.len() >= PACK_SIZE)
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Finishes the pack and writes it; returns its index entry.
    pub fn write(mut self, sealer: &Sealer, be: &Arc<dyn WriteBackend>) -> Result<IndexPack> {
        let mut header = Vec::with_capacity(self.blobs.len() * 41);
        for b in &self.blobs {
            let compressed = b.uncompressed_length.is_some();
            header.push(match (b.kind, compressed) {
                (Kind::Data, false) => 0,
                (Kind::Tree, false) => 1,
                (Kind::Data, true) => 2,
                (Kind::Tree, true) => 3,
            });
            header.extend_from_slice(&b.length.to_le_bytes());
            if let Some(u) = b.uncompressed_length {
                header.extend_from_slice(&u.to_le_bytes());
            }
            header.extend_from_slice(&b.id);
        }
        let sealed_len = sealer.seal_into(&header, &mut self.bytes)?;
        let sealed_len = u32::try_from(sealed_len).map_err(|_| "a pack header is too large")?;
        self.bytes.extend_from_slice(&sealed_len.to_le_bytes());
        let size = u32::try_from(self.bytes.len()).map_err(|_| "a pack grew too large")?;
        let id = hash(&self.bytes);
        let tree = self.blobs.first().is_some_and(|b| b.kind == Kind::Tree);
        be.write_bytes(FileType::Pack, &Id::new(id), tree, self.bytes.into())
            .map_err(said("a pack cannot be written"))?;
        Ok(IndexPack {
            id,
            blobs: self.blobs,
            size: Some(size),
        })
    }
}

/// Writes an index file of `packs`; returns its id.
pub fn write_index(
    packs: Vec<IndexPack>,
    sealer: &Sealer,
    level: i32,
    be: &Arc<dyn WriteBackend>,
) -> Result<[u8; 32]> {
    let file = IndexFile { packs };
    let json = serde_json::to_vec(&file).map_err(|e| format!("an index cannot be made: {e}"))?;
    let sealed = sealer.file(&json, level)?;
    let id = hash(&sealed);
    be.write_bytes(FileType::Index, &Id::new(id), true, sealed.into())
        .map_err(said("an index file cannot be written"))?;
    Ok(id)
}
