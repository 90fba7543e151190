//! `gitstellar agent`: pull mode for one WEC (design §1, §5).
//!
//! Input: the source repo's URL, the WEC's name, its kubeconfig. Output: the WEC's state, its
//! reported ref, and with `--once` a report on stdout (`-o json` for scripts). Exit code with
//! `--once`: 0 when the WEC took every object and its report reached git, 1 when something failed
//! or git could not be reached (the cached mailbox was applied), 2 on usage errors.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::{Exit, OutputFormat};
use crate::config::parse_duration;
use crate::runtime::{CancellationToken, Runtime};
use crate::sync::agent::{self, AgentOptions, Round};
use crate::sync::fleet::WecOutcome;
use crate::sync::{KubeCluster, SyncOptions};

/// Arguments of `gitstellar agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The source repo (a URL, or a path for tests): only this WEC's refs are fetched from it.
    #[arg(long)]
    repo: String,
    /// This WEC's name (its SyncTarget's).
    #[arg(long)]
    wec: String,
    /// The kubeconfig of the WEC (default: in-cluster, then $KUBECONFIG).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long)]
    context: Option<String>,
    /// How often to fetch and re-sync when nothing drifts (`30s`, `5m`, `1h`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
    /// How long one fetch or push may take; then the round goes on without git (`30s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    git_timeout: Duration,
    /// Sync once and exit (0 clean, 1 something failed or git could not be reached).
    #[arg(long)]
    once: bool,
    /// With `--once`: `table` for people, `json` or `yaml` for scripts.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: OutputFormat,
    #[command(flatten)]
    cache: super::CacheArgs,
    #[command(flatten)]
    instance: super::InstanceArgs,
}

/// The WEC's client and API server URL, from `--kubeconfig` (and `--context`), else
/// `$KUBECONFIG` or `~/.kube/config`, else the in-cluster service account. A kubeconfig that
/// cannot be used is a usage error naming it.
async fn connect(args: &AgentArgs) -> anyhow::Result<(KubeCluster, String)> {
    let options = kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| match &args.context {
                    Some(c) => format!("kubeconfig {}, context {c:?}", path.display()),
                    None => format!("kubeconfig {}", path.display()),
                })?
        }
        None => match kube::Config::from_kubeconfig(&options).await {
            Ok(c) => c,
            Err(e) if args.context.is_none() => kube::Config::incluster()
                .map_err(|_| e)
                .context("no kubeconfig ($KUBECONFIG, ~/.kube/config) and not in a cluster")?,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("the default kubeconfig, context {:?}", args.context)
                });
            }
        },
    };
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let client =
        kube::Client::try_from(config).with_context(|| format!("the credentials for {server}"))?;
    Ok((KubeCluster::new(client), server))
}

pub(super) fn run(args: AgentArgs) -> anyhow::Result<Exit> {
    let cache = crate::config::CacheConfig {
        root: args.cache.cache_dir.clone(),
    };
    let cache_root = cache.root()?;
    let runtime = Runtime::new()?;
    // Ctrl-c ends the run after the round under way.
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let result = runtime.run(async {
        let (cluster, server) = connect(&args).await?;
        let options = AgentOptions {
            url: args.repo.clone(),
            wec: args.wec.clone(),
            cache_root,
            interval: args.interval,
            once: args.once,
            git_timeout: args.git_timeout,
            server: Some(server),
            sync: SyncOptions {
                instance: args.instance.instance.clone(),
                ..Default::default()
            },
        };
        anyhow::Ok((
            agent::run(&options, &cluster, cancel).await?,
            options.server,
        ))
    });
    // A git call cut off at its deadline may still be running on a blocking thread: do not wait.
    runtime.shutdown();
    let (round, server) = result?;
    let text = match args.output {
        OutputFormat::Table => render(&round, server.as_deref()),
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&to_json(&round, server.as_deref()))?;
            text.push('\n');
            text
        }
        OutputFormat::Yaml => {
            gitstellar_core::yaml::to_string(&to_json(&round, server.as_deref()))?
        }
    };
    super::print(&text).context("writing the report to stdout")?;
    Ok(if round.is_clean() {
        Exit::Clean
    } else {
        Exit::Problems
    })
}

fn outcome(round: &Round, server: Option<&str>) -> WecOutcome {
    WecOutcome {
        report: round.report.clone(),
        server: server.map(str::to_string),
        attempts: 1,
        ..Default::default()
    }
}

/// The WEC's line(s), then what happened with git.
fn render(round: &Round, server: Option<&str>) -> String {
    let mut out = super::wec_lines(&outcome(round, server));
    match (&round.git_error, round.fetched) {
        (Some(e), false) => out.push_str(&format!(
            "git unreachable: {e}; {}\n",
            match &round.mailbox_commit {
                Some(c) => format!(
                    "applied the last mailbox fetched ({})",
                    c.get(..12).unwrap_or(c)
                ),
                None => "nothing was applied".into(),
            }
        )),
        (Some(e), true) => out.push_str(&format!(
            "git unreachable: the report was not pushed ({e}); it is pushed next time\n"
        )),
        (None, _) if !round.pushed && round.fetched => out.push_str(
            "the report was not pushed: the reported ref moved on the remote; it is pushed next time\n",
        ),
        _ => {}
    }
    out
}

/// The round as JSON: the WEC's outcome (as in `reconcile -o json`'s `sync.wecs`), and `git`:
/// `{reached, pushed, error, mailboxCommit, receivedBytes}`.
fn to_json(round: &Round, server: Option<&str>) -> serde_json::Value {
    json!({
        "clean": round.is_clean(),
        "wec": super::wec_json(&outcome(round, server), None),
        "git": {
            "reached": round.fetched,
            "pushed": round.pushed,
            "error": round.git_error,
            "mailboxCommit": round.mailbox_commit,
            "receivedBytes": round.received_bytes,
        },
    })
}
