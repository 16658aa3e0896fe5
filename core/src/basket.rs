//! Co-purchase statistics: "customers who bought A also bought B", and how often an item
//! is bought again.
//!
//! Cross-sell and repurchase campaigns need facts about *all* customers, not the one a
//! script is looking at. [`Baskets`] is folded incrementally, one purchase at a time, from
//! the buyer's item history before that purchase ([`ItemStat`] in the customer projection),
//! so no job has to rescan the log. Every figure counts customers, not orders, and is a
//! pure function of each customer's final item set and first/last purchase times, so the
//! result does not depend on the order events arrive in.
//!
//! ```
//! use kizuna_core::basket::{Baskets, ItemStat};
//! use litemap::LiteMap;
//!
//! let at = "2026-03-01T10:00:00Z".parse().unwrap();
//! let mut baskets = Baskets::default();
//! let mut bought = LiteMap::new();
//! baskets.observe(&bought, &["beans", "dripper"], at);
//! bought.insert("beans".to_string(), ItemStat::first(at));
//! bought.insert("dripper".to_string(), ItemStat::first(at));
//! assert_eq!(baskets.also_bought("beans", 3), vec![("dripper".to_string(), 1)]);
//! ```

use std::collections::HashMap;

use jiff::Timestamp;
use litemap::LiteMap;
use serde::{Deserialize, Serialize};

/// One customer's purchases of one item.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ItemStat {
    /// First purchase of the item.
    pub first: Timestamp,
    /// Latest purchase of the item.
    pub last: Timestamp,
    /// Purchases that included it.
    pub count: u32,
}

impl ItemStat {
    /// The stat after a first purchase at `at`.
    pub fn first(at: Timestamp) -> Self {
        Self {
            first: at,
            last: at,
            count: 1,
        }
    }

    /// The stat after one more purchase at `at` (in any order).
    pub fn with_purchase(self, at: Timestamp) -> Self {
        Self {
            first: self.first.min(at),
            last: self.last.max(at),
            count: self.count.saturating_add(1),
        }
    }

    /// Days spanned and the number of gaps between purchases: the customer's share of the
    /// item's typical repurchase interval.
    fn interval_share(&self) -> (i64, u64) {
        (
            self.last.as_second() - self.first.as_second(),
            u64::from(self.count.saturating_sub(1)),
        )
    }
}

/// Figures for one item across all customers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemTotals {
    /// Customers who bought it at least once.
    pub buyers: u32,
    /// Sum over customers of seconds between their first and latest purchase of it
    /// (whole seconds, so adding and removing a share is exact).
    span_secs: i64,
    /// Sum over customers of (purchases of it − 1).
    gaps: u64,
}

impl ItemTotals {
    /// Mean days between two purchases of the item by the same customer, across customers
    /// who bought it more than once; `None` until someone has.
    pub fn typical_interval_days(&self) -> Option<f64> {
        (self.gaps > 0).then(|| self.span_secs as f64 / 86_400.0 / self.gaps as f64)
    }
}

/// Co-purchase statistics over all customers. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baskets {
    /// Per item.
    items: HashMap<String, ItemTotals>,
    /// `pairs[a][b]`: customers who bought both a and b (symmetric).
    pairs: HashMap<String, HashMap<String, u32>>,
}

impl Baskets {
    /// Folds in one purchase of `items` at `at` by a customer whose item history before it
    /// is `before`. Call it before the purchase is applied to the customer's own history.
    pub fn observe(&mut self, before: &LiteMap<String, ItemStat>, items: &[&str], at: Timestamp) {
        let mut seen: Vec<&str> = Vec::with_capacity(items.len());
        for &item in items {
            if seen.contains(&item) {
                continue;
            }
            seen.push(item);
            let old = before.get(item).copied();
            let new = old.map_or(ItemStat::first(at), |s| s.with_purchase(at));
            let totals = self.items.entry(item.to_owned()).or_default();
            if let Some(old) = old {
                let (span, gaps) = old.interval_share();
                totals.span_secs -= span;
                totals.gaps -= gaps;
            } else {
                totals.buyers += 1;
            }
            let (span, gaps) = new.interval_share();
            totals.span_secs += span;
            totals.gaps += gaps;
        }
        let new_items: Vec<&str> = seen
            .iter()
            .copied()
            .filter(|i| !before.contains_key(*i))
            .collect();
        for (n, &a) in new_items.iter().enumerate() {
            // With what the customer already had, and with the other new items once.
            let partners = before
                .keys()
                .map(String::as_str)
                .chain(new_items[n + 1..].iter().copied());
            for b in partners {
                self.bump(a, b);
                self.bump(b, a);
            }
        }
    }

