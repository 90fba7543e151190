//! `gitstellar plan`: evaluate one revision and print the result.

use std::io::Write as _;

use anyhow::Context as _;

use super::{Exit, OutputFormat, SourceArgs};
use crate::placement;
use crate::plan::render;
use crate::repo::SourceRepo;

/// Arguments of `gitstellar plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: OutputFormat,
    /// Instead of the plan, explain why each EdgePlacement does or does not select this object,
    /// given as `group/Kind/namespace/name` (`core` for the core group, `_cluster` when cluster-scoped).
    #[arg(long, value_name = "OBJECT")]
    explain: Option<String>,
}

pub(super) fn run(args: PlanArgs) -> anyhow::Result<Exit> {
    let repo = SourceRepo::open(&args.source.repo)?;
    let snapshot = if args.source.worktree {
        repo.worktree_snapshot()?
    } else {
        let commit = repo.resolve(&args.source.rev)?;
        repo.snapshot(commit)?
    };
    if let Some(object) = &args.explain {
        return explain(&snapshot, object, args.output);
    }
    // What a pass would hold, against the mailboxes the last pass wrote (design §9.16).
    let held = crate::reconcile::hold::plan_held(&repo, snapshot)?;
    let (plan, snapshot) = (held.plan, held.snapshot);
    match args.output {
        OutputFormat::Json => {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            render::write_json(&plan, &mut out).context("writing the plan to stdout")?;
            out.flush().context("writing the plan to stdout")?;
        }
        OutputFormat::Table => {
            super::print(&render::table(&plan)).context("writing the plan to stdout")?
        }
        OutputFormat::Yaml => {
            super::print(&render::yaml(&plan)?).context("writing the plan to stdout")?
        }
    }
    let outcome = if plan.problems.is_empty() {
        Exit::Clean
    } else {
        Exit::Problems
    };
    // The process ends here: freeing a fleet's plan value by value would only add time.
    std::mem::forget(plan);
    std::mem::forget(snapshot);
    Ok(outcome)
}

fn explain(
    snapshot: &crate::model::Snapshot,
    object: &str,
    output: OutputFormat,
) -> anyhow::Result<Exit> {
    let resolution = placement::resolve(snapshot);
    let explanations: Vec<placement::Explanation> = snapshot
        .workloads
        .iter()
        .enumerate()
        .flat_map(|(w, wds)| {
            wds.objects
                .iter()
                .enumerate()
                .filter(|(_, o)| o.id.to_string() == object)
                .map(move |(o, _)| (w, o))
        })
        .map(|(w, o)| placement::explain(snapshot, &resolution, w, o))
        .collect();
    if explanations.is_empty() {
        anyhow::bail!(
            "no workload description space has object {object:?} (write it as group/Kind/namespace/name, e.g. apps/Deployment/default/web or core/Namespace/_cluster/web)"
        );
    }
    let text = match output {
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&explanations)?),
        OutputFormat::Yaml => {
            gitstellar_core::yaml::to_string(&serde_json::to_value(&explanations)?)
                .map_err(|e| anyhow::anyhow!("rendering YAML: {e}"))?
        }
        OutputFormat::Table => {
            let mut out = String::new();
            for e in &explanations {
                out.push_str(&format!("{} in WDS {}\n", e.object, e.wds));
                if let Some(why) = &e.excluded {
                    out.push_str(&format!("  never selected: {why}\n"));
                }
                if e.placements.is_empty() {
                    out.push_str("  no EdgePlacement in this WDS\n");
                }
                for p in &e.placements {
                    let verdict = if p.selected {
                        "selects it"
                    } else {
                        "does not select it"
                    };
                    let dests = if p.destinations.is_empty() {
                        "no destination".into()
                    } else {
                        p.destinations.join(", ")
                    };
                    out.push_str(&format!(
                        "  {}: {verdict} (destinations: {dests})\n",
                        p.name
                    ));
                    for r in &p.reasons {
                        out.push_str(&format!("    {r}\n"));
                    }
                }
            }
            out
        }
    };
    super::print(&text).context("writing the explanation to stdout")?;
    Ok(
        if snapshot.problems.is_empty() && resolution.problems.is_empty() {
            Exit::Clean
        } else {
            Exit::Problems
        },
    )
}
