//! Pull mode: `gitstellar agent`, one per WEC, usually inside it (edge sites behind NAT open only
//! outward connections). It fetches only its own refs (`gitstellar/mailbox/<wec>` and
//! `gitstellar/reported/<wec>`: the transfer does not grow with the fleet), applies the mailbox,
//! keeps applying the last good one while git is unreachable, watches for drift, and pushes what
//! it did to `gitstellar/reported/<wec>`.
//!
//! Input: [`AgentOptions`] and a cluster. Output: the WEC's state, the reported ref, a [`Round`]
//! per round; it runs until its cancellation token fires (or once). The agent never dies of git: every git call runs on a blocking thread under a
//! deadline of its own ([`AgentOptions::git_timeout`]); a fetch that fails or hangs means the
//! cached mailbox is applied, a push that fails is made again next round.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;

use super::cluster::KubeCluster;
use super::engine::{SyncOptions, SyncReport, sync};
use super::fleet::{self, REPORTED_PREFIX, WecOutcome};
use crate::repo::remote::{RemoteCache, RemoteError};

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The cache could not be opened.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// Reading the mailbox or recording the outcome failed.
    #[error(transparent)]
    Fleet(#[from] fleet::FleetError),
    /// A blocking git task panicked.
    #[error("a git task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The cache repository could not be opened.
    #[error("opening the cache {path}")]
    Cache {
        /// The cache repository.
        path: PathBuf,
        /// Why.
        #[source]
        source: git2::Error,
    },
}

/// How the agent runs.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// The source repo's URL (or path).
    pub url: String,
    /// This WEC's name (its SyncTarget's).
    pub wec: String,
    /// Where the bare cache is kept.
    pub cache_root: PathBuf,
    /// How often to fetch and re-sync when nothing drifts.
    pub interval: Duration,
    /// Sync once and return.
    pub once: bool,
    /// How long one git call (a fetch, a push) may take before the round goes on without it.
    pub git_timeout: Duration,
    /// The WEC's API server, for the record (when known).
    pub server: Option<String>,
    /// Per-sync options.
    pub sync: SyncOptions,
}

/// The default of [`AgentOptions::git_timeout`].
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// What one round did.
#[derive(Clone, Debug)]
pub struct Round {
    /// The sync's outcome.
    pub report: SyncReport,
    /// Whether the git server was reached for the fetch.
    pub fetched: bool,
    /// Whether the round's report is on the remote (pushed, or already there).
    pub pushed: bool,
    /// Why git could not be reached (fetch or push), if it could not.
    pub git_error: Option<String>,
    /// The mailbox commit applied (the cached one when git was unreachable).
    pub mailbox_commit: Option<String>,
    /// Pack bytes received by the fetch.
    pub received_bytes: usize,
}

impl Round {
    /// Whether the WEC took every object and its report reached git.
    pub fn is_clean(&self) -> bool {
        self.report.is_clean() && self.fetched && self.pushed && self.git_error.is_none()
    }
}

fn open_cache(cache: &RemoteCache) -> Result<git2::Repository, AgentError> {
    git2::Repository::open_bare(cache.path()).map_err(|source| AgentError::Cache {
        path: cache.path().to_path_buf(),
        source,
    })
}

fn mailbox_ref(wec: &str) -> String {
    crate::mailbox::ref_name(wec)
}

fn reported_ref(wec: &str) -> String {
    format!("{REPORTED_PREFIX}{wec}")
}

/// The agent's hold on git: the cache, and whether a git call cut off at its deadline is still
/// running (then git is left alone until it ends: two fetches into one cache would collide).
pub struct Agent {
    cache: Arc<RemoteCache>,
    busy: Arc<AtomicBool>,
    timeout: Duration,
}

impl Agent {
    /// Opens (or creates) the cache of `options.url`.
    pub fn open(options: &AgentOptions) -> Result<Agent, AgentError> {
        Ok(Agent {
            cache: Arc::new(RemoteCache::open(&options.url, &options.cache_root)?),
            busy: Arc::new(AtomicBool::new(false)),
            timeout: options.git_timeout,
        })
    }

