//! Remotes over https with real TLS: a CA and a server certificate made at run time, and a
//! smart-HTTP git server speaking TLS (rustls) on loopback. `reconcile --push` (libgit2 with
//! OpenSSL) and the pull-mode agent (the `git` command, or libgit2 without it) trust the test CA
//! only when told to, and otherwise fail cleanly without sending or showing the token.

use gitstellar_testkit as common;

use std::path::{Path, PathBuf};

use common::http::{HttpGit, TestCa, USER};
use common::{GitRepo, MAILBOX, Outcome, TestCommand};

const TOKEN: &str = "tok-https-5ecr3t-v4lue";

/// Variables of the caller's environment that change which CAs are trusted or which credentials
/// are sent: every run starts without them.
const INHERITED: &[&str] = &[
    "GITSTELLAR_GIT_TOKEN",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_SSL_NO_VERIFY",
];

/// example1 in a bare `origin.git`, served over TLS with a certificate signed by a test CA.
struct Setup {
    work: GitRepo,
    base: tempfile::TempDir,
    /// The CA file, an empty HOME, the caches.
    dir: tempfile::TempDir,
    server: HttpGit,
}

impl Setup {
    fn new() -> Setup {
        let (work, base) = common::example1_origin();
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca = TestCa::new("gitstellar test CA");
        ca.write_pem(&dir.path().join("ca.pem"));
        std::fs::create_dir(dir.path().join("home")).expect("create HOME");
        let server = HttpGit::start_tls(base.path(), TOKEN, &ca);
        Setup {
            work,
            base,
            dir,
            server,
        }
    }

    fn bare(&self) -> PathBuf {
        self.base.path().join("origin.git")
    }

    /// The test CA's certificate (PEM).
    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A HOME of the test's own, so that no credential helper or key of the caller's is used.
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The binary with no inherited trust or credentials, and the test's HOME.
    fn command(&self) -> TestCommand {
        let mut cmd = TestCommand::new();
        for name in INHERITED {
            cmd.env_remove(name);
        }
        cmd.env("HOME", self.home()).env("GIT_TERMINAL_PROMPT", "0");
        cmd
    }

    /// `reconcile --push --repo <url>` with the test's cache.
    fn reconcile(&self, url: &str) -> TestCommand {
        let mut cmd = self.command();
        cmd.args(&["reconcile", "--push", "--repo", url, "--cache-dir"])
            .arg(self.dir.path().join("cache"));
        cmd
    }

    /// The refs of the origin.
    fn origin_refs(&self) -> String {
        self.work.git(&[
            "--git-dir",
            &self.bare().to_string_lossy(),
            "for-each-ref",
            "--format=%(refname)",
        ])
    }
}

#[track_caller]
fn assert_hidden(out: &Outcome, secret: &str) {
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "the secret shows:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn reconcile_pushes_over_https_with_a_token_trusting_the_ca_in_ssl_cert_file() {
    let setup = Setup::new();
    let out = setup
        .reconcile(&setup.server.url("origin.git"))
        .env("SSL_CERT_FILE", setup.ca_file())
        .env("GITSTELLAR_GIT_TOKEN", TOKEN)
        .run();
    out.assert_exit(0);
    assert_hidden(&out, TOKEN);
    common::assert_reconciled(&setup.bare());
    assert!(setup.server.tls_handshakes() > 0, "no TLS handshake");
    assert!(
        setup
            .server
            .authorizations()
            .iter()
            .any(|a| a.starts_with("Basic ")),
        "the token went as basic credentials: {:?}",
        setup.server.authorizations()
    );
}

#[test]
fn reconcile_pushes_over_https_with_the_credential_helper() {
    let setup = Setup::new();
    // git's own `store` helper, configured where libgit2 reads a user's settings ($HOME).
    let store = setup.dir.path().join("credentials");
    std::fs::write(
        &store,
        format!("https://{USER}:{TOKEN}@localhost:{}\n", setup.server.port()),
    )
    .expect("write the credential store");
    std::fs::write(
        setup.home().join(".gitconfig"),
        format!(
            "[credential]\n\thelper = \"store --file={}\"\n",
            store.display()
        ),
    )
    .expect("write .gitconfig");
    let out = setup
        .reconcile(&setup.server.url_on("localhost", "origin.git"))
        .env("SSL_CERT_FILE", setup.ca_file())
        .run();
    out.assert_exit(0);
    assert_hidden(&out, TOKEN);
    common::assert_reconciled(&setup.bare());
    assert!(setup.server.tls_handshakes() > 0, "no TLS handshake");
    let authorizations = setup.server.authorizations();
    assert!(
        authorizations.iter().any(|a| a.starts_with("Basic ")),
        "the helper's password went as basic credentials: {authorizations:?}"
    );
}

