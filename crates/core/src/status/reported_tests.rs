use base64::Engine as _;
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("test objects are YAML")
}

const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: speciald
  namespace: specialstuff
  uid: 0b6c2c1e-1111-2222-3333-444455556666
  resourceVersion: '8812'
  selfLink: /apis/apps/v1/namespaces/specialstuff/deployments/speciald
  generation: 2
  creationTimestamp: '2026-01-01T00:00:00Z'
  labels: {app: speciald, gitstellar.io/managed-by: gitstellar}
  annotations: {gitstellar.io/origin: wmw-s/apps/Deployment/specialstuff/speciald}
  managedFields:
  - {manager: gitstellar, operation: Apply, time: '2026-01-01T00:00:00Z'}
spec:
  replicas: 1
  template: {spec: {containers: [{name: c, image: busybox}]}}
status:
  observedGeneration: 2
  replicas: 1
  updatedReplicas: 1
  readyReplicas: 1
  availableReplicas: 1
  conditions:
  - type: Available
    status: 'True'
    lastUpdateTime: '2026-01-01T00:01:07Z'
    lastTransitionTime: '2026-01-01T00:00:30Z'
    reason: MinimumReplicasAvailable
  - type: Progressing
    status: 'True'
    lastUpdateTime: '2026-01-01T00:01:07Z'
    lastTransitionTime: '2026-01-01T00:00:05Z'
    reason: NewReplicaSetAvailable
";

#[test]
fn reported_state_is_generation_and_status_without_noise() {
    let state = reported_state(&yaml(DEPLOYMENT));
    assert_eq!(
        state,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"generation": 2, "name": "speciald", "namespace": "specialstuff"},
            "status": {
                "availableReplicas": 1,
                "conditions": [
                    {"lastTransitionTime": "2026-01-01T00:00:30Z", "reason": "MinimumReplicasAvailable",
                     "status": "True", "type": "Available"},
                    {"lastTransitionTime": "2026-01-01T00:00:05Z", "reason": "NewReplicaSetAvailable",
                     "status": "True", "type": "Progressing"},
                ],
                "observedGeneration": 2,
                "readyReplicas": 1,
                "replicas": 1,
                "updatedReplicas": 1,
            },
        })
    );
}

#[test]
fn noise_is_removed_at_any_depth_of_status_and_only_there() {
    let mut object = yaml(
        "
apiVersion: v1
kind: Node
metadata: {name: node1, uid: u, resourceVersion: '1', managedFields: [], labels: {a: b}}
spec: {lastProbeTime: kept-in-spec}
status:
  lastProbeTime: x
  nested: {deeper: [{lastHeartbeatTime: y, lastTransitionTime: z, lastUpdateTime: w, keep: 1}]}
",
    );
    strip_noise(&mut object);
    assert_eq!(
        object,
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node1", "labels": {"a": "b"}},
            "spec": {"lastProbeTime": "kept-in-spec"},
            "status": {"nested": {"deeper": [{"lastTransitionTime": "z", "keep": 1}]}},
        })
    );
}

#[test]
fn a_heartbeat_alone_changes_no_byte() {
    let before = yaml(DEPLOYMENT);
    let mut after = before.clone();
    after["metadata"]["resourceVersion"] = json!("9999");
    after["status"]["conditions"][0]["lastUpdateTime"] = json!("2026-01-01T09:09:09Z");
    let render = |v: &Value| to_yaml(&reported_state(v), "test").expect("renders");
    assert_eq!(render(&before), render(&after));
    after["status"]["conditions"][0]["lastTransitionTime"] = json!("2026-01-01T09:09:09Z");
    assert_ne!(render(&before), render(&after), "a transition is a change");
}

#[test]
fn an_object_without_status_reports_its_identity_and_generation() {
    let state = reported_state(&yaml(
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: ns1, uid: u}, data: {k: v}}",
    ));
    assert_eq!(
        state,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns1"}})
    );
}

