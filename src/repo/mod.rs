//! Repo: reading a revision of the source repo with git2, without a checkout.
//!
//! Input: a path (a repository, or a directory inside one, which then becomes the root of the
//! layout) and a revision. Output: the [`SourceFile`]s of the layout root at that revision (or in
//! the working tree), which [`crate::model::load()`] turns into a [`Snapshot`].
//!
//! A source tracks one branch (design §9.17): `--branch`, else the repository's default branch
//! ([`SourceRepo::default_branch`]), never whatever is checked out. [`SourceRepo::track`] resolves
//! it; the committer then knows which newer revisions still count (see [`commit`](mod@commit)).
//!
//! Writing: [`commit`] (the committer every ref moves through, with the owners table of
//! [`owners`]), built on [`pack`], [`tree`] and [`refs`]; [`remote`] fetches and pushes.

pub mod commit;
pub mod owners;
pub mod pack;
pub mod refs;
pub mod remote;
pub mod tree;
pub mod write;

use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, Tree};

use crate::model::{self, Snapshot, SourceFile};

/// Why a revision could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The path is not in a git repository.
    #[error("{path}: not a git repository (or a directory inside one)")]
    Open {
        /// The path given.
        path: PathBuf,
        /// git's reason.
        source: git2::Error,
    },
    /// The path does not exist or cannot be resolved.
    #[error("{path}")]
    Path {
        /// The path given.
        path: PathBuf,
        /// The I/O reason.
        source: std::io::Error,
    },
    /// The revision does not name a commit.
    #[error("revision {rev:?} does not name a commit")]
    Revision {
        /// The revision given.
        rev: String,
        /// git's reason.
        source: git2::Error,
    },
    /// The layout root does not exist at that revision.
    #[error("directory {dir:?} does not exist at revision {rev}")]
    MissingRoot {
        /// The layout root, relative to the repository.
        dir: String,
        /// The commit id.
        rev: String,
    },
    /// Reading git objects failed.
    #[error("reading {what}")]
    Git {
        /// What was being read.
        what: String,
        /// git's reason.
        source: git2::Error,
    },
    /// Reading the working tree failed.
    #[error("reading {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O reason.
        source: std::io::Error,
    },
    /// `--worktree` on a bare repository.
    #[error("{path}: a bare repository has no working tree")]
    Bare {
        /// The repository.
        path: PathBuf,
    },
    /// The tracked branch does not exist.
    #[error("branch {branch:?} does not exist{hint}")]
    NoBranch {
        /// The branch.
        branch: String,
        /// What to do instead, when it can be said.
        hint: String,
    },
    /// No branch given and none of the default branches exists.
    #[error(
        "{path}: no branch to track: origin/HEAD is not set and there is no branch main or master; give --branch"
    )]
    NoDefaultBranch {
        /// The repository.
        path: PathBuf,
    },
    /// `--rev` names a commit that is not on the tracked branch's history.
    #[error(
        "revision {rev:?} ({commit}) is not on the history of the tracked branch {branch:?}; give --branch to reconcile another branch"
    )]
    OffBranch {
        /// The revision given.
        rev: String,
        /// The commit it names.
        commit: String,
        /// The tracked branch.
        branch: String,
    },
}

/// What a libgit2 error says, without libgit2's `class=...; code=...` suffix (for programs, not
/// people): the one way a [`git2::Error`] is shown to a user.
pub fn git_message(e: &git2::Error) -> String {
    let message = e.message().trim();
    if message.is_empty() {
        "git failed".to_string()
    } else {
        message.to_string()
    }
}

/// An error and its causes, `outer: cause: cause`, as a user reads them: a [`git2::Error`] by its
/// message alone ([`git_message`]), and a cause whose text an outer message already holds not
/// repeated.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = match e.downcast_ref::<git2::Error>() {
            Some(g) => git_message(g),
            None => e.to_string(),
        };
        // Errors that embed their source (kube's repeat theirs) would otherwise say it twice.
        let repeated = parts.iter().any(|told| {
            told.contains(&text)
                || e.downcast_ref::<git2::Error>()
                    .is_some_and(|g| told.contains(&g.to_string()))
        });
        if !repeated && !text.is_empty() {
            parts.push(text);
        }
        next = e.source();
    }
    parts
        .iter()
        .map(|p| strip_git_suffix(p))
        .collect::<Vec<_>>()
        .join(": ")
}

/// `text` without a libgit2 `; class=...` or `; code=...` suffix that an error embedded.
fn strip_git_suffix(text: &str) -> &str {
    let cut = [text.find("; class="), text.find("; code=")]
        .into_iter()
        .flatten()
        .min();
    match cut {
        Some(at) => &text[..at],
        None => text,
    }
}

/// A source repo opened at a layout root.
pub struct SourceRepo {
    repo: Repository,
    /// The layout root relative to the repository's top, `/`-separated, `""` for the top.
    root: String,
    /// The layout root on disk (for `--worktree`), when the repository has a working tree.
    root_dir: Option<PathBuf>,
    /// The tracked branch and its tip, once [`SourceRepo::track`] resolved it.
    tracked: Option<(String, Oid)>,
}

