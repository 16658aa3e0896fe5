//! The events kizuna writes itself — a manual or campaign send (`send_request`), a
//! delivered message (`message_sent`), a timer firing (`timer`) — as typed values.
//!
//! Each converts to an [`Event`] through the one door every event passes
//! ([`Event::from_json`]), so what kizuna writes is checked like what a shop sends, and
//! back from one with [`from_event`](SendRequest::from_event), so code that reads them (the
//! manual-send effect, the timer handler, the projection) names fields, not map keys. The
//! attribute names are the stored format: changing one here changes it for every history
//! already on disk, so they are written once, in this module.

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::{
    event::{Event, FieldError},
    ids::{CustomerId, EventId, EventKind},
    rules::MessageClass,
    store::MessageId,
    time::EventTime,
};

/// The `type` of a [`SendRequest`].
pub const SEND_REQUEST: &str = "send_request";

/// The `type` of a [`TimerFired`].
pub const TIMER_EVENT: &str = "timer";

/// `send_request`: queue one message for the customer (`kizuna send`, a campaign). It
/// still passes the guards when it is dispatched, unless forced with a reason.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    /// The customer.
    pub customer: CustomerId,
    /// When it was asked for.
    pub at: Timestamp,
    /// The channel, by name.
    pub channel: String,
    /// The template.
    pub template: String,
    /// Marketing unless said otherwise.
    pub class: MessageClass,
    /// The campaign it belongs to, if any.
    pub campaign: Option<String>,
    /// The template's variables.
    pub vars: Map<String, Value>,
    /// Why it may pass the guards (`kizuna send --force --reason`); `None`: it may not.
    pub force_reason: Option<String>,
}

impl SendRequest {
    /// The event, checked at the door.
    pub fn to_event(&self) -> Result<Event, Vec<FieldError>> {
        let mut obj = Map::new();
        obj.insert("customer".into(), self.customer.as_str().into());
        obj.insert("type".into(), SEND_REQUEST.into());
        obj.insert("at".into(), self.at.to_string().into());
        obj.insert("channel".into(), self.channel.clone().into());
        obj.insert("template".into(), self.template.clone().into());
        obj.insert("class".into(), self.class.as_str().into());
        if let Some(campaign) = &self.campaign {
            obj.insert("campaign".into(), campaign.clone().into());
        }
        obj.insert("vars".into(), Value::Object(self.vars.clone()));
        if let Some(reason) = &self.force_reason {
            obj.insert("force_reason".into(), reason.clone().into());
        }
        Event::from_json(obj)
    }

    /// The request `event` records, if it is one.
    pub fn from_event(event: &Event) -> Option<Self> {
        if !matches!(&event.kind, EventKind::Other(k) if k == SEND_REQUEST) {
            return None;
        }
        Some(Self {
            customer: event.customer.clone(),
            at: event.at.instant(),
            channel: event.attr_str("channel")?.to_owned(),
            template: event.attr_str("template")?.to_owned(),
            class: event
                .attr_str("class")
                .and_then(MessageClass::parse)
                .unwrap_or(MessageClass::Marketing),
            campaign: event.attr_str("campaign").map(str::to_owned),
            vars: match event.attrs.get("vars") {
                Some(Value::Object(vars)) => vars.clone(),
                _ => Map::new(),
            },
            force_reason: event.attr_str("force_reason").map(str::to_owned),
        })
    }
}

/// `message_sent`: a channel took a message. Its id derives from the message, so a resend
/// after a crash does not record the contact twice.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSent {
    /// The event's id ([`crate::store::OutboxMessage::sent_event_id`]).
    pub id: EventId,
    /// The customer.
    pub customer: CustomerId,
    /// When it was sent.
    pub at: Timestamp,
    /// The channel, by name.
    pub channel: String,
    /// The template.
    pub template: String,
    /// Its class.
    pub class: MessageClass,
    /// The campaign, if any.
    pub campaign: Option<String>,
    /// The outbox message.
    pub message: MessageId,
}

impl MessageSent {
    /// The event, checked at the door.
    pub fn to_event(&self) -> Result<Event, Vec<FieldError>> {
        let mut obj = Map::new();
        obj.insert("id".into(), self.id.as_str().into());
        obj.insert("customer".into(), self.customer.as_str().into());
        obj.insert("type".into(), "message_sent".into());
        obj.insert("at".into(), self.at.to_string().into());
        obj.insert("channel".into(), self.channel.clone().into());
        obj.insert("template".into(), self.template.clone().into());
        obj.insert("class".into(), self.class.as_str().into());
        if let Some(campaign) = &self.campaign {
            obj.insert("campaign".into(), campaign.clone().into());
        }
        obj.insert("message".into(), self.message.to_string().into());
        Event::from_json(obj)
    }

