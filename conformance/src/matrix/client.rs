//! The six clients of ours (rows of the matrix) and the context [`Cx`] through which every
//! case reaches a device.
//!
//! A case is written once, as an `async fn(&Cx)`. It never calls `.wait()` or `.await` on a
//! [`Call`] itself: it hands the call to [`Cx::call`], which runs it the way its client
//! does: `.wait()` in the blocking modes (Synchronous, Futures, Coroutine) and `.await` in
//! the Asyncio ones (tokio, async-std, smol). So the same case code exercises
//! `Call::wait` on the caller's thread, queued on the shared connection and in a may
//! coroutine, and `IntoFuture` on three executors.
//!
//! How each client drives a phase of a cell (its list of cases, as one future):
//!
//! | client | proxy mode | driven by |
//! |---|---|---|
//! | Synchronous | `GreenMode::Synchronous` | [`poll_once`] on the test thread (the future must never suspend) |
//! | Futures | `GreenMode::Futures` | the same; each call is queued on the shared connection (submit + result) |
//! | Coroutine | `GreenMode::Coroutine` | [`poll_once`] inside one may coroutine (`tango_coroutine::spawn`), whose `.wait()`s park only the coroutine |
//! | tokio | `GreenMode::Asyncio` | a current-thread `tokio::runtime::Runtime::block_on` |
//! | async-std | `GreenMode::Asyncio` | `async_std::task::block_on` |
//! | smol | `GreenMode::Asyncio` | `smol::block_on` |
//!
//! A current-thread tokio runtime (rather than a multi-thread one) makes any blocking call
//! in the Asyncio path a hang the case's time limit reports, instead of a slowdown that
//! another worker thread would hide.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tango::green::{Call, DeviceProxy, GreenMode, Pending};
use tango::Error;
use tango_testkit::Peer;

use super::server::{Family, Server, Target};

/// The result of one case: `Err` says what was expected and what came.
pub type CaseResult = Result<(), String>;

/// The boxed future of one case, borrowing its context.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + 'a>>;

/// One of our clients: a green mode of `tango::green`, and for Asyncio the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OurClient {
    /// `GreenMode::Synchronous`: every call blocks the test thread.
    Synchronous,
    /// `GreenMode::Futures`: calls are queued on the shared connection (submit, then
    /// result), the test thread waits.
    Futures,
    /// `GreenMode::Coroutine`: the cell runs in a may coroutine.
    Coroutine,
    /// `GreenMode::Asyncio` on a tokio runtime.
    Tokio,
    /// `GreenMode::Asyncio` in an async-std task.
    AsyncStd,
    /// `GreenMode::Asyncio` on smol.
    Smol,
}

impl OurClient {
    /// Every client, in the matrix's row order.
    pub const ALL: [OurClient; 6] = [
        OurClient::Synchronous,
        OurClient::Futures,
        OurClient::Coroutine,
        OurClient::Tokio,
        OurClient::AsyncStd,
        OurClient::Smol,
    ];

    /// The proxies' green mode.
    pub fn green_mode(self) -> GreenMode {
        match self {
            OurClient::Synchronous => GreenMode::Synchronous,
            OurClient::Futures => GreenMode::Futures,
            OurClient::Coroutine => GreenMode::Coroutine,
            OurClient::Tokio | OurClient::AsyncStd | OurClient::Smol => GreenMode::Asyncio,
        }
    }

    /// True when calls are `.await`ed (Asyncio), false when they are `.wait()`ed.
    pub fn awaits(self) -> bool {
        self.green_mode() == GreenMode::Asyncio
    }

