//! The rule authors' reference: every function, action, helper and field a script can use,
//! with its type and one example. `kizuna rules doc` prints it ([`markdown`]), and
//! `docs/rules-reference.md` is that output checked in.
//!
//! Why it stays true: tests below check that every function kizuna registers in the
//! engine (those Rhai's standard package does not have) and every field of `customer`,
//! `customer.stats`, `message` and `event` has an entry, and that every example compiles
//! and passes the static checks inside the entry point it names; a CLI test checks that
//! the checked-in file is the current output.

/// Where an entry belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// What a script defines; when each is called and what `now()` is there.
    EntryPoints,
    /// Declarations read at load.
    Constants,
    /// `event` fields.
    Event,
    /// `customer` fields.
    Customer,
    /// `customer.stats` fields.
    Stats,
    /// `message` fields, in guards.
    Message,
    /// Calls that change something (recorded as effects).
    Actions,
    /// `state.get` / `state.set`.
    State,
    /// Times and durations.
    Time,
    /// Everything else: lookups and tests.
    Helpers,
    /// A guard's answers.
    Verdicts,
}

impl Section {
    const ALL: [Section; 11] = [
        Self::EntryPoints,
        Self::Constants,
        Self::Event,
        Self::Customer,
        Self::Stats,
        Self::Message,
        Self::Actions,
        Self::State,
        Self::Time,
        Self::Helpers,
        Self::Verdicts,
    ];

    fn title(self) -> &'static str {
        match self {
            Self::EntryPoints => "Entry points",
            Self::Constants => "Constants a script declares",
            Self::Event => "`event`",
            Self::Customer => "`customer`",
            Self::Stats => "`customer.stats`",
            Self::Message => "`message` (guards)",
            Self::Actions => "Actions",
            Self::State => "Script state",
            Self::Time => "Times and durations",
            Self::Helpers => "Helpers",
            Self::Verdicts => "Guard verdicts",
        }
    }
}

/// One thing a script can use.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Its section.
    pub section: Section,
    /// The name a script writes (a field, a function, a constant).
    pub name: &'static str,
    /// How it is written, with types.
    pub signature: &'static str,
    /// What it is and does.
    pub doc: &'static str,
    /// One use, as it would stand in the body of `on_event(event, customer)`; `guard: …`
    /// in the body of `guard(message, customer)`, `top: …` at a script's top level.
    pub example: &'static str,
}

const fn e(
    section: Section,
    name: &'static str,
    signature: &'static str,
    doc: &'static str,
    example: &'static str,
) -> Entry {
    Entry {
        section,
        name,
        signature,
        doc,
        example,
    }
}

use Section::*;

