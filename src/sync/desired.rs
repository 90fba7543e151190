//! The pure half of syncing: what a WEC should hold, in which order to apply it, what to prune,
//! and whether a live object is ours or has drifted. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::model::ObjectId;

pub use gitstellar_core::marks::{MANAGED_BY, ORIGIN, origin_of, parse_origin};
/// The server-side apply field manager.
pub const FIELD_MANAGER: &str = "gitstellar";
/// KubeStellar's create-only annotation, which travels with the object into the WEC.
pub const DOWNSYNC_OVERWRITE: &str = crate::model::DOWNSYNC_OVERWRITE;

/// One object a WEC should hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Identity.
    pub id: ObjectId,
    /// The WDS it comes from (for the origin annotation).
    pub wds: String,
    /// Created once, never updated or deleted.
    pub create_only: bool,
    /// The object as the mailbox holds it (without our marks).
    pub object: Value,
}

impl Desired {
    /// The origin annotation's value for this object.
    pub fn origin(&self) -> String {
        origin_of(&self.wds, &self.id)
    }
}

/// The object with our ownership marks added: the instance label and the origin annotation.
pub fn marked(desired: &Desired, instance: &str) -> Value {
    let mut object = desired.object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        insert_string(meta, "labels", MANAGED_BY, instance);
        insert_string(meta, "annotations", ORIGIN, &desired.origin());
    }
    object
}

fn insert_string(meta: &mut Map<String, Value>, map: &str, key: &str, value: &str) {
    let entry = meta.entry(map).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Some(m) = entry.as_object_mut() {
        m.insert(key.to_string(), Value::from(value));
    }
}

fn meta_str<'a>(object: &'a Value, map: &str, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get(map)?.get(key)?.as_str()
}

/// The identity of a live object as the API server reports it.
pub fn live_id(object: &Value) -> Option<ObjectId> {
    let api = object.get("apiVersion")?.as_str()?;
    let group = api.rsplit_once('/').map_or("", |(g, _)| g).to_string();
    Some(ObjectId {
        group,
        kind: object.get("kind")?.as_str()?.to_string(),
        namespace: meta_str_top(object, "namespace")
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        name: meta_str_top(object, "name")?.to_string(),
    })
}

fn meta_str_top<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get(key)?.as_str()
}

/// Whether a live object is ours: labelled with our instance, and its origin annotation names
/// the object's own identity (a copy on a child names its parent, so it is not ours).
pub fn is_ours(live: &Value, instance: &str) -> bool {
    if meta_str(live, "labels", MANAGED_BY) != Some(instance) {
        return false;
    }
    let Some((_, claimed)) = meta_str(live, "annotations", ORIGIN).and_then(parse_origin) else {
        return false;
    };
    live_id(live).is_some_and(|id| id == claimed)
}

/// Whether the live object is create-only there (KubeStellar's annotation, which travels along).
pub fn is_create_only(live: &Value) -> bool {
    meta_str(live, "annotations", DOWNSYNC_OVERWRITE) == Some("false")
}

/// The order of application: Namespaces, then CRDs, then everything else (design §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// `v1` Namespaces.
    Namespaces,
    /// CustomResourceDefinitions (wait until Established before the next phase).
    Definitions,
    /// Everything else.
    Workload,
}

/// The phase an object is applied in.
pub fn phase_of(id: &ObjectId) -> Phase {
    match (id.group.as_str(), id.kind.as_str()) {
        ("", "Namespace") => Phase::Namespaces,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Phase::Definitions,
        _ => Phase::Workload,
    }
}

/// Objects grouped by phase, in application order; each phase sorted by identity.
pub fn phases(desired: &[Desired]) -> Vec<(Phase, Vec<&Desired>)> {
    let mut by: BTreeMap<Phase, Vec<&Desired>> = BTreeMap::new();
    for d in desired {
        by.entry(phase_of(&d.id)).or_default().push(d);
    }
    for list in by.values_mut() {
        list.sort_by(|a, b| a.id.cmp(&b.id));
    }
    by.into_iter().collect()
}

/// What gitstellar applied to a WEC last time: kept in the WEC (see [`super::INVENTORY_NAME`]) so
/// that pruning needs no listing of every kind, and survives a restart of gitstellar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Every object applied, by identity. (Which mailbox commit was applied is recorded in git,
    /// on the WEC's reported ref: the record here changes only when the set of objects does.)
    pub objects: BTreeMap<ObjectId, InventoryEntry>,
}

impl Inventory {
    /// The inventory as ConfigMap data: one `<version> <origin>[ <digest>]` line per object,
    /// sorted, under `objects`.
    pub fn to_data(&self) -> BTreeMap<String, String> {
        let mut data = BTreeMap::new();
        data.insert("objects".to_string(), lines(self.objects.iter()));
        data
    }

