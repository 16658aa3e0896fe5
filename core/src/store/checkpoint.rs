//! Folding events into projections in memory, writing them at checkpoints, and replaying
//! the log tail after a crash.
//!
//! Why this is safe: every record stores `applied_until`, the sequence number up to which
//! (exclusive) its projection includes the log. A checkpoint writes records in several sled
//! batches and then the meta key `checkpoint`, the sequence up to which *every* record is
//! current. At open, events from `checkpoint` on are replayed, each into its customer's
//! record only if that record has not folded it yet. A crash at any point — between log
//! batches, in the middle of a checkpoint — therefore ends with every projection equal to
//! the fold of exactly the events in the log. Timers are part of the record, and each
//! record's due-index entry is written in the same batch or, on the background thread,
//! just before it ([`super::due`], [`Unencoded`]). The customer counter is written with
//! the marker and recounted after a crash.

use super::batch::Batch;
use std::{collections::HashMap, sync::Arc, time::Duration};

use super::{
    Store, StoreError, block, effects, keys,
    record::{self, HistEntry, Record},
};
use crate::{
    customer::Customer,
    event::Event,
    ids::{CustomerId, EventKind},
    rules::{AppliedEffect, RuleError, RuleSet},
};

/// A customer record held in memory.
#[derive(Debug)]
pub(crate) struct Cached {
    pub record: Record,
    /// Changed since the last checkpoint.
    pub dirty: bool,
    /// Not yet stored at all (counts towards the customer counter when written).
    pub is_new: bool,
}

impl Cached {
    /// Marks the record changed; whether it was clean (the store counts dirty records).
    pub fn touch(&mut self) -> bool {
        !std::mem::replace(&mut self.dirty, true)
    }
}

