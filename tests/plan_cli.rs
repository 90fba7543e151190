//! `gitstellar plan` as a user runs it: which repository, layout root and revision it reads,
//! exit codes, the layout file, file discovery, and output to a closed pipe (design §2, §7).

use gitstellar_testkit as common;

use common::{GitRepo, TestCommand, problems, wec_objects};
use serde_json::{Value, json};

/// One inventory (WEC `edge1`, Location label `env: prod`) and one WDS `app` whose EP sends
/// every ConfigMap in namespace `web` to every prod Location. Written under `root`.
fn write_layout(repo: &GitRepo, root: &str) {
    let p = |rel: &str| {
        if root.is_empty() {
            rel.to_string()
        } else {
            format!("{root}/{rel}")
        }
    };
    repo.write(&p("inventory/edge1.yaml"), EDGE1);
    repo.write(&p("wds/app/ep.yaml"), EP_ALL_CONFIGMAPS);
    repo.write(&p("wds/app/cm.yaml"), &configmap("web", "page", "one"));
}

const EDGE1: &str = r#"apiVersion: edge.kubestellar.io/v2alpha1
kind: SyncTarget
metadata:
  name: edge1
  labels: {id: edge1}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Location
metadata:
  name: edge1
  labels: {env: prod}
spec:
  instanceSelector:
    matchLabels: {id: edge1}
"#;

const EP_ALL_CONFIGMAPS: &str = r#"apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata:
  name: ep
spec:
  locationSelectors:
  - matchLabels: {env: prod}
  downsync:
  - apiGroup: ""
    resources: [configmaps]
    namespaces: [web]
"#;

fn configmap(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: {ns}\n  name: {name}\ndata:\n  value: {value:?}\n"
    )
}

fn repo_with_layout() -> GitRepo {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    repo.commit("layout");
    repo
}

fn data_value(plan: &Value, wec: &str, id: &str) -> String {
    plan["destinations"][wec]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| common::object_id(e) == id)
        .unwrap_or_else(|| panic!("{wec} lacks {id}: {:?}", wec_objects(plan, wec)))["object"]
        ["data"]["value"]
        .as_str()
        .unwrap()
        .to_string()
}

const PAGE: &str = "core/ConfigMap/web/page";

#[test]
fn repo_top_and_a_subdirectory_as_layout_root() {
    let repo = GitRepo::new();
    write_layout(&repo, "deploy/prod");
    // A decoy at the top: with --repo at the top, `inventory/` and `wds/*` are read from there.
    repo.write("inventory/other.yaml", &EDGE1.replace("edge1", "other"));
    let sha = repo.commit("nested layout");

    let top = repo.plan(&["-o", "json"]).run();
    top.assert_exit(0);
    let top = top.stdout_json();
    assert_eq!(top["revision"], sha.as_str());
    assert_eq!(
        top["destinations"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["other"]
    );
    assert_eq!(wec_objects(&top, "other"), Vec::<String>::new());

    let mut cmd = TestCommand::new();
    cmd.args(&["plan", "-o", "json", "--repo"])
        .arg(repo.join("deploy/prod"));
    let sub = cmd.run();
    sub.assert_exit(0);
    let sub = sub.stdout_json();
    assert_eq!(sub["revision"], sha.as_str());
    assert_eq!(
        sub["destinations"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["edge1"]
    );
    assert_eq!(wec_objects(&sub, "edge1"), [PAGE]);

    // Problems name files relative to the layout root.
    repo.write("deploy/prod/wds/app/broken.yaml", "a: [");
    repo.commit("break");
    let mut cmd = TestCommand::new();
    cmd.args(&["plan", "-o", "json", "--repo"])
        .arg(repo.join("deploy/prod"));
    let out = cmd.run();
    out.assert_exit(1);
    let plan = out.stdout_json();
    let files: Vec<Value> = problems(&plan).iter().map(|p| p["file"].clone()).collect();
    assert_eq!(files, [json!("wds/app/broken.yaml")]);

    // The default --repo is the current directory.
    let mut cmd = TestCommand::new();
    cmd.args(&["plan", "-o", "json"])
        .current_dir(repo.join("deploy/prod"));
    let out = cmd.run();
    out.assert_exit(1);
    assert_eq!(wec_objects(&out.stdout_json(), "edge1"), [PAGE]);
}

#[test]
fn a_layout_root_missing_at_the_revision_is_an_error() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    repo.commit("flat");
    std::fs::create_dir_all(repo.join("later")).unwrap();
    let mut cmd = TestCommand::new();
    cmd.args(&["plan", "-o", "json", "--repo"])
        .arg(repo.join("later"));
    let out = cmd.run();
    out.assert_exit(2);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("later"), "{}", out.stderr);
}

