//! gitstellar's extension to KubeStellar's `Customizer`: `patches`, an RFC 6902 JSON Patch applied
//! after the replacements, for edits a JSONPath assignment cannot express (remove, append).

use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

use crate::model::load::type_name;

use super::CustomizeError;

/// What users most often get wrong in a JSON Pointer: Kubernetes keys hold `/` and `~`.
const ESCAPE_HINT: &str = "JSON Pointer escapes `/` as `~1` and `~` as `~0`";

/// Parses a `patches` document; `null` and `[]` mean no patch.
pub(super) fn parse(patches: &Value) -> Result<Option<Patch>, CustomizeError> {
    let ops = match patches {
        Value::Null => return Ok(None),
        Value::Array(ops) if ops.is_empty() => return Ok(None),
        Value::Array(ops) => ops,
        other => {
            return Err(CustomizeError::BadPatch {
                reason: format!(
                    "must be a list of RFC 6902 operations like \
                     {{op: add, path: /metadata/labels/tier, value: gold}}, found {}",
                    type_name(other)
                ),
            });
        }
    };
    let mut parsed = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        for field in ["path", "from"] {
            if let Some(Value::String(pointer)) = op.get(field) {
                check_pointer(pointer).map_err(|reason| CustomizeError::BadPatch {
                    reason: format!("operation {i}: {field} {pointer:?} {reason}"),
                })?;
            }
        }
        // serde's message for a bad operation names the field; the index says which operation.
        let op = serde_json::from_value::<PatchOperation>(op.clone()).map_err(|e| {
            CustomizeError::BadPatch {
                reason: format!("operation {i}: {e}"),
            }
        })?;
        parsed.push(op);
    }
    Ok(Some(Patch(parsed)))
}

/// Checks JSON Pointer syntax with a message that explains the escapes, which the library's
/// error does not.
fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!(
            "is not a JSON Pointer: it must start with `/`, as in \"/{pointer}\"; {ESCAPE_HINT}"
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "has a `~` not followed by `0` or `1`; {ESCAPE_HINT}"
            ));
        }
    }
    Ok(())
}

/// Applies `patch` to `doc`, one operation at a time so that a failure can be explained against
/// the document as that operation saw it. On error `doc` may hold earlier operations' effects;
/// the caller discards it.
pub(super) fn apply(doc: &mut Value, patch: &Patch) -> Result<(), CustomizeError> {
    for (op_index, op) in patch.0.iter().enumerate() {
        if let Err(e) = json_patch::patch(doc, std::slice::from_ref(op)) {
            let pointer = match (&e.kind, op) {
                (PatchErrorKind::InvalidFromPointer, PatchOperation::Move(m)) => m.from.as_str(),
                (PatchErrorKind::InvalidFromPointer, PatchOperation::Copy(c)) => c.from.as_str(),
                _ => op.path().as_str(),
            };
            let mut reason = e.kind.to_string();
            if matches!(
                e.kind,
                PatchErrorKind::InvalidPointer | PatchErrorKind::InvalidFromPointer
            ) && let Some(why) = explain_missing(doc, pointer)
            {
                reason = why;
            }
            return Err(CustomizeError::PatchFailed {
                op_index,
                path: pointer.to_owned(),
                reason,
            });
        }
    }
    Ok(())
}

