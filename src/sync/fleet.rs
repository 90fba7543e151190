//! Push mode: sync many WECs from the centre. Reads each WEC's mailbox from its ref, reaches the WEC
//! through a kubeconfig context (by default the one named after the WEC), syncs a bounded number
//! of WECs at once, each within a deadline and with retries for the unreachable ones, and records
//! each outcome in git on `refs/heads/gitstellar/reported/<wec>` (the ref a pull-mode agent writes
//! too) as soon as that WEC is done.
//!
//! Input: the mailbox refs, a kubeconfig, [`FleetOptions`]. Output: the WECs' state, a
//! [`WecOutcome`] per WEC as each finishes, and `sync.yaml` on each reported ref ([`SyncRecord`]:
//! the last completed sync, and the last failed attempt beside it).
//!
//! The operator's mistakes (no kubeconfig, a missing context, unreadable credentials) are found by
//! [`ClusterAccess::connect`] before any WEC is touched: they are [`FleetError`]s, never recorded
//! as the state of a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use git2::{ObjectType, Oid, Repository, Tree};

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use serde::{Deserialize, Serialize};

use super::cluster::{ClusterError, KubeCluster};
use super::engine::{Mailbox, ObjectReport, SyncOptions, SyncReport};
use crate::model::SourceFile;
use crate::repo::write::{Committer, Files, Intent, Paths, Producer, RefOutcome};

/// The prefix of the refs holding what was observed in each WEC.
pub const REPORTED_PREFIX: &str = "refs/heads/gitstellar/reported/";

/// The file of a reported ref that holds the last sync's outcome.
pub const SYNC_FILE: &str = "sync.yaml";

/// Why push-mode syncing could not start or record. The first six are the operator's mistakes
/// (usage errors, exit 2): nothing was synced or recorded when they are returned.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// No kubeconfig was given and there is none where kubectl looks.
    #[error("no kubeconfig: {looked} does not exist (give --kubeconfig PATH or set KUBECONFIG)")]
    NoKubeconfig {
        /// Where it was looked for.
        looked: String,
    },
    /// A kubeconfig file could not be read.
    #[error("kubeconfig {path}: cannot be read")]
    KubeconfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig file is not a valid kubeconfig (or several cannot be merged).
    #[error("kubeconfig {path}: not a usable kubeconfig")]
    KubeconfigParse {
        /// The file (or files, for `KUBECONFIG`).
        path: String,
        /// Why.
        #[source]
        source: KubeconfigError,
    },
    /// The kubeconfig has no context for a WEC.
    #[error(
        "kubeconfig {path} has no context {context:?} for WEC {wec} (its contexts: {known}; \
         --wec-context {wec}=CONTEXT names another)"
    )]
    NoContext {
        /// The kubeconfig.
        path: String,
        /// The WEC.
        wec: String,
        /// The context looked for.
        context: String,
        /// The contexts the kubeconfig has.
        known: String,
    },
    /// `--wec-context` names a WEC that is not in the inventory.
    #[error("--wec-context {wec}={context}: there is no WEC {wec} (the WECs are: {known})")]
    UnknownWec {
        /// The name given.
        wec: String,
        /// The context given for it.
        context: String,
        /// The WECs there are.
        known: String,
    },
    /// A context's cluster or credentials cannot be used (a certificate or token file that
    /// cannot be read, a server URL that does not parse, ...).
    #[error(
        "kubeconfig {path}, context {context:?} (WEC {wec}): its cluster or credentials cannot be used"
    )]
    Credentials {
        /// The kubeconfig.
        path: String,
        /// The WEC.
        wec: String,
        /// The context.
        context: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
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
    kubeconfig: Arc<Kubeconfig>,
    /// The file(s) it was read from, for messages.
    path: String,
    contexts: BTreeMap<String, String>,
}

/// One WEC, ready to be synced: a client, and where it points.
#[derive(Clone)]
pub struct Target {
    /// The client.
    pub cluster: Arc<KubeCluster>,
    /// The API server's URL (named in every message about reaching it).
    pub server: String,
}

