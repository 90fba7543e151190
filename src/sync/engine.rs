//! One sync of one WEC: apply what its mailbox holds, phase by phase, prune what left it, and
//! record what was done (design §5, §9.7–9.9).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use super::cluster::{Cluster, ClusterError, labels_of};
use super::desired::{
    Desired, Inventory, InventoryEntry, MANAGED_BY, Phase, is_create_only, is_ours, marked, phases,
    prune_candidates,
};
use super::{INVENTORY_NAME, SYSTEM_NAMESPACE};
use crate::model::ObjectId;

/// What one WEC should hold: its mailbox, read from git or from a plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mailbox {
    /// The WEC's name.
    pub wec: String,
    /// The mailbox commit, when read from git.
    pub commit: Option<String>,
    /// The objects.
    pub objects: Vec<Desired>,
    /// Namespaces that must exist but are not themselves placed: created bare, never deleted.
    pub bare_namespaces: Vec<String>,
}

impl Mailbox {
    /// The mailbox of one WEC as a plan computes it (push mode in the process that planned).
    pub fn from_destination(
        wec: &str,
        destination: &crate::plan::Destination,
        commit: Option<String>,
    ) -> Mailbox {
        let objects = destination
            .objects
            .iter()
            .map(|p| Desired {
                id: (*p.id).clone(),
                wds: p.wds.to_string(),
                create_only: p.create_only,
                object: (*p.object).clone(),
            })
            .collect();
        Mailbox {
            wec: wec.to_string(),
            commit,
            objects,
            bare_namespaces: destination.namespaces.clone(),
        }
    }
}

impl Mailbox {
    /// A mailbox read from its git tree (pull mode): every `objects/**.yaml` file, and the bare
    /// namespaces of `syncer-config.yaml` (cluster-scoped `namespaces` without an object file).
    /// The WDS of each object is read from its `gitstellar.io/origin` annotation.
    pub fn from_files(
        wec: &str,
        commit: Option<String>,
        files: &[crate::model::SourceFile],
    ) -> Result<Mailbox, String> {
        let mut objects = Vec::new();
        let mut listed_namespaces: Vec<String> = Vec::new();
        for file in files {
            let bytes = file
                .content
                .as_ref()
                .map_err(|e| format!("{}: {e}", file.path))?;
            let docs = crate::model::load::parse_documents(&file.path, bytes)
                .map_err(|e| format!("{}: {e}", file.path))?;
            if file.path == "syncer-config.yaml" {
                for doc in &docs {
                    let scopes = doc
                        .pointer("/spec/clusterScope")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for scope in scopes {
                        if scope
                            .get("group")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .is_empty()
                            && scope.get("resource").and_then(Value::as_str) == Some("namespaces")
                        {
                            let names = scope
                                .get("objects")
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default();
                            listed_namespaces.extend(
                                names.iter().filter_map(|n| n.as_str().map(str::to_string)),
                            );
                        }
                    }
                }
                continue;
            }
            if !file.path.starts_with("objects/") {
                continue;
            }
            for object in docs {
                let id = super::desired::live_id(&object)
                    .ok_or_else(|| format!("{}: not a Kubernetes object", file.path))?;
                let origin = object
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(super::ORIGIN))
                    .and_then(Value::as_str);
                let wds = origin
                    .and_then(super::desired::parse_origin)
                    .map(|(w, _)| w)
                    .unwrap_or_else(|| "unknown".into());
                let create_only = super::desired::is_create_only(&object);
                objects.push(Desired {
                    id,
                    wds,
                    create_only,
                    object,
                });
            }
        }
        let placed: std::collections::BTreeSet<&str> = objects
            .iter()
            .filter(|d| d.id.group.is_empty() && d.id.kind == "Namespace")
            .map(|d| d.id.name.as_str())
            .collect();
        let mut bare_namespaces: Vec<String> = listed_namespaces
            .into_iter()
            .filter(|n| !placed.contains(n.as_str()))
            .collect();
        bare_namespaces.sort();
        bare_namespaces.dedup();
        objects.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Mailbox {
            wec: wec.to_string(),
            commit,
            objects,
            bare_namespaces,
        })
    }
}

/// How a sync is carried out.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The gitstellar instance: the value of the `gitstellar.io/managed-by` label.
    pub instance: String,
    /// Objects applied at once within a phase.
    pub concurrency: usize,
    /// How long to wait for a CRD to be Established.
    pub crd_timeout: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            instance: "gitstellar".into(),
            concurrency: 8,
            crd_timeout: Duration::from_secs(60),
        }
    }
}

