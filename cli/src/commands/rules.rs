//! `kizuna rules check|test|errors`.

use std::{path::Path, process::ExitCode, sync::Arc};

use anyhow::Context;
use kizuna_core::{
    fixtures,
    rules::{LoadError, RuleSet},
};

use crate::{
    context::{Ctx, Out},
    table::{Align, Table},
};

fn compile(dir: &Path) -> anyhow::Result<Result<RuleSet, LoadError>> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    Ok(RuleSet::load_dir(dir))
}

/// What `rules check --json` prints.
#[derive(Debug, serde::Serialize)]
struct CheckReport {
    ok: bool,
    /// The rules version of a directory that compiles.
    version: Option<String>,
    scripts: Vec<String>,
    segments: Vec<String>,
    errors: Vec<CheckError>,
}

/// One compile error: where and why.
#[derive(Debug, serde::Serialize)]
struct CheckError {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
    source_line: Option<String>,
}

impl CheckError {
    fn all(err: &LoadError) -> Vec<Self> {
        match err {
            LoadError::Compile(errors) => errors
                .iter()
                .map(|e| Self {
                    file: e.pos.file.clone(),
                    line: e.pos.line,
                    column: e.pos.column,
                    message: e.message.clone(),
                    source_line: e.source_line.clone(),
                })
                .collect(),
            other => vec![Self {
                file: String::new(),
                line: None,
                column: None,
                message: other.to_string(),
                source_line: None,
            }],
        }
    }
}

/// Compiles every script in `dir` (named `shown`) and reports each error with its
/// position and source line. The CLI and `POST /v1/rules/check` both run this.
pub fn check(dir: &Path, shown: &Path, o: &mut Out, json: bool) -> anyhow::Result<ExitCode> {
    let compiled = compile(dir)?;
    let segments = RuleSet::load_segments(dir);
    let mut report = CheckReport {
        ok: compiled.is_ok() && segments.is_ok(),
        version: None,
        scripts: Vec::new(),
        segments: Vec::new(),
        errors: Vec::new(),
    };
    for err in [compiled.as_ref().err(), segments.as_ref().err()]
        .into_iter()
        .flatten()
    {
        report.errors.extend(CheckError::all(err));
        if !json {
            writeln!(o.stderr, "{err}")?;
        }
    }
    if let (Ok(rules), Ok(segments)) = (&compiled, &segments) {
        report.version = Some(rules.version().to_owned());
        report.scripts = rules.script_names().map(str::to_owned).collect();
        report.segments = segments.script_names().map(str::to_owned).collect();
        if !json {
            writeln!(
                o.stdout,
                "ok: {} script(s) in {} compile (rules version {}): {}",
                report.scripts.len(),
                shown.display(),
                rules.version(),
                report.scripts.join(", ")
            )?;
            if !report.segments.is_empty() {
                writeln!(
                    o.stdout,
                    "ok: {} segment(s): {}",
                    report.segments.len(),
                    report.segments.join(", ")
                )?;
            }
        }
    }
    if json {
        o.json(&report)?;
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the fixtures next to the scripts in `dir` (named `shown`). The CLI and
/// `POST /v1/rules/test` both run this. With `only` (a script, `campaigns/winback.rhai`),
/// that script alone is loaded and its own fixture file run: what it does by itself, with
/// no other script's points or messages in the figures.
pub fn test(
    dir: &Path,
    shown: &Path,
    o: &mut Out,
    json: bool,
    only: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let compiled = match only {
        None => compile(dir)?,
        Some(script) => {
            let (name, text) = one_script(dir, script)?;
            RuleSet::compile(vec![(name, text)], Some(dir))
        }
    };
    let rules = match compiled {
        Ok(rules) => Arc::new(rules),
        Err(err) => {
            writeln!(o.stderr, "{err}")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let (results, files) = match only {
        None => run_fixtures(dir, shown, &rules)?,
        Some(script) => {
            let (name, _) = one_script(dir, script)?;
            let fixture = dir.join(name.trim_end_matches(".rhai").to_owned() + ".test.json");
            if !fixture.is_file() {
                anyhow::bail!(
                    "{name} has no fixture file ({} is missing)",
                    fixture.display()
                );
            }
            (fixtures::run_file(&rules, &fixture)?, 1)
        }
    };
    let failed = results.iter().filter(|r| !r.passed()).count();
    if json {
        o.json(&results)?;
    } else {
        for r in &results {
            let name = &r.file;
            if r.passed() {
                writeln!(o.stdout, "pass  {name}: {}", r.name)?;
            } else {
                writeln!(o.stdout, "FAIL  {name}: {}", r.name)?;
                for f in &r.failures {
                    writeln!(o.stdout, "      {f}")?;
                }
            }
        }
        writeln!(
            o.stdout,
            "{} passed, {failed} failed ({} fixture file(s))",
            results.len() - failed,
            files
        )?;
    }
    Ok(if failed == 0 && !results.is_empty() {
        ExitCode::SUCCESS
    } else {
        if results.is_empty() {
            writeln!(o.stderr, "no fixture cases found in {}", shown.display())?;
        }
        ExitCode::FAILURE
    })
}

/// The script `script` names in the rules directory `dir` (a path inside it, or one
/// relative to it): its name there (`campaigns/winback.rhai`) and its text.
fn one_script(dir: &Path, script: &Path) -> anyhow::Result<(String, String)> {
    let inside = script.strip_prefix(dir).unwrap_or(script);
    let path = dir.join(inside);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the script {}", path.display()))?;
    let name = inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    Ok((name, text))
}

/// Runs every fixture file of the rules in `dir` (named `shown`) against `rules`: the
/// results, and how many files there were.
pub fn run_fixtures(
    dir: &Path,
    shown: &Path,
    rules: &Arc<RuleSet>,
) -> anyhow::Result<(Vec<fixtures::CaseResult>, usize)> {
    let files = fixtures::find(dir).with_context(|| format!("reading {}", shown.display()))?;
    let mut results = Vec::new();
    for file in &files {
        results.extend(fixtures::run_file(rules, file)?);
    }
    Ok((results, files.len()))
}

/// Writes Rhai definition files into `out`: those of the rules in `dir` (with the modules
/// they import) when they compile, else of kizuna's functions alone, with a warning.
pub fn definitions(dir: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let rules = if dir.is_dir() {
        RuleSet::load_dir(dir).unwrap_or_else(|e| {
            eprintln!(
                "warning: the rules in {} do not compile ({e}); writing kizuna's functions alone",
                dir.display()
            );
            RuleSet::empty()
        })
    } else {
        RuleSet::empty()
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    rules
        .write_definitions(out)
        .with_context(|| format!("writing definitions into {}", out.display()))?;
    println!("wrote Rhai definition files into {}", out.display());
    Ok(ExitCode::SUCCESS)
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
