//! The sync engine's fault safety against simulated WECs (wecsim) and the real binary: a WEC that
//! goes down right after accepting a write, SIGKILL of `reconcile --sync` and of `agent --once`
//! at random moments, and two overlapping syncs — each followed by removing objects from git and
//! one clean pass — leave no marked object that is not in the mailbox. A 10 % error rate
//! converges; a WEC that accepts connections and never answers fails within its timeout; the
//! record is split under the ConfigMap limit, and an old single-ConfigMap record still reads.

use gitstellar_testkit as common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{GitDaemon, GitRepo, TestCommand};
use gitstellar::model::ObjectId;
use gitstellar::sync::desired::{PENDING, live_id};
use gitstellar::sync::record::Record;
use gitstellar::sync::{
    Cluster, Desired, InventoryEntry, KubeCluster, MANAGED_BY, Mailbox, ObjectOutcome,
    RequestPolicy, SyncOptions, SyncReport, sync,
};
use gitstellar::wecsim::{FaultSettings, SimOptions, Simulator};
use serde_json::{Value, json};

async fn start(clusters: &[&str]) -> Simulator {
    Simulator::start(SimOptions {
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Quick retries, so that a WEC that is down is given up fast.
fn quick() -> RequestPolicy {
    RequestPolicy {
        request_timeout: Duration::from_secs(5),
        attempts: 3,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        ..Default::default()
    }
}

/// A short lock, so that a lock left by a sync cut short expires within the test.
fn short_lock() -> SyncOptions {
    SyncOptions {
        lock_duration: Duration::from_secs(1),
        ..Default::default()
    }
}

fn configmap(ns: &str, name: &str) -> Desired {
    Desired {
        id: ObjectId::new("", "ConfigMap", Some(ns), name),
        wds: "w".into(),
        create_only: false,
        object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"k": name}}),
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

/// Namespace `ns` and ConfigMaps `cm-<i>` for `i` in `range`.
fn mailbox(range: std::ops::Range<usize>) -> Mailbox {
    let mut objects = vec![namespace("ns")];
    objects.extend(range.map(|i| configmap("ns", &format!("cm-{i:02}"))));
    Mailbox {
        wec: "a".into(),
        objects,
        ..Default::default()
    }
}

fn ids(mailbox: &Mailbox) -> BTreeSet<String> {
    mailbox.objects.iter().map(|d| d.id.to_string()).collect()
}

/// Every object in the WEC that carries gitstellar's label, of every kind it serves. Children of
/// other objects (a ReplicaSet's Pods) are their controllers', not gitstellar's.
async fn all_marked(client: &kube::Client) -> BTreeSet<String> {
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let mut out = BTreeSet::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if !caps.supports_operation("list") {
                continue;
            }
            let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(client.clone(), &ar);
            let list = api
                .list(&kube::api::ListParams::default().labels(MANAGED_BY))
                .await
                .unwrap();
            for item in list.items {
                // Children go with their parents; a terminating Namespace is on its way out.
                if item
                    .metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| !o.is_empty())
                    || item.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                let mut value = serde_json::to_value(item).unwrap();
                value["apiVersion"] = json!(ar.api_version);
                value["kind"] = json!(ar.kind);
                out.insert(live_id(&value).unwrap().to_string());
            }
        }
    }
    out
}

fn clean(report: &SyncReport) -> bool {
    report.is_clean()
}

