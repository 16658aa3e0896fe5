//! `kizuna bench http`: a load generator for the daemon, on loopback.
//!
//! The events are live traffic by default (dated over the last hour; `--history` dates
//! them over the past year, so their timers fire and their messages go out during the
//! run).
//!
//! Starts `kizuna run` on a scratch home with the default pack (a child process, so the
//! figures include HTTP, JSON, the writer thread, the rules and the flush before every
//! 202), posts generated events from `--concurrency` client threads in batches of
//! `--batch`, either as fast as the daemon takes them or paced at `--rate` events/s, and
//! reports acknowledged events/s and request latency. Paced latency is measured from when
//! each request was *due*, not when it was sent, so a daemon that falls behind shows it
//! (no coordinated omission). With `--reloads K` it then saves a rules file K times and
//! times each save until `/health` shows the new version. Bounded by `--events` and
//! `--seconds`.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitCode, Stdio},
    sync::{
        Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use jiff::Timestamp;
use serde::Serialize;

use super::{bench::scratch_home, print_json};
use crate::{args::BenchHttpArgs, sample, table::thousands};

/// The token the scratch daemon is started with.
const TOKEN: &str = "kizuna-bench-token-0123456789";

/// The daemon under test; stopped (SIGTERM, then SIGKILL) when dropped.
struct Daemon {
    child: Child,
    addr: String,
}

impl Daemon {
    fn start(home: &std::path::Path) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--home", &home.to_string_lossy(), "run", "--listen"])
            .arg("127.0.0.1:0")
            .env("KIZUNA_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting `kizuna run`")?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("the daemon's stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("kizuna listening on http://") else {
            let _ = child.kill();
            bail!("the daemon did not start: {line:?}");
        };
        Ok(Self {
            addr: addr.to_owned(),
            child,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM and wait (the daemon flushes and exits 0).
    fn stop(&mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the daemon exited with {status}");
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the daemon did not stop within 30 s of SIGTERM")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize)]
pub(super) struct Millis {
    pub(super) p50: f64,
    pub(super) p90: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
}

pub(super) fn millis(mut samples: Vec<Duration>) -> Option<Millis> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    Some(Millis {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: at(1.0),
    })
}

#[derive(Debug, Serialize)]
struct Figures {
    events_sent: u64,
    events_acknowledged: u64,
    events_stored: u64,
    requests: u64,
    failed_requests: u64,
    batch: usize,
    concurrency: usize,
    rate: Option<f64>,
    seconds: f64,
    events_per_second: f64,
    request_ms: Option<Millis>,
    reload_ms: Option<Millis>,
    /// Ingest while an admin command ran (`--during`).
    during: Option<During>,
    /// `customer show` through the daemon's admin socket (`--probe-show`).
    customer_show_ms: Option<Millis>,
    /// Browsers polling the console's inbox during the load (`--console`).
    console_polls: Option<super::bench_console::Polled>,
    /// Console pages timed after the load (`--console-pages`).
    console_pages: Vec<super::bench_console::PageFigures>,
}

/// Ingest while an admin command ran, and outside it.
#[derive(Debug, Serialize)]
struct During {
    command: String,
    command_seconds: f64,
    /// The part of the command's run during which clients were posting: the rates
    /// "during" are over this.
    posting_seconds: f64,
    command_ok: bool,
    events_per_second_during: f64,
    events_per_second_outside: f64,
    request_ms_during: Option<Millis>,
    request_ms_outside: Option<Millis>,
}

/// Runs the benchmark with the rules in `rules` (`--rules`; copied into the scratch home,
/// since `--reloads` edits them) or the default pack.
pub fn http(args: &BenchHttpArgs, rules: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    if args.events == 0 || args.batch == 0 || args.concurrency == 0 {
        bail!("--events, --batch and --concurrency must be at least 1");
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate must be a positive number of events per second");
    }
    let (_dir, home) = scratch_home()?;
    if let Some(dir) = rules {
        std::fs::remove_dir_all(home.rules_dir())?;
        super::backup::copy_dir(dir, &home.rules_dir())?;
    }
    // Live traffic: the last hour, so timers set by the events fall due after the run, as
    // they would in a shop. --history: the past year, whose timers fire during the run.
    let now = Timestamp::now();
    let customers = (args.events / 20).max(1);
    let span = if args.history {
        jiff::SignedDuration::from_hours(365 * 24)
    } else {
        jiff::SignedDuration::from_hours(1)
    };
    let lines: Vec<String> =
        sample::bench_events_over(1, args.events, customers, now, span).collect();
    let bodies: Vec<String> = lines.chunks(args.batch).map(|c| c.join("\n")).collect();
    let mut daemon = Daemon::start(home.root())?;
    let base = daemon.url("");
    let pollers = if args.console > 0 {
        Some(super::bench_console::Pollers::start(
            &base,
            TOKEN,
            args.console,
        )?)
    } else {
        None
    };

    let next = AtomicUsize::new(0);
    let acknowledged = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    // Per request: when it was sent (from the start), how long until its answer, and how
    // many events it stored.
    let latencies = Mutex::new(Vec::<(Duration, Duration, u64)>::with_capacity(
        bodies.len(),
    ));
    let first_error = Mutex::new(None::<String>);
    let deadline = Duration::from_secs(args.seconds);
    let url = daemon.url("/events");
    let started = Instant::now();
    let window = Mutex::new(None::<(Duration, Duration, bool)>);
    std::thread::scope(|scope| {
        if let Some(command) = &args.during {
            // Half-way through, the admin command; the clients go on posting meanwhile.
            let (acknowledged, window, home) = (&acknowledged, &window, &home);
            let half = (lines.len() / 2) as u64;
            scope.spawn(move || {
                while acknowledged.load(Relaxed) < half && started.elapsed() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let from = started.elapsed();
                let ok = admin_command(home.root(), command);
                if let Ok(mut w) = window.lock() {
                    *w = Some((from, started.elapsed(), ok));
                }
            });
        }
        for _ in 0..args.concurrency {
            scope.spawn(|| {
                let agent = agent();
                let mut mine = Vec::new();
                loop {
                    // The deadline first: a request taken is a request sent (and counted).
                    if started.elapsed() > deadline {
                        break;
                    }
                    let i = next.fetch_add(1, Relaxed);
                    if i >= bodies.len() {
                        break;
                    }
                    // Paced: request i is due when the events before it have had their
                    // share of the rate.
                    let due = args.rate.map(|rate| {
                        started + Duration::from_secs_f64((i * args.batch) as f64 / rate)
                    });
                    if let Some(due) = due {
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                    let t0 = due.unwrap_or_else(Instant::now);
                    let result = agent
                        .post(&url)
                        .header("Authorization", &format!("Bearer {TOKEN}"))
                        .header("Content-Type", "application/x-ndjson")
                        .send(&bodies[i])
                        .map_err(|e| e.to_string())
                        .and_then(|mut r| {
                            let status = r.status().as_u16();
                            let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
                            if status == 202 {
                                Ok(body)
                            } else {
                                Err(format!("{status}: {body}"))
                            }
                        });
                    let took = t0.elapsed();
                    let sent_at = t0.saturating_duration_since(started);
                    match result {
                        Ok(body) => {
                            let v: serde_json::Value =
                                serde_json::from_str(&body).unwrap_or_default();
                            let accepted = v["accepted"].as_u64().unwrap_or(0);
                            acknowledged.fetch_add(accepted, Relaxed);
                            mine.push((sent_at, took, accepted));
                        }
                        Err(e) => {
                            mine.push((sent_at, took, 0));
                            failed.fetch_add(1, Relaxed);
                            if let Ok(mut first) = first_error.lock() {
                                first.get_or_insert(e);
                            }
                        }
                    }
                }
                if let Ok(mut all) = latencies.lock() {
                    all.extend(mine);
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let requests = next.load(Relaxed).min(bodies.len()) as u64;
    let events_sent = lines.len().min(requests as usize * args.batch) as u64;
    let acknowledged = acknowledged.into_inner();
    let samples = latencies.into_inner().unwrap_or_default();
    let during = window
        .into_inner()
        .ok()
        .flatten()
        .zip(args.during.clone())
        .map(|((from, to, ok), command)| split(&samples, from, to, seconds, command, ok));
    let console_polls = pollers.map(super::bench_console::Pollers::stop);
    let console_pages = if args.console_pages > 0 {
        super::bench_console::pages(&base, TOKEN, args.console_pages)?
    } else {
        Vec::new()
    };
    let reload_ms = millis(reloads(&daemon, home.rules_dir(), args.reloads)?);
    let customer_show_ms = millis(probe_show(home.root(), args.probe_show)?);
    let events_stored = health(&daemon)?["events"].as_u64().unwrap_or(0);
    daemon.stop()?;
    if let Some(e) = first_error.into_inner().ok().flatten() {
        eprintln!(
            "warning: {} request(s) failed; the first: {e}",
            failed.load(Relaxed)
        );
    }
    let figures = Figures {
        events_sent,
        events_acknowledged: acknowledged,
        events_stored,
        requests,
        failed_requests: failed.into_inner(),
        batch: args.batch,
        concurrency: args.concurrency,
        rate: args.rate,
        seconds,
        events_per_second: acknowledged as f64 / seconds,
        request_ms: millis(samples.iter().map(|s| s.1).collect()),
        reload_ms,
        during,
        customer_show_ms,
        console_polls,
        console_pages,
    };
    if args.json {
        print_json(&figures)?;
    } else {
        print(&figures);
    }
    // Every event sent was new, so every one must have been acknowledged as stored.
    let admin_ok = figures.during.as_ref().is_none_or(|d| d.command_ok);
    Ok(
        if figures.failed_requests == 0 && acknowledged == events_sent && admin_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// Ingest during `[from, to)` of the run and outside it.
fn split(
    samples: &[(Duration, Duration, u64)],
    from: Duration,
    to: Duration,
    seconds: f64,
    command: String,
    ok: bool,
) -> During {
    let command_seconds = (to - from).as_secs_f64();
    // A command that outlasts the posting is measured while there was posting.
    let to = to.min(Duration::from_secs_f64(seconds)).max(from);
    let (inside, outside): (Vec<_>, Vec<_>) = samples
        .iter()
        .partition(|(sent, _, _)| *sent >= from && *sent < to);
    let events = |v: &[&(Duration, Duration, u64)]| v.iter().map(|s| s.2).sum::<u64>() as f64;
    let window = (to - from).as_secs_f64().max(1e-9);
    During {
        command,
        command_seconds,
        posting_seconds: window,
        command_ok: ok,
        events_per_second_during: events(&inside) / window,
        events_per_second_outside: events(&outside) / (seconds - window).max(1e-9),
        request_ms_during: millis(inside.iter().map(|s| s.1).collect()),
        request_ms_outside: millis(outside.iter().map(|s| s.1).collect()),
    }
}

/// Runs `kizuna replay` or a campaign against the daemon's home, through its admin
/// socket (a separate CLI process, as an admin would). Whether it succeeded.
fn admin_command(home: &std::path::Path, command: &str) -> bool {
    let args: &[&str] = match command {
        "replay" => &["rules", "replay", "--json"],
        _ => &[
            "campaign",
            "run",
            "bench",
            "--segment",
            "email_ok",
            "--template",
            "notice",
            "--var",
            "subject=Hello",
            "--var",
            "text=News",
            "--json",
        ],
    };
    let run = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .arg("--home")
            .arg(home)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
    });
    run.is_ok_and(|s| s.success())
}

/// Times `n` `customer show` commands answered by the daemon over its admin socket (the
/// exchange itself, without starting a process each time).
fn probe_show(home: &std::path::Path, n: usize) -> anyhow::Result<Vec<Duration>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let listed = crate::admin::client::exchange(
        home,
        &["kizuna", "customer", "list", "--json", "--limit", "1000"],
    )?;
    let ids = customer_ids(&listed.stdout)?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let id = &ids[i * 7919 % ids.len()];
        let argv = ["kizuna", "customer", "show", id, "--json"];
        let t0 = Instant::now();
        let response = crate::admin::client::exchange(home, &argv)?;
        times.push(t0.elapsed());
        if response.exit != 0 {
            bail!(
                "customer show {id} through the daemon failed: {}",
                response.stderr
            );
        }
    }
    Ok(times)
}

fn health(daemon: &Daemon) -> anyhow::Result<serde_json::Value> {
    let mut response = agent().get(daemon.url("/health")).call()?;
    Ok(serde_json::from_str(
        &response.body_mut().read_to_string()?,
    )?)
}

/// Saves `points.rhai` `n` times the way editors do (write a temporary file, rename it
/// over the old one) and times each save until `/health` reports the new version.
fn reloads(daemon: &Daemon, rules: std::path::PathBuf, n: usize) -> anyhow::Result<Vec<Duration>> {
    let file = rules.join("points.rhai");
    let original = std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
    let mut version = health(daemon)?["rules"].as_str().unwrap_or("").to_owned();
    let mut times = Vec::with_capacity(n);
    for k in 0..n {
        let tmp = rules.join(".points.rhai.tmp");
        std::fs::write(&tmp, format!("// bench save {k}\n{original}"))?;
        let saved = Instant::now();
        std::fs::rename(&tmp, &file)?;
        loop {
            let now = health(daemon)?["rules"].as_str().unwrap_or("").to_owned();
            if now != version {
                times.push(saved.elapsed());
                version = now;
                break;
            }
            if saved.elapsed() > Duration::from_secs(30) {
                bail!("save {k} was not live after 30 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    Ok(times)
}

fn print(f: &Figures) {
    let pace = f.rate.map_or("as fast as acknowledged".to_owned(), |r| {
        format!("paced at {r} events/s")
    });
    println!(
        "http: {} events in {} requests of {} from {} clients ({pace}) in {:.2} s",
        thousands(f.events_sent),
        thousands(f.requests),
        f.batch,
        f.concurrency,
        f.seconds
    );
    println!(
        "  acknowledged {} events = {} events/s; the store holds {} (with timers fired and messages sent); failed requests {}",
        thousands(f.events_acknowledged),
        thousands(f.events_per_second as u64),
        thousands(f.events_stored),
        f.failed_requests
    );
    if let Some(m) = &f.request_ms {
        println!(
            "  request latency (until 202, durable): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            m.p50, m.p90, m.p99, m.max
        );
    }
    if let Some(d) = &f.during {
        let p99 = |m: &Option<Millis>| {
            m.as_ref()
                .map_or("-".into(), |m| format!("{:.1} ms", m.p99))
        };
        let posted = if d.posting_seconds + 0.05 < d.command_seconds {
            format!("; posting ended {:.2} s into it", d.posting_seconds)
        } else {
            String::new()
        };
        println!(
            "  while `{}` ran ({:.2} s, {}{posted}): {} events/s, p99 {}; the rest of the run: {} events/s, p99 {}",
            d.command,
            d.command_seconds,
            if d.command_ok { "ok" } else { "FAILED" },
            thousands(d.events_per_second_during as u64),
            p99(&d.request_ms_during),
            thousands(d.events_per_second_outside as u64),
            p99(&d.request_ms_outside),
        );
    }
    if let Some(m) = &f.customer_show_ms {
        println!(
            "  customer show through the admin socket: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            m.p50, m.p99, m.max
        );
    }
    if let Some(p) = &f.console_polls {
        println!(
            "  console: {} browser(s) polled the inbox {} time(s) during the load, {} failed",
            p.browsers, p.polls, p.failures
        );
    }
    for page in &f.console_pages {
        if let Some(m) = &page.ms {
            println!(
                "  console {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} bytes",
                page.page, m.p50, m.p99, m.max, page.bytes
            );
        }
    }
    if let Some(m) = &f.reload_ms {
        println!(
            "  reload (save to active): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            m.p50, m.p90, m.p99, m.max
        );
    }
}

/// The ids in a `customer list --json` answer (at least one).
pub(super) fn customer_ids(listed: &str) -> anyhow::Result<Vec<String>> {
    let listed: serde_json::Value = serde_json::from_str(listed)?;
    let ids: Vec<String> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    if ids.is_empty() {
        bail!("no customers to show");
    }
    Ok(ids)
}
