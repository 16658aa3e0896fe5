//! The API's reads: every `GET` of `/v1`, each the `--json` output of a reading command.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, Params, error, run};
use crate::{
    args::{
        AlertsArgs, Command, CustomerCommand, CustomerListArgs, CustomerShowArgs,
        DeliverabilityArgs, DeliverabilityByArg, KpiArgs, KpiBy, OutboxCommand, OutboxListArgs,
        PointsCommand, ReportCommand, ResponseArgs, ResponseByArg, RulesCommand, SegmentCommand,
    },
    daemon::http::AppState,
};

/// Whether a daemon holds the home, and the home's figures.
#[utoipa::path(get, path = "/v1/status", tag = "status",
    responses((status = 200, description = "`kizuna status --json`", body = Value)))]
pub(super) async fn status(State(state): State<AppState>) -> Response {
    run(&state, Command::Status { json: true }).await
}

/// Filters and paging of `GET /v1/customers`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CustomersQuery {
    /// An RFM segment.
    segment: Option<String>,
    /// A tag.
    tag: Option<String>,
    /// Text in the id, name, e-mail or phone (any case).
    search: Option<String>,
    /// Matching customers to skip (id order).
    #[serde(default)]
    offset: usize,
    /// At most this many.
    limit: Option<usize>,
}

/// Customers, filtered by segment, tag or text, a page at a time.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(CustomersQuery),
    responses((status = 200, description = "`kizuna customer list --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn customers(
    State(state): State<AppState>,
    Params(q): Params<CustomersQuery>,
) -> Response {
    let args = CustomerListArgs {
        segment: q.segment,
        tag: q.tag,
        search: q.search,
        offset: q.offset,
        limit: q.limit,
        json: true,
    };
    run(&state, Command::Customer(CustomerCommand::List(args))).await
}

/// How much of a customer's history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CustomerQuery {
    /// How many of the latest events (default 20).
    events: Option<usize>,
}

/// One customer: profile, consent, stats, points, RFM and the latest events.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer's id"), CustomerQuery),
    responses((status = 200, description = "`kizuna customer show ID --json`", body = Value),
              (status = 404, body = ApiError)))]
pub(super) async fn customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(q): Params<CustomerQuery>,
) -> Response {
    let args = CustomerShowArgs {
        id,
        events: q.events.unwrap_or(20),
        json: true,
    };
    run(&state, Command::Customer(CustomerCommand::Show(args))).await
}

/// A moment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AtQuery {
    /// RFC 3339 with offset (default: now).
    #[param(value_type = Option<String>)]
    at: Option<Timestamp>,
}

/// A customer's points: balance, lots with expiry, history with reasons.
#[utoipa::path(get, path = "/v1/customers/{id}/points", tag = "customers",
    params(("id" = String, Path, description = "The customer's id"), AtQuery),
    responses((status = 200, description = "`kizuna points show ID --json`", body = Value),
              (status = 404, body = ApiError)))]
pub(super) async fn points(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(q): Params<AtQuery>,
) -> Response {
    let show = PointsCommand::Show {
        id,
        at: q.at,
        json: true,
    };
    run(&state, Command::Points(show)).await
}

/// Which alerts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AlertsQuery {
    /// Only alerts whose customer still waits.
    #[serde(default)]
    open: bool,
    /// Highest priority first.
    #[serde(default)]
    by_priority: bool,
    /// At most this many.
    limit: Option<usize>,
}

/// Staff alerts raised by the rules.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, description = "`kizuna alerts --json`", body = Value)))]
pub(super) async fn alerts(
    State(state): State<AppState>,
    Params(q): Params<AlertsQuery>,
) -> Response {
    let args = AlertsArgs {
        action: None,
        open: q.open,
        by_priority: q.by_priority,
        limit: q.limit,
        json: true,
    };
    run(&state, Command::Alerts(args)).await
}

/// Which messages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct OutboxQuery {
    /// pending, sending, deferred, suppressed, failed, dead or sent.
    status: Option<String>,
    /// One customer's.
    customer: Option<String>,
    /// A channel.
    channel: Option<String>,
    /// A campaign.
    campaign: Option<String>,
    /// The guard that suppressed or deferred it.
    guard: Option<String>,
    /// Queued at or after (RFC 3339 with offset).
    #[param(value_type = Option<String>)]
    since: Option<Timestamp>,
    /// Queued before.
    #[param(value_type = Option<String>)]
    until: Option<Timestamp>,
    /// Newest first.
    #[serde(default)]
    newest_first: bool,
    /// Matching messages to skip.
    #[serde(default)]
    offset: usize,
    /// At most this many.
    limit: Option<usize>,
}

/// Queued and sent messages.
#[utoipa::path(get, path = "/v1/outbox", tag = "outbox", params(OutboxQuery),
    responses((status = 200, description = "`kizuna outbox list --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn outbox(
    State(state): State<AppState>,
    Params(q): Params<OutboxQuery>,
) -> Response {
    let list = OutboxCommand::List(OutboxListArgs {
        status: q.status,
        customer: q.customer,
        channel: q.channel,
        campaign: q.campaign,
        guard: q.guard,
        since: q.since,
        until: q.until,
        newest_first: q.newest_first,
        offset: q.offset,
        limit: q.limit,
        json: true,
    });
    run(&state, Command::Outbox(list)).await
}

/// As of when.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct NowQuery {
    /// RFC 3339 with offset (default: now).
    #[param(value_type = Option<String>)]
    now: Option<Timestamp>,
}

/// Every segment with its size.
#[utoipa::path(get, path = "/v1/segments", tag = "segments", params(NowQuery),
    responses((status = 200, description = "`kizuna segment list --json`", body = Value)))]
