//! The Asyncio device server on smol (tango-smol's async-io server, smol's spawn), served
//! in-process and driven by tango-smol's client: no monitor lock, background tasks that
//! outlive their command, the opt-in async lock, self calls, panics, a mix of green modes
//! refused, Kill. The same cases as rt-tokio's and rt-async-std's `async_server` tests.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tango_core::device::{AsyncAttr, AsyncClassBuilder, AsyncCmd, Attr, ClassBuilder, DeviceClass};
use tango_smol::server::{AsyncDeviceServer, RunningServer, ServerOptions};
use tango_smol::{connect, CommandData, DevFailed, DevState, DeviceProxy, Error};

/// smol's global executor runs on one thread (unless `SMOL_THREADS` says otherwise) and is
/// shared by the tests of this file: one at a time, or the panic test's backtrace (printed on
/// that thread) delays the timing assertions of the others.
fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    smol::block_on(fut)
}

fn spawn(fut: impl std::future::Future<Output = ()> + Send + 'static) {
    smol::spawn(fut).detach();
}

const DEVICE: &str = "test/asyncio/1";

async fn sleep(d: Duration) {
    smol::Timer::after(d).await;
}

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
            sleep(Duration::from_millis(200)).await;
            Ok(42)
        }),
    )
    .command(AsyncCmd::new(
        "long_running_command",
        |d: Arc<AsyncioDevice>, ctx, (): ()| async move {
            ctx.set_state(DevState::Open);
            sleep(Duration::from_millis(d.long_ms)).await;
            ctx.set_state(DevState::Close);
            Ok::<(), DevFailed>(())
        },
    ))
    .command(AsyncCmd::new(
        "background_task_command",
        |d: Arc<AsyncioDevice>, ctx, (): ()| async move {
            spawn(async move {
                ctx.set_state(DevState::Insert);
                sleep(Duration::from_millis(d.background_ms)).await;
                ctx.set_state(DevState::Extract);
            });
            Ok::<(), DevFailed>(())
        },
    ))
    .command(AsyncCmd::new(
        "call_self",
        |_d: Arc<AsyncioDevice>, ctx, name: String| async move {
            let failed =
                |e: Error| DevFailed::new("AsyncioDevice_SelfCall", e.to_string(), ctx.name());
            let me = connect(&name).await.map_err(failed)?;
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
            smol::future::yield_now().await;
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
    connect(&server.device_name(DEVICE))
        .await
        .expect("connects")
}

#[test]
fn no_monitor_lock_reads_run_during_a_long_command() {
    block_on(async {
        let server = serve(asyncio_class(400, 100, false)).await;
        let dev = proxy(&server).await;
        assert_eq!(dev.state().await.unwrap(), DevState::On);
        let (done_tx, done_rx) = smol::channel::bounded(1);
        {
            let dev = proxy(&server).await;
            spawn(async move {
                let _ = done_tx
                    .send(dev.command_inout("long_running_command", ()).await)
                    .await;
            });
        }
        sleep(Duration::from_millis(80)).await;
        let t = Instant::now();
        let v: i32 = dev.read_attribute("value").await.unwrap().get().unwrap();
        assert_eq!(v, 7);
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(dev.state().await.unwrap(), DevState::Open);
        assert_eq!(done_rx.recv().await.unwrap().unwrap(), CommandData::Void);
        assert_eq!(dev.state().await.unwrap(), DevState::Close);

        // three slow reads of one device overlap
        let t = Instant::now();
        let (a, b, c) = futures::join!(
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
    })
}

async fn wait_for_state(dev: &DeviceProxy, want: DevState, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let s = dev.state().await.unwrap();
        if s == want {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "state {s}, waited for {want}");
        sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn a_background_task_outlives_its_command() {
    block_on(async {
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
    })
}

#[test]
fn a_serialized_class_makes_the_read_wait() {
    block_on(async {
        let server = serve(asyncio_class(400, 100, true)).await;
        let dev = proxy(&server).await;
        let (done_tx, done_rx) = smol::channel::bounded(1);
        {
            let dev = proxy(&server).await;
            spawn(async move {
                let _ = done_tx
                    .send(dev.command_inout("long_running_command", ()).await)
                    .await;
            });
        }
        sleep(Duration::from_millis(80)).await;
        let t = Instant::now();
        let v: i32 = dev.read_attribute("value").await.unwrap().get().unwrap();
        assert_eq!(v, 7);
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        done_rx.recv().await.unwrap().unwrap();
        // the device's state was CLOSE by the time the read ran
        assert_eq!(dev.state().await.unwrap(), DevState::Close);
        server.shutdown().await;
    })
}

#[test]
fn self_calls_and_panics() {
    block_on(async {
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
    })
}

#[test]
fn a_synchronous_class_is_refused() {
    block_on(async {
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
    })
}

#[test]
fn kill_stops_the_server() {
    block_on(async {
        let server = serve(asyncio_class(10, 10, false)).await;
        let admin = connect(&server.admin_device_name()).await.unwrap();
        let dev = proxy(&server).await;
        assert_eq!(dev.state().await.unwrap(), DevState::On);
        let port = server.port();
        admin.command_inout("Kill", ()).await.unwrap();
        let stopped = smol::future::or(
            async {
                server.wait().await;
                true
            },
            async {
                sleep(Duration::from_secs(5)).await;
                false
            },
        )
        .await;
        assert!(stopped, "Kill stops the server");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    })
}
