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
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

mod change;
mod read;

use super::http::{AppState, ask};
use crate::{
    admin::server::{Answer, FailureKind, Job},
    args::Command,
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
        .routes(routes!(read::status))
        .routes(routes!(read::customers))
        .routes(routes!(read::customer))
        .routes(routes!(read::points))
        .routes(routes!(read::alerts))
        .routes(routes!(read::outbox))
        .routes(routes!(read::segments))
        .routes(routes!(read::segment))
        .routes(routes!(read::report_guards))
        .routes(routes!(read::report_kpi))
        .routes(routes!(read::report_response))
        .routes(routes!(read::report_deliverability))
        .routes(routes!(read::report_rfm))
        .routes(routes!(read::rule_errors))
        .split_for_parts();
    let (admin, admin_doc) = OpenApiRouter::new()
        .routes(routes!(change::erase))
        .routes(routes!(change::retry))
        .routes(routes!(change::campaign_run))
        .routes(routes!(change::replay))
        .routes(routes!(change::send))
        .routes(routes!(change::alert_ack))
        .routes(routes!(change::alert_resolve))
        .routes(routes!(change::rules_check))
        .routes(routes!(change::rules_test))
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
pub(super) async fn run(state: &AppState, command: Command) -> Response {
    run_with_inputs(state, command, HashMap::new()).await
}

pub(super) async fn run_with_inputs(
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

pub(super) fn error(
    status: StatusCode,
    code: &str,
    message: String,
    details: Option<Value>,
) -> Response {
    let body = ApiError {
        code: code.into(),
        error: message,
        details,
    };
    (status, Json(body)).into_response()
}

/// A command's answer as an HTTP response.
pub(super) fn respond(answer: Answer) -> Response {
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
pub(super) struct Params<T>(pub(super) T);

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
pub(super) struct Body<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(t)| Body(t))
            .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid", e.body_text(), None))
    }
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
