//! Where a command runs: the one seam between a command's logic and the process it runs in.
//!
//! Every command that reads or changes the store is written once, against [`Ctx`] (the
//! store, the configuration, the dispatcher) and [`Out`] (its standard output and error).
//! The same function then serves two doors:
//!
//! - **offline**: the CLI opens the home's database itself ([`Ctx::offline`]), as it always
//!   has; output goes to the process's stdout and stderr.
//! - **through a running daemon**: the CLI finds the daemon's admin socket and sends the
//!   command there ([`crate::admin`]); the daemon's writer thread runs the same function
//!   against the store it already holds ([`Ctx::daemon`]), into buffers it sends back.
//!
//! Invariant: a command never reaches the store, the configuration, its input files or the
//! terminal except through these two types. That is what makes "the same text, the same
//! JSON, the same exit code" through either door a property of the code rather than of
//! tests: there is no second implementation to drift.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context as _, bail};
use kizuna_core::{Store, dispatch::Dispatcher, rules::RuleSet};

use crate::{config::Config, daemon::DaemonInfo, home::Home};

/// What a long change calls between its chunks ([`Ctx::store_between_chunks`]).
pub type Between<'b> = &'b mut dyn FnMut(&mut Store);

/// What a command was asked about does not exist (a customer, a message): `404` over
/// HTTP, the same `error: …` line on the command line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// A command's standard output and error.
pub struct Out<'a> {
    /// Standard output: the command's result.
    pub stdout: &'a mut dyn Write,
    /// Standard error: warnings and rejected records.
    pub stderr: &'a mut dyn Write,
}

impl std::fmt::Debug for Out<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Out")
    }
}

impl Out<'_> {
    /// Writes `value` as pretty JSON, one document, on stdout.
    pub fn json(&mut self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut *self.stdout, value)?;
        writeln!(self.stdout)?;
        Ok(())
    }
}

/// What a daemon lends a command it runs: its store and dispatcher, what it knows of
/// itself (configuration, rules directory), and the input files the client sent.
pub struct Lent<'a> {
    /// The daemon's store.
    pub store: &'a mut Store,
    /// The daemon's rules in force.
    pub rules: Arc<RuleSet>,
    /// The daemon's dispatcher (its channels and templates); none for a command that
    /// runs beside the writer with a reading handle.
    pub dispatcher: Option<&'a mut Dispatcher>,
    /// The daemon.
    pub daemon: &'a DaemonInfo,
    /// Input files the client shipped: the path the user typed → where the daemon keeps a
    /// copy.
    pub inputs: &'a HashMap<PathBuf, PathBuf>,
    /// The client's working directory.
    pub cwd: &'a Path,
    /// Stores the events that arrived meanwhile: a long command calls it between its
    /// chunks, so ingest is answered while it runs.
    pub breathe: Option<&'a mut dyn FnMut(&mut Store)>,
}

/// What this process opened itself, offline, on first use.
struct Offline<'a> {
    /// `--rules`.
    rules: Option<&'a Path>,
    opened: Option<(Config, Store)>,
    dispatcher: Option<Dispatcher>,
    /// The rules in force, once compiled.
    compiled: Option<Arc<RuleSet>>,
    /// Between chunks offline: nothing waits.
    nothing: fn(&mut Store),
}

impl std::fmt::Debug for Lent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lent")
            .field("daemon", &self.daemon.pid)
            .field("inputs", self.inputs)
            .field("cwd", &self.cwd)
            .field("breathes", &self.breathe.is_some())
            .finish_non_exhaustive()
    }
}

enum Place<'a> {
    Offline(Box<Offline<'a>>),
    Daemon(Lent<'a>),
}

/// A command's view of the home it works on. See the module documentation.
pub struct Ctx<'a> {
    home: &'a Home,
    /// Whether stdin is a terminal a person can answer on.
    interactive: bool,
    place: Place<'a>,
    /// Files a command run by a daemon wrote for its client, which writes them.
    written: Vec<(PathBuf, Vec<u8>)>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("home", &self.home.root())
            .field("daemon", &self.is_daemon())
            .finish()
    }
}