/// Syncs, waiting out a lock left by a sync whose release did not reach the WEC.
async fn sync_when_free(c: &KubeCluster, mailbox: &Mailbox, options: &SyncOptions) -> SyncReport {
    for _ in 0..5 {
        let r = sync(c, mailbox, options).await;
        if r.busy.is_none() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    sync(c, mailbox, options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wec_that_goes_down_right_after_accepting_a_write_leaves_nothing_unrecorded() {
    let sim = start(&["a"]).await;
    let c = KubeCluster::with_policy(sim.client("a").unwrap(), quick());
    let options = short_lock();
    let mut cut_mid_apply = 0;
    // The sync under test makes about 14 writes: the lock, the record ahead, six new objects,
    // three deletions, the record after, the release. Stop after each of them in turn.
    for writes in 1..=15 {
        let before = mailbox(0..6);
        let r = sync_when_free(&c, &before, &options).await;
        assert!(clean(&r), "{writes}: {r:?}");
        let during = mailbox(3..12);
        sim.set_faults(
            "a",
            FaultSettings {
                down_after_writes: Some(writes),
                ..Default::default()
            },
        )
        .unwrap();
        let r = sync(&c, &during, &options).await;
        sim.set_faults("a", FaultSettings::default()).unwrap();
        if r.error.is_some() {
            let live = all_marked(c.client()).await;
            let new_applied = (6..12)
                .filter(|i| live.contains(&format!("core/ConfigMap/ns/cm-{i:02}")))
                .count();
            if new_applied > 0 && new_applied < 6 {
                cut_mid_apply += 1;
            }
            // The lock could not be released: it expires.
            tokio::time::sleep(Duration::from_millis(2100)).await;
        }
        // The objects leave git; one clean pass.
        let after = mailbox(0..2);
        let r = sync_when_free(&c, &after, &options).await;
        assert!(clean(&r), "{writes}: {r:?}");
        assert_eq!(
            all_marked(c.client()).await,
            ids(&after),
            "down after {writes} writes"
        );
    }
    eprintln!("down-after-writes test: {cut_mid_apply} syncs cut between two applies");
    assert!(
        cut_mid_apply >= 3,
        "only {cut_mid_apply} syncs were cut between two applies"
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_syncs_of_one_wec_leave_nothing_unrecorded() {
    let sim = start(&["a"]).await;
    let options = short_lock();
    let mut busy = 0;
    for round in 0..4 {
        // Two processes, each with its own connection and its own mailbox for the WEC.
        let one = KubeCluster::with_policy(sim.client("a").unwrap(), quick());
        let two = KubeCluster::with_policy(sim.client("a").unwrap(), quick());
        let (a, b) = (mailbox(0..10), mailbox(5..15));
        let (ra, rb) = tokio::join!(sync(&one, &a, &options), sync(&two, &b, &options));
        for r in [&ra, &rb] {
            assert!(r.error.is_none(), "{round}: {r:?}");
            if r.busy.is_some() {
                busy += 1;
                assert!(r.objects.is_empty(), "a busy sync does nothing: {r:?}");
                assert!(!r.is_clean());
            }
        }
        assert!(
            ra.busy.is_none() || rb.busy.is_none(),
            "one of them synced: {ra:?} {rb:?}"
        );
        let after = mailbox(0..1);
        let r = sync(&one, &after, &options).await;
        assert!(clean(&r), "{round}: {r:?}");
        assert_eq!(all_marked(one.client()).await, ids(&after), "round {round}");
    }
    assert!(busy >= 1, "the syncs never overlapped");
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_longer_than_its_lock_renews_it() {
    let sim = start(&["a"]).await;
    let options = short_lock();
    let long = KubeCluster::with_policy(sim.client("a").unwrap(), quick());
    let other = KubeCluster::with_policy(sim.client("a").unwrap(), quick());
    let r = sync(&long, &mailbox(0..40), &options).await;
    assert!(r.is_clean(), "{r:?}");
    // Slow answers: pruning 39 objects one by one takes seconds, several lock durations.
    sim.set_faults(
        "a",
        FaultSettings {
            latency_ms: 40,
            ..Default::default()
        },
    )
    .unwrap();
    let want = mailbox(0..1);
    let began = Instant::now();
    let (first, second) = tokio::join!(
        async {
            let r = sync(&long, &want, &options).await;
            (r, began.elapsed())
        },
        async {
            // Well past the lock's duration, while the first sync still runs.
            tokio::time::sleep(Duration::from_millis(1800)).await;
            let r = sync(&other, &mailbox(0..40), &options).await;
            (r, began.elapsed())
        }
    );
    let ((first, first_done), (second, second_done)) = (first, second);
    assert!(first.is_clean(), "{first:?}");
    assert!(
        second_done < first_done,
        "the first sync ({first_done:?}) outlasted the second attempt ({second_done:?})"
    );
    assert!(second.busy.is_some(), "still locked: {second:?}");
    sim.set_faults("a", FaultSettings::default()).unwrap();
    assert_eq!(all_marked(long.client()).await, ids(&want));
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_percent_error_rate_converges_within_three_passes() {
    let sim = start(&["a"]).await;
    let mut want = mailbox(0..40);
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
    want.objects.push(crd);
    want.objects.push(Desired {
        id: ObjectId::new("example.com", "Widget", Some("ns"), "w1"),
        wds: "w".into(),
        create_only: false,
        object: json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "ns"}, "spec": {"size": 3}}),
    });
    sim.set_faults(
        "a",
        FaultSettings {
            error_rate: 0.10,
            ..Default::default()
        },
    )
    .unwrap();
    let mut passes = 0;
    let mut last = SyncReport::default();
    while passes < 3 {
        passes += 1;
        // One cluster per pass, as push mode makes one per WEC per pass.
        let c = KubeCluster::new(sim.client("a").unwrap());
        last = sync(&c, &want, &SyncOptions::default()).await;
        assert!(
            c.discoveries() <= 1,
            "discovery once per pass: {}",
            c.discoveries()
        );
        if last.is_clean() {
            break;
        }
    }
    assert!(last.is_clean(), "not converged in 3 passes: {last:?}");
    sim.set_faults("a", FaultSettings::default()).unwrap();
    assert_eq!(all_marked(&sim.client("a").unwrap()).await, ids(&want));
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wec_that_never_answers_fails_within_its_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts every connection, reads nothing, answers nothing, closes nothing.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    let timeout = Duration::from_millis(800);
    let c = KubeCluster::from_config(
        config,
        RequestPolicy {
            request_timeout: timeout,
            ..Default::default()
        },
    )
    .unwrap();
    let began = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        sync(&c, &mailbox(0..3), &SyncOptions::default()),
    )
    .await
    .expect("the sync returns");
    let took = began.elapsed();
    let error = r.error.clone().expect("the WEC's sync failed");
    assert!(error.contains("timed out"), "{error}");
    assert!(took >= timeout, "{took:?}");
    assert!(took < timeout * 3, "within its timeout: {took:?}");
    silent.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_splits_over_configmaps_and_an_old_record_still_reads() {
    let sim = start(&["a"]).await;
    let c = KubeCluster::new(sim.client("a").unwrap());
    // An old record: one ConfigMap, lines without digests, listing an object that is there.
    let options = SyncOptions::default();
    let r = sync(&c, &mailbox(0..3), &options).await;
    assert!(r.is_clean(), "{r:?}");
    let old = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "gitstellar-inventory-gitstellar", "namespace": "gitstellar-system", "labels": {MANAGED_BY: "gitstellar"}},
        "data": {"objects": "v1 w/core/ConfigMap/ns/cm-00\nv1 w/core/ConfigMap/ns/cm-01\nv1 w/core/ConfigMap/ns/cm-02\nv1 w/core/Namespace/_cluster/ns"}});
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        sim.client("a").unwrap(),
        "gitstellar-system",
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    api.delete("gitstellar-inventory-gitstellar", &Default::default())
        .await
        .unwrap();
    // As an earlier version wrote it: server-side apply by gitstellar's field manager.
    api.patch(
        "gitstellar-inventory-gitstellar",
        &kube::api::PatchParams::apply("gitstellar").force(),
        &kube::api::Patch::Apply(&old),
    )
    .await
    .unwrap();
    let r = sync(&c, &mailbox(0..1), &options).await;
    assert!(r.is_clean(), "{r:?}");
    let pruned: BTreeSet<&str> = r
        .objects
        .iter()
        .filter(|o| o.outcome == ObjectOutcome::Pruned)
        .map(|o| o.object.as_str())
        .collect();
    assert_eq!(
        pruned,
        BTreeSet::from(["core/ConfigMap/ns/cm-01", "core/ConfigMap/ns/cm-02"])
    );
    assert_eq!(all_marked(c.client()).await, ids(&mailbox(0..1)));

    // A big record: many parts, each under the API server's 1 MiB, read back whole.
    let mut record = Record::read(&c, "big").await.unwrap();
    let n = 30_000;
    record.add((0..n).map(|i| {
        (
            ObjectId::new(
                "apps",
                "Deployment",
                Some("a-namespace"),
                &format!("a-deployment-with-a-long-descriptive-name-{i:06}"),
            ),
            InventoryEntry {
                wds: "wds".into(),
                version: "v1".into(),
                digest: PENDING.into(),
            },
        )
    }));
    record.write(&c).await.unwrap();
    let read = Record::read(&c, "big").await.unwrap();
    assert_eq!(read.inventory(), record.inventory());
    assert!(read.part_data().len() > 1);
    for i in 0..read.part_data().len() {
        let name = gitstellar::sync::record::part_name("big", i);
        let live = api.get(&name).await.unwrap();
        let bytes: usize = live
            .data
            .get("data")
            .and_then(Value::as_object)
            .map(|d| {
                d.iter()
                    .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                    .sum()
            })
            .unwrap_or(0);
        assert!(bytes > 0 && bytes < 1024 * 1024, "{name}: {bytes} bytes");
    }
    sim.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The real binary, SIGKILLed at random moments.

/// Namespace `many` with 15 ConfigMaps that stay and 15 of this round's own (so that one applied
/// but unrecorded by a killed run is in no later mailbox: it would stay forever), placed on every
/// prod WEC; with no round, the Namespace alone (it stays, so that deleting it does not remove
/// what was left in it).
fn write_many(repo: &GitRepo, round: Option<&str>) {
    let mut text = String::from(
        "apiVersion: edge.kubestellar.io/v2alpha1\nkind: EdgePlacement\nmetadata:\n  name: many\nspec:\n  locationSelectors:\n  - matchLabels: {\"env\": \"prod\"}\n  downsync:\n  - apiGroup: \"\"\n    resources: [ configmaps ]\n    namespaces: [ many ]\n  - apiGroup: \"\"\n    resources: [ namespaces ]\n    objectNames: [ many ]\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: many\n",
    );
    let names: Vec<String> = match round {
        Some(round) => (0..15)
            .map(|i| format!("many-{i:02}"))
            .chain((0..15).map(|i| format!("many-{round}-{i:02}")))
            .collect(),
        None => Vec::new(),
    };
    for name in names {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: many\ndata:\n  k: \"{name}\"\n"
        ));
    }
    repo.write("wds/wmw-c/many.yaml", &text);
}

