//! The daemon's single writer: one thread owns the store, and everything that changes it
//! (ingest, timers, dispatch) goes through here, in order.
//!
//! sled allows one writer per database and kizuna's store folds projections in memory, so
//! the daemon keeps that shape: HTTP handlers send commands over a channel and wait for the
//! answer; the thread also runs the clock — every second it fires due timers and
//! dispatches due messages.

use std::{
    collections::VecDeque,
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
    store::{AppendReport, MessageStatus, Store},
};
use tokio::sync::oneshot;

use super::{degraded::Degraded, metrics::Metrics};

/// What the writer is asked to do.
#[derive(Debug)]
pub enum Command {
    /// Store events (validated already) and make them durable before answering. The span
    /// is the request's, so what the writer logs about them carries the request id.
    Append(
        Vec<Event>,
        tracing::Span,
        oneshot::Sender<Result<AppendReport, AppendError>>,
    ),
    /// One customer's projection.
    Customer(
        CustomerId,
        oneshot::Sender<Result<Option<Customer>, String>>,
    ),
    /// A request to a channel's inbound route (its index among the writer's routes),
    /// handled with the store at hand ([`super::inbound`]).
    Inbound(
        usize,
        kizuna_channel::InboundRequest,
        tracing::Span,
        oneshot::Sender<kizuna_channel::InboundResponse>,
    ),
    /// A customer's opt-out link followed ([`super::unsubscribe`]).
    Unsubscribe(
        String,
        super::unsubscribe::Action,
        oneshot::Sender<Result<super::unsubscribe::Done, super::unsubscribe::Refused>>,
    ),
    /// Figures for `/health`.
    Health(oneshot::Sender<Health>),
    /// A CLI command sent over the admin socket ([`crate::admin`]).
    Admin(
        crate::admin::server::Job,
        oneshot::Sender<crate::admin::server::Answer>,
    ),
    /// Use these rules, and read the message templates again, from the next command on
    /// (a hot reload).
    SetRules(std::sync::Arc<kizuna_core::rules::RuleSet>),
    /// Read the message templates again (a saved template, the scripts unchanged).
    ReloadTemplates,
    /// Flush and stop.
    Shutdown,
}

/// What `/health` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// "ok", or "degraded" while the store cannot write ([`super::degraded`]).
    pub status: &'static str,
    /// Why the daemon is degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The active rules version.
    pub rules: String,
    /// Events stored.
    pub events: u64,
    /// Customers known.
    pub customers: u64,
    /// Messages waiting for the dispatcher.
    pub queue: usize,
    /// Customers with a timer due and not fired yet (the clock is behind when this stays
    /// above zero). Counted from the due index, so cheap during a backlog.
    pub timers_due: usize,
    /// The channels messages go out through: name → where (a directory, `host:port`).
    pub channels: std::collections::BTreeMap<String, String>,
}

/// The most appends one flush covers: bounds how long the first request of a group
/// waits for the others' rules to run.
const MAX_GROUP: usize = 64;

/// The most timers fired, and messages dispatched, in one slice of the clock's work.
/// A backlog (a restart after downtime, a campaign queueing thousands) is worked through
/// in slices between requests instead of holding every request until it is done.
const TICK_SLICE: usize = 200;

/// A request to store events, waiting for its group's flush.
type PendingAppend = (
    Vec<Event>,
    tracing::Span,
    oneshot::Sender<Result<AppendReport, AppendError>>,
);

/// Why a posted batch was not stored.
#[derive(Debug)]
pub enum AppendError {
    /// Some of its events reuse the id of a different stored event (nothing was stored).
    Conflict(Vec<kizuna_core::store::Conflict>),
    /// The store failed.
    Failed(String),
    /// The store cannot write now (a full disk); try again after `retry_after` seconds.
    Unavailable {
        /// Why.
        reason: String,
        /// Seconds.
        retry_after: u64,
    },
}