pub(super) async fn segments(
    State(state): State<AppState>,
    Params(q): Params<NowQuery>,
) -> Response {
    let list = SegmentCommand::List {
        now: q.now,
        json: true,
    };
    run(&state, Command::Segment(list)).await
}

/// The customers in one segment.
#[utoipa::path(get, path = "/v1/segments/{name}", tag = "segments",
    params(("name" = String, Path, description = "An RFM segment or a rules/segments script"), NowQuery),
    responses((status = 200, description = "`kizuna segment show NAME --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn segment(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(q): Params<NowQuery>,
) -> Response {
    let show = SegmentCommand::Show {
        name,
        now: q.now,
        json: true,
    };
    run(&state, Command::Segment(show)).await
}

/// Messages queued since.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SinceQuery {
    /// RFC 3339 with offset.
    #[param(value_type = Option<String>)]
    since: Option<Timestamp>,
}

/// Messages sent, deferred and suppressed, per guard and reason.
#[utoipa::path(get, path = "/v1/reports/guards", tag = "reports", params(SinceQuery),
    responses((status = 200, description = "`kizuna report guards --json`", body = Value)))]
pub(super) async fn report_guards(
    State(state): State<AppState>,
    Params(q): Params<SinceQuery>,
) -> Response {
    let guards = ReportCommand::Guards {
        since: q.since,
        json: true,
    };
    run(&state, Command::Report(guards)).await
}

/// The response report's period, grouping and clock.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ResponseQuery {
    /// Questions asked at or after this time.
    #[param(value_type = Option<String>)]
    since: Option<Timestamp>,
    /// Questions asked before this time.
    #[param(value_type = Option<String>)]
    until: Option<Timestamp>,
    /// month (default) or staff.
    by: Option<String>,
    /// The time open questions are measured to (default: now).
    #[param(value_type = Option<String>)]
    now: Option<Timestamp>,
}

/// How long customers wait for a first reply, by month or staff member.
#[utoipa::path(get, path = "/v1/reports/response", tag = "reports", params(ResponseQuery),
    responses((status = 200, description = "`kizuna report response --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn report_response(
    State(state): State<AppState>,
    Params(q): Params<ResponseQuery>,
) -> Response {
    let by = match q.by.as_deref() {
        None | Some("month") => ResponseByArg::Month,
        Some("staff") => ResponseByArg::Staff,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("by={other:?} is not month or staff"),
                None,
            );
        }
    };
    let args = ResponseArgs {
        since: q.since,
        until: q.until,
        by,
        now: q.now,
        json: true,
    };
    run(&state, Command::Report(ReportCommand::Response(args))).await
}

/// The KPI report's period and grouping.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct KpiQuery {
    /// Contacts made at or after this time.
    #[param(value_type = Option<String>)]
    since: Option<Timestamp>,
    /// Contacts made before this time.
    #[param(value_type = Option<String>)]
    until: Option<Timestamp>,
    /// campaign (default), channel or month.
    by: Option<String>,
}

/// Relationship KPIs: contacts, reply and reaction rates, revenue credited.
#[utoipa::path(get, path = "/v1/reports/kpi", tag = "reports", params(KpiQuery),
    responses((status = 200, description = "`kizuna report kpi --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn report_kpi(
    State(state): State<AppState>,
    Params(q): Params<KpiQuery>,
) -> Response {
    let by = match q.by.as_deref() {
        None | Some("campaign") => KpiBy::Campaign,
        Some("channel") => KpiBy::Channel,
        Some("month") => KpiBy::Month,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("by={other:?} is not campaign, channel or month"),
                None,
            );
        }
    };
    let args = KpiArgs {
        since: q.since,
        until: q.until,
        by,
        json: true,
        csv: false,
    };
    run(&state, Command::Report(ReportCommand::Kpi(args))).await
}

/// The recency x frequency grid: customers and revenue per cell.
#[utoipa::path(get, path = "/v1/reports/rfm", tag = "reports",
    responses((status = 200, description = "`kizuna report rfm --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn report_rfm(State(state): State<AppState>) -> Response {
    let rfm = ReportCommand::Rfm {
        json: true,
        csv: false,
    };
    run(&state, Command::Report(rfm)).await
}

/// Rule errors recorded while processing events.
#[utoipa::path(get, path = "/v1/rules/errors", tag = "rules",
    responses((status = 200, description = "`kizuna rules errors --json`", body = Value)))]
pub(super) async fn rule_errors(State(state): State<AppState>) -> Response {
    run(&state, Command::Rules(RulesCommand::Errors { json: true })).await
}

/// The deliverability report's period and grouping.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeliverabilityQuery {
    /// Events at or after this time.
    #[param(value_type = Option<String>)]
    since: Option<Timestamp>,
    /// Events before this time.
    #[param(value_type = Option<String>)]
    until: Option<Timestamp>,
    /// campaign (default) or month.
    by: Option<String>,
}

/// Sent, delivered, bounced, complaints and unsubscribes, by campaign or month.
#[utoipa::path(get, path = "/v1/reports/deliverability", tag = "reports", params(DeliverabilityQuery),
    responses((status = 200, description = "`kizuna report deliverability --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn report_deliverability(
    State(state): State<AppState>,
    Params(q): Params<DeliverabilityQuery>,
) -> Response {
    let by = match q.by.as_deref() {
        None | Some("campaign") => DeliverabilityByArg::Campaign,
        Some("month") => DeliverabilityByArg::Month,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("by={other:?} is not campaign or month"),
                None,
            );
        }
    };
    let args = DeliverabilityArgs {
        since: q.since,
        until: q.until,
        by,
        json: true,
    };
    run(&state, Command::Report(ReportCommand::Deliverability(args))).await
}
