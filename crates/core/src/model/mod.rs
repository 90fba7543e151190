//! The model: KubeStellar's API objects as gitstellar reads them from git, and the in-memory
//! [`Snapshot`] of one revision's spaces.
//!
//! Inputs: the files of a revision (read by the root crate's `repo`). Output: a [`Snapshot`] holding, per
//! inventory space (IS), its Locations and SyncTargets and, per workload description space (WDS),
//! its workload objects (generic JSON), EdgePlacements and Customizers, plus every [`Problem`] found.
//! Pure: no I/O.

mod kubestellar;
pub mod load;
mod problem;
pub mod resources;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;

pub use kubestellar::*;
pub use load::{RepoConfig, ResourceMapping, SourceFile, load};
pub use problem::Problem;
pub use resources::{ResourceInfo, ResourceTable};

/// An `apiVersion` split into its group (`None` for the core group, written without one) and its
/// version: `apps/v1` is `(Some("apps"), "v1")`, `v1` is `(None, "v1")`. The version is what
/// follows the last `/`, the group all before it; the loader has already refused any other form
/// for the objects it keeps.
pub fn split_api_version(api_version: &str) -> (Option<&str>, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (Some(group), version),
        None => (None, api_version),
    }
}

/// The identity of an object within a space: (group, kind, namespace, name).
///
/// Ordered by group, kind, namespace, name, which is the order of every list gitstellar prints.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectId {
    /// API group; `""` for the core group.
    pub group: String,
    /// Kind, as written (`ConfigMap`).
    pub kind: String,
    /// Namespace; `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectId {
    /// An identity from its parts (`""` for the core group, `None` for cluster-scoped).
    pub fn new(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectId {
        ObjectId {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    /// Reads back what [`ObjectId`]'s `Display` writes (`group/Kind/namespace/name`, with `core`
    /// and `_cluster`); `None` when a part is missing, or the kind or name is empty.
    pub fn parse(text: &str) -> Option<ObjectId> {
        let mut parts = text.splitn(4, '/');
        let (group, kind, namespace, name) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let group = if group == "core" { "" } else { group };
        let namespace = (namespace != "_cluster").then_some(namespace);
        Some(ObjectId::new(group, kind, namespace, name))
    }

    /// The group as a path component: `core` for the core group.
    pub fn group_dir(&self) -> &str {
        if self.group.is_empty() {
            "core"
        } else {
            &self.group
        }
    }

    /// The namespace as a path component: `_cluster` for a cluster-scoped object.
    pub fn namespace_dir(&self) -> &str {
        self.namespace.as_deref().unwrap_or("_cluster")
    }

    /// The namespace, `""` for a cluster-scoped object (as KubeStellar's tests see it).
    pub fn namespace_or_empty(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

/// `group/Kind/namespace/name`, with `core` and `_cluster` standing in for empty parts: the same
/// path as the object's file in a mailbox.
impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.group_dir(),
            self.kind,
            self.namespace_dir(),
            self.name
        )
    }
}

/// The parts of `metadata` that gitstellar interprets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; `None` when absent or cluster-scoped.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `metadata.uid`, when the manifest gives one.
    pub uid: Option<String>,
}

impl ObjectMeta {
    /// Whether annotation `key` has exactly `value`.
    pub fn annotated(&self, key: &str, value: &str) -> bool {
        self.annotations.get(key).is_some_and(|v| v == value)
    }
}

/// A workload object of a WDS (anything that is not a KubeStellar control object).
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// Identity within the WDS.
    pub id: ObjectId,
    /// The version part of `apiVersion` (the WDS's "preferred version" of the object).
    pub version: String,
    /// Lowercase plural resource name (`configmaps`), from the resource table.
    pub resource: String,
    /// File the object came from, relative to the layout root.
    pub file: String,
    /// The 1-based line in `file` where its document starts (`0` when unknown).
    pub line: u32,
    /// Interpreted metadata.
    pub meta: ObjectMeta,
    /// The whole object as written (shared: most destinations get it unchanged).
    pub value: Arc<Value>,
}

impl Object {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        api_version(&self.id.group, &self.version)
    }
}

/// Joins group and version as `apiVersion` is written.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// An `EdgePlacement` of a WDS.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgePlacement {
    /// Name (EdgePlacements are cluster-scoped).
    pub meta: ObjectMeta,
    /// The spec.
    pub spec: EdgePlacementSpec,
    /// Source file.
    pub file: String,
    /// The 1-based line in `file` where its document starts (`0` when unknown).
    pub line: u32,
}

/// A `Location` of an inventory space.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    /// Name, labels (what `locationSelectors` test), annotations (parameters).
    pub meta: ObjectMeta,
    /// The spec (`instanceSelector` pairs it with SyncTargets).
    pub spec: LocationSpec,
    /// Source file.
    pub file: String,
    /// The 1-based line in `file` where its document starts (`0` when unknown).
    pub line: u32,
}

/// A `SyncTarget` of an inventory space: one WEC.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncTarget {
    /// Name (the WEC's name), labels (matched by `instanceSelector`), uid.
    pub meta: ObjectMeta,
    /// The spec (unused by placement).
    pub spec: SyncTargetSpec,
    /// Source file.
    pub file: String,
    /// The 1-based line in `file` where its document starts (`0` when unknown).
    pub line: u32,
}

/// An inventory space (IS): Location and SyncTarget pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InventorySpace {
    /// The space's name (its directory's last component).
    pub name: String,
    /// Its directory, relative to the layout root.
    pub dir: String,
    /// Locations, sorted by name.
    pub locations: Vec<Location>,
    /// SyncTargets, sorted by name.
    pub sync_targets: Vec<SyncTarget>,
}

