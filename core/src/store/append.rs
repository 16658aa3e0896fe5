//! Appending a batch of events: dedup, log, indexes and projections in one atomic write.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{Store, StoreError, keys};
use crate::{customer::Customer, event::Event, ids::CustomerId};

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
    /// its customer's projection. The whole batch is one atomic sled batch: after a crash
    /// either all of it is there or none of it. Call [`Store::flush`] to make it durable.
    ///
    /// Each customer's projection is read and written once per batch however many of its
    /// events the batch holds, so large batches are much cheaper per event than small ones.
    pub fn append(&mut self, events: &[Event]) -> Result<AppendReport, StoreError> {
        let mut report = AppendReport::default();
        let mut batch = sled::Batch::default();
        let mut seen = HashSet::with_capacity(events.len());
        let mut touched: HashMap<&CustomerId, (Customer, bool)> = HashMap::new();
        let mut seq = self.next_seq;
        for event in events {
            let id_key = keys::id(&event.id);
            let stored = self
                .tree
                .contains_key(&id_key)
                .map_err(|e| self.sled_err(e))?;
            if stored || !seen.insert(&event.id) {
                report.duplicates += 1;
                continue;
            }
            let json =
                serde_json::to_vec(event).map_err(|e| self.corrupt(&id_key, e.to_string()))?;
            batch.insert(&keys::event(seq), json);
            batch.insert(id_key, &seq.to_be_bytes());
            batch.insert(keys::history(&event.customer, event.at.instant(), seq), &[]);
            if !touched.contains_key(&event.customer) {
                let (customer, is_new) = match self.customer(&event.customer)? {
                    Some(c) => (c, false),
                    None => (Customer::new(event.customer.clone()), true),
                };
                report.new_customers += u64::from(is_new);
                touched.insert(&event.customer, (customer, is_new));
            }
            if let Some((customer, _)) = touched.get_mut(&event.customer) {
                customer.apply(event);
            }
            seq += 1;
            report.appended += 1;
        }
        if report.appended == 0 {
            return Ok(report);
        }
        for (id, (customer, _)) in &touched {
            let json = serde_json::to_vec(customer)
                .map_err(|e| self.corrupt(id.as_str().as_bytes(), e.to_string()))?;
            batch.insert(keys::customer(id), json);
        }
        let events_total = self.counter("events")? + report.appended;
        let customers_total = self.counter("customers")? + report.new_customers;
        batch.insert(keys::meta("events"), &events_total.to_be_bytes());
        batch.insert(keys::meta("customers"), &customers_total.to_be_bytes());
        self.tree.apply_batch(batch).map_err(|e| self.sled_err(e))?;
        self.next_seq = seq;
        tracing::debug!(
            appended = report.appended,
            duplicates = report.duplicates,
            customers = touched.len(),
            "batch appended"
        );
        Ok(report)
    }
}
