//! The last good state, read back from git (design §9.16): what the inputs that have a problem
//! now produced before, so that [`crate::plan::hold`] can hold it.
//!
//! Inputs: the repository's gitstellar refs — the mailboxes (each file names its origin in
//! `gitstellar.io/origin`), the status branch (its tip's `Source-Revision` names the revision it
//! was computed from; `problems.yaml` says what each problem held; a held EdgePlacement's
//! SinglePlacementSlice names the revision whose resolution it holds) — and the source revisions
//! those name, read again. Never the local pass record: a fresh clone, cache or replica holds
//! exactly as the writer did. Output: a revision's plan with its holds ([`Held`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository, Tree};
use serde_json::Value;

use super::ReconcileError;
use crate::mailbox::{self, OBJECTS_DIR, SYNCER_CONFIG_FILE, SyncerConfig};
use crate::model::{ObjectId, Problem, Snapshot, UpsyncSet, load::CONFIG_FILE};
use crate::placement::{self, Resolution};
use crate::plan::hold::{
    self, HELD_FROM_ANNOTATION, Holds, LastGood, PreviousEntry, PreviousMailboxes, Requests,
};
use crate::plan::{self, Plan};
use crate::repo::SourceRepo;
use crate::repo::write::{Files, source_revision};
use crate::status::{self, PLACEMENTS_DIR, PROBLEMS_FILE, ProblemEntry};

/// A revision's plan with its holds.
pub struct Held {
    /// The snapshot (with EdgePlacements that failed to load put back as last good).
    pub snapshot: Snapshot,
    /// The resolution (held EdgePlacements as their last good revision resolved them).
    pub resolution: Resolution,
    /// The plan, held entries included and marked.
    pub plan: Plan,
    /// What is held.
    pub holds: Holds,
    /// What the revision's problems asked to hold.
    pub requests: Requests,
    /// The status branch's SinglePlacementSlices as they are (kept when the layout is unknowable).
    pub previous_placements: Files,
}

/// Places a revision and holds what its problems touch at the last good state.
pub fn plan_held(source: &SourceRepo, mut snapshot: Snapshot) -> Result<Held, ReconcileError> {
    let repo = source.repository();
    let mut resolution = placement::resolve(&snapshot);
    let mut requests = Requests::of(&snapshot, &resolution);
    let previous = Previous::read(repo, !requests.is_empty())?;
    let last = if previous.basis.is_some() && requests.need_last_good() {
        last_good(source, &snapshot, &previous, &mut requests)?
    } else {
        LastGood {
            revision: previous.basis.clone(),
            ..LastGood::default()
        }
    };
    let mut last = last;
    last.recorded = previous
        .problems
        .iter()
        .filter_map(|e| {
            let h = e.holds.as_ref()?;
            (!h.revision.is_empty()).then(|| (e.problem.clone(), h.revision.clone()))
        })
        .collect();
    // A file holds what it defined and no longer does: an identity defined now (in that file or
    // another) is placed as usual.
    for ((wds, _), ids) in &mut last.file_objects {
        if let Some(space) = snapshot.workloads.iter().find(|w| &w.name == wds) {
            ids.retain(|id| space.object(id).is_none());
        }
    }
    let mut holds = Holds::default();
    if last.revision.is_some() && hold::restore_placements(&mut snapshot, &requests, &last) {
        resolution = placement::resolve(&snapshot);
    }
    if last.revision.is_some() {
        hold::hold_placements(&snapshot, &mut resolution, &requests, &last, &mut holds);
    }
    let mut plan = plan::compute_resolved(&snapshot, &resolution);
    let general: BTreeSet<&Problem> = snapshot
        .problems
        .iter()
        .chain(&resolution.problems)
        .collect();
    requests.add_object_problems(plan.problems.iter().filter(|p| !general.contains(p)));
    if !requests.is_empty() {
        let mailboxes = GitMailboxes::open(repo)?;
        hold::hold_entries(&mut plan, &requests, &last, &mailboxes, &mut holds);
    }
    Ok(Held {
        snapshot,
        resolution,
        plan,
        holds,
        requests,
        previous_placements: previous.placements,
    })
}

