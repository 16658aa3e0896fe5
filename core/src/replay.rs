//! Replay (backtest): run the recorded history through a rule set in a scratch store and
//! compare two rule sets' results, sending nothing and changing nothing in the live store.
//!
//! This is what a marketer runs before saving a rule change in production. The inputs are
//! every recorded event except those kizuna derived itself (`timer` firings, `held_out`,
//! `message_sent`, and events scripts emitted for other customers), which the replay
//! produces anew: timers fire and messages are dispatched
//! through the guards to [`NullChannel`]s as the replay's clock passes their time. Timers
//! are exact: the clock stops before the first event at or after the next timer's time and
//! fires it first, so a 24-hour silence alarm sees exactly the replies that came within
//! the day. Dispatch runs at the first event after each hour of history, so a message goes
//! out up to an hour (or, when the history is quiet, until the next event) after it was
//! due, and a message deferred to the morning goes out at the first stop after that.
//! Both rule sets are replayed the same way, so their difference is fair.
//!
//! `segment_changed` events (RFM passes) are inputs: replaying them gives both rule sets
//! the segments the live store saw.
//!
//! After the last input event the clock runs on to the end of the replay (`until`; the
//! CLI's default is now): timers due meanwhile fire at their time and their messages go
//! out, so a reminder due after the last purchase is in the replay as it is in the live
//! store.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::{
    channel::{ChannelShape, Configured, NullChannel},
    dispatch::{Dispatcher, RetryPolicy},
    event::Event,
    ids::{CustomerId, EventKind},
    rules::RuleSet,
    store::{MessageStatus, Store, StoreError},
};

/// The recorded history, ready to replay.
#[derive(Debug, Clone)]
pub struct History {
    /// Input events, in time order (append order among equal times).
    events: Arc<Vec<Event>>,
    /// Differences are counted from here on (the whole history is still replayed, so
    /// balances and contact counts are right).
    since: Option<Timestamp>,
    /// The replay's clock stops here.
    until: Option<Timestamp>,
    /// The channels messages are dispatched to, as null channels.
    channels: Arc<Vec<ChannelShape>>,
    /// Who is held out of marketing: the live run's groups, so a backtest compares like
    /// with like ([`crate::lift::holdout`]).
    holdouts: crate::lift::holdout::Holdouts,
}

/// Events appended per write at most (one write per clock stop otherwise).
const MAX_CHUNK: usize = 10_000;

/// How often the replay's clock dispatches (at the first event after each interval).
const DISPATCH_EVERY: SignedDuration = SignedDuration::from_hours(1);

