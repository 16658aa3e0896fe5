//! A daemon whose store cannot write (a full disk): refuse ingest, keep reading, and take
//! writes again by itself once space returns.
//!
//! After a failed write sled fails every later write of that instance, so coming back means
//! reopening the store. The writer does it ([`super::writer`]): while [`Degraded`], it
//! answers appends with `503` and a `Retry-After`, reports `degraded` with the reason on
//! `/health` and in `kizuna status`, serves reads from the store it has, and pauses the
//! clock (timers, dispatch, checkpoints), all of which write. At each retry, with a
//! backoff doubling from one second to [`MAX_BACKOFF`], it first asks the file system
//! ([`disk_takes_writes`]): only when a probe file of [`PROBE_BYTES`] can be written and
//! synced beside the database does it drop the failed store and open it again, which
//! replays the log like a restart after a crash. What was acknowledged was flushed before
//! the answer, so it is all there; what failed was never acknowledged.

use std::{
    io::Write,
    path::Path,
    time::{Duration, Instant},
};

use kizuna_core::StoreError;

/// The longest wait between two attempts to take writes again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a probe must be able to write before the store is reopened: a store that reopens
/// writes its recovery and a checkpoint at once, and a disk with a few bytes free would
/// only fail again.
pub const PROBE_BYTES: usize = 4 << 20;

/// Why, and since when, the daemon cannot write.
#[derive(Debug)]
pub struct Degraded {
    /// What failed, for `/health`, `status` and the 503s.
    pub reason: String,
    next_try: Instant,
    backoff: Duration,
}

impl Degraded {
    /// Degraded now, for `reason`; the first retry in a second.
    pub fn new(reason: String) -> Self {
        Self {
            reason,
            next_try: Instant::now() + Duration::from_secs(1),
            backoff: Duration::from_secs(1),
        }
    }

    /// Whether it is time to try again.
    pub fn due(&self) -> bool {
        Instant::now() >= self.next_try
    }

    /// The attempt failed: wait twice as long (up to [`MAX_BACKOFF`]).
    pub fn failed_again(&mut self, reason: String) {
        self.reason = reason;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.next_try = Instant::now() + self.backoff;
    }

    /// Seconds a client should wait before posting again (`Retry-After`).
    pub fn retry_after(&self) -> u64 {
        self.next_try
            .saturating_duration_since(Instant::now())
            .as_secs()
            .max(1)
    }
}

/// Whether `error` means the store cannot write any more (and must be reopened to).
pub fn cannot_write(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::DiskFull { .. }
            | StoreError::Poisoned { .. }
            | StoreError::Io { .. }
            | StoreError::Sled { .. }
    )
}

/// Whether the file system holding `db` takes [`PROBE_BYTES`] again: written, synced and
/// removed.
pub fn disk_takes_writes(db: &Path) -> std::io::Result<()> {
    let path = db.join("kizuna-space-probe");
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&vec![0u8; PROBE_BYTES])?;
        file.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result
}
