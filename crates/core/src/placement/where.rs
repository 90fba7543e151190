//! The where-resolver: Locations selected by `locationSelectors`, paired with SyncTargets.

use std::collections::BTreeMap;

use super::{Context, Selector, Wec, compile_all};
use crate::model::{LabelSelector, Problem, SinglePlacement, Snapshot};

/// A Location that some SyncTarget is paired with, and the WECs it reaches.
struct PairedLocation<'a> {
    labels: &'a BTreeMap<String, String>,
    wecs: Vec<usize>,
}

/// The inventory of a snapshot, paired once and queried per EdgePlacement.
pub(super) struct Inventory<'a> {
    wecs: Vec<Wec>,
    locations: Vec<PairedLocation<'a>>,
}

impl<'a> Inventory<'a> {
    /// Pairs every Location with the SyncTargets its `instanceSelector` matches (same space only).
    pub(super) fn new(
        snapshot: &'a Snapshot,
        problems: &mut Vec<Problem>,
        invalid: &mut BTreeMap<(usize, usize), Problem>,
    ) -> Inventory<'a> {
        // (WEC name, inventory index, SyncTarget index) for every SyncTarget, first by name.
        let mut targets: Vec<(&str, usize, usize)> = Vec::new();
        for (i, inv) in snapshot.inventories.iter().enumerate() {
            for (s, st) in inv.sync_targets.iter().enumerate() {
                targets.push((&st.meta.name, i, s));
            }
        }
        targets.sort();
        let mut wecs: Vec<Wec> = Vec::new();
        let mut wec_of: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for (name, i, s) in targets {
            let inv = &snapshot.inventories[i];
            let st = &inv.sync_targets[s];
            if let Some(prev) = wecs.last().filter(|w| w.name == name) {
                problems.push(Problem::new(
                    &inv.name,
                    &st.file,
                    format!("edge.kubestellar.io/SyncTarget/_cluster/{name}"),
                    format!(
                        "a SyncTarget named {name:?} is also in inventory space {:?}; WEC names must be unique, this one is ignored",
                        snapshot.inventories[prev.inventory].name
                    ),
                ));
                continue;
            }
            let uid = st
                .meta
                .uid
                .clone()
                .unwrap_or_else(|| derived_uid(&inv.dir, name));
            wec_of.insert((i, s), wecs.len());
            wecs.push(Wec {
                name: name.to_string(),
                inventory: i,
                sync_target: s,
                location: None,
                placement: SinglePlacement {
                    cluster: inv.name.clone(),
                    location_name: String::new(),
                    sync_target_name: name.to_string(),
                    sync_target_uid: uid,
                },
            });
        }

        let mut locations = Vec::new();
        for (i, inv) in snapshot.inventories.iter().enumerate() {
            for (l, loc) in inv.locations.iter().enumerate() {
                let object = format!("edge.kubestellar.io/Location/_cluster/{}", loc.meta.name);
                let problem =
                    |message: String| Problem::new(&inv.name, &loc.file, &object, message);
                // A Location that pairs with nothing still counts as matching an EdgePlacement's
                // selectors (`matchingLocationCount`); it just reaches no WEC.
                let unpaired = PairedLocation {
                    labels: &loc.meta.labels,
                    wecs: Vec::new(),
                };
                let selector = match &loc.spec.instance_selector {
                    None => {
                        problems.push(problem(
                            "spec.instanceSelector is absent, so this Location pairs with no SyncTarget".into(),
                        ));
                        locations.push(unpaired);
                        continue;
                    }
                    Some(sel) => match Selector::compile(sel) {
                        Ok(sel) => sel,
                        Err(e) => {
                            let p = problem(format!("spec.instanceSelector is invalid: {e}"));
                            invalid.insert((i, l), p.clone());
                            problems.push(p);
                            locations.push(unpaired);
                            continue;
                        }
                    },
                };
                let paired: Vec<usize> = inv
                    .sync_targets
                    .iter()
                    .enumerate()
                    .filter(|(_, st)| selector.matches(&st.meta.labels))
                    .filter_map(|(s, _)| wec_of.get(&(i, s)).copied())
                    .collect();
                match paired.len() {
                    0 => problems.push(problem(format!(
                        "spec.instanceSelector ({selector}) matches no usable SyncTarget in inventory space {:?} (a SyncTarget with a problem of its own does not count)",
                        inv.name
                    ))),
                    1 => {}
                    n => {
                        let names: Vec<&str> = paired.iter().map(|&w| wecs[w].name.as_str()).collect();
                        problems.push(problem(format!(
                            "spec.instanceSelector matches {n} SyncTargets ({}); KubeStellar pairs a Location with one SyncTarget. Each is a destination",
                            names.join(", ")
                        )));
                    }
                }
                for &w in &paired {
                    match wecs[w].location {
                        None => {
                            wecs[w].location = Some(l);
                            wecs[w].placement.location_name = loc.meta.name.clone();
                        }
                        Some(first) => problems.push(problem(format!(
                            "SyncTarget {:?} is also paired with Location {:?}; its parameters come from {:?}",
                            wecs[w].name, inv.locations[first].meta.name, inv.locations[first].meta.name
                        ))),
                    }
                }
                locations.push(PairedLocation {
                    labels: &loc.meta.labels,
                    wecs: paired,
                });
            }
        }
        Inventory { wecs, locations }
    }

    /// The WECs an EdgePlacement's `locationSelectors` reach, sorted, and how many Locations matched.
    pub(super) fn destinations(
        &self,
        selectors: &[LabelSelector],
        ctx: &Context<'_>,
        problems: &mut Vec<Problem>,
    ) -> (Vec<usize>, usize) {
        let selectors = compile_all(selectors, "spec.locationSelectors", |m| {
            problems.push(ctx.problem(m))
        });
        let mut wecs = Vec::new();
        let mut matching = 0;
        for loc in &self.locations {
            if selectors.iter().any(|s| s.matches(loc.labels)) {
                matching += 1;
                wecs.extend_from_slice(&loc.wecs);
            }
        }
        wecs.sort_unstable();
        wecs.dedup();
        (wecs, matching)
    }

    pub(super) fn into_wecs(self) -> Vec<Wec> {
        self.wecs
    }
}

/// A stable SyncTarget UID for a SyncTarget whose manifest gives none (design §9.13), derived
/// from the inventory directory and the name so that it survives every revision.
pub fn derived_uid(inventory_dir: &str, name: &str) -> String {
    crate::model::derived_uid("synctarget", inventory_dir, name)
}

#[cfg(test)]
mod tests {
    use super::derived_uid;

    #[test]
    fn derived_uids_are_stable_and_distinct() {
        let a = derived_uid("inventory", "florin");
        assert_eq!(a, derived_uid("inventory", "florin"));
        assert_ne!(a, derived_uid("inventory", "guilder"));
        assert_ne!(a, derived_uid("other", "florin"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
    }
}
