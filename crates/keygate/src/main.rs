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
        cli::Command::Users(users) => run_users(&config, users, &clock),
        cli::Command::Backup(args) => commands::backup(&config, &args.file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn run_users(
    config: &config::Config,
    command: cli::UsersCommand,
    clock: &Clock,
) -> Result<(), commands::CommandError> {
    use commands::users::{self, InviteTo};
    match command {
        cli::UsersCommand::Invite(args) => {
            let to = match (args.operator, args.account, args.environment) {
                (_, Some(id), _) => InviteTo::Account(id),
                (_, _, Some(id)) => InviteTo::Environment(id),
                _ => InviteTo::Operator,
            };
            users::invite(config, &args.email, &to, clock)
        }
        cli::UsersCommand::Disable(a) => users::set_disabled(config, &a.email, true, clock),
        cli::UsersCommand::Enable(a) => users::set_disabled(config, &a.email, false, clock),
        cli::UsersCommand::Reset(a) => users::reset(config, &a.email, clock),
    }
}

/// Errors end the process with one line on standard error, never a panic or backtrace.
fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    let line = e.to_string().replace('\n', " ");
    eprintln!("keygate: error: {line}");
    ExitCode::FAILURE
}
