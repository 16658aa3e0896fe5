//! Which staff alerts are open, kept in memory: the console's inbox polls every few
//! seconds, `status` and the staff round ask too, and deciding it from scratch means
//! decoding every alert ever raised and every one of their customers — seconds, with
//! 100,000 open.
//!
//! # Invariant
//!
//! Once built, after [`Store::refresh_open`], `open` (and `ranked`) hold exactly the alerts
//! for which [`Store::is_open`] holds.
//!
//! # Why it holds
//!
//! Whether an alert is open is a function of its record (resolved or not) and of its
//! customer's projection (inquiries still waiting, the last staff contact), and both change
//! in known places only:
//! - every write of an alert record — raised with its event, marked by the staff round,
//!   acknowledged, resolved, removed by an erasure — goes through `Store::apply`, which
//!   shows the batch to [`OpenAlerts::note`];
//! - every change to a projection goes through `Store::fold`, which marks a customer who has
//!   alerts as touched ([`OpenAlerts::touch`]); an erasure forgets the customer.
//!
//! Before answering, the store decides the touched customers' alerts again with their
//! projections as they are then. Every alert not resolved is kept (a head of a few dozen
//! bytes), not only the open ones, because one that was answered opens again if an older
//! inquiry arrives late. A resolved one never opens again and is dropped. The index is built
//! on first use by one scan of the alert keyspace, and never by a reading handle's owner
//! unless it asks for open alerts itself.

use std::{
    cmp::Reverse,
    collections::{BTreeSet, HashMap, HashSet},
};

use jiff::Timestamp;
use serde::Deserialize;

use super::{Alert, AlertId, Store, StoreError, batch::Batch, keys};
use crate::{customer::Customer, ids::CustomerId};

/// What the index keeps of an alert not resolved.
#[derive(Debug, Clone)]
pub struct AlertHead {
    /// Its id.
    pub id: AlertId,
    /// When it was raised.
    pub at: Timestamp,
    /// Its priority.
    pub priority: i64,
    /// Staff were told of it.
    pub notified: bool,
    /// It was escalated.
    pub escalated: bool,
}

/// The fields of a stored alert the index reads (serde skips the rest).
#[derive(Deserialize)]
struct Stored {
    customer: CustomerId,
    at: Timestamp,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    resolved: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    notified: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    escalated: Option<serde::de::IgnoredAny>,
}

/// What decides whether a customer's alerts are open: when their waiting inquiries were
/// raised, and when staff last replied or called. Read from a stored record without
/// decoding the rest of the customer (building the index reads one per customer with an
/// alert, which could be every customer).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Openness {
    #[serde(default)]
    stats: Waiting,
}

#[derive(Debug, Default, Deserialize)]
struct Waiting {
    #[serde(default)]
    open_inquiries: Vec<InquiryAt>,
    #[serde(default)]
    last_staff_contact: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
struct InquiryAt {
    at: Timestamp,
}

impl Openness {
    pub(super) fn of(customer: &Customer) -> Self {
        Self {
            stats: Waiting {
                open_inquiries: customer
                    .stats
                    .open_inquiries
                    .iter()
                    .map(|o| InquiryAt { at: o.at })
                    .collect(),
                last_staff_contact: customer.stats.last_staff_contact,
            },
        }
    }

    /// Whether an alert raised at `at`, not resolved, is open: an inquiry or complaint
    /// raised no later than the alert still waits, or staff have not replied to or
    /// contacted the customer since.
    pub(super) fn opens(&self, at: Timestamp) -> bool {
        let waiting = self.stats.open_inquiries.iter().any(|o| o.at <= at);
        let untouched = self.stats.last_staff_contact.is_none_or(|t| t < at);
        waiting || untouched
    }
}

/// The index (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct OpenAlerts {
    /// Every alert not resolved, by customer.
    heads: HashMap<CustomerId, Vec<AlertHead>>,
    /// The open ones, in key order (as [`Store::alerts`] lists them).
    open: BTreeSet<AlertId>,
    /// The open ones, highest priority first, then in key order.
    ranked: BTreeSet<(Reverse<i64>, AlertId)>,
    /// Customers whose alerts must be decided again.
    touched: HashSet<CustomerId>,
}

impl OpenAlerts {
    /// Marks `customer`'s alerts for deciding again, if they have any.
    pub(crate) fn touch(&mut self, customer: &CustomerId) {
        if self.heads.contains_key(customer) && !self.touched.contains(customer) {
            self.touched.insert(customer.clone());
        }
    }

    /// Takes note of the alert records `batch` writes (it was just applied).
    pub(crate) fn note(&mut self, batch: &Batch) {
        for (key, value) in batch.with_prefix(keys::ALERT) {
            let Some((seq, n)) = keys::item_position(key) else {
                continue;
            };
            let id = AlertId { seq, n };
            match value.map(serde_json::from_slice::<Stored>) {
                Some(Ok(stored)) => self.put(id, stored),
                // Removed (an erasure forgets the customer as well), or unreadable: the
                // reads report that one.
                Some(Err(_)) | None => self.close(id),
            }
        }
    }

    /// Forgets every alert of `customer` (erased).
    pub(crate) fn forget(&mut self, customer: &CustomerId) {
        for head in self.heads.remove(customer).unwrap_or_default() {
            self.open.remove(&head.id);
            self.ranked.remove(&(Reverse(head.priority), head.id));
        }
        self.touched.remove(customer);
    }

