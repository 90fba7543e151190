//! The JSONPath subset of KubeStellar's `pkg/jsonpath`, used by `Customizer.replacements[].path`:
//! parsing, reading, and writing a value at every selected place.
//!
//! Writing semantics (design §9.2): on a *definite* path (only names and single indices) missing
//! intermediate maps are created and the final member is created or overwritten; stepping into
//! a scalar or past the end of an array is an error. Wildcards, slices, lists and `..` visit only
//! existing members, and matching nothing is not an error. As in KubeStellar's own evaluation
//! tests, a missing final member is still created after selectors that each pick at most one
//! member (a slice such as `[2:3]` counts); after `*`, `..`, an open or stepped slice (`[1::2]`)
//! or a list of several names or indices, only existing members are written.

use std::fmt;

use serde_json::{Map, Value};

/// Why a path text is not in the supported subset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}: {message}")]
pub struct ParseError {
    /// 0-based character offset in the path text.
    pub position: usize,
    /// What was found and what was expected.
    pub message: String,
}

/// Why a definite path cannot be written in a given object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct WriteError {
    /// A sentence naming the place (e.g. "index 3 is beyond the 2 items of $.spec.x").
    pub reason: String,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    /// `.name`: a key of a map, or an index of an array when the name is all digits (KubeStellar's
    /// `.0` in `$.spec.containers.0`).
    Dot(String),
    /// `['a','b']`: keys of a map.
    Names(Vec<String>),
    /// `[1,2]`: indices of an array.
    Indices(Vec<usize>),
    /// `[start:end:step]` over an array.
    Slice {
        start: Option<usize>,
        end: Option<usize>,
        step: usize,
    },
    /// `.*` or `[*]`: every member of a map or an array.
    Wildcard,
    /// `..x`: the selector `x` applied to the node and every node below it.
    Descend(Box<Selector>),
}

impl Selector {
    /// Whether the selector picks exactly one member by name or index, so that the member can be
    /// created when missing.
    fn is_definite(&self) -> bool {
        match self {
            Self::Dot(_) => true,
            Self::Names(names) => names.len() == 1,
            Self::Indices(indices) => indices.len() == 1,
            Self::Slice { .. } | Self::Wildcard | Self::Descend(_) => false,
        }
    }

    /// Whether the selector picks at most one member, so that a missing final member after it
    /// may still be created: the definite selectors, and a slice whose bounds select at most
    /// one index (`[4:5]`, whatever its step).
    fn picks_at_most_one(&self) -> bool {
        match self {
            Self::Slice {
                start: Some(start),
                end: Some(end),
                ..
            } => *end <= start.saturating_add(1),
            other => other.is_definite(),
        }
    }

    /// The key a definite selector looks up in an existing map (`.0` is key "0" there).
    fn map_key(&self) -> Option<&str> {
        match self {
            Self::Dot(name) => Some(name),
            Self::Names(names) if names.len() == 1 => names.first().map(String::as_str),
            _ => None,
        }
    }

    /// The key a definite selector creates in a map that does not exist yet. All-digit names are
    /// excluded: they most likely mean an array index, and gitstellar never creates arrays.
    fn creatable_key(&self) -> Option<&str> {
        match self {
            Self::Dot(name) if !is_index(name) => Some(name),
            Self::Names(names) if names.len() == 1 => names.first().map(String::as_str),
            _ => None,
        }
    }
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    selectors: Vec<Selector>,
    /// Byte offset in `text` where each selector ends, to name the prefix in messages.
    ends: Vec<usize>,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One concrete step from a node to a child.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn is_index(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a map",
    }
}

impl JsonPath {
    /// Parses `text`, which must start with `$`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        Parser::new(text).parse()
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path selects at most one place (only names and single indices), so that a
    /// write creates what is missing and reports what cannot be written.
    pub fn is_definite(&self) -> bool {
        self.selectors.iter().all(Selector::is_definite)
    }

