//! Green modes: the same [`DeviceProxy`] and [`AttributeProxy`] operations, run the way
//! the program needs — blocking the caller, in flight without a thread each, in a
//! coroutine, or on an async runtime — chosen globally, per proxy, and changeable at any
//! time, as PyTango does.
//!
//! Every network operation (the constructors included) returns a [`Call`]:
//!
//! ```no_run
//! use std::time::Duration;
//! use tango::green::{self, DeviceProxy, GreenMode};
//!
//! let dev = DeviceProxy::new("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no").wait()?;
//! let state = dev.state().wait()?; // wait=true: the synchronous result
//! let status = dev.status().timeout(Duration::from_millis(500)).wait()?; // bounded
//! let pending = dev.read_attribute("double_scalar").submit(); // wait=false: a handle
//! let value = pending.result()?;
//! green::set_green_mode(GreenMode::Futures); // dev follows the global mode
//! # Ok::<(), tango::Error>(())
//! ```
//!
//! and `dev.state().await` works on any executor (in Synchronous and Futures modes the
//! request is written when the future is first polled and the task is woken when the
//! reply has been read; the executor's thread is never blocked).
//!
//! | mode | `wait()` | `submit()` | `.await` |
//! |---|---|---|---|
//! | Synchronous | runs on the caller's thread | queued: written now, no thread per call | queued, waking the task |
//! | Futures | queued, the caller reading its reply | queued: written now, no thread per call | queued, waking the task |
//! | Coroutine | on the caller's thread or may coroutine (only the coroutine is parked) | in a new may coroutine | in a may coroutine, waking the task |
//! | Asyncio | `block_on` of the runtime (refused inside a tokio runtime) | a task of the runtime | the runtime's future |
//!
//! *Queued* (Synchronous and Futures `submit()` and `.await`): the blocking transport's
//! non-blocking path (`tango_client::Connection::call_queued`). The request is written at
//! once from the submitting thread (or gathered with others into one write when replies
//! are being handed out); the call completes when its reply is read, by a thread waiting
//! in [`Pending::result`] (which reads the connection for every call on it) or else by
//! the connection's reader thread (one per connection, stopped when idle). A call costs
//! no thread, so thousands can be in flight; opening a TCP connection, which blocks, runs
//! on a small pool ([`FUTURES_WORKERS`] threads at most, started on demand). A timeout or
//! a dropped handle abandons the request id at once: the late reply is dropped and the
//! connection stays healthy.
//!
//! Coroutine needs the cargo feature `coroutine` (the may transport of tango-coroutine);
//! Asyncio needs `tokio`, `smol` or `async-std` (their shared async transports). Without
//! them, a call in that mode is an [`Error::NotSupported`] naming the feature.
//!
//! Which runtime an Asyncio call runs on, decided when it starts: tokio if the `tokio`
//! feature is on and a tokio runtime is current; else async-std if `async-std` is on and
//! the caller is an async-std task; else smol if `smol` is on; else async-std if
//! `async-std` is on; else (only `tokio`, no runtime current) tango's own tokio runtime
//! (`OWN_TOKIO_WORKERS` threads, started on first use and kept). So `.await` works from
//! any executor; `wait()` inside a tokio runtime (or an async-std task) is an
//! [`Error::NotSupported`] ("would block the event loop: use .await"); inside a smol
//! task it blocks that thread (undetectable). A call's [`Call::timeout`] bounds the whole
//! call in every mode.
//!
//! The global mode comes from `TANGO_GREEN_MODE` (or PyTango's `PYTANGO_GREEN_MODE`) at
//! first use, case-insensitive: `synchronous`, `futures`, `gevent` or `coroutine`,
//! `asyncio`; default Synchronous. An unknown value is an error (returned by
//! [`get_green_mode`] and by every call that follows the global mode) naming the accepted
//! values, until [`set_green_mode`] sets a valid mode.

mod blocking;
mod call;
mod device;
mod pool;
#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
mod runtime;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use tango_core::idl::{DevError, DevFailed, ErrSeverity};

use crate::{Error, Result};

pub use call::{Call, CallFuture, Pending};
pub use device::{AttributeProxy, DeviceProxy, READY_POLL_INTERVAL};
pub use pool::FUTURES_WORKERS;
#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
pub use runtime::OWN_TOKIO_WORKERS;

/// How a proxy's calls cooperate with the rest of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GreenMode {
    /// A call blocks the calling thread until it completes (the default).
    Synchronous,
    /// `submit()` gives a future-like handle, the calls in flight without a thread each
    /// (`wait()` gives the synchronous result).
    Futures,
    /// Calls run as `may` coroutines: a call that looks blocking lets other coroutines run
    /// (PyTango's gevent mode). Needs the cargo feature `coroutine`.
    Coroutine,
    /// Calls are futures of an async runtime (tokio, smol or async-std). Needs the cargo
    /// feature of that runtime.
    Asyncio,
}

/// The accepted spellings of a green mode, as error messages list them.
pub const ACCEPTED_GREEN_MODES: &str = "synchronous, futures, gevent, coroutine, asyncio";

