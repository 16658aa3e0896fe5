//! Erasing a customer, and compacting the database so the erased bytes are really gone.
//!
//! sled is log-structured: a removed value stays in old log segments until sled happens to
//! reclaim them. For a right-to-be-forgotten request that is not good enough, so after an
//! erase the CLI calls [`Store::compact`], which copies the live data into a fresh database
//! and swaps directories. The swap is crash-safe: [`finish_interrupted_compaction`] runs at
//! every open and either completes or discards a half-done compaction.

use super::batch::Batch;
use std::{
    collections::{BTreeMap, HashSet},
    fs,
    ops::Bound,
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{Store, StoreError, block, ids, keys};
use crate::{forget::PersonalData, ids::CustomerId};

/// What [`Store::erase_customer`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EraseReport {
    /// Events removed.
    pub events: u64,
    /// Whether a projection existed and was removed.
    pub projection: bool,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Keys copied per step of a compaction beside ingest ([`Store::compact_in_place`]): a
/// few milliseconds of copying between two chances for the daemon to store events.
const COPY_STEP: usize = 2_000;

/// Closes `store`, puts the copy at `fresh` in its place and opens it.
fn swap_in(store: Store, fresh: &Path) -> Result<Store, StoreError> {
    let Store {
        db,
        tree,
        path,
        options,
        background,
        ..
    } = store;
    // Their handles on the tree would keep the database (and its lock) open.
    drop(background);
    drop(tree);
    drop(db);
    let old = sibling(&path, ".old");
    fs::rename(&path, &old).map_err(io_err(&path))?;
    fs::rename(fresh, &path).map_err(io_err(&path))?;
    // Before the caller reports the erasure done: these files hold the erased bytes.
    fs::remove_dir_all(&old).map_err(io_err(&old))?;
    Store::open(&path, options)
}

/// Completes or discards a compaction that a crash interrupted (see the module doc).
pub(super) fn finish_interrupted_compaction(path: &Path) -> Result<(), StoreError> {
    let fresh = sibling(path, ".compact");
    let old = sibling(path, ".old");
    if path.exists() {
        // The live database is intact; anything beside it is leftover.
        for leftover in [&fresh, &old] {
            if leftover.exists() {
                fs::remove_dir_all(leftover).map_err(io_err(leftover))?;
            }
        }
    } else if fresh.exists() {
        // Crashed after moving the old database aside: the copy is complete, finish the swap.
        fs::rename(&fresh, path).map_err(io_err(path))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io_err(&old))?;
        }
    }
    Ok(())
}

impl Store {
    /// Everything that names customer `id` ([`crate::forget`]): gathered before an erase to
    /// find the customer in files outside the store. Reads the record's profile and the
    /// `name`, `email` and `phone` of every event.
    pub fn personal_data(&self, id: &CustomerId) -> Result<PersonalData, StoreError> {
        let mut who = PersonalData::new(id.clone());
        if let Some(customer) = self.customer(id)? {
            let p = customer.profile;
            who.names.extend(p.name);
            who.emails.extend(p.email);
            who.phones.extend(p.phone);
        }
        for event in self.history(id, usize::MAX)? {
            for (field, set) in [
                ("name", &mut who.names),
                ("email", &mut who.emails),
                ("phone", &mut who.phones),
            ] {
                if let Some(value) = event.attrs.get(field).and_then(|v| v.as_str()) {
                    set.insert(value.to_owned());
                }
            }
        }
        who.keep_meaningful();
        Ok(who)
    }

