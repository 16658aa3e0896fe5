//! A damaged database ends the process with a clear error, never a panic trace.
//!
//! sled answers most damage with `Error::Corruption`, which the store reports as
//! [`kizuna_core::StoreError::Damaged`]. On some damage it panics instead, while opening or
//! on a later read, on this thread or one of its own. The hook installed here recognises a
//! panic raised inside sled by its source location, prints what happened and the way back
//! (a backup), and exits with status 1 at once: whatever was acknowledged before is on
//! disk, and going on with a storage engine that panicked could only make things worse.
//! Panics anywhere else are bugs of kizuna's and keep the default report, except `println!`
//! meeting a closed pipe, which ends the process quietly ([`crate::pipe`]).

use std::{
    path::PathBuf,
    sync::{Once, OnceLock},
};

static DATABASE: OnceLock<PathBuf> = OnceLock::new();

/// Names the database that a damage report should point to.
pub fn set_database(path: PathBuf) {
    let _ = DATABASE.set(path);
}

/// Installs the hook; call first thing in `main`.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        crate::pipe::exit_if_closed_stdout(info);
        let in_sled = info.location().is_some_and(|l| l.file().contains("/sled-"));
        if !in_sled {
            return default(info);
        }
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let path = DATABASE
            .get()
            .map_or_else(|| "the database".to_owned(), |p| p.display().to_string());
        // sled's threads can fail on the same damage at once: one report.
        static REPORTED: Once = Once::new();
        REPORTED.call_once(|| {
            eprintln!(
                "error: database {path} is damaged (the storage library failed on it: {what}); \
                 kizuna stopped. Keep a copy of the directory for diagnosis, then restore your \
                 last backup into a new home with `kizuna restore <backup> --home <new home>`"
            );
        });
        std::process::exit(1);
    }));
}
