//! Ref owners: which producer may write which gitstellar ref, and which paths of that ref's tree
//! (docs/refs.md, *Who writes what*). Input: a [`Producer`], a ref name and the [`Paths`] an
//! intent claims. Output: whether the table grants them, and whether a path is among them.
//!
//! This is the one place the table lives; the committer ([`super::commit`]) checks every intent
//! against it, and every change an intent makes against the paths it claimed. Owned paths are
//! top-level entries of the ref's tree (a directory, written `placements/`, or a file, written
//! `problems.yaml`), so that keeping another producer's paths costs one root tree, not a walk.

use std::fmt;

/// Who writes a gitstellar ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Producer {
    /// The reconcile pass: every mailbox, and the status branch's placements and problems.
    Pass,
    /// The sync recording of `reconcile --sync`: every WEC's reported ref.
    SyncRecord,
    /// A WEC's agent (pull mode), named by its WEC: that WEC's reported ref only.
    Agent(String),
    /// The status fold (coming next): the returned status on the status branch.
    StatusFold,
}

impl fmt::Display for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Producer::Pass => f.write_str("the reconcile pass"),
            Producer::SyncRecord => f.write_str("the sync recording"),
            Producer::Agent(wec) => write!(f, "the agent of {wec}"),
            Producer::StatusFold => f.write_str("the status fold"),
        }
    }
}

/// Paths of a ref's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paths {
    /// The whole tree (and the ref itself: only its owner deletes it).
    All,
    /// These top-level entries: `name/` a directory and everything in it, `name` a file.
    Only(&'static [&'static str]),
}

impl Paths {
    /// Whether `path` (`/`-separated, from the tree's root) is among these paths.
    pub fn owns(&self, path: &str) -> bool {
        match self {
            Paths::All => true,
            Paths::Only(entries) => {
                let top = path.split('/').next().unwrap_or(path);
                entries.iter().any(|e| e.trim_end_matches('/') == top)
            }
        }
    }

    /// Whether every path these name is also named by `granted`.
    pub fn within(&self, granted: &Paths) -> bool {
        match (self, granted) {
            (_, Paths::All) => true,
            (Paths::All, Paths::Only(_)) => false,
            (Paths::Only(mine), Paths::Only(_)) => mine.iter().all(|e| granted.owns(e)),
        }
    }
}

impl fmt::Display for Paths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Paths::All => f.write_str("the whole tree"),
            Paths::Only(entries) => f.write_str(&entries.join(", ")),
        }
    }
}

/// The refs one row of the table names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refs {
    /// Exactly this ref.
    Exact(&'static str),
    /// Every ref directly under this prefix (`<prefix><name>`).
    Under(&'static str),
    /// The ref `<prefix><wec>` of the producer's own WEC ([`Producer::Agent`]).
    OwnWec(&'static str),
}

impl Refs {
    fn matches(&self, producer: &Producer, name: &str) -> bool {
        let rest = match self {
            Refs::Exact(exact) => return name == *exact,
            Refs::Under(prefix) | Refs::OwnWec(prefix) => name.strip_prefix(prefix),
        };
        match (self, rest) {
            (_, None) => false,
            (_, Some(r)) if r.is_empty() || r.contains('/') => false,
            (Refs::OwnWec(_), Some(r)) => matches!(producer, Producer::Agent(wec) if wec == r),
            _ => true,
        }
    }
}

/// The kind of a producer, as the table names it (an agent's WEC is matched by [`Refs::OwnWec`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerKind {
    /// [`Producer::Pass`].
    Pass,
    /// [`Producer::SyncRecord`].
    SyncRecord,
    /// [`Producer::Agent`].
    Agent,
    /// [`Producer::StatusFold`].
    StatusFold,
}

impl Producer {
    /// Its kind, as the table names it.
    pub fn kind(&self) -> ProducerKind {
        match self {
            Producer::Pass => ProducerKind::Pass,
            Producer::SyncRecord => ProducerKind::SyncRecord,
            Producer::Agent(_) => ProducerKind::Agent,
            Producer::StatusFold => ProducerKind::StatusFold,
        }
    }
}

/// One row of the table: a producer may write these paths of these refs.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    /// Who.
    pub producer: ProducerKind,
    /// Which refs.
    pub refs: Refs,
    /// Which paths of their trees.
    pub paths: Paths,
}

/// The status branch's paths the reconcile pass writes.
pub const PASS_STATUS_PATHS: Paths = Paths::Only(&["placements/", "problems.yaml"]);

/// The status branch's paths the status fold will write.
pub const FOLD_STATUS_PATHS: Paths = Paths::Only(&["reported/", "upsynced/", "wds/", "summaries/"]);

/// The prefix of every WEC's reported ref (the sync module names the same).
pub const REPORTED_PREFIX: &str = "refs/heads/gitstellar/reported/";

