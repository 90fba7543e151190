//! The [`Cluster`] abstraction and [`KubeCluster`], its implementation over the Kubernetes API
//! with kube-rs: discovery to resolve kinds, server-side apply, get, create, replace, delete.
//!
//! Input: a kube [`Client`] and a [`RequestPolicy`]. Output: the WEC's answers. Every request is
//! bounded by the policy's timeout and retried with backoff and jitter when the WEC, not the
//! request, was at fault (429, 5xx, a dropped connection), honouring `Retry-After`. Discovery runs
//! once per [`KubeCluster`] (one per WEC per pass); the kinds of CRDs applied meanwhile are learnt
//! from the CRDs themselves.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::http;
use kube::api::{
    DeleteParams, DynamicObject, GetParams, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Client, Config, Resource};
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
    /// The WEC could not be reached: kube's client failed (the WEC's fault: retry later).
    #[error("cannot reach the cluster: {}{source}", what.as_deref().map(|w| format!("{w}: ")).unwrap_or_default())]
    Transport {
        /// The request (`GET /api/v1/...`), when known.
        what: Option<String>,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
    /// The WEC answered garbage (the WEC's fault: retry later).
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
    /// The kubeconfig could not be read or does not name the context.
    #[error("kubeconfig: {source}")]
    Kubeconfig {
        /// kube's error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No client could be built from the kubeconfig.
    #[error("kubeconfig: {source}")]
    Client {
        /// kube's error.
        #[source]
        source: kube::Error,
    },
    /// A wait ran out.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

impl ClusterError {
    /// Whether the error is the cluster's (retry later) rather than the object's.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ClusterError::Unreachable(_)
            | ClusterError::Transport { .. }
            | ClusterError::Timeout(..) => true,
            ClusterError::Api { code, .. } => *code >= 500 || *code == 429,
            _ => false,
        }
    }

    /// Whether the API server refused a write for a conflict: a field another manager owns
    /// (server-side apply), or a stale `resourceVersion` (replace).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ClusterError::Api { code: 409, .. })
    }

    /// Whether the API server said the object (or its namespace) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::Api { code: 404, .. })
    }

    fn from_kube(error: kube::Error) -> ClusterError {
        match error {
            kube::Error::Api(status) => ClusterError::Api {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            source => ClusterError::Transport { what: None, source },
        }
    }
}

/// Why one attempt at a request failed: kube's client (kept as the error's source), or an answer
/// that cannot be read.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Kube(kube::Error),
    #[error("{0}")]
    Garbage(String),
}

/// What a write returned: the object as the API server holds it now, and whether the write
/// created it (HTTP 201).
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The live object after the write.
    pub object: Value,
    /// The write created the object.
    pub created: bool,
}

