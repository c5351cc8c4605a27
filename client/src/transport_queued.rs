//! The non-blocking path of the blocking transport: [`Connection::call_queued`] writes a
//! request from the calling thread and returns a future of its reply; no thread is parked
//! per request. Who reads the replies, in the order of preference:
//!
//! * **a caller waiting for one of them** ([`Connection::drive`], which the green
//!   `Pending::result()` uses): it reads the socket for everybody, as a blocking caller
//!   does (leader/follower), and wakes each future whose reply came on its own thread (a
//!   waker that polls at once, as the green Futures executor's does, decodes the reply and
//!   completes that caller's handle right there) until its own is done. A program that
//!   keeps many requests in flight and waits for them in turn so runs on one thread, with
//!   no hand-off: the reader thread below leaves the reading to such a caller for
//!   [`DRIVER_GRACE`] after it last read, and hands the reading back to a caller that
//!   comes to wait;
//! * **one reader thread per connection** (`tango-reader`), started when the first queued
//!   request is in flight and stopped after [`READER_LINGER`] without any: it reads while
//!   nobody drives (the replies of blocking callers included: it holds the reader role as
//!   any leader does, and hands it back to them when no queued request is left), and wakes
//!   the futures whose replies came, after releasing the state lock.
//!
//! **Fewer writes.** Requests made while the reading thread is handing out replies, or
//! within [`DRIVER_GRACE`] of a caller's drive, are gathered and written in one go by
//! whoever reads next, before it reads (within about [`DRIVER_GRACE`]: the reader thread
//! never sleeps longer while queued requests wait); others are written at once. So a
//! burst of requests made after a batch of replies leaves in one `write`, as the async
//! transport's writer task does.
//!
//! **Timeouts.** Whoever reads also expires the queued requests whose deadline passed (a
//! read lasts at most [`READER_TICK`]): their ids are abandoned, the late replies are
//! dropped by the state machine, and the connection stays up. Dropping the future before
//! its reply abandons the id the same way.
//!
//! **Connecting blocks**, so a call that finds no live connection hands the connect to
//! `offload` (the caller's blocking workers) and waits for it; the request is written
//! once the connection is up. Failures and retries follow the blocking path: a broken
//! connection fails every waiting call, a request the server provably never ran is
//! re-sent once on a new connection.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_channel::oneshot;

use super::*;

/// A reader thread with no queued request left stops after this long.
pub(crate) const READER_LINGER: Duration = Duration::from_secs(1);

/// The longest one `read` for queued requests blocks, so that a request with an earlier
/// deadline than those it read for is expired in time.
pub(crate) const READER_TICK: Duration = Duration::from_millis(10);

/// How long after a caller's drive the reader thread leaves the reading to it (expecting
/// it back) and requests may wait to be written with others; also the longest the reader
/// thread sleeps while queued requests wait.
pub(crate) const DRIVER_GRACE: Duration = Duration::from_millis(1);

/// Gathered requests are written at once past this size.
const OUTBOX_LIMIT: usize = 256 * 1024;

thread_local! {
    /// The connection of the last queued request registered on this thread.
    static LAST_QUEUED: RefCell<Option<Weak<Connection>>> = const { RefCell::new(None) };
}

/// How [`Connection::drive`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// The caller's condition holds.
    Done,
    /// The time limit passed first.
    TimedOut,
}

/// Runs a blocking job somewhere else than the calling thread (a worker pool).
pub type Offload = fn(Box<dyn FnOnce() + Send>);

/// The queued requests of one connection (part of its state, under its lock).
#[derive(Default)]
pub(super) struct Queued {
    /// The deadline of every queued request waiting for its reply (exactly the
    /// [`Waiter::Task`] entries of `State::waiting`).
    deadlines: BTreeSet<(Instant, RequestId)>,
    /// Wakers to wake once the state lock is released.
    pub(super) to_wake: Vec<Waker>,
    /// A reader thread runs for this connection.
    reader_running: bool,
    /// The reader thread sleeps on `reader_cv` until this (a notification wakes it
    /// sooner).
    reader_sleeps_until: Option<Instant>,
    reader_cv: Arc<Condvar>,
    /// The reader thread is handing out what it read: requests made meanwhile are
    /// gathered in `outbox`, which it writes in one go before it reads again.
    deferring: bool,
    outbox: Vec<u8>,
    /// A caller drove the connection until shortly before this: the reader thread leaves
    /// the reading to it until then, and requests may be gathered.
    driven_until: Option<Instant>,
    /// Callers in [`Connection::drive`] waiting for the reading role (on `driver_cv`).
    drivers_waiting: usize,
    driver_cv: Arc<Condvar>,
}

