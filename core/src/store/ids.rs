//! The event-id index, for idempotent append.
//!
//! Every block is written with a list of `(xxh3 hash of event id, seq)`. The index is those
//! lists loaded into memory the first time a store appends or looks an id up: 16 bytes a
//! event on disk, about 20 in memory, and one sled key per block rather than per event.
//! A hash only names candidates; the caller compares the real id, so a hash collision can
//! never drop a new event as a duplicate.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use crate::ids::EventId;

/// The stable hash under which an id is indexed (xxh3 is specified, so it never changes).
pub(crate) fn id_hash(id: &EventId) -> u64 {
    xxh3_64(id.as_str().as_bytes())
}

/// Id hash → sequence numbers of the events with that hash.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    first: HashMap<u64, u64>,
    /// Further events whose id hash collided with one in `first`; almost always empty.
    more: HashMap<u64, Vec<u64>>,
}

impl IdIndex {
    pub(crate) fn insert(&mut self, hash: u64, seq: u64) {
        if let Some(&existing) = self.first.get(&hash) {
            if existing != seq {
                self.more.entry(hash).or_default().push(seq);
            }
        } else {
            self.first.insert(hash, seq);
        }
    }

    /// Sequence numbers whose id has this hash.
    pub(crate) fn candidates(&self, hash: u64) -> impl Iterator<Item = u64> + '_ {
        self.first
            .get(&hash)
            .into_iter()
            .chain(self.more.get(&hash).into_iter().flatten())
            .copied()
    }

    pub(crate) fn remove(&mut self, hash: u64, seq: u64) {
        if let Some(more) = self.more.get_mut(&hash) {
            more.retain(|&s| s != seq);
        }
        if self.first.get(&hash) == Some(&seq) {
            self.first.remove(&hash);
            if let Some(next) = self.more.get_mut(&hash).and_then(Vec::pop) {
                self.first.insert(hash, next);
            }
        }
        if self.more.get(&hash).is_some_and(Vec::is_empty) {
            self.more.remove(&hash);
        }
    }
}

/// Encodes one `(hash, seq)` pair of a block's id list.
pub(crate) fn push_pair(out: &mut Vec<u8>, hash: u64, seq: u64) {
    out.extend_from_slice(&hash.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
}

/// Decodes a block's id list.
pub(crate) fn pairs(bytes: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    bytes.chunks_exact(16).map(|c| {
        (
            u64::from_be_bytes(c[..8].try_into().unwrap_or_default()),
            u64::from_be_bytes(c[8..].try_into().unwrap_or_default()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_keep_every_candidate() {
        let mut ix = IdIndex::default();
        ix.insert(7, 1);
        ix.insert(7, 2);
        ix.insert(8, 3);
        assert_eq!(ix.candidates(7).collect::<Vec<_>>(), [1, 2]);
        ix.remove(7, 1);
        assert_eq!(ix.candidates(7).collect::<Vec<_>>(), [2]);
        ix.remove(7, 2);
        assert_eq!(ix.candidates(7).count(), 0);
        let mut bytes = Vec::new();
        push_pair(&mut bytes, 9, 10);
        assert_eq!(pairs(&bytes).collect::<Vec<_>>(), [(9, 10)]);
    }
}
