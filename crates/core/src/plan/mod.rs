//! Plan: what every WEC gets from one revision — the OR of every EdgePlacement's (object,
//! destination) pairs, each object customized for its destination (KubeStellar's placement
//! translator, minus the writing). Pure: [`compute`] takes a [`Snapshot`] and returns a [`Plan`].
//!
//! The plan is also what `gitstellar plan` prints ([`render`]) and what the mailbox stage writes.

pub mod hold;
pub mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::customize::{self, Params};
use crate::model::{
    CUSTOMIZER, Customizer, DOWNSYNC_OVERWRITE, EXPAND_PARAMETERS, Object, ObjectId, PROJECTED,
    Problem, Snapshot, UpsyncSet, WorkloadSpace,
};
use crate::placement::{self, Resolution};

/// The outcome of one revision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// The commit evaluated, when read from git.
    pub revision: Option<String>,
    /// Every EdgePlacement with its destinations and what it selected.
    pub placements: Vec<PlacementSummary>,
    /// Per WEC (SyncTarget name): its objects and upsync rules. Every WEC is listed.
    pub destinations: BTreeMap<String, Destination>,
    /// Every problem of the revision, sorted.
    pub problems: Vec<Problem>,
}

/// One EdgePlacement as resolved (KubeStellar's SinglePlacementSlice plus the feedback users
/// asked for in kubestellar#909).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSummary {
    /// The WDS holding the EdgePlacement.
    pub wds: String,
    /// The EdgePlacement's name.
    pub name: String,
    /// Its destinations, sorted by SyncTarget.
    pub destinations: Vec<DestinationRef>,
    /// How many Locations its `locationSelectors` matched.
    pub matching_location_count: usize,
    /// The objects its *what* selected (implicit CRDs included), as `group/Kind/namespace/name`.
    pub objects: Vec<String>,
    /// Set when a problem holds it as its last good revision resolved it (design §9.16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<hold::HeldPlacementMark>,
}

/// A destination as `plan -o json` names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRef {
    /// The Location's name.
    pub location: String,
    /// The SyncTarget's name: the WEC.
    pub sync_target: String,
}

/// What one WEC gets.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Destination {
    /// The objects, customized for this WEC, sorted by group, kind, namespace, name.
    pub objects: Vec<PlacedObject>,
    /// Namespaces that must exist because objects live there, but whose Namespace object no
    /// EdgePlacement selected for this WEC (KubeStellar's bare namespaces), sorted.
    pub namespaces: Vec<String>,
    /// The union of the upsync rules of every EdgePlacement reaching this WEC, sorted.
    pub upsync: Vec<UpsyncSet>,
}

/// One object bound for one WEC.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacedObject {
    /// The WDS it comes from (the first, by name, when several hold the same object).
    pub wds: Arc<str>,
    /// Other WDSes that hold an identical object for this WEC.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_from: Vec<Arc<str>>,
    /// The EdgePlacements (of `wds`) that select it for this WEC, sorted. Shared by every WEC
    /// that the same EdgePlacements send it to.
    pub placements: Arc<[String]>,
    /// Created once, never updated or deleted (`edge.kubestellar.io/downsync-overwrite: "false"`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_only: bool,
    /// Some selecting EdgePlacement wants singleton reported state.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub want_singleton_reported_state: bool,
    /// Identity (shared by every WEC the object goes to).
    #[serde(skip)]
    pub id: Arc<ObjectId>,
    /// Lowercase plural resource name (`configmaps`), as the WDS maps the kind.
    #[serde(skip)]
    pub resource: Arc<str>,
    /// The object as delivered: customized, server-set fields removed, `edge.kubestellar.io/projected` set.
    pub object: Arc<Value>,
    /// Set when the entry is the last good state, held because of a problem (design §9.16).
    #[serde(flatten)]
    pub held: hold::HeldMark,
}

/// Evaluates one revision.
pub fn compute(snapshot: &Snapshot) -> Plan {
    let resolution = placement::resolve(snapshot);
    compute_resolved(snapshot, &resolution)
}

