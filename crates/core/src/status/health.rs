//! Health: how far one live object in a WEC is from what was asked of it, in the vocabulary Flux
//! and kubectl users know from kstatus (sigs.k8s.io/cli-utils `pkg/kstatus/status`).
//!
//! Input: the object as the WEC holds it (a JSON value), or `None` when the WEC does not hold it.
//! Output: a [`Health`]: one of [`HealthStatus`] with a one-line reason. Pure: no I/O, no clock.
//!
//! The rules, in order (docs/status.md lists them with examples):
//! 1. absent → `NotFound`; not an object, or a field of the wrong type → `Unknown`;
//! 2. `metadata.deletionTimestamp` → `Terminating`;
//! 3. `status.observedGeneration` differs from `metadata.generation` → `InProgress`;
//! 4. a `Stalled` condition that is `True` → `Failed`; a `Reconciling` one → `InProgress`;
//! 5. the kind's own rule (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
//!    CustomResourceDefinition, Namespace, PersistentVolumeClaim, Service);
//! 6. any other kind: its `Ready` condition if it has one, else `Current` (an object without
//!    status, such as a ConfigMap, is `Current` once applied).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// kstatus's status values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HealthStatus {
    /// The object is what was asked of it.
    Current,
    /// The object is getting there.
    InProgress,
    /// The object will not get there without help.
    Failed,
    /// The object is being deleted.
    Terminating,
    /// The WEC does not hold the object.
    NotFound,
    /// The object's status cannot be read.
    Unknown,
}

impl HealthStatus {
    /// Every status, in the order summaries list them.
    pub const ALL: [HealthStatus; 6] = [
        HealthStatus::Current,
        HealthStatus::InProgress,
        HealthStatus::Failed,
        HealthStatus::Terminating,
        HealthStatus::NotFound,
        HealthStatus::Unknown,
    ];