/// A workload description space (WDS).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkloadSpace {
    /// The space's name (its directory's last component).
    pub name: String,
    /// Its directory, relative to the layout root.
    pub dir: String,
    /// Workload objects, sorted by [`ObjectId`], without duplicates.
    pub objects: Vec<Object>,
    /// EdgePlacements, sorted by name.
    pub edge_placements: Vec<EdgePlacement>,
    /// Customizers by (namespace, name).
    pub customizers: BTreeMap<(String, String), Arc<Customizer>>,
}

impl WorkloadSpace {
    /// The object with this identity, if the WDS has it.
    pub fn object(&self, id: &ObjectId) -> Option<&Object> {
        self.objects
            .binary_search_by(|o| o.id.cmp(id))
            .ok()
            .map(|i| &self.objects[i])
    }
}

/// One revision's spaces, fully parsed: the input of every pure stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The commit id, when read from git.
    pub revision: Option<String>,
    /// Inventory spaces, sorted by name.
    pub inventories: Vec<InventorySpace>,
    /// Workload description spaces, sorted by name.
    pub workloads: Vec<WorkloadSpace>,
    /// Kind ↔ resource mapping used for this revision.
    pub resources: ResourceTable,
    /// Everything wrong with the input.
    pub problems: Vec<Problem>,
}

impl Snapshot {
    /// Gives every problem that names an object of this snapshot, in the file it came from, the
    /// line where that object's document starts (problems with a line keep it). Later stages
    /// (placement, customization) report problems by space, file and object; this adds where.
    pub fn locate(&self, problems: &mut [Problem]) {
        for problem in problems.iter_mut().filter(|p| p.line.is_none()) {
            let line = self.line_of(&problem.space, &problem.file, &problem.object);
            if line > 0 {
                problem.line = Some(line);
            }
        }
    }

    /// The line of the object `object` (as `group/Kind/namespace/name`) of space `space` read from
    /// `file`; `0` when there is no such object.
    fn line_of(&self, space: &str, file: &str, object: &str) -> u32 {
        let Some(id) = ObjectId::parse(object) else {
            return 0;
        };
        let in_file = |f: &str, line: u32| if f == file { line } else { 0 };
        if let Ok(i) = self
            .workloads
            .binary_search_by(|w| w.name.as_str().cmp(space))
        {
            let wds = &self.workloads[i];
            if id.group == EDGE_GROUP && id.kind == "EdgePlacement" {
                return wds
                    .edge_placements
                    .binary_search_by(|ep| ep.meta.name.cmp(&id.name))
                    .map_or(0, |j| {
                        let ep = &wds.edge_placements[j];
                        in_file(&ep.file, ep.line)
                    });
            }
            if id.group == EDGE_GROUP && id.kind == "Customizer" {
                let key = (id.namespace_or_empty().to_string(), id.name.clone());
                return wds
                    .customizers
                    .get(&key)
                    .map_or(0, |c| in_file(&c.file, c.line));
            }
            return wds.object(&id).map_or(0, |o| in_file(&o.file, o.line));
        }
        if let Ok(i) = self
            .inventories
            .binary_search_by(|s| s.name.as_str().cmp(space))
        {
            let inventory = &self.inventories[i];
            let found = match id.kind.as_str() {
                "Location" => inventory
                    .locations
                    .binary_search_by(|l| l.meta.name.cmp(&id.name))
                    .ok()
                    .map(|j| (&inventory.locations[j].file, inventory.locations[j].line)),
                "SyncTarget" => inventory
                    .sync_targets
                    .binary_search_by(|t| t.meta.name.cmp(&id.name))
                    .ok()
                    .map(|j| {
                        (
                            &inventory.sync_targets[j].file,
                            inventory.sync_targets[j].line,
                        )
                    }),
                _ => None,
            };
            return found.map_or(0, |(f, line)| in_file(f, line));
        }
        0
    }
}

/// A UUID (RFC 9562 version 8) derived with sha256 from a kind, a space directory and a name:
/// stable across revisions, distinct across spaces.
pub fn derived_uid(kind: &str, space_dir: &str, name: &str) -> String {
    let digest =
        sha2::Sha256::digest(format!("gitstellar.io/{kind}\0{space_dir}\0{name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::{derived_uid, split_api_version};
    use proptest::prelude::*;

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(split_api_version("apps/v1"), (Some("apps"), "v1"));
        assert_eq!(split_api_version("v1"), (None, "v1"));
        assert_eq!(
            split_api_version("edge.kubestellar.io/v2alpha1"),
            (Some("edge.kubestellar.io"), "v2alpha1")
        );
        assert_eq!(split_api_version(""), (None, ""));
        assert_eq!(split_api_version("a/b/c"), (Some("a/b"), "c"));
    }

    proptest! {
        #[test]
        fn split_api_version_round_trips(group in "[a-z.]{0,12}", version in "[a-z0-9]{0,8}") {
            let api = format!("{group}/{version}");
            prop_assert_eq!(split_api_version(&api), (Some(group.as_str()), version.as_str()));
            prop_assert_eq!(split_api_version(&version), (None, version.as_str()));
        }
    }

    #[test]
    fn derived_uids_are_stable_uuids_distinct_per_kind_space_and_name() {
        let a = derived_uid("edgeplacement", "wds/a", "ep");
        assert_eq!(a, derived_uid("edgeplacement", "wds/a", "ep"));
        assert_ne!(a, derived_uid("edgeplacement", "wds/b", "ep"));
        assert_ne!(a, derived_uid("synctarget", "wds/a", "ep"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8", "an RFC 9562 version-8 UUID");
    }
}
