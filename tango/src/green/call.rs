//! [`Call`]: one network operation of a green-mode proxy, not started yet; and
//! [`Pending`]: the handle on a call submitted without waiting (`wait=false`).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tango_client::{Connection, Drive};

use super::blocking::{queued_now, run, with_deadline, Queued};
#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
use super::runtime;
#[cfg(not(all(
    feature = "coroutine",
    any(feature = "tokio", feature = "smol", feature = "async-std")
)))]
use super::unsupported;
use super::{green_error, pool, GreenMode};
use crate::{Error, Result};

/// The future a backend makes for one call.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// The backend a call's operation runs on. Synchronous and Futures share the blocking
/// transport; Coroutine runs on the may transport of tango-coroutine; Asyncio on the
/// shared async transport of the runtime chosen by [`super::runtime`]. Each operation's
/// `match` in `device.rs` has one arm per backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// tango-client's blocking shared connection, with per-call deadlines.
    Blocking,
    /// tango-coroutine's `CoConnection`: parks the calling may coroutine, not the thread.
    #[cfg(feature = "coroutine")]
    May,
    /// tango-tokio.
    #[cfg(feature = "tokio")]
    Tokio,
    /// tango-smol.
    #[cfg(feature = "smol")]
    Smol,
    /// tango-async-std.
    #[cfg(feature = "async-std")]
    AsyncStd,
}

/// What a call's job is given: the backend it runs on and the call's deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub(crate) backend: Backend,
    /// The deadline of the whole call (from [`Call::timeout`]) and that timeout.
    pub(crate) deadline: Deadline,
    pub(crate) operation: &'static str,
}

impl Ctx {
    /// Sleeps the way the backend waits: the thread (Blocking, or its timer when the call
    /// runs queued), the coroutine (May), the task (the async runtimes).
    pub(crate) async fn sleep(self, d: Duration) {
        match self.backend {
            // a queued call (submit, .await) must not block the thread that polls it
            Backend::Blocking if queued_now() => pool::sleep(d).await,
            Backend::Blocking => std::thread::sleep(d),
            #[cfg(feature = "coroutine")]
            Backend::May => may::coroutine::sleep(d),
            #[cfg(feature = "tokio")]
            Backend::Tokio => {
                <tango_tokio::Tokio as tango_client::AsyncRuntime>::sleep(d).await;
            }
            #[cfg(feature = "smol")]
            Backend::Smol => <tango_smol::Smol as tango_client::AsyncRuntime>::sleep(d).await,
            #[cfg(feature = "async-std")]
            Backend::AsyncStd => {
                <tango_async_std::AsyncStd as tango_client::AsyncRuntime>::sleep(d).await;
            }
        }
    }
}

type Job<T> = Box<dyn FnOnce(Ctx) -> BoxFuture<T> + Send>;

/// A deadline and the whole timeout it came from.
pub(crate) type Deadline = Option<(Instant, Duration)>;

/// How long a waiter gives a call past its deadline to report the transport's own
/// timeout, before it reports the timeout itself (a connect queued on a busy pool).
const GRACE: Duration = Duration::from_millis(100);

