//! What the daemon counts, and `/metrics` in Prometheus' text format.
//!
//! Counters are kept where things happen: the HTTP handlers count requests, the writer
//! thread counts dispatch outcomes and timers, the store times every event it folds into
//! a shared [`Histogram`]. The gauges (store size, queue depth, timers due) are read from
//! the store on each scrape through the writer, from indexes, so a scrape stays cheap on a
//! large store.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use kizuna_core::{dispatch::DispatchReport, metrics::Histogram};

use super::{reload::ReloadStatus, writer::Health};

/// Counters shared by the handlers and the writer thread.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events newly stored.
    pub events_ingested: AtomicU64,
    /// Events that were already stored (retries).
    pub events_duplicate: AtomicU64,
    /// Batches refused as invalid.
    pub batches_rejected: AtomicU64,
    /// Events refused because their id is stored with other content.
    pub events_conflict: AtomicU64,
    /// Events skipped because their customer was erased.
    pub events_erased: AtomicU64,
    /// Rule errors raised by ingested events and fired timers.
    pub rule_errors: AtomicU64,
    /// Requests refused for a missing or wrong token.
    pub unauthorized: AtomicU64,
    /// Requests to the channels' inbound routes answered 200 (delivery reports, customers
    /// writing in; a retried callback counts again).
    pub inbound: AtomicU64,
    /// Timers fired by the daemon's clock.
    pub timers_fired: AtomicU64,
    /// Staff notices, escalations and digests queued by the daemon's clock.
    pub staff_queued: AtomicU64,
    /// Time to fold one event and run its rules.
    pub rule_latency: Arc<Histogram>,
    /// Dispatch outcomes since start, per status (`sent`, `deferred`, `suppressed`, …).
    messages: Mutex<BTreeMap<String, u64>>,
    /// Suppressed and deferred messages since start, per `(guard, status)`.
    guarded: Mutex<BTreeMap<(String, String), u64>>,
    /// Dead messages in the outbox: counted once at start, then kept up to date.
    pub dead_letters: AtomicU64,
}

impl Metrics {
    /// Adds one dispatch run's outcomes.
    pub fn add_dispatch(&self, report: &DispatchReport) {
        let mut messages = lock(&self.messages);
        for (status, n) in &report.outcomes {
            *messages.entry(status.clone()).or_default() += n;
        }
        self.dead_letters
            .fetch_add(report.outcomes.get("dead").copied().unwrap_or(0), Relaxed);
        let mut guarded = lock(&self.guarded);
        for (key, n) in &report.by_guard {
            // Keys read "<status> <guard>" (see DispatchReport::by_guard).
            let (status, guard) = key.split_once(' ').unwrap_or(("", key));
            *guarded
                .entry((guard.to_owned(), status.to_owned()))
                .or_default() += n;
        }
    }

