//! Firing timers: a due timer becomes a `timer` event in the log.
//!
//! Recording each firing as an event keeps the log the single truth: the effects of
//! `on_timer` are stored beside it exactly like those of `on_event`, a replay after a crash
//! reapplies them without running scripts, and `customer show` lists when a timer fired and
//! what it did. The event id is derived from customer, timer name and due time, so firing
//! the same timer twice (two ticks racing, a restart) stores it once.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::{AppendReport, Store, StoreError};
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
    /// Fires every timer due at or before `now`, oldest first, by appending one `timer`
    /// event each (at the timer's due time); rules' `on_timer` runs on them. Timers that the
    /// firings set and that are already due fire too, in further rounds (at most
    /// [`MAX_TIMER_ROUNDS`], so a script that reschedules itself at `now()` cannot spin).
    pub fn fire_due_timers(&mut self, now: Timestamp) -> Result<AppendReport, StoreError> {
        let mut total = AppendReport::default();
        for _ in 0..MAX_TIMER_ROUNDS {
            let round = self.fire_round(now)?;
            if round.appended == 0 {
                break;
            }
            total.add(round);
        }
        Ok(total)
    }

    fn fire_round(&mut self, now: Timestamp) -> Result<AppendReport, StoreError> {
        let mut due: Vec<_> = self
            .timers()?
            .into_iter()
            .filter(|t| t.due <= now)
            .collect();
        due.sort_by(|a, b| a.due.cmp(&b.due).then_with(|| a.customer.cmp(&b.customer)));
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
