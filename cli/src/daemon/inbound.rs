//! The host's side of the channels' inbound routes: an [`Inbox`] over the store.
//!
//! A route (a plugin's: Kannel's delivery reports and incoming SMS, LINE's webhook) tells
//! the inbox what happened; the inbox finds the customer, writes the events and makes them
//! durable before it answers, so the route tells the far side "kept" only for what is kept.
//! Both the daemon (on its writer thread, which owns the store) and `kizuna channels
//! receipts` (offline) record through [`StoreInbox`]: one implementation for every door.
//!
//! A customer is found by their address on the channel — the profile field the channel's
//! `address` names — matched on the channel's [`address_key`](kizuna_channel::Channel::address_key)
//! (a phone channel's last ten digits). Each channel's address book is built from the
//! projections on its first inbound message and kept current from then on by the writer,
//! which sees every profile change the daemon stores ([`AddressBooks::stored`]).
//!
//! Event ids come from the route's key, so a far side that retries is recognised:
//! `<channel>-in-<key>` for what a customer did, `dlr-<key>` for a delivery report,
//! `bounce-<key>` for a bounce (`email_bounced`) or a complaint (an `opt_out`, reason
//! `complaint`).

use std::collections::HashMap;

use jiff::Timestamp;
use kizuna_channel::{
    Configured,
    inbound::{
        Bounce, BounceKind, FromCustomer, Heard, Inbox, InboxError, Receipt, ReceiptStatus,
        Recorded,
    },
};
use kizuna_core::{Event, EventKind, ids::CustomerId, store::Store};
use serde_json::{Map, Value};

/// One channel's address key → customer, and back (to drop an old address when it
/// changes).
#[derive(Default)]
struct Book {
    by_key: HashMap<String, CustomerId>,
    by_customer: HashMap<CustomerId, String>,
}

impl Book {
    fn set(&mut self, channel: &Configured, id: CustomerId, address: Option<String>) {
        if let Some(old) = self.by_customer.remove(&id) {
            self.by_key.remove(&old);
        }
        if let Some(key) = address.and_then(|a| channel.channel.address_key(&a)) {
            self.by_key.insert(key.clone(), id.clone());
            self.by_customer.insert(id, key);
        }
    }
}

/// The address books of the channels that have heard from a customer so far.
#[derive(Default)]
pub struct AddressBooks {
    books: HashMap<String, (Configured, Book)>,
}

impl AddressBooks {
    /// `channel`'s book, read from every projection the first time.
    fn book(&mut self, store: &Store, channel: &Configured) -> Result<&mut Book, InboxError> {
        let name = &channel.shape.name;
        if !self.books.contains_key(name) {
            let mut book = Book::default();
            for customer in store.customers() {
                let customer = customer.map_err(|e| InboxError::Unavailable(e.to_string()))?;
                let address = customer.address(&channel.shape.address);
                book.set(channel, customer.id.clone(), address);
            }
            tracing::info!(channel = %name, addresses = book.by_key.len(), "address book built");
            self.books.insert(name.clone(), (channel.clone(), book));
        }
        match self.books.get_mut(name) {
            Some((_, book)) => Ok(book),
            None => Err(InboxError::Unavailable("no address book".into())),
        }
    }

    /// The customers whose profile `events` touch: what [`AddressBooks::stored`] needs to
    /// look at once they are stored. Nothing while no book is built.
    pub fn profiles(&self, events: &[Event]) -> Vec<CustomerId> {
        if self.books.is_empty() {
            return Vec::new();
        }
        events
            .iter()
            .filter(|e| e.kind == EventKind::Profile)
            .map(|e| e.customer.clone())
            .collect()
    }

