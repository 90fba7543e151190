//! The committer keeps two producers of one ref from overwriting each other: the reconcile pass
//! and a second writer of other paths of the status branch (as the status fold will be) race on
//! one real repository from two threads, many rounds, and neither loses a change.

use gitstellar_testkit as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gitstellar::reconcile::{Options, reconcile};
use gitstellar::repo::SourceRepo;
use gitstellar::repo::owners::{FOLD_STATUS_PATHS, PASS_STATUS_PATHS, Producer};
use gitstellar::repo::write::{Committer, Intent, RefOutcome};

/// The second writer's commits carry a source revision no pass descends from or precedes.
const UNRELATED: &str = "0000000000000000000000000000000000000000";
const STATUS: &str = "refs/heads/gitstellar/status";
const ROUNDS: usize = 40;

/// Every commit of the status branch, oldest first (the history is linear).
fn history(repo: &git2::Repository) -> Vec<git2::Oid> {
    let mut walk = repo.revwalk().expect("revwalk");
    walk.push_ref(STATUS).expect("status");
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .expect("sort");
    walk.map(|c| c.expect("commit")).collect()
}

#[test]
fn the_pass_and_a_second_writer_of_the_status_branch_both_keep_their_changes() {
    let work = common::example1_repo();
    let dir = work.path().to_path_buf();
    let done = Arc::new(AtomicBool::new(false));

    // The second writer: one file under `reported/` per write, on whatever tip it finds.
    let folder = {
        let (dir, done) = (dir.clone(), done.clone());
        std::thread::spawn(move || {
            let repo = git2::Repository::open(&dir).expect("open");
            let mut written = 0usize;
            while !done.load(Ordering::Acquire) || written < 5 {
                let path = format!("reported/florin/round-{written}.yaml");
                let content: Arc<[u8]> = Arc::from(format!("round: {written}\n").into_bytes());
                let mut fold =
                    Committer::new(&repo, Producer::StatusFold, UNRELATED).expect("committer");
                let (line, edit) = (format!("fold {written}"), path.clone());
                fold.commit(Intent::edit(
                    STATUS,
                    FOLD_STATUS_PATHS,
                    move |objects, tip| {
                        let blob = objects.blob(&content)?;
                        objects.edit(tip, &[(edit.clone(), Some(blob))])
                    },
                    move |_| line.clone(),
                ))
                .expect("commit");
                let finished = fold.finish().expect("finish");
                assert!(
                    matches!(finished.outcomes[0].1, RefOutcome::Updated { .. }),
                    "{path}: {:?}",
                    finished.outcomes
                );
                written += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            written
        })
    };

    // The pass: a new revision each round whose problems differ, reconciled at once.
    for round in 0..ROUNDS {
        if round > 0 {
            work.remove(&format!("wds/wmw-c/broken-{}.yaml", round - 1));
        }
        work.write(&format!("wds/wmw-c/broken-{round}.yaml"), "a: [unclosed\n");
        work.commit(&format!("round {round}"));
        let mut source = SourceRepo::open(&dir).expect("open");
        let commit = source.pass_commit(None).expect("commit");
        let (report, leftovers) = reconcile(&source, commit, &Options::default()).expect("pass");
        leftovers.leave();
        assert!(
            report
                .outcomes
                .iter()
                .any(|(name, outcome)| name == STATUS
                    && matches!(outcome, RefOutcome::Updated { .. })),
            "round {round}: {:?}",
            report.outcomes
        );
    }
    done.store(true, Ordering::Release);
    let written = folder.join().expect("the second writer");

    let repo = git2::Repository::open(&dir).expect("open");
    // Every commit changed only its own producer's paths: neither undid the other's.
    let commits = history(&repo);
    let (mut folds, mut passes) = (0, 0);
    for id in &commits {
        let commit = repo.find_commit(*id).expect("commit");
        let parent = commit.parents().next().map(|p| p.tree_id());
        let changes =
            gitstellar::repo::tree::diff(&repo, parent, Some(commit.tree_id())).expect("diff");
        let subject = commit
            .message()
            .ok()
            .and_then(|m| m.lines().next())
            .unwrap_or("")
            .to_string();
        let owns = if subject.starts_with("fold ") {
            folds += 1;
            FOLD_STATUS_PATHS
        } else {
            passes += 1;
            PASS_STATUS_PATHS
        };
        for path in changes
            .added
            .iter()
            .chain(&changes.changed)
            .chain(&changes.removed)
        {
            assert!(owns.owns(path), "{subject:?} changed {path}: {changes:?}");
        }
    }
    assert_eq!(
        folds, written,
        "every write of the second writer is a commit"
    );
    assert_eq!(passes, ROUNDS, "every pass is a commit");
    // The tip holds every write of the second writer and the last pass's problems.
    let tip = repo
        .find_reference(STATUS)
        .and_then(|r| r.peel_to_tree())
        .expect("tip");
    for round in 0..written {
        assert!(
            tip.get_path(std::path::Path::new(&format!(
                "reported/florin/round-{round}.yaml"
            )))
            .is_ok(),
            "the write of round {round} was lost"
        );
    }
    let problems = tip
        .get_path(std::path::Path::new("problems.yaml"))
        .and_then(|e| repo.find_blob(e.id()))
        .expect("problems.yaml");
    let problems = String::from_utf8_lossy(problems.content());
    assert!(
        problems.contains(&format!("broken-{}.yaml", ROUNDS - 1)),
        "{problems}"
    );
    assert!(
        !problems.contains(&format!("broken-{}.yaml", ROUNDS - 2)),
        "{problems}"
    );
}
