//! Refs: reading and moving the gitstellar refs safely.
//!
//! Input: ref names, the commit a writer read and the one it wants there, the source revision of
//! a pass. Output: a ref moved only by compare-and-swap (or under a held lock), the lease of a
//! pass (the lock of the status branch), the stale-pass check ([`newer_pass`]), and the
//! `Source-Revision` trailer read back from a commit.
//!
//! A lock left by a writer that died is removed once it is [`STALE_LOCK_ENV`] seconds old.

use std::collections::{BTreeMap, HashSet};

use git2::{ErrorCode, Oid, Repository};

use super::write::{WriteError, git};

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
pub(super) const MAX_ATTEMPTS: usize = 20;

/// The refs a reconcile pass manages: every mailbox and the status branch.
pub const PASS_REFS: [&str; 2] = [crate::mailbox::REF_PREFIX, crate::status::REF];

/// The ref whose lock is the lease of a pass moving its refs.
pub(super) const LEASE_REF: &str = crate::status::REF;

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
pub(super) fn newer_on_branch(
    repo: &Repository,
    theirs: Oid,
    ours: Oid,
    tracked: Option<Oid>,
) -> bool {
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
pub(super) fn is_race(e: &git2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Modified | ErrorCode::NotFound | ErrorCode::Locked | ErrorCode::Exists
    )
}

/// The commit `name` points to, if it exists.
pub(super) fn read_tip(repo: &Repository, name: &str) -> Result<Option<Oid>, WriteError> {
    match repo.refname_to_id(name) {
        Ok(oid) => Ok(Some(oid)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(git(format!("reading {name}"))(e)),
    }
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

/// The names of the existing refs under `prefix` (e.g. `refs/heads/gitstellar/mailbox/`), sorted.
pub(super) fn refs_under(repo: &Repository, prefix: &str) -> Result<Vec<String>, WriteError> {
    let glob = format!("{prefix}*");
    let refs = repo
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

/// Waits a moment for another writer's lock on `name` (held for microseconds), and removes
/// the lock files of a writer that died holding them: a lock older than
/// [`STALE_LOCK_ENV`] seconds (default 30).
pub(super) fn wait_for_lock(repo: &Repository, name: &str) {
    std::thread::sleep(std::time::Duration::from_millis(5));
    let limit = stale_lock_seconds();
    let git_dir = repo.path();
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

/// Locks the lease ref, waiting for another pass holding it (and removing the lock of a pass
/// that died holding it, once it is [`STALE_LOCK_ENV`] seconds old).
pub(super) fn take_lease(repo: &Repository) -> Result<git2::Transaction<'_>, WriteError> {
    let started = std::time::Instant::now();
    let patience = std::time::Duration::from_secs(stale_lock_seconds() + 10);
    loop {
        let mut tx = repo
            .transaction()
            .map_err(git(format!("locking {LEASE_REF}")))?;
        match tx.lock_ref(LEASE_REF) {
            Ok(()) => return Ok(tx),
            Err(e) if is_race(&e) && started.elapsed() < patience => {
                drop(tx);
                std::thread::sleep(std::time::Duration::from_millis(20));
                wait_for_lock(repo, LEASE_REF);
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