    /// After events were stored: re-reads the address of each customer whose profile one
    /// of them touched (the projection decides, since an older profile event does not
    /// override a newer one).
    pub fn stored(&mut self, store: &Store, profiles_changed: &[CustomerId]) {
        for id in profiles_changed {
            match store.customer(id) {
                Ok(customer) => {
                    for (channel, book) in self.books.values_mut() {
                        let address = customer
                            .as_ref()
                            .and_then(|c| c.address(&channel.shape.address));
                        book.set(channel, id.clone(), address);
                    }
                }
                Err(err) => tracing::error!(error = %err, "address books not updated"),
            }
        }
    }
}

/// An [`Inbox`] writing to `store` for `channel`, running `rules` on what it keeps.
pub struct StoreInbox<'a> {
    /// The store.
    pub store: &'a mut Store,
    /// The rules in force.
    pub rules: &'a kizuna_core::rules::RuleSet,
    /// The address books (kept between requests by the daemon).
    pub books: &'a mut AddressBooks,
    /// The channel the route belongs to.
    pub channel: &'a Configured,
}

impl StoreInbox<'_> {
    /// Appends `events` and makes them durable.
    /// An event already stored under an id is left as it was: a far side's retry carries
    /// the same key but is heard at another time.
    fn keep(&mut self, customer: &CustomerId, events: Vec<Event>) -> Result<Recorded, InboxError> {
        let ids = events.iter().map(|e| e.id.to_string()).collect();
        let appended = keep_first(self.store, self.rules, events)
            .map_err(|e| InboxError::Unavailable(e.to_string()))?;
        Ok(Recorded {
            customer: customer.to_string(),
            events: ids,
            duplicate: appended == 0,
        })
    }

    /// The customer `address` belongs to on this channel.
    fn by_address(&mut self, address: &str) -> Result<CustomerId, InboxError> {
        let channel = self.channel;
        let key = channel
            .channel
            .address_key(address)
            .ok_or(InboxError::UnknownAddress)?;
        self.books
            .book(self.store, channel)?
            .by_key
            .get(&key)
            .cloned()
            .ok_or(InboxError::UnknownAddress)
    }
}

/// Stores those of `events` whose ids are not stored yet and makes them durable; returns
/// how many it stored. A fact heard again (a retried callback, a second click on the same
/// link) arrives at another time under the same id: the first record of it stands, where
/// a plain append would refuse the pair as a conflict.
pub fn keep_first(
    store: &mut Store,
    rules: &kizuna_core::rules::RuleSet,
    events: Vec<Event>,
) -> Result<u64, kizuna_core::StoreError> {
    let mut new = Vec::with_capacity(events.len());
    for event in events {
        if store.event(&event.id)?.is_none() {
            new.push(event);
        }
    }
    if new.is_empty() {
        return Ok(0);
    }
    let appended = store.append_owned(rules, new)?.appended;
    store.sync_events()?;
    Ok(appended)
}

/// An event from its JSON fields; the route's facts are checked like any event's.
fn event(fields: Map<String, Value>) -> Result<Event, InboxError> {
    Event::from_json(fields).map_err(invalid)
}

/// What the door said of an event the route reported, as the inbox's refusal.
fn invalid(errors: Vec<kizuna_core::FieldError>) -> InboxError {
    let what: Vec<String> = errors.iter().map(ToString::to_string).collect();
    InboxError::Invalid(what.join("; "))
}

/// An event id from a route's key: as it is when short, else a stable digest of it.
fn event_id(prefix: &str, key: &str) -> String {
    let plain = format!("{prefix}{key}");
    if plain.len() <= kizuna_core::ids::MAX_ID_LEN && !plain.chars().any(char::is_control) {
        return plain;
    }
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{prefix}h{h:016x}")
}

