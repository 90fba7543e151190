//! Mailbox: KubeStellar's mailbox spaces (spec §7.1, §7.3) and their `SyncerConfig` (§7.4), as
//! git trees — one per WEC, on `refs/heads/gitstellar/mailbox/<wec>` (design §3).
//!
//! Input: a [`Plan`] (every WEC's customized objects with their resources, bare namespaces and
//! upsync rules). Output: per WEC, the files of its mailbox tree: `syncer-config.yaml`
//! (SyncerConfig `the-one`) and `objects/<group or core>/<kind>/<namespace or _cluster>/<name>.yaml`
//! for every object. A WEC with nothing placed gets an empty SyncerConfig and no objects. Pure: no
//! I/O.
//!
//! Objects identical across WECs are shared in the plan; they are rendered once here, and the
//! rendered bytes are shared too, so that the writer hashes and stores them once. An incremental
//! pass edits a rendered SyncerConfig instead of rendering it again ([`edit_syncer_config`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{
    ClusterScopeDownsyncResource, EDGE_API_VERSION, NamespaceAndNames, NamespaceScope,
    NamespacedObjects, ObjectId, Problem, SyncerConfigSpec, UpsyncSet,
};
use crate::plan::{Destination, PlacedObject, Plan};
use crate::tree::{Changes, Files, ref_name_fits, valid_component};

/// The prefix of every mailbox ref; the WEC's name follows.
pub const REF_PREFIX: &str = "refs/heads/gitstellar/mailbox/";

/// The SyncerConfig's file in a mailbox tree.
pub const SYNCER_CONFIG_FILE: &str = "syncer-config.yaml";

/// The name of the one SyncerConfig KubeStellar's translator maintains per mailbox.
pub const SYNCER_CONFIG_NAME: &str = "the-one";

/// The directory holding the objects in a mailbox tree.
pub const OBJECTS_DIR: &str = "objects";

/// Why a mailbox could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// Rendering YAML failed.
    #[error("rendering {what} as YAML: {message}")]
    Yaml {
        /// What was rendered.
        what: String,
        /// The serializer's reason.
        message: String,
    },
}

/// Every WEC's mailbox tree.
#[derive(Clone, Debug, Default)]
pub struct Mailboxes {
    /// WEC name → the files of its mailbox.
    pub wecs: BTreeMap<String, Files>,
    /// WECs and objects that cannot be written (a name that is not a valid ref or path component).
    pub problems: Vec<Problem>,
}

/// The ref of a WEC's mailbox.
pub fn ref_name(wec: &str) -> String {
    format!("{REF_PREFIX}{wec}")
}

/// The path of an object in a mailbox tree.
pub fn object_path(id: &ObjectId) -> String {
    format!("{OBJECTS_DIR}/{id}.yaml")
}

/// The whole `SyncerConfig` object, as written to `syncer-config.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncerConfig {
    /// `edge.kubestellar.io/v2alpha1`.
    pub api_version: String,
    /// `SyncerConfig`.
    pub kind: String,
    /// `{name: the-one}`.
    pub metadata: Value,
    /// What the WEC's syncer downsyncs and upsyncs.
    pub spec: SyncerConfigSpec,
}

/// What is known of one rendered object.
struct Rendered {
    yaml: Arc<[u8]>,
    /// The object's path in the mailbox; `None` when its identity cannot make a path.
    path: Option<Arc<str>>,
    resource: String,
    version: String,
    /// The same number for every object with the same (path, resource, version).
    config_id: u32,
}

/// What a SyncerConfig is computed from; equal keys give equal configs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ConfigKey {
    objects: Vec<u32>,
    namespaces: Vec<String>,
    upsync: Vec<UpsyncSet>,
}

