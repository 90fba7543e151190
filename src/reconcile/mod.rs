//! Reconcile: one pass over one revision of the source repo that writes KubeStellar's mailboxes
//! (`refs/heads/gitstellar/mailbox/<wec>`) and the status branch (`refs/heads/gitstellar/status`)
//! into the repository (design §3): read → place → customize → render → write.
//!
//! A pass does as little as the commit allows. The same revision again, with every ref where the
//! last pass left it, does nothing. A commit that changes only ordinary workload objects takes
//! the incremental pass: only those objects are recomputed, and the previous
//! mailbox trees are edited. Everything else takes the full pass, which recomputes and re-hashes
//! every WEC's tree (writing only what is new). Both leave the same trees.

pub mod hold;
mod incremental;
mod record;

use std::collections::{BTreeMap, BTreeSet};

use git2::Oid;

use crate::mailbox::{self, MailboxError};
use crate::model::Problem;
use crate::placement;
use crate::repo::RepoError;
use crate::repo::SourceRepo;
use crate::repo::owners::{PASS_STATUS_PATHS, Paths};
use crate::repo::write::{self, Committer, Intent, RefOutcome, WriteError};
use crate::status::{self, StatusError};
use incremental::Sources;
use record::PassRecord;

/// Why a pass failed (input problems never fail a pass: they are recorded in `problems.yaml`).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading the source failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Writing the gitstellar refs failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Rendering a mailbox failed.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    /// Rendering the status tree failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The record of the pass could not be written.
    #[error("writing {}: {source}", path.display())]
    Record {
        /// The record's file.
        path: std::path::PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// A git operation failed.
    #[error("{what}: {}", crate::repo::git_message(.source))]
    Git {
        /// What was being done.
        what: String,
        /// git's reason.
        source: git2::Error,
    },
}

/// How a pass was computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassKind {
    /// The revision was already reconciled and no ref had moved: nothing was done.
    AlreadyDone,
    /// Only the objects of the changed files were recomputed, on top of the pass of `from`.
    Incremental {
        /// The source revision of the previous pass.
        from: String,
        /// How many object identities were recomputed.
        objects: usize,
    },
    /// Everything was recomputed.
    Full,
    /// The pass was stale and moved nothing: some ref was computed from `newer`, a revision that
    /// descends from this one and is still on the tracked branch.
    Stale {
        /// The newer source revision.
        newer: String,
    },
}

/// What one pass did.
#[derive(Debug)]
pub struct Report {
    /// The source commit reconciled.
    pub revision: String,
    /// What happened to each gitstellar ref.
    pub outcomes: Vec<(String, RefOutcome)>,
    /// How many problems the revision has (listed in the status branch's `problems.yaml`).
    pub problems: usize,
    /// How many (object, WEC) mailbox entries are held at their last good state (design §9.16).
    pub held: usize,
    /// What each problem holds, one line per problem (empty when nothing is held).
    pub holding: Vec<String>,
    /// How the pass was computed.
    pub kind: PassKind,
}

/// The large values of a pass (a million small allocations at fleet scale), kept so that a
/// one-shot command can exit without freeing them one by one: the OS reclaims them at once.
pub struct Leftovers(#[allow(dead_code)] Vec<Box<dyn std::any::Any>>);

impl Leftovers {
    /// Leaves the memory to the OS; only for a process about to exit.
    pub fn leave(self) {
        std::mem::forget(self);
    }
}

/// Options of a pass.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Recompute everything even when the last pass could be reused.
    pub full: bool,
}

/// The refs a pass manages.
const PREFIXES: [&str; 2] = [mailbox::REF_PREFIX, status::REF];

/// Reconciles `commit` of `source` into the gitstellar refs of its repository.
pub fn reconcile(
    source: &SourceRepo,
    commit: Oid,
    options: &Options,
) -> Result<(Report, Leftovers), ReconcileError> {
    let started = std::time::Instant::now();
    let repo = source.repository();
    let revision = commit.to_string();
    if let Some(stale) = stale_pass(source, commit)? {
        return Ok((stale, Leftovers(Vec::new())));
    }
    let program = program_key();
    let record = PassRecord::load(repo, &program, source.root());
    let record = match record {
        Some(r) if r.refs_unmoved(repo, &PREFIXES)? => Some(r),
        _ => None,
    };
    if let Some(record) = &record {
        // The same revision, by this same program, with every ref where that pass left it.
        if record.revision == revision && !options.full {
            tracing::info!("revision {revision} is already reconciled and no ref moved since");
            let outcomes = record
                .refs
                .keys()
                .map(|name| (name.clone(), RefOutcome::Unchanged))
                .collect();
            return Ok((
                Report {
                    revision,
                    outcomes,
                    problems: record.problems,
                    held: record.held,
                    holding: crate::plan::hold::describe(&crate::plan::hold::Holds {
                        by_problem: record.holdings.iter().cloned().collect(),
                        ..Default::default()
                    }),
                    kind: PassKind::AlreadyDone,
                },
                Leftovers(Vec::new()),
            ));
        }
        if !options.full
            && let Some(done) = incremental_pass(source, record, commit, &program, started)?
        {
            return Ok((done, Leftovers(Vec::new())));
        }
    }
    full_pass(source, commit, &program, started)
}

