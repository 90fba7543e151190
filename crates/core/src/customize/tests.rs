//! Customization end to end: expansion, then Customizer replacements and patches.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::model::{ObjectMeta, Replacement};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn customizer(expand: bool, replacements: &[(&str, &str)], patches: Option<Value>) -> Customizer {
    let mut meta = ObjectMeta {
        name: "example-customizer".into(),
        namespace: Some("commonstuff".into()),
        ..ObjectMeta::default()
    };
    if expand {
        meta.annotations = labels(&[(EXPAND_PARAMETERS, "true")]);
    }
    Customizer {
        meta,
        file: "wds/customizer.yaml".into(),
        line: 1,
        replacements: replacements
            .iter()
            .map(|(path, value)| Replacement {
                path: (*path).into(),
                value: (*value).into(),
            })
            .collect(),
        patches,
    }
}

/// KubeStellar's example1 ReplicaSet.
fn replicaset() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "example-rs",
            "namespace": "commonstuff",
            "annotations": {
                "edge.kubestellar.io/customizer": "example-customizer",
                "edge.kubestellar.io/expand-parameters": "true",
            },
        },
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{
                "name": "httpd",
                "image": "library/httpd:2.4",
                "env": [{"name": "EXAMPLE_VAR", "value": "example value"}],
            }]}},
        },
    })
}

fn run(
    object: &Value,
    expand: bool,
    c: Option<&Customizer>,
    location_labels: &[(&str, &str)],
) -> Result<Value, CustomizeError> {
    let labels = labels(location_labels);
    let annotations = BTreeMap::new();
    let params = Params {
        labels: &labels,
        annotations: &annotations,
        wec: "edge1",
        location: "loc-edge1",
    };
    customize(object, expand, c, &params).map(Cow::into_owned)
}

#[test]
fn example1_env_is_prod() {
    let c = customizer(
        true,
        &[(
            "$.spec.template.spec.containers.0.env.0.value",
            r#""env is %(env)""#,
        )],
        None,
    );
    let got = run(&replicaset(), true, Some(&c), &[("env", "prod")]);
    let value = got.as_ref().ok().and_then(|v| {
        v.pointer("/spec/template/spec/containers/0/env/0/value")
            .cloned()
    });
    assert_eq!(value, Some(json!("env is prod")));
    let got = run(&replicaset(), true, Some(&c), &[("env", "staging")]);
    let value = got.ok().and_then(|v| {
        v.pointer("/spec/template/spec/containers/0/env/0/value")
            .cloned()
    });
    assert_eq!(value, Some(json!("env is staging")));
}

#[test]
fn nothing_to_do_borrows() {
    let object = replicaset();
    let labels = BTreeMap::new();
    let params = Params {
        labels: &labels,
        annotations: &labels,
        wec: "w",
        location: "l",
    };
    assert!(matches!(
        customize(&object, true, None, &params),
        Ok(Cow::Borrowed(_))
    ));
    let empty = customizer(false, &[], Some(json!([])));
    assert!(matches!(
        customize(&object, false, Some(&empty), &params),
        Ok(Cow::Borrowed(_))
    ));
}

