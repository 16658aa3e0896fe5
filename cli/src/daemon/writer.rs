//! The daemon's single writer: one thread owns the store, and everything that changes it
//! (ingest, timers, dispatch) goes through here, in order.
//!
//! sled allows one writer per database and kizuna's store folds projections in memory, so
//! the daemon keeps that shape: HTTP handlers send commands over a channel and wait for the
//! answer; the thread also runs the clock — every second it fires due timers and
//! dispatches due messages.

use std::{
    sync::{
        Arc,
        atomic::Ordering::Relaxed,
        mpsc::{Receiver, RecvTimeoutError},
    },
    time::Duration,
};

use jiff::Timestamp;
use kizuna_core::{
    Event,
    customer::Customer,
    dispatch::Dispatcher,
    ids::CustomerId,
    store::{AppendReport, Store},
};
use tokio::sync::oneshot;

use super::metrics::Metrics;

/// What the writer is asked to do.
#[derive(Debug)]
pub enum Command {
    /// Store events (validated already) and make them durable before answering. The span
    /// is the request's, so what the writer logs about them carries the request id.
    Append(
        Vec<Event>,
        tracing::Span,
        oneshot::Sender<Result<AppendReport, String>>,
    ),
    /// One customer's projection.
    Customer(
        CustomerId,
        oneshot::Sender<Result<Option<Customer>, String>>,
    ),
    /// A delivery report for an outbox message (Kannel's `type`).
    Report(
        kizuna_core::store::MessageId,
        u32,
        oneshot::Sender<Result<Option<String>, String>>,
    ),
    /// An inbound SMS to record as the customer's reply ([`super::inbound`]).
    InboundSms(
        super::inbound::InboundSms,
        tracing::Span,
        oneshot::Sender<Result<super::inbound::Recorded, super::inbound::InboundError>>,
    ),
    /// Figures for `/health`.
    Health(oneshot::Sender<Health>),
    /// Use these rules from the next command on (a hot reload).
    SetRules(std::sync::Arc<kizuna_core::rules::RuleSet>),
    /// Flush and stop.
    Shutdown,
}

/// What `/health` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// Always "ok" when the writer answers.
    pub status: &'static str,
    /// The active rules version.
    pub rules: String,
    /// Events stored.
    pub events: u64,
    /// Customers known.
    pub customers: u64,
    /// Messages waiting for the dispatcher.
    pub queue: usize,
    /// Timers due and not fired yet (the clock is behind when this stays above zero).
    pub timers_due: usize,
}

/// Runs the writer until [`Command::Shutdown`] or until every sender is gone.
pub fn run(
    mut store: Store,
    dispatcher: Dispatcher,
    commands: Receiver<Command>,
    metrics: Arc<Metrics>,
) {
    store.observe_latency(Arc::clone(&metrics.rule_latency));
    let mut phones = super::inbound::PhoneBook::default();
    match store.outbox() {
        Ok(all) => {
            let dead = all.iter().filter(|m| m.status.name() == "dead").count();
            metrics.dead_letters.store(dead as u64, Relaxed);
        }
        Err(e) => tracing::error!(error = %e, "cannot count dead letters"),
    }
    let tick = Duration::from_secs(1);
    let mut last_tick = std::time::Instant::now();
    loop {
        match commands.recv_timeout(tick.saturating_sub(last_tick.elapsed())) {
            Ok(Command::Append(events, span, reply)) => {
                let _in_request = span.enter();
                let profiles = phones.profiles(&events);
                let result = store
                    .append_owned(events)
                    .and_then(|report| store.flush().map(|()| report))
                    .map_err(|e| e.to_string());
                match &result {
                    Err(e) => tracing::error!(error = %e, "append failed"),
                    Ok(r) if r.rule_errors > 0 => tracing::warn!(
                        rule_errors = r.rule_errors,
                        "rules failed on ingested events (the events are stored); see `kizuna rules errors`"
                    ),
                    Ok(_) => {}
                }
                if result.is_ok() {
                    phones.stored(&store, &profiles);
                }
                let _ = reply.send(result);
            }
            Ok(Command::InboundSms(sms, span, reply)) => {
                let _in_request = span.enter();
                let result = phones.record(&mut store, &sms);
                match &result {
                    Ok(r) if !r.duplicate => {
                        tracing::info!(events = r.events.len(), "inbound SMS recorded")
                    }
                    Ok(_) => tracing::info!("inbound SMS already recorded"),
                    Err(e) => tracing::warn!(error = %e, "inbound SMS not recorded"),
                }
                let _ = reply.send(result);
            }
            Ok(Command::Report(id, dlr_type, reply)) => {
                let result = crate::commands::receipts::record_report(&mut store, id, dlr_type)
                    .map_err(|e| format!("{e:#}"));
                let _ = reply.send(result);
            }
            Ok(Command::Customer(id, reply)) => {
                let _ = reply.send(store.customer(&id).map_err(|e| e.to_string()));
            }
            Ok(Command::Health(reply)) => {
                let _ = reply.send(Health {
                    status: "ok",
                    rules: store.rules().version().to_owned(),
                    events: store.event_count().unwrap_or(0),
                    customers: store.customer_count().unwrap_or(0),
                    queue: store.due_count(Timestamp::now()).unwrap_or(0),
                    timers_due: store.timers_due_count(Timestamp::now()).unwrap_or(0),
                });
            }
            Ok(Command::SetRules(rules)) => store.set_rules(rules),
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // The clock, once a second: due timers fire, due messages go out. Cheap when
        // nothing is due (both read ordered indexes).
        if last_tick.elapsed() < tick {
            continue;
        }
        last_tick = std::time::Instant::now();
        let now = Timestamp::now();
        match store.fire_due_timers(now) {
            Ok(fired) => {
                metrics.timers_fired.fetch_add(fired.appended, Relaxed);
                metrics.rule_errors.fetch_add(fired.rule_errors, Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "firing timers failed"),
        }
        match dispatcher.run(&mut store, now) {
            Ok(report) => metrics.add_dispatch(&report),
            Err(e) => tracing::error!(error = %e, "dispatch failed"),
        }
    }
    if let Err(e) = store.flush() {
        tracing::error!(error = %e, "final flush failed");
    }
    tracing::info!("writer stopped; store flushed");
}
