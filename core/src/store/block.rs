//! Log blocks: many events in one sled value.
//!
//! sled costs a few microseconds per key written, whatever the key's size, so one key per
//! event caps ingest far below what a CRM import needs. The log therefore stores events in
//! blocks of up to [`BLOCK_EVENTS`], each under the key of its first sequence number. A
//! block is `(seq u64 BE, len u32 BE, event JSON)` repeated; sequence numbers rise within a
//! block but may have gaps where an erase removed events.

use crate::event::Event;

/// Most events in one block. 256 events of ~150 bytes keep a block near 40 KiB: large
/// enough to amortise sled's per-key cost, small enough that reading one event is cheap.
pub(crate) const BLOCK_EVENTS: usize = 256;

/// Appends one event to an encoded block.
pub(crate) fn push(block: &mut Vec<u8>, seq: u64, json: &[u8]) {
    block.extend_from_slice(&seq.to_be_bytes());
    block.extend_from_slice(&(json.len() as u32).to_be_bytes());
    block.extend_from_slice(json);
}

/// Iterates `(seq, event JSON)` over an encoded block; `Err` on a truncated block.
pub(crate) fn entries(block: &[u8]) -> impl Iterator<Item = Result<(u64, &[u8]), &'static str>> {
    let mut rest = block;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some((head, tail)) = rest.split_at_checked(12) else {
            rest = &[];
            return Some(Err("truncated block header"));
        };
        let seq = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let len = u32::from_be_bytes(head[8..].try_into().unwrap_or_default()) as usize;
        let Some((json, tail)) = tail.split_at_checked(len) else {
            rest = &[];
            return Some(Err("truncated block entry"));
        };
        rest = tail;
        Some(Ok((seq, json)))
    })
}

/// Decodes every event of a block.
pub(crate) fn decode(block: &[u8]) -> Result<Vec<(u64, Event)>, String> {
    entries(block)
        .map(|entry| {
            let (seq, json) = entry.map_err(str::to_owned)?;
            let event = serde_json::from_slice(json).map_err(|e| format!("event {seq}: {e}"))?;
            Ok((seq, event))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut block = Vec::new();
        push(&mut block, 7, br#"{"a":1}"#);
        push(&mut block, 9, br#"{"b":2}"#);
        let got: Vec<(u64, &[u8])> = entries(&block).map(Result::unwrap).collect();
        assert_eq!(got, [(7, &br#"{"a":1}"#[..]), (9, &br#"{"b":2}"#[..])]);
        assert!(entries(&block[..block.len() - 1]).any(|e| e.is_err()));
    }
}