/// One network operation of a [`DeviceProxy`](super::DeviceProxy) or
/// [`AttributeProxy`](super::AttributeProxy), in the green mode of its proxy at the time
/// the method was called. Nothing is sent until it is run:
///
/// * [`wait`](Call::wait) (PyTango's `wait=True`): the result, as the synchronous call
///   gives it (in Futures mode: submitted, then waited for);
/// * [`submit`](Call::submit) (`wait=False`): a [`Pending`] handle at once;
/// * `.await` (through [`IntoFuture`]): a future for any executor;
/// * [`timeout`](Call::timeout) before any of them: the per-call override of the proxy's
///   timeout. It bounds the whole call (every request it makes) and the wait; past it the
///   call fails with [`Error::Timeout`], the request is abandoned and its late reply is
///   dropped by the connection, which stays usable.
#[must_use = "a Call does nothing until it is waited for, submitted or awaited"]
pub struct Call<T> {
    mode: Result<GreenMode>,
    timeout: Option<Duration>,
    device: Arc<str>,
    operation: &'static str,
    job: Job<T>,
}

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("operation", &self.operation)
            .field("device", &self.device)
            .field("mode", &self.mode)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<T: Send + 'static> Call<T> {
    pub(crate) fn new(
        mode: Result<GreenMode>,
        device: Arc<str>,
        operation: &'static str,
        job: impl FnOnce(Ctx) -> BoxFuture<T> + Send + 'static,
    ) -> Self {
        // Made by Synchronous device code: its requests carry the call chain of this
        // thread wherever they are sent from (see tango_client::call_chain).
        let chain = tango_client::call_chain::current();
        let job: Job<T> = if chain.is_empty() {
            Box::new(job)
        } else {
            Box::new(move |ctx: Ctx| with_chain(chain, ctx, job(ctx)))
        };
        Call {
            mode,
            timeout: None,
            device,
            operation,
            job,
        }
    }

    /// A call that fails with `error` however it is run (in `mode`).
    pub(crate) fn failed(
        mode: Result<GreenMode>,
        device: Arc<str>,
        operation: &'static str,
        error: Error,
    ) -> Self {
        Call::new(mode, device, operation, move |_| {
            Box::pin(std::future::ready(Err(error)))
        })
    }

    /// The same call, its result converted by `f`.
    pub(crate) fn map<U: Send + 'static>(self, f: impl FnOnce(T) -> U + Send + 'static) -> Call<U> {
        let job = self.job;
        Call {
            mode: self.mode,
            timeout: self.timeout,
            device: self.device,
            operation: self.operation,
            job: Box::new(move |ctx| {
                let fut = job(ctx);
                Box::pin(async move { fut.await.map(f) })
            }),
        }
    }

    /// Bounds this call: at most `timeout` for the whole call and its wait, instead of the
    /// proxy's timeout for each request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The green mode this call runs in (an error if it follows a global mode set to an
    /// unknown value in the environment).
    pub fn green_mode(&self) -> Result<GreenMode> {
        self.mode.clone()
    }

    /// The operation's name (`state`, `read_attribute`...).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// Runs the call and returns its result (`wait=True`). Synchronous: on this thread.
    /// Futures: submitted (queued, see [`Call::submit`]) and waited for with
    /// [`Pending::result`], this thread reading the reply itself.
    /// Coroutine: on this thread or coroutine, which the may transport parks (only the
    /// coroutine, when called from one) while it waits. Asyncio: outside any async
    /// runtime, drives the call to completion with the runtime's `block_on` (see
    /// [`super`] for which runtime); inside a tokio runtime it is
    /// [`Error::NotSupported`] (it would block the event loop: use `.await`).
    pub fn wait(self) -> Result<T> {
        match self.mode {
            Err(ref e) => Err(e.clone()),
            Ok(GreenMode::Synchronous) => self.run_here(),
            // PyTango's wait=True: submitted and waited for, this thread reading the
            // reply itself (no hand-off to another thread and back)
            Ok(GreenMode::Futures) => self.submit_queued().result(),
            Ok(GreenMode::Coroutine) => self.wait_coroutine(),
            Ok(GreenMode::Asyncio) => self.wait_asyncio(),
        }
    }

    /// Starts the call without waiting (`wait=False`) and returns its handle. In
    /// Synchronous and Futures modes the request is written now from this thread and the
    /// call completes when its reply is read, by whoever reads the connection (a thread
    /// waiting in [`Pending::result`], else the connection's reader thread): no thread is
    /// parked for it (opening a connection, which blocks, runs on the worker pool). In
    /// Coroutine mode it runs in a new may coroutine; in Asyncio mode as a task of the
    /// chosen runtime.
    pub fn submit(self) -> Pending<T> {
        match self.mode {
            Err(ref e) => Pending::finished(self.device.clone(), self.operation, Err(e.clone())),
            Ok(GreenMode::Synchronous | GreenMode::Futures) => self.submit_queued(),
            Ok(GreenMode::Coroutine) => self.submit_coroutine(),
            Ok(GreenMode::Asyncio) => self.submit_asyncio(),
        }
    }

    fn deadline(&self) -> Deadline {
        self.timeout.map(|d| (Instant::now() + d, d))
    }

    fn ctx(&self, backend: Backend, deadline: Deadline) -> Ctx {
        Ctx {
            backend,
            deadline,
            operation: self.operation,
        }
    }

    fn run_here(self) -> Result<T> {
        let deadline = self.deadline();
        let ctx = self.ctx(Backend::Blocking, deadline);
        let job = self.job;
        finish(with_deadline(deadline, || run(job(ctx))), deadline)
    }

    /// A slot, the completer a runner fills it with, and the caller's handle on it.
    fn handle(&self, deadline: Deadline) -> (Completer<T>, Pending<T>) {
        let slot = Arc::new(Slot::new());
        let completer = Completer {
            slot: slot.clone(),
            device: self.device.clone(),
            operation: self.operation,
        };
        let pending = Pending {
            slot,
            deadline,
            device: self.device.clone(),
            operation: self.operation,
            task: None,
        };
        (completer, pending)
    }

    /// The call's future on the blocking backend, run queued: its requests are written
    /// when it is polled and it is woken by the connection's reader thread (see
    /// [`super::blocking`]); no thread blocks for it.
    fn queued_future(self) -> BoxFuture<T> {
        let deadline = self.deadline();
        let ctx = self.ctx(Backend::Blocking, deadline);
        let job = self.job;
        let fut: BoxFuture<T> = Box::pin(async move { finish(job(ctx).await, deadline) });
        Box::pin(Queued::new(deadline, fut))
    }

    /// Starts the call queued, as a [`Task`] polled first here (so its request leaves at
    /// once, from this thread) and then by whoever wakes it: the connection's reader
    /// thread completes the handle directly.
    fn submit_queued(self) -> Pending<T> {
        let (completer, mut pending) = self.handle(self.deadline());
        let fut = self.queued_future();
        let task = Task::new(Box::pin(async move {
            completer.complete(fut.await);
        }));
        pending.task = Some(task.clone());
        task.run();
        pending
    }

    #[cfg(feature = "coroutine")]
    fn wait_coroutine(self) -> Result<T> {
        let deadline = self.deadline();
        let ctx = self.ctx(Backend::May, deadline);
        finish(run((self.job)(ctx)), deadline)
    }

    #[cfg(not(feature = "coroutine"))]
    fn wait_coroutine(self) -> Result<T> {
        Err(unsupported(GreenMode::Coroutine))
    }

    #[cfg(feature = "coroutine")]
    fn submit_coroutine(self) -> Pending<T> {
        let deadline = self.deadline();
        let ctx = self.ctx(Backend::May, deadline);
        let (completer, pending) = self.handle(deadline);
        let job = self.job;
        // the AsyncResult is not needed: the coroutine reports through the slot
        drop(tango_coroutine::spawn(move || {
            if completer.slot.cancelled.load(Ordering::Acquire) {
                return;
            }
            let result = run(job(ctx));
            completer.complete(finish(result, deadline));
        }));
        pending
    }

    #[cfg(not(feature = "coroutine"))]
    fn submit_coroutine(self) -> Pending<T> {
        Pending::finished(
            self.device,
            self.operation,
            Err(unsupported(GreenMode::Coroutine)),
        )
    }

    /// The call's future on `backend`, bounded by the call's deadline.
    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    fn async_future(self, backend: Backend) -> BoxFuture<T> {
        let deadline = self.deadline();
        let ctx = self.ctx(backend, deadline);
        let fut = (self.job)(ctx);
        let Some((limit, whole)) = deadline else {
            return fut;
        };
        let device = self.device;
        Box::pin(async move {
            let mut fut = fut;
            // a safety net past the deadline (the transport bounds each request itself)
            let timer = ctx.sleep((limit + GRACE).saturating_duration_since(Instant::now()));
            let mut timer = std::pin::pin!(timer);
            let raced = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                timer.as_mut().poll(cx).map(|()| None)
            })
            .await;
            let result = raced.unwrap_or_else(|| {
                Err(Error::Timeout {
                    device: device.to_string(),
                    operation: ctx.operation.to_owned(),
                    after: whole,
                })
            });
            finish(result, deadline)
        })
    }

    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    fn wait_asyncio(self) -> Result<T> {
        let backend = runtime::for_wait()?.backend();
        runtime::block_on(backend, self.async_future(backend))
    }

    #[cfg(not(any(feature = "tokio", feature = "smol", feature = "async-std")))]
    fn wait_asyncio(self) -> Result<T> {
        Err(unsupported(GreenMode::Asyncio))
    }

    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    fn submit_asyncio(self) -> Pending<T> {
        let place = runtime::choose();
        let backend = place.backend();
        let (completer, pending) = self.handle(self.deadline());
        let fut = self.async_future(backend);
        let task = async move {
            let mut fut = fut;
            // a dropped (cancelled) handle ends the task at its next wake-up
            let result = std::future::poll_fn(|cx| {
                if completer.slot.cancelled.load(Ordering::Acquire) {
                    return Poll::Ready(None);
                }
                fut.as_mut().poll(cx).map(Some)
            })
            .await;
            if let Some(result) = result {
                completer.complete(result);
            }
        };
        if let Err(e) = runtime::spawn(place, task) {
            // the task (and its completer) was dropped: report why
            let device = pending.device.clone();
            return Pending::finished(device, pending.operation, Err(e));
        }
        pending
    }

    #[cfg(not(any(feature = "tokio", feature = "smol", feature = "async-std")))]
    fn submit_asyncio(self) -> Pending<T> {
        Pending::finished(
            self.device,
            self.operation,
            Err(unsupported(GreenMode::Asyncio)),
        )
    }
}

