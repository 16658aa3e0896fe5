//! Does the mail arrive, and do customers want it? (`kizuna report deliverability`)
//!
//! Read from the log, in one pass: `message_sent` (sent), `message_delivered` (a channel's
//! receipt), `email_bounced` (hard or soft), `opt_out` with reason `complaint` (marked as
//! spam) or `unsubscribe link` (left by the link in a message). A follow-up that names its
//! message is counted in the group of that message — its campaign, the month it was sent —
//! so a rate is "of the mail sent in March, how much bounced", not mixed with April's
//! sending. One that names no message (a bounce matched by address) counts in the group of
//! its own campaign and month. Rates are per message sent in the group.

use std::collections::{BTreeMap, HashMap};

use jiff::{Timestamp, tz::TimeZone};
use serde::Serialize;

use crate::{event::Event, ids::EventKind};

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverabilityBy {
    /// The campaign the message belonged to (`(none)` for messages of no campaign).
    Campaign,
    /// The month the message was sent, in the report's time zone.
    Month,
}

/// One group's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeliverabilityRow {
    /// The campaign or month; `all` for the total.
    pub group: String,
    /// Messages sent.
    pub sent: u64,
    /// Delivery receipts (where the channel reports them).
    pub delivered: u64,
    /// Hard bounces.
    pub bounced_hard: u64,
    /// Soft bounces.
    pub bounced_soft: u64,
    /// Spam complaints.
    pub complaints: u64,
    /// Opt-outs through a message's link.
    pub unsubscribes: u64,
    /// (hard + soft) / sent.
    pub bounce_rate: Option<f64>,
    /// complaints / sent.
    pub complaint_rate: Option<f64>,
    /// unsubscribes / sent.
    pub unsubscribe_rate: Option<f64>,
}

impl DeliverabilityRow {
    fn add(&mut self, other: &Self) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.bounced_hard += other.bounced_hard;
        self.bounced_soft += other.bounced_soft;
        self.complaints += other.complaints;
        self.unsubscribes += other.unsubscribes;
    }

    fn rates(&mut self) {
        let of = |n: u64| (self.sent > 0).then(|| n as f64 / self.sent as f64);
        self.bounce_rate = of(self.bounced_hard + self.bounced_soft);
        self.complaint_rate = of(self.complaints);
        self.unsubscribe_rate = of(self.unsubscribes);
    }
}

/// The report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeliverabilityReport {
    /// A row per group, in group order.
    pub rows: Vec<DeliverabilityRow>,
    /// Every group together.
    pub total: DeliverabilityRow,
}

/// What a follow-up event counts as.
enum Counted {
    Sent,
    Delivered,
    Hard,
    Soft,
    Complaint,
    Unsubscribe,
}

fn counted(event: &Event) -> Option<Counted> {
    match &event.kind {
        EventKind::MessageSent => Some(Counted::Sent),
        EventKind::OptOut => match event.attr_str("reason") {
            Some("complaint") => Some(Counted::Complaint),
            Some("unsubscribe link") => Some(Counted::Unsubscribe),
            _ => None,
        },
        EventKind::Other(k) if k == "message_delivered" => Some(Counted::Delivered),
        EventKind::Other(k) if k == crate::bounce::EMAIL_BOUNCED => match event.attr_str("kind") {
            Some("soft") => Some(Counted::Soft),
            _ => Some(Counted::Hard),
        },
        _ => None,
    }
}

