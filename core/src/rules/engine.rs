//! Loading a rules directory into a [`RuleSet`] and running its scripts on events.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rhai::{
    AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Scope,
    module_resolvers::FileModuleResolver, packages::Package,
};
use sha2::{Digest, Sha256};

use super::{
    api,
    effect::{AppliedEffect, Effect},
    error::{CompileError, LoadError, RuleError, ScriptPos},
    view::{CustomerView, EventView},
};
use crate::{customer::Customer, event::Event};

/// Sandbox limits. Generous for business rules, small enough that a runaway script is
/// stopped within milliseconds instead of stalling ingest.
pub mod limits {
    /// Operations per script call (an infinite loop stops here).
    pub const OPERATIONS: u64 = 200_000;
    /// Nested function calls (deep recursion stops here).
    pub const CALL_LEVELS: usize = 32;
    /// Expression nesting at top level and inside functions.
    pub const EXPR_DEPTH: (usize, usize) = (64, 32);
    /// Bytes in one string.
    pub const STRING_SIZE: usize = 16 * 1024;
    /// Items in one array.
    pub const ARRAY_SIZE: usize = 10_000;
    /// Entries in one map.
    pub const MAP_SIZE: usize = 1_000;
    /// Wall-clock time one script may take on one event (or one guard on one message): the
    /// operation limit bounds steps, not their cost, and 200,000 steps of string work
    /// took 0.78 s. Rules that do their job take microseconds.
    pub const WALL_TIME: std::time::Duration = std::time::Duration::from_millis(100);
    /// How many operations pass between two looks at the clock.
    pub(super) const CLOCK_EVERY: u64 = 512;
}

/// The token a script stopped by [`limits::WALL_TIME`] is terminated with.
const OUT_OF_TIME: &str = "out of time";

/// One compiled script.
#[derive(Debug)]
struct Script {
    name: String,
    ast: AST,
    constants: api::Constants,
    /// `const EVENT_TYPES = [...]`: the only event types `on_event` is called for.
    event_types: Option<Vec<String>>,
    /// Line of each `fn name(` in the source, for errors that carry no position.
    fn_lines: std::collections::HashMap<String, usize>,
    on_event: bool,
    on_timer: bool,
    guard: bool,
    /// The campaign its messages belong to: `const CAMPAIGN`, or the file stem of a script
    /// in `campaigns/`.
    campaign: Option<String>,
    /// Defines `matches(customer)`: a segment, or a seasonal campaign's audience.
    matches: bool,
    /// May read or set `state`: names it, or imports a library that might.
    uses_state: bool,
    /// `const WINDOW = [...]`: a seasonal campaign the clock launches.
    seasonal: Option<predicate::Seasonal>,
    /// `const HOLDOUT = 10;`: the percent of the campaign's customers held out to measure
    /// it ([`crate::lift::holdout`]).
    holdout: Option<u32>,
}

/// The largest campaign holdout, percent: a campaign that holds back more than half its
/// customers is a test, not a campaign.
pub const MAX_HOLDOUT: u32 = 50;

/// A compiled rules directory: every `.rhai` file, compiled once, run in file-name order.
#[derive(Debug)]
pub struct RuleSet {
    engine: Engine,
    scripts: Vec<Script>,
    version: String,
}

/// What the scripts made of one event.
#[derive(Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Effects of every script that ran to completion, in script order.
    pub effects: Vec<AppliedEffect>,
    /// Scripts that failed; their effects for this event are dropped.
    pub errors: Vec<RuleError>,
}

/// Resolves `import "x"` only to `.rhai` files inside the rules directory: its `lib/`
/// folder (shared libraries) first, then the directory itself ([`libraries::module_file`]).
#[derive(Debug)]
struct RulesDirResolver {
    dir: PathBuf,
    files: FileModuleResolver,
}

impl ModuleResolver for RulesDirResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<rhai::Shared<Module>, Box<EvalAltResult>> {
        match libraries::module_file(&self.dir, path) {
            Ok(file) => self.files.resolve(engine, source, &file, pos),
            Err(reason) => {
                Err(EvalAltResult::ErrorInModule(path.into(), reason.into(), pos).into())
            }
        }
    }
}

