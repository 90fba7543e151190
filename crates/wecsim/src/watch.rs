//! WATCH: a stream of newline-delimited JSON events from a resourceVersion, resumed from the
//! cluster's event history; a resourceVersion older than the history gets the `410 Expired`
//! ERROR event a real API server sends, so clients relist.

use super::error::{ApiError, Reason};
use super::ops::{ListOpts, Target};
use super::store::{Cluster, EventType, str_at};
use super::table;
use bytes::Bytes;
use futures::Stream;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a watch request asked for.
#[derive(Debug, Clone)]
pub struct WatchParams {
    /// Start after this resourceVersion; `None` (or "0") sends the current objects first.
    pub rv: Option<u64>,
    /// Selectors (limit and continue are ignored).
    pub opts: ListOpts,
    /// End the stream after this long.
    pub timeout: Duration,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// When set, events carry a one-row Table (`kubectl get -w`), with this `includeObject`.
    pub table: Option<String>,
    /// `sendInitialEvents=true` (streaming lists): the current objects as ADDED events, then a
    /// BOOKMARK annotated `k8s.io/initial-events-end`.
    pub send_initial_events: bool,
}

#[derive(Serialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}

struct State {
    cluster: Arc<Cluster>,
    target: Target,
    params: WatchParams,
    last: u64,
    pending: VecDeque<Bytes>,
    rx: tokio::sync::watch::Receiver<u64>,
    deadline: Instant,
    next_bookmark: Instant,
    done: bool,
}

const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

impl State {
    fn frame(&mut self, kind: &str, obj: &Value) {
        let mut bytes = if let Some(include) = &self.params.table {
            let rv = str_at(obj, "resourceVersion").parse().unwrap_or(self.last);
            let t = table::render(
                &self.target.def,
                &[Arc::new(obj.clone())],
                rv,
                None,
                include,
            );
            serde_json::to_vec(&Frame { kind, object: &t })
        } else {
            serde_json::to_vec(&Frame { kind, object: obj })
        }
        .unwrap_or_default();
        bytes.push(b'\n');
        self.pending.push_back(Bytes::from(bytes));
    }

    fn selected(&self, obj: &Value) -> bool {
        (self.target.namespace.is_empty() || str_at(obj, "namespace") == self.target.namespace)
            && self.params.opts.labels.matches(obj)
            && self.params.opts.fields.matches(obj)
    }

    /// Queues the events after `last`, or the 410 error when they are gone.
    fn collect(&mut self) {
        self.rx.borrow_and_update();
        let cluster = self.cluster.clone();
        let st = cluster.lock();
        if self.last < st.compacted {
            let err = ApiError::new(
                Reason::Expired,
                format!(
                    "too old resource version: {} ({})",
                    self.last,
                    st.compacted + 1
                ),
            );
            self.frame("ERROR", &err.to_status());
            self.done = true;
            return;
        }
        let key = self.target.def.key();
        let start = st.history.partition_point(|e| e.rv <= self.last);
        let events: Vec<_> = st.history.iter().skip(start).cloned().collect();
        self.last = st.rv;
        drop(st);
        for ev in events {
            if *ev.res != *key {
                continue;
            }
            let obj = Arc::new(ev.obj.value());
            let now_in = self.selected(&obj);
            // Without selectors an object cannot leave the watch by changing, so the previous
            // version need not be parsed.
            let unfiltered = self.params.opts.labels == Default::default()
                && self.params.opts.fields == Default::default();
            let was_in = match &ev.prev {
                None => false,
                Some(_) if unfiltered => now_in,
                Some(p) => self.selected(&p.value()),
            };
            let kind = match (ev.kind, was_in, now_in) {
                (EventType::Deleted, true, _) => EventType::Deleted,
                (EventType::Deleted, false, _) => continue,
                (_, false, true) => EventType::Added,
                (_, true, true) => EventType::Modified,
                (_, true, false) => EventType::Deleted,
                (_, false, false) => continue,
            };
            let obj = self.target.present(&obj);
            self.frame(kind.as_str(), &obj);
        }
    }

    /// A BOOKMARK; `initial_end` marks the end of the initial events of a streaming list.
    fn bookmark(&mut self, initial_end: bool) {
        let mut obj = json!({
            "kind": self.target.def.kind,
            "apiVersion": self.target.def.api_version(&self.target.version),
            "metadata": {"resourceVersion": self.last.to_string()},
        });
        if initial_end {
            obj["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let bytes = serde_json::to_vec(&Frame {
            kind: "BOOKMARK",
            object: &obj,
        });
        let mut bytes = bytes.unwrap_or_default();
        bytes.push(b'\n');
        self.pending.push_back(Bytes::from(bytes));
    }
}

/// Starts a watch; the stream ends at the timeout, when the cluster goes down, or after an
/// ERROR event.
pub fn start(
    cluster: Arc<Cluster>,
    target: Target,
    params: WatchParams,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let rx = cluster.notify.subscribe();
    let now = Instant::now();
    let mut state = State {
        // timeoutSeconds comes from the client: a day is more than any real server allows.
        deadline: now + params.timeout.min(Duration::from_secs(86_400)),
        next_bookmark: now + BOOKMARK_EVERY,
        cluster: cluster.clone(),
        target,
        params,
        last: 0,
        pending: VecDeque::new(),
        rx,
        done: false,
    };
    let streaming = state.params.send_initial_events;
    match state.params.rv {
        Some(rv) if rv > 0 && !streaming => state.last = rv,
        _ => {
            let st = cluster.lock();
            let objs: Vec<Arc<Value>> = st
                .objects
                .get(state.target.def.key().as_str())
                .map(|m| m.values().map(|c| Arc::new(c.value())).collect())
                .unwrap_or_default();
            state.last = st.rv;
            drop(st);
            state.rx.borrow_and_update();
            for o in objs {
                if state.selected(&o) {
                    let o = state.target.present(&o);
                    state.frame("ADDED", &o);
                }
            }
            if streaming {
                state.bookmark(true);
            }
        }
    }
    futures::stream::unfold(state, |mut w| async move {
        loop {
            if let Some(b) = w.pending.pop_front() {
                return Some((Ok(b), w));
            }
            if w.done || w.cluster.faults.is_down() {
                return None;
            }
            w.collect();
            if !w.pending.is_empty() {
                continue;
            }
            tokio::select! {
                changed = w.rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = tokio::time::sleep_until(w.deadline) => return None,
                _ = tokio::time::sleep_until(w.next_bookmark), if w.params.bookmarks => {
                    w.next_bookmark = Instant::now() + BOOKMARK_EVERY;
                    w.bookmark(false);
                }
            }
        }
    })
}