    /// The delivery `event` records, if it is one kizuna wrote (a `message_sent` imported
    /// from elsewhere may lack the outbox id: `None`).
    pub fn from_event(event: &Event) -> Option<Self> {
        if event.kind != EventKind::MessageSent {
            return None;
        }
        Some(Self {
            id: event.id.clone(),
            customer: event.customer.clone(),
            at: event.at.instant(),
            channel: event.attr_str("channel")?.to_owned(),
            template: event.attr_str("template").unwrap_or_default().to_owned(),
            class: event
                .attr_str("class")
                .and_then(MessageClass::parse)
                .unwrap_or(MessageClass::Marketing),
            campaign: event.attr_str("campaign").map(str::to_owned),
            message: event.attr_str("message")?.parse().ok()?,
        })
    }
}

/// The `type` of a [`HeldOut`].
pub const HELD_OUT: &str = "held_out";

/// `held_out`: a marketing message that the guards let through was held back because its
/// customer is in a holdout group ([`crate::lift::holdout`]). Its moment starts the
/// customer's measurement window, as `message_sent` does for a treated customer. Not
/// contact: the customer heard nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// The event's id ([`crate::store::OutboxMessage::held_event_id`]).
    pub id: EventId,
    /// The customer.
    pub customer: CustomerId,
    /// When it would have been sent.
    pub at: Timestamp,
    /// The channel, by name.
    pub channel: String,
    /// The template.
    pub template: String,
    /// The campaign, if any.
    pub campaign: Option<String>,
    /// The outbox message.
    pub message: MessageId,
    /// Which group: `global` or `campaign`.
    pub group: String,
}

impl HeldOut {
    /// The event, checked at the door.
    pub fn to_event(&self) -> Result<Event, Vec<FieldError>> {
        let mut obj = Map::new();
        obj.insert("id".into(), self.id.as_str().into());
        obj.insert("customer".into(), self.customer.as_str().into());
        obj.insert("type".into(), HELD_OUT.into());
        obj.insert("at".into(), self.at.to_string().into());
        obj.insert("channel".into(), self.channel.clone().into());
        obj.insert("template".into(), self.template.clone().into());
        if let Some(campaign) = &self.campaign {
            obj.insert("campaign".into(), campaign.clone().into());
        }
        obj.insert("message".into(), self.message.to_string().into());
        obj.insert("group".into(), self.group.clone().into());
        Event::from_json(obj)
    }

    /// The holdout `event` records, if it is one.
    pub fn from_event(event: &Event) -> Option<Self> {
        if event.kind.as_str() != HELD_OUT {
            return None;
        }
        Some(Self {
            id: event.id.clone(),
            customer: event.customer.clone(),
            at: event.at.instant(),
            channel: event.attr_str("channel")?.to_owned(),
            template: event.attr_str("template").unwrap_or_default().to_owned(),
            campaign: event.attr_str("campaign").map(str::to_owned),
            message: event.attr_str("message")?.parse().ok()?,
            group: event.attr_str("group")?.to_owned(),
        })
    }
}

/// `timer`: a timer set by `schedule` fell due; `on_timer` receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerFired {
    /// The customer.
    pub customer: CustomerId,
    /// When it fell due (the event's time, in UTC).
    pub at: Timestamp,
    /// The timer's name.
    pub name: String,
    /// What `schedule` gave it.
    pub data: Value,
    /// The script that set it.
    pub script: String,
}

impl TimerFired {
    /// The event. Its id derives from its content, so firing the same timer again after a
    /// crash is recognised as the same event.
    pub fn to_event(&self) -> Event {
        let mut attrs = Map::new();
        attrs.insert("name".into(), self.name.clone().into());
        attrs.insert("data".into(), self.data.clone());
        attrs.insert("script".into(), self.script.clone().into());
        let kind = EventKind::Other(TIMER_EVENT.into());
        let at = EventTime::utc(self.at);
        Event {
            id: Event::derive_id(&self.customer, &kind, at, &attrs),
            customer: self.customer.clone(),
            kind,
            at,
            attrs,
        }
    }

    /// The firing `event` records, if it is one.
    pub fn from_event(event: &Event) -> Option<Self> {
        if !is_timer_event(event) {
            return None;
        }
        Some(Self {
            customer: event.customer.clone(),
            at: event.at.instant(),
            name: event.attr_str("name").unwrap_or_default().to_owned(),
            data: event.attrs.get("data").cloned().unwrap_or(Value::Null),
            script: event.attr_str("script").unwrap_or_default().to_owned(),
        })
    }
}

/// The `type` of a staff acknowledgement of an alert ([`AlertHandled`]).
pub const ALERT_ACKED: &str = "alert_acked";