/// The ids of the objects in `wec`'s mailbox in the repository at `git_dir`.
fn mailbox_ids(git_dir: &Path, wec: &str) -> BTreeSet<String> {
    let repo = git2::Repository::open(git_dir).unwrap();
    gitstellar::sync::fleet::read_mailbox(&repo, wec, None)
        .unwrap()
        .objects
        .iter()
        .map(|d| d.id.to_string())
        .collect()
}

/// After a kill: whether the killed run left the WEC's lock held (it was killed mid-sync) and its
/// record holds entries for this round's objects written ahead of an apply that was never
/// confirmed (it was killed mid-apply). Then the lock is made to look expired, as it would be
/// once its duration passed.
async fn inspect_and_expire(sim: &Simulator, wec: &str, round: &str) -> (bool, bool) {
    const EXPIRED: &str = "expired-by-the-test";
    let c = KubeCluster::new(sim.client(wec).unwrap());
    let pending = Record::read(&c, "gitstellar")
        .await
        .unwrap()
        .inventory()
        .objects
        .iter()
        .any(|(id, e)| e.digest == PENDING && id.name.contains(&format!("-{round}-")));
    let lease_id = ObjectId::new(
        "coordination.k8s.io",
        "Lease",
        Some("gitstellar-system"),
        "gitstellar-sync-gitstellar",
    );
    let Some(mut lease) = c.get("coordination.k8s.io/v1", &lease_id).await.unwrap() else {
        return (false, pending);
    };
    let held = lease
        .pointer("/spec/holderIdentity")
        .and_then(Value::as_str)
        .is_some_and(|h| !h.is_empty() && h != EXPIRED);
    if held {
        lease["spec"]["holderIdentity"] = json!(EXPIRED);
        lease["spec"]["renewTime"] = json!("2000-01-01T00:00:00.000000Z");
        c.replace(&lease).await.unwrap();
    }
    (held, pending)
}

