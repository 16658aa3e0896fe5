//! RFM: recency, frequency and monetary scores against the whole customer population.
//!
//! Each score is 1–5 by quintile: a customer's score is one more than the number of whole
//! fifths of *other buyers* that did worse than them. Ties therefore always share a score (two
//! customers with one order each are never split into different frequency bands by accident
//! of sort order). Customers who never bought are not scored; they are `prospect`s.
//!
//! Scores depend on everyone else, so they are recomputed as a whole (`kizuna rfm`, and on a
//! schedule by the daemon), never per event.
//!
//! Quintiles alone mislead a small shop: among two buyers one is always in the bottom fifth,
//! so a customer who bought twice last week came out R1 F1 "hibernating" and got a win-back
//! mail. Two absolute rules bound them, whatever the population:
//! - recency is also judged in days: a purchase within [`RECENT_DAYS`] scores R ≥ 4, and no
//!   one scores R ≤ 2 ("lapsed": at risk, hibernating, can't lose) before
//!   [`LAPSED_MIN_DAYS`] without buying and twice their own usual interval between orders;
//! - below [`MIN_POPULATION`] buyers, frequency is scored on the order count itself
//!   ([`frequency_on_counts`]) and nobody is marked top.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::time::days_between;

/// A customer's RFM scores and segment, as of `computed_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rfm {
    /// Recency score: 5 = bought most recently.
    pub r: u8,
    /// Frequency score: 5 = most orders.
    pub f: u8,
    /// Monetary score: 5 = most revenue.
    pub m: u8,
    /// The named segment those scores fall in.
    pub segment: Segment,
    /// In the top [`TOP_SHARE_PERCENT`] of customers by revenue over the last 12 months:
    /// the customers worth a personal call or visit.
    #[serde(default)]
    pub top: bool,
    /// Revenue over the 12 months before `computed_at`.
    #[serde(default)]
    pub revenue_12m: i64,
    /// The "now" the scores were computed against.
    pub computed_at: Timestamp,
}

/// The share of customers (by 12-month revenue, among those with any) marked [`Rfm::top`].
pub const TOP_SHARE_PERCENT: usize = 10;

/// The event type an RFM pass records when a customer's segment or top-customer mark
/// changes: `from` (the previous segment, or null), `to`, `top`, `was_top`, `revenue_12m`,
/// and the scores `r`, `f`, `m`. Campaigns (win-back, top-customer check-ins) react to it
/// like to any other event, and folding it sets the customer's scores, so a replay of the
/// log sees the segments the live store saw.
pub const SEGMENT_CHANGED: &str = "segment_changed";

impl Rfm {
    /// The scores a `segment_changed` event records (`None` for a prospect or a malformed
    /// event).
    pub fn from_event(
        attrs: &serde_json::Map<String, serde_json::Value>,
        at: Timestamp,
    ) -> Option<Self> {
        let score = |k: &str| {
            attrs
                .get(k)
                .and_then(serde_json::Value::as_u64)
                .and_then(|v| u8::try_from(v).ok())
                .filter(|v| (1..=5).contains(v))
        };
        let segment = Segment::parse(attrs.get("to")?.as_str()?)?;
        Some(Self {
            r: score("r")?,
            f: score("f")?,
            m: score("m")?,
            segment,
            top: attrs
                .get("top")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            revenue_12m: attrs
                .get("revenue_12m")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0),
            computed_at: at,
        })
    }
}

/// Named RFM segments, the vocabulary marketers use to pick an audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Bought recently, often, and spent the most (R≥4, F≥4, M≥4).
    Champions,
    /// Regular buyers still active (R≥3, F≥3, not champions).
    Loyal,
    /// Bought recently for the first times (R≥4, F≤2).
    New,
    /// Fairly recent, few orders (R=3, F≤2).
    Promising,
    /// Were big, frequent buyers and are slipping away (R≤2, F=5, M≥4).
    CantLose,
    /// Frequent buyers who have not bought for a while (R≤2, F≥3).
    AtRisk,
    /// Few orders, long ago (R≤2, F≤2).
    Hibernating,
    /// Known but never bought.
    Prospect,
}

impl Segment {
    /// All segments, in report order.
    pub const ALL: [Segment; 8] = [
        Self::Champions,
        Self::Loyal,
        Self::New,
        Self::Promising,
        Self::CantLose,
        Self::AtRisk,
        Self::Hibernating,
        Self::Prospect,
    ];

