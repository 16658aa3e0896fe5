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
use kizuna_channel::{
    InboundRequest,
    inbound::{Access, Method},
};
use kizuna_core::{Event, ids::CustomerId};
use serde_json::json;
use tokio::sync::oneshot;

use super::{
    auth::{Role, Verdict},
    writer::{AppendError, Command},
};
use std::sync::atomic::Ordering::Relaxed;

/// Shared by the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Counters for `/metrics`.
    pub metrics: Arc<super::metrics::Metrics>,
    /// The writer thread.
    pub writer: Sender<Command>,
    /// The bearer tokens and their roles ([`super::auth`]).
    pub tokens: Arc<super::auth::Tokens>,
    /// Hot reload.
    pub reloader: super::reload::Reloader,
    /// `/health` and `/metrics` without the token (`[server] open_status`).
    pub open_status: bool,
    /// The home the daemon holds.
    pub home: crate::home::Home,
    /// The channels' inbound routes.
    pub routes: Arc<Vec<Mounted>>,
    /// Whether `/u/<token>` (opt-out links) is served.
    pub unsubscribe: bool,
    /// The console's logged-in viewers ([`super::console`]).
    pub sessions: Arc<super::console::session::Sessions>,
    /// The business's time zone (`[kpi] tz`): the console's dates are days there.
    pub tz: jiff::tz::TimeZone,
}

/// The largest accepted request body.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// The largest body a console form may have.
const CONSOLE_BODY: usize = 16 * 1024;

/// The largest body an opt-out link's POST may have (a one-line form).
const UNSUBSCRIBE_BODY: usize = 1024;

/// The routes, each behind the role it needs ([`super::auth`]).
pub fn router(state: AppState) -> Router {
    let status = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics));
    // The admin API (`/v1/…`), generated with its OpenAPI document.
    let (api_read, api_admin, _) = super::api::routes();
    let ingest = Router::new()
        .route("/events", post(post_events))
        .route("/v1/events", post(post_events))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_ingest,
        ));
    let mut read = Router::new()
        .route("/customers/{id}", get(get_customer))
        .merge(api_read);
    let admin = Router::new()
        .route("/rules/reload", post(reload_rules))
        .route("/v1/rules/reload", post(reload_rules))
        .merge(api_admin)
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    let open = if state.open_status {
        status
    } else {
        read = read.merge(status);
        Router::new()
    };
    let read = read.route_layer(middleware::from_fn_with_state(state.clone(), require_read));
    // The channels' routes check what each asks for themselves: a gateway's delivery
    // reports carry no token of ours, a webhook is signed, an SMS gateway passes `?token=`.
    // A customer's opt-out link carries its own proof (a signed token), no bearer token.
    let open = if state.unsubscribe {
        open.route(
            "/u/{token}",
            get(super::unsubscribe::page)
                .post(super::unsubscribe::post)
                .layer(DefaultBodyLimit::max(UNSUBSCRIBE_BODY)),
        )
    } else {
        open
    };
    // The console checks its own session cookie (a token is given once, at its login).
    let open = open.merge(super::console::routes().layer(DefaultBodyLimit::max(CONSOLE_BODY)));
    open.route("/v1/openapi.json", get(super::api::openapi))
        .merge(channel_routes(&state))
        .merge(ingest)
        .merge(read)
        .merge(admin)
        .layer(middleware::from_fn(super::request_id::layer))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
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
        Json(json!({"code": "unauthorized", "error": "a valid bearer token is required"})),
    )
        .into_response()
}

/// The answer to credentials that are not enough for `needed`, if they are not.
fn refused(state: &AppState, presented: &str, needed: Role) -> Option<Response> {
    match state.tokens.check(presented, needed) {
        Verdict::Allowed => None,
        Verdict::Unknown => Some(unauthorized(state)),
        Verdict::Forbidden(role) => {
            state.metrics.unauthorized.fetch_add(1, Relaxed);
            let message = format!(
                "this token's role ({}) may not do this; it needs a {} token",
                role_name(role),
                role_name(needed)
            );
            Some(
                (
                    StatusCode::FORBIDDEN,
                    Json(json!({"code": "forbidden", "error": message})),
                )
                    .into_response(),
            )
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Ingest => "ingest",
        Role::Read => "read",
        Role::Admin => "admin",
    }
}

async fn authorize(state: AppState, needed: Role, request: Request, next: Next) -> Response {
    match refused(&state, bearer(request.headers()), needed) {
        Some(response) => response,
        None => next.run(request).await,
    }
}

async fn require_ingest(State(state): State<AppState>, request: Request, next: Next) -> Response {
    authorize(state, Role::Ingest, request, next).await
}

async fn require_read(State(state): State<AppState>, request: Request, next: Next) -> Response {
    authorize(state, Role::Read, request, next).await
}

async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    authorize(state, Role::Admin, request, next).await
}

