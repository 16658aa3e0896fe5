//! Appending events: dedup by id, write blocks, fold projections.

use super::batch::Batch;
use serde::Serialize;

use std::{
    borrow::Cow,
    collections::{HashSet, VecDeque},
    sync::Arc,
};

use super::{
    Store, StoreError,
    block::{self, BLOCK_EVENTS},
    checkpoint::EffectSource,
    effects::{self, Recorded},
    emitted::Link,
    ids::{self, id_hash},
    keys,
};
use crate::{event::Event, ids::EventId, rules::RuleSet};

/// A batch of events made ready for [`Store::append_prepared`]: serialised and id-hashed.
/// Preparing is pure, so it can run on another thread while the store appends the previous
/// batch. All the JSON goes into one buffer: a million small buffers allocated on one thread
/// and freed on another made jemalloc hold ~50 MiB more memory in the ingest benchmark.
#[derive(Debug, Default)]
pub struct PreparedBatch {
    events: Vec<Event>,
    json: Vec<u8>,
    /// End offset of each event's JSON in `json`.
    ends: Vec<usize>,
    hashes: Vec<u64>,
}

impl PreparedBatch {
    /// Prepares `events`.
    pub fn new(events: Vec<Event>) -> Result<Self, StoreError> {
        let mut json = Vec::with_capacity(events.len() * 160);
        let mut ends = Vec::with_capacity(events.len());
        let mut hashes = Vec::with_capacity(events.len());
        for event in &events {
            serde_json::to_writer(&mut json, event).map_err(|e| StoreError::Corrupt {
                path: "(batch)".into(),
                key: event.id.to_string(),
                reason: e.to_string(),
            })?;
            ends.push(json.len());
            hashes.push(id_hash(&event.id));
        }
        Ok(Self {
            events,
            json,
            ends,
            hashes,
        })
    }

    /// The events with their JSON and id hash, borrowed.
    fn ready(&self) -> Vec<Ready<'_>> {
        let mut start = 0;
        self.events
            .iter()
            .zip(&self.ends)
            .zip(&self.hashes)
            .map(|((event, &end), &id_hash)| {
                let ready = Ready {
                    event: Arc::new(event.clone()),
                    json: &self.json[start..end],
                    id_hash,
                };
                start = end;
                ready
            })
            .collect()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// An event on the storing thread, shared so scripts can view it without a copy (the `Arc`
/// is made on this thread, for the same allocator reason as [`PreparedBatch`]'s buffer).
struct Ready<'a> {
    event: Arc<Event>,
    json: &'a [u8],
    id_hash: u64,
}

/// How an event of a batch relates to what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    New,
    /// The same event again: a no-op.
    Duplicate,
    /// Its id names a different event: refused.
    Conflict,
    /// Its customer was erased ([`super::erased`]): skipped.
    Erased,
}

impl Seen {
    fn same_or_conflict(stored: &Event, new: &Event) -> Self {
        if stored.is_same_as(new) {
            Self::Duplicate
        } else {
            Self::Conflict
        }
    }
}

/// What to do with the rest of a batch when some of its events conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnConflict {
    /// Store none of it.
    Refuse,
    /// Store the rest.
    Skip,
}

/// An event refused because its id is already stored with other content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// Its place in the batch, from 0.
    pub index: usize,
    /// The id it shares with a different event.
    pub id: crate::ids::EventId,
    /// The refused event.
    #[serde(skip)]
    pub event: Arc<Event>,
}

/// What one [`Store::append`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppendReport {
    /// Events newly stored.
    pub appended: u64,
    /// Events ignored because an event with the same id was already stored (or came earlier
    /// in the same batch).
    pub duplicates: u64,
    /// Customers seen for the first time.
    pub new_customers: u64,
    /// Scripts that failed (or effects refused) on these events; see `kizuna rules errors`.
    pub rule_errors: u64,
    /// Events skipped because their customer was erased: never taken back in.
    pub erased: u64,
}

impl AppendReport {
    /// Adds another report's counts to this one.
    pub fn add(&mut self, other: AppendReport) {
        self.appended += other.appended;
        self.duplicates += other.duplicates;
        self.new_customers += other.new_customers;
        self.rule_errors += other.rule_errors;
        self.erased += other.erased;
    }
}

