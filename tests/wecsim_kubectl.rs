//! The real `kubectl` binary against wecsim: the quickstart's `gitstellar wecsim` command,
//! `apply --server-side` with conflicts, `get` (tables and JSON), `rollout status`, `delete`,
//! and `get -w`. kubectl must be on PATH (`.ci/run` installs it).

use gitstellar::wecsim::{Behaviour, SimOptions, Simulator};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const MANIFEST: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
  labels:
    app: web
    tier: front
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
"#;

struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(dir: &Path) -> Kubectl {
        Kubectl {
            kubeconfig: dir.join("k.yaml"),
            cache: dir.join("cache"),
        }
    }

    fn command(&self, context: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--context")
            .arg(context)
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, context: &str, args: &[&str]) -> Out {
        let out = self
            .command(context, args)
            .output()
            .await
            .expect("kubectl must be installed and on PATH");
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, context: &str, args: &[&str]) -> String {
        let out = self.run(context, args).await;
        assert!(out.ok, "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }

    async fn json(&self, context: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(context, &all).await).unwrap()
    }
}

async fn start_in_process(dir: &Path) -> Simulator {
    let sim = Simulator::start(SimOptions {
        clusters: vec!["florin".into(), "guilder".into()],
        behaviour: Behaviour {
            ready_delay: Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    sim.write_kubeconfig(&dir.join("k.yaml")).unwrap();
    std::fs::write(dir.join("some.yaml"), MANIFEST).unwrap();
    sim
}

#[tokio::test]
async fn quickstart_command_serves_kubectl_apply_and_get() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("k.yaml");
    std::fs::write(dir.path().join("some.yaml"), MANIFEST).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitstellar"))
        .args(["wecsim", "--clusters", "florin,guilder", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ready = Vec::new();
    while ready.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("gitstellar wecsim exited early");
        if line.contains(" ready at ") {
            ready.push(line);
        }
    }
    assert!(
        ready[0].contains("florin") && ready[1].contains("guilder"),
        "{ready:?}"
    );

    let k = Kubectl::new(dir.path());
    let some = dir.path().join("some.yaml");
    let applied = k
        .ok(
            "florin",
            &["apply", "--server-side", "-f", some.to_str().unwrap()],
        )
        .await;
    assert!(
        applied.contains("deployment.apps/web serverside-applied"),
        "{applied}"
    );
    let table = k
        .ok("florin", &["get", "deploy,cm,svc", "-n", "demo"])
        .await;
    assert!(
        table.contains("deployment.apps/web")
            && table.contains("configmap/settings")
            && table.contains("service/web"),
        "{table}"
    );
    let cm = k
        .json("florin", &["get", "cm", "settings", "-n", "demo"])
        .await;
    assert_eq!(cm["data"]["color"], "blue");
    // The other context is another cluster.
    let missing = k.run("guilder", &["get", "ns", "demo"]).await;
    assert!(
        !missing.ok && missing.stderr.contains("NotFound"),
        "{}",
        missing.stderr
    );
    child.kill().await.unwrap();
}

/// `gitstellar wecsim` with `--down`: the down cluster is announced as down, not ready, and
/// a cluster added through the admin endpoint shows up in the `--kubeconfig-out` file.
#[tokio::test]
async fn command_announces_down_clusters_and_grows_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("k.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitstellar"))
        .args([
            "wecsim",
            "--clusters",
            "florin,guilder",
            "--down",
            "guilder",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut announced = Vec::new();
    let admin = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("gitstellar wecsim exited early");
        if let Some(rest) = line.strip_prefix("wecsim: admin at ") {
            break rest.split(';').next().unwrap().to_string();
        }
        announced.push(line);
    };
    assert_eq!(announced.len(), 2, "{announced:?}");
    assert!(
        announced[0].starts_with("wecsim: cluster florin ready at "),
        "{announced:?}"
    );
    assert!(
        announced[1].starts_with("wecsim: cluster guilder down at ")
            && announced[1].contains("/admin/clusters/guilder/faults"),
        "{announced:?}"
    );

    let k = Kubectl::new(dir.path());
    let (code, out) = admin_request("POST", &admin, r#"{"name": "buttercup"}"#).await;
    assert_eq!(code, 201, "{out}");
    let contexts = k
        .ok("florin", &["config", "get-contexts", "-o", "name"])
        .await;
    assert_eq!(
        contexts.lines().collect::<Vec<_>>(),
        ["buttercup", "florin", "guilder"]
    );
    k.ok("buttercup", &["create", "namespace", "new"]).await;
    let (code, out) = admin_request("DELETE", &format!("{admin}/buttercup"), "").await;
    assert_eq!(code, 200, "{out}");
    let contexts = k
        .ok("florin", &["config", "get-contexts", "-o", "name"])
        .await;
    assert_eq!(contexts.lines().collect::<Vec<_>>(), ["florin", "guilder"]);
    child.kill().await.unwrap();
}

/// A bare HTTP/1.1 request to the admin endpoint: the status code and the whole response.
async fn admin_request(method: &str, url: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!(
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

#[tokio::test]
async fn apply_server_side_conflicts_rollout_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let _sim = start_in_process(dir.path()).await;
    let k = Kubectl::new(dir.path());
    let some = dir.path().join("some.yaml");
    let some = some.to_str().unwrap();
    k.ok("florin", &["apply", "--server-side", "-f", some])
        .await;
    // Re-applying is idempotent.
    let again = k
        .ok("florin", &["apply", "--server-side", "-f", some])
        .await;
    assert!(
        again.contains("configmap/settings serverside-applied"),
        "{again}"
    );

    // The Deployment rolls out (status filled by the simulated controller, seen via watch).
    let rollout = k
        .ok(
            "florin",
            &[
                "rollout",
                "status",
                "deploy/web",
                "-n",
                "demo",
                "--timeout=30s",
            ],
        )
        .await;
    assert!(rollout.contains("successfully rolled out"), "{rollout}");
    let table = k
        .ok("florin", &["get", "deploy", "web", "-n", "demo"])
        .await;
    assert!(table.contains("2/2"), "{table}");

    // Another field manager changing owned fields conflicts, unless forced.
    let changed = dir.path().join("changed.yaml");
    let deployment_only = MANIFEST.split("---\n").nth(2).unwrap();
    std::fs::write(
        &changed,
        deployment_only.replace("replicas: 2", "replicas: 4"),
    )
    .unwrap();
    let changed = changed.to_str().unwrap();
    let conflict = k
        .run(
            "florin",
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "-f",
                changed,
            ],
        )
        .await;
    assert!(!conflict.ok, "conflicting apply succeeded");
    assert!(
        conflict.stderr.contains("conflict") && conflict.stderr.contains(".spec.replicas"),
        "{}",
        conflict.stderr
    );
    k.ok(
        "florin",
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            changed,
        ],
    )
    .await;
    let deploy = k
        .json("florin", &["get", "deploy", "web", "-n", "demo"])
        .await;
    assert_eq!(deploy["spec"]["replicas"], 4);
    assert_eq!(deploy["metadata"]["generation"], 2);

    // A label dropped from the manifest disappears from the cluster.
    std::fs::write(
        dir.path().join("fewer.yaml"),
        MANIFEST
            .replace("    tier: front\n", "")
            .replace("replicas: 2", "replicas: 4"),
    )
    .unwrap();
    let fewer = dir.path().join("fewer.yaml");
    k.ok(
        "florin",
        &["apply", "--server-side", "-f", fewer.to_str().unwrap()],
    )
    .await;
    let cm = k
        .json("florin", &["get", "cm", "settings", "-n", "demo"])
        .await;
    assert_eq!(cm["metadata"]["labels"], json!({"app": "web"}));

    // Label selectors through kubectl.
    let selected = k
        .ok(
            "florin",
            &["get", "cm", "-n", "demo", "-l", "app=web", "-o", "name"],
        )
        .await;
    assert_eq!(selected.trim(), "configmap/settings");

    // kubectl scale goes through the /scale subresource.
    let scaled = k
        .ok(
            "florin",
            &["scale", "deploy/web", "-n", "demo", "--replicas=6"],
        )
        .await;
    assert!(scaled.contains("scaled"), "{scaled}");
    let deploy = k
        .json("florin", &["get", "deploy", "web", "-n", "demo"])
        .await;
    assert_eq!(deploy["spec"]["replicas"], 6);

    let deleted = k.ok("florin", &["delete", "-f", some]).await;
    assert!(deleted.contains("namespace \"demo\" deleted"), "{deleted}");
    // Polled rather than `kubectl wait --for=delete`, which older kubectl fails on when the
    // namespace is already gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ns = k.run("florin", &["get", "namespace", "demo"]).await;
        if !ns.ok && ns.stderr.contains("NotFound") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "namespace demo never went away"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gone = k
        .run("florin", &["get", "cm", "settings", "-n", "demo"])
        .await;
    assert!(
        !gone.ok && gone.stderr.contains("NotFound"),
        "{}",
        gone.stderr
    );
}

#[tokio::test]
async fn get_watch_prints_events() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_in_process(dir.path()).await;
    let k = Kubectl::new(dir.path());
    let cms: Api<ConfigMap> = Api::namespaced(sim.client("guilder").unwrap(), "default");
    let marker: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "marker"}})).unwrap();
    cms.create(&PostParams::default(), &marker).await.unwrap();
    let mut child = k
        .command(
            "guilder",
            &[
                "get",
                "configmaps",
                "-n",
                "default",
                "-w",
                "--output-watch-events",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl must be installed and on PATH");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // kubectl lists, prints, then watches from the list's resourceVersion: once the marker is
    // printed, every later change reaches it through the watch.
    loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("kubectl get -w printed nothing for 20s")
            .unwrap()
            .expect("kubectl get -w ended");
        if line.contains("marker") {
            break;
        }
    }
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "watched"}, "data": {"a": "1"}}))
            .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.patch(
        "watched",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"b": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("watched", &DeleteParams::default())
        .await
        .unwrap();

    let mut events = Vec::new();
    while events.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("kubectl get -w printed nothing for 20s")
            .unwrap()
            .expect("kubectl get -w ended");
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(1) == Some(&"watched") {
            events.push(format!("{} {}", cols[0], cols[2]));
        }
    }
    assert_eq!(events, vec!["ADDED 1", "MODIFIED 2", "DELETED 2"]);
    child.kill().await.unwrap();
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
"#;