/// `fut` polled with `chain` as its thread's call chain. Not on the may backend: a may
/// coroutine parks inside one poll and another coroutine of the thread would see the
/// chain. (A Coroutine-mode call made by device code runs on the caller's thread, where
/// the may transport reads the chain itself when it encodes.)
fn with_chain<T: Send + 'static>(
    chain: tango_client::call_chain::CallChain,
    ctx: Ctx,
    fut: BoxFuture<T>,
) -> BoxFuture<T> {
    match ctx.backend {
        #[cfg(feature = "coroutine")]
        Backend::May => fut,
        _ => Box::pin(tango_client::call_chain::CallChainScope::new(chain, fut)),
    }
}

/// A call's timeout error reports the call's whole timeout, not the time left for the
/// request that ran out of it.
fn finish<T>(result: Result<T>, deadline: Deadline) -> Result<T> {
    match (result, deadline) {
        (
            Err(Error::Timeout {
                device, operation, ..
            }),
            Some((_, whole)),
        ) => Err(Error::Timeout {
            device,
            operation,
            after: whole,
        }),
        (result, _) => result,
    }
}

impl<T: Send + 'static> IntoFuture for Call<T> {
    type Output = Result<T>;
    type IntoFuture = CallFuture<T>;

    /// Synchronous and Futures modes: the call's future on the blocking transport run
    /// queued (its request written when first polled, the task woken by the
    /// connection's reader thread when the reply comes): no executor thread is blocked,
    /// on any runtime. Coroutine: the call runs in a may coroutine and wakes the task
    /// when done. Asyncio: the runtime's future itself is polled (or, with only the
    /// `tokio` feature and no tokio runtime current, a task on tango's own tokio runtime
    /// is awaited).
    fn into_future(self) -> CallFuture<T> {
        CallFuture {
            state: FutureState::Start(Some(self)),
        }
    }
}

