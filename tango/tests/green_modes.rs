//! Green modes of `tango::green`: mode parsing and the environment, the global mode that
//! default proxies follow as it changes, per-proxy modes, the Futures handle (submit,
//! result, result_timeout, done, cancel, drop), per-call timeouts against silent and slow
//! servers, `.await` from a minimal executor, and the same operations against the real
//! C++ and Rust TangoTest servers (with `TANGO_INTEROP=1`) in Synchronous and Futures.

use std::future::{Future, IntoFuture};
use std::net::TcpListener;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use tango::green::{
    self, AttributeProxy, Call, CallFuture, DeviceProxy, GreenMode, Pending, ACCEPTED_GREEN_MODES,
};
use tango::{DevState, Error};
use tango_testkit::mock_server::{device_at, silent_server, Action, MockServer};

const SYNC: GreenMode = GreenMode::Synchronous;
const FUTURES: GreenMode = GreenMode::Futures;
/// Whether an Asyncio backend is compiled in (features unify across the workspace: the
/// conformance crate's tests turn them all on).
const ASYNCIO_ON: bool = cfg!(any(
    feature = "tokio",
    feature = "smol",
    feature = "async-std"
));
const COROUTINE_ON: bool = cfg!(feature = "coroutine");

// ---------------------------------------------------------------------------------------
// The scripted GIOP server of `tango_testkit::mock_server` and a minimal executor.

/// Answers every request at once: state ON (ping's empty reply reads fine as well).
fn on() -> Action {
    Action::state(DevState::On)
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    tango_testkit::free_port()
}

struct ThreadWaker(thread::Thread, AtomicUsize);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.unpark();
    }
}

/// The smallest executor: polls on this thread, parks until woken.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let waker = Waker::from(Arc::new(ThreadWaker(
        thread::current(),
        AtomicUsize::new(0),
    )));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

fn connect(name: &str, mode: GreenMode) -> DeviceProxy {
    DeviceProxy::new_with_mode(name, mode)
        .timeout(Duration::from_secs(2))
        .wait()
        .expect("connect")
}

fn assert_timeout(r: Result<impl std::fmt::Debug, Error>, after: Duration) {
    match r {
        Err(Error::Timeout { after: a, .. }) => assert_eq!(a, after),
        other => panic!("expected a timeout after {after:?}, got {other:?}"),
    }
}

/// The message of an `Error::NotSupported`, or a panic.
fn not_supported<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::NotSupported(msg)) => msg,
        other => panic!("expected NotSupported, got {other:?}"),
    }
}

/// Tests that change the global mode take this lock; the others use explicit modes only.
fn global_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------
// Types

#[test]
fn proxies_and_handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<DeviceProxy>();
    send_sync::<AttributeProxy>();
    send_sync::<Pending<DevState>>();
    send::<Call<DevState>>();
    send::<CallFuture<DevState>>();
    send::<Call<DeviceProxy>>();
}

// ---------------------------------------------------------------------------------------
// Mode parsing and the environment

#[test]
fn mode_names_are_case_insensitive_and_gevent_is_coroutine() {
    for (text, mode) in [
        ("synchronous", SYNC),
        ("SYNCHRONOUS", SYNC),
        ("Futures", FUTURES),
        ("gevent", GreenMode::Coroutine),
        ("GEvent", GreenMode::Coroutine),
        ("coroutine", GreenMode::Coroutine),
        (" asyncio ", GreenMode::Asyncio),
        ("AsyncIO", GreenMode::Asyncio),
    ] {
        assert_eq!(text.parse::<GreenMode>().unwrap(), mode, "{text}");
    }
    for mode in [SYNC, FUTURES, GreenMode::Coroutine, GreenMode::Asyncio] {
        assert_eq!(mode.as_str().parse::<GreenMode>().unwrap(), mode);
        assert_eq!(mode.to_string().parse::<GreenMode>().unwrap(), mode);
    }
}

