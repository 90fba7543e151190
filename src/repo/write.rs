//! Repo writing: the trees, commits and refs gitstellar owns (design §3, all under
//! `refs/heads/gitstellar/`), written with git2 into the object database of a repository.
//!
//! Input: for each ref, the files it should hold (path → bytes, as the pure `mailbox` and
//! `status` stages compute them). Output: one commit per ref whose tree changed, with the ref's
//! current tip as parent and a `Source-Revision: <sha>` trailer; refs that did not change are not
//! touched.
//!
//! How it stays fast: every tree is hashed in memory first, and only a ref whose root tree differs
//! from its tip's gets its objects written; each distinct blob and tree is written once per pass
//! (identical objects across WECs share one blob, identical directories one tree), and nothing
//! already in the object database is written again. Writes go to an in-memory pack
//! ([`git2::Mempack`]) that [`RefWriter::finish`] stores as one pack file.
//!
//! How it stays safe: refs move only after every object they reach is in a pack on disk, and only
//! by compare-and-swap. When another writer moved a ref since it was read, the new tip is re-read:
//! if it already has the wanted tree there is nothing to do, if it was written from a newer source
//! revision it is left alone, and otherwise a new commit is made on top of it and swapped in again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;

use git2::{ErrorCode, ObjectType, Odb, Oid, Repository, Signature};

/// The files of one ref's tree: `/`-separated path → content.
pub type Files = BTreeMap<String, Arc<[u8]>>;

/// The prefix of every ref gitstellar writes.
pub const REF_PREFIX: &str = "refs/heads/gitstellar/";

/// The trailer naming the source commit a gitstellar commit was computed from.
pub const SOURCE_REVISION_TRAILER: &str = "Source-Revision";

/// How many times a ref is re-read and re-committed when other writers keep moving it.
const MAX_ATTEMPTS: usize = 20;

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A path cannot be a path in a git tree.
    #[error("{path:?} is not a valid path in a git tree")]
    Path {
        /// The path.
        path: String,
    },
    /// A path is used both as a file and as a directory.
    #[error("{path:?} is both a file and a directory")]
    FileAndDirectory {
        /// The path.
        path: String,
    },
    /// A ref name is not valid.
    #[error("{name:?} is not a valid reference name")]
    RefName {
        /// The name.
        name: String,
    },
    /// Other writers moved a ref every time it was about to be updated.
    #[error("{name}: gave up after {attempts} attempts; other writers kept moving it")]
    Contended {
        /// The ref.
        name: String,
        /// How many attempts were made.
        attempts: usize,
    },
    /// A git operation failed.
    #[error("{what}: {source}")]
    Git {
        /// What was being done.
        what: String,
        /// git's reason.
        source: git2::Error,
    },
    /// Writing the pack failed.
    #[error("writing a pack: {0}")]
    Pack(#[source] std::io::Error),
}

fn git(what: impl Into<String>) -> impl FnOnce(git2::Error) -> WriteError {
    let what = what.into();
    move |source| WriteError::Git { what, source }
}

/// What changed in one ref's files, as paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths that are new.
    pub added: Vec<String>,
    /// Paths whose content changed.
    pub changed: Vec<String>,
    /// Paths that are gone.
    pub removed: Vec<String>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// What happened to one ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefOutcome {
    /// The ref already had the wanted tree (possibly written by a concurrent writer).
    Unchanged,
    /// A new commit was made.
    Updated {
        /// The new commit.
        commit: Oid,
        /// The commit's subject line.
        subject: String,
    },
    /// The ref was deleted.
    Deleted,
    /// A concurrent writer moved the ref to a commit made from a newer source revision; it was left alone.
    Superseded,
}

/// An object hashed in memory, not yet known to be in the object database.
enum Pending {
    Blob(Arc<[u8]>),
    Tree(Vec<u8>),
}

/// A tree as built in memory (before hashing).
#[derive(Default)]
struct Dir {
    entries: BTreeMap<String, Entry>,
}

enum Entry {
    File(Arc<[u8]>),
    Dir(Dir),
}

/// A commit made but whose ref has not moved yet.
struct Update {
    name: String,
    old: Option<Oid>,
    new: Oid,
    tree: Oid,
    subject: Box<dyn Fn(&Changes) -> String>,
    outcome_index: usize,
}

