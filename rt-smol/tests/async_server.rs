//! The Asyncio device server on smol (tango-smol's async-io server, smol's spawn), served
//! in-process and driven by tango-smol's client: no monitor lock, background tasks that
//! outlive their command, the opt-in async lock, self calls, panics, a mix of green modes
//! refused, Kill. The checks are shared with rt-tokio's and rt-async-std's `async_server`
//! tests; this file holds the smol wiring.

/// smol's global executor runs on one thread (unless `SMOL_THREADS` says otherwise) and is
/// shared by the tests of this file: one at a time, or the panic test's backtrace (printed on
/// that thread) delays the timing assertions of the others.
fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    smol::block_on(fut)
}

/// smol's wiring of the shared checks.
mod rt {
    use std::future::Future;
    use std::time::Duration;

    pub use futures::join;
    pub use tango_smol::server::{AsyncDeviceServer, RunningServer, ServerOptions};
    pub use tango_smol::{connect, DeviceProxy, Error};

    /// Starts `fut` as a detached task (a dropped smol `Task` would cancel it) and returns
    /// a future of its output.
    pub fn spawn<T: Send + 'static>(
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> {
        let (done_tx, done_rx) = smol::channel::bounded(1);
        smol::spawn(async move {
            let _ = done_tx.send(fut.await).await;
        })
        .detach();
        async move { done_rx.recv().await.expect("the task finishes") }
    }

    pub async fn sleep(d: Duration) {
        smol::Timer::after(d).await;
    }

    pub async fn yield_now() {
        smol::future::yield_now().await;
    }

    pub async fn timeout<T>(d: Duration, fut: impl Future<Output = T>) -> Option<T> {
        smol::future::or(async { Some(fut.await) }, async {
            sleep(d).await;
            None
        })
        .await
    }
}

#[path = "../../rt-tokio/tests/async_server_checks/mod.rs"]
mod checks;

#[test]
fn no_monitor_lock_reads_run_during_a_long_command() {
    block_on(checks::no_monitor_lock_reads_run_during_a_long_command())
}

#[test]
fn a_background_task_outlives_its_command() {
    block_on(checks::a_background_task_outlives_its_command())
}

#[test]
fn a_serialized_class_makes_the_read_wait() {
    block_on(checks::a_serialized_class_makes_the_read_wait())
}

#[test]
fn self_calls_and_panics() {
    block_on(checks::self_calls_and_panics())
}

#[test]
fn a_synchronous_class_is_refused() {
    block_on(checks::a_synchronous_class_is_refused())
}

#[test]
fn kill_stops_the_server() {
    block_on(checks::kill_stops_the_server())
}
