//! [`SyncController`]: push mode over a fleet, one worker per WEC.
//!
//! Input: a [`ClusterAccess`] (kubeconfig and contexts), [`FleetOptions`], and a repository with
//! the mailbox refs. Output: the WECs' state, each outcome recorded on its reported ref as soon
//! as that WEC is done ([`fleet::record`]), and a [`SyncPass`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{RuntimeError, blocking, open};
use crate::config::Config;
use crate::repo::write::RefOutcome;
use crate::sync::fleet::{self, ClusterAccess, FleetOptions, Pending, Target, WecOutcome};
use crate::sync::{Desired, ObjectOutcome, SyncOptions, drift};

/// What a push-mode sync did.
#[derive(Debug, Default)]
pub struct SyncPass {
    /// One outcome per WEC synced, by WEC.
    pub outcomes: Vec<WecOutcome>,
    /// What happened to the `gitstellar/reported/<wec>` refs.
    pub recorded: Vec<(String, RefOutcome)>,
}

impl SyncPass {
    /// Whether every WEC was reached and took every object.
    pub fn is_clean(&self) -> bool {
        self.outcomes.iter().all(WecOutcome::is_clean)
    }
}

/// A step of a sync, for the caller to print as it happens.
pub enum SyncEvent<'a> {
    /// The WECs are known and about to be synced: how many.
    Started {
        /// WECs to sync.
        wecs: usize,
    },
    /// One WEC is done and its outcome recorded.
    Done {
        /// How it went.
        outcome: &'a WecOutcome,
        /// What happened to its reported ref.
        recorded: Option<&'a RefOutcome>,
    },
}

/// The longest a failing WEC is left alone between attempts of a continuous run.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// One WEC: its client (with its discovery, cached for the controller's life), the sync in
/// flight, its backoff, and the watch of what was applied there.
struct Worker {
    target: Target,
    in_flight: tokio::sync::Mutex<()>,
    health: Mutex<Health>,
    watch: Mutex<Option<Watch>>,
}

#[derive(Default)]
struct Health {
    failures: u32,
    retry_at: Option<Instant>,
}

/// A long-lived watch of the objects of one mailbox commit; dropped (and its task stopped) when
/// another commit is applied.
struct Watch {
    commit: Option<String>,
    stop: CancellationToken,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Worker {
    /// Syncs the WEC (waiting for a sync of it under way to end first) and updates its backoff.
    async fn sync(&self, pending: &Pending, options: &FleetOptions) -> WecOutcome {
        let _one = self.in_flight.lock().await;
        let outcome = fleet::sync_with_retries(&self.target, pending, options).await;
        let mut health = lock(&self.health);
        if outcome.report.error.is_some() {
            health.failures = health.failures.saturating_add(1);
            let delay = options
                .retry_delay
                .saturating_mul(1u32 << health.failures.min(16))
                .min(MAX_BACKOFF);
            health.retry_at = Some(Instant::now() + delay);
        } else {
            *health = Health::default();
        }
        outcome
    }

    fn backing_off(&self) -> bool {
        lock(&self.health)
            .retry_at
            .is_some_and(|at| at > Instant::now())
    }

    /// Watches the objects just applied (unless this commit's are watched already); a drift
    /// sends the WEC's name to `drifted`.
    async fn watch(
        &self,
        pending: &Pending,
        outcome: &WecOutcome,
        sync: &SyncOptions,
        drifted: mpsc::UnboundedSender<String>,
    ) {
        let commit = pending.mailbox.commit.clone();
        if lock(&self.watch)
            .as_ref()
            .is_some_and(|w| w.commit == commit)
        {
            return;
        }
        // Objects the WEC refused are retried at the next interval, not on every event.
        let failed: BTreeSet<&str> = outcome
            .report
            .objects
            .iter()
            .filter(|o| o.outcome == ObjectOutcome::Failed)
            .map(|o| o.object.as_str())
            .collect();
        let watched: Vec<Desired> = pending
            .mailbox
            .objects
            .iter()
            .filter(|d| !failed.contains(d.id.to_string().as_str()))
            .cloned()
            .collect();
        let kinds = self.target.cluster.resources_of(&watched).await;
        let mut drifts = Box::pin(drift::watch(
            self.target.cluster.client().clone(),
            &sync.instance,
            &kinds,
            drift::wanted(&watched),
        ));
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let wec = pending.mailbox.wec.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.cancelled() => return,
                    next = drifts.next() => match next {
                        Some(d) => {
                            tracing::info!(%wec, drift = ?d, "a managed object drifted; re-syncing");
                            if drifted.send(wec.clone()).is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                }
            }
        });
        *lock(&self.watch) = Some(Watch { commit, stop });
    }
}

