//! The checks of the Asyncio device server, shared by the async runtime crates (tokio, smol,
//! async-std: each serves PyTango's `AsyncioDevice` in-process and drives it with its own
//! client). Each crate's `tests/async_server.rs` includes this file by path as `mod checks`,
//! declares a `mod rt` with its runtime's wiring, and calls one check per test:
//!
//! - `rt::{AsyncDeviceServer, RunningServer, ServerOptions, DeviceProxy, Error, connect}`:
//!   the crate's server and client;
//! - `rt::spawn(fut)`: starts `fut` as a task now and returns a future of its output (a task
//!   whose handle is dropped runs on);
//! - `rt::sleep(d)`, `rt::yield_now()`, `rt::timeout(d, fut) -> Option<T>`;
//! - `rt::join!`: the runtime's macro that awaits several futures at once on one task.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::rt::{self, AsyncDeviceServer, DeviceProxy, RunningServer, ServerOptions};
use tango_core::any::CommandData;
use tango_core::device::{AsyncAttr, AsyncClassBuilder, AsyncCmd, Attr, ClassBuilder, DeviceClass};
use tango_core::idl::{DevFailed, DevState};

/// The device served, under the server's own `tango://` prefix.
pub const DEVICE: &str = "test/asyncio/1";

struct AsyncioDevice {
    value: AtomicI32,
    long_ms: u64,
    background_ms: u64,
}

/// PyTango's `AsyncioDevice` example, with configurable durations.
pub fn asyncio_class(long_ms: u64, background_ms: u64, serialized: bool) -> DeviceClass {
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
            rt::sleep(Duration::from_millis(200)).await;
            Ok(42)
        }),
    )
    .command(AsyncCmd::new(
        "long_running_command",
        |d: Arc<AsyncioDevice>, ctx, (): ()| async move {
            ctx.set_state(DevState::Open);
            rt::sleep(Duration::from_millis(d.long_ms)).await;
            ctx.set_state(DevState::Close);
            Ok::<(), DevFailed>(())
        },
    ))
    .command(AsyncCmd::new(
        "background_task_command",
        |d: Arc<AsyncioDevice>, ctx, (): ()| async move {
            let _runs_on = rt::spawn(async move {
                ctx.set_state(DevState::Insert);
                rt::sleep(Duration::from_millis(d.background_ms)).await;
                ctx.set_state(DevState::Extract);
            });
            Ok::<(), DevFailed>(())
        },
    ))
    .command(AsyncCmd::new(
        "call_self",
        |_d: Arc<AsyncioDevice>, ctx, name: String| async move {
            let failed =
                |e: rt::Error| DevFailed::new("AsyncioDevice_SelfCall", e.to_string(), ctx.name());
            let me = rt::connect(&name).await.map_err(failed)?;
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
            rt::yield_now().await;
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

/// Starts a server of `class` on a free port of 127.0.0.1.
pub async fn serve(class: DeviceClass) -> RunningServer {
    let opts = ServerOptions::new("test", &[DEVICE]).endpoint("127.0.0.1", 0);
    AsyncDeviceServer::new("AsyncioServer")
        .class(class)
        .start(&opts)
        .await
        .expect("server starts")
}

/// A client of [`DEVICE`] on `server`.
pub async fn proxy(server: &RunningServer) -> DeviceProxy {
    rt::connect(&server.device_name(DEVICE))
        .await
        .expect("connects")
}

/// Without the monitor lock, reads run while a long command sleeps, and three slow reads of
/// one device overlap.
pub async fn no_monitor_lock_reads_run_during_a_long_command() {
    let server = serve(asyncio_class(400, 100, false)).await;
    let dev = proxy(&server).await;
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    let long = {
        let dev = proxy(&server).await;
        rt::spawn(async move { dev.command_inout("long_running_command", ()).await })
    };
    rt::sleep(Duration::from_millis(80)).await;
    let t = Instant::now();
    let v: i32 = dev.read_attribute("value").await.unwrap().get().unwrap();
    assert_eq!(v, 7);
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(dev.state().await.unwrap(), DevState::Open);
    assert_eq!(long.await.unwrap(), CommandData::Void);
    assert_eq!(dev.state().await.unwrap(), DevState::Close);

    // three slow reads of one device overlap
    let t = Instant::now();
    let (a, b, c) = rt::join!(
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
        rt::sleep(Duration::from_millis(5)).await;
    }
}

/// A task the command spawns goes on after the command has replied.
pub async fn a_background_task_outlives_its_command() {
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

/// With the opt-in async lock, a read waits for the long command.
pub async fn a_serialized_class_makes_the_read_wait() {
    let server = serve(asyncio_class(400, 100, true)).await;
    let dev = proxy(&server).await;
    let long = {
        let dev = proxy(&server).await;
        rt::spawn(async move { dev.command_inout("long_running_command", ()).await })
    };
    rt::sleep(Duration::from_millis(80)).await;
    let t = Instant::now();
    let v: i32 = dev.read_attribute("value").await.unwrap().get().unwrap();
    assert_eq!(v, 7);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    long.await.unwrap();
    // the device's state was CLOSE by the time the read ran
    assert_eq!(dev.state().await.unwrap(), DevState::Close);
    server.shutdown().await;
}

/// A command calls its own device through a client; a panicking command fails with
/// `API_DeviceCodePanicked` and the server goes on; Init re-creates the data.
pub async fn self_calls_and_panics() {
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

/// An Asyncio server refuses a Synchronous class.
pub async fn a_synchronous_class_is_refused() {
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

/// The admin device's Kill stops the server and closes its port.
pub async fn kill_stops_the_server() {
    let server = serve(asyncio_class(10, 10, false)).await;
    let admin = rt::connect(&server.admin_device_name()).await.unwrap();
    let dev = proxy(&server).await;
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    let port = server.port();
    admin.command_inout("Kill", ()).await.unwrap();
    let stopped = rt::timeout(Duration::from_secs(5), server.wait()).await;
    assert!(stopped.is_some(), "Kill stops the server");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
