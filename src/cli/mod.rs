//! The command line.

/// Minimal dispatch so `gitstellar wecsim ...` runs on this branch; replaced when merging.
#[derive(clap::Parser)]
#[command(name = "gitstellar")]
enum Command {
    /// Serve simulated workload execution clusters (see docs/wecsim.md).
    Wecsim(crate::wecsim::WecsimArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> std::process::ExitCode {
    let Command::Wecsim(args) = <Command as clap::Parser>::parse();
    match crate::wecsim::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gitstellar wecsim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
