//! The sync engine against simulated WECs (wecsim): example1 end to end, updates, pruning, drift,
//! objects gitstellar does not own, CRDs with their CRs, and a WEC that is down for a while.

use std::collections::BTreeMap;
use std::path::Path;

use gitstellar::model::{ObjectId, SourceFile, load};
use gitstellar::plan;
use gitstellar::sync::{
    Cluster, Desired, KubeCluster, Mailbox, ObjectOutcome, SyncOptions, SyncReport, sync,
};
use gitstellar::wecsim::{FaultSettings, SimOptions, Simulator};
use serde_json::{Value, json};

fn read_dir(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_dir(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push(SourceFile {
                path: rel,
                content: Ok(std::fs::read(&path).unwrap()),
            });
        }
    }
}

fn example1() -> plan::Plan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples-repo");
    let mut files = Vec::new();
    read_dir(&root, &root, &mut files);
    let snapshot = load(&files);
    assert!(snapshot.problems.is_empty(), "{:?}", snapshot.problems);
    plan::compute(&snapshot)
}

/// One cluster to test against: a simulated one, or the real cluster that
/// `GITSTELLAR_TEST_KUBECONFIG` (and `GITSTELLAR_TEST_CONTEXT`) point at. On a real cluster each
/// test works in a namespace and under an instance name of its own.
struct One {
    sim: Option<Simulator>,
    client: kube::Client,
    ns: String,
    options: SyncOptions,
}

async fn one(test: &str) -> One {
    match std::env::var_os("GITSTELLAR_TEST_KUBECONFIG") {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
            let context = std::env::var("GITSTELLAR_TEST_CONTEXT").ok();
            let options = kube::config::KubeConfigOptions {
                context,
                ..Default::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .unwrap();
            let suffix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                % 1_000_000;
            One {
                sim: None,
                client: kube::Client::try_from(config).unwrap(),
                ns: format!("gs-test-{test}-{suffix}"),
                options: SyncOptions {
                    instance: format!("gs-test-{test}-{suffix}"),
                    ..Default::default()
                },
            }
        }
        None => {
            let sim = start(&["a"]).await;
            One {
                client: sim.client("a").unwrap(),
                sim: Some(sim),
                ns: "ns".into(),
                options: SyncOptions::default(),
            }
        }
    }
}

impl One {
    fn cluster(&self) -> KubeCluster {
        KubeCluster::new(self.client.clone())
    }

    async fn done(self) {
        if let Some(sim) = self.sim {
            sim.shutdown().await.unwrap();
        }
    }
}