    /// The segment for a set of scores (see each variant for its rule).
    pub fn classify(r: u8, f: u8, m: u8) -> Self {
        match (r, f, m) {
            (4.., 4.., 4..) => Self::Champions,
            (3.., 3.., _) => Self::Loyal,
            (4.., _, _) => Self::New,
            (3, _, _) => Self::Promising,
            (_, 5, 4..) => Self::CantLose,
            (_, 3.., _) => Self::AtRisk,
            _ => Self::Hibernating,
        }
    }

    /// The segment's name as used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Champions => "champions",
            Self::Loyal => "loyal",
            Self::New => "new",
            Self::Promising => "promising",
            Self::CantLose => "cant_lose",
            Self::AtRisk => "at_risk",
            Self::Hibernating => "hibernating",
            Self::Prospect => "prospect",
        }
    }

    /// Parses a segment name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|seg| seg.as_str() == s)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fewer buyers than this, and frequency quintiles and a top tenth say nothing: frequency
/// is scored on order counts and nobody is marked top.
pub const MIN_POPULATION: usize = 20;

/// A purchase this recent (in days) scores R ≥ 4 however recent everyone else's was.
pub const RECENT_DAYS: f64 = 30.0;

/// Days without buying before anyone may score R ≤ 2 (lapsed); a customer who usually buys
/// less often than every `LAPSED_MIN_DAYS / 2` days needs twice their own interval.
pub const LAPSED_MIN_DAYS: f64 = 90.0;

/// What RFM needs of one buyer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmInput {
    /// Latest purchase.
    pub last_order: Timestamp,
    /// Number of purchases.
    pub orders: u64,
    /// Total spend.
    pub revenue: i64,
    /// The customer's own mean interval between orders, in days (two orders or more).
    pub avg_days_between_orders: Option<f64>,
}

impl RfmInput {
    /// Days without buying after which this customer may be called lapsed.
    pub fn lapsed_after_days(&self) -> f64 {
        self.avg_days_between_orders
            .map_or(LAPSED_MIN_DAYS, |usual| LAPSED_MIN_DAYS.max(2.0 * usual))
    }
}

/// Frequency by order count, for a population too small for quintiles: 1, 2, 3–4, 5–9, 10+.
pub fn frequency_on_counts(orders: u64) -> u8 {
    match orders {
        0..=1 => 1,
        2 => 2,
        3..=4 => 3,
        5..=9 => 4,
        _ => 5,
    }
}

/// Scores every buyer against the others, as of `now`. Returns scores in input order.
pub fn score(inputs: &[RfmInput], now: Timestamp) -> Vec<Rfm> {
    // Recency is "days since", where fewer is better: negate so higher is better everywhere.
    let recency: Vec<f64> = inputs
        .iter()
        .map(|i| -days_between(i.last_order, now))
        .collect();
    let frequency: Vec<f64> = inputs.iter().map(|i| i.orders as f64).collect();
    let monetary: Vec<f64> = inputs.iter().map(|i| i.revenue as f64).collect();
    let (r, m) = (quintiles(&recency), quintiles(&monetary));
    let f = if inputs.len() < MIN_POPULATION {
        inputs
            .iter()
            .map(|i| frequency_on_counts(i.orders))
            .collect()
    } else {
        quintiles(&frequency)
    };
    let r: Vec<u8> = inputs
        .iter()
        .zip(r)
        .map(|(input, r)| {
            let days = days_between(input.last_order, now);
            if days <= RECENT_DAYS {
                r.max(4)
            } else if days < input.lapsed_after_days() {
                r.max(3)
            } else {
                r
            }
        })
        .collect();
    (0..inputs.len())
        .map(|i| Rfm {
            r: r[i],
            f: f[i],
            m: m[i],
            segment: Segment::classify(r[i], f[i], m[i]),
            top: false,
            revenue_12m: 0,
            computed_at: now,
        })
        .collect()
}

