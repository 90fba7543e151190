//! Problems: every input error, recorded by space, file, position and object, never fatal to the
//! run.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// One error found in the input, as `plan` prints it and `problems.yaml` records it.
///
/// A problem never stops the run: the object (or file, or destination) it names is left out,
/// and everything else goes on. A message never quotes the input beyond names and positions:
/// a broken Secret's values must not reach `problems.yaml`, `plan` or the logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The space's name (its directory's last component), or `""` for the repo as a whole.
    pub space: String,
    /// The file, relative to the layout root, or `""` when the problem is not about one file.
    pub file: String,
    /// The 1-based line in `file`: where the fault is, or where the object's document starts.
    /// Absent when unknown (a problem about a whole file or the whole repo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The 1-based column on `line`, where the parser knows it (syntax errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The object, as `group/Kind/namespace/name` (see [`crate::model::ObjectId`]), or `""`.
    pub object: String,
    /// What is wrong, naming the destination and the field where that matters.
    pub message: String,
}

impl Problem {
    /// A problem about one object of one file, at no known position (see [`Problem::at`]).
    pub fn new(
        space: impl Into<String>,
        file: impl Into<String>,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            space: space.into(),
            file: file.into(),
            line: None,
            column: None,
            object: object.into(),
            message: message.into(),
        }
    }

    /// The same problem at a line (`0` means unknown and leaves the position unset).
    #[must_use]
    pub fn at(mut self, line: u32) -> Self {
        self.line = (line > 0).then_some(line);
        self
    }

    /// The same problem at a line and column (`0` means unknown).
    #[must_use]
    pub fn at_column(mut self, line: u32, column: u32) -> Self {
        self.line = (line > 0).then_some(line);
        self.column = (line > 0 && column > 0).then_some(column);
        self
    }
}

/// Sorted by space, file, object, message, then position: the order `plan` and `problems.yaml`
/// have always listed problems in, with the position only breaking ties.
impl Ord for Problem {
    fn cmp(&self, other: &Self) -> Ordering {
        (
            &self.space,
            &self.file,
            &self.object,
            &self.message,
            self.line,
            self.column,
        )
            .cmp(&(
                &other.space,
                &other.file,
                &other.object,
                &other.message,
                other.line,
                other.column,
            ))
    }
}

impl PartialOrd for Problem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `file:line:column: object: message`, leaving out what is unknown (`space: message` for a
/// problem about no file), as compilers print positions so that editors can jump to them.
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut wrote = false;
        if !self.file.is_empty() {
            f.write_str(&self.file)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(column) = self.column {
                    write!(f, ":{column}")?;
                }
            }
            wrote = true;
        }
        if !self.object.is_empty() {
            if wrote {
                f.write_str(": ")?;
            }
            f.write_str(&self.object)?;
            wrote = true;
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

#[cfg(test)]
mod tests {
    use super::Problem;

    #[test]
    fn display_puts_the_position_after_the_file() {
        let p = Problem::new("a", "wds/a/x.yaml", "", "invalid YAML: bad").at_column(10, 12);
        assert_eq!(p.to_string(), "wds/a/x.yaml:10:12: invalid YAML: bad");
        let p = Problem::new("a", "wds/a/x.yaml", "core/ConfigMap/a/x", "m").at(3);
        assert_eq!(p.to_string(), "wds/a/x.yaml:3: core/ConfigMap/a/x: m");
        let p = Problem::new("a", "", "", "m").at(3);
        assert_eq!(p.to_string(), "a: m");
    }

    #[test]
    fn unknown_positions_are_left_out_of_json() {
        let p = Problem::new("a", "f.yaml", "", "m");
        let json = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"space": "a", "file": "f.yaml", "object": "", "message": "m"})
        );
        let json = serde_json::to_value(p.at_column(2, 5)).unwrap_or_default();
        assert_eq!(json["line"], 2);
        assert_eq!(json["column"], 5);
    }

    #[test]
    fn position_only_breaks_ties() {
        let late = Problem::new("a", "f.yaml", "a/K/_cluster/x", "m").at(9);
        let early = Problem::new("a", "f.yaml", "a/K/_cluster/y", "m").at(1);
        assert!(late < early, "object before line");
        assert!(late.clone().at(2) < late);
    }
}
