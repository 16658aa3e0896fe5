//! Effects: what a script asked for, as data.
//!
//! Scripts never change state directly. Each action they call (`award_points`, `send`, …)
//! records an [`Effect`]; the store applies the effects of an event in the same atomic write
//! as the event itself, and keeps them next to it in the log, so a replay rebuilds the
//! projection without running a single script, and `customer show` can say which script
//! gave which points for which event.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One action requested by a script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Add a lot of loyalty points (expiring at `expires`).
    AwardPoints {
        /// Points, positive.
        points: i64,
        /// Why, for the customer's statement.
        reason: String,
        /// When the lot expires.
        expires: Timestamp,
    },
    /// Spend points, oldest lots first; refused (as a rule error) beyond the balance.
    RedeemPoints {
        /// Points, positive.
        points: i64,
        /// Why.
        reason: String,
    },
    /// Set the loyalty tier.
    SetTier {
        /// Tier name (`bronze`, `silver`, `gold`, …).
        tier: String,
    },
    /// Add a tag.
    Tag {
        /// The tag.
        tag: String,
    },
    /// Remove a tag.
    Untag {
        /// The tag.
        tag: String,
    },
    /// Queue a message (sent by the dispatcher, through the guards).
    Send {
        /// Channel name (`email`, `sms`, …).
        channel: String,
        /// Template name.
        template: String,
        /// Template variables.
        vars: Value,
        /// Message class: `marketing` (the default; capped, consent needed), `transactional`
        /// or `service` (replies to the customer's own request). Guards treat them apart.
        #[serde(default = "default_marketing")]
        class: MessageClass,
        /// The campaign it belongs to, so reports and guards can tell campaigns apart: the
        /// script's `const CAMPAIGN`, or the file name of a script in `campaigns/`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        campaign: Option<String>,
    },
    /// Set (or reset) a named timer for this customer.
    Schedule {
        /// Timer name; one timer per name and customer.
        name: String,
        /// When it falls due.
        at: Timestamp,
        /// Data handed to `on_timer`.
        data: Value,
    },
    /// Cancel a named timer of this customer.
    Cancel {
        /// Timer name.
        name: String,
    },
    /// Keep a value in the script's state for this customer (`null` removes the key):
    /// [`super::state`].
    SetState {
        /// The key.
        key: String,
        /// The value (JSON).
        value: Value,
    },
    /// Record an event for another customer, after this one ([`super::emit`]).
    Emit {
        /// Whose event.
        customer: crate::ids::CustomerId,
        /// Its type.
        #[serde(rename = "type")]
        kind: String,
        /// Its attributes.
        attrs: serde_json::Map<String, Value>,
        /// Its id, derived from the cause (set by the engine once the script has run).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<crate::ids::EventId>,
    },
    /// Tell the staff something.
    Alert {
        /// The message.
        text: String,
        /// Higher first when staff sort their list (e.g. a customer's revenue); 0 if unset.
        #[serde(default, skip_serializing_if = "is_zero")]
        priority: i64,
    },
}

pub use kizuna_channel::MessageClass;

/// The class of a `send` that names none.
fn default_marketing() -> MessageClass {
    MessageClass::Marketing
}

/// An effect with the script that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedEffect {
    /// Script file name, e.g. `points.rhai`.
    pub script: String,
    /// The effect.
    #[serde(flatten)]
    pub effect: Effect,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}
