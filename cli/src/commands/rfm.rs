//! `kizuna rfm`.

use std::process::ExitCode;

use jiff::Timestamp;
use kizuna_core::store::RfmSummary;

use crate::{
    args::RfmArgs,
    context::{Ctx, Out},
    table::{Align, Table, thousands},
};

/// Recomputes RFM for everyone and prints the segment table. Segment changes are recorded
/// as events, so the rules (win-back, top-customer check-ins) run on them.
pub fn run(ctx: &mut Ctx, o: &mut Out, args: &RfmArgs) -> anyhow::Result<ExitCode> {
    let summary = pass(ctx, args.now.unwrap_or_else(Timestamp::now))?;
    if args.json {
        o.json(&summary)?;
    } else {
        write!(o.stdout, "{}", render(&summary))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Rescores every customer as of `now`: in one go offline; in a daemon in small steps,
/// storing the events that arrived meanwhile between them.
pub fn pass(ctx: &mut Ctx, now: Timestamp) -> anyhow::Result<RfmSummary> {
    let chunk = if ctx.is_daemon() {
        kizuna_core::store::RFM_CHUNK_BESIDE_INGEST
    } else {
        usize::MAX
    };
    let (store, rules, between) = ctx.store_between_chunks()?;
    Ok(store.recompute_rfm_between(&rules, now, chunk, between)?)
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
pub fn grid(ctx: &mut Ctx, o: &mut Out, json: bool, csv: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
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
        o.json(&serde_json::json!({"computed_at": computed_at, "cells": rows}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if csv {
        writeln!(o.stdout, "r,f,customers,revenue")?;
        for (r, row) in cells.iter().enumerate().rev() {
            for (f, (n, revenue)) in row.iter().enumerate() {
                writeln!(o.stdout, "{},{},{n},{revenue}", r + 1, f + 1)?;
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
        writeln!(
            o.stdout,
            "customers / revenue by recency (R) and frequency (F) score, as of {at}"
        )?;
    }
    write!(o.stdout, "{}", t.render())?;
    Ok(ExitCode::SUCCESS)
}