#[test]
fn rev_selects_branch_tag_relative_and_commit() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    let first = repo.commit("first");
    repo.git(&["tag", "v1"]);
    repo.git(&["branch", "stable"]);
    repo.write("wds/app/cm.yaml", &configmap("web", "page", "two"));
    let second = repo.commit("second");
    repo.write("wds/app/cm.yaml", &configmap("web", "page", "three"));
    let third = repo.commit("third");

    let cases: [(&str, &str, &str); 7] = [
        ("HEAD", &third, "three"),
        ("main", &third, "three"),
        ("HEAD~1", &second, "two"),
        ("main^^", &first, "one"),
        ("v1", &first, "one"),
        ("stable", &first, "one"),
        (&second[..12], &second, "two"),
    ];
    for (rev, sha, value) in cases {
        let out = repo.plan(&["-o", "json", "--rev", rev]).run();
        out.assert_exit(0);
        let plan = out.stdout_json();
        assert_eq!(plan["revision"], sha, "--rev {rev}");
        assert_eq!(data_value(&plan, "edge1", PAGE), value, "--rev {rev}");
    }
    // Without --rev: HEAD.
    let plan = repo.plan(&["-o", "json"]).run().stdout_json();
    assert_eq!(plan["revision"], third.as_str());

    // An annotated tag peels to its commit.
    repo.git(&["tag", "-a", "-m", "annotated", "v2", &second]);
    let plan = repo
        .plan(&["-o", "json", "--rev", "v2"])
        .run()
        .stdout_json();
    assert_eq!(plan["revision"], second.as_str());
}

#[test]
fn bad_rev_is_a_usage_error() {
    let repo = repo_with_layout();
    for rev in [
        "no-such-branch",
        "HEAD~5",
        "0123456789abcdef0123456789abcdef01234567",
    ] {
        let out = repo.plan(&["-o", "json", "--rev", rev]).run();
        out.assert_exit(2);
        assert!(out.stdout.is_empty(), "--rev {rev}: stdout {}", out.stdout);
        assert!(
            out.stderr.contains(&format!("{rev:?}"))
                && out.stderr.contains("does not name a commit"),
            "--rev {rev}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    // A revision naming a tree, not a commit.
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    let out = repo.plan(&["-o", "json", "--rev", &tree]).run();
    out.assert_exit(2);
    assert!(
        out.stderr.contains("does not name a commit"),
        "{}",
        out.stderr
    );
}

/// The error for a bad revision is one line that states git's reason once.
#[test]
fn bad_rev_message_states_the_reason_once() {
    let repo = repo_with_layout();
    let out = repo.plan(&["--rev", "no-such-branch"]).run();
    out.assert_exit(2);
    let stderr = out.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("not found").count(),
        1,
        "git's reason is repeated: {stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let repo = repo_with_layout();
    for args in [
        vec!["-o", "xml"],
        vec!["--worktree", "--rev", "HEAD"],
        vec!["--no-such-flag"],
    ] {
        let out = repo.plan(&args).run();
        out.assert_exit(2);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    let out = TestCommand::new().run();
    out.assert_exit(2);
}

#[test]
fn worktree_sees_uncommitted_edits() {
    let repo = repo_with_layout();
    repo.write("wds/app/cm.yaml", &configmap("web", "page", "edited"));
    repo.write("wds/app/new.yaml", &configmap("web", "untracked", "new"));

    let committed = repo.plan(&["-o", "json"]).run();
    committed.assert_exit(0);
    let committed = committed.stdout_json();
    assert_eq!(data_value(&committed, "edge1", PAGE), "one");
    assert_eq!(wec_objects(&committed, "edge1"), [PAGE]);

    let out = repo.plan(&["-o", "json", "--worktree"]).run();
    out.assert_exit(0);
    let plan = out.stdout_json();
    assert_eq!(data_value(&plan, "edge1", PAGE), "edited");
    assert_eq!(
        wec_objects(&plan, "edge1"),
        [PAGE, "core/ConfigMap/web/untracked"]
    );
    // No commit was evaluated.
    assert_ne!(plan["revision"], committed["revision"]);
    assert!(plan["revision"].is_null(), "{}", plan["revision"]);

    // A file deleted in the working tree is gone with --worktree only.
    repo.remove("wds/app/cm.yaml");
    let plan = repo.plan(&["-o", "json", "--worktree"]).run().stdout_json();
    assert_eq!(
        wec_objects(&plan, "edge1"),
        ["core/ConfigMap/web/untracked"]
    );
    let plan = repo.plan(&["-o", "json"]).run().stdout_json();
    assert_eq!(wec_objects(&plan, "edge1"), [PAGE]);
}

#[test]
fn not_a_repository_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    write_plain_layout(dir.path());
    let mut cmd = TestCommand::new();
    cmd.args(&["plan", "-o", "json", "--repo"]).arg(dir.path());
    let out = cmd.run();
    out.assert_exit(2);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("not a git repository"),
        "{}",
        out.stderr
    );

    let mut cmd = TestCommand::new();
    cmd.args(&["plan", "--repo"])
        .arg(dir.path().join("missing"));
    let out = cmd.run();
    out.assert_exit(2);
    assert!(out.stderr.contains("missing"), "{}", out.stderr);
}

fn write_plain_layout(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("inventory")).unwrap();
    std::fs::write(dir.join("inventory/edge1.yaml"), EDGE1).unwrap();
}