    fn bump(&mut self, a: &str, b: &str) {
        *self
            .pairs
            .entry(a.to_owned())
            .or_default()
            .entry(b.to_owned())
            .or_default() += 1;
    }

    /// Up to `n` items most often bought by customers who bought `item`, with how many
    /// customers bought both; most first, ties by item code so the answer is stable.
    pub fn also_bought(&self, item: &str, n: usize) -> Vec<(String, u32)> {
        let Some(partners) = self.pairs.get(item) else {
            return Vec::new();
        };
        let mut ranked: Vec<(String, u32)> =
            partners.iter().map(|(k, v)| (k.clone(), *v)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(n);
        ranked
    }

    /// The item's figures, if anyone bought it.
    pub fn item(&self, item: &str) -> Option<&ItemTotals> {
        self.items.get(item)
    }

    /// Distinct items seen.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + day * 86_400).unwrap()
    }

    /// Folds purchases (customer, items, day) the way the store does.
    fn fold(purchases: &[(&str, &[&str], i64)]) -> Baskets {
        let mut baskets = Baskets::default();
        let mut customers: HashMap<&str, LiteMap<String, ItemStat>> = HashMap::new();
        for (c, items, day) in purchases {
            let bought = customers.entry(c).or_default();
            baskets.observe(bought, items, t(*day));
            for item in *items {
                let s = bought
                    .get(*item)
                    .map_or(ItemStat::first(t(*day)), |s| s.with_purchase(t(*day)));
                bought.insert((*item).to_owned(), s);
            }
        }
        baskets
    }

    #[test]
    fn pairs_count_customers_not_orders() {
        let b = fold(&[
            ("a", &["beans", "dripper"], 0),
            ("a", &["beans", "dripper"], 10), // same customer again: no new pair
            ("b", &["beans"], 0),
            ("b", &["filter", "beans"], 5),
            ("c", &["beans", "filter", "filter"], 1),
        ]);
        assert_eq!(
            b.also_bought("beans", 5),
            vec![("filter".into(), 2), ("dripper".into(), 1)]
        );
        assert_eq!(b.also_bought("filter", 1), vec![("beans".into(), 2)]);
        assert_eq!(b.item("beans").map(|i| i.buyers), Some(3));
        assert!(b.also_bought("unknown", 3).is_empty());
    }

    #[test]
    fn arrival_order_does_not_change_the_result() {
        let purchases: Vec<(&str, &[&str], i64)> = vec![
            ("a", &["beans"], 30),
            ("a", &["beans", "mug"], 0),
            ("a", &["beans"], 60),
            ("b", &["mug"], 3),
            ("b", &["beans", "mug"], 9),
        ];
        let mut reversed = purchases.clone();
        reversed.reverse();
        assert_eq!(fold(&purchases), fold(&reversed));
    }

    #[test]
    fn typical_interval_is_the_mean_gap_across_repeat_buyers() {
        let b = fold(&[
            ("a", &["beans"], 0),
            ("a", &["beans"], 30),
            ("a", &["beans"], 60),
            ("b", &["beans"], 0),
            ("b", &["beans"], 60),
            ("c", &["beans"], 5), // bought once: no gap to count
        ]);
        // Gaps: a 30+30, b 60 → 120 days over 3 gaps.
        assert_eq!(b.item("beans").unwrap().typical_interval_days(), Some(40.0));
        let once = fold(&[("a", &["mug"], 0)]);
        assert_eq!(once.item("mug").unwrap().typical_interval_days(), None);
    }
}
