//! `gitstellar reconcile`: one pass over one revision of the source repo that writes KubeStellar's
//! mailboxes (`refs/heads/gitstellar/mailbox/<wec>`) and the status branch
//! (`refs/heads/gitstellar/status`) into the repository (design §3, §7).
//!
//! Input: `--repo` (a repository or a directory inside one), `--branch`, `--rev`. Output: the refs,
//! and on stdout one line per ref that moved and a summary. Exit code 0 when the revision is clean,
//! 1 when it has problems (the refs are still written; `problems.yaml` lists them), 2 on usage or
//! I/O failure.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context as _, bail};

use super::Outcome;
use crate::mailbox;
use crate::model::Problem;
use crate::placement;
use crate::plan;
use crate::repo::SourceRepo;
use crate::repo::remote::{self, RefPush, RemoteCache};
use crate::repo::write::{self, RefOutcome, RefWriter};
use crate::status;

/// Arguments of `gitstellar reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// A git repository, or a directory inside one (which is then the root of the layout). The
    /// gitstellar refs are written into that repository.
    #[arg(long, default_value = ".")]
    repo: String,
    /// The source branch; default: the branch HEAD points to.
    #[arg(long)]
    branch: Option<String>,
    /// The revision to reconcile; default: the tip of `--branch`.
    #[arg(long)]
    rev: Option<String>,
    /// Push the gitstellar refs to the remote `--repo` (only with a URL).
    #[arg(long)]
    push: bool,
    /// Where bare caches of remote repositories are kept (only with a URL).
    #[arg(long, env = "GITSTELLAR_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    sync: super::SyncArgs,
}

/// What one pass did.
struct Report {
    revision: String,
    outcomes: Vec<(String, RefOutcome)>,
    problems: usize,
}

pub(super) fn run(args: ReconcileArgs) -> anyhow::Result<Outcome> {
    if is_url(&args.repo) {
        return run_remote(&args);
    }
    if args.push {
        bail!("--push needs a remote --repo URL (a local --repo is written in place)");
    }
    let source = SourceRepo::open(std::path::Path::new(&args.repo))?;
    let (report, leftovers) = reconcile(&source, args.branch.as_deref(), args.rev.as_deref())?;
    leftovers.leave();
    let synced = args
        .sync
        .sync
        .then(|| super::sync_pass(source.repository(), &report.revision, &args.sync))
        .transpose()?;
    finish(&report, synced.as_ref(), "")
}

