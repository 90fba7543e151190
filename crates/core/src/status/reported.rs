//! Reported state: what a WEC says about the objects gitstellar applied there (KubeStellar's
//! reported-state return, spec §8.4 and §9.1), as files of git trees.
//!
//! Inputs: live objects as a WEC holds them (JSON values) and their [`Health`]. Outputs:
//! - [`clean`]: an object without the noise that moves when nothing changed (`resourceVersion`,
//!   `managedFields`, `uid`, `selfLink`, and `lastUpdateTime`, `lastHeartbeatTime`,
//!   `lastProbeTime` anywhere under `status`), and a Secret without its values ([`redact_secret`]:
//!   `sha256:` digests instead). Every object is cleaned before it is reported or upsynced;
//! - [`reported_state`]: one object's `metadata.generation` and `.status`, cleaned;
//! - [`render_reported_ref`] and [`render_status_files`]: a WEC's reported state as the files of
//!   its reported ref (`status/<group>/<Kind>/<ns or _cluster>/<name>.yaml` and `health.yaml`) and
//!   of the status branch (`reported/<wec>/...` and `wecs/<wec>.yaml`), design §3.
//!
//! Output is deterministic: map keys are sorted (`apiVersion`, `kind`, `metadata` first), so the
//! same state gives the same bytes whatever order the WEC sent its fields in. Pure: no I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::health::{Health, HealthStatus};
use crate::model::ObjectId;
use crate::tree::{Files, valid_component};

/// The prefix of every reported ref; the WEC's name follows.
pub const REF_PREFIX: &str = "refs/heads/gitstellar/reported/";

/// In a reported ref: the directory of the reported states.
pub const STATUS_DIR: &str = "status";

/// In a reported ref: the health of every object gitstellar applied.
pub const HEALTH_FILE: &str = "health.yaml";

/// In the status branch: the directory of every WEC's reported states.
pub const REPORTED_DIR: &str = "reported";

/// In the status branch: the directory of the per-WEC summaries.
pub const WECS_DIR: &str = "wecs";

/// The annotation `kubectl apply` leaves behind: the whole object as applied, values included.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `metadata` fields that change without a change of meaning.
const NOISY_METADATA: [&str; 4] = ["resourceVersion", "managedFields", "uid", "selfLink"];

/// Timestamps under `status` that move on every heartbeat or probe.
const NOISY_STATUS: [&str; 3] = ["lastUpdateTime", "lastHeartbeatTime", "lastProbeTime"];

/// The `metadata` fields a reported Secret keeps: naming and ownership, never payload.
const SECRET_METADATA: [&str; 9] = [
    "name",
    "namespace",
    "labels",
    "annotations",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "ownerReferences",
    "finalizers",
];

/// Why a WEC's reported state could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportedError {
    /// A live object without the identity it needs to be named.
    #[error("a live object without {missing}")]
    Identity {
        /// The missing part (`kind`, `metadata.name`, ...).
        missing: &'static str,
    },
    /// A name that cannot be a file name in git.
    #[error("{object}: this name cannot be a file name in git")]
    Path {
        /// The object.
        object: String,
    },
    /// Rendering YAML failed.
    #[error("rendering {what} as YAML: {message}")]
    Yaml {
        /// What was rendered.
        what: String,
        /// The serializer's reason.
        message: String,
    },
}

/// The ref holding a WEC's reported state.
pub fn ref_name(wec: &str) -> String {
    format!("{REF_PREFIX}{wec}")
}

/// An object's reported state in its WEC's reported ref.
pub fn reported_ref_path(id: &ObjectId) -> String {
    format!("{STATUS_DIR}/{id}.yaml")
}

/// An object's reported state in the status branch.
pub fn status_path(wec: &str, id: &ObjectId) -> String {
    format!("{REPORTED_DIR}/{wec}/{id}.yaml")
}

/// A WEC's summary in the status branch.
pub fn wec_path(wec: &str) -> String {
    format!("{WECS_DIR}/{wec}.yaml")
}

/// The identity of a live object: group from `apiVersion`, `kind`, `metadata.namespace` and
/// `metadata.name`.
pub fn object_id(live: &Value) -> Result<ObjectId, ReportedError> {
    let text = |pointer: &str, missing: &'static str| {
        live.pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(ReportedError::Identity { missing })
    };
    let api_version = text("/apiVersion", "apiVersion")?;
    let kind = text("/kind", "kind")?;
    let name = text("/metadata/name", "metadata.name")?;
    let namespace = live
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Ok(ObjectId::new(group, kind, namespace, name))
}