#[test]
fn an_empty_repository_without_commits_exits_2() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(2);
    assert!(out.stderr.contains("HEAD"), "{}", out.stderr);
    // ... but its working tree can be planned.
    let out = repo.plan(&["-o", "json", "--worktree"]).run();
    out.assert_exit(0);
    assert_eq!(wec_objects(&out.stdout_json(), "edge1"), [PAGE]);
}

#[test]
fn problems_exit_1_and_still_print_the_plan() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    repo.write(
        "wds/app/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
    );
    repo.commit("a nameless ConfigMap");

    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(1);
    let plan = out.stdout_json();
    assert_eq!(wec_objects(&plan, "edge1"), [PAGE]);
    let problems = problems(&plan);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0]["space"], "app");
    assert_eq!(problems[0]["file"], "wds/app/bad.yaml");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("metadata.name is missing"),
        "{problems:#?}"
    );

    let out = repo.plan(&["-o", "yaml"]).run();
    out.assert_exit(1);
    let yaml: Value = serde_saphyr::from_str(&out.stdout).unwrap();
    assert_eq!(yaml, plan);

    let out = repo.plan(&["-o", "table"]).run();
    out.assert_exit(1);
    assert!(out.stdout.contains("wds/app/bad.yaml"), "{}", out.stdout);
    assert!(
        out.stdout.contains("metadata.name is missing"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(PAGE), "{}", out.stdout);
}

