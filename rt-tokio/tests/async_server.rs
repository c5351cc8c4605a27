//! The Asyncio device server on tokio, served in-process and driven by tango-tokio's
//! client (and by PyTango's client with `TANGO_INTEROP=1`): no monitor lock, background
//! tasks that outlive their command, the opt-in async lock, self calls, panics, a mix of
//! green modes refused, Kill.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tango_core::device::{AsyncAttr, AsyncClassBuilder, AsyncCmd, Attr, ClassBuilder, DeviceClass};
use tango_tokio::server::{AsyncDeviceServer, RunningServer, ServerOptions};
use tango_tokio::{CommandData, DevFailed, DevState, DeviceProxy};

const DEVICE: &str = "test/asyncio/1";

struct AsyncioDevice {
    value: AtomicI32,
    long_ms: u64,
    background_ms: u64,
}

/// PyTango's `AsyncioDevice` example, with configurable durations.
fn asyncio_class(long_ms: u64, background_ms: u64, serialized: bool) -> DeviceClass {
    let b = AsyncClassBuilder::new("AsyncioDevice", move |_| AsyncioDevice {
        value: AtomicI32::new(7),
        long_ms,
        background_ms,
    })
    .init(|_d, ctx| async move {
        ctx.set_state(DevState::On);
        Ok(())
    })
    .attr(
        AsyncAttr::new::<i32>("value")
            .read_write()
            .read(|d: Arc<AsyncioDevice>, _| async move { Ok(d.value.load(Ordering::SeqCst)) })
            .write(|d: Arc<AsyncioDevice>, _, v: i32| async move {
                d.value.store(v, Ordering::SeqCst);
                Ok(())
            }),
    )
    .attr(
        AsyncAttr::new::<i32>("test_attribute").read(|_d: Arc<AsyncioDevice>, _| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(42)
        }),
    )
    .command(AsyncCmd::new(
        "long_running_command",
        |d: Arc<AsyncioDevice>, ctx, (): ()| async move {
            ctx.set_state(DevState::Open);
            tokio::time::sleep(Duration::from_millis(d.long_ms)).await;
            ctx.set_state(DevState::Close);
            Ok::<(), DevFailed>(())
        },
    ))
    .command(AsyncCmd::new(
        "background_task_command",
        |d: Arc<AsyncioDevice>, ctx, (): ()| async move {
            tokio::spawn(async move {
                ctx.set_state(DevState::Insert);
                tokio::time::sleep(Duration::from_millis(d.background_ms)).await;
                ctx.set_state(DevState::Extract);
            });
            Ok::<(), DevFailed>(())
        },
    ))
    .command(AsyncCmd::new(
        "call_self",
        |_d: Arc<AsyncioDevice>, ctx, name: String| async move {
            let failed = |e: tango_tokio::Error| {
                DevFailed::new("AsyncioDevice_SelfCall", e.to_string(), ctx.name())
            };
            let me = tango_tokio::connect(&name).await.map_err(failed)?;
            let v: i32 = me
                .read_attribute("value")
                .await
                .map_err(failed)?
                .get()
                .map_err(failed)?;
            Ok::<i32, DevFailed>(v)
        },
    ))
    .command(AsyncCmd::new(
        "panic_command",
        |_d: Arc<AsyncioDevice>, _, (): ()| async move {
            tokio::task::yield_now().await;
            if true {
                panic!("device code went wrong");
            }
            Ok::<(), DevFailed>(())
        },
    ));
    if serialized {
        b.serialized().build()
    } else {
        b.build()
    }
}

async fn serve(class: DeviceClass) -> RunningServer {
    let opts = ServerOptions::new("test", &[DEVICE]).endpoint("127.0.0.1", 0);
    AsyncDeviceServer::new("AsyncioServer")
        .class(class)
        .start(&opts)
        .await
        .expect("server starts")
}

