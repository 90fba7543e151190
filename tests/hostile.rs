//! The hostile-input corpus: every `tests/hostile/<case>/` is a small repo layout laid over
//! `tests/hostile/_base/` (two WECs, `east` with Location label `color: blue` and `west`
//! without; a healthy WDS `good` whose ConfigMap goes to both; a WDS `bad` whose EdgePlacement
//! `all` sends every object of it to both), plus `expect.yaml`:
//!
//! ```yaml
//! generate: huge          # optional: a file hostile.rs writes (see `generate`)
//! exit: 1                 # the expected exit code
//! problems:               # each must be reported: same file and object, message containing the text
//! - {file: wds/bad/broken.yaml, object: "", message: invalid YAML}   # or object_contains: text
//! placed: {east: [core/ConfigMap/bad/sibling]}   # optional: objects that must still arrive
//! absent: {west: [core/ConfigMap/bad/painted]}   # optional: objects that must not
//! values: [{wec, object, pointer, value}]        # optional: customized values to check
//! good: true              # default: the `good` WDS is untouched and reaches both WECs
//! wecs: [east, west]      # default: the WECs listed in `destinations`
//! ```
//!
//! Each case is evaluated twice, from a commit and with `--worktree`: both must agree, never
//! crash (exit 0, 1 or 2 only) and report the expected problems.

use gitstellar_testkit as common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{GitRepo, problems, wec_objects};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    generate: Option<String>,
    exit: i32,
    #[serde(default)]
    problems: Vec<ExpectedProblem>,
    #[serde(default)]
    placed: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    absent: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    values: Vec<ExpectedValue>,
    #[serde(default = "yes")]
    good: bool,
    #[serde(default)]
    wecs: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedProblem {
    file: String,
    /// The exact object (`""` for none) ...
    #[serde(default)]
    object: Option<String>,
    /// ... or text it must contain, where a broken header leaves no canonical name.
    #[serde(default)]
    object_contains: Option<String>,
    message: String,
}

