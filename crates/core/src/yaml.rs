//! YAML, read and written in one place: the dialect the loader reads source files in, and the one
//! serializer configuration of every YAML file gitstellar writes (mailbox files, status files,
//! sync records, `-o yaml`).
//!
//! Inputs: YAML text, or a serializable value. Outputs: values (`serde_json::Value` or typed), or
//! YAML text. Errors are serde-saphyr's, kept whole in a [`YamlError`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why YAML could not be read or written: serde-saphyr's error, kept as it is (its message is the
/// message, so what gitstellar printed before stays the same).
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The text is not YAML, or not of the shape asked for.
    #[error(transparent)]
    Read(serde_saphyr::Error),
    /// The value cannot be written as YAML.
    #[error(transparent)]
    Write(serde_saphyr::SerializeError),
}

/// The deepest nesting of maps and lists a YAML file may have.
pub const MAX_DEPTH: usize = 128;

/// The loader's dialect: YAML 1.2 booleans (`yes` stays a string), legacy octal (`0644`) read as
/// kubectl reads it, duplicate keys an error, and serde-saphyr's budgets sized for this input.
///
/// The budgets are per file and grow with it, so that nothing that fits in the loader's size
/// limit is refused for its number of documents or nodes (serde-saphyr's defaults, 1,024
/// documents and 250,000 nodes per input, reject a one-file inventory of a few hundred WECs): a
/// node or an event takes at least a byte of YAML, so only aliases could exceed these, and alias
/// expansion keeps serde-saphyr's own limits (50,000 aliases, 1,000,000 replayed events per file).
fn source_options(input_bytes: usize) -> serde_saphyr::Options {
    serde_saphyr::options! {
        legacy_octal_numbers: true,
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            // CRD schemas nest deeply; serde_json's own limit is 128, so go no further than that.
            max_depth: MAX_DEPTH,
            max_documents: input_bytes.saturating_add(1),
            max_nodes: input_bytes.max(250_000),
            max_events: input_bytes.saturating_mul(2).saturating_add(16).max(1_000_000),
        },
    }
}

/// Every document of a source file, in the loader's dialect, each with where it starts.
pub fn source_documents(text: &str) -> Result<Vec<serde_saphyr::Spanned<Value>>, YamlError> {
    serde_saphyr::from_multiple_with_options(text, source_options(text.len()))
        .map_err(YamlError::Read)
}

/// One document read as `T` (gitstellar's own files: status, mailbox configuration, records).
pub fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, YamlError> {
    serde_saphyr::from_str(text).map_err(YamlError::Read)
}

/// A value written as YAML, the one way every YAML file of gitstellar is written.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    serde_saphyr::to_string(value).map_err(YamlError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_and_reads_back() {
        let value = json!({"a": 1, "b": ["x", "yes"], "c": {"d": null}});
        let text = to_string(&value).unwrap();
        assert_eq!(text, "a: 1\nb:\n- x\n- \"yes\"\nc:\n  d: null\n");
        assert_eq!(from_str::<Value>(&text).unwrap(), value);
    }

    #[test]
    fn source_dialect_keeps_yes_a_string_and_reads_octal() {
        let docs = source_documents("a: yes\nb: 0644\n---\nc: 1\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value, json!({"a": "yes", "b": 420}));
        // The second document's content starts on line 4, after its `---`.
        assert_eq!(docs[1].referenced.line(), 4);
    }

    #[test]
    fn duplicate_keys_and_bad_text_are_read_errors() {
        assert!(matches!(
            source_documents("a: 1\na: 2\n"),
            Err(YamlError::Read(_))
        ));
        assert!(matches!(
            from_str::<Value>("a: [1"),
            Err(YamlError::Read(_))
        ));
    }
}