#[test]
fn an_unknown_mode_is_an_error_naming_the_accepted_values() {
    let err = "threads".parse::<GreenMode>().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("\"threads\""), "{text}");
    for accepted in ["synchronous", "futures", "gevent", "coroutine", "asyncio"] {
        assert!(text.contains(accepted), "{text}");
    }
    assert!(text.contains(ACCEPTED_GREEN_MODES), "{text}");
    assert_eq!(err.reason(), "API_WrongGreenMode");

    let err = GreenMode::from_env_values(Some("bogus"), None).unwrap_err();
    assert!(err.to_string().contains("TANGO_GREEN_MODE"), "{err}");
    let err = GreenMode::from_env_values(None, Some("Sync")).unwrap_err();
    assert!(err.to_string().contains("PYTANGO_GREEN_MODE"), "{err}");
    assert!(err.to_string().contains(ACCEPTED_GREEN_MODES), "{err}");
}

#[test]
fn the_environment_gives_the_default_mode() {
    let env = GreenMode::from_env_values;
    assert_eq!(env(None, None).unwrap(), SYNC);
    assert_eq!(env(Some(""), Some("  ")).unwrap(), SYNC);
    assert_eq!(env(Some("FUTURES"), None).unwrap(), FUTURES);
    assert_eq!(env(None, Some("gevent")).unwrap(), GreenMode::Coroutine);
    // TANGO_GREEN_MODE wins over PyTango's variable
    assert_eq!(
        env(Some("asyncio"), Some("futures")).unwrap(),
        GreenMode::Asyncio
    );
    assert_eq!(env(Some(""), Some("futures")).unwrap(), FUTURES);
}

/// Runs `child_reads_the_environment` in a child process with the environment given.
fn child(vars: &[(&str, &str)], expect: &str) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_reads_the_environment", "--nocapture"])
        .env_remove("TANGO_GREEN_MODE")
        .env_remove("PYTANGO_GREEN_MODE")
        .env("GREEN_MODES_CHILD_EXPECT", expect);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child checked"),
        "child with {vars:?} expecting {expect}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_global_mode_is_read_from_the_process_environment() {
    child(&[], "synchronous");
    child(&[("TANGO_GREEN_MODE", "FUTURES")], "futures");
    child(&[("PYTANGO_GREEN_MODE", "gevent")], "coroutine");
    child(
        &[
            ("TANGO_GREEN_MODE", "Asyncio"),
            ("PYTANGO_GREEN_MODE", "futures"),
        ],
        "asyncio",
    );
    child(&[("TANGO_GREEN_MODE", "eventlet")], "error");
}

/// The child half of the test above (passes at once in the normal test run).
#[test]
fn child_reads_the_environment() {
    let Ok(expect) = std::env::var("GREEN_MODES_CHILD_EXPECT") else {
        return;
    };
    if expect == "error" {
        let err = green::get_green_mode().unwrap_err();
        assert!(err.to_string().contains("eventlet"), "{err}");
        assert!(err.to_string().contains(ACCEPTED_GREEN_MODES), "{err}");
        // calls that follow the global mode report it too
        let call = DeviceProxy::new("tango://127.0.0.1:1/a/b/c#dbase=no");
        assert!(call.green_mode().is_err());
        let err = call.wait().unwrap_err();
        assert!(err.to_string().contains(ACCEPTED_GREEN_MODES), "{err}");
        // until the program sets a valid mode
        green::set_green_mode(FUTURES);
        assert_eq!(green::get_green_mode().unwrap(), FUTURES);
    } else {
        assert_eq!(
            green::get_green_mode().unwrap(),
            expect.parse::<GreenMode>().unwrap()
        );
    }
    println!("child checked");
}

// ---------------------------------------------------------------------------------------
// Global and per-proxy modes

