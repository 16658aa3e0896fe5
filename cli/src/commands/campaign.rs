//! `kizuna segment list|show` and `kizuna campaign run`.

use std::{path::Path, process::ExitCode, sync::Arc};

use anyhow::{Context, bail};
use jiff::Timestamp;
use kizuna_core::{
    campaign::{Audience, Campaign, Selection},
    dispatch::Preview,
    rfm::Segment,
    rules::{MessageClass, RuleSet},
    store::{MessageStatus, OutboxMessage},
};
use serde_json::{Map, Value};

use crate::{
    args::CampaignRunArgs,
    context::{Ctx, Out},
    table::{Align, Table, thousands},
};

/// The segments a home knows: its `rules/segments/*.rhai`, then the built-in RFM ones.
struct Segments {
    scripts: Arc<RuleSet>,
}

impl Segments {
    fn load(dir: &Path) -> anyhow::Result<Self> {
        let scripts = RuleSet::load_segments(dir)
            .with_context(|| format!("loading segments from {}", dir.join("segments").display()))?;
        Ok(Self {
            scripts: Arc::new(scripts),
        })
    }

    /// Script segments by short name (`vip` for `segments/vip.rhai`).
    fn script_names(&self) -> Vec<String> {
        self.scripts
            .predicates()
            .map(|s| short_name(s).to_owned())
            .collect()
    }

    /// Resolves a name: a script segment first (a file may refine a built-in name), then an
    /// RFM segment.
    fn audience(&self, name: &str) -> anyhow::Result<Audience> {
        let script = format!("segments/{name}.rhai");
        if self.scripts.predicates().any(|s| s == script) {
            return Ok(Audience::Predicate {
                rules: Arc::clone(&self.scripts),
                script,
            });
        }
        if let Some(segment) = Segment::parse(name) {
            return Ok(Audience::Rfm(segment));
        }
        let mut known: Vec<String> = Segment::ALL.iter().map(|s| s.as_str().into()).collect();
        known.extend(self.script_names());
        bail!(
            "unknown segment {name:?}; segments are {}",
            known.join(", ")
        )
    }
}

fn short_name(script: &str) -> &str {
    script
        .trim_start_matches("segments/")
        .trim_end_matches(".rhai")
}

fn report_errors(o: &mut Out, selection: &Selection) -> anyhow::Result<()> {
    for e in &selection.errors {
        writeln!(o.stderr, "warning: {e} (customer left out)")?;
    }
    if selection.failed > selection.errors.len() as u64 {
        writeln!(
            o.stderr,
            "warning: … {} more customers left out by failing predicates",
            selection.failed - selection.errors.len() as u64
        )?;
    }
    Ok(())
}

