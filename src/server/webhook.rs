//! Webhook deliveries: the provider's signature, checked over the raw body before anything is
//! parsed, and what the delivery announces (a push to which refs, a ping, something else).
//!
//! Inputs: a [`Provider`], the request's headers, its raw body and the secret read from the file
//! the serve config names. Outputs: [`verify`]'s verdict, the delivery id to deduplicate on
//! ([`delivery_id`]) and an [`Event`] ([`parse`]). No I/O: the HTTP handlers in the server decide
//! the status codes; this module only says what is true of a delivery.
//!
//! Signatures are compared in constant time (`hmac`'s `verify_slice`, `subtle` for GitLab's
//! token), so a caller cannot learn a secret byte by byte from response times. GitHub's SHA-1
//! `X-Hub-Signature` alone is refused: SHA-1 HMACs are what GitHub keeps only for old hooks.
//! Which commits a push changed is never read from the payload (its `commits[]` is truncated at
//! 20 by GitHub and GitLab): the reconcile pass diffs `before..after` in git itself.

use std::collections::{HashSet, VecDeque};

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A git hosting service whose push webhooks gitstellar receives, at `/hooks/<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// GitHub (and GitHub Enterprise Server).
    GitHub,
    /// GitLab (SaaS and self-managed).
    GitLab,
    /// Gitea and Forgejo.
    Gitea,
    /// Bitbucket Cloud and Bitbucket Data Center/Server.
    Bitbucket,
    /// Anything that can sign a body: `X-Signature: sha256=<hex>`.
    Generic,
}

impl Provider {
    /// Every provider, in the order the docs list them.
    pub const ALL: [Provider; 5] = [
        Provider::GitHub,
        Provider::GitLab,
        Provider::Gitea,
        Provider::Bitbucket,
        Provider::Generic,
    ];

    /// The provider's name: the last segment of its receiver's path and its metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Gitea => "gitea",
            Provider::Bitbucket => "bitbucket",
            Provider::Generic => "generic",
        }
    }

    /// The provider a receiver path segment names.
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a delivery is not authentic. Every variant is answered 401, before the body is parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// No signature header the provider sends.
    #[error("no {expected} header")]
    Missing {
        /// The header(s) looked for.
        expected: &'static str,
    },
    /// Only GitHub's SHA-1 signature, which is not accepted.
    #[error("only the SHA-1 X-Hub-Signature: configure the hook to send X-Hub-Signature-256")]
    Sha1Only,
    /// A signature header that is not `sha256=<hex>` (or hex, for Gitea).
    #[error("{header} is not a SHA-256 signature")]
    Malformed {
        /// The header.
        header: &'static str,
    },
    /// The signature or token does not match the secret.
    #[error("{header} does not match the configured secret")]
    Mismatch {
        /// The header.
        header: &'static str,
    },
}

/// Checks a delivery's signature (or GitLab's token) against the secret, over the raw body.
pub fn verify(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
) -> Result<(), VerifyError> {
    match provider {
        Provider::GitHub => {
            match header(headers, "x-hub-signature-256") {
                Some(sig) => hmac_prefixed("X-Hub-Signature-256", sig, body, secret),
                // Refused rather than checked: SHA-1 is the downgrade an attacker would pick.
                None if header(headers, "x-hub-signature").is_some() => Err(VerifyError::Sha1Only),
                None => Err(VerifyError::Missing {
                    expected: "X-Hub-Signature-256",
                }),
            }
        }
        Provider::Gitea => {
            if let Some(sig) = header(headers, "x-gitea-signature") {
                hmac_hex("X-Gitea-Signature", sig, body, secret)
            } else if let Some(sig) = header(headers, "x-forgejo-signature") {
                hmac_hex("X-Forgejo-Signature", sig, body, secret)
            } else if let Some(sig) = header(headers, "x-hub-signature-256") {
                hmac_prefixed("X-Hub-Signature-256", sig, body, secret)
            } else {
                Err(VerifyError::Missing {
                    expected: "X-Gitea-Signature or X-Hub-Signature-256",
                })
            }
        }
        Provider::GitLab => {
            let Some(token) = header(headers, "x-gitlab-token") else {
                return Err(VerifyError::Missing {
                    expected: "X-Gitlab-Token",
                });
            };
            if bool::from(token.as_bytes().ct_eq(secret)) {
                Ok(())
            } else {
                Err(VerifyError::Mismatch {
                    header: "X-Gitlab-Token",
                })
            }
        }
        Provider::Bitbucket => match header(headers, "x-hub-signature") {
            Some(sig) => hmac_prefixed("X-Hub-Signature", sig, body, secret),
            None => Err(VerifyError::Missing {
                expected: "X-Hub-Signature",
            }),
        },
        Provider::Generic => match header(headers, "x-signature") {
            Some(sig) => hmac_prefixed("X-Signature", sig, body, secret),
            None => Err(VerifyError::Missing {
                expected: "X-Signature",
            }),
        },
    }
}

/// `sha256=<hex>`, the form GitHub, Bitbucket and the generic receiver use.
fn hmac_prefixed(
    name: &'static str,
    value: &str,
    body: &[u8],
    secret: &[u8],
) -> Result<(), VerifyError> {
    let hex = value
        .strip_prefix("sha256=")
        .ok_or(VerifyError::Malformed { header: name })?;
    hmac_hex(name, hex, body, secret)
}

fn hmac_hex(name: &'static str, hex: &str, body: &[u8], secret: &[u8]) -> Result<(), VerifyError> {
    let expected = hex::decode(hex.trim()).map_err(|_| VerifyError::Malformed { header: name })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .map_err(|_| VerifyError::Mismatch { header: name })?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| VerifyError::Mismatch { header: name })
}

/// The `sha256=<hex>` signature of a body, as the providers compute it (for tests and for
/// signing deliveries in scripts).
pub fn sign(body: &[u8], secret: &[u8]) -> String {
    // HMAC takes a key of any length; the error is unreachable, but mapped rather than unwrapped.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The id a provider gives each delivery (the same on a redelivery), to deduplicate on.
pub fn delivery_id(provider: Provider, headers: &HeaderMap) -> Option<String> {
    let names: &[&str] = match provider {
        Provider::GitHub => &["x-github-delivery"],
        Provider::GitLab => &["x-gitlab-event-uuid", "idempotency-key"],
        Provider::Gitea => &[
            "x-gitea-delivery",
            "x-forgejo-delivery",
            "x-github-delivery",
        ],
        Provider::Bitbucket => &["x-request-uuid", "x-request-id"],
        Provider::Generic => &["idempotency-key", "x-request-uuid"],
    };
    names
        .iter()
        .find_map(|n| header(headers, n))
        .map(|id| format!("{provider}/{}", id.trim()))
}

/// What a delivery announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Refs were updated (a branch pushed, created or deleted; a tag).
    Push(Vec<RefUpdate>),
    /// The provider checks the hook works.
    Ping,
    /// An event gitstellar does not act on, by the provider's name for it.
    Other(String),
}

/// One ref a push updated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefUpdate {
    /// The full ref name: `refs/heads/main`, `refs/tags/v1`.
    pub name: String,
    /// Its new commit; `None` when the ref was deleted (or the provider does not say).
    pub after: Option<String>,
}

impl RefUpdate {
    /// The branch this updates, if it is a branch.
    pub fn branch(&self) -> Option<&str> {
        self.name.strip_prefix("refs/heads/")
    }
}

/// Why a verified delivery's body cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// A push event without the ref it pushed.
    #[error("a {provider} push event without {field}")]
    MissingField {
        /// The provider.
        provider: Provider,
        /// The JSON field looked for.
        field: &'static str,
    },
}

/// What a verified delivery announces, from its event header and JSON body.
pub fn parse(provider: Provider, headers: &HeaderMap, body: &[u8]) -> Result<Event, ParseError> {
    let json: Value = serde_json::from_slice(body).map_err(ParseError::NotJson)?;
    let missing = |field| ParseError::MissingField { provider, field };
    match provider {
        Provider::GitHub | Provider::Gitea => {
            let event = header(headers, "x-github-event")
                .or_else(|| header(headers, "x-gitea-event"))
                .or_else(|| header(headers, "x-forgejo-event"))
                .unwrap_or("");
            match event {
                "push" => Ok(Event::Push(vec![
                    ref_and_after(&json).ok_or(missing("ref"))?,
                ])),
                "ping" => Ok(Event::Ping),
                other => Ok(Event::Other(other.to_string())),
            }
        }
        Provider::GitLab => {
            let event = header(headers, "x-gitlab-event").unwrap_or("");
            match (event, json.get("object_kind").and_then(Value::as_str)) {
                // System hooks carry push events with the same body.
                ("Push Hook" | "Tag Push Hook" | "System Hook", Some("push" | "tag_push")) => {
                    Ok(Event::Push(vec![
                        ref_and_after(&json).ok_or(missing("ref"))?,
                    ]))
                }
                (other, _) => Ok(Event::Other(other.to_string())),
            }
        }
        Provider::Bitbucket => {
            let event = header(headers, "x-event-key").unwrap_or("");
            match event {
                "repo:push" => bitbucket_cloud(&json).ok_or(missing("push.changes")),
                "repo:refs_changed" => bitbucket_server(&json).ok_or(missing("changes")),
                "diagnostics:ping" => Ok(Event::Ping),
                other => Ok(Event::Other(other.to_string())),
            }
        }
        Provider::Generic => match json.get("ref").and_then(Value::as_str) {
            // A generic delivery without a ref asks for a reconcile of the tracked branch.
            None => Ok(Event::Push(Vec::new())),
            Some(_) => Ok(Event::Push(vec![
                ref_and_after(&json).ok_or(missing("ref"))?,
            ])),
        },
    }
}

/// `{ref, after}`: GitHub's, Gitea's, GitLab's and the generic body. An all-zero `after` is a
/// deleted ref.
fn ref_and_after(json: &Value) -> Option<RefUpdate> {
    let name = json.get("ref")?.as_str()?.to_string();
    let after = json
        .get("after")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty() && !a.bytes().all(|b| b == b'0'))
        .map(str::to_string);
    Some(RefUpdate { name, after })
}

/// Bitbucket Cloud's `repo:push`: `push.changes[]`, each with `new` (null when deleted) and `old`.
fn bitbucket_cloud(json: &Value) -> Option<Event> {
    let changes = json.get("push")?.get("changes")?.as_array()?;
    let updates = changes
        .iter()
        .filter_map(|c| {
            let side = c
                .get("new")
                .filter(|n| !n.is_null())
                .or_else(|| c.get("old"))?;
            let kind = side.get("type").and_then(Value::as_str)?;
            let name = side.get("name").and_then(Value::as_str)?;
            let prefix = match kind {
                "branch" | "named_branch" => "refs/heads/",
                "tag" | "annotated_tag" => "refs/tags/",
                _ => return None,
            };
            let after = c
                .get("new")
                .and_then(|n| n.get("target"))
                .and_then(|t| t.get("hash"))
                .and_then(Value::as_str)
                .map(str::to_string);
            Some(RefUpdate {
                name: format!("{prefix}{name}"),
                after,
            })
        })
        .collect();
    Some(Event::Push(updates))
}

/// Bitbucket Server's `repo:refs_changed`: `changes[]` with `ref.id`, `toHash` and `type`.
fn bitbucket_server(json: &Value) -> Option<Event> {
    let changes = json.get("changes")?.as_array()?;
    let updates = changes
        .iter()
        .filter_map(|c| {
            let name = c.get("ref")?.get("id")?.as_str()?.to_string();
            let deleted = c.get("type").and_then(Value::as_str) == Some("DELETE");
            let after = c
                .get("toHash")
                .and_then(Value::as_str)
                .filter(|h| !deleted && !h.bytes().all(|b| b == b'0'))
                .map(str::to_string);
            Some(RefUpdate { name, after })
        })
        .collect();
    Some(Event::Push(updates))
}

/// The delivery ids seen lately, to answer a redelivery without queueing a second reconcile.
/// Bounded: the oldest ids are forgotten first (a provider redelivers within minutes, not after
/// thousands of other deliveries).
#[derive(Debug)]
pub struct Deliveries {
    order: VecDeque<String>,
    seen: HashSet<String>,
    capacity: usize,
}

impl Deliveries {
    /// Remembers up to `capacity` ids.
    pub fn new(capacity: usize) -> Deliveries {
        Deliveries {
            order: VecDeque::new(),
            seen: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `id`; `false` if it was seen already (a duplicate).
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(id.to_string());
        self.seen.insert(id.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECRET: &[u8] = b"It's a Secret to Everybody";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    /// GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
    #[test]
    fn github_documented_signature_verifies() {
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(b"Hello, World!", SECRET), sig);
        let h = headers(&[("x-hub-signature-256", sig)]);
        assert_eq!(
            verify(Provider::GitHub, &h, b"Hello, World!", SECRET),
            Ok(())
        );
        assert_eq!(
            verify(Provider::GitHub, &h, b"Hello, World?", SECRET),
            Err(VerifyError::Mismatch {
                header: "X-Hub-Signature-256"
            })
        );
    }

    #[test]
    fn each_provider_refuses_missing_wrong_and_malformed_signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = sign(body, SECRET);
        let bad = sign(body, b"another secret");
        let good_hex = good.trim_start_matches("sha256=").to_string();
        let cases: Vec<(Provider, &'static str, String, String)> = vec![
            (
                Provider::GitHub,
                "x-hub-signature-256",
                good.clone(),
                bad.clone(),
            ),
            (
                Provider::Gitea,
                "x-gitea-signature",
                good_hex.clone(),
                bad.trim_start_matches("sha256=").into(),
            ),
            (
                Provider::Gitea,
                "x-hub-signature-256",
                good.clone(),
                bad.clone(),
            ),
            (
                Provider::GitLab,
                "x-gitlab-token",
                String::from_utf8_lossy(SECRET).into(),
                "nope".into(),
            ),
            (
                Provider::Bitbucket,
                "x-hub-signature",
                good.clone(),
                bad.clone(),
            ),
            (Provider::Generic, "x-signature", good.clone(), bad.clone()),
        ];
        for (provider, name, ok, wrong) in cases {
            assert_eq!(
                verify(provider, &headers(&[(name, &ok)]), body, SECRET),
                Ok(()),
                "{provider} {name}"
            );
            assert!(
                matches!(
                    verify(provider, &headers(&[(name, &wrong)]), body, SECRET),
                    Err(VerifyError::Mismatch { .. })
                ),
                "{provider} {name}"
            );
            assert!(
                matches!(
                    verify(provider, &HeaderMap::new(), body, SECRET),
                    Err(VerifyError::Missing { .. })
                ),
                "{provider}"
            );
        }
        for provider in [Provider::GitHub, Provider::Bitbucket, Provider::Generic] {
            let name = match provider {
                Provider::GitHub => "x-hub-signature-256",
                Provider::Bitbucket => "x-hub-signature",
                _ => "x-signature",
            };
            // Hex without the prefix, and a prefix without hex, are not signatures.
            for malformed in [good_hex.as_str(), "sha256=zz", "sha1=abcd"] {
                assert!(
                    matches!(
                        verify(provider, &headers(&[(name, malformed)]), body, SECRET),
                        Err(VerifyError::Malformed { .. })
                    ),
                    "{provider} {malformed}"
                );
            }
        }
    }

    #[test]
    fn github_sha1_only_is_refused_even_when_it_is_right() {
        let h = headers(&[(
            "x-hub-signature",
            "sha1=0123456789abcdef0123456789abcdef01234567",
        )]);
        assert_eq!(
            verify(Provider::GitHub, &h, b"{}", SECRET),
            Err(VerifyError::Sha1Only)
        );
    }

    #[test]
    fn pushes_pings_and_other_events_are_told_apart() {
        let push = br#"{"ref":"refs/heads/main","before":"a","after":"0123abcd"}"#;
        let main = RefUpdate {
            name: "refs/heads/main".into(),
            after: Some("0123abcd".into()),
        };
        let gh = |event| headers(&[("x-github-event", event)]);
        assert_eq!(
            parse(Provider::GitHub, &gh("push"), push).expect("push"),
            Event::Push(vec![main.clone()])
        );
        assert_eq!(
            parse(Provider::GitHub, &gh("ping"), b"{}").expect("ping"),
            Event::Ping
        );
        assert_eq!(
            parse(Provider::GitHub, &gh("issues"), b"{}").expect("other"),
            Event::Other("issues".into())
        );
        assert_eq!(
            parse(
                Provider::Gitea,
                &headers(&[("x-gitea-event", "push")]),
                push
            )
            .expect("gitea"),
            Event::Push(vec![main.clone()])
        );
        let gl = br#"{"object_kind":"push","ref":"refs/heads/main","after":"0123abcd"}"#;
        assert_eq!(
            parse(
                Provider::GitLab,
                &headers(&[("x-gitlab-event", "Push Hook")]),
                gl
            )
            .expect("gitlab"),
            Event::Push(vec![main.clone()])
        );
        let deleted =
            br#"{"ref":"refs/heads/gone","after":"0000000000000000000000000000000000000000"}"#;
        assert_eq!(
            parse(Provider::GitHub, &gh("push"), deleted).expect("deleted"),
            Event::Push(vec![RefUpdate {
                name: "refs/heads/gone".into(),
                after: None
            }])
        );
        assert!(matches!(
            parse(Provider::GitHub, &gh("push"), b"not json"),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            parse(Provider::GitHub, &gh("push"), b"{}"),
            Err(ParseError::MissingField { field: "ref", .. })
        ));
    }

    #[test]
    fn bitbucket_cloud_and_server_pushes_name_their_refs() {
        let cloud = br#"{"push":{"changes":[
            {"new":{"type":"branch","name":"main","target":{"hash":"abc"}},"old":{"type":"branch","name":"main"}},
            {"new":null,"old":{"type":"tag","name":"v1"}}]}}"#;
        let h = headers(&[("x-event-key", "repo:push")]);
        assert_eq!(
            parse(Provider::Bitbucket, &h, cloud).expect("cloud"),
            Event::Push(vec![
                RefUpdate {
                    name: "refs/heads/main".into(),
                    after: Some("abc".into())
                },
                RefUpdate {
                    name: "refs/tags/v1".into(),
                    after: None
                },
            ])
        );
        let server = br#"{"changes":[{"ref":{"id":"refs/heads/main","type":"BRANCH"},"fromHash":"a","toHash":"def","type":"UPDATE"}]}"#;
        let h = headers(&[("x-event-key", "repo:refs_changed")]);
        assert_eq!(
            parse(Provider::Bitbucket, &h, server).expect("server"),
            Event::Push(vec![RefUpdate {
                name: "refs/heads/main".into(),
                after: Some("def".into())
            }])
        );
        let h = headers(&[("x-event-key", "diagnostics:ping")]);
        assert_eq!(
            parse(Provider::Bitbucket, &h, b"{}").expect("ping"),
            Event::Ping
        );
    }

    #[test]
    fn delivery_ids_are_per_provider_and_duplicates_are_seen() {
        let h = headers(&[("x-github-delivery", "72d3162e")]);
        assert_eq!(
            delivery_id(Provider::GitHub, &h).as_deref(),
            Some("github/72d3162e")
        );
        assert_eq!(delivery_id(Provider::GitLab, &h), None);
        let h = headers(&[("idempotency-key", "k1")]);
        assert_eq!(
            delivery_id(Provider::GitLab, &h).as_deref(),
            Some("gitlab/k1")
        );
        let mut seen = Deliveries::new(2);
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
        assert!(seen.first_time("b"));
        assert!(seen.first_time("c"));
        // "a" was forgotten to make room: bounded memory.
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("c"));
    }
}
