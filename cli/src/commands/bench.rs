//! `kizuna bench ingest`: import throughput and memory on generated data.

use std::{io::Write, path::Path, process::ExitCode, time::Instant};

use anyhow::{Context, bail};
use jiff::Timestamp;
use serde::Serialize;

use super::print_json;
use crate::{
    args::BenchIngestArgs,
    home::Home,
    import::{self, Outcome, Progress, Source},
    sample,
    table::thousands,
};

/// The figures one run produces.
#[derive(Debug, Serialize)]
struct IngestFigures {
    rules: String,
    rule_errors: u64,
    latency_us: Option<Percentiles>,
    events: u64,
    customers: usize,
    file_mib: f64,
    validate_seconds: f64,
    append_seconds: f64,
    events_per_second: f64,
    peak_rss_mib: Option<f64>,
    store_mib: f64,
}

/// Per-event processing latency percentiles, in microseconds.
#[derive(Debug, Serialize)]
struct Percentiles {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

fn percentiles(mut nanos: Vec<u32>) -> Option<Percentiles> {
    if nanos.is_empty() {
        return None;
    }
    nanos.sort_unstable();
    let at = |q: f64| f64::from(nanos[((nanos.len() - 1) as f64 * q) as usize]) / 1000.0;
    Some(Percentiles {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: at(1.0),
    })
}

/// A fresh home in a temporary directory (removed when dropped).
pub(super) fn scratch_home() -> anyhow::Result<(tempfile::TempDir, Home)> {
    let dir = tempfile::Builder::new().prefix("kizuna-bench-").tempdir()?;
    let home = Home::at(dir.path().join("home"));
    home.init()?;
    Ok((dir, home))
}

/// A scratch home and a year of generated events written beside it (untimed set-up).
pub(super) struct Generated {
    pub dir: tempfile::TempDir,
    pub home: Home,
    /// `events.jsonl`.
    pub file: std::path::PathBuf,
    pub customers: usize,
    /// The end of the generated year.
    pub now: Timestamp,
}

/// Writes `args.events` events over `args.customers` (default events / 20) to a file.
pub(super) fn generate(args: &BenchIngestArgs) -> anyhow::Result<Generated> {
    if args.events == 0 {
        bail!("--events must be at least 1");
    }
    let customers = args.customers.unwrap_or(args.events / 20).max(1);
    let (dir, home) = scratch_home()?;
    let file = dir.path().join("events.jsonl");
    let now: Timestamp = "2026-01-01T00:00:00Z".parse()?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for line in sample::bench_events(1, args.events, customers, now) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(Generated {
        dir,
        home,
        file,
        customers,
        now,
    })
}

/// Generates the events to a file (untimed), then times a full import of it into a fresh
/// store — validation pass, append pass and the final flush — exactly as `kizuna import`
/// does it. `rules`: `None` for the raw store; `Some(dir)` to evaluate the rules in `dir`
/// (or, for `Some(None)`, the built-in default pack) on every event.
pub fn ingest(args: &BenchIngestArgs, rules: Option<Option<&Path>>) -> anyhow::Result<ExitCode> {
    let Generated {
        dir,
        home,
        file,
        customers,
        now,
    } = generate(args)?;

    let (config, mut store) = home.open_store()?;
    let with_rules = rules.is_some();
    let rules = match rules {
        Some(dir) => {
            store.record_latencies();
            home.load_rules(dir)?
        }
        None => std::sync::Arc::new(kizuna_core::rules::RuleSet::empty()),
    };
    let source = Source::new(&file)?;
    let options = import::Options {
        skip_invalid: false,
        csv_at: now,
        batch_size: config.import.batch_size,
    };
    let progress = if args.json {
        Progress::hidden()
    } else {
        Progress::auto()
    };
    let started = Instant::now();
    let summary = match import::run(
        &mut store,
        &rules,
        std::slice::from_ref(&source),
        &options,
        &progress,
    )? {
        Outcome::Imported { summary, .. } => summary,
        Outcome::Invalid(rejected) => {
            bail!("generated data had {} invalid record(s)", rejected.len())
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let latency_us = percentiles(store.take_latencies());
    let rules_version = rules.version().to_owned();
    drop(store);
    let figures = IngestFigures {
        rules: rules_version,
        rule_errors: summary.rule_errors,
        latency_us,
        events: summary.imported,
        customers,
        file_mib: source.bytes as f64 / MIB,
        validate_seconds: summary.validate_seconds,
        append_seconds: summary.append_seconds,
        events_per_second: summary.imported as f64 / seconds,
        peak_rss_mib: peak_rss_kib().map(|k| k as f64 / 1024.0),
        store_mib: dir_size(&dir.path().join("home").join("db")) as f64 / MIB,
    };
    if args.json {
        print_json(&figures)?;
    } else {
        println!(
            "{}: {} events over {} customers ({:.0} MiB of JSON lines) in {seconds:.2} s",
            if with_rules {
                format!("ingest + rules {}", figures.rules)
            } else {
                "ingest (no rules)".into()
            },
            thousands(figures.events),
            thousands(figures.customers as u64),
            figures.file_mib
        );
        println!(
            "  {} events/s durable (validate {:.2} s, append + flush {:.2} s)",
            thousands(figures.events_per_second as u64),
            figures.validate_seconds,
            figures.append_seconds
        );
        if let Some(l) = &figures.latency_us {
            println!(
                "  per-event processing (fold + rules + effects): p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.0} µs; {} rule error(s)",
                l.p50, l.p99, l.p999, l.max, figures.rule_errors
            );
        }
        match figures.peak_rss_mib {
            Some(rss) => println!(
                "  peak RSS {rss:.0} MiB, store on disk {:.0} MiB",
                figures.store_mib
            ),
            None => println!(
                "  peak RSS unknown (no /proc), store on disk {:.0} MiB",
                figures.store_mib
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

const MIB: f64 = 1024.0 * 1024.0;

/// The process's peak resident set (VmHWM) in KiB, on Linux.
pub(super) fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Times a campaign-sized dispatch: N customers with consent, one queued marketing message
/// each, sent at 11:00 their time through every guard of the default pack to `.eml` files.
pub fn dispatch(args: &crate::args::BenchDispatchArgs) -> anyhow::Result<ExitCode> {
    use kizuna_core::Event;
    if args.messages == 0 {
        bail!("--messages must be at least 1");
    }
    let (_dir, home) = scratch_home()?;
    let rules = home.load_rules(None)?;
    let (_, mut store) = home.open_store()?;
    let mut batch = Vec::with_capacity(3 * 10_000);
    for i in 0..args.messages {
        let c = format!("c-{i:07}");
        for line in [
            format!(
                r#"{{"customer":"{c}","type":"profile","at":"2026-03-01T00:00:00Z","name":"客{i}","email":"{c}@example.jp","tz":"Asia/Tokyo"}}"#
            ),
            format!(
                r#"{{"customer":"{c}","type":"opt_in","at":"2026-03-01T00:00:00Z","channel":"email"}}"#
            ),
            format!(
                r#"{{"customer":"{c}","type":"send_request","at":"2026-03-05T01:00:00Z","channel":"email","template":"notice","class":"marketing","vars":{{"subject":"春の新豆","text":"今週はエチオピアの浅煎りです。"}}}}"#
            ),
        ] {
            batch.push(Event::from_json_str(&line).map_err(|e| anyhow::anyhow!("{e:?}"))?);
        }
        if batch.len() >= 30_000 {
            store.append_owned(&rules, std::mem::take(&mut batch))?;
        }
    }
    store.append_owned(&rules, batch)?;
    store.flush()?;
    if args.channel == "smtp" {
        let (host, port) = args
            .smtp
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .with_context(|| format!("--smtp {:?} is not HOST:PORT", args.smtp))?;
        let toml = home.root().join("kizuna.toml");
        let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(&toml)?)?;
        let smtp: toml::Table = toml::from_str(&format!(
            "type = \"smtp\"\nfrom = \"bench@kizuna.example\"\nhost = {host:?}\nport = {port}\n"
        ))?;
        if let Some(toml::Value::Table(channels)) = config.get_mut("channels") {
            channels.insert("email".into(), toml::Value::Table(smtp));
        }
        std::fs::write(&toml, toml::to_string(&config)?)?;
    }
    let dispatcher = super::outbox::dispatcher(&home, None, rules)?;
    let email = super::outbox::channels(&home)?
        .configured
        .into_iter()
        .find(|c| c.shape.name == "email")
        .context("no email channel")?;
    if let Err(e) = email.channel.check() {
        bail!("the {} channel is not ready: {e}", args.channel);
    }
    let now: Timestamp = "2026-03-05T02:00:00Z".parse()?;
    // Timed in two parts: the dispatch itself (what the daemon's clock runs; sending
    // marks, outcomes and message_sent events are durable when it returns), then the
    // checkpoint of the customers' projections, which the daemon does every few seconds for
    // everything that happened and a one-off `kizuna dispatch` does at the end.
    let started = Instant::now();
    let report = dispatcher.run_at_most(&mut store, now, usize::MAX)?;
    let seconds = started.elapsed().as_secs_f64();
    store.flush()?;
    let checkpoint_seconds = started.elapsed().as_secs_f64() - seconds;
    let sent = report.outcomes.get("sent").copied().unwrap_or(0);
    let rate = report.considered as f64 / seconds;
    let with_checkpoint = report.considered as f64 / (seconds + checkpoint_seconds);
    if args.json {
        print_json(&serde_json::json!({
            "messages": report.considered, "sent": sent, "seconds": seconds,
            "messages_per_second": rate, "checkpoint_seconds": checkpoint_seconds,
            "messages_per_second_with_checkpoint": with_checkpoint,
            "outcomes": report.outcomes,
            "peak_rss_mib": peak_rss_kib().map(|k| k as f64 / 1024.0),
        }))?;
    } else {
        println!(
            "dispatch: {} messages through the guards to {} in {seconds:.2} s = {} messages/s ({sent} sent); then the projections' checkpoint {checkpoint_seconds:.2} s ({} messages/s with it)",
            thousands(report.considered),
            if args.channel == "smtp" {
                format!("SMTP {}", args.smtp)
            } else {
                ".eml files".to_owned()
            },
            thousands(rate as u64),
            thousands(with_checkpoint as u64),
        );
    }
    Ok(ExitCode::SUCCESS)
}
