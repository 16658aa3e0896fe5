//! The admin HTTP API, `/v1/…`: what a tool or a web page needs, as JSON.
//!
//! Invariant: an endpoint holds no logic of its own. It builds the command the CLI would
//! run (`customer show ID --json`, …), the writer runs it through
//! [`crate::commands::on_store`] exactly as it runs a command from the admin socket, and
//! the command's JSON output is the response body. So the API, the CLI offline and the CLI
//! through the daemon give the same answers and the same errors; only the envelope
//! differs: a failed command becomes `{"code", "error"}` with a status (`404 not_found`,
//! `400 invalid`, `500 store`), and a command that reported bad records on its own
//! (`import`) adds its JSON output as `details`.
//!
//! The OpenAPI document is generated from these handlers (utoipa), served at
//! `/v1/openapi.json`, printed by `kizuna openapi`, and checked into `docs/openapi.json`; a
//! test keeps the three equal.

use std::{collections::HashMap, path::PathBuf};

use axum::{
    Json,
    extract::{FromRequest, FromRequestParts, Path, Query, Request, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::http::{AppState, ask};
use crate::{
    admin::server::{Answer, FailureKind, Job},
    args::{
        AlertsArgs, CampaignCommand, CampaignRunArgs, Command, CustomerCommand, CustomerEraseArgs,
        CustomerListArgs, CustomerShowArgs, KpiArgs, KpiBy, OutboxCommand, PointsCommand,
        ReplayArgs, ReportCommand, RulesCommand, SegmentCommand, SendArgs,
    },
};

/// The document's frame; the paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "kizuna admin API",
        version = "1",
        description = "Every endpoint runs the command the CLI would run and answers with its \
                       JSON output. Bearer tokens: `read` for GET, `admin` for changes."
    ),
    components(schemas(ApiError))
)]
struct ApiDoc;

/// An error: a stable code and the command's message.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ApiError {
    /// `not_found`, `invalid`, `store`, `unauthorized` or `forbidden`.
    code: String,
    /// What is wrong, and where.
    error: String,
    /// The command's own JSON report, when it made one (rejected records).
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Value>,
}

/// The read routes and the admin routes, each still without its role check, and the
/// document. `http::router` puts each group behind its role.
pub fn routes() -> (
    axum::Router<AppState>,
    axum::Router<AppState>,
    utoipa::openapi::OpenApi,
) {
    let (read, read_doc) = OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(customers))
        .routes(routes!(customer))
        .routes(routes!(points))
        .routes(routes!(alerts))
        .routes(routes!(outbox))
        .routes(routes!(segments))
        .routes(routes!(segment))
        .routes(routes!(report_guards))
        .routes(routes!(report_kpi))
        .routes(routes!(report_rfm))
        .routes(routes!(rule_errors))
        .split_for_parts();
    let (admin, admin_doc) = OpenApiRouter::new()
        .routes(routes!(erase))
        .routes(routes!(retry))
        .routes(routes!(campaign_run))
        .routes(routes!(replay))
        .routes(routes!(send))
        .split_for_parts();
    let mut doc = ApiDoc::openapi();
    doc.merge(read_doc);
    doc.merge(admin_doc);
    (read, admin, doc)
}

/// The document, as `/v1/openapi.json` serves it and `kizuna openapi` prints it.
pub fn document() -> String {
    let (_, _, doc) = routes();
    doc.to_pretty_json().unwrap_or_default()
}

/// Runs `command` on the writer and answers with its JSON output or its error.
async fn run(state: &AppState, command: Command) -> Response {
    run_with_inputs(state, command, HashMap::new()).await
}

async fn run_with_inputs(
    state: &AppState,
    command: Command,
    inputs: HashMap<PathBuf, PathBuf>,
) -> Response {
    let job = Job {
        command: Box::new(command),
        rules: None,
        inputs,
        cwd: PathBuf::from("/"),
    };
    match ask(state, |tx| super::writer::Command::Admin(job, tx)).await {
        Ok(answer) => respond(answer),
        Err(response) => response,
    }
}

fn error(status: StatusCode, code: &str, message: String, details: Option<Value>) -> Response {
    let body = ApiError {
        code: code.into(),
        error: message,
        details,
    };
    (status, Json(body)).into_response()
}

