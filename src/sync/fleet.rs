//! Push mode: sync many WECs from the centre. Reads each WEC's mailbox from its ref, reaches the WEC
//! through a kubeconfig context (by default the one named after the WEC), syncs a bounded number
//! of WECs at once with retries for the unreachable ones, and records every outcome in git on
//! `refs/heads/gitstellar/reported/<wec>` (the ref a pull-mode agent writes too).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use git2::{ObjectType, Oid, Repository, Tree};

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::cluster::{ClusterError, KubeCluster};
use super::engine::{Mailbox, SyncOptions, SyncReport};
use crate::model::SourceFile;
use crate::repo::write::{Files, RefWriter};

/// The prefix of the refs holding what was observed in each WEC.
pub const REPORTED_PREFIX: &str = "refs/heads/gitstellar/reported/";

/// The file of a reported ref that holds the last sync's outcome.
pub const SYNC_FILE: &str = "sync.yaml";

/// Why push-mode syncing could not start or record.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The kubeconfig could not be read.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// A mailbox could not be read from git.
    #[error("reading the mailbox of {wec}: {message}")]
    Mailbox {
        /// The WEC.
        wec: String,
        /// Why.
        message: String,
    },
    /// Recording the outcomes failed.
    #[error("recording the sync outcomes: {0}")]
    Record(#[from] crate::repo::write::WriteError),
    /// Rendering an outcome failed.
    #[error("rendering the sync outcome of {wec}: {message}")]
    Render {
        /// The WEC.
        wec: String,
        /// Why.
        message: String,
    },
}

/// How the WECs are reached: one kubeconfig, a context per WEC.
#[derive(Clone)]
pub struct ClusterAccess {
    kubeconfig: Option<Arc<Kubeconfig>>,
    contexts: BTreeMap<String, String>,
}

impl ClusterAccess {
    /// Reads `path`, or `$KUBECONFIG` / `~/.kube/config` when `None`. A missing default
    /// kubeconfig is not an error: every WEC is then reported unreachable.
    pub fn from_kubeconfig(path: Option<&Path>) -> Result<ClusterAccess, FleetError> {
        let kubeconfig = match path {
            Some(p) => Some(
                Kubeconfig::read_from(p)
                    .map_err(|e| FleetError::Kubeconfig(format!("{}: {e}", p.display())))?,
            ),
            None => Kubeconfig::read().ok(),
        };
        Ok(ClusterAccess {
            kubeconfig: kubeconfig.map(Arc::new),
            contexts: BTreeMap::new(),
        })
    }

    /// Reaches `wec` through `context` instead of the context named after it.
    pub fn with_context(mut self, wec: &str, context: &str) -> ClusterAccess {
        self.contexts.insert(wec.to_string(), context.to_string());
        self
    }

    /// A client for one WEC.
    pub async fn cluster(&self, wec: &str) -> Result<KubeCluster, ClusterError> {
        let Some(kubeconfig) = &self.kubeconfig else {
            return Err(ClusterError::Config(
                "no kubeconfig (give --kubeconfig or set KUBECONFIG)".into(),
            ));
        };
        let context = self.contexts.get(wec).map_or(wec, String::as_str);
        if !kubeconfig.contexts.iter().any(|c| c.name == context) {
            return Err(ClusterError::Config(format!(
                "the kubeconfig has no context {context:?} for WEC {wec}"
            )));
        }
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig((**kubeconfig).clone(), &options)
            .await
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        KubeCluster::from_config(config, super::cluster::RequestPolicy::default())
    }
}

/// The mailbox of `wec` at `commit` (or its ref's tip); an absent ref is an empty mailbox (the
/// WEC left the inventory: everything gitstellar put there goes).
pub fn read_mailbox(
    repo: &Repository,
    wec: &str,
    commit: Option<Oid>,
) -> Result<Mailbox, FleetError> {
    let err = |message: String| FleetError::Mailbox {
        wec: wec.to_string(),
        message,
    };
    let commit = match commit {
        Some(c) => Some(c),
        None => match repo.refname_to_id(&crate::mailbox::ref_name(wec)) {
            Ok(c) => Some(c),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(err(e.to_string())),
        },
    };
    let Some(commit) = commit else {
        return Ok(Mailbox {
            wec: wec.to_string(),
            ..Default::default()
        });
    };
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| err(e.to_string()))?;
    let mut files = Vec::new();
    collect(repo, &tree, "", &mut files).map_err(|e| err(e.to_string()))?;
    Mailbox::from_files(wec, Some(commit.to_string()), &files).map_err(err)
}

