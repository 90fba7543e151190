//! The webhook receivers, `POST /hooks/<provider>`: what each delivery is answered, and which ones
//! queue a reconcile.
//!
//! Inputs: the request (headers and raw body), the configured secrets, the tracked branch.
//! Outputs: the reply, a request on the [`ReconcileQueue`] for a push to the tracked branch, and a
//! count in [`Metrics`]. The order of the checks is the contract: the body is read up to the limit
//! (413), its signature checked before anything parses it (401), then it must be JSON (415); a
//! verified delivery is never answered 4xx after that (GitLab disables a hook that gets them), so
//! events that are not for us get 200 with the reason, and a push to the tracked branch gets 202
//! at once — the pass runs later, in the queue's worker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::metrics::Metrics;
use super::queue::ReconcileQueue;
use super::webhook::{self, Deliveries, Event, Provider};

/// The body limit when the config names none: 1 MiB (GitHub caps payloads at 25 MB, but a push
/// payload is a few KiB unless `commits[]` is long, and gitstellar reads none of that).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// What the receivers need.
#[derive(Debug)]
pub struct Hooks {
    /// Each configured provider's secret (GitLab: the token). A provider not here is not served.
    pub secrets: BTreeMap<Provider, Vec<u8>>,
    /// The branch whose pushes queue a reconcile.
    pub branch: String,
    /// The largest body read.
    pub body_limit: usize,
    /// Where reconciles are queued.
    pub queue: Arc<ReconcileQueue>,
    /// Where deliveries are counted.
    pub metrics: Arc<Metrics>,
    /// Delivery ids seen lately.
    pub deliveries: Mutex<Deliveries>,
}

impl Hooks {
    /// Receivers for `secrets`, queueing pushes to `branch` on `queue`.
    pub fn new(
        secrets: BTreeMap<Provider, Vec<u8>>,
        branch: &str,
        queue: Arc<ReconcileQueue>,
        metrics: Arc<Metrics>,
    ) -> Hooks {
        Hooks {
            secrets,
            branch: branch.to_string(),
            body_limit: DEFAULT_BODY_LIMIT,
            queue,
            metrics,
            deliveries: Mutex::new(Deliveries::new(10_000)),
        }
    }

    /// The routes: `POST /hooks/{provider}`.
    pub fn router(self: Arc<Hooks>) -> Router {
        Router::new()
            .route("/hooks/{provider}", post(receive))
            .with_state(self)
    }
}

/// The reply and the outcome label it is counted under.
fn reply(status: StatusCode, outcome: &'static str, reason: String) -> (Response, &'static str) {
    (
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{reason}\n"),
        )
            .into_response(),
        outcome,
    )
}

async fn receive(
    State(hooks): State<Arc<Hooks>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(provider) = Provider::from_name(&provider) else {
        return (StatusCode::NOT_FOUND, format!("no receiver {provider:?}\n")).into_response();
    };
    let (response, outcome) = handle(&hooks, provider, &headers, body).await;
    hooks.metrics.webhook(provider.name(), outcome);
    tracing::info!(%provider, outcome, status = response.status().as_u16(), "webhook delivery");
    response
}

