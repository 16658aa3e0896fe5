//! `kizuna rules replay`: what a rule change would have done to the recorded history.

use std::{path::Path, process::ExitCode, sync::Arc};

use anyhow::Context;
use kizuna_core::{
    replay::{self, Diff, History},
    rules::RuleSet,
};

use crate::{
    args::ReplayArgs,
    context::{Ctx, Out},
    table::{Align, Table, thousands},
};

/// Replays the history through the live and the candidate rules (one thread each) and
/// prints the difference.
pub fn run(ctx: &mut Ctx, o: &mut Out, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let live_dir = ctx.rules_dir();
    let live = ctx.rules()?;
    let mut fixtures_failed = Vec::new();
    let (candidate_dir, candidate) = match &args.scripts {
        Some(dir) => {
            let local = ctx.input(dir)?;
            check_candidate_dir(dir, &local)?;
            let set = RuleSet::load_dir(&local)
                .with_context(|| format!("compiling the candidate rules in {}", dir.display()))?;
            let set = Arc::new(set);
            // A candidate that fails its own tests is worth knowing about before its diff.
            let (results, _) = super::rules::run_fixtures(&local, dir, &set)?;
            fixtures_failed = results
                .iter()
                .filter(|r| !r.passed())
                .map(|r| format!("{}: {}", r.file, r.name))
                .collect();
            (local, set)
        }
        None => (live_dir.clone(), Arc::clone(&live)),
    };
    // A candidate without its own templates uses the live ones.
    let templates = |dir: &Path| {
        let own = dir.join("templates");
        if own.is_dir() {
            own
        } else {
            live_dir.join("templates")
        }
    };
    let (live_templates, candidate_templates) = (templates(&live_dir), templates(&candidate_dir));
    let shapes = super::outbox::channel_shapes(ctx.config()?)?;
    let holdouts = ctx.config()?.holdouts()?;
    let history = History::load(ctx.store()?, args.since, args.until)?
        .with_channels(shapes)
        .with_holdouts(holdouts);
    // By default the clock runs on to now: what fell due after the last event is shown too.
    let history = match args.until {
        Some(_) => history,
        None => history.with_clock_to(args.now.unwrap_or_else(jiff::Timestamp::now)),
    };
    // Offline, the two replays take a core each. A daemon runs them one after the other,
    // leaving the other core to its writer: ingest goes on meanwhile.
    let (a, b) = if ctx.is_daemon() {
        let a = history.run(live, &live_templates);
        (a, history.run(candidate, &candidate_templates))
    } else {
        std::thread::scope(|scope| {
            let other = scope.spawn(|| history.run(candidate, &candidate_templates));
            let a = history.run(live, &live_templates);
            let b = other.join().unwrap_or_else(|_| {
                Err(kizuna_core::StoreError::Io {
                    path: "(replay)".into(),
                    source: std::io::Error::other("the candidate replay panicked"),
                })
            });
            (a, b)
        })
    };
    let live = a.context("replaying the live rules")?;
    let candidate = b.context("replaying the candidate rules")?;
    let diff = replay::diff(live, candidate, args.top);
    if args.json {
        o.json(&Report {
            diff: &diff,
            candidate_fixtures_failed: &fixtures_failed,
        })?;
    } else {
        if !fixtures_failed.is_empty() {
            writeln!(
                o.stderr,
                "warning: the candidate fails {} of its own fixture case(s):\n  {}",
                fixtures_failed.len(),
                fixtures_failed.join("\n  ")
            )?;
        }
        write!(o.stdout, "{}", render(&diff, history.len()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `rules replay --json` prints: the diff, and the candidate's failing fixture cases.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    diff: &'a Diff,
    candidate_fixtures_failed: &'a [String],
}

/// The candidate rules `dir` (read from `local`) must be a directory; the CLI checks it
/// before it sends one to a daemon.
pub fn check_candidate_dir(dir: &Path, local: &Path) -> anyhow::Result<()> {
    if !local.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    Ok(())
}

fn opt(tier: &Option<String>) -> String {
    tier.clone().unwrap_or_else(|| "-".into())
}

/// The diff as text.
pub fn render(d: &Diff, events: usize) -> String {
    let mut out = format!(
        "replayed {} event(s) through the live rules ({}) and the candidate ({}); nothing was sent, the live store is unchanged\n",
        thousands(events as u64),
        d.live.rules,
        d.candidate.rules
    );
    let mut t = Table::new(&[
        ("", Align::Left),
        ("live", Align::Right),
        ("candidate", Align::Right),
    ]);
    t.row(vec![
        "timers fired".into(),
        thousands(d.live.timers_fired),
        thousands(d.candidate.timers_fired),
    ]);
    t.row(vec![
        "rule errors".into(),
        thousands(d.live.rule_errors),
        thousands(d.candidate.rule_errors),
    ]);
    let scripts: std::collections::BTreeSet<&String> = d
        .live
        .alerts
        .keys()
        .chain(d.candidate.alerts.keys())
        .collect();
    for s in scripts {
        t.row(vec![
            format!("alerts by {s}"),
            thousands(d.live.alerts.get(s).copied().unwrap_or(0)),
            thousands(d.candidate.alerts.get(s).copied().unwrap_or(0)),
        ]);
    }
    out.push_str(&t.render());
    let delta = d.points_delta;
    out.push_str(&format!(
        "\npoints: {} customer(s) differ; in all, issued {:+}, redeemed {:+}, expired {:+}, balance {:+}\n",
        thousands(d.points_changed),
        delta.issued,
        delta.redeemed,
        delta.expired,
        delta.balance
    ));
    if !d.top_points.is_empty() {
        let mut t = Table::new(&[
            ("customer", Align::Left),
            ("issued", Align::Right),
            ("redeemed", Align::Right),
            ("expired", Align::Right),
            ("balance", Align::Right),
        ]);
        let change = |live: i64, candidate: i64| {
            if live == candidate {
                thousands(live)
            } else {
                format!("{} → {}", thousands(live), thousands(candidate))
            }
        };
        for p in &d.top_points {
            let (a, b) = (p.live, p.candidate);
            t.row(vec![
                p.customer.to_string(),
                change(a.issued, b.issued),
                change(a.redeemed, b.redeemed),
                change(a.expired, b.expired),
                change(a.balance, b.balance),
            ]);
        }
        out.push_str(&t.render());
    }
    out.push_str(&format!(
        "\ntiers: {} customer(s) differ\n",
        thousands(d.tiers.iter().map(|t| t.customers).sum::<u64>())
    ));
    if !d.tiers.is_empty() {
        let mut t = Table::new(&[
            ("live", Align::Left),
            ("candidate", Align::Left),
            ("customers", Align::Right),
        ]);
        for c in &d.tiers {
            t.row(vec![
                opt(&c.live),
                opt(&c.candidate),
                thousands(c.customers),
            ]);
        }
        out.push_str(&t.render());
    }
    out.push_str(&format!(
        "\nmessages: {} group(s) differ\n",
        d.messages.len()
    ));
    if !d.messages.is_empty() {
        let mut t = Table::new(&[
            ("campaign", Align::Left),
            ("template", Align::Left),
            ("outcome", Align::Left),
            ("guard", Align::Left),
            ("live", Align::Right),
            ("candidate", Align::Right),
        ]);
        for m in &d.messages {
            let k = &m.key;
            let or_dash = |s: &str| {
                if s.is_empty() {
                    "-".to_owned()
                } else {
                    s.to_owned()
                }
            };
            t.row(vec![
                or_dash(&k.campaign),
                k.template.clone(),
                k.outcome.clone(),
                or_dash(&k.guard),
                thousands(m.live),
                thousands(m.candidate),
            ]);
        }
        out.push_str(&t.render());
    }
    out
}
