//! The customer projection: what kizuna knows about one customer, folded from their events.
//!
//! [`Customer::apply`] is called once per appended event, in append order, which need not be
//! time order (a late import, a shop that syncs once a day). Every field is therefore folded
//! so that the result does not depend on arrival order: first/last are min/max by event time,
//! profile fields and consent are last-writer-wins by event time, counters are sums.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use crate::{
    basket::ItemStat,
    event::{Event, channel_name},
    ids::{CustomerId, EventId, EventKind},
    loyalty::Loyalty,
    profile::{Birthday, BusinessHours, CustomerKind, ProfileUpdate},
    rfm::{Rfm, Segment},
    rules::{AppliedEffect, Effect, MessageClass},
    time::{EventTime, days_between},
};

/// Everything known about one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// The customer's id.
    pub id: CustomerId,
    /// Profile fields from `profile` events and CSV imports.
    pub profile: Profile,
    /// Consent per channel (`email`, `sms`, …). No entry means never asked: no consent.
    /// (A vector-backed map: a customer has a handful of channels, and a `BTreeMap` node
    /// would cost a kilobyte each for 50,000 customers held in memory during an import.)
    pub consent: LiteMap<String, Consent>,
    /// Free-form labels (set by profile data now, by rules later).
    pub tags: BTreeSet<String>,
    /// Offers the customer declined, with the time of the latest decline.
    pub declined: LiteMap<String, EventTime>,
    /// Counters and dates derived from the history.
    pub stats: Stats,
    /// Latest RFM scores; `None` until `kizuna rfm` has run since the customer appeared.
    pub rfm: Option<Rfm>,
    /// Points, tier and spend, changed by rule effects (and spend by purchases).
    #[serde(default)]
    pub loyalty: Loyalty,
    /// Messages sent in the last month (time and class), for the contact guards.
    #[serde(default)]
    pub contacts: Vec<ContactMark>,
    /// Items bought, with first/last purchase and count: what cross-sell must not offer
    /// again, and each customer's share of the co-purchase statistics ([`crate::basket`]).
    #[serde(default)]
    pub items: LiteMap<String, ItemStat>,
    /// Timers set by rules, by name ([`crate::timer`]).
    #[serde(default, skip_serializing_if = "LiteMap::is_empty")]
    pub timers: LiteMap<String, crate::timer::ScheduledTimer>,
    /// What scripts keep for this customer, by script file then key
    /// ([`crate::rules::state`]).
    #[serde(default, skip_serializing_if = "LiteMap::is_empty")]
    pub state: LiteMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Promises made to the customer: the open ones, and how many were kept on time or
    /// late ([`crate::promise`]).
    #[serde(default, skip_serializing_if = "crate::promise::Promises::is_empty")]
    pub promises: crate::promise::Promises,
    /// Complaints and how far each has been handled ([`crate::complaint`]).
    #[serde(
        default,
        skip_serializing_if = "crate::complaint::Complaints::is_empty"
    )]
    pub complaints: crate::complaint::Complaints,
    /// Recent bounces of the customer's current addresses ([`crate::bounce`]).
    #[serde(default, skip_serializing_if = "crate::bounce::Bounces::is_empty")]
    pub bounces: crate::bounce::Bounces,
}

/// One message sent to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMark {
    /// When it was sent.
    pub at: Timestamp,
    /// Its class.
    pub class: MessageClass,
}

/// How long sent messages are remembered in the projection (the event log keeps them all).
const CONTACT_MEMORY_DAYS: i64 = 35;

/// Profile fields. Absent until some event or import sets them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number for SMS.
    pub phone: Option<String>,
    /// Person or business (personal unless told otherwise).
    pub kind: CustomerKind,
    /// IANA time zone.
    pub tz: Option<String>,
    /// Birthday.
    pub birthday: Option<Birthday>,
    /// Opening hours of a business customer.
    pub business_hours: Option<BusinessHours>,
    /// Time of the newest profile event applied, for last-writer-wins.
    pub updated_at: Option<EventTime>,
    /// The profile's other text fields (a LINE user id, a member number): what a channel
    /// configured with that address field sends to. Last-writer-wins per field, at most
    /// [`crate::profile::MAX_OTHER_FIELDS`] of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, String>,
}

