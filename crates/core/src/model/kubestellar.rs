//! KubeStellar's control objects (`edge.kubestellar.io/v2alpha1`), field for field as KubeStellar's YAML.
//!
//! Lists that Go decodes from `null` as empty are read the same way here ([`nullable`]), and the
//! spec structs reject unknown fields so that a typo (`locationSelector`) is a problem, not a
//! silent "select nothing".

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The API group of every KubeStellar control object.
pub const EDGE_GROUP: &str = "edge.kubestellar.io";
/// The API version gitstellar reads (KubeStellar v0.8 through v0.15).
pub const EDGE_VERSION: &str = "v2alpha1";
/// `edge.kubestellar.io/v2alpha1`.
pub const EDGE_API_VERSION: &str = "edge.kubestellar.io/v2alpha1";
/// gitstellar's own API group (RepoConfig, ...), never downsynced.
pub const GITSTELLAR_GROUP: &str = "gitstellar.io";

/// Annotation that opts an object (or a Customizer) into `%(name)` parameter expansion.
pub const EXPAND_PARAMETERS: &str = "edge.kubestellar.io/expand-parameters";
/// Annotation naming the Customizer of an object.
pub const CUSTOMIZER: &str = "edge.kubestellar.io/customizer";
/// Annotation whose value `"false"` makes an object create-only.
pub const DOWNSYNC_OVERWRITE: &str = "edge.kubestellar.io/downsync-overwrite";
/// Annotation KubeStellar keeps on a WDS object: how many WECs run it.
pub const EXECUTING_COUNT: &str = "kubestellar.io/executing-count";
/// Label KubeStellar puts on every mailbox copy.
pub const PROJECTED: &str = "edge.kubestellar.io/projected";

/// Deserializes `null` (or an absent field, with `#[serde(default)]`) as the type's default, as Go's
/// JSON decoder does for slices and maps.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A Kubernetes `metav1.LabelSelector`. Operators are kept as text so that a bad operator is a
/// problem for the one selector (see [`crate::placement::selector`]), not a parse error of the object.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Each pair means `key In (value)`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// ANDed with `matchLabels`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Required non-empty for `In`/`NotIn`, empty for `Exists`/`DoesNotExist`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
}

/// `EdgePlacement.spec`: where (Locations) × what (WDS objects), plus upsync rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EdgePlacementSpec {
    /// A Location is selected iff its labels match any of these; empty selects none.
    #[serde(default, deserialize_with = "nullable")]
    pub location_selectors: Vec<LabelSelector>,
    /// An object is selected iff it passes any of these tests; empty selects nothing.
    #[serde(default, deserialize_with = "nullable")]
    pub downsync: Vec<DownsyncObjectTest>,
    /// Asks for the reported state of a single destination to be returned to the WDS object.
    #[serde(default, deserialize_with = "nullable")]
    pub want_singleton_reported_state: bool,
    /// Objects in the WECs to return to the status branch.
    #[serde(default, deserialize_with = "nullable")]
    pub upsync: Vec<UpsyncSet>,
}

/// `EdgePlacement.status` (gitstellar writes it to the status branch, never to the source).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgePlacementStatus {
    /// Generation described; 0 means no status yet.
    #[serde(default)]
    pub spec_generation: i32,
    /// Number of Locations matching `locationSelectors`.
    #[serde(default)]
    pub matching_location_count: i32,
}

/// One test of an EdgePlacement's *what*: an AND of its criteria; an empty criterion passes all.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownsyncObjectTest {
    /// `None` (omitted) matches every group; `""` is the core group; `"*"` is not a wildcard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// Lowercase plural resource names, or `"*"`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<String>,
    /// Namespace names, or `"*"` (the only way a non-empty list matches a cluster-scoped object).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub namespaces: Vec<String>,
    /// Tested against the labels of the object's Namespace.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Object names, or `"*"`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub object_names: Vec<String>,
    /// Tested against the object's labels.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub label_selectors: Vec<LabelSelector>,
}

/// One upsync rule; unlike [`DownsyncObjectTest`], an empty list here matches nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpsyncSet {
    /// Exact group; `""` is the core group.
    #[serde(default, deserialize_with = "nullable")]
    pub api_group: String,
    /// Lowercase plural resource names, or `"*"`.
    #[serde(default, deserialize_with = "nullable")]
    pub resources: Vec<String>,
    /// Namespaces (for namespaced resources), or `"*"`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub namespaces: Vec<String>,
    /// Object names, or `"*"`.
    #[serde(default, deserialize_with = "nullable")]
    pub names: Vec<String>,
}

