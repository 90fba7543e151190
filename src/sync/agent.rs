//! Pull mode: `gitstellar agent`, one per WEC, usually inside it (edge sites behind NAT open only
//! outward connections). It fetches only its own refs (`gitstellar/mailbox/<wec>` and
//! `gitstellar/reported/<wec>`: the transfer does not grow with the fleet), applies the mailbox,
//! keeps applying the last good one while git is unreachable, watches for drift, and pushes what
//! it did to `gitstellar/reported/<wec>`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;

use super::cluster::KubeCluster;
use super::engine::{SyncOptions, SyncReport, sync};
use super::fleet::{self, REPORTED_PREFIX};
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
    /// A blocking git task failed.
    #[error("a git task failed: {0}")]
    Task(String),
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
    /// Per-sync options.
    pub sync: SyncOptions,
}

/// What one round did.
#[derive(Clone, Debug)]
pub struct Round {
    /// The sync's outcome.
    pub report: SyncReport,
    /// Whether the git server was reached.
    pub fetched: bool,
    /// Pack bytes received by the fetch.
    pub received_bytes: usize,
}

fn mailbox_ref(wec: &str) -> String {
    crate::mailbox::ref_name(wec)
}

fn reported_ref(wec: &str) -> String {
    format!("{REPORTED_PREFIX}{wec}")
}

/// One round: fetch (or fall back on the cache), sync, record and push.
pub async fn round(
    cache: &RemoteCache,
    cluster: &KubeCluster,
    options: &AgentOptions,
) -> Result<Round, AgentError> {
    let names = vec![mailbox_ref(&options.wec), reported_ref(&options.wec)];
    let fetched = match cache.fetch_refs(&names) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(error = %e, "git is unreachable; applying the last mailbox fetched");
            None
        }
    };
    let repo = git2::Repository::open_bare(cache.path())
        .map_err(|e| AgentError::Task(crate::repo::git_message(&e)))?;
    let mailbox = fleet::read_mailbox(&repo, &options.wec, None)?;
    // Never fetched and git unreachable: nothing is known, so nothing is applied (an empty
    // mailbox would prune everything).
    if fetched.is_none()
        && mailbox.commit.is_none()
        && repo.find_reference(&mailbox_ref(&options.wec)).is_err()
    {
        let report = SyncReport {
            wec: options.wec.clone(),
            error: Some("git unreachable and no mailbox fetched yet".into()),
            ..Default::default()
        };
        return Ok(Round {
            report,
            fetched: false,
            received_bytes: 0,
        });
    }
    let report = sync(cluster, &mailbox, &options.sync).await;
    if fetched.is_some() {
        let source_revision = mailbox
            .commit
            .as_deref()
            .and_then(|c| git2::Oid::from_str(c).ok())
            .and_then(|c| repo.find_commit(c).ok())
            .and_then(|c| {
                c.message()
                    .ok()
                    .and_then(crate::repo::write::source_revision)
            })
            .unwrap_or_default();
        let departed: BTreeSet<String> = BTreeSet::new();
        let finished = fleet::record(
            &repo,
            std::slice::from_ref(&report),
            &departed,
            &source_revision,
        )?;
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
        let rejected = cache.push(&pushes)?;
        if !rejected.is_empty() {
            tracing::warn!(
                ?rejected,
                "the reported ref moved on the remote; it is refetched next round"
            );
        }
    }
    let received_bytes = fetched.as_ref().map_or(0, |f| f.received_bytes);
    Ok(Round {
        report,
        fetched: fetched.is_some(),
        received_bytes,
    })
}

/// Runs rounds until stopped (or once): every `interval`, and at once when a managed object drifts.
pub async fn run(options: &AgentOptions, cluster: &KubeCluster) -> Result<SyncReport, AgentError> {
    let cache = RemoteCache::open(&options.url, &options.cache_root)?;
    loop {
        let done = round(&cache, cluster, options).await?;
        tracing::info!(wec = %options.wec, counts = ?done.report.counts(), error = ?done.report.error, "synced");
        if options.once {
            return Ok(done.report);
        }
        let repo = git2::Repository::open_bare(cache.path())
            .map_err(|e| AgentError::Task(crate::repo::git_message(&e)))?;
        let mailbox = fleet::read_mailbox(&repo, &options.wec, None)?;
        // Objects the WEC refused are retried every interval, not on every event about them.
        let failed: BTreeSet<&str> = done
            .report
            .objects
            .iter()
            .filter(|o| o.outcome == super::Outcome::Failed)
            .map(|o| o.object.as_str())
            .collect();
        let watched: Vec<super::Desired> = mailbox
            .objects
            .iter()
            .filter(|d| !failed.contains(d.id.to_string().as_str()))
            .cloned()
            .collect();
        let kinds = cluster.resources_of(&watched).await;
        let mut drifts = Box::pin(super::drift::watch(
            cluster.client().clone(),
            &options.sync.instance,
            &kinds,
            super::drift::wanted(&watched),
        ));
        tokio::select! {
            _ = tokio::time::sleep(options.interval) => {}
            Some(drift) = drifts.next() => {
                tracing::info!(?drift, "a managed object drifted; re-syncing");
                // Let a burst of edits settle into one sync.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ = tokio::signal::ctrl_c() => return Ok(done.report),
        }
    }
}
