//! `kizuna run`: the long-running daemon.
//!
//! One writer thread owns the store ([`writer`]); an HTTP server (axum on tokio,
//! [`http`]) takes events and questions and passes them to it. SIGTERM or ctrl-c stops
//! accepting connections, lets requests in flight finish, flushes the store and exits 0.
//! An event is acknowledged (202) only after it is durable, so `kill -9` at any moment
//! loses nothing that was acknowledged.

pub mod api;
pub mod auth;
pub mod console;
pub mod degraded;
pub mod http;
pub mod inbound;
pub mod lang;
pub mod metrics;
pub mod reload;
pub mod request_id;
pub mod serve;
pub mod unsubscribe;
pub mod writer;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{Arc, OnceLock},
};

use anyhow::Context;

use crate::{config::Config, home::Home};

/// What a running daemon is, for the commands it runs (`kizuna status`).
#[derive(Debug)]
pub struct DaemonInfo {
    /// The home it holds.
    pub home: Home,
    /// Its configuration, as read at start.
    pub config: Config,
    /// The rules directory it runs and watches.
    pub rules_dir: PathBuf,
    /// When it started.
    pub started: jiff::Timestamp,
    /// Its process id.
    pub pid: u32,
    /// The HTTP address it listens on, once bound.
    pub listen: OnceLock<String>,
    /// Reloads: the active version, and the last failure.
    pub reloader: reload::Reloader,
    /// Timers fire and messages go out only on `kizuna tick` / `kizuna dispatch`.
    pub manual_clock: bool,
    /// Why the store cannot write, while it cannot ([`degraded`]).
    pub degraded: std::sync::Mutex<Option<String>>,
    /// The opt-out links it answers at `/u/<token>` (`[unsubscribe]`), if configured.
    pub unsubscribe: Option<kizuna_core::unsubscribe::Links>,
}

