//! 10,000 concurrent `read_attribute` calls from one task on a current-thread runtime:
//! all succeed, and they share ONE TCP connection (`TANGO_INTEROP=1`).
//!
//! In its own test binary so that no other test of the process talks to the same servers
//! (the connection counter is per endpoint and per process).

use std::time::Instant;

use futures_util::future::{join, join_all};

const CALLS: usize = 10_000;

/// `host` and `port` of a `tango://host:port/...` name.
fn endpoint(name: &str) -> (String, u16) {
    let rest = name.strip_prefix("tango://").expect("tango:// name");
    let hp = rest.split('/').next().unwrap();
    let (h, p) = hp.rsplit_once(':').unwrap();
    (h.to_owned(), p.parse().unwrap())
}

async fn ten_thousand_reads(name: &str, server: &str) {
    let dev = tango_tokio::connect(name).await.unwrap();
    // a slow debug-build server may need more than 3 s for the whole burst
    dev.set_timeout_millis(60_000);
    dev.write_attribute("double_scalar", 7.25).await.unwrap();
    let (host, port) = endpoint(name);
    let conn = tango_tokio::Connection::shared(&host, port);
    assert_eq!(conn.connections_made(), 1);

    let t = Instant::now();
    let reads = join_all((0..CALLS).map(|_| dev.read_attribute("double_scalar")));
    // look at the connection once every call has been sent
    let peek = async {
        tokio::task::yield_now().await;
        conn.in_flight()
    };
    let (results, in_flight) = join(reads, peek).await;
    let elapsed = t.elapsed();
    assert_eq!(results.len(), CALLS);
    for r in results {
        let a = r.unwrap();
        let w: f64 = a.get_w().unwrap();
        assert_eq!(w, 7.25);
    }
    assert!(
        in_flight >= CALLS / 2,
        "only {in_flight} calls were in flight at once"
    );
    assert_eq!(conn.connections_made(), 1, "more than one TCP connection");
    assert_eq!(conn.in_flight(), 0);
    eprintln!(
        "tango-tokio: {CALLS} concurrent read_attribute(double_scalar) on one connection \
         to the {server} TangoTest in {elapsed:?}: {:.0} ops/s (peak in flight {in_flight})",
        CALLS as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn ten_thousand_concurrent_reads_on_one_connection_rust_server() {
    if !tango_testkit::require_interop() {
        return;
    }
    ten_thousand_reads(&tango_testkit::rust_tangotest_device(), "Rust").await;
}

#[tokio::test(flavor = "current_thread")]
async fn ten_thousand_concurrent_reads_on_one_connection_cpp_server() {
    if !tango_testkit::require_interop() {
        return;
    }
    ten_thousand_reads(&tango_testkit::cpp_tangotest_device(), "C++").await;
}