impl Queued {
    /// True while queued requests wait for replies.
    pub(super) fn any(&self) -> bool {
        !self.deadlines.is_empty()
    }

    /// The reader role is free and queued requests wait: hand it to a waiting driver, else
    /// wake the reader thread.
    pub(super) fn reading_is_free(&self) {
        if self.drivers_waiting > 0 {
            self.driver_cv.notify_one();
        } else if self.reader_sleeps_until.is_some() {
            self.reader_cv.notify_one();
        }
    }

    /// Replies were handed out: the drivers waiting for the role look whether theirs came.
    pub(super) fn replies_handed_out(&self) {
        if self.drivers_waiting > 0 {
            self.driver_cv.notify_all();
        }
    }

    /// Whether a request made now is gathered for the next reader to write.
    fn gathering(&self, reading: bool, now: Instant) -> bool {
        self.deferring || (!reading && self.driven_until.is_some_and(|t| now < t))
    }

    /// The request `id` (of deadline `deadline`) no longer waits; wake its future.
    pub(super) fn done(&mut self, id: RequestId, deadline: Instant, waker: Waker) {
        self.deadlines.remove(&(deadline, id));
        self.to_wake.push(waker);
    }

    /// Every waiter was failed at once (and the connection is gone).
    pub(super) fn clear(&mut self) {
        self.deadlines.clear();
        self.outbox.clear();
    }
}

/// Wakes `wakers` (to be called with no lock held). A waker may run its task right here
/// (on the reader thread): a panic there must not stop the reading for everybody else.
pub(super) fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()));
    }
}

/// What [`Connection::send_queued`] did.
enum Sent<'c> {
    /// The request is on the wire; await its delivery.
    Waiting(Waiting<'c>),
    /// No live connection: one must be opened first.
    NotConnected,
    /// The write failed on a connection reset before anything was processed.
    Retry,
}

/// A queued request waiting for its delivery. Dropping it before then abandons the
/// request id (the late reply is dropped, the connection stays healthy).
struct Waiting<'c> {
    conn: &'c Connection,
    id: RequestId,
    generation: u64,
    finished: bool,
}

impl Future for Waiting<'_> {
    type Output = Delivery;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Delivery> {
        let mut st = self.conn.lock();
        if let Some(d) = st.delivered.remove(&self.id) {
            drop(st);
            self.finished = true;
            return Poll::Ready(d);
        }
        match st.waiting.get_mut(&self.id) {
            Some(Waiter::Task { waker, .. }) => {
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
                Poll::Pending
            }
            _ => {
                drop(st);
                self.finished = true;
                Poll::Ready(Delivery::Failed("the request was lost".to_owned()))
            }
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut st = self.conn.lock();
        if let Some(Waiter::Task { deadline, .. }) = st.waiting.remove(&self.id) {
            st.queued.deadlines.remove(&(deadline, self.id));
            if let Some(live) = st.live.as_mut().filter(|l| l.generation == self.generation) {
                live.proto.abandon(self.id);
            }
        }
        st.delivered.remove(&self.id);
        // the reader thread notices it has nothing left to read for at its next tick
    }
}

impl Connection {
    /// Sends `op` to the object `site.object_key` now (from this thread, when the
    /// connection is up) and returns a future of the result, at most `site.timeout` in
    /// all; no thread waits for the reply: the connection's reader thread wakes the future
    /// when it comes (see the module documentation). A connection that must be opened
    /// first is opened by a job given to `offload`. Dropping the future abandons the
    /// request.
    pub async fn call_queued<O: Operation>(
        self: &Arc<Self>,
        site: CallSite<'_>,
        op: &O,
        offload: Offload,
    ) -> Result<O::Output> {
        let deadline = Instant::now() + site.timeout;
        for _ in 0..2 {
            match self.queued_attempt(&site, op, deadline, offload).await? {
                Attempt::Done(r) => return r,
                Attempt::Retry => continue,
            }
        }
        Err(self.lost(
            op.name(),
            "the server closed two fresh connections in a row",
        ))
    }

    /// Calls waiting for a reply on this connection right now (queued and blocking).
    pub fn in_flight(&self) -> usize {
        self.lock().waiting.len()
    }

