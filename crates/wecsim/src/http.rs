//! The HTTP front: one listener, one path prefix per cluster (`/clusters/<name>/...`), routing
//! Kubernetes API paths to discovery, the verbs and watches, plus the admin endpoint for faults.

use super::admin;
use super::discovery;
use super::error::{ApiError, Reason};
use super::faults::FaultSettings;
use super::managed::Sub;
use super::ops::{self, ListOpts, PatchType, Preconditions, Target, WriteOpts};
use super::protobuf;
use super::resources::ResourceDef;
use super::scale;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::Behaviour;
use super::store::Cluster;
use super::table;
use super::watch::{self, WatchParams};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// What every request handler shares.
#[derive(Debug)]
pub struct Shared {
    /// The clusters by name; the admin endpoint adds and removes them at run time.
    pub clusters: RwLock<BTreeMap<String, Arc<Cluster>>>,
    /// The listener's address.
    pub addr: SocketAddr,
    /// Built-in resources, shared by all clusters.
    pub builtins: Arc<Vec<Arc<ResourceDef>>>,
    /// Controller behaviour, shared by all clusters.
    pub behaviour: Arc<Behaviour>,
    /// The faults a cluster added at run time starts with.
    pub faults: FaultSettings,
    /// Where clusters are persisted, if anywhere.
    pub data_dir: Option<PathBuf>,
    /// The kubeconfig file kept in step with the clusters, if any.
    pub kubeconfig_out: Option<PathBuf>,
    /// Held while a cluster is added or removed, so kubeconfig rewrites do not interleave.
    pub membership: Mutex<()>,
}

/// The largest request body the API server reads (`MaxRequestBodyBytes` of kube-apiserver,
/// 3 MiB); a larger one gets `413 RequestEntityTooLarge`.
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

/// The router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/admin/clusters",
            get(admin::admin_list).post(admin::admin_add),
        )
        .route(
            "/admin/clusters/{name}",
            axum::routing::delete(admin::admin_remove),
        )
        .route(
            "/admin/clusters/{name}/faults",
            get(admin::admin_get_faults)
                .put(admin::admin_put_faults)
                .patch(admin::admin_put_faults),
        )
        .route("/clusters/{name}", any(cluster_root))
        .route("/clusters/{name}/{*rest}", any(cluster_request))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(shared)
}

/// Serves connections until `stop` fires. A request for a cluster that is down drops its
/// connection without an answer, which is what clients see of a dead API server (a 503 would
/// make kube-rs retry for minutes, as it should against an overloaded but live server).
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;
    let app = router(shared.clone());
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let app = app.clone();
        let shared = shared.clone();
        let service = tower::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
            let app = app.clone();
            let down = req
                .uri()
                .path()
                .strip_prefix("/clusters/")
                .and_then(|rest| rest.split('/').next())
                .and_then(|name| shared.cluster(name))
                .is_some_and(|c| c.faults.is_down());
            async move {
                if down {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "simulated cluster is down",
                    ));
                }
                app.oneshot(req.map(Body::new))
                    .await
                    .map_err(|never| match never {})
            }
        });
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service),
                )
                .await;
        });
    }
}

pub(super) fn json_response<T: Serialize + ?Sized>(code: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => error_response(&ApiError::new(Reason::InternalError, e.to_string())),
    }
}

pub(super) fn error_response(err: &ApiError) -> Response {
    json_response(err.code(), &err.to_status())
}

async fn cluster_root(
    state: State<Arc<Shared>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    query: RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    cluster_request(
        state,
        Path((name, String::new())),
        method,
        headers,
        query,
        body,
    )
    .await
}

/// A parsed request against one cluster.
struct Req {
    cluster: Arc<Cluster>,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    body: Bytes,
    prefix: String,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .get(k)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    fn header(&self, k: header::HeaderName) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn write_opts(&self, apply: bool) -> WriteOpts {
        let manager = match self.q("fieldManager") {
            Some(m) => m.to_string(),
            None if apply => String::new(),
            None => {
                let ua = self.header(header::USER_AGENT);
                let m = ua.split('/').next().unwrap_or("").trim();
                if m.is_empty() {
                    "unknown".to_string()
                } else {
                    m.to_string()
                }
            }
        };
        WriteOpts {
            manager,
            force: self.q("force") == Some("true"),
            dry_run: self.q("dryRun").is_some(),
        }
    }

