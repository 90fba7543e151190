//! Syntax of Kubernetes names, label keys and values, and git ref components.
//!
//! Each function returns `Err(reason)` with a short human reason ("must be no more than 63
//! characters"), which callers wrap with the file and object. The rules are apimachinery's
//! (`k8s.io/apimachinery/pkg/util/validation`) and git's (`git check-ref-format`), written as
//! plain character scans. Where apimachinery reports several errors, the first is returned:
//! fixing one at a time is how a user reads them anyway. Lengths are in bytes, as Go's `len`.

/// Longest label value and name part of a label key (`qualifiedNameMaxLength`).
pub const LABEL_MAX_LENGTH: usize = 63;
/// Longest RFC 1123 label.
pub const DNS_LABEL_MAX_LENGTH: usize = 63;
/// Longest RFC 1123 subdomain, and the longest object name gitstellar writes into a path.
pub const DNS_SUBDOMAIN_MAX_LENGTH: usize = 253;

const NON_EMPTY: &str = "must be non-empty";
const QUALIFIED_NAME_CHARS: &str = "must consist of alphanumeric characters, '-', '_' or '.', \
     and must start and end with an alphanumeric character";
const LABEL_VALUE_CHARS: &str = "must be empty or consist of alphanumeric characters, '-', '_' \
     or '.', and must start and end with an alphanumeric character";
const DNS_SUBDOMAIN_CHARS: &str = "must consist of lower case alphanumeric characters, '-' or \
     '.', and must start and end with an alphanumeric character";
const DNS_LABEL_CHARS: &str = "must consist of lower case alphanumeric characters or '-', and \
     must start and end with an alphanumeric character";

