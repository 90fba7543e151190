//! `gitstellar reconcile --sync` (push mode) end to end: the real binary, a real git repository and
//! simulated WECs reached through a kubeconfig with one context per WEC.

use gitstellar_testkit as common;

use common::{GitRepo, Outcome, TestCommand};
use gitstellar::model::ObjectId;
use gitstellar::sync::{Cluster, KubeCluster};
use gitstellar::wecsim::{FaultSettings, Simulator};
use serde_json::json;

struct Fixture {
    repo: GitRepo,
    sim: Simulator,
    /// Keeps the kubeconfig's directory.
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
}

impl Fixture {
    async fn new() -> Fixture {
        let common::SimulatedWecs {
            sim,
            dir,
            kubeconfig,
        } = common::simulated_wecs(&["florin", "guilder"]).await;
        Fixture {
            repo: common::example1_repo(),
            sim,
            _dir: dir,
            kubeconfig,
        }
    }

    async fn reconcile(&self, extra: &[&str]) -> Outcome {
        let repo = self.repo.path().to_path_buf();
        let config = self.kubeconfig.clone();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let mut cmd = TestCommand::new();
            cmd.arg("reconcile")
                .arg("--repo")
                .arg(&repo)
                .arg("--sync")
                .arg("--kubeconfig")
                .arg(&config);
            cmd.args(&extra);
            cmd.run()
        })
        .await
        .unwrap()
    }

    fn cluster(&self, wec: &str) -> KubeCluster {
        KubeCluster::new(self.sim.client(wec).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_mode_delivers_updates_prunes_and_records() {
    let f = Fixture::new().await;
    let out = f.reconcile(&[]).await;
    out.assert_exit(0);
    assert!(out.stdout.contains("synced florin:"), "{}", out.stdout);
    assert!(out.stdout.contains("synced guilder:"), "{}", out.stdout);
    let rs = ObjectId::new("apps", "ReplicaSet", Some("commonstuff"), "commond");
    let speciald = ObjectId::new("apps", "Deployment", Some("specialstuff"), "speciald");
    assert!(
        f.cluster("florin")
            .get("apps/v1", &rs)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        f.cluster("florin")
            .get("apps/v1", &speciald)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.cluster("guilder")
            .get("apps/v1", &speciald)
            .await
            .unwrap()
            .is_some()
    );
    let recorded = f
        .repo
        .git(&["show", "refs/heads/gitstellar/reported/guilder:sync.yaml"]);
    assert!(
        recorded.contains("apps/Deployment/specialstuff/speciald"),
        "{recorded}"
    );
    assert!(recorded.contains("created"), "{recorded}");

    // A change in git reaches the WECs; with --changed-only only the WECs whose mailbox moved sync.
    let page = std::fs::read_to_string(f.repo.join("wds/wmw-s/httpd-htdocs.yaml")).unwrap();
    f.repo.write(
        "wds/wmw-s/httpd-htdocs.yaml",
        &page.replace("special web site", "very special web site"),
    );
    f.repo.commit("edit the special page");
    let out = f.reconcile(&["--changed-only"]).await;
    out.assert_exit(0);
    assert!(out.stdout.contains("synced guilder:"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("synced florin:"),
        "florin's mailbox did not move: {}",
        out.stdout
    );
    let cm = f
        .cluster("guilder")
        .get(
            "v1",
            &ObjectId::new("", "ConfigMap", Some("specialstuff"), "httpd-htdocs"),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        cm["data"]["index.html"]
            .as_str()
            .unwrap()
            .contains("very special web site")
    );

    // guilder leaves the inventory: what gitstellar put there is removed, and its record goes.
    f.repo.remove("inventory/guilder.yaml");
    f.repo.commit("decommission guilder");
    let out = f.reconcile(&[]).await;
    out.assert_exit(0);
    assert!(
        f.cluster("guilder")
            .get("apps/v1", &speciald)
            .await
            .unwrap()
            .is_none(),
        "{}",
        out.stdout
    );
    assert!(
        f.cluster("guilder")
            .get("apps/v1", &rs)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.cluster("florin")
            .get("apps/v1", &rs)
            .await
            .unwrap()
            .is_some()
    );
    let refs = f.repo.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/heads/gitstellar/reported/",
    ]);
    assert!(!refs.contains("guilder"), "{refs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_wec_is_reported_and_the_others_go_on() {
    let f = Fixture::new().await;
    f.sim
        .set_faults(
            "guilder",
            FaultSettings {
                down: true,
                ..Default::default()
            },
        )
        .unwrap();
    let out = f.reconcile(&[]).await;
    out.assert_exit(1);
    assert!(out.stdout.contains("unreachable guilder"), "{}", out.stdout);
    assert!(out.stdout.contains("synced florin:"), "{}", out.stdout);
    f.sim
        .set_faults("guilder", FaultSettings::default())
        .unwrap();
    // It catches up: --changed-only does not skip a WEC whose last sync failed.
    let out = f.reconcile(&["--changed-only"]).await;
    out.assert_exit(0);
    assert!(out.stdout.contains("synced guilder:"), "{}", out.stdout);
    let ns = f
        .cluster("guilder")
        .get("v1", &ObjectId::new("", "Namespace", None, "specialstuff"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ns["metadata"]["labels"]["special"], json!("yes"));
}
