//! Unit tests of the plan (spec §4.8, §6.1, §10; design §7, §9.1, §9.2, §9.6), on snapshots
//! loaded from in-memory YAML: no git, no I/O.

use serde_json::{Value, json};

use super::{Destination, PlacedObject, Plan, compute};
use crate::model::{Snapshot, SourceFile, UpsyncSet, load};

fn snap(list: &[(&str, &str)]) -> Snapshot {
    let files: Vec<SourceFile> = list
        .iter()
        .map(|(path, content)| SourceFile {
            path: (*path).to_string(),
            content: Ok(content.as_bytes().to_vec()),
        })
        .collect();
    load(&files)
}

/// A SyncTarget/Location pair as `kubectl kubestellar ensure location` makes it (spec §2.3).
fn pair(name: &str, labels: &str) -> String {
    located(name, name, labels, "")
}

/// A SyncTarget `wec` paired with Location `loc` carrying `labels` and `annotations` (YAML flow
/// map bodies).
fn located(wec: &str, loc: &str, labels: &str, annotations: &str) -> String {
    format!(
        "apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata:
  name: {wec}
  labels: {{id: {wec}}}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: {loc}
  labels: {{{labels}}}
  annotations: {{{annotations}}}
spec:
  resource: {{group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}}
  instanceSelector:
    matchLabels: {{id: {wec}}}
"
    )
}

fn ep(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata:
  name: {name}
spec:
{spec}"
    )
}

fn cm(ns: &str, name: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{{data}}}\n"
    )
}

fn dest<'a>(plan: &'a Plan, wec: &str) -> &'a Destination {
    plan.destinations
        .get(wec)
        .unwrap_or_else(|| panic!("no destination {wec}: {:?}", plan.destinations.keys()))
}

/// `group/Kind/namespace/name` of a WEC's objects, in plan order.
fn ids(plan: &Plan, wec: &str) -> Vec<String> {
    dest(plan, wec)
        .objects
        .iter()
        .map(|o| o.id.to_string())
        .collect()
}

fn placed<'a>(plan: &'a Plan, wec: &str, id: &str) -> &'a PlacedObject {
    dest(plan, wec)
        .objects
        .iter()
        .find(|o| o.id.to_string() == id)
        .unwrap_or_else(|| panic!("{id} not placed in {wec}: {:?}", ids(plan, wec)))
}

fn upsync(group: &str, resources: &[&str], namespaces: &[&str], names: &[&str]) -> UpsyncSet {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    UpsyncSet {
        api_group: group.into(),
        resources: strings(resources),
        namespaces: strings(namespaces),
        names: strings(names),
    }
}

#[test]
fn or_across_edge_placements_lists_every_selecting_placement() {
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod, tier: gold")),
        ("inventory/b.yaml", &pair("b", "env: prod")),
        ("inventory/c.yaml", &pair("c", "env: dev")),
        ("wds/w/cm.yaml", &cm("ns", "shared", "k: v")),
        ("wds/w/only.yaml", &cm("ns", "gold-only", "k: v")),
        (
            "wds/w/e1.yaml",
            &ep(
                "e1",
                "  locationSelectors: [{matchLabels: {env: prod}}]\n  downsync: [{objectNames: [shared]}]\n",
            ),
        ),
        (
            "wds/w/e2.yaml",
            &ep(
                "e2",
                "  locationSelectors: [{matchLabels: {tier: gold}}]\n  downsync: [{resources: [configmaps]}]\n",
            ),
        ),
        (
            "wds/w/e3.yaml",
            &ep(
                "e3",
                "  locationSelectors: [{matchLabels: {env: prod}}]\n  downsync: [{objectNames: [nothing-here]}]\n",
            ),
        ),
    ]);
    let plan = compute(&s);
    assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
    assert_eq!(
        ids(&plan, "a"),
        ["core/ConfigMap/ns/gold-only", "core/ConfigMap/ns/shared"]
    );
    assert_eq!(
        &*placed(&plan, "a", "core/ConfigMap/ns/shared").placements,
        ["e1", "e2"]
    );
    assert_eq!(
        &*placed(&plan, "a", "core/ConfigMap/ns/gold-only").placements,
        ["e2"]
    );
    assert_eq!(ids(&plan, "b"), ["core/ConfigMap/ns/shared"]);
    assert_eq!(
        &*placed(&plan, "b", "core/ConfigMap/ns/shared").placements,
        ["e1"]
    );
    assert!(
        placed(&plan, "b", "core/ConfigMap/ns/shared")
            .also_from
            .is_empty()
    );
    // Every WEC is a destination, even with nothing placed.
    assert_eq!(
        plan.destinations.keys().collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(dest(&plan, "c"), &Destination::default());
    // The summaries (SinglePlacementSlices plus feedback).
    let summary = |name: &str| {
        plan.placements
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no summary {name}"))
    };
    let e1 = summary("e1");
    assert_eq!(e1.wds, "w");
    let targets: Vec<(&str, &str)> = e1
        .destinations
        .iter()
        .map(|d| (d.location.as_str(), d.sync_target.as_str()))
        .collect();
    assert_eq!(targets, [("a", "a"), ("b", "b")]);
    assert_eq!(e1.matching_location_count, 2);
    assert_eq!(e1.objects, ["core/ConfigMap/ns/shared"]);
    assert_eq!(summary("e3").destinations.len(), 2);
    assert!(summary("e3").objects.is_empty());
}

