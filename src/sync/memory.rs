//! [`MemoryCluster`]: a [`Cluster`] held in memory, for tests of the sync engine that need no
//! HTTP simulator.
//!
//! Input: the calls of the engine (and of a test, to set the scene). Output: the objects it holds,
//! and the answers a Kubernetes API server would give, simplified: server-side apply replaces
//! the object's content (a field-level merge is not needed to tell created, updated and
//! unchanged apart), an apply without `force` on an object no one applied with gitstellar's field
//! manager is a conflict, `replace` honours `metadata.resourceVersion`, every write that changes
//! an object bumps its `resourceVersion`. Namespaces need not exist first. An object can be made
//! to refuse every write ([`MemoryCluster::refuse`]) and the whole cluster to be unreachable
//! ([`MemoryCluster::set_unreachable`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::cluster::{Cluster, ClusterError, Written, identify};
use crate::model::ObjectId;

/// One object as the cluster holds it.
#[derive(Clone, Debug)]
struct Stored {
    object: Value,
    /// Written by server-side apply with gitstellar's field manager at least once.
    applied: bool,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<ObjectId, Stored>,
    version: u64,
    refused: BTreeSet<ObjectId>,
    unreachable: bool,
    writes: usize,
}

/// A cluster in memory (see the module docs for how closely it follows an API server).
#[derive(Debug, Default)]
pub struct MemoryCluster {
    state: Mutex<State>,
}

fn without_version(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    object
}

impl MemoryCluster {
    /// An empty cluster.
    pub fn new() -> MemoryCluster {
        MemoryCluster::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves a state that is still readable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts an object in place as someone else would (`kubectl create`): not applied by
    /// gitstellar.
    pub fn insert(&self, object: Value) -> Result<(), ClusterError> {
        let (_, id) = identify(&object)?;
        let mut state = self.state();
        let stored = state.stamp(object);
        state.objects.insert(
            id,
            Stored {
                object: stored,
                applied: false,
            },
        );
        Ok(())
    }

    /// The object with this identity, if the cluster holds it.
    pub fn object(&self, id: &ObjectId) -> Option<Value> {
        self.state().objects.get(id).map(|s| s.object.clone())
    }

    /// The identities of every object held.
    pub fn ids(&self) -> Vec<ObjectId> {
        self.state().objects.keys().cloned().collect()
    }

    /// Makes every write of this object fail as invalid (422).
    pub fn refuse(&self, id: ObjectId) {
        self.state().refused.insert(id);
    }

    /// Makes every call fail as if the cluster could not be reached.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.state().unreachable = unreachable;
    }

    /// How many writes (apply, create, replace, delete) changed something.
    pub fn writes(&self) -> usize {
        self.state().writes
    }

    fn reach(&self) -> Result<std::sync::MutexGuard<'_, State>, ClusterError> {
        let state = self.state();
        if state.unreachable {
            return Err(ClusterError::Timeout(
                Duration::ZERO,
                "an answer from the in-memory cluster (set unreachable)".into(),
            ));
        }
        Ok(state)
    }
}

impl State {
    /// The object with a new `resourceVersion`.
    fn stamp(&mut self, mut object: Value) -> Value {
        self.version += 1;
        self.writes += 1;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "resourceVersion".into(),
                Value::from(self.version.to_string()),
            );
        }
        object
    }

    fn refuse(&self, id: &ObjectId) -> Result<(), ClusterError> {
        if self.refused.contains(id) {
            return Err(ClusterError::Api {
                code: 422,
                reason: "Invalid".into(),
                message: format!("{id} is refused by the in-memory cluster"),
            });
        }
        Ok(())
    }
}

fn conflict(message: String) -> ClusterError {
    ClusterError::Api {
        code: 409,
        reason: "Conflict".into(),
        message,
    }
}

impl Cluster for MemoryCluster {
    async fn get(&self, _api_version: &str, id: &ObjectId) -> Result<Option<Value>, ClusterError> {
        Ok(self.reach()?.objects.get(id).map(|s| s.object.clone()))
    }

    async fn apply(&self, object: &Value, force: bool) -> Result<Written, ClusterError> {
        let (_, id) = identify(object)?;
        let mut state = self.reach()?;
        state.refuse(&id)?;
        let (created, unchanged) = match state.objects.get(&id) {
            None => (true, false),
            Some(s) if !s.applied && !force => {
                return Err(conflict(format!(
                    "{id}: its fields are managed by another manager (apply with force to take them)"
                )));
            }
            Some(s) => (false, without_version(&s.object) == without_version(object)),
        };
        if unchanged && let Some(s) = state.objects.get_mut(&id) {
            s.applied = true;
            return Ok(Written {
                object: s.object.clone(),
                created: false,
            });
        }
        let stored = state.stamp(without_version(object));
        state.objects.insert(
            id,
            Stored {
                object: stored.clone(),
                applied: true,
            },
        );
        Ok(Written {
            object: stored,
            created,
        })
    }

    async fn create(&self, object: &Value) -> Result<Option<Value>, ClusterError> {
        let (_, id) = identify(object)?;
        let mut state = self.reach()?;
        state.refuse(&id)?;
        if state.objects.contains_key(&id) {
            return Ok(None);
        }
        let stored = state.stamp(without_version(object));
        state.objects.insert(
            id,
            Stored {
                object: stored.clone(),
                applied: false,
            },
        );
        Ok(Some(stored))
    }

    async fn replace(&self, object: &Value) -> Result<Value, ClusterError> {
        let (_, id) = identify(object)?;
        let mut state = self.reach()?;
        state.refuse(&id)?;
        let Some(live) = state.objects.get(&id) else {
            return Err(ClusterError::Api {
                code: 404,
                reason: "NotFound".into(),
                message: format!("{id} not found"),
            });
        };
        let wanted = object.pointer("/metadata/resourceVersion");
        if wanted.is_some() && wanted != live.object.pointer("/metadata/resourceVersion") {
            return Err(conflict(format!(
                "{id}: the object has been modified; please apply your changes to the latest version"
            )));
        }
        let applied = live.applied;
        let stored = state.stamp(without_version(object));
        state.objects.insert(
            id,
            Stored {
                object: stored.clone(),
                applied,
            },
        );
        Ok(stored)
    }

    async fn delete(&self, _api_version: &str, id: &ObjectId) -> Result<(), ClusterError> {
        let mut state = self.reach()?;
        state.refuse(id)?;
        if state.objects.remove(id).is_some() {
            state.writes += 1;
        }
        Ok(())
    }

    async fn refresh(&self) -> Result<(), ClusterError> {
        self.reach().map(drop)
    }

    async fn learn_definitions(&self, _crds: &[Value]) {}

    async fn wait_established(&self, crd: &str, timeout: Duration) -> Result<(), ClusterError> {
        let id = ObjectId::new(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            crd,
        );
        if self.reach()?.objects.contains_key(&id) {
            Ok(())
        } else {
            Err(ClusterError::Timeout(
                timeout,
                format!("CRD {crd} to be Established"),
            ))
        }
    }

    async fn namespace_contents(&self, namespace: &str) -> Result<Vec<Value>, ClusterError> {
        Ok(self
            .reach()?
            .objects
            .iter()
            .filter(|(id, _)| id.namespace.as_deref() == Some(namespace))
            .map(|(_, s)| s.object.clone())
            .collect())
    }
}