/// A command's answer as an HTTP response.
fn respond(answer: Answer) -> Response {
    let output: Option<Value> = serde_json::from_slice(&answer.stdout).ok();
    if answer.exit == 0 {
        return match output {
            Some(value) => Json(value).into_response(),
            None => String::from_utf8_lossy(&answer.stdout)
                .into_owned()
                .into_response(),
        };
    }
    let stderr = String::from_utf8_lossy(&answer.stderr);
    let (status, code, message) = match answer.failure {
        Some(f) => match f.kind {
            FailureKind::NotFound => (StatusCode::NOT_FOUND, "not_found", f.message),
            FailureKind::Invalid => (StatusCode::BAD_REQUEST, "invalid", f.message),
            FailureKind::Store => (StatusCode::INTERNAL_SERVER_ERROR, "store", f.message),
        },
        // The command reported the problems itself (bad records) and exited 1.
        None => {
            let lines: Vec<&str> = stderr
                .lines()
                .map(|l| l.strip_prefix("error: ").unwrap_or(l))
                .collect();
            (StatusCode::BAD_REQUEST, "invalid", lines.join("\n"))
        }
    };
    error(status, code, message, output)
}

/// A query string, refused like any bad argument (`400 invalid`) when it does not parse.
struct Params<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Params(t))
            .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid", e.body_text(), None))
    }
}

/// A JSON body, refused (`400 invalid`) when it does not parse or has unknown fields.
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(t)| Body(t))
            .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid", e.body_text(), None))
    }
}

/// Whether a daemon holds the home, and the home's figures.
#[utoipa::path(get, path = "/v1/status", tag = "status",
    responses((status = 200, description = "`kizuna status --json`", body = Value)))]
async fn status(State(state): State<AppState>) -> Response {
    run(&state, Command::Status { json: true }).await
}

/// Filters and paging of `GET /v1/customers`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CustomersQuery {
    /// An RFM segment.
    segment: Option<String>,
    /// A tag.
    tag: Option<String>,
    /// Matching customers to skip (id order).
    #[serde(default)]
    offset: usize,
    /// At most this many.
    limit: Option<usize>,
}

/// Customers, filtered by segment or tag, a page at a time.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(CustomersQuery),
    responses((status = 200, description = "`kizuna customer list --json`", body = Value),
              (status = 400, body = ApiError)))]
async fn customers(State(state): State<AppState>, Params(q): Params<CustomersQuery>) -> Response {
    let args = CustomerListArgs {
        segment: q.segment,
        tag: q.tag,
        offset: q.offset,
        limit: q.limit,
        json: true,
    };
    run(&state, Command::Customer(CustomerCommand::List(args))).await
}

/// How much of a customer's history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CustomerQuery {
    /// How many of the latest events (default 20).
    events: Option<usize>,
}

/// One customer: profile, consent, stats, points, RFM and the latest events.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer's id"), CustomerQuery),
    responses((status = 200, description = "`kizuna customer show ID --json`", body = Value),
              (status = 404, body = ApiError)))]
async fn customer(
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

/// Erases a customer: every event and all data, then compacts the database.
#[utoipa::path(delete, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer's id")),
    responses((status = 200, description = "`kizuna customer erase ID --yes --json`", body = Value),
              (status = 404, body = ApiError)))]
async fn erase(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let args = CustomerEraseArgs {
        id,
        yes: true,
        json: true,
    };
    run(&state, Command::Customer(CustomerCommand::Erase(args))).await
}

/// A moment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AtQuery {
    /// RFC 3339 with offset (default: now).
    #[param(value_type = Option<String>)]
    at: Option<Timestamp>,
}

/// A customer's points: balance, lots with expiry, history with reasons.
#[utoipa::path(get, path = "/v1/customers/{id}/points", tag = "customers",
    params(("id" = String, Path, description = "The customer's id"), AtQuery),
    responses((status = 200, description = "`kizuna points show ID --json`", body = Value),
              (status = 404, body = ApiError)))]
async fn points(
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
struct AlertsQuery {
    /// Only alerts whose customer still waits.
    #[serde(default)]
    open: bool,
    /// Highest priority first.
    #[serde(default)]
    by_priority: bool,
}

/// Staff alerts raised by the rules.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, description = "`kizuna alerts --json`", body = Value)))]
async fn alerts(State(state): State<AppState>, Params(q): Params<AlertsQuery>) -> Response {
    let args = AlertsArgs {
        open: q.open,
        by_priority: q.by_priority,
        json: true,
    };
    run(&state, Command::Alerts(args)).await
}

/// Which messages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OutboxQuery {
    /// pending, sending, deferred, suppressed, failed, dead or sent.
    status: Option<String>,
    /// One customer's.
    customer: Option<String>,
}