/// Whether a live object is a Secret (core group).
pub fn is_secret(live: &Value) -> bool {
    live.get("kind").and_then(Value::as_str) == Some("Secret")
        && live.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// `object` without noise, and, for a Secret, with digests instead of values: what every object
/// becomes before it is reported or upsynced. Keys sorted.
pub fn clean(object: &Value) -> Value {
    let mut out = if is_secret(object) {
        redact_secret(object)
    } else {
        object.clone()
    };
    strip_noise(&mut out);
    canonical(out)
}

/// Removes the fields that move without a change of meaning: `metadata.resourceVersion`,
/// `managedFields`, `uid` and `selfLink`, and `lastUpdateTime`, `lastHeartbeatTime` and
/// `lastProbeTime` at any depth under `status` (`lastTransitionTime` stays: it moves only when a
/// condition does).
pub fn strip_noise(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in NOISY_METADATA {
            meta.remove(key);
        }
    }
    if let Some(status) = object.get_mut("status") {
        strip_timestamps(status);
    }
}

fn strip_timestamps(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in NOISY_STATUS {
                map.remove(key);
            }
            map.values_mut().for_each(strip_timestamps);
        }
        Value::Array(list) => list.iter_mut().for_each(strip_timestamps),
        _ => {}
    }
}

/// The `sha256:<hex>` digest of a Secret value.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A Secret as it may leave its WEC: `apiVersion`, `kind`, `type`, `immutable`, naming and
/// ownership metadata, and every value of `data` (base64-decoded) and `stringData` replaced by
/// the `sha256:` digest of its bytes. Nothing else is copied: no `last-applied-configuration`,
/// and no label or annotation whose value holds one of the values (as written, decoded, or
/// JSON-escaped). A `data` value that is not base64 is digested as written.
pub fn redact_secret(secret: &Value) -> Value {
    let mut values: Vec<Vec<u8>> = Vec::new();
    let mut out = Map::new();
    for key in ["apiVersion", "kind", "type", "immutable"] {
        if let Some(v) = secret.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    for field in ["data", "stringData"] {
        let Some(map) = secret.get(field).and_then(Value::as_object) else {
            continue;
        };
        let mut digests = Map::new();
        for (key, value) in map {
            let written = match value {
                Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            };
            let bytes = if field == "data" {
                base64::engine::general_purpose::STANDARD
                    .decode(&written)
                    .unwrap_or_else(|_| written.clone())
            } else {
                written.clone()
            };
            digests.insert(key.clone(), Value::String(digest(&bytes)));
            values.push(written);
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let escaped = Value::String(text.into()).to_string();
                values.push(escaped.trim_matches('"').as_bytes().to_vec());
            }
            values.push(bytes);
        }
        out.insert(field.into(), Value::Object(digests));
    }
    values.retain(|v| !v.is_empty());
    let mut meta = Map::new();
    if let Some(given) = secret.get("metadata").and_then(Value::as_object) {
        for key in SECRET_METADATA {
            let Some(v) = given.get(key) else { continue };
            let v = if key == "labels" || key == "annotations" {
                let Some(map) = v.as_object() else { continue };
                Value::Object(
                    map.iter()
                        .filter(|(k, v)| {
                            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                            *k != LAST_APPLIED && !carries_any(&text, &values)
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            } else {
                v.clone()
            };
            meta.insert(key.into(), v);
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    Value::Object(out)
}

/// Whether `text` holds any of `values`, or a label or annotation would leak one.
fn carries_any(text: &str, values: &[Vec<u8>]) -> bool {
    let text = text.as_bytes();
    values
        .iter()
        .any(|v| text.windows(v.len()).any(|w| w == v.as_slice()))
}

/// One object's reported state: `apiVersion`, `kind`, `metadata` (`name`, `namespace`,
/// `generation`) and `.status` as the WEC reports them, cleaned. An object without status
/// reports its identity and generation only.
pub fn reported_state(live: &Value) -> Value {
    let cleaned = clean(live);
    let mut out = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = cleaned.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let mut meta = Map::new();
    for key in ["name", "namespace", "generation"] {
        if let Some(v) = cleaned.pointer(&format!("/metadata/{key}")) {
            meta.insert(key.into(), v.clone());
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    if let Some(status) = cleaned.get("status").filter(|s| !s.is_null()) {
        out.insert("status".into(), status.clone());
    }
    canonical(Value::Object(out))
}

/// One object gitstellar applied, as its WEC reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reported {
    /// Its identity (as gitstellar applied it).
    pub id: ObjectId,
    /// Its reported state ([`reported_state`]); `None` when the WEC does not hold it.
    pub state: Option<Value>,
    /// Its health, from the whole live object.
    pub health: Health,
}

impl Reported {
    /// The report of `id` from the live object (`None`: the WEC does not hold it).
    pub fn from_live(id: ObjectId, live: Option<&Value>) -> Reported {
        Reported {
            id,
            state: live.map(reported_state),
            health: super::health::health(live),
        }
    }
}

/// One object's line of `health.yaml` and `wecs/<wec>.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHealth {
    /// `group/Kind/namespace/name`, as mailbox paths name it.
    pub object: String,
    /// Its health.
    pub health: HealthStatus,
    /// Why.
    pub reason: String,
}

/// `health.yaml` of a reported ref: every object's health, sorted by object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthFile {
    /// One line per object.
    pub objects: Vec<ObjectHealth>,
}

/// `wecs/<wec>.yaml` of the status branch: how many objects are in each health, and every
/// object's health.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WecSummary {
    /// The WEC (SyncTarget name).
    pub wec: String,
    /// Objects per health, only those with at least one.
    pub health: BTreeMap<HealthStatus, usize>,
    /// One line per object, sorted by object.
    pub objects: Vec<ObjectHealth>,
}

/// Reads `health.yaml` back; `None` when it is not one.
pub fn read_health(bytes: &[u8]) -> Option<HealthFile> {
    serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

fn health_lines(reports: &[Reported]) -> Vec<ObjectHealth> {
    let mut lines: Vec<(&ObjectId, ObjectHealth)> = reports
        .iter()
        .map(|r| {
            (
                &r.id,
                ObjectHealth {
                    object: r.id.to_string(),
                    health: r.health.status,
                    reason: r.health.reason.clone(),
                },
            )
        })
        .collect();
    lines.sort_by(|a, b| a.0.cmp(b.0));
    lines.into_iter().map(|(_, line)| line).collect()
}

fn check_path(id: &ObjectId) -> Result<(), ReportedError> {
    let parts = [
        id.group_dir().to_string(),
        id.kind.clone(),
        id.namespace_dir().to_string(),
        format!("{}.yaml", id.name),
    ];
    if parts.iter().all(|p| valid_component(p)) {
        Ok(())
    } else {
        Err(ReportedError::Path {
            object: id.to_string(),
        })
    }
}

/// The files of a WEC's reported ref that reported state owns: `status/<layout>.yaml` for
/// every object the WEC holds, and `health.yaml` for every object.
pub fn render_reported_ref(reports: &[Reported]) -> Result<Files, ReportedError> {
    let mut files = Files::new();
    for r in reports {
        check_path(&r.id)?;
        if let Some(state) = &r.state {
            files.insert(
                Arc::from(reported_ref_path(&r.id)),
                Arc::from(to_yaml(state, &r.id.to_string())?.into_bytes()),
            );
        }
    }
    let health = HealthFile {
        objects: health_lines(reports),
    };
    files.insert(
        Arc::from(HEALTH_FILE),
        Arc::from(to_yaml(&health, HEALTH_FILE)?.into_bytes()),
    );
    Ok(files)
}

/// The files of the status branch that one WEC's reported state gives: `reported/<wec>/<layout>.yaml`
/// (the same bytes as in its reported ref, so git stores them once) and `wecs/<wec>.yaml`.
pub fn render_status_files(wec: &str, reports: &[Reported]) -> Result<Files, ReportedError> {
    if !valid_component(wec) || !valid_component(&format!("{wec}.yaml")) {
        return Err(ReportedError::Path { object: wec.into() });
    }
    let mut files = Files::new();
    for r in reports {
        check_path(&r.id)?;
        if let Some(state) = &r.state {
            files.insert(
                Arc::from(status_path(wec, &r.id)),
                Arc::from(to_yaml(state, &r.id.to_string())?.into_bytes()),
            );
        }
    }
    let mut health = BTreeMap::new();
    for r in reports {
        *health.entry(r.health.status).or_insert(0) += 1;
    }
    let summary = WecSummary {
        wec: wec.into(),
        health,
        objects: health_lines(reports),
    };
    let path = wec_path(wec);
    let yaml = to_yaml(&summary, &path)?;
    files.insert(Arc::from(path), Arc::from(yaml.into_bytes()));
    Ok(files)
}

/// Sorts every map's keys, with `apiVersion`, `kind` and `metadata` first at the top.
pub fn canonical(value: Value) -> Value {
    let mut top = match sorted(value) {
        Value::Object(map) => map,
        other => return other,
    };
    let mut out = Map::new();
    for key in ["apiVersion", "kind", "metadata"] {
        if let Some(v) = top.remove(key) {
            out.insert(key.into(), v);
        }
    }
    out.extend(top);
    Value::Object(out)
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let entries: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(list) => Value::Array(list.into_iter().map(sorted).collect()),
        other => other,
    }
}

pub(crate) fn to_yaml(value: &impl Serialize, what: &str) -> Result<String, ReportedError> {
    serde_saphyr::to_string(value).map_err(|e| ReportedError::Yaml {
        what: what.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
#[path = "reported_tests.rs"]
mod tests;