fn sandboxed_engine(dir: Option<&Path>) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(rhai::packages::StandardPackage::new().as_shared_module());
    engine
        .set_max_operations(limits::OPERATIONS)
        .set_max_call_levels(limits::CALL_LEVELS)
        .set_max_expr_depths(limits::EXPR_DEPTH.0, limits::EXPR_DEPTH.1)
        .set_max_string_size(limits::STRING_SIZE)
        .set_max_array_size(limits::ARRAY_SIZE)
        .set_max_map_size(limits::MAP_SIZE)
        .set_max_modules(16);
    engine.on_progress(|ops| {
        (ops % limits::CLOCK_EVERY == 0 && api::past_deadline()).then(|| OUT_OF_TIME.into())
    });
    engine.disable_symbol("eval");
    // `on_var` is marked volatile (not deprecated) by Rhai; it is the documented way to
    // supply variables, and the resolver is a one-liner if the signature ever changes.
    #[allow(deprecated)]
    engine.on_var(|name, index, context| Ok(api::resolve_constant(name, index, context.source())));
    if let Some(dir) = dir {
        engine.set_module_resolver(RulesDirResolver {
            dir: dir.to_path_buf(),
            files: FileModuleResolver::new_with_path_and_extension(dir, "rhai"),
        });
    }
    api::register(&mut engine);
    engine
}

/// The `.rhai` files of `dir/sub` (all of `dir` when `sub` is empty), sorted, named
/// `sub/file.rhai`. A missing sub-folder holds nothing; a missing `dir` is an error.
fn read_sources(dir: &Path, sub: &str) -> Result<Vec<(String, String)>, LoadError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| LoadError::Io { path, source }
    };
    let folder = dir.join(sub);
    if !sub.is_empty() && !folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map_err(io(&folder))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "rhai"))
        .collect();
    files.sort();
    let mut sources = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = if sub.is_empty() {
            file
        } else {
            format!("{sub}/{file}")
        };
        sources.push((name, text));
    }
    Ok(sources)
}

fn position(pos: Position) -> (Option<usize>, Option<usize>) {
    (pos.line(), pos.position())
}

/// The innermost error of a chain of failed calls, with its position.
fn innermost(mut err: &EvalAltResult) -> &EvalAltResult {
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
    | EvalAltResult::ErrorInModule(_, inner, _) = err
    {
        err = inner;
    }
    err
}

impl RuleSet {
    /// A rule set with no scripts: events are stored and projected, nothing else happens.
    pub fn empty() -> Self {
        Self {
            engine: sandboxed_engine(None),
            scripts: Vec::new(),
            version: "none".into(),
        }
    }

