//! `kizuna channels receipts`: the channels' open inbound routes without a daemon.
//!
//! A gateway calls back when the network reports delivery (Kannel: the `dlr_url` of each
//! message, `/channels/sms/dlr?id=m-12-0&type=%d`). The daemon answers those callbacks while
//! it runs; without one, this command listens for a bounded time or number of callbacks (a
//! cron job, or a test) and hands each to the same route of the same plugin, recording
//! through the same inbox ([`crate::daemon::inbound::StoreInbox`]). Routes that need a token
//! (incoming SMS) are the daemon's only.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context;
use kizuna_channel::{
    InboundRequest, InboundResponse,
    inbound::{Access, Method},
};

use crate::{
    daemon::inbound::{AddressBooks, StoreInbox},
    home::Home,
};

/// The largest request body read.
const MAX_BODY: usize = 1024 * 1024;

/// Listens on `addr` until `max` callbacks were answered 200 or `seconds` have passed.
pub fn listen(home: &Home, addr: &str, max: usize, seconds: u64) -> anyhow::Result<ExitCode> {
    let routes = super::outbox::channels(home)?.routes;
    let rules = home.load_rules(None)?;
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
        let (method, path, request) = match read_request(&stream) {
            Ok(read) => read,
            Err(e) => {
                answer(&stream, &InboundResponse::error(400, e.to_string()))?;
                continue;
            }
        };
        let route = routes.iter().find(|(channel, route)| {
            route.method() == method
                && path == format!("/channels/{}{}", channel.shape.name, route.path())
        });
        let response = match route {
            None => InboundResponse::error(404, format!("no channel route {path}")),
            Some((_, route)) if route.access() != Access::Open => InboundResponse::error(
                403,
                "this route needs a token: it is answered by the daemon (kizuna run)",
            ),
            // The store is open for one callback at a time, so a dispatch or an import
            // can run between them.
            Some((channel, route)) => {
                let (_, mut store) = home.open_store()?;
                let mut inbox = StoreInbox {
                    store: &mut store,
                    rules: &rules,
                    books: &mut AddressBooks::default(),
                    channel,
                };
                let response = route.handle(&request, &mut inbox);
                store.flush()?;
                response
            }
        };
        if response.status == 200 {
            recorded += 1;
        }
        tracing::info!(path, status = response.status, "channel callback");
        answer(&stream, &response)?;
    }
    println!("recorded {recorded} delivery report(s)");
    Ok(ExitCode::SUCCESS)
}

/// The method, path and request of one HTTP/1.1 request.
fn read_request(stream: &std::net::TcpStream) -> anyhow::Result<(Method, String, InboundRequest)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = match parts.next() {
        Some("GET") => Method::Get,
        Some("POST") => Method::Post,
        other => anyhow::bail!("method {other:?} is not GET or POST"),
    };
    let target = parts.next().context("no path")?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = InboundRequest {
        query: query.to_owned(),
        ..InboundRequest::default()
    };
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            request
                .headers
                .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = request
        .header("content-length")
        .map(str::parse)
        .transpose()
        .context("Content-Length is not a number")?
        .unwrap_or(0);
    anyhow::ensure!(
        length <= MAX_BODY,
        "the body is larger than {MAX_BODY} bytes"
    );
    request.body = vec![0; length];
    reader.read_exact(&mut request.body)?;
    Ok((method, path.to_owned(), request))
}

fn answer(mut stream: &std::net::TcpStream, response: &InboundResponse) -> anyhow::Result<()> {
    let body = format!("{}\n", response.body);
    write!(
        stream,
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        response.status,
        if response.status == 200 {
            "OK"
        } else {
            "Error"
        },
        body.len()
    )?;
    Ok(())
}
