//! Tree types: the files of one gitstellar ref as plain data, what changed between two of them,
//! and the naming rules a path or ref component must meet. Inputs: nothing but paths and bytes.
//! Outputs: [`Files`], [`Changes`] and the checks the renderers ([`crate::mailbox`],
//! [`crate::status`]) apply before they name a file; the root crate's `repo` turns them into git
//! objects.

use std::collections::BTreeMap;
use std::sync::Arc;

/// The files of one ref's tree: `/`-separated path → content.
pub type Files = BTreeMap<Arc<str>, Arc<[u8]>>;

/// What changed in one ref's files, as paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths that are new.
    pub added: Vec<String>,
    /// Paths whose content changed.
    pub changed: Vec<String>,
    /// Paths that are gone.
    pub removed: Vec<String>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// How many files under `dir` were added, changed and removed, for a commit subject:
    /// `3 objects added, 1 changed, 1 removed` (`noun` is the singular and plural); `None` when
    /// none was.
    pub fn count_under(&self, dir: &str, noun: (&str, &str)) -> Option<String> {
        let under = |paths: &[String]| {
            paths
                .iter()
                .filter(|p| p.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
                .count()
        };
        let mut counts: Vec<String> = Vec::new();
        for (n, verb) in [
            (under(&self.added), "added"),
            (under(&self.changed), "changed"),
            (under(&self.removed), "removed"),
        ] {
            if n == 0 {
                continue;
            }
            if counts.is_empty() {
                let noun = if n == 1 { noun.0 } else { noun.1 };
                counts.push(format!("{n} {noun} {verb}"));
            } else {
                counts.push(format!("{n} {verb}"));
            }
        }
        (!counts.is_empty()).then(|| counts.join(", "))
    }
}

/// The longest name of one ref component that a file system holds as a loose ref and its lock
/// file (`<name>.lock`): 255 bytes, the usual limit of a file name, less `.lock`.
pub const MAX_REF_COMPONENT: usize = 255 - ".lock".len();

/// Whether a ref name can be held by the file system as a loose ref: no component longer than
/// [`MAX_REF_COMPONENT`] bytes (git itself accepts any length).
pub fn ref_name_fits(name: &str) -> bool {
    name.split('/').all(|c| c.len() <= MAX_REF_COMPONENT)
}

/// A path component git accepts in a tree and that checks out safely everywhere.
pub fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && c != "."
        && c != ".."
        && !c.eq_ignore_ascii_case(".git")
        && !c.bytes().any(|b| b == 0 || b == b'/' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_that_do_not_check_out_safely_are_refused() {
        for bad in ["", ".", "..", ".GIT", "a/b", "a\\b", "a\0b"] {
            assert!(!valid_component(bad), "{bad:?}");
        }
        assert!(valid_component("florin.yaml"));
    }

    #[test]
    fn a_component_longer_than_a_file_name_does_not_fit() {
        let long = "x".repeat(MAX_REF_COMPONENT + 1);
        assert!(ref_name_fits("refs/heads/gitstellar/mailbox/florin"));
        assert!(!ref_name_fits(&format!(
            "refs/heads/gitstellar/mailbox/{long}"
        )));
    }

    #[test]
    fn counts_under_a_directory_name_the_noun_once() {
        let changes = Changes {
            added: vec!["objects/a".into(), "objects/b".into(), "other/c".into()],
            changed: vec!["objects/d".into()],
            removed: vec![],
        };
        assert_eq!(
            changes
                .count_under("objects", ("object", "objects"))
                .as_deref(),
            Some("2 objects added, 1 changed")
        );
        assert_eq!(changes.count_under("none", ("x", "xs")), None);
    }
}
