//! kube-rs against wecsim over real HTTP: discovery, CRUD, server-side apply, list/watch,
//! CRDs, simulated controllers, faults, persistence, kubeconfig.

use futures::{StreamExt, TryStreamExt};
use gitstellar::wecsim::{Behaviour, FaultSettings, SimOptions, Simulator};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use std::time::Duration;

async fn start(names: &[&str], history: usize) -> Simulator {
    Simulator::start(SimOptions {
        clusters: names.iter().map(|s| s.to_string()).collect(),
        behaviour: Behaviour {
            ready_delay: Duration::from_millis(200),
            job_duration: Duration::from_millis(200),
            history_limit: history,
            namespace_cleanup_delay: Duration::from_millis(50),
        },
        ..Default::default()
    })
    .await
    .unwrap()
}

fn api_error(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"},
    }))
    .unwrap()
}

fn deployment(name: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    })
}

#[tokio::test]
async fn discovery_lists_builtin_resources_per_cluster() {
    let sim = start(&["florin", "guilder"], 100).await;
    for name in ["florin", "guilder"] {
        let client = sim.client(name).unwrap();
        let version = client.apiserver_version().await.unwrap();
        assert_eq!(version.major, "1");
        let discovery = Discovery::new(client).run().await.unwrap();
        let (apps, _) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .unwrap();
        assert_eq!(apps.plural, "deployments");
        let (cm, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"))
            .unwrap();
        assert_eq!(cm.plural, "configmaps");
        assert_eq!(caps.scope, Scope::Namespaced);
        for gvk in [
            ("", "Secret"),
            ("", "Service"),
            ("", "ServiceAccount"),
            ("", "Namespace"),
            ("", "Event"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("networking.k8s.io", "Ingress"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("coordination.k8s.io", "Lease"),
        ] {
            let g = GroupVersionKind::gvk(gvk.0, "v1", gvk.1);
            assert!(
                discovery.resolve_gvk(&g).is_some(),
                "{gvk:?} missing from discovery"
            );
        }
    }
    // Aggregated discovery (apidiscovery.k8s.io/v2) says the same, subresources included.
    let aggregated = Discovery::new(sim.client("florin").unwrap())
        .run_aggregated()
        .await
        .unwrap();
    let (ar, caps) = aggregated
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .unwrap();
    assert_eq!(ar.plural, "deployments");
    let subresources: Vec<_> = caps
        .subresources
        .iter()
        .map(|(s, _)| s.plural.clone())
        .collect();
    assert!(
        subresources.contains(&"status".to_string()),
        "{subresources:?}"
    );
    assert!(
        aggregated
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"))
            .is_some()
    );
    // The system namespaces exist and are Active.
    let namespaces: Api<Namespace> = Api::all(sim.client("florin").unwrap());
    let default = namespaces.get("default").await.unwrap();
    assert_eq!(default.status.unwrap().phase.as_deref(), Some("Active"));
}

#[tokio::test]
async fn crud_with_status_errors() {
    let sim = start(&["c1"], 100).await;
    let client = sim.client("c1").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = cms
        .create(&PostParams::default(), &cm("a", json!({"app": "x"})))
        .await
        .unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());

    let (code, reason, _) = api_error(
        cms.create(&PostParams::default(), &cm("a", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let replaced = cms
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_ne!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );
    // The same stale resourceVersion again is a conflict.
    let (code, reason, _) = api_error(
        cms.replace("a", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    let pp = PatchParams::default();
    cms.patch("a", &pp, &Patch::Merge(json!({"data": {"m": "1"}})))
        .await
        .unwrap();
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/j", "value": "2"}])).unwrap();
    cms.patch("a", &pp, &Patch::<()>::Json(jp)).await.unwrap();
    cms.patch("a", &pp, &Patch::Strategic(json!({"data": {"k": null}})))
        .await
        .unwrap();
    let got = cms.get("a").await.unwrap();
    assert_eq!(
        got.data.unwrap(),
        [
            ("m".to_string(), "1".to_string()),
            ("j".to_string(), "2".to_string())
        ]
        .into()
    );

    let (code, reason, _) = api_error(cms.get("missing").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    let (code, reason, message) = api_error(
        cms.create(&PostParams::default(), &cm("Bad_Name", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"), "{message}");
    let in_missing_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "nope");
    let (code, _, message) = api_error(
        in_missing_ns
            .create(&PostParams::default(), &cm("a", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 404);
    assert!(
        message.contains("namespaces \"nope\" not found"),
        "{message}"
    );

    // Deployments validate their selector against the template.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut bad = deployment("web", 1);
    bad["spec"]["selector"]["matchLabels"]["app"] = json!("other");
    let bad: Deployment = serde_json::from_value(bad).unwrap();
    let (code, _, message) = api_error(
        deploys
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(message.contains("selector"), "{message}");

    cms.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_error(cms.get("a").await.unwrap_err()).0, 404);
    assert_eq!(
        api_error(cms.delete("a", &DeleteParams::default()).await.unwrap_err()).0,
        404
    );
}

#[tokio::test]
async fn status_subresource_and_generation() {
    let sim = start(&["c1"], 100).await;
    let client = sim.client("c1").unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(deployment("web", 2)).unwrap();
    let d = deploys.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    // Status written through the main resource is ignored...
    let pp = PatchParams::default();
    let after = deploys
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({"status": {"replicas": 99}, "metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_ne!(after.status.and_then(|s| s.replicas), Some(99));
    // ...and metadata changes do not bump the generation, spec changes do.
    assert_eq!(after.metadata.generation, Some(1));
    let after = deploys
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(after.metadata.generation, Some(2));
    // ...while the status subresource writes only status.
    let after = deploys
        .patch_status(
            "web",
            &pp,
            &Patch::Merge(json!({"status": {"replicas": 99}, "spec": {"replicas": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(after.status.unwrap().replicas, Some(99));
    assert_eq!(after.spec.unwrap().replicas, Some(3));
}

#[tokio::test]
async fn server_side_apply_conflicts_force_and_removal() {
    let sim = start(&["c1"], 100).await;
    let client = sim.client("c1").unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client, "default");
    let mut desired = deployment("web", 2);
    desired["metadata"]["labels"]["tier"] = json!("front");
    let applied = deploys
        .patch(
            "web",
            &PatchParams::apply("gitops"),
            &Patch::Apply(&desired),
        )
        .await
        .unwrap();
    let managers: Vec<_> = applied
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), m.operation.unwrap()))
        .collect();
    assert_eq!(managers, vec![("gitops".to_string(), "Apply".to_string())]);

    // Another manager setting the same field to another value conflicts.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let (code, reason, message) = api_error(
        deploys
            .patch("web", &PatchParams::apply("hpa"), &Patch::Apply(&other))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(
        message.contains("gitops") && message.contains(".spec.replicas"),
        "{message}"
    );
    // The same value is shared ownership, not a conflict.
    let same = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    deploys
        .patch("web", &PatchParams::apply("hpa"), &Patch::Apply(&same))
        .await
        .unwrap();
    // Forcing takes the field over.
    let forced = deploys
        .patch(
            "web",
            &PatchParams::apply("hpa").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(5));

    // A label gitops no longer applies disappears; replicas, now owned by hpa, stays.
    let mut trimmed = deployment("web", 2);
    trimmed["spec"].as_object_mut().unwrap().remove("replicas");
    let after = deploys
        .patch(
            "web",
            &PatchParams::apply("gitops"),
            &Patch::Apply(&trimmed),
        )
        .await
        .unwrap();
    let labels = after.metadata.labels.unwrap();
    assert!(!labels.contains_key("tier"), "{labels:?}");
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(after.spec.unwrap().replicas, Some(5));

    // Apply creates missing objects.
    let created = deploys
        .patch(
            "fresh",
            &PatchParams::apply("gitops"),
            &Patch::Apply(deployment("fresh", 1)),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
}

#[tokio::test]
async fn list_selectors_paging_and_watch_resume() {
    let sim = start(&["c1"], 20).await;
    let client = sim.client("c1").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        cms.create(
            &PostParams::default(),
            &cm(&format!("cm-{i}"), json!({"tier": tier})),
        )
        .await
        .unwrap();
    }
    let even = cms
        .list(&ListParams::default().labels("tier=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 4);
    let not_even = cms
        .list(&ListParams::default().labels("tier!=even,tier"))
        .await
        .unwrap();
    assert_eq!(not_even.items.len(), 3);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=cm-3"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    // Paging with limit/continue visits every item once.
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    loop {
        let page = cms.list(&lp).await.unwrap();
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(names.len(), 7);

    // Watch from the list's resourceVersion sees only later changes, in order.
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    cms.patch(
        "cm-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("cm-2", &DeleteParams::default()).await.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Modified(c) => seen.push(format!("M {}", c.metadata.name.unwrap())),
            WatchEvent::Deleted(c) => seen.push(format!("D {}", c.metadata.name.unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, vec!["M cm-1", "D cm-2"]);

    // Past the 20-event history, the old resourceVersion is gone: 410 Expired.
    for i in 0..25 {
        cms.patch(
            "cm-3",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(status) => assert_eq!(status.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn crd_registers_resources_then_custom_resources_work() {
    let sim = start(&["c1"], 100).await;
    let client = sim.client("c1").unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                          "subresources": {"status": {}}}],
        },
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    await_condition(
        crds.clone(),
        "widgets.example.com",
        conditions::is_crd_established(),
    )
    .await
    .unwrap();

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .unwrap();
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, Scope::Namespaced);

    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}});
    widgets
        .patch("w1", &PatchParams::apply("gitops"), &Patch::Apply(&w))
        .await
        .unwrap();
    widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ok": true}})),
        )
        .await
        .unwrap();
    let got = widgets.get("w1").await.unwrap();
    assert_eq!(got.data["spec"]["size"], 3);
    assert_eq!(got.data["status"]["ok"], true);

    // Deleting the CRD removes its resource and its objects.
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let gone = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Widget"),
            "widgets",
        ),
    );
    assert_eq!(api_error(gone.get("w1").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn simulated_controllers_fill_status() {
    let sim = start(&["c1"], 1000).await;
    let client = sim.client("c1").unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            "team",
            &PatchParams::apply("t"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        namespaces
            .get("team")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Active")
    );

    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "team");
    deploys
        .patch(
            "web",
            &PatchParams::apply("t"),
            &Patch::Apply(deployment("web", 3)),
        )
        .await
        .unwrap();
    let ready = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(deploys.clone(), "web", |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .and_then(|s| s.ready_replicas)
                == Some(3)
        }),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let status = ready.status.unwrap();
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.observed_generation, Some(1));
    let available = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(available.status, "True");

    let jobs: Api<Job> = Api::namespaced(client.clone(), "team");
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
    jobs.patch("once", &PatchParams::apply("t"), &Patch::Apply(job))
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(jobs.clone(), "once", conditions::is_job_completed()),
    )
    .await
    .unwrap()
    .unwrap();

    let services: Api<Service> = Api::namespaced(client.clone(), "team");
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let svc = services
        .patch("web", &PatchParams::apply("t"), &Patch::Apply(svc))
        .await
        .unwrap();
    let ip = svc.spec.unwrap().cluster_ip.unwrap();
    assert!(ip.starts_with("10.96."), "{ip}");

    // Deleting the namespace removes what it holds, then the namespace.
    let uid = namespaces.get("team").await.unwrap().metadata.uid.unwrap();
    let terminating = namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(namespaces.clone(), "team", conditions::is_deleted(&uid)),
    )
    .await
    .unwrap()
    .unwrap();
    let all: Api<Deployment> = Api::all(client);
    assert!(
        all.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn faults_latency_errors_down_and_up() {
    let sim = start(&["ok", "flaky"], 100).await;
    let flaky: Api<ConfigMap> = Api::namespaced(sim.client("flaky").unwrap(), "default");
    let ok: Api<ConfigMap> = Api::namespaced(sim.client("ok").unwrap(), "default");

    sim.set_faults(
        "flaky",
        FaultSettings {
            down: true,
            ..Default::default()
        },
    )
    .unwrap();
    match flaky.list(&ListParams::default()).await.unwrap_err() {
        kube::Error::Api(s) => panic!("a down cluster answered: {s:?}"),
        _connection_error => {}
    }
    ok.list(&ListParams::default()).await.unwrap();

    // The admin endpoint flips it back up.
    let http = http_put(
        &sim.faults_url("flaky").unwrap(),
        r#"{"down": false, "errorRate": 1.0}"#,
    )
    .await;
    assert!(http.contains("\"errorRate\":1.0"), "{http}");
    assert_eq!(
        api_error(flaky.list(&ListParams::default()).await.unwrap_err()).0,
        500
    );

    sim.set_faults(
        "flaky",
        FaultSettings {
            latency_ms: 300,
            ..Default::default()
        },
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    flaky.list(&ListParams::default()).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

/// A bare HTTP/1.1 PUT over a TCP stream, so the admin endpoint is exercised without a client
/// library of its own.
async fn http_put(url: &str, body: &str) -> String {
    let (code, out) = http("PUT", url, body).await;
    assert_eq!(code, 200, "{out}");
    out
}

/// A bare HTTP/1.1 request: the status code and the whole response.
async fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!(
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {out}"));
    (code, out)
}

fn contexts(kubeconfig: &std::path::Path) -> Vec<String> {
    kube::config::Kubeconfig::read_from(kubeconfig)
        .unwrap()
        .contexts
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[tokio::test]
async fn admin_endpoint_adds_and_removes_clusters_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("k.yaml");
    let sim = Simulator::start(SimOptions {
        clusters: vec!["florin".into()],
        data_dir: Some(dir.path().join("data")),
        kubeconfig_out: Some(kubeconfig.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(contexts(&kubeconfig), ["florin"]);
    let admin = format!("http://{}/admin/clusters", sim.addr());

    let (code, out) = http("POST", &admin, r#"{"name": "guilder"}"#).await;
    assert_eq!(code, 201, "{out}");
    assert!(out.contains("/clusters/guilder"), "{out}");
    assert_eq!(contexts(&kubeconfig), ["florin", "guilder"]);
    assert_eq!(sim.cluster_names(), ["florin", "guilder"]);
    // The new cluster is a fresh one, reachable through the rewritten kubeconfig.
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions {
            context: Some("guilder".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let guilder = kube::Client::try_from(config).unwrap();
    let namespaces: Api<Namespace> = Api::all(guilder.clone());
    assert!(namespaces.get("kube-system").await.is_ok());
    let cms: Api<ConfigMap> = Api::namespaced(guilder, "default");
    cms.create(&PostParams::default(), &cm("kept", json!({})))
        .await
        .unwrap();

    // Names are checked as on the command line; a started-down cluster can be added too.
    let (code, out) = http("POST", &admin, r#"{"name": "guilder"}"#).await;
    assert!(code == 409 && out.contains("AlreadyExists"), "{out}");
    let (code, out) = http("POST", &admin, r#"{"name": "Not_A_Label"}"#).await;
    assert!(code == 422 && out.contains("DNS-1123"), "{out}");
    let (code, out) = http("POST", &admin, r#"{"nom": "x"}"#).await;
    assert!(code == 400 && out.contains("name"), "{out}");
    let (code, out) = http(
        "POST",
        &admin,
        r#"{"name": "sleepy", "faults": {"down": true}}"#,
    )
    .await;
    assert!(code == 201 && out.contains(r#""down":true"#), "{out}");
    let sleepy: Api<ConfigMap> = Api::namespaced(sim.client("sleepy").unwrap(), "default");
    match sleepy.list(&ListParams::default()).await.unwrap_err() {
        kube::Error::Api(s) => panic!("a down cluster answered: {s:?}"),
        _connection_error => {}
    }

    // Removing a cluster ends its watches, then its requests get 404.
    let mut watch = cms
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let (code, out) = http("DELETE", &format!("{admin}/guilder"), "").await;
    assert_eq!(code, 200, "{out}");
    tokio::time::timeout(Duration::from_secs(5), async {
        while watch.next().await.is_some() {}
    })
    .await
    .expect("the watch of a removed cluster ends");
    assert_eq!(api_error(cms.get("kept").await.unwrap_err()).0, 404);
    assert_eq!(contexts(&kubeconfig), ["florin", "sleepy"]);
    let (code, out) = http("DELETE", &format!("{admin}/guilder"), "").await;
    assert!(code == 404 && out.contains("NotFound"), "{out}");
    assert!(sim.server_url("guilder").is_err());

    // The library does the same; a cluster added back comes back from the data dir.
    sim.add_cluster("guilder").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client("guilder").unwrap(), "default");
    assert!(cms.get("kept").await.is_ok());
    assert!(sim.add_cluster("florin").is_err());
    sim.remove_cluster("sleepy").unwrap();
    assert!(sim.remove_cluster("sleepy").is_err());
    assert_eq!(contexts(&kubeconfig), ["florin", "guilder"]);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn clusters_can_start_down() {
    let sim = Simulator::start(SimOptions {
        clusters: vec!["up".into(), "off".into()],
        down: vec!["off".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let off: Api<ConfigMap> = Api::namespaced(sim.client("off").unwrap(), "default");
    match off.list(&ListParams::default()).await.unwrap_err() {
        kube::Error::Api(s) => panic!("a down cluster answered: {s:?}"),
        _connection_error => {}
    }
    let up: Api<ConfigMap> = Api::namespaced(sim.client("up").unwrap(), "default");
    up.list(&ListParams::default()).await.unwrap();
    let err = Simulator::start(SimOptions {
        clusters: vec!["up".into()],
        down: vec!["typo".into()],
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("typo"), "{err}");
}

#[tokio::test]
async fn api_server_size_limits_are_enforced() {
    let sim = start(&["c1"], 100).await;
    let cms: Api<ConfigMap> = Api::namespaced(sim.client("c1").unwrap(), "default");
    let sized = |name: &str, value_len: usize| -> ConfigMap {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": "x".repeat(value_len)},
        }))
        .unwrap()
    };
    // Exactly 1 MiB of keys and values is allowed, one byte more is not.
    cms.create(&PostParams::default(), &sized("full", 1024 * 1024 - 1))
        .await
        .unwrap();
    let (code, reason, message) = api_error(
        cms.create(&PostParams::default(), &sized("big", 1024 * 1024))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(
        message,
        r#"ConfigMap "big" is invalid: []: Too long: must have at most 1048576 bytes"#
    );
    // binaryData counts decoded; updates and applies are held to the same limit.
    let half = "x".repeat(600 * 1024);
    let engine = base64::engine::general_purpose::STANDARD;
    let mixed = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mixed"},
        "data": {"a": half},
        "binaryData": {"b": base64::Engine::encode(&engine, half.as_bytes())},
    });
    let (code, _, message) = api_error(
        cms.patch("mixed", &PatchParams::apply("t"), &Patch::Apply(&mixed))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422, "{message}");
    let mut full = cms.get("full").await.unwrap();
    full.data
        .get_or_insert_default()
        .insert("more".into(), "y".into());
    let (code, _, _) = api_error(
        cms.replace("full", &PostParams::default(), &full)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);

    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(sim.client("c1").unwrap(), "default");
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"k": "x".repeat(1024 * 1024)},
    }))
    .unwrap();
    let (code, _, message) = api_error(
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert_eq!(
        message,
        r#"Secret "s" is invalid: data: Too long: must have at most 1048576 bytes"#
    );

    // A body over 3 MiB is refused before it is parsed.
    let (code, reason, message) = api_error(
        cms.create(&PostParams::default(), &sized("huge", 3 * 1024 * 1024))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, reason.as_str(), message.as_str()),
        (
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728"
        )
    );
    for name in ["big", "mixed", "huge"] {
        assert_eq!(api_error(cms.get(name).await.unwrap_err()).0, 404, "{name}");
    }
    assert_eq!(api_error(secrets.get("s").await.unwrap_err()).0, 404);
    assert_eq!(
        cms.get("full").await.unwrap().data.unwrap().len(),
        1,
        "the refused update changed nothing"
    );
}

#[tokio::test]
async fn data_dir_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SimOptions {
        clusters: vec!["keep".into()],
        data_dir: Some(dir.path().to_path_buf()),
        behaviour: Behaviour {
            ready_delay: Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    };
    let sim = Simulator::start(opts.clone()).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client("keep").unwrap(), "default");
    cms.create(&PostParams::default(), &cm("saved", json!({"a": "b"})))
        .await
        .unwrap();
    let services: Api<Service> = Api::namespaced(sim.client("keep").unwrap(), "default");
    let before = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "before"},
                        "spec": {"ports": [{"port": 80}]}});
    services
        .patch("before", &PatchParams::apply("t"), &Patch::Apply(before))
        .await
        .unwrap();
    // A Deployment still rolling out when the simulator stops...
    let deploys: Api<Deployment> = Api::namespaced(sim.client("keep").unwrap(), "default");
    deploys
        .patch(
            "web",
            &PatchParams::apply("t"),
            &Patch::Apply(deployment("web", 2)),
        )
        .await
        .unwrap();
    sim.shutdown().await.unwrap();

    let sim = Simulator::start(opts).await.unwrap();
    // ...finishes after the restart.
    let deploys: Api<Deployment> = Api::namespaced(sim.client("keep").unwrap(), "default");
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(deploys, "web", |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .and_then(|s| s.ready_replicas)
                == Some(2)
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client("keep").unwrap(), "default");
    let got = cms.get("saved").await.unwrap();
    assert_eq!(
        got.metadata.labels.unwrap().get("a").map(String::as_str),
        Some("b")
    );
    let services: Api<Service> = Api::namespaced(sim.client("keep").unwrap(), "default");
    let svc = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"ports": [{"port": 80}]}})
    };
    let after = services
        .patch(
            "after",
            &PatchParams::apply("t"),
            &Patch::Apply(svc("after")),
        )
        .await
        .unwrap();
    let before = services.get("before").await.unwrap();
    assert_ne!(
        after.spec.unwrap().cluster_ip,
        before.spec.unwrap().cluster_ip,
        "a restarted cluster reused a service IP"
    );
    // resourceVersions continue after the saved ones.
    let next = cms
        .create(&PostParams::default(), &cm("later", json!({})))
        .await
        .unwrap();
    let (a, b): (u64, u64) = (
        got.metadata.resource_version.unwrap().parse().unwrap(),
        next.metadata.resource_version.unwrap().parse().unwrap(),
    );
    assert!(b > a);
}

#[tokio::test]
async fn kubeconfig_has_a_context_per_cluster() {
    let sim = start(&["florin", "guilder"], 100).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.yaml");
    sim.write_kubeconfig(&path).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let contexts: Vec<_> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    assert_eq!(contexts, vec!["florin", "guilder"]);
    let options = kube::config::KubeConfigOptions {
        context: Some("guilder".into()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("via-kubeconfig", json!({})))
        .await
        .unwrap();
    // It landed in guilder only.
    let florin: Api<ConfigMap> = Api::namespaced(sim.client("florin").unwrap(), "default");
    assert_eq!(
        api_error(florin.get("via-kubeconfig").await.unwrap_err()).0,
        404
    );
}

#[tokio::test]
async fn runtime_watcher_follows_changes() {
    use kube::runtime::{WatchStreamExt, watcher};
    let sim = start(&["c1"], 100).await;
    let client = sim.client("c1").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = watcher(cms.clone(), watcher::Config::default().labels("w=1"))
        .applied_objects()
        .boxed();
    cms.create(&PostParams::default(), &cm("watched", json!({"w": "1"})))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("ignored", json!({"w": "2"})))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("watched"));

    // Streaming lists (sendInitialEvents) end their initial events with a bookmark, which the
    // watcher turns into InitDone.
    let mut streaming = watcher(
        cms.clone(),
        watcher::Config::default().labels("w=2").streaming_lists(),
    )
    .boxed();
    let mut initial = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), streaming.try_next())
            .await
            .expect("no InitDone: the initial-events-end bookmark is missing")
            .unwrap()
            .unwrap();
        match event {
            watcher::Event::Init => {}
            watcher::Event::InitApply(c) => initial.push(c.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, vec!["ignored"]);
}

#[tokio::test]
async fn refuses_bad_names_and_non_loopback_addresses() {
    let err = Simulator::start(SimOptions {
        clusters: vec!["ok".into(), "Not_OK".into()],
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("Not_OK"), "{err}");
    let err = Simulator::start(SimOptions {
        clusters: vec!["a".into(), "a".into()],
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("\"a\""), "{err}");
    let err = Simulator::start(SimOptions {
        clusters: vec!["a".into()],
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[tokio::test]
async fn owned_objects_are_garbage_collected_and_dry_run_stores_nothing() {
    let sim = start(&["c1"], 100).await;
    let cms: Api<ConfigMap> = Api::namespaced(sim.client("c1").unwrap(), "default");
    let owner = cms
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let mut dependent = cm("dependent", json!({}));
    dependent.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: owner.metadata.uid.clone().unwrap(),
            ..Default::default()
        },
    ]);
    cms.create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(cms.clone(), "dependent", |c: Option<&ConfigMap>| {
            c.is_none()
        }),
    )
    .await
    .unwrap()
    .unwrap();

    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let shown = cms.create(&dry, &cm("imaginary", json!({}))).await.unwrap();
    assert_eq!(shown.metadata.name.as_deref(), Some("imaginary"));
    assert_eq!(api_error(cms.get("imaginary").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn hostile_requests_get_status_errors() {
    let sim = start(&["c1"], 100).await;
    let client = sim.client("c1").unwrap();
    let send = |method: &str, path: &str, content_type: &str, body: &str| {
        let req = hyper::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(kube::client::Body::from(body.as_bytes().to_vec()))
            .unwrap();
        let client = client.clone();
        async move { client.send(req).await.unwrap().status().as_u16() }
    };
    let cms = "/api/v1/namespaces/default/configmaps";
    // A watch with an absurd timeout is served, not a panic.
    assert_eq!(
        send(
            "GET",
            &format!("{cms}?watch=1&timeoutSeconds=18446744073709551615"),
            "application/json",
            ""
        )
        .await,
        200
    );
    assert_eq!(
        send(
            "GET",
            &format!("{cms}?continue=zz%C3%A9"),
            "application/json",
            ""
        )
        .await,
        400
    );
    assert_eq!(
        send(
            "GET",
            &format!("{cms}?labelSelector=a%20in%20b"),
            "application/json",
            ""
        )
        .await,
        400
    );
    assert_eq!(send("POST", cms, "application/json", "[1, 2]").await, 400);
    assert_eq!(
        send("POST", cms, "application/json", "{not json").await,
        400
    );
    assert_eq!(
        send(
            "POST",
            cms,
            "application/vnd.kubernetes.protobuf",
            "k8s\u{0}"
        )
        .await,
        415
    );
    assert_eq!(
        send(
            "POST",
            cms,
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#
        )
        .await,
        201
    );
    assert_eq!(
        send(
            "PATCH",
            &format!("{cms}/x"),
            "application/json-patch+json",
            r#"[{"op":"replace","path":"","value":5}]"#
        )
        .await,
        400
    );
    assert_eq!(
        send(
            "PATCH",
            &format!("{cms}/x"),
            "application/merge-patch+json",
            "7"
        )
        .await,
        400
    );
    assert_eq!(
        send(
            "PATCH",
            &format!("{cms}/x"),
            "application/apply-patch+yaml",
            "- a\n- b"
        )
        .await,
        400
    );
    assert_eq!(
        send(
            "PATCH",
            &format!("{cms}/x?fieldManager=m"),
            "application/apply-patch+yaml",
            "{{{"
        )
        .await,
        400
    );
    assert_eq!(
        send("PATCH", &format!("{cms}/x"), "text/plain", "{}").await,
        415
    );
    assert_eq!(
        send(
            "PUT",
            &format!("{cms}/x"),
            "application/json",
            r#"{"metadata":{"name":"y"}}"#
        )
        .await,
        400
    );
    assert_eq!(
        send(
            "GET",
            "/apis/nope.example.com/v1/things",
            "application/json",
            ""
        )
        .await,
        404
    );
    assert_eq!(
        send(
            "GET",
            "/api/v1/namespaces/default/configmaps/x/bogus",
            "application/json",
            ""
        )
        .await,
        404
    );
}
