//! End-to-end tests of the `kizuna` binary. One test binary, one module per area; helpers
//! are in the `kizuna_tests` library (`tests/src/lib.rs`), fixtures in `tests/data/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// `kizuna import`: validation, all-or-nothing, --skip-invalid, idempotency.
mod import;

/// `kizuna event add`.
mod event_add;

/// `kizuna customer list|show|erase`, `kizuna rfm`.
mod customers;

/// The home and the database: init, config errors, schema versions.
mod home;

/// The rules engine from the command line: check, test, errors, points, effects.
mod rules;

/// `kizuna send`, `dispatch`, `outbox` and `report guards`: messages through the guards.
mod dispatch;

/// `kizuna tick` and `kizuna alerts`: the silence alarm.
mod silence;

/// Staff notifications: notices, escalations and digests over SMTP and a chat room.
mod staff;

/// One-click opt-out links: the SMTP headers, the daemon's /u pages, forged tokens.
mod unsubscribe;

/// Bounces and spam complaints: DSN and ARF reports, refusals at send time, the report.
mod bounces;

/// The staff console: sessions, roles, CSRF and escaping over HTTP; a real browser.
mod console;

/// Segments, `kizuna campaign run` and seasonal campaigns.
mod campaigns;

/// Holdout groups: the global control group at dispatch.
mod holdout;

/// `kizuna rules replay`: backtesting a rule change.
mod replay;

/// The SMTP channel against a real SMTP server (aiosmtpd) on loopback.
mod smtp;

/// The webhook channel against a real HTTP receiver that checks the signature.
mod webhook;

/// The LINE channel against a local server that answers as LINE documents.
mod line;

/// The SMS channel against a real Kannel gateway (bearerbox, smsbox, fakesmsc).
mod sms;

/// One conformance suite for every channel: file, SMTP, webhook, Kannel.
mod conformance;

/// `kizuna run`: the daemon over real HTTP.
mod daemon;

/// The HTTP API: tokens and roles.
mod api;

/// Every command beside a running daemon, through its admin socket; `kizuna status`.
mod admin;

/// Beside a running daemon under load and faults: concurrent admins, erase, backup and
/// restore, a killed daemon, a long replay.
mod beside;

/// `kizuna export` and its round trip through `import`.
mod export;

/// `kizuna demo` and `kizuna bench`.
mod demo;

/// Faults and hostile input: conflicting ids, refused input, a damaged store, a full disk,
/// slow clients, runaway templates and scripts, complete erasure.
mod faults;
