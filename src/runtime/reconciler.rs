//! [`Reconciler`]: one pass from a revision of the source to the gitstellar refs, and for a
//! remote source the fetch before it and the push after it, retried while the remote moves.
//!
//! Input: a [`Config`], an optional [`SyncController`] (push mode) and the [`Runtime`] it runs
//! on. Output: the refs, and a [`PassReport`]; the caller hears of each step as it happens
//! through an observer ([`Event`]), to print it then.

use std::path::{Path, PathBuf};

use super::{Runtime, RuntimeError, SyncController, SyncEvent, SyncPass};
use crate::config::Config;
use crate::reconcile::{self, Leftovers, Options, Report};
use crate::repo::SourceRepo;
use crate::repo::remote::{RefPush, RemoteCache};
use crate::repo::write::RefOutcome;

/// How many times a push rejected because the remote moved is retried (fetch, recompute, push).
const PUSH_ATTEMPTS: usize = 10;

/// A step of a pass, for the caller to print as it happens.
pub enum Event<'a> {
    /// The refs are written (a remote source: into the cache, not yet pushed).
    Reconciled(&'a Report),
    /// Something happened in the sync after it.
    Sync(SyncEvent<'a>),
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The remote, without credentials.
    pub url: String,
    /// How many refs moved there.
    pub refs: usize,
}

/// What a pass did.
pub struct PassReport {
    /// The pass itself: its revision, kind and what happened to each ref.
    pub report: Report,
    /// The large values of the pass, for a process about to exit to leave to the OS.
    pub leftovers: Leftovers,
    /// The sync after it (push mode).
    pub synced: Option<SyncPass>,
    /// The push (a remote source with `push`).
    pub pushed: Option<Pushed>,
}

/// One pass over the configured source (see the module docs).
pub struct Reconciler<'a> {
    config: &'a Config,
    controller: Option<&'a SyncController>,
    runtime: &'a Runtime,
}

impl<'a> Reconciler<'a> {
    /// A reconciler of `config`'s source; with a controller, every pass is followed by a sync.
    /// The configuration is validated here.
    pub fn new(
        config: &'a Config,
        controller: Option<&'a SyncController>,
        runtime: &'a Runtime,
    ) -> Result<Reconciler<'a>, RuntimeError> {
        config.validate()?;
        Ok(Reconciler {
            config,
            controller,
            runtime,
        })
    }

    /// Runs the pass (with its fetch, sync and push), telling `observer` of each step. Blocks:
    /// call it from a thread that may (not from inside the runtime).
    pub fn run(
        &self,
        observer: &mut dyn FnMut(Event<'_>) -> std::io::Result<()>,
    ) -> Result<PassReport, RuntimeError> {
        if self.config.source.is_remote() {
            return self.run_remote(observer);
        }
        let mut source = SourceRepo::open(Path::new(&self.config.source.repo))?;
        let (report, leftovers) = self.pass(&mut source, self.config.source.branch.as_deref())?;
        let synced = self.sync(&source, &report, observer)?;
        Ok(PassReport {
            report,
            leftovers,
            synced,
            pushed: None,
        })
    }

    /// `repo` is a URL: fetch into the bare cache, reconcile there, push what moved (with
    /// retries).
    fn run_remote(
        &self,
        observer: &mut dyn FnMut(Event<'_>) -> std::io::Result<()>,
    ) -> Result<PassReport, RuntimeError> {
        let root = self.config.cache.root()?;
        let cache = RemoteCache::open(&self.config.source.repo, &root)?;
        let url = cache.redacted_url();
        for attempt in 1..=PUSH_ATTEMPTS {
            let head = cache.fetch()?;
            let mut source = SourceRepo::open(cache.path())?;
            let branch = self.config.source.branch.clone().or_else(|| {
                head.as_deref()
                    .and_then(|h| h.strip_prefix("refs/heads/"))
                    .map(str::to_string)
            });
            let (report, leftovers) = self.pass(&mut source, branch.as_deref())?;
            let synced = self.sync(&source, &report, observer)?;
            if !self.config.source.push {
                return Ok(PassReport {
                    report,
                    leftovers,
                    synced,
                    pushed: None,
                });
            }
            let recorded = synced
                .as_ref()
                .map(|s| s.recorded.as_slice())
                .unwrap_or_default();
            let pushes: Vec<RefPush> = report
                .outcomes
                .iter()
                .chain(recorded)
                .filter_map(|(name, outcome)| match outcome {
                    RefOutcome::Updated { commit, .. } => Some((name.clone(), Some(*commit))),
                    RefOutcome::Deleted => Some((name.clone(), None)),
                    RefOutcome::Unchanged | RefOutcome::Superseded => None,
                })
                .collect();
            let rejected = push_status_first(&cache, &source, &pushes)?;
            if rejected.is_empty() {
                return Ok(PassReport {
                    report,
                    leftovers,
                    synced,
                    pushed: Some(Pushed {
                        url,
                        refs: pushes.len(),
                    }),
                });
            }
            tracing::warn!(
                attempt,
                rejected = rejected.len(),
                "the remote moved since the fetch; fetching and recomputing"
            );
        }
        Err(RuntimeError::GaveUp {
            url,
            attempts: PUSH_ATTEMPTS,
        })
    }

    /// One pass over the commit that the configured revision names (on the tracked branch's
    /// history) or the tracked branch's tip (never what HEAD points to).
    fn pass(
        &self,
        source: &mut SourceRepo,
        branch: Option<&str>,
    ) -> Result<(Report, Leftovers), RuntimeError> {
        let (name, tip) = source.track(branch)?;
        tracing::info!(branch = %name, tip = %tip, "tracking");
        let commit = source.pass_commit(self.config.source.revision.as_deref())?;
        let options = Options {
            full: self.config.source.full,
        };
        Ok(reconcile::reconcile(source, commit, &options)?)
    }

    /// Tells of the pass, then syncs (in push mode), telling of each WEC as it finishes.
    fn sync(
        &self,
        source: &SourceRepo,
        report: &Report,
        observer: &mut dyn FnMut(Event<'_>) -> std::io::Result<()>,
    ) -> Result<Option<SyncPass>, RuntimeError> {
        observer(Event::Reconciled(report)).map_err(RuntimeError::Observer)?;
        let Some(controller) = self.controller else {
            return Ok(None);
        };
        let path: PathBuf = source.repository().path().to_path_buf();
        let pass = self.runtime.run(controller.sync_once(
            path,
            report.revision.clone(),
            &mut |event| observer(Event::Sync(event)),
        ))?;
        Ok(Some(pass))
    }
}

/// Publishes what a pass moved through the committer's push step (status branch first, as the
/// lease; then the rest). Returns the refs rejected.
fn push_status_first(
    cache: &RemoteCache,
    source: &SourceRepo,
    pushes: &[RefPush],
) -> Result<Vec<String>, RuntimeError> {
    Ok(crate::repo::commit::push_status_first(
        cache,
        source.repository(),
        pushes,
    )?)
}