impl ClusterAccess {
    /// Reads `path`, or `$KUBECONFIG` (every file it lists, merged), or `~/.kube/config`, as
    /// kubectl does. A kubeconfig that is missing, unreadable or malformed is an error naming the
    /// file: a mistake of the operator's is never taken for an unreachable cluster.
    pub fn from_kubeconfig(path: Option<&Path>) -> Result<ClusterAccess, FleetError> {
        let paths: Vec<PathBuf> = match path {
            Some(p) => vec![p.to_path_buf()],
            None => match std::env::var_os("KUBECONFIG") {
                Some(v) if std::env::split_paths(&v).any(|p| !p.as_os_str().is_empty()) => {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                }
                _ => {
                    let Some(home) = std::env::home_dir() else {
                        return Err(FleetError::NoKubeconfig {
                            looked: "~/.kube/config (HOME is not set)".into(),
                        });
                    };
                    let default = home.join(".kube").join("config");
                    if !default.exists() {
                        return Err(FleetError::NoKubeconfig {
                            looked: default.display().to_string(),
                        });
                    }
                    vec![default]
                }
            },
        };
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let mut merged: Option<Kubeconfig> = None;
        for p in &paths {
            let config = Kubeconfig::read_from(p).map_err(|e| match e {
                KubeconfigError::ReadConfig(source, _) => FleetError::KubeconfigRead {
                    path: p.clone(),
                    source,
                },
                other => FleetError::KubeconfigParse {
                    path: p.display().to_string(),
                    source: other,
                },
            })?;
            merged = Some(match merged {
                None => config,
                Some(m) => m
                    .merge(config)
                    .map_err(|source| FleetError::KubeconfigParse {
                        path: names.join(", "),
                        source,
                    })?,
            });
        }
        Ok(ClusterAccess {
            kubeconfig: Arc::new(merged.unwrap_or_default()),
            path: names.join(", "),
            contexts: BTreeMap::new(),
        })
    }

    /// Reaches `wec` through `context` instead of the context named after it.
    pub fn with_context(mut self, wec: &str, context: &str) -> ClusterAccess {
        self.contexts.insert(wec.to_string(), context.to_string());
        self
    }

    fn context_of<'a>(&'a self, wec: &'a str) -> &'a str {
        self.contexts.get(wec).map_or(wec, String::as_str)
    }

    /// Checks that every `--wec-context` names one of `wecs` and a context of the kubeconfig.
    pub fn check_overrides(&self, wecs: &BTreeSet<String>) -> Result<(), FleetError> {
        for (wec, context) in &self.contexts {
            if !wecs.contains(wec) {
                return Err(FleetError::UnknownWec {
                    wec: wec.clone(),
                    context: context.clone(),
                    known: name_list(wecs.iter()),
                });
            }
            self.find_context(wec)?;
        }
        Ok(())
    }

    fn find_context<'a>(&'a self, wec: &'a str) -> Result<&'a str, FleetError> {
        let context = self.context_of(wec);
        if self.kubeconfig.contexts.iter().any(|c| c.name == context) {
            Ok(context)
        } else {
            Err(FleetError::NoContext {
                path: self.path.clone(),
                wec: wec.to_string(),
                context: context.to_string(),
                known: name_list(self.kubeconfig.contexts.iter().map(|c| &c.name)),
            })
        }
    }

    /// A client for each of `wecs`, made before any of them is synced: a missing context or
    /// credentials that cannot be read (certificate, key or token files, a CA bundle) are errors
    /// here, for the operator to fix, not outcomes of the WEC. No connection is made.
    pub async fn connect(
        &self,
        wecs: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Target>, FleetError> {
        let mut out = BTreeMap::new();
        for wec in wecs {
            out.insert(wec.clone(), self.target(wec).await?);
        }
        Ok(out)
    }

    async fn target(&self, wec: &str) -> Result<Target, FleetError> {
        let context = self.find_context(wec)?.to_string();
        let credentials =
            |source: Box<dyn std::error::Error + Send + Sync>| FleetError::Credentials {
                path: self.path.clone(),
                wec: wec.to_string(),
                context: context.clone(),
                source,
            };
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig((*self.kubeconfig).clone(), &options)
            .await
            .map_err(|e| credentials(Box::new(e)))?;
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| credentials(Box::new(e)))?;
        Ok(Target {
            cluster: Arc::new(KubeCluster::new(client)),
            server: server.trim_end_matches('/').to_string(),
        })
    }

