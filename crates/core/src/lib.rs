//! gitstellar-core: the pure half of gitstellar, KubeStellar's multi-cluster configuration
//! management over plain git. Everything here is a function of the files of one revision; nothing
//! reads git, a clock or a cluster (Cargo keeps git2, tokio, kube, axum and hyper out of this crate).
//!
//! The pipeline, one module per stage (design §4): [`model`] reads the files of a revision into a
//! [`model::Snapshot`]; [`placement`] resolves every EdgePlacement's *where* and *what*;
//! [`customize`] rewrites each object per destination; [`plan`] joins them into the per-WEC result
//! (and [`plan::hold`] keeps the last good state where the revision has problems); [`mailbox`] and
//! [`status`] render the plan into the [`tree::Files`] of the mailbox refs and the status branch;
//! [`marks`] names the label and annotation that mark what gitstellar applied. [`par`] shares slices
//! of independent work out among the cores; [`yaml`] reads and writes YAML.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod customize;
pub mod mailbox;
pub mod marks;
pub mod model;
pub mod par;
pub mod placement;
pub mod plan;
pub mod status;
pub mod tree;
pub mod yaml;
