//! The checks of the `attribute_server` example, shared by the runtime crates (tokio,
//! smol, async-std, coroutine: each serves the same line protocol from its own example).
//! Each crate's `tests/attribute_server.rs` includes this file by path, declares its
//! example as `mod example` and calls [`attribute_server_tests!`] with the listener type
//! its example's `run(listener, server)` takes.
//!
//! The example is run in-process against the C++ and the Rust TangoTest: clients connect
//! over TCP and ask for values, `state`, missing attributes and garbage.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// `tango://127.0.0.1:PORT` from `tango://127.0.0.1:PORT/sys/tg_test/1#dbase=no`.
pub fn server_base(device: &str) -> String {
    let after_scheme = device
        .strip_prefix("tango://")
        .expect("a tango:// device name");
    let host_port = after_scheme.split('/').next().unwrap();
    format!("tango://{host_port}")
}

/// A client of the example's line protocol.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to the example at `addr`.
    pub fn connect(addr: SocketAddr) -> Self {
        let writer = TcpStream::connect(addr).unwrap();
        writer
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Client { reader, writer }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("a reply line");
        assert!(line.ends_with('\n'), "reply cut short: {line:?}");
        line.trim_end_matches('\n').to_owned()
    }

    /// Sends `question` and reads a one-line value reply.
    pub fn value(&mut self, question: &[u8]) -> String {
        self.writer.write_all(question).unwrap();
        self.writer.write_all(b"\n").unwrap();
        let line = self.line();
        assert!(!line.is_empty(), "empty reply to {question:?}");
        line
    }

    /// Sends `question` and reads an error reply: lines up to a blank one.
    pub fn error(&mut self, question: &[u8]) -> String {
        let mut text = self.value(question);
        loop {
            let line = self.line();
            if line.is_empty() {
                return text;
            }
            text.push('\n');
            text.push_str(&line);
        }
    }
}

/// Values, state, errors and garbage through the example serving `device`'s server,
/// started by `start` (which returns where it listens).
pub fn check_device(device: &str, start: fn(&str) -> SocketAddr) {
    let base = server_base(device);
    let addr = start(&base);
    let mut c = Client::connect(addr);

    let v = c.value(b"sys/tg_test/1/double_scalar");
    assert!(v.parse::<f64>().is_ok(), "double_scalar: {v:?}");
    assert_eq!(c.value(b"sys/tg_test/1/state"), "RUNNING");
    assert_eq!(c.value(b"  SYS/TG_TEST/1/State  \r"), "RUNNING");

    let e = c.error(b"sys/tg_test/1/no_such_attr");
    assert!(e.contains("API_AttrNotFound"), "no_such_attr: {e}");
    assert!(e.starts_with("DevFailed["), "no_such_attr: {e}");

    let full = format!("{base}/sys/tg_test/1/long_scalar#dbase=no");
    let v = c.value(full.as_bytes());
    assert!(v.parse::<i64>().is_ok(), "{full}: {v:?}");
    let v = c.value(b"sys/tg_test/1/double_spectrum_ro");
    assert!(v.starts_with('[') && v.ends_with(']'), "spectrum: {v:?}");
    c.value(b"sys/tg_test/1/string_scalar");

    for garbage in [
        &b"not a name"[..],
        b"",
        b"a/b",
        b"\xff\xfe/x/y/z/w",
        b"x://h:1/a/b/c/d",
    ] {
        let e = c.error(garbage);
        assert!(!e.contains("DevFailed"), "{garbage:?}: {e}");
    }
    let e = c.error(b"sys/tg_test/99/x");
    assert!(
        e.contains("not defined in the server"),
        "missing device: {e}"
    );
    let e = c.error(b"tango://127.0.0.1:1/a/b/c/d#dbase=no");
    assert!(e.contains("not running"), "no server: {e}");

    // Still serving after all that.
    assert_eq!(c.value(b"sys/tg_test/1/state"), "RUNNING");
}

/// A client that connects and says nothing does not hold up the others, and several
/// clients are served at once.
pub fn serves_clients_concurrently(start: fn(&str) -> SocketAddr) {
    let addr = start(&server_base(&tango_testkit::cpp_tangotest_device()));
    let mut idle = Client::connect(addr);
    let mut busy = Client::connect(addr);
    assert_eq!(busy.value(b"sys/tg_test/1/state"), "RUNNING");
    let e = idle.error(b"sys/tg_test/1/no_such_attr");
    assert!(e.contains("API_AttrNotFound"), "{e}");

    let clients: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for _ in 0..10 {
                    let v = c.value(b"sys/tg_test/1/double_scalar");
                    assert!(v.parse::<f64>().is_ok(), "client {i}: {v:?}");
                    assert_eq!(c.value(b"sys/tg_test/1/state"), "RUNNING");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

/// The tests of one crate's example, whose `example::run(listener, server)` takes a
/// `$listener` (bound with `<$listener>::bind("127.0.0.1:0")`).
macro_rules! attribute_server_tests {
    ($listener:ty) => {
        /// Starts the example's server on a free port, reading short names from `server`.
        fn start(server: &str) -> std::net::SocketAddr {
            let listener = <$listener>::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = server.to_owned();
            std::thread::spawn(move || example::run(listener, &server));
            addr
        }

        #[test]
        fn answers_values_state_and_errors_from_cpp_tangotest() {
            if !tango_testkit::require_interop() {
                return;
            }
            checks::check_device(&tango_testkit::cpp_tangotest_device(), start);
        }

        #[test]
        fn answers_values_state_and_errors_from_rust_tangotest() {
            if !tango_testkit::require_interop() {
                return;
            }
            checks::check_device(&tango_testkit::rust_tangotest_device(), start);
        }

        #[test]
        fn serves_clients_concurrently() {
            if !tango_testkit::require_interop() {
                return;
            }
            checks::serves_clients_concurrently(start);
        }
    };
}
pub(crate) use attribute_server_tests;
