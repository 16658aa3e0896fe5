//! Customer records: the projection plus the customer's history index.
//!
//! A record is `[u32 BE json length][projection JSON][u64 BE applied seq][u32 BE sealed
//! chunks][history entries]`. `applied_until` is the log sequence up to which (exclusive) the
//! projection: replay after a crash skips what a record already holds (see
//! [`super::checkpoint`]). The history index lists `(event time, seq)` for every event of the
//! customer; the newest [`CHUNK_ENTRIES`] live in the record itself, older ones in sealed
//! chunks under their own keys, so a busy customer's record stays small.

use std::sync::Arc;

use jiff::Timestamp;

use crate::customer::Customer;

/// History entries per sealed chunk (and at most in a record's tail).
pub(crate) const CHUNK_ENTRIES: usize = 16;
const ENTRY_LEN: usize = 20;

/// One event in a customer's history index (24 bytes in memory, 20 on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HistEntry {
    /// Event time: seconds since the epoch (sorts first)…
    pub secs: i64,
    /// …and the nanoseconds within that second.
    pub nanos: u32,
    /// Log sequence number.
    pub seq: u64,
}

impl HistEntry {
    pub(crate) fn new(at: Timestamp, seq: u64) -> Self {
        // Euclidean split, so that times before 1970 still sort correctly.
        let nanos = at.as_nanosecond();
        Self {
            secs: nanos.div_euclid(1_000_000_000) as i64,
            nanos: nanos.rem_euclid(1_000_000_000) as u32,
            seq,
        }
    }
}

/// A customer's stored state.
///
/// The projection sits behind an `Arc` so that rules get a read-only view of it for the
/// price of a reference count; folding mutates it with `Arc::make_mut`, which copies only
/// if a view is still alive (it never is once the scripts have returned).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub customer: Arc<Customer>,
    pub applied_until: u64,
    pub sealed_chunks: u32,
    pub tail: Vec<HistEntry>,
}

impl Record {
    pub(crate) fn new(customer: Customer) -> Self {
        Self {
            customer: Arc::new(customer),
            applied_until: 0,
            sealed_chunks: 0,
            tail: Vec::new(),
        }
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let json = serde_json::to_vec(&*self.customer)?;
        let mut out = Vec::with_capacity(16 + json.len() + self.tail.len() * ENTRY_LEN);
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&self.applied_until.to_be_bytes());
        out.extend_from_slice(&self.sealed_chunks.to_be_bytes());
        encode_entries(&self.tail, &mut out);
        Ok(out)
    }

    /// The customer's JSON in a stored record, undecoded: for a reader that needs a few
    /// fields of many customers ([`super::open`]).
    pub(crate) fn customer_json(bytes: &[u8]) -> Result<&[u8], String> {
        let (len, rest) = bytes.split_at_checked(4).ok_or("record too short")?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| "bad length")?) as usize;
        let (json, _) = rest.split_at_checked(len).ok_or("record JSON truncated")?;
        Ok(json)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (len, rest) = bytes.split_at_checked(4).ok_or("record too short")?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| "bad length")?) as usize;
        let (json, rest) = rest.split_at_checked(len).ok_or("record JSON truncated")?;
        let customer = Arc::new(serde_json::from_slice(json).map_err(|e| e.to_string())?);
        let (seq, rest) = rest.split_at_checked(8).ok_or("record truncated")?;
        let (sealed, rest) = rest.split_at_checked(4).ok_or("record truncated")?;
        Ok(Self {
            customer,
            applied_until: u64::from_be_bytes(seq.try_into().map_err(|_| "bad seq")?),
            sealed_chunks: u32::from_be_bytes(sealed.try_into().map_err(|_| "bad count")?),
            tail: decode_entries(rest)?,
        })
    }

    /// Adds an event to the history index; returns a full chunk to seal under
    /// `sealed_chunks - 1` when the tail overflows.
    pub(crate) fn push_history(&mut self, entry: HistEntry) -> Option<Vec<HistEntry>> {
        self.tail.push(entry);
        if self.tail.len() < CHUNK_ENTRIES {
            return None;
        }
        self.sealed_chunks += 1;
        Some(std::mem::take(&mut self.tail))
    }
}

pub(crate) fn encode_entries(entries: &[HistEntry], out: &mut Vec<u8>) {
    for e in entries {
        out.extend_from_slice(&e.secs.to_be_bytes());
        out.extend_from_slice(&e.nanos.to_be_bytes());
        out.extend_from_slice(&e.seq.to_be_bytes());
    }
}

pub(crate) fn decode_entries(bytes: &[u8]) -> Result<Vec<HistEntry>, String> {
    if !bytes.len().is_multiple_of(ENTRY_LEN) {
        return Err("history entries truncated".into());
    }
    Ok(bytes
        .chunks_exact(ENTRY_LEN)
        .map(|c| HistEntry {
            secs: i64::from_be_bytes(c[..8].try_into().unwrap_or_default()),
            nanos: u32::from_be_bytes(c[8..12].try_into().unwrap_or_default()),
            seq: u64::from_be_bytes(c[12..].try_into().unwrap_or_default()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CustomerId;

    #[test]
    fn entries_sort_by_time_across_1970() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let a = HistEntry::new(t("1969-12-31T23:59:59.5Z"), 2);
        let b = HistEntry::new(t("1970-01-01T00:00:00Z"), 1);
        assert!(a < b);
        let mut bytes = Vec::new();
        encode_entries(&[a, b], &mut bytes);
        assert_eq!(decode_entries(&bytes).unwrap(), [a, b]);
    }

    #[test]
    fn records_round_trip_and_seal_full_chunks() {
        let mut r = Record::new(Customer::new(CustomerId::new("c-1").unwrap()));
        let mut sealed = Vec::new();
        for seq in 0..(CHUNK_ENTRIES as u64 + 3) {
            let at = Timestamp::from_second(seq as i64 * 60).unwrap();
            sealed.extend(r.push_history(HistEntry::new(at, seq)));
        }
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].len(), CHUNK_ENTRIES);
        assert_eq!((r.sealed_chunks, r.tail.len()), (1, 3));
        r.applied_until = 66;
        let back = Record::decode(&r.encode().unwrap()).unwrap();
        assert_eq!(back.customer, r.customer);
        assert_eq!((back.applied_until, back.sealed_chunks), (66, 1));
        assert_eq!(back.tail, r.tail);
        assert!(Record::decode(&r.encode().unwrap()[..10]).is_err());
    }
}
