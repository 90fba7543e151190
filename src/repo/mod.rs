//! Repo: reading revisions from git.
