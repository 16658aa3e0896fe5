//! Reading and updating outbox messages for the dispatcher.

use super::batch::Batch;
use jiff::Timestamp;

use super::{MessageId, OutboxMessage, Store, StoreError, keys};
use crate::rules::RuleError;

impl Store {
    /// Messages the dispatcher should take at `now`, oldest first.
    ///
    /// Read through the due index (`q` keys, ordered by due time), so a dispatcher that
    /// runs every second over a large, mostly finished outbox reads only what is due.
    pub fn due_messages(&self, now: Timestamp) -> Result<Vec<OutboxMessage>, StoreError> {
        self.due_messages_at_most(now, usize::MAX)
    }

    /// [`Store::due_messages`], the `max` that fell due first.
    pub fn due_messages_at_most(
        &self,
        now: Timestamp,
        max: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut ids = self.due_ids(now)?;
        ids.truncate(max);
        ids.sort();
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = self.message(id)?
                && m.status.is_due(now)
            {
                due.push(m);
            }
        }
        Ok(due)
    }

    /// The `message_sent` event already recorded for `message`, if any: the one its
    /// dispatch appended, or one imported from an exported history
    /// ([`OutboxMessage::sent_event_id`]). The dispatcher asks before every send, so a
    /// message whose delivery is on record is never handed to a channel again.
    pub fn recorded_sent(
        &mut self,
        message: &OutboxMessage,
    ) -> Result<Option<crate::event::Event>, StoreError> {
        self.load_ids()?;
        self.event(&message.sent_event_id())
    }

    /// How many messages are due at `now`, from the index alone (no message is read):
    /// the queue depth a health check or metrics endpoint reports on every call.
    pub fn due_count(&self, now: Timestamp) -> Result<usize, StoreError> {
        Ok(self.due_ids(now)?.len())
    }

    /// Ids in the due index up to `now`, in due-time order.
    fn due_ids(&self, now: Timestamp) -> Result<Vec<MessageId>, StoreError> {
        let end = keys::outbox_due_bound(
            now.checked_add(jiff::SignedDuration::from_nanos(1))
                .unwrap_or(now),
        );
        let mut ids = Vec::new();
        for item in self.tree.range(keys::outbox_due_bound(Timestamp::MIN)..end) {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            let (seq, n) = keys::parse_outbox_due(&k)
                .ok_or_else(|| self.corrupt(&k, "bad outbox due-index key"))?;
            ids.push(MessageId { seq, n });
        }
        Ok(ids)
    }

    /// Builds the outbox due index of a store written before it existed (once).
    pub(super) fn index_outbox(&mut self) -> Result<(), StoreError> {
        const DONE: &str = "outbox_due_index";
        if self
            .tree
            .contains_key(keys::meta(DONE))
            .map_err(|e| self.sled_err(e))?
        {
            return Ok(());
        }
        let mut batch = Batch::default();
        for m in self.outbox()? {
            if let Some(at) = m.status.due_from() {
                batch.insert(keys::outbox_due(at, m.id.seq, m.id.n), &[][..]);
            }
        }
        batch.insert(keys::meta(DONE), &[1u8][..]);
        self.apply(batch)?;
        self.sync()
    }

    /// One message by id.
    pub fn message(&self, id: MessageId) -> Result<Option<OutboxMessage>, StoreError> {
        let key = keys::item(keys::OUTBOX, id.seq, id.n);
        match self.tree.get(key).map_err(|e| self.sled_err(e))? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| self.corrupt(&key, e.to_string())),
            None => Ok(None),
        }
    }

    /// Persists a message's new status (and attempts), durably.
    pub fn update_message(&mut self, message: &OutboxMessage) -> Result<(), StoreError> {
        self.update_messages(std::slice::from_ref(message))
    }

    /// Persists several messages' statuses in one atomic write, durably. Each message's
    /// stored copy is read first, to find its due-index entry; a caller that read the
    /// messages itself says where they are indexed instead
    /// ([`Store::update_read_messages`]).
    pub fn update_messages(&mut self, messages: &[OutboxMessage]) -> Result<(), StoreError> {
        let mut updates = Vec::with_capacity(messages.len());
        for message in messages {
            let stored = self.message(message.id)?;
            updates.push(MessageUpdate {
                message,
                indexed_at: stored.and_then(|m| m.status.due_from()),
            });
        }
        self.update_read_messages(&updates)
    }

    /// [`Store::update_messages`] for messages whose index position the caller knows: the
    /// dispatcher, which writes each message twice per send (the `sending` mark, then the
    /// outcome, each batch with one flush) and spent a third of that reading them back.
    pub fn update_read_messages(
        &mut self,
        updates: &[MessageUpdate<'_>],
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        if updates.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        for &MessageUpdate {
            message,
            indexed_at,
        } in updates
        {
            let (seq, n) = (message.id.seq, message.id.n);
            let key = keys::item(keys::OUTBOX, seq, n);
            // Move its due-index entry from the stored status's time to the new one's
            // (pending -> sending keeps it: both are due at once).
            let new = message.status.due_from();
            if indexed_at != new {
                if let Some(at) = indexed_at {
                    batch.remove(keys::outbox_due(at, seq, n));
                }
                if let Some(at) = new {
                    batch.insert(keys::outbox_due(at, seq, n), &[][..]);
                }
            }
            let json =
                serde_json::to_vec(message).map_err(|e| self.corrupt(&key, e.to_string()))?;
            batch.insert(&key, json);
        }
        self.apply(batch)?;
        self.sync()
    }

    /// Records rule errors raised while guarding message `id` (shown by `rules errors`).
    pub fn record_rule_errors(
        &mut self,
        id: MessageId,
        errors: &[RuleError],
    ) -> Result<(), StoreError> {
        if errors.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        for (i, err) in errors.iter().enumerate() {
            // After the triggering event's own errors: guard errors count from 1,000 per message.
            let key = keys::item(keys::RULE_ERROR, id.seq, 1_000 + id.n * 100 + i as u32);
            let json = serde_json::to_vec(err).map_err(|e| self.corrupt(&key, e.to_string()))?;
            batch.insert(&key, json);
        }
        self.apply(batch)?;
        self.sync()
    }
}

