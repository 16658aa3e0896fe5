//! kizuna-channel: the contract between kizuna and its channel plugins.
//!
//! A plugin depends on this crate and nothing else of kizuna's — no store, no rule engine —
//! as `tower-service` stands apart from `tower`. It sees only what crosses the boundary:
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`ids`] | the customer's and the outbox message's ids |
//! | [`message`] | the rendered [`OutgoingMessage`], the [`Delivery`] a send ends in, a channel's [`Format`] and [`AddressField`] |
//! | [`Channel`] (here) | the trait a plugin implements: send, check, concurrency, describe |
//! | [`limit`] | rate and concurrency limits around any channel, with RAII permits |
//! | [`config`] | a plugin's settings (parse, validate, build) and the [`Registry`] of plugins by `type` |
//! | [`inbound`] | the HTTP routes a plugin answers (delivery reports, customers writing in) and the [`Inbox`] they report to |
//! | [`query`] | query strings as gateways send them |
//!
//! The channel is synchronous on purpose: blocking SMTP/HTTP clients exist for every
//! transport we need, and the dispatcher runs sends on its own threads. Retries, backoff and
//! dead-lettering are the dispatcher's; a channel only says whether one send went out, may go
//! out if tried again (transient), or never will (permanent).

#![deny(missing_docs)]

pub mod config;
pub mod ids;
pub mod inbound;
pub mod limit;
pub mod message;
pub mod query;

pub use config::{BuildContext, BuildError, Built, ChannelConfig, Problem, Registry, Section};
pub use ids::{CustomerId, MessageId};
pub use inbound::{InboundRequest, InboundResponse, InboundRoute, Inbox};
pub use limit::{Limited, Limits, Permit};
pub use message::{AddressField, Delivery, Format, MessageClass, OutgoingMessage};

/// A way of sending messages.
pub trait Channel: Send + Sync {
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
    fn describe(&self) -> String;

    /// The form of `address` that two spellings of one address share, for finding the
    /// customer an inbound message is from: a phone channel keeps the last ten digits,
    /// so `+81 90-1234-5678` and `090-1234-5678` are one number. By default the address
    /// trimmed; `None` for what cannot be an address on this channel.
    fn address_key(&self, address: &str) -> Option<String> {
        let key = address.trim();
        (!key.is_empty()).then(|| key.to_owned())
    }
}

/// What the host knows of a configured channel besides how it sends: the name scripts use,
/// where a customer's address is, and which templates its messages are rendered from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelShape {
    /// The channel's name, as scripts and guards see it (`email`, `line`, …): the name of its
    /// section in the configuration.
    pub name: String,
    /// The profile field (or the id) that addresses a customer on it.
    pub address: AddressField,
    /// What it carries.
    pub format: Format,
}

impl ChannelShape {
    /// A shape.
    pub fn new(name: impl Into<String>, address: AddressField, format: Format) -> Self {
        Self {
            name: name.into(),
            address,
            format,
        }
    }
}

/// A channel and its shape: what the dispatcher sends through. The channel is shared with
/// whatever else needs it while the daemon runs (its inbound routes match addresses with
/// [`Channel::address_key`]).
#[derive(Clone)]
pub struct Configured {
    /// Name, address field, format.
    pub shape: ChannelShape,
    /// How it sends (with its limits, if any).
    pub channel: std::sync::Arc<dyn Channel>,
}

impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configured")
            .field("shape", &self.shape)
            .field("channel", &self.channel.describe())
            .finish()
    }
}

/// A channel that accepts every message and delivers nothing: for replays and dry runs,
/// where the guards' decisions matter and nothing may leave.
#[derive(Debug, Clone, Default)]
pub struct NullChannel;

impl Channel for NullChannel {
    fn send(&self, _: &OutgoingMessage) -> Delivery {
        Delivery::Sent {
            receipt: String::new(),
        }
    }

    fn describe(&self) -> String {
        "nowhere (a replay)".into()
    }
}
