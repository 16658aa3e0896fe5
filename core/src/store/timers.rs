//! Firing timers: a due timer becomes a `timer` event in the log.
//!
//! Recording each firing as an event keeps the log the single truth: the effects of
//! `on_timer` are stored beside it exactly like those of `on_event`, a replay after a crash
//! reapplies them without running scripts, and `customer show` lists when a timer fired and
//! what it did. The event id is derived from customer, timer name and due time, so firing
//! the same timer twice (two ticks racing, a restart) stores it once.

use super::batch::Batch;
use jiff::Timestamp;
use serde_json::{Map, Value};

use std::collections::HashMap;

use crate::ids::CustomerId;

use super::{AppendReport, Store, StoreError, Timer, keys};
use crate::{event::Event, ids::EventKind, time::EventTime};

/// Rounds of [`Store::fire_due_timers`] before it stops (and leaves the rest for the next
/// tick).
pub const MAX_TIMER_ROUNDS: usize = 100;

/// The event type that records a timer firing (`name` and `data` attributes).
pub const TIMER_EVENT: &str = "timer";

/// Whether `event` records a timer firing.
pub(super) fn is_timer_event(event: &Event) -> bool {
    matches!(&event.kind, EventKind::Other(k) if k == TIMER_EVENT)
}

/// Timer writes within one append: keeps the due index in step with the timers, including
/// timers set and reset earlier in the same batch (not yet visible in the tree).
///
/// Sets and clears are collected per timer and written once, at the end of the append
/// ([`TimerWrites::write`]): a timer reset by every purchase costs three writes (old index
/// entry out, timer and new index entry in) however often the batch resets it, instead of
/// four per reset. Timers are most of what an append writes: about one per event with the
/// default pack.
#[derive(Debug, Default)]
pub(super) struct TimerWrites {
    timers: HashMap<Vec<u8>, Pending>,
}

/// One timer's state before the append and after the effects so far.
#[derive(Debug)]
struct Pending {
    customer: CustomerId,
    name: String,
    /// Its due time in the tree when the append started.
    stored: Option<Timestamp>,
    /// What it is now: set (to this), or cleared.
    now: Option<Timer>,
}

impl TimerWrites {
    fn entry(
        &mut self,
        store: &Store,
        customer: &CustomerId,
        name: &str,
    ) -> Result<&mut Pending, StoreError> {
        use std::collections::hash_map::Entry;
        match self.timers.entry(keys::timer(customer, name)) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let stored = match store.tree.get(e.key()).map_err(|err| store.sled_err(err))? {
                    Some(v) => {
                        let timer: Timer = serde_json::from_slice(&v)
                            .map_err(|err| store.corrupt(e.key(), err.to_string()))?;
                        Some(timer.due)
                    }
                    None => None,
                };
                Ok(e.insert(Pending {
                    customer: customer.clone(),
                    name: name.to_owned(),
                    stored,
                    now: None,
                }))
            }
        }
    }

    /// Sets (or resets) a timer.
    pub(super) fn set(&mut self, store: &Store, timer: &Timer) -> Result<(), StoreError> {
        self.entry(store, &timer.customer, &timer.name)?.now = Some(timer.clone());
        Ok(())
    }

    /// Removes a timer, if set.
    pub(super) fn clear(
        &mut self,
        store: &Store,
        customer: &CustomerId,
        name: &str,
    ) -> Result<(), StoreError> {
        self.entry(store, customer, name)?.now = None;
        Ok(())
    }

    /// Adds the collected changes to `batch`.
    pub(super) fn write(self, store: &Store, batch: &mut Batch) -> Result<(), StoreError> {
        for (key, p) in self.timers {
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
                    let json = serde_json::to_vec(timer)
                        .map_err(|e| store.corrupt(&key, e.to_string()))?;
                    batch.insert(key, json);
                }
                None if p.stored.is_some() => batch.remove(key),
                None => {}
            }
        }
        Ok(())
    }
}

