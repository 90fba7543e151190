//! Kubernetes label selectors: validation and matching (apimachinery semantics).
//!
//! [`Selector::compile`] does what `metav1.LabelSelectorAsSelector` does: each `matchLabels`
//! pair becomes `key = value`, each `matchExpressions` entry a requirement, all ANDed, with keys
//! and values checked by [`crate::model::validate`]. [`Selector::matches`] is then `Matches`.
//! An empty selector matches everything (a *missing* selector is the caller's business).

use std::collections::BTreeMap;
use std::fmt;

use crate::model::LabelSelector;
use crate::model::validate;

/// The part of a `LabelSelector` an error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SelectorField {
    /// `matchLabels`.
    MatchLabels,
    /// `matchExpressions`.
    MatchExpressions,
}

impl fmt::Display for SelectorField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SelectorField::MatchLabels => "matchLabels",
            SelectorField::MatchExpressions => "matchExpressions",
        })
    }
}

/// Why a label selector is invalid; the message names the field and key, as the YAML has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// An operator other than `In`, `NotIn`, `Exists` and `DoesNotExist` (case matters).
    #[error(
        "matchExpressions key {key:?}: unknown operator {operator:?}; use In, NotIn, Exists or DoesNotExist"
    )]
    UnknownOperator {
        /// The expression's key.
        key: String,
        /// The operator as written.
        operator: String,
    },
    /// `In` or `NotIn` with no values (which Kubernetes rejects rather than reading as "nothing").
    #[error("matchExpressions key {key:?}: operator {operator} needs at least one value in values")]
    MissingValues {
        /// The expression's key.
        key: String,
        /// `In` or `NotIn`.
        operator: String,
    },
    /// `Exists` or `DoesNotExist` with values.
    #[error(
        "matchExpressions key {key:?}: operator {operator} takes no values; remove values or use In or NotIn"
    )]
    UnexpectedValues {
        /// The expression's key.
        key: String,
        /// `Exists` or `DoesNotExist`.
        operator: String,
    },
    /// A key that is not a valid label key.
    #[error("{field} key {key:?} is not a valid label key: {reason}")]
    InvalidKey {
        /// Where the key is.
        field: SelectorField,
        /// The key as written.
        key: String,
        /// Why, from [`validate::label_key`].
        reason: String,
    },
    /// A value that is not a valid label value.
    #[error("{field} key {key:?}: value {value:?} is not a valid label value: {reason}")]
    InvalidValue {
        /// Where the value is.
        field: SelectorField,
        /// The key the value belongs to.
        key: String,
        /// The value as written.
        value: String,
        /// Why, from [`validate::label_value`].
        reason: String,
    },
}

/// How a [`Requirement`] tests its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// A `matchLabels` pair: present with exactly this value.
    Equals,
    /// Present with one of the values.
    In,
    /// Absent, or present with none of the values.
    NotIn,
    /// Present.
    Exists,
    /// Absent.
    DoesNotExist,
}

impl Operator {
    /// The operator as `matchExpressions` spells it; `Equals` has no spelling there, so `=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
        }
    }

    fn parse(operator: &str) -> Option<Operator> {
        match operator {
            "In" => Some(Operator::In),
            "NotIn" => Some(Operator::NotIn),
            "Exists" => Some(Operator::Exists),
            "DoesNotExist" => Some(Operator::DoesNotExist),
            _ => None,
        }
    }
}

/// One validated test of a label set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted so that `In`/`NotIn` can binary-search and the string form is canonical;
    /// duplicates kept, as Kubernetes keeps them.
    values: Vec<String>,
}

