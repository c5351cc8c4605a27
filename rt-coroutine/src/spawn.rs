//! `wait=false` in Coroutine mode: [`spawn`] runs a closure in a new may coroutine and
//! hands back an [`AsyncResult`], the equivalent of gevent's `AsyncResult`.

use std::fmt;
use std::panic;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use may::coroutine::JoinHandle;
use may::sync::mpsc::{self, Receiver};

/// The smallest stack [`spawn`] gives a coroutine, in words (128 KiB on 64-bit): a call of
/// [`crate::DeviceProxy`] was measured at up to 7,000 words in debug builds (1,500 in
/// release), more than may's default of 4,096.
pub const MIN_STACK_WORDS: usize = 0x4000;

/// The result of a [`spawn`]ed coroutine, to be collected later: gevent's `AsyncResult`.
///
/// Waiting for it ([`AsyncResult::get`], [`AsyncResult::get_timeout`]) parks only the
/// calling coroutine (or the calling thread, outside coroutines). A panic in the
/// coroutine is re-raised by `get`.
pub struct AsyncResult<T> {
    /// `None` once [`AsyncResult::get_timeout`] has returned the result.
    handle: Option<JoinHandle<T>>,
    /// Closed or written when the closure returns or unwinds, for timed waits.
    finished: Receiver<()>,
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

/// [`AsyncResult::get_timeout`] gave up: the coroutine had not finished in time. It keeps
/// running; the result can still be collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// How long the caller waited.
    pub after: Duration,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the coroutine did not finish within {} ms",
            self.after.as_millis()
        )
    }
}

impl std::error::Error for Timeout {}

const TAKEN: &str = "the AsyncResult was already collected by get_timeout";

fn join<T>(handle: JoinHandle<T>) -> T {
    match handle.join() {
        Ok(v) => v,
        Err(payload) => panic::resume_unwind(payload),
    }
}

impl<T> AsyncResult<T> {
    /// True once the coroutine has finished, normally or not (gevent's `ready()`); never
    /// waits.
    pub fn ready(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_done)
    }

    /// Waits for the coroutine and returns its result; re-raises its panic (a stack
    /// overflow in the coroutine comes back as a panic too).
    pub fn get(self) -> T {
        join(self.handle.expect(TAKEN))
    }

    /// Waits at most `timeout` for the coroutine. On [`Timeout`] it keeps running and the
    /// handle stays usable; on success the result is moved out, and the handle must not
    /// be asked again (it would panic).
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<T, Timeout> {
        let handle = self.handle.as_ref().expect(TAKEN);
        if !handle.is_done() {
            match self.finished.recv_timeout(timeout) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                // A coroutine that overflowed its stack never signals: ask may.
                Err(RecvTimeoutError::Timeout) if handle.is_done() => {}
                Err(RecvTimeoutError::Timeout) => return Err(Timeout { after: timeout }),
            }
        }
        Ok(join(self.handle.take().expect(TAKEN)))
    }
}

/// Runs `f` in a new may coroutine (`wait=false`) and returns a handle on its result.
///
/// The coroutine's stack is may's configured size (`may::config().set_stack_size`, in
/// words) but at least [`MIN_STACK_WORDS`]; the memory is reserved, and only the pages
/// the coroutine touches are used. A closure that needs more stack must raise may's
/// size: an overflow hits a guard page, ends the coroutine, and [`AsyncResult::get`]
/// re-raises it as a panic. Like every may coroutine, `f` must not hold a reference into
/// a thread-local across a call that may park (the coroutine may resume on another
/// thread).
pub fn spawn<T, F>(f: F) -> AsyncResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, finished) = mpsc::channel();
    let handle = go(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    AsyncResult {
        handle: Some(handle),
        finished,
    }
}

/// Starts a may coroutine with a stack of at least [`MIN_STACK_WORDS`].
#[allow(unsafe_code)]
fn go<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let words = may::config().get_stack_size().max(MIN_STACK_WORDS);
    let builder = may::coroutine::Builder::new().stack_size(words);
    // SAFETY: may marks spawning unsafe for two reasons, both handled here.
    // 1. Stack overflow: the stack is mmap'ed with a guard page; an overflow is caught by
    //    may's signal handler (the coroutine ends with an error that `join` reports), never
    //    a silent corruption. The stack is at least MIN_STACK_WORDS, twice the most that
    //    this crate's calls were measured to use in debug builds.
    // 2. Thread-locals: a coroutine can move between worker threads when it parks.
    //    tango-core, tango-client and this crate use no thread-locals. The user's closure
    //    is bound by the same documented rule as every may coroutine (see `spawn`).
    unsafe { builder.spawn(body) }.expect("cannot allocate a coroutine stack")
}
