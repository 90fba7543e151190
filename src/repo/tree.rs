//! Tree: building, editing, reading and comparing git trees in memory.
//!
//! Input: the files of a ref ([`Files`], as the pure `mailbox` and `status` stages compute them),
//! edits to an existing tree ([`TreeEdits`]), or two tree ids. Output: tree ids (the trees hashed
//! into the writer's [`Objects`], stored only if a ref that reaches them moves), the id a path
//! names in a tree, and what changed between two trees as [`Changes`] ([`diff`]).
//!
//! Trees are read as raw git objects by one walker (`entries`): a gitstellar tree has thousands
//! of entries shared by thousands of refs, and libgit2's tree objects cost an allocation each.

use std::collections::BTreeMap;
use std::sync::Arc;

use git2::{Oid, Repository};

use super::owners::Paths;
use super::pack::{Objects, read_tree};
use super::write::{WriteError, git};
pub use gitstellar_core::tree::{
    Changes, Files, MAX_REF_COMPONENT, ref_name_fits, valid_component,
};

/// Edits to a tree: `/`-separated path → the new blob, or `None` to remove the file.
pub type TreeEdits = Vec<(String, Option<Oid>)>;

/// git's file mode of a directory and of a regular file in a tree.
pub(super) const TREE_MODE: u32 = 0o40000;
const FILE_MODE: u32 = 0o100644;

/// One entry of a raw tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RawEntry {
    pub(super) mode: u32,
    pub(super) name: String,
    pub(super) id: Oid,
}

/// The entries of a raw tree, in order: mode (octal text), name, id. Stops at the first entry
/// that is not well formed.
pub(super) fn entries(bytes: &[u8]) -> impl Iterator<Item = (&[u8], &[u8], Oid)> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let space = rest.iter().position(|&b| b == b' ')?;
        let nul = rest.iter().position(|&b| b == 0)?;
        let end = nul + 1 + 20;
        if nul < space || end > rest.len() {
            return None;
        }
        let id = Oid::from_bytes(&rest[nul + 1..end]).ok()?;
        let entry = (&rest[..space], &rest[space + 1..nul], id);
        rest = &rest[end..];
        Some(entry)
    })
}

/// The entries of a raw tree, in order.
pub(super) fn parse_tree(bytes: &[u8]) -> Vec<RawEntry> {
    entries(bytes)
        .map(|(mode, name, id)| RawEntry {
            mode: std::str::from_utf8(mode)
                .ok()
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .unwrap_or(FILE_MODE),
            name: String::from_utf8_lossy(name).into_owned(),
            id,
        })
        .collect()
}

/// The object ids a raw tree lists.
pub(super) fn tree_children(bytes: &[u8]) -> Vec<Oid> {
    entries(bytes).map(|(_, _, id)| id).collect()
}

/// git's sort key of a tree entry: its name, with `/` after a directory's.
fn git_order(entry: &RawEntry) -> Vec<u8> {
    let mut key = entry.name.as_bytes().to_vec();
    if entry.mode == TREE_MODE {
        key.push(b'/');
    }
    key
}

/// The raw tree of `entries` (sorted here).
fn encode_tree(mut entries: Vec<RawEntry>) -> Vec<u8> {
    entries.sort_by_key(git_order);
    let mut bytes = Vec::new();
    for e in &entries {
        bytes.extend_from_slice(format!("{:o} ", e.mode).as_bytes());
        bytes.extend_from_slice(e.name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(e.id.as_bytes());
    }
    bytes
}

/// A directory being hashed: its name, its raw entries so far, the names of its files (sorted).
#[derive(Default)]
struct Level<'p> {
    name: &'p str,
    entries: Vec<u8>,
    files: Vec<&'p str>,
}

/// What changed between two trees of `repo` (either may be absent: everything added or
/// removed): the file paths, `/`-separated, skipping identical subtrees. A file whose mode alone
/// changed (a symbolic link, an executable bit) counts as changed.
pub fn diff(repo: &Repository, old: Option<Oid>, new: Option<Oid>) -> Result<Changes, WriteError> {
    let odb = repo.odb().map_err(git("opening the object database"))?;
    let mut changes = Changes::default();
    diff_with(&|oid| read_tree(&odb, oid), old, new, "", &mut changes)?;
    Ok(changes)
}

