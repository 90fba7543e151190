//! `gitstellar reconcile`: the mailbox refs and the status branch, written into real git
//! repositories made with the `git` CLI, read back with the `git` CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use gitstellar_testkit as common;

use common::http::HttpGit;
use common::{GitDaemon, MAILBOX, STATUS, rev, trailer};

fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    cmd
}

/// Runs git and returns its stdout; panics with stderr on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs git; `None` when it fails.
fn git_try(dir: &Path, args: &[&str]) -> Option<String> {
    let out = git_cmd(dir).args(args).output().expect("run git");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn gitstellar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitstellar"))
        .args(args)
        .env_remove("GITSTELLAR_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run gitstellar")
}

fn reconcile(repo: &Path, extra: &[&str]) -> Output {
    let repo = repo.to_str().expect("utf-8 path");
    let mut args = vec!["reconcile", "--repo", repo];
    args.extend_from_slice(extra);
    gitstellar(&args)
}

fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples-repo")
}

/// A work repo holding KubeStellar's example1, committed on `main`.
struct Fixture {
    _dir: tempfile::TempDir,
    work: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("gitstellar-reconcile-")
            .tempdir()
            .expect("tempdir");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(&work, &["-c", "init.defaultBranch=main", "init", "-q"]);
        copy_dir(&example_dir(), &work);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "example1"]);
        Fixture { _dir: dir, work }
    }

    fn root(&self) -> &Path {
        self._dir.path()
    }

    fn write(&self, path: &str, content: &str) {
        let p = self.work.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }

    fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        self.head()
    }

    fn head(&self) -> String {
        git(&self.work, &["rev-parse", "HEAD"]).trim().to_string()
    }
}