fn collect(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    out: &mut Vec<SourceFile>,
) -> Result<(), git2::Error> {
    for entry in tree.iter() {
        let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        match entry.kind() {
            Some(ObjectType::Tree) => collect(repo, &repo.find_tree(entry.id())?, &path, out)?,
            Some(ObjectType::Blob) => {
                let blob = repo.find_blob(entry.id())?;
                out.push(SourceFile {
                    path,
                    content: Ok(blob.content().to_vec()),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// How push mode runs.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// Per-WEC sync options.
    pub sync: SyncOptions,
    /// WECs synced at once.
    pub concurrency: usize,
    /// Attempts for a WEC that cannot be reached (with doubling delays from `retry_delay`).
    pub attempts: usize,
    /// The first delay between attempts.
    pub retry_delay: Duration,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            sync: SyncOptions::default(),
            concurrency: 16,
            attempts: 3,
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// One WEC's pending sync: its mailbox, and the objects that are the same as in the mailbox its
/// last clean sync applied (they need no new apply).
#[derive(Clone, Debug, Default)]
pub struct Pending {
    /// What the WEC should hold.
    pub mailbox: Mailbox,
    /// Identities whose object did not change since the last clean sync.
    pub unchanged: BTreeSet<crate::model::ObjectId>,
}

impl From<Mailbox> for Pending {
    fn from(mailbox: Mailbox) -> Pending {
        Pending {
            mailbox,
            unchanged: BTreeSet::new(),
        }
    }
}

/// Syncs every mailbox to its WEC, `concurrency` WECs at a time. A WEC that cannot be reached is
/// retried with backoff, then reported; the others go on.
pub async fn sync_fleet(
    access: &ClusterAccess,
    pending: Vec<Pending>,
    options: &FleetOptions,
) -> Vec<SyncReport> {
    let mut reports: Vec<SyncReport> = futures::stream::iter(pending)
        .map(|p| async move { sync_with_retries(access, &p, options).await })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    reports.sort_by(|a, b| a.wec.cmp(&b.wec));
    reports
}

async fn sync_with_retries(
    access: &ClusterAccess,
    pending: &Pending,
    options: &FleetOptions,
) -> SyncReport {
    let mailbox = &pending.mailbox;
    let cluster = match access.cluster(&mailbox.wec).await {
        Ok(c) => c,
        Err(e) => {
            return SyncReport {
                wec: mailbox.wec.clone(),
                mailbox_commit: mailbox.commit.clone(),
                error: Some(e.to_string()),
                busy: None,
                objects: Vec::new(),
            };
        }
    };
    let mut delay = options.retry_delay;
    let mut attempt = 1;
    loop {
        let report =
            super::engine::sync_incremental(&cluster, mailbox, &pending.unchanged, &options.sync)
                .await;
        if report.error.is_none() || attempt >= options.attempts.max(1) {
            return report;
        }
        tracing::warn!(wec = %mailbox.wec, attempt, error = ?report.error, "WEC unreachable; retrying");
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    }
}

/// The last recorded sync outcome of a WEC, if any.
pub fn last_report(repo: &Repository, wec: &str) -> Option<SyncReport> {
    let commit = repo
        .refname_to_id(&format!("{REPORTED_PREFIX}{wec}"))
        .ok()?;
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let blob = repo.find_blob(tree.get_name(SYNC_FILE)?.id()).ok()?;
    let text = std::str::from_utf8(blob.content()).ok()?;
    serde_saphyr::from_str(text).ok()
}

/// WECs with a recorded outcome, by name.
pub fn reported_wecs(repo: &Repository) -> Result<BTreeSet<String>, FleetError> {
    refs_under(repo, REPORTED_PREFIX)
}

/// Writes each report to `refs/heads/gitstellar/reported/<wec>` as `sync.yaml` (one commit per
/// WEC whose outcome changed, with the source revision's trailer), and deletes the reported refs
/// of `departed` WECs whose (empty) mailbox went through cleanly: nothing of ours is left there.
pub fn record(
    repo: &Repository,
    reports: &[SyncReport],
    departed: &BTreeSet<String>,
    source_revision: &str,
) -> Result<crate::repo::write::Finished, FleetError> {
    let mut writer = RefWriter::new(repo, source_revision)?;
    for report in reports {
        if departed.contains(&report.wec) && report.is_clean() {
            writer.delete(&format!("{REPORTED_PREFIX}{}", report.wec))?;
            continue;
        }
        let yaml = serde_saphyr::to_string(report).map_err(|e| FleetError::Render {
            wec: report.wec.clone(),
            message: e.to_string(),
        })?;
        let mut files = Files::new();
        files.insert(Arc::from(SYNC_FILE), Arc::from(yaml.into_bytes()));
        let wec = report.wec.clone();
        let counts = report.counts();
        let error = report.error.clone();
        writer.update(
            &format!("{REPORTED_PREFIX}{wec}"),
            &files,
            move |_| match &error {
                Some(e) => format!("{wec}: unreachable: {e}"),
                None => {
                    let parts: Vec<String> =
                        counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
                    format!(
                        "{wec}: synced ({})",
                        if parts.is_empty() {
                            "nothing to do".into()
                        } else {
                            parts.join(", ")
                        }
                    )
                }
            },
        )?;
    }
    Ok(writer.finish()?)
}

/// WECs whose mailbox ref exists, by name.
pub fn mailbox_wecs(repo: &Repository) -> Result<BTreeSet<String>, FleetError> {
    refs_under(repo, crate::mailbox::REF_PREFIX)
}

fn refs_under(repo: &Repository, prefix: &str) -> Result<BTreeSet<String>, FleetError> {
    let err = |e: git2::Error| FleetError::Mailbox {
        wec: "*".into(),
        message: e.to_string(),
    };
    let mut out = BTreeSet::new();
    for r in repo.references_glob(&format!("{prefix}*")).map_err(err)? {
        let r = r.map_err(err)?;
        if let Some(name) = r.name().ok().and_then(|n| n.strip_prefix(prefix)) {
            out.insert(name.to_string());
        }
    }
    Ok(out)
}

/// The mailboxes a push-mode pass syncs: every WEC with a mailbox, plus every WEC that was synced
/// before and has none now (it left the inventory: an empty mailbox removes what we put there).
/// With `changed_only`, a WEC whose last sync applied this very mailbox commit cleanly is skipped,
/// and in the others only what changed since the last clean sync is applied.
pub fn pending_mailboxes(
    repo: &Repository,
    changed_only: bool,
) -> Result<(Vec<Pending>, BTreeSet<String>), FleetError> {
    let current = mailbox_wecs(repo)?;
    let departed: BTreeSet<String> = reported_wecs(repo)?.difference(&current).cloned().collect();
    let mut out = Vec::new();
    for wec in current.iter().chain(&departed) {
        let mut pending = Pending::from(read_mailbox(repo, wec, None)?);
        if changed_only
            && let Some(last) = last_report(repo, wec)
            && last.is_clean()
        {
            if last.mailbox_commit == pending.mailbox.commit {
                continue;
            }
            let applied = last
                .mailbox_commit
                .as_deref()
                .and_then(|c| Oid::from_str(c).ok());
            if let Some(applied) = applied
                && let Ok(before) = read_mailbox(repo, wec, Some(applied))
            {
                let old: BTreeMap<&crate::model::ObjectId, &serde_json::Value> =
                    before.objects.iter().map(|d| (&d.id, &d.object)).collect();
                pending.unchanged = pending
                    .mailbox
                    .objects
                    .iter()
                    .filter(|d| old.get(&d.id).is_some_and(|o| **o == d.object))
                    .map(|d| d.id.clone())
                    .collect();
            }
        }
        out.push(pending);
    }
    Ok((out, departed))
}
