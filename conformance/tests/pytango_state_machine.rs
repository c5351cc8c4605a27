//! PyTango's client against a Rust device with a state machine: refusals carry cppTango's
//! reasons (`API_CommandNotAllowed`, `API_AttrNotAllowed`), limits `API_WAttrOutsideLimit`,
//! alarms set the quality, in each of PyTango's green modes.

use std::path::PathBuf;
use std::process::Command;

use tango::server::{DeviceServer, ServerArgs};
use tango_core::device::{Attr, ClassBuilder, Cmd, DeviceClass};
use tango_core::idl::{DevFailed, DevState};
use tango_testkit::{require_interop, workspace_root};

#[derive(Default)]
struct Valve {
    flow: f64,
}

fn valve_class() -> DeviceClass {
    ClassBuilder::new("Valve", |_| Valve::default())
        .init(|_, ctx| {
            ctx.set_state(DevState::Close);
            Ok(())
        })
        .attr(
            Attr::new::<f64>("flow")
                .read_write()
                .max_value(10.0)
                .max_alarm(8.0)
                .allowed_in(&[DevState::Open])
                .read(|v: &mut Valve, _| Ok(v.flow))
                .write(|v: &mut Valve, _, x: f64| {
                    v.flow = x;
                    Ok(())
                }),
        )
        .command(
            Cmd::new("Open", |_: &mut Valve, ctx, (): ()| {
                ctx.set_state(DevState::Open);
                Ok::<(), DevFailed>(())
            })
            .allowed_in(&[DevState::Close]),
        )
        .command(
            Cmd::new("Close", |_: &mut Valve, ctx, (): ()| {
                ctx.set_state(DevState::Close);
                Ok::<(), DevFailed>(())
            })
            .allowed_in(&[DevState::Open]),
        )
        .build()
}

const SCRIPT: &str = r#"
import sys, tango
from tango import DevFailed, DevState, AttrQuality, GreenMode
import tango.futures, tango.gevent, tango.asyncio

name, mode = sys.argv[1], sys.argv[2]

def reason(f, *a):
    try:
        r = f(*a)
        if hasattr(r, "result"): r = r.result()
    except DevFailed as e:
        return e.args[0].reason
    return None

def check(dev):
    assert dev.state() == DevState.CLOSE, dev.state()
    assert reason(dev.command_inout, "Close") == "API_CommandNotAllowed"
    assert reason(dev.read_attribute, "flow") == "API_AttrNotAllowed"
    dev.command_inout("Open")
    assert dev.state() == DevState.OPEN
    assert reason(dev.command_inout, "Open") == "API_CommandNotAllowed"
    dev.write_attribute("flow", 5.0)
    a = dev.read_attribute("flow")
    assert a.value == 5.0 and a.quality == AttrQuality.ATTR_VALID, a
    dev.write_attribute("flow", 9.0)
    assert dev.read_attribute("flow").quality == AttrQuality.ATTR_ALARM
    assert reason(dev.write_attribute, "flow", 11.0) == "API_WAttrOutsideLimit"
    dev.command_inout("Close")
    assert dev.state() == DevState.CLOSE

if mode == "asyncio":
    import asyncio
    async def main():
        dev = await tango.asyncio.DeviceProxy(name)
        assert await dev.state() == DevState.CLOSE
        try:
            await dev.command_inout("Close")
            raise AssertionError("Close allowed in CLOSE")
        except DevFailed as e:
            assert e.args[0].reason == "API_CommandNotAllowed", e
        await dev.command_inout("Open")
        await dev.write_attribute("flow", 9.0)
        a = await dev.read_attribute("flow")
        assert a.quality == AttrQuality.ATTR_ALARM
        await dev.command_inout("Close")
    asyncio.run(main())
else:
    green = {"synchronous": GreenMode.Synchronous, "futures": GreenMode.Futures,
             "gevent": GreenMode.Gevent}[mode]
    check(tango.DeviceProxy(name, green_mode=green))
print("ok")
"#;

fn python() -> PathBuf {
    std::env::var_os("TANGO_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

#[test]
fn pytango_sees_the_state_machine_in_every_green_mode() {
    if !require_interop() {
        return;
    }
    let args = ServerArgs::parse(
        "ValveServer",
        &[
            "test",
            "-nodb",
            "-dlist",
            "test/valve/1",
            "-ORBendPoint",
            "giop:tcp:127.0.0.1:0",
        ]
        .map(String::from),
        &[],
    )
    .unwrap();
    let server = DeviceServer::new("ValveServer")
        .class(valve_class())
        .start(&args)
        .unwrap();
    let name = server.device_name("test/valve/1");
    for mode in ["synchronous", "futures", "gevent", "asyncio"] {
        let out = Command::new(python())
            .args(["-c", SCRIPT, &name, mode])
            .output()
            .expect("run python");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
            "PyTango {mode}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    server.shutdown();
}
