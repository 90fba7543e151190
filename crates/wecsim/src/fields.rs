//! Field paths and field ownership: the simplified server-side-apply model.
//!
//! A manager owns a set of leaf paths. Lists of objects that all carry a merge key (`name`,
//! `containerPort`, `port`, `mountPath`, `type`, `ip`) are treated as maps keyed by it, as the
//! built-in schemas declare; any other list is atomic (owned as one leaf). Paths are stored in
//! `metadata.managedFields` in the real `FieldsV1` encoding so clients can read them.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// A map field.
    Field(String),
    /// A list item, by its merge key rendered as canonical JSON (`{"name":"web"}`).
    Key(String),
}

/// A path from the object root to a leaf.
pub type Path = Vec<Seg>;

/// A set of owned leaf paths.
pub type FieldSet = BTreeSet<Path>;

/// The keys a list of objects merges on, if every item carries the same one.
pub fn merge_keys(items: &[Value]) -> Option<&'static str> {
    const CANDIDATES: &[&str] = &["name", "containerPort", "port", "mountPath", "type", "ip"];
    if items.is_empty() || !items.iter().all(Value::is_object) {
        return None;
    }
    CANDIDATES.iter().copied().find(|key| {
        let mut seen = Vec::new();
        items.iter().all(|item| match item.get(*key) {
            Some(v) if !v.is_null() && !v.is_object() && !v.is_array() => {
                if seen.contains(&v) {
                    false
                } else {
                    seen.push(v);
                    true
                }
            }
            _ => false,
        })
    })
}

fn key_of(item: &Value, key: &str) -> Option<String> {
    let v = item.get(key)?;
    let mut m = Map::new();
    m.insert(key.to_string(), v.clone());
    Some(Value::Object(m).to_string())
}

fn item_matches(item: &Value, key_json: &str) -> bool {
    match serde_json::from_str::<Map<String, Value>>(key_json) {
        Ok(key) => key.iter().all(|(k, v)| item.get(k) == Some(v)),
        Err(_) => false,
    }
}

/// Collects the leaf paths of a value (the fields a manager sending it would own).
pub fn leaves(value: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    collect(value, &mut Vec::new(), &mut out);
    out
}

fn collect(value: &Value, prefix: &mut Path, out: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                prefix.push(Seg::Field(k.clone()));
                collect(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => match merge_keys(items) {
            Some(key) => {
                for item in items {
                    if let Some(k) = key_of(item, key) {
                        prefix.push(Seg::Key(k));
                        collect(item, prefix, out);
                        prefix.pop();
                    }
                }
            }
            None => {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            }
        },
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// The value at a path, if present.
pub fn get<'a>(value: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        cur = match seg {
            Seg::Field(f) => cur.get(f)?,
            Seg::Key(k) => cur.as_array()?.iter().find(|i| item_matches(i, k))?,
        };
    }
    Some(cur)
}

fn get_mut<'a>(value: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = value;
    for seg in path {
        cur = match seg {
            Seg::Field(f) => cur.get_mut(f)?,
            Seg::Key(k) => cur
                .as_array_mut()?
                .iter_mut()
                .find(|i| item_matches(i, k))?,
        };
    }
    Some(cur)
}

/// Whether a path ends in the merge-key field of a list item (`...[name="web"].name`), whose
/// removal removes the whole item.
pub fn is_key_field(path: &[Seg]) -> bool {
    match path {
        [.., Seg::Key(k), Seg::Field(f)] => {
            serde_json::from_str::<Map<String, Value>>(k).is_ok_and(|m| m.contains_key(f))
        }
        _ => false,
    }
}

/// Removes the value at a path; removing a list item's key field removes the item. Maps left
/// empty by the removal are pruned, up to but not including top-level fields.
pub fn remove(value: &mut Value, path: &[Seg]) {
    let mut path = path.to_vec();
    if is_key_field(&path) {
        path.pop();
    }
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let Some(parent) = get_mut(value, parent_path) else {
        return;
    };
    let emptied = match (last, parent) {
        (Seg::Field(f), Value::Object(map)) => {
            map.shift_remove(f);
            map.is_empty()
        }
        (Seg::Key(k), Value::Array(items)) => {
            items.retain(|i| !item_matches(i, k));
            false
        }
        _ => false,
    };
    if emptied && parent_path.len() > 1 {
        remove(value, parent_path);
    }
}

/// Whether `a` is a prefix of `b` (or equal).
fn is_prefix(a: &[Seg], b: &[Seg]) -> bool {
    a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Whether two paths overlap: equal, or one is an ancestor of the other.
pub fn overlaps(a: &[Seg], b: &[Seg]) -> bool {
    is_prefix(a, b) || is_prefix(b, a)
}

/// The paths in `set` that overlap `path` (equal, an ancestor, or a descendant).
pub fn overlapping<'a>(set: &'a FieldSet, path: &'a [Seg]) -> impl Iterator<Item = &'a Path> + 'a {
    set.iter()
        .filter(move |p| is_prefix(p, path) || is_prefix(path, p))
}

/// Renders a path as `.spec.containers[name="web"].image` for messages.
pub fn display(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Seg::Key(k) => {
                let inner = serde_json::from_str::<Map<String, Value>>(k)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_else(|_| k.clone());
                s.push('[');
                s.push_str(&inner);
                s.push(']');
            }
        }
    }
    s
}