impl Store {
    /// Raises a staff alert that `message` could not be sent because of its template, so
    /// a broken template is noticed the first time it costs a message. Written beside the
    /// alerts of the triggering event, after them (from 1,000), one per message.
    pub fn alert_broken_template(
        &mut self,
        message: &OutboxMessage,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let id = super::AlertId {
            seq: message.id.seq,
            n: 1_000 + message.id.n,
        };
        let alert = super::Alert {
            id,
            acked: None,
            resolved: None,
            notified: None,
            escalated: None,
            customer: message.customer.clone(),
            text: format!(
                "message {} was not sent: template {:?} failed ({reason}); fix the template \
                 and send again",
                message.id, message.template
            ),
            script: "dispatch".into(),
            event: message.event.clone(),
            at,
            priority: 10,
        };
        let key = keys::item(keys::ALERT, id.seq, id.n);
        let json = serde_json::to_vec(&alert).map_err(|e| self.corrupt(&key, e.to_string()))?;
        let mut batch = Batch::default();
        batch.insert(&key, json);
        self.apply(batch)?;
        self.sync()
    }
}

/// A message with a new status, and where the due index has it: the due time
/// ([`super::MessageStatus::due_from`]) of the status it has in the store.
#[derive(Debug, Clone, Copy)]
pub struct MessageUpdate<'a> {
    /// The message as it is to be stored.
    pub message: &'a OutboxMessage,
    /// The stored status's due time (`None`: not in the index).
    pub indexed_at: Option<Timestamp>,
}
