//! Placement: where (Locations) and what (objects) of every EdgePlacement.

pub mod selector;