/// A workload execution cluster as the syncer needs it.
///
/// Every future is `Send` (and a cluster `Send + Sync`), so a controller can spawn one WEC's sync
/// as a task of its own.
pub trait Cluster: Send + Sync {
    /// The live object with this identity, if any.
    fn get(
        &self,
        api_version: &str,
        id: &ObjectId,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send;
    /// Server-side apply with field manager `gitstellar`; `force` takes over conflicting fields.
    fn apply(
        &self,
        object: &Value,
        force: bool,
    ) -> impl Future<Output = Result<Written, ClusterError>> + Send;
    /// Creates the object; `Ok(None)` if it exists already.
    fn create(
        &self,
        object: &Value,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send;
    /// Replaces the object (PUT): with `metadata.resourceVersion` set, only if the live object is
    /// still at that version (a compare-and-swap; a lost race is a conflict).
    fn replace(&self, object: &Value) -> impl Future<Output = Result<Value, ClusterError>> + Send;
    /// Deletes the object; a missing object is success.
    fn delete(
        &self,
        api_version: &str,
        id: &ObjectId,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Re-reads the served kinds.
    fn refresh(&self) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Learns the kinds that these (Established) CRDs serve, without a new discovery.
    fn learn_definitions(&self, crds: &[Value]) -> impl Future<Output = ()> + Send;
    /// Waits until a CRD is Established.
    fn wait_established(
        &self,
        crd: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Every object in `namespace` (used before deleting a Namespace).
    fn namespace_contents(
        &self,
        namespace: &str,
    ) -> impl Future<Output = Result<Vec<Value>, ClusterError>> + Send;
}

/// How requests to a WEC are bounded and retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestPolicy {
    /// How long to wait for a TCP (and TLS) connection. Applies to clients this module builds.
    pub connect_timeout: Duration,
    /// How long to wait for one request's complete answer, from sending it.
    pub request_timeout: Duration,
    /// Attempts per request when the WEC answers 429 or 5xx, or the connection fails. A request
    /// that timed out is not retried: a WEC that does not answer is given up at once.
    pub attempts: u32,
    /// The delay before the second attempt; it doubles per attempt, with jitter.
    pub first_backoff: Duration,
    /// The longest delay between attempts (and the most of a `Retry-After` that is honoured).
    pub max_backoff: Duration,
}

impl Default for RequestPolicy {
    fn default() -> Self {
        RequestPolicy {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            attempts: 6,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RequestPolicy {
    /// The delay before attempt `attempt + 1`: exponential with "equal jitter" (half fixed, half
    /// random, so concurrent clients spread out), or the server's `Retry-After` when it gave one.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_backoff);
        }
        let exp = self
            .first_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(jitter())
    }
}

/// A number in [0, 1) that differs between calls and processes (no random-number dependency).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The kinds a WEC serves: one discovery, plus the kinds of CRDs applied since.
#[derive(Default)]
struct Kinds {
    discovery: Option<Discovery>,
    learned: BTreeMap<(String, String, String), (ApiResource, ApiCapabilities)>,
}

impl Kinds {
    fn resolve(&self, gvk: &kube::api::GroupVersionKind) -> Option<(ApiResource, ApiCapabilities)> {
        self.learned
            .get(&(gvk.group.clone(), gvk.version.clone(), gvk.kind.clone()))
            .cloned()
            .or_else(|| self.discovery.as_ref()?.resolve_gvk(gvk))
    }
}

/// A WEC reached through the Kubernetes API with kube-rs.
pub struct KubeCluster {
    client: Client,
    policy: RequestPolicy,
    kinds: RwLock<Kinds>,
    discoveries: AtomicUsize,
}

/// A raw answer: status code and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl KubeCluster {
    /// A cluster from a client, with the default [`RequestPolicy`].
    pub fn new(client: Client) -> KubeCluster {
        KubeCluster::with_policy(client, RequestPolicy::default())
    }

    /// A cluster from a client and a request policy (the policy's connect timeout applies only
    /// to clients this module builds; see [`KubeCluster::from_config`]).
    pub fn with_policy(client: Client, policy: RequestPolicy) -> KubeCluster {
        KubeCluster {
            client,
            policy,
            kinds: RwLock::new(Kinds::default()),
            discoveries: AtomicUsize::new(0),
        }
    }

    /// A cluster from a kube [`Config`]: the policy's connect timeout is set, and kube's own
    /// retries are turned off (they retry 429/503 for minutes; the policy's retries are bounded).
    pub fn from_config(
        mut config: Config,
        policy: RequestPolicy,
    ) -> Result<KubeCluster, ClusterError> {
        config.connect_timeout = Some(policy.connect_timeout);
        config.default_retry = false;
        let client = Client::try_from(config).map_err(|source| ClusterError::Client { source })?;
        Ok(KubeCluster::with_policy(client, policy))
    }

    /// A cluster from a kubeconfig file (or `$KUBECONFIG`, or in-cluster when `None`) and context.
    pub async fn from_kubeconfig(
        path: Option<&std::path::Path>,
        context: Option<&str>,
    ) -> Result<KubeCluster, ClusterError> {
        KubeCluster::from_kubeconfig_with(path, context, RequestPolicy::default()).await
    }

    /// Like [`KubeCluster::from_kubeconfig`], with a request policy.
    pub async fn from_kubeconfig_with(
        path: Option<&std::path::Path>,
        context: Option<&str>,
        policy: RequestPolicy,
    ) -> Result<KubeCluster, ClusterError> {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match path {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .map_err(|source| ClusterError::Kubeconfig { source })?;
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|source| ClusterError::Kubeconfig { source })?
            }
            None => match Config::from_kubeconfig(&options).await {
                Ok(c) => c,
                Err(e) if context.is_none() => {
                    Config::incluster().map_err(|_| ClusterError::Kubeconfig { source: e })?
                }
                Err(source) => return Err(ClusterError::Kubeconfig { source }),
            },
        };
        KubeCluster::from_config(config, policy)
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How many full discoveries this cluster ran (once per pass is the goal).
    pub fn discoveries(&self) -> usize {
        self.discoveries.load(Ordering::Relaxed)
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

    /// Sends one request, bounded and retried by the policy. `make` builds the request anew for
    /// each attempt.
    async fn call(
        &self,
        make: &(dyn Fn() -> Result<http::Request<Vec<u8>>, kube::core::request::Error> + Sync),
    ) -> Result<Answer, ClusterError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = make().map_err(|e| ClusterError::Invalid(e.to_string()))?;
            let what = format!("{} {}", request.method(), request.uri().path());
            let sent = tokio::time::timeout(self.policy.request_timeout, self.send(request)).await;
            let retry_after = match sent {
                Err(_) => {
                    return Err(ClusterError::Timeout(
                        self.policy.request_timeout,
                        format!("an answer to {what}"),
                    ));
                }
                Ok(Ok((answer, _))) if answer.status < 400 => return Ok(answer),
                Ok(Ok((answer, retry_after))) => {
                    let error = api_error(&answer);
                    if !retryable(answer.status) || attempt >= self.policy.attempts {
                        return Err(error);
                    }
                    tracing::debug!(%what, attempt, %error, "retrying");
                    retry_after.or_else(|| {
                        answer
                            .body
                            .pointer("/details/retryAfterSeconds")
                            .and_then(Value::as_u64)
                            .map(Duration::from_secs)
                    })
                }
                Ok(Err(error)) => {
                    if attempt >= self.policy.attempts {
                        return Err(match error {
                            SendError::Kube(source) => ClusterError::Transport {
                                what: Some(what),
                                source,
                            },
                            SendError::Garbage(message) => {
                                ClusterError::Unreachable(format!("{what}: {message}"))
                            }
                        });
                    }
                    tracing::debug!(%what, attempt, %error, "retrying");
                    None
                }
            };
            tokio::time::sleep(self.policy.delay(attempt, retry_after)).await;
        }
    }

    /// One attempt: the status, the JSON body and the `Retry-After` header (in seconds).
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<(Answer, Option<Duration>), SendError> {
        use hyper::body::Body as _;
        let response = self
            .client
            .send(request.map(kube::client::Body::from))
            .await
            .map_err(SendError::Kube)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = std::pin::pin!(response.into_body());
        let mut bytes = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            let frame =
                frame.map_err(|e| SendError::Garbage(format!("reading the answer: {e}")))?;
            if let Some(data) = frame.data_ref() {
                bytes.extend_from_slice(data);
            }
        }
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                // An error page from a proxy in front of the API server: keep its text.
                Err(_) if status >= 400 => {
                    Value::from(String::from_utf8_lossy(&bytes).into_owned())
                }
                Err(e) => return Err(SendError::Garbage(format!("the answer is not JSON: {e}"))),
            }
        };
        Ok((Answer { status, body }, retry_after))
    }

    /// Runs kube's discovery (aggregated where the server offers it: two requests), bounded and
    /// retried like a request.
    async fn discover(&self) -> Result<Discovery, ClusterError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let run = async {
                match Discovery::new(self.client.clone()).run_aggregated().await {
                    Ok(d) => Ok(d),
                    // An older server without aggregated discovery.
                    Err(e) if !retryable_kube(&e) => {
                        Discovery::new(self.client.clone()).run().await
                    }
                    Err(e) => Err(e),
                }
            };
            match tokio::time::timeout(self.policy.request_timeout, run).await {
                Err(_) => {
                    return Err(ClusterError::Timeout(
                        self.policy.request_timeout,
                        "the served kinds (discovery)".into(),
                    ));
                }
                Ok(Ok(d)) => {
                    self.discoveries.fetch_add(1, Ordering::Relaxed);
                    return Ok(d);
                }
                Ok(Err(e)) if retryable_kube(&e) && attempt < self.policy.attempts => {
                    tracing::debug!(attempt, error = %e, "retrying discovery");
                    tokio::time::sleep(self.policy.delay(attempt, None)).await;
                }
                Ok(Err(e)) => return Err(ClusterError::from_kube(e)),
            }
        }
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
        {
            let kinds = self.kinds.read().await;
            if kinds.discovery.is_some()
                && let Some(found) = kinds.resolve(&gvk)
            {
                return Ok(found);
            }
        }
        {
            let mut kinds = self.kinds.write().await;
            if kinds.discovery.is_none() {
                kinds.discovery = Some(self.discover().await?);
            }
            if let Some(found) = kinds.resolve(&gvk) {
                return Ok(found);
            }
        }
        // Not among the kinds discovered: ask for that group version alone (a CRD made by
        // someone else meanwhile), not for a whole new discovery.
        let url = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let make = || {
            http::Request::get(url.as_str())
                .body(Vec::new())
                .map_err(kube::core::request::Error::BuildRequest)
        };
        let unknown = || ClusterError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        };
        let list = match self.call(&make).await {
            Ok(a) => a.body,
            Err(e) if e.is_not_found() => return Err(unknown()),
            Err(e) => return Err(e),
        };
        let found = list
            .get("resources")
            .and_then(Value::as_array)
            .and_then(|rs| {
                rs.iter().find(|r| {
                    r.get("kind").and_then(Value::as_str) == Some(kind)
                        && r.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| !n.contains('/'))
                })
            })
            .ok_or_else(unknown)?;
        let plural = found
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        let caps = ApiCapabilities {
            scope: if found.get("namespaced").and_then(Value::as_bool) == Some(true) {
                Scope::Namespaced
            } else {
                Scope::Cluster
            },
            subresources: Vec::new(),
            operations: found
                .get("verbs")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        };
        self.kinds.write().await.learned.insert(
            (group.to_string(), version.to_string(), kind.to_string()),
            (ar.clone(), caps.clone()),
        );
        Ok((ar, caps))
    }

    /// The request builder for an object's collection, and the object's name.
    async fn request_for(
        &self,
        api_version: &str,
        id: &ObjectId,
    ) -> Result<kube::core::Request, ClusterError> {
        let (ar, caps) = self.resolve(api_version, &id.kind).await?;
        let namespace = match (caps.scope, &id.namespace) {
            (Scope::Namespaced, Some(ns)) => Some(ns.as_str()),
            (Scope::Namespaced, None) => {
                return Err(ClusterError::Invalid(format!(
                    "{} is namespaced but has no namespace",
                    id.kind
                )));
            }
            (Scope::Cluster, _) => None,
        };
        Ok(kube::core::Request::new(DynamicObject::url_path(
            &ar, namespace,
        )))
    }
}