fn max_len(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`: the name part of a label key, and a non-empty
/// label value.
fn is_qualified_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, the RFC 1123 label pattern without its length limit.
fn is_dns_label_syntax(s: &str) -> bool {
    let lower_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            lower_alnum(first)
                && lower_alnum(last)
                && bytes.iter().all(|b| lower_alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

/// A label key: optional DNS-subdomain prefix (at most 253) and `/`, then a name of at most 63
/// characters, alphanumeric at both ends with `-`, `_`, `.` inside (apimachinery's
/// `IsQualifiedName`).
pub fn label_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(NON_EMPTY.to_string());
    }
    let name = match key.split_once('/') {
        None => key,
        Some((_, name)) if name.contains('/') => {
            return Err(
                "may contain at most one '/' (an optional DNS subdomain prefix, then a \
                 name, e.g. 'example.com/MyName')"
                    .to_string(),
            );
        }
        Some((prefix, name)) => {
            if prefix.is_empty() {
                return Err(format!("prefix part {NON_EMPTY}"));
            }
            dns_subdomain(prefix).map_err(|reason| format!("prefix part {reason}"))?;
            name
        }
    };
    if name.is_empty() {
        return Err(format!("name part {NON_EMPTY}"));
    }
    if name.len() > LABEL_MAX_LENGTH {
        return Err(format!("name part {}", max_len(LABEL_MAX_LENGTH)));
    }
    if !is_qualified_name_part(name) {
        return Err(format!("name part {QUALIFIED_NAME_CHARS}"));
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters, alphanumeric at both ends with `-_.` inside
/// (apimachinery's `IsValidLabelValue`).
pub fn label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > LABEL_MAX_LENGTH {
        return Err(max_len(LABEL_MAX_LENGTH));
    }
    if !is_qualified_name_part(value) {
        return Err(LABEL_VALUE_CHARS.to_string());
    }
    Ok(())
}

/// An RFC 1123 DNS subdomain (at most 253 characters of lowercase alphanumerics, `-` and `.`,
/// each dot-separated part alphanumeric at both ends).
pub fn dns_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(NON_EMPTY.to_string());
    }
    if name.len() > DNS_SUBDOMAIN_MAX_LENGTH {
        return Err(max_len(DNS_SUBDOMAIN_MAX_LENGTH));
    }
    if !name.split('.').all(is_dns_label_syntax) {
        return Err(DNS_SUBDOMAIN_CHARS.to_string());
    }
    Ok(())
}

/// An RFC 1123 DNS label (at most 63 characters of lowercase alphanumerics and `-`).
pub fn dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(NON_EMPTY.to_string());
    }
    if name.len() > DNS_LABEL_MAX_LENGTH {
        return Err(max_len(DNS_LABEL_MAX_LENGTH));
    }
    if !is_dns_label_syntax(name) {
        return Err(DNS_LABEL_CHARS.to_string());
    }
    Ok(())
}

/// An object name as the API server accepts it in a URL path: not `.` or `..`, no `/` or `%`
/// (apimachinery's `IsValidPathSegmentName`).
///
/// Stricter than the API server in two ways, because gitstellar writes names into file paths:
/// no control characters and at most 253 bytes.
pub fn path_segment_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(NON_EMPTY.to_string());
    }
    if name == "." || name == ".." {
        return Err(format!("may not be '{name}'"));
    }
    for bad in ['/', '%'] {
        if name.contains(bad) {
            return Err(format!("may not contain '{bad}'"));
        }
    }
    if name.chars().any(char::is_control) {
        return Err("may not contain control characters".to_string());
    }
    if name.len() > DNS_SUBDOMAIN_MAX_LENGTH {
        return Err(format!(
            "must be no more than {DNS_SUBDOMAIN_MAX_LENGTH} bytes"
        ));
    }
    Ok(())
}

/// A name usable as one component of a git ref (`refs/heads/gitstellar/mailbox/<name>`), by the
/// rules of `git check-ref-format`.
///
/// Also rejects what git allows in a middle component but not as a whole name or a branch name
/// (a leading `-`, a trailing `.`, `@` alone), so the component is safe in any position.
pub fn ref_component(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(NON_EMPTY.to_string());
    }
    if name == "@" {
        return Err("may not be '@'".to_string());
    }
    for c in name.chars() {
        if c == ' ' || c.is_ascii_control() {
            return Err("may not contain spaces or control characters".to_string());
        }
        if matches!(c, '/' | '~' | '^' | ':' | '?' | '*' | '[' | '\\') {
            return Err(format!("may not contain '{c}'"));
        }
    }
    for bad in ["..", "@{"] {
        if name.contains(bad) {
            return Err(format!("may not contain '{bad}'"));
        }
    }
    for bad in ['.', '-'] {
        if name.starts_with(bad) {
            return Err(format!("may not begin with '{bad}'"));
        }
    }
    for bad in [".lock", "."] {
        if name.ends_with(bad) {
            return Err(format!("may not end with '{bad}'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(f: fn(&str) -> Result<(), String>, valid: &[&str], invalid: &[(&str, &str)]) {
        for v in valid {
            assert_eq!(f(v), Ok(()), "{v:?} should be valid");
        }
        for (v, reason) in invalid {
            match f(v) {
                Ok(()) => panic!("{v:?} should be invalid"),
                Err(got) => assert!(
                    got.contains(reason),
                    "{v:?}: reason {got:?} should contain {reason:?}"
                ),
            }
        }
    }

    #[test]
    fn label_keys() {
        let long_name = "a".repeat(63);
        let long_prefix = format!("{}.com", "a".repeat(250));
        let ok_prefix = format!("{}/x", "a".repeat(253));
        let valid = [
            "env",
            "a",
            "9",
            "My_Name.v-1",
            "kubernetes.io/hostname",
            "edge.kubestellar.io/projected",
            "a.b-c.d/X_y",
            long_name.as_str(),
            ok_prefix.as_str(),
        ];
        let too_long_name = "a".repeat(64);
        let too_long_prefixed = format!("x.io/{too_long_name}");
        let too_long_prefix = format!("{long_prefix}/x");
        check(
            label_key,
            &valid,
            &[
                ("", "must be non-empty"),
                ("/env", "prefix part must be non-empty"),
                ("x.io/", "name part must be non-empty"),
                ("a/b/c", "at most one '/'"),
                ("Example.com/env", "prefix part must consist of lower case"),
                ("ex_ample.com/env", "prefix part must consist"),
                ("a..b/env", "prefix part must consist"),
                (
                    too_long_prefix.as_str(),
                    "prefix part must be no more than 253",
                ),
                (too_long_name.as_str(), "name part must be no more than 63"),
                (
                    too_long_prefixed.as_str(),
                    "name part must be no more than 63",
                ),
                ("-env", "name part must consist"),
                ("env_", "name part must consist"),
                (".env", "name part must consist"),
                ("en v", "name part must consist"),
                ("énv", "name part must consist"),
                ("env=prod", "name part must consist"),
            ],
        );
    }

    #[test]
    fn label_values() {
        let longest = "z".repeat(63);
        let too_long = "z".repeat(64);
        check(
            label_value,
            &["", "prod", "A", "1.2.3", "a_b-c.D", longest.as_str()],
            &[
                (too_long.as_str(), "must be no more than 63 characters"),
                ("-prod", "must be empty or consist"),
                ("prod.", "must be empty or consist"),
                ("_", "must be empty or consist"),
                ("a b", "must be empty or consist"),
                ("a/b", "must be empty or consist"),
                ("ü", "must be empty or consist"),
            ],
        );
    }

    #[test]
    fn dns_subdomains() {
        let longest = format!("{}.{}", "a".repeat(63), "b".repeat(189));
        assert_eq!(longest.len(), 253);
        let too_long = format!("{longest}c");
        check(
            dns_subdomain,
            &[
                "a",
                "0",
                "my-app",
                "a.b.c",
                "kube-system",
                "1-2.3-4",
                longest.as_str(),
            ],
            &[
                ("", "must be non-empty"),
                (too_long.as_str(), "must be no more than 253 characters"),
                ("My-app", "lower case alphanumeric characters, '-' or '.'"),
                ("-a", "must start and end"),
                ("a-", "must start and end"),
                ("a.", "must start and end"),
                (".a", "must start and end"),
                ("a..b", "must start and end"),
                ("a.-b", "must start and end"),
                ("a_b", "must consist"),
            ],
        );
    }

    #[test]
    fn dns_labels() {
        let longest = "a".repeat(63);
        let too_long = "a".repeat(64);
        check(
            dns_label,
            &["a", "0", "my-app", "a--b", longest.as_str()],
            &[
                ("", "must be non-empty"),
                (too_long.as_str(), "must be no more than 63 characters"),
                ("a.b", "lower case alphanumeric characters or '-'"),
                ("A", "must consist"),
                ("-a", "must start and end"),
                ("a-", "must start and end"),
            ],
        );
    }

    #[test]
    fn path_segment_names() {
        let longest = "n".repeat(253);
        let too_long = "n".repeat(254);
        check(
            path_segment_name,
            &["a", "My Name", "a.b", "...", "a:b", "ünï", longest.as_str()],
            &[
                ("", "must be non-empty"),
                (".", "may not be '.'"),
                ("..", "may not be '..'"),
                ("a/b", "may not contain '/'"),
                ("50%", "may not contain '%'"),
                ("a\nb", "control characters"),
                ("a\u{7f}", "control characters"),
                ("a\u{85}", "control characters"),
                (too_long.as_str(), "must be no more than 253 bytes"),
            ],
        );
        // Bytes, not characters: 127 two-byte characters are 254 bytes.
        assert!(path_segment_name(&"é".repeat(127)).is_err());
    }

    #[test]
    fn ref_components() {
        check(
            ref_component,
            &[
                "main", "wec-1", "a.b", "a@b", "@x", "x@", "a{b}", "ünï", "a-", "_", "a.lockx",
            ],
            &[
                ("", "must be non-empty"),
                ("@", "may not be '@'"),
                ("a/b", "may not contain '/'"),
                ("a..b", "may not contain '..'"),
                ("a@{b", "may not contain '@{'"),
                ("a b", "spaces or control characters"),
                ("a\tb", "spaces or control characters"),
                ("a\u{7f}", "spaces or control characters"),
                ("a~1", "'~'"),
                ("a^", "'^'"),
                ("a:b", "':'"),
                ("a?", "'?'"),
                ("a*", "'*'"),
                ("a[b", "'['"),
                ("a\\b", "'\\'"),
                (".a", "may not begin with '.'"),
                ("-a", "may not begin with '-'"),
                ("a.lock", "may not end with '.lock'"),
                ("a.", "may not end with '.'"),
            ],
        );
    }

    /// Valid label names and values, as the apimachinery pattern describes them.
    fn valid_name_part() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
    }

    fn valid_subdomain() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", 1..5)
            .prop_map(|parts| parts.join("."))
    }

    /// A character a label value may not contain.
    fn bad_label_char() -> impl Strategy<Value = char> {
        any::<char>().prop_filter("allowed in labels", |c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
    }

    proptest! {
        #[test]
        fn generated_label_values_are_valid(value in valid_name_part()) {
            prop_assert_eq!(label_value(&value), Ok(()));
            prop_assert_eq!(label_key(&value), Ok(()));
        }

        #[test]
        fn generated_prefixed_keys_are_valid(prefix in valid_subdomain(), name in valid_name_part()) {
            prop_assert_eq!(dns_subdomain(&prefix), Ok(()));
            prop_assert_eq!(label_key(&format!("{prefix}/{name}")), Ok(()));
        }

        #[test]
        fn a_bad_char_anywhere_invalidates_a_label(
            value in "[A-Za-z0-9]{0,20}",
            bad in bad_label_char(),
            at in any::<prop::sample::Index>(),
        ) {
            let mut chars: Vec<char> = value.chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            let value: String = chars.into_iter().collect();
            prop_assert!(label_value(&value).is_err());
            // A '/' makes it a prefixed key, which a valid prefix and name may still form.
            if bad != '/' {
                prop_assert!(label_key(&value).is_err());
            }
        }

        #[test]
        fn valid_dns_labels_are_valid_subdomains_and_label_values(name in "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?") {
            prop_assert_eq!(dns_label(&name), Ok(()));
            prop_assert_eq!(dns_subdomain(&name), Ok(()));
            prop_assert_eq!(label_value(&name), Ok(()));
            prop_assert_eq!(path_segment_name(&name), Ok(()));
            prop_assert_eq!(ref_component(&name), Ok(()));
        }

        /// Where our rule and git's are meant to agree, they do (libgit2 implements
        /// `git check-ref-format`); our extra rules (leading '-', '@' alone) only reject more.
        #[test]
        fn ref_component_agrees_with_libgit2(name in "[-a-z.@{}~^:?*\\[\\\\ /\t\u{7f}é]{0,8}") {
            let full = format!("refs/heads/gitstellar/mailbox/{name}");
            let git_ok = git2::Reference::is_valid_name(&full) && !name.is_empty() && !name.contains('/');
            let extra = name.starts_with('-') || name == "@";
            let ours = ref_component(&name).is_ok();
            if extra {
                prop_assert!(!ours);
            } else {
                prop_assert_eq!(ours, git_ok, "{:?}", name);
            }
        }
    }
}