#[test]
fn a_secret_keeps_digests_only() {
    let secret = yaml(
        r#"
apiVersion: v1
kind: Secret
type: Opaque
metadata:
  name: db
  namespace: app
  uid: u
  labels: {app: db, leaked: hunter2}
  annotations:
    note: keep me
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"password":"aHVudGVyMg=="}}'
    copy: 'password is hunter2'
data:
  password: aHVudGVyMg==
  broken: '%%%'
stringData:
  token: s3cr3t-t0ken
extra: hunter2
"#,
    );
    let out = clean(&secret);
    assert_eq!(
        out,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "annotations": {"note": "keep me"},
                "labels": {"app": "db"},
                "name": "db",
                "namespace": "app",
            },
            "data": {
                "broken": digest(b"%%%"),
                "password": digest(b"hunter2"),
            },
            "stringData": {"token": digest(b"s3cr3t-t0ken")},
            "type": "Opaque",
        })
    );
    assert_eq!(
        digest(b"hunter2"),
        "sha256:f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7"
    );
}

#[test]
fn a_configmap_named_secret_is_not_redacted() {
    let cm = yaml("{apiVersion: v1, kind: ConfigMap, metadata: {name: secret}, data: {k: v}}");
    assert_eq!(clean(&cm)["data"], json!({"k": "v"}));
    let other =
        yaml("{apiVersion: example.com/v1, kind: Secret, metadata: {name: s}, data: {k: v}}");
    assert!(!is_secret(&other));
}

#[test]
fn key_order_does_not_change_bytes() {
    let a = json!({"kind": "ConfigMap", "apiVersion": "v1", "status": {"b": 1, "a": 2}, "metadata": {"namespace": "ns1", "name": "c"}});
    let b = json!({"apiVersion": "v1", "metadata": {"name": "c", "namespace": "ns1"}, "kind": "ConfigMap", "status": {"a": 2, "b": 1}});
    let render = |v: &Value| to_yaml(&reported_state(v), "test").expect("renders");
    assert_eq!(render(&a), render(&b));
    assert!(render(&a).starts_with("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"));
}

#[test]
fn identity_comes_from_api_version_kind_namespace_and_name() {
    let id = object_id(&yaml(DEPLOYMENT)).expect("named");
    assert_eq!(id.to_string(), "apps/Deployment/specialstuff/speciald");
    let id = object_id(&yaml(
        "{apiVersion: v1, kind: Namespace, metadata: {name: ns1}}",
    ))
    .expect("named");
    assert_eq!(id.to_string(), "core/Namespace/_cluster/ns1");
    assert!(matches!(
        object_id(&yaml("{apiVersion: v1, kind: Namespace, metadata: {}}")),
        Err(ReportedError::Identity {
            missing: "metadata.name"
        })
    ));
}

fn reports() -> Vec<Reported> {
    let live = yaml(DEPLOYMENT);
    let cm = yaml(
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: commonstuff, namespace: commonstuff}, data: {a: b}}",
    );
    vec![
        Reported::from_live(object_id(&cm).expect("named"), Some(&cm)),
        Reported::from_live(
            ObjectId::new("", "ConfigMap", Some("specialstuff"), "gone"),
            None,
        ),
        Reported::from_live(object_id(&live).expect("named"), Some(&live)),
    ]
}

fn as_text(files: &Files) -> String {
    files
        .iter()
        .map(|(path, bytes)| format!("--- {path}\n{}", String::from_utf8_lossy(bytes)))
        .collect()
}

#[test]
fn a_wec_reported_ref_holds_states_and_health() {
    let files = render_reported_ref(&reports()).expect("renders");
    insta::assert_snapshot!(as_text(&files));
    let health = read_health(&files[HEALTH_FILE]).expect("reads back");
    assert_eq!(health.objects.len(), 3);
}

