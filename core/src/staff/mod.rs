//! Telling the staff: every new alert notified once, an alert left open escalated once, a
//! daily digest of what is open — each an outbox message of class
//! [`Staff`](crate::channel::MessageClass::Staff).
//!
//! A staff round ([`round`]) looks at the alerts at `now` (the daemon's tick, `kizuna
//! tick`) and queues what is owed, per recipient of the [`StaffPolicy`]:
//!
//! - a **notice** for each open alert not yet notified (`staff_alert` template);
//! - an **escalation** for each alert still open `escalate_after` after it was raised, to
//!   the recipients who take escalations (`staff_escalation`);
//! - a **digest** once a day at the recipient's `digest_at` local time (`staff_digest`) of
//!   the alerts open then, if there are any; a round that runs late (the daemon was down)
//!   sends that day's digest late, with the same alerts.
//!
//! **Each is queued exactly once, across crashes and restarts**, because what says it was
//! queued is written in the same sled batch as the messages
//! ([`Store::queue_staff`](crate::Store::queue_staff)): the
//! alert's `notified` and `escalated` times, and a marker per recipient and day for a
//! digest. A round that crashes before that batch left nothing, and the next round queues
//! it all; a round after it finds the marks and queues nothing. From the outbox on, a staff
//! message lives like any other — retried, dead-lettered, listed and reported — except that
//! the customer's guards do not apply to it (it does not go to the customer) and its
//! delivery appends no `message_sent` (it is not contact with the customer).
//!
//! A recipient's quiet hours defer their notices to the end of the quiet hours unless the
//! alert's priority reaches their `page_priority`. What the message says is rendered when it
//! goes out, from the alert as it is then ([`crate::dispatch`]): a notice whose alert was
//! resolved meanwhile is not sent.

mod policy;
mod round;

pub use policy::{MAX_RECIPIENTS, QuietHours, Recipient, StaffPolicy};
pub use round::{StaffReport, StaffRound, round};

use crate::store::MessageId;

/// Templates of the three staff messages.
pub const ALERT_TEMPLATE: &str = "staff_alert";
/// See [`ALERT_TEMPLATE`].
pub const ESCALATION_TEMPLATE: &str = "staff_escalation";
/// See [`ALERT_TEMPLATE`].
pub const DIGEST_TEMPLATE: &str = "staff_digest";

/// The script name staff messages are attributed to in the outbox.
pub const SCRIPT: &str = "staff";

/// Whether `id` names a staff message: their effect index has the top bit set, which no
/// script's effect reaches.
pub fn is_staff_message(id: MessageId) -> bool {
    id.n & STAFF_BIT != 0
}

const STAFF_BIT: u32 = 1 << 31;

/// What a staff message is, in its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Notice = 0,
    Escalation = 1,
    Digest = 2,
}

/// The id of a staff message: the sequence number of the alert's event (for a digest, of
/// its newest alert's), so it is listed beside what caused it, and an effect index with the
/// top bit set, then 19 bits of the alert's index (for a digest, of the day), 2 of the
/// kind and 10 of the recipient. Unique because each (alert, kind) is queued once and each
/// (recipient, day) digest once; recipients are at most [`policy::MAX_RECIPIENTS`].
fn message_id(seq: u64, slot: u32, kind: Kind, recipient: usize) -> MessageId {
    let recipient = u32::try_from(recipient).unwrap_or(0) & 0x3ff;
    MessageId {
        seq,
        n: STAFF_BIT | ((slot & 0x7_ffff) << 12) | ((kind as u32) << 10) | recipient,
    }
}

/// The marker of one recipient's digest for one local day.
fn digest_marker(recipient: &str, day: jiff::civil::Date) -> String {
    format!("staff-digest:{recipient}:{day}")
}

#[cfg(test)]
mod tests;
