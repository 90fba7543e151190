//! gitstellar's test kit, shared by the integration tests and the benchmarks: real git
//! repositories made with the `git` CLI, `git daemon` and a smart-HTTP server ([`http`]), the real
//! `gitstellar` binary run to completion ([`TestCommand`]), simulated WECs, and synthetic fleets
//! ([`synth`]) — in the style of ripgrep's test utilities.
//!
//! Inputs: the paths, arguments and documents a test hands over. Outputs: repositories, processes
//! and servers that clean up after themselves when dropped, and the parsed results of the binary.
//! Every helper panics on an unexpected failure: they are for tests, where a panic is the report.
//!
//! Test files take it as `use gitstellar_testkit as common;`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod http;
pub mod synth;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Environment that makes `git` independent of the user's configuration.
fn git_env(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", null_device())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
}

fn null_device() -> &'static str {
    if cfg!(windows) { "NUL" } else { "/dev/null" }
}

/// A git repository in a temporary directory, removed when dropped.
pub struct GitRepo {
    dir: tempfile::TempDir,
}

impl Default for GitRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl GitRepo {
    /// `git init` (branch `main`) in a fresh temporary directory.
    pub fn new() -> GitRepo {
        let dir = tempfile::Builder::new()
            .prefix("gitstellar-test-")
            .tempdir()
            .expect("create a temporary directory");
        let repo = GitRepo { dir };
        repo.git(&["-c", "init.defaultBranch=main", "init", "-q"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.git(&["config", "core.autocrlf", "false"]);
        repo
    }

    /// The top of the working tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An absolute path inside the working tree.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path().join(rel)
    }

    /// Runs `git` in the repository; panics unless it succeeds. Returns stdout, trimmed.
    pub fn git<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = git_env(&mut Command::new("git"))
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {:?} failed: {}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes a text file (creating its directories).
    pub fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    /// Writes a file of arbitrary bytes (creating its directories).
    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create directories");
        }
        std::fs::write(&path, bytes).expect("write file");
    }

    /// Creates a symbolic link at `rel` pointing to `target` (as written, usually relative).
    #[cfg(unix)]
    pub fn symlink(&self, target: &str, rel: &str) {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create directories");
        }
        std::os::unix::fs::symlink(target, path).expect("create symlink");
    }

    /// Removes a file or a directory tree from the working tree.
    pub fn remove(&self, rel: &str) {
        let path = self.join(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(path).expect("remove directory");
        } else {
            std::fs::remove_file(path).expect("remove file");
        }
    }

    /// Copies a directory tree from disk into the working tree at `rel` (`""` for the top).
    pub fn copy_dir(&self, from: &Path, rel: &str) {
        let to = self.join(rel);
        std::fs::create_dir_all(&to).expect("create directories");
        for entry in std::fs::read_dir(from).expect("read directory") {
            let entry = entry.expect("read directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type().expect("file type").is_dir() {
                self.copy_dir(&entry.path(), &rel_child);
            } else {
                std::fs::copy(entry.path(), self.join(&rel_child)).expect("copy file");
            }
        }
    }

    /// Stages everything (`git add -A`) and commits; returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&[
            "commit",
            "-q",
            "--allow-empty",
            "--no-verify",
            "-m",
            message,
        ]);
        self.head()
    }

    /// The commit id of `HEAD`.
    pub fn head(&self) -> String {
        self.rev_parse("HEAD")
    }

    /// The commit id a revision names.
    pub fn rev_parse(&self, rev: &str) -> String {
        self.git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
    }

    /// A `gitstellar plan --repo <top> <args>` command.
    pub fn plan(&self, args: &[&str]) -> TestCommand {
        let mut cmd = TestCommand::new();
        cmd.arg("plan").arg("--repo").arg(self.path()).args(args);
        cmd
    }
}

/// The `gitstellar` binary with arguments, run to completion.
pub struct TestCommand {
    cmd: Command,
}

