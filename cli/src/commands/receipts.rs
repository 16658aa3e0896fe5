//! `kizuna channels receipts`: a small HTTP listener for delivery reports.
//!
//! Kannel calls the `dlr_url` of a message (`/dlr?id=m-12-0&type=%d`) when the network
//! reports delivery. Each report becomes a `message_delivered` or `message_failed` event
//! of the message's customer, so delivery is part of the history like everything else.
//! The daemon serves the same path (`kizuna run`, `GET /dlr`); without a daemon this
//! command listens for a bounded time or number of reports (a cron job, or a test).

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context;
use jiff::Timestamp;
use kizuna_core::{Event, store::MessageId};

use crate::home::Home;

/// Kannel's report types: 1 delivered, 2 failed, 4 buffered, 8 accepted by the SMSC,
/// 16 rejected by the SMSC.
fn kind(dlr_type: u32) -> Option<&'static str> {
    match dlr_type {
        1 => Some("message_delivered"),
        2 | 16 => Some("message_failed"),
        _ => None,
    }
}

/// Listens on `addr` until `max` reports or `seconds` have passed.
pub fn listen(home: &Home, addr: &str, max: usize, seconds: u64) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    listener.set_nonblocking(true)?;
    println!(
        "listening for delivery reports on {}",
        listener.local_addr()?
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut recorded = 0;
    while recorded < max && Instant::now() < deadline {
        let (stream, _) = match listener.accept() {
            Ok(conn) => conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request = String::new();
        reader.read_line(&mut request)?;
        // Skip the headers; a report carries everything in its query string.
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        let path = request.split_whitespace().nth(1).unwrap_or("");
        let (status, outcome) = match record(home, path) {
            Ok(Some(event)) => {
                recorded += 1;
                ("200 OK", event)
            }
            Ok(None) => ("200 OK", "ignored".to_owned()),
            Err(e) => ("400 Bad Request", format!("{e:#}")),
        };
        tracing::info!(path, outcome = %outcome, "delivery report");
        let mut stream = stream;
        let body = format!("{outcome}\n");
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
    }
    println!("recorded {recorded} delivery report(s)");
    Ok(ExitCode::SUCCESS)
}

/// The message id and report type of a `/dlr?id=…&type=…` path.
pub fn parse_report(path: &str) -> anyhow::Result<(MessageId, u32)> {
    if !path.starts_with("/dlr") {
        anyhow::bail!("unknown path {path:?}");
    }
    let q = crate::query::params(path.split_once('?').map_or("", |(_, q)| q));
    let get = |k: &str| q.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
    let id: MessageId = get("id")
        .context("a report needs id")?
        .parse()
        .map_err(|e| anyhow::anyhow!("id: {e}"))?;
    let dlr_type: u32 = get("type")
        .context("a report needs type")?
        .parse()
        .context("type must be a number")?;
    Ok((id, dlr_type))
}

/// Records one report as an event; `None` for report types that change nothing.
pub fn record_report(
    store: &mut kizuna_core::store::Store,
    id: MessageId,
    dlr_type: u32,
) -> anyhow::Result<Option<String>> {
    let Some(kind) = kind(dlr_type) else {
        return Ok(None);
    };
    let message = store
        .message(id)?
        .with_context(|| format!("no outbox message {id}"))?;
    let json = serde_json::json!({
        "id": format!("dlr-{id}-{dlr_type}"),
        "customer": message.customer.as_str(),
        "type": kind,
        "at": Timestamp::now().to_string(),
        "message": id.to_string(),
        "channel": message.channel,
        "dlr_type": dlr_type,
    });
    let event = Event::from_json_str(&json.to_string()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    store.append(&[event])?;
    // Durable now; the projection is written with the daemon's next checkpoint (or the
    // command's flush below), not once per report.
    store.sync_events()?;
    Ok(Some(format!("{kind} {id}")))
}

fn record(home: &Home, path: &str) -> anyhow::Result<Option<String>> {
    let (id, dlr_type) = parse_report(path)?;
    let (_, mut store) = home.open_store()?;
    let recorded = record_report(&mut store, id, dlr_type)?;
    store.flush()?;
    Ok(recorded)
}