impl ExpectedProblem {
    fn matches(&self, p: &Value) -> bool {
        let object = p["object"].as_str().unwrap_or_default();
        let object_ok = match (&self.object, &self.object_contains) {
            (Some(exact), None) => object == exact,
            (None, Some(part)) => object.contains(part.as_str()),
            _ => panic!("{self:?}: give exactly one of object and object_contains"),
        };
        p["file"] == self.file.as_str()
            && object_ok
            && p["message"]
                .as_str()
                .is_some_and(|m| m.contains(&self.message))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedValue {
    wec: String,
    object: String,
    pointer: String,
    value: Value,
}

const GOOD_CM: &str = "core/ConfigMap/good/good-cm";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// Writes the files a case cannot keep in the repository (too big, not UTF-8, a link).
fn generate(repo: &GitRepo, what: &str) {
    const HEADER: &str =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: bad, name: generated}\ndata:\n";
    match what {
        "huge" => {
            let mut text = String::from(HEADER);
            text.push_str("  blob: \"");
            text.push_str(&"x".repeat(9 * 1024 * 1024));
            text.push_str("\"\n");
            repo.write("wds/bad/broken.yaml", &text);
        }
        "deep" => {
            let depth = 10_000;
            let text = format!("{HEADER}  x: {}{}\n", "[".repeat(depth), "]".repeat(depth));
            repo.write("wds/bad/broken.yaml", &text);
        }
        "deep_block" => {
            let depth = 1_000;
            let mut text = String::from(HEADER);
            for level in 0..depth {
                text.push_str(&" ".repeat(2 + level));
                text.push_str("k:\n");
            }
            repo.write("wds/bad/broken.yaml", &text);
        }
        "deep_json" => {
            let depth = 10_000;
            let text = format!(
                r#"{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"namespace": "bad", "name": "deep"}}, "data": {}0{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            repo.write("wds/bad/broken.json", &text);
        }
        "non_utf8" => {
            let mut bytes = HEADER.as_bytes().to_vec();
            bytes.extend_from_slice(b"  drink: caf\xe9 cr\xe8me\n");
            repo.write_bytes("wds/bad/broken.yaml", &bytes);
        }
        "symlink" => {
            #[cfg(unix)]
            repo.symlink("../../../../../../../etc/passwd", "wds/bad/broken.yaml");
            #[cfg(not(unix))]
            panic!("symlink cases need a Unix file system");
        }
        "symlink_dir" => {
            repo.write("shared/cm.yaml", HEADER);
            #[cfg(unix)]
            repo.symlink("../../shared", "wds/bad/linked");
            #[cfg(not(unix))]
            panic!("symlink cases need a Unix file system");
        }
        other => panic!("unknown generator {other:?}"),
    }
}

/// Builds the case's repository (committed) and reads its expectations.
fn build(case: &str) -> (GitRepo, Expect) {
    let dir = corpus().join(case);
    let text = std::fs::read_to_string(dir.join("expect.yaml"))
        .unwrap_or_else(|e| panic!("{case}: expect.yaml: {e}"));
    let expect: Expect =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{case}: expect.yaml: {e}"));
    let repo = GitRepo::new();
    repo.copy_dir(&corpus().join("_base"), "");
    repo.copy_dir(&dir, "");
    repo.remove("expect.yaml");
    if let Some(what) = &expect.generate {
        generate(&repo, what);
    }
    repo.commit(case);
    (repo, expect)
}

fn run_case(case: &str) {
    let (repo, expect) = build(case);
    let from_commit = check(case, "commit", &repo, &expect, &[]);
    let from_worktree = check(case, "worktree", &repo, &expect, &["--worktree"]);
    // The working tree holds exactly what was committed: the two readings agree.
    let strip = |mut v: Value| {
        v["revision"] = Value::Null;
        v
    };
    assert_eq!(
        strip(from_commit),
        strip(from_worktree),
        "{case}: --worktree and the commit disagree"
    );
}

fn check(case: &str, mode: &str, repo: &GitRepo, expect: &Expect, extra: &[&str]) -> Value {
    let mut args = vec!["-o", "json"];
    args.extend_from_slice(extra);
    let out = repo.plan(&args).run();
    out.assert_no_crash();
    assert!(
        !out.stderr.contains("panicked"),
        "{case} ({mode}): {}",
        out.stderr
    );
    out.assert_exit(expect.exit);
    let plan = out.stdout_json();
    let found = problems(&plan);
    let ctx = format!("{case} ({mode})");

    // Every problem names a space, and (but for layout-wide ones) a file.
    for p in &found {
        for key in ["space", "file", "object", "message"] {
            assert!(p[key].is_string(), "{ctx}: problem lacks {key}: {p}");
        }
        assert!(!p["message"].as_str().unwrap().is_empty(), "{ctx}: {p}");
        // A position, when known, is 1-based; a message is one line without a source snippet.
        for key in ["line", "column"] {
            assert!(
                p.get(key).is_none_or(|n| n.as_u64().is_some_and(|n| n > 0)),
                "{ctx}: {key} in {p}"
            );
        }
        let message = p["message"].as_str().unwrap();
        assert!(
            !message.contains('\n') && !message.contains(" | ") && !message.contains("<input>"),
            "{ctx}: {p}"
        );
    }
    if expect.exit == 0 {
        assert_eq!(found, Vec::<Value>::new(), "{ctx}: exit 0 with problems");
    } else {
        assert!(
            !found.is_empty(),
            "{ctx}: exit {} without problems",
            expect.exit
        );
    }
    for want in &expect.problems {
        let hit = found.iter().any(|p| want.matches(p));
        assert!(
            hit,
            "{ctx}: expected a problem {want:?}; got {}",
            serde_json::to_string_pretty(&found).unwrap()
        );
    }

    let wecs: Vec<String> = plan["destinations"]
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: no destinations"))
        .keys()
        .cloned()
        .collect();
    let want_wecs = expect
        .wecs
        .clone()
        .unwrap_or_else(|| vec!["east".into(), "west".into()]);
    assert_eq!(wecs, want_wecs, "{ctx}: WECs");

    if expect.good {
        // A broken WDS (or inventory file) never affects the healthy WDS.
        for wec in ["east", "west"] {
            let objects = wec_objects(&plan, wec);
            assert!(
                objects.iter().any(|o| o == GOOD_CM),
                "{ctx}: {wec} lost {GOOD_CM}: {objects:?}"
            );
        }
        let good = plan["placements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["wds"] == "good" && p["name"] == "good-ep")
            .unwrap_or_else(|| panic!("{ctx}: good-ep is missing"));
        assert_eq!(good["destinations"].as_array().unwrap().len(), 2, "{ctx}");
        for p in &found {
            assert!(
                p["space"] != "good" && !p["file"].as_str().unwrap().starts_with("wds/good/"),
                "{ctx}: a problem in the healthy WDS: {p}"
            );
        }
    }
    for (wec, ids) in &expect.placed {
        let objects = wec_objects(&plan, wec);
        for id in ids {
            assert!(
                objects.contains(id),
                "{ctx}: {wec} should get {id}; it gets {objects:?}"
            );
        }
    }
    for (wec, ids) in &expect.absent {
        let objects = wec_objects(&plan, wec);
        for id in ids {
            assert!(!objects.contains(id), "{ctx}: {wec} should not get {id}");
        }
    }
    for v in &expect.values {
        let entry = common::wec_object(&plan, &v.wec, &v.object);
        assert_eq!(
            entry["object"].pointer(&v.pointer),
            Some(&v.value),
            "{ctx}: {} {} {}",
            v.wec,
            v.object,
            v.pointer
        );
    }
    // Control objects never travel, whatever a wildcard selects (design §9.15).
    for wec in &wecs {
        for id in wec_objects(&plan, wec) {
            assert!(
                !id.starts_with("edge.kubestellar.io/") && !id.starts_with("gitstellar.io/"),
                "{ctx}: control object {id} sent to {wec}"
            );
        }
    }
    plan
}

macro_rules! cases {
    ($( $(#[$attr:meta])* $name:ident ),* $(,)?) => {
        const CASES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                run_case(stringify!($name));
            }
        )*
    };
}

cases! {
    // YAML and JSON syntax
    yaml_syntax,
    yaml_tab_indent,
    yaml_duplicate_key,
    json_invalid,
    scalar_document,
    list_document,
    empty_file,
    huge_file,
    deep_nesting,
    deep_nesting_json,
    deep_nesting_block,
    non_utf8,
    symlink,
    symlink_dir,
    // object headers
    missing_api_version,
    missing_kind,
    missing_metadata,
    missing_name,
    labels_as_list,
    label_value_number,
    label_key_invalid,
    name_number,
    name_with_slash,
    name_dotdot,
    name_traversal,
    name_percent,
    name_invalid_configmap,
    namespace_name_invalid,
    namespace_traversal,
    namespace_invalid,
    unknown_kind,
    duplicate_object,
    list_with_bad_item,
    // KubeStellar objects in the wrong place or version
    edge_v1alpha1,
    location_in_wds,
    repoconfig_in_wds,
    workload_in_inventory,
    // EdgePlacements and selectors
    ep_unknown_field,
    location_selector_bad_operator,
    namespace_selector_in_without_values,
    label_selector_exists_with_values,
    label_selector_bad_key,
    // inventory
    instance_selector_bad_key,
    synctarget_name_lock,
    duplicate_synctarget_two_inventories,
    location_matches_nothing,
    // customization
    customizer_missing,
    customizer_bad_jsonpath,
    customizer_value_not_json,
    customizer_patch_fails,
    customizer_cyclic,
    customizer_cluster_scoped_no_namespace,
    undefined_parameter,
    unterminated_parameter,
    customizer_spec_wrapper,
    same_object_two_wds_differ,
    // layout
    invalid_gitstellar_yaml,
    space_name_collision,
}

/// Every case directory has a test above, and the corpus stays big enough.
#[test]
fn corpus_is_complete() {
    let mut dirs: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "_base")
        .collect();
    dirs.sort();
    let mut listed: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(dirs, listed, "tests/hostile/ and the cases! list differ");
    assert!(CASES.len() >= 30, "only {} hostile cases", CASES.len());
}

/// The base alone is clean: every problem a case reports comes from what the case adds.
#[test]
fn base_is_clean() {
    let repo = GitRepo::new();
    repo.copy_dir(&corpus().join("_base"), "");
    repo.commit("base");
    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(0);
    let plan = out.stdout_json();
    assert_eq!(problems(&plan), Vec::<Value>::new());
    for wec in ["east", "west"] {
        assert_eq!(wec_objects(&plan, wec), [GOOD_CM]);
    }
}