#[test]
fn default_proxies_follow_the_global_mode_as_it_changes() {
    let _g = global_lock();
    let server = MockServer::start(|_, _| on());
    green::set_green_mode(SYNC);
    let dev = DeviceProxy::new(&server.device()).wait().unwrap();
    let attr = AttributeProxy::new(&server.device().replace("#", "/attr#"))
        .wait()
        .unwrap();
    let own = DeviceProxy::new_with_mode(&server.device(), FUTURES)
        .wait()
        .unwrap();
    assert_eq!(dev.own_green_mode(), None);
    assert_eq!(dev.get_green_mode().unwrap(), SYNC);
    assert_eq!(dev.state().green_mode().unwrap(), SYNC);
    assert_eq!(dev.state().wait().unwrap(), DevState::On);

    green::set_green_mode(FUTURES);
    assert_eq!(green::get_green_mode().unwrap(), FUTURES);
    assert_eq!(dev.get_green_mode().unwrap(), FUTURES);
    assert_eq!(dev.state().green_mode().unwrap(), FUTURES);
    assert_eq!(attr.state().green_mode().unwrap(), FUTURES);
    assert_eq!(dev.state().wait().unwrap(), DevState::On);

    // Asyncio: without its backend default proxies fail (with it, `wait()` outside any
    // runtime blocks on it); the one with its own mode works either way
    green::set_green_mode(GreenMode::Asyncio);
    if ASYNCIO_ON {
        assert_eq!(dev.state().wait().unwrap(), DevState::On);
        assert!(attr.ping().wait().is_ok());
        assert!(DeviceProxy::new(&server.device()).wait().is_ok());
    } else {
        assert!(not_supported(dev.state().wait()).contains("Asyncio"));
        assert!(matches!(attr.ping().wait(), Err(Error::NotSupported(_))));
        assert!(matches!(
            DeviceProxy::new(&server.device()).wait(),
            Err(Error::NotSupported(_))
        ));
    }
    assert_eq!(own.get_green_mode().unwrap(), FUTURES);
    assert_eq!(own.state().wait().unwrap(), DevState::On);

    // a per-proxy mode overrides the global one, None follows it again
    dev.set_green_mode(SYNC);
    assert_eq!(dev.own_green_mode(), Some(SYNC));
    assert_eq!(dev.state().wait().unwrap(), DevState::On);
    dev.clone().set_green_mode(None); // clones share the mode
    let r = dev.state().wait();
    if ASYNCIO_ON {
        assert_eq!(r.unwrap(), DevState::On);
    } else {
        assert!(matches!(r, Err(Error::NotSupported(_))));
    }
    own.set_green_mode(GreenMode::Coroutine);
    let r = own.state().wait();
    if COROUTINE_ON {
        assert_eq!(r.unwrap(), DevState::On);
    } else {
        assert!(matches!(r, Err(Error::NotSupported(_))));
    }

    green::set_green_mode(SYNC);
    assert_eq!(dev.state().wait().unwrap(), DevState::On);
    assert_eq!(attr.state().wait().unwrap(), DevState::On);
}

#[cfg(not(any(feature = "tokio", feature = "smol", feature = "async-std")))]
#[test]
fn asyncio_without_its_feature_is_a_clear_error_everywhere() {
    let server = MockServer::start(|_, _| on());
    let expected = "green mode Asyncio needs the cargo feature tokio, smol or async-std of the \
                    tango crate";
    let check = |msg: String| assert_eq!(msg, expected);
    check(not_supported(
        DeviceProxy::new_with_mode(&server.device(), GreenMode::Asyncio).wait(),
    ));
    let dev = connect(&server.device(), SYNC);
    dev.set_green_mode(GreenMode::Asyncio);
    check(not_supported(dev.state().wait()));
    check(not_supported(dev.state().submit().result()));
    check(not_supported(block_on(dev.state().into_future())));
    assert_eq!(server.requests(), 0, "nothing was sent");
}

#[cfg(not(feature = "coroutine"))]
#[test]
fn coroutine_without_its_feature_is_a_clear_error_everywhere() {
    let server = MockServer::start(|_, _| on());
    let expected = "green mode Coroutine needs the cargo feature coroutine of the tango crate";
    let check = |msg: String| assert_eq!(msg, expected);
    check(not_supported(
        AttributeProxy::new_with_mode(&server.device().replace("#", "/a#"), GreenMode::Coroutine)
            .wait(),
    ));
    let dev = connect(&server.device(), FUTURES);
    dev.set_green_mode(GreenMode::Coroutine);
    check(not_supported(dev.read_attribute("x").wait()));
    check(not_supported(dev.ping().submit().result()));
    check(not_supported(block_on(dev.status().into_future())));
    assert_eq!(server.requests(), 0, "nothing was sent");
}

