//! Applying rule effects: to the projection, and to the outbox, timer, alert and rule-error
//! keyspaces, in the same batch as the event.

use super::batch::Batch;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Store, StoreError, keys};
use crate::{
    customer::Customer,
    event::Event,
    ids::{CustomerId, EventId},
    internal::SendRequest,
    rules::{AppliedEffect, Effect, MessageClass, RuleError, ScriptPos},
};

/// The effects of one event, as kept beside its block for replay and explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// The event's sequence number.
    pub seq: u64,
    /// Version of the rule set that produced the effects.
    pub rules: String,
    /// The effects that were applied.
    pub effects: Vec<AppliedEffect>,
}

/// A message queued by a `send` effect, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Stable id (from the event's sequence and the effect's position): the idempotency key
    /// channels use, so a retried send is recognisable as the same message.
    pub id: MessageId,
    /// The customer to contact.
    pub customer: CustomerId,
    /// Channel name.
    pub channel: String,
    /// Template name.
    pub template: String,
    /// Template variables.
    pub vars: Value,
    /// Marketing, transactional or service.
    pub class: MessageClass,
    /// The campaign it belongs to, if any (see [`Effect::Send`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The script that asked for it.
    pub script: String,
    /// The event that triggered it.
    pub event: EventId,
    /// When it was queued (the event's time).
    pub created: Timestamp,
    /// Where it is in its life.
    pub status: MessageStatus,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Set for a manual send forced past the guards: who asked and why (audited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<String>,
    /// The address it goes to, when it is not the customer's own: a staff notice's
    /// recipient ([`crate::staff`]). `None`: the customer's address on the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl OutboxMessage {
    /// The id of the `message_sent` event that records this message's delivery:
    /// `sent-<triggering event id>-<effect index>`, or the id's xxh3 hash in its place when
    /// that would be too long. It names the message by what any home holding the same
    /// events agrees on, not by this store's sequence numbers, so an exported history
    /// imported elsewhere recognises its messages as already sent
    /// ([`Store::recorded_sent`]).
    pub fn sent_event_id(&self) -> EventId {
        self.derived_event_id("sent")
    }

    /// The id of the `held_out` event that records this message held out of marketing
    /// ([`crate::lift`]): `held-<triggering event id>-<effect index>`, derived like
    /// [`OutboxMessage::sent_event_id`].
    pub fn held_event_id(&self) -> EventId {
        self.derived_event_id("held")
    }

    fn derived_event_id(&self, prefix: &str) -> EventId {
        let n = self.id.n;
        let plain = format!("{prefix}-{}-{n}", self.event);
        if plain.len() <= crate::ids::MAX_ID_LEN {
            return EventId::from_trusted(plain);
        }
        let hash = xxhash_rust::xxh3::xxh3_64(self.event.as_str().as_bytes());
        EventId::from_trusted(format!("{prefix}-h{hash:016x}-{n}"))
    }
}

pub use kizuna_channel::MessageId;

/// The life of an outbox message. Every transition is persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for the dispatcher.
    Pending,
    /// A guard asked to wait (e.g. quiet hours).
    Deferred {
        /// Not before this time.
        until: Timestamp,
        /// The guard (script) that deferred it.
        guard: String,
        /// Why.
        reason: String,
    },
    /// A guard refused it; it will not be sent.
    Suppressed {
        /// The guard (script) that refused it.
        guard: String,
        /// Why.
        reason: String,
    },
    /// The channel failed in a way worth retrying.
    Failed {
        /// When to try again.
        retry_at: Timestamp,
        /// The channel's error.
        error: String,
    },
    /// Given up: a permanent channel error, a broken template, or too many attempts.
    Dead {
        /// Why.
        reason: String,
    },
    /// Being handed to the channel. Found at start-up, it means a crash mid-send: the
    /// message is sent again (at-least-once; channels deduplicate by message id).
    Sending {
        /// When the attempt started.
        since: Timestamp,
    },
    /// Handed to the channel.
    Sent {
        /// When.
        at: Timestamp,
        /// The channel's receipt (file path, SMTP id, …).
        receipt: String,
    },
}

impl MessageStatus {
    /// The state's name (`pending`, `sent`, …), for filters and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Deferred { .. } => "deferred",
            Self::Suppressed { .. } => "suppressed",
            Self::Failed { .. } => "failed",
            Self::Dead { .. } => "dead",
            Self::Sending { .. } => "sending",
            Self::Sent { .. } => "sent",
        }
    }

    /// From when the dispatcher should take the message (`None`: never again). Pending and
    /// interrupted messages are due at once, whatever the clock says.
    pub fn due_from(&self) -> Option<Timestamp> {
        match self {
            Self::Pending | Self::Sending { .. } => Some(Timestamp::MIN),
            Self::Deferred { until, .. } => Some(*until),
            Self::Failed { retry_at, .. } => Some(*retry_at),
            Self::Suppressed { .. } | Self::Dead { .. } | Self::Sent { .. } => None,
        }
    }

    /// Whether the dispatcher should take the message at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        match self {
            Self::Pending | Self::Sending { .. } => true,
            Self::Deferred { until, .. } => *until <= now,
            Self::Failed { retry_at, .. } => *retry_at <= now,
            Self::Suppressed { .. } | Self::Dead { .. } | Self::Sent { .. } => false,
        }
    }
}

