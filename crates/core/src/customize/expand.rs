//! KubeStellar's parameter expansion: `%(NAME)` in leaf strings, replaced per destination by the
//! destination Location's label or annotation `NAME` (annotation `edge.kubestellar.io/expand-parameters`).
//!
//! gitstellar fixes KubeStellar's quirks (design §9.1): `%%` really becomes `%`, an undefined
//! parameter or an unterminated `%(` is an error instead of text left in the object, and the
//! built-ins [`WEC_PARAM`] and [`LOCATION_PARAM`] are always defined.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::Value;

use super::{CustomizeError, Params};

/// Built-in parameter: the name of the destination SyncTarget (the WEC).
pub const WEC_PARAM: &str = "gitstellar.io/wec";
/// Built-in parameter: the name of the destination Location.
pub const LOCATION_PARAM: &str = "gitstellar.io/location";

impl Params<'_> {
    /// The value of parameter `name` for this destination, if defined.
    ///
    /// Built-ins win over a label or annotation of the same name: they identify the destination,
    /// and a Location could otherwise make itself look like another WEC. Labels win over
    /// annotations, as in KubeStellar.
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            WEC_PARAM => Some(self.wec),
            LOCATION_PARAM => Some(self.location),
            _ => self
                .labels
                .get(name)
                .or_else(|| self.annotations.get(name))
                .map(String::as_str),
        }
    }
}

/// One piece of a string as the expander sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'s> {
    /// Text copied as is.
    Literal(&'s str),
    /// A `%(NAME)` reference.
    Param(&'s str),
}

/// Splits `s` into literal text and parameter references. This is the single definition of the
/// syntax, so that [`parameters_used`] and expansion can never disagree.
fn scan<'s>(s: &'s str, mut each: impl FnMut(Piece<'s>)) -> Result<(), CustomizeError> {
    let mut rest = s;
    while let Some(at) = rest.find('%') {
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            // `%%` is an escaped `%`: emit the text up to and including the first `%`.
            each(Piece::Literal(&rest[..=at]));
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            let Some(close) = tail.find(')') else {
                return Err(CustomizeError::UnterminatedParameter { text: s.to_owned() });
            };
            if at > 0 {
                each(Piece::Literal(&rest[..at]));
            }
            each(Piece::Param(&tail[..close]));
            rest = &tail[close + 1..];
        } else {
            // A lone `%` (as in `50%`) is literal: only `%(` and `%%` are syntax.
            each(Piece::Literal(&rest[..=at]));
            rest = after;
        }
    }
    if !rest.is_empty() {
        each(Piece::Literal(rest));
    }
    Ok(())
}

/// Expands strings for one destination, collecting every undefined parameter so that a user
/// sees all of them in one error instead of fixing them one run at a time.
pub(crate) struct Expander<'p, 'a> {
    params: &'p Params<'a>,
    missing: BTreeSet<String>,
}

impl<'p, 'a> Expander<'p, 'a> {
    /// An expander with no undefined parameter seen yet.
    pub(crate) fn new(params: &'p Params<'a>) -> Self {
        Self {
            params,
            missing: BTreeSet::new(),
        }
    }

    /// Expands one string. An undefined parameter expands to nothing and is remembered; the
    /// caller must call [`Expander::finish`] before using any result.
    pub(crate) fn string<'s>(&mut self, s: &'s str) -> Result<Cow<'s, str>, CustomizeError> {
        if !s.contains('%') {
            return Ok(Cow::Borrowed(s));
        }
        let mut out = String::with_capacity(s.len());
        scan(s, |piece| match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Param(name) => match self.params.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    self.missing.insert(name.to_owned());
                }
            },
        })?;
        Ok(Cow::Owned(out))
    }

    /// Expands every leaf string of `value` in place (map keys are left alone).
    pub(crate) fn value_in_place(&mut self, value: &mut Value) -> Result<(), CustomizeError> {
        match value {
            Value::String(s) => {
                if let Cow::Owned(expanded) = self.string(s)? {
                    *s = expanded;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.value_in_place(item)?;
                }
            }
            Value::Object(map) => {
                for (_, item) in map.iter_mut() {
                    self.value_in_place(item)?;
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }

    /// Expands every leaf string of `value`, borrowing it when it contains no `%` at all.
    pub(crate) fn value<'v>(&mut self, value: &'v Value) -> Result<Cow<'v, Value>, CustomizeError> {
        if !contains_percent(value) {
            return Ok(Cow::Borrowed(value));
        }
        let mut owned = value.clone();
        self.value_in_place(&mut owned)?;
        Ok(Cow::Owned(owned))
    }

    /// Whether an undefined parameter has been seen (results are then not to be used).
    pub(crate) fn has_missing(&self) -> bool {
        !self.missing.is_empty()
    }

    /// Fails with every undefined parameter seen, sorted.
    pub(crate) fn finish(self) -> Result<(), CustomizeError> {
        if self.missing.is_empty() {
            Ok(())
        } else {
            Err(CustomizeError::UndefinedParameters {
                names: self.missing.into_iter().collect(),
                customizer: None,
            })
        }
    }
}

