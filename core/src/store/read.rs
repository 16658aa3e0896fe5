//! Reading: customers, one customer's history, the global log, counters.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use super::{
    Alert, OutboxMessage, Recorded, Store, StoreError, block,
    ids::{self, id_hash},
    keys,
    record::{self, HistEntry, Record},
};
use crate::{
    customer::Customer,
    event::Event,
    ids::{CustomerId, EventId},
    rules::RuleError,
};

impl Store {
    /// One customer's projection, including changes not yet checkpointed.
    pub fn customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        Ok(self.record(id)?.map(|r| Arc::unwrap_or_clone(r.customer)))
    }

    /// One customer's projection, shared: no copy when it is in the store's cache. For
    /// read-only use on hot paths (the dispatcher's guards).
    pub fn customer_shared(&self, id: &CustomerId) -> Result<Option<Arc<Customer>>, StoreError> {
        match self.cache.get(id) {
            Some(d) => Ok(Some(Arc::clone(&d.record.customer))),
            None => Ok(self.stored_record(id)?.map(|r| r.customer)),
        }
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
        // Records of a checkpoint under way are neither new nor in the tree yet.
        let unwritten = self.wait_checkpoints().err().map(Err);
        let stored = unwritten
            .into_iter()
            .chain(self.tree.scan_prefix([keys::CUSTOMER]).map(move |item| {
                let (k, v) = item.map_err(|e| self.sled_err(e))?;
                let record = Record::decode(&v).map_err(|e| self.corrupt(&k, e))?;
                Ok(match self.cache.get(&record.customer.id) {
                    Some(d) => Customer::clone(&d.record.customer),
                    None => Arc::unwrap_or_clone(record.customer),
                })
            }));
        let mut fresh: Vec<&Customer> = self
            .cache
            .values()
            .filter(|d| d.is_new)
            .map(|d| &*d.record.customer)
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
        Ok(self
            .history_with_effects(id, limit)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    /// Like [`Store::history`], with the rule effects each event produced: why a customer
    /// has their points, tier and tags.
    ///
    /// A customer's events are spread over many blocks of 256, so only the entries asked
    /// for are parsed: the events by their sequence number, the effects after a scan for
    /// theirs (a whole block's JSON made `customer show` cost ~12 ms at 20 events).
    pub fn history_with_effects(
        &self,
        id: &CustomerId,
        limit: usize,
    ) -> Result<Vec<(Event, Option<Recorded>)>, StoreError> {
        let entries = self.history_entries(id)?;
        let newest = &entries[entries.len().saturating_sub(limit)..];
        // Block key -> (block, its first seq, the wanted seqs in it), in order of need.
        let mut blocks: Vec<(sled::IVec, sled::IVec, u64, HashSet<u64>)> = Vec::new();
        for entry in newest {
            let Some((k, v)) = self.block_of(entry.seq)? else {
                return Err(self.corrupt(&keys::block(entry.seq), "history points at no block"));
            };
            match blocks.iter_mut().find(|b| b.0 == k) {
                Some(b) => {
                    b.3.insert(entry.seq);
                }
                None => {
                    let first = keys::seq_of(&k).unwrap_or_default();
                    blocks.push((k, v, first, HashSet::from([entry.seq])));
                }
            }
        }
        let mut events: HashMap<u64, Event> = HashMap::with_capacity(newest.len());
        let mut effects: HashMap<u64, Recorded> = HashMap::new();
        for (k, v, first, wanted) in &blocks {
            for entry in block::entries(v) {
                let (seq, json) = entry.map_err(|e| self.corrupt(k, e))?;
                if wanted.contains(&seq) {
                    let event = serde_json::from_slice(json)
                        .map_err(|e| self.corrupt(k, format!("event {seq}: {e}")))?;
                    events.insert(seq, event);
                }
            }
            for recorded in self.block_effects_of(*first, wanted)? {
                effects.insert(recorded.seq, recorded);
            }
        }
        newest
            .iter()
            .map(|entry| {
                let event = events.remove(&entry.seq).ok_or_else(|| {
                    self.corrupt(
                        &keys::block(entry.seq),
                        format!("history points at missing event {}", entry.seq),
                    )
                })?;
                Ok((event, effects.remove(&entry.seq)))
            })
            .collect()
    }

    /// `id`'s projection as it stood at `at`: [`Customer::as_of`] over their history.
    pub fn customer_as_of(
        &self,
        id: &CustomerId,
        at: jiff::Timestamp,
    ) -> Result<Option<Customer>, StoreError> {
        let history = self.history_with_effects(id, usize::MAX)?;
        Ok(Customer::as_of(id, super::effects_of(&history), at))
    }

    /// Every rule error, oldest first.
    pub fn rule_errors(&self) -> Result<Vec<RuleError>, StoreError> {
        self.items(keys::RULE_ERROR)
    }

    /// Messages queued by rules, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxMessage>, StoreError> {
        self.items(keys::OUTBOX)
    }

    /// Every outbox message decoded as `T`, oldest first, one at a time: a report that
    /// needs a few fields of a million messages decodes only those (serde skips the rest),
    /// and holds one at a time.
    pub fn outbox_as<T: serde::de::DeserializeOwned>(
        &self,
    ) -> impl Iterator<Item = Result<T, StoreError>> + '_ {
        self.decoded(keys::OUTBOX)
    }

    /// Staff alerts raised by rules, oldest first, each with its id.
    pub fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.tree
            .scan_prefix([keys::ALERT])
            .map(|item| {
                let (k, v) = item.map_err(|e| self.sled_err(e))?;
                self.alert_at(&k, &v)
            })
            .collect()
    }

    /// One alert, by id.
    pub fn alert(&self, id: super::AlertId) -> Result<Option<Alert>, StoreError> {
        let key = keys::item(keys::ALERT, id.seq, id.n);
        let value = self.tree.get(key).map_err(|e| self.sled_err(e))?;
        value.map(|v| self.alert_at(&key, &v)).transpose()
    }

    /// The alert stored as `value` under `key`, its id taken from the key (alerts stored
    /// before they carried an id have none in their JSON).
    pub(super) fn alert_at(&self, key: &[u8], value: &[u8]) -> Result<Alert, StoreError> {
        let mut alert: Alert =
            serde_json::from_slice(value).map_err(|e| self.corrupt(key, e.to_string()))?;
        if let Some((seq, n)) = keys::item_position(key) {
            alert.id = super::AlertId { seq, n };
        }
        Ok(alert)
    }

    /// Whether `alert` is open: not resolved by staff, and its customer has an inquiry or
    /// complaint, raised no later than the alert, that is still unanswered; or staff have not
    /// replied to or contacted the customer (a `reply` or `contact` event) since the alert.
    /// [`Store::open_alerts`] lists them.
    pub fn is_open(&self, alert: &Alert) -> Result<bool, StoreError> {
        if alert.resolved.is_some() {
            return Ok(false);
        }
        let customer = self.customer_shared(&alert.customer)?;
        Ok(customer.is_some_and(|c| super::open::Openness::of(&c).opens(alert.at)))
    }

    fn items<T: serde::de::DeserializeOwned>(&self, prefix: u8) -> Result<Vec<T>, StoreError> {
        self.decoded(prefix).collect()
    }

    /// The JSON values of a keyspace, decoded as `T`, in key order.
    fn decoded<T: serde::de::DeserializeOwned>(
        &self,
        prefix: u8,
    ) -> impl Iterator<Item = Result<T, StoreError>> + '_ {
        self.tree.scan_prefix([prefix]).map(move |item| {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            serde_json::from_slice(&v).map_err(|e| self.corrupt(&k, e.to_string()))
        })
    }

    /// How many alerts were ever raised (and not erased): keys counted, none decoded.
    pub fn alert_count(&self) -> Result<usize, StoreError> {
        self.key_count(keys::ALERT)
    }

    /// How many messages the outbox holds: keys counted, none decoded.
    pub fn message_count(&self) -> Result<usize, StoreError> {
        self.key_count(keys::OUTBOX)
    }

    fn key_count(&self, prefix: u8) -> Result<usize, StoreError> {
        let mut n = 0;
        for item in self.tree.scan_prefix([prefix]) {
            item.map_err(|e| self.sled_err(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Number of stored events (kept as a counter: sled's `len` is O(n)).
    pub fn event_count(&self) -> Result<u64, StoreError> {
        self.counter("events")
    }

    /// Number of customers with a projection.
    pub fn customer_count(&self) -> Result<u64, StoreError> {
        let fresh = self.cache.values().filter(|d| d.is_new).count() as u64;
        Ok(self.customers_stored + fresh)
    }
}