type ReadTree<'r> = dyn Fn(Oid) -> Result<Arc<[u8]>, WriteError> + 'r;

/// The entries of a tree: name → (mode, id).
fn entry_map(
    read: &ReadTree<'_>,
    oid: Option<Oid>,
) -> Result<BTreeMap<String, (u32, Oid)>, WriteError> {
    let Some(oid) = oid else {
        return Ok(BTreeMap::new());
    };
    Ok(parse_tree(&read(oid)?)
        .into_iter()
        .map(|e| (e.name, (e.mode, e.id)))
        .collect())
}

fn diff_with(
    read: &ReadTree<'_>,
    old: Option<Oid>,
    new: Option<Oid>,
    prefix: &str,
    changes: &mut Changes,
) -> Result<(), WriteError> {
    if old == new {
        return Ok(());
    }
    let old_entries = entry_map(read, old)?;
    let new_entries = entry_map(read, new)?;
    let mut names: Vec<&String> = old_entries.keys().chain(new_entries.keys()).collect();
    names.sort();
    names.dedup();
    let is_tree = |e: Option<(u32, Oid)>| e.map(|(m, id)| (m == TREE_MODE, id));
    for name in names {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let (a, b) = (
            old_entries.get(name).copied(),
            new_entries.get(name).copied(),
        );
        match (is_tree(a), is_tree(b)) {
            (Some((true, a)), Some((true, b))) => {
                diff_with(read, Some(a), Some(b), &path, changes)?
            }
            (Some((true, a)), other) => {
                diff_with(read, Some(a), None, &path, changes)?;
                if let Some((false, _)) = other {
                    changes.added.push(path);
                }
            }
            (other, Some((true, b))) => {
                if let Some((false, _)) = other {
                    changes.removed.push(path.clone());
                }
                diff_with(read, None, Some(b), &path, changes)?;
            }
            (Some((false, _)), Some((false, _))) => {
                if a != b {
                    changes.changed.push(path);
                }
            }
            (Some((false, _)), None) => changes.removed.push(path),
            (None, Some((false, _))) => changes.added.push(path),
            (None, None) => {}
        }
    }
    Ok(())
}

