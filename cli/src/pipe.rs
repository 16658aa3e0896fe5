//! `kizuna … | head`: a reader that closed the pipe has what it wanted; nothing is wrong.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe is an `EPIPE` error: returned by
//! `write!` (an `io::Error`, or a `serde_json::Error` wrapping one), or a panic in
//! `println!`. Every command ends quietly with status 0 on either: [`is_broken_pipe`] is
//! asked by `main` of every error, and [`exit_if_closed_stdout`] by the panic hook.

use std::io::ErrorKind;

/// Whether `err`, or anything in its chain, is a write to a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(ErrorKind::BrokenPipe))
    })
}

/// Ends the process quietly (status 0) if the panic is `println!` meeting a closed pipe.
pub fn exit_if_closed_stdout(info: &std::panic::PanicHookInfo<'_>) {
    let what = info
        .payload()
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| info.payload().downcast_ref::<&str>().copied())
        .unwrap_or_default();
    if what.starts_with("failed printing to stdout") && what.contains("Broken pipe") {
        std::process::exit(0);
    }
}
