//! Connection and device basics: the constructor, which transport the client really uses,
//! state, status, ping, info, IDL version, admin name, description, black box, and the
//! proxy's timeout and source settings.

use std::time::Duration;

use tango::green::DeviceProxy;
use tango::{DevSource, DevState};
use tango_client::AsyncConnection;

use super::{ensure, CaseResult, OrFail};
use crate::matrix::client::{Cx, OurClient, PROXY_TIMEOUT_MS};
use crate::matrix::server::Family;

/// `DeviceProxy::new_with_mode` is a call like the others; the proxy keeps the client's
/// mode; an upper-case name reaches the same device (Tango names are case-insensitive).
pub async fn connect(cx: &Cx) -> CaseResult {
    let dev = cx
        .new_proxy(cx.device_name())
        .await
        .or_fail("DeviceProxy::new_with_mode")?;
    ensure!(
        dev.dev_name() == "sys/tg_test/1",
        "dev_name {:?}",
        dev.dev_name()
    );
    ensure!(
        dev.own_green_mode() == Some(cx.mode()),
        "own green mode {:?}, expected {}",
        dev.own_green_mode(),
        cx.mode()
    );
    let upper = cx.device_name().replace("sys/tg_test/1", "SYS/TG_TEST/1");
    let up = cx.new_proxy(&upper).await.or_fail("upper-case name")?;
    let st = cx
        .call(up.state())
        .await
        .or_fail("state via upper-case name")?;
    ensure!(st == DevState::Running, "state via upper-case name: {st}");
    Ok(())
}

/// Connections that each transport of this process holds to the server's endpoint:
/// (coroutine, tokio, smol, async-std). The transports pool connections weakly per
/// endpoint, so a live proxy's connection is the one returned.
fn connections(port: u16) -> [u64; 4] {
    let host = "127.0.0.1";
    [
        tango_coroutine::CoConnection::shared(host, port).connections_made(),
        AsyncConnection::<tango_tokio::Tokio>::shared(host, port).connections_made(),
        AsyncConnection::<tango_smol::Smol>::shared(host, port).connections_made(),
        AsyncConnection::<tango_async_std::AsyncStd>::shared(host, port).connections_made(),
    ]
}

/// The client's calls really go through its own transport: after a call, the connection
/// to this server belongs to the coroutine transport (Coroutine), the tokio, smol or
/// async-std transport (Asyncio on that executor), or none of those (Synchronous and
/// Futures use the blocking transport, which keeps no count). On tokio, the connection's
/// reader and writer tasks must also live on the cell's own runtime.
pub async fn client_transport(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    cx.call(dev.state()).await.or_fail("state")?;
    let got = connections(cx.port());
    let expected: [bool; 4] = match cx.client() {
        OurClient::Synchronous | OurClient::Futures => [false, false, false, false],
        OurClient::Coroutine => [true, false, false, false],
        OurClient::Tokio => [false, true, false, false],
        OurClient::Smol => [false, false, true, false],
        OurClient::AsyncStd => [false, false, false, true],
    };
    let labels = ["coroutine", "tokio", "smol", "async-std"];
    for ((n, want), label) in got.iter().zip(expected).zip(labels) {
        ensure!(
            (*n > 0) == want,
            "{} client: the {label} transport made {n} connection(s) to this server \
             (all: coroutine/tokio/smol/async-std = {got:?})",
            cx.client()
        );
    }
    if cx.client() == OurClient::Tokio {
        let alive = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        ensure!(
            alive >= 2,
            "the tokio connection's reader and writer tasks are not on the cell's runtime \
             ({alive} task(s) alive there)"
        );
    }
    Ok(())
}

/// `state()` is RUNNING.
pub async fn state(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let st = cx.call(dev.state()).await.or_fail("state")?;
    ensure!(st == DevState::Running, "state {st}");
    Ok(())
}

/// `status()` says RUNNING.
pub async fn status(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let s = cx.call(dev.status()).await.or_fail("status")?;
    ensure!(s.contains("RUNNING"), "status {s:?}");
    Ok(())
}

