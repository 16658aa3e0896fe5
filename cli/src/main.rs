//! `kizuna`: the command-line interface.
//!
//! This crate wires kizuna-core (events, store, projection) to the outside world: clap
//! arguments in `args`, one module per command in `commands`, file import in `import`, the
//! home directory and its `kizuna.toml` in `home` and `config`. Errors become `anyhow` here
//! and nowhere else; `main` prints them with their context chain and exits 1.

mod args;
mod commands;
mod config;
mod daemon;
mod home;
mod import;
mod pack;
mod query;
mod sample;
mod table;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of the system allocator: import is allocation-heavy (JSON values, sled
/// buffers across sled's threads), and with glibc's malloc a million-event import spent a
/// fifth of its time in malloc/free and held ~40% more RSS than its live heap.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use crate::{
    args::ReportCommand,
    args::{
        BenchCommand, CampaignCommand, ChannelsCommand, Cli, Command, CustomerCommand,
        EventCommand, PointsCommand, RulesCommand, SegmentCommand,
    },
    home::Home,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let daemon = matches!(cli.command, Command::Run(_));
    init_tracing(cli.log_format, if daemon { "info" } else { "warn" });
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let explicit_home = cli.home.clone();
    let home = Home::resolve(cli.home);
    let rules = cli.rules.as_deref();
    match &cli.command {
        Command::Init => commands::init(&home),
        Command::Import(args) => commands::import::run(&home, rules, args),
        Command::Event(EventCommand::Add(args)) => commands::event::add(&home, rules, args),
        Command::Customer(CustomerCommand::List(args)) => commands::customer::list(&home, args),
        Command::Customer(CustomerCommand::Show(args)) => commands::customer::show(&home, args),
        Command::Customer(CustomerCommand::Erase(args)) => commands::customer::erase(&home, args),
        Command::Rfm(args) => commands::rfm::run(&home, rules, args),
        Command::Segment(SegmentCommand::List { now, json }) => {
            commands::campaign::segment_list(&home, rules, *now, *json)
        }
        Command::Segment(SegmentCommand::Show { name, now, json }) => {
            commands::campaign::segment_show(&home, rules, name, *now, *json)
        }
        Command::Campaign(CampaignCommand::Run(args)) => {
            commands::campaign::run(&home, rules, args)
        }
        Command::Run(args) => {
            let listen = match &args.listen {
                Some(l) => l.clone(),
                None => home.config()?.server.listen,
            };
            daemon::run(&home, rules, &listen)
        }
        Command::Channels(ChannelsCommand::Check { json }) => {
            commands::outbox::channels_check(&home, *json)
        }
        Command::Channels(ChannelsCommand::Receipts {
            listen,
            max,
            seconds,
        }) => commands::receipts::listen(&home, listen, *max, *seconds),
        Command::Dispatch(args) => commands::outbox::dispatch(&home, rules, args),
        Command::Outbox(command) => commands::outbox::outbox(&home, command),
        Command::Send(args) => commands::outbox::send(&home, rules, args),
        Command::Report(ReportCommand::Guards { since, json }) => {
            commands::outbox::report_guards(&home, *since, *json)
        }
        Command::Report(ReportCommand::Rfm { json, csv }) => {
            commands::rfm::grid(&home, *json, *csv)
        }
        Command::Report(ReportCommand::Kpi(args)) => commands::kpi::run(&home, args),
        Command::Tick(args) => commands::timers::tick(&home, rules, args),
        Command::Alerts(args) => commands::timers::alerts(&home, args),
        Command::Rules(RulesCommand::Check { dir }) => {
            commands::rules::check(&home, rules, dir.as_deref())
        }
        Command::Rules(RulesCommand::Test { dir, json }) => {
            commands::rules::test(&home, rules, dir.as_deref(), *json)
        }
        Command::Rules(RulesCommand::Errors { json }) => commands::rules::errors(&home, *json),
        Command::Rules(RulesCommand::Replay(args)) => commands::replay::run(&home, rules, args),
        Command::Rules(RulesCommand::Reload { listen }) => {
            daemon::reload_remote(&home, listen.as_deref())
        }
        Command::Points(PointsCommand::Show { id, at, json }) => {
            commands::points::show(&home, id, *at, *json)
        }
        Command::Demo(args) => commands::demo::run(explicit_home, rules, args),
        Command::Bench(BenchCommand::Ingest(args)) => commands::bench::ingest(args, None),
        Command::Bench(BenchCommand::Rules(args)) => commands::bench::ingest(args, Some(rules)),
        Command::Bench(BenchCommand::Dispatch(args)) => commands::bench::dispatch(args),
        Command::Bench(BenchCommand::Replay(args)) => commands::bench_campaign::replay(args),
        Command::Bench(BenchCommand::Campaign(args)) => commands::bench_campaign::campaign(args),
        Command::Bench(BenchCommand::Http(args)) => commands::bench_http::http(args, rules),
    }
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