fn show(dir: &Path, spec: &str) -> String {
    git(dir, &["show", spec])
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

fn ls_tree(dir: &Path, rev: &str) -> Vec<String> {
    git(dir, &["ls-tree", "-r", "--name-only", rev])
        .lines()
        .map(str::to_string)
        .collect()
}

fn commit_count(dir: &Path, rev: &str) -> usize {
    git(dir, &["rev-list", "--count", rev])
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn example1_writes_mailboxes_and_status() {
    let f = Fixture::new();
    let head = f.head();
    let out = reconcile(&f.work, &[]);
    assert_code(&out, 0);

    let florin = format!("{MAILBOX}florin");
    let guilder = format!("{MAILBOX}guilder");
    assert_eq!(
        ls_tree(&f.work, &florin),
        [
            "objects/apps/ReplicaSet/commonstuff/commond.yaml",
            "objects/core/ConfigMap/commonstuff/httpd-htdocs.yaml",
            "syncer-config.yaml",
        ]
    );
    assert_eq!(
        ls_tree(&f.work, &guilder),
        [
            "objects/apiextensions.k8s.io/CustomResourceDefinition/_cluster/crontabs.stable.example.com.yaml",
            "objects/apiregistration.k8s.io/APIService/_cluster/v1090.example.my.yaml",
            "objects/apps/Deployment/specialstuff/speciald.yaml",
            "objects/apps/ReplicaSet/commonstuff/commond.yaml",
            "objects/core/ConfigMap/commonstuff/httpd-htdocs.yaml",
            "objects/core/ConfigMap/specialstuff/httpd-htdocs.yaml",
            "objects/core/Namespace/_cluster/specialstuff.yaml",
            "objects/stable.example.com/CronTab/specialstuff/my-new-cron-object.yaml",
            "syncer-config.yaml",
        ]
    );

    // Customized per WEC, projected label set.
    let page = yaml(&show(
        &f.work,
        &format!("{florin}:objects/core/ConfigMap/commonstuff/httpd-htdocs.yaml"),
    ));
    let html = page["data"]["index.html"].as_str().expect("a page");
    assert!(html.contains("Running in florin."), "{html}");
    assert_eq!(
        page["metadata"]["labels"]["edge.kubestellar.io/projected"],
        "yes"
    );
    // The ReplicaSet is customized identically for both WECs: one blob.
    let rs = "objects/apps/ReplicaSet/commonstuff/commond.yaml";
    assert_eq!(
        rev(&f.work, &format!("{florin}:{rs}")),
        rev(&f.work, &format!("{guilder}:{rs}"))
    );
    assert!(show(&f.work, &format!("{florin}:{rs}")).contains("env is prod"));

    // SyncerConfig per spec §10.5.
    let config = yaml(&show(&f.work, &format!("{guilder}:syncer-config.yaml")));
    assert_eq!(config["kind"], "SyncerConfig");
    assert_eq!(config["metadata"]["name"], "the-one");
    assert_eq!(config["spec"]["namespaceScope"], serde_json::json!({}));
    let namespaced = config["spec"]["namespacedObjects"]
        .as_array()
        .expect("a list");
    let resources: Vec<(&str, &str, &str)> = namespaced
        .iter()
        .map(|n| {
            (
                n["group"].as_str().unwrap_or("?"),
                n["resource"].as_str().unwrap_or("?"),
                n["apiVersion"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        resources,
        [
            ("", "configmaps", "v1"),
            ("apps", "deployments", "v1"),
            ("apps", "replicasets", "v1"),
            ("stable.example.com", "crontabs", "v1"),
        ]
    );
    assert_eq!(
        namespaced[0]["objectsByNamespace"],
        serde_json::json!([
            {"namespace": "commonstuff", "names": ["httpd-htdocs"]},
            {"namespace": "specialstuff", "names": ["httpd-htdocs"]},
        ])
    );
    assert_eq!(
        config["spec"]["clusterScope"],
        serde_json::json!([
            {"group": "", "resource": "namespaces", "apiVersion": "v1", "objects": ["commonstuff", "specialstuff"]},
            {"group": "apiextensions.k8s.io", "resource": "customresourcedefinitions", "apiVersion": "v1", "objects": ["crontabs.stable.example.com"]},
            {"group": "apiregistration.k8s.io", "resource": "apiservices", "apiVersion": "v1", "objects": ["v1090.example.my"]},
        ])
    );
    let upsync: Vec<&str> = config["spec"]["upsync"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|u| u["apiGroup"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(upsync, ["group1.test", "group2.test", "group3.test"]);
    let florin_config = yaml(&show(&f.work, &format!("{florin}:syncer-config.yaml")));
    assert_eq!(
        florin_config["spec"]["clusterScope"],
        serde_json::json!([{"group": "", "resource": "namespaces", "apiVersion": "v1", "objects": ["commonstuff"]}])
    );

    // Status: SinglePlacementSlices and problems.
    assert_eq!(
        ls_tree(&f.work, STATUS),
        [
            "placements/wmw-c/edge-placement-c.yaml",
            "placements/wmw-s/edge-placement-s.yaml",
            "problems.yaml",
        ]
    );
    let sps = yaml(&show(
        &f.work,
        &format!("{STATUS}:placements/wmw-c/edge-placement-c.yaml"),
    ));
    assert_eq!(sps["kind"], "SinglePlacementSlice");
    assert_eq!(sps["metadata"]["name"], "edge-placement-c");
    assert_eq!(
        sps["metadata"]["ownerReferences"][0]["kind"],
        "EdgePlacement"
    );
    let dests = sps["destinations"].as_array().expect("a list");
    assert_eq!(dests.len(), 2);
    assert_eq!(dests[0]["cluster"], "inventory");
    assert_eq!(dests[0]["locationName"], "florin");
    assert_eq!(dests[0]["syncTargetName"], "florin");
    assert_eq!(dests[0]["syncTargetUID"].as_str().map(str::len), Some(36));
    assert_eq!(dests[1]["syncTargetName"], "guilder");
    assert_eq!(
        yaml(&show(&f.work, &format!("{STATUS}:problems.yaml"))),
        serde_json::json!([])
    );

    // Every commit carries the trailer; messages say what changed.
    for r in [&florin, &guilder, &STATUS.to_string()] {
        assert_eq!(trailer(&f.work, r), head, "{r}");
        assert_eq!(commit_count(&f.work, r), 1, "{r}");
    }
    let subject = git(&f.work, &["log", "-1", "--format=%s", &florin]);
    assert_eq!(
        subject.trim(),
        "florin: 2 objects added; SyncerConfig created"
    );
    // The source branch is untouched and the repository is sound.
    assert_eq!(f.head(), head);
    git(&f.work, &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn unchanged_revision_makes_no_commit_and_changes_touch_only_their_wecs() {
    let f = Fixture::new();
    assert_code(&reconcile(&f.work, &[]), 0);
    let florin = format!("{MAILBOX}florin");
    let guilder = format!("{MAILBOX}guilder");
    let before = [
        rev(&f.work, &florin),
        rev(&f.work, &guilder),
        rev(&f.work, STATUS),
    ];

    // Same revision again: nothing moves.
    let out = reconcile(&f.work, &[]);
    assert_code(&out, 0);
    let after = [
        rev(&f.work, &florin),
        rev(&f.work, &guilder),
        rev(&f.work, STATUS),
    ];
    assert_eq!(before, after);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 updated"));

    // Someone deletes a mailbox and rewrites another: the same revision again restores both.
    git(&f.work, &["update-ref", "-d", &florin]);
    let empty_tree = git(&f.work, &["mktree"]).trim().to_string();
    let guilder_tip = before[1].clone().expect("guilder");
    let vandal = git(
        &f.work,
        &[
            "commit-tree",
            "-p",
            &guilder_tip,
            "-m",
            "vandal",
            &empty_tree,
        ],
    )
    .trim()
    .to_string();
    git(&f.work, &["update-ref", &guilder, &vandal]);
    let out = reconcile(&f.work, &[]);
    assert_code(&out, 0);
    assert_eq!(
        git(&f.work, &["rev-parse", &format!("{florin}^{{tree}}")]),
        git(
            &f.work,
            &[
                "rev-parse",
                &format!("{}^{{tree}}", before[0].clone().expect("florin"))
            ]
        )
    );
    assert_eq!(
        rev(&f.work, &format!("{guilder}^")).as_deref(),
        Some(vandal.as_str())
    );
    assert_eq!(
        git(&f.work, &["rev-parse", &format!("{guilder}^{{tree}}")]),
        git(&f.work, &["rev-parse", &format!("{guilder_tip}^{{tree}}")])
    );
    let before = [
        rev(&f.work, &florin),
        rev(&f.work, &guilder),
        rev(&f.work, STATUS),
    ];

    // A commit that changes only the source tree's README: nothing moves either.
    f.write("README.md", "changed\n");
    f.commit("docs");
    assert_code(&reconcile(&f.work, &[]), 0);
    let after = [
        rev(&f.work, &florin),
        rev(&f.work, &guilder),
        rev(&f.work, STATUS),
    ];
    assert_eq!(before, after);

    // Change an object that only guilder gets: only guilder's mailbox moves, by one commit on top.
    let speciald = std::fs::read_to_string(f.work.join("wds/wmw-s/speciald.yaml")).expect("read");
    f.write(
        "wds/wmw-s/speciald.yaml",
        &speciald.replace("library/httpd:2.4", "library/httpd:2.5"),
    );
    let head = f.commit("bump httpd");
    assert_code(&reconcile(&f.work, &[]), 0);
    assert_eq!(rev(&f.work, &florin), before[0]);
    assert_eq!(rev(&f.work, STATUS), before[2]);
    let new_guilder = rev(&f.work, &guilder).expect("guilder exists");
    assert_ne!(Some(new_guilder.clone()), before[1]);
    assert_eq!(
        rev(&f.work, &format!("{guilder}^")),
        before[1],
        "the new commit's parent is the old tip"
    );
    assert_eq!(trailer(&f.work, &guilder), head);
    let message = git(&f.work, &["log", "-1", "--format=%B", &guilder]);
    assert!(
        message.starts_with("guilder: 1 object changed\n"),
        "{message}"
    );
    assert!(message.contains("M objects/apps/Deployment/specialstuff/speciald.yaml"));
    assert!(
        show(
            &f.work,
            &format!("{guilder}:objects/apps/Deployment/specialstuff/speciald.yaml")
        )
        .contains("httpd:2.5")
    );

    // --rev reconciles an older revision only if the refs were not written from a newer one.
    let out = reconcile(&f.work, &["--rev", "HEAD~2"]);
    assert_code(&out, 0);
    assert_eq!(
        rev(&f.work, &guilder).as_deref(),
        Some(new_guilder.as_str())
    );
}

#[test]
fn departed_wecs_lose_their_mailbox_and_idle_wecs_get_an_empty_one() {
    let f = Fixture::new();
    assert_code(&reconcile(&f.work, &[]), 0);
    assert!(rev(&f.work, &format!("{MAILBOX}florin")).is_some());

    // florin leaves the inventory; a new WEC "idle" matches no EdgePlacement.
    std::fs::remove_file(f.work.join("inventory/florin.yaml")).expect("rm");
    f.write(
        "inventory/idle.yaml",
        "apiVersion: edge.kubestellar.io/v2alpha1\nkind: SyncTarget\nmetadata:\n  name: idle\n  labels: {id: idle}\n---\napiVersion: edge.kubestellar.io/v2alpha1\nkind: Location\nmetadata:\n  name: idle\n  labels: {nothing: here}\nspec:\n  instanceSelector:\n    matchLabels: {id: idle}\n",
    );
    f.commit("florin leaves, idle arrives");
    let out = reconcile(&f.work, &[]);
    assert_code(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deleted gitstellar/mailbox/florin"),
        "{stdout}"
    );
    assert_eq!(rev(&f.work, &format!("{MAILBOX}florin")), None);
    let idle = format!("{MAILBOX}idle");
    assert_eq!(ls_tree(&f.work, &idle), ["syncer-config.yaml"]);
    let config = yaml(&show(&f.work, &format!("{idle}:syncer-config.yaml")));
    assert_eq!(config["spec"], serde_json::json!({"namespaceScope": {}}));
    let sps = yaml(&show(
        &f.work,
        &format!("{STATUS}:placements/wmw-c/edge-placement-c.yaml"),
    ));
    assert_eq!(sps["destinations"].as_array().map(Vec::len), Some(1));
}

#[test]
fn problems_exit_1_and_are_recorded() {
    let f = Fixture::new();
    let commond = std::fs::read_to_string(f.work.join("wds/wmw-c/commond.yaml")).expect("read");
    f.write(
        "wds/wmw-c/commond.yaml",
        &commond.replace(
            "edge.kubestellar.io/customizer: example-customizer",
            "edge.kubestellar.io/customizer: no-such-customizer",
        ),
    );
    f.write("wds/wmw-c/broken.yaml", "kind: [unclosed\n");
    f.commit("break things");
    let out = reconcile(&f.work, &[]);
    assert_code(&out, 1);
    let problems = yaml(&show(&f.work, &format!("{STATUS}:problems.yaml")));
    let list = problems.as_array().expect("a list");
    assert!(list.len() >= 2, "{problems}");
    for p in list {
        for key in ["space", "file", "object", "message"] {
            assert!(p.get(key).is_some(), "{p}");
        }
    }
    assert!(
        list.iter().any(|p| p["file"] == "wds/wmw-c/broken.yaml"),
        "{problems}"
    );
    assert!(
        list.iter()
            .any(|p| p["object"] == "apps/ReplicaSet/commonstuff/commond"
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("no-such-customizer"))),
        "{problems}"
    );
    // The refs are still written.
    assert!(rev(&f.work, &format!("{MAILBOX}florin")).is_some());
    // The same pass again (recorded, not recomputed) still reports the problems.
    let again = reconcile(&f.work, &[]);
    assert_code(&again, 1);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!("{} problems", list.len())),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = reconcile(dir.path(), &[]);
    assert_code(&out, 2);
    let f = Fixture::new();
    assert_code(&reconcile(&f.work, &["--rev", "no-such-rev"]), 2);
    assert_code(&reconcile(&f.work, &["--branch", "no-such-branch"]), 2);
    assert_code(&reconcile(&f.work, &["--push"]), 2);
}

/// Interop: a developer clones a bare repo and pushes; reconcile runs on the bare repo; the
/// developer fetches and reads the mailboxes and the status branch with plain git.
#[test]
fn git_cli_reads_what_reconcile_wrote_in_a_bare_repo() {
    let f = Fixture::new();
    let bare = f.root().join("origin.git");
    let bare_s = bare.to_str().expect("utf-8");
    git(f.root(), &["clone", "-q", "--bare", "work", bare_s]);
    let clone = f.root().join("clone");
    git(
        f.root(),
        &["clone", "-q", bare_s, clone.to_str().expect("utf-8")],
    );

    // A developer's change, pushed.
    let htdocs = clone.join("wds/wmw-c/httpd-htdocs.yaml");
    let text = std::fs::read_to_string(&htdocs).expect("read");
    std::fs::write(
        &htdocs,
        text.replace(
            "This is a common web site.",
            "This is the new common web site.",
        ),
    )
    .expect("write");
    git(&clone, &["commit", "-q", "-am", "new page"]);
    git(&clone, &["push", "-q", "origin", "main"]);
    let pushed = git(&clone, &["rev-parse", "HEAD"]).trim().to_string();

    assert_code(&reconcile(&bare, &["--branch", "main"]), 0);

    git(&clone, &["fetch", "-q", "origin"]);
    let page = git(
        &clone,
        &[
            "show",
            "origin/gitstellar/mailbox/guilder:objects/core/ConfigMap/commonstuff/httpd-htdocs.yaml",
        ],
    );
    assert!(page.contains("This is the new common web site."), "{page}");
    assert!(page.contains("Running in guilder."), "{page}");
    let log = git(
        &clone,
        &[
            "log",
            "--format=%s%n%(trailers:key=Source-Revision)",
            "origin/gitstellar/status",
        ],
    );
    assert!(log.contains(&format!("Source-Revision: {pushed}")), "{log}");
    assert!(log.starts_with("status: "), "{log}");
    let branches = git(&clone, &["branch", "-r"]);
    for b in [
        "origin/gitstellar/mailbox/florin",
        "origin/gitstellar/mailbox/guilder",
        "origin/gitstellar/status",
    ] {
        assert!(branches.contains(b), "{branches}");
    }
    // The human-owned branch was not written.
    assert_eq!(
        git(&clone, &["rev-parse", "origin/main"]).trim(),
        pushed.as_str()
    );
}

/// Reconciles of two revisions racing on one repository: every run succeeds, every ref points to
/// a complete commit with a linear history, and the end state is the newer revision's.
#[test]
fn racing_reconciles_lose_nothing() {
    let f = Fixture::new();
    let old = f.head();
    let speciald = std::fs::read_to_string(f.work.join("wds/wmw-s/speciald.yaml")).expect("read");
    f.write(
        "wds/wmw-s/speciald.yaml",
        &speciald.replace("library/httpd:2.4", "library/httpd:2.6"),
    );
    let htdocs = std::fs::read_to_string(f.work.join("wds/wmw-c/httpd-htdocs.yaml")).expect("read");
    f.write(
        "wds/wmw-c/httpd-htdocs.yaml",
        &htdocs.replace("This is a common web site.", "This is a raced web site."),
    );
    let new = f.commit("newer");

    // The expected end state: the newer revision reconciled alone, in a copy.
    let copy = f.root().join("copy");
    git(
        f.root(),
        &["clone", "-q", "work", copy.to_str().expect("utf-8")],
    );
    assert_code(&reconcile(&copy, &["--rev", &new]), 0);
    let refs = [
        format!("{MAILBOX}florin"),
        format!("{MAILBOX}guilder"),
        STATUS.to_string(),
    ];
    let expected: Vec<String> = refs
        .iter()
        .map(|r| git(&copy, &["rev-parse", &format!("{r}^{{tree}}")]))
        .collect();

    let bin = env!("CARGO_BIN_EXE_gitstellar");
    for round in 0..6 {
        // Start from nothing in even rounds, from the old revision's refs in odd ones.
        for r in &refs {
            let _ = git_try(&f.work, &["update-ref", "-d", r]);
        }
        if round % 2 == 1 {
            assert_code(&reconcile(&f.work, &["--rev", &old]), 0);
        }
        let children: Vec<_> = (0..6)
            .map(|i| {
                let which = if i % 2 == 0 { &old } else { &new };
                Command::new(bin)
                    .args(["reconcile", "--repo"])
                    .arg(&f.work)
                    .args(["--rev", which])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert_code(&out, 0);
        }
        // A final run of the newer revision converges (and normally has nothing left to do).
        assert_code(&reconcile(&f.work, &["--rev", &new]), 0);
        for (r, want) in refs.iter().zip(&expected) {
            let tree = git(&f.work, &["rev-parse", &format!("{r}^{{tree}}")]);
            assert_eq!(&tree, want, "round {round}: {r}");
            // Linear history, each commit with a trailer naming one of the two revisions.
            let log = git(
                &f.work,
                &[
                    "log",
                    "--format=%P %(trailers:key=Source-Revision,valueonly)",
                    r,
                ],
            );
            for line in log.lines().filter(|l| !l.trim().is_empty()) {
                let parents = line.split_whitespace().count() - 1;
                assert!(parents <= 1, "round {round}: {r}: {log}");
                assert!(
                    line.contains(&old) || line.contains(&new),
                    "round {round}: {r}: {log}"
                );
            }
            // Consecutive commits never repeat a tree.
            let trees = git(&f.work, &["log", "--format=%T", r]);
            let trees: Vec<&str> = trees.lines().collect();
            assert!(
                trees.windows(2).all(|w| w[0] != w[1]),
                "round {round}: {r}: {trees:?}"
            );
        }
        git(
            &f.work,
            &["fsck", "--strict", "--no-progress", "--no-dangling"],
        );
    }
}

/// Runs the binary under `/usr/bin/time` when present; returns (output, seconds, peak KiB).
fn timed_reconcile(repo: &Path, extra: &[&str]) -> (Output, f64, Option<u64>) {
    let repo = repo.to_str().expect("utf-8 path");
    let bin = env!("CARGO_BIN_EXE_gitstellar");
    let time = Path::new("/usr/bin/time");
    let start = std::time::Instant::now();
    let out = if time.exists() {
        Command::new(time)
            .args(["-f", "%M", bin, "reconcile", "--repo", repo])
            .args(extra)
            .output()
            .expect("run")
    } else {
        Command::new(bin)
            .args(["reconcile", "--repo", repo])
            .args(extra)
            .output()
            .expect("run")
    };
    let secs = start.elapsed().as_secs_f64();
    let peak = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok());
    (out, secs, peak)
}

/// Issue part 6: 1,000 WECs × 1,000 objects each (heavily overlapping, 10% customized): full
/// reconcile into an empty repo, no-op, one-object change, and `git fast-import` writing the same
/// blobs and trees. Prints figures; asserts only correctness (no timed assertions).
#[test]
#[ignore = "scale benchmark: run with `cargo test --release --test reconcile -- --ignored scale --nocapture`"]
fn scale_1000_wecs_by_1000_objects() {
    use gitstellar_testkit::synth::{SynthConfig, commit_to_repo, generate};
    use std::io::Write as _;

    let config = SynthConfig {
        wecs: 1000,
        apps: 50,
        objects_per_app: 37,
        placements: 50,
        expanded_percent: 0,
        customized_percent: 10,
        reach_percent: (100, 100),
        ..SynthConfig::default()
    };
    // GITSTELLAR_SCALE_DIR keeps the repositories for inspection (the directory must not exist).
    let kept = std::env::var_os("GITSTELLAR_SCALE_DIR").map(PathBuf::from);
    let temp = tempfile::tempdir().expect("tempdir");
    let base = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let repo = base.join("source");
    let mut files = generate(&config);
    let extra_path = "wds/team-0/app-000/extra.yaml";
    let extra_object = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: extra\n  namespace: app-000\n  labels: {{version: {v}}}\n"
        )
    };
    files.push(gitstellar::model::SourceFile {
        path: extra_path.into(),
        content: Ok(extra_object("one").into_bytes()),
    });
    eprintln!("scale: generating into {}", base.display());
    let first = commit_to_repo(&files, &repo).expect("commit");

    let (out, full, full_peak) = timed_reconcile(&repo, &[]);
    assert_code(&out, 0);
    let (out, noop, noop_peak) = timed_reconcile(&repo, &[]);
    assert_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 updated"));
    // The same recomputed from scratch: everything placed and hashed again, nothing written.
    let (out, recompute, recompute_peak) = timed_reconcile(&repo, &["--full"]);
    assert_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 updated"));

    // One object changes: a ServiceAccount that app-000's base EdgePlacement sends everywhere.
    let changed_path = extra_path.to_string();
    let extra = files
        .iter_mut()
        .find(|f| f.path == extra_path)
        .expect("the extra object");
    extra.content = Ok(extra_object("two").into_bytes());
    let second = commit_to_repo(&files, &repo).expect("commit");
    assert_ne!(first, second);
    let (out, one, one_peak) = timed_reconcile(&repo, &[]);
    assert_code(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("1 object changed") && stdout.contains("\nincremental: "),
        "{changed_path}: {}",
        stdout.lines().last().unwrap_or("")
    );
    // Another such change, recomputed from scratch for comparison.
    if let Some(extra) = files.iter_mut().find(|f| f.path == extra_path) {
        extra.content = Ok(extra_object("three").into_bytes());
    }
    commit_to_repo(&files, &repo).expect("commit");
    let (out, one_full, _) = timed_reconcile(&repo, &["--full"]);
    assert_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 object changed"));

    // One object added, then removed: every WEC's SyncerConfig changes too.
    let added_path = "wds/team-0/app-000/added.yaml";
    files.push(gitstellar::model::SourceFile {
        path: added_path.into(),
        content: Ok(b"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: added\n  namespace: app-000\n".to_vec()),
    });
    commit_to_repo(&files, &repo).expect("commit");
    let (out, add, _) = timed_reconcile(&repo, &[]);
    assert_code(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("1 object added; SyncerConfig updated")
            && stdout.contains("\nincremental: "),
        "{}",
        stdout.lines().last().unwrap_or("")
    );
    files.retain(|f| f.path != added_path);
    let third = commit_to_repo(&files, &repo).expect("commit");
    let (out, remove, _) = timed_reconcile(&repo, &[]);
    assert_code(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 object removed; SyncerConfig updated")
    );
    // The incremental passes left what a full pass computes.
    let (out, _, _) = timed_reconcile(&repo, &["--full", "--rev", &third.to_string()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 updated"));

    // git fast-import writing the same mailbox blobs and trees into an empty repository.
    let source = gitstellar::repo::SourceRepo::open(&repo).expect("open");
    let snapshot = source
        .snapshot(source.resolve("HEAD").expect("HEAD"))
        .expect("read");
    let plan = gitstellar::plan::compute(&snapshot);
    let boxes = gitstellar::mailbox::build(&plan).expect("mailboxes");
    let mut stream: Vec<u8> = Vec::new();
    let mut marks: std::collections::HashMap<usize, usize> = Default::default();
    let mut objects = 0usize;
    for files in boxes.wecs.values() {
        for content in files.values() {
            objects += 1;
            let key = std::sync::Arc::as_ptr(content) as *const u8 as usize;
            if marks.contains_key(&key) {
                continue;
            }
            let mark = marks.len() + 1;
            marks.insert(key, mark);
            write!(stream, "blob\nmark :{mark}\ndata {}\n", content.len()).expect("write");
            stream.extend_from_slice(content);
            stream.push(b'\n');
        }
    }
    for (wec, files) in &boxes.wecs {
        write!(
            stream,
            "commit refs/heads/gitstellar/mailbox/{wec}\ncommitter t <t@t> 1700000000 +0000\ndata 2\nm\n"
        )
        .expect("write");
        for (path, content) in files {
            let key = std::sync::Arc::as_ptr(content) as *const u8 as usize;
            writeln!(stream, "M 100644 :{} {path}", marks[&key]).expect("write");
        }
        stream.push(b'\n');
    }
    let target = base.join("fast-import.git");
    git(
        &base,
        &["init", "-q", "--bare", target.to_str().expect("utf-8")],
    );
    let start = std::time::Instant::now();
    let mut child = git_cmd(&target)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&stream)
        .expect("feed fast-import");
    assert!(child.wait().expect("wait").success());
    let fast_import = start.elapsed().as_secs_f64();

    // Same trees as fast-import made.
    for wec in boxes.wecs.keys().take(20) {
        let r = format!("{MAILBOX}{wec}^{{tree}}");
        assert_eq!(
            git(&repo, &["rev-parse", &r]),
            git(&target, &["rev-parse", &r])
        );
    }
    eprintln!(
        "scale: {} WECs, {objects} mailbox files, {} distinct blobs; changed {changed_path}",
        boxes.wecs.len(),
        marks.len()
    );
    eprintln!("full reconcile:      {full:.2} s, peak {full_peak:?} KiB");
    eprintln!(
        "git fast-import:     {fast_import:.2} s (ratio {:.2})",
        full / fast_import
    );
    eprintln!("no-op reconcile:     {noop:.2} s, peak {noop_peak:?} KiB (pass recorded)");
    eprintln!("no-op recomputed:    {recompute:.2} s, peak {recompute_peak:?} KiB (--full)");
    eprintln!("one-object change:   {one:.2} s, peak {one_peak:?} KiB (incremental)");
    eprintln!("  same, --full:      {one_full:.2} s");
    eprintln!("one object added:    {add:.2} s (incremental)");
    eprintln!("one object removed:  {remove:.2} s (incremental)");
    eprintln!(
        "{}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or("")
    );
}

/// A bare "origin" holding example1, beside the fixture's work repo.
fn bare_origin(f: &Fixture) -> PathBuf {
    let bare = f.root().join("origin.git");
    git(
        f.root(),
        &[
            "clone",
            "-q",
            "--bare",
            "work",
            bare.to_str().expect("utf-8"),
        ],
    );
    bare
}

#[test]
fn file_url_remote_is_fetched_into_a_cache_and_pushed() {
    let f = Fixture::new();
    let bare = bare_origin(&f);
    let cache = f.root().join("cache");
    let url = format!("file://{}", bare.display());
    let cache_s = cache.to_str().expect("utf-8");

    // Without --push the remote is not written.
    let out = reconcile_url(&url, &["--cache-dir", cache_s]);
    assert_code(&out, 0);
    assert_eq!(rev(&bare, &format!("{MAILBOX}florin")), None);

    let out = reconcile_url(&url, &["--cache-dir", cache_s, "--push"]);
    assert_code(&out, 0);
    let head = rev(&bare, "refs/heads/main").expect("main");
    for r in [
        format!("{MAILBOX}florin"),
        format!("{MAILBOX}guilder"),
        STATUS.into(),
    ] {
        assert_eq!(trailer(&bare, &r), head, "{r}");
    }
    // Again: nothing to push.
    let out = reconcile_url(&url, &["--cache-dir", cache_s, "--push"]);
    assert_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pushed 0 refs"));
    assert_eq!(commit_count(&bare, STATUS), 1);
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}

fn reconcile_url(url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["reconcile", "--repo", url];
    args.extend_from_slice(extra);
    gitstellar(&args)
}

#[test]
fn credentials_never_appear_in_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    // Nothing listens on port 1 of loopback: the fetch fails and the error names the remote.
    let out = Command::new(env!("CARGO_BIN_EXE_gitstellar"))
        .args([
            "reconcile",
            "--repo",
            "https://someone:sekrit-t0ken@127.0.0.1:1/org/repo.git",
            "--cache-dir",
        ])
        .arg(&cache)
        .env("GITSTELLAR_GIT_TOKEN", "another-sekrit")
        .output()
        .expect("run");
    assert_code(&out, 2);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("127.0.0.1"), "{all}");
    assert!(!all.contains("sekrit"), "{all}");
    // Nor in the cache's name or configuration.
    for entry in std::fs::read_dir(&cache).expect("cache made") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.contains("sekrit"), "{name}");
        let config = std::fs::read_to_string(entry.path().join("config")).unwrap_or_default();
        assert!(!config.contains("sekrit"), "{config}");
    }
}

/// git:// against a real `git daemon`: a developer pushes, reconcile pushes the refs; another
/// writer moves a mailbox ref while reconcile pushes (a pre-receive hook does it), so the push is
/// rejected, and reconcile fetches, recomputes on the new tip and pushes again, losing nothing.
#[test]
fn git_daemon_remote_with_a_racing_writer() {
    let f = Fixture::new();
    let bare = bare_origin(&f);
    let daemon = GitDaemon::start(f.root());
    let url = daemon.url("origin.git");
    let cache = f.root().join("cache");
    let cache_s = cache.to_str().expect("utf-8");

    let out = reconcile_url(&url, &["--cache-dir", cache_s, "--push"]);
    assert_code(&out, 0);
    let guilder = format!("{MAILBOX}guilder");
    let first = rev(&bare, &guilder).expect("pushed");

    // A developer clones over git:// and pushes a change that reaches guilder.
    let clone = f.root().join("clone");
    git(
        f.root(),
        &["clone", "-q", &url, clone.to_str().expect("utf-8")],
    );
    let speciald = clone.join("wds/wmw-s/speciald.yaml");
    let text = std::fs::read_to_string(&speciald).expect("read");
    std::fs::write(
        &speciald,
        text.replace("library/httpd:2.4", "library/httpd:2.7"),
    )
    .expect("write");
    git(&clone, &["commit", "-q", "-am", "httpd 2.7"]);
    git(&clone, &["push", "-q", "origin", "main"]);
    let pushed = git(&clone, &["rev-parse", "HEAD"]).trim().to_string();

    // The first time gitstellar refs are pushed, another writer moves guilder first.
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\n\
         if grep -q refs/heads/gitstellar/ && [ ! -e intruded ]; then\n\
           touch intruded\n\
           unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n\
           tip=$(git rev-parse refs/heads/gitstellar/mailbox/guilder)\n\
           c=$(git commit-tree -p $tip -m intruder $tip^{tree})\n\
           git update-ref refs/heads/gitstellar/mailbox/guilder $c $tip\n\
         fi\n\
         exit 0\n",
    )
    .expect("hook");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    let out = reconcile_url(&url, &["--cache-dir", cache_s, "--push"]);
    assert_code(&out, 0);
    assert!(bare.join("intruded").exists(), "the hook ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fetching and recomputing"), "{stderr}");

    // Nothing lost: our commit sits on top of the intruder's, which sits on the first.
    let log = git(&bare, &["log", "--format=%s", &guilder]);
    let subjects: Vec<&str> = log.lines().collect();
    assert_eq!(subjects.len(), 3, "{log}");
    assert_eq!(subjects[0], "guilder: 1 object changed");
    assert_eq!(subjects[1], "intruder");
    assert_eq!(
        rev(&bare, &format!("{guilder}~2")).as_deref(),
        Some(first.as_str())
    );
    assert_eq!(trailer(&bare, &guilder), pushed);
    assert!(
        show(
            &bare,
            &format!("{guilder}:objects/apps/Deployment/specialstuff/speciald.yaml")
        )
        .contains("httpd:2.7")
    );

    // The developer fetches and reads it with plain git.
    git(&clone, &["fetch", "-q", "origin"]);
    let status_log = git(
        &clone,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Source-Revision,valueonly)",
            "origin/gitstellar/status",
        ],
    );
    assert!(!status_log.trim().is_empty());
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}

