//! Failure handling of the blocking transport, against a scripted GIOP server in this
//! process (no Tango peer needed): timeouts, late replies, `CloseConnection`, garbage,
//! servers that never answer, and sharing one connection between threads.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tango::{DevState, DeviceProxy, Error};
use tango_core::cdr::CdrWriter;
use tango_core::giop::{self, FrameDecoder, ReplyHeader, ReplyStatus, Version};

/// What the scripted server does with one request.
enum Action {
    /// Reply NO_EXCEPTION with this body, after a delay.
    Reply(Duration, Box<dyn FnOnce(&mut CdrWriter) + Send>),
    /// Send GIOP CloseConnection and close the socket.
    CloseConnection,
    /// Send bytes that are not GIOP.
    Garbage,
    /// Never answer.
    Ignore,
}

/// `(operation, how many times this operation was seen before)` -> what to do.
type Script = dyn Fn(&str, usize) -> Action + Send + Sync;

struct MockServer {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl MockServer {
    /// A Device_5 server answering `script` for every operation other than `_is_a`.
    fn start(script: impl Fn(&str, usize) -> Action + Send + Sync + 'static) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        let counts = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
            String,
            usize,
        >::new()));
        let conns = connections.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                conns.fetch_add(1, Ordering::SeqCst);
                let script = script.clone();
                let counts = counts.clone();
                thread::spawn(move || serve(stream, &*script, &counts));
            }
        });
        MockServer { port, connections }
    }

    fn device(&self) -> String {
        format!("tango://127.0.0.1:{}/test/mock/1#dbase=no", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn reply(stream: &mut TcpStream, id: u32, body: impl FnOnce(&mut CdrWriter)) {
    let bytes = giop::encode_reply(
        Version::V1_0,
        &ReplyHeader {
            request_id: id,
            status: ReplyStatus::NoException,
            service_contexts: vec![],
        },
        body,
    );
    let _ = stream.write_all(&bytes);
}

fn serve(
    mut stream: TcpStream,
    script: &Script,
    counts: &std::sync::Mutex<std::collections::HashMap<String, usize>>,
) {
    let mut framer = FrameDecoder::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        framer.push(&buf[..n]);
        while let Ok(Some(msg)) = framer.next_message() {
            let (header, mut args) = giop::decode_request(&msg).unwrap();
            let id = header.request_id;
            if header.operation == "_is_a" {
                let repo = args.read_string().unwrap();
                reply(&mut stream, id, |w| {
                    w.write_bool(repo == "IDL:Tango/Device_5:1.0")
                });
                continue;
            }
            let seen = {
                let mut c = counts.lock().unwrap();
                let e = c.entry(header.operation.clone()).or_default();
                *e += 1;
                *e - 1
            };
            match script(&header.operation, seen) {
                Action::Reply(delay, body) => {
                    let mut s = stream.try_clone().unwrap();
                    thread::spawn(move || {
                        thread::sleep(delay);
                        reply(&mut s, id, body);
                    });
                }
                Action::CloseConnection => {
                    let _ = stream.write_all(&giop::encode_close_connection(Version::V1_0));
                    return;
                }
                Action::Garbage => {
                    let _ = stream.write_all(b"POIG\x01\x00\x01\x01\x00\x00\x00\x00");
                }
                Action::Ignore => {}
            }
        }
    }
}

fn state_on() -> Action {
    Action::Reply(
        Duration::ZERO,
        Box::new(|w| w.write_ulong(DevState::On as u32)),
    )
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
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