impl Store {
    /// Appends `events` in order, skipping ids already stored: folds each new event into its
    /// customer's projection, runs `rules` on it, and applies their effects.
    ///
    /// The store holds no rules of its own: what runs is the caller's choice, passed with
    /// each call (the CLI's loaded rules, the daemon's current set, a replay's candidate),
    /// so a hot reload or a backtest never has to swap state inside the store.
    ///
    /// The events of one call, with their effects and the outbox, timer, alert and
    /// rule-error entries those produce, are written as one atomic sled batch: after a crash
    /// either all of it is in the log or none is. Projections follow at the next checkpoint
    /// (and are replayed from the log, effects included, if a crash comes first). Call
    /// [`Store::flush`] to make everything durable before reporting success.
    pub fn append(
        &mut self,
        rules: &RuleSet,
        events: &[Event],
    ) -> Result<AppendReport, StoreError> {
        self.append_owned(rules, events.to_vec())
    }

    /// [`Store::append`] for events the caller no longer needs: saves a copy of each.
    pub fn append_owned(
        &mut self,
        rules: &RuleSet,
        events: Vec<Event>,
    ) -> Result<AppendReport, StoreError> {
        self.append_prepared(rules, PreparedBatch::new(events)?)
    }

    /// [`Store::append`] for events already [prepared](PreparedBatch), typically on another
    /// thread while this one stores the previous batch.
    pub fn append_prepared(
        &mut self,
        rules: &RuleSet,
        batch: PreparedBatch,
    ) -> Result<AppendReport, StoreError> {
        self.append_with(rules, batch, OnConflict::Refuse, &mut Vec::new())
    }

    /// [`Store::append_prepared`] that stores the rest of a batch when some of its events
    /// conflict ([`StoreError::Conflict`]), and returns those it left out. An import with
    /// `--skip-invalid` uses it: the conflicting lines go to its rejects.
    pub fn append_prepared_skipping_conflicts(
        &mut self,
        rules: &RuleSet,
        batch: PreparedBatch,
    ) -> Result<(AppendReport, Vec<Conflict>), StoreError> {
        let mut conflicts = Vec::new();
        let report = self.append_with(rules, batch, OnConflict::Skip, &mut conflicts)?;
        Ok((report, conflicts))
    }

