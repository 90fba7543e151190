//! The command line (design §7): clap parses, each subcommand turns its arguments into library
//! calls, and the outcome becomes an exit code (0 clean, 1 the repo has problems, 2 usage or I/O).

mod agent;
mod plan;
mod reconcile;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// The name of this gitstellar instance: the value of the `gitstellar.io/managed-by` label.
    #[arg(long, default_value = "gitstellar")]
    pub instance: String,
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
    /// One report per WEC synced.
    pub reports: Vec<crate::sync::SyncReport>,
    /// What happened to the `gitstellar/reported/<wec>` refs.
    pub recorded: Vec<(String, crate::repo::write::RefOutcome)>,
}

impl SyncPass {
    /// Whether every WEC was reached and took every object.
    pub fn is_clean(&self) -> bool {
        self.reports.iter().all(crate::sync::SyncReport::is_clean)
    }

    /// One line per WEC.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.reports {
            if let Some(b) = r.busy.as_deref().filter(|_| r.error.is_none()) {
                out.push_str(&format!("busy {}: {b}\n", r.wec));
                continue;
            }
            match &r.error {
                Some(e) => out.push_str(&format!("unreachable {}: {e}\n", r.wec)),
                None => {
                    let counts: Vec<String> =
                        r.counts().iter().map(|(k, v)| format!("{v} {k}")).collect();
                    out.push_str(&format!(
                        "synced {}: {}\n",
                        r.wec,
                        if counts.is_empty() {
                            "nothing to do".into()
                        } else {
                            counts.join(", ")
                        }
                    ));
                    for o in r
                        .objects
                        .iter()
                        .filter(|o| o.outcome == crate::sync::Outcome::Failed)
                    {
                        out.push_str(&format!(
                            "  failed {}: {}\n",
                            o.object,
                            o.message.as_deref().unwrap_or("")
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Syncs the WECs of `repo`'s mailboxes and records the outcomes (push mode).
pub(crate) fn sync_pass(
    repo: &git2::Repository,
    revision: &str,
    args: &SyncArgs,
) -> anyhow::Result<SyncPass> {
    use crate::sync::fleet;
    let mut access = fleet::ClusterAccess::from_kubeconfig(args.kubeconfig.as_deref())?;
    for (wec, context) in &args.wec_contexts {
        access = access.with_context(wec, context);
    }
    let (mailboxes, departed) = fleet::pending_mailboxes(repo, args.changed_only)?;
    let options = fleet::FleetOptions {
        sync: crate::sync::SyncOptions {
            instance: args.instance.clone(),
            ..Default::default()
        },
        concurrency: args.sync_concurrency,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let reports = runtime.block_on(fleet::sync_fleet(&access, mailboxes, &options));
    let finished = fleet::record(repo, &reports, &departed, revision)?;
    Ok(SyncPass {
        reports,
        recorded: finished.outcomes,
    })
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
    init_logging(&cli.log);
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

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Writes a command's output to stdout in one go.
pub(crate) fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
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
