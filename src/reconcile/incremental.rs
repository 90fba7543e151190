//! The incremental pass: after a commit that changes only ordinary workload objects, recompute
//! those objects for every WEC and edit the previous pass's mailbox trees, instead of placing,
//! rendering and hashing every object of every WEC again.
//!
//! Why it gives the same trees as a full pass: an object's placement and customization depend on
//! the object itself and on the *control* inputs — inventory, EdgePlacements, Customizers,
//! Namespaces (namespaceSelectors see their labels), CRDs (kind mapping) and `gitstellar.yaml` —
//! never on other workload objects, except that a CRD follows its custom resources (so every
//! CRD is recomputed too). So when no changed file held a control input, before or after, every
//! mailbox entry of an object outside the changed files is still right, and the changed objects
//! (by identity, old and new, in every WDS) are recomputed exactly as a full pass would. A
//! change that adds or removes an object at some WEC also changes that WEC's SyncerConfig,
//! which lists every object: such a commit takes the full pass. Anything else (other spaces, a
//! control file, moved refs, a record from another program) takes the full pass too; the full
//! pass is always right, this one only faster.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::ReconcileError;
use super::record::PassRecord;
use crate::mailbox;
use crate::model::{ObjectId, Problem, Snapshot, load::CONFIG_FILE};
use crate::placement::Resolution;
use crate::plan;
use crate::repo::write::{Committer, TreeEdits};

/// What each file of a revision contributed, as far as an incremental pass needs to know.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sources {
    /// Every space, as `inventory <dir>` or `workload <dir>`.
    pub spaces: BTreeSet<String>,
    /// Files holding a control input (see the module's documentation).
    pub control: BTreeSet<String>,
    /// The other files: the identities of the workload objects each defined (including objects
    /// withheld for a problem), with their resources.
    pub objects: BTreeMap<String, Vec<(String, String)>>,
}

/// Problem identities of these kinds make their file a control file: a withheld Namespace or CRD
/// still changes what others see once it is no longer withheld.
const CONTROL_PREFIXES: [&str; 3] = [
    "core/Namespace/",
    "apiextensions.k8s.io/CustomResourceDefinition/",
    "edge.kubestellar.io/",
];

fn is_control_kind(id: &ObjectId) -> bool {
    (id.group.is_empty() && id.kind == "Namespace")
        || (id.group == "apiextensions.k8s.io" && id.kind == "CustomResourceDefinition")
}

impl Sources {
    /// Classifies the files of a snapshot.
    pub fn of(snapshot: &Snapshot) -> Sources {
        let mut out = Sources::default();
        for inv in &snapshot.inventories {
            out.spaces.insert(format!("inventory {}", inv.dir));
        }
        for wds in &snapshot.workloads {
            out.spaces.insert(format!("workload {}", wds.dir));
            for ep in &wds.edge_placements {
                out.control.insert(ep.file.clone());
            }
            for customizer in wds.customizers.values() {
                out.control.insert(customizer.file.clone());
            }
            for object in &wds.objects {
                if is_control_kind(&object.id) {
                    out.control.insert(object.file.clone());
                } else {
                    out.objects
                        .entry(object.file.clone())
                        .or_default()
                        .push((object.id.to_string(), object.resource.clone()));
                }
            }
        }
        for problem in &snapshot.problems {
            if problem.file.is_empty() || problem.object.is_empty() {
                continue;
            }
            if CONTROL_PREFIXES
                .iter()
                .any(|p| problem.object.starts_with(p))
            {
                out.control.insert(problem.file.clone());
            } else {
                out.objects
                    .entry(problem.file.clone())
                    .or_default()
                    .push((problem.object.clone(), String::new()));
            }
        }
        for file in &out.control {
            out.objects.remove(file);
        }
        for ids in out.objects.values_mut() {
            ids.sort();
            ids.dedup();
        }
        out
    }

