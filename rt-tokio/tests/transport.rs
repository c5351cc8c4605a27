//! Failure handling of the async transport on tokio, against a scripted GIOP server in this
//! process (`tango_testkit::mock_server`, no Tango peer needed): timeouts and late replies, cancellation by dropping a
//! call, `CloseConnection`, garbage, a server restart, nothing listening, and many calls
//! in flight answered out of order on one connection.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tango_client::Transport;
use tango_testkit::mock_server::{Action, MockServer};
use tango_tokio::{Connection, DevState, DeviceProxy, Error};

/// The client side's shared connection to `server`.
fn client_connection(server: &MockServer) -> Arc<Connection> {
    Connection::for_endpoint("127.0.0.1", server.port())
}

fn state(s: DevState) -> Action {
    Action::state(s)
}

fn late_state(after_ms: u64, s: DevState) -> Action {
    Action::state_after(Duration::from_millis(after_ms), s)
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_abandons_the_request_and_keeps_the_connection() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => late_state(400, DevState::Fault),
        _ => state(DevState::On),
    });
    let dev = DeviceProxy::connect(&server.device(), Duration::from_secs(2))
        .await
        .unwrap();
    dev.set_timeout_millis(100);
    let t = Instant::now();
    let err = dev.state().await.unwrap_err();
    let waited = t.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(err.reason(), "API_DeviceTimedOut");
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(300),
        "{waited:?}"
    );
    let conn = client_connection(&server);
    assert_eq!(conn.in_flight(), 0);
    // the late FAULT reply arrives while we wait for these, and is dropped
    dev.set_timeout_millis(2000);
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    assert!(conn.is_connected());
    assert_eq!(conn.connections_made(), 1);
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_pending_call_cancels_it_and_keeps_the_connection() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => late_state(300, DevState::Fault),
        ("ping", _) => Action::Ignore,
        _ => state(DevState::On),
    });
    let dev = tango_tokio::connect(&server.device()).await.unwrap();
    let conn = client_connection(&server);
    // our own, shorter deadline drops the call's future
    let t = Instant::now();
    let r = tokio::time::timeout(Duration::from_millis(100), dev.state()).await;
    assert!(r.is_err(), "the mock answers after 300 ms: {r:?}");
    assert!(t.elapsed() < Duration::from_millis(250));
    assert_eq!(conn.in_flight(), 0, "the dropped call is still registered");
    // a call aborted in a spawned task is cancelled too
    let d2 = dev.clone();
    let task = tokio::spawn(async move { d2.ping().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(conn.in_flight(), 1, "the ping is waiting for its reply");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(conn.in_flight(), 0, "the aborted call is still registered");
    // the late FAULT reply comes and is dropped; the connection serves the next calls
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    assert_eq!(conn.in_flight(), 0);
    assert_eq!(conn.connections_made(), 1);
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn close_connection_from_the_server_is_retried_on_a_new_connection() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => Action::CloseConnection,
        _ => state(DevState::On),
    });
    let dev = tango_tokio::connect(&server.device()).await.unwrap();
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    assert_eq!(server.connections(), 2);
    assert_eq!(client_connection(&server).connections_made(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn close_connection_retries_every_unanswered_call_in_flight() {
    // the second state request closes the connection while 48 more are waiting: they
    // never ran, and are sent again on a new connection
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => late_state(0, DevState::On),
        ("_get_state", 1) => Action::CloseConnection,
        _ => state(DevState::On),
    });
    let dev = tango_tokio::connect(&server.device()).await.unwrap();
    let calls = (0..50).map(|_| dev.state());
    let results = futures_util::future::join_all(calls).await;
    for r in results {
        assert_eq!(r.unwrap(), DevState::On);
    }
    assert_eq!(server.connections(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_fails_the_call_and_the_next_call_reconnects() {
    let server = MockServer::start(|op, seen| match (op, seen) {
        ("_get_state", 0) => Action::Garbage,
        _ => state(DevState::On),
    });
    let dev = tango_tokio::connect(&server.device()).await.unwrap();
    let err = dev.state().await.unwrap_err();
    assert!(matches!(err, Error::ConnectionLost { .. }), "{err}");
    assert!(err.to_string().contains("GIOP"), "{err}");
    assert_eq!(err.reason(), "API_CommunicationFailed");
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    assert_eq!(server.connections(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_that_never_answers_times_out() {
    let server = MockServer::start(|_, _| Action::Ignore);
    let dev = tango_tokio::connect(&server.device()).await.unwrap();
    dev.set_timeout_millis(200);
    let t = Instant::now();
    let err = dev.ping().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_millis(600));
}

#[tokio::test(flavor = "current_thread")]
async fn after_a_server_restart_the_next_call_reconnects() {
    let server = MockServer::start(|_, _| state(DevState::On));
    let port = server.port();
    let dev = tango_tokio::connect(&server.device()).await.unwrap();
    assert_eq!(dev.state().await.unwrap(), DevState::On);
    let conn = client_connection(&server);
    assert_eq!(conn.connections_made(), 1);
    server.stop();
    // the reader task sees the end of stream
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!conn.is_connected());
    let err = dev.state().await.unwrap_err();
    assert!(matches!(err, Error::ServerNotRunning { .. }), "{err}");
    let server = MockServer::start_on(port, |_, _| state(DevState::Alarm));
    let t = Instant::now();
    assert_eq!(dev.state().await.unwrap(), DevState::Alarm);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(conn.connections_made(), 2);
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_listening_is_server_not_running() {
    let port = tango_testkit::free_port();
    let name = format!("tango://127.0.0.1:{port}/test/nobody/1#dbase=no");
    // as in cppTango, the proxy is made; the calls say why they fail
    let dev = tango_tokio::connect(&name).await.unwrap();
    let t = Instant::now();
    let err = dev.state().await.unwrap_err();
    assert!(matches!(err, Error::ServerNotRunning { .. }), "{err}");
    assert_eq!(err.reason(), "API_CantConnectToDevice");
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "current_thread")]
async fn many_calls_in_flight_are_matched_to_out_of_order_replies() {
    const N: usize = 40;
    // request i is answered after (N - i) * 5 ms with state i % 14: the last sent comes first
    let server = MockServer::start(|op, seen| match op {
        "_get_state" => Action::Reply(
            Duration::from_millis(((N - seen.min(N)) * 5) as u64),
            Box::new(move |w| w.write_ulong((seen % 14) as u32)),
        ),
        _ => state(DevState::On),
    });
    let dev = tango_tokio::connect(&server.device()).await.unwrap();
    let t = Instant::now();
    let results = futures_util::future::join_all((0..N).map(|_| dev.state())).await;
    // pipelined: about the longest delay, not the sum of all
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap() as usize, i % 14, "call {i}");
    }
    assert_eq!(server.connections(), 1);
}

/// A minimal executor that is not tokio.
fn block_on_without_tokio<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark()
        }
    }
    let waker = Arc::new(Unpark(thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

#[test]
fn outside_a_tokio_runtime_calls_fail_with_a_clear_error() {
    let server = MockServer::start(|_, _| state(DevState::On));
    let err = block_on_without_tokio(async {
        let dev = tango_tokio::connect(&server.device()).await.unwrap();
        dev.state().await.unwrap_err()
    });
    assert!(matches!(err, Error::CannotConnect { .. }), "{err}");
    assert!(err.to_string().contains("no tokio runtime"), "{err}");
    assert_eq!(server.connections(), 0);
}