    /// The empty rule set, shared: for appends that run no rules (a migration, a test).
    pub fn none() -> &'static Self {
        static NONE: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
        NONE.get_or_init(Self::empty)
    }

    /// Loads every `.rhai` file in `dir` and in its `guards/` and `campaigns/` folders (other
    /// folders hold templates, segments and modules). All files must compile, or none is
    /// used.
    pub fn load_dir(dir: &Path) -> Result<Self, LoadError> {
        let mut sources = Vec::new();
        // Top-level scripts, then the packs in their own folders (named `guards/x.rhai`).
        for sub in ["", "guards", "campaigns"] {
            sources.extend(read_sources(dir, sub)?);
        }
        Self::compile(sources, Some(dir))
    }

    /// Compiles named sources (in the given order). Every compile error is reported.
    pub fn compile(sources: Vec<(String, String)>, dir: Option<&Path>) -> Result<Self, LoadError> {
        let mut engine = sandboxed_engine(dir);
        let mut errors = Vec::new();
        let mut digest = Sha256::new();
        if let Some(dir) = dir {
            let libraries = Arc::new(libraries::link(&mut engine, dir, &sources, &mut errors));
            for (name, text) in &libraries.texts {
                digest.update(name.as_bytes());
                digest.update([0]);
                digest.update(text.as_bytes());
            }
            #[allow(deprecated)] // volatile, not deprecated: see `sandboxed_engine`
            engine.on_var(move |name, index, context| {
                Ok(api::resolve_constant(name, index, context.source())
                    .or_else(|| libraries::constant(&libraries, name, index, context.source())))
            });
        }
        let mut scripts = Vec::new();
        for (name, text) in &sources {
            digest.update(name.as_bytes());
            digest.update([0]);
            digest.update(text.as_bytes());
            match compile_one(&engine, name, text) {
                Ok(script) => scripts.push(script),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            errors = lint(&engine, &sources, &scripts);
        }
        if !errors.is_empty() {
            return Err(LoadError::Compile(errors));
        }
        let version = if sources.is_empty() {
            "none".to_owned()
        } else {
            digest.finalize()[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        Ok(Self {
            engine,
            scripts,
            version,
        })
    }

    /// The engine the scripts run in (for definitions and the reference's tests).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Writes Rhai definition files (`*.d.rhai`) of everything the scripts can call into
    /// `dir`, for editors with Rhai support. (Rhai spells the return type of a function
    /// that may fail as the tail of its Rust type, `EvalAltResult>>`, which no editor
    /// reads: such functions are written as returning `?`, any value.)
    pub fn write_definitions(&self, dir: &Path) -> std::io::Result<()> {
        for (file, text) in self.engine.definitions().iter_files() {
            let text = text.replace("-> EvalAltResult>>", "-> ?");
            std::fs::write(dir.join(file), text)?;
        }
        Ok(())
    }

    /// A short hash of every file name and content: which rules produced an effect.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The percent of `campaign`'s customers its script holds out (`const HOLDOUT`); 0 when
    /// no script of that campaign says.
    pub fn campaign_holdout(&self, campaign: &str) -> u32 {
        self.scripts
            .iter()
            .filter(|s| s.campaign.as_deref() == Some(campaign))
            .find_map(|s| s.holdout)
            .unwrap_or(0)
    }

    /// Names of the loaded scripts, in run order.
    pub fn script_names(&self) -> impl Iterator<Item = &str> {
        self.scripts.iter().map(|s| s.name.as_str())
    }

    /// Whether any script defines `on_timer(name, customer, data)`.
    pub fn handles_timers(&self) -> bool {
        self.scripts.iter().any(|s| s.on_timer)
    }

    /// Whether any script defines `guard(message, customer)`.
    pub fn has_guards(&self) -> bool {
        self.scripts.iter().any(|s| s.guard)
    }

    /// Whether any script defines `on_event`.
    pub fn handles_events(&self) -> bool {
        self.scripts.iter().any(|s| s.on_event)
    }

    /// Runs every script's `on_event(event, customer)`. `customer` is the projection with
    /// this event folded in and none of its effects applied. A script that fails loses its
    /// effects for this event and reports a [`RuleError`]; the others still run.
    pub fn on_event(&self, event: &Arc<Event>, customer: &Arc<Customer>) -> Evaluation {
        if !self.handles_events() {
            return Evaluation::default();
        }
        let at = event.at.instant();
        let kind = event.kind.as_str();
        let wants = |s: &Script| {
            s.on_event
                && s.event_types
                    .as_ref()
                    .is_none_or(|types| types.iter().any(|t| t == kind))
        };
        let view = EventView::new(Arc::clone(event));
        self.call_each(wants, "on_event", at, event, customer, || {
            vec![
                Dynamic::from(view.clone()),
                Dynamic::from(CustomerView {
                    customer: Arc::clone(customer),
                    at,
                }),
            ]
        })
    }

    /// Runs `on_timer(name, customer, data)` for a timer that fell due, in the script that
    /// set it (the `script` the `timer` event records). Timer names are the script's own
    /// business, and a busy store fires many timers: asking every script about every timer
    /// cost the replay of a year a third of its time. A timer whose script is gone (the
    /// rules changed) is offered to every script that has `on_timer`.
    /// `event` is the `timer` event that records the firing in the log.
    pub fn on_timer(&self, event: &Arc<Event>, customer: &Arc<Customer>) -> Evaluation {
        let at = event.at.instant();
        let fired = crate::internal::TimerFired::from_event(event);
        let name = fired.as_ref().map(|f| f.name.clone()).unwrap_or_default();
        let data = fired
            .as_ref()
            .map_or(Dynamic::UNIT, |f| super::view::to_dynamic(&f.data));
        let owner = fired
            .as_ref()
            .map(|f| f.script.as_str())
            .filter(|o| self.scripts.iter().any(|s| s.on_timer && s.name == *o));
        self.call_each(
            |s| s.on_timer && owner.is_none_or(|o| s.name == o),
            "on_timer",
            at,
            event,
            customer,
            || {
                vec![
                    Dynamic::from(name.clone()),
                    Dynamic::from(CustomerView {
                        customer: Arc::clone(customer),
                        at,
                    }),
                    data.clone(),
                ]
            },
        )
    }

    fn call_each(
        &self,
        defines: impl Fn(&Script) -> bool,
        function: &str,
        at: jiff::Timestamp,
        event: &Event,
        customer: &Customer,
        args: impl Fn() -> Vec<Dynamic>,
    ) -> Evaluation {
        let mut out = Evaluation::default();
        for script in self.scripts.iter().filter(|s| defines(s)) {
            let (result, effects) = self.call(script, function, at, customer, true, args());
            match result {
                Ok(_) => out
                    .effects
                    .extend(effects.into_iter().scan(0, |emits, mut effect| {
                        if let Effect::Send { campaign, .. } = &mut effect {
                            campaign.clone_from(&script.campaign);
                        }
                        if let Effect::Emit { id, .. } = &mut effect {
                            *id = Some(super::emit::derived_id(&event.id, &script.name, *emits));
                            *emits += 1;
                        }
                        Some(AppliedEffect {
                            script: script.name.clone(),
                            effect,
                        })
                    })),
                Err(err) => out.errors.push(rule_error(
                    script,
                    function,
                    &err,
                    event.id.as_str(),
                    event.customer.as_str(),
                )),
            }
        }
        out
    }

    /// Calls `function` of `script` at `now`: with the script's constants, the customer's
    /// state for it (changeable only if `writable`: `on_event` and `on_timer`) and an open
    /// effect sink. Returns the result and the effects the call recorded.
    fn call(
        &self,
        script: &Script,
        function: &str,
        now: jiff::Timestamp,
        customer: &Customer,
        writable: bool,
        args: impl rhai::FuncArgs,
    ) -> (Result<Dynamic, Box<EvalAltResult>>, Vec<Effect>) {
        let stored = customer.state.get(&script.name);
        super::state::with_state(script.uses_state, stored, writable, || {
            api::with_sink(now, &script.constants, || {
                let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
                self.engine.call_fn_with_options::<Dynamic>(
                    options,
                    &mut Scope::new(),
                    &script.ast,
                    function,
                    args,
                )
            })
        })
    }

    /// Calls every script's `guard` and returns each script's verdict, or the error that
    /// stopped it (a guard that errs, acts, or returns no verdict has failed).
    pub(super) fn call_guards(
        &self,
        now: jiff::Timestamp,
        args: impl Fn() -> Vec<Dynamic>,
        message: &str,
        customer_record: &Customer,
    ) -> Vec<(String, Result<super::guard::Verdict, RuleError>)> {
        let customer = customer_record.id.as_str();
        let mut out = Vec::new();
        for script in self.scripts.iter().filter(|s| s.guard) {
            let (result, effects) = self.call(script, "guard", now, customer_record, false, args());
            let verdict = match result {
                Err(err) => Err(rule_error(script, "guard", &err, message, customer)),
                Ok(_) if !effects.is_empty() => Err(RuleError {
                    function: "guard".into(),
                    pos: ScriptPos {
                        file: script.name.clone(),
                        line: script.fn_lines.get("guard").copied(),
                        column: None,
                    },
                    message: "a guard may only decide; it called an action".into(),
                    event: message.into(),
                    customer: customer.into(),
                }),
                Ok(value) => value
                    .try_cast::<super::guard::Verdict>()
                    .ok_or_else(|| RuleError {
                        function: "guard".into(),
                        pos: ScriptPos {
                            file: script.name.clone(),
                            line: script.fn_lines.get("guard").copied(),
                            column: None,
                        },
                        message:
                            "a guard must return allow(), deny(reason) or defer(until, reason)"
                                .into(),
                        event: message.into(),
                        customer: customer.into(),
                    }),
            };
            out.push((script.name.clone(), verdict));
        }
        out
    }
}

fn rule_error(
    script: &Script,
    function: &str,
    err: &EvalAltResult,
    event: &str,
    customer: &str,
) -> RuleError {
    let inner = innermost(err);
    let (mut line, mut column) = position(inner.position());
    if line.is_none() {
        // Some limits (too many operations) carry no position: point at the function.
        line = script.fn_lines.get(function).copied();
        column = line.map(|_| 1);
    }
    let mut message = match inner {
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == OUT_OF_TIME => format!(
            "stopped after {} ms, the time a script may take on one event",
            limits::WALL_TIME.as_millis()
        ),
        other => other.to_string(),
    };
    // Rhai appends " (line x, position y)"; the position is reported separately.
    if let Some(cut) = message.rfind(" (line ") {
        message.truncate(cut);
    }
    RuleError {
        function: function.into(),
        pos: ScriptPos {
            file: script.name.clone(),
            line,
            column,
        },
        message,
        event: event.into(),
        customer: customer.into(),
    }
}

/// The static checks of [`super::lint`] over scripts that compiled.
fn lint(engine: &Engine, sources: &[(String, String)], scripts: &[Script]) -> Vec<CompileError> {
    let known = super::lint::known_functions(engine);
    let mut findings = Vec::new();
    let mut timers = Vec::new();
    for ((name, text), script) in sources.iter().zip(scripts) {
        findings.extend(super::lint::check_script(
            name,
            text,
            &known,
            script.event_types.as_deref(),
        ));
        let shared: Vec<String> = script
            .constants
            .values
            .get("SHARED_TIMERS")
            .and_then(|v| v.clone().try_cast::<rhai::Array>())
            .map(|a| a.into_iter().filter_map(|t| t.into_string().ok()).collect())
            .unwrap_or_default();
        timers.push((name.as_str(), text.as_str(), shared));
    }
    findings.extend(super::lint::shared_timers(&timers));
    findings
}

/// Where a missing `;` belongs: Rhai reports it at the token after the gap, which is
/// the start of the next line when the `;` was left off a line's end. Then the end of the
/// previous non-blank line is the place to show.
fn missing_semicolon_place(
    text: &str,
    e: &rhai::ParseError,
) -> Option<(Option<usize>, Option<usize>)> {
    if !e.0.to_string().starts_with("Expecting ';'") {
        return None;
    }
    let (line, column) = (e.1.line()?, e.1.position()?);
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line - 1)?;
    let indent = here.len() - here.trim_start().len();
    if column > indent + 1 {
        return None; // the gap is within this line
    }
    let (previous, code) = lines[..line - 1]
        .iter()
        .enumerate()
        .rev()
        .find(|(_, l)| !l.trim().is_empty())?;
    Some((
        Some(previous + 1),
        Some(code.trim_end().chars().count() + 1),
    ))
}

/// Compiles one script: parse, run its top level once to evaluate its constants, then
/// compile again with those constants so they are folded into the functions (Rhai functions
/// cannot see the script's top-level variables at call time, only propagated constants).
fn compile_one(engine: &Engine, name: &str, text: &str) -> Result<Script, CompileError> {
    let parse_error = |e: rhai::ParseError| {
        let (line, column) = missing_semicolon_place(text, &e).unwrap_or(position(e.1));
        CompileError {
            pos: ScriptPos {
                file: name.into(),
                line,
                column,
            },
            message: e.0.to_string(),
            source_line: line
                .and_then(|l| text.lines().nth(l - 1))
                .map(str::to_owned),
        }
    };
    let first = engine.compile(text).map_err(parse_error)?;
    let mut constants = Scope::new();
    engine
        .run_ast_with_scope(&mut constants, &first)
        .map_err(|err| {
            let inner = innermost(&err);
            let (line, column) = position(inner.position());
            CompileError {
                pos: ScriptPos {
                    file: name.into(),
                    line,
                    column,
                },
                message: format!("the top level of the script failed: {inner}"),
                source_line: line
                    .and_then(|l| text.lines().nth(l - 1))
                    .map(str::to_owned),
            }
        })?;
    let mut ast = engine
        .compile_with_scope(&constants, text)
        .map_err(parse_error)?;
    ast.set_source(name);
    let has = |f: &str, params: usize| {
        ast.iter_functions()
            .any(|m| m.name == f && m.params.len() == params)
    };
    // Shared values: handing a constant table to a function is then a reference count,
    // not a copy of the table, on every access.
    let constants: std::collections::HashMap<String, Dynamic> = constants
        .iter()
        .map(|(n, _, v)| {
            (
                n.to_owned(),
                if v.is_array() || v.is_map() {
                    v.into_shared()
                } else {
                    v
                },
            )
        })
        .collect();
    let event_types = match constants.get("EVENT_TYPES") {
        None => None,
        Some(v) => {
            let types: Option<Vec<String>> = v
                .clone()
                .try_cast::<rhai::Array>()
                .and_then(|a| a.into_iter().map(|t| t.into_string().ok()).collect());
            Some(types.ok_or_else(|| CompileError {
                pos: ScriptPos {
                    file: name.into(),
                    line: None,
                    column: None,
                },
                message: "EVENT_TYPES must be an array of event type names".into(),
                source_line: None,
            })?)
        }
    };
    let fn_lines = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let rest = l.trim_start().strip_prefix("fn ")?;
            let (fname, _) = rest.split_once('(')?;
            Some((fname.trim().to_owned(), i + 1))
        })
        .collect();
    let campaign = match constants.get("CAMPAIGN") {
        Some(v) => Some(v.clone().into_string().map_err(|_| CompileError {
            pos: ScriptPos {
                file: name.into(),
                line: None,
                column: None,
            },
            message: "CAMPAIGN must be a string (the campaign name)".into(),
            source_line: None,
        })?),
        None => name
            .strip_prefix("campaigns/")
            .map(|f| f.trim_end_matches(".rhai").to_owned()),
    };
    let seasonal = predicate::seasonal(name, &constants, campaign.as_deref())?;
    let holdout = match constants.get("HOLDOUT") {
        None => None,
        Some(v) => Some(
            v.as_int()
                .ok()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n <= MAX_HOLDOUT && campaign.is_some())
                .ok_or_else(|| CompileError {
                    pos: ScriptPos {
                        file: name.into(),
                        line: text
                            .lines()
                            .position(|l| l.trim_start().starts_with("const HOLDOUT"))
                            .map(|i| i + 1),
                        column: None,
                    },
                    message: format!(
                        "HOLDOUT must be a whole percent from 0 to {MAX_HOLDOUT}, in a campaign \
                         script (in campaigns/, or with const CAMPAIGN)"
                    ),
                    source_line: None,
                })?,
        ),
    };
    Ok(Script {
        holdout,
        campaign,
        seasonal,
        matches: has("matches", 1),
        uses_state: text.contains("state") || !libraries::imports(text).is_empty(),
        name: name.into(),
        constants: Arc::new(api::ScriptConstants {
            name: name.to_owned(),
            values: constants,
        }),
        event_types,
        fn_lines,
        on_event: has("on_event", 2),
        on_timer: has("on_timer", 3),
        guard: has("guard", 2),
        ast,
    })
}

mod libraries;
mod predicate;
pub use predicate::Seasonal;
#[cfg(test)]
mod tests;
