//! Object validation: the checks of the real API server that clients rely on getting a
//! `422 Invalid` for (names, labels, workload selectors, CRD names, the 1 MiB limit on a
//! ConfigMap's or Secret's data). Types and schemas are not checked.

use super::error::{ApiError, Cause};
use super::resources::ResourceDef;
use super::store::str_at;
use base64::Engine;
use serde_json::Value;

/// The most a ConfigMap's or Secret's data may hold, keys and values together (`MaxSecretSize`
/// in `k8s.io/kubernetes/pkg/apis/core`).
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

/// Bytes counted against [`MAX_DATA_BYTES`]: each key and its value, as the API server counts
/// them (base64 values decoded; a Secret's `stringData` is merged into `data` first).
fn data_size(obj: &Value, plural: &str) -> usize {
    let engine = base64::engine::general_purpose::STANDARD;
    let map = |field: &str| obj.get(field).and_then(Value::as_object);
    let text = |v: &Value| v.as_str().map_or(0, str::len);
    let decoded = |v: &Value| {
        v.as_str()
            .map_or(0, |s| engine.decode(s).map_or(s.len(), |b| b.len()))
    };
    let mut total = 0;
    match plural {
        "configmaps" => {
            for (k, v) in map("data").into_iter().flatten() {
                total += k.len() + text(v);
            }
            for (k, v) in map("binaryData").into_iter().flatten() {
                total += k.len() + decoded(v);
            }
        }
        _ => {
            let strings = map("stringData");
            for (k, v) in map("data").into_iter().flatten() {
                if !strings.is_some_and(|s| s.contains_key(k)) {
                    total += k.len() + decoded(v);
                }
            }
            for (k, v) in strings.into_iter().flatten() {
                total += k.len() + text(v);
            }
        }
    }
    total
}

/// A DNS-1123 label: what namespace, service and cluster names must be.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_label_part(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && s.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Field validation the built-in types have and clients rely on getting a 422 for.
pub fn validate(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let mut invalid = |field: &str, message: String| {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message,
            field: field.into(),
        })
    };
    let name = str_at(obj, "name");
    let name_ok = match def.plural.as_str() {
        "namespaces" | "services" => is_dns_label(name),
        "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings" => {
            !name.is_empty() && !name.contains('/') && !name.contains('%')
        }
        _ => is_dns_subdomain(name),
    };
    if !name_ok {
        invalid(
            "metadata.name",
            format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 name must consist of lower case alphanumeric characters, '-' or '.'"
            ),
        );
    }
    if let Some(labels) = obj.pointer("/metadata/labels") {
        match labels.as_object() {
            Some(labels) => {
                for (k, v) in labels {
                    let (prefix, key) = k.rsplit_once('/').unwrap_or(("", k));
                    if !is_label_part(key, false)
                        || !(prefix.is_empty() || is_dns_subdomain(prefix))
                    {
                        invalid(
                            "metadata.labels",
                            format!(
                                "Invalid value: {k:?}: name part must consist of alphanumeric characters, '-', '_' or '.'"
                            ),
                        );
                    }
                    match v.as_str() {
                        Some(v) if is_label_part(v, true) => {}
                        _ => invalid(
                            "metadata.labels",
                            format!(
                                "Invalid value: {v}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"
                            ),
                        ),
                    }
                }
            }
            None => invalid("metadata.labels", "must be a map of strings".into()),
        }
    }
    if def.group == "apps" {
        match obj
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
        {
            None if obj.pointer("/spec/selector/matchExpressions").is_none() => {
                causes.push(Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: "spec.selector".into(),
                })
            }
            None => {}
            Some(sel) => {
                let tpl = obj.pointer("/spec/template/metadata/labels");
                if sel
                    .iter()
                    .any(|(k, v)| tpl.and_then(|t| t.get(k)) != Some(v))
                {
                    causes.push(Cause {
                        reason: "FieldValueInvalid".into(),
                        message: "Invalid value: map[string]string: `selector` does not match template `labels`".into(),
                        field: "spec.template.metadata.labels".into(),
                    });
                }
            }
        }
    }
    if def.group.is_empty()
        && matches!(def.plural.as_str(), "configmaps" | "secrets")
        && data_size(obj, &def.plural) > MAX_DATA_BYTES
    {
        // The API server's own path: the whole object for ConfigMaps, `data` for Secrets.
        let field = if def.plural == "configmaps" {
            "[]"
        } else {
            "data"
        };
        causes.push(Cause {
            reason: "FieldValueTooLong".into(),
            message: format!("Too long: must have at most {MAX_DATA_BYTES} bytes"),
            field: field.into(),
        });
    }
    if def.plural == "customresourcedefinitions" {
        match ResourceDef::from_crd(obj) {
            None => causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: spec.group, spec.names.plural, spec.names.kind and at least one served version".into(),
                field: "spec".into(),
            }),
            Some(d) if format!("{}.{}", d.plural, d.group) != name => causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
                field: "metadata.name".into(),
            }),
            Some(_) => {}
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&def.kind, &def.group, name, causes))
    }
}