impl Profile {
    /// Every address the profile holds: e-mail, phone, and the other text fields.
    pub fn addresses(&self) -> Vec<&str> {
        let mut all: Vec<&str> = [&self.email, &self.phone]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        all.extend(self.other.values().map(String::as_str));
        all
    }
}

/// The customer's latest consent decision for one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Whether they may be contacted on this channel.
    pub granted: bool,
    /// When they said so.
    pub at: EventTime,
    /// The event that recorded it, for audit.
    pub event: EventId,
}

/// Figures derived from the history; see the module doc for how they are folded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Events of any kind.
    pub events: u64,
    /// Number of purchases.
    pub orders: u64,
    /// Sum of purchase amounts (smallest currency unit).
    pub revenue: i64,
    /// Earliest purchase.
    pub first_order: Option<Timestamp>,
    /// Latest purchase.
    pub last_order: Option<Timestamp>,
    /// Mean days between consecutive orders: (last − first) / (orders − 1).
    pub avg_days_between_orders: Option<f64>,
    /// Latest inquiry or complaint from the customer.
    pub last_inbound: Option<Timestamp>,
    /// Latest reply, call/visit or message from the business.
    pub last_outbound: Option<Timestamp>,
    /// Latest reply or call/visit by staff (not automated messages): what closes a staff
    /// alert such as a check-in task.
    #[serde(default)]
    pub last_staff_contact: Option<Timestamp>,
    /// Inquiries and complaints not yet answered by a reply, oldest first.
    pub open_inquiries: Vec<OpenInquiry>,
    /// Earliest event of any kind.
    pub first_seen: Option<Timestamp>,
    /// Latest event of any kind.
    pub last_seen: Option<Timestamp>,
}

/// An inquiry or complaint awaiting a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInquiry {
    /// The inquiry's event id; a reply may name it in `in_reply_to`.
    pub event: EventId,
    /// `inquiry` or `complaint`.
    pub kind: InquiryKind,
    /// When it was raised.
    pub at: Timestamp,
}

/// What an open item is: a question or a complaint (complaints usually deserve priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InquiryKind {
    /// An `inquiry` event.
    Inquiry,
    /// A `complaint` event.
    Complaint,
}

impl std::fmt::Display for InquiryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Inquiry => "inquiry",
            Self::Complaint => "complaint",
        })
    }
}

fn keep_min(slot: &mut Option<Timestamp>, t: Timestamp) {
    if slot.is_none_or(|old| t < old) {
        *slot = Some(t);
    }
}

fn keep_max(slot: &mut Option<Timestamp>, t: Timestamp) {
    if slot.is_none_or(|old| t > old) {
        *slot = Some(t);
    }
}

impl Customer {
    /// A customer known by id only, before any event is applied.
    pub fn new(id: CustomerId) -> Self {
        Self {
            id,
            profile: Profile::default(),
            consent: LiteMap::new(),
            tags: BTreeSet::new(),
            declined: LiteMap::new(),
            stats: Stats::default(),
            rfm: None,
            loyalty: Loyalty::default(),
            contacts: Vec::new(),
            items: LiteMap::new(),
            timers: LiteMap::new(),
            state: LiteMap::new(),
            promises: crate::promise::Promises::default(),
            complaints: crate::complaint::Complaints::default(),
            bounces: crate::bounce::Bounces::default(),
        }
    }

