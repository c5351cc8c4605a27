//! Errors with the reasons the real servers give: unknown attribute and command, writing a
//! read-only attribute, attributes whose reads fail on purpose, a failing attribute among
//! several, NaN written, an unknown device, a malformed name. The connection stays
//! healthy after each.

use tango::Error;

use super::{ensure, expect_err, expect_reason, still_running, CaseResult, OrFail};
use crate::matrix::client::Cx;

/// An unknown attribute: `API_AttrNotFound` for a read and for its configuration.
pub async fn unknown_attribute(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let r = cx.call(dev.read_attribute("no_such_attribute")).await;
    expect_reason(r, "API_AttrNotFound", "read no_such_attribute")?;
    let r = cx.call(dev.get_attribute_config("no_such_attribute")).await;
    expect_reason(
        r,
        "API_AttrNotFound",
        "get_attribute_config no_such_attribute",
    )?;
    still_running(cx).await
}

/// An unknown command: `API_CommandNotFound`, first in the stack; and for `command_query`.
pub async fn unknown_command(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let e = expect_err(
        cx.call(dev.command_inout("NoSuchCommand", ())).await,
        "NoSuchCommand",
    )?;
    ensure!(
        e.reason() == "API_CommandNotFound",
        "reason {:?}: {e}",
        e.reason()
    );
    let r = cx.call(dev.command_query("NoSuchCommand")).await;
    expect_reason(r, "API_CommandNotFound", "command_query NoSuchCommand")?;
    still_running(cx).await
}

/// Writing a read-only attribute: `API_AttrNotWritable`.
pub async fn write_read_only(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let r = cx.call(dev.write_attribute("short_scalar_ro", 1i16)).await;
    expect_reason(r, "API_AttrNotWritable", "write short_scalar_ro")?;
    still_running(cx).await
}

/// `no_value` (`API_AttrValueNotSet`) and `throw_exception` (TangoTest's own error,
/// wrapped in `API_AttributeFailed` by the client).
pub async fn attribute_read_failures(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let r = cx.call(dev.read_attribute("no_value")).await;
    expect_reason(r, "API_AttrValueNotSet", "read no_value")?;
    let e = expect_err(
        cx.call(dev.read_attribute("throw_exception")).await,
        "read throw_exception",
    )?;
    ensure!(e.has_reason("exception test"), "{e}");
    ensure!(e.has_reason("API_AttributeFailed"), "{e}");
    still_running(cx).await
}

/// Several attributes in one read: only the failing ones have failed, with their errors.
pub async fn partial_read(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let names = [
        "double_scalar",
        "throw_exception",
        "no_value",
        "long_scalar",
    ];
    let v = cx
        .call(dev.read_attributes(&names))
        .await
        .or_fail("read_attributes")?;
    let failed: Vec<bool> = v.iter().map(|a| a.has_failed()).collect();
    ensure!(
        failed == [false, true, true, false],
        "has_failed {failed:?}"
    );
    let first = |i: usize| {
        v[i].errors
            .first()
            .map(|e| (e.reason.clone(), e.desc.clone()))
    };
    let (reason, desc) = first(1).ok_or("throw_exception has no error")?;
    ensure!(
        reason == "exception test",
        "throw_exception reason {reason:?}"
    );
    ensure!(
        desc.contains("here is the exception you requested"),
        "throw_exception desc {desc:?}"
    );
    let (reason, _) = first(2).ok_or("no_value has no error")?;
    ensure!(
        reason == "API_AttrValueNotSet",
        "no_value reason {reason:?}"
    );
    Ok(())
}

/// NaN and infinities written to an attribute: refused with `API_WAttrOutsideLimit`.
pub async fn nan_refused(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let r = cx.call(dev.write_attribute("double_scalar", bad)).await;
        expect_reason(r, "API_WAttrOutsideLimit", &format!("write {bad}"))?;
    }
    still_running(cx).await
}

/// A device the running server does not have: `DeviceNotExported` from the constructor.
pub async fn unknown_device(cx: &Cx) -> CaseResult {
    let r = cx.new_proxy(&cx.name_of("no/such/device")).await;
    let e = expect_err(r.map(|d| d.name()), "DeviceProxy::new(no/such/device)")?;
    ensure!(
        matches!(e, Error::DeviceNotExported { .. }),
        "expected DeviceNotExported, got {e}"
    );
    ensure!(
        e.reason() == "API_DeviceNotExported",
        "reason {}",
        e.reason()
    );
    still_running(cx).await
}

/// A malformed device name: a name error, whatever the mode.
pub async fn bad_name(cx: &Cx) -> CaseResult {
    let r = cx
        .new_proxy("tango://127.0.0.1:notaport/a/b/c#dbase=no")
        .await;
    let e = expect_err(r.map(|d| d.name()), "a malformed name")?;
    ensure!(
        matches!(e, Error::Name(_)),
        "expected a name error, got {e}"
    );
    ensure!(
        e.reason() == "API_WrongDeviceNameSyntax",
        "reason {}",
        e.reason()
    );
    Ok(())
}