    /// The name as kstatus writes it (`InProgress`).
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Current => "Current",
            HealthStatus::InProgress => "InProgress",
            HealthStatus::Failed => "Failed",
            HealthStatus::Terminating => "Terminating",
            HealthStatus::NotFound => "NotFound",
            HealthStatus::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of one object: its status and why, in one line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why, in one line (kstatus's message where kstatus has one).
    pub reason: String,
}

impl Health {
    fn new(status: HealthStatus, reason: impl Into<String>) -> Health {
        let reason: String = reason.into();
        // A reason is one line: a condition's message may hold several.
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        Health { status, reason }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

/// A field that is there but of the wrong type: the object's health is `Unknown`.
#[derive(Debug)]
struct BadField(String);

type Rule = Result<Health, BadField>;

/// The health of `object`, as a WEC holds it (`None`: it holds no such object).
pub fn health(object: Option<&Value>) -> Health {
    let Some(object) = object else {
        return Health::new(HealthStatus::NotFound, "Resource not found");
    };
    let Some(obj) = object.as_object() else {
        return Health::new(HealthStatus::Unknown, "The object is not a map");
    };
    match compute(obj) {
        Ok(health) => health,
        Err(BadField(what)) => Health::new(HealthStatus::Unknown, what),
    }
}

fn compute(obj: &Map<String, Value>) -> Rule {
    for part in ["metadata", "spec", "status"] {
        if !matches!(obj.get(part), None | Some(Value::Null | Value::Object(_))) {
            return Err(BadField(format!("{part} is not a map")));
        }
    }
    if let Some(health) = generic(obj)? {
        return Ok(health);
    }
    let kind = string(obj, &["kind"])?.unwrap_or_default();
    let group = string(obj, &["apiVersion"])?
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or_default();
    match (group, kind) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => stateful_set(obj),
        ("apps", "DaemonSet") => daemon_set(obj),
        ("apps", "ReplicaSet") => replica_set(obj),
        ("batch", "Job") => job(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        ("", "Namespace") => namespace(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("", "Service") => service(obj),
        _ => ready_condition(obj),
    }
}

/// kstatus's `checkGenericProperties`: deletion, generation, `Stalled` and `Reconciling`.
fn generic(obj: &Map<String, Value>) -> Result<Option<Health>, BadField> {
    if string(obj, &["metadata", "deletionTimestamp"])?.is_some_and(|t| !t.is_empty()) {
        return Ok(Some(Health::new(
            HealthStatus::Terminating,
            "Resource scheduled for deletion",
        )));
    }
    if let (Some(generation), Some(observed)) = (
        int(obj, &["metadata", "generation"])?,
        int(obj, &["status", "observedGeneration"])?,
    ) && generation != observed
    {
        let kind = string(obj, &["kind"])?.unwrap_or("Resource");
        return Ok(Some(Health::new(
            HealthStatus::InProgress,
            format!(
                "{kind} generation is {generation}, but latest observed generation is {observed}"
            ),
        )));
    }
    for c in conditions(obj)? {
        if c.kind == "Reconciling" && c.status == "True" {
            return Ok(Some(Health::new(
                HealthStatus::InProgress,
                c.text("Reconciling"),
            )));
        }
        if c.kind == "Stalled" && c.status == "True" {
            return Ok(Some(Health::new(HealthStatus::Failed, c.text("Stalled"))));
        }
    }
    Ok(None)
}

fn in_progress(reason: impl Into<String>) -> Rule {
    Ok(Health::new(HealthStatus::InProgress, reason))
}

fn current(reason: impl Into<String>) -> Rule {
    Ok(Health::new(HealthStatus::Current, reason))
}

fn deployment(obj: &Map<String, Value>) -> Rule {
    let mut progressing = false;
    let mut available = false;
    for c in conditions(obj)? {
        match c.kind {
            "Progressing" => {
                if c.reason == "ProgressDeadlineExceeded" {
                    return Ok(Health::new(
                        HealthStatus::Failed,
                        "Progress deadline exceeded",
                    ));
                }
                progressing |= c.status == "True" && c.reason == "NewReplicaSetAvailable";
            }
            "Available" => available |= c.status == "True",
            _ => {}
        }
    }
    // The controller's default when `spec.replicas` is not given.
    let spec = int(obj, &["spec", "replicas"])?.unwrap_or(1);
    let replicas = int(obj, &["status", "replicas"])?.unwrap_or(0);
    let updated = int(obj, &["status", "updatedReplicas"])?.unwrap_or(0);
    let ready = int(obj, &["status", "readyReplicas"])?.unwrap_or(0);
    let avail = int(obj, &["status", "availableReplicas"])?.unwrap_or(0);
    if spec > replicas {
        return in_progress(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > updated {
        return in_progress(format!("Updated: {updated}/{spec}"));
    }
    if replicas > spec {
        return in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if updated > avail {
        return in_progress(format!("Available: {avail}/{updated}"));
    }
    if spec > ready {
        return in_progress(format!("Ready: {ready}/{spec}"));
    }
    if !progressing {
        return in_progress("ReplicaSet not Available");
    }
    if !available {
        return in_progress("Deployment not Available");
    }
    current(format!("Deployment is available. Replicas: {replicas}"))
}

fn stateful_set(obj: &Map<String, Value>) -> Rule {
    if string(obj, &["spec", "updateStrategy", "type"])? == Some("OnDelete") {
        return current("StatefulSet is using the ondelete update strategy");
    }
    let spec = int(obj, &["spec", "replicas"])?.unwrap_or(1);
    let ready = int(obj, &["status", "readyReplicas"])?.unwrap_or(0);
    let current_replicas = int(obj, &["status", "currentReplicas"])?.unwrap_or(0);
    let updated = int(obj, &["status", "updatedReplicas"])?.unwrap_or(0);
    let replicas = int(obj, &["status", "replicas"])?.unwrap_or(0);
    let partition = int(
        obj,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
    )?;
    if spec > replicas {
        return in_progress(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return in_progress(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if let Some(partition) = partition {
        if updated < spec - partition {
            return in_progress(format!("Updated: {updated}/{}", spec - partition));
        }
        return current(format!("Partition rollout complete. Updated: {updated}"));
    }
    if spec > current_replicas {
        return in_progress(format!("Current: {current_replicas}/{spec}"));
    }
    let current_revision = string(obj, &["status", "currentRevision"])?.unwrap_or_default();
    let update_revision = string(obj, &["status", "updateRevision"])?.unwrap_or_default();
    if current_revision != update_revision {
        return in_progress("Waiting for updated revision to match current");
    }
    current(format!(
        "All replicas scheduled as expected. Replicas: {replicas}"
    ))
}

fn daemon_set(obj: &Map<String, Value>) -> Rule {
    let Some(desired) = int(obj, &["status", "desiredNumberScheduled"])? else {
        return in_progress("Missing .status.desiredNumberScheduled");
    };
    let scheduled = int(obj, &["status", "currentNumberScheduled"])?.unwrap_or(0);
    let updated = int(obj, &["status", "updatedNumberScheduled"])?.unwrap_or(0);
    let available = int(obj, &["status", "numberAvailable"])?.unwrap_or(0);
    let ready = int(obj, &["status", "numberReady"])?.unwrap_or(0);
    if desired > scheduled {
        return in_progress(format!("Current: {scheduled}/{desired}"));
    }
    if desired > updated {
        return in_progress(format!("Updated: {updated}/{desired}"));
    }
    if desired > available {
        return in_progress(format!("Available: {available}/{desired}"));
    }
    if desired > ready {
        return in_progress(format!("Ready: {ready}/{desired}"));
    }
    current(format!(
        "All replicas scheduled as expected. Replicas: {desired}"
    ))
}

fn replica_set(obj: &Map<String, Value>) -> Rule {
    if conditions(obj)?
        .iter()
        .any(|c| c.kind == "ReplicaFailure" && c.status == "True")
    {
        return in_progress("Replica Failure condition. Check Pods");
    }
    let spec = int(obj, &["spec", "replicas"])?.unwrap_or(1);
    let replicas = int(obj, &["status", "replicas"])?.unwrap_or(0);
    let ready = int(obj, &["status", "readyReplicas"])?.unwrap_or(0);
    let available = int(obj, &["status", "availableReplicas"])?.unwrap_or(0);
    let labelled = int(obj, &["status", "fullyLabeledReplicas"])?.unwrap_or(0);
    if spec > labelled {
        return in_progress(format!("Labelled: {labelled}/{spec}"));
    }
    if spec > available {
        return in_progress(format!("Available: {available}/{spec}"));
    }
    if spec > ready {
        return in_progress(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return in_progress(format!("Pending termination: {}", replicas - spec));
    }
    current(format!("ReplicaSet is available. Replicas: {replicas}"))
}

fn job(obj: &Map<String, Value>) -> Rule {
    let parallelism = int(obj, &["spec", "parallelism"])?.unwrap_or(1);
    let completions = int(obj, &["spec", "completions"])?.unwrap_or(parallelism);
    let succeeded = int(obj, &["status", "succeeded"])?.unwrap_or(0);
    let failed = int(obj, &["status", "failed"])?.unwrap_or(0);
    let active = int(obj, &["status", "active"])?.unwrap_or(0);
    for c in conditions(obj)? {
        if c.kind == "Complete" && c.status == "True" {
            return current(format!(
                "Job Completed. Succeeded: {succeeded}/{completions}"
            ));
        }
        if c.kind == "Failed" && c.status == "True" {
            return Ok(Health::new(
                HealthStatus::Failed,
                format!("Job Failed. Failed: {failed}/{completions}"),
            ));
        }
    }
    if string(obj, &["status", "startTime"])?.is_none_or(str::is_empty) {
        return in_progress("Job not started");
    }
    current(format!(
        "Job in progress. Succeeded: {succeeded}, active: {active}, failed: {failed}"
    ))
}

fn crd(obj: &Map<String, Value>) -> Rule {
    for c in conditions(obj)? {
        if c.kind == "NamesAccepted" && c.status == "False" {
            return Ok(Health::new(
                HealthStatus::Failed,
                c.text("Names not accepted"),
            ));
        }
        if c.kind == "Established" {
            if c.status == "False" && c.reason != "Installing" {
                return Ok(Health::new(HealthStatus::Failed, c.text("Not established")));
            }
            if c.status == "True" {
                return current("CRD is established");
            }
        }
    }
    in_progress("Install in progress")
}

fn namespace(obj: &Map<String, Value>) -> Rule {
    match string(obj, &["status", "phase"])? {
        Some("Terminating") => Ok(Health::new(
            HealthStatus::Terminating,
            "Namespace is terminating",
        )),
        _ => current("Namespace is active"),
    }
}

fn pvc(obj: &Map<String, Value>) -> Rule {
    match string(obj, &["status", "phase"])? {
        Some("Bound") => current("PVC is Bound"),
        Some("Lost") => Ok(Health::new(
            HealthStatus::Failed,
            "PVC lost its PersistentVolume",
        )),
        phase => in_progress(format!("PVC is not Bound. Phase: {}", phase.unwrap_or(""))),
    }
}

fn service(obj: &Map<String, Value>) -> Rule {
    if string(obj, &["spec", "type"])? != Some("LoadBalancer") {
        return current("Service is ready");
    }
    let ingress = match lookup(obj, &["status", "loadBalancer", "ingress"]) {
        None | Some(Value::Null) => 0,
        Some(Value::Array(list)) => list.len(),
        Some(_) => {
            return Err(BadField("status.loadBalancer.ingress is not a list".into()));
        }
    };
    if ingress == 0 {
        return in_progress("LoadBalancer has no ingress yet");
    }
    current("LoadBalancer has ingress")
}

/// Everything else: a `Ready` condition decides; without one the object is `Current`.
fn ready_condition(obj: &Map<String, Value>) -> Rule {
    let all = conditions(obj)?;
    let Some(ready) = all.iter().find(|c| c.kind == "Ready") else {
        return current("Resource is current");
    };
    match ready.status {
        "True" => current(ready.text("Resource is Ready")),
        _ => in_progress(ready.text("Resource is not Ready")),
    }
}

/// One entry of `status.conditions`, borrowed.
struct Condition<'a> {
    kind: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

impl Condition<'_> {
    /// `reason: message`, what there is of them, or `fallback`.
    fn text(&self, fallback: &str) -> String {
        match (self.reason.is_empty(), self.message.is_empty()) {
            (true, true) => fallback.to_string(),
            (false, true) => self.reason.to_string(),
            (true, false) => self.message.to_string(),
            (false, false) => format!("{}: {}", self.reason, self.message),
        }
    }
}

fn conditions(obj: &Map<String, Value>) -> Result<Vec<Condition<'_>>, BadField> {
    let list = match lookup(obj, &["status", "conditions"]) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(BadField("status.conditions is not a list".into())),
    };
    list.iter()
        .map(|c| {
            let c = c
                .as_object()
                .ok_or_else(|| BadField("a status condition is not a map".into()))?;
            let field = |name: &str| match c.get(name) {
                None | Some(Value::Null) => Ok(""),
                Some(Value::String(s)) => Ok(s.as_str()),
                Some(_) => Err(BadField(format!(
                    "a status condition's {name} is not a string"
                ))),
            };
            Ok(Condition {
                kind: field("type")?,
                status: field("status")?,
                reason: field("reason")?,
                message: field("message")?,
            })
        })
        .collect()
}

fn lookup<'a>(obj: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(obj.get(*first)?, |v, key| v.as_object()?.get(*key))
}

fn string<'a>(obj: &'a Map<String, Value>, path: &[&str]) -> Result<Option<&'a str>, BadField> {
    match lookup(obj, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(BadField(format!("{} is not a string", path.join(".")))),
    }
}

fn int(obj: &Map<String, Value>, path: &[&str]) -> Result<Option<i64>, BadField> {
    match lookup(obj, path) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| BadField(format!("{} is not an integer", path.join(".")))),
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
