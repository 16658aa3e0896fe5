//! The timers' due index: one entry per customer, at the customer's earliest timer.
//!
//! Timers live in the customer's record ([`crate::timer`]). The tree's index (`d` keys) is
//! written with the record, at checkpoints, so between two checkpoints it lags for the
//! customers whose timers changed. [`DueOverlay`] holds exactly those: for each, where the
//! tree's entry is and where it should be. Reads merge the two, a customer in the overlay
//! hiding its tree entry. A checkpoint removes the old entry and writes the new one with
//! the record ([`DueOverlay::write_index`]); a scratch store removes old entries at once.
//!
//! Invariant: for a customer not in the overlay, the tree's entry is its record's earliest
//! timer (a checkpoint writes the entry with the record, or on the background thread just
//! before it, and recovery re-folds records with their timers).
//! A stale entry, should one survive anyway, costs a lookup: firing finds nothing due for
//! that customer and puts it in the overlay, so the next checkpoint repairs the entry.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;

use super::{batch::Batch, keys};
use crate::ids::CustomerId;

/// Customers whose index entry differs from the tree. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct DueOverlay {
    changed: HashMap<CustomerId, Entry>,
    /// (earliest timer now, customer) for the customers in `changed` that have one.
    order: BTreeSet<(Timestamp, CustomerId)>,
    /// Tree entries of customers whose earliest timer moved, to be removed by the next
    /// checkpoint (or, in a scratch store, by the append that moved them).
    removals: Vec<Vec<u8>>,
    /// The same for entries whose timer fired (or that were found stale): removed by the
    /// append of the firing when no background checkpoint is being written. They are at or
    /// before the clock, where every firing reads the index: skipping them until the next
    /// checkpoint made a replay quadratic and the daemon slow to catch up.
    fired_removals: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The tree's entry (as of the last checkpoint written or under way); `None` once a
    /// removal of it is queued.
    indexed: Option<Timestamp>,
    /// The customer's earliest timer now.
    now: Option<Timestamp>,
    /// A checkpoint has taken this state (its removal and new entry): once that
    /// checkpoint is written, the tree agrees and the entry can be forgotten.
    settled: bool,
}

impl DueOverlay {
    /// Records that `customer`'s earliest timer moved from `before` to `after`. `before`
    /// is the tree's entry if the customer is not known here yet (the invariant above).
    pub(super) fn note(
        &mut self,
        customer: &CustomerId,
        before: Option<Timestamp>,
        after: Option<Timestamp>,
        fired: bool,
    ) {
        let entry = match self.changed.get_mut(customer) {
            Some(entry) => {
                if let Some(t) = entry.now {
                    self.order.remove(&(t, customer.clone()));
                }
                entry
            }
            None => self.changed.entry(customer.clone()).or_insert(Entry {
                indexed: before,
                now: before,
                settled: false,
            }),
        };
        entry.now = after;
        entry.settled = false;
        if let Some(t) = after {
            self.order.insert((t, customer.clone()));
        }
        // The tree's old entry goes now, with the change that moved it (see `removals`).
        if let Some(t) = entry.indexed
            && entry.now != Some(t)
        {
            let key = keys::due(t, customer);
            if fired {
                self.fired_removals.push(key);
            } else {
                self.removals.push(key);
            }
            entry.indexed = None;
        }
    }

    /// The tree entries to remove: those of timers that fired (which every firing would
    /// otherwise skip), and with `all` the others too.
    pub(super) fn take_removals(&mut self, all: bool) -> Vec<Vec<u8>> {
        let mut keys = std::mem::take(&mut self.fired_removals);
        if all {
            keys.append(&mut self.removals);
        }
        keys
    }

    /// Whether `customer`'s tree entry is overridden here.
    pub(super) fn hides(&self, customer: &CustomerId) -> bool {
        self.changed.contains_key(customer)
    }

    /// Customers known here with a timer due before `bound`, earliest first.
    pub(super) fn due_before(
        &self,
        bound: Timestamp,
    ) -> impl Iterator<Item = (Timestamp, &CustomerId)> {
        self.order
            .iter()
            .take_while(move |(t, _)| *t < bound)
            .map(|(t, c)| (*t, c))
    }

