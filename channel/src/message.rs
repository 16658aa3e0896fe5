//! What crosses the boundary on a send: the rendered message going in, the delivery coming
//! out, and the words both sides use to describe a channel (its format and address field).

use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, MessageId};

/// A message ready to send: template rendered, address resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutgoingMessage {
    /// The outbox id, used as the idempotency key (Message-ID, file name, retry key, …).
    pub id: MessageId,
    /// The customer.
    pub customer: CustomerId,
    /// Address on this channel (e-mail address, phone number, LINE user id).
    pub to: String,
    /// Subject, for channels that have one.
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// An HTML version of the text, for e-mail whose template has one
    /// (`<template>.email.html`); channels without HTML ignore it.
    pub html: Option<String>,
    /// Marketing, transactional, service or staff.
    pub class: MessageClass,
    /// Template name, for the record.
    pub template: String,
    /// A one-click opt-out link for this message, signed by the host (RFC 8058): channels
    /// that carry headers announce it (`List-Unsubscribe`); `None` when none is configured.
    pub unsubscribe: Option<String>,
}

/// What kind of message a `send` queues; guards apply different rules to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageClass {
    /// Promotions and campaigns: frequency-capped, need opt-in.
    Marketing,
    /// Receipts, tier changes, anything the customer's own action caused.
    Transactional,
    /// Answers and apologies in a conversation the customer started.
    Service,
    /// A notice to the shop's own staff (a new or escalated alert, the daily digest):
    /// addressed to a staff member, never counted as contact with the customer, and never
    /// asked of a script or a command — kizuna queues these itself.
    Staff,
}

impl MessageClass {
    /// The class's name, as scripts, events and reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::Transactional => "transactional",
            Self::Service => "service",
            Self::Staff => "staff",
        }
    }

    /// Parses the name of a class a script, a campaign or `kizuna send` may ask for:
    /// `marketing`, `transactional` or `service` (never `staff`, which would pass the
    /// customer's guards unasked).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "marketing" => Some(Self::Marketing),
            "transactional" => Some(Self::Transactional),
            "service" => Some(Self::Service),
            _ => None,
        }
    }
}

/// What happened to one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted; `receipt` identifies it on the channel's side.
    Sent {
        /// File path, server message id, …
        receipt: String,
    },
    /// Not sent now; worth retrying (connection refused, 4xx, disk full).
    Transient {
        /// What went wrong.
        reason: String,
    },
    /// Never going to work (5xx, a message the far side will not take).
    Permanent {
        /// What went wrong.
        reason: String,
    },
    /// The recipient's address itself was refused (SMTP 5.1.x: no such user): never going
    /// to work for this address. The host records it as a hard bounce, so the address is
    /// not written to again.
    AddressRefused {
        /// The far side's words.
        reason: String,
    },
}

/// The shape of what a channel carries, which decides the templates its messages are
/// rendered from (after `<template>.<channel name>`, which always comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// E-mail: `<template>.email`, whose first line must be `Subject: …`, with an optional
    /// HTML twin `<template>.email.html`.
    Email,
    /// A short text with no subject: `<template>.sms`.
    Sms,
    /// Plain text, a subject optional (`Subject: …` on the first line): `<template>.text`.
    Text,
}

impl Format {
    /// The template suffix of the format (`email`, `sms`, `text`).
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Text => "text",
        }
    }
}

/// Where a channel finds a customer's address: a field of their profile (`email`, `phone`,
/// `line_id`, any other text field a profile event sets), or their id (a webhook receiver
/// looks the customer up itself). Written `id` for the latter in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressField {
    /// The customer's id.
    CustomerId,
    /// A profile field, by name.
    Profile(String),
}

impl AddressField {
    /// A profile field.
    pub fn profile(name: &str) -> Self {
        Self::Profile(name.to_owned())
    }
}

impl std::fmt::Display for AddressField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CustomerId => f.write_str("id"),
            Self::Profile(name) => f.write_str(name),
        }
    }
}

impl std::str::FromStr for AddressField {
    type Err = String;

    /// `id`, or a profile field name: lower-case letters, digits and `_`, a letter first.
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "id" {
            return Ok(Self::CustomerId);
        }
        let mut chars = s.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && s.len() <= 64;
        if well_formed {
            Ok(Self::Profile(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not an address field: \"id\" or a profile field name (like \"email\" or \"line_id\")"
            ))
        }
    }
}

impl Serialize for AddressField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AddressField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
