//! What can go wrong in the store.

use std::path::PathBuf;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled failed (I/O, corruption, or the database is locked by another process).
    #[error("database {path}: {source}")]
    Sled {
        /// The database directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// The database was written by a newer kizuna.
    #[error(
        "database {path} has schema version {found}, but this kizuna understands only up to \
         {supported}; upgrade kizuna to open it"
    )]
    NewerSchema {
        /// The database directory.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Highest version this build supports.
        supported: u32,
    },
    /// The directory holds a sled database that is not a kizuna store.
    #[error("database {path} is not a kizuna store (no schema version)")]
    NotKizuna {
        /// The database directory.
        path: PathBuf,
    },
    /// A stored record did not decode; the database is damaged or was edited by hand.
    #[error("database {path}: corrupt record {key}: {reason}")]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// The key, for debugging.
        key: String,
        /// What failed.
        reason: String,
    },
    /// The file system holding the database is full (or the user's quota is used up).
    #[error(
        "database {path}: the disk is full ({disk}); what was not acknowledged was not kept. \
         Free space there and run the command again (an import resumes where it stopped)"
    )]
    DiskFull {
        /// The database directory.
        path: PathBuf,
        /// The file system, as `mounted at /x, N bytes free`.
        disk: String,
    },
    /// The database files are damaged: sled found them corrupt or failed on them.
    #[error(
        "database {path} is damaged ({reason}); kizuna will not read or write it. Keep a copy \
         of it for diagnosis, then restore your last backup into a new home with \
         `kizuna restore <backup> --home <new home>`"
    )]
    Damaged {
        /// The database directory.
        path: PathBuf,
        /// What sled reported.
        reason: String,
    },
    /// An earlier write failed; the in-memory state may not match the disk any more.
    #[error("database {path}: an earlier write failed; reopen the store")]
    Poisoned {
        /// The database directory.
        path: PathBuf,
    },
    /// A handle made for reading ([`super::Store::reader`]) was asked to write.
    #[error("database {path}: this handle only reads")]
    ReadOnly {
        /// The database directory.
        path: PathBuf,
    },
    /// Another process has the database open.
    #[error(
        "database {path} is in use by another kizuna process (stop it, or wait for it to finish)"
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// Events whose id is already stored (or earlier in the batch) with other content.
    /// Nothing of the batch was written: an id names one event for good.
    #[error("{} event(s) reuse the id of a different event (first: {}); nothing was stored", .0.len(), .0.first().map(|c| c.id.as_str()).unwrap_or_default())]
    Conflict(Vec<super::append::Conflict>),
    /// File-system work around the database (compaction) failed.
    #[error("database {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Whether an I/O error means the disk (or the quota) is full: ENOSPC or EDQUOT, also when
/// wrapped in another error, as sled does.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::StorageFull
        || matches!(e.raw_os_error(), Some(28 | 122))
        || e.kind() == std::io::ErrorKind::QuotaExceeded
    {
        return true;
    }
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        .is_some_and(is_disk_full)
        || e.to_string().contains("No space left on device")
}

/// Where `path` lives: the mount point of its file system and the space left there, for
/// an error an operator can act on (`mounted at /var, 0 bytes free`).
pub fn disk_of(path: &std::path::Path) -> String {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mount = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .filter(|m| full.starts_with(m))
        .max_by_key(|m| m.len())
        .unwrap_or("/")
        .to_owned();
    match rustix::fs::statvfs(mount.as_str()) {
        Ok(v) => format!(
            "the file system mounted at {mount}, {} bytes free",
            v.f_bavail.saturating_mul(v.f_frsize)
        ),
        Err(_) => format!("the file system mounted at {mount}"),
    }
}
