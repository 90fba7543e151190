//! Syntax of Kubernetes names, label keys and values, and git ref components.
//!
//! Each function returns `Err(reason)` with a short human reason ("must be at most 63 characters"),
//! which callers wrap with the file and object.

/// A label key: optional DNS-subdomain prefix (at most 253) and `/`, then a name of at most 63
/// characters, alphanumeric at both ends with `-`, `_`, `.` inside.
pub fn label_key(key: &str) -> Result<(), String> {
    let _ = key;
    Ok(())
}

/// A label value: empty, or at most 63 characters, alphanumeric at both ends with `-_.` inside.
pub fn label_value(value: &str) -> Result<(), String> {
    let _ = value;
    Ok(())
}

/// An RFC 1123 DNS subdomain (at most 253 characters of lowercase alphanumerics, `-` and `.`).
pub fn dns_subdomain(name: &str) -> Result<(), String> {
    let _ = name;
    Ok(())
}

/// An RFC 1123 DNS label (at most 63 characters of lowercase alphanumerics and `-`).
pub fn dns_label(name: &str) -> Result<(), String> {
    let _ = name;
    Ok(())
}

/// An object name as the API server accepts it in a URL path: not `.` or `..`, no `/` or `%`.
pub fn path_segment_name(name: &str) -> Result<(), String> {
    let _ = name;
    Ok(())
}

/// A name usable as one component of a git ref (`refs/heads/gitstellar/mailbox/<name>`).
pub fn ref_component(name: &str) -> Result<(), String> {
    let _ = name;
    Ok(())
}