    /// Whether `path` belongs to an inventory space.
    fn in_inventory(&self, path: &str) -> bool {
        self.spaces.iter().any(|s| {
            s.strip_prefix("inventory ")
                .is_some_and(|dir| path.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
        })
    }
}

/// The files of the layout root that differ between two commits.
pub(super) fn changed_paths(
    repo: &Repository,
    root: &str,
    old: Oid,
    new: Oid,
) -> Result<Vec<String>, ReconcileError> {
    let git = |what: &str| {
        let what = what.to_string();
        move |source| ReconcileError::Git { what, source }
    };
    let tree_at = |commit: Oid| -> Result<Option<Oid>, ReconcileError> {
        let top = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(git("reading a source commit"))?;
        if root.is_empty() {
            return Ok(Some(top.id()));
        }
        match top.get_path(std::path::Path::new(root)) {
            Ok(entry) if entry.kind() == Some(git2::ObjectType::Tree) => Ok(Some(entry.id())),
            _ => Ok(None),
        }
    };
    let changes = crate::repo::tree::diff(repo, tree_at(old)?, tree_at(new)?)?;
    let paths: BTreeSet<String> = changes
        .added
        .into_iter()
        .chain(changes.changed)
        .chain(changes.removed)
        .collect();
    Ok(paths.into_iter().collect())
}

/// Whether a changed path could need the full pass before anything is loaded.
pub(super) fn needs_full_pass(record: &PassRecord, paths: &[String]) -> bool {
    paths.iter().any(|p| {
        p == CONFIG_FILE || record.sources.control.contains(p) || record.sources.in_inventory(p)
    })
}

/// The identities an incremental pass recomputes, or `None` when the commit needs the full pass.
pub(super) fn affected(
    record: &PassRecord,
    now: &Sources,
    snapshot: &Snapshot,
    paths: &[String],
) -> Option<BTreeSet<String>> {
    if now.spaces != record.sources.spaces {
        return None;
    }
    let mut ids = BTreeSet::new();
    for path in paths {
        if now.control.contains(path) || now.in_inventory(path) {
            return None;
        }
        for sources in [&record.sources, now] {
            if let Some(list) = sources.objects.get(path) {
                ids.extend(list.iter().map(|(id, _)| id.clone()));
            }
        }
    }
    // A CRD's destinations follow its custom resources: recompute them all (there are few).
    for wds in &snapshot.workloads {
        for object in &wds.objects {
            if object.id.group == "apiextensions.k8s.io"
                && object.id.kind == "CustomResourceDefinition"
            {
                ids.insert(object.id.to_string());
            }
        }
    }
    Some(ids)
}

/// What an incremental pass found to write.
pub(super) struct Edits {
    /// WEC ref → (its previous tree, the edits to it).
    pub mailboxes: BTreeMap<String, (Oid, TreeEdits)>,
    /// The problems about the recomputed objects.
    pub object_problems: Vec<Problem>,
}

/// Recomputes the objects `ids` for every WEC and works out each mailbox's edits (the objects,
/// and the SyncerConfig where an object came, went or changed version), hashing the new blobs
/// into `writer`. `None` when the WECs are not those of the record, or an object's resource
/// changed (the full pass handles those).
pub(super) fn mailbox_edits(
    record: &PassRecord,
    snapshot: &Snapshot,
    resolution: &Resolution,
    ids: &BTreeSet<String>,
    writer: &mut Committer<'_>,
    repo: &Repository,
) -> Result<Option<Edits>, ReconcileError> {
    let keep = |id: &ObjectId| ids.contains(&id.to_string());
    let partial_plan = plan::compute_objects(snapshot, resolution, &keep);
    let partial = mailbox::build(&partial_plan)?;
    // The WECs must be the record's: a WEC that came or went takes the full pass.
    let recorded: BTreeSet<&str> = record
        .refs
        .keys()
        .filter_map(|r| r.strip_prefix(mailbox::REF_PREFIX))
        .collect();
    let now: BTreeSet<&str> = partial.wecs.keys().map(String::as_str).collect();
    if recorded != now {
        return Ok(None);
    }
    // Each recomputed identity: its mailbox path, its resource before and now.
    let mut objects: BTreeMap<&str, Identity> = BTreeMap::new();
    for id in ids {
        if let Some(parsed) = Identity::parse(id) {
            objects.insert(id, parsed);
        }
    }
    for list in record.sources.objects.values() {
        for (id, resource) in list {
            if let Some(o) = objects.get_mut(id.as_str())
                && !resource.is_empty()
            {
                o.old_resource.get_or_insert_with(|| resource.clone());
            }
        }
    }
    for wds in &snapshot.workloads {
        for object in &wds.objects {
            if let Some(o) = objects.get_mut(object.id.to_string().as_str()) {
                o.new_resource
                    .get_or_insert_with(|| object.resource.clone());
            }
        }
    }
    for o in objects.values_mut() {
        // An object that did not change file keeps its kind's resource (CRDs did not change).
        if o.old_resource.is_none() {
            o.old_resource = o.new_resource.clone();
        }
        if o.new_resource.is_some() && o.old_resource != o.new_resource {
            return Ok(None);
        }
    }
    let mut versions: HashMap<Oid, Option<String>> = HashMap::new();
    let mut configs: HashMap<(Oid, mailbox::ConfigEdit), Oid> = HashMap::new();
    let config_path = mailbox::SYNCER_CONFIG_FILE;
    let mut mailboxes = BTreeMap::new();
    for (wec, files) in &partial.wecs {
        let name = mailbox::ref_name(wec);
        let Some(commit) = record.commit(&name) else {
            return Ok(None);
        };
        let base = repo
            .find_commit(commit)
            .map_err(|source| ReconcileError::Git {
                what: format!("reading {name}"),
                source,
            })?
            .tree_id();
        let mut edits = Vec::new();
        let mut config = mailbox::ConfigEdit::default();
        let mut namespaces: BTreeSet<&str> = BTreeSet::new();
        for o in objects.values() {
            let old = match &o.path {
                Some(path) => writer.lookup(base, path)?,
                None => None,
            };
            let new = match o.path.as_deref().and_then(|p| files.get(p)) {
                Some(content) => Some((writer.blob(content)?, content)),
                None => None,
            };
            let old_version = match old {
                Some(a) if new.is_none_or(|(b, _)| b != a) => {
                    Some(blob_version(repo, &mut versions, a, None)?)
                }
                _ => None,
            };
            let new_version = match new {
                Some((b, content)) if old != Some(b) => {
                    Some(blob_version(repo, &mut versions, b, Some(content))?)
                }
                _ => None,
            };
            let (Some(path), true) = (&o.path, old != new.map(|(b, _)| b)) else {
                continue;
            };
            edits.push((path.clone(), new.map(|(b, _)| b)));
            if old.is_some() && new.is_some() && old_version == new_version {
                continue;
            }
            // Came, went, or changed version: the SyncerConfig lists it.
            if let (Some(_), Some(resource)) = (old, &o.old_resource) {
                config.removed.push(o.entry(resource, ""));
            }
            if let (Some(_), Some(resource), Some(version)) =
                (new, &o.new_resource, new_version.flatten())
            {
                config.added.push(o.entry(resource, &version));
            } else if new.is_some() {
                // A delivered object whose resource or version cannot be told.
                return Ok(None);
            }
            if let Some(ns) = &o.id.namespace {
                namespaces.insert(ns);
            }
        }
        if config != mailbox::ConfigEdit::default() {
            for ns in namespaces {
                let path = format!("{}/core/Namespace/_cluster/{ns}.yaml", mailbox::OBJECTS_DIR);
                let explicit = writer.lookup(base, &path)?.is_some();
                config.namespaces.push((ns.to_string(), explicit));
            }
            let Some(old) = writer.lookup(base, config_path)? else {
                return Ok(None);
            };
            let key = (old, config);
            let new = match configs.get(&key) {
                Some(oid) => *oid,
                None => {
                    let blob = repo.find_blob(old).map_err(|source| ReconcileError::Git {
                        what: format!("reading {name}:{config_path}"),
                        source,
                    })?;
                    let edited = mailbox::edit_syncer_config(blob.content(), &key.1)?;
                    let oid = writer.blob(&edited)?;
                    configs.insert(key, oid);
                    oid
                }
            };
            if new != old {
                edits.push((config_path.to_string(), Some(new)));
            }
        }
        edits.sort();
        mailboxes.insert(name, (base, edits));
    }
    let mut object_problems = partial_plan.problems;
    object_problems.extend(partial.problems);
    Ok(Some(Edits {
        mailboxes,
        object_problems,
    }))
}

/// A recomputed identity.
struct Identity {
    id: ObjectId,
    /// Its mailbox path; `None` when its identity cannot be a path (it is never in a mailbox).
    path: Option<String>,
    old_resource: Option<String>,
    new_resource: Option<String>,
}

impl Identity {
    fn parse(text: &str) -> Option<Identity> {
        let id = ObjectId::parse(text)?;
        Some(Identity {
            path: mailbox::id_is_path_safe(&id).then(|| mailbox::object_path(&id)),
            id,
            old_resource: None,
            new_resource: None,
        })
    }

