//! `kizuna rfm`.

use std::process::ExitCode;

use jiff::Timestamp;
use kizuna_core::store::RfmSummary;

use super::print_json;
use crate::{
    args::RfmArgs,
    home::Home,
    table::{Align, Table, thousands},
};

/// Recomputes RFM for everyone and prints the segment table.
pub fn run(home: &Home, args: &RfmArgs) -> anyhow::Result<ExitCode> {
    let (_, mut store) = home.open_store()?;
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
        "RFM as of {} over {} customers\n{}",
        summary.computed_at,
        thousands(summary.customers),
        t.render()
    )
}
