//! gitstellar: KubeStellar's multi-cluster configuration management (MCCM) over plain git.
//!
//! The pipeline, one module per stage (design §4):
//! [`repo`] reads a commit into a [`model::Snapshot`] and writes the gitstellar refs; [`placement`]
//! resolves every EdgePlacement's *where* and *what*; [`customize`] rewrites each object per
//! destination; [`plan`] joins them into the per-WEC result and renders it; [`mailbox`] and
//! [`status`] turn the plan into the trees of the mailbox refs and the status branch; [`sync`]
//! applies mailboxes to the WECs; [`reconcile`] drives one pass from a revision to the refs
//! (incrementally where it can); [`runtime`] owns the loop around them (fetch, pass, push, retry,
//! sync the fleet) and [`config`] says what it works on; [`cli`] is the command line. [`wecsim`] simulates WECs and
//! [`synth`] generates fleets, for tests and benchmarks.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod reconcile;
pub mod repo;
pub mod server;
pub mod runtime;
pub mod sync;
pub mod synth;

/// The pure stages, their own crate ([`gitstellar_core`]); re-exported under the paths the
/// I/O modules, tests and docs use.
pub use gitstellar_core::{customize, mailbox, marks, model, placement, plan, status, tree};
/// The simulated WECs, its own crate ([`gitstellar_wecsim`]); re-exported under the path the
/// tests, benchmarks and docs use.
pub use gitstellar_wecsim as wecsim;
