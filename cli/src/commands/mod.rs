//! One module per command. Each takes its parsed arguments and the home, and returns the
//! process exit code; errors bubble up as `anyhow` with context for `main` to print.

pub mod backup;
pub mod bench;
pub mod bench_campaign;
mod bench_console;
pub mod bench_http;
pub mod campaign;
pub mod customer;
pub mod demo;
pub mod event;
pub mod import;
pub mod kpi;
pub mod outbox;
mod outbox_list;
pub mod points;
pub mod receipts;
pub mod replay;
pub mod rfm;
pub mod rules;
pub mod status;
pub mod timers;

use std::process::ExitCode;

use crate::{
    args::{
        CampaignCommand, Command, CustomerCommand, EventCommand, PointsCommand, ReportCommand,
        RulesCommand, SegmentCommand,
    },
    context::{Ctx, Out},
    home::Home,
};

/// Whether `command` works on the home's store: those are the commands a running daemon
/// carries out for the CLI ([`crate::admin`]). The others work on files alone (`init`,
/// `rules check`), start servers of their own (`run`, `demo`, `bench`), or talk to the
/// daemon themselves (`rules reload`).
pub fn on_store_command(command: &Command) -> bool {
    match command {
        Command::Init
        | Command::Restore { .. }
        | Command::Run(_)
        | Command::Channels(_)
        | Command::Demo(_)
        | Command::Openapi
        | Command::Bench(_)
        | Command::Rules(
            RulesCommand::Check { .. }
            | RulesCommand::Test { .. }
            | RulesCommand::Doc
            | RulesCommand::Defs { .. },
        )
        | Command::Rules(RulesCommand::Reload { .. }) => false,
        Command::Status { .. }
        | Command::Backup { .. }
        | Command::Export { .. }
        | Command::Check { .. }
        | Command::Import(_)
        | Command::Event(_)
        | Command::Customer(_)
        | Command::Rfm(_)
        | Command::Segment(_)
        | Command::Campaign(_)
        | Command::Dispatch(_)
        | Command::Outbox(_)
        | Command::Send(_)
        | Command::Report(_)
        | Command::Tick(_)
        | Command::Alerts(_)
        | Command::Rules(RulesCommand::Errors { .. } | RulesCommand::Replay(_))
        | Command::Points(_) => true,
    }
}

/// Whether `command` reads only the log, the outbox and the recorded rule errors, which a
/// reading handle sees exactly ([`kizuna_core::Store::reader`]): a daemon runs these beside
/// its writer, so a long replay or report does not hold ingest up.
pub fn reads_log_only(command: &Command) -> bool {
    matches!(
        command,
        Command::Rules(RulesCommand::Replay(_) | RulesCommand::Errors { .. })
            | Command::Report(
                ReportCommand::Kpi(_)
                    | ReportCommand::Guards { .. }
                    | ReportCommand::Response(_)
                    | ReportCommand::Deliverability(_)
            )
            // One customer's messages are few, found through their live projection.
            | Command::Outbox(crate::args::OutboxCommand::List(crate::args::OutboxListArgs {
                customer: None,
                ..
            }))
            | Command::Export { .. }
    )
}

/// Runs a command that works on the store ([`on_store_command`]): the one implementation
/// behind every door, offline or in a daemon.
pub fn on_store(ctx: &mut Ctx, o: &mut Out, command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Status { json } => status::run(ctx, o, *json),
        Command::Backup { dest, json } => backup::backup(ctx, o, dest, *json),
        Command::Check { sample, json } => backup::check(ctx, o, *sample, *json),
        Command::Export { since, output } => backup::export(ctx, o, *since, output.as_deref()),
        Command::Import(args) => import::run(ctx, o, args),
        Command::Event(EventCommand::Add(args)) => event::add(ctx, o, args),
        Command::Customer(CustomerCommand::List(args)) => customer::list(ctx, o, args),
        Command::Customer(CustomerCommand::Show(args)) => customer::show(ctx, o, args),
        Command::Customer(CustomerCommand::Erase(args)) => customer::erase(ctx, o, args),
        Command::Rfm(args) => rfm::run(ctx, o, args),
        Command::Segment(SegmentCommand::List { now, json }) => {
            campaign::segment_list(ctx, o, *now, *json)
        }
        Command::Segment(SegmentCommand::Show { name, now, json }) => {
            campaign::segment_show(ctx, o, name, *now, *json)
        }
        Command::Campaign(CampaignCommand::Run(args)) => campaign::run(ctx, o, args),
        Command::Dispatch(args) => outbox::dispatch(ctx, o, args),
        Command::Outbox(command) => outbox::outbox(ctx, o, command),
        Command::Send(args) => outbox::send(ctx, o, args),
        Command::Report(ReportCommand::Guards { since, json }) => {
            outbox::report_guards(ctx, o, *since, *json)
        }
        Command::Report(ReportCommand::Rfm { json, csv }) => rfm::grid(ctx, o, *json, *csv),
        Command::Report(ReportCommand::Kpi(args)) => kpi::run(ctx, o, args),
        Command::Report(ReportCommand::Response(args)) => kpi::response(ctx, o, args),
        Command::Report(ReportCommand::Deliverability(args)) => kpi::deliverability(ctx, o, args),
        Command::Tick(args) => timers::tick(ctx, o, args),
        Command::Alerts(args) => timers::alerts(ctx, o, args),
        Command::Rules(RulesCommand::Errors { json }) => rules::errors(ctx, o, *json),
        Command::Rules(RulesCommand::Replay(args)) => replay::run(ctx, o, args),
        Command::Points(PointsCommand::Show { id, at, json }) => {
            points::show(ctx, o, id, *at, *json)
        }
        other => anyhow::bail!("{other:?} does not work on the store"),
    }
}

/// `kizuna init`.
pub fn init(home: &Home) -> anyhow::Result<ExitCode> {
    home.init()?;
    println!(
        "created kizuna home {} (kizuna.toml, db/, rules/)",
        home.root().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