/// Whether any leaf string of `value` contains `%`: objects without one (most of them) need no
/// copy at all.
pub fn contains_percent(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('%'),
        Value::Array(items) => items.iter().any(contains_percent),
        Value::Object(map) => map.values().any(contains_percent),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Expands one string for one destination; never returns a half-expanded string.
pub fn expand_str<'s>(s: &'s str, params: &Params<'_>) -> Result<Cow<'s, str>, CustomizeError> {
    let mut expander = Expander::new(params);
    let out = expander.string(s)?;
    expander.finish()?;
    Ok(out)
}

/// Expands every leaf string of `value` for one destination. Map keys and non-string leaves are
/// untouched; `value` is borrowed back when nothing in it contains `%`. On error nothing is
/// returned, so a half-expanded object cannot escape.
pub fn expand_value<'v>(
    value: &'v Value,
    params: &Params<'_>,
) -> Result<Cow<'v, Value>, CustomizeError> {
    let mut expander = Expander::new(params);
    let out = expander.value(value)?;
    expander.finish()?;
    Ok(out)
}

/// The parameter names that `s` references (built-ins included).
pub fn parameters_used_str(s: &str, names: &mut BTreeSet<String>) -> Result<(), CustomizeError> {
    if !s.contains('%') {
        return Ok(());
    }
    scan(s, |piece| {
        if let Piece::Param(name) = piece {
            names.insert(name.to_owned());
        }
    })
}

