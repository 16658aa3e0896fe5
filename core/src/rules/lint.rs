//! Static checks of a rule set, run when it loads (`rules check`, every reload): the
//! mistakes that Rhai only reports when an event reaches them, or never.
//!
//! - a call to a function that exists nowhere (`award_point(…)`), with a did-you-mean;
//! - a call with an argument count no variant of the function takes (`award_points(5)`);
//! - a field `customer` or `customer.stats` does not have (`customer.teir`);
//! - a misspelt `event` field (`event.ammount`) in a script that declares `EVENT_TYPES`
//!   of kizuna's own types, whose fields are known;
//! - a timer name two scripts both `schedule` or `cancel` (one would silently replace the
//!   other's), unless both declare it in `const SHARED_TIMERS = [...]`.
//!
//! The checks read the script's tokens, not its meaning: a name the script binds itself
//! (`let`, `const`, parameters, closures, `for`) is never taken for a function, and an
//! unknown field is only reported where it is surely wrong. Each finding is a
//! [`CompileError`] with file, line, column and the source line, so the rule set does
//! not load, exactly as for a syntax error.

use std::collections::{HashMap, HashSet};

use super::{
    error::{CompileError, ScriptPos},
    view::{CUSTOMER_FIELDS, EVENT_FIELDS, STATS_FIELDS},
};

/// One token of a script, with its 1-based line and column.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    column: usize,
}

/// Splits `text` into identifiers, string literals and punctuation, skipping comments,
/// numbers and whitespace. Interpolations in back-tick strings are not looked into.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line, mut column) = (0, 1, 1);
    let mut out = Vec::new();
    let advance = |i: &mut usize, line: &mut usize, column: &mut usize| {
        if chars[*i] == '\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        let (start_line, start_column) = (line, column);
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut column);
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                advance(&mut i, &mut line, &mut column);
            }
            for _ in 0..2 {
                if i < chars.len() {
                    advance(&mut i, &mut line, &mut column);
                }
            }
        } else if c == '"' || c == '`' || c == '\'' {
            advance(&mut i, &mut line, &mut column);
            let mut s = String::new();
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    advance(&mut i, &mut line, &mut column);
                }
                s.push(chars[i]);
                advance(&mut i, &mut line, &mut column);
            }
            if i < chars.len() {
                advance(&mut i, &mut line, &mut column);
            }
            out.push(Token {
                tok: if c == '\'' { Tok::Other } else { Tok::Str(s) },
                line: start_line,
                column: start_column,
            });
        } else if c.is_alphabetic() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                advance(&mut i, &mut line, &mut column);
            }
            out.push(Token {
                tok: Tok::Ident(s),
                line: start_line,
                column: start_column,
            });
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                advance(&mut i, &mut line, &mut column);
            }
            out.push(Token {
                tok: Tok::Other,
                line: start_line,
                column: start_column,
            });
        } else if c.is_whitespace() {
            advance(&mut i, &mut line, &mut column);
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line: start_line,
                column: start_column,
            });
            advance(&mut i, &mut line, &mut column);
        }
    }
    out
}

/// Rhai keywords and built-in forms that look like calls.
const KEYWORDS: &[&str] = &[
    "if",
    "else",
    "while",
    "loop",
    "for",
    "in",
    "do",
    "until",
    "switch",
    "return",
    "throw",
    "try",
    "catch",
    "fn",
    "let",
    "const",
    "import",
    "export",
    "as",
    "private",
    "this",
    "global",
    "true",
    "false",
    "break",
    "continue",
    "Fn",
    "call",
    "curry",
    "type_of",
    "print",
    "debug",
    "is_def_var",
    "is_def_fn",
    "is_shared",
    "eval",
    "new",
];

/// What the engine offers: function name → the argument counts of its variants.
pub(super) type Known = HashMap<String, HashSet<usize>>;

/// The functions an engine has registered (kizuna's and Rhai's packages), with arities.
pub(super) fn known_functions(engine: &rhai::Engine) -> Known {
    let mut known = Known::new();
    for signature in engine.gen_fn_signatures(true) {
        let Some((name, rest)) = signature.split_once('(') else {
            continue;
        };
        let params = rest.split_once(')').map_or("", |(p, _)| p).trim();
        let count = if params.is_empty() {
            0
        } else {
            // Types such as `Map<String, …>` do not appear in signatures of script
            // functions; a comma at depth 0 separates parameters.
            let mut depth = 0;
            1 + params
                .chars()
                .filter(|c| {
                    match c {
                        '<' | '(' | '[' => depth += 1,
                        '>' | ')' | ']' => depth -= 1,
                        _ => {}
                    }
                    *c == ',' && depth == 0
                })
                .count()
        };
        let name = name
            .trim()
            .trim_start_matches("get$")
            .trim_start_matches("set$");
        known.entry(name.to_owned()).or_default().insert(count);
    }
    known
}

