//! The event store on sled: an append-only log, its indexes and the customer projection.
//!
//! One [`Store`] is the single writer of one database (sled locks the directory, so a second
//! process gets a clear error rather than a corrupt file).
//!
//! The log is the truth. [`Store::append`] writes events in blocks ([`block`]) together with
//! their id lists and the event counter, as one atomic sled batch. Customer projections are
//! folded in memory as events arrive and written at checkpoints ([`checkpoint`]): when many
//! customers are dirty, and on [`Store::flush`]. Each record remembers how far into the log
//! it has folded, so after a crash the log tail is replayed into exactly the records that
//! missed it. This keeps sled writes per event well below one, which is what lets a
//! million-event import run at hundreds of thousands of events a second.
//!
//! Callers flush before they report success, so "imported" always means "on disk, with its
//! projection". See [`keys`] for the layout.
//!
//! Reads that a console asks for every few seconds have their own modules, so they never
//! cost the size of the store: [`open`] keeps which alerts are open in memory, and
//! [`messages`] lists the outbox a page at a time.

mod append;
mod background;
mod baskets;
mod batch;
mod due;
mod kv;
use batch::Batch;
mod block;
mod check;
mod checkpoint;
mod copy;
mod effects;
mod emitted;

mod erase;
mod erased;
mod error;
mod export;
mod ids;
mod keys;
mod mark;
mod messages;
mod migrate;
mod open;
mod outbox;
mod read;
mod record;
mod rfm;
mod scan;
mod staff;
mod timers;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use std::sync::Arc;

use crate::ids::CustomerId;

/// A history as [`Store::history_with_effects`] reads it, as (event, its effects) pairs.
pub fn effects_of(
    history: &[(crate::Event, Option<Recorded>)],
) -> impl Iterator<Item = (&crate::Event, &[crate::rules::AppliedEffect])> {
    history
        .iter()
        .map(|(event, recorded)| (event, recorded.as_ref().map_or(&[][..], |r| &r.effects[..])))
}

pub use crate::timer::TIMER_EVENT;
pub use append::{AppendReport, Conflict, PreparedBatch};
pub use check::CheckReport;
pub use copy::BackupReport;
pub use effects::{
    Alert, AlertId, Handled, MessageId, MessageStatus, OutboxMessage, Recorded, SEND_REQUEST, Timer,
};
pub use erase::EraseReport;
pub use error::StoreError;
pub use error::{disk_of, is_disk_full};
pub use export::ExportReport;
pub use messages::MessageQuery;
pub use open::AlertHead;
pub use outbox::MessageUpdate;
pub use rfm::{RFM_CHUNK_BESIDE_INGEST, RfmSummary, SegmentRow};
pub use scan::CustomerScan;

/// The schema this build reads and writes. Bump it, with a migration, when the layout in
/// [`keys`] or the stored JSON changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

const TREE: &str = "kizuna";

/// How long [`Store::open`] waits for sled's file lock. sled releases it from a background
/// thread shortly after the last handle is dropped, so reopening in the same process (after
/// a compaction, in tests) can find it still held for a moment.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens sled at `path`, waiting up to [`LOCK_WAIT`] for a lock being released.
pub(crate) fn open_sled(path: &Path, cache_capacity: u64) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        // sled panics on some damaged files instead of returning `Corruption`; a panic
        // while opening is the same answer (the files are not a database it can read).
        let opened = std::panic::catch_unwind(|| {
            sled::Config::new()
                .path(path)
                .cache_capacity(cache_capacity)
                .open()
        })
        .map_err(|panic| StoreError::Damaged {
            path: path.to_path_buf(),
            reason: panic_text(&*panic),
        })?;
        match opened {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if started.elapsed() > LOCK_WAIT {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(source) => return Err(sled_error(path, source)),
        }
    }
}

/// A sled error as a [`StoreError`]: corruption is [`StoreError::Damaged`].
pub(crate) fn sled_error(path: &Path, source: sled::Error) -> StoreError {
    match source {
        sled::Error::Io(ref e) if error::is_disk_full(e) => StoreError::DiskFull {
            path: path.to_path_buf(),
            disk: error::disk_of(path),
        },
        sled::Error::Corruption { .. } => StoreError::Damaged {
            path: path.to_path_buf(),
            reason: source.to_string(),
        },
        source => StoreError::Sled {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// The message of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the storage library failed on it".to_owned())
}

/// Tuning for [`Store::open`].
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// sled's page cache in bytes. sled's own default is ~1 GiB, far more than a small
    /// business needs. Projections are cached by the store itself, so 32 MiB is enough.
    pub cache_capacity: u64,
    /// Write projections once this many customers have unsaved changes. Higher means fewer
    /// writes during a large import, and more memory (about 1 KiB a customer).
    pub checkpoint_customers: usize,
    /// Keep up to this many customer records in memory between checkpoints.
    pub cached_customers: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_capacity: 32 * 1024 * 1024,
            checkpoint_customers: 50_000,
            cached_customers: 60_000,
        }
    }
}

