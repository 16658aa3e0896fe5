//! The API's changes: erase, retry, campaigns, replays of a candidate, sends, alert
//! handling — each the
//! command the CLI would run, behind the admin role.

use std::{collections::HashMap, path::PathBuf};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ApiError, Body, error, run, run_with_inputs};
use crate::{
    args::{
        AlertAction, AlertHandleArgs, AlertsArgs, CampaignCommand, CampaignRunArgs, Command,
        CustomerCommand, CustomerEraseArgs, OutboxCommand, ReplayArgs, RulesCommand, SendArgs,
    },
    daemon::http::AppState,
};

/// Erases a customer: every event and all data, then compacts the database.
#[utoipa::path(delete, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer's id")),
    responses((status = 200, description = "`kizuna customer erase ID --yes --json`", body = Value),
              (status = 404, body = ApiError)))]
pub(super) async fn erase(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let args = CustomerEraseArgs {
        id,
        yes: true,
        json: true,
    };
    run(&state, Command::Customer(CustomerCommand::Erase(args))).await
}

/// Puts an unsent message back in the queue (it passes the guards again).
#[utoipa::path(post, path = "/v1/outbox/{id}/retry", tag = "outbox",
    params(("id" = String, Path, description = "The message id, e.g. m-12-0")),
    responses((status = 200, description = "`kizuna outbox retry ID --json`", body = Value),
              (status = 404, body = ApiError)))]
pub(super) async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(
        &state,
        Command::Outbox(OutboxCommand::Retry { id, json: true }),
    )
    .await
}

/// A campaign run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CampaignRequest {
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
pub(super) async fn campaign_run(
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
pub(super) struct ReplayRequest {
    /// The candidate rules directory, file by file (`points.rhai`, `guards/night.rhai`,
    /// `templates/notice.email`); none: the live rules against themselves.
    scripts: Option<std::collections::BTreeMap<String, String>>,
    /// Count differences from this time on.
    #[schema(value_type = Option<String>)]
    since: Option<Timestamp>,
    /// Replay up to this time (default: every event, the clock on to now).
    #[schema(value_type = Option<String>)]
    until: Option<Timestamp>,
    /// "Now" for the default end of the replay (not with `until`).
    #[schema(value_type = Option<String>)]
    now: Option<Timestamp>,
    /// How many of the largest point differences to list (default 10).
    top: Option<usize>,
}

/// Replays the history through candidate rules and shows what would change.
#[utoipa::path(post, path = "/v1/rules/replay", tag = "rules",
    request_body = ReplayRequest,
    responses((status = 200, description = "`kizuna rules replay … --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn replay(
    State(state): State<AppState>,
    Body(b): Body<ReplayRequest>,
) -> Response {
    // The candidate files go to a private directory in the home, as a CLI's would.
    let mut inputs = HashMap::new();
    let spool = match &b.scripts {
        Some(files) => match spool(&state, files) {
            Ok(dir) => {
                inputs.insert(PathBuf::from("candidate"), dir.path().to_path_buf());
                Some(dir)
            }
            Err(response) => return *response,
        },
        None => None,
    };
    let args = ReplayArgs {
        scripts: b.scripts.as_ref().map(|_| PathBuf::from("candidate")),
        since: b.since,
        until: b.until,
        now: b.now,
        top: b.top.unwrap_or(10),
        json: true,
    };
    let response =
        run_with_inputs(&state, Command::Rules(RulesCommand::Replay(args)), inputs).await;
    drop(spool);
    response
}

/// Who handled an alert (every field optional: `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertHandling {
    /// The staff member.
    by: Option<String>,
    /// What was done.
    note: Option<String>,
    /// When (default: now).
    #[schema(value_type = Option<String>)]
    at: Option<Timestamp>,
}

fn alert_command(id: String, b: AlertHandling, resolve: bool) -> Command {
    let args = AlertHandleArgs {
        id,
        by: b.by,
        note: b.note,
        at: b.at,
        json: true,
    };
    let action = if resolve {
        AlertAction::Resolve(args)
    } else {
        AlertAction::Ack(args)
    };
    Command::Alerts(AlertsArgs {
        action: Some(action),
        open: false,
        by_priority: false,
        limit: None,
        json: true,
    })
}

/// Acknowledges an alert: someone is on it (an `alert_acked` event).
#[utoipa::path(post, path = "/v1/alerts/{id}/ack", tag = "alerts",
    params(("id" = String, Path, description = "The alert id, e.g. a-12-0")),
    request_body = AlertHandling,
    responses((status = 200, description = "`kizuna alerts ack ID --json`", body = Value),
              (status = 404, body = ApiError), (status = 400, body = ApiError)))]