    fn put(&mut self, id: AlertId, stored: Stored) {
        let heads = self.heads.entry(stored.customer.clone()).or_default();
        let old = heads
            .iter()
            .position(|h| h.id == id)
            .map(|i| heads.remove(i));
        if let Some(old) = &old {
            self.ranked.remove(&(Reverse(old.priority), id));
        }
        if stored.resolved.is_some() {
            self.open.remove(&id);
            if heads.is_empty() {
                self.heads.remove(&stored.customer);
            }
            return;
        }
        heads.push(AlertHead {
            id,
            at: stored.at,
            priority: stored.priority,
            notified: stored.notified.is_some(),
            escalated: stored.escalated.is_some(),
        });
        if self.open.contains(&id) {
            self.ranked.insert((Reverse(stored.priority), id));
        }
        self.touched.insert(stored.customer);
    }

    fn close(&mut self, id: AlertId) {
        self.open.remove(&id);
        self.ranked.retain(|(_, i)| *i != id);
    }

    /// Decides `customer`'s alerts again, `projection` being their customer as it is now
    /// (`None`: gone).
    fn decide(&mut self, customer: &CustomerId, projection: Option<&Openness>) {
        let Some(heads) = self.heads.get(customer) else {
            return;
        };
        for head in heads {
            let key = (Reverse(head.priority), head.id);
            if projection.is_some_and(|c| c.opens(head.at)) {
                self.open.insert(head.id);
                self.ranked.insert(key);
            } else {
                self.open.remove(&head.id);
                self.ranked.remove(&key);
            }
        }
    }
}

impl Store {
    /// Open alerts ([`Store::is_open`]), oldest first.
    pub fn open_alerts(&mut self) -> Result<Vec<Alert>, StoreError> {
        let ids: Vec<AlertId> = self.refresh_open()?.open.iter().copied().collect();
        self.alerts_by_id(ids)
    }

    /// The `limit` most pressing open alerts: highest priority first, then oldest first.
    pub fn open_alerts_ranked(&mut self, limit: usize) -> Result<Vec<Alert>, StoreError> {
        let index = self.refresh_open()?;
        let ids: Vec<AlertId> = index.ranked.iter().take(limit).map(|(_, id)| *id).collect();
        self.alerts_by_id(ids)
    }

    /// How many alerts are open.
    pub fn open_alert_count(&mut self) -> Result<usize, StoreError> {
        Ok(self.refresh_open()?.open.len())
    }

    /// The open alerts' heads, oldest first: for a caller that reads only some of them
    /// whole (the staff round).
    pub fn open_alert_heads(&mut self) -> Result<Vec<AlertHead>, StoreError> {
        let index = self.refresh_open()?;
        let mut heads: Vec<AlertHead> = index
            .heads
            .values()
            .flatten()
            .filter(|h| index.open.contains(&h.id))
            .cloned()
            .collect();
        heads.sort_by_key(|h| h.id);
        Ok(heads)
    }

    /// Alerts by id, in the order given; one that is gone is left out.
    pub fn alerts_by_id(&self, ids: Vec<AlertId>) -> Result<Vec<Alert>, StoreError> {
        let mut alerts = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(alert) = self.alert(id)? {
                alerts.push(alert);
            }
        }
        Ok(alerts)
    }

    /// The index, built if it is not built yet, with the touched customers' alerts decided
    /// again.
    fn refresh_open(&mut self) -> Result<&OpenAlerts, StoreError> {
        let mut index = match self.open.take() {
            Some(index) => index,
            None => self.build_open()?,
        };
        for customer in std::mem::take(&mut index.touched) {
            match self.openness(&customer) {
                Ok(projection) => index.decide(&customer, projection.as_ref()),
                Err(e) => {
                    index.touched.insert(customer);
                    self.open = Some(index);
                    return Err(e);
                }
            }
        }
        Ok(self.open.insert(index))
    }

    /// What decides `id`'s alerts: from the cached projection, else from the stored
    /// record's JSON, only the fields needed.
    fn openness(&self, id: &CustomerId) -> Result<Option<Openness>, StoreError> {
        if let Some(cached) = self.cache.get(id) {
            return Ok(Some(Openness::of(&cached.record.customer)));
        }
        let key = keys::customer(id);
        let Some(bytes) = self.tree.get(&key).map_err(|e| self.sled_err(e))? else {
            return Ok(None);
        };
        let json =
            super::record::Record::customer_json(&bytes).map_err(|e| self.corrupt(&key, e))?;
        serde_json::from_slice(json)
            .map(Some)
            .map_err(|e| self.corrupt(&key, e.to_string()))
    }

    /// Reads every alert's head: each one not resolved, its customer touched.
    fn build_open(&self) -> Result<OpenAlerts, StoreError> {
        let mut index = OpenAlerts::default();
        for item in self.tree.scan_prefix([keys::ALERT]) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let stored: Stored =
                serde_json::from_slice(&v).map_err(|e| self.corrupt(&k, e.to_string()))?;
            if let Some((seq, n)) = keys::item_position(&k) {
                index.put(AlertId { seq, n }, stored);
            }
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests;