#[tokio::test]
async fn crd_then_custom_resources_with_printer_columns() {
    let dir = tempfile::tempdir().unwrap();
    let _sim = start_in_process(dir.path()).await;
    let k = Kubectl::new(dir.path());
    let crd = dir.path().join("crd.yaml");
    std::fs::write(&crd, CRD).unwrap();
    k.ok(
        "guilder",
        &["apply", "--server-side", "-f", crd.to_str().unwrap()],
    )
    .await;
    k.ok(
        "guilder",
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=30s",
        ],
    )
    .await;
    let widget = dir.path().join("widget.yaml");
    std::fs::write(
        &widget,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: default\nspec:\n  size: 7\n",
    )
    .unwrap();
    k.ok(
        "guilder",
        &["apply", "--server-side", "-f", widget.to_str().unwrap()],
    )
    .await;
    let table = k.ok("guilder", &["get", "wd"]).await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], vec!["NAME", "SIZE", "AGE"], "{table}");
    assert_eq!(&lines[1][..2], &["w1", "7"], "{table}");
    // The CRD's own resource list shows up in kubectl's discovery.
    let resources = k
        .ok("guilder", &["api-resources", "--api-group=example.com"])
        .await;
    assert!(
        resources.contains("widgets") && resources.contains("Widget"),
        "{resources}"
    );
    k.ok("guilder", &["delete", "crd", "widgets.example.com"])
        .await;
}

