//! The relationship KPIs the guides behind kizuna name: how often the business reaches out
//! (contacts), how often customers answer (replies), act (reactions), ask (inquiries) and
//! buy afterwards (attributed purchases and revenue per contact).
//!
//! A contact is a message kizuna sent (`message_sent`) or a call or visit by staff
//! (`contact`). A customer's reply, reaction, inquiry or purchase counts for the *latest*
//! contact made to them in the `window` before it (last touch), so each response is
//! counted once, and each contact is "replied to" or "reacted to" at most once. Groups
//! (campaign, channel, month) are the contact's.
//!
//! ```
//! use kizuna_core::{kpi::{Grouping, KpiSettings, kpis}, Event};
//!
//! let events: Vec<Event> = [
//!     r#"{"customer":"c-1","type":"message_sent","at":"2026-03-01T10:00:00Z","channel":"email","template":"sale","campaign":"spring"}"#,
//!     r#"{"customer":"c-1","type":"purchase","at":"2026-03-03T10:00:00Z","amount":3000}"#,
//! ].iter().map(|l| Event::from_json_str(l).unwrap()).collect();
//! let report = kpis(events.iter(), &KpiSettings::default(), Grouping::Campaign, None, None);
//! assert_eq!(report.rows[0].group, "spring");
//! assert_eq!((report.rows[0].contacts, report.rows[0].purchases, report.rows[0].revenue), (1, 1, 3000));
//! ```

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::Serialize;

use crate::{
    event::Event,
    ids::{CustomerId, EventKind},
};

/// What counts as a reply and a reaction, and how long after a contact a response is
/// credited to it.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiSettings {
    /// Event types that are a customer writing back (default: `customer_reply`,
    /// `inquiry`, `complaint`; staff `reply` events are the business's own answers).
    pub reply_types: Vec<String>,
    /// Event types that are a reaction (default: `click`, `visit`, `page_view`).
    pub reaction_types: Vec<String>,
    /// How long after a contact a response counts for it.
    pub window: SignedDuration,
    /// The zone months are read in.
    pub tz: TimeZone,
}

impl Default for KpiSettings {
    fn default() -> Self {
        Self {
            reply_types: vec![
                "customer_reply".into(),
                "inquiry".into(),
                "complaint".into(),
            ],
            reaction_types: vec!["click".into(), "visit".into(), "page_view".into()],
            window: SignedDuration::from_hours(7 * 24),
            tz: TimeZone::UTC,
        }
    }
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// By the message's campaign (`-` for none, `staff` for calls and visits).
    Campaign,
    /// By channel (`staff` for calls and visits).
    Channel,
    /// By the contact's month (`2026-03`).
    Month,
}