    /// The values the path selects in `root`, in document order.
    pub fn select<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut found = Vec::new();
        locate(
            root,
            &self.selectors,
            &mut Vec::new(),
            false,
            &mut |_, v| {
                if let Some(v) = v {
                    found.push(v);
                }
            },
        );
        found
    }

    /// Sets every place the path selects in `root` to `value` (see the module documentation for
    /// what is created and what is an error). On error `root` is unchanged.
    pub fn set(&self, root: &mut Value, value: &Value) -> Result<(), WriteError> {
        if self.is_definite() {
            return self.set_definite(root, value);
        }
        let mut places = Vec::new();
        locate(
            root,
            &self.selectors,
            &mut Vec::new(),
            true,
            &mut |steps, _| {
                places.push(steps.to_vec());
            },
        );
        // Deepest places first: a write to an ancestor would otherwise let a later write land
        // inside the value just written (`$..a` with value `{"a": 1}`).
        for steps in places.iter().rev() {
            write_at(root, steps, value);
        }
        Ok(())
    }

    /// Writes along a definite path, checking it fully before changing anything.
    fn set_definite(&self, root: &mut Value, value: &Value) -> Result<(), WriteError> {
        // Checking first keeps `root` unchanged on error: maps created along the way would
        // otherwise remain after a failure further down.
        let mut node = Some(&*root);
        for (i, selector) in self.selectors.iter().enumerate() {
            let here_end = i
                .checked_sub(1)
                .and_then(|j| self.ends.get(j))
                .copied()
                .unwrap_or(1);
            let here = self.text.get(..here_end).unwrap_or(&self.text);
            node = match node {
                Some(current) => self.check_step(current, selector, here)?,
                // `here` will be created as an empty map, which only a name can step into.
                None if selector.creatable_key().is_some() => None,
                None => {
                    return Err(WriteError {
                        reason: format!(
                            "path {}: {here} does not exist and gitstellar creates only maps, \
                             but the next selector needs an array",
                            self.text
                        ),
                    });
                }
            };
        }
        let mut node = root;
        for (i, selector) in self.selectors.iter().enumerate() {
            let last = i + 1 == self.selectors.len();
            node = match step_mut(node, selector, last) {
                Some(next) => next,
                // The check above proved every step possible; stopping here is only a safety net.
                None => return Ok(()),
            };
        }
        *node = value.clone();
        Ok(())
    }

    /// Checks one definite step from `node` (the place `here`), returning the child when it
    /// exists and `None` when it will be created.
    fn check_step<'v>(
        &self,
        node: &'v Value,
        selector: &Selector,
        here: &str,
    ) -> Result<Option<&'v Value>, WriteError> {
        let index = match selector {
            Selector::Dot(name) if node.is_array() && is_index(name) => name.parse::<usize>().ok(),
            Selector::Indices(indices) => indices.first().copied(),
            _ => None,
        };
        if let Some(index) = index {
            let Value::Array(items) = node else {
                return Err(WriteError {
                    reason: format!("path {}: {here} is {}, not an array", self.text, kind(node)),
                });
            };
            return match items.get(index) {
                Some(item) => Ok(Some(item)),
                None => Err(WriteError {
                    reason: format!(
                        "path {}: index {index} is beyond the {} items of {here}",
                        self.text,
                        items.len()
                    ),
                }),
            };
        }
        match (node, selector.map_key()) {
            // A null member is created like a missing one.
            (Value::Object(map), Some(key)) => Ok(map.get(key).filter(|child| !child.is_null())),
            // A YAML key with nothing after it (`labels:`) is null; treating it as an empty map
            // is what the user meant.
            (Value::Null, _) if selector.creatable_key().is_some() => Ok(None),
            _ => {
                let want = if matches!(selector, Selector::Dot(name) if is_index(name)) {
                    "an array or a map"
                } else {
                    "a map"
                };
                Err(WriteError {
                    reason: format!("path {}: {here} is {}, not {want}", self.text, kind(node)),
                })
            }
        }
    }
}

/// Takes one definite step mutably, creating a missing member (a map, or the final member as
/// null until it is overwritten).
fn step_mut<'v>(node: &'v mut Value, selector: &Selector, last: bool) -> Option<&'v mut Value> {
    let index = match selector {
        Selector::Dot(name) if node.is_array() && is_index(name) => name.parse::<usize>().ok(),
        Selector::Indices(indices) => indices.first().copied(),
        _ => None,
    };
    if let Some(index) = index {
        return node.as_array_mut()?.get_mut(index);
    }
    if node.is_null() {
        selector.creatable_key()?;
        *node = Value::Object(Map::new());
    }
    let key = selector.map_key()?;
    let child = node
        .as_object_mut()?
        .entry(key.to_owned())
        .or_insert(Value::Null);
    if !last && child.is_null() {
        *child = Value::Object(Map::new());
    }
    Some(child)
}

