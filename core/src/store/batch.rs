//! A set of writes applied together.

use sled::IVec;

/// Writes applied together: atomically, as one sled batch, in a live store; into the map of
/// an in-memory scratch store ([`super::kv::Kv`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Batch {
    ops: Vec<(IVec, Option<IVec>)>,
}

impl Batch {
    /// Sets `key` to `value`.
    pub(crate) fn insert(&mut self, key: impl Into<IVec>, value: impl Into<IVec>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: impl Into<IVec>) {
        self.ops.push((key.into(), None));
    }

    /// The last write to `key` in this batch: `Some(Some(value))` set, `Some(None)` removed,
    /// `None` not written here.
    pub(crate) fn latest(&self, key: &[u8]) -> Option<Option<&IVec>> {
        self.ops
            .iter()
            .rev()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_ref())
    }

    /// The writes to keys that start with `prefix`, in order: `(key, Some(value))` set,
    /// `(key, None)` removed.
    pub(crate) fn with_prefix(&self, prefix: u8) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.ops
            .iter()
            .filter(move |(k, _)| k.first() == Some(&prefix))
            .map(|(k, v)| (k.as_ref(), v.as_deref()))
    }

    /// A batch of just the writes to keys that start with `prefix`.
    pub(crate) fn only(&self, prefix: u8) -> Batch {
        Batch {
            ops: self
                .ops
                .iter()
                .filter(|(k, _)| k.first() == Some(&prefix))
                .cloned()
                .collect(),
        }
    }

    /// Adds `other`'s writes after these.
    pub(crate) fn extend(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }

    /// Applies the writes to `tree` atomically.
    pub(crate) fn apply(self, tree: &sled::Tree) -> sled::Result<()> {
        if let [_] = self.ops.as_slice() {
            // One write is atomic by itself, and a sled batch costs far more than a write.
            return self.apply_one_by_one(tree);
        }
        let mut batch = sled::Batch::default();
        for (k, v) in self.ops {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        tree.apply_batch(batch)
    }

    /// Applies the writes to `tree` one at a time, in order: each is atomic, the whole is
    /// not. Unlike [`Batch::apply`], this never takes sled's global write lock (a sled
    /// batch holds it throughout, stalling every reader) and adds no batch record to the
    /// log: with one batch per record, a background checkpoint took ~3x longer.
    pub(crate) fn apply_one_by_one(self, tree: &sled::Tree) -> sled::Result<()> {
        for (k, v) in self.ops {
            match v {
                Some(v) => tree.insert(k, v)?,
                None => tree.remove(k)?,
            };
        }
        Ok(())
    }

    /// The writes, in order.
    pub(crate) fn into_ops(self) -> Vec<(IVec, Option<IVec>)> {
        self.ops
    }
}