#[test]
fn upsync_rules_are_the_deduplicated_union_per_wec() {
    let r1 = "{apiGroup: group1.test, resources: [sprockets, flanges], namespaces: [orbital], names: [george, cosmo]}";
    let r2 = "{apiGroup: group2.test, resources: [cogs], names: [william]}";
    let r3 = "{apiGroup: group3.test, resources: [widgets], names: [\"*\"]}";
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod, extended: 'yes'")),
        ("inventory/b.yaml", &pair("b", "env: prod")),
        ("inventory/c.yaml", &pair("c", "env: dev")),
        (
            "wds/c/ep.yaml",
            &ep(
                "c",
                &format!(
                    "  locationSelectors: [{{matchLabels: {{env: prod}}}}]\n  upsync: [{r1}, {r2}]\n"
                ),
            ),
        ),
        (
            "wds/s/ep.yaml",
            &ep(
                "s",
                &format!(
                    "  locationSelectors: [{{matchLabels: {{extended: 'yes'}}}}]\n  upsync: [{r3}, {r1}, {r1}]\n"
                ),
            ),
        ),
    ]);
    let plan = compute(&s);
    assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
    let g1 = upsync(
        "group1.test",
        &["sprockets", "flanges"],
        &["orbital"],
        &["george", "cosmo"],
    );
    let g2 = upsync("group2.test", &["cogs"], &[], &["william"]);
    let g3 = upsync("group3.test", &["widgets"], &[], &["*"]);
    let mut expected_a = vec![g1.clone(), g2.clone(), g3];
    expected_a.sort();
    assert_eq!(dest(&plan, "a").upsync, expected_a);
    let mut expected_b = vec![g1, g2];
    expected_b.sort();
    assert_eq!(dest(&plan, "b").upsync, expected_b);
    assert!(dest(&plan, "c").upsync.is_empty());
}

#[test]
fn bare_namespaces_are_listed_unless_the_namespace_object_is_placed() {
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod, full: 'yes'")),
        ("inventory/b.yaml", &pair("b", "env: prod")),
        ("wds/w/cm-apps.yaml", &cm("apps", "x", "")),
        ("wds/w/cm-web.yaml", &cm("web", "y", "")),
        (
            "wds/w/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: web, labels: {team: web}}\n",
        ),
        (
            "wds/w/cms.yaml",
            &ep(
                "cms",
                "  locationSelectors: [{matchLabels: {env: prod}}]\n  downsync: [{resources: [configmaps]}]\n",
            ),
        ),
        (
            "wds/w/ns-ep.yaml",
            &ep(
                "ns",
                "  locationSelectors: [{matchLabels: {full: 'yes'}}]\n  downsync: [{resources: [namespaces]}]\n",
            ),
        ),
    ]);
    let plan = compute(&s);
    assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
    assert_eq!(dest(&plan, "a").namespaces, ["apps"]);
    assert_eq!(
        ids(&plan, "a"),
        [
            "core/ConfigMap/apps/x",
            "core/ConfigMap/web/y",
            "core/Namespace/_cluster/web"
        ]
    );
    let ns = placed(&plan, "a", "core/Namespace/_cluster/web");
    assert_eq!(
        ns.object.pointer("/metadata/labels/team"),
        Some(&json!("web"))
    );
    assert_eq!(dest(&plan, "b").namespaces, ["apps", "web"]);
    assert_eq!(
        ids(&plan, "b"),
        ["core/ConfigMap/apps/x", "core/ConfigMap/web/y"]
    );
}