/// Renders every WEC's mailbox.
pub fn build(plan: &Plan) -> Result<Mailboxes, MailboxError> {
    let mut out = Mailboxes::default();
    // Rendered objects by the address of their (shared) value.
    let t0 = std::time::Instant::now();
    let rendered = render_all(plan)?;
    tracing::debug!(elapsed = ?t0.elapsed(), objects = rendered.len(), "rendered the distinct objects");
    // SyncerConfigs by a digest of what they are computed from: WECs that get the same objects
    // (customized or not) and rules share one rendering and one blob.
    let mut configs: HashMap<ConfigKey, Arc<[u8]>> = HashMap::new();
    let config_path: Arc<str> = Arc::from(SYNCER_CONFIG_FILE);
    let mut bad_paths: BTreeSet<(String, String)> = BTreeSet::new();
    for (wec, dest) in &plan.destinations {
        if !valid_wec_name(wec) {
            out.problems.push(Problem::new(
                "",
                "",
                format!("edge.kubestellar.io/SyncTarget/_cluster/{wec}"),
                format!(
                    "WEC name {wec:?} cannot name a git ref ({REF_PREFIX}{wec}); its mailbox is not written"
                ),
            ));
            continue;
        }
        let mut entries: Vec<(Arc<str>, Arc<[u8]>)> = Vec::with_capacity(dest.objects.len() + 1);
        let mut objects: Vec<(&ObjectId, &str, &str)> = Vec::with_capacity(dest.objects.len());
        // What the SyncerConfig is computed from: the objects' (path, resource, version), interned.
        let mut config_key = ConfigKey {
            objects: Vec::with_capacity(dest.objects.len()),
            namespaces: dest.namespaces.clone(),
            upsync: dest.upsync.clone(),
        };
        for placed in &dest.objects {
            let key = Arc::as_ptr(&placed.object) as usize;
            let Some(r) = rendered.get(&key) else {
                continue;
            };
            let Some(path) = &r.path else {
                bad_paths.insert((placed.wds.to_string(), placed.id.to_string()));
                continue;
            };
            entries.push((path.clone(), r.yaml.clone()));
            objects.push((&placed.id, &r.resource, &r.version));
            config_key.objects.push(r.config_id);
        }
        let config = match configs.get(&config_key) {
            Some(bytes) => bytes.clone(),
            None => {
                let config = syncer_config(&objects, dest);
                let yaml = to_yaml(&config, &format!("the SyncerConfig of {wec}"))?;
                let bytes: Arc<[u8]> = Arc::from(yaml.into_bytes());
                configs.insert(config_key, bytes.clone());
                bytes
            }
        };
        entries.push((config_path.clone(), config));
        // Mostly sorted already (the plan sorts by identity): sorting, then building the map in
        // bulk, is cheaper than inserting one by one.
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.wecs.insert(wec.clone(), entries.into_iter().collect());
    }
    for (wds, id) in bad_paths {
        out.problems.push(Problem::new(
            wds,
            "",
            id,
            "a part of this object's identity cannot be a file name in git (empty, `.`, `..`, `.git`, or containing `/` or `\\`); it is not written to any mailbox",
        ));
    }
    Ok(out)
}

/// Renders every distinct object of the plan once (objects shared across WECs are one value in
/// the plan), on every core. Keyed by the address of the shared value.
fn render_all(plan: &Plan) -> Result<HashMap<usize, Rendered>, MailboxError> {
    let mut seen: HashSet<usize> = HashSet::new();
    let mut distinct: Vec<&PlacedObject> = Vec::new();
    for dest in plan.destinations.values() {
        for placed in &dest.objects {
            if seen.insert(Arc::as_ptr(&placed.object) as usize) {
                distinct.push(placed);
            }
        }
    }
    type Part = Result<Vec<(usize, Rendered)>, MailboxError>;
    let parts: Vec<Part> = crate::par::map_chunks(&distinct, |part| {
        part.iter()
            .map(|p| {
                let key = Arc::as_ptr(&p.object) as usize;
                match p.held.file() {
                    // A held entry stays exactly as the last good pass wrote it.
                    Some(file) => Ok((key, held_rendering(file, p))),
                    None => render_object(&p.object, &p.id, &p.resource, &p.wds).map(|r| (key, r)),
                }
            })
            .collect::<Part>()
    });
    let mut rendered = HashMap::with_capacity(distinct.len());
    let mut ids: HashMap<(Option<Arc<str>>, String, String), u32> = HashMap::new();
    for part in parts {
        for (key, mut r) in part? {
            let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
            r.config_id = *ids
                .entry((r.path.clone(), r.resource.clone(), r.version.clone()))
                .or_insert(next);
            rendered.insert(key, r);
        }
    }
    Ok(rendered)
}

/// Whether `refs/heads/gitstellar/mailbox/<wec>` is a valid ref with `<wec>` one component.
pub fn valid_wec_name(wec: &str) -> bool {
    valid_component(wec)
        && !wec.contains('/')
        && crate::model::validate::ref_component(wec).is_ok()
        && ref_name_fits(&ref_name(wec))
}

