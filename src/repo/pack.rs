//! Pack: the objects one writer makes, hashed in memory and stored as one pack file.
//!
//! Input: blob contents and raw trees and commits, as the [`super::tree`] and
//! [`super::commit`] modules make them. Output: their ids at once (git's SHA-1 of the object),
//! and, on `Objects::flush`, a version-2 pack of the objects a moving ref reaches that the object
//! database lacks, indexed by libgit2. Each distinct blob and tree is kept once (identical objects
//! across WECs share one blob, identical directories one tree), and nothing already in the
//! object database is written again: far fewer files than loose objects, and only what is new.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;

use git2::{ObjectType, Odb, OdbLookupFlags, Oid, Repository};

use super::tree::{TreeEdits, tree_children};
use super::write::{WriteError, git};

/// git's object type codes in a pack.
pub(super) const PACK_COMMIT: u8 = 1;
pub(super) const PACK_TREE: u8 = 2;
pub(super) const PACK_BLOB: u8 = 3;

/// The objects of one writer: those built (hashed, not stored yet) and those known stored.
pub struct Objects<'a> {
    pub(super) odb: Odb<'a>,
    /// New objects (pack type code, content), to be stored by the next flush.
    unflushed: Vec<(u8, Arc<[u8]>)>,
    /// Every blob and tree built, by id.
    pub(super) pending: HashMap<Oid, (u8, Arc<[u8]>)>,
    /// Blob ids by the address of their content (contents shared across refs are hashed once).
    blob_ids: HashMap<usize, (Arc<[u8]>, Oid)>,
    /// Objects known to be in the object database (written by this writer or found there).
    stored: HashSet<Oid>,
    /// Trees already edited, with the edits: WECs share most subtrees, so most edits repeat.
    pub(super) edited: HashMap<(Option<Oid>, TreeEdits), Option<Oid>>,
}

impl<'a> Objects<'a> {
    /// The objects of a writer into `repo`'s object database.
    pub fn new(repo: &'a Repository) -> Result<Objects<'a>, WriteError> {
        Ok(Objects {
            odb: repo.odb().map_err(git("opening the object database"))?,
            unflushed: Vec::new(),
            pending: HashMap::new(),
            blob_ids: HashMap::new(),
            stored: HashSet::new(),
            edited: HashMap::new(),
        })
    }

    /// Hashes a raw tree, remembering it; returns its id.
    pub(super) fn hash_tree(&mut self, bytes: Vec<u8>) -> Result<Oid, WriteError> {
        let oid = object_id("tree", &bytes)?;
        self.pending
            .entry(oid)
            .or_insert_with(|| (PACK_TREE, Arc::from(bytes)));
        Ok(oid)
    }

    /// Hashes `content` as a blob (stored if a ref that reaches it moves).
    pub fn blob(&mut self, content: &Arc<[u8]>) -> Result<Oid, WriteError> {
        let key = Arc::as_ptr(content) as *const u8 as usize;
        if let Some((_, oid)) = self.blob_ids.get(&key) {
            return Ok(*oid);
        }
        let oid = object_id("blob", content)?;
        self.blob_ids.insert(key, (content.clone(), oid));
        self.pending
            .entry(oid)
            .or_insert_with(|| (PACK_BLOB, content.clone()));
        Ok(oid)
    }

    /// Hashes a raw commit and queues it for the next flush; returns its id.
    pub(super) fn commit(&mut self, bytes: Vec<u8>) -> Result<Oid, WriteError> {
        let bytes: Arc<[u8]> = Arc::from(bytes);
        let commit = object_id("commit", &bytes)?;
        self.unflushed.push((PACK_COMMIT, bytes));
        self.stored.insert(commit);
        Ok(commit)
    }

    /// Queues `oid` and everything it reaches that the object database lacks.
    pub(super) fn store(&mut self, oid: Oid) -> Result<(), WriteError> {
        if self.stored.contains(&oid) {
            return Ok(());
        }
        // Without a refresh: a miss costs a rescan of the pack directory otherwise, and an
        // object another writer stored meanwhile is merely stored twice.
        if self.odb.exists_ext(oid, OdbLookupFlags::NO_REFRESH) {
            // A tree in the database has all it reaches (git's invariant; packs are written whole).
            self.stored.insert(oid);
            return Ok(());
        }
        let Some((kind, bytes)) = self.pending.get(&oid).cloned() else {
            return Err(WriteError::Git {
                what: format!("writing object {oid}"),
                source: git2::Error::from_str("object neither built nor stored"),
            });
        };
        if kind == PACK_TREE {
            for child in tree_children(&bytes) {
                self.store(child)?;
            }
        }
        self.unflushed.push((kind, bytes));
        self.stored.insert(oid);
        Ok(())
    }

    /// Stores the queued objects as one pack, indexed by libgit2, so that they are all on disk
    /// before any ref moves.
    pub(super) fn flush(&mut self) -> Result<(), WriteError> {
        if self.unflushed.is_empty() {
            return Ok(());
        }
        let objects = std::mem::take(&mut self.unflushed);
        let started = std::time::Instant::now();
        let pack = encode_pack(&objects).map_err(WriteError::Pack)?;
        tracing::debug!(elapsed = ?started.elapsed(), objects = objects.len(), bytes = pack.len(), "encoded a pack");
        let mut writer = self.odb.packwriter().map_err(git("starting a pack"))?;
        writer.write_all(&pack).map_err(WriteError::Pack)?;
        writer.commit().map_err(git("storing a pack"))?;
        Ok(())
    }

    /// The raw content of a tree, built by this writer or read from the object database.
    pub(super) fn tree_bytes(&self, oid: Oid) -> Result<Arc<[u8]>, WriteError> {
        if let Some((PACK_TREE, bytes)) = self.pending.get(&oid) {
            return Ok(bytes.clone());
        }
        read_tree(&self.odb, oid)
    }
}

/// The raw content of tree `oid` in the object database.
pub(super) fn read_tree(odb: &Odb<'_>, oid: Oid) -> Result<Arc<[u8]>, WriteError> {
    let object = odb.read(oid).map_err(git(format!("reading tree {oid}")))?;
    if object.kind() != ObjectType::Tree {
        return Err(WriteError::Git {
            what: format!("reading tree {oid}"),
            source: git2::Error::from_str("not a tree"),
        });
    }
    Ok(Arc::from(object.data()))
}

/// A version-2 pack of the objects (no deltas), with its SHA-1 trailer. Objects are compressed
/// on every core (a pack is a concatenation of independent entries).
fn encode_pack(objects: &[(u8, Arc<[u8]>)]) -> std::io::Result<Vec<u8>> {
    use sha1::{Digest as _, Sha1};
    let count = u32::try_from(objects.len())
        .map_err(|_| std::io::Error::other("too many objects for one pack"))?;
    let parts = gitstellar_core::par::map_chunks(objects, encode_entries);
    let mut pack = Vec::with_capacity(12);
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&count.to_be_bytes());
    for part in parts {
        pack.extend_from_slice(&part?);
    }
    let digest = Sha1::digest(&pack);
    pack.extend_from_slice(&digest);
    Ok(pack)
}

