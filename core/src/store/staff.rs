//! Writing a staff round: its messages and the marks that say they were queued, in one
//! batch, so a notice, an escalation or a digest is queued exactly once ([`crate::staff`]).

use super::{Batch, Store, StoreError, keys};
use crate::staff::StaffRound;

impl Store {
    /// Queues the round's messages (in the outbox and its due index) and, in the same
    /// durable batch, marks its alerts notified or escalated and its digests sent.
    pub fn queue_staff(&mut self, round: &StaffRound) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut batch = Batch::default();
        for m in &round.messages {
            let key = keys::item(keys::OUTBOX, m.id.seq, m.id.n);
            let json = serde_json::to_vec(m).map_err(|e| self.corrupt(&key, e.to_string()))?;
            batch.insert(&key, json);
            if let Some(due) = m.status.due_from() {
                batch.insert(keys::outbox_due(due, m.id.seq, m.id.n), &[][..]);
            }
        }
        let now = round.now;
        let marks = round
            .notified
            .iter()
            .map(|id| (id, true))
            .chain(round.escalated.iter().map(|id| (id, false)));
        for (id, notified) in marks {
            let key = keys::item(keys::ALERT, id.seq, id.n);
            // Erased meanwhile: nothing to mark.
            let Some(bytes) = self.read_through(&batch, &key)? else {
                continue;
            };
            let mut alert = self.alert_at(&key, &bytes)?;
            if notified {
                alert.notified = now;
            } else {
                alert.escalated = now;
            }
            let json = serde_json::to_vec(&alert).map_err(|e| self.corrupt(&key, e.to_string()))?;
            batch.insert(key.to_vec(), json);
        }
        for name in &round.markers {
            batch.insert(keys::meta(&format!("marker:{name}")), &[1u8][..]);
        }
        self.apply(batch)?;
        self.sync()
    }
}
