//! The [`Cluster`] abstraction and [`KubeCluster`], its implementation over the Kubernetes API
//! with kube-rs: discovery to resolve kinds, server-side apply, get, create, delete.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Client, Config};
use serde_json::Value;
use tokio::sync::RwLock;

use super::desired::FIELD_MANAGER;
use crate::model::ObjectId;

/// Why an operation on a WEC failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The API server answered with an error status (the object's fault, usually).
    #[error("{message} ({code} {reason})")]
    Api {
        /// HTTP status code.
        code: u16,
        /// Kubernetes reason (`Conflict`, `Invalid`, `NotFound`, ...).
        reason: String,
        /// The API server's message.
        message: String,
    },
    /// The WEC could not be reached or answered garbage (the WEC's fault: retry later).
    #[error("cannot reach the cluster: {0}")]
    Unreachable(String),
    /// The WEC does not serve this kind.
    #[error("the cluster does not serve kind {kind} of API version {api_version}")]
    UnknownKind {
        /// `group/version` or `version`.
        api_version: String,
        /// Kind.
        kind: String,
    },
    /// The object is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The kubeconfig could not be used.
    #[error("kubeconfig: {0}")]
    Config(String),
    /// A wait ran out.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

impl ClusterError {
    /// Whether the error is the cluster's (retry later) rather than the object's.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ClusterError::Unreachable(_) | ClusterError::Timeout(..) => true,
            ClusterError::Api { code, .. } => *code >= 500 || *code == 429,
            _ => false,
        }
    }

    /// Whether the API server refused a server-side apply for a field another manager owns.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ClusterError::Api { code: 409, .. })
    }

    fn from_kube(error: kube::Error) -> ClusterError {
        match error {
            kube::Error::Api(status) => ClusterError::Api {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => ClusterError::Unreachable(other.to_string()),
        }
    }
}

/// A workload execution cluster as the syncer needs it.
#[allow(async_fn_in_trait)]
pub trait Cluster {
    /// The live object with this identity, if any.
    async fn get(&self, api_version: &str, id: &ObjectId) -> Result<Option<Value>, ClusterError>;
    /// Server-side apply with field manager `gitstellar`; `force` takes over conflicting fields.
    async fn apply(&self, object: &Value, force: bool) -> Result<Value, ClusterError>;
    /// Creates the object; `Ok(None)` if it exists already.
    async fn create(&self, object: &Value) -> Result<Option<Value>, ClusterError>;
    /// Deletes the object; a missing object is success.
    async fn delete(&self, api_version: &str, id: &ObjectId) -> Result<(), ClusterError>;
    /// Re-reads the served kinds (after CRDs were created).
    async fn refresh(&self) -> Result<(), ClusterError>;
    /// Waits until a CRD is Established.
    async fn wait_established(&self, crd: &str, timeout: Duration) -> Result<(), ClusterError>;
    /// Objects in `namespace` that match none of `skip` (used before deleting a Namespace).
    async fn namespace_contents(&self, namespace: &str) -> Result<Vec<Value>, ClusterError>;
}

/// A WEC reached through the Kubernetes API with kube-rs.
pub struct KubeCluster {
    client: Client,
    discovery: RwLock<Option<Discovery>>,
}

impl KubeCluster {
    /// A cluster from a client.
    pub fn new(client: Client) -> KubeCluster {
        KubeCluster {
            client,
            discovery: RwLock::new(None),
        }
    }

    /// A cluster from a kubeconfig file (or `$KUBECONFIG`, or in-cluster when `None`) and context.
    pub async fn from_kubeconfig(
        path: Option<&std::path::Path>,
        context: Option<&str>,
    ) -> Result<KubeCluster, ClusterError> {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match path {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| ClusterError::Config(e.to_string()))?;
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| ClusterError::Config(e.to_string()))?
            }
            None => match Config::from_kubeconfig(&options).await {
                Ok(c) => c,
                Err(e) if context.is_none() => {
                    Config::incluster().map_err(|_| ClusterError::Config(e.to_string()))?
                }
                Err(e) => return Err(ClusterError::Config(e.to_string())),
            },
        };
        let client = Client::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))?;
        Ok(KubeCluster::new(client))
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The served resources of the desired objects' kinds, each once (for watching them).
    pub async fn resources_of(&self, desired: &[super::Desired]) -> Vec<ApiResource> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for d in desired {
            let Some(api_version) = d.object.get("apiVersion").and_then(Value::as_str) else {
                continue;
            };
            if seen.insert((api_version.to_string(), d.id.kind.clone()))
                && let Ok((ar, _)) = self.resolve(api_version, &d.id.kind).await
            {
                out.push(ar);
            }
        }
        out
    }

    async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), ClusterError> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        for attempt in 0..2 {
            {
                let guard = self.discovery.read().await;
                if let Some(d) = guard.as_ref()
                    && let Some(found) = d.resolve_gvk(&gvk)
                {
                    return Ok(found);
                }
                if attempt == 1 && guard.is_some() {
                    break;
                }
            }
            // Unknown or not yet discovered: (re)discover once, a CRD may have just been created.
            self.refresh().await?;
        }
        Err(ClusterError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })
    }

    async fn api_for(
        &self,
        api_version: &str,
        id: &ObjectId,
    ) -> Result<Api<DynamicObject>, ClusterError> {
        let (ar, caps) = self.resolve(api_version, &id.kind).await?;
        Ok(match (caps.scope, &id.namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            (Scope::Namespaced, None) => {
                return Err(ClusterError::Invalid(format!(
                    "{} is namespaced but has no namespace",
                    id.kind
                )));
            }
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &ar),
        })
    }
}

