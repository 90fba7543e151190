//! wecsim at scale: N simulated clusters in this process, M objects server-side-applied to each
//! with kube-rs; prints the time and the process memory. Not a pass/fail test.
//!
//! `cargo bench --bench wecsim_scale -- [CLUSTERS] [OBJECTS] [CONCURRENCY]` (default 1000 50 64).

use futures::StreamExt;
use gitstellar::wecsim::{Behaviour, SimOptions, Simulator};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The objects one cluster gets: a namespace and a realistic mix of workload kinds.
fn objects(count: usize) -> Vec<(ApiResource, Value)> {
    let ar = |g: &str, v: &str, k: &str, p: &str| {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), p)
    };
    let mut out = vec![(
        ar("", "v1", "Namespace", "namespaces"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
    )];
    let labels =
        |i: usize| json!({"app": format!("app-{}", i % 7), "gitstellar.io/placement": "bench"});
    let mut i = 0;
    while out.len() < count {
        let name = format!("obj-{i}");
        let item = match i % 5 {
            0 => (
                ar("", "v1", "ConfigMap", "configmaps"),
                json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "bench", "labels": labels(i)},
                    "data": {"config.yaml": "log-level: info\nfeature-x: true\nreplicas: 3\n", "owner": "platform-team"},
                }),
            ),
            1 => (
                ar("", "v1", "Secret", "secrets"),
                json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": name, "namespace": "bench", "labels": labels(i)},
                    "type": "Opaque",
                    "data": {"password": "c2VjcmV0LXZhbHVlLWZvci1iZW5jaA=="},
                }),
            ),
            2 => (
                ar("apps", "v1", "Deployment", "deployments"),
                json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": "bench", "labels": labels(i)},
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{
                                "name": "main", "image": "registry.example/app:1.2.3",
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "env": [{"name": "MODE", "value": "production"}, {"name": "REGION", "value": "eu-1"}],
                                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                            }]},
                        },
                    },
                }),
            ),
            3 => (
                ar("", "v1", "Service", "services"),
                json!({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": "bench", "labels": labels(i)},
                    "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080, "name": "http"}]},
                }),
            ),
            _ => (
                ar("", "v1", "ServiceAccount", "serviceaccounts"),
                json!({
                    "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": "bench", "labels": labels(i)},
                }),
            ),
        };
        out.push(item);
        i += 1;
    }
    out
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clusters = args.first().copied().unwrap_or(1000);
    let per_cluster = args.get(1).copied().unwrap_or(50);
    let concurrency = args.get(2).copied().unwrap_or(64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (rss0, _) = rss_mib();
        let names: Vec<String> = (0..clusters).map(|i| format!("wec-{i:04}")).collect();
        let t0 = Instant::now();
        let sim = Simulator::start(SimOptions {
            clusters: names.clone(),
            behaviour: Behaviour { ready_delay: Duration::from_millis(500), ..Default::default() },
            ..Default::default()
        })
        .await
        .unwrap();
        let started = t0.elapsed();
        let (rss_started, _) = rss_mib();

        let objs = objects(per_cluster);
        let t1 = Instant::now();
        let applied: usize = futures::stream::iter(names.iter().cloned())
            .map(|name| {
                let client = sim.client(&name).unwrap();
                let objs = &objs;
                async move {
                    let pp = PatchParams::apply("gitstellar");
                    let mut n = 0;
                    for (ar, obj) in objs {
                        let name = obj["metadata"]["name"].as_str().unwrap();
                        let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
                            Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
                            None => Api::all_with(client.clone(), ar),
                        };
                        api.patch(name, &pp, &Patch::Apply(obj)).await.unwrap();
                        n += 1;
                    }
                    n
                }
            })
            .buffer_unordered(concurrency)
            .fold(0, |a, n| async move { a + n })
            .await;
        let apply_time = t1.elapsed();
        let (rss_applied, _) = rss_mib();

        // Let the simulated controllers mark every Deployment ready, then check one cluster.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let last = names.last().unwrap();
        let deploys: Api<DynamicObject> = Api::namespaced_with(
            sim.client(last).unwrap(),
            "bench",
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments"),
        );
        let ready = deploys
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|d| d.data["status"]["readyReplicas"] == 2)
            .count();
        let (rss_settled, peak) = rss_mib();

        let total = clusters * per_cluster;
        println!("wecsim scale: {clusters} clusters x {per_cluster} objects = {total} objects ({applied} applied), concurrency {concurrency}");
        println!("  start {clusters} clusters:        {:>8.2} s", started.as_secs_f64());
        println!("  apply {total} objects (SSA):  {:>8.2} s  ({:.0} applies/s)", apply_time.as_secs_f64(), applied as f64 / apply_time.as_secs_f64());
        println!("  ready deployments in {last}:  {ready}");
        println!("  RSS before start:            {rss0:>8.1} MiB");
        println!("  RSS after start:             {rss_started:>8.1} MiB");
        println!("  RSS after apply:             {rss_applied:>8.1} MiB");
        println!("  RSS after controllers:       {rss_settled:>8.1} MiB (peak {peak:.1} MiB, includes the kube-rs clients)");
        sim.shutdown().await.unwrap();
    });
}
