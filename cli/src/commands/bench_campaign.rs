//! `kizuna bench replay` and `kizuna bench campaign`: the backtest and the big send.

use std::{process::ExitCode, sync::Arc, time::Instant};

use anyhow::bail;
use jiff::Timestamp;
use kizuna_core::{
    Event,
    campaign::{Audience, Campaign},
    replay::History,
    rules::{MessageClass, RuleSet},
    store::Store,
};

use super::{
    bench::{Generated, generate, peak_rss_kib, scratch_home},
    print_json,
};
use crate::{
    args::{BenchCampaignArgs, BenchIngestArgs},
    import::{self, Outcome, Progress, Source},
    table::thousands,
};

/// Imports N generated events (untimed, no rules), then times a replay of the history
/// through the full default pack in a scratch store: loading the events, the rules,
/// timers firing on time, and dispatch through the guards to null channels.
pub fn replay(args: &BenchIngestArgs) -> anyhow::Result<ExitCode> {
    let Generated {
        dir: _dir,
        home,
        file,
        customers,
        now,
    } = generate(args)?;
    let (config, mut store) = home.open_store()?;
    let options = import::Options {
        skip_invalid: false,
        csv_at: now,
        batch_size: config.import.batch_size,
    };
    let source = Source::new(&file)?;
    if let Outcome::Invalid(rejected) = import::run(
        &mut store,
        RuleSet::none(),
        std::slice::from_ref(&source),
        &options,
        &Progress::hidden(),
    )? {
        bail!("generated data had {} invalid record(s)", rejected.len());
    }
    let rules = home.load_rules(None)?;
    let templates = home.rules_dir().join("templates");

    let started = Instant::now();
    let history = History::load(&store, None, None)?;
    drop(store);
    let load_seconds = started.elapsed().as_secs_f64();
    let outcome = history.run(rules, &templates)?;
    let seconds = started.elapsed().as_secs_f64();
    let messages: u64 = outcome.messages.values().sum();
    let rate = outcome.events as f64 / seconds;
    if args.json {
        print_json(&serde_json::json!({
            "events": outcome.events, "customers": customers, "seconds": seconds,
            "load_seconds": load_seconds, "events_per_second": rate,
            "timers_fired": outcome.timers_fired, "messages": messages,
            "rule_errors": outcome.rule_errors,
            "peak_rss_mib": peak_rss_kib().map(|k| k as f64 / 1024.0),
        }))?;
    } else {
        println!(
            "replay: {} events over {} customers through the default pack ({}) in {seconds:.2} s = {} events/s (reading the log {load_seconds:.2} s); {} timers fired, {} messages guarded, {} rule errors; peak RSS {} MiB",
            thousands(outcome.events),
            thousands(customers as u64),
            outcome.rules,
            thousands(rate as u64),
            thousands(outcome.timers_fired),
            thousands(messages),
            thousands(outcome.rule_errors),
            peak_rss_kib().map_or_else(|| "?".into(), |k| (k / 1024).to_string()),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Stores N customers with e-mail and consent (untimed), then times a one-off campaign to
/// a script segment: evaluating `segments/email_ok.rhai` for every customer and queueing
/// one message each (a `send_request` event through the default pack).
pub fn campaign(args: &BenchCampaignArgs) -> anyhow::Result<ExitCode> {
    if args.customers == 0 {
        bail!("--customers must be at least 1");
    }
    let (_dir, home) = scratch_home()?;
    let (_, mut store) = home.open_store()?;
    let mut batch = Vec::with_capacity(20_000);
    for i in 0..args.customers {
        let c = format!("c-{i:07}");
        for line in [
            format!(
                r#"{{"customer":"{c}","type":"profile","at":"2026-03-01T00:00:00Z","email":"{c}@example.jp","tz":"Asia/Tokyo"}}"#
            ),
            format!(
                r#"{{"customer":"{c}","type":"opt_in","at":"2026-03-01T00:00:00Z","channel":"email"}}"#
            ),
        ] {
            batch.push(Event::from_json_str(&line).map_err(|e| anyhow::anyhow!("{e:?}"))?);
        }
        if batch.len() >= 20_000 {
            store.append_owned(RuleSet::none(), std::mem::take(&mut batch))?;
        }
    }
    store.append_owned(RuleSet::none(), batch)?;
    store.flush()?;
    let rules = home.load_rules(None)?;
    let segments = Arc::new(RuleSet::load_segments(&home.rules_dir())?);
    let now: Timestamp = "2026-03-05T02:00:00Z".parse()?;

    let audience = Audience::Predicate {
        rules: segments,
        script: "segments/email_ok.rhai".into(),
    };
    let campaign = Campaign {
        name: "bench".into(),
        channel: "email".into(),
        template: "notice".into(),
        class: MessageClass::Marketing,
        vars: serde_json::Map::new(),
    };
    // What `kizuna campaign run` does: the segment alone (a dry run), then the campaign
    // (segment and queueing in one pass), timed apart.
    let started = Instant::now();
    let members = audience.select(&store, now)?.members.len();
    let select_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (selection, queued) = campaign.select_and_queue(&mut store, &rules, &audience, now)?;
    let seconds = started.elapsed().as_secs_f64();
    if selection.members.len() != members {
        bail!(
            "the segment had {members} members alone and {} in the campaign",
            selection.members.len()
        );
    }
    report_campaign(
        &store,
        args,
        selection.members.len(),
        queued.queued,
        select_seconds,
        seconds,
    )
}

fn report_campaign(
    store: &Store,
    args: &BenchCampaignArgs,
    members: usize,
    queued: u64,
    select_seconds: f64,
    seconds: f64,
) -> anyhow::Result<ExitCode> {
    let pending = store.due_messages("2026-03-05T02:00:00Z".parse()?)?.len();
    if args.json {
        print_json(&serde_json::json!({
            "customers": args.customers, "members": members, "queued": queued,
            "pending": pending, "select_seconds": select_seconds, "seconds": seconds,
            "peak_rss_mib": peak_rss_kib().map(|k| k as f64 / 1024.0),
        }))?;
    } else {
        println!(
            "campaign: {} customers; the segment alone (a dry run) {select_seconds:.2} s; the campaign (segment and queueing in one pass) {} messages queued in {seconds:.2} s ({} pending for dispatch); peak RSS {} MiB",
            thousands(args.customers as u64),
            thousands(queued),
            thousands(pending as u64),
            peak_rss_kib().map_or_else(|| "?".into(), |k| (k / 1024).to_string()),
        );
    }
    Ok(ExitCode::SUCCESS)
}
