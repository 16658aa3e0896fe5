//! Promises (約束): what staff told a customer they would do, and by when.
//!
//! "Whatever its size, a promise once made must be kept." A `promise` event records one
//! (`what`, `due`, optionally `by` — the staff member — and `ref`, the name later events use
//! for it, by default the event's id); `delay` moves its due time and says why (`reason`,
//! `new_due`), which the default pack turns into a notice to the customer; `fulfilled` closes
//! it. The customer's projection keeps the open ones and counts those kept on time and
//! late; a promise still open after its due time is broken, and stays so until fulfilled.
//! Fields are checked at the door ([`field_errors`]), so a promise without a due time is
//! refused with the field named, never stored half-formed.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{Event, FieldError};

/// The event types of this module.
pub const PROMISE: &str = "promise";
/// A promise was kept.
pub const FULFILLED: &str = "fulfilled";
/// A promise will be late.
pub const DELAY: &str = "delay";

/// An open promise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promise {
    /// Its name (`ref`, or the promise event's id).
    #[serde(rename = "ref")]
    pub reference: String,
    /// What was promised.
    pub what: String,
    /// By when (moved by a `delay`).
    pub due: Timestamp,
    /// The staff member who made it, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When it was made.
    pub made: Timestamp,
    /// Why it was delayed, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delayed: Option<String>,
}

/// A customer's promises: the open ones and how the closed ones went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Promises {
    /// Not yet fulfilled, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<Promise>,
    /// Fulfilled by their (last) due time.
    #[serde(default)]
    pub kept: u64,
    /// Fulfilled after it.
    #[serde(default)]
    pub late: u64,
}

impl Promises {
    /// Whether there is nothing to keep or report.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.kept == 0 && self.late == 0
    }

    /// The open promises whose due time has passed at `now`.
    pub fn broken(&self, now: Timestamp) -> impl Iterator<Item = &Promise> {
        self.open.iter().filter(move |p| p.due < now)
    }

    /// Folds `event` in, if it is about a promise.
    pub fn apply(&mut self, event: &Event) {
        let name = event.kind.as_str();
        let reference = || {
            event
                .attr_str("ref")
                .map_or_else(|| event.id.to_string(), str::to_owned)
        };
        match name {
            PROMISE => {
                let (Some(what), Some(due)) = (event.attr_str("what"), time(&event.attrs, "due"))
                else {
                    return;
                };
                let reference = reference();
                self.open.retain(|p| p.reference != reference);
                self.open.push(Promise {
                    reference,
                    what: what.to_owned(),
                    due,
                    by: event.attr_str("by").map(str::to_owned),
                    made: event.at.instant(),
                    delayed: None,
                });
            }
            DELAY => {
                let reference = reference();
                if let Some(p) = self.open.iter_mut().find(|p| p.reference == reference) {
                    if let Some(until) = time(&event.attrs, "new_due") {
                        p.due = until;
                    }
                    p.delayed = event.attr_str("reason").map(str::to_owned);
                }
            }
            FULFILLED => {
                let reference = reference();
                if let Some(i) = self.open.iter().position(|p| p.reference == reference) {
                    let p = self.open.remove(i);
                    if event.at.instant() <= p.due {
                        self.kept += 1;
                    } else {
                        self.late += 1;
                    }
                }
            }
            _ => {}
        }
    }
}

fn time(attrs: &Map<String, Value>, field: &str) -> Option<Timestamp> {
    attrs.get(field)?.as_str()?.parse().ok()
}