/// Whether an answer calls for another attempt: the server is overloaded or failing.
fn retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status) && status != 501
}

fn retryable_kube(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(s) => retryable(s.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The error an answer with an error status stands for (a Kubernetes `Status`, usually).
fn api_error(answer: &Answer) -> ClusterError {
    let text = |k: &str| {
        answer
            .body
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    ClusterError::Api {
        code: answer.status,
        reason: text("reason").unwrap_or_default(),
        message: text("message")
            .or_else(|| answer.body.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("HTTP {}", answer.status)),
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

fn body_of(object: &Value) -> Result<Vec<u8>, ClusterError> {
    serde_json::to_vec(object).map_err(|e| ClusterError::Invalid(e.to_string()))
}

impl Cluster for KubeCluster {
    async fn get(&self, api_version: &str, id: &ObjectId) -> Result<Option<Value>, ClusterError> {
        let request = self.request_for(api_version, id).await?;
        match self
            .call(&|| request.get(&id.name, &GetParams::default()))
            .await
        {
            Ok(a) => Ok(Some(a.body)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn apply(&self, object: &Value, force: bool) -> Result<Written, ClusterError> {
        let (api_version, id) = identify(object)?;
        let request = self.request_for(&api_version, &id).await?;
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if force {
            params = params.force();
        }
        let answer = self
            .call(&|| request.patch(&id.name, &params, &Patch::Apply(object)))
            .await?;
        Ok(Written {
            object: answer.body,
            created: answer.status == 201,
        })
    }

    async fn create(&self, object: &Value) -> Result<Option<Value>, ClusterError> {
        let (api_version, id) = identify(object)?;
        let request = self.request_for(&api_version, &id).await?;
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let data = body_of(object)?;
        match self.call(&|| request.create(&params, data.clone())).await {
            Ok(a) => Ok(Some(a.body)),
            Err(ClusterError::Api { code: 409, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn replace(&self, object: &Value) -> Result<Value, ClusterError> {
        let (api_version, id) = identify(object)?;
        let request = self.request_for(&api_version, &id).await?;
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let data = body_of(object)?;
        Ok(self
            .call(&|| request.replace(&id.name, &params, data.clone()))
            .await?
            .body)
    }

    async fn delete(&self, api_version: &str, id: &ObjectId) -> Result<(), ClusterError> {
        let request = self.request_for(api_version, id).await?;
        match self
            .call(&|| request.delete(&id.name, &DeleteParams::background()))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn refresh(&self) -> Result<(), ClusterError> {
        let discovery = self.discover().await?;
        let mut kinds = self.kinds.write().await;
        kinds.discovery = Some(discovery);
        kinds.learned.clear();
        Ok(())
    }

    async fn learn_definitions(&self, crds: &[Value]) {
        let mut kinds = self.kinds.write().await;
        for crd in crds {
            let spec = crd.get("spec").unwrap_or(&Value::Null);
            let s = |p: &str| spec.pointer(p).and_then(Value::as_str).unwrap_or_default();
            let (group, kind, plural) = (s("/group"), s("/names/kind"), s("/names/plural"));
            if kind.is_empty() || plural.is_empty() {
                continue;
            }
            let scope = if s("/scope") == "Cluster" {
                Scope::Cluster
            } else {
                Scope::Namespaced
            };
            let versions = spec
                .get("versions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for v in versions {
                let Some(version) = v.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if v.get("served").and_then(Value::as_bool) == Some(false) {
                    continue;
                }
                let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
                let caps = ApiCapabilities {
                    scope: scope.clone(),
                    subresources: Vec::new(),
                    operations: [
                        "create",
                        "delete",
                        "deletecollection",
                        "get",
                        "list",
                        "patch",
                        "update",
                        "watch",
                    ]
                    .map(String::from)
                    .to_vec(),
                };
                kinds.learned.insert(
                    (group.to_string(), version.to_string(), kind.to_string()),
                    (ApiResource::from_gvk_with_plural(&gvk, plural), caps),
                );
            }
        }
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
        if self.kinds.read().await.discovery.is_none() {
            let discovery = self.discover().await?;
            self.kinds.write().await.discovery.get_or_insert(discovery);
        }
        let resources: Vec<ApiResource> = {
            let kinds = self.kinds.read().await;
            let discovered = kinds
                .discovery
                .iter()
                .flat_map(|d| d.groups())
                .flat_map(|g| g.recommended_resources());
            let mut seen = std::collections::BTreeSet::new();
            discovered
                .chain(kinds.learned.values().cloned())
                .filter(|(_, caps)| {
                    caps.scope == Scope::Namespaced && caps.supports_operation("list")
                })
                .map(|(ar, _)| ar)
                .filter(|ar| seen.insert((ar.group.clone(), ar.kind.clone())))
                .collect()
        };
        let mut out = Vec::new();
        for ar in resources {
            let request = kube::core::Request::new(DynamicObject::url_path(&ar, Some(namespace)));
            let list = match self.call(&|| request.list(&ListParams::default())).await {
                Ok(a) => a.body,
                Err(ClusterError::Api { code, .. })
                    if code == 404 || code == 405 || code == 403 =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            for mut item in list
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                // Lists omit apiVersion and kind on their items.
                if let Some(map) = item.as_object_mut() {
                    map.insert("apiVersion".into(), Value::from(ar.api_version.clone()));
                    map.insert("kind".into(), Value::from(ar.kind.clone()));
                }
                out.push(item);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// kube's error stays the source (a caller can walk to it), and the message still says it.
    #[tokio::test]
    async fn an_unreadable_kubeconfig_keeps_kubes_error_as_the_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters: {not: a list}\n",
        )
        .expect("write");
        let Err(error) = KubeCluster::from_kubeconfig(Some(&path), Some("florin")).await else {
            panic!("a broken kubeconfig was accepted");
        };
        assert!(
            matches!(error, ClusterError::Kubeconfig { .. }),
            "{error:?}"
        );
        let source = std::error::Error::source(&error).expect("a source");
        assert!(
            source
                .downcast_ref::<kube::config::KubeconfigError>()
                .is_some(),
            "{source:?}"
        );
        assert!(error.to_string().starts_with("kubeconfig: "), "{error}");
    }
}
