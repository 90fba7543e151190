//! The hold rule (design §9.16), end to end: each typo of the safety issue, committed after a
//! good pass and reconciled with `--sync` against three simulated WECs, leaves every WEC's
//! objects in place, exits 1 and says what is held and why; fixing the typo converges; deleting
//! a broken file deletes its objects.

use gitstellar_testkit as common;

use common::{GitRepo, Outcome, TestCommand};
use gitstellar::model::ObjectId;
use gitstellar::sync::{Cluster, KubeCluster};
use gitstellar::wecsim::{SimOptions, Simulator};

const WECS: [&str; 3] = ["florin", "guilder", "ruble"];
const MAILBOX: &str = "refs/heads/gitstellar/mailbox/";
const STATUS: &str = "refs/heads/gitstellar/status";

/// A third WEC beside example1's florin and guilder, like florin (prod, not extended).
const RUBLE: &str = "apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata:
  name: ruble
  labels: {id: ruble, loc-name: ruble, env: prod}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: ruble
  labels: {loc-name: ruble, env: prod}
spec:
  resource: {group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}
  instanceSelector:
    matchLabels: {id: ruble}
";

struct Fixture {
    repo: GitRepo,
    sim: Simulator,
    kubeconfig: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let repo = common::example1_repo();
        repo.write("inventory/ruble.yaml", RUBLE);
        repo.commit("a third WEC");
        let sim = Simulator::start(SimOptions {
            clusters: WECS.iter().map(|w| w.to_string()).collect(),
            ..Default::default()
        })
        .await
        .expect("start the simulator");
        let kubeconfig = tempfile::tempdir().expect("tempdir");
        sim.write_kubeconfig(&kubeconfig.path().join("config"))
            .expect("kubeconfig");
        Fixture {
            repo,
            sim,
            kubeconfig,
        }
    }

    async fn reconcile(&self) -> Outcome {
        let repo = self.repo.path().to_path_buf();
        let config = self.kubeconfig.path().join("config");
        tokio::task::spawn_blocking(move || {
            TestCommand::new()
                .arg("reconcile")
                .arg("--repo")
                .arg(&repo)
                .arg("--sync")
                .arg("--kubeconfig")
                .arg(&config)
                .run()
        })
        .await
        .expect("join")
    }

    /// Every gitstellar mailbox ref and its tree.
    fn mailbox_trees(&self) -> Vec<(String, String)> {
        let out = self
            .repo
            .git(&["for-each-ref", "--format=%(refname)", MAILBOX]);
        out.lines()
            .map(|name| {
                let tree = self.repo.git(&["rev-parse", &format!("{name}^{{tree}}")]);
                (name.to_string(), tree.trim().to_string())
            })
            .collect()
    }

    /// The objects of a WEC's mailbox, with their apiVersion.
    fn mailbox_objects(&self, wec: &str) -> Vec<(String, ObjectId)> {
        let reference = format!("{MAILBOX}{wec}");
        let listing = self
            .repo
            .git(&["ls-tree", "-r", "--name-only", &reference, "objects"]);
        listing
            .lines()
            .map(|path| {
                let text = self.repo.git(&["show", &format!("{reference}:{path}")]);
                let api = text
                    .lines()
                    .find_map(|l| l.strip_prefix("apiVersion: "))
                    .expect("apiVersion")
                    .trim()
                    .to_string();
                let id = path
                    .strip_prefix("objects/")
                    .and_then(|p| p.strip_suffix(".yaml"))
                    .and_then(ObjectId::parse)
                    .expect("an object path");
                (api, id)
            })
            .collect()
    }

    async fn in_wec(&self, wec: &str, api: &str, id: &ObjectId) -> bool {
        let cluster = KubeCluster::new(self.sim.client(wec).expect("client"));
        cluster.get(api, id).await.expect("get").is_some()
    }

    fn status_file(&self, path: &str) -> String {
        self.repo.git(&["show", &format!("{STATUS}:{path}")])
    }

    fn drop_record(&self) {
        let _ = std::fs::remove_file(self.repo.join(".git/gitstellar/last-pass"));
    }
}

