//! `gitstellar reconcile`: one pass over one revision of the source repo that writes KubeStellar's
//! mailboxes (`refs/heads/gitstellar/mailbox/<wec>`) and the status branch
//! (`refs/heads/gitstellar/status`) into the repository (design §3, §7).
//!
//! Input: `--repo` (a repository or a directory inside one), `--branch`, `--rev`. Output: the refs,
//! and on stdout one line per ref that moved and a summary as soon as the refs are written, then
//! with `--sync` one line per WEC as each finishes (or, with `-o json|yaml`, one document at the
//! end). Exit code 0 when the revision is clean, 1 when it has problems (the refs are still
//! written; `problems.yaml` lists them), 2 on usage or I/O failure.

use anyhow::Context as _;
use serde_json::{Value, json};

use super::{Exit, OutputFormat};
use crate::config::Config;
use crate::reconcile::{PassKind, Report};
use crate::repo::write::RefOutcome;
use crate::runtime::{Event, Reconciler, Runtime, SyncController, SyncPass};

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
    #[command(flatten)]
    cache: super::CacheArgs,
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

impl ReconcileArgs {
    /// The arguments as configuration.
    fn config(&self) -> Config {
        let mut config = Config::new(&self.repo);
        config.source.branch = self.branch.clone();
        config.source.revision = self.rev.clone();
        config.source.full = self.full;
        config.source.push = self.push;
        config.cache.root = self.cache.cache_dir.clone();
        self.sync.configure(&mut config);
        config
    }
}

pub(super) fn run(args: ReconcileArgs) -> anyhow::Result<Exit> {
    let config = args.config();
    config.validate()?;
    if config.source.is_remote() {
        // The cache root is settled before the kubeconfig is read.
        config.cache.root()?;
    }
    // The kubeconfig for `--sync` is read before anything is written (a missing one is exit 2
    // with every ref where it was).
    let controller = config
        .sync
        .enabled
        .then(|| SyncController::new(&config))
        .transpose()?;
    let runtime = Runtime::new()?;
    let reconciler = Reconciler::new(&config, controller.as_ref(), &runtime)?;
    let mut out = Output::new(args.output);
    let done = reconciler.run(&mut |event| out.event(event));
    out.sync.finish();
    // A WEC cut off at its deadline may leave a connection task behind: do not wait for it.
    runtime.shutdown();
    let done = done?;
    let pushed = done.pushed.as_ref().map(|p| (p.url.as_str(), p.refs));
    let exit = finish(out, &done.report, done.synced.as_ref(), pushed);
    done.leftovers.leave();
    exit
}

/// How the report of a pass reaches stdout: line by line as it happens (`table`), or as one
/// document at the end (`json`, `yaml`).
struct Output {
    format: OutputFormat,
    sync: super::SyncPrinter,
}

impl Output {
    fn new(format: OutputFormat) -> Output {
        Output {
            format,
            sync: super::SyncPrinter::new(format == OutputFormat::Table),
        }
    }

    fn event(&mut self, event: Event<'_>) -> std::io::Result<()> {
        match event {
            Event::Reconciled(report) => self.reconciled(report),
            Event::Sync(event) => self.sync.event(event),
        }
    }

    /// The refs are written: their lines and the summary, at once.
    fn reconciled(&mut self, report: &Report) -> std::io::Result<()> {
        if self.format == OutputFormat::Table {
            super::print(&render(report))?;
        }
        Ok(())
    }
}

/// Prints what is left (or the whole report) and turns the pass into an exit code.
fn finish(
    out: Output,
    report: &Report,
    synced: Option<&SyncPass>,
    pushed: Option<(&str, usize)>,
) -> anyhow::Result<Exit> {
    let mut trouble = report.problems > 0;
    if let Some(synced) = synced {
        trouble |= !synced.is_clean();
    }
    let text = match out.format {
        OutputFormat::Table => {
            let mut text = synced.map(super::sync_summary).unwrap_or_default();
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
    Ok(if trouble { Exit::Problems } else { Exit::Clean })
}

/// The pass as one JSON object: `revision`, `kind` (`full`, `incremental`, `alreadyDone`),
/// `incremental` (`{from, objects}`), `refs` (every ref the pass wrote or kept: `{ref, outcome,
/// commit?, subject?}`), `summary` (counts by outcome, and `problems`), `sync` (with `--sync`:
/// `{clean, wecs: [...]}`) and `pushed` (with `--push`: `{url, refs}`).
fn to_json(report: &Report, synced: Option<&SyncPass>, pushed: Option<(&str, usize)>) -> Value {
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
        out["sync"] = super::sync_json(synced);
    }
    if let Some((url, n)) = pushed {
        out["pushed"] = json!({"url": url, "refs": n});
    }
    out
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
