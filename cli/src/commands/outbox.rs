//! `kizuna dispatch`, `outbox list|retry`, `send` and `report guards`.

use std::{collections::BTreeMap, path::Path, process::ExitCode};

use anyhow::{Context, bail};
use jiff::Timestamp;
use kizuna_core::{
    CustomerId, Event,
    channel::{Channel, FileEmailChannel, FileSmsChannel, Limited, Limits},
    dispatch::{Dispatcher, RetryPolicy},
    store::{MessageId, MessageStatus, SEND_REQUEST},
};
use serde_json::{Map, Value};

use super::print_json;
use crate::{
    args::{DispatchArgs, OutboxCommand, SendArgs},
    context::{Ctx, NotFound, Out},
    home::Home,
    table::{Align, Table, thousands},
};

/// The channels a home's configuration names: e-mail to files or SMTP, SMS to files.
pub fn channels(home: &Home) -> anyhow::Result<Vec<Box<dyn Channel>>> {
    let config = home.config()?;
    let out = home.root().join("outbox");
    let email: Box<dyn Channel> = match config.channels.email.as_str() {
        "smtp" => Box::new(smtp_channel(&config)?),
        _ => Box::new(FileEmailChannel::new(
            out.join("email"),
            config.channels.email_from.clone(),
        )),
    };
    let sms: Box<dyn Channel> = match config.channels.sms.as_str() {
        "kannel" => {
            let k = &config.channels.kannel;
            let password = crate::config::secret(
                &k.password_env,
                "channels.kannel.password_env",
                "channels.sms = \"kannel\", so the sendsms password",
            )?;
            Box::new(kizuna_sms::KannelChannel::new(kizuna_sms::KannelConfig {
                url: k.url.clone(),
                username: k.username.clone(),
                password,
                from: k.from.clone(),
                dlr_url: (!k.dlr_url.is_empty()).then(|| k.dlr_url.clone()),
                timeout: std::time::Duration::from_secs(k.timeout_secs.max(1)),
            }))
        }
        "twilio" => {
            let t = &config.channels.twilio;
            let token = crate::config::secret(
                &t.token_env,
                "channels.twilio.token_env",
                "channels.sms = \"twilio\", so the auth token",
            )?;
            Box::new(kizuna_sms::TwilioChannel::new(kizuna_sms::TwilioConfig {
                base_url: t.base_url.clone(),
                account_sid: t.account_sid.clone(),
                auth_token: token,
                from: t.from.clone(),
                timeout: std::time::Duration::from_secs(t.timeout_secs.max(1)),
            }))
        }
        _ => Box::new(FileSmsChannel::new(out.join("sms"))),
    };
    let c = &config.channels;
    let limit = |channel: Box<dyn Channel>, per_second: f64, concurrency: usize| {
        if per_second == 0.0 && concurrency == 0 {
            channel
        } else {
            Box::new(Limited::new(
                channel,
                Limits {
                    per_second,
                    concurrency,
                },
            )) as Box<dyn Channel>
        }
    };
    let mut channels = vec![
        limit(email, c.email_rate, c.email_concurrency),
        limit(sms, c.sms_rate, c.sms_concurrency),
    ];
    let w = &c.webhook;
    if !w.url.is_empty() {
        let secret = crate::config::secret(
            &w.secret_env,
            "channels.webhook.secret_env",
            "channels.webhook.url is set, so its signing secret",
        )?;
        let webhook = kizuna_webhook::WebhookChannel::new(
            w.url.clone(),
            secret,
            std::time::Duration::from_secs(w.timeout_secs.max(1)),
        );
        channels.push(limit(Box::new(webhook), w.rate, w.concurrency));
    }
    Ok(channels)
}

/// The channels the home configures, by name and address field, built from the same
/// settings as [`channels`] but needing no secret: what a replay sends to, as null
/// channels.
pub fn channel_shapes(
    config: &crate::config::Config,
) -> Vec<(String, kizuna_core::channel::AddressField)> {
    use kizuna_core::channel::AddressField;
    let mut shapes = vec![
        ("email".to_owned(), AddressField::Email),
        ("sms".to_owned(), AddressField::Phone),
    ];
    if !config.channels.webhook.url.is_empty() {
        shapes.push(("webhook".to_owned(), AddressField::CustomerId));
    }
    shapes
}