/// Encodes a field set as `FieldsV1`.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for seg in path {
            let (key, is_item) = match seg {
                Seg::Field(f) => (format!("f:{f}"), false),
                Seg::Key(k) => (format!("k:{k}"), true),
            };
            let entry = cur.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else {
                break;
            };
            if is_item && !next.contains_key(".") {
                next.insert(".".to_string(), Value::Object(Map::new()));
            }
            cur = next;
        }
    }
    Value::Object(root)
}

/// Decodes `FieldsV1`; unknown entry kinds (`v:`, `i:`) make their list owned atomically.
pub fn from_fields_v1(value: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    decode(value, &mut Vec::new(), &mut out);
    out
}

fn decode(value: &Value, prefix: &mut Path, out: &mut FieldSet) {
    let Some(map) = value.as_object() else {
        return;
    };
    let children: Vec<_> = map.iter().filter(|(k, _)| k.as_str() != ".").collect();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    for (k, v) in children {
        if let Some(f) = k.strip_prefix("f:") {
            prefix.push(Seg::Field(f.to_string()));
            decode(v, prefix, out);
            prefix.pop();
        } else if let Some(key) = k.strip_prefix("k:") {
            prefix.push(Seg::Key(key.to_string()));
            decode(v, prefix, out);
            prefix.pop();
        } else if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
    }
}

/// Merges an applied configuration into the live object: maps recursively, keyed lists item by
/// item, anything else replaced. `null` in the applied configuration removes the field.
pub fn merge_applied(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, av) in a {
                if av.is_null() {
                    l.shift_remove(k);
                } else if let Some(lv) = l.get_mut(k) {
                    merge_applied(lv, av);
                } else {
                    l.insert(k.clone(), av.clone());
                }
            }
        }
        (Value::Array(l), Value::Array(a)) => {
            let key = merge_keys(a).filter(|k| l.iter().all(|i| i.get(*k).is_some()));
            match key {
                Some(key) => {
                    for item in a {
                        let found = l
                            .iter_mut()
                            .find(|li| li.get(key).is_some() && li.get(key) == item.get(key));
                        match found {
                            Some(li) => merge_applied(li, item),
                            None => l.push(item.clone()),
                        }
                    }
                }
                None => *l = a.clone(),
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}

fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch for the common cases: maps merge, `null` deletes, lists of
/// objects with a merge key merge by key (with `$patch: delete` items), `$patch: replace`,
/// `$deleteFromPrimitiveList/<field>`; other directives (`$setElementOrder`, `$retainKeys`) are
/// ignored and other lists are replaced.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                if let Value::Object(replaced) = strip_directives(patch) {
                    *t = replaced;
                }
                return;
            }
            for (k, pv) in p {
                if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
                    if let (Some(Value::Array(items)), Some(del)) =
                        (t.get_mut(field), pv.as_array())
                    {
                        items.retain(|i| !del.contains(i));
                    }
                    continue;
                }
                if k.starts_with('$') {
                    continue;
                }
                if pv.is_null() {
                    t.shift_remove(k);
                } else if let Some(tv) = t.get_mut(k) {
                    strategic_merge(tv, pv);
                } else {
                    t.insert(k.clone(), strip_directives(pv));
                }
            }
        }
        (Value::Array(t), Value::Array(p)) => {
            let plain: Vec<Value> = p
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect();
            let key = merge_keys(p)
                .or_else(|| merge_keys(t))
                .filter(|k| !plain.is_empty() || p.iter().all(|i| i.get(*k).is_some()));
            match key {
                Some(key) => {
                    for item in p {
                        let directive = item.get("$patch").and_then(Value::as_str);
                        let pos = t
                            .iter()
                            .position(|ti| ti.get(key).is_some() && ti.get(key) == item.get(key));
                        match (directive, pos) {
                            (Some("delete"), Some(i)) => {
                                t.remove(i);
                            }
                            (Some("delete"), None) => {}
                            (_, Some(i)) => {
                                if let Some(ti) = t.get_mut(i) {
                                    strategic_merge(ti, item);
                                }
                            }
                            (_, None) => t.push(strip_directives(item)),
                        }
                    }
                }
                None => *t = plain.iter().map(strip_directives).collect(),
            }
        }
        (target, patch) => *target = strip_directives(patch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_and_fields_v1_round_trip() {
        let obj = json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"replicas": 2, "containers": [{"name": "c", "image": "i"}], "args": ["a"]}
        });
        let set = leaves(&obj);
        assert!(set.contains(&vec![Seg::Field("spec".into()), Seg::Field("args".into())]));
        let encoded = to_fields_v1(&set);
        assert_eq!(
            encoded["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["f:image"],
            json!({})
        );
        assert_eq!(from_fields_v1(&encoded), set);
    }

    #[test]
    fn remove_prunes_and_drops_items() {
        let mut obj = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"c": [{"name": "x", "v": 1}, {"name": "y"}]}});
        remove(
            &mut obj,
            &[
                Seg::Field("metadata".into()),
                Seg::Field("labels".into()),
                Seg::Field("a".into()),
            ],
        );
        assert_eq!(obj["metadata"], json!({}));
        remove(
            &mut obj,
            &[
                Seg::Field("spec".into()),
                Seg::Field("c".into()),
                Seg::Key("{\"name\":\"x\"}".into()),
                Seg::Field("name".into()),
            ],
        );
        assert_eq!(obj["spec"]["c"], json!([{"name": "y"}]));
    }

    #[test]
    fn strategic_merge_by_key() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}], "x": 1}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"containers": [{"name": "a", "image": "3"}, {"name": "b", "$patch": "delete"}], "x": null, "$setElementOrder/containers": [{"name": "a"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "a", "image": "3"}]}})
        );
    }
}
