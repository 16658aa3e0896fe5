//! Console sessions: a bearer token of role `read` or `admin`, given once at the login
//! form, exchanged for a random session id in an HttpOnly, SameSite=Strict cookie.
//!
//! The token never travels again and never reaches the page. Each session has its own
//! CSRF token, which every form carries and every POST must return ([`Sessions::check`]);
//! with SameSite=Strict that is two locks on the same door. A session knows its role, and
//! the server checks it on every action: a read-only viewer is refused an action even if
//! they build the form by hand. Sessions live in memory and end with the daemon, on logout
//! or after [`LIFETIME`].

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, header};

use crate::daemon::auth::Role;

/// How long a session lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The cookie's name.
pub const COOKIE: &str = "kizuna_session";

/// Sessions at most (the oldest go first).
const MAX_SESSIONS: usize = 1024;

/// A logged-in viewer.
#[derive(Debug, Clone)]
pub struct Session {
    /// What they may do.
    pub role: Role,
    /// The token their forms carry.
    pub csrf: String,
    started: Instant,
}

impl Session {
    /// Whether they may change things (acknowledge, resolve, record a reply).
    pub fn can_act(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The sessions of a running daemon.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `role`: its id, for the cookie.
    pub fn start(&self, role: Role) -> Result<String, String> {
        let id = random_hex()?;
        let session = Session {
            role,
            csrf: random_hex()?,
            started: Instant::now(),
        };
        let mut all = self.lock();
        all.retain(|_, s| s.started.elapsed() < LIFETIME);
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(id.clone(), session);
        Ok(id)
    }

    /// The session the request's cookie names, if it is live.
    pub fn of(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let all = self.lock();
        all.get(id)
            .filter(|s| s.started.elapsed() < LIFETIME)
            .cloned()
    }

    /// Ends the request's session.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            self.lock().remove(id);
        }
    }

    /// Whether `presented` is the session's CSRF token (compared in constant time).
    pub fn check(session: &Session, presented: &str) -> bool {
        let (a, b) = (session.csrf.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `Set-Cookie` value of a new session.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that ends it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// A cookie's value.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// 32 random bytes from the operating system, as hex.
fn random_hex() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_on_logout() {
        let sessions = Sessions::default();
        let id = sessions.start(Role::Read).unwrap();
        assert_eq!(id.len(), 64);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("lang=en; {COOKIE}={id}").parse().unwrap(),
        );
        let s = sessions.of(&headers).unwrap();
        assert!(!s.can_act());
        assert!(Sessions::check(&s, &s.csrf.clone()));
        assert!(!Sessions::check(&s, "forged"));
        sessions.end(&headers);
        assert!(sessions.of(&headers).is_none());
        let mut other = HeaderMap::new();
        other.insert(header::COOKIE, format!("{COOKIE}=guess").parse().unwrap());
        assert!(sessions.of(&other).is_none());
    }
}
