//! How a device class is described and how its code is called.
//!
//! A class is defined once ([`ClassBuilder`]): its name, attributes ([`Attr`]), commands
//! ([`Cmd`]), and the Rust type `T` holding each device's data. The builder erases the
//! typed closures into a [`DeviceClass`]: metadata the dispatcher reads ([`ClassInfo`]:
//! attribute configurations, command signatures, allowed states) and a factory of
//! [`SyncDevice`] objects that adapters call.
//!
//! The dispatcher never calls device code itself: it turns a request into a
//! [`crate::server::Job`] (a list of [`Call`]s), the adapter runs the calls (in
//! Synchronous mode, under the device's monitor lock) and hands back [`Outcome`]s. That
//! is what leaves room for coroutine and async devices: only the adapter knows how device
//! code runs.

mod async_device;
mod builder;
mod class;
mod co_device;
mod typed;

pub use async_device::{
    run_job_async, AsyncAttr, AsyncClassBuilder, AsyncCmd, AsyncDevice, AsyncMonitor,
    AsyncMonitorGuard, AsyncMonitorLock, BoxFuture,
};

pub use co_device::{co_from_sync, run_job_co, CoAttr, CoClassBuilder, CoCmd, CoDevice};

pub use builder::{reading_of, Attr, AttrValueType, ClassBuilder, Cmd, CommandType, ElementType};
pub use class::{
    default_config, AsyncFactory, AttrDef, Builtin, ClassInfo, CmdDef, CoFactory, DeviceClass,
    DeviceFactory, ServerMode, StateMask, SyncFactory,
};

use std::sync::{Arc, Mutex};

use crate::any::CommandData;
use crate::idl::{AttrQuality, DevFailed, DevState, TimeVal};
use crate::value::{AttrData, WriteValue};

/// One read of an attribute by device code: the data with its shape, and optionally a
/// quality and a timestamp (otherwise `ATTR_VALID`, now, and alarm ranges applied).
#[derive(Debug, Clone, PartialEq)]
pub struct AttrReading {
    /// The elements, row-major for images.
    pub data: AttrData,
    /// Elements per row (1 for a scalar).
    pub dim_x: usize,
    /// Rows (0 unless an image).
    pub dim_y: usize,
    /// Quality set by the device; `None` lets the server compute it from alarm ranges.
    pub quality: Option<AttrQuality>,
    /// Timestamp set by the device; `None` means "when it was read".
    pub time: Option<TimeVal>,
}

impl AttrReading {
    /// A reading of `data` with its shape.
    pub fn new(data: AttrData, dim_x: usize, dim_y: usize) -> Self {
        AttrReading {
            data,
            dim_x,
            dim_y,
            quality: None,
            time: None,
        }
    }

    /// The same reading with a quality.
    pub fn with_quality(mut self, quality: AttrQuality) -> Self {
        self.quality = Some(quality);
        self
    }

    /// The same reading with a timestamp.
    pub fn with_time(mut self, time: TimeVal) -> Self {
        self.time = Some(time);
        self
    }
}

/// State and status of one device, shared by the dispatcher (which checks the state
/// machine) and the device code (which changes them).
#[derive(Debug)]
pub struct DeviceStatus {
    inner: Mutex<(DevState, String)>,
}

