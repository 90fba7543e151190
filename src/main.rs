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
            eprintln!("gitstellar: {}", cli::describe(&error));
            ExitCode::from(2)
        }
    }
}
