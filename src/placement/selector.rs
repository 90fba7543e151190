//! Kubernetes label selectors: validation and matching (apimachinery semantics).

use std::collections::BTreeMap;

use crate::model::LabelSelector;

/// Why a label selector is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Placeholder until the selector module lands.
    #[error("invalid selector: {0}")]
    Invalid(String),
}

/// A validated label selector, ready to match label sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    source: LabelSelector,
}

impl Selector {
    /// Validates `selector` (operators, values, key and value syntax).
    pub fn compile(selector: &LabelSelector) -> Result<Selector, SelectorError> {
        Ok(Selector {
            source: selector.clone(),
        })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.source
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }
}
