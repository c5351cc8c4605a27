//! Which async runtime runs a call in Asyncio mode, and how a call is blocked on or
//! spawned there.
//!
//! The choice, made for each call when it starts:
//!
//! 1. tokio, if the `tokio` feature is on and a tokio runtime is current
//!    (`tokio::runtime::Handle::try_current()`): the call's future runs on it;
//! 2. else async-std, if the `async-std` feature is on and the caller is an async-std
//!    task (`async_std::task::try_current()`);
//! 3. else smol, if the `smol` feature is on (async-io's reactor works from any thread
//!    and any executor), else async-std, if the `async-std` feature is on (likewise);
//! 4. else (only `tokio` is on, and no tokio runtime is current) tango's own tokio
//!    runtime: a multi-thread runtime of [`OWN_TOKIO_WORKERS`] threads named
//!    `tango-tokio`, started on first use and kept for the life of the process (its
//!    connections live there, so they are not lost between calls). `wait()` blocks on it;
//!    `submit()` and `.await` run the call as a task there (so `.await` works from any
//!    executor).
//!
//! `wait()` inside a tokio runtime or an async-std task is an [`Error::NotSupported`]:
//! blocking there would stall the event loop (use `.await`). Inside a smol task this
//! cannot be detected: `wait()` then blocks that task's thread until the call completes.

use std::future::Future;
#[cfg(feature = "tokio")]
use std::sync::OnceLock;

use super::call::{Backend, BoxFuture};
use crate::{Error, Result};

/// The worker threads of tango's own tokio runtime (used only when no tokio runtime is
/// current and neither smol nor async-std is enabled).
pub const OWN_TOKIO_WORKERS: usize = 2;

/// Where an Asyncio call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// On `backend`, from the caller's context (its current runtime, or any executor).
    Here(Backend),
    /// On tango's own tokio runtime.
    #[cfg(feature = "tokio")]
    #[cfg_attr(any(feature = "smol", feature = "async-std"), allow(dead_code))]
    OwnedTokio,
}

impl Place {
    pub(crate) fn backend(self) -> Backend {
        match self {
            Place::Here(b) => b,
            #[cfg(feature = "tokio")]
            Place::OwnedTokio => Backend::Tokio,
        }
    }
}

#[cfg(feature = "tokio")]
fn in_tokio() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

#[cfg(not(feature = "tokio"))]
fn in_tokio() -> bool {
    false
}

#[cfg(feature = "async-std")]
fn in_async_std() -> bool {
    async_std::task::try_current().is_some()
}

#[cfg(not(feature = "async-std"))]
fn in_async_std() -> bool {
    false
}

/// The runtime of a call started now (the module's rules 1 to 4).
pub(crate) fn choose() -> Place {
    #[cfg(feature = "tokio")]
    if in_tokio() {
        return Place::Here(Backend::Tokio);
    }
    #[cfg(feature = "async-std")]
    if in_async_std() {
        return Place::Here(Backend::AsyncStd);
    }
    fallback()
}

#[cfg(feature = "smol")]
fn fallback() -> Place {
    Place::Here(Backend::Smol)
}

#[cfg(all(not(feature = "smol"), feature = "async-std"))]
fn fallback() -> Place {
    Place::Here(Backend::AsyncStd)
}

#[cfg(all(not(feature = "smol"), not(feature = "async-std"), feature = "tokio"))]
fn fallback() -> Place {
    Place::OwnedTokio
}

/// Where `wait()` blocks: as [`choose`], refused inside a tokio runtime or an async-std
/// task.
pub(crate) fn for_wait() -> Result<Place> {
    if in_tokio() || in_async_std() {
        return Err(Error::NotSupported(
            "wait() inside an async task would block the event loop: use .await".to_owned(),
        ));
    }
    Ok(fallback())
}

/// Blocks this thread on `fut` with `backend`'s `block_on`.
pub(crate) fn block_on<T>(backend: Backend, fut: BoxFuture<T>) -> Result<T> {
    match backend {
        #[cfg(feature = "smol")]
        Backend::Smol => smol::block_on(fut),
        #[cfg(feature = "async-std")]
        Backend::AsyncStd => async_std::task::block_on(fut),
        #[cfg(feature = "tokio")]
        Backend::Tokio => owned_tokio()?.block_on(fut),
        other => Err(Error::NotSupported(format!(
            "no Asyncio block_on for the {other:?} backend"
        ))),
    }
}

/// Runs `task` on the runtime of `place`, detached.
pub(crate) fn spawn(place: Place, task: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    match place {
        #[cfg(feature = "tokio")]
        Place::OwnedTokio => drop(owned_tokio()?.spawn(task)),
        #[cfg(feature = "tokio")]
        Place::Here(Backend::Tokio) => drop(tokio::spawn(task)),
        #[cfg(feature = "smol")]
        Place::Here(Backend::Smol) => smol::spawn(task).detach(),
        #[cfg(feature = "async-std")]
        Place::Here(Backend::AsyncStd) => drop(async_std::task::spawn(task)),
        Place::Here(other) => {
            return Err(Error::NotSupported(format!(
                "no Asyncio runtime for the {other:?} backend"
            )))
        }
    }
    Ok(())
}

/// Tango's own tokio runtime, started on first use.
#[cfg(feature = "tokio")]
pub(crate) fn owned_tokio() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(OWN_TOKIO_WORKERS)
                .thread_name("tango-tokio")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::NotSupported(format!("cannot start tango's tokio runtime: {e}")))
}