    /// Folds one event into the projection.
    pub fn apply(&mut self, event: &Event) {
        let t = event.at.instant();
        let stats = &mut self.stats;
        stats.events += 1;
        keep_min(&mut stats.first_seen, t);
        keep_max(&mut stats.last_seen, t);
        if event.kind.is_inbound() {
            keep_max(&mut stats.last_inbound, t);
        }
        if event.kind.is_outbound() {
            keep_max(&mut stats.last_outbound, t);
        }
        if matches!(event.kind, EventKind::Reply | EventKind::Contact) {
            keep_max(&mut stats.last_staff_contact, t);
        }
        // Complaint cases; a step is staff at work, and an apology answers its complaint.
        if matches!(
            event.kind,
            EventKind::Complaint | EventKind::Reply | EventKind::Other(_)
        ) {
            let steps = self.complaints.apply(event);
            if !steps.is_empty() {
                keep_max(&mut stats.last_staff_contact, t);
            }
            if steps.contains(&crate::complaint::Step::Apology) {
                let apologised: Vec<&str> = self
                    .complaints
                    .open
                    .iter()
                    .filter(|c| c.apology.is_some())
                    .map(|c| c.complaint.as_str())
                    .collect();
                stats
                    .open_inquiries
                    .retain(|o| !apologised.contains(&o.event.as_str()));
            }
        }
        match &event.kind {
            EventKind::Profile => {
                self.apply_profile(event);
                let current = self.profile.addresses();
                self.bounces.keep_addresses(&current);
            }
            EventKind::Purchase => {
                if let Some(amount) = event.purchase_amount() {
                    stats.orders += 1;
                    stats.revenue = stats.revenue.saturating_add(amount);
                    keep_min(&mut stats.first_order, t);
                    keep_max(&mut stats.last_order, t);
                    self.loyalty.add_spend(amount, t);
                    for item in event.purchase_items() {
                        let stat = self
                            .items
                            .get(item)
                            .map_or(ItemStat::first(t), |s| s.with_purchase(t));
                        self.items.insert(item.to_owned(), stat);
                    }
                    stats.avg_days_between_orders = match (stats.first_order, stats.last_order) {
                        (Some(first), Some(last)) if stats.orders > 1 => {
                            Some(days_between(first, last) / (stats.orders - 1) as f64)
                        }
                        _ => None,
                    };
                }
            }
            EventKind::Inquiry | EventKind::Complaint => {
                let kind = if event.kind == EventKind::Inquiry {
                    InquiryKind::Inquiry
                } else {
                    InquiryKind::Complaint
                };
                let open = OpenInquiry {
                    event: event.id.clone(),
                    kind,
                    at: t,
                };
                let pos = stats.open_inquiries.partition_point(|o| o.at <= t);
                stats.open_inquiries.insert(pos, open);
            }
            EventKind::Reply => match event.attr_str("in_reply_to") {
                Some(target) => stats.open_inquiries.retain(|o| o.event.as_str() != target),
                // A reply that names nothing answers everything raised before it.
                None => stats.open_inquiries.retain(|o| o.at > t),
            },
            EventKind::OptIn | EventKind::OptOut => {
                if let Ok(channel) = channel_name(&event.attrs) {
                    let newer = self
                        .consent
                        .get(channel)
                        .is_none_or(|old| event.at >= old.at);
                    if newer {
                        let consent = Consent {
                            granted: event.kind == EventKind::OptIn,
                            at: event.at,
                            event: event.id.clone(),
                        };
                        self.consent.insert(channel.to_owned(), consent);
                    }
                }
            }
            EventKind::Decline => {
                if let Some(offer) = event.attr_str("offer") {
                    let slot = self
                        .declined
                        .entry(offer.trim().to_owned())
                        .or_insert(event.at);
                    *slot = (*slot).max(event.at);
                }
            }
            EventKind::MessageSent => {
                let class = event
                    .attr_str("class")
                    .and_then(MessageClass::parse)
                    .unwrap_or(MessageClass::Marketing);
                let pos = self.contacts.partition_point(|m| m.at <= t);
                self.contacts.insert(pos, ContactMark { at: t, class });
                let newest = self.contacts.last().map_or(t, |m| m.at);
                let horizon = newest - jiff::SignedDuration::from_hours(24 * CONTACT_MEMORY_DAYS);
                self.contacts.retain(|m| m.at > horizon);
            }
            EventKind::Other(kind) if kind == crate::rfm::SEGMENT_CHANGED => {
                let newer = self.rfm.as_ref().is_none_or(|r| r.computed_at <= t);
                if newer {
                    self.rfm = Rfm::from_event(&event.attrs, t);
                }
            }
            // The timer has fired; an effect of `on_timer` may set it again.
            EventKind::Other(_) if crate::timer::is_timer_event(event) => {
                if let Some(name) = event.attr_str("name") {
                    self.timers.remove(name);
                }
            }
            EventKind::Other(kind) if kind == crate::bounce::EMAIL_BOUNCED => {
                let current = self.profile.addresses();
                self.bounces.apply(event, &current);
            }
            EventKind::Other(_) => self.promises.apply(event),
            EventKind::Contact => {}
        }
    }