/// Writes the gitstellar refs of one repository in one pass: [`RefWriter::update`] or
/// [`RefWriter::delete`] each ref, then [`RefWriter::finish`].
pub struct RefWriter<'r> {
    repo: &'r Repository,
    odb: Odb<'r>,
    mempack: git2::Mempack<'r>,
    /// Objects written to the mempack since the last flush.
    unflushed: usize,
    source_revision: String,
    signature: Signature<'static>,
    pending: HashMap<Oid, Pending>,
    /// Blob ids by the address of their content (contents shared across refs are hashed once).
    blob_ids: HashMap<usize, (Arc<[u8]>, Oid)>,
    /// Objects known to be in the object database (written this pass or found there).
    stored: HashSet<Oid>,
    updates: Vec<Update>,
    deletes: Vec<(String, Oid, usize)>,
    outcomes: Vec<(String, RefOutcome)>,
}

impl<'r> RefWriter<'r> {
    /// Starts a pass on `repo`; every commit will carry `Source-Revision: <source_revision>`.
    pub fn new(repo: &'r Repository, source_revision: &str) -> Result<RefWriter<'r>, WriteError> {
        let odb = repo.odb().map_err(git("opening the object database"))?;
        // SAFETY of lifetimes: the mempack is owned by `odb`; both live in this struct. git2 ties the
        // mempack's lifetime to a borrow of the odb, so a second handle on the same odb is used.
        let odb_for_pack = repo.odb().map_err(git("opening the object database"))?;
        let signature = Signature::now("gitstellar", "gitstellar@localhost")
            .map_err(git("making a signature"))?;
        let mempack = Self::attach_mempack(odb_for_pack)?;
        Ok(RefWriter {
            repo,
            odb,
            mempack,
            unflushed: 0,
            source_revision: source_revision.to_string(),
            signature,
            pending: HashMap::new(),
            blob_ids: HashMap::new(),
            stored: HashSet::new(),
            updates: Vec::new(),
            deletes: Vec::new(),
            outcomes: Vec::new(),
        })
    }

    fn attach_mempack(odb: Odb<'r>) -> Result<git2::Mempack<'r>, WriteError> {
        // The Odb handle is reference-counted by libgit2: the repository keeps its odb (and so the
        // backend) alive as long as the repository lives, which outlives 'r.
        let odb: &'r Odb<'r> = Box::leak(Box::new(odb));
        odb.add_new_mempack_backend(1000)
            .map_err(git("adding an in-memory object backend"))
    }

    /// The id of the commit a ref points to, if it exists.
    pub fn tip(&self, name: &str) -> Result<Option<Oid>, WriteError> {
        read_tip(self.repo, name)
    }

    /// Sets `name` to a tree holding exactly `files`, committing on top of its tip unless the tip
    /// already has that tree. `subject` makes the commit's subject line from what changed. The ref
    /// moves in [`RefWriter::finish`].
    pub fn update(
        &mut self,
        name: &str,
        files: &Files,
        subject: impl Fn(&Changes) -> String + 'static,
    ) -> Result<(), WriteError> {
        if !git2::Reference::is_valid_name(name) {
            return Err(WriteError::RefName { name: name.into() });
        }
        let tree = self.build_tree(files)?;
        let old = self.tip(name)?;
        let old_tree = match old {
            Some(c) => Some(self.commit_tree(c)?),
            None => None,
        };
        if old_tree == Some(tree) {
            self.outcomes.push((name.into(), RefOutcome::Unchanged));
            return Ok(());
        }
        self.store(tree)?;
        let subject: Box<dyn Fn(&Changes) -> String> = Box::new(subject);
        let (commit, _) = self.make_commit(tree, old, old_tree, &*subject)?;
        let outcome_index = self.outcomes.len();
        self.outcomes.push((name.into(), RefOutcome::Unchanged));
        self.updates.push(Update {
            name: name.into(),
            old,
            new: commit,
            tree,
            subject,
            outcome_index,
        });
        Ok(())
    }

    /// Deletes `name` (if it exists) in [`RefWriter::finish`].
    pub fn delete(&mut self, name: &str) -> Result<(), WriteError> {
        if let Some(old) = self.tip(name)? {
            self.deletes.push((name.into(), old, self.outcomes.len()));
            self.outcomes.push((name.into(), RefOutcome::Deleted));
        }
        Ok(())
    }

    /// The names of the existing refs under `prefix` (e.g. `refs/heads/gitstellar/mailbox/`).
    pub fn refs_under(&self, prefix: &str) -> Result<Vec<String>, WriteError> {
        let glob = format!("{prefix}*");
        let refs = self
            .repo
            .references_glob(&glob)
            .map_err(git(format!("listing {glob}")))?;
        let mut names = Vec::new();
        for r in refs {
            let r = r.map_err(git(format!("listing {glob}")))?;
            if let Some(n) = r.name() {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Stores every object written into one pack, then moves every ref by compare-and-swap
    /// (retrying on a moved tip). Returns what happened to each ref, in the order given.
    pub fn finish(mut self) -> Result<Vec<(String, RefOutcome)>, WriteError> {
        self.flush()?;
        let updates = std::mem::take(&mut self.updates);
        for update in updates {
            let outcome = self.swap(update.name.clone(), update.old, update.new, |w, tip| {
                let tip_tree = match tip {
                    Some(c) => Some(w.commit_tree(c)?),
                    None => None,
                };
                if tip_tree == Some(update.tree) {
                    return Ok(None);
                }
                let (commit, _) = w.make_commit(update.tree, tip, tip_tree, &*update.subject)?;
                w.flush()?;
                Ok(Some(commit))
            })?;
            let outcome = match outcome {
                Swapped::To(commit) => {
                    let message = self
                        .repo
                        .find_commit(commit)
                        .map_err(git("reading the new commit"))?
                        .summary()
                        .unwrap_or_default()
                        .to_string();
                    RefOutcome::Updated {
                        commit,
                        subject: message,
                    }
                }
                Swapped::Nothing => RefOutcome::Unchanged,
                Swapped::Superseded => RefOutcome::Superseded,
            };
            self.outcomes[update.outcome_index].1 = outcome;
        }
        let deletes = std::mem::take(&mut self.deletes);
        for (name, old, index) in deletes {
            let outcome = self.delete_ref(&name, old)?;
            self.outcomes[index].1 = outcome;
        }
        Ok(self.outcomes)
    }

    /// Moves `name` from `old` to `new`; when another writer moved it, `redo` gets the new tip
    /// and returns the commit to put there instead (or `None`: nothing to do).
    fn swap(
        &mut self,
        name: String,
        mut old: Option<Oid>,
        mut new: Oid,
        redo: impl Fn(&mut Self, Option<Oid>) -> Result<Option<Oid>, WriteError>,
    ) -> Result<Swapped, WriteError> {
        for _ in 0..MAX_ATTEMPTS {
            match self.repo.reference_matching(
                &name,
                new,
                true,
                old.unwrap_or_else(Oid::zero),
                "gitstellar reconcile",
            ) {
                Ok(_) => return Ok(Swapped::To(new)),
                Err(e) if is_race(&e) => {
                    let tip = self.tip(&name)?;
                    if let Some(t) = tip
                        && self.superseded_by(t)?
                    {
                        return Ok(Swapped::Superseded);
                    }
                    match redo(self, tip)? {
                        Some(c) => {
                            old = tip;
                            new = c;
                        }
                        None => return Ok(Swapped::Nothing),
                    }
                }
                Err(e) => return Err(git(format!("updating {name}"))(e)),
            }
        }
        Err(WriteError::Contended {
            name,
            attempts: MAX_ATTEMPTS,
        })
    }

    fn delete_ref(&mut self, name: &str, mut old: Oid) -> Result<RefOutcome, WriteError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut tx = self
                .repo
                .transaction()
                .map_err(git(format!("deleting {name}")))?;
            match tx.lock_ref(name) {
                Ok(()) => {}
                Err(e) if is_race(&e) => continue,
                Err(e) => return Err(git(format!("locking {name}"))(e)),
            }
            let tip = self.tip(name)?;
            match tip {
                None => return Ok(RefOutcome::Unchanged),
                Some(t) if t == old => {
                    tx.remove(name).map_err(git(format!("deleting {name}")))?;
                    tx.commit().map_err(git(format!("deleting {name}")))?;
                    return Ok(RefOutcome::Deleted);
                }
                Some(t) => {
                    drop(tx);
                    if self.superseded_by(t)? {
                        return Ok(RefOutcome::Superseded);
                    }
                    old = t;
                }
            }
        }
        Err(WriteError::Contended {
            name: name.into(),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Whether `tip` was computed from a source revision strictly newer than this pass's.
    fn superseded_by(&self, tip: Oid) -> Result<bool, WriteError> {
        let commit = self
            .repo
            .find_commit(tip)
            .map_err(git("reading a ref's tip"))?;
        let Some(theirs) = commit.message().and_then(source_revision) else {
            return Ok(false);
        };
        let (Ok(theirs), Ok(ours)) = (Oid::from_str(&theirs), Oid::from_str(&self.source_revision))
        else {
            return Ok(false);
        };
        if theirs == ours {
            return Ok(false);
        }
        Ok(self
            .repo
            .graph_descendant_of(theirs, ours)
            .unwrap_or(false))
    }

    fn commit_tree(&self, commit: Oid) -> Result<Oid, WriteError> {
        Ok(self
            .repo
            .find_commit(commit)
            .map_err(git(format!("reading commit {commit}")))?
            .tree_id())
    }

    /// Writes a commit of `tree` on `parent`, its message made from the changes since `parent_tree`.
    fn make_commit(
        &mut self,
        tree: Oid,
        parent: Option<Oid>,
        parent_tree: Option<Oid>,
        subject: &dyn Fn(&Changes) -> String,
    ) -> Result<(Oid, Changes), WriteError> {
        let mut changes = Changes::default();
        diff_trees(self.repo, parent_tree, Some(tree), "", &mut changes)?;
        let message = commit_message(&subject(&changes), &changes, &self.source_revision);
        let tree_obj = self
            .repo
            .find_tree(tree)
            .map_err(git("reading the new tree"))?;
        let parent_obj = match parent {
            Some(p) => Some(
                self.repo
                    .find_commit(p)
                    .map_err(git("reading the parent commit"))?,
            ),
            None => None,
        };
        let parents: Vec<&git2::Commit<'_>> = parent_obj.iter().collect();
        let commit = self
            .repo
            .commit(
                None,
                &self.signature,
                &self.signature,
                &message,
                &tree_obj,
                &parents,
            )
            .map_err(git("writing a commit"))?;
        self.unflushed += 1;
        Ok((commit, changes))
    }

    /// Writes the in-memory objects to one pack on disk.
    fn flush(&mut self) -> Result<(), WriteError> {
        if self.unflushed == 0 {
            return Ok(());
        }
        let mut buf = git2::Buf::new();
        self.mempack
            .dump(self.repo, &mut buf)
            .map_err(git("packing the new objects"))?;
        let mut writer = self
            .odb
            .packwriter()
            .map_err(git("starting a pack"))?;
        writer.write_all(&buf).map_err(WriteError::Pack)?;
        writer.commit().map_err(git("storing a pack"))?;
        self.mempack
            .reset()
            .map_err(git("clearing the in-memory objects"))?;
        self.unflushed = 0;
        Ok(())
    }

    /// Hashes `files` as a tree, remembering every object, and returns the root tree's id.
    fn build_tree(&mut self, files: &Files) -> Result<Oid, WriteError> {
        let mut root = Dir::default();
        for (path, content) in files {
            let parts: Vec<&str> = path.split('/').collect();
            if parts.iter().any(|p| !valid_component(p)) {
                return Err(WriteError::Path { path: path.clone() });
            }
            let Some((file, dirs)) = parts.split_last() else {
                return Err(WriteError::Path { path: path.clone() });
            };
            let mut dir = &mut root;
            for d in dirs {
                let entry = dir
                    .entries
                    .entry((*d).to_string())
                    .or_insert_with(|| Entry::Dir(Dir::default()));
                dir = match entry {
                    Entry::Dir(sub) => sub,
                    Entry::File(_) => {
                        return Err(WriteError::FileAndDirectory { path: path.clone() });
                    }
                };
            }
            if dir
                .entries
                .insert((*file).to_string(), Entry::File(content.clone()))
                .is_some()
            {
                return Err(WriteError::FileAndDirectory { path: path.clone() });
            }
        }
        self.hash_dir(&root)
    }

    fn hash_dir(&mut self, dir: &Dir) -> Result<Oid, WriteError> {
        let mut entries: Vec<(Vec<u8>, bool, Oid)> = Vec::with_capacity(dir.entries.len());
        for (name, entry) in &dir.entries {
            match entry {
                Entry::File(content) => {
                    let oid = self.hash_blob(content)?;
                    entries.push((name.as_bytes().to_vec(), false, oid));
                }
                Entry::Dir(sub) => {
                    let oid = self.hash_dir(sub)?;
                    let mut key = name.as_bytes().to_vec();
                    key.push(b'/');
                    entries.push((key, true, oid));
                }
            }
        }
        // git orders tree entries by name, a directory's name compared as if it ended in '/'.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut bytes = Vec::with_capacity(entries.len() * 64);
        for (key, is_dir, oid) in &entries {
            let name = if *is_dir {
                &key[..key.len() - 1]
            } else {
                &key[..]
            };
            bytes.extend_from_slice(if *is_dir { b"40000 " } else { b"100644 " });
            bytes.extend_from_slice(name);
            bytes.push(0);
            bytes.extend_from_slice(oid.as_bytes());
        }
        let oid = Oid::hash_object(ObjectType::Tree, &bytes).map_err(git("hashing a tree"))?;
        self.pending.entry(oid).or_insert(Pending::Tree(bytes));
        Ok(oid)
    }

    fn hash_blob(&mut self, content: &Arc<[u8]>) -> Result<Oid, WriteError> {
        let key = Arc::as_ptr(content) as *const u8 as usize;
        if let Some((_, oid)) = self.blob_ids.get(&key) {
            return Ok(*oid);
        }
        let oid = Oid::hash_object(ObjectType::Blob, content).map_err(git("hashing a blob"))?;
        self.blob_ids.insert(key, (content.clone(), oid));
        self.pending
            .entry(oid)
            .or_insert_with(|| Pending::Blob(content.clone()));
        Ok(oid)
    }

    /// Writes `oid` and everything it reaches that the object database lacks.
    fn store(&mut self, oid: Oid) -> Result<(), WriteError> {
        if self.stored.contains(&oid) {
            return Ok(());
        }
        if self.odb.exists(oid) {
            // A tree in the database has all it reaches (git's invariant; we write packs whole).
            self.stored.insert(oid);
            return Ok(());
        }
        let Some(pending) = self.pending.remove(&oid) else {
            return Err(WriteError::Git {
                what: format!("writing object {oid}"),
                source: git2::Error::from_str("object neither built nor stored"),
            });
        };
        match &pending {
            Pending::Blob(content) => {
                self.odb
                    .write(ObjectType::Blob, content)
                    .map_err(git("writing a blob"))?;
            }
            Pending::Tree(bytes) => {
                for child in tree_children(bytes) {
                    self.store(child)?;
                }
                self.odb
                    .write(ObjectType::Tree, bytes)
                    .map_err(git("writing a tree"))?;
            }
        }
        self.unflushed += 1;
        self.stored.insert(oid);
        Ok(())
    }
}

enum Swapped {
    To(Oid),
    Nothing,
    Superseded,
}

/// Whether a ref update failed because another writer got there first.
fn is_race(e: &git2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Modified | ErrorCode::NotFound | ErrorCode::Locked | ErrorCode::Exists
    )
}

fn read_tip(repo: &Repository, name: &str) -> Result<Option<Oid>, WriteError> {
    match repo.refname_to_id(name) {
        Ok(oid) => Ok(Some(oid)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(git(format!("reading {name}"))(e)),
    }
}

/// The object ids a raw tree lists.
fn tree_children(bytes: &[u8]) -> Vec<Oid> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(nul) = rest.iter().position(|&b| b == 0) {
        let end = nul + 1 + 20;
        if end > rest.len() {
            break;
        }
        if let Ok(oid) = Oid::from_bytes(&rest[nul + 1..end]) {
            out.push(oid);
        }
        rest = &rest[end..];
    }
    out
}

/// A path component git accepts in a tree and that checks out safely everywhere.
fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && c != "."
        && c != ".."
        && !c.eq_ignore_ascii_case(".git")
        && !c.bytes().any(|b| b == 0 || b == b'/' || b == b'\\')
}

/// Lists the file paths that differ between two trees (either may be absent), skipping identical
/// subtrees.
fn diff_trees(
    repo: &Repository,
    old: Option<Oid>,
    new: Option<Oid>,
    prefix: &str,
    changes: &mut Changes,
) -> Result<(), WriteError> {
    if old == new {
        return Ok(());
    }
    let read = |oid: Option<Oid>| -> Result<BTreeMap<String, (bool, Oid)>, WriteError> {
        let mut map = BTreeMap::new();
        if let Some(oid) = oid {
            let tree = repo
                .find_tree(oid)
                .map_err(git(format!("reading tree {oid}")))?;
            for e in tree.iter() {
                let name = String::from_utf8_lossy(e.name_bytes()).into_owned();
                map.insert(name, (e.kind() == Some(ObjectType::Tree), e.id()));
            }
        }
        Ok(map)
    };
    let old_entries = read(old)?;
    let new_entries = read(new)?;
    let mut names: Vec<&String> = old_entries.keys().chain(new_entries.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let o = old_entries.get(name).copied();
        let n = new_entries.get(name).copied();
        match (o, n) {
            (Some((true, a)), Some((true, b))) => diff_trees(repo, Some(a), Some(b), &path, changes)?,
            (Some((true, a)), other) => {
                diff_trees(repo, Some(a), None, &path, changes)?;
                if let Some((false, _)) = other {
                    changes.added.push(path);
                }
            }
            (other, Some((true, b))) => {
                if let Some((false, _)) = other {
                    changes.removed.push(path.clone());
                }
                diff_trees(repo, None, Some(b), &path, changes)?;
            }
            (Some((false, a)), Some((false, b))) => {
                if a != b {
                    changes.changed.push(path);
                }
            }
            (Some((false, _)), None) => changes.removed.push(path),
            (None, Some((false, _))) => changes.added.push(path),
            (None, None) => {}
        }
    }
    Ok(())
}

/// Subject, the changed paths (up to a limit), and the `Source-Revision` trailer.
fn commit_message(subject: &str, changes: &Changes, source_revision: &str) -> String {
    const LISTED: usize = 50;
    let mut lines: Vec<String> = Vec::new();
    for (mark, paths) in [
        ("A", &changes.added),
        ("M", &changes.changed),
        ("D", &changes.removed),
    ] {
        lines.extend(paths.iter().map(|p| format!("{mark} {p}")));
    }
    let mut message = format!("{subject}\n\n");
    let total = lines.len();
    for line in lines.iter().take(LISTED) {
        message.push_str(line);
        message.push('\n');
    }
    if total > LISTED {
        message.push_str(&format!("... and {} more\n", total - LISTED));
    }
    if total > 0 {
        message.push('\n');
    }
    message.push_str(&format!(
        "{SOURCE_REVISION_TRAILER}: {source_revision}\n"
    ));
    message
}

/// The `Source-Revision` trailer of a commit message, if any.
pub fn source_revision(message: &str) -> Option<String> {
    let prefix = format!("{SOURCE_REVISION_TRAILER}: ");
    message
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_children_lists_ids() {
        let a = Oid::hash_object(ObjectType::Blob, b"a").unwrap_or_else(|_| Oid::zero());
        let mut bytes = b"100644 x\0".to_vec();
        bytes.extend_from_slice(a.as_bytes());
        bytes.extend_from_slice(b"40000 y\0");
        bytes.extend_from_slice(a.as_bytes());
        assert_eq!(tree_children(&bytes), vec![a, a]);
    }

    #[test]
    fn message_ends_with_trailer() {
        let changes = Changes {
            added: vec!["a".into()],
            ..Changes::default()
        };
        let m = commit_message("s", &changes, "abc");
        assert!(m.ends_with("\n\nSource-Revision: abc\n"), "{m}");
        assert_eq!(source_revision(&m).as_deref(), Some("abc"));
    }

    #[test]
    fn components() {
        for bad in ["", ".", "..", ".GIT", "a\\b"] {
            assert!(!valid_component(bad), "{bad:?}");
        }
        assert!(valid_component("system:node"));
    }
}
