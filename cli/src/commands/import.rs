//! `kizuna import`.

use std::process::ExitCode;

use anyhow::Context;
use jiff::Timestamp;

use crate::{
    args::ImportArgs,
    context::{Ctx, Out},
    import::{self, Outcome, Progress, Source},
};

/// Validates and imports the files; exit 1 (and nothing stored) if any record is bad
/// without `--skip-invalid`.
pub fn run(ctx: &mut Ctx, o: &mut Out, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let sources = args
        .files
        .iter()
        .map(|p| Source::read_from(p, &ctx.input(p)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rules = ctx.rules()?;
    let options = import::Options {
        skip_invalid: args.skip_invalid,
        csv_at: args.at.unwrap_or_else(Timestamp::now),
        batch_size: ctx.config()?.import.batch_size,
    };
    // A bar on the user's terminal only: a daemon's terminal is not theirs.
    let progress = if args.json || ctx.is_daemon() {
        Progress::hidden()
    } else {
        Progress::auto()
    };
    match import::run(ctx.store()?, &rules, &sources, &options, &progress)? {
        Outcome::Invalid(rejected) => {
            for r in &rejected {
                writeln!(o.stderr, "{}", import::describe(r))?;
            }
            if args.json {
                o.json(&serde_json::json!({
                    "imported": 0, "duplicates": 0, "rejected": rejected.len(), "errors": rejected,
                }))?;
            }
            writeln!(
                o.stderr,
                "error: {} bad record(s); nothing was imported. Fix them, or pass --skip-invalid \
                 to import the rest.",
                rejected.len()
            )?;
            Ok(ExitCode::FAILURE)
        }
        Outcome::Imported { summary, rejected } => {
            if !rejected.is_empty() {
                ctx.write_file(&args.rejects, import::rejects_jsonl(&rejected)?)
                    .context("writing the rejects file")?;
            }
            tracing::info!(
                imported = summary.imported,
                rule_errors = summary.rule_errors,
                duplicates = summary.duplicates,
                erased = summary.erased,
                rejected = summary.rejected,
                "import finished"
            );
            if args.json {
                o.json(&summary)?;
            } else {
                writeln!(
                    o.stdout,
                    "imported {} events ({} new customers), {} duplicates, {} rejected",
                    summary.imported, summary.new_customers, summary.duplicates, summary.rejected
                )?;
                if summary.erased > 0 {
                    writeln!(
                        o.stdout,
                        "{} events of erased customers skipped",
                        summary.erased
                    )?;
                }
                if summary.rule_errors > 0 {
                    writeln!(
                        o.stdout,
                        "{} rule error(s) while evaluating the rules: see `kizuna rules errors`",
                        summary.rule_errors
                    )?;
                }
                if !rejected.is_empty() {
                    writeln!(
                        o.stdout,
                        "rejected records written to {}",
                        args.rejects.display()
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
