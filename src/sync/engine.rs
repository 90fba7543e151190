//! One sync of one WEC (KubeStellar's syncer, one pass): apply what its mailbox holds, phase by
//! phase, prune what left it, and record what was done (design §5, §9.7–9.9).
//!
//! Input: a [`Mailbox`] and a [`Cluster`]. Output: the WEC's state, its record
//! ([`super::record`], written ahead of every apply), and a [`SyncReport`] with an [`ObjectOutcome`]
//! per object. The whole sync holds the WEC's sync lock ([`super::lock`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use super::cluster::{Cluster, ClusterError, Written, labels_of};
use super::desired::{
    Desired, Inventory, InventoryEntry, MANAGED_BY, PENDING, Phase, is_create_only, is_ours,
    marked, phases, prune_candidates,
};
use super::lock::{self, Taken};
use super::record::Record;
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
    /// How long the WEC's sync lock lasts without renewal (it is renewed every third of it): the
    /// longest a killed sync can keep others out.
    pub lock_duration: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            instance: "gitstellar".into(),
            concurrency: 8,
            crd_timeout: Duration::from_secs(60),
            lock_duration: Duration::from_secs(30),
        }
    }
}

/// What happened to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectOutcome {
    /// It did not exist in the WEC and was created (create-only ones too).
    Created,
    /// The mailbox's object changed since the last sync, and the WEC's was changed to match.
    /// (Earlier versions wrote `applied` for every apply: read as this.)
    #[serde(alias = "applied")]
    Updated,
    /// The WEC already held what the mailbox says: nothing was changed.
    Unchanged,
    /// The mailbox's object did not change since the last sync, but the WEC's differed (someone
    /// edited or deleted it) and was put back.
    DriftCorrected,
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
    pub outcome: ObjectOutcome,
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
    /// Set when another sync of this WEC was under way (it holds the WEC's sync lock): this one
    /// did nothing. Not a failure of any object; the WEC is synced next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<String>,
    /// Per object, sorted.
    #[serde(default)]
    pub objects: Vec<ObjectReport>,
}

impl SyncReport {
    /// Whether every object went through.
    pub fn is_clean(&self) -> bool {
        self.error.is_none()
            && self.busy.is_none()
            && self
                .objects
                .iter()
                .all(|o| o.outcome != ObjectOutcome::Failed)
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

fn report(id: &ObjectId, outcome: ObjectOutcome, message: Option<String>) -> ObjectReport {
    ObjectReport {
        object: id.to_string(),
        outcome,
        message,
    }
}

/// Reads what this instance applied to the cluster last time (every part of its record).
pub async fn read_inventory<C: Cluster>(
    cluster: &C,
    instance: &str,
) -> Result<Inventory, ClusterError> {
    Ok(Record::read(cluster, instance).await?.inventory())
}

/// Syncs one WEC to its mailbox. Never fails as a whole: an unreachable cluster is reported in
/// [`SyncReport::error`], a refused object in its [`ObjectReport`].
pub async fn sync<C: Cluster>(cluster: &C, mailbox: &Mailbox, options: &SyncOptions) -> SyncReport {
    sync_incremental(cluster, mailbox, &BTreeSet::new(), options).await
}

/// Like [`sync`], but objects in `unchanged` (applied by an earlier sync, and the same in this
/// mailbox) are not applied again if the WEC's record still lists them: a one-object change costs
/// one apply per WEC, not one per object. Pruning and the record are complete either way.
///
/// The sync holds the WEC's sync lock ([`super::lock`]) throughout; when another sync holds it,
/// nothing is done and [`SyncReport::busy`] says so.
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
    let mut lock = match lock::acquire(cluster, &options.instance, options.lock_duration).await {
        Ok(Taken::Held(lock)) => lock,
        Ok(Taken::Busy(why)) => {
            out.busy = Some(why);
            return out;
        }
        Err(e) => {
            out.error = Some(format!("taking the WEC's sync lock: {e}"));
            return out;
        }
    };
    match lock
        .hold(cluster, pass(cluster, mailbox, unchanged, options))
        .await
    {
        Ok(done) => out = done,
        Err(lost) => out.error = Some(lost.to_string()),
    }
    lock.release(cluster).await;
    out.objects.sort_by(|a, b| a.object.cmp(&b.object));
    out
}

/// One sync under the lock. The record is written ahead: every object about to be applied is
/// in it before the first apply, and a pruned object leaves it only after its deletion, so an
/// object gitstellar applied is in the record whatever fails in between.
async fn pass<C: Cluster>(
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
    let mut record = match Record::read(cluster, &options.instance).await {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(format!("reading the WEC's record: {e}"));
            return out;
        }
    };
    let previous = record.inventory();

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
                .push(report(&id, ObjectOutcome::Failed, Some(e.to_string())));
        }
    }

    // Write ahead: what is about to be applied for the first time is recorded first.
    let ahead: Vec<(ObjectId, InventoryEntry)> = mailbox
        .objects
        .iter()
        .filter(|d| !previous.objects.contains_key(&d.id))
        .map(|d| (d.id.clone(), entry_of(d, PENDING)))
        .collect();
    if !ahead.is_empty() {
        record.add(ahead);
        if let Err(e) = record.write(cluster).await {
            out.error = Some(format!(
                "recording what is about to be applied (nothing was applied): {e}"
            ));
            return out;
        }
    }

    let mut next = Inventory::default();
    for (phase, list) in phases(&mailbox.objects) {
        let mut list = list;
        list.retain(|d| match previous.objects.get(&d.id) {
            Some(entry) if unchanged.contains(&d.id) => {
                next.objects.insert(d.id.clone(), entry.clone());
                false
            }
            _ => true,
        });
        // The futures are made before they are streamed: a closure over borrowed objects inside
        // the stream would keep the sync's future from being `Send` (a rustc limitation with
        // higher-ranked lifetimes).
        let applies: Vec<_> = list
            .into_iter()
            .map(|d| apply_one(cluster, d, &previous, options))
            .collect();
        let results: Vec<Applied> = futures::stream::iter(applies)
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
            // Keep everything recorded (written ahead included): nothing is forgotten for
            // pruning; what was confirmed gets its digest. Try again next time.
            for (id, e) in record.inventory().objects {
                next.objects.entry(id).or_insert(e);
            }
            record.set(&next);
            let _ = record.write(cluster).await;
            out.error = Some(why);
            return out;
        }
        if phase == Phase::Definitions {
            let crds: Vec<&Desired> = mailbox
                .objects
                .iter()
                .filter(|d| super::desired::phase_of(&d.id) == Phase::Definitions)
                .collect();
            for crd in &crds {
                if let Err(e) = cluster
                    .wait_established(&crd.id.name, options.crd_timeout)
                    .await
                {
                    out.objects
                        .push(report(&crd.id, ObjectOutcome::Failed, Some(e.to_string())));
                }
            }
            // Their kinds are learnt from the CRDs: no second discovery.
            let objects: Vec<Value> = crds.iter().map(|d| d.object.clone()).collect();
            cluster.learn_definitions(&objects).await;
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
    record.set(&next);
    if record.is_dirty()
        && let Err(e) = record.write(cluster).await
    {
        out.error = Some(format!("recording what was applied: {e}"));
    }
    out
}