#[tokio::test]
async fn imperative_create_commands_send_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let _sim = start_in_process(dir.path()).await;
    let k = Kubectl::new(dir.path());
    k.ok("florin", &["create", "namespace", "team"]).await;
    let ns = k.json("florin", &["get", "namespace", "team"]).await;
    assert_eq!(ns["status"]["phase"], "Active");
    k.ok(
        "florin",
        &[
            "create",
            "configmap",
            "cfg",
            "-n",
            "team",
            "--from-literal=a=b",
            "--from-literal=c=d",
        ],
    )
    .await;
    let cm = k
        .json("florin", &["get", "configmap", "cfg", "-n", "team"])
        .await;
    assert_eq!(cm["data"], json!({"a": "b", "c": "d"}));
    k.ok(
        "florin",
        &[
            "create",
            "secret",
            "generic",
            "s1",
            "-n",
            "team",
            "--from-literal=password=hunter2",
        ],
    )
    .await;
    let secret = k
        .json("florin", &["get", "secret", "s1", "-n", "team"])
        .await;
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    assert_eq!(secret["type"], "Opaque");
    // Every generator of kubectl's typed clients: current kubectl sends these as protobuf,
    // Debian's 1.20 as JSON; both must work and store what JSON would have.
    let creates: &[&[&str]] = &[
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=80",
        ],
        &[
            "create",
            "job",
            "once",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
        &[
            "create",
            "cronjob",
            "nightly",
            "--image=busybox",
            "--schedule=0 3 * * *",
        ],
        &["create", "service", "clusterip", "web", "--tcp=80:8080"],
        &["create", "service", "nodeport", "np", "--tcp=81:8081"],
        &["create", "serviceaccount", "robot"],
        &[
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods,configmaps",
        ],
        &[
            "create",
            "rolebinding",
            "readers",
            "--role=reader",
            "--serviceaccount=team:robot",
        ],
        &[
            "create",
            "clusterrole",
            "viewer",
            "--verb=get",
            "--resource=nodes",
        ],
        &[
            "create",
            "clusterrolebinding",
            "viewers",
            "--clusterrole=viewer",
            "--user=ann",
        ],
        &[
            "create",
            "poddisruptionbudget",
            "web",
            "--selector=app=web",
            "--min-available=1",
        ],
        &["create", "ingress", "web", "--rule=example.com/=web:80"],
        &[
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--description=important",
        ],
        &["create", "quota", "small", "--hard=pods=10,requests.cpu=2"],
        &[
            "create", "secret", "tls", "tls", "--cert", "CERT", "--key", "KEY",
        ],
        &[
            "create",
            "secret",
            "docker-registry",
            "pull",
            "--docker-server=r.example",
            "--docker-username=u",
            "--docker-password=p",
        ],
        &[
            "run",
            "one",
            "--image=nginx",
            "--port=80",
            "--labels=app=one",
            "--env=A=B",
        ],
    ];
    let pair = rcgen::generate_simple_self_signed(vec!["example.com".to_string()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), pair.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), pair.signing_key.serialize_pem()).unwrap();
    let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    for args in creates {
        // The namespace first: what follows `--` is the container's command.
        let mut all: Vec<&str> = vec!["-n", "team"];
        all.extend(args.iter().map(|a| match *a {
            "CERT" => crt.to_str().unwrap(),
            "KEY" => key.to_str().unwrap(),
            a => a,
        }));
        k.ok("florin", &all).await;
    }
    let deploy = k
        .json("florin", &["get", "deploy", "web", "-n", "team"])
        .await;
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(
        deploy["spec"]["selector"]["matchLabels"],
        json!({"app": "web"})
    );
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(container["ports"][0]["containerPort"], 80);
    // The defaulted strategy kubectl 1.20 leaves out is not invented; the generator's fields are kept.
    assert_eq!(deploy["metadata"]["labels"], json!({"app": "web"}));
    let job = k
        .json("florin", &["get", "job", "once", "-n", "team"])
        .await;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["echo", "hi"])
    );
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
    let cron = k
        .json("florin", &["get", "cronjob", "nightly", "-n", "team"])
        .await;
    assert_eq!(cron["spec"]["schedule"], "0 3 * * *");
    let svc = k.json("florin", &["get", "svc", "web", "-n", "team"]).await;
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    // IntOrString: an int target port stays a number.
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    let np = k.json("florin", &["get", "svc", "np", "-n", "team"]).await;
    assert_eq!(np["spec"]["type"], "NodePort");
    let role = k
        .json("florin", &["get", "role", "reader", "-n", "team"])
        .await;
    assert_eq!(role["rules"][0]["verbs"], json!(["get", "list"]));
    assert_eq!(role["rules"][0]["resources"], json!(["pods", "configmaps"]));
    let binding = k
        .json("florin", &["get", "rolebinding", "readers", "-n", "team"])
        .await;
    assert_eq!(binding["roleRef"]["name"], "reader");
    assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(binding["subjects"][0]["name"], "robot");
    let crb = k
        .json("florin", &["get", "clusterrolebinding", "viewers"])
        .await;
    assert_eq!(crb["subjects"][0]["name"], "ann");
    let pdb = k.json("florin", &["get", "pdb", "web", "-n", "team"]).await;
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let ingress = k
        .json("florin", &["get", "ingress", "web", "-n", "team"])
        .await;
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "example.com");
    // `http` is an inline field in JSON, a nested message in protobuf.
    assert_eq!(
        rule["http"]["paths"][0]["backend"]["service"]["port"]["number"],
        80
    );
    let pc = k.json("florin", &["get", "priorityclass", "high"]).await;
    assert_eq!(pc["value"], 1000);
    let quota = k
        .json("florin", &["get", "quota", "small", "-n", "team"])
        .await;
    // Quantities are strings in JSON.
    assert_eq!(
        quota["spec"]["hard"],
        json!({"pods": "10", "requests.cpu": "2"})
    );
    let tls = k
        .json("florin", &["get", "secret", "tls", "-n", "team"])
        .await;
    assert_eq!(tls["type"], "kubernetes.io/tls");
    assert!(
        tls["data"]["tls.crt"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{tls}"
    );
    let pull = k
        .json("florin", &["get", "secret", "pull", "-n", "team"])
        .await;
    assert_eq!(pull["type"], "kubernetes.io/dockerconfigjson");
    let pod = k.json("florin", &["get", "pod", "one", "-n", "team"]).await;
    assert_eq!(pod["metadata"]["labels"], json!({"app": "one"}));
    assert_eq!(
        pod["spec"]["containers"][0]["env"],
        json!([{"name": "A", "value": "B"}])
    );
    // What a Job made from a CronJob carries over (kubectl sends the Job as protobuf too).
    k.ok(
        "florin",
        &[
            "create",
            "job",
            "now",
            "--from=cronjob/nightly",
            "-n",
            "team",
        ],
    )
    .await;
    let now = k.json("florin", &["get", "job", "now", "-n", "team"]).await;
    assert_eq!(
        now["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert_eq!(now["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    // kubectl's own kinds wecsim does not serve are still answered with 404, not a decode error.
    let token = k
        .run("florin", &["create", "token", "robot", "-n", "team"])
        .await;
    assert!(!token.ok, "{}", token.stdout);
}
