//! Sync: KubeStellar's syncer, run from the centre (push mode) or in the WEC (pull mode). It makes
//! a WEC hold what its mailbox says (design §5): server-side apply with field manager
//! `gitstellar`, Namespaces and CRDs first, pruning only what carries our mark and left the
//! mailbox, drift corrected, and an outcome recorded per object.
//!
//! Input: a mailbox (the objects of one WEC) and a connection to that WEC. Output: the WEC's
//! state, and a [`desired::Inventory`] of what was applied, kept in the WEC itself
//! ([`record`], written ahead of every apply), under a per-WEC lock ([`lock`]).

pub mod desired;
pub mod drift;

pub mod agent;
pub mod cluster;
pub mod engine;
pub mod fleet;
pub mod lock;
pub mod memory;
pub mod record;

pub use cluster::{Cluster, ClusterError, KubeCluster, RequestPolicy, Written};
pub use desired::{Desired, FIELD_MANAGER, Inventory, InventoryEntry, MANAGED_BY, ORIGIN, Phase};
pub use engine::{
    Mailbox, ObjectOutcome, ObjectReport, SyncOptions, SyncReport, sync, sync_incremental,
};
pub use memory::MemoryCluster;

/// Namespace of gitstellar's own bookkeeping objects in a WEC.
pub const SYSTEM_NAMESPACE: &str = "gitstellar-system";
/// Prefix of the names of the ConfigMaps that record, per instance, what gitstellar applied.
pub const INVENTORY_NAME: &str = "gitstellar-inventory";
