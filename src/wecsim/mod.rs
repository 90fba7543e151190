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
    /// Faults every cluster starts with.
    pub faults: FaultSettings,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            clusters: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            behaviour: Behaviour::default(),
            data_dir: None,
            faults: FaultSettings::default(),
        }
    }
}

/// A running simulator: a listener serving every cluster until [`Simulator::shutdown`] (or drop).
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<http::Shared>,
    data_dir: Option<PathBuf>,
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
        let builtins = resources::builtins();
        let behaviour = Arc::new(opts.behaviour.clone());
        let mut clusters = BTreeMap::new();
        for name in &opts.clusters {
            let cluster = Arc::new(Cluster::new(name, builtins.clone(), behaviour.clone()));
            cluster.faults.set(opts.faults);
            let loaded = match &opts.data_dir {
                Some(dir) => persist::load(dir, &cluster)?,
                None => false,
            };
            if loaded {
                controllers::resync(&cluster);
            } else {
                bootstrap(&cluster).map_err(|source| WecsimError::Bootstrap {
                    cluster: name.clone(),
                    source,
                })?;
            }
            clusters.insert(name.clone(), cluster);
        }
        let shared = Arc::new(http::Shared { clusters, addr });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(http::serve(listener, shared.clone(), stopped));
        let saver = opts.data_dir.clone().map(|dir| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    for c in shared.clusters.values() {
                        if let Err(e) = persist::save(&dir, c) {
                            tracing::warn!(error = %e, "saving cluster state");
                        }
                    }
                }
            })
        });
        Ok(Simulator {
            shared,
            data_dir: opts.data_dir,
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
        self.shared.clusters.keys().cloned().collect()
    }

    /// The API server URL of one cluster.
    pub fn server_url(&self, cluster: &str) -> Result<String, WecsimError> {
        if !self.shared.clusters.contains_key(cluster) {
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
        let servers: Vec<(String, String)> = self
            .shared
            .clusters
            .keys()
            .map(|n| {
                (
                    n.clone(),
                    format!("http://{}/clusters/{n}", self.shared.addr),
                )
            })
            .collect();
        kubeconfig::build(&servers)
    }

    /// Writes the kubeconfig as YAML.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> Result<(), WecsimError> {
        let yaml = kubeconfig::to_yaml(&self.kubeconfig())?;
        std::fs::write(path, yaml).map_err(|source| WecsimError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Changes one cluster's faults.
    pub fn set_faults(&self, cluster: &str, faults: FaultSettings) -> Result<(), WecsimError> {
        let c = self
            .shared
            .clusters
            .get(cluster)
            .ok_or_else(|| WecsimError::UnknownCluster(cluster.to_string()))?;
        c.faults.set(faults);
        let rv = c.lock().rv;
        c.wake(rv);
        Ok(())
    }

    /// Writes every changed cluster to the data dir now (no-op without one).
    pub fn save(&self) -> Result<(), WecsimError> {
        if let Some(dir) = &self.data_dir {
            for c in self.shared.clusters.values() {
                persist::save(dir, c)?;
            }
        }
        Ok(())
    }

    /// Stops serving (open watches end) and saves to the data dir.
    pub async fn shutdown(mut self) -> Result<(), WecsimError> {
        if let Some(saver) = self.saver.take() {
            saver.abort();
        }
        for c in self.shared.clusters.values() {
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
