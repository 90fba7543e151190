//! The runtime: what owns the loop. The CLI (and a future `gitstellar serve`) are its clients:
//! they turn their input into a [`crate::config::Config`], hand it here, and print what comes
//! back.
//!
//! What owns what:
//! - [`Runtime`] owns the tokio runtime (built here, never in the CLI) and its shutdown (a task
//!   cut off at a deadline is not waited for).
//! - [`Reconciler`] owns one pass from a revision to the refs: fetch (for a URL), pass
//!   (incremental or full), write, optional sync, push, and retry when the remote moved. It
//!   returns plain values ([`PassReport`]); printing, exit codes and leaving memory to the OS
//!   at exit stay with the caller. It runs on a thread that may block (git2 work): the main
//!   thread of a command, or a blocking task of a service.
//! - [`SyncController`] owns the WECs in push mode: one worker per WEC with its client and
//!   discovery cached for the controller's life, at most one sync in flight per WEC, a global
//!   bound on syncs at once, backoff for WECs that keep failing, and (when run continuously)
//!   long-lived watches of the objects it applied, so drift is corrected at once. The same
//!   controller syncs once for `reconcile --sync` ([`SyncController::sync_once`]) and runs until
//!   cancelled for a service ([`SyncController::run`]). Its git2 work runs on blocking threads.
//!
//! Cancellation: the library never listens for signals. A long run takes a
//! [`CancellationToken`]; the caller cancels it (the CLI turns ctrl-c into a cancel), and the
//! loop returns after the step under way. One-shot work has no token: it ends by itself, bounded
//! by its deadlines.

mod controller;
mod reconciler;

use std::future::Future;
use std::time::Duration;

pub use controller::{SyncController, SyncEvent, SyncPass};
pub use reconciler::{Event, PassReport, Pushed, Reconciler};
pub use tokio_util::sync::CancellationToken;

/// Why the runtime could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The source repository could not be read.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
    /// The pass failed.
    #[error(transparent)]
    Reconcile(#[from] crate::reconcile::ReconcileError),
    /// Fetching or pushing failed.
    #[error(transparent)]
    Remote(#[from] crate::repo::remote::RemoteError),
    /// Push-mode syncing could not start or record.
    #[error(transparent)]
    Fleet(#[from] crate::sync::fleet::FleetError),
    /// A repository could not be opened on a blocking thread.
    #[error("opening {path}")]
    Open {
        /// The repository.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: git2::Error,
    },
    /// The caller's observer failed (stdout closed, say).
    #[error("writing the report to stdout")]
    Observer(#[source] std::io::Error),
    /// The remote moved under every attempt.
    #[error("pushing to {url}: the remote kept moving; gave up after {attempts} attempts")]
    GaveUp {
        /// The remote, without credentials.
        url: String,
        /// Attempts made.
        attempts: usize,
    },
    /// The tokio runtime could not be built.
    #[error("starting the async runtime")]
    Start(#[source] std::io::Error),
    /// A task panicked or was cancelled.
    #[error("a background task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// The tokio runtime of a process.
pub struct Runtime {
    tokio: tokio::runtime::Runtime,
}

impl Runtime {
    /// A multi-threaded runtime with I/O and timers.
    pub fn new() -> Result<Runtime, RuntimeError> {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(RuntimeError::Start)?;
        Ok(Runtime { tokio })
    }

    /// Runs a future to its end on this thread (which must not be one of the runtime's).
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        self.tokio.block_on(future)
    }

    /// Spawns a task (a signal listener of the CLI, say).
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tokio.spawn(future)
    }

    /// Stops the runtime without waiting for tasks cut off at a deadline (a connection, a git
    /// call on a blocking thread): the process is about to end.
    pub fn shutdown(self) {
        self.tokio.shutdown_timeout(Duration::from_millis(200));
    }
}

/// Runs git2 work on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RuntimeError> + Send + 'static,
) -> Result<T, RuntimeError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(RuntimeError::Task)?
}

/// Opens a repository by its path (on a blocking thread).
pub(crate) fn open(path: &std::path::Path) -> Result<git2::Repository, RuntimeError> {
    git2::Repository::open(path).map_err(|source| RuntimeError::Open {
        path: path.to_path_buf(),
        source,
    })
}
