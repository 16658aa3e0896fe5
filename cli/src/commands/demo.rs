//! `kizuna demo`: a sample business, imported and summarised.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use anyhow::{Context, bail};
use jiff::Timestamp;

use crate::{
    args::DemoArgs,
    commands::rfm::render,
    home::Home,
    import::{self, Outcome, Progress, Source},
    sample,
    table::thousands,
};

/// Runs the demo in `home` (which must be new or empty), or in a temporary home that is
/// deleted afterwards. `KIZUNA_HOME` is deliberately ignored: a demo must never write sample
/// customers into a real store by accident.
pub fn run(
    home: Option<PathBuf>,
    rules: Option<&Path>,
    args: &DemoArgs,
) -> anyhow::Result<ExitCode> {
    let temp;
    let (home, kept) = match home {
        Some(dir) => (Home::at(dir), true),
        None => {
            temp = tempfile::Builder::new().prefix("kizuna-demo-").tempdir()?;
            (Home::at(temp.path()), false)
        }
    };
    if home.root().join("kizuna.toml").exists() {
        let (_, store) = home.open_store()?;
        if store.event_count()? > 0 {
            bail!(
                "{} already holds events; the demo needs a new or empty home",
                home.root().display()
            );
        }
    } else {
        home.init()?;
    }
    let now = args.now.unwrap_or_else(Timestamp::now);
    println!(
        "kizuna demo: a coffee roaster with {} customers over the year to {} (seed {})",
        args.customers, now, args.seed
    );
    println!(
        "home: {}{}",
        home.root().display(),
        if kept {
            ""
        } else {
            " (temporary; pass --home DIR to keep it)"
        }
    );

    let business = sample::business(args.seed, args.customers, now);
    let dir = home.root().join("sample");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv_path = dir.join("customers.csv");
    std::fs::write(&csv_path, &business.customers_csv)?;
    let events_path = dir.join("events.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&events_path)?);
    for line in &business.events {
        writeln!(out, "{line}")?;
    }
    out.flush()?;

    let rules_flag = rules;
    let rules = home.load_rules(rules)?;
    let (config, mut store) = home.open_store()?;
    let sources = [Source::new(&csv_path)?, Source::new(&events_path)?];
    let options = import::Options {
        skip_invalid: false,
        csv_at: now - jiff::SignedDuration::from_hours(365 * 24),
        batch_size: config.import.batch_size,
    };
    let summary = match import::run(&mut store, &rules, &sources, &options, &Progress::auto())? {
        Outcome::Imported { summary, .. } => summary,
        Outcome::Invalid(rejected) => {
            // The generator only writes valid data; this would be a bug worth seeing.
            bail!("sample data had {} invalid record(s)", rejected.len());
        }
    };
    println!(
        "imported {} events ({} customers) in {:.2} s",
        thousands(summary.imported),
        thousands(summary.new_customers),
        summary.validate_seconds + summary.append_seconds
    );

    // Timers that fell due during the year (tier reviews, reply alarms) fire up to `now`;
    // RFM is scored (segment changes start win-back and check-in campaigns, whose timers
    // fire at once); then the queued messages go out through the guards.
    let mut fired = store.fire_due_timers(&rules, now)?;
    let rfm = store.recompute_rfm(&rules, now)?;
    fired.add(store.fire_due_timers(&rules, now)?);
    let dispatched =
        super::outbox::dispatcher(&home, rules_flag, Arc::clone(&rules))?.run(&mut store, now)?;
    let (mut revenue, mut orders, mut open, mut email_in, mut email_out) = (0i64, 0u64, 0, 0, 0);
    let mut silent = 0;
    let (mut issued, mut redeemed, mut expired, mut balance) = (0i64, 0i64, 0i64, 0i64);
    let mut tiers: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for c in store.customers() {
        let c = c?;
        let mut l = c.loyalty.clone();
        l.expire(now);
        issued += l.issued;
        redeemed += l.redeemed;
        expired += l.expired;
        balance += l.balance(now);
        *tiers
            .entry(l.tier.clone().unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
        revenue += c.stats.revenue;
        orders += c.stats.orders;
        open += c.stats.open_inquiries.len();
        silent += c
            .stats
            .open_inquiries
            .iter()
            .filter(|o| o.at <= now - jiff::SignedDuration::from_hours(24))
            .count();
        match c.consent.get("email") {
            Some(k) if k.granted => email_in += 1,
            Some(_) => email_out += 1,
            None => {}
        }
    }
    println!();
    println!(
        "customers {}  events {}  orders {}  revenue ¥{}",
        thousands(store.customer_count()?),
        thousands(store.event_count()?),
        thousands(orders),
        thousands(revenue)
    );
    println!(
        "open inquiries {open} ({silent} unanswered for over 24 h)  e-mail consent: {email_in} opted in, {email_out} opted out"
    );
    println!();
    println!(
        "loyalty (rules {}): points issued {}, redeemed {}, expired {}, outstanding {}",
        rules.version(),
        thousands(issued),
        thousands(redeemed),
        thousands(expired),
        thousands(balance)
    );
    let tier_text: Vec<String> = tiers.iter().map(|(t, n)| format!("{t} {n}")).collect();
    println!("tiers: {}", tier_text.join(", "));
    println!(
        "timers fired {}  messages queued {}  alerts {}  rule errors {}",
        thousands(fired.appended),
        thousands(store.outbox()?.len() as u64),
        thousands(store.alerts()?.len() as u64),
        thousands(store.rule_errors()?.len() as u64)
    );
    let outcomes: Vec<String> = dispatched
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "dispatched {} message(s) through the guards: {}",
        dispatched.considered,
        if outcomes.is_empty() {
            "none".to_owned()
        } else {
            outcomes.join(", ")
        }
    );
    for (guard, n) in &dispatched.by_guard {
        println!("  {guard}: {n}");
    }
    let open_alerts = store.open_alerts()?;
    let silence = open_alerts
        .iter()
        .filter(|a| a.script == "silence.rhai")
        .count();
    println!(
        "open alerts: {silence} unanswered-inquiry alarm(s), {} other staff task(s) such as top-customer check-ins (see `kizuna alerts --open --by-priority`)",
        open_alerts.len() - silence
    );
    println!();
    print!("{}", render(&rfm));
    println!();
    print!("{}", campaigns(&store)?);
    println!();
    print!(
        "{}",
        replay_example(&home, rules_flag, &store, &rules, now)?
    );
    println!();
    let config = home.config()?;
    let settings = kizuna_core::kpi::KpiSettings {
        reply_types: config.kpi.reply_types.clone(),
        reaction_types: config.kpi.reaction_types.clone(),
        window: jiff::SignedDuration::from_hours(24 * config.kpi.window_days),
        tz: jiff::tz::TimeZone::get(&config.kpi.tz)?,
    };
    let events = store.events().collect::<Result<Vec<_>, _>>()?;
    let kpis = kizuna_core::kpi::kpis(
        events.iter(),
        &settings,
        kizuna_core::kpi::Grouping::Campaign,
        None,
        None,
    );
    println!("KPIs by campaign (`kizuna report kpi`):");
    print!("{}", super::kpi::render(&kpis, config.kpi.window_days));
    Ok(ExitCode::SUCCESS)
}

/// Messages per campaign and outcome.
fn campaigns(store: &kizuna_core::store::Store) -> anyhow::Result<String> {
    let mut rows: std::collections::BTreeMap<(String, String), u64> =
        std::collections::BTreeMap::new();
    for m in store.outbox()? {
        let campaign = m.campaign.clone().unwrap_or_else(|| "(rules)".into());
        *rows
            .entry((campaign, m.status.name().to_owned()))
            .or_default() += 1;
    }
    let mut t = crate::table::Table::new(&[
        ("campaign", crate::table::Align::Left),
        ("outcome", crate::table::Align::Left),
        ("messages", crate::table::Align::Right),
    ]);
    for ((campaign, outcome), n) in rows {
        t.row(vec![campaign, outcome, thousands(n)]);
    }
    Ok(format!(
        "campaign messages (`kizuna report guards` has the reasons):\n{}",
        t.render()
    ))
}

/// Replays the year with a higher silver threshold, as a marketer would before saving it.
fn replay_example(
    home: &Home,
    rules_flag: Option<&Path>,
    store: &kizuna_core::store::Store,
    rules: &Arc<kizuna_core::rules::RuleSet>,
    now: jiff::Timestamp,
) -> anyhow::Result<String> {
    const FROM: &str = "const SILVER_FROM = 30000;";
    const TO: &str = "const SILVER_FROM = 50000;";
    let live_dir = home.rules_dir_or(rules_flag);
    let tiers = std::fs::read_to_string(live_dir.join("tiers.rhai")).unwrap_or_default();
    if !tiers.contains(FROM) {
        return Ok(
            "replay example skipped: these rules have no `const SILVER_FROM = 30000;`\n".into(),
        );
    }
    let scratch = tempfile::Builder::new().prefix("kizuna-demo-").tempdir()?;
    let candidate = scratch.path().join("rules");
    copy_dir(&live_dir, &candidate)?;
    std::fs::write(candidate.join("tiers.rhai"), tiers.replace(FROM, TO))?;
    let candidate_rules = Arc::new(kizuna_core::rules::RuleSet::load_dir(&candidate)?);
    let history = kizuna_core::replay::History::load(store, None, Some(now))?;
    let templates = live_dir.join("templates");
    let live = history.run(Arc::clone(rules), &templates)?;
    let cand = history.run(candidate_rules, &templates)?;
    let diff = kizuna_core::replay::diff(live, cand, 5);
    Ok(format!(
        "replay: what if silver needed ¥50,000 a year instead of ¥30,000? (`kizuna rules replay --scripts DIR`)\n{}",
        super::replay::render(&diff, history.len())
    ))
}

/// Copies a rules directory (files and sub-folders).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}
