//! wecsim: simulated workload execution clusters (WECs), in the spirit of kwok.
//!
//! One HTTP server speaks enough of the Kubernetes API — discovery, CRUD, list/watch with
//! resourceVersions, label and field selectors, server-side apply with field managers, merge,
//! JSON and strategic merge patches, the status subresource, CRDs — that kube-rs and `kubectl`
//! work against it unchanged. Each cluster lives under its own path prefix
//! (`http://127.0.0.1:PORT/clusters/<name>`), so thousands fit in one process. Simulated
//! controllers fill in status (Deployments become ready after a delay, Jobs complete), and fault
//! knobs (latency, error rate, down) serve reliability tests.
//!
//! Use it from tests through [`Simulator`], or from the command line as `gitstellar wecsim`
//! ([`WecsimArgs`], [`run`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
mod cli;
mod controllers;
mod discovery;
mod error;
mod faults;
mod fields;
mod http;
mod kubeconfig;
mod managed;
mod ops;
mod pbjson;
mod persist;
mod protobuf;
mod resources;
mod scale;
mod selectors;
mod store;
mod table;
mod validate;
mod watch;

pub use cli::{WecsimArgs, run};
pub use error::{ApiError, WecsimError};
pub use faults::FaultSettings;
pub use store::Behaviour;

use managed::Sub;
use ops::{Target, WriteOpts};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::Cluster;

/// How to start a [`Simulator`].
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Cluster names (DNS-1123 labels), one kubeconfig context each.
    pub clusters: Vec<String>,
    /// Where to listen; port 0 picks a free one. Only loopback makes sense.
    pub listen: SocketAddr,
    /// Controller timing and history size.
    pub behaviour: Behaviour,
    /// Persist objects here and reload them on start.
    pub data_dir: Option<PathBuf>,
    /// Faults every cluster starts with (clusters added later too).
    pub faults: FaultSettings,
    /// Clusters that start down, before the listener serves anything.
    pub down: Vec<String>,
    /// Write a kubeconfig for the clusters here on start, and again whenever one is added or
    /// removed at run time.
    pub kubeconfig_out: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            clusters: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            behaviour: Behaviour::default(),
            data_dir: None,
            faults: FaultSettings::default(),
            down: Vec::new(),
            kubeconfig_out: None,
        }
    }
}

/// A running simulator: a listener serving every cluster until [`Simulator::shutdown`] (or drop).
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<http::Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    saver: Option<tokio::task::JoinHandle<()>>,
}

/// Creates what a fresh cluster has: the system namespaces and one Ready node.
fn bootstrap(cluster: &Arc<Cluster>) -> Result<(), ApiError> {
    let opts = WriteOpts {
        manager: "wecsim".into(),
        ..Default::default()
    };
    let find = |group: &str, plural: &str| {
        cluster.resolve(group, "v1", plural).ok_or_else(|| {
            ApiError::new(
                error::Reason::InternalError,
                format!("no built-in {plural}"),
            )
        })
    };
    let namespaces = Target {
        def: find("", "namespaces")?,
        version: "v1".into(),
        namespace: String::new(),
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ops::create(
            cluster,
            &namespaces,
            json!({"metadata": {"name": ns}}),
            &opts,
        )?;
    }
    let nodes = Target {
        def: find("", "nodes")?,
        version: "v1".into(),
        namespace: String::new(),
    };
    let node = format!("{}-node", cluster.name);
    ops::create(
        cluster,
        &nodes,
        json!({"metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux"}}}),
        &opts,
    )?;
    ops::patch(
        cluster,
        &nodes,
        &node,
        ops::PatchType::Merge,
        json!({"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "simulated by wecsim"}],
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "nodeInfo": {"kubeletVersion": "v1.33.0-wecsim", "operatingSystem": "linux", "architecture": "amd64"},
        }})
        .to_string()
        .as_bytes(),
        Sub::Status,
        &opts,
    )?;
    Ok(())
}

