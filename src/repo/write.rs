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
//! already in the object database is written again. New objects are collected in memory and
//! [`RefWriter::finish`] stores them as one pack file (written here, indexed by libgit2): far
//! fewer files than loose objects, and only the objects that are new.
//!
//! How it stays safe: refs move only after every object they reach is in a pack on disk, and only
//! by compare-and-swap. When another writer moved a ref since it was read, the new tip is re-read:
//! if it already has the wanted tree there is nothing to do, if it was written from a newer source
//! revision it is left alone, and otherwise a new commit is made on top of it and swapped in again.
//!
//! A reconcile pass ([`RefWriter::for_pass`]) is refused as a whole when it is stale: when some
//! gitstellar ref was computed from a source revision that descends from the pass's and is still
//! on the tracked branch ([`newer_pass`]; after the branch moved back, the abandoned revisions do
//! not count, so the mailboxes follow the branch). Passes move their refs one at a time under a
//! lease, the lock of the status branch, and check for a newer pass again under it: an older pass
//! racing a newer one moves nothing, and cannot re-create a mailbox the newer one deleted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;

use git2::{ErrorCode, ObjectType, Odb, OdbLookupFlags, Oid, Repository};

pub use gitstellar_core::tree::{
    Changes, Files, MAX_REF_COMPONENT, ref_name_fits, valid_component,
};

/// Edits to a tree: `/`-separated path → the new blob, or `None` to remove the file.
pub type TreeEdits = Vec<(String, Option<Oid>)>;

/// The prefix of every ref gitstellar writes.
pub const REF_PREFIX: &str = "refs/heads/gitstellar/";

/// The trailer naming the source commit a gitstellar commit was computed from.
pub const SOURCE_REVISION_TRAILER: &str = "Source-Revision";

/// The environment variable overriding after how many seconds a ref lock is considered left by
/// a writer that died (default 30).
pub const STALE_LOCK_ENV: &str = "GITSTELLAR_STALE_LOCK_SECONDS";

/// After how many seconds a ref lock is considered left by a writer that died, by default.
pub const STALE_LOCK_DEFAULT: u64 = 30;

/// How many times a ref is re-read and re-committed when other writers keep moving it.
const MAX_ATTEMPTS: usize = 20;

/// The refs a reconcile pass manages: every mailbox and the status branch.
pub const PASS_REFS: [&str; 2] = [crate::mailbox::REF_PREFIX, crate::status::REF];

/// The ref whose lock is the lease of a pass moving its refs.
const LEASE_REF: &str = crate::status::REF;

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
    #[error(
        "{name}: gave up after {attempts} attempts; other writers kept moving or locking it (a lock left by a killed writer is removed once it is {STALE_LOCK_DEFAULT} s old, see {STALE_LOCK_ENV})"
    )]
    Contended {
        /// The ref.
        name: String,
        /// How many attempts were made.
        attempts: usize,
    },
    /// A git operation failed.
    #[error("{what}: {}", crate::repo::git_message(.source))]
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
    /// The ref's tip was made from a source revision that descends from this pass's: it was left
    /// alone (a ref never moves back in source history).
    Superseded,
}

/// git's object type codes in a pack.
const PACK_COMMIT: u8 = 1;
const PACK_TREE: u8 = 2;
const PACK_BLOB: u8 = 3;

/// A directory being hashed: its name, its raw entries so far, the names of its files (sorted).
#[derive(Default)]
struct Level<'p> {
    name: &'p str,
    entries: Vec<u8>,
    files: Vec<&'p str>,
}

/// A commit made but whose ref has not moved yet.
struct Update {
    name: String,
    old: Option<Oid>,
    new: Oid,
    tree: Oid,
    subject: Box<dyn Fn(&Changes) -> String>,
    /// The subject line of the commit to be swapped in.
    line: String,
    outcome_index: usize,
}

/// Writes the gitstellar refs of one repository in one pass: [`RefWriter::update`] or
/// [`RefWriter::delete`] each ref, then [`RefWriter::finish`].
pub struct RefWriter<'a> {
    repo: &'a Repository,
    odb: Odb<'a>,
    /// New objects (pack type code, content), to be stored by the next flush.
    unflushed: Vec<(u8, Arc<[u8]>)>,
    source_revision: String,
    /// `gitstellar <gitstellar@localhost> <time> +0000`.
    identity: String,
    /// Every blob and tree built this pass, by id.
    pending: HashMap<Oid, (u8, Arc<[u8]>)>,
    /// Blob ids by the address of their content (contents shared across refs are hashed once).
    blob_ids: HashMap<usize, (Arc<[u8]>, Oid)>,
    /// Objects known to be in the object database (written this pass or found there).
    stored: HashSet<Oid>,
    updates: Vec<Update>,
    deletes: Vec<(String, Oid, usize)>,
    outcomes: Vec<(String, RefOutcome)>,
    /// The tree each ref should end with (`None`: absent).
    wanted: BTreeMap<String, Option<Oid>>,
    /// Whether some ref was left alone because a newer revision was written there.
    superseded: bool,
    /// Source revisions of tips, and whether each descends from this pass's.
    newer: std::cell::RefCell<HashMap<Oid, bool>>,
    /// Trees already edited, with the edits: WECs share most subtrees, so most edits repeat.
    edited: HashMap<(Option<Oid>, TreeEdits), Option<Oid>>,
    /// The tip of the tracked source branch, when known: a newer revision counts only while it is
    /// on that branch.
    tracked: Option<Oid>,
    /// Whether this is a reconcile pass (refused as a whole when stale, moved under the lease).
    pass: bool,
}