async fn proxy(server: &RunningServer) -> DeviceProxy {
    tango_tokio::connect(&server.device_name(DEVICE))
        .await
        .expect("connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_monitor_lock_reads_run_during_a_long_command() {
    let server = serve(asyncio_class(400, 100, false)).await;
    let dev = proxy(&server).await;
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    let long = {
        let dev = proxy(&server).await;
        tokio::spawn(async move { dev.command_inout("long_running_command", ()).await })
    };
    tokio::time::sleep(Duration::from_millis(80)).await;
    let t = Instant::now();
    let v: i32 = dev.read_attribute("value").await.unwrap().get().unwrap();
    assert_eq!(v, 7);
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(dev.state().await.unwrap(), DevState::Open);
    assert_eq!(long.await.unwrap().unwrap(), CommandData::Void);
    assert_eq!(dev.state().await.unwrap(), DevState::Close);

    // three slow reads of one device overlap
    let t = Instant::now();
    let (a, b, c) = tokio::join!(
        dev.read_attribute("test_attribute"),
        dev.read_attribute("test_attribute"),
        dev.read_attribute("test_attribute"),
    );
    for r in [a, b, c] {
        assert_eq!(r.unwrap().get::<i32>().unwrap(), 42);
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    server.shutdown().await;
}

async fn wait_for_state(dev: &DeviceProxy, want: DevState, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let s = dev.state().await.unwrap();
        if s == want {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "state {s}, waited for {want}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_background_task_outlives_its_command() {
    let server = serve(asyncio_class(100, 300, false)).await;
    let dev = proxy(&server).await;
    let t = Instant::now();
    dev.command_inout("background_task_command", ())
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    let inserted = wait_for_state(&dev, DevState::Insert, Duration::from_secs(1)).await;
    let extracted = wait_for_state(&dev, DevState::Extract, Duration::from_secs(2)).await;
    assert!(extracted - inserted >= Duration::from_millis(150));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_serialized_class_makes_the_read_wait() {
    let server = serve(asyncio_class(400, 100, true)).await;
    let dev = proxy(&server).await;
    let long = {
        let dev = proxy(&server).await;
        tokio::spawn(async move { dev.command_inout("long_running_command", ()).await })
    };
    tokio::time::sleep(Duration::from_millis(80)).await;
    let t = Instant::now();
    let v: i32 = dev.read_attribute("value").await.unwrap().get().unwrap();
    assert_eq!(v, 7);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    long.await.unwrap().unwrap();
    // the device's state was CLOSE by the time the read ran
    assert_eq!(dev.state().await.unwrap(), DevState::Close);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_calls_and_panics() {
    let server = serve(asyncio_class(100, 100, false)).await;
    let dev = proxy(&server).await;
    dev.write_attribute("value", 99i32).await.unwrap();
    let got = dev
        .command_inout("call_self", server.device_name(DEVICE))
        .await
        .unwrap();
    assert_eq!(got, CommandData::Long(99));

    let err = dev.command_inout("panic_command", ()).await.unwrap_err();
    assert!(err.has_reason("API_DeviceCodePanicked"), "{err}");
    assert!(err.to_string().contains("device code went wrong"), "{err}");
    // the server goes on
    let v: i32 = dev.read_attribute("value").await.unwrap().get().unwrap();
    assert_eq!(v, 99);
    // Init re-creates the data
    dev.command_inout("Init", ()).await.unwrap();
    let v: i32 = dev.read_attribute("value").await.unwrap().get().unwrap();
    assert_eq!(v, 7);
    server.shutdown().await;
}

#[tokio::test]
async fn a_synchronous_class_is_refused() {
    let sync = ClassBuilder::new("SyncThing", |_| 0i32)
        .attr(Attr::new::<i32>("x").read(|v: &mut i32, _| Ok(*v)))
        .build();
    let opts = ServerOptions::new("test", &[DEVICE]).endpoint("127.0.0.1", 0);
    let err = AsyncDeviceServer::new("Mixed")
        .class(asyncio_class(10, 10, false))
        .class(sync)
        .start(&opts)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "device class SyncThing is Synchronous; this server runs Asyncio classes only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_stops_the_server() {
    let server = serve(asyncio_class(10, 10, false)).await;
    let admin = tango_tokio::connect(&server.admin_device_name())
        .await
        .unwrap();
    let dev = proxy(&server).await;
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    let port = server.port();
    admin.command_inout("Kill", ()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), server.wait())
        .await
        .expect("Kill stops the server");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pytango_client_against_the_async_server() {
    if !tango_testkit::require_interop() {
        return;
    }
    let python = std::env::var_os("TANGO_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tango_testkit::workspace_root().join(".venv/bin/python"));
    let server = serve(asyncio_class(200, 100, false)).await;
    let name = server.device_name(DEVICE);
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