/// What the status branch says of the last pass.
struct Previous {
    /// The revision the previous mailboxes were computed from.
    basis: Option<String>,
    /// `problems.yaml`.
    problems: Vec<ProblemEntry>,
    /// `placements/...`: every SinglePlacementSlice file.
    placements: Files,
}

impl Previous {
    /// Reads the status branch's tip; its slices only `with_placements`.
    fn read(repo: &Repository, with_placements: bool) -> Result<Previous, ReconcileError> {
        let mut out = Previous {
            basis: None,
            problems: Vec::new(),
            placements: Files::new(),
        };
        let Ok(reference) = repo.find_reference(status::REF) else {
            return Ok(out);
        };
        let commit = reference
            .peel_to_commit()
            .map_err(git_error("reading the status branch"))?;
        out.basis = commit.message().ok().and_then(source_revision);
        let tree = commit
            .tree()
            .map_err(git_error("reading the status branch"))?;
        if let Some(bytes) = blob_at(repo, &tree, PROBLEMS_FILE) {
            out.problems = status::read_problems(&bytes).unwrap_or_default();
        }
        if with_placements
            && let Ok(entry) = tree.get_path(std::path::Path::new(PLACEMENTS_DIR))
            && let Ok(dir) = repo.find_tree(entry.id())
        {
            walk_blobs(repo, &dir, PLACEMENTS_DIR, &mut |path, bytes| {
                out.placements.insert(Arc::from(path), bytes);
            });
        }
        // While the layout was unknowable no mailbox moved: they still hold the revision the
        // layout problem recorded.
        if let Some(kept) = out.problems.iter().find_map(|e| {
            let layout = e.problem.file == CONFIG_FILE
                || (e.problem.file.is_empty() && e.problem.object.is_empty());
            e.holds
                .as_ref()
                .filter(|h| layout && !h.revision.is_empty())
                .map(|h| h.revision.clone())
        }) {
            out.basis = Some(kept);
        }
        Ok(out)
    }

    /// The revision whose resolution a held EdgePlacement's slice names.
    fn held_from(&self, wds: &str, ep: &str) -> Option<String> {
        let bytes = self
            .placements
            .get(status::placement_path(wds, ep).as_str())?;
        held_from(bytes)
    }

    /// Every held slice: (WDS, EdgePlacement, the revision it is held from).
    fn held_slices(&self) -> Vec<(String, String, String)> {
        self.placements
            .iter()
            .filter_map(|(path, bytes)| {
                let rest = path.strip_prefix(&format!("{PLACEMENTS_DIR}/"))?;
                let (wds, file) = rest.split_once('/')?;
                let ep = file.strip_suffix(".yaml")?;
                Some((wds.to_string(), ep.to_string(), held_from(bytes)?))
            })
            .collect()
    }

    /// What the previous `problems.yaml` recorded as held for a file of a space.
    fn recorded<'a>(
        &'a self,
        space: &'a str,
        file: &'a str,
    ) -> impl Iterator<Item = &'a hold::Holding> + 'a {
        self.problems
            .iter()
            .filter(move |e| e.problem.space == space && e.problem.file == file)
            .filter_map(|e| e.holds.as_ref())
    }
}

