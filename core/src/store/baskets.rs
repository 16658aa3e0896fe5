//! Keeping the co-purchase statistics ([`crate::basket`]) in step with the log.
//!
//! The statistics are one global record with its own watermark, like a customer record.
//! A checkpoint writes them *before* any customer record, so their watermark is never
//! behind a record's: after a crash, a purchase a record has already folded has been
//! counted here too, and one it has not folded is counted when replay folds it. That
//! matters because counting a purchase needs the buyer's item history from *before* it.

use super::batch::Batch;
use std::sync::Arc;

use super::{Store, StoreError, keys};
use crate::{basket::Baskets, event::Event};

const KEY: &str = "baskets";

impl Store {
    /// Reads the statistics and their watermark (none stored: empty, from the start).
    pub(super) fn load_baskets(&mut self) -> Result<(), StoreError> {
        let key = keys::meta(KEY);
        let Some(bytes) = self.tree.get(&key).map_err(|e| self.sled_err(e))? else {
            return Ok(());
        };
        let (until, json) = bytes
            .split_at_checked(8)
            .ok_or_else(|| self.corrupt(&key, "co-purchase record too short"))?;
        self.baskets_until = u64::from_be_bytes(until.try_into().unwrap_or_default());
        self.baskets =
            Arc::new(serde_json::from_slice(json).map_err(|e| self.corrupt(&key, e.to_string()))?);
        Ok(())
    }

    /// Counts the purchase with sequence `seq` unless the stored statistics already have it.
    /// `before` is the buyer's item history without this event.
    pub(super) fn observe_purchase(
        baskets: &mut Arc<Baskets>,
        until: u64,
        seq: u64,
        event: &Event,
        before: &litemap::LiteMap<String, crate::basket::ItemStat>,
    ) -> bool {
        if seq < until || event.purchase_amount().is_none() {
            return false;
        }
        let items = event.purchase_items();
        if items.is_empty() {
            return false;
        }
        Arc::make_mut(baskets).observe(before, &items, event.at.instant());
        true
    }

    /// Writes the statistics if they changed, marked current up to the end of the log.
    /// Called first in every checkpoint (see the module documentation).
    pub(super) fn write_baskets(&mut self) -> Result<(), StoreError> {
        if !self.baskets_dirty {
            return Ok(());
        }
        let mut bytes = self.next_seq.to_be_bytes().to_vec();
        serde_json::to_writer(&mut bytes, &*self.baskets).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            key: KEY.into(),
            reason: e.to_string(),
        })?;
        let mut batch = Batch::default();
        batch.insert(keys::meta(KEY), bytes);
        self.apply(batch)?;
        self.baskets_until = self.next_seq;
        self.baskets_dirty = false;
        Ok(())
    }

    /// Co-purchase statistics over every customer, as of the last appended event.
    pub fn baskets(&self) -> &Arc<Baskets> {
        &self.baskets
    }
}
