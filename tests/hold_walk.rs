//! The hold rule as a property, tested the way the incremental pass is: random walks of commits
//! over a synthetic fleet that break and fix workload files, Namespaces, CRDs, inventory files,
//! EdgePlacements and Customizers, delete files and make valid changes. After every commit:
//! - no (object, WEC) pair leaves a mailbox unless the commit removed its source or a valid change
//!   moved it: every pair that left is absent from the plan of the *repaired* revision (each
//!   broken file put back as it was before it broke, deleted files left deleted);
//! - a pass without the local record (deleted before every pass, in a second repository fed
//!   the same commits) leaves the same trees: the last good state comes from git alone.
//!
//! At the end every broken file is fixed, and the trees must be those of a fresh pass of the
//! fixed revision in a new repository. The walk counts the held states it went through.

use gitstellar_testkit as common;

use common::{documents, gitstellar_trees as trees, write_documents};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use gitstellar::model::SourceFile;
use gitstellar_testkit::synth::{Rng, SynthConfig, commit_to_repo, generate};
use serde_json::Value;

fn reconcile(repo: &Path) -> (String, usize) {
    let out = Command::new(env!("CARGO_BIN_EXE_gitstellar"))
        .args(["reconcile", "--repo"])
        .arg(repo)
        .output()
        .expect("run gitstellar");
    let code = out.status.code();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        code == Some(0) || code == Some(1),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let held = stdout
        .lines()
        .find(|l| l.starts_with("reconciled "))
        .and_then(|l| l.rsplit(", ").next())
        .and_then(|l| l.strip_suffix(" held"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no held count: {stdout}"));
    (stdout, held)
}

/// Every (WEC, object) pair of the mailboxes.
fn mailbox_pairs(repo: &Path) -> BTreeSet<(String, String)> {
    let repo = git2::Repository::open(repo).expect("open");
    let mut out = BTreeSet::new();
    for r in repo
        .references_glob("refs/heads/gitstellar/mailbox/*")
        .expect("refs")
    {
        let r = r.expect("ref");
        let wec = r
            .name()
            .ok()
            .and_then(|n| n.strip_prefix("refs/heads/gitstellar/mailbox/"))
            .expect("a mailbox")
            .to_string();
        let tree = r.peel_to_tree().expect("tree");
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob)
                && let Some(rest) = dir.strip_prefix("objects/")
                && let Some(name) = entry.name().ok().and_then(|n| n.strip_suffix(".yaml"))
            {
                out.insert((wec.clone(), format!("{rest}{name}")));
            }
            git2::TreeWalkResult::Ok
        })
        .expect("walk");
    }
    out
}

/// Every (WEC, object) pair a pass of these files would place, holding nothing.
fn planned_pairs(files: &[SourceFile]) -> BTreeSet<(String, String)> {
    let snapshot = gitstellar::model::load(files);
    let plan = gitstellar::plan::compute(&snapshot);
    plan.destinations
        .iter()
        .flat_map(|(wec, d)| d.objects.iter().map(|o| (wec.clone(), o.id.to_string())))
        .collect()
}

/// What a file is, for choosing what to do to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Inventory,
    Placement,
    Customizers,
    Object,
}

fn role(path: &str) -> Option<Role> {
    if path.starts_with("inventory/") {
        Some(Role::Inventory)
    } else if path.contains("/placements/") {
        Some(Role::Placement)
    } else if path.ends_with("/customizers.yaml") {
        Some(Role::Customizers)
    } else if path.starts_with("wds/") {
        Some(Role::Object)
    } else {
        None
    }
}

struct Walk {
    files: Vec<SourceFile>,
    /// Broken files and their content before they broke.
    broken: BTreeMap<String, Result<Vec<u8>, String>>,
}

