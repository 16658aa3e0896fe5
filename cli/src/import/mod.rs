//! `kizuna import`: validate everything, then append in batches.
//!
//! Import runs in two passes over the files. The first parses and validates every record and
//! keeps only the rejects; if there are any and `--skip-invalid` was not given, it stops there
//! and the store is untouched. The second pass parses again and appends. Parsing twice costs
//! far less than holding a million events in memory, and it keeps the promise that a bad
//! file imports nothing.
//!
//! Each batch is atomic; the store is flushed once at the end, before success is reported. A
//! crash mid-import leaves whole batches behind, and re-running the same import completes it
//! without duplicates, because append is idempotent by event id.

mod progress;
mod read;

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use jiff::Timestamp;
use kizuna_core::{
    Event, FieldError, Store, StoreError,
    store::{AppendReport, Conflict, PreparedBatch},
};
use serde::Serialize;

pub use progress::Progress;
pub use read::Source;

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    /// Import good records even if some are bad.
    pub skip_invalid: bool,
    /// Time of profile events made from CSV rows.
    pub csv_at: Timestamp,
    /// Events per atomic append.
    pub batch_size: usize,
}

/// A record that failed validation.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The file it came from.
    pub file: PathBuf,
    /// Its line number.
    pub line: u64,
    /// Every problem found.
    pub errors: Vec<FieldError>,
    /// The record's text.
    pub record: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Records newly stored.
    pub imported: u64,
    /// Records already stored (same id).
    pub duplicates: u64,
    /// Records of erased customers, skipped: never taken back in.
    pub erased: u64,
    /// Records rejected (only non-zero with --skip-invalid).
    pub rejected: u64,
    /// Customers seen for the first time.
    pub new_customers: u64,
    /// Rule errors while evaluating the rules on the imported events.
    pub rule_errors: u64,
    /// Seconds spent validating.
    pub validate_seconds: f64,
    /// Seconds spent appending and flushing.
    pub append_seconds: f64,
}

/// The result of [`run`].
#[derive(Debug)]
pub enum Outcome {
    /// Imported (possibly skipping rejects).
    Imported {
        /// Counts.
        summary: Summary,
        /// What was skipped.
        rejected: Vec<Rejected>,
    },
    /// Some records were bad and nothing was imported.
    Invalid(Vec<Rejected>),
}

/// Imports `sources` into `store`, running `rules` on each event.
pub fn run(
    store: &mut Store,
    rules: &kizuna_core::rules::RuleSet,
    sources: &[Source],
    options: &Options,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let total: u64 = sources.iter().map(|s| s.bytes).sum();
    let started = Instant::now();
    progress.start("validating", total);
    let mut rejected = Vec::new();
    for source in sources {
        rejected.extend(validate(source, options.csv_at, progress)?);
    }
    let validate_seconds = started.elapsed().as_secs_f64();
    if !rejected.is_empty() && !options.skip_invalid {
        progress.finish();
        return Ok(Outcome::Invalid(rejected));
    }

    let skip: HashSet<(&Path, u64)> = rejected
        .iter()
        .map(|r| (r.file.as_path(), r.line))
        .collect();
    let started = Instant::now();
    progress.start("importing", total);
    let mut report = AppendReport::default();
    let mut conflicted = Vec::new();
    // Parsing and storing overlap: a reader thread parses batches while this thread
    // appends the previous one (a rendezvous channel: one batch being built, one being
    // stored, so memory stays bounded).
    let (tx, rx) = std::sync::mpsc::sync_channel::<(PreparedBatch, Vec<Place>)>(0);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let skip = &skip;
        let reader = scope.spawn(move || -> anyhow::Result<()> {
            // Owns the sender: when this thread ends, the store side's loop ends too.
            let tx = tx;
            let mut batch: Vec<Event> = Vec::with_capacity(options.batch_size);
            let mut places: Vec<Place> = Vec::with_capacity(options.batch_size);
            for source in sources {
                read::for_each_record(source, options.csv_at, &mut |record| {
                    progress.advance(record.bytes);
                    if skip.contains(&(source.path.as_path(), record.line)) {
                        return Ok(());
                    }
                    let event = record.event.map_err(|errors| {
                        // The file changed between the passes; stop rather than guess.
                        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        anyhow::anyhow!(
                            "{}:{}: changed during import: {}",
                            source.path.display(),
                            record.line,
                            text.join("; ")
                        )
                    })?;
                    batch.push(event);
                    places.push(Place {
                        file: &source.path,
                        line: record.line,
                    });
                    if batch.len() >= options.batch_size {
                        let full =
                            std::mem::replace(&mut batch, Vec::with_capacity(options.batch_size));
                        let at = std::mem::take(&mut places);
                        // A closed channel means the store side failed; it reports why.
                        if tx.send((PreparedBatch::new(full)?, at)).is_err() {
                            anyhow::bail!("import stopped");
                        }
                    }
                    Ok(())
                })?;
            }
            if !batch.is_empty() {
                let _ = tx.send((PreparedBatch::new(batch)?, places));
            }
            Ok(())
        });
        let mut stored = Ok(());
        for (batch, places) in rx.iter() {
            let result = if options.skip_invalid {
                store
                    .append_prepared_skipping_conflicts(rules, batch)
                    .map(|(r, conflicts)| {
                        conflicted.extend(conflicts.iter().map(|c| conflict_reject(&places, c)));
                        r
                    })
            } else {
                store.append_prepared(rules, batch)
            };
            match result {
                Ok(r) => report.add(r),
                Err(StoreError::Conflict(conflicts)) => {
                    let lines: Vec<String> = conflicts
                        .iter()
                        .map(|c| describe(&conflict_reject(&places, c)))
                        .collect();
                    stored = Err(anyhow::anyhow!(
                        "{}\nerror: the import stopped at a batch with {} event(s) whose id is \
                         already stored with other content; that batch was not stored, the {} \
                         event(s) before it were. Fix the id, or pass --skip-invalid to import \
                         the rest; re-running stores nothing twice.",
                        lines.join("\n"),
                        conflicts.len(),
                        report.appended,
                    ));
                    break;
                }
                Err(e) => {
                    stored = Err(e.into());
                    break;
                }
            }
        }
        drop(rx);
        stored?;
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("the import reader thread panicked"))?
    })?;
    drop(skip);
    store.flush().context("flushing the database")?;
    rejected.extend(conflicted);
    progress.finish();
    let summary = Summary {
        files: sources.iter().map(|s| s.path.clone()).collect(),
        imported: report.appended,
        duplicates: report.duplicates,
        erased: report.erased,
        rejected: rejected.len() as u64,
        new_customers: report.new_customers,
        rule_errors: report.rule_errors,
        validate_seconds,
        append_seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Outcome::Imported { summary, rejected })
}

