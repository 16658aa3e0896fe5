//! Message templates: finding them, and rendering one message within bounds.
//!
//! A template is the business's own code, run once per message, and a mistake in it must
//! cost that one message, never the dispatcher. Two bounds hold for every render: minijinja's
//! fuel ([`FUEL`] instructions, so a loop nested in a loop ends) and the size of what it
//! writes ([`MAX_OUTPUT`] bytes, checked as it writes, so a short loop over a long string
//! cannot fill memory first). A render that hits either fails with the reason, and the
//! message is dead with it: not retried, since the same template would fail the same way.

use std::{io::Write, path::PathBuf};

use jiff::Timestamp;
use serde_json::json;

use crate::{channel::Format, customer::Customer, store::OutboxMessage};

/// Instructions one render may run: a newsletter listing a few hundred items uses a few
/// tens of thousands.
pub const FUEL: u64 = 1_000_000;

/// How the reason of a message that failed to render begins: the dispatcher raises a staff
/// alert for those.
pub const FAILED: &str = "template ";

/// Bytes one render may write (a subject and body, or an HTML twin).
pub const MAX_OUTPUT: usize = 512 * 1024;

pub(super) fn environment(dir: PathBuf) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    // minijinja caches the templates it finds, not the ones it does not: without this,
    // every e-mail without an HTML twin looked for `<name>.email.html` on disk again.
    let missing = std::sync::Mutex::new(std::collections::HashSet::<String>::new());
    env.set_loader(move |name| {
        // Template names are `<template>.<channel or format>` made by kizuna; refuse anything
        // else.
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Ok(None);
        }
        let mut missing = missing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if missing.contains(name) {
            return Ok(None);
        }
        match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.insert(name.to_owned());
                Ok(None)
            }
            Err(e) => Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot read template {name}: {e}"),
            )),
        }
    });
    env
}

/// Renders a message for a channel of `format`. The template is `<template>.<channel>` if
/// there is one (a channel's own wording), else `<template>.<format>` (`.email`, `.sms`,
/// `.text`), so two channels of one kind — two SMTP relays — share their templates. An
/// e-mail's first line is `Subject: …`, then a blank line, then the body, and it may have
/// an HTML twin (`<name>.html`); a text may start with a subject; an SMS never has one. A
/// missing template or variable is an error on this message.
/// A rendered message: its subject (if the format has one), text, and HTML twin (if any).
pub(super) type Rendered = (Option<String>, String, Option<String>);

pub(super) fn render(
    env: &minijinja::Environment<'static>,
    message: &OutboxMessage,
    format: Format,
    context: &serde_json::Value,
) -> Result<Rendered, String> {
    let own = format!("{}.{}", message.template, message.channel);
    let shared = format!("{}.{}", message.template, format.suffix());
    let (name, template) = match env.get_template(&own) {
        Ok(t) => (own, t),
        Err(e) if e.kind() == minijinja::ErrorKind::TemplateNotFound && own != shared => {
            let t = env
                .get_template(&shared)
                .map_err(|e| format!("template {shared}: {e} (nor is there a template {own})"))?;
            (shared, t)
        }
        Err(e) => return Err(format!("template {own}: {e}")),
    };
    let text = limited(&template, context).map_err(|e| format!("template {name}: {e}"))?;
    // An e-mail template may have an HTML twin: the message then goes as
    // multipart/alternative, text and HTML.
    let html = if format == Format::Email {
        let html_name = format!("{name}.html");
        match env.get_template(&html_name) {
            Ok(t) => Some(limited(&t, context).map_err(|e| format!("template {html_name}: {e}"))?),
            Err(e) if e.kind() == minijinja::ErrorKind::TemplateNotFound => None,
            Err(e) => return Err(format!("template {html_name}: {e}")),
        }
    } else {
        None
    };
    let has_subject = text.starts_with("Subject:") && format != Format::Sms;
    if format == Format::Email || has_subject {
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| format!("template {name}: the first line must be `Subject: …`"))?;
        Ok((
            Some(subject.trim().to_owned()),
            rest.trim_start_matches(['\r', '\n']).to_owned(),
            html,
        ))
    } else {
        Ok((None, text, html))
    }
}

/// What a customer's template sees: `customer` (id, name, kind, tier, points), `vars` (the
/// script's), `message` (id, class) and `unsubscribe_url` (the message's signed opt-out
/// link, or none when none is configured: `{% if unsubscribe_url %}`).
pub(super) fn customer_context(
    message: &OutboxMessage,
    customer: &Customer,
    unsubscribe_url: Option<&str>,
    now: Timestamp,
) -> serde_json::Value {
    let p = &customer.profile;
    json!({
        "customer": {
            "id": customer.id, "name": p.name, "kind": p.kind, "tier": customer.loyalty.tier,
            "points": customer.loyalty.balance(now),
        },
        "vars": message.vars,
        "message": {"id": message.id.to_string(), "class": message.class},
        "unsubscribe_url": unsubscribe_url,
    })
}

/// Renders `template` into a string of at most [`MAX_OUTPUT`] bytes.
fn limited(
    template: &minijinja::Template<'_, '_>,
    context: &serde_json::Value,
) -> Result<String, String> {
    let mut out = Capped(Vec::new());
    match template.render_captured_to(context, &mut out) {
        Ok(_) => String::from_utf8(out.0).map_err(|e| e.to_string()),
        Err(_) if out.0.len() > MAX_OUTPUT => Err(format!(
            "the message grew past {} KiB; a loop in the template runs too often",
            MAX_OUTPUT / 1024
        )),
        Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => Err(format!(
            "the template ran out of fuel ({FUEL} steps); a loop in it runs too often"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A buffer that refuses to grow past [`MAX_OUTPUT`].
struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT {
            self.0.resize(MAX_OUTPUT + 1, 0);
            return Err(std::io::Error::other("message too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_text(source: &str) -> Result<String, String> {
        let mut env = minijinja::Environment::new();
        env.set_fuel(Some(FUEL));
        env.add_template("t", source).unwrap();
        limited(
            &env.get_template("t").unwrap(),
            &json!({"name": "x".repeat(1000)}),
        )
    }

    #[test]
    fn a_runaway_template_fails_with_a_reason_instead_of_running_on() {
        assert_eq!(render_text("Hi {{ name[:2] }}").unwrap(), "Hi xx");
        let nested =
            "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}";
        let err = render_text(nested).unwrap_err();
        assert!(err.contains("ran out of fuel"), "{err}");
        let huge = "{% for a in range(1000) %}{{ name }}{% endfor %}";
        let err = render_text(huge).unwrap_err();
        assert!(err.contains("grew past 512 KiB"), "{err}");
    }
}
