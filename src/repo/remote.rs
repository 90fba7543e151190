//! Remotes: a `--repo URL` is mirrored in a local bare cache (fetch), reconciled there, and the
//! gitstellar refs that moved are pushed back; a push the remote rejects because a ref moved there
//! means fetch, recompute, retry.
//!
//! Credentials come from `GITSTELLAR_GIT_TOKEN` (https), the git credential helper (https), the ssh
//! agent or a key file (`GITSTELLAR_SSH_KEY`, else `~/.ssh/id_ed25519` or `~/.ssh/id_rsa`). They
//! are never stored in the cache's configuration, and errors are scrubbed of them.
//!
//! The certificates of https remotes are always verified. libgit2 (built with OpenSSL) trusts the
//! system's CAs and those OpenSSL finds through `SSL_CERT_FILE` or `SSL_CERT_DIR`; the `git`
//! command, when it fetches, follows its own settings (`GIT_SSL_CAINFO`, `http.sslCAInfo`).
//!
//! A server that never answers cannot hang a pass: libgit2's sockets get a connect and a read
//! timeout ([`CONNECT_TIMEOUT_ENV`], [`READ_TIMEOUT_ENV`]), the `git` command gets git's low-speed
//! limit and ssh's keep-alive for the same read timeout and is killed past a deadline
//! ([`DEADLINE_ENV`]). The cache's lock records its owner and expires ([`LOCK_EXPIRY_ENV`]), so a
//! process stuck anyway cannot hold it forever.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use git2::{
    AutotagOption, Cred, CredentialType, ErrorCode, FetchOptions, FetchPrune, Oid, PushOptions,
    RemoteCallbacks, Repository,
};
use sha2::{Digest, Sha256};

/// The environment variable holding an https token.
pub const TOKEN_ENV: &str = "GITSTELLAR_GIT_TOKEN";
/// The environment variable naming an ssh private key file.
pub const SSH_KEY_ENV: &str = "GITSTELLAR_SSH_KEY";
/// Seconds to wait for a git server to accept a connection (default 30).
pub const CONNECT_TIMEOUT_ENV: &str = "GITSTELLAR_GIT_CONNECT_TIMEOUT";
/// Seconds a git server may stay silent, or send less than 1 KB/s over, before the transfer
/// fails (default 60).
pub const READ_TIMEOUT_ENV: &str = "GITSTELLAR_GIT_TIMEOUT";
/// Seconds a `git` command may run before it is killed (default 600).
pub const DEADLINE_ENV: &str = "GITSTELLAR_GIT_DEADLINE";
/// Seconds after which a cache lock is considered left by a stuck process and is taken over
/// (default 900); renewed by every fetch and push.
pub const LOCK_EXPIRY_ENV: &str = "GITSTELLAR_CACHE_LOCK_SECONDS";

/// A duration in seconds from the environment, or the default.
fn seconds(env: &str, default: u64) -> std::time::Duration {
    let secs = std::env::var(env)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(default);
    std::time::Duration::from_secs(secs)
}

fn connect_timeout() -> std::time::Duration {
    seconds(CONNECT_TIMEOUT_ENV, 30)
}

fn read_timeout() -> std::time::Duration {
    seconds(READ_TIMEOUT_ENV, 60)
}

fn deadline() -> std::time::Duration {
    seconds(DEADLINE_ENV, 600)
}

fn lock_expiry() -> std::time::Duration {
    seconds(LOCK_EXPIRY_ENV, 900)
}

