//! The incremental pass leaves exactly the trees a full pass leaves: a random walk of commits over
//! a synthetic fleet (edited, relabelled, renamed, added, deleted, broken and duplicated objects,
//! changed EdgePlacements and Customizers), each reconciled incrementally in one repository and
//! from scratch (`--full`) in another, and every gitstellar ref compared.

use gitstellar_testkit as common;

use common::{documents, gitstellar_trees as trees, write_documents};

use std::path::Path;
use std::process::Command;

use gitstellar::model::SourceFile;
use gitstellar_testkit::synth::{Rng, SynthConfig, commit_to_repo, generate};
use serde_json::Value;

fn reconcile(repo: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gitstellar"))
        .args(["reconcile", "--repo"])
        .arg(repo)
        .args(extra)
        .output()
        .expect("run gitstellar");
    let code = out.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn set_meta(doc: &mut Value, field: &str, key: &str, value: &str) {
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
        let map = meta
            .entry(field)
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(map) = map.as_object_mut() {
            map.insert(key.into(), Value::from(value));
        }
    }
}

/// Applies one random change to the files; returns its description.
fn mutate(
    files: &mut Vec<SourceFile>,
    original: &[SourceFile],
    rng: &mut Rng,
    step: usize,
) -> String {
    let wds: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].path.starts_with("wds/"))
        .collect();
    let kind = rng.below(14);
    if kind == 13 {
        // Objects added earlier leave again.
        let added: Vec<usize> = (0..files.len())
            .filter(|&i| files[i].path.contains("/added-"))
            .collect();
        if !added.is_empty() {
            let i = added[rng.below(added.len())];
            return format!("deleted {}", files.remove(i).path);
        }
    }
    // Customizer references go to a few objects only, so that some get a second one while they
    // are withheld for the first (the incremental pass must then replace the problem).
    let i = if kind == 11 {
        let few: Vec<usize> = wds
            .iter()
            .copied()
            .filter(|&i| files[i].path.contains("-deploy-"))
            .take(2)
            .collect();
        few[rng.below(few.len())]
    } else {
        wds[rng.below(wds.len())]
    };
    let path = files[i].path.clone();
    let mut docs = documents(&files[i]);
    let mut edit_first = |f: &mut dyn FnMut(&mut Value)| -> bool {
        match docs.as_mut().and_then(|d| d.first_mut()) {
            Some(first) => {
                f(first);
                true
            }
            None => false,
        }
    };
    let what = match kind {
        // Content that no selector sees: the common commit.
        0..=3 => {
            if !edit_first(&mut |d| set_meta(d, "annotations", "test/step", &step.to_string())) {
                return restore(files, original, i);
            }
            "annotated"
        }
        4 => {
            let values = ["frontend", "backend", "edge", "none"];
            let value = values[rng.below(values.len())];
            if !edit_first(&mut |d| set_meta(d, "labels", "tier", value)) {
                return restore(files, original, i);
            }
            "relabelled"
        }
        5 => {
            if !edit_first(&mut |d| {
                if let Some(name) = d.pointer_mut("/metadata/name") {
                    *name = Value::from(format!("renamed-{step}"));
                }
            }) {
                return restore(files, original, i);
            }
            "renamed"
        }
        6 => {
            files.remove(i);
            return format!("deleted {path}");
        }
        7 => {
            files[i].content = Ok(b"kind: [unclosed\n".to_vec());
            return format!("broke {path}");
        }
        8 => {
            let copy = SourceFile {
                path: path.replace(".yaml", &format!("-copy{step}.yaml")),
                content: files[i].content.clone(),
            };
            let description = format!("duplicated {path} as {}", copy.path);
            files.push(copy);
            return description;
        }
        9 => {
            if !edit_first(&mut |d| {
                if let Some(v) = d.get("apiVersion").and_then(Value::as_str)
                    && v == "apps/v1"
                {
                    d["apiVersion"] = Value::from("apps/v1beta2");
                } else {
                    set_meta(
                        d,
                        "annotations",
                        "edge.kubestellar.io/expand-parameters",
                        "true",
                    );
                }
            }) {
                return restore(files, original, i);
            }
            "re-versioned or expanded"
        }
        10 => {
            let dir = path.rsplit_once('/').map_or("wds", |(d, _)| d).to_string();
            let ns = docs
                .as_ref()
                .and_then(|d| d.first())
                .and_then(|d| d.pointer("/metadata/namespace"))
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            let labels = docs
                .as_ref()
                .and_then(|d| d.first())
                .and_then(|d| d.pointer("/metadata/labels"))
                .cloned()
                .unwrap_or(Value::Null);
            // Half of them named after their app's namespace but living in a namespace that has
            // no manifest: the EdgePlacements that select `namespaces: ["*"]` by name send them,
            // and their WECs get a bare namespace (until the last such object leaves).
            let (name, ns) = if rng.below(2) == 0 {
                (ns, format!("loose-{}", rng.below(2)))
            } else {
                (format!("added-{step}"), ns)
            };
            let object = serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "data": {"step": step.to_string()},
            });
            let new_path = format!("{dir}/added-{step}.yaml");
            files.push(SourceFile {
                path: new_path.clone(),
                content: Ok(write_documents(&[object])),
            });
            return format!("added {new_path}");
        }
        11 => {
            let name = format!("missing-{step}");
            if !edit_first(&mut |d| {
                set_meta(d, "annotations", "edge.kubestellar.io/customizer", &name)
            }) {
                return restore(files, original, i);
            }
            "pointed at a missing Customizer"
        }
        _ => return restore(files, original, i),
    };
    if let Some(docs) = docs {
        files[i].content = Ok(write_documents(&docs));
    }
    format!("{what} {path}")
}