    fn entry(&self, resource: &str, version: &str) -> mailbox::ConfigEntry {
        mailbox::ConfigEntry {
            group: self.id.group.clone(),
            resource: resource.to_string(),
            version: version.to_string(),
            namespace: self.id.namespace.clone(),
            name: self.id.name.clone(),
        }
    }
}

/// The version part of a rendered object's `apiVersion` (`None` when it has none), read once per
/// blob: from `content` when given, else from the repository.
fn blob_version(
    repo: &Repository,
    versions: &mut HashMap<Oid, Option<String>>,
    oid: Oid,
    content: Option<&Arc<[u8]>>,
) -> Result<Option<String>, ReconcileError> {
    if let Some(v) = versions.get(&oid) {
        return Ok(v.clone());
    }
    let v = match content {
        Some(c) => api_version(c),
        None => {
            let blob = repo.find_blob(oid).map_err(|source| ReconcileError::Git {
                what: format!("reading blob {oid}"),
                source,
            })?;
            api_version(blob.content())
        }
    };
    let v = v.map(|v| v.rsplit('/').next().unwrap_or(&v).to_string());
    versions.insert(oid, v.clone());
    Ok(v)
}

/// The `apiVersion` of a rendered object.
fn api_version(yaml: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "apiVersion")]
        api_version: Option<String>,
    }
    let text = std::str::from_utf8(yaml).ok()?;
    gitstellar_core::yaml::from_str::<Head>(text)
        .ok()?
        .api_version
}