/// The `M` of the summary's `..., N problems, M held`.
fn held_count(out: &Outcome) -> usize {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("reconciled "))
        .unwrap_or_else(|| panic!("no summary: {}", out.stdout));
    line.rsplit(", ")
        .next()
        .and_then(|l| l.strip_suffix(" held"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no held count: {line}"))
}

/// Commits `broken` at `path` after a good pass, reconciles and checks the hold; then fixes it.
async fn typo_holds(f: &Fixture, path: &str, broken: &str, says: &str) {
    let good = std::fs::read_to_string(f.repo.join(path)).expect("read");
    let out = f.reconcile().await;
    out.assert_exit(0);
    let trees = f.mailbox_trees();
    assert_eq!(trees.len(), 3, "{trees:?}");
    let objects: Vec<(&str, Vec<(String, ObjectId)>)> =
        WECS.iter().map(|w| (*w, f.mailbox_objects(w))).collect();
    for (wec, list) in &objects {
        assert!(!list.is_empty(), "{wec} has objects");
        for (api, id) in list {
            assert!(f.in_wec(wec, api, id).await, "{wec}: {id} before the typo");
        }
    }

    f.repo.write(path, broken);
    f.repo.commit(&format!("typo in {path}"));
    for round in [
        "with the record",
        "without the record",
        "the same revision again",
    ] {
        if round == "without the record" {
            f.drop_record();
        }
        let out = f.reconcile().await;
        out.assert_exit(1);
        assert!(held_count(&out) > 0, "{path} {round}: {}", out.stdout);
        assert!(
            out.stdout.contains("held: ") && out.stdout.contains(says),
            "{path} {round}: says what is held and why: {}",
            out.stdout
        );
        assert_eq!(f.mailbox_trees(), trees, "{path} {round}: no mailbox moved");
        for (wec, list) in &objects {
            for (api, id) in list {
                assert!(
                    f.in_wec(wec, api, id).await,
                    "{path} {round}: {wec} lost {id}: {}",
                    out.stdout
                );
            }
        }
        let problems = f.status_file("problems.yaml");
        assert!(
            problems.contains("holds:"),
            "{path} {round}: problems.yaml says what is held: {problems}"
        );
    }

    f.repo.write(path, &good);
    f.repo.commit(&format!("fix {path}"));
    let out = f.reconcile().await;
    out.assert_exit(0);
    assert_eq!(held_count(&out), 0, "{}", out.stdout);
    assert_eq!(f.mailbox_trees(), trees, "{path}: fixing converges");
    assert!(!f.status_file("problems.yaml").contains("holds:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_typo_of_the_issue_holds_every_wec_until_fixed() {
    let f = Fixture::new().await;
    // A duplicate key in gitstellar.yaml: the layout is unknowable, no mailbox moves.
    let config = std::fs::read_to_string(f.repo.join("gitstellar.yaml")).expect("read");
    typo_holds(
        &f,
        "gitstellar.yaml",
        &format!("{config}inventorySpaces: [\"inventory\"]\n"),
        "gitstellar.yaml",
    )
    .await;
    // A YAML error in one WEC's inventory file: that WEC keeps its mailbox.
    let florin = std::fs::read_to_string(f.repo.join("inventory/florin.yaml")).expect("read");
    typo_holds(
        &f,
        "inventory/florin.yaml",
        &format!("{florin}  extra: [unclosed\n"),
        "the mailboxes of florin unchanged",
    )
    .await;
    // A YAML error in a workload file: its ReplicaSet stays everywhere.
    let commond = std::fs::read_to_string(f.repo.join("wds/wmw-c/commond.yaml")).expect("read");
    typo_holds(
        &f,
        "wds/wmw-c/commond.yaml",
        &commond.replace("replicas: 1", "replicas: [1"),
        "apps/ReplicaSet/commonstuff/commond on florin, guilder, ruble",
    )
    .await;
    // An unknown selector operator: the EdgePlacement is held as the last good revision had it.
    let ep_path = "wds/wmw-c/edge-placement-c.yaml";
    let ep = std::fs::read_to_string(f.repo.join(ep_path)).expect("read");
    let typo = ep.replace(
        "- matchLabels: {\"env\": \"prod\"}",
        "- matchExpressions: [{key: env, operator: Equals, values: [prod]}]",
    );
    assert_ne!(typo, ep);
    f.reconcile().await.assert_exit(0);
    f.repo.write(ep_path, &typo);
    f.repo.commit("unknown operator");
    let out = f.reconcile().await;
    out.assert_exit(1);
    let slice = f.status_file("placements/wmw-c/edge-placement-c.yaml");
    assert!(
        slice.contains("gitstellar.io/held:") && slice.contains("gitstellar.io/held-from:"),
        "{slice}"
    );
    for wec in WECS {
        assert!(slice.contains(&format!("syncTargetName: {wec}")), "{slice}");
    }
    f.repo.write(ep_path, &ep);
    f.repo.commit("known operator");
    typo_holds(&f, ep_path, &typo, "EdgePlacement as").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_broken_file_deletes_its_objects() {
    let f = Fixture::new().await;
    f.reconcile().await.assert_exit(0);
    let rs = ObjectId::new("apps", "ReplicaSet", Some("commonstuff"), "commond");
    for wec in WECS {
        assert!(f.in_wec(wec, "apps/v1", &rs).await, "{wec}");
    }
    f.repo.write("wds/wmw-c/commond.yaml", "kind: [unclosed\n");
    f.repo.commit("break");
    let out = f.reconcile().await;
    out.assert_exit(1);
    assert_eq!(held_count(&out), 3, "{}", out.stdout);
    // Still broken a commit later, elsewhere edited: still held.
    f.repo.write("NOTES.md", "notes\n");
    f.repo.commit("unrelated");
    let out = f.reconcile().await;
    out.assert_exit(1);
    assert_eq!(held_count(&out), 3, "{}", out.stdout);
    for wec in WECS {
        assert!(f.in_wec(wec, "apps/v1", &rs).await, "{wec} still has it");
    }
    f.repo.remove("wds/wmw-c/commond.yaml");
    f.repo.commit("remove the file");
    let out = f.reconcile().await;
    out.assert_exit(0);
    assert_eq!(held_count(&out), 0, "{}", out.stdout);
    for wec in WECS {
        assert!(!f.in_wec(wec, "apps/v1", &rs).await, "{wec}: pruned");
        assert!(
            !f.mailbox_objects(wec).iter().any(|(_, id)| *id == rs),
            "{wec}: left the mailbox"
        );
    }
}

#[test]
fn the_first_pass_has_no_last_good_state_and_plan_marks_what_is_held() {
    let repo = common::example1_repo();
    repo.write("wds/wmw-c/commond.yaml", "kind: [unclosed\n");
    repo.commit("broken from the start");
    let out = TestCommand::new()
        .args(&["reconcile", "--repo"])
        .arg(repo.path())
        .run();
    out.assert_exit(1);
    assert_eq!(held_count(&out), 0, "{}", out.stdout);
    let show = repo.git(&["ls-tree", "-r", "--name-only", &format!("{MAILBOX}florin")]);
    assert!(
        !show.contains("ReplicaSet"),
        "absent on a first pass: {show}"
    );

    // Fixed, reconciled, broken again: plan shows what a pass holds.
    repo.git(&["revert", "--no-edit", "HEAD"]);
    TestCommand::new()
        .args(&["reconcile", "--repo"])
        .arg(repo.path())
        .run()
        .assert_exit(0);
    repo.write("wds/wmw-c/commond.yaml", "kind: [unclosed\n");
    repo.commit("broken again");
    let plan = repo.plan(&["-o", "json"]).run();
    plan.assert_exit(1);
    let json = plan.stdout_json();
    let entry = common::wec_object(&json, "florin", "apps/ReplicaSet/commonstuff/commond");
    assert_eq!(entry["held"], true, "{entry}");
    assert!(
        entry["heldReason"]
            .as_str()
            .is_some_and(|r| r.contains("invalid YAML")),
        "{entry}"
    );
    let table = repo.plan(&[]).run();
    assert!(
        table
            .stdout
            .contains("apps/ReplicaSet/commonstuff/commond  from wmw-c via the last pass [held]"),
        "{}",
        table.stdout
    );
}
