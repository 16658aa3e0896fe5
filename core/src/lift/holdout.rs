//! Who is held out of marketing, decided by a keyed hash of the customer id.
//!
//! Invariant: a customer's group depends only on (salt, scope, customer id) — never on
//! when, in what order, or on which machine the question is asked — so the live run, a
//! restart and a replay (the backtest) hold out exactly the same customers, and a change of
//! `salt` reshuffles everyone at once.
//!
//! Each scope (the global control group; each campaign) hashes with its own name, so being
//! held out of one campaign says nothing about another or about the global group: the
//! groups are independent draws at their percentages.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ids::CustomerId;

/// Shares are drawn in basis points: 1 = 0.01 %.
const BASIS: u64 = 10_000;

/// The largest global control group, percent: more would starve the business of its own
/// marketing to measure it.
pub const MAX_GLOBAL_PERCENT: u32 = 15;

/// Which holdout a customer is in, when held out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "group", content = "campaign", rename_all = "snake_case")]
pub enum Group {
    /// The global control group: no marketing at all.
    Global,
    /// This campaign's holdout.
    Campaign(String),
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Global => write!(f, "global control group"),
            Self::Campaign(c) => write!(f, "holdout of campaign {c}"),
        }
    }
}

/// The guard name a held-out message is suppressed by (`report guards`, the outbox).
pub const GUARD: &str = "holdout";

impl Group {
    /// `global` or `campaign`, as the `held_out` event records it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Campaign(_) => "campaign",
        }
    }
}

/// The holdout settings (`[holdout]` in kizuna.toml) and campaigns' own shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdouts {
    /// Percent of all customers in the global control group (0–15).
    pub global_percent: u32,
    /// Mixed into every draw: changing it reshuffles the groups.
    pub salt: String,
}

impl Holdouts {
    /// The settings, or what is wrong with them.
    pub fn new(global_percent: u32, salt: impl Into<String>) -> Result<Self, String> {
        if global_percent > MAX_GLOBAL_PERCENT {
            return Err(format!(
                "global_percent = {global_percent}: at most {MAX_GLOBAL_PERCENT}"
            ));
        }
        Ok(Self {
            global_percent,
            salt: salt.into(),
        })
    }

    /// The group holding `customer` out of a marketing message of `campaign` (which holds
    /// out `campaign_percent` of those who qualify), if any: the global group first.
    pub fn group(&self, customer: &CustomerId, campaign: Option<(&str, u32)>) -> Option<Group> {
        if self.draw("global", customer) < u64::from(self.global_percent) * BASIS / 100 {
            return Some(Group::Global);
        }
        let (name, percent) = campaign?;
        let scope = format!("campaign:{name}");
        (self.draw(&scope, customer) < u64::from(percent.min(100)) * BASIS / 100)
            .then(|| Group::Campaign(name.to_owned()))
    }

    /// The customer's place in `scope`, uniform in 0..10,000.
    fn draw(&self, scope: &str, customer: &CustomerId) -> u64 {
        let mut h = Sha256::new();
        for part in [
            self.salt.as_bytes(),
            scope.as_bytes(),
            customer.as_str().as_bytes(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % BASIS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<CustomerId> {
        (0..n)
            .map(|i| CustomerId::new(format!("c-{i:06}")).unwrap())
            .collect()
    }

    #[test]
    fn groups_are_stable_sized_independent_and_reshuffled_by_the_salt() {
        let h = Holdouts::new(10, "shop").unwrap();
        let customers = ids(20_000);
        let global: Vec<bool> = customers
            .iter()
            .map(|c| h.group(c, None) == Some(Group::Global))
            .collect();
        let share = |v: &[bool]| v.iter().filter(|b| **b).count() as f64 / v.len() as f64;
        assert!((0.09..0.11).contains(&share(&global)), "{}", share(&global));
        // The same answer asked again, by another value with the same settings.
        let again = Holdouts::new(10, "shop").unwrap();
        assert!(
            customers
                .iter()
                .zip(&global)
                .all(|(c, g)| { (again.group(c, None) == Some(Group::Global)) == *g })
        );
        // A campaign's 20 % among those not in the global group, drawn independently.
        let in_campaign: Vec<bool> = customers
            .iter()
            .map(|c| h.group(c, Some(("winback", 20))) == Some(Group::Campaign("winback".into())))
            .collect();
        let outside: Vec<bool> = in_campaign
            .iter()
            .zip(&global)
            .filter(|(_, g)| !**g)
            .map(|(c, _)| *c)
            .collect();
        assert!(
            (0.185..0.215).contains(&share(&outside)),
            "{}",
            share(&outside)
        );
        let other: Vec<bool> = customers
            .iter()
            .map(|c| {
                h.group(c, Some(("birthday", 20)))
                    .is_some_and(|g| g != Group::Global)
            })
            .collect();
        let both = in_campaign
            .iter()
            .zip(&other)
            .filter(|(a, b)| **a && **b)
            .count() as f64
            / customers.len() as f64;
        assert!(
            (0.025..0.047).contains(&both),
            "independent: about 0.9 × 0.2 × 0.2, {both}"
        );
        // Another salt: about 10 % again, mostly other customers.
        let salted = Holdouts::new(10, "spring").unwrap();
        let kept = customers
            .iter()
            .zip(&global)
            .filter(|(c, g)| **g && salted.group(c, None) == Some(Group::Global))
            .count() as f64
            / customers.len() as f64;
        assert!(kept < 0.02, "{kept}");
        // No global group, no campaign share: nobody is held out.
        let none = Holdouts::new(0, "shop").unwrap();
        assert!(
            customers
                .iter()
                .all(|c| none.group(c, Some(("x", 0))).is_none())
        );
        assert!(Holdouts::new(16, "shop").is_err());
    }
}