/// The future of an awaited [`Call`]. Dropping it before completion cancels the call.
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<T> {
    state: FutureState<T>,
}

enum FutureState<T> {
    Start(Option<Call<T>>),
    Running(Pending<T>),
    /// Asyncio: the runtime's future, polled directly.
    #[cfg_attr(
        not(any(feature = "tokio", feature = "smol", feature = "async-std")),
        allow(dead_code)
    )]
    Direct(BoxFuture<T>),
}

impl<T> fmt::Debug for CallFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            FutureState::Start(c) => f.debug_tuple("CallFuture::Start").field(c).finish(),
            FutureState::Running(p) => f.debug_tuple("CallFuture::Running").field(p).finish(),
            FutureState::Direct(_) => f.write_str("CallFuture::Direct"),
        }
    }
}

impl<T: Send + 'static> Future for CallFuture<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        if let FutureState::Start(call) = &mut self.state {
            let Some(call) = call.take() else {
                return Poll::Ready(Err(green_error(
                    "API_ResultTaken",
                    "the call's future was polled after it completed".to_owned(),
                )));
            };
            self.state = match call.mode {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(GreenMode::Synchronous | GreenMode::Futures) => {
                    FutureState::Direct(call.queued_future())
                }
                Ok(GreenMode::Coroutine) => FutureState::Running(call.submit_coroutine()),
                Ok(GreenMode::Asyncio) => Self::start_asyncio(call),
            };
        }
        match &mut self.state {
            FutureState::Running(pending) => Pin::new(pending).poll(cx),
            FutureState::Direct(fut) => {
                let result = std::task::ready!(fut.as_mut().poll(cx));
                // a later poll reports API_ResultTaken rather than resuming the future
                self.state = FutureState::Start(None);
                Poll::Ready(result)
            }
            FutureState::Start(_) => unreachable!("started above"),
        }
    }
}