// ---------------------------------------------------------------------------------------
// Futures: the handle

#[test]
fn submit_gives_a_handle_with_result_done_and_result_timeout() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => Action::state_after(Duration::from_millis(300), DevState::Moving),
        _ => on(),
    });
    for mode in [FUTURES, SYNC] {
        let dev = connect(&server.device(), mode);
        let t = Instant::now();
        let mut pending = dev.state().submit();
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "submit does not wait"
        );
        if mode == FUTURES {
            assert!(!pending.done());
            let short = Duration::from_millis(50);
            assert_timeout(pending.result_timeout(short), short);
            assert!(!pending.done(), "a result_timeout does not cancel");
            assert_eq!(pending.result().unwrap(), DevState::Moving);
            assert!(t.elapsed() >= Duration::from_millis(300));
        } else {
            // a handle in Synchronous mode runs queued too
            let mut spins = 0;
            while !pending.done() {
                thread::sleep(Duration::from_millis(5));
                spins += 1;
                assert!(spins < 400);
            }
            assert_eq!(
                pending.result_timeout(Duration::ZERO).unwrap(),
                DevState::On
            );
        }
    }
}

#[test]
fn many_submitted_calls_run_at_once() {
    let server =
        MockServer::start(|_, _| Action::state_after(Duration::from_millis(300), DevState::On));
    let dev = connect(&server.device(), FUTURES);
    let t = Instant::now();
    let pending: Vec<_> = (0..8).map(|_| dev.state().submit()).collect();
    for p in pending {
        assert_eq!(p.result().unwrap(), DevState::On);
    }
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn cancel_and_drop_leave_the_connection_healthy() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0 | 1) => Action::state_after(Duration::from_millis(300), DevState::Fault),
        _ => on(),
    });
    let dev = connect(&server.device(), FUTURES);
    let pending = dev.state().submit();
    thread::sleep(Duration::from_millis(50));
    assert!(pending.cancel(), "cancelled before it completed");
    // dropping cancels as well (once in flight: the request was sent)
    let dropped = dev.state().submit();
    thread::sleep(Duration::from_millis(50));
    drop(dropped);
    // the cancelled calls' FAULT replies arrive later and are dropped
    assert_eq!(dev.state().wait().unwrap(), DevState::On);
    thread::sleep(Duration::from_millis(400));
    assert_eq!(dev.state().wait().unwrap(), DevState::On);
    assert_eq!(server.connections(), 1);

    let done = dev.state().submit();
    while !done.done() {
        thread::sleep(Duration::from_millis(5));
    }
    assert!(!done.cancel(), "nothing to cancel once completed");
    // the two cancelled calls had been sent: 5 requests in all
    assert_eq!(server.requests(), 5);
}

/// The blocking transport's shared connection to the mock server (the one the green
/// proxies of Synchronous and Futures modes use).
fn shared_connection(port: u16) -> Arc<tango_client::Connection> {
    <tango_client::Connection as tango_client::Transport>::for_endpoint("127.0.0.1", port)
}