/// Explains where `pointer` leaves `doc`. A missing map member followed by more tokens is most
/// often a key containing `/` (a label like `example.com/tier`) written without `~1`.
fn explain_missing(doc: &Value, pointer: &str) -> Option<String> {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut node = doc;
    let mut raw_prefix = String::new();
    for (i, token) in tokens.iter().enumerate() {
        let here = if raw_prefix.is_empty() {
            "the document root".to_owned()
        } else {
            format!("{raw_prefix:?}")
        };
        let child = match node {
            Value::Object(map) => map.get(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|n| items.get(n)),
            _ => {
                return Some(format!(
                    "{here} is {}, not a map or a list",
                    type_name(node)
                ));
            }
        };
        let Some(child) = child else {
            let more = tokens.len() - i - 1;
            return Some(match node {
                Value::Object(_) if more > 0 => {
                    let joined = pointer.split('/').skip(1 + i).collect::<Vec<_>>().join("/");
                    format!(
                        "{here} has no member {token:?}; if {joined:?} is one key, write its `/` \
                         as `~1` (\"{raw_prefix}/{}\"): {ESCAPE_HINT}",
                        joined.replace('/', "~1")
                    )
                }
                Value::Object(_) => format!("{here} has no member {token:?}"),
                Value::Array(items) => format!(
                    "{here} has {} items; {token:?} is not one of its indices",
                    items.len()
                ),
                _ => return None,
            });
        };
        raw_prefix.push('/');
        raw_prefix.push_str(pointer.split('/').nth(i + 1).unwrap_or_default());
        node = child;
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(doc: Value, patches: Value) -> Result<Value, CustomizeError> {
        let mut doc = doc;
        if let Some(p) = parse(&patches)? {
            apply(&mut doc, &p)?;
        }
        Ok(doc)
    }

    #[test]
    fn applies_operations_in_order() {
        let doc = json!({"metadata": {"labels": {"a": "1", "example.com/x": "2"}}, "l": [1, 2]});
        let got = run(
            doc,
            json!([
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "3"},
                {"op": "remove", "path": "/metadata/labels/example.com~1x"},
                {"op": "add", "path": "/l/-", "value": 3},
                {"op": "replace", "path": "/metadata/labels/a", "value": "one"},
                {"op": "test", "path": "/l/2", "value": 3},
                {"op": "copy", "from": "/l", "path": "/m"},
            ]),
        );
        assert_eq!(
            got,
            Ok(
                json!({"metadata": {"labels": {"a": "one", "b/c": "3"}}, "l": [1, 2, 3], "m": [1, 2, 3]})
            )
        );
        assert_eq!(run(json!({"a": 1}), json!(null)), Ok(json!({"a": 1})));
        assert_eq!(run(json!({"a": 1}), json!([])), Ok(json!({"a": 1})));
    }

    #[test]
    fn bad_documents() {
        let msg = |patches: Value| run(json!({}), patches).map_err(|e| e.to_string());
        assert_eq!(
            msg(json!({"op": "add"})),
            Err(
                "Customizer patches: must be a list of RFC 6902 operations like {op: add, path: \
                 /metadata/labels/tier, value: gold}, found a map"
                    .into()
            )
        );
        let e = msg(json!([{"op": "add", "path": "/a", "value": 1}, {"op": "frob", "path": "/a"}]));
        assert!(
            e.as_ref()
                .is_err_and(|e| e.starts_with("Customizer patches: operation 1: ")),
            "{e:?}"
        );
        assert_eq!(
            msg(json!([{"op": "remove", "path": "metadata/name"}])),
            Err(
                "Customizer patches: operation 0: path \"metadata/name\" is not a JSON Pointer: \
                 it must start with `/`, as in \"/metadata/name\"; JSON Pointer escapes `/` as \
                 `~1` and `~` as `~0`"
                    .into()
            )
        );
        assert_eq!(
            msg(json!([{"op": "move", "from": "/a~b", "path": "/c"}])),
            Err(
                "Customizer patches: operation 0: from \"/a~b\" has a `~` not followed by `0` \
                 or `1`; JSON Pointer escapes `/` as `~1` and `~` as `~0`"
                    .into()
            )
        );
    }

    #[test]
    fn failures_explain_escapes() {
        let doc = json!({"metadata": {"labels": {"a": "1"}}, "l": [1]});
        let err = run(
            doc.clone(),
            json!([{"op": "add", "path": "/metadata/labels/example.com/tier", "value": "x"}]),
        );
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err(
                "Customizer patches[0] at path \"/metadata/labels/example.com/tier\" failed: \
                 \"/metadata/labels\" has no member \"example.com\"; if \"example.com/tier\" is \
                 one key, write its `/` as `~1` (\"/metadata/labels/example.com~1tier\"): JSON \
                 Pointer escapes `/` as `~1` and `~` as `~0`"
                    .into()
            )
        );
        let err = run(
            doc.clone(),
            json!([{"op": "add", "path": "/x", "value": 1}, {"op": "remove", "path": "/l/5"}]),
        );
        assert_eq!(
            err,
            Err(CustomizeError::PatchFailed {
                op_index: 1,
                path: "/l/5".into(),
                reason: "\"/l\" has 1 items; \"5\" is not one of its indices".into()
            })
        );
        let err = run(doc, json!([{"op": "test", "path": "/l/0", "value": 2}]));
        assert_eq!(
            err,
            Err(CustomizeError::PatchFailed {
                op_index: 0,
                path: "/l/0".into(),
                reason: "value did not match".into()
            })
        );
    }
}