    async fn queued_attempt<O: Operation>(
        self: &Arc<Self>,
        site: &CallSite<'_>,
        op: &O,
        deadline: Instant,
        offload: Offload,
    ) -> Result<Attempt<O::Output>> {
        let operation = op.name();
        let timed_out = || Error::Timeout {
            device: site.device.to_owned(),
            operation: operation.to_owned(),
            after: site.timeout,
        };
        let mut fresh = false;
        let waiting = loop {
            let sent =
                poll_fn(|cx| Poll::Ready(self.send_queued(site, op, deadline, fresh, cx.waker())))
                    .await?;
            match sent {
                Sent::Waiting(w) => break w,
                Sent::Retry => return Ok(Attempt::Retry),
                Sent::NotConnected if fresh => {
                    // connected for us, and gone again before we could write
                    return Err(self.lost(operation, "connection closed"));
                }
                Sent::NotConnected => {
                    self.connect_elsewhere(site, operation, deadline, offload)
                        .await?;
                    fresh = true;
                }
            }
        };
        Ok(match waiting.await {
            Delivery::Reply(reply) => Attempt::Done(
                reply
                    .decode::<O>()
                    .map_err(|e| Error::from_call(e, site.device, &self.endpoint, operation)),
            ),
            Delivery::Failed(detail) => return Err(self.lost(operation, detail)),
            Delivery::Retry => Attempt::Retry,
            Delivery::TimedOut => return Err(timed_out()),
        })
    }

