//! The `gitstellar` binary: parse the command line, run it, map the outcome to an exit code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    gitstellar::cli::main()
}