/// The pack entries of some objects: type-and-size header, then the zlib stream.
fn encode_entries(objects: &[(u8, Arc<[u8]>)]) -> std::io::Result<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut out = Vec::with_capacity(objects.iter().map(|(_, b)| b.len() / 3 + 16).sum());
    // One compressor, reset per object: setting one up costs more than compressing a small object.
    let mut zlib = Compress::new(Compression::new(1), true);
    for (kind, bytes) in objects {
        let mut size = bytes.len();
        let mut byte = (kind << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            out.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        out.push(byte);
        zlib.reset();
        let mut input: &[u8] = bytes;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before = zlib.total_in();
            let status = zlib
                .compress_vec(input, &mut out, FlushCompress::Finish)
                .map_err(std::io::Error::other)?;
            let consumed = usize::try_from(zlib.total_in() - before).unwrap_or(input.len());
            input = &input[consumed.min(input.len())..];
            if status == Status::StreamEnd {
                break;
            }
        }
    }
    Ok(out)
}

/// A git object's id: SHA-1 of `<kind> <length>\0<content>`. (Plain SHA-1 is faster than
/// libgit2's collision-detecting one; the pack indexer re-hashes every object it stores with the
/// latter.)
pub(super) fn object_id(kind: &str, content: &[u8]) -> Result<Oid, WriteError> {
    use sha1::{Digest as _, Sha1};
    let mut hasher = Sha1::new();
    hasher.update(format!("{kind} {}\0", content.len()).as_bytes());
    hasher.update(content);
    Oid::from_bytes(&hasher.finalize()).map_err(git("hashing an object"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_git_ids() {
        for (kind, t) in [("blob", ObjectType::Blob), ("tree", ObjectType::Tree)] {
            let ours = object_id(kind, b"some content").ok();
            assert_eq!(ours, Oid::hash_object(t, b"some content").ok());
        }
    }
}
