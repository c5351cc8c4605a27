//! `tango::green` with every backend compiled in (this crate's dev-dependency turns on the
//! features `tokio`, `smol`, `async-std` and `coroutine` of `tango`): Asyncio on tokio,
//! smol and async-std, and Coroutine on may — constructor, state, submit, `.await`,
//! `wait()`, per-call timeouts against a silent server, a default proxy following the
//! global mode through every mode, and the real C++ and Rust TangoTest servers (with
//! `TANGO_INTEROP=1`).

use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use tango::green::{self, AttributeProxy, DeviceProxy, GreenMode};
use tango::{DevState, Error};
use tango_testkit::mock_server::{device_at, silent_server, Action, MockServer};

const ASYNCIO: GreenMode = GreenMode::Asyncio;
const COROUTINE: GreenMode = GreenMode::Coroutine;

// ---------------------------------------------------------------------------------------
// A Device_5 server answering every request with state ON after a delay, a silent server
// (both from `tango_testkit::mock_server`), a minimal executor.

/// A Device_5 server (`tango_testkit::mock_server`) answering every request with state ON
/// after `delay`.
fn mock_server(delay: Duration) -> MockServer {
    MockServer::start(move |_, _| Action::state_after(delay, DevState::On))
}

struct ThreadWaker(thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor: polls on this thread, parks until woken (no runtime at all).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn tokio_multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn assert_timeout<T: std::fmt::Debug>(r: Result<T, Error>, after: Duration) {
    match r {
        Err(Error::Timeout { after: a, .. }) => assert_eq!(a, after),
        other => panic!("expected a timeout after {after:?}, got {other:?}"),
    }
}

fn assert_within(t: Instant, low: Duration, high: Duration, what: &str) {
    let e = t.elapsed();
    assert!(
        e >= low && e < high,
        "{what}: {e:?} not in [{low:?}, {high:?})"
    );
}

// ---------------------------------------------------------------------------------------
// Asyncio

/// Constructor, state, ping, submit and `.await` in Asyncio mode, from an async context.
async fn asyncio_case(server: &MockServer) {
    let dev = DeviceProxy::new_with_mode(&server.device(), ASYNCIO)
        .await
        .unwrap();
    assert_eq!(dev.get_green_mode().unwrap(), ASYNCIO);
    assert_eq!(dev.state().green_mode().unwrap(), ASYNCIO);
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    assert!(dev.ping().await.is_ok());
    // wait=false: a handle, awaited
    let pending = dev.state().submit();
    assert_eq!(pending.await.unwrap(), DevState::On);
    // many at once, on one connection
    let before = server.requests();
    let pending: Vec<_> = (0..50).map(|_| dev.state().submit()).collect();
    for p in pending {
        assert_eq!(p.await.unwrap(), DevState::On);
    }
    assert_eq!(server.requests() - before, 50);
    let attr = AttributeProxy::new_with_mode(&server.device().replace('#', "/attr#"), ASYNCIO)
        .await
        .unwrap();
    assert_eq!(attr.state().await.unwrap(), DevState::On);
}

/// Per-call timeouts against a silent server in the current mode/runtime.
async fn asyncio_timeouts(what: &str) {
    let port = silent_server();
    let t = Instant::now();
    let dev = DeviceProxy::new_with_mode(&device_at(port), ASYNCIO)
        .timeout(Duration::from_millis(200))
        .await
        .expect("a server that does not answer is not an error at construction");
    assert_within(t, Duration::ZERO, Duration::from_millis(700), what);

    let timeout = Duration::from_millis(300);
    let t = Instant::now();
    assert_timeout(dev.state().timeout(timeout).await, timeout);
    assert_within(t, timeout, Duration::from_millis(800), what);

    let t = Instant::now();
    assert_timeout(dev.ping().timeout(timeout).submit().await, timeout);
    assert_within(t, timeout, Duration::from_millis(800), what);

    // without an override, the proxy's timeout
    dev.set_timeout_millis(150);
    let t = Instant::now();
    assert!(matches!(dev.status().await, Err(Error::Timeout { .. })));
    assert_within(
        t,
        Duration::from_millis(150),
        Duration::from_millis(600),
        what,
    );
}

fn refused_in_the_event_loop<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::NotSupported(msg)) => assert!(msg.contains("use .await"), "{msg}"),
        other => panic!("expected NotSupported, got {other:?}"),
    }
}