/// Evaluates one revision whose placement is already resolved.
pub fn compute_resolved(snapshot: &Snapshot, resolution: &Resolution) -> Plan {
    let (destinations, object_problems) = place_all(snapshot, resolution, None);
    let mut problems: Vec<Problem> = snapshot
        .problems
        .iter()
        .chain(&resolution.problems)
        .cloned()
        .collect();
    problems.extend(object_problems);
    finish(snapshot, resolution, destinations, problems)
}

/// The part of the plan about the objects whose identity `keep` accepts: every WEC is listed,
/// with only those objects (and the bare namespaces and upsync rules that follow), and
/// `problems` holds only the problems about those objects (placing and customizing them), not
/// the snapshot's or the resolution's.
///
/// The placement of one identity depends on the snapshot's control objects and inventory, never
/// on other workload objects (implicit CRDs aside: a CRD's destinations follow its custom
/// resources), so this part equals the same part of [`compute_resolved`]'s plan. An incremental
/// pass relies on that to recompute only the objects a commit touched.
pub fn compute_objects(
    snapshot: &Snapshot,
    resolution: &Resolution,
    keep: &(dyn Fn(&ObjectId) -> bool + Sync),
) -> Plan {
    let (destinations, mut problems) = place_all(snapshot, resolution, Some(keep));
    snapshot.locate(&mut problems);
    problems.sort();
    problems.dedup();
    Plan {
        revision: snapshot.revision.clone(),
        placements: Vec::new(),
        destinations,
        problems,
    }
}

/// Places and customizes every object (that `keep` accepts) for each of its destinations.
/// Returns every WEC's destination and the problems found doing so.
fn place_all(
    snapshot: &Snapshot,
    resolution: &Resolution,
    keep: Option<&(dyn Fn(&ObjectId) -> bool + Sync)>,
) -> (BTreeMap<String, Destination>, Vec<Problem>) {
    let mut problems: Vec<Problem> = Vec::new();
    let wecs = &resolution.wecs;
    // (object, WDS index) entries per WEC, before cross-WDS merging.
    let rank = identity_ranks(snapshot);
    let mut upsync: Vec<BTreeSet<&UpsyncSet>> = vec![BTreeSet::new(); wecs.len()];
    // Every (WDS, object) with its (WEC, placement) pairs: the units of work below.
    let mut jobs: Vec<Job> = Vec::new();
    for (w, wds) in snapshot.workloads.iter().enumerate() {
        let mut pairs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); wds.objects.len()];
        for (p, rp) in resolution
            .placements
            .iter()
            .enumerate()
            .filter(|(_, p)| p.wds == w)
        {
            for &d in &rp.destinations {
                upsync[d].extend(rp.upsync.iter());
            }
            for &o in &rp.objects {
                pairs[o].extend(rp.destinations.iter().map(|&d| (d, p)));
            }
        }
        for (o, mut pairs) in pairs.into_iter().enumerate() {
            if !pairs.is_empty() && keep.is_none_or(|keep| keep(&wds.objects[o].id)) {
                pairs.sort_unstable();
                jobs.push((w, o, pairs));
            }
        }
    }
    // Customization dominates and every object is independent: share the objects out among the
    // cores (balanced by pair count), each filling its own per-WEC lists.
    let parts: Vec<(Vec<Vec<Entry>>, Vec<Problem>)> = crate::par::map_weighted_chunks(
        &jobs,
        |job| job.2.len(),
        |chunk| {
            let mut entries: Vec<Vec<Entry>> = vec![Vec::new(); wecs.len()];
            let mut problems = Vec::new();
            for (w, o, pairs) in chunk {
                let wds = &snapshot.workloads[*w];
                let object = (&wds.objects[*o], rank[*w][*o]);
                place_object(
                    snapshot,
                    resolution,
                    *w,
                    wds,
                    object,
                    pairs,
                    &mut entries,
                    &mut problems,
                );
            }
            (entries, problems)
        },
    );
    let mut entries: Vec<Vec<Entry>> = vec![Vec::new(); wecs.len()];
    for (part, part_problems) in parts {
        problems.extend(part_problems);
        for (d, list) in part.into_iter().enumerate() {
            if entries[d].is_empty() {
                entries[d] = list;
            } else {
                entries[d].extend(list);
            }
        }
    }
    drop(jobs);

    let mut destinations = BTreeMap::new();
    for (d, wec) in wecs.iter().enumerate() {
        let objects = merge_sources(
            std::mem::take(&mut entries[d]),
            snapshot,
            &wec.name,
            &mut problems,
        );
        let namespaces = bare_namespaces(&objects);
        let upsync = upsync[d].iter().map(|u| (*u).clone()).collect();
        destinations.insert(
            wec.name.clone(),
            Destination {
                objects,
                namespaces,
                upsync,
            },
        );
    }
    (destinations, problems)
}