    /// Last-writer-wins by event time; an older profile event only fills fields still empty.
    fn apply_profile(&mut self, event: &Event) {
        let Ok(update) = ProfileUpdate::from_attrs(&event.attrs) else {
            return;
        };
        let p = &mut self.profile;
        let newer = p.updated_at.is_none_or(|old| event.at >= old);
        fn set<T>(slot: &mut Option<T>, value: Option<T>, newer: bool) {
            if value.is_some() && (newer || slot.is_none()) {
                *slot = value;
            }
        }
        set(&mut p.name, update.name, newer);
        set(&mut p.email, update.email, newer);
        set(&mut p.phone, update.phone, newer);
        set(&mut p.tz, update.tz, newer);
        set(&mut p.birthday, update.birthday, newer);
        set(&mut p.business_hours, update.business_hours, newer);
        if let Some(kind) = update.kind.filter(|_| newer) {
            p.kind = kind;
        }
        for (field, value) in update.other {
            let room = p.other.len() < crate::profile::MAX_OTHER_FIELDS;
            match p.other.get_mut(&field) {
                Some(slot) if newer => *slot = value,
                Some(_) => {}
                None if room => {
                    p.other.insert(field, value);
                }
                None => {}
            }
        }
        if newer {
            p.updated_at = Some(event.at);
        }
        self.tags.extend(update.tags);
    }

    /// The customer's RFM segment: scored buyers by their scores, customers who never bought
    /// are prospects, and a buyer not scored since their first order is `None` until the
    /// next `kizuna rfm`.
    pub fn segment(&self) -> Option<Segment> {
        match &self.rfm {
            Some(rfm) => Some(rfm.segment),
            None if self.stats.orders == 0 => Some(Segment::Prospect),
            None => None,
        }
    }

    /// Applies a rule effect that changes the projection (points, tier, tags, timers: the
    /// script that set a timer is kept with it); effects that act elsewhere (messages,
    /// alerts) are no-ops here. Expired lots are retired at `at` first. A refused effect
    /// (redeeming beyond the balance) changes nothing.
    pub fn apply_effect(&mut self, applied: &AppliedEffect, event: &Event) -> Result<(), String> {
        let at = event.at.instant();
        self.loyalty.expire(at);
        match &applied.effect {
            Effect::AwardPoints {
                points, expires, ..
            } => {
                self.loyalty
                    .award(*points, at, *expires, event.id.clone())?;
            }
            Effect::RedeemPoints { points, .. } => self.loyalty.redeem(*points, at)?,
            Effect::SetTier { tier } => self.loyalty.tier = Some(tier.clone()),
            Effect::Tag { tag } => {
                self.tags.insert(tag.clone());
            }
            Effect::Untag { tag } => {
                self.tags.remove(tag);
            }
            Effect::Schedule { name, at, data } => {
                let timer = crate::timer::ScheduledTimer {
                    due: *at,
                    data: data.clone(),
                    script: applied.script.clone(),
                };
                self.timers.insert(name.clone(), timer);
            }
            Effect::Cancel { name } => {
                self.timers.remove(name);
            }
            Effect::SetState { key, value } => {
                let script = &applied.script;
                if value.is_null() {
                    if let Some(kept) = self.state.get_mut(script) {
                        kept.remove(key);
                        if kept.is_empty() {
                            self.state.remove(script);
                        }
                    }
                } else {
                    match self.state.get_mut(script) {
                        Some(kept) => {
                            kept.insert(key.clone(), value.clone());
                        }
                        None => {
                            let mut kept = serde_json::Map::new();
                            kept.insert(key.clone(), value.clone());
                            self.state.insert(script.clone(), kept);
                        }
                    }
                }
            }
            Effect::Send { .. } | Effect::Alert { .. } | Effect::Emit { .. } => {}
        }
        Ok(())
    }

