//! `--data-dir`: each cluster's objects as one JSON file, written when changed (periodically and
//! on shutdown) and read back on start. The event history is not kept: watches from before a
//! restart get `410 Expired` and relist, as after an etcd compaction.

use super::error::WecsimError;
use super::ops::refresh_crds;
use super::store::{Cluster, Compact, str_at};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

fn file(dir: &Path, cluster: &Cluster) -> std::path::PathBuf {
    dir.join(format!("{}.json", cluster.name))
}

/// Writes a cluster's objects if they changed since the last save.
pub fn save(dir: &Path, cluster: &Cluster) -> Result<(), WecsimError> {
    let doc = {
        let mut st = cluster.lock();
        if !st.dirty {
            return Ok(());
        }
        st.dirty = false;
        let objects: Vec<Value> = st
            .objects
            .iter()
            .flat_map(|(res, m)| {
                m.values()
                    .map(move |o| json!({"resource": &**res, "object": o.value()}))
            })
            .collect();
        json!({"resourceVersion": st.rv, "objects": objects})
    };
    let path = file(dir, cluster);
    let io = |source| WecsimError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(&doc).map_err(|source| WecsimError::Json {
        path: path.display().to_string(),
        source,
    })?;
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Loads a cluster's saved objects; false when there is no saved file.
pub fn load(dir: &Path, cluster: &Cluster) -> Result<bool, WecsimError> {
    let path = file(dir, cluster);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(WecsimError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let doc: Value = serde_json::from_slice(&bytes).map_err(|source| WecsimError::Json {
        path: path.display().to_string(),
        source,
    })?;
    let mut st = cluster.lock();
    for entry in doc
        .get("objects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(res), Some(obj)) = (
            entry.get("resource").and_then(Value::as_str),
            entry.get("object"),
        ) else {
            continue;
        };
        let key = (
            str_at(obj, "namespace").to_string(),
            str_at(obj, "name").to_string(),
        );
        st.objects
            .entry(Arc::from(res))
            .or_default()
            .insert(key, Arc::new(Compact::new(obj)));
    }
    st.rv = doc
        .get("resourceVersion")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    st.compacted = st.rv;
    refresh_crds(&mut st);
    // Services created after the restart must not reuse the saved cluster IPs.
    let highest = st
        .objects
        .get("/services")
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|c| {
            let v = c.value();
            let ip = v
                .pointer("/spec/clusterIP")?
                .as_str()?
                .strip_prefix("10.96.")?
                .to_string();
            let (a, b) = ip.split_once('.')?;
            Some(a.parse::<u64>().ok()? * 256 + b.parse::<u64>().ok()?)
        })
        .max()
        .unwrap_or(0);
    cluster
        .next_ip
        .store(highest + 1, std::sync::atomic::Ordering::Relaxed);
    Ok(true)
}
