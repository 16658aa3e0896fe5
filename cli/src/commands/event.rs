//! `kizuna event add`.

use std::process::ExitCode;

use anyhow::bail;
use jiff::Timestamp;
use kizuna_core::Event;
use serde_json::{Map, Value};

use crate::{
    args::EventAddArgs,
    context::{Ctx, Out},
};

/// Builds one event from flags and `key=value` pairs, validates it like an import line, and
/// appends it (durably).
pub fn add(ctx: &mut Ctx, o: &mut Out, args: &EventAddArgs) -> anyhow::Result<ExitCode> {
    let mut obj = Map::new();
    for pair in &args.attrs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("attribute {pair:?} is not KEY=VALUE");
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bail!("attribute name {key:?} must be letters, digits and '_'");
        }
        if ["id", "customer", "type", "at"].contains(&key) {
            bail!(
                "attribute {key:?} is set with --{}",
                if key == "type" { "type" } else { key }
            );
        }
        let value = serde_json::from_str::<Value>(value)
            .ok()
            .filter(|v| !v.is_string())
            .unwrap_or_else(|| Value::String(value.to_owned()));
        if obj.insert(key.to_owned(), value).is_some() {
            bail!("attribute {key:?} given twice");
        }
    }
    obj.insert("customer".into(), Value::String(args.customer.clone()));
    obj.insert("type".into(), Value::String(args.kind.clone()));
    let at = args
        .at
        .clone()
        .unwrap_or_else(|| Timestamp::now().to_string());
    obj.insert("at".into(), Value::String(at));
    if let Some(id) = &args.id {
        obj.insert("id".into(), Value::String(id.clone()));
    }
    let event = match Event::from_json(obj) {
        Ok(event) => event,
        Err(errors) => {
            for e in &errors {
                writeln!(o.stderr, "error: {e}")?;
            }
            writeln!(o.stderr, "error: the event was not stored")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let (store, rules) = ctx.store_with_rules()?;
    // A promise that is kept or late must have been made: a `ref` that names none is a
    // mistake (a typo, the wrong customer), said before anything is stored.
    let kind = event.kind.as_str();
    if [kizuna_core::promise::FULFILLED, kizuna_core::promise::DELAY].contains(&kind) {
        let reference = event.attr_str("ref").unwrap_or_default();
        let open = store
            .customer(&event.customer)?
            .is_some_and(|c| c.promises.open.iter().any(|p| p.reference == reference));
        if !open {
            writeln!(
                o.stderr,
                "error: ref: {} has no open promise {reference:?} (`kizuna customer show {}` lists them)",
                event.customer, event.customer
            )?;
            writeln!(o.stderr, "error: the event was not stored")?;
            return Ok(ExitCode::FAILURE);
        }
    }
    let report = store.append(&rules, std::slice::from_ref(&event))?;
    store.flush()?;
    if report.erased > 0 {
        writeln!(
            o.stderr,
            "error: {} was erased; its events are not taken back. The event was not stored.",
            event.customer
        )?;
        return Ok(ExitCode::FAILURE);
    }
    if args.json {
        o.json(&serde_json::json!({
            "event": event, "duplicate": report.duplicates > 0, "rule_errors": report.rule_errors,
        }))?;
    } else if report.duplicates > 0 {
        writeln!(o.stdout, "{} is already stored; nothing changed", event.id)?;
    } else {
        writeln!(
            o.stdout,
            "stored {} ({} for {})",
            event.id, event.kind, event.customer
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