    /// The projection as it stood at `at`, folded again from the customer's history (each
    /// event with the effects recorded for it, in the order the log holds them): events
    /// after `at` and their effects (points awarded or redeemed later, a later tier) left
    /// out, and what had expired by `at` moved out of the balance. `None` if the customer
    /// had no event by then.
    pub fn as_of<'a>(
        id: &CustomerId,
        history: impl IntoIterator<Item = (&'a Event, &'a [AppliedEffect])>,
        at: Timestamp,
    ) -> Option<Self> {
        let mut customer: Option<Self> = None;
        for (event, effects) in history {
            if event.at.instant() > at {
                continue;
            }
            let c = customer.get_or_insert_with(|| Self::new(id.clone()));
            c.apply(event);
            for e in effects {
                // Accepted once already; applying again gives the same result.
                let _ = c.apply_effect(e, event);
            }
        }
        if let Some(c) = customer.as_mut() {
            c.loyalty.expire(at);
        }
        customer
    }

    /// The customer's address in `field`: their id, a profile field, or `None` when the
    /// profile has none.
    pub fn address(&self, field: &crate::channel::AddressField) -> Option<String> {
        use crate::channel::AddressField;
        let p = &self.profile;
        match field {
            AddressField::CustomerId => Some(self.id.to_string()),
            AddressField::Profile(name) => match name.as_str() {
                "email" => p.email.clone(),
                "phone" => p.phone.clone(),
                "name" => p.name.clone(),
                other => p.other.get(other).cloned(),
            },
        }
    }

    /// Whether the customer currently consents to `channel`.
    pub fn consents_to(&self, channel: &str) -> bool {
        self.consent.get(channel).is_some_and(|c| c.granted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Other text fields of a profile are kept, last writer wins, and address a customer
    /// on a channel configured with that field; the id, the e-mail and phone as ever.
    #[test]
    fn a_channel_addresses_a_customer_by_any_profile_field() {
        use crate::channel::AddressField;
        let mut c = Customer::new(CustomerId::new("c-1").unwrap());
        c.apply(&ev(
            r#"{"customer":"c-1","type":"profile","at":"2026-02-01T00:00:00Z","line_id":"U-new","email":"a@b.jp","note":42}"#,
        ));
        c.apply(&ev(
            r#"{"customer":"c-1","type":"profile","at":"2026-01-01T00:00:00Z","line_id":"U-old","member_no":"M-7"}"#,
        ));
        let at = |f: &str| c.address(&f.parse::<AddressField>().unwrap());
        assert_eq!(at("line_id").as_deref(), Some("U-new"), "the newer wins");
        assert_eq!(
            at("member_no").as_deref(),
            Some("M-7"),
            "an older fills a gap"
        );
        assert_eq!(at("email").as_deref(), Some("a@b.jp"));
        assert_eq!(at("id").as_deref(), Some("c-1"));
        assert_eq!(at("note"), None, "not text");
        assert_eq!(at("phone"), None);
    }

    fn ev(json: &str) -> Event {
        Event::from_json_str(json).unwrap()
    }

    fn customer(events: &[&str]) -> Customer {
        let mut c = Customer::new(CustomerId::new("c-1").unwrap());
        for e in events {
            c.apply(&ev(e));
        }
        c
    }

    #[test]
    fn purchases_fold_in_any_order() {
        let a = r#"{"customer":"c-1","type":"purchase","at":"2026-01-01T10:00:00Z","amount":1000}"#;
        let b = r#"{"customer":"c-1","type":"purchase","at":"2026-01-31T10:00:00Z","amount":500}"#;
        let c = r#"{"customer":"c-1","type":"purchase","at":"2026-03-02T10:00:00Z","amount":250}"#;
        let forward = customer(&[a, b, c]);
        let backward = customer(&[c, a, b]);
        assert_eq!(forward, backward);
        let s = &forward.stats;
        assert_eq!((s.orders, s.revenue), (3, 1750));
        assert_eq!(s.first_order.unwrap().to_string(), "2026-01-01T10:00:00Z");
        assert_eq!(s.last_order.unwrap().to_string(), "2026-03-02T10:00:00Z");
        assert_eq!(s.avg_days_between_orders, Some(30.0));
    }

    #[test]
    fn replies_close_inquiries() {
        let c = customer(&[
            r#"{"id":"q1","customer":"c-1","type":"inquiry","at":"2026-01-01T10:00:00Z"}"#,
            r#"{"id":"q2","customer":"c-1","type":"complaint","at":"2026-01-02T10:00:00Z"}"#,
            r#"{"customer":"c-1","type":"reply","at":"2026-01-03T10:00:00Z","in_reply_to":"q2"}"#,
        ]);
        assert_eq!(c.stats.open_inquiries.len(), 1);
        assert_eq!(c.stats.open_inquiries[0].event.as_str(), "q1");
        assert_eq!(
            c.stats.last_inbound.unwrap().to_string(),
            "2026-01-02T10:00:00Z"
        );
        assert_eq!(
            c.stats.last_outbound.unwrap().to_string(),
            "2026-01-03T10:00:00Z"
        );
        let c = customer(&[
            r#"{"id":"q1","customer":"c-1","type":"inquiry","at":"2026-01-01T10:00:00Z"}"#,
            r#"{"customer":"c-1","type":"reply","at":"2026-01-01T12:00:00Z"}"#,
            r#"{"id":"q3","customer":"c-1","type":"inquiry","at":"2026-01-05T10:00:00Z"}"#,
        ]);
        let open: Vec<&str> = c
            .stats
            .open_inquiries
            .iter()
            .map(|o| o.event.as_str())
            .collect();
        assert_eq!(
            open,
            ["q3"],
            "an unaddressed reply closes only earlier inquiries"
        );
    }

    #[test]
    fn consent_and_profile_are_last_writer_wins_by_time() {
        let c = customer(&[
            r#"{"customer":"c-1","type":"opt_out","at":"2026-02-01T00:00:00Z","channel":"email"}"#,
            r#"{"customer":"c-1","type":"opt_in","at":"2026-01-01T00:00:00Z","channel":"email"}"#,
            r#"{"customer":"c-1","type":"opt_in","at":"2026-01-01T00:00:00Z","channel":"sms"}"#,
            r#"{"customer":"c-1","type":"profile","at":"2026-02-01T00:00:00Z","name":"New"}"#,
            r#"{"customer":"c-1","type":"profile","at":"2026-01-01T00:00:00Z","name":"Old","email":"a@b.jp","kind":"business"}"#,
        ]);
        assert!(
            !c.consents_to("email"),
            "a late-arriving older opt-in must not undo an opt-out"
        );
        assert!(c.consents_to("sms"));
        assert!(!c.consents_to("line"));
        assert_eq!(c.profile.name.as_deref(), Some("New"));
        assert_eq!(
            c.profile.email.as_deref(),
            Some("a@b.jp"),
            "older event fills a gap"
        );
        assert_eq!(
            c.profile.kind,
            CustomerKind::Personal,
            "older kind does not win"
        );
    }
}