/// The plan: the destinations, every EdgePlacement's summary, the problems sorted.
fn finish(
    snapshot: &Snapshot,
    resolution: &Resolution,
    destinations: BTreeMap<String, Destination>,
    mut problems: Vec<Problem>,
) -> Plan {
    let wecs = &resolution.wecs;
    let placements = resolution
        .placements
        .iter()
        .map(|rp| {
            let wds = &snapshot.workloads[rp.wds];
            PlacementSummary {
                wds: wds.name.clone(),
                name: wds.edge_placements[rp.index].meta.name.clone(),
                destinations: rp
                    .destinations
                    .iter()
                    .map(|&d| DestinationRef {
                        location: wecs[d].placement.location_name.clone(),
                        sync_target: wecs[d].name.clone(),
                    })
                    .collect(),
                matching_location_count: rp.matching_location_count,
                objects: rp
                    .objects
                    .iter()
                    .map(|&o| wds.objects[o].id.to_string())
                    .collect(),
                held: None,
            }
        })
        .collect();
    snapshot.locate(&mut problems);
    problems.sort();
    problems.dedup();
    Plan {
        revision: snapshot.revision.clone(),
        placements,
        destinations,
        problems,
    }
}

/// How an object is customized, worked out once for all its destinations.
struct Recipe<'a> {
    expand: bool,
    customizer: Option<&'a Customizer>,
    /// The parameters the object (and its Customizer) use: destinations that agree on their
    /// values get the same customized object, computed once.
    parameters: Vec<String>,
}

/// The Customizer an object names, per KubeStellar: `name` in the object's namespace, or
/// `namespace/name` (the only form for a cluster-scoped object).
fn find_customizer<'a>(
    wds: &'a WorkloadSpace,
    object: &Object,
) -> Result<Option<&'a Customizer>, String> {
    let Some(reference) = object.meta.annotations.get(CUSTOMIZER) else {
        return Ok(None);
    };
    let (ns, name) = match reference.split_once('/') {
        Some((ns, name)) => (ns.to_string(), name.to_string()),
        None => match &object.id.namespace {
            Some(ns) => (ns.clone(), reference.clone()),
            None => {
                return Err(format!(
                    "annotation {CUSTOMIZER}: {reference:?} must be namespace/name for a cluster-scoped object"
                ));
            }
        },
    };
    match wds.customizers.get(&(ns.clone(), name.clone())) {
        Some(c) => Ok(Some(c)),
        None => Err(format!(
            "annotation {CUSTOMIZER}: Customizer {ns}/{name} does not exist in WDS {:?}",
            wds.name
        )),
    }
}

fn recipe<'a>(wds: &'a WorkloadSpace, object: &Object) -> Result<Recipe<'a>, String> {
    let expand = object.meta.annotated(EXPAND_PARAMETERS, "true");
    let customizer = find_customizer(wds, object)?;
    let parameters = customize::parameters_needed(&object.value, expand, customizer)
        .map_err(|e| e.to_string())?;
    Ok(Recipe {
        expand,
        customizer,
        parameters: parameters.into_iter().collect(),
    })
}

/// Removes what an API server sets and marks the copy as KubeStellar's mailbox does.
fn project(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(Value::Object(meta)) = value.get_mut("metadata") {
        for key in [
            "uid",
            "resourceVersion",
            "selfLink",
            "managedFields",
            "ownerReferences",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            meta.remove(key);
        }
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        if let Value::Object(labels) = labels {
            labels.insert(PROJECTED.into(), Value::from("yes"));
        }
    }
    value
}