/// Every gitstellar ref points to a commit whose whole history and trees are present.
fn assert_refs_complete(repo: &Path, context: &str) {
    let types = git(
        repo,
        &[
            "for-each-ref",
            "--format=%(objecttype) %(refname)",
            "refs/heads/gitstellar/",
        ],
    );
    for line in types.lines() {
        assert!(line.starts_with("commit "), "{context}: {line}");
    }
    let out = git_cmd(repo)
        .args(["rev-list", "--objects", "--all", "--quiet"])
        .output()
        .expect("rev-list");
    assert!(
        out.status.success(),
        "{context}: missing objects: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue part 4: `reconcile` SIGKILLed at many random moments on a large repo never leaves a ref
/// pointing to an incomplete commit, and the next run converges to the same trees as an
/// uninterrupted run.
#[test]
fn sigkill_at_random_moments_leaves_complete_refs_and_converges() {
    use gitstellar_testkit::synth::{SynthConfig, commit_to_repo, generate};

    let config = SynthConfig {
        wecs: 150,
        apps: 10,
        objects_per_app: 20,
        placements: 20,
        reach_percent: (100, 100),
        wds_count: 2,
        ..SynthConfig::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("source");
    let mut files = generate(&config);
    let extra_path = "wds/team-0/app-000/extra.yaml";
    let extra = |v: usize| {
        gitstellar::model::SourceFile {
        path: extra_path.into(),
        content: Ok(format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: extra\n  namespace: app-000\n  labels: {{version: v{v}}}\n"
        )
        .into_bytes()),
    }
    };
    // A line of revisions, each changing an object every WEC gets.
    let mut revisions = Vec::new();
    files.push(extra(0));
    for v in 0..6 {
        if let Some(f) = files.iter_mut().find(|f| f.path == extra_path) {
            *f = extra(v);
        }
        revisions.push(commit_to_repo(&files, &repo).expect("commit").to_string());
    }
    let last = revisions.last().expect("revisions").clone();

    // The expected end state, from an uninterrupted run in a copy; its duration bounds the kills.
    let copy = dir.path().join("copy");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.to_str().expect("utf-8"),
            copy.to_str().expect("utf-8"),
        ],
    );
    let start = std::time::Instant::now();
    assert_code(&reconcile(&copy, &["--rev", &last]), 0);
    let full_ms = start.elapsed().as_millis() as u64;
    let expected = git(
        &copy,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/gitstellar/",
        ],
    );
    let expected_trees: Vec<(String, String)> = expected
        .lines()
        .map(|l| {
            let name = l.split_whitespace().next().unwrap_or("").to_string();
            let tree = git(&copy, &["rev-parse", &format!("{name}^{{tree}}")]);
            (name, tree)
        })
        .collect();

    let mut rng = gitstellar_testkit::synth::Rng::new(0x5eed);
    let bin = env!("CARGO_BIN_EXE_gitstellar");
    let rounds = 40;
    let mut killed = 0;
    // Kill moments are drawn up to how long a pass takes, learnt as it goes: a pass that finished
    // before its kill shrinks the estimate, one cut short grows it. So a loaded machine (a slow
    // calibration, quicker incremental passes) still cuts passes short, early and late.
    let mut pass_ms = full_ms.max(1);
    for round in 0..rounds {
        let rev = &revisions[round * revisions.len() / rounds];
        let mut child = Command::new(bin)
            .args(["reconcile", "--repo"])
            .arg(&repo)
            .args(["--rev", rev])
            .env("GITSTELLAR_STALE_LOCK_SECONDS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let kill_at = std::time::Duration::from_millis(rng.next_u64() % (pass_ms + 1));
        let spawned = std::time::Instant::now();
        let mut finished = None;
        while spawned.elapsed() < kill_at {
            if child.try_wait().expect("poll").is_some() {
                finished = Some(spawned.elapsed());
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // SIGKILL on Unix.
        match finished {
            // Cut short: later kills may come later too, so the end of a pass is reached.
            None if child.try_wait().expect("poll").is_none() => {
                killed += 1;
                pass_ms += pass_ms / 2;
            }
            Some(took) => pass_ms = (took.as_millis() as u64).max(1),
            None => pass_ms = (kill_at.as_millis() as u64).max(1),
        }
        let _ = child.kill();
        let status = child.wait().expect("wait");
        assert!(
            status.code().is_none_or(|c| c == 0),
            "round {round}: {status}"
        );
        assert_refs_complete(&repo, &format!("round {round}"));
    }
    let progressed = git_try(
        &repo,
        &["rev-list", "--count", &format!("{MAILBOX}wec-0000")],
    )
    .map(|c| c.trim().to_string())
    .unwrap_or_default();
    let refs_written = git(
        &repo,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/gitstellar/",
        ],
    )
    .lines()
    .count();
    eprintln!(
        "crash test: {killed} of {rounds} runs killed mid-way (full run {full_ms} ms); \
         {refs_written} refs written, {progressed} commits on the first mailbox"
    );
    // Passes that finish before the kill test nothing: enough of them must be cut short.
    assert!(
        killed >= 4,
        "only {killed} of {rounds} runs were killed mid-way"
    );

    // The next run converges, and a further run has nothing to do. (A ref lock left by a killed
    // run is stale at once here; by default it is after 30 s.)
    let converge = || {
        Command::new(bin)
            .args(["reconcile", "--repo"])
            .arg(&repo)
            .args(["--rev", &last])
            .env("GITSTELLAR_STALE_LOCK_SECONDS", "0")
            .output()
            .expect("run")
    };
    assert_code(&converge(), 0);
    let out = converge();
    assert_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 updated"));
    for (name, tree) in &expected_trees {
        assert_eq!(
            &git(&repo, &["rev-parse", &format!("{name}^{{tree}}")]),
            tree,
            "{name}"
        );
    }
    let ours = git(
        &repo,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/gitstellar/",
        ],
    );
    assert_eq!(ours.lines().count(), expected_trees.len());
    git(&repo, &["fsck", "--no-progress", "--no-dangling"]);
}

