//! `gitstellar agent`: pull mode for one WEC (design §1, §5).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::Outcome;
use crate::repo::remote;
use crate::sync::agent::{self, AgentOptions};
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
    /// Sync once and exit (0 clean, 1 something failed).
    #[arg(long)]
    once: bool,
    /// Where the bare cache of the repo is kept.
    #[arg(long, env = "GITSTELLAR_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// The name of this gitstellar instance: the value of the `gitstellar.io/managed-by` label.
    #[arg(long, default_value = "gitstellar")]
    instance: String,
}

/// `30s`, `5m`, `2h`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
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

pub(super) fn run(args: AgentArgs) -> anyhow::Result<Outcome> {
    let cache_root = match args.cache_dir {
        Some(dir) => dir,
        None => remote::default_cache_root()
            .context("no cache directory (HOME is not set): give --cache-dir")?,
    };
    let options = AgentOptions {
        url: args.repo,
        wec: args.wec,
        cache_root,
        interval: args.interval,
        once: args.once,
        sync: SyncOptions {
            instance: args.instance,
            ..Default::default()
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let cluster =
            KubeCluster::from_kubeconfig(args.kubeconfig.as_deref(), args.context.as_deref())
                .await?;
        anyhow::Ok(agent::run(&options, &cluster).await?)
    })?;
    let pass = super::SyncPass {
        reports: vec![report],
        recorded: Vec::new(),
    };
    super::print(&pass.render()).context("writing the report to stdout")?;
    Ok(if pass.is_clean() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }
}