impl GreenMode {
    /// The mode's lower-case name (`gevent` is spelled `coroutine`).
    pub fn as_str(self) -> &'static str {
        match self {
            GreenMode::Synchronous => "synchronous",
            GreenMode::Futures => "futures",
            GreenMode::Coroutine => "coroutine",
            GreenMode::Asyncio => "asyncio",
        }
    }

    /// The global mode an environment gives: `TANGO_GREEN_MODE` first, then PyTango's
    /// `PYTANGO_GREEN_MODE`; unset or blank means Synchronous. A pure function of its
    /// arguments (what [`get_green_mode`] applies to the process environment).
    pub fn from_env_values(
        tango_green_mode: Option<&str>,
        pytango_green_mode: Option<&str>,
    ) -> Result<GreenMode> {
        for (var, value) in [
            ("TANGO_GREEN_MODE", tango_green_mode),
            ("PYTANGO_GREEN_MODE", pytango_green_mode),
        ] {
            match value.map(str::trim) {
                None | Some("") => continue,
                Some(v) => return parse(v, &format!("the environment variable {var}")),
            }
        }
        Ok(GreenMode::Synchronous)
    }
}

impl fmt::Display for GreenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GreenMode::Synchronous => "Synchronous",
            GreenMode::Futures => "Futures",
            GreenMode::Coroutine => "Coroutine",
            GreenMode::Asyncio => "Asyncio",
        })
    }
}

impl FromStr for GreenMode {
    type Err = Error;

    /// Case-insensitive; `gevent` is `Coroutine`.
    fn from_str(s: &str) -> Result<GreenMode> {
        parse(s, "a green mode")
    }
}

fn parse(value: &str, source: &str) -> Result<GreenMode> {
    match value.trim().to_ascii_lowercase().as_str() {
        "synchronous" => Ok(GreenMode::Synchronous),
        "futures" => Ok(GreenMode::Futures),
        "gevent" | "coroutine" => Ok(GreenMode::Coroutine),
        "asyncio" => Ok(GreenMode::Asyncio),
        _ => Err(green_error(
            "API_WrongGreenMode",
            format!(
                "unknown green mode {value:?} in {source}; accepted values \
                 (case-insensitive): {ACCEPTED_GREEN_MODES}"
            ),
        )),
    }
}

/// An error of the green-mode machinery itself, in Tango form.
pub(crate) fn green_error(reason: &str, desc: String) -> Error {
    Error::DevFailed(DevFailed {
        errors: vec![DevError {
            reason: reason.to_owned(),
            severity: ErrSeverity::Err,
            desc,
            origin: "tango::green".to_owned(),
        }],
    })
}

/// 0: not read from the environment yet; else `encode(mode)`.
static GLOBAL: AtomicU8 = AtomicU8::new(0);

fn encode(mode: GreenMode) -> u8 {
    match mode {
        GreenMode::Synchronous => 1,
        GreenMode::Futures => 2,
        GreenMode::Coroutine => 3,
        GreenMode::Asyncio => 4,
    }
}

fn decode(v: u8) -> Option<GreenMode> {
    match v {
        1 => Some(GreenMode::Synchronous),
        2 => Some(GreenMode::Futures),
        3 => Some(GreenMode::Coroutine),
        4 => Some(GreenMode::Asyncio),
        _ => None,
    }
}

/// The global green mode: the last [`set_green_mode`], else the environment's
/// (`TANGO_GREEN_MODE`, then `PYTANGO_GREEN_MODE`), else Synchronous. An unknown value in
/// the environment is an error naming the accepted values (never a silent fallback).
pub fn get_green_mode() -> Result<GreenMode> {
    if let Some(mode) = decode(GLOBAL.load(Ordering::Acquire)) {
        return Ok(mode);
    }
    let tango = std::env::var("TANGO_GREEN_MODE").ok();
    let pytango = std::env::var("PYTANGO_GREEN_MODE").ok();
    let mode = GreenMode::from_env_values(tango.as_deref(), pytango.as_deref())?;
    // a concurrent set_green_mode wins over the environment
    let _ = GLOBAL.compare_exchange(0, encode(mode), Ordering::AcqRel, Ordering::Acquire);
    Ok(decode(GLOBAL.load(Ordering::Acquire)).unwrap_or(mode))
}

/// Sets the global green mode, followed at once by every proxy built without a mode of
/// its own (their next call runs in `mode`).
pub fn set_green_mode(mode: GreenMode) {
    GLOBAL.store(encode(mode), Ordering::Release);
}

/// The mode stored in a proxy: 0 follows the global mode.
pub(crate) fn encode_opt(mode: Option<GreenMode>) -> u8 {
    mode.map_or(0, encode)
}

pub(crate) fn decode_opt(v: u8) -> Option<GreenMode> {
    decode(v)
}

/// The error of a call in a mode whose backend is not compiled in.
#[cfg(not(all(
    feature = "coroutine",
    any(feature = "tokio", feature = "smol", feature = "async-std")
)))]
pub(crate) fn unsupported(mode: GreenMode) -> Error {
    let needs = match mode {
        GreenMode::Coroutine => "needs the cargo feature coroutine of the tango crate",
        _ => "needs the cargo feature tokio, smol or async-std of the tango crate",
    };
    Error::NotSupported(format!("green mode {mode} {needs}"))
}