    /// Removes every event of `id` from the log (rewriting the blocks that held them), the
    /// id index entries, the history index and the projection, in one atomic batch,
    /// flushed. Returns `None` if the store knows nothing of the customer.
    ///
    /// The removed bytes may survive in sled's old log segments until [`Store::compact`].
    pub fn erase_customer(&mut self, id: &CustomerId) -> Result<Option<EraseReport>, StoreError> {
        self.flush()?;
        // A scratch store does not checkpoint on flush: its index entry may not be the
        // stored record's.
        let indexed = self.due_overlay.indexed(id);
        self.due_overlay.forget(id);
        let entries = self.history_entries(id)?;
        let record = self.stored_record(id)?;
        if entries.is_empty() && record.is_none() {
            return Ok(None);
        }
        let doomed: HashSet<u64> = entries.iter().map(|e| e.seq).collect();
        let mut blocks: BTreeMap<Vec<u8>, sled::IVec> = BTreeMap::new();
        for e in &entries {
            if let Some((k, v)) = self.block_of(e.seq)? {
                blocks.insert(k.to_vec(), v);
            }
        }
        let mut batch = Batch::default();
        let mut removed_ids = Vec::new();
        for (key, content) in &blocks {
            let first = keys::seq_of(key).ok_or_else(|| self.corrupt(key, "bad block key"))?;
            let mut kept = Vec::new();
            for entry in block::entries(content) {
                let (seq, json) = entry.map_err(|e| self.corrupt(key, e))?;
                if !doomed.contains(&seq) {
                    block::push(&mut kept, seq, json);
                }
            }
            let ids_key = keys::block_ids(first);
            let old_ids = self
                .tree
                .get(ids_key)
                .map_err(|e| self.sled_err(e))?
                .unwrap_or_default();
            let mut kept_ids = Vec::new();
            for (hash, seq) in ids::pairs(&old_ids) {
                if doomed.contains(&seq) {
                    removed_ids.push((hash, seq));
                } else {
                    ids::push_pair(&mut kept_ids, hash, seq);
                }
            }
            let mut effects = self.block_effects(first)?;
            effects.retain(|r| !doomed.contains(&r.seq));
            let effects_key = keys::block_effects(first);
            if kept.is_empty() {
                batch.remove(key.as_slice());
                batch.remove(&ids_key);
            } else {
                batch.insert(key.as_slice(), kept);
                batch.insert(&ids_key, kept_ids);
            }
            if effects.is_empty() {
                batch.remove(&effects_key);
            } else {
                let json = serde_json::to_vec(&effects)
                    .map_err(|e| self.corrupt(&effects_key, e.to_string()))?;
                batch.insert(&effects_key, json);
            }
        }
        // What the customer's events produced: queued messages, alerts, rule errors, timers.
        for &seq in &doomed {
            for prefix in [keys::OUTBOX, keys::ALERT, keys::RULE_ERROR] {
                let mut start = vec![prefix];
                start.extend_from_slice(&seq.to_be_bytes());
                for item in self.tree.scan_prefix(&start) {
                    let (k, v) = item.map_err(|e| self.sled_err(e))?;
                    if prefix == keys::OUTBOX {
                        let m: super::OutboxMessage = serde_json::from_slice(&v)
                            .map_err(|e| self.corrupt(&k, e.to_string()))?;
                        if let Some(at) = m.status.due_from() {
                            batch.remove(keys::outbox_due(at, m.id.seq, m.id.n));
                        }
                    }
                    batch.remove(k);
                }
            }
        }
        // The record goes, and with it the customer's timers and their index entry.
        let indexed =
            indexed.unwrap_or_else(|| record.as_ref().and_then(|r| r.customer.earliest_timer()));
        if let Some(due) = indexed {
            batch.remove(keys::due(due, id));
        }
        for item in self.tree.scan_prefix(keys::history_prefix(id)) {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            batch.remove(k);
        }
        batch.remove(keys::customer(id));
        let report = EraseReport {
            events: doomed.len() as u64,
            projection: record.is_some(),
        };
        let events = self.counter("events")?.saturating_sub(report.events);
        let customers = self
            .customers_stored
            .saturating_sub(u64::from(report.projection));
        batch.insert(keys::meta("events"), &events.to_be_bytes());
        batch.insert(keys::meta("customers"), &customers.to_be_bytes());
        // Remembered in the same write, so their events are never taken back in.
        let hash = self.remember_erased(id, &mut batch)?;
        self.apply(batch)?;
        self.erased_written(hash);
        self.customers_stored = customers;
        self.sync()?;
        self.cache.remove(id);
        if let Some(open) = self.open.as_mut() {
            open.forget(id);
        }
        if let Some(index) = self.ids.as_mut() {
            for (hash, seq) in removed_ids {
                index.remove(hash, seq);
            }
        }
        Ok(Some(report))
    }