#[test]
fn asyncio_on_tokio() {
    let server = mock_server(Duration::ZERO);
    for rt in [tokio_current_thread(), tokio_multi_thread()] {
        rt.block_on(async {
            asyncio_case(&server).await;
            asyncio_timeouts("tokio").await;
            // wait() would block the event loop
            let dev = DeviceProxy::new_with_mode(&server.device(), ASYNCIO)
                .await
                .unwrap();
            refused_in_the_event_loop(dev.state().wait());
            refused_in_the_event_loop(DeviceProxy::new_with_mode(&server.device(), ASYNCIO).wait());
        });
    }
}

#[test]
fn asyncio_on_smol() {
    let server = mock_server(Duration::ZERO);
    smol::block_on(async {
        asyncio_case(&server).await;
        asyncio_timeouts("smol").await;
    });
    // from smol's executor too
    let ex = smol::Executor::new();
    smol::block_on(ex.run(async { asyncio_case(&server).await }));
}

#[test]
fn asyncio_on_async_std() {
    let server = mock_server(Duration::ZERO);
    async_std::task::block_on(async {
        asyncio_case(&server).await;
        asyncio_timeouts("async-std").await;
        let dev = DeviceProxy::new_with_mode(&server.device(), ASYNCIO)
            .await
            .unwrap();
        refused_in_the_event_loop(dev.state().wait());
    });
    let server2 = mock_server(Duration::ZERO);
    async_std::task::block_on(async_std::task::spawn(async move {
        asyncio_case(&server2).await;
    }));
}

#[test]
fn asyncio_wait_and_submit_outside_any_runtime() {
    let server = mock_server(Duration::ZERO);
    let dev = DeviceProxy::new_with_mode(&server.device(), ASYNCIO)
        .wait()
        .unwrap();
    assert_eq!(dev.state().wait().unwrap(), DevState::On);
    assert_eq!(dev.state().submit().result().unwrap(), DevState::On);
    assert!(dev.ping().timeout(Duration::from_secs(2)).wait().is_ok());
    // .await from an executor that is no runtime at all
    assert_eq!(block_on(dev.state().into_future()).unwrap(), DevState::On);

    let silent = DeviceProxy::new_with_mode(&device_at(silent_server()), ASYNCIO)
        .timeout(Duration::from_millis(200))
        .wait()
        .unwrap();
    let timeout = Duration::from_millis(300);
    let t = Instant::now();
    assert_timeout(silent.state().timeout(timeout).wait(), timeout);
    assert_within(t, timeout, Duration::from_millis(800), "wait");
    let t = Instant::now();
    assert_timeout(silent.state().timeout(timeout).submit().result(), timeout);
    assert_within(t, timeout, Duration::from_millis(800), "submit");
    let t = Instant::now();
    assert_timeout(
        block_on(silent.state().timeout(timeout).into_future()),
        timeout,
    );
    assert_within(t, timeout, Duration::from_millis(800), "await");
}

#[test]
fn asyncio_calls_do_not_block_the_runtime() {
    // 20 calls of 300 ms each on a single-threaded runtime overlap (one after the other
    // would take 6 s)
    let server = mock_server(Duration::from_millis(300));
    tokio_current_thread().block_on(async {
        let dev = DeviceProxy::new_with_mode(&server.device(), ASYNCIO)
            .await
            .unwrap();
        let t = Instant::now();
        let pending: Vec<_> = (0..20).map(|_| dev.state().submit()).collect();
        for p in pending {
            assert_eq!(p.await.unwrap(), DevState::On);
        }
        assert_within(
            t,
            Duration::from_millis(300),
            Duration::from_secs(4),
            "20 concurrent",
        );
    });
}

// ---------------------------------------------------------------------------------------
// Coroutine

#[test]
fn coroutine_mode_from_threads_and_coroutines() {
    let server = mock_server(Duration::ZERO);
    let dev = DeviceProxy::new_with_mode(&server.device(), COROUTINE)
        .wait()
        .unwrap();
    assert_eq!(dev.get_green_mode().unwrap(), COROUTINE);
    // from a plain thread
    assert_eq!(dev.state().wait().unwrap(), DevState::On);
    assert_eq!(dev.state().submit().result().unwrap(), DevState::On);
    assert_eq!(block_on(dev.state().into_future()).unwrap(), DevState::On);
    // from a coroutine: constructor, wait, submit + result (parks the coroutine)
    let name = server.device();
    let got = tango_coroutine::spawn(move || {
        let dev = DeviceProxy::new_with_mode(&name, COROUTINE).wait()?;
        let a = dev.state().wait()?;
        let rtt = dev.ping().submit().result()?;
        let attr = AttributeProxy::new_with_mode(&name.replace('#', "/attr#"), COROUTINE).wait()?;
        Ok::<_, Error>((a, rtt < Duration::from_secs(3), attr.state().wait()?))
    })
    .get()
    .unwrap();
    assert_eq!(got, (DevState::On, true, DevState::On));
}