/// Waits until `cond` holds (at most 2 s).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(2), "never: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn cancelling_a_submitted_call_abandons_its_request_at_once() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        // the cancelled call of each mode (3 calls per mode)
        ("_get_state", 0 | 3) => Action::state_after(Duration::from_millis(600), DevState::Fault),
        _ => on(),
    });
    for mode in [FUTURES, SYNC] {
        let dev = connect(&server.device(), mode);
        let conn = shared_connection(server.port());
        let sent = server.requests();
        let pending = dev.state().submit();
        eventually("the request reached the server", || {
            server.requests() == sent + 1
        });
        assert_eq!(conn.in_flight(), 1, "{mode}: the connection waits for it");
        assert!(pending.cancel());
        // no thread keeps waiting for the reply: the request id is abandoned now
        assert_eq!(conn.in_flight(), 0, "{mode}: cancel abandons the request");
        // the late FAULT is dropped; the connection is the same and healthy
        assert_eq!(dev.state().wait().unwrap(), DevState::On);
        thread::sleep(Duration::from_millis(700));
        assert_eq!(dev.state().submit().result().unwrap(), DevState::On);
        assert_eq!(conn.in_flight(), 0);
    }
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_submitted_or_awaited_call_times_out_on_time_and_its_late_reply_is_dropped() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0 | 1) => Action::state_after(Duration::from_millis(500), DevState::Fault),
        _ => on(),
    });
    let dev = connect(&server.device(), FUTURES);
    let conn = shared_connection(server.port());
    let short = Duration::from_millis(100);

    let t = Instant::now();
    let pending = dev.state().timeout(short).submit();
    assert_timeout(pending.result(), short);
    let waited = t.elapsed();
    assert!(
        waited >= short && waited < Duration::from_millis(400),
        "{waited:?}"
    );
    assert_eq!(conn.in_flight(), 0, "the timed-out request is abandoned");

    let t = Instant::now();
    assert_timeout(block_on(dev.state().timeout(short).into_future()), short);
    let waited = t.elapsed();
    assert!(
        waited >= short && waited < Duration::from_millis(400),
        "{waited:?}"
    );
    assert_eq!(conn.in_flight(), 0);

    // the two late FAULT replies arrive while these calls run, and are dropped
    let pending: Vec<_> = (0..4).map(|_| dev.state().submit()).collect();
    thread::sleep(Duration::from_millis(500));
    for p in pending {
        assert_eq!(p.result().unwrap(), DevState::On);
    }
    assert_eq!(block_on(dev.state().into_future()).unwrap(), DevState::On);
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_submitted_call_connects_without_blocking_the_caller() {
    // no server yet: the connect is refused, and reported through the handle
    let port = closed_port();
    let dev = connect(&device_at(port), FUTURES);
    let err = dev.state().submit().result().unwrap_err();
    assert!(matches!(err, Error::ServerNotRunning { .. }), "{err}");

    // once it runs, a submitted call opens the connection (on the worker pool) and
    // returns its handle at once; so does wait_until_ready, pausing between pings
    let starter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        MockServer::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), |_, _| {
            Action::state_after(Duration::from_millis(200), DevState::Alarm)
        })
    });
    let t = Instant::now();
    let ready = dev.wait_until_ready(Duration::from_secs(3)).submit();
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "submit does not wait"
    );
    ready.result().unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    let server = starter.join().unwrap();
    let t = Instant::now();
    let state = dev.state().submit();
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "submit does not wait"
    );
    assert_eq!(state.result().unwrap(), DevState::Alarm);
    assert_eq!(server.connections(), 1);
}

// ---------------------------------------------------------------------------------------
// Timeouts

#[test]
fn a_call_timeout_against_a_silent_server() {
    let port = silent_server();
    for mode in [SYNC, FUTURES] {
        // the constructor's handshake is bounded by its own timeout
        let t = Instant::now();
        let dev = DeviceProxy::new_with_mode(&device_at(port), mode)
            .timeout(Duration::from_millis(200))
            .wait()
            .expect("a server that does not answer is not an error at construction");
        assert!(
            t.elapsed() < Duration::from_millis(700),
            "{:?}",
            t.elapsed()
        );

        let timeout = Duration::from_millis(300);
        let t = Instant::now();
        assert_timeout(dev.state().timeout(timeout).wait(), timeout);
        let waited = t.elapsed();
        assert!(
            waited >= timeout && waited < Duration::from_millis(800),
            "{mode}: {waited:?}"
        );

        let t = Instant::now();
        assert_timeout(dev.ping().timeout(timeout).submit().result(), timeout);
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "{mode}: {:?}",
            t.elapsed()
        );

        // without an override, the proxy's timeout
        dev.set_timeout_millis(150);
        let t = Instant::now();
        assert!(matches!(dev.status().wait(), Err(Error::Timeout { .. })));
        assert!(
            t.elapsed() < Duration::from_millis(600),
            "{mode}: {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn the_call_timeout_overrides_the_proxy_timeout_both_ways() {
    let server =
        MockServer::start(|_, _| Action::state_after(Duration::from_millis(250), DevState::On));
    for mode in [SYNC, FUTURES] {
        let dev = connect(&server.device(), mode);
        dev.set_timeout_millis(100);
        assert!(matches!(dev.state().wait(), Err(Error::Timeout { .. })));
        let long = Duration::from_millis(1500);
        assert_eq!(dev.state().timeout(long).wait().unwrap(), DevState::On);
        dev.set_timeout_millis(3000);
        let short = Duration::from_millis(100);
        assert_timeout(dev.state().timeout(short).wait(), short);
        assert_eq!(
            dev.get_timeout_millis(),
            3000,
            "an override changes nothing else"
        );
    }
}

#[test]
fn a_late_reply_after_a_call_timeout_does_not_disturb_the_next_call() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        // the first call of each mode (3 calls per mode)
        ("_get_state", 0 | 3) => Action::state_after(Duration::from_millis(400), DevState::Fault),
        _ => on(),
    });
    let short = Duration::from_millis(100);
    for mode in [SYNC, FUTURES] {
        let connections = server.connections();
        let dev = connect(&server.device(), mode);
        let t = Instant::now();
        assert_timeout(dev.state().timeout(short).wait(), short);
        assert!(
            t.elapsed() < Duration::from_millis(350),
            "{mode}: {:?}",
            t.elapsed()
        );
        // the late FAULT arrives while this call waits, and is dropped
        assert_eq!(
            dev.state().timeout(Duration::from_secs(2)).wait().unwrap(),
            DevState::On
        );
        thread::sleep(Duration::from_millis(400));
        assert_eq!(dev.state().wait().unwrap(), DevState::On);
        // (the connection closes with its last proxy, at the end of each round)
        assert_eq!(server.connections(), connections + 1);
    }
}

