//! A set of writes applied together.

use sled::IVec;

/// Writes applied together: atomically, as one sled batch, in a live store; into the map of
/// an in-memory scratch store ([`super::kv::Kv`]).
#[derive(Debug, Default)]
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

    /// Adds `other`'s writes after these.
    pub(crate) fn extend(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }

    /// Applies the writes to `tree` atomically.
    pub(crate) fn apply(self, tree: &sled::Tree) -> sled::Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in self.ops {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        tree.apply_batch(batch)
    }

    /// The writes, in order.
    pub(crate) fn into_ops(self) -> Vec<(IVec, Option<IVec>)> {
        self.ops
    }
}
