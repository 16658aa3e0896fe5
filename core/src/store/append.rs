//! Appending events: dedup by id, write blocks, fold projections.

use serde::Serialize;

use super::{
    Store, StoreError,
    block::{self, BLOCK_EVENTS},
    ids::{self, id_hash},
    keys,
};
use crate::event::Event;

/// What one [`Store::append`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppendReport {
    /// Events newly stored.
    pub appended: u64,
    /// Events ignored because an event with the same id was already stored (or came earlier
    /// in the same batch).
    pub duplicates: u64,
    /// Customers seen for the first time.
    pub new_customers: u64,
}

impl AppendReport {
    /// Adds another report's counts to this one.
    pub fn add(&mut self, other: AppendReport) {
        self.appended += other.appended;
        self.duplicates += other.duplicates;
        self.new_customers += other.new_customers;
    }
}

impl Store {
    /// Appends `events` in order, skipping ids already stored, and folds each new event into
    /// its customer's projection.
    ///
    /// The events of one call are written as one atomic sled batch: after a crash either all
    /// of them are in the log or none is. Projections follow at the next checkpoint (and are
    /// replayed from the log if a crash comes first). Call [`Store::flush`] to make
    /// everything durable before reporting success.
    pub fn append(&mut self, events: &[Event]) -> Result<AppendReport, StoreError> {
        self.check_writable()?;
        self.load_ids()?;
        let first_seq = self.next_seq;
        let mut report = AppendReport::default();
        let mut accepted: Vec<(u64, &Event)> = Vec::with_capacity(events.len());
        let mut batch = sled::Batch::default();
        let mut block = Vec::new();
        let mut block_ids = Vec::new();
        let mut block_first = first_seq;
        let mut seq = first_seq;
        for event in events {
            let hash = id_hash(&event.id);
            if self.is_stored(hash, event, first_seq, &accepted)? {
                report.duplicates += 1;
                continue;
            }
            let json = serde_json::to_vec(event)
                .map_err(|e| self.corrupt(event.id.as_str().as_bytes(), e.to_string()))?;
            if block_ids.is_empty() {
                block_first = seq;
            }
            block::push(&mut block, seq, &json);
            ids::push_pair(&mut block_ids, hash, seq);
            if block_ids.len() / 16 == BLOCK_EVENTS {
                batch.insert(&keys::block(block_first), std::mem::take(&mut block));
                batch.insert(
                    &keys::block_ids(block_first),
                    std::mem::take(&mut block_ids),
                );
            }
            if let Some(index) = self.ids.as_mut() {
                index.insert(hash, seq);
            }
            accepted.push((seq, event));
            seq += 1;
        }
        if accepted.is_empty() {
            return Ok(report);
        }
        if !block_ids.is_empty() {
            batch.insert(&keys::block(block_first), block);
            batch.insert(&keys::block_ids(block_first), block_ids);
        }
        let total = self.counter("events")? + accepted.len() as u64;
        batch.insert(keys::meta("events"), &total.to_be_bytes());
        self.apply(batch)?;
        self.next_seq = seq;

        for &(seq, event) in &accepted {
            report.new_customers += u64::from(self.fold(seq, event)?);
        }
        self.write_sealed()?;
        report.appended = accepted.len() as u64;
        if self.dirty >= self.options.checkpoint_customers {
            self.checkpoint()?;
        }
        tracing::debug!(
            appended = report.appended,
            duplicates = report.duplicates,
            "events appended"
        );
        Ok(report)
    }

    /// Whether an event with `event`'s id is already in the log or earlier in this call.
    fn is_stored(
        &self,
        hash: u64,
        event: &Event,
        first_new: u64,
        accepted: &[(u64, &Event)],
    ) -> Result<bool, StoreError> {
        let Some(index) = &self.ids else {
            return Ok(false);
        };
        for seq in index.candidates(hash) {
            let same = if seq >= first_new {
                accepted
                    .get((seq - first_new) as usize)
                    .is_some_and(|(_, e)| e.id == event.id)
            } else {
                self.event_at(seq)?.is_some_and(|e| e.id == event.id)
            };
            if same {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Loads the id index from the blocks' id lists, once.
    pub(super) fn load_ids(&mut self) -> Result<(), StoreError> {
        if self.ids.is_some() {
            return Ok(());
        }
        let mut index = ids::IdIndex::default();
        for item in self.tree.scan_prefix([keys::BLOCK_IDS]) {
            let (_, v) = item.map_err(|e| self.sled_err(e))?;
            for (hash, seq) in ids::pairs(&v) {
                index.insert(hash, seq);
            }
        }
        self.ids = Some(index);
        Ok(())
    }
}
