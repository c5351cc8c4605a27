//! The backend of the Synchronous and Futures modes: tango-client's blocking shared
//! [`Connection`], wrapped so that one call can carry its own deadline.
//!
//! A call's deadline lives in a thread-local set around the call (the blocking transport
//! does all its I/O on the thread that polls the call's future, so the deadline reaches
//! every request the call makes). Each request then gets the time left as its timeout,
//! instead of the proxy's timeout; the connection abandons a request at its timeout and
//! drops the late reply, so the connection stays healthy.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
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
        let result = match DEADLINE.get() {
            Some((deadline, whole)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(Error::Timeout {
                        device: site.device.to_owned(),
                        operation: op.name().to_owned(),
                        after: whole,
                    })
                } else {
                    // a deadline view of the core may have set an earlier one
                    site.timeout = site.timeout.min(left);
                    run(self.0.call(site, op)).map_err(|e| with_whole_timeout(e, whole))
                }
            }
            None => run(self.0.call(site, op)),
        };
        std::future::ready(result)
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