    fn append_with(
        &mut self,
        rules: &RuleSet,
        batch: PreparedBatch,
        on_conflict: OnConflict,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<AppendReport, StoreError> {
        self.check_writable()?;
        let PreparedBatch {
            events,
            json,
            ends,
            hashes,
        } = batch;
        let mut start = 0;
        let events: Vec<Ready<'_>> = events
            .into_iter()
            .zip(ends)
            .zip(hashes)
            .map(|((event, end), id_hash)| {
                let ready = Ready {
                    event: Arc::new(event),
                    json: &json[start..end],
                    id_hash,
                };
                start = end;
                ready
            })
            .collect();
        let result = self
            .append_inner(rules, &events, on_conflict, conflicts)
            .and_then(|report| {
                // In the caller's time unless asked otherwise: a background checkpoint holds
                // a snapshot of every record it writes, and an import that went on folding
                // meanwhile would copy most of them (~80 MiB more at a million events).
                if self.dirty >= self.options.checkpoint_customers {
                    if self.background_checkpoints {
                        self.start_checkpoint(std::time::Duration::ZERO)?;
                    } else {
                        self.checkpoint()?;
                    }
                }
                Ok(report)
            });
        if result
            .as_ref()
            .is_err_and(|e| !matches!(e, StoreError::Conflict(_)))
        {
            // Projections may already hold events that never reached the log (a conflict
            // is found before anything is folded).
            self.poisoned = true;
        }
        result
    }

    fn append_inner(
        &mut self,
        rules: &RuleSet,
        events: &[Ready<'_>],
        on_conflict: OnConflict,
        conflicts_out: &mut Vec<Conflict>,
    ) -> Result<AppendReport, StoreError> {
        let (seen, conflicts) = self.classify(events)?;
        if !conflicts.is_empty() && on_conflict == OnConflict::Refuse {
            return Err(StoreError::Conflict(conflicts));
        }
        *conflicts_out = conflicts;
        let first_seq = self.next_seq;
        let mut report = AppendReport::default();
        let mut accepted: u64 = 0;
        // Ids of events emitted by scripts during this call ([`super::emitted`]).
        let mut emitted: HashSet<EventId> = HashSet::new();
        let mut chain: VecDeque<Link<'_>> = VecDeque::new();
        let mut batch = Batch::default();
        let mut block = Vec::new();
        let mut block_ids = Vec::new();
        let mut block_effects: Vec<Recorded> = Vec::new();
        let mut block_first = first_seq;
        let mut seq = first_seq;
        for (prepared, seen) in events.iter().zip(seen) {
            match seen {
                Seen::New => {}
                Seen::Duplicate => {
                    report.duplicates += 1;
                    continue;
                }
                Seen::Conflict => continue,
                Seen::Erased => {
                    report.erased += 1;
                    continue;
                }
            }
            if emitted.contains(&prepared.event.id) {
                // Emitted earlier in this call by its cause (an export imported again).
                report.duplicates += 1;
                continue;
            }
            // The input, then what it emits, then what those emit: each right after its
            // cause.
            chain.push_back(Link {
                event: Arc::clone(&prepared.event),
                json: Cow::Borrowed(prepared.json),
                id_hash: prepared.id_hash,
                depth: 0,
            });
            while let Some(link) = chain.pop_front() {
                let (event, hash) = (&link.event, link.id_hash);
                let json = &*link.json;
                if block_ids.is_empty() {
                    block_first = seq;
                }
                let timed = self.latencies.is_some() || self.histogram.is_some();
                let started = timed.then(std::time::Instant::now);
                let mut folded = self.fold(seq, event, EffectSource::Rules(rules))?;
                if let Some(t) = started {
                    let elapsed = t.elapsed();
                    if let Some(log) = self.latencies.as_mut() {
                        log.push(elapsed.as_nanos().min(u128::from(u32::MAX)) as u32);
                    }
                    if let Some(h) = &self.histogram {
                        h.observe(elapsed);
                    }
                }
                if folded
                    .effects
                    .iter()
                    .any(|e| matches!(e.effect, crate::rules::Effect::Emit { .. }))
                {
                    self.take_emits(&link, &mut folded, &mut chain, &mut emitted)?;
                }
                report.new_customers += u64::from(folded.created);
                report.rule_errors += folded.errors.len() as u64;
                effects::write_side_effects(
                    self,
                    &mut batch,
                    seq,
                    event,
                    &folded.effects,
                    &folded.errors,
                )?;
                if !folded.effects.is_empty() {
                    block_effects.push(Recorded {
                        seq,
                        rules: rules.version().to_owned(),
                        effects: folded.effects,
                    });
                }
                block::push(&mut block, seq, json);
                ids::push_pair(&mut block_ids, hash, seq);
                if block_ids.len() / 16 == BLOCK_EVENTS {
                    self.seal_block(
                        &mut batch,
                        block_first,
                        &mut block,
                        &mut block_ids,
                        &mut block_effects,
                    )?;
                }
                if let Some(index) = self.ids.as_mut() {
                    index.insert(hash, seq);
                }
                accepted += 1;
                seq += 1;
            }
        }
        if accepted == 0 {
            return Ok(report);
        }
        if !block_ids.is_empty() {
            self.seal_block(
                &mut batch,
                block_first,
                &mut block,
                &mut block_ids,
                &mut block_effects,
            )?;
        }
        // Outdated due-index entries ([`super::due`]): a scratch store (a replay, whose
        // clock asks for the next timer at every step) removes them all here; a live
        // store those of fired timers, which every firing would skip, and leaves the rest
        // to the checkpoint (a sled write per customer here cost the daemon ~10% of its
        // ingest rate). Not while a background checkpoint is being written: it may insert
        // one of them again.
        if self.temporary || self.background.as_ref().is_none_or(|b| b.idle()) {
            for key in self.due_overlay.take_removals(self.temporary) {
                batch.remove(key);
            }
        }
        let total = self.counter("events")? + accepted;
        batch.insert(keys::meta("events"), &total.to_be_bytes());
        batch.insert(keys::meta("seq_high"), &seq.to_be_bytes());
        self.apply(batch)?;
        self.next_seq = seq;
        self.write_sealed()?;
        report.appended = accepted;
        tracing::debug!(
            appended = report.appended,
            duplicates = report.duplicates,
            "events appended"
        );
        Ok(report)
    }

    /// Moves a finished block, its id list and its effects into `batch`.
    fn seal_block(
        &self,
        batch: &mut Batch,
        first: u64,
        block: &mut Vec<u8>,
        block_ids: &mut Vec<u8>,
        block_effects: &mut Vec<Recorded>,
    ) -> Result<(), StoreError> {
        batch.insert(&keys::block(first), std::mem::take(block));
        batch.insert(&keys::block_ids(first), std::mem::take(block_ids));
        if !block_effects.is_empty() {
            let json = serde_json::to_vec(&*block_effects)
                .map_err(|e| self.corrupt(&keys::block_effects(first), e.to_string()))?;
            batch.insert(&keys::block_effects(first), json);
            block_effects.clear();
        }
        Ok(())
    }

    /// The recorded effects of the events in the block starting at `first`.
    pub(super) fn block_effects(&self, first: u64) -> Result<Vec<Recorded>, StoreError> {
        let key = keys::block_effects(first);
        match self.tree.get(key).map_err(|e| self.sled_err(e))? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| self.corrupt(&key, e.to_string())),
            None => Ok(Vec::new()),
        }
    }