    /// Runs one git call on a blocking thread, giving up waiting after the deadline.
    async fn git<T: Send + 'static>(
        &self,
        what: &str,
        call: impl FnOnce(&RemoteCache) -> Result<T, RemoteError> + Send + 'static,
    ) -> Result<T, String> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(format!(
                "{what}: an earlier git call that did not answer within {} is still running",
                fleet::human_duration(self.timeout)
            ));
        }
        let cache = self.cache.clone();
        let busy = self.busy.clone();
        let task = tokio::task::spawn_blocking(move || {
            let result = call(&cache);
            busy.store(false, Ordering::Release);
            result
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => {
                self.busy.store(false, Ordering::Release);
                Err(format!("{what}: the git task failed: {e}"))
            }
            Err(_) => Err(format!(
                "{what} {}: no answer within {}",
                self.cache.redacted_url(),
                fleet::human_duration(self.timeout)
            )),
        }
    }

    /// Runs git2 work on the cache on a blocking thread (no deadline: it touches only disk).
    async fn local<T: Send + 'static>(
        &self,
        work: impl FnOnce(&git2::Repository) -> Result<T, AgentError> + Send + 'static,
    ) -> Result<T, AgentError> {
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || work(&open_cache(&cache)?))
            .await
            .map_err(AgentError::Task)?
    }

    /// One round: fetch (or fall back on the cache), sync, record and push.
    pub async fn round(
        &self,
        cluster: &KubeCluster,
        options: &AgentOptions,
    ) -> Result<Round, AgentError> {
        let names = vec![mailbox_ref(&options.wec), reported_ref(&options.wec)];
        let (fetched, mut git_error) = match self
            .git("fetching", move |c| c.fetch_refs(&names))
            .await
        {
            Ok(f) => (Some(f), None),
            Err(e) => {
                tracing::warn!(error = %e, "git is unreachable; applying the last mailbox fetched");
                (None, Some(e))
            }
        };
        let wec = options.wec.clone();
        let (mailbox, has_ref) = self
            .local(move |repo| {
                let mailbox = fleet::read_mailbox(repo, &wec, None)?;
                Ok((mailbox, repo.find_reference(&mailbox_ref(&wec)).is_ok()))
            })
            .await?;
        // Never fetched and git unreachable: nothing is known, so nothing is applied (an empty
        // mailbox would prune everything).
        if fetched.is_none() && mailbox.commit.is_none() && !has_ref {
            let report = SyncReport {
                wec: options.wec.clone(),
                error: Some("git unreachable and no mailbox fetched yet: nothing applied".into()),
                ..Default::default()
            };
            return Ok(Round {
                report,
                fetched: false,
                pushed: false,
                git_error,
                mailbox_commit: None,
                received_bytes: 0,
            });
        }
        let report = sync(cluster, &mailbox, &options.sync).await;
        let mut pushed = false;
        if fetched.is_some() {
            let outcome = WecOutcome {
                report: report.clone(),
                server: options.server.clone(),
                attempts: 1,
                ..Default::default()
            };
            let commit = mailbox.commit.clone();
            let wec = options.wec.clone();
            let finished = self
                .local(move |repo| {
                    let source_revision = commit
                        .as_deref()
                        .and_then(|c| git2::Oid::from_str(c).ok())
                        .and_then(|c| repo.find_commit(c).ok())
                        .and_then(|c| {
                            c.message()
                                .ok()
                                .and_then(crate::repo::write::source_revision)
                        })
                        .unwrap_or_default();
                    Ok(fleet::record_as(
                        repo,
                        crate::repo::write::Producer::Agent(wec),
                        std::slice::from_ref(&outcome),
                        &BTreeSet::new(),
                        &source_revision,
                    )?)
                })
                .await?;
            let pushes: Vec<_> = finished
                .outcomes
                .iter()
                .filter_map(|(name, outcome)| match outcome {
                    crate::repo::write::RefOutcome::Updated { commit, .. } => {
                        Some((name.clone(), Some(*commit)))
                    }
                    _ => None,
                })
                .collect();
            // A failed push is not fatal: the next round fetches the remote's reported ref
            // again and records on top of it, so the report is pushed once git is back.
            match self
                .git("pushing", move |c| crate::repo::commit::push(c, &pushes))
                .await
            {
                Ok(rejected) if rejected.is_empty() => pushed = true,
                Ok(rejected) => tracing::warn!(
                    rejected = %rejected.join(", "),
                    "the reported ref moved on the remote; it is refetched next round"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "the report could not be pushed; it is pushed next round");
                    git_error = Some(e);
                }
            }
        }
        let received_bytes = fetched.as_ref().map_or(0, |f| f.received_bytes);
        Ok(Round {
            mailbox_commit: mailbox.commit.clone(),
            report,
            fetched: fetched.is_some(),
            pushed,
            git_error,
            received_bytes,
        })
    }
}

