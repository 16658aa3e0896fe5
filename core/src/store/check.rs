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

use super::{Store, StoreError};
use crate::{customer::Customer, ids::CustomerId};

/// How many id-index lookups a check makes at most.
const ID_SAMPLE: u64 = 10_000;

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
        let counted = self.event_count()?;
        let mut per_customer: HashMap<CustomerId, u64> = HashMap::new();
        let step = (counted / ID_SAMPLE).max(1);
        for (n, event) in self.events().enumerate() {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    report.problems.push(format!("the log: {e}"));
                    break;
                }
            };
            report.events += 1;
            *per_customer.entry(event.customer.clone()).or_default() += 1;
            if (n as u64).is_multiple_of(step) {
                report.ids_checked += 1;
                match self.event(&event.id) {
                    Ok(Some(found)) if found == event => {}
                    Ok(Some(_)) => report.problems.push(format!(
                        "the id index finds another event under {}",
                        event.id
                    )),
                    Ok(None) => report
                        .problems
                        .push(format!("the id index does not find {}", event.id)),
                    Err(e) => report
                        .problems
                        .push(format!("looking up {}: {e}", event.id)),
                }
            }
        }
        if report.events != counted {
            report.problems.push(format!(
                "the event counter says {counted}, the log holds {}",
                report.events
            ));
        }
        let records = self.customer_count()?;
        let mut ids = Vec::new();
        for customer in self.customers() {
            let customer = match customer {
                Ok(c) => c,
                Err(e) => {
                    report.problems.push(format!("a customer record: {e}"));
                    continue;
                }
            };
            report.customers += 1;
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
            ids.push(customer.id);
        }
        for (id, n) in &per_customer {
            report.problems.push(format!(
                "customer {id}: {n} event(s) in the log but no record"
            ));
        }
        if report.customers != records {
            report.problems.push(format!(
                "the customer counter says {records}, there are {} records",
                report.customers
            ));
        }
        let every = (ids.len() / sample.max(1)).max(1);
        for id in ids.iter().step_by(every).take(sample) {
            report.refolded += 1;
            if let Err(problem) = self.refold_matches(id) {
                report.problems.push(format!("customer {id}: {problem}"));
            }
        }
        Ok(report)
    }

    /// Re-folds `id` from the log and compares it with the stored projection.
    fn refold_matches(&self, id: &CustomerId) -> Result<(), String> {
        let stored = self
            .customer(id)
            .map_err(|e| e.to_string())?
            .ok_or("no record")?;
        let entries = self.history_entries(id).map_err(|e| e.to_string())?;
        let mut events = self
            .history_with_effects(id, usize::MAX)
            .map_err(|e| e.to_string())?
            .into_iter()
            .zip(entries.iter().map(|e| e.seq))
            .collect::<Vec<_>>();
        // Folded in the order they were appended, not the order of their times.
        events.sort_by_key(|(_, seq)| *seq);
        let mut refolded = Customer::new(id.clone());
        for ((event, recorded), _) in &events {
            refolded.apply(event);
            for effect in recorded.iter().flat_map(|r| r.effects.iter()) {
                let _ = refolded.apply_effect(effect, event);
            }
        }
        refolded.rfm = stored.rfm.clone();
        let (a, b) = (
            serde_json::to_value(&stored).map_err(|e| e.to_string())?,
            serde_json::to_value(&refolded).map_err(|e| e.to_string())?,
        );
        if a == b {
            return Ok(());
        }
        let differ: Vec<String> = match (a.as_object(), b.as_object()) {
            (Some(a), Some(b)) => a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(v))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => vec!["(everything)".into()],
        };
        Err(format!(
            "the stored projection differs from a re-fold of its events in {}",
            differ.join(", ")
        ))
    }
}