/// Works out what the inputs asking to be held produced in the last good state. A broken file
/// also holds the EdgePlacements it defined then (they are absent now).
fn last_good(
    source: &SourceRepo,
    snapshot: &Snapshot,
    previous: &Previous,
    requests: &mut Requests,
) -> Result<LastGood, ReconcileError> {
    let mut out = LastGood {
        revision: previous.basis.clone(),
        ..LastGood::default()
    };
    let mut revisions: Revisions = HashMap::new();
    let Some(basis) = previous.basis.clone() else {
        return Ok(out);
    };
    if !requests.files.is_empty() || !requests.inventory_files.is_empty() {
        load_at(source, &mut revisions, &basis)?;
    }
    // EdgePlacements of the broken files: as the basis defined them, or as the revision their
    // held slice names (while the file stays broken).
    let absent = |wds: &str, ep: &str| {
        snapshot
            .workloads
            .iter()
            .find(|w| w.name == wds)
            .is_none_or(|w| w.edge_placements.iter().all(|e| e.meta.name != ep))
    };
    let mut candidates: Vec<(String, String, String)> = Vec::new();
    if !requests.files.is_empty() {
        for (wds, ep, from) in previous.held_slices() {
            candidates.push((wds, ep, from));
        }
        if let Some(Some((s, _))) = revisions.get(&basis) {
            for w in &s.workloads {
                for ep in &w.edge_placements {
                    candidates.push((w.name.clone(), ep.meta.name.clone(), basis.clone()));
                }
            }
        }
    }
    for (wds, ep, from) in candidates {
        if requests.placements.contains_key(&(wds.clone(), ep.clone())) || !absent(&wds, &ep) {
            continue;
        }
        if !load_at(source, &mut revisions, &from)? {
            continue;
        }
        let file = revisions
            .get(&from)
            .and_then(Option::as_ref)
            .and_then(|(s, _)| s.workloads.iter().find(|w| w.name == wds))
            .and_then(|w| w.edge_placements.iter().find(|e| e.meta.name == ep))
            .map(|e| e.file.clone());
        if let Some(file) = file
            && let Some(p) = requests.files.get(&(wds.clone(), file))
        {
            let p = p.clone();
            requests.placements.insert((wds, ep), p);
        }
    }
    for (wds, ep) in requests.placements.keys() {
        let from = previous.held_from(wds, ep).unwrap_or_else(|| basis.clone());
        load_at(source, &mut revisions, &from)?;
    }
    let definitions = revisions
        .get(&basis)
        .and_then(Option::as_ref)
        .map(|(s, r)| hold::definitions(s, r))
        .unwrap_or_default();
    for key in requests.files.keys() {
        let mut ids: BTreeSet<ObjectId> = definitions.0.get(key).cloned().unwrap_or_default();
        for holding in previous.recorded(&key.0, &key.1) {
            ids.extend(
                holding
                    .objects
                    .iter()
                    .filter_map(|o| ObjectId::parse(&o.object)),
            );
        }
        out.file_objects.insert(key.clone(), ids);
    }
    for key in requests.inventory_files.keys() {
        let mut wecs: BTreeSet<String> = definitions.1.get(key).cloned().unwrap_or_default();
        for holding in previous.recorded(&key.0, &key.1) {
            wecs.extend(holding.mailboxes.iter().cloned());
        }
        out.inventory_wecs.insert(key.clone(), wecs);
    }
    for (wds, ep) in requests.placements.keys() {
        let from = previous.held_from(wds, ep).unwrap_or_else(|| basis.clone());
        if let Some(Some((snapshot, resolution))) = revisions.get(&from)
            && let Some(held) = hold::resolved_placement(snapshot, resolution, wds, ep, &from)
        {
            out.placements.insert((wds.clone(), ep.clone()), held);
        }
    }
    Ok(out)
}

/// Source revisions read again, by commit id (`None`: not in the repository).
type Revisions = HashMap<String, Option<(Snapshot, Resolution)>>;

/// Reads a revision again (once); whether it is in the repository.
fn load_at(
    source: &SourceRepo,
    revisions: &mut Revisions,
    revision: &str,
) -> Result<bool, ReconcileError> {
    if !revisions.contains_key(revision) {
        let loaded = match Oid::from_str(revision)
            .ok()
            .filter(|oid| source.repository().find_commit(*oid).is_ok())
        {
            Some(oid) => {
                let snapshot = source.snapshot(oid)?;
                let resolution = placement::resolve(&snapshot);
                Some((snapshot, resolution))
            }
            None => {
                tracing::warn!("the last good revision {revision} is not in the repository");
                None
            }
        };
        revisions.insert(revision.to_string(), loaded);
    }
    Ok(revisions.get(revision).is_some_and(Option::is_some))
}