impl History {
    /// Reads the input events of `store` up to `until` (all if `None`).
    pub fn load(
        store: &Store,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<Self, StoreError> {
        let mut events = Vec::new();
        for event in store.events() {
            let event = event?;
            let derived = matches!(&event.kind, EventKind::MessageSent)
                || event.kind.as_str() == crate::internal::HELD_OUT
                || crate::timer::is_timer_event(&event)
                || crate::rules::emit::is_emitted(&event);
            if derived || until.is_some_and(|u| event.at.instant() > u) {
                continue;
            }
            events.push(event);
        }
        // Stable: equal times keep append order.
        events.sort_by_key(|e| e.at.instant());
        Ok(Self {
            events: Arc::new(events),
            since,
            until,
            channels: Arc::new(crate::channel::default_shapes()),
            holdouts: crate::lift::holdout::Holdouts::default(),
        })
    }

    /// Holds out of marketing whom the live run holds out.
    pub fn with_holdouts(mut self, holdouts: crate::lift::holdout::Holdouts) -> Self {
        self.holdouts = holdouts;
        self
    }

    /// Runs the clock on to `end` after the last event, if that is later, keeping every
    /// event: "replay to now" without dropping events dated after now.
    pub fn with_clock_to(mut self, end: Timestamp) -> Self {
        let last = self.events.last().map(|e| e.at.instant());
        self.until = Some(last.map_or(end, |l| l.max(end)));
        self
    }

    /// Dispatches to null versions of these channels: those the home configures, so a
    /// webhook's or LINE's messages are sent in a backtest as live, not dead for want of a
    /// channel. By default, the embedded `email` and `sms` ([`crate::channel::default_shapes`]).
    pub fn with_channels(mut self, channels: Vec<ChannelShape>) -> Self {
        self.channels = Arc::new(channels);
        self
    }

    /// Input events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there is nothing to replay.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Replays the history through `rules`, with message templates from `templates`.
    pub fn run(&self, rules: Arc<RuleSet>, templates: &Path) -> Result<Outcome, StoreError> {
        let mut store = Store::open_temporary()?;
        let channels = self
            .channels
            .iter()
            .map(|shape| Configured {
                shape: shape.clone(),
                channel: std::sync::Arc::new(NullChannel),
            })
            .collect();
        let dispatcher = Dispatcher::new(
            channels,
            Arc::clone(&rules),
            PathBuf::from(templates),
            RetryPolicy::default(),
        )
        .with_holdouts(self.holdouts.clone());
        let mut outcome = Outcome {
            rules: rules.version().to_owned(),
            ..Outcome::default()
        };
        let events = &self.events;
        let mut next_due = None;
        let mut next_dispatch = Timestamp::MIN;
        let mut i = 0;
        while i < events.len() {
            let now = events[i].at.instant();
            self.fire(&mut store, &rules, &mut outcome, &mut next_due, now)?;
            if now >= next_dispatch {
                dispatcher.run(&mut store, now)?;
                next_dispatch = now.checked_add(DISPATCH_EVERY).unwrap_or(now);
            }
            // Up to the next timer or dispatch, whichever comes first.
            let stop = next_due.map_or(next_dispatch, |d| d.min(next_dispatch));
            let mut j = i + 1;
            while j < events.len() && j - i < MAX_CHUNK && events[j].at.instant() < stop {
                j += 1;
            }
            let report = store.append(&rules, &events[i..j])?;
            outcome.events += report.appended;
            outcome.rule_errors += report.rule_errors;
            next_due = store.next_timer_due()?;
            i = j;
        }
        let end = self.until.or_else(|| events.last().map(|e| e.at.instant()));
        if let Some(end) = end {
            // The clock runs on past the last event: each timer fires at its own time, and
            // messages go out at the first stop after each hour, as above.
            next_due = store.next_timer_due()?;
            while let Some(due) = next_due.filter(|d| *d <= end) {
                if due >= next_dispatch {
                    dispatcher.run(&mut store, due)?;
                    next_dispatch = due.checked_add(DISPATCH_EVERY).unwrap_or(due);
                }
                let fired = store.fire_due_timers(&rules, due)?;
                outcome.timers_fired += fired.appended;
                outcome.rule_errors += fired.rule_errors;
                next_due = store.next_timer_due()?;
                if fired.appended == 0 && next_due == Some(due) {
                    break; // a due entry with no timer behind it; nothing more will fire
                }
            }
            dispatcher.run(&mut store, end)?;
        }
        store.flush()?;
        self.summarise(&store, &mut outcome, end)?;
        Ok(outcome)
    }

    /// Fires the timers due by `now`.
    fn fire(
        &self,
        store: &mut Store,
        rules: &RuleSet,
        outcome: &mut Outcome,
        next_due: &mut Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if next_due.is_some_and(|d| d <= now) {
            let fired = store.fire_due_timers(rules, now)?;
            outcome.timers_fired += fired.appended;
            outcome.rule_errors += fired.rule_errors;
            *next_due = store.next_timer_due()?;
        }
        Ok(())
    }

    fn summarise(
        &self,
        store: &Store,
        outcome: &mut Outcome,
        end: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let counted = |t: Timestamp| self.since.is_none_or(|s| t >= s);
        for m in store.outbox_as::<MessageFacts>() {
            let m = m?;
            if !counted(m.created) {
                continue;
            }
            let guard = match &m.status {
                MessageStatus::Suppressed { guard, .. } | MessageStatus::Deferred { guard, .. } => {
                    guard.clone()
                }
                _ => String::new(),
            };
            let key = MessageKey {
                campaign: m.campaign.unwrap_or_default(),
                template: m.template,
                outcome: m.status.name().to_owned(),
                guard,
            };
            *outcome.messages.entry(key).or_default() += 1;
        }
        for a in store.alerts()? {
            if counted(a.at) {
                *outcome.alerts.entry(a.script).or_default() += 1;
            }
        }
        let at = end.unwrap_or_else(Timestamp::now);
        for c in store.customers() {
            let mut c = c?;
            c.loyalty.expire(at);
            let l = &c.loyalty;
            let standing = Standing {
                points: Ledger {
                    issued: l.issued,
                    redeemed: l.redeemed,
                    expired: l.expired,
                    balance: l.balance(at),
                },
                tier: l.tier.clone(),
            };
            outcome.customers.insert(c.id, standing);
        }
        Ok(())
    }
}

/// The fields of an outbox message the summary counts by (the rest, vars above all, is
/// skipped while decoding: a year's replay summarises ~750,000 messages).
#[derive(Debug, serde::Deserialize)]
struct MessageFacts {
    campaign: Option<String>,
    template: String,
    created: Timestamp,
    status: MessageStatus,
}

/// What one rule set made of the history.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// The rule set's version.
    pub rules: String,
    /// Events replayed.
    pub events: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Rule errors raised.
    pub rule_errors: u64,
    /// Each customer's points and tier at the end.
    #[serde(skip)]
    pub customers: BTreeMap<CustomerId, Standing>,
    /// Messages by campaign, template, final state and guard.
    #[serde(skip)]
    pub messages: BTreeMap<MessageKey, u64>,
    /// Alerts by script.
    pub alerts: BTreeMap<String, u64>,
}

