//! The high-water mark: how far the log had reached, kept in a file beside sled's own.
//!
//! sled reads a log it cannot decode as a write torn by a crash and starts from the last
//! state it can read, which after real damage may be far older than what it acknowledged:
//! a store with half its events, or none, that opens without a word. The mark catches that.
//!
//! Invariant: the mark never names a log position beyond what sled has made durable. It is
//! written only after a successful sled flush, with the position that flush covered, by
//! writing a temporary file and renaming it over the old one (so it is the old mark or the
//! new one, never a mix). It is not synced itself: after a power cut it may be older than
//! the log, never newer. So a log ending *below* the mark at open means sled lost data it
//! had made durable, and the store refuses to open ([`StoreError::Damaged`]) instead of
//! running on an older state. A missing or unreadable mark proves nothing and is passed
//! over: the mark detects damage, it is never a source of data.
//!
//! Position means the next sequence number, which never goes down: an erase removes events
//! but keeps their numbers used (`m seq_high`, written with every appended batch).

use std::{path::Path, time::Instant};

use super::{Store, StoreError};

const FILE: &str = "kizuna.mark";

/// How often a sync may rewrite the mark; a full [`Store::flush`] always does. A stale mark
/// is only a weaker check, never a wrong one.
const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The position the mark in `db` names, if there is a readable one.
pub(super) fn read(db: &Path) -> Option<u64> {
    std::fs::read_to_string(db.join(FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Store {
    /// Refuses a log that ends below the mark (see the module docs).
    pub(super) fn check_mark(&self) -> Result<(), StoreError> {
        match read(&self.path) {
            Some(mark) if self.next_seq < mark => Err(StoreError::Damaged {
                path: self.path.clone(),
                reason: format!(
                    "its log ends at event {} but had reached event {mark}: the storage \
                     library dropped data it could no longer read",
                    self.next_seq
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Records the current position after a successful sync; `always` for a full flush.
    /// Never fails: see [`Store::write_mark`]'s comment on errors.
    pub(super) fn write_mark(&mut self, always: bool) -> Result<(), StoreError> {
        if self.temporary || self.read_only {
            return Ok(());
        }
        if !always && self.mark_written.is_some_and(|t| t.elapsed() < EVERY) {
            return Ok(());
        }
        let tmp = self.path.join(format!("{FILE}.tmp"));
        let written = std::fs::write(&tmp, self.next_seq.to_string())
            .and_then(|()| std::fs::rename(&tmp, self.path.join(FILE)));
        match written {
            Ok(()) => self.mark_written = Some(Instant::now()),
            // The events are durable either way; a mark left older only checks less.
            Err(e) => tracing::warn!(error = %e, "cannot update the store's high-water mark"),
        }
        Ok(())
    }
}
