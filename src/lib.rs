//! gitstellar: KubeStellar's multi-cluster configuration management (MCCM) over plain git — the
//! I/O around the pure core.
//!
//! The pure stages are their own crate, [`gitstellar_core`] (re-exported here under the same
//! paths): [`model`], [`placement`], [`customize`], [`plan`], the rendering of [`mailbox`]es and
//! the [`status`] branch, the [`marks`] and the [`tree`] types. This crate holds what touches git,
//! clusters and the network (design §4): [`repo`] reads a commit into a [`model::Snapshot`] and
//! is the committer that moves every gitstellar ref; [`reconcile`] drives one pass from a
//! revision to the refs (incrementally where it can); [`sync`] applies mailboxes to the WECs;
//! [`runtime`] owns the loop around them (fetch, pass, push, retry, sync the fleet) and
//! [`config`] says what it works on; [`server`] is the service's HTTP side; [`cli`] is the
//! command line. [`wecsim`] simulates WECs.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod reconcile;
pub mod repo;
pub mod runtime;
pub mod server;
pub mod sync;

/// The pure stages, their own crate ([`gitstellar_core`]); re-exported under the paths the
/// I/O modules, tests and docs use.
pub use gitstellar_core::{customize, mailbox, marks, model, placement, plan, status, tree};
/// The simulated WECs, its own crate ([`gitstellar_wecsim`]); re-exported under the path the
/// tests, benchmarks and docs use.
pub use gitstellar_wecsim as wecsim;