impl http::Shared {
    /// One cluster by name.
    pub(crate) fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.read().get(name).cloned()
    }

    /// Every cluster, sorted by name.
    pub(crate) fn all(&self) -> Vec<(String, Arc<Cluster>)> {
        self.read()
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Cluster>>> {
        // Every write is one insert or remove, so a poisoned lock holds a whole map.
        self.clusters.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Cluster>>> {
        self.clusters.write().unwrap_or_else(|p| p.into_inner())
    }

    fn membership(&self) -> std::sync::MutexGuard<'_, ()> {
        self.membership.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates (or reloads from the data dir) one cluster and serves it.
    fn insert(&self, name: &str, faults: FaultSettings) -> Result<Arc<Cluster>, WecsimError> {
        if !validate::is_dns_label(name) {
            return Err(WecsimError::ClusterName(name.to_string()));
        }
        if self.cluster(name).is_some() {
            return Err(WecsimError::ClusterExists(name.to_string()));
        }
        let cluster = Arc::new(Cluster::new(
            name,
            self.builtins.clone(),
            self.behaviour.clone(),
        ));
        cluster.faults.set(faults);
        let loaded = match &self.data_dir {
            Some(dir) => persist::load(dir, &cluster)?,
            None => false,
        };
        if loaded {
            controllers::resync(&cluster);
        } else {
            bootstrap(&cluster).map_err(|source| WecsimError::Bootstrap {
                cluster: name.to_string(),
                source,
            })?;
        }
        self.write().insert(name.to_string(), cluster.clone());
        Ok(cluster)
    }

    /// Adds a cluster at run time and rewrites the kubeconfig file.
    pub(crate) fn add(&self, name: &str, faults: FaultSettings) -> Result<(), WecsimError> {
        let _one_at_a_time = self.membership();
        self.insert(name, faults)?;
        self.write_kubeconfig_out()
    }

    /// Removes a cluster at run time (saving it first) and rewrites the kubeconfig file.
    pub(crate) fn remove(&self, name: &str) -> Result<(), WecsimError> {
        let _one_at_a_time = self.membership();
        let cluster = self
            .cluster(name)
            .ok_or_else(|| WecsimError::UnknownCluster(name.to_string()))?;
        self.write().remove(name);
        // Open watches end as they do when a cluster goes down.
        let faults = cluster.faults.get();
        cluster.faults.set(FaultSettings {
            down: true,
            ..faults
        });
        cluster.wake(cluster.lock().rv);
        if let Some(dir) = &self.data_dir
            && let Err(e) = persist::save(dir, &cluster)
        {
            // Unsaved objects would be lost: keep serving the cluster instead.
            cluster.faults.set(faults);
            self.write().insert(name.to_string(), cluster);
            return Err(e);
        }
        self.write_kubeconfig_out()
    }

    /// A kubeconfig with one context per cluster.
    pub(crate) fn kubeconfig(&self) -> kube::config::Kubeconfig {
        let servers: Vec<(String, String)> = self
            .all()
            .into_iter()
            .map(|(n, _)| {
                let url = format!("http://{}/clusters/{n}", self.addr);
                (n, url)
            })
            .collect();
        kubeconfig::build(&servers)
    }

    /// Rewrites the `kubeconfig_out` file, if there is one.
    pub(crate) fn write_kubeconfig_out(&self) -> Result<(), WecsimError> {
        match &self.kubeconfig_out {
            Some(path) => kubeconfig::write(path, &self.kubeconfig()),
            None => Ok(()),
        }
    }
}

impl Simulator {
    /// Binds the listener, creates (or reloads) every cluster and starts serving.
    pub async fn start(opts: SimOptions) -> Result<Simulator, WecsimError> {
        let mut seen = std::collections::BTreeSet::new();
        for name in &opts.clusters {
            if !validate::is_dns_label(name) || !seen.insert(name.clone()) {
                return Err(WecsimError::ClusterName(name.clone()));
            }
        }
        // No authentication, so never more than this machine.
        if !opts.listen.ip().is_loopback() {
            return Err(WecsimError::NotLoopback(opts.listen.to_string()));
        }
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| WecsimError::Listen {
                addr: opts.listen.to_string(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| WecsimError::Listen {
                addr: opts.listen.to_string(),
                source,
            })?;
        for name in &opts.down {
            if !opts.clusters.contains(name) {
                return Err(WecsimError::UnknownCluster(name.clone()));
            }
        }
        let shared = Arc::new(http::Shared {
            clusters: Default::default(),
            addr,
            builtins: resources::builtins(),
            behaviour: Arc::new(opts.behaviour.clone()),
            faults: opts.faults,
            data_dir: opts.data_dir.clone(),
            kubeconfig_out: opts.kubeconfig_out.clone(),
            membership: Default::default(),
        });
        for name in &opts.clusters {
            let down = opts.down.contains(name);
            let faults = FaultSettings {
                down: down || opts.faults.down,
                ..opts.faults
            };
            shared.insert(name, faults)?;
        }
        shared.write_kubeconfig_out()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(http::serve(listener, shared.clone(), stopped));
        let saver = opts.data_dir.clone().map(|dir| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    for (_, c) in shared.all() {
                        if let Err(e) = persist::save(&dir, &c) {
                            tracing::warn!(error = %e, "saving cluster state");
                        }
                    }
                }
            })
        });
        Ok(Simulator {
            shared,
            stop: Some(stop),
            server: Some(server),
            saver,
        })
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The served cluster names, sorted.
    pub fn cluster_names(&self) -> Vec<String> {
        self.shared.all().into_iter().map(|(n, _)| n).collect()
    }

    /// Adds a fresh cluster (or reloads it from the data dir) while serving, with the faults
    /// the simulator started with, and rewrites the `kubeconfig_out` file.
    pub fn add_cluster(&self, name: &str) -> Result<(), WecsimError> {
        self.shared.add(name, self.shared.faults)
    }

    /// Removes a cluster while serving: its requests get 404 from now on and its open watches
    /// end. Its objects are saved to the data dir first (if any), so adding it again brings
    /// them back; the `kubeconfig_out` file is rewritten without it.
    pub fn remove_cluster(&self, name: &str) -> Result<(), WecsimError> {
        self.shared.remove(name)
    }

    /// The API server URL of one cluster.
    pub fn server_url(&self, cluster: &str) -> Result<String, WecsimError> {
        if self.shared.cluster(cluster).is_none() {
            return Err(WecsimError::UnknownCluster(cluster.to_string()));
        }
        Ok(format!("http://{}/clusters/{cluster}", self.shared.addr))
    }

    /// The admin URL for one cluster's faults (GET or PUT `FaultSettings` JSON).
    pub fn faults_url(&self, cluster: &str) -> Result<String, WecsimError> {
        self.server_url(cluster)?;
        Ok(format!(
            "http://{}/admin/clusters/{cluster}/faults",
            self.shared.addr
        ))
    }

    /// A kube client for one cluster, default namespace `default`.
    pub fn client(&self, cluster: &str) -> Result<kube::Client, WecsimError> {
        let url = self.server_url(cluster)?;
        let uri = url
            .parse::<axum::http::Uri>()
            .map_err(|_| WecsimError::Url(url.clone()))?;
        Ok(kube::Client::try_from(kube::Config::new(uri))?)
    }

    /// A kubeconfig with one context per cluster.
    pub fn kubeconfig(&self) -> kube::config::Kubeconfig {
        self.shared.kubeconfig()
    }

    /// Writes the kubeconfig as YAML.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> Result<(), WecsimError> {
        kubeconfig::write(path, &self.kubeconfig())
    }

    /// Changes one cluster's faults.
    pub fn set_faults(&self, cluster: &str, faults: FaultSettings) -> Result<(), WecsimError> {
        let c = self
            .shared
            .cluster(cluster)
            .ok_or_else(|| WecsimError::UnknownCluster(cluster.to_string()))?;
        c.faults.set(faults);
        let rv = c.lock().rv;
        c.wake(rv);
        Ok(())
    }

    /// Writes every changed cluster to the data dir now (no-op without one).
    pub fn save(&self) -> Result<(), WecsimError> {
        if let Some(dir) = &self.shared.data_dir {
            for (_, c) in self.shared.all() {
                persist::save(dir, &c)?;
            }
        }
        Ok(())
    }

    /// Stops serving (open watches end) and saves to the data dir.
    pub async fn shutdown(mut self) -> Result<(), WecsimError> {
        if let Some(saver) = self.saver.take() {
            saver.abort();
        }
        for (_, c) in self.shared.all() {
            c.faults.set(FaultSettings {
                down: true,
                ..c.faults.get()
            });
            c.wake(c.lock().rv);
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.save()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(saver) = self.saver.take() {
            saver.abort();
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