/// Puts a file back as it was generated (or drops it when it was not).
fn restore(files: &mut Vec<SourceFile>, original: &[SourceFile], i: usize) -> String {
    let path = files[i].path.clone();
    match original.iter().find(|f| f.path == path) {
        Some(f) => files[i].content = f.content.clone(),
        None => {
            files.remove(i);
        }
    }
    format!("restored {path}")
}

#[test]
fn incremental_passes_leave_the_trees_of_full_passes() {
    // Two walks by default (together they reach every branch of the SyncerConfig edit);
    // GITSTELLAR_WALK_SEED replays one.
    let seeds: Vec<u64> = match std::env::var("GITSTELLAR_WALK_SEED") {
        Ok(s) => vec![s.parse().expect("a number")],
        Err(_) => vec![2, 7],
    };
    for seed in seeds {
        walk(seed);
    }
}

fn walk(seed: u64) {
    let temp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    let config = SynthConfig {
        wecs: 12,
        apps: 4,
        objects_per_app: 8,
        placements: 10,
        wds_count: 2,
        seed,
        ..SynthConfig::default()
    };
    let original = generate(&config);
    let mut files = original.clone();
    commit_to_repo(&files, &a).expect("commit");
    commit_to_repo(&files, &b).expect("commit");
    reconcile(&a, &[]);
    reconcile(&b, &["--full"]);
    assert_eq!(trees(&a), trees(&b));

    let mut rng = Rng::new(seed);
    let mut incremental = 0;
    let mut changed = 0;
    let mut log = Vec::new();
    for step in 0..60 {
        let what = mutate(&mut files, &original, &mut rng, step);
        log.push(what.clone());
        commit_to_repo(&files, &a).expect("commit");
        commit_to_repo(&files, &b).expect("commit");
        let before = trees(&a);
        let out = reconcile(&a, &[]);
        reconcile(&b, &["--full"]);
        let (ta, tb) = (trees(&a), trees(&b));
        assert!(
            ta == tb,
            "seed {seed}, step {step} ({what}): incremental and full passes differ\n{out}\nsteps: {log:#?}"
        );
        if out.contains("\nincremental: ") || out.starts_with("incremental: ") {
            incremental += 1;
            if ta != before {
                changed += 1;
            }
        }
    }
    // The walk must exercise the incremental pass, and not only on commits that change nothing.
    assert!(
        incremental >= 10,
        "seed {seed}: {incremental} incremental passes: {log:#?}"
    );
    assert!(
        changed >= 5,
        "seed {seed}: {changed} incremental passes changed a ref: {log:#?}"
    );
}

#[test]
fn a_commit_touching_only_other_files_is_incremental_and_moves_nothing() {
    let f = common::example1_repo();
    let out = reconcile(f.path(), &[]);
    assert!(out.contains("problems"), "{out}");
    let before = trees(f.path());
    f.write("NOTES.md", "not a manifest\n");
    f.commit("notes");
    let out = reconcile(f.path(), &[]);
    assert!(out.contains("incremental: "), "{out}");
    assert!(out.contains(" 0 updated"), "{out}");
    assert_eq!(trees(f.path()), before);
}
