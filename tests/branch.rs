//! The tracked branch (design §9.17) and stale passes: `reconcile` reconciles one branch (never
//! the checked-out one), follows it when it moves back, refuses `--rev` off its history, and a
//! pass older than the one the refs were computed from moves nothing — also when racing a newer
//! one, and also for a mailbox the newer pass deleted.

use gitstellar_testkit as common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{GitRepo, MAILBOX, Outcome, STATUS, TestCommand, rev, trailer};

fn reconcile(repo: &Path, extra: &[&str]) -> Outcome {
    TestCommand::new()
        .args(&["reconcile", "--repo"])
        .arg(repo)
        .args(extra)
        .run()
}

/// Every gitstellar ref of the repository at `dir` and its commit.
fn gitstellar_refs(dir: &Path) -> Vec<(String, String)> {
    let out = Command::new("git")
        .args([
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads/gitstellar/",
        ])
        .current_dir(dir)
        .output()
        .expect("git for-each-ref");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn tree(dir: &Path, name: &str) -> String {
    rev(dir, &format!("{name}^{{tree}}")).unwrap_or_else(|| panic!("no {name}"))
}

/// example1 with one more commit on `main` changing an object only guilder gets.
fn example_with_two_commits() -> (GitRepo, String, String) {
    let work = common::example1_repo();
    let first = work.head();
    let path = "wds/wmw-s/speciald.yaml";
    let text = std::fs::read_to_string(work.join(path)).expect("read");
    work.write(
        path,
        &text.replace("library/httpd:2.4", "library/httpd:2.5"),
    );
    let second = work.commit("bump httpd");
    (work, first, second)
}

#[test]
fn a_checked_out_feature_branch_is_not_reconciled() {
    let (work, _, main_tip) = example_with_two_commits();
    work.git(&["checkout", "-q", "-b", "feature"]);
    let path = "wds/wmw-s/speciald.yaml";
    let text = std::fs::read_to_string(work.join(path)).expect("read");
    work.write(
        path,
        &text.replace("library/httpd:2.5", "library/httpd:9.9"),
    );
    let feature_tip = work.commit("try something");

    reconcile(work.path(), &[]).assert_exit(0);
    common::assert_reconciled(work.path());
    assert_eq!(trailer(work.path(), &format!("{MAILBOX}guilder")), main_tip);

    // Publishing the feature branch deliberately, then main again: main takes the WECs back
    // (the feature's revision descends from main's tip but is not on main).
    reconcile(work.path(), &["--branch", "feature"]).assert_exit(0);
    assert_eq!(
        trailer(work.path(), &format!("{MAILBOX}guilder")),
        feature_tip
    );
    let out = reconcile(work.path(), &[]);
    out.assert_exit(0);
    assert!(
        out.stdout.contains("updated gitstellar/mailbox/guilder"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("stale"), "{}", out.stdout);
    common::assert_reconciled(work.path());
}

#[test]
fn the_default_branch_is_origin_head_then_main_then_master() {
    // origin's default branch is `trunk`; the clone has `main` checked out too.
    let origin = common::example1_repo();
    origin.git(&["branch", "-q", "-m", "main", "trunk"]);
    origin.git(&["branch", "-q", "main"]);
    let path = "wds/wmw-s/speciald.yaml";
    let text = std::fs::read_to_string(origin.join(path)).expect("read");
    origin.write(
        path,
        &text.replace("library/httpd:2.4", "library/httpd:3.0"),
    );
    let trunk = origin.commit("on trunk");
    let clone = tempfile::tempdir().expect("tempdir");
    let dir = clone.path().join("clone");
    origin.git(&["clone", "-q", ".", &dir.to_string_lossy()]);
    Command::new("git")
        .args(["checkout", "-q", "main"])
        .current_dir(&dir)
        .status()
        .expect("checkout");
    reconcile(&dir, &[]).assert_exit(0);
    assert_eq!(trailer(&dir, STATUS), trunk);
    assert_eq!(trailer(&dir, &format!("{MAILBOX}guilder")), trunk);

    // Without origin/HEAD: main, then master.
    let work = common::example1_repo();
    work.git(&["branch", "-q", "-m", "main", "master"]);
    work.git(&["checkout", "-q", "-b", "topic"]);
    work.write("README.md", "topic\n");
    work.commit("topic");
    reconcile(work.path(), &[]).assert_exit(0);
    assert_eq!(
        trailer(work.path(), STATUS),
        work.rev_parse("refs/heads/master")
    );
    work.git(&["branch", "-q", "-m", "master", "old"]);
    let out = reconcile(work.path(), &[]);
    out.assert_exit(2);
    assert!(out.stderr.contains("give --branch"), "{}", out.stderr);
}

#[test]
fn the_mailboxes_follow_the_tracked_branch_back() {
    let (work, first, second) = example_with_two_commits();
    // What the first revision alone gives.
    let alone = common::example1_repo();
    reconcile(alone.path(), &[]).assert_exit(0);
    let want = tree(alone.path(), &format!("{MAILBOX}guilder"));

    reconcile(work.path(), &[]).assert_exit(0);
    assert_eq!(trailer(work.path(), &format!("{MAILBOX}guilder")), second);
    work.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let out = reconcile(work.path(), &[]);
    out.assert_exit(0);
    assert!(
        out.stdout.contains("updated gitstellar/mailbox/guilder"),
        "{}",
        out.stdout
    );
    assert_eq!(trailer(work.path(), &format!("{MAILBOX}guilder")), first);
    assert_eq!(tree(work.path(), &format!("{MAILBOX}guilder")), want);
}

#[test]
fn a_rev_off_the_tracked_branch_is_a_usage_error() {
    let (work, first, _) = example_with_two_commits();
    work.git(&["checkout", "-q", "-b", "feature"]);
    work.write("README.md", "feature\n");
    let feature_tip = work.commit("feature");
    work.git(&["checkout", "-q", "main"]);
    let out = reconcile(work.path(), &["--rev", &feature_tip]);
    out.assert_exit(2);
    assert!(
        out.stderr
            .contains("not on the history of the tracked branch \"main\""),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("class="), "{}", out.stderr);
    assert!(gitstellar_refs(work.path()).is_empty());
    // On the tracked branch's history: fine; with --branch feature, so is the feature commit.
    reconcile(work.path(), &["--rev", &first]).assert_exit(0);
    reconcile(work.path(), &["--branch", "feature", "--rev", &feature_tip]).assert_exit(0);
    // A revision that names nothing: the message is git's, without libgit2's class and code.
    let out = reconcile(work.path(), &["--rev", "no-such-rev"]);
    out.assert_exit(2);
    assert!(!out.stderr.contains("class="), "{}", out.stderr);
    assert!(out.stderr.contains("no-such-rev"), "{}", out.stderr);
    let out = reconcile(work.path(), &["--branch", "no-such-branch"]);
    out.assert_exit(2);
    assert!(
        out.stderr.contains("\"no-such-branch\" does not exist"),
        "{}",
        out.stderr
    );
}

/// example1 at `old`; at `new`, guilder has left the inventory (its mailbox is deleted).
fn example_with_a_departure() -> (GitRepo, String, String) {
    let work = common::example1_repo();
    let old = work.head();
    work.remove("inventory/guilder.yaml");
    let new = work.commit("decommission guilder");
    (work, old, new)
}

#[test]
fn an_older_revision_after_a_newer_one_changes_nothing() {
    let (work, old, new) = example_with_a_departure();
    reconcile(work.path(), &["--rev", &old]).assert_exit(0);
    assert!(rev(work.path(), &format!("{MAILBOX}guilder")).is_some());
    reconcile(work.path(), &[]).assert_exit(0);
    assert!(rev(work.path(), &format!("{MAILBOX}guilder")).is_none());
    let before = gitstellar_refs(work.path());

    let out = reconcile(work.path(), &["--rev", &old]);
    out.assert_exit(0);
    assert!(
        out.stdout
            .starts_with(&format!("stale: {old} is older than {new}")),
        "{}",
        out.stdout
    );
    assert_eq!(gitstellar_refs(work.path()), before);
    // --full does not get around it either.
    reconcile(work.path(), &["--rev", &old, "--full"]).assert_exit(0);
    assert_eq!(gitstellar_refs(work.path()), before);
}

#[test]
fn racing_older_and_newer_passes_bring_no_deleted_mailbox_back() {
    let (work, old, new) = example_with_a_departure();
    // The newer revision alone, in a copy: the end state every round must reach.
    let copy = tempfile::tempdir().expect("tempdir");
    let alone = copy.path().join("alone");
    work.git(&["clone", "-q", ".", &alone.to_string_lossy()]);
    reconcile(&alone, &[]).assert_exit(0);
    let want: Vec<(String, String)> = gitstellar_refs(&alone)
        .into_iter()
        .map(|(name, _)| {
            let t = tree(&alone, &name);
            (name, t)
        })
        .collect();
    assert_eq!(want.len(), 2, "{want:?}");

    let bin = env!("CARGO_BIN_EXE_gitstellar");
    for round in 0..4 {
        for (name, _) in gitstellar_refs(work.path()) {
            work.git(&["update-ref", "-d", &name]);
        }
        reconcile(work.path(), &["--rev", &old]).assert_exit(0);
        assert!(rev(work.path(), &format!("{MAILBOX}guilder")).is_some());
        // The older passes recompute everything (`--full`), as a delayed job without the record
        // would: they start before the newer passes finish and try to move refs after.
        let children: Vec<_> = (0..8)
            .map(|i| {
                let args: &[&str] = if i % 2 == 0 {
                    &["--rev", &old, "--full"]
                } else {
                    &["--rev", &new]
                };
                Command::new(bin)
                    .args(["reconcile", "--repo"])
                    .arg(work.path())
                    .args(args)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // No converging run: the racers alone must leave the newer revision's refs.
        let got: Vec<(String, String)> = gitstellar_refs(work.path())
            .into_iter()
            .map(|(name, _)| {
                let t = tree(work.path(), &name);
                (name, t)
            })
            .collect();
        assert_eq!(got, want, "round {round}");
    }
}
