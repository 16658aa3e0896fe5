//! Loyalty state in the projection: a ledger of point lots, the tier, and daily spend.
//!
//! Points are kept as **lots**, each with its own expiry, never as a bare balance: spending
//! and expiry consume the oldest lots first, so the balance is always explainable lot by lot
//! and can never go negative (a redeem beyond the balance is refused). Every total is
//! checked arithmetic: an award that would overflow `issued` is refused, changing nothing,
//! and since `issued = redeemed + expired + what the lots hold` (the ledger's invariant,
//! stated as property tests below), no other total can overflow either. Tiers are decided on
//! spend, not points, so spend is tracked per day for a rolling 365-day window: exact, and
//! independent of time zones (a calendar-month window would need one, and a customer's zone
//! can arrive after their purchases).

use jiff::Timestamp;
use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use crate::ids::EventId;

/// A customer's loyalty state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Loyalty {
    /// Lots with points left, oldest first.
    pub lots: Vec<Lot>,
    /// Current tier, if any rule set one.
    pub tier: Option<String>,
    /// Points ever awarded.
    pub issued: i64,
    /// Points ever spent.
    pub redeemed: i64,
    /// Points ever lost to expiry.
    pub expired: i64,
    /// Purchase amounts by day (days since 1970-01-01, UTC), the last 400 days kept.
    pub daily_spend: LiteMap<i32, i64>,
}

/// Points earned together, expiring together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    /// Points awarded.
    pub points: i64,
    /// Points not yet spent or expired.
    pub remaining: i64,
    /// When they were earned.
    pub earned: Timestamp,
    /// When what remains expires.
    pub expires: Timestamp,
    /// The event that earned them.
    pub event: EventId,
}

/// Days kept in [`Loyalty::daily_spend`]: the 365-day window plus a margin for late events.
const SPEND_DAYS_KEPT: i32 = 400;

fn day_key(t: Timestamp) -> i32 {
    t.as_second().div_euclid(86_400) as i32
}

impl Loyalty {
    /// Points usable at `at`: what remains of lots not yet expired.
    pub fn balance(&self, at: Timestamp) -> i64 {
        self.lots
            .iter()
            .filter(|l| l.expires > at)
            .fold(0, |sum, l| sum.saturating_add(l.remaining))
    }

    /// Moves what remains of lots expired by `at` into `expired`.
    pub fn expire(&mut self, at: Timestamp) {
        // Lots are kept in expiry order: nothing to do unless the first one has expired.
        if self.lots.first().is_none_or(|l| l.expires > at) {
            return;
        }
        for lot in self.lots.iter_mut().filter(|l| l.expires <= at) {
            self.expired = self.expired.saturating_add(lot.remaining);
            lot.remaining = 0;
        }
        self.lots.retain(|l| l.remaining > 0);
    }

    /// Whether `points` more can be awarded: positive, and within what the totals hold.
    pub fn can_award(&self, points: i64) -> Result<(), String> {
        if points <= 0 {
            return Err(format!("cannot award {points} points: awards are positive"));
        }
        match self.issued.checked_add(points) {
            Some(_) => Ok(()),
            None => Err(format!(
                "cannot award {points} points: the ledger has issued {} and would overflow",
                self.issued
            )),
        }
    }

    /// Adds a lot; refuses, changing nothing, what [`Loyalty::can_award`] refuses.
    pub fn award(
        &mut self,
        points: i64,
        earned: Timestamp,
        expires: Timestamp,
        event: EventId,
    ) -> Result<(), String> {
        self.can_award(points)?;
        self.issued += points;
        let lot = Lot {
            points,
            remaining: points,
            earned,
            expires,
            event,
        };
        // Keep lots in expiry order so spending takes the soonest-to-expire first.
        let pos = self.lots.partition_point(|l| l.expires <= expires);
        self.lots.insert(pos, lot);
        Ok(())
    }

