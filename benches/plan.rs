//! The plan benchmark: generates a synthetic repo ([`gitstellar_testkit::synth`]), commits it
//! into a temporary git repository, then measures in a fresh child process each stage of a full
//! plan — reading the commit, `model::load`, `placement::resolve`, `plan::compute` (which resolves
//! again) and `plan::render::json` — with wall time and peak RSS per stage.
//!
//! `cargo bench --bench plan` runs the target size (1,000 WECs × 50 apps × 1,000 EdgePlacements);
//! `cargo bench --bench plan -- --quick` a small smoke size. Sizes: `--wecs N`, `--apps N`,
//! `--objects-per-app N`, `--placements N`, `--wds N`, `--expanded PCT`, `--customized PCT`,
//! `--reach LO-HI`, `--seed N`; `--runs N` repeats each timed stage (minimum and median are shown);
//! `--keep DIR` commits the repo into DIR and keeps it (for `gitstellar plan --repo DIR`). Each
//! option can also come from the environment as `GITSTELLAR_BENCH_<NAME>` (`GITSTELLAR_BENCH_WECS=200`).
//!
//! Memory: peak RSS is `VmHWM` of `/proc/self/status`, reset (`/proc/self/clear_refs` ← `5`)
//! before each stage, so a stage's peak includes what earlier stages left resident (their results,
//! and memory the allocator keeps after freeing). The child process does not hold the generator's
//! memory; its overall peak is the peak of a `gitstellar plan` on that repo.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gitstellar::model;
use gitstellar::placement;
use gitstellar::plan;
use gitstellar::repo::SourceRepo;
use gitstellar_testkit::synth::{self, SynthConfig};

struct Options {
    config: SynthConfig,
    runs: usize,
    keep: Option<PathBuf>,
    measure: Option<(PathBuf, String)>,
}

const USAGE: &str = "usage: plan [--quick] [--wecs N] [--apps N] [--objects-per-app N] \
[--placements N] [--wds N] [--expanded PCT] [--customized PCT] [--reach LO-HI] [--seed N] \
[--runs N] [--keep DIR]";

fn parse() -> Result<Options, String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = SynthConfig::default();
    let mut runs = 1;
    let mut keep = None;
    let mut measure = None;
    if args.iter().any(|a| a == "--quick")
        || std::env::var("GITSTELLAR_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
    {
        config = SynthConfig::quick();
        runs = 3;
    }
    // Environment first, so that command-line options win.
    let mut all: Vec<String> = Vec::new();
    for name in [
        "wecs",
        "apps",
        "objects-per-app",
        "placements",
        "wds",
        "expanded",
        "customized",
        "reach",
        "seed",
        "runs",
        "keep",
    ] {
        let var = format!("GITSTELLAR_BENCH_{}", name.to_uppercase().replace('-', "_"));
        if let Ok(value) = std::env::var(&var) {
            all.push(format!("--{name}"));
            all.push(value);
        }
    }
    all.append(&mut args);
    let mut it = all.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let number =
            |name: &str, v: String| v.parse::<u64>().map_err(|e| format!("{name} {v:?}: {e}"));
        match arg.as_str() {
            // cargo bench passes --bench; libtest-style filters are ignored too.
            "--bench" | "--quick" => {}
            "--wecs" => config.wecs = number(&arg, value(&arg)?)? as usize,
            "--apps" => config.apps = number(&arg, value(&arg)?)? as usize,
            "--objects-per-app" => config.objects_per_app = number(&arg, value(&arg)?)? as usize,
            "--placements" => config.placements = number(&arg, value(&arg)?)? as usize,
            "--wds" => config.wds_count = number(&arg, value(&arg)?)?.max(1) as usize,
            "--expanded" => config.expanded_percent = number(&arg, value(&arg)?)? as u32,
            "--customized" => config.customized_percent = number(&arg, value(&arg)?)? as u32,
            "--seed" => config.seed = number(&arg, value(&arg)?)?,
            "--runs" => runs = number(&arg, value(&arg)?)?.max(1) as usize,
            "--reach" => {
                let v = value(&arg)?;
                let (lo, hi) = v
                    .split_once('-')
                    .ok_or(format!("--reach {v:?}: expected LO-HI"))?;
                config.reach_percent = (
                    number(&arg, lo.into())? as u32,
                    number(&arg, hi.into())? as u32,
                );
            }
            "--keep" => keep = Some(PathBuf::from(value(&arg)?)),
            "--measure" => {
                let dir = PathBuf::from(value(&arg)?);
                let rev = value(&arg)?;
                measure = Some((dir, rev));
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other:?}\n{USAGE}"));
            }
            _ => {}
        }
    }
    Ok(Options {
        config,
        runs,
        keep,
        measure,
    })
}

