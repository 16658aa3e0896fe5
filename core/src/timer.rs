//! A customer's timers: what `schedule` set and `on_timer` will receive.
//!
//! Timers live in the customer's projection, beside the points and contacts they are
//! about. That makes them part of the same fold: a `schedule` or `cancel` effect changes
//! them, a `timer` event (the firing) removes the one that fired, and crash recovery,
//! replays and erasure treat them like any other part of the customer. The store keeps
//! one due-index entry per customer (its earliest timer), written with the record, so
//! resetting a reminder on every purchase costs no write of its own.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    customer::Customer,
    event::Event,
    ids::EventKind,
    rules::{AppliedEffect, Effect},
};

/// The event type that records a timer firing (`name`, `data` and `script` attributes).
pub const TIMER_EVENT: &str = "timer";

/// A timer set by `schedule(name, when, data)`; its name is its key in
/// [`Customer::timers`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledTimer {
    /// When it falls due.
    pub due: Timestamp,
    /// Data for `on_timer`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// The script that set it.
    pub script: String,
}

/// Whether `event` records a timer firing.
pub fn is_timer_event(event: &Event) -> bool {
    matches!(&event.kind, EventKind::Other(k) if k == TIMER_EVENT)
}

impl Customer {
    /// When the customer's earliest timer falls due, if any.
    pub fn earliest_timer(&self) -> Option<Timestamp> {
        self.timers.values().map(|t| t.due).min()
    }

    /// Applies the timer part of an event and its (accepted) effects: a `timer` event
    /// removes the timer that fired, `schedule` sets or replaces one (one per name),
    /// `cancel` removes one. In effect order, so a script that reschedules its own timer
    /// in `on_timer` keeps the new one.
    pub(crate) fn apply_timers(&mut self, event: &Event, effects: &[AppliedEffect]) {
        if is_timer_event(event)
            && let Some(name) = event.attr_str("name")
        {
            self.timers.remove(name);
        }
        for e in effects {
            match &e.effect {
                Effect::Schedule { name, at, data } => {
                    let timer = ScheduledTimer {
                        due: *at,
                        data: data.clone(),
                        script: e.script.clone(),
                    };
                    self.timers.insert(name.clone(), timer);
                }
                Effect::Cancel { name } => {
                    self.timers.remove(name);
                }
                _ => {}
            }
        }
    }
}
