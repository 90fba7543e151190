//! Why an EdgePlacement does or does not select an object (design §9.11; users asked for this in
//! kubestellar#909): each downsync test, criterion by criterion, against one object.

use serde::Serialize;

use super::what::{is_system_object, never_downsynced, upsync_matches};
use super::{Resolution, Selector};
use crate::model::{DownsyncObjectTest, LabelSelector, Object, Snapshot, WorkloadSpace};

/// The verdict of every EdgePlacement of a WDS on one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The WDS.
    pub wds: String,
    /// The object, as `group/Kind/namespace/name`.
    pub object: String,
    /// Why no test can select it, if so (a system or control object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
    /// One entry per EdgePlacement of the WDS.
    pub placements: Vec<PlacementVerdict>,
}

/// One EdgePlacement's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlacementVerdict {
    /// The EdgePlacement.
    pub name: String,
    /// Whether it selects the object.
    pub selected: bool,
    /// Why: one line per downsync test, plus upsync and implicit-CRD notes.
    pub reasons: Vec<String>,
    /// Its destinations (SyncTarget names).
    pub destinations: Vec<String>,
}

/// Explains, for each EdgePlacement of `wds`, whether it selects `object` and why.
pub fn explain(
    snapshot: &Snapshot,
    resolution: &Resolution,
    wds_index: usize,
    object_index: usize,
) -> Explanation {
    let wds = &snapshot.workloads[wds_index];
    let object = &wds.objects[object_index];
    let excluded = if is_system_object(object) {
        Some("a system object an API server makes by itself: never downsynced".to_string())
    } else if never_downsynced(object) {
        Some(format!(
            "resource {} of group {:?} never leaves the WDS",
            object.resource, object.id.group
        ))
    } else {
        None
    };
    let placements = resolution
        .placements
        .iter()
        .filter(|p| p.wds == wds_index)
        .map(|p| {
            let ep = &wds.edge_placements[p.index];
            let selected = p.objects.binary_search(&object_index).is_ok();
            let mut reasons: Vec<String> = ep
                .spec
                .downsync
                .iter()
                .enumerate()
                .map(|(i, test)| match failed_criteria(wds, object, test) {
                    failures if failures.is_empty() => format!("downsync[{i}] matches"),
                    failures => format!("downsync[{i}] does not match: {}", failures.join("; ")),
                })
                .collect();
            if ep.spec.downsync.is_empty() {
                reasons.push("no downsync tests: selects nothing".into());
            }
            if upsync_matches(&ep.spec.upsync, object) {
                reasons.push(
                    "its upsync rules claim the object, so it is upsynced, not downsynced".into(),
                );
            }
            if p.implicit.binary_search(&object_index).is_ok() {
                reasons.push(
                    "added implicitly: it defines a custom resource this EdgePlacement selects"
                        .into(),
                );
            }
            PlacementVerdict {
                name: ep.meta.name.clone(),
                selected,
                reasons,
                destinations: p
                    .destinations
                    .iter()
                    .map(|&d| resolution.wecs[d].name.clone())
                    .collect(),
            }
        })
        .collect();
    Explanation {
        wds: wds.name.clone(),
        object: object.id.to_string(),
        excluded,
        placements,
    }
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

fn show(list: &[String]) -> String {
    format!("[{}]", list.join(", "))
}

/// Whether any selector of a list matches, describing the failure; invalid selectors never match.
fn selectors_fail(
    selectors: &[LabelSelector],
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let mut unmet = Vec::new();
    for s in selectors {
        match Selector::compile(s) {
            Ok(sel) if sel.matches(labels) => return None,
            Ok(sel) => {
                let misses: Vec<String> = sel.unmet(labels).map(|r| r.to_string()).collect();
                unmet.push(format!("({}) fails {}", sel, misses.join(", ")));
            }
            Err(e) => unmet.push(format!("invalid: {e}")),
        }
    }
    Some(unmet.join(" and "))
}

/// The criteria of one test that the object fails, described.
fn failed_criteria(wds: &WorkloadSpace, object: &Object, test: &DownsyncObjectTest) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(g) = &test.api_group
        && *g != object.id.group
    {
        let hint = if g == "*" {
            " (\"*\" is not a wildcard for apiGroup; omit apiGroup to match every group)"
        } else {
            ""
        };
        out.push(format!(
            "apiGroup {g:?} is not the object's group {:?}{hint}",
            object.id.group
        ));
    }
    if !test.resources.is_empty() && !listed(&test.resources, &object.resource) {
        out.push(format!(
            "resources {} do not include {:?}",
            show(&test.resources),
            object.resource
        ));
    }
    if !test.namespaces.is_empty() && !listed(&test.namespaces, object.id.namespace_or_empty()) {
        let what = match &object.id.namespace {
            Some(ns) => format!("namespace {ns:?}"),
            None => "cluster-scoped objects (only \"*\" matches them)".into(),
        };
        out.push(format!(
            "namespaces {} do not include {what}",
            show(&test.namespaces)
        ));
    }
    if !test.object_names.is_empty() && !listed(&test.object_names, &object.id.name) {
        out.push(format!(
            "objectNames {} do not include {:?}",
            show(&test.object_names),
            object.id.name
        ));
    }
    if !test.namespace_selectors.is_empty() {
        let labels = match &object.id.namespace {
            Some(ns) => super::what::namespace_labels_of(wds, ns),
            None => Default::default(),
        };
        if let Some(why) = selectors_fail(&test.namespace_selectors, &labels) {
            out.push(format!("namespaceSelectors: {why}"));
        }
    }
    if !test.label_selectors.is_empty()
        && let Some(why) = selectors_fail(&test.label_selectors, &object.meta.labels)
    {
        out.push(format!("labelSelectors: {why}"));
    }
    out
}