impl Requirement {
    /// The label key tested.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted (one for `Equals`, none for `Exists`/`DoesNotExist`).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has_value(&self, value: &str) -> bool {
        self.values
            .binary_search_by(|v| v.as_str().cmp(value))
            .is_ok()
    }

    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(self.key.as_str());
        match self.operator {
            Operator::Equals | Operator::In => value.is_some_and(|v| self.has_value(v)),
            Operator::NotIn => value.is_none_or(|v| !self.has_value(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// The kubectl form: `env=prod`, `tier in (a,b)`, `tier notin (a)`, `gone`, `!gone`.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            for (i, v) in self.values.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                f.write_str(v)?;
            }
            Ok(())
        };
        match self.operator {
            Operator::Equals => {
                write!(f, "{}=", self.key)?;
                values(f)
            }
            Operator::In | Operator::NotIn => {
                let op = if self.operator == Operator::In {
                    "in"
                } else {
                    "notin"
                };
                write!(f, "{} {op} (", self.key)?;
                values(f)?;
                f.write_str(")")
            }
            Operator::Exists => f.write_str(&self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

/// A validated label selector, ready to match label sets.
///
/// The default selector is [`Selector::everything`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Sorted by key (stably), as Kubernetes sorts them, so the string form is canonical.
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Validates `selector` (operators, values, key and value syntax) and builds its matcher.
    ///
    /// The first error found is returned: `matchLabels` in key order, then `matchExpressions`
    /// in order, each checked for operator, key, number of values, then values.
    pub fn compile(selector: &LabelSelector) -> Result<Selector, SelectorError> {
        let mut requirements =
            Vec::with_capacity(selector.match_labels.len() + selector.match_expressions.len());
        for (key, value) in &selector.match_labels {
            check_key(SelectorField::MatchLabels, key)?;
            check_value(SelectorField::MatchLabels, key, value)?;
            requirements.push(Requirement {
                key: key.clone(),
                operator: Operator::Equals,
                values: vec![value.clone()],
            });
        }
        for expr in &selector.match_expressions {
            let Some(operator) = Operator::parse(&expr.operator) else {
                return Err(SelectorError::UnknownOperator {
                    key: expr.key.clone(),
                    operator: expr.operator.clone(),
                });
            };
            check_key(SelectorField::MatchExpressions, &expr.key)?;
            match operator {
                Operator::In | Operator::NotIn if expr.values.is_empty() => {
                    return Err(SelectorError::MissingValues {
                        key: expr.key.clone(),
                        operator: expr.operator.clone(),
                    });
                }
                Operator::Exists | Operator::DoesNotExist if !expr.values.is_empty() => {
                    return Err(SelectorError::UnexpectedValues {
                        key: expr.key.clone(),
                        operator: expr.operator.clone(),
                    });
                }
                _ => {}
            }
            for value in &expr.values {
                check_value(SelectorField::MatchExpressions, &expr.key, value)?;
            }
            let mut values = expr.values.clone();
            values.sort_unstable();
            requirements.push(Requirement {
                key: expr.key.clone(),
                operator,
                values,
            });
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements })
    }

    /// The selector with no requirements, which matches every label set.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Whether this selector has no requirements (and so matches every label set).
    pub fn matches_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The requirements `labels` fail, for explaining why a selector does not match.
    pub fn unmet<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a Requirement> + 'a {
        self.requirements.iter().filter(|r| !r.matches(labels))
    }
}

/// The kubectl string form, `env=prod,tier in (a,b),!gone`; empty for [`Selector::everything`].
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(r, f)?;
        }
        Ok(())
    }
}

fn check_key(field: SelectorField, key: &str) -> Result<(), SelectorError> {
    validate::label_key(key).map_err(|reason| SelectorError::InvalidKey {
        field,
        key: key.to_string(),
        reason,
    })
}