impl<'a> Ctx<'a> {
    /// This process works on the home itself; `rules` is the `--rules` flag.
    pub fn offline(home: &'a Home, rules: Option<&'a Path>) -> Self {
        use std::io::IsTerminal;
        Self {
            home,
            interactive: std::io::stdin().is_terminal(),
            place: Place::Offline(Box::new(Offline {
                rules,
                opened: None,
                dispatcher: None,
                compiled: None,
                nothing: |_| {},
            })),
            written: Vec::new(),
        }
    }

    /// A daemon runs the command for a client, with what it holds. Nobody can be asked
    /// anything: the client asked before it sent the command.
    pub fn daemon(home: &'a Home, rules: Option<&Path>, lent: Lent<'a>) -> anyhow::Result<Self> {
        if let Some(flag) = rules {
            let same = match (flag.canonicalize(), lent.daemon.rules_dir.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if !same {
                bail!(
                    "--rules {} applies offline only: the daemon on {} runs the rules in {} \
                     (try a rule change with `kizuna rules replay --scripts DIR`, or stop the \
                     daemon)",
                    flag.display(),
                    home.root().display(),
                    lent.daemon.rules_dir.display()
                );
            }
        }
        Ok(Self {
            home,
            interactive: false,
            place: Place::Daemon(lent),
            written: Vec::new(),
        })
    }

    /// Whether a daemon runs this command.
    pub fn is_daemon(&self) -> bool {
        matches!(self.place, Place::Daemon(_))
    }

    /// The daemon running this command, if one does.
    pub fn daemon_info(&self) -> Option<&DaemonInfo> {
        match &self.place {
            Place::Offline(_) => None,
            Place::Daemon(lent) => Some(lent.daemon),
        }
    }

    /// Whether a person at a terminal can be asked (a confirmation).
    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// The home.
    pub fn home(&self) -> &'a Home {
        self.home
    }

    /// The rules directory in force: the daemon's, or `--rules`, or the home's `rules/`.
    pub fn rules_dir(&self) -> PathBuf {
        match &self.place {
            Place::Offline(offline) => self.home.rules_dir_or(offline.rules),
            Place::Daemon(lent) => lent.daemon.rules_dir.clone(),
        }
    }

    /// Where to read an input file the user named: the file itself offline, the copy the
    /// client sent through a daemon. Messages keep naming `path` as the user typed it.
    pub fn input(&self, path: &Path) -> anyhow::Result<PathBuf> {
        match &self.place {
            Place::Offline(_) => Ok(path.to_path_buf()),
            Place::Daemon(lent) => {
                lent.inputs.get(path).cloned().with_context(|| {
                    format!("{}: the client did not send this file", path.display())
                })
            }
        }
    }

    /// Where an output directory the user named (`backup DEST`) is: relative paths are
    /// the user's, not the daemon's. The daemon writes it as its own user; the admin
    /// socket lets only that user (and root) ask.
    pub fn output_path(&self, path: &Path) -> PathBuf {
        match &self.place {
            Place::Offline(_) => path.to_path_buf(),
            Place::Daemon(lent) => lent.cwd.join(path),
        }
    }

    /// Writes an output file the user named (`import --rejects`): here offline; through a
    /// daemon, the client writes it where the user is, as the user.
    /// Either way the file is listed in the home, for an erase to look in
    /// ([`crate::written`]).
    pub fn write_file(&mut self, path: &Path, content: Vec<u8>) -> anyhow::Result<()> {
        let absolute = match &self.place {
            Place::Offline(_) => std::path::absolute(path)
                .with_context(|| format!("resolving {}", path.display()))?,
            Place::Daemon(lent) => lent.cwd.join(path),
        };
        crate::written::record(self.home, &absolute);
        match self.place {
            Place::Offline(_) => {
                std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
            }
            Place::Daemon(_) => {
                self.written.push((path.to_path_buf(), content));
                Ok(())
            }
        }
    }

