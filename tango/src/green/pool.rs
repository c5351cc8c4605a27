//! The blocking helpers of the Synchronous and Futures modes, shared by the whole process:
//!
//! * the worker pool: at most [`FUTURES_WORKERS`] std threads, started one at a time when
//!   a job finds no idle worker, for the work that genuinely blocks. Calls run queued on
//!   the connections (see [`super::blocking`]) and never park a worker; what runs here is
//!   opening a TCP connection (name resolution and `connect`), after which the call goes
//!   on queued;
//! * a timer thread, started on first use, for the pauses of queued calls
//!   (`wait_until_ready` between pings).

use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The most worker threads the pool starts (as many as PyTango's futures executor). They
/// only open connections: requests in flight take no thread.
pub const FUTURES_WORKERS: usize = 20;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

/// Queues `job` for a worker (starting one if none is idle and fewer than
/// [`FUTURES_WORKERS`] run). If no thread can be started at all, the job is dropped:
/// whoever waits for it sees it dropped (a closed channel, an `API_WorkerFailed`).
pub(crate) fn spawn(job: impl FnOnce() + Send + 'static) {
    let pool = pool();
    let mut st = pool.lock();
    st.queue.push_back(Box::new(job));
    if st.idle > 0 {
        drop(st);
        pool.work.notify_one();
        return;
    }
    if st.threads < FUTURES_WORKERS {
        let name = format!("tango-futures-{}", st.threads);
        match std::thread::Builder::new().name(name).spawn(worker) {
            Ok(_) => st.threads += 1,
            Err(e) if st.threads == 0 => {
                tracing::error!("cannot start a worker thread of the tango futures pool: {e}");
                st.queue.clear();
            }
            Err(e) => tracing::warn!("cannot start one more tango futures worker: {e}"),
        }
    }
}

fn worker() {
    let pool = pool();
    let mut st = pool.lock();
    loop {
        let Some(job) = st.queue.pop_front() else {
            st.idle += 1;
            st = pool.work.wait(st).unwrap_or_else(|p| p.into_inner());
            st.idle -= 1;
            continue;
        };
        drop(st);
        // A panicking job is reported to its waiter (a dropped channel); the worker survives.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        st = pool.lock();
    }
}

/// One pending [`sleep`].
struct TimerEntry {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// A timer heap entry, earliest first.
struct Due(Instant, u64, Arc<TimerEntry>);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // reversed: BinaryHeap is a max-heap
        (other.0, other.1).cmp(&(self.0, self.1))
    }
}

#[derive(Default)]
struct Timers {
    heap: Mutex<(BinaryHeap<Due>, u64)>,
    changed: Condvar,
}

fn timer_thread(timers: &'static Timers) {
    let mut st = timers.heap.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        let mut fired = Vec::new();
        while st.0.peek().is_some_and(|d| d.0 <= now) {
            if let Some(Due(_, _, entry)) = st.0.pop() {
                fired.push(entry);
            }
        }
        if !fired.is_empty() {
            drop(st);
            for entry in fired {
                entry.fired.store(true, Ordering::Release);
                let waker = entry.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(w) = waker {
                    // the waker may run its task here: a panic must not stop the timer
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()));
                }
            }
            st = timers.heap.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        st = match st.0.peek().map(|d| d.0) {
            None => timers.changed.wait(st).unwrap_or_else(|p| p.into_inner()),
            Some(at) => {
                let left = at.saturating_duration_since(now);
                timers
                    .changed
                    .wait_timeout(st, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
        };
    }
}

/// Completes `d` from now, without blocking the thread that polls it (a timer thread
/// wakes it). If the timer thread cannot start, it completes at once.
pub(crate) fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
    static TIMERS: OnceLock<Option<&'static Timers>> = OnceLock::new();
    let timers = *TIMERS.get_or_init(|| {
        let timers: &'static Timers = Box::leak(Box::default());
        std::thread::Builder::new()
            .name("tango-timer".to_owned())
            .spawn(move || timer_thread(timers))
            .ok()
            .map(|_| timers)
    });
    let entry = Arc::new(TimerEntry {
        fired: AtomicBool::new(timers.is_none()),
        waker: Mutex::new(None),
    });
    Sleep {
        timers,
        at: Instant::now() + d,
        entry,
        armed: false,
    }
}

struct Sleep {
    timers: Option<&'static Timers>,
    at: Instant,
    entry: Arc<TimerEntry>,
    armed: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.entry.fired.load(Ordering::Acquire) || Instant::now() >= self.at {
            return Poll::Ready(());
        }
        *self.entry.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        if !self.armed {
            self.armed = true;
            if let Some(timers) = self.timers {
                let mut st = timers.heap.lock().unwrap_or_else(|p| p.into_inner());
                st.1 += 1;
                let seq = st.1;
                let earliest = st.0.peek().is_none_or(|d| self.at < d.0);
                st.0.push(Due(self.at, seq, self.entry.clone()));
                drop(st);
                if earliest {
                    timers.changed.notify_one();
                }
            }
        }
        // fired between the check and the registration
        if self.entry.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