// ---------------------------------------------------------------------------------------
// .await

#[test]
fn await_works_from_a_minimal_executor() {
    let server = MockServer::start(|_, _| on());
    for mode in [SYNC, FUTURES] {
        let name = server.device();
        let state = block_on(async move {
            let dev = DeviceProxy::new_with_mode(&name, mode).await?;
            assert_eq!(dev.ping().await?.as_secs(), 0);
            dev.state().timeout(Duration::from_secs(1)).await
        })
        .unwrap();
        assert_eq!(state, DevState::On);
        // a submitted handle is a future too
        let dev = connect(&server.device(), mode);
        assert_eq!(block_on(dev.state().submit()).unwrap(), DevState::On);
    }
}

#[test]
fn awaiting_does_not_block_the_executor_thread() {
    let server =
        MockServer::start(|_, _| Action::state_after(Duration::from_millis(300), DevState::On));
    let dev = connect(&server.device(), SYNC);
    let wakes = Arc::new(ThreadWaker(thread::current(), AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = dev.state().into_future();
    let t = Instant::now();
    assert!(Future::poll(std::pin::Pin::new(&mut fut), &mut cx).is_pending());
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "the first poll returned at once"
    );
    let result = loop {
        if let Poll::Ready(r) = Future::poll(std::pin::Pin::new(&mut fut), &mut cx) {
            break r;
        }
        thread::park_timeout(Duration::from_secs(2));
        assert!(t.elapsed() < Duration::from_secs(2));
    };
    assert_eq!(result.unwrap(), DevState::On);
    assert!(wakes.1.load(Ordering::SeqCst) >= 1, "the task was woken");
}

// ---------------------------------------------------------------------------------------
// wait_until_ready, AttributeProxy

#[test]
fn wait_until_ready_waits_for_a_server_that_starts_late() {
    let port = closed_port();
    let dev = connect(&device_at(port), FUTURES);
    let starter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        MockServer::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), |_, _| on())
    });
    let t = Instant::now();
    dev.wait_until_ready(Duration::from_secs(3)).wait().unwrap();
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1200),
        "{waited:?}"
    );
    let _server = starter.join().unwrap();
    assert_eq!(dev.state().wait().unwrap(), DevState::On);

    // nothing ever comes: a timeout at the given time
    let dev = connect(&device_at(closed_port()), SYNC);
    let t = Instant::now();
    let timeout = Duration::from_millis(250);
    assert_timeout(dev.wait_until_ready(timeout).wait(), timeout);
    assert!(t.elapsed() >= timeout && t.elapsed() < Duration::from_millis(700));
}