/// A timer set by `schedule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timer {
    /// The customer.
    pub customer: CustomerId,
    /// Its name (one per name and customer).
    pub name: String,
    /// When it falls due.
    pub due: Timestamp,
    /// Data for `on_timer`.
    pub data: Value,
    /// The script that set it.
    pub script: String,
}

/// A staff alert's id: `a-<event seq>-<effect index>`, like a message's.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub struct AlertId {
    /// Sequence number of the event whose rules raised it.
    pub seq: u64,
    /// Position of the `alert` among that event's effects.
    pub n: u32,
}

impl std::fmt::Display for AlertId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a-{}-{}", self.seq, self.n)
    }
}

impl std::str::FromStr for AlertId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an alert id (like a-123-0)");
        let rest = s.strip_prefix("a-").ok_or_else(bad)?;
        let (seq, n) = rest.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            seq: seq.parse().map_err(|_| bad())?,
            n: n.parse().map_err(|_| bad())?,
        })
    }
}

impl From<AlertId> for String {
    fn from(id: AlertId) -> Self {
        id.to_string()
    }
}

impl TryFrom<String> for AlertId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Who handled an alert, when, and what they said (an `alert_acked` or `alert_resolved`
/// event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handled {
    /// When.
    pub at: Timestamp,
    /// The staff member, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// A note, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The event that recorded it.
    pub event: EventId,
}

/// A staff alert raised by `alert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Its id (from where it is stored).
    #[serde(default)]
    pub id: AlertId,
    /// The customer concerned.
    pub customer: CustomerId,
    /// The text.
    pub text: String,
    /// The script that raised it.
    pub script: String,
    /// The event that triggered it.
    pub event: EventId,
    /// When (the event's time).
    pub at: Timestamp,
    /// Higher first in a priority-sorted list; 0 if the script gave none.
    #[serde(default)]
    pub priority: i64,
    /// Acknowledged by staff (`kizuna alerts ack`): someone is on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<Handled>,
    /// Resolved by staff (`kizuna alerts resolve`): no longer open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Handled>,
    /// When the staff notices of it were queued ([`crate::staff`]); `None`: not yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<Timestamp>,
    /// When its escalation was queued, still open after `escalate_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated: Option<Timestamp>,
}

impl Alert {
    /// What kind of alert it is, for routing it to staff: the name of the script that
    /// raised it without its folder and `.rhai` (`silence`, `promises`, `complaints`), or
    /// `dispatch` for a message whose template failed.
    pub fn kind(&self) -> &str {
        let file = self.script.rsplit('/').next().unwrap_or(&self.script);
        file.strip_suffix(".rhai").unwrap_or(file)
    }
}

pub use crate::internal::SEND_REQUEST;

/// The `send` effect of a manual send request ([`SendRequest`]), attributed to the script
/// name `manual`.
pub(super) fn manual_send(event: &Event) -> Option<AppliedEffect> {
    let request = SendRequest::from_event(event)?;
    Some(AppliedEffect {
        script: "manual".into(),
        effect: Effect::Send {
            channel: request.channel,
            template: request.template,
            vars: Value::Object(request.vars),
            class: request.class,
            campaign: request.campaign,
        },
    })
}

/// Applies each script's effects to `customer`, one script at a time and all-or-nothing per
/// script: if one effect is refused (redeeming beyond the balance, awards the ledger cannot
/// hold), that script's effects for this event are all dropped and a rule error says why.
/// Awards are checked before anything is applied, so only a group that redeems needs a copy
/// of the customer to roll back to.
pub(super) fn apply_to_customer(
    customer: &mut Customer,
    event: &Event,
    effects: Vec<AppliedEffect>,
) -> (Vec<AppliedEffect>, Vec<RuleError>) {
    let mut kept = Vec::with_capacity(effects.len());
    let mut errors = Vec::new();
    let mut rest = effects.as_slice();
    while let Some(first) = rest.first() {
        let len = rest.iter().take_while(|e| e.script == first.script).count();
        let (group, tail) = rest.split_at(len);
        rest = tail;
        let fallible = group
            .iter()
            .any(|e| matches!(e.effect, Effect::RedeemPoints { .. }));
        let backup = fallible.then(|| customer.clone());
        let mut refused = awards_fit(customer, group).err();
        if refused.is_none() {
            for e in group {
                if let Err(message) = customer.apply_effect(e, event) {
                    refused = Some(message);
                    break;
                }
            }
        }
        match (refused, backup) {
            (Some(message), backup) => {
                if let Some(backup) = backup {
                    *customer = backup;
                }
                errors.push(RuleError {
                    function: "apply".into(),
                    pos: ScriptPos {
                        file: first.script.clone(),
                        line: None,
                        column: None,
                    },
                    message,
                    event: event.id.to_string(),
                    customer: event.customer.to_string(),
                });
            }
            _ => kept.extend_from_slice(group),
        }
    }
    (kept, errors)
}