/// Queued and sent messages.
#[utoipa::path(get, path = "/v1/outbox", tag = "outbox", params(OutboxQuery),
    responses((status = 200, description = "`kizuna outbox list --json`", body = Value),
              (status = 400, body = ApiError)))]
async fn outbox(State(state): State<AppState>, Params(q): Params<OutboxQuery>) -> Response {
    let list = OutboxCommand::List {
        status: q.status,
        customer: q.customer,
        json: true,
    };
    run(&state, Command::Outbox(list)).await
}

/// Puts an unsent message back in the queue (it passes the guards again).
#[utoipa::path(post, path = "/v1/outbox/{id}/retry", tag = "outbox",
    params(("id" = String, Path, description = "The message id, e.g. m-12-0")),
    responses((status = 200, description = "`kizuna outbox retry ID --json`", body = Value),
              (status = 404, body = ApiError)))]
async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(
        &state,
        Command::Outbox(OutboxCommand::Retry { id, json: true }),
    )
    .await
}

/// As of when.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NowQuery {
    /// RFC 3339 with offset (default: now).
    #[param(value_type = Option<String>)]
    now: Option<Timestamp>,
}

/// Every segment with its size.
#[utoipa::path(get, path = "/v1/segments", tag = "segments", params(NowQuery),
    responses((status = 200, description = "`kizuna segment list --json`", body = Value)))]
async fn segments(State(state): State<AppState>, Params(q): Params<NowQuery>) -> Response {
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
async fn segment(
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

/// A campaign run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CampaignRequest {
    /// The audience: an RFM segment or a rules/segments script.
    segment: String,
    /// The template (default: the campaign's name).
    template: Option<String>,
    /// The channel (default email).
    channel: Option<String>,
    /// marketing (default), transactional or service.
    class: Option<String>,
    /// Template variables.
    #[serde(default)]
    vars: std::collections::BTreeMap<String, String>,
    /// When it runs (default: now).
    #[schema(value_type = Option<String>)]
    now: Option<Timestamp>,
    /// Queue nothing: who would get it, and what the guards would say now.
    #[serde(default)]
    dry_run: bool,
}

/// Queues a campaign to a segment, or with `dry_run` shows who would get it.
#[utoipa::path(post, path = "/v1/campaigns/{name}/run", tag = "campaigns",
    params(("name" = String, Path, description = "The campaign's name")),
    request_body = CampaignRequest,
    responses((status = 200, description = "`kizuna campaign run NAME … --json`", body = Value),
              (status = 400, body = ApiError)))]
async fn campaign_run(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body<CampaignRequest>,
) -> Response {
    let args = CampaignRunArgs {
        name,
        segment: b.segment,
        template: b.template,
        channel: b.channel.unwrap_or_else(|| "email".into()),
        class: b.class.unwrap_or_else(|| "marketing".into()),
        vars: b.vars.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        now: b.now,
        dry_run: b.dry_run,
        json: true,
    };
    run(&state, Command::Campaign(CampaignCommand::Run(args))).await
}

/// A replay of the history through candidate rules.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    /// The candidate rules directory, file by file (`points.rhai`, `guards/night.rhai`,
    /// `templates/notice.email`); none: the live rules against themselves.
    scripts: Option<std::collections::BTreeMap<String, String>>,
    /// Count differences from this time on.
    #[schema(value_type = Option<String>)]
    since: Option<Timestamp>,
    /// Replay up to this time.
    #[schema(value_type = Option<String>)]
    until: Option<Timestamp>,
    /// How many of the largest point differences to list (default 10).
    top: Option<usize>,
}

/// Replays the history through candidate rules and shows what would change.
#[utoipa::path(post, path = "/v1/rules/replay", tag = "rules",
    request_body = ReplayRequest,
    responses((status = 200, description = "`kizuna rules replay … --json`", body = Value),
              (status = 400, body = ApiError)))]