/// The event store. See the module documentation.
#[derive(Debug)]
pub struct Store {
    /// The sled database (`None` for an in-memory scratch store).
    db: Option<sled::Db>,
    tree: kv::Kv,
    path: PathBuf,
    options: StoreOptions,
    /// The sequence number the next appended event gets.
    next_seq: u64,
    /// When the high-water mark was last written ([`mark`]).
    mark_written: Option<std::time::Instant>,
    /// The id index, loaded on first need ([`ids`]).
    ids: Option<ids::IdIndex>,
    /// Customer records in memory: those changed since the last checkpoint, and recently
    /// used clean ones, so an import does not re-read a record for every batch.
    cache: HashMap<CustomerId, checkpoint::Cached>,
    /// How many entries of `cache` are dirty.
    dirty: usize,
    /// History chunks sealed by folding and not yet written.
    sealed: Vec<(CustomerId, u32, Vec<record::HistEntry>)>,
    /// Set when a write failed half-way; every later write refuses.
    poisoned: bool,
    /// Per-event processing times in nanoseconds, when a benchmark asked for them.
    latencies: Option<Vec<u32>>,
    /// The same times as a histogram, for a daemon's `/metrics`.
    histogram: Option<Arc<crate::metrics::Histogram>>,
    /// Co-purchase statistics ([`crate::basket`]), shared with scripts while they run.
    baskets: Arc<crate::basket::Baskets>,
    /// The sequence up to which (exclusive) the stored statistics count purchases.
    baskets_until: u64,
    /// The statistics changed since the last checkpoint.
    baskets_dirty: bool,
    /// A scratch store ([`Store::open_temporary`]): never synced to disk.
    temporary: bool,
    /// Due-index entries not written yet ([`due`]).
    due_overlay: due::DueOverlay,
    /// Writes checkpoints of a live store ([`background`]).
    background: Option<background::Background>,
    /// The sequence up to which the last checkpoint (written or under way) covers the log.
    checkpointed: u64,
    /// The customer counter as of that checkpoint (the tree's lags while a background
    /// checkpoint is being written).
    customers_stored: u64,
    /// Automatic checkpoints run on the background thread.
    background_checkpoints: bool,
    /// A second handle for reading ([`Store::reader`]): every write refuses.
    read_only: bool,
    /// While a compaction copies the tree beside ingest, every batch written meanwhile,
    /// to be written to the copy after it ([`erase`]).
    mirror: Option<Vec<batch::Batch>>,
    /// Erased customers' keyed hashes, loaded on first need ([`erased`]).
    erased: Option<erased::Erased>,
    /// Which alerts are open, built on first need ([`open`]).
    open: Option<open::OpenAlerts>,
}

