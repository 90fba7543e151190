//! Drift detection: watch the objects gitstellar manages in a WEC, and say when one no longer
//! holds what git wants (a `kubectl edit`, a `kubectl scale`, a deletion), so the caller re-syncs.
//! Watched, not polled (design §5): one kube-runtime watcher per kind, filtered by our label.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use super::desired::{Desired, MANAGED_BY, is_create_only, live_id, satisfied};
use crate::model::ObjectId;

/// Why a drift check fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// A managed object differs from git.
    Changed(ObjectId),
    /// A managed object was deleted.
    Deleted(ObjectId),
}

/// What each managed object should look like, shared with the watchers.
pub type Wanted = Arc<BTreeMap<ObjectId, Value>>;

/// The desired objects (create-only ones excluded: they may drift) keyed by identity.
pub fn wanted(desired: &[Desired]) -> Wanted {
    Arc::new(
        desired
            .iter()
            .filter(|d| !d.create_only)
            .map(|d| (d.id.clone(), d.object.clone()))
            .collect(),
    )
}

/// A stream of drifts of the managed objects of `kinds` (see [`super::KubeCluster::resources_of`]).
///
/// Watch errors are retried with kube-runtime's default backoff; the stream ends only when the
/// caller drops it.
pub fn watch(
    client: Client,
    instance: &str,
    kinds: &[ApiResource],
    wanted: Wanted,
) -> impl Stream<Item = Drift> + Send + 'static {
    let selector = format!("{MANAGED_BY}={instance}");
    let streams = kinds.iter().map(move |ar| {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        watcher(api, watcher::Config::default().labels(&selector))
            .default_backoff()
            .boxed()
    });
    let wanted_for_events = wanted.clone();
    futures::stream::select_all(streams).filter_map(move |event| {
        let wanted = wanted_for_events.clone();
        async move {
            match event.ok()? {
                watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                    let live = serde_json::to_value(obj).ok()?;
                    let id = live_id(&live)?;
                    let want = wanted.get(&id)?;
                    (!is_create_only(&live) && !satisfied(want, &live))
                        .then_some(Drift::Changed(id))
                }
                watcher::Event::Delete(obj) => {
                    let live = serde_json::to_value(obj).ok()?;
                    let id = live_id(&live)?;
                    wanted.contains_key(&id).then_some(Drift::Deleted(id))
                }
                watcher::Event::Init | watcher::Event::InitDone => None,
            }
        }
    })
}