#[test]
fn gitstellar_yaml_declares_the_spaces() {
    let repo = GitRepo::new();
    repo.write(
        "gitstellar.yaml",
        "apiVersion: gitstellar.io/v1alpha1\nkind: RepoConfig\ninventorySpaces: [\"fleet/*\"]\nworkloadSpaces: [\"teams/*/apps\", \"shared\"]\n",
    );
    repo.write("fleet/eu/edge1.yaml", EDGE1);
    repo.write("fleet/us/edge2.yaml", &EDGE1.replace("edge1", "edge2"));
    repo.write("teams/blue/apps/ep.yaml", EP_ALL_CONFIGMAPS);
    repo.write(
        "teams/blue/apps/nested/cm.yaml",
        &configmap("web", "blue", "b"),
    );
    repo.write("shared/ep.yaml", EP_ALL_CONFIGMAPS);
    repo.write("shared/cm.yaml", &configmap("web", "shared", "s"));
    // Not a space any more under this layout: ignored, even though it is broken.
    repo.write("wds/old/cm.yaml", "this: [is not read");
    repo.write("inventory/edge9.yaml", &EDGE1.replace("edge1", "edge9"));
    repo.commit("custom layout");

    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(0);
    let plan = out.stdout_json();
    assert_eq!(
        plan["destinations"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["edge1", "edge2"]
    );
    let wdses: Vec<&str> = plan["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["wds"].as_str().unwrap())
        .collect();
    assert_eq!(wdses, ["apps", "shared"]);
    for wec in ["edge1", "edge2"] {
        assert_eq!(
            wec_objects(&plan, wec),
            ["core/ConfigMap/web/blue", "core/ConfigMap/web/shared"]
        );
    }
}

#[test]
fn resource_mappings_make_an_unknown_kind_known() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    repo.write(
        "wds/app/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  namespace: web\n  name: w1\nspec: {size: 3}\n",
    );
    repo.write(
        "wds/app/ep-widgets.yaml",
        "apiVersion: edge.kubestellar.io/v2alpha1\nkind: EdgePlacement\nmetadata:\n  name: widgets\nspec:\n  locationSelectors: [{matchLabels: {env: prod}}]\n  downsync:\n  - apiGroup: example.com\n    resources: [widgets]\n",
    );
    repo.commit("a widget without mapping");

    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(1);
    let plan = out.stdout_json();
    let problems = problems(&plan);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0]["file"], "wds/app/widget.yaml");
    assert_eq!(problems[0]["object"], "example.com/Widget/web/w1");
    let message = problems[0]["message"].as_str().unwrap();
    assert!(message.contains("unknown kind Widget"), "{message}");
    assert!(message.contains("resourceMappings"), "{message}");
    assert_eq!(wec_objects(&plan, "edge1"), [PAGE]);

    repo.write(
        "gitstellar.yaml",
        "apiVersion: gitstellar.io/v1alpha1\nkind: RepoConfig\nresourceMappings:\n- {group: example.com, kind: Widget, resource: widgets, namespaced: true}\n",
    );
    repo.commit("map it");
    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(0);
    let plan = out.stdout_json();
    assert_eq!(
        wec_objects(&plan, "edge1"),
        [PAGE, "example.com/Widget/web/w1"]
    );
}

#[test]
fn dot_files_dot_directories_and_other_files_are_skipped() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    let broken = "this is: [not yaml";
    repo.write("wds/app/.hidden.yaml", broken);
    repo.write("wds/app/.cache/x.yaml", broken);
    repo.write("wds/.trash/cm.yaml", broken);
    repo.write("inventory/.old/x.yaml", broken);
    repo.write("wds/app/README.md", broken);
    repo.write("wds/app/notes.txt", broken);
    repo.write("wds/app/cm.yaml.orig", broken);
    repo.write(".github/workflows/ci.yaml", broken);
    repo.commit("noise");
    for extra in [&[][..], &["--worktree"][..]] {
        let mut args = vec!["-o", "json"];
        args.extend_from_slice(extra);
        let out = repo.plan(&args).run();
        out.assert_exit(0);
        let plan = out.stdout_json();
        assert_eq!(problems(&plan), Vec::<Value>::new(), "{extra:?}");
        assert_eq!(wec_objects(&plan, "edge1"), [PAGE], "{extra:?}");
    }
}

