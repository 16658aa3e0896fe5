//! How long customers wait for staff: time to first reply per inquiry and complaint — the
//! figure behind the silence alarm (`kizuna report response`).
//!
//! The log is read in time order and each customer's inquiries and complaints are answered
//! the way their projection answers them ([`crate::customer`]): a `reply` with
//! `in_reply_to` answers that one, a `reply` naming nothing answers everything raised no
//! later than it. The wait is the time from the question to its first answer; the staff
//! member is the answer's `by`, when it has one. A question unanswered at `now` is open:
//! counted, but in no percentile, and in the share answered within 24 hours only once it has
//! waited 24 hours (before that, nobody has failed it yet). The promises made in the period
//! are counted beside: kept on time, late, broken (overdue and open at `now`), not yet due.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::Serialize;

use crate::{event::Event, ids::EventKind};

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBy {
    /// The month the question was asked, in the report's time zone.
    Month,
    /// The staff member who answered first (`(no name)` if the reply had none, `(open)`
    /// while unanswered).
    Staff,
}

/// One group's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseRow {
    /// The month (`2026-03`) or staff member; `all` for the total.
    pub group: String,
    /// Inquiries and complaints asked.
    pub asked: u64,
    /// Answered by `now`.
    pub answered: u64,
    /// Still open at `now`.
    pub open: u64,
    /// Answered within 24 hours.
    pub within_24h: u64,
    /// `within_24h` of those answered or waiting 24 hours or more.
    pub share_within_24h: Option<f64>,
    /// Median wait of the answered, in hours.
    pub p50_hours: Option<f64>,
    /// 90th percentile wait of the answered, in hours.
    pub p90_hours: Option<f64>,
    /// Longest wait of the answered, in hours.
    pub max_hours: Option<f64>,
    /// Longest wait so far of the open, in hours.
    pub oldest_open_hours: Option<f64>,
    #[serde(skip)]
    waits: Vec<f64>,
    #[serde(skip)]
    decided: u64,
}

/// The report: a row per group, and all of them together.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseReport {
    /// By month or staff member, in order.
    pub rows: Vec<ResponseRow>,
    /// Every question.
    pub total: ResponseRow,
    /// Promises made in the period ([`crate::promise`]), as of `now`.
    pub promises: PromiseFigures,
}

/// How the promises made in the period went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromiseFigures {
    /// Made.
    pub made: u64,
    /// Fulfilled by their (last) due time.
    pub kept: u64,
    /// Fulfilled after it.
    pub late: u64,
    /// Still open past their due time at `now`.
    pub broken: u64,
    /// Still open, not yet due.
    pub pending: u64,
}

/// A question, waiting.
struct Question {
    id: String,
    at: Timestamp,
}

const DAY: SignedDuration = SignedDuration::from_hours(24);

impl ResponseRow {
    fn named(group: &str) -> Self {
        Self {
            group: group.to_owned(),
            ..Self::default()
        }
    }

    fn add(&mut self, wait: SignedDuration, answered: bool) {
        self.asked += 1;
        let hours = wait.as_secs_f64() / 3600.0;
        if answered {
            self.answered += 1;
            self.decided += 1;
            self.waits.push(hours);
            if wait <= DAY {
                self.within_24h += 1;
            }
        } else {
            self.open += 1;
            if wait >= DAY {
                self.decided += 1;
            }
            self.oldest_open_hours = Some(self.oldest_open_hours.map_or(hours, |h| h.max(hours)));
        }
    }

    fn finish(mut self) -> Self {
        self.waits.sort_by(f64::total_cmp);
        let rank = |p: f64| -> Option<f64> {
            let n = self.waits.len();
            (n > 0).then(|| self.waits[((p * n as f64).ceil() as usize).clamp(1, n) - 1])
        };
        self.p50_hours = rank(0.5);
        self.p90_hours = rank(0.9);
        self.max_hours = self.waits.last().copied();
        self.share_within_24h =
            (self.decided > 0).then(|| self.within_24h as f64 / self.decided as f64);
        self
    }
}

