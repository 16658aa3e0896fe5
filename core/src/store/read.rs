//! Reading: customers, one customer's history, the global log, counters.

use serde::de::DeserializeOwned;

use super::{Store, StoreError, keys};
use crate::{
    customer::Customer,
    event::Event,
    ids::{CustomerId, EventId},
};

impl Store {
    /// One customer's projection.
    pub fn customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        let key = keys::customer(id);
        match self.tree.get(&key).map_err(|e| self.sled_err(e))? {
            Some(v) => self.decode(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Every customer, in id order.
    pub fn customers(&self) -> impl Iterator<Item = Result<Customer, StoreError>> + '_ {
        self.tree.scan_prefix([keys::CUSTOMER]).map(move |item| {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            self.decode(&k, &v)
        })
    }

    /// Every event in append order.
    pub fn events(&self) -> impl Iterator<Item = Result<Event, StoreError>> + '_ {
        self.tree.scan_prefix([keys::EVENT]).map(move |item| {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            self.decode(&k, &v)
        })
    }

    /// An event by id.
    pub fn event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        let key = keys::id(id);
        let Some(seq) = self.tree.get(&key).map_err(|e| self.sled_err(e))? else {
            return Ok(None);
        };
        let seq = keys::seq_suffix(&seq).ok_or_else(|| self.corrupt(&key, "bad sequence"))?;
        self.event_at(seq)
    }

    pub(super) fn event_at(&self, seq: u64) -> Result<Option<Event>, StoreError> {
        let key = keys::event(seq);
        match self.tree.get(key).map_err(|e| self.sled_err(e))? {
            Some(v) => self.decode(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// The newest `limit` events of a customer, returned oldest first (by event time, then
    /// append order). Reads only that customer's index, never the whole log.
    pub fn history(&self, id: &CustomerId, limit: usize) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::new();
        for item in self
            .tree
            .scan_prefix(keys::history_prefix(id))
            .rev()
            .take(limit)
        {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            let seq = keys::seq_suffix(&k).ok_or_else(|| self.corrupt(&k, "bad history key"))?;
            let event = self
                .event_at(seq)?
                .ok_or_else(|| self.corrupt(&k, "history points at a missing event"))?;
            events.push(event);
        }
        events.reverse();
        Ok(events)
    }

    /// Number of stored events (kept as a counter: sled's `len` is O(n)).
    pub fn event_count(&self) -> Result<u64, StoreError> {
        self.counter("events")
    }

    /// Number of customers with a projection.
    pub fn customer_count(&self) -> Result<u64, StoreError> {
        self.counter("customers")
    }

    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| self.corrupt(key, e.to_string()))
    }
}
