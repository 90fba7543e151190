//! Rollup: the fleet at a glance, from the reported health of every WEC and the plan's
//! EdgePlacements — what `gitstellar status` prints (issue 16, "Seeing it").
//!
//! Inputs: per WEC, the health of every object gitstellar applied there (as `health.yaml` of its
//! reported ref holds it, read with [`wec_health`]); the revision's [`Plan`]. Output: a
//! [`Rollup`]: per WEC, how many objects are in each health; per EdgePlacement, how many of its
//! destinations are ready, of how many. A destination is ready when its WEC has reported and every object that EdgePlacement
//! sends there is `Current`. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use super::health::HealthStatus;
use super::reported::HealthFile;
use crate::model::ObjectId;
use crate::plan::Plan;

/// Per WEC: the health of every object gitstellar applied there.
pub type FleetHealth = BTreeMap<String, BTreeMap<ObjectId, HealthStatus>>;

/// The fleet at a glance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rollup {
    /// Per WEC that reported: objects per health (only healths with at least one object).
    pub wecs: BTreeMap<String, BTreeMap<HealthStatus, usize>>,
    /// Per EdgePlacement, in the plan's order.
    pub placements: Vec<PlacementRollup>,
}

/// One EdgePlacement's destinations, ready of total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementRollup {
    /// The WDS holding the EdgePlacement.
    pub wds: String,
    /// The EdgePlacement.
    pub name: String,
    /// Destinations whose objects from this EdgePlacement are all `Current`.
    pub ready: usize,
    /// Destinations.
    pub total: usize,
    /// The destinations that are not ready, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ready: Vec<String>,
}

/// One WEC's entry of [`FleetHealth`], from the `health.yaml` of its reported ref. Lines whose
/// object cannot be read back are left out (they name nothing the plan could place).
pub fn wec_health(file: &HealthFile) -> BTreeMap<ObjectId, HealthStatus> {
    file.objects
        .iter()
        .filter_map(|line| Some((ObjectId::parse(&line.object)?, line.health)))
        .collect()
}

/// The rollup of `fleet` under `plan`.
pub fn rollup(plan: &Plan, fleet: &FleetHealth) -> Rollup {
    let wecs = fleet
        .iter()
        .map(|(wec, objects)| {
            let mut counts = BTreeMap::new();
            for status in objects.values() {
                *counts.entry(*status).or_insert(0) += 1;
            }
            (wec.clone(), counts)
        })
        .collect();
    let placements = plan
        .placements
        .iter()
        .map(|ep| {
            let mut wecs: Vec<&str> = ep
                .destinations
                .iter()
                .map(|d| d.sync_target.as_str())
                .collect();
            wecs.sort_unstable();
            wecs.dedup();
            let not_ready: Vec<String> = wecs
                .iter()
                .filter(|wec| !destination_ready(plan, fleet, &ep.wds, &ep.name, wec))
                .map(|wec| wec.to_string())
                .collect();
            PlacementRollup {
                wds: ep.wds.clone(),
                name: ep.name.clone(),
                ready: wecs.len() - not_ready.len(),
                total: wecs.len(),
                not_ready,
            }
        })
        .collect();
    Rollup { wecs, placements }
}

