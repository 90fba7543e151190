use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::status::reported::digest;

fn rule(group: &str, resources: &[&str], namespaces: &[&str], names: &[&str]) -> UpsyncSet {
    let strings = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    UpsyncSet {
        api_group: group.into(),
        resources: strings(resources),
        namespaces: strings(namespaces),
        names: strings(names),
    }
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("test objects are YAML")
}

/// An object as a rule sees it: group, resource, namespace, name.
type Target = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);

/// Each row: a rule, an object, whether it matches.
#[test]
fn rules_match_as_spec_4_5_says() {
    let table: &[(UpsyncSet, Target, bool)] = &[
        // Exact group, listed resource, namespace and name.
        (
            rule("group1.test", &["sprockets"], &["x"], &["n"]),
            ("group1.test", "sprockets", Some("x"), "n"),
            true,
        ),
        (
            rule("group1.test", &["sprockets"], &["x"], &["n"]),
            ("group2.test", "sprockets", Some("x"), "n"),
            false,
        ),
        (
            rule("", &["secrets"], &["x"], &["n"]),
            ("", "secrets", Some("x"), "n"),
            true,
        ),
        (
            rule("", &["secrets"], &["x"], &["n"]),
            ("apps", "secrets", Some("x"), "n"),
            false,
        ),
        (
            rule("group1.test", &["sprockets"], &["x"], &["n"]),
            ("group1.test", "flanges", Some("x"), "n"),
            false,
        ),
        (
            rule("group1.test", &["sprockets"], &["x"], &["n"]),
            ("group1.test", "sprockets", Some("y"), "n"),
            false,
        ),
        (
            rule("group1.test", &["sprockets"], &["x"], &["n"]),
            ("group1.test", "sprockets", Some("x"), "m"),
            false,
        ),
        // `*` in each list.
        (
            rule("g", &["*"], &["x"], &["n"]),
            ("g", "anything", Some("x"), "n"),
            true,
        ),
        (
            rule("g", &["r"], &["*"], &["n"]),
            ("g", "r", Some("any"), "n"),
            true,
        ),
        (
            rule("g", &["r"], &["x"], &["*"]),
            ("g", "r", Some("x"), "any"),
            true,
        ),
        // Empty means nothing.
        (
            rule("g", &[], &["*"], &["*"]),
            ("g", "r", Some("x"), "n"),
            false,
        ),
        (
            rule("g", &["r"], &[], &["*"]),
            ("g", "r", Some("x"), "n"),
            false,
        ),
        (
            rule("g", &["r"], &["*"], &[]),
            ("g", "r", Some("x"), "n"),
            false,
        ),
        // Namespaces are ignored for cluster-scoped objects, even when empty.
        (
            rule("my.domain", &["sampleupsyncs"], &[], &["sample-upsync"]),
            ("my.domain", "sampleupsyncs", None, "sample-upsync"),
            true,
        ),
        (
            rule("my.domain", &["sampleupsyncs"], &["x"], &["sample-upsync"]),
            ("my.domain", "sampleupsyncs", None, "sample-upsync"),
            true,
        ),
        (
            rule("my.domain", &["sampleupsyncs"], &[], &[]),
            ("my.domain", "sampleupsyncs", None, "sample-upsync"),
            false,
        ),
    ];
    for (rule, (group, resource, namespace, name), want) in table {
        assert_eq!(
            rule_matches(rule, group, resource, *namespace, name),
            *want,
            "{rule:?} on {group}/{resource}/{namespace:?}/{name}"
        );
    }
}

#[test]
fn the_union_matches_when_one_rule_does() {
    let rules = [
        rule("group1.test", &["sprockets"], &["x"], &["n"]),
        rule("group3.test", &["widgets"], &[], &["*"]),
    ];
    assert!(rules_match(&rules, "group3.test", "widgets", None, "w"));
    assert!(!rules_match(
        &rules,
        "group3.test",
        "widgets",
        Some("ns"),
        "w"
    ));
    assert!(!rules_match(&[], "group3.test", "widgets", None, "w"));
}

const SAMPLE: &str = "
apiVersion: my.domain/v1alpha1
kind: SampleUpsync
metadata:
  name: sample-upsync
  uid: 4c2b
  resourceVersion: '77'
  managedFields: [{manager: kubectl}]
