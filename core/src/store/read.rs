//! Reading: customers, one customer's history, the global log, counters.

use std::collections::HashMap;

use super::{
    Store, StoreError, block,
    ids::{self, id_hash},
    keys,
    record::{self, HistEntry, Record},
};
use crate::{
    customer::Customer,
    event::Event,
    ids::{CustomerId, EventId},
};

impl Store {
    /// One customer's projection, including changes not yet checkpointed.
    pub fn customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        Ok(self.record(id)?.map(|r| r.customer))
    }

    pub(super) fn record(&self, id: &CustomerId) -> Result<Option<Record>, StoreError> {
        match self.cache.get(id) {
            Some(d) => Ok(Some(d.record.clone())),
            None => self.stored_record(id),
        }
    }

    /// Every customer: stored ones in id order (with their unsaved changes), then customers
    /// created since the last checkpoint.
    pub fn customers(&self) -> impl Iterator<Item = Result<Customer, StoreError>> + '_ {
        let stored = self.tree.scan_prefix([keys::CUSTOMER]).map(move |item| {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let record = Record::decode(&v).map_err(|e| self.corrupt(&k, e))?;
            Ok(match self.cache.get(&record.customer.id) {
                Some(d) => d.record.customer.clone(),
                None => record.customer,
            })
        });
        let mut fresh: Vec<&Customer> = self
            .cache
            .values()
            .filter(|d| d.is_new)
            .map(|d| &d.record.customer)
            .collect();
        fresh.sort_by(|a, b| a.id.cmp(&b.id));
        stored.chain(fresh.into_iter().map(|c| Ok(c.clone())))
    }

    /// Every event in append order.
    pub fn events(&self) -> impl Iterator<Item = Result<Event, StoreError>> + '_ {
        self.tree.scan_prefix([keys::BLOCK]).flat_map(
            move |item| -> Vec<Result<Event, StoreError>> {
                let decoded = item
                    .map_err(|e| self.sled_err(e))
                    .and_then(|(k, v)| block::decode(&v).map_err(|e| self.corrupt(&k, e)));
                match decoded {
                    Ok(events) => events.into_iter().map(|(_, e)| Ok(e)).collect(),
                    Err(e) => vec![Err(e)],
                }
            },
        )
    }

    /// An event by id.
    pub fn event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        let hash = id_hash(id);
        let candidates: Vec<u64> = match &self.ids {
            Some(index) => index.candidates(hash).collect(),
            // Without the in-memory index, scan the compact id lists (16 bytes an event).
            None => {
                let mut found = Vec::new();
                for item in self.tree.scan_prefix([keys::BLOCK_IDS]) {
                    let (_, v) = item.map_err(|e| self.sled_err(e))?;
                    found.extend(ids::pairs(&v).filter(|(h, _)| *h == hash).map(|(_, s)| s));
                }
                found
            }
        };
        for seq in candidates {
            if let Some(event) = self.event_at(seq)?.filter(|e| &e.id == id) {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// The key and content of the block holding `seq`, if any.
    pub(super) fn block_of(
        &self,
        seq: u64,
    ) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        match self
            .tree
            .range(keys::block(0)..=keys::block(seq))
            .next_back()
        {
            Some(item) => item.map(Some).map_err(|e| self.sled_err(e)),
            None => Ok(None),
        }
    }

    /// The event with sequence number `seq`, if it exists (erased events leave gaps).
    pub(super) fn event_at(&self, seq: u64) -> Result<Option<Event>, StoreError> {
        let Some((k, v)) = self.block_of(seq)? else {
            return Ok(None);
        };
        for entry in block::entries(&v) {
            let (s, json) = entry.map_err(|e| self.corrupt(&k, e))?;
            if s == seq {
                let event =
                    serde_json::from_slice(json).map_err(|e| self.corrupt(&k, e.to_string()))?;
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// All history entries of a customer, sorted by event time then append order.
    pub(super) fn history_entries(&self, id: &CustomerId) -> Result<Vec<HistEntry>, StoreError> {
        let Some(rec) = self.record(id)? else {
            return Ok(Vec::new());
        };
        let mut entries = Vec::new();
        // Only the chunks the record counts: see `Store::write_sealed`.
        for n in 0..rec.sealed_chunks {
            let key = keys::history_chunk(id, n);
            let chunk = self.tree.get(&key).map_err(|e| self.sled_err(e))?;
            let chunk = chunk.ok_or_else(|| self.corrupt(&key, "missing history chunk"))?;
            entries.extend(record::decode_entries(&chunk).map_err(|e| self.corrupt(&key, e))?);
        }
        entries.extend(rec.tail);
        entries.sort_unstable();
        Ok(entries)
    }

    /// The newest `limit` events of a customer, returned oldest first (by event time, then
    /// append order). Reads only that customer's index and the blocks it points into.
    pub fn history(&self, id: &CustomerId, limit: usize) -> Result<Vec<Event>, StoreError> {
        let entries = self.history_entries(id)?;
        let newest = &entries[entries.len().saturating_sub(limit)..];
        let mut blocks: HashMap<Vec<u8>, HashMap<u64, Event>> = HashMap::new();
        let mut events = Vec::with_capacity(newest.len());
        for entry in newest {
            let Some((k, v)) = self.block_of(entry.seq)? else {
                return Err(self.corrupt(&keys::block(entry.seq), "history points at no block"));
            };
            if !blocks.contains_key(k.as_ref()) {
                let decoded = block::decode(&v).map_err(|e| self.corrupt(&k, e))?;
                blocks.insert(k.to_vec(), decoded.into_iter().collect());
            }
            let event = blocks
                .get_mut(k.as_ref())
                .and_then(|b| b.remove(&entry.seq))
                .ok_or_else(|| {
                    self.corrupt(&k, format!("history points at missing event {}", entry.seq))
                })?;
            events.push(event);
        }
        Ok(events)
    }

    /// Number of stored events (kept as a counter: sled's `len` is O(n)).
    pub fn event_count(&self) -> Result<u64, StoreError> {
        self.counter("events")
    }

    /// Number of customers with a projection.
    pub fn customer_count(&self) -> Result<u64, StoreError> {
        let fresh = self.cache.values().filter(|d| d.is_new).count() as u64;
        Ok(self.counter("customers")? + fresh)
    }
}