/// The `type` of a staff resolution of an alert ([`AlertHandled`]).
pub const ALERT_RESOLVED: &str = "alert_resolved";

/// `alert_acked` or `alert_resolved`: staff took up or closed an alert (`kizuna alerts ack`,
/// `kizuna alerts resolve`). In the customer's history like anything else, so replays,
/// `customer show` and reports see who handled what and when. Resolving an alert answers
/// nobody: an inquiry stays open until a `reply`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertHandled {
    /// The alert.
    pub alert: crate::store::AlertId,
    /// The alert's customer.
    pub customer: CustomerId,
    /// When.
    pub at: Timestamp,
    /// The staff member.
    pub by: Option<String>,
    /// A note (what was done).
    pub note: Option<String>,
    /// Resolved (`alert_resolved`), or only acknowledged (`alert_acked`).
    pub resolved: bool,
}

impl AlertHandled {
    /// The event, checked at the door.
    pub fn to_event(&self) -> Result<Event, Vec<FieldError>> {
        let mut obj = Map::new();
        obj.insert("customer".into(), self.customer.as_str().into());
        let kind = if self.resolved {
            ALERT_RESOLVED
        } else {
            ALERT_ACKED
        };
        obj.insert("type".into(), kind.into());
        obj.insert("at".into(), self.at.to_string().into());
        obj.insert("alert".into(), self.alert.to_string().into());
        if let Some(by) = &self.by {
            obj.insert("by".into(), by.clone().into());
        }
        if let Some(note) = &self.note {
            obj.insert("note".into(), note.clone().into());
        }
        Event::from_json(obj)
    }

    /// The handling `event` records, if it is one.
    pub fn from_event(event: &Event) -> Option<Self> {
        let resolved = match &event.kind {
            EventKind::Other(k) if k == ALERT_ACKED => false,
            EventKind::Other(k) if k == ALERT_RESOLVED => true,
            _ => return None,
        };
        Some(Self {
            alert: event.attr_str("alert")?.parse().ok()?,
            customer: event.customer.clone(),
            at: event.at.instant(),
            by: event.attr_str("by").map(str::to_owned),
            note: event.attr_str("note").map(str::to_owned),
            resolved,
        })
    }
}

/// Whether `event` records a timer firing.
pub fn is_timer_event(event: &Event) -> bool {
    matches!(&event.kind, EventKind::Other(k) if k == TIMER_EVENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn each_internal_event_goes_through_the_door_and_back_unchanged() {
        let request = SendRequest {
            customer: CustomerId::new("c-1").unwrap(),
            at: at("2026-03-01T01:00:00Z"),
            channel: "line".into(),
            template: "notice".into(),
            class: MessageClass::Service,
            campaign: Some("spring".into()),
            vars: serde_json::json!({"text": "hi"})
                .as_object()
                .unwrap()
                .clone(),
            force_reason: Some("the owner asked".into()),
        };
        let event = request.to_event().unwrap();
        assert_eq!(event.kind.as_str(), "send_request");
        assert_eq!(SendRequest::from_event(&event), Some(request));

        let sent = MessageSent {
            id: EventId::new("sent-x-0").unwrap(),
            customer: CustomerId::new("c-1").unwrap(),
            at: at("2026-03-01T02:00:00Z"),
            channel: "email".into(),
            template: "notice".into(),
            class: MessageClass::Marketing,
            campaign: None,
            message: MessageId { seq: 3, n: 0 },
        };
        let event = sent.to_event().unwrap();
        assert_eq!(event.kind, EventKind::MessageSent);
        assert_eq!(MessageSent::from_event(&event), Some(sent));

        let fired = TimerFired {
            customer: CustomerId::new("c-1").unwrap(),
            at: at("2026-03-02T00:00:00Z"),
            name: "reminder".into(),
            data: serde_json::json!({"n": 1}),
            script: "winback.rhai".into(),
        };
        let event = fired.to_event();
        assert!(is_timer_event(&event));
        assert_eq!(event.id, fired.to_event().id, "a stable id");
        assert_eq!(TimerFired::from_event(&event), Some(fired));
        assert_eq!(SendRequest::from_event(&event), None);
    }

    #[test]
    fn a_send_request_without_a_channel_is_refused_at_the_door() {
        let request = SendRequest {
            customer: CustomerId::new("c-1").unwrap(),
            at: at("2026-03-01T01:00:00Z"),
            channel: String::new(),
            template: "notice".into(),
            class: MessageClass::Marketing,
            campaign: None,
            vars: Map::new(),
            force_reason: None,
        };
        let errors = request.to_event().unwrap_err();
        assert_eq!(errors[0].field, "channel");
    }
}
