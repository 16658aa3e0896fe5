//! The store's key layout: one sled tree, one byte of prefix per keyspace.
//!
//! | prefix | key                              | value                                    |
//! |--------|----------------------------------|------------------------------------------|
//! | `m`    | meta name                        | schema version, counters, checkpoint     |
//! | `b`    | first sequence in block (u64 BE) | a block of events ([`super::block`])     |
//! | `x`    | same as its block                | (id hash u64, seq u64) per event, BE     |
//! | `f`    | same as its block                | rule effects of the block's events       |
//! | `c`    | customer id                      | customer record ([`super::record`])      |
//! | `h`    | customer id, NUL, chunk (u32 BE) | sealed history chunk ([`super::record`]) |
//! | `o`    | seq, effect index (u32 BE)       | outbox message (pending until dispatch)  |
//! | `t`    | customer id, NUL, timer name     | (legacy: timers now live in the record)  |
//! | `d`    | due time (i128 BE*), customer id | empty (each customer's earliest timer)   |
//! | `q`    | due time (i128 BE*), seq, index  | empty (outbox messages the dispatcher will take, by time) |
//! | `a`    | seq, effect index                | staff alert                              |
//! | `r`    | seq, error index                 | rule error                               |
//! | `e`    | 16-byte keyed hash of a customer | empty (an erased customer, [`super::erased`]) |
//!
//! A block, its id list, its effects, and the outbox, alert and rule-error entries those
//! effects produce are written in one sled batch with the event counter, so an event is
//! never stored without its effects or the other way round. Customer records, with their
//! timers and due-index entries (`d`), are written later, at checkpoints; see
//! [`super::checkpoint`] and [`super::due`] for why that is safe.

use crate::ids::CustomerId;

pub(crate) const META: u8 = b'm';
pub(crate) const BLOCK: u8 = b'b';
pub(crate) const BLOCK_IDS: u8 = b'x';
pub(crate) const BLOCK_EFFECTS: u8 = b'f';
pub(crate) const CUSTOMER: u8 = b'c';
pub(crate) const HISTORY: u8 = b'h';
pub(crate) const OUTBOX: u8 = b'o';
/// Timers of stores written before they moved into the record; migrated at open.
pub(crate) const LEGACY_TIMER: u8 = b't';
pub(crate) const DUE: u8 = b'd';
pub(crate) const ALERT: u8 = b'a';
pub(crate) const OUTBOX_DUE: u8 = b'q';
pub(crate) const RULE_ERROR: u8 = b'r';
pub(crate) const ERASED: u8 = b'e';

pub(crate) fn meta(name: &str) -> Vec<u8> {
    prefixed(META, name.as_bytes())
}

/// The key listing an erased customer by its keyed hash.
pub(crate) fn erased(hash: &[u8; 16]) -> Vec<u8> {
    prefixed(ERASED, hash)
}

pub(crate) fn block(first_seq: u64) -> [u8; 9] {
    seq_key(BLOCK, first_seq)
}

pub(crate) fn block_ids(first_seq: u64) -> [u8; 9] {
    seq_key(BLOCK_IDS, first_seq)
}

pub(crate) fn block_effects(first_seq: u64) -> [u8; 9] {
    seq_key(BLOCK_EFFECTS, first_seq)
}

/// Key for the `n`th item an event produced in an item keyspace (outbox, alert, rule error).
/// The `(seq, n)` of an [`item`] key.
pub(crate) fn item_position(key: &[u8]) -> Option<(u64, u32)> {
    let seq = u64::from_be_bytes(key.get(1..9)?.try_into().ok()?);
    let n = u32::from_be_bytes(key.get(9..13)?.try_into().ok()?);
    Some((seq, n))
}

pub(crate) fn item(prefix: u8, seq: u64, n: u32) -> [u8; 13] {
    let mut k = [prefix; 13];
    k[1..9].copy_from_slice(&seq.to_be_bytes());
    k[9..].copy_from_slice(&n.to_be_bytes());
    k
}

/// The due-index key of a customer whose earliest timer is due at `at`.
pub(crate) fn due(at: jiff::Timestamp, customer: &CustomerId) -> Vec<u8> {
    let mut k = due_bound(at);
    k.extend_from_slice(customer.as_str().as_bytes());
    k
}

