//! The agent never dies of git: a long-running `gitstellar agent` against a `git daemon` behind a
//! proxy the test controls. With pushes refused after a good fetch (git gone between fetch and
//! push), with every connection refused, and with connections that are accepted and never
//! answered, it keeps applying its last mailbox and correcting drift; once git is back its
//! report reaches the remote. `agent --once` against an unreachable git exits 1 and says so.

use gitstellar_testkit as common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{GitDaemon, TestCommand};
use gitstellar::model::ObjectId;
use gitstellar::sync::{Cluster, KubeCluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the proxy treats connections.
#[derive(Default)]
struct Knobs {
    /// Pushes (`git-receive-pack`) are cut off at once; fetches go through.
    refuse_pushes: AtomicBool,
    /// Every connection is cut off at once.
    down: AtomicBool,
    /// Every connection is accepted and never answered.
    hang: AtomicBool,
    /// The connections accepted while hanging, held open (dropped to let them fail).
    held: std::sync::Mutex<Vec<tokio::net::TcpStream>>,
    /// Pushes cut off so far.
    refused_pushes: AtomicUsize,
    /// Fetches let through so far.
    fetches: AtomicUsize,
}

/// A TCP proxy in front of a `git daemon` that reads the git protocol's first request line to
/// tell a fetch from a push.
struct Proxy {
    port: u16,
    knobs: Arc<Knobs>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let knobs = Arc::new(Knobs::default());
        let k = knobs.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if k.hang.load(Ordering::SeqCst) {
                    if let Ok(mut held) = k.held.lock() {
                        held.push(client);
                    }
                    continue;
                }
                if k.down.load(Ordering::SeqCst) {
                    continue;
                }
                let k = k.clone();
                tokio::spawn(async move {
                    // pkt-line: four hex digits of length, then `git-upload-pack /repo\0...`.
                    let mut len = [0u8; 4];
                    if client.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let n = std::str::from_utf8(&len)
                        .ok()
                        .and_then(|t| usize::from_str_radix(t, 16).ok())
                        .unwrap_or(4);
                    let mut first = vec![0u8; n.saturating_sub(4)];
                    if client.read_exact(&mut first).await.is_err() {
                        return;
                    }
                    let push = String::from_utf8_lossy(&first).starts_with("git-receive-pack");
                    if push && k.refuse_pushes.load(Ordering::SeqCst) {
                        k.refused_pushes.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    if !push {
                        k.fetches.fetch_add(1, Ordering::SeqCst);
                    }
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    if server.write_all(&len).await.is_err()
                        || server.write_all(&first).await.is_err()
                    {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Proxy { port, knobs }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/origin.git", self.port)
    }
}

/// A long-running agent (killed when dropped).
struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Agent {
    fn start(url: &str, kubeconfig: &Path, cache: &Path, extra: &[&str]) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_gitstellar"))
            .args([
                "agent",
                "--repo",
                url,
                "--wec",
                "florin",
                "--context",
                "florin",
            ])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(cache)
            .args(["--interval", "1s"])
            .args(extra)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("RUST_LOG")
            .env_remove("GITSTELLAR_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Agent(child)
    }

    #[track_caller]
    fn assert_running(&mut self) {
        assert!(
            self.0.try_wait().unwrap().is_none(),
            "the agent exited: {:?}",
            self.0.try_wait()
        );
    }
}

/// Waits (up to a minute: readiness, not a timing assertion) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting until {what}");
}

fn origin_reported(bare: &Path) -> Option<String> {
    common::rev(bare, "refs/heads/gitstellar/reported/florin")
}

fn reconcile(bare: &Path) {
    TestCommand::new()
        .args(&["reconcile", "--repo"])
        .arg(bare)
        .args(&["--branch", "main"])
        .run()
        .assert_exit(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_survives_git_going_away_and_pushes_when_it_is_back() {
    let (_work, base) = common::example1_origin();
    let bare: PathBuf = base.path().join("origin.git");
    reconcile(&bare);
    let daemon = GitDaemon::start(base.path());
    let upstream: u16 = daemon
        .url("x")
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let common::SimulatedWecs {
        sim,
        dir,
        kubeconfig,
    } = common::simulated_wecs(&["florin"]).await;
    let florin = Arc::new(KubeCluster::new(sim.client("florin").unwrap()));
    let rs = ObjectId::new("apps", "ReplicaSet", Some("commonstuff"), "commond");
    let has_rs = || {
        let florin = florin.clone();
        let rs = rs.clone();
        async move { matches!(florin.get("apps/v1", &rs).await, Ok(Some(_))) }
    };
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        sim.client("florin").unwrap(),
        "commonstuff",
        &kube::discovery::ApiResource::erase::<k8s_openapi::api::apps::v1::ReplicaSet>(&()),
    );

    // git goes away between the fetch and the push: fetches go through, pushes are cut off.
    proxy.knobs.refuse_pushes.store(true, Ordering::SeqCst);
    let mut agent = Agent::start(
        &proxy.url(),
        &kubeconfig,
        &dir.path().join("cache"),
        &["--git-timeout", "2s"],
    );
    eventually("the mailbox is applied", has_rs).await;
    let knobs = proxy.knobs.clone();
    eventually("the push failed twice (two rounds)", || {
        let knobs = knobs.clone();
        async move { knobs.refused_pushes.load(Ordering::SeqCst) >= 2 }
    })
    .await;
    agent.assert_running();
    assert_eq!(origin_reported(&bare), None, "no push went through");
    // It still corrects drift.
    api.delete("commond", &Default::default()).await.unwrap();
    eventually("the deleted ReplicaSet is restored", has_rs).await;
    agent.assert_running();

    // git entirely gone: connections cut off; then accepted and never answered.
    for knob in [&proxy.knobs.down, &proxy.knobs.hang] {
        knob.store(true, Ordering::SeqCst);
        // A round that began before the knob turned may still be on its way; let it end.
        tokio::time::sleep(Duration::from_secs(3)).await;
        api.delete("commond", &Default::default()).await.unwrap();
        eventually("the deleted ReplicaSet is restored from the cache", has_rs).await;
        agent.assert_running();
        knob.store(false, Ordering::SeqCst);
        proxy.knobs.held.lock().unwrap().clear();
    }

    // git is back: the report reaches the remote.
    proxy.knobs.refuse_pushes.store(false, Ordering::SeqCst);
    eventually("the report is pushed", || {
        let bare = bare.clone();
        async move { origin_reported(&bare).is_some() }
    })
    .await;
    agent.assert_running();
    let report = common::rev(&bare, "refs/heads/gitstellar/reported/florin").unwrap();
    let yaml = Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args(["show", &format!("{report}:sync.yaml")])
        .output()
        .unwrap();
    let yaml = String::from_utf8_lossy(&yaml.stdout);
    assert!(
        yaml.contains("apps/ReplicaSet/commonstuff/commond"),
        "{yaml}"
    );
    drop(agent);
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_once_against_an_unreachable_git_exits_1() {
    let common::SimulatedWecs {
        sim,
        dir,
        kubeconfig,
    } = common::simulated_wecs(&["florin"]).await;
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("git://127.0.0.1:{port}/origin.git");
    let cache = dir.path().join("cache");
    let args: Vec<String> = vec![
        "agent".into(),
        "--repo".into(),
        url,
        "--wec".into(),
        "florin".into(),
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "--context".into(),
        "florin".into(),
        "--cache-dir".into(),
        cache.display().to_string(),
        "--once".into(),
    ];
    let run = |extra: &'static [&'static str]| {
        let args = args.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = TestCommand::new();
            cmd.args(&args).args(extra);
            cmd.run()
        })
    };
    let out = run(&[]).await.unwrap();
    out.assert_exit(1);
    assert!(out.stdout.contains("git unreachable"), "{}", out.stdout);
    assert!(out.stdout.contains("nothing was applied"), "{}", out.stdout);
    let out = run(&["-o", "json"]).await.unwrap();
    out.assert_exit(1);
    let report = out.stdout_json();
    assert_eq!(
        report["git"]["reached"],
        serde_json::json!(false),
        "{report}"
    );
    assert!(report["git"]["error"].as_str().is_some(), "{report}");
    assert_eq!(report["clean"], serde_json::json!(false), "{report}");
    sim.shutdown().await.unwrap();
}
