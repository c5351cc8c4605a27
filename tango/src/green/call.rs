//! [`Call`]: one network operation of a green-mode proxy, not started yet; and
//! [`Pending`]: the handle on a call submitted without waiting (`wait=false`).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::blocking::{run, with_deadline};
use super::{green_error, pool, unsupported, GreenMode};
use crate::{Error, Result};

/// The future a backend makes for one call.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// The backend a call's operation runs on. Synchronous and Futures share the blocking
/// transport; the Coroutine and Asyncio backends add their variants here (one per runtime
/// transport), and each operation's `match` in `device.rs` gains the matching arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// tango-client's blocking shared connection, with per-call deadlines.
    Blocking,
}

type Job<T> = Box<dyn FnOnce(Backend) -> BoxFuture<T> + Send>;

/// A deadline and the whole timeout it came from.
type Deadline = Option<(Instant, Duration)>;

/// How long a waiter gives a worker past the call's deadline to report the transport's
/// own timeout, before it reports the timeout itself (a queued call, a saturated pool).
const GRACE: Duration = Duration::from_millis(100);

/// One network operation of a [`DeviceProxy`](super::DeviceProxy) or
/// [`AttributeProxy`](super::AttributeProxy), in the green mode of its proxy at the time
/// the method was called. Nothing is sent until it is run:
///
/// * [`wait`](Call::wait) (PyTango's `wait=True`): the result, as the synchronous call
///   gives it; in Futures mode the call runs on the worker pool while the caller waits;
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
        job: impl FnOnce(Backend) -> BoxFuture<T> + Send + 'static,
    ) -> Self {
        Call {
            mode,
            timeout: None,
            device,
            operation,
            job: Box::new(job),
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
            job: Box::new(move |backend| {
                let fut = job(backend);
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
    /// Futures: on the worker pool, this thread waiting (inline when already on a worker).
    pub fn wait(self) -> Result<T> {
        match self.mode {
            Err(ref e) => Err(e.clone()),
            Ok(GreenMode::Synchronous) => self.run_here(),
            Ok(GreenMode::Futures) if pool::on_worker() => self.run_here(),
            Ok(GreenMode::Futures) => self.submit_to_pool().result(),
            Ok(mode) => Err(unsupported(mode)),
        }
    }

    /// Starts the call without waiting (`wait=False`) and returns its handle. In
    /// Synchronous and Futures modes the call runs on the worker pool.
    pub fn submit(self) -> Pending<T> {
        match self.mode {
            Err(ref e) => Pending::finished(self.device.clone(), self.operation, Err(e.clone())),
            Ok(GreenMode::Synchronous | GreenMode::Futures) => self.submit_to_pool(),
            Ok(mode) => Pending::finished(self.device, self.operation, Err(unsupported(mode))),
        }
    }

    fn deadline(&self) -> Deadline {
        self.timeout.map(|d| (Instant::now() + d, d))
    }

    fn run_here(self) -> Result<T> {
        let deadline = self.deadline();
        let job = self.job;
        with_deadline(deadline, || run(job(Backend::Blocking)))
    }

    fn submit_to_pool(self) -> Pending<T> {
        let deadline = self.deadline();
        let slot = Arc::new(Slot::new());
        let completer = Completer {
            slot: slot.clone(),
            device: self.device.clone(),
            operation: self.operation,
        };
        let job = self.job;
        pool::spawn(move || {
            if completer.slot.cancelled.load(Ordering::Acquire) {
                return; // cancelled while queued: never sent
            }
            let result = with_deadline(deadline, || run(job(Backend::Blocking)));
            completer.complete(result);
        });
        Pending {
            slot,
            deadline,
            device: self.device,
            operation: self.operation,
        }
    }
}

impl<T: Send + 'static> IntoFuture for Call<T> {
    type Output = Result<T>;
    type IntoFuture = CallFuture<T>;

    /// In Synchronous and Futures modes the call runs on the worker pool when first polled
    /// and wakes the task when done: no executor thread is blocked, on any runtime.
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
}

impl<T> fmt::Debug for CallFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            FutureState::Start(c) => f.debug_tuple("CallFuture::Start").field(c).finish(),
            FutureState::Running(p) => f.debug_tuple("CallFuture::Running").field(p).finish(),
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
            match call.mode {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(GreenMode::Synchronous | GreenMode::Futures) => {
                    self.state = FutureState::Running(call.submit_to_pool());
                }
                Ok(mode) => return Poll::Ready(Err(unsupported(mode))),
            }
        }
        match &mut self.state {
            FutureState::Running(pending) => Pin::new(pending).poll(cx),
            FutureState::Start(_) => unreachable!("started above"),
        }
    }
}

/// Where a worker leaves a call's result for its [`Pending`] handle.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
    changed: Condvar,
    cancelled: AtomicBool,
}

struct SlotState<T> {
    result: Option<Result<T>>,
    finished: bool,
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                result: None,
                finished: false,
                waker: None,
            }),
            changed: Condvar::new(),
            cancelled: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self, result: Result<T>) {
        let waker = {
            let mut st = self.lock();
            if st.finished {
                return;
            }
            st.result = Some(result);
            st.finished = true;
            st.waker.take()
        };
        self.changed.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
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
/// completes cancels the call: a call still queued is never sent; a call already sent
/// cannot be recalled from the blocking transport, so its worker waits for the reply or
/// the timeout (whichever comes first), and the result is discarded.
#[must_use = "dropping a Pending cancels its call"]
pub struct Pending<T> {
    slot: Arc<Slot<T>>,
    deadline: Deadline,
    device: Arc<str>,
    operation: &'static str,
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
        }
    }

    /// True once the call has completed (successfully or not).
    pub fn done(&self) -> bool {
        self.slot.lock().finished
    }

    /// Waits for the call's result. With a call timeout, waits no longer than it: past
    /// it, [`Error::Timeout`] (and the call is cancelled).
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
        let mut st = self.slot.lock();
        loop {
            if let Some(r) = st.result.take() {
                return Some(r);
            }
            if st.finished {
                return Some(Err(self.taken()));
            }
            st = match limit {
                None => self
                    .slot
                    .changed
                    .wait(st)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(limit) => {
                    let left = limit.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.slot
                        .changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
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