    /// Name in test names and reports (`tokio`, `async_std`...).
    pub fn slug(self) -> &'static str {
        match self {
            OurClient::Synchronous => "synchronous",
            OurClient::Futures => "futures",
            OurClient::Coroutine => "coroutine",
            OurClient::Tokio => "tokio",
            OurClient::AsyncStd => "async_std",
            OurClient::Smol => "smol",
        }
    }

    /// Runs `build()`'s future to completion the way this client does (see the module
    /// table). `build` is called on the thread or coroutine that drives the future.
    pub fn drive<F>(self, build: impl FnOnce() -> F + Send + 'static) -> Result<(), String>
    where
        F: Future<Output = ()> + 'static,
    {
        match self {
            OurClient::Synchronous | OurClient::Futures => poll_once(build()),
            OurClient::Coroutine => {
                // Debug builds need deep stacks for a whole proxy call inside the case
                // futures; the memory is reserved, only touched pages are used.
                may::config().set_stack_size(COROUTINE_STACK_WORDS);
                tango_coroutine::spawn(move || poll_once(build())).get()
            }
            OurClient::Tokio => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
                rt.block_on(build());
                Ok(())
            }
            OurClient::AsyncStd => {
                async_std::task::block_on(build());
                Ok(())
            }
            OurClient::Smol => {
                smol::block_on(build());
                Ok(())
            }
        }
    }
}

/// The stack of the Coroutine client's coroutine, in words (1 MiB on 64-bit).
pub const COROUTINE_STACK_WORDS: usize = 0x20000;

impl fmt::Display for OurClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OurClient::Synchronous => "Synchronous",
            OurClient::Futures => "Futures",
            OurClient::Coroutine => "Coroutine",
            OurClient::Tokio => "tokio",
            OurClient::AsyncStd => "async-std",
            OurClient::Smol => "smol",
        })
    }
}

/// Polls `fut` once: the driver of the blocking clients, whose case futures complete
/// without ever suspending (every call is `.wait()`ed inside [`Cx::call`]). A future that
/// does suspend is a bug in the case or in [`Cx`], reported rather than waited for.
pub fn poll_once<F: Future<Output = ()>>(fut: F) -> Result<(), String> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(()) => Ok(()),
        Poll::Pending => Err("a case suspended in a blocking client mode".to_owned()),
    }
}

/// Catches a panic of the wrapped future's `poll` (a case that panics fails alone).
pub struct CatchUnwind<F>(pub F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *fut).poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

/// A private server a case may stop, restart, pause and resume; shared with the cell's
/// watchdog, which kills it if the cell hangs.
pub type PrivatePeer = Arc<Mutex<Option<Peer>>>;

/// What a case holds: which client runs it, which server it talks to, and the cell's
/// proxy (made on first use with the client's green mode).
pub struct Cx {
    client: OurClient,
    target: Target,
    private: Option<PrivatePeer>,
    dev: RefCell<Option<DeviceProxy>>,
}

/// The timeout of the cell's proxies: room for 100,000-element values on a busy machine.
pub const PROXY_TIMEOUT_MS: u64 = 10_000;

impl Cx {
    /// The context of `client` against `target`; `private` is the server private cases
    /// control (`None` for cases on a shared server).
    pub fn new(client: OurClient, target: Target, private: Option<PrivatePeer>) -> Cx {
        Cx {
            client,
            target,
            private,
            dev: RefCell::new(None),
        }
    }

    /// The client running the case.
    pub fn client(&self) -> OurClient {
        self.client
    }

    /// The client's green mode.
    pub fn mode(&self) -> GreenMode {
        self.client.green_mode()
    }

    /// The server column.
    pub fn server(&self) -> Server {
        self.target.server
    }

    /// Which implementation the server is.
    pub fn family(&self) -> Family {
        self.target.server.family()
    }

    /// The server's loopback port.
    pub fn port(&self) -> u16 {
        self.target.port
    }

    /// `tango://127.0.0.1:PORT/sys/tg_test/1#dbase=no`.
    pub fn device_name(&self) -> &str {
        &self.target.device
    }

    /// The full name of another object of the same server: `sys/tg_test/1` replaced.
    pub fn name_of(&self, device_or_attribute: &str) -> String {
        self.target
            .device
            .replace("sys/tg_test/1", device_or_attribute)
    }

    /// The admin device's full name (`dserver/TangoTest/test` or `dserver/py_tangotest/test`).
    pub fn admin_name(&self) -> String {
        self.name_of(&format!("dserver/{}/test", self.family().server_name()))
    }

