//! Reading import files record by record: JSON-lines events and CSV customers.
//!
//! Both formats come out as the same [`Record`]: a line number, the raw text (for the rejects
//! file) and either an [`Event`] or the reasons it is not one. CSV rows become `profile`
//! events, so customers and events travel through one validation and one append path.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use jiff::Timestamp;
use kizuna_core::{Event, FieldError};
use serde_json::{Map, Value};

/// The columns a customers CSV may have; `id` is required.
pub const CSV_COLUMNS: [&str; 8] = [
    "id",
    "name",
    "email",
    "phone",
    "kind",
    "tz",
    "birthday",
    "business_hours",
];

/// What a file holds, decided by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.jsonl` / `.ndjson`: one event per line.
    Events,
    /// `.csv`: one customer per row.
    Customers,
}

/// An input file.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its path as the user named it: what messages and the rejects file say.
    pub path: PathBuf,
    /// Where it is read from: the path itself, or a daemon's copy of a file a client sent.
    pub local: PathBuf,
    /// Its format.
    pub format: Format,
    /// Size in bytes, for progress.
    pub bytes: u64,
}

impl Source {
    /// Checks that `path` is a readable file of a known format.
    pub fn new(path: &Path) -> anyhow::Result<Self> {
        Self::read_from(path, path)
    }

    /// The file the user named `path`, read from `local`.
    pub fn read_from(path: &Path, local: &Path) -> anyhow::Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match ext.as_deref() {
            Some("jsonl" | "ndjson") => Format::Events,
            Some("csv") => Format::Customers,
            _ => bail!(
                "{}: unsupported file type; expected .jsonl (events) or .csv (customers)",
                path.display()
            ),
        };
        let bytes = std::fs::metadata(local)
            .with_context(|| format!("{}: cannot read", path.display()))?
            .len();
        Ok(Self {
            path: path.to_path_buf(),
            local: local.to_path_buf(),
            format,
            bytes,
        })
    }
}

/// One line (or CSV row) of input.
#[derive(Debug)]
pub struct Record {
    /// 1-based line number in the file.
    pub line: u64,
    /// Bytes this record took in the file, for progress.
    pub bytes: u64,
    /// The raw text, kept for the rejects file.
    pub raw: String,
    /// The parsed event, or every reason it is not one.
    pub event: Result<Event, Vec<FieldError>>,
}

/// Calls `each` for every record of `source`. `csv_at` is the time given to profile events
/// made from CSV rows.
pub fn for_each_record(
    source: &Source,
    csv_at: Timestamp,
    each: &mut dyn FnMut(Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = File::open(&source.local)
        .with_context(|| format!("{}: cannot open", source.path.display()))?;
    match source.format {
        Format::Events => read_jsonl(&source.path, BufReader::with_capacity(1 << 20, file), each),
        Format::Customers => read_csv(&source.path, file, csv_at, each),
    }
}

/// Calls `each` for the records of one part of a JSON-lines file: the lines starting in
/// `part`, numbered as in the whole file. Splitting a large file in two lets validation use
/// both cores; line numbers stay exact because the second half counts the newlines before it.
pub fn for_each_record_in(
    source: &Source,
    part: std::ops::Range<u64>,
    each: &mut dyn FnMut(Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let open = || {
        File::open(&source.local).with_context(|| format!("{}: cannot open", source.path.display()))
    };
    let mut lines_before = 0;
    if part.start > 0 {
        let mut prefix = BufReader::with_capacity(1 << 20, open()?).take(part.start);
        let mut chunk = vec![0; 1 << 20];
        loop {
            let n = prefix.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            lines_before += chunk[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    let mut file = open()?;
    file.seek(SeekFrom::Start(part.start))?;
    let reader = BufReader::with_capacity(1 << 20, file).take(part.end - part.start);
    read_jsonl_from(&source.path, reader, lines_before, each)
}

/// Where to split a JSON-lines file in two: just after the first newline past the middle.
pub fn split_point(source: &Source) -> anyhow::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(&source.local)
        .with_context(|| format!("{}: cannot open", source.path.display()))?;
    let middle = source.bytes / 2;
    file.seek(SeekFrom::Start(middle))?;
    let mut rest = Vec::new();
    let found = BufReader::new(file).read_until(b'\n', &mut rest)?;
    Ok((middle + found as u64).min(source.bytes))
}

fn read_jsonl(
    path: &Path,
    reader: impl BufRead,
    each: &mut dyn FnMut(Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    read_jsonl_from(path, reader, 0, each)
}

fn read_jsonl_from(
    path: &Path,
    mut reader: impl BufRead,
    lines_before: u64,
    each: &mut dyn FnMut(Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buf = String::new();
    let mut line = lines_before;
    loop {
        buf.clear();
        let bytes = reader.read_line(&mut buf).with_context(|| {
            format!(
                "{}:{}: cannot read (is it UTF-8 text?)",
                path.display(),
                line + 1
            )
        })?;
        if bytes == 0 {
            return Ok(());
        }
        line += 1;
        let text = buf.trim();
        if text.is_empty() {
            continue;
        }
        let event = Event::from_json_str(text);
        // Only a rejected line's text is needed (for the rejects file): don't copy the rest.
        let raw = if event.is_err() {
            text.to_owned()
        } else {
            String::new()
        };
        each(Record {
            line,
            bytes: bytes as u64,
            raw,
            event,
        })?;
    }
}

fn read_csv(
    path: &Path,
    file: File,
    at: Timestamp,
    each: &mut dyn FnMut(Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let headers = reader
        .headers()
        .with_context(|| format!("{}:1: cannot read the header", path.display()))?
        .clone();
    for h in &headers {
        if !CSV_COLUMNS.contains(&h) {
            bail!(
                "{}:1: unknown column {h:?}; the columns are {}",
                path.display(),
                CSV_COLUMNS.join(",")
            );
        }
    }
    if !headers.iter().any(|h| h == "id") {
        bail!("{}:1: the header has no \"id\" column", path.display());
    }
    for row in reader.records() {
        let (line, raw, event) = match row {
            Ok(row) => {
                let line = row.position().map_or(0, |p| p.line());
                let raw = row.iter().collect::<Vec<_>>().join(",");
                (line, raw, csv_profile(&headers, &row, at))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("has {len} fields, the header has {expected_len}")
                    }
                    _ => e.to_string(),
                };
                (
                    line,
                    String::new(),
                    Err(vec![FieldError::new("(line)", reason)]),
                )
            }
        };
        each(Record {
            line,
            bytes: raw.len() as u64 + 1,
            raw,
            event,
        })?;
    }
    Ok(())
}

/// A CSV row as a `profile` event. Its id is derived from the row's content alone (not the
/// import time), so importing the same file twice stores it once, while a changed row is a
/// new profile event.
fn csv_profile(
    headers: &csv::StringRecord,
    row: &csv::StringRecord,
    at: Timestamp,
) -> Result<Event, Vec<FieldError>> {
    let mut obj = Map::new();
    let mut attrs = Map::new();
    for (h, v) in headers.iter().zip(row.iter()) {
        if h == "id" {
            obj.insert("customer".into(), Value::String(v.to_owned()));
        } else if !v.is_empty() {
            attrs.insert(h.to_owned(), Value::String(v.to_owned()));
        }
    }
    obj.insert("type".into(), Value::String("profile".into()));
    obj.insert("at".into(), Value::String(at.to_string()));
    obj.extend(attrs.clone());
    let mut event = Event::from_json(obj)?;
    event.id = Event::row_id(&event.customer, &attrs);
    Ok(event)
}
