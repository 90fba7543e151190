//! Upsync: the objects of a WEC that come back to git (KubeStellar's `UpsyncSet`, spec §4.5 and
//! §8.5), and what they look like when they do.
//!
//! Inputs: the union of the upsync rules reaching a WEC (its SyncerConfig's `upsync`), and live
//! objects of that WEC with their resource names. Outputs: whether each is upsynced
//! ([`selected`]), its upsynced copy ([`upsync`]: cleaned like reported state, Secrets as digests,
//! annotated `edge.kubestellar.io/upsynced: <Kind>/<namespace>/<name>`), and the files holding
//! the copies in the WEC's reported ref (`upsynced/<group>/<Kind>/<ns or _cluster>/<name>.yaml`)
//! and in the status branch (`upsynced/<wec>/...`), design §3. Pure: no I/O.
//!
//! A rule matches an object when its `apiGroup` is the object's group, and `resources`, `names`
//! and (for a namespaced object) `namespaces` each list the object's or `"*"`; an empty list
//! matches nothing. Objects gitstellar applied are never upsynced.

use std::sync::Arc;

use serde_json::Value;

use super::reported::{ReportedError, canonical, clean, object_id, to_yaml};
use crate::marks::{MANAGED_BY, ORIGIN, parse_origin};
use crate::model::{ObjectId, UpsyncSet};
use crate::tree::{Files, valid_component};

/// The annotation on every upsynced copy: `<Kind>/<namespace>/<name>` (namespace empty for a
/// cluster-scoped object), as KubeStellar's syncer writes it.
pub const UPSYNCED_ANNOTATION: &str = "edge.kubestellar.io/upsynced";

/// The directory of upsynced copies, in a reported ref and in the status branch.
pub const UPSYNCED_DIR: &str = "upsynced";

/// Why an object could not be upsynced.
#[derive(Debug, thiserror::Error)]
pub enum UpsyncError {
    /// The live object cannot be named or rendered.
    #[error("upsyncing an object: {0}")]
    Object(#[source] ReportedError),
}

/// The upsynced copy of one WEC object.
#[derive(Clone, Debug, PartialEq)]
pub struct Upsynced {
    /// Its identity in the WEC.
    pub id: ObjectId,
    /// The copy: cleaned, annotated.
    pub object: Value,
}

/// Whether one rule matches an object of `group` and `resource` (lowercase plural) named `name`,
/// in `namespace` (`None`: cluster-scoped).
pub fn rule_matches(
    rule: &UpsyncSet,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> bool {
    let listed = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
    rule.api_group == group
        && listed(&rule.resources, resource)
        && listed(&rule.names, name)
        && namespace.is_none_or(|ns| listed(&rule.namespaces, ns))
}

/// Whether any of `rules` matches (the union of the rules reaching a WEC).
pub fn rules_match(
    rules: &[UpsyncSet],
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> bool {
    rules
        .iter()
        .any(|r| rule_matches(r, group, resource, namespace, name))
}

/// Whether gitstellar applied `live`: it carries the `gitstellar.io/managed-by` label, or a
/// `gitstellar.io/origin` annotation naming its own identity. A child that a controller gave a
/// copy of its parent's origin annotation (design §9.8) is not gitstellar's.
pub fn applied_by_gitstellar(live: &Value, id: &ObjectId) -> bool {
    if live
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_some_and(|labels| labels.contains_key(MANAGED_BY))
    {
        return true;
    }
    live.pointer("/metadata/annotations")
        .and_then(|a| a.get(ORIGIN))
        .and_then(Value::as_str)
        .and_then(parse_origin)
        .is_some_and(|(_, origin)| origin == *id)
}

/// Whether the live object `live`, of resource `resource`, is upsynced under `rules`.
pub fn selected(rules: &[UpsyncSet], resource: &str, live: &Value) -> Result<bool, UpsyncError> {
    let id = object_id(live).map_err(UpsyncError::Object)?;
    Ok(selected_id(rules, resource, live, &id))
}

fn selected_id(rules: &[UpsyncSet], resource: &str, live: &Value, id: &ObjectId) -> bool {
    rules_match(
        rules,
        &id.group,
        resource,
        id.namespace.as_deref(),
        &id.name,
    ) && !applied_by_gitstellar(live, id)
}

/// The value of the `upsynced` annotation for an object.
pub fn annotation_value(id: &ObjectId) -> String {
    format!("{}/{}/{}", id.kind, id.namespace_or_empty(), id.name)
}

/// The upsynced copy of `live`, of resource `resource`, when `rules` select it.
pub fn upsync(
    rules: &[UpsyncSet],
    resource: &str,
    live: &Value,
) -> Result<Option<Upsynced>, UpsyncError> {
    let id = object_id(live).map_err(UpsyncError::Object)?;
    if !selected_id(rules, resource, live, &id) {
        return Ok(None);
    }
    let mut object = clean(live);
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if !annotations.is_object() {
            *annotations = Value::Object(Default::default());
        }
        if let Some(map) = annotations.as_object_mut() {
            map.insert(
                UPSYNCED_ANNOTATION.into(),
                Value::String(annotation_value(&id)),
            );
        }
    }
    Ok(Some(Upsynced {
        id,
        object: canonical(object),
    }))
}

/// An upsynced copy's path in its WEC's reported ref.
pub fn reported_ref_path(id: &ObjectId) -> String {
    format!("{UPSYNCED_DIR}/{id}.yaml")
}

/// An upsynced copy's path in the status branch.
pub fn status_path(wec: &str, id: &ObjectId) -> String {
    format!("{UPSYNCED_DIR}/{wec}/{id}.yaml")
}

/// The upsynced files of a WEC's reported ref.
pub fn render_reported_ref(copies: &[Upsynced]) -> Result<Files, UpsyncError> {
    render(copies, reported_ref_path)
}

/// The upsynced files of one WEC in the status branch (the same bytes as in its reported ref).
pub fn render_status_files(wec: &str, copies: &[Upsynced]) -> Result<Files, UpsyncError> {
    if !valid_component(wec) {
        return Err(UpsyncError::Object(ReportedError::Path {
            object: wec.into(),
        }));
    }
    render(copies, |id| status_path(wec, id))
}

fn render(copies: &[Upsynced], path: impl Fn(&ObjectId) -> String) -> Result<Files, UpsyncError> {
    let mut files = Files::new();
    for copy in copies {
        let id = &copy.id;
        let file = format!("{}.yaml", id.name);
        if ![
            id.group_dir(),
            id.kind.as_str(),
            id.namespace_dir(),
            file.as_str(),
        ]
        .iter()
        .all(|c| valid_component(c))
        {
            return Err(UpsyncError::Object(ReportedError::Path {
                object: id.to_string(),
            }));
        }
        let yaml = to_yaml(&copy.object, &id.to_string()).map_err(UpsyncError::Object)?;
        files.insert(Arc::from(path(id)), Arc::from(yaml.into_bytes()));
    }
    Ok(files)
}

#[cfg(test)]
#[path = "upsync_tests.rs"]
mod tests;
