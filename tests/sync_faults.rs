//! Push mode when things go wrong: the operator's mistakes (no kubeconfig, a missing context,
//! unreadable credentials) are usage errors that record nothing; an unreachable WEC keeps the
//! record of what was last applied there; a hung or slow WEC delays no other WEC's recorded
//! outcome and is cut off at its deadline. The real binary, a real repository, simulated WECs.

use gitstellar_testkit as common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{GitRepo, TestCommand};
use gitstellar::wecsim::{FaultSettings, Simulator};
use kube::config::{Cluster, Context, Kubeconfig, NamedCluster, NamedContext};

const REPORTED: &str = "refs/heads/gitstellar/reported/";

struct Fixture {
    repo: GitRepo,
    sim: Simulator,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Fixture {
    async fn new() -> Fixture {
        let common::SimulatedWecs {
            sim,
            dir,
            kubeconfig,
        } = common::simulated_wecs(&["florin", "guilder"]).await;
        Fixture {
            repo: common::example1_repo(),
            sim,
            dir,
            kubeconfig,
        }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig.clone()
    }

    /// The simulator's kubeconfig plus one more context (and cluster) named `name`.
    fn kubeconfig_with(&self, name: &str, server: &str, file: &str) -> PathBuf {
        let mut config: Kubeconfig = self.sim.kubeconfig();
        config.clusters.push(NamedCluster {
            name: name.into(),
            cluster: Some(Cluster {
                server: Some(server.into()),
                ..Default::default()
            }),
            other: Default::default(),
        });
        config.contexts.push(NamedContext {
            name: name.into(),
            context: Some(Context {
                cluster: name.into(),
                user: Some("florin".into()),
                ..Default::default()
            }),
            other: Default::default(),
        });
        let path = self.dir.path().join(file);
        std::fs::write(&path, serde_saphyr::to_string(&config).unwrap()).unwrap();
        path
    }

    /// `reconcile --sync` with these extra arguments, run to completion off the test's runtime.
    async fn reconcile(&self, args: &[&str]) -> common::Outcome {
        let mut cmd = TestCommand::new();
        cmd.arg("reconcile")
            .arg("--repo")
            .arg(self.repo.path())
            .arg("--sync")
            .args(args);
        tokio::task::spawn_blocking(move || cmd.run())
            .await
            .unwrap()
    }

    /// Every gitstellar ref and its commit.
    fn refs(&self) -> String {
        self.repo.git(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads/gitstellar/",
        ])
    }

    fn reported(&self, wec: &str) -> Option<String> {
        common::rev(self.repo.path(), &format!("{REPORTED}{wec}"))
    }

    fn sync_yaml(&self, wec: &str) -> serde_json::Value {
        let text = self
            .repo
            .git(&["show", &format!("{REPORTED}{wec}:sync.yaml")]);
        serde_saphyr::from_str(&text).unwrap()
    }
}

/// The binary, started and left running (killed when dropped).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_reconcile(repo: &Path, args: &[&str]) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_gitstellar"))
        .arg("reconcile")
        .arg("--repo")
        .arg(repo)
        .arg("--sync")
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("RUST_LOG")
        .env_remove("GITSTELLAR_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running(child)
}

/// Polls the repository until `wec`'s reported ref exists or the process ends; returns whether
/// the ref appeared while the process was still running, and what `other`'s ref was then.
fn recorded_while_running(
    repo: &Path,
    process: &mut Running,
    wec: &str,
    other: &str,
) -> (bool, Option<String>) {
    loop {
        if let Some(_commit) = common::rev(repo, &format!("{REPORTED}{wec}")) {
            let other_ref = common::rev(repo, &format!("{REPORTED}{other}"));
            let running = process.0.try_wait().unwrap().is_none();
            return (running, other_ref);
        }
        if process.0.try_wait().unwrap().is_some() {
            return (false, None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `reconcile --sync ARGS` and watches florin's reported ref appear (see
/// [`recorded_while_running`]); then waits for the end. Off the test's runtime, which serves the
/// simulated WECs.
async fn watch(repo: &Path, args: Vec<String>) -> Watched {
    let repo = repo.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let mut process = spawn_reconcile(&repo, &args);
        // Each stdout line with when it came.
        let stdout = process.0.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .map(|l| (started.elapsed(), l))
                .collect::<Vec<_>>()
        });
        let seen = recorded_while_running(&repo, &mut process, "florin", "guilder");
        let (status, _, stderr) = process.0.wait_with_output_ref();
        let ended = started.elapsed();
        let lines = reader.join().unwrap();
        Watched {
            recorded_while_running: seen.0,
            other_then: seen.1,
            status,
            stdout: lines.iter().map(|(_, l)| format!("{l}\n")).collect(),
            lines,
            stderr,
            ended,
        }
    })
    .await
    .unwrap()
}

