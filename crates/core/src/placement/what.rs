//! The what-resolver: which objects of a WDS an EdgePlacement's `downsync` tests select.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Context, Selector, compile_all, no_labels};
use crate::model::{
    DownsyncObjectTest, EdgePlacementSpec, Object, Problem, UpsyncSet, WorkloadSpace,
};

/// Resources that never leave the WDS, whatever a test says (KubeStellar's "tolerate in centre").
const NEVER_DOWNSYNCED: &[(&str, &str)] = &[
    ("", "bindings"),
    ("", "componentstatuses"),
    ("", "events"),
    ("", "nodes"),
    ("apps", "controllerrevisions"),
    ("authentication.k8s.io", "tokenreviews"),
    ("authorization.k8s.io", "localsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
    ("certificates.k8s.io", "certificatesigningrequests"),
    ("events.k8s.io", "events"),
];

/// API groups that never leave the WDS (KubeStellar's control objects, kcp's, gitstellar's).
const NEVER_DOWNSYNCED_GROUPS: &[&str] = &[
    "edge.kubestellar.io",
    "gitstellar.io",
    "scheduling.kcp.io",
    "tenancy.kcp.io",
    "topology.kcp.io",
    "workload.kcp.io",
    "apis.kcp.io",
    "core.kcp.io",
    "apiresource.kcp.io",
];

/// The "system infrastructure objects" an API server makes by itself, which no test selects.
pub fn is_system_object(object: &Object) -> bool {
    if !object.id.group.is_empty() {
        return false;
    }
    match object.id.kind.as_str() {
        "ConfigMap" => object.id.name == "kube-root-ca.crt",
        "ServiceAccount" => object.id.name == "default",
        "Secret" => matches!(
            object.value.get("type").and_then(Value::as_str),
            Some("kubernetes.io/service-account-token" | "bootstrap.kubernetes.io/token")
        ),
        _ => false,
    }
}

/// Whether the object's resource never leaves the WDS (KubeStellar's "tolerate in centre").
pub(super) fn never_downsynced(object: &Object) -> bool {
    NEVER_DOWNSYNCED_GROUPS.contains(&object.id.group.as_str())
        || NEVER_DOWNSYNCED
            .iter()
            .any(|&(g, r)| g == object.id.group && r == object.resource)
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

/// Whether an object is claimed by upsync rules, with their documented semantics (design §9.5):
/// group exact; resource, namespace (namespaced objects only) and name listed or `"*"`.
pub fn upsync_matches(rules: &[UpsyncSet], object: &Object) -> bool {
    rules.iter().any(|rule| {
        rule.api_group == object.id.group
            && listed(&rule.resources, &object.resource)
            && object
                .id
                .namespace
                .as_deref()
                .is_none_or(|ns| listed(&rule.namespaces, ns))
            && listed(&rule.names, &object.id.name)
    })
}

/// A downsync test with its selectors compiled. `None` selector lists mean "criterion absent".
struct CompiledTest<'a> {
    test: &'a DownsyncObjectTest,
    namespace_selectors: Option<Vec<Selector>>,
    label_selectors: Option<Vec<Selector>>,
}

impl CompiledTest<'_> {
    fn matches(&self, object: &Object, namespace_labels: &BTreeMap<String, String>) -> bool {
        let t = self.test;
        t.api_group.as_deref().is_none_or(|g| g == object.id.group)
            && (t.resources.is_empty() || listed(&t.resources, &object.resource))
            && (t.namespaces.is_empty() || listed(&t.namespaces, object.id.namespace_or_empty()))
            && (t.object_names.is_empty() || listed(&t.object_names, &object.id.name))
            && self
                .namespace_selectors
                .as_ref()
                .is_none_or(|sels| sels.iter().any(|s| s.matches(namespace_labels)))
            && self
                .label_selectors
                .as_ref()
                .is_none_or(|sels| sels.iter().any(|s| s.matches(&object.meta.labels)))
    }
}

/// Per-WDS facts that every EdgePlacement's *what* needs, computed once.
pub(super) struct WhatIndex<'a> {
    wds: &'a WorkloadSpace,
    /// The labels of every namespace objects live in, as `namespaceSelectors` see them (design §9.3).
    namespaces: Vec<BTreeMap<String, String>>,
    /// For each object: its namespace's index in `namespaces`; `None` if cluster-scoped.
    namespace_of: Vec<Option<usize>>,
    /// Objects that no test may select.
    excluded: Vec<bool>,
    /// For each object: the CRD object (in this WDS) that defines its kind, if any.
    defining_crd: Vec<Option<usize>>,
}