/// `Location.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationSpec {
    /// Always `{group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}`.
    #[serde(default)]
    pub resource: Option<GroupVersionResource>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Unused by KubeStellar; kept for round-tripping.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub available_selector_labels: Vec<Value>,
    /// Selects this Location's SyncTarget(s) in the same inventory space; `None` matches nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_selector: Option<LabelSelector>,
}

/// `SyncTarget.spec` (inherited from kcp's TMC; KubeStellar uses none of it, gitstellar neither,
/// but reads it so that a malformed one is reported).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncTargetSpec {
    /// Default `false`.
    #[serde(default, deserialize_with = "nullable")]
    pub unschedulable: bool,
    /// A time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evict_after: Option<String>,
    /// Default `[{export: kubernetes}]`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supported_api_exports: Vec<Value>,
    /// Free-form cells.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub cells: BTreeMap<String, String>,
}

/// A group, version and resource, as in `Location.spec.resource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionResource {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Lowercase plural resource.
    #[serde(default)]
    pub resource: String,
}

/// One `Customizer.replacements` entry: put the JSON `value` at every place `path` selects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    /// A JSONPath in KubeStellar's subset, starting with `$`.
    pub path: String,
    /// JSON text (a string value must be quoted: `'"env is %(env)"'`).
    pub value: String,
}

/// A `Customizer` (namespaced, no `spec` wrapper): per-destination rewrites of the objects that name it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Customizer {
    /// Namespace and name of the Customizer.
    pub meta: super::ObjectMeta,
    /// File it came from, relative to the layout root.
    pub file: String,
    /// The 1-based line in `file` where its document starts (`0` when unknown).
    pub line: u32,
    /// Ordered replacements.
    pub replacements: Vec<Replacement>,
    /// gitstellar extension: an RFC 6902 JSON patch applied after the replacements.
    pub patches: Option<Value>,
}

/// The body of a Customizer object, as read from YAML.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomizerBody {
    #[serde(default, deserialize_with = "nullable")]
    pub replacements: Vec<Replacement>,
    #[serde(default)]
    pub patches: Option<Value>,
}

/// One destination of an EdgePlacement: a Location and the SyncTarget it is paired with.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SinglePlacement {
    /// The inventory space holding both objects.
    pub cluster: String,
    /// The Location's name.
    pub location_name: String,
    /// The SyncTarget's name, which is the WEC's name.
    pub sync_target_name: String,
    /// The SyncTarget's `metadata.uid`, or one derived from space and name (design §9.13).
    #[serde(rename = "syncTargetUID")]
    pub sync_target_uid: String,
}

/// The where-resolution of one EdgePlacement: `edge.kubestellar.io/v2alpha1` `SinglePlacementSlice`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SinglePlacementSlice {
    /// `edge.kubestellar.io/v2alpha1`.
    pub api_version: String,
    /// `SinglePlacementSlice`.
    pub kind: String,
    /// Name (the EdgePlacement's) and owner reference.
    pub metadata: Value,
    /// The destinations, sorted.
    pub destinations: Vec<SinglePlacement>,
}

/// `SyncerConfig.spec`: what one WEC's syncer downsyncs and upsyncs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncerConfigSpec {
    /// Written empty, as KubeStellar's translator does.
    #[serde(default)]
    pub namespace_scope: NamespaceScope,
    /// Individual namespaced objects, grouped by resource and namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaced_objects: Vec<NamespacedObjects>,
    /// Cluster-scoped objects, always with an explicit `objects` list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_scope: Vec<ClusterScopeDownsyncResource>,
    /// The union of the upsync rules of every EdgePlacement reaching this WEC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsync: Vec<UpsyncSet>,
}

/// `SyncerConfig.spec.namespaceScope`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceScope {
    /// Namespaces whose contents are downsynced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Resources downsynced in those namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<NamespaceScopeDownsyncResource>,
}

/// `SyncerConfig.spec.namespaceScope.resources[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceScopeDownsyncResource {
    /// API group.
    pub group: String,
    /// Lowercase plural.
    pub resource: String,
    /// Version only.
    pub api_version: String,
}

/// `SyncerConfig.spec.namespacedObjects[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjects {
    /// API group.
    pub group: String,
    /// Lowercase plural.
    pub resource: String,
    /// Version only.
    pub api_version: String,
    /// Object names grouped by namespace.
    pub objects_by_namespace: Vec<NamespaceAndNames>,
}

/// Names of one namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NamespaceAndNames {
    /// The namespace.
    pub namespace: String,
    /// Object names in it.
    pub names: Vec<String>,
}

/// `SyncerConfig.spec.clusterScope[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterScopeDownsyncResource {
    /// API group.
    pub group: String,
    /// Lowercase plural.
    pub resource: String,
    /// Version only.
    pub api_version: String,
    /// Object names (never the "all objects" form).
    pub objects: Vec<String>,
}
