//! `wait=false`: calls submitted without waiting give a [`tango::green::Pending`] handle,
//! whose result comes later; many can be in flight at once; `done()` and `cancel()` report
//! their progress. (A frozen server's handles are in [`super::private`].)

use std::time::{Duration, Instant};

use tango::{CommandData, DevState};

use super::{ensure, CaseResult, OrFail};
use crate::matrix::client::Cx;

/// A submitted read, and a submitted write, give their results.
pub async fn result(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let p = cx.submit(dev.read_attribute("double_scalar"));
    let a = cx.result(p).await.or_fail("submitted read")?;
    ensure!(!a.has_failed(), "read failed {:?}", a.errors);
    let before = cx
        .call(dev.read_attribute("long_scalar_w"))
        .await
        .or_fail("read long_scalar_w")?;
    let p = cx.submit(dev.write_attribute("long_scalar_w", 99i32));
    let written = cx.result(p).await.or_fail("submitted write");
    let back = cx
        .call(dev.read_attribute("long_scalar_w"))
        .await
        .or_fail("read long_scalar_w")?;
    if let Some(orig) = before.w_value.filter(|v| !v.is_empty()) {
        cx.call(dev.write_attribute("long_scalar_w", tango::WriteValue::scalar(orig)))
            .await
            .or_fail("restore long_scalar_w")?;
    }
    written?;
    let w: Option<i32> = back.get_w().ok();
    ensure!(
        w == Some(99),
        "set point {w:?} after a submitted write of 99"
    );
    Ok(())
}

/// 20 commands and 6 reads in flight at once; each result is its own.
pub async fn many_in_flight(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let cmds: Vec<_> = (0..20)
        .map(|i| cx.submit(dev.command_inout("DevLong", i)))
        .collect();
    let names = [
        "double_scalar",
        "long_spectrum_ro",
        "short_image_ro",
        "string_scalar",
        "wave",
        "boolean_scalar",
    ];
    let reads: Vec<_> = names
        .iter()
        .map(|n| cx.submit(dev.read_attribute(n)))
        .collect();
    for (i, p) in cmds.into_iter().enumerate() {
        let out = cx.result(p).await.or_fail(format!("DevLong({i})"))?;
        ensure!(
            out == CommandData::Long(i as i32),
            "DevLong({i}) returned {out:?}"
        );
    }
    for (n, p) in names.iter().zip(reads) {
        let a = cx.result(p).await.or_fail(n)?;
        ensure!(a.name.eq_ignore_ascii_case(n), "asked {n}, got {}", a.name);
        ensure!(!a.has_failed(), "{n} failed");
    }
    Ok(())
}

/// `done()` turns true once the call completes; `cancel()` of a completed call says it
/// had completed (false); a handle dropped unfinished leaves the proxy usable.
pub async fn done_and_cancel(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let p = cx.submit(dev.state());
    let t = Instant::now();
    while !p.done() {
        ensure!(
            t.elapsed() < Duration::from_secs(10),
            "done() still false after 10 s"
        );
        cx.sleep(Duration::from_millis(2)).await;
    }
    ensure!(!p.cancel(), "cancel() of a completed call returned true");
    let p = cx.submit(dev.state());
    let st = cx.result(p).await.or_fail("state after a cancel")?;
    ensure!(st == DevState::Running, "state {st}");
    drop(cx.submit(dev.read_attribute("double_scalar")));
    let st = cx.call(dev.state()).await.or_fail("state after a drop")?;
    ensure!(st == DevState::Running, "state {st}");
    Ok(())
}
