//! Customization: KubeStellar's per-destination rewriting of downsynced objects — parameter
//! expansion (`edge.kubestellar.io/expand-parameters`) and `Customizer` objects
//! (`edge.kubestellar.io/customizer`), plus gitstellar's JSON-patch extension.
//!
//! Pure computation: the caller resolves the Customizer and the destination's Location and
//! reports an error as a problem naming the object and the destination, withholding that object
//! from that destination only (design §9.1–9.2: never deliver a half-customized object).

pub mod expand;
pub mod jsonpath;
mod patch;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::model::{Customizer, EXPAND_PARAMETERS};

pub use expand::{
    LOCATION_PARAM, WEC_PARAM, expand_str, expand_value, parameters_used, parameters_used_str,
};
pub use jsonpath::JsonPath;

use expand::Expander;

/// Why an object cannot be customized for a destination. Messages say what is wrong and where
/// in the user's YAML; the caller adds the object and the destination. They quote paths and
/// parameter names, never values: the object may be a Secret, and a replacement's value may be
/// one of its values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomizeError {
    /// `%(NAME)` references with no value at the destination (sorted, without duplicates).
    #[error("{}", undefined_message(names, customizer.as_ref()))]
    UndefinedParameters {
        /// The parameter names.
        names: Vec<String>,
        /// The Customizer that references some of them, when one does.
        customizer: Option<CustomizerUse>,
    },
    /// A `%(` with no closing `)`.
    #[error(
        "unterminated parameter reference: a string has `%(` with no closing `)` \
         (write `%%` for a literal `%`)"
    )]
    UnterminatedParameter {
        /// The whole string holding the reference (not in the message: it may be a secret).
        text: String,
    },
    /// `replacements[index].path` is not in the supported JSONPath subset.
    #[error(
        "Customizer replacements[{index}]: path {path:?} is not a supported JSONPath: {reason}"
    )]
    BadPath {
        /// Position of the replacement in `replacements`.
        index: usize,
        /// The path, after parameter expansion.
        path: String,
        /// What the parser expected.
        reason: String,
    },
    /// `replacements[index].value` is not JSON text.
    #[error(
        "Customizer replacements[{index}]: value is not JSON text ({reason}); \
         a string value must be quoted JSON, e.g. '\"env is prod\"'"
    )]
    BadValue {
        /// Position of the replacement in `replacements`.
        index: usize,
        /// The value text, after parameter expansion (not in the message: it may be a secret).
        value: String,
        /// serde_json's reason.
        reason: String,
    },
    /// `replacements[index].path` cannot be written in this object.
    #[error("Customizer replacements[{index}]: cannot write path {path:?}: {reason}")]
    PathNotWritable {
        /// Position of the replacement in `replacements`.
        index: usize,
        /// The path, after parameter expansion.
        path: String,
        /// Where and why (e.g. an index beyond the end of an array).
        reason: String,
    },
    /// `patches` is not an RFC 6902 JSON Patch.
    #[error("Customizer patches: {reason}")]
    BadPatch {
        /// What is wrong, naming the operation.
        reason: String,
    },
    /// A patch operation failed on this object.
    #[error("Customizer patches[{op_index}] at path {path:?} failed: {reason}")]
    PatchFailed {
        /// Position of the operation in `patches`.
        op_index: usize,
        /// The operation's JSON Pointer.
        path: String,
        /// Why, with a hint on JSON Pointer escapes when they are the likely cause.
        reason: String,
    },
}

/// The Customizer behind some undefined parameters: which one, where, and which names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomizerUse {
    /// `namespace/name`.
    pub customizer: String,
    /// Its file, relative to the layout root.
    pub file: String,
    /// The undefined names its replacements or patches reference (sorted).
    pub names: Vec<String>,
}