/// Response times of the questions asked in `[since, until)`, as of `now`.
pub fn response_times<'a>(
    events: impl Iterator<Item = &'a Event>,
    tz: &TimeZone,
    by: ResponseBy,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    now: Timestamp,
) -> ResponseReport {
    let mut events: Vec<&Event> = events.filter(|e| e.at.instant() <= now).collect();
    // Stable: equal times keep log order (a question before its same-second answer).
    events.sort_by_key(|e| e.at.instant());
    let in_period = |t: Timestamp| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u);
    let mut waiting: HashMap<&str, Vec<Question>> = HashMap::new();
    // Each customer's promises made in the period, folded as the projection folds them.
    let mut promises: HashMap<&str, crate::promise::Promises> = HashMap::new();
    let mut figures = PromiseFigures::default();
    let mut rows: BTreeMap<String, ResponseRow> = BTreeMap::new();
    let mut total = ResponseRow::named("all");
    let mut record = |q: &Question, answer: Option<(Timestamp, String)>| {
        if !in_period(q.at) {
            return;
        }
        let (wait, answered, staff) = match answer {
            Some((at, staff)) => (at.duration_since(q.at), true, staff),
            None => (now.duration_since(q.at), false, "(open)".to_owned()),
        };
        let group = match by {
            ResponseBy::Month => q.at.to_zoned(tz.clone()).strftime("%Y-%m").to_string(),
            ResponseBy::Staff => staff,
        };
        rows.entry(group.clone())
            .or_insert_with(|| ResponseRow::named(&group))
            .add(wait, answered);
        total.add(wait, answered);
    };
    for e in events {
        let customer = e.customer.as_str();
        let t = e.at.instant();
        let kind = e.kind.as_str();
        if [
            crate::promise::PROMISE,
            crate::promise::DELAY,
            crate::promise::FULFILLED,
        ]
        .contains(&kind)
            && (kind != crate::promise::PROMISE || in_period(t))
        {
            let p = promises.entry(customer).or_default();
            let open_before = p.open.len();
            p.apply(e);
            if kind == crate::promise::PROMISE && p.open.len() > open_before {
                figures.made += 1;
            }
        }
        match e.kind {
            EventKind::Inquiry | EventKind::Complaint => {
                waiting.entry(customer).or_default().push(Question {
                    id: e.id.to_string(),
                    at: t,
                });
            }
            EventKind::Reply => {
                let Some(open) = waiting.get_mut(customer) else {
                    continue;
                };
                let staff = e.attr_str("by").unwrap_or("(no name)").to_owned();
                let (answered, rest): (Vec<Question>, Vec<Question>) = std::mem::take(open)
                    .into_iter()
                    .partition(|q| match e.attr_str("in_reply_to") {
                        Some(target) => q.id == target,
                        None => q.at <= t,
                    });
                *open = rest;
                for q in &answered {
                    record(q, Some((t, staff.clone())));
                }
            }
            _ => {}
        }
    }
    for open in waiting.values() {
        for q in open {
            record(q, None);
        }
    }
    for p in promises.values() {
        figures.kept += p.kept;
        figures.late += p.late;
        let broken = p.broken(now).count() as u64;
        figures.broken += broken;
        figures.pending += p.open.len() as u64 - broken;
    }
    ResponseReport {
        rows: rows.into_values().map(ResponseRow::finish).collect(),
        total: total.finish(),
        promises: figures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> Event {
        Event::from_json_str(json).unwrap()
    }

    #[test]
    fn waits_are_measured_to_the_first_answer_and_the_open_are_counted_apart() {
        let events = [
            // Answered by name after 2 h; then again later (not a second answer).
            ev(r#"{"id":"q1","customer":"c-1","type":"inquiry","at":"2026-03-01T10:00:00Z"}"#),
            ev(
                r#"{"customer":"c-1","type":"reply","at":"2026-03-01T12:00:00Z","in_reply_to":"q1","by":"Ken"}"#,
            ),
            ev(
                r#"{"customer":"c-1","type":"reply","at":"2026-03-02T12:00:00Z","in_reply_to":"q1","by":"Yui"}"#,
            ),
            // Two questions, one unnamed reply answers both (30 h and 26 h).
            ev(r#"{"id":"q2","customer":"c-2","type":"complaint","at":"2026-03-10T00:00:00Z"}"#),
            ev(r#"{"id":"q3","customer":"c-2","type":"inquiry","at":"2026-03-10T04:00:00Z"}"#),
            ev(r#"{"customer":"c-2","type":"reply","at":"2026-03-11T06:00:00Z"}"#),
            // A reply to another question leaves this one open: 48 h at `now`.
            ev(r#"{"id":"q4","customer":"c-3","type":"inquiry","at":"2026-04-01T00:00:00Z"}"#),
            ev(
                r#"{"customer":"c-3","type":"reply","at":"2026-04-01T01:00:00Z","in_reply_to":"zz"}"#,
            ),
            // Open, but not yet 24 h old at `now`: not failed yet.
            ev(r#"{"id":"q5","customer":"c-4","type":"inquiry","at":"2026-04-02T12:00:00Z"}"#),
            // Promises: one kept, one late, one broken, one not yet due.
            ev(
                r#"{"id":"p1","customer":"c-1","type":"promise","at":"2026-03-01T10:00:00Z","what":"a","due":"2026-03-02T00:00:00Z"}"#,
            ),
            ev(r#"{"customer":"c-1","type":"fulfilled","at":"2026-03-01T20:00:00Z","ref":"p1"}"#),
            ev(
                r#"{"id":"p2","customer":"c-1","type":"promise","at":"2026-03-01T10:00:00Z","what":"b","due":"2026-03-02T00:00:00Z"}"#,
            ),
            ev(r#"{"customer":"c-1","type":"fulfilled","at":"2026-03-03T00:00:00Z","ref":"p2"}"#),
            ev(
                r#"{"id":"p3","customer":"c-2","type":"promise","at":"2026-03-01T10:00:00Z","what":"c","due":"2026-03-02T00:00:00Z"}"#,
            ),
            ev(
                r#"{"id":"p4","customer":"c-2","type":"promise","at":"2026-04-02T10:00:00Z","what":"d","due":"2026-04-09T00:00:00Z"}"#,
            ),
        ];
        let now: Timestamp = "2026-04-03T00:00:00Z".parse().unwrap();
        let tz = TimeZone::UTC;
        let r = response_times(events.iter(), &tz, ResponseBy::Month, None, None, now);
        let t = &r.total;
        assert_eq!((t.asked, t.answered, t.open, t.within_24h), (5, 3, 2, 1));
        assert_eq!(t.share_within_24h, Some(1.0 / 4.0), "q5 is not decided yet");
        assert_eq!((t.p50_hours, t.max_hours), (Some(26.0), Some(30.0)));
        assert_eq!(t.oldest_open_hours, Some(48.0));
        let p = &r.promises;
        assert_eq!(
            (p.made, p.kept, p.late, p.broken, p.pending),
            (4, 1, 1, 1, 1)
        );
        let months: Vec<(&str, u64)> = r.rows.iter().map(|r| (r.group.as_str(), r.asked)).collect();
        assert_eq!(months, [("2026-03", 3), ("2026-04", 2)]);

        let r = response_times(events.iter(), &tz, ResponseBy::Staff, None, None, now);
        let staff: Vec<(&str, u64)> = r.rows.iter().map(|r| (r.group.as_str(), r.asked)).collect();
        assert_eq!(staff, [("(no name)", 2), ("(open)", 2), ("Ken", 1)]);
        // A period counts the questions asked in it.
        let since = "2026-04-01T00:00:00Z".parse().ok();
        let r = response_times(events.iter(), &tz, ResponseBy::Month, since, None, now);
        assert_eq!(r.total.asked, 2);
    }
}
