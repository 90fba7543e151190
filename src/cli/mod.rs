//! The command line (design §7): clap parses, each subcommand turns its arguments into library
//! calls, and the outcome becomes an exit code (0 clean, 1 the repo has problems, 2 usage or I/O).
//!
//! Also here: the push-mode sync shared by the commands that sync ([`SyncArgs`], `sync_pass`),
//! which records and prints each WEC's outcome as that WEC finishes, and the logging setup
//! (`--log`, `--log-format`; colour only on a terminal).

mod agent;
mod plan;
mod reconcile;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use serde_json::{Value, json};

use crate::repo::write::RefOutcome;
use crate::sync::fleet::{self, WecOutcome};

use clap::{Parser, Subcommand, ValueEnum};

/// gitstellar: KubeStellar's multi-cluster configuration management over plain git.
#[derive(Debug, Parser)]
#[command(name = "gitstellar", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log level filter for stderr (`info`, `debug`, `gitstellar=trace`, ...); RUST_LOG also works.
    #[arg(long, global = true, env = "GITSTELLAR_LOG", default_value = "warn")]
    pub log: String,
    /// How log lines are written to stderr: `text` (coloured only on a terminal) or `json` (one
    /// JSON object per line).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// The format of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate one revision: where every EdgePlacement goes, what every WEC gets. Writes nothing.
    Plan(plan::PlanArgs),
    /// One pass: write every WEC's mailbox and the status branch into the repository.
    Reconcile(reconcile::ReconcileArgs),
    /// Pull mode: sync one WEC from its mailbox ref, and push what was done back to git.
    Agent(agent::AgentArgs),
    /// Serve simulated workload execution clusters (a Kubernetes API per cluster) for tests and demos.
    Wecsim(crate::wecsim::WecsimArgs),
}

/// Output formats shared by every command that prints a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: WEC by WEC, with counts and problems.
    Table,
    /// One JSON object (the contract scripts depend on).
    Json,
    /// The same as JSON, as YAML.
    Yaml,
}

/// Where the source repo is and which revision to read (shared by read commands).
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// A git repository, or a directory inside one (which is then the root of the layout).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The revision to read (commit, branch, tag, `HEAD~1`, ...).
    #[arg(long, default_value = "HEAD", conflicts_with = "worktree")]
    pub rev: String,
    /// Read the working tree (uncommitted edits) instead of a commit.
    #[arg(long)]
    pub worktree: bool,
}

/// How push mode reaches and syncs the WECs (shared by the commands that sync).
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// After writing the refs, sync every WEC that can be reached (push mode).
    #[arg(long)]
    pub sync: bool,
    /// A kubeconfig with one context per WEC, named after its SyncTarget (default: $KUBECONFIG,
    /// then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Reach WEC `NAME` through kubeconfig context `CONTEXT` instead of the context named after it
    /// (repeatable).
    #[arg(long = "wec-context", value_name = "NAME=CONTEXT", value_parser = parse_wec_context)]
    pub wec_contexts: Vec<(String, String)>,
    /// How many WECs are synced at once.
    #[arg(long, default_value_t = 16)]
    pub sync_concurrency: usize,
    /// Sync only the WECs whose mailbox changed since their last clean sync (drift in the others
    /// is then left for the next full sync).
    #[arg(long)]
    pub changed_only: bool,
    /// How long one WEC's sync may take (all its attempts, from its start); a WEC still busy then
    /// is cut off and reported as timed out (`30s`, `5m`, `1h`).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub sync_timeout: Duration,
    /// The name of this gitstellar instance: the value of the `gitstellar.io/managed-by` label.
    #[arg(long, default_value = "gitstellar")]
    pub instance: String,
}

/// `30s`, `5m`, `2h`, `250ms`, or plain seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 1h"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

fn parse_wec_context(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((wec, context)) if !wec.is_empty() && !context.is_empty() => {
            Ok((wec.to_string(), context.to_string()))
        }
        _ => Err(format!("{text:?} is not NAME=CONTEXT")),
    }
}

/// What a push-mode sync did.
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

    /// `sync: 3 WECs, 2 synced, 1 unreachable`.
    pub fn summary(&self) -> String {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for o in &self.outcomes {
            *counts.entry(verdict(o)).or_default() += 1;
        }
        let parts: Vec<String> = ["synced", "failed", "busy", "unreachable", "timed out"]
            .iter()
            .filter_map(|k| counts.get(k).map(|n| format!("{n} {k}")))
            .collect();
        let n = self.outcomes.len();
        format!(
            "sync: {n} {}{}{}\n",
            if n == 1 { "WEC" } else { "WECs" },
            if parts.is_empty() { "" } else { ", " },
            parts.join(", ")
        )
    }

    /// The pass as JSON: `{clean, wecs: [...]}`, one entry per WEC as `-o json` documents it.
    pub fn to_json(&self) -> Value {
        let recorded = fleet::recorded_by_wec(&self.recorded);
        json!({
            "clean": self.is_clean(),
            "wecs": self
                .outcomes
                .iter()
                .map(|o| wec_json(o, recorded.get(o.wec())))
                .collect::<Vec<_>>(),
        })
    }
}

