//! Push mode at fleet scale, and what a pull-mode agent fetches as the fleet grows.
//!
//! `cargo bench --bench sync [-- --wecs N --objects M | --quick]`. Starts `gitstellar wecsim` as a
//! separate process (so the figures are the syncing process's own), then measures:
//! 1. a full first sync of N WECs × M objects (push mode, `sync_fleet`);
//! 2. a one-object change reaching every WEC (incremental: one apply per WEC);
//! 3. the peak memory (VmHWM) of this process;
//! 4. the pack bytes one agent receives for its first fetch from a `git daemon`, for fleets of
//!    10, 100 and 1,000 WECs (must stay flat: an agent fetches only its own refs).

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use gitstellar::model::ObjectId;
use gitstellar::repo::remote::RemoteCache;
use gitstellar::repo::write::{Committer, Files};
use gitstellar::sync::fleet::{ClusterAccess, FleetOptions, Pending, sync_fleet};
use gitstellar::sync::{Desired, Mailbox};
use serde_json::json;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn wec_name(i: usize) -> String {
    format!("wec{i:04}")
}

/// The objects of one WEC: a namespace, M-2 shared ConfigMaps, and one of its own.
fn objects(wec: &str, m: usize, revision: usize) -> Vec<Desired> {
    let mut out = vec![Desired {
        id: ObjectId::new("", "Namespace", None, "app"),
        wds: "bench".into(),
        create_only: false,
        object: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    }];
    for k in 0..m.saturating_sub(1) {
        let name = if k + 2 == m {
            format!("own-{wec}")
        } else {
            format!("shared-{k:03}")
        };
        let value = if k == 0 {
            format!("revision {revision}")
        } else {
            format!("value {k}")
        };
        out.push(Desired {
            id: ObjectId { group: String::new(), kind: "ConfigMap".into(), namespace: Some("app".into()), name: name.clone() },
            wds: "bench".into(),
            create_only: false,
            object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "app", "labels": {"app": "bench"}}, "data": {"k": value, "padding": "x".repeat(200)}}),
        });
    }
    out
}

