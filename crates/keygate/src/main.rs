//! The `keygate` binary: command line, configuration, wiring and the HTTP server.

mod cli;
mod commands;
mod config;
mod logging;
mod server;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let config = match config::Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    logging::init(config.log_format);
    let result = match cli.command.unwrap_or_default() {
        cli::Command::Serve => commands::serve(&config),
        cli::Command::Migrate => commands::migrate(&config),
        cli::Command::Bootstrap(args) => commands::bootstrap(&config, &args),
        cli::Command::Keys(cli::KeysCommand::Rotate) => commands::rotate_keys(&config),
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
