//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for, with the
//! columns a real cluster prints for the common kinds and NAME/AGE for the rest.

use super::resources::ResourceDef;
use super::store::str_at;
use serde_json::{Value, json};
use std::sync::Arc;

/// Whether the Accept header asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn columns(def: &ResourceDef) -> Vec<(&'static str, &'static str)> {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => vec![("Name", "string"), ("Status", "string"), ("Age", "string")],
        ("", "configmaps") | ("", "secrets") => {
            vec![("Name", "string"), ("Data", "integer"), ("Age", "string")]
        }
        ("", "services") => vec![
            ("Name", "string"),
            ("Type", "string"),
            ("Cluster-IP", "string"),
            ("Ports", "string"),
            ("Age", "string"),
        ],
        ("apps", "deployments") => vec![
            ("Name", "string"),
            ("Ready", "string"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
            ("Age", "string"),
        ],
        ("batch", "jobs") => vec![
            ("Name", "string"),
            ("Status", "string"),
            ("Completions", "string"),
            ("Age", "string"),
        ],
        _ => vec![("Name", "string"), ("Age", "string")],
    }
}

/// A human duration the way kubectl prints ages (`45s`, `3m20s`, `5h`, `2d`).
pub fn age(since: &str) -> String {
    let Ok(t) = since.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn int_at(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn cells(def: &ResourceDef, obj: &Value) -> Vec<Value> {
    let name = json!(str_at(obj, "name"));
    let age = json!(age(str_at(obj, "creationTimestamp")));
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => {
            let phase = obj
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            vec![name, json!(phase), age]
        }
        ("", "configmaps") | ("", "secrets") => {
            let n = ["data", "binaryData", "stringData"]
                .iter()
                .filter_map(|k| obj.get(*k).and_then(Value::as_object))
                .map(|m| m.len())
                .sum::<usize>();
            vec![name, json!(n), age]
        }
        ("", "services") => {
            let ports: Vec<String> = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!(
                                "{}/{}",
                                p.get("port").map(Value::to_string).unwrap_or_default(),
                                p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let s = |p: &str| {
                obj.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("<none>")
                    .to_string()
            };
            vec![
                name,
                json!(s("/spec/type")),
                json!(s("/spec/clusterIP")),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
                age,
            ]
        }
        ("apps", "deployments") => {
            let replicas = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int_at(obj, "/status/readyReplicas"),
                    replicas
                )),
                json!(int_at(obj, "/status/updatedReplicas")),
                json!(int_at(obj, "/status/availableReplicas")),
                age,
            ]
        }
        ("batch", "jobs") => {
            let completions = obj
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let succeeded = int_at(obj, "/status/succeeded");
            let status = if succeeded >= completions {
                "Complete"
            } else {
                "Running"
            };
            vec![
                name,
                json!(status),
                json!(format!("{succeeded}/{completions}")),
                age,
            ]
        }
        _ => vec![name, age],
    }
}

/// Evaluates the simple JSONPaths printer columns use: `.spec.size`, `.status.items[0].name`.
/// Anything fancier (filters, wildcards) prints empty, as a missing field would.
fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for part in path.trim_start_matches('.').split('.') {
        let (field, index) = match part.split_once('[') {
            Some((f, rest)) => (f, Some(rest.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (part, None),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

fn printer_cells(def: &ResourceDef, obj: &Value) -> Vec<Value> {
    let mut out = vec![json!(str_at(obj, "name"))];
    for (_, ty, path) in &def.printer_columns {
        out.push(match json_path(obj, path) {
            None | Some(Value::Null) => json!(""),
            Some(Value::String(s)) if ty == "date" => json!(age(s)),
            Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => v.clone(),
            Some(other) => json!(other.to_string()),
        });
    }
    out.push(json!(age(str_at(obj, "creationTimestamp"))));
    out
}

fn row(def: &ResourceDef, obj: &Value, include_object: &str) -> Value {
    let object = match include_object {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        }),
    };
    let cells = if def.printer_columns.is_empty() {
        cells(def, obj)
    } else {
        printer_cells(def, obj)
    };
    json!({"cells": cells, "object": object})
}

/// A Table of the given objects.
pub fn render(
    def: &ResourceDef,
    items: &[Arc<Value>],
    rv: u64,
    cont: Option<&str>,
    include_object: &str,
) -> Value {
    let cols: Vec<(String, String)> = if def.printer_columns.is_empty() {
        columns(def)
            .into_iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    } else {
        std::iter::once(("Name".to_string(), "string".to_string()))
            .chain(def.printer_columns.iter().map(|(n, t, _)| {
                (
                    n.clone(),
                    if t == "date" {
                        "string".into()
                    } else {
                        t.clone()
                    },
                )
            }))
            .chain(std::iter::once(("Age".to_string(), "string".to_string())))
            .collect()
    };
    let defs: Vec<Value> = cols
        .into_iter()
        .map(|(n, ty)| {
            json!({
                "name": n,
                "type": ty,
                "format": if n == "Name" { "name" } else { "" },
                "description": n,
                "priority": 0,
            })
        })
        .collect();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": defs,
        "rows": items.iter().map(|o| row(def, o, include_object)).collect::<Vec<_>>(),
    })
}