impl From<kizuna_core::StoreError> for AppendError {
    fn from(e: kizuna_core::StoreError) -> Self {
        match e {
            kizuna_core::StoreError::Conflict(c) => Self::Conflict(c),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// The channels' inbound routes, each with the channel it belongs to.
pub type Routes = Vec<(
    kizuna_channel::Configured,
    Box<dyn kizuna_channel::InboundRoute>,
)>;

/// What the writer thread owns.
struct Writer {
    store: Store,
    dispatcher: Dispatcher,
    metrics: Arc<Metrics>,
    books: super::inbound::AddressBooks,
    /// The channels' inbound routes, each with its channel.
    routes: Routes,
    last_checkpoint: std::time::Instant,
    daemon: Arc<super::DaemonInfo>,
    /// Set while the store cannot write ([`super::degraded`]).
    degraded: Option<Degraded>,
    /// Who on the staff hears of alerts, and when the last staff round looked.
    staff: StaffClock,
}

/// When the writer runs a staff round ([`kizuna_core::staff::round`]): on the tick after
/// events were stored (they may have raised alerts), and every [`STAFF_EVERY`] for
/// escalations and digests, which fall due with time alone.
struct StaffClock {
    policy: kizuna_core::staff::StaffPolicy,
    /// The event count the last round saw.
    events: u64,
    last: std::time::Instant,
}

/// The longest a staff round waits when no event arrives.
const STAFF_EVERY: Duration = Duration::from_secs(30);

/// How often the projections and timers are written while the daemon runs (on the store's
/// background thread). A restart after a crash re-folds at most about this much traffic.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Runs the writer until [`Command::Shutdown`] or until every sender is gone.
pub fn run(
    mut store: Store,
    dispatcher: Dispatcher,
    routes: Routes,
    commands: Receiver<Command>,
    metrics: Arc<Metrics>,
    daemon: Arc<super::DaemonInfo>,
) {
    store.observe_latency(Arc::clone(&metrics.rule_latency));
    // Only each message's status, one message at a time: a store with a million messages
    // in its outbox would otherwise be held in memory whole at every start.
    #[derive(serde::Deserialize)]
    struct Status {
        status: MessageStatus,
    }
    let dead = store.outbox_as::<Status>().try_fold(0u64, |dead, m| {
        m.map(|m| dead + u64::from(matches!(m.status, MessageStatus::Dead { .. })))
    });
    match dead {
        Ok(dead) => metrics.dead_letters.store(dead, Relaxed),
        Err(e) => tracing::error!(error = %e, "cannot count dead letters"),
    }
    // Which alerts are open, read once now rather than on the first console poll.
    let started = std::time::Instant::now();
    match store.open_alert_count() {
        Ok(open) => tracing::info!(
            open,
            ms = started.elapsed().as_millis() as u64,
            "open alerts indexed"
        ),
        Err(e) => tracing::error!(error = %e, "cannot index the open alerts"),
    }
    let mut writer = Writer {
        store,
        dispatcher,
        metrics,
        books: super::inbound::AddressBooks::default(),
        routes,
        last_checkpoint: std::time::Instant::now(),
        staff: StaffClock {
            policy: daemon.config.staff_policy().unwrap_or_else(|e| {
                tracing::error!(error = %e, "no staff notifications");
                kizuna_core::staff::StaffPolicy::none()
            }),
            events: u64::MAX,
            last: std::time::Instant::now(),
        },
        daemon,
        degraded: None,
    };
    let tick = Duration::from_secs(1);
    let mut last_tick = std::time::Instant::now();
    // Commands taken from the channel and not handled yet: the one that ended a group
    // commit, and those an admin command's pauses passed over (they keep their order).
    let mut deferred: VecDeque<Command> = VecDeque::new();
    let mut behind = false;
    loop {
        let wait = if behind {
            Duration::ZERO
        } else {
            tick.saturating_sub(last_tick.elapsed())
        };
        let command = match deferred.pop_front() {
            Some(c) => Ok(c),
            None => commands.recv_timeout(wait),
        };
        match command {
            Ok(Command::Append(events, span, reply)) => {
                // Group commit: every append already waiting joins this one, and one
                // flush makes them all durable. Each batch is still stored (or refused)
                // on its own; every reply waits for the flush.
                // Only the appends next in line join: deferred commands come first, and
                // the channel holds only what arrived after them.
                let mut group = vec![(events, span, reply)];
                while group.len() < MAX_GROUP {
                    let next = match deferred.pop_front() {
                        Some(c) => Ok(c),
                        None => commands.try_recv(),
                    };
                    match next {
                        Ok(Command::Append(e, s, r)) => group.push((e, s, r)),
                        Ok(other) => {
                            deferred.push_front(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                writer.append(group);
            }
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(other) => writer.handle(other, &commands, &mut deferred),
            Err(RecvTimeoutError::Timeout) => {}
        }
        // The clock, once a second (or between requests while it has a backlog): due
        // timers fire, due messages go out (not with a manual clock), the checkpoint is
        // written when due. Cheap when nothing is due (both read ordered indexes). The
        // tick is taken with a manual clock too, or the wait above would be zero from
        // the first second on: a writer spinning on an idle channel.
        if behind || last_tick.elapsed() >= tick {
            last_tick = std::time::Instant::now();
            behind = writer.tick(Timestamp::now());
        }
    }
    if writer.degraded.is_some() {
        tracing::warn!(
            "writer stopped without a final flush: the store cannot write; what was acknowledged was flushed before its answer"
        );
    } else if let Err(e) = writer.store.flush() {
        tracing::error!(error = %e, "writer stopped; the final flush failed: what was acknowledged was flushed before its answer, later projections will be re-folded at start");
    } else {
        tracing::info!("writer stopped; store flushed");
    }
}

impl Writer {
    /// Stores each batch of the group, flushes once, then answers every request.
    fn append(&mut self, group: Vec<PendingAppend>) {
        if let Some(degraded) = &self.degraded {
            for (_, _, reply) in group {
                let _ = reply.send(Err(AppendError::Unavailable {
                    reason: degraded.reason.clone(),
                    retry_after: degraded.retry_after(),
                }));
            }
            return;
        }
        let rules = Arc::clone(self.dispatcher.rules());
        let (answers, failure) = append_group(&mut self.store, &rules, &mut self.books, group);
        if let Some(failure) = failure {
            self.degrade(failure);
        }
        // A refused batch names the cause the writer found (a full disk), not the
        // second-hand error of the write that met it.
        let reason = self.degraded.as_ref().map(|d| d.reason.clone());
        for (result, reply) in answers {
            let result = match (result, &reason) {
                (Err(AppendError::Unavailable { retry_after, .. }), Some(reason)) => {
                    Err(AppendError::Unavailable {
                        reason: reason.clone(),
                        retry_after,
                    })
                }
                (result, _) => result,
            };
            let _ = reply.send(result);
        }
    }

    /// The store cannot write: refuse ingest and pause the clock until it can again.
    fn degrade(&mut self, reason: String) {
        // A failure seen second-hand ("an earlier write failed") names no cause: ask the
        // disk for it.
        let db = self.store.path().to_path_buf();
        let reason = match super::degraded::disk_takes_writes(&db) {
            Err(e) if kizuna_core::store::is_disk_full(&e) => format!(
                "database {}: the disk is full ({})",
                db.display(),
                kizuna_core::store::disk_of(&db)
            ),
            _ => reason,
        };
        tracing::error!(
            reason,
            "the store cannot write: ingest is refused (503) until it can again; reads go on"
        );
        self.set_degraded(Some(Degraded::new(reason)));
    }

    fn set_degraded(&mut self, degraded: Option<Degraded>) {
        if let Ok(mut shown) = self.daemon.degraded.lock() {
            *shown = degraded.as_ref().map(|d| d.reason.clone());
        }
        self.degraded = degraded;
    }

    /// A degraded writer's retry: when the disk takes writes again, drop the failed store
    /// and open it anew ([`super::degraded`]). A store that will not open again ends the
    /// daemon (a supervisor restarts it) rather than serve an empty one.
    fn try_to_recover(&mut self) {
        let Some(degraded) = self.degraded.as_mut() else {
            return;
        };
        if !degraded.due() {
            return;
        }
        let db = self.store.path().to_path_buf();
        if let Err(e) = super::degraded::disk_takes_writes(&db) {
            degraded.failed_again(format!(
                "{}; still cannot write there: {e}",
                degraded.reason.split("; still").next().unwrap_or_default()
            ));
            return;
        }
        let Ok(scratch) = Store::open_temporary() else {
            return;
        };
        // The failed store goes first: it holds the database's lock.
        drop(std::mem::replace(&mut self.store, scratch));
        match self.daemon.home.open_store() {
            Ok((_, mut store)) => {
                store.observe_latency(Arc::clone(&self.metrics.rule_latency));
                store.set_background_checkpoints(true);
                self.store = store;
                self.set_degraded(None);
                tracing::info!("the store takes writes again; ingest resumed");
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the store does not open again; stopping");
                std::process::exit(1);
            }
        }
    }

    /// Everything but appends and shutdown. An admin command may pause between its
    /// chunks to store the appends waiting meanwhile (`commands`); anything else it finds
    /// goes to `deferred`, in order.
    fn handle(
        &mut self,
        command: Command,
        commands: &Receiver<Command>,
        deferred: &mut VecDeque<Command>,
    ) {
        let store = &mut self.store;
        match command {
            Command::Inbound(index, request, span, reply) => {
                let _in_request = span.enter();
                let Some((channel, route)) = self.routes.get(index) else {
                    let _ =
                        reply.send(kizuna_channel::InboundResponse::error(404, "no such route"));
                    return;
                };
                let rules = Arc::clone(self.dispatcher.rules());
                let mut inbox = super::inbound::StoreInbox {
                    store,
                    rules: &rules,
                    books: &mut self.books,
                    channel,
                };
                let response = route.handle(&request, &mut inbox);
                tracing::info!(
                    channel = %channel.shape.name,
                    route = route.path(),
                    status = response.status,
                    "inbound"
                );
                let _ = reply.send(response);
            }
            Command::Customer(id, reply) => {
                let _ = reply.send(store.customer(&id).map_err(|e| e.to_string()));
            }
            Command::Unsubscribe(token, action, reply) => {
                let answer = match (&self.degraded, &self.daemon.unsubscribe) {
                    (Some(d), _) => Err(super::unsubscribe::Refused::Unavailable(d.reason.clone())),
                    (None, None) => Err(super::unsubscribe::Refused::Invalid),
                    (None, Some(links)) => {
                        let channels: Vec<String> =
                            self.dispatcher.channels().into_keys().collect();
                        let rules = Arc::clone(self.dispatcher.rules());
                        super::unsubscribe::act(
                            &mut self.store,
                            &rules,
                            links,
                            &channels,
                            &token,
                            action,
                            Timestamp::now(),
                        )
                    }
                };
                let _ = reply.send(answer);
            }
            Command::Health(reply) => {
                let _ = reply.send(Health {
                    status: if self.degraded.is_some() {
                        "degraded"
                    } else {
                        "ok"
                    },
                    reason: self.degraded.as_ref().map(|d| d.reason.clone()),
                    rules: self.dispatcher.rules().version().to_owned(),
                    events: store.event_count().unwrap_or(0),
                    customers: store.customer_count().unwrap_or(0),
                    queue: store.due_count(Timestamp::now()).unwrap_or(0),
                    timers_due: store
                        .customers_with_timers_due(Timestamp::now())
                        .unwrap_or(0),
                    channels: self.dispatcher.channels(),
                });
            }
            Command::Admin(job, reply) => {
                let info = Arc::clone(&self.daemon);
                // A long read gets a reading handle and a thread of its own: ingest goes on.
                if crate::commands::reads_log_only(&job.command) {
                    match store.reader() {
                        Ok(reader) => {
                            let rules = Arc::clone(self.dispatcher.rules());
                            return read_apart(reader, rules, job, info, reply);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "no reading handle; running on the writer")
                        }
                    }
                }
                let crate::admin::server::Job {
                    command,
                    rules,
                    inputs,
                    cwd,
                } = job;
                let books = &mut self.books;
                let rules_in_force = Arc::clone(self.dispatcher.rules());
                let in_force = Arc::clone(&rules_in_force);
                let mut breathe = |store: &mut Store| {
                    let mut group = Vec::new();
                    while group.len() < MAX_GROUP {
                        match commands.try_recv() {
                            Ok(Command::Append(e, s, r)) => group.push((e, s, r)),
                            Ok(other) => deferred.push_back(other),
                            Err(_) => break,
                        }
                    }
                    if !group.is_empty() {
                        // A failure here fails the admin command too; the next append
                        // or tick finds the store unwritable and degrades.
                        let (answers, _) = append_group(store, &in_force, books, group);
                        for (result, reply) in answers {
                            let _ = reply.send(result);
                        }
                    }
                };
                let lent = crate::context::Lent {
                    store,
                    rules: rules_in_force,
                    dispatcher: Some(&mut self.dispatcher),
                    daemon: &info,
                    inputs: &inputs,
                    cwd: &cwd,
                    breathe: Some(&mut breathe),
                };
                let answer =
                    crate::admin::server::execute(&info.home, &command, rules.as_deref(), lent);
                let _ = reply.send(answer);
            }
            Command::SetRules(rules) => {
                self.dispatcher.set_rules(rules);
                self.dispatcher.reload_templates();
            }
            Command::ReloadTemplates => self.dispatcher.reload_templates(),
            // Handled by the loop.
            Command::Append(..) | Command::Shutdown => {}
        }
    }

    /// Fires due timers and dispatches due messages, a slice of each (not with a manual
    /// clock: `kizuna tick` and `kizuna dispatch` do that then), and writes the
    /// projections changed since the last tick (a checkpoint: what a restart after a
    /// crash must re-fold). Returns whether a slice was full (more may be due).
    fn tick(&mut self, now: Timestamp) -> bool {
        if self.degraded.is_some() {
            // Timers, dispatch and checkpoints all write: paused until the store can.
            self.try_to_recover();
            return false;
        }
        let mut full = false;
        if !self.daemon.manual_clock {
            full = self.fire_and_dispatch(now);
        }
        // Checkpoint every few seconds: bounds what a restart re-folds, without paying for
        // it between every slice of a backlog. Written in the background: requests do
        // not wait for it.
        if self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            self.last_checkpoint = std::time::Instant::now();
            if let Err(e) = self.store.checkpoint_in_background() {
                tracing::error!(error = %e, "checkpoint failed");
                if super::degraded::cannot_write(&e) {
                    self.degrade(e.to_string());
                }
            }
        }
        full
    }

    /// One slice of due timers and due messages; whether a slice was full (more may be
    /// due).
    fn fire_and_dispatch(&mut self, now: Timestamp) -> bool {
        let mut full = false;
        let rules = Arc::clone(self.dispatcher.rules());
        match self.store.fire_due_timers_at_most(&rules, now, TICK_SLICE) {
            Ok(fired) => {
                full |= fired.appended as usize >= TICK_SLICE;
                self.metrics.timers_fired.fetch_add(fired.appended, Relaxed);
                self.metrics
                    .rule_errors
                    .fetch_add(fired.rule_errors, Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "firing timers failed");
                if super::degraded::cannot_write(&e) {
                    self.degrade(e.to_string());
                    return false;
                }
            }
        }
        self.staff_round(now);
        match self
            .dispatcher
            .run_at_most(&mut self.store, now, TICK_SLICE)
        {
            Ok(report) => {
                full |= report.considered as usize >= TICK_SLICE;
                self.metrics.add_dispatch(&report);
            }
            Err(e) => {
                tracing::error!(error = %e, "dispatch failed");
                if super::degraded::cannot_write(&e) {
                    self.degrade(e.to_string());
                }
            }
        }
        full
    }
}

impl Writer {
    /// Queues the staff notices owed at `now`, when events arrived since the last round
    /// or [`STAFF_EVERY`] has passed.
    fn staff_round(&mut self, now: Timestamp) {
        if self.staff.policy.recipients.is_empty() {
            return;
        }
        let events = match self.store.event_count() {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "cannot count events");
                return;
            }
        };
        if events == self.staff.events && self.staff.last.elapsed() < STAFF_EVERY {
            return;
        }
        match kizuna_core::staff::round(&mut self.store, &self.staff.policy, now) {
            Ok(report) => {
                self.staff.events = events;
                self.staff.last = std::time::Instant::now();
                self.metrics
                    .staff_queued
                    .fetch_add(report.queued(), Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "staff round failed");
                if super::degraded::cannot_write(&e) {
                    self.degrade(e.to_string());
                }
            }
        }
    }
}

/// Runs a command that only reads the log and the outbox on a thread of its own, with a
/// reading handle on the store ([`Store::reader`]), so that the writer goes on meanwhile.
fn read_apart(
    mut reader: Store,
    rules: Arc<kizuna_core::rules::RuleSet>,
    job: crate::admin::server::Job,
    info: Arc<super::DaemonInfo>,
    reply: oneshot::Sender<crate::admin::server::Answer>,
) {
    let spawned = std::thread::Builder::new()
        .name("kizuna-reader".into())
        .spawn(move || {
            // Behind the writer for the cores: on Linux a thread's nice value is its own.
            // Best effort; the read is correct either way.
            #[cfg(target_os = "linux")]
            let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
            let lent = crate::context::Lent {
                store: &mut reader,
                rules,
                dispatcher: None,
                daemon: &info,
                inputs: &job.inputs,
                cwd: &job.cwd,
                breathe: None,
            };
            let answer =
                crate::admin::server::execute(&info.home, &job.command, job.rules.as_deref(), lent);
            let _ = reply.send(answer);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "no thread for a reading command");
    }
}

/// An answer to send, and where to send it.
type Answer = (
    Result<AppendReport, AppendError>,
    oneshot::Sender<Result<AppendReport, AppendError>>,
);

/// Stores each batch of the group and flushes once. Returns the answers (sent by the
/// caller) and why the store cannot write any more, if a write failed that way.
#[must_use = "each request waits for its answer: send them"]
fn append_group(
    store: &mut Store,
    rules: &kizuna_core::rules::RuleSet,
    books: &mut super::inbound::AddressBooks,
    group: Vec<PendingAppend>,
) -> (Vec<Answer>, Option<String>) {
    let mut failure = None;
    let mut done = Vec::with_capacity(group.len());
    for (events, span, reply) in group {
        let _in_request = span.enter();
        let profiles = books.profiles(&events);
        let result = store.append_owned(rules, events).map_err(|e| {
            if super::degraded::cannot_write(&e) {
                failure = Some(e.to_string());
                return AppendError::Unavailable {
                    reason: e.to_string(),
                    retry_after: 1,
                };
            }
            AppendError::from(e)
        });
        match &result {
            Err(AppendError::Conflict(c)) => {
                tracing::warn!(
                    conflicts = c.len(),
                    "events refused: ids stored with other content"
                )
            }
            Err(AppendError::Failed(e) | AppendError::Unavailable { reason: e, .. }) => {
                tracing::error!(error = %e, "append failed")
            }
            Ok(r) if r.rule_errors > 0 => tracing::warn!(
                rule_errors = r.rule_errors,
                "rules failed on ingested events (the events are stored); see `kizuna rules errors`"
            ),
            Ok(_) => books.stored(store, &profiles),
        }
        drop(_in_request);
        done.push((result, span, reply));
    }
    let flushed = store.sync_events().map_err(|e| {
        if super::degraded::cannot_write(&e) {
            failure = Some(e.to_string());
        }
        e.to_string()
    });
    let mut answers = Vec::with_capacity(done.len());
    for (result, span, reply) in done {
        let result = match (&flushed, result) {
            (Err(e), _) => {
                let _in_request = span.enter();
                tracing::error!(error = %e, "flush failed; the events are not acknowledged");
                Err(AppendError::Unavailable {
                    reason: e.clone(),
                    retry_after: 1,
                })
            }
            (Ok(()), result) => result,
        };
        answers.push((result, reply));
    }
    (answers, failure)
}