fn destination_ready(plan: &Plan, fleet: &FleetHealth, wds: &str, ep: &str, wec: &str) -> bool {
    let Some(reported) = fleet.get(wec) else {
        return false;
    };
    let Some(destination) = plan.destinations.get(wec) else {
        return false;
    };
    destination
        .objects
        .iter()
        .filter(|o| &*o.wds == wds && o.placements.iter().any(|p| p == ep))
        .all(|o| reported.get(&o.id) == Some(&HealthStatus::Current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SourceFile, load};

    const LOCATIONS: &str = "
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata: {name: florin, labels: {env: prod}}
spec: {resource: {group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}, instanceSelector: {matchLabels: {id: florin}}}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata: {name: florin, labels: {id: florin}}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata: {name: guilder, labels: {env: prod, extended: 'yes'}}
spec: {resource: {group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}, instanceSelector: {matchLabels: {id: guilder}}}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata: {name: guilder, labels: {id: guilder}}
";

    const WORKLOAD: &str = "
apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata: {name: common}
spec:
  locationSelectors: [{matchLabels: {env: prod}}]
  downsync: [{apiGroup: '', resources: [configmaps], objectNames: ['*']}]
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata: {name: special}
spec:
  locationSelectors: [{matchLabels: {extended: 'yes'}}]
  downsync: [{apiGroup: apps, resources: [deployments], objectNames: ['*']}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: app}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: app}
";

    fn plan() -> Plan {
        let files: Vec<SourceFile> = [
            ("inventory/all.yaml", LOCATIONS),
            ("wds/wmw/all.yaml", WORKLOAD),
        ]
        .iter()
        .map(|(path, content)| SourceFile {
            path: (*path).to_string(),
            content: Ok(content.as_bytes().to_vec()),
        })
        .collect();
        let snapshot = load(&files);
        assert!(snapshot.problems.is_empty(), "{:?}", snapshot.problems);
        crate::plan::compute(&snapshot)
    }

    fn cm() -> ObjectId {
        ObjectId::new("", "ConfigMap", Some("app"), "cm")
    }

    fn deployment() -> ObjectId {
        ObjectId::new("apps", "Deployment", Some("app"), "d")
    }

    #[test]
    fn a_reported_health_file_reads_back_into_the_fleet() {
        use crate::status::reported::{HEALTH_FILE, Reported, read_health, render_reported_ref};
        let live: serde_json::Value = serde_saphyr::from_str(
            "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d, namespace: app}, spec: {replicas: 2}}",
        )
        .expect("YAML");
        let reports = [
            Reported::from_live(cm(), None),
            Reported::from_live(deployment(), Some(&live)),
        ];
        let files = render_reported_ref(&reports).expect("renders");
        let file = read_health(&files[HEALTH_FILE]).expect("reads back");
        let wec = wec_health(&file);
        assert_eq!(
            wec,
            [
                (cm(), HealthStatus::NotFound),
                (deployment(), HealthStatus::InProgress)
            ]
            .into()
        );
        let rollup = rollup(&plan(), &[("guilder".to_string(), wec)].into());
        assert!(rollup.placements.iter().all(|p| p.ready == 0));
    }

    #[test]
    fn destinations_are_ready_when_their_objects_are_current() {
        let plan = plan();
        let mut fleet = FleetHealth::new();
        fleet.insert("florin".into(), [(cm(), HealthStatus::Current)].into());
        fleet.insert(
            "guilder".into(),
            [
                (cm(), HealthStatus::Current),
                (deployment(), HealthStatus::InProgress),
            ]
            .into(),
        );
        let rollup = rollup(&plan, &fleet);
        let by_name: BTreeMap<&str, &PlacementRollup> = rollup
            .placements
            .iter()
            .map(|p| (p.name.as_str(), p))
            .collect();
        assert_eq!((by_name["common"].ready, by_name["common"].total), (2, 2));
        assert_eq!((by_name["special"].ready, by_name["special"].total), (0, 1));
        assert_eq!(by_name["special"].not_ready, ["guilder"]);
        assert_eq!(
            rollup.wecs["guilder"],
            [(HealthStatus::Current, 1), (HealthStatus::InProgress, 1)].into()
        );

        fleet
            .get_mut("guilder")
            .expect("guilder reported")
            .insert(deployment(), HealthStatus::Current);
        fleet.remove("florin");
        let rollup = super::rollup(&plan, &fleet);
        let common = rollup
            .placements
            .iter()
            .find(|p| p.name == "common")
            .expect("common is placed");
        assert_eq!(
            (common.ready, common.total),
            (1, 2),
            "florin never reported"
        );
        assert_eq!(common.not_ready, ["florin"]);
    }
}