/// Runs rounds until stopped (or once): every `interval`, and at once when a managed object
/// drifts. Only opening the cache can fail in a long run: a round that fails is logged and tried
/// again at the next interval.
pub async fn run(
    options: &AgentOptions,
    cluster: &KubeCluster,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<Round, AgentError> {
    let agent = Agent::open(options)?;
    type Watching = (
        (Option<String>, BTreeSet<String>),
        futures::stream::BoxStream<'static, super::drift::Drift>,
    );
    let mut watching: Option<Watching> = None;
    loop {
        let done = match agent.round(cluster, options).await {
            Ok(done) => done,
            Err(e) if !options.once => {
                tracing::error!(wec = %options.wec, error = %e, "the round failed; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(options.interval) => continue,
                    _ = cancel.cancelled() => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let counts: Vec<String> = done
            .report
            .counts()
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        tracing::info!(
            wec = %options.wec,
            counts = %counts.join(", "),
            error = %done.report.error.as_deref().unwrap_or("none"),
            git = %done.git_error.as_deref().unwrap_or("reached"),
            "synced"
        );
        if options.once {
            return Ok(done);
        }
        let wec = options.wec.clone();
        let mailbox = agent
            .local(move |repo| Ok(fleet::read_mailbox(repo, &wec, None)?))
            .await?;
        // Objects the WEC refused are retried every interval, not on every event about them.
        let failed: BTreeSet<String> = done
            .report
            .objects
            .iter()
            .filter(|o| o.outcome == super::ObjectOutcome::Failed)
            .map(|o| o.object.clone())
            .collect();
        // The watchers live as long as what they watch: rebuilt only when the mailbox or the
        // objects left out changed, not every round.
        let key = (mailbox.commit.clone(), failed);
        if watching.as_ref().is_none_or(|(k, _)| *k != key) {
            let watched: Vec<super::Desired> = mailbox
                .objects
                .iter()
                .filter(|d| !key.1.contains(&d.id.to_string()))
                .cloned()
                .collect();
            let kinds = cluster.resources_of(&watched).await;
            let stream = super::drift::watch(
                cluster.client().clone(),
                &options.sync.instance,
                &kinds,
                super::drift::wanted(&watched),
            )
            .boxed();
            watching = Some((key, stream));
        }
        let Some((_, drifts)) = watching.as_mut() else {
            continue;
        };
        tokio::select! {
            _ = tokio::time::sleep(options.interval) => {}
            Some(drift) = drifts.next() => {
                let (what, id) = match &drift {
                    super::drift::Drift::Changed(id) => ("changed", id),
                    super::drift::Drift::Deleted(id) => ("deleted", id),
                };
                tracing::info!(object = %id, what, "a managed object drifted; re-syncing");
                // Let a burst of edits settle into one sync.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ = cancel.cancelled() => return Ok(done),
        }
    }
}