/// `ping()` answers within a second.
pub async fn ping(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let rtt = cx.call(dev.ping()).await.or_fail("ping")?;
    ensure!(rtt < Duration::from_secs(1), "ping took {rtt:?}");
    Ok(())
}

/// `info()`: class TangoTest, the server's IDL version, its server id.
pub async fn info(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let info = cx.call(dev.info()).await.or_fail("info")?;
    ensure!(
        info.dev_class == "TangoTest",
        "dev_class {:?}",
        info.dev_class
    );
    ensure!(
        info.server_version == cx.family().idl_version() as i32,
        "server_version {} (expected {})",
        info.server_version,
        cx.family().idl_version()
    );
    let id = info.server_id.to_lowercase();
    let want = format!("{}/test", cx.family().server_name().to_lowercase());
    ensure!(
        id == want,
        "server_id {:?} (expected {want})",
        info.server_id
    );
    Ok(())
}

/// IDL 6 `info_6`: the version information of the server's libraries.
pub async fn info_version_info(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let info = cx.call(dev.info()).await.or_fail("info")?;
    let has = |k: &str| info.version_info.iter().any(|(key, _)| key == k);
    match cx.family() {
        Family::PyTango => ensure!(
            info.version_info
                .iter()
                .any(|(k, v)| k == "PyTango" && v == "10.3.1"),
            "version_info {:?}",
            info.version_info
        ),
        Family::Rust => ensure!(has("tango-rs"), "version_info {:?}", info.version_info),
        Family::Cpp => ensure!(!info.version_info.is_empty(), "no version_info"),
    }
    Ok(())
}

/// The IDL version learnt by the constructor.
pub async fn idl_version(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let v = cx.call(dev.get_idl_version()).await.or_fail("idl")?;
    ensure!(
        v == cx.family().idl_version(),
        "IDL {v}, expected {}",
        cx.family().idl_version()
    );
    Ok(())
}

/// `adm_name()`: `dserver/<server>/test`.
pub async fn adm_name(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let adm = cx.call(dev.adm_name()).await.or_fail("adm_name")?;
    let want = format!("dserver/{}/test", cx.family().server_name());
    ensure!(
        adm.eq_ignore_ascii_case(&want),
        "adm_name {adm:?}, expected {want}"
    );
    Ok(())
}

/// `description()` is not empty.
pub async fn description(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let d = cx.call(dev.description()).await.or_fail("description")?;
    ensure!(!d.trim().is_empty(), "empty description");
    Ok(())
}

/// `black_box(3)`: at most three cppTango-style lines, the last requests.
pub async fn black_box(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    cx.call(dev.state()).await.or_fail("state")?;
    let bb = cx.call(dev.black_box(3)).await.or_fail("black_box")?;
    ensure!(!bb.is_empty() && bb.len() <= 3, "black_box {bb:?}");
    ensure!(
        bb.iter().all(|l| l.contains("requested from")),
        "black_box lines {bb:?}"
    );
    Ok(())
}

/// The proxy's timeout and source: read back as set, and a read from the device itself
/// (`DevSource::Dev`) works.
pub async fn settings(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    ensure!(
        dev.get_timeout_millis() == PROXY_TIMEOUT_MS,
        "timeout {}",
        dev.get_timeout_millis()
    );
    ensure!(
        dev.get_source() == DevSource::CacheDev,
        "default source {:?}",
        dev.get_source()
    );
    // a second proxy, so the cell's proxy keeps its settings
    let other = DeviceProxy::new_with_mode(cx.device_name(), cx.mode());
    let other = cx.call(other).await.or_fail("second proxy")?;
    other.set_timeout_millis(4_000);
    other.set_source(DevSource::Dev);
    ensure!(other.get_timeout_millis() == 4_000, "timeout not set");
    ensure!(other.get_source() == DevSource::Dev, "source not set");
    let a = cx
        .call(other.read_attribute("double_scalar"))
        .await
        .or_fail("read with source Dev")?;
    ensure!(!a.has_failed(), "read with source Dev failed");
    ensure!(
        dev.get_source() == DevSource::CacheDev,
        "the cell's proxy changed with another proxy's source"
    );
    Ok(())
}
