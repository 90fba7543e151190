//! The committer: the one way a gitstellar ref moves (design §3; docs/refs.md, *Who writes what*).
//!
//! Input: intents, each from one [`Producer`]: a ref, the paths of its tree the producer owns
//! ([`Paths`], checked against the owners table, [`super::owners::OWNERS`]), and a function from
//! the ref's current tip tree to the new tree (the files of the owned paths, a tree, or edits).
//! Output: one commit per ref whose tree changed, with the ref's tip as parent, a message saying
//! what changed and the `Source-Revision: <sha>` trailer; the objects in one pack; the refs moved
//! by compare-and-swap; what happened to each ([`RefOutcome`]). Refs that did not change are not
//! touched. Then [`push_status_first`] publishes them.
//!
//! Two producers of one ref never overwrite each other: when a compare-and-swap finds that
//! another writer moved the ref, the intent's function runs again on the new tip's tree, so the
//! paths the other producer wrote are kept (only the owned paths are taken from the intent); if
//! the result is the new tip's tree there is nothing to do, if the tip was written from a newer
//! source revision it is left alone. An intent that would change a path its producer does not
//! own is refused.
//!
//! How it stays fast: every tree is hashed in memory first, and only a ref whose root tree differs
//! from its tip's gets its objects written ([`super::pack`]); a producer that owns a whole ref
//! never reads the tip's tree; new objects go to disk as one pack in [`Committer::finish`].
//!
//! How it stays safe: refs move only after every object they reach is in a pack on disk. A
//! reconcile pass ([`Committer::for_pass`]) is refused as a whole when it is stale: when some
//! gitstellar ref was computed from a source revision that descends from the pass's and is still
//! on the tracked branch ([`newer_pass`]; after the branch moved back, the abandoned revisions do
//! not count, so the mailboxes follow the branch). Passes move their refs one at a time under a
//! lease, the lock of the status branch, and check for a newer pass again under it: an older pass
//! racing a newer one moves nothing, and cannot re-create a mailbox the newer one deleted.

use std::collections::{BTreeMap, HashMap};

use git2::{ErrorCode, Oid, Repository};

use super::owners::{self, Paths, Producer};
use super::pack::Objects;
use super::refs::{
    LEASE_REF, MAX_ATTEMPTS, SOURCE_REVISION_TRAILER, is_race, newer_on_branch, newer_pass,
    read_tip, refs_under, source_revision, take_lease, wait_for_lock,
};
use super::remote::{RefPush, RemoteCache, RemoteError};
use super::tree::{Changes, Files};
use super::write::{WriteError, git};

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

/// Makes a commit's subject line from what changed.
type Subject = Box<dyn Fn(&Changes) -> String>;

/// A function from the tip's tree (absent: the ref does not exist yet) to the new tree.
pub type TreeFn = Box<dyn Fn(&mut Objects<'_>, Option<Oid>) -> Result<Oid, WriteError>>;

/// What an intent puts in the paths it owns.
enum Change<'f> {
    /// Exactly these files.
    Files(&'f Files),
    /// What this tree holds there.
    Tree(Oid),
    /// What a function of the tip's tree returns.
    Edit(TreeFn),
}

/// One producer's change to one ref, handed to [`Committer::commit`].
pub struct Intent<'f> {
    name: String,
    owns: Paths,
    change: Change<'f>,
    subject: Subject,
}

impl<'f> Intent<'f> {
    /// The paths `owns` names in ref `name` become exactly `files` (every file must be among
    /// them); the tip's other paths are kept.
    pub fn files(
        name: &str,
        owns: Paths,
        files: &'f Files,
        subject: impl Fn(&Changes) -> String + 'static,
    ) -> Intent<'f> {
        Intent {
            name: name.into(),
            owns,
            change: Change::Files(files),
            subject: Box::new(subject),
        }
    }

    /// The paths `owns` names in ref `name` become what `tree` holds there (a tree built or
    /// edited by the committer, or already stored); the tip's other paths are kept.
    pub fn tree(
        name: &str,
        owns: Paths,
        tree: Oid,
        subject: impl Fn(&Changes) -> String + 'static,
    ) -> Intent<'f> {
        Intent {
            name: name.into(),
            owns,
            change: Change::Tree(tree),
            subject: Box::new(subject),
        }
    }

    /// Ref `name` becomes what `edit` makes of its tip's tree; `edit` runs again on every new tip
    /// another writer leaves, and may change only the paths `owns` names.
    pub fn edit(
        name: &str,
        owns: Paths,
        edit: impl Fn(&mut Objects<'_>, Option<Oid>) -> Result<Oid, WriteError> + 'static,
        subject: impl Fn(&Changes) -> String + 'static,
    ) -> Intent<'f> {
        Intent {
            name: name.into(),
            owns,
            change: Change::Edit(Box::new(edit)),
            subject: Box::new(subject),
        }
    }
}

