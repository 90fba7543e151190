//! `gitstellar plan`: evaluate one revision and print the result.

use anyhow::Context as _;

use super::{Outcome, OutputFormat, SourceArgs};
use crate::plan::{self, render};
use crate::repo::SourceRepo;

/// Arguments of `gitstellar plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: OutputFormat,
}

pub(super) fn run(args: PlanArgs) -> anyhow::Result<Outcome> {
    let repo = SourceRepo::open(&args.source.repo)?;
    let snapshot = if args.source.worktree {
        repo.worktree_snapshot()?
    } else {
        let commit = repo.resolve(&args.source.rev)?;
        repo.snapshot(commit)?
    };
    let plan = plan::compute(&snapshot);
    let text = match args.output {
        OutputFormat::Table => render::table(&plan),
        OutputFormat::Json => render::json(&plan)?,
        OutputFormat::Yaml => render::yaml(&plan)?,
    };
    super::print(&text).context("writing the plan to stdout")?;
    Ok(if plan.problems.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}
