//! Loading: the files of a revision → a [`Snapshot`]. Pure.

use serde::Deserialize;

use super::Snapshot;

/// One file of the revision, relative to the layout root.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path relative to the layout root, `/`-separated.
    pub path: String,
    /// Its bytes, or why they could not be read (a symlink, a submodule, an I/O error).
    pub content: Result<Vec<u8>, String>,
}

/// `gitstellar.yaml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoConfig {
    /// Directory globs of inventory spaces.
    pub inventory_spaces: Vec<String>,
    /// Directory globs of workload description spaces.
    pub workload_spaces: Vec<String>,
    /// Extra kind ↔ resource mappings.
    pub resource_mappings: Vec<ResourceMapping>,
}

/// One `resourceMappings` entry.
#[derive(Clone, Debug, Deserialize)]
pub struct ResourceMapping {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Plural.
    pub resource: String,
    /// Scope.
    pub namespaced: bool,
}

/// Parses every file into a snapshot.
pub fn load(files: &[SourceFile]) -> Snapshot {
    let _ = files;
    Snapshot::default()
}
