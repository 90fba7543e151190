//! Customization: per-destination rewriting of downsynced objects (KubeStellar's parameter
//! expansion and `Customizer` objects).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::Customizer;

/// Why an object cannot be customized for a destination.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CustomizeError {
    /// Placeholder until the customize module lands.
    #[error("{0}")]
    Other(String),
}

/// The parameters of one destination.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// The destination Location's labels (win over annotations).
    pub labels: &'a BTreeMap<String, String>,
    /// The destination Location's annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// The SyncTarget name: `%(gitstellar.io/wec)`.
    pub wec: &'a str,
    /// The Location name: `%(gitstellar.io/location)`.
    pub location: &'a str,
}

/// Customizes `object` for one destination.
pub fn customize(
    object: &Value,
    expand: bool,
    customizer: Option<&Customizer>,
    params: &Params<'_>,
) -> Result<Value, CustomizeError> {
    let _ = (expand, customizer, params);
    Ok(object.clone())
}
