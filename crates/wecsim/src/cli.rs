//! `gitstellar wecsim`: serve simulated clusters until interrupted.

use super::store::Behaviour;
use super::{FaultSettings, SimOptions, Simulator, WecsimError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `gitstellar wecsim`.
#[derive(Debug, Clone, clap::Args)]
pub struct WecsimArgs {
    /// Cluster names, comma separated; each becomes a kubeconfig context.
    #[arg(long, value_delimiter = ',', required = true)]
    pub clusters: Vec<String>,
    /// Address to listen on (loopback; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Write a kubeconfig with one context per cluster here; rewritten when clusters are added
    /// or removed through the admin endpoint.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Persist each cluster's objects here and reload them on start.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Milliseconds before a Deployment's replicas report ready.
    #[arg(long, default_value_t = 2000)]
    pub ready_delay_ms: u64,
    /// Milliseconds a Job runs before it completes.
    #[arg(long, default_value_t = 3000)]
    pub job_duration_ms: u64,
    /// Events kept per cluster for watch resumption.
    #[arg(long, default_value_t = 1000)]
    pub history: usize,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction (0..1) of requests answered with 500.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Clusters that start down, comma separated: every request to them has its connection
    /// dropped without an answer (as by a dead API server) until the admin endpoint brings them
    /// up (`PUT {"down": false}` to `/admin/clusters/<name>/faults`).
    #[arg(long, value_delimiter = ',')]
    pub down: Vec<String>,
}

/// Runs `gitstellar wecsim` until Ctrl-C or SIGTERM, then saves to the data dir.
pub fn run(args: WecsimArgs) -> Result<(), WecsimError> {
    // A no-op when the binary already set up logging; RUST_LOG=gitstellar=debug logs requests.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(WecsimError::Runtime)?;
    rt.block_on(serve(args))
}

async fn serve(args: WecsimArgs) -> Result<(), WecsimError> {
    let sim = Simulator::start(SimOptions {
        clusters: args.clusters.clone(),
        listen: args.listen,
        behaviour: Behaviour {
            ready_delay: Duration::from_millis(args.ready_delay_ms),
            job_duration: Duration::from_millis(args.job_duration_ms),
            history_limit: args.history,
            ..Behaviour::default()
        },
        data_dir: args.data_dir.clone(),
        faults: FaultSettings {
            latency_ms: args.latency_ms,
            error_rate: args.error_rate,
            ..FaultSettings::default()
        },
        down: args.down.clone(),
        kubeconfig_out: args.kubeconfig_out.clone(),
    })
    .await?;
    for name in sim.cluster_names() {
        let url = sim.server_url(&name)?;
        if args.down.contains(&name) {
            println!(
                "wecsim: cluster {name} down at {url} (context {name}); bring it up with: curl -X PUT -d '{{\"down\": false}}' {}",
                sim.faults_url(&name)?
            );
        } else {
            println!("wecsim: cluster {name} ready at {url} (context {name})");
        }
    }
    println!(
        "wecsim: admin at http://{}/admin/clusters; Ctrl-C to stop",
        sim.addr()
    );
    shutdown_signal().await;
    sim.shutdown().await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
