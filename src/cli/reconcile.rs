//! `gitstellar reconcile`: one pass over one revision of the source repo that writes KubeStellar's
//! mailboxes (`refs/heads/gitstellar/mailbox/<wec>`) and the status branch
//! (`refs/heads/gitstellar/status`) into the repository (design §3, §7).
//!
//! Input: `--repo` (a repository or a directory inside one), `--branch`, `--rev`. Output: the refs,
//! and on stdout one line per ref that moved and a summary. Exit code 0 when the revision is clean,
//! 1 when it has problems (the refs are still written; `problems.yaml` lists them), 2 on usage or
//! I/O failure.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use super::Outcome;
use crate::reconcile::{self, Leftovers, Options, PassKind, Report};
use crate::repo::SourceRepo;
use crate::repo::remote::{self, RefPush, RemoteCache};
use crate::repo::write::RefOutcome;

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
    /// Recompute every WEC's mailbox, even when the last pass could be reused (a commit that
    /// changes only workload objects otherwise recomputes just those objects).
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    sync: super::SyncArgs,
}

pub(super) fn run(args: ReconcileArgs) -> anyhow::Result<Outcome> {
    if is_url(&args.repo) {
        return run_remote(&args);
    }
    if args.push {
        bail!("--push needs a remote --repo URL (a local --repo is written in place)");
    }
    let source = SourceRepo::open(std::path::Path::new(&args.repo))?;
    let (report, leftovers) = pass(&source, &args, args.branch.as_deref())?;
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
        let (report, leftovers) = pass(&source, args, branch.as_deref())?;
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

/// One pass over the commit that `--rev` or the branch names.
fn pass(
    source: &SourceRepo,
    args: &ReconcileArgs,
    branch: Option<&str>,
) -> anyhow::Result<(Report, Leftovers)> {
    let commit = source_commit(source, branch, args.rev.as_deref())?;
    let options = Options { full: args.full };
    Ok(reconcile::reconcile(source, commit, &options)?)
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
    if let PassKind::Incremental { from, objects } = &report.kind {
        out.push_str(&format!(
            "incremental: {objects} {} recomputed since {}\n",
            if *objects == 1 { "object" } else { "objects" },
            from.get(..12).unwrap_or(from)
        ));
    }
    for line in &report.holding {
        out.push_str(&format!("held: {line}\n"));
    }
    out.push_str(&format!(
        "reconciled {}: {updated} updated, {deleted} deleted, {unchanged} unchanged{}, {} problems, {} held\n",
        report.revision,
        if superseded > 0 {
            format!(", {superseded} superseded")
        } else {
            String::new()
        },
        report.problems,
        report.held
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
