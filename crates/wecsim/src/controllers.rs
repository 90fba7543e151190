//! Simulated controllers: what kube-controller-manager and the API server's own strategies
//! would do, reduced to what a GitOps reconciler observes. Deployments (and ReplicaSets,
//! StatefulSets, DaemonSets) report ready after a delay, Jobs complete, Services get a cluster
//! IP, namespaces go Active and, when deleted, are emptied; CRDs are accepted and established;
//! owned objects are garbage-collected with their owner.

use super::ops;
use super::resources::ResourceDef;
use super::store::{Cluster, EventType, now, str_at};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Synchronous admission: defaults and fields the API server itself fills on create and update.
pub fn admit(cluster: &Cluster, def: &ResourceDef, obj: &mut Value, old: Option<&Arc<Value>>) {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") if old.is_none() => {
            obj["status"] = json!({"phase": "Active"});
            if obj.pointer("/spec/finalizers").is_none() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
        }
        ("", "secrets") if obj.get("type").is_none_or(Value::is_null) => {
            obj["type"] = json!("Opaque");
        }
        ("", "services") => {
            let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
                obj["spec"] = json!({});
                return admit(cluster, def, obj, old);
            };
            if !spec.contains_key("type") {
                spec.insert("type".into(), json!("ClusterIP"));
            }
            let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
            let has_ip = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !external && !has_ip {
                let ip = old
                    .and_then(|o| o.pointer("/spec/clusterIP"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        let n = cluster.next_ip.fetch_add(1, Ordering::Relaxed);
                        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
                    });
                spec.insert("clusterIP".into(), json!(ip));
                spec.insert("clusterIPs".into(), json!([ip]));
            }
            if old.is_none() && obj.get("status").is_none() {
                obj["status"] = json!({"loadBalancer": {}});
            }
        }
        ("apps", "deployments") | ("apps", "replicasets") | ("apps", "statefulsets") => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
                && !spec.contains_key("replicas")
            {
                spec.insert("replicas".into(), json!(1));
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions")
            if obj.pointer("/metadata/deletionTimestamp").is_none() =>
        {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let stored: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                        .filter_map(|v| v.get("name").cloned())
                        .collect()
                })
                .unwrap_or_default();
            let t = now();
            obj["status"] = json!({
                "acceptedNames": names,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
                ],
                "storedVersions": stored,
            });
        }
        _ => {}
    }
}

fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
    // Commits made outside a runtime (loading a data dir) have no controllers to run.
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(fut);
    }
}

/// Reacts to a committed change.
pub fn after_commit(
    cluster: &Arc<Cluster>,
    def: &Arc<ResourceDef>,
    kind: EventType,
    obj: &Arc<Value>,
) {
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let observed = obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let ns = str_at(obj, "namespace").to_string();
    let name = str_at(obj, "name").to_string();
    match (def.group.as_str(), def.plural.as_str(), kind) {
        (_, _, EventType::Deleted) => {
            let uid = str_at(obj, "uid").to_string();
            let (c, d) = (cluster.clone(), def.clone());
            spawn(async move { collect_garbage(&c, &d, &uid, &ns, &name) });
        }
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets", _)
            if observed != Some(generation) =>
        {
            let (c, d) = (cluster.clone(), def.clone());
            let delay = cluster.behaviour.ready_delay;
            spawn(async move {
                set_status(&c, &d, &ns, &name, generation, |o| {
                    workload_status(&d, o, false)
                });
                tokio::time::sleep(delay).await;
                set_status(&c, &d, &ns, &name, generation, |o| {
                    workload_status(&d, o, true)
                });
            });
        }
        ("batch", "jobs", EventType::Added) => {
            let (c, d) = (cluster.clone(), def.clone());
            let delay = cluster.behaviour.job_duration;
            spawn(async move {
                let started = now();
                set_status(&c, &d, &ns, &name, generation, |o| {
                    let parallelism = o
                        .pointer("/spec/parallelism")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    json!({"startTime": started, "active": parallelism, "ready": parallelism})
                });
                tokio::time::sleep(delay).await;
                set_status(&c, &d, &ns, &name, generation, |o| job_done(o, &started));
            });
        }
        ("", "namespaces", EventType::Modified)
            if obj.pointer("/metadata/deletionTimestamp").is_some() =>
        {
            let (c, d) = (cluster.clone(), def.clone());
            let delay = cluster.behaviour.namespace_cleanup_delay;
            spawn(async move {
                tokio::time::sleep(delay).await;
                empty_namespace(&c, &d, &name)
            });
        }
        _ => {}
    }
}

