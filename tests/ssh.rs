//! Remotes over ssh, against a real `sshd` started on loopback: `reconcile --push` with a key file
//! (libgit2), and an agent-style fetch of two refs (the `git` command, protocol v2).

use gitstellar_testkit as common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::TestCommand;

/// An `sshd` on a free loopback port that accepts one client key; killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sshd {
    fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "these tests need sshd: install openssh-server (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let keygen = |name: &str| {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(name))
                .status()
                .unwrap();
            assert!(status.success());
        };
        keygen("host");
        keygen("client");
        std::fs::copy(
            dir.path().join("client.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        // sshd insists on its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nStrictModes no\nUsePAM no\nPidFile {d}/sshd.pid\n"
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-f")
            .arg(dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        // A HOME whose known_hosts trusts this server, as a user's would after the first login.
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let host_key = std::fs::read_to_string(dir.path().join("host.pub")).unwrap();
        std::fs::write(
            home.join(".ssh/known_hosts"),
            format!("[127.0.0.1]:{port} {host_key}"),
        )
        .unwrap();
        Sshd { child, port, dir }
    }

    fn url(&self, path: &Path) -> String {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, path.display())
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("client")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn reconcile_pushes_over_ssh_with_a_key_file() {
    let sshd = Sshd::start();
    let (work, base) = common::example1_origin();
    let bare = base.path().join("origin.git");
    let cache = tempfile::tempdir().unwrap();
    let out = TestCommand::new()
        .args(&["reconcile", "--push", "--repo"])
        .arg(sshd.url(&bare))
        .arg("--cache-dir")
        .arg(cache.path())
        .env("HOME", sshd.home())
        .env("GITSTELLAR_SSH_KEY", sshd.key())
        .run();
    out.assert_exit(0);
    let key = sshd.key().display().to_string();
    assert!(
        !out.stdout.contains(&key) && !out.stderr.contains(&key),
        "no key path in the output"
    );
    let refs = work.git(&[
        "--git-dir",
        &bare.to_string_lossy(),
        "for-each-ref",
        "--format=%(refname)",
    ]);
    for wanted in [
        "refs/heads/gitstellar/mailbox/florin",
        "refs/heads/gitstellar/mailbox/guilder",
        "refs/heads/gitstellar/status",
    ] {
        assert!(refs.contains(wanted), "{wanted} missing from {refs}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_fetches_only_its_refs_over_ssh() {
    use gitstellar::model::ObjectId;
    use gitstellar::sync::{Cluster, KubeCluster};

    let sshd = Sshd::start();
    let (work, base) = common::example1_origin();
    let bare = base.path().join("origin.git");
    TestCommand::new()
        .args(&["reconcile", "--repo"])
        .arg(&bare)
        .run()
        .assert_exit(0);
    let common::SimulatedWecs {
        sim,
        dir,
        kubeconfig,
    } = common::simulated_wecs(&["florin"]).await;
    let cache = dir.path().join("cache");
    let url = sshd.url(&bare);
    let (home, key) = (sshd.home(), sshd.key());
    let run_cache = cache.clone();
    let out = tokio::task::spawn_blocking(move || {
        TestCommand::new()
            .args(&[
                "agent",
                "--once",
                "--wec",
                "florin",
                "--context",
                "florin",
                "--repo",
                &url,
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(&run_cache)
            .env("HOME", home)
            .env("GITSTELLAR_SSH_KEY", key)
            .run()
    })
    .await
    .unwrap();
    out.assert_exit(0);
    let florin = KubeCluster::new(sim.client("florin").unwrap());
    let rs = ObjectId::new("apps", "ReplicaSet", Some("commonstuff"), "commond");
    assert!(
        florin.get("apps/v1", &rs).await.unwrap().is_some(),
        "{}",
        out.stderr
    );
    // Only its own refs came over, and its report went back.
    let cached = common::cache_repository(&cache);
    let refs = work.git(&[
        "--git-dir",
        &cached.to_string_lossy(),
        "for-each-ref",
        "--format=%(refname)",
    ]);
    assert!(
        refs.contains("refs/heads/gitstellar/mailbox/florin"),
        "{refs}"
    );
    assert!(
        !refs.contains("guilder") && !refs.contains("refs/heads/main"),
        "{refs}"
    );
    let origin_refs = work.git(&[
        "--git-dir",
        &bare.to_string_lossy(),
        "for-each-ref",
        "--format=%(refname)",
    ]);
    assert!(
        origin_refs.contains("refs/heads/gitstellar/reported/florin"),
        "{origin_refs}"
    );
    sim.shutdown().await.unwrap();
}