#[test]
fn coroutine_calls_park_only_their_coroutine() {
    // 100 coroutines each waiting 300 ms for a reply overlap on may's few workers (one
    // after the other would take 30 s; the bound leaves room for a loaded machine)
    let server = mock_server(Duration::from_millis(300));
    let dev = DeviceProxy::new_with_mode(&server.device(), COROUTINE)
        .wait()
        .unwrap();
    let t = Instant::now();
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let dev = dev.clone();
            tango_coroutine::spawn(move || dev.state().wait())
        })
        .collect();
    for h in handles {
        assert_eq!(h.get().unwrap(), DevState::On);
    }
    assert_within(
        t,
        Duration::from_millis(300),
        Duration::from_secs(10),
        "100 coroutines",
    );
    // submitted calls run in coroutines too
    let t = Instant::now();
    let pending: Vec<_> = (0..100).map(|_| dev.state().submit()).collect();
    for p in pending {
        assert_eq!(p.result().unwrap(), DevState::On);
    }
    assert_within(
        t,
        Duration::from_millis(300),
        Duration::from_secs(10),
        "100 submitted",
    );
}

#[test]
fn coroutine_call_timeout_against_a_silent_server() {
    let port = silent_server();
    let t = Instant::now();
    let dev = DeviceProxy::new_with_mode(&device_at(port), COROUTINE)
        .timeout(Duration::from_millis(200))
        .wait()
        .expect("a server that does not answer is not an error at construction");
    assert_within(t, Duration::ZERO, Duration::from_millis(700), "constructor");

    let timeout = Duration::from_millis(300);
    let t = Instant::now();
    assert_timeout(dev.state().timeout(timeout).wait(), timeout);
    assert_within(t, timeout, Duration::from_millis(800), "wait");

    let t = Instant::now();
    assert_timeout(dev.ping().timeout(timeout).submit().result(), timeout);
    assert_within(t, timeout, Duration::from_millis(800), "submit");

    let d = dev.clone();
    let t = Instant::now();
    let r = tango_coroutine::spawn(move || d.state().timeout(timeout).wait()).get();
    assert_timeout(r, timeout);
    assert_within(t, timeout, Duration::from_millis(800), "in a coroutine");

    dev.set_timeout_millis(150);
    let t = Instant::now();
    assert!(matches!(dev.status().wait(), Err(Error::Timeout { .. })));
    assert_within(
        t,
        Duration::from_millis(150),
        Duration::from_millis(600),
        "proxy timeout",
    );
}

// ---------------------------------------------------------------------------------------
// The global mode

#[test]
fn a_default_proxy_follows_the_global_mode_through_every_mode() {
    // the only test of this binary that changes the global mode
    let server = mock_server(Duration::ZERO);
    green::set_green_mode(GreenMode::Synchronous);
    let dev = DeviceProxy::new(&server.device()).wait().unwrap();
    assert_eq!(dev.own_green_mode(), None);
    for mode in [
        GreenMode::Synchronous,
        GreenMode::Futures,
        GreenMode::Asyncio,
        GreenMode::Coroutine,
        GreenMode::Synchronous,
    ] {
        green::set_green_mode(mode);
        assert_eq!(dev.get_green_mode().unwrap(), mode);
        assert_eq!(dev.state().green_mode().unwrap(), mode);
        assert_eq!(dev.state().wait().unwrap(), DevState::On, "{mode}");
        assert_eq!(
            dev.state().submit().result().unwrap(),
            DevState::On,
            "{mode}"
        );
        assert_eq!(
            block_on(dev.state().into_future()).unwrap(),
            DevState::On,
            "{mode}"
        );
        // a new default proxy, made in this mode
        let fresh = DeviceProxy::new(&server.device()).wait().unwrap();
        assert_eq!(fresh.state().wait().unwrap(), DevState::On, "{mode}");
    }
    // in a tokio runtime, Asyncio is awaited there
    green::set_green_mode(GreenMode::Asyncio);
    let state = tokio_current_thread().block_on(async { dev.state().await });
    assert_eq!(state.unwrap(), DevState::On);
    green::set_green_mode(GreenMode::Synchronous);
}

