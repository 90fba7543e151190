//! KubeStellar's example1 (florin and guilder) as the acceptance test of `gitstellar plan`:
//! the expected outcome of spec §10.4–10.5 and the JSON contract of design §7, plus the
//! variants of spec §10.8.1 and §10.8.2 made as new commits.

use gitstellar_testkit as common;

use std::path::Path;

use common::{GitRepo, problems, wec_object, wec_objects};
use serde_json::{Value, json};

/// A fresh repository holding `examples-repo/` at its top, committed.
fn example1() -> (GitRepo, String) {
    let repo = GitRepo::new();
    repo.copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples-repo"),
        "",
    );
    let sha = repo.commit("example1");
    (repo, sha)
}

fn plan_json(repo: &GitRepo, extra: &[&str]) -> Value {
    let mut args = vec!["-o", "json"];
    args.extend_from_slice(extra);
    let out = repo.plan(&args).run();
    out.assert_exit(0);
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
    out.stdout_json()
}

const COMMON_CM: &str = "core/ConfigMap/commonstuff/httpd-htdocs";
const COMMON_RS: &str = "apps/ReplicaSet/commonstuff/commond";
const SPECIAL_CM: &str = "core/ConfigMap/specialstuff/httpd-htdocs";
const SPECIAL_NS: &str = "core/Namespace/_cluster/specialstuff";
const CRD: &str =
    "apiextensions.k8s.io/CustomResourceDefinition/_cluster/crontabs.stable.example.com";
const APISERVICE: &str = "apiregistration.k8s.io/APIService/_cluster/v1090.example.my";
const SPECIAL_DEPLOY: &str = "apps/Deployment/specialstuff/speciald";
const CRONTAB: &str = "stable.example.com/CronTab/specialstuff/my-new-cron-object";

/// The special workload, in the contract's order (group, kind, namespace, name; core first).
const SPECIAL: [&str; 6] = [
    SPECIAL_CM,
    SPECIAL_NS,
    CRD,
    APISERVICE,
    SPECIAL_DEPLOY,
    CRONTAB,
];

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Sort key of an object id per the contract: group ("" for core), kind, namespace ("" for
/// cluster-scoped), name.
fn contract_key(id: &str) -> (String, String, String, String) {
    let parts: Vec<&str> = id.splitn(4, '/').collect();
    let group = if parts[0] == "core" { "" } else { parts[0] };
    let ns = if parts[2] == "_cluster" { "" } else { parts[2] };
    (
        group.to_string(),
        parts[1].to_string(),
        ns.to_string(),
        parts[3].to_string(),
    )
}

fn assert_contract_sorted(ids: &[String]) {
    let mut expected = ids.to_vec();
    expected.sort_by_key(|id| contract_key(id));
    assert_eq!(
        ids,
        expected.as_slice(),
        "objects not sorted by group, kind, namespace, name"
    );
}

fn placement<'a>(plan: &'a Value, wds: &str, name: &str) -> &'a Value {
    plan["placements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["wds"] == wds && p["name"] == name)
        .unwrap_or_else(|| panic!("no placement {wds}/{name} in {:#}", plan["placements"]))
}

