//! `kizuna customer list|show|erase`.

use std::{
    io::{BufRead, Write},
    process::ExitCode,
};

use anyhow::{Context, bail};
use kizuna_core::{Customer, CustomerId, Event, rfm::Segment, store::Recorded};

use crate::{
    args::{CustomerEraseArgs, CustomerListArgs, CustomerShowArgs},
    context::{Ctx, NotFound, Out},
    table::{Align, Table, thousands},
};

/// A customer id from the command line, or why it is not one.
pub fn parse_id(id: &str) -> anyhow::Result<CustomerId> {
    CustomerId::new(id).with_context(|| format!("customer id {id:?}"))
}

fn segment_name(c: &Customer) -> String {
    c.segment()
        .map_or_else(|| "(unscored)".to_owned(), |s| s.to_string())
}

/// Lists customers, filtered by segment and/or tag.
pub fn list(ctx: &mut Ctx, o: &mut Out, args: &CustomerListArgs) -> anyhow::Result<ExitCode> {
    let segment = match &args.segment {
        Some(name) => Some(Segment::parse(name).with_context(|| {
            let names: Vec<&str> = Segment::ALL.iter().map(|s| s.as_str()).collect();
            format!(
                "unknown segment {name:?}; segments are {}",
                names.join(", ")
            )
        })?),
        None => None,
    };
    let search = args.search.as_ref().map(|s| s.trim().to_lowercase());
    let store = ctx.store()?;
    let mut matches = Vec::new();
    let mut skipped = 0;
    for c in store.customers() {
        let c = c?;
        let in_segment = segment.is_none_or(|s| c.segment() == Some(s));
        let tagged = args.tag.as_ref().is_none_or(|t| c.tags.contains(t));
        let found = search.as_ref().is_none_or(|needle| {
            let p = &c.profile;
            [
                Some(c.id.as_str()),
                p.name.as_deref(),
                p.email.as_deref(),
                p.phone.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|field| field.to_lowercase().contains(needle.as_str()))
        });
        if !(in_segment && tagged && found) {
            continue;
        }
        if skipped < args.offset {
            skipped += 1;
            continue;
        }
        if args.limit.is_some_and(|l| matches.len() >= l) {
            break;
        }
        matches.push(c);
    }
    if args.json {
        o.json(&matches)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("id", Align::Left),
        ("name", Align::Left),
        ("kind", Align::Left),
        ("orders", Align::Right),
        ("revenue", Align::Right),
        ("last order", Align::Left),
        ("segment", Align::Left),
        ("tags", Align::Left),
    ]);
    for c in &matches {
        t.row(vec![
            c.id.to_string(),
            c.profile.name.clone().unwrap_or_default(),
            c.profile.kind.to_string(),
            thousands(c.stats.orders),
            thousands(c.stats.revenue),
            c.stats
                .last_order
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            segment_name(c),
            c.tags.iter().cloned().collect::<Vec<_>>().join(","),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    writeln!(o.stdout, "{} customer(s)", matches.len())?;
    Ok(ExitCode::SUCCESS)
}

/// Shows one customer with their latest events.
pub fn show(ctx: &mut Ctx, o: &mut Out, args: &CustomerShowArgs) -> anyhow::Result<ExitCode> {
    let id = parse_id(&args.id)?;
    let store = ctx.store()?;
    let Some(c) = store.customer(&id)? else {
        return Err(NotFound(format!("no customer {id}")).into());
    };
    let history = store.history_with_effects(&id, args.events)?;
    if args.json {
        let events: Vec<_> = history
            .iter()
            .map(|(e, r)| {
                let mut v = serde_json::to_value(e).unwrap_or_default();
                if let (Some(r), Some(obj)) = (r, v.as_object_mut()) {
                    obj.insert(
                        "_effects".into(),
                        serde_json::to_value(r).unwrap_or_default(),
                    );
                }
                v
            })
            .collect();
        o.json(&serde_json::json!({"customer": c, "events": events}))?;
    } else {
        write!(o.stdout, "{}", render(&c, &history))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn render(c: &Customer, events: &[(Event, Option<Recorded>)]) -> String {
    let p = &c.profile;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let date = |t: Option<jiff::Timestamp>| t.map_or_else(|| "-".into(), |t| t.to_string());
    let mut out = format!("customer {} ({})\n", c.id, p.kind);
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<22}{v}\n"));
    line("name", opt(&p.name));
    line("email", opt(&p.email));
    line("phone", opt(&p.phone));
    line("time zone", opt(&p.tz));
    line("birthday", p.birthday.map_or("-".into(), |b| b.to_string()));
    if let Some(h) = &p.business_hours {
        line("business hours", h.to_string());
    }
    line(
        "tags",
        c.tags.iter().cloned().collect::<Vec<_>>().join(", "),
    );
    let consent: Vec<String> = c
        .consent
        .iter()
        .map(|(ch, k)| {
            format!(
                "{ch}: {} since {}",
                if k.granted { "yes" } else { "no" },
                k.at
            )
        })
        .collect();
    line(
        "consent",
        if consent.is_empty() {
            "none given".into()
        } else {
            consent.join("; ")
        },
    );
    let declined: Vec<String> = c
        .declined
        .iter()
        .map(|(o, at)| format!("{o} ({at})"))
        .collect();
    if !declined.is_empty() {
        line("declined", declined.join(", "));
    }
    let s = &c.stats;
    line("orders", thousands(s.orders));
    line("revenue", thousands(s.revenue));
    line("first order", date(s.first_order));
    line("last order", date(s.last_order));
    line(
        "avg days between",
        s.avg_days_between_orders
            .map_or("-".into(), |d| format!("{d:.1}")),
    );
    line("last inbound", date(s.last_inbound));
    line("last outbound", date(s.last_outbound));
    let open: Vec<String> = s
        .open_inquiries
        .iter()
        .map(|o| format!("{} {} since {}", o.kind, o.event, o.at))
        .collect();
    line(
        "open inquiries",
        if open.is_empty() {
            "none".into()
        } else {
            open.join("; ")
        },
    );
    // Promises: broken ones (overdue, still open) named as such.
    let now = jiff::Timestamp::now();
    let promises: Vec<String> = c
        .promises
        .open
        .iter()
        .map(|p| {
            let broken = if p.due < now { " BROKEN" } else { "" };
            let by =
                p.by.as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default();
            format!("{} {:?}{by} due {}{broken}", p.reference, p.what, p.due)
        })
        .collect();
    line(
        "open promises",
        if promises.is_empty() {
            "none".into()
        } else {
            promises.join("; ")
        },
    );
    if c.promises.kept + c.promises.late > 0 {
        line(
            "promises kept",
            format!("{} on time, {} late", c.promises.kept, c.promises.late),
        );
    }
    for (script, kept) in &c.state {
        let pairs: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line(&format!("state of {script}"), pairs.join(", "));
    }
    let l = &c.loyalty;
    line(
        "points",
        format!(
            "{} now (issued {}, redeemed {}, expired {}); tier {}",
            thousands(l.balance(jiff::Timestamp::now())),
            thousands(l.issued),
            thousands(l.redeemed),
            thousands(l.expired),
            l.tier.as_deref().unwrap_or("-")
        ),
    );
    line(
        "rfm",
        match &c.rfm {
            Some(r) => format!(
                "R{} F{} M{} {} (as of {})",
                r.r, r.f, r.m, r.segment, r.computed_at
            ),
            None => segment_name(c),
        },
    );
    out.push_str(&format!("last {} event(s):\n", events.len()));
    for (e, recorded) in events {
        let attrs: Vec<String> = e.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(
            "  {}  {:<12} {}  {}\n",
            e.at,
            e.kind,
            e.id,
            attrs.join(" ")
        ));
        // Why the customer has their points, tier and tags: each effect and its script.
        for applied in recorded.iter().flat_map(|r| r.effects.iter()) {
            let mut effect = serde_json::to_value(&applied.effect).unwrap_or_default();
            let name = effect
                .as_object_mut()
                .and_then(|o| o.remove("effect"))
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            out.push_str(&format!("      -> {name} {effect} ({})\n", applied.script));
        }
    }
    out
}

/// Erases a customer completely, after confirmation.
pub fn erase(ctx: &mut Ctx, o: &mut Out, args: &CustomerEraseArgs) -> anyhow::Result<ExitCode> {
    let id = parse_id(&args.id)?;
    let interactive = ctx.interactive();
    let store = ctx.store()?;
    if store.customer(&id)?.is_none() && store.history(&id, 1)?.is_empty() {
        return Err(NotFound(format!("no customer {id}; nothing erased")).into());
    }
    if !args.yes {
        if !interactive {
            bail!("refusing to erase {id} without confirmation: pass --yes");
        }
        confirm_erase(&id)?;
    }
    // Files first: if one cannot be rewritten, nothing is erased yet and the erase can
    // simply run again. Again after the store, for a message sent meanwhile.
    let who = store.personal_data(&id)?;
    let mut forgotten = forget_files(ctx, &who)?;
    let report = ctx
        .store()?
        .erase_customer(&id)?
        .ok_or_else(|| NotFound(format!("no customer {id}")))?;
    // A daemon stores the events that arrive during the compaction's copy. (Offline,
    // nothing arrives, and an erase must not depend on the rules compiling.)
    let compacted = if ctx.is_daemon() {
        let (store, _, between) = ctx.store_between_chunks()?;
        store.compact_in_place(between)
    } else {
        ctx.store()?.compact_in_place(&mut |_| {})
    };
    compacted.context("compacting the database after the erase")?;
    let after = forget_files(ctx, &who)?;
    forgotten.files += after.files;
    forgotten.lines += after.lines;
    // The id alone is logged: it is the business's reference, not personal data.
    tracing::info!(customer = %id, events = report.events, "customer erased");
    if args.json {
        o.json(&serde_json::json!({
            "erased": id, "events": report.events, "compacted": true,
            "files_removed": forgotten.files, "lines_removed": forgotten.lines,
        }))?;
    } else {
        writeln!(
            o.stdout,
            "erased {id}: {} event(s) and the customer record; database compacted; \
             {} outbox file(s) and {} line(s) of logs and output files removed",
            report.events, forgotten.files, forgotten.lines
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// [`crate::written::forget`]; a daemon stores the events that arrive meanwhile.
fn forget_files(
    ctx: &mut Ctx,
    who: &kizuna_core::forget::PersonalData,
) -> anyhow::Result<crate::written::Forgotten> {
    let home = ctx.home();
    if ctx.is_daemon() {
        let (store, _, between) = ctx.store_between_chunks()?;
        crate::written::forget(home, who, &mut || between(store))
    } else {
        crate::written::forget(home, who, &mut || {})
    }
}

/// Asks the person at the terminal to type the id; fails unless they do. The CLI asks
/// before it sends an erase to a daemon, which cannot ask anyone.
pub fn confirm_erase(id: &CustomerId) -> anyhow::Result<()> {
    eprint!("This permanently deletes every event and all data of {id}. Type the id to confirm: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != id.as_str() {
        bail!("not confirmed; nothing erased");
    }
    Ok(())
}