/// What a pass did.
#[derive(Clone, Debug)]
pub struct Finished {
    /// What happened to each ref, in the order given.
    pub outcomes: Vec<(String, RefOutcome)>,
    /// The tree each ref was set to (`None`: deleted), unless some ref was superseded.
    pub wanted: Option<BTreeMap<String, Option<Oid>>>,
    /// For a pass found stale under the lease: the newer source revision some ref was computed
    /// from (nothing moved).
    pub stale: Option<Oid>,
}

impl<'a> RefWriter<'a> {
    /// Starts a pass on `repo`; every commit will carry `Source-Revision: <source_revision>`.
    pub fn new(repo: &'a Repository, source_revision: &str) -> Result<RefWriter<'a>, WriteError> {
        let odb = repo.odb().map_err(git("opening the object database"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(RefWriter {
            repo,
            odb,
            unflushed: Vec::new(),
            source_revision: source_revision.to_string(),
            identity: format!("gitstellar <gitstellar@localhost> {now} +0000"),
            pending: HashMap::new(),
            blob_ids: HashMap::new(),
            stored: HashSet::new(),
            updates: Vec::new(),
            deletes: Vec::new(),
            outcomes: Vec::new(),
            wanted: BTreeMap::new(),
            superseded: false,
            newer: std::cell::RefCell::new(HashMap::new()),
            edited: HashMap::new(),
            tracked: None,
            pass: false,
        })
    }

    /// Starts a reconcile pass of `source_revision`, a commit on the tracked branch whose tip is
    /// `tracked` (`None`: unknown, every descendant counts as newer). The pass is refused as a
    /// whole when it is stale ([`newer_pass`]), also when a newer pass finishes while this one
    /// runs, and its refs move under the lease.
    pub fn for_pass(
        repo: &'a Repository,
        source_revision: &str,
        tracked: Option<Oid>,
    ) -> Result<RefWriter<'a>, WriteError> {
        let mut writer = RefWriter::new(repo, source_revision)?;
        writer.tracked = tracked;
        writer.pass = true;
        Ok(writer)
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
        self.update_to_tree(name, tree, Some(files), subject)
    }

    /// Sets `name` to `tree` (built by [`RefWriter::edit_tree`] or [`RefWriter::update`]),
    /// committing on top of its tip unless the tip already has that tree. The ref moves in
    /// [`RefWriter::finish`].
    pub fn set_tree(
        &mut self,
        name: &str,
        tree: Oid,
        subject: impl Fn(&Changes) -> String + 'static,
    ) -> Result<(), WriteError> {
        if !git2::Reference::is_valid_name(name) {
            return Err(WriteError::RefName { name: name.into() });
        }
        self.update_to_tree(name, tree, None, subject)
    }

    fn update_to_tree(
        &mut self,
        name: &str,
        tree: Oid,
        files: Option<&Files>,
        subject: impl Fn(&Changes) -> String + 'static,
    ) -> Result<(), WriteError> {
        let old = self.tip(name)?;
        if let Some(t) = old
            && self.superseded_by(t)?
        {
            self.superseded = true;
            self.outcomes.push((name.into(), RefOutcome::Superseded));
            return Ok(());
        }
        self.wanted.insert(name.into(), Some(tree));
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
        let (commit, line) = self.make_commit(tree, old, old_tree, files, &*subject)?;
        let outcome_index = self.outcomes.len();
        self.outcomes.push((name.into(), RefOutcome::Unchanged));
        self.updates.push(Update {
            name: name.into(),
            old,
            new: commit,
            tree,
            subject,
            line,
            outcome_index,
        });
        Ok(())
    }

    /// Deletes `name` (if it exists) in [`RefWriter::finish`].
    pub fn delete(&mut self, name: &str) -> Result<(), WriteError> {
        if let Some(old) = self.tip(name)? {
            if self.superseded_by(old)? {
                self.superseded = true;
                self.outcomes.push((name.into(), RefOutcome::Superseded));
                return Ok(());
            }
            self.wanted.insert(name.into(), None);
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
            if let Ok(n) = r.name() {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Stores every object written into one pack, then moves every ref by compare-and-swap
    /// (retrying on a moved tip). Returns what happened to each ref, in the order given.
    pub fn finish(mut self) -> Result<Finished, WriteError> {
        let started = std::time::Instant::now();
        self.flush()?;
        tracing::info!(elapsed = ?started.elapsed(), "stored the new objects in a pack");
        let moving = !self.updates.is_empty() || !self.deletes.is_empty();
        let lease = if self.pass && moving {
            Some(self.take_lease()?)
        } else {
            None
        };
        if lease.is_some()
            && let Ok(ours) = Oid::from_str(&self.source_revision)
            && let Some(newer) = newer_pass(self.repo, ours, self.tracked)?
        {
            tracing::warn!(
                revision = %ours, newer = %newer,
                "a newer pass finished meanwhile: this one is stale and moves nothing"
            );
            let indexes: Vec<usize> = self
                .updates
                .iter()
                .map(|u| u.outcome_index)
                .chain(self.deletes.iter().map(|d| d.2))
                .collect();
            for index in indexes {
                self.outcomes[index].1 = RefOutcome::Superseded;
            }
            return Ok(Finished {
                outcomes: self.outcomes,
                wanted: None,
                stale: Some(newer),
            });
        }
        let mut updates = std::mem::take(&mut self.updates);
        // The lease's own ref moves last, through the lease.
        let leased = match &lease {
            Some(_) => updates
                .iter()
                .position(|u| u.name == LEASE_REF)
                .map(|i| updates.remove(i)),
            None => None,
        };
        for update in updates {
            let line = std::cell::RefCell::new(update.line.clone());
            let outcome = self.swap(update.name.clone(), update.old, update.new, |w, tip| {
                let tip_tree = match tip {
                    Some(c) => Some(w.commit_tree(c)?),
                    None => None,
                };
                if tip_tree == Some(update.tree) {
                    return Ok(None);
                }
                let (commit, subject) =
                    w.make_commit(update.tree, tip, tip_tree, None, &*update.subject)?;
                w.flush()?;
                *line.borrow_mut() = subject;
                Ok(Some(commit))
            })?;
            let outcome = match outcome {
                Swapped::To(commit) => RefOutcome::Updated {
                    commit,
                    subject: line.into_inner(),
                },
                Swapped::Nothing => RefOutcome::Unchanged,
                Swapped::Superseded => {
                    self.superseded = true;
                    RefOutcome::Superseded
                }
            };
            self.outcomes[update.outcome_index].1 = outcome;
        }
        let deletes = std::mem::take(&mut self.deletes);
        for (name, old, index) in deletes {
            let outcome = self.delete_ref(&name, old)?;
            if outcome == RefOutcome::Superseded {
                self.superseded = true;
            }
            self.outcomes[index].1 = outcome;
        }
        if let Some(mut lease) = lease {
            if let Some(update) = leased {
                let outcome = self.move_leased(&mut lease, &update)?;
                if outcome == RefOutcome::Superseded {
                    self.superseded = true;
                }
                self.outcomes[update.outcome_index].1 = outcome;
            }
            lease
                .commit()
                .map_err(git(format!("updating {LEASE_REF}")))?;
        }
        Ok(Finished {
            outcomes: self.outcomes,
            wanted: (!self.superseded).then_some(self.wanted),
            stale: None,
        })
    }

    /// Locks the lease ref, waiting for another pass holding it (and removing the lock of a pass
    /// that died holding it, once it is [`STALE_LOCK_ENV`] seconds old).
    fn take_lease(&self) -> Result<git2::Transaction<'a>, WriteError> {
        let started = std::time::Instant::now();
        let patience = std::time::Duration::from_secs(stale_lock_seconds() + 10);
        loop {
            let mut tx = self
                .repo
                .transaction()
                .map_err(git(format!("locking {LEASE_REF}")))?;
            match tx.lock_ref(LEASE_REF) {
                Ok(()) => return Ok(tx),
                Err(e) if is_race(&e) && started.elapsed() < patience => {
                    drop(tx);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    self.wait_for_lock(LEASE_REF);
                }
                Err(e) if is_race(&e) => {
                    return Err(WriteError::Contended {
                        name: LEASE_REF.into(),
                        attempts: MAX_ATTEMPTS,
                    });
                }
                Err(e) => return Err(git(format!("locking {LEASE_REF}"))(e)),
            }
        }
    }

    /// Moves the lease's own ref (locked by `lease`): from the tip read, or on top of the tip
    /// another writer left (unless it already has the tree or is newer).
    fn move_leased(
        &mut self,
        lease: &mut git2::Transaction<'a>,
        update: &Update,
    ) -> Result<RefOutcome, WriteError> {
        let tip = self.tip(&update.name)?;
        let (commit, subject) = if tip == update.old {
            (update.new, update.line.clone())
        } else {
            if let Some(t) = tip
                && self.superseded_by(t)?
            {
                return Ok(RefOutcome::Superseded);
            }
            let tip_tree = match tip {
                Some(c) => Some(self.commit_tree(c)?),
                None => None,
            };
            if tip_tree == Some(update.tree) {
                return Ok(RefOutcome::Unchanged);
            }
            let made = self.make_commit(update.tree, tip, tip_tree, None, &*update.subject)?;
            self.flush()?;
            made
        };
        lease
            .set_target(&update.name, commit, None, "gitstellar reconcile")
            .map_err(git(format!("updating {}", update.name)))?;
        Ok(RefOutcome::Updated { commit, subject })
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
                old.unwrap_or(Oid::ZERO_SHA1),
                "gitstellar reconcile",
            ) {
                Ok(_) => return Ok(Swapped::To(new)),
                Err(e) if is_race(&e) => {
                    if e.code() == ErrorCode::Locked {
                        self.wait_for_lock(&name);
                    }
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
                Err(e) if is_race(&e) => {
                    drop(tx);
                    self.wait_for_lock(name);
                    continue;
                }
                Err(e) => return Err(git(format!("locking {name}"))(e)),
            }
            let tip = self.tip(name)?;
            match tip {
                None => return Ok(RefOutcome::Unchanged),
                Some(t) if t == old => {
                    tx.remove(name).map_err(git(format!("deleting {name}")))?;
                    match tx.commit() {
                        Ok(()) => return Ok(RefOutcome::Deleted),
                        Err(e) if is_race(&e) => self.wait_for_lock(name),
                        Err(e) => return Err(git(format!("deleting {name}"))(e)),
                    }
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

    /// Waits a moment for another writer's lock on `name` (held for microseconds), and removes
    /// the lock files of a writer that died holding them: a lock older than
    /// [`STALE_LOCK_ENV`] seconds (default 30).
    fn wait_for_lock(&self, name: &str) {
        std::thread::sleep(std::time::Duration::from_millis(5));
        let limit = stale_lock_seconds();
        let git_dir = self.repo.path();
        for lock in [
            git_dir.join(format!("{name}.lock")),
            git_dir.join("packed-refs.lock"),
        ] {
            let age = std::fs::metadata(&lock)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if let Some(age) = age
                && age.as_secs() >= limit
            {
                tracing::warn!(lock = %lock.display(), "removing a stale lock left by a writer that died");
                let _ = std::fs::remove_file(&lock);
            }
        }
    }

    /// Whether `tip` was computed from a source revision strictly newer than this pass's and
    /// still on the tracked branch.
    fn superseded_by(&self, tip: Oid) -> Result<bool, WriteError> {
        let commit = self
            .repo
            .find_commit(tip)
            .map_err(git("reading a ref's tip"))?;
        let Some(theirs) = commit.message().ok().and_then(source_revision) else {
            return Ok(false);
        };
        let (Ok(theirs), Ok(ours)) = (Oid::from_str(&theirs), Oid::from_str(&self.source_revision))
        else {
            return Ok(false);
        };
        if theirs == ours {
            return Ok(false);
        }
        // Most tips share a few source revisions: ask git once for each.
        if let Some(&known) = self.newer.borrow().get(&theirs) {
            return Ok(known);
        }
        let newer = newer_on_branch(self.repo, theirs, ours, self.tracked);
        self.newer.borrow_mut().insert(theirs, newer);
        Ok(newer)
    }

    fn commit_tree(&self, commit: Oid) -> Result<Oid, WriteError> {
        Ok(self
            .repo
            .find_commit(commit)
            .map_err(git(format!("reading commit {commit}")))?
            .tree_id())
    }

    /// Makes a commit of `tree` on `parent`, its message made from the changes since
    /// `parent_tree`; returns it and its subject line. It is stored by the next flush.
    fn make_commit(
        &mut self,
        tree: Oid,
        parent: Option<Oid>,
        parent_tree: Option<Oid>,
        files: Option<&Files>,
        subject: &dyn Fn(&Changes) -> String,
    ) -> Result<(Oid, String), WriteError> {
        let mut changes = Changes::default();
        match (parent_tree, files) {
            // A new ref: everything is added (no need to read the tree back).
            (None, Some(files)) => changes.added = files.keys().map(|k| k.to_string()).collect(),
            _ => self.diff_trees(parent_tree, Some(tree), "", &mut changes)?,
        }
        let line = subject(&changes);
        let message = commit_message(&line, &changes, &self.source_revision);
        let mut bytes = format!("tree {tree}\n");
        if let Some(p) = parent {
            bytes.push_str(&format!("parent {p}\n"));
        }
        bytes.push_str(&format!(
            "author {id}\ncommitter {id}\n\n{message}",
            id = self.identity
        ));
        let bytes: Arc<[u8]> = Arc::from(bytes.into_bytes());
        let commit = object_id("commit", &bytes)?;
        self.unflushed.push((PACK_COMMIT, bytes));
        self.stored.insert(commit);
        Ok((commit, line))
    }

    /// Stores the new objects as one pack, indexed by libgit2, so that they are all on disk
    /// before any ref moves.
    fn flush(&mut self) -> Result<(), WriteError> {
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

    /// The raw content of a tree, built this pass or read from the object database.
    fn tree_bytes(&self, oid: Oid) -> Result<Arc<[u8]>, WriteError> {
        if let Some((PACK_TREE, bytes)) = self.pending.get(&oid) {
            return Ok(bytes.clone());
        }
        let object = self
            .odb
            .read(oid)
            .map_err(git(format!("reading tree {oid}")))?;
        if object.kind() != ObjectType::Tree {
            return Err(WriteError::Git {
                what: format!("reading tree {oid}"),
                source: git2::Error::from_str("not a tree"),
            });
        }
        Ok(Arc::from(object.data()))
    }

    /// The entries of a tree (name → is a tree, id), built this pass or read from the repository.
    fn tree_entries(&self, oid: Oid) -> Result<BTreeMap<String, (bool, Oid)>, WriteError> {
        Ok(parse_tree(&self.tree_bytes(oid)?)
            .into_iter()
            .map(|e| (e.name, (e.mode == TREE_MODE, e.id)))
            .collect())
    }

    /// The id of what `path` (`/`-separated) names in `tree`, if anything.
    pub fn lookup(&self, tree: Oid, path: &str) -> Result<Option<Oid>, WriteError> {
        let mut current = tree;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let bytes = self.tree_bytes(current)?;
            let Some(entry) = parse_tree(&bytes).into_iter().find(|e| e.name == part) else {
                return Ok(None);
            };
            if parts.peek().is_none() {
                return Ok(Some(entry.id));
            }
            if entry.mode != TREE_MODE {
                return Ok(None);
            }
            current = entry.id;
        }
        Ok(None)
    }

    /// Hashes `content` as a blob of this pass (stored if a ref that reaches it moves).
    pub fn blob(&mut self, content: &Arc<[u8]>) -> Result<Oid, WriteError> {
        self.hash_blob(content)
    }

    /// Applies `edits` (`/`-separated path → new blob, or `None` to remove the file) to `tree` and
    /// returns the new tree's id: only the directories on the edited paths are rewritten, and a
    /// directory left empty is removed. Edits repeated on an identical subtree (as when every WEC
    /// gets the same change) are computed once.
    pub fn edit_tree(
        &mut self,
        tree: Oid,
        edits: &[(String, Option<Oid>)],
    ) -> Result<Oid, WriteError> {
        match self.edit_subtree(Some(tree), edits)? {
            Some(oid) => Ok(oid),
            None => self.hash_tree(Vec::new()),
        }
    }

    fn edit_subtree(
        &mut self,
        tree: Option<Oid>,
        edits: &[(String, Option<Oid>)],
    ) -> Result<Option<Oid>, WriteError> {
        let key = (tree, edits.to_vec());
        if let Some(done) = self.edited.get(&key) {
            return Ok(*done);
        }
        let mut entries = match tree {
            Some(t) => parse_tree(&self.tree_bytes(t)?),
            None => Vec::new(),
        };
        // Edits by the first component of their path; the rest of the path goes to the subtree.
        let mut by_dir: BTreeMap<&str, TreeEdits> = BTreeMap::new();
        for (path, blob) in edits {
            match path.split_once('/') {
                Some((dir, rest)) => {
                    if !valid_component(dir) {
                        return Err(WriteError::Path { path: path.clone() });
                    }
                    by_dir
                        .entry(dir)
                        .or_default()
                        .push((rest.to_string(), *blob));
                }
                None => {
                    if !valid_component(path) {
                        return Err(WriteError::Path { path: path.clone() });
                    }
                    if entries
                        .iter()
                        .any(|e| e.name == *path && e.mode == TREE_MODE)
                    {
                        return Err(WriteError::FileAndDirectory { path: path.clone() });
                    }
                    entries.retain(|e| e.name != *path);
                    if let Some(id) = blob {
                        entries.push(RawEntry {
                            mode: FILE_MODE,
                            name: path.clone(),
                            id: *id,
                        });
                    }
                }
            }
        }
        for (dir, sub_edits) in by_dir {
            let existing = entries.iter().position(|e| e.name == dir);
            let sub = match existing.map(|i| &entries[i]) {
                Some(e) if e.mode == TREE_MODE => Some(e.id),
                Some(_) => {
                    return Err(WriteError::FileAndDirectory { path: dir.into() });
                }
                None => None,
            };
            let new = self.edit_subtree(sub, &sub_edits)?;
            if let Some(i) = existing {
                entries.remove(i);
            }
            if let Some(id) = new {
                entries.push(RawEntry {
                    mode: TREE_MODE,
                    name: dir.to_string(),
                    id,
                });
            }
        }
        let result = if entries.is_empty() {
            None
        } else {
            entries.sort_by_key(git_order);
            let mut bytes = Vec::new();
            for e in &entries {
                bytes.extend_from_slice(format!("{:o} ", e.mode).as_bytes());
                bytes.extend_from_slice(e.name.as_bytes());
                bytes.push(0);
                bytes.extend_from_slice(e.id.as_bytes());
            }
            Some(self.hash_tree(bytes)?)
        };
        self.edited.insert(key, result);
        Ok(result)
    }

    /// Lists the file paths that differ between two trees (either may be absent), skipping
    /// identical subtrees.
    fn diff_trees(
        &self,
        old: Option<Oid>,
        new: Option<Oid>,
        prefix: &str,
        changes: &mut Changes,
    ) -> Result<(), WriteError> {
        if old == new {
            return Ok(());
        }
        let old_entries = match old {
            Some(o) => self.tree_entries(o)?,
            None => BTreeMap::new(),
        };
        let new_entries = match new {
            Some(n) => self.tree_entries(n)?,
            None => BTreeMap::new(),
        };
        let mut names: Vec<&String> = old_entries.keys().chain(new_entries.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match (
                old_entries.get(name).copied(),
                new_entries.get(name).copied(),
            ) {
                (Some((true, a)), Some((true, b))) => {
                    self.diff_trees(Some(a), Some(b), &path, changes)?
                }
                (Some((true, a)), other) => {
                    self.diff_trees(Some(a), None, &path, changes)?;
                    if let Some((false, _)) = other {
                        changes.added.push(path);
                    }
                }
                (other, Some((true, b))) => {
                    if let Some((false, _)) = other {
                        changes.removed.push(path.clone());
                    }
                    self.diff_trees(None, Some(b), &path, changes)?;
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

    /// Hashes `files` as a tree, remembering every object, and returns the root tree's id.
    ///
    /// `files` is sorted by path, which is also git's order of tree entries (a directory's name
    /// sorts as if it ended in `/`, and `/` is exactly what follows it in a path), so each tree is
    /// complete, in order, when the walk leaves its directory: no nested maps are built.
    fn build_tree(&mut self, files: &Files) -> Result<Oid, WriteError> {
        let mut stack: Vec<Level<'_>> = vec![Level::default()];
        let mut dirs: Vec<&str> = Vec::new();
        for (path, content) in files {
            let path: &str = path;
            dirs.clear();
            dirs.extend(path.split('/'));
            let Some(file) = dirs.pop() else {
                return Err(WriteError::Path { path: path.into() });
            };
            if !valid_component(file) {
                return Err(WriteError::Path { path: path.into() });
            }
            // How many of the open directories (below the root) this path shares.
            let common = dirs
                .iter()
                .zip(stack.iter().skip(1))
                .take_while(|(d, level)| **d == level.name)
                .count();
            while stack.len() > common + 1 {
                self.close_dir(&mut stack)?;
            }
            // The shared directories were checked when they were opened.
            if dirs[common..].iter().any(|d| !valid_component(d)) {
                return Err(WriteError::Path { path: path.into() });
            }
            for d in &dirs[common..] {
                if stack
                    .last()
                    .is_some_and(|l| l.files.binary_search(d).is_ok())
                {
                    return Err(WriteError::FileAndDirectory { path: path.into() });
                }
                stack.push(Level {
                    name: d,
                    ..Level::default()
                });
            }
            let oid = self.hash_blob(content)?;
            if let Some(level) = stack.last_mut() {
                level.entries.extend_from_slice(b"100644 ");
                level.entries.extend_from_slice(file.as_bytes());
                level.entries.push(0);
                level.entries.extend_from_slice(oid.as_bytes());
                level.files.push(file);
            }
        }
        while stack.len() > 1 {
            self.close_dir(&mut stack)?;
        }
        let root = stack.pop().unwrap_or_default();
        self.hash_tree(root.entries)
    }

    /// Hashes the innermost open directory and adds it to its parent.
    fn close_dir(&mut self, stack: &mut Vec<Level<'_>>) -> Result<(), WriteError> {
        let Some(level) = stack.pop() else {
            return Ok(());
        };
        let oid = self.hash_tree(level.entries)?;
        if let Some(parent) = stack.last_mut() {
            parent.entries.extend_from_slice(b"40000 ");
            parent.entries.extend_from_slice(level.name.as_bytes());
            parent.entries.push(0);
            parent.entries.extend_from_slice(oid.as_bytes());
        }
        Ok(())
    }

    fn hash_tree(&mut self, bytes: Vec<u8>) -> Result<Oid, WriteError> {
        let oid = object_id("tree", &bytes)?;
        self.pending
            .entry(oid)
            .or_insert_with(|| (PACK_TREE, Arc::from(bytes)));
        Ok(oid)
    }

    fn hash_blob(&mut self, content: &Arc<[u8]>) -> Result<Oid, WriteError> {
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

    /// Queues `oid` and everything it reaches that the object database lacks.
    fn store(&mut self, oid: Oid) -> Result<(), WriteError> {
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
}

/// A version-2 pack of the objects (no deltas), with its SHA-1 trailer. Objects are compressed
/// on every core (a pack is a concatenation of independent entries).
fn encode_pack(objects: &[(u8, Arc<[u8]>)]) -> std::io::Result<Vec<u8>> {
    use sha1::{Digest as _, Sha1};
    let count = u32::try_from(objects.len())
        .map_err(|_| std::io::Error::other("too many objects for one pack"))?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = objects.len().div_ceil(threads).max(1);
    let parts: Vec<std::io::Result<Vec<u8>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = objects
            .chunks(chunk)
            .map(|part| scope.spawn(move || encode_entries(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a compression thread panicked")))
            })
            .collect()
    });
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

enum Swapped {
    To(Oid),
    Nothing,
    Superseded,
}

/// A git object's id: SHA-1 of `<kind> <length>\0<content>`. (Plain SHA-1 is faster than
/// libgit2's collision-detecting one; the pack indexer re-hashes every object it stores with the
/// latter.)
fn object_id(kind: &str, content: &[u8]) -> Result<Oid, WriteError> {
    use sha1::{Digest as _, Sha1};
    let mut hasher = Sha1::new();
    hasher.update(format!("{kind} {}\0", content.len()).as_bytes());
    hasher.update(content);
    Oid::from_bytes(&hasher.finalize()).map_err(git("hashing an object"))
}

/// After how many seconds a ref lock is considered left by a writer that died.
fn stale_lock_seconds() -> u64 {
    std::env::var(STALE_LOCK_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(STALE_LOCK_DEFAULT)
}

/// Whether source revision `theirs` is newer than `ours` in a way that counts: it descends from
/// `ours` and is still on the tracked branch (whose tip is `tracked`; unknown: every descendant
/// counts). A revision the branch moved back from (a force-push, a reset) does not count.
fn newer_on_branch(repo: &Repository, theirs: Oid, ours: Oid, tracked: Option<Oid>) -> bool {
    if theirs == ours || !repo.graph_descendant_of(theirs, ours).unwrap_or(false) {
        return false;
    }
    tracked
        .is_none_or(|tip| tip == theirs || repo.graph_descendant_of(tip, theirs).unwrap_or(false))
}

/// Whether a pass of `revision` is stale: returns the newer source revision some gitstellar ref
/// ([`PASS_REFS`]) was computed from, if there is one that descends from `revision` and is still
/// on the tracked branch (tip `tracked`). A stale pass moves no ref.
pub fn newer_pass(
    repo: &Repository,
    revision: Oid,
    tracked: Option<Oid>,
) -> Result<Option<Oid>, WriteError> {
    let tips = managed_refs(repo, &PASS_REFS)?;
    let mut seen: HashSet<Oid> = HashSet::new();
    for tip in tips.values() {
        // A tip that cannot be read says nothing about its revision; the per-ref check reads it.
        let Ok(commit) = repo.find_commit(*tip) else {
            continue;
        };
        let Some(theirs) = commit
            .message()
            .ok()
            .and_then(source_revision)
            .and_then(|r| Oid::from_str(&r).ok())
        else {
            continue;
        };
        if seen.insert(theirs) && newer_on_branch(repo, theirs, revision, tracked) {
            return Ok(Some(theirs));
        }
    }
    Ok(None)
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

/// git's file mode of a directory and of a regular file in a tree.
const TREE_MODE: u32 = 0o40000;
const FILE_MODE: u32 = 0o100644;

/// One entry of a raw tree.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RawEntry {
    mode: u32,
    name: String,
    id: Oid,
}

/// The entries of a raw tree, in order.
fn parse_tree(bytes: &[u8]) -> Vec<RawEntry> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(space) = rest.iter().position(|&b| b == b' ') {
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            break;
        };
        let end = nul + 1 + 20;
        if nul < space || end > rest.len() {
            break;
        }
        let mode = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(FILE_MODE);
        let name = String::from_utf8_lossy(&rest[space + 1..nul]).into_owned();
        if let Ok(id) = Oid::from_bytes(&rest[nul + 1..end]) {
            out.push(RawEntry { mode, name, id });
        }
        rest = &rest[end..];
    }
    out
}

/// git's sort key of a tree entry: its name, with `/` after a directory's.
fn git_order(entry: &RawEntry) -> Vec<u8> {
    let mut key = entry.name.as_bytes().to_vec();
    if entry.mode == TREE_MODE {
        key.push(b'/');
    }
    key
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
    message.push_str(&format!("{SOURCE_REVISION_TRAILER}: {source_revision}\n"));
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

/// The refs a pass manages: each prefix ending in `/` names every ref under it, any other names
/// one ref.
pub fn managed_refs(
    repo: &Repository,
    prefixes: &[&str],
) -> Result<BTreeMap<String, Oid>, WriteError> {
    let mut out = BTreeMap::new();
    for prefix in prefixes {
        if prefix.ends_with('/') {
            let glob = format!("{prefix}*");
            let refs = repo
                .references_glob(&glob)
                .map_err(git(format!("listing {glob}")))?;
            for r in refs {
                let r = r.map_err(git(format!("listing {glob}")))?;
                if let (Ok(name), Some(target)) = (r.name(), r.target()) {
                    out.insert(name.to_string(), target);
                }
            }
        } else if let Some(target) = read_tip(repo, prefix)? {
            out.insert((*prefix).to_string(), target);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Paths over a small alphabet, so that edits hit existing files and directories; directory
    /// and file names differ, so that no path is both.
    fn path() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..3),
            prop::sample::select(vec!["x.yaml", "y.yaml", "a.yaml", "a0"]),
        )
            .prop_map(|(dirs, file)| {
                let mut parts: Vec<&str> = dirs;
                parts.push(file);
                parts.join("/")
            })
    }

    fn files_of(map: &BTreeMap<String, u8>) -> Files {
        map.iter()
            .map(|(p, c)| (Arc::from(p.as_str()), Arc::from(vec![*c; 3])))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Editing a tree gives the tree built from the edited files: same id.
        #[test]
        fn edited_trees_equal_built_trees(
            before in prop::collection::btree_map(path(), 0u8..4, 0..12),
            edits in prop::collection::btree_map(path(), prop::option::of(0u8..4), 1..6),
        ) {
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let repo = Repository::init_bare(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut writer = RefWriter::new(&repo, "0000").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let base = writer.build_tree(&files_of(&before)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut after = before.clone();
            let mut changes = Vec::new();
            for (path, content) in &edits {
                let blob = match content {
                    Some(c) => {
                        after.insert(path.clone(), *c);
                        Some(writer.blob(&Arc::from(vec![*c; 3])).map_err(|e| TestCaseError::fail(e.to_string()))?)
                    }
                    None => {
                        after.remove(path);
                        None
                    }
                };
                changes.push((path.clone(), blob));
            }
            let edited = writer.edit_tree(base, &changes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let built = writer.build_tree(&files_of(&after)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(edited, built);
            for (path, c) in &after {
                let blob = Oid::hash_object(ObjectType::Blob, &[*c; 3]).ok();
                prop_assert_eq!(writer.lookup(edited, path).ok().flatten(), blob);
            }
        }
    }

    #[test]
    fn editing_refuses_a_file_over_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let mut writer = RefWriter::new(&repo, "0000").expect("writer");
        let files: Files = [(Arc::from("a/x.yaml"), Arc::from(b"x".to_vec()))]
            .into_iter()
            .collect();
        let base = writer.build_tree(&files).expect("tree");
        let blob = writer.blob(&Arc::from(b"y".to_vec())).expect("blob");
        assert!(matches!(
            writer.edit_tree(base, &[("a".into(), Some(blob))]),
            Err(WriteError::FileAndDirectory { .. })
        ));
        assert!(matches!(
            writer.edit_tree(base, &[("a/../x".into(), Some(blob))]),
            Err(WriteError::Path { .. })
        ));
    }

    #[test]
    fn tree_children_lists_ids() {
        let a = Oid::hash_object(ObjectType::Blob, b"a").unwrap_or(Oid::ZERO_SHA1);
        let mut bytes = b"100644 x\0".to_vec();
        bytes.extend_from_slice(a.as_bytes());
        bytes.extend_from_slice(b"40000 y\0");
        bytes.extend_from_slice(a.as_bytes());
        assert_eq!(tree_children(&bytes), vec![a, a]);
    }

    #[test]
    fn object_ids_are_git_ids() {
        for (kind, t) in [("blob", ObjectType::Blob), ("tree", ObjectType::Tree)] {
            let ours = object_id(kind, b"some content").ok();
            assert_eq!(ours, Oid::hash_object(t, b"some content").ok());
        }
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

    /// Source commits: a line `first`, `second` (a child of `first`) in `repo`.
    fn two_revisions(repo: &Repository) -> (Oid, Oid) {
        let sig = git2::Signature::now("t", "t@example.com").expect("signature");
        let tree = repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .expect("empty tree");
        let tree = repo.find_tree(tree).expect("tree");
        let first = repo
            .commit(None, &sig, &sig, "first", &tree, &[])
            .expect("commit");
        let parent = repo.find_commit(first).expect("parent");
        let second = repo
            .commit(None, &sig, &sig, "second", &tree, &[&parent])
            .expect("commit");
        (first, second)
    }

    fn one_file(text: &str) -> Files {
        [(Arc::from("f.yaml"), Arc::from(text.as_bytes().to_vec()))]
            .into_iter()
            .collect()
    }

    /// An older pass that planned to create a mailbox, while a newer pass that had deleted it
    /// finished: under the lease the older one finds the newer status and moves nothing.
    #[test]
    fn an_older_pass_finishing_after_a_newer_one_moves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let (old, new) = two_revisions(&repo);
        let mailbox = format!("{}w", crate::mailbox::REF_PREFIX);
        let mut older = RefWriter::for_pass(&repo, &old.to_string(), Some(new)).expect("writer");
        older
            .update(&mailbox, &one_file("a"), |_| "w".into())
            .expect("update");
        older
            .update(crate::status::REF, &one_file("old"), |_| "status".into())
            .expect("update");

        let mut newer = RefWriter::for_pass(&repo, &new.to_string(), Some(new)).expect("writer");
        newer
            .update(crate::status::REF, &one_file("new"), |_| "status".into())
            .expect("update");
        let done = newer.finish().expect("finish");
        assert_eq!(done.stale, None);
        let status = read_tip(&repo, crate::status::REF).expect("read");

        let done = older.finish().expect("finish");
        assert_eq!(done.stale, Some(new));
        assert!(done.wanted.is_none());
        assert!(
            done.outcomes
                .iter()
                .all(|(_, o)| *o == RefOutcome::Superseded),
            "{:?}",
            done.outcomes
        );
        assert_eq!(read_tip(&repo, &mailbox).expect("read"), None);
        assert_eq!(read_tip(&repo, crate::status::REF).expect("read"), status);

        // Once the branch moved back to `old`, `new` no longer counts: the older pass moves.
        let mut back = RefWriter::for_pass(&repo, &old.to_string(), Some(old)).expect("writer");
        back.update(&mailbox, &one_file("a"), |_| "w".into())
            .expect("update");
        back.update(crate::status::REF, &one_file("old"), |_| "status".into())
            .expect("update");
        let done = back.finish().expect("finish");
        assert_eq!(done.stale, None);
        assert!(read_tip(&repo, &mailbox).expect("read").is_some());
        assert_ne!(read_tip(&repo, crate::status::REF).expect("read"), status);
    }

    #[test]
    fn ref_names_fit_the_file_system() {
        let long = "x".repeat(MAX_REF_COMPONENT + 1);
        assert!(!ref_name_fits(&format!(
            "refs/heads/gitstellar/mailbox/{long}"
        )));
        let fits = "x".repeat(MAX_REF_COMPONENT);
        assert!(ref_name_fits(&format!(
            "refs/heads/gitstellar/mailbox/{fits}"
        )));
    }
}
