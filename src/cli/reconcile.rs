//! `gitstellar reconcile`: one pass over one revision of the source repo that writes KubeStellar's
//! mailboxes (`refs/heads/gitstellar/mailbox/<wec>`) and the status branch
//! (`refs/heads/gitstellar/status`) into the repository (design §3, §7).
//!
//! Input: `--repo` (a repository or a directory inside one), `--branch`, `--rev`. Output: the refs,
//! and on stdout one line per ref that moved and a summary as soon as the refs are written, then
//! with `--sync` one line per WEC as each finishes (or, with `-o json|yaml`, one document at the
//! end). Exit code 0 when the revision is clean, 1 when it has problems (the refs are still
//! written; `problems.yaml` lists them), 2 on usage or I/O failure.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{Outcome, OutputFormat};
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
    /// The tracked source branch; default: the repository's default branch (`origin/HEAD`, else
    /// `main`, else `master`; for a URL, the remote's default branch), never the checked-out one.
    #[arg(long)]
    branch: Option<String>,
    /// The revision to reconcile, a commit on the tracked branch's history; default: its tip.
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
    /// `table` prints as the pass goes; `json` and `yaml` print one report of the pass at the end.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: OutputFormat,
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
    let access = sync_access(&args)?;
    let mut source = SourceRepo::open(std::path::Path::new(&args.repo))?;
    let (report, leftovers) = pass(&mut source, &args, args.branch.as_deref())?;
    leftovers.leave();
    let mut out = Output::new(args.output);
    let synced = sync(&source, &report, &args, access.as_ref(), &mut out)?;
    finish(out, &report, synced.as_ref(), None)
}

/// The kubeconfig for `--sync`, read before anything is written (a missing one is exit 2 with
/// every ref where it was).
fn sync_access(args: &ReconcileArgs) -> anyhow::Result<Option<crate::sync::fleet::ClusterAccess>> {
    args.sync
        .sync
        .then(|| super::cluster_access(&args.sync))
        .transpose()
}

/// Prints the pass's summary, then syncs (with `--sync`), printing each WEC as it finishes.
fn sync(
    source: &SourceRepo,
    report: &Report,
    args: &ReconcileArgs,
    access: Option<&crate::sync::fleet::ClusterAccess>,
    out: &mut Output,
) -> anyhow::Result<Option<super::SyncPass>> {
    out.reconciled(report)?;
    let Some(access) = access else {
        return Ok(None);
    };
    let pass = super::sync_pass(
        source.repository(),
        &report.revision,
        &args.sync,
        access,
        &mut |o, _| out.wec(o),
    )?;
    Ok(Some(pass))
}

/// How the report of a pass reaches stdout: line by line as it happens (`table`), or as one
/// document at the end (`json`, `yaml`).
struct Output {
    format: OutputFormat,
}

impl Output {
    fn new(format: OutputFormat) -> Output {
        Output { format }
    }

    /// The refs are written: their lines and the summary, at once.
    fn reconciled(&mut self, report: &Report) -> anyhow::Result<()> {
        if self.format == OutputFormat::Table {
            super::print(&render(report)).context("writing the report to stdout")?;
        }
        Ok(())
    }

    /// One WEC is done.
    fn wec(&mut self, outcome: &crate::sync::fleet::WecOutcome) -> anyhow::Result<()> {
        if self.format == OutputFormat::Table {
            super::print(&super::wec_lines(outcome)).context("writing the report to stdout")?;
        }
        Ok(())
    }
}

