//! Unit tests of the where- and what-resolvers (spec §2.3, §3, §4.3, §5.2; design §9.3–9.5,
//! §9.13, §9.15), on snapshots loaded from in-memory YAML: no git, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::json;

use super::{Resolution, resolve};
use crate::model::{Snapshot, SourceFile, load};

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

/// A SyncTarget/Location pair as `kubectl kubestellar ensure location NAME labels…` makes it
/// (spec §2.3): the same name, `id=NAME` on the SyncTarget, the user labels on both.
fn pair(name: &str, labels: &str) -> String {
    let sep = if labels.is_empty() { "" } else { ", " };
    format!(
        "apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata:
  name: {name}
  labels: {{id: {name}{sep}{labels}}}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: {name}
  labels: {{{labels}}}
spec:
  resource: {{group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}}
  instanceSelector:
    matchLabels: {{id: {name}}}
"
    )
}

fn sync_target(name: &str, labels: &str, uid: Option<&str>) -> String {
    let uid = uid.map(|u| format!("\n  uid: {u}")).unwrap_or_default();
    format!(
        "apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata:
  name: {name}{uid}
  labels: {{{labels}}}
"
    )
}

/// A Location; `instance_selector` is the YAML of `spec.instanceSelector`, or `None` to omit it.
fn location(name: &str, labels: &str, instance_selector: Option<&str>) -> String {
    let sel = instance_selector
        .map(|s| format!("\n  instanceSelector: {s}"))
        .unwrap_or_default();
    format!(
        "apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: {name}
  labels: {{{labels}}}
spec:
  resource: {{group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}}{sel}
"
    )
}

/// An EdgePlacement whose spec is `spec` (YAML, indented by two spaces).
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

/// An EdgePlacement going everywhere `env=prod` is, with these downsync tests (YAML flow list).
fn ep_prod(name: &str, downsync: &str) -> String {
    ep(
        name,
        &format!("  locationSelectors: [{{matchLabels: {{env: prod}}}}]\n  downsync: {downsync}\n"),
    )
}

fn placement<'a>(
    s: &Snapshot,
    r: &'a Resolution,
    wds: &str,
    name: &str,
) -> &'a super::ResolvedPlacement {
    r.placements
        .iter()
        .find(|p| {
            let w = &s.workloads[p.wds];
            w.name == wds && w.edge_placements[p.index].meta.name == name
        })
        .unwrap_or_else(|| panic!("no EdgePlacement {wds}/{name}"))
}

/// The WEC names an EdgePlacement reaches.
fn dests(s: &Snapshot, r: &Resolution, wds: &str, name: &str) -> Vec<String> {
    placement(s, r, wds, name)
        .destinations
        .iter()
        .map(|&d| r.wecs[d].name.clone())
        .collect()
}

/// The objects an EdgePlacement selects, as `group/Kind/namespace/name`, sorted.
fn selected(s: &Snapshot, r: &Resolution, wds: &str, name: &str) -> BTreeSet<String> {
    let p = placement(s, r, wds, name);
    p.objects
        .iter()
        .map(|&o| s.workloads[p.wds].objects[o].id.to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Problems mentioning `needle` in their object or message.
fn problems_with(s: &Snapshot, r: &Resolution, needle: &str) -> usize {
    s.problems
        .iter()
        .chain(&r.problems)
        .filter(|p| p.object.contains(needle) || p.message.contains(needle))
        .count()
}

fn cm(ns: &str, name: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}\n"
    )
}

fn namespace(name: &str, labels: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n")
}

const CLUSTER_ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: []
";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
";