/// What is wrong with the fields of a `promise`, `delay` or `fulfilled` event.
pub fn field_errors(kind: &str, attrs: &Map<String, Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let text = |field: &str, required: bool, errors: &mut Vec<FieldError>| match attrs.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        None if !required => {}
        None => errors.push(FieldError::new(field, "is required")),
        Some(_) => errors.push(FieldError::new(field, "must be a non-empty string")),
    };
    let when = |field: &str, required: bool, errors: &mut Vec<FieldError>| match attrs.get(field) {
        None if !required => {}
        None => errors.push(FieldError::new(
            field,
            "is required: a time with its offset (RFC 3339, like 2026-03-06T18:00:00+09:00)",
        )),
        Some(_) if time(attrs, field).is_some() => {}
        Some(_) => errors.push(FieldError::new(
            field,
            "is not a time with an offset (RFC 3339, like 2026-03-06T18:00:00+09:00)",
        )),
    };
    match kind {
        PROMISE => {
            text("what", true, &mut errors);
            when("due", true, &mut errors);
            text("by", false, &mut errors);
            text("ref", false, &mut errors);
        }
        DELAY => {
            text("ref", true, &mut errors);
            text("reason", true, &mut errors);
            when("new_due", false, &mut errors);
        }
        FULFILLED => text("ref", true, &mut errors),
        _ => {}
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> Event {
        Event::from_json_str(json).unwrap()
    }

    #[test]
    fn promises_are_kept_late_or_broken() {
        let mut p = Promises::default();
        for json in [
            r#"{"id":"p1","customer":"c-1","type":"promise","at":"2026-03-01T10:00:00+09:00","what":"call back","due":"2026-03-06T18:00:00+09:00","by":"Ken"}"#,
            r#"{"customer":"c-1","type":"promise","at":"2026-03-01T11:00:00+09:00","what":"ship","due":"2026-03-10T00:00:00+09:00","ref":"order-7"}"#,
            r#"{"customer":"c-1","type":"promise","at":"2026-03-01T12:00:00+09:00","what":"estimate","due":"2026-03-02T00:00:00+09:00","ref":"est"}"#,
            r#"{"customer":"c-1","type":"delay","at":"2026-03-05T09:00:00+09:00","ref":"order-7","reason":"the beans are late","new_due":"2026-03-12T00:00:00+09:00"}"#,
            r#"{"customer":"c-1","type":"fulfilled","at":"2026-03-06T17:00:00+09:00","ref":"p1"}"#,
            r#"{"customer":"c-1","type":"fulfilled","at":"2026-03-03T00:00:00+09:00","ref":"est"}"#,
            r#"{"customer":"c-1","type":"fulfilled","at":"2026-03-03T00:00:00+09:00","ref":"nothing"}"#,
        ] {
            p.apply(&ev(json));
        }
        assert_eq!((p.kept, p.late), (1, 1));
        assert_eq!(p.open.len(), 1);
        let open = &p.open[0];
        assert_eq!(open.reference, "order-7");
        assert_eq!(open.delayed.as_deref(), Some("the beans are late"));
        assert_eq!(
            open.due.to_string(),
            "2026-03-11T15:00:00Z",
            "moved by the delay"
        );
        let before: Timestamp = "2026-03-11T00:00:00Z".parse().unwrap();
        let after: Timestamp = "2026-03-12T00:00:00Z".parse().unwrap();
        assert_eq!(p.broken(before).count(), 0);
        assert_eq!(p.broken(after).count(), 1);
    }

    #[test]
    fn a_promise_without_a_due_time_is_refused_with_the_field_named() {
        let fields = |json: &str| -> Vec<String> {
            Event::from_json_str(json)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(
                r#"{"customer":"c-1","type":"promise","at":"2026-03-01T10:00:00Z","what":"call back"}"#
            ),
            ["due"]
        );
        assert_eq!(
            fields(
                r#"{"customer":"c-1","type":"promise","at":"2026-03-01T10:00:00Z","what":"","due":"Friday"}"#
            ),
            ["what", "due"]
        );
        assert_eq!(
            fields(r#"{"customer":"c-1","type":"fulfilled","at":"2026-03-01T10:00:00Z"}"#),
            ["ref"]
        );
        assert_eq!(
            fields(r#"{"customer":"c-1","type":"delay","at":"2026-03-01T10:00:00Z","ref":"p1"}"#),
            ["reason"]
        );
    }
}