/// The SMTP channel from `[channels.smtp]`, its password from the environment.
pub fn smtp_channel(config: &crate::config::Config) -> anyhow::Result<kizuna_email::SmtpChannel> {
    let s = &config.channels.smtp;
    let credentials = if s.user.is_empty() {
        None
    } else {
        let password = crate::config::secret(
            &s.password_env,
            "channels.smtp.password_env",
            "channels.smtp.user is set, so the SMTP password",
        )?;
        Some((s.user.clone(), password))
    };
    let none_if_empty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let settings = kizuna_email::SmtpConfig {
        host: s.host.clone(),
        port: s.port,
        security: kizuna_email::Security::parse(&s.security)
            .context("channels.smtp.security must be plain, starttls or tls")?,
        credentials,
        from: config.channels.email_from.clone(),
        reply_to: none_if_empty(&s.reply_to),
        unsubscribe_mailto: none_if_empty(&s.unsubscribe_mailto),
        unsubscribe_url: none_if_empty(&s.unsubscribe_url),
        pool_size: s.pool,
        timeout: std::time::Duration::from_secs(s.timeout_secs.max(1)),
    };
    kizuna_email::SmtpChannel::new(&settings).context("in [channels.smtp] of kizuna.toml")
}

/// `kizuna channels check`: each configured channel, reachable or why not.
pub fn channels_check(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let channels = channels(home)?;
    let results: Vec<(String, String, Result<(), String>)> = channels
        .iter()
        .map(|c| (c.name().to_owned(), c.describe(), c.check()))
        .collect();
    let failed = results.iter().filter(|(_, _, r)| r.is_err()).count();
    if json {
        let list: Vec<_> = results
            .iter()
            .map(|(name, target, r)| {
                serde_json::json!({"channel": name, "target": target, "ok": r.is_ok(), "error": r.as_ref().err()})
            })
            .collect();
        print_json(&list)?;
    } else {
        for (name, target, r) in &results {
            match r {
                Ok(()) => println!("ok    {name}: {target}"),
                Err(e) => println!("FAIL  {name}: {e}"),
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The dispatcher for a home: its configured channels, templates from the rules.
pub fn dispatcher(home: &Home, rules: Option<&Path>) -> anyhow::Result<Dispatcher> {
    let channels = channels(home)?;
    Ok(Dispatcher::new(
        channels,
        home.rules_dir_or(rules).join("templates"),
        RetryPolicy::default(),
    ))
}

/// Sends what is due.
pub fn dispatch(ctx: &mut Ctx, o: &mut Out, args: &DispatchArgs) -> anyhow::Result<ExitCode> {
    let (store, dispatcher) = ctx.store_and_dispatcher()?;
    let now = args.now.unwrap_or_else(Timestamp::now);
    // `run` flushes before it returns.
    let report = dispatcher.run(store, now)?;
    tracing::info!(considered = report.considered, "dispatch");
    if args.json {
        o.json(&report)?;
    } else {
        let outcomes: Vec<String> = report
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(
            o.stdout,
            "{now}: {} message(s): {}",
            report.considered,
            outcomes.join(", ")
        )?;
        for (guard, n) in &report.by_guard {
            writeln!(o.stdout, "  {guard}: {n}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kizuna outbox list|retry`.
pub fn outbox(ctx: &mut Ctx, o: &mut Out, command: &OutboxCommand) -> anyhow::Result<ExitCode> {
    match command {
        OutboxCommand::List {
            status,
            customer,
            json,
        } => {
            const STATES: [&str; 7] = [
                "pending",
                "sending",
                "deferred",
                "suppressed",
                "failed",
                "dead",
                "sent",
            ];
            if let Some(s) = status
                && !STATES.contains(&s.as_str())
            {
                bail!("unknown status {s:?}; states are {}", STATES.join(", "));
            }
            let store = ctx.store()?;
            let messages: Vec<_> = store
                .outbox()?
                .into_iter()
                .filter(|m| status.as_ref().is_none_or(|s| m.status.name() == s))
                .filter(|m| customer.as_ref().is_none_or(|c| m.customer.as_str() == c))
                .collect();
            if *json {
                o.json(&messages)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = Table::new(&[
                ("id", Align::Left),
                ("customer", Align::Left),
                ("channel", Align::Left),
                ("template", Align::Left),
                ("class", Align::Left),
                ("status", Align::Left),
                ("detail", Align::Left),
            ]);
            for m in &messages {
                let detail = match &m.status {
                    MessageStatus::Deferred {
                        until,
                        guard,
                        reason,
                    } => format!("until {until} by {guard}: {reason}"),
                    MessageStatus::Suppressed { guard, reason } => format!("by {guard}: {reason}"),
                    MessageStatus::Failed { retry_at, error } => {
                        format!("retry {retry_at}: {error}")
                    }
                    MessageStatus::Dead { reason } => reason.clone(),
                    MessageStatus::Sent { at, receipt } => format!("{at} {receipt}"),
                    MessageStatus::Sending { since } => format!("since {since}"),
                    MessageStatus::Pending => String::new(),
                };
                let class = m.class.as_str().to_owned();
                t.row(vec![
                    m.id.to_string(),
                    m.customer.to_string(),
                    m.channel.clone(),
                    m.template.clone(),
                    class,
                    m.status.name().into(),
                    detail,
                ]);
            }
            write!(o.stdout, "{}", t.render())?;
            writeln!(o.stdout, "{} message(s)", messages.len())?;
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Retry { id, json } => {
            let id: MessageId = id.parse().map_err(anyhow::Error::msg)?;
            let store = ctx.store()?;
            let Some(mut message) = store.message(id)? else {
                return Err(NotFound(format!("no message {id}")).into());
            };
            if matches!(
                message.status,
                MessageStatus::Sent { .. } | MessageStatus::Sending { .. }
            ) {
                bail!(
                    "{id} is {}; only unsent messages can be retried",
                    message.status.name()
                );
            }
            message.status = MessageStatus::Pending;
            message.attempts = 0;
            store.update_message(&message)?;
            if *json {
                o.json(&serde_json::json!({"id": id.to_string(), "status": "pending"}))?;
            } else {
                writeln!(
                    o.stdout,
                    "{id} is pending again; `kizuna dispatch` will take it (through the guards)"
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Queues one message as a `send_request` event.
pub fn send(ctx: &mut Ctx, o: &mut Out, args: &SendArgs) -> anyhow::Result<ExitCode> {
    CustomerId::new(&args.customer).with_context(|| format!("customer id {:?}", args.customer))?;
    let mut vars = Map::new();
    for pair in &args.vars {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("--var {pair:?} is not KEY=VALUE"))?;
        vars.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let mut obj = Map::new();
    obj.insert("customer".into(), Value::String(args.customer.clone()));
    obj.insert("type".into(), SEND_REQUEST.into());
    obj.insert(
        "at".into(),
        Value::String(args.at.unwrap_or_else(Timestamp::now).to_string()),
    );
    obj.insert("channel".into(), Value::String(args.channel.clone()));
    obj.insert("template".into(), Value::String(args.template.clone()));
    obj.insert("class".into(), Value::String(args.class.clone()));
    obj.insert("vars".into(), Value::Object(vars));
    if args.force {
        let reason = args.reason.clone().unwrap_or_default();
        obj.insert("force_reason".into(), Value::String(reason));
    }
    let event = match Event::from_json(obj) {
        Ok(e) => e,
        Err(errors) => {
            for e in &errors {
                writeln!(o.stderr, "error: {e}")?;
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let store = ctx.store_with_rules()?;
    if store.customer(&event.customer)?.is_none() {
        return Err(NotFound(format!("no customer {}", event.customer)).into());
    }
    store.append(std::slice::from_ref(&event))?;
    store.flush()?;
    if args.json {
        o.json(&serde_json::json!({
            "queued": args.template, "customer": args.customer, "channel": args.channel,
            "class": args.class, "forced": args.force, "event": event.id,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        o.stdout,
        "queued {} for {} on {}{}; `kizuna dispatch` sends it",
        args.template,
        args.customer,
        args.channel,
        if args.force {
            " (forced past the guards)"
        } else {
            ""
        }
    )?;
    Ok(ExitCode::SUCCESS)
}

/// One line of `report guards`: messages grouped by what happened to them and where.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
struct GuardRow {
    outcome: String,
    guard: String,
    reason: String,
    channel: String,
    campaign: String,
    template: String,
}

/// Messages by outcome and guard, per channel, campaign and template.
pub fn report_guards(
    ctx: &mut Ctx,
    o: &mut Out,
    since: Option<Timestamp>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let mut rows: BTreeMap<GuardRow, u64> = BTreeMap::new();
    for m in store.outbox()? {
        if since.is_some_and(|s| m.created < s) {
            continue;
        }
        let (guard, reason) = match &m.status {
            MessageStatus::Deferred { guard, reason, .. }
            | MessageStatus::Suppressed { guard, reason } => (guard.clone(), reason.clone()),
            _ => (String::new(), String::new()),
        };
        let outcome = match &m.status {
            MessageStatus::Sent { .. } => "allowed (sent)".to_owned(),
            other => other.name().to_owned(),
        };
        let row = GuardRow {
            outcome,
            guard,
            reason,
            channel: m.channel.clone(),
            campaign: m.campaign.clone().unwrap_or_default(),
            template: m.template.clone(),
        };
        *rows.entry(row).or_default() += 1;
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(row, n)| {
                let mut v = serde_json::to_value(row).unwrap_or_default();
                v["messages"] = (*n).into();
                v
            })
            .collect();
        o.json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("outcome", Align::Left),
        ("guard", Align::Left),
        ("reason", Align::Left),
        ("channel", Align::Left),
        ("campaign", Align::Left),
        ("template", Align::Left),
        ("messages", Align::Right),
    ]);
    for (row, n) in rows {
        let campaign = if row.campaign.is_empty() {
            "-".to_owned()
        } else {
            row.campaign
        };
        t.row(vec![
            row.outcome,
            row.guard,
            row.reason,
            row.channel,
            campaign,
            row.template,
            thousands(n),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    Ok(ExitCode::SUCCESS)
}
