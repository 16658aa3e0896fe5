//! The ordered key-value tree under the store: sled on disk, or a map in memory.
//!
//! Live stores are sled. Scratch stores (rule fixtures, replays) are thrown away when
//! dropped, so durability buys them nothing, while sled's cost per written key (a few
//! microseconds: log reservation, page copy-on-write) made a replay, which writes a
//! little at every step of its clock, ten times slower than the rules it runs.

use std::{
    collections::BTreeMap,
    ops::{Bound, RangeBounds},
    sync::RwLock,
};

use sled::IVec;

use super::batch::Batch;

/// Ordered bytes to bytes. See the module documentation.
#[derive(Debug)]
pub(crate) enum Kv {
    /// On disk.
    Sled(sled::Tree),
    /// In memory.
    Mem(Map),
}

/// An iterator over key-value pairs in key order, from either tree.
// Lives on the stack for one scan; boxing sled's iterator would cost the live store an
// allocation per scan to save the scratch store some bytes.
#[allow(clippy::large_enum_variant)]
pub(crate) enum KvIter<'a> {
    Sled(sled::Iter),
    Mem(MemIter<'a>),
}

impl Iterator for KvIter<'_> {
    type Item = sled::Result<(IVec, IVec)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Sled(i) => i.next(),
            Self::Mem(i) => i.next().map(Ok),
        }
    }
}

impl DoubleEndedIterator for KvIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Self::Sled(i) => i.next_back(),
            Self::Mem(i) => i.next_back().map(Ok),
        }
    }
}

/// Pairs fetched from the in-memory map a few at a time, each fetch under a short read
/// lock, so `scan.next()` costs one lookup however large the range (a store asks "the
/// first due timer" after every step of a replay).
pub(crate) struct MemIter<'a> {
    map: &'a Map,
    /// What has not been fetched yet, from either end.
    lo: Bound<IVec>,
    hi: Bound<IVec>,
    /// Keys must start with this (a prefix scan).
    prefix: Option<IVec>,
    front: std::collections::VecDeque<(IVec, IVec)>,
    back: std::collections::VecDeque<(IVec, IVec)>,
}

/// Pairs per fetch.
const FETCH: usize = 32;

impl MemIter<'_> {
    fn keep(&self, k: &IVec) -> bool {
        self.prefix.as_ref().is_none_or(|p| k.starts_with(p))
    }
}

impl Iterator for MemIter<'_> {
    type Item = (IVec, IVec);

    fn next(&mut self) -> Option<Self::Item> {
        if self.front.is_empty() {
            let fetched: Vec<(IVec, IVec)> = read(self.map)
                .range((self.lo.clone(), self.hi.clone()))
                .take(FETCH)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some((last, _)) = fetched.last() {
                self.lo = Bound::Excluded(last.clone());
            }
            for pair in fetched {
                if !self.keep(&pair.0) {
                    // Past the prefix: nothing further can match.
                    self.lo = Bound::Included(IVec::from(&[][..]));
                    self.hi = Bound::Excluded(IVec::from(&[][..]));
                    break;
                }
                self.front.push_back(pair);
            }
        }
        self.front.pop_front().or_else(|| self.back.pop_back())
    }
}

impl DoubleEndedIterator for MemIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.back.is_empty() {
            let fetched: Vec<(IVec, IVec)> = read(self.map)
                .range((self.lo.clone(), self.hi.clone()))
                .rev()
                .filter(|(k, _)| self.keep(k))
                .take(FETCH)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some((first, _)) = fetched.last() {
                self.hi = Bound::Excluded(first.clone());
            }
            self.back.extend(fetched);
        }
        self.back.pop_front().or_else(|| self.front.pop_back())
    }
}

type Map = RwLock<BTreeMap<IVec, IVec>>;

