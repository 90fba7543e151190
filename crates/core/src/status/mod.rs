//! Status: the status branch, `refs/heads/gitstellar/status` (design §3) — what KubeStellar keeps in
//! its spaces' API objects, as files.
//!
//! Input: a revision's [`Snapshot`], its placement [`Resolution`] and every [`Problem`] of the pass.
//! Output: the files of the status tree:
//! - `placements/<wds>/<edgeplacement>.yaml`: each EdgePlacement's `SinglePlacementSlice` (spec §5:
//!   same name as the EdgePlacement, an owner reference to it, `destinations` of
//!   `{cluster, locationName, syncTargetName, syncTargetUID}`, sorted);
//! - `problems.yaml`: every problem as `{space, file, line, column, object, message}` (`[]` when none), with
//!   `holds` when the problem holds something at its last good state (design §9.16): the source
//!   revision held, the identities and WECs, whole mailboxes, or an EdgePlacement; a held
//!   EdgePlacement's SinglePlacementSlice carries the annotations `gitstellar.io/held` (why) and
//!   `gitstellar.io/held-from` (the revision whose resolution is used).
//!
//! Status return (issue 16) adds, in submodules: [`health`] (kstatus health of one live object),
//! [`reported`] (one object's reported state without noise, Secret digests, and a WEC's reported
//! files), [`upsync`] (which WEC objects come back, and as what) and [`rollup`] (health counted per
//! WEC and per EdgePlacement). Later parts add `wds/` and `summaries/`. Pure: no I/O.

pub mod health;
pub mod reported;
pub mod rollup;
pub mod upsync;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{
    EDGE_API_VERSION, EdgePlacement, Problem, SinglePlacement, SinglePlacementSlice, Snapshot,
    WorkloadSpace,
};
use crate::placement::Resolution;
use crate::plan::hold::{HELD_ANNOTATION, HELD_FROM_ANNOTATION, Holding, Holds};
use crate::tree::{Changes, Files, valid_component};

/// The status branch.
pub const REF: &str = "refs/heads/gitstellar/status";

/// The directory of the SinglePlacementSlices.
pub const PLACEMENTS_DIR: &str = "placements";

/// The file listing every problem.
pub const PROBLEMS_FILE: &str = "problems.yaml";

/// Why the status tree could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Rendering YAML failed.
    #[error("rendering {what} as YAML: {message}")]
    Yaml {
        /// What was rendered.
        what: String,
        /// The serializer's reason.
        message: String,
    },
}

/// The status tree and the problems found while making it.
#[derive(Clone, Debug, Default)]
pub struct StatusTree {
    /// Path → content.
    pub files: Files,
    /// EdgePlacements whose names cannot be file names (also listed in `problems.yaml`).
    pub problems: Vec<Problem>,
}

/// The path of an EdgePlacement's SinglePlacementSlice in the status tree.
pub fn placement_path(wds: &str, edge_placement: &str) -> String {
    format!("{PLACEMENTS_DIR}/{wds}/{edge_placement}.yaml")
}

/// One entry of `problems.yaml`: the problem, and what it holds at its last good state (design
/// §9.16), if anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemEntry {
    /// The problem.
    #[serde(flatten)]
    pub problem: Problem,
    /// What it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<Holding>,
}

/// Reads `problems.yaml` back; `None` when it is not a list of problems.
pub fn read_problems(bytes: &[u8]) -> Option<Vec<ProblemEntry>> {
    let text = std::str::from_utf8(bytes).ok()?;
    crate::yaml::from_str(text).ok()
}

/// Renders the status tree. `problems` are the pass's problems so far; the result's `problems`
/// adds those found here, and `problems.yaml` lists them all, sorted.
pub fn build(
    snapshot: &Snapshot,
    resolution: &Resolution,
    problems: &[Problem],
) -> Result<StatusTree, StatusError> {
    build_held(snapshot, resolution, problems, &Holds::default())
}