    fn list_opts(&self) -> Result<ListOpts, ApiError> {
        Ok(ListOpts {
            labels: LabelSelector::parse(self.q("labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(self.q("fieldSelector").unwrap_or(""))?,
            limit: self
                .q("limit")
                .map(|l| l.parse::<usize>())
                .transpose()
                .map_err(|_| ApiError::bad_request("limit must be a non-negative integer"))?
                .unwrap_or(0),
            cont: self.q("continue").map(str::to_string),
        })
    }
}

async fn cluster_request(
    State(shared): State<Arc<Shared>>,
    Path((name, rest)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(cluster) = shared.cluster(&name) else {
        return error_response(&ApiError::new(
            Reason::NotFound,
            format!("no simulated cluster named {name:?}"),
        ));
    };
    if cluster.faults.is_down() {
        return error_response(&ApiError::new(
            Reason::ServiceUnavailable,
            format!("cluster {name} is down (simulated)"),
        ));
    }
    let latency = cluster.faults.latency();
    if latency > Duration::ZERO {
        tokio::time::sleep(latency).await;
    }
    if cluster.faults.should_fail() {
        return error_response(&ApiError::new(
            Reason::InternalError,
            "an error on the server (\"simulated fault\") has prevented the request from succeeding",
        ));
    }
    cluster.faults.admit(!matches!(
        method,
        Method::GET | Method::HEAD | Method::OPTIONS
    ));
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error_response(&ApiError::new(
                Reason::RequestEntityTooLarge,
                format!("Request entity too large: limit is {MAX_REQUEST_BYTES}"),
            ));
        }
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "reading the request body: {}",
                e.body_text()
            )));
        }
    };
    let query = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let mut req = Req {
        cluster,
        method,
        headers,
        query,
        body,
        prefix: format!("/clusters/{name}"),
    };
    let ct = req.header(header::CONTENT_TYPE).to_string();
    if !req.body.is_empty() && ct.starts_with("application/vnd.kubernetes.protobuf") {
        // Decoded once here, so everything after sees the JSON it stands for.
        match protobuf::decode(&req.body).and_then(|obj| {
            serde_json::to_vec(&obj)
                .map_err(|e| ApiError::new(Reason::InternalError, e.to_string()))
        }) {
            Ok(json) => req.body = Bytes::from(json),
            Err(e) => return error_response(&e),
        }
    } else if !req.body.is_empty() && (ct.contains("protobuf") || ct.contains("cbor")) {
        return error_response(&ApiError::new(
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct:?})"
            ),
        ));
    }
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let resp = match route(&req, &segs, &shared) {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    };
    tracing::debug!(cluster = %name, method = %req.method, path = %rest, status = resp.status().as_u16(), "request");
    resp
}

fn not_found() -> ApiError {
    ApiError::new(
        Reason::NotFound,
        "the server could not find the requested resource",
    )
}

