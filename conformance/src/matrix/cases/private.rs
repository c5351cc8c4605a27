//! Cases on a private server of the cell's column, which they freeze (SIGSTOP), stop and
//! restart: per-call and per-proxy timeouts (a clear `Timeout` in bounded time, the late
//! reply dropped, the connection still usable), handles of calls to a frozen server, a
//! stopped server (`ServerNotRunning`), a restart on the same port (the next call
//! reconnects), the state-changing commands, and a proxy made while the server is down.
//!
//! Each case uses its own proxy; the runner starts and resumes the server before each.

use std::time::{Duration, Instant};

use tango::green::DeviceProxy;
use tango::{CommandData, DevState, Error};

use super::{ensure, expect_err, CaseResult, OrFail};
use crate::matrix::client::Cx;

/// The per-call timeout of the timeout cases.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(300);

/// How much later than its timeout a timed-out call may report it (a busy 2-core machine
/// running servers and clients at once).
pub const TIMEOUT_SLACK: Duration = Duration::from_millis(1_500);

/// A proxy to the private server that has connected (one state call).
async fn connected(cx: &Cx) -> Result<DeviceProxy, String> {
    let dev = cx
        .new_proxy(cx.device_name())
        .await
        .or_fail("DeviceProxy::new")?;
    let st = cx.call(dev.state()).await.or_fail("state")?;
    ensure!(st == DevState::Running, "state {st}");
    Ok(dev)
}

/// `err` is a timeout (`API_DeviceTimedOut`) that came after `limit` but not much later.
fn check_timeout(err: &Error, took: Duration, limit: Duration, what: &str) -> CaseResult {
    ensure!(
        matches!(err, Error::Timeout { .. }),
        "{what}: expected a timeout, got {err}"
    );
    ensure!(
        err.reason() == "API_DeviceTimedOut",
        "{what}: reason {}",
        err.reason()
    );
    ensure!(
        took + Duration::from_millis(20) >= limit,
        "{what}: timed out after {took:?}, before its {limit:?}"
    );
    ensure!(
        took <= limit + TIMEOUT_SLACK,
        "{what}: took {took:?} for a {limit:?} timeout"
    );
    Ok(())
}

/// The error of a call to a frozen server; if it answered, the failure says whether the
/// server was still frozen (every thread stopped) and when the answer came.
async fn frozen_err<T: std::fmt::Debug>(
    cx: &Cx,
    r: tango::Result<T>,
    took: Duration,
    what: &str,
) -> Result<Error, String> {
    match expect_err(r, what) {
        Ok(e) => Ok(e),
        Err(why) => {
            let state = cx
                .peer(|p| {
                    Ok(format!(
                        "server frozen: {}, pid {:?}",
                        p.is_paused(),
                        p.pid()
                    ))
                })
                .await?;
            Err(format!("{why} [{state}; answered after {took:?}]"))
        }
    }
}

/// Freezes the server around `body`, resuming it afterwards whatever happens.
async fn while_frozen<T>(
    cx: &Cx,
    body: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    cx.peer(|p| p.pause().map_err(|e| format!("pause: {e}")))
        .await?;
    let out = body.await;
    cx.peer(|p| p.resume().map_err(|e| format!("resume: {e}")))
        .await?;
    out
}

/// `.timeout(300 ms)` on a call to a frozen server: `Timeout` after about 300 ms; once the
/// server runs again, the next call on the same proxy gets its own reply (the late one is
/// dropped).
pub async fn call_timeout(cx: &Cx) -> CaseResult {
    let dev = connected(cx).await?;
    while_frozen(cx, async {
        let t = Instant::now();
        let r = cx
            .call(dev.command_inout("DevLong", 1).timeout(CALL_TIMEOUT))
            .await;
        let took = t.elapsed();
        let e = frozen_err(cx, r, took, "DevLong(1) to a frozen server").await?;
        check_timeout(&e, took, CALL_TIMEOUT, "DevLong(1)")
    })
    .await?;
    let out = cx
        .call(dev.command_inout("DevLong", 2))
        .await
        .or_fail("DevLong(2) after the server resumed")?;
    ensure!(
        out == CommandData::Long(2),
        "DevLong(2) returned {out:?} (the late reply of DevLong(1)?)"
    );
    let st = cx.call(dev.state()).await.or_fail("state")?;
    ensure!(st == DevState::Running, "state {st}");
    Ok(())
}

/// The proxy's own timeout (`set_timeout_millis(300)`) bounds each call the same way.
pub async fn proxy_timeout(cx: &Cx) -> CaseResult {
    let dev = connected(cx).await?;
    dev.set_timeout_millis(CALL_TIMEOUT.as_millis() as u64);
    while_frozen(cx, async {
        let t = Instant::now();
        let r = cx.call(dev.read_attribute("double_scalar")).await;
        let took = t.elapsed();
        let e = frozen_err(cx, r, took, "read from a frozen server").await?;
        check_timeout(&e, took, CALL_TIMEOUT, "read_attribute")
    })
    .await?;
    dev.set_timeout_millis(crate::matrix::client::PROXY_TIMEOUT_MS);
    let out = cx
        .call(dev.command_inout("DevLong", 3))
        .await
        .or_fail("DevLong(3) after the server resumed")?;
    ensure!(out == CommandData::Long(3), "DevLong(3) returned {out:?}");
    Ok(())
}