/// One row of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KpiRow {
    /// The group.
    pub group: String,
    /// Contacts made.
    pub contacts: u64,
    /// Contacts the customer replied to within the window.
    pub replied: u64,
    /// `replied / contacts`.
    pub reply_rate: f64,
    /// Contacts followed by a reaction within the window.
    pub reacted: u64,
    /// `reacted / contacts`.
    pub reaction_rate: f64,
    /// Inquiries and complaints credited to these contacts.
    pub inquiries: u64,
    /// Purchases credited to these contacts.
    pub purchases: u64,
    /// Their revenue.
    pub revenue: i64,
    /// `revenue / contacts`.
    pub revenue_per_contact: f64,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KpiReport {
    /// Rows by group, sorted.
    pub rows: Vec<KpiRow>,
    /// All contacts together.
    pub total: KpiRow,
    /// Inquiries and complaints in the period, credited or not.
    pub all_inquiries: u64,
    /// Purchases in the period, credited or not.
    pub all_purchases: u64,
    /// Their revenue.
    pub all_revenue: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Response {
    Reply,
    Reaction,
    Inquiry,
    Purchase(i64),
}

struct Contact {
    at: Timestamp,
    group: usize,
    replied: bool,
    reacted: bool,
}

/// Computes the KPIs over `events` for contacts made in `[since, until)`.
pub fn kpis<'a>(
    events: impl Iterator<Item = &'a Event>,
    settings: &KpiSettings,
    by: Grouping,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> KpiReport {
    let in_period = |t: Timestamp| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u);
    let mut groups: Vec<String> = Vec::new();
    let mut group_ids: HashMap<String, usize> = HashMap::new();
    // Per customer: their contacts and responses, as (time, what).
    let mut contacts: HashMap<CustomerId, Vec<Contact>> = HashMap::new();
    let mut responses: HashMap<CustomerId, Vec<(Timestamp, Response)>> = HashMap::new();
    let mut report = KpiReport::default();
    for e in events {
        let t = e.at.instant();
        let kind = e.kind.as_str();
        let response = if let Some(amount) = e.purchase_amount() {
            Some(Response::Purchase(amount))
        } else if settings.reply_types.iter().any(|r| r == kind) {
            Some(
                if matches!(e.kind, EventKind::Inquiry | EventKind::Complaint) {
                    Response::Inquiry
                } else {
                    Response::Reply
                },
            )
        } else if settings.reaction_types.iter().any(|r| r == kind) {
            Some(Response::Reaction)
        } else if matches!(e.kind, EventKind::Inquiry | EventKind::Complaint) {
            Some(Response::Inquiry)
        } else {
            None
        };
        if let Some(r) = response {
            if in_period(t) {
                match r {
                    Response::Inquiry => report.all_inquiries += 1,
                    Response::Purchase(a) => {
                        report.all_purchases += 1;
                        report.all_revenue = report.all_revenue.saturating_add(a);
                    }
                    _ => {}
                }
            }
            responses
                .entry(e.customer.clone())
                .or_default()
                .push((t, r));
            continue;
        }
        let is_contact = matches!(e.kind, EventKind::MessageSent | EventKind::Contact);
        if !is_contact || !in_period(t) {
            continue;
        }
        let staff = e.kind == EventKind::Contact;
        let name = match by {
            Grouping::Campaign if staff => "staff".to_owned(),
            Grouping::Campaign => e.attr_str("campaign").unwrap_or("-").to_owned(),
            Grouping::Channel if staff => "staff".to_owned(),
            Grouping::Channel => e.attr_str("channel").unwrap_or("-").to_owned(),
            Grouping::Month => {
                let d = t.to_zoned(settings.tz.clone()).date();
                format!("{:04}-{:02}", d.year(), d.month())
            }
        };
        let next = groups.len();
        let group = *group_ids.entry(name.clone()).or_insert_with(|| {
            groups.push(name);
            next
        });
        contacts
            .entry(e.customer.clone())
            .or_default()
            .push(Contact {
                at: t,
                group,
                replied: false,
                reacted: false,
            });
    }
    let mut rows: Vec<KpiRow> = groups
        .iter()
        .map(|g| KpiRow {
            group: g.clone(),
            ..KpiRow::default()
        })
        .collect();
    for (customer, mut list) in contacts {
        list.sort_by_key(|c| c.at);
        for c in &list {
            rows[c.group].contacts += 1;
        }
        let mut answers = responses.remove(&customer).unwrap_or_default();
        answers.sort_by_key(|(t, _)| *t);
        for (t, r) in answers {
            // The latest contact strictly before the response, within the window.
            let i = list.partition_point(|c| c.at < t);
            let Some(c) = i.checked_sub(1).map(|i| &mut list[i]) else {
                continue;
            };
            if t.duration_since(c.at) > settings.window {
                continue;
            }
            let row = &mut rows[c.group];
            match r {
                Response::Reply if !c.replied => {
                    c.replied = true;
                    row.replied += 1;
                }
                Response::Reaction if !c.reacted => {
                    c.reacted = true;
                    row.reacted += 1;
                }
                Response::Inquiry => {
                    row.inquiries += 1;
                    if !c.replied {
                        // Writing in is answering.
                        c.replied = true;
                        row.replied += 1;
                    }
                }
                Response::Purchase(amount) => {
                    row.purchases += 1;
                    row.revenue = row.revenue.saturating_add(amount);
                }
                _ => {}
            }
        }
    }
    rows.sort_by(|a, b| a.group.cmp(&b.group));
    let mut total = KpiRow {
        group: "all".into(),
        ..KpiRow::default()
    };
    for r in &mut rows {
        finish(r);
        total.contacts += r.contacts;
        total.replied += r.replied;
        total.reacted += r.reacted;
        total.inquiries += r.inquiries;
        total.purchases += r.purchases;
        total.revenue = total.revenue.saturating_add(r.revenue);
    }
    finish(&mut total);
    report.rows = rows;
    report.total = total;
    report
}