/// `synced`, `failed` (reached, some object refused), `busy` (another process holds the WEC's
/// sync lock), `unreachable` or `timed out`.
fn verdict(o: &WecOutcome) -> &'static str {
    match &o.report.error {
        None if o.report.busy.is_some() => "busy",
        Some(_) if o.timed_out => "timed out",
        Some(_) => "unreachable",
        None if o.is_clean() => "synced",
        None => "failed",
    }
}

/// One WEC's line, and a line per object it refused.
pub(crate) fn wec_lines(o: &WecOutcome) -> String {
    let r = &o.report;
    let at = o
        .server
        .as_deref()
        .map(|s| format!(" at {s}"))
        .unwrap_or_default();
    if let Some(e) = &r.error {
        let what = if o.timed_out {
            "timed out"
        } else {
            "unreachable"
        };
        return format!("{what} {}{at}: {e}\n", r.wec);
    }
    if let Some(why) = &r.busy {
        return format!("busy {}{at}: {why}\n", r.wec);
    }
    let counts: Vec<String> = r.counts().iter().map(|(k, v)| format!("{v} {k}")).collect();
    let mut out = format!(
        "synced {}: {}\n",
        r.wec,
        if counts.is_empty() {
            "nothing to do".into()
        } else {
            counts.join(", ")
        }
    );
    for obj in r
        .objects
        .iter()
        .filter(|obj| obj.outcome == crate::sync::ObjectOutcome::Failed)
    {
        out.push_str(&format!(
            "  failed {}: {}\n",
            obj.object,
            obj.message.as_deref().unwrap_or("")
        ));
    }
    out
}

/// One WEC's outcome as JSON: `wec`, `outcome` (`synced`, `failed`, `busy`, `unreachable`,
/// `timedOut`),
/// `server`, `mailboxCommit`, `attempts`, `elapsedMs`, `error`, `counts`, `objects` (the
/// per-object reports of `sync.yaml`) and `recorded` (what happened to its reported ref).
pub(crate) fn wec_json(o: &WecOutcome, recorded: Option<&RefOutcome>) -> Value {
    let r = &o.report;
    let outcome = match verdict(o) {
        "timed out" => "timedOut",
        other => other,
    };
    json!({
        "wec": r.wec,
        "outcome": outcome,
        "server": o.server,
        "mailboxCommit": r.mailbox_commit,
        "attempts": o.attempts,
        "elapsedMs": u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX),
        "error": r.error,
        "counts": r.counts(),
        "objects": serde_json::to_value(&r.objects).unwrap_or(Value::Null),
        "recorded": recorded.map(ref_outcome_json),
    })
}

/// What happened to a ref, as JSON: `{outcome: updated|deleted|unchanged|superseded, commit?,
/// subject?}`.
pub(crate) fn ref_outcome_json(outcome: &RefOutcome) -> Value {
    match outcome {
        RefOutcome::Updated { commit, subject } => {
            json!({"outcome": "updated", "commit": commit.to_string(), "subject": subject})
        }
        RefOutcome::Deleted => json!({"outcome": "deleted"}),
        RefOutcome::Unchanged => json!({"outcome": "unchanged"}),
        RefOutcome::Superseded => json!({"outcome": "superseded"}),
    }
}

/// Reads the kubeconfig push mode uses, before anything is written: a missing or malformed one
/// is the operator's mistake (exit 2), not an unreachable cluster.
pub(crate) fn cluster_access(args: &SyncArgs) -> anyhow::Result<fleet::ClusterAccess> {
    let mut access = fleet::ClusterAccess::from_kubeconfig(args.kubeconfig.as_deref())?;
    for (wec, context) in &args.wec_contexts {
        access = access.with_context(wec, context);
    }
    Ok(access)
}