fn main() {
    let options = match parse() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if let Some((dir, rev)) = &options.measure {
        measure(dir, rev, options.runs);
    } else {
        drive(&options);
    }
}

/// Generates and commits the repo, then measures the plan in a child process.
fn drive(options: &Options) {
    let c = &options.config;
    println!(
        "gitstellar plan benchmark: {} WECs, {} apps × {} objects in {} WDSes, {} EdgePlacements, \
         {}% expanded, {}% customized, reach {}–{}%, seed {}",
        c.wecs,
        c.apps,
        c.objects_per_app,
        c.wds_count,
        c.placements,
        c.expanded_percent,
        c.customized_percent,
        c.reach_percent.0,
        c.reach_percent.1,
        c.seed
    );
    let start = Instant::now();
    let files = synth::generate(c);
    let generate_time = start.elapsed();
    let bytes: usize = files
        .iter()
        .map(|f| f.content.as_ref().map_or(0, Vec::len))
        .sum();

    let temp;
    let dir: &Path = match &options.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).expect("create --keep directory");
            dir
        }
        None => {
            temp = tempfile::tempdir().expect("temporary directory");
            temp.path()
        }
    };
    let start = Instant::now();
    let oid = synth::commit_to_repo(&files, dir).expect("commit the synthetic repo");
    let commit_time = start.elapsed();
    println!(
        "generated {} files ({:.1} MiB) in {}; committed in {} (generator process peak RSS {})",
        files.len(),
        mib(bytes as u64),
        ms(generate_time),
        ms(commit_time),
        rss_mib(Rss::Peak),
    );
    if options.keep.is_some() {
        println!("repository kept: commit {oid}");
    }
    drop(files);

    let exe = std::env::current_exe().expect("the benchmark's own path");
    let status = Command::new(exe)
        .arg("--measure")
        .arg(dir)
        .arg(oid.to_string())
        .arg("--runs")
        .arg(options.runs.to_string())
        .status()
        .expect("run the measuring child process");
    if !status.success() {
        eprintln!("measuring process failed: {status}");
        std::process::exit(1);
    }
}

/// One timed stage's figures.
struct Stage {
    name: &'static str,
    times: Vec<Duration>,
    rss_before: u64,
    peak: u64,
}

impl Stage {
    fn min(&self) -> Duration {
        self.times.iter().copied().min().unwrap_or_default()
    }

    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t[t.len() / 2]
    }
}

/// Runs `f` `runs` times, timing each run; keeps the last result. Peak RSS covers all runs.
fn stage<T>(name: &'static str, runs: usize, mut f: impl FnMut() -> T) -> (T, Stage) {
    reset_peak();
    let rss_before = rss_kib(Rss::Current);
    let mut times = Vec::with_capacity(runs);
    let mut result = None;
    for _ in 0..runs {
        // Drop the previous result first, so that a run's peak is one result's worth.
        drop(result.take());
        let start = Instant::now();
        let r = f();
        times.push(start.elapsed());
        result = Some(r);
    }
    let peak = rss_kib(Rss::Peak);
    (
        result.expect("at least one run"),
        Stage {
            name,
            times,
            rss_before,
            peak,
        },
    )
}