impl Objects<'_> {
    /// What changed between two trees, built by this writer or in the object database.
    pub(super) fn diff(&self, old: Option<Oid>, new: Option<Oid>) -> Result<Changes, WriteError> {
        let mut changes = Changes::default();
        diff_with(&|oid| self.tree_bytes(oid), old, new, "", &mut changes)?;
        Ok(changes)
    }

    /// The id of what `path` (`/`-separated) names in `tree`, if anything.
    pub fn lookup(&self, tree: Oid, path: &str) -> Result<Option<Oid>, WriteError> {
        let mut current = tree;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let bytes = self.tree_bytes(current)?;
            let Some(entry) = parse_tree(&bytes).into_iter().find(|e| e.name == part) else {
                return Ok(None);
            };
            if parts.peek().is_none() {
                return Ok(Some(entry.id));
            }
            if entry.mode != TREE_MODE {
                return Ok(None);
            }
            current = entry.id;
        }
        Ok(None)
    }

    /// The tree `tip` (absent: empty) with the top-level entries `owns` names taken from `ours`
    /// instead: what a producer owning those paths writes on top of another producer's tip.
    pub fn graft(&mut self, tip: Option<Oid>, ours: Oid, owns: &Paths) -> Result<Oid, WriteError> {
        let Paths::Only(_) = owns else {
            return Ok(ours);
        };
        let mut kept: Vec<RawEntry> = match tip {
            Some(t) => parse_tree(&self.tree_bytes(t)?),
            None => Vec::new(),
        };
        kept.retain(|e| !owns.owns(&e.name));
        kept.extend(
            parse_tree(&self.tree_bytes(ours)?)
                .into_iter()
                .filter(|e| owns.owns(&e.name)),
        );
        self.hash_tree(encode_tree(kept))
    }

    /// Applies `edits` (`/`-separated path → new blob, or `None` to remove the file) to `tree` and
    /// returns the new tree's id: only the directories on the edited paths are rewritten, and a
    /// directory left empty is removed. Edits repeated on an identical subtree (as when every WEC
    /// gets the same change) are computed once.
    pub fn edit_tree(
        &mut self,
        tree: Oid,
        edits: &[(String, Option<Oid>)],
    ) -> Result<Oid, WriteError> {
        self.edit(Some(tree), edits)
    }

    /// [`Objects::edit_tree`] on a tree that may be absent (an empty tree).
    pub fn edit(
        &mut self,
        tree: Option<Oid>,
        edits: &[(String, Option<Oid>)],
    ) -> Result<Oid, WriteError> {
        match self.edit_subtree(tree, edits)? {
            Some(oid) => Ok(oid),
            None => self.hash_tree(Vec::new()),
        }
    }

    fn edit_subtree(
        &mut self,
        tree: Option<Oid>,
        edits: &[(String, Option<Oid>)],
    ) -> Result<Option<Oid>, WriteError> {
        let key = (tree, edits.to_vec());
        if let Some(done) = self.edited.get(&key) {
            return Ok(*done);
        }
        let mut entries = match tree {
            Some(t) => parse_tree(&self.tree_bytes(t)?),
            None => Vec::new(),
        };
        // Edits by the first component of their path; the rest of the path goes to the subtree.
        let mut by_dir: BTreeMap<&str, TreeEdits> = BTreeMap::new();
        for (path, blob) in edits {
            match path.split_once('/') {
                Some((dir, rest)) => {
                    if !valid_component(dir) {
                        return Err(WriteError::Path { path: path.clone() });
                    }
                    by_dir
                        .entry(dir)
                        .or_default()
                        .push((rest.to_string(), *blob));
                }
                None => {
                    if !valid_component(path) {
                        return Err(WriteError::Path { path: path.clone() });
                    }
                    if entries
                        .iter()
                        .any(|e| e.name == *path && e.mode == TREE_MODE)
                    {
                        return Err(WriteError::FileAndDirectory { path: path.clone() });
                    }
                    entries.retain(|e| e.name != *path);
                    if let Some(id) = blob {
                        entries.push(RawEntry {
                            mode: FILE_MODE,
                            name: path.clone(),
                            id: *id,
                        });
                    }
                }
            }
        }
        for (dir, sub_edits) in by_dir {
            let existing = entries.iter().position(|e| e.name == dir);
            let sub = match existing.map(|i| &entries[i]) {
                Some(e) if e.mode == TREE_MODE => Some(e.id),
                Some(_) => {
                    return Err(WriteError::FileAndDirectory { path: dir.into() });
                }
                None => None,
            };
            let new = self.edit_subtree(sub, &sub_edits)?;
            if let Some(i) = existing {
                entries.remove(i);
            }
            if let Some(id) = new {
                entries.push(RawEntry {
                    mode: TREE_MODE,
                    name: dir.to_string(),
                    id,
                });
            }
        }
        let result = if entries.is_empty() {
            None
        } else {
            Some(self.hash_tree(encode_tree(entries))?)
        };
        self.edited.insert(key, result);
        Ok(result)
    }

    /// Hashes `files` as a tree, remembering every object, and returns the root tree's id.
    ///
    /// `files` is sorted by path, which is also git's order of tree entries (a directory's name
    /// sorts as if it ended in `/`, and `/` is exactly what follows it in a path), so each tree is
    /// complete, in order, when the walk leaves its directory: no nested maps are built.
    pub fn build_tree(&mut self, files: &Files) -> Result<Oid, WriteError> {
        let mut stack: Vec<Level<'_>> = vec![Level::default()];
        let mut dirs: Vec<&str> = Vec::new();
        for (path, content) in files {
            let path: &str = path;
            dirs.clear();
            dirs.extend(path.split('/'));
            let Some(file) = dirs.pop() else {
                return Err(WriteError::Path { path: path.into() });
            };
            if !valid_component(file) {
                return Err(WriteError::Path { path: path.into() });
            }
            // How many of the open directories (below the root) this path shares.
            let common = dirs
                .iter()
                .zip(stack.iter().skip(1))
                .take_while(|(d, level)| **d == level.name)
                .count();
            while stack.len() > common + 1 {
                self.close_dir(&mut stack)?;
            }
            // The shared directories were checked when they were opened.
            if dirs[common..].iter().any(|d| !valid_component(d)) {
                return Err(WriteError::Path { path: path.into() });
            }
            for d in &dirs[common..] {
                if stack
                    .last()
                    .is_some_and(|l| l.files.binary_search(d).is_ok())
                {
                    return Err(WriteError::FileAndDirectory { path: path.into() });
                }
                stack.push(Level {
                    name: d,
                    ..Level::default()
                });
            }
            let oid = self.blob(content)?;
            if let Some(level) = stack.last_mut() {
                level.entries.extend_from_slice(b"100644 ");
                level.entries.extend_from_slice(file.as_bytes());
                level.entries.push(0);
                level.entries.extend_from_slice(oid.as_bytes());
                level.files.push(file);
            }
        }
        while stack.len() > 1 {
            self.close_dir(&mut stack)?;
        }
        let root = stack.pop().unwrap_or_default();
        self.hash_tree(root.entries)
    }

    /// Hashes the innermost open directory and adds it to its parent.
    fn close_dir(&mut self, stack: &mut Vec<Level<'_>>) -> Result<(), WriteError> {
        let Some(level) = stack.pop() else {
            return Ok(());
        };
        let oid = self.hash_tree(level.entries)?;
        if let Some(parent) = stack.last_mut() {
            parent.entries.extend_from_slice(b"40000 ");
            parent.entries.extend_from_slice(level.name.as_bytes());
            parent.entries.push(0);
            parent.entries.extend_from_slice(oid.as_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::ObjectType;
    use proptest::prelude::*;

    /// Paths over a small alphabet, so that edits hit existing files and directories; directory
    /// and file names differ, so that no path is both.
    fn path() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..3),
            prop::sample::select(vec!["x.yaml", "y.yaml", "a.yaml", "a0"]),
        )
            .prop_map(|(dirs, file)| {
                let mut parts: Vec<&str> = dirs;
                parts.push(file);
                parts.join("/")
            })
    }

    fn files_of(map: &BTreeMap<String, u8>) -> Files {
        map.iter()
            .map(|(p, c)| (Arc::from(p.as_str()), Arc::from(vec![*c; 3])))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Editing a tree gives the tree built from the edited files: same id.
        #[test]
        fn edited_trees_equal_built_trees(
            before in prop::collection::btree_map(path(), 0u8..4, 0..12),
            edits in prop::collection::btree_map(path(), prop::option::of(0u8..4), 1..6),
        ) {
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let repo = Repository::init_bare(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut writer = Objects::new(&repo).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let base = writer.build_tree(&files_of(&before)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut after = before.clone();
            let mut changes = Vec::new();
            for (path, content) in &edits {
                let blob = match content {
                    Some(c) => {
                        after.insert(path.clone(), *c);
                        Some(writer.blob(&Arc::from(vec![*c; 3])).map_err(|e| TestCaseError::fail(e.to_string()))?)
                    }
                    None => {
                        after.remove(path);
                        None
                    }
                };
                changes.push((path.clone(), blob));
            }
            let edited = writer.edit_tree(base, &changes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let built = writer.build_tree(&files_of(&after)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(edited, built);
            for (path, c) in &after {
                let blob = Oid::hash_object(ObjectType::Blob, &[*c; 3]).ok();
                prop_assert_eq!(writer.lookup(edited, path).ok().flatten(), blob);
            }
        }
    }

    #[test]
    fn editing_refuses_a_file_over_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let mut writer = Objects::new(&repo).expect("writer");
        let files: Files = [(Arc::from("a/x.yaml"), Arc::from(b"x".to_vec()))]
            .into_iter()
            .collect();
        let base = writer.build_tree(&files).expect("tree");
        let blob = writer.blob(&Arc::from(b"y".to_vec())).expect("blob");
        assert!(matches!(
            writer.edit_tree(base, &[("a".into(), Some(blob))]),
            Err(WriteError::FileAndDirectory { .. })
        ));
        assert!(matches!(
            writer.edit_tree(base, &[("a/../x".into(), Some(blob))]),
            Err(WriteError::Path { .. })
        ));
    }

    #[test]
    fn tree_children_lists_ids() {
        let a = Oid::hash_object(ObjectType::Blob, b"a").unwrap_or(Oid::ZERO_SHA1);
        let mut bytes = b"100644 x\0".to_vec();
        bytes.extend_from_slice(a.as_bytes());
        bytes.extend_from_slice(b"40000 y\0");
        bytes.extend_from_slice(a.as_bytes());
        assert_eq!(tree_children(&bytes), vec![a, a]);
    }

    /// The public diff names the paths git's own diff names.
    #[test]
    fn diff_agrees_with_git() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let mut objects = Objects::new(&repo).expect("objects");
        let file = |p: &str, c: &str| (Arc::from(p), Arc::from(c.as_bytes().to_vec()));
        let before: Files = [
            file("a/x.yaml", "1"),
            file("a/y.yaml", "2"),
            file("b", "3"),
            file("c/d/e.yaml", "4"),
        ]
        .into_iter()
        .collect();
        let after: Files = [
            file("a/x.yaml", "1"),
            file("a/y.yaml", "changed"),
            file("b/now-a-dir.yaml", "3"),
            file("f.yaml", "5"),
        ]
        .into_iter()
        .collect();
        let old = objects.build_tree(&before).expect("tree");
        let new = objects.build_tree(&after).expect("tree");
        objects.store(old).expect("store");
        objects.store(new).expect("store");
        objects.flush().expect("flush");
        let ours = diff(&repo, Some(old), Some(new)).expect("diff");
        assert_eq!(ours.added, vec!["b/now-a-dir.yaml", "f.yaml"]);
        assert_eq!(ours.changed, vec!["a/y.yaml"]);
        assert_eq!(ours.removed, vec!["b", "c/d/e.yaml"]);
        let (a, b) = (
            repo.find_tree(old).expect("old"),
            repo.find_tree(new).expect("new"),
        );
        let theirs = repo
            .diff_tree_to_tree(Some(&a), Some(&b), None)
            .expect("git diff");
        let mut git_paths: Vec<String> = theirs
            .deltas()
            .filter_map(|d| {
                d.new_file()
                    .path()
                    .and_then(|p| p.to_str())
                    .map(String::from)
            })
            .collect();
        git_paths.sort();
        let mut all: Vec<String> = ours
            .added
            .iter()
            .chain(&ours.changed)
            .chain(&ours.removed)
            .cloned()
            .collect();
        all.sort();
        assert_eq!(all, git_paths);
        assert_eq!(
            diff(&repo, None, Some(old)).expect("diff").added.len(),
            before.len()
        );
    }

    /// A graft keeps the tip's other entries and takes only the owned ones from ours.
    #[test]
    fn graft_takes_only_the_owned_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let mut objects = Objects::new(&repo).expect("objects");
        let file = |p: &str, c: &str| (Arc::from(p), Arc::from(c.as_bytes().to_vec()));
        let tip: Files = [
            file("placements/w/p.yaml", "old"),
            file("reported/f/s.yaml", "theirs"),
        ]
        .into_iter()
        .collect();
        let ours: Files = [
            file("placements/w/p.yaml", "new"),
            file("problems.yaml", "[]"),
        ]
        .into_iter()
        .collect();
        let (tip, ours) = (
            objects.build_tree(&tip).expect("tree"),
            objects.build_tree(&ours).expect("tree"),
        );
        let owns = Paths::Only(&["placements/", "problems.yaml"]);
        let grafted = objects.graft(Some(tip), ours, &owns).expect("graft");
        let want: Files = [
            file("placements/w/p.yaml", "new"),
            file("problems.yaml", "[]"),
            file("reported/f/s.yaml", "theirs"),
        ]
        .into_iter()
        .collect();
        assert_eq!(grafted, objects.build_tree(&want).expect("tree"));
        assert_eq!(
            objects.graft(Some(tip), ours, &Paths::All).expect("graft"),
            ours
        );
    }
}