/// Calls `found` with every place `selectors` select below `node` (`steps` leads to `node`). With
/// `create_final`, a final single name missing from an existing map is a place too (with no value),
/// so that `$.items[*].newField` adds the field to every item.
fn locate<'v>(
    node: &'v Value,
    selectors: &[Selector],
    steps: &mut Vec<Step>,
    create_final: bool,
    found: &mut dyn FnMut(&[Step], Option<&'v Value>),
) {
    let Some((selector, rest)) = selectors.split_first() else {
        found(steps, Some(node));
        return;
    };
    // Below a selector that may pick several members, only existing members are written.
    let create_final = create_final && selector.picks_at_most_one();
    match selector {
        Selector::Dot(name) => match node {
            Value::Object(map) => match map.get(name) {
                Some(child) => visit(
                    Step::Key(name.clone()),
                    child,
                    rest,
                    steps,
                    create_final,
                    found,
                ),
                None if create_final && rest.is_empty() => {
                    missing(Step::Key(name.clone()), steps, found);
                }
                None => {}
            },
            Value::Array(items) if is_index(name) => {
                if let Some((i, child)) = name
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| Some((i, items.get(i)?)))
                {
                    visit(Step::Index(i), child, rest, steps, create_final, found);
                }
            }
            _ => {}
        },
        Selector::Names(names) => {
            if let Value::Object(map) = node {
                for name in names {
                    match map.get(name) {
                        Some(child) => {
                            visit(
                                Step::Key(name.clone()),
                                child,
                                rest,
                                steps,
                                create_final,
                                found,
                            );
                        }
                        None if create_final && rest.is_empty() && names.len() == 1 => {
                            missing(Step::Key(name.clone()), steps, found);
                        }
                        None => {}
                    }
                }
            }
        }
        Selector::Indices(indices) => {
            if let Value::Array(items) = node {
                for &i in indices {
                    if let Some(child) = items.get(i) {
                        visit(Step::Index(i), child, rest, steps, create_final, found);
                    }
                }
            }
        }
        Selector::Slice { start, end, step } => {
            if let Value::Array(items) = node {
                let len = items.len();
                let from = start.unwrap_or(0).min(len);
                let to = end.unwrap_or(len).min(len);
                for i in (from..to).step_by(*step) {
                    if let Some(child) = items.get(i) {
                        visit(Step::Index(i), child, rest, steps, create_final, found);
                    }
                }
            }
        }
        Selector::Wildcard => match node {
            Value::Object(map) => {
                for (key, child) in map {
                    visit(
                        Step::Key(key.clone()),
                        child,
                        rest,
                        steps,
                        create_final,
                        found,
                    );
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    visit(Step::Index(i), child, rest, steps, create_final, found);
                }
            }
            _ => {}
        },
        Selector::Descend(inner) => {
            // Only existing members: `..` must never invent a member in every map of the object.
            let mut again = Vec::with_capacity(rest.len() + 1);
            again.push((**inner).clone());
            again.extend_from_slice(rest);
            locate(node, &again, steps, false, found);
            match node {
                Value::Object(map) => {
                    for (key, child) in map {
                        steps.push(Step::Key(key.clone()));
                        locate(child, selectors, steps, create_final, found);
                        steps.pop();
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        steps.push(Step::Index(i));
                        locate(child, selectors, steps, create_final, found);
                        steps.pop();
                    }
                }
                _ => {}
            }
        }
    }
}

/// Continues [`locate`] in `child`, one `step` below the current node.
fn visit<'v>(
    step: Step,
    child: &'v Value,
    rest: &[Selector],
    steps: &mut Vec<Step>,
    create_final: bool,
    found: &mut dyn FnMut(&[Step], Option<&'v Value>),
) {
    steps.push(step);
    locate(child, rest, steps, create_final, found);
    steps.pop();
}

