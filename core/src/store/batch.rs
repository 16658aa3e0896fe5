//! A set of writes applied together.

use sled::IVec;

/// Writes applied together: atomically, as one sled batch, in a real store; one by one in a
/// scratch store ([`super::Store::open_temporary`]), which is thrown away on a crash
/// anyway. sled rolls its log buffer twice for every atomic batch; a replay, which writes
/// a few small batches per step of its clock, spent most of its time there.
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

    /// Applies the writes to `tree`, atomically unless `atomic` is false.
    pub(crate) fn apply(self, tree: &sled::Tree, atomic: bool) -> sled::Result<()> {
        if atomic {
            let mut batch = sled::Batch::default();
            for (k, v) in self.ops {
                match v {
                    Some(v) => batch.insert(k, v),
                    None => batch.remove(k),
                }
            }
            return tree.apply_batch(batch);
        }
        for (k, v) in self.ops {
            match v {
                Some(v) => tree.insert(k, v).map(drop)?,
                None => tree.remove(k).map(drop)?,
            }
        }
        Ok(())
    }
}