/// Several `reconcile --push` of one remote at once, sharing one cache and each with its own:
/// all succeed and the remote ends with one commit per branch.
#[test]
fn concurrent_remote_reconciles_share_a_cache_safely() {
    let f = Fixture::new();
    let bare = bare_origin(&f);
    let url = format!("file://{}", bare.display());
    let shared = f.root().join("shared-cache");
    let bin = env!("CARGO_BIN_EXE_gitstellar");
    let children: Vec<_> = (0..4)
        .map(|i| {
            let cache = if i % 2 == 0 {
                shared.clone()
            } else {
                f.root().join(format!("cache-{i}"))
            };
            Command::new(bin)
                .args(["reconcile", "--push", "--repo", &url, "--cache-dir"])
                .arg(cache)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        assert_code(&child.wait_with_output().expect("wait"), 0);
    }
    for r in [
        format!("{MAILBOX}florin"),
        format!("{MAILBOX}guilder"),
        STATUS.into(),
    ] {
        assert_eq!(commit_count(&bare, &r), 1, "{r}");
    }
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}

/// http(s) with a token: `GITSTELLAR_GIT_TOKEN` answers the server's basic-auth challenge for
/// fetch and push; without it, or with a wrong one, the pass fails cleanly and the token never
/// shows.
#[test]
fn http_remote_with_a_token() {
    let f = Fixture::new();
    let bare = bare_origin(&f);
    let token = "tok-3x4mpl3-s3cr3t";
    let server = HttpGit::start(f.root(), token);
    let url = server.url("origin.git");
    let cache = f.root().join("cache");
    let run = |token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitstellar"));
        cmd.args(["reconcile", "--push", "--repo", &url, "--cache-dir"])
            .arg(&cache)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GITSTELLAR_GIT_TOKEN");
        if let Some(t) = token {
            cmd.env("GITSTELLAR_GIT_TOKEN", t);
        }
        cmd.output().expect("run")
    };

    let out = run(Some("wrong-token-value"));
    assert_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("wrong-token-value"), "{stderr}");

    let out = run(Some(token));
    assert_code(&out, 0);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(token), "{all}");
    common::assert_reconciled(&bare);
    assert!(
        server
            .authorizations()
            .iter()
            .any(|a| a.starts_with("Basic ")),
        "the token was sent as basic auth"
    );
}