/// Which WECs a round syncs.
#[derive(Clone, Default)]
struct Selection {
    /// Only these (drifted ones), fully.
    only: Option<BTreeSet<String>>,
    /// Leave the WECs that are backing off alone.
    skip_backing_off: bool,
}

/// Push mode over a fleet (see the module docs and [`super`]).
pub struct SyncController {
    access: ClusterAccess,
    options: FleetOptions,
    changed_only: bool,
    workers: tokio::sync::Mutex<BTreeMap<String, Arc<Worker>>>,
    permits: Arc<Semaphore>,
    drifted: Mutex<Option<mpsc::UnboundedSender<String>>>,
}

impl SyncController {
    /// A controller for `config`'s clusters: the kubeconfig is read now (a missing or malformed
    /// one is the operator's mistake, found before anything is written).
    pub fn new(config: &Config) -> Result<SyncController, RuntimeError> {
        let mut access = ClusterAccess::from_kubeconfig(config.clusters.kubeconfig.as_deref())?;
        for (wec, context) in &config.clusters.contexts {
            access = access.with_context(wec, context);
        }
        let options = FleetOptions {
            sync: SyncOptions {
                instance: config.instance.clone(),
                ..Default::default()
            },
            concurrency: config.clusters.concurrency,
            deadline: config.clusters.timeout,
            ..Default::default()
        };
        Ok(SyncController::with_access(
            access,
            options,
            config.sync.changed_only,
        ))
    }

    /// A controller from its parts.
    pub fn with_access(
        access: ClusterAccess,
        options: FleetOptions,
        changed_only: bool,
    ) -> SyncController {
        let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
        SyncController {
            access,
            options,
            changed_only,
            workers: Default::default(),
            permits,
            drifted: Mutex::new(None),
        }
    }

    /// The worker of `wec`, made (its client built) the first time.
    async fn worker(&self, wec: &str) -> Result<Arc<Worker>, fleet::FleetError> {
        let mut workers = self.workers.lock().await;
        if let Some(w) = workers.get(wec) {
            return Ok(w.clone());
        }
        let mut targets = self
            .access
            .connect(&std::iter::once(wec.to_string()).collect())
            .await?;
        let Some(target) = targets.remove(wec) else {
            unreachable!("connect returns a target per WEC asked for")
        };
        let worker = Arc::new(Worker {
            target,
            in_flight: tokio::sync::Mutex::new(()),
            health: Mutex::new(Health::default()),
            watch: Mutex::new(None),
        });
        workers.insert(wec.to_string(), worker.clone());
        Ok(worker)
    }