// ---------------------------------------------------------------------------------------
// The real servers

/// The interop checks in Asyncio mode, from an async context.
async fn asyncio_interop(device: &str) {
    let dev = DeviceProxy::new_with_mode(device, ASYNCIO).await.unwrap();
    dev.set_timeout_millis(10_000);
    dev.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    assert_eq!(dev.state().await.unwrap(), DevState::Running);
    assert!(dev.status().await.unwrap().contains("RUNNING"));
    assert_eq!(dev.info().await.unwrap().dev_class, "TangoTest");

    dev.write_attribute("double_scalar", 12.5).await.unwrap();
    let back: f64 = dev
        .read_attribute("double_scalar")
        .await
        .unwrap()
        .get_w()
        .unwrap();
    assert_eq!(back, 12.5);
    let echoed: f64 = tango::extract(dev.command_inout("DevDouble", 3.5).await.unwrap()).unwrap();
    assert_eq!(echoed, 3.5);
    let pending: Vec<_> = (0..5)
        .map(|i| dev.command_inout("DevLong", i).submit())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        let v: i32 = tango::extract(p.await.unwrap()).unwrap();
        assert_eq!(v, i as i32);
    }
    let attrs = dev
        .read_attributes(&["long_scalar", "double_scalar"])
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(attrs.len(), 2);

    let attr = AttributeProxy::new_with_mode(
        &device.replace("#dbase=no", "/float_spectrum#dbase=no"),
        ASYNCIO,
    )
    .await
    .unwrap();
    attr.write(vec![1.5f32, 2.5]).await.unwrap();
    assert_eq!(
        attr.read().await.unwrap().get::<Vec<f32>>().unwrap(),
        vec![1.5, 2.5]
    );
    let err = dev.read_attribute("no_such_attribute").await.unwrap_err();
    assert!(matches!(err, Error::DevFailed(_)), "{err}");
    assert_eq!(dev.state().await.unwrap(), DevState::Running);
}

/// The interop checks in Coroutine mode, with `wait()` (run in a coroutine).
fn coroutine_interop(device: &str) -> Result<(), Error> {
    let dev = DeviceProxy::new_with_mode(device, COROUTINE).wait()?;
    dev.set_timeout_millis(10_000);
    dev.wait_until_ready(Duration::from_secs(5)).wait()?;
    assert_eq!(dev.state().wait()?, DevState::Running);
    assert_eq!(dev.info().wait()?.dev_class, "TangoTest");
    dev.write_attribute("double_scalar", 7.25).wait()?;
    let back: f64 = dev.read_attribute("double_scalar").wait()?.get_w()?;
    assert_eq!(back, 7.25);
    let echoed: String = tango::extract(dev.command_inout("DevString", "hello").wait()?)?;
    assert_eq!(echoed, "hello");
    let pending: Vec<_> = (0..5)
        .map(|i| dev.command_inout("DevLong", i).submit())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        let v: i32 = tango::extract(p.result()?)?;
        assert_eq!(v, i as i32);
    }
    let attr = AttributeProxy::new_with_mode(
        &device.replace("#dbase=no", "/float_spectrum#dbase=no"),
        COROUTINE,
    )
    .wait()?;
    attr.write(vec![4.5f32]).wait()?;
    assert_eq!(attr.read().wait()?.get::<Vec<f32>>()?, vec![4.5]);
    assert!(matches!(
        dev.read_attribute("no_such_attribute").wait(),
        Err(Error::DevFailed(_))
    ));
    Ok(())
}

fn interop_all_modes(device: &str) {
    tokio_multi_thread().block_on(asyncio_interop(device));
    tokio_current_thread().block_on(asyncio_interop(device));
    smol::block_on(asyncio_interop(device));
    async_std::task::block_on(asyncio_interop(device));
    let d = device.to_owned();
    tango_coroutine::spawn(move || coroutine_interop(&d))
        .get()
        .unwrap();
    // Coroutine mode from a plain thread too
    coroutine_interop(device).unwrap();
}

#[test]
fn interop_cpp_tangotest_asyncio_and_coroutine() {
    if !tango_testkit::require_interop() {
        return;
    }
    interop_all_modes(&tango_testkit::cpp_tangotest_device());
}

#[test]
fn interop_rust_tangotest_asyncio_and_coroutine() {
    if !tango_testkit::require_interop() {
        return;
    }
    interop_all_modes(&tango_testkit::rust_tangotest_device());
}