fn undefined_message(names: &[String], customizer: Option<&CustomizerUse>) -> String {
    let mut message = undefined_names(names);
    if let Some(c) = customizer {
        let list: Vec<String> = c.names.iter().map(|n| format!("%({n})")).collect();
        message.push_str(&format!(
            "; {} {} referenced by Customizer {} in {}",
            list.join(", "),
            if list.len() == 1 { "is" } else { "are" },
            c.customizer,
            c.file
        ));
    }
    message
}

fn undefined_names(names: &[String]) -> String {
    match names {
        [name] => format!(
            "undefined parameter %({name}); the destination Location has no label or \
             annotation {name:?}"
        ),
        _ => {
            let list: Vec<String> = names.iter().map(|n| format!("%({n})")).collect();
            format!(
                "undefined parameters {}; the destination Location has no label or annotation \
                 with these names",
                list.join(", ")
            )
        }
    }
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

/// Whether a Customizer asks for its replacements and patches to be parameter-expanded.
pub fn customizer_expands(customizer: &Customizer) -> bool {
    customizer.meta.annotated(EXPAND_PARAMETERS, "true")
}

/// Customizes `object` for one destination: (a) when `expand` (the object is annotated
/// `edge.kubestellar.io/expand-parameters: "true"`), expands parameters in every leaf string;
/// (b) applies the Customizer's replacements in order, then its patches.
///
/// Returns `object` borrowed when nothing changes it (the common case: no `%`, no Customizer),
/// and an error, never a partly customized object, when any step fails.
pub fn customize<'v>(
    object: &'v Value,
    expand: bool,
    customizer: Option<&Customizer>,
    params: &Params<'_>,
) -> Result<Cow<'v, Value>, CustomizeError> {
    let mut expander = Expander::new(params);
    let expanded = if expand {
        expander.value(object)?
    } else {
        Cow::Borrowed(object)
    };
    let Some(customizer) = customizer else {
        expander.finish()?;
        return Ok(expanded);
    };
    // The Customizer's own references are kept apart, so that the problem can name it.
    let mut own = Expander::new(params);
    let edits = Edits::prepare(customizer, &mut own, expander.has_missing())?;
    // Undefined parameters of the object and of the Customizer are reported together.
    match (expander.finish(), own.finish()) {
        (Ok(()), Ok(())) => {}
        (Err(e), Ok(())) => return Err(e),
        (
            object_missing,
            Err(CustomizeError::UndefinedParameters {
                names: in_customizer,
                ..
            }),
        ) => {
            let mut names: BTreeSet<String> = in_customizer.iter().cloned().collect();
            if let Err(CustomizeError::UndefinedParameters {
                names: in_object, ..
            }) = object_missing
            {
                names.extend(in_object);
            }
            return Err(CustomizeError::UndefinedParameters {
                names: names.into_iter().collect(),
                customizer: Some(CustomizerUse {
                    customizer: format!(
                        "{}/{}",
                        customizer.meta.namespace.as_deref().unwrap_or_default(),
                        customizer.meta.name
                    ),
                    file: customizer.file.clone(),
                    names: in_customizer,
                }),
            });
        }
        (_, Err(e)) => return Err(e),
    }
    if edits.is_empty() {
        return Ok(expanded);
    }
    let mut object = expanded.into_owned();
    edits.apply(&mut object)?;
    Ok(Cow::Owned(object))
}

/// The parameter names that customizing an object needs (built-ins included): destinations
/// that agree on all of them get the same result, so the caller may compute it once.
pub fn parameters_needed(
    object: &Value,
    expand: bool,
    customizer: Option<&Customizer>,
) -> Result<BTreeSet<String>, CustomizeError> {
    let mut names = if expand {
        parameters_used(object)?
    } else {
        BTreeSet::new()
    };
    if let Some(customizer) = customizer.filter(|c| customizer_expands(c)) {
        for replacement in &customizer.replacements {
            parameters_used_str(&replacement.path, &mut names)?;
            parameters_used_str(&replacement.value, &mut names)?;
        }
        if let Some(patches) = &customizer.patches {
            names.extend(parameters_used(patches)?);
        }
    }
    Ok(names)
}