#[test]
fn multi_document_yaml_lists_and_json_files() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    repo.write(
        "wds/app/multi.yml",
        &format!(
            "---\n{}---\n# only a comment\n---\n{}...\n",
            configmap("web", "m1", "a"),
            configmap("web", "m2", "b")
        ),
    );
    repo.write(
        "wds/app/list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {namespace: web, name: l1}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {namespace: web, name: l2}\n",
    );
    repo.write(
        "wds/app/cms.json",
        &serde_json::to_string_pretty(&json!({
            "apiVersion": "v1",
            "kind": "ConfigMapList",
            "items": [
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"namespace": "web", "name": "j1"}, "data": {"k": "v"}}
            ]
        }))
        .unwrap(),
    );
    repo.write(
        "wds/app/one.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "web", "name": "j2"}}"#,
    );
    repo.commit("many forms");
    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(0);
    let plan = out.stdout_json();
    assert_eq!(problems(&plan), Vec::<Value>::new());
    assert_eq!(
        wec_objects(&plan, "edge1"),
        [
            "core/ConfigMap/web/j1",
            "core/ConfigMap/web/j2",
            "core/ConfigMap/web/l1",
            "core/ConfigMap/web/l2",
            "core/ConfigMap/web/m1",
            "core/ConfigMap/web/m2",
            PAGE,
        ]
    );
    let j1 = plan["destinations"]["edge1"]["objects"][0]["object"].clone();
    assert_eq!(j1["data"], json!({"k": "v"}));
}

/// YAML 1.2 (design §9.12): `yes` stays a string; legacy octal `0644` reads as 420.
#[test]
fn yaml_dialect() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    repo.write(
        "wds/app/dialect.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: web, name: dialect}\ndata:\n  a: yes\n  b: \"0644\"\nbinaryData: {}\nextra:\n  mode: 0644\n  on: on\n",
    );
    repo.commit("dialect");
    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(0);
    let plan = out.stdout_json();
    let cm = common::wec_object(&plan, "edge1", "core/ConfigMap/web/dialect");
    assert_eq!(cm["object"]["data"]["a"], "yes");
    assert_eq!(cm["object"]["data"]["b"], "0644");
    assert_eq!(cm["object"]["extra"]["mode"], 420);
    assert_eq!(cm["object"]["extra"]["on"], "on");
}

/// `plan | head -c 10`: the reader closing the pipe is not an error.
#[cfg(unix)]
#[test]
fn broken_pipe_exits_0_silently() {
    let repo = GitRepo::new();
    write_layout(&repo, "");
    // Enough output that the writer is still writing when `head` exits.
    for i in 0..300 {
        repo.write(
            &format!("wds/app/cm{i:03}.yaml"),
            &configmap("web", &format!("cm{i:03}"), &"x".repeat(400)),
        );
    }
    repo.commit("big");
    for format in ["json", "yaml", "table"] {
        // POSIX sh has no PIPESTATUS: the binary's status and stderr go to files.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{{ \"$0\" plan --repo \"$1\" -o {format} 2>\"$2\"; echo $? >\"$3\"; }} | head -c 10"
            ))
            .arg(env!("CARGO_BIN_EXE_gitstellar"))
            .arg(repo.path())
            .arg(repo.join("stderr.txt"))
            .arg(repo.join("status.txt"))
            .env_remove("RUST_LOG")
            .env_remove("GITSTELLAR_LOG")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 10, "-o {format}");
        let status = std::fs::read_to_string(repo.join("status.txt")).unwrap();
        let stderr = std::fs::read_to_string(repo.join("stderr.txt")).unwrap();
        assert_eq!(status.trim(), "0", "-o {format}: stderr {stderr}");
        assert_eq!(stderr, "", "-o {format}");
    }
}

/// The problem of `plan -o json` about `file` whose message contains `text`.
fn problem_about<'a>(found: &'a [Value], file: &str, text: &str) -> &'a Value {
    found
        .iter()
        .find(|p| p["file"] == file && p["message"].as_str().is_some_and(|m| m.contains(text)))
        .unwrap_or_else(|| panic!("no problem about {file} saying {text:?} in {found:#?}"))
}

