//! The `gitstellar` binary: parse the command line, run it, map the outcome to an exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use gitstellar::cli::{self, Cli};

fn main() -> ExitCode {
    match cli::run(Cli::parse()) {
        Ok(outcome) => outcome.into(),
        // A closed stdout (`gitstellar plan | head`) is not a failure.
        Err(error) if cli::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "gitstellar: {}",
                gitstellar::repo::error_chain(AsRef::<dyn std::error::Error>::as_ref(&error))
            );
            ExitCode::from(2)
        }
    }
}