impl Walk {
    /// The files with every broken one put back as it was.
    fn repaired(&self) -> Vec<SourceFile> {
        self.files
            .iter()
            .map(|f| match self.broken.get(&f.path) {
                Some(good) => SourceFile {
                    path: f.path.clone(),
                    content: good.clone(),
                },
                None => f.clone(),
            })
            .collect()
    }

    fn pick(&self, rng: &mut Rng, broken: bool, roles: &[Role]) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.files.len())
            .filter(|&i| {
                let f = &self.files[i];
                self.broken.contains_key(&f.path) == broken
                    && role(&f.path).is_some_and(|r| roles.contains(&r))
            })
            .collect();
        (!candidates.is_empty()).then(|| candidates[rng.below(candidates.len())])
    }

    fn edit_first(&mut self, i: usize, f: impl FnOnce(&mut Value)) {
        if let Some(mut docs) = documents(&self.files[i])
            && let Some(first) = docs.first_mut()
        {
            f(first);
            self.files[i].content = Ok(write_documents(&docs));
        }
    }

    /// One random change; its description.
    fn mutate(&mut self, rng: &mut Rng, step: usize) -> String {
        let all = [
            Role::Inventory,
            Role::Placement,
            Role::Customizers,
            Role::Object,
        ];
        match rng.below(10) {
            // Break something.
            0..=3 => {
                let Some(i) = self.pick(rng, false, &all) else {
                    return "nothing to break".into();
                };
                let path = self.files[i].path.clone();
                self.broken
                    .insert(path.clone(), self.files[i].content.clone());
                let r = role(&path);
                if r == Some(Role::Placement) && (rng.below(100) < 60) {
                    self.edit_first(i, |d| {
                        d["spec"]["locationSelectors"] = serde_json::json!([
                            {"matchExpressions": [{"key": "region", "operator": "Equals", "values": ["x"]}]}
                        ]);
                    });
                    return format!("unknown operator in {path}");
                }
                if r == Some(Role::Customizers) && (rng.below(100) < 60) {
                    self.edit_first(i, |d| d["replacements"] = Value::from("oops"));
                    return format!("invalid Customizer in {path}");
                }
                self.files[i].content = Ok(format!("kind: [unclosed {step}\n").into_bytes());
                format!("broke {path}")
            }
            // Fix something.
            4..=5 => {
                let Some(i) = self.pick(rng, true, &all) else {
                    return "nothing to fix".into();
                };
                let path = self.files[i].path.clone();
                if let Some(good) = self.broken.remove(&path) {
                    self.files[i].content = good;
                }
                format!("fixed {path}")
            }
            // Remove a workload file, broken or not.
            6 => {
                let broken = rng.below(2) == 0;
                let Some(i) = self.pick(rng, broken, &[Role::Object]) else {
                    return "nothing to delete".into();
                };
                let path = self.files.remove(i).path;
                self.broken.remove(&path);
                format!("deleted {path}")
            }
            // Move a WEC: a valid change of a Location's labels.
            7 => {
                let Some(i) = self.pick(rng, false, &[Role::Inventory]) else {
                    return "no inventory".into();
                };
                let regions = ["us-east", "eu-west", "ap-south", "nowhere"];
                let region = regions[rng.below(regions.len())];
                if let Some(mut docs) = documents(&self.files[i]) {
                    for d in &mut docs {
                        if d["kind"] == "Location" {
                            d["metadata"]["labels"]["region"] = Value::from(region);
                        }
                    }
                    self.files[i].content = Ok(write_documents(&docs));
                }
                format!("moved {} to {region}", self.files[i].path)
            }
            // Valid edits of workload objects.
            _ => {
                let Some(i) = self.pick(rng, false, &[Role::Object]) else {
                    return "no object".into();
                };
                let tiers = ["base", "feature"];
                let tier = tiers[rng.below(2)];
                self.edit_first(i, |d| {
                    if let Some(labels) = d
                        .pointer_mut("/metadata/labels")
                        .and_then(Value::as_object_mut)
                    {
                        labels.insert("layer".into(), Value::from(tier));
                    }
                    if let Some(meta) = d.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.insert(
                            "annotations".into(),
                            serde_json::json!({"test/step": step.to_string()}),
                        );
                    }
                });
                format!("edited {}", self.files[i].path)
            }
        }
    }
}