impl Store {
    /// When the earliest pending timer falls due, if any: lets a clock (the daemon, a
    /// replay) sleep until then instead of polling.
    pub fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let Some(item) = self.tree.scan_prefix([keys::DUE]).next() else {
            return Ok(None);
        };
        let (k, _) = item.map_err(|e| self.sled_err(e))?;
        keys::due_time(&k)
            .map(Some)
            .ok_or_else(|| self.corrupt(&k, "bad due-index key"))
    }

    /// How many timers are due at or before `now` and not fired yet: zero while the
    /// daemon's clock keeps up, growing when it falls behind.
    pub fn timers_due_count(&self, now: Timestamp) -> Result<usize, StoreError> {
        let after_now = now
            .checked_add(jiff::SignedDuration::from_nanos(1))
            .unwrap_or(now);
        let mut n = 0;
        for item in self
            .tree
            .range(keys::due_bound(Timestamp::MIN)..keys::due_bound(after_now))
        {
            item.map_err(|e| self.sled_err(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Fires every timer due at or before `now`, oldest first, by appending one `timer`
    /// event each (at the timer's due time); rules' `on_timer` runs on them. Timers that the
    /// firings set and that are already due fire too, in further rounds (at most
    /// [`MAX_TIMER_ROUNDS`], so a script that reschedules itself at `now()` cannot spin).
    pub fn fire_due_timers(&mut self, now: Timestamp) -> Result<AppendReport, StoreError> {
        self.fire_due_timers_at_most(now, usize::MAX)
    }

    /// [`Store::fire_due_timers`], stopping after `max` timers (the oldest due first): a
    /// daemon that also answers requests fires a large backlog in slices, so no request
    /// waits for all of it. `report.appended == max` means more may be due.
    pub fn fire_due_timers_at_most(
        &mut self,
        now: Timestamp,
        max: usize,
    ) -> Result<AppendReport, StoreError> {
        let mut total = AppendReport::default();
        for _ in 0..MAX_TIMER_ROUNDS {
            let left = max.saturating_sub(total.appended as usize);
            if left == 0 {
                break;
            }
            let round = self.fire_round(now, left)?;
            if round.appended == 0 {
                break;
            }
            total.add(round);
        }
        Ok(total)
    }

    fn fire_round(&mut self, now: Timestamp, max: usize) -> Result<AppendReport, StoreError> {
        // The due index is ordered by time: read only the timers that are due.
        let after_now = now
            .checked_add(jiff::SignedDuration::from_nanos(1))
            .unwrap_or(now);
        let mut due = Vec::new();
        for item in self
            .tree
            .range(keys::due_bound(Timestamp::MIN)..keys::due_bound(after_now))
            .take(max)
        {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            let (customer, name) =
                keys::parse_due(&k).ok_or_else(|| self.corrupt(&k, "bad due-index key"))?;
            let tkey = keys::timer(&customer, &name);
            let v = self
                .tree
                .get(&tkey)
                .map_err(|e| self.sled_err(e))?
                .ok_or_else(|| self.corrupt(&k, "the due index points at no timer"))?;
            let timer: Timer =
                serde_json::from_slice(&v).map_err(|e| self.corrupt(&tkey, e.to_string()))?;
            due.push(timer);
        }
        let events: Vec<Event> = due
            .into_iter()
            .map(|t| {
                let mut attrs = Map::new();
                attrs.insert("name".into(), Value::String(t.name.clone()));
                attrs.insert("data".into(), t.data);
                attrs.insert("script".into(), Value::String(t.script));
                let kind = EventKind::Other(TIMER_EVENT.into());
                let at = EventTime::utc(t.due);
                Event {
                    id: Event::derive_id(&t.customer, &kind, at, &attrs),
                    customer: t.customer,
                    kind,
                    at,
                    attrs,
                }
            })
            .collect();
        self.append_owned(events)
    }
}
