//! `kizuna import`.

use std::{path::Path, process::ExitCode};

use anyhow::Context;
use jiff::Timestamp;

use super::print_json;
use crate::{
    args::ImportArgs,
    home::Home,
    import::{self, Outcome, Progress, Source},
};

/// Validates and imports the files; exit 1 (and nothing stored) if any record is bad
/// without `--skip-invalid`.
pub fn run(home: &Home, rules: Option<&Path>, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let sources = args
        .files
        .iter()
        .map(|p| Source::new(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rules = home.load_rules(rules)?;
    let (config, mut store) = home.open_store()?;
    store.set_rules(rules);
    let options = import::Options {
        skip_invalid: args.skip_invalid,
        csv_at: args.at.unwrap_or_else(Timestamp::now),
        batch_size: config.import.batch_size,
    };
    let progress = if args.json {
        Progress::hidden()
    } else {
        Progress::auto()
    };
    match import::run(&mut store, &sources, &options, &progress)? {
        Outcome::Invalid(rejected) => {
            for r in &rejected {
                eprintln!("{}", import::describe(r));
            }
            if args.json {
                print_json(&serde_json::json!({
                    "imported": 0, "duplicates": 0, "rejected": rejected.len(), "errors": rejected,
                }))?;
            }
            eprintln!(
                "error: {} bad record(s); nothing was imported. Fix them, or pass --skip-invalid \
                 to import the rest.",
                rejected.len()
            );
            Ok(ExitCode::FAILURE)
        }
        Outcome::Imported { summary, rejected } => {
            if !rejected.is_empty() {
                import::write_rejects(&args.rejects, &rejected)
                    .with_context(|| "writing the rejects file".to_string())?;
            }
            tracing::info!(
                imported = summary.imported,
                rule_errors = summary.rule_errors,
                duplicates = summary.duplicates,
                rejected = summary.rejected,
                "import finished"
            );
            if args.json {
                print_json(&summary)?;
            } else {
                println!(
                    "imported {} events ({} new customers), {} duplicates, {} rejected",
                    summary.imported, summary.new_customers, summary.duplicates, summary.rejected
                );
                if summary.rule_errors > 0 {
                    println!(
                        "{} rule error(s) while evaluating the rules: see `kizuna rules errors`",
                        summary.rule_errors
                    );
                }
                if !rejected.is_empty() {
                    println!("rejected records written to {}", args.rejects.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
