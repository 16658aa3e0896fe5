//! One round of dispatch (at most one message per customer), in chunks, with the channels
//! sending one chunk while the guards decide the next.
//!
//! Deciding is the dispatcher's own work (templates and guard scripts); sending is mostly
//! the channel's (a file system, an SMTP server). Done one after the other, each waited for
//! the other: on ext4 the file channel's inode allocation held a 20,000-message dispatch
//! back by a third. Overlapping them is safe because a round has one message per customer:
//! the guards of a chunk read the contact history of its own customers only, which the
//! chunk before does not change. The next round starts once this one is written, so a
//! customer's second message sees the first one's `message_sent` event.
//!
//! Durability is unchanged: a chunk's `sending` marks are on disk before its channel is
//! called, and its outcomes with its `message_sent` events after.

use std::{ops::Range, sync::Arc, thread::ScopedJoinHandle};

use jiff::Timestamp;

use super::{Decision, Dispatcher};
use crate::{
    channel::OutgoingMessage,
    store::{MessageStatus, MessageUpdate, OutboxMessage, Store, StoreError},
};

/// Messages per batched write within a round.
const CHUNK: usize = 500;

/// A message and where the due index has it: the due time of the status stored for it,
/// so that writing it back needs no read ([`Store::update_read_messages`]).
type Indexed = (OutboxMessage, Option<Timestamp>);

/// Messages to hand to a channel, each with what the channel gets.
type ToSend = Vec<(OutboxMessage, OutgoingMessage)>;

/// A decided chunk with its channels at work.
struct InFlight<'scope> {
    /// Final without sending (suppressed, deferred, dead).
    done: Vec<Indexed>,
    /// Being sent (marked `sending` on disk).
    sending: Arc<ToSend>,
    /// The statuses of `sending`: computed here, or by threads, each for a range.
    statuses: Statuses<'scope>,
}