    /// Spends `points` at `at`, oldest lots first. Refuses, changing nothing, beyond the
    /// balance.
    pub fn redeem(&mut self, points: i64, at: Timestamp) -> Result<(), String> {
        if points <= 0 {
            return Err(format!(
                "cannot redeem {points} points: redemptions are positive"
            ));
        }
        self.expire(at);
        let balance = self.balance(at);
        if points > balance {
            return Err(format!(
                "cannot redeem {points} points: the balance is {balance}"
            ));
        }
        let mut left = points;
        for lot in &mut self.lots {
            let take = left.min(lot.remaining);
            lot.remaining -= take;
            left -= take;
            if left == 0 {
                break;
            }
        }
        self.lots.retain(|l| l.remaining > 0);
        self.redeemed += points;
        Ok(())
    }

    /// Records purchase spend on its day (a negative amount counts as none; totals stop
    /// at `i64::MAX` rather than wrap).
    pub fn add_spend(&mut self, amount: i64, at: Timestamp) {
        let key = day_key(at);
        let total = self
            .daily_spend
            .get(&key)
            .copied()
            .unwrap_or(0)
            .saturating_add(amount.max(0));
        self.daily_spend.insert(key, total);
        let newest = self.daily_spend.last().map_or(key, |(k, _)| *k);
        let oldest = self.daily_spend.first().map_or(key, |(k, _)| *k);
        if oldest <= newest - SPEND_DAYS_KEPT {
            self.daily_spend
                .retain(|k, _| *k > newest - SPEND_DAYS_KEPT);
        }
    }

