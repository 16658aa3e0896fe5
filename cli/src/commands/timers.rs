//! `kizuna tick` and `kizuna alerts` (list, ack, resolve).

use std::process::ExitCode;

use jiff::Timestamp;
use kizuna_core::{
    internal::AlertHandled,
    store::{Alert, AlertId},
};

use crate::{
    args::{AlertAction, AlertHandleArgs, AlertShowArgs, AlertsArgs, TickArgs},
    context::{Ctx, NotFound, Out},
    table::{Align, Table},
};

/// Fires due timers through the rules, durably.
pub fn tick(ctx: &mut Ctx, o: &mut Out, args: &TickArgs) -> anyhow::Result<ExitCode> {
    let (store, rules) = ctx.store_with_rules()?;
    let now = args.now.unwrap_or_else(Timestamp::now);
    let (alerts, outbox) = (store.alert_count()?, store.message_count()?);
    let report = store.fire_due_timers(&rules, now)?;
    // Segments drift as time passes even without events; win-back and check-ins react to
    // the change, so RFM is part of the clock's work, once a day.
    let rfm_due = store
        .rfm_computed_at()?
        .is_none_or(|at| now.duration_since(at) >= jiff::SignedDuration::from_hours(24));
    let rfm = if rfm_due && !args.no_rfm {
        Some(super::rfm::pass(ctx, now)?.changed)
    } else {
        None
    };
    let staff_policy = ctx.config()?.staff_policy()?;
    let (store, rules) = ctx.store_with_rules()?;
    // Seasonal campaigns whose window has opened (once per window, remembered).
    let seasonal = kizuna_core::campaign::run_seasonal(store, &rules, now)?;
    // The staff hear of what is open (each notice, escalation and digest once).
    let staff = kizuna_core::staff::round(store, &staff_policy, now)?;
    store.flush()?;
    let new_alerts = store.alert_count()? - alerts;
    let queued = store.message_count()? - outbox;
    tracing::info!(fired = report.appended, alerts = new_alerts, "tick");
    if args.json {
        o.json(&serde_json::json!({
            "now": now, "fired": report.appended, "alerts": new_alerts,
            "messages_queued": queued, "rule_errors": report.rule_errors,
            "rfm_segment_changes": rfm, "seasonal": seasonal, "staff": staff,
        }))?;
    } else {
        writeln!(
            o.stdout,
            "{now}: fired {} timer(s); {new_alerts} new alert(s), {queued} message(s) queued, {} rule error(s)",
            report.appended, report.rule_errors
        )?;
        if let Some(changed) = rfm {
            writeln!(
                o.stdout,
                "RFM recomputed: {changed} customer(s) changed segment"
            )?;
        }
        if staff.queued() > 0 {
            writeln!(
                o.stdout,
                "staff: {} notice(s), {} escalation(s), {} digest(s) queued{}",
                staff.notices,
                staff.escalations,
                staff.digests,
                match staff.held {
                    0 => String::new(),
                    held => format!(" ({held} held for quiet hours)"),
                }
            )?;
        }
        for s in &seasonal {
            writeln!(
                o.stdout,
                "seasonal campaign {} ({}): {} customer(s), {} message(s) queued",
                s.campaign, s.year, s.members, s.queued.queued
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists staff alerts, oldest first (or by priority), or acknowledges or resolves one.
pub fn alerts(ctx: &mut Ctx, o: &mut Out, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        Some(AlertAction::Ack(a)) => return handle_alert(ctx, o, a, false),
        Some(AlertAction::Resolve(a)) => return handle_alert(ctx, o, a, true),
        Some(AlertAction::Show(a)) => return show_alert(ctx, o, a),
        None => {}
    }
    let store = ctx.store()?;
    let mut shown: Vec<Alert> = match (args.open, args.by_priority) {
        (true, true) => store.open_alerts_ranked(args.limit.unwrap_or(usize::MAX))?,
        (true, false) => store.open_alerts()?,
        (false, _) => store.alerts()?,
    };
    if args.by_priority {
        // Stable: equal priorities stay oldest first.
        shown.sort_by_key(|a| std::cmp::Reverse(a.priority));
    }
    if let Some(limit) = args.limit {
        shown.truncate(limit);
    }
    if args.json {
        o.json(&shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("id", Align::Left),
        ("at", Align::Left),
        ("customer", Align::Left),
        ("alert", Align::Left),
        ("priority", Align::Right),
        ("script", Align::Left),
        ("handled", Align::Left),
    ]);
    for a in &shown {
        let by = |h: &kizuna_core::store::Handled| {
            h.by.as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default()
        };
        let handled = match (&a.resolved, &a.acked) {
            (Some(r), _) => format!("resolved{}", by(r)),
            (None, Some(k)) => format!("acked{}", by(k)),
            (None, None) => String::new(),
        };
        t.row(vec![
            a.id.to_string(),
            a.at.to_string(),
            a.customer.to_string(),
            a.text.clone(),
            a.priority.to_string(),
            a.script.clone(),
            handled,
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    writeln!(
        o.stdout,
        "{} alert(s){}",
        shown.len(),
        if args.open { " open" } else { "" }
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `kizuna alerts ack|resolve`: an `alert_acked` or `alert_resolved` event for the alert's
/// customer, durable before it answers. An unknown id is an error naming it; nothing is
/// stored.
/// `kizuna alerts show ID`: one alert, and whether it is open.
fn show_alert(ctx: &mut Ctx, o: &mut Out, args: &AlertShowArgs) -> anyhow::Result<ExitCode> {
    let id: AlertId = args
        .id
        .parse()
        .map_err(|e: String| anyhow::anyhow!("alert id: {e}"))?;
    let store = ctx.store()?;
    let alert = store
        .alert(id)?
        .ok_or_else(|| NotFound(format!("no alert {id} (`kizuna alerts` lists them)")))?;
    let open = store.is_open(&alert)?;
    if args.json {
        let mut v = serde_json::to_value(&alert)?;
        v["open"] = open.into();
        o.json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        o.stdout,
        "alert {} ({})",
        alert.id,
        if open { "open" } else { "closed" }
    )?;
    writeln!(o.stdout, "  customer   {}", alert.customer)?;
    writeln!(o.stdout, "  at         {}", alert.at)?;
    writeln!(o.stdout, "  priority   {}", alert.priority)?;
    writeln!(o.stdout, "  script     {}", alert.script)?;
    writeln!(o.stdout, "  text       {}", alert.text)?;
    for (what, h) in [("acked", &alert.acked), ("resolved", &alert.resolved)] {
        if let Some(h) = h {
            writeln!(
                o.stdout,
                "  {what:<10} {}{}{}",
                h.at,
                h.by.as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default(),
                h.note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn handle_alert(
    ctx: &mut Ctx,
    o: &mut Out,
    args: &AlertHandleArgs,
    resolved: bool,
) -> anyhow::Result<ExitCode> {
    let id: AlertId = args
        .id
        .parse()
        .map_err(|e: String| anyhow::anyhow!("alert id: {e}"))?;
    let (store, rules) = ctx.store_with_rules()?;
    let alert = store
        .alert(id)?
        .ok_or_else(|| NotFound(format!("no alert {id} (`kizuna alerts` lists them)")))?;
    let handled = AlertHandled {
        alert: id,
        customer: alert.customer.clone(),
        at: args.at.unwrap_or_else(Timestamp::now),
        by: args.by.clone(),
        note: args.note.clone(),
        resolved,
    };
    let event = handled.to_event().map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", text.join("; "))
    })?;
    store.append(&rules, std::slice::from_ref(&event))?;
    store.flush()?;
    let what = if resolved { "resolved" } else { "acknowledged" };
    tracing::info!(alert = %id, what, "alert handled");
    if args.json {
        let alert = store.alert(id)?;
        o.json(&serde_json::json!({ "alert": alert, "event": event.id }))?;
    } else {
        writeln!(o.stdout, "{id} {what} (event {})", event.id)?;
    }
    Ok(ExitCode::SUCCESS)
}
