//! `kizuna status`: is a daemon running on this home, and how is the home doing.

use std::process::ExitCode;

use jiff::Timestamp;
use serde::Serialize;

use crate::{
    context::{Ctx, Out},
    daemon::reload::ReloadStatus,
    table::thousands,
};

/// The daemon part of the status.
#[derive(Debug, Serialize)]
struct Daemon {
    pid: u32,
    since: Timestamp,
    version: &'static str,
    listen: Option<String>,
    /// Timers and dispatch only on command (`kizuna run --manual-clock`).
    manual_clock: bool,
    reload: ReloadStatus,
    /// Why the store cannot write, while it cannot (ingest is refused meanwhile).
    degraded: Option<String>,
}

/// What `status` reports.
#[derive(Debug, Serialize)]
struct Status {
    home: String,
    /// `None`: no daemon holds the home (this command opened it itself).
    daemon: Option<Daemon>,
    /// The version of the rules in force, or why they do not compile.
    rules: Result<String, String>,
    /// The home's figures; `None` when the store cannot answer (a daemon degraded by a
    /// full disk whose last checkpoint failed), with the reason in `figures_error`.
    #[serde(flatten)]
    figures: Option<Figures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    figures_error: Option<String>,
}

/// How much the home holds and how much is waiting.
#[derive(Debug, Serialize)]
struct Figures {
    events: u64,
    customers: u64,
    /// Messages due for dispatch now.
    queue: usize,
    /// Customers with a timer due and not fired.
    timers_due: usize,
    /// Staff alerts whose customer still waits.
    open_alerts: usize,
}

impl Figures {
    fn of(store: &mut kizuna_core::Store, now: Timestamp) -> Result<Self, kizuna_core::StoreError> {
        Ok(Self {
            events: store.event_count()?,
            customers: store.customer_count()?,
            queue: store.due_count(now)?,
            timers_due: store.customers_with_timers_due(now)?,
            open_alerts: store.open_alert_count()?,
        })
    }
}

/// Prints the status of the home and of the daemon holding it, if any.
pub fn run(ctx: &mut Ctx, o: &mut Out, json: bool) -> anyhow::Result<ExitCode> {
    let home = ctx.home().root().display().to_string();
    let daemon = ctx.daemon_info().map(|d| Daemon {
        pid: d.pid,
        since: d.started,
        version: crate::admin::VERSION,
        listen: d.listen.get().cloned(),
        manual_clock: d.manual_clock,
        reload: d.reloader.status(),
        degraded: d.degraded.lock().ok().and_then(|g| g.clone()),
    });
    let rules = ctx
        .rules()
        .map(|r| r.version().to_owned())
        .map_err(|e| format!("{e:#}"));
    let now = Timestamp::now();
    let store = ctx.store()?;
    // Status is what an operator runs when something is wrong: a store that cannot
    // answer (degraded) is reported, not an error.
    let (figures, figures_error) = match Figures::of(store, now) {
        Ok(f) => (Some(f), None),
        Err(e) if daemon.as_ref().is_some_and(|d| d.degraded.is_some()) => {
            (None, Some(e.to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    let status = Status {
        home,
        daemon,
        rules,
        figures,
        figures_error,
    };
    if json {
        o.json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut line = |k: &str, v: String| writeln!(o.stdout, "{k:<12}{v}");
    line("home", status.home)?;
    match &status.daemon {
        None => line(
            "daemon",
            "not running (commands open the home themselves)".into(),
        )?,
        Some(d) => {
            line(
                "daemon",
                format!(
                    "running since {} (pid {}, kizuna {}){}",
                    d.since,
                    d.pid,
                    d.version,
                    d.listen
                        .as_ref()
                        .map(|l| format!(", http://{l}"))
                        .unwrap_or_default()
                ),
            )?;
            if let Some(reason) = &d.degraded {
                line(
                    "store",
                    format!("DEGRADED, ingest refused until it can write: {reason}"),
                )?;
            }
            if d.manual_clock {
                line(
                    "clock",
                    "manual: timers fire and messages go out on `kizuna tick` and \
                     `kizuna dispatch` only"
                        .into(),
                )?;
            }
            line(
                "reloads",
                format!("{} done, {} failed", d.reload.reloads, d.reload.failures),
            )?;
            if let Some(e) = &d.reload.last_error {
                line("last reload", format!("failed: {e}"))?;
            }
        }
    }
    match &status.rules {
        Ok(version) => line("rules", format!("version {version}"))?,
        Err(e) => line("rules", format!("do not compile: {e}"))?,
    }
    let Some(f) = &status.figures else {
        let why = status.figures_error.as_deref().unwrap_or_default();
        line(
            "figures",
            format!("unavailable until the store can write: {why}"),
        )?;
        return Ok(ExitCode::SUCCESS);
    };
    line("events", thousands(f.events))?;
    line("customers", thousands(f.customers))?;
    line(
        "queue",
        format!("{} message(s) due", thousands(f.queue as u64)),
    )?;
    line(
        "timers due",
        format!("{} customer(s)", thousands(f.timers_due as u64)),
    )?;
    line(
        "alerts",
        format!("{} open", thousands(f.open_alerts as u64)),
    )?;
    Ok(ExitCode::SUCCESS)
}
