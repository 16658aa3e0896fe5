//! Opening a store written before timers moved into the customer record.
//!
//! Such a store keeps each timer under a key of its own (`t`, customer, NUL, name: a
//! [`Timer`] as JSON) with one due-index entry per timer (`d`, time, customer, NUL, name).
//! At open the timers move into their records and the index is rebuilt with one entry per
//! customer. The records are checkpointed first and the old keys removed after, so a crash
//! in between repeats the move (the old keys still hold every timer) and loses nothing.

use std::sync::Arc;

use super::{Store, StoreError, Timer, batch::Batch, keys};
use crate::timer::ScheduledTimer;

impl Store {
    /// Moves legacy timers into the records (see the module documentation).
    pub(super) fn migrate_legacy_timers(&mut self) -> Result<(), StoreError> {
        let mut legacy = Vec::new();
        for item in self.tree.scan_prefix([keys::LEGACY_TIMER]) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let timer: Timer =
                serde_json::from_slice(&v).map_err(|e| self.corrupt(&k, e.to_string()))?;
            legacy.push((k, timer));
        }
        if legacy.is_empty() {
            return Ok(());
        }
        for (_, t) in &legacy {
            self.load_cached(&t.customer)?;
            let Some(cached) = self.cache.get_mut(&t.customer) else {
                continue;
            };
            let before = cached.record.customer.earliest_timer();
            let timer = ScheduledTimer {
                due: t.due,
                data: t.data.clone(),
                script: t.script.clone(),
            };
            let customer = Arc::make_mut(&mut cached.record.customer);
            customer.timers.insert(t.name.clone(), timer);
            let after = customer.earliest_timer();
            self.dirty += usize::from(cached.touch());
            if after != before {
                self.due_overlay.note(&t.customer, before, after, false);
            }
        }
        self.checkpoint()?;
        let mut batch = Batch::default();
        for (k, _) in &legacy {
            batch.remove(k.clone());
        }
        for item in self.tree.scan_prefix([keys::DUE]) {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            if keys::customer_of_due(&k).is_none() {
                batch.remove(k);
            }
        }
        self.apply(batch)?;
        self.sync()?;
        tracing::info!(
            timers = legacy.len(),
            "moved timers into the customer records (store layout upgrade)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use crate::{
        event::Event,
        ids::CustomerId,
        store::{Store, StoreOptions, Timer, keys},
    };

    fn day(d: u32) -> Timestamp {
        format!("2026-03-{d:02}T00:00:00Z").parse().unwrap()
    }

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open(dir.path().join("db"), StoreOptions::default()).unwrap()
    }

    #[test]
    fn legacy_timers_move_into_their_records_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = open(&dir);
            let visit =
                r#"{"id":"v1","customer":"c-1","type":"visit","at":"2026-03-01T00:00:00Z"}"#;
            store
                .append(
                    crate::rules::RuleSet::none(),
                    &[Event::from_json_str(visit).unwrap()],
                )
                .unwrap();
            store.flush().unwrap();
            // What an older kizuna wrote for a timer of c-1, and one of c-2 (no record).
            for (customer, name, due) in [("c-1", "remind", 5), ("c-2", "winback", 3)] {
                let timer = Timer {
                    customer: CustomerId::new(customer).unwrap(),
                    name: name.into(),
                    due: day(due),
                    data: serde_json::json!({ "n": due }),
                    script: "old.rhai".into(),
                };
                let tail = format!("{customer}\0{name}");
                let mut t = vec![keys::LEGACY_TIMER];
                t.extend_from_slice(tail.as_bytes());
                store.insert_raw_for_test(&t, &serde_json::to_vec(&timer).unwrap());
                let mut d = keys::due_bound(day(due));
                d.extend_from_slice(tail.as_bytes());
                store.insert_raw_for_test(&d, &[]);
            }
        }
        let mut store = open(&dir);
        let timers: Vec<(String, String)> = store
            .timers()
            .unwrap()
            .into_iter()
            .map(|t| (t.customer.to_string(), t.name))
            .collect();
        assert_eq!(
            timers,
            [
                ("c-1".into(), "remind".into()),
                ("c-2".into(), "winback".into())
            ]
        );
        assert_eq!(store.next_timer_due().unwrap(), Some(day(3)));
        assert_eq!(store.tree.scan_prefix([keys::LEGACY_TIMER]).count(), 0);
        let index: Vec<_> = store
            .tree
            .scan_prefix([keys::DUE])
            .map(|item| keys::customer_of_due(&item.unwrap().0))
            .collect();
        assert_eq!(index.len(), 2, "one entry per customer, in the new layout");
        assert!(index.iter().all(Option::is_some));
        assert_eq!(
            store
                .fire_due_timers(crate::rules::RuleSet::none(), day(4))
                .unwrap()
                .appended,
            1
        );
        assert_eq!(
            store
                .fire_due_timers(crate::rules::RuleSet::none(), day(10))
                .unwrap()
                .appended,
            1
        );
        store.flush().unwrap();
        drop(store);
        let store = open(&dir);
        assert!(store.timers().unwrap().is_empty());
        assert_eq!(store.next_timer_due().unwrap(), None);
    }
}
