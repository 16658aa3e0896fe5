//! `kizuna bench ingest`: import throughput and memory on generated data.

use std::{io::Write, path::Path, process::ExitCode, time::Instant};

use anyhow::bail;
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
    events: u64,
    customers: usize,
    file_mib: f64,
    validate_seconds: f64,
    append_seconds: f64,
    events_per_second: f64,
    peak_rss_mib: Option<f64>,
    store_mib: f64,
}

/// Generates the events to a file (untimed), then times a full import of it into a fresh
/// store — validation pass, append pass and the final flush — exactly as `kizuna import`
/// does it.
pub fn ingest(args: &BenchIngestArgs) -> anyhow::Result<ExitCode> {
    if args.events == 0 {
        bail!("--events must be at least 1");
    }
    let customers = args.customers.unwrap_or(args.events / 20).max(1);
    let dir = tempfile::Builder::new().prefix("kizuna-bench-").tempdir()?;
    let home = Home::at(dir.path().join("home"));
    home.init()?;
    let file = dir.path().join("events.jsonl");
    let now: Timestamp = "2026-01-01T00:00:00Z".parse()?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for line in sample::bench_events(1, args.events, customers, now) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    drop(out);

    let (config, mut store) = home.open_store()?;
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
    drop(store);
    let figures = IngestFigures {
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
            "ingest: {} events over {} customers ({:.0} MiB of JSON lines) in {seconds:.2} s",
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
fn peak_rss_kib() -> Option<u64> {
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
