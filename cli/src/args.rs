//! The command line, as clap types. Only parsing lives here; each command's behaviour is in
//! `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;

/// kizuna: the customer-relationship engine that keeps every interaction as an event.
#[derive(Debug, Parser)]
#[command(name = "kizuna", version, about, long_about = None)]
pub struct Cli {
    /// The kizuna home: kizuna.toml, the database and the rules.
    /// Default: $KIZUNA_HOME, else ./kizuna-data.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Rules directory to use instead of the home's `rules/`.
    #[arg(long, global = true, value_name = "DIR")]
    pub rules: Option<PathBuf>,

    /// How logs (stderr) look: `text` (one line per record), `pretty` (multi-line, for a
    /// person at a terminal) or `json` (one object per line, for a log collector).
    /// Levels come from RUST_LOG (default: info for `run`, warnings otherwise).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Open the home in this process even if a daemon holds it (which then fails with
    /// "in use"). Without it, a command on a home held by `kizuna run` is carried out by
    /// that daemon, with the same output.
    #[arg(long, global = true)]
    pub offline: bool,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// tracing's default: one line per record.
    Text,
    /// Multi-line records with their spans, for reading at a terminal.
    Pretty,
    /// Newline-delimited JSON with the span fields (request id), for log collectors.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a home: kizuna.toml, an empty database, and rules/ with the default pack.
    Init,
    /// Is a daemon running on this home (since when, version, rules, last reload error),
    /// and the home's figures: events, customers, queue, timers due, open alerts.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import events (.jsonl) and customers (.csv). Nothing is imported if any line is bad,
    /// unless --skip-invalid.
    Import(ImportArgs),
    /// Copy the home (configuration, rules, database) into DEST, consistently, also while
    /// a daemon runs; the copy is opened and checked.
    Backup {
        /// A new or empty directory.
        dest: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into a new or empty home, and check it.
    Restore {
        /// A directory made by `kizuna backup`.
        src: PathBuf,
    },
    /// Write every event as JSON lines in the import format, oldest append first (erased
    /// customers stay erased): `kizuna import` of it into an empty home gives the same
    /// customers, and sends nothing already sent.
    Export {
        /// Only events that happened at or after this time.
        #[arg(long, value_name = "RFC3339")]
        since: Option<Timestamp>,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Verify the home's database: every block readable, the indexes consistent with the
    /// log, a sample of projections equal to a re-fold of their events. Exit 1 if not.
    Check {
        /// How many customers to re-fold.
        #[arg(long, default_value_t = 100)]
        sample: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add or inspect single events.
    #[command(subcommand)]
    Event(EventCommand),
    /// Look at or erase customers.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Recompute RFM scores for all customers and print the segment table.
    Rfm(RfmArgs),
    /// Audiences: the RFM segments and the predicates in rules/segments/.
    #[command(subcommand)]
    Segment(SegmentCommand),
    /// One-off campaigns to a segment, through the guards.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Run the daemon: HTTP ingest, timers and dispatch, until SIGTERM.
    Run(RunArgs),
    /// The configured channels (e-mail, SMS).
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// Send due outbox messages: render, ask the guards, hand to the channel.
    Dispatch(DispatchArgs),
    /// Look at or retry queued messages.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Queue one message by hand; it still passes the guards unless --force.
    Send(SendArgs),
    /// Reports over the store.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Fire every timer that is due (tier reviews, reply-due alarms, …) and run `on_timer`.
    Tick(TickArgs),
    /// Staff alerts raised by the rules (e.g. an inquiry unanswered for a day).
    Alerts(AlertsArgs),
    /// Check, test and inspect the rules (Rhai scripts).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Loyalty points.
    #[command(subcommand)]
    Points(PointsCommand),
    /// Generate a sample business, import it and summarise it.
    Demo(DemoArgs),
    /// Print the OpenAPI document of the daemon's HTTP API (as `/v1/openapi.json` serves
    /// it; checked into docs/openapi.json).
    Openapi,
    /// Measure performance.
    ///
    /// Each bench builds a scratch home under $TMPDIR (default /tmp) and removes it
    /// afterwards: set TMPDIR to measure another disk. On ext4, a run that starts minutes
    /// after another run's cleanup pays for the freed inodes (see the README).
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `kizuna import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import: `.jsonl`/`.ndjson` events or `.csv` customers
    /// (header: id,name,email,phone,kind,tz,birthday[,business_hours]).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Import the good lines and write the bad ones, with reasons, to --rejects.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Where --skip-invalid writes rejected lines (JSON lines with file, line, errors, record).
    #[arg(long, value_name = "FILE", default_value = "kizuna-rejects.jsonl")]
    pub rejects: PathBuf,
    /// Time of the profile events made from CSV rows (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<Timestamp>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna event ...`.
#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Add one event. Extra attributes as key=value; values that parse as JSON (numbers,
    /// arrays, true/false) are stored as such, everything else as text.
    Add(EventAddArgs),
}

/// `kizuna event add`.
#[derive(Debug, Args)]
pub struct EventAddArgs {
    /// The customer's id.
    #[arg(long)]
    pub customer: String,
    /// Event type: profile, purchase, inquiry, complaint, reply, contact, decline, opt_in,
    /// opt_out, or any other lower_case name.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: String,
    /// When it happened, RFC 3339 with offset (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Event id (default: derived from the content).
    #[arg(long)]
    pub id: Option<String>,
    /// Attributes, e.g. amount=4800 'items=["beans-500g"]' channel=email.
    #[arg(value_name = "KEY=VALUE")]
    pub attrs: Vec<String>,
    /// Print the stored event as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna customer ...`.
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// List customers, optionally filtered.
    List(CustomerListArgs),
    /// Show one customer: profile, consent, stats, RFM and the last 20 events.
    Show(CustomerShowArgs),
    /// Delete every event and all data of a customer, then compact the database so none of
    /// it stays on disk.
    Erase(CustomerEraseArgs),
}

/// `kizuna customer list`.
#[derive(Debug, Args)]
pub struct CustomerListArgs {
    /// Only customers in this RFM segment (champions, loyal, new, promising, cant_lose,
    /// at_risk, hibernating, prospect).
    #[arg(long)]
    pub segment: Option<String>,
    /// Only customers with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only customers whose id, name, e-mail or phone contains this text (any case).
    #[arg(long)]
    pub search: Option<String>,
    /// Skip this many matching customers (in id order), for paging.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Show at most this many.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna customer show`.
#[derive(Debug, Args)]
pub struct CustomerShowArgs {
    /// The customer's id.
    pub id: String,
    /// How many of the latest events to show.
    #[arg(long, default_value_t = 20)]
    pub events: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna customer erase`.
#[derive(Debug, Args)]
pub struct CustomerEraseArgs {
    /// The customer's id.
    pub id: String,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna rfm`.
#[derive(Debug, Args)]
pub struct RfmArgs {
    /// The moment recency is measured from (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many customers the sample business has.
    #[arg(long, default_value_t = 500)]
    pub customers: usize,
    /// Seed of the generator; the same seed and --now give the same business.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The end of the sample year (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
}

/// `kizuna dispatch`.
#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Dispatch as of this time (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
    /// One pass over the due messages, then exit: what `dispatch` always does (kept for
    /// scripts that say so). The daemon, `kizuna run`, dispatches continuously.
    #[arg(long)]
    pub once: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna outbox ...`.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List messages.
    List(OutboxListArgs),
    /// Put a failed, dead, suppressed or deferred message back in the queue (it passes the
    /// guards again).
    Retry {
        /// Message id, e.g. m-12-0.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `kizuna outbox list`: which messages, in which order, which page.
#[derive(Debug, Args, Default, Clone)]
pub struct OutboxListArgs {
    /// Only this state: pending, sending, deferred, suppressed, failed, dead, sent.
    #[arg(long)]
    pub status: Option<String>,
    /// Only this customer.
    #[arg(long)]
    pub customer: Option<String>,
    /// Only this channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Only this campaign.
    #[arg(long)]
    pub campaign: Option<String>,
    /// Only messages this guard suppressed or deferred (e.g. guards/consent.rhai).
    #[arg(long)]
    pub guard: Option<String>,
    /// Only messages queued at or after this time (RFC 3339 with offset).
    #[arg(long)]
    pub since: Option<Timestamp>,
    /// Only messages queued before this time.
    #[arg(long)]
    pub until: Option<Timestamp>,
    /// Newest first (default: oldest first).
    #[arg(long)]
    pub newest_first: bool,
    /// Skip this many matching messages, for paging.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Show at most this many.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The customer.
    #[arg(long)]
    pub customer: String,
    /// Channel: email or sms.
    #[arg(long)]
    pub channel: String,
    /// Template name (rules/templates/<template>.<channel>).
    #[arg(long)]
    pub template: String,
    /// marketing (default), transactional or service.
    #[arg(long, default_value = "marketing")]
    pub class: String,
    /// Template variables, key=value.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Skip the guards; needs --reason, which is recorded with the message.
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the guards are skipped.
    #[arg(long)]
    pub reason: Option<String>,
    /// When the request is made (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<Timestamp>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna report ...`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Messages allowed (sent), deferred and suppressed, per guard and reason, channel and
    /// template.
    Guards {
        /// Only messages queued at or after this time.
        #[arg(long, value_name = "RFC3339")]
        since: Option<Timestamp>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The 5×5 grid of recency × frequency scores: customers and revenue per cell (scores
    /// from the last `kizuna rfm`).
    Rfm {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Print CSV (r,f,customers,revenue).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Relationship KPIs: contacts, reply and reaction rates, inquiries, purchases and
    /// revenue credited to contacts (last touch within [kpi] window_days).
    Kpi(KpiArgs),
    /// How long customers wait: time to the first staff reply per inquiry and complaint
    /// (p50, p90, max, share answered within 24 h), by month or by staff member (a reply's
    /// `by`).
    Response(ResponseArgs),
    /// Does the mail arrive and is it wanted: sent, delivered, bounced (hard, soft), spam
    /// complaints and unsubscribes, by campaign or by month sent, with rates.
    Deliverability(DeliverabilityArgs),
}

/// `kizuna report deliverability`.
#[derive(Debug, Args)]
pub struct DeliverabilityArgs {
    /// Events at or after this time.
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<Timestamp>,
    /// Events before this time.
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<Timestamp>,
    /// Group rows by campaign or by the month sent ([kpi] tz).
    #[arg(long, value_enum, default_value = "campaign")]
    pub by: DeliverabilityByArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// How `report deliverability` groups its rows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DeliverabilityByArg {
    /// The campaign of the message.
    Campaign,
    /// The month the message was sent.
    Month,
}

/// `kizuna report response`.
#[derive(Debug, Args)]
pub struct ResponseArgs {
    /// Questions asked at or after this time.
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<Timestamp>,
    /// Questions asked before this time.
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<Timestamp>,
    /// Group rows by the month asked ([kpi] tz) or the staff member who answered.
    #[arg(long, value_enum, default_value = "month")]
    pub by: ResponseByArg,
    /// The time open questions are measured to (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// How `report response` groups its rows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ResponseByArg {
    /// The month the question was asked.
    Month,
    /// The staff member who answered first.
    Staff,
}

/// `kizuna report kpi`.
#[derive(Debug, Args)]
pub struct KpiArgs {
    /// Contacts made at or after this time.
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<Timestamp>,
    /// Contacts made before this time.
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<Timestamp>,
    /// Group rows by campaign, channel or month.
    #[arg(long, value_enum, default_value = "campaign")]
    pub by: KpiBy,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print CSV.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

/// How `report kpi` groups its rows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KpiBy {
    /// The message's campaign.
    Campaign,
    /// The channel.
    Channel,
    /// The month of the contact.
    Month,
}

/// `kizuna tick`.
#[derive(Debug, Args)]
pub struct TickArgs {
    /// Fire timers due up to this time (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
    /// Do not recompute RFM even if the last pass is over a day old.
    #[arg(long)]
    pub no_rfm: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna alerts`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    /// Take up or close an alert (without one: list them).
    #[command(subcommand)]
    pub action: Option<AlertAction>,
    /// Only open alerts: the customer still has an inquiry or complaint, raised no later
    /// than the alert, unanswered; or staff have not replied to or contacted the customer
    /// (a `reply` or `contact` event) since the alert.
    #[arg(long)]
    pub open: bool,
    /// Highest priority first (e.g. top-customer check-ins by revenue), then oldest.
    #[arg(long)]
    pub by_priority: bool,
    /// Show at most this many (after sorting).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna alerts ack|resolve`.
#[derive(Debug, Subcommand)]
pub enum AlertAction {
    /// Acknowledge an alert: someone is on it. Recorded as an `alert_acked` event.
    Ack(AlertHandleArgs),
    /// Resolve an alert: it is no longer open. Recorded as an `alert_resolved` event; an
    /// inquiry behind it stays open until a `reply`.
    Resolve(AlertHandleArgs),
    /// Show one alert.
    Show(AlertShowArgs),
}

/// The alert to show.
#[derive(Debug, Args)]
pub struct AlertShowArgs {
    /// The alert's id (`a-123-0`, as `kizuna alerts` lists it).
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The alert and who handled it.
#[derive(Debug, Args)]
pub struct AlertHandleArgs {
    /// The alert's id (`a-123-0`, as `kizuna alerts` lists it).
    pub id: String,
    /// The staff member.
    #[arg(long)]
    pub by: Option<String>,
    /// What was done.
    #[arg(long)]
    pub note: Option<String>,
    /// When (default: now).
    #[arg(long)]
    pub at: Option<jiff::Timestamp>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Compile every script; report errors with file:line:col; exit 1 on any.
    Check {
        /// Rules directory (default: --rules, else the home's rules/).
        dir: Option<PathBuf>,
        /// Print the result as JSON (errors with file, line, column).
        #[arg(long)]
        json: bool,
    },
    /// Run the fixtures (`*.test.json`) next to the scripts; exit 1 if any case fails.
    Test {
        /// Rules directory (default: --rules, else the home's rules/).
        dir: Option<PathBuf>,
        /// Load only this script (e.g. `campaigns/winback.rhai`, relative to the rules
        /// directory) and run only its fixture file.
        #[arg(long, value_name = "FILE")]
        only: Option<PathBuf>,
        /// Print results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the rules reference (Markdown): every function, action, helper and field a
    /// script can use, with its type and one example (docs/rules-reference.md).
    Doc,
    /// Write Rhai definition files (`*.d.rhai`) for editors into DIR: kizuna's functions,
    /// and the modules the rules import (when the rules compile).
    Defs {
        /// Where to write them (created if missing).
        dir: PathBuf,
    },
    /// List rule errors recorded while processing events.
    Errors {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask the running daemon to reload its rules now (they must compile and pass their
    /// fixtures, or the running set stays).
    Reload {
        /// The daemon's address (default: [server] listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Re-run the recorded history through candidate rules in a scratch store and show
    /// what would change against the live rules. Sends nothing, changes nothing.
    Replay(ReplayArgs),
}

/// `kizuna rules replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The candidate rules directory (default: the live rules, replayed against themselves).
    #[arg(long, value_name = "DIR")]
    pub scripts: Option<PathBuf>,
    /// Count differences in messages and alerts from this time on (the whole history is
    /// still replayed, so balances are right).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<Timestamp>,
    /// Replay events up to this time and run the clock to it (default: every event, and
    /// the clock on to now, so timers due after the last event fire and their messages go).
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<Timestamp>,
    /// "Now" for the default end of the replay.
    #[arg(long, value_name = "RFC3339", conflicts_with = "until")]
    pub now: Option<Timestamp>,
    /// How many of the largest point differences to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna points ...`.
#[derive(Debug, Subcommand)]
pub enum PointsCommand {
    /// A customer's balance, lots with expiry, and point history.
    Show {
        /// The customer's id.
        id: String,
        /// Balance as of this time (default: now).
        #[arg(long, value_name = "RFC3339")]
        at: Option<Timestamp>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `kizuna bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Import N generated events over N/20 customers into a fresh store; report events/s
    /// and peak memory. No rules run: this is the raw store figure.
    Ingest(BenchIngestArgs),
    /// The same import with the rules (default: the built-in pack) evaluated on every
    /// event; report events/s and per-event latency percentiles.
    Rules(BenchIngestArgs),
    /// Queue one marketing message to each of N customers, then time dispatching them all
    /// through the default guards to the file channel.
    Dispatch(BenchDispatchArgs),
    /// Import N generated events, then time a replay of them through the default pack in a
    /// scratch store (timers, guards, null channels).
    Replay(BenchIngestArgs),
    /// Store N customers with consent, then time a campaign to a script segment:
    /// evaluating it for everyone and queueing one message each.
    Campaign(BenchCampaignArgs),
    /// Start the daemon on a scratch home and post N generated events over loopback from
    /// C clients; report acknowledged events/s, request latency and (with --reloads) how
    /// long a saved rules file takes to go live.
    Http(BenchHttpArgs),
}

/// `kizuna bench http`.
#[derive(Debug, Args)]
pub struct BenchHttpArgs {
    /// Events to post (at most; --seconds may stop it first).
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Client threads posting at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Events per request (NDJSON).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Pace the requests at this many events per second (default: as fast as the daemon
    /// acknowledges). Latency is then measured from when each request was due.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop posting after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// After the load, save a rules file this many times and time each until it is live.
    #[arg(long, default_value_t = 0)]
    pub reloads: usize,
    /// Post a year of history (events dated over the past year) instead of live traffic
    /// (the last hour): the daemon then also fires the year's timers and sends their
    /// messages while it ingests, the work a backfill through the API brings.
    #[arg(long)]
    pub history: bool,
    /// Once half the events are acknowledged, run this through the admin socket while the
    /// clients go on posting, and report ingest during it apart: `replay` (of the history
    /// ingested so far, through the default pack) or `campaign` (to every customer with
    /// e-mail consent).
    #[arg(long, value_parser = ["replay", "campaign"])]
    pub during: Option<String>,
    /// After the load, time this many `customer show` commands answered by the daemon over
    /// its admin socket.
    #[arg(long, default_value_t = 0)]
    pub probe_show: usize,
    /// This many staff browsers poll the console's inbox (every 3 s, logged in) during the
    /// load.
    #[arg(long, default_value_t = 0)]
    pub console: usize,
    /// After the load, time this many loads each of the console's inbox, a customer page and
    /// the outbox page.
    #[arg(long, default_value_t = 0)]
    pub console_pages: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna bench campaign`.
#[derive(Debug, Args)]
pub struct BenchCampaignArgs {
    /// Customers.
    #[arg(long, default_value_t = 1_000_000)]
    pub customers: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna bench dispatch`.
#[derive(Debug, Args)]
pub struct BenchDispatchArgs {
    /// Messages (one per customer).
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Channel: `file` (.eml files) or `smtp` (a running server, see --smtp).
    #[arg(long, default_value = "file", value_parser = ["file", "smtp"])]
    pub channel: String,
    /// The SMTP server for `--channel smtp` (plain SMTP, e.g. a local relay or aiosmtpd).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:2525")]
    pub smtp: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna bench ingest`.
#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    /// Events to generate and import.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Customers (default: events / 20).
    #[arg(long)]
    pub customers: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna segment ...`.
#[derive(Debug, Subcommand)]
pub enum SegmentCommand {
    /// Every segment (built-in RFM segments and rules/segments/*.rhai) with its size.
    List {
        /// Evaluate as of this time (default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<Timestamp>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The customers in one segment.
    Show {
        /// Segment name: an RFM segment (champions, at_risk, …) or a file in rules/segments/.
        name: String,
        /// Evaluate as of this time (default: now).
        #[arg(long, value_name = "RFC3339")]
        now: Option<Timestamp>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `kizuna campaign ...`.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Queue one message to every customer in a segment; `kizuna dispatch` sends them
    /// through the guards.
    Run(CampaignRunArgs),
}

/// `kizuna campaign run`.
#[derive(Debug, Args)]
pub struct CampaignRunArgs {
    /// Campaign name (carried by every message, shown in reports).
    pub name: String,
    /// The audience: an RFM segment or a file in rules/segments/.
    #[arg(long)]
    pub segment: String,
    /// Template (default: the campaign name).
    #[arg(long)]
    pub template: Option<String>,
    /// Channel: email or sms.
    #[arg(long, default_value = "email")]
    pub channel: String,
    /// marketing (default), transactional or service.
    #[arg(long, default_value = "marketing")]
    pub class: String,
    /// Template variables, key=value.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// When the campaign runs (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
    /// Queue nothing: show who would get it and what the guards would say now.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kizuna channels ...`.
#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Validate the configuration and connect to each channel; exit 1 if any fails.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the channel types this binary has (a section's `type`), each with what it is.
    Types,
    /// Answer the channels' open callbacks without a daemon, for a bounded time: delivery
    /// reports (Kannel's dlr-url: /channels/sms/dlr?id=ID&type=%d) become
    /// message_delivered / message_failed events.
    Receipts {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8641")]
        listen: String,
        /// Stop after this many callbacks answered 200.
        #[arg(long, default_value_t = usize::MAX)]
        max: usize,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

/// `kizuna run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on (default: [server] listen, 127.0.0.1:8640).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Fire timers and send messages only when told (`kizuna tick`, `kizuna dispatch`),
    /// not every second: to look at a backlog after downtime, or hold every send while a
    /// template is fixed, and still take events.
    #[arg(long)]
    pub manual_clock: bool,
}
