//! tango-tokio against the C++ TangoTest (cppTango 9.3) and the Rust TangoTest
//! (`TANGO_INTEROP=1`, servers started by `scripts/test`): the basic operations, with the
//! same expectations as the blocking client's interop tests.
//!
//! Each server is exercised by one test so that no two tests (and their runtimes) share a
//! connection: a connection is driven by the runtime that opened it.

use std::time::Duration;

use tango_tokio::{CommandData, DevState, DeviceProxy, Error};

async fn exercise(name: &str, idl: u32) {
    let dev = DeviceProxy::connect(name, tango_tokio::DEFAULT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(dev.get_timeout_millis(), 3000);
    assert_eq!(dev.get_idl_version().await.unwrap(), idl);

    // state, status, ping, info
    assert_eq!(dev.state().await.unwrap(), DevState::Running);
    let status = dev.status().await.unwrap();
    assert!(status.contains("RUNNING"), "{status}");
    assert!(dev.ping().await.unwrap() < Duration::from_secs(1));
    let info = dev.info().await.unwrap();
    assert_eq!(info.dev_class, "TangoTest");
    assert_eq!(info.server_version, idl as i32);
    assert!(
        info.server_id.starts_with("TangoTest/"),
        "{}",
        info.server_id
    );

    // attribute round trips
    dev.write_attribute("double_scalar", 12.5).await.unwrap();
    let a = dev.read_attribute("double_scalar").await.unwrap();
    assert_eq!(a.name, "double_scalar");
    let w: f64 = a.get_w().unwrap();
    assert_eq!(w, 12.5);
    dev.write_attribute("long_scalar_w", 4242i32).await.unwrap();
    let v: i32 = dev
        .read_attribute("long_scalar_w")
        .await
        .unwrap()
        .get()
        .unwrap();
    assert_eq!(v, 4242);
    dev.write_attribute("string_scalar", "tokio").await.unwrap();
    let s: String = dev
        .read_attribute("string_scalar")
        .await
        .unwrap()
        .get()
        .unwrap();
    assert_eq!(s, "tokio");

    // command echoes
    assert_eq!(
        dev.command_inout("DevString", "hello").await.unwrap(),
        CommandData::String("hello".into())
    );
    assert_eq!(
        dev.command_inout("DevLong", 123456i32).await.unwrap(),
        CommandData::Long(123456)
    );
    assert_eq!(
        dev.command_inout("DevVoid", ()).await.unwrap(),
        CommandData::Void
    );

    // errors carry their Tango reasons
    let err = dev.read_attribute("no_such_attribute").await.unwrap_err();
    assert!(err.has_reason("API_AttrNotFound"), "{err}");
    assert!(matches!(err, Error::DevFailed(_)), "{err}");
    let err = dev.command_inout("NoSuchCommand", ()).await.unwrap_err();
    assert_eq!(err.reason(), "API_CommandNotFound", "{err}");

    // the crate's own entry point shares the connection
    let dev2 = tango_tokio::connect(name).await.unwrap();
    assert_eq!(dev2.state().await.unwrap(), DevState::Running);
    let (host, port) = endpoint(name);
    let conn = tango_tokio::Connection::shared(&host, port);
    assert_eq!(conn.connections_made(), 1);
}

/// `host` and `port` of a `tango://host:port/...` name.
fn endpoint(name: &str) -> (String, u16) {
    let rest = name.strip_prefix("tango://").expect("tango:// name");
    let hp = rest.split('/').next().unwrap();
    let (h, p) = hp.rsplit_once(':').unwrap();
    (h.to_owned(), p.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_the_cpp_tangotest() {
    if !tango_testkit::require_interop() {
        return;
    }
    exercise(&tango_testkit::cpp_tangotest_device(), 5).await;
}

#[tokio::test(flavor = "current_thread")]
async fn against_the_rust_tangotest() {
    if !tango_testkit::require_interop() {
        return;
    }
    let name = tango_testkit::rust_tangotest_device();
    let dev = tango_tokio::connect(&name).await.unwrap();
    let idl = dev.get_idl_version().await.unwrap();
    assert!(idl >= 5, "{idl}");
    exercise(&name, idl).await;
}