/// Every entry, in the order the reference shows them.
pub const ENTRIES: &[Entry] = &[
    // Entry points.
    e(
        EntryPoints,
        "on_event",
        "fn on_event(event, customer)",
        "Called for every event stored (or only those of `EVENT_TYPES`), in the order events arrive — which need not be time order: a late import arrives after newer events. `customer` is the projection with this event folded in and no script's effects yet. `now()` is the event's `at`.",
        "if event.type == \"purchase\" { tag(\"buyer\"); }",
    ),
    e(
        EntryPoints,
        "on_timer",
        "fn on_timer(name, customer, data)",
        "Called when a timer this script set with `schedule` falls due (`kizuna tick`, the daemon's clock, or a replay's). `name` is the timer's name, `data` what was scheduled with it (or `()`). `now()` is the timer's due time.",
        "if name == \"reminder\" { send(\"email\", \"repurchase\", data); }",
    ),
    e(
        EntryPoints,
        "guard",
        "fn guard(message, customer) -> Verdict",
        "Called for every outgoing message just before it is sent; returns `allow()`, `deny(reason)` or `defer(until, reason)`. Any deny wins; a guard that fails denies. Guards may read `state` but not act. `now()` is the dispatch time.",
        "return allow();",
    ),
    e(
        EntryPoints,
        "matches",
        "fn matches(customer) -> bool",
        "In `segments/NAME.rhai` (a segment) or a seasonal campaign: whether the customer belongs. `now()` is the time the segment is evaluated at.",
        "customer.stats.orders >= 3",
    ),
    // Constants.
    e(
        Constants,
        "EVENT_TYPES",
        "const EVENT_TYPES = [\"purchase\", …];",
        "Only these event types reach `on_event` (saves work on every other event). With only kizuna's own types listed, a misspelt `event` field is a load error.",
        "top: const EVENT_TYPES = [\"purchase\"];",
    ),
    e(
        Constants,
        "CAMPAIGN",
        "const CAMPAIGN = \"name\";",
        "The campaign the script's messages belong to (default: the file name of a script in `campaigns/`); guards see it as `message.campaign`, reports count by it.",
        "top: const CAMPAIGN = \"spring_sale\";",
    ),
    e(
        Constants,
        "HOLDOUT",
        "const HOLDOUT = 10;",
        "In a campaign script: this percent (0–50) of the customers who qualify are held out, drawn by a hash of their id, independently of the global control group. Their messages pass the guards, then end suppressed by guard `holdout` with a `held_out` event, so the campaign's lift can be measured.",
        "top: const CAMPAIGN = \"spring_sale\";\nconst HOLDOUT = 10;",
    ),
    e(
        Constants,
        "WINDOW",
        "const WINDOW = [\"MM-DD\", \"MM-DD\"];",
        "A seasonal campaign: with `TEMPLATE` (and optionally `TZ`, `CHANNEL`, `CLASS`) and `fn matches(customer)`, `kizuna tick` queues its message to everyone it matches, once per window.",
        "top: const WINDOW = [\"12-01\", \"12-20\"];\nconst TEMPLATE = \"year_end_gift\";\nfn matches(customer) { customer.stats.orders > 0 }",
    ),
    e(
        Constants,
        "SHARED_TIMERS",
        "const SHARED_TIMERS = [\"name\", …];",
        "Timer names this script deliberately shares with another script that declares them too. Without it, two scripts using one timer name is a load error: a customer has one timer per name, so one would replace the other's.",
        "top: const SHARED_TIMERS = [\"reminder\"];",
    ),
    // Event.
    e(
        Event,
        "id",
        "event.id: string",
        "The event's id (given, or derived from its content).",
        "let id = event.id;",
    ),
    e(
        Event,
        "type",
        "event.type: string",
        "`purchase`, `profile`, `inquiry`, `complaint`, `reply`, `contact`, `decline`, `opt_in`, `opt_out`, `message_sent`, `timer`, `segment_changed`, or a type of the business's own.",
        "if event.type == \"purchase\" { tag(\"buyer\"); }",
    ),
    e(
        Event,
        "customer",
        "event.customer: string",
        "The customer's id.",
        "let who = event.customer;",
    ),
    e(
        Event,
        "at",
        "event.at: Time",
        "When it happened, in the offset it was given with.",
        "let local_hour = event.at.hour;",
    ),
    e(
        Event,
        "amount",
        "event.amount: int",
        "A purchase's amount in the smallest currency unit (yen).",
        "let points = event.amount / 100;",
    ),
    e(
        Event,
        "items",
        "event.items: array of strings",
        "A purchase's items (or `()`).",
        "if event.items != () { tag(\"has-items\"); }",
    ),
    e(
        Event,
        "channel",
        "event.channel: string",
        "The channel of `opt_in`, `opt_out` and `message_sent`.",
        "let ch = event.channel;",
    ),
    e(
        Event,
        "(other)",
        "event.NAME: any",
        "Any other attribute the event carries, as JSON gave it (`()` when absent): `event.referrer`, `event.offer`, `event.in_reply_to`, … A time stays text; `parse_time(event.x)` reads it.",
        "let offer = event.offer;",
    ),
    // Customer.
    e(
        Customer,
        "id",
        "customer.id: string",
        "The customer's id.",
        "let id = customer.id;",
    ),
    e(
        Customer,
        "name",
        "customer.name: string or ()",
        "From `profile` events. Never log it.",
        "let n = customer.name;",
    ),
    e(
        Customer,
        "kind",
        "customer.kind: string",
        "`personal` or `business`.",
        "if customer.kind == \"business\" { tag(\"b2b\"); }",
    ),
    e(
        Customer,
        "tz",
        "customer.tz: string or ()",
        "The customer's time zone (IANA name).",
        "let local = if customer.tz != () { event.at.in_zone(customer.tz) } else { event.at };",
    ),
    e(
        Customer,
        "birthday",
        "customer.birthday: #{ month, day, year } or ()",
        "The birthday; `year` is `()` when unknown.",
        "if customer.birthday != () && customer.birthday.month == event.at.month { tag(\"birthday-month\"); }",
    ),
    e(
        Customer,
        "business_hours",
        "customer.business_hours: string or ()",
        "A business customer's hours, e.g. `Mon-Fri 09:00-18:00`.",
        "let hours = customer.business_hours;",
    ),
    e(
        Customer,
        "points",
        "customer.points: int",
        "The point balance at the event's time (expired lots left out).",
        "if customer.points >= 1000 { tag(\"can-redeem\"); }",
    ),
    e(
        Customer,
        "tier",
        "customer.tier: string or ()",
        "The loyalty tier a script set.",
        "if customer.tier == \"gold\" { tag(\"vip\"); }",
    ),
    e(
        Customer,
        "tags",
        "customer.tags: array of strings",
        "The customer's tags.",
        "if \"vip\" in customer.tags { alert(\"VIP order\"); }",
    ),
    e(
        Customer,
        "consent",
        "customer.consent: #{ channel: bool }",
        "Consent per channel (`true` = opted in).",
        "if customer.consent[\"email\"] == true { tag(\"mailable\"); }",
    ),
    e(
        Customer,
        "segment",
        "customer.segment: string or ()",
        "The RFM segment (`champions`, `loyal`, `new`, `promising`, `cant_lose`, `at_risk`, `hibernating`, `prospect`), `()` for a buyer not scored yet.",
        "if customer.segment == \"at_risk\" { tag(\"watch\"); }",
    ),
    e(
        Customer,
        "declined",
        "customer.declined: #{ offer: Time }",
        "Offers the customer declined, with the latest decline's time.",
        "if \"winback\" in customer.declined { return; }",
    ),
    e(
        Customer,
        "items",
        "customer.items: array of strings",
        "Every item the customer has bought.",
        "if \"dripper\" in customer.items { tag(\"brews-at-home\"); }",
    ),
    e(
        Customer,
        "open_inquiries",
        "customer.open_inquiries: array of strings",
        "Ids of inquiries and complaints not yet answered.",
        "if customer.open_inquiries.len() > 0 { tag(\"waiting\"); }",
    ),
    e(
        Customer,
        "promises",
        "customer.promises: array of #{ ref, what, due, by, late }",
        "Promises made to the customer and not yet fulfilled (`promise` events; `delay` moves `due`); `late` once `due` has passed.",
        "if customer.promises.some(|p| p.late) { tag(\"promise-broken\"); }",
    ),
    e(
        Customer,
        "complaints",
        "customer.complaints: array of #{ complaint, at, apology, solution }",
        "Complaint cases not yet closed by a follow-up: the complaint's id, when it was made, and when it was apologised for and put right (`()` until then).",
        "if customer.complaints.some(|c| c.solution == ()) { tag(\"complaint-open\"); }",
    ),
    e(
        Customer,
        "bounces",
        "customer.bounces: array of #{ at, kind, channel, address, reason }",
        "Recent bounces (`email_bounced` events, `kind` \"hard\" or \"soft\") of addresses the customer still has; a new address starts clean.",
        "if customer.bounces.some(|b| b.kind == \"hard\") { tag(\"bad-address\"); }",
    ),
    e(
        Customer,
        "rfm",
        "customer.rfm: #{ r, f, m, segment, top, revenue_12m } or ()",
        "The latest RFM scores (1–5), segment, whether in the top 10% by 12-month revenue (20 buyers or more), and that revenue.",
        "if customer.rfm != () && customer.rfm.top { tag(\"top\"); }",
    ),
    e(
        Customer,
        "stats",
        "customer.stats: Stats",
        "Counters and dates from the history (below).",
        "let orders = customer.stats.orders;",
    ),
    // Stats.
    e(
        Stats,
        "orders",
        "customer.stats.orders: int",
        "Purchases.",
        "if customer.stats.orders == 1 { tag(\"first-time\"); }",
    ),
    e(
        Stats,
        "revenue",
        "customer.stats.revenue: int",
        "Total spend.",
        "let spent = customer.stats.revenue;",
    ),
    e(
        Stats,
        "spend_12m",
        "customer.stats.spend_12m: int",
        "Spend in the 365 days up to the event.",
        "if customer.stats.spend_12m >= 30000 { set_tier(\"silver\"); }",
    ),
    e(
        Stats,
        "first_order",
        "customer.stats.first_order: Time or ()",
        "The first purchase.",
        "let first = customer.stats.first_order;",
    ),
    e(
        Stats,
        "last_order",
        "customer.stats.last_order: Time or ()",
        "The latest purchase (with this event).",
        "let last = customer.stats.last_order;",
    ),
    e(
        Stats,
        "avg_days_between_orders",
        "customer.stats.avg_days_between_orders: float or ()",
        "The customer's mean interval between purchases (two or more).",
        "let usual = customer.stats.avg_days_between_orders;",
    ),
    e(
        Stats,
        "last_inbound",
        "customer.stats.last_inbound: Time or ()",
        "The latest inquiry or complaint.",
        "let asked = customer.stats.last_inbound;",
    ),
    e(
        Stats,
        "last_outbound",
        "customer.stats.last_outbound: Time or ()",
        "The latest reply, contact or message sent.",
        "let told = customer.stats.last_outbound;",
    ),
    e(
        Stats,
        "open_inquiries",
        "customer.stats.open_inquiries: int",
        "How many inquiries and complaints wait for a reply.",
        "if customer.stats.open_inquiries > 0 { tag(\"waiting\"); }",
    ),
    e(
        Stats,
        "unsolved_complaints",
        "customer.stats.unsolved_complaints: int",
        "How many complaints have no `solution` yet (an apology alone does not solve one).",
        "if customer.stats.unsolved_complaints > 0 { tag(\"complaint-open\"); }",
    ),
    e(
        Stats,
        "events",
        "customer.stats.events: int",
        "Events stored for the customer.",
        "let n = customer.stats.events;",
    ),
    // Message.
    e(
        Message,
        "id",
        "message.id: string",
        "The message's id in the outbox.",
        "guard: let id = message.id; return allow();",
    ),
    e(
        Message,
        "class",
        "message.class: string",
        "`marketing`, `transactional` or `service`.",
        "guard: if message.class != \"marketing\" { return allow(); } return allow();",
    ),
    e(
        Message,
        "channel",
        "message.channel: string",
        "The channel it goes out on.",
        "guard: let ch = message.channel; return allow();",
    ),
    e(
        Message,
        "template",
        "message.template: string",
        "The template's name.",
        "guard: let t = message.template; return allow();",
    ),
    e(
        Message,
        "campaign",
        "message.campaign: string or ()",
        "The campaign it belongs to.",
        "guard: if message.campaign == \"winback\" { return deny(\"paused\"); } return allow();",
    ),
    e(
        Message,
        "subject",
        "message.subject: string or ()",
        "The rendered subject (e-mail).",
        "guard: let s = message.subject; return allow();",
    ),
    e(
        Message,
        "body",
        "message.body: string",
        "The rendered text.",
        "guard: if contains_any(message.body, [\"必ず\"]) != () { return deny(\"exaggerated\"); } return allow();",
    ),
    e(
        Message,
        "html",
        "message.html: string or ()",
        "The rendered HTML part, if any.",
        "guard: let h = message.html; return allow();",
    ),
    e(
        Message,
        "vars",
        "message.vars: map",
        "The template variables the sender gave.",
        "guard: let v = message.vars; return allow();",
    ),
    e(
        Message,
        "created",
        "message.created: Time",
        "When the message was queued.",
        "guard: if now() - message.created > days(7) { return deny(\"stale\"); } return allow();",
    ),
    // Actions.
    e(
        Actions,
        "award_points",
        "award_points(points: int, reason: string[, expires: Time | valid_days: int])",
        "Adds a lot of points (at most 1,000,000,000), expiring after 365 days unless told otherwise.",
        "award_points(event.amount / 100, \"purchase\", 180);",
    ),
    e(
        Actions,
        "redeem_points",
        "redeem_points(points: int, reason: string)",
        "Spends points, oldest lots first; beyond the balance the script's effects are refused (a rule error).",
        "redeem_points(100, \"voucher\");",
    ),
    e(
        Actions,
        "set_tier",
        "set_tier(name: string)",
        "Sets the loyalty tier.",
        "set_tier(\"silver\");",
    ),
    e(
        Actions,
        "tag",
        "tag(name: string)",
        "Adds a tag. (Anything but a string is an error.)",
        "tag(\"coffee-lover\");",
    ),
    e(
        Actions,
        "untag",
        "untag(name: string)",
        "Removes a tag.",
        "untag(\"lapsed\");",
    ),
    e(
        Actions,
        "send",
        "send(channel: string, template: string[, vars: map[, class: string]])",
        "Queues a message; the dispatcher renders `templates/TEMPLATE.CHANNEL` and passes it through the guards. Class `marketing` (default; capped, needs consent), `transactional` or `service`.",
        "send(\"email\", \"notice\", #{ subject: \"Thanks\", text: \"See you soon\" }, \"transactional\");",
    ),
    e(
        Actions,
        "schedule",
        "schedule(name: string, when: Time[, data: any])",
        "Sets (or resets) this customer's timer `name`; `on_timer` of this script gets it when due.",
        "schedule(\"reminder\", event.at + days(30), #{ item: \"beans\" });",
    ),
    e(
        Actions,
        "cancel",
        "cancel(name: string)",
        "Cancels the customer's timer `name`.",
        "cancel(\"reminder\");",
    ),
    e(
        Actions,
        "alert",
        "alert(text: string[, priority: int])",
        "Tells the staff (`kizuna alerts`); higher priority first.",
        "alert(\"big order\", event.amount);",
    ),
    e(
        Actions,
        "emit",
        "emit(customer_id: string, type: string[, attrs: map])",
        "Records an event of the business's own type for another existing customer, right after this one (id derived from this event: emitted once). At most 10 per call, 3 deep. To a customer who does not exist, the script fails. What `attrs` hold stays in the other customer's history when this one is erased: put no names, e-mails, phones or ids of this customer in them.",
        "emit(\"c-17\", \"referral_reward\", #{ reward: 500 });",
    ),
    // State.
    e(
        State,
        "get",
        "state.get(key: string[, default: any]) -> any",
        "What this script keeps for this customer under `key` (or `default`, else `()`); sees this call's own `set`s.",
        "let stamps = state.get(\"stamps\", 0);",
    ),
    e(
        State,
        "set",
        "state.set(key: string, value: any)",
        "Keeps a value (number, string, bool, array, map; a time as text) for this customer and this script: an effect, shown in `customer show`, replayed, erased with the customer. `()` removes the key. At most 64 keys, 1 KiB each. Not in guards or segments.",
        "state.set(\"stamps\", state.get(\"stamps\", 0) + 1);",
    ),
    // Time.
    e(
        Time,
        "now",
        "now() -> Time",
        "The time of the call: the event's `at` in `on_event`, the due time in `on_timer`, the dispatch time in a guard (UTC).",
        "let t = now();",
    ),
    e(
        Time,
        "days",
        "days(n: int) -> Duration",
        "A duration of n days (24 h each).",
        "schedule(\"r\", event.at + days(30));",
    ),
    e(
        Time,
        "hours",
        "hours(n: int) -> Duration",
        "A duration of n hours.",
        "schedule(\"r\", event.at + hours(24));",
    ),
    e(
        Time,
        "minutes",
        "minutes(n: int) -> Duration",
        "A duration of n minutes.",
        "schedule(\"r\", event.at + minutes(90));",
    ),
    e(
        Time,
        "+",
        "Time + Duration -> Time; Time - Duration -> Time; Time - Time -> Duration",
        "Time arithmetic; times compare with `<`, `<=`, `>`, `>=`, `==`, `!=`.",
        "if now() - event.at > hours(1) { tag(\"late\"); }",
    ),
    e(
        Time,
        "in_zone",
        "in_zone(t: Time, tz: string) -> Time",
        "The same instant, read in another zone (its `hour`, `day`, … are local there).",
        "let tokyo = event.at.in_zone(\"Asia/Tokyo\");",
    ),
    e(
        Time,
        "on_date",
        "on_date(t: Time, year: int, month: int, day: int, hour: int) -> Time",
        "That local date and hour in `t`'s zone; a day past the month's end is its last day.",
        "let eve = on_date(event.at, 2026, 12, 24, 10);",
    ),
    e(
        Time,
        "parse_time",
        "parse_time(text: string) -> Time",
        "An RFC 3339 time, in its offset.",
        "let t = parse_time(\"2026-03-01T10:00:00+09:00\");",
    ),
    e(
        Time,
        "year",
        "t.year, t.month, t.day, t.hour, t.minute, t.weekday: int",
        "Calendar fields in the time's zone; `weekday` 1 = Monday … 7 = Sunday.",
        "if event.at.weekday >= 6 { tag(\"weekend-shopper\"); }",
    ),
    e(
        Time,
        "to_string",
        "t.to_string() -> string",
        "RFC 3339 text with the time's offset (`2026-03-01T10:00:00+09:00`).",
        "let text = event.at.to_string();",
    ),
    e(
        Time,
        "Duration.days",
        "d.days, d.hours: int",
        "A duration in whole days or hours.",
        "let away = (now() - event.at).days;",
    ),
    // Helpers.
    e(
        Helpers,
        "also_bought",
        "also_bought(item: string, n: int) -> array",
        "Up to n items most often bought by customers who bought `item` (from all purchases so far; empty in guards).",
        "let next = also_bought(\"beans\", 3);",
    ),
    e(
        Helpers,
        "typical_interval",
        "typical_interval(item: string) -> float or ()",
        "Mean days between repeat purchases of the item across customers.",
        "let every = typical_interval(\"beans\");",
    ),
    e(
        Helpers,
        "contains_any",
        "contains_any(text: string, words: array) -> string or ()",
        "The first of `words` found in `text`, ignoring case, or `()`.",
        "let hit = contains_any(\"Results guaranteed\", [\"guaranteed\", \"必ず\"]);",
    ),
    e(
        Helpers,
        "sent_within",
        "sent_within(customer, days: int, class: string) -> int",
        "Messages of that class sent to the customer in the last `days` days.",
        "guard: if sent_within(customer, 7, \"marketing\") >= 2 { return deny(\"over-contact\"); } return allow();",
    ),
    e(
        Helpers,
        "sent_today",
        "sent_today(customer, class: string) -> int",
        "Messages of that class sent today in the customer's zone.",
        "guard: if sent_today(customer, \"marketing\") > 0 { return deny(\"one a day\"); } return allow();",
    ),
    e(
        Helpers,
        "next_opening",
        "next_opening(customer, from_hour: int, until_hour: int) -> Time or ()",
        "The next moment within the customer's contact hours (business hours for a business), or `()` if now is within them.",
        "guard: let at = next_opening(customer, 8, 21); if at != () { return defer(at, \"night\"); } return allow();",
    ),
    // Verdicts.
    e(
        Verdicts,
        "allow",
        "allow() -> Verdict",
        "Let the message go.",
        "guard: return allow();",
    ),
    e(
        Verdicts,
        "deny",
        "deny(reason: string) -> Verdict",
        "Suppress it, with the reason (audited in `report guards`).",
        "guard: return deny(\"no consent\");",
    ),
    e(
        Verdicts,
        "defer",
        "defer(until: Time, reason: string) -> Verdict",
        "Send it no earlier than `until`.",
        "guard: return defer(now() + hours(8), \"quiet hours\");",
    ),
];

/// The reference as Markdown: what `kizuna rules doc` prints.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Rules reference\n\n\
         Generated by `kizuna rules doc` from kizuna's own list (`core/src/rules/reference.rs`), \
         which tests hold to the engine: every function and field a script can use, with its \
         type and one example. Rhai itself (strings, arrays, maps, `if`, `for`, closures) is \
         documented at <https://rhai.rs/book/>. For editor completion, `kizuna rules defs DIR` \
         writes Rhai definition files.\n\n\
         Scripts see events in the order they arrive, not in time order. Time is always \
         explicit: `now()` is the event's or timer's time, never the clock.\n",
    );
    for section in Section::ALL {
        out.push_str(&format!("\n## {}\n", section.title()));
        for entry in ENTRIES.iter().filter(|e| e.section == section) {
            let example = entry
                .example
                .strip_prefix("guard: ")
                .or_else(|| entry.example.strip_prefix("top: "))
                .unwrap_or(entry.example);
            out.push_str(&format!(
                "\n### `{}`\n\n`{}`\n\n{}\n\n```rhai\n{example}\n```\n",
                entry.name, entry.signature, entry.doc
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