/// Handles of calls to a frozen server: not `done()`, a bounded wait for the result times
/// out and leaves the handle usable, `cancel()` of an unfinished call says so (true); once
/// the server resumes the first handle gives its result.
pub async fn handles_on_frozen_server(cx: &Cx) -> CaseResult {
    let dev = connected(cx).await?;
    let mut first = None;
    while_frozen(cx, async {
        let mut p = cx.submit(
            dev.command_inout("DevLong", 5)
                .timeout(Duration::from_secs(8)),
        );
        cx.sleep(Duration::from_millis(200)).await;
        ensure!(!p.done(), "done() is true while the server is frozen");
        let limit = Duration::from_millis(100);
        let t = Instant::now();
        let r = cx.result_within(&mut p, limit).await;
        let took = t.elapsed();
        let e = expect_err(r, "result within 100 ms")?;
        check_timeout(&e, took, limit, "result within 100 ms")?;
        let other = cx.submit(dev.status());
        ensure!(
            other.cancel(),
            "cancel() of an unfinished call returned false"
        );
        first = Some(p);
        Ok(())
    })
    .await?;
    let p = first.ok_or("no handle")?;
    let out = cx
        .result(p)
        .await
        .or_fail("the handle after the server resumed")?;
    ensure!(out == CommandData::Long(5), "DevLong(5) returned {out:?}");
    let st = cx.call(dev.state()).await.or_fail("state afterwards")?;
    ensure!(st == DevState::Running, "state {st}");
    Ok(())
}

/// A stopped server: the next call fails at once (`ServerNotRunning`, or `ConnectionLost`
/// for a call that was under way), the one after with `ServerNotRunning`
/// (`API_CantConnectToDevice`); when the server is back the same proxy works again.
pub async fn stopped_server(cx: &Cx) -> CaseResult {
    let dev = connected(cx).await?;
    cx.peer(|p| {
        p.stop();
        Ok(())
    })
    .await?;
    let limit = Duration::from_secs(2);
    let t = Instant::now();
    let r = cx.call(dev.state().timeout(limit)).await;
    let took = t.elapsed();
    let e = expect_err(r, "state of a stopped server")?;
    ensure!(
        matches!(
            e,
            Error::ServerNotRunning { .. } | Error::ConnectionLost { .. }
        ),
        "expected ServerNotRunning or ConnectionLost, got {e}"
    );
    ensure!(took < limit + TIMEOUT_SLACK, "took {took:?}");
    let e = expect_err(
        cx.call(dev.state().timeout(limit)).await,
        "second state of a stopped server",
    )?;
    ensure!(
        matches!(e, Error::ServerNotRunning { .. }),
        "expected ServerNotRunning, got {e}"
    );
    ensure!(
        e.reason() == "API_CantConnectToDevice",
        "reason {}",
        e.reason()
    );
    cx.peer(|p| p.try_start_again()).await?;
    let st = cx
        .call(dev.state())
        .await
        .or_fail("state once the server is back")?;
    ensure!(st == DevState::Running, "state {st}");
    let a = cx
        .call(dev.read_attribute("double_scalar"))
        .await
        .or_fail("read once the server is back")?;
    ensure!(!a.has_failed(), "read failed");
    Ok(())
}

/// A server restarted on the same port between two calls: the next call reconnects and
/// succeeds (no error for the caller).
pub async fn restarted_server(cx: &Cx) -> CaseResult {
    let dev = connected(cx).await?;
    cx.peer(|p| p.try_restart()).await?;
    let st = cx
        .call(dev.state())
        .await
        .or_fail("the first call after the restart")?;
    ensure!(st == DevState::Running, "state {st}");
    let out = cx
        .call(dev.command_inout("DevLong", 7))
        .await
        .or_fail("DevLong(7)")?;
    ensure!(out == CommandData::Long(7), "DevLong(7) returned {out:?}");
    Ok(())
}

/// `SwitchStates` (RUNNING to FAULT and back) and `Init`.
pub async fn state_commands(cx: &Cx) -> CaseResult {
    let dev = connected(cx).await?;
    // TangoTest's Init rebuilds its images: room for a busy machine
    dev.set_timeout_millis(15_000);
    cx.call(dev.command_inout("SwitchStates", ()))
        .await
        .or_fail("SwitchStates")?;
    let st = cx.call(dev.state()).await.or_fail("state")?;
    ensure!(st == DevState::Fault, "state after SwitchStates: {st}");
    let s = cx.call(dev.status()).await.or_fail("status")?;
    ensure!(s.contains("FAULT"), "status after SwitchStates: {s:?}");
    cx.call(dev.command_inout("Init", ()))
        .await
        .or_fail("Init")?;
    let st = cx.call(dev.state()).await.or_fail("state")?;
    ensure!(st == DevState::Running, "state after Init: {st}");
    Ok(())
}

/// A proxy made while the server is down is made (as cppTango does without a database);
/// calls fail with `ServerNotRunning` until the server is there, then work.
pub async fn proxy_made_while_down(cx: &Cx) -> CaseResult {
    cx.peer(|p| {
        p.stop();
        Ok(())
    })
    .await?;
    let dev = cx
        .new_proxy(cx.device_name())
        .await
        .or_fail("DeviceProxy::new while the server is down")?;
    let e = expect_err(cx.call(dev.ping()).await, "ping while down")?;
    ensure!(
        matches!(e, Error::ServerNotRunning { .. }),
        "expected ServerNotRunning, got {e}"
    );
    cx.peer(|p| p.try_start_again()).await?;
    cx.call(dev.ping())
        .await
        .or_fail("ping once the server is up")?;
    let v = cx
        .call(dev.get_idl_version())
        .await
        .or_fail("IDL version")?;
    ensure!(v == cx.family().idl_version(), "IDL {v}");
    Ok(())
}