fn destinations_of(p: &Value) -> Vec<(String, String)> {
    p["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["location"].as_str().unwrap().to_string(),
                d["syncTarget"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn upsync_groups(plan: &Value, wec: &str) -> Vec<String> {
    plan["destinations"][wec]["upsync"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["apiGroup"].as_str().unwrap().to_string())
        .collect()
}

fn env_value(entry: &Value) -> &str {
    entry["object"]["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
        .as_str()
        .unwrap()
}

fn page(entry: &Value) -> &str {
    entry["object"]["data"]["index.html"].as_str().unwrap()
}

#[test]
fn example1_plan_matches_the_expected_outcome() {
    let (repo, sha) = example1();
    let plan = plan_json(&repo, &[]);

    // The top-level contract.
    let keys: Vec<&String> = plan.as_object().unwrap().keys().collect();
    for key in ["revision", "placements", "destinations", "problems"] {
        assert!(plan.get(key).is_some(), "missing {key:?} in {keys:?}");
    }
    assert_eq!(plan["revision"], sha.as_str());
    assert_eq!(problems(&plan), Vec::<Value>::new());

    // §10.4: where-resolution.
    let names: Vec<(String, String)> = plan["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["wds"].as_str().unwrap().into(),
                p["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("wmw-c".to_string(), "edge-placement-c".to_string()),
            ("wmw-s".to_string(), "edge-placement-s".to_string())
        ]
    );
    let c = placement(&plan, "wmw-c", "edge-placement-c");
    assert_eq!(
        destinations_of(c),
        vec![
            ("florin".to_string(), "florin".to_string()),
            ("guilder".to_string(), "guilder".to_string())
        ]
    );
    let s = placement(&plan, "wmw-s", "edge-placement-s");
    assert_eq!(
        destinations_of(s),
        vec![("guilder".to_string(), "guilder".to_string())]
    );

    // §10.5: what each WEC gets, and nothing else (every WEC is listed).
    let wecs: Vec<&String> = plan["destinations"].as_object().unwrap().keys().collect();
    assert_eq!(wecs, ["florin", "guilder"]);
    let florin = wec_objects(&plan, "florin");
    assert_eq!(
        sorted(florin.clone()),
        sorted(vec![COMMON_CM.into(), COMMON_RS.into()])
    );
    let guilder = wec_objects(&plan, "guilder");
    let mut expected: Vec<String> = vec![COMMON_CM.into(), COMMON_RS.into()];
    expected.extend(SPECIAL.iter().map(|s| s.to_string()));
    assert_eq!(sorted(guilder.clone()), sorted(expected));
    assert_contract_sorted(&florin);
    assert_contract_sorted(&guilder);
    for wec in ["florin", "guilder"] {
        for entry in plan["destinations"][wec]["objects"].as_array().unwrap() {
            let kind = entry["object"]["kind"].as_str().unwrap();
            assert!(
                !matches!(
                    kind,
                    "Customizer" | "EdgePlacement" | "SinglePlacementSlice"
                ),
                "control object {kind} delivered to {wec}"
            );
            assert_ne!(
                entry["object"]["metadata"]["name"], "kube-root-ca.crt",
                "system ConfigMap delivered to {wec}"
            );
            assert!(
                !entry["object"]["apiVersion"]
                    .as_str()
                    .unwrap()
                    .starts_with("edge.kubestellar.io/"),
                "{entry:#}"
            );
            // Every mailbox copy is marked as projected (§10.5).
            assert_eq!(
                entry["object"]["metadata"]["labels"]["edge.kubestellar.io/projected"], "yes",
                "{wec}: {entry:#}"
            );
            // Provenance: the WDS and the EP that put it there.
            let id = common::object_id(entry);
            let (wds, ep) = if id.contains("commonstuff") {
                ("wmw-c", "edge-placement-c")
            } else {
                ("wmw-s", "edge-placement-s")
            };
            assert_eq!(entry["wds"], wds, "{id}");
            assert_eq!(entry["placements"], json!([ep]), "{id}");
        }
    }

    // The EPs' own feedback lists what their *what* selected; the CRD is an implicit addition.
    let s_objects: Vec<String> = s["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sorted(s_objects),
        sorted(SPECIAL.iter().map(|s| s.to_string()).collect())
    );
    let c_objects: Vec<String> = c["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sorted(c_objects),
        sorted(vec![COMMON_CM.into(), COMMON_RS.into()])
    );

    // The explicitly selected Namespace keeps its WDS metadata (§10.6).
    let ns = wec_object(&plan, "guilder", SPECIAL_NS);
    assert_eq!(ns["object"]["metadata"]["labels"]["special"], "yes");
    assert_eq!(ns["object"]["metadata"]["annotations"]["just-for"], "fun");

    // Customization (§10.6).
    for wec in ["florin", "guilder"] {
        assert_eq!(
            env_value(wec_object(&plan, wec, COMMON_RS)),
            "env is prod",
            "{wec}"
        );
        let common_page = page(wec_object(&plan, wec, COMMON_CM));
        assert!(
            common_page.contains("This is a common web site."),
            "{common_page}"
        );
        assert!(
            common_page.contains(&format!("Running in {wec}.")),
            "{wec}: {common_page}"
        );
        assert!(!common_page.contains("%("), "{common_page}");
    }
    assert_eq!(
        env_value(wec_object(&plan, "guilder", SPECIAL_DEPLOY)),
        "in prod env"
    );
    let special_page = page(wec_object(&plan, "guilder", SPECIAL_CM));
    assert!(special_page.contains("This is a special web site."));
    assert!(
        special_page.contains("Running in guilder."),
        "{special_page}"
    );
    // Only the customized field changed: the rest of the ReplicaSet is as written.
    let rs = &wec_object(&plan, "florin", COMMON_RS)["object"];
    assert_eq!(
        rs["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"],
        "EXAMPLE_VAR"
    );
    assert_eq!(
        rs["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostPort"],
        8081
    );
    assert_eq!(rs["spec"]["replicas"], 1);

    // The CronTab arrives as written.
    let crontab = &wec_object(&plan, "guilder", CRONTAB)["object"];
    assert_eq!(crontab["spec"]["cronSpec"], "* * * * */5");
    assert_eq!(crontab["apiVersion"], "stable.example.com/v1");

    // Upsync rules (§10.5): florin group1 + group2; guilder group1 once, group2, group3.
    assert_eq!(
        upsync_groups(&plan, "florin"),
        ["group1.test", "group2.test"]
    );
    assert_eq!(
        upsync_groups(&plan, "guilder"),
        ["group1.test", "group2.test", "group3.test"]
    );
    let g1 = &plan["destinations"]["guilder"]["upsync"][0];
    assert_eq!(g1["namespaces"], json!(["orbital"]));
    assert_eq!(g1["names"], json!(["george", "cosmo"]));
    assert_eq!(
        plan["destinations"]["guilder"]["upsync"][2]["names"],
        json!(["*"])
    );
}

#[test]
fn yaml_output_is_the_same_value_as_json() {
    let (repo, _) = example1();
    let json = plan_json(&repo, &[]);
    let out = repo.plan(&["-o", "yaml"]).run();
    out.assert_exit(0);
    let yaml: Value = serde_saphyr::from_str(&out.stdout).expect("plan -o yaml parses");
    assert_eq!(yaml, json);
}

#[test]
fn output_is_byte_for_byte_reproducible() {
    let (repo, _) = example1();
    for format in ["json", "yaml", "table"] {
        let first = repo.plan(&["-o", format]).run();
        first.assert_exit(0);
        let second = repo.plan(&["-o", format]).run();
        second.assert_exit(0);
        assert_eq!(first.stdout, second.stdout, "-o {format}");
        assert!(!first.stdout.is_empty());
    }
}

/// The same layout in a second, independently made repository gives the same output apart from
/// the revision (nothing depends on the path, the clock or hash-map order).
#[test]
fn output_does_not_depend_on_the_repository() {
    let (a, sha_a) = example1();
    let (b, sha_b) = example1();
    let mut pa = plan_json(&a, &[]);
    let mut pb = plan_json(&b, &[]);
    assert_eq!(pa["revision"], sha_a.as_str());
    assert_eq!(pb["revision"], sha_b.as_str());
    pa["revision"] = Value::Null;
    pb["revision"] = Value::Null;
    assert_eq!(pa, pb);
}

#[test]
fn snapshot_json() {
    let (repo, _) = example1();
    let mut plan = plan_json(&repo, &[]);
    // The commit id depends on the clock: redact it (insta's redactions feature is not enabled).
    plan["revision"] = Value::from("[revision]");
    insta::assert_json_snapshot!("example1_plan_json", plan);
}

#[test]
fn snapshot_table() {
    let (repo, sha) = example1();
    let out = repo.plan(&["-o", "table"]).run();
    out.assert_exit(0);
    assert!(out.stdout.contains(&sha), "the table names the revision");
    let table = out.stdout.replace(&sha, "[revision]");
    insta::assert_snapshot!("example1_plan_table", table);
}

/// Spec §10.8.1: deleting edge-placement-c leaves florin with nothing and guilder with only the
/// special workload and the group1.test and group3.test upsync rules.
#[test]
fn variant_delete_edge_placement_c() {
    let (repo, first) = example1();
    repo.remove("wds/wmw-c/edge-placement-c.yaml");
    let second = repo.commit("delete edge-placement-c");

    let plan = plan_json(&repo, &["--rev", &second]);
    assert_eq!(plan["revision"], second.as_str());
    assert_eq!(problems(&plan), Vec::<Value>::new());
    let names: Vec<&str> = plan["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["edge-placement-s"]);
    // Every WEC is still listed, florin with nothing at all.
    assert_eq!(wec_objects(&plan, "florin"), Vec::<String>::new());
    assert_eq!(plan["destinations"]["florin"]["upsync"], json!([]));
    assert_eq!(plan["destinations"]["florin"]["namespaces"], json!([]));
    assert_eq!(
        wec_objects(&plan, "guilder"),
        SPECIAL.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(
        upsync_groups(&plan, "guilder"),
        ["group1.test", "group3.test"]
    );

    // The first commit is still evaluated as before.
    let before = plan_json(&repo, &["--rev", &first]);
    assert_eq!(before["revision"], first.as_str());
    assert_eq!(
        sorted(wec_objects(&before, "florin")),
        sorted(vec![COMMON_CM.into(), COMMON_RS.into()])
    );
}

/// Spec §10.8.2: removing `extended: "yes"` from edge-placement-s's selector moves the special
/// workload to florin too, customized for florin.
#[test]
fn variant_relabel_moves_special_workload_to_florin() {
    let (repo, _) = example1();
    let path = repo.join("wds/wmw-s/edge-placement-s.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace(
        r#"matchLabels: {"env": "prod", "extended": "yes"}"#,
        r#"matchLabels: {"env": "prod"}"#,
    );
    assert_ne!(
        text, edited,
        "the example's selector changed; update this test"
    );
    std::fs::write(&path, edited).unwrap();
    let second = repo.commit("select every prod location");

    let plan = plan_json(&repo, &["--rev", &second]);
    assert_eq!(problems(&plan), Vec::<Value>::new());
    let s = placement(&plan, "wmw-s", "edge-placement-s");
    assert_eq!(
        destinations_of(s),
        vec![
            ("florin".to_string(), "florin".to_string()),
            ("guilder".to_string(), "guilder".to_string())
        ]
    );
    let mut expected: Vec<String> = vec![COMMON_CM.into(), COMMON_RS.into()];
    expected.extend(SPECIAL.iter().map(|s| s.to_string()));
    for wec in ["florin", "guilder"] {
        assert_eq!(
            sorted(wec_objects(&plan, wec)),
            sorted(expected.clone()),
            "{wec}"
        );
        assert_eq!(
            upsync_groups(&plan, wec),
            ["group1.test", "group2.test", "group3.test"]
        );
    }
    assert_eq!(
        env_value(wec_object(&plan, "florin", SPECIAL_DEPLOY)),
        "in prod env"
    );
    assert!(page(wec_object(&plan, "florin", SPECIAL_CM)).contains("Running in florin."));
}