/// Names the script binds itself, which a call or field may use: `let`/`const` names,
/// function parameters, closure parameters and `for` variables.
fn bound_names(toks: &[Token]) -> HashSet<String> {
    let mut bound = HashSet::new();
    let ident = |k: usize| match toks.get(k).map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s.clone()),
        _ => None,
    };
    for (k, t) in toks.iter().enumerate() {
        match &t.tok {
            Tok::Ident(s) if s == "let" || s == "const" || s == "for" => {
                if let Some(name) = ident(k + 1) {
                    bound.insert(name);
                }
            }
            Tok::Ident(s) if s == "fn" => {
                // fn name(a, b)
                let mut j = k + 3;
                while let Some(tok) = toks.get(j) {
                    match &tok.tok {
                        Tok::Ident(p) => {
                            bound.insert(p.clone());
                        }
                        Tok::Punct(')') => break,
                        _ => {}
                    }
                    j += 1;
                }
            }
            Tok::Punct('|') => {
                // |a, b| closure parameters (and `||` is an empty list or an `or`)
                let mut j = k + 1;
                while let Some(tok) = toks.get(j) {
                    match &tok.tok {
                        Tok::Ident(p) => {
                            bound.insert(p.clone());
                        }
                        Tok::Punct(',') => {}
                        _ => break,
                    }
                    j += 1;
                }
            }
            _ => {}
        }
    }
    bound
}

/// The closest of `candidates` to `name`, if close enough to be a likely typo.
fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d > 0 && *d <= 2.max(name.len().min(c.len()) / 4))
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Arguments of the call whose `(` is at `open`: how many, counted at depth 0.
fn argument_count(toks: &[Token], open: usize) -> usize {
    let mut depth = 0;
    let mut commas = 0;
    let mut any = false;
    for t in &toks[open..] {
        match t.tok {
            Tok::Punct('(' | '[' | '{') => {
                depth += 1;
                if depth > 1 {
                    any = true;
                }
            }
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Punct(',') if depth == 1 => commas += 1,
            _ if depth >= 1 => any = true,
            _ => {}
        }
    }
    if any { commas + 1 } else { 0 }
}

