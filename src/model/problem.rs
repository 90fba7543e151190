//! Problems: every input error, recorded by space, file and object, never fatal to the run.

use serde::{Deserialize, Serialize};

/// One error found in the input, as `plan` prints it and `problems.yaml` records it.
///
/// A problem never stops the run: the object (or file, or destination) it names is left out,
/// and everything else goes on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    /// The space's name (its directory's last component), or `""` for the repo as a whole.
    pub space: String,
    /// The file, relative to the layout root, or `""` when the problem is not about one file.
    pub file: String,
    /// The object, as `group/Kind/namespace/name` (see [`crate::model::ObjectId`]), or `""`.
    pub object: String,
    /// What is wrong, naming the destination and the field where that matters.
    pub message: String,
}

impl Problem {
    /// A problem about one object of one file.
    pub fn new(
        space: impl Into<String>,
        file: impl Into<String>,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            space: space.into(),
            file: file.into(),
            object: object.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut wrote = false;
        for part in [&self.file, &self.object] {
            if !part.is_empty() {
                if wrote {
                    f.write_str(": ")?;
                }
                f.write_str(part)?;
                wrote = true;
            }
        }
        if !wrote && !self.space.is_empty() {
            f.write_str(&self.space)?;
            wrote = true;
        }
        if wrote {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}
