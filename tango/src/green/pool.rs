//! The worker pool of the Futures mode (and of `submit()` / `.await` in Synchronous mode):
//! [`FUTURES_WORKERS`] std threads, started on first use, shared by the whole process.
//!
//! With the blocking transport a worker is busy for the whole round trip of its call, so
//! at most [`FUTURES_WORKERS`] calls are in flight at once; more wait in the queue (their
//! deadline keeps running while they wait).

use std::cell::Cell;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

/// The number of worker threads, as PyTango's futures executor.
pub const FUTURES_WORKERS: usize = 20;

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// True on a worker of the pool: a call waited for there runs inline, so that nested
/// waits cannot exhaust the pool and deadlock.
pub(crate) fn on_worker() -> bool {
    ON_WORKER.get()
}

/// Queues `job` for a worker.
pub(crate) fn spawn(job: impl FnOnce() + Send + 'static) {
    static POOL: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    let sender = POOL.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..FUTURES_WORKERS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("tango-futures-{i}"))
                .spawn(move || worker(&rx))
                .expect("cannot start a worker thread of the tango futures pool");
        }
        Mutex::new(tx)
    });
    let sender = sender.lock().unwrap_or_else(|p| p.into_inner());
    // The receivers live as long as the process: sending cannot fail.
    let _ = sender.send(Box::new(job));
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    ON_WORKER.set(true);
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panicking job is reported to its waiter (see call.rs); the worker survives.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}