spec: {foo: bar upsync}
status: {conditions: [{type: Ready, status: 'True', lastHeartbeatTime: '2026-01-01T00:00:00Z'}]}
";

#[test]
fn the_syncer_e2e_sample_is_upsynced_annotated_and_cleaned() {
    let rules = [rule(
        "my.domain",
        &["sampleupsyncs"],
        &[],
        &["sample-upsync"],
    )];
    let copy = upsync(&rules, "sampleupsyncs", &yaml(SAMPLE))
        .expect("named")
        .expect("selected");
    assert_eq!(
        copy.object,
        json!({
            "apiVersion": "my.domain/v1alpha1",
            "kind": "SampleUpsync",
            "metadata": {
                "annotations": {UPSYNCED_ANNOTATION: "SampleUpsync//sample-upsync"},
                "name": "sample-upsync",
            },
            "spec": {"foo": "bar upsync"},
            "status": {"conditions": [{"status": "True", "type": "Ready"}]},
        })
    );
    assert_eq!(
        status_path("guilder", &copy.id),
        "upsynced/guilder/my.domain/SampleUpsync/_cluster/sample-upsync.yaml"
    );
    assert_eq!(
        reported_ref_path(&copy.id),
        "upsynced/my.domain/SampleUpsync/_cluster/sample-upsync.yaml"
    );
    let other = [rule("my.domain", &["sampleupsyncs"], &[], &["other"])];
    assert_eq!(
        upsync(&other, "sampleupsyncs", &yaml(SAMPLE)).expect("named"),
        None
    );
}

#[test]
fn objects_gitstellar_applied_are_never_upsynced() {
    let all = [rule("", &["*"], &["*"], &["*"])];
    let ours_by_label = yaml(
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: ns1, labels: {gitstellar.io/managed-by: gitstellar}}}",
    );
    let ours_by_origin = yaml(
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: ns1, annotations: {gitstellar.io/origin: wds1/core/ConfigMap/ns1/c}}}",
    );
    // A controller copied its parent's annotation: the child is not ours (design §9.8).
    let child = yaml(
        "{apiVersion: v1, kind: Pod, metadata: {name: p, namespace: ns1, annotations: {gitstellar.io/origin: wds1/core/ConfigMap/ns1/c}}}",
    );
    assert!(!selected(&all, "configmaps", &ours_by_label).expect("named"));
    assert!(!selected(&all, "configmaps", &ours_by_origin).expect("named"));
    assert!(selected(&all, "pods", &child).expect("named"));
}

#[test]
fn an_upsynced_secret_carries_digests_only() {
    let all = [rule("", &["secrets"], &["app"], &["*"])];
    let secret = yaml(
        "{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: app}, data: {k: aHVudGVyMg==}}",
    );
    let copy = upsync(&all, "secrets", &secret)
        .expect("named")
        .expect("selected");
    assert_eq!(copy.object["data"]["k"], json!(digest(b"hunter2")));
    assert_eq!(
        copy.object["metadata"]["annotations"][UPSYNCED_ANNOTATION],
        json!("Secret/app/s")
    );
    let files = render_status_files("guilder", &[copy]).expect("renders");
    let text: String = files
        .iter()
        .map(|(path, bytes)| format!("--- {path}\n{}", String::from_utf8_lossy(bytes)))
        .collect();
    insta::assert_snapshot!(text);
}

#[test]
fn objects_without_a_name_are_an_error() {
    let all = [rule("", &["*"], &["*"], &["*"])];
    assert!(matches!(
        upsync(
            &all,
            "configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap"})
        ),
        Err(UpsyncError::Object(ReportedError::Identity { .. }))
    ));
}

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9.-]{0,8}"
}

proptest! {
    /// A rule of `*` everywhere (for the object's group) matches every object; an empty rule
    /// list matches none.
    #[test]
    fn star_matches_all_and_empty_matches_none(
        group in "([a-z]{1,6}\\.test)?",
        resource in word(),
        namespace in proptest::option::of(word()),
        name in word(),
    ) {
        let star = rule(&group, &["*"], &["*"], &["*"]);
        prop_assert!(rules_match(&[star], &group, &resource, namespace.as_deref(), &name));
        prop_assert!(!rules_match(&[], &group, &resource, namespace.as_deref(), &name));
        let empty = rule(&group, &[], &[], &[]);
        prop_assert!(!rules_match(&[empty], &group, &resource, namespace.as_deref(), &name));
    }
}