/// The child process: reads the commit, loads, resolves, plans and renders, measuring each.
fn measure(dir: &Path, rev: &str, runs: usize) {
    let load_before = load_average();
    let mut stages = Vec::new();
    let (files, s) = stage("read commit (git2)", runs, || {
        let repo = SourceRepo::open(dir).expect("open the repo");
        let oid = repo.resolve(rev).expect("resolve the commit");
        repo.read_commit(oid).expect("read the commit")
    });
    stages.push(s);
    let (mut snapshot, s) = stage("model::load", runs, || model::load(&files));
    stages.push(s);
    snapshot.revision = Some(rev.to_string());
    drop(files);
    let (resolution, s) = stage("placement::resolve", runs, || placement::resolve(&snapshot));
    stages.push(s);
    drop(resolution);
    let (mut plan, s) = stage("plan::compute (resolve + customize + join)", runs, || {
        plan::compute(&snapshot)
    });
    stages.push(s);
    let (mut json, s) = stage("plan::render::json", runs, || {
        plan::render::json(&plan).expect("render JSON")
    });
    stages.push(s);

    let objects: usize = snapshot.workloads.iter().map(|w| w.objects.len()).sum();
    let placements: usize = snapshot
        .workloads
        .iter()
        .map(|w| w.edge_placements.len())
        .sum();
    let per_wec: Vec<usize> = plan
        .destinations
        .values()
        .map(|d| d.objects.len())
        .collect();
    let pairs: usize = per_wec.iter().sum();
    let wecs = per_wec.len().max(1);
    let reached = per_wec.iter().filter(|&&n| n > 0).count();
    // Distinct delivered object values (customized copies are shared between destinations that
    // agree on their parameters).
    let mut distinct: Vec<usize> = plan
        .destinations
        .values()
        .flat_map(|d| &d.objects)
        .map(|p| std::sync::Arc::as_ptr(&p.object) as usize)
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let max_placements = plan
        .destinations
        .values()
        .flat_map(|d| &d.objects)
        .map(|p| p.placements.len())
        .max()
        .unwrap_or(0);

    let wec_count: usize = snapshot
        .inventories
        .iter()
        .map(|i| i.sync_targets.len())
        .sum();
    let (wds_count, snapshot_problems) = (snapshot.workloads.len(), snapshot.problems.len());
    let plan_problems = plan.problems.len();
    let json_len = json.len();
    let ((), s) = stage("drop (JSON text, plan, snapshot)", 1, || {
        drop(std::mem::take(&mut json));
        drop(std::mem::replace(&mut plan, empty_plan()));
        drop(std::mem::take(&mut snapshot));
    });
    stages.push(s);

    println!(
        "snapshot: {} WECs, {} WDSes, {} workload objects, {} EdgePlacements, {} problems",
        wec_count, wds_count, objects, placements, snapshot_problems,
    );
    println!(
        "plan: {} (object, WEC) pairs; objects per WEC: mean {:.1}, min {}, max {} ({} of {} WECs get something); \
         {} distinct delivered values; up to {} EdgePlacements select one object for one WEC; {} problems",
        pairs,
        pairs as f64 / wecs as f64,
        per_wec.iter().min().copied().unwrap_or(0),
        per_wec.iter().max().copied().unwrap_or(0),
        reached,
        per_wec.len(),
        distinct.len(),
        max_placements,
        plan_problems,
    );
    println!("JSON rendering: {:.1} MiB", mib(json_len as u64));
    println!();
    println!(
        "{:<46} {:>10} {:>10} {:>16} {:>16}",
        "stage", "min", "median", "RSS before (MiB)", "peak RSS (MiB)"
    );
    for s in &stages {
        println!(
            "{:<46} {:>10} {:>10} {:>16.1} {:>16.1}",
            s.name,
            ms(s.min()),
            ms(s.median()),
            s.rss_before as f64 / 1024.0,
            s.peak as f64 / 1024.0
        );
    }
    let total = |names: &[&str]| -> Duration {
        stages
            .iter()
            .filter(|s| names.contains(&s.name))
            .map(Stage::min)
            .sum()
    };
    let plan_total = total(&[
        "read commit (git2)",
        "model::load",
        "plan::compute (resolve + customize + join)",
    ]);
    let with_render = plan_total + total(&["plan::render::json"]);
    let peak = stages.iter().map(|s| s.peak).max().unwrap_or(0);
    println!();
    println!(
        "full plan (read + load + compute): {}; with JSON rendering: {}; peak RSS of the process: {:.1} MiB",
        ms(plan_total),
        ms(with_render),
        peak as f64 / 1024.0
    );
    println!(
        "{} CPUs; load average before: {load_before}, after: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!("target (1,000 WECs × 50 apps × 1,000 EdgePlacements): under 5 s and under 1 GiB");
}

/// A plan with nothing in it, to take a real one's place when dropping it.
fn empty_plan() -> plan::Plan {
    plan::Plan {
        revision: None,
        placements: Vec::new(),
        destinations: Default::default(),
        problems: Vec::new(),
    }
}

/// The 1-minute load average (other work on the machine inflates the times).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[derive(Clone, Copy)]
enum Rss {
    Current,
    Peak,
}

/// `VmRSS` or `VmHWM` of `/proc/self/status` in KiB (0 where there is no such file).
fn rss_kib(which: Rss) -> u64 {
    let key = match which {
        Rss::Current => "VmRSS:",
        Rss::Peak => "VmHWM:",
    };
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(key)?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

fn rss_mib(which: Rss) -> String {
    format!("{:.1} MiB", rss_kib(which) as f64 / 1024.0)
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0); without it, peaks are cumulative.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