/// Syncs the WECs of `repo`'s mailboxes (push mode), recording each WEC's outcome on its reported
/// ref as soon as that WEC is done and handing it to `each` then (to print it). Every WEC's
/// context and credentials are checked before any is synced.
pub(crate) fn sync_pass(
    repo: &git2::Repository,
    revision: &str,
    args: &SyncArgs,
    access: &fleet::ClusterAccess,
    each: &mut dyn FnMut(&WecOutcome, Option<&RefOutcome>) -> anyhow::Result<()>,
) -> anyhow::Result<SyncPass> {
    let (mailboxes, departed) = fleet::pending_mailboxes(repo, args.changed_only)?;
    let mut known = fleet::mailbox_wecs(repo)?;
    known.extend(fleet::reported_wecs(repo)?);
    access.check_overrides(&known)?;
    let wecs: std::collections::BTreeSet<String> = mailboxes
        .iter()
        .map(|p| p.mailbox.wec.clone())
        .filter(|w| !departed.contains(w))
        .collect();
    let options = fleet::FleetOptions {
        sync: crate::sync::SyncOptions {
            instance: args.instance.clone(),
            ..Default::default()
        },
        concurrency: args.sync_concurrency,
        deadline: args.sync_timeout,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let bar = progress_bar(wecs.len());
    let result = runtime.block_on(async {
        let mut targets = access.connect(&wecs).await?;
        // A WEC that left the inventory may have left the kubeconfig too: that is no reason to
        // stop the pass; it is skipped (its record stays) until it can be reached or is removed.
        let mut mailboxes = mailboxes;
        for wec in &departed {
            match access
                .connect(&std::iter::once(wec.clone()).collect())
                .await
            {
                Ok(t) => targets.extend(t),
                Err(e) => {
                    tracing::warn!(%wec, error = %e, "not emptying a WEC that left the inventory");
                    mailboxes.retain(|p| &p.mailbox.wec != wec);
                }
            }
        }
        bar.set_length(mailboxes.len() as u64);
        let done = fleet::sync_each(&targets, mailboxes, &options);
        futures::pin_mut!(done);
        let mut outcomes = Vec::new();
        let mut recorded = Vec::new();
        let mut failures = 0;
        // One writer: what finished while the last batch was being recorded is recorded
        // together (one pack), the rest as each WEC finishes.
        while let Some(first) = done.next().await {
            let mut batch = vec![first];
            while let Some(Some(more)) = done.next().now_or_never() {
                batch.push(more);
            }
            // Its log lines go above the bar, not through it.
            let finished = bar.suspend(|| fleet::record(repo, &batch, &departed, revision))?;
            let by_wec = fleet::recorded_by_wec(&finished.outcomes);
            for o in &batch {
                failures += usize::from(!o.is_clean());
                bar.suspend(|| each(o, by_wec.get(o.wec())))?;
                bar.inc(1);
                if failures > 0 {
                    bar.set_message(format!("{failures} failed"));
                }
            }
            outcomes.extend(batch);
            recorded.extend(finished.outcomes);
        }
        anyhow::Ok((outcomes, recorded))
    });
    bar.finish_and_clear();
    // A WEC cut off at its deadline may leave a connection task behind: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    let (mut outcomes, recorded) = result?;
    outcomes.sort_by(|a, b| a.report.wec.cmp(&b.report.wec));
    Ok(SyncPass { outcomes, recorded })
}

/// A bar of WECs done on stderr, drawn only when stderr is a terminal.
fn progress_bar(total: usize) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} WECs synced {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// How a command that ran to the end went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was fine.
    Clean,
    /// The repo has problems (they were printed or recorded).
    Problems,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        match o {
            Outcome::Clean => ExitCode::SUCCESS,
            Outcome::Problems => ExitCode::from(1),
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    init_logging(&cli.log, cli.log_format);
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Reconcile(args) => reconcile::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Wecsim(args) => {
            crate::wecsim::run(args)?;
            Ok(Outcome::Clean)
        }
    }
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour codes only for a person at a terminal: a file or a log collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Writes a command's output to stdout in one go.
pub(crate) fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// An error and its causes on one line, `outer: inner: ...`, as [`crate::repo::error_chain`]
/// tells them.
pub fn describe(error: &anyhow::Error) -> String {
    crate::repo::error_chain(error.as_ref())
}

/// Whether a failure is only stdout having been closed by the reader.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                e.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            })
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(Debug, thiserror::Error)]
    #[error("outer {0}")]
    struct Outer(String, #[source] std::io::Error);

    #[test]
    fn a_cause_already_told_is_not_repeated() {
        let inner = std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(Outer("and disk on fire".into(), inner));
        assert_eq!(describe(&error), "outer and disk on fire");
        let error = anyhow::Error::new(Outer("x".into(), std::io::Error::other("disk on fire")))
            .context("reading the file");
        assert_eq!(describe(&error), "reading the file: outer x: disk on fire");
    }
}
