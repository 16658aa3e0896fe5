//! `kizuna points show`.

use std::process::ExitCode;

use anyhow::Context;
use jiff::Timestamp;
use kizuna_core::{CustomerId, rules::Effect};
use serde_json::json;

use crate::{
    context::{Ctx, NotFound, Out},
    table::{Align, Table, thousands},
};

/// Balance, lots and history of one customer's points.
pub fn show(
    ctx: &mut Ctx,
    o: &mut Out,
    id: &str,
    at: Option<Timestamp>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let id = CustomerId::new(id).with_context(|| format!("customer id {id:?}"))?;
    let at = at.unwrap_or_else(Timestamp::now);
    let store = ctx.store()?;
    if store.customer_shared(&id)?.is_none() {
        return Err(NotFound(format!("no customer {id}")).into());
    }
    let events = store.history_with_effects(&id, usize::MAX)?;
    // The ledger as it stood at `at`: a customer with no event by then had no points.
    let c = kizuna_core::Customer::as_of(&id, kizuna_core::store::effects_of(&events), at)
        .unwrap_or_else(|| kizuna_core::Customer::new(id.clone()));
    let mut history = Vec::new();
    for (event, effects) in kizuna_core::store::effects_of(&events) {
        if event.at.instant() > at {
            continue;
        }
        for e in effects {
            let (change, reason) = match &e.effect {
                Effect::AwardPoints { points, reason, .. } => (*points, reason.clone()),
                Effect::RedeemPoints { points, reason } => (-points, reason.clone()),
                _ => continue,
            };
            history.push(json!({"at": event.at, "event": event.id, "script": e.script, "points": change, "reason": reason}));
        }
    }
    let l = &c.loyalty;
    let lots: Vec<_> = l.lots.iter().filter(|lot| lot.expires > at).collect();
    if as_json {
        o.json(&json!({
            "customer": id, "at": at, "balance": l.balance(at), "tier": l.tier,
            "issued": l.issued, "redeemed": l.redeemed, "expired": l.expired,
            "lots": lots, "history": history,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        o.stdout,
        "{id}: {} points as of {at} (tier {}); issued {}, redeemed {}, expired {}",
        thousands(l.balance(at)),
        l.tier.as_deref().unwrap_or("-"),
        thousands(l.issued),
        thousands(l.redeemed),
        thousands(l.expired)
    )?;
    let mut t = Table::new(&[
        ("remaining", Align::Right),
        ("of", Align::Right),
        ("earned", Align::Left),
        ("expires", Align::Left),
        ("event", Align::Left),
    ]);
    for lot in lots {
        t.row(vec![
            thousands(lot.remaining),
            thousands(lot.points),
            lot.earned.to_string(),
            lot.expires.to_string(),
            lot.event.to_string(),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    writeln!(o.stdout, "history:")?;
    for h in &history {
        writeln!(
            o.stdout,
            "  {}  {:>+7}  {}  ({}, {})",
            h["at"].as_str().unwrap_or_default(),
            h["points"],
            h["reason"].as_str().unwrap_or_default(),
            h["script"].as_str().unwrap_or_default(),
            h["event"].as_str().unwrap_or_default()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