/// Gives libgit2's sockets (git://, http(s), ssh) the connect and read timeouts, once per
/// process, before its first remote operation.
#[allow(unsafe_code)]
fn set_libgit2_timeouts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let millis = |d: std::time::Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: these write two C ints that libgit2 reads only when it opens a socket. They are
        // written once, under `Once`, before this process's first remote operation (every one
        // goes through a `RemoteCache`, which calls this when it is opened), so no libgit2 socket
        // is being opened while they change.
        let connect = unsafe {
            git2::opts::set_server_connect_timeout_in_milliseconds(millis(connect_timeout()))
        };
        // SAFETY: as above.
        let read =
            unsafe { git2::opts::set_server_timeout_in_milliseconds(millis(read_timeout())) };
        if let Err(e) = connect.and(read) {
            tracing::warn!(
                "could not set libgit2's timeouts: {}",
                crate::repo::git_message(&e)
            );
        }
    });
}

/// Why talking to a remote failed (every message is scrubbed of credentials).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The cache directory could not be made or opened.
    #[error("cache {path}: {message}")]
    Cache {
        /// The cache repository.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Fetching failed.
    #[error("fetching from {url}: {message}")]
    Fetch {
        /// The remote, redacted.
        url: String,
        /// Why, scrubbed.
        message: String,
    },
    /// Pushing failed (other than a rejection because a ref moved).
    #[error("pushing to {url}: {message}")]
    Push {
        /// The remote, redacted.
        url: String,
        /// Why, scrubbed.
        message: String,
    },
}

/// What [`RemoteCache::fetch_refs`] found.
#[derive(Clone, Debug, Default)]
pub struct FetchedRefs {
    /// Each ref asked for, and its value on the remote (`None`: the remote does not have it).
    pub refs: std::collections::BTreeMap<String, Option<Oid>>,
    /// Bytes of pack data received (0 when the `git` command fetched: it does not say).
    pub received_bytes: usize,
}

/// A ref to push: its new value, or `None` to delete it.
pub type RefPush = (String, Option<Oid>);

/// A remote repository and its local bare cache.
pub struct RemoteCache {
    url: String,
    path: PathBuf,
    /// Held (locked) while the cache is in use.
    lock: CacheLock,
}

/// Who holds a cache's lock, written into the lock file (shown to whoever waits for it).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LockOwner {
    pid: u32,
    host: String,
    /// When it was taken or last renewed (seconds since the epoch).
    since: u64,
    /// When it expires (seconds since the epoch).
    expires: u64,
}