#[test]
fn create_only_and_singleton_bits_are_ored() {
    let create_only = "apiVersion: v1
kind: Secret
metadata:
  name: filled-in-later
  namespace: ns
  annotations: {edge.kubestellar.io/downsync-overwrite: \"false\"}
type: Opaque
---
apiVersion: v1
kind: Secret
metadata:
  name: overwritten
  namespace: ns
  annotations: {edge.kubestellar.io/downsync-overwrite: \"true\"}
type: Opaque
";
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod, one: 'yes'")),
        ("inventory/b.yaml", &pair("b", "env: prod")),
        ("wds/w/secrets.yaml", create_only),
        (
            "wds/w/all.yaml",
            &ep(
                "all",
                "  locationSelectors: [{matchLabels: {env: prod}}]\n  downsync: [{resources: [secrets]}]\n",
            ),
        ),
        (
            "wds/w/one.yaml",
            &ep(
                "one",
                "  locationSelectors: [{matchLabels: {one: 'yes'}}]\n  wantSingletonReportedState: true\n  downsync: [{resources: [secrets]}]\n",
            ),
        ),
    ]);
    let plan = compute(&s);
    assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
    for wec in ["a", "b"] {
        assert!(placed(&plan, wec, "core/Secret/ns/filled-in-later").create_only);
        assert!(!placed(&plan, wec, "core/Secret/ns/overwritten").create_only);
    }
    assert!(placed(&plan, "a", "core/Secret/ns/overwritten").want_singleton_reported_state);
    assert!(!placed(&plan, "b", "core/Secret/ns/overwritten").want_singleton_reported_state);
    assert_eq!(
        &*placed(&plan, "a", "core/Secret/ns/overwritten").placements,
        ["all", "one"]
    );
}

