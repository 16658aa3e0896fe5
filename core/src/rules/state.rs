//! Per-customer script state: `state.get(key)` and `state.set(key, value)`.
//!
//! A stamp card counts stamps; a referral remembers that it paid out. Each script has its
//! own small key-value map per customer ([`crate::Customer::state`], keyed by script file),
//! so two scripts never read or overwrite each other's keys. A `set` is an effect like
//! any other ([`Effect::SetState`]): applied with the event, kept beside it in the log
//! (so `customer show` says which event set what, a replay rebuilds it, and erasing the
//! customer erases it), and dropped with the script's other effects if the script fails.
//!
//! Within one call a `get` sees the call's own earlier `set`s. Guards and segment
//! predicates may read state but not change it. Values are what JSON holds — numbers,
//! strings, bools, arrays and maps; a time is kept as its RFC 3339 text — and small:
//! [`MAX_KEYS`] keys per script and customer, keys up to [`MAX_KEY_LEN`] bytes, values up to
//! [`MAX_VALUE_BYTES`] of JSON. Setting `()` removes the key.

use std::cell::RefCell;

use rhai::{Dynamic, Engine, EvalAltResult};
use serde_json::{Map, Value};

use super::{
    effect::Effect,
    view::{to_dynamic, to_json},
};

type Res<T> = Result<T, Box<EvalAltResult>>;

/// Keys one script may keep per customer.
pub const MAX_KEYS: usize = 64;
/// Bytes in one key.
pub const MAX_KEY_LEN: usize = 64;
/// Bytes of one value, as JSON.
pub const MAX_VALUE_BYTES: usize = 1024;

/// `state` in a script: a handle; the values live with the call.
#[derive(Debug, Clone, Copy)]
pub struct ScriptState;

/// The state of the script running on this thread.
struct Current {
    stored: Map<String, Value>,
    /// This call's `set`s, in order.
    pending: Vec<(String, Value)>,
    writable: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Runs `f` with `stored` (the calling script's state for this customer) as `state`;
/// `writable` for `on_event` and `on_timer`, not for guards and predicates. A script that
/// cannot reach `state` (`needed` false: it never names it and imports nothing) runs
/// without: this is on every script call of every event.
pub(super) fn with_state<T>(
    needed: bool,
    stored: Option<&Map<String, Value>>,
    writable: bool,
    f: impl FnOnce() -> T,
) -> T {
    if !needed {
        return f();
    }
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Current {
            stored: stored.cloned().unwrap_or_default(),
            pending: Vec::new(),
            writable,
        })
    });
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = None);
    out
}

fn get(key: &str) -> Res<Dynamic> {
    CURRENT.with(|c| {
        let c = c.borrow();
        let c = c
            .as_ref()
            .ok_or("state is only known inside on_event, on_timer, guard or matches")?;
        let value = c
            .pending
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .or_else(|| c.stored.get(key));
        Ok(value.map_or(Dynamic::UNIT, to_dynamic))
    })
}

/// Whether `value` is plain data (no views, no functions); times are allowed (as text).
fn plain(value: &Dynamic) -> bool {
    if let Some(a) = value.read_lock::<rhai::Array>() {
        return a.iter().all(plain);
    }
    if let Some(m) = value.read_lock::<rhai::Map>() {
        return m.values().all(plain);
    }
    value.is_unit()
        || value.is_bool()
        || value.is_int()
        || value.is_float()
        || value.is_string()
        || value.is::<super::view::ScriptTime>()
}

fn set(key: &str, value: Dynamic) -> Res<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!("state key {key:?}: 1 to {MAX_KEY_LEN} bytes").into());
    }
    if !plain(&value) {
        return Err(format!(
            "state.set({key:?}, …): a {} cannot be kept; keep numbers, strings, bools, \
             arrays and maps",
            value.type_name()
        )
        .into());
    }
    let json = to_json(&value);
    let size = json.to_string().len();
    if size > MAX_VALUE_BYTES {
        return Err(format!(
            "state.set({key:?}, …): the value is {size} bytes of JSON; at most {MAX_VALUE_BYTES}"
        )
        .into());
    }
    CURRENT.with(|c| -> Res<()> {
        let mut c = c.borrow_mut();
        let c = c
            .as_mut()
            .ok_or("state can only be changed inside on_event or on_timer")?;
        if !c.writable {
            return Err("a guard or a segment may read state, not change it".into());
        }
        // Every key kept or set in this call, as the limit counts them.
        let keys: std::collections::HashSet<&str> = c
            .stored
            .keys()
            .chain(c.pending.iter().map(|(k, _)| k))
            .map(String::as_str)
            .collect();
        if !keys.contains(key) && !json.is_null() && keys.len() >= MAX_KEYS {
            return Err(format!(
                "state.set({key:?}, …): a script keeps at most {MAX_KEYS} keys per customer"
            )
            .into());
        }
        c.pending.push((key.to_owned(), json.clone()));
        Ok(())
    })?;
    super::api::record(Effect::SetState {
        key: key.to_owned(),
        value: json,
    })
}

/// Registers `state` and its methods.
pub(super) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<ScriptState>("State")
        .register_fn("get", |_: &mut ScriptState, key: &str| get(key))
        .register_fn("get", |_: &mut ScriptState, key: &str, default: Dynamic| {
            get(key).map(|v| if v.is_unit() { default } else { v })
        })
        .register_fn("set", |_: &mut ScriptState, key: &str, value: Dynamic| {
            set(key, value)
        });
}
