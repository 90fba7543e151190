//! The admin endpoint: list, add and remove clusters, and read or change each one's faults, at
//! run time. Answers are JSON; failures are Kubernetes `Status` objects like the API's.

use super::error::{ApiError, Reason, WecsimError};
use super::faults::FaultSettings;
use super::http::{Shared, error_response, json_response};
use super::store::Cluster;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn entry(shared: &Shared, name: &str, c: &Cluster) -> Value {
    json!({
        "name": name,
        "server": format!("http://{}/clusters/{name}", shared.addr),
        "faults": c.faults.get(),
    })
}

fn no_cluster(name: &str) -> Response {
    error_response(&ApiError::new(
        Reason::NotFound,
        format!("no cluster {name:?}"),
    ))
}

/// GET `/admin/clusters`: every cluster with its URL and faults.
pub async fn admin_list(State(shared): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = shared
        .all()
        .iter()
        .map(|(name, c)| entry(&shared, name, c))
        .collect();
    json_response(StatusCode::OK, &list)
}

/// What POST `/admin/clusters` takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCluster {
    name: String,
    /// A partial `FaultSettings`; left out, the simulator's start-up faults.
    #[serde(default)]
    faults: Option<Value>,
}

/// POST `/admin/clusters` with `{"name": ..., "faults": {...}}`: adds a cluster (201), which
/// the `--kubeconfig-out` file then lists.
pub async fn admin_add(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let new: NewCluster = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "invalid cluster request (want {{\"name\": ...}}): {e}"
            )));
        }
    };
    let faults = match &new.faults {
        None => shared.faults,
        Some(patch) => match merged(shared.faults, patch) {
            Ok(f) => f,
            Err(e) => return error_response(&e),
        },
    };
    match shared.add(&new.name, faults) {
        Ok(()) => match shared.cluster(&new.name) {
            Some(c) => json_response(StatusCode::CREATED, &entry(&shared, &new.name, &c)),
            None => no_cluster(&new.name),
        },
        Err(e) => error_response(&membership_error(e)),
    }
}

/// DELETE `/admin/clusters/<name>`: stops serving a cluster (after saving it to the data dir,
/// if any) and drops it from the `--kubeconfig-out` file.
pub async fn admin_remove(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let Some(c) = shared.cluster(&name) else {
        return no_cluster(&name);
    };
    let gone = entry(&shared, &name, &c);
    match shared.remove(&name) {
        Ok(()) => json_response(StatusCode::OK, &gone),
        Err(e) => error_response(&membership_error(e)),
    }
}

fn membership_error(e: WecsimError) -> ApiError {
    let reason = match &e {
        WecsimError::ClusterName(_) => Reason::Invalid,
        WecsimError::ClusterExists(_) => Reason::AlreadyExists,
        WecsimError::UnknownCluster(_) => Reason::NotFound,
        _ => Reason::InternalError,
    };
    ApiError::new(reason, e.to_string())
}

/// `current` with the fields of a partial `FaultSettings` JSON replaced.
fn merged(current: FaultSettings, patch: &Value) -> Result<FaultSettings, ApiError> {
    let mut value = serde_json::to_value(current).unwrap_or(json!({}));
    json_patch::merge(&mut value, patch);
    serde_json::from_value::<FaultSettings>(value)
        .map_err(|e| ApiError::bad_request(format!("invalid fault settings: {e}")))
}

/// GET `/admin/clusters/<name>/faults`.
pub async fn admin_get_faults(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    match shared.cluster(&name) {
        Some(c) => json_response(StatusCode::OK, &c.faults.get()),
        None => no_cluster(&name),
    }
}

/// PUT or PATCH `/admin/clusters/<name>/faults`: a partial `FaultSettings`.
pub async fn admin_put_faults(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(c) = shared.cluster(&name) else {
        return no_cluster(&name);
    };
    // Fields left out keep their current value, so `{"down": true}` alone works.
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error_response(&ApiError::bad_request(format!("invalid JSON: {e}"))),
    };
    match merged(c.faults.get(), &patch) {
        Ok(s) => {
            c.faults.set(s);
            let rv = c.lock().rv;
            c.wake(rv);
            json_response(StatusCode::OK, &c.faults.get())
        }
        Err(e) => error_response(&e),
    }
}
