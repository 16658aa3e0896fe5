//! `kizuna rfm`.

use std::{path::Path, process::ExitCode};

use jiff::Timestamp;
use kizuna_core::store::RfmSummary;

use super::print_json;
use crate::{
    args::RfmArgs,
    home::Home,
    table::{Align, Table, thousands},
};

/// Recomputes RFM for everyone and prints the segment table. Segment changes are recorded
/// as events, so the rules (win-back, top-customer check-ins) run on them.
pub fn run(home: &Home, rules: Option<&Path>, args: &RfmArgs) -> anyhow::Result<ExitCode> {
    let rules = home.load_rules(rules)?;
    let (_, mut store) = home.open_store()?;
    store.set_rules(rules);
    let summary = store.recompute_rfm(args.now.unwrap_or_else(Timestamp::now))?;
    if args.json {
        print_json(&summary)?;
    } else {
        print!("{}", render(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// The segment table as text.
pub fn render(summary: &RfmSummary) -> String {
    let mut t = Table::new(&[
        ("segment", Align::Left),
        ("customers", Align::Right),
        ("share", Align::Right),
        ("orders", Align::Right),
        ("revenue", Align::Right),
        ("revenue/customer", Align::Right),
    ]);
    let total = summary.customers.max(1) as f64;
    for row in &summary.segments {
        let per = if row.customers == 0 {
            0
        } else {
            row.revenue / row.customers as i64
        };
        t.row(vec![
            row.segment.to_string(),
            thousands(row.customers),
            format!("{:.1}%", 100.0 * row.customers as f64 / total),
            thousands(row.orders),
            thousands(row.revenue),
            thousands(per),
        ]);
    }
    format!(
        "RFM as of {} over {} customers ({} changed segment)\n{}",
        summary.computed_at,
        thousands(summary.customers),
        thousands(summary.changed),
        t.render()
    )
}

/// `kizuna report rfm`: recency × frequency grid from the stored scores.
pub fn grid(home: &Home, json: bool, csv: bool) -> anyhow::Result<ExitCode> {
    let (_, store) = home.open_store()?;
    // [r][f] = (customers, revenue), scores 1..=5 at index 0..=4.
    let mut cells = [[(0_u64, 0_i64); 5]; 5];
    let mut scored = 0;
    let mut computed_at = None;
    for c in store.customers() {
        let c = c?;
        if let Some(r) = &c.rfm {
            let cell =
                &mut cells[usize::from(r.r.clamp(1, 5)) - 1][usize::from(r.f.clamp(1, 5)) - 1];
            cell.0 += 1;
            cell.1 += c.stats.revenue;
            scored += 1;
            computed_at = Some(r.computed_at);
        }
    }
    if scored == 0 {
        anyhow::bail!("no customer has RFM scores yet; run `kizuna rfm` first");
    }
    if json {
        let rows: Vec<_> = (0..5)
            .flat_map(|r| (0..5).map(move |f| (r, f)))
            .map(|(r, f)| serde_json::json!({"r": r + 1, "f": f + 1, "customers": cells[r][f].0, "revenue": cells[r][f].1}))
            .collect();
        print_json(&serde_json::json!({"computed_at": computed_at, "cells": rows}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if csv {
        println!("r,f,customers,revenue");
        for (r, row) in cells.iter().enumerate().rev() {
            for (f, (n, revenue)) in row.iter().enumerate() {
                println!("{},{},{n},{revenue}", r + 1, f + 1);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("R \\ F", Align::Left),
        ("F1", Align::Right),
        ("F2", Align::Right),
        ("F3", Align::Right),
        ("F4", Align::Right),
        ("F5", Align::Right),
    ]);
    for r in (0..5).rev() {
        let mut row = vec![format!("R{}", r + 1)];
        row.extend((0..5).map(|f| {
            let (n, revenue) = cells[r][f];
            if n == 0 {
                "-".to_owned()
            } else {
                format!("{} / ¥{}", thousands(n), thousands(revenue))
            }
        }));
        t.row(row);
    }
    if let Some(at) = computed_at {
        println!("customers / revenue by recency (R) and frequency (F) score, as of {at}");
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}
