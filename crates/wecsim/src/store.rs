//! The object store of one simulated cluster: objects by resource, namespace and name, a
//! cluster-wide resourceVersion counter (like etcd's revision) and a bounded event history that
//! watches resume from.

use super::faults::Faults;
use super::resources::ResourceDef;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// The watch event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A stored object: compact JSON text, parsed when read. A parsed `serde_json::Value` takes
/// about ten times the memory of its text, which decides how many clusters fit in one process.
#[derive(Debug)]
pub struct Compact(Box<[u8]>);

impl Compact {
    /// Serializes an object for storage.
    pub fn new(v: &Value) -> Self {
        Compact(serde_json::to_vec(v).unwrap_or_default().into_boxed_slice())
    }

    /// The object. Only valid JSON is ever stored, so the fallback is unreachable in practice.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.0).unwrap_or(Value::Null)
    }

    /// The JSON text.
    pub fn raw(&self) -> &[u8] {
        &self.0
    }
}

/// A shared stored object (the store and the event history hold the same one).
pub type Stored = Arc<Compact>;

/// One change, kept for watches.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// The resource key (`group/plural`).
    pub res: Arc<str>,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (before it, for deletions, with the new resourceVersion).
    pub obj: Stored,
    /// The object before the change, so selector watches can tell entering from leaving.
    pub prev: Option<Stored>,
}

/// Namespace and name; cluster-scoped objects have an empty namespace.
pub type ObjKey = (String, String);

/// The mutable state of a cluster, behind one lock: requests never hold it across an await.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// The last resourceVersion handed out.
    pub rv: u64,
    /// Objects by resource key, then namespace and name (sorted, so lists and continue tokens
    /// are stable).
    pub objects: HashMap<Arc<str>, BTreeMap<ObjKey, Stored>>,
    /// Recent events, oldest first.
    pub history: VecDeque<Event>,
    /// Events at or below this resourceVersion are no longer in the history.
    pub compacted: u64,
    /// Resources registered by established CRDs.
    pub crds: Vec<Arc<ResourceDef>>,
    /// Changed since last persisted.
    pub dirty: bool,
    history_limit: usize,
}

impl ClusterState {
    /// An empty state keeping at most `history_limit` events.
    pub fn new(history_limit: usize) -> Self {
        ClusterState {
            history_limit: history_limit.max(1),
            ..Default::default()
        }
    }

    /// The stored object, if any, parsed.
    pub fn get(&self, res: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(res)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .map(|c| Arc::new(c.value()))
    }

    /// Stores a change: assigns the next resourceVersion, records the event, and returns the
    /// stored object. Deletions remove the object and record it with the new resourceVersion.
    pub fn commit(&mut self, res: &str, kind: EventType, mut obj: Value) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        let ns = str_at(&obj, "namespace").to_string();
        let name = str_at(&obj, "name").to_string();
        let stored = Arc::new(Compact::new(&obj));
        let res_key: Arc<str> = match self.objects.get_key_value(res) {
            Some((k, _)) => k.clone(),
            None => Arc::from(res),
        };
        let map = self.objects.entry(res_key.clone()).or_default();
        let prev = match kind {
            EventType::Deleted => map.remove(&(ns, name)),
            _ => map.insert((ns, name), stored.clone()),
        };
        self.history.push_back(Event {
            rv,
            res: res_key,
            kind,
            obj: stored,
            prev,
        });
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.dirty = true;
        Arc::new(obj)
    }
}

/// `metadata.<field>` as a string, or "".
pub fn str_at<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// How simulated controllers behave.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// How long after a change a Deployment (ReplicaSet, StatefulSet, DaemonSet) reports ready.
    pub ready_delay: Duration,
    /// How long a Job runs before it completes.
    pub job_duration: Duration,
    /// Events kept per cluster for watch resumption.
    pub history_limit: usize,
    /// How long a deleted namespace stays Terminating before its contents are removed (real
    /// clusters take a while, and clients deleting a namespace's objects one by one rely on it).
    pub namespace_cleanup_delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            ready_delay: Duration::from_secs(2),
            job_duration: Duration::from_secs(3),
            history_limit: 1000,
            namespace_cleanup_delay: Duration::from_millis(500),
        }
    }
}

/// One simulated workload execution cluster.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster's name (its kubeconfig context).
    pub name: String,
    state: Mutex<ClusterState>,
    /// Carries the latest resourceVersion to watches (and wakes them when faults change).
    pub notify: tokio::sync::watch::Sender<u64>,
    /// Fault knobs.
    pub faults: Faults,
    /// Built-in resources, shared by all clusters.
    pub builtins: Arc<Vec<Arc<ResourceDef>>>,
    /// Controller behaviour, shared by all clusters.
    pub behaviour: Arc<Behaviour>,
    /// Allocates service cluster IPs.
    pub next_ip: AtomicU64,
}

impl Cluster {
    /// A cluster with an empty store.
    pub fn new(
        name: &str,
        builtins: Arc<Vec<Arc<ResourceDef>>>,
        behaviour: Arc<Behaviour>,
    ) -> Self {
        let (notify, _) = tokio::sync::watch::channel(0);
        Cluster {
            name: name.to_string(),
            state: Mutex::new(ClusterState::new(behaviour.history_limit)),
            notify,
            faults: Faults::default(),
            builtins,
            behaviour,
            next_ip: AtomicU64::new(1),
        }
    }

    /// Locks the state. A panic while locked cannot leave a half-made change (commits are
    /// single calls), so a poisoned lock is taken over rather than propagated.
    pub fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes watches after changes.
    pub fn wake(&self, rv: u64) {
        self.notify.send_replace(rv);
    }

    /// Every served resource: built-ins, then CRD-defined ones.
    pub fn resources(&self) -> Vec<Arc<ResourceDef>> {
        let st = self.lock();
        self.builtins
            .iter()
            .chain(st.crds.iter())
            .cloned()
            .collect()
    }

    /// Finds a served resource by group, version and plural.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        let found = |d: &&Arc<ResourceDef>| {
            d.group == group && d.plural == plural && d.versions.iter().any(|v| v == version)
        };
        if let Some(d) = self.builtins.iter().find(found) {
            return Some(d.clone());
        }
        self.lock().crds.iter().find(found).cloned()
    }

    /// A new UID, unique within the process.
    pub fn new_uid(&self) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let hi = seed ^ (n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (hi >> 32) as u32,
            (hi >> 16) as u16,
            hi as u16 & 0xfff,
            (n >> 48) as u16 & 0xfff,
            n & 0xffff_ffff_ffff
        )
    }
}

/// The current time as RFC 3339 with second precision, as metadata timestamps are.
pub fn now() -> String {
    let ts = jiff::Timestamp::now();
    jiff::Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}
