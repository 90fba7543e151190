//! The record of the last complete pass, kept in the git directory (`gitstellar/last-pass`): what
//! the next pass needs to skip work. Local and disposable: a missing, unreadable or stale record
//! only means the next pass recomputes everything.

use std::collections::BTreeMap;

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::ReconcileError;
use crate::model::Problem;
use crate::repo::write::{self, WriteError};

/// Where the record is kept, in the git directory.
const PATH: &str = "gitstellar/last-pass";

/// The version of the record's format; a record of another format is ignored.
const FORMAT: u32 = 3;

/// One complete pass: its input, its output refs, and what an incremental pass reuses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PassRecord {
    format: u32,
    /// The program that made the pass (version and executable): another program may compute
    /// differently, so its record is not reused.
    pub program: String,
    /// The layout root inside the repository.
    pub root: String,
    /// The source commit.
    pub revision: String,
    /// How many problems the pass found.
    pub problems: usize,
    /// How many mailbox entries the pass held at their last good state.
    pub held: usize,
    /// Whether the pass held whole mailboxes or EdgePlacements: the next pass must work those
    /// out again, which only the full pass does.
    pub holding_scopes: bool,
    /// What each problem held (as `problems.yaml` says): an incremental pass that touches none of
    /// it keeps it.
    pub holdings: Vec<(Problem, crate::plan::hold::Holding)>,
    /// Every managed ref and the commit the pass left it at.
    pub refs: BTreeMap<String, String>,
    /// What the revision's files contributed (see [`super::incremental::Sources`]).
    pub sources: super::incremental::Sources,
    /// The problems about single objects (placing, customizing, writing them): an incremental
    /// pass keeps those of the objects it does not recompute.
    pub object_problems: Vec<Problem>,
}

impl PassRecord {
    /// A record of a pass that has just completed.
    pub fn new(
        program: String,
        root: String,
        revision: String,
        (problems, held): (usize, usize),
        holds: &crate::plan::hold::Holds,
        sources: super::incremental::Sources,
        object_problems: Vec<Problem>,
    ) -> PassRecord {
        PassRecord {
            format: FORMAT,
            program,
            root,
            revision,
            problems,
            held,
            holding_scopes: holds.layout
                || !holds.frozen.is_empty()
                || !holds.placements.is_empty(),
            holdings: holds
                .by_problem
                .iter()
                .map(|(p, h)| (p.clone(), h.clone()))
                .collect(),
            refs: BTreeMap::new(),
            sources,
            object_problems,
        }
    }

    /// The record of the last pass, if there is one this program can use.
    pub fn load(repo: &Repository, program: &str, root: &str) -> Option<PassRecord> {
        let bytes = std::fs::read(repo.path().join(PATH)).ok()?;
        let record: PassRecord = serde_json::from_slice(&bytes).ok()?;
        (record.format == FORMAT && record.program == program && record.root == root)
            .then_some(record)
    }

    /// Whether every ref under `prefixes` is still where this pass left it (and no other exists).
    pub fn refs_unmoved(&self, repo: &Repository, prefixes: &[&str]) -> Result<bool, WriteError> {
        let now = write::managed_refs(repo, prefixes)?;
        Ok(now.len() == self.refs.len()
            && now
                .iter()
                .all(|(name, commit)| self.refs.get(name) == Some(&commit.to_string())))
    }

    /// The commit a ref was left at.
    pub fn commit(&self, name: &str) -> Option<Oid> {
        self.refs.get(name).and_then(|c| Oid::from_str(c).ok())
    }

    /// Saves the record, if every ref under `prefixes` holds the tree the pass wanted (`wanted`:
    /// ref → tree, `None` for deleted); otherwise a concurrent writer moved something, and the
    /// next pass must recompute. Returns whether it was saved.
    pub fn save(
        mut self,
        repo: &Repository,
        prefixes: &[&str],
        wanted: &BTreeMap<String, Option<Oid>>,
    ) -> Result<bool, ReconcileError> {
        let refs = write::managed_refs(repo, prefixes)?;
        let expected: BTreeMap<&String, Oid> = wanted
            .iter()
            .filter_map(|(n, t)| t.map(|t| (n, t)))
            .collect();
        if refs.len() != expected.len() {
            return Ok(false);
        }
        for (name, commit) in &refs {
            let tree = repo
                .find_commit(*commit)
                .map_err(|source| ReconcileError::Git {
                    what: format!("reading {name}"),
                    source,
                })?
                .tree_id();
            if expected.get(name) != Some(&tree) {
                return Ok(false);
            }
        }
        self.refs = refs
            .into_iter()
            .map(|(name, commit)| (name, commit.to_string()))
            .collect();
        let path = repo.path().join(PATH);
        let io = |source| ReconcileError::Record {
            path: path.clone(),
            source,
        };
        let text = serde_json::to_vec(&self).map_err(|e| io(std::io::Error::other(e)))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Written aside and renamed: a reader sees the old record or the new one, whole.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(true)
    }
}
