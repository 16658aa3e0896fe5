//! The daemon's HTTP interface (axum): ingest, customers, health.

use std::sync::{Arc, mpsc::Sender};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Request, State},
    http::{HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use kizuna_core::{Event, ids::CustomerId};
use serde_json::json;
use tokio::sync::oneshot;

use super::writer::Command;
use std::sync::atomic::Ordering::Relaxed;

/// Shared by the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Counters for `/metrics`.
    pub metrics: Arc<super::metrics::Metrics>,
    /// The writer thread.
    pub writer: Sender<Command>,
    /// The bearer token the API's requests must carry.
    pub token: Arc<String>,
    /// Hot reload.
    pub reloader: super::reload::Reloader,
    /// `/health` and `/metrics` without the token (`[server] open_status`).
    pub open_status: bool,
}

/// The largest accepted request body.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// The routes.
pub fn router(state: AppState) -> Router {
    let status = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics));
    let mut protected = Router::new()
        .route("/events", post(post_events))
        .route("/customers/{id}", get(get_customer))
        .route("/rules/reload", post(reload_rules));
    let open = if state.open_status {
        status
    } else {
        protected = protected.merge(status);
        Router::new()
    };
    let protected =
        protected.route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    // Kannel's delivery reports carry no token of ours: the path is open, and what it can
    // do is limited to recording a report for a message that exists.
    open.route("/dlr", get(delivery_report))
        // Kannel's sms-service cannot send headers: the token may come as `?token=`.
        .route("/sms/inbound", get(inbound_sms))
        .merge(protected)
        .layer(middleware::from_fn(super::request_id::layer))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

fn unauthorized(state: &AppState) -> Response {
    state.metrics.unauthorized.fetch_add(1, Relaxed);
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "a valid bearer token is required"})),
    )
        .into_response()
}

async fn require_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if same(bearer(&headers).as_bytes(), state.token.as_bytes()) {
        next.run(request).await
    } else {
        unauthorized(&state)
    }
}

async fn ask<T>(
    state: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "the store is shutting down"})),
        )
            .into_response()
    };
    state.writer.send(make(tx)).map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

/// Splits a body into records: a JSON array, or one JSON object per line (NDJSON; a single
/// object is one line).
fn records(body: &[u8]) -> Result<Vec<(usize, String)>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(trimmed).map_err(|e| format!("not a JSON array: {e}"))?;
        Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, v.to_string()))
            .collect())
    } else {
        Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, l.to_owned()))
            .collect())
    }
}

/// `POST /events`: all or nothing, 202 once durable.
async fn post_events(State(state): State<AppState>, body: Bytes) -> Response {
    let records = match records(&body) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => {
            return (StatusCode::BAD_REQUEST, Json(json!({"error": "no events"}))).into_response();
        }
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    };
    let mut events = Vec::with_capacity(records.len());
    let mut errors = Vec::new();
    for (item, text) in &records {
        match Event::from_json_str(text) {
            Ok(e) => events.push(e),
            Err(fields) => {
                for f in fields {
                    errors.push(json!({"item": item, "field": f.field, "message": f.reason}));
                }
            }
        }
    }
    if !errors.is_empty() {
        state.metrics.batches_rejected.fetch_add(1, Relaxed);
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid events; nothing was stored", "errors": errors})),
        )
            .into_response();
    }
    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    match ask(&state, |tx| {
        Command::Append(events, tracing::Span::current(), tx)
    })
    .await
    {
        Ok(Ok(report)) => {
            let m = &state.metrics;
            m.events_ingested.fetch_add(report.appended, Relaxed);
            m.events_duplicate.fetch_add(report.duplicates, Relaxed);
            m.rule_errors.fetch_add(report.rule_errors, Relaxed);
            (
                StatusCode::ACCEPTED,
                Json(json!({
                    "accepted": report.appended, "duplicates": report.duplicates,
                    "rule_errors": report.rule_errors, "ids": ids,
                })),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response()
        }
        Err(r) => r,
    }
}

async fn get_customer(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = CustomerId::new(&id) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "bad customer id"})),
        )
            .into_response();
    };
    match ask(&state, |tx| Command::Customer(id, tx)).await {
        Ok(Ok(Some(c))) => Json(c).into_response(),
        Ok(Ok(None)) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such customer"})),
        )
            .into_response(),
        Ok(Err(e)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response()
        }
        Err(r) => r,
    }
}

async fn health(State(state): State<AppState>) -> Response {
    match ask(&state, Command::Health).await {
        Ok(h) => {
            let mut body = json!(h);
            body["reload"] = json!(state.reloader.status());
            Json(body).into_response()
        }
        Err(r) => r,
    }
}

/// `POST /rules/reload`: compile and test the rules directory now; swap if it passes.
async fn reload_rules(State(state): State<AppState>) -> Response {
    let reloader = state.reloader.clone();
    match tokio::task::spawn_blocking(move || reloader.reload()).await {
        Ok(Ok(version)) => Json(json!({"rules": version})).into_response(),
        Ok(Err(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": e, "kept": "the running rules"})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// `GET /dlr?id=m-…&type=%d`: Kannel's delivery report becomes an event.
async fn delivery_report(State(state): State<AppState>, uri: axum::http::Uri) -> Response {
    let path = uri
        .path_and_query()
        .map_or("/dlr", |p| p.as_str())
        .to_owned();
    let (id, dlr_type) = match crate::commands::receipts::parse_report(&path) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("{e:#}")})),
            )
                .into_response();
        }
    };
    match ask(&state, |tx| Command::Report(id, dlr_type, tx)).await {
        Ok(Ok(recorded)) => Json(json!({"recorded": recorded})).into_response(),
        Ok(Err(e)) => (StatusCode::NOT_FOUND, Json(json!({"error": e}))).into_response(),
        Err(r) => r,
    }
}

/// `GET /sms/inbound?from=…&text=…&id=…&ts=…&coding=…&token=…`: Kannel's MO callback.
async fn inbound_sms(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let query = uri.query().unwrap_or("");
    let token = super::inbound::query_token(query).unwrap_or_default();
    let authorised = same(bearer(&headers).as_bytes(), state.token.as_bytes())
        || same(token.as_bytes(), state.token.as_bytes());
    if !authorised {
        return unauthorized(&state);
    }
    let sms = match super::inbound::InboundSms::from_query(query) {
        Ok(sms) => sms,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    };
    let span = tracing::Span::current();
    match ask(&state, |tx| Command::InboundSms(sms, span, tx)).await {
        Ok(Ok(recorded)) => {
            if !recorded.duplicate {
                state.metrics.sms_inbound.fetch_add(1, Relaxed);
            }
            Json(recorded).into_response()
        }
        Ok(Err(e)) => {
            use super::inbound::InboundError as E;
            let status = match e {
                E::BadNumber => StatusCode::BAD_REQUEST,
                E::UnknownNumber => StatusCode::NOT_FOUND,
                E::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, Json(json!({"error": e.to_string()}))).into_response()
        }
        Err(r) => r,
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    let health = match ask(&state, Command::Health).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let reload = state.reloader.status();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(&health, &reload),
    )
        .into_response()
}