/// `kizuna segment list`.
pub fn segment_list(
    ctx: &mut Ctx,
    o: &mut Out,
    now: Option<Timestamp>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let segments = Segments::load(&ctx.rules_dir())?;
    let store = ctx.store()?;
    let now = now.unwrap_or_else(Timestamp::now);
    let mut rows = Vec::new();
    let mut names: Vec<(String, &str)> = segments
        .script_names()
        .into_iter()
        .map(|n| (n, "script"))
        .collect();
    names.extend(Segment::ALL.iter().map(|s| (s.as_str().to_owned(), "rfm")));
    let audiences = names
        .iter()
        .map(|(name, _)| segments.audience(name))
        .collect::<Result<Vec<_>, _>>()?;
    let selections = kizuna_core::campaign::Audience::select_each(&audiences, store, now)?;
    for ((name, kind), selection) in names.into_iter().zip(selections) {
        report_errors(o, &selection)?;
        rows.push(serde_json::json!({
            "segment": name, "kind": kind, "customers": selection.members.len(),
            "failed": selection.failed,
        }));
    }
    if json {
        o.json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("segment", Align::Left),
        ("kind", Align::Left),
        ("customers", Align::Right),
    ]);
    for r in &rows {
        t.row(vec![
            r["segment"].as_str().unwrap_or_default().to_owned(),
            r["kind"].as_str().unwrap_or_default().to_owned(),
            thousands(r["customers"].as_u64().unwrap_or_default()),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    Ok(ExitCode::SUCCESS)
}

/// `kizuna segment show NAME`.
pub fn segment_show(
    ctx: &mut Ctx,
    o: &mut Out,
    name: &str,
    now: Option<Timestamp>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let segments = Segments::load(&ctx.rules_dir())?;
    let audience = segments.audience(name)?;
    let store = ctx.store()?;
    let now = now.unwrap_or_else(Timestamp::now);
    let selection = audience.select(store, now)?;
    report_errors(o, &selection)?;
    if json {
        o.json(&serde_json::json!({
            "segment": name, "customers": selection.members, "examined": selection.examined,
            "failed": selection.failed,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        ("id", Align::Left),
        ("orders", Align::Right),
        ("revenue", Align::Right),
        ("last order", Align::Left),
        ("rfm", Align::Left),
    ]);
    for id in &selection.members {
        let Some(c) = store.customer_shared(id)? else {
            continue;
        };
        t.row(vec![
            c.id.to_string(),
            thousands(c.stats.orders),
            thousands(c.stats.revenue),
            c.stats
                .last_order
                .map(|t| t.to_string())
                .unwrap_or_default(),
            c.segment().map(|s| s.to_string()).unwrap_or_default(),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    writeln!(
        o.stdout,
        "{} of {} customers in {name}",
        thousands(selection.members.len() as u64),
        thousands(selection.examined)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn parse_vars(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut vars = Map::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("--var {pair:?} is not KEY=VALUE"))?;
        vars.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    Ok(vars)
}

/// `kizuna campaign run NAME --segment S`.
pub fn run(ctx: &mut Ctx, o: &mut Out, args: &CampaignRunArgs) -> anyhow::Result<ExitCode> {
    let class = MessageClass::parse(&args.class).with_context(|| {
        format!(
            "--class {:?} is not marketing, transactional or service",
            args.class
        )
    })?;
    let campaign = Campaign {
        name: args.name.clone(),
        channel: args.channel.clone(),
        template: args.template.clone().unwrap_or_else(|| args.name.clone()),
        class,
        vars: parse_vars(&args.vars)?,
    };
    // Before touching a million customers: the message must be renderable at all.
    let rules_dir = ctx.rules_dir();
    let template = rules_dir
        .join("templates")
        .join(format!("{}.{}", campaign.template, campaign.channel));
    if !template.is_file() {
        bail!(
            "no template {} (a campaign's template is rules/templates/<template>.<channel>)",
            template.display()
        );
    }
    let segments = Segments::load(&rules_dir)?;
    let audience = segments.audience(&args.segment)?;
    let now = args.now.unwrap_or_else(Timestamp::now);
    if args.dry_run {
        let (store, dispatcher) = ctx.store_and_dispatcher()?;
        let selection = audience.select(store, now)?;
        report_errors(o, &selection)?;
        let drafts = campaign.draft(&selection.members, now);
        let preview = dispatcher.preview(store, &drafts, now)?;
        return dry_run(o, &campaign, &selection, &drafts, &preview, args.json);
    }
    // In chunks: a daemon stores the events that arrive meanwhile between them, so its
    // chunks are small; offline nothing waits, and large chunks are cheaper.
    let chunk = if ctx.is_daemon() {
        kizuna_core::campaign::CHUNK_BESIDE_INGEST
    } else {
        usize::MAX
    };
    let (store, rules, between) = ctx.store_between_chunks()?;
    let (selection, queued) =
        campaign.select_and_queue_between(store, &rules, &audience, now, chunk, between)?;
    report_errors(o, &selection)?;
    tracing::info!(campaign = %campaign.name, queued = queued.queued, "campaign queued");
    if args.json {
        o.json(&serde_json::json!({
            "campaign": campaign.name, "segment": args.segment,
            "members": selection.members.len(), "failed": selection.failed,
            "queued": queued.queued, "duplicates": queued.duplicates,
            "rule_errors": queued.rule_errors,
        }))?;
    } else {
        writeln!(
            o.stdout,
            "campaign {}: {} customer(s) in {}; queued {}{}; `kizuna dispatch` sends them through the guards",
            campaign.name,
            thousands(selection.members.len() as u64),
            args.segment,
            thousands(queued.queued),
            if queued.duplicates > 0 {
                format!(
                    " ({} already queued at this time)",
                    thousands(queued.duplicates)
                )
            } else {
                String::new()
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn dry_run(
    o: &mut Out,
    campaign: &Campaign,
    selection: &Selection,
    drafts: &[OutboxMessage],
    preview: &Preview,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let who = drafts.iter().zip(&preview.each);
    if json {
        let recipients: Vec<Value> = who
            .map(|(m, status)| {
                serde_json::json!({"customer": m.customer, "channel": m.channel, "outcome": status})
            })
            .collect();
        o.json(&serde_json::json!({
            "campaign": campaign.name, "dry_run": true,
            "members": selection.members.len(), "failed": selection.failed,
            "guards_now": preview.report, "recipients": recipients,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        o.stdout,
        "dry run of campaign {}: {} customer(s) would be queued; nothing was changed",
        campaign.name,
        thousands(selection.members.len() as u64)
    )?;
    let mut t = Table::new(&[
        ("customer", Align::Left),
        ("channel", Align::Left),
        ("if dispatched now", Align::Left),
    ]);
    for (m, status) in who {
        t.row(vec![
            m.customer.to_string(),
            m.channel.clone(),
            outcome_text(status),
        ]);
    }
    write!(o.stdout, "{}", t.render())?;
    writeln!(o.stdout, "if dispatched now:")?;
    for (outcome, n) in &preview.report.outcomes {
        let outcome = if outcome == "sent" {
            "would send"
        } else {
            outcome
        };
        writeln!(o.stdout, "  {outcome}: {}", thousands(*n))?;
    }
    for (guard, n) in &preview.report.by_guard {
        writeln!(o.stdout, "  {guard}: {}", thousands(*n))?;
    }
    for (reason, n) in &preview.report.dead {
        writeln!(o.stdout, "  dead, {reason}: {}", thousands(*n))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One recipient's outcome in a dry run, as a person reads it.
fn outcome_text(status: &MessageStatus) -> String {
    match status {
        MessageStatus::Sent { .. } => "would send".into(),
        MessageStatus::Suppressed { guard, reason } => format!("suppressed by {guard}: {reason}"),
        MessageStatus::Deferred {
            until,
            guard,
            reason,
        } => format!("deferred by {guard} until {until}: {reason}"),
        MessageStatus::Dead { reason } => format!("dead: {reason}"),
        other => other.name().to_owned(),
    }
}
