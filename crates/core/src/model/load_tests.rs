//! Unit tests of the loader (design §2, §9.12), on in-memory files: no git, no I/O.

use serde_json::{Value, json};

use super::{SourceFile, load};
use crate::model::{Object, Problem, Snapshot, WorkloadSpace};

fn files(list: &[(&str, &str)]) -> Vec<SourceFile> {
    list.iter()
        .map(|(path, content)| SourceFile {
            path: (*path).to_string(),
            content: Ok(content.as_bytes().to_vec()),
        })
        .collect()
}

fn snap(list: &[(&str, &str)]) -> Snapshot {
    load(&files(list))
}

fn wds<'a>(s: &'a Snapshot, name: &str) -> &'a WorkloadSpace {
    s.workloads
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no WDS {name:?} in {:?}", names(s)))
}

fn names(s: &Snapshot) -> (Vec<&str>, Vec<&str>) {
    (
        s.inventories.iter().map(|i| i.name.as_str()).collect(),
        s.workloads.iter().map(|w| w.name.as_str()).collect(),
    )
}

/// `group/Kind/namespace/name` of every workload object of a WDS.
fn ids(w: &WorkloadSpace) -> Vec<String> {
    w.objects.iter().map(|o| o.id.to_string()).collect()
}

fn object<'a>(w: &'a WorkloadSpace, id: &str) -> &'a Object {
    w.objects
        .iter()
        .find(|o| o.id.to_string() == id)
        .unwrap_or_else(|| panic!("no object {id} in {:?}", ids(w)))
}

fn problems_about<'a>(s: &'a Snapshot, file: &str) -> Vec<&'a Problem> {
    s.problems.iter().filter(|p| p.file == file).collect()
}

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: ns\n")
}

const PAIR: &str = "apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata:
  name: florin
  labels: {id: florin, env: prod}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: florin
  labels: {env: prod}
spec:
  resource: {group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}
  instanceSelector:
    matchLabels: {id: florin}
";