#[test]
fn problems_hold_and_fixing_converges() {
    let seeds: Vec<u64> = match std::env::var("GITSTELLAR_WALK_SEED") {
        Ok(s) => vec![s.parse().expect("a number")],
        Err(_) => vec![3, 11],
    };
    let mut held_states = 0;
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    for seed in seeds {
        let (states, seen) = walk(seed);
        held_states += states;
        kinds.extend(seen);
    }
    println!(
        "hold walk: {held_states} held states exercised ({})",
        kinds.into_iter().collect::<Vec<_>>().join(", ")
    );
    assert!(held_states >= 30, "only {held_states} held states");
}

/// One walk; how many passes held something, and what kinds of input were broken then.
fn walk(seed: u64) -> (usize, BTreeSet<String>) {
    let temp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    let config = SynthConfig {
        wecs: 8,
        apps: 4,
        objects_per_app: 6,
        placements: 8,
        wds_count: 2,
        customized_percent: 30,
        seed,
        ..SynthConfig::default()
    };
    let mut w = Walk {
        files: generate(&config),
        broken: BTreeMap::new(),
    };
    let dropped = |repo: &Path| {
        let _ = std::fs::remove_file(repo.join(".git/gitstellar/last-pass"));
    };
    commit_to_repo(&w.files, &a).expect("commit");
    commit_to_repo(&w.files, &b).expect("commit");
    reconcile(&a);
    reconcile(&b);
    let mut rng = Rng::new(seed);
    let mut log: Vec<String> = Vec::new();
    let mut states = 0;
    let mut kinds = BTreeSet::new();
    for step in 0..45 {
        let what = w.mutate(&mut rng, step);
        log.push(what.clone());
        commit_to_repo(&w.files, &a).expect("commit");
        commit_to_repo(&w.files, &b).expect("commit");
        let before = mailbox_pairs(&a);
        let (out, held) = reconcile(&a);
        dropped(&b);
        reconcile(&b);
        let after = mailbox_pairs(&a);
        let repaired = planned_pairs(&w.repaired());
        let lost: Vec<&(String, String)> = before
            .difference(&after)
            .filter(|p| repaired.contains(*p))
            .collect();
        assert!(
            lost.is_empty(),
            "seed {seed}, step {step} ({what}): pairs left a mailbox that the repaired revision keeps: {lost:?}\n{out}\nsteps: {log:#?}"
        );
        assert_eq!(
            trees(&a),
            trees(&b),
            "seed {seed}, step {step} ({what}): a pass without the record differs\n{out}\nsteps: {log:#?}"
        );
        if held > 0 {
            states += 1;
            for path in w.broken.keys() {
                if let Some(r) = role(path) {
                    kinds.insert(format!("{r:?}"));
                }
            }
        }
    }
    // Fix everything: the trees of a fresh pass of the fixed revision.
    let paths: Vec<String> = w.broken.keys().cloned().collect();
    for path in paths {
        if let (Some(good), Some(f)) = (
            w.broken.remove(&path),
            w.files.iter_mut().find(|f| f.path == path),
        ) {
            f.content = good;
        }
    }
    commit_to_repo(&w.files, &a).expect("commit");
    let (out, held) = reconcile(&a);
    assert_eq!(held, 0, "seed {seed}: fixed, nothing is held: {out}");
    let fresh = temp.path().join("fresh");
    commit_to_repo(&w.files, &fresh).expect("commit");
    reconcile(&fresh);
    assert_eq!(
        trees(&a),
        trees(&fresh),
        "seed {seed}: fixing everything converges to a fresh pass\nsteps: {log:#?}"
    );
    (states, kinds)
}
