//! The per-WEC sync lock: at most one sync of a WEC at a time, across processes and machines.
//! KubeStellar's syncer is one process per WEC; gitstellar can sync a WEC from several (two
//! overlapping `reconcile --sync` runs, an agent and a push), so it takes a lock in the WEC.
//!
//! Input: the WEC (a [`Cluster`]), the instance name and the lease duration. Output: a held
//! [`Lock`] or who holds it. The lock is a `coordination.k8s.io/v1` Lease
//! `gitstellar-system/gitstellar-sync-<instance>` with `holderIdentity`, `renewTime` and
//! `leaseDurationSeconds`, taken by compare-and-swap on its `resourceVersion`, renewed while a
//! sync runs and released at its end. A Lease whose holder stopped renewing it (a killed process)
//! expires and is taken over, so nothing blocks a WEC for longer than the lease duration.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};

use super::SYSTEM_NAMESPACE;
use super::cluster::{Cluster, ClusterError};
use crate::model::ObjectId;

/// Prefix of the Lease's name.
pub const LOCK_NAME: &str = "gitstellar-sync";

/// The Lease's API version.
const LEASE_API: &str = "coordination.k8s.io/v1";

/// Why a held lock was lost.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process took the lease over (ours had expired).
    #[error("lost the WEC's sync lock: another sync took it over")]
    TakenOver,
    /// The lease could not be renewed before it expired.
    #[error("lost the WEC's sync lock: it could not be renewed in time: {0}")]
    NotRenewed(#[source] ClusterError),
}

/// The outcome of trying to take the lock.
#[derive(Debug)]
pub enum Taken {
    /// Ours until released.
    Held(Lock),
    /// Another sync holds it: who, and until when.
    Busy(String),
}

/// A held lock.
#[derive(Debug)]
pub struct Lock {
    lease: Value,
    identity: String,
    duration: Duration,
    renewed: tokio::time::Instant,
}

/// The identity of the Lease.
pub fn lock_id(instance: &str) -> ObjectId {
    ObjectId::new(
        "coordination.k8s.io",
        "Lease",
        Some(SYSTEM_NAMESPACE),
        &format!("{LOCK_NAME}-{instance}"),
    )
}

/// Kubernetes' MicroTime format.
fn micro_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A name for this process that another process can tell apart from its own.
fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}/pid-{}/{nanos:08x}", std::process::id())
}

/// Whether a live Lease is free for `identity`: nobody holds it, we do, or it expired.
fn free_for(lease: &Value, identity: &str, now: jiff::Timestamp) -> Result<(), String> {
    let spec = lease.get("spec").unwrap_or(&Value::Null);
    let holder = spec
        .get("holderIdentity")
        .and_then(Value::as_str)
        .unwrap_or("");
    if holder.is_empty() || holder == identity {
        return Ok(());
    }
    let seconds = spec
        .get("leaseDurationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let renewed = spec
        .get("renewTime")
        .or_else(|| spec.get("acquireTime"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let Some(renewed) = renewed else {
        // A lease that says nothing of when it was renewed cannot be waited out: take it.
        return Ok(());
    };
    let until = renewed
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap_or(renewed);
    if until < now {
        Ok(())
    } else {
        Err(format!(
            "another sync ({holder}) holds the WEC's lock until {until}"
        ))
    }
}

fn lease_object(instance: &str, identity: &str, duration: Duration, now: &str) -> Value {
    let id = lock_id(instance);
    json!({
        "apiVersion": LEASE_API,
        "kind": "Lease",
        "metadata": {"name": id.name, "namespace": SYSTEM_NAMESPACE, "labels": {super::record::RECORD_OF: instance}},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": duration.as_secs().max(1),
            "acquireTime": now,
            "renewTime": now,
        },
    })
}

/// Tries to take the WEC's sync lock for `duration` (renewed while held).
pub async fn acquire<C: Cluster>(
    cluster: &C,
    instance: &str,
    duration: Duration,
) -> Result<Taken, ClusterError> {
    let identity = identity();
    let id = lock_id(instance);
    let now = jiff::Timestamp::now();
    let stamp = micro_time(now);
    let fresh = lease_object(instance, &identity, duration, &stamp);
    let held = |lease: Value| {
        Taken::Held(Lock {
            lease,
            identity: identity.clone(),
            duration,
            renewed: tokio::time::Instant::now(),
        })
    };
    let lost_race = || Taken::Busy("another sync took the WEC's lock at the same moment".into());
    match cluster.get(LEASE_API, &id).await? {
        None => {
            let created = match cluster.create(&fresh).await {
                Err(e) if e.is_not_found() => {
                    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}});
                    cluster.apply(&namespace, true).await?;
                    cluster.create(&fresh).await?
                }
                other => other?,
            };
            Ok(match created {
                Some(lease) => held(lease),
                None => lost_race(),
            })
        }
        Some(live) => {
            if let Err(busy) = free_for(&live, &identity, now) {
                return Ok(Taken::Busy(busy));
            }
            let mut take = fresh.clone();
            take["metadata"]["resourceVersion"] = live
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            match cluster.replace(&take).await {
                Ok(lease) => Ok(held(lease)),
                Err(e) if e.is_conflict() => Ok(lost_race()),
                Err(e) => Err(e),
            }
        }
    }
}

