//! `kizuna outbox list`: a page of messages ([`kizuna_core::store::MessageQuery`]), as a
//! table or JSON.

use std::process::ExitCode;

use anyhow::bail;
use kizuna_core::{
    CustomerId,
    store::{MessageQuery, MessageStatus},
};

use crate::{
    args::OutboxListArgs,
    context::{Ctx, Out},
    table::{Align, Table},
};

/// Statuses a message can have, as `--status` names them.
const STATES: [&str; 7] = [
    "pending",
    "sending",
    "deferred",
    "suppressed",
    "failed",
    "dead",
    "sent",
];

/// The query `args` ask for, or what is wrong with them.
fn query(args: &OutboxListArgs) -> anyhow::Result<MessageQuery> {
    if let Some(s) = &args.status
        && !STATES.contains(&s.as_str())
    {
        bail!(
            "--status: unknown status {s:?}; states are {}",
            STATES.join(", ")
        );
    }
    if let (Some(since), Some(until)) = (args.since, args.until)
        && until <= since
    {
        bail!("--until {until} is not after --since {since}");
    }
    let customer = match &args.customer {
        Some(c) => Some(CustomerId::new(c).map_err(|e| anyhow::anyhow!("--customer: {e}"))?),
        None => None,
    };
    Ok(MessageQuery {
        status: args.status.clone(),
        customer,
        channel: args.channel.clone(),
        campaign: args.campaign.clone(),
        guard: args.guard.clone(),
        since: args.since,
        until: args.until,
        newest_first: args.newest_first,
        offset: args.offset,
        limit: args.limit.unwrap_or(usize::MAX),
    })
}

/// Prints the page.
pub fn list(ctx: &mut Ctx, o: &mut Out, args: &OutboxListArgs) -> anyhow::Result<ExitCode> {
    let query = query(args)?;
    let messages = ctx.store()?.messages(&query)?;
    if args.json {
        o.json(&messages)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("id", Align::Left),
        ("customer", Align::Left),
        ("channel", Align::Left),
        ("template", Align::Left),
        ("class", Align::Left),
        ("status", Align::Left),
        ("detail", Align::Left),
    ]);
    for m in &messages {
        let detail = match &m.status {
            MessageStatus::Deferred {
                until,
                guard,
                reason,
            } => format!("until {until} by {guard}: {reason}"),
            MessageStatus::Suppressed { guard, reason } => format!("by {guard}: {reason}"),
            MessageStatus::Failed { retry_at, error } => format!("retry {retry_at}: {error}"),
            MessageStatus::Dead { reason } => reason.clone(),
            MessageStatus::Sent { at, receipt } => format!("{at} {receipt}"),
            MessageStatus::Sending { since } => format!("since {since}"),
            MessageStatus::Pending => String::new(),
        };
        t.row(vec![
            m.id.to_string(),
            m.customer.to_string(),
            m.channel.clone(),
            m.template.clone(),
            m.class.as_str().to_owned(),
            m.status.name().into(),
            detail,
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    writeln!(o.stdout, "{} message(s)", messages.len())?;
    Ok(ExitCode::SUCCESS)
}
