//! The Asyncio device server on tokio, served in-process and driven by tango-tokio's
//! client (and by PyTango's client with `TANGO_INTEROP=1`): no monitor lock, background
//! tasks that outlive their command, the opt-in async lock, self calls, panics, a mix of
//! green modes refused, Kill. The checks are shared with rt-smol's and rt-async-std's
//! `async_server` tests (`async_server_checks`); this file holds the tokio wiring.

/// tokio's wiring of the shared checks.
mod rt {
    use std::future::Future;
    use std::time::Duration;

    pub use tango_tokio::server::{AsyncDeviceServer, RunningServer, ServerOptions};
    pub use tango_tokio::{connect, DeviceProxy, Error};
    pub use tokio::join;

    /// Starts `fut` as a task; dropping the returned future detaches it.
    pub fn spawn<T: Send + 'static>(
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> {
        let task = tokio::spawn(fut);
        async move { task.await.expect("the task finishes") }
    }

    pub async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }

    pub async fn yield_now() {
        tokio::task::yield_now().await;
    }

    pub async fn timeout<T>(d: Duration, fut: impl Future<Output = T>) -> Option<T> {
        tokio::time::timeout(d, fut).await.ok()
    }
}

#[path = "async_server_checks/mod.rs"]
mod checks;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_monitor_lock_reads_run_during_a_long_command() {
    checks::no_monitor_lock_reads_run_during_a_long_command().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_background_task_outlives_its_command() {
    checks::a_background_task_outlives_its_command().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_serialized_class_makes_the_read_wait() {
    checks::a_serialized_class_makes_the_read_wait().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_calls_and_panics() {
    checks::self_calls_and_panics().await
}

#[tokio::test]
async fn a_synchronous_class_is_refused() {
    checks::a_synchronous_class_is_refused().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_stops_the_server() {
    checks::kill_stops_the_server().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pytango_client_against_the_async_server() {
    if !tango_testkit::require_interop() {
        return;
    }
    let python = std::env::var_os("TANGO_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tango_testkit::workspace_root().join(".venv/bin/python"));
    let server = checks::serve(checks::asyncio_class(200, 100, false)).await;
    let name = server.device_name(checks::DEVICE);
    let script = "import sys, tango\n\
                  d = tango.DeviceProxy(sys.argv[1])\n\
                  print(d.read_attribute('value').value)\n\
                  d.command_inout('long_running_command')\n\
                  print(d.state())\n";
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&name)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, ["7", "CLOSE"], "{stdout}");
    server.shutdown().await;
}