/// Where a record of a batch came from, to name it if the store refuses it.
struct Place<'a> {
    file: &'a Path,
    line: u64,
}

/// The reject of an event whose id is already stored with other content.
fn conflict_reject(places: &[Place<'_>], conflict: &Conflict) -> Rejected {
    let place = places.get(conflict.index);
    Rejected {
        file: place.map(|p| p.file.to_path_buf()).unwrap_or_default(),
        line: place.map_or(0, |p| p.line),
        errors: vec![FieldError::new(
            "id",
            format!(
                "{:?} is already stored with other content; an id names one event for good",
                conflict.id.as_str()
            ),
        )],
        record: serde_json::to_string(&*conflict.event).unwrap_or_default(),
    }
}

/// Files larger than this are validated in two halves on two threads.
const PARALLEL_VALIDATION_BYTES: u64 = 8 << 20;

/// Every bad record of one file. Large JSON-lines files are validated in two halves at once.
fn validate(
    source: &Source,
    csv_at: Timestamp,
    progress: &Progress,
) -> anyhow::Result<Vec<Rejected>> {
    let collect = |rejected: &mut Vec<Rejected>, record: read::Record| {
        progress.advance(record.bytes);
        if let Err(errors) = record.event {
            rejected.push(Rejected {
                file: source.path.clone(),
                line: record.line,
                errors,
                record: record.raw,
            });
        }
        Ok(())
    };
    let mut rejected = Vec::new();
    if source.format != read::Format::Events || source.bytes < PARALLEL_VALIDATION_BYTES {
        read::for_each_record(source, csv_at, &mut |r| collect(&mut rejected, r))?;
        return Ok(rejected);
    }
    let split = read::split_point(source)?;
    let second = std::thread::scope(|scope| -> anyhow::Result<Vec<Rejected>> {
        let worker = scope.spawn(|| -> anyhow::Result<Vec<Rejected>> {
            let mut mine = Vec::new();
            read::for_each_record_in(source, split..source.bytes, &mut |r| collect(&mut mine, r))?;
            Ok(mine)
        });
        read::for_each_record_in(source, 0..split, &mut |r| collect(&mut rejected, r))?;
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("the validation thread panicked"))?
    })?;
    rejected.extend(second);
    Ok(rejected)
}

/// Rejects as JSON lines, the content of the `--rejects` file.
pub fn rejects_jsonl(rejected: &[Rejected]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for r in rejected {
        serde_json::to_writer(&mut out, r)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// One line per reject: `file:line: field: reason; field: reason`.
pub fn describe(r: &Rejected) -> String {
    let errors: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
    format!("{}:{}: {}", r.file.display(), r.line, errors.join("; "))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A file big enough to be validated in two halves reports exact line numbers in both.
    #[test]
    fn parallel_validation_keeps_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let bad = [3_u64, 150_000, 199_999];
        for line in 1..=200_000_u64 {
            if bad.contains(&line) {
                writeln!(out, "{{\"customer\":\"c-1\",\"type\":\"purchase\"}}").unwrap();
            } else {
                writeln!(out, r#"{{"customer":"c-{line}","type":"visit","at":"2026-01-01T00:00:00Z","n":{line}}}"#).unwrap();
            }
        }
        out.flush().unwrap();
        drop(out);
        let source = Source::new(&path).unwrap();
        assert!(
            source.bytes >= PARALLEL_VALIDATION_BYTES,
            "the test file must be split"
        );
        let rejected = validate(&source, Timestamp::UNIX_EPOCH, &Progress::hidden()).unwrap();
        let lines: Vec<u64> = rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, bad);
    }
}
