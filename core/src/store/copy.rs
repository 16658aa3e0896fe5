//! Copies of the database: a backup into another directory, and the copy an erasure
//! compacts through.
//!
//! Invariant: a copy holds exactly the tree as it is after a flush. [`Store::backup_to`]
//! flushes first (every checkpoint written, the background thread idle) and copies on the
//! store's own thread, the only writer, so nothing changes under the copy: it is the state
//! of one moment, and opening it needs no recovery at all. Events acknowledged before the
//! backup began are in it because acknowledging means flushed.

use std::path::Path;

use serde::Serialize;

use super::{Store, StoreError, TREE};

/// What a backup copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// Keys copied.
    pub keys: u64,
    /// Events in the copy.
    pub events: u64,
    /// Customers in the copy.
    pub customers: u64,
}

/// Copies every entry of `from` into a new database at `dest` (which must not exist),
/// then makes it durable. Returns how many keys it copied.
pub(super) fn copy_tree(
    from: &sled::Tree,
    source: &Path,
    dest: &Path,
    cache_capacity: u64,
) -> Result<u64, StoreError> {
    let sled_err = |source| StoreError::Sled {
        path: dest.to_path_buf(),
        source,
    };
    let copy = super::open_sled(dest, cache_capacity)?;
    let copy_tree = copy.open_tree(TREE).map_err(sled_err)?;
    let mut batch = sled::Batch::default();
    let (mut pending, mut keys) = (0, 0u64);
    for item in from.iter() {
        let (k, v) = item.map_err(|e| StoreError::Sled {
            path: source.to_path_buf(),
            source: e,
        })?;
        batch.insert(k, v);
        pending += 1;
        keys += 1;
        if pending == 10_000 {
            copy_tree
                .apply_batch(std::mem::take(&mut batch))
                .map_err(sled_err)?;
            pending = 0;
        }
    }
    copy_tree.apply_batch(batch).map_err(sled_err)?;
    copy.flush().map_err(sled_err)?;
    Ok(keys)
}

impl Store {
    /// Writes a consistent copy of the database to `dest`, a directory that must not
    /// exist yet. See the module documentation.
    pub fn backup_to(&mut self, dest: &Path) -> Result<BackupReport, StoreError> {
        if dest.exists() {
            return Err(StoreError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the backup's database directory exists already",
                ),
            });
        }
        self.flush()?;
        let Some(tree) = self.tree.as_sled() else {
            return Err(StoreError::Io {
                path: self.path.clone(),
                source: std::io::Error::other("an in-memory store has nothing to back up"),
            });
        };
        let keys = copy_tree(tree, &self.path, dest, self.options.cache_capacity)?;
        Ok(BackupReport {
            keys,
            events: self.event_count()?,
            customers: self.customer_count()?,
        })
    }
}
