//! Repo: reading a revision of the source repo with git2, without a checkout.
//!
//! Input: a path (a repository, or a directory inside one, which then becomes the root of the
//! layout) and a revision. Output: the [`SourceFile`]s of the layout root at that revision (or in
//! the working tree), which [`crate::model::load()`] turns into a [`Snapshot`].

pub mod remote;
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
}

/// A source repo opened at a layout root.
pub struct SourceRepo {
    repo: Repository,
    /// The layout root relative to the repository's top, `/`-separated, `""` for the top.
    root: String,
    /// The layout root on disk (for `--worktree`), when the repository has a working tree.
    root_dir: Option<PathBuf>,
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
        })
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