/// Who writes what (docs/refs.md). A producer writes only a ref a row grants it, and only the
/// paths that row names; two rows of one ref never share a path.
pub const OWNERS: &[Owner] = &[
    Owner {
        producer: ProducerKind::Pass,
        refs: Refs::Under(crate::mailbox::REF_PREFIX),
        paths: Paths::All,
    },
    Owner {
        producer: ProducerKind::Pass,
        refs: Refs::Exact(crate::status::REF),
        paths: PASS_STATUS_PATHS,
    },
    Owner {
        producer: ProducerKind::StatusFold,
        refs: Refs::Exact(crate::status::REF),
        paths: FOLD_STATUS_PATHS,
    },
    Owner {
        producer: ProducerKind::SyncRecord,
        refs: Refs::Under(REPORTED_PREFIX),
        paths: Paths::All,
    },
    Owner {
        producer: ProducerKind::Agent,
        refs: Refs::OwnWec(REPORTED_PREFIX),
        paths: Paths::All,
    },
];

/// The paths of `name` the table grants `producer`, if it grants any.
pub fn granted(producer: &Producer, name: &str) -> Option<Paths> {
    OWNERS
        .iter()
        .find(|o| o.producer == producer.kind() && o.refs.matches(producer, name))
        .map(|o| o.paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAILBOX: &str = "refs/heads/gitstellar/mailbox/florin";
    const STATUS: &str = crate::status::REF;

    #[test]
    fn the_pass_owns_mailboxes_and_its_status_paths() {
        assert_eq!(granted(&Producer::Pass, MAILBOX), Some(Paths::All));
        assert_eq!(granted(&Producer::Pass, STATUS), Some(PASS_STATUS_PATHS));
        assert_eq!(
            granted(&Producer::Pass, "refs/heads/gitstellar/reported/florin"),
            None
        );
        assert_eq!(granted(&Producer::Pass, "refs/heads/main"), None);
        // Only one level under the prefix: no `mailbox/a/b`, no bare prefix.
        assert_eq!(granted(&Producer::Pass, &format!("{MAILBOX}/x")), None);
        assert_eq!(granted(&Producer::Pass, crate::mailbox::REF_PREFIX), None);
        assert!(PASS_STATUS_PATHS.owns("placements/wmw-s/ep.yaml"));
        assert!(PASS_STATUS_PATHS.owns("problems.yaml"));
        assert!(!PASS_STATUS_PATHS.owns("reported/florin/sync.yaml"));
        assert!(!PASS_STATUS_PATHS.owns("problems.yaml.bak"));
        assert!(!PASS_STATUS_PATHS.owns("placementsx/a"));
    }

    #[test]
    fn an_agent_owns_only_its_own_reported_ref() {
        let agent = Producer::Agent("florin".into());
        assert_eq!(
            granted(&agent, "refs/heads/gitstellar/reported/florin"),
            Some(Paths::All)
        );
        assert_eq!(
            granted(&agent, "refs/heads/gitstellar/reported/guilder"),
            None
        );
        assert_eq!(granted(&agent, MAILBOX), None);
        assert_eq!(granted(&agent, STATUS), None);
        assert_eq!(
            granted(
                &Producer::SyncRecord,
                "refs/heads/gitstellar/reported/guilder"
            ),
            Some(Paths::All)
        );
        assert_eq!(granted(&Producer::SyncRecord, STATUS), None);
    }

    #[test]
    fn the_fold_owns_the_returned_status_only() {
        assert_eq!(
            granted(&Producer::StatusFold, STATUS),
            Some(FOLD_STATUS_PATHS)
        );
        assert_eq!(granted(&Producer::StatusFold, MAILBOX), None);
        assert!(FOLD_STATUS_PATHS.owns("reported/florin/x.yaml"));
        assert!(!FOLD_STATUS_PATHS.owns("problems.yaml"));
        assert!(!PASS_STATUS_PATHS.within(&FOLD_STATUS_PATHS));
        assert!(Paths::Only(&["wds/"]).within(&FOLD_STATUS_PATHS));
        assert!(!Paths::All.within(&FOLD_STATUS_PATHS));
    }

    /// Two rows of one ref never share a path: the committer's re-run keeps each one's paths.
    #[test]
    fn no_two_owners_share_a_path() {
        for (i, a) in OWNERS.iter().enumerate() {
            for b in &OWNERS[i + 1..] {
                if a.refs != b.refs {
                    continue;
                }
                let overlap = match (a.paths, b.paths) {
                    (Paths::Only(x), Paths::Only(_)) => x.iter().any(|e| b.paths.owns(e)),
                    _ => true,
                };
                assert!(!overlap, "{:?} and {:?} share paths", a, b);
            }
        }
    }

    #[test]
    fn the_reported_prefix_is_the_sync_modules() {
        assert_eq!(REPORTED_PREFIX, crate::sync::fleet::REPORTED_PREFIX);
    }
}