fn job_done(job: &Value, started: &str) -> Value {
    let completions = job
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let t = now();
    json!({
        "startTime": started,
        "completionTime": t,
        "succeeded": completions,
        "ready": 0,
        "terminating": 0,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": t, "lastTransitionTime": t},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": t, "lastTransitionTime": t},
        ],
    })
}

/// Restarts the simulated work a reloaded cluster had in flight, as a restarted controller
/// manager would on its first resync: workloads not yet ready become ready, running Jobs
/// complete, terminating namespaces are emptied.
pub fn resync(cluster: &Arc<Cluster>) {
    for def in cluster.builtins.iter() {
        let objs: Vec<Value> = {
            let st = cluster.lock();
            match st.objects.get(def.key().as_str()) {
                Some(m) => m.values().map(|c| c.value()).collect(),
                None => continue,
            }
        };
        for obj in objs {
            let generation = obj
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let ns = str_at(&obj, "namespace").to_string();
            let name = str_at(&obj, "name").to_string();
            let (c, d) = (cluster.clone(), def.clone());
            match (def.group.as_str(), def.plural.as_str()) {
                ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets") => {
                    let ready = obj
                        .pointer("/status/observedGeneration")
                        .and_then(Value::as_i64)
                        == Some(generation)
                        && workload_status(def, &obj, true).get("readyReplicas")
                            == obj.pointer("/status/readyReplicas")
                        && workload_status(def, &obj, true).get("numberReady")
                            == obj.pointer("/status/numberReady");
                    if ready || obj.pointer("/metadata/deletionTimestamp").is_some() {
                        continue;
                    }
                    let delay = cluster.behaviour.ready_delay;
                    spawn(async move {
                        tokio::time::sleep(delay).await;
                        set_status(&c, &d, &ns, &name, generation, |o| {
                            workload_status(&d, o, true)
                        });
                    });
                }
                ("batch", "jobs") if obj.pointer("/status/completionTime").is_none() => {
                    let started = obj
                        .pointer("/status/startTime")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(now);
                    let delay = cluster.behaviour.job_duration;
                    spawn(async move {
                        tokio::time::sleep(delay).await;
                        set_status(&c, &d, &ns, &name, generation, |o| job_done(o, &started));
                    });
                }
                ("", "namespaces") if obj.pointer("/metadata/deletionTimestamp").is_some() => {
                    spawn(async move { empty_namespace(&c, &d, &name) });
                }
                _ => {}
            }
        }
    }
}

/// Replaces an object's status if it is still at the generation the work was started for.
fn set_status(
    cluster: &Arc<Cluster>,
    def: &Arc<ResourceDef>,
    ns: &str,
    name: &str,
    generation: i64,
    status: impl FnOnce(&Value) -> Value,
) {
    let st = cluster.lock();
    let Some(cur) = st.get(&def.key(), ns, name) else {
        return;
    };
    if cur.pointer("/metadata/generation").and_then(Value::as_i64) != Some(generation)
        || cur.pointer("/metadata/deletionTimestamp").is_some()
    {
        return;
    }
    let mut new = (*cur).clone();
    new["status"] = status(&cur);
    if new != *cur {
        ops::commit(cluster, st, def, EventType::Modified, new);
    }
}

