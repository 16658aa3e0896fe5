//! Firing timers: a due timer becomes a `timer` event in the log.
//!
//! Recording each firing as an event keeps the log the single truth: the effects of
//! `on_timer` are stored beside it exactly like those of `on_event`, a replay after a crash
//! reapplies them without running scripts, and `customer show` lists when a timer fired and
//! what it did. The event id is derived from customer, timer name and due time, so firing
//! the same timer twice (two ticks racing, a restart) stores it once.

use jiff::Timestamp;
use serde_json::{Map, Value};

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

impl Store {
    /// A timer as the tree holds it (as of the last checkpoint).
    pub(super) fn stored_timer(&self, timer_key: &[u8]) -> Result<Option<Timer>, StoreError> {
        match self.tree.get(timer_key).map_err(|e| self.sled_err(e))? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| self.corrupt(timer_key, e.to_string())),
            None => Ok(None),
        }
    }

    /// The tree's due-index entries before `bound`, in due order, without those of timers
    /// that changed since the checkpoint (their pending state is what counts).
    fn stored_due_before<'a>(
        &'a self,
        bound: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, Vec<u8>), StoreError>> + 'a {
        self.tree
            .range(keys::due_bound(Timestamp::MIN)..bound.to_vec())
            .filter_map(move |item| {
                let (k, _) = match item {
                    Ok(pair) => pair,
                    Err(e) => return Some(Err(self.sled_err(e))),
                };
                let Some(timer_key) = keys::timer_of_due(&k) else {
                    return Some(Err(self.corrupt(&k, "bad due-index key")));
                };
                (!self.pending_timers.hides(&timer_key)).then_some(Ok((k, timer_key)))
            })
    }

    /// When the earliest pending timer falls due, if any: lets a clock (the daemon, a
    /// replay) sleep until then instead of polling.
    pub fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let end = keys::due_bound(Timestamp::MAX);
        let stored = match self.stored_due_before(&end).next() {
            Some(item) => {
                let (k, _) = item?;
                Some(keys::due_time(&k).ok_or_else(|| self.corrupt(&k, "bad due-index key"))?)
            }
            None => None,
        };
        let pending = self
            .pending_timers
            .due_before(&end)
            .next()
            .map(|(_, t)| t.due);
        Ok(match (stored, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// How many timers are due at or before `now` and not fired yet: zero while the
    /// daemon's clock keeps up, growing when it falls behind.
    pub fn timers_due_count(&self, now: Timestamp) -> Result<usize, StoreError> {
        let bound = keys::due_bound(after(now));
        let mut n = self.pending_timers.due_before(&bound).count();
        for item in self.stored_due_before(&bound) {
            item?;
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
        // The due index is ordered by time: read only the timers that are due, from the
        // tree and from the changes since the checkpoint, and take the earliest of both.
        let bound = keys::due_bound(after(now));
        let mut due: Vec<(Vec<u8>, Timer)> = Vec::new();
        for item in self.stored_due_before(&bound).take(max) {
            let (k, timer_key) = item?;
            let timer = self
                .stored_timer(&timer_key)?
                .ok_or_else(|| self.corrupt(&k, "the due index points at no timer"))?;
            due.push((k.to_vec(), timer));
        }
        due.extend(
            self.pending_timers
                .due_before(&bound)
                .take(max)
                .map(|(k, t)| (k.to_vec(), t.clone())),
        );
        due.sort_by(|a, b| a.0.cmp(&b.0));
        due.truncate(max);
        let events: Vec<Event> = due
            .into_iter()
            .map(|(_, t)| {
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

/// The instant just after `now`: the due-index bound that includes timers due at `now`.
fn after(now: Timestamp) -> Timestamp {
    now.checked_add(jiff::SignedDuration::from_nanos(1))
        .unwrap_or(now)
}