    /// The whole exposition: counters, the latency histogram, and the gauges in `health`.
    pub fn render(&self, health: &Health, reload: &ReloadStatus) -> String {
        let mut out = String::new();
        let counters = [
            (
                "kizuna_events_ingested_total",
                "Events stored through the API.",
                self.events_ingested.load(Relaxed),
            ),
            (
                "kizuna_events_duplicate_total",
                "Events posted again (already stored).",
                self.events_duplicate.load(Relaxed),
            ),
            (
                "kizuna_batches_rejected_total",
                "Batches refused as invalid.",
                self.batches_rejected.load(Relaxed),
            ),
            (
                "kizuna_events_conflict_total",
                "Events refused because their id names a different stored event.",
                self.events_conflict.load(Relaxed),
            ),
            (
                "kizuna_events_erased_total",
                "Events skipped because their customer was erased.",
                self.events_erased.load(Relaxed),
            ),
            (
                "kizuna_rule_errors_total",
                "Rule errors raised by ingested events and fired timers.",
                self.rule_errors.load(Relaxed),
            ),
            (
                "kizuna_unauthorized_total",
                "Requests without a valid token.",
                self.unauthorized.load(Relaxed),
            ),
            (
                "kizuna_inbound_total",
                "Channel callbacks answered 200 (delivery reports, customers writing in).",
                self.inbound.load(Relaxed),
            ),
            (
                "kizuna_timers_fired_total",
                "Timers fired by the daemon's clock.",
                self.timers_fired.load(Relaxed),
            ),
            (
                "kizuna_staff_notifications_total",
                "Staff notices, escalations and digests queued by the daemon's clock.",
                self.staff_queued.load(Relaxed),
            ),
            (
                "kizuna_rules_reloads_total",
                "Successful rule reloads.",
                reload.reloads,
            ),
            (
                "kizuna_rules_reload_failures_total",
                "Refused rule reloads.",
                reload.failures,
            ),
        ];
        for (name, help, value) in counters {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        let gauges = [
            ("kizuna_store_events", "Events in the store.", health.events),
            (
                "kizuna_store_customers",
                "Customers in the store.",
                health.customers,
            ),
            (
                "kizuna_outbox_due",
                "Messages due for dispatch (queue depth).",
                health.queue as u64,
            ),
            (
                "kizuna_outbox_dead",
                "Dead letters in the outbox (see `kizuna outbox list --status dead`).",
                self.dead_letters.load(Relaxed),
            ),
            (
                "kizuna_timers_due",
                "Customers with a timer due and not fired yet.",
                health.timers_due as u64,
            ),
            (
                "kizuna_store_degraded",
                "1 while the store cannot write (a full disk) and ingest is refused.",
                u64::from(health.reason.is_some()),
            ),
        ];
        for (name, help, value) in gauges {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        if let Some(bytes) = resident_bytes() {
            let name = "process_resident_memory_bytes";
            header(&mut out, name, "gauge", "Resident memory size in bytes.");
            let _ = writeln!(out, "{name} {bytes}");
        }
        self.render_messages(&mut out);
        render_histogram(
            &mut out,
            "kizuna_rule_eval_seconds",
            "Time to fold one event into its customer and run the rules on it.",
            &self.rule_latency,
        );
        out
    }

    fn render_messages(&self, out: &mut String) {
        let name = "kizuna_messages_total";
        header(out, name, "counter", "Dispatch outcomes per status.");
        for (status, n) in lock(&self.messages).iter() {
            let _ = writeln!(out, "{name}{{status=\"{}\"}} {n}", escape(status));
        }
        let name = "kizuna_messages_guarded_total";
        header(
            out,
            name,
            "counter",
            "Messages suppressed or deferred, per guard and status.",
        );
        for ((guard, status), n) in lock(&self.guarded).iter() {
            let _ = writeln!(
                out,
                "{name}{{guard=\"{}\",status=\"{}\"}} {n}",
                escape(guard),
                escape(status)
            );
        }
    }
}

/// The process's resident set, from `/proc/self/statm` (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // Assumes 4 KiB pages (x86-64; arm64 kernels built for 16 or 64 KiB pages would be
    // under-reported). Asking the kernel would take libc and an unsafe call.
    Some(pages * 4096)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn render_histogram(out: &mut String, name: &str, help: &str, histogram: &Histogram) {
    header(out, name, "histogram", help);
    let s = histogram.snapshot();
    for (bound, n) in &s.buckets {
        let le = if bound.is_infinite() {
            "+Inf".to_owned()
        } else {
            bound.to_string()
        };
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", s.sum, s.count);
}

/// Label values are script and guard names; escape what the format reserves anyway.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_outcomes_become_labelled_series() {
        let m = Metrics::default();
        let mut report = DispatchReport::default();
        report.outcomes.insert("sent".into(), 3);
        report.outcomes.insert("dead".into(), 1);
        report.by_guard.insert("suppressed consent".into(), 2);
        report.by_guard.insert("deferred quiet_hours".into(), 1);
        m.add_dispatch(&report);
        m.add_dispatch(&report);
        m.rule_latency
            .observe(std::time::Duration::from_micros(300));
        let health = Health {
            status: "ok",
            rules: "v".into(),
            events: 10,
            customers: 2,
            queue: 1,
            timers_due: 0,
            channels: std::collections::BTreeMap::new(),
            reason: None,
        };
        let text = m.render(&health, &ReloadStatus::default());
        for line in [
            "kizuna_messages_total{status=\"sent\"} 6",
            "kizuna_messages_guarded_total{guard=\"consent\",status=\"suppressed\"} 4",
            "kizuna_messages_guarded_total{guard=\"quiet_hours\",status=\"deferred\"} 2",
            "kizuna_outbox_dead 2",
            "kizuna_rule_eval_seconds_bucket{le=\"0.0005\"} 1",
            "kizuna_rule_eval_seconds_bucket{le=\"0.00025\"} 0",
            "kizuna_rule_eval_seconds_bucket{le=\"+Inf\"} 1",
            "kizuna_rule_eval_seconds_count 1",
            "# TYPE kizuna_rule_eval_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
