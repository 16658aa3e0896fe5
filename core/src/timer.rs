//! A customer's timers: what `schedule` set and `on_timer` will receive.
//!
//! Timers live in the customer's projection, beside the points and contacts they are
//! about. That makes them part of the same fold: a `schedule` or `cancel` effect changes
//! them ([`Customer::apply_effect`]), a `timer` event (the firing) removes the one that
//! fired ([`Customer::apply`]), and crash recovery,
//! replays and erasure treat them like any other part of the customer. The store keeps
//! one due-index entry per customer (its earliest timer), written with the record, so
//! resetting a reminder on every purchase costs no write of its own.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::customer::Customer;

pub use crate::internal::{TIMER_EVENT, is_timer_event};

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

impl Customer {
    /// When the customer's earliest timer falls due, if any.
    pub fn earliest_timer(&self) -> Option<Timestamp> {
        self.timers.values().map(|t| t.due).min()
    }
}
