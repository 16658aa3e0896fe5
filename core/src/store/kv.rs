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
pub(crate) enum KvIter {
    Sled(sled::Iter),
    Mem(std::vec::IntoIter<(IVec, IVec)>),
}

impl Iterator for KvIter {
    type Item = sled::Result<(IVec, IVec)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Sled(i) => i.next(),
            Self::Mem(i) => i.next().map(Ok),
        }
    }
}

impl DoubleEndedIterator for KvIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Self::Sled(i) => i.next_back(),
            Self::Mem(i) => i.next_back().map(Ok),
        }
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

    /// Pairs with keys in `range`, in key order. The in-memory tree copies them out (the
    /// values are reference-counted, so that is cheap).
    pub(crate) fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> KvIter {
        match self {
            Self::Sled(t) => KvIter::Sled(t.range(range)),
            Self::Mem(m) => {
                let start = owned(range.start_bound().map(AsRef::as_ref));
                let end = owned(range.end_bound().map(AsRef::as_ref));
                let pairs: Vec<(IVec, IVec)> = read(m)
                    .range((start, end))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                KvIter::Mem(pairs.into_iter())
            }
        }
    }

    /// Pairs whose key starts with `prefix`, in key order.
    pub(crate) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> KvIter {
        match self {
            Self::Sled(t) => KvIter::Sled(t.scan_prefix(prefix)),
            Self::Mem(m) => {
                let prefix = prefix.as_ref();
                let pairs: Vec<(IVec, IVec)> = read(m)
                    .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                KvIter::Mem(pairs.into_iter())
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