impl Store {
    /// Opens (or creates) the store in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        erase::finish_interrupted_compaction(&path)?;
        // A store is created with its schema version written and synced, so a database
        // directory that already has files but opens empty lost its data (sled takes a log
        // it cannot read for a torn write and starts afresh): damaged, not new.
        let existed = path.join("db").exists();
        let db = open_sled(&path, options.cache_capacity)?;
        let empty = db
            .open_tree(TREE)
            .map_err(|e| sled_error(&path, e))?
            .is_empty();
        if existed && empty {
            return Err(StoreError::Damaged {
                path,
                reason: "its files hold no kizuna data any more: damaged, cut short or replaced"
                    .into(),
            });
        }
        Self::from_db(db, path, options)
    }

    /// A scratch store in memory, gone when dropped: for rule fixtures, replays and tests
    /// that must not touch the real database. Same code paths as a live store, minus
    /// durability (see [`kv`]).
    pub fn open_temporary() -> Result<Self, StoreError> {
        let path = PathBuf::from("(in memory)");
        Self::from_tree(None, kv::Kv::memory(), path, StoreOptions::default())
    }

    /// The store over an opened sled database.
    fn from_db(db: sled::Db, path: PathBuf, options: StoreOptions) -> Result<Self, StoreError> {
        let tree = db.open_tree(TREE).map_err(|source| StoreError::Sled {
            path: path.clone(),
            source,
        })?;
        Self::from_tree(Some(db), kv::Kv::Sled(tree), path, options)
    }

    /// The store over a tree: schema check, log position, crash replay.
    fn from_tree(
        db: Option<sled::Db>,
        tree: kv::Kv,
        path: PathBuf,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let temporary = db.is_none();
        let mut store = Self {
            db,
            tree,
            path,
            options,
            next_seq: 0,
            ids: None,
            cache: HashMap::new(),
            dirty: 0,
            sealed: Vec::new(),
            poisoned: false,
            latencies: None,
            histogram: None,
            baskets: Arc::default(),
            baskets_until: 0,
            baskets_dirty: false,
            temporary,
            due_overlay: Default::default(),
            background: None,
            checkpointed: 0,
            customers_stored: 0,
            background_checkpoints: false,
            read_only: false,
            mirror: None,
            erased: None,
            open: None,
            mark_written: None,
        };
        store.check_schema()?;
        store.load_baskets()?;
        store.index_outbox()?;
        store.checkpointed = store.counter("checkpoint")?;
        // Sequence numbers are never reused. An erase can remove the log's last blocks;
        // the checkpoint marker still counts them, and an event numbered below it would
        // be taken as folded already by the recovery after a crash.
        store.next_seq = store
            .last_seq()?
            .map_or(0, |s| s + 1)
            .max(store.checkpointed)
            .max(store.counter("seq_high")?);
        store.check_mark()?;
        store.customers_stored = store.counter("customers")?;
        store.recover()?;
        store.migrate_legacy_timers()?;
        if let Some(tree) = store.tree.as_sled() {
            let background =
                background::Background::start(tree.clone()).map_err(|source| StoreError::Io {
                    path: store.path.clone(),
                    source,
                })?;
            store.background = Some(background);
        }
        Ok(store)
    }

    /// A second handle on this store's database, for reading on another thread while this
    /// one goes on writing: a long read (a replay's history, a KPI report) then holds no
    /// writer. It reads the tree alone, not this handle's memory, so it sees the log (each
    /// append is written at once) and the outbox exactly, and projections and timers as of
    /// the last checkpoint. Every write through it fails with [`StoreError::ReadOnly`].
    pub fn reader(&self) -> Result<Self, StoreError> {
        let (Some(db), Some(tree)) = (self.db.clone(), self.tree.as_sled().cloned()) else {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        };
        Ok(Self {
            db: Some(db),
            tree: kv::Kv::Sled(tree),
            path: self.path.clone(),
            options: self.options,
            next_seq: self.next_seq,
            ids: None,
            cache: HashMap::new(),
            dirty: 0,
            sealed: Vec::new(),
            poisoned: false,
            latencies: None,
            histogram: None,
            baskets: Arc::clone(&self.baskets),
            baskets_until: self.baskets_until,
            baskets_dirty: false,
            temporary: false,
            due_overlay: Default::default(),
            background: None,
            checkpointed: self.checkpointed,
            customers_stored: self.customers_stored,
            background_checkpoints: false,
            read_only: true,
            mirror: None,
            erased: None,
            open: None,
            mark_written: None,
        })
    }

    /// Starts recording how long each appended event takes to process (fold, rules,
    /// effects; not the batched write), for benchmarks.
    pub fn record_latencies(&mut self) {
        self.latencies = Some(Vec::new());
    }

    /// Adds every appended event's processing time (fold, rules, effects) to `histogram`
    /// from now on. The daemon keeps one for the life of the process, across reloads.
    pub fn observe_latency(&mut self, histogram: Arc<crate::metrics::Histogram>) {
        self.histogram = Some(histogram);
    }

    /// The per-event processing times recorded so far, in nanoseconds.
    pub fn take_latencies(&mut self) -> Vec<u32> {
        self.latencies
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes pending projections and makes every write so far durable. A scratch store
    /// has nothing to make durable and keeps its projections in memory (every read looks
    /// there first), so this costs it nothing: a replay's clock flushes after every step.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if self.temporary {
            return Ok(());
        }
        self.checkpoint()?;
        self.sync()?;
        self.write_mark(true)
    }

    /// Whether this is a scratch store in memory ([`Store::open_temporary`]): nothing is
    /// written, and [`Store::flush`] does nothing.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// Makes every append so far durable — events, their effects, outbox — but does not
    /// write the projections (with their timers). That is [`Store::flush`]'s larger half, and it is
    /// not needed for durability: opening a store re-folds the events after the last
    /// checkpoint. A daemon acknowledging each request calls this per request and
    /// `flush` every few seconds, so a crash costs a few seconds of re-folding at start.
    ///
    /// Fail point `store::sync_events` (`return`): fails as a full disk does; a daemon's
    /// acknowledgements alone, not its periodic flushes, so a test can count them.
    pub fn sync_events(&mut self) -> Result<(), StoreError> {
        fail::fail_point!("store::sync_events", self.db.is_some(), |_| Err(
            self.disk_full()
        ));
        self.check_writable()?;
        self.sync()?;
        self.write_mark(false)
    }

    /// Starts a checkpoint (writing projections and timers) and returns without waiting
    /// for it: a live store writes it on a background thread. Durability does not depend
    /// on it ([`Store::sync_events`] is enough); it bounds how much of the log a restart
    /// after a crash re-folds. A daemon calls this every few seconds, and [`Store::flush`]
    /// when it stops.
    pub fn checkpoint_in_background(&mut self) -> Result<(), StoreError> {
        // Spread over about a second and a half: see `background::Background::submit`.
        self.start_checkpoint(std::time::Duration::from_millis(1500))
    }

    /// Whether the checkpoints an append starts by itself (every so many changed
    /// customers) run on the background thread, overlapping the appends that follow;
    /// returns the previous setting. Worth it for a long job on one thread that touches
    /// many customers (a campaign queueing a message to each), which can spare the memory:
    /// a checkpoint's records are held twice while the thread writes them. Off by default.
    pub fn set_background_checkpoints(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.background_checkpoints, on)
    }

    /// sled's flush alone.
    ///
    /// Fail point `store::sync` (`return`): fails as a full disk does, for the tests that
    /// cannot mount a small file system to fill.
    fn sync(&self) -> Result<(), StoreError> {
        fail::fail_point!("store::sync", self.db.is_some(), |_| Err(self.disk_full()));
        match &self.db {
            Some(db) => db.flush().map(drop).map_err(|e| self.sled_err(e)),
            // In memory: nothing to make durable.
            None => Ok(()),
        }
    }

    /// The error a write meets on a full disk (for the fail points).
    #[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
    fn disk_full(&self) -> StoreError {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        self.sled_err(sled::Error::Io(full))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        if self.poisoned || self.background.as_ref().is_some_and(|b| b.failed()) {
            return Err(StoreError::Poisoned {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let key = keys::meta("schema");
        match self.tree.get(&key).map_err(|e| self.sled_err(e))? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| self.corrupt(&key, "schema version is not 4 bytes"))?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        path: self.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
            None if self.tree.is_empty() => {
                self.tree
                    .insert(key, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(|e| self.sled_err(e))?;
                self.sync()
            }
            None => Err(StoreError::NotKizuna {
                path: self.path.clone(),
            }),
        }
    }

    /// The highest sequence number in the log: the last entry of the last block.
    fn last_seq(&self) -> Result<Option<u64>, StoreError> {
        match self.tree.scan_prefix([keys::BLOCK]).next_back() {
            Some(Ok((k, v))) => {
                let mut last = None;
                for entry in block::entries(&v) {
                    last = Some(entry.map_err(|e| self.corrupt(&k, e))?.0);
                }
                Ok(last)
            }
            Some(Err(e)) => Err(self.sled_err(e)),
            None => Ok(None),
        }
    }

    /// Whether the named one-off job has been marked done (e.g. a seasonal campaign for
    /// one year), so jobs driven by the clock run once however often the clock ticks.
    pub fn marker(&self, name: &str) -> Result<bool, StoreError> {
        let key = keys::meta(&format!("marker:{name}"));
        self.tree.contains_key(key).map_err(|e| self.sled_err(e))
    }

    /// Marks the named one-off job done, durably.
    pub fn set_marker(&mut self, name: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut batch = Batch::default();
        batch.insert(keys::meta(&format!("marker:{name}")), &[1u8][..]);
        self.apply(batch)?;
        self.sync()
    }

    fn counter(&self, name: &str) -> Result<u64, StoreError> {
        let key = keys::meta(name);
        match self.tree.get(&key).map_err(|e| self.sled_err(e))? {
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt(&key, "counter is not 8 bytes")),
            None => Ok(0),
        }
    }

    fn sled_err(&self, source: sled::Error) -> StoreError {
        sled_error(&self.path, source)
    }

    fn corrupt(&self, key: &[u8], reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            key: String::from_utf8_lossy(key).into_owned(),
            reason: reason.into(),
        }
    }

    #[cfg(test)]
    pub(crate) fn set_meta_for_test(&self, name: &str, v: u64) {
        self.tree
            .insert(keys::meta(name), &v.to_be_bytes())
            .unwrap();
        self.sync().unwrap();
    }

    #[cfg(test)]
    pub(crate) fn insert_raw_for_test(&self, key: &[u8], value: &[u8]) {
        self.tree.insert(key, value).unwrap();
        self.sync().unwrap();
    }

    #[cfg(test)]
    pub(crate) fn remove_raw_for_test(&self, key: &[u8]) {
        self.tree.remove(key).unwrap();
        self.sync().unwrap();
    }

    #[cfg(test)]
    pub(crate) fn set_schema_for_test(&self, v: u32) {
        self.tree
            .insert(keys::meta("schema"), &v.to_be_bytes())
            .unwrap();
        self.sync().unwrap();
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod ruled;
#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod toolkit_tests;