impl<'a> WhatIndex<'a> {
    pub(super) fn new(wds: &'a WorkloadSpace) -> WhatIndex<'a> {
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut namespaces = Vec::new();
        let namespace_of = wds
            .objects
            .iter()
            .map(|o| {
                let ns = o.id.namespace.as_deref()?;
                Some(*index.entry(ns).or_insert_with(|| {
                    namespaces.push(namespace_labels_of(wds, ns));
                    namespaces.len() - 1
                }))
            })
            .collect();
        let excluded = wds
            .objects
            .iter()
            .map(|o| is_system_object(o) || never_downsynced(o))
            .collect();
        let mut crds: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (i, o) in wds.objects.iter().enumerate() {
            if o.id.group == "apiextensions.k8s.io" && o.id.kind == "CustomResourceDefinition" {
                let spec = o.value.get("spec");
                let group = spec.and_then(|s| s.get("group")).and_then(Value::as_str);
                let plural = spec
                    .and_then(|s| s.pointer("/names/plural"))
                    .and_then(Value::as_str);
                if let (Some(g), Some(p)) = (group, plural) {
                    crds.insert((g, p), i);
                }
            }
        }
        let defining_crd = wds
            .objects
            .iter()
            .map(|o| {
                crds.get(&(o.id.group.as_str(), o.resource.as_str()))
                    .copied()
            })
            .collect();
        WhatIndex {
            wds,
            namespaces,
            namespace_of,
            excluded,
            defining_crd,
        }
    }

    /// The objects an EdgePlacement selects (sorted indices) and, among them, the implicit CRDs.
    pub(super) fn select(
        &self,
        spec: &EdgePlacementSpec,
        ctx: &Context<'_>,
        problems: &mut Vec<Problem>,
    ) -> (Vec<usize>, Vec<usize>) {
        let tests: Vec<CompiledTest<'_>> = spec
            .downsync
            .iter()
            .enumerate()
            .map(|(i, test)| {
                let mut compile = |sels: &[crate::model::LabelSelector], field: &str| {
                    (!sels.is_empty()).then(|| {
                        compile_all(sels, &format!("spec.downsync[{i}].{field}"), |m| {
                            problems.push(ctx.problem(m))
                        })
                    })
                };
                let namespace_selectors = compile(&test.namespace_selectors, "namespaceSelectors");
                let label_selectors = compile(&test.label_selectors, "labelSelectors");
                CompiledTest {
                    test,
                    namespace_selectors,
                    label_selectors,
                }
            })
            .collect();
        let mut selected = vec![false; self.wds.objects.len()];
        for (i, object) in self.wds.objects.iter().enumerate() {
            if self.excluded[i] {
                continue;
            }
            let labels = self.namespace_of[i].map_or(no_labels(), |n| &self.namespaces[n]);
            if tests.iter().any(|t| t.matches(object, labels))
                && !upsync_matches(&spec.upsync, object)
            {
                selected[i] = true;
            }
        }
        let mut implicit = Vec::new();
        for i in 0..selected.len() {
            if selected[i]
                && let Some(crd) = self.defining_crd[i]
                && !selected[crd]
            {
                selected[crd] = true;
                implicit.push(crd);
            }
        }
        implicit.sort_unstable();
        let objects = selected
            .iter()
            .enumerate()
            .filter(|(_, s)| **s)
            .map(|(i, _)| i)
            .collect();
        (objects, implicit)
    }
}

/// The labels of namespace `ns` as an API server would hold them: the WDS's Namespace manifest's
/// labels plus `kubernetes.io/metadata.name`, or only that label for a namespace without one.
pub(super) fn namespace_labels_of(wds: &WorkloadSpace, ns: &str) -> BTreeMap<String, String> {
    let id = crate::model::ObjectId::new("", "Namespace", None, ns);
    let mut labels = wds
        .object(&id)
        .map(|o| o.meta.labels.clone())
        .unwrap_or_default();
    labels.insert("kubernetes.io/metadata.name".into(), ns.to_string());
    labels
}
