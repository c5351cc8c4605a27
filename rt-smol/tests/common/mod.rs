//! Cases shared by the async-io runtime crates (`tango-smol`, `tango-async-std`): each
//! crate's `tests/client.rs` includes this file and instantiates [`runtime_cases!`] with
//! its runtime and its `block_on`, as rustls runs one case file per provider.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tango_client::{AsyncDeviceProxy, AsyncRuntime, Error};
use tango_core::any::CommandData;
use tango_core::idl::DevState;

/// Reads started at once from one executor by [`concurrent_reads`].
pub const CONCURRENT_READS: usize = 10_000;

pub async fn proxy<R: AsyncRuntime>(device: &str) -> AsyncDeviceProxy<R> {
    AsyncDeviceProxy::<R>::connect(device, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("connect {device} on {}: {e}", R::NAME))
}

pub async fn state<R: AsyncRuntime>(device: &str) {
    let dev = proxy::<R>(device).await;
    assert_eq!(dev.state().await.unwrap(), DevState::Running);
    assert!(dev.status().await.unwrap().contains("RUNNING"));
    assert_eq!(dev.dev_name(), "sys/tg_test/1");
}

pub async fn write_read_round_trip<R: AsyncRuntime>(device: &str) {
    let dev = proxy::<R>(device).await;
    for v in [12.5f64, -3.25] {
        dev.write_attribute("double_scalar", v).await.unwrap();
        let a = dev.read_attribute("double_scalar").await.unwrap();
        assert_eq!(a.get_w::<f64>().unwrap(), v, "{a:?}");
    }
    dev.write_attribute("long_scalar_w", 4242i32).await.unwrap();
    let a = dev.read_attribute("long_scalar_w").await.unwrap();
    assert_eq!(a.get_w::<i32>().unwrap(), 4242, "{a:?}");
}

pub async fn command_echo<R: AsyncRuntime>(device: &str) {
    let dev = proxy::<R>(device).await;
    assert_eq!(
        dev.command_inout("DevString", "héllo").await.unwrap(),
        CommandData::String("héllo".into())
    );
    assert_eq!(
        dev.command_inout("DevDouble", 3.5f64).await.unwrap(),
        CommandData::Double(3.5)
    );
    assert_eq!(
        dev.command_inout("DevVarLongArray", vec![1i32, -2, 3])
            .await
            .unwrap(),
        CommandData::LongArray(vec![1, -2, 3])
    );
    assert_eq!(
        dev.command_inout("DevVoid", ()).await.unwrap(),
        CommandData::Void
    );
}

pub async fn error_reasons<R: AsyncRuntime>(device: &str) {
    let dev = proxy::<R>(device).await;
    let err = dev.read_attribute("no_such_attribute").await.unwrap_err();
    assert!(err.has_reason("API_AttrNotFound"), "{err}");
    let err = dev.command_inout("NoSuchCommand", ()).await.unwrap_err();
    assert_eq!(err.reason(), "API_CommandNotFound", "{err}");
    // the connection is still fine after the errors
    assert_eq!(dev.state().await.unwrap(), DevState::Running);
}

/// Starts [`CONCURRENT_READS`] reads of `double_scalar` at once on one proxy (one shared
/// connection) and awaits them all. Returns the rate in reads per second.
pub async fn concurrent_reads<R: AsyncRuntime>(device: &str) -> f64 {
    let dev = proxy::<R>(device).await;
    // 10,000 requests queue on one connection; give the slowest room.
    dev.set_timeout_millis(60_000);
    dev.read_attribute("double_scalar").await.unwrap();
    let t0 = Instant::now();
    let reads = (0..CONCURRENT_READS).map(|_| dev.read_attribute("double_scalar"));
    let results = futures::future::join_all(reads).await;
    let elapsed = t0.elapsed();
    assert_eq!(results.len(), CONCURRENT_READS);
    for r in results {
        let a = r.unwrap();
        a.get::<f64>().unwrap();
    }
    let rate = CONCURRENT_READS as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{}: {CONCURRENT_READS} concurrent reads of {device} in {elapsed:?} ({rate:.0} reads/s)",
        R::NAME
    );
    rate
}