#[test]
fn an_untrusted_certificate_fails_cleanly_without_sending_the_token() {
    let setup = Setup::new();
    let other = TestCa::new("another CA");
    let other_file = setup.dir.path().join("other-ca.pem");
    other.write_pem(&other_file);
    let url = setup.server.url("origin.git");
    for (case, ca_file) in [
        ("a different CA trusted", Some(&other_file)),
        ("only the system's CAs trusted", None),
    ] {
        let mut cmd = setup.reconcile(&url);
        cmd.env("GITSTELLAR_GIT_TOKEN", TOKEN);
        if let Some(file) = ca_file {
            cmd.env("SSL_CERT_FILE", file);
        }
        let out = cmd.run();
        out.assert_exit(2);
        assert_hidden(&out, TOKEN);
        assert!(
            out.stderr.contains("certificate could not be verified"),
            "{case}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("127.0.0.1"), "{case}: {}", out.stderr);
    }
    // The client reached the server each time, and sent no request once it saw the certificate.
    let attempts = setup.server.tls_handshakes() + setup.server.tls_handshake_errors().len();
    assert!(attempts >= 2, "{attempts} TLS connections");
    assert_eq!(setup.server.authorizations(), Vec::<String>::new());
    assert!(!setup.origin_refs().contains(MAILBOX), "nothing was pushed");
}

/// Runs `gitstellar agent --once` for `wec`; `path` replaces its PATH (to hide the `git` command).
async fn agent(
    command: TestCommand,
    url: String,
    wec: &str,
    kubeconfig: &Path,
    cache: &Path,
    path: Option<PathBuf>,
) -> Outcome {
    let mut command = command;
    command
        .args(&[
            "agent",
            "--once",
            "--repo",
            &url,
            "--wec",
            wec,
            "--context",
            wec,
        ])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .env("GITSTELLAR_GIT_TOKEN", TOKEN);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    tokio::task::spawn_blocking(move || command.run())
        .await
        .expect("the agent ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_fetches_and_reports_over_https() {
    use gitstellar::model::ObjectId;
    use gitstellar::sync::{Cluster, KubeCluster};

    let setup = Setup::new();
    TestCommand::new()
        .args(&["reconcile", "--repo"])
        .arg(setup.bare())
        .run()
        .assert_exit(0);
    let common::SimulatedWecs {
        sim,
        dir: _wecs,
        kubeconfig,
    } = common::simulated_wecs(&["florin", "guilder"]).await;
    let url = setup.server.url("origin.git");
    let object = |kind: &str, namespace: &str, name: &str| {
        ObjectId::new("apps", kind, Some(namespace), name)
    };

    // With the git command: it fetches trusting GIT_SSL_CAINFO, libgit2 pushes the report
    // trusting SSL_CERT_FILE.
    let mut command = setup.command();
    command
        .env("GIT_SSL_CAINFO", setup.ca_file())
        .env("SSL_CERT_FILE", setup.ca_file());
    let out = agent(
        command,
        url.clone(),
        "florin",
        &kubeconfig,
        &setup.dir.path().join("cache-florin"),
        None,
    )
    .await;
    out.assert_exit(0);
    assert_hidden(&out, TOKEN);
    let florin = KubeCluster::new(sim.client("florin").expect("client"));
    assert!(
        florin
            .get("apps/v1", &object("ReplicaSet", "commonstuff", "commond"))
            .await
            .expect("get")
            .is_some(),
        "florin's mailbox was not applied:\n{}",
        out.stderr
    );
    let authorizations = setup.server.authorizations();
    assert!(
        authorizations.iter().any(|a| a.starts_with("Bearer ")),
        "the git command fetched with the token: {authorizations:?}"
    );
    assert!(
        authorizations.iter().any(|a| a.starts_with("Basic ")),
        "libgit2 pushed with the token: {authorizations:?}"
    );

    // Without the git command libgit2 fetches too, and SSL_CERT_FILE is all it needs.
    let empty = setup.dir.path().join("no-git");
    std::fs::create_dir(&empty).expect("create a directory");
    let mut command = setup.command();
    command.env("SSL_CERT_FILE", setup.ca_file());
    let out = agent(
        command,
        url,
        "guilder",
        &kubeconfig,
        &setup.dir.path().join("cache-guilder"),
        Some(empty),
    )
    .await;
    out.assert_exit(0);
    assert_hidden(&out, TOKEN);
    let guilder = KubeCluster::new(sim.client("guilder").expect("client"));
    assert!(
        guilder
            .get("apps/v1", &object("Deployment", "specialstuff", "speciald"))
            .await
            .expect("get")
            .is_some(),
        "guilder's mailbox was not applied:\n{}",
        out.stderr
    );

    let refs = setup.origin_refs();
    for wec in ["florin", "guilder"] {
        assert!(
            refs.contains(&format!("refs/heads/gitstellar/reported/{wec}")),
            "{wec}'s report is not in origin: {refs}"
        );
    }
    assert!(setup.server.tls_handshakes() > 0, "no TLS handshake");
    sim.shutdown().await.expect("shutdown");
}