impl LockOwner {
    fn me() -> LockOwner {
        let now = unix_now();
        LockOwner {
            pid: std::process::id(),
            host: hostname(),
            since: now,
            expires: now + lock_expiry().as_secs(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "process {} on {} since {} s, until {} s after the epoch",
            self.pid, self.host, self.since, self.expires
        )
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into())
}

/// The lock of one cache: an OS file lock on `<cache>.lock` (released however the process ends),
/// whose content names the owner and when the lock expires.
struct CacheLock {
    path: PathBuf,
    file: std::fs::File,
}

impl CacheLock {
    /// Takes the lock, waiting for its owner; a lock past its expiry is taken over (its owner is
    /// alive, since the OS has not released it, but stuck).
    fn acquire(path: &Path) -> std::io::Result<CacheLock> {
        use std::fs::TryLockError;
        let mut waited = false;
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)?;
            match file.try_lock() {
                Ok(()) => {
                    // A waiter that took the lock over replaced the file: lock the one in place.
                    if !same_file(&file, path) {
                        continue;
                    }
                    let lock = CacheLock {
                        path: path.to_path_buf(),
                        file,
                    };
                    lock.renew()?;
                    return Ok(lock);
                }
                Err(TryLockError::WouldBlock) => {
                    let owner = read_owner(path);
                    if let Some(owner) = &owner
                        && owner.expires < unix_now()
                    {
                        Self::take_over(path, owner)?;
                        continue;
                    }
                    if !waited {
                        waited = true;
                        tracing::warn!(
                            lock = %path.display(),
                            owner = %owner.as_ref().map(LockOwner::describe).unwrap_or_default(),
                            "the cache is in use; waiting for it"
                        );
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
    }

    /// Replaces the expired lock file by a fresh one (which the caller then locks). Takers-over
    /// are serialized by a second lock, and each checks again under it, so only one replaces a
    /// given expired lock.
    fn take_over(path: &Path, expired: &LockOwner) -> std::io::Result<()> {
        let guard_path = path.with_extension("lock-takeover");
        let guard = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&guard_path)?;
        guard.lock()?;
        let still_expired = read_owner(path).is_some_and(|o| {
            o.pid == expired.pid && o.since == expired.since && o.expires < unix_now()
        });
        if still_expired {
            tracing::warn!(
                lock = %path.display(),
                owner = %expired.describe(),
                "taking over an expired cache lock (its owner is stuck)"
            );
            let fresh = path.with_extension(format!("lock-{}", std::process::id()));
            std::fs::write(
                &fresh,
                serde_json::to_vec(&LockOwner::me()).unwrap_or_default(),
            )?;
            std::fs::rename(&fresh, path)?;
        }
        drop(guard);
        Ok(())
    }

    /// Writes this process as the owner, with a new expiry.
    fn renew(&self) -> std::io::Result<()> {
        use std::io::{Seek as _, Write as _};
        let mut file = &self.file;
        let bytes = serde_json::to_vec(&LockOwner::me()).map_err(std::io::Error::other)?;
        file.set_len(0)?;
        file.seek(std::io::SeekFrom::Start(0))?;
        file.write_all(&bytes)?;
        Ok(())
    }
}

fn read_owner(path: &Path) -> Option<LockOwner> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Whether `file` is the file at `path` (not one that was renamed over it).
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

impl RemoteCache {
    /// Opens (creating it when needed) the cache of `url` under `cache_root`, waiting for any
    /// other process using it.
    pub fn open(url: &str, cache_root: &Path) -> Result<RemoteCache, RemoteError> {
        let redacted = redact_url(url);
        let digest = Sha256::digest(redacted.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let last: String = redacted
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("repo")
            .trim_end_matches(".git")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let path = cache_root.join(format!("{last}-{hex}.git"));
        let lock_path = cache_root.join(format!("{last}-{hex}.lock"));
        let cache_error = |e: &dyn std::fmt::Display| RemoteError::Cache {
            path: path.clone(),
            message: scrub(&e.to_string(), url),
        };
        set_libgit2_timeouts();
        // One pass at a time per cache (fetches into one repository would collide); the OS
        // releases the lock when the process ends, however it ends, and a stuck owner loses it
        // when it expires.
        std::fs::create_dir_all(cache_root).map_err(|e| cache_error(&e))?;
        let lock = CacheLock::acquire(&lock_path).map_err(|e| cache_error(&e))?;
        let cache = RemoteCache {
            url: url.to_string(),
            path,
            lock,
        };
        if Repository::open_bare(&cache.path).is_err() {
            std::fs::create_dir_all(&cache.path).map_err(|e| cache.cache_error(&e))?;
            Repository::init_bare(&cache.path)
                .map_err(|e| cache.cache_error(&crate::repo::git_message(&e)))?;
        }
        Ok(cache)
    }

    /// The cache repository's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remote, with any credentials removed.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    fn cache_error(&self, e: &dyn std::fmt::Display) -> RemoteError {
        RemoteError::Cache {
            path: self.path.clone(),
            message: scrub(&e.to_string(), &self.url),
        }
    }

