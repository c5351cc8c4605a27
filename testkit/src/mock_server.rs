//! A scripted GIOP server in the test's own process, for the failure tests of the client
//! transports (no Tango peer needed): a Device_5 that answers `_is_a` itself and every other
//! request as a script says (reply after a delay, `CloseConnection`, garbage, silence).
//!
//! ```no_run
//! use std::time::Duration;
//! use tango_core::idl::DevState;
//! use tango_testkit::mock_server::{Action, MockServer};
//!
//! // The first `state` is late; every other request is answered at once with ON.
//! let server = MockServer::start(|op, seen| match (op, seen) {
//!     ("_get_state", 0) => Action::state_after(Duration::from_millis(400), DevState::Fault),
//!     _ => Action::state(DevState::On),
//! });
//! let device = server.device(); // tango://127.0.0.1:PORT/test/mock/1#dbase=no
//! // ... connect to `device`, then look at server.connections(), server.requests() ...
//! ```

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tango_core::cdr::CdrWriter;
use tango_core::giop::{self, FrameDecoder, ReplyHeader, ReplyStatus, Version};
use tango_core::idl::DevState;

/// What the scripted server does with one request.
pub enum Action {
    /// Reply NO_EXCEPTION with this body, after a delay (at once, in request order, when the
    /// delay is zero; from a thread of its own otherwise, so later requests may be answered
    /// first).
    Reply(Duration, Box<dyn FnOnce(&mut CdrWriter) + Send>),
    /// Send GIOP CloseConnection and close the socket.
    CloseConnection,
    /// Send bytes that are not GIOP.
    Garbage,
    /// Never answer.
    Ignore,
}

impl Action {
    /// Reply at once with the state `s` (a body that also reads fine as `ping`'s empty reply).
    pub fn state(s: DevState) -> Action {
        Self::state_after(Duration::ZERO, s)
    }

    /// Reply with the state `s` after `delay`.
    pub fn state_after(delay: Duration, s: DevState) -> Action {
        Action::Reply(delay, Box::new(move |w| w.write_ulong(s as u32)))
    }
}

/// `(operation, how many times this operation was seen before)` -> what to do.
type Script = dyn Fn(&str, usize) -> Action + Send + Sync;

/// The device name of the mock device on `port`: `tango://127.0.0.1:PORT/test/mock/1#dbase=no`.
pub fn device_at(port: u16) -> String {
    format!("tango://127.0.0.1:{port}/test/mock/1#dbase=no")
}

/// A server that accepts connections and never says a word; returns its port.
pub fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    port
}

/// A running scripted server; its threads live as long as the test process (or until
/// [`MockServer::stop`]).
pub struct MockServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    /// Accepted sockets, to close them all in `stop`.
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    stopped: Arc<AtomicBool>,
}

impl MockServer {
    /// A Device_5 server on a free port of 127.0.0.1 answering `script(operation, times
    /// seen before)` for every operation other than `_is_a`.
    pub fn start(script: impl Fn(&str, usize) -> Action + Send + Sync + 'static) -> MockServer {
        Self::start_on(0, script)
    }

    /// Like [`MockServer::start`], on `port` of 127.0.0.1 (0: a free one).
    pub fn start_on(
        port: u16,
        script: impl Fn(&str, usize) -> Action + Send + Sync + 'static,
    ) -> MockServer {
        Self::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), script)
    }

    /// Like [`MockServer::start`], accepting on `listener`.
    pub fn on(
        listener: TcpListener,
        script: impl Fn(&str, usize) -> Action + Send + Sync + 'static,
    ) -> MockServer {
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let (conns, reqs, acc, stop) = (
            connections.clone(),
            requests.clone(),
            accepted.clone(),
            stopped.clone(),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return; // drops the listener
                }
                let Ok(stream) = stream else { return };
                conns.fetch_add(1, Ordering::SeqCst);
                acc.lock().unwrap().push(stream.try_clone().unwrap());
                let (script, counts, reqs) = (script.clone(), counts.clone(), reqs.clone());
                thread::spawn(move || serve(stream, &*script, &counts, &reqs));
            }
        });
        MockServer {
            port,
            connections,
            requests,
            accepted,
            stopped,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The mock device's name, see [`device_at`].
    pub fn device(&self) -> String {
        device_at(self.port)
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many requests other than `_is_a` it received.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every accepted connection, as a server that exits; returns
    /// once the port is free again.
    pub fn stop(self) {
        self.stopped.store(true, Ordering::SeqCst);
        // wake the accept loop so that it drops the listener
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for s in self.accepted.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // wait until the port is free again
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(t.elapsed() < Duration::from_secs(5), "listener still open");
            thread::sleep(Duration::from_millis(10));
        }
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

/// Serves one connection; replies are written whole under a lock, so that late ones from
/// other threads never interleave.
fn serve(
    mut stream: TcpStream,
    script: &Script,
    counts: &Mutex<HashMap<String, usize>>,
    requests: &AtomicUsize,
) {
    let mut framer = FrameDecoder::new();
    let mut buf = [0u8; 4096];
    let out = Arc::new(Mutex::new(stream.try_clone().unwrap()));
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
                reply(&mut out.lock().unwrap(), id, |w| {
                    w.write_bool(repo == "IDL:Tango/Device_5:1.0")
                });
                continue;
            }
            requests.fetch_add(1, Ordering::SeqCst);
            let seen = {
                let mut c = counts.lock().unwrap();
                let e = c.entry(header.operation.clone()).or_default();
                *e += 1;
                *e - 1
            };
            match script(&header.operation, seen) {
                Action::Reply(delay, body) if delay.is_zero() => {
                    reply(&mut out.lock().unwrap(), id, body)
                }
                Action::Reply(delay, body) => {
                    let out = out.clone();
                    thread::spawn(move || {
                        thread::sleep(delay);
                        reply(&mut out.lock().unwrap(), id, body);
                    });
                }
                Action::CloseConnection => {
                    let mut s = out.lock().unwrap();
                    let _ = s.write_all(&giop::encode_close_connection(Version::V1_0));
                    let _ = s.shutdown(Shutdown::Both);
                    return;
                }
                Action::Garbage => {
                    let _ = out
                        .lock()
                        .unwrap()
                        .write_all(b"POIG\x01\x00\x01\x01\x00\x00\x00\x00");
                }
                Action::Ignore => {}
            }
        }
    }
}