impl SourceRepo {
    /// Opens the repository containing `path`; `path` becomes the layout root.
    pub fn open(path: &Path) -> Result<SourceRepo, RepoError> {
        let abs = path.canonicalize().map_err(|source| RepoError::Path {
            path: path.to_path_buf(),
            source,
        })?;
        let repo = Repository::discover(&abs).map_err(|source| RepoError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let (root, root_dir) = match repo.workdir() {
            Some(workdir) => {
                let top = workdir.canonicalize().map_err(|source| RepoError::Path {
                    path: workdir.to_path_buf(),
                    source,
                })?;
                let rel = abs
                    .strip_prefix(&top)
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                let root = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                // Inside `.git` itself there is no layout: read from the top.
                let root = if root.starts_with(".git") {
                    String::new()
                } else {
                    root
                };
                let root_dir = top.join(&root);
                (root, Some(root_dir))
            }
            None => (String::new(), None),
        };
        Ok(SourceRepo {
            repo,
            root,
            root_dir,
            tracked: None,
        })
    }

    /// The repository's default branch: the branch `origin/HEAD` points to, else `main`, else
    /// `master`.
    pub fn default_branch(&self) -> Result<String, RepoError> {
        if let Ok(head) = self.repo.find_reference("refs/remotes/origin/HEAD")
            && let Ok(Some(target)) = head.symbolic_target()
            && let Some(branch) = target.strip_prefix("refs/remotes/origin/")
        {
            return Ok(branch.to_string());
        }
        for branch in ["main", "master"] {
            if self.branch_ref(branch).is_some() {
                return Ok(branch.to_string());
            }
        }
        Err(RepoError::NoDefaultBranch {
            path: self.repo.path().to_path_buf(),
        })
    }

    /// The ref a branch name reads from: the local branch, else `origin`'s (a fresh clone of a
    /// repository whose default branch was never checked out has only the latter).
    fn branch_ref(&self, branch: &str) -> Option<(String, Oid)> {
        [
            format!("refs/heads/{branch}"),
            format!("refs/remotes/origin/{branch}"),
        ]
        .into_iter()
        .find_map(|name| {
            let oid = self
                .repo
                .find_reference(&name)
                .ok()?
                .peel_to_commit()
                .ok()?
                .id();
            Some((name, oid))
        })
    }

    /// Tracks `branch` (`None`: the default branch): resolves its tip, which later passes are
    /// judged against. Returns the branch's name and tip.
    pub fn track(&mut self, branch: Option<&str>) -> Result<(String, Oid), RepoError> {
        let branch = match branch {
            Some(b) => b.strip_prefix("refs/heads/").unwrap_or(b).to_string(),
            None => self.default_branch()?,
        };
        let Some((_, tip)) = self.branch_ref(&branch) else {
            let hint = match self.default_branch() {
                Ok(d) if d != branch => format!(" (the default branch is {d:?})"),
                _ => String::new(),
            };
            return Err(RepoError::NoBranch { branch, hint });
        };
        self.tracked = Some((branch.clone(), tip));
        Ok((branch, tip))
    }

    /// The tracked branch's name and tip, once [`SourceRepo::track`] was called.
    pub fn tracked(&self) -> Option<(&str, Oid)> {
        self.tracked.as_ref().map(|(b, t)| (b.as_str(), *t))
    }

    /// The tracked branch's tip, once [`SourceRepo::track`] was called.
    pub fn tracked_tip(&self) -> Option<Oid> {
        self.tracked.as_ref().map(|(_, t)| *t)
    }

    /// The commit to reconcile: `rev`, which must be on the tracked branch's history, or the
    /// branch's tip. Tracks the default branch when nothing was tracked yet.
    pub fn pass_commit(&mut self, rev: Option<&str>) -> Result<Oid, RepoError> {
        let (branch, tip) = match self.tracked() {
            Some((b, t)) => (b.to_string(), t),
            None => self.track(None)?,
        };
        let Some(rev) = rev else {
            return Ok(tip);
        };
        let commit = self.resolve(rev)?;
        if commit != tip && !self.repo.graph_descendant_of(tip, commit).unwrap_or(false) {
            return Err(RepoError::OffBranch {
                rev: rev.to_string(),
                commit: commit.to_string(),
                branch,
            });
        }
        Ok(commit)
    }

    /// The underlying repository.
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// The layout root relative to the repository's top (`""` for the top).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Resolves a revision (`HEAD`, a branch, a tag, a commit id, `main~2`) to a commit id.
    pub fn resolve(&self, rev: &str) -> Result<Oid, RepoError> {
        let object = self
            .repo
            .revparse_single(rev)
            .map_err(|source| RepoError::Revision {
                rev: rev.into(),
                source,
            })?;
        let commit = object
            .peel_to_commit()
            .map_err(|source| RepoError::Revision {
                rev: rev.into(),
                source,
            })?;
        Ok(commit.id())
    }

    /// The files of the layout root at a commit, read straight from the object database.
    pub fn read_commit(&self, commit: Oid) -> Result<Vec<SourceFile>, RepoError> {
        let git = |what: &str| {
            let what = what.to_string();
            move |source| RepoError::Git { what, source }
        };
        let commit_obj = self.repo.find_commit(commit).map_err(git("commit"))?;
        let top = commit_obj.tree().map_err(git("commit tree"))?;
        let tree = if self.root.is_empty() {
            top
        } else {
            let entry =
                top.get_path(Path::new(&self.root))
                    .map_err(|_| RepoError::MissingRoot {
                        dir: self.root.clone(),
                        rev: commit.to_string(),
                    })?;
            if entry.kind() != Some(ObjectType::Tree) {
                return Err(RepoError::MissingRoot {
                    dir: self.root.clone(),
                    rev: commit.to_string(),
                });
            }
            self.repo
                .find_tree(entry.id())
                .map_err(git("layout root"))?
        };
        let mut files = Vec::new();
        self.walk_tree(&tree, "", &mut files)?;
        Ok(files)
    }

    fn walk_tree(
        &self,
        tree: &Tree<'_>,
        prefix: &str,
        files: &mut Vec<SourceFile>,
    ) -> Result<(), RepoError> {
        for entry in tree.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub = self
                        .repo
                        .find_tree(entry.id())
                        .map_err(|source| RepoError::Git {
                            what: path.clone(),
                            source,
                        })?;
                    self.walk_tree(&sub, &path, files)?;
                }
                Some(ObjectType::Blob) => {
                    // 0o120000 is git's mode for a symbolic link: its blob is the link target,
                    // which may be a directory. Any link is reported, whatever its name.
                    if entry.filemode() == 0o120000 {
                        files.push(SourceFile {
                            path,
                            content: Err(SYMLINK.into()),
                        });
                        continue;
                    }
                    if !is_manifest_name(&name) && path != model::load::CONFIG_FILE {
                        continue;
                    }
                    let blob =
                        self.repo
                            .find_blob(entry.id())
                            .map_err(|source| RepoError::Git {
                                what: path.clone(),
                                source,
                            })?;
                    files.push(SourceFile {
                        path,
                        content: Ok(blob.content().to_vec()),
                    });
                }
                Some(ObjectType::Commit) => {
                    files.push(SourceFile {
                        path,
                        content: Err(SUBMODULE.into()),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The files of the layout root in the working tree (uncommitted edits included).
    pub fn read_worktree(&self) -> Result<Vec<SourceFile>, RepoError> {
        let Some(root) = &self.root_dir else {
            return Err(RepoError::Bare {
                path: self.repo.path().to_path_buf(),
            });
        };
        let mut files = Vec::new();
        walk_dir(root, "", &mut files)?;
        Ok(files)
    }

    /// Reads and parses one revision.
    pub fn snapshot(&self, commit: Oid) -> Result<Snapshot, RepoError> {
        let files = self.read_commit(commit)?;
        let mut snapshot = model::load(&files);
        snapshot.revision = Some(commit.to_string());
        Ok(snapshot)
    }

    /// Reads and parses the working tree.
    pub fn worktree_snapshot(&self) -> Result<Snapshot, RepoError> {
        Ok(model::load(&self.read_worktree()?))
    }
}

/// Why a symbolic link in the source is not read.
const SYMLINK: &str = "a symbolic link; gitstellar reads only regular files and directories, so \
     nothing behind it is read (links could escape the repo)";

/// Why a submodule (or a repository nested in the working tree) is not read.
const SUBMODULE: &str =
    "a submodule; gitstellar does not read submodules, so none of its files are read";

fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")
}

fn walk_dir(dir: &Path, prefix: &str, files: &mut Vec<SourceFile>) -> Result<(), RepoError> {
    let entries = std::fs::read_dir(dir).map_err(|source| RepoError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<_> =
        entries
            .collect::<Result<_, _>>()
            .map_err(|source| RepoError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let file_type = entry.file_type().map_err(|source| RepoError::Io {
            path: entry.path(),
            source,
        })?;
        if file_type.is_symlink() {
            // Whatever it points to: the commit's reading cannot follow it either.
            files.push(SourceFile {
                path,
                content: Err(SYMLINK.into()),
            });
        } else if file_type.is_dir() {
            // A submodule's (or a nested repository's) directory has its own `.git`; the commit
            // holds only a reference to another commit there, so neither reading descends.
            if entry.path().join(".git").symlink_metadata().is_ok() {
                files.push(SourceFile {
                    path,
                    content: Err(SUBMODULE.into()),
                });
            } else {
                walk_dir(&entry.path(), &path, files)?;
            }
        } else if is_manifest_name(&name) || path == model::load::CONFIG_FILE {
            let content = if file_type.is_file() {
                std::fs::read(entry.path()).map_err(|e| format!("cannot read: {e}"))
            } else {
                Err("not a regular file".into())
            };
            files.push(SourceFile { path, content });
        }
    }
    Ok(())
}
