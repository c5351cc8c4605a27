//! The `attribute_server` example of tango-coroutine, run in-process against the C++ and the Rust
//! TangoTest: clients connect over TCP and ask for values, `state`, missing attributes, garbage.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[allow(dead_code)]
#[path = "../examples/attribute_server.rs"]
mod example;

/// `tango://127.0.0.1:PORT` from `tango://127.0.0.1:PORT/sys/tg_test/1#dbase=no`.
fn server_base(device: &str) -> String {
    let after_scheme = device
        .strip_prefix("tango://")
        .expect("a tango:// device name");
    let host_port = after_scheme.split('/').next().unwrap();
    format!("tango://{host_port}")
}

/// Starts the example's server on a free port, reading short names from `server`.
fn start(server: &str) -> SocketAddr {
    let listener = may::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = server.to_owned();
    std::thread::spawn(move || example::run(listener, &server));
    addr
}

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
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
    fn value(&mut self, question: &[u8]) -> String {
        self.writer.write_all(question).unwrap();
        self.writer.write_all(b"\n").unwrap();
        let line = self.line();
        assert!(!line.is_empty(), "empty reply to {question:?}");
        line
    }

    /// Sends `question` and reads an error reply: lines up to a blank one.
    fn error(&mut self, question: &[u8]) -> String {
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

fn check_device(device: &str) {
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

#[test]
fn answers_values_state_and_errors_from_cpp_tangotest() {
    if !tango_testkit::require_interop() {
        return;
    }
    check_device(&tango_testkit::cpp_tangotest_device());
}

#[test]
fn answers_values_state_and_errors_from_rust_tangotest() {
    if !tango_testkit::require_interop() {
        return;
    }
    check_device(&tango_testkit::rust_tangotest_device());
}

#[test]
fn serves_clients_concurrently() {
    if !tango_testkit::require_interop() {
        return;
    }
    let addr = start(&server_base(&tango_testkit::cpp_tangotest_device()));
    // A client that connects and says nothing must not hold up the others.
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
