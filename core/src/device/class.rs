//! The erased description of a device class: what the dispatcher knows without running
//! device code.

use std::fmt;
use std::sync::Arc;

use crate::idl::{
    ArchiveEventProp, AttrDataFormat, AttrWriteType, AttributeAlarm, AttributeConfig5,
    ChangeEventProp, CmdArgType, DevState, DispLevel, EventProperties, PeriodicEventProp,
};

use super::{AsyncDevice, CoDevice, DeviceCtx, SyncDevice};
use crate::any::CommandData;
use crate::idl::DevFailed;
use crate::value::WriteValue;

/// A set of device states (for "allowed in" rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateMask(u16);

impl StateMask {
    /// Every state: always allowed.
    pub const ALL: StateMask = StateMask(0x3fff);

    /// Exactly these states.
    pub fn only(states: &[DevState]) -> Self {
        StateMask(states.iter().fold(0, |m, s| m | (1 << *s as u16)))
    }

    /// Every state but these.
    pub fn except(states: &[DevState]) -> Self {
        StateMask(Self::ALL.0 & !Self::only(states).0)
    }

    /// Is `s` in the set?
    pub fn contains(self, s: DevState) -> bool {
        self.0 & (1 << s as u16) != 0
    }
}

impl Default for StateMask {
    fn default() -> Self {
        StateMask::ALL
    }
}

/// The attributes and commands every Tango device has, served by the framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// The `State` attribute or command: `dev_state()`.
    State,
    /// The `Status` attribute or command: `dev_status()`.
    Status,
    /// The `Init` command: `delete_device()` then `init_device()`.
    Init,
}

/// One attribute of a class.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrDef {
    /// The default configuration, as `get_attribute_config_5` returns it before any
    /// `set_attribute_config`. Name, type, format, writability and dimensions live here.
    pub config: AttributeConfig5,
    /// The Tango type (also in `config.data_type`).
    pub data_type: CmdArgType,
    /// States in which reading is allowed (else `API_AttrNotAllowed`).
    pub read_allowed: StateMask,
    /// States in which writing is allowed (else `API_AttrNotAllowed`).
    pub write_allowed: StateMask,
    /// Polled from start-up with this period, in milliseconds.
    pub polling_period_ms: Option<u32>,
    /// Served by the framework instead of device code.
    pub builtin: Option<Builtin>,
}

impl AttrDef {
    /// The attribute name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Scalar, spectrum or image.
    pub fn format(&self) -> AttrDataFormat {
        self.config.data_format
    }

    /// READ, WRITE, READ_WRITE or READ_WITH_WRITE.
    pub fn writable(&self) -> AttrWriteType {
        self.config.writable
    }

    /// True if clients may write it.
    pub fn is_writable(&self) -> bool {
        matches!(
            self.config.writable,
            AttrWriteType::Write | AttrWriteType::ReadWrite
        )
    }
}

/// One command of a class.
#[derive(Debug, Clone, PartialEq)]
pub struct CmdDef {
    /// Command name.
    pub name: String,
    /// Argument type.
    pub in_type: CmdArgType,
    /// Result type.
    pub out_type: CmdArgType,
    /// Argument description.
    pub in_desc: String,
    /// Result description.
    pub out_desc: String,
    /// Display level.
    pub level: DispLevel,
    /// States in which it may run (else `API_CommandNotAllowed`).
    pub allowed: StateMask,
    /// Labels when the argument is a `DevEnum`.
    pub in_enum_labels: Vec<String>,
    /// Labels when the result is a `DevEnum`.
    pub out_enum_labels: Vec<String>,
    /// Served by the framework instead of device code.
    pub builtin: Option<Builtin>,
}

/// Everything the dispatcher knows about a class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassInfo {
    /// Class name (`TangoTest`).
    pub name: String,
    /// Class description.
    pub description: String,
    /// Attributes, in declaration order, `State` and `Status` last.
    pub attributes: Vec<AttrDef>,
    /// Commands, in declaration order, with `Init`, `State` and `Status`.
    pub commands: Vec<CmdDef>,
}

impl ClassInfo {
    /// Index of the attribute named `name`, compared case-insensitively as Tango does.
    pub fn attribute(&self, name: &str) -> Option<usize> {
        self.attributes
            .iter()
            .position(|a| a.config.name.eq_ignore_ascii_case(name))
    }