/// Whether every part of an identity can be a file name in a git tree.
pub fn id_is_path_safe(id: &ObjectId) -> bool {
    [
        id.group_dir(),
        id.kind.as_str(),
        id.namespace_dir(),
        &format!("{}.yaml", id.name),
    ]
    .iter()
    .all(|c| valid_component(c))
        && valid_component(&id.name)
}

/// One object's mailbox file. It carries `gitstellar.io/origin` (its WDS and identity: the same in
/// every mailbox, so the file is still shared), which a pull-mode agent needs to mark what it
/// applies; the instance label is added only when applying.
fn render_object(
    value: &Value,
    id: &ObjectId,
    resource: &str,
    wds: &str,
) -> Result<Rendered, MailboxError> {
    let mut value = value.clone();
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(
                crate::marks::ORIGIN.into(),
                Value::from(crate::marks::origin_of(wds, id)),
            );
        }
    }
    let yaml = to_yaml(&value, &id.to_string())?;
    let resource = resource.to_string();
    let version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|v| crate::model::split_api_version(v).1.to_string())
        .unwrap_or_default();
    Ok(Rendered {
        yaml: Arc::from(yaml.into_bytes()),
        path: id_is_path_safe(id).then(|| Arc::from(object_path(id))),
        resource,
        version,
        config_id: 0,
    })
}

/// A held entry's rendering: its last good file, unchanged.
fn held_rendering(file: &Arc<[u8]>, placed: &PlacedObject) -> Rendered {
    let version = placed
        .object
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|v| crate::model::split_api_version(v).1.to_string())
        .unwrap_or_default();
    Rendered {
        yaml: file.clone(),
        path: id_is_path_safe(&placed.id).then(|| Arc::from(object_path(&placed.id))),
        resource: placed.resource.to_string(),
        version,
        config_id: 0,
    }
}

/// KubeStellar's `SyncerConfig` for one WEC, computed from what its mailbox holds: namespaced
/// objects grouped by (group, resource, version) then namespace; cluster-scoped objects with
/// explicit lists, the bare namespaces among the Namespaces (so that the syncer creates them); the
/// upsync rules. Everything sorted.
pub fn syncer_config(objects: &[(&ObjectId, &str, &str)], dest: &Destination) -> SyncerConfig {
    let mut lists = ConfigLists::default();
    for (id, resource, version) in objects {
        lists.insert(ConfigEntry {
            group: id.group.clone(),
            resource: resource.to_string(),
            version: version.to_string(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
        });
    }
    for ns in &dest.namespaces {
        lists.insert(namespace_entry(ns));
    }
    lists.into_config(NamespaceScope::default(), sorted_upsync(dest))
}

/// One object as a SyncerConfig lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigEntry {
    /// API group, `""` for the core group.
    pub group: String,
    /// Lowercase plural resource.
    pub resource: String,
    /// The version part of `apiVersion`.
    pub version: String,
    /// Namespace; `None` when cluster-scoped.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

/// The entry that makes the syncer create a (bare) namespace.
fn namespace_entry(ns: &str) -> ConfigEntry {
    ConfigEntry {
        group: String::new(),
        resource: "namespaces".into(),
        version: "v1".into(),
        namespace: None,
        name: ns.to_string(),
    }
}

/// What changes in one WEC's SyncerConfig when some of its objects come, go or change version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfigEdit {
    /// Objects that left, or are listed again in `added` with another version (matched by group,
    /// resource, namespace and name).
    pub removed: Vec<ConfigEntry>,
    /// Objects that came.
    pub added: Vec<ConfigEntry>,
    /// Namespaces whose bare-namespace entry must be decided again (those of the objects above),
    /// each with whether the mailbox holds the Namespace object itself.
    pub namespaces: Vec<(String, bool)>,
}

/// A SyncerConfig's object lists as sorted maps: the form it is built and edited in.
#[derive(Clone, Debug, Default, PartialEq)]
struct ConfigLists {
    namespaced: BTreeMap<(String, String, String), BTreeMap<String, BTreeSet<String>>>,
    cluster: BTreeMap<(String, String, String), BTreeSet<String>>,
}

