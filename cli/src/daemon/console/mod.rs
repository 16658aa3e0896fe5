//! The staff console: HTML pages served by the daemon under `/console`.
//!
//! Invariant: **a page holds no logic of its own.** Like the admin API ([`super::api`]), it
//! runs the command the CLI would run (`alerts --open --json`, `customer show ID --json`,
//! `alerts ack ID`, `event add … --type reply`) through the writer, and renders that
//! command's JSON output as HTML (maud, which escapes every value it is given: a customer
//! called `<img src=x onerror=…>` is shown as that text). So the console, the API and the
//! CLI show the same facts and refuse the same input.
//!
//! Sessions, CSRF and roles are in [`session`]; the frame, the two languages and the
//! security headers in [`page`]. Pages work without JavaScript; the one small script
//! (served from here, so the Content-Security-Policy can forbid every other) refreshes the
//! inbox every few seconds.

mod campaigns;
mod customer;
mod inbox;
mod outbox;
pub mod page;
mod replay;
mod reports;
mod rules;
pub mod session;

use std::{collections::HashMap, path::PathBuf};

use axum::{
    Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use maud::html;
use serde_json::Value;

use self::{
    page::{T, lang_of, layout, respond},
    session::{Session, Sessions},
};
use super::{
    auth::{Role, Verdict},
    http::{AppState, ask},
    lang::Lang,
};
use crate::{admin::server::Job, args::Command};

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/inbox") }))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/inbox", get(inbox::page))
        .route("/console/inbox/list", get(inbox::list))
        .route("/console/alerts/{id}", post(inbox::act))
        .route("/console/customers", get(customer::list))
        .route("/console/customers/{id}", get(customer::page))
        .route("/console/outbox", get(outbox::page))
        .route("/console/rules", get(rules::page))
        .route(
            "/console/rules/replay",
            post(replay::post).layer(axum::extract::DefaultBodyLimit::max(replay::MAX_BODY)),
        )
        .route(
            "/console/campaigns",
            get(campaigns::page).post(campaigns::post),
        )
        .route("/console/reports", get(reports::page))
        .route("/console/outbox/{id}/retry", post(outbox::retry))
        .route("/console/assets/console.js", get(script))
        .route("/console/assets/console.css", get(style))
}

/// The way to the login form, for a request without a live session.
fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

/// `?lang=ja|en` on any page: remembered in a cookie.
#[derive(Debug, serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn with_lang_cookie(mut response: Response, q: &LangQuery) -> Response {
    if let Some(lang @ ("ja" | "en")) = q.lang.as_deref()
        && let Ok(v) = HeaderValue::from_str(&format!(
            "kizuna_lang={lang}; Path=/console; SameSite=Strict; Max-Age=31536000"
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The language of a request, `?lang=` first.
fn lang(headers: &HeaderMap, q: &LangQuery) -> Lang {
    match q.lang.as_deref() {
        Some("en") => Lang::En,
        Some("ja") => Lang::Ja,
        _ => lang_of(headers),
    }
}

async fn login_page(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang(&headers, &q);
    with_lang_cookie(respond(StatusCode::OK, login_form(lang, None)), &q)
}

fn login_form(lang: Lang, error: Option<&str>) -> maud::Markup {
    layout(
        lang,
        T::Login.in_(lang),
        None,
        html! {
            p { (T::LoginHelp.in_(lang)) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/console/login" {
                label for="token" { (T::Token.in_(lang)) }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { (T::Login.in_(lang)) }
            }
        },
    )
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = lang_of(&headers);
    let form = form(&body);
    let token = form.get("token").map(String::as_str).unwrap_or("");
    let role = [Role::Admin, Role::Read]
        .into_iter()
        .find(|r| matches!(state.tokens.check(token, *r), Verdict::Allowed));
    let Some(role) = role else {
        state
            .metrics
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return respond(
            StatusCode::UNAUTHORIZED,
            login_form(lang, Some(T::BadToken.in_(lang))),
        );
    };
    match state.sessions.start(role) {
        Ok(id) => {
            let mut response = Redirect::to("/console/inbox").into_response();
            if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id)) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => respond(StatusCode::SERVICE_UNAVAILABLE, login_form(lang, Some(&e))),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(s) = state.sessions.of(&headers)
        && Sessions::check(&s, form(&body).get("csrf").map_or("", String::as_str))
    {
        state.sessions.end(&headers);
    }
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// A posted form's fields.
fn form(body: &[u8]) -> HashMap<String, String> {
    kizuna_channel::query::params(&String::from_utf8_lossy(body))
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

/// Runs `command` as the CLI would, through the writer: its JSON output, or its error.
async fn run(state: &AppState, command: Command) -> Result<Value, String> {
    let (stdout, _) = run_with(state, command, HashMap::new()).await?;
    serde_json::from_slice(&stdout).map_err(|e| format!("unreadable answer: {e}"))
}

/// Runs `command` with input files (as the admin socket passes a client's: the path the
/// command names → the daemon's copy): what it printed (standard output, and warnings on
/// standard error), or its error.
async fn run_with(
    state: &AppState,
    command: Command,
    inputs: HashMap<PathBuf, PathBuf>,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let job = Job {
        command: Box::new(command),
        rules: None,
        inputs,
        cwd: PathBuf::from("/"),
    };
    let answer = ask(state, |tx| super::writer::Command::Admin(job, tx))
        .await
        .map_err(|_| "the daemon is busy or stopping".to_owned())?;
    if answer.exit != 0 {
        let stderr = String::from_utf8_lossy(&answer.stderr);
        return Err(answer
            .failure
            .map(|f| f.message)
            .unwrap_or_else(|| stderr.trim().to_owned()));
    }
    Ok((answer.stdout, answer.stderr))
}

/// The answer to a posted form that may not be acted on, if it may not: its CSRF token is
/// missing or wrong, or it asks a read-only session for a change (`change`).
fn refusal(
    session: &Session,
    lang: Lang,
    fields: &HashMap<String, String>,
    change: bool,
) -> Option<Response> {
    if !Sessions::check(session, fields.get("csrf").map_or("", String::as_str)) {
        let why = "CSRF token missing or wrong";
        return Some(problem(lang, session, StatusCode::FORBIDDEN, why));
    }
    if change && !session.can_act() {
        let why = T::ReadOnly.in_(lang);
        return Some(problem(lang, session, StatusCode::FORBIDDEN, why));
    }
    None
}

/// A page that says what went wrong.
fn problem(lang: Lang, session: &Session, status: StatusCode, message: &str) -> Response {
    let title = if status == StatusCode::NOT_FOUND {
        T::NotFound
    } else {
        T::Refused
    };
    respond(
        status,
        layout(
            lang,
            title.in_(lang),
            Some(session),
            html! { p.error role="alert" { (message) } },
        ),
    )
}

async fn script() -> Response {
    asset(include_str!("console.js"), "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(include_str!("console.css"), "text/css; charset=utf-8")
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut response = text.into_response();
    page::secure(response.headers_mut(), content_type);
    response
}
