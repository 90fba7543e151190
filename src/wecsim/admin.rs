//! The admin endpoint: list the clusters and read or change each one's faults at run time.

use super::error::{ApiError, Reason};
use super::faults::FaultSettings;
use super::http::{Shared, error_response, json_response};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

/// GET `/admin/clusters`: every cluster with its URL and faults.
pub async fn admin_list(State(shared): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = shared
        .clusters
        .iter()
        .map(|(name, c)| {
            json!({
                "name": name,
                "server": format!("http://{}/clusters/{name}", shared.addr),
                "faults": c.faults.get(),
            })
        })
        .collect();
    json_response(StatusCode::OK, &list)
}

/// GET `/admin/clusters/<name>/faults`.
pub async fn admin_get_faults(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    match shared.clusters.get(&name) {
        Some(c) => json_response(StatusCode::OK, &c.faults.get()),
        None => error_response(&ApiError::new(
            Reason::NotFound,
            format!("no cluster {name:?}"),
        )),
    }
}

/// PUT or PATCH `/admin/clusters/<name>/faults`: a partial `FaultSettings`.
pub async fn admin_put_faults(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(c) = shared.clusters.get(&name) else {
        return error_response(&ApiError::new(
            Reason::NotFound,
            format!("no cluster {name:?}"),
        ));
    };
    // Fields left out keep their current value, so `{"down": true}` alone works.
    let mut current = serde_json::to_value(c.faults.get()).unwrap_or(json!({}));
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error_response(&ApiError::bad_request(format!("invalid JSON: {e}"))),
    };
    json_patch::merge(&mut current, &patch);
    match serde_json::from_value::<FaultSettings>(current) {
        Ok(s) => {
            c.faults.set(s);
            let rv = c.lock().rv;
            c.wake(rv);
            json_response(StatusCode::OK, &c.faults.get())
        }
        Err(e) => error_response(&ApiError::bad_request(format!(
            "invalid fault settings: {e}"
        ))),
    }
}