/// What [`watch`] saw.
struct Watched {
    /// Whether florin's reported ref appeared while the process was running.
    recorded_while_running: bool,
    /// guilder's reported ref at that moment.
    other_then: Option<String>,
    status: std::process::ExitStatus,
    stdout: String,
    /// Each stdout line, with when it came (from the start).
    lines: Vec<(Duration, String)>,
    stderr: String,
    /// When the process ended (from the start).
    ended: Duration,
}

impl Watched {
    /// When the first line starting with `prefix` came.
    #[track_caller]
    fn line_at(&self, prefix: &str) -> Duration {
        self.lines
            .iter()
            .find(|(_, l)| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{}", self.stdout))
            .0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_mistakes_are_usage_errors_and_record_nothing() {
    let f = Fixture::new().await;
    let config = f.kubeconfig();
    f.reconcile(&["--kubeconfig", config.to_str().unwrap()])
        .await
        .assert_exit(0);
    // A new revision, so that a pass would have something to write.
    let page = std::fs::read_to_string(f.repo.join("wds/wmw-s/httpd-htdocs.yaml")).unwrap();
    f.repo.write(
        "wds/wmw-s/httpd-htdocs.yaml",
        &page.replace("special web site", "very special web site"),
    );
    f.repo.commit("edit the special page");
    let before = f.refs();
    assert!(before.contains("reported/florin"), "{before}");

    // No such kubeconfig: exit 2, the file named, no ref moved (not even the mailboxes).
    let missing = f.dir.path().join("nowhere").join("config");
    let out = f
        .reconcile(&["--kubeconfig", missing.to_str().unwrap()])
        .await;
    out.assert_exit(2);
    assert!(
        out.stderr.contains(missing.to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert_eq!(f.refs(), before);

    // No kubeconfig at all (none given, none in KUBECONFIG or HOME): the same.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = TestCommand::new();
    cmd.arg("reconcile")
        .arg("--repo")
        .arg(f.repo.path())
        .arg("--sync")
        .env("HOME", home.path())
        .env_remove("KUBECONFIG");
    let out = tokio::task::spawn_blocking(move || cmd.run())
        .await
        .unwrap();
    out.assert_exit(2);
    assert!(out.stderr.contains(".kube/config"), "{}", out.stderr);
    assert_eq!(f.refs(), before);

    // Not a kubeconfig.
    let garbage = f.dir.path().join("garbage");
    std::fs::write(&garbage, "clusters: [: nope\n").unwrap();
    let out = f
        .reconcile(&["--kubeconfig", garbage.to_str().unwrap()])
        .await;
    out.assert_exit(2);
    assert!(
        out.stderr.contains(garbage.to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert_eq!(f.refs(), before);

    let reported = |f: &Fixture| {
        (
            f.reported("florin").unwrap(),
            f.reported("guilder").unwrap(),
        )
    };
    let reported_before = reported(&f);

    // A --wec-context naming no WEC, or naming no context of the kubeconfig; a WEC without a
    // context: exit 2 naming it, no reported ref moved.
    for (args, named) in [
        (vec!["--wec-context", "gilder=florin"], "gilder"),
        (vec!["--wec-context", "guilder=nosuch"], "nosuch"),
    ] {
        let mut all = vec!["--kubeconfig", config.to_str().unwrap()];
        all.extend(args);
        let out = f.reconcile(&all).await;
        out.assert_exit(2);
        assert!(out.stderr.contains(named), "{}", out.stderr);
        assert_eq!(reported(&f), reported_before);
    }
    let mut only_florin: Kubeconfig = f.sim.kubeconfig();
    only_florin.contexts.retain(|c| c.name == "florin");
    let partial = f.dir.path().join("partial");
    std::fs::write(&partial, serde_saphyr::to_string(&only_florin).unwrap()).unwrap();
    let out = f
        .reconcile(&["--kubeconfig", partial.to_str().unwrap()])
        .await;
    out.assert_exit(2);
    assert!(out.stderr.contains("\"guilder\""), "{}", out.stderr);
    assert_eq!(reported(&f), reported_before);

    // Credentials that cannot be read: a client certificate file that is not there.
    let mut bad_user: Kubeconfig = f.sim.kubeconfig();
    for user in &mut bad_user.auth_infos {
        if user.name == "guilder"
            && let Some(auth) = &mut user.auth_info
        {
            auth.client_certificate = Some(f.dir.path().join("no.crt").display().to_string());
            auth.client_key = Some(f.dir.path().join("no.key").display().to_string());
        }
    }
    let creds = f.dir.path().join("creds");
    std::fs::write(&creds, serde_saphyr::to_string(&bad_user).unwrap()).unwrap();
    let out = f
        .reconcile(&["--kubeconfig", creds.to_str().unwrap()])
        .await;
    out.assert_exit(2);
    assert!(out.stderr.contains("guilder"), "{}", out.stderr);
    assert_eq!(reported(&f), reported_before);

    // The same repository with the right kubeconfig syncs: nothing was left half-done.
    f.reconcile(&["--kubeconfig", config.to_str().unwrap()])
        .await
        .assert_exit(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_wec_keeps_the_record_of_its_last_sync() {
    let f = Fixture::new().await;
    let config = f.kubeconfig();
    let config = config.to_str().unwrap();
    f.reconcile(&["--kubeconfig", config]).await.assert_exit(0);
    let good = f.sync_yaml("guilder");
    assert!(good.get("lastAttempt").is_none(), "{good}");

    f.sim
        .set_faults(
            "guilder",
            FaultSettings {
                down: true,
                ..Default::default()
            },
        )
        .unwrap();
    let out = f.reconcile(&["--kubeconfig", config]).await;
    out.assert_exit(1);
    let server = f.sim.server_url("guilder").unwrap();
    let server = server.trim_end_matches('/');
    assert!(
        out.stdout
            .contains(&format!("unreachable guilder at {server}")),
        "{}",
        out.stdout
    );
    // The retries were logged, as plain text: no colour codes (stderr is not a terminal) and
    // no Rust debug notation.
    assert!(out.stderr.contains("retrying"), "{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    assert!(!out.stderr.contains("Some("), "{}", out.stderr);
    let after = f.sync_yaml("guilder");
    // What was last applied is still there, and the failed attempt beside it.
    assert_eq!(after["objects"], good["objects"], "{after}");
    assert_eq!(after["mailboxCommit"], good["mailboxCommit"], "{after}");
    let attempt = &after["lastAttempt"];
    assert_eq!(attempt["server"], serde_json::json!(server), "{after}");
    assert!(attempt["error"].as_str().is_some(), "{after}");
    assert!(attempt["time"].as_str().is_some(), "{after}");
    assert_eq!(attempt["attempts"], serde_json::json!(3), "{after}");

    // `--log-format json`: every log line is a JSON object.
    let out = f
        .reconcile(&["--kubeconfig", config, "--log-format", "json"])
        .await;
    out.assert_exit(1);
    let logs: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let retry = logs
        .iter()
        .find(|l| l["fields"]["message"] == "WEC unreachable; retrying")
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert_eq!(retry["fields"]["wec"], "guilder", "{retry}");
    assert_eq!(retry["fields"]["server"], server, "{retry}");
    assert_eq!(f.sync_yaml("guilder")["objects"], good["objects"]);

    // Back up: a clean sync replaces both.
    f.sim
        .set_faults("guilder", FaultSettings::default())
        .unwrap();
    f.reconcile(&["--kubeconfig", config, "--changed-only"])
        .await
        .assert_exit(0);
    let clean = f.sync_yaml("guilder");
    assert!(clean.get("lastAttempt").is_none(), "{clean}");
    // The same objects, which nothing changed since the good sync created them.
    let names = |record: &serde_json::Value| -> Vec<String> {
        record["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| o["object"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(names(&clean), names(&good), "{clean}");
    assert!(
        clean["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|o| o["outcome"] == "unchanged"),
        "{clean}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_wec_is_cut_off_and_delays_no_other_wec() {
    let f = Fixture::new().await;
    // A WEC that accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", hung.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in hung.incoming() {
            held.push(conn);
        }
    });
    let config = f.kubeconfig_with("hung", &server, "with-hung");
    let started = Instant::now();
    let args: Vec<String> = [
        "--kubeconfig",
        config.to_str().unwrap(),
        "--wec-context",
        "guilder=hung",
        "--sync-timeout",
        "8s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = watch(f.repo.path(), args).await;
    let elapsed = started.elapsed();
    assert!(
        out.recorded_while_running,
        "florin's outcome must be recorded while guilder still hangs"
    );
    assert_eq!(out.other_then, None, "guilder cannot have finished yet");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        elapsed < Duration::from_secs(8 + 20),
        "the pass ends soon after the deadline: {elapsed:?}"
    );
    assert!(
        out.stdout.contains(&format!(
            "timed out guilder at {server}: no answer within 8s"
        )),
        "{}",
        out.stdout
    );
    let record = f.sync_yaml("guilder");
    assert_eq!(
        record["lastAttempt"]["timedOut"],
        serde_json::json!(true),
        "{record}"
    );
    assert_eq!(
        record["lastAttempt"]["server"],
        serde_json::json!(server),
        "{record}"
    );
    // The lines came out as it went: the pass's summary and florin's line long before the end
    // (guilder holds the pass until its 8 s deadline), guilder's at the end.
    let reconciled = out.line_at("reconciled ");
    let florin = out.line_at("synced florin:");
    let guilder = out.line_at("timed out guilder");
    assert!(reconciled <= florin && florin < guilder, "{:?}", out.lines);
    assert!(
        florin + Duration::from_secs(2) < out.ended,
        "florin's line must come while guilder hangs: {:?}, ended at {:?}",
        out.lines,
        out.ended
    );
    assert!(
        out.stdout
            .ends_with("sync: 2 WECs, 1 synced, 1 timed out\n"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_wec_delays_no_other_wec() {
    let f = Fixture::new().await;
    f.sim
        .set_faults(
            "guilder",
            FaultSettings {
                latency_ms: 300,
                ..Default::default()
            },
        )
        .unwrap();
    let config = f.kubeconfig();
    let args = vec!["--kubeconfig".to_string(), config.display().to_string()];
    let out = watch(f.repo.path(), args).await;
    assert!(
        out.recorded_while_running,
        "florin's outcome must be recorded while guilder syncs"
    );
    assert_eq!(out.other_then, None, "the slow WEC is still syncing");
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(f.reported("guilder").is_some());
    // `-o json`: one report of the pass, each WEC with its outcome and recorded commit.
    let out = f
        .reconcile(&["--kubeconfig", config.to_str().unwrap(), "-o", "json"])
        .await;
    out.assert_exit(0);
    let report = out.stdout_json();
    assert_eq!(report["sync"]["clean"], serde_json::json!(true), "{report}");
    let wecs: Vec<&str> = report["sync"]["wecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["wec"].as_str().unwrap())
        .collect();
    assert_eq!(wecs, ["florin", "guilder"], "{report}");
    assert_eq!(
        report["sync"]["wecs"][1]["outcome"],
        serde_json::json!("synced")
    );
    assert!(report["revision"].as_str().is_some(), "{report}");
    let refs = report["refs"].as_array().unwrap();
    assert!(
        refs.iter().all(|r| r["ref"]
            .as_str()
            .is_some_and(|n| n.starts_with("refs/heads/gitstellar/"))
            && r["outcome"].is_string()),
        "{report}"
    );
    // The reported refs were recorded in that pass too (their records did not change).
    let recorded = &report["sync"]["wecs"][0]["recorded"]["outcome"];
    assert!(recorded.is_string(), "{report}");
    assert_eq!(
        report["summary"]["problems"],
        serde_json::json!(0),
        "{report}"
    );
}

/// The exit status, stdout and stderr of a finished child.
trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> (std::process::ExitStatus, String, String);
}

impl WaitOutput for std::process::Child {
    fn wait_with_output_ref(&mut self) -> (std::process::ExitStatus, String, String) {
        use std::io::Read;
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(out) = self.stdout.as_mut() {
            out.read_to_string(&mut stdout).unwrap();
        }
        if let Some(err) = self.stderr.as_mut() {
            err.read_to_string(&mut stderr).unwrap();
        }
        (self.wait().unwrap(), stdout, stderr)
    }
}