/// What the channels made of a chunk: known already (sent on this thread), or to collect
/// from the sending threads.
enum Statuses<'scope> {
    Ready(Vec<MessageStatus>),
    Threads(Vec<(Range<usize>, ScopedJoinHandle<'scope, Vec<MessageStatus>>)>),
}

impl Dispatcher {
    /// Dispatches one round: chunk N+1 is decided while chunk N is being sent.
    pub(super) fn run_round(
        &self,
        store: &mut Store,
        templates: &minijinja::Environment<'static>,
        round: Vec<OutboxMessage>,
        now: Timestamp,
        report: &mut super::DispatchReport,
    ) -> Result<(), StoreError> {
        std::thread::scope(|scope| {
            let mut flight: Option<InFlight<'_>> = None;
            for chunk in round.chunks(CHUNK) {
                let decided = self.decide_chunk(store, templates, chunk.to_vec(), now, report);
                // The chunk in flight is recorded even if deciding this one failed.
                if let Some(f) = flight.take() {
                    self.record(store, f, now, report)?;
                }
                let (done, to_send) = decided?;
                flight = Some(self.start_sending(scope, done, to_send, now));
            }
            match flight {
                Some(f) => self.record(store, f, now, report),
                None => Ok(()),
            }
        })
    }

    /// Decides each message of a chunk and writes the `sending` marks of those to send.
    fn decide_chunk(
        &self,
        store: &mut Store,
        templates: &minijinja::Environment<'static>,
        messages: Vec<OutboxMessage>,
        now: Timestamp,
        report: &mut super::DispatchReport,
    ) -> Result<(Vec<Indexed>, ToSend), StoreError> {
        let mut done = Vec::with_capacity(messages.len());
        let mut to_send = Vec::new();
        let mut marks = Vec::new();
        for mut message in messages {
            report.considered += 1;
            let indexed_at = message.status.due_from();
            if let MessageStatus::Sending { since } = &message.status {
                // Interrupted mid-send: it may have gone out; it goes out again (same id).
                tracing::warn!(message = %message.id, %since, "resending a message whose earlier send was interrupted");
            }
            match self.decide(store, templates, &message, now)? {
                Decision::Final(status) => {
                    message.status = status;
                    done.push((message, indexed_at));
                }
                Decision::Send(outgoing) => {
                    message.attempts += 1;
                    message.status = MessageStatus::Sending { since: now };
                    marks.push(indexed_at);
                    to_send.push((message, outgoing));
                }
            }
        }
        // On disk before any channel is called.
        let updates: Vec<MessageUpdate<'_>> = to_send
            .iter()
            .zip(marks)
            .map(|((message, _), indexed_at)| MessageUpdate {
                message,
                indexed_at,
            })
            .collect();
        store.update_read_messages(&updates)?;
        Ok((done, to_send))
    }

    /// Hands the messages to their channels, from as many threads as the busiest channel
    /// asks for ([`crate::channel::Channel::concurrency`]: two for files, one per SMTP
    /// connection). Each message is handed over exactly once.
    fn start_sending<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        done: Vec<Indexed>,
        to_send: ToSend,
        now: Timestamp,
    ) -> InFlight<'scope> {
        let sending = Arc::new(to_send);
        let workers = self.concurrency().min(sending.len().div_ceil(8)).max(1);
        let statuses = if workers == 1 {
            // Not worth a thread.
            Statuses::Ready(
                sending
                    .iter()
                    .map(|(m, o)| self.deliver(m, o, now))
                    .collect(),
            )
        } else {
            let per = sending.len().div_ceil(workers);
            let threads = (0..sending.len())
                .step_by(per)
                .map(|start| {
                    let range = start..(start + per).min(sending.len());
                    let part = Arc::clone(&sending);
                    let mine = range.clone();
                    let handle = scope.spawn(move || {
                        part[mine]
                            .iter()
                            .map(|(m, o)| self.deliver(m, o, now))
                            .collect()
                    });
                    (range, handle)
                })
                .collect();
            Statuses::Threads(threads)
        };
        InFlight {
            done,
            sending,
            statuses,
        }
    }

    /// Waits for a chunk's channels, then writes its outcomes and `message_sent` events
    /// (durable together: the update flushes; projections wait for the next checkpoint).
    fn record(
        &self,
        store: &mut Store,
        flight: InFlight<'_>,
        now: Timestamp,
        report: &mut super::DispatchReport,
    ) -> Result<(), StoreError> {
        let InFlight {
            mut done,
            sending,
            statuses,
        } = flight;
        let statuses: Vec<MessageStatus> = match statuses {
            Statuses::Ready(statuses) => statuses,
            Statuses::Threads(threads) => threads
                .into_iter()
                .flat_map(|(range, handle)| {
                    handle.join().unwrap_or_else(|_| {
                        vec![
                            MessageStatus::Failed {
                                retry_at: now,
                                error: "the sending thread panicked".into(),
                            };
                            range.len()
                        ]
                    })
                })
                .collect(),
        };
        // Every thread is joined: the messages are ours again.
        let sending = Arc::try_unwrap(sending).unwrap_or_else(|shared| (*shared).clone());
        let mut sent_events = Vec::new();
        for ((mut message, outgoing), status) in sending.into_iter().zip(statuses) {
            // Indexed as `sending` now.
            let indexed_at = message.status.due_from();
            message.status = status;
            // A recipient the server refused: the address bounced (hard).
            sent_events.extend(super::bounce_event(store, &message, &outgoing.to, now)?);
            // A staff notice is not contact with the customer: no `message_sent`.
            if matches!(message.status, MessageStatus::Sent { .. })
                && message.class != crate::rules::MessageClass::Staff
            {
                sent_events.push(super::sent_event(store, &message, now)?);
            }
            done.push((message, indexed_at));
        }
        for (m, _) in &done {
            report.count(&m.status);
            sent_events.extend(self.held_event(store, m, now)?);
        }
        store.append_owned(&self.rules, sent_events)?;
        let updates: Vec<MessageUpdate<'_>> = done
            .iter()
            .map(|(message, indexed_at)| MessageUpdate {
                message,
                indexed_at: *indexed_at,
            })
            .collect();
        store.update_read_messages(&updates)
    }
}
