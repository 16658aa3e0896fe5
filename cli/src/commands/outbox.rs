//! `kizuna dispatch`, `outbox list|retry`, `send` and `report guards`.

use std::{collections::BTreeMap, path::Path, process::ExitCode, sync::Arc};

use anyhow::{Context, bail};
use jiff::Timestamp;
use kizuna_channel::InboundRoute;
use kizuna_core::{
    CustomerId,
    channel::{ChannelShape, Configured},
    dispatch::{Dispatcher, RetryPolicy},
    internal::SendRequest,
    rules::MessageClass,
    rules::RuleSet,
    store::{MessageId, MessageStatus},
};
use serde_json::{Map, Value};

use super::print_json;
use crate::{
    args::{DispatchArgs, OutboxCommand, SendArgs},
    context::{Ctx, NotFound, Out},
    home::Home,
    table::{Align, Table, thousands},
};

/// A home's channels, built: what the dispatcher sends through, and the inbound routes
/// the daemon mounts for them.
pub struct Channels {
    /// Each channel with its shape.
    pub configured: Vec<Configured>,
    /// Each inbound route with the channel it belongs to.
    pub routes: Vec<(Configured, Box<dyn InboundRoute>)>,
}

/// Builds the channels `kizuna.toml` configures, secrets from the environment.
pub fn channels(home: &Home) -> anyhow::Result<Channels> {
    let config = home.config()?;
    let sections = config
        .channels()
        .map_err(|problems| anyhow::anyhow!("{}", problem_lines(&problems)))?;
    let env = |var: &str| std::env::var(var).ok();
    let mut built = Channels {
        configured: Vec::new(),
        routes: Vec::new(),
    };
    for section in sections {
        let b = section
            .build(home.root(), &env)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("in {}", home.config_path().display()))?;
        let configured = Configured {
            shape: section.shape.clone(),
            channel: std::sync::Arc::from(b.channel),
        };
        for route in b.routes {
            built.routes.push((configured.clone(), route));
        }
        built.configured.push(configured);
    }
    Ok(built)
}

