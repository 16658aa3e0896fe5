//! Who may do what over HTTP: bearer tokens, each with a role.
//!
//! Three roles, each including the one before it in what it may *read*, but not `ingest`:
//!
//! | role     | may                                                                  |
//! |----------|----------------------------------------------------------------------|
//! | `ingest` | `POST /events` and Kannel's inbound SMS: what a shop's website holds  |
//! | `read`   | every `GET` of the API: customers, alerts, reports, status           |
//! | `admin`  | everything, including changes (erase, campaigns, reloads) and ingest |
//!
//! Tokens come from the environment (`[server] token_env` is the admin token, as before;
//! `ingest_token_env` and `read_token_env` are optional) or from `[server] tokens_file`,
//! lines of `ROLE TOKEN`, which must be readable by the daemon's user alone. A request
//! without a known token gets `401`; one whose token's role is too low gets `403`.
//! Tokens are compared in time independent of where they differ.

use std::path::Path;

use anyhow::{Context, bail};

use crate::config::Config;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Send events.
    Ingest,
    /// Read everything.
    Read,
    /// Everything.
    Admin,
}

impl Role {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ingest" => Some(Self::Ingest),
            "read" => Some(Self::Read),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Whether a token of this role may do what needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        match needed {
            // Reading is not part of ingest, and ingest is no part of reading.
            Role::Ingest => matches!(self, Role::Ingest | Role::Admin),
            Role::Read => matches!(self, Role::Read | Role::Admin),
            Role::Admin => self == Role::Admin,
        }
    }
}

/// The admin token, from the environment variable `[server] token_env` names.
pub fn admin_token(config: &Config) -> anyhow::Result<String> {
    crate::config::secret(
        &config.server.token_env,
        "[server] token_env",
        "the HTTP API's admin bearer token",
    )
}

/// The shortest token accepted.
pub const MIN_TOKEN: usize = 16;

/// The daemon's tokens.
#[derive(Debug, Default)]
pub struct Tokens {
    tokens: Vec<(Role, String)>,
}

/// The answer to a request's credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// No token, or one nobody knows: `401`.
    Unknown,
    /// A known token of a role that may not do this: `403`.
    Forbidden(Role),
}

impl Tokens {
    /// The tokens `config` names, from the environment and the tokens file (relative to
    /// `home`). The admin token (`token_env`) is required.
    pub fn load(config: &Config, home: &Path) -> anyhow::Result<Self> {
        let s = &config.server;
        let mut tokens = Self::default();
        tokens.add(Role::Admin, admin_token(config)?, &s.token_env)?;
        for (role, var) in [
            (Role::Ingest, &s.ingest_token_env),
            (Role::Read, &s.read_token_env),
        ] {
            if let Ok(token) = std::env::var(var) {
                tokens.add(role, token, var)?;
            }
        }
        if !s.tokens_file.is_empty() {
            tokens.read_file(&home.join(&s.tokens_file))?;
        }
        Ok(tokens)
    }

    fn add(&mut self, role: Role, token: String, origin: &str) -> anyhow::Result<()> {
        if token.len() < MIN_TOKEN {
            bail!("the token in {origin} is shorter than {MIN_TOKEN} characters");
        }
        if self.tokens.iter().any(|(_, t)| *t == token) {
            bail!("the token in {origin} is also given for another role; each role needs its own");
        }
        self.tokens.push((role, token));
        Ok(())
    }

    fn read_file(&mut self, path: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("[server] tokens_file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); make it the daemon user's alone: \
                 chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let origin = format!("{}:{}", path.display(), n + 1);
            let Some((role, token)) = line.split_once(char::is_whitespace) else {
                bail!("{origin}: expected `ROLE TOKEN`");
            };
            let role = Role::parse(role)
                .with_context(|| format!("{origin}: role {role:?} is not ingest, read or admin"))?;
            self.add(role, token.trim().to_owned(), &origin)?;
        }
        Ok(())
    }

    /// The role of `presented`, if it is a known token.
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        // Every token is compared, so the time taken says nothing about which matched.
        self.tokens.iter().fold(None, |found, (role, token)| {
            if same(presented.as_bytes(), token.as_bytes()) {
                Some(*role)
            } else {
                found
            }
        })
    }

    /// Whether `presented` may do what needs `needed`.
    pub fn check(&self, presented: &str, needed: Role) -> Verdict {
        match self.role_of(presented) {
            None => Verdict::Unknown,
            Some(role) if role.allows(needed) => Verdict::Allowed,
            Some(role) => Verdict::Forbidden(role),
        }
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_table_says() {
        use Role::*;
        assert!(Admin.allows(Ingest) && Admin.allows(Read) && Admin.allows(Admin));
        assert!(Read.allows(Read) && !Read.allows(Ingest) && !Read.allows(Admin));
        assert!(Ingest.allows(Ingest) && !Ingest.allows(Read) && !Ingest.allows(Admin));
    }

    #[test]
    fn a_tokens_file_is_checked_line_by_line_and_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(
            &path,
            "# shop\ningest ingest-token-0123456789\nread read-token-0123456789\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut tokens = Tokens::default();
        let err = tokens.read_file(&path).unwrap_err().to_string();
        assert!(err.contains("readable by others"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        tokens.read_file(&path).unwrap();
        assert_eq!(
            tokens.check("ingest-token-0123456789", Role::Ingest),
            Verdict::Allowed
        );
        assert_eq!(
            tokens.check("ingest-token-0123456789", Role::Read),
            Verdict::Forbidden(Role::Ingest)
        );
        assert_eq!(
            tokens.check("read-token-0123456789", Role::Read),
            Verdict::Allowed
        );
        assert_eq!(tokens.check("nope", Role::Read), Verdict::Unknown);
        std::fs::write(&path, "writer some-token-0123456789\n").unwrap();
        let err = Tokens::default().read_file(&path).unwrap_err().to_string();
        assert!(err.contains(":1: role \"writer\""), "{err}");
        std::fs::write(&path, "read short\n").unwrap();
        let err = Tokens::default().read_file(&path).unwrap_err().to_string();
        assert!(err.contains("shorter than 16"), "{err}");
    }
}
