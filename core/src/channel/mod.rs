//! Channels: how a rendered message leaves kizuna.
//!
//! A channel is a small, synchronous trait: the dispatcher hands it one rendered message and
//! gets back a [`Delivery`] that says whether the message went out, may go out if tried again
//! (transient), or never will (permanent). Retries, backoff and dead-lettering live in the
//! dispatcher, not in each channel. Core ships the file channels (the embedded default, an
//! outbox you can read); SMTP, SMS gateways and webhooks are plugins behind the same trait.
//! The trait is synchronous on purpose: blocking SMTP/HTTP clients exist for every transport
//! we need, and a daemon can run a dispatcher on its own thread.

mod file;
mod limit;

pub use file::{FileEmailChannel, FileSmsChannel};
pub use limit::{Limited, Limits};

/// A channel that accepts every message and delivers nothing: for replays and dry runs,
/// where the guards' decisions matter and nothing may leave.
#[derive(Debug, Clone)]
pub struct NullChannel {
    name: String,
    field: AddressField,
}

impl NullChannel {
    /// A null channel answering to `name`, addressing customers by `field`.
    pub fn new(name: impl Into<String>, field: AddressField) -> Self {
        Self {
            name: name.into(),
            field,
        }
    }
}

impl Channel for NullChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn address_field(&self) -> AddressField {
        self.field
    }

    fn send(&self, _: &OutgoingMessage) -> Delivery {
        Delivery::Sent {
            receipt: String::new(),
        }
    }
}

use serde::Serialize;

use crate::{ids::CustomerId, rules::MessageClass, store::MessageId};

/// A message ready to send: template rendered, address resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutgoingMessage {
    /// The outbox id, used as the idempotency key (Message-ID, file name, …).
    pub id: MessageId,
    /// The customer.
    pub customer: CustomerId,
    /// Address on this channel (e-mail address, phone number).
    pub to: String,
    /// Subject, for channels that have one.
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// An HTML version of the text, for e-mail whose template has one
    /// (`<template>.email.html`); channels without HTML ignore it.
    pub html: Option<String>,
    /// Marketing, transactional or service.
    pub class: MessageClass,
    /// Template name, for the record.
    pub template: String,
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
    /// Never going to work (bad address, 5xx).
    Permanent {
        /// What went wrong.
        reason: String,
    },
}

/// A way of sending messages.
pub trait Channel: Send + Sync {
    /// The channel's name as scripts use it (`email`, `sms`, …).
    fn name(&self) -> &str;

    /// The customer profile field that holds the address on this channel.
    fn address_field(&self) -> AddressField;

    /// Sends one message.
    fn send(&self, message: &OutgoingMessage) -> Delivery;

    /// Whether the channel can send now (`kizuna channels check`): reachable, accepted,
    /// writable. The error says what is wrong, for an operator.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// How many messages the dispatcher may hand over at once. Files and local work need
    /// no more than the machine's two cores; a network channel waits on round trips and
    /// wants as many as it keeps connections.
    fn concurrency(&self) -> usize {
        2
    }

    /// Where messages go, for an operator (a directory, `host:port`).
    fn describe(&self) -> String {
        self.name().to_owned()
    }
}

/// Which profile field addresses a customer on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressField {
    /// `profile.email`.
    Email,
    /// `profile.phone`.
    Phone,
    /// The customer's id (a webhook receiver looks the customer up itself).
    CustomerId,
}