    /// [`RemoteCache::fetch_refs`] through the `git` command; `None` when it is not installed.
    fn fetch_refs_with_git(&self, names: &[String]) -> Option<Result<FetchedRefs, RemoteError>> {
        let run = |args: &[&str]| -> Result<std::process::Output, std::io::Error> {
            let mut cmd = std::process::Command::new("git");
            // A transfer slower than 1 KB/s for the read timeout fails (http); the deadline kills
            // what hangs anyway (git:// has no timeout of its own).
            cmd.arg("--git-dir")
                .arg(&self.path)
                .args(["-c", "protocol.version=2"])
                .args(["-c", "http.lowSpeedLimit=1000"])
                .arg("-c")
                .arg(format!("http.lowSpeedTime={}", read_timeout().as_secs()))
                .args(args);
            cmd.env("GIT_TERMINAL_PROMPT", "0")
                .stdin(std::process::Stdio::null());
            // A token goes in an environment-borne header, never on the command line.
            if let Ok(token) = std::env::var(TOKEN_ENV)
                && !token.is_empty()
            {
                cmd.env("GIT_CONFIG_COUNT", "1")
                    .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                    .env(
                        "GIT_CONFIG_VALUE_0",
                        format!("Authorization: Bearer {token}"),
                    );
            }
            if std::env::var_os("GIT_SSH_COMMAND").is_none() {
                cmd.env("GIT_SSH_COMMAND", ssh_command());
            }
            output_within(cmd, deadline())
        };
        let failed = |out: &std::process::Output| RemoteError::Fetch {
            url: self.redacted_url(),
            message: scrub(String::from_utf8_lossy(&out.stderr).trim(), &self.url),
        };
        // Fetch the refs by name: protocol v2 then advertises only them. A ref the remote does
        // not have fails the fetch naming it; it is noted as absent and the rest fetched again.
        let mut wanted: Vec<&String> = names.iter().collect();
        let mut absent: Vec<&String> = Vec::new();
        while !wanted.is_empty() {
            let specs: Vec<String> = wanted.iter().map(|n| format!("+{n}:{n}")).collect();
            let mut args = vec![
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                self.url.as_str(),
            ];
            args.extend(specs.iter().map(String::as_str));
            let out = match run(&args) {
                Ok(out) => out,
                // No git command: libgit2 does it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Some(Err(RemoteError::Fetch {
                        url: self.redacted_url(),
                        message: e.to_string(),
                    }));
                }
                Err(e) => {
                    return Some(Err(self.fetch_error()(git2::Error::from_str(
                        &e.to_string(),
                    ))));
                }
            };
            if out.status.success() {
                break;
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let missing: Vec<&String> = wanted
                .iter()
                .copied()
                .filter(|n| stderr.contains(&format!("couldn't find remote ref {n}")))
                .collect();
            if missing.is_empty() {
                return Some(Err(failed(&out)));
            }
            wanted.retain(|n| !missing.contains(n));
            absent.extend(missing);
        }
        let repo = match self.repo() {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let mut refs = std::collections::BTreeMap::new();
        for name in names {
            if absent.contains(&name) {
                if let Ok(mut r) = repo.find_reference(name)
                    && let Err(e) = r.delete()
                {
                    return Some(Err(self.fetch_error()(e)));
                }
                refs.insert(name.clone(), None);
            } else {
                refs.insert(name.clone(), repo.refname_to_id(name).ok());
            }
        }
        Some(Ok(FetchedRefs {
            refs,
            received_bytes: 0,
        }))
    }

