//! Rendering a [`Plan`]: JSON and YAML for programs (design §7's contract), a table for people.

use std::fmt::Write as _;

use super::Plan;

/// Why a plan could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// JSON serialization failed.
    #[error("rendering JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML serialization failed.
    #[error("rendering YAML: {0}")]
    Yaml(String),
}

/// The plan as one pretty-printed JSON object, newline-terminated.
pub fn json(plan: &Plan) -> Result<String, RenderError> {
    let mut out = serde_json::to_string_pretty(plan)?;
    out.push('\n');
    Ok(out)
}

/// Writes [`json`]'s text to `out` as it is produced: a fleet's plan is hundreds of megabytes of
/// text, which need not sit in memory beside the plan.
pub fn write_json(plan: &Plan, out: &mut impl std::io::Write) -> Result<(), RenderError> {
    serde_json::to_writer_pretty(&mut *out, plan)?;
    out.write_all(b"\n").map_err(serde_json::Error::io)?;
    Ok(())
}

/// The plan as one YAML document.
pub fn yaml(plan: &Plan) -> Result<String, RenderError> {
    // Through a JSON value, so YAML and JSON output agree field for field.
    let value = serde_json::to_value(plan)?;
    crate::yaml::to_string(&value).map_err(|e| RenderError::Yaml(e.to_string()))
}

/// The plan for people: WEC by WEC, what each gets, then the problems.
pub fn table(plan: &Plan) -> String {
    let mut out = String::new();
    if let Some(rev) = &plan.revision {
        let _ = writeln!(out, "revision {rev}");
    }
    let _ = writeln!(out, "\nEdgePlacements");
    if plan.placements.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    let width = plan
        .placements
        .iter()
        .map(|p| p.wds.len() + p.name.len() + 1)
        .max()
        .unwrap_or(0);
    for p in &plan.placements {
        let dests: Vec<&str> = p
            .destinations
            .iter()
            .map(|d| d.sync_target.as_str())
            .collect();
        let held = match &p.held {
            Some(mark) => format!(
                " [held as {} resolved it: {}]",
                mark.revision.get(..12).unwrap_or(&mark.revision),
                mark.reason
            ),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:width$}  {} object(s) → {}{held}",
            format!("{}/{}", p.wds, p.name),
            p.objects.len(),
            if dests.is_empty() {
                "no destination".to_string()
            } else {
                super::name_list(&dests)
            },
        );
    }
    let _ = writeln!(out, "\nWECs");
    if plan.destinations.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (wec, dest) in &plan.destinations {
        let _ = writeln!(
            out,
            "  {wec}: {} object(s), {} namespace(s) ensured, {} upsync rule(s)",
            dest.objects.len(),
            dest.namespaces.len(),
            dest.upsync.len()
        );
        for o in &dest.objects {
            let mut flags = Vec::new();
            if o.create_only {
                flags.push("create-only");
            }
            if o.want_singleton_reported_state {
                flags.push("singleton");
            }
            if o.held.is_held() {
                flags.push("held");
            }
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", flags.join(", "))
            };
            let _ = writeln!(
                out,
                "    {}  from {} via {}{flags}",
                o.id,
                o.wds,
                if o.placements.is_empty() && o.held.is_held() {
                    "the last pass".to_string()
                } else {
                    o.placements.join(", ")
                }
            );
            if let Some(reason) = o.held.reason() {
                let _ = writeln!(out, "      held: {reason}");
            }
        }
    }
    let held: usize = plan
        .destinations
        .values()
        .map(|d| d.objects.iter().filter(|o| o.held.is_held()).count())
        .sum();
    if held > 0 {
        let _ = writeln!(
            out,
            "\nHeld: {held} (kept as the last pass left them until git fixes or removes what a problem names)"
        );
    }
    let _ = writeln!(out, "\nProblems: {}", plan.problems.len());
    for p in &plan.problems {
        let _ = writeln!(out, "  {p}");
    }
    out
}