/// An intent as the committer keeps it: what to run again on a new tip.
enum Rerun {
    /// The owned paths of `ours` grafted onto the tip.
    Graft { ours: Oid, owns: Paths },
    /// A producer's function.
    Edit { edit: TreeFn, owns: Paths },
}

impl Rerun {
    fn run(&self, objects: &mut Objects<'_>, tip: Option<Oid>) -> Result<Oid, WriteError> {
        match self {
            Rerun::Graft { ours, owns } => objects.graft(tip, *ours, owns),
            Rerun::Edit { edit, .. } => edit(objects, tip),
        }
    }

    fn owns(&self) -> Paths {
        match self {
            Rerun::Graft { owns, .. } | Rerun::Edit { owns, .. } => *owns,
        }
    }
}

/// A commit made but whose ref has not moved yet.
struct Update {
    name: String,
    old: Option<Oid>,
    new: Oid,
    rerun: Rerun,
    subject: Subject,
    /// The subject line of the commit to be swapped in.
    line: String,
    outcome_index: usize,
}

/// Moves the gitstellar refs of one repository for one producer in one go: hand it an
/// [`Intent`] per ref ([`Committer::commit`], or [`Committer::delete`]), then
/// [`Committer::finish`].
pub struct Committer<'a> {
    repo: &'a Repository,
    objects: Objects<'a>,
    producer: Producer,
    source_revision: String,
    /// `gitstellar <gitstellar@localhost> <time> +0000`.
    identity: String,
    updates: Vec<Update>,
    deletes: Vec<(String, Oid, usize)>,
    outcomes: Vec<(String, RefOutcome)>,
    /// The tree each ref should end with (`None`: absent).
    wanted: BTreeMap<String, Option<Oid>>,
    /// Whether some ref was left alone because a newer revision was written there.
    superseded: bool,
    /// Source revisions of tips, and whether each descends from this pass's.
    newer: std::cell::RefCell<HashMap<Oid, bool>>,
    /// The tip of the tracked source branch, when known: a newer revision counts only while it is
    /// on that branch.
    tracked: Option<Oid>,
    /// Whether this is a reconcile pass (refused as a whole when stale, moved under the lease).
    pass: bool,
}

/// What a committer did.
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

enum Swapped {
    To(Oid),
    Nothing,
    Superseded,
}