/// The report over `events` (the log, in any order), those at or after `since` and before
/// `until`.
pub fn deliverability<'a>(
    events: impl Iterator<Item = &'a Event>,
    tz: &TimeZone,
    by: DeliverabilityBy,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> DeliverabilityReport {
    let group_of = |event: &Event| match by {
        DeliverabilityBy::Campaign => event.attr_str("campaign").unwrap_or("(none)").to_owned(),
        DeliverabilityBy::Month => event
            .at
            .instant()
            .to_zoned(tz.clone())
            .strftime("%Y-%m")
            .to_string(),
    };
    let mut sent_group: HashMap<String, String> = HashMap::new();
    let mut follow_ups = Vec::new();
    let mut rows: BTreeMap<String, DeliverabilityRow> = BTreeMap::new();
    for event in events {
        let t = event.at.instant();
        if since.is_some_and(|s| t < s) || until.is_some_and(|u| t >= u) {
            continue;
        }
        let Some(what) = counted(event) else { continue };
        if let Counted::Sent = what {
            let group = group_of(event);
            if let Some(m) = event.attr_str("message") {
                sent_group.insert(m.to_owned(), group.clone());
            }
            rows.entry(group).or_default().sent += 1;
        } else {
            follow_ups.push((event, what));
        }
    }
    // Follow-ups after every send is known: a report may come before its message in a
    // log imported out of order.
    for (event, what) in follow_ups {
        let group = event
            .attr_str("message")
            .and_then(|m| sent_group.get(m).cloned())
            .unwrap_or_else(|| group_of(event));
        let row = rows.entry(group).or_default();
        match what {
            Counted::Sent => row.sent += 1,
            Counted::Delivered => row.delivered += 1,
            Counted::Hard => row.bounced_hard += 1,
            Counted::Soft => row.bounced_soft += 1,
            Counted::Complaint => row.complaints += 1,
            Counted::Unsubscribe => row.unsubscribes += 1,
        }
    }
    let mut total = DeliverabilityRow {
        group: "all".into(),
        ..DeliverabilityRow::default()
    };
    let rows = rows
        .into_iter()
        .map(|(group, mut row)| {
            row.group = group;
            total.add(&row);
            row.rates();
            row
        })
        .collect();
    total.rates();
    DeliverabilityReport { rows, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> Event {
        Event::from_json_str(json).unwrap()
    }

    #[test]
    fn follow_ups_count_in_the_group_of_the_message_they_name() {
        let events = [
            ev(
                r#"{"id":"s1","customer":"c-1","type":"message_sent","at":"2026-03-31T10:00:00Z","channel":"email","template":"t","class":"marketing","campaign":"spring","message":"m-1-0"}"#,
            ),
            ev(
                r#"{"id":"s2","customer":"c-2","type":"message_sent","at":"2026-03-31T10:00:00Z","channel":"email","template":"t","class":"marketing","campaign":"spring","message":"m-2-0"}"#,
            ),
            ev(
                r#"{"id":"s3","customer":"c-3","type":"message_sent","at":"2026-04-02T10:00:00Z","channel":"email","template":"t","class":"transactional","message":"m-3-0"}"#,
            ),
            // April follow-ups of March's spring mail.
            ev(
                r#"{"id":"b1","customer":"c-1","type":"email_bounced","at":"2026-04-01T10:00:00Z","channel":"email","kind":"hard","reason":"5.1.1","message":"m-1-0"}"#,
            ),
            ev(
                r#"{"id":"u1","customer":"c-2","type":"opt_out","at":"2026-04-01T11:00:00Z","channel":"email","reason":"unsubscribe link","message":"m-2-0"}"#,
            ),
            ev(
                r#"{"id":"x1","customer":"c-2","type":"opt_out","at":"2026-04-01T12:00:00Z","channel":"email","reason":"complaint","message":"m-2-0"}"#,
            ),
            // A soft bounce matched by address only, and an opt-out by SMS stop word.
            ev(
                r#"{"id":"b2","customer":"c-3","type":"email_bounced","at":"2026-04-03T10:00:00Z","channel":"email","kind":"soft","reason":"4.2.2"}"#,
            ),
            ev(
                r#"{"id":"o1","customer":"c-3","type":"opt_out","at":"2026-04-03T10:00:00Z","channel":"sms","reason":"stop word by SMS"}"#,
            ),
        ];
        let tz = TimeZone::UTC;
        let r = deliverability(events.iter(), &tz, DeliverabilityBy::Campaign, None, None);
        let spring = r.rows.iter().find(|r| r.group == "spring").unwrap();
        assert_eq!(
            (
                spring.sent,
                spring.bounced_hard,
                spring.unsubscribes,
                spring.complaints
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(spring.bounce_rate, Some(0.5));
        let none = r.rows.iter().find(|r| r.group == "(none)").unwrap();
        assert_eq!((none.sent, none.bounced_soft), (1, 1));
        assert_eq!(
            (r.total.sent, r.total.bounced_hard + r.total.bounced_soft),
            (3, 2)
        );
        let by_month = deliverability(events.iter(), &tz, DeliverabilityBy::Month, None, None);
        let march = &by_month.rows[0];
        assert_eq!(
            (
                march.group.as_str(),
                march.sent,
                march.bounced_hard,
                march.complaints
            ),
            ("2026-03", 2, 1, 1)
        );
        assert_eq!(by_month.rows[1].group, "2026-04");
        assert_eq!(by_month.rows[1].bounced_soft, 1);
    }
}
