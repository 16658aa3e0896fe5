//! Exporting the log as import lines: the history in a form any kizuna (or any other tool)
//! reads back.
//!
//! Invariant: importing an export into an empty home with the same rules reproduces every
//! customer's projection, and sends no message the exporting home had already sent. It
//! holds because
//! - the lines are the stored events, in sequence order, with their ids: the importing
//!   home folds the same events in the same order, and derived ids stay what they were;
//! - erased customers are not in the log any more ([`super::erase`]), so they stay erased;
//! - a `message_sent` event is written under the id that names its message by the
//!   triggering event's id ([`OutboxMessage::sent_event_id`](super::OutboxMessage)), not by
//!   this store's sequence numbers: its rules queue the message again in the importing
//!   home, whose dispatcher finds the delivery on record and marks it sent unsent
//!   ([`Store::recorded_sent`]). Older stores wrote `sent-m-<seq>-<n>`; those ids are
//!   rewritten here from the outbox message their `message` attribute names.

use std::io::Write;

use jiff::Timestamp;
use serde::Serialize;

use super::{MessageId, Store, StoreError};
use crate::{
    event::Event,
    ids::{EventId, EventKind},
};

/// What [`Store::export`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Events written.
    pub events: u64,
    /// Events left out by `since`.
    pub skipped: u64,
    /// `message_sent` events whose id was rewritten to name their message portably.
    pub renamed: u64,
}

impl Store {
    /// Writes every event, one JSON line each in the import format, in the order they
    /// were appended; with `since`, only those that happened at or after it.
    pub fn export(
        &self,
        since: Option<Timestamp>,
        out: &mut dyn Write,
    ) -> Result<ExportReport, StoreError> {
        let mut report = ExportReport::default();
        let io = |source| StoreError::Io {
            path: self.path().to_path_buf(),
            source,
        };
        for event in self.events() {
            let mut event = event?;
            if since.is_some_and(|t| event.at.instant() < t) {
                report.skipped += 1;
                continue;
            }
            if let Some(id) = self.portable_sent_id(&event)?
                && id != event.id
            {
                event.id = id;
                report.renamed += 1;
            }
            serde_json::to_writer(&mut *out, &event)
                .map_err(|e| self.corrupt(event.id.as_str().as_bytes(), e.to_string()))?;
            out.write_all(b"\n").map_err(io)?;
            report.events += 1;
        }
        out.flush().map_err(io)?;
        Ok(report)
    }

    /// For a `message_sent` event whose message is in the outbox, the id that names that
    /// message portably.
    fn portable_sent_id(&self, event: &Event) -> Result<Option<EventId>, StoreError> {
        if event.kind != EventKind::MessageSent {
            return Ok(None);
        }
        let Some(id) = event
            .attr_str("message")
            .and_then(|m| m.parse::<MessageId>().ok())
        else {
            return Ok(None);
        };
        Ok(self
            .message(id)?
            .filter(|m| m.customer == event.customer)
            .map(|m| m.sent_event_id()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MessageStatus, OutboxMessage};
    use super::*;
    use crate::rules::MessageClass;

    fn message(trigger: &str, n: u32) -> OutboxMessage {
        OutboxMessage {
            id: MessageId { seq: 7, n },
            customer: "c-1".parse().unwrap(),
            channel: "email".into(),
            template: "t".into(),
            vars: serde_json::Value::Null,
            class: MessageClass::Marketing,
            campaign: None,
            script: "s".into(),
            event: trigger.parse().unwrap(),
            created: Timestamp::UNIX_EPOCH,
            status: MessageStatus::Pending,
            attempts: 0,
            forced: None,
            to: None,
        }
    }

    #[test]
    fn sent_event_ids_name_the_trigger_not_the_sequence() {
        let a = message("order-1", 2);
        let mut b = a.clone();
        b.id.seq = 99;
        assert_eq!(a.sent_event_id().as_str(), "sent-order-1-2");
        assert_eq!(a.sent_event_id(), b.sent_event_id(), "the same in any home");
        assert_ne!(a.sent_event_id(), message("order-1", 3).sent_event_id());
        // An id near the limit is hashed, stays valid, and stays distinct per effect.
        let long = "x".repeat(crate::ids::MAX_ID_LEN);
        let id = message(&long, 0).sent_event_id();
        assert!(
            id.as_str().starts_with("sent-h") && id.as_str().len() <= 128,
            "{id}"
        );
        assert_eq!(id, message(&long, 0).sent_event_id());
        assert_ne!(id, message(&long, 1).sent_event_id());
        assert!(EventId::new(id.as_str()).is_ok());
    }
}