/// 1–5 per value: 1 + ⌊5 · (values strictly below) / n⌋, so equal values share a score.
fn quintiles(values: &[f64]) -> Vec<u8> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = values.len().max(1);
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|x| x.total_cmp(v).is_lt());
            (1 + 5 * below / n).min(5) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn quintiles_spread_distinct_values_and_keep_ties_together() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quintiles(&v), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintiles(&[1.0, 1.0, 1.0, 1.0, 9.0]), [1, 1, 1, 1, 5]);
        assert_eq!(quintiles(&[3.0]), [1]);
    }

    #[test]
    fn segments_follow_the_table() {
        assert_eq!(Segment::classify(5, 5, 5), Segment::Champions);
        assert_eq!(Segment::classify(5, 4, 2), Segment::Loyal);
        assert_eq!(Segment::classify(5, 1, 1), Segment::New);
        assert_eq!(Segment::classify(3, 1, 5), Segment::Promising);
        assert_eq!(Segment::classify(1, 5, 5), Segment::CantLose);
        assert_eq!(Segment::classify(2, 3, 1), Segment::AtRisk);
        assert_eq!(Segment::classify(1, 1, 1), Segment::Hibernating);
        for s in Segment::ALL {
            assert_eq!(Segment::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn recent_frequent_big_spender_is_a_champion() {
        let now = ts("2026-06-01T00:00:00Z");
        let mut inputs: Vec<RfmInput> = (0..9)
            .map(|i| RfmInput {
                last_order: ts("2025-06-01T00:00:00Z"),
                orders: 1 + i % 2,
                revenue: 1000 + i as i64,
                avg_days_between_orders: None,
            })
            .collect();
        inputs.push(RfmInput {
            last_order: ts("2026-05-30T00:00:00Z"),
            orders: 12,
            revenue: 90_000,
            avg_days_between_orders: Some(20.0),
        });
        let scores = score(&inputs, now);
        let best = &scores[9];
        assert_eq!((best.r, best.f, best.m), (5, 5, 5));
        assert_eq!(best.segment, Segment::Champions);
        assert_eq!(scores[0].segment, Segment::Hibernating);
    }

    fn buyer(last: &str, orders: u64, revenue: i64, usual: Option<f64>) -> RfmInput {
        RfmInput {
            last_order: ts(last),
            orders,
            revenue,
            avg_days_between_orders: usual,
        }
    }

    #[test]
    fn a_customer_who_bought_days_ago_is_never_lapsed_however_few_the_buyers() {
        let now = ts("2026-01-09T00:00:00Z");
        // Two buyers; c-1 bought twice, the second time on 6 January.
        let scores = score(
            &[
                buyer("2026-01-06T00:00:00Z", 2, 3000, Some(3.0)),
                buyer("2026-01-08T00:00:00Z", 1, 9000, None),
            ],
            now,
        );
        assert!(scores[0].r >= 4, "{:?}", scores[0]);
        assert_eq!(scores[0].f, 2, "two orders, scored as two");
        assert_eq!(scores[0].segment, Segment::New);
        assert!(
            !matches!(
                scores[0].segment,
                Segment::Hibernating | Segment::AtRisk | Segment::CantLose
            ),
            "{:?}",
            scores[0]
        );
    }

    #[test]
    fn lapsed_needs_real_absence_judged_against_the_customers_own_rhythm() {
        let now = ts("2026-06-01T00:00:00Z");
        let mut inputs: Vec<RfmInput> = (0..30)
            .map(|_| buyer("2026-05-31T00:00:00Z", 3, 5000, Some(10.0)))
            .collect();
        // 60 days away: bottom of recency among these buyers, but not yet lapsed.
        inputs.push(buyer("2026-04-02T00:00:00Z", 3, 5000, Some(10.0)));
        // 120 days away, usually buys every 100 days: still within twice their rhythm.
        inputs.push(buyer("2026-02-01T00:00:00Z", 3, 5000, Some(100.0)));
        // 120 days away, usually every 10 days: lapsed.
        inputs.push(buyer("2026-02-01T00:00:00Z", 10, 5000, Some(10.0)));
        let scores = score(&inputs, now);
        assert_eq!(scores[30].r, 3, "60 days is below the lapsed minimum");
        assert_eq!(scores[31].r, 3, "within twice their own interval");
        assert!(scores[32].r <= 2, "{:?}", scores[32]);
        assert_eq!(scores[32].segment, Segment::AtRisk);
    }

    #[test]
    fn frequency_uses_quintiles_only_with_enough_buyers() {
        let now = ts("2026-06-01T00:00:00Z");
        let few: Vec<RfmInput> = [1, 2, 3, 6, 12]
            .map(|n| buyer("2026-05-01T00:00:00Z", n, 1000, None))
            .to_vec();
        let f: Vec<u8> = score(&few, now).iter().map(|s| s.f).collect();
        assert_eq!(f, [1, 2, 3, 4, 5], "scored on counts");
        let many: Vec<RfmInput> = (0..MIN_POPULATION as u64)
            .map(|n| buyer("2026-05-01T00:00:00Z", 1 + n, 1000, None))
            .collect();
        let f: Vec<u8> = score(&many, now).iter().map(|s| s.f).collect();
        assert_eq!((f[0], f[MIN_POPULATION - 1]), (1, 5), "by quintile");
    }
}