/// The mailbox refs as they are, read on demand.
struct GitMailboxes<'r> {
    repo: &'r Repository,
    /// WEC → its mailbox tree.
    trees: BTreeMap<String, Oid>,
    /// WEC → (group, version, namespace, name) → resource, from its SyncerConfig.
    resources: RefCell<HashMap<String, Arc<Resources>>>,
    /// Parsed files by blob id (WECs share most of them).
    parsed: RefCell<HashMap<Oid, Option<Parsed>>>,
}

/// A parsed mailbox file: its origin's WDS and identity, the object, the bytes.
type Parsed = (String, ObjectId, Arc<Value>, Arc<[u8]>);

/// A SyncerConfig's resources by (group, version, namespace, name), and its upsync rules.
#[derive(Default)]
struct Resources {
    by_object: HashMap<(String, String, String, String), String>,
    upsync: Vec<UpsyncSet>,
}

impl<'r> GitMailboxes<'r> {
    fn open(repo: &'r Repository) -> Result<GitMailboxes<'r>, ReconcileError> {
        let mut trees = BTreeMap::new();
        let glob = format!("{}*", mailbox::REF_PREFIX);
        let refs = repo
            .references_glob(&glob)
            .map_err(git_error("listing the mailboxes"))?;
        for r in refs {
            let r = r.map_err(git_error("listing the mailboxes"))?;
            let (Ok(name), Ok(tree)) = (r.name().map(str::to_string), r.peel_to_tree()) else {
                continue;
            };
            if let Some(wec) = name.strip_prefix(mailbox::REF_PREFIX) {
                trees.insert(wec.to_string(), tree.id());
            }
        }
        Ok(GitMailboxes {
            repo,
            trees,
            resources: RefCell::new(HashMap::new()),
            parsed: RefCell::new(HashMap::new()),
        })
    }

    fn tree(&self, wec: &str) -> Option<Tree<'r>> {
        self.trees
            .get(wec)
            .and_then(|oid| self.repo.find_tree(*oid).ok())
    }

    fn resources(&self, wec: &str) -> Arc<Resources> {
        if let Some(r) = self.resources.borrow().get(wec) {
            return r.clone();
        }
        let mut out = Resources::default();
        let config = self
            .tree(wec)
            .and_then(|t| blob_at(self.repo, &t, SYNCER_CONFIG_FILE))
            .and_then(|b| {
                gitstellar_core::yaml::from_str::<SyncerConfig>(std::str::from_utf8(&b).ok()?).ok()
            });
        if let Some(config) = config {
            for n in &config.spec.namespaced_objects {
                for by_ns in &n.objects_by_namespace {
                    for name in &by_ns.names {
                        out.by_object.insert(
                            (
                                n.group.clone(),
                                n.api_version.clone(),
                                by_ns.namespace.clone(),
                                name.clone(),
                            ),
                            n.resource.clone(),
                        );
                    }
                }
            }
            for c in &config.spec.cluster_scope {
                for name in &c.objects {
                    out.by_object.insert(
                        (
                            c.group.clone(),
                            c.api_version.clone(),
                            String::new(),
                            name.clone(),
                        ),
                        c.resource.clone(),
                    );
                }
            }
            out.upsync = config.spec.upsync;
        }
        let out = Arc::new(out);
        self.resources
            .borrow_mut()
            .insert(wec.to_string(), out.clone());
        out
    }

    /// The entry of a mailbox file (its blob), with its resource from the WEC's SyncerConfig.
    fn read_entry(&self, wec: &str, blob: Oid) -> Option<PreviousEntry> {
        let parsed = {
            let mut cache = self.parsed.borrow_mut();
            cache
                .entry(blob)
                .or_insert_with(|| parse_entry(self.repo, blob))
                .clone()
        };
        let (wds, id, object, file) = parsed?;
        let version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(|v| v.rsplit('/').next().unwrap_or(v).to_string())
            .unwrap_or_default();
        let resource = self
            .resources(wec)
            .by_object
            .get(&(
                id.group.clone(),
                version,
                id.namespace.clone().unwrap_or_default(),
                id.name.clone(),
            ))
            .cloned()
            .unwrap_or_else(|| format!("{}s", id.kind.to_lowercase()));
        Some(PreviousEntry {
            wds,
            id,
            resource,
            object,
            file,
        })
    }
}