// ---------------------------------------------------------------------------------------------
// Where (spec §2.3, §3, §5.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn locations_pair_with_their_sync_target_by_instance_selector() {
    let s = snap(&[
        ("inventory/florin.yaml", &pair("florin", "env: prod")),
        (
            "inventory/guilder.yaml",
            &pair("guilder", "env: prod, extended: 'yes'"),
        ),
        ("inventory/dev.yaml", &pair("dev", "env: dev")),
        ("wds/c/ep.yaml", &ep_prod("c", "[]")),
        (
            "wds/s/ep.yaml",
            &ep(
                "s",
                "  locationSelectors: [{matchLabels: {env: prod, extended: 'yes'}}]\n",
            ),
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(
        r.wecs.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
        ["dev", "florin", "guilder"]
    );
    for wec in &r.wecs {
        assert_eq!(wec.placement.location_name, wec.name);
        assert_eq!(wec.placement.sync_target_name, wec.name);
        assert_eq!(wec.placement.cluster, "inventory");
    }
    assert_eq!(dests(&s, &r, "c", "c"), ["florin", "guilder"]);
    assert_eq!(placement(&s, &r, "c", "c").matching_location_count, 2);
    assert_eq!(dests(&s, &r, "s", "s"), ["guilder"]);
    assert_eq!(placement(&s, &r, "s", "s").matching_location_count, 1);
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
}

#[test]
fn a_location_without_instance_selector_pairs_with_nothing_and_is_a_problem() {
    let s = snap(&[
        (
            "inventory/st.yaml",
            &sync_target("lonely", "id: lonely, env: prod", None),
        ),
        ("inventory/loc.yaml", &location("lonely", "env: prod", None)),
        ("wds/a/ep.yaml", &ep_prod("ep", "[]")),
    ]);
    let r = resolve(&s);
    // The SyncTarget is still a WEC (it gets an empty mailbox), but no Location reaches it.
    assert_eq!(r.wecs.len(), 1);
    assert_eq!(r.wecs[0].location, None);
    assert!(dests(&s, &r, "a", "ep").is_empty());
    let about_location: Vec<_> = r
        .problems
        .iter()
        .filter(|p| p.object.contains("Location") && p.object.contains("lonely"))
        .collect();
    assert_eq!(about_location.len(), 1, "{:#?}", r.problems);
    assert!(about_location[0].message.contains("instanceSelector"));
}

#[test]

fn matching_location_count_counts_locations_whatever_their_pairing() {
    // Spec §4.2: matchingLocationCount is the number of Locations matching locationSelectors;
    // whether a Location pairs with a SyncTarget does not enter into it.
    let s = snap(&[
        ("inventory/a.yaml", &location("a", "env: prod", None)),
        (
            "inventory/b.yaml",
            &location("b", "env: prod", Some("{matchLabels: {id: nobody}}")),
        ),
        (
            "inventory/c.yaml",
            &location(
                "c",
                "env: prod",
                Some("{matchExpressions: [{key: id, operator: Bogus}]}"),
            ),
        ),
        ("wds/a/ep.yaml", &ep_prod("ep", "[]")),
    ]);
    let r = resolve(&s);
    assert!(dests(&s, &r, "a", "ep").is_empty());
    assert_eq!(placement(&s, &r, "a", "ep").matching_location_count, 3);
}

/// Two inventory spaces, `east` (SyncTargets e1, e2) and `west` (w1).
fn two_inventories(east_selector: &str) -> Vec<(String, String)> {
    vec![
        (
            "gitstellar.yaml".into(),
            "inventorySpaces: [\"inv/*\"]\nworkloadSpaces: [\"wds/*\"]\n".into(),
        ),
        (
            "inv/east/e1.yaml".into(),
            sync_target("e1", "id: e1, zone: a", None),
        ),
        (
            "inv/east/e2.yaml".into(),
            sync_target("e2", "id: e2, zone: b", None),
        ),
        (
            "inv/east/loc.yaml".into(),
            location("east", "env: prod, side: east", Some(east_selector)),
        ),
        (
            "inv/west/w1.yaml".into(),
            sync_target("w1", "id: w1, zone: a", None),
        ),
        (
            "inv/west/loc.yaml".into(),
            location(
                "west",
                "env: prod, side: west",
                Some("{matchLabels: {id: w1}}"),
            ),
        ),
        (
            "wds/a/eps.yaml".into(),
            [
                ep(
                    "east",
                    "  locationSelectors: [{matchLabels: {side: east}}]\n",
                ),
                ep(
                    "west",
                    "  locationSelectors: [{matchLabels: {side: west}}]\n",
                ),
                ep(
                    "both",
                    "  locationSelectors: [{matchLabels: {env: prod}}]\n",
                ),
            ]
            .join("---\n"),
        ),
    ]
}

fn snap_owned(list: &[(String, String)]) -> Snapshot {
    let borrowed: Vec<(&str, &str)> = list.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    snap(&borrowed)
}

#[test]
fn empty_instance_selector_matches_every_sync_target_of_its_own_space_only() {
    let s = snap_owned(&two_inventories("{}"));
    let r = resolve(&s);
    assert_eq!(s.inventories.len(), 2);
    assert_eq!(dests(&s, &r, "a", "east"), ["e1", "e2"]);
    assert_eq!(dests(&s, &r, "a", "west"), ["w1"]);
    assert_eq!(dests(&s, &r, "a", "both"), ["e1", "e2", "w1"]);
    assert_eq!(placement(&s, &r, "a", "both").matching_location_count, 2);
    let w1 = r.wec("w1").expect("w1");
    assert_eq!(w1.placement.cluster, "west");
    assert_eq!(w1.placement.location_name, "west");
    let e2 = r.wec("e2").expect("e2");
    assert_eq!(e2.placement.cluster, "east");
    assert_eq!(e2.placement.location_name, "east");
}

#[test]
fn instance_selector_never_reaches_into_another_inventory_space() {
    // zone=a labels e1 (east) and w1 (west); the east Location must pair with e1 only.
    let s = snap_owned(&two_inventories("{matchLabels: {zone: a}}"));
    let r = resolve(&s);
    assert_eq!(dests(&s, &r, "a", "east"), ["e1"]);
    // And a selector naming only a SyncTarget of the other space pairs with nothing.
    let s = snap_owned(&two_inventories("{matchLabels: {id: w1}}"));
    let r = resolve(&s);
    assert!(dests(&s, &r, "a", "east").is_empty());
    assert_eq!(dests(&s, &r, "a", "both"), ["w1"]);
}

#[test]
fn location_selectors_are_ored_and_empty_selects_nothing() {
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "tier: gold")),
        ("inventory/b.yaml", &pair("b", "tier: silver")),
        ("inventory/c.yaml", &pair("c", "tier: bronze")),
        (
            "wds/w/eps.yaml",
            &[
                ep(
                    "or",
                    "  locationSelectors: [{matchLabels: {tier: gold}}, {matchLabels: {tier: bronze}}]\n",
                ),
                ep("none", "  locationSelectors: []\n"),
                ep("absent", "  downsync: [{}]\n"),
                ep("all", "  locationSelectors: [{}]\n"),
            ]
            .join("---\n"),
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(dests(&s, &r, "w", "or"), ["a", "c"]);
    assert_eq!(placement(&s, &r, "w", "or").matching_location_count, 2);
    assert!(dests(&s, &r, "w", "none").is_empty());
    assert_eq!(placement(&s, &r, "w", "none").matching_location_count, 0);
    assert!(dests(&s, &r, "w", "absent").is_empty());
    assert_eq!(placement(&s, &r, "w", "absent").matching_location_count, 0);
    assert_eq!(dests(&s, &r, "w", "all"), ["a", "b", "c"]);
    assert_eq!(placement(&s, &r, "w", "all").matching_location_count, 3);
}

#[test]
fn match_expressions_operators() {
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod, region: eu")),
        ("inventory/b.yaml", &pair("b", "env: dev, region: us")),
        ("inventory/c.yaml", &pair("c", "env: test")),
        (
            "wds/w/eps.yaml",
            &[
                ep(
                    "in",
                    "  locationSelectors: [{matchExpressions: [{key: env, operator: In, values: [prod, test]}]}]\n",
                ),
                ep(
                    "notin",
                    "  locationSelectors: [{matchExpressions: [{key: region, operator: NotIn, values: [eu]}]}]\n",
                ),
                ep(
                    "exists",
                    "  locationSelectors: [{matchExpressions: [{key: region, operator: Exists}]}]\n",
                ),
                ep(
                    "doesnotexist",
                    "  locationSelectors: [{matchExpressions: [{key: region, operator: DoesNotExist}]}]\n",
                ),
                ep(
                    "and",
                    "  locationSelectors: [{matchLabels: {env: prod}, matchExpressions: [{key: region, operator: In, values: [us]}]}]\n",
                ),
            ]
            .join("---\n"),
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(dests(&s, &r, "w", "in"), ["a", "c"]);
    // NotIn passes when the key is absent.
    assert_eq!(dests(&s, &r, "w", "notin"), ["b", "c"]);
    assert_eq!(dests(&s, &r, "w", "exists"), ["a", "b"]);
    assert_eq!(dests(&s, &r, "w", "doesnotexist"), ["c"]);
    assert!(dests(&s, &r, "w", "and").is_empty());
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
}

#[test]
fn an_invalid_location_selector_is_a_problem_and_the_others_still_apply() {
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod")),
        ("inventory/b.yaml", &pair("b", "env: dev")),
        (
            "wds/w/ep.yaml",
            &ep(
                "ep",
                "  locationSelectors:\n  - matchExpressions: [{key: env, operator: In}]\n  - matchLabels: {env: dev}\n",
            ),
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(dests(&s, &r, "w", "ep"), ["b"]);
    assert_eq!(
        problems_with(&s, &r, "locationSelectors[0]"),
        1,
        "{:#?}",
        r.problems
    );
}

#[test]
fn sync_target_uid_is_the_given_uid_else_a_stable_derived_uuid() {
    let list = [
        (
            "inventory/a.yaml",
            sync_target("a", "id: a", Some("11111111-2222-3333-4444-555555555555")),
        ),
        ("inventory/b.yaml", sync_target("b", "id: b", None)),
        ("inventory/c.yaml", sync_target("c", "id: c", None)),
    ];
    let list: Vec<(&str, &str)> = list.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let s = snap(&list);
    let r = resolve(&s);
    let uid = |r: &Resolution, n: &str| r.wec(n).expect(n).placement.sync_target_uid.clone();
    assert_eq!(uid(&r, "a"), "11111111-2222-3333-4444-555555555555");
    let b = uid(&r, "b");
    assert_eq!(b.len(), 36, "{b}");
    for (i, ch) in b.chars().enumerate() {
        if [8, 13, 18, 23].contains(&i) {
            assert_eq!(ch, '-', "{b}");
        } else {
            assert!(ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase(), "{b}");
        }
    }
    assert_ne!(b, uid(&r, "c"));
    assert_eq!(b, super::r#where::derived_uid("inventory", "b"));
    // Stable across revisions: other content changes, the UID does not.
    let mut more = list.clone();
    let extra = pair("d", "env: prod");
    more.push(("inventory/d.yaml", &extra));
    more.push((
        "wds/x/ep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    ));
    let r2 = resolve(&snap(&more));
    assert_eq!(uid(&r2, "b"), b);
}

// ---------------------------------------------------------------------------------------------
// What (spec §4.3, design §9.3–9.5, §9.15)
// ---------------------------------------------------------------------------------------------

/// Spec §10.8.4, KubeStellar's `what-resolver_test.go`.
fn what_resolver_scenario() -> Vec<(String, String)> {
    let ep1 = ep(
        "ep1",
        "  locationSelectors: [{matchLabels: {env: prod}}]
  wantSingletonReportedState: true
  downsync:
  - apiGroup: \"\"
    resources: [configmaps]
    namespaceSelectors: [{matchLabels: {kubernetes.io/metadata.name: default}}]
    objectNames: [cm1, cmx, cm3]
    labelSelectors: [{matchLabels: {foo: baz}}, {matchLabels: {foo: bar}}]
  - apiGroup: \"\"
    resources: [namespaces]
    objectNames: [ns2]
",
    );
    let cm3 = "apiVersion: v1
kind: ConfigMap
metadata:
  name: cm3
  namespace: default
  labels: {foo: baz}
  annotations: {edge.kubestellar.io/downsync-overwrite: \"false\"}
";
    vec![
        ("inventory/a.yaml".into(), pair("a", "env: prod")),
        (
            "wds/w/ns.yaml".into(),
            [
                namespace("default", "kubernetes.io/metadata.name: default"),
                namespace("ns2", "kubernetes.io/metadata.name: ns2"),
            ]
            .join("---\n"),
        ),
        ("wds/w/cm1.yaml".into(), cm("default", "cm1", "foo: bar")),
        ("wds/w/cm2.yaml".into(), cm("default", "cm2", "foo: bar")),
        ("wds/w/cm3.yaml".into(), cm3.into()),
        ("wds/w/ep.yaml".into(), ep1),
    ]
}

#[test]
fn what_resolver_scenario_of_spec_10_8_4() {
    let s = snap_owned(&what_resolver_scenario());
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    let r = resolve(&s);
    assert_eq!(
        selected(&s, &r, "w", "ep1"),
        set(&[
            "core/ConfigMap/default/cm1",
            "core/ConfigMap/default/cm3",
            "core/Namespace/_cluster/ns2",
        ])
    );
    assert!(placement(&s, &r, "w", "ep1").implicit.is_empty());
    // Create-only and singleton bits, as the plan carries them.
    let plan = crate::plan::compute(&s);
    let objects = &plan.destinations["a"].objects;
    let by_name: BTreeMap<&str, &crate::plan::PlacedObject> =
        objects.iter().map(|o| (o.id.name.as_str(), o)).collect();
    assert_eq!(
        by_name.keys().copied().collect::<Vec<_>>(),
        ["cm1", "cm3", "ns2"]
    );
    assert!(by_name["cm3"].create_only);
    assert!(!by_name["cm1"].create_only);
    assert!(!by_name["ns2"].create_only);
    assert!(objects.iter().all(|o| o.want_singleton_reported_state));
}

/// A WDS with objects of several groups, resources and scopes, and an EdgePlacement per test.
fn what_fixture(tests: &[(&str, &str)]) -> Snapshot {
    let mut list: Vec<(String, String)> = vec![
        ("inventory/a.yaml".into(), pair("a", "env: prod")),
        ("wds/w/cm.yaml".into(), cm("app", "x", "app: web")),
        ("wds/w/cm-other.yaml".into(), cm("other", "y", "app: db")),
        ("wds/w/deploy.yaml".into(), DEPLOYMENT.into()),
        (
            "wds/w/rs.yaml".into(),
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: x, namespace: app}\n".into(),
        ),
        ("wds/w/cr.yaml".into(), CLUSTER_ROLE.into()),
        ("wds/w/ns-app.yaml".into(), namespace("app", "team: web")),
    ];
    for (name, downsync) in tests {
        list.push((format!("wds/w/ep-{name}.yaml"), ep_prod(name, downsync)));
    }
    snap_owned(&list)
}

const X: &str = "core/ConfigMap/app/x";
const Y: &str = "core/ConfigMap/other/y";
const DEP: &str = "apps/Deployment/app/web";
const RS: &str = "apps/ReplicaSet/app/x";
const CR: &str = "rbac.authorization.k8s.io/ClusterRole/_cluster/reader";
const NS_APP: &str = "core/Namespace/_cluster/app";

#[test]
fn api_group_omitted_is_any_empty_is_core_star_is_literal() {
    let s = what_fixture(&[
        ("any", "[{objectNames: [x]}]"),
        ("core", "[{apiGroup: \"\", objectNames: [x]}]"),
        ("apps", "[{apiGroup: apps, objectNames: [x]}]"),
        ("star", "[{apiGroup: \"*\"}]"),
        (
            "starres",
            "[{apiGroup: \"*\", resources: [\"*\"], namespaces: [\"*\"]}]",
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(selected(&s, &r, "w", "any"), set(&[X, RS]));
    assert_eq!(selected(&s, &r, "w", "core"), set(&[X]));
    assert_eq!(selected(&s, &r, "w", "apps"), set(&[RS]));
    assert!(selected(&s, &r, "w", "star").is_empty());
    assert!(selected(&s, &r, "w", "starres").is_empty());
}

#[test]
fn resources_are_exact_plural_names_or_star() {
    let s = what_fixture(&[
        ("star", "[{apiGroup: apps, resources: [\"*\"]}]"),
        ("plural", "[{resources: [configmaps]}]"),
        ("singular", "[{resources: [configmap]}]"),
        ("kind", "[{resources: [ConfigMap]}]"),
        ("two", "[{resources: [deployments, clusterroles]}]"),
    ]);
    let r = resolve(&s);
    assert_eq!(selected(&s, &r, "w", "star"), set(&[DEP, RS]));
    assert_eq!(selected(&s, &r, "w", "plural"), set(&[X, Y]));
    assert!(selected(&s, &r, "w", "singular").is_empty());
    assert!(selected(&s, &r, "w", "kind").is_empty());
    assert_eq!(selected(&s, &r, "w", "two"), set(&[DEP, CR]));
}

#[test]
fn namespaces_star_matches_cluster_scoped_objects_and_a_list_does_not() {
    let s = what_fixture(&[
        ("star", "[{namespaces: [\"*\"]}]"),
        ("list", "[{namespaces: [app]}]"),
        ("empty", "[{resources: [clusterroles, configmaps]}]"),
    ]);
    let r = resolve(&s);
    assert_eq!(
        selected(&s, &r, "w", "star"),
        set(&[X, Y, DEP, RS, CR, NS_APP])
    );
    assert_eq!(selected(&s, &r, "w", "list"), set(&[X, DEP, RS]));
    // An empty namespaces list matches namespaced and cluster-scoped objects alike.
    assert_eq!(selected(&s, &r, "w", "empty"), set(&[X, Y, CR]));
}

#[test]
fn namespace_selectors_see_manifest_labels_plus_metadata_name_or_a_bare_namespace() {
    // `app` has a manifest with team=web; `other` has none (a bare namespace).
    let s = what_fixture(&[
        (
            "team",
            "[{resources: [configmaps], namespaceSelectors: [{matchLabels: {team: web}}]}]",
        ),
        (
            "appname",
            "[{resources: [configmaps], namespaceSelectors: [{matchLabels: {kubernetes.io/metadata.name: app}}]}]",
        ),
        (
            "barename",
            "[{resources: [configmaps], namespaceSelectors: [{matchLabels: {kubernetes.io/metadata.name: other}}]}]",
        ),
        (
            "bareonly",
            "[{resources: [configmaps], namespaceSelectors: [{matchExpressions: [{key: team, operator: DoesNotExist}]}]}]",
        ),
        (
            "or",
            "[{resources: [configmaps], namespaceSelectors: [{matchLabels: {team: nope}}, {matchLabels: {kubernetes.io/metadata.name: other}}]}]",
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(selected(&s, &r, "w", "team"), set(&[X]));
    assert_eq!(selected(&s, &r, "w", "appname"), set(&[X]));
    assert_eq!(selected(&s, &r, "w", "barename"), set(&[Y]));
    assert_eq!(selected(&s, &r, "w", "bareonly"), set(&[Y]));
    assert_eq!(selected(&s, &r, "w", "or"), set(&[Y]));
}

#[test]
fn namespace_selectors_on_cluster_scoped_objects_test_an_empty_label_set() {
    let s = what_fixture(&[
        (
            "empty",
            "[{resources: [clusterroles], namespaceSelectors: [{}]}]",
        ),
        (
            "notin",
            "[{resources: [clusterroles], namespaceSelectors: [{matchExpressions: [{key: a, operator: NotIn, values: [b]}]}]}]",
        ),
        (
            "dne",
            "[{resources: [clusterroles], namespaceSelectors: [{matchExpressions: [{key: a, operator: DoesNotExist}]}]}]",
        ),
        (
            "labels",
            "[{resources: [clusterroles], namespaceSelectors: [{matchLabels: {a: b}}]}]",
        ),
        (
            "exists",
            "[{resources: [clusterroles], namespaceSelectors: [{matchExpressions: [{key: a, operator: Exists}]}]}]",
        ),
        (
            "nsname",
            "[{resources: [namespaces], namespaceSelectors: [{matchLabels: {kubernetes.io/metadata.name: app}}]}]",
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(selected(&s, &r, "w", "empty"), set(&[CR]));
    assert_eq!(selected(&s, &r, "w", "notin"), set(&[CR]));
    assert_eq!(selected(&s, &r, "w", "dne"), set(&[CR]));
    assert!(selected(&s, &r, "w", "labels").is_empty());
    assert!(selected(&s, &r, "w", "exists").is_empty());
    // A Namespace is cluster-scoped too: its own labels are not what namespaceSelectors test.
    assert!(selected(&s, &r, "w", "nsname").is_empty());
}

#[test]
fn object_names_label_selectors_and_the_and_of_criteria() {
    let s = what_fixture(&[
        ("names", "[{objectNames: [x, web]}]"),
        ("namestar", "[{apiGroup: apps, objectNames: [\"*\"]}]"),
        (
            "labels-or",
            "[{labelSelectors: [{matchLabels: {app: web}}, {matchLabels: {app: db}}]}]",
        ),
        (
            "and",
            "[{resources: [configmaps], namespaces: [app], objectNames: [y]}]",
        ),
        (
            "and2",
            "[{apiGroup: \"\", objectNames: [x], labelSelectors: [{matchLabels: {app: db}}]}]",
        ),
        (
            "tests-or",
            "[{resources: [deployments]}, {resources: [clusterroles]}]",
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(selected(&s, &r, "w", "names"), set(&[X, RS, DEP]));
    assert_eq!(selected(&s, &r, "w", "namestar"), set(&[DEP, RS]));
    assert_eq!(selected(&s, &r, "w", "labels-or"), set(&[X, Y]));
    assert!(selected(&s, &r, "w", "and").is_empty());
    assert!(selected(&s, &r, "w", "and2").is_empty());
    assert_eq!(selected(&s, &r, "w", "tests-or"), set(&[DEP, CR]));
}

#[test]
fn system_and_control_objects_are_never_selected() {
    let system = "apiVersion: v1
kind: ConfigMap
metadata: {name: kube-root-ca.crt, namespace: app}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: app}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: app}
---
apiVersion: v1
kind: Secret
metadata: {name: sa-token, namespace: app}
type: kubernetes.io/service-account-token
---
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-abcdef, namespace: kube-system}
type: bootstrap.kubernetes.io/token
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: app}
type: Opaque
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Customizer
metadata: {name: c, namespace: app}
replacements: []
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: SinglePlacementSlice
metadata: {name: all}
destinations: []
";
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod")),
        ("wds/w/system.yaml", system),
        ("wds/w/all.yaml", &ep_prod("all", "[{}]")),
        (
            "wds/w/named.yaml",
            &ep_prod(
                "named",
                "[{objectNames: [kube-root-ca.crt, default, sa-token, bootstrap-token-abcdef, c, all, named]}]",
            ),
        ),
    ]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    let r = resolve(&s);
    assert_eq!(
        selected(&s, &r, "w", "all"),
        set(&["core/Secret/app/creds", "core/ServiceAccount/app/builder"])
    );
    assert!(selected(&s, &r, "w", "named").is_empty());
    let plan = crate::plan::compute(&s);
    for o in &plan.destinations["a"].objects {
        assert_ne!(o.id.group, "edge.kubestellar.io", "{}", o.id);
        assert_ne!(o.id.group, "gitstellar.io", "{}", o.id);
    }
}

#[test]
fn upsync_rules_of_the_same_edge_placement_take_precedence() {
    let upsyncing = ep(
        "up",
        "  locationSelectors: [{matchLabels: {env: prod}}]
  downsync: [{resources: [configmaps, clusterroles]}]
  upsync:
  - {apiGroup: \"\", resources: [configmaps], namespaces: [app], names: [x]}
  - {apiGroup: rbac.authorization.k8s.io, resources: [clusterroles], names: [\"*\"]}
  - {apiGroup: \"\", resources: [configmaps], namespaces: [\"*\"], names: []}
",
    );
    let unrelated = ep(
        "miss",
        "  locationSelectors: [{matchLabels: {env: prod}}]
  downsync: [{resources: [configmaps]}]
  upsync:
  - {apiGroup: \"\", resources: [configmaps], namespaces: [app], names: [other]}
  - {apiGroup: apps, resources: [configmaps], namespaces: [\"*\"], names: [\"*\"]}
  - {apiGroup: \"\", resources: [secrets], namespaces: [\"*\"], names: [\"*\"]}
  - {apiGroup: \"\", resources: [configmaps], names: [\"*\"]}
",
    );
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod")),
        ("wds/w/cm.yaml", &cm("app", "x", "")),
        ("wds/w/cm2.yaml", &cm("other", "x", "")),
        ("wds/w/cr.yaml", CLUSTER_ROLE),
        ("wds/w/up.yaml", &upsyncing),
        ("wds/w/miss.yaml", &unrelated),
        (
            "wds/w/plain.yaml",
            &ep_prod("plain", "[{resources: [configmaps]}]"),
        ),
    ]);
    assert!(s.problems.is_empty(), "{:#?}", s.problems);
    let r = resolve(&s);
    // x in app is claimed by the first rule; the ClusterRole by the second (namespaces do not
    // apply to cluster-scoped objects); the third rule has no names, so it claims nothing.
    assert_eq!(
        selected(&s, &r, "w", "up"),
        set(&["core/ConfigMap/other/x"])
    );
    // Rules that do not match (by name, group or resource, or with no namespaces for a
    // namespaced object: empty means nothing in an UpsyncSet) withhold nothing.
    assert_eq!(
        selected(&s, &r, "w", "miss"),
        set(&["core/ConfigMap/app/x", "core/ConfigMap/other/x"])
    );
    // Another EdgePlacement's upsync rules do not matter.
    assert_eq!(
        selected(&s, &r, "w", "plain"),
        set(&["core/ConfigMap/app/x", "core/ConfigMap/other/x"])
    );
    // OR across EPs: x still reaches the WEC through the other EdgePlacements.
    let plan = crate::plan::compute(&s);
    let placed = plan.destinations["a"]
        .objects
        .iter()
        .find(|o| o.id.to_string() == "core/ConfigMap/app/x")
        .expect("x placed");
    assert_eq!(&*placed.placements, ["miss", "plain"]);
}

const CRONTAB_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {kind: CronTab, plural: crontabs, singular: crontab, shortNames: [ct]}
  versions: [{name: v1, served: true, storage: true}]
";

const CRONTAB: &str = "apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: my-new-cron-object, namespace: specialstuff}
spec: {cronSpec: '* * * * */5', image: my-awesome-cron-image}
";

const CRD_ID: &str =
    "apiextensions.k8s.io/CustomResourceDefinition/_cluster/crontabs.stable.example.com";
const CRONTAB_ID: &str = "stable.example.com/CronTab/specialstuff/my-new-cron-object";

#[test]
fn a_selected_custom_resource_brings_its_crd_from_the_same_wds_only() {
    let crontabs = "[{apiGroup: stable.example.com, resources: [crontabs], namespaces: [specialstuff], objectNames: [my-new-cron-object]}]";
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod")),
        ("wds/s/crd.yaml", CRONTAB_CRD),
        ("wds/s/cron.yaml", CRONTAB),
        ("wds/s/ep.yaml", &ep_prod("s", crontabs)),
        (
            "wds/s/none.yaml",
            &ep_prod("none", "[{resources: [configmaps]}]"),
        ),
        ("wds/t/cron.yaml", CRONTAB),
        ("wds/t/ep.yaml", &ep_prod("t", crontabs)),
    ]);
    let r = resolve(&s);
    assert_eq!(selected(&s, &r, "s", "s"), set(&[CRD_ID, CRONTAB_ID]));
    let p = placement(&s, &r, "s", "s");
    let implicit: Vec<String> = p
        .implicit
        .iter()
        .map(|&o| s.workloads[p.wds].objects[o].id.to_string())
        .collect();
    assert_eq!(implicit, [CRD_ID]);
    // Selecting no custom resource brings no CRD.
    assert!(selected(&s, &r, "s", "none").is_empty());
    // Never a CRD from another WDS.
    let t = selected(&s, &r, "t", "t");
    assert!(!t.contains(CRD_ID), "{t:?}");
    // The CRD reaches the WEC once (from s), with the CronTab of both WDSes.
    let plan = crate::plan::compute(&s);
    let ids: Vec<String> = plan.destinations["a"]
        .objects
        .iter()
        .map(|o| format!("{} {}", o.wds, o.id))
        .collect();
    assert!(ids.contains(&format!("s {CRD_ID}")), "{ids:?}");
}

#[test]
fn an_invalid_selector_is_a_problem_matches_nothing_and_the_others_still_work() {
    let s = what_fixture(&[
        (
            "mixed",
            "[{labelSelectors: [{matchExpressions: [{key: app, operator: Bogus, values: [web]}]}, {matchLabels: {app: db}}]}]",
        ),
        (
            "onlybad",
            "[{labelSelectors: [{matchExpressions: [{key: app, operator: Exists, values: [web]}]}]}]",
        ),
        (
            "badns",
            "[{resources: [configmaps], namespaceSelectors: [{matchExpressions: [{key: team, operator: In}]}]}, {resources: [clusterroles]}]",
        ),
    ]);
    let r = resolve(&s);
    assert_eq!(selected(&s, &r, "w", "mixed"), set(&[Y]));
    // An invalid selector never means "everything".
    assert!(selected(&s, &r, "w", "onlybad").is_empty());
    assert_eq!(selected(&s, &r, "w", "badns"), set(&[CR]));
    let about = |ep: &str| {
        r.problems
            .iter()
            .filter(|p| p.object.ends_with(&format!("EdgePlacement/_cluster/{ep}")))
            .count()
    };
    assert_eq!(about("mixed"), 1, "{:#?}", r.problems);
    assert_eq!(about("onlybad"), 1, "{:#?}", r.problems);
    assert_eq!(about("badns"), 1, "{:#?}", r.problems);
    assert_eq!(
        problems_with(&s, &r, "labelSelectors[0]"),
        2,
        "{:#?}",
        r.problems
    );
    assert_eq!(
        problems_with(&s, &r, "namespaceSelectors[0]"),
        1,
        "{:#?}",
        r.problems
    );
}

// ---------------------------------------------------------------------------------------------
// Property: the plan's (object, WEC) pairs are the OR over EdgePlacements of what × where.
// ---------------------------------------------------------------------------------------------

type Labels = BTreeMap<String, String>;

/// Labels of an object, Location or SyncTarget: keys `a`–`c`, values `x`, `y`.
fn labels_strategy() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_string),
        prop::sample::select(vec!["x", "y"]).prop_map(str::to_string),
        0..4,
    )
}

/// A `matchLabels` selector: small, so that it often matches.
fn selector_strategy() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_string),
        prop::sample::select(vec!["x", "y"]).prop_map(str::to_string),
        0..2,
    )
}

#[derive(Clone, Debug)]
struct Inv {
    /// (IS index, SyncTarget labels)
    targets: Vec<(usize, Labels)>,
    /// (IS index, Location labels, instanceSelector matchLabels)
    locations: Vec<(usize, Labels, Labels)>,
    /// (WDS index, object labels)
    objects: Vec<(usize, Labels)>,
    /// (WDS index, locationSelectors, downsync tests (each: labelSelectors, possibly empty))
    eps: Vec<(usize, Vec<Labels>, Vec<Vec<Labels>>)>,
}

fn inv_strategy() -> impl Strategy<Value = Inv> {
    (
        prop::collection::vec((0..2usize, labels_strategy()), 1..6),
        prop::collection::vec((0..2usize, labels_strategy(), selector_strategy()), 1..6),
        prop::collection::vec((0..2usize, labels_strategy()), 1..6),
        prop::collection::vec(
            (
                0..2usize,
                prop::collection::vec(selector_strategy(), 1..3),
                prop::collection::vec(prop::collection::vec(selector_strategy(), 0..3), 1..3),
            ),
            1..5,
        ),
    )
        .prop_map(|(targets, locations, objects, eps)| Inv {
            targets,
            locations,
            objects,
            eps,
        })
}

fn subset(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

const IS_NAMES: [&str; 2] = ["east", "west"];
const WDS_NAMES: [&str; 2] = ["p", "q"];

fn inv_files(inv: &Inv) -> Vec<(String, String)> {
    let mut out = vec![(
        "gitstellar.yaml".to_string(),
        "inventorySpaces: [\"inv/*\"]\nworkloadSpaces: [\"wds/*\"]\n".to_string(),
    )];
    let doc = |v: serde_json::Value| serde_json::to_string(&v).expect("json");
    for (i, (is, labels)) in inv.targets.iter().enumerate() {
        let v = json!({"apiVersion": "edge.kubestellar.io/v2alpha1", "kind": "SyncTarget",
            "metadata": {"name": format!("st{i}"), "labels": labels}});
        out.push((format!("inv/{}/st{i}.yaml", IS_NAMES[*is]), doc(v)));
    }
    for (i, (is, labels, sel)) in inv.locations.iter().enumerate() {
        let v = json!({"apiVersion": "edge.kubestellar.io/v2alpha1", "kind": "Location",
            "metadata": {"name": format!("loc{i}"), "labels": labels},
            "spec": {"instanceSelector": {"matchLabels": sel}}});
        out.push((format!("inv/{}/loc{i}.yaml", IS_NAMES[*is]), doc(v)));
    }
    for (i, (w, labels)) in inv.objects.iter().enumerate() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm{i}"), "namespace": "ns", "labels": labels}});
        out.push((format!("wds/{}/cm{i}.yaml", WDS_NAMES[*w]), doc(v)));
    }
    for (i, (w, locs, tests)) in inv.eps.iter().enumerate() {
        let locs: Vec<_> = locs.iter().map(|l| json!({"matchLabels": l})).collect();
        let tests: Vec<_> = tests
            .iter()
            .map(|sels| {
                let sels: Vec<_> = sels.iter().map(|l| json!({"matchLabels": l})).collect();
                json!({"resources": ["configmaps"], "labelSelectors": sels})
            })
            .collect();
        let v = json!({"apiVersion": "edge.kubestellar.io/v2alpha1", "kind": "EdgePlacement",
            "metadata": {"name": format!("ep{i}")},
            "spec": {"locationSelectors": locs, "downsync": tests}});
        out.push((format!("wds/{}/ep{i}.yaml", WDS_NAMES[*w]), doc(v)));
    }
    out
}

/// (WDS, object name, WEC) → the EdgePlacements placing it, by brute force from the spec.
fn brute_force(inv: &Inv) -> BTreeMap<(String, String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for (e, (w, loc_sels, tests)) in inv.eps.iter().enumerate() {
        let mut wecs = BTreeSet::new();
        for (is, loc_labels, instance) in &inv.locations {
            if !loc_sels.iter().any(|s| subset(s, loc_labels)) {
                continue;
            }
            for (t, (t_is, st_labels)) in inv.targets.iter().enumerate() {
                if t_is == is && subset(instance, st_labels) {
                    wecs.insert(format!("st{t}"));
                }
            }
        }
        for (o, (ow, labels)) in inv.objects.iter().enumerate() {
            let matched = ow == w
                && tests
                    .iter()
                    .any(|sels| sels.is_empty() || sels.iter().any(|s| subset(s, labels)));
            if !matched {
                continue;
            }
            for wec in &wecs {
                out.entry((WDS_NAMES[*w].to_string(), format!("cm{o}"), wec.clone()))
                    .or_default()
                    .insert(format!("ep{e}"));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn plan_pairs_are_the_or_of_what_times_where(
        (inv, shuffled) in inv_strategy().prop_flat_map(|inv| {
            let files = inv_files(&inv);
            (Just(inv), Just(files).prop_shuffle())
        })
    ) {
        let files = inv_files(&inv);
        let s = snap_owned(&files);
        prop_assert!(s.problems.is_empty(), "{:#?}", s.problems);
        let plan = crate::plan::compute(&s);
        let mut actual: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
        for (wec, dest) in &plan.destinations {
            for o in &dest.objects {
                let key = (o.wds.to_string(), o.id.name.clone(), wec.clone());
                prop_assert!(!actual.contains_key(&key), "{:?} placed twice", key);
                actual.insert(key, o.placements.iter().cloned().collect());
            }
        }
        prop_assert_eq!(&actual, &brute_force(&inv));
        // Every SyncTarget is a destination, placed to or not.
        let wecs: BTreeSet<String> = (0..inv.targets.len()).map(|t| format!("st{t}")).collect();
        prop_assert_eq!(plan.destinations.keys().cloned().collect::<BTreeSet<_>>(), wecs);
        // The order of the input files does not matter.
        let plan2 = crate::plan::compute(&snap_owned(&shuffled));
        prop_assert_eq!(&plan, &plan2);
        prop_assert_eq!(
            serde_json::to_string(&plan).expect("json"),
            serde_json::to_string(&plan2).expect("json")
        );
    }
}

#[test]
fn the_api_server_label_kubernetes_io_metadata_name_cannot_be_faked() {
    // Design §9.3: namespaceSelectors see the Namespace as the API server holds it, with
    // `kubernetes.io/metadata.name` set to its name whatever the manifest says.
    let s = snap(&[
        ("inventory/a.yaml", &pair("a", "env: prod")),
        ("wds/w/ns.yaml", &namespace("app", "kubernetes.io/metadata.name: fake, team: web")),
        ("wds/w/cm.yaml", &cm("app", "x", "")),
        (
            "wds/w/eps.yaml",
            &[
                ep_prod(
                    "fake",
                    "[{namespaceSelectors: [{matchLabels: {kubernetes.io/metadata.name: fake}}]}]",
                ),
                ep_prod(
                    "real",
                    "[{namespaceSelectors: [{matchLabels: {kubernetes.io/metadata.name: app, team: web}}]}]",
                ),
            ]
            .join("---\n"),
        ),
    ]);
    let r = resolve(&s);
    assert!(selected(&s, &r, "w", "fake").is_empty());
    assert_eq!(
        selected(&s, &r, "w", "real"),
        set(&["core/ConfigMap/app/x"])
    );
}

#[test]
fn a_sync_target_name_used_in_two_inventory_spaces_is_a_problem() {
    let s = snap(&[
        (
            "gitstellar.yaml",
            "inventorySpaces: [\"inv/*\"]\nworkloadSpaces: [\"wds/*\"]\n",
        ),
        ("inv/east/a.yaml", &pair("a", "side: east")),
        ("inv/west/a.yaml", &pair("a", "side: west")),
        ("wds/w/ep.yaml", &ep("ep", "  locationSelectors: [{}]\n")),
    ]);
    let r = resolve(&s);
    assert_eq!(r.wecs.len(), 1);
    assert_eq!(dests(&s, &r, "w", "ep"), ["a"]);
    assert!(
        r.problems
            .iter()
            .any(|p| p.object.ends_with("SyncTarget/_cluster/a") && p.message.contains("east")),
        "{:#?}",
        r.problems
    );
}
