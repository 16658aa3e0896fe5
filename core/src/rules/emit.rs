//! `emit(customer_id, type, attrs)`: an event for another customer.
//!
//! A script affects the customer of its event; a referral pays someone else. `emit` records
//! an [`Effect::Emit`], and the store appends the event it describes right after its cause,
//! in the same write, where the other customer's scripts see it like any event (a
//! `referral_reward` that `points.rhai` turns into points).
//!
//! The emitted event is derived, never invented twice: its id comes from its cause (the
//! event, the script and the emit's place in that call, [`derived_id`]), so a retry, a
//! re-import of an export or a replay of the cause emits nothing new; and it carries
//! `emitted_by` (`event`, `script`), which `customer show` displays and a replay uses to
//! leave it out of the inputs (the cause emits it again). It may only be a type of the
//! business's own (not `purchase`, `opt_in`, … nor kizuna's `timer`, `segment_changed`,
//! `send_request`), to an existing customer; at most [`MAX_PER_CALL`] per script call, and
//! an emitted event may emit in turn only [`MAX_DEPTH`] deep.
//!
//! Erasing the customer of the cause erases the cause, not the emitted event, which is
//! the other customer's: so `emitted_by` names only the cause event and the script, and
//! the reference tells script authors to keep this customer's personal data out of
//! `attrs`.

use rhai::{EvalAltResult, Map};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{effect::Effect, view::to_json};
use crate::ids::{CustomerId, EventId, EventKind, MAX_ID_LEN};

type Res<T> = Result<T, Box<EvalAltResult>>;

/// Emits one script call may make.
pub const MAX_PER_CALL: usize = 10;

/// How many emitted events deep a chain may go (an emit from an event emitted by an
/// event emitted by an input event is the last).
pub const MAX_DEPTH: usize = 3;

/// The attribute that marks an emitted event and names its cause.
pub const EMITTED_BY: &str = "emitted_by";

/// Types kizuna writes itself: a script may not forge them.
const RESERVED: [&str; 3] = [
    crate::timer::TIMER_EVENT,
    crate::rfm::SEGMENT_CHANGED,
    crate::store::SEND_REQUEST,
];

/// Fields of every event, which `attrs` may not set.
const FIELDS: [&str; 5] = ["id", "customer", "type", "at", EMITTED_BY];

/// `emit(customer_id, type, attrs)`.
pub(super) fn emit(customer: &str, kind: &str, attrs: Map, already: usize) -> Res<Effect> {
    let target =
        CustomerId::new(customer).map_err(|e| format!("emit: customer id {customer:?} {e}"))?;
    let parsed = EventKind::parse(kind).map_err(|e| format!("emit: type {kind:?} {e}"))?;
    if !matches!(parsed, EventKind::Other(_)) || RESERVED.contains(&kind) {
        return Err(format!(
            "emit: type {kind:?} is kizuna's own; emit a type of your business's, like \"referral_reward\""
        )
        .into());
    }
    if let Some(field) = attrs.keys().find(|k| FIELDS.contains(&k.as_str())) {
        return Err(format!("emit: attrs may not set {field:?}; kizuna sets it").into());
    }
    if already >= MAX_PER_CALL {
        return Err(format!("emit: at most {MAX_PER_CALL} per call").into());
    }
    let attrs = match to_json(&rhai::Dynamic::from(attrs)) {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    Ok(Effect::Emit {
        customer: target,
        kind: kind.to_owned(),
        attrs,
        id: None,
    })
}

/// The id of the `n`th event `script` emitted on `cause`: readable when it fits
/// (`emit-o-17>referral.rhai#0`), else a hash of the same. (Never `h-…`, the prefix of ids
/// derived from an event's own content, which the door checks.)
pub fn derived_id(cause: &EventId, script: &str, n: usize) -> EventId {
    let plain = format!("emit-{cause}>{script}#{n}");
    if plain.len() <= MAX_ID_LEN {
        return EventId::from_trusted(plain);
    }
    let digest = Sha256::digest(plain.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    EventId::from_trusted(format!("emit-{hex}"))
}

/// Whether `event` was emitted by a script (and so is re-derived by a replay).
pub fn is_emitted(event: &crate::Event) -> bool {
    event.attrs.contains_key(EMITTED_BY)
}