fn route(req: &Req, segs: &[&str], shared: &Shared) -> Result<Response, ApiError> {
    let get_only = || {
        if req.method == Method::GET || req.method == Method::HEAD {
            Ok(())
        } else {
            Err(ApiError::new(
                Reason::MethodNotAllowed,
                "the server does not allow this method",
            ))
        }
    };
    match segs {
        ["version"] => {
            get_only()?;
            Ok(json_response(StatusCode::OK, &discovery::version()))
        }
        ["healthz" | "livez" | "readyz", ..] => Ok("ok".into_response()),
        ["api" | "apis"] if discovery::wants_aggregated(req.header(header::ACCEPT)) => {
            get_only()?;
            let doc = discovery::aggregated(&req.cluster, segs == ["api"]);
            match serde_json::to_vec(&doc) {
                Ok(bytes) => Ok((
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, discovery::AGGREGATED)],
                    bytes,
                )
                    .into_response()),
                Err(e) => Err(ApiError::new(Reason::InternalError, e.to_string())),
            }
        }
        ["api"] => {
            get_only()?;
            Ok(json_response(
                StatusCode::OK,
                &discovery::core_versions(&shared.addr.to_string()),
            ))
        }
        ["apis"] => {
            get_only()?;
            Ok(json_response(
                StatusCode::OK,
                &discovery::groups(&req.cluster),
            ))
        }
        ["apis", group] => {
            get_only()?;
            let doc = discovery::group(&req.cluster, group).ok_or_else(not_found)?;
            Ok(json_response(StatusCode::OK, &doc))
        }
        ["openapi", "v2"] => {
            get_only()?;
            if req.header(header::ACCEPT).contains("protobuf") {
                return Ok((
                    StatusCode::OK,
                    [(
                        header::CONTENT_TYPE,
                        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                    )],
                    protobuf::openapi_v2(),
                )
                    .into_response());
            }
            Ok(json_response(StatusCode::OK, &discovery::openapi_v2_json()))
        }
        ["openapi", "v3"] => {
            get_only()?;
            Ok(json_response(
                StatusCode::OK,
                &discovery::openapi_index(&req.cluster, &req.prefix),
            ))
        }
        ["openapi", "v3", "api", version] => {
            get_only()?;
            let doc = discovery::openapi_group_version(&req.cluster, "", version)
                .ok_or_else(not_found)?;
            Ok(json_response(StatusCode::OK, &doc))
        }
        ["openapi", "v3", "apis", group, version] => {
            get_only()?;
            let doc = discovery::openapi_group_version(&req.cluster, group, version)
                .ok_or_else(not_found)?;
            Ok(json_response(StatusCode::OK, &doc))
        }
        ["api", version, rest @ ..] => resource_route(req, "", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(req, group, version, rest),
        _ => Err(not_found()),
    }
}

