//! `metadata.managedFields` bookkeeping: who owns which fields after an update or an apply, and
//! the apply merge itself with its conflicts and field removal.

use super::error::{ApiError, Cause, Reason};
use super::fields::{self, FieldSet, Path};
use super::resources::ResourceDef;
use super::store::now;
use serde_json::{Map, Value, json};

/// The main resource or its status subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// The object itself.
    Main,
    /// `/status`.
    Status,
}

impl Sub {
    fn name(self) -> Option<&'static str> {
        match self {
            Sub::Main => None,
            Sub::Status => Some("status"),
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    set: FieldSet,
}

impl Entry {
    fn is(&self, manager: &str, operation: &str, sub: Sub) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == sub.name()
    }
}

fn parse(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Entry {
                manager: s("manager")?,
                operation: s("operation").unwrap_or_else(|| "Update".into()),
                api_version: s("apiVersion").unwrap_or_default(),
                time: s("time").unwrap_or_default(),
                subresource: s("subresource"),
                set: e
                    .get("fieldsV1")
                    .map(fields::from_fields_v1)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn write(obj: &mut Value, mut entries: Vec<Entry>) {
    // Ownership of fields that no longer exist is dropped, as the API server does.
    for e in &mut entries {
        e.set.retain(|p| fields::get(obj, p).is_some());
    }
    entries.retain(|e| !e.set.is_empty());
    let rendered: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("manager".into(), json!(e.manager));
            m.insert("operation".into(), json!(e.operation));
            m.insert("apiVersion".into(), json!(e.api_version));
            m.insert("time".into(), json!(e.time));
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), fields::to_fields_v1(&e.set));
            if let Some(sub) = &e.subresource {
                m.insert("subresource".into(), json!(sub));
            }
            Value::Object(m)
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if rendered.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(rendered));
        }
    }
}

const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// The part of an object a manager can own through this endpoint.
pub fn owned_view(obj: &Value, def: &ResourceDef, sub: Sub) -> Value {
    let Some(map) = obj.as_object() else {
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if sub == Sub::Status {
                    continue;
                }
                if let Some(meta) = v.as_object() {
                    let kept: Map<String, Value> = meta
                        .iter()
                        .filter(|(k, _)| !SYSTEM_METADATA.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if !kept.is_empty() {
                        out.insert(k.clone(), Value::Object(kept));
                    }
                }
            }
            "status" if def.status_subresource && sub == Sub::Main => {}
            _ if sub == Sub::Status && k != "status" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Records an Update-operation write: the manager takes the fields whose values it changed, and
/// other managers lose them (updates never conflict).
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    def: &ResourceDef,
    sub: Sub,
    manager: &str,
    api_version: &str,
) {
    let mut entries = old.map(parse).unwrap_or_default();
    let new_view = owned_view(new, def, sub);
    let old_view = old.map(|o| owned_view(o, def, sub));
    let changed: FieldSet = fields::leaves(&new_view)
        .into_iter()
        .filter(|p| old_view.as_ref().and_then(|o| fields::get(o, p)) != fields::get(&new_view, p))
        .collect();
    if !changed.is_empty() {
        for e in entries.iter_mut().filter(|e| !e.is(manager, "Update", sub)) {
            e.set
                .retain(|q| !changed.iter().any(|p| fields::overlaps(q, p)));
        }
        match entries.iter_mut().find(|e| e.is(manager, "Update", sub)) {
            Some(e) => {
                e.set.extend(changed);
                e.time = now();
                e.api_version = api_version.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now(),
                subresource: sub.name().map(str::to_string),
                set: changed,
            }),
        }
    }
    write(new, entries);
}