fn expanding(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: ns
  annotations: {{edge.kubestellar.io/expand-parameters: \"true\"}}
data:
  v: '{value}'
"
    )
}

#[test]
fn parameters_expand_per_destination_labels_over_annotations() {
    let s = snap(&[
        (
            "inventory/a.yaml",
            &located(
                "wec-a",
                "loc-a",
                "env: prod",
                "env: from-annotation, region: eu",
            ),
        ),
        (
            "inventory/b.yaml",
            &located("wec-b", "loc-b", "env: staging", "region: us"),
        ),
        (
            "wds/w/p.yaml",
            &expanding(
                "p",
                "%(env)/%(region)/%(gitstellar.io/wec)/%(gitstellar.io/location)/100%%",
            ),
        ),
        // Without the annotation nothing is expanded.
        ("wds/w/q.yaml", &cm("ns", "q", "v: '%(env)'")),
        (
            "wds/w/ep.yaml",
            &ep(
                "ep",
                "  locationSelectors: [{}]\n  downsync: [{resources: [configmaps]}]\n",
            ),
        ),
    ]);
    let plan = compute(&s);
    assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
    let v = |wec: &str, id: &str| placed(&plan, wec, id).object.pointer("/data/v").cloned();
    assert_eq!(
        v("wec-a", "core/ConfigMap/ns/p"),
        Some(json!("prod/eu/wec-a/loc-a/100%"))
    );
    assert_eq!(
        v("wec-b", "core/ConfigMap/ns/p"),
        Some(json!("staging/us/wec-b/loc-b/100%"))
    );
    assert_eq!(v("wec-a", "core/ConfigMap/ns/q"), Some(json!("%(env)")));
    // The WDS object itself is untouched.
    let wds_object = s.workloads[0]
        .objects
        .iter()
        .find(|o| o.id.name == "p")
        .expect("p");
    assert_eq!(
        wds_object.value.pointer("/data/v"),
        Some(&json!(
            "%(env)/%(region)/%(gitstellar.io/wec)/%(gitstellar.io/location)/100%%"
        ))
    );
}

#[test]
fn an_undefined_parameter_withholds_the_object_from_that_wec_only() {
    let s = snap(&[
        (
            "inventory/a.yaml",
            &located("wec-a", "loc-a", "env: prod", "region: eu"),
        ),
        (
            "inventory/b.yaml",
            &located("wec-b", "loc-b", "env: prod", ""),
        ),
        ("wds/w/p.yaml", &expanding("p", "%(region)")),
        ("wds/w/plain.yaml", &cm("ns", "plain", "k: v")),
        (
            "wds/w/ep.yaml",
            &ep(
                "ep",
                "  locationSelectors: [{}]\n  downsync: [{resources: [configmaps]}]\n",
            ),
        ),
    ]);
    let plan = compute(&s);
    assert_eq!(
        placed(&plan, "wec-a", "core/ConfigMap/ns/p")
            .object
            .pointer("/data/v"),
        Some(&json!("eu"))
    );
    assert_eq!(ids(&plan, "wec-b"), ["core/ConfigMap/ns/plain"]);
    assert_eq!(plan.problems.len(), 1, "{:#?}", plan.problems);
    let p = &plan.problems[0];
    assert_eq!(p.object, "core/ConfigMap/ns/p");
    assert_eq!(p.file, "wds/w/p.yaml");
    assert!(p.message.contains("wec-b"), "{}", p.message);
    assert!(!p.message.contains("wec-a"), "{}", p.message);
    assert!(p.message.contains("region"), "{}", p.message);
}

#[test]
fn a_missing_customizer_withholds_the_object_from_every_wec() {
    let object = "apiVersion: v1
kind: ConfigMap
metadata:
  name: customized
  namespace: ns
  annotations: {edge.kubestellar.io/customizer: nope}
data: {k: v}
";
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod")),
        ("inventory/b.yaml", &pair("b", "env: prod")),
        ("wds/w/c.yaml", object),
        ("wds/w/plain.yaml", &cm("ns", "plain", "k: v")),
        (
            "wds/w/ep.yaml",
            &ep(
                "ep",
                "  locationSelectors: [{}]\n  downsync: [{resources: [configmaps]}]\n",
            ),
        ),
    ]);
    let plan = compute(&s);
    assert_eq!(ids(&plan, "a"), ["core/ConfigMap/ns/plain"]);
    assert_eq!(ids(&plan, "b"), ["core/ConfigMap/ns/plain"]);
    assert_eq!(plan.problems.len(), 1, "{:#?}", plan.problems);
    assert_eq!(plan.problems[0].object, "core/ConfigMap/ns/customized");
    assert!(
        plan.problems[0].message.contains("nope"),
        "{}",
        plan.problems[0].message
    );
}

