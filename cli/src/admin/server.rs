//! The daemon's side of the admin socket: accept commands, receive their input files, have
//! the writer thread run them, and send back what they printed.
//!
//! Each connection gets a thread of its own, so two admins are served at once; their
//! commands queue on the writer like any request, and each answer goes back whole on its
//! own connection, so outputs never interleave.

use std::{
    collections::HashMap,
    io::{BufReader, BufWriter, Write},
    os::unix::{
        fs::PermissionsExt,
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{Arc, Condvar, Mutex, mpsc::Sender},
    time::Duration,
};

use anyhow::{Context, bail};
use clap::Parser;
use tokio::sync::oneshot;

use super::{FileEntry, PROTOCOL, Request, Response, VERSION, read_line, socket_path};
use crate::{
    args::Cli,
    context::{Ctx, Lent, Out},
    daemon::writer::Command,
    home::Home,
};

/// A command for the writer thread to run (parsed from a client's command line, or built
/// by the HTTP API from a request), and what it needs.
#[derive(Debug)]
pub struct Job {
    /// The command.
    pub command: Box<crate::args::Command>,
    /// `--rules`, absolute.
    pub rules: Option<PathBuf>,
    /// Input paths as the user named them → the daemon's copies.
    pub inputs: HashMap<PathBuf, PathBuf>,
    /// The client's working directory.
    pub cwd: PathBuf,
}

/// What a command printed and wrote.
#[derive(Debug, Default)]
pub struct Answer {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Exit code.
    pub exit: u8,
    /// Files for the client to write.
    pub written: Vec<(PathBuf, Vec<u8>)>,
    /// Why it failed, when it failed with an error (the `error: …` line in `stderr`).
    pub failure: Option<Failure>,
}

/// What kind of failure, for an HTTP status and a stable `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// What the command was asked about does not exist.
    NotFound,
    /// The request is wrong: a bad argument, a bad record, a rule that does not apply.
    Invalid,
    /// The store failed (I/O, damage): not the caller's fault.
    Store,
}

/// A command's error, classified.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Its kind.
    pub kind: FailureKind,
    /// The message, with its context chain.
    pub message: String,
}

impl Failure {
    fn of(error: &anyhow::Error) -> Self {
        let kind = if error.chain().any(|e| e.is::<crate::context::NotFound>()) {
            FailureKind::NotFound
        } else if error
            .chain()
            .any(|e| e.is::<kizuna_core::store::StoreError>())
        {
            FailureKind::Store
        } else {
            FailureKind::Invalid
        };
        Self {
            kind,
            message: format!("{error:#}"),
        }
    }
}

/// Creates the home's admin socket, owner-only. The caller holds the home's database, so
/// no other daemon can be listening: a socket file already there was left by one that
/// died, and is replaced.
pub fn bind(home: &Path) -> anyhow::Result<UnixListener> {
    let path = socket_path(home);
    // Bound under a private name, restricted, then renamed into place: there is no moment
    // at which `kizuna.sock` exists with looser permissions.
    let staging = home.join(format!(".kizuna.sock.{}", std::process::id()));
    let _ = std::fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging)
        .with_context(|| format!("creating the admin socket {}", staging.display()))?;
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", staging.display()))?;
    std::fs::rename(&staging, &path)
        .with_context(|| format!("creating the admin socket {}", path.display()))?;
    Ok(listener)
}

/// Connections being served. The daemon waits for them before it exits, so a command the
/// writer carried out is answered, not cut off by the process ending.
#[derive(Debug, Default)]
pub struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        *lock(&self.count) += 1;
        InFlightGuard(Arc::clone(self))
    }

    /// Waits until no connection is being served, or `limit` has passed; whether it
    /// drained.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let count = lock(&self.count);
        let (count, _) = self
            .idle
            .wait_timeout_while(count, limit, |n| *n > 0)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *count == 0
    }
}

fn lock(m: &Mutex<usize>) -> std::sync::MutexGuard<'_, usize> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One connection being served (RAII).
struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        *lock(&self.0.count) -= 1;
        self.0.idle.notify_all();
    }
}

/// Serves `listener` on a thread of its own, for the life of the process.
pub fn serve(
    listener: UnixListener,
    home: PathBuf,
    writer: Sender<Command>,
) -> anyhow::Result<Arc<InFlight>> {
    let in_flight = Arc::new(InFlight::default());
    let serving = Arc::clone(&in_flight);
    std::thread::Builder::new()
        .name("kizuna-admin".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let stream = match stream {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin socket: accept failed");
                        continue;
                    }
                };
                let (home, writer) = (home.clone(), writer.clone());
                let guard = serving.enter();
                let spawned = std::thread::Builder::new()
                    .name("kizuna-admin-conn".into())
                    .spawn(move || {
                        let _guard = guard;
                        if let Err(e) = handle(&stream, &home, &writer) {
                            tracing::warn!(error = %format!("{e:#}"), "admin command not answered");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "admin socket: no thread for a connection");
                }
            }
        })?;
    Ok(in_flight)
}

fn failure(message: String) -> Answer {
    Answer {
        stderr: format!("error: {message}\n").into_bytes(),
        exit: 1,
        failure: Some(Failure {
            kind: FailureKind::Invalid,
            message,
        }),
        ..Answer::default()
    }
}