    /// Maps a git error while fetching, scrubbed of credentials.
    fn fetch_error(&self) -> impl Fn(git2::Error) -> RemoteError + Copy + '_ {
        move |e| RemoteError::Fetch {
            url: self.redacted_url(),
            message: scrub(&describe(&e), &self.url),
        }
    }

    fn repo(&self) -> Result<Repository, RemoteError> {
        Repository::open_bare(&self.path)
            .map_err(|e| self.cache_error(&crate::repo::git_message(&e)))
    }

    /// Renews the cache lock's expiry (before each remote operation, so that only a process
    /// stuck in one loses it).
    fn renew_lock(&self) {
        if let Err(e) = self.lock.renew() {
            tracing::warn!(lock = %self.lock.path.display(), "could not renew the cache lock: {e}");
        }
    }

    /// Fetches only the named refs (a pull-mode agent's own mailbox and reported refs, so that
    /// its transfer does not grow with the fleet). Refs the remote does not have are deleted from
    /// the cache. Returns each ref's new value (`None`: absent) and the bytes received.
    ///
    /// With the `git` command installed, it is used with protocol v2, whose ref filtering keeps
    /// even the ref advertisement to the named refs (libgit2 speaks only protocol v0, where the
    /// server lists every ref of the repository); otherwise libgit2 fetches.
    pub fn fetch_refs(&self, names: &[String]) -> Result<FetchedRefs, RemoteError> {
        self.renew_lock();
        if let Some(fetched) = self.fetch_refs_with_git(names) {
            return fetched;
        }
        let repo = self.repo()?;
        let err = self.fetch_error();
        let mut remote = repo.remote_anonymous(&self.url).map_err(err)?;
        let tries = Cell::new(0);
        let callbacks = authenticated(&tries);
        let connection = remote
            .connect_auth(git2::Direction::Fetch, Some(callbacks), None)
            .map_err(err)?;
        let advertised: std::collections::BTreeMap<String, Oid> = connection
            .list()
            .map_err(err)?
            .iter()
            .filter(|h| names.iter().any(|n| n == h.name()))
            .map(|h| (h.name().to_string(), h.oid()))
            .collect();
        drop(connection);
        let specs: Vec<String> = advertised.keys().map(|n| format!("+{n}:{n}")).collect();
        let received = Cell::new(0usize);
        if !specs.is_empty() {
            let tries = Cell::new(0);
            let mut callbacks = authenticated(&tries);
            let started = std::time::Instant::now();
            callbacks.transfer_progress(|p| {
                received.set(p.received_bytes());
                within_deadline(started)
            });
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(callbacks)
                .download_tags(AutotagOption::None);
            remote
                .fetch(&specs, Some(&mut options), None)
                .map_err(err)?;
        }
        let mut refs = std::collections::BTreeMap::new();
        for name in names {
            match advertised.get(name) {
                Some(&oid) => {
                    refs.insert(name.clone(), Some(oid));
                }
                None => {
                    if let Ok(mut r) = repo.find_reference(name) {
                        r.delete().map_err(err)?;
                    }
                    refs.insert(name.clone(), None);
                }
            }
        }
        Ok(FetchedRefs {
            refs,
            received_bytes: received.get(),
        })
    }

    /// Mirrors every branch of the remote into the cache (pruning what the remote deleted)
    /// and points the cache's HEAD at the remote's default branch. Returns that branch's
    /// ref name, when the remote says.
    pub fn fetch(&self) -> Result<Option<String>, RemoteError> {
        self.renew_lock();
        let repo = self.repo()?;
        let err = self.fetch_error();
        let mut remote = repo.remote_anonymous(&self.url).map_err(err)?;
        let tries = Cell::new(0);
        let mut callbacks = authenticated(&tries);
        let started = std::time::Instant::now();
        callbacks.transfer_progress(move |_| within_deadline(started));
        callbacks.sideband_progress(move |_| within_deadline(started));
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(callbacks)
            .prune(FetchPrune::On)
            .download_tags(AutotagOption::None);
        remote
            .fetch(&["+refs/heads/*:refs/heads/*"], Some(&mut options), None)
            .map_err(err)?;
        let head = remote
            .default_branch()
            .ok()
            .and_then(|b| b.as_str().ok().map(str::to_string));
        if let Some(head) = &head {
            repo.set_head(head).map_err(err)?;
        }
        Ok(head)
    }

    /// Pushes the refs (fast-forward only: a remote ref that moved since the fetch rejects
    /// the push). Returns the refs the remote rejected; empty when all went through.
    pub fn push(&self, refs: &[RefPush]) -> Result<Vec<String>, RemoteError> {
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        self.renew_lock();
        let repo = self.repo()?;
        let err = |e: git2::Error| RemoteError::Push {
            url: self.redacted_url(),
            message: scrub(&describe(&e), &self.url),
        };
        let mut remote = repo.remote_anonymous(&self.url).map_err(err)?;
        let specs: Vec<String> = refs
            .iter()
            .map(|(name, new)| match new {
                Some(_) => format!("{name}:{name}"),
                None => format!(":{name}"),
            })
            .collect();
        let tries = Cell::new(0);
        let rejected = std::cell::RefCell::new(Vec::new());
        let mut callbacks = authenticated(&tries);
        let started = std::time::Instant::now();
        callbacks.sideband_progress(move |_| within_deadline(started));
        callbacks.push_update_reference(|name, status| {
            if status.is_some() {
                rejected.borrow_mut().push(name.to_string());
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        match remote.push(&specs, Some(&mut options)) {
            Ok(()) => {}
            // libgit2 refuses locally when the remote tip is not an ancestor of ours.
            Err(e) if e.code() == ErrorCode::NotFastForward => {
                return Ok(refs.iter().map(|(n, _)| n.clone()).collect());
            }
            Err(e) => return Err(err(e)),
        }
        drop(options);
        Ok(rejected.into_inner())
    }
}

/// The ssh command the `git` command uses: the same known hosts as libgit2 (`$HOME/.ssh`; ssh
/// itself would read the passwd entry's home, which differs in containers) and, when
/// `GITSTELLAR_SSH_KEY` names one, only that key.
fn ssh_command() -> String {
    // GIT_SSH_COMMAND goes through a shell: quote every path.
    let quote = |p: &std::path::Path| format!("'{}'", p.to_string_lossy().replace('\'', "'\\''"));
    let mut command = format!(
        "ssh -o ConnectTimeout={} -o ServerAliveInterval={} -o ServerAliveCountMax=3",
        connect_timeout().as_secs(),
        read_timeout().as_secs().div_ceil(3).max(1)
    );
    if let Some(home) = std::env::var_os("HOME") {
        let known = PathBuf::from(home).join(".ssh").join("known_hosts");
        command.push_str(&format!(" -o UserKnownHostsFile={}", quote(&known)));
    }
    if let Some(key) = std::env::var_os(SSH_KEY_ENV) {
        command.push_str(&format!(
            " -o IdentitiesOnly=yes -i {}",
            quote(std::path::Path::new(&key))
        ));
    }
    command
}

/// Whether a libgit2 transfer started at `started` is still within the deadline (a callback
/// returning `false` stops it).
fn within_deadline(started: std::time::Instant) -> bool {
    started.elapsed() < deadline()
}

/// Runs `cmd` to completion, its output captured, unless it runs past `limit`: then it is killed
/// and the error is [`std::io::ErrorKind::TimedOut`].
fn output_within(
    mut cmd: std::process::Command,
    limit: std::time::Duration,
) -> std::io::Result<std::process::Output> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(std::process::Output {
                status,
                stdout: stdout.join().unwrap_or_default(),
                stderr: stderr.join().unwrap_or_default(),
            });
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            // The readers are not joined: a helper git started may still hold the pipes.
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "git did not finish within {} s and was killed (the server does not answer; {DEADLINE_ENV} sets the limit)",
                    limit.as_secs()
                ),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What a libgit2 error says, in words a user can act on where libgit2's are vague: a server
/// certificate that fails verification is reported by libgit2 only as "invalid", a timeout
/// does not say which setting to change.
fn describe(e: &git2::Error) -> String {
    // libgit2 reports a socket timeout with GIT_TIMEOUT only from some transports.
    if e.code() == ErrorCode::Timeout || e.message().contains("timed out") {
        return format!(
            "the server did not answer in time ({}; {CONNECT_TIMEOUT_ENV}={} s to connect, \
             {READ_TIMEOUT_ENV}={} s without data)",
            crate::repo::git_message(e),
            connect_timeout().as_secs(),
            read_timeout().as_secs()
        );
    }
    if e.class() == git2::ErrorClass::Callback && started_by_deadline(e) {
        return format!(
            "the transfer did not finish within {} s ({DEADLINE_ENV})",
            deadline().as_secs()
        );
    }
    if e.code() == ErrorCode::Certificate {
        format!(
            "the server's certificate could not be verified ({}); a private CA is trusted \
             through SSL_CERT_FILE",
            e.message()
        )
    } else {
        crate::repo::git_message(e)
    }
}

/// Whether a callback error is a progress callback's: only the deadline stops a transfer that
/// way (the credential callback's errors are its own).
fn started_by_deadline(e: &git2::Error) -> bool {
    e.message().contains("progress")
}

/// Callbacks that answer credential requests (counting attempts in `tries`).
fn authenticated(tries: &Cell<u32>) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |url, user, allowed| credentials(tries, url, user, allowed));
    callbacks
}

