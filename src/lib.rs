//! gitstellar: KubeStellar's multi-cluster configuration management (MCCM) over plain git.
//!
//! The pipeline, one module per stage (design §4):
//! [`repo`] reads a commit into a [`model::Snapshot`] and writes the gitstellar refs; [`placement`]
//! resolves every EdgePlacement's *where* and *what*; [`customize`] rewrites each object per
//! destination; [`plan`] joins them into the per-WEC result and renders it; [`mailbox`] and
//! [`status`] turn the plan into the trees of the mailbox refs and the status branch; [`sync`]
//! applies mailboxes to the WECs; [`reconcile`] drives one pass from a revision to the refs
//! (incrementally where it can); [`cli`] is the command line. [`wecsim`] simulates WECs, for tests
//! and benchmarks (whose other helpers, fleets among them, are the dev-only `gitstellar-testkit`).
#![deny(unsafe_code)]

pub mod cli;
pub mod reconcile;
pub mod repo;
pub mod sync;

/// The pure stages, their own crate ([`gitstellar_core`]); re-exported under the paths the
/// I/O modules, tests and docs use.
pub use gitstellar_core::{customize, mailbox, marks, model, placement, plan, status, tree};
/// The simulated WECs, its own crate ([`gitstellar_wecsim`]); re-exported under the path the
/// tests, benchmarks and docs use.
pub use gitstellar_wecsim as wecsim;