    /// Index of the command named `name`, compared case-insensitively as Tango does.
    pub fn command(&self, name: &str) -> Option<usize> {
        self.commands
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// Makes one device object of a class.
pub type SyncFactory = dyn Fn(&DeviceCtx) -> Box<dyn SyncDevice> + Send + Sync;

/// Makes one device object of an Asyncio class.
pub type AsyncFactory = dyn Fn(&DeviceCtx) -> Arc<dyn AsyncDevice> + Send + Sync;

/// Makes one device object of a Coroutine class.
pub type CoFactory = dyn Fn(&DeviceCtx) -> Arc<dyn CoDevice> + Send + Sync;

/// How a class makes its devices, which says the green mode its code runs in.
#[derive(Clone)]
pub enum DeviceFactory {
    /// Synchronous devices ([`SyncDevice`]), run under a monitor lock.
    Sync(Arc<SyncFactory>),
    /// Asyncio devices ([`AsyncDevice`]), run as futures on the server's runtime.
    Async(Arc<AsyncFactory>),
    /// Coroutine devices ([`CoDevice`]), each request on a coroutine, no monitor lock.
    Coroutine(Arc<CoFactory>),
}

/// The server green mode a class's code needs. All classes of one server share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerMode {
    /// Blocking device code, one request at a time per device (monitor lock).
    Synchronous,
    /// `async fn` device code on the server's async runtime, no monitor lock by default.
    Asyncio,
    /// Blocking-looking device code on stackful coroutines (PyTango's Gevent), no
    /// monitor lock.
    Coroutine,
}

impl fmt::Display for ServerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerMode::Synchronous => "Synchronous",
            ServerMode::Asyncio => "Asyncio",
            ServerMode::Coroutine => "Coroutine",
        })
    }
}

/// A device class: its description and how to make its devices.
#[derive(Clone)]
pub struct DeviceClass {
    /// The description.
    pub info: Arc<ClassInfo>,
    factory: DeviceFactory,
}

impl fmt::Debug for DeviceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceClass")
            .field("name", &self.info.name)
            .field("mode", &self.green_mode())
            .finish()
    }
}

impl DeviceClass {
    /// A class from its description and a factory of synchronous devices.
    pub fn from_parts(info: ClassInfo, factory: Arc<SyncFactory>) -> Self {
        DeviceClass {
            info: Arc::new(info),
            factory: DeviceFactory::Sync(factory),
        }
    }

    /// A class from its description and a factory of Asyncio devices.
    pub fn from_async_parts(info: ClassInfo, factory: Arc<AsyncFactory>) -> Self {
        DeviceClass {
            info: Arc::new(info),
            factory: DeviceFactory::Async(factory),
        }
    }

    /// A class from its description and a factory of Coroutine devices.
    pub fn from_co_parts(info: ClassInfo, factory: Arc<CoFactory>) -> Self {
        DeviceClass {
            info: Arc::new(info),
            factory: DeviceFactory::Coroutine(factory),
        }
    }

    /// The class name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The server green mode the class's code needs.
    pub fn green_mode(&self) -> ServerMode {
        match self.factory {
            DeviceFactory::Sync(_) => ServerMode::Synchronous,
            DeviceFactory::Async(_) => ServerMode::Asyncio,
            DeviceFactory::Coroutine(_) => ServerMode::Coroutine,
        }
    }

    /// How the class makes its devices.
    pub fn factory(&self) -> &DeviceFactory {
        &self.factory
    }

    /// The factory of synchronous devices (`None` for a class of another mode).
    pub fn sync_factory(&self) -> Option<&Arc<SyncFactory>> {
        match &self.factory {
            DeviceFactory::Sync(f) => Some(f),
            _ => None,
        }
    }

    /// The factory of Asyncio devices (`None` for a class of another mode).
    pub fn async_factory(&self) -> Option<&Arc<AsyncFactory>> {
        match &self.factory {
            DeviceFactory::Async(f) => Some(f),
            _ => None,
        }
    }

    /// The factory of Coroutine devices (`None` for a class of another mode).
    pub fn co_factory(&self) -> Option<&Arc<CoFactory>> {
        match &self.factory {
            DeviceFactory::Coroutine(f) => Some(f),
            _ => None,
        }
    }

    /// Makes the device object for `ctx` (not yet initialised: call `init_device`).
    ///
    /// For an Asyncio or Coroutine class, which a Synchronous server cannot run, the
    /// object refuses everything: its `init_device` fails with `API_WrongGreenMode`, so a
    /// Synchronous server refuses to start with it.
    pub fn new_device(&self, ctx: &DeviceCtx) -> Box<dyn SyncDevice> {
        match &self.factory {
            DeviceFactory::Sync(f) => f(ctx),
            _ => Box::new(WrongMode {
                class: self.info.name.clone(),
                mode: self.green_mode(),
            }),
        }
    }