/// Problems, one a line.
pub fn problem_lines(problems: &[kizuna_channel::Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The shapes of the channels the home configures, needing no secret: what a replay
/// sends to, as null channels.
pub fn channel_shapes(config: &crate::config::Config) -> anyhow::Result<Vec<ChannelShape>> {
    let sections = config
        .channels()
        .map_err(|problems| anyhow::anyhow!("{}", problem_lines(&problems)))?;
    Ok(sections.into_iter().map(|s| s.shape).collect())
}

/// `kizuna channels check`: each configured channel, reachable or why not.
pub fn channels_check(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let channels = channels(home)?;
    let results: Vec<(String, String, Result<(), String>)> = channels
        .configured
        .iter()
        .map(|c| {
            (
                c.shape.name.clone(),
                c.channel.describe(),
                c.channel.check(),
            )
        })
        .collect();
    let failed = results.iter().filter(|(_, _, r)| r.is_err()).count();
    if json {
        let list: Vec<_> = results
            .iter()
            .map(|(name, target, r)| {
                serde_json::json!({"channel": name, "target": target, "ok": r.is_ok(), "error": r.as_ref().err()})
            })
            .collect();
        print_json(&list)?;
    } else {
        for (name, target, r) in &results {
            match r {
                Ok(()) => println!("ok    {name}: {target}"),
                Err(e) => println!("FAIL  {name}: {e}"),
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The dispatcher for a home: its configured channels, templates from the rules.
pub fn dispatcher(
    home: &Home,
    rules_dir: Option<&Path>,
    rules: Arc<RuleSet>,
) -> anyhow::Result<Dispatcher> {
    let channels = channels(home)?;
    Ok(Dispatcher::new(
        channels.configured,
        rules,
        home.rules_dir_or(rules_dir).join("templates"),
        RetryPolicy::default(),
    )
    .with_unsubscribe(home.config()?.unsubscribe_links()?)
    .with_holdouts(home.config()?.holdouts()?))
}

/// Sends what is due.
pub fn dispatch(ctx: &mut Ctx, o: &mut Out, args: &DispatchArgs) -> anyhow::Result<ExitCode> {
    let (store, dispatcher) = ctx.store_and_dispatcher()?;
    let now = args.now.unwrap_or_else(Timestamp::now);
    // `run` flushes before it returns.
    let report = dispatcher.run(store, now)?;
    tracing::info!(considered = report.considered, "dispatch");
    if args.json {
        o.json(&report)?;
    } else {
        let outcomes: Vec<String> = report
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(
            o.stdout,
            "{now}: {} message(s): {}",
            report.considered,
            outcomes.join(", ")
        )?;
        for (guard, n) in &report.by_guard {
            writeln!(o.stdout, "  {guard}: {n}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kizuna outbox list|retry`.
pub fn outbox(ctx: &mut Ctx, o: &mut Out, command: &OutboxCommand) -> anyhow::Result<ExitCode> {
    match command {
        OutboxCommand::List(args) => super::outbox_list::list(ctx, o, args),
        OutboxCommand::Retry { id, json } => {
            let id: MessageId = id.parse().map_err(anyhow::Error::msg)?;
            let store = ctx.store()?;
            let Some(mut message) = store.message(id)? else {
                return Err(NotFound(format!("no message {id}")).into());
            };
            if matches!(
                message.status,
                MessageStatus::Sent { .. } | MessageStatus::Sending { .. }
            ) {
                bail!(
                    "{id} is {}; only unsent messages can be retried",
                    message.status.name()
                );
            }
            message.status = MessageStatus::Pending;
            message.attempts = 0;
            store.update_message(&message)?;
            if *json {
                o.json(&serde_json::json!({"id": id.to_string(), "status": "pending"}))?;
            } else {
                writeln!(
                    o.stdout,
                    "{id} is pending again; `kizuna dispatch` will take it (through the guards)"
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Queues one message as a `send_request` event.
pub fn send(ctx: &mut Ctx, o: &mut Out, args: &SendArgs) -> anyhow::Result<ExitCode> {
    let customer = CustomerId::new(&args.customer)
        .with_context(|| format!("customer id {:?}", args.customer))?;
    let mut vars = Map::new();
    for pair in &args.vars {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("--var {pair:?} is not KEY=VALUE"))?;
        vars.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let Some(class) = MessageClass::parse(&args.class) else {
        writeln!(
            o.stderr,
            "error: --class {:?} must be marketing, transactional or service",
            args.class
        )?;
        return Ok(ExitCode::FAILURE);
    };
    let request = SendRequest {
        customer,
        at: args.at.unwrap_or_else(Timestamp::now),
        channel: args.channel.clone(),
        template: args.template.clone(),
        class,
        campaign: None,
        vars,
        force_reason: args.force.then(|| args.reason.clone().unwrap_or_default()),
    };
    let event = match request.to_event() {
        Ok(e) => e,
        Err(errors) => {
            for e in &errors {
                writeln!(o.stderr, "error: {e}")?;
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let (store, rules) = ctx.store_with_rules()?;
    if store.customer(&event.customer)?.is_none() {
        return Err(NotFound(format!("no customer {}", event.customer)).into());
    }
    store.append(&rules, std::slice::from_ref(&event))?;
    store.flush()?;
    if args.json {
        o.json(&serde_json::json!({
            "queued": args.template, "customer": args.customer, "channel": args.channel,
            "class": args.class, "forced": args.force, "event": event.id,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        o.stdout,
        "queued {} for {} on {}{}; `kizuna dispatch` sends it",
        args.template,
        args.customer,
        args.channel,
        if args.force {
            " (forced past the guards)"
        } else {
            ""
        }
    )?;
    Ok(ExitCode::SUCCESS)
}

/// One line of `report guards`: messages grouped by what happened to them and where.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
struct GuardRow {
    outcome: String,
    guard: String,
    reason: String,
    channel: String,
    campaign: String,
    template: String,
}

/// Messages by outcome and guard, per channel, campaign and template.
pub fn report_guards(
    ctx: &mut Ctx,
    o: &mut Out,
    since: Option<Timestamp>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let mut rows: BTreeMap<GuardRow, u64> = BTreeMap::new();
    for m in store.outbox()? {
        if since.is_some_and(|s| m.created < s) {
            continue;
        }
        let (guard, reason) = match &m.status {
            MessageStatus::Deferred { guard, reason, .. }
            | MessageStatus::Suppressed { guard, reason } => (guard.clone(), reason.clone()),
            _ => (String::new(), String::new()),
        };
        let outcome = match &m.status {
            MessageStatus::Sent { .. } => "allowed (sent)".to_owned(),
            other => other.name().to_owned(),
        };
        let row = GuardRow {
            outcome,
            guard,
            reason,
            channel: m.channel.clone(),
            campaign: m.campaign.clone().unwrap_or_default(),
            template: m.template.clone(),
        };
        *rows.entry(row).or_default() += 1;
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(row, n)| {
                let mut v = serde_json::to_value(row).unwrap_or_default();
                v["messages"] = (*n).into();
                v
            })
            .collect();
        o.json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("outcome", Align::Left),
        ("guard", Align::Left),
        ("reason", Align::Left),
        ("channel", Align::Left),
        ("campaign", Align::Left),
        ("template", Align::Left),
        ("messages", Align::Right),
    ]);
    for (row, n) in rows {
        let campaign = if row.campaign.is_empty() {
            "-".to_owned()
        } else {
            row.campaign
        };
        t.row(vec![
            row.outcome,
            row.guard,
            row.reason,
            row.channel,
            campaign,
            row.template,
            thousands(n),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    Ok(ExitCode::SUCCESS)
}