    /// A client for one WEC.
    pub async fn cluster(&self, wec: &str) -> Result<KubeCluster, ClusterError> {
        let context = self
            .find_context(wec)
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig((*self.kubeconfig).clone(), &options)
            .await
            .map_err(|source| ClusterError::Kubeconfig { source })?;
        KubeCluster::from_config(config, super::cluster::RequestPolicy::default())
    }
}

/// `a, b, c`, or `none`.
fn name_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
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
            Err(e) => return Err(err(crate::repo::git_message(&e))),
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
        .map_err(|e| err(crate::repo::git_message(&e)))?;
    let mut files = Vec::new();
    collect(repo, &tree, "", &mut files).map_err(|e| err(crate::repo::git_message(&e)))?;
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
    /// Attempts for a WEC that cannot be reached (with doubling delays from `retry_delay`), as
    /// many as fit in `deadline`.
    pub attempts: usize,
    /// The first delay between attempts.
    pub retry_delay: Duration,
    /// How long one WEC's sync (all its attempts) may take from its start; then it is cut off
    /// and reported as timed out.
    pub deadline: Duration,
}

/// The default of [`FleetOptions::deadline`] (`--sync-timeout`).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            sync: SyncOptions::default(),
            concurrency: 16,
            attempts: 3,
            retry_delay: Duration::from_millis(500),
            deadline: DEFAULT_DEADLINE,
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

/// How one WEC's sync went, with what is needed to report it.
#[derive(Clone, Debug, Default)]
pub struct WecOutcome {
    /// The engine's report; its `error` is set when the WEC could not be synced.
    pub report: SyncReport,
    /// The API server's URL, when known.
    pub server: Option<String>,
    /// Attempts made.
    pub attempts: usize,
    /// Whether the WEC was cut off at its deadline.
    pub timed_out: bool,
    /// How long it took.
    pub elapsed: Duration,
}

impl WecOutcome {
    /// The WEC.
    pub fn wec(&self) -> &str {
        &self.report.wec
    }

    /// Whether the WEC was reached and took every object.
    pub fn is_clean(&self) -> bool {
        self.report.is_clean()
    }
}

