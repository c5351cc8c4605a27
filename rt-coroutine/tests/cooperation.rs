//! Gevent semantics at scale: 10,000 coroutines on two may worker threads each read an
//! attribute at once; every read succeeds, they really wait at the same time, the process
//! keeps a handful of OS threads, and all requests go through one TCP connection.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tango_coroutine::{spawn, CoConnection, DeviceProxy};

const COROUTINES: usize = 10_000;

/// `Threads:` of /proc/self/status.
fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: in /proc/self/status")
}

/// The established TCP connections of this process to 127.0.0.1:`port`, counted by
/// socket (a socket duplicated into two descriptors counts once).
fn tcp_connections_to(port: u16) -> usize {
    let mine: HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 9 && f[2] == remote && f[3] == "01" && mine.contains(f[9])
        })
        .count()
}

/// `tango://HOST:PORT/...` -> (HOST, PORT).
fn endpoint(device: &str) -> (String, u16) {
    let rest = device.trim_start_matches("tango://");
    let hostport = rest.split('/').next().unwrap();
    let (host, port) = hostport.rsplit_once(':').unwrap();
    (host.to_owned(), port.parse().unwrap())
}

fn ten_thousand_reads(device: &str) {
    let dev = DeviceProxy::new(device).unwrap();
    // 10,000 requests queue up at the server, which answers them one after the other.
    dev.set_timeout_millis(60_000);
    dev.state().unwrap();
    let (host, port) = endpoint(device);
    let conn = CoConnection::shared(&host, port);
    let made_before = conn.connections_made();

    let in_flight = Arc::new(AtomicUsize::new(0));
    let most_in_flight = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let pending: Vec<_> = (0..COROUTINES)
        .map(|_| {
            let dev = dev.clone();
            let in_flight = in_flight.clone();
            let most = most_in_flight.clone();
            spawn(move || {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let r = dev
                    .read_attribute("double_scalar")
                    .and_then(|a| a.get::<f64>());
                in_flight.fetch_sub(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    let mut threads = os_threads();
    let mut sockets = tcp_connections_to(port);
    let mut ok = 0;
    for (i, p) in pending.into_iter().enumerate() {
        if i == COROUTINES / 2 {
            threads = threads.max(os_threads());
            sockets = sockets.max(tcp_connections_to(port));
        }
        let x = p
            .get()
            .unwrap_or_else(|e| panic!("read {i} of {device}: {e}"));
        assert!(x.is_finite());
        ok += 1;
    }
    let elapsed = start.elapsed();
    threads = threads.max(os_threads());
    let most = most_in_flight.load(Ordering::SeqCst);
    eprintln!(
        "{device}: {ok} reads by {COROUTINES} coroutines in {elapsed:?} ({:.0} reads/s); \
         at most {most} in flight; {threads} OS threads; {sockets} TCP connection(s)",
        ok as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(ok, COROUTINES);
    assert!(threads < 50, "{threads} OS threads");
    assert_eq!(sockets, 1, "one TCP connection to the server");
    assert_eq!(conn.connections_made(), made_before, "no reconnection");
    // Cooperation: coroutines waited at the same time, not one after the other (two
    // worker threads that blocked would allow two at most).
    assert!(most > 100, "at most {most} reads were in flight at once");
}

#[test]
fn ten_thousand_coroutines_on_two_threads_share_one_connection() {
    if !tango_testkit::require_interop() {
        return;
    }
    may::config().set_workers(2);
    for device in [
        tango_testkit::cpp_tangotest_device(),
        tango_testkit::rust_tangotest_device(),
    ] {
        ten_thousand_reads(&device);
    }
    // the connection is still fine afterwards, from a plain thread too
    let dev = DeviceProxy::with_timeout(
        &tango_testkit::cpp_tangotest_device(),
        Duration::from_secs(3),
    )
    .unwrap();
    dev.read_attribute("double_scalar").unwrap();
}
