//! Timer changes not yet written to the tree: the timers' part of a checkpoint.
//!
//! Timers are a projection of the log, like customer records: every `schedule` and `cancel`
//! is recorded among its event's effects, and every firing is a `timer` event. So they need
//! not be written with each append. A change is held here until the next checkpoint writes
//! the final state of every timer it touched, once; a crash in between loses nothing,
//! because opening the store re-applies the timer effects of the log after the last
//! checkpoint ([`Store::recover`](super::Store)).
//!
//! Why: the default pack resets two timers on every purchase (the repurchase and
//! cross-sell reminders). Written with the event, each reset cost a read and three sled
//! writes (the timer, the old index entry out, the new one in): about half of the
//! daemon's ingest time. Here a reset is two map updates, and a timer reset many times
//! between checkpoints is written once.
//!
//! Re-applying is safe even over a checkpoint that a crash cut short: the state of each
//! timer after the log tail is the last change the tail made to it, whatever the tree held
//! before, and a timer's record and index entries are always written in one batch.
//!
//! Reads merge the two: a timer known here hides whatever the tree holds for it. After a
//! checkpoint the written timers stay known, as clean entries equal to the tree, so the next
//! reset of the same timer needs no read of the tree (up to [`KEEP_CLEAN`] of them).

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use super::{Store, StoreError, Timer, batch::Batch, keys, timers::is_timer_event};
use crate::{
    event::Event,
    ids::CustomerId,
    rules::{AppliedEffect, Effect},
};

/// Timers written at a checkpoint that stay known (clean) afterwards, at most.
const KEEP_CLEAN: usize = 200_000;

/// Timer changes since the last checkpoint. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct PendingTimers {
    /// By timer key ([`keys::timer`]): changed timers, and clean ones equal to the tree.
    changes: HashMap<Vec<u8>, Pending>,
    /// How many entries of `changes` are not written yet.
    dirty: usize,
    /// Due-index key → timer key, for the timers `changes` sets: the pending part of the
    /// due index.
    due: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// One timer's state in the tree and now.
#[derive(Debug)]
struct Pending {
    customer: CustomerId,
    name: String,
    /// Its due time in the tree (as of the last checkpoint).
    stored: Option<Timestamp>,
    /// What it is now: set (to this), or cleared.
    now: Option<Timer>,
    /// `now` is not written yet.
    dirty: bool,
}

impl PendingTimers {
    /// Timers with a change not written yet.
    pub(super) fn len(&self) -> usize {
        self.dirty
    }

    /// Whether the timer with key `timer_key` is known here, which then overrides the
    /// tree.
    pub(super) fn hides(&self, timer_key: &[u8]) -> bool {
        self.changes.contains_key(timer_key)
    }