    /// Syncs the WECs of the mailboxes in the repository at `repo` once, recording each WEC's
    /// outcome on its reported ref (with `revision`'s trailer) as soon as that WEC is done and
    /// telling `each` then. Every WEC's context and credentials are checked before any is synced.
    pub async fn sync_once(
        &self,
        repo: PathBuf,
        revision: String,
        each: &mut dyn FnMut(SyncEvent<'_>) -> std::io::Result<()>,
    ) -> Result<SyncPass, RuntimeError> {
        self.round(repo, revision, Selection::default(), each).await
    }

    async fn round(
        &self,
        repo: PathBuf,
        revision: String,
        selection: Selection,
        each: &mut dyn FnMut(SyncEvent<'_>) -> std::io::Result<()>,
    ) -> Result<SyncPass, RuntimeError> {
        let changed_only = self.changed_only && selection.only.is_none();
        let path = repo.clone();
        let (mailboxes, departed, known) = blocking(move || {
            let repo = open(&path)?;
            let (mailboxes, departed) = fleet::pending_mailboxes(&repo, changed_only)?;
            let mut known = fleet::mailbox_wecs(&repo)?;
            known.extend(fleet::reported_wecs(&repo)?);
            Ok((mailboxes, departed, known))
        })
        .await?;
        self.access.check_overrides(&known)?;
        let mut workers = BTreeMap::new();
        for p in &mailboxes {
            let wec = &p.mailbox.wec;
            if departed.contains(wec) {
                continue;
            }
            workers.insert(wec.clone(), self.worker(wec).await?);
        }
        // A WEC that left the inventory may have left the kubeconfig too: that is no reason to
        // stop the pass; it is skipped (its record stays) until it can be reached or is removed.
        let mut mailboxes = mailboxes;
        for wec in &departed {
            match self.worker(wec).await {
                Ok(w) => {
                    workers.insert(wec.clone(), w);
                }
                Err(e) => {
                    tracing::warn!(%wec, error = %e, "not emptying a WEC that left the inventory");
                    mailboxes.retain(|p| &p.mailbox.wec != wec);
                }
            }
        }
        if let Some(only) = &selection.only {
            mailboxes.retain(|p| only.contains(&p.mailbox.wec));
        }
        if selection.skip_backing_off {
            mailboxes.retain(|p| !workers.get(&p.mailbox.wec).is_some_and(|w| w.backing_off()));
        }
        each(SyncEvent::Started {
            wecs: mailboxes.len(),
        })
        .map_err(RuntimeError::Observer)?;
        let drifted = lock(&self.drifted).clone();
        let mut tasks = FuturesUnordered::new();
        for pending in mailboxes {
            let worker = workers.get(&pending.mailbox.wec).cloned();
            let permits = self.permits.clone();
            let options = self.options.clone();
            let drifted = drifted.clone();
            tasks.push(tokio::spawn(async move {
                let Some(worker) = worker else {
                    return not_configured(&pending);
                };
                // The semaphore is never closed: a permit always comes.
                let _permit = permits.acquire_owned().await.ok();
                let outcome = worker.sync(&pending, &options).await;
                if let Some(drifted) = drifted
                    && outcome.report.error.is_none()
                    && outcome.report.busy.is_none()
                {
                    worker
                        .watch(&pending, &outcome, &options.sync, drifted)
                        .await;
                }
                outcome
            }));
        }
        let departed = Arc::new(departed);
        let mut outcomes = Vec::new();
        let mut recorded = Vec::new();
        // One writer: what finished while the last batch was being recorded is recorded
        // together (one pack), the rest as each WEC finishes.
        while let Some(first) = tasks.next().await {
            let mut batch = vec![first.map_err(RuntimeError::Task)?];
            while let Some(Some(more)) = tasks.next().now_or_never() {
                batch.push(more.map_err(RuntimeError::Task)?);
            }
            let (path, done, gone, rev) = (
                repo.clone(),
                batch.clone(),
                departed.clone(),
                revision.clone(),
            );
            let finished = blocking(move || {
                let repo = open(&path)?;
                Ok(fleet::record(&repo, &done, &gone, &rev)?)
            })
            .await?;
            let by_wec = fleet::recorded_by_wec(&finished.outcomes);
            for o in &batch {
                each(SyncEvent::Done {
                    outcome: o,
                    recorded: by_wec.get(o.wec()),
                })
                .map_err(RuntimeError::Observer)?;
            }
            outcomes.extend(batch);
            recorded.extend(finished.outcomes);
        }
        outcomes.sort_by(|a, b| a.report.wec.cmp(&b.report.wec));
        Ok(SyncPass { outcomes, recorded })
    }

    /// Syncs continuously until `cancel` fires: every `interval` (the WECs that keep failing
    /// are left alone for a growing while), and at once for a WEC in which an object it applied
    /// drifted. The revision recorded is the one the status branch was computed from. A round
    /// that fails is logged and tried again at the next interval.
    pub async fn run(
        &self,
        repo: PathBuf,
        interval: Duration,
        cancel: CancellationToken,
        each: &mut dyn FnMut(SyncEvent<'_>) -> std::io::Result<()>,
    ) -> Result<(), RuntimeError> {
        let (tx, mut drifts) = mpsc::unbounded_channel();
        *lock(&self.drifted) = Some(tx);
        let mut selection = Selection {
            only: None,
            skip_backing_off: true,
        };
        loop {
            let path = repo.clone();
            let revision = blocking(move || Ok(status_revision(&open(&path)?))).await?;
            if let Err(e) = self.round(repo.clone(), revision, selection, each).await {
                tracing::error!(error = %crate::repo::error_chain(&e), "the sync round failed; trying again");
            }
            selection = Selection {
                only: None,
                skip_backing_off: true,
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
                Some(wec) = drifts.recv() => {
                    // Let a burst of edits settle into one sync.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let mut only: BTreeSet<String> = std::iter::once(wec).collect();
                    while let Ok(more) = drifts.try_recv() {
                        only.insert(more);
                    }
                    selection.only = Some(only);
                    selection.skip_backing_off = false;
                }
            }
        }
        *lock(&self.drifted) = None;
        for worker in self.workers.lock().await.values() {
            lock(&worker.watch).take();
        }
        Ok(())
    }
}

/// The source revision the status branch was computed from (its commit's trailer), or none.
fn status_revision(repo: &git2::Repository) -> String {
    repo.refname_to_id(crate::status::REF)
        .ok()
        .and_then(|c| repo.find_commit(c).ok())
        .and_then(|c| {
            c.message()
                .ok()
                .and_then(crate::repo::write::source_revision)
        })
        .unwrap_or_default()
}

fn not_configured(pending: &Pending) -> WecOutcome {
    WecOutcome {
        report: crate::sync::SyncReport {
            wec: pending.mailbox.wec.clone(),
            mailbox_commit: pending.mailbox.commit.clone(),
            error: Some("no cluster is configured for this WEC".into()),
            busy: None,
            objects: Vec::new(),
        },
        ..Default::default()
    }
}