fn resource_route(
    req: &Req,
    group: &str,
    version: &str,
    segs: &[&str],
) -> Result<Response, ApiError> {
    if segs.is_empty() {
        let doc = discovery::resources(&req.cluster, group, version).ok_or_else(not_found)?;
        return Ok(json_response(StatusCode::OK, &doc));
    }
    let (legacy_watch, segs) = match segs {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, segs),
    };
    let mut namespace = String::new();
    let mut parts = segs;
    if let ["namespaces", ns, rest @ ..] = segs
        && !rest.is_empty()
        && !matches!(rest, ["status" | "finalize"])
    {
        namespace = ns.to_string();
        parts = rest;
    }
    let (plural, name, sub) = match parts {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Err(not_found()),
    };
    let def = req
        .cluster
        .resolve(group, version, plural)
        .ok_or_else(not_found)?;
    if def.namespaced && namespace.is_empty() && name.is_some() {
        return Err(not_found());
    }
    if !def.namespaced && !namespace.is_empty() {
        return Err(not_found());
    }
    let scale = sub == Some("scale") && scale::supported(&def);
    let sub = match sub {
        None => Sub::Main,
        Some("status") if def.status_subresource => Sub::Status,
        Some("scale") if scale => Sub::Main,
        Some(_) => return Err(not_found()),
    };
    let t = Target {
        def,
        version: version.to_string(),
        namespace,
    };
    let cluster = &req.cluster;
    if let (true, Some(name)) = (scale, name) {
        let ct = req.header(header::CONTENT_TYPE).to_string();
        let obj = scale::handle(
            cluster,
            &t,
            name,
            &req.method,
            &ct,
            &req.body,
            &req.write_opts(false),
        )?;
        return Ok(json_response(StatusCode::OK, &obj));
    }
    let watching = legacy_watch || matches!(req.q("watch"), Some("true" | "1"));
    let accept = req.header(header::ACCEPT).to_string();
    match (req.method.clone(), name) {
        (Method::GET, None) if watching => {
            let rv = match req.q("resourceVersion") {
                None => None,
                Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?),
            };
            let timeout = req
                .q("timeoutSeconds")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(1800);
            let params = WatchParams {
                rv,
                opts: req.list_opts()?,
                timeout: Duration::from_secs(timeout),
                bookmarks: req.q("allowWatchBookmarks") == Some("true"),
                send_initial_events: req.q("sendInitialEvents") == Some("true"),
                table: table::wanted(&accept)
                    .then(|| req.q("includeObject").unwrap_or("Metadata").to_string()),
            };
            let stream = watch::start(cluster.clone(), t, params);
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-cache, private"),
                ],
                Body::from_stream(stream),
            )
                .into_response())
        }
        (Method::GET, None) => {
            let page = ops::list(cluster, &t, &req.list_opts()?)?;
            if table::wanted(&accept) {
                let include = req.q("includeObject").unwrap_or("Metadata");
                let doc =
                    table::render(&t.def, &page.items, page.rv, page.cont.as_deref(), include);
                return Ok(json_response(StatusCode::OK, &doc));
            }
            let mut metadata = json!({"resourceVersion": page.rv.to_string()});
            if let Some(c) = &page.cont {
                metadata["continue"] = json!(c);
                metadata["remainingItemCount"] = json!(page.remaining);
            }
            let items: Vec<&Value> = page.items.iter().map(|a| &**a).collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "kind": format!("{}List", t.def.kind),
                    "apiVersion": t.def.api_version(&t.version),
                    "metadata": metadata,
                    "items": items,
                }),
            ))
        }
        (Method::GET, Some(name)) => {
            let obj = ops::get(cluster, &t, name)?;
            if table::wanted(&accept) {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let include = req.q("includeObject").unwrap_or("Metadata");
                return Ok(json_response(
                    StatusCode::OK,
                    &table::render(&t.def, &[obj], rv, None, include),
                ));
            }
            Ok(json_response(StatusCode::OK, &*obj))
        }
        (Method::POST, None) => {
            let body = parse_json(&req.body)?;
            let obj = ops::create(cluster, &t, body, &req.write_opts(false))?;
            Ok(json_response(StatusCode::CREATED, &*obj))
        }
        (Method::PUT, Some(name)) => {
            let body = parse_json(&req.body)?;
            let obj = ops::update(cluster, &t, name, body, sub, &req.write_opts(false))?;
            Ok(json_response(StatusCode::OK, &*obj))
        }
        (Method::PATCH, Some(name)) => {
            let ct = req.header(header::CONTENT_TYPE);
            let kind = PatchType::from_content_type(ct).ok_or_else(|| {
                ApiError::new(
                    Reason::UnsupportedMediaType,
                    format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"),
                )
            })?;
            let existed = ops::get(cluster, &t, name).is_ok();
            let obj = ops::patch(
                cluster,
                &t,
                name,
                kind,
                &req.body,
                sub,
                &req.write_opts(kind == PatchType::Apply),
            )?;
            let code = if existed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok(json_response(code, &*obj))
        }
        (Method::DELETE, Some(name)) => {
            let opts: Value = if req.body.is_empty() {
                json!({})
            } else {
                parse_json(&req.body)?
            };
            let s = |p: &str| opts.pointer(p).and_then(Value::as_str).map(str::to_string);
            let pre = Preconditions {
                uid: s("/preconditions/uid"),
                resource_version: s("/preconditions/resourceVersion"),
            };
            let mut wo = req.write_opts(false);
            wo.dry_run |= opts
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            let obj = ops::delete(cluster, &t, name, &pre, &wo)?;
            Ok(json_response(StatusCode::OK, &*obj))
        }
        (Method::DELETE, None) => {
            let deleted =
                ops::delete_collection(cluster, &t, &req.list_opts()?, &req.write_opts(false))?;
            let items: Vec<&Value> = deleted.iter().map(|a| &**a).collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "kind": format!("{}List", t.def.kind),
                    "apiVersion": t.def.api_version(&t.version),
                    "metadata": {},
                    "items": items,
                }),
            ))
        }
        _ => Err(ApiError::new(
            Reason::MethodNotAllowed,
            format!(
                "the server does not allow this method on the requested resource ({})",
                req.method
            ),
        )),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}
