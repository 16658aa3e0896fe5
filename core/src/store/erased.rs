//! Erased customers, remembered as keyed hashes so that their events are not taken back.
//!
//! An erased customer's old events live on outside kizuna: a shop's export, a till that
//! sends again. Taken in, they would bring the customer back. So [`Store::erase_customer`]
//! records `SHA-256(key ‖ customer id)` (the first 16 bytes) under the `e` prefix, in the
//! same batch that removes the customer, and every append skips, and counts, the events
//! of a customer whose hash is listed ([`super::AppendReport::erased`]). The list cannot
//! drift from the erasures: both are one atomic write.
//!
//! The key is 32 random bytes made at the first erase and kept in the store's meta. The
//! list names no one in plain text (not in a backup, a dump of keys or a support ticket),
//! though whoever holds the whole store and guesses an id can test that guess.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use super::{Store, StoreError, batch::Batch, keys};
use crate::ids::CustomerId;

/// The meta entry holding the key.
const KEY: &str = "erase_key";

/// The erased customers' hashes and the key they were made with.
#[derive(Debug, Default)]
pub(super) struct Erased {
    key: Option<[u8; 32]>,
    hashes: HashSet<[u8; 16]>,
}

impl Erased {
    /// Whether `id` was erased.
    pub(super) fn contains(&self, id: &CustomerId) -> bool {
        match &self.key {
            Some(key) if !self.hashes.is_empty() => self.hashes.contains(&digest(key, id)),
            _ => false,
        }
    }

    /// How many customers were erased.
    pub(super) fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether none was.
    pub(super) fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

fn digest(key: &[u8; 32], id: &CustomerId) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(id.as_str().as_bytes());
    let full = hasher.finalize();
    let mut short = [0; 16];
    short.copy_from_slice(&full[..16]);
    short
}

impl Store {
    /// The erased customers, read from the tree on first need.
    pub(super) fn erased(&mut self) -> Result<&Erased, StoreError> {
        if self.erased.is_none() {
            let mut erased = Erased::default();
            if let Some(key) = self
                .tree
                .get(keys::meta(KEY))
                .map_err(|e| self.sled_err(e))?
            {
                let key: [u8; 32] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| self.corrupt(&keys::meta(KEY), "erase key is not 32 bytes"))?;
                erased.key = Some(key);
            }
            for item in self.tree.scan_prefix([keys::ERASED]) {
                let (k, _) = item.map_err(|e| self.sled_err(e))?;
                let hash: [u8; 16] = k[1..]
                    .try_into()
                    .map_err(|_| self.corrupt(&k, "erased hash is not 16 bytes"))?;
                erased.hashes.insert(hash);
            }
            self.erased = Some(erased);
        }
        Ok(self.erased.get_or_insert_default())
    }

    /// How many customers were erased from this store.
    pub fn erased_customers(&mut self) -> Result<usize, StoreError> {
        Ok(self.erased()?.len())
    }

    /// Adds `id`'s hash (and, at the first erase, the key) to `batch`; returns the hash,
    /// which the caller adds to the set once the batch is written.
    pub(super) fn remember_erased(
        &mut self,
        id: &CustomerId,
        batch: &mut Batch,
    ) -> Result<[u8; 16], StoreError> {
        let key = match self.erased()?.key {
            Some(key) => key,
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| StoreError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(format!("no random key for erasures: {e}")),
                })?;
                batch.insert(keys::meta(KEY), key.to_vec());
                if let Some(erased) = self.erased.as_mut() {
                    erased.key = Some(key);
                }
                key
            }
        };
        let hash = digest(&key, id);
        batch.insert(keys::erased(&hash), Vec::new());
        Ok(hash)
    }

    /// Marks `hash` erased in memory, after its batch is written.
    pub(super) fn erased_written(&mut self, hash: [u8; 16]) {
        if let Some(erased) = self.erased.as_mut() {
            erased.hashes.insert(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_the_key_and_names_no_one() {
        let id = CustomerId::new("c-1").unwrap();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_ne!(digest(&a, &id), digest(&b, &id));
        assert_eq!(digest(&a, &id), digest(&a, &id));
        assert!(!digest(&a, &id).windows(3).any(|w| w == b"c-1"));
        let mut erased = Erased {
            key: Some(a),
            hashes: HashSet::new(),
        };
        assert!(!erased.contains(&id));
        erased.hashes.insert(digest(&a, &id));
        assert!(erased.contains(&id));
        assert!(!erased.contains(&CustomerId::new("c-2").unwrap()));
    }
}
