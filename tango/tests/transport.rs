//! Failure handling of the blocking transport, against a scripted GIOP server in this
//! process (`tango_testkit::mock_server`, no Tango peer needed): timeouts, late replies,
//! `CloseConnection`, garbage, servers that never answer, and sharing one connection between
//! threads.

use std::thread;
use std::time::{Duration, Instant};

use tango::{DevState, DeviceProxy, Error};
use tango_testkit::mock_server::{Action, MockServer};

fn state_on() -> Action {
    Action::state(DevState::On)
}

#[test]
fn a_timeout_abandons_the_request_and_keeps_the_connection() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => Action::Reply(
            Duration::from_millis(400),
            Box::new(|w| w.write_ulong(DevState::Fault as u32)),
        ),
        _ => state_on(),
    });
    let dev = DeviceProxy::new(&server.device()).unwrap();
    dev.set_timeout_millis(100);
    let t = Instant::now();
    let err = dev.state().unwrap_err();
    let waited = t.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(err.reason(), "API_DeviceTimedOut");
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(300),
        "{waited:?}"
    );
    // the late FAULT reply arrives while we wait for this one, and is dropped
    dev.set_timeout_millis(2000);
    thread::sleep(Duration::from_millis(400));
    assert_eq!(dev.state().unwrap(), DevState::On);
    assert_eq!(dev.state().unwrap(), DevState::On);
    assert_eq!(server.connections(), 1);
}

#[test]
fn close_connection_from_the_server_is_retried_on_a_new_connection() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => Action::CloseConnection,
        _ => state_on(),
    });
    let dev = DeviceProxy::new(&server.device()).unwrap();
    assert_eq!(dev.state().unwrap(), DevState::On);
    assert_eq!(server.connections(), 2);
}

#[test]
fn garbage_fails_the_call_and_the_next_call_reconnects() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => Action::Garbage,
        _ => state_on(),
    });
    let dev = DeviceProxy::new(&server.device()).unwrap();
    let err = dev.state().unwrap_err();
    assert!(matches!(err, Error::ConnectionLost { .. }), "{err}");
    assert!(err.to_string().contains("GIOP"), "{err}");
    assert_eq!(dev.state().unwrap(), DevState::On);
    assert_eq!(server.connections(), 2);
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = MockServer::start(|_, _| Action::Ignore);
    let dev = DeviceProxy::new(&server.device()).unwrap();
    dev.set_timeout_millis(200);
    let t = Instant::now();
    assert!(matches!(dev.ping(), Err(Error::Timeout { .. })));
    assert!(t.elapsed() < Duration::from_millis(600));
}

#[test]
fn nothing_listening_is_server_not_running() {
    let port = tango_testkit::free_port();
    let dev = DeviceProxy::new(&format!("tango://127.0.0.1:{port}/a/b/c#dbase=no")).unwrap();
    let t = Instant::now();
    let err = dev.state().unwrap_err();
    assert!(matches!(err, Error::ServerNotRunning { .. }), "{err}");
    assert!(err.to_string().contains("not running"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn threads_share_one_connection() {
    let server = MockServer::start(|_, _| state_on());
    let dev = DeviceProxy::new(&server.device()).unwrap();
    let other = DeviceProxy::new(&server.device()).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let d = if i % 2 == 0 {
                dev.clone()
            } else {
                other.clone()
            };
            thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(d.state().unwrap(), DevState::On);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(server.connections(), 1);
}

#[test]
fn names_that_need_a_database_are_refused_clearly() {
    let err = DeviceProxy::new("tango://127.0.0.1:1/a/b/c").unwrap_err();
    assert!(matches!(err, Error::NotSupported(_)), "{err}");
    assert!(err.to_string().contains("#dbase=no"), "{err}");
    let err = DeviceProxy::new("not a device").unwrap_err();
    assert!(matches!(err, Error::Name(_)), "{err}");
}

/// Polls a future of the blocking transport, which is ready at once.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the blocking transport is never pending"),
    }
}

#[test]
fn a_per_call_deadline_overrides_the_proxy_timeout() {
    let server = MockServer::start(|_, _| Action::Ignore);
    let dev = DeviceProxy::with_timeout(&server.device(), Duration::from_secs(5)).unwrap();
    let t = Instant::now();
    let err = ready(
        dev.core()
            .with_call_timeout(Duration::from_millis(150))
            .ping(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_millis(600),
        "{waited:?}"
    );
    // the proxy itself keeps its own timeout
    assert_eq!(dev.get_timeout_millis(), 5000);
}