    /// Reads ConfigMap data written by [`Inventory::to_data`] (or by an earlier version, whose
    /// lines have no digest); malformed lines are skipped.
    pub fn from_data(data: &BTreeMap<String, String>) -> Inventory {
        let objects = data
            .get("objects")
            .map(|text| text.lines().filter_map(parse_line).collect())
            .unwrap_or_default();
        Inventory { objects }
    }
}

/// Record lines, one per entry, joined by newlines.
pub fn lines<'a>(entries: impl Iterator<Item = (&'a ObjectId, &'a InventoryEntry)>) -> String {
    let lines: Vec<String> = entries.map(|(id, e)| line(id, e)).collect();
    lines.join("\n")
}

/// One record line: `<version> <origin>`, then ` <digest>` when the entry has one.
pub fn line(id: &ObjectId, e: &InventoryEntry) -> String {
    if e.digest.is_empty() {
        format!("{} {}", e.version, origin_of(&e.wds, id))
    } else {
        format!("{} {} {}", e.version, origin_of(&e.wds, id), e.digest)
    }
}

/// Parses a record line; `None` when malformed.
pub fn parse_line(line: &str) -> Option<(ObjectId, InventoryEntry)> {
    let (version, rest) = line.split_once(' ')?;
    // A name has no space and no slash, so a last word without a slash is the digest.
    let (origin, digest) = match rest.rsplit_once(' ') {
        Some((origin, digest)) if !digest.contains('/') && parse_origin(origin).is_some() => {
            (origin, digest)
        }
        _ => (rest, ""),
    };
    let (wds, id) = parse_origin(origin)?;
    Some((
        id,
        InventoryEntry {
            wds,
            version: version.to_string(),
            digest: digest.to_string(),
        },
    ))
}

/// The digest recorded for an entry written ahead of its apply, before the apply is confirmed.
pub const PENDING: &str = "-";

/// What the inventory remembers of one applied object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryEntry {
    /// The WDS it came from.
    pub wds: String,
    /// The version it was applied with (the group is in the identity).
    pub version: String,
    /// A digest of the object as last applied ([`digest`]); [`PENDING`] while written ahead of
    /// an apply that is not confirmed yet; empty in records written by earlier versions.
    pub digest: String,
}

impl InventoryEntry {
    /// `group/version` or `version`.
    pub fn api_version(&self, id: &ObjectId) -> String {
        crate::model::api_version(&id.group, &self.version)
    }
}

/// A short digest of an object as applied (with our marks): 16 hex digits of its SHA-256. Equal
/// digests mean the mailbox's object did not change.
pub fn digest(object: &Value) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    let sum = sha2::Sha256::digest(&bytes);
    sum.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Objects applied before that the mailbox no longer holds, in deletion order: workload objects
/// first, then CRDs, then Namespaces (the reverse of application), each phase sorted.
pub fn prune_candidates(
    previous: &Inventory,
    desired: &[Desired],
) -> Vec<(ObjectId, InventoryEntry)> {
    let wanted: BTreeSet<&ObjectId> = desired.iter().map(|d| &d.id).collect();
    let mut gone: Vec<(ObjectId, InventoryEntry)> = previous
        .objects
        .iter()
        .filter(|(id, _)| !wanted.contains(id))
        .map(|(id, e)| (id.clone(), e.clone()))
        .collect();
    gone.sort_by(|a, b| phase_of(&b.0).cmp(&phase_of(&a.0)).then(a.0.cmp(&b.0)));
    gone
}

/// Whether every field the desired object sets has the same value in the live object (the live
/// object may hold more: defaults, status, other managers' fields). `false` means drift, or a
/// change in git, and calls for an apply. `metadata` is compared on labels and annotations only.
pub fn satisfied(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| {
            if k == "status" {
                return true;
            }
            if k == "metadata" {
                return ["labels", "annotations"].iter().all(|m| match dv.get(m) {
                    None => true,
                    Some(dm) => subset(
                        dm,
                        l.get("metadata")
                            .and_then(|lm| lm.get(m))
                            .unwrap_or(&Value::Null),
                    ),
                });
            }
            l.get(k).is_some_and(|lv| subset(dv, lv))
        }),
        _ => desired == live,
    }
}