/// Starts the daemon on `listen` and runs until a signal.
pub fn run(
    home: &Home,
    rules: Option<&Path>,
    listen: &str,
    manual_clock: bool,
) -> anyhow::Result<ExitCode> {
    let config = home.config()?;
    let tokens = auth::Tokens::load(&config, home.root())?;
    let rule_set = home.load_rules(rules)?;
    let version = rule_set.version().to_owned();
    // The channels are built once: the dispatcher sends through them, and their inbound
    // routes (delivery reports, customers writing in) are answered with the same objects.
    let channels = crate::commands::outbox::channels(home)?;
    let routes_mounted = http::mounted(&channels.routes);
    // The rules in force live with the dispatcher (its guards), which the writer asks for
    // them on every append: a reload swaps them in one place.
    let links = config.unsubscribe_links()?;
    let dispatcher = kizuna_core::dispatch::Dispatcher::new(
        channels.configured,
        rule_set,
        home.rules_dir_or(rules).join("templates"),
        kizuna_core::dispatch::RetryPolicy::default(),
    )
    .with_unsubscribe(links.clone())
    .with_holdouts(config.holdouts()?);
    let routes = channels.routes;
    let (_, mut store) = home.open_store()?;
    // A burst that changes more customers than a checkpoint holds starts one from the
    // append: on the background thread, like the periodic ones, not between requests.
    store.set_background_checkpoints(true);
    let (tx, rx) = std::sync::mpsc::channel();
    let counters = Arc::new(metrics::Metrics::default());
    let reloader = reload::Reloader::new(home.rules_dir_or(rules), tx.clone(), version);
    let info = Arc::new(DaemonInfo {
        home: home.clone(),
        config: config.clone(),
        rules_dir: home.rules_dir_or(rules),
        started: jiff::Timestamp::now(),
        pid: std::process::id(),
        listen: OnceLock::new(),
        reloader: reloader.clone(),
        manual_clock,
        degraded: std::sync::Mutex::new(None),
        unsubscribe: links,
    });
    let writer = {
        let counters = Arc::clone(&counters);
        let info = Arc::clone(&info);
        std::thread::Builder::new()
            .name("kizuna-writer".into())
            .spawn(move || writer::run(store, dispatcher, routes, rx, counters, info))?
    };
    // Every other command on this home now goes through the daemon ([`crate::admin`]).
    let admin = crate::admin::server::bind(home.root())?;
    let admin_in_flight =
        crate::admin::server::serve(admin, home.root().to_path_buf(), tx.clone())?;
    // In place before the server answers; kept until the daemon stops.
    let _watch = match reloader.watch() {
        Ok(watch) => Some(watch),
        Err(e) => {
            tracing::error!(error = %e, "cannot watch the rules directory; reload with SIGHUP or POST /rules/reload");
            None
        }
    };
    let state = http::AppState {
        metrics: counters,
        writer: tx.clone(),
        tokens: Arc::new(tokens),
        reloader: reloader.clone(),
        open_status: config.server.open_status,
        home: home.clone(),
        routes: Arc::new(routes_mounted),
        unsubscribe: info.unsubscribe.is_some(),
        sessions: Arc::new(console::session::Sessions::default()),
        tz: jiff::tz::TimeZone::get(&config.kpi.tz).unwrap_or(jiff::tz::TimeZone::UTC),
    };
    let files = serve::raise_fd_limit();
    let limits = serve::Limits {
        header_timeout: std::time::Duration::from_secs(config.server.header_timeout_secs),
        body_timeout: std::time::Duration::from_secs(config.server.body_timeout_secs),
        // Below the descriptors the process may hold, leaving room for the store's files,
        // the admin socket and channels.
        max_connections: config
            .server
            .max_connections
            .min(files.map_or(usize::MAX, |n| {
                usize::try_from(n.saturating_sub(256)).unwrap_or(usize::MAX)
            }))
            .max(1),
    };
    tracing::info!(
        max_connections = limits.max_connections,
        open_files = files,
        "connection limits"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served: anyhow::Result<()> = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        // Signals are caught from before the daemon says it listens: a SIGTERM or SIGHUP
        // sent right after that line must stop it gracefully or reload, not kill it.
        use tokio::signal::unix::{SignalKind, signal};
        let (term, interrupt, mut hup) = (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
            signal(SignalKind::hangup())?,
        );
        // Printed for people and scripts: the address actually bound (port 0 picks one).
        let _ = info.listen.set(listener.local_addr()?.to_string());
        println!("kizuna listening on http://{}", listener.local_addr()?);
        tracing::info!(addr = %listener.local_addr()?, "listening");
        let on_hup = reloader.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let r = on_hup.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload()).await;
            }
        });
        serve::serve(
            listener,
            http::router(state),
            limits,
            shutdown_signal(term, interrupt),
        )
        .await;
        Ok(())
    });
    // New commands find no daemon from here on (and wait for the database, offline).
    let _ = std::fs::remove_file(crate::admin::socket_path(home.root()));
    let _ = tx.send(writer::Command::Shutdown);
    // Bounded: a store that cannot finish its last flush must not hold the stop forever.
    let stopping = std::time::Instant::now();
    while !writer.is_finished() {
        if stopping.elapsed() > STOP_WITHIN {
            tracing::error!(
                "the writer did not stop within {STOP_WITHIN:?}; stopping without its final \
                 flush (what was acknowledged was flushed before its answer)"
            );
            std::process::exit(1);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = writer.join();
    // Commands the writer carried out are answered before the process ends.
    if !admin_in_flight.wait_idle(std::time::Duration::from_secs(10)) {
        tracing::warn!("stopping with admin commands unanswered");
    }
    served?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// How long a stop waits for the writer's final flush.
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Resolves on SIGTERM or SIGINT (ctrl-c), whose handlers the caller installed.
async fn shutdown_signal(
    mut term: tokio::signal::unix::Signal,
    mut interrupt: tokio::signal::unix::Signal,
) {
    tokio::select! {
        _ = term.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// `kizuna rules reload`: `POST /rules/reload` to the running daemon, with the token from
/// the environment.
pub fn reload_remote(home: &Home, listen: Option<&str>) -> anyhow::Result<ExitCode> {
    let config = home.config()?;
    let addr = listen.map_or(config.server.listen.clone(), str::to_owned);
    let token = auth::admin_token(&config)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    let mut response = agent
        .post(format!("http://{addr}/rules/reload"))
        .header("Authorization", &format!("Bearer {token}"))
        .send("")
        .with_context(|| format!("no kizuna daemon answering at {addr}"))?;
    let status = response.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string()?).unwrap_or_default();
    if status == 200 {
        println!(
            "reloaded: rules version {}",
            body["rules"].as_str().unwrap_or("?")
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: not reloaded ({status}); the running rules stay: {}",
            body["error"].as_str().unwrap_or("")
        );
        Ok(ExitCode::FAILURE)
    }
}