/// The credential callback: token, credential helper, ssh agent, key files, in that order.
fn credentials(
    tries: &Cell<u32>,
    url: &str,
    user: Option<&str>,
    allowed: CredentialType,
) -> Result<Cred, git2::Error> {
    let n = tries.get() + 1;
    tries.set(n);
    if n > 6 {
        return Err(git2::Error::from_str(
            "authentication failed (no credential was accepted)",
        ));
    }
    if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
        if let Ok(token) = std::env::var(TOKEN_ENV)
            && n == 1
        {
            return Cred::userpass_plaintext(user.unwrap_or("x-access-token"), &token);
        }
        if let Ok(config) = git2::Config::open_default()
            && let Ok(cred) = Cred::credential_helper(&config, url, user)
            && n <= 2
        {
            return Ok(cred);
        }
    }
    if allowed.contains(CredentialType::SSH_KEY) {
        let user = user.unwrap_or("git");
        if n == 1
            && let Ok(cred) = Cred::ssh_key_from_agent(user)
        {
            return Ok(cred);
        }
        for key in ssh_keys() {
            if key.exists() {
                return Cred::ssh_key(user, None, &key, None);
            }
        }
    }
    if allowed.contains(CredentialType::USERNAME) {
        return Cred::username(user.unwrap_or("git"));
    }
    if allowed.contains(CredentialType::DEFAULT) {
        return Cred::default();
    }
    Err(git2::Error::from_str("no usable credential"))
}