pub(super) async fn alert_ack(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<AlertHandling>,
) -> Response {
    run(&state, alert_command(id, b, false)).await
}

/// Resolves an alert: no longer open (an `alert_resolved` event; an inquiry behind it stays
/// open until a reply).
#[utoipa::path(post, path = "/v1/alerts/{id}/resolve", tag = "alerts",
    params(("id" = String, Path, description = "The alert id, e.g. a-12-0")),
    request_body = AlertHandling,
    responses((status = 200, description = "`kizuna alerts resolve ID --json`", body = Value),
              (status = 404, body = ApiError), (status = 400, body = ApiError)))]
pub(super) async fn alert_resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<AlertHandling>,
) -> Response {
    run(&state, alert_command(id, b, true)).await
}

/// One message by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SendRequest {
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
pub(super) async fn send(State(state): State<AppState>, Body(b): Body<SendRequest>) -> Response {
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

/// Writes a candidate rules directory, sent file by file, to a private directory in the
/// home; refuses a name that would leave it.
fn spool(
    state: &AppState,
    files: &std::collections::BTreeMap<String, String>,
) -> Result<tempfile::TempDir, Box<Response>> {
    let failed = |e: std::io::Error| {
        Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            e.to_string(),
            None,
        ))
    };
    let dir = tempfile::Builder::new()
        .prefix(".api-")
        .tempdir_in(state.home.root())
        .map_err(failed)?;
    for (name, text) in files {
        let rel = std::path::Path::new(name);
        if !crate::admin::stays_inside(rel) {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("scripts: {name:?} is not a relative path inside the rules directory"),
                None,
            )));
        }
        let path = dir.path().join(rel);
        path.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(failed)?;
    }
    Ok(dir)
}

/// A rules directory to check or test: sent file by file, or the live one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CandidateRequest {
    /// The candidate rules directory, file by file (`points.rhai`, `points.test.json`,
    /// `segments/lapsed.rhai`); none: the live rules.
    scripts: Option<std::collections::BTreeMap<String, String>>,
}

/// Which of `rules check` and `rules test`.
#[derive(Clone, Copy)]
enum Trial {
    Check,
    Test,
}

/// Runs `rules check` or `rules test --json` on the candidate (or the live rules), off
/// the writer: compiling touches no store.
async fn trial(state: AppState, b: CandidateRequest, which: Trial) -> Response {
    let spooled = match &b.scripts {
        Some(files) => match spool(&state, files) {
            Ok(dir) => Some(dir),
            Err(response) => return *response,
        },
        None => None,
    };
    let dir = spooled.as_ref().map_or_else(
        || state.reloader.dir().to_path_buf(),
        |d| d.path().to_path_buf(),
    );
    let shown = if spooled.is_some() {
        PathBuf::from("candidate")
    } else {
        dir.clone()
    };
    let answer = tokio::task::spawn_blocking(move || {
        let answer = crate::admin::server::answer_of(|o| match which {
            Trial::Check => crate::commands::rules::check(&dir, &shown, o, true),
            Trial::Test => crate::commands::rules::test(&dir, &shown, o, true, None),
        });
        drop(spooled);
        answer
    })
    .await;
    match answer {
        Ok(answer) => super::respond(answer),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            e.to_string(),
            None,
        ),
    }
}

/// Compiles a candidate rule set (or the live one): `kizuna rules check --json`. A set
/// that does not compile is `400 invalid` with every error, file, line and column, in
/// `details`.
#[utoipa::path(post, path = "/v1/rules/check", tag = "rules",
    request_body = CandidateRequest,
    responses((status = 200, description = "`kizuna rules check --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn rules_check(
    State(state): State<AppState>,
    Body(b): Body<CandidateRequest>,
) -> Response {
    trial(state, b, Trial::Check).await
}

/// Runs a candidate rule set's fixtures (or the live one's): `kizuna rules test --json`.
/// A failing case is `400 invalid` with every case's result in `details`.
#[utoipa::path(post, path = "/v1/rules/test", tag = "rules",
    request_body = CandidateRequest,
    responses((status = 200, description = "`kizuna rules test --json`", body = Value),
              (status = 400, body = ApiError)))]
pub(super) async fn rules_test(
    State(state): State<AppState>,
    Body(b): Body<CandidateRequest>,
) -> Response {
    trial(state, b, Trial::Test).await
}
