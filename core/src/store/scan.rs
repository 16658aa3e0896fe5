//! A pass over every customer that changes some of them, reading each record once.
//!
//! A campaign evaluates its audience for every customer and appends a message request for
//! each member. Done as two passes (select, then queue), every member's record was read
//! and decoded twice, and the second time at random from sled: a third of a
//! million-customer campaign. Here the pass reads records in id order, a chunk at a time,
//! and keeps the ones the caller picks in memory, so the events appended for them next find
//! them loaded.

use std::{ops::Bound, sync::Arc};

use super::{Store, StoreError, checkpoint::Cached, keys, record::Record};
use crate::{customer::Customer, ids::CustomerId};

/// One step of [`Store::scan_customers`].
#[derive(Debug, Default)]
pub struct CustomerScan {
    /// Customers read.
    pub read: usize,
    /// The customers `keep` picked, in id order; their records are in memory.
    pub kept: Vec<CustomerId>,
    /// The last customer read: where the next step starts (`None`: the pass is over).
    pub last: Option<CustomerId>,
}

impl Store {
    /// Reads up to `n` stored customers after `after` (from the first when `None`), in id
    /// order, and keeps in memory the records of those `keep` picks: events appended for
    /// them before the next step do not read them again. Customers not yet written by a
    /// checkpoint are not in the tree: [`Store::flush`] before the first step.
    pub fn scan_customers(
        &mut self,
        after: Option<&CustomerId>,
        n: usize,
        mut keep: impl FnMut(&Arc<Customer>) -> bool,
    ) -> Result<CustomerScan, StoreError> {
        let start = match after {
            Some(id) => Bound::Excluded(keys::customer(id)),
            None => Bound::Included(vec![keys::CUSTOMER]),
        };
        // Every customer key is below the next prefix byte.
        let end = Bound::Excluded(vec![keys::CUSTOMER + 1]);
        let mut scan = CustomerScan::default();
        let mut picked = Vec::new();
        for item in self.tree.range((start, end)).take(n) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let record = Record::decode(&v).map_err(|e| self.corrupt(&k, e))?;
            let id = record.customer.id.clone();
            scan.read += 1;
            // A record changed in memory is newer than the tree's.
            let chosen = match self.cache.get(&id) {
                Some(cached) => keep(&cached.record.customer),
                None => {
                    let chosen = keep(&record.customer);
                    if chosen {
                        picked.push(record);
                    }
                    chosen
                }
            };
            if chosen {
                scan.kept.push(id.clone());
            }
            scan.last = Some(id);
        }
        if scan.read < n {
            scan.last = None;
        }
        for record in picked {
            let id = record.customer.id.clone();
            self.cache.insert(
                id,
                Cached {
                    record,
                    dirty: false,
                    is_new: false,
                },
            );
        }
        Ok(scan)
    }
}