impl Default for TestCommand {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCommand {
    /// The binary under test, with a neutral environment (no logging filters from the caller).
    pub fn new() -> TestCommand {
        let mut cmd = Command::new(gitstellar_binary());
        git_env(&mut cmd)
            .env_remove("RUST_LOG")
            .env_remove("GITSTELLAR_LOG")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        TestCommand { cmd }
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<S: AsRef<OsStr>>(&mut self, args: &[S]) -> &mut Self {
        self.cmd.args(args);
        self
    }

    /// Runs in this directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    /// Removes an environment variable the caller's environment may hold.
    pub fn env_remove(&mut self, key: &str) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    /// Runs the command and captures its outcome.
    pub fn run(&mut self) -> Outcome {
        let out = self.cmd.output().expect("run gitstellar");
        Outcome {
            description: format!("{:?}", self.cmd),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        }
    }
}

/// The `gitstellar` binary Cargo built for the running test or benchmark.
///
/// `env!("CARGO_BIN_EXE_gitstellar")` exists only while the root package's own tests compile, not
/// in this crate; Cargo also sets the variable when it runs them, and where it does not, the
/// binary lies beside the test executable's `deps/` directory (Cargo's layout, as assert_cmd
/// reads it).
fn gitstellar_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_gitstellar") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the path of the running test");
    let mut dir = exe.parent().expect("the test's directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let binary = dir.join(format!("gitstellar{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "no gitstellar binary at {} (built by `cargo test`)",
        binary.display()
    );
    binary
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    /// The command, for failure messages.
    pub description: String,
    /// Standard output (lossily decoded).
    pub stdout: String,
    /// Standard error (lossily decoded).
    pub stderr: String,
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
}

impl Outcome {
    /// Panics (showing stdout and stderr) unless the exit code is `code`.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{}: expected exit {code}, got {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.description,
            self.code,
            truncate(&self.stdout),
            truncate(&self.stderr)
        );
        self
    }

    /// Panics unless the process exited normally with 0, 1 or 2 (never a panic's 101 or a signal).
    #[track_caller]
    pub fn assert_no_crash(&self) -> &Self {
        assert!(
            matches!(self.code, Some(0..=2)),
            "{}: exit {:?} (crash?)\n--- stderr ---\n{}",
            self.description,
            self.code,
            truncate(&self.stderr)
        );
        self
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn stdout_json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}):\n{}\n--- stderr ---\n{}",
                self.description,
                truncate(&self.stdout),
                truncate(&self.stderr)
            )
        })
    }
}

fn truncate(text: &str) -> &str {
    const MAX: usize = 8000;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `group/Kind/namespace/name` (the plan's object notation; `core` for the core group and
/// `_cluster` for cluster-scoped objects) of one entry of `destinations.<wec>.objects`.
pub fn object_id(entry: &Value) -> String {
    let object = &entry["object"];
    let api = object["apiVersion"].as_str().unwrap_or_default();
    let group = match api.split_once('/') {
        Some((group, _)) => group,
        None => "core",
    };
    let kind = object["kind"].as_str().unwrap_or_default();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("_cluster");
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    format!("{group}/{kind}/{namespace}/{name}")
}

/// The object ids a WEC gets in a `plan -o json` output, in output order.
pub fn wec_objects(plan: &Value, wec: &str) -> Vec<String> {
    plan["destinations"][wec]["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no destination {wec:?} in {plan:#}"))
        .iter()
        .map(object_id)
        .collect()
}

/// The one entry of `destinations.<wec>.objects` for an object id; panics if absent.
#[track_caller]
pub fn wec_object<'a>(plan: &'a Value, wec: &str, id: &str) -> &'a Value {
    plan["destinations"][wec]["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no destination {wec:?}"))
        .iter()
        .find(|e| object_id(e) == id)
        .unwrap_or_else(|| {
            panic!(
                "{wec} does not get {id}; it gets {:?}",
                wec_objects(plan, wec)
            )
        })
}

