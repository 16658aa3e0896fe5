//! The admin socket: how a CLI command reaches a running daemon.
//!
//! `kizuna run` holds the home's database (sled allows one process), so every other command
//! on that home is carried out *by the daemon*. The daemon listens on a Unix socket in the
//! home, `kizuna.sock`, created with mode 0600: the file's owner (and root) may connect, and
//! nobody else. File permissions are the authentication, as for a database's local socket.
//!
//! One exchange per connection:
//!
//! 1. The client sends a [`Request`] as one JSON line — its version, its argument vector,
//!    and the input files it read for the command (`import FILE`, `rules replay --scripts
//!    DIR`) — then the bytes of each file in the order listed. A daemon running as another
//!    user therefore never needs access to the admin's files.
//! 2. The daemon parses the arguments with the same clap definitions, runs the same
//!    command function against its own store ([`crate::context`]), and answers with a
//!    [`Response`] line: the command's stdout, stderr and exit code, and the files the
//!    command wrote for the client (`import --rejects`), whose bytes follow.
//!
//! Invariants:
//! - The daemon runs a command only when client and daemon are the same kizuna version;
//!   otherwise it answers with both versions and runs nothing.
//! - A command runs on the daemon's writer thread like any request, so it is atomic
//!   exactly as it is offline. If the daemon stops before answering, the client says so
//!   and exits non-zero; the command either ran whole or not at all.
//! - A socket file nobody listens on (left by `kill -9`) is never a dead end: commands fall
//!   back to opening the home themselves, and the next `kizuna run` replaces the file.

pub mod client;
pub mod server;

use std::{
    io::{BufRead, Read, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

/// The version of this exchange. Bumped when [`Request`] or [`Response`] change shape.
pub const PROTOCOL: u32 = 1;

/// This kizuna's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The admin socket of a home.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join("kizuna.sock")
}

/// What a client asks.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// [`PROTOCOL`] of the client.
    pub protocol: u32,
    /// The client's kizuna version.
    pub version: String,
    /// The command line, program name first, as the user typed it.
    pub argv: Vec<String>,
    /// `--rules`, made absolute by the client (the daemon's working directory is not
    /// the user's).
    pub rules: Option<PathBuf>,
    /// Input files and directories, as named on the command line; their bytes follow.
    pub inputs: Vec<Input>,
    /// The client's working directory: where a relative output path (`backup DEST`) is.
    pub cwd: PathBuf,
}

/// A file or directory the user named, and the files sent for it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Input {
    /// The path as given on the command line.
    pub given: PathBuf,
    /// The files: for a file one entry with an empty `rel`, for a directory one per file
    /// below it.
    pub files: Vec<FileEntry>,
}

/// One file of an [`Input`] or a written output.
#[derive(Debug, Serialize, Deserialize)]
pub struct FileEntry {
    /// Where it goes: below the input directory (empty for a file), or the path to write.
    pub path: PathBuf,
    /// Its size; that many bytes follow on the stream.
    pub len: u64,
}

/// What the daemon answers. Fields a daemon of another version leaves out read as empty,
/// so its refusal is still shown.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Response {
    /// The daemon's kizuna version.
    pub version: String,
    /// The command's standard output.
    pub stdout: String,
    /// The command's standard error (its `error: …` line included when it failed).
    pub stderr: String,
    /// The exit code.
    pub exit: u8,
    /// Files the command wrote for the client; their bytes follow.
    pub written: Vec<FileEntry>,
}

/// The most bytes one input file may have (a bigger import is split, or run offline).
pub const MAX_INPUT: u64 = 4 << 30;

/// Writes `value` as one JSON line.
pub fn write_line(w: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, value)?;
    w.write_all(b"\n")
}

/// Reads one JSON line; `None` at the end of the stream.
pub fn read_line<T: serde::de::DeserializeOwned>(
    r: &mut impl BufRead,
) -> std::io::Result<Option<T>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Whether `path` stays inside the directory it is joined to: relative, and made of
/// plain names only (no `..`, no root). Every file a client sends is checked with it.
pub fn stays_inside(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Copies exactly `len` bytes of `r` to `w`.
pub fn copy_exact(r: &mut impl Read, w: &mut impl Write, len: u64) -> std::io::Result<()> {
    let copied = std::io::copy(&mut r.take(len), w)?;
    if copied < len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the stream ended after {copied} of {len} bytes"),
        ));
    }
    Ok(())
}