#[allow(clippy::too_many_arguments)]
fn place_object(
    snapshot: &Snapshot,
    resolution: &Resolution,
    w: usize,
    wds: &WorkloadSpace,
    (object, rank): (&Object, u32),
    pairs: &[(usize, usize)],
    entries: &mut [Vec<Entry>],
    problems: &mut Vec<Problem>,
) {
    let recipe = match recipe(wds, object) {
        Ok(r) => r,
        Err(why) => {
            let count = pairs.iter().map(|p| p.0).collect::<BTreeSet<_>>().len();
            problems.push(Problem::new(
                &wds.name,
                &object.file,
                object.id.to_string(),
                format!("{why}; the object is withheld from all {count} of its destinations"),
            ));
            return;
        }
    };
    let base = Arc::new(project(&object.value));
    let create_only = object.meta.annotated(DOWNSYNC_OVERWRITE, "false");
    let id = Arc::new(object.id.clone());
    let resource: Arc<str> = Arc::from(object.resource.as_str());
    let wds_name: Arc<str> = Arc::from(wds.name.as_str());
    // Most objects reach many WECs through the same EdgePlacements: share one list per set.
    let mut placement_lists: HashMap<Vec<usize>, Arc<[String]>> = HashMap::new();
    let customized = recipe.expand || recipe.customizer.is_some();
    let mut cache: HashMap<Vec<Option<String>>, Result<Arc<Value>, String>> = HashMap::new();
    let mut failures: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for group in pairs.chunk_by(|a, b| a.0 == b.0) {
        let d = group[0].0;
        let wec = &resolution.wecs[d];
        let mut indices: Vec<usize> = group.iter().map(|&(_, p)| p).collect();
        indices.dedup();
        let placements = placement_lists
            .entry(indices)
            .or_insert_with_key(|indices| {
                let mut names: Vec<String> = indices
                    .iter()
                    .map(|&p| {
                        wds.edge_placements[resolution.placements[p].index]
                            .meta
                            .name
                            .clone()
                    })
                    .collect();
                names.sort();
                names.dedup();
                names.into()
            })
            .clone();
        let want_singleton = group.iter().any(|&(_, p)| {
            wds.edge_placements[resolution.placements[p].index]
                .spec
                .want_singleton_reported_state
        });
        let value = if customized {
            let inventory = &snapshot.inventories[wec.inventory];
            let location = wec.location.map(|l| &inventory.locations[l]);
            let empty = placement::no_labels();
            let params = Params {
                labels: location.map_or(empty, |l| &l.meta.labels),
                annotations: location.map_or(empty, |l| &l.meta.annotations),
                wec: &wec.name,
                location: &wec.placement.location_name,
            };
            let key: Vec<Option<String>> = recipe
                .parameters
                .iter()
                .map(|n| params.get(n).map(str::to_string))
                .collect();
            let result = cache.entry(key).or_insert_with(|| {
                customize::customize(&base, recipe.expand, recipe.customizer, &params)
                    .map(|v| match v {
                        std::borrow::Cow::Borrowed(_) => base.clone(),
                        std::borrow::Cow::Owned(v) => Arc::new(v),
                    })
                    .map_err(|e| describe_failure(&e, recipe.customizer))
            });
            match result {
                Ok(v) => v.clone(),
                Err(why) => {
                    failures.entry(why.clone()).or_default().push(&wec.name);
                    continue;
                }
            }
        } else {
            base.clone()
        };
        entries[d].push((
            rank,
            w,
            PlacedObject {
                wds: wds_name.clone(),
                also_from: Vec::new(),
                placements,
                create_only,
                want_singleton_reported_state: want_singleton,
                id: id.clone(),
                resource: resource.clone(),
                object: value,
                held: hold::HeldMark::default(),
            },
        ));
    }
    for (why, wecs) in failures {
        problems.push(Problem::new(
            &wds.name,
            &object.file,
            object.id.to_string(),
            format!("withheld from {}: {why}", name_list(&wecs)),
        ));
    }
}