/// Prints what is left (or the whole report) and turns the pass into an exit code.
fn finish(
    out: Output,
    report: &Report,
    synced: Option<&super::SyncPass>,
    pushed: Option<(&str, usize)>,
) -> anyhow::Result<Outcome> {
    let mut trouble = report.problems > 0;
    if let Some(synced) = synced {
        trouble |= !synced.is_clean();
    }
    let text = match out.format {
        OutputFormat::Table => {
            let mut text = synced.map(super::SyncPass::summary).unwrap_or_default();
            if let Some((url, n)) = pushed {
                text.push_str(&format!("pushed {n} refs to {url}\n"));
            }
            text
        }
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&to_json(report, synced, pushed))?;
            text.push('\n');
            text
        }
        OutputFormat::Yaml => gitstellar_core::yaml::to_string(&to_json(report, synced, pushed))?,
    };
    super::print(&text).context("writing the report to stdout")?;
    Ok(if trouble {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

/// The pass as one JSON object: `revision`, `kind` (`full`, `incremental`, `alreadyDone`),
/// `incremental` (`{from, objects}`), `refs` (every ref the pass wrote or kept: `{ref, outcome,
/// commit?, subject?}`), `summary` (counts by outcome, and `problems`), `sync` (with `--sync`:
/// `{clean, wecs: [...]}`) and `pushed` (with `--push`: `{url, refs}`).
fn to_json(
    report: &Report,
    synced: Option<&super::SyncPass>,
    pushed: Option<(&str, usize)>,
) -> Value {
    let mut summary = serde_json::Map::new();
    for key in ["updated", "deleted", "unchanged", "superseded"] {
        summary.insert(key.into(), json!(0));
    }
    let refs: Vec<Value> = report
        .outcomes
        .iter()
        .map(|(name, outcome)| {
            let mut entry = serde_json::Map::new();
            entry.insert("ref".into(), json!(name));
            if let Value::Object(rest) = super::ref_outcome_json(outcome) {
                entry.extend(rest);
            }
            if let Some(kind) = entry.get("outcome").and_then(Value::as_str)
                && let Some(n) = summary.get_mut(kind)
            {
                *n = json!(n.as_u64().unwrap_or(0) + 1);
            }
            Value::Object(entry)
        })
        .collect();
    summary.insert("problems".into(), json!(report.problems));
    summary.insert("held".into(), json!(report.held));
    let (kind, incremental) = match &report.kind {
        PassKind::AlreadyDone => ("alreadyDone", Value::Null),
        PassKind::Full => ("full", Value::Null),
        PassKind::Incremental { from, objects } => {
            ("incremental", json!({"from": from, "objects": objects}))
        }
        PassKind::Stale { newer } => ("stale", json!({"newer": newer})),
    };
    let mut out = json!({
        "revision": report.revision,
        "kind": kind,
        "refs": refs,
        "summary": summary,
        "holding": report.holding,
    });
    if !incremental.is_null() {
        let key = if kind == "stale" {
            "stale"
        } else {
            "incremental"
        };
        out[key] = incremental;
    }
    if let Some(synced) = synced {
        out["sync"] = synced.to_json();
    }
    if let Some((url, n)) = pushed {
        out["pushed"] = json!({"url": url, "refs": n});
    }
    out
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
    let access = sync_access(args)?;
    let cache = RemoteCache::open(&args.repo, &root)?;
    let url = cache.redacted_url();
    for attempt in 1..=PUSH_ATTEMPTS {
        let head = cache.fetch()?;
        let mut source = SourceRepo::open(cache.path())?;
        let branch = args.branch.clone().or_else(|| {
            head.as_deref()
                .and_then(|h| h.strip_prefix("refs/heads/"))
                .map(str::to_string)
        });
        let (report, leftovers) = pass(&mut source, args, branch.as_deref())?;
        let mut out = Output::new(args.output);
        let synced = sync(&source, &report, args, access.as_ref(), &mut out)?;
        if !args.push {
            leftovers.leave();
            return finish(out, &report, synced.as_ref(), None);
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
            leftovers.leave();
            return finish(out, &report, synced.as_ref(), Some((&url, pushes.len())));
        }
        tracing::warn!(
            attempt,
            rejected = rejected.len(),
            "the remote moved since the fetch; fetching and recomputing"
        );
    }
    bail!("pushing to {url}: the remote kept moving; gave up after {PUSH_ATTEMPTS} attempts")
}

/// Pushes the status branch first and alone, even when this pass left it unchanged: a remote
/// whose status branch moved since the fetch (a newer pass) rejects it as not a fast-forward
/// before any mailbox moves, so a racing older pass cannot re-create a mailbox the newer one
/// deleted. Then the rest. Returns the refs rejected.
fn push_status_first(
    cache: &RemoteCache,
    source: &SourceRepo,
    pushes: &[RefPush],
) -> anyhow::Result<Vec<String>> {
    if pushes.is_empty() {
        return Ok(Vec::new());
    }
    let status = crate::status::REF;
    let lease: Vec<RefPush> = match pushes.iter().find(|(n, _)| n == status) {
        Some(p) => vec![p.clone()],
        None => match source.repository().refname_to_id(status) {
            Ok(tip) => vec![(status.to_string(), Some(tip))],
            Err(_) => Vec::new(),
        },
    };
    let rejected = cache.push(&lease)?;
    if !rejected.is_empty() {
        return Ok(rejected);
    }
    let rest: Vec<RefPush> = pushes
        .iter()
        .filter(|(n, _)| n != status)
        .cloned()
        .collect();
    Ok(cache.push(&rest)?)
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

/// One pass over the commit that `--rev` names (on the tracked branch's history) or the tracked
/// branch's tip.
fn pass(
    source: &mut SourceRepo,
    args: &ReconcileArgs,
    branch: Option<&str>,
) -> anyhow::Result<(Report, Leftovers)> {
    let commit = source_commit(source, branch, args.rev.as_deref())?;
    let options = Options { full: args.full };
    Ok(reconcile::reconcile(source, commit, &options)?)
}

/// The commit to reconcile: `rev` (which must be on the tracked branch's history), or the tip of
/// the tracked branch (`branch`, else the default branch; never what HEAD points to).
fn source_commit(
    source: &mut SourceRepo,
    branch: Option<&str>,
    rev: Option<&str>,
) -> anyhow::Result<git2::Oid> {
    let (name, tip) = source.track(branch)?;
    tracing::info!(branch = %name, tip = %tip, "tracking");
    Ok(source.pass_commit(rev)?)
}

fn render(report: &Report) -> String {
    if let PassKind::Stale { newer } = &report.kind {
        return format!(
            "stale: {} is older than {newer}, which the gitstellar refs were computed from and which is still on the tracked branch; nothing moved\n",
            report.revision
        );
    }
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
