//! The Asyncio device server on async-std (tango-smol's async-io server, async-std's
//! spawn), served in-process and driven by tango-async-std's client: no monitor lock,
//! background tasks that outlive their command, the opt-in async lock, self calls, panics,
//! a mix of green modes refused, Kill. The checks are shared with rt-tokio's and rt-smol's
//! `async_server` tests; this file holds the async-std wiring.

use async_std::task::block_on;

/// async-std's wiring of the shared checks.
mod rt {
    use std::future::Future;
    use std::time::Duration;

    pub use futures::join;
    pub use tango_async_std::server::{AsyncDeviceServer, RunningServer, ServerOptions};
    pub use tango_async_std::{connect, DeviceProxy, Error};

    /// Starts `fut` as a task; dropping the returned handle detaches it.
    pub fn spawn<T: Send + 'static>(
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> {
        async_std::task::spawn(fut)
    }

    pub async fn sleep(d: Duration) {
        async_std::task::sleep(d).await;
    }

    pub async fn yield_now() {
        async_std::task::yield_now().await;
    }

    pub async fn timeout<T>(d: Duration, fut: impl Future<Output = T>) -> Option<T> {
        async_std::future::timeout(d, fut).await.ok()
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
