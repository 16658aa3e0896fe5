//! `kizuna rules check|test|errors`.

use std::{path::Path, process::ExitCode, sync::Arc};

use anyhow::Context;
use kizuna_core::{
    fixtures,
    rules::{LoadError, RuleSet},
};

use super::print_json;
use crate::{
    context::{Ctx, Out},
    home::Home,
    table::{Align, Table},
};

fn compile(dir: &Path) -> anyhow::Result<Result<RuleSet, LoadError>> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    Ok(RuleSet::load_dir(dir))
}

/// Compiles every script and reports each error with its position and source line.
pub fn check(home: &Home, flag: Option<&Path>, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let dir = dir.map_or_else(|| home.rules_dir_or(flag), Path::to_path_buf);
    let segments = RuleSet::load_segments(&dir);
    match (compile(&dir)?, segments) {
        (Ok(rules), Ok(segments)) => {
            let names: Vec<&str> = rules.script_names().collect();
            println!(
                "ok: {} script(s) in {} compile (rules version {}): {}",
                names.len(),
                dir.display(),
                rules.version(),
                names.join(", ")
            );
            let segments: Vec<&str> = segments.script_names().collect();
            if !segments.is_empty() {
                println!("ok: {} segment(s): {}", segments.len(), segments.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        (rules, segments) => {
            for err in [rules.err(), segments.err()].into_iter().flatten() {
                eprintln!("{err}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs the fixtures next to the scripts.
pub fn test(
    home: &Home,
    flag: Option<&Path>,
    dir: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let dir = dir.map_or_else(|| home.rules_dir_or(flag), Path::to_path_buf);
    let rules = match compile(&dir)? {
        Ok(rules) => Arc::new(rules),
        Err(err) => {
            eprintln!("{err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let files = fixtures::find(&dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut results = Vec::new();
    for file in &files {
        results.extend(fixtures::run_file(&rules, file)?);
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    if json {
        print_json(&results)?;
    } else {
        for r in &results {
            let name = Path::new(&r.file)
                .file_name()
                .map_or(r.file.clone(), |n| n.to_string_lossy().into_owned());
            if r.passed() {
                println!("pass  {name}: {}", r.name);
            } else {
                println!("FAIL  {name}: {}", r.name);
                for f in &r.failures {
                    println!("      {f}");
                }
            }
        }
        println!(
            "{} passed, {failed} failed ({} fixture file(s))",
            results.len() - failed,
            files.len()
        );
    }
    Ok(if failed == 0 && !results.is_empty() {
        ExitCode::SUCCESS
    } else {
        if results.is_empty() {
            eprintln!("no fixture cases found in {}", dir.display());
        }
        ExitCode::FAILURE
    })
}

/// Lists recorded rule errors.
pub fn errors(ctx: &mut Ctx, o: &mut Out, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let errors = store.rule_errors()?;
    if json {
        o.json(&errors)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("where", Align::Left),
        ("function", Align::Left),
        ("event", Align::Left),
        ("customer", Align::Left),
        ("error", Align::Left),
    ]);
    for e in &errors {
        t.row(vec![
            e.pos.to_string(),
            e.function.clone(),
            e.event.clone(),
            e.customer.clone(),
            e.message.clone(),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    writeln!(o.stdout, "{} rule error(s)", errors.len())?;
    Ok(ExitCode::SUCCESS)
}