/// A server that accepts connections and never answers; stops when dropped.
pub struct SilentServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        SilentServer { port, stop }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A call to a server that never answers fails with `Error::Timeout` after about the
/// proxy's timeout.
pub async fn timeout_against_silent_server<R: AsyncRuntime>() {
    let server = SilentServer::start();
    let name = format!("tango://127.0.0.1:{}/sys/tg_test/1#dbase=no", server.port);
    let timeout = Duration::from_millis(400);
    // The connect handshake times out too, and (as in cppTango) still gives a proxy.
    let t0 = Instant::now();
    let dev = AsyncDeviceProxy::<R>::connect(&name, timeout)
        .await
        .unwrap();
    assert!(
        t0.elapsed() < timeout * 3,
        "connect took {:?}",
        t0.elapsed()
    );
    let t0 = Instant::now();
    let err = dev.state().await.unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(err.reason(), "API_DeviceTimedOut");
    assert!(
        took >= timeout - Duration::from_millis(20) && took < timeout * 3,
        "timed out after {took:?}, the timeout is {timeout:?}"
    );
}

/// Nothing listens at the address: the call fails at once with `Error::ServerNotRunning`.
pub async fn nothing_listening<R: AsyncRuntime>() {
    let port = tango_testkit::free_port();
    let name = format!("tango://127.0.0.1:{port}/sys/tg_test/1#dbase=no");
    let dev = AsyncDeviceProxy::<R>::connect(&name, Duration::from_secs(3))
        .await
        .unwrap();
    let t0 = Instant::now();
    let err = dev.state().await.unwrap_err();
    assert!(matches!(err, Error::ServerNotRunning { .. }), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}

/// Instantiates every case as a `#[test]` for runtime `$rt`, run by `$block_on`.
macro_rules! runtime_cases {
    ($rt:ty, $block_on:path) => {
        macro_rules! interop {
            ($name:ident, $case:ident, $device:path) => {
                #[test]
                fn $name() {
                    if !tango_testkit::require_interop() {
                        return;
                    }
                    $block_on(common::$case::<$rt>(&$device()));
                }
            };
        }
        interop!(state_cpp, state, tango_testkit::cpp_tangotest_device);
        interop!(state_rust, state, tango_testkit::rust_tangotest_device);
        interop!(
            round_trip_cpp,
            write_read_round_trip,
            tango_testkit::cpp_tangotest_device
        );
        interop!(
            round_trip_rust,
            write_read_round_trip,
            tango_testkit::rust_tangotest_device
        );
        interop!(
            command_echo_cpp,
            command_echo,
            tango_testkit::cpp_tangotest_device
        );
        interop!(
            command_echo_rust,
            command_echo,
            tango_testkit::rust_tangotest_device
        );
        interop!(
            error_reasons_cpp,
            error_reasons,
            tango_testkit::cpp_tangotest_device
        );
        interop!(
            error_reasons_rust,
            error_reasons,
            tango_testkit::rust_tangotest_device
        );

        #[test]
        fn concurrent_reads_cpp() {
            if !tango_testkit::require_interop() {
                return;
            }
            $block_on(common::concurrent_reads::<$rt>(
                &tango_testkit::cpp_tangotest_device(),
            ));
        }

        #[test]
        fn concurrent_reads_rust() {
            if !tango_testkit::require_interop() {
                return;
            }
            $block_on(common::concurrent_reads::<$rt>(
                &tango_testkit::rust_tangotest_device(),
            ));
        }

        /// The futures need no context of their runtime: another executor drives them.
        #[test]
        fn state_on_a_foreign_executor() {
            if !tango_testkit::require_interop() {
                return;
            }
            futures::executor::block_on(common::state::<$rt>(
                &tango_testkit::cpp_tangotest_device(),
            ));
        }

        #[test]
        fn timeout_against_silent_server() {
            $block_on(common::timeout_against_silent_server::<$rt>());
        }

        #[test]
        fn nothing_listening_is_server_not_running() {
            $block_on(common::nothing_listening::<$rt>());
        }
    };
}