/// Identity and API version of an object value.
pub fn identify(object: &Value) -> Result<(String, ObjectId), ClusterError> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| ClusterError::Invalid("apiVersion missing".into()))?;
    let id = super::desired::live_id(object)
        .ok_or_else(|| ClusterError::Invalid("kind or metadata.name missing".into()))?;
    Ok((api_version.to_string(), id))
}

fn to_value(object: DynamicObject) -> Result<Value, ClusterError> {
    serde_json::to_value(object).map_err(|e| ClusterError::Invalid(e.to_string()))
}

fn from_value(object: &Value) -> Result<DynamicObject, ClusterError> {
    serde_json::from_value(object.clone()).map_err(|e| ClusterError::Invalid(e.to_string()))
}

impl Cluster for KubeCluster {
    async fn get(&self, api_version: &str, id: &ObjectId) -> Result<Option<Value>, ClusterError> {
        let api = self.api_for(api_version, id).await?;
        match api
            .get_opt(&id.name)
            .await
            .map_err(ClusterError::from_kube)?
        {
            Some(o) => Ok(Some(to_value(o)?)),
            None => Ok(None),
        }
    }

    async fn apply(&self, object: &Value, force: bool) -> Result<Value, ClusterError> {
        let (api_version, id) = identify(object)?;
        let api = self.api_for(&api_version, &id).await?;
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if force {
            params = params.force();
        }
        let applied = api
            .patch(&id.name, &params, &Patch::Apply(object))
            .await
            .map_err(ClusterError::from_kube)?;
        to_value(applied)
    }

    async fn create(&self, object: &Value) -> Result<Option<Value>, ClusterError> {
        let (api_version, id) = identify(object)?;
        let api = self.api_for(&api_version, &id).await?;
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match api.create(&params, &from_value(object)?).await {
            Ok(o) => Ok(Some(to_value(o)?)),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
            Err(e) => Err(ClusterError::from_kube(e)),
        }
    }

    async fn delete(&self, api_version: &str, id: &ObjectId) -> Result<(), ClusterError> {
        let api = self.api_for(api_version, id).await?;
        match api.delete(&id.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(ClusterError::from_kube(e)),
        }
    }

    async fn refresh(&self) -> Result<(), ClusterError> {
        let discovery = Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(ClusterError::from_kube)?;
        *self.discovery.write().await = Some(discovery);
        Ok(())
    }

    async fn wait_established(&self, crd: &str, timeout: Duration) -> Result<(), ClusterError> {
        let id = ObjectId::new(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            crd,
        );
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(50);
        loop {
            if let Some(live) = self.get("apiextensions.k8s.io/v1", &id).await?
                && established(&live)
            {
                return Ok(());
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(ClusterError::Timeout(
                    timeout,
                    format!("CRD {crd} to be Established"),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    async fn namespace_contents(&self, namespace: &str) -> Result<Vec<Value>, ClusterError> {
        if self.discovery.read().await.is_none() {
            self.refresh().await?;
        }
        let resources: Vec<ApiResource> = {
            let guard = self.discovery.read().await;
            let Some(d) = guard.as_ref() else {
                return Ok(Vec::new());
            };
            d.groups()
                .flat_map(|g| g.recommended_resources())
                .filter(|(_, caps)| {
                    caps.scope == Scope::Namespaced && caps.supports_operation("list")
                })
                .map(|(ar, _)| ar)
                .collect()
        };
        let mut out = Vec::new();
        for ar in resources {
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    for item in list.items {
                        let mut value = to_value(item)?;
                        // Lists omit apiVersion and kind on their items.
                        if let Some(map) = value.as_object_mut() {
                            map.insert("apiVersion".into(), Value::from(ar.api_version.clone()));
                            map.insert("kind".into(), Value::from(ar.kind.clone()));
                        }
                        out.push(value);
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 || s.code == 403 => {}
                Err(e) => return Err(ClusterError::from_kube(e)),
            }
        }
        Ok(out)
    }
}

/// Whether a CRD's status says it is Established.
fn established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Established")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Labels of a value (for callers that filter lists).
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