fn ssh_keys() -> Vec<PathBuf> {
    if let Some(key) = std::env::var_os(SSH_KEY_ENV) {
        return vec![PathBuf::from(key)];
    }
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    let ssh = PathBuf::from(home).join(".ssh");
    vec![ssh.join("id_ed25519"), ssh.join("id_rsa")]
}

/// A URL with its user information (user, password, token) removed.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        format!("{scheme}://{host}{path}")
    } else {
        url.to_string()
    }
}

/// `text` with the URL's user information and the token (if set) replaced by `***`.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    if let Some((_, rest)) = url.split_once("://") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            for secret in userinfo.split(':').filter(|s| s.len() >= 4) {
                out = out.replace(secret, "***");
            }
        }
    }
    if let Ok(token) = std::env::var(TOKEN_ENV)
        && token.len() >= 4
    {
        out = out.replace(&token, "***");
    }
    out
}

/// The default root of the caches: `$XDG_CACHE_HOME/gitstellar`, else `~/.cache/gitstellar`.
pub fn default_cache_root() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("gitstellar"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("gitstellar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_scrubbed() {
        let url = "https://user:s3cr3t-token@example.com/org/r.git";
        assert_eq!(redact_url(url), "https://example.com/org/r.git");
        let text = format!("failed to reach {url}; token s3cr3t-token rejected");
        let clean = scrub(&text, url);
        assert!(!clean.contains("s3cr3t"), "{clean}");
    }
}