/// A customer's loyalty standing at the end of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// Points.
    pub points: Ledger,
    /// Tier.
    pub tier: Option<String>,
}

/// Points issued, redeemed and expired, and the balance they leave: kept apart, since a
/// rule that awards later shows a higher balance at the end only because less has expired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    /// Points ever awarded.
    pub issued: i64,
    /// Points spent.
    pub redeemed: i64,
    /// Points lost to expiry by the end of the replay.
    pub expired: i64,
    /// Points left at the end of the replay.
    pub balance: i64,
}

impl Ledger {
    /// `self − other`, field by field (saturating).
    pub fn minus(self, other: Self) -> Self {
        Self {
            issued: self.issued.saturating_sub(other.issued),
            redeemed: self.redeemed.saturating_sub(other.redeemed),
            expired: self.expired.saturating_sub(other.expired),
            balance: self.balance.saturating_sub(other.balance),
        }
    }

    /// `self + other`, field by field (saturating).
    pub fn plus(self, other: Self) -> Self {
        Self {
            issued: self.issued.saturating_add(other.issued),
            redeemed: self.redeemed.saturating_add(other.redeemed),
            expired: self.expired.saturating_add(other.expired),
            balance: self.balance.saturating_add(other.balance),
        }
    }

    /// The largest change of any field, for ranking customers by how much changed.
    fn largest(self) -> i64 {
        [self.issued, self.redeemed, self.expired, self.balance]
            .into_iter()
            .map(i64::saturating_abs)
            .max()
            .unwrap_or(0)
    }
}

/// How messages are grouped in a replay.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MessageKey {
    /// Campaign name (empty for none).
    pub campaign: String,
    /// Template.
    pub template: String,
    /// Final state: sent, suppressed, deferred, dead, …
    pub outcome: String,
    /// The guard that suppressed or deferred it (empty otherwise).
    pub guard: String,
}

/// The difference between the live rules' replay and a candidate's.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// The live rules' run.
    pub live: Outcome,
    /// The candidate's run.
    pub candidate: Outcome,
    /// Customers whose points differ (issued, redeemed, expired or balance).
    pub points_changed: u64,
    /// Sums of (candidate − live), each measure apart.
    pub points_delta: Ledger,
    /// The largest differences, biggest first.
    pub top_points: Vec<PointsChange>,
    /// Customers whose tier differs, by (live tier, candidate tier).
    pub tiers: Vec<TierChange>,
    /// Message counts that differ.
    pub messages: Vec<MessageChange>,
}

/// One customer's points under both rule sets.
#[derive(Debug, Clone, Serialize)]
pub struct PointsChange {
    /// The customer.
    pub customer: CustomerId,
    /// Points under the live rules.
    pub live: Ledger,
    /// Points under the candidate.
    pub candidate: Ledger,
}