/// What happened to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Applied (created or updated).
    Applied,
    /// Create-only and created now.
    Created,
    /// Create-only and already there: left alone.
    Exists,
    /// Deleted because it left the mailbox.
    Pruned,
    /// Left the mailbox but was kept (create-only, no longer ours, or a Namespace others use).
    Kept,
    /// The API server refused it, or the cluster could not be reached.
    Failed,
}

/// The outcome for one object, with the API server's message when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ObjectReport {
    /// `group/Kind/namespace/name`.
    pub object: String,
    /// What happened.
    pub outcome: Outcome,
    /// Why, when it is not plain success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The outcome of one sync of one WEC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// The WEC.
    pub wec: String,
    /// The mailbox commit applied (or attempted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox_commit: Option<String>,
    /// Set when the WEC as a whole could not be synced (unreachable): nothing below is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per object, sorted.
    #[serde(default)]
    pub objects: Vec<ObjectReport>,
}

impl SyncReport {
    /// Whether every object went through.
    pub fn is_clean(&self) -> bool {
        self.error.is_none() && self.objects.iter().all(|o| o.outcome != Outcome::Failed)
    }

    /// How many objects had each outcome.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for o in &self.objects {
            let key = serde_json::to_value(&o.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *counts.entry(key).or_default() += 1;
        }
        counts
    }
}

fn report(id: &ObjectId, outcome: Outcome, message: Option<String>) -> ObjectReport {
    ObjectReport {
        object: id.to_string(),
        outcome,
        message,
    }
}

fn inventory_id(instance: &str) -> ObjectId {
    ObjectId {
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: Some(SYSTEM_NAMESPACE.into()),
        name: format!("{INVENTORY_NAME}-{instance}"),
    }
}

/// Reads what this instance applied to the cluster last time.
pub async fn read_inventory<C: Cluster>(
    cluster: &C,
    instance: &str,
) -> Result<Inventory, ClusterError> {
    let live = cluster.get("v1", &inventory_id(instance)).await?;
    let data: BTreeMap<String, String> = live
        .as_ref()
        .and_then(|cm| cm.get("data"))
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default();
    Ok(Inventory::from_data(&data))
}

async fn write_inventory<C: Cluster>(
    cluster: &C,
    instance: &str,
    inventory: &Inventory,
) -> Result<(), ClusterError> {
    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}});
    cluster.apply(&namespace, true).await?;
    let id = inventory_id(instance);
    let configmap = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": id.name, "namespace": SYSTEM_NAMESPACE, "labels": {MANAGED_BY: instance}},
        "data": inventory.to_data(),
    });
    cluster.apply(&configmap, true).await?;
    Ok(())
}

/// Syncs one WEC to its mailbox. Never fails as a whole: an unreachable cluster is reported in
/// [`SyncReport::error`], a refused object in its [`ObjectReport`].
pub async fn sync<C: Cluster>(cluster: &C, mailbox: &Mailbox, options: &SyncOptions) -> SyncReport {
    sync_incremental(cluster, mailbox, &BTreeSet::new(), options).await
}

