//! Trying a changed script: the rules page's form takes one file, pasted or uploaded, puts
//! it in a copy of the live rules directory and runs `kizuna rules replay` on that copy —
//! the command the CLI runs, its output shown as the CLI prints it (the differences in
//! points, tiers, messages and alerts), or its error with file:line when the script does
//! not compile. Nothing changes: the live rules stay as they are.

use std::{collections::HashMap, path::PathBuf};

use axum::{
    extract::{Multipart, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::{Markup, html};

use super::{
    lang_of, layout, page::T, problem, refusal, respond, run_with, session::Session, to_login,
};
use crate::{
    args::{Command, ReplayArgs, RulesCommand},
    daemon::{http::AppState, lang::Lang},
};

/// The largest form accepted: a script or template, with room to spare.
pub const MAX_BODY: usize = 1024 * 1024;

/// The form, for the rules page.
pub fn form(lang: Lang, session: &Session) -> Markup {
    html! {
        section #replay {
            h2 { (T::ReplayChange.in_(lang)) }
            p { (T::ReplayHelp.in_(lang)) }
            form method="post" action="/console/rules/replay" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(session.csrf);
                p { label { (T::FileName.in_(lang)) " " input type="text" name="name" placeholder="points.rhai" size="24"; } }
                p { label { (T::Upload.in_(lang)) " " input type="file" name="file" accept=".rhai,.json,.email,.text,.sms,.toml"; } }
                p { label { (T::OrPaste.in_(lang)) br; textarea name="source" rows="14" cols="80" spellcheck="false" {} } }
                button type="submit" { (T::Replay.in_(lang)) }
            }
        }
    }
}

/// What the form sent.
#[derive(Debug, Default)]
struct Sent {
    csrf: String,
    name: String,
    source: String,
    upload: Option<(String, Vec<u8>)>,
}

async fn read(mut multipart: Multipart) -> Result<Sent, String> {
    let mut sent = Sent::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| e.to_string())?;
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "csrf" => sent.csrf = text(),
            "name" => sent.name = text().trim().to_owned(),
            "source" => sent.source = text(),
            "file" if !bytes.is_empty() => {
                sent.upload = Some((file_name.unwrap_or_default(), bytes.to_vec()));
            }
            _ => {}
        }
    }
    Ok(sent)
}

/// The file to try, `(path in the rules directory, content)`, or what is wrong with it.
fn candidate(sent: Sent) -> Result<(PathBuf, String), String> {
    let (name, bytes) = match sent.upload {
        Some((file_name, bytes)) => {
            let name = if sent.name.is_empty() {
                file_name
            } else {
                sent.name
            };
            (name, bytes)
        }
        None => (sent.name, sent.source.into_bytes()),
    };
    if name.is_empty() {
        return Err("name: say which file this is (e.g. points.rhai or guards/night.rhai)".into());
    }
    let path = PathBuf::from(&name);
    if !crate::admin::stays_inside(&path) {
        return Err(format!(
            "name: {name:?} is not a relative path inside the rules directory"
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!(
            "{name}: the file is empty; paste or upload its text"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| format!("{name}: not UTF-8 text ({e})"))?;
    Ok((path, text))
}

/// `POST /console/rules/replay`.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let Some(session) = state.sessions.of(&headers) else {
        return to_login();
    };
    let lang = lang_of(&headers);
    let sent = match read(multipart).await {
        Ok(sent) => sent,
        Err(e) => return problem(lang, &session, StatusCode::BAD_REQUEST, &e),
    };
    let fields = HashMap::from([("csrf".to_owned(), sent.csrf.clone())]);
    // A replay changes nothing: read-only sessions may run one.
    if let Some(refused) = refusal(&session, lang, &fields, false) {
        return refused;
    }
    let (path, text) = match candidate(sent) {
        Ok(c) => c,
        Err(e) => return problem(lang, &session, StatusCode::BAD_REQUEST, &e),
    };
    // A copy of the live rules, in the home (as the API's candidates), with the file in it.
    let live = state.reloader.dir().to_path_buf();
    let spool = tempfile::Builder::new()
        .prefix(".console-")
        .tempdir_in(state.home.root())
        .map_err(|e| e.to_string())
        .and_then(|dir| {
            crate::commands::backup::copy_dir(&live, dir.path()).map_err(|e| format!("{e:#}"))?;
            let target = dir.path().join(&path);
            target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&target, &text))
                .map_err(|e| e.to_string())?;
            Ok(dir)
        });
    let spool = match spool {
        Ok(dir) => dir,
        Err(e) => return problem(lang, &session, StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let args = ReplayArgs {
        scripts: Some(PathBuf::from("candidate")),
        since: None,
        until: None,
        now: None,
        top: 10,
        json: false,
    };
    let inputs = HashMap::from([(PathBuf::from("candidate"), spool.path().to_path_buf())]);
    let outcome = run_with(&state, Command::Rules(RulesCommand::Replay(args)), inputs).await;
    drop(spool);
    let shown = path.display().to_string();
    let (status, body) = match outcome {
        Ok((stdout, warnings)) => {
            let mut text = String::from_utf8_lossy(&stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&warnings));
            (StatusCode::OK, result(lang, &shown, Ok(&text)))
        }
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            result(lang, &shown, Err(&e)),
        ),
    };
    respond(
        status,
        layout(lang, T::Replay.in_(lang), Some(&session), body),
    )
}

fn result(lang: Lang, file: &str, outcome: Result<&str, &str>) -> Markup {
    html! {
        section #replayed {
            h2 { (T::ReplayedWith.in_(lang)) " " code { (file) } }
            @match outcome {
                Ok(text) => { pre.replay { (text) } }
                Err(e) => { pre.error role="alert" { (e) } }
            }
            p { a href="/console/rules" { (T::BackToRules.in_(lang)) } }
        }
    }
}