impl<T: Send + 'static> CallFuture<T> {
    #[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
    fn start_asyncio(call: Call<T>) -> FutureState<T> {
        match runtime::choose() {
            runtime::Place::Here(backend) => FutureState::Direct(call.async_future(backend)),
            #[cfg(feature = "tokio")]
            runtime::Place::OwnedTokio => FutureState::Running(call.submit_asyncio()),
        }
    }

    #[cfg(not(any(feature = "tokio", feature = "smol", feature = "async-std")))]
    fn start_asyncio(call: Call<T>) -> FutureState<T> {
        FutureState::Running(call.submit_asyncio())
    }
}

/// Where a call leaves its result for its [`Pending`] handle.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
    changed: Condvar,
    cancelled: AtomicBool,
}

struct SlotState<T> {
    result: Option<Result<T>>,
    finished: bool,
    waker: Option<Waker>,
    /// Threads asleep on `changed` (no notification without one: it costs a system call).
    sleepers: usize,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                result: None,
                finished: false,
                waker: None,
                sleepers: 0,
            }),
            changed: Condvar::new(),
            cancelled: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self, result: Result<T>) {
        let (waker, sleepers) = {
            let mut st = self.lock();
            if st.finished {
                return;
            }
            st.result = Some(result);
            st.finished = true;
            (st.waker.take(), st.sleepers)
        };
        if sleepers > 0 {
            self.changed.notify_all();
        }
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A queued call of the blocking backend running without a thread of its own: polled
/// first by the thread that submits it (its request leaves from there), then by whatever
/// wakes it — the connection's reader thread when the reply comes (which so completes
/// the [`Pending`] itself), a pool worker when a connection it waited for is open, the
/// timer. A wake during a poll makes the poller poll again; a cancel drops the future
/// (abandoning its request) as soon as nobody polls it.
pub(crate) struct Task {
    state: Mutex<TaskState>,
}

struct TaskState {
    fut: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The connection its last request went to: a waiter drives it (see
    /// [`Pending::result`]).
    waits_on: Option<Weak<Connection>>,
    /// Being polled right now (the future is out of `fut`).
    polling: bool,
    /// Woken while being polled: poll again.
    woken: bool,
    cancelled: bool,
}

impl Task {
    fn new(fut: Pin<Box<dyn Future<Output = ()> + Send>>) -> Arc<Task> {
        Arc::new(Task {
            state: Mutex::new(TaskState {
                fut: Some(fut),
                waits_on: None,
                polling: false,
                woken: false,
                cancelled: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, TaskState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Polls the future on this thread, unless another thread polls it now (which then
    /// polls once more).
    fn run(self: &Arc<Self>) {
        let mut fut = {
            let mut st = self.lock();
            if st.polling {
                st.woken = true;
                return;
            }
            match st.fut.take() {
                Some(fut) => {
                    st.polling = true;
                    fut
                }
                None => return, // done or cancelled
            }
        };
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            drop(Connection::take_last_queued());
            // a panic ends the call (its handle reports API_WorkerFailed), not the thread
            let ready = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fut.as_mut().poll(&mut cx).is_ready()
            }))
            .unwrap_or(true);
            let sent_to = Connection::take_last_queued();
            let mut st = self.lock();
            if sent_to.is_some() {
                st.waits_on = sent_to;
            }
            if ready || st.cancelled {
                st.polling = false;
                drop(st);
                drop(fut); // outside the lock: dropping abandons a request
                return;
            }
            if st.woken {
                st.woken = false;
                continue;
            }
            st.fut = Some(fut);
            st.polling = false;
            return;
        }
    }

    /// The connection the call waits on, if it waits for a reply.
    fn waits_on(&self) -> Option<Arc<Connection>> {
        let st = self.lock();
        if st.fut.is_none() && !st.polling {
            return None; // done or cancelled
        }
        st.waits_on.as_ref()?.upgrade()
    }

    /// Drops the future now, or as soon as its current poll ends.
    fn cancel(&self) {
        let fut = {
            let mut st = self.lock();
            st.cancelled = true;
            st.fut.take()
        };
        drop(fut);
    }
}

impl std::task::Wake for Task {
    fn wake(self: Arc<Self>) {
        self.run();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.run();
    }
}

/// Completes the slot; if the job panics (or is skipped), completes it with an error so
/// that no waiter hangs.
struct Completer<T> {
    slot: Arc<Slot<T>>,
    device: Arc<str>,
    operation: &'static str,
}

impl<T> Completer<T> {
    fn complete(self, result: Result<T>) {
        self.slot.finish(result);
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        // no-op when complete() already finished the slot
        self.slot.finish(Err(green_error(
            "API_WorkerFailed",
            format!(
                "{} on {} did not complete: it was cancelled or its worker panicked",
                self.operation, self.device
            ),
        )));
    }
}

/// A call started without waiting: PyTango's future of `wait=False`.
///
/// It is also a [`Future`] (await it on any executor). Dropping it before the call
/// completes cancels the call. In Synchronous and Futures modes the call is dropped at
/// once: a request not sent yet (waiting for its connection) is never sent, a request in
/// flight is abandoned (its late reply is dropped by the connection, which stays
/// healthy). In Asyncio mode the call's task ends at its next wake-up, abandoning the
/// request the same way. A Coroutine call already sent cannot be recalled from the may
/// transport: its coroutine waits for the reply or the timeout, and the result is
/// discarded.
#[must_use = "dropping a Pending cancels its call"]
pub struct Pending<T> {
    slot: Arc<Slot<T>>,
    deadline: Deadline,
    device: Arc<str>,
    operation: &'static str,
    /// The queued call (Synchronous and Futures modes), dropped on cancel.
    task: Option<Arc<Task>>,
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("operation", &self.operation)
            .field("device", &self.device)
            .field("done", &self.done())
            .finish()
    }
}

impl<T> Pending<T> {
    fn finished(device: Arc<str>, operation: &'static str, result: Result<T>) -> Self {
        let slot = Slot::new();
        slot.finish(result);
        Pending {
            slot: Arc::new(slot),
            deadline: None,
            device,
            operation,
            task: None,
        }
    }

    /// True once the call has completed (successfully or not).
    pub fn done(&self) -> bool {
        self.slot.lock().finished
    }

    /// Waits for the call's result. With a call timeout, waits no longer than it: past
    /// it, [`Error::Timeout`] (and the call is cancelled).
    ///
    /// In Synchronous and Futures modes a waiting thread reads the connection itself
    /// (for every call on it, not only this one) instead of sleeping until the
    /// connection's reader thread hands the reply over: a program that keeps many calls
    /// in flight and waits for them in turn does all its I/O on its own thread.
    pub fn result(self) -> Result<T> {
        let limit = self.deadline.map(|(d, _)| d + GRACE);
        match self.wait_until(limit) {
            Some(r) => r,
            None => Err(self.timed_out(self.deadline.map_or(Duration::ZERO, |(_, w)| w))),
        }
    }

    /// Waits at most `timeout` for the result (PyTango's `result(timeout)`); past it,
    /// [`Error::Timeout`], and the handle stays usable: the call goes on.
    pub fn result_timeout(&mut self, timeout: Duration) -> Result<T> {
        let mine = Instant::now() + timeout;
        let (limit, after) = match self.deadline {
            Some((d, whole)) if d + GRACE < mine => (d + GRACE, whole),
            _ => (mine, timeout),
        };
        match self.wait_until(Some(limit)) {
            Some(r) => r,
            None => Err(self.timed_out(after)),
        }
    }

    /// Cancels the call (as dropping the handle does). True if it had not completed.
    pub fn cancel(self) -> bool {
        !self.done()
    }

    fn wait_until(&self, limit: Option<Instant>) -> Option<Result<T>> {
        #[cfg(feature = "coroutine")]
        if may::coroutine::is_coroutine() {
            return self.wait_in_coroutine(limit);
        }
        // a queued call waiting for a reply: read it ourselves rather than sleep until the
        // connection's reader thread hands it over (see Connection::drive)
        if let Some(conn) = self.task.as_ref().and_then(|t| t.waits_on()) {
            if conn.drive(&mut || self.done(), limit) == Drive::TimedOut && !self.done() {
                return None;
            }
        }
        let mut st = self.slot.lock();
        loop {
            if let Some(r) = st.result.take() {
                return Some(r);
            }
            if st.finished {
                return Some(Err(self.taken()));
            }
            let left = match limit {
                None => None,
                Some(limit) => {
                    let left = limit.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    Some(left)
                }
            };
            st.sleepers += 1;
            st = match left {
                None => self
                    .slot
                    .changed
                    .wait(st)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(left) => {
                    self.slot
                        .changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            st.sleepers -= 1;
        }
    }

    /// [`Pending::wait_until`] in a may coroutine: parks the coroutine (not its thread)
    /// between looks at the slot.
    #[cfg(feature = "coroutine")]
    fn wait_in_coroutine(&self, limit: Option<Instant>) -> Option<Result<T>> {
        const LOOK_EVERY: Duration = Duration::from_millis(1);
        loop {
            {
                let mut st = self.slot.lock();
                if let Some(r) = st.result.take() {
                    return Some(r);
                }
                if st.finished {
                    return Some(Err(self.taken()));
                }
            }
            let pause = match limit {
                None => LOOK_EVERY,
                Some(limit) => {
                    let left = limit.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    left.min(LOOK_EVERY)
                }
            };
            may::coroutine::sleep(pause);
        }
    }

    fn timed_out(&self, after: Duration) -> Error {
        Error::Timeout {
            device: self.device.to_string(),
            operation: self.operation.to_owned(),
            after,
        }
    }

    fn taken(&self) -> Error {
        green_error(
            "API_ResultTaken",
            format!(
                "the result of {} on {} was already taken",
                self.operation, self.device
            ),
        )
    }
}

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        self.slot.cancelled.store(true, Ordering::Release);
        if let Some(task) = self.task.take() {
            task.cancel();
        }
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut st = self.slot.lock();
        if let Some(r) = st.result.take() {
            return Poll::Ready(r);
        }
        if st.finished {
            return Poll::Ready(Err(self.taken()));
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