    /// Timers set since the checkpoint and due before `bound` (a [`keys::due_bound`]), in
    /// due order, with their due-index keys.
    pub(super) fn due_before<'a>(
        &'a self,
        bound: &[u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a Timer)> + 'a {
        self.due
            .range(..bound.to_vec())
            .filter_map(|(due_key, timer_key)| {
                let timer = self.changes.get(timer_key)?.now.as_ref()?;
                Some((due_key.as_slice(), timer))
            })
    }

    /// Every timer set since the checkpoint, by timer key.
    pub(super) fn set_timers(&self) -> impl Iterator<Item = (&[u8], &Timer)> {
        self.changes
            .iter()
            .filter_map(|(k, p)| Some((k.as_slice(), p.now.as_ref()?)))
    }

    /// Applies the timer part of one event and its effects: a `timer` event clears the
    /// timer that fired, `schedule` sets (or resets) one, `cancel` clears one. Used on
    /// append (effects from the rules) and on recovery (effects from the log) alike.
    pub(super) fn record(
        &mut self,
        store: &Store,
        event: &Event,
        effects: &[AppliedEffect],
    ) -> Result<(), StoreError> {
        if is_timer_event(event) {
            // The timer has fired; an effect below may set it again.
            if let Some(name) = event.attr_str("name") {
                self.change(store, &event.customer, name, None)?;
            }
        }
        for e in effects {
            match &e.effect {
                Effect::Schedule { name, at, data } => {
                    let timer = Timer {
                        customer: event.customer.clone(),
                        name: name.clone(),
                        due: *at,
                        data: data.clone(),
                        script: e.script.clone(),
                    };
                    self.change(store, &event.customer, name, Some(timer))?;
                }
                Effect::Cancel { name } => self.change(store, &event.customer, name, None)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Sets (`Some`) or clears (`None`) the timer `name` of `customer`.
    fn change(
        &mut self,
        store: &Store,
        customer: &CustomerId,
        name: &str,
        to: Option<Timer>,
    ) -> Result<(), StoreError> {
        use std::collections::hash_map::Entry;
        let key = keys::timer(customer, name);
        let pending = match self.changes.entry(key.clone()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let stored = store.stored_timer(e.key())?.map(|t| t.due);
                e.insert(Pending {
                    customer: customer.clone(),
                    name: name.to_owned(),
                    stored,
                    now: None,
                    dirty: false,
                })
            }
        };
        if let Some(old) = &pending.now {
            self.due.remove(&keys::due(old.due, customer, name));
        }
        if let Some(new) = &to {
            self.due.insert(keys::due(new.due, customer, name), key);
        }
        pending.now = to;
        if !pending.dirty {
            pending.dirty = true;
            self.dirty += 1;
        }
        Ok(())
    }

    /// Drops the pending changes of `customer` (erasure: the tree's timers go too).
    pub(super) fn forget(&mut self, customer: &CustomerId) {
        self.changes.retain(|_, p| &p.customer != customer);
        self.dirty = self.changes.values().filter(|p| p.dirty).count();
        let changes = &self.changes;
        self.due
            .retain(|_, timer_key| changes.contains_key(timer_key));
    }

    /// Writes every change into batches of at most `per_batch` timers (a timer's record
    /// and index entries always in the same batch); the timers stay known, clean, until
    /// [`PendingTimers::trim`].
    pub(super) fn drain(
        &mut self,
        store: &Store,
        per_batch: usize,
    ) -> Result<Vec<Batch>, StoreError> {
        let mut batches = Vec::new();
        let mut batch = Batch::default();
        let mut in_batch = 0;
        for (key, p) in self.changes.iter_mut().filter(|(_, p)| p.dirty) {
            p.dirty = false;
            let new_due = p.now.as_ref().map(|t| t.due);
            if p.stored != new_due {
                if let Some(old) = p.stored {
                    batch.remove(keys::due(old, &p.customer, &p.name));
                }
                if let Some(due) = new_due {
                    batch.insert(keys::due(due, &p.customer, &p.name), &[]);
                }
            }
            match &p.now {
                Some(timer) => {
                    let json =
                        serde_json::to_vec(timer).map_err(|e| store.corrupt(key, e.to_string()))?;
                    batch.insert(key.as_slice(), json);
                }
                None if p.stored.is_some() => batch.remove(key.as_slice()),
                None => {}
            }
            p.stored = new_due;
            in_batch += 1;
            if in_batch == per_batch {
                batches.push(std::mem::take(&mut batch));
                in_batch = 0;
            }
        }
        if in_batch > 0 {
            batches.push(batch);
        }
        self.dirty = 0;
        Ok(batches)
    }

    /// Whether more timers are known than [`PendingTimers::trim`] keeps.
    pub(super) fn too_many(&self) -> bool {
        self.changes.len() > KEEP_CLEAN
    }

    /// Forgets the clean timers if there are too many. Only once they are written: until
    /// then they hide stale entries of the tree.
    pub(super) fn trim(&mut self) {
        if self.too_many() {
            self.changes.retain(|_, p| p.dirty);
            let changes = &self.changes;
            self.due
                .retain(|_, timer_key| changes.contains_key(timer_key));
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

    fn open(dir: &tempfile::TempDir) -> Store {
        let rules = RuleSet::compile(vec![("r.rhai".into(), SCRIPT.into())], None).unwrap();
        let mut store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
        store.set_rules(Arc::new(rules));
        store
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
    fn changes_after_a_checkpoint_hide_the_tree_and_survive_a_crash() {
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
            };
            check(&store);
            // A crash: the events are durable, the timer changes were never written.
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
        // A checkpoint cut short (its marker behind the timers it wrote): re-applying the
        // whole log gives the same timers, and nothing fires twice.
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
    fn firing_takes_the_earliest_of_the_tree_and_the_pending_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        store.append(&[ev("a1", "visit", "c-a", 4)]).unwrap();
        store.flush().unwrap(); // c-a due 5 March, in the tree
        store
            .append(&[ev("b1", "visit", "c-b", 2), ev("c1", "visit", "c-c", 6)])
            .unwrap(); // c-b due 3rd, c-c due 7th, pending
        let fired = |store: &mut Store| {
            store.fire_due_timers_at_most(day(10), 1).unwrap();
            let mut left: Vec<_> = timers(store).into_iter().map(|(c, _)| c).collect();
            left.sort();
            left
        };
        assert_eq!(fired(&mut store), ["c-a", "c-c"]);
        assert_eq!(fired(&mut store), ["c-c"]);
        assert!(fired(&mut store).is_empty());
    }
}