/// Customers moving between two tiers.
#[derive(Debug, Clone, Serialize)]
pub struct TierChange {
    /// Tier under the live rules.
    pub live: Option<String>,
    /// Tier under the candidate.
    pub candidate: Option<String>,
    /// How many customers.
    pub customers: u64,
}

/// One message group's count under both rule sets.
#[derive(Debug, Clone, Serialize)]
pub struct MessageChange {
    /// The group.
    #[serde(flatten)]
    pub key: MessageKey,
    /// Count under the live rules.
    pub live: u64,
    /// Count under the candidate.
    pub candidate: u64,
}

/// Compares two outcomes of the same history.
pub fn diff(live: Outcome, candidate: Outcome, top: usize) -> Diff {
    let empty = Standing {
        points: Ledger::default(),
        tier: None,
    };
    let mut points = Vec::new();
    let mut tiers: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
    let ids: std::collections::BTreeSet<&CustomerId> = live
        .customers
        .keys()
        .chain(candidate.customers.keys())
        .collect();
    for id in ids {
        let a = live.customers.get(id).unwrap_or(&empty);
        let b = candidate.customers.get(id).unwrap_or(&empty);
        if a.points != b.points {
            points.push(PointsChange {
                customer: id.clone(),
                live: a.points,
                candidate: b.points,
            });
        }
        if a.tier != b.tier {
            *tiers.entry((a.tier.clone(), b.tier.clone())).or_default() += 1;
        }
    }
    let points_changed = points.len() as u64;
    let points_delta = points.iter().fold(Ledger::default(), |sum, p| {
        sum.plus(p.candidate.minus(p.live))
    });
    points.sort_by_key(|p| {
        (
            std::cmp::Reverse(p.candidate.minus(p.live).largest()),
            p.customer.clone(),
        )
    });
    points.truncate(top);
    let keys: std::collections::BTreeSet<&MessageKey> = live
        .messages
        .keys()
        .chain(candidate.messages.keys())
        .collect();
    let messages = keys
        .into_iter()
        .filter_map(|k| {
            let (a, b) = (
                live.messages.get(k).copied().unwrap_or(0),
                candidate.messages.get(k).copied().unwrap_or(0),
            );
            (a != b).then(|| MessageChange {
                key: k.clone(),
                live: a,
                candidate: b,
            })
        })
        .collect();
    Diff {
        points_changed,
        points_delta,
        top_points: points,
        tiers: tiers
            .into_iter()
            .map(|((live, candidate), customers)| TierChange {
                live,
                candidate,
                customers,
            })
            .collect(),
        messages,
        live,
        candidate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A webhook message in the history is sent in a backtest when the home has a webhook
    /// channel, and dead (no such channel) when the replay knows only e-mail and SMS.
    #[test]
    fn a_replay_dispatches_to_every_configured_channel() {
        use crate::channel::{AddressField, Format};
        let templates = tempfile::tempdir().unwrap();
        std::fs::write(templates.path().join("notice.webhook"), "{{ vars.text }}").unwrap();
        let mut store = Store::open_temporary().unwrap();
        let events = [
            r#"{"id":"p","customer":"c-1","type":"profile","at":"2026-03-01T00:00:00Z","name":"Aiko"}"#,
            r#"{"id":"s","customer":"c-1","type":"send_request","at":"2026-03-01T01:00:00Z","channel":"webhook","template":"notice","class":"transactional","vars":{"text":"hi"}}"#,
        ]
        .map(|j| Event::from_json_str(j).unwrap());
        store.append(RuleSet::none(), &events).unwrap();
        let outcome_of = |history: &History| {
            let outcome = history
                .run(Arc::new(RuleSet::empty()), templates.path())
                .unwrap();
            outcome
                .messages
                .iter()
                .map(|(k, n)| (k.outcome.clone(), *n))
                .collect::<Vec<_>>()
        };
        let history = History::load(&store, None, None).unwrap();
        assert_eq!(outcome_of(&history), [("dead".to_owned(), 1)]);
        let configured = history.with_channels(vec![
            ChannelShape::new("email", AddressField::profile("email"), Format::Email),
            ChannelShape::new("webhook", AddressField::CustomerId, Format::Text),
        ]);
        assert_eq!(outcome_of(&configured), [("sent".to_owned(), 1)]);
    }
}