#[test]
fn same_identity_from_two_wdses_merges_when_identical_else_first_wds_wins() {
    let send_all = ep(
        "all",
        "  locationSelectors: [{}]\n  downsync: [{resources: [configmaps]}]\n",
    );
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod")),
        ("wds/beta/same.yaml", &cm("ns", "same", "k: v")),
        (
            "wds/beta/differs.yaml",
            &cm("ns", "differs", "k: from-beta"),
        ),
        ("wds/beta/ep.yaml", &send_all),
        ("wds/alpha/same.yaml", &cm("ns", "same", "k: v")),
        (
            "wds/alpha/differs.yaml",
            &cm("ns", "differs", "k: from-alpha"),
        ),
        ("wds/alpha/ep.yaml", &send_all),
    ]);
    let plan = compute(&s);
    assert_eq!(
        ids(&plan, "a"),
        ["core/ConfigMap/ns/differs", "core/ConfigMap/ns/same"]
    );
    let same = placed(&plan, "a", "core/ConfigMap/ns/same");
    assert_eq!(&*same.wds, "alpha");
    assert_eq!(
        same.also_from.iter().map(|w| &**w).collect::<Vec<_>>(),
        ["beta"]
    );
    let differs = placed(&plan, "a", "core/ConfigMap/ns/differs");
    assert_eq!(&*differs.wds, "alpha");
    assert!(differs.also_from.is_empty());
    assert_eq!(
        differs.object.pointer("/data/k"),
        Some(&json!("from-alpha"))
    );
    assert_eq!(plan.problems.len(), 1, "{:#?}", plan.problems);
    let p = &plan.problems[0];
    assert_eq!(p.object, "core/ConfigMap/ns/differs");
    assert!(
        p.message.contains("alpha") && p.message.contains("beta"),
        "{}",
        p.message
    );
}

#[test]
fn objects_are_sorted_by_group_kind_namespace_name() {
    let objects = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: c, namespace: a}
---
apiVersion: v1
kind: Secret
metadata: {name: a, namespace: a}
---
apiVersion: v1
kind: Namespace
metadata: {name: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: z, namespace: a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: a}
";
    let s = snap(&[
        ("inventory/a.yaml", &pair("x", "env: prod")),
        ("wds/w/objects.yaml", objects),
        (
            "wds/w/ep.yaml",
            &ep("ep", "  locationSelectors: [{}]\n  downsync: [{}]\n"),
        ),
    ]);
    let plan = compute(&s);
    assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
    assert_eq!(
        ids(&plan, "x"),
        [
            "core/ConfigMap/a/b",
            "core/ConfigMap/a/z",
            "core/ConfigMap/b/a",
            "core/Namespace/_cluster/b",
            "core/Secret/a/a",
            "apps/Deployment/a/c",
            "apps/Deployment/b/d",
            "rbac.authorization.k8s.io/ClusterRole/_cluster/reader",
        ]
    );
    assert_eq!(dest(&plan, "x").namespaces, ["a"]);
}

#[test]
fn placed_objects_are_projected_copies() {
    let object = "apiVersion: v1
kind: ConfigMap
metadata:
  name: m
  namespace: ns
  uid: 0b7a-1
  resourceVersion: \"42\"
  labels: {app: web}
data: {k: v}
";
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "")),
        ("wds/w/m.yaml", object),
        (
            "wds/w/ep.yaml",
            &ep("ep", "  locationSelectors: [{}]\n  downsync: [{}]\n"),
        ),
    ]);
    let plan = compute(&s);
    let m = placed(&plan, "a", "core/ConfigMap/ns/m");
    assert_eq!(
        m.object.pointer("/metadata/labels"),
        Some(&json!({"app": "web", "edge.kubestellar.io/projected": "yes"}))
    );
    assert_eq!(m.object.pointer("/metadata/uid"), None);
    assert_eq!(m.object.pointer("/metadata/resourceVersion"), None);
    assert_eq!(m.object.pointer("/data/k"), Some(&json!("v")));
}