fn subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => subset(dv, lv),
            // An explicit null or empty collection in git is satisfied by its absence.
            None => {
                dv.is_null()
                    || dv.as_object().is_some_and(Map::is_empty)
                    || dv.as_array().is_some_and(Vec::is_empty)
            }
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| subset(dv, lv))
        }
        // The API server normalises numbers (1.0 → 1) and quantities; compare numbers by value.
        (Value::Number(d), Value::Number(l)) => d.as_f64() == l.as_f64(),
        _ => desired == live,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn desired(group: &str, kind: &str, ns: Option<&str>, name: &str) -> Desired {
        let api = if group.is_empty() {
            "v1".to_string()
        } else {
            format!("{group}/v1")
        };
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        Desired {
            id: ObjectId::new(group, kind, ns, name),
            wds: "w".into(),
            create_only: false,
            object: json!({"apiVersion": api, "kind": kind, "metadata": meta}),
        }
    }

    #[test]
    fn origins_round_trip() {
        for i in [
            ObjectId::new("", "ConfigMap", Some("ns"), "a"),
            ObjectId::new("apps", "Deployment", None, "b.c"),
        ] {
            assert_eq!(
                parse_origin(&origin_of("wds1", &i)),
                Some(("wds1".to_string(), i))
            );
        }
        assert_eq!(parse_origin("only/three/parts"), None);
    }

    #[test]
    fn ownership_needs_the_label_and_the_objects_own_identity() {
        let d = desired("apps", "Deployment", Some("ns"), "web");
        let ours = marked(&d, "prod");
        assert!(is_ours(&ours, "prod"));
        assert!(
            !is_ours(&ours, "staging"),
            "another instance's object is not ours"
        );
        // A ReplicaSet that inherited the Deployment's annotation and label is not ours.
        let mut child = ours.clone();
        child["kind"] = json!("ReplicaSet");
        child["metadata"]["name"] = json!("web-5d8f");
        assert!(!is_ours(&child, "prod"));
        let mut unlabelled = ours.clone();
        unlabelled["metadata"]["labels"] = json!({});
        assert!(!is_ours(&unlabelled, "prod"));
    }

    #[test]
    fn namespaces_then_crds_then_the_rest() {
        let list = vec![
            desired("apps", "Deployment", Some("a"), "d"),
            desired(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                None,
                "x.example.com",
            ),
            desired("", "Namespace", None, "a"),
            desired("", "ConfigMap", Some("a"), "c"),
        ];
        let order: Vec<Phase> = phases(&list).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            order,
            vec![Phase::Namespaces, Phase::Definitions, Phase::Workload]
        );
    }

    #[test]
    fn pruning_is_what_left_in_reverse_phase_order() {
        let mut previous = Inventory::default();
        for d in [
            desired("", "Namespace", None, "a"),
            desired(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                None,
                "x.example.com",
            ),
            desired("", "ConfigMap", Some("a"), "c"),
            desired("", "ConfigMap", Some("a"), "keep"),
        ] {
            previous.objects.insert(
                d.id,
                InventoryEntry {
                    wds: "w".into(),
                    version: "v1".into(),
                    digest: String::new(),
                },
            );
        }
        let now = vec![desired("", "ConfigMap", Some("a"), "keep")];
        let gone: Vec<String> = prune_candidates(&previous, &now)
            .iter()
            .map(|(i, _)| i.kind.clone())
            .collect();
        assert_eq!(
            gone,
            vec!["ConfigMap", "CustomResourceDefinition", "Namespace"]
        );
    }

    #[test]
    fn inventory_round_trips_through_configmap_data() {
        let mut inv = Inventory {
            objects: BTreeMap::new(),
        };
        inv.objects.insert(
            ObjectId::new("", "ConfigMap", Some("a"), "c"),
            InventoryEntry {
                wds: "w1".into(),
                version: "v1".into(),
                digest: "0123456789abcdef".into(),
            },
        );
        inv.objects.insert(
            ObjectId::new("apps", "Deployment", None, "d"),
            InventoryEntry {
                wds: "w2".into(),
                version: "v1".into(),
                digest: PENDING.into(),
            },
        );
        assert_eq!(Inventory::from_data(&inv.to_data()), inv);
    }

    #[test]
    fn a_record_without_digests_still_reads() {
        let old = BTreeMap::from([(
            "objects".to_string(),
            "v1 w1/core/ConfigMap/a/c\nv1 my wds/apps/Deployment/_cluster/d".to_string(),
        )]);
        let inv = Inventory::from_data(&old);
        assert_eq!(inv.objects.len(), 2);
        assert!(inv.objects.values().all(|e| e.digest.is_empty()));
        let d = &inv.objects[&ObjectId::new("apps", "Deployment", None, "d")];
        assert_eq!(d.wds, "my wds");
    }

    #[test]
    fn satisfied_ignores_extra_live_fields_and_detects_drift() {
        let want = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"a": "1"}}, "spec": {"replicas": 2, "template": {"x": [1, 2]}}});
        let mut live = want.clone();
        live["metadata"]["uid"] = json!("u");
        live["metadata"]["labels"]["extra"] = json!("y");
        live["spec"]["strategy"] = json!({"type": "RollingUpdate"});
        live["status"] = json!({"readyReplicas": 2});
        assert!(satisfied(&want, &live));
        live["spec"]["replicas"] = json!(5);
        assert!(!satisfied(&want, &live), "kubectl scale is drift");
        let mut relabelled = want.clone();
        relabelled["metadata"]["labels"]["a"] = json!("2");
        assert!(!satisfied(&relabelled, &want));
    }
}