fn workload_status(def: &ResourceDef, obj: &Value, ready: bool) -> Value {
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let up = if ready { replicas } else { 0 };
    let t = now();
    match def.plural.as_str() {
        "deployments" => {
            let (progress_reason, progress_msg) = if ready {
                (
                    "NewReplicaSetAvailable",
                    "ReplicaSet has successfully progressed.",
                )
            } else {
                ("ReplicaSetUpdated", "ReplicaSet is progressing.")
            };
            let mut status = json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": up,
                "availableReplicas": up,
                "conditions": [
                    {"type": "Available", "status": if ready || replicas == 0 { "True" } else { "False" },
                     "reason": if ready || replicas == 0 { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                     "message": if ready { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
                     "lastUpdateTime": t, "lastTransitionTime": t},
                    {"type": "Progressing", "status": "True", "reason": progress_reason, "message": progress_msg,
                     "lastUpdateTime": t, "lastTransitionTime": t},
                ],
            });
            if replicas > up {
                status["unavailableReplicas"] = json!(replicas - up);
            }
            status
        }
        "daemonsets" => {
            let n = i64::from(ready);
            json!({
                "observedGeneration": generation,
                "desiredNumberScheduled": 1,
                "currentNumberScheduled": 1,
                "updatedNumberScheduled": 1,
                "numberMisscheduled": 0,
                "numberReady": n,
                "numberAvailable": n,
            })
        }
        "statefulsets" => json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": up,
            "availableReplicas": up,
        }),
        _ => json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "fullyLabeledReplicas": replicas,
            "readyReplicas": up,
            "availableReplicas": up,
        }),
    }
}

/// The namespace controller: deletes everything in a terminating namespace, then the namespace.
fn empty_namespace(cluster: &Arc<Cluster>, ns_def: &Arc<ResourceDef>, ns: &str) {
    for def in cluster.resources().into_iter().filter(|d| d.namespaced) {
        let names: Vec<String> = {
            let st = cluster.lock();
            st.objects
                .get(def.key().as_str())
                .map(|m| {
                    m.keys()
                        .filter(|(n, _)| n == ns)
                        .map(|(_, name)| name.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        for name in names {
            ops::remove_now(cluster, &def, ns, &name);
        }
    }
    ops::remove_now(cluster, ns_def, "", ns);
}

/// The garbage collector, for an object just deleted: its dependents (by ownerReferences uid)
/// go too, and a deleted CRD takes its custom resources with it.
fn collect_garbage(
    cluster: &Arc<Cluster>,
    def: &Arc<ResourceDef>,
    uid: &str,
    ns: &str,
    name: &str,
) {
    if def.plural == "customresourcedefinitions" && def.group == "apiextensions.k8s.io" {
        let crd_key = name
            .split_once('.')
            .map(|(plural, group)| format!("{group}/{plural}"));
        let doomed: Vec<(String, String)> = {
            let st = cluster.lock();
            crd_key
                .and_then(|k| st.objects.get(k.as_str()))
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        if let Some((plural, group)) = name.split_once('.') {
            let gone = Arc::new(ResourceDef {
                group: group.to_string(),
                versions: Vec::new(),
                plural: plural.to_string(),
                singular: String::new(),
                kind: String::new(),
                namespaced: true,
                short_names: Vec::new(),
                categories: Vec::new(),
                status_subresource: false,
                printer_columns: Vec::new(),
            });
            for (obj_ns, obj_name) in doomed {
                ops::remove_now(cluster, &gone, &obj_ns, &obj_name);
            }
        }
    }
    if uid.is_empty() {
        return;
    }
    let mut dependents = Vec::new();
    for d in cluster.resources() {
        let st = cluster.lock();
        let Some(map) = st.objects.get(d.key().as_str()) else {
            continue;
        };
        for ((obj_ns, obj_name), stored) in map {
            if d.namespaced && !ns.is_empty() && obj_ns != ns {
                continue;
            }
            // A byte search first: parsing every object on every delete would be the cost.
            if !stored.raw().windows(uid.len()).any(|w| w == uid.as_bytes()) {
                continue;
            }
            let owned = stored
                .value()
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                });
            if owned {
                dependents.push((d.clone(), obj_ns.clone(), obj_name.clone()));
            }
        }
    }
    for (d, obj_ns, obj_name) in dependents {
        ops::remove_now(cluster, &d, &obj_ns, &obj_name);
    }
}
