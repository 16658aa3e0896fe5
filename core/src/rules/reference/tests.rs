//! The reference is complete and its examples are real.

use std::collections::HashSet;

use super::*;
use crate::rules::{
    RuleSet,
    view::{CUSTOMER_FIELDS, STATS_FIELDS},
};

/// Names of the functions kizuna registers: the engine's, less Rhai's standard package.
fn kizuna_functions() -> HashSet<String> {
    let name = |s: &String| {
        s.split_once('(')
            .map(|(n, _)| n.trim().trim_start_matches("get$").to_owned())
            .unwrap_or_default()
    };
    let ours: HashSet<String> = RuleSet::empty()
        .engine()
        .gen_fn_signatures(true)
        .iter()
        .map(name)
        .collect();
    let mut std = rhai::Engine::new_raw();
    std.register_global_module(rhai::packages::Package::as_shared_module(
        &rhai::packages::StandardPackage::new(),
    ));
    let theirs: HashSet<String> = std.gen_fn_signatures(true).iter().map(name).collect();
    ours.difference(&theirs).cloned().collect()
}

#[test]
fn every_function_and_field_kizuna_offers_has_an_entry() {
    let named: HashSet<&str> = ENTRIES.iter().map(|e| e.name).collect();
    let mut missing: Vec<String> = kizuna_functions()
        .into_iter()
        .filter(|f| {
            // Operators and conversions are covered by the time arithmetic entry.
            f.chars().next().is_some_and(|c| c.is_alphabetic())
                && !f.contains('$')
                && !["to_debug", "get", "set", "type"].contains(&f.as_str())
                && !named.contains(f.as_str())
                // Time and duration fields are documented together.
                && !["month", "day", "hour", "minute", "weekday", "days", "hours"]
                    .contains(&f.as_str())
        })
        .collect();
    for (section, fields) in [
        (Section::Customer, CUSTOMER_FIELDS),
        (Section::Stats, STATS_FIELDS),
    ] {
        for f in fields {
            if !ENTRIES.iter().any(|e| e.section == section && e.name == *f) {
                missing.push(format!("{f} ({section:?})"));
            }
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "no reference entry for: {missing:?}");
}

#[test]
fn every_example_compiles_and_passes_the_checks_where_it_stands() {
    let mut failures = Vec::new();
    for entry in ENTRIES {
        let script = match entry.example.strip_prefix("guard: ") {
            Some(body) => format!("fn guard(message, customer) {{\n{body}\n}}\n"),
            None if entry.example.starts_with("top: ") => {
                format!(
                    "{}\nfn on_event(event, customer) {{}}\n",
                    &entry.example[5..]
                )
            }
            None if entry.section == Section::EntryPoints && entry.name == "on_timer" => {
                format!(
                    "fn on_timer(name, customer, data) {{\n{}\n}}\n",
                    entry.example
                )
            }
            None if entry.section == Section::EntryPoints && entry.name == "matches" => {
                format!("fn matches(customer) {{\n{}\n}}\n", entry.example)
            }
            None => format!("fn on_event(event, customer) {{\n{}\n}}\n", entry.example),
        };
        if let Err(e) = RuleSet::compile(vec![("example.rhai".into(), script)], None) {
            failures.push(format!("{}: {e}", entry.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn each_section_is_in_the_markdown() {
    let md = markdown();
    for section in Section::ALL {
        assert!(md.contains(section.title()), "{}", section.title());
    }
    assert!(md.contains("### `emit`") && md.contains("state.set(\"stamps\""));
}