/// Sends a command to the writer and waits for its answer (`503` if it is gone).
pub(super) async fn ask<T>(
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
            m.events_erased.fetch_add(report.erased, Relaxed);
            m.rule_errors.fetch_add(report.rule_errors, Relaxed);
            (
                StatusCode::ACCEPTED,
                Json(json!({
                    "accepted": report.appended, "duplicates": report.duplicates,
                    "erased": report.erased,
                    "rule_errors": report.rule_errors, "ids": ids,
                })),
            )
                .into_response()
        }
        Ok(Err(AppendError::Conflict(conflicts))) => {
            state
                .metrics
                .events_conflict
                .fetch_add(conflicts.len() as u64, Relaxed);
            let errors: Vec<_> = conflicts
                .iter()
                .map(|c| {
                    json!({
                        "item": records.get(c.index).map_or(c.index + 1, |r| r.0),
                        "field": "id",
                        "message": format!(
                            "{:?} is already stored with other content; an id names one event for good",
                            c.id.as_str()
                        ),
                    })
                })
                .collect();
            (
                StatusCode::CONFLICT,
                Json(json!({
                    "error": "events reuse the id of a different stored event; nothing was stored",
                    "errors": errors,
                })),
            )
                .into_response()
        }
        Ok(Err(AppendError::Failed(e))) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response()
        }
        Ok(Err(AppendError::Unavailable {
            reason,
            retry_after,
        })) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, retry_after.to_string())],
            Json(json!({
                "error": format!("the store cannot write now; nothing was stored: {reason}"),
                "retry_after": retry_after,
            })),
        )
            .into_response(),
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
            let status = if h.status == "ok" {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let mut body = json!(h);
            body["reload"] = json!(state.reloader.status());
            (status, Json(body)).into_response()
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

/// One inbound route as the router mounts it: `/channels/<channel><path>`.
#[derive(Debug, Clone)]
pub struct Mounted {
    /// Its index among the writer's routes.
    pub index: usize,
    /// The channel's name.
    pub channel: String,
    /// GET or POST.
    pub method: Method,
    /// The route's path under the channel's.
    pub path: String,
    /// Who may call it.
    pub access: Access,
}

/// What the router needs of each route (the routes themselves go to the writer).
pub fn mounted(routes: &super::writer::Routes) -> Vec<Mounted> {
    routes
        .iter()
        .enumerate()
        .map(|(index, (channel, route))| Mounted {
            index,
            channel: channel.shape.name.clone(),
            method: route.method(),
            path: route.path().to_owned(),
            access: route.access(),
        })
        .collect()
}

/// The channels' inbound routes, under `/channels/<name>/…`.
fn channel_routes(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for m in state.routes.iter().cloned() {
        let path = format!("/channels/{}{}", m.channel, m.path);
        let filter = match m.method {
            Method::Get => axum::routing::MethodFilter::GET,
            Method::Post => axum::routing::MethodFilter::POST,
        };
        let handler =
            move |State(state): State<AppState>,
                  headers: HeaderMap,
                  uri: axum::http::Uri,
                  body: Bytes| async move { inbound(state, m, headers, uri, body).await };
        router = router.route(&path, axum::routing::on(filter, handler));
    }
    router
}

/// Hands a request to its route on the writer thread, after the token check the route
/// asks for (a gateway that cannot send headers may pass the token as `?token=`).
async fn inbound(
    state: AppState,
    route: Mounted,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let query = uri.query().unwrap_or("").to_owned();
    if route.access == Access::Ingest {
        let token = kizuna_channel::query::params(&query)
            .remove("token")
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        let presented = if bearer(&headers).is_empty() {
            token.as_str()
        } else {
            bearer(&headers)
        };
        if let Some(response) = refused(&state, presented, Role::Ingest) {
            return response;
        }
    }
    let request = InboundRequest {
        query,
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    let span = tracing::Span::current();
    match ask(&state, |tx| {
        Command::Inbound(route.index, request, span, tx)
    })
    .await
    {
        Ok(answer) => {
            if answer.status == 200 {
                state.metrics.inbound.fetch_add(1, Relaxed);
            }
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            (status, Json(answer.body)).into_response()
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
