//! Failure handling of the coroutine transport, against servers in this process
//! (`tango_testkit::mock_server`, no Tango peer needed): a server that never answers,
//! nothing listening, late replies, `CloseConnection` and garbage. may runs ONE worker
//! thread here, so a call that blocked the thread instead of parking its coroutine would
//! stop every other coroutine.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use tango_core::idl::DevState;
use tango_coroutine::{spawn, DeviceProxy, Error};
use tango_testkit::mock_server::{device_at, silent_server, Action, MockServer};

fn one_worker() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        may::config().set_workers(1);
    });
}

/// A coroutine that counts until stopped, every 5 ms, on the worker thread. (may resumes
/// a sleeping coroutine on its timer thread; the `yield_now` after the sleep moves it
/// back to a worker, so a blocked worker thread would stop the count.)
fn counter() -> (Arc<AtomicUsize>, Arc<AtomicBool>) {
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c, s) = (count.clone(), stop.clone());
    let _ = spawn(move || {
        while !s.load(Ordering::SeqCst) {
            may::coroutine::sleep(Duration::from_millis(5));
            may::coroutine::yield_now();
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    (count, stop)
}

#[test]
fn a_silent_server_times_out_while_other_coroutines_run() {
    one_worker();
    let name = device_at(silent_server());
    let timeout = Duration::from_millis(400);
    // The handshake times out too; the proxy is made anyway, as cppTango does.
    let dev = DeviceProxy::with_timeout(&name, timeout).unwrap();
    let (count, stop) = counter();
    let call = spawn(move || {
        let start = Instant::now();
        (dev.state(), start.elapsed())
    });
    // The counter must advance in both halves of the wait.
    let before = count.load(Ordering::SeqCst);
    thread::sleep(timeout / 2);
    let mid = count.load(Ordering::SeqCst);
    let (r, took) = call.get();
    let end = count.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    match r {
        Err(Error::Timeout { after, .. }) => assert_eq!(after, timeout),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(
        took >= timeout - Duration::from_millis(20) && took < timeout * 2,
        "timed out after {took:?}"
    );
    // 200 ms at one tick per 5 ms, twice: the counter ran all along on the single worker
    // thread while the call waited.
    assert!(
        mid - before >= 10 && end - mid >= 10,
        "the counter advanced {} then {} times only",
        mid - before,
        end - mid
    );
}

#[test]
fn a_silent_server_times_out_from_a_plain_thread() {
    one_worker();
    let timeout = Duration::from_millis(300);
    let dev = DeviceProxy::with_timeout(&device_at(silent_server()), timeout).unwrap();
    let start = Instant::now();
    let err = dev.ping().unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(err.reason(), "API_DeviceTimedOut");
    let took = start.elapsed();
    assert!(
        took >= timeout - Duration::from_millis(20) && took < timeout * 3,
        "{took:?}"
    );
}

#[test]
fn nothing_listening_is_server_not_running() {
    one_worker();
    let port = tango_testkit::free_port();
    let name = format!("tango://127.0.0.1:{port}/test/nothing/1#dbase=no");
    let dev = DeviceProxy::new(&name).unwrap();
    let err = dev.state().unwrap_err();
    assert!(matches!(err, Error::ServerNotRunning { .. }), "{err}");
    assert_eq!(err.reason(), "API_CantConnectToDevice");
    let err = spawn(move || dev.read_attribute("x")).get().unwrap_err();
    assert!(matches!(err, Error::ServerNotRunning { .. }), "{err}");
}

#[test]
fn a_timeout_abandons_the_request_and_keeps_the_connection() {
    one_worker();
    let server = MockServer::start(|_, n| match n {
        0 => Action::state_after(Duration::from_millis(600), DevState::On),
        _ => Action::state(DevState::On),
    });
    let dev = DeviceProxy::new(&server.device()).unwrap();
    dev.set_timeout_millis(200);
    let d = dev.clone();
    let err = spawn(move || d.state()).get().unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    // the late reply arrives meanwhile and is dropped; the next calls get their own
    may::coroutine::sleep(Duration::from_millis(600));
    dev.set_timeout_millis(2000);
    let d = dev.clone();
    assert_eq!(spawn(move || d.state()).get().unwrap(), DevState::On);
    assert_eq!(dev.state().unwrap(), DevState::On);
    assert_eq!(server.connections(), 1);
}

#[test]
fn close_connection_is_retried_on_a_new_connection() {
    one_worker();
    let server = MockServer::start(|_, n| match n {
        0 => Action::CloseConnection,
        _ => Action::state(DevState::On),
    });
    let dev = DeviceProxy::new(&server.device()).unwrap();
    assert_eq!(spawn(move || dev.state()).get().unwrap(), DevState::On);
    assert_eq!(server.connections(), 2);
}

#[test]
fn garbage_fails_the_call_and_the_next_call_reconnects() {
    one_worker();
    let server = MockServer::start(|_, n| match n {
        0 => Action::Garbage,
        _ => Action::state(DevState::On),
    });
    let dev = DeviceProxy::new(&server.device()).unwrap();
    let d = dev.clone();
    let err = spawn(move || d.state()).get().unwrap_err();
    assert!(matches!(err, Error::ConnectionLost { .. }), "{err}");
    assert_eq!(dev.state().unwrap(), DevState::On);
    assert_eq!(server.connections(), 2);
}

#[test]
fn many_coroutines_waiting_on_one_slow_connection_all_get_their_reply() {
    one_worker();
    // replies come back in reverse order of the requests' delays
    let server = MockServer::start(|_, n| {
        Action::state_after(
            Duration::from_millis((200 - (n % 200) as u64) / 4),
            DevState::On,
        )
    });
    let dev = DeviceProxy::new(&server.device()).unwrap();
    let pending: Vec<_> = (0..200)
        .map(|_| {
            let dev = dev.clone();
            spawn(move || dev.state())
        })
        .collect();
    for p in pending {
        assert_eq!(p.get().unwrap(), DevState::On);
    }
    assert_eq!(server.connections(), 1);
}