impl Lock {
    /// Renews the lease (a compare-and-swap on the version we last wrote).
    pub async fn renew<C: Cluster>(&mut self, cluster: &C) -> Result<(), LockError> {
        let mut lease = self.lease.clone();
        lease["spec"]["renewTime"] = Value::from(micro_time(jiff::Timestamp::now()));
        lease["spec"]["holderIdentity"] = Value::from(self.identity.clone());
        match cluster.replace(&lease).await {
            Ok(renewed) => {
                self.lease = renewed;
                self.renewed = tokio::time::Instant::now();
                Ok(())
            }
            Err(e) if e.is_conflict() => Err(LockError::TakenOver),
            Err(e) => Err(LockError::NotRenewed(e)),
        }
    }

    /// Runs `work` while renewing the lease every third of its duration. If the lease is lost
    /// (taken over, or not renewed before it expired), `work` is dropped and the error returned:
    /// what was done so far is in the WEC's record, written ahead of every apply.
    pub async fn hold<C: Cluster, F: Future>(
        &mut self,
        cluster: &C,
        work: F,
    ) -> Result<F::Output, LockError> {
        let period = (self.duration / 3).max(Duration::from_millis(100));
        let renewing = async {
            loop {
                tokio::time::sleep(period).await;
                loop {
                    match self.renew(cluster).await {
                        Ok(()) => break,
                        Err(LockError::NotRenewed(e))
                            if self.renewed.elapsed() + period < self.duration =>
                        {
                            tracing::warn!(error = %e, "renewing the WEC's sync lock; trying again");
                            tokio::time::sleep(period / 4).await;
                        }
                        Err(e) => return e,
                    }
                }
            }
        };
        tokio::select! {
            out = work => Ok(out),
            lost = renewing => Err(lost),
        }
    }

    /// Releases the lock (best effort: if this fails, the lease expires by itself).
    pub async fn release<C: Cluster>(self, cluster: &C) {
        let free = |mut lease: Value| {
            if let Some(spec) = lease.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("holderIdentity");
            }
            lease
        };
        match cluster.replace(&free(self.lease.clone())).await {
            // A renewal cut short when the sync ended may have gone through: if the lease is
            // still ours, release the version that is there.
            Err(e) if e.is_conflict() => {
                let live = match super::cluster::identify(&self.lease) {
                    Ok((api_version, id)) => cluster.get(&api_version, &id).await.ok().flatten(),
                    Err(_) => None,
                };
                let ours = live.as_ref().is_some_and(|l| {
                    l.pointer("/spec/holderIdentity").and_then(Value::as_str)
                        == Some(self.identity.as_str())
                });
                if let (true, Some(live)) = (ours, live)
                    && let Err(e) = cluster.replace(&free(live)).await
                {
                    tracing::debug!(error = %e, "releasing the WEC's sync lock");
                }
            }
            Err(e) => tracing::debug!(error = %e, "releasing the WEC's sync lock"),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_free_when_unheld_ours_or_expired() {
        let now: jiff::Timestamp = "2026-01-01T12:00:00Z".parse().unwrap_or_default();
        let lease = |holder: &str, renewed: &str| json!({"spec": {"holderIdentity": holder, "leaseDurationSeconds": 30, "renewTime": renewed}});
        assert!(free_for(&lease("", "2026-01-01T11:59:59.000000Z"), "me", now).is_ok());
        assert!(free_for(&lease("me", "2026-01-01T11:59:59.000000Z"), "me", now).is_ok());
        let busy = free_for(&lease("other", "2026-01-01T11:59:50.000000Z"), "me", now);
        assert!(busy.is_err_and(|m| m.contains("other")));
        assert!(free_for(&lease("other", "2026-01-01T11:59:00.000000Z"), "me", now).is_ok());
        assert_eq!(micro_time(now), "2026-01-01T12:00:00.000000Z");
    }
}