    /// Runs `call` as this client does: `.wait()` or `.await`.
    pub async fn call<T: Send + 'static>(&self, call: Call<T>) -> tango::Result<T> {
        if self.client.awaits() {
            call.await
        } else {
            call.wait()
        }
    }

    /// Starts `call` without waiting (`wait=false`).
    pub fn submit<T: Send + 'static>(&self, call: Call<T>) -> Pending<T> {
        call.submit()
    }

    /// Waits for a submitted call's result: `Pending::result` or `.await`.
    pub async fn result<T: Send + 'static>(&self, pending: Pending<T>) -> tango::Result<T> {
        if self.client.awaits() {
            pending.await
        } else {
            pending.result()
        }
    }

    /// Waits at most `limit` for a submitted call (PyTango's `result(timeout)`); past it, a
    /// [`Error::Timeout`] and the handle stays usable. Blocking clients use
    /// `Pending::result_timeout`; Asyncio ones race the handle against their runtime's
    /// timer (blocking in `result_timeout` would stall the event loop).
    pub async fn result_within<T: Send + 'static>(
        &self,
        pending: &mut Pending<T>,
        limit: Duration,
    ) -> tango::Result<T> {
        if !self.client.awaits() {
            return pending.result_timeout(limit);
        }
        let mut timer = pin!(self.sleep(limit));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = Pin::new(&mut *pending).poll(cx) {
                return Poll::Ready(r);
            }
            timer.as_mut().poll(cx).map(|()| {
                Err(Error::Timeout {
                    device: self.target.device.clone(),
                    operation: "result_within".to_owned(),
                    after: limit,
                })
            })
        })
        .await
    }

    /// Sleeps the client's way: the thread, the coroutine, or the runtime's timer.
    pub async fn sleep(&self, d: Duration) {
        match self.client {
            OurClient::Synchronous | OurClient::Futures => std::thread::sleep(d),
            OurClient::Coroutine => may::coroutine::sleep(d),
            OurClient::Tokio => tokio::time::sleep(d).await,
            OurClient::AsyncStd => async_std::task::sleep(d).await,
            OurClient::Smol => {
                smol::Timer::after(d).await;
            }
        }
    }

    /// A new proxy to `name` in the client's green mode (the constructor is a call too).
    pub async fn new_proxy(&self, name: &str) -> tango::Result<DeviceProxy> {
        let dev = self
            .call(DeviceProxy::new_with_mode(name, self.mode()))
            .await?;
        dev.set_timeout_millis(PROXY_TIMEOUT_MS);
        Ok(dev)
    }

    /// The cell's proxy to the TangoTest device, made on first use.
    pub async fn dev(&self) -> Result<DeviceProxy, String> {
        if let Some(dev) = self.dev.borrow().as_ref() {
            return Ok(dev.clone());
        }
        let dev = self
            .new_proxy(&self.target.device)
            .await
            .map_err(|e| format!("DeviceProxy::new({}): {e}", self.target.device))?;
        *self.dev.borrow_mut() = Some(dev.clone());
        Ok(dev)
    }

    /// Runs `f` on the private server (stop, restart, pause, resume). Blocking clients run
    /// it here; Asyncio clients on a helper thread, awaited, so that the event loop is not
    /// blocked while a server starts. An error if the case has no private server.
    pub async fn peer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Peer) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let Some(private) = self.private.clone() else {
            return Err("this case needs a private server".to_owned());
        };
        let job = move || {
            let mut guard = private.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                Some(peer) => f(peer),
                None => Err("the private server was already stopped for good".to_owned()),
            }
        };
        if self.client.awaits() {
            off_thread(job).await
        } else {
            job()
        }
    }
}

/// Runs `job` on a new thread; the returned future completes with its result (or its
/// panic as an error).
async fn off_thread<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    struct Slot<T> {
        result: Option<Result<T, String>>,
        waker: Option<Waker>,
    }
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
    }));
    let filler = slot.clone();
    std::thread::spawn(move || {
        let result =
            catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|p| Err(panic_message(p.as_ref())));
        let waker = {
            let mut s = filler.lock().unwrap_or_else(|p| p.into_inner());
            s.result = Some(result);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    std::future::poll_fn(|cx| {
        let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
        match s.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}