/// The full pass: every object placed, every WEC's tree hashed.
fn full_pass(
    source: &SourceRepo,
    commit: Oid,
    program: &str,
    started: std::time::Instant,
) -> Result<(Report, Leftovers), ReconcileError> {
    let repo = source.repository();
    let revision = commit.to_string();
    let snapshot = source.snapshot(commit)?;
    tracing::info!(elapsed = ?started.elapsed(), "read the revision");
    // What the revision's problems touch is held at the last good state (design §9.16).
    let hold::Held {
        snapshot,
        resolution,
        plan,
        holds,
        requests: _,
        previous_placements,
    } = hold::plan_held(source, snapshot)?;
    tracing::info!(elapsed = ?started.elapsed(), held = holds.entries, "computed the plan");
    let mailboxes = mailbox::build(&plan)?;
    tracing::info!(elapsed = ?started.elapsed(), "rendered the mailboxes");
    // Problems about single objects, kept for the next incremental pass.
    let general: BTreeSet<&Problem> = snapshot
        .problems
        .iter()
        .chain(&resolution.problems)
        .collect();
    let object_problems: Vec<Problem> = plan
        .problems
        .iter()
        .chain(&mailboxes.problems)
        .filter(|p| !general.contains(p))
        .cloned()
        .collect();
    let mut problems: Vec<Problem> = plan.problems.clone();
    problems.extend(mailboxes.problems.iter().cloned());
    let mut status_tree = status::build_held(&snapshot, &resolution, &problems, &holds)?;
    if holds.layout {
        // Nothing can be placed: the slices stay as the last good pass wrote them.
        status_tree
            .files
            .retain(|path, _| !path.starts_with(&format!("{}/", status::PLACEMENTS_DIR)));
        status_tree.files.extend(previous_placements);
    }
    problems.extend(status_tree.problems.iter().cloned());
    problems.sort();
    problems.dedup();

    let mut writer = Committer::for_pass(repo, &revision, source.tracked_tip())?;
    let existing: BTreeSet<String> = writer
        .refs_under(mailbox::REF_PREFIX)?
        .into_iter()
        .collect();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for name in &existing {
        let wec = name.strip_prefix(mailbox::REF_PREFIX).unwrap_or(name);
        if (holds.layout || holds.frozen.contains(wec))
            && let Some(tip) = writer.tip(name)?
        {
            // Held as a whole: the ref stays where it is.
            let tree = repo
                .find_commit(tip)
                .map_err(|source| ReconcileError::Git {
                    what: format!("reading {name}"),
                    source,
                })?
                .tree_id();
            let wec = wec.to_string();
            writer.commit(Intent::tree(name, Paths::All, tree, move |changes| {
                mailbox::commit_subject(&wec, changes)
            }))?;
            wanted.insert(name.clone());
        }
    }
    if !holds.layout {
        for (wec, files) in &mailboxes.wecs {
            let name = mailbox::ref_name(wec);
            if wanted.contains(&name) {
                continue;
            }
            let wec = wec.clone();
            writer.commit(Intent::files(&name, Paths::All, files, move |changes| {
                mailbox::commit_subject(&wec, changes)
            }))?;
            wanted.insert(name);
        }
        for name in &existing {
            if !wanted.contains(name) {
                writer.delete(name)?;
            }
        }
    }
    writer.commit(Intent::files(
        status::REF,
        PASS_STATUS_PATHS,
        &status_tree.files,
        status::commit_subject,
    ))?;
    tracing::info!(elapsed = ?started.elapsed(), "built the trees");
    let finished = writer.finish()?;
    let record = PassRecord::new(
        program.to_string(),
        source.root().to_string(),
        revision.clone(),
        (problems.len(), holds.entries),
        &holds,
        Sources::of(&snapshot),
        object_problems,
    );
    save_record(repo, record, finished.wanted.as_ref());
    tracing::info!(elapsed = ?started.elapsed(), "moved the refs");
    let leftovers = Leftovers(vec![
        Box::new(snapshot),
        Box::new(resolution),
        Box::new(plan),
        Box::new(mailboxes),
        Box::new(status_tree),
    ]);
    Ok((
        Report {
            revision,
            outcomes: finished.outcomes,
            problems: problems.len(),
            held: holds.entries,
            holding: crate::plan::hold::describe(&holds),
            kind: PassKind::Full,
        },
        leftovers,
    ))
}

