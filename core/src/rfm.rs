//! RFM: recency, frequency and monetary scores against the whole customer population.
//!
//! Each score is 1–5 by quintile: a customer's score is one more than the number of whole
//! fifths of *other buyers* that did worse than them. Ties therefore always share a score (two
//! customers with one order each are never split into different frequency bands by accident
//! of sort order). Customers who never bought are not scored; they are `prospect`s.
//!
//! Scores depend on everyone else, so they are recomputed as a whole (`kizuna rfm`, and on a
//! schedule by the daemon), never per event.

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

/// What RFM needs of one buyer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmInput {
    /// Latest purchase.
    pub last_order: Timestamp,
    /// Number of purchases.
    pub orders: u64,
    /// Total spend.
    pub revenue: i64,
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
    let (r, f, m) = (
        quintiles(&recency),
        quintiles(&frequency),
        quintiles(&monetary),
    );
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
            })
            .collect();
        inputs.push(RfmInput {
            last_order: ts("2026-05-30T00:00:00Z"),
            orders: 12,
            revenue: 90_000,
        });
        let scores = score(&inputs, now);
        let best = &scores[9];
        assert_eq!((best.r, best.f, best.m), (5, 5, 5));
        assert_eq!(best.segment, Segment::Champions);
        assert_eq!(scores[0].segment, Segment::Hibernating);
    }
}