    /// [`Store::compact`] for an owner that keeps the store (a daemon's writer), copying
    /// the tree in steps and calling `between` after each: a daemon stores the events that
    /// arrived meanwhile there, so ingest is answered during the copy (a copy in one go
    /// held it ~20 s at a million events). The compacted store takes this one's place with
    /// the same settings (latency histogram, background checkpoints). If the
    /// compaction fails, the database is opened again as it was left (an interrupted
    /// compaction finishes or rolls back at open); if even that fails, this store refuses
    /// every write from then on.
    ///
    /// Invariant: the copy ends equal to the live tree. Every write goes through
    /// [`Store::apply`] on this thread while the copy is made (background checkpoints are
    /// off, and the one under way is waited for), and each batch written then is logged
    /// and written to the copy, in order, after the step it came in: a key copied before
    /// the batch changed it gets the change; one not copied yet is copied later from the
    /// live tree, which has it already (a key the batch removed is then not there to copy).
    pub fn compact_in_place(
        &mut self,
        between: &mut dyn FnMut(&mut Store),
    ) -> Result<(), StoreError> {
        if self.temporary {
            // In memory: removed entries are gone already.
            return Ok(());
        }
        self.flush()?;
        let background_checkpoints = self.set_background_checkpoints(false);
        let copied = self.copy_beside(between);
        self.mirror = None;
        self.set_background_checkpoints(background_checkpoints);
        let fresh = sibling(&self.path, ".compact");
        if let Err(e) = copied {
            let _ = fs::remove_dir_all(&fresh);
            return Err(e);
        }
        let histogram = self.histogram.clone();
        let (path, options) = (self.path.clone(), self.options);
        let mut stand_in = Store::open_temporary()?;
        stand_in.poisoned = true;
        let this = std::mem::replace(self, stand_in);
        let (result, reopened) = match swap_in(this, &fresh) {
            Ok(store) => (Ok(()), Ok(store)),
            Err(e) => (Err(e), Store::open(&path, options)),
        };
        if let Ok(mut store) = reopened {
            store.histogram = histogram;
            store.background_checkpoints = background_checkpoints;
            *self = store;
        }
        result
    }

    /// Copies the tree into the `.compact` sibling in steps of [`COPY_STEP`] keys, then
    /// writes the batches logged meanwhile to it, durably.
    fn copy_beside(&mut self, between: &mut dyn FnMut(&mut Store)) -> Result<(), StoreError> {
        let fresh = sibling(&self.path, ".compact");
        if fresh.exists() {
            fs::remove_dir_all(&fresh).map_err(io_err(&fresh))?;
        }
        let Some(live) = self.tree.as_sled().cloned() else {
            unreachable!("only in-memory stores have no sled tree")
        };
        let copy_err = |source| StoreError::Sled {
            path: fresh.clone(),
            source,
        };
        let copy = super::open_sled(&fresh, self.options.cache_capacity)?;
        let copy_tree = copy.open_tree(super::TREE).map_err(copy_err)?;
        self.mirror = Some(Vec::new());
        let mut after: Option<sled::IVec> = None;
        let mut steps = 0u64;
        loop {
            let range = match after.take() {
                Some(k) => live.range::<sled::IVec, _>((Bound::Excluded(k), Bound::Unbounded)),
                None => live.iter(),
            };
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in range.take(COPY_STEP) {
                let (k, v) = item.map_err(|e| self.sled_err(e))?;
                after = Some(k.clone());
                batch.insert(k, v);
                n += 1;
            }
            copy_tree.apply_batch(batch).map_err(copy_err)?;
            if n < COPY_STEP {
                break;
            }
            between(self);
            // Projections changed meanwhile are written as they come (the background
            // thread, whose writes would escape the log, is off), and what was written
            // goes onto the copy at once: the work left for the end, when nothing else
            // runs, stays small. The copy is made durable as it grows, for the same reason.
            if self.dirty >= COPY_STEP / 2 {
                self.checkpoint()?;
            }
            self.mirror_onto(&copy_tree).map_err(copy_err)?;
            steps += 1;
            if steps.is_multiple_of(16) {
                copy.flush().map_err(copy_err)?;
            }
        }
        self.flush()?;
        self.mirror_onto(&copy_tree).map_err(copy_err)?;
        self.mirror = None;
        copy.flush().map_err(copy_err)?;
        Ok(())
    }

    /// Writes the batches logged since the last call onto `copy`, in order. A key not
    /// copied yet is copied later from the live tree, which has the same change.
    fn mirror_onto(&mut self, copy: &sled::Tree) -> sled::Result<()> {
        for batch in self.mirror.as_mut().map(std::mem::take).unwrap_or_default() {
            batch.apply(copy)?;
        }
        Ok(())
    }

    /// Rewrites the database with only its live data, so that nothing removed survives on
    /// disk. Costs a full copy; meant for erasure requests, not for routine use.
    pub fn compact(mut self) -> Result<Store, StoreError> {
        self.compact_in_place(&mut |_| {})?;
        Ok(self)
    }
}