    /// Makes the Asyncio device object for `ctx` (`None` for a Synchronous class).
    pub fn new_async_device(&self, ctx: &DeviceCtx) -> Option<Arc<dyn AsyncDevice>> {
        self.async_factory().map(|f| f(ctx))
    }

    /// Makes the Coroutine device object for `ctx` (`None` for a class of another mode).
    pub fn new_co_device(&self, ctx: &DeviceCtx) -> Option<Arc<dyn CoDevice>> {
        self.co_factory().map(|f| f(ctx))
    }
}

/// What a Synchronous server gets for a device of an Asyncio or Coroutine class.
struct WrongMode {
    class: String,
    mode: ServerMode,
}

impl WrongMode {
    fn refuse(&self, ctx: &DeviceCtx) -> DevFailed {
        DevFailed::new(
            "API_WrongGreenMode",
            format!(
                "device class {} is {}; this server runs Synchronous classes only",
                self.class, self.mode
            ),
            ctx.name(),
        )
    }
}

impl SyncDevice for WrongMode {
    fn init_device(&mut self, ctx: &DeviceCtx) -> Result<(), DevFailed> {
        Err(self.refuse(ctx))
    }

    fn read_attribute(
        &mut self,
        ctx: &DeviceCtx,
        _attr: usize,
    ) -> Result<super::AttrReading, DevFailed> {
        Err(self.refuse(ctx))
    }

    fn write_attribute(
        &mut self,
        ctx: &DeviceCtx,
        _attr: usize,
        _value: WriteValue,
    ) -> Result<(), DevFailed> {
        Err(self.refuse(ctx))
    }

    fn command(
        &mut self,
        ctx: &DeviceCtx,
        _cmd: usize,
        _arg: CommandData,
    ) -> Result<CommandData, DevFailed> {
        Err(self.refuse(ctx))
    }
}

const NOT_SPECIFIED: &str = "Not specified";

/// The configuration cppTango gives an attribute nobody configured: the values
/// `get_attribute_config` shows for TangoTest's attributes.
pub fn default_config(
    name: &str,
    data_type: CmdArgType,
    format: AttrDataFormat,
    writable: AttrWriteType,
    max_dim_x: i32,
    max_dim_y: i32,
) -> AttributeConfig5 {
    let ns = || NOT_SPECIFIED.to_owned();
    let display_format = match data_type {
        CmdArgType::DevFloat | CmdArgType::DevDouble => "%6.2f",
        CmdArgType::DevString => "%s",
        CmdArgType::DevState | CmdArgType::DevEnum | CmdArgType::DevEncoded => "Not specified",
        _ => "%d",
    };
    let writable_attr_name = match writable {
        AttrWriteType::ReadWrite => name.to_owned(),
        _ => "None".to_owned(),
    };
    AttributeConfig5 {
        name: name.to_owned(),
        writable,
        data_format: format,
        data_type: data_type as i32,
        memorized: false,
        mem_init: true,
        max_dim_x,
        max_dim_y,
        description: "No description".to_owned(),
        label: name.to_owned(),
        unit: String::new(),
        standard_unit: "No standard unit".to_owned(),
        display_unit: "No display unit".to_owned(),
        format: display_format.to_owned(),
        min_value: ns(),
        max_value: ns(),
        writable_attr_name,
        level: DispLevel::Operator,
        root_attr_name: ns(),
        enum_labels: Vec::new(),
        att_alarm: AttributeAlarm {
            min_alarm: ns(),
            max_alarm: ns(),
            min_warning: ns(),
            max_warning: ns(),
            delta_t: ns(),
            delta_val: ns(),
            extensions: Vec::new(),
        },
        event_prop: EventProperties {
            ch_event: ChangeEventProp {
                rel_change: ns(),
                abs_change: ns(),
                extensions: Vec::new(),
            },
            per_event: PeriodicEventProp {
                period: "1000".to_owned(),
                extensions: Vec::new(),
            },
            arch_event: ArchiveEventProp {
                rel_change: ns(),
                abs_change: ns(),
                period: ns(),
                extensions: Vec::new(),
            },
        },
        extensions: Vec::new(),
        sys_extensions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_masks() {
        let m = StateMask::only(&[DevState::On, DevState::Running]);
        assert!(m.contains(DevState::On) && m.contains(DevState::Running));
        assert!(!m.contains(DevState::Fault));
        let e = StateMask::except(&[DevState::Fault]);
        assert!(!e.contains(DevState::Fault) && e.contains(DevState::Unknown));
        assert!(StateMask::ALL.contains(DevState::Unknown));
    }
}