/// Checks what can be checked of a Customizer without a destination: path syntax, JSON values and
/// the patch document, for the parts that contain no parameter reference (those depend on the
/// destination). Lets a validator report a broken Customizer once rather than per destination.
pub fn check_customizer(customizer: &Customizer) -> Result<(), CustomizeError> {
    let expands = customizer_expands(customizer);
    let mut unused = BTreeSet::new();
    for (index, replacement) in customizer.replacements.iter().enumerate() {
        if expands {
            parameters_used_str(&replacement.path, &mut unused)?;
            parameters_used_str(&replacement.value, &mut unused)?;
        }
        if !expands || !replacement.path.contains('%') {
            parse_path(index, &replacement.path)?;
        }
        if !expands || !replacement.value.contains('%') {
            parse_value(index, &replacement.value)?;
        }
    }
    if let Some(patches) = &customizer.patches {
        if expands {
            parameters_used(patches)?;
        }
        if !expands || !expand::contains_percent(patches) {
            patch::parse(patches)?;
        }
    }
    Ok(())
}

/// A Customizer's edits, expanded and parsed for one destination.
struct Edits {
    replacements: Vec<(usize, JsonPath, Value)>,
    patch: Option<json_patch::Patch>,
}

impl Edits {
    /// Expands (when the Customizer asks) and parses every edit. Undefined parameters are left
    /// in `expander`; parse errors of text holding one would only be noise, so an undefined
    /// parameter (here, or in the object: `object_missing`) stops parsing and the caller reports
    /// the names.
    fn prepare(
        customizer: &Customizer,
        expander: &mut Expander<'_, '_>,
        object_missing: bool,
    ) -> Result<Self, CustomizeError> {
        let expands = customizer_expands(customizer);
        let mut texts = Vec::with_capacity(customizer.replacements.len());
        for replacement in &customizer.replacements {
            if expands {
                texts.push((
                    expander.string(&replacement.path)?,
                    expander.string(&replacement.value)?,
                ));
            } else {
                texts.push((
                    Cow::Borrowed(replacement.path.as_str()),
                    Cow::Borrowed(replacement.value.as_str()),
                ));
            }
        }
        let patches = match &customizer.patches {
            Some(patches) if expands => Some(expander.value(patches)?),
            Some(patches) => Some(Cow::Borrowed(patches)),
            None => None,
        };
        if object_missing || expander.has_missing() {
            return Ok(Self {
                replacements: Vec::new(),
                patch: None,
            });
        }
        let mut replacements = Vec::with_capacity(texts.len());
        for (index, (path, value)) in texts.iter().enumerate() {
            replacements.push((index, parse_path(index, path)?, parse_value(index, value)?));
        }
        let patch = match patches {
            Some(patches) => patch::parse(&patches)?,
            None => None,
        };
        Ok(Self {
            replacements,
            patch,
        })
    }

    fn is_empty(&self) -> bool {
        self.replacements.is_empty() && self.patch.is_none()
    }

    fn apply(&self, object: &mut Value) -> Result<(), CustomizeError> {
        for (index, path, value) in &self.replacements {
            path.set(object, value)
                .map_err(|e| CustomizeError::PathNotWritable {
                    index: *index,
                    path: path.as_str().to_owned(),
                    reason: e.reason,
                })?;
        }
        if let Some(p) = &self.patch {
            patch::apply(object, p)?;
        }
        Ok(())
    }
}

fn parse_path(index: usize, path: &str) -> Result<JsonPath, CustomizeError> {
    JsonPath::parse(path).map_err(|e| CustomizeError::BadPath {
        index,
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn parse_value(index: usize, value: &str) -> Result<Value, CustomizeError> {
    serde_json::from_str(value).map_err(|e| CustomizeError::BadValue {
        index,
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