fn read(m: &Map) -> std::sync::RwLockReadGuard<'_, BTreeMap<IVec, IVec>> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write(m: &Map) -> std::sync::RwLockWriteGuard<'_, BTreeMap<IVec, IVec>> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn owned(b: Bound<&[u8]>) -> Bound<IVec> {
    match b {
        Bound::Included(k) => Bound::Included(IVec::from(k)),
        Bound::Excluded(k) => Bound::Excluded(IVec::from(k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl Kv {
    /// An empty in-memory tree.
    pub(crate) fn memory() -> Self {
        Self::Mem(RwLock::new(BTreeMap::new()))
    }

    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        match self {
            Self::Sled(t) => t.get(key),
            Self::Mem(m) => Ok(read(m).get(key.as_ref()).cloned()),
        }
    }

    pub(crate) fn insert(
        &self,
        key: impl Into<IVec>,
        value: impl Into<IVec>,
    ) -> sled::Result<Option<IVec>> {
        match self {
            Self::Sled(t) => t.insert(key.into(), value.into()),
            Self::Mem(m) => Ok(write(m).insert(key.into(), value.into())),
        }
    }

    #[cfg(test)]
    pub(crate) fn remove(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        match self {
            Self::Sled(t) => t.remove(key),
            Self::Mem(m) => Ok(write(m).remove(key.as_ref())),
        }
    }

    pub(crate) fn contains_key(&self, key: impl AsRef<[u8]>) -> sled::Result<bool> {
        match self {
            Self::Sled(t) => t.contains_key(key),
            Self::Mem(m) => Ok(read(m).contains_key(key.as_ref())),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Sled(t) => t.is_empty(),
            Self::Mem(m) => read(m).is_empty(),
        }
    }

    /// Pairs with keys in `range`, in key order.
    pub(crate) fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> KvIter<'_> {
        match self {
            Self::Sled(t) => KvIter::Sled(t.range(range)),
            Self::Mem(m) => KvIter::Mem(MemIter {
                map: m,
                lo: owned(range.start_bound().map(AsRef::as_ref)),
                hi: owned(range.end_bound().map(AsRef::as_ref)),
                prefix: None,
                front: Default::default(),
                back: Default::default(),
            }),
        }
    }

    /// Pairs whose key starts with `prefix`, in key order.
    pub(crate) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> KvIter<'_> {
        match self {
            Self::Sled(t) => KvIter::Sled(t.scan_prefix(prefix)),
            Self::Mem(m) => {
                let prefix = IVec::from(prefix.as_ref());
                KvIter::Mem(MemIter {
                    map: m,
                    lo: Bound::Included(prefix.clone()),
                    hi: Bound::Unbounded,
                    prefix: Some(prefix),
                    front: Default::default(),
                    back: Default::default(),
                })
            }
        }
    }

    /// Applies a batch: atomically on sled, in order in memory (where nothing can fail
    /// half-way).
    pub(crate) fn apply(&self, batch: Batch) -> sled::Result<()> {
        match self {
            Self::Sled(t) => batch.apply(t),
            Self::Mem(m) => {
                let mut map = write(m);
                for (k, v) in batch.into_ops() {
                    match v {
                        Some(v) => map.insert(k, v),
                        None => map.remove(&k),
                    };
                }
                Ok(())
            }
        }
    }

    /// The sled tree, for whole-database operations (compaction).
    pub(crate) fn as_sled(&self) -> Option<&sled::Tree> {
        match self {
            Self::Sled(t) => Some(t),
            Self::Mem(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(it: impl Iterator<Item = sled::Result<(IVec, IVec)>>) -> Vec<Vec<u8>> {
        it.map(|r| r.unwrap().0.to_vec()).collect()
    }

    /// The in-memory tree answers every scan exactly as sled does, across fetch boundaries.
    #[test]
    fn memory_scans_match_sled() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let trees = [Kv::Sled(db.open_tree("t").unwrap()), Kv::memory()];
        for t in &trees {
            for i in 0..100u8 {
                t.insert(&[b'a', i], &[i]).unwrap();
                t.insert(&[b'b', i], &[i]).unwrap();
            }
            t.insert(b"c", &[0]).unwrap();
        }
        let [live, mem] = &trees;
        assert_eq!(
            keys(live.scan_prefix([b'b'])),
            keys(mem.scan_prefix([b'b']))
        );
        assert_eq!(keys(mem.scan_prefix([b'b'])).len(), 100);
        assert_eq!(
            keys(live.scan_prefix([b'a']).rev()),
            keys(mem.scan_prefix([b'a']).rev())
        );
        assert_eq!(
            keys(live.range([b'a', 50][..].to_vec()..[b'b', 3].to_vec())),
            keys(mem.range([b'a', 50][..].to_vec()..[b'b', 3].to_vec()))
        );
        // Both ends of one scan meet without losing or repeating a pair.
        let mut it = mem.scan_prefix([b'a']);
        let mut seen = Vec::new();
        loop {
            let front = it.next();
            let back = it.next_back();
            if front.is_none() && back.is_none() {
                break;
            }
            seen.extend(front.into_iter().chain(back).map(|r| r.unwrap().0.to_vec()));
        }
        seen.sort();
        assert_eq!(seen, keys(live.scan_prefix([b'a'])));
        assert_eq!(mem.scan_prefix([b'z']).next().map(|r| r.unwrap()), None);
    }
}