#[test]
fn problems_carry_the_line_and_column() {
    let repo = repo_with_layout();
    // A syntax error at line 3, column 8 (the second `:`).
    repo.write(
        "wds/app/syntax.yaml",
        "apiVersion: v1\nkind: ConfigMap\ndata: a: b\n",
    );
    // The second document starts at line 10 (after a comment), and its kind is unknown.
    repo.write(
        "wds/app/two.yaml",
        &format!(
            "{}---\n# the second document\napiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w, namespace: web}}\n",
            configmap("web", "first", "1")
        ),
    );
    // A problem found while placing (a Customizer that does not exist) points at the object.
    repo.write(
        "wds/app/customized.yaml",
        "# a comment\n\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: customized\n  namespace: web\n  annotations: {edge.kubestellar.io/customizer: nope}\n",
    );
    repo.commit("problems");
    let out = repo.plan(&["-o", "json"]).run();
    out.assert_exit(1);
    let found = problems(&out.stdout_json());
    let syntax = problem_about(&found, "wds/app/syntax.yaml", "invalid YAML");
    assert_eq!(
        (&syntax["line"], &syntax["column"]),
        (&json!(3), &json!(8)),
        "{syntax}"
    );
    let message = syntax["message"].as_str().unwrap_or_default();
    assert!(
        !message.contains(" | ") && !message.contains("<input>") && !message.contains("line 3"),
        "one line, the position only in the fields: {message}"
    );
    let widget = problem_about(&found, "wds/app/two.yaml", "unknown kind");
    assert_eq!(widget["line"], 10, "{widget}");
    assert_eq!(
        widget.get("column"),
        None,
        "no column for an object: {widget}"
    );
    let placing = problem_about(&found, "wds/app/customized.yaml", "nope");
    assert_eq!(placing["line"], 3, "{placing}");
    for p in &found {
        assert!(
            p["line"].as_u64().is_some_and(|l| l > 0),
            "every problem here has a line: {p}"
        );
    }

    // The table prints positions as compilers do.
    let table = repo.plan(&[]).run();
    table.assert_exit(1);
    assert!(
        table
            .stdout
            .contains("  wds/app/syntax.yaml:3:8: invalid YAML: "),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("  wds/app/two.yaml:10: example.com/Widget/web/w: unknown kind"),
        "{}",
        table.stdout
    );
}

