//! Firing timers: a due timer becomes a `timer` event in the log.
//!
//! Recording each firing as an event keeps the log the single truth: the effects of
//! `on_timer` are stored beside it exactly like those of `on_event`, a replay after a crash
//! reapplies them without running scripts, and `customer show` lists when a timer fired and
//! what it did. The event id is derived from customer, timer name and due time, so firing
//! the same timer twice (two ticks racing, a restart) stores it once.
//!
//! Which timers are due comes from the due index ([`super::due`]): the customers whose
//! earliest timer is due, whose records then say which of their timers are.

use jiff::Timestamp;

use super::{AppendReport, Store, StoreError, Timer, keys};
use crate::{
    event::Event, ids::CustomerId, internal::TimerFired, rules::RuleSet, timer::ScheduledTimer,
};

/// Rounds of [`Store::fire_due_timers`] before it stops (and leaves the rest for the next
/// tick).
pub const MAX_TIMER_ROUNDS: usize = 100;

/// A due timer of one customer.
struct Due {
    customer: CustomerId,
    name: String,
    timer: ScheduledTimer,
}

impl Store {
    /// Customers with a timer due before `bound`, earliest first as far as the tree and
    /// the overlay each go (at most `max` from each), with the due time of the entry.
    fn customers_due_before(
        &self,
        bound: Timestamp,
        max: usize,
    ) -> Result<Vec<(Timestamp, CustomerId)>, StoreError> {
        let mut found = Vec::new();
        for item in self
            .tree
            .range(keys::due_bound(Timestamp::MIN)..keys::due_bound(bound))
        {
            if found.len() >= max {
                break;
            }
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            let Some(customer) = keys::customer_of_due(&k) else {
                continue; // a legacy entry, removed by the migration at open
            };
            if self.due_overlay.hides(&customer) {
                continue;
            }
            let at = keys::due_time(&k).ok_or_else(|| self.corrupt(&k, "bad due-index key"))?;
            found.push((at, customer));
        }
        found.extend(
            self.due_overlay
                .due_before(bound)
                .take(max)
                .map(|(t, c)| (t, c.clone())),
        );
        found.sort();
        Ok(found)
    }

