//! Hot reload: the rules directory is watched, and a saved change is compiled and its
//! fixtures run before the new set goes live.
//!
//! Editors save by writing a temporary file and renaming it, so the directory is watched
//! (recursively), not the files, and events are debounced. Only if every script compiles
//! and every fixture passes does the writer get the new set ([`Command::SetRules`]);
//! events are processed one command at a time, so an event in flight finishes on the set
//! it started with, and each stored effect records the version that produced it. A
//! failed reload keeps the running set and is logged with its position and shown by
//! `/health`. `POST /rules/reload` and SIGHUP force a reload. Message templates are not
//! part of the version: any reload, including one that finds the scripts unchanged, makes
//! the dispatcher read them again ([`Command::ReloadTemplates`]).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, mpsc::Sender},
    time::Duration,
};

use kizuna_core::{fixtures, rules::RuleSet};
use serde::Serialize;

use super::writer::Command;

/// What `/health` says about reloads.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStatus {
    /// Successful reloads since start.
    pub reloads: u64,
    /// Failed attempts since start.
    pub failures: u64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// The version running now.
    pub active: String,
    /// Sets compiled and tested since start, swapped or not (a watcher that reacted to
    /// its own reads would make this climb with no save).
    pub attempts: u64,
}

/// Reloads rules for the daemon.
#[derive(Debug, Clone)]
pub struct Reloader {
    dir: PathBuf,
    writer: Sender<Command>,
    status: Arc<Mutex<ReloadStatus>>,
}

impl Reloader {
    /// A reloader for `dir` feeding `writer`, which runs version `active` now.
    pub fn new(dir: PathBuf, writer: Sender<Command>, active: String) -> Self {
        Self {
            dir,
            writer,
            status: Arc::new(Mutex::new(ReloadStatus {
                active,
                ..ReloadStatus::default()
            })),
        }
    }

    /// The reload figures as they are now, for `/health` and `/metrics`.
    /// The live rules directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Where the live rules stand: active version, last reload and its error.
    pub fn status(&self) -> ReloadStatus {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReloadStatus> {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Compiles the directory, runs its fixtures, and hands the set to the writer if both
    /// pass. Returns the new version, or why the running set was kept. Forced (the API,
    /// SIGHUP): swaps even when nothing changed.
    pub fn reload(&self) -> Result<String, String> {
        self.reload_when(true)
    }

    /// The watcher's reload: one save can reach it as more than one batch of file events
    /// (an editor's temporary file, then the rename), and a set whose version is already
    /// running is not swapped or counted again.
    fn reload_changed(&self) {
        let _ = self.reload_when(false);
    }

    fn reload_when(&self, forced: bool) -> Result<String, String> {
        let result = candidate(&self.dir);
        let mut status = self.lock();
        status.attempts += 1;
        match result {
            Ok(rules) if !forced && rules.version() == status.active => {
                // The version covers the scripts; a saved template changes nothing else.
                tracing::debug!(
                    version = status.active,
                    "rules unchanged; templates re-read"
                );
                if self.writer.send(Command::ReloadTemplates).is_err() {
                    return Err("the writer has stopped".into());
                }
                status.last_error = None;
                Ok(status.active.clone())
            }
            Ok(rules) => {
                let version = rules.version().to_owned();
                if self.writer.send(Command::SetRules(rules)).is_err() {
                    return Err("the writer has stopped".into());
                }
                status.reloads += 1;
                status.last_error = None;
                status.active.clone_from(&version);
                tracing::info!(version, "rules reloaded");
                Ok(version)
            }
            Err(e) => {
                status.failures += 1;
                status.last_error = Some(e.clone());
                tracing::error!(error = %e, "rules not reloaded; the running set stays");
                Err(e)
            }
        }
    }

    /// Starts watching the directory: each debounced change reloads, for as long as the
    /// returned [`Watch`] lives. The watch is in place when this returns, so the daemon
    /// starts it before it serves: a save made just after start is not missed.
    pub fn watch(&self) -> anyhow::Result<Watch> {
        use notify_debouncer_full::{DebounceEventResult, new_debouncer, notify::RecursiveMode};
        let this = self.clone();
        let mut debouncer = new_debouncer(
            Duration::from_millis(250),
            None,
            move |result: DebounceEventResult| {
                let relevant = match result {
                    Ok(events) => events.iter().any(|e| {
                        changes(&e.kind)
                            && e.paths.iter().any(|p| {
                                p.extension().is_some_and(|x| {
                                    x == "rhai" || x == "json" || x == "email" || x == "sms"
                                }) || p.to_string_lossy().ends_with(".html")
                            })
                    }),
                    Err(_) => true,
                };
                if relevant {
                    this.reload_changed();
                }
            },
        )?;
        debouncer.watch(&self.dir, RecursiveMode::Recursive)?;
        Ok(Watch {
            _debouncer: debouncer,
        })
    }
}

/// A watch on the rules directory ([`Reloader::watch`]); dropping it stops watching.
pub struct Watch {
    _debouncer: notify_debouncer_full::Debouncer<
        notify_debouncer_full::notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
}

/// Whether a file event is a change. inotify also reports files being opened and read,
/// and a reload reads every file: reacting to those would reload forever.
fn changes(kind: &notify_debouncer_full::notify::EventKind) -> bool {
    use notify_debouncer_full::notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// The candidate set: compiled, with every fixture passing.
fn candidate(dir: &Path) -> Result<Arc<RuleSet>, String> {
    let rules = Arc::new(RuleSet::load_dir(dir).map_err(|e| e.to_string())?);
    let files = fixtures::find(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for file in &files {
        let results = fixtures::run_file(&rules, file).map_err(|e| e.to_string())?;
        if let Some(failed) = results.iter().find(|r| !r.passed()) {
            return Err(format!(
                "fixture {:?} in {} failed: {}",
                failed.name,
                failed.file,
                failed.failures.join("; ")
            ));
        }
    }
    Ok(rules)
}
