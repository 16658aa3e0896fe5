//! Each campaign's lift: its treated customers against its held-out ones.
//!
//! A customer's measurement window opens when the campaign's first marketing message to
//! them went out (`message_sent`) or would have gone (`held_out`, group `campaign`), and
//! lasts `window` — the same rule for both arms, so the only difference between them is the
//! message. Within it: did they buy (conversion), how much (revenue per customer, zero for
//! those who did not), did they write back (a reply type). Below `min_per_arm` customers in
//! either arm no comparison is claimed. Customers of the global control group are not a
//! campaign's held-out arm (they are the global comparison's).
//!
//! Two passes over the log: the first finds who is in which arm and when their window
//! opens, the second adds up what they did in it, holding only those customers' figures.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::stats::{self, Comparison, Proportion, Sample};
use crate::{
    event::Event,
    ids::{CustomerId, EventKind},
    internal::{HeldOut, MessageSent},
    rules::MessageClass,
    store::StoreError,
};

/// What the report measures.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Windows opening before this are left out.
    pub since: Option<Timestamp>,
    /// Windows opening at or after this are left out.
    pub until: Option<Timestamp>,
    /// How long a customer is watched after their window opens.
    pub window: SignedDuration,
    /// Fewer customers than this in either arm: not enough data, no claim.
    pub min_per_arm: u64,
    /// Event types that are a customer writing back.
    pub reply_types: Vec<String>,
}

/// One arm's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Arm {
    /// Customers.
    pub customers: u64,
    /// Of them, who bought in their window.
    pub converted: u64,
    /// Who wrote back in their window.
    pub replied: u64,
    /// Revenue per customer in their window (size, mean, variance).
    pub revenue: Sample,
}

/// One campaign's lift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignLift {
    /// The campaign.
    pub campaign: String,
    /// Customers who got it.
    pub treated: Arm,
    /// Customers held out of it.
    pub held_out: Arm,
    /// Both arms have at least the minimum: the comparisons below are claimed.
    pub enough_data: bool,
    /// Conversion rate, treated − held out.
    pub conversion: Option<Comparison>,
    /// Revenue per customer, treated − held out.
    pub revenue: Option<Comparison>,
    /// Reply rate, treated − held out.
    pub reply: Option<Comparison>,
}

/// What one customer did in one window.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    converted: bool,
    replied: bool,
    revenue: i64,
}

/// A customer's window in one campaign, and what they did in it.
#[derive(Debug, Clone, Copy)]
struct Window {
    campaign: usize,
    treated: bool,
    opens: Timestamp,
    outcome: Outcome,
}

/// The lift of every campaign with a held-out arm or a treated one, by campaign name.
pub fn campaigns<'a, I>(
    events: impl Fn() -> I,
    settings: &Settings,
) -> Result<Vec<CampaignLift>, StoreError>
where
    I: Iterator<Item = Result<Event, StoreError>> + 'a,
{
    let in_range = |at: Timestamp| {
        settings.since.is_none_or(|s| at >= s) && settings.until.is_none_or(|u| at < u)
    };
    let mut names: Vec<String> = Vec::new();
    let mut windows: HashMap<CustomerId, Vec<Window>> = HashMap::new();
    for event in events() {
        let event = event?;
        let (campaign, treated, at) = if let Some(sent) = MessageSent::from_event(&event) {
            match (sent.class, sent.campaign) {
                (MessageClass::Marketing, Some(c)) => (c, true, sent.at),
                _ => continue,
            }
        } else if let Some(held) = HeldOut::from_event(&event) {
            match (held.group.as_str(), held.campaign) {
                ("campaign", Some(c)) => (c, false, held.at),
                _ => continue,
            }
        } else {
            continue;
        };
        if !in_range(at) {
            continue;
        }
        let index = match names.iter().position(|n| *n == campaign) {
            Some(i) => i,
            None => {
                names.push(campaign);
                names.len() - 1
            }
        };
        let theirs = windows.entry(event.customer.clone()).or_default();
        match theirs.iter_mut().find(|w| w.campaign == index) {
            // The first message opens the window; a later one does not move it.
            Some(w) if at < w.opens => {
                w.opens = at;
                w.treated = treated;
            }
            Some(_) => {}
            None => theirs.push(Window {
                campaign: index,
                treated,
                opens: at,
                outcome: Outcome::default(),
            }),
        }
    }
    for event in events() {
        let event = event?;
        let Some(theirs) = windows.get_mut(&event.customer) else {
            continue;
        };
        let amount = (event.kind == EventKind::Purchase).then(|| event.purchase_amount());
        let replied = settings
            .reply_types
            .iter()
            .any(|t| t == event.kind.as_str());
        if amount.is_none() && !replied {
            continue;
        }
        let at = event.at.instant();
        for w in theirs.iter_mut() {
            let closes = w
                .opens
                .checked_add(settings.window)
                .unwrap_or(Timestamp::MAX);
            if at <= w.opens || at > closes {
                continue;
            }
            if let Some(amount) = amount {
                w.outcome.converted = true;
                w.outcome.revenue = w.outcome.revenue.saturating_add(amount.unwrap_or(0));
            }
            w.outcome.replied |= replied;
        }
    }
    let mut by_campaign: Vec<(Vec<Outcome>, Vec<Outcome>)> = vec![Default::default(); names.len()];
    for w in windows.values().flatten() {
        let (treated, held) = &mut by_campaign[w.campaign];
        if w.treated { treated } else { held }.push(w.outcome);
    }
    let mut lifts: Vec<CampaignLift> = names
        .into_iter()
        .zip(by_campaign)
        .map(|(campaign, (treated, held))| lift(campaign, &treated, &held, settings.min_per_arm))
        .collect();
    lifts.sort_by(|a, b| a.campaign.cmp(&b.campaign));
    Ok(lifts)
}

fn arm(outcomes: &[Outcome]) -> Arm {
    Arm {
        customers: outcomes.len() as u64,
        converted: outcomes.iter().filter(|o| o.converted).count() as u64,
        replied: outcomes.iter().filter(|o| o.replied).count() as u64,
        revenue: Sample::of(outcomes.iter().map(|o| o.revenue as f64)),
    }
}

fn lift(campaign: String, treated: &[Outcome], held: &[Outcome], min: u64) -> CampaignLift {
    let (t, h) = (arm(treated), arm(held));
    let enough_data = t.customers >= min.max(2) && h.customers >= min.max(2);
    let rate = |of: fn(&Arm) -> u64| {
        stats::proportions(
            Proportion {
                n: t.customers,
                k: of(&t),
            },
            Proportion {
                n: h.customers,
                k: of(&h),
            },
        )
    };
    let (conversion, reply, revenue) = if enough_data {
        (
            rate(|a| a.converted),
            rate(|a| a.replied),
            stats::welch(t.revenue, h.revenue),
        )
    } else {
        (None, None, None)
    };
    CampaignLift {
        campaign,
        treated: t,
        held_out: h,
        enough_data,
        conversion,
        revenue,
        reply,
    }
}

#[cfg(test)]
mod tests;