    /// When the earliest timer falls due, if any: lets a clock (the daemon, a replay)
    /// sleep until then instead of polling.
    pub fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .customers_due_before(Timestamp::MAX, 1)?
            .first()
            .map(|(t, _)| *t))
    }

    /// The timers due at or before `now` of (at most `max` of) the customers the index
    /// names, oldest first.
    fn due_timers(&self, now: Timestamp, max: usize) -> Result<Vec<Due>, StoreError> {
        self.due_timers_of(&self.customers_due_before(after(now), max)?, now)
    }

    /// The timers due at or before `now` of the customers of `entries`, oldest first.
    fn due_timers_of(
        &self,
        entries: &[(Timestamp, CustomerId)],
        now: Timestamp,
    ) -> Result<Vec<Due>, StoreError> {
        let mut due = Vec::new();
        for (_, customer) in entries {
            let Some(c) = self.customer_shared(customer)? else {
                continue;
            };
            for (name, timer) in c.timers.iter().filter(|(_, t)| t.due <= now) {
                due.push(Due {
                    customer: customer.clone(),
                    name: name.clone(),
                    timer: timer.clone(),
                });
            }
        }
        due.sort_by(|a, b| {
            (a.timer.due, &a.customer, &a.name).cmp(&(b.timer.due, &b.customer, &b.name))
        });
        Ok(due)
    }

    /// How many timers are due at or before `now` and not fired yet: zero while the
    /// daemon's clock keeps up, growing when it falls behind. Reads each due customer's
    /// record.
    pub fn timers_due_count(&self, now: Timestamp) -> Result<usize, StoreError> {
        Ok(self.due_timers(now, usize::MAX)?.len())
    }

    /// How many customers have a timer due at or before `now`: what the index says, without
    /// reading a record, so a monitoring probe stays cheap however large a backlog is
    /// (most customers have one timer due at a time; [`Store::timers_due_count`] counts
    /// timers exactly).
    pub fn customers_with_timers_due(&self, now: Timestamp) -> Result<usize, StoreError> {
        Ok(self.customers_due_before(after(now), usize::MAX)?.len())
    }

    /// Every timer set by rules, by customer then name.
    pub fn timers(&self) -> Result<Vec<Timer>, StoreError> {
        let mut timers = Vec::new();
        for c in self.customers() {
            let c = c?;
            for (name, t) in c.timers.iter() {
                timers.push(Timer {
                    customer: c.id.clone(),
                    name: name.clone(),
                    due: t.due,
                    data: t.data.clone(),
                    script: t.script.clone(),
                });
            }
        }
        timers.sort_by(|a, b| (&a.customer, &a.name).cmp(&(&b.customer, &b.name)));
        Ok(timers)
    }

    /// Fires every timer due at or before `now`, oldest first, by appending one `timer`
    /// event each (at the timer's due time); rules' `on_timer` runs on them. Timers that the
    /// firings set and that are already due fire too, in further rounds (at most
    /// [`MAX_TIMER_ROUNDS`], so a script that reschedules itself at `now()` cannot spin).
    pub fn fire_due_timers(
        &mut self,
        rules: &RuleSet,
        now: Timestamp,
    ) -> Result<AppendReport, StoreError> {
        self.fire_due_timers_at_most(rules, now, usize::MAX)
    }

    /// [`Store::fire_due_timers`], stopping after `max` timers (the oldest due first): a
    /// daemon that also answers requests fires a large backlog in slices, so no request
    /// waits for all of it. `report.appended == max` means more may be due.
    pub fn fire_due_timers_at_most(
        &mut self,
        rules: &RuleSet,
        now: Timestamp,
        max: usize,
    ) -> Result<AppendReport, StoreError> {
        let mut total = AppendReport::default();
        for _ in 0..MAX_TIMER_ROUNDS {
            let left = max.saturating_sub(total.appended as usize);
            if left == 0 {
                break;
            }
            let round = self.fire_round(rules, now, left)?;
            if round.appended == 0 {
                break;
            }
            total.add(round);
        }
        Ok(total)
    }

    fn fire_round(
        &mut self,
        rules: &RuleSet,
        now: Timestamp,
        max: usize,
    ) -> Result<AppendReport, StoreError> {
        let bound = after(now);
        let entries = self.customers_due_before(bound, max)?;
        let mut due = self.due_timers_of(&entries, now)?;
        let with_due: std::collections::HashSet<&CustomerId> =
            due.iter().map(|d| &d.customer).collect();
        let stale: Vec<(Timestamp, CustomerId)> = entries
            .iter()
            .filter(|(_, c)| !with_due.contains(c))
            .cloned()
            .collect();
        for (at, customer) in &stale {
            self.repair_due_entry(*at, customer)?;
        }
        due.truncate(max);
        let events: Vec<Event> = due
            .into_iter()
            .map(|d| {
                TimerFired {
                    customer: d.customer,
                    at: d.timer.due,
                    name: d.name,
                    data: d.timer.data,
                    script: d.timer.script,
                }
                .to_event()
            })
            .collect();
        self.append_owned(rules, events)
    }
}

impl Store {
    /// An index entry at `at` whose customer has nothing due is stale (see [`super::due`]):
    /// the customer's record is marked for the next checkpoint, which moves the entry to
    /// its real earliest timer; an entry of a customer without a record is removed.
    fn repair_due_entry(&mut self, at: Timestamp, customer: &CustomerId) -> Result<(), StoreError> {
        if self.due_overlay.hides(customer) {
            return Ok(());
        }
        if self.customer_shared(customer)?.is_none() {
            let mut batch = super::batch::Batch::default();
            batch.remove(keys::due(at, customer));
            return self.apply(batch);
        }
        self.load_cached(customer)?;
        if let Some(cached) = self.cache.get_mut(customer) {
            let earliest = cached.record.customer.earliest_timer();
            self.dirty += usize::from(cached.touch());
            self.due_overlay.note(customer, Some(at), earliest, true);
        }
        tracing::warn!(at = %at, "repaired a stale entry of the timers' due index");
        Ok(())
    }
}

/// The instant just after `now`: the due-index bound that includes timers due at `now`.
fn after(now: Timestamp) -> Timestamp {
    now.checked_add(jiff::SignedDuration::from_nanos(1))
        .unwrap_or(now)
}