/// `1.5s`, `300ms`, `5m`: a duration as a person writes it.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Syncs every mailbox to its WEC, `concurrency` WECs at a time, and returns every outcome,
/// sorted by WEC. A WEC that cannot be reached is retried with backoff, then reported; a WEC
/// whose context cannot be used is reported with that error. (The CLI uses
/// [`ClusterAccess::connect`] and [`sync_each`] instead, which refuse such a fleet upfront
/// and stream the outcomes.)
pub async fn sync_fleet(
    access: &ClusterAccess,
    pending: Vec<Pending>,
    options: &FleetOptions,
) -> Vec<SyncReport> {
    let mut reports: Vec<SyncReport> = futures::stream::iter(pending)
        .map(|p| async move {
            match access.target(&p.mailbox.wec).await {
                Ok(target) => sync_with_retries(&target, &p, options).await.report,
                Err(e) => SyncReport {
                    wec: p.mailbox.wec.clone(),
                    mailbox_commit: p.mailbox.commit.clone(),
                    error: Some(e.to_string()),
                    busy: None,
                    objects: Vec::new(),
                },
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    reports.sort_by(|a, b| a.wec.cmp(&b.wec));
    reports
}

/// Syncs every pending mailbox, at most `concurrency` WECs at once, yielding each outcome as
/// soon as its WEC is done (not in order), so the caller records it then, whatever the other
/// WECs do; no WEC takes longer than `deadline` from its start. A WEC missing from `targets` is
/// reported as not configured.
pub fn sync_each<'a>(
    targets: &'a BTreeMap<String, Target>,
    pending: Vec<Pending>,
    options: &'a FleetOptions,
) -> impl futures::Stream<Item = WecOutcome> + 'a {
    futures::stream::iter(pending)
        .map(move |p| async move {
            match targets.get(&p.mailbox.wec) {
                Some(target) => sync_with_retries(target, &p, options).await,
                None => WecOutcome {
                    report: SyncReport {
                        wec: p.mailbox.wec.clone(),
                        mailbox_commit: p.mailbox.commit.clone(),
                        error: Some("no cluster is configured for this WEC".into()),
                        busy: None,
                        objects: Vec::new(),
                    },
                    ..Default::default()
                },
            }
        })
        .buffer_unordered(options.concurrency.max(1))
}

/// One WEC's sync: attempts with doubling delays while it is unreachable, all within the
/// deadline; a WEC that does not answer in time is cut off and reported as timed out.
pub async fn sync_with_retries(
    target: &Target,
    pending: &Pending,
    options: &FleetOptions,
) -> WecOutcome {
    let mailbox = &pending.mailbox;
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + options.deadline);
    let mut delay = options.retry_delay;
    let mut attempt = 0;
    let mut last_error: Option<String> = None;
    loop {
        attempt += 1;
        let run = super::engine::sync_incremental(
            &*target.cluster,
            mailbox,
            &pending.unchanged,
            &options.sync,
        );
        let Ok(report) = tokio::time::timeout_at(deadline, run).await else {
            let mut error = format!(
                "no answer within {} (--sync-timeout), {attempt} {}",
                human_duration(options.deadline),
                if attempt == 1 { "attempt" } else { "attempts" }
            );
            if let Some(last) = last_error {
                error.push_str(&format!("; before that: {last}"));
            }
            return WecOutcome {
                report: SyncReport {
                    wec: mailbox.wec.clone(),
                    mailbox_commit: mailbox.commit.clone(),
                    error: Some(error),
                    busy: None,
                    objects: Vec::new(),
                },
                server: Some(target.server.clone()),
                attempts: attempt,
                timed_out: true,
                elapsed: started.elapsed(),
            };
        };
        let out_of_time = tokio::time::Instant::now() + delay >= deadline;
        if report.error.is_none() || attempt >= options.attempts.max(1) || out_of_time {
            return WecOutcome {
                report,
                server: Some(target.server.clone()),
                attempts: attempt,
                timed_out: false,
                elapsed: started.elapsed(),
            };
        }
        let error = report.error.clone().unwrap_or_default();
        tracing::warn!(wec = %mailbox.wec, server = %target.server, attempt, %error, "WEC unreachable; retrying");
        last_error = Some(error);
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

/// What a reported ref's `sync.yaml` holds: the last sync that went through (today's fields,
/// flattened), and the last attempt that did not, if it came later. A failed attempt never
/// replaces the record of what was last applied; a completed sync replaces both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRecord {
    /// The last completed sync (`objects` empty when there was none).
    #[serde(flatten)]
    pub last: SyncReport,
    /// The latest failed attempt, when it came after `last`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<FailedAttempt>,
}

/// A sync attempt that did not go through (the WEC unreachable, or cut off at its deadline).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedAttempt {
    /// When it ended, RFC 3339 UTC.
    pub time: String,
    /// The mailbox commit it tried to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox_commit: Option<String>,
    /// The API server it tried to reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Why it failed.
    pub error: String,
    /// Attempts made.
    #[serde(default)]
    pub attempts: usize,
    /// Whether it was cut off at the deadline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// What happened to the objects it got to before it failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectReport>,
}

impl SyncRecord {
    /// Whether the last sync went through with every object and nothing failed since.
    pub fn is_clean(&self) -> bool {
        self.last_attempt.is_none() && self.last.is_clean()
    }

    /// The record after `outcome`, given the record before it.
    pub fn after(previous: Option<SyncRecord>, outcome: &WecOutcome) -> SyncRecord {
        let report = &outcome.report;
        let Some(error) = &report.error else {
            return SyncRecord {
                last: report.clone(),
                last_attempt: None,
            };
        };
        let last = previous
            .map(|p| p.last)
            .filter(|l| l.error.is_none())
            .unwrap_or_else(|| SyncReport {
                wec: report.wec.clone(),
                ..Default::default()
            });
        SyncRecord {
            last,
            last_attempt: Some(FailedAttempt {
                time: jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
                mailbox_commit: report.mailbox_commit.clone(),
                server: outcome.server.clone(),
                error: error.clone(),
                attempts: outcome.attempts,
                timed_out: outcome.timed_out,
                objects: report.objects.clone(),
            }),
        }
    }
}