/// One connection: request, input files, the command on the writer, the answer.
fn handle(stream: &UnixStream, home: &Path, writer: &Sender<Command>) -> anyhow::Result<()> {
    let mut input = BufReader::new(stream);
    // Read loosely first: a client of another version may send another shape, and must
    // still be told which versions meet.
    let Some(raw) = read_line::<serde_json::Value>(&mut input)? else {
        return Ok(());
    };
    let (protocol, version) = (
        raw["protocol"].as_u64().unwrap_or(0),
        raw["version"].as_str().unwrap_or("unknown").to_owned(),
    );
    let answer = if protocol != u64::from(PROTOCOL) || version != VERSION {
        failure(format!(
            "this kizuna is version {version} (admin protocol {protocol}), and the daemon on \
             {} is version {VERSION} (protocol {PROTOCOL}); use the kizuna the daemon runs, \
             or restart the daemon with this one",
            home.display()
        ))
    } else {
        let request: Request = serde_json::from_value(raw)?;
        // Customer data: kept in the home (not a shared /tmp), private, gone after; made
        // only for a command that sends files (most send none).
        let spool = if request.inputs.is_empty() {
            None
        } else {
            Some(
                tempfile::Builder::new()
                    .prefix(".admin-")
                    .tempdir_in(home)
                    .context("a spool directory for the command's files")?,
            )
        };
        let inputs = match &spool {
            Some(dir) => receive(&mut input, &request, dir.path())?,
            None => HashMap::new(),
        };
        match Cli::try_parse_from(&request.argv) {
            Err(e) => failure(e.to_string().trim_end().to_owned()),
            Ok(cli) => {
                let job = Job {
                    command: Box::new(cli.command),
                    rules: request.rules,
                    inputs,
                    cwd: request.cwd,
                };
                let (tx, rx) = oneshot::channel();
                let stopping = || {
                    failure(
                        "the daemon is stopping; the command did not run (run it again once \
                         the daemon is stopped or restarted)"
                            .into(),
                    )
                };
                match writer.send(Command::Admin(job, tx)) {
                    Ok(()) => rx.blocking_recv().unwrap_or_else(|_| stopping()),
                    Err(_) => stopping(),
                }
            }
        }
    };
    let response = Response {
        version: VERSION.into(),
        stdout: String::from_utf8_lossy(&answer.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&answer.stderr).into_owned(),
        exit: answer.exit,
        written: answer
            .written
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.clone(),
                len: bytes.len() as u64,
            })
            .collect(),
    };
    let mut out = BufWriter::new(stream);
    super::write_line(&mut out, &response)?;
    for (_, bytes) in &answer.written {
        out.write_all(bytes)?;
    }
    out.flush()?;
    Ok(())
}

/// Stores the request's input files under `spool`; returns where each named input is.
fn receive(
    input: &mut impl std::io::Read,
    request: &Request,
    spool: &Path,
) -> anyhow::Result<HashMap<PathBuf, PathBuf>> {
    let mut inputs = HashMap::new();
    for (i, named) in request.inputs.iter().enumerate() {
        let base = spool.join(i.to_string());
        let is_file = matches!(named.files.as_slice(), [one] if one.path.as_os_str().is_empty());
        if !is_file {
            std::fs::create_dir(&base)?;
        }
        for file in &named.files {
            if file.len > super::MAX_INPUT {
                bail!("{}: larger than a command may send", named.given.display());
            }
            let to = if is_file {
                base.clone()
            } else {
                if !super::stays_inside(&file.path) {
                    bail!("refusing input path {}", file.path.display());
                }
                let to = base.join(&file.path);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                to
            };
            let mut out = std::fs::File::create(&to)?;
            super::copy_exact(input, &mut out, file.len)?;
        }
        inputs.insert(named.given.clone(), base);
    }
    Ok(inputs)
}

/// Runs a command with what the daemon lends it: on the writer thread, or on a thread of
/// its own with a reading handle ([`crate::commands::reads_log_only`]).
pub fn execute<'a>(
    home: &'a Home,
    command: &crate::args::Command,
    rules: Option<&Path>,
    lent: Lent<'a>,
) -> Answer {
    let mut written = Vec::new();
    let mut answer = answer_of(|out| {
        let mut ctx = Ctx::daemon(home, rules, lent)?;
        let result = crate::commands::on_store(&mut ctx, out, command);
        written = ctx.take_written();
        result
    });
    answer.written = written;
    answer
}

/// What `run` printed and how it ended, as an answer: an error becomes its `error: …`
/// line and a classified [`Failure`], as the CLI would print and exit.
pub fn answer_of(run: impl FnOnce(&mut Out) -> anyhow::Result<ExitCode>) -> Answer {
    let mut answer = Answer::default();
    let result = run(&mut Out {
        stdout: &mut answer.stdout,
        stderr: &mut answer.stderr,
    });
    answer.exit = match result {
        Ok(code) if code == ExitCode::SUCCESS => 0,
        Ok(_) => 1,
        Err(e) => {
            let _ = writeln!(answer.stderr, "error: {e:#}");
            answer.failure = Some(Failure::of(&e));
            1
        }
    };
    answer
}