#[test]
fn default_layout_reads_inventory_and_each_wds_directory() {
    let s = snap(&[
        ("inventory/florin.yaml", PAIR),
        ("wds/a/cm.yaml", &cm("a1")),
        ("wds/b/cm.yml", &cm("b1")),
        // Directly under wds/: not inside any space.
        ("wds/stray.yaml", &cm("stray")),
        // Not a space at all.
        ("elsewhere/cm.yaml", &cm("x")),
        ("README.md", "# not yaml"),
    ]);
    assert_eq!(names(&s), (vec!["inventory"], vec!["a", "b"]));
    assert_eq!(s.inventories[0].locations.len(), 1);
    assert_eq!(s.inventories[0].sync_targets.len(), 1);
    assert_eq!(ids(wds(&s, "a")), ["core/ConfigMap/ns/a1"]);
    assert_eq!(ids(wds(&s, "b")), ["core/ConfigMap/ns/b1"]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
}

#[test]
fn custom_globs_in_gitstellar_yaml_replace_the_defaults() {
    let config = "apiVersion: gitstellar.io/v1alpha1
kind: RepoConfig
inventorySpaces: [\"fleet/*\"]
workloadSpaces: [\"apps/*\", \"shared\"]
";
    let s = snap(&[
        ("gitstellar.yaml", config),
        ("fleet/east/pair.yaml", PAIR),
        ("apps/web/cm.yaml", &cm("web")),
        ("shared/cm.yaml", &cm("common")),
        // The defaults no longer apply.
        ("inventory/pair.yaml", PAIR),
        ("wds/old/cm.yaml", &cm("old")),
    ]);
    assert_eq!(names(&s), (vec!["east"], vec!["shared", "web"]));
    assert_eq!(ids(wds(&s, "web")), ["core/ConfigMap/ns/web"]);
    assert_eq!(ids(wds(&s, "shared")), ["core/ConfigMap/ns/common"]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
}

#[test]
fn nested_directories_belong_to_their_space() {
    let s = snap(&[
        ("wds/a/team/one/cm.yaml", &cm("deep")),
        ("wds/a/top.yaml", &cm("top")),
    ]);
    assert_eq!(names(&s).1, ["a"]);
    assert_eq!(
        ids(wds(&s, "a")),
        ["core/ConfigMap/ns/deep", "core/ConfigMap/ns/top"]
    );
    assert_eq!(
        object(wds(&s, "a"), "core/ConfigMap/ns/deep").file,
        "wds/a/team/one/cm.yaml"
    );
}

#[test]
fn dot_files_and_dot_directories_are_skipped() {
    let broken = "this: is: not: yaml: [";
    let s = snap(&[
        ("wds/a/.hidden.yaml", broken),
        ("wds/a/.github/workflow.yaml", broken),
        ("wds/a/sub/.cache/cm.yaml", &cm("cached")),
        ("wds/.b/cm.yaml", &cm("hidden-space")),
        ("wds/a/cm.yaml", &cm("visible")),
    ]);
    assert_eq!(names(&s).1, ["a"]);
    assert_eq!(ids(wds(&s, "a")), ["core/ConfigMap/ns/visible"]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
}

#[test]
fn multi_document_yaml_and_lists_are_expanded() {
    let text = "---
apiVersion: v1
kind: ConfigMap
metadata: {name: one, namespace: ns}
---
# an empty document
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: two, namespace: ns}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: three, namespace: ns}
";
    let s = snap(&[("wds/a/all.yaml", text)]);
    assert_eq!(
        ids(wds(&s, "a")),
        // Sorted by group first: the core group ("") before apps.
        [
            "core/ConfigMap/ns/one",
            "core/ConfigMap/ns/two",
            "apps/Deployment/ns/three",
        ]
    );
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
}

#[test]
fn json_files_are_read() {
    let text = r#"{"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "from-json", "namespace": "ns"}, "data": {"k": "v"}}"#;
    let s = snap(&[("wds/a/cm.json", text)]);
    let o = object(wds(&s, "a"), "core/ConfigMap/ns/from-json");
    assert_eq!(o.value.pointer("/data/k"), Some(&json!("v")));
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
}

#[test]
fn yaml_1_2_yes_stays_a_string_and_legacy_octal_reads_as_kubectl_does() {
    // `extended: yes` is how example1 labels guilder (spec §10.1): it must be a valid label value.
    let inventory = "apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: guilder
  labels: {env: prod, extended: yes}
spec:
  instanceSelector: {matchLabels: {id: guilder}}
";
    let workload = "apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: ns
  labels: {extended: yes, flag: on}
spec:
  volumes:
  - name: v
    secret: {secretName: s, defaultMode: 0644}
";
    let s = snap(&[
        ("inventory/guilder.yaml", inventory),
        ("wds/a/pod.yaml", workload),
    ]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    let loc = &s.inventories[0].locations[0];
    assert_eq!(
        loc.meta.labels.get("extended").map(String::as_str),
        Some("yes")
    );
    let pod = object(wds(&s, "a"), "core/Pod/ns/p");
    assert_eq!(
        pod.meta.labels.get("extended").map(String::as_str),
        Some("yes")
    );
    assert_eq!(pod.meta.labels.get("flag").map(String::as_str), Some("on"));
    assert_eq!(
        pod.value.pointer("/spec/volumes/0/secret/defaultMode"),
        Some(&json!(420))
    );
    assert_eq!(
        pod.value.pointer("/metadata/labels/extended"),
        Some(&json!("yes"))
    );
}

#[test]
fn duplicate_keys_are_a_problem() {
    let text = "apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  namespace: ns
data:
  key: one
  key: two
";
    let s = snap(&[("wds/a/dup.yaml", text), ("wds/a/ok.yaml", &cm("fine"))]);
    let found = problems_about(&s, "wds/a/dup.yaml");
    assert_eq!(found.len(), 1, "{:#?}", s.problems);
    assert!(
        found[0].message.to_lowercase().contains("duplicate"),
        "{:?}",
        found[0].message
    );
    // The broken file contributes nothing; the other file is still read.
    assert_eq!(ids(wds(&s, "a")), ["core/ConfigMap/ns/fine"]);
}

#[test]
fn namespaced_object_without_namespace_goes_to_default() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nons}\n";
    let s = snap(&[("wds/a/cm.yaml", text)]);
    let o = object(wds(&s, "a"), "core/ConfigMap/default/nons");
    assert_eq!(o.id.namespace.as_deref(), Some("default"));
    assert_eq!(o.meta.namespace.as_deref(), Some("default"));
    assert_eq!(
        o.value.pointer("/metadata/namespace"),
        Some(&json!("default"))
    );
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
}

#[test]
fn cluster_scoped_object_loses_its_namespace() {
    let text = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader, namespace: oops}
rules: []
";
    let s = snap(&[("wds/a/cr.yaml", text)]);
    let o = object(
        wds(&s, "a"),
        "rbac.authorization.k8s.io/ClusterRole/_cluster/reader",
    );
    assert_eq!(o.id.namespace, None);
    assert_eq!(o.meta.namespace, None);
    assert_eq!(o.value.pointer("/metadata/namespace"), None);
    assert_eq!(o.resource, "clusterroles");
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {kind: CronTab, plural: crontabs, singular: crontab, shortNames: [ct]}
  versions:
  - {name: v1, served: true, storage: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: clusterthings.stable.example.com}
spec:
  group: stable.example.com
  scope: Cluster
  names: {kind: ClusterThing, plural: clusterthings}
  versions:
  - {name: v1, served: true, storage: true}
";

#[test]
fn a_crd_in_a_wds_maps_its_kind() {
    let objects = "apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: my-new-cron-object, namespace: specialstuff}
spec: {cronSpec: '* * * * */5', image: my-awesome-cron-image}
---
apiVersion: stable.example.com/v1
kind: ClusterThing
metadata: {name: thing, namespace: dropped}
";
    let s = snap(&[("wds/s/crd.yaml", CRD), ("wds/s/objects.yaml", objects)]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    let w = wds(&s, "s");
    let cron = object(
        w,
        "stable.example.com/CronTab/specialstuff/my-new-cron-object",
    );
    assert_eq!(cron.resource, "crontabs");
    assert_eq!(cron.version, "v1");
    let thing = object(w, "stable.example.com/ClusterThing/_cluster/thing");
    assert_eq!(thing.resource, "clusterthings");
    // The CRDs themselves are ordinary cluster-scoped workload objects.
    object(
        w,
        "apiextensions.k8s.io/CustomResourceDefinition/_cluster/crontabs.stable.example.com",
    );
}

#[test]
fn resource_mappings_in_gitstellar_yaml_map_kinds() {
    let config = "apiVersion: gitstellar.io/v1alpha1
kind: RepoConfig
resourceMappings:
- {group: example.com, kind: Widget, resource: widgets, namespaced: false}
- {group: example.com, kind: Gizmo, resource: gizmoes, namespaced: true}
";
    let objects = "apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: ignored}
---
apiVersion: example.com/v1beta1
kind: Gizmo
metadata: {name: g}
";
    let s = snap(&[("gitstellar.yaml", config), ("wds/a/o.yaml", objects)]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    let w = wds(&s, "a");
    assert_eq!(
        object(w, "example.com/Widget/_cluster/w").resource,
        "widgets"
    );
    let g = object(w, "example.com/Gizmo/default/g");
    assert_eq!(g.resource, "gizmoes");
    assert_eq!(g.version, "v1beta1");
}

#[test]
fn unknown_kind_is_a_problem_naming_file_and_object() {
    let text = "apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1, namespace: ns}
";
    let s = snap(&[("wds/a/gadget.yaml", text), ("wds/a/ok.yaml", &cm("ok"))]);
    let found = problems_about(&s, "wds/a/gadget.yaml");
    assert_eq!(found.len(), 1, "{:#?}", s.problems);
    assert!(found[0].object.contains("Gadget"), "{:?}", found[0]);
    assert!(found[0].object.contains("g1"), "{:?}", found[0]);
    assert!(found[0].message.contains("Gadget"), "{:?}", found[0]);
    assert_eq!(ids(wds(&s, "a")), ["core/ConfigMap/ns/ok"]);
}

#[test]
fn duplicate_object_in_two_files_is_withheld_and_names_both_files() {
    let s = snap(&[
        ("wds/a/one.yaml", &cm("twice")),
        ("wds/a/two.yaml", &cm("twice")),
        ("wds/a/other.yaml", &cm("once")),
    ]);
    assert_eq!(ids(wds(&s, "a")), ["core/ConfigMap/ns/once"]);
    let about: Vec<&Problem> = s
        .problems
        .iter()
        .filter(|p| p.object == "core/ConfigMap/ns/twice")
        .collect();
    assert!(!about.is_empty(), "{:#?}", s.problems);
    let text: String = about
        .iter()
        .map(|p| format!("{} {}", p.file, p.message))
        .collect();
    assert!(text.contains("wds/a/one.yaml"), "{text}");
    assert!(text.contains("wds/a/two.yaml"), "{text}");
    // The same identity in two *different* WDSes is not a duplicate (design §2: within a WDS).
    let s = snap(&[("wds/a/x.yaml", &cm("same")), ("wds/b/x.yaml", &cm("same"))]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    assert_eq!(ids(wds(&s, "a")), ["core/ConfigMap/ns/same"]);
    assert_eq!(ids(wds(&s, "b")), ["core/ConfigMap/ns/same"]);
}

#[test]
fn objects_with_deletion_timestamp_are_ignored() {
    let text = "apiVersion: v1
kind: ConfigMap
metadata:
  name: going
  namespace: ns
  deletionTimestamp: \"2024-01-01T00:00:00Z\"
";
    let s = snap(&[
        ("wds/a/going.yaml", text),
        ("wds/a/staying.yaml", &cm("staying")),
    ]);
    assert_eq!(ids(wds(&s, "a")), ["core/ConfigMap/ns/staying"]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
}

#[test]
fn control_objects_are_typed_not_workload_objects() {
    let text = "apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata: {name: ep}
spec:
  locationSelectors: [{matchLabels: {env: prod}}]
  downsync: [{apiGroup: \"\", resources: [configmaps]}]
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Customizer
metadata: {name: c, namespace: ns}
replacements:
- {path: '$.data.x', value: '\"y\"'}
";
    let s = snap(&[("wds/a/control.yaml", text)]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    let w = wds(&s, "a");
    assert!(w.objects.is_empty(), "{:?}", ids(w));
    assert_eq!(w.edge_placements.len(), 1);
    assert_eq!(w.edge_placements[0].meta.name, "ep");
    assert!(
        w.customizers
            .contains_key(&("ns".to_string(), "c".to_string()))
    );
}

#[test]
fn a_misspelt_edge_placement_field_is_a_problem() {
    let text = "apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata: {name: ep}
spec:
  locationSelector: [{matchLabels: {env: prod}}]
";
    let s = snap(&[("wds/a/ep.yaml", text)]);
    let found = problems_about(&s, "wds/a/ep.yaml");
    assert_eq!(found.len(), 1, "{:#?}", s.problems);
    assert!(
        found[0].message.contains("locationSelector"),
        "{:?}",
        found[0]
    );
    assert!(wds(&s, "a").edge_placements.is_empty());
}

#[test]
fn loading_ignores_input_order() {
    let list = [
        ("inventory/florin.yaml", PAIR),
        (
            "wds/a/one.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\n",
        ),
        (
            "wds/a/two.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: ns}\n",
        ),
        (
            "wds/b/dup1.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: ns}\n",
        ),
        (
            "wds/b/dup2.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: ns}\n",
        ),
    ];
    let forward = snap(&list);
    let mut reversed = list;
    reversed.reverse();
    assert_eq!(forward, snap(&reversed));
    let values: Vec<&Value> = wds(&forward, "a")
        .objects
        .iter()
        .map(|o| &*o.value)
        .collect();
    assert_eq!(values.len(), 2);
}

#[test]

fn a_crd_maps_its_kind_only_in_its_own_wds() {
    // Design §2: kinds are mapped by the built-in table, "the CustomResourceDefinitions found in
    // the WDS" and resourceMappings. A WDS plays KubeStellar's WDS API server: a CronTab cannot
    // exist in a WDS that does not define it.
    let cron = "apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: c, namespace: ns}
";
    let s = snap(&[
        ("wds/s/crd.yaml", CRD),
        ("wds/s/cron.yaml", cron),
        ("wds/t/cron.yaml", cron),
    ]);
    object(wds(&s, "s"), "stable.example.com/CronTab/ns/c");
    assert!(wds(&s, "t").objects.is_empty(), "{:?}", ids(wds(&s, "t")));
    let found = problems_about(&s, "wds/t/cron.yaml");
    assert_eq!(found.len(), 1, "{:#?}", s.problems);
    assert!(found[0].message.contains("CronTab"), "{:?}", found[0]);
}

/// One inventory file of `wecs` SyncTarget + Location pairs (two documents each).
fn inventory_of(wecs: usize) -> String {
    let mut text = String::with_capacity(wecs * 330);
    for i in 0..wecs {
        text.push_str(&format!(
            "apiVersion: edge.kubestellar.io/v2alpha1\nkind: SyncTarget\nmetadata:\n  name: wec-{i:05}\n  labels:\n    id: wec-{i:05}\n    region: region-{r}\n---\napiVersion: edge.kubestellar.io/v2alpha1\nkind: Location\nmetadata:\n  name: wec-{i:05}\n  labels:\n    env: prod\n    region: region-{r}\nspec:\n  resource: {{group: edge.kubestellar.io, resource: synctargets, version: v2alpha1}}\n  instanceSelector:\n    matchLabels: {{id: wec-{i:05}}}\n---\n",
            r = i % 7
        ));
    }
    text
}

#[test]
fn a_ten_thousand_wec_inventory_loads_from_one_file() {
    // 20,000 documents, about 3 MB: far beyond serde-saphyr's default budget of 1,024 documents
    // and 250,000 nodes per input.
    let text = inventory_of(10_000);
    assert!(text.len() > 2_500_000, "{} bytes", text.len());
    let s = snap(&[("inventory/fleet.yaml", &text)]);
    assert_eq!(s.problems, Vec::<Problem>::new());
    let inventory = &s.inventories[0];
    assert_eq!(inventory.sync_targets.len(), 10_000);
    assert_eq!(inventory.locations.len(), 10_000);
    // Each document knows its line: pair i starts at line 1 + 20 * i.
    let last = &inventory.locations[9_999];
    assert_eq!(
        (last.meta.name.as_str(), last.line),
        ("wec-09999", 9 + 20 * 9_999)
    );
    assert_eq!(inventory.sync_targets[1].line, 21);
}

#[test]
fn limits_stay_for_nesting_and_aliases() {
    let deep = format!("a: {}{}\n", "[".repeat(200), "]".repeat(200));
    let s = snap(&[("wds/a/deep.yaml", &deep)]);
    let p = &problems_about(&s, "wds/a/deep.yaml")[0];
    assert!(p.message.contains("nest deeper than 128"), "{p:?}");
    assert_eq!(p.line, Some(1), "{p:?}");
    // A billion laughs: ten levels of ten aliases each.
    let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        laughs.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    let s = snap(&[("wds/a/laughs.yaml", &laughs)]);
    let p = &problems_about(&s, "wds/a/laughs.yaml")[0];
    assert!(p.message.starts_with("invalid YAML: "), "{p:?}");
}

#[test]
fn parse_errors_carry_positions_and_quote_nothing() {
    let mut list = files(&[
        (
            "wds/a/s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: hunter2: x\n",
        ),
        (
            "wds/a/j.json",
            "{\n  \"password\": \"hunter2\"\n  \"x\": 1\n}\n",
        ),
    ]);
    list.push(SourceFile {
        path: "wds/a/u.yaml".into(),
        content: Ok(b"a: b\nc: d\xe9 hunter2\n".to_vec()),
    });
    let s = load(&list);
    let yaml = &problems_about(&s, "wds/a/s.yaml")[0];
    assert_eq!((yaml.line, yaml.column), (Some(5), Some(20)), "{yaml:?}");
    assert_eq!(
        yaml.message,
        "invalid YAML: mapping values are not allowed in this context"
    );
    let json = &problems_about(&s, "wds/a/j.json")[0];
    assert_eq!((json.line, json.column), (Some(3), Some(3)), "{json:?}");
    assert_eq!(json.message, "invalid JSON: expected `,` or `}`");
    let utf8 = &problems_about(&s, "wds/a/u.yaml")[0];
    assert_eq!(utf8.line, Some(2), "{utf8:?}");
    for p in &s.problems {
        assert!(!p.message.contains("hunter2"), "{p:?}");
    }
}

#[test]
fn problems_about_objects_carry_their_document_line() {
    let text = format!(
        "{}---\n\n# comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: Bad_Name, namespace: ns}}\n",
        cm("ok")
    );
    let s = snap(&[("wds/a/x.yaml", &text), ("wds/a/y.yaml", &cm("ok"))]);
    let found = problems_about(&s, "wds/a/x.yaml");
    let bad = found
        .iter()
        .find(|p| p.message.contains("Bad_Name"))
        .unwrap_or_else(|| panic!("{found:?}"));
    assert_eq!(bad.line, Some(9), "{bad:?}");
    // Both copies of the duplicate name their own line.
    let lines: Vec<Option<u32>> = s
        .problems
        .iter()
        .filter(|p| p.message.contains("more than once"))
        .map(|p| p.line)
        .collect();
    assert_eq!(lines, vec![Some(1), Some(1)], "{:?}", s.problems);
}

#[test]
fn serde_messages_name_types_not_values() {
    assert_eq!(
        super::redact("invalid type: string \"hunter2, expected x\", expected a boolean"),
        "invalid type: string, expected a boolean"
    );
    assert_eq!(
        super::redact("spec.x: invalid value: integer `5`, expected a port"),
        "spec.x: invalid value: integer, expected a port"
    );
    assert_eq!(
        super::redact("missing field `spec`"),
        "missing field `spec`"
    );
}

#[test]
fn unreadable_entries_are_problems_whatever_their_name() {
    let mut list = files(&[("wds/a/cm.yaml", &cm("x"))]);
    for path in ["wds/a/vendor", "wds/a/configs", "elsewhere/link"] {
        list.push(SourceFile {
            path: path.into(),
            content: Err("a symbolic link".into()),
        });
    }
    let s = load(&list);
    let paths: Vec<&str> = s.problems.iter().map(|p| p.file.as_str()).collect();
    // Outside every space nothing is read, so nothing is reported.
    assert_eq!(paths, vec!["wds/a/configs", "wds/a/vendor"]);
}
