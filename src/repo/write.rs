//! Repo writing: the trees, commits and refs gitstellar owns (design §3, all under
//! `refs/heads/gitstellar/`), written with git2 into the object database of a repository.
//!
//! The work is split by what it touches: [`super::pack`] hashes objects and stores the new ones
//! as one pack, [`super::tree`] builds, edits and compares trees, [`super::refs`] reads and moves
//! refs (compare-and-swap, the pass's lease, the stale-pass check), [`super::owners`] says who
//! writes which paths of which ref, and [`super::commit`] is the committer every producer hands
//! its intents to. This module holds their error and re-exports their names under the path
//! the writers use.

pub use super::commit::{Committer, Finished, Intent, RefOutcome, TreeFn};
pub use super::owners::{Paths, Producer};
pub use super::pack::Objects;
pub use super::refs::{
    PASS_REFS, REF_PREFIX, SOURCE_REVISION_TRAILER, STALE_LOCK_DEFAULT, STALE_LOCK_ENV,
    managed_refs, newer_pass, source_revision,
};
pub use super::tree::{TreeEdits, diff};
pub use gitstellar_core::tree::{
    Changes, Files, MAX_REF_COMPONENT, ref_name_fits, valid_component,
};

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
    /// A producer claimed paths of a ref the owners table does not give it.
    #[error(
        "{producer} may not write {paths} of {name}: the owners table (docs/refs.md) does not give it them"
    )]
    NotGranted {
        /// Who asked.
        producer: String,
        /// The ref.
        name: String,
        /// The paths claimed.
        paths: String,
    },
    /// An intent changed a path outside the paths its producer owns.
    #[error("{producer} may not change {path:?} in {name}: it owns only {owns} there")]
    NotOwned {
        /// Who asked.
        producer: String,
        /// The ref.
        name: String,
        /// The first path outside its paths.
        path: String,
        /// The paths it owns.
        owns: String,
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

pub(super) fn git(what: impl Into<String>) -> impl FnOnce(git2::Error) -> WriteError {
    let what = what.into();
    move |source| WriteError::Git { what, source }
}