/// The recorded `sync.yaml` of a WEC, if any (one that does not parse counts as none).
pub fn last_record(repo: &Repository, wec: &str) -> Option<SyncRecord> {
    let commit = repo
        .refname_to_id(&format!("{REPORTED_PREFIX}{wec}"))
        .ok()?;
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let blob = repo.find_blob(tree.get_name(SYNC_FILE)?.id()).ok()?;
    let text = std::str::from_utf8(blob.content()).ok()?;
    gitstellar_core::yaml::from_str(text).ok()
}

/// The last completed sync of a WEC, if any.
pub fn last_report(repo: &Repository, wec: &str) -> Option<SyncReport> {
    last_record(repo, wec).map(|r| r.last)
}

/// WECs with a recorded outcome, by name.
pub fn reported_wecs(repo: &Repository) -> Result<BTreeSet<String>, FleetError> {
    refs_under(repo, REPORTED_PREFIX)
}

/// The commit subject of a WEC's new record.
fn subject(outcome: &WecOutcome) -> String {
    let report = &outcome.report;
    let wec = &report.wec;
    let at = outcome
        .server
        .as_deref()
        .map(|s| format!(" at {s}"))
        .unwrap_or_default();
    match &report.error {
        Some(e) if outcome.timed_out => format!("{wec}: timed out{at}: {e}"),
        Some(e) => format!("{wec}: unreachable{at}: {e}"),
        None => {
            let parts: Vec<String> = report
                .counts()
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            format!(
                "{wec}: synced ({})",
                if parts.is_empty() {
                    "nothing to do".into()
                } else {
                    parts.join(", ")
                }
            )
        }
    }
}

/// Writes each outcome to `refs/heads/gitstellar/reported/<wec>` as `sync.yaml` (one commit per
/// WEC whose record changed, with the source revision's trailer): a failed attempt is added
/// beside the last completed sync, never in its place. Deletes the reported refs of `departed`
/// WECs whose (empty) mailbox went through cleanly: nothing of ours is left there. All the refs
/// move in one go, so call it with what is done, as soon as it is done. The refs are written as
/// the sync recording of `reconcile --sync` ([`Producer::SyncRecord`]).
pub fn record(
    repo: &Repository,
    outcomes: &[WecOutcome],
    departed: &BTreeSet<String>,
    source_revision: &str,
) -> Result<crate::repo::write::Finished, FleetError> {
    record_as(
        repo,
        Producer::SyncRecord,
        outcomes,
        departed,
        source_revision,
    )
}

/// [`record`] by `producer` (an agent records as [`Producer::Agent`]: its own WEC's ref only),
/// through the committer, which refuses a ref the producer does not own.
pub fn record_as(
    repo: &Repository,
    producer: Producer,
    outcomes: &[WecOutcome],
    departed: &BTreeSet<String>,
    source_revision: &str,
) -> Result<crate::repo::write::Finished, FleetError> {
    let mut writer = Committer::new(repo, producer, source_revision)?;
    for outcome in outcomes {
        let wec = outcome.wec();
        let name = format!("{REPORTED_PREFIX}{wec}");
        // Another process holds the WEC's sync lock: it records what it did; this one did nothing.
        if outcome.report.busy.is_some() && outcome.report.error.is_none() {
            continue;
        }
        if departed.contains(wec) && outcome.is_clean() {
            writer.delete(&name)?;
            continue;
        }
        let record = SyncRecord::after(last_record(repo, wec), outcome);
        let yaml = gitstellar_core::yaml::to_string(&record).map_err(|e| FleetError::Render {
            wec: wec.to_string(),
            message: e.to_string(),
        })?;
        let mut files = Files::new();
        files.insert(Arc::from(SYNC_FILE), Arc::from(yaml.into_bytes()));
        let line = subject(outcome);
        writer.commit(Intent::files(&name, Paths::All, &files, move |_| {
            line.clone()
        }))?;
    }
    Ok(writer.finish()?)
}

/// What happened to each WEC's reported ref, by WEC, from what [`record`] returned.
pub fn recorded_by_wec(outcomes: &[(String, RefOutcome)]) -> BTreeMap<String, RefOutcome> {
    outcomes
        .iter()
        .filter_map(|(name, outcome)| {
            name.strip_prefix(REPORTED_PREFIX)
                .map(|wec| (wec.to_string(), outcome.clone()))
        })
        .collect()
}