fn start_wecsim(n: usize, dir: &Path) -> std::process::Child {
    let clusters: Vec<String> = (0..n).map(wec_name).collect();
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitstellar"))
        .args([
            "wecsim",
            "--clusters",
            &clusters.join(","),
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gitstellar wecsim");
    let stdout = child.stdout.take().expect("wecsim stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    for _ in 0..n {
        if lines.next().is_none() {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

fn sync_figures(n: usize, m: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wecsim = start_wecsim(n, dir.path());
    let access =
        ClusterAccess::from_kubeconfig(Some(&dir.path().join("kubeconfig"))).expect("kubeconfig");
    let options = FleetOptions {
        concurrency: 64,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let first: Vec<Pending> = (0..n)
        .map(|i| {
            Pending::from(Mailbox {
                wec: wec_name(i),
                commit: Some("1".into()),
                objects: objects(&wec_name(i), m, 1),
                bare_namespaces: Vec::new(),
            })
        })
        .collect();
    let started = Instant::now();
    let reports = runtime.block_on(sync_fleet(&access, first, &options));
    let full = started.elapsed();
    let failed = reports.iter().filter(|r| !r.is_clean()).count();
    let applied: usize = reports.iter().map(|r| r.objects.len()).sum();
    println!(
        "push mode, {n} WECs x {m} objects: full first sync {:.2} s ({applied} objects, {failed} WECs not clean)",
        full.as_secs_f64()
    );

    // One object (shared-000) changes everywhere; every other object is known to be unchanged.
    let second: Vec<Pending> = (0..n)
        .map(|i| {
            let wec = wec_name(i);
            let mailbox = Mailbox {
                wec: wec.clone(),
                commit: Some("2".into()),
                objects: objects(&wec, m, 2),
                bare_namespaces: Vec::new(),
            };
            let unchanged: BTreeSet<ObjectId> = mailbox
                .objects
                .iter()
                .filter(|d| d.id.name != "shared-000")
                .map(|d| d.id.clone())
                .collect();
            Pending { mailbox, unchanged }
        })
        .collect();
    let started = Instant::now();
    let reports = runtime.block_on(sync_fleet(&access, second, &options));
    let one = started.elapsed();
    let failed = reports.iter().filter(|r| !r.is_clean()).count();
    println!(
        "push mode: one-object change reaching all {n} WECs {:.2} s ({failed} WECs not clean)",
        one.as_secs_f64()
    );
    println!(
        "push mode: peak memory of the syncing process {:.0} MiB",
        peak_rss_mib()
    );
    let _ = wecsim.kill();
    let _ = wecsim.wait();
}

/// A bare repository with `n` mailbox refs (M objects each, almost all shared), served by a
/// `git daemon`; returns the pack bytes and all the bytes one agent receives for its first fetch.
fn agent_fetch_bytes(n: usize, m: usize) -> (usize, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("origin.git");
    let repo = git2::Repository::init_bare(&bare).expect("init");
    let mut writer = Committer::new(
        &repo,
        gitstellar::repo::write::Producer::Pass,
        "0000000000000000000000000000000000000000",
    )
    .expect("writer");
    for i in 0..n {
        let wec = wec_name(i);
        let mut files = Files::new();
        for d in objects(&wec, m, 1) {
            let path = format!(
                "objects/{}/{}/{}/{}.yaml",
                d.id.group_dir(),
                d.id.kind,
                d.id.namespace_dir(),
                d.id.name
            );
            let yaml = serde_saphyr::to_string(&d.object).expect("yaml");
            files.insert(Arc::from(path.as_str()), Arc::from(yaml.into_bytes()));
        }
        files.insert(
            Arc::from("syncer-config.yaml"),
            Arc::from(format!("kind: SyncerConfig\n# {wec}\n").into_bytes()),
        );
        writer
            .update(
                &format!("refs/heads/gitstellar/mailbox/{wec}"),
                &files,
                |_| "bench".into(),
            )
            .expect("update");
    }
    writer.finish().expect("finish");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut daemon = Command::new("git")
        .current_dir(dir.path())
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", dir.path().display()))
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let (proxy_port, counted) = counting_proxy(port);
    let cache_root = dir.path().join("cache");
    let url = format!("git://127.0.0.1:{proxy_port}/origin.git");
    let cache = RemoteCache::open(&url, &cache_root).expect("cache");
    let wec = wec_name(0);
    let fetched = cache
        .fetch_refs(&[
            format!("refs/heads/gitstellar/mailbox/{wec}"),
            format!("refs/heads/gitstellar/reported/{wec}"),
        ])
        .expect("fetch");
    let _ = daemon.kill();
    let _ = daemon.wait();
    (
        fetched.received_bytes,
        counted.load(std::sync::atomic::Ordering::SeqCst),
    )
}

/// A loopback TCP proxy to `port` that counts the bytes the server sends (ref advertisement and
/// pack alike): what an agent really receives.
fn counting_proxy(port: u16) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy");
    let proxy_port = listener.local_addr().expect("addr").port();
    let counted = Arc::new(AtomicUsize::new(0));
    let total = counted.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (mut from_client, mut to_server) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_client, &mut to_server);
                let _ = to_server.shutdown(std::net::Shutdown::Write);
            });
            let (mut from_server, mut to_client) = (server, client);
            let total = total.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = from_server.read(&mut buf) {
                    if n == 0 || to_client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    total.fetch_add(n, Ordering::SeqCst);
                }
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (proxy_port, counted)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = arg("--wecs", if quick { 50 } else { 1000 });
    let m = arg("--objects", 50);
    sync_figures(n, m);
    for fleet in [10, 100, 1000] {
        if quick && fleet > 100 {
            break;
        }
        let (pack, total) = agent_fetch_bytes(fleet, m);
        println!(
            "agent: first fetch with a fleet of {fleet:>4} WECs: {pack} pack bytes, {total} bytes received in all (ref advertisement included)"
        );
    }
}