/// The problems of a `plan -o json` output.
pub fn problems(plan: &Value) -> Vec<Value> {
    plan["problems"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no problems list in {plan:#}"))
}

/// `git daemon` serving a directory on loopback, with push enabled; killed when dropped.
pub struct GitDaemon {
    child: std::process::Child,
    port: u16,
}

impl GitDaemon {
    /// Starts a daemon serving every repository under `base`.
    pub fn start(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        // `git daemon` runs `git-daemon` as a child process: killing `git` would leave the daemon
        // serving. Run the daemon itself, so that dropping this stops it.
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("run git --exec-path");
        let daemon =
            PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim()).join("git-daemon");
        let mut cmd = if daemon.exists() {
            Command::new(daemon)
        } else {
            let mut cmd = Command::new("git");
            cmd.arg("daemon");
            cmd
        };
        git_env(cmd.current_dir(base));
        let child = cmd
            .args([
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--informative-errors",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start git daemon");
        let daemon = GitDaemon { child, port };
        // Wait until it accepts connections (readiness, not a timed assertion).
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("git daemon did not start on port {port}");
    }

    /// The URL of repository `repo` (relative to the base).
    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The prefix of the mailbox branches reconcile writes, one per WEC.
pub const MAILBOX: &str = "refs/heads/gitstellar/mailbox/";
/// The status branch reconcile writes.
pub const STATUS: &str = "refs/heads/gitstellar/status";

/// Runs `git` in `dir` (a working tree or a bare repository); `None` unless it succeeds.
fn git_at(dir: &Path, args: &[&str]) -> Option<String> {
    let out = git_env(&mut Command::new("git"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run git");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit id `name` has in the repository at `dir`; `None` when it names nothing.
pub fn rev(dir: &Path, name: &str) -> Option<String> {
    git_at(dir, &["rev-parse", "--verify", "-q", name])
}

/// The `Source-Revision` trailer of the commit `rev` names in the repository at `dir`: the source
/// commit a gitstellar commit was computed from.
#[track_caller]
pub fn trailer(dir: &Path, rev: &str) -> String {
    git_at(
        dir,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Source-Revision,valueonly)",
            rev,
        ],
    )
    .unwrap_or_else(|| panic!("no commit {rev} in {}", dir.display()))
}

/// Panics unless the example1 repository at `dir` has both WECs' mailboxes and the status
/// branch, each computed from the head of `main`.
#[track_caller]
pub fn assert_reconciled(dir: &Path) {
    let head = rev(dir, "refs/heads/main").expect("a main branch");
    for name in [
        format!("{MAILBOX}florin"),
        format!("{MAILBOX}guilder"),
        STATUS.to_string(),
    ] {
        assert_eq!(trailer(dir, &name), head, "{name}");
    }
}

/// The `examples-repo/` directory (KubeStellar's example1) at the top of the workspace.
pub fn examples_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples-repo")
}

/// A git repository holding `examples-repo/` (KubeStellar's example1) in one commit.
pub fn example1_repo() -> GitRepo {
    let work = GitRepo::new();
    work.copy_dir(&examples_repo(), "");
    work.commit("example1");
    work
}

/// example1 in a work repository, and a bare clone of it at `<dir>/origin.git` (the "remote").
pub fn example1_origin() -> (GitRepo, tempfile::TempDir) {
    let work = example1_repo();
    let base = tempfile::tempdir().expect("temporary directory");
    work.git(&[
        "clone",
        "--bare",
        "-q",
        ".",
        &base.path().join("origin.git").to_string_lossy(),
    ]);
    (work, base)
}

/// The bare repository a remote cache keeps under `cache_root` (there is one per URL).
pub fn cache_repository(cache_root: &Path) -> PathBuf {
    std::fs::read_dir(cache_root)
        .expect("read the cache directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "git"))
        .expect("a cache repository")
}

/// Simulated WECs served in this process, and a kubeconfig with a context per cluster, in a
/// temporary directory (kept as long as this value) where the test may put its other files.
pub struct SimulatedWecs {
    /// The simulator serving the clusters.
    pub sim: gitstellar::wecsim::Simulator,
    /// The temporary directory holding the kubeconfig.
    pub dir: tempfile::TempDir,
    /// The kubeconfig, one context per cluster, named as the cluster.
    pub kubeconfig: PathBuf,
}

/// Starts simulated WECs with these names (see [`SimulatedWecs`]).
pub async fn simulated_wecs(clusters: &[&str]) -> SimulatedWecs {
    let sim = gitstellar::wecsim::Simulator::start(gitstellar::wecsim::SimOptions {
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    })
    .await
    .expect("start the simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)
        .expect("write the kubeconfig");
    SimulatedWecs {
        sim,
        dir,
        kubeconfig,
    }
}

/// Every gitstellar ref of the repository at `repo` and its tree, sorted: what two passes must
/// agree on.
pub fn gitstellar_trees(repo: &Path) -> Vec<(String, String)> {
    let repo = git2::Repository::open(repo).expect("open");
    let mut out: Vec<(String, String)> = repo
        .references_glob("refs/heads/gitstellar/*")
        .expect("refs")
        .map(|r| {
            let r = r.expect("ref");
            let tree = r.peel_to_tree().expect("tree").id().to_string();
            (r.name().expect("name").to_string(), tree)
        })
        .collect();
    out.sort();
    out
}

/// The documents of a source file, or `None` when it does not parse.
pub fn documents(file: &gitstellar::model::SourceFile) -> Option<Vec<serde_json::Value>> {
    let bytes = file.content.as_ref().ok()?;
    gitstellar::model::load::parse_documents(&file.path, bytes).ok()
}

/// JSON is YAML: edited documents are written back as JSON, one YAML document each.
pub fn write_documents(docs: &[serde_json::Value]) -> Vec<u8> {
    docs.iter()
        .map(|d| serde_json::to_string_pretty(d).expect("json"))
        .collect::<Vec<_>>()
        .join("\n---\n")
        .into_bytes()
}
