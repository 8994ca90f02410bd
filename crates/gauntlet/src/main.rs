//! `gauntlet`: the command line. Parsing and printing live here; the work is
//! done by the library crates.

mod cli;
mod cmd_bench;
mod cmd_check;
mod cmd_check_txn;
mod cmd_clean;
mod cmd_client;
mod cmd_cluster;
mod cmd_demo;
mod cmd_fleet;
mod cmd_lab;
mod cmd_loop;
mod cmd_run;
mod cmd_serve;
mod cmd_test;
mod exit;
mod interview;
mod out;
mod progress;
mod signals;
mod store_opt;
mod units;

use std::process::ExitCode;

use clap::Parser;

use crate::out::note;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => exit::BAD_ARGS,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    signals::kill_nodes_on_panic();
    if matches!(
        cli.command,
        cli::Command::Test(_)
            | cli::Command::Demo(_)
            | cli::Command::Run(_)
            | cli::Command::Soak(_)
            | cli::Command::Retry(_)
            | cli::Command::Override(_)
            | cli::Command::Start(_)
    ) {
        signals::sweep_dead_gauntlets();
    }
    let result = match cli.command {
        cli::Command::Test(args) => cmd_test::run(*args),
        cli::Command::Check(args) => cmd_check::run(args),
        cli::Command::Demo(args) => cmd_demo::run(args),
        cli::Command::Bench(args) => cmd_bench::run(args),
        cli::Command::Run(args) => cmd_run::run(args),
        cli::Command::Soak(args) => cmd_run::soak(args),
        cli::Command::Runs(args) => cmd_run::runs(args),
        cli::Command::Show(args) => cmd_run::show(args),
        cli::Command::Retry(args) => cmd_run::retry(args),
        cli::Command::Override(args) => cmd_run::override_stage(args),
        cli::Command::Abandon(args) => cmd_run::abandon(args),
        cli::Command::Report(args) => cmd_run::report(args),
        cli::Command::Lab(args) => cmd_lab::run(args),
        cli::Command::Clean(args) => cmd_clean::run(args),
        cli::Command::Client(args) => cmd_client::run(args),
        cli::Command::Start(args) => cmd_loop::start(args),
        cli::Command::Status(args) => cmd_loop::status(args),
        cli::Command::Stop(args) => cmd_loop::stop(args),
        cli::Command::Logs(args) => cmd_loop::logs(args),
        cli::Command::Nodes(args) => cmd_fleet::nodes(args),
        cli::Command::Diagnose(args) => cmd_fleet::diagnose_node(args),
        cli::Command::Serve(args) => cmd_serve::run(args),
        cli::Command::ExampleNode { name, args } => cmd_demo::example_node(&name, args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            note!("gauntlet: {e:#}");
            ExitCode::from(exit::code_for(&e))
        }
    }
}