/// The record entry of a desired object, with this digest.
fn entry_of(desired: &Desired, digest: &str) -> InventoryEntry {
    let version = desired
        .object
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|a| crate::model::split_api_version(a).1.to_string())
        .unwrap_or_default();
    InventoryEntry {
        wds: desired.wds.clone(),
        version,
        digest: digest.to_string(),
    }
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

fn resource_version(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

/// Applies one object: its report, its inventory entry, and the error that failed it.
///
/// The outcome: `created` when the write made the object (HTTP 201); else, for an object in the
/// record, `unchanged` when the live object already holds what the mailbox says (no write) or
/// the write left its `resourceVersion` as it was, `driftCorrected` when the mailbox's object has
/// the digest recorded at the last sync but the live one differed, and `updated` when the digest
/// changed (the mailbox's object changed).
async fn apply_inner<C: Cluster>(
    cluster: &C,
    desired: &Desired,
    previous: &Inventory,
    options: &SyncOptions,
) -> Attempt {
    let object = marked(desired, &options.instance);
    let digest = super::desired::digest(&object);
    let confirmed = (desired.id.clone(), entry_of(desired, &digest));
    let recorded = previous.objects.get(&desired.id);
    let owned = recorded.is_some();
    // What the record held before, kept when the outcome of a write is unknown: a pending
    // entry for an object that may or may not have been applied.
    let unsure = || {
        (
            desired.id.clone(),
            recorded
                .cloned()
                .unwrap_or_else(|| entry_of(desired, PENDING)),
        )
    };
    let failed = |e: ClusterError, keep: bool| -> Attempt {
        let entry = (keep || owned || e.is_unreachable()).then(unsure);
        (
            report(&desired.id, ObjectOutcome::Failed, Some(e.to_string())),
            entry,
            Some(e),
        )
    };
    let ok = |outcome: ObjectOutcome| -> Attempt {
        (
            report(&desired.id, outcome, None),
            Some(confirmed.clone()),
            None,
        )
    };
    if desired.create_only {
        return match cluster.create(&object).await {
            Ok(Some(_)) => ok(ObjectOutcome::Created),
            Ok(None) => ok(ObjectOutcome::Exists),
            Err(e) => failed(e, false),
        };
    }
    let (api_version, _) = match super::cluster::identify(&object) {
        Ok(x) => x,
        Err(e) => return failed(e, false),
    };
    let same_intent = recorded.is_some_and(|e| e.digest == digest);
    // Ours since an earlier sync: read it first, to tell drift from no change.
    let before = if owned {
        match cluster.get(&api_version, &desired.id).await {
            Ok(live) => live,
            Err(e) => return failed(e, false),
        }
    } else {
        None
    };
    if same_intent
        && before
            .as_ref()
            .is_some_and(|live| super::desired::satisfied(&object, live))
    {
        return ok(ObjectOutcome::Unchanged);
    }
    let judge = |written: &Written, before: Option<&Value>| -> ObjectOutcome {
        if written.created {
            if same_intent {
                ObjectOutcome::DriftCorrected
            } else {
                ObjectOutcome::Created
            }
        } else if before.and_then(resource_version).is_some()
            && before.and_then(resource_version) == resource_version(&written.object)
        {
            ObjectOutcome::Unchanged
        } else if same_intent {
            ObjectOutcome::DriftCorrected
        } else {
            ObjectOutcome::Updated
        }
    };
    // Ours: git is the source of truth, so drift is overwritten (force).
    match cluster.apply(&object, owned).await {
        Ok(written) => ok(judge(&written, before.as_ref())),
        Err(e) if e.is_conflict() && !owned => {
            // Not in our record: ours only if it carries our mark for this very object
            // (a record lost with its namespace, say). Otherwise take nothing over.
            match cluster.get(&api_version, &desired.id).await {
                Ok(Some(live)) if is_ours(&live, &options.instance) => {
                    match cluster.apply(&object, true).await {
                        Ok(written) => ok(judge(&written, Some(&live))),
                        Err(e) => failed(e, true),
                    }
                }
                Err(get_error) => failed(get_error, false),
                _ => (
                    report(
                        &desired.id,
                        ObjectOutcome::Failed,
                        Some(format!(
                            "the object exists in the WEC and is not managed by gitstellar; nothing was taken over: {e}"
                        )),
                    ),
                    None,
                    None,
                ),
            }
        }
        // A failed update of an object we own leaves it ours: keep it for pruning.
        Err(e) => failed(e, false),
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
                report(id, ObjectOutcome::Pruned, Some("already gone".into())),
                false,
            );
        }
        Err(e) => return (report(id, ObjectOutcome::Failed, Some(e.to_string())), true),
    };
    if !is_ours(&live, &options.instance) {
        return (
            report(
                id,
                ObjectOutcome::Kept,
                Some("no longer carries gitstellar's mark: left alone".into()),
            ),
            false,
        );
    }
    if is_create_only(&live) {
        return (
            report(
                id,
                ObjectOutcome::Kept,
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
                                ObjectOutcome::Kept,
                                Some(format!(
                                    "holds objects gitstellar does not manage ({}); gitstellar's mark was removed",
                                    crate::plan::name_list(
                                        &foreign.iter().map(String::as_str).collect::<Vec<_>>()
                                    )
                                )),
                            ),
                            false,
                        ),
                        Err(e) => (report(id, ObjectOutcome::Failed, Some(e.to_string())), true),
                    };
                }
            }
            Err(e) => return (report(id, ObjectOutcome::Failed, Some(e.to_string())), true),
        }
    }
    match cluster.delete(&api_version, id).await {
        Ok(()) => (report(id, ObjectOutcome::Pruned, None), false),
        Err(e) => (report(id, ObjectOutcome::Failed, Some(e.to_string())), true),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::memory::MemoryCluster;

    fn configmap(name: &str, data: Value) -> Desired {
        let object = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop"},
            "data": data,
        });
        Desired {
            id: ObjectId::new("", "ConfigMap", Some("shop"), name),
            wds: "wds1".into(),
            create_only: false,
            object,
        }
    }

    fn mailbox(objects: Vec<Desired>) -> Mailbox {
        Mailbox {
            wec: "florin".into(),
            commit: None,
            objects,
            bare_namespaces: Vec::new(),
        }
    }

    fn outcome_of(report: &SyncReport, name: &str) -> Option<ObjectOutcome> {
        report
            .objects
            .iter()
            .find(|o| o.object == configmap(name, Value::Null).id.to_string())
            .map(|o| o.outcome.clone())
    }

    #[tokio::test]
    async fn objects_are_created_updated_and_left_unchanged() {
        let cluster = MemoryCluster::new();
        let options = SyncOptions::default();
        let first = sync(
            &cluster,
            &mailbox(vec![configmap("a", json!({"k": "1"}))]),
            &options,
        )
        .await;
        assert!(first.is_clean(), "{first:?}");
        assert_eq!(outcome_of(&first, "a"), Some(ObjectOutcome::Created));
        let again = sync(
            &cluster,
            &mailbox(vec![configmap("a", json!({"k": "1"}))]),
            &options,
        )
        .await;
        assert_eq!(outcome_of(&again, "a"), Some(ObjectOutcome::Unchanged));
        let changed = sync(
            &cluster,
            &mailbox(vec![configmap("a", json!({"k": "2"}))]),
            &options,
        )
        .await;
        assert_eq!(outcome_of(&changed, "a"), Some(ObjectOutcome::Updated));
        let live = cluster.object(&configmap("a", Value::Null).id).unwrap();
        assert_eq!(live.pointer("/data/k"), Some(&json!("2")));
        assert_eq!(
            live.pointer(&format!(
                "/metadata/labels/{}",
                MANAGED_BY.replace('/', "~1")
            )),
            Some(&json!("gitstellar"))
        );
    }

    #[tokio::test]
    async fn only_what_is_ours_is_pruned() {
        let cluster = MemoryCluster::new();
        let options = SyncOptions::default();
        let both = vec![configmap("a", json!({})), configmap("b", json!({}))];
        assert!(sync(&cluster, &mailbox(both), &options).await.is_clean());
        // Someone else's object, and one of ours that someone took over (our mark removed).
        cluster
            .insert(configmap("theirs", json!({})).object)
            .unwrap();
        let b = configmap("b", json!({}));
        cluster.insert(b.object.clone()).unwrap();
        let report = sync(
            &cluster,
            &mailbox(vec![configmap("a", json!({}))]),
            &options,
        )
        .await;
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(outcome_of(&report, "b"), Some(ObjectOutcome::Kept));
        assert_eq!(outcome_of(&report, "theirs"), None);
        assert!(cluster.object(&b.id).is_some());
        assert!(cluster.object(&configmap("theirs", json!({})).id).is_some());
        // Ours, and then left the mailbox: pruned.
        let report = sync(&cluster, &mailbox(Vec::new()), &options).await;
        assert_eq!(outcome_of(&report, "a"), Some(ObjectOutcome::Pruned));
        assert!(cluster.object(&configmap("a", json!({})).id).is_none());
    }

    #[tokio::test]
    async fn a_create_only_object_is_created_once_and_then_left_alone() {
        let cluster = MemoryCluster::new();
        let options = SyncOptions::default();
        let mut seed = configmap("seed", json!({"k": "git"}));
        seed.create_only = true;
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            super::super::desired::DOWNSYNC_OVERWRITE.into(),
            json!("false"),
        );
        seed.object["metadata"]["annotations"] = Value::Object(annotations);
        let first = sync(&cluster, &mailbox(vec![seed.clone()]), &options).await;
        assert_eq!(outcome_of(&first, "seed"), Some(ObjectOutcome::Created));
        let mut edited = cluster.object(&seed.id).unwrap();
        edited["data"]["k"] = json!("edited in the WEC");
        cluster.replace(&edited).await.unwrap();
        let again = sync(&cluster, &mailbox(vec![seed.clone()]), &options).await;
        assert_eq!(outcome_of(&again, "seed"), Some(ObjectOutcome::Exists));
        let live = cluster.object(&seed.id).unwrap();
        assert_eq!(live.pointer("/data/k"), Some(&json!("edited in the WEC")));
        // Left the mailbox: kept, never deleted.
        let gone = sync(&cluster, &mailbox(Vec::new()), &options).await;
        assert_eq!(outcome_of(&gone, "seed"), Some(ObjectOutcome::Kept));
        assert!(cluster.object(&seed.id).is_some());
    }

    #[tokio::test]
    async fn a_refused_apply_fails_that_object_only() {
        let cluster = MemoryCluster::new();
        let options = SyncOptions::default();
        let bad = configmap("bad", json!({}));
        cluster.refuse(bad.id.clone());
        let report = sync(
            &cluster,
            &mailbox(vec![bad, configmap("good", json!({}))]),
            &options,
        )
        .await;
        assert!(!report.is_clean());
        assert_eq!(report.error, None, "the WEC was reached");
        assert_eq!(outcome_of(&report, "bad"), Some(ObjectOutcome::Failed));
        let message = report.objects.iter().find_map(|o| o.message.clone());
        assert!(message.is_some_and(|m| m.contains("refused")));
        assert_eq!(outcome_of(&report, "good"), Some(ObjectOutcome::Created));
    }

    #[tokio::test]
    async fn an_unreachable_cluster_is_an_error_of_the_whole_sync() {
        let cluster = MemoryCluster::new();
        cluster.set_unreachable(true);
        let report = sync(
            &cluster,
            &mailbox(vec![configmap("a", json!({}))]),
            &SyncOptions::default(),
        )
        .await;
        assert!(report.error.is_some(), "{report:?}");
        assert!(report.objects.is_empty());
        assert_eq!(cluster.writes(), 0);
    }
}
