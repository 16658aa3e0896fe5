//! `kizuna report kpi` and `kizuna report response`.

use std::process::ExitCode;

use jiff::SignedDuration;
use kizuna_core::kpi::{Grouping, KpiReport, KpiRow, KpiSettings, kpis};

use crate::{
    args::{KpiArgs, KpiBy},
    context::{Ctx, Out},
    table::{Align, Table, thousands},
};

/// Computes the KPIs over the whole log and prints them.
pub fn run(ctx: &mut Ctx, o: &mut Out, args: &KpiArgs) -> anyhow::Result<ExitCode> {
    let config = ctx.config()?.clone();
    let store = ctx.store()?;
    let settings = KpiSettings {
        reply_types: config.kpi.reply_types.clone(),
        reaction_types: config.kpi.reaction_types.clone(),
        window: SignedDuration::from_hours(24 * config.kpi.window_days),
        tz: jiff::tz::TimeZone::get(&config.kpi.tz)?,
    };
    let by = match args.by {
        KpiBy::Campaign => Grouping::Campaign,
        KpiBy::Channel => Grouping::Channel,
        KpiBy::Month => Grouping::Month,
    };
    let events = store.events().collect::<Result<Vec<_>, _>>()?;
    let report = kpis(events.iter(), &settings, by, args.since, args.until);
    if args.json {
        o.json(&report)?;
    } else if args.csv {
        write!(o.stdout, "{}", csv(&report))?;
    } else {
        write!(o.stdout, "{}", render(&report, config.kpi.window_days))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// The report as CSV (one line per group, then `all`).
pub fn csv(report: &KpiReport) -> String {
    let mut out = String::from(
        "group,contacts,replied,reply_rate,reacted,reaction_rate,inquiries,purchases,revenue,revenue_per_contact\n",
    );
    for r in report.rows.iter().chain([&report.total]) {
        let group = if r.group.contains([',', '"']) {
            format!("\"{}\"", r.group.replace('"', "\"\""))
        } else {
            r.group.clone()
        };
        out.push_str(&format!(
            "{group},{},{},{:.4},{},{:.4},{},{},{},{:.2}\n",
            r.contacts,
            r.replied,
            r.reply_rate,
            r.reacted,
            r.reaction_rate,
            r.inquiries,
            r.purchases,
            r.revenue,
            r.revenue_per_contact
        ));
    }
    out
}

/// The report as an aligned table.
pub fn render(report: &KpiReport, window_days: i64) -> String {
    let mut t = Table::new(&[
        ("group", Align::Left),
        ("contacts", Align::Right),
        ("replied", Align::Right),
        ("reply rate", Align::Right),
        ("reacted", Align::Right),
        ("reaction rate", Align::Right),
        ("inquiries", Align::Right),
        ("purchases", Align::Right),
        ("revenue", Align::Right),
        ("revenue/contact", Align::Right),
    ]);
    let row = |r: &KpiRow| {
        vec![
            r.group.clone(),
            thousands(r.contacts),
            thousands(r.replied),
            pct(r.reply_rate),
            thousands(r.reacted),
            pct(r.reaction_rate),
            thousands(r.inquiries),
            thousands(r.purchases),
            thousands(r.revenue),
            thousands(r.revenue_per_contact.round() as i64),
        ]
    };
    for r in &report.rows {
        t.row(row(r));
    }
    t.row(row(&report.total));
    format!(
        "{}responses count for the latest contact in the {window_days} days before them; in the period: {} inquiries, {} purchases, revenue {} (credited or not)\n",
        t.render(),
        thousands(report.all_inquiries),
        thousands(report.all_purchases),
        thousands(report.all_revenue),
    )
}

/// `kizuna report response`: how long customers waited for a first reply.
pub fn response(
    ctx: &mut Ctx,
    o: &mut Out,
    args: &crate::args::ResponseArgs,
) -> anyhow::Result<ExitCode> {
    use kizuna_core::response::{ResponseBy, response_times};
    let tz = jiff::tz::TimeZone::get(&ctx.config()?.kpi.tz)?;
    let store = ctx.store()?;
    let by = match args.by {
        crate::args::ResponseByArg::Month => ResponseBy::Month,
        crate::args::ResponseByArg::Staff => ResponseBy::Staff,
    };
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let events = store.events().collect::<Result<Vec<_>, _>>()?;
    let report = response_times(events.iter(), &tz, by, args.since, args.until, now);
    if args.json {
        o.json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let hours = |h: Option<f64>| h.map_or_else(|| "-".to_owned(), |h| format!("{h:.1} h"));
    let mut t = Table::new(&[
        ("group", Align::Left),
        ("asked", Align::Right),
        ("answered", Align::Right),
        ("open", Align::Right),
        ("p50", Align::Right),
        ("p90", Align::Right),
        ("max", Align::Right),
        ("within 24 h", Align::Right),
        ("oldest open", Align::Right),
    ]);
    for r in report.rows.iter().chain([&report.total]) {
        t.row(vec![
            r.group.clone(),
            thousands(r.asked),
            thousands(r.answered),
            thousands(r.open),
            hours(r.p50_hours),
            hours(r.p90_hours),
            hours(r.max_hours),
            r.share_within_24h.map_or_else(|| "-".to_owned(), pct),
            hours(r.oldest_open_hours),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    let p = &report.promises;
    writeln!(
        o.stdout,
        "promises made: {}; kept on time {}, late {}, broken (overdue, open) {}, not yet due {}",
        p.made, p.kept, p.late, p.broken, p.pending
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `kizuna report deliverability`.
pub fn deliverability(
    ctx: &mut Ctx,
    o: &mut Out,
    args: &crate::args::DeliverabilityArgs,
) -> anyhow::Result<ExitCode> {
    use kizuna_core::deliverability::{DeliverabilityBy, deliverability};
    let tz = jiff::tz::TimeZone::get(&ctx.config()?.kpi.tz)?;
    let store = ctx.store()?;
    let by = match args.by {
        crate::args::DeliverabilityByArg::Campaign => DeliverabilityBy::Campaign,
        crate::args::DeliverabilityByArg::Month => DeliverabilityBy::Month,
    };
    let events = store.events().collect::<Result<Vec<_>, _>>()?;
    let report = deliverability(events.iter(), &tz, by, args.since, args.until);
    if args.json {
        o.json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rate = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), pct);
    let mut t = Table::new(&[
        ("group", Align::Left),
        ("sent", Align::Right),
        ("delivered", Align::Right),
        ("hard", Align::Right),
        ("soft", Align::Right),
        ("bounce rate", Align::Right),
        ("complaints", Align::Right),
        ("complaint rate", Align::Right),
        ("unsubscribes", Align::Right),
        ("unsubscribe rate", Align::Right),
    ]);
    for r in report.rows.iter().chain([&report.total]) {
        t.row(vec![
            r.group.clone(),
            thousands(r.sent),
            thousands(r.delivered),
            thousands(r.bounced_hard),
            thousands(r.bounced_soft),
            rate(r.bounce_rate),
            thousands(r.complaints),
            rate(r.complaint_rate),
            thousands(r.unsubscribes),
            rate(r.unsubscribe_rate),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    Ok(ExitCode::SUCCESS)
}