    /// Writes `customer`'s new tree entry, in `batch` (the batch that writes its record).
    /// The old one is among the removals, which a checkpoint applies first: [`note`]
    /// queues it as soon as the entry moves.
    ///
    /// [`note`]: DueOverlay::note
    pub(super) fn write_index(&mut self, customer: &CustomerId, batch: &mut Batch) {
        let Some(entry) = self.changed.get_mut(customer) else {
            return;
        };
        if entry.indexed.is_none()
            && let Some(new) = entry.now
        {
            batch.insert(keys::due(new, customer), &[]);
            entry.indexed = Some(new);
        }
        entry.settled = true;
    }

    /// Forgets the customers a checkpoint has settled. Only once every checkpoint is
    /// written: until then the entries hide the tree's old ones. (An entry the tree merely
    /// agrees with is not enough: its removal may be queued for a checkpoint not yet
    /// started.)
    pub(super) fn forget_written(&mut self) {
        self.changed.retain(|_, e| !e.settled);
        let changed = &self.changed;
        self.order.retain(|(_, c)| changed.contains_key(c));
    }

    /// Where the tree's entry of `customer` is, if known here (`Some(None)`: no entry).
    pub(super) fn indexed(&self, customer: &CustomerId) -> Option<Option<Timestamp>> {
        self.changed.get(customer).map(|e| e.indexed)
    }