/// Server-side apply: merges `applied` into `live` (a skeleton for a new object) on behalf of
/// `manager`, failing with 409 on conflicts unless `force`, and removing fields the manager
/// applied before but no longer does when nobody else owns them.
pub fn apply(
    live: &mut Value,
    applied: &Value,
    def: &ResourceDef,
    sub: Sub,
    manager: &str,
    force: bool,
    api_version: &str,
) -> Result<(), ApiError> {
    let mut entries = parse(live);
    let applied_view = owned_view(applied, def, sub);
    let new_set = fields::leaves(&applied_view);
    let differs = |live: &Value, p: &Path| fields::get(live, p) != fields::get(&applied_view, p);

    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for e in entries.iter().filter(|e| !e.is(manager, "Apply", sub)) {
        for p in &new_set {
            if fields::overlapping(&e.set, p).next().is_some()
                && differs(live, p)
                && !conflicts.iter().any(|(m, q)| m == &e.manager && q == p)
            {
                conflicts.push((e.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            let causes: Vec<Cause> = conflicts
                .iter()
                .map(|(m, p)| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with \"{m}\""),
                    field: fields::display(p),
                })
                .collect();
            // Worded as structured-merge-diff words it, which kubectl users know.
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for c in &causes {
                let manager = c.message.trim_start_matches("conflict with ").to_string();
                match groups.iter_mut().find(|(m, _)| *m == manager) {
                    Some((_, fields)) => fields.push(c.field.clone()),
                    None => groups.push((manager, vec![c.field.clone()])),
                }
            }
            let text: Vec<String> = groups
                .iter()
                .map(|(m, fields)| match fields.as_slice() {
                    [one] => format!("conflict with {m}: {one}"),
                    many => format!("conflicts with {m}:\n- {}", many.join("\n- ")),
                })
                .collect();
            let n = causes.len();
            let mut err = ApiError::new(
                Reason::Conflict,
                format!(
                    "Apply failed with {n} conflict{}: {}",
                    if n == 1 { "" } else { "s" },
                    text.join("\n")
                ),
            );
            err.causes = causes;
            return Err(err);
        }
        for e in entries.iter_mut().filter(|e| !e.is(manager, "Apply", sub)) {
            e.set
                .retain(|q| !conflicts.iter().any(|(_, p)| fields::overlaps(q, p)));
        }
    }

    let old_set = entries
        .iter()
        .find(|e| e.is(manager, "Apply", sub))
        .map(|e| e.set.clone())
        .unwrap_or_default();
    for p in old_set.difference(&new_set) {
        // Dropping an item's key drops the whole item, so it stays while anyone owns a field
        // in it.
        let p: &[fields::Seg] = if fields::is_key_field(p) {
            &p[..p.len() - 1]
        } else {
            p
        };
        let still_applied = fields::overlapping(&new_set, p).next().is_some();
        let owned_elsewhere = entries
            .iter()
            .filter(|e| !e.is(manager, "Apply", sub))
            .any(|e| fields::overlapping(&e.set, p).next().is_some());
        if !still_applied && !owned_elsewhere {
            fields::remove(live, p);
        }
    }
    fields::merge_applied(live, &applied_view);

    match entries.iter_mut().find(|e| e.is(manager, "Apply", sub)) {
        Some(e) => {
            e.set = new_set;
            e.time = now();
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: now(),
            subresource: sub.name().map(str::to_string),
            set: new_set,
        }),
    }
    write(live, entries);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    fn deployment_def() -> ResourceDef {
        builtins()
            .iter()
            .find(|d| d.plural == "deployments")
            .map(|d| (**d).clone())
            .unwrap()
    }

    #[test]
    fn dropping_an_item_keeps_it_while_another_manager_owns_part_of_it() {
        let def = deployment_def();
        let base = |env: Value| {
            json!({"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [
                {"name": "c", "env": env}
            ]}}}})
        };
        let mut live = json!({"metadata": {"name": "d"}});
        let a = base(json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]));
        apply(&mut live, &a, &def, Sub::Main, "a", false, "apps/v1").unwrap();
        // b co-owns Y's value (same value, no conflict).
        let b = base(json!([{"name": "Y", "value": "2"}]));
        apply(&mut live, &b, &def, Sub::Main, "b", false, "apps/v1").unwrap();
        // a stops applying both X and Y: X goes, Y stays because b owns part of it.
        let a2 = base(json!([{"name": "Z", "value": "3"}]));
        apply(&mut live, &a2, &def, Sub::Main, "a", false, "apps/v1").unwrap();
        let env = live
            .pointer("/spec/template/spec/containers/0/env")
            .unwrap();
        assert_eq!(
            env,
            &json!([{"name": "Y", "value": "2"}, {"name": "Z", "value": "3"}])
        );
    }
}