impl Inbox for StoreInbox<'_> {
    fn customer(&mut self, what: FromCustomer) -> Result<Recorded, InboxError> {
        let channel = self.channel;
        let customer = self.by_address(&what.address)?;
        let at = what
            .at_millis
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
            .unwrap_or_else(Timestamp::now);
        let name = &channel.shape.name;
        let mut fields = Map::new();
        fields.insert(
            "id".into(),
            event_id(&format!("{name}-in-"), &what.key).into(),
        );
        fields.insert("customer".into(), customer.as_str().into());
        fields.insert("at".into(), at.to_string().into());
        fields.insert("channel".into(), name.as_str().into());
        match what.heard {
            Heard::Reply { text } => {
                fields.insert("type".into(), "customer_reply".into());
                fields.insert("text".into(), text.into());
            }
            Heard::OptIn => {
                fields.insert("type".into(), "opt_in".into());
            }
            Heard::OptOut { reason } => {
                fields.insert("type".into(), "opt_out".into());
                fields.insert("reason".into(), reason.into());
            }
        }
        for (k, v) in what.attrs {
            fields.entry(k).or_insert(v.into());
        }
        let event = event(fields)?;
        self.keep(&customer, vec![event])
    }

    fn receipt(&mut self, receipt: Receipt) -> Result<Recorded, InboxError> {
        let message = self
            .store
            .message(receipt.message)
            .map_err(|e| InboxError::Unavailable(e.to_string()))?
            .ok_or(InboxError::UnknownMessage(receipt.message))?;
        let kind = match receipt.status {
            ReceiptStatus::Delivered => "message_delivered",
            ReceiptStatus::Failed => "message_failed",
        };
        let mut fields = Map::new();
        fields.insert("id".into(), event_id("dlr-", &receipt.key).into());
        fields.insert("customer".into(), message.customer.as_str().into());
        fields.insert("type".into(), kind.into());
        fields.insert("at".into(), Timestamp::now().to_string().into());
        fields.insert("message".into(), receipt.message.to_string().into());
        fields.insert("channel".into(), message.channel.clone().into());
        for (k, v) in receipt.attrs {
            fields.entry(k).or_insert(v);
        }
        let event = event(fields)?;
        self.keep(&message.customer, vec![event])
    }

    fn bounce(&mut self, report: Bounce) -> Result<Recorded, InboxError> {
        let unavailable = |e: kizuna_core::StoreError| InboxError::Unavailable(e.to_string());
        let sent = match report.message {
            Some(id) => self.store.message(id).map_err(unavailable)?,
            None => None,
        };
        let customer = match (&sent, &report.address, report.message) {
            (Some(m), _, _) => m.customer.clone(),
            (None, Some(address), _) => self.by_address(address)?,
            (None, None, Some(id)) => return Err(InboxError::UnknownMessage(id)),
            (None, None, None) => return Err(InboxError::UnknownAddress),
        };
        // The address that bounced: the report's, else the customer's on this channel now.
        let address = match &report.address {
            Some(a) => Some(a.clone()),
            None => self
                .store
                .customer(&customer)
                .map_err(unavailable)?
                .and_then(|c| c.address(&self.channel.shape.address)),
        };
        let id = event_id("bounce-", &report.key);
        let message = sent.as_ref().map(|m| m.id.to_string());
        let campaign = sent.as_ref().and_then(|m| m.campaign.clone());
        let channel = self.channel.shape.name.clone();
        let event = match report.kind {
            BounceKind::Complaint => {
                let mut fields = Map::new();
                fields.insert("id".into(), id.into());
                fields.insert("customer".into(), customer.as_str().into());
                fields.insert("at".into(), Timestamp::now().to_string().into());
                fields.insert("channel".into(), channel.into());
                fields.insert("type".into(), "opt_out".into());
                fields.insert("reason".into(), "complaint".into());
                fields.insert("detail".into(), report.reason.into());
                for (k, v) in [
                    ("message", message),
                    ("campaign", campaign),
                    ("address", address),
                ] {
                    if let Some(v) = v {
                        fields.insert(k.into(), v.into());
                    }
                }
                event(fields)?
            }
            kind => kizuna_core::bounce::EmailBounced {
                id,
                customer: customer.clone(),
                at: Timestamp::now(),
                channel,
                hard: kind == BounceKind::Hard,
                reason: report.reason,
                address,
                message,
                campaign,
            }
            .to_event()
            .map_err(invalid)?,
        };
        self.keep(&customer, vec![event])
    }
}