impl ConfigLists {
    fn insert(&mut self, e: ConfigEntry) {
        let key = (e.group, e.resource, e.version);
        match e.namespace {
            Some(ns) => {
                self.namespaced
                    .entry(key)
                    .or_default()
                    .entry(ns)
                    .or_default()
                    .insert(e.name);
            }
            None => {
                self.cluster.entry(key).or_default().insert(e.name);
            }
        }
    }

    /// Removes the object whatever its version.
    fn remove(&mut self, e: &ConfigEntry) {
        let matches = |k: &(String, String, String)| k.0 == e.group && k.1 == e.resource;
        match &e.namespace {
            Some(ns) => {
                for (_, by_ns) in self.namespaced.iter_mut().filter(|(k, _)| matches(k)) {
                    if let Some(names) = by_ns.get_mut(ns) {
                        names.remove(&e.name);
                        if names.is_empty() {
                            by_ns.remove(ns);
                        }
                    }
                }
                self.namespaced.retain(|_, by_ns| !by_ns.is_empty());
            }
            None => {
                for (_, names) in self.cluster.iter_mut().filter(|(k, _)| matches(k)) {
                    names.remove(&e.name);
                }
                self.cluster.retain(|_, names| !names.is_empty());
            }
        }
    }

    fn from_spec(spec: &SyncerConfigSpec) -> ConfigLists {
        let mut lists = ConfigLists::default();
        for n in &spec.namespaced_objects {
            for by_ns in &n.objects_by_namespace {
                for name in &by_ns.names {
                    lists.insert(ConfigEntry {
                        group: n.group.clone(),
                        resource: n.resource.clone(),
                        version: n.api_version.clone(),
                        namespace: Some(by_ns.namespace.clone()),
                        name: name.clone(),
                    });
                }
            }
        }
        for c in &spec.cluster_scope {
            for name in &c.objects {
                lists.insert(ConfigEntry {
                    group: c.group.clone(),
                    resource: c.resource.clone(),
                    version: c.api_version.clone(),
                    namespace: None,
                    name: name.clone(),
                });
            }
        }
        lists
    }

    fn into_config(self, namespace_scope: NamespaceScope, upsync: Vec<UpsyncSet>) -> SyncerConfig {
        let spec = SyncerConfigSpec {
            namespace_scope,
            namespaced_objects: self
                .namespaced
                .into_iter()
                .map(
                    |((group, resource, api_version), by_ns)| NamespacedObjects {
                        group,
                        resource,
                        api_version,
                        objects_by_namespace: by_ns
                            .into_iter()
                            .map(|(namespace, names)| NamespaceAndNames {
                                namespace,
                                names: names.into_iter().collect(),
                            })
                            .collect(),
                    },
                )
                .collect(),
            cluster_scope: self
                .cluster
                .into_iter()
                .map(
                    |((group, resource, api_version), names)| ClusterScopeDownsyncResource {
                        group,
                        resource,
                        api_version,
                        objects: names.into_iter().collect(),
                    },
                )
                .collect(),
            upsync,
        };
        SyncerConfig {
            api_version: EDGE_API_VERSION.into(),
            kind: "SyncerConfig".into(),
            metadata: serde_json::json!({ "name": SYNCER_CONFIG_NAME }),
            spec,
        }
    }
}

/// Applies `edit` to a rendered SyncerConfig (`syncer-config.yaml` as [`build`] wrote it) and
/// renders the result: the same bytes [`build`] writes for the WEC's new objects.
pub fn edit_syncer_config(old: &[u8], edit: &ConfigEdit) -> Result<Arc<[u8]>, MailboxError> {
    let bad = |message: String| MailboxError::Yaml {
        what: SYNCER_CONFIG_FILE.into(),
        message,
    };
    let text = std::str::from_utf8(old).map_err(|e| bad(e.to_string()))?;
    let config: SyncerConfig = crate::yaml::from_str(text).map_err(|e| bad(e.to_string()))?;
    let mut lists = ConfigLists::from_spec(&config.spec);
    for e in &edit.removed {
        lists.remove(e);
    }
    for e in &edit.added {
        lists.insert(e.clone());
    }
    for (ns, explicit) in &edit.namespaces {
        let used = lists
            .namespaced
            .values()
            .any(|by_ns| by_ns.get(ns).is_some_and(|names| !names.is_empty()));
        let entry = namespace_entry(ns);
        if *explicit || used {
            lists.insert(entry);
        } else {
            lists.remove(&entry);
        }
    }
    let config = lists.into_config(config.spec.namespace_scope, config.spec.upsync);
    let yaml = to_yaml(&config, "the edited SyncerConfig")?;
    Ok(Arc::from(yaml.into_bytes()))
}