async fn replay(State(state): State<AppState>, Body(b): Body<ReplayRequest>) -> Response {
    // The candidate files go to a private directory in the home, as a CLI's would.
    let mut inputs = HashMap::new();
    let mut spool = None;
    if let Some(files) = &b.scripts {
        let dir = match tempfile::Builder::new()
            .prefix(".api-")
            .tempdir_in(state.home.root())
        {
            Ok(d) => d,
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store",
                    e.to_string(),
                    None,
                );
            }
        };
        for (name, text) in files {
            let rel = std::path::Path::new(name);
            let safe = rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !safe {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    format!("scripts: {name:?} is not a relative path inside the rules directory"),
                    None,
                );
            }
            let path = dir.path().join(rel);
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, text));
            if let Err(e) = written {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store",
                    e.to_string(),
                    None,
                );
            }
        }
        inputs.insert(PathBuf::from("candidate"), dir.path().to_path_buf());
        spool = Some(dir);
    }
    let args = ReplayArgs {
        scripts: b.scripts.as_ref().map(|_| PathBuf::from("candidate")),
        since: b.since,
        until: b.until,
        top: b.top.unwrap_or(10),
        json: true,
    };
    let response =
        run_with_inputs(&state, Command::Rules(RulesCommand::Replay(args)), inputs).await;
    drop(spool);
    response
}

/// Messages queued since.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SinceQuery {
    /// RFC 3339 with offset.
    #[param(value_type = Option<String>)]
    since: Option<Timestamp>,
}

/// Messages sent, deferred and suppressed, per guard and reason.
#[utoipa::path(get, path = "/v1/reports/guards", tag = "reports", params(SinceQuery),
    responses((status = 200, description = "`kizuna report guards --json`", body = Value)))]
async fn report_guards(State(state): State<AppState>, Params(q): Params<SinceQuery>) -> Response {
    let guards = ReportCommand::Guards {
        since: q.since,
        json: true,
    };
    run(&state, Command::Report(guards)).await
}

/// The KPI report's period and grouping.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct KpiQuery {
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
async fn report_kpi(State(state): State<AppState>, Params(q): Params<KpiQuery>) -> Response {
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
async fn report_rfm(State(state): State<AppState>) -> Response {
    let rfm = ReportCommand::Rfm {
        json: true,
        csv: false,
    };
    run(&state, Command::Report(rfm)).await
}

/// Rule errors recorded while processing events.
#[utoipa::path(get, path = "/v1/rules/errors", tag = "rules",
    responses((status = 200, description = "`kizuna rules errors --json`", body = Value)))]
async fn rule_errors(State(state): State<AppState>) -> Response {
    run(&state, Command::Rules(RulesCommand::Errors { json: true })).await
}

/// One message by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    /// The customer.
    customer: String,
    /// The channel.
    channel: String,
    /// The template.
    template: String,
    /// marketing (default), transactional or service.
    class: Option<String>,
    /// Template variables.
    #[serde(default)]
    vars: std::collections::BTreeMap<String, String>,
    /// Skip the guards, for this recorded reason.
    force_reason: Option<String>,
    /// When the request is made (default: now).
    #[schema(value_type = Option<String>)]
    at: Option<Timestamp>,
}

/// Queues one message by hand; it still passes the guards unless forced.
#[utoipa::path(post, path = "/v1/send", tag = "outbox",
    request_body = SendRequest,
    responses((status = 200, description = "`kizuna send … --json`", body = Value),
              (status = 404, body = ApiError), (status = 400, body = ApiError)))]
async fn send(State(state): State<AppState>, Body(b): Body<SendRequest>) -> Response {
    let args = SendArgs {
        customer: b.customer,
        channel: b.channel,
        template: b.template,
        class: b.class.unwrap_or_else(|| "marketing".into()),
        vars: b.vars.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        force: b.force_reason.is_some(),
        reason: b.force_reason,
        at: b.at,
        json: true,
    };
    run(&state, Command::Send(args)).await
}

/// `GET /v1/openapi.json`: this document.
pub async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    /// The checked-in document is the one the handlers generate: change an endpoint,
    /// then `kizuna openapi > docs/openapi.json`.
    #[test]
    fn the_checked_in_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = super::document();
        assert!(
            checked_in.trim_end() == generated.trim_end(),
            "docs/openapi.json is out of date: run `cargo run -p kizuna -- openapi > docs/openapi.json`"
        );
        let value: serde_json::Value = serde_json::from_str(&generated).unwrap();
        for path in [
            "/v1/customers/{id}",
            "/v1/campaigns/{name}/run",
            "/v1/rules/replay",
        ] {
            assert!(value["paths"][path].is_object(), "{path} missing");
        }
    }
}