/// Like [`sync`], but objects in `unchanged` (applied by an earlier sync, and the same in this
/// mailbox) are not applied again if the WEC's record still lists them: a one-object change costs
/// one apply per WEC, not one per object. Pruning and the record are complete either way.
pub async fn sync_incremental<C: Cluster>(
    cluster: &C,
    mailbox: &Mailbox,
    unchanged: &BTreeSet<ObjectId>,
    options: &SyncOptions,
) -> SyncReport {
    let mut out = SyncReport {
        wec: mailbox.wec.clone(),
        mailbox_commit: mailbox.commit.clone(),
        ..Default::default()
    };
    let previous = match read_inventory(cluster, &options.instance).await {
        Ok(inv) => inv,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let mut next = Inventory::default();

    // Bare namespaces first: created if missing, never taken over, never deleted.
    for ns in &mailbox.bare_namespaces {
        let bare = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        if let Err(e) = cluster.create(&bare).await {
            if e.is_unreachable() {
                out.error = Some(e.to_string());
                return out;
            }
            let id = ObjectId::new("", "Namespace", None, ns);
            out.objects
                .push(report(&id, Outcome::Failed, Some(e.to_string())));
        }
    }

    for (phase, list) in phases(&mailbox.objects) {
        let mut list = list;
        list.retain(|d| match previous.objects.get(&d.id) {
            Some(entry) if unchanged.contains(&d.id) => {
                next.objects.insert(d.id.clone(), entry.clone());
                false
            }
            _ => true,
        });
        let results: Vec<Applied> = futures::stream::iter(list)
            .map(|d| apply_one(cluster, d, &previous, options))
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        let mut unreachable = None;
        for Applied {
            report: rep,
            entry,
            unreachable: down,
        } in results
        {
            if down && unreachable.is_none() {
                unreachable = rep.message.clone();
            }
            if let Some((id, e)) = entry {
                next.objects.insert(id, e);
            }
            out.objects.push(rep);
        }
        if let Some(why) = unreachable {
            // Keep what we owned, so nothing is forgotten for pruning; try again next time.
            for (id, e) in &previous.objects {
                next.objects.entry(id.clone()).or_insert_with(|| e.clone());
            }
            if next != previous {
                let _ = write_inventory(cluster, &options.instance, &next).await;
            }
            out.error = Some(why);
            out.objects.sort_by(|a, b| a.object.cmp(&b.object));
            return out;
        }
        if phase == Phase::Definitions {
            let crds: Vec<&Desired> = mailbox
                .objects
                .iter()
                .filter(|d| super::desired::phase_of(&d.id) == Phase::Definitions)
                .collect();
            for crd in crds {
                if let Err(e) = cluster
                    .wait_established(&crd.id.name, options.crd_timeout)
                    .await
                {
                    out.objects
                        .push(report(&crd.id, Outcome::Failed, Some(e.to_string())));
                }
            }
            if let Err(e) = cluster.refresh().await {
                out.error = Some(e.to_string());
                return out;
            }
        }
    }

    for (id, entry) in prune_candidates(&previous, &mailbox.objects) {
        let (rep, keep) = prune_one(cluster, &id, &entry, options).await;
        if keep {
            next.objects.insert(id.clone(), entry);
        }
        out.objects.push(rep);
    }
    // Most syncs change objects, not the set of objects: then the record stands as it is.
    if next != previous
        && let Err(e) = write_inventory(cluster, &options.instance, &next).await
    {
        out.error = Some(format!("recording what was applied: {e}"));
    }
    out.objects.sort_by(|a, b| a.object.cmp(&b.object));
    out
}

/// The result of applying one object.
struct Applied {
    report: ObjectReport,
    /// Its inventory entry, when gitstellar owns it afterwards.
    entry: Option<(ObjectId, InventoryEntry)>,
    /// The cluster, not the object, was at fault.
    unreachable: bool,
}

async fn apply_one<C: Cluster>(
    cluster: &C,
    desired: &Desired,
    previous: &Inventory,
    options: &SyncOptions,
) -> Applied {
    let (report, entry, error) = apply_inner(cluster, desired, previous, options).await;
    let unreachable = error.as_ref().is_some_and(ClusterError::is_unreachable);
    Applied {
        report,
        entry,
        unreachable,
    }
}

type Attempt = (
    ObjectReport,
    Option<(ObjectId, InventoryEntry)>,
    Option<ClusterError>,
);

/// Applies one object: its report, its inventory entry, and the error that failed it.
async fn apply_inner<C: Cluster>(
    cluster: &C,
    desired: &Desired,
    previous: &Inventory,
    options: &SyncOptions,
) -> Attempt {
    let object = marked(desired, &options.instance);
    let version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let entry = (
        desired.id.clone(),
        InventoryEntry {
            wds: desired.wds.clone(),
            version,
        },
    );
    let failed = |e: ClusterError| -> Attempt {
        (
            report(&desired.id, Outcome::Failed, Some(e.to_string())),
            None,
            Some(e),
        )
    };
    if desired.create_only {
        return match cluster.create(&object).await {
            Ok(Some(_)) => (
                report(&desired.id, Outcome::Created, None),
                Some(entry),
                None,
            ),
            Ok(None) => (
                report(&desired.id, Outcome::Exists, None),
                Some(entry),
                None,
            ),
            Err(e) => failed(e),
        };
    }
    // Ours since an earlier sync: git is the source of truth, so drift is overwritten (force).
    let owned = previous.objects.contains_key(&desired.id);
    match cluster.apply(&object, owned).await {
        Ok(_) => (
            report(&desired.id, Outcome::Applied, None),
            Some(entry),
            None,
        ),
        Err(e) if e.is_conflict() && !owned => {
            // Not in our inventory: ours only if it carries our mark for this very object
            // (an inventory lost with its namespace, say). Otherwise take nothing over.
            let (api_version, _) = match super::cluster::identify(&object) {
                Ok(x) => x,
                Err(e) => return failed(e),
            };
            match cluster.get(&api_version, &desired.id).await {
                Ok(Some(live)) if is_ours(&live, &options.instance) => {
                    match cluster.apply(&object, true).await {
                        Ok(_) => (
                            report(&desired.id, Outcome::Applied, None),
                            Some(entry),
                            None,
                        ),
                        Err(e) => failed(e),
                    }
                }
                Err(get_error) => failed(get_error),
                _ => (
                    report(
                        &desired.id,
                        Outcome::Failed,
                        Some(format!(
                            "the object exists in the WEC and is not managed by gitstellar; nothing was taken over: {e}"
                        )),
                    ),
                    None,
                    None,
                ),
            }
        }
        Err(e) => {
            // A failed update of an object we own leaves it ours: keep it for pruning.
            let keep = owned.then_some(entry);
            (
                report(&desired.id, Outcome::Failed, Some(e.to_string())),
                keep,
                Some(e),
            )
        }
    }
}

/// Prunes one object that left the mailbox. Returns its report and whether to keep it in the
/// inventory (to try again, or because it is still ours).
async fn prune_one<C: Cluster>(
    cluster: &C,
    id: &ObjectId,
    entry: &InventoryEntry,
    options: &SyncOptions,
) -> (ObjectReport, bool) {
    let api_version = entry.api_version(id);
    let live = match cluster.get(&api_version, id).await {
        Ok(Some(live)) => live,
        Ok(None) => {
            return (
                report(id, Outcome::Pruned, Some("already gone".into())),
                false,
            );
        }
        Err(e) => return (report(id, Outcome::Failed, Some(e.to_string())), true),
    };
    if !is_ours(&live, &options.instance) {
        return (
            report(
                id,
                Outcome::Kept,
                Some("no longer carries gitstellar's mark: left alone".into()),
            ),
            false,
        );
    }
    if is_create_only(&live) {
        return (
            report(
                id,
                Outcome::Kept,
                Some("create-only objects are never deleted".into()),
            ),
            false,
        );
    }
    if id.group.is_empty() && id.kind == "Namespace" {
        match cluster.namespace_contents(&id.name).await {
            Ok(contents) => {
                let foreign: Vec<String> = contents
                    .iter()
                    .filter(|o| is_foreign(o, &options.instance))
                    .filter_map(|o| super::desired::live_id(o).map(|i| i.to_string()))
                    .collect();
                if !foreign.is_empty() {
                    return match unmark(cluster, &live).await {
                        Ok(()) => (
                            report(
                                id,
                                Outcome::Kept,
                                Some(format!(
                                    "holds objects gitstellar does not manage ({}); gitstellar's mark was removed",
                                    crate::plan::name_list(
                                        &foreign.iter().map(String::as_str).collect::<Vec<_>>()
                                    )
                                )),
                            ),
                            false,
                        ),
                        Err(e) => (report(id, Outcome::Failed, Some(e.to_string())), true),
                    };
                }
            }
            Err(e) => return (report(id, Outcome::Failed, Some(e.to_string())), true),
        }
    }
    match cluster.delete(&api_version, id).await {
        Ok(()) => (report(id, Outcome::Pruned, None), false),
        Err(e) => (report(id, Outcome::Failed, Some(e.to_string())), true),
    }
}

/// Whether an object in a namespace belongs to someone else: not ours, not made by the API
/// server itself, and not a child of another object (children go with their parents).
fn is_foreign(object: &Value, instance: &str) -> bool {
    if is_ours(object, instance) {
        return false;
    }
    if object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|o| !o.is_empty())
    {
        return false;
    }
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let secret_type = object.get("type").and_then(Value::as_str).unwrap_or("");
    let system = matches!(
        (kind, name),
        ("ConfigMap", "kube-root-ca.crt") | ("ServiceAccount", "default")
    ) || kind == "Event"
        || (kind == "Secret" && secret_type == "kubernetes.io/service-account-token");
    !system && !labels_of(object).contains_key(MANAGED_BY)
}

/// Removes gitstellar's label and annotation from a live object by applying an empty intent:
/// server-side apply drops the fields our manager no longer sets.
async fn unmark<C: Cluster>(cluster: &C, live: &Value) -> Result<(), ClusterError> {
    let mut empty = json!({
        "apiVersion": live.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": live.get("kind").cloned().unwrap_or(Value::Null),
        "metadata": {"name": live.pointer("/metadata/name").cloned().unwrap_or(Value::Null)},
    });
    if let Some(ns) = live.pointer("/metadata/namespace") {
        empty["metadata"]["namespace"] = ns.clone();
    }
    cluster.apply(&empty, true).await?;
    Ok(())
}