/// The incremental pass (see the `incremental` module); `None` when the commit needs the full pass.
fn incremental_pass(
    source: &SourceRepo,
    record: &PassRecord,
    commit: Oid,
    program: &str,
    started: std::time::Instant,
) -> Result<Option<Report>, ReconcileError> {
    let repo = source.repository();
    let revision = commit.to_string();
    let Ok(previous) = Oid::from_str(&record.revision) else {
        return Ok(None);
    };
    if repo.find_commit(previous).is_err() {
        return Ok(None);
    }
    let paths = incremental::changed_paths(repo, source.root(), previous, commit)?;
    if record.holding_scopes || incremental::needs_full_pass(record, &paths) {
        tracing::info!("a control input changed: full pass");
        return Ok(None);
    }
    let snapshot = source.snapshot(commit)?;
    tracing::info!(elapsed = ?started.elapsed(), "read the revision");
    let sources = Sources::of(&snapshot);
    let Some(ids) = incremental::affected(record, &sources, &snapshot, &paths) else {
        tracing::info!("a control input changed: full pass");
        return Ok(None);
    };
    let resolution = placement::resolve(&snapshot);
    let mut writer = Committer::for_pass(repo, &revision, source.tracked_tip())?;
    let Some(edits) =
        incremental::mailbox_edits(record, &snapshot, &resolution, &ids, &mut writer, repo)?
    else {
        tracing::info!("an object came to or left a WEC: full pass");
        return Ok(None);
    };
    if incremental::may_hold(&snapshot, &resolution, &ids, &paths, &edits.object_problems)
        || incremental::touches_holds(record, &ids, &paths)
    {
        tracing::info!("a problem may hold what the commit touched: full pass");
        return Ok(None);
    }
    // What the last pass held, untouched by this commit, stays held as it was.
    let holds = crate::plan::hold::Holds {
        by_problem: record.holdings.iter().cloned().collect(),
        entries: record.held,
        ..Default::default()
    };
    tracing::info!(elapsed = ?started.elapsed(), objects = ids.len(), "recomputed the changed objects");
    let mut object_problems = incremental::kept_problems(record, &ids);
    object_problems.extend(edits.object_problems);
    object_problems.sort();
    object_problems.dedup();
    let mut problems: Vec<Problem> = snapshot
        .problems
        .iter()
        .chain(&resolution.problems)
        .chain(&object_problems)
        .cloned()
        .collect();
    let status_tree = status::build_held(&snapshot, &resolution, &problems, &holds)?;
    problems.extend(status_tree.problems.iter().cloned());
    problems.sort();
    problems.dedup();
    for (name, (base, edits)) in &edits.mailboxes {
        let tree = if edits.is_empty() {
            *base
        } else {
            writer.edit_tree(*base, edits)?
        };
        let wec = name
            .strip_prefix(mailbox::REF_PREFIX)
            .unwrap_or(name)
            .to_string();
        writer.commit(Intent::tree(name, Paths::All, tree, move |changes| {
            mailbox::commit_subject(&wec, changes)
        }))?;
    }
    writer.commit(Intent::files(
        status::REF,
        PASS_STATUS_PATHS,
        &status_tree.files,
        status::commit_subject,
    ))?;
    tracing::info!(elapsed = ?started.elapsed(), "edited the trees");
    let finished = writer.finish()?;
    let next = PassRecord::new(
        program.to_string(),
        source.root().to_string(),
        revision.clone(),
        (problems.len(), holds.entries),
        &holds,
        sources,
        object_problems,
    );
    save_record(repo, next, finished.wanted.as_ref());
    tracing::info!(elapsed = ?started.elapsed(), "moved the refs");
    Ok(Some(Report {
        revision,
        outcomes: finished.outcomes,
        problems: problems.len(),
        held: holds.entries,
        holding: crate::plan::hold::describe(&holds),
        kind: PassKind::Incremental {
            from: record.revision.clone(),
            objects: ids.len(),
        },
    }))
}

/// Saves the record of a pass whose refs all moved as wanted; a failure only costs the next pass
/// its shortcut.
fn save_record(
    repo: &git2::Repository,
    record: PassRecord,
    wanted: Option<&BTreeMap<String, Option<Oid>>>,
) {
    let Some(wanted) = wanted else {
        return;
    };
    if let Err(e) = record.save(repo, &PREFIXES, wanted) {
        tracing::warn!("could not record the pass (the next one recomputes everything): {e}");
    }
}

/// What identifies the program: its version and executable (size and time), so that a record
/// made by another build is not trusted.
fn program_key() -> String {
    use sha2::{Digest as _, Sha256};
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{modified}", m.len())
        })
        .unwrap_or_default();
    let text = format!("{}\n{exe}\n", env!("CARGO_PKG_VERSION"));
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The report of a stale pass of `commit`, which moves nothing: some gitstellar ref was computed
/// from a newer revision still on the tracked branch (see [`write::newer_pass`]).
fn stale_pass(source: &SourceRepo, commit: Oid) -> Result<Option<Report>, ReconcileError> {
    let Some(newer) = write::newer_pass(source.repository(), commit, source.tracked_tip())? else {
        return Ok(None);
    };
    tracing::info!("revision {commit} is older than {newer}, which the refs were computed from");
    Ok(Some(Report {
        revision: commit.to_string(),
        outcomes: Vec::new(),
        problems: 0,
        held: 0,
        holding: Vec::new(),
        kind: PassKind::Stale {
            newer: newer.to_string(),
        },
    }))
}