/// WECs whose mailbox ref exists, by name.
pub fn mailbox_wecs(repo: &Repository) -> Result<BTreeSet<String>, FleetError> {
    refs_under(repo, crate::mailbox::REF_PREFIX)
}

fn refs_under(repo: &Repository, prefix: &str) -> Result<BTreeSet<String>, FleetError> {
    let err = |e: git2::Error| FleetError::Mailbox {
        wec: "*".into(),
        message: crate::repo::git_message(&e),
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
        // A WEC whose last attempt failed is synced whatever its mailbox did.
        if changed_only
            && let Some(record) = last_record(repo, wec)
            && record.is_clean()
        {
            let last = record.last;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{ObjectOutcome, ObjectReport};

    fn applied(wec: &str, commit: &str) -> SyncReport {
        SyncReport {
            wec: wec.into(),
            mailbox_commit: Some(commit.into()),
            error: None,
            busy: None,
            objects: vec![ObjectReport {
                object: "apps/Deployment/ns/web".into(),
                outcome: ObjectOutcome::Updated,
                message: None,
            }],
        }
    }

    fn failed(wec: &str, commit: &str, timed_out: bool) -> WecOutcome {
        WecOutcome {
            report: SyncReport {
                wec: wec.into(),
                mailbox_commit: Some(commit.into()),
                error: Some("cannot reach the cluster: connection refused".into()),
                busy: None,
                objects: Vec::new(),
            },
            server: Some("https://10.0.0.7:6443".into()),
            attempts: 3,
            timed_out,
            elapsed: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_failed_attempt_is_kept_beside_the_last_good_sync() {
        let good = SyncRecord::after(
            None,
            &WecOutcome {
                report: applied("florin", "aaa"),
                ..Default::default()
            },
        );
        assert!(good.is_clean());
        let after = SyncRecord::after(Some(good.clone()), &failed("florin", "bbb", true));
        assert_eq!(after.last, good.last, "what was applied stays recorded");
        let attempt = after.last_attempt.clone().unwrap();
        assert_eq!(attempt.mailbox_commit.as_deref(), Some("bbb"));
        assert_eq!(attempt.server.as_deref(), Some("https://10.0.0.7:6443"));
        assert!(attempt.timed_out);
        assert_eq!(attempt.attempts, 3);
        assert!(!after.is_clean());
        // Another failure keeps the same last good sync; a clean sync replaces both.
        let again = SyncRecord::after(Some(after), &failed("florin", "bbb", false));
        assert_eq!(again.last, good.last);
        let clean = SyncRecord::after(
            Some(again),
            &WecOutcome {
                report: applied("florin", "bbb"),
                ..Default::default()
            },
        );
        assert_eq!(clean.last, applied("florin", "bbb"));
        assert_eq!(clean.last_attempt, None);
    }

    #[test]
    fn a_wec_never_synced_has_only_its_attempt() {
        let record = SyncRecord::after(None, &failed("guilder", "ccc", false));
        assert_eq!(record.last.wec, "guilder");
        assert!(record.last.objects.is_empty());
        assert_eq!(record.last.mailbox_commit, None);
        assert!(record.last_attempt.is_some());
    }

    #[test]
    fn the_record_reads_back_and_keeps_todays_fields() {
        let good = SyncRecord::after(
            None,
            &WecOutcome {
                report: applied("florin", "aaa"),
                ..Default::default()
            },
        );
        let record = SyncRecord::after(Some(good), &failed("florin", "bbb", true));
        let yaml = gitstellar_core::yaml::to_string(&record).unwrap();
        let back: SyncRecord = gitstellar_core::yaml::from_str(&yaml).unwrap();
        assert_eq!(back, record, "{yaml}");
        // Readers of the old format still find the last sync where it was.
        let old: SyncReport = gitstellar_core::yaml::from_str(&yaml).unwrap();
        assert_eq!(old, applied("florin", "aaa"), "{yaml}");
        assert!(yaml.contains("lastAttempt:"), "{yaml}");
        assert!(yaml.contains("timedOut: true"), "{yaml}");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(human_duration(Duration::from_secs(8)), "8s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5m");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
    }
}