/// A customization failure as a problem message, naming the Customizer when the fault is in it.
fn describe_failure(error: &customize::CustomizeError, customizer: Option<&Customizer>) -> String {
    use customize::CustomizeError as E;
    match (error, customizer) {
        (
            E::BadPath { .. }
            | E::BadValue { .. }
            | E::PathNotWritable { .. }
            | E::BadPatch { .. }
            | E::PatchFailed { .. },
            Some(c),
        ) => format!(
            "{error} (Customizer {}/{})",
            c.meta.namespace.as_deref().unwrap_or_default(),
            c.meta.name
        ),
        _ => error.to_string(),
    }
}

/// `a, b, c` — or the first ten and a count, so that a fleet-wide failure stays readable.
pub fn name_list(names: &[&str]) -> String {
    const SHOWN: usize = 10;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        )
    }
}

/// One object to place: its WDS, its index there, and its (WEC, placement) pairs, sorted.
type Job = (usize, usize, Vec<(usize, usize)>);

/// An object bound for a WEC before merging: its identity's rank, its WDS, the object.
type Entry = (u32, usize, PlacedObject);

/// A rank for every object's identity across all WDSes (equal identities, equal ranks), so that
/// each WEC's objects sort by integers rather than by four strings.
fn identity_ranks(snapshot: &Snapshot) -> Vec<Vec<u32>> {
    let mut all: Vec<(&ObjectId, usize, usize)> = snapshot
        .workloads
        .iter()
        .enumerate()
        .flat_map(|(w, wds)| {
            wds.objects
                .iter()
                .enumerate()
                .map(move |(o, obj)| (&obj.id, w, o))
        })
        .collect();
    all.sort_unstable();
    let mut rank: Vec<Vec<u32>> = snapshot
        .workloads
        .iter()
        .map(|w| vec![0; w.objects.len()])
        .collect();
    let mut current = 0u32;
    let mut previous: Option<&ObjectId> = None;
    for (id, w, o) in all {
        if previous != Some(id) {
            current += 1;
            previous = Some(id);
        }
        rank[w][o] = current;
    }
    rank
}

/// Sorts one WEC's objects and resolves the same identity coming from several WDSes (design §9.6).
fn merge_sources(
    mut entries: Vec<Entry>,
    snapshot: &Snapshot,
    wec: &str,
    problems: &mut Vec<Problem>,
) -> Vec<PlacedObject> {
    // Equal ranks are equal identities; (rank, WDS) is unique per WEC.
    entries.sort_unstable_by_key(|&(rank, w, _)| (rank, w));
    let mut out: Vec<PlacedObject> = Vec::with_capacity(entries.len());
    for (_, w, placed) in entries {
        if let Some(prev) = out.last_mut()
            && prev.id == placed.id
        {
            if prev.object == placed.object {
                prev.also_from.push(placed.wds);
                prev.create_only |= placed.create_only;
                prev.want_singleton_reported_state |= placed.want_singleton_reported_state;
            } else {
                let file = snapshot.workloads[w]
                    .object(&placed.id)
                    .map(|o| o.file.clone())
                    .unwrap_or_default();
                problems.push(Problem::new(
                    &*placed.wds,
                    file,
                    placed.id.to_string(),
                    format!(
                        "WDS {:?} and {:?} both send this object to {wec} and their copies differ; the copy from {:?} is delivered",
                        prev.wds, placed.wds, prev.wds
                    ),
                ));
            }
            continue;
        }
        out.push(placed);
    }
    out
}

#[cfg(test)]
mod tests;

/// The bare namespaces of a WEC's objects: the namespaces they live in that no Namespace object
/// among them defines (design §9.4), sorted.
pub(crate) fn bare_namespaces(objects: &[PlacedObject]) -> Vec<String> {
    let explicit: BTreeSet<&str> = objects
        .iter()
        .filter(|p| p.id.group.is_empty() && p.id.kind == "Namespace")
        .map(|p| p.id.name.as_str())
        .collect();
    let namespaces: BTreeSet<String> = objects
        .iter()
        .filter_map(|p| p.id.namespace.as_deref())
        .filter(|ns| !explicit.contains(ns))
        .map(str::to_string)
        .collect();
    namespaces.into_iter().collect()
}