    /// The files [`Ctx::write_file`] left for the client.
    pub fn take_written(&mut self) -> Vec<(PathBuf, Vec<u8>)> {
        std::mem::take(&mut self.written)
    }

    /// The configuration and the store, the store opened on first use offline.
    fn parts(&mut self) -> anyhow::Result<(&Config, &mut Store)> {
        match &mut self.place {
            Place::Offline(offline) => {
                let home = match offline.opened.take() {
                    Some(o) => o,
                    None => self.home.open_store()?,
                };
                let (config, store) = offline.opened.insert(home);
                Ok((config, store))
            }
            Place::Daemon(lent) => Ok((&lent.daemon.config, lent.store)),
        }
    }

    /// The configuration.
    pub fn config(&mut self) -> anyhow::Result<&Config> {
        Ok(self.parts()?.0)
    }

    /// The store, for reading and for changes that run no rules.
    pub fn store(&mut self) -> anyhow::Result<&mut Store> {
        Ok(self.parts()?.1)
    }

    /// The store and the rules in force, for changes that run them (ingest, timers,
    /// campaigns). Offline the rules are compiled first, so a broken script is reported
    /// before the database is opened.
    pub fn store_with_rules(&mut self) -> anyhow::Result<(&mut Store, Arc<RuleSet>)> {
        let rules = self.rules()?;
        Ok((self.store()?, rules))
    }

    /// The rules in force: the daemon's, or compiled from the rules directory (once).
    pub fn rules(&mut self) -> anyhow::Result<Arc<RuleSet>> {
        match &mut self.place {
            Place::Offline(offline) => {
                if offline.compiled.is_none() {
                    offline.compiled = Some(self.home.load_rules(offline.rules)?);
                }
                match &offline.compiled {
                    Some(rules) => Ok(Arc::clone(rules)),
                    None => unreachable!("compiled above"),
                }
            }
            Place::Daemon(lent) => Ok(Arc::clone(&lent.rules)),
        }
    }

    /// The store and the rules in force, for a long change made in chunks, and what to
    /// call between them: in a daemon, it stores the events that arrived meanwhile;
    /// offline, nothing.
    pub fn store_between_chunks(
        &mut self,
    ) -> anyhow::Result<(&mut Store, Arc<RuleSet>, Between<'_>)> {
        let (_, rules) = self.store_with_rules()?;
        match &mut self.place {
            Place::Offline(offline) => {
                let Some((_, store)) = offline.opened.as_mut() else {
                    unreachable!("store_with_rules opened the store")
                };
                Ok((store, rules, &mut offline.nothing))
            }
            Place::Daemon(lent) => match lent.breathe.as_deref_mut() {
                Some(breathe) => Ok((&mut *lent.store, rules, breathe)),
                None => {
                    bail!("this command cannot change the store: it runs with a reading handle")
                }
            },
        }
    }

    /// The store and the dispatcher (with the rules in force), to send messages.
    pub fn store_and_dispatcher(&mut self) -> anyhow::Result<(&mut Store, &mut Dispatcher)> {
        let (_, rules) = self.store_with_rules()?;
        match &mut self.place {
            Place::Offline(offline) => {
                let built = match offline.dispatcher.take() {
                    Some(d) => d,
                    None => crate::commands::outbox::dispatcher(self.home, offline.rules, rules)?,
                };
                let dispatcher = offline.dispatcher.insert(built);
                let Some((_, store)) = offline.opened.as_mut() else {
                    unreachable!("store_with_rules opened the store")
                };
                Ok((store, dispatcher))
            }
            Place::Daemon(lent) => match lent.dispatcher.as_deref_mut() {
                Some(dispatcher) => Ok((&mut *lent.store, dispatcher)),
                None => bail!("this command cannot send: it runs with a reading handle"),
            },
        }
    }
}