fn finish(
    report: &Report,
    synced: Option<&super::SyncPass>,
    extra: &str,
) -> anyhow::Result<Outcome> {
    let mut text = render(report);
    let mut trouble = report.problems > 0;
    if let Some(synced) = synced {
        text.push_str(&synced.render());
        trouble |= !synced.is_clean();
    }
    text.push_str(extra);
    super::print(&text).context("writing the report to stdout")?;
    Ok(if trouble {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

/// How many times a push rejected because the remote moved is retried (fetch, recompute, push).
const PUSH_ATTEMPTS: usize = 10;

/// `--repo URL`: fetch into the bare cache, reconcile there, push what moved (with retries).
fn run_remote(args: &ReconcileArgs) -> anyhow::Result<Outcome> {
    let root = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => remote::default_cache_root()
            .context("no cache directory (HOME is not set): give --cache-dir")?,
    };
    let cache = RemoteCache::open(&args.repo, &root)?;
    let url = cache.redacted_url();
    for attempt in 1..=PUSH_ATTEMPTS {
        let head = cache.fetch()?;
        let source = SourceRepo::open(cache.path())?;
        let branch = args.branch.clone().or_else(|| {
            head.as_deref()
                .and_then(|h| h.strip_prefix("refs/heads/"))
                .map(str::to_string)
        });
        let (report, leftovers) = reconcile(&source, branch.as_deref(), args.rev.as_deref())?;
        let synced = args
            .sync
            .sync
            .then(|| super::sync_pass(source.repository(), &report.revision, &args.sync))
            .transpose()?;
        if !args.push {
            leftovers.leave();
            return finish(&report, synced.as_ref(), "");
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
        let rejected = cache.push(&pushes)?;
        if rejected.is_empty() {
            leftovers.leave();
            return finish(
                &report,
                synced.as_ref(),
                &format!("pushed {} refs to {url}\n", pushes.len()),
            );
        }
        tracing::warn!(
            attempt,
            rejected = rejected.len(),
            "the remote moved since the fetch; fetching and recomputing"
        );
    }
    bail!("pushing to {url}: the remote kept moving; gave up after {PUSH_ATTEMPTS} attempts")
}

/// Whether `--repo` names a remote rather than a local path.
fn is_url(repo: &str) -> bool {
    repo.contains("://") || scp_like(repo)
}

/// `user@host:path`, as git reads it (no slash before the colon).
fn scp_like(repo: &str) -> bool {
    match repo.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/') && host.contains('@'),
        None => false,
    }
}

/// The commit to reconcile: `rev`, or the tip of `branch`, or of the branch HEAD points to.
fn source_commit(
    source: &SourceRepo,
    branch: Option<&str>,
    rev: Option<&str>,
) -> anyhow::Result<git2::Oid> {
    if let Some(rev) = rev {
        return Ok(source.resolve(rev)?);
    }
    match branch {
        Some(b) => Ok(source.resolve(&format!("refs/heads/{b}"))?),
        None => Ok(source.resolve("HEAD")?),
    }
}

/// One pass: read, plan, render mailboxes and status, write the refs.
fn reconcile(
    source: &SourceRepo,
    branch: Option<&str>,
    rev: Option<&str>,
) -> anyhow::Result<(Report, Leftovers)> {
    let started = std::time::Instant::now();
    let commit = source_commit(source, branch, rev)?;
    let repo = source.repository();
    let revision = commit.to_string();
    let key = pass_key(source, &revision);
    let prefixes = [mailbox::REF_PREFIX, status::REF];
    // The same revision, reconciled by this same program, with every ref where that pass left
    // it: nothing can differ.
    if let Some(problems) = write::recorded_pass(repo, &key, &prefixes)? {
        tracing::info!("revision {revision} is already reconciled and no ref moved since");
        let outcomes = write::managed_refs(repo, &prefixes)?
            .into_keys()
            .map(|name| (name, RefOutcome::Unchanged))
            .collect();
        return Ok((
            Report {
                revision,
                outcomes,
                problems,
            },
            Leftovers(Vec::new()),
        ));
    }
    let snapshot = source.snapshot(commit)?;
    tracing::info!(elapsed = ?started.elapsed(), "read the revision");
    let resolution = placement::resolve(&snapshot);
    let plan = plan::compute_resolved(&snapshot, &resolution);
    tracing::info!(elapsed = ?started.elapsed(), "computed the plan");
    let mailboxes = mailbox::build(&plan)?;
    tracing::info!(elapsed = ?started.elapsed(), "rendered the mailboxes");
    let mut problems: Vec<Problem> = plan.problems.clone();
    problems.extend(mailboxes.problems.iter().cloned());
    let status_tree = status::build(&snapshot, &resolution, &problems)?;
    problems.extend(status_tree.problems.iter().cloned());
    problems.sort();
    problems.dedup();

    let mut writer = RefWriter::new(repo, &revision)?;
    for (wec, files) in &mailboxes.wecs {
        let name = wec.clone();
        writer.update(&mailbox::ref_name(wec), files, move |changes| {
            mailbox::commit_subject(&name, changes)
        })?;
    }
    let wanted: BTreeSet<String> = mailboxes
        .wecs
        .keys()
        .map(|w| mailbox::ref_name(w))
        .collect();
    for name in writer.refs_under(mailbox::REF_PREFIX)? {
        if !wanted.contains(&name) {
            writer.delete(&name)?;
        }
    }
    writer.update(status::REF, &status_tree.files, status::commit_subject)?;
    tracing::info!(elapsed = ?started.elapsed(), "built the trees");
    let finished = writer.finish()?;
    let outcomes = finished.outcomes;
    if let Some(wanted) = &finished.wanted {
        match write::record_pass(repo, &key, &prefixes, wanted, problems.len()) {
            Ok(_) => {}
            Err(e) => tracing::warn!("could not record the pass (the next one recomputes): {e}"),
        }
    }
    tracing::info!(elapsed = ?started.elapsed(), "moved the refs");
    let leftovers = Leftovers(vec![
        Box::new(snapshot),
        Box::new(resolution),
        Box::new(plan),
        Box::new(mailboxes),
        Box::new(status_tree),
    ]);
    Ok((
        Report {
            revision,
            outcomes,
            problems: problems.len(),
        },
        leftovers,
    ))
}

/// What identifies a pass: the program (version and executable), the source revision, the layout
/// root.
fn pass_key(source: &SourceRepo, revision: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{modified}", m.len())
        })
        .unwrap_or_default();
    let text = format!(
        "{}\n{exe}\n{revision}\n{}\n",
        env!("CARGO_PKG_VERSION"),
        source.root()
    );
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The large values of a pass (a million small allocations at scale), kept so that a one-shot
/// command can exit without freeing them one by one: the OS reclaims them at once.
struct Leftovers(#[allow(dead_code)] Vec<Box<dyn std::any::Any>>);

impl Leftovers {
    /// Leaves the memory to the OS; only for a process about to exit.
    fn leave(self) {
        std::mem::forget(self);
    }
}

fn render(report: &Report) -> String {
    let mut out = String::new();
    let (mut updated, mut deleted, mut unchanged, mut superseded) = (0, 0, 0, 0);
    for (name, outcome) in &report.outcomes {
        let short = name.strip_prefix("refs/heads/").unwrap_or(name);
        match outcome {
            RefOutcome::Updated { commit, subject } => {
                updated += 1;
                let id = commit.to_string();
                out.push_str(&format!(
                    "updated {short} {}: {subject}\n",
                    id.get(..12).unwrap_or(&id)
                ));
            }
            RefOutcome::Deleted => {
                deleted += 1;
                out.push_str(&format!("deleted {short}\n"));
            }
            RefOutcome::Superseded => {
                superseded += 1;
                out.push_str(&format!(
                    "skipped {short}: a newer source revision was written there meanwhile\n"
                ));
            }
            RefOutcome::Unchanged => unchanged += 1,
        }
    }
    out.push_str(&format!(
        "reconciled {}: {updated} updated, {deleted} deleted, {unchanged} unchanged{}, {} problems\n",
        report.revision,
        if superseded > 0 {
            format!(", {superseded} superseded")
        } else {
            String::new()
        },
        report.problems
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_and_redacted() {
        assert!(is_url("https://example.com/r.git"));
        assert!(is_url("git@example.com:r.git"));
        assert!(!is_url("./some/dir"));
        assert!(!is_url("/tmp/a:b"));
        assert_eq!(
            remote::redact_url("https://user:secret@example.com/r.git"),
            "https://example.com/r.git"
        );
    }
}