/// The parameter names that the leaf strings of `value` reference, built-ins included: two
/// destinations that agree on these values get the same expansion, so results can be shared.
pub fn parameters_used(value: &Value) -> Result<BTreeSet<String>, CustomizeError> {
    fn walk(value: &Value, names: &mut BTreeSet<String>) -> Result<(), CustomizeError> {
        match value {
            Value::String(s) => parameters_used_str(s, names),
            Value::Array(items) => items.iter().try_for_each(|item| walk(item, names)),
            Value::Object(map) => map.values().try_for_each(|item| walk(item, names)),
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }
    let mut names = BTreeSet::new();
    walk(value, &mut names)?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    struct Fixture {
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                labels: map(&[
                    ("env", "prod"),
                    ("both", "from-label"),
                    ("example.com/tier", "gold"),
                    ("gitstellar.io/wec", "impostor"),
                ]),
                annotations: map(&[
                    ("both", "from-annotation"),
                    ("url", "https://x.example/a(b)"),
                    ("empty", ""),
                ]),
            }
        }

        fn params(&self) -> Params<'_> {
            Params {
                labels: &self.labels,
                annotations: &self.annotations,
                wec: "edge1",
                location: "loc1",
            }
        }
    }

    #[test]
    fn string_table() {
        let f = Fixture::new();
        let p = f.params();
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("", ""),
            ("%(env)", "prod"),
            ("env is %(env)!", "env is prod!"),
            ("%(both)", "from-label"),
            ("%(url)", "https://x.example/a(b)"),
            ("%(example.com/tier)", "gold"),
            ("%(gitstellar.io/wec)", "edge1"),
            ("%(gitstellar.io/location)", "loc1"),
            ("%(env)%(env)", "prodprod"),
            ("[%(empty)]", "[]"),
            ("%%", "%"),
            ("%%(env)", "%(env)"),
            ("%%%(env)", "%prod"),
            ("50%", "50%"),
            ("50% of %(env)", "50% of prod"),
            ("%x%", "%x%"),
            ("a)b", "a)b"),
            ("é%(env)ü", "éprodü"),
        ];
        for (input, want) in cases {
            let got = expand_str(input, &p);
            assert_eq!(got.as_deref().ok(), Some(*want), "input {input:?}");
        }
    }

    #[test]
    fn string_errors() {
        let f = Fixture::new();
        let p = f.params();
        assert_eq!(
            expand_str("a %(env", &p),
            Err(CustomizeError::UnterminatedParameter {
                text: "a %(env".into()
            })
        );
        assert_eq!(
            expand_str("%(", &p),
            Err(CustomizeError::UnterminatedParameter { text: "%(".into() })
        );
        let err = expand_str("%(zone) %(nope) %(zone)", &p);
        assert_eq!(
            err,
            Err(CustomizeError::UndefinedParameters {
                names: vec!["nope".into(), "zone".into()],
                customizer: None,
            })
        );
        assert_eq!(
            expand_str("%(zone)", &p).map_err(|e| e.to_string()),
            Err(
                "undefined parameter %(zone); the destination Location has no label or \
                 annotation \"zone\""
                    .into()
            )
        );
    }

    #[test]
    fn value_expansion() {
        let f = Fixture::new();
        let p = f.params();
        let object = json!({
            "metadata": {"name": "x-%(env)", "labels": {"%(env)": "%(env)"}},
            "data": {"n": 3, "b": true, "z": null, "list": ["%(env)", ["%%", 50, {"k": "%(both)"}]]},
        });
        let got = expand_value(&object, &p).map(Cow::into_owned);
        assert_eq!(
            got,
            Ok(json!({
                "metadata": {"name": "x-prod", "labels": {"%(env)": "prod"}},
                "data": {"n": 3, "b": true, "z": null, "list": ["prod", ["%", 50, {"k": "from-label"}]]},
            }))
        );
    }

    #[test]
    fn value_without_percent_is_borrowed() {
        let f = Fixture::new();
        let object = json!({"a": ["b", {"c": 1}], "%(key)": "keys do not count"});
        assert!(matches!(
            expand_value(&object, &f.params()),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn value_errors_collect_all_names() {
        let f = Fixture::new();
        let object = json!({"a": "%(b)", "c": ["%(a)", "%(env)", "%(b)"]});
        assert_eq!(
            expand_value(&object, &f.params()),
            Err(CustomizeError::UndefinedParameters {
                names: vec!["a".into(), "b".into()],
                customizer: None,
            })
        );
        let bad = json!({"a": "%(env", "c": "%(nope)"});
        assert!(matches!(
            expand_value(&bad, &f.params()),
            Err(CustomizeError::UnterminatedParameter { .. })
        ));
    }

    #[test]
    fn used_parameters() {
        let object = json!({
            "%(key)": ["%(a) %%(b) 50% %(gitstellar.io/wec)", 1, {"x": "%(c)%(a)"}],
        });
        let used = parameters_used(&object);
        assert_eq!(
            used.map(|s| s.into_iter().collect::<Vec<_>>()),
            Ok(vec!["a".into(), "c".into(), "gitstellar.io/wec".into()])
        );
        assert!(parameters_used(&json!(["%(x"])).is_err());
    }

    fn params_strategy() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map("[a-z./-]{1,8}", "\\PC{0,8}", 1..6)
    }

    proptest! {
        #[test]
        fn no_percent_is_identity(s in "[^%]*") {
            let empty = BTreeMap::new();
            let p = Params { labels: &empty, annotations: &empty, wec: "w", location: "l" };
            let got = expand_str(&s, &p);
            prop_assert!(matches!(got, Ok(Cow::Borrowed(_))));
            let got = got.ok();
            prop_assert_eq!(got.as_deref(), Some(s.as_str()));
        }

        #[test]
        fn template_expands_to_concatenation(
            labels in params_strategy(),
            parts in prop::collection::vec(("[^%]{0,6}", any::<prop::sample::Index>()), 0..8),
        ) {
            let empty = BTreeMap::new();
            let p = Params { labels: &labels, annotations: &empty, wec: "w", location: "l" };
            let keys: Vec<&String> = labels.keys().collect();
            let mut template = String::new();
            let mut want = String::new();
            for (chunk, pick) in &parts {
                let key = keys[pick.index(keys.len())];
                template.push_str(chunk);
                template.push_str(&format!("%({key})"));
                want.push_str(chunk);
                want.push_str(&labels[key]);
            }
            let got = expand_str(&template, &p);
            let got = got.ok();
            prop_assert_eq!(got.as_deref(), Some(want.as_str()));
        }

        #[test]
        fn used_names_are_the_undefined_names(s in "[a%()x]{0,24}") {
            let empty = BTreeMap::new();
            let p = Params { labels: &empty, annotations: &empty, wec: "w", location: "l" };
            let mut used = BTreeSet::new();
            match (parameters_used_str(&s, &mut used), expand_str(&s, &p)) {
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (Ok(()), Ok(_)) => prop_assert!(used.is_empty()),
                (Ok(()), Err(CustomizeError::UndefinedParameters { names, .. })) => {
                    prop_assert_eq!(names, used.into_iter().collect::<Vec<_>>());
                }
                (a, b) => prop_assert!(false, "inconsistent: {:?} vs {:?}", a, b),
            }
        }

        #[test]
        fn escaped_percent_round_trips(s in "\\PC*") {
            let empty = BTreeMap::new();
            let p = Params { labels: &empty, annotations: &empty, wec: "w", location: "l" };
            let escaped = s.replace('%', "%%");
            let got = expand_str(&escaped, &p);
            let got = got.ok();
            prop_assert_eq!(got.as_deref(), Some(s.as_str()));
            prop_assert!(parameters_used_str(&escaped, &mut BTreeSet::new()).is_ok());
        }
    }
}