fn finish(r: &mut KpiRow) {
    let per = |n: f64| {
        if r.contacts == 0 {
            0.0
        } else {
            n / r.contacts as f64
        }
    };
    r.reply_rate = per(r.replied as f64);
    r.reaction_rate = per(r.reacted as f64);
    r.revenue_per_contact = per(r.revenue as f64);
}

/// Rows keyed by group, for tests and tools that look rows up by name.
pub fn by_group(report: &KpiReport) -> BTreeMap<&str, &KpiRow> {
    report.rows.iter().map(|r| (r.group.as_str(), r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(lines: &[&str]) -> Vec<Event> {
        lines
            .iter()
            .map(|l| Event::from_json_str(l).unwrap())
            .collect()
    }

    fn sent(customer: &str, at: &str, campaign: &str) -> String {
        format!(
            r#"{{"customer":"{customer}","type":"message_sent","at":"{at}","channel":"email","template":"t","campaign":"{campaign}"}}"#
        )
    }

    #[test]
    fn responses_go_to_the_latest_contact_within_the_window_once() {
        let lines = [
            sent("c-1", "2026-03-01T00:00:00Z", "spring"),
            sent("c-1", "2026-03-05T00:00:00Z", "sale"),
            // Credited to "sale" (the latest), once for the reply, once for the click.
            r#"{"customer":"c-1","type":"customer_reply","at":"2026-03-06T00:00:00Z"}"#.into(),
            r#"{"customer":"c-1","type":"customer_reply","at":"2026-03-06T01:00:00Z"}"#.into(),
            r#"{"customer":"c-1","type":"click","at":"2026-03-06T02:00:00Z"}"#.into(),
            r#"{"customer":"c-1","type":"purchase","at":"2026-03-07T00:00:00Z","amount":5000}"#
                .into(),
            // Eight days after "sale": nobody's.
            r#"{"customer":"c-1","type":"purchase","at":"2026-03-13T00:00:01Z","amount":900}"#
                .into(),
            sent("c-2", "2026-03-01T00:00:00Z", "spring"),
            r#"{"customer":"c-2","type":"inquiry","at":"2026-03-02T00:00:00Z"}"#.into(),
            // Before any contact: nobody's.
            r#"{"customer":"c-3","type":"purchase","at":"2026-02-01T00:00:00Z","amount":700}"#
                .into(),
            r#"{"customer":"c-3","type":"contact","at":"2026-03-01T00:00:00Z","channel":"phone"}"#
                .into(),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let evs = events(&refs);
        let r = kpis(
            evs.iter(),
            &KpiSettings::default(),
            Grouping::Campaign,
            None,
            None,
        );
        let g = by_group(&r);
        let sale = g["sale"];
        assert_eq!((sale.contacts, sale.replied, sale.reacted), (1, 1, 1));
        assert_eq!((sale.purchases, sale.revenue), (1, 5000));
        let spring = g["spring"];
        assert_eq!(
            (spring.contacts, spring.replied, spring.inquiries),
            (2, 1, 1)
        );
        assert_eq!(spring.reply_rate, 0.5);
        assert_eq!(g["staff"].contacts, 1);
        assert_eq!(r.total.contacts, 4);
        assert_eq!((r.all_purchases, r.all_revenue), (3, 6600));
        assert_eq!(r.total.revenue_per_contact, 1250.0);

        let by_month = kpis(
            evs.iter(),
            &KpiSettings::default(),
            Grouping::Month,
            None,
            None,
        );
        assert_eq!(by_group(&by_month)["2026-03"].contacts, 4);
        let march_5_on = kpis(
            evs.iter(),
            &KpiSettings::default(),
            Grouping::Channel,
            Some("2026-03-02T00:00:00Z".parse().unwrap()),
            None,
        );
        assert_eq!(march_5_on.total.contacts, 1, "only the 5 March message");
    }
}