/// Whether a problem could hold something this commit touched (design §9.16): the full pass then
/// works out the holds. A problem the commit did not touch holds nothing new when the last pass
/// held nothing: its last good state is the one the last pass already had.
pub(super) fn may_hold(
    snapshot: &Snapshot,
    resolution: &Resolution,
    ids: &BTreeSet<String>,
    paths: &[String],
    object_problems: &[Problem],
) -> bool {
    let mut requests = crate::plan::hold::Requests::of(snapshot, resolution);
    requests.add_object_problems(object_problems);
    requests.layout.is_some()
        || !requests.inventory_files.is_empty()
        || requests.files.keys().any(|(_, file)| paths.contains(file))
        || requests
            .objects
            .keys()
            .any(|(_, id)| ids.contains(&id.to_string()))
}

/// Whether the commit touches something the last pass held: a file of a holding problem, or a
/// held identity.
pub(super) fn touches_holds(record: &PassRecord, ids: &BTreeSet<String>, paths: &[String]) -> bool {
    record.holdings.iter().any(|(problem, holding)| {
        paths.contains(&problem.file)
            || ids.contains(&problem.object)
            || holding.objects.iter().any(|o| ids.contains(&o.object))
    })
}

/// Keeps the recorded problems about objects that were not recomputed.
pub(super) fn kept_problems(record: &PassRecord, ids: &BTreeSet<String>) -> Vec<Problem> {
    record
        .object_problems
        .iter()
        .filter(|p| !ids.contains(&p.object))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;

    const EP: &str = "apiVersion: edge.kubestellar.io/v2alpha1\nkind: EdgePlacement\nmetadata: {name: ep}\nspec:\n  locationSelectors: [{matchLabels: {env: prod}}]\n  downsync: [{apiGroup: '', resources: [configmaps], namespaces: [app]}]\n";
    const CUSTOMIZER: &str = "apiVersion: edge.kubestellar.io/v2alpha1\nkind: Customizer\nmetadata: {name: c, namespace: app}\nreplacements:\n- {path: '$.data.x', value: '\"y\"'}\n";
    const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true}]\n";
    const INVENTORY: &str = "apiVersion: edge.kubestellar.io/v2alpha1\nkind: SyncTarget\nmetadata: {name: one, labels: {id: one}}\n";

    fn cm(ns: &str, name: &str) -> String {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\n")
    }

    fn namespace(name: &str) -> String {
        format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
    }

    fn snapshot() -> Snapshot {
        let files: Vec<(&str, String)> = vec![
            ("inventory/one.yaml", INVENTORY.into()),
            ("wds/w/ep.yaml", EP.into()),
            ("wds/w/customizer.yaml", CUSTOMIZER.into()),
            ("wds/w/crd.yaml", CRD.into()),
            ("wds/w/ns.yaml", namespace("app")),
            (
                "wds/w/both.yaml",
                format!("{}---\n{}", cm("app", "one"), cm("app", "two")),
            ),
            ("wds/w/dup-a.yaml", cm("app", "dup")),
            ("wds/w/dup-b.yaml", cm("app", "dup")),
            ("wds/w/ns-a.yaml", namespace("other")),
            ("wds/w/ns-b.yaml", namespace("other")),
        ];
        crate::model::load(
            &files
                .into_iter()
                .map(|(path, text)| SourceFile {
                    path: path.into(),
                    content: Ok(text.into_bytes()),
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn files_are_classified_by_what_they_hold() {
        let sources = Sources::of(&snapshot());
        let control: Vec<&str> = sources.control.iter().map(String::as_str).collect();
        assert_eq!(
            control,
            [
                "wds/w/crd.yaml",
                "wds/w/customizer.yaml",
                "wds/w/ep.yaml",
                "wds/w/ns-a.yaml",
                "wds/w/ns-b.yaml",
                "wds/w/ns.yaml"
            ]
        );
        let cm = |name: &str| {
            (
                format!("core/ConfigMap/app/{name}"),
                "configmaps".to_string(),
            )
        };
        assert_eq!(
            sources.objects["wds/w/both.yaml"],
            vec![cm("one"), cm("two")]
        );
        // A withheld duplicate is still that file's identity (without a resource).
        let dup = vec![("core/ConfigMap/app/dup".to_string(), String::new())];
        assert_eq!(sources.objects["wds/w/dup-a.yaml"], dup);
        assert_eq!(sources.objects["wds/w/dup-b.yaml"], dup);
        assert!(sources.in_inventory("inventory/one.yaml"));
        assert!(!sources.in_inventory("inventory-x/one.yaml"));
    }

    #[test]
    fn only_workload_object_files_are_incremental() {
        let snapshot = snapshot();
        let sources = Sources::of(&snapshot);
        let record = PassRecord::new(
            String::new(),
            String::new(),
            String::new(),
            (0, 0),
            &crate::plan::hold::Holds::default(),
            sources.clone(),
            Vec::new(),
        );
        let ids = affected(&record, &sources, &snapshot, &["wds/w/both.yaml".into()])
            .expect("incremental");
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(
            ids,
            [
                "apiextensions.k8s.io/CustomResourceDefinition/_cluster/widgets.example.com",
                "core/ConfigMap/app/one",
                "core/ConfigMap/app/two"
            ]
        );
        for path in [
            "wds/w/ep.yaml",
            "wds/w/customizer.yaml",
            "wds/w/ns-b.yaml",
            "inventory/new.yaml",
        ] {
            assert!(
                needs_full_pass(&record, &[path.into()])
                    || affected(&record, &sources, &snapshot, &[path.into()]).is_none(),
                "{path}"
            );
        }
        assert!(needs_full_pass(&record, &[CONFIG_FILE.into()]));
        // A space that came or went.
        let mut other = sources.clone();
        other.spaces.insert("workload wds/x".into());
        assert!(affected(&record, &other, &snapshot, &[]).is_none());
    }
}
