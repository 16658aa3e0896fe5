//! One module per command. Each takes its parsed arguments and the home, and returns the
//! process exit code; errors bubble up as `anyhow` with context for `main` to print.

pub mod bench;
pub mod bench_campaign;
pub mod bench_http;
pub mod campaign;
pub mod customer;
pub mod demo;
pub mod event;
pub mod import;
pub mod kpi;
pub mod outbox;
pub mod points;
pub mod receipts;
pub mod replay;
pub mod rfm;
pub mod rules;
pub mod timers;

use std::process::ExitCode;

use crate::home::Home;

/// `kizuna init`.
pub fn init(home: &Home) -> anyhow::Result<ExitCode> {
    home.init()?;
    println!(
        "created kizuna home {} (kizuna.toml, db/, rules/)",
        home.root().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