async fn start(clusters: &[&str]) -> Simulator {
    Simulator::start(SimOptions {
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn cluster(sim: &Simulator, name: &str) -> KubeCluster {
    KubeCluster::new(sim.client(name).unwrap())
}

fn configmap(ns: &str, name: &str, data: Value) -> Desired {
    Desired {
        id: ObjectId::new("", "ConfigMap", Some(ns), name),
        wds: "w".into(),
        create_only: false,
        object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}),
    }
}

fn namespace(name: &str) -> Desired {
    Desired {
        id: ObjectId::new("", "Namespace", None, name),
        wds: "w".into(),
        create_only: false,
        object: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    }
}

fn mailbox(wec: &str, objects: Vec<Desired>) -> Mailbox {
    Mailbox {
        wec: wec.into(),
        commit: None,
        objects,
        bare_namespaces: Vec::new(),
    }
}

fn outcomes(report: &SyncReport) -> BTreeMap<String, ObjectOutcome> {
    report
        .objects
        .iter()
        .map(|o| (o.object.clone(), o.outcome.clone()))
        .collect()
}

async fn get(c: &KubeCluster, api: &str, id: &ObjectId) -> Option<Value> {
    c.get(api, id).await.unwrap()
}

/// Whether an object is gone within a few seconds (a Namespace terminates asynchronously).
async fn gone_soon(c: &KubeCluster, api: &str, id: &ObjectId) -> bool {
    for _ in 0..100 {
        if get(c, api, id).await.is_none() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn example1_reaches_exactly_its_wecs() {
    let plan = example1();
    let sim = start(&["florin", "guilder"]).await;
    let options = SyncOptions::default();
    for (wec, dest) in &plan.destinations {
        let report = sync(
            &cluster(&sim, wec),
            &Mailbox::from_destination(wec, dest, None),
            &options,
        )
        .await;
        assert!(report.is_clean(), "{wec}: {report:?}");
    }
    let florin = cluster(&sim, "florin");
    let guilder = cluster(&sim, "guilder");
    let rs = ObjectId::new("apps", "ReplicaSet", Some("commonstuff"), "commond");
    for (c, page) in [
        (&florin, "Running in florin."),
        (&guilder, "Running in guilder."),
    ] {
        let live = get(c, "apps/v1", &rs).await.expect("commond everywhere");
        assert_eq!(
            live.pointer("/spec/template/spec/containers/0/env/0/value"),
            Some(&json!("env is prod"))
        );
        assert_eq!(
            live.pointer("/metadata/labels/gitstellar.io~1managed-by"),
            Some(&json!("gitstellar"))
        );
        assert_eq!(
            live.pointer("/metadata/annotations/gitstellar.io~1origin"),
            Some(&json!("wmw-c/apps/ReplicaSet/commonstuff/commond"))
        );
        let cm = get(
            c,
            "v1",
            &ObjectId::new("", "ConfigMap", Some("commonstuff"), "httpd-htdocs"),
        )
        .await
        .unwrap();
        assert!(cm["data"]["index.html"].as_str().unwrap().contains(page));
        assert!(
            get(
                c,
                "v1",
                &ObjectId::new("", "Namespace", None, "commonstuff")
            )
            .await
            .is_some(),
            "bare namespace created"
        );
    }
    let deploy = ObjectId::new("apps", "Deployment", Some("specialstuff"), "speciald");
    assert!(
        get(&florin, "apps/v1", &deploy).await.is_none(),
        "the special workload stays off florin"
    );
    let live = get(&guilder, "apps/v1", &deploy).await.unwrap();
    assert_eq!(
        live.pointer("/spec/template/spec/containers/0/env/0/value"),
        Some(&json!("in prod env"))
    );
    let ns = get(
        &guilder,
        "v1",
        &ObjectId::new("", "Namespace", None, "specialstuff"),
    )
    .await
    .unwrap();
    assert_eq!(ns.pointer("/metadata/labels/special"), Some(&json!("yes")));
    assert!(
        get(
            &guilder,
            "stable.example.com/v1",
            &ObjectId::new(
                "stable.example.com",
                "CronTab",
                Some("specialstuff"),
                "my-new-cron-object"
            )
        )
        .await
        .is_some()
    );
    assert!(
        get(
            &guilder,
            "apiregistration.k8s.io/v1",
            &ObjectId::new(
                "apiregistration.k8s.io",
                "APIService",
                None,
                "v1090.example.my"
            )
        )
        .await
        .is_some()
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn changes_are_applied_and_departures_pruned() {
    let t = one("prune").await;
    let c = t.cluster();
    let ns = t.ns.as_str();
    let options = t.options.clone();
    let first = mailbox(
        "a",
        vec![
            namespace(ns),
            configmap(ns, "keep", json!({"k": "1"})),
            configmap(ns, "gone", json!({"k": "1"})),
        ],
    );
    assert!(sync(&c, &first, &options).await.is_clean());
    let second = mailbox(
        "a",
        vec![namespace(ns), configmap(ns, "keep", json!({"k": "2"}))],
    );
    let report = sync(&c, &second, &options).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        outcomes(&report).get(&format!("core/ConfigMap/{ns}/gone")),
        Some(&ObjectOutcome::Pruned)
    );
    let keep = get(&c, "v1", &ObjectId::new("", "ConfigMap", Some(ns), "keep"))
        .await
        .unwrap();
    assert_eq!(keep["data"]["k"], json!("2"));
    assert!(
        get(&c, "v1", &ObjectId::new("", "ConfigMap", Some(ns), "gone"))
            .await
            .is_none()
    );

    // The WEC left the inventory: an empty mailbox removes everything gitstellar put there.
    let report = sync(&c, &mailbox("a", Vec::new()), &options).await;
    assert!(report.is_clean(), "{report:?}");
    assert!(
        get(&c, "v1", &ObjectId::new("", "ConfigMap", Some(ns), "keep"))
            .await
            .is_none()
    );
    assert!(
        gone_soon(&c, "v1", &ObjectId::new("", "Namespace", None, ns)).await,
        "an owned, empty namespace goes too"
    );
    t.done().await;
}

#[tokio::test]
async fn drift_is_corrected_and_foreign_objects_are_left_alone() {
    let t = one("drift").await;
    let c = t.cluster();
    let ns = t.ns.as_str();
    let options = t.options.clone();
    let desired = mailbox(
        "a",
        vec![namespace(ns), configmap(ns, "cm", json!({"k": "git"}))],
    );
    assert!(sync(&c, &desired, &options).await.is_clean());

    // Someone edits a field gitstellar manages (as `kubectl edit` would: another field manager).
    let edited = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": ns}, "data": {"k": "edited"}});
    let kube = t.client.clone();
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        kube.clone(),
        ns,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    api.patch(
        "cm",
        &kube::api::PatchParams::apply("kubectl-edit").force(),
        &kube::api::Patch::Apply(&edited),
    )
    .await
    .unwrap();
    // And someone creates an object by hand in the same namespace.
    let handmade = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handmade", "namespace": ns}, "data": {"mine": "yes"}});
    api.patch(
        "handmade",
        &kube::api::PatchParams::apply("kubectl"),
        &kube::api::Patch::Apply(&handmade),
    )
    .await
    .unwrap();

    assert!(sync(&c, &desired, &options).await.is_clean());
    let cm = get(&c, "v1", &ObjectId::new("", "ConfigMap", Some(ns), "cm"))
        .await
        .unwrap();
    assert_eq!(cm["data"]["k"], json!("git"), "drift corrected");

    // git now wants an object of the same name as the hand-made one: nothing is taken over.
    let clash = mailbox(
        "a",
        vec![
            namespace(ns),
            configmap(ns, "cm", json!({"k": "git"})),
            configmap(ns, "handmade", json!({"mine": "git's"})),
        ],
    );
    let report = sync(&c, &clash, &options).await;
    assert_eq!(
        outcomes(&report).get(&format!("core/ConfigMap/{ns}/handmade")),
        Some(&ObjectOutcome::Failed),
        "{report:?}"
    );
    let hand = get(
        &c,
        "v1",
        &ObjectId::new("", "ConfigMap", Some(ns), "handmade"),
    )
    .await
    .unwrap();
    assert_eq!(hand["data"]["mine"], json!("yes"));

    // Everything leaves git: the hand-made object survives, and so does its namespace (unmarked).
    let report = sync(&c, &mailbox("a", Vec::new()), &options).await;
    assert!(
        get(
            &c,
            "v1",
            &ObjectId::new("", "ConfigMap", Some(ns), "handmade")
        )
        .await
        .is_some()
    );
    assert_eq!(
        outcomes(&report).get(&format!("core/Namespace/_cluster/{ns}")),
        Some(&ObjectOutcome::Kept),
        "{report:?}"
    );
    let ns = get(&c, "v1", &ObjectId::new("", "Namespace", None, ns))
        .await
        .unwrap();
    assert!(
        ns.pointer("/metadata/labels/gitstellar.io~1managed-by")
            .is_none(),
        "our mark removed: {ns}"
    );
    t.done().await;
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_in_one_mailbox() {
    let t = one("crd").await;
    let c = t.cluster();
    let ns = t.ns.as_str();
    let crd = Desired {
        id: ObjectId::new(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            "widgets.example.com",
        ),
        wds: "w".into(),
        create_only: false,
        object: json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        }),
    };
    let widget = Desired {
        id: ObjectId::new("example.com", "Widget", Some(ns), "w1"),
        wds: "w".into(),
        create_only: false,
        object: json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": ns}, "spec": {"size": 3}}),
    };
    // The CR comes first in the list: the engine must still create the CRD (and wait) first.
    let report = sync(
        &c,
        &mailbox("a", vec![widget, crd, namespace(ns)]),
        &t.options.clone(),
    )
    .await;
    assert!(report.is_clean(), "{report:?}");
    let live = get(
        &c,
        "example.com/v1",
        &ObjectId::new("example.com", "Widget", Some(ns), "w1"),
    )
    .await
    .unwrap();
    assert_eq!(live["spec"]["size"], json!(3));
    t.done().await;
}

#[tokio::test]
async fn a_wec_that_is_down_catches_up_while_the_others_stay_in_sync() {
    let sim = start(&["up", "down"]).await;
    let options = SyncOptions::default();
    let want = |wec: &str| {
        mailbox(
            wec,
            vec![namespace("ns"), configmap("ns", "cm", json!({"v": "1"}))],
        )
    };
    sim.set_faults(
        "down",
        FaultSettings {
            down: true,
            ..Default::default()
        },
    )
    .unwrap();
    let up = sync(&cluster(&sim, "up"), &want("up"), &options).await;
    let down = sync(&cluster(&sim, "down"), &want("down"), &options).await;
    assert!(up.is_clean());
    assert!(
        down.error.is_some(),
        "an unreachable WEC is reported: {down:?}"
    );
    sim.set_faults("down", FaultSettings::default()).unwrap();
    let again = sync(&cluster(&sim, "down"), &want("down"), &options).await;
    assert!(again.is_clean(), "{again:?}");
    assert!(
        get(
            &cluster(&sim, "down"),
            "v1",
            &ObjectId::new("", "ConfigMap", Some("ns"), "cm")
        )
        .await
        .is_some()
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn create_only_objects_are_created_once_and_never_deleted() {
    let t = one("createonly").await;
    let c = t.cluster();
    let ns = t.ns.as_str();
    let options = t.options.clone();
    let mut secret = configmap(ns, "seed", json!({"v": "initial"}));
    secret.create_only = true;
    secret.object["metadata"]["annotations"] =
        json!({"edge.kubestellar.io/downsync-overwrite": "false"});
    let report = sync(
        &c,
        &mailbox("a", vec![namespace(ns), secret.clone()]),
        &options,
    )
    .await;
    assert_eq!(
        outcomes(&report).get(&format!("core/ConfigMap/{ns}/seed")),
        Some(&ObjectOutcome::Created)
    );
    let mut changed = secret.clone();
    changed.object["data"]["v"] = json!("changed in git");
    let report = sync(&c, &mailbox("a", vec![namespace(ns), changed]), &options).await;
    assert_eq!(
        outcomes(&report).get(&format!("core/ConfigMap/{ns}/seed")),
        Some(&ObjectOutcome::Exists)
    );
    assert_eq!(
        get(&c, "v1", &ObjectId::new("", "ConfigMap", Some(ns), "seed"))
            .await
            .unwrap()["data"]["v"],
        json!("initial")
    );
    let report = sync(&c, &mailbox("a", vec![namespace(ns)]), &options).await;
    assert_eq!(
        outcomes(&report).get(&format!("core/ConfigMap/{ns}/seed")),
        Some(&ObjectOutcome::Kept)
    );
    assert!(
        get(&c, "v1", &ObjectId::new("", "ConfigMap", Some(ns), "seed"))
            .await
            .is_some()
    );
    t.done().await;
}

#[tokio::test]
async fn drift_is_watched_not_polled() {
    use futures::StreamExt;
    use gitstellar::sync::drift::{Drift, wanted, watch};
    let t = one("watch").await;
    let c = t.cluster();
    let ns = t.ns.as_str();
    let objects = vec![namespace(ns), configmap(ns, "cm", json!({"k": "git"}))];
    let report = sync(&c, &mailbox("a", objects.clone()), &t.options.clone()).await;
    assert!(report.is_clean());
    let kinds = c.resources_of(&objects).await;
    assert_eq!(kinds.len(), 2);
    let mut drifts = Box::pin(watch(
        t.client.clone(),
        &t.options.instance,
        &kinds,
        wanted(&objects),
    ));
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        t.client.clone(),
        ns,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    let edited = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": ns}, "data": {"k": "edited"}});
    api.patch(
        "cm",
        &kube::api::PatchParams::apply("kubectl-edit").force(),
        &kube::api::Patch::Apply(&edited),
    )
    .await
    .unwrap();
    let drift = tokio::time::timeout(std::time::Duration::from_secs(10), drifts.next())
        .await
        .expect("a drift event");
    assert_eq!(
        drift,
        Some(Drift::Changed(ObjectId::new(
            "",
            "ConfigMap",
            Some(ns),
            "cm"
        )))
    );
    t.done().await;
}

#[tokio::test]
async fn outcomes_tell_created_updated_unchanged_and_drift_apart() {
    let t = one("outcomes").await;
    let c = t.cluster();
    let ns = t.ns.as_str();
    let options = t.options.clone();
    let cm = ObjectId::new("", "ConfigMap", Some(ns), "cm");
    let key = cm.to_string();
    let desired = |v: &str| {
        mailbox(
            "a",
            vec![namespace(ns), configmap(ns, "cm", json!({"k": v}))],
        )
    };
    let first = sync(&c, &desired("1"), &options).await;
    assert_eq!(
        outcomes(&first).get(&key),
        Some(&ObjectOutcome::Created),
        "{first:?}"
    );
    let again = sync(&c, &desired("1"), &options).await;
    assert_eq!(
        outcomes(&again).get(&key),
        Some(&ObjectOutcome::Unchanged),
        "{again:?}"
    );
    assert!(
        again
            .objects
            .iter()
            .all(|o| o.outcome == ObjectOutcome::Unchanged),
        "{again:?}"
    );
    let changed = sync(&c, &desired("2"), &options).await;
    assert_eq!(
        outcomes(&changed).get(&key),
        Some(&ObjectOutcome::Updated),
        "{changed:?}"
    );

    // Someone edits the object: the mailbox did not change, the WEC's object is put back.
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        t.client.clone(),
        ns,
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    let edited = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": ns}, "data": {"k": "edited"}});
    api.patch(
        "cm",
        &kube::api::PatchParams::apply("kubectl-edit").force(),
        &kube::api::Patch::Apply(&edited),
    )
    .await
    .unwrap();
    let corrected = sync(&c, &desired("2"), &options).await;
    assert_eq!(
        outcomes(&corrected).get(&key),
        Some(&ObjectOutcome::DriftCorrected),
        "{corrected:?}"
    );
    assert_eq!(get(&c, "v1", &cm).await.unwrap()["data"]["k"], json!("2"));
    // Deleted by hand: put back, and that is drift too.
    api.delete("cm", &Default::default()).await.unwrap();
    let recreated = sync(&c, &desired("2"), &options).await;
    assert_eq!(
        outcomes(&recreated).get(&key),
        Some(&ObjectOutcome::DriftCorrected),
        "{recreated:?}"
    );
    let gone = sync(&c, &mailbox("a", vec![namespace(ns)]), &options).await;
    assert_eq!(
        outcomes(&gone).get(&key),
        Some(&ObjectOutcome::Pruned),
        "{gone:?}"
    );
    let yaml = serde_saphyr::to_string(&corrected).unwrap();
    assert!(yaml.contains("driftCorrected"), "{yaml}");
    t.done().await;
}
