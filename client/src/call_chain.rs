//! The call chain of the running thread: which Synchronous device code (if any) the
//! requests made on this thread come from (see [`tango_core::server::call_chain`]).
//!
//! The Synchronous device server sets it around device code
//! ([`with_call_chain`]); the transports of this crate attach it, when not empty, to
//! every request encoded on this thread as the service context
//! [`CALL_CHAIN_CONTEXT_ID`](tango_core::server::call_chain::CALL_CHAIN_CONTEXT_ID). A
//! call that runs on another thread than the one that made it (a worker pool, an async
//! task) takes the chain along with [`current`] and [`CallChainScope`].
//!
//! The chain is kept per thread, so code that switches stacks inside one thread (may
//! coroutines) must not run inside [`with_call_chain`]: another coroutine would see it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tango_core::giop::ServiceContext;
pub use tango_core::server::call_chain::{CallChain, Link};

thread_local! {
    static CURRENT: RefCell<CallChain> = const { RefCell::new(CallChain::new()) };
}

/// The chain of the device code running on this thread (empty outside device code).
pub fn current() -> CallChain {
    CURRENT.try_with(|c| c.borrow().clone()).unwrap_or_default()
}

/// Runs `f` with `chain` as this thread's call chain, and restores the previous one
/// afterwards (also when `f` panics).
pub fn with_call_chain<R>(chain: CallChain, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<CallChain>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(previous) = self.0.take() {
                let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
            }
        }
    }
    let previous = CURRENT
        .try_with(|c| std::mem::replace(&mut *c.borrow_mut(), chain))
        .ok();
    let _restore = Restore(previous);
    f()
}

/// The service context to attach to a request encoded now on this thread: `None` outside
/// device code (the common case costs one thread-local read). Public for the transports of
/// the runtime crates, which encode their requests themselves.
pub fn current_context() -> Option<ServiceContext> {
    CURRENT
        .try_with(|c| {
            let c = c.borrow();
            (!c.is_empty()).then(|| c.to_service_context())
        })
        .ok()
        .flatten()
}

/// A future that runs with a call chain: each poll happens inside [`with_call_chain`],
/// so the requests it encodes carry the chain whichever thread polls it.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct CallChainScope<F> {
    chain: CallChain,
    future: F,
}

impl<F> CallChainScope<F> {
    /// `future`, polled with `chain` as the call chain.
    pub fn new(chain: CallChain, future: F) -> Self {
        CallChainScope { chain, future }
    }
}

impl<F: Future + Unpin> Future for CallChainScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if this.chain.is_empty() {
            return Pin::new(&mut this.future).poll(cx);
        }
        let future = &mut this.future;
        with_call_chain(this.chain.clone(), || Pin::new(future).poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(device: u32) -> CallChain {
        let mut c = CallChain::new();
        c.push(Link {
            server: 7,
            activation: 9,
            device,
        });
        c
    }

    #[test]
    fn scoped_and_restored_even_on_panic() {
        assert!(current().is_empty());
        assert!(current_context().is_none());
        with_call_chain(chain(1), || {
            assert_eq!(current(), chain(1));
            with_call_chain(chain(2), || assert_eq!(current(), chain(2)));
            assert_eq!(current(), chain(1));
            let ctx = current_context().unwrap();
            assert_eq!(CallChain::decode(&ctx.data).unwrap(), chain(1));
            let panicked = std::panic::catch_unwind(|| {
                with_call_chain(chain(3), || panic!("device code bug"));
            });
            assert!(panicked.is_err());
            assert_eq!(current(), chain(1));
        });
        assert!(current().is_empty());
    }

    #[test]
    fn a_scoped_future_sees_its_chain_on_another_thread() {
        let fut = CallChainScope::new(
            chain(5),
            Box::pin(async { current_context().map(|c| c.data) }),
        );
        let seen = std::thread::spawn(move || {
            let mut fut = std::pin::pin!(fut);
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(v) => (v, current().is_empty()),
                Poll::Pending => unreachable!("the future is ready at once"),
            }
        })
        .join()
        .unwrap();
        assert_eq!(
            seen.0.map(|d| CallChain::decode(&d).unwrap()),
            Some(chain(5))
        );
        assert!(seen.1, "the chain does not outlive the poll");
    }
}
