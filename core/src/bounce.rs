//! Addresses that bounce: the `email_bounced` events of a customer's current addresses.
//!
//! A mail system's report that a message could not be delivered becomes an
//! `email_bounced` event (`kind` hard or soft, `reason`, `channel`, `address`). The
//! projection keeps the recent ones **for the addresses the customer still has**: a report
//! about an address the profile no longer holds is ignored, and a profile change that
//! replaces an address forgets its bounces — a customer who gives a new e-mail address is
//! written to again. What to do with them is policy, in `guards/deliverable.rhai`
//! (`customer.bounces`): a hard bounce stops mail to the address, so do a few soft ones in
//! a while.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use crate::{
    event::{Event, FieldError},
    ids::EventKind,
};

/// The `type` of a bounce event.
pub const EMAIL_BOUNCED: &str = "email_bounced";

/// An `email_bounced` event, as kizuna writes it: the one door for the dispatcher (an
/// address refused at send time) and the channels' bounce reports.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailBounced {
    /// The event's id.
    pub id: String,
    /// The customer.
    pub customer: crate::ids::CustomerId,
    /// When it was heard of.
    pub at: Timestamp,
    /// The channel the message went out on.
    pub channel: String,
    /// Hard (`true`) or soft.
    pub hard: bool,
    /// The mail system's words.
    pub reason: String,
    /// The address that bounced, if known.
    pub address: Option<String>,
    /// The message, if known.
    pub message: Option<String>,
    /// Its campaign, if any.
    pub campaign: Option<String>,
}

impl EmailBounced {
    /// The event, checked at the door.
    pub fn to_event(&self) -> Result<Event, Vec<FieldError>> {
        let mut obj = Map::new();
        obj.insert("id".into(), self.id.clone().into());
        obj.insert("customer".into(), self.customer.as_str().into());
        obj.insert("type".into(), EMAIL_BOUNCED.into());
        obj.insert("at".into(), self.at.to_string().into());
        obj.insert("channel".into(), self.channel.clone().into());
        obj.insert(
            "kind".into(),
            if self.hard { "hard" } else { "soft" }.into(),
        );
        obj.insert("reason".into(), self.reason.clone().into());
        for (k, v) in [
            ("address", &self.address),
            ("message", &self.message),
            ("campaign", &self.campaign),
        ] {
            if let Some(v) = v {
                obj.insert(k.into(), v.clone().into());
            }
        }
        Event::from_json(obj)
    }
}

/// Bounces kept per customer (the newest).
const KEEP: usize = 16;

/// What is wrong with an `email_bounced` event's fields: `kind` must be `hard` or `soft`,
/// `channel` a name; `address` and `reason`, if given, text.
pub fn field_errors(attrs: &Map<String, Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match attrs.get("kind").and_then(Value::as_str) {
        Some("hard" | "soft") => {}
        _ => errors.push(FieldError::new("kind", "must be \"hard\" or \"soft\"")),
    }
    if attrs
        .get("channel")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(FieldError::new(
            "channel",
            "is required: the channel the message went out on (like \"email\")",
        ));
    }
    for field in ["address", "reason"] {
        if attrs.get(field).is_some_and(|v| !v.is_string()) {
            errors.push(FieldError::new(field, "must be text"));
        }
    }
    errors
}

/// One bounce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounced {
    /// When it was reported.
    pub at: Timestamp,
    /// `hard` or `soft`.
    pub kind: String,
    /// The channel the message went out on.
    pub channel: String,
    /// The address that bounced (`None`: the report did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The mail system's words.
    pub reason: String,
}

/// A customer's recent bounces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bounces(pub Vec<Bounced>);

impl Bounces {
    /// Whether there are none (for `skip_serializing_if`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records `event` if it is a bounce of an address in `current`.
    pub fn apply(&mut self, event: &Event, current: &[&str]) {
        if !matches!(&event.kind, EventKind::Other(k) if k == EMAIL_BOUNCED) {
            return;
        }
        let address = event.attr_str("address").map(str::to_owned);
        if let Some(a) = &address
            && !current.iter().any(|c| c.eq_ignore_ascii_case(a))
        {
            return;
        }
        self.0.push(Bounced {
            at: event.at.instant(),
            kind: event.attr_str("kind").unwrap_or("hard").to_owned(),
            channel: event.attr_str("channel").unwrap_or("email").to_owned(),
            address,
            reason: event.attr_str("reason").unwrap_or("").to_owned(),
        });
        self.0.sort_by_key(|b| b.at);
        if self.0.len() > KEEP {
            self.0.remove(0);
        }
    }

    /// Forgets the bounces of addresses the customer no longer has.
    pub fn keep_addresses(&mut self, current: &[&str]) {
        self.0.retain(|b| {
            b.address
                .as_ref()
                .is_none_or(|a| current.iter().any(|c| c.eq_ignore_ascii_case(a)))
        });
    }
}