/// How long a full run takes, in milliseconds.
fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

async fn kill_at_random(
    mut cmd: tokio::process::Command,
    rng: &mut gitstellar_testkit::synth::Rng,
    full_ms: u64,
) -> bool {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(rng.next_u64() % (full_ms + 1))).await;
    let running = child.try_wait().unwrap().is_none();
    // SIGKILL on Unix.
    let _ = child.kill().await;
    running
}

fn binary() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gitstellar"));
    cmd.env_remove("RUST_LOG")
        .env_remove("GITSTELLAR_LOG")
        .env("GITSTELLAR_STALE_LOCK_SECONDS", "0");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_reconcile_sync_at_random_moments_leaves_nothing_unrecorded() {
    let repo = common::example1_repo();
    let wecs = common::simulated_wecs(&["florin", "guilder"]).await;
    for wec in ["florin", "guilder"] {
        // Slow enough answers that a kill lands mid-apply often.
        wecs.sim
            .set_faults(
                wec,
                FaultSettings {
                    latency_ms: 30,
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let reconcile = || {
        let mut cmd = binary();
        cmd.args(["reconcile", "--repo"])
            .arg(repo.path())
            .arg("--sync")
            .arg("--kubeconfig")
            .arg(&wecs.kubeconfig);
        cmd
    };
    write_many(&repo, Some("first"));
    repo.commit("many");
    let began = Instant::now();
    let status = reconcile().status().await.unwrap();
    assert_eq!(status.code(), Some(0));
    let full_ms = millis(began.elapsed());

    let mut rng = gitstellar_testkit::synth::Rng::new(0x5eed_0001);
    let (mut killed, mut mid_apply) = (0, 0);
    let rounds = 12;
    for round in 0..rounds {
        write_many(&repo, Some(&format!("round{round}")));
        repo.commit(&format!("round {round}"));
        if kill_at_random(reconcile(), &mut rng, full_ms).await {
            killed += 1;
        }
        for wec in ["florin", "guilder"] {
            let (held, pending) =
                inspect_and_expire(&wecs.sim, wec, &format!("round{round}")).await;
            if held && pending {
                mid_apply += 1;
            }
        }
    }
    // The objects leave git; one clean pass.
    write_many(&repo, None);
    repo.commit("no more many");
    let out = tokio::task::spawn_blocking({
        let path = repo.path().to_path_buf();
        let kubeconfig = wecs.kubeconfig.clone();
        move || {
            TestCommand::new()
                .args(&["reconcile", "--repo"])
                .arg(path)
                .arg("--sync")
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .env("GITSTELLAR_STALE_LOCK_SECONDS", "0")
                .run()
        }
    })
    .await
    .unwrap();
    out.assert_exit(0);
    for wec in ["florin", "guilder"] {
        let client = wecs.sim.client(wec).unwrap();
        assert_eq!(
            all_marked(&client).await,
            mailbox_ids(repo.path(), wec),
            "{wec}: {}",
            out.stdout
        );
    }
    eprintln!(
        "kill test: {mid_apply} cut mid-apply, {killed} of {rounds} killed while running (full run {full_ms} ms)"
    );
    assert!(
        mid_apply >= 1,
        "no run was cut mid-apply ({killed} of {rounds} killed while running; full run {full_ms} ms)"
    );
}

/// The work repo, a bare origin served by `git daemon`, reconciled in place (as a server would).
struct Origin {
    work: GitRepo,
    base: tempfile::TempDir,
}

impl Origin {
    fn bare(&self) -> PathBuf {
        self.base.path().join("origin.git")
    }

    fn publish(&self) {
        self.work.git(&[
            "push",
            "-q",
            "-f",
            &self.bare().to_string_lossy(),
            "HEAD:refs/heads/main",
        ]);
        TestCommand::new()
            .args(&["reconcile", "--repo"])
            .arg(self.bare())
            .args(&["--branch", "main"])
            .env("GITSTELLAR_STALE_LOCK_SECONDS", "0")
            .run()
            .assert_exit(0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_agent_once_at_random_moments_leaves_nothing_unrecorded() {
    let (work, base) = common::example1_origin();
    let origin = Origin { work, base };
    write_many(&origin.work, Some("first"));
    origin.work.commit("many");
    origin.publish();
    let daemon = GitDaemon::start(origin.base.path());
    let url = daemon.url("origin.git");
    let wecs = common::simulated_wecs(&["florin"]).await;
    wecs.sim
        .set_faults(
            "florin",
            FaultSettings {
                latency_ms: 50,
                ..Default::default()
            },
        )
        .unwrap();
    let cache = wecs.dir.path().join("cache");
    let agent = || {
        let mut cmd = binary();
        cmd.args([
            "agent",
            "--repo",
            &url,
            "--wec",
            "florin",
            "--context",
            "florin",
            "--once",
        ])
        .arg("--kubeconfig")
        .arg(&wecs.kubeconfig)
        .arg("--cache-dir")
        .arg(&cache);
        cmd
    };
    let began = Instant::now();
    let status = agent().status().await.unwrap();
    assert_eq!(status.code(), Some(0));
    let full_ms = millis(began.elapsed());

    let mut rng = gitstellar_testkit::synth::Rng::new(0x5eed_0002);
    let (mut killed, mut mid_apply) = (0, 0);
    let rounds = 14;
    for round in 0..rounds {
        write_many(&origin.work, Some(&format!("round{round}")));
        origin.work.commit(&format!("round {round}"));
        origin.publish();
        if kill_at_random(agent(), &mut rng, full_ms).await {
            killed += 1;
        }
        let (held, pending) =
            inspect_and_expire(&wecs.sim, "florin", &format!("round{round}")).await;
        if held && pending {
            mid_apply += 1;
        }
    }
    write_many(&origin.work, None);
    origin.work.commit("no more many");
    origin.publish();
    let out = agent().output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        all_marked(&wecs.sim.client("florin").unwrap()).await,
        mailbox_ids(&origin.bare(), "florin")
    );
    eprintln!(
        "kill test: {mid_apply} cut mid-apply, {killed} of {rounds} killed while running (full run {full_ms} ms)"
    );
    assert!(
        mid_apply >= 1,
        "no run was cut mid-apply ({killed} of {rounds} killed while running; full run {full_ms} ms)"
    );
}