#[test]
fn the_status_branch_holds_the_same_bytes_and_the_wec_summary() {
    let reports = reports();
    let own = render_reported_ref(&reports).expect("renders");
    let files = render_status_files("guilder", &reports).expect("renders");
    insta::assert_snapshot!(as_text(&files));
    for r in &reports {
        assert_eq!(
            own.get(reported_ref_path(&r.id).as_str()),
            files.get(status_path("guilder", &r.id).as_str()),
            "{}",
            r.id
        );
    }
    assert!(matches!(
        render_status_files("..", &reports),
        Err(ReportedError::Path { .. })
    ));
}

fn secret_value() -> impl Strategy<Value = Vec<u8>> {
    // Long enough that finding it by chance in a name or a digest is out of the question.
    proptest::collection::vec(any::<u8>(), 12..40)
}

proptest! {
    /// No planted value, nor its base64, survives in the rendered bytes of a cleaned Secret,
    /// wherever the Secret carried it.
    #[test]
    fn no_secret_value_survives(
        data in proptest::collection::btree_map("[a-z]{1,8}", secret_value(), 1..4),
        text in proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{12,40}", 0..3),
        name in "[a-z]{1,10}",
    ) {
        let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
        let mut planted: Vec<Vec<u8>> = Vec::new();
        let mut data_json = Map::new();
        for (k, v) in &data {
            data_json.insert(k.clone(), json!(b64(v)));
            planted.push(v.clone());
            planted.push(b64(v).into_bytes());
        }
        let mut string_json = Map::new();
        for (k, v) in &text {
            string_json.insert(k.clone(), json!(v));
            planted.push(v.clone().into_bytes());
            planted.push(b64(v.as_bytes()).into_bytes());
        }
        let first_text = text.values().next().cloned().unwrap_or_default();
        let first_b64 = data.values().next().map(|v| b64(v)).unwrap_or_default();
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": "app",
                "annotations": {
                    LAST_APPLIED: json!({"data": data_json.clone(), "stringData": string_json.clone()}).to_string(),
                    "copied": format!("x{first_text}x"),
                    "copied-b64": format!("[{first_b64}]"),
                },
                "labels": {"l": first_b64.clone()},
            },
            "data": data_json,
            "stringData": string_json,
            "spec": {"shadow": first_b64},
        });
        let bytes = to_yaml(&clean(&secret), "secret").expect("renders").into_bytes();
        let reported = to_yaml(&reported_state(&secret), "secret").expect("renders").into_bytes();
        for value in &planted {
            for out in [&bytes, &reported] {
                prop_assert!(
                    !out.windows(value.len()).any(|w| w == value.as_slice()),
                    "{:?} survived in {}", String::from_utf8_lossy(value), String::from_utf8_lossy(out)
                );
            }
        }
        let cleaned = clean(&secret);
        for (k, v) in &data {
            prop_assert_eq!(&cleaned["data"][k], &json!(digest(v)));
        }
    }
}

/// A JSON value of a few levels, with maps whose keys come in any order.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("[a-zA-Z]{1,6}", inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// The same value with every map's keys in reverse order.
fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .rev()
                .map(|(k, v)| (k.clone(), reversed(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

proptest! {
    /// The rendered reported state and upsync copy depend on the content only: not on the order
    /// of keys, not on noise; and cleaning twice is cleaning once.
    #[test]
    fn rendering_is_deterministic_and_cleaning_idempotent(
        status in json_value(),
        spec in json_value(),
        version in "[0-9]{1,6}",
    ) {
        let live = json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "app", "resourceVersion": version, "generation": 1},
            "spec": spec,
            "status": status,
        });
        let mut noisy = reversed(&live);
        noisy["metadata"]["resourceVersion"] = json!("other");
        noisy["metadata"]["uid"] = json!("u");
        let render = |v: &Value| to_yaml(&reported_state(v), "w").expect("renders");
        prop_assert_eq!(render(&live), render(&noisy));
        let once = clean(&live);
        prop_assert_eq!(
            to_yaml(&clean(&once), "w").expect("renders"),
            to_yaml(&once, "w").expect("renders")
        );
        prop_assert_eq!(
            to_yaml(&clean(&noisy), "w").expect("renders"),
            to_yaml(&once, "w").expect("renders")
        );
    }
}
