//! `gitstellar agent` (pull mode) against a real `git daemon` and a simulated WEC: it fetches only
//! its own refs, applies its mailbox, pushes what it did, keeps applying the last good mailbox
//! while git is unreachable, and empties the WEC when the WEC leaves the inventory.

use gitstellar_testkit as common;

use std::path::{Path, PathBuf};

use common::{GitDaemon, GitRepo, Outcome, TestCommand};
use gitstellar::model::ObjectId;
use gitstellar::sync::{Cluster, KubeCluster};

/// The work repo a person edits, a bare "origin" the daemon serves, and reconcile run on origin.
struct Origin {
    work: GitRepo,
    base: tempfile::TempDir,
}

impl Origin {
    fn new() -> Origin {
        let (work, base) = common::example1_origin();
        let origin = Origin { work, base };
        origin.reconcile();
        origin
    }

    fn bare(&self) -> PathBuf {
        self.base.path().join("origin.git")
    }

    /// Publishes the work repo's main to origin and reconciles origin in place.
    fn publish(&self) {
        self.work.git(&[
            "push",
            "-q",
            "-f",
            &self.bare().to_string_lossy(),
            "HEAD:refs/heads/main",
        ]);
        self.reconcile();
    }

    fn reconcile(&self) {
        TestCommand::new()
            .args(&["reconcile", "--repo"])
            .arg(self.bare())
            .args(&["--branch", "main"])
            .run()
            .assert_exit(0);
    }
}

async fn agent(url: &str, wec: &str, kubeconfig: &Path, cache: &Path) -> Outcome {
    agent_with_path(url, wec, kubeconfig, cache, None).await
}

/// Runs the agent once; `path` replaces its PATH (to hide the `git` command).
async fn agent_with_path(
    url: &str,
    wec: &str,
    kubeconfig: &Path,
    cache: &Path,
    path: Option<PathBuf>,
) -> Outcome {
    let args: Vec<String> = vec![
        "agent".into(),
        "--repo".into(),
        url.into(),
        "--wec".into(),
        wec.into(),
        "--kubeconfig".into(),
        kubeconfig.to_string_lossy().into_owned(),
        "--context".into(),
        wec.into(),
        "--cache-dir".into(),
        cache.to_string_lossy().into_owned(),
        "--once".into(),
    ];
    tokio::task::spawn_blocking(move || {
        let mut cmd = TestCommand::new();
        cmd.args(&args);
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        cmd.run()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_pulls_its_own_mailbox_and_pushes_its_report() {
    let origin = Origin::new();
    let mut daemon = Some(GitDaemon::start(origin.base.path()));
    let url = daemon.as_ref().unwrap().url("origin.git");
    let common::SimulatedWecs {
        sim,
        dir,
        kubeconfig,
    } = common::simulated_wecs(&["florin"]).await;
    let cache = dir.path().join("cache");
    let florin = KubeCluster::new(sim.client("florin").unwrap());
    let rs = ObjectId::new("apps", "ReplicaSet", Some("commonstuff"), "commond");

    let out = agent(&url, "florin", &kubeconfig, &cache).await;
    out.assert_exit(0);
    assert!(
        florin.get("apps/v1", &rs).await.unwrap().is_some(),
        "{}",
        out.stdout
    );
    // Its report reached origin.
    let report = origin.work.git(&[
        "--git-dir",
        &origin.bare().to_string_lossy(),
        "show",
        "refs/heads/gitstellar/reported/florin:sync.yaml",
    ]);
    assert!(
        report.contains("apps/ReplicaSet/commonstuff/commond"),
        "{report}"
    );
    // It fetched only its own refs: no other WEC's mailbox, no source branch.
    let cached = common::cache_repository(&cache);
    let refs = origin.work.git(&[
        "--git-dir",
        &cached.to_string_lossy(),
        "for-each-ref",
        "--format=%(refname)",
    ]);
    assert!(
        refs.contains("refs/heads/gitstellar/mailbox/florin"),
        "{refs}"
    );
    assert!(!refs.contains("guilder"), "{refs}");
    assert!(!refs.contains("refs/heads/main"), "{refs}");

    // git goes away; someone deletes a managed object; the agent restores it from its cache.
    daemon.take();
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        sim.client("florin").unwrap(),
        "commonstuff",
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::apps::v1::ReplicaSet>(&()),
    );
    api.delete("commond", &Default::default()).await.unwrap();
    let out = agent(&url, "florin", &kubeconfig, &cache).await;
    // Applied from the cache, but git was not reached: that is not a clean run.
    out.assert_exit(1);
    assert!(out.stdout.contains("git unreachable"), "{}", out.stdout);
    assert!(
        out.stdout.contains("applied the last mailbox fetched"),
        "{}",
        out.stdout
    );
    assert!(
        florin.get("apps/v1", &rs).await.unwrap().is_some(),
        "restored while git is down: {}",
        out.stderr
    );

    // florin leaves the inventory: its mailbox ref goes, and the agent empties the WEC.
    let daemon = GitDaemon::start(origin.base.path());
    let url = daemon.url("origin.git");
    origin.work.remove("inventory/florin.yaml");
    origin.work.commit("decommission florin");
    origin.publish();
    let out = agent(&url, "florin", &kubeconfig, &cache).await;
    out.assert_exit(0);
    assert!(
        florin.get("apps/v1", &rs).await.unwrap().is_none(),
        "{}",
        out.stdout
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_git_command_libgit2_fetches() {
    let origin = Origin::new();
    let daemon = GitDaemon::start(origin.base.path());
    let common::SimulatedWecs {
        sim,
        dir,
        kubeconfig,
    } = common::simulated_wecs(&["guilder"]).await;
    let empty = dir.path().join("no-git");
    std::fs::create_dir(&empty).unwrap();
    let out = agent_with_path(
        &daemon.url("origin.git"),
        "guilder",
        &kubeconfig,
        &dir.path().join("cache"),
        Some(empty),
    )
    .await;
    out.assert_exit(0);
    let guilder = KubeCluster::new(sim.client("guilder").unwrap());
    let speciald = ObjectId::new("apps", "Deployment", Some("specialstuff"), "speciald");
    assert!(
        guilder.get("apps/v1", &speciald).await.unwrap().is_some(),
        "{}",
        out.stdout
    );
    sim.shutdown().await.unwrap();
}