/// Every broken input that holds a value: none of the values may reach a message, the plan, the
/// logs or `problems.yaml`.
#[test]
fn no_planted_value_reaches_any_message() {
    let repo = GitRepo::new();
    repo.write("inventory/edge1.yaml", EDGE1);
    repo.write(
        "wds/app/ep.yaml",
        r#"apiVersion: edge.kubestellar.io/v2alpha1
kind: EdgePlacement
metadata:
  name: ep
spec:
  locationSelectors:
  - matchLabels: {env: prod}
  downsync:
  - apiGroup: ""
    resources: [configmaps, secrets]
    namespaces: [web]
"#,
    );
    // YAML syntax errors inside a Secret and a ConfigMap.
    repo.write(
        "wds/app/secret-syntax.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s1, namespace: web}\nstringData:\n  password: PLANTED-ONE: oops\n",
    );
    repo.write(
        "wds/app/secret-quote.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s2, namespace: web}\nstringData:\n  password: \"PLANTED-TWO\n",
    );
    repo.write(
        "wds/app/cm-flow.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1, namespace: web}\ndata: {token: PLANTED-THREE, [\n",
    );
    repo.write(
        "wds/app/secret.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"data\": {\"password\": \"PLANTED-FOUR\" \"x\"}}",
    );
    // Parameters: an unterminated reference and an undefined one, in a Secret's values.
    repo.write(
        "wds/app/params.yaml",
        r#"apiVersion: v1
kind: Secret
metadata:
  name: s3
  namespace: web
  annotations: {edge.kubestellar.io/expand-parameters: "true"}
stringData:
  password: "PLANTED-FIVE%(unclosed"
---
apiVersion: v1
kind: Secret
metadata:
  name: s4
  namespace: web
  annotations: {edge.kubestellar.io/expand-parameters: "true"}
stringData:
  password: "PLANTED-SIX %(no-such-parameter)"
"#,
    );
    // A Customizer whose value is not JSON, and one whose patch fails, both carrying values.
    repo.write(
        "wds/app/customizers.yaml",
        r#"apiVersion: edge.kubestellar.io/v2alpha1
kind: Customizer
metadata: {name: bad-value, namespace: web}
replacements:
- {path: "$.stringData.password", value: '"PLANTED-SEVEN'}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Customizer
metadata: {name: bad-patch, namespace: web}
patches:
- {op: test, path: /stringData/password, value: PLANTED-EIGHT}
- {op: add, path: /stringData/nope/deeper, value: PLANTED-NINE}
---
apiVersion: edge.kubestellar.io/v2alpha1
kind: Customizer
metadata: {name: bad-type, namespace: web}
replacements:
- {path: "$.stringData.password", value: {secret: PLANTED-TEN}}
"#,
    );
    for (name, customizer) in [("s5", "bad-value"), ("s6", "bad-patch"), ("s7", "bad-type")] {
        repo.write(
            &format!("wds/app/{name}.yaml"),
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: web\n  annotations: {{edge.kubestellar.io/customizer: {customizer}}}\nstringData:\n  password: PLANTED-{name}\n"
            ),
        );
    }
    // A control object with a value of the wrong type.
    repo.write(
        "wds/app/ep-bad.yaml",
        "apiVersion: edge.kubestellar.io/v2alpha1\nkind: EdgePlacement\nmetadata: {name: bad}\nspec:\n  wantSingletonReportedState: PLANTED-ELEVEN\n",
    );
    repo.commit("planted");

    let json = repo.plan(&["-o", "json"]).run();
    json.assert_exit(1);
    let found = problems(&json.stdout_json());
    let table = repo.plan(&[]).run();
    table.assert_exit(1);
    let yaml = repo.plan(&["-o", "yaml"]).run();
    yaml.assert_exit(1);
    let reconcile = TestCommand::new()
        .args(&["reconcile", "--repo"])
        .arg(repo.path())
        .env("GITSTELLAR_LOG", "debug")
        .run();
    reconcile.assert_exit(1);
    let recorded = repo.git(&["show", "gitstellar/status:problems.yaml"]);

    // Each broken input was reported (so the check below is not vacuous)...
    for file in [
        "wds/app/secret-syntax.yaml",
        "wds/app/secret-quote.yaml",
        "wds/app/cm-flow.yaml",
        "wds/app/secret.json",
        "wds/app/params.yaml",
        "wds/app/s5.yaml",
        "wds/app/s6.yaml",
        "wds/app/s7.yaml",
        "wds/app/ep-bad.yaml",
    ] {
        assert!(
            found.iter().any(|p| p["file"] == file),
            "no problem about {file}: {found:#?}"
        );
        assert!(
            recorded.contains(file),
            "problems.yaml lacks {file}:\n{recorded}"
        );
    }
    // ... and no value appears anywhere.
    for (what, text) in [
        ("plan -o json", &json.stdout),
        ("plan -o json stderr", &json.stderr),
        ("plan", &table.stdout),
        ("plan -o yaml", &yaml.stdout),
        ("reconcile stdout", &reconcile.stdout),
        ("reconcile logs", &reconcile.stderr),
        ("problems.yaml", &recorded),
    ] {
        assert!(
            !text.contains("PLANTED"),
            "{what} quotes a planted value:\n{text}"
        );
    }
}

#[test]
fn a_submodule_and_a_directory_link_in_a_space_are_problems() {
    let other = GitRepo::new();
    other.write("cm.yaml", &configmap("web", "from-submodule", "x"));
    other.commit("other");
    let repo = repo_with_layout();
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        other.path().to_str().unwrap_or_default(),
        "wds/app/vendor",
    ]);
    repo.write("shared/linked.yaml", &configmap("web", "from-link", "x"));
    repo.symlink("../../shared", "wds/app/configs");
    repo.commit("submodule and link");
    for extra in [&[][..], &["--worktree"][..]] {
        let mut args = vec!["-o", "json"];
        args.extend_from_slice(extra);
        let out = repo.plan(&args).run();
        out.assert_exit(1);
        let plan = out.stdout_json();
        let found = problems(&plan);
        let sub = problem_about(&found, "wds/app/vendor", "a submodule");
        assert_eq!(sub["space"], "app", "{sub}");
        let link = problem_about(&found, "wds/app/configs", "a symbolic link");
        assert_eq!(link["space"], "app", "{link}");
        assert_eq!(found.len(), 2, "{extra:?}: {found:#?}");
        // What they hold is not read, and the rest of the space is.
        assert_eq!(
            wec_objects(&plan, "edge1"),
            vec![PAGE.to_string()],
            "{extra:?}"
        );
    }
}