/// Where an event's effects come from when it is folded.
#[derive(Debug, Clone, Copy)]
pub(super) enum EffectSource<'a> {
    /// Run the rules (ingest).
    Rules(&'a RuleSet),
    /// Reapply what the log recorded (replay).
    Stored(&'a [AppliedEffect]),
}

/// What folding one event did.
#[derive(Debug, Default)]
pub(super) struct Folded {
    /// The customer was created by this event.
    pub created: bool,
    /// The event was folded (false when the record already held it).
    pub applied: bool,
    /// Effects applied (from rules).
    pub effects: Vec<AppliedEffect>,
    /// Rule errors (from rules).
    pub errors: Vec<RuleError>,
}

/// Records per sled batch at a checkpoint; sled's memory use grows with batch size.
const RECORDS_PER_BATCH: usize = 500;

/// The longest pause between two batches of a background checkpoint.
const MAX_PACE: Duration = Duration::from_millis(20);

/// One batch of a checkpoint, with its customer records not yet encoded: encoding is a
/// good part of a checkpoint's cost, and the background thread can do it.
///
/// The batch is made of units: a record and its due-index writes, or writes that stand
/// alone (removals of old index entries, the counter and the checkpoint marker). The
/// caller's thread writes a whole batch as one sled batch ([`Unencoded::encode`]). The
/// background thread writes each unit's index entries and then its record as single writes
/// ([`Batch::apply_one_by_one`]): a sled batch holds sled's global lock for writing, so
/// every read of the ingesting thread (a record not in the cache) waited for all 500
/// records of one, and a batch per record costs several times the write itself. Index
/// first keeps the invariant recovery relies on: a record on disk has its earliest
/// timer's entry on disk (an entry without its record is stale, and repaired when it
/// falls due, see [`super::due`]).
#[derive(Debug, Default)]
pub(super) struct Unencoded {
    units: Vec<Unit>,
}

/// A record and the index writes that go with it, or (no record) standalone writes.
#[derive(Debug, Default)]
struct Unit {
    record: Option<(Vec<u8>, Record)>,
    rest: Batch,
}

impl Unit {
    /// Appends the unit's writes to `into`: the index writes, then the record.
    fn encode(self, into: &mut Batch) -> Result<(), String> {
        into.extend(self.rest);
        if let Some((key, record)) = self.record {
            let bytes = record.encode().map_err(|e| {
                format!("encoding the record {}: {e}", String::from_utf8_lossy(&key))
            })?;
            into.insert(key, bytes);
        }
        Ok(())
    }
}

impl Unencoded {
    /// Writes that stand alone, applied together.
    fn writes(rest: Batch) -> Self {
        Self {
            units: vec![Unit { record: None, rest }],
        }
    }

    /// Whether these are standalone writes (one sled batch even on the background thread).
    pub(super) fn is_standalone(&self) -> bool {
        self.units.iter().all(|u| u.record.is_none())
    }

    /// The whole batch as one sled batch.
    pub(super) fn encode(self) -> Result<Batch, String> {
        let mut batch = Batch::default();
        for unit in self.units {
            unit.encode(&mut batch)?;
        }
        Ok(batch)
    }
}

impl Store {
    /// Folds the event with sequence `seq` into its customer's projection, then its rule
    /// effects — from running the rules (ingest) or from the log (replay) — unless the stored
    /// record already includes it (replay after a crash).
    pub(super) fn fold(
        &mut self,
        seq: u64,
        event: &Arc<Event>,
        source: EffectSource<'_>,
    ) -> Result<Folded, StoreError> {
        let created = self.load_cached(&event.customer)?;
        if let Some(open) = self.open.as_mut() {
            open.touch(&event.customer);
        }
        let mut folded = Folded {
            created,
            ..Folded::default()
        };
        let Some(cached) = self.cache.get_mut(&event.customer) else {
            return Ok(folded);
        };
        if seq < cached.record.applied_until {
            return Ok(folded);
        }
        self.dirty += usize::from(cached.touch());
        let record = &mut cached.record;
        let earliest_before = record.customer.earliest_timer();
        if event.kind == EventKind::Purchase
            && Self::observe_purchase(
                &mut self.baskets,
                self.baskets_until,
                seq,
                event,
                &record.customer.items,
            )
        {
            self.baskets_dirty = true;
        }
        Arc::make_mut(&mut record.customer).apply(event);
        let record = match source {
            EffectSource::Rules(rules) => {
                let mut evaluation = crate::rules::with_baskets(&self.baskets, || {
                    if crate::timer::is_timer_event(event) {
                        rules.on_timer(event, &record.customer)
                    } else {
                        rules.on_event(event, &record.customer)
                    }
                });
                // A manual send (`kizuna send`) queues its message like a script would.
                if let Some(send) = effects::manual_send(event) {
                    evaluation.effects.insert(0, send);
                }
                // An emit to nobody fails its script, as a refused effect does, before
                // anything of that script is applied (this looks at other records).
                if evaluation
                    .effects
                    .iter()
                    .any(|e| matches!(e.effect, crate::rules::Effect::Emit { .. }))
                {
                    self.refuse_emits_to_strangers(&mut evaluation, event)?;
                }
                let Some(cached) = self.cache.get_mut(&event.customer) else {
                    return Ok(folded);
                };
                let record = &mut cached.record;
                let customer = Arc::make_mut(&mut record.customer);
                let (kept, refused) =
                    effects::apply_to_customer(customer, event, evaluation.effects);
                folded.effects = kept;
                folded.errors = evaluation.errors;
                folded.errors.extend(refused);
                record
            }
            EffectSource::Stored(stored) => {
                let customer = Arc::make_mut(&mut record.customer);
                for e in stored {
                    // Accepted once already; applying again gives the same result.
                    let _ = customer.apply_effect(e, event);
                }
                record
            }
        };
        let earliest = record.customer.earliest_timer();
        if earliest != earliest_before {
            let fired = crate::timer::is_timer_event(event);
            self.due_overlay
                .note(&event.customer, earliest_before, earliest, fired);
        }
        record.applied_until = seq + 1;
        if let Some(chunk) = record.push_history(HistEntry::new(event.at.instant(), seq)) {
            let id = record.customer.id.clone();
            self.sealed.push((id, record.sealed_chunks - 1, chunk));
        }
        folded.applied = true;
        Ok(folded)
    }

    /// Puts `id`'s record in the cache (a new one if it has none); whether it is new.
    pub(super) fn load_cached(&mut self, id: &CustomerId) -> Result<bool, StoreError> {
        if self.cache.contains_key(id) {
            return Ok(false);
        }
        let (record, is_new) = match self.stored_record(id)? {
            Some(record) => (record, false),
            None => (Record::new(Customer::new(id.clone())), true),
        };
        let cached = Cached {
            record,
            dirty: false,
            is_new,
        };
        self.cache.insert(id.clone(), cached);
        Ok(is_new)
    }

    /// Writes the history chunks sealed by [`Store::fold`] since the last call.
    ///
    /// They go out ahead of the records that count them. That is safe: a chunk's content is
    /// a pure function of the record's last checkpointed state and the log, so replay after a
    /// crash seals the same chunk under the same number and overwrites it with itself, and
    /// readers only look at the chunks a record counts.
    pub(super) fn write_sealed(&mut self) -> Result<(), StoreError> {
        if self.sealed.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        for (id, n, entries) in std::mem::take(&mut self.sealed) {
            let mut bytes = Vec::with_capacity(entries.len() * 20);
            record::encode_entries(&entries, &mut bytes);
            batch.insert(keys::history_chunk(&id, n), bytes);
        }
        self.apply(batch)
    }

    /// The record as stored, ignoring unsaved changes.
    pub(super) fn stored_record(&self, id: &CustomerId) -> Result<Option<Record>, StoreError> {
        let key = keys::customer(id);
        match self.tree.get(&key).map_err(|e| self.sled_err(e))? {
            Some(v) => Record::decode(&v)
                .map(Some)
                .map_err(|e| self.corrupt(&key, e)),
            None => Ok(None),
        }
    }

    /// Writes every dirty record and timer, then marks the whole log as projected, and
    /// returns when all of it is written. Clean records stay cached unless the cache has
    /// grown past its limit.
    pub(super) fn checkpoint(&mut self) -> Result<(), StoreError> {
        // On this thread: jemalloc keeps memory allocated on one thread and freed on
        // another (sled's pages, the encoded records) apart, ~80 MiB more at a million
        // events when an import's checkpoints ran on the background thread.
        self.wait_checkpoints()?;
        self.run_checkpoint(None)?;
        self.evict();
        Ok(())
    }

    /// [`Store::checkpoint`], with the writes left to the background thread
    /// ([`super::background`]) of a live store: the caller goes on at once. Everything a
    /// checkpoint writes stays in memory until it is written, so reads are unaffected.
    pub(super) fn start_checkpoint(&mut self, spread: Duration) -> Result<(), StoreError> {
        if self.background.is_none() {
            // A scratch store has no thread: the checkpoint, eviction included, is here.
            return self.checkpoint();
        }
        self.run_checkpoint(Some(spread))
    }

    /// Writes the checkpoint here, or hands it to the background thread (if the store has
    /// one and `background` asks for it, to be spread over about that long).
    fn run_checkpoint(&mut self, background: Option<Duration>) -> Result<(), StoreError> {
        self.check_writable()?;
        let thread = self.background.is_some() && background.is_some();
        if thread {
            // One job at a time: once the one before is written, every clean record and
            // index entry is on disk, and those over the limit can go.
            self.wait_checkpoints()?;
            self.evict();
        }
        if self.dirty == 0 && self.checkpointed == self.next_seq {
            return Ok(());
        }
        self.write_baskets()?;
        self.write_sealed()?;
        let dirty: Vec<CustomerId> = self
            .cache
            .iter()
            .filter(|(_, c)| c.dirty)
            .map(|(id, _)| id.clone())
            .collect();
        let mut customers = self.customers_stored;
        let mut batches = Vec::new();
        // Old index entries not removed yet go first, before any entry this checkpoint
        // writes (which may be the same key again).
        let mut removed = Batch::default();
        for key in self.due_overlay.take_removals(true) {
            removed.remove(key);
        }
        let removals = Unencoded::writes(removed);
        if thread {
            batches.push(removals);
        } else {
            self.apply_unencoded(removals)?;
        }
        for chunk in dirty.chunks(RECORDS_PER_BATCH) {
            let mut batch = Unencoded::default();
            for id in chunk {
                let Some(cached) = self.cache.get_mut(id) else {
                    continue;
                };
                // A snapshot (the projection is shared, not copied), encoded by whoever
                // writes the batch: the background thread of a live store.
                let mut unit = Unit {
                    record: Some((keys::customer(id), cached.record.clone())),
                    rest: Batch::default(),
                };
                self.due_overlay.write_index(id, &mut unit.rest);
                batch.units.push(unit);
                customers += u64::from(cached.is_new);
                cached.dirty = false;
                cached.is_new = false;
            }
            if thread {
                batches.push(batch);
            } else {
                // Written at once: only one batch of snapshots and bytes at a time.
                self.apply_unencoded(batch)?;
            }
        }
        self.customers_stored = customers;
        let written = dirty.len();
        // The customer counter goes with the marker: after a crash in between, the records
        // are recounted ([`Store::recover`]).
        let mut last = Batch::default();
        last.insert(keys::meta("customers"), &customers.to_be_bytes());
        last.insert(keys::meta("checkpoint"), &self.next_seq.to_be_bytes());
        batches.push(Unencoded::writes(last));
        self.checkpointed = self.next_seq;
        self.dirty = 0;
        match self.background.as_ref().filter(|_| thread) {
            Some(thread) => {
                let spread = background.unwrap_or_default();
                let pace = (spread / batches.len().max(1) as u32).min(MAX_PACE);
                thread.submit(batches, pace)
            }
            None => {
                for batch in batches {
                    self.apply_unencoded(batch)?;
                }
            }
        }
        tracing::debug!(records = written, upto = self.next_seq, "checkpoint");
        Ok(())
    }

    fn apply_unencoded(&mut self, batch: Unencoded) -> Result<(), StoreError> {
        let batch = batch
            .encode()
            .map_err(|e| self.corrupt(b"(checkpoint)", e))?;
        self.apply(batch)
    }

    /// Writes every record and timer to the tree, like [`Store::flush`] without the sync,
    /// calling `between` until it is written: a live store writes on its background thread
    /// meanwhile, so a caller that stores other requests' events in `between` goes on
    /// answering them. A store without the thread checkpoints here.
    pub fn checkpoint_while(
        &mut self,
        between: &mut dyn FnMut(&mut Store),
    ) -> Result<(), StoreError> {
        if self.background.is_none() {
            return self.checkpoint();
        }
        // A checkpoint under way (the daemon's periodic one, paced) is waited for the same
        // way: starting the next one would block until it is written.
        let mut written = |store: &mut Store| {
            while store.background.as_ref().is_some_and(|b| !b.idle()) {
                between(store);
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        written(self);
        self.start_checkpoint(Duration::ZERO)?;
        written(self);
        self.wait_checkpoints()
    }

    /// Waits for the background thread to write every checkpoint started so far.
    pub(super) fn wait_checkpoints(&self) -> Result<(), StoreError> {
        match &self.background {
            Some(background) => background.wait().map_err(|e| self.sled_err(e)),
            None => Ok(()),
        }
    }

    /// Forgets clean records once there are too many, and the due-index entries written.
    /// Only with every checkpoint written: until then the tree may hold older versions.
    fn evict(&mut self) {
        if self.cache.len() > self.options.cached_customers {
            self.cache.retain(|_, c| c.dirty);
        }
        self.due_overlay.forget_written();
    }

    /// Replays log entries after the last checkpoint into the records that missed them.
    pub(super) fn recover(&mut self) -> Result<(), StoreError> {
        let from = self.counter("checkpoint")?;
        if from >= self.next_seq {
            return Ok(());
        }
        // Start at the block holding `from`: the last block whose first seq is <= from.
        let start = match self
            .tree
            .range(keys::block(0)..=keys::block(from))
            .next_back()
        {
            Some(item) => item.map_err(|e| self.sled_err(e))?.0.to_vec(),
            None => keys::block(0).to_vec(),
        };
        // The counter is written with the marker, so it may be behind the records a cut
        // checkpoint wrote. Customers the replay creates are counted at its checkpoint.
        let mut stored = 0u64;
        for item in self.tree.scan_prefix([keys::CUSTOMER]) {
            item.map_err(|e| self.sled_err(e))?;
            stored += 1;
        }
        self.customers_stored = stored;
        let mut replayed = 0u64;
        let blocks: Vec<(sled::IVec, sled::IVec)> = self
            .tree
            .range(start..keys::block(u64::MAX).to_vec())
            .collect::<Result<_, _>>()
            .map_err(|e| self.sled_err(e))?;
        for (k, v) in blocks {
            let events = block::decode(&v).map_err(|e| self.corrupt(&k, e))?;
            let first = keys::seq_of(&k).ok_or_else(|| self.corrupt(&k, "bad block key"))?;
            let stored: HashMap<u64, Vec<AppliedEffect>> = self
                .block_effects(first)?
                .into_iter()
                .map(|r| (r.seq, r.effects))
                .collect();
            for (seq, event) in events.into_iter().filter(|(seq, _)| *seq >= from) {
                let effects = stored.get(&seq).map_or(&[][..], Vec::as_slice);
                self.fold(seq, &Arc::new(event), EffectSource::Stored(effects))?;
                replayed += 1;
            }
            self.write_sealed()?;
        }
        tracing::info!(
            replayed,
            "replayed the log tail into projections after an unclean stop"
        );
        self.checkpoint()?;
        self.sync()
    }

    /// Applies a sled batch; a failure poisons the store, since memory is now ahead of disk.
    pub(super) fn apply(&mut self, batch: Batch) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        if let Some(log) = self.mirror.as_mut() {
            log.push(batch.clone());
        }
        let alerts = self.open.is_some().then(|| batch.only(keys::ALERT));
        self.tree.apply(batch).map_err(|e| {
            self.poisoned = true;
            self.sled_err(e)
        })?;
        if let (Some(index), Some(alerts)) = (self.open.as_mut(), alerts) {
            index.note(&alerts);
        }
        Ok(())
    }
}