fn check_value(field: SelectorField, key: &str, value: &str) -> Result<(), SelectorError> {
    validate::label_value(value).map_err(|reason| SelectorError::InvalidValue {
        field,
        key: key.to_string(),
        value: value.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelSelectorRequirement;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn selector(
        match_labels: &[(&str, &str)],
        match_expressions: Vec<LabelSelectorRequirement>,
    ) -> LabelSelector {
        LabelSelector {
            match_labels: labels(match_labels),
            match_expressions,
        }
    }

    fn compile(s: &LabelSelector) -> Selector {
        Selector::compile(s).expect("valid selector")
    }

    #[test]
    fn operators_against_present_and_absent_keys() {
        let prod = labels(&[("env", "prod"), ("tier", "web")]);
        let dev = labels(&[("env", "dev")]);
        let none = labels(&[]);
        // (expression, matches prod, matches dev, matches none)
        let cases = [
            (expr("env", "In", &["prod"]), true, false, false),
            (expr("env", "In", &["dev", "prod"]), true, true, false),
            (expr("env", "NotIn", &["prod"]), false, true, true),
            (expr("env", "NotIn", &["qa", "dev"]), true, false, true),
            (expr("env", "Exists", &[]), true, true, false),
            (expr("env", "DoesNotExist", &[]), false, false, true),
            (expr("tier", "In", &["web"]), true, false, false),
            (expr("tier", "NotIn", &["web"]), false, true, true),
            (expr("tier", "Exists", &[]), true, false, false),
            (expr("tier", "DoesNotExist", &[]), false, true, true),
        ];
        for (e, want_prod, want_dev, want_none) in cases {
            let s = compile(&selector(&[], vec![e.clone()]));
            assert_eq!(s.matches(&prod), want_prod, "{e:?} on prod");
            assert_eq!(s.matches(&dev), want_dev, "{e:?} on dev");
            assert_eq!(s.matches(&none), want_none, "{e:?} on no labels");
        }
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let s = compile(&selector(
            &[("env", "prod")],
            vec![expr("tier", "In", &["web", "api"])],
        ));
        assert!(s.matches(&labels(&[("env", "prod"), ("tier", "api")])));
        assert!(!s.matches(&labels(&[("env", "prod")])));
        assert!(!s.matches(&labels(&[("env", "dev"), ("tier", "api")])));
        assert!(!s.matches(&labels(&[("tier", "api")])));
        // A matchLabels value of "" requires the key to be present with the empty value.
        let empty = compile(&selector(&[("env", "")], vec![]));
        assert!(empty.matches(&labels(&[("env", "")])));
        assert!(!empty.matches(&labels(&[])));
    }

    #[test]
    fn contradictory_requirements_match_nothing() {
        let s = compile(&selector(
            &[("env", "prod")],
            vec![expr("env", "NotIn", &["prod"])],
        ));
        assert!(!s.matches(&labels(&[("env", "prod")])));
        assert!(!s.matches(&labels(&[])));
        assert!(!s.matches_everything());
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = compile(&LabelSelector::default());
        assert!(s.matches_everything());
        assert_eq!(s, Selector::everything());
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("anything", "at-all")])));
        assert_eq!(s.to_string(), "");
    }

    #[test]
    fn display_is_the_kubectl_form() {
        let s = compile(&selector(
            &[("env", "prod")],
            vec![
                expr("tier", "In", &["b", "a"]),
                expr("gone", "DoesNotExist", &[]),
                expr("zone", "NotIn", &["x"]),
                expr("app.kubernetes.io/name", "Exists", &[]),
            ],
        ));
        assert_eq!(
            s.to_string(),
            "app.kubernetes.io/name,env=prod,!gone,tier in (a,b),zone notin (x)"
        );
    }

    #[test]
    fn unmet_names_the_failing_requirements() {
        let s = compile(&selector(
            &[("env", "prod")],
            vec![expr("tier", "Exists", &[])],
        ));
        let l = labels(&[("env", "dev")]);
        let unmet: Vec<String> = s.unmet(&l).map(|r| r.to_string()).collect();
        assert_eq!(unmet, ["env=prod", "tier"]);
    }

    #[test]
    fn invalid_selectors() {
        let long = "v".repeat(64);
        let cases: Vec<(LabelSelector, SelectorError, &str)> = vec![
            (
                selector(&[], vec![expr("env", "in", &["prod"])]),
                SelectorError::UnknownOperator {
                    key: "env".into(),
                    operator: "in".into(),
                },
                "matchExpressions key \"env\": unknown operator \"in\"; use In, NotIn, Exists or DoesNotExist",
            ),
            (
                selector(&[], vec![expr("env", "Equals", &["prod"])]),
                SelectorError::UnknownOperator {
                    key: "env".into(),
                    operator: "Equals".into(),
                },
                "unknown operator \"Equals\"",
            ),
            (
                selector(&[], vec![expr("env", "", &[])]),
                SelectorError::UnknownOperator {
                    key: "env".into(),
                    operator: "".into(),
                },
                "unknown operator \"\"",
            ),
            (
                selector(&[], vec![expr("env", "In", &[])]),
                SelectorError::MissingValues {
                    key: "env".into(),
                    operator: "In".into(),
                },
                "matchExpressions key \"env\": operator In needs at least one value",
            ),
            (
                selector(&[], vec![expr("env", "NotIn", &[])]),
                SelectorError::MissingValues {
                    key: "env".into(),
                    operator: "NotIn".into(),
                },
                "operator NotIn needs at least one value",
            ),
            (
                selector(&[], vec![expr("env", "Exists", &["prod"])]),
                SelectorError::UnexpectedValues {
                    key: "env".into(),
                    operator: "Exists".into(),
                },
                "matchExpressions key \"env\": operator Exists takes no values",
            ),
            (
                selector(&[], vec![expr("env", "DoesNotExist", &[""])]),
                SelectorError::UnexpectedValues {
                    key: "env".into(),
                    operator: "DoesNotExist".into(),
                },
                "operator DoesNotExist takes no values",
            ),
            (
                selector(&[("bad key", "x")], vec![]),
                SelectorError::InvalidKey {
                    field: SelectorField::MatchLabels,
                    key: "bad key".into(),
                    reason: validate::label_key("bad key").unwrap_err(),
                },
                "matchLabels key \"bad key\" is not a valid label key: name part must consist",
            ),
            (
                selector(&[], vec![expr("", "Exists", &[])]),
                SelectorError::InvalidKey {
                    field: SelectorField::MatchExpressions,
                    key: "".into(),
                    reason: "must be non-empty".into(),
                },
                "matchExpressions key \"\" is not a valid label key: must be non-empty",
            ),
            (
                selector(&[("env", "prod!")], vec![]),
                SelectorError::InvalidValue {
                    field: SelectorField::MatchLabels,
                    key: "env".into(),
                    value: "prod!".into(),
                    reason: validate::label_value("prod!").unwrap_err(),
                },
                "matchLabels key \"env\": value \"prod!\" is not a valid label value: must be empty or consist",
            ),
            (
                selector(&[], vec![expr("env", "NotIn", &["ok", long.as_str()])]),
                SelectorError::InvalidValue {
                    field: SelectorField::MatchExpressions,
                    key: "env".into(),
                    value: long.clone(),
                    reason: "must be no more than 63 characters".into(),
                },
                "is not a valid label value: must be no more than 63 characters",
            ),
        ];
        for (s, want, message) in cases {
            let got = Selector::compile(&s).expect_err("invalid selector");
            assert_eq!(got, want);
            let text = got.to_string();
            assert!(
                text.contains(message),
                "{text:?} should contain {message:?}"
            );
        }
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,3}",
            "[a-z]{1,3}\\.io/[A-Za-z0-9]([-_.A-Za-z0-9]{0,4}[A-Za-z0-9])?",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        "([A-Za-z0-9]([-_.A-Za-z0-9]{0,4}[A-Za-z0-9])?)?"
    }

    fn label_set() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(key(), value(), 0..6)
    }

    fn values() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(value(), 1..4)
    }

    proptest! {
        #[test]
        fn match_labels_from_a_label_set_match_it(
            set in label_set(),
            keep in proptest::collection::vec(any::<bool>(), 6),
            extra in label_set(),
        ) {
            let chosen: BTreeMap<String, String> = set
                .iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|((k, v), _)| (k.clone(), v.clone()))
                .collect();
            let s = Selector::compile(&LabelSelector {
                match_labels: chosen,
                match_expressions: vec![],
            });
            prop_assert!(s.is_ok(), "{:?}", s);
            let s = s.unwrap();
            // Extra labels never stop a match.
            let mut bigger = extra;
            bigger.extend(set.clone());
            prop_assert!(s.matches(&set));
            prop_assert!(s.matches(&bigger));
        }

        #[test]
        fn not_in_is_the_complement_of_in_for_present_keys(
            set in label_set(),
            k in key(),
            v in value(),
            vals in values(),
        ) {
            let mut set = set;
            set.insert(k.clone(), v);
            let with = |op: &str| Selector::compile(&LabelSelector {
                match_labels: BTreeMap::new(),
                match_expressions: vec![LabelSelectorRequirement {
                    key: k.clone(),
                    operator: op.to_string(),
                    values: vals.clone(),
                }],
            });
            let in_ = with("In").unwrap();
            let not_in = with("NotIn").unwrap();
            prop_assert_ne!(in_.matches(&set), not_in.matches(&set));
            // For an absent key, In fails and NotIn holds.
            set.remove(&k);
            prop_assert!(!in_.matches(&set));
            prop_assert!(not_in.matches(&set));
        }

        #[test]
        fn exists_is_the_complement_of_does_not_exist(set in label_set(), k in key()) {
            let with = |op: &str| Selector::compile(&LabelSelector {
                match_labels: BTreeMap::new(),
                match_expressions: vec![LabelSelectorRequirement {
                    key: k.clone(),
                    operator: op.to_string(),
                    values: vec![],
                }],
            });
            let exists = with("Exists").unwrap();
            let absent = with("DoesNotExist").unwrap();
            prop_assert_ne!(exists.matches(&set), absent.matches(&set));
            prop_assert_eq!(exists.matches(&set), set.contains_key(&k));
        }

        #[test]
        fn compile_never_panics(
            match_labels in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..3),
            exprs in proptest::collection::vec(
                (
                    any::<String>(),
                    prop_oneof![
                        Just("In".to_string()),
                        Just("NotIn".to_string()),
                        Just("Exists".to_string()),
                        Just("DoesNotExist".to_string()),
                        any::<String>(),
                    ],
                    proptest::collection::vec(any::<String>(), 0..3),
                ),
                0..3,
            ),
            set in label_set(),
        ) {
            let s = LabelSelector {
                match_labels,
                match_expressions: exprs
                    .into_iter()
                    .map(|(key, operator, values)| LabelSelectorRequirement { key, operator, values })
                    .collect(),
            };
            if let Ok(compiled) = Selector::compile(&s) {
                let _ = compiled.matches(&set);
                let _ = compiled.to_string();
            }
        }
    }
}