#[test]
fn object_expansion_then_replacements() {
    let object = json!({"data": {"url": "https://%(region).example", "replicas": "2"}});
    let c = customizer(
        false,
        &[
            ("$.data.replicas", "3"),
            ("$.data.where", r#""%(gitstellar.io/wec)""#),
            ("$.metadata.labels['app.kubernetes.io/name']", r#""web""#),
        ],
        None,
    );
    // The Customizer does not ask for expansion, so its `%(...)` stays literal.
    assert_eq!(
        run(&object, true, Some(&c), &[("region", "eu")]),
        Ok(json!({
            "data": {"url": "https://eu.example", "replicas": 3, "where": "%(gitstellar.io/wec)"},
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
        }))
    );
    // Without `expand`, the object is not expanded.
    assert_eq!(run(&object, false, None, &[]), Ok(object.clone()));
}

#[test]
fn customizer_expansion_of_paths_values_and_patches() {
    let object = json!({"spec": {"zones": {"eu": 1, "us": 2}}});
    let c = customizer(
        true,
        &[("$.spec.zones.%(zone)", "%(count)")],
        Some(json!([{"op": "add", "path": "/spec/owner", "value": "%(gitstellar.io/location)"}])),
    );
    assert_eq!(
        run(&object, false, Some(&c), &[("zone", "us"), ("count", "7")]),
        Ok(json!({"spec": {"zones": {"eu": 1, "us": 7}, "owner": "loc-edge1"}}))
    );
    assert_eq!(
        parameters_needed(&object, true, Some(&c)).map(|s| s.into_iter().collect::<Vec<_>>()),
        Ok(vec![
            "count".to_owned(),
            "gitstellar.io/location".to_owned(),
            "zone".to_owned()
        ])
    );
}

#[test]
fn undefined_parameters_of_object_and_customizer_reported_together() {
    let object = json!({"a": "%(zz)"});
    let c = customizer(
        true,
        &[("$.b", r#""%(aa)""#), ("$.c", "not json %(zz)")],
        None,
    );
    assert_eq!(
        run(&object, true, Some(&c), &[]),
        Err(CustomizeError::UndefinedParameters {
            names: vec!["aa".into(), "zz".into()],
            customizer: Some(CustomizerUse {
                customizer: "commonstuff/example-customizer".into(),
                file: "wds/customizer.yaml".into(),
                names: vec!["aa".into(), "zz".into()],
            }),
        })
    );
}

#[test]
fn undefined_parameters_of_a_customizer_name_it_and_its_file() {
    let object = json!({"a": "%(only-object)"});
    let c = customizer(true, &[("$.b", r#""%(only-customizer)""#)], None);
    let message = run(&object, true, Some(&c), &[]).map_err(|e| e.to_string());
    assert_eq!(
        message,
        Err(
            "undefined parameters %(only-customizer), %(only-object); the destination Location \
             has no label or annotation with these names; %(only-customizer) is referenced by \
             Customizer commonstuff/example-customizer in wds/customizer.yaml"
                .into()
        )
    );
    // Only the object's own reference: no Customizer is named.
    let plain = customizer(true, &[("$.b", "1")], None);
    let message = run(&object, true, Some(&plain), &[]).map_err(|e| e.to_string());
    assert!(
        message.as_ref().is_err_and(|m| !m.contains("Customizer")),
        "{message:?}"
    );
}

#[test]
fn messages_quote_no_value() {
    let object = json!({"data": {"password": "hunter2%(oops"}});
    let message = run(&object, true, None, &[]).map_err(|e| e.to_string());
    assert!(
        message.as_ref().is_err_and(|m| !m.contains("hunter2")),
        "{message:?}"
    );
    let c = customizer(false, &[("$.data.password", "\"s3cret-value")], None);
    let message = run(&json!({}), false, Some(&c), &[]).map_err(|e| e.to_string());
    assert!(
        message.as_ref().is_err_and(|m| !m.contains("s3cret")),
        "{message:?}"
    );
}

#[test]
fn replacement_errors_name_index() {
    let object = json!({"spec": {"x": [1, 2]}});
    let bad_path = customizer(false, &[("$.a", "1"), ("spec.x", "1")], None);
    assert_eq!(
        run(&object, false, Some(&bad_path), &[]).map_err(|e| e.to_string()),
        Err(
            "Customizer replacements[1]: path \"spec.x\" is not a supported JSONPath: at \
             character 0: a path must start with `$`, found 's'"
                .into()
        )
    );
    let bad_value = customizer(false, &[("$.a", "env is prod")], None);
    let err = run(&object, false, Some(&bad_value), &[]);
    assert!(
        matches!(&err, Err(CustomizeError::BadValue { index: 0, value, .. }) if value == "env is prod"),
        "{err:?}"
    );
    assert!(
        err.as_ref()
            .is_err_and(|e| e.to_string().contains(r#"e.g. '"env is prod"'"#))
    );
    let not_writable = customizer(false, &[("$.spec.x.3", "1")], None);
    assert_eq!(
        run(&object, false, Some(&not_writable), &[]),
        Err(CustomizeError::PathNotWritable {
            index: 0,
            path: "$.spec.x.3".into(),
            reason: "path $.spec.x.3: index 3 is beyond the 2 items of $.spec.x".into()
        })
    );
    let bad_patch = customizer(false, &[], Some(json!([{"op": "remove", "path": "/nope"}])));
    assert!(matches!(
        run(&object, false, Some(&bad_patch), &[]),
        Err(CustomizeError::PatchFailed { op_index: 0, .. })
    ));
}

#[test]
fn check_without_destination() {
    assert!(check_customizer(&customizer(false, &[("$.a", "1")], None)).is_ok());
    assert!(matches!(
        check_customizer(&customizer(false, &[("$.a", "x")], None)),
        Err(CustomizeError::BadValue { .. })
    ));
    // Text with parameters depends on the destination and is not judged here.
    assert!(check_customizer(&customizer(true, &[("$.%(k)", "%(v)")], None)).is_ok());
    assert!(matches!(
        check_customizer(&customizer(true, &[("$.%(k", "1")], None)),
        Err(CustomizeError::UnterminatedParameter { .. })
    ));
    assert!(matches!(
        check_customizer(&customizer(false, &[], Some(json!("x")))),
        Err(CustomizeError::BadPatch { .. })
    ));
}