/// Checks one script. `known` are the engine's functions; `event_types` what the script
/// declares in `EVENT_TYPES`.
pub(super) fn check_script(
    name: &str,
    text: &str,
    known: &Known,
    event_types: Option<&[String]>,
) -> Vec<CompileError> {
    let toks = tokens(text);
    let bound = bound_names(&toks);
    // Functions the script defines: known names; calls to them are not counted (a script
    // function may be defined more than once, with other parameters).
    let own: HashSet<&str> = toks
        .windows(2)
        .filter_map(|w| match (&w[0].tok, &w[1].tok) {
            (Tok::Ident(f), Tok::Ident(name)) if f == "fn" => Some(name.as_str()),
            _ => None,
        })
        .collect();
    // The names `customer` and `event` go by in this script (the parameters of its
    // entry points), and the conventional ones.
    let mut customers: HashSet<String> = HashSet::from(["customer".to_owned()]);
    let mut events: HashSet<String> = HashSet::from(["event".to_owned()]);
    for (k, t) in toks.iter().enumerate() {
        let Tok::Ident(f) = &t.tok else { continue };
        if toks.get(k.wrapping_sub(1)).map(|t| &t.tok) != Some(&Tok::Ident("fn".into())) {
            continue;
        }
        let params: Vec<String> = toks[k + 1..]
            .iter()
            .take_while(|t| t.tok != Tok::Punct(')'))
            .filter_map(|t| match &t.tok {
                Tok::Ident(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        match (f.as_str(), params.as_slice()) {
            ("on_event", [e, c]) => {
                events.insert(e.clone());
                customers.insert(c.clone());
            }
            ("on_timer", [_, c, _]) | ("guard", [_, c]) | ("matches", [c]) => {
                customers.insert(c.clone());
            }
            _ => {}
        }
    }
    let core_types_only = event_types.is_some_and(|types| {
        !types.is_empty()
            && types.iter().all(|t| {
                !matches!(
                    crate::ids::EventKind::parse(t),
                    Ok(crate::ids::EventKind::Other(_)) | Err(_)
                )
            })
    });

    let lines: Vec<&str> = text.lines().collect();
    let mut findings = Vec::new();
    let mut report = |t: &Token, message: String| {
        findings.push(CompileError {
            pos: ScriptPos {
                file: name.to_owned(),
                line: Some(t.line),
                column: Some(t.column),
            },
            message,
            source_line: lines.get(t.line - 1).map(|l| (*l).to_owned()),
        });
    };
    let tok_at = |k: usize| toks.get(k).map(|t| &t.tok);
    for (k, t) in toks.iter().enumerate() {
        let Tok::Ident(word) = &t.tok else { continue };
        let before = k.checked_sub(1).and_then(tok_at);
        let after_dot = matches!(before, Some(Tok::Punct('.')));
        let after_path = matches!(before, Some(Tok::Punct(':')));
        let after_fn = matches!(before, Some(Tok::Ident(w)) if w == "fn");
        // A call: `word(` not as a method, path, definition or bound name.
        if tok_at(k + 1) == Some(&Tok::Punct('('))
            && !after_dot
            && !after_path
            && !after_fn
            && !KEYWORDS.contains(&word.as_str())
            && !bound.contains(word)
        {
            match known.get(word) {
                _ if own.contains(word.as_str()) => {}
                None => {
                    let hint = did_you_mean(
                        word,
                        known
                            .keys()
                            .map(String::as_str)
                            .chain(own.iter().copied())
                            .filter(|n| {
                                n.chars()
                                    .next()
                                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                            }),
                    )
                    .map(|s| format!("; did you mean {s}?"))
                    .unwrap_or_default();
                    report(t, format!("there is no function {word}{hint}"));
                }
                Some(arities) => {
                    let n = argument_count(&toks, k + 1);
                    if !arities.contains(&n) {
                        let mut takes: Vec<usize> = arities.iter().copied().collect();
                        takes.sort_unstable();
                        let takes: Vec<String> = takes.iter().map(ToString::to_string).collect();
                        report(
                            t,
                            format!("{word} takes {} argument(s), not {n}", takes.join(" or ")),
                        );
                    }
                }
            }
        }
        // A field: `x.word` where x is the customer, its stats, or the event.
        if after_dot && tok_at(k + 1) != Some(&Tok::Punct('(')) {
            let owner = k.checked_sub(2).and_then(tok_at);
            let grand = k.checked_sub(4).and_then(tok_at);
            let through_stats = matches!(owner, Some(Tok::Ident(s)) if s == "stats")
                && matches!(k.checked_sub(3).and_then(tok_at), Some(Tok::Punct('.')))
                && matches!(grand, Some(Tok::Ident(c)) if customers.contains(c));
            let fields = match owner {
                _ if through_stats => Some((STATS_FIELDS, "customer.stats")),
                Some(Tok::Ident(c)) if customers.contains(c) => Some((CUSTOMER_FIELDS, "customer")),
                _ => None,
            };
            if let Some((fields, what)) = fields
                && !fields.contains(&word.as_str())
            {
                let hint = did_you_mean(word, fields.iter().copied())
                    .map(|s| format!("; did you mean {s}?"))
                    .unwrap_or_default();
                report(t, format!("{what} has no field {word}{hint}"));
            }
            if core_types_only
                && matches!(owner, Some(Tok::Ident(e)) if events.contains(e))
                && !EVENT_FIELDS.contains(&word.as_str())
                && let Some(s) = did_you_mean(word, EVENT_FIELDS.iter().copied())
            {
                report(t, format!("event has no field {word}; did you mean {s}?"));
            }
        }
    }
    findings
}

/// Timer names a script schedules or cancels by a literal name, with the token's place.
fn timer_names(text: &str) -> Vec<(String, usize, usize)> {
    let toks = tokens(text);
    toks.windows(3)
        .filter_map(|w| match (&w[0].tok, &w[1].tok, &w[2].tok) {
            (Tok::Ident(f), Tok::Punct('('), Tok::Str(name))
                if f == "schedule" || f == "cancel" =>
            {
                Some((name.clone(), w[2].line, w[2].column))
            }
            _ => None,
        })
        .collect()
}

/// Timer names used by more than one script: each script's uses after the first, unless
/// every script using the name declares it in `SHARED_TIMERS`.
pub(super) fn shared_timers(scripts: &[(&str, &str, Vec<String>)]) -> Vec<CompileError> {
    let mut first: HashMap<String, &str> = HashMap::new();
    let mut findings = Vec::new();
    for (name, text, _) in scripts {
        let mut seen_here = HashSet::new();
        for (timer, line, column) in timer_names(text) {
            if !seen_here.insert(timer.clone()) {
                continue;
            }
            match first.get(timer.as_str()) {
                None => {
                    first.insert(timer, name);
                }
                Some(other) if other != name => {
                    let declared = |script: &str| {
                        scripts
                            .iter()
                            .find(|(n, _, _)| *n == script)
                            .is_some_and(|(_, _, s)| s.contains(&timer))
                    };
                    if !(declared(other) && declared(name)) {
                        findings.push(CompileError {
                            pos: ScriptPos {
                                file: (*name).to_owned(),
                                line: Some(line),
                                column: Some(column),
                            },
                            message: format!(
                                "the timer {timer:?} is also set or cancelled by {other}: a \
                                 customer has one timer per name, so one script would replace \
                                 the other's. Rename it, or declare it in \
                                 const SHARED_TIMERS = [{timer:?}]; in both scripts"
                            ),
                            source_line: text.lines().nth(line - 1).map(str::to_owned),
                        });
                    }
                }
                Some(_) => {}
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests;
