//! The `keygate` binary: the command line and logging; the rest is the `keygate` library.

mod cli;
mod logging;

use std::process::ExitCode;

use clap::Parser as _;
use clock::Clock;
use keygate::{commands, config};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let config = match config::Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    logging::init(config.log_format);
    let clock = Clock::system();
    let result = match cli.command.unwrap_or_default() {
        cli::Command::Serve => commands::serve(&config, &clock),
        cli::Command::Migrate => commands::migrate(&config),
        cli::Command::Bootstrap(args) => commands::bootstrap(&config, &args.comment, &clock),
        cli::Command::Keys(cli::KeysCommand::Rotate) => commands::rotate_keys(&config, &clock),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Errors end the process with one line on standard error, never a panic or backtrace.
fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    let line = e.to_string().replace('\n', " ");
    eprintln!("keygate: error: {line}");
    ExitCode::FAILURE
}
