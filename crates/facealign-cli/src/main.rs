//! The `facealign` command: a thin CLI over the `facealign` library.
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "facealign", version, about = "Face alignment: train, evaluate and run landmark models")]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