/// Whether the ledger can take every award of `group` (a script's effects on one event).
fn awards_fit(customer: &Customer, group: &[AppliedEffect]) -> Result<(), String> {
    let mut total: i64 = 0;
    for e in group {
        if let Effect::AwardPoints { points, .. } = e.effect {
            customer.loyalty.can_award(points)?;
            total = total.checked_add(points).ok_or_else(|| {
                format!("cannot award {points} more points in one go: the total overflows")
            })?;
        }
    }
    if total > 0 {
        customer.loyalty.can_award(total)?;
    }
    Ok(())
}

/// Adds the outbox and alert entries of an event's effects, and its rule errors, to `batch`.
/// (Timers are part of the customer's record: [`crate::timer`].)
pub(super) fn write_side_effects(
    store: &Store,
    batch: &mut Batch,
    seq: u64,
    event: &Event,
    effects: &[AppliedEffect],
    errors: &[RuleError],
) -> Result<(), StoreError> {
    let json_err =
        |e: serde_json::Error| store.corrupt(event.id.as_str().as_bytes(), e.to_string());
    let at = event.at.instant();
    for (n, e) in effects.iter().enumerate() {
        let n = n as u32;
        match &e.effect {
            Effect::Send {
                channel,
                template,
                vars,
                class,
                campaign,
            } => {
                let msg = OutboxMessage {
                    campaign: campaign.clone(),
                    id: MessageId { seq, n },
                    customer: event.customer.clone(),
                    channel: channel.clone(),
                    template: template.clone(),
                    vars: vars.clone(),
                    class: *class,
                    script: e.script.clone(),
                    event: event.id.clone(),
                    created: at,
                    status: MessageStatus::Pending,
                    attempts: 0,
                    forced: (e.script == "manual")
                        .then(|| SendRequest::from_event(event).and_then(|r| r.force_reason))
                        .flatten(),
                    to: None,
                };
                batch.insert(
                    &keys::item(keys::OUTBOX, seq, n),
                    serde_json::to_vec(&msg).map_err(json_err)?,
                );
                batch.insert(keys::outbox_due(Timestamp::MIN, seq, n), &[][..]);
            }
            Effect::Alert { text, priority } => {
                let alert = Alert {
                    id: AlertId { seq, n },
                    acked: None,
                    resolved: None,
                    notified: None,
                    escalated: None,
                    priority: *priority,
                    customer: event.customer.clone(),
                    text: text.clone(),
                    script: e.script.clone(),
                    event: event.id.clone(),
                    at,
                };
                batch.insert(
                    &keys::item(keys::ALERT, seq, n),
                    serde_json::to_vec(&alert).map_err(json_err)?,
                );
            }
            _ => {}
        }
    }
    if let Some(change) = crate::internal::AlertHandled::from_event(event) {
        handle_alert(store, batch, event, &change)?;
    }
    for (n, err) in errors.iter().enumerate() {
        batch.insert(
            &keys::item(keys::RULE_ERROR, seq, n as u32),
            serde_json::to_vec(err).map_err(json_err)?,
        );
    }
    Ok(())
}

impl Store {
    /// The value of `key` as it will be once `batch` is written: the batch's last write
    /// of it, else what is stored.
    pub(super) fn read_through(
        &self,
        batch: &Batch,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match batch.latest(key) {
            Some(pending) => Ok(pending.map(|v| v.to_vec())),
            None => Ok(self
                .tree
                .get(key)
                .map_err(|e| self.sled_err(e))?
                .map(|v| v.to_vec())),
        }
    }
}

/// Records an `alert_acked` or `alert_resolved` event on its alert, in the event's batch:
/// after a crash both are there or neither. An alert that is not this customer's, or not
/// there, is left alone (the event stays in the history; the commands check first).
fn handle_alert(
    store: &Store,
    batch: &mut Batch,
    event: &Event,
    change: &crate::internal::AlertHandled,
) -> Result<(), StoreError> {
    let key = keys::item(keys::ALERT, change.alert.seq, change.alert.n);
    let Some(bytes) = store.read_through(batch, &key)? else {
        return Ok(());
    };
    let mut alert = store.alert_at(&key, &bytes)?;
    if alert.customer != event.customer {
        return Ok(());
    }
    let handled = Handled {
        at: event.at.instant(),
        by: change.by.clone(),
        note: change.note.clone(),
        event: event.id.clone(),
    };
    if change.resolved {
        alert.resolved = Some(handled);
    } else {
        alert.acked = Some(handled);
    }
    let bytes = serde_json::to_vec(&alert).map_err(|e| store.corrupt(&key, e.to_string()))?;
    batch.insert(key.to_vec(), bytes);
    Ok(())
}