    /// The recorded effects of the `wanted` events of the block starting at `first`.
    ///
    /// The block's other records are not parsed at all: each wanted record is found by
    /// searching the value for its opening, `{"seq":N,"rules":`, and parsed from there.
    /// That opening is unambiguous: records are written by `serde_json` compactly with
    /// their fields in declaration order, and inside a record the text could only occur
    /// as an object with the same two keys (a string holding it has its quotes escaped),
    /// which does not parse as a [`Recorded`] of that seq and is passed over. An event
    /// without effects has no record: its search finds nothing. (`customer show` reads
    /// one record from each of many blocks of up to 256; parsing whole blocks made it
    /// ~10 ms on a store of a million events.)
    pub(super) fn block_effects_of(
        &self,
        first: u64,
        wanted: &std::collections::HashSet<u64>,
    ) -> Result<Vec<Recorded>, StoreError> {
        let key = keys::block_effects(first);
        let Some(v) = self.tree.get(key).map_err(|e| self.sled_err(e))? else {
            return Ok(Vec::new());
        };
        let mut seqs: Vec<u64> = wanted.iter().copied().collect();
        seqs.sort_unstable();
        let mut found = Vec::new();
        for seq in seqs {
            let opening = format!(r#"{{"seq":{seq},"rules":"#);
            for at in memchr::memmem::find_iter(&v, opening.as_bytes()) {
                let mut records =
                    serde_json::Deserializer::from_slice(&v[at..]).into_iter::<Recorded>();
                if let Some(Ok(record)) = records.next()
                    && record.seq == seq
                {
                    found.push(record);
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Whether an event with `event`'s id is already in the log or earlier in this call.
    /// Sorts a batch into new events, exact repeats and conflicts, before anything is
    /// written: an id already stored (or earlier in the batch) with the same content is a
    /// repeat, with other content a conflict. Content is everything but the spelling of
    /// the time: `10:15+09:00` and `01:15Z` are the same event.
    fn classify(&mut self, events: &[Ready<'_>]) -> Result<(Vec<Seen>, Vec<Conflict>), StoreError> {
        self.load_ids()?;
        let erased = self.erased()?;
        let erased: Vec<bool> = if erased.is_empty() {
            vec![false; events.len()]
        } else {
            events
                .iter()
                .map(|ready| erased.contains(&ready.event.customer))
                .collect()
        };
        let mut seen = Vec::with_capacity(events.len());
        let mut in_batch: std::collections::HashMap<u64, Vec<usize>> =
            std::collections::HashMap::new();
        let mut conflicts = Vec::new();
        for (i, ready) in events.iter().enumerate() {
            let event = &*ready.event;
            if erased[i] {
                seen.push(Seen::Erased);
                continue;
            }
            let mut verdict = Seen::New;
            if let Some(index) = &self.ids {
                for seq in index.candidates(ready.id_hash) {
                    if let Some(stored) = self.event_at(seq)?
                        && stored.id == event.id
                    {
                        verdict = Seen::same_or_conflict(&stored, event);
                        break;
                    }
                }
            }
            if verdict == Seen::New {
                let earlier = in_batch.entry(ready.id_hash).or_default();
                if let Some(&j) = earlier.iter().find(|&&j| events[j].event.id == event.id) {
                    verdict = Seen::same_or_conflict(&events[j].event, event);
                } else {
                    earlier.push(i);
                }
            }
            if verdict == Seen::Conflict {
                conflicts.push(Conflict {
                    index: i,
                    id: event.id.clone(),
                    event: Arc::clone(&ready.event),
                });
            }
            seen.push(verdict);
        }
        Ok((seen, conflicts))
    }

    /// The events of `events` whose id is already stored with other content, by index:
    /// what [`Store::append`] would refuse. An importer uses it to set those lines aside
    /// and store the rest.
    pub fn conflicts(&mut self, events: &[Event]) -> Result<Vec<Conflict>, StoreError> {
        let batch = PreparedBatch::new(events.to_vec())?;
        let ready = batch.ready();
        Ok(self.classify(&ready)?.1)
    }

    /// Loads the id index from the blocks' id lists, once.
    pub(super) fn load_ids(&mut self) -> Result<(), StoreError> {
        if self.ids.is_some() {
            return Ok(());
        }
        let mut index = ids::IdIndex::default();
        for item in self.tree.scan_prefix([keys::BLOCK_IDS]) {
            let (_, v) = item.map_err(|e| self.sled_err(e))?;
            for (hash, seq) in ids::pairs(&v) {
                index.insert(hash, seq);
            }
        }
        self.ids = Some(index);
        Ok(())
    }
}