    /// Forgets `customer` (erasure).
    pub(super) fn forget(&mut self, customer: &CustomerId) {
        if let Some(Entry { now: Some(t), .. }) = self.changed.remove(customer) {
            self.order.remove(&(t, customer.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use jiff::Timestamp;

    use crate::{
        event::Event,
        rules::RuleSet,
        store::{Store, StoreOptions},
    };

    const SCRIPT: &str = r#"
        fn on_event(e, c) {
            if e.type == "visit" { schedule("remind", e.at + days(1)); }
            if e.type == "stop" { cancel("remind"); }
        }
        fn on_timer(name, c, data) { tag("reminded"); }
    "#;

    use crate::store::ruled::Ruled;

    fn with_rules(store: Store) -> Ruled {
        let rules = RuleSet::compile(vec![("r.rhai".into(), SCRIPT.into())], None).unwrap();
        Ruled::new(store, Arc::new(rules))
    }

    fn open(dir: &tempfile::TempDir) -> Ruled {
        with_rules(Store::open(dir.path().join("db"), StoreOptions::default()).unwrap())
    }

    fn ev(id: &str, kind: &str, customer: &str, day: u32) -> Event {
        Event::from_json_str(&format!(
            r#"{{"id":"{id}","customer":"{customer}","type":"{kind}","at":"2026-03-{day:02}T00:00:00Z"}}"#
        ))
        .unwrap()
    }

    fn day(d: u32) -> Timestamp {
        format!("2026-03-{d:02}T00:00:00Z").parse().unwrap()
    }

    /// (customer, due day) of every timer.
    fn timers(store: &Store) -> Vec<(String, i8)> {
        let timers = store.timers().unwrap();
        timers
            .iter()
            .map(|t| {
                (
                    t.customer.to_string(),
                    t.due.to_zoned(jiff::tz::TimeZone::UTC).day(),
                )
            })
            .collect()
    }

    #[test]
    fn index_changes_after_a_checkpoint_hide_the_tree_and_survive_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = open(&dir);
            store
                .append(&[ev("a1", "visit", "c-1", 1), ev("b1", "visit", "c-2", 1)])
                .unwrap();
            store.flush().unwrap(); // both timers (due 2 March) in the tree
            store
                .append(&[
                    ev("a2", "visit", "c-1", 5), // reset to 6 March
                    ev("b2", "stop", "c-2", 5),  // cancelled
                    ev("c1", "visit", "c-3", 5), // new, due 6 March
                ])
                .unwrap();
            let check = |store: &Store| {
                assert_eq!(timers(store), [("c-1".into(), 6), ("c-3".into(), 6)]);
                assert_eq!(store.next_timer_due().unwrap(), Some(day(6)));
                // The tree's entries for 2 March are stale: nothing is due on the 3rd.
                assert_eq!(store.timers_due_count(day(3)).unwrap(), 0);
                assert_eq!(store.timers_due_count(day(6)).unwrap(), 2);
                assert_eq!(store.customers_with_timers_due(day(6)).unwrap(), 2);
                assert_eq!(store.customers_with_timers_due(day(3)).unwrap(), 0);
            };
            check(&store);
            // A crash: the events are durable, the records and the index were not written.
            store.sync_events().unwrap();
            drop(store);
            let store = open(&dir);
            check(&store);
        }
        let mut store = open(&dir);
        assert_eq!(store.fire_due_timers(day(3)).unwrap().appended, 0);
        assert_eq!(store.fire_due_timers(day(10)).unwrap().appended, 2);
        assert!(timers(&store).is_empty());
        store.flush().unwrap();
        // A checkpoint cut short (its marker behind the records it wrote): re-folding the
        // log gives the same timers, and nothing fires twice.
        store.set_meta_for_test("checkpoint", 0);
        drop(store);
        let mut store = open(&dir);
        assert!(timers(&store).is_empty());
        assert_eq!(store.next_timer_due().unwrap(), None);
        assert_eq!(store.fire_due_timers(day(30)).unwrap().appended, 0);
        let tagged = |id: &str| {
            let c = store.customer(&id.parse().unwrap()).unwrap().unwrap();
            c.tags.contains("reminded")
        };
        assert!(tagged("c-1") && tagged("c-3") && !tagged("c-2"));
    }

    #[test]
    fn firing_takes_the_earliest_of_the_tree_and_the_overlay() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        store.append(&[ev("a1", "visit", "c-a", 4)]).unwrap();
        store.flush().unwrap(); // c-a due 5 March, in the tree
        store
            .append(&[ev("b1", "visit", "c-b", 2), ev("c1", "visit", "c-c", 6)])
            .unwrap(); // c-b due 3rd, c-c due 7th, pending
        let fired = |store: &mut Store| {
            store
                .fire_due_timers_at_most(crate::rules::RuleSet::none(), day(10), 1)
                .unwrap();
            let mut left: Vec<_> = timers(store).into_iter().map(|(c, _)| c).collect();
            left.sort();
            left
        };
        assert_eq!(fired(&mut store), ["c-a", "c-c"]);
        assert_eq!(fired(&mut store), ["c-c"]);
        assert!(fired(&mut store).is_empty());
        // A live store removes the entries of fired timers with the firing.
        assert_eq!(store.tree.scan_prefix([crate::store::keys::DUE]).count(), 0);
    }

    #[test]
    fn a_scratch_store_removes_fired_entries_with_the_firing() {
        let mut store = with_rules(Store::open_temporary().unwrap());
        let visits: Vec<Event> = (1..=5)
            .map(|d| ev(&format!("v{d}"), "visit", &format!("c-{d}"), d))
            .collect();
        store.append(&visits).unwrap();
        store.checkpoint().unwrap(); // (as every 50,000 changed customers)
        assert_eq!(store.tree.scan_prefix([crate::store::keys::DUE]).count(), 5);
        assert_eq!(store.fire_due_timers(day(10)).unwrap().appended, 5);
        // Nothing left for a replay's clock to skip at its next step.
        assert_eq!(store.tree.scan_prefix([crate::store::keys::DUE]).count(), 0);
        assert_eq!(store.next_timer_due().unwrap(), None);
    }
}

#[cfg(test)]
mod repair_tests {
    use super::*;
    use crate::{
        event::Event,
        store::{Store, StoreOptions},
    };

    #[test]
    fn a_stale_index_entry_fires_nothing_and_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
        let visit = r#"{"id":"v1","customer":"c-1","type":"visit","at":"2026-03-01T00:00:00Z"}"#;
        store
            .append(
                crate::rules::RuleSet::none(),
                &[Event::from_json_str(visit).unwrap()],
            )
            .unwrap();
        store.flush().unwrap();
        let at: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
        for id in ["c-1", "c-9"] {
            // c-1 has a record and no timers; c-9 has no record at all.
            let key = keys::due(at, &CustomerId::new(id).unwrap());
            store.insert_raw_for_test(&key, &[]);
        }
        assert_eq!(store.next_timer_due().unwrap(), Some(at));
        let now: Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
        assert_eq!(
            store
                .fire_due_timers(crate::rules::RuleSet::none(), now)
                .unwrap()
                .appended,
            0
        );
        store.flush().unwrap();
        assert_eq!(store.next_timer_due().unwrap(), None);
        assert_eq!(store.tree.scan_prefix([keys::DUE]).count(), 0);
        assert_eq!(store.customer_count().unwrap(), 1, "no record made for c-9");
    }
}