/// A mailbox file: its origin's WDS and identity, the object without the origin annotation, and
/// its bytes; `None` when it is not a gitstellar mailbox file.
fn parse_entry(repo: &Repository, blob: Oid) -> Option<Parsed> {
    let bytes: Arc<[u8]> = Arc::from(repo.find_blob(blob).ok()?.content());
    let mut value = crate::model::load::parse_documents("mailbox.yaml", &bytes)
        .ok()?
        .into_iter()
        .next()?;
    let annotations = value
        .pointer_mut("/metadata/annotations")?
        .as_object_mut()?;
    let origin = annotations.remove(crate::sync::ORIGIN)?;
    let (wds, id) = crate::sync::desired::parse_origin(origin.as_str()?)?;
    Some((wds, id, Arc::new(value), bytes))
}

impl PreviousMailboxes for GitMailboxes<'_> {
    fn wecs(&self) -> Vec<String> {
        self.trees.keys().cloned().collect()
    }

    fn entry(&self, wec: &str, id: &ObjectId) -> Option<PreviousEntry> {
        let tree = self.tree(wec)?;
        let entry = tree
            .get_path(std::path::Path::new(&mailbox::object_path(id)))
            .ok()?;
        let found = self.read_entry(wec, entry.id())?;
        (found.id == *id).then_some(found)
    }

    fn entries(&self, wec: &str) -> (Vec<PreviousEntry>, Vec<UpsyncSet>) {
        let mut out = Vec::new();
        if let Some(tree) = self.tree(wec)
            && let Ok(entry) = tree.get_path(std::path::Path::new(OBJECTS_DIR))
            && let Ok(dir) = self.repo.find_tree(entry.id())
        {
            let mut blobs = Vec::new();
            walk_ids(self.repo, &dir, &mut blobs);
            out.extend(blobs.into_iter().filter_map(|b| self.read_entry(wec, b)));
        }
        (out, self.resources(wec).upsync.clone())
    }
}

/// The revision a SinglePlacementSlice says it is held from.
fn held_from(bytes: &[u8]) -> Option<String> {
    let value: Value = gitstellar_core::yaml::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
    value
        .pointer("/metadata/annotations")?
        .get(HELD_FROM_ANNOTATION)?
        .as_str()
        .map(str::to_string)
}

/// The blob at `path` in `tree`.
fn blob_at(repo: &Repository, tree: &Tree<'_>, path: &str) -> Option<Arc<[u8]>> {
    let entry = tree.get_path(std::path::Path::new(path)).ok()?;
    Some(Arc::from(repo.find_blob(entry.id()).ok()?.content()))
}

/// Every blob under `tree`, with its path under `prefix`.
fn walk_blobs(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    found: &mut dyn FnMut(String, Arc<[u8]>),
) {
    for entry in tree.iter() {
        let Ok(name) = entry.name() else { continue };
        let path = format!("{prefix}/{name}");
        match entry.kind() {
            Some(ObjectType::Tree) => {
                if let Ok(sub) = repo.find_tree(entry.id()) {
                    walk_blobs(repo, &sub, &path, found);
                }
            }
            Some(ObjectType::Blob) => {
                if let Ok(blob) = repo.find_blob(entry.id()) {
                    found(path, Arc::from(blob.content()));
                }
            }
            _ => {}
        }
    }
}

/// The ids of every blob under `tree`.
fn walk_ids(repo: &Repository, tree: &Tree<'_>, found: &mut Vec<Oid>) {
    for entry in tree.iter() {
        match entry.kind() {
            Some(ObjectType::Tree) => {
                if let Ok(sub) = repo.find_tree(entry.id()) {
                    walk_ids(repo, &sub, found);
                }
            }
            Some(ObjectType::Blob) => found.push(entry.id()),
            _ => {}
        }
    }
}

fn git_error(what: &str) -> impl FnOnce(git2::Error) -> ReconcileError {
    let what = what.to_string();
    move |source| ReconcileError::Git { what, source }
}
