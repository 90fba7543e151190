//! The service's Prometheus metrics, served at `/metrics` in the OpenMetrics text format.
//!
//! Inputs: what the reconcile worker, the webhook receivers and the sync controller report.
//! Output: [`Metrics::encode`]'s text. Labels are bounded on purpose: a result, a provider and an
//! outcome, a health, one revision — never a WEC or an object, since a fleet has thousands of
//! WECs and millions of objects and every label value is a time series to the scraper.

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    provider: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevisionLabel {
    revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabel {
    health: String,
}

/// Every metric of one service, in its own registry (no global state: tests run several).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_seconds: Histogram,
    webhooks: Family<WebhookLabels, Counter>,
    revision: Family<RevisionLabel, Gauge>,
    wecs: Family<HealthLabel, Gauge>,
    syncs: Family<ResultLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The metrics, registered and at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let reconciles = Family::<ResultLabel, Counter>::default();
        // Counters get `_total` appended by the encoder.
        registry.register(
            "gitstellar_reconcile",
            "Reconcile passes, by result (ok, problems, failed, stale).",
            reconciles.clone(),
        );
        // 10 ms to about 80 s: an unchanged revision to a cold pass over a large fleet.
        let reconcile_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "gitstellar_reconcile_duration_seconds",
            "How long a reconcile pass took, from taking the request to the last ref moved.",
            reconcile_seconds.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "gitstellar_webhook_requests",
            "Webhook deliveries, by provider and outcome (queued, ignored, duplicate, unauthorized, too_large, unsupported, bad_request).",
            webhooks.clone(),
        );
        let revision = Family::<RevisionLabel, Gauge>::default();
        registry.register(
            "gitstellar_source_revision_info",
            "The source revision the last pass reconciled (value 1).",
            revision.clone(),
        );
        let wecs = Family::<HealthLabel, Gauge>::default();
        registry.register(
            "gitstellar_wecs",
            "WECs, by health (Current, InProgress, Failed, Unreachable, Unknown).",
            wecs.clone(),
        );
        let syncs = Family::<ResultLabel, Counter>::default();
        registry.register(
            "gitstellar_sync",
            "WEC syncs, by result (synced, failed, busy).",
            syncs.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_seconds,
            webhooks,
            revision,
            wecs,
            syncs,
        }
    }

    /// A pass finished with `result` after `seconds`.
    pub fn reconciled(&self, result: &str, seconds: f64) {
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
        self.reconcile_seconds.observe(seconds);
    }

    /// A webhook delivery was answered with `outcome`.
    pub fn webhook(&self, provider: &str, outcome: &str) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                provider: provider.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The revision the last pass reconciled: the only series of its family, so the family
    /// never grows with history.
    pub fn source_revision(&self, revision: &str) {
        self.revision.clear();
        self.revision
            .get_or_create(&RevisionLabel {
                revision: revision.to_string(),
            })
            .set(1);
    }

    /// How many WECs are in each health; healths that no WEC has any more are dropped.
    pub fn wecs(&self, by_health: &BTreeMap<String, i64>) {
        self.wecs.clear();
        for (health, n) in by_health {
            self.wecs
                .get_or_create(&HealthLabel {
                    health: health.clone(),
                })
                .set(*n);
        }
    }

    /// A WEC's sync finished with `result`.
    pub fn synced(&self, result: &str) {
        self.syncs
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn the_named_metrics_are_exposed_with_bounded_labels() {
        let m = Metrics::new();
        m.reconciled("ok", 0.25);
        m.reconciled("ok", 0.5);
        m.webhook("github", "queued");
        m.source_revision("abc");
        m.source_revision("def");
        m.wecs(&BTreeMap::from([
            ("Current".to_string(), 3),
            ("Failed".to_string(), 1),
        ]));
        m.synced("synced");
        let text = m.encode().expect("encode");
        assert_eq!(
            line(&text, "gitstellar_reconcile_total{"),
            Some(r#"gitstellar_reconcile_total{result="ok"} 2"#)
        );
        assert_eq!(
            line(&text, "gitstellar_reconcile_duration_seconds_count"),
            Some("gitstellar_reconcile_duration_seconds_count 2")
        );
        assert_eq!(
            line(&text, "gitstellar_webhook_requests_total{"),
            Some(r#"gitstellar_webhook_requests_total{provider="github",outcome="queued"} 1"#)
        );
        // Only the newest revision is a series.
        assert_eq!(
            line(&text, "gitstellar_source_revision_info{"),
            Some(r#"gitstellar_source_revision_info{revision="def"} 1"#)
        );
        assert!(!text.contains(r#"revision="abc""#), "{text}");
        assert!(
            text.contains(r#"gitstellar_wecs{health="Current"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gitstellar_sync_total{result="synced"} 1"#),
            "{text}"
        );
        m.wecs(&BTreeMap::from([("Current".to_string(), 4)]));
        let text = m.encode().expect("encode");
        assert!(!text.contains(r#"health="Failed""#), "{text}");
    }
}