/// [`build`], with what the pass holds: `problems.yaml` entries say what they hold, and a held
/// EdgePlacement's SinglePlacementSlice says why and from which revision.
pub fn build_held(
    snapshot: &Snapshot,
    resolution: &Resolution,
    problems: &[Problem],
    holds: &Holds,
) -> Result<StatusTree, StatusError> {
    let mut out = StatusTree::default();
    let mut slices: BTreeMap<String, SinglePlacementSlice> = BTreeMap::new();
    for rp in &resolution.placements {
        let Some(wds) = snapshot.workloads.get(rp.wds) else {
            continue;
        };
        let Some(ep) = wds.edge_placements.get(rp.index) else {
            continue;
        };
        if !valid_component(&wds.name) || !valid_component(&format!("{}.yaml", ep.meta.name)) {
            out.problems.push(Problem::new(
                &wds.name,
                &ep.file,
                format!(
                    "edge.kubestellar.io/EdgePlacement/_cluster/{}",
                    ep.meta.name
                ),
                "this name cannot be a file name in git; its SinglePlacementSlice is not written",
            ));
            continue;
        }
        let mut destinations: Vec<SinglePlacement> = rp
            .destinations
            .iter()
            .filter_map(|&d| resolution.wecs.get(d))
            .map(|w| w.placement.clone())
            .collect();
        destinations.sort();
        destinations.dedup();
        let mut slice = single_placement_slice(wds, ep, destinations);
        if let Some(mark) = holds
            .placements
            .get(&(wds.name.clone(), ep.meta.name.clone()))
            && let Some(meta) = slice.metadata.as_object_mut()
        {
            meta.insert(
                "annotations".into(),
                serde_json::json!({
                    HELD_ANNOTATION: mark.reason,
                    HELD_FROM_ANNOTATION: mark.revision,
                }),
            );
        }
        slices.insert(placement_path(&wds.name, &ep.meta.name), slice);
    }
    for (path, slice) in slices {
        let yaml = to_yaml(&slice, &path)?;
        out.files
            .insert(Arc::from(path), Arc::from(yaml.into_bytes()));
    }
    let mut all: Vec<Problem> = problems.iter().chain(&out.problems).cloned().collect();
    all.sort();
    all.dedup();
    let all: Vec<ProblemEntry> = all
        .into_iter()
        .map(|problem| ProblemEntry {
            holds: holds.by_problem.get(&problem).cloned(),
            problem,
        })
        .collect();
    let yaml = to_yaml(&all, PROBLEMS_FILE)?;
    out.files
        .insert(Arc::from(PROBLEMS_FILE), Arc::from(yaml.into_bytes()));
    Ok(out)
}

/// An EdgePlacement's SinglePlacementSlice: same name, owned by the EdgePlacement.
pub fn single_placement_slice(
    wds: &WorkloadSpace,
    ep: &EdgePlacement,
    destinations: Vec<SinglePlacement>,
) -> SinglePlacementSlice {
    let uid = ep
        .meta
        .uid
        .clone()
        .unwrap_or_else(|| crate::model::derived_uid("edgeplacement", &wds.dir, &ep.meta.name));
    SinglePlacementSlice {
        api_version: EDGE_API_VERSION.into(),
        kind: "SinglePlacementSlice".into(),
        metadata: serde_json::json!({
            "name": ep.meta.name,
            "ownerReferences": [{
                "apiVersion": EDGE_API_VERSION,
                "kind": "EdgePlacement",
                "name": ep.meta.name,
                "uid": uid,
            }],
        }),
        destinations,
    }
}

/// The subject of a status commit: `status: 1 SinglePlacementSlice added, 2 changed; problems changed`.
pub fn commit_subject(changes: &Changes) -> String {
    let mut parts: Vec<String> = changes
        .count_under(
            PLACEMENTS_DIR,
            ("SinglePlacementSlice", "SinglePlacementSlices"),
        )
        .into_iter()
        .collect();
    let problems = PROBLEMS_FILE.to_string();
    if changes.added.contains(&problems) {
        parts.push("problem list created".into());
    } else if changes.changed.contains(&problems) {
        parts.push("problems changed".into());
    }
    let others = changes
        .added
        .iter()
        .chain(&changes.changed)
        .chain(&changes.removed)
        .filter(|p| **p != problems && !p.starts_with(&format!("{PLACEMENTS_DIR}/")))
        .count();
    if others > 0 {
        parts.push(format!("{others} other files changed"));
    }
    if parts.is_empty() {
        parts.push("updated".into());
    }
    format!("status: {}", parts.join("; "))
}

fn to_yaml(value: &impl Serialize, what: &str) -> Result<String, StatusError> {
    crate::yaml::to_string(value).map_err(|e| StatusError::Yaml {
        what: what.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_say_what_changed() {
        let first = Changes {
            added: vec!["placements/w/ep.yaml".into(), PROBLEMS_FILE.into()],
            ..Changes::default()
        };
        assert_eq!(
            commit_subject(&first),
            "status: 1 SinglePlacementSlice added; problem list created"
        );
        let later = Changes {
            changed: vec![PROBLEMS_FILE.into()],
            ..Changes::default()
        };
        assert_eq!(commit_subject(&later), "status: problems changed");
    }

    #[test]
    fn empty_status_has_empty_problem_list() {
        let tree = build(&Snapshot::default(), &Resolution::default(), &[]).expect("renders");
        let problems = String::from_utf8_lossy(&tree.files[PROBLEMS_FILE]).into_owned();
        assert_eq!(problems.trim(), "[]");
        assert_eq!(tree.files.len(), 1);
    }
}
