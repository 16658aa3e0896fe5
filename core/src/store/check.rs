//! `kizuna check`: does the database hold together?
//!
//! The log is the truth, and everything else is derived from it, so a check reads the log
//! whole and compares what is derived with it:
//!
//! - every block decodes, and the event counter matches the events found;
//! - the id index finds events by id (a sample spread over the log: each lookup reads a
//!   block);
//! - every customer's history index lists exactly the events of that customer in the log,
//!   no customer has events but no record, and the customer counter matches the records;
//! - a sample of customers, spread over the id space, re-folded from their events and the
//!   effects recorded with them, equals the stored projection (RFM scores aside: they are
//!   written by `kizuna rfm`, not folded from events).
//!
//! A damaged record or block is reported as a problem, not raised: the point is to say
//! everything that is wrong.

use std::collections::HashMap;

use serde::Serialize;

use super::{Recorded, Store, StoreError, block, keys};
use crate::{customer::Customer, ids::CustomerId};

/// How many id-index lookups a check makes at most (each decodes a block).
const ID_SAMPLE: u64 = 1_000;

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Events read from the log.
    pub events: u64,
    /// Customer records read.
    pub customers: u64,
    /// Events looked up by id.
    pub ids_checked: u64,
    /// Customers re-folded from their events.
    pub refolded: u64,
    /// Everything wrong, one line each (empty: the database is sound).
    pub problems: Vec<String>,
}

impl Store {
    /// Checks the database; re-folds `sample` customers. See the module documentation.
    pub fn check(&self, sample: usize) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport::default();
        // The records first: which customers exist, and which to re-fold.
        let records = self.customer_count()?;
        let mut stored = Vec::new();
        for customer in self.customers() {
            match customer {
                Ok(c) => stored.push(c),
                Err(e) => report.problems.push(format!("a customer record: {e}")),
            }
        }
        report.customers = stored.len() as u64;
        if report.customers != records {
            report.problems.push(format!(
                "the customer counter says {records}, there are {} records",
                report.customers
            ));
        }
        let every = (stored.len() / sample.max(1)).max(1);
        let mut refolds: HashMap<CustomerId, Customer> = stored
            .iter()
            .step_by(every)
            .take(sample)
            .map(|c| (c.id.clone(), Customer::new(c.id.clone())))
            .collect();
        // Then the log, once, in append order: counts, id lookups, re-folds.
        let counted = self.event_count()?;
        let step = (counted / ID_SAMPLE).max(1);
        let mut per_customer: HashMap<CustomerId, u64> = HashMap::new();
        for item in self.tree.scan_prefix([keys::BLOCK]) {
            let block = item.map_err(|e| self.sled_err(e)).and_then(|(k, v)| {
                let first = keys::seq_of(&k).ok_or_else(|| self.corrupt(&k, "bad block key"))?;
                let events = block::decode(&v).map_err(|e| self.corrupt(&k, e))?;
                let effects: HashMap<u64, Recorded> = self
                    .block_effects(first)?
                    .into_iter()
                    .map(|r| (r.seq, r))
                    .collect();
                Ok((events, effects))
            });
            let (events, effects) = match block {
                Ok(b) => b,
                Err(e) => {
                    report.problems.push(format!("the log: {e}"));
                    continue;
                }
            };
            for (seq, event) in events {
                if report.events.is_multiple_of(step) {
                    report.ids_checked += 1;
                    self.check_id(&event, &mut report.problems);
                }
                report.events += 1;
                *per_customer.entry(event.customer.clone()).or_default() += 1;
                if let Some(customer) = refolds.get_mut(&event.customer) {
                    customer.apply(&event);
                    for effect in effects.get(&seq).iter().flat_map(|r| r.effects.iter()) {
                        let _ = customer.apply_effect(effect, &event);
                    }
                }
            }
        }
        if report.events != counted {
            report.problems.push(format!(
                "the event counter says {counted}, the log holds {}",
                report.events
            ));
        }
        for customer in &stored {
            let in_log = per_customer.remove(&customer.id).unwrap_or(0);
            match self.history_entries(&customer.id) {
                Ok(entries) if entries.len() as u64 == in_log => {}
                Ok(entries) => report.problems.push(format!(
                    "customer {}: the history index lists {} event(s), the log holds {in_log}",
                    customer.id,
                    entries.len()
                )),
                Err(e) => report
                    .problems
                    .push(format!("customer {}: history: {e}", customer.id)),
            }
            if let Some(refolded) = refolds.remove(&customer.id) {
                report.refolded += 1;
                if let Err(problem) = same_projection(customer, refolded) {
                    report
                        .problems
                        .push(format!("customer {}: {problem}", customer.id));
                }
            }
        }
        let mut orphans: Vec<_> = per_customer.into_iter().collect();
        orphans.sort();
        for (id, n) in orphans {
            report.problems.push(format!(
                "customer {id}: {n} event(s) in the log but no record"
            ));
        }
        Ok(report)
    }

    /// Whether the id index finds `event`.
    fn check_id(&self, event: &crate::event::Event, problems: &mut Vec<String>) {
        match self.event(&event.id) {
            Ok(Some(found)) if found == *event => {}
            Ok(Some(_)) => problems.push(format!(
                "the id index finds another event under {}",
                event.id
            )),
            Ok(None) => problems.push(format!("the id index does not find {}", event.id)),
            Err(e) => problems.push(format!("looking up {}: {e}", event.id)),
        }
    }
}

/// Compares a stored projection with its re-fold (RFM scores aside).
fn same_projection(stored: &Customer, mut refolded: Customer) -> Result<(), String> {
    refolded.rfm = stored.rfm.clone();
    let (a, b) = (
        serde_json::to_value(stored).map_err(|e| e.to_string())?,
        serde_json::to_value(&refolded).map_err(|e| e.to_string())?,
    );
    let mut differ = Vec::new();
    differences(&a, &b, "", &mut differ);
    if differ.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the stored projection differs from a re-fold of its events in {}",
        differ.join("; ")
    ))
}

/// The paths at which `stored` and `refolded` differ, with both values, objects compared
/// field by field.
fn differences(
    stored: &serde_json::Value,
    refolded: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    match (stored.as_object(), refolded.as_object()) {
        (Some(a), Some(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let null = serde_json::Value::Null;
                let path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                differences(
                    a.get(k).unwrap_or(&null),
                    b.get(k).unwrap_or(&null),
                    &path,
                    out,
                );
            }
        }
        // Derived floats (average days between orders) may differ in the last digit.
        _ if stored
            .as_f64()
            .zip(refolded.as_f64())
            .is_some_and(|(a, b)| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)) => {}
        _ if stored != refolded => {
            out.push(format!("{path} (stored {stored}, re-folded {refolded})"));
        }
        _ => {}
    }
}