/// Spec §10.1–10.3: example1 (florin & guilder).
fn example1() -> Vec<(String, String)> {
    let inventory = format!(
        "{}---\n{}",
        "apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata:
  name: florin
  labels: {id: florin, loc-name: florin, env: prod}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: florin
  labels: {loc-name: florin, env: prod}
spec:
  resource: {group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}
  instanceSelector: {matchLabels: {id: florin}}
",
        "apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata:
  name: guilder
  labels: {id: guilder, loc-name: guilder, env: prod, extended: yes}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: guilder
  labels: {loc-name: guilder, env: prod, extended: yes}
spec:
  resource: {group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}
  instanceSelector: {matchLabels: {id: guilder}}
"
    );
    let replica_set = |ns: &str, kind: &str, name: &str, app: &str, port: u16| {
        format!(
            "apiVersion: apps/v1
kind: {kind}
metadata:
  name: {name}
  namespace: {ns}
  annotations: {{edge.kubestellar.io/customizer: example-customizer}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      containers:
      - name: httpd
        image: library/httpd:2.4
        env: [{{name: EXAMPLE_VAR, value: example value}}]
        ports: [{{name: http, containerPort: 80, hostPort: {port}, protocol: TCP}}]
        volumeMounts: [{{name: htdocs, readOnly: true, mountPath: /usr/local/apache2/htdocs}}]
      volumes: [{{name: htdocs, configMap: {{name: httpd-htdocs}}}}]
"
        )
    };
    let page = |ns: &str, what: &str| {
        format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: httpd-htdocs
  namespace: {ns}
  annotations: {{edge.kubestellar.io/expand-parameters: \"true\"}}
data:
  index.html: |
    <!DOCTYPE html>
    <html><body>
    This is a {what} web site.
    Running in %(loc-name).
    </body></html>
"
        )
    };
    let customizer = |ns: &str, value: &str| {
        format!(
            "apiVersion: edge.kubestellar.io/v2alpha1
kind: Customizer
metadata:
  name: example-customizer
  namespace: {ns}
  annotations: {{edge.kubestellar.io/expand-parameters: \"true\"}}
replacements:
- path: \"$.spec.template.spec.containers.0.env.0.value\"
  value: '{value}'
"
        )
    };
    let ep_c = "apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata: {name: edge-placement-c}
spec:
  locationSelectors: [{matchLabels: {env: prod}}]
  downsync:
  - {apiGroup: \"\", resources: [configmaps], namespaces: [commonstuff], objectNames: [httpd-htdocs]}
  - {apiGroup: apps, resources: [replicasets], namespaces: [commonstuff]}
  wantSingletonReportedState: true
  upsync:
  - {apiGroup: group1.test, resources: [sprockets, flanges], namespaces: [orbital], names: [george, cosmo]}
  - {apiGroup: group2.test, resources: [cogs], names: [william]}
";
    let ep_s = "apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata: {name: edge-placement-s}
spec:
  locationSelectors: [{matchLabels: {env: prod, extended: \"yes\"}}]
  downsync:
  - {apiGroup: \"\", resources: [configmaps], namespaceSelectors: [{matchLabels: {special: \"yes\"}}]}
  - {apiGroup: apps, resources: [deployments], namespaceSelectors: [{matchLabels: {special: \"yes\"}}], objectNames: [speciald]}
  - {apiGroup: apiregistration.k8s.io, resources: [apiservices], objectNames: [v1090.example.my]}
  - {apiGroup: stable.example.com, resources: [crontabs], namespaces: [specialstuff], objectNames: [my-new-cron-object]}
  - {apiGroup: \"\", resources: [namespaces], objectNames: [specialstuff]}
  wantSingletonReportedState: true
  upsync:
  - {apiGroup: group1.test, resources: [sprockets, flanges], namespaces: [orbital], names: [george, cosmo]}
  - {apiGroup: group3.test, resources: [widgets], names: [\"*\"]}
";
    let special = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
              replicas: {type: integer}
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct], categories: [all]}
---
apiVersion: v1
kind: Namespace
metadata:
  name: specialstuff
  labels: {special: \"yes\"}
  annotations: {just-for: fun}
---
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: my-new-cron-object, namespace: specialstuff}
spec: {cronSpec: \"* * * * */5\", image: my-awesome-cron-image}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1090.example.my}
spec:
  group: example.my
  version: v1090
  groupPriorityMinimum: 360
  versionPriority: 42
  service: {namespace: my-example, name: my-service}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kube-root-ca.crt, namespace: specialstuff}
data: {ca.crt: x}
";
    vec![
        ("inventory/imw1.yaml".into(), inventory),
        (
            "wds/wmw-c/ns.yaml".into(),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: commonstuff}\n".into(),
        ),
        ("wds/wmw-c/page.yaml".into(), page("commonstuff", "common")),
        (
            "wds/wmw-c/customizer.yaml".into(),
            customizer("commonstuff", "\"env is %(env)\""),
        ),
        (
            "wds/wmw-c/commond.yaml".into(),
            replica_set("commonstuff", "ReplicaSet", "commond", "common", 8081),
        ),
        ("wds/wmw-c/ep.yaml".into(), ep_c.into()),
        ("wds/wmw-s/special.yaml".into(), special.into()),
        (
            "wds/wmw-s/page.yaml".into(),
            page("specialstuff", "special"),
        ),
        (
            "wds/wmw-s/customizer.yaml".into(),
            customizer("specialstuff", "\"in %(env) env\""),
        ),
        (
            "wds/wmw-s/speciald.yaml".into(),
            replica_set("specialstuff", "Deployment", "speciald", "special", 8082),
        ),
        ("wds/wmw-s/ep.yaml".into(), ep_s.into()),
    ]
}

fn compute_owned(list: &[(String, String)]) -> Plan {
    let borrowed: Vec<(&str, &str)> = list.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    compute(&snap(&borrowed))
}

#[test]
fn example1_mailboxes_match_spec_10_5() {
    let plan = compute_owned(&example1());
    assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
    assert_eq!(
        ids(&plan, "florin"),
        [
            "core/ConfigMap/commonstuff/httpd-htdocs",
            "apps/ReplicaSet/commonstuff/commond"
        ]
    );
    assert_eq!(dest(&plan, "florin").namespaces, ["commonstuff"]);
    assert_eq!(
        ids(&plan, "guilder"),
        [
            "core/ConfigMap/commonstuff/httpd-htdocs",
            "core/ConfigMap/specialstuff/httpd-htdocs",
            "core/Namespace/_cluster/specialstuff",
            "apiextensions.k8s.io/CustomResourceDefinition/_cluster/crontabs.stable.example.com",
            "apiregistration.k8s.io/APIService/_cluster/v1090.example.my",
            "apps/Deployment/specialstuff/speciald",
            "apps/ReplicaSet/commonstuff/commond",
            "stable.example.com/CronTab/specialstuff/my-new-cron-object",
        ]
    );
    assert_eq!(dest(&plan, "guilder").namespaces, ["commonstuff"]);
    let g1 = upsync(
        "group1.test",
        &["sprockets", "flanges"],
        &["orbital"],
        &["george", "cosmo"],
    );
    let g2 = upsync("group2.test", &["cogs"], &[], &["william"]);
    let g3 = upsync("group3.test", &["widgets"], &[], &["*"]);
    let mut florin = vec![g1.clone(), g2.clone()];
    florin.sort();
    assert_eq!(dest(&plan, "florin").upsync, florin);
    let mut guilder = vec![g1, g2, g3];
    guilder.sort();
    assert_eq!(dest(&plan, "guilder").upsync, guilder);
    // Customization (spec §10.6).
    let env = "/spec/template/spec/containers/0/env/0/value";
    for wec in ["florin", "guilder"] {
        let commond = placed(&plan, wec, "apps/ReplicaSet/commonstuff/commond");
        assert_eq!(commond.object.pointer(env), Some(&json!("env is prod")));
        let page = placed(&plan, wec, "core/ConfigMap/commonstuff/httpd-htdocs");
        let html = page
            .object
            .pointer("/data/index.html")
            .and_then(Value::as_str);
        let html = html.expect("index.html");
        assert!(html.contains(&format!("Running in {wec}.")), "{html}");
        assert!(html.contains("This is a common web site."), "{html}");
        assert!(commond.want_singleton_reported_state);
    }
    let speciald = placed(&plan, "guilder", "apps/Deployment/specialstuff/speciald");
    assert_eq!(speciald.object.pointer(env), Some(&json!("in prod env")));
    let ns = placed(&plan, "guilder", "core/Namespace/_cluster/specialstuff");
    assert_eq!(
        ns.object.pointer("/metadata/annotations/just-for"),
        Some(&json!("fun"))
    );
    // Spec §10.4.
    let dests = |name: &str| -> Vec<String> {
        plan.placements
            .iter()
            .find(|p| p.name == name)
            .expect(name)
            .destinations
            .iter()
            .map(|d| format!("{}/{}", d.location, d.sync_target))
            .collect()
    };
    assert_eq!(
        dests("edge-placement-c"),
        ["florin/florin", "guilder/guilder"]
    );
    assert_eq!(dests("edge-placement-s"), ["guilder/guilder"]);
}

#[test]
fn example1_variants_of_spec_10_8() {
    // 10.8.1: delete edge-placement-c.
    let without_c: Vec<(String, String)> = example1()
        .into_iter()
        .filter(|(path, _)| path != "wds/wmw-c/ep.yaml")
        .collect();
    let plan = compute_owned(&without_c);
    assert_eq!(dest(&plan, "florin"), &Destination::default());
    assert!(
        !ids(&plan, "guilder")
            .iter()
            .any(|id| id.contains("commonstuff"))
    );
    assert_eq!(dest(&plan, "guilder").upsync.len(), 2);
    // 10.8.2: drop `extended: "yes"` from edge-placement-s: the special workload reaches florin.
    let relabelled: Vec<(String, String)> = example1()
        .into_iter()
        .map(|(path, text)| {
            let text = if path == "wds/wmw-s/ep.yaml" {
                text.replace(", extended: \"yes\"", "")
            } else {
                text
            };
            (path, text)
        })
        .collect();
    let plan = compute_owned(&relabelled);
    let florin = ids(&plan, "florin");
    assert!(
        florin.contains(&"apps/Deployment/specialstuff/speciald".to_string()),
        "{florin:?}"
    );
    assert_eq!(florin, ids(&plan, "guilder"));
}

#[test]
fn compute_is_deterministic() {
    let list = example1();
    let a = compute_owned(&list);
    let b = compute_owned(&list);
    assert_eq!(a, b);
    let json_a = serde_json::to_string_pretty(&a).expect("json");
    assert_eq!(json_a, serde_json::to_string_pretty(&b).expect("json"));
    let mut reversed = list;
    reversed.reverse();
    let c = compute_owned(&reversed);
    assert_eq!(json_a, serde_json::to_string_pretty(&c).expect("json"));
}

#[test]
fn json_follows_the_cli_contract_of_design_7() {
    let plan = compute_owned(&example1());
    let value = serde_json::to_value(&plan).expect("json");
    let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["revision", "placements", "destinations", "problems"]);
    let placement = &value["placements"][0];
    assert_eq!(placement["wds"], json!("wmw-c"));
    assert_eq!(placement["name"], json!("edge-placement-c"));
    assert_eq!(
        placement["destinations"][0],
        json!({"location": "florin", "syncTarget": "florin"})
    );
    let object = &value["destinations"]["florin"]["objects"][0];
    assert_eq!(object["wds"], json!("wmw-c"));
    assert_eq!(object["placements"], json!(["edge-placement-c"]));
    assert_eq!(object["object"]["kind"], json!("ConfigMap"));
    assert!(value["destinations"]["florin"]["upsync"].is_array());
    assert!(value["problems"].is_array());
}

#[test]

fn merged_copies_or_their_singleton_bits() {
    // Spec §4.8: per (object, destination) the mode bits are OR-ed over every EP, in all WDSes.
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "")),
        ("wds/alpha/same.yaml", &cm("ns", "same", "k: v")),
        (
            "wds/alpha/ep.yaml",
            &ep(
                "plain",
                "  locationSelectors: [{}]\n  downsync: [{resources: [configmaps]}]\n",
            ),
        ),
        ("wds/beta/same.yaml", &cm("ns", "same", "k: v")),
        (
            "wds/beta/ep.yaml",
            &ep(
                "singleton",
                "  locationSelectors: [{}]\n  wantSingletonReportedState: true\n  downsync: [{resources: [configmaps]}]\n",
            ),
        ),
    ]);
    let plan = compute(&s);
    let same = placed(&plan, "a", "core/ConfigMap/ns/same");
    assert_eq!(&*same.wds, "alpha");
    assert_eq!(
        same.also_from.iter().map(|w| &**w).collect::<Vec<_>>(),
        ["beta"]
    );
    assert!(same.want_singleton_reported_state);
}
