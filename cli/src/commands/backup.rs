//! `kizuna backup`, `kizuna restore`, `kizuna export` and `kizuna check`: keeping the
//! history safe.
//!
//! A backup is a directory shaped like a home — `kizuna.toml`, `rules/`, `db/` — so a
//! restore is a copy back and a check. Secrets are not in it: they never are in a home
//! (environment variables, the tokens file), and neither are the outbox files.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};
use kizuna_core::{Store, StoreOptions, store::CheckReport};

use crate::{
    context::{Ctx, Out},
    home::Home,
};

/// How many customers a backup's or a restore's check re-folds.
const VERIFY_SAMPLE: usize = 50;

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Makes sure `dir` (named `shown` to the user) is a new or empty directory.
fn fresh_dir(dir: &Path, shown: &Path, what: &str) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", shown.display()))?
            .next()
            .is_none();
        if !empty {
            bail!("{} is not empty; {what}", shown.display());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", shown.display()))
}

/// Opens the database at `db` and checks it.
fn verify(db: &Path) -> anyhow::Result<CheckReport> {
    let store = Store::open(db, StoreOptions::default())
        .with_context(|| format!("opening the copy {}", db.display()))?;
    Ok(store.check(VERIFY_SAMPLE)?)
}

fn print_problems(o: &mut Out, report: &CheckReport) -> anyhow::Result<()> {
    for p in &report.problems {
        writeln!(o.stderr, "problem: {p}")?;
    }
    Ok(())
}

/// `kizuna backup DEST`.
pub fn backup(ctx: &mut Ctx, o: &mut Out, dest: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let shown = dest.to_path_buf();
    let dest: PathBuf = ctx.output_path(dest);
    fresh_dir(&dest, &shown, "a backup goes into a new or empty directory")?;
    std::fs::copy(
        ctx.home().root().join("kizuna.toml"),
        dest.join("kizuna.toml"),
    )
    .context("copying kizuna.toml")?;
    copy_dir(&ctx.rules_dir(), &dest.join("rules"))?;
    let report = ctx.store()?.backup_to(&dest.join("db"))?;
    let check = verify(&dest.join("db"))?;
    if json {
        o.json(&serde_json::json!({
            "backup": shown, "events": report.events, "customers": report.customers,
            "keys": report.keys, "check": check,
        }))?;
    } else {
        writeln!(
            o.stdout,
            "backed up to {}: {} event(s), {} customer(s); the copy opens and passes a check",
            shown.display(),
            report.events,
            report.customers
        )?;
    }
    if check.problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        print_problems(o, &check)?;
        bail!("the backup in {} does not pass its check", shown.display())
    }
}

/// `kizuna check`.
pub fn check(ctx: &mut Ctx, o: &mut Out, sample: usize, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    // What is checked is what is on disk.
    store.flush()?;
    let report = store.check(sample)?;
    if json {
        o.json(&report)?;
    } else {
        writeln!(
            o.stdout,
            "{} event(s), {} customer(s); {} looked up by id, {} re-folded from their events",
            report.events, report.customers, report.ids_checked, report.refolded
        )?;
    }
    if report.problems.is_empty() {
        if !json {
            writeln!(o.stdout, "no problems found")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    print_problems(o, &report)?;
    writeln!(
        o.stderr,
        "error: {} problem(s) in {}; restore a backup into a new home (`kizuna restore`)",
        report.problems.len(),
        store.path().display()
    )?;
    Ok(ExitCode::FAILURE)
}

/// `kizuna export [--since T] [--output FILE]`: the events on standard output (or into
/// FILE, written as the user who asked), a one-line summary on standard error.
pub fn export(
    ctx: &mut Ctx,
    o: &mut Out,
    since: Option<jiff::Timestamp>,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let report = match output {
        None => ctx.store()?.export(since, o.stdout)?,
        Some(path) => {
            let mut lines = Vec::new();
            let report = ctx.store()?.export(since, &mut lines)?;
            ctx.write_file(path, lines)?;
            report
        }
    };
    writeln!(o.stderr, "exported {} event(s)", report.events)?;
    Ok(ExitCode::SUCCESS)
}

/// `kizuna restore SRC`: a backup into an empty home, checked before it is called done.
pub fn restore(home: &Home, src: &Path) -> anyhow::Result<ExitCode> {
    for part in ["kizuna.toml", "rules", "db"] {
        if !src.join(part).exists() {
            bail!(
                "{} is not a kizuna backup (no {part}); a backup is made by `kizuna backup`",
                src.display()
            );
        }
    }
    let root = home.root();
    fresh_dir(root, root, "restore goes into a new or empty home")?;
    let restored = (|| {
        copy_dir(&src.join("rules"), &root.join("rules"))?;
        copy_dir(&src.join("db"), &root.join("db"))?;
        let check = verify(&root.join("db"))?;
        if !check.problems.is_empty() {
            for p in &check.problems {
                eprintln!("problem: {p}");
            }
            bail!("the backup in {} does not pass its check", src.display());
        }
        // Last: its presence marks a complete home.
        std::fs::copy(src.join("kizuna.toml"), root.join("kizuna.toml"))
            .context("copying kizuna.toml")?;
        Ok(check)
    })();
    match restored {
        Ok(check) => {
            println!(
                "restored {} into {}: {} event(s), {} customer(s); it passes a check",
                src.display(),
                root.display(),
                check.events,
                check.customers
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // Leave the home as it was: empty.
            for part in ["rules", "db"] {
                let _ = std::fs::remove_dir_all(root.join(part));
            }
            Err(e)
        }
    }
}
