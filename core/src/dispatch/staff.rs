//! Staff messages at dispatch: addressed to their recipient, rendered from the alerts as
//! they are now, past no customer guard ([`crate::staff`]).
//!
//! What a staff template sees: `recipient`, `message`, and either `alert` (a notice or an
//! escalation) or `alerts` and `date` (a digest). An alert there has `id`, `kind`, `text`,
//! `priority`, `at` (local time of the staff's zone), `age` ("5 h 12 min"), `acked_by`,
//! and `customer` (`id`, `name`). A notice whose alert is no longer open when it goes out
//! (resolved, answered, erased) is suppressed with that reason, as is a digest none of
//! whose alerts is.

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde_json::{Value, json};

use super::{Decision, Dispatcher, render};
use crate::store::{Alert, AlertId, MessageStatus, OutboxMessage, Store, StoreError};

/// The guard name a suppressed staff message carries.
const GUARD: &str = "staff";

impl Dispatcher {
    /// Renders and addresses a staff message.
    pub(super) fn evaluate_staff(
        &self,
        store: &Store,
        templates: &minijinja::Environment<'static>,
        message: &OutboxMessage,
        now: Timestamp,
    ) -> Result<Decision, StoreError> {
        let dead = |reason: String| Ok(Decision::Final(MessageStatus::Dead { reason }));
        let Some(channel) = self.channels.get(&message.channel) else {
            return dead(format!("no channel {:?} is configured", message.channel));
        };
        let Some(to) = message.to.clone() else {
            return dead("a staff message without a recipient address".into());
        };
        let context = match context(store, message, now)? {
            Ok(context) => context,
            Err(reason) => {
                return Ok(Decision::Final(MessageStatus::Suppressed {
                    guard: GUARD.into(),
                    reason,
                }));
            }
        };
        match render::render(templates, message, channel.shape.format, &context) {
            Ok(rendered) => Ok(Decision::Send(super::outgoing(message, to, rendered))),
            Err(reason) => dead(reason),
        }
    }
}

/// The template context of a staff message, or why it is not worth sending any more.
fn context(
    store: &Store,
    message: &OutboxMessage,
    now: Timestamp,
) -> Result<Result<Value, String>, StoreError> {
    let vars = &message.vars;
    let tz = vars
        .get("tz")
        .and_then(Value::as_str)
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let mut context = json!({
        "recipient": vars.get("recipient").cloned().unwrap_or(Value::Null),
        "message": {"id": message.id.to_string(), "class": message.class},
    });
    if let Some(id) = vars.get("alert").and_then(Value::as_str) {
        let alert = match open_alert(store, id)? {
            Ok(alert) => alert,
            Err(reason) => return Ok(Err(reason)),
        };
        context["alert"] = describe(store, &alert, &tz, now)?;
    } else {
        let ids = vars.get("alerts").and_then(Value::as_array);
        let mut alerts = Vec::new();
        for id in ids.into_iter().flatten().filter_map(Value::as_str) {
            if let Ok(alert) = open_alert(store, id)? {
                alerts.push(describe(store, &alert, &tz, now)?);
            }
        }
        if alerts.is_empty() {
            return Ok(Err("none of the digest's alerts is open any more".into()));
        }
        context["alerts"] = Value::Array(alerts);
        context["date"] = vars.get("date").cloned().unwrap_or(Value::Null);
    }
    Ok(Ok(context))
}

/// The alert named `id` if it is still open, else why not.
fn open_alert(store: &Store, id: &str) -> Result<Result<Alert, String>, StoreError> {
    let Ok(parsed) = id.parse::<AlertId>() else {
        return Ok(Err(format!("{id:?} is not an alert id")));
    };
    let Some(alert) = store.alert(parsed)? else {
        return Ok(Err(format!("alert {id} is gone (its customer was erased)")));
    };
    if let Some(resolved) = &alert.resolved {
        let by = resolved.by.as_deref().unwrap_or("staff");
        return Ok(Err(format!(
            "alert {id} was resolved by {by} before this went out"
        )));
    }
    if !store.is_open(&alert)? {
        return Ok(Err(format!(
            "alert {id} is no longer open: the customer was answered"
        )));
    }
    Ok(Ok(alert))
}

/// An alert as a staff template sees it.
fn describe(
    store: &Store,
    alert: &Alert,
    tz: &TimeZone,
    now: Timestamp,
) -> Result<Value, StoreError> {
    let name = store
        .customer_shared(&alert.customer)?
        .and_then(|c| c.profile.name.clone());
    Ok(json!({
        "id": alert.id.to_string(),
        "kind": alert.kind(),
        "text": alert.text,
        "priority": alert.priority,
        "at": alert.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string(),
        "age": age(now.duration_since(alert.at)),
        "acked_by": alert.acked.as_ref().map(|h| h.by.clone().unwrap_or_else(|| "staff".into())),
        "customer": {"id": alert.customer, "name": name},
    }))
}

/// A duration as staff read it: `2 d 3 h`, `5 h 12 min`, `12 min`.
fn age(d: SignedDuration) -> String {
    let mins = d.as_secs().max(0) / 60;
    let (days, hours, mins) = (mins / 1440, mins / 60 % 24, mins % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, h) => format!("{h} h {mins} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_person_says_them() {
        assert_eq!(age(SignedDuration::from_mins(12)), "12 min");
        assert_eq!(age(SignedDuration::from_mins(5 * 60 + 12)), "5 h 12 min");
        assert_eq!(age(SignedDuration::from_hours(51)), "2 d 3 h");
        assert_eq!(age(SignedDuration::from_mins(-3)), "0 min");
    }
}