/// Reports a place to create, one `step` below the current node.
fn missing<'v>(
    step: Step,
    steps: &mut Vec<Step>,
    found: &mut dyn FnMut(&[Step], Option<&'v Value>),
) {
    steps.push(step);
    found(steps, None);
    steps.pop();
}

/// Writes `value` at a place found by [`locate`]; a place that an earlier write removed is
/// skipped.
fn write_at(root: &mut Value, steps: &[Step], value: &Value) {
    let mut node = root;
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let next = match (step, node) {
            (Step::Index(index), Value::Array(items)) => items.get_mut(*index),
            (Step::Key(key), Value::Object(map)) => {
                if last {
                    Some(map.entry(key.clone()).or_insert(Value::Null))
                } else {
                    map.get_mut(key)
                }
            }
            _ => None,
        };
        match next {
            Some(child) => node = child,
            None => return,
        }
    }
    *node = value.clone();
}

/// A recursive-descent parser over the characters of a path.
struct Parser<'t> {
    text: &'t str,
    chars: Vec<(usize, char)>,
    at: usize,
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            chars: text.char_indices().collect(),
            at: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).map(|&(_, c)| c)
    }

    fn byte_offset(&self) -> usize {
        self.chars
            .get(self.at)
            .map_or(self.text.len(), |&(offset, _)| offset)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            position: self.at,
            message: message.into(),
        })
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("found {c:?}"),
            None => "found the end of the path".to_owned(),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn parse(mut self) -> Result<JsonPath, ParseError> {
        if !self.eat('$') {
            return self.error(format!("a path must start with `$`, {}", self.found()));
        }
        let mut selectors = Vec::new();
        let mut ends = Vec::new();
        while let Some(c) = self.peek() {
            let selector = match c {
                '.' => {
                    self.at += 1;
                    if self.eat('.') {
                        let inner = match self.peek() {
                            Some('[') => {
                                self.at += 1;
                                self.bracket()?
                            }
                            _ => self.dot_member("after `..`")?,
                        };
                        Selector::Descend(Box::new(inner))
                    } else {
                        self.dot_member("after `.`")?
                    }
                }
                '[' => {
                    self.at += 1;
                    self.bracket()?
                }
                _ => {
                    return self.error(format!(
                        "expected `.`, `..` or `[` to start a selector, {}",
                        self.found()
                    ));
                }
            };
            selectors.push(selector);
            ends.push(self.byte_offset());
        }
        Ok(JsonPath {
            text: self.text.to_owned(),
            selectors,
            ends,
        })
    }

    /// `*` or a name, after `.` or `..`. Names are lenient (any characters up to the next `.` or
    /// `[`) so that Kubernetes keys like `app.kubernetes.io/name`'s last part or `my-key` work.
    fn dot_member(&mut self, context: &str) -> Result<Selector, ParseError> {
        if self.eat('*') {
            return Ok(Selector::Wildcard);
        }
        let start = self.at;
        while self.peek().is_some_and(|c| c != '.' && c != '[') {
            self.at += 1;
        }
        if self.at == start {
            return self.error(format!(
                "expected a name or `*` {context}, {}",
                self.found()
            ));
        }
        let name: String = self.chars[start..self.at].iter().map(|&(_, c)| c).collect();
        Ok(Selector::Dot(name))
    }

    /// The inside of `[...]`, the `[` already consumed.
    fn bracket(&mut self) -> Result<Selector, ParseError> {
        self.skip_spaces();
        let selector = match self.peek() {
            Some('*') => {
                self.at += 1;
                Selector::Wildcard
            }
            Some('\'' | '"') => {
                let mut names = vec![self.string()?];
                loop {
                    self.skip_spaces();
                    if !self.eat(',') {
                        break;
                    }
                    self.skip_spaces();
                    match self.peek() {
                        Some('\'' | '"') => names.push(self.string()?),
                        _ => {
                            return self.error(format!(
                                "expected a quoted name after `,`, {}",
                                self.found()
                            ));
                        }
                    }
                }
                Selector::Names(names)
            }
            Some('?') => return self.error("filter expressions `[?(...)]` are not supported"),
            Some('(') => return self.error("script expressions `[(...)]` are not supported"),
            Some('-') => return self.error("negative indices are not supported"),
            Some(c) if c.is_ascii_digit() || c == ':' => self.numeric()?,
            _ => {
                return self.error(format!(
                    "expected `*`, a quoted name, an index or a slice after `[`, {}",
                    self.found()
                ));
            }
        };
        self.skip_spaces();
        if !self.eat(']') {
            return self.error(format!("expected `]`, {}", self.found()));
        }
        Ok(selector)
    }

    /// `[N,M,...]` or `[start:end:step]`.
    fn numeric(&mut self) -> Result<Selector, ParseError> {
        let first = self.number()?;
        self.skip_spaces();
        if self.peek() == Some(':') {
            let start = first;
            self.at += 1;
            self.skip_spaces();
            let end = self.number()?;
            self.skip_spaces();
            let mut step = 1;
            if self.eat(':') {
                self.skip_spaces();
                let at = self.at;
                if let Some(s) = self.number()? {
                    if s == 0 {
                        self.at = at;
                        return self.error("a slice step must be at least 1");
                    }
                    step = s;
                }
            }
            return Ok(Selector::Slice { start, end, step });
        }
        let Some(first) = first else {
            return self.error(format!("expected an index, {}", self.found()));
        };
        let mut indices = vec![first];
        loop {
            self.skip_spaces();
            if !self.eat(',') {
                break;
            }
            self.skip_spaces();
            match self.number()? {
                Some(n) => indices.push(n),
                None => {
                    return self.error(format!("expected an index after `,`, {}", self.found()));
                }
            }
        }
        Ok(Selector::Indices(indices))
    }

    /// An optional non-negative integer.
    fn number(&mut self) -> Result<Option<usize>, ParseError> {
        if self.peek() == Some('-') {
            return self.error("negative indices are not supported");
        }
        let start = self.at;
        let mut n: usize = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = match n.checked_mul(10).and_then(|n| n.checked_add(d as usize)) {
                Some(n) => n,
                None => {
                    self.at = start;
                    return self.error("index too large");
                }
            };
            self.at += 1;
        }
        Ok((self.at > start).then_some(n))
    }

    /// A JavaScript string literal in single or double quotes.
    fn string(&mut self) -> Result<String, ParseError> {
        let Some(quote) = self.peek() else {
            return self.error("expected a quoted name");
        };
        let open = self.at;
        self.at += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                self.at = open;
                return self.error(format!("unterminated string starting with {quote}"));
            };
            self.at += 1;
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.peek() else {
                return self.error("expected a character after `\\`");
            };
            self.at += 1;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '0' => out.push('\0'),
                'u' => {
                    let digits: String = self
                        .chars
                        .get(self.at..self.at + 4)
                        .unwrap_or_default()
                        .iter()
                        .map(|&(_, c)| c)
                        .collect();
                    let code = u32::from_str_radix(&digits, 16)
                        .ok()
                        .filter(|_| digits.len() == 4);
                    match code.and_then(char::from_u32) {
                        Some(ch) => out.push(ch),
                        None => {
                            return self.error("expected 4 hex digits of a character after `\\u`");
                        }
                    }
                    self.at += 4;
                }
                // JavaScript keeps any other escaped character as itself (`\'`, `\"`, `\\`, `\/`).
                other => out.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn sels(text: &str) -> Vec<Selector> {
        match JsonPath::parse(text) {
            Ok(p) => p.selectors,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn dot(s: &str) -> Selector {
        Selector::Dot(s.into())
    }

    #[test]
    fn parses_each_form() {
        use Selector::*;
        assert_eq!(sels("$"), vec![]);
        assert_eq!(sels("$.a.b-c.0"), vec![dot("a"), dot("b-c"), dot("0")]);
        assert_eq!(sels("$.*[*]"), vec![Wildcard, Wildcard]);
        assert_eq!(
            sels(r#"$['a.b/c', "d" ,'it\'s', "q\"\\"]"#),
            vec![Names(vec![
                "a.b/c".into(),
                "d".into(),
                "it's".into(),
                "q\"\\".into()
            ])]
        );
        assert_eq!(sels("$[1, 2,3]"), vec![Indices(vec![1, 2, 3])]);
        assert_eq!(
            sels("$[1:5:2][:3][2:][::3][:]"),
            vec![
                Slice {
                    start: Some(1),
                    end: Some(5),
                    step: 2
                },
                Slice {
                    start: None,
                    end: Some(3),
                    step: 1
                },
                Slice {
                    start: Some(2),
                    end: None,
                    step: 1
                },
                Slice {
                    start: None,
                    end: None,
                    step: 3
                },
                Slice {
                    start: None,
                    end: None,
                    step: 1
                },
            ]
        );
        assert_eq!(
            sels("$..name..*..['x']..[0]"),
            vec![
                Descend(Box::new(dot("name"))),
                Descend(Box::new(Wildcard)),
                Descend(Box::new(Names(vec!["x".into()]))),
                Descend(Box::new(Indices(vec![0]))),
            ]
        );
        assert_eq!(sels(r"$['\u00e9']"), vec![Names(vec!["é".into()])]);
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "must start with `$`"),
            ("spec.x", 0, "must start with `$`"),
            ("$x", 1, "expected `.`, `..` or `[`"),
            ("$.", 2, "expected a name or `*` after `.`"),
            ("$.a..", 5, "after `..`"),
            ("$[?(@.a)]", 2, "filter expressions"),
            ("$[-1]", 2, "negative indices"),
            ("$[1:-1]", 4, "negative indices"),
            ("$[::0]", 4, "step must be at least 1"),
            ("$['a'", 5, "expected `]`"),
            ("$['a]", 2, "unterminated string"),
            ("$[a]", 2, "expected `*`, a quoted name"),
            ("$[1,]", 4, "expected an index after `,`"),
            ("$['a',1]", 6, "expected a quoted name after `,`"),
            ("$[99999999999999999999999]", 2, "index too large"),
        ];
        for (text, position, words) in cases {
            match JsonPath::parse(text) {
                Ok(p) => panic!("{text} parsed as {p:?}"),
                Err(e) => {
                    assert_eq!(e.position, *position, "{text}: {e}");
                    assert!(e.message.contains(words), "{text}: {e}");
                }
            }
        }
    }

    fn set(doc: &Value, path: &str, value: Value) -> Result<Value, String> {
        let path = JsonPath::parse(path).map_err(|e| e.to_string())?;
        let mut doc = doc.clone();
        path.set(&mut doc, &value).map_err(|e| e.to_string())?;
        Ok(doc)
    }

    #[test]
    fn definite_writes() {
        let doc = json!({"spec": {"x": [1, {"y": 2}], "n": null, "s": "str"}});
        let ok = |path: &str, value: Value, want: Value| {
            assert_eq!(set(&doc, path, value), Ok(want), "{path}");
        };
        ok(
            "$.spec.z",
            json!(3),
            json!({"spec": {"x": [1, {"y": 2}], "n": null, "s": "str", "z": 3}}),
        );
        ok(
            "$.spec.x.0",
            json!("a"),
            json!({"spec": {"x": ["a", {"y": 2}], "n": null, "s": "str"}}),
        );
        ok(
            "$.spec.x[1].y",
            json!(5),
            json!({"spec": {"x": [1, {"y": 5}], "n": null, "s": "str"}}),
        );
        ok(
            "$.spec.x.1.w",
            json!(5),
            json!({"spec": {"x": [1, {"y": 2, "w": 5}], "n": null, "s": "str"}}),
        );
        ok(
            "$.metadata.labels['app.kubernetes.io/name']",
            json!("web"),
            json!({"spec": {"x": [1, {"y": 2}], "n": null, "s": "str"},
                   "metadata": {"labels": {"app.kubernetes.io/name": "web"}}}),
        );
        ok(
            "$.spec.n.a.b",
            json!(1),
            json!({"spec": {"x": [1, {"y": 2}], "n": {"a": {"b": 1}}, "s": "str"}}),
        );
        ok("$", json!(7), json!(7));
        let m = json!({"m": {"0": "a"}});
        assert_eq!(set(&m, "$.m.0", json!("b")), Ok(json!({"m": {"0": "b"}})));
        assert_eq!(
            set(&m, "$.m.1", json!("c")),
            Ok(json!({"m": {"0": "a", "1": "c"}}))
        );
        assert_eq!(
            set(&m, "$.n.1", json!("c")),
            Err(
                "path $.n.1: $.n does not exist and gitstellar creates only maps, but the next \
                 selector needs an array"
                    .to_owned()
            )
        );
        ok("$.spec", json!({}), json!({"spec": {}}));
    }

    #[test]
    fn definite_write_errors() {
        let doc = json!({"spec": {"x": [1, 2], "s": "str"}});
        let err = |path: &str, want: &str| {
            assert_eq!(set(&doc, path, json!(0)), Err(want.to_owned()), "{path}");
        };
        err(
            "$.spec.x.3",
            "path $.spec.x.3: index 3 is beyond the 2 items of $.spec.x",
        );
        err(
            "$.spec.x[2].a",
            "path $.spec.x[2].a: index 2 is beyond the 2 items of $.spec.x",
        );
        err(
            "$.spec.s.a",
            "path $.spec.s.a: $.spec.s is a string, not a map",
        );
        err(
            "$.spec.x.a",
            "path $.spec.x.a: $.spec.x is an array, not a map",
        );
        err("$.spec[0]", "path $.spec[0]: $.spec is a map, not an array");
        err(
            "$.spec.x.0.a",
            "path $.spec.x.0.a: $.spec.x.0 is a number, not a map",
        );
        err(
            "$.spec.new.0",
            "path $.spec.new.0: $.spec.new does not exist and gitstellar creates only maps, \
             but the next selector needs an array",
        );
        err(
            "$.spec.new.deeper.0",
            "path $.spec.new.deeper.0: $.spec.new.deeper does not exist and gitstellar creates \
             only maps, but the next selector needs an array",
        );
        // Nothing is created when a later step fails.
        let mut doc2 = doc.clone();
        let path = JsonPath::parse("$.a.b.c").ok();
        let bad = JsonPath::parse("$.spec.q.r[0]").ok();
        assert!(path.is_some() && bad.is_some());
        if let Some(bad) = bad {
            assert!(bad.set(&mut doc2, &json!(1)).is_err());
            assert_eq!(doc2, doc);
        }
    }

    #[test]
    fn wildcard_writes() {
        let doc =
            json!({"c": [{"name": "a"}, {"name": "b", "x": 1}, "scalar"], "m": {"p": 1, "q": 2}});
        // Under a wildcard only existing members are written: `x` is not added to item 0.
        assert_eq!(
            set(&doc, "$.c[*].x", json!(9)),
            Ok(
                json!({"c": [{"name": "a"}, {"name": "b", "x": 9}, "scalar"], "m": {"p": 1, "q": 2}})
            )
        );
        assert_eq!(
            set(&doc, "$.m.*", json!(0)),
            Ok(
                json!({"c": [{"name": "a"}, {"name": "b", "x": 1}, "scalar"], "m": {"p": 0, "q": 0}})
            )
        );
        // Matching nothing is not an error, and nothing is created under a wildcard.
        assert_eq!(set(&doc, "$.none[*].x", json!(9)), Ok(doc.clone()));
        assert_eq!(set(&doc, "$.c[*].y.z", json!(9)), Ok(doc.clone()));
    }

    #[test]
    fn slice_and_list_writes() {
        let doc = json!({"a": [0, 1, 2, 3, 4, 5, 6], "m": {"x": 1, "y": 2, "z": 3}});
        assert_eq!(
            set(&doc, "$.a[1:6:2]", json!("s")),
            Ok(json!({"a": [0, "s", 2, "s", 4, "s", 6], "m": {"x": 1, "y": 2, "z": 3}}))
        );
        assert_eq!(
            set(&doc, "$.a[::3]", json!("s")),
            Ok(json!({"a": ["s", 1, 2, "s", 4, 5, "s"], "m": {"x": 1, "y": 2, "z": 3}}))
        );
        assert_eq!(
            set(&doc, "$.a[5:100]", json!("s")),
            Ok(json!({"a": [0, 1, 2, 3, 4, "s", "s"], "m": {"x": 1, "y": 2, "z": 3}}))
        );
        assert_eq!(
            set(&doc, "$.a[0,2,99]", json!("s")),
            Ok(json!({"a": ["s", 1, "s", 3, 4, 5, 6], "m": {"x": 1, "y": 2, "z": 3}}))
        );
        assert_eq!(
            set(&doc, "$.m['x','z','w']", json!(0)),
            Ok(json!({"a": [0, 1, 2, 3, 4, 5, 6], "m": {"x": 0, "y": 2, "z": 0}}))
        );
    }

    /// KubeStellar's own evaluation vectors: a missing final member is created only along
    /// selectors that each pick at most one member.
    #[test]
    fn final_member_created_only_along_single_member_selectors() {
        let doc = json!({"items": [{"n": 0}, {"n": 1, "note": "x"}, {"n": 2}, {"n": 3}]});
        assert_eq!(
            set(&doc, "$.items[1::2].note", json!("y")),
            Ok(json!({"items": [{"n": 0}, {"n": 1, "note": "y"}, {"n": 2}, {"n": 3}]})),
            "an open, stepped slice writes only existing members"
        );
        assert_eq!(
            set(&doc, "$.items[0:1].note", json!("y")),
            Ok(
                json!({"items": [{"n": 0, "note": "y"}, {"n": 1, "note": "x"}, {"n": 2}, {"n": 3}]})
            ),
            "a slice of one index creates the final member"
        );
        assert_eq!(
            set(&doc, "$.items[2:3].note", json!("y")),
            Ok(
                json!({"items": [{"n": 0}, {"n": 1, "note": "x"}, {"n": 2, "note": "y"}, {"n": 3}]})
            )
        );
        assert_eq!(set(&doc, "$.items[2::2].note", json!("y")), Ok(doc.clone()));
        assert_eq!(
            set(&doc, "$.items[2:4].note", json!("y")),
            Ok(doc.clone()),
            "two indices"
        );
        assert_eq!(set(&doc, "$.items[0,2].note", json!("y")), Ok(doc.clone()));
        assert_eq!(
            set(&doc, "$.items[*].note", json!("y")).map(|d| d["items"][0].clone()),
            Ok(json!({"n": 0}))
        );
        assert_eq!(set(&doc, "$..items[0].note", json!("y")), Ok(doc.clone()));
        assert_eq!(
            set(&doc, "$.items[9:10].note", json!("y")),
            Ok(doc.clone()),
            "a slice past the end selects nothing"
        );
    }

    #[test]
    fn recursive_descent() {
        let doc = json!({"a": {"a": 1, "b": [{"a": 2}, {"c": {"a": 3}}]}, "d": 4});
        assert_eq!(
            set(&doc, "$..a", json!({"a": 0})),
            Ok(json!({"a": {"a": 0}, "d": 4}))
        );
        assert_eq!(
            set(&doc, "$.a.b..a", json!(0)),
            Ok(json!({"a": {"a": 1, "b": [{"a": 0}, {"c": {"a": 0}}]}, "d": 4}))
        );
        assert_eq!(
            set(&doc, "$..[0]", json!("z")),
            Ok(json!({"a": {"a": 1, "b": ["z", {"c": {"a": 3}}]}, "d": 4}))
        );
        assert_eq!(set(&doc, "$..nothing", json!(0)), Ok(doc.clone()));
        let found = JsonPath::parse("$..a")
            .map(|p| p.select(&doc).into_iter().cloned().collect::<Vec<_>>())
            .ok();
        assert_eq!(
            found,
            Some(vec![
                json!({"a": 1, "b": [{"a": 2}, {"c": {"a": 3}}]}),
                json!(1),
                json!(2),
                json!(3)
            ])
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in "\\PC*") {
            let _ = JsonPath::parse(&text);
        }

        #[test]
        fn parser_never_panics_on_path_like_text(text in "\\$[.\\[\\]*'\"\\\\:,0-9a-z?()-]{0,20}") {
            if let Ok(path) = JsonPath::parse(&text) {
                let mut doc = json!({"a": [1, {"b": 2}], "c": {"0": [3]}});
                let _ = path.set(&mut doc, &json!(null));
            }
        }
    }
}