    /// Spend on the day of `at` and the 364 days before it.
    pub fn spend_12m(&self, at: Timestamp) -> i64 {
        let today = day_key(at);
        self.daily_spend
            .iter()
            .filter(|(k, _)| **k > today - 365 && **k <= today)
            .fold(0, |sum, (_, v)| sum.saturating_add(*v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn id(s: &str) -> EventId {
        EventId::new(s).unwrap()
    }

    #[test]
    fn redeem_takes_oldest_lots_first_and_never_goes_negative() {
        let mut l = Loyalty::default();
        l.award(
            100,
            ts("2026-01-01T00:00:00Z"),
            ts("2027-01-01T00:00:00Z"),
            id("a"),
        )
        .unwrap();
        l.award(
            50,
            ts("2026-02-01T00:00:00Z"),
            ts("2027-02-01T00:00:00Z"),
            id("b"),
        )
        .unwrap();
        l.redeem(120, ts("2026-03-01T00:00:00Z")).unwrap();
        assert_eq!(l.lots.len(), 1);
        assert_eq!((l.lots[0].event.as_str(), l.lots[0].remaining), ("b", 30));
        let before = l.clone();
        assert!(l.redeem(31, ts("2026-03-01T00:00:00Z")).is_err());
        assert_eq!(l, before, "a refused redeem changes nothing");
        assert_eq!(
            (l.issued, l.redeemed, l.balance(ts("2026-03-01T00:00:00Z"))),
            (150, 120, 30)
        );
    }

    #[test]
    fn expiry_removes_only_expired_lots() {
        let mut l = Loyalty::default();
        l.award(
            100,
            ts("2025-01-01T00:00:00Z"),
            ts("2026-01-01T00:00:00Z"),
            id("old"),
        )
        .unwrap();
        l.award(
            40,
            ts("2025-06-01T00:00:00Z"),
            ts("2026-06-01T00:00:00Z"),
            id("new"),
        )
        .unwrap();
        let at = ts("2026-02-01T00:00:00Z");
        assert_eq!(
            l.balance(at),
            40,
            "expired points are not spendable even before expire()"
        );
        assert!(l.redeem(41, at).is_err());
        l.expire(at);
        assert_eq!((l.expired, l.lots.len()), (100, 1));
    }

    #[test]
    fn spend_window_is_the_last_365_days() {
        let mut l = Loyalty::default();
        l.add_spend(1000, ts("2025-03-20T12:00:00Z"));
        l.add_spend(500, ts("2025-03-21T00:00:00Z"));
        l.add_spend(200, ts("2026-03-15T00:00:00Z"));
        assert_eq!(
            l.spend_12m(ts("2026-03-20T08:00:00Z")),
            700,
            "21 Mar 2025 to 20 Mar 2026"
        );
        assert_eq!(
            l.spend_12m(ts("2026-03-14T00:00:00Z")),
            1500,
            "not yet the March purchase"
        );
        l.add_spend(1, ts("2027-06-01T00:00:00Z"));
        assert_eq!(l.daily_spend.len(), 1, "old days are dropped");
    }

    /// What can happen to a ledger, with extreme values on purpose.
    #[derive(Debug, Clone)]
    enum Op {
        Award {
            points: i64,
            day: i64,
            days_valid: i64,
        },
        Redeem {
            points: i64,
            day: i64,
        },
        Expire {
            day: i64,
        },
        Spend {
            amount: i64,
            day: i64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let points = prop_oneof![
            1i64..1_000,
            Just(i64::MAX),
            Just(i64::MAX / 2 + 1),
            any::<i64>(),
        ];
        prop_oneof![
            (points.clone(), 0i64..800, 0i64..400).prop_map(|(points, day, days_valid)| {
                Op::Award {
                    points,
                    day,
                    days_valid,
                }
            }),
            (points.clone(), 0i64..800).prop_map(|(points, day)| Op::Redeem { points, day }),
            (0i64..800).prop_map(|day| Op::Expire { day }),
            (points, 0i64..800).prop_map(|(amount, day)| Op::Spend { amount, day }),
        ]
    }

    fn day(n: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + n * 86_400).unwrap()
    }

    /// The ledger's invariants: points are conserved (every point issued is redeemed,
    /// expired or still in a lot), nothing is negative, a lot never holds more than it was
    /// given, lots stay in expiry order, and spend never goes below zero.
    fn check(l: &Loyalty) -> Result<(), TestCaseError> {
        let held = l
            .lots
            .iter()
            .map(|lot| i128::from(lot.remaining))
            .sum::<i128>();
        prop_assert_eq!(
            i128::from(l.issued),
            i128::from(l.redeemed) + i128::from(l.expired) + held
        );
        prop_assert!(l.issued >= 0 && l.redeemed >= 0 && l.expired >= 0);
        for lot in &l.lots {
            prop_assert!(lot.remaining > 0 && lot.remaining <= lot.points);
        }
        prop_assert!(l.lots.windows(2).all(|w| w[0].expires <= w[1].expires));
        prop_assert!(l.daily_spend.iter().all(|(_, v)| *v >= 0));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_ledger_holds_its_invariants_under_any_sequence(ops in proptest::collection::vec(op(), 1..40)) {
            let mut l = Loyalty::default();
            for (n, op) in ops.into_iter().enumerate() {
                let before = l.clone();
                match op {
                    Op::Award { points, day: d, days_valid } => {
                        let ok = l.award(points, day(d), day(d + days_valid), id(&format!("e{n}")));
                        if ok.is_err() {
                            prop_assert_eq!(&l, &before, "a refused award changes nothing");
                        } else {
                            prop_assert_eq!(l.issued, before.issued + points);
                        }
                    }
                    Op::Redeem { points, day: d } => {
                        let balance = before.balance(day(d));
                        match l.redeem(points, day(d)) {
                            Ok(()) => {
                                prop_assert!(points > 0 && points <= balance);
                                prop_assert_eq!(l.balance(day(d)), balance - points);
                            }
                            Err(_) => prop_assert!(points <= 0 || points > balance),
                        }
                    }
                    Op::Expire { day: d } => {
                        l.expire(day(d));
                        let once = l.clone();
                        l.expire(day(d));
                        prop_assert_eq!(&l, &once, "expiring twice counts once");
                        prop_assert_eq!(l.balance(day(d)), before.balance(day(d)));
                    }
                    Op::Spend { amount, day: d } => {
                        l.add_spend(amount, day(d));
                        prop_assert!(l.spend_12m(day(d)) >= before.spend_12m(day(d)).min(0));
                        prop_assert!(l.spend_12m(day(d)) >= 0);
                    }
                }
                check(&l)?;
            }
        }
    }
}
