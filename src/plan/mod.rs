//! Plan: the per-WEC result of one revision.