impl<'a> Committer<'a> {
    /// Starts writing `repo` for `producer`; every commit will carry
    /// `Source-Revision: <source_revision>`.
    pub fn new(
        repo: &'a Repository,
        producer: Producer,
        source_revision: &str,
    ) -> Result<Committer<'a>, WriteError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Committer {
            repo,
            objects: Objects::new(repo)?,
            producer,
            source_revision: source_revision.to_string(),
            identity: format!("gitstellar <gitstellar@localhost> {now} +0000"),
            updates: Vec::new(),
            deletes: Vec::new(),
            outcomes: Vec::new(),
            wanted: BTreeMap::new(),
            superseded: false,
            newer: std::cell::RefCell::new(HashMap::new()),
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
    ) -> Result<Committer<'a>, WriteError> {
        let mut committer = Committer::new(repo, Producer::Pass, source_revision)?;
        committer.tracked = tracked;
        committer.pass = true;
        Ok(committer)
    }

    /// The id of the commit a ref points to, if it exists.
    pub fn tip(&self, name: &str) -> Result<Option<Oid>, WriteError> {
        read_tip(self.repo, name)
    }

    /// The names of the existing refs under `prefix` (e.g. `refs/heads/gitstellar/mailbox/`).
    pub fn refs_under(&self, prefix: &str) -> Result<Vec<String>, WriteError> {
        refs_under(self.repo, prefix)
    }

    /// The objects this committer builds trees in.
    pub fn objects(&mut self) -> &mut Objects<'a> {
        &mut self.objects
    }

    /// Hashes `content` as a blob (stored if a ref that reaches it moves).
    pub fn blob(&mut self, content: &std::sync::Arc<[u8]>) -> Result<Oid, WriteError> {
        self.objects.blob(content)
    }

    /// Applies `edits` to `tree` ([`Objects::edit_tree`]).
    pub fn edit_tree(
        &mut self,
        tree: Oid,
        edits: &[(String, Option<Oid>)],
    ) -> Result<Oid, WriteError> {
        self.objects.edit_tree(tree, edits)
    }

    /// The id of what `path` names in `tree` ([`Objects::lookup`]).
    pub fn lookup(&self, tree: Oid, path: &str) -> Result<Option<Oid>, WriteError> {
        self.objects.lookup(tree, path)
    }

    /// Hashes `files` as a tree ([`Objects::build_tree`]).
    pub fn build_tree(&mut self, files: &Files) -> Result<Oid, WriteError> {
        self.objects.build_tree(files)
    }

    /// Sets the paths of `name` this producer owns (all the owners table grants it) to exactly
    /// `files`: [`Intent::files`]. The ref moves in [`Committer::finish`].
    pub fn update(
        &mut self,
        name: &str,
        files: &Files,
        subject: impl Fn(&Changes) -> String + 'static,
    ) -> Result<(), WriteError> {
        let owns = self.granted(name)?;
        self.commit(Intent::files(name, owns, files, subject))
    }

    /// Sets the paths of `name` this producer owns to what `tree` holds there: [`Intent::tree`].
    /// The ref moves in [`Committer::finish`].
    pub fn set_tree(
        &mut self,
        name: &str,
        tree: Oid,
        subject: impl Fn(&Changes) -> String + 'static,
    ) -> Result<(), WriteError> {
        let owns = self.granted(name)?;
        self.commit(Intent::tree(name, owns, tree, subject))
    }

    /// The paths of `name` the owners table grants this producer.
    fn granted(&self, name: &str) -> Result<Paths, WriteError> {
        owners::granted(&self.producer, name).ok_or_else(|| WriteError::NotGranted {
            producer: self.producer.to_string(),
            name: name.into(),
            paths: Paths::All.to_string(),
        })
    }

    /// Refuses an intent claiming paths the owners table does not grant this producer.
    fn check_claim(&self, name: &str, owns: &Paths) -> Result<(), WriteError> {
        match owners::granted(&self.producer, name) {
            Some(granted) if owns.within(&granted) => Ok(()),
            _ => Err(WriteError::NotGranted {
                producer: self.producer.to_string(),
                name: name.into(),
                paths: owns.to_string(),
            }),
        }
    }

    /// Refuses a change to a path outside `owns`.
    fn check_paths<'p>(
        &self,
        name: &str,
        owns: &Paths,
        mut paths: impl Iterator<Item = &'p str>,
    ) -> Result<(), WriteError> {
        if *owns == Paths::All {
            return Ok(());
        }
        match paths.find(|p| !owns.owns(p)) {
            Some(path) => Err(WriteError::NotOwned {
                producer: self.producer.to_string(),
                name: name.into(),
                path: path.into(),
                owns: owns.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Takes an intent: builds its tree on the ref's tip and makes the commit. The ref moves in
    /// [`Committer::finish`] (where the intent runs again if another writer moved the ref).
    pub fn commit(&mut self, intent: Intent<'_>) -> Result<(), WriteError> {
        let Intent {
            name,
            owns,
            change,
            subject,
        } = intent;
        if !git2::Reference::is_valid_name(&name) {
            return Err(WriteError::RefName { name });
        }
        self.check_claim(&name, &owns)?;
        let (rerun, files) = match change {
            Change::Files(files) => {
                self.check_paths(&name, &owns, files.keys().map(|k| &**k))?;
                let ours = self.objects.build_tree(files)?;
                (Rerun::Graft { ours, owns }, Some(files))
            }
            Change::Tree(ours) => (Rerun::Graft { ours, owns }, None),
            Change::Edit(edit) => (Rerun::Edit { edit, owns }, None),
        };
        let old = self.tip(&name)?;
        if let Some(t) = old
            && self.superseded_by(t)?
        {
            self.superseded = true;
            self.outcomes.push((name, RefOutcome::Superseded));
            return Ok(());
        }
        let old_tree = match old {
            Some(c) => Some(self.commit_tree(c)?),
            None => None,
        };
        let tree = rerun.run(&mut self.objects, old_tree)?;
        self.wanted.insert(name.clone(), Some(tree));
        if old_tree == Some(tree) {
            self.outcomes.push((name, RefOutcome::Unchanged));
            return Ok(());
        }
        self.objects.store(tree)?;
        let (commit, line) =
            self.make_commit(&name, &rerun, tree, old, old_tree, files, &*subject)?;
        let outcome_index = self.outcomes.len();
        self.outcomes.push((name.clone(), RefOutcome::Unchanged));
        self.updates.push(Update {
            name,
            old,
            new: commit,
            rerun,
            subject,
            line,
            outcome_index,
        });
        Ok(())
    }

    /// Deletes `name` (if it exists) in [`Committer::finish`]; only the owner of the whole ref
    /// deletes it.
    pub fn delete(&mut self, name: &str) -> Result<(), WriteError> {
        self.check_claim(name, &Paths::All)?;
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

    /// Stores every object written into one pack, then moves every ref by compare-and-swap
    /// (running the intent again on a moved tip). Returns what happened to each ref, in the order
    /// given.
    pub fn finish(mut self) -> Result<Finished, WriteError> {
        let started = std::time::Instant::now();
        self.objects.flush()?;
        tracing::info!(elapsed = ?started.elapsed(), "stored the new objects in a pack");
        let moving = !self.updates.is_empty() || !self.deletes.is_empty();
        let lease = if self.pass && moving {
            Some(take_lease(self.repo)?)
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
                let Some((commit, subject)) = w.redo(&update, tip)? else {
                    return Ok(None);
                };
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

    /// Runs `update`'s intent again on `tip`, the tip another writer left, and makes its commit
    /// there (stored at once); `None` when the tip already has the resulting tree.
    fn redo(
        &mut self,
        update: &Update,
        tip: Option<Oid>,
    ) -> Result<Option<(Oid, String)>, WriteError> {
        let tip_tree = match tip {
            Some(c) => Some(self.commit_tree(c)?),
            None => None,
        };
        let tree = update.rerun.run(&mut self.objects, tip_tree)?;
        self.wanted.insert(update.name.clone(), Some(tree));
        if tip_tree == Some(tree) {
            return Ok(None);
        }
        self.objects.store(tree)?;
        let made = self.make_commit(
            &update.name,
            &update.rerun,
            tree,
            tip,
            tip_tree,
            None,
            &*update.subject,
        )?;
        self.objects.flush()?;
        Ok(Some(made))
    }

    /// Moves the lease's own ref (locked by `lease`): from the tip read, or with the intent run
    /// again on the tip another writer left (unless that tip is newer).
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
            match self.redo(update, tip)? {
                Some(made) => made,
                None => return Ok(RefOutcome::Unchanged),
            }
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
        mut redo: impl FnMut(&mut Self, Option<Oid>) -> Result<Option<Oid>, WriteError>,
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
                        wait_for_lock(self.repo, &name);
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
                    wait_for_lock(self.repo, name);
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
                        Err(e) if is_race(&e) => wait_for_lock(self.repo, name),
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
    /// `parent_tree`, refusing a change outside the intent's paths; returns it and its subject
    /// line. It is stored by the next flush.
    #[allow(clippy::too_many_arguments)]
    fn make_commit(
        &mut self,
        name: &str,
        rerun: &Rerun,
        tree: Oid,
        parent: Option<Oid>,
        parent_tree: Option<Oid>,
        files: Option<&Files>,
        subject: &dyn Fn(&Changes) -> String,
    ) -> Result<(Oid, String), WriteError> {
        let changes = match (parent_tree, files) {
            // A new ref: everything is added (no need to read the tree back).
            (None, Some(files)) => Changes {
                added: files.keys().map(|k| k.to_string()).collect(),
                ..Changes::default()
            },
            _ => self.objects.diff(parent_tree, Some(tree))?,
        };
        let changed = changes
            .added
            .iter()
            .chain(&changes.changed)
            .chain(&changes.removed);
        self.check_paths(name, &rerun.owns(), changed.map(String::as_str))?;
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
        let commit = self.objects.commit(bytes.into_bytes())?;
        Ok((commit, line))
    }
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

/// Publishes what a pass moved: the status branch first and alone, even when the pass left it
/// unchanged, so a remote whose status branch moved since the fetch (a newer pass) rejects it as
/// not a fast-forward before any mailbox moves, and a racing older pass cannot re-create a
/// mailbox the newer one deleted. Then the rest. Returns the refs rejected.
pub fn push_status_first(
    cache: &RemoteCache,
    repo: &Repository,
    pushes: &[RefPush],
) -> Result<Vec<String>, RemoteError> {
    if pushes.is_empty() {
        return Ok(Vec::new());
    }
    let status = crate::status::REF;
    let lease: Vec<RefPush> = match pushes.iter().find(|(n, _)| n == status) {
        Some(p) => vec![p.clone()],
        None => match repo.refname_to_id(status) {
            Ok(tip) => vec![(status.to_string(), Some(tip))],
            Err(_) => Vec::new(),
        },
    };
    let rejected = cache.push(&lease)?;
    if !rejected.is_empty() {
        return Ok(rejected);
    }
    let rest: Vec<RefPush> = pushes
        .iter()
        .filter(|(n, _)| n != status)
        .cloned()
        .collect();
    cache.push(&rest)
}

/// Publishes refs no pass leases (an agent's reported ref): fast-forward only. Returns the refs
/// rejected.
pub fn push(cache: &RemoteCache, pushes: &[RefPush]) -> Result<Vec<String>, RemoteError> {
    cache.push(pushes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::tree::{MAX_REF_COMPONENT, ref_name_fits, valid_component};
    use std::sync::Arc;

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

    /// One file the pass owns on the status branch (and in a mailbox, where it owns everything).
    fn one_file(text: &str) -> Files {
        [(
            Arc::from("problems.yaml"),
            Arc::from(text.as_bytes().to_vec()),
        )]
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
        let mut older = Committer::for_pass(&repo, &old.to_string(), Some(new)).expect("writer");
        older
            .update(&mailbox, &one_file("a"), |_| "w".into())
            .expect("update");
        older
            .update(crate::status::REF, &one_file("old"), |_| "status".into())
            .expect("update");

        let mut newer = Committer::for_pass(&repo, &new.to_string(), Some(new)).expect("writer");
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
        let mut back = Committer::for_pass(&repo, &old.to_string(), Some(old)).expect("writer");
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

    const ZERO: &str = "0000000000000000000000000000000000000000";

    fn files(entries: &[(&str, &str)]) -> Files {
        entries
            .iter()
            .map(|(p, c)| (Arc::from(*p), Arc::from(c.as_bytes().to_vec())))
            .collect()
    }

    fn tip_files(repo: &Repository, name: &str) -> Vec<String> {
        let tree = repo
            .find_reference(name)
            .and_then(|r| r.peel_to_tree())
            .expect("tree");
        let mut out = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let blob = repo.find_blob(entry.id()).expect("blob");
                out.push(format!(
                    "{dir}{}={}",
                    entry.name().unwrap_or(""),
                    String::from_utf8_lossy(blob.content())
                ));
            }
            git2::TreeWalkResult::Ok
        })
        .expect("walk");
        out
    }

    #[test]
    fn an_intent_outside_the_owners_table_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let status = crate::status::REF;
        let mut pass = Committer::new(&repo, Producer::Pass, ZERO).expect("committer");
        // The pass claims the status branch's returned status, or writes a file there.
        let err = pass
            .commit(Intent::files(
                status,
                Paths::Only(&["reported/"]),
                &files(&[("reported/f/s.yaml", "x")]),
                |_| "s".into(),
            ))
            .expect_err("not the pass's paths");
        assert!(matches!(err, WriteError::NotGranted { .. }), "{err}");
        let err = pass
            .commit(Intent::files(
                status,
                owners::PASS_STATUS_PATHS,
                &files(&[("problems.yaml", "[]"), ("reported/f/s.yaml", "x")]),
                |_| "s".into(),
            ))
            .expect_err("a file outside its paths");
        assert!(
            err.to_string().contains("\"reported/f/s.yaml\"")
                && err.to_string().contains("the reconcile pass"),
            "{err}"
        );
        // The whole status branch is nobody's; neither is deleting it.
        assert!(matches!(
            pass.update(status, &files(&[("problems.yaml", "[]")]), |_| "s".into()),
            Ok(())
        ));
        assert!(matches!(
            pass.delete(status),
            Err(WriteError::NotGranted { .. })
        ));
        assert!(matches!(
            pass.update(
                "refs/heads/gitstellar/reported/florin",
                &files(&[("sync.yaml", "x")]),
                |_| "s".into()
            ),
            Err(WriteError::NotGranted { .. })
        ));
        // An agent writes its own reported ref, not another WEC's.
        let mut agent =
            Committer::new(&repo, Producer::Agent("florin".into()), ZERO).expect("committer");
        let sync = files(&[("sync.yaml", "x")]);
        let mine = Intent::files(
            "refs/heads/gitstellar/reported/florin",
            Paths::All,
            &sync,
            |_| "s".into(),
        );
        assert!(agent.commit(mine).is_ok());
        let theirs = Intent::files(
            "refs/heads/gitstellar/reported/guilder",
            Paths::All,
            &sync,
            |_| "s".into(),
        );
        assert!(matches!(
            agent.commit(theirs),
            Err(WriteError::NotGranted { .. })
        ));
        // An edit that strays from its paths is refused when its commit is made.
        let mut fold = Committer::new(&repo, Producer::StatusFold, ZERO).expect("committer");
        let blob = fold.blob(&Arc::from(b"[]".to_vec())).expect("blob");
        let stray = Intent::edit(
            status,
            owners::FOLD_STATUS_PATHS,
            move |objects, tip| objects.edit(tip, &[("problems.yaml".into(), Some(blob))]),
            |_| "s".into(),
        );
        assert!(matches!(
            fold.commit(stray),
            Err(WriteError::NotOwned { .. })
        ));
    }

    /// Two producers of the status branch, each committing on the tip the other just moved:
    /// the lost compare-and-swap runs the intent again, and both changes are kept.
    #[test]
    fn a_lost_swap_runs_the_intent_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let status = crate::status::REF;
        let first = files(&[("problems.yaml", "[]"), ("placements/w/p.yaml", "1")]);
        let mut pass = Committer::new(&repo, Producer::Pass, ZERO).expect("committer");
        pass.update(status, &first, |_| "first".into())
            .expect("update");
        pass.finish().expect("finish");

        // Both read the same tip; the fold moves it first.
        let mut pass = Committer::new(&repo, Producer::Pass, ZERO).expect("committer");
        let second = files(&[("problems.yaml", "[]"), ("placements/w/p.yaml", "2")]);
        pass.update(status, &second, |_| "second".into())
            .expect("update");
        let mut fold = Committer::new(&repo, Producer::StatusFold, ZERO).expect("committer");
        let content: Arc<[u8]> = Arc::from(b"synced".to_vec());
        fold.commit(Intent::edit(
            status,
            owners::FOLD_STATUS_PATHS,
            move |objects, tip| {
                let blob = objects.blob(&content)?;
                objects.edit(tip, &[("reported/florin/sync.yaml".into(), Some(blob))])
            },
            |_| "fold".into(),
        ))
        .expect("commit");
        let folded = fold.finish().expect("finish");
        assert!(matches!(folded.outcomes[0].1, RefOutcome::Updated { .. }));
        let done = pass.finish().expect("finish");
        let RefOutcome::Updated { commit, .. } = &done.outcomes[0].1 else {
            panic!("{:?}", done.outcomes);
        };
        assert_eq!(
            tip_files(&repo, status),
            vec![
                "placements/w/p.yaml=2",
                "problems.yaml=[]",
                "reported/florin/sync.yaml=synced"
            ]
        );
        // The commit says what the pass changed, not what it kept.
        let message = repo.find_commit(*commit).expect("commit");
        let message = message.message().unwrap_or("");
        assert!(message.contains("M placements/w/p.yaml"), "{message}");
        assert!(!message.contains("reported/"), "{message}");
    }
}