/// The due-index prefix for instant `at`: every timer due before `at` sorts below it.
pub(crate) fn due_bound(at: jiff::Timestamp) -> Vec<u8> {
    let mut k = Vec::with_capacity(48);
    k.push(DUE);
    let ordered = (at.as_nanosecond() as u128) ^ (1 << 127);
    k.extend_from_slice(&ordered.to_be_bytes());
    k
}

/// The outbox due-index key of message (seq, n), due at `at`.
pub(crate) fn outbox_due(at: jiff::Timestamp, seq: u64, n: u32) -> Vec<u8> {
    let mut k = outbox_due_bound(at);
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// The outbox due-index prefix for instant `at`: every message due before `at` sorts
/// below it.
pub(crate) fn outbox_due_bound(at: jiff::Timestamp) -> Vec<u8> {
    let mut k = due_bound(at);
    k[0] = OUTBOX_DUE;
    k
}

/// Message sequence and index from an outbox due-index key.
pub(crate) fn parse_outbox_due(key: &[u8]) -> Option<(u64, u32)> {
    let seq = u64::from_be_bytes(key.get(17..25)?.try_into().ok()?);
    let n = u32::from_be_bytes(key.get(25..29)?.try_into().ok()?);
    Some((seq, n))
}

/// The due time of a (timer or outbox) due-index key.
pub(crate) fn due_time(key: &[u8]) -> Option<jiff::Timestamp> {
    let ordered = u128::from_be_bytes(key.get(1..17)?.try_into().ok()?);
    jiff::Timestamp::from_nanosecond((ordered ^ (1 << 127)) as i128).ok()
}

/// The customer of a due-index key; `None` for a key in the legacy layout (customer, NUL,
/// timer name), which [`super::Store`] migrates at open.
pub(crate) fn customer_of_due(key: &[u8]) -> Option<CustomerId> {
    let rest = key.get(17..)?;
    if rest.contains(&0) {
        return None;
    }
    CustomerId::new(std::str::from_utf8(rest).ok()?).ok()
}

fn seq_key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [prefix; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The first sequence number of a block or id-list key.
pub(crate) fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

pub(crate) fn customer(id: &CustomerId) -> Vec<u8> {
    prefixed(CUSTOMER, id.as_str().as_bytes())
}

/// The prefix of one customer's sealed history chunks.
pub(crate) fn history_prefix(customer: &CustomerId) -> Vec<u8> {
    let mut k = prefixed(HISTORY, customer.as_str().as_bytes());
    k.push(0);
    k
}

pub(crate) fn history_chunk(customer: &CustomerId, chunk: u32) -> Vec<u8> {
    let mut k = history_prefix(customer);
    k.extend_from_slice(&chunk.to_be_bytes());
    k
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len() + 8);
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_by_time_and_parse_back() {
        let c = CustomerId::new("c-1").unwrap();
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let early = due(t("2026-01-01T00:00:00Z"), &CustomerId::new("z").unwrap());
        let late = due(t("2026-01-02T00:00:00Z"), &c);
        assert!(early < late);
        assert!(late < due_bound(t("2026-01-02T00:00:00.000000001Z")));
        assert!(
            late > due_bound(t("2026-01-02T00:00:00Z"))
                || late.starts_with(&due_bound(t("2026-01-02T00:00:00Z")))
        );
        assert_eq!(customer_of_due(&late), Some(c));
        let mut legacy = late.clone();
        legacy.extend_from_slice(b"\0name");
        assert_eq!(customer_of_due(&legacy), None);
    }

    #[test]
    fn keys_sort_as_their_numbers_and_customers_do_not_overlap() {
        assert!(block(255) < block(256));
        assert_eq!(seq_of(&block(1234)), Some(1234));
        let c1 = CustomerId::new("c-1").unwrap();
        let c10 = CustomerId::new("c-10").unwrap();
        assert!(history_chunk(&c1, 0) < history_chunk(&c1, 1));
        assert!(!history_chunk(&c10, 0).starts_with(&history_prefix(&c1)));
    }
}
