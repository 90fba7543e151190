//! Faults of git servers and names: a server that accepts and never answers fails a pass in
//! bounded time and does not keep the cache locked; an expired cache lock is taken over; a WEC
//! name too long for a ref file is a problem for that WEC alone.

use gitstellar_testkit as common;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{GitDaemon, MAILBOX, Outcome, STATUS, TestCommand, rev};

/// A loopback TCP server that accepts every connection and never sends a byte.
struct SilentServer {
    port: u16,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        SilentServer { port }
    }
}

/// The read and connect timeouts the tests give git (seconds).
const TIMEOUT: u64 = 2;

fn reconcile_url(url: &str, cache: &Path, extra: &[&str]) -> TestCommand {
    let mut cmd = TestCommand::new();
    cmd.args(&["reconcile", "--repo", url, "--cache-dir"])
        .arg(cache)
        .args(extra)
        .env("GITSTELLAR_GIT_TIMEOUT", TIMEOUT.to_string())
        .env("GITSTELLAR_GIT_CONNECT_TIMEOUT", TIMEOUT.to_string())
        .env("GITSTELLAR_GIT_DEADLINE", (3 * TIMEOUT).to_string());
    cmd
}

#[track_caller]
fn assert_timed_out(out: &Outcome) {
    out.assert_exit(2);
    assert!(
        out.stderr.contains("did not answer in time") || out.stderr.contains("did not finish"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("class="), "{}", out.stderr);
}

#[test]
fn a_silent_server_fails_reconcile_in_bounded_time_and_frees_the_cache() {
    let server = SilentServer::start();
    let cache = tempfile::tempdir().expect("tempdir");
    for url in [
        format!("git://127.0.0.1:{}/fleet.git", server.port),
        format!("http://127.0.0.1:{}/fleet.git", server.port),
    ] {
        let started = Instant::now();
        let out = reconcile_url(&url, cache.path(), &["--push"]).run();
        let took = started.elapsed();
        assert_timed_out(&out);
        assert!(took < Duration::from_secs(8 * TIMEOUT), "{url}: {took:?}");

        // Two runs at once on one cache: the second waits for the first, and both end in
        // bounded time (the hung first one does not hold the lock forever).
        let started = Instant::now();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut cmd = reconcile_url(&url, cache.path(), &["--push"]);
                std::thread::spawn(move || cmd.run())
            })
            .collect();
        for h in handles {
            assert_timed_out(&h.join().expect("join"));
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(16 * TIMEOUT), "{url}: {took:?}");
    }
}

#[test]
fn a_silent_server_delays_the_agents_git_fetch_no_longer_than_the_deadline() {
    let server = SilentServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    // A kubeconfig whose cluster is never reached: the agent stops at the fetch's outcome.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\n\
         clusters: [{name: c, cluster: {server: \"https://127.0.0.1:9\"}}]\n\
         users: [{name: u, user: {token: t}}]\n\
         contexts: [{name: florin, context: {cluster: c, user: u}}]\n\
         current-context: florin\n",
    )
    .expect("write the kubeconfig");
    let started = Instant::now();
    let out = TestCommand::new()
        .args(&[
            "agent",
            "--repo",
            &format!("git://127.0.0.1:{}/fleet.git", server.port),
            "--wec",
            "florin",
            "--once",
            "--cache-dir",
        ])
        .arg(dir.path().join("cache"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env("GITSTELLAR_GIT_TIMEOUT", TIMEOUT.to_string())
        .env("GITSTELLAR_GIT_CONNECT_TIMEOUT", TIMEOUT.to_string())
        .env("GITSTELLAR_GIT_DEADLINE", (2 * TIMEOUT).to_string())
        .env("GITSTELLAR_LOG", "warn")
        .run();
    let took = started.elapsed();
    out.assert_no_crash();
    assert!(
        took < Duration::from_secs(8 * TIMEOUT),
        "{took:?}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did not finish within") || out.stderr.contains("did not answer"),
        "{}",
        out.stderr
    );
}

/// The lock file of the one cache under `cache_root`.
fn lock_file(cache_root: &Path) -> std::path::PathBuf {
    std::fs::read_dir(cache_root)
        .expect("read the cache directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "lock"))
        .expect("a cache lock file")
}

#[test]
fn a_cache_lock_records_its_owner_and_an_expired_one_is_taken_over() {
    let (_work, base) = common::example1_origin();
    let daemon = GitDaemon::start(base.path());
    let url = daemon.url("origin.git");
    let cache = tempfile::tempdir().expect("tempdir");
    reconcile_url(&url, cache.path(), &[]).run().assert_exit(0);
    let path = lock_file(cache.path());
    let owner: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read the lock")).expect("JSON");
    assert!(owner["pid"].as_u64().is_some(), "{owner}");
    assert!(
        owner["expires"].as_u64() > owner["since"].as_u64(),
        "{owner}"
    );

    // A stuck owner: this test holds the lock, and its record has expired.
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open the lock");
    held.lock().expect("lock");
    let expired = serde_json::json!({"pid": 1, "host": "elsewhere", "since": 1, "expires": 2});
    std::fs::write(&path, expired.to_string()).expect("write the record");
    let started = Instant::now();
    reconcile_url(&url, cache.path(), &[]).run().assert_exit(0);
    assert!(started.elapsed() < Duration::from_secs(30));

    // A live owner: the next run waits until it lets go.
    let path = lock_file(cache.path());
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open the lock");
    held.lock().expect("lock");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let live = serde_json::json!({"pid": 1, "host": "here", "since": now, "expires": now + 3600});
    std::fs::write(&path, live.to_string()).expect("write the record");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        drop(held);
    });
    let started = Instant::now();
    reconcile_url(&url, cache.path(), &[]).run().assert_exit(0);
    assert!(started.elapsed() >= Duration::from_secs(2));
    release.join().expect("join");
}

/// A valid DNS subdomain of 253 characters: too long for a loose ref's lock file.
fn long_name() -> String {
    let name = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert_eq!(name.len(), 253);
    name
}

#[test]
fn a_wec_name_too_long_for_a_ref_is_a_problem_for_that_wec_alone() {
    let work = common::example1_repo();
    let name = long_name();
    work.write(
        "inventory/long.yaml",
        &format!(
            "apiVersion: edge.kubestellar.io/v2alpha1\nkind: SyncTarget\n\
             metadata: {{name: {name}, labels: {{id: long, loc-name: long, env: prod}}}}\n\
             ---\napiVersion: edge.kubestellar.io/v2alpha1\nkind: Location\n\
             metadata: {{name: {name}, labels: {{loc-name: long, env: prod}}}}\n\
             spec:\n  resource: {{group: edge.kubestellar.io, version: v2alpha1, resource: synctargets}}\n\
             \x20 instanceSelector: {{matchLabels: {{id: long}}}}\n"
        ),
    );
    let head = work.commit("a WEC with a long name");
    let out = TestCommand::new()
        .args(&["reconcile", "--repo"])
        .arg(work.path())
        .run();
    out.assert_exit(1);
    for wec in ["florin", "guilder"] {
        assert_eq!(
            common::trailer(work.path(), &format!("{MAILBOX}{wec}")),
            head,
            "{}",
            out.stdout
        );
    }
    assert!(rev(work.path(), &format!("{MAILBOX}{name}")).is_none());
    let problems = work.git(&["show", &format!("{STATUS}:problems.yaml")]);
    assert!(
        problems.contains(&name) && problems.contains("its mailbox is not written"),
        "{problems}"
    );
}
