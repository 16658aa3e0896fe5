//! Who on the staff hears of which alerts, when, and how: the `[staff]` section of
//! `kizuna.toml`, as the core uses it (the CLI reads and checks the file).

use jiff::{SignedDuration, Timestamp, civil::Time, tz::TimeZone};

use crate::store::Alert;

/// Recipients a policy may have: their index is part of a staff message's id.
pub const MAX_RECIPIENTS: usize = 64;

/// The staff, and the clock they live by.
#[derive(Debug, Clone)]
pub struct StaffPolicy {
    /// Who is told; no one when empty (alerts are then only listed by `kizuna alerts`).
    pub recipients: Vec<Recipient>,
    /// How long an alert may stay open before it is escalated; `None`: never.
    pub escalate_after: Option<SignedDuration>,
    /// The zone digest times and quiet hours are read in.
    pub tz: TimeZone,
}

impl StaffPolicy {
    /// No recipients: nothing is ever queued.
    pub fn none() -> Self {
        Self {
            recipients: Vec::new(),
            escalate_after: None,
            tz: TimeZone::UTC,
        }
    }
}

/// One staff recipient: a person, a shared mailbox, a chat room.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    /// Their name, as notices and the outbox show it.
    pub name: String,
    /// The channel, by name (`[channels.<name>]`).
    pub channel: String,
    /// Their address on it (an e-mail address, a phone number); the name for channels that
    /// address no one (a chat or webhook URL).
    pub to: String,
    /// The alert kinds they hear of ([`Alert::kind`]); empty: every kind.
    pub kinds: Vec<String>,
    /// The lowest alert priority they hear of.
    pub min_priority: i64,
    /// Whether they are told of each new alert.
    pub new_alerts: bool,
    /// Whether they are told of alerts still open after `escalate_after`.
    pub escalations: bool,
    /// The local time of their daily digest of open alerts; `None`: no digest.
    pub digest_at: Option<Time>,
    /// Hours in which their notices wait; `None`: none.
    pub quiet: Option<QuietHours>,
    /// Alerts of at least this priority reach them even in their quiet hours.
    pub page_priority: Option<i64>,
}

impl Recipient {
    /// Whether `alert` is theirs to hear of: its kind and priority.
    pub fn routes(&self, alert: &Alert) -> bool {
        alert.priority >= self.min_priority
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == alert.kind()))
    }

    /// When a notice of `priority` queued at `now` may go: `None` at once, or the end of
    /// their quiet hours.
    pub fn hold_until(&self, priority: i64, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        if self.page_priority.is_some_and(|p| priority >= p) {
            return None;
        }
        self.quiet.as_ref()?.ends(now, tz)
    }
}

/// Daily quiet hours, local time: from `from` to `until`, across midnight when `until` is
/// earlier (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Start (inclusive).
    pub from: Time,
    /// End (exclusive).
    pub until: Time,
}

impl QuietHours {
    /// Parses `HH:MM-HH:MM`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: String| format!("{s:?} is not quiet hours like \"22:00-07:00\": {why}");
        let (from, until) = s
            .split_once('-')
            .ok_or_else(|| bad("no '-' between the times".into()))?;
        let time = |t: &str| {
            t.trim()
                .parse::<Time>()
                .map_err(|e| bad(format!("{t:?}: {e}")))
        };
        let (from, until) = (time(from)?, time(until)?);
        if from == until {
            return Err(bad("they start and end at the same time".into()));
        }
        Ok(Self { from, until })
    }

    /// If `now` falls in the quiet hours (read in `tz`), when they end.
    pub fn ends(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = now.to_zoned(tz.clone());
        let t = local.time();
        let inside = if self.from < self.until {
            self.from <= t && t < self.until
        } else {
            t >= self.from || t < self.until
        };
        if !inside {
            return None;
        }
        // Today's end, or tomorrow's if it has passed (quiet since the evening).
        let mut date = local.date();
        if t >= self.until {
            date = date.tomorrow().ok()?;
        }
        let end = date.to_datetime(self.until).to_zoned(tz.clone()).ok()?;
        Some(end.timestamp())
    }
}

impl std::fmt::Display for QuietHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}",
            self.from.strftime("%H:%M"),
            self.until.strftime("%H:%M")
        )
    }
}