/// The subject of a mailbox commit: `florin: 3 objects added, 1 changed, 1 removed`, plus whether
/// the SyncerConfig changed.
pub fn commit_subject(wec: &str, changes: &Changes) -> String {
    let mut parts: Vec<String> = changes
        .count_under(OBJECTS_DIR, ("object", "objects"))
        .into_iter()
        .collect();
    let config = SYNCER_CONFIG_FILE.to_string();
    if changes.added.contains(&config) {
        parts.push("SyncerConfig created".into());
    } else if changes.changed.contains(&config) {
        parts.push("SyncerConfig updated".into());
    }
    if parts.is_empty() {
        parts.push("mailbox updated".into());
    }
    format!("{wec}: {}", parts.join("; "))
}

/// The destination's upsync rules, each rule's lists sorted and de-duplicated, then the rules.
fn sorted_upsync(dest: &Destination) -> Vec<UpsyncSet> {
    let mut rules: Vec<UpsyncSet> = dest
        .upsync
        .iter()
        .map(|u| {
            let mut u = u.clone();
            for list in [&mut u.resources, &mut u.namespaces, &mut u.names] {
                list.sort();
                list.dedup();
            }
            u
        })
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

fn to_yaml(value: &impl Serialize, what: &str) -> Result<String, MailboxError> {
    crate::yaml::to_string(value).map_err(|e| MailboxError::Yaml {
        what: what.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(group: &str, kind: &str, ns: Option<&str>, name: &str, value: Value) -> PlacedObject {
        PlacedObject {
            wds: "w".into(),
            also_from: vec![],
            placements: vec!["ep".to_string()].into(),
            create_only: false,
            want_singleton_reported_state: false,
            id: Arc::new(ObjectId::new(group, kind, ns, name)),
            resource: format!("{}s", kind.to_lowercase()).into(),
            object: Arc::new(value),
            held: Default::default(),
        }
    }

    #[test]
    fn shared_objects_render_once_and_config_lists_bare_namespaces() {
        let shared = placed(
            "apps",
            "Deployment",
            Some("a"),
            "d",
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "a"}}),
        );
        let mut plan = Plan {
            revision: None,
            placements: vec![],
            destinations: BTreeMap::new(),
            problems: vec![],
        };
        for wec in ["one", "two"] {
            plan.destinations.insert(
                wec.into(),
                Destination {
                    objects: vec![shared.clone()],
                    namespaces: vec!["a".into()],
                    upsync: vec![],
                },
            );
        }
        plan.destinations
            .insert("empty".into(), Destination::default());
        let boxes = build(&plan).expect("renders");
        let one = &boxes.wecs["one"];
        let two = &boxes.wecs["two"];
        let path = "objects/apps/Deployment/a/d.yaml";
        assert!(Arc::ptr_eq(&one[path], &two[path]));
        assert!(Arc::ptr_eq(
            &one[SYNCER_CONFIG_FILE],
            &two[SYNCER_CONFIG_FILE]
        ));
        let config = String::from_utf8_lossy(&one[SYNCER_CONFIG_FILE]).into_owned();
        assert!(config.contains("name: the-one"), "{config}");
        assert!(config.contains("resource: deployments"), "{config}");
        assert!(config.contains("resource: namespaces"), "{config}");
        assert_eq!(boxes.wecs["empty"].len(), 1);
    }

    /// An object of the property test's universe: (group, kind, resource, namespace, name).
    type Thing = (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    );

    fn universe() -> Vec<Thing> {
        let mut out = Vec::new();
        for ns in ["a", "b"] {
            for name in ["n1", "n2"] {
                out.push(("", "ConfigMap", "configmaps", Some(ns), name));
                out.push(("apps", "Deployment", "deployments", Some(ns), name));
            }
        }
        for name in ["n1", "n2"] {
            out.push((
                "rbac.authorization.k8s.io",
                "ClusterRole",
                "clusterroles",
                None,
                name,
            ));
        }
        out
    }

    /// The SyncerConfig [`build`] writes for these objects (each with its version), these
    /// Namespace objects and these upsync rules.
    fn rendered(objects: &[(Thing, &str)], explicit: &[&str], upsync: &[UpsyncSet]) -> Vec<u8> {
        let ids: Vec<(ObjectId, &str, &str)> = objects
            .iter()
            .map(|((g, k, r, ns, n), v)| {
                let id = ObjectId::new(g, k, *ns, n);
                (id, *r, *v)
            })
            .chain(explicit.iter().map(|ns| {
                let id = ObjectId::new("", "Namespace", None, ns);
                (id, "namespaces", "v1")
            }))
            .collect();
        let refs: Vec<(&ObjectId, &str, &str)> = ids.iter().map(|(i, r, v)| (i, *r, *v)).collect();
        let bare: BTreeSet<String> = objects
            .iter()
            .filter_map(|((_, _, _, ns, _), _)| *ns)
            .filter(|ns| !explicit.contains(ns))
            .map(str::to_string)
            .collect();
        let dest = Destination {
            objects: vec![],
            namespaces: bare.into_iter().collect(),
            upsync: upsync.to_vec(),
        };
        to_yaml(&syncer_config(&refs, &dest), "test")
            .expect("yaml")
            .into_bytes()
    }

    fn entry(t: &Thing, version: &str) -> ConfigEntry {
        ConfigEntry {
            group: t.0.into(),
            resource: t.2.into(),
            version: version.into(),
            namespace: t.3.map(str::to_string),
            name: t.4.into(),
        }
    }

    proptest::proptest! {
        /// Editing the SyncerConfig of one set of objects into another's gives the bytes that
        /// rendering the other set gives.
        #[test]
        fn edited_configs_equal_built_configs(
            before in proptest::collection::vec(proptest::option::of(proptest::bool::ANY), 10),
            after in proptest::collection::vec(proptest::option::of(proptest::bool::ANY), 10),
            explicit in proptest::collection::vec(proptest::bool::ANY, 3),
        ) {
            let things = universe();
            let version = |b: bool| if b { "v1" } else { "v1beta1" };
            let pick = |choice: &[Option<bool>]| -> Vec<(Thing, &str)> {
                things
                    .iter()
                    .zip(choice)
                    .filter_map(|(t, c)| c.map(|b| (*t, version(b))))
                    .collect()
            };
            let (a, b) = (pick(&before), pick(&after));
            let explicit: Vec<&str> = ["a", "b", "c"]
                .iter()
                .zip(&explicit)
                .filter(|(_, e)| **e)
                .map(|(n, _)| *n)
                .collect();
            let upsync = vec![UpsyncSet {
                api_group: String::new(),
                resources: vec!["configmaps".into()],
                namespaces: vec!["a".into()],
                names: vec!["*".into()],
            }];
            let mut edit = ConfigEdit::default();
            let mut namespaces = BTreeSet::new();
            for (i, t) in things.iter().enumerate() {
                let (old, new) = (before[i], after[i]);
                if old == new {
                    continue;
                }
                // Removals match whatever the version (the caller may not know it).
                if old.is_some() {
                    edit.removed.push(entry(t, ""));
                }
                if let Some(v) = new {
                    edit.added.push(entry(t, version(v)));
                }
                if let Some(ns) = t.3 {
                    namespaces.insert(ns);
                }
            }
            edit.namespaces = namespaces
                .into_iter()
                .map(|ns| (ns.to_string(), explicit.contains(&ns)))
                .collect();
            let edited = edit_syncer_config(&rendered(&a, &explicit, &upsync), &edit)
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let built = rendered(&b, &explicit, &upsync);
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&edited),
                String::from_utf8_lossy(&built)
            );
        }
    }

    #[test]
    fn subjects_count_objects() {
        let changes = Changes {
            added: vec![
                "objects/core/ConfigMap/a/b.yaml".into(),
                "objects/core/ConfigMap/a/c.yaml".into(),
            ],
            changed: vec!["syncer-config.yaml".into()],
            removed: vec!["objects/apps/Deployment/a/d.yaml".into()],
        };
        assert_eq!(
            commit_subject("florin", &changes),
            "florin: 2 objects added, 1 removed; SyncerConfig updated"
        );
    }

    #[test]
    fn bad_wec_names_are_problems() {
        assert!(valid_wec_name("florin"));
        assert!(!valid_wec_name("a..b"));
        assert!(!valid_wec_name("a/b"));
        assert!(!valid_wec_name("x.lock"));
    }
}