    /// Opens the connection on a thread of `offload` and waits for it (without blocking).
    async fn connect_elsewhere(
        self: &Arc<Self>,
        site: &CallSite<'_>,
        operation: &str,
        deadline: Instant,
        offload: Offload,
    ) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let conn = self.clone();
        let (device, op, whole) = (site.device.to_owned(), operation.to_owned(), site.timeout);
        offload(Box::new(move || {
            let _ = tx.send(conn.connect_now(&device, &op, whole, deadline));
        }));
        match rx.await {
            Ok(r) => r,
            Err(oneshot::Canceled) => {
                Err(self.lost(operation, "the job opening the connection did not run"))
            }
        }
    }

    /// Opens the TCP connection if there is none (blocking, under the lock, as the
    /// blocking path does).
    fn connect_now(
        &self,
        device: &str,
        operation: &str,
        whole: Duration,
        deadline: Instant,
    ) -> Result<()> {
        let site = CallSite {
            device,
            object_key: &[],
            timeout: whole,
        };
        let mut st = self.lock();
        if st.live.is_some() {
            return Ok(());
        }
        let addr = self.resolve(&site)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                device: device.to_owned(),
                operation: format!("connect for {operation}"),
                after: whole,
            });
        }
        st.generation += 1;
        let live = Live::connect(&addr, left, st.generation)
            .map_err(|e| self.connect_error(&site, e, operation))?;
        st.live = Some(live);
        Ok(())
    }

    /// Writes the request and registers its waiter (with `waker`), under the lock.
    fn send_queued<'c, O: Operation>(
        self: &'c Arc<Self>,
        site: &CallSite<'_>,
        op: &O,
        deadline: Instant,
        fresh: bool,
        waker: &Waker,
    ) -> Result<Sent<'c>> {
        let operation = op.name();
        let mut st = self.lock();
        let idle = st.waiting.is_empty() && !st.reading;
        if idle
            && !fresh
            && st
                .live
                .as_mut()
                .is_some_and(|l| l.last_used.elapsed() > IDLE_CHECK && !l.peer_still_there())
        {
            tracing::debug!(endpoint = %self.endpoint, "server closed the connection; reconnecting");
            st.live = None;
        }
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(Error::Timeout {
                device: site.device.to_owned(),
                operation: operation.to_owned(),
                after: site.timeout,
            });
        }
        let deferring = st.queued.gathering(st.reading, now)
            && st.queued.outbox.len() < OUTBOX_LIMIT
            && st.live.is_some();
        let Some(live) = st.live.as_mut() else {
            return Ok(Sent::NotConnected);
        };
        let generation = live.generation;
        // the call chain of the device code making this call, if any (self-call detection)
        let chain = crate::call_chain::current_context();
        let (id, bytes) = live.proto.encode_request_with(site.object_key, op, chain);
        let written = if deferring {
            Ok(())
        } else {
            live.send(&bytes, left)
        };
        if deferring {
            // whoever reads next writes it with the others before reading
            st.queued.outbox.extend_from_slice(&bytes);
        } else if let Err(e) = written {
            let alone = st.waiting.is_empty();
            st.fail_all(&e.to_string());
            let wakers = std::mem::take(&mut st.queued.to_wake);
            drop(st);
            wake_all(wakers);
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Err(Error::Timeout {
                    device: site.device.to_owned(),
                    operation: operation.to_owned(),
                    after: site.timeout,
                }),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset if !fresh && alone => {
                    Ok(Sent::Retry)
                }
                _ => Err(self.lost(operation, e.to_string())),
            };
        }
        st.waiting.insert(
            id,
            Waiter::Task {
                waker: waker.clone(),
                deadline,
            },
        );
        st.queued.deadlines.insert((deadline, id));
        LAST_QUEUED.with(|c| *c.borrow_mut() = Some(Arc::downgrade(self)));
        if !st.queued.reader_running {
            let conn = self.clone();
            let started = std::thread::Builder::new()
                .name("tango-reader".to_owned())
                .spawn(move || conn.read_for_queued());
            if let Err(e) = started {
                st.waiting.remove(&id);
                st.queued.deadlines.remove(&(deadline, id));
                if let Some(live) = st.live.as_mut() {
                    live.proto.abandon(id);
                }
                return Err(self.lost(
                    operation,
                    format!("cannot start the connection's reader thread: {e}"),
                ));
            }
            st.queued.reader_running = true;
        } else if st
            .queued
            .reader_sleeps_until
            .is_some_and(|t| t > now + DRIVER_GRACE)
        {
            // it lingers with nothing to do: it has now (a thread that wakes within
            // DRIVER_GRACE needs no notification, which spares a system call per request)
            st.queued.reader_cv.notify_one();
        }
        Ok(Sent::Waiting(Waiting {
            conn: self,
            id,
            generation,
            finished: false,
        }))
    }

    /// The connection the last queued request registered on this thread went to (taken:
    /// a second call returns `None`). The green executor notes it after polling a call,
    /// so that the call's waiter can [`Connection::drive`] that connection.
    pub fn take_last_queued() -> Option<Weak<Connection>> {
        LAST_QUEUED.with(|c| c.borrow_mut().take())
    }

    /// Lets the calling thread read the socket for the queued requests (and everybody
    /// else) until `done()` holds or `limit` passes, waking the futures whose replies come
    /// on this thread; while another thread reads, waits for the reading to be handed over
    /// (or for `done()`). For a caller that would otherwise sleep until a queued request
    /// of this connection completes: it spares the hand-off from the reader thread (see
    /// the module documentation). `done` is called with no lock held.
    pub fn drive(&self, done: &mut dyn FnMut() -> bool, limit: Option<Instant>) -> Drive {
        loop {
            if done() {
                self.leave_driving();
                return Drive::Done;
            }
            let mut st = self.lock();
            let now = Instant::now();
            self.expire_queued(&mut st, now);
            if !st.queued.to_wake.is_empty() {
                let wakers = st.take_wakers();
                drop(st);
                wake_all(wakers);
                continue;
            }
            if !st.queued.outbox.is_empty() {
                self.flush_outbox(&mut st, now);
                continue;
            }
            if limit.is_some_and(|l| now >= l) {
                drop(st);
                self.leave_driving();
                return Drive::TimedOut;
            }
            let mut left = READER_TICK;
            if let Some(l) = limit {
                left = left.min(l - now);
            }
            if let Some(&(earliest, _)) = st.queued.deadlines.first() {
                left = left.min(earliest.saturating_duration_since(now));
            }
            let reading = st.reading;
            let reader = match st.live.as_mut() {
                Some(live) if !reading => live.reader.take().map(|r| (r, live.generation)),
                _ => None,
            };
            let Some((mut reader, generation)) = reader else {
                // another thread reads (or no connection yet): wait to be handed the role,
                // or for that thread to hand out our reply
                st.queued.drivers_waiting += 1;
                let cv = st.queued.driver_cv.clone();
                let mut st = cv
                    .wait_timeout(st, left.min(DRIVER_GRACE))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                st.queued.drivers_waiting -= 1;
                continue;
            };
            st.reading = true;
            drop(st);
            let read = reader.read(left);
            let mut st = self.lock();
            st.reading = false;
            st.queued.driven_until = Some(Instant::now() + DRIVER_GRACE);
            self.absorb(&mut st, generation, reader, read);
            let wakers = st.take_wakers();
            let others = (st.queued.drivers_waiting > 0).then(|| st.queued.driver_cv.clone());
            drop(st);
            wake_all(wakers);
            if let Some(cv) = others {
                // other waiting drivers look whether their replies came
                cv.notify_all();
            }
        }
    }

    /// A driver leaves: blocking callers or another driver may read now (the reader
    /// thread waits out [`DRIVER_GRACE`] first, expecting the driver back).
    fn leave_driving(&self) {
        let st = self.lock();
        if st.reading {
            return;
        }
        if st.queued.drivers_waiting > 0 {
            st.queued.driver_cv.notify_one();
        } else if !st.queued.any() {
            st.pass_reading_on();
        }
    }

    /// The reader thread of the queued requests (see the module documentation).
    fn read_for_queued(self: Arc<Self>) {
        let mut st = self.lock();
        let mut idle_since: Option<Instant> = None;
        loop {
            let now = Instant::now();
            self.expire_queued(&mut st, now);
            if !st.queued.to_wake.is_empty() {
                let wakers = st.take_wakers();
                drop(st);
                wake_all(wakers);
                st = self.lock();
                continue;
            }
            if st.queued.drivers_waiting > 0 && !st.reading {
                // callers wait to read (and look whether their replies came): the reading
                // is theirs (see drive)
                st.queued.driver_cv.notify_all();
                st.queued.driven_until = Some(now + DRIVER_GRACE);
            }
            if !st.queued.outbox.is_empty() {
                self.flush_outbox(&mut st, now);
                continue;
            }
            // from now on requests are written by their callers (or the next driver)
            st.queued.deferring = false;
            let Some(&(earliest, _)) = st.queued.deadlines.first() else {
                // nothing queued: blocking callers may read again; linger, then stop
                st.pass_reading_on();
                let since = *idle_since.get_or_insert(now);
                let left = READER_LINGER.saturating_sub(now - since);
                if left.is_zero() {
                    st.queued.reader_running = false;
                    return;
                }
                // while a caller drives (requests come and go), watch in short steps: its
                // requests then need no notification of this thread
                let driven = st
                    .queued
                    .driven_until
                    .is_some_and(|t| now < t + DRIVER_GRACE);
                let step = if driven { left.min(DRIVER_GRACE) } else { left };
                st = self.reader_sleep(st, step);
                continue;
            };
            idle_since = None;
            let left = earliest.saturating_duration_since(now);
            if st.reading {
                // another thread reads for everybody meanwhile
                st = self.reader_sleep(st, left.min(DRIVER_GRACE));
                continue;
            }
            if let Some(until) = st.queued.driven_until.filter(|&t| now < t) {
                // a caller drove a moment ago: leave the reading to it
                st = self.reader_sleep(st, left.min(until - now));
                continue;
            }
            let Some(live) = st.live.as_mut() else {
                st.fail_all("connection closed");
                continue;
            };
            let generation = live.generation;
            let Some(mut reader) = live.reader.take() else {
                st.fail_all("connection closed");
                continue;
            };
            st.reading = true;
            drop(st);
            let read = reader.read(left.min(READER_TICK));
            st = self.lock();
            st.reading = false;
            st.queued.deferring = true;
            self.absorb(&mut st, generation, reader, read);
        }
    }

    /// Writes the gathered requests in one write (with the time left to the earliest
    /// deadline, in steps of 100 ms so that the socket's timeout is seldom changed). A
    /// failed write fails every waiting call.
    fn flush_outbox(&self, st: &mut State, now: Instant) {
        let out = std::mem::take(&mut st.queued.outbox);
        let left = st
            .queued
            .deadlines
            .first()
            .map_or(READER_LINGER, |&(d, _)| d.saturating_duration_since(now));
        let left = Duration::from_millis((left.as_millis() as u64 / 100 + 1) * 100);
        let Some(live) = st.live.as_mut() else {
            return; // gone: its waiters were failed
        };
        if let Err(e) = live.send(&out, left) {
            st.fail_all(&format!("write failed: {e}"));
        }
    }

    fn reader_sleep<'s>(
        &'s self,
        mut st: MutexGuard<'s, State>,
        d: Duration,
    ) -> MutexGuard<'s, State> {
        let cv = st.queued.reader_cv.clone();
        st.queued.reader_sleeps_until = Some(Instant::now() + d);
        let mut st = cv.wait_timeout(st, d).unwrap_or_else(|p| p.into_inner()).0;
        st.queued.reader_sleeps_until = None;
        st
    }

    /// Queued requests past their deadline: abandoned, their futures woken to time out.
    fn expire_queued(&self, st: &mut State, now: Instant) {
        while let Some(&(deadline, id)) = st.queued.deadlines.first() {
            if deadline > now {
                return;
            }
            st.queued.deadlines.pop_first();
            if let Some(Waiter::Task { waker, .. }) = st.waiting.remove(&id) {
                if let Some(live) = st.live.as_mut() {
                    live.proto.abandon(id);
                }
                st.delivered.insert(id, Delivery::TimedOut);
                st.queued.to_wake.push(waker);
            }
        }
    }
}
