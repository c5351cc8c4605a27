//! Commands: every echo command of TangoTest with boundary values (extremes, NaN and
//! infinities, empty arrays, Latin-1 and 100,000-element values), the DevVoid ones, State
//! and Status, and the conversion of arguments to the declared type.

use tango::{CommandData, DevState, Error};

use super::{ensure, expect_err, still_running, CaseResult, OrFail};
use crate::matrix::client::Cx;
use crate::values::{command_boundaries, same_cmd};

/// Sends each boundary argument of each command and expects it back unchanged.
async fn echo(cx: &Cx, commands: &[&str]) -> CaseResult {
    let dev = cx.dev().await?;
    for cmd in commands {
        let args = command_boundaries(cmd);
        ensure!(!args.is_empty(), "no boundary values for {cmd}");
        for arg in args {
            let out = cx
                .call(dev.command_inout(cmd, arg.clone()))
                .await
                .or_fail(format!("{cmd}({})", arg.arg_type()))?;
            ensure!(
                same_cmd(&out, &arg),
                "{cmd}: sent {}, got {}",
                short(&arg),
                short(&out)
            );
        }
    }
    Ok(())
}

fn short(c: &CommandData) -> String {
    let s = format!("{c:?}");
    if s.len() <= 80 {
        s
    } else {
        format!("{}...<{} chars>", &s[..80], s.len())
    }
}

/// DevVoid, DumpExecutionState, State and Status as commands.
pub async fn void_state_status(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    for cmd in ["DevVoid", "DumpExecutionState"] {
        let out = cx.call(dev.command_inout(cmd, ())).await.or_fail(cmd)?;
        ensure!(out == CommandData::Void, "{cmd} returned {out:?}");
    }
    let st = cx
        .call(dev.command_inout("State", ()))
        .await
        .or_fail("State")?;
    ensure!(st == CommandData::State(DevState::Running), "State {st:?}");
    let status: String = tango::extract(
        cx.call(dev.command_inout("Status", ()))
            .await
            .or_fail("Status")?,
    )
    .or_fail("Status as String")?;
    ensure!(status.contains("RUNNING"), "Status {status:?}");
    Ok(())
}

/// The integer scalar commands at their extremes.
pub async fn integers(cx: &Cx) -> CaseResult {
    let cmds = [
        "DevShort",
        "DevLong",
        "DevLong64",
        "DevUShort",
        "DevULong",
        "DevULong64",
    ];
    echo(cx, &cmds).await
}

/// DevFloat and DevDouble: extremes, NaN, infinities.
pub async fn floats(cx: &Cx) -> CaseResult {
    echo(cx, &["DevFloat", "DevDouble"]).await
}

/// DevBoolean and DevString (empty, Latin-1, 100,000 characters).
pub async fn boolean_string(cx: &Cx) -> CaseResult {
    echo(cx, &["DevBoolean", "DevString"]).await
}

/// The integer array commands: empty and at the extremes.
pub async fn integer_arrays(cx: &Cx) -> CaseResult {
    let cmds = [
        "DevVarCharArray",
        "DevVarShortArray",
        "DevVarLongArray",
        "DevVarLong64Array",
        "DevVarUShortArray",
        "DevVarULongArray",
        "DevVarULong64Array",
    ];
    echo(cx, &cmds).await
}

/// DevVarFloatArray and DevVarDoubleArray (NaN, infinities, 100,000 elements).
pub async fn float_arrays(cx: &Cx) -> CaseResult {
    echo(cx, &["DevVarFloatArray", "DevVarDoubleArray"]).await
}

/// DevVarStringArray, DevVarLongStringArray, DevVarDoubleStringArray.
pub async fn string_arrays(cx: &Cx) -> CaseResult {
    let cmds = [
        "DevVarStringArray",
        "DevVarLongStringArray",
        "DevVarDoubleStringArray",
    ];
    echo(cx, &cmds).await
}

/// Arguments convert to the declared type like PyTango's (an i32 for a DevDouble
/// command); values that do not fit are a clear `Error::Type`, sent nowhere.
pub async fn argument_conversion(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let d: f64 = tango::extract(
        cx.call(dev.command_inout("DevDouble", 3i32))
            .await
            .or_fail("DevDouble(3i32)")?,
    )
    .or_fail("as f64")?;
    ensure!(d == 3.0, "DevDouble(3) returned {d}");
    let v: Vec<f64> = tango::extract(
        cx.call(dev.command_inout("DevVarDoubleArray", vec![1i32, 2]))
            .await
            .or_fail("DevVarDoubleArray(vec![1i32, 2])")?,
    )
    .or_fail("as Vec<f64>")?;
    ensure!(v == [1.0, 2.0], "returned {v:?}");
    let e = expect_err(
        cx.call(dev.command_inout("DevShort", 70_000i32)).await,
        "70,000 for DevShort",
    )?;
    ensure!(
        matches!(e, Error::Type(_)),
        "expected a type error, got {e}"
    );
    let e = expect_err(
        cx.call(dev.command_inout("DevLong", "not a number")).await,
        "a string for DevLong",
    )?;
    ensure!(
        matches!(e, Error::Type(_)),
        "expected a type error, got {e}"
    );
    still_running(cx).await
}