async fn handle(
    hooks: &Hooks,
    provider: Provider,
    headers: &HeaderMap,
    body: Body,
) -> (Response, &'static str) {
    let Some(secret) = hooks.secrets.get(&provider) else {
        return reply(
            StatusCode::NOT_FOUND,
            "not_configured",
            format!("no {provider} webhook is configured"),
        );
    };
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > hooks.body_limit
    {
        return too_large(hooks.body_limit);
    }
    let Ok(body) = to_bytes(body, hooks.body_limit).await else {
        return too_large(hooks.body_limit);
    };
    if let Err(e) = webhook::verify(provider, headers, &body, secret) {
        return reply(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            let essence = t.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
        });
    if !json {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported",
            "the body must be JSON (configure the hook's content type as application/json)".into(),
        );
    }
    let event = match webhook::parse(provider, headers, &body) {
        Ok(event) => event,
        Err(webhook::ParseError::NotJson(e)) => {
            return reply(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported",
                format!("the body is not JSON: {e}"),
            );
        }
        // Verified but unreadable: said in the reply and the log, answered 2xx so the provider
        // keeps the hook enabled.
        Err(e) => return reply(StatusCode::OK, "bad_request", format!("ignored: {e}")),
    };
    if let Some(id) = webhook::delivery_id(provider, headers) {
        let first = hooks
            .deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .first_time(&id);
        if !first {
            return reply(
                StatusCode::OK,
                "duplicate",
                format!("ignored: delivery {id} was received already"),
            );
        }
    }
    match event {
        Event::Ping => reply(StatusCode::OK, "ignored", "pong".into()),
        Event::Other(name) => reply(
            StatusCode::OK,
            "ignored",
            format!("ignored: {name:?} is not a push event"),
        ),
        Event::Push(updates) => {
            let tracked = format!("refs/heads/{}", hooks.branch);
            // A generic delivery naming no ref asks for the tracked branch.
            if updates.is_empty() && provider == Provider::Generic
                || updates.iter().any(|u| u.name == tracked)
            {
                hooks.queue.request(&format!("webhook/{provider}"));
                reply(
                    StatusCode::ACCEPTED,
                    "queued",
                    format!("queued a reconcile of {}", hooks.branch),
                )
            } else {
                let names: Vec<&str> = updates.iter().map(|u| u.name.as_str()).collect();
                reply(
                    StatusCode::OK,
                    "ignored",
                    format!(
                        "ignored: a push to {}, not to {tracked}",
                        if names.is_empty() {
                            "nothing".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                )
            }
        }
    }
}

fn too_large(limit: usize) -> (Response, &'static str) {
    reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the body is larger than {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    const SECRET: &[u8] = b"s3cret";

    fn hooks() -> (Arc<Hooks>, Arc<ReconcileQueue>, Arc<Metrics>) {
        let queue = Arc::new(ReconcileQueue::new());
        let metrics = Arc::new(Metrics::new());
        let secrets = Provider::ALL
            .into_iter()
            .map(|p| (p, SECRET.to_vec()))
            .collect();
        let hooks = Arc::new(Hooks::new(secrets, "main", queue.clone(), metrics.clone()));
        (hooks, queue, metrics)
    }

    fn github(body: &str, event: &str, delivery: &str) -> Request<Body> {
        Request::post("/hooks/github")
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                webhook::sign(body.as_bytes(), SECRET),
            )
            .body(Body::from(body.to_string()))
            .expect("request")
    }

    async fn send(hooks: &Arc<Hooks>, request: Request<Body>) -> (StatusCode, String) {
        let response = hooks
            .clone()
            .router()
            .oneshot(request)
            .await
            .expect("reply");
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 16).await.expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The example deliveries in `webhooks/` (what each provider really sends, headers included),
    /// signed as the provider would sign them with our secret, replayed against the receivers.
    #[tokio::test]
    async fn the_documented_example_deliveries_are_understood() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("webhooks");
        let expected = [
            ("github", "push", StatusCode::ACCEPTED),
            ("github", "ping", StatusCode::OK),
            ("gitlab", "push", StatusCode::ACCEPTED),
            ("gitea", "push", StatusCode::ACCEPTED),
            ("bitbucket", "push", StatusCode::ACCEPTED),
            ("bitbucket", "refs_changed", StatusCode::ACCEPTED),
            ("generic", "push", StatusCode::ACCEPTED),
        ];
        let mut replayed = 0;
        for (provider, name, status) in expected {
            let (hooks, queue, _) = hooks();
            let body =
                std::fs::read(dir.join(provider).join(format!("{name}.json"))).expect("payload");
            let head = std::fs::read_to_string(dir.join(provider).join(format!("{name}.headers")))
                .expect("headers");
            let mut request = Request::post(format!("/hooks/{provider}"));
            for line in head.lines().filter(|l| !l.trim().is_empty()) {
                let (k, v) = line.split_once(':').expect("Name: value");
                request = request.header(k.trim(), v.trim());
            }
            let signature = webhook::sign(&body, SECRET);
            request = match provider {
                "github" => request.header("x-hub-signature-256", signature),
                "gitlab" => request.header("x-gitlab-token", "s3cret"),
                "gitea" => {
                    request.header("x-gitea-signature", signature.trim_start_matches("sha256="))
                }
                "bitbucket" => request.header("x-hub-signature", signature),
                _ => request.header("x-signature", signature),
            };
            let (got, text) = send(&hooks, request.body(Body::from(body)).expect("request")).await;
            assert_eq!(got, status, "{provider}/{name}: {text}");
            assert_eq!(
                queue.is_pending(),
                status == StatusCode::ACCEPTED,
                "{provider}/{name}"
            );
            replayed += 1;
        }
        let on_disk = std::fs::read_dir(&dir)
            .expect("webhooks/")
            .flatten()
            .filter(|e| e.path().is_dir())
            .flat_map(|d| std::fs::read_dir(d.path()).expect("provider dir").flatten())
            .filter(|f| f.path().extension().is_some_and(|x| x == "json"))
            .count();
        assert_eq!(replayed, on_disk, "every example in webhooks/ is replayed");
    }

    #[tokio::test]
    async fn a_push_to_the_tracked_branch_is_queued_once_per_delivery() {
        let (hooks, queue, metrics) = hooks();
        let push = r#"{"ref":"refs/heads/main","after":"abc"}"#;
        let (status, text) = send(&hooks, github(push, "push", "d1")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
        assert!(queue.is_pending());
        let cancel = tokio_util::sync::CancellationToken::new();
        let batch = queue.next(&cancel).await.expect("batch");
        assert_eq!(batch.reasons.get("webhook/github"), Some(&1));
        let (status, text) = send(&hooks, github(push, "push", "d1")).await;
        assert_eq!(
            (status, text.contains("received already")),
            (StatusCode::OK, true),
            "{text}"
        );
        assert!(!queue.is_pending(), "a redelivery queues nothing");
        let text = metrics.encode().expect("metrics");
        assert!(
            text.contains(r#"provider="github",outcome="duplicate"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn other_branches_tags_and_pings_are_answered_2xx_and_queue_nothing() {
        let (hooks, queue, _) = hooks();
        for (body, event, id) in [
            (r#"{"ref":"refs/heads/feature","after":"abc"}"#, "push", "a"),
            (r#"{"ref":"refs/tags/v1","after":"abc"}"#, "push", "b"),
            (r#"{"zen":"Keep it logically awesome."}"#, "ping", "c"),
            (r#"{}"#, "issues", "d"),
        ] {
            let (status, text) = send(&hooks, github(body, event, id)).await;
            assert_eq!(status, StatusCode::OK, "{event} {body}: {text}");
        }
        assert!(!queue.is_pending());
    }

    #[tokio::test]
    async fn bad_signatures_oversized_and_non_json_bodies_are_refused_in_that_order() {
        let (hooks, queue, _) = hooks();
        let body = r#"{"ref":"refs/heads/main"}"#;
        let mut wrong = github(body, "push", "x");
        wrong.headers_mut().insert(
            "x-hub-signature-256",
            webhook::sign(b"other", SECRET).parse().expect("value"),
        );
        assert_eq!(send(&hooks, wrong).await.0, StatusCode::UNAUTHORIZED);
        let big = format!(
            r#"{{"ref":"refs/heads/main","pad":"{}"}}"#,
            "x".repeat(DEFAULT_BODY_LIMIT)
        );
        assert_eq!(
            send(&hooks, github(&big, "push", "y")).await.0,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let mut form = github("payload=%7B%7D", "push", "z");
        form.headers_mut().insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().expect("value"),
        );
        assert_eq!(
            send(&hooks, form).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        // Unsigned garbage is 401, not 415: nothing is parsed before the signature holds.
        let garbage = Request::post("/hooks/github")
            .header("content-type", "text/plain")
            .body(Body::from("garbage"))
            .expect("request");
        assert_eq!(send(&hooks, garbage).await.0, StatusCode::UNAUTHORIZED);
        assert!(!queue.is_pending());
    }
}
