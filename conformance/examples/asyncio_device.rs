//! PyTango's `AsyncioDevice` example, in Rust, in both server green modes from one file.
//!
//! ```text
//! cargo run -p tango-conformance --example asyncio_device -- \
//!     test -nodb -dlist test/asyncio/1 -ORBendPoint giop:tcp:127.0.0.1:0 \
//!     [--green-mode tokio|synchronous] [--scale 0.1]
//! ```
//!
//! * `long_running_command`: state OPEN, waits 2 s, state CLOSE.
//! * `background_task_command`: starts a background task (state INSERT, 15 s, state
//!   EXTRACT) and returns at once.
//! * `test_attribute`: waits 2 s, then reads 42.
//! * `quick_attribute`: reads 7 at once.
//!
//! `--scale F` (or the environment variable `ASYNCIO_DEVICE_SCALE`) multiplies every
//! duration. In `tokio` mode (the default here, as in PyTango's example) the code is
//! `async`, waits suspend only the request, and there is no monitor lock: while
//! `long_running_command` runs, other requests to the device answer at once. In
//! `synchronous` mode the same behaviour blocks its thread under the device's monitor
//! lock: other requests to the device wait until the command ends.

use std::sync::Arc;
use std::time::Duration;

use tango_conformance::runner::{extra_value, ServerGreenMode};
use tango_core::device::{
    AsyncAttr, AsyncClassBuilder, AsyncCmd, Attr, ClassBuilder, Cmd, DeviceClass, DeviceCtx,
};
use tango_core::idl::{DevFailed, DevState};

/// The class name.
pub const CLASS_NAME: &str = "AsyncioDevice";

/// How long things take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Durations {
    /// `long_running_command`'s wait (2 s).
    pub long_running: Duration,
    /// The background task's wait (15 s).
    pub background: Duration,
    /// `test_attribute`'s wait (2 s).
    pub attribute: Duration,
}

impl Durations {
    /// PyTango's durations multiplied by `scale`.
    pub fn scaled(scale: f64) -> Self {
        let s = |secs: f64| Duration::from_secs_f64((secs * scale).max(0.0));
        Durations {
            long_running: s(2.0),
            background: s(15.0),
            attribute: s(2.0),
        }
    }
}

/// The class in Asyncio green mode: async code, no monitor lock (needs a tokio server).
pub fn asyncio_class(d: Durations) -> DeviceClass {
    AsyncClassBuilder::new(CLASS_NAME, move |_: &DeviceCtx| d)
        .init(|_, ctx| async move {
            ctx.set_state(DevState::On);
            Ok(())
        })
        .command(AsyncCmd::new(
            "long_running_command",
            |d: Arc<Durations>, ctx, (): ()| async move {
                ctx.set_state(DevState::Open);
                tokio::time::sleep(d.long_running).await;
                ctx.set_state(DevState::Close);
                Ok::<(), DevFailed>(())
            },
        ))
        .command(AsyncCmd::new(
            "background_task_command",
            |d: Arc<Durations>, ctx: DeviceCtx, (): ()| async move {
                tokio::spawn(async move {
                    ctx.set_state(DevState::Insert);
                    tokio::time::sleep(d.background).await;
                    ctx.set_state(DevState::Extract);
                });
                Ok::<(), DevFailed>(())
            },
        ))
        .attr(
            AsyncAttr::new::<i32>("test_attribute").read(|d: Arc<Durations>, _| async move {
                tokio::time::sleep(d.attribute).await;
                Ok(42)
            }),
        )
        .attr(AsyncAttr::new::<i32>("quick_attribute").read(|_: Arc<Durations>, _| async { Ok(7) }))
        .build()
}

/// The same class in Synchronous green mode: blocking code under the monitor lock.
pub fn synchronous_class(d: Durations) -> DeviceClass {
    ClassBuilder::new(CLASS_NAME, move |_: &DeviceCtx| d)
        .init(|_, ctx| {
            ctx.set_state(DevState::On);
            Ok(())
        })
        .command(Cmd::new(
            "long_running_command",
            |d: &mut Durations, ctx, (): ()| {
                ctx.set_state(DevState::Open);
                std::thread::sleep(d.long_running);
                ctx.set_state(DevState::Close);
                Ok::<(), DevFailed>(())
            },
        ))
        .command(Cmd::new(
            "background_task_command",
            |d: &mut Durations, ctx: &DeviceCtx, (): ()| {
                let (ctx, wait) = (ctx.clone(), d.background);
                std::thread::spawn(move || {
                    ctx.set_state(DevState::Insert);
                    std::thread::sleep(wait);
                    ctx.set_state(DevState::Extract);
                });
                Ok::<(), DevFailed>(())
            },
        ))
        .attr(
            Attr::new::<i32>("test_attribute").read(|d: &mut Durations, _| {
                std::thread::sleep(d.attribute);
                Ok(42)
            }),
        )
        .attr(Attr::new::<i32>("quick_attribute").read(|_: &mut Durations, _| Ok(7)))
        .build()
}

/// The class for a server green mode.
pub fn class_for(mode: ServerGreenMode, d: Durations) -> DeviceClass {
    match mode {
        ServerGreenMode::Synchronous => synchronous_class(d),
        ServerGreenMode::Tokio => asyncio_class(d),
    }
}

/// `--scale F`, else `ASYNCIO_DEVICE_SCALE`, else 1.
fn scale(option: Option<&str>) -> Result<f64, String> {
    let env = std::env::var("ASYNCIO_DEVICE_SCALE").ok();
    match option.or(env.as_deref()) {
        None => Ok(1.0),
        Some(s) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 0.0 => Ok(f),
            _ => Err(format!("--scale {s:?}: expected a non-negative number")),
        },
    }
}

fn main() {
    // PyTango's example is an Asyncio device: tokio unless --green-mode says otherwise.
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if !args
        .iter()
        .any(|a| a == "--green-mode" || a.starts_with("--green-mode="))
    {
        args.extend(["--green-mode".to_owned(), "tokio".to_owned()]);
    }
    let code = tango_conformance::runner::run(CLASS_NAME, &args, &["--scale"], |mode, args| {
        let d = Durations::scaled(scale(extra_value(args, "--scale"))?);
        Ok(vec![class_for(mode, d)])
    });
    std::process::exit(code);
}
