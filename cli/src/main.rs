//! `kizuna`: the command-line interface.
//!
//! This crate wires kizuna-core (events, store, projection) to the outside world: clap
//! arguments in `args`, one module per command in `commands`, file import in `import`, the
//! home directory and its `kizuna.toml` in `home` and `config`, the daemon in `daemon`.
//! Errors become `anyhow` here and nowhere else; `main` prints them with their context
//! chain and exits 1.
//!
//! A command that works on the store is written once against `context::Ctx` and
//! `context::Out`; `main` runs it in this process, or — when `kizuna run` holds the home —
//! sends it over the admin socket (`admin`) for the daemon to run the same function.

mod admin;
mod args;
mod commands;
mod config;
mod context;
mod daemon;
mod damaged;
mod home;
mod import;
mod pack;
mod pipe;
mod plugins;
mod sample;
mod table;
mod written;

use std::{io::Write, process::ExitCode};

use clap::Parser;

/// jemalloc instead of the system allocator: import is allocation-heavy (JSON values, sled
/// buffers across sled's threads), and with glibc's malloc a million-event import spent a
/// fifth of its time in malloc/free and held ~40% more RSS than its live heap.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use crate::{
    args::{BenchCommand, ChannelsCommand, Cli, Command, RulesCommand},
    context::{Ctx, Out},
    home::Home,
};

fn main() -> ExitCode {
    damaged::install_panic_hook();
    // Tests inject faults (a full disk) through `FAILPOINTS`; a release build ignores it.
    #[cfg(debug_assertions)]
    let _failpoints = fail::FailScenario::setup();
    let cli = Cli::parse();
    let daemon = matches!(cli.command, Command::Run(_));
    // sled's own log lines repeat, less clearly, the errors a command reports.
    init_tracing(
        cli.log_format,
        if daemon { "info" } else { "warn,sled=off" },
    );
    match run(cli) {
        Ok(code) => code,
        // `kizuna … | head`: the reader has what it wanted; nothing is wrong.
        Err(err) if pipe::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let explicit_home = cli.home.clone();
    let home = Home::resolve(cli.home.clone());
    damaged::set_database(home.db_path());
    let rules = cli.rules.as_deref();
    if commands::on_store_command(&cli.command) {
        // A daemon holding the home carries the command out; else this process does.
        if !cli.offline
            && let Some(code) = admin::client::forward(&home, &cli)?
        {
            return Ok(code);
        }
        let mut ctx = Ctx::offline(&home, rules);
        return with_out(|o| commands::on_store(&mut ctx, o, &cli.command));
    }
    match &cli.command {
        Command::Init => commands::init(&home),
        Command::Openapi => {
            println!("{}", daemon::api::document());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { src } => commands::backup::restore(&home, src),
        Command::Run(args) => {
            let listen = match &args.listen {
                Some(l) => l.clone(),
                None => home.config()?.server.listen,
            };
            daemon::run(&home, rules, &listen, args.manual_clock)
        }
        Command::Channels(ChannelsCommand::Check { json }) => {
            commands::outbox::channels_check(&home, *json)
        }
        Command::Channels(ChannelsCommand::Types) => {
            for (kind, about) in plugins::registry().types() {
                println!("{kind:<12} {about}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Channels(ChannelsCommand::Receipts {
            listen,
            max,
            seconds,
        }) => commands::receipts::listen(&home, listen, *max, *seconds),
        Command::Rules(RulesCommand::Check { dir, json }) => {
            let dir = dir.clone().unwrap_or_else(|| home.rules_dir_or(rules));
            with_out(|o| commands::rules::check(&dir, &dir, o, *json))
        }
        Command::Rules(RulesCommand::Test { dir, json, only }) => {
            let dir = dir.clone().unwrap_or_else(|| home.rules_dir_or(rules));
            with_out(|o| commands::rules::test(&dir, &dir, o, *json, only.as_deref()))
        }
        Command::Rules(RulesCommand::Doc) => with_out(|o| {
            write!(o.stdout, "{}", kizuna_core::rules::reference::markdown())?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Rules(RulesCommand::Defs { dir }) => {
            commands::rules::definitions(&home.rules_dir_or(rules), dir)
        }
        Command::Rules(RulesCommand::Reload { listen }) => {
            daemon::reload_remote(&home, listen.as_deref())
        }
        Command::Demo(args) => commands::demo::run(explicit_home, rules, args),
        Command::Bench(BenchCommand::Ingest(args)) => commands::bench::ingest(args, None),
        Command::Bench(BenchCommand::Rules(args)) => commands::bench::ingest(args, Some(rules)),
        Command::Bench(BenchCommand::Dispatch(args)) => commands::bench::dispatch(args),
        Command::Bench(BenchCommand::Replay(args)) => commands::bench_campaign::replay(args),
        Command::Bench(BenchCommand::Campaign(args)) => commands::bench_campaign::campaign(args),
        Command::Bench(BenchCommand::Http(args)) => commands::bench_http::http(args, rules),
        other => anyhow::bail!("{other:?} is a store command"),
    }
}

/// Runs `f` on the process's standard output and error.
fn with_out(f: impl FnOnce(&mut Out) -> anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr());
    let code = f(&mut Out {
        stdout: &mut stdout,
        stderr: &mut stderr,
    })?;
    stdout.flush()?;
    Ok(code)
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `default_level`: warnings only for
/// commands, so their output stays clean; info for the daemon, whose log is its output).
/// Nothing at info level or above carries names, e-mails or phone numbers.
fn init_tracing(format: args::LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        args::LogFormat::Text => builder.init(),
        args::LogFormat::Pretty => builder.pretty().init(),
        args::LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}
