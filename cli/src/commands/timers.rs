//! `kizuna tick` and `kizuna alerts`.

use std::{path::Path, process::ExitCode};

use jiff::Timestamp;
use kizuna_core::store::Alert;

use super::print_json;
use crate::{
    args::{AlertsArgs, TickArgs},
    home::Home,
    table::{Align, Table},
};

/// Fires due timers through the rules, durably.
pub fn tick(home: &Home, rules: Option<&Path>, args: &TickArgs) -> anyhow::Result<ExitCode> {
    let rules = home.load_rules(rules)?;
    let (_, mut store) = home.open_store()?;
    store.set_rules(rules);
    let now = args.now.unwrap_or_else(Timestamp::now);
    let (alerts, outbox) = (store.alerts()?.len(), store.outbox()?.len());
    let report = store.fire_due_timers(now)?;
    store.flush()?;
    let new_alerts = store.alerts()?.len() - alerts;
    let queued = store.outbox()?.len() - outbox;
    tracing::info!(fired = report.appended, alerts = new_alerts, "tick");
    if args.json {
        print_json(&serde_json::json!({
            "now": now, "fired": report.appended, "alerts": new_alerts,
            "messages_queued": queued, "rule_errors": report.rule_errors,
        }))?;
    } else {
        println!(
            "{now}: fired {} timer(s); {new_alerts} new alert(s), {queued} message(s) queued, {} rule error(s)",
            report.appended, report.rule_errors
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists staff alerts, oldest first.
pub fn alerts(home: &Home, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let (_, store) = home.open_store()?;
    let shown: Vec<Alert> = if args.open {
        store.open_alerts()?
    } else {
        store.alerts()?
    };
    if args.json {
        print_json(&shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("at", Align::Left),
        ("customer", Align::Left),
        ("alert", Align::Left),
        ("script", Align::Left),
    ]);
    for a in &shown {
        t.row(vec![
            a.at.to_string(),
            a.customer.to_string(),
            a.text.clone(),
            a.script.clone(),
        ]);
    }
    print!("{}", t.render());
    println!(
        "{} alert(s){}",
        shown.len(),
        if args.open { " open" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}