#[test]
fn attribute_proxy_names_are_checked_in_the_call() {
    let err = AttributeProxy::new_with_mode("tango://127.0.0.1:1/a/b/c#dbase=no", SYNC)
        .wait()
        .unwrap_err();
    assert!(
        err.to_string().contains("attribute name was expected"),
        "{err}"
    );
    let err = DeviceProxy::new_with_mode("not a device name", FUTURES)
        .wait()
        .unwrap_err();
    assert!(matches!(err, Error::Name(_)), "{err}");
    let server = MockServer::start(|_, _| on());
    let attr = AttributeProxy::new_with_mode(&server.device().replace("#", "/Current#"), FUTURES)
        .wait()
        .unwrap();
    assert_eq!(attr.name(), "Current");
    assert_eq!(attr.get_device_proxy().dev_name(), "test/mock/1");
    assert_eq!(attr.state().wait().unwrap(), DevState::On);
}

// ---------------------------------------------------------------------------------------
// Interop: the real servers, in Synchronous and Futures modes

fn interop_case(device: &str, mode: GreenMode) {
    let dev = DeviceProxy::new_with_mode(device, mode).wait().unwrap();
    dev.set_timeout_millis(10_000);
    assert_eq!(dev.get_green_mode().unwrap(), mode);
    dev.wait_until_ready(Duration::from_secs(5)).wait().unwrap();
    assert_eq!(dev.state().wait().unwrap(), DevState::Running);
    assert!(dev.status().wait().unwrap().contains("RUNNING"));
    assert_eq!(dev.info().wait().unwrap().dev_class, "TangoTest");
    assert!(dev
        .get_attribute_list()
        .wait()
        .unwrap()
        .iter()
        .any(|a| a == "double_scalar"));

    dev.write_attribute("double_scalar", 12.5).wait().unwrap();
    let back: f64 = dev
        .read_attribute("double_scalar")
        .wait()
        .unwrap()
        .get_w()
        .unwrap();
    assert_eq!(back, 12.5);
    let echoed: f64 = tango::extract(dev.command_inout("DevDouble", 3.5).wait().unwrap()).unwrap();
    assert_eq!(echoed, 3.5);

    // wait=false, several at once
    let pending: Vec<_> = (0..5)
        .map(|i| dev.command_inout("DevLong", i).submit())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        let v: i32 = tango::extract(p.result().unwrap()).unwrap();
        assert_eq!(v, i as i32);
    }
    let attrs = dev
        .read_attributes(&["long_scalar", "double_scalar"])
        .timeout(Duration::from_secs(5))
        .wait()
        .unwrap();
    assert_eq!(attrs.len(), 2);

    // .await
    let state = block_on(async { dev.state().await }).unwrap();
    assert_eq!(state, DevState::Running);

    // AttributeProxy
    let attr = AttributeProxy::new_with_mode(
        &device.replace("#dbase=no", "/float_spectrum#dbase=no"),
        mode,
    )
    .wait()
    .unwrap();
    attr.write(vec![1.5f32, 2.5]).wait().unwrap();
    assert_eq!(
        attr.read().wait().unwrap().get::<Vec<f32>>().unwrap(),
        vec![1.5, 2.5]
    );
    assert_eq!(
        block_on(attr.write_read(vec![3.5f32]).into_future())
            .unwrap()
            .get::<Vec<f32>>()
            .unwrap(),
        vec![3.5]
    );

    // errors come through unchanged
    let err = dev.read_attribute("no_such_attribute").wait().unwrap_err();
    assert!(matches!(err, Error::DevFailed(_)), "{err}");
    assert_eq!(dev.state().wait().unwrap(), DevState::Running);
}

#[test]
fn interop_cpp_tangotest_synchronous_and_futures() {
    if !tango_testkit::require_interop() {
        return;
    }
    let device = tango_testkit::cpp_tangotest_device();
    interop_case(&device, SYNC);
    interop_case(&device, FUTURES);
}

#[test]
fn interop_rust_tangotest_synchronous_and_futures() {
    if !tango_testkit::require_interop() {
        return;
    }
    let device = tango_testkit::rust_tangotest_device();
    interop_case(&device, SYNC);
    interop_case(&device, FUTURES);
}
