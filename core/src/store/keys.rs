//! The store's key layout: one sled tree, one byte of prefix per keyspace.
//!
//! Everything lives in a single tree so that one `sled::Batch` commits an event, its index
//! entries and the customer projection together, atomically, without sled's multi-tree
//! transactions (which re-run closures on conflict and are slower for large write sets).
//!
//! | prefix | key                                   | value                        |
//! |--------|---------------------------------------|------------------------------|
//! | `m`    | meta name                             | schema version, counters     |
//! | `e`    | append sequence (u64 BE)              | event JSON                   |
//! | `i`    | event id                              | append sequence              |
//! | `h`    | customer, NUL, time (i128 BE*), seq   | empty (per-customer history) |
//! | `c`    | customer id                           | customer projection JSON     |
//!
//! \* the sign bit is flipped so that byte order is time order, before 1970 included.

use jiff::Timestamp;

use crate::ids::{CustomerId, EventId};

pub(crate) const META: u8 = b'm';
pub(crate) const EVENT: u8 = b'e';
pub(crate) const ID: u8 = b'i';
pub(crate) const HISTORY: u8 = b'h';
pub(crate) const CUSTOMER: u8 = b'c';

pub(crate) fn meta(name: &str) -> Vec<u8> {
    prefixed(META, name.as_bytes())
}

pub(crate) fn event(seq: u64) -> [u8; 9] {
    let mut k = [EVENT; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn id(id: &EventId) -> Vec<u8> {
    prefixed(ID, id.as_str().as_bytes())
}

pub(crate) fn customer(id: &CustomerId) -> Vec<u8> {
    prefixed(CUSTOMER, id.as_str().as_bytes())
}

/// The prefix under which one customer's history entries sort by time.
pub(crate) fn history_prefix(customer: &CustomerId) -> Vec<u8> {
    let mut k = prefixed(HISTORY, customer.as_str().as_bytes());
    k.push(0);
    k
}

pub(crate) fn history(customer: &CustomerId, at: Timestamp, seq: u64) -> Vec<u8> {
    let mut k = history_prefix(customer);
    let ordered = (at.as_nanosecond() as u128) ^ (1 << 127);
    k.extend_from_slice(&ordered.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The append sequence at the end of a history key (or of an `e` key).
pub(crate) fn seq_suffix(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len() + 24);
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_sort_by_time_then_sequence() {
        let c = CustomerId::new("c-1").unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let early = history(&c, t("1969-12-31T00:00:00Z"), 9);
        let mid = history(&c, t("2026-01-01T00:00:00Z"), 2);
        let mid_later_seq = history(&c, t("2026-01-01T00:00:00Z"), 3);
        let late = history(&c, t("2026-01-02T00:00:00Z"), 1);
        assert!(early < mid && mid < mid_later_seq && mid_later_seq < late);
        assert_eq!(seq_suffix(&late), Some(1));
        // "c-1" must not see "c-10"'s history.
        let other = history(
            &CustomerId::new("c-10").unwrap(),
            t("2026-01-01T00:00:00Z"),
            1,
        );
        assert!(!other.starts_with(&history_prefix(&c)));
    }
}
