//! Placement: KubeStellar's where-resolver and what-resolver over one [`Snapshot`].
//!
//! *Where*: each EdgePlacement's `locationSelectors` select Locations (of every inventory space);
//! each Location is paired with its SyncTarget through `instanceSelector`; the pairs are the
//! EdgePlacement's destinations (its SinglePlacementSlice). *What*: each object of the
//! EdgePlacement's WDS that passes any `downsync` test, less what its `upsync` rules claim (design
//! §9.5), plus the implicit CRDs of selected custom resources. The union over EdgePlacements is
//! taken by [`crate::plan`]. Pure: no I/O.

mod explain;
pub mod selector;
mod what;
mod r#where;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Problem, SinglePlacement, Snapshot, UpsyncSet};
pub use explain::{Explanation, PlacementVerdict, explain};
pub use selector::{Selector, SelectorError};
pub use what::{is_system_object, upsync_matches};

/// A workload execution cluster: one SyncTarget and the Location it is paired with.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Wec {
    /// The SyncTarget's name, unique across inventory spaces.
    pub name: String,
    /// Index of the inventory space in [`Snapshot::inventories`].
    pub inventory: usize,
    /// Index of the SyncTarget in its space.
    pub sync_target: usize,
    /// Index of the paired Location in its space, if any Location pairs with this SyncTarget.
    pub location: Option<usize>,
    /// The SinglePlacement that names this destination (empty `locationName` when unpaired).
    pub placement: SinglePlacement,
}

/// One EdgePlacement, resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResolvedPlacement {
    /// Index of the WDS in [`Snapshot::workloads`].
    pub wds: usize,
    /// Index of the EdgePlacement in its WDS.
    pub index: usize,
    /// Destinations, as indices into [`Resolution::wecs`], sorted.
    pub destinations: Vec<usize>,
    /// How many Locations the `locationSelectors` matched.
    pub matching_location_count: usize,
    /// Selected objects (indices into the WDS's objects), sorted; implicit CRDs included.
    pub objects: Vec<usize>,
    /// Indices of the objects in `objects` that only the implicit-CRD rule added.
    pub implicit: Vec<usize>,
    /// The upsync rules, de-duplicated.
    pub upsync: Vec<UpsyncSet>,
}

/// The where and what of every EdgePlacement of a snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolution {
    /// Every WEC of every inventory space, sorted by name.
    pub wecs: Vec<Wec>,
    /// Every EdgePlacement, in WDS order then name order.
    pub placements: Vec<ResolvedPlacement>,
    /// Problems found while resolving (bad selectors, pairing).
    pub problems: Vec<Problem>,
    /// EdgePlacements (indices into `placements`) with an invalid selector, each with its first
    /// problem: what a problem holds (design §9.16).
    pub invalid_placements: BTreeMap<usize, Problem>,
    /// Locations (inventory index, Location index) whose `instanceSelector` is invalid, each with
    /// its problem.
    pub invalid_locations: BTreeMap<(usize, usize), Problem>,
}

impl Resolution {
    /// The WEC of this name.
    pub fn wec(&self, name: &str) -> Option<&Wec> {
        self.wecs
            .binary_search_by(|w| w.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.wecs[i])
    }
}

/// Resolves every EdgePlacement of the snapshot.
pub fn resolve(snapshot: &Snapshot) -> Resolution {
    let mut problems = Vec::new();
    let mut invalid_locations = BTreeMap::new();
    let inventory = r#where::Inventory::new(snapshot, &mut problems, &mut invalid_locations);
    let mut placements = Vec::new();
    let mut invalid_placements = BTreeMap::new();
    for (w, wds) in snapshot.workloads.iter().enumerate() {
        let what = what::WhatIndex::new(wds);
        for (e, ep) in wds.edge_placements.iter().enumerate() {
            let ctx = Context {
                wds: &wds.name,
                file: &ep.file,
                ep: &ep.meta.name,
            };
            let before = problems.len();
            let (destinations, matching_location_count) =
                inventory.destinations(&ep.spec.location_selectors, &ctx, &mut problems);
            let (objects, implicit) = what.select(&ep.spec, &ctx, &mut problems);
            // Every problem found here is an invalid selector (they never fail otherwise).
            if let Some(p) = problems.get(before) {
                invalid_placements.insert(placements.len(), p.clone());
            }
            let mut upsync = ep.spec.upsync.clone();
            upsync.sort();
            upsync.dedup();
            placements.push(ResolvedPlacement {
                wds: w,
                index: e,
                destinations,
                matching_location_count,
                objects,
                implicit,
                upsync,
            });
        }
    }
    // Located here, where they are made, so that every copy (the list and what each one holds)
    // is the same value downstream.
    snapshot.locate(&mut problems);
    for p in invalid_placements
        .values_mut()
        .chain(invalid_locations.values_mut())
    {
        snapshot.locate(std::slice::from_mut(p));
    }
    Resolution {
        wecs: inventory.into_wecs(),
        placements,
        problems,
        invalid_placements,
        invalid_locations,
    }
}

/// Where a problem found during resolution is reported.
pub(crate) struct Context<'a> {
    wds: &'a str,
    file: &'a str,
    ep: &'a str,
}

impl Context<'_> {
    fn problem(&self, message: String) -> Problem {
        Problem::new(
            self.wds,
            self.file,
            format!("edge.kubestellar.io/EdgePlacement/_cluster/{}", self.ep),
            message,
        )
    }
}

/// Compiles a list of selectors, reporting each invalid one; an invalid selector matches nothing
/// (as KubeStellar's what-resolver does), the valid ones still apply.
pub(crate) fn compile_all(
    selectors: &[crate::model::LabelSelector],
    field: &str,
    mut report: impl FnMut(String),
) -> Vec<Selector> {
    selectors
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match Selector::compile(s) {
            Ok(sel) => Some(sel),
            Err(e) => {
                report(format!("{field}[{i}] is invalid and matches nothing: {e}"));
                None
            }
        })
        .collect()
}

/// The empty label set: what cluster-scoped objects are tested against by `namespaceSelectors`.
pub fn no_labels() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

#[cfg(test)]
mod tests;
