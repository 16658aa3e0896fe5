//! The files kizuna wrote that may name customers, and forgetting a customer in them.
//!
//! The store forgets an erased customer itself; this module covers the rest of what kizuna
//! wrote. Inside the home, the file channels' outbox (`outbox/<channel>/*.eml`,
//! `outbox/<channel>/sms.jsonl`), whatever channels are configured now (a shop may have moved
//! to SMTP since). Anywhere else, the files a command wrote where the user asked (an
//! import's `--rejects`, `export --out`): each is listed, by absolute path, in the home's
//! [`REGISTER`] when written ([`record`]), so an erase can find it later. A listed file
//! that is gone is dropped from the list.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use kizuna_core::{
    channel::{FileEmailChannel, FileSmsChannel},
    forget::{self, PersonalData},
};

use crate::home::Home;

/// The list of output files, one absolute path a line, in the home.
pub const REGISTER: &str = "written-files";

/// Adds `path` (absolute) to the home's list of output files. Best effort: a file kizuna
/// wrote is not worth failing the command over its listing, but the operator is told.
pub fn record(home: &Home, path: &Path) {
    let listed = listed(home);
    if listed.iter().any(|p| p == path) {
        return;
    }
    let register = home.root().join(REGISTER);
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&register)
        .and_then(|mut f| writeln!(f, "{}", path.display()));
    if let Err(e) = appended {
        tracing::warn!(
            register = %register.display(), error = %e,
            "could not list an output file; an erase will not look in it"
        );
    }
}

fn listed(home: &Home) -> Vec<PathBuf> {
    std::fs::read_to_string(home.root().join(REGISTER))
        .map(|text| text.lines().map(PathBuf::from).collect())
        .unwrap_or_default()
}

/// What [`forget`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Forgotten {
    /// Whole files removed (outbox messages).
    pub files: usize,
    /// Lines removed from logs and output files.
    pub lines: usize,
}

/// Removes what names `who` from every file kizuna wrote (see the module doc), calling
/// `between` every few hundred outbox files (a daemon stores events there).
pub fn forget(
    home: &Home,
    who: &PersonalData,
    between: &mut dyn FnMut(),
) -> anyhow::Result<Forgotten> {
    // Each file channel writes under `outbox/<its name>/`: every such directory is looked
    // at, so a channel renamed or removed since still has its files cleaned.
    let outbox = home.root().join("outbox");
    let mut done = Forgotten::default();
    let dirs = match std::fs::read_dir(&outbox) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", outbox.display())),
    };
    for dir in dirs {
        done.files += FileEmailChannel::new(&dir, "")
            .forget(who, between)
            .with_context(|| format!("removing the customer's messages in {}", dir.display()))?;
        done.lines += FileSmsChannel::new(&dir)
            .forget(who)
            .with_context(|| format!("removing the customer from {}", dir.display()))?;
    }
    let mut still_there = Vec::new();
    for path in listed(home) {
        if !path.exists() {
            continue;
        }
        done.lines += forget::scrub_lines(&path, who)
            .with_context(|| format!("removing the customer from {}", path.display()))?;
        still_there.push(path);
    }
    let register = home.root().join(REGISTER);
    if register.exists() {
        let text: String = still_there
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect();
        std::fs::write(&register, text)
            .with_context(|| format!("updating {}", register.display()))?;
    }
    Ok(done)
}
