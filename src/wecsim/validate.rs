//! Object validation: the checks of the real API server that clients rely on getting a
//! `422 Invalid` for (names, labels, workload selectors, CRD names). Types and schemas are not
//! checked.

use super::error::{ApiError, Cause};
use super::resources::ResourceDef;
use super::store::str_at;
use serde_json::Value;

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
