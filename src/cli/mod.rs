//! The command line (design §7): clap parses, each subcommand turns its arguments into library
//! calls, and the outcome becomes an exit code (0 clean, 1 the repo has problems, 2 usage or I/O).
//!
//! Also here: the arguments shared by the commands that sync ([`SyncArgs`], [`InstanceArgs`],
//! [`CacheArgs`]), the printing of each WEC's outcome as that WEC finishes, and the logging setup
//! (`--log`, `--log-format`; colour only on a terminal). The work itself is the runtime's
//! ([`crate::runtime`]): this module holds argument parsing and printing only.

mod agent;
mod plan;
mod reconcile;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{Config, parse_duration};
use crate::repo::write::RefOutcome;
use crate::runtime::{SyncEvent, SyncPass};
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
    /// The instance whose objects these are.
    #[command(flatten)]
    pub instance: InstanceArgs,
}

/// `--instance`, shared by every command that syncs.
#[derive(Debug, Clone, clap::Args)]
pub struct InstanceArgs {
    /// The name of this gitstellar instance: the value of the `gitstellar.io/managed-by` label.
    #[arg(long, default_value = "gitstellar")]
    pub instance: String,
}

/// `--cache-dir`, shared by every command that caches a remote repository.
#[derive(Debug, Clone, clap::Args)]
pub struct CacheArgs {
    /// Where the bare caches of remote repositories are kept (only with a URL).
    #[arg(long, env = "GITSTELLAR_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl SyncArgs {
    /// Puts these arguments into `config`.
    pub(crate) fn configure(&self, config: &mut Config) {
        config.sync.enabled = self.sync;
        config.sync.changed_only = self.changed_only;
        config.clusters.kubeconfig = self.kubeconfig.clone();
        config.clusters.contexts = self.wec_contexts.iter().cloned().collect();
        config.clusters.concurrency = self.sync_concurrency;
        config.clusters.timeout = self.sync_timeout;
        config.instance = self.instance.instance.clone();
    }
}

fn parse_wec_context(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((wec, context)) if !wec.is_empty() && !context.is_empty() => {
            Ok((wec.to_string(), context.to_string()))
        }
        _ => Err(format!("{text:?} is not NAME=CONTEXT")),
    }
}

/// `sync: 3 WECs, 2 synced, 1 unreachable`.
pub(crate) fn sync_summary(pass: &SyncPass) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for o in &pass.outcomes {
        *counts.entry(verdict(o)).or_default() += 1;
    }
    let parts: Vec<String> = ["synced", "failed", "busy", "unreachable", "timed out"]
        .iter()
        .filter_map(|k| counts.get(k).map(|n| format!("{n} {k}")))
        .collect();
    let n = pass.outcomes.len();
    format!(
        "sync: {n} {}{}{}\n",
        if n == 1 { "WEC" } else { "WECs" },
        if parts.is_empty() { "" } else { ", " },
        parts.join(", ")
    )
}

/// The sync as JSON: `{clean, wecs: [...]}`, one entry per WEC as `-o json` documents it.
pub(crate) fn sync_json(pass: &SyncPass) -> Value {
    let recorded = fleet::recorded_by_wec(&pass.recorded);
    json!({
        "clean": pass.is_clean(),
        "wecs": pass
            .outcomes
            .iter()
            .map(|o| wec_json(o, recorded.get(o.wec())))
            .collect::<Vec<_>>(),
    })
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

/// Prints each WEC of a sync as it finishes (`table`), above a bar of WECs done on stderr.
pub(crate) struct SyncPrinter {
    table: bool,
    bar: indicatif::ProgressBar,
    failures: usize,
}

impl SyncPrinter {
    /// A printer; `table` says whether WEC lines are printed as they come.
    pub(crate) fn new(table: bool) -> SyncPrinter {
        SyncPrinter {
            table,
            bar: indicatif::ProgressBar::hidden(),
            failures: 0,
        }
    }

    /// Takes one step of the sync.
    pub(crate) fn event(&mut self, event: SyncEvent<'_>) -> std::io::Result<()> {
        match event {
            SyncEvent::Started { wecs } => self.bar = progress_bar(wecs),
            SyncEvent::Done { outcome, .. } => {
                self.failures += usize::from(!outcome.is_clean());
                if self.table {
                    // Its line goes above the bar, not through it.
                    self.bar.suspend(|| print(&wec_lines(outcome)))?;
                }
                self.bar.inc(1);
                if self.failures > 0 {
                    self.bar.set_message(format!("{} failed", self.failures));
                }
            }
        }
        Ok(())
    }

    /// Clears the bar.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
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

/// How a command that ran to the end went: its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything was fine.
    Clean,
    /// The repo has problems (they were printed or recorded).
    Problems,
}

impl From<Exit> for ExitCode {
    fn from(o: Exit) -> ExitCode {
        match o {
            Exit::Clean => ExitCode::SUCCESS,
            Exit::Problems => ExitCode::from(1),
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    init_logging(&cli.log, cli.log_format);
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Reconcile(args) => reconcile::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Wecsim(args) => {
            crate::wecsim::run(args)?;
            Ok(Exit::Clean)
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
