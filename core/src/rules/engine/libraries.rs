//! Shared libraries: modules in the rules directory's `lib/` folder (or beside the
//! scripts) that any script may `import "name" as alias;`.
//!
//! Rhai runs a script's `import` statements with its top level, which kizuna runs once at
//! load (for the constants), not on every call: a function calling `base::f()` found no
//! `base` ("Module not found"), although `rules check` had passed. So each imported
//! module is loaded here, once per rule set, and registered under its alias as a static
//! module that every function can call; a module that is missing or does not compile is a
//! load error at the `import` line, and one alias naming two modules is refused. A
//! library's functions read the library's own constants through the engine's variable
//! resolver ([`constant`]), never the calling script's.

use std::{collections::HashMap, path::Path};

use rhai::{Dynamic, Engine, Module, Scope};

use super::innermost;
use crate::rules::error::{CompileError, ScriptPos};

/// `import "path" as alias;` lines of a script: (line, path, alias).
pub(super) fn imports(text: &str) -> Vec<(usize, String, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let rest = line.trim_start().strip_prefix("import")?;
            let rest = rest.trim_start().strip_prefix('"')?;
            let (path, rest) = rest.split_once('"')?;
            let alias = rest.trim_start().strip_prefix("as")?.trim();
            let alias: String = alias
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!alias.is_empty()).then(|| (i + 1, path.to_owned(), alias))
        })
        .collect()
}

/// Makes every module the scripts import callable from their functions, under the alias
/// they import it as.
///
/// Rhai runs a script's `import` statements with its top level, which kizuna runs once at
/// load (for the constants), not on every call: a function calling `base::f()` found no
/// `base`. So each imported module is resolved here, once, and registered as a static
/// module under its alias; a module that cannot be found or compiled is a load error at
/// the `import` line, and one alias naming two modules is refused.
///
/// Returns each library's top-level constants, by its name (`lib/base.rhai`): a library's
/// functions read them through the engine's variable resolver ([`library_constant`]), as
/// a script's functions read the script's.
pub(super) fn link(
    engine: &mut Engine,
    dir: &Path,
    sources: &[(String, String)],
    errors: &mut Vec<CompileError>,
) -> Libraries {
    let mut libraries = Libraries::default();
    let mut linked: HashMap<String, String> = HashMap::new();
    for (name, text) in sources {
        for (line, path, alias) in imports(text) {
            let error = |message: String| CompileError {
                pos: ScriptPos {
                    file: name.clone(),
                    line: Some(line),
                    column: Some(1),
                },
                message,
                source_line: text.lines().nth(line - 1).map(str::to_owned),
            };
            match linked.get(&alias) {
                Some(other) if *other == path => continue,
                Some(other) => {
                    errors.push(error(format!(
                        "the alias {alias} already names the module {other:?} in another script; \
                         import {path:?} under another name"
                    )));
                    continue;
                }
                None => {}
            }
            match library(engine, dir, &path) {
                Ok(library) => {
                    engine.register_static_module(alias.as_str(), library.module);
                    libraries.texts.push((library.name.clone(), library.text));
                    libraries.constants.insert(library.name, library.constants);
                    linked.insert(alias, path);
                }
                Err(message) => errors.push(error(format!("import {path:?}: {message}"))),
            }
        }
    }
    libraries
}

/// The libraries a rule set imports.
#[derive(Debug, Default)]
pub(super) struct Libraries {
    /// Each one's top-level constants, by the library's name.
    pub constants: HashMap<String, HashMap<String, Dynamic>>,
    /// Each one's name and text, in import order: part of the rules version, so a change
    /// to a library is a new version like a change to a script.
    pub texts: Vec<(String, String)>,
}

/// A library a script imports.
struct Library {
    /// `lib/base.rhai`: the module's source, as Rhai reports it inside its functions.
    name: String,
    module: rhai::Shared<Module>,
    constants: HashMap<String, Dynamic>,
    text: String,
}

/// The file `import "path"` means, relative to the rules directory `dir` and without its
/// extension: `lib/PATH` if there is such a library, else `PATH`. Only paths inside the
/// directory are accepted. The engine's module resolver and [`link`] both ask here.
pub(super) fn module_file(dir: &Path, path: &str) -> Result<String, String> {
    let inside = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.split('/').any(|part| part == ".." || part.is_empty());
    if !inside {
        return Err("only modules inside the rules directory may be imported".into());
    }
    let in_lib = format!("lib/{path}");
    Ok(if dir.join(format!("{in_lib}.rhai")).is_file() {
        in_lib
    } else {
        path.to_owned()
    })
}

/// Loads the library `path` names ([`module_file`]).
fn library(engine: &Engine, dir: &Path, path: &str) -> Result<Library, String> {
    let name = format!("{}.rhai", module_file(dir, path)?);
    let text = std::fs::read_to_string(dir.join(&name))
        .map_err(|e| format!("no module {name} in the rules directory ({e})"))?;
    let mut ast = engine
        .compile(&text)
        .map_err(|e| format!("{name}: {}", e.0))?;
    ast.set_source(name.as_str());
    let mut scope = Scope::new();
    engine
        .run_ast_with_scope(&mut scope, &ast)
        .map_err(|e| format!("{name}: the top level failed: {}", innermost(&e)))?;
    let constants = scope.iter().map(|(n, _, v)| (n.to_owned(), v)).collect();
    let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
        .map_err(|e| format!("{name}: {}", innermost(&e)))?;
    Ok(Library {
        name,
        module: module.into(),
        constants,
        text,
    })
}

/// A library's constant, read inside one of its functions (`source` is the library).
pub(super) fn constant(
    libraries: &Libraries,
    name: &str,
    index: usize,
    source: Option<&str>,
) -> Option<Dynamic> {
    if index > 0 {
        return None;
    }
    libraries.constants.get(source?)?.get(name).cloned()
}
