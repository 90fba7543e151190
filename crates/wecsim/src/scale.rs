//! The `/scale` subresource of Deployments, ReplicaSets and StatefulSets (`autoscaling/v1`
//! `Scale`), which `kubectl scale` and autoscalers use.

use super::error::{ApiError, Reason};
use super::fields;
use super::managed::Sub;
use super::ops::{self, PatchType, Target, WriteOpts};
use super::resources::ResourceDef;
use super::store::Cluster;
use axum::http::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// Whether a resource has `/scale`.
pub fn supported(def: &ResourceDef) -> bool {
    def.group == "apps"
        && matches!(
            def.plural.as_str(),
            "deployments" | "replicasets" | "statefulsets"
        )
}

fn to_scale(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let keep = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ];
    let metadata: serde_json::Map<String, Value> = meta
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// GET, PUT or PATCH on `/scale`.
pub fn handle(
    cluster: &Arc<Cluster>,
    t: &Target,
    name: &str,
    method: &Method,
    content_type: &str,
    body: &[u8],
    opts: &WriteOpts,
) -> Result<Value, ApiError> {
    let current = ops::get(cluster, t, name)?;
    let mut scale = to_scale(&current);
    match *method {
        Method::GET => return Ok(scale),
        Method::PUT => {
            scale = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid Scale: {e}")))?;
        }
        Method::PATCH => {
            let patch: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            match PatchType::from_content_type(content_type) {
                Some(PatchType::Merge) => json_patch::merge(&mut scale, &patch),
                Some(PatchType::Strategic) => fields::strategic_merge(&mut scale, &patch),
                Some(PatchType::Json) => {
                    let ops: json_patch::Patch = serde_json::from_value(patch)
                        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                    json_patch::patch(&mut scale, &ops).map_err(|e| {
                        ApiError::new(
                            Reason::Invalid,
                            format!("the JSON patch could not be applied: {e}"),
                        )
                    })?;
                }
                _ => {
                    return Err(ApiError::new(
                        Reason::UnsupportedMediaType,
                        format!("unsupported patch type for scale: {content_type:?}"),
                    ));
                }
            }
        }
        _ => {
            return Err(ApiError::new(
                Reason::MethodNotAllowed,
                "the server does not allow this method on the scale subresource",
            ));
        }
    }
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::bad_request("spec.replicas must be a non-negative integer"))?;
    let mut patch = json!({"spec": {"replicas": replicas}});
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    let updated = ops::patch(
        cluster,
        t,
        name,
        PatchType::Merge,
        patch.to_string().as_bytes(),
        Sub::Main,
        opts,
    )?;
    Ok(to_scale(&updated))
}
