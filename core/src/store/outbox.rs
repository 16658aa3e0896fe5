//! Reading and updating outbox messages for the dispatcher.

use jiff::Timestamp;

use super::{MessageId, OutboxMessage, Store, StoreError, keys};
use crate::rules::RuleError;

impl Store {
    /// Messages the dispatcher should take at `now`, oldest first.
    pub fn due_messages(&self, now: Timestamp) -> Result<Vec<OutboxMessage>, StoreError> {
        Ok(self
            .outbox()?
            .into_iter()
            .filter(|m| m.status.is_due(now))
            .collect())
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

    /// Persists several messages' statuses in one atomic write, durably: the dispatcher
    /// writes a round's `sending` marks, then its outcomes, each with one flush.
    pub fn update_messages(&mut self, messages: &[OutboxMessage]) -> Result<(), StoreError> {
        self.check_writable()?;
        if messages.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for message in messages {
            let key = keys::item(keys::OUTBOX, message.id.seq, message.id.n);
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
        let mut batch = sled::Batch::default();
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