impl DeviceStatus {
    fn new() -> Self {
        DeviceStatus {
            inner: Mutex::new((DevState::Unknown, String::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (DevState, String)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state last set.
    pub fn state(&self) -> DevState {
        self.lock().0
    }

    /// The status text: the one set, or `The device is in <STATE> state.` as Tango says.
    pub fn status(&self) -> String {
        let g = self.lock();
        if g.1.is_empty() {
            format!("The device is in {} state.", g.0)
        } else {
            g.1.clone()
        }
    }

    /// Sets the state.
    pub fn set_state(&self, s: DevState) {
        self.lock().0 = s;
    }

    /// Sets the status text (empty: the default text for the state).
    pub fn set_status(&self, s: impl Into<String>) {
        self.lock().1 = s.into();
    }
}

/// What device code can see of its device besides its own data: name, state, status.
/// Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct DeviceCtx {
    name: Arc<str>,
    status: Arc<DeviceStatus>,
}

impl DeviceCtx {
    /// A context for the device `name` (state UNKNOWN until set).
    pub fn new(name: &str) -> Self {
        DeviceCtx {
            name: name.into(),
            status: Arc::new(DeviceStatus::new()),
        }
    }

    /// The device name (`domain/family/member`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current state.
    pub fn get_state(&self) -> DevState {
        self.status.state()
    }

    /// Changes the state.
    pub fn set_state(&self, s: DevState) {
        self.status.set_state(s)
    }

    /// The current status text.
    pub fn get_status(&self) -> String {
        self.status.status()
    }

    /// Changes the status text.
    pub fn set_status(&self, s: impl Into<String>) {
        self.status.set_status(s)
    }

    /// The shared state and status.
    pub fn shared_status(&self) -> &Arc<DeviceStatus> {
        &self.status
    }
}

/// A device whose code runs to completion on the calling thread (Synchronous green mode).
///
/// The adapter holds the device's monitor lock around every call, so `&mut self` is
/// exclusive: requests to one device run one at a time, requests to different devices in
/// parallel. Indices are positions in the class's [`ClassInfo`] lists.
pub trait SyncDevice: Send {
    /// `init_device`: called at start and by the `Init` command.
    fn init_device(&mut self, ctx: &DeviceCtx) -> Result<(), DevFailed>;
    /// `delete_device`: called before `Init` re-initialises and at shutdown.
    fn delete_device(&mut self, _ctx: &DeviceCtx) {}
    /// Reads attribute `attr` (never `State`/`Status`: those use `dev_state`/`dev_status`).
    fn read_attribute(&mut self, ctx: &DeviceCtx, attr: usize) -> Result<AttrReading, DevFailed>;
    /// Writes attribute `attr`; the value already has the attribute's type and passed the
    /// range checks.
    fn write_attribute(
        &mut self,
        ctx: &DeviceCtx,
        attr: usize,
        value: WriteValue,
    ) -> Result<(), DevFailed>;
    /// Runs command `cmd`; the argument already has the command's input type.
    fn command(
        &mut self,
        ctx: &DeviceCtx,
        cmd: usize,
        arg: CommandData,
    ) -> Result<CommandData, DevFailed>;
    /// The state clients see (default: the state last set).
    fn dev_state(&mut self, ctx: &DeviceCtx) -> DevState {
        ctx.get_state()
    }
    /// The status clients see (default: the status last set).
    fn dev_status(&mut self, ctx: &DeviceCtx) -> String {
        ctx.get_status()
    }
}

/// One piece of device code the dispatcher needs run.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// Read attribute (index into [`ClassInfo::attributes`]).
    Read(usize),
    /// Write attribute with a converted, checked value.
    Write(usize, WriteValue),
    /// Run command (index into [`ClassInfo::commands`]) with a converted argument.
    Command(usize, CommandData),
    /// `dev_state()`.
    State,
    /// `dev_status()`.
    Status,
    /// `delete_device()` then `init_device()` (the `Init` command).
    Init,
}

/// The result of a [`Call`], in the same position.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Result of [`Call::Read`].
    Read(Result<AttrReading, DevFailed>),
    /// Result of [`Call::Write`] or [`Call::Init`].
    Done(Result<(), DevFailed>),
    /// Result of [`Call::Command`].
    Command(Result<CommandData, DevFailed>),
    /// Result of [`Call::State`].
    State(DevState),
    /// Result of [`Call::Status`].
    Status(String),
}

impl Outcome {
    /// Runs `call` on a synchronous device (the adapter holds the monitor lock). A panic
    /// in device code becomes a `DevFailed` (reason `API_DeviceCodePanicked`) for this
    /// request only; the server goes on.
    pub fn run_sync(dev: &mut dyn SyncDevice, ctx: &DeviceCtx, call: Call) -> Outcome {
        let kind = std::mem::discriminant(&call);
        let is = |c: &Call| std::mem::discriminant(c) == kind;
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match call {
            Call::Read(i) => Outcome::Read(dev.read_attribute(ctx, i)),
            Call::Write(i, v) => Outcome::Done(dev.write_attribute(ctx, i, v)),
            Call::Command(i, a) => Outcome::Command(dev.command(ctx, i, a)),
            Call::State => Outcome::State(dev.dev_state(ctx)),
            Call::Status => Outcome::Status(dev.dev_status(ctx)),
            Call::Init => {
                dev.delete_device(ctx);
                Outcome::Done(dev.init_device(ctx))
            }
        }));
        caught.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            let err = DevFailed::new(
                "API_DeviceCodePanicked",
                format!("device code panicked: {what}"),
                ctx.name(),
            );
            if is(&Call::Read(0)) {
                Outcome::Read(Err(err))
            } else if is(&Call::Command(0, CommandData::Void)) {
                Outcome::Command(Err(err))
            } else if is(&Call::State) {
                Outcome::State(DevState::Unknown)
            } else if is(&Call::Status) {
                Outcome::Status(err.errors[0].desc.clone())
            } else {
                Outcome::Done(Err(err))
            }
        })
    }
}
