//! The backend of the Synchronous and Futures modes: tango-client's blocking shared
//! [`Connection`], wrapped so that one call can carry its own deadline, and run either
//! blocking or queued.
//!
//! * **Blocking** (`wait()` in Synchronous and Futures modes): the call's I/O happens on
//!   the thread that polls its future, which is ready at once (leader/follower reading).
//! * **Queued** (`submit()` and `.await`): polled inside [`Queued`], each request is
//!   written at once from the polling thread and the future returns `Pending`; the
//!   connection's reader thread wakes it when the reply comes
//!   ([`Connection::call_queued`]), so no thread is parked per call. Opening a TCP
//!   connection blocks, so it is handed to the worker pool ([`super::pool`]).
//!
//! A call's deadline lives in a thread-local set around the call (or around each poll of
//! a queued call), so it reaches every request the call makes. Each request then gets the
//! time left as its timeout, instead of the proxy's timeout; the connection abandons a
//! request at its timeout and drops the late reply, so the connection stays healthy.

use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tango_client::{CallSite, Connection, ProxyCore, Transport};
use tango_core::ops::Operation;

use crate::{Error, Result};

/// The blocking transport with per-call deadlines.
pub(crate) struct Blocking(Arc<Connection>);

/// The proxy core of the Synchronous and Futures modes.
pub(crate) type BlockingCore = ProxyCore<Blocking>;

thread_local! {
    /// The deadline of the call running on this thread, and its whole timeout (for errors).
    static DEADLINE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
    /// The future polled on this thread runs queued (see the module documentation).
    static QUEUED: Cell<bool> = const { Cell::new(false) };
}

/// True while a [`Queued`] future is polled on this thread.
pub(crate) fn queued_now() -> bool {
    QUEUED.get()
}

/// A future of the blocking backend run queued, with the call's deadline: each poll
/// sets both for the requests made during it.
pub(crate) struct Queued<F> {
    deadline: Option<(Instant, Duration)>,
    fut: F,
}

impl<F: Future + Unpin> Queued<F> {
    pub(crate) fn new(deadline: Option<(Instant, Duration)>, fut: F) -> Self {
        Queued { deadline, fut }
    }
}

impl<F: Future + Unpin> Future for Queued<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                QUEUED.set(self.0);
            }
        }
        let _restore = Restore(QUEUED.replace(true));
        let deadline = self.deadline;
        with_deadline(deadline, || Pin::new(&mut self.fut).poll(cx))
    }
}

/// Runs a blocking job of a queued call (opening a connection) on the worker pool.
fn offload(job: Box<dyn FnOnce() + Send>) {
    super::pool::spawn(job);
}

/// Runs `f` with `deadline` as the deadline of the calls it makes on this thread.
pub(crate) fn with_deadline<R>(deadline: Option<(Instant, Duration)>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<(Instant, Duration)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.set(self.0);
        }
    }
    let _restore = Restore(DEADLINE.replace(deadline));
    f()
}

/// Runs a future of the blocking backend: its I/O happens while it is polled, so it is
/// ready on its first poll. (A `Pending` would be a bug; this yields rather than hangs.)
pub(crate) fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

impl Transport for Blocking {
    fn for_endpoint(host: &str, port: u16) -> Arc<Self> {
        Arc::new(Blocking(Connection::for_endpoint(host, port)))
    }

    fn call<'a, O: Operation + Sync>(
        &'a self,
        mut site: CallSite<'a>,
        op: &'a O,
    ) -> impl Future<Output = Result<O::Output>> + Send + 'a
    where
        O::Output: Send,
    {
        let whole = DEADLINE.get().map(|(deadline, whole)| {
            // a deadline view of the core may have set an earlier one
            let left = deadline.saturating_duration_since(Instant::now());
            site.timeout = site.timeout.min(left);
            whole
        });
        let expired = whole.is_some() && site.timeout.is_zero();
        // the blocking way does its I/O now; the queued way when first polled
        let now = match (expired, QUEUED.get()) {
            (true, _) => Some(Err(Error::Timeout {
                device: site.device.to_owned(),
                operation: op.name().to_owned(),
                after: whole.unwrap_or(site.timeout),
            })),
            (false, false) => Some(run(self.0.call(site, op))),
            (false, true) => None,
        };
        async move {
            let result = match now {
                Some(result) => result,
                None => self.0.call_queued(site, op, offload).await,
            };
            match whole {
                Some(whole) => result.map_err(|e| with_whole_timeout(e, whole)),
                None => result,
            }
        }
    }
}

/// A timeout reports the call's whole timeout, not the time left for its last request.
fn with_whole_timeout(e: Error, whole: Duration) -> Error {
    match e {
        Error::Timeout {
            device, operation, ..
        } => Error::Timeout {
            device,
            operation,
            after: whole,
        },
        other => other,
    }
}
