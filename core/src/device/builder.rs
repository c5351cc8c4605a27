//! The typed way to define a device class, in the spirit of PyTango's high-level
//! `Device` with `attribute()` and `@command`:
//!
//! ```
//! use tango_core::device::{Attr, ClassBuilder, Cmd};
//! use tango_core::idl::{DevFailed, DevState};
//!
//! #[derive(Default)]
//! struct PowerSupply {
//!     current: f64,
//! }
//!
//! let class = ClassBuilder::new("PowerSupply", |_ctx| PowerSupply::default())
//!     .init(|_ps, ctx| {
//!         ctx.set_state(DevState::Off);
//!         Ok(())
//!     })
//!     .attr(
//!         Attr::new::<f64>("current")
//!             .read_write()
//!             .unit("A")
//!             .max_value(10.0)
//!             .read(|ps: &mut PowerSupply, _| Ok(ps.current))
//!             .write(|ps: &mut PowerSupply, _, v: f64| {
//!                 ps.current = v;
//!                 Ok(())
//!             }),
//!     )
//!     .command(Cmd::new("On", |_: &mut PowerSupply, ctx, (): ()| {
//!         ctx.set_state(DevState::On);
//!         Ok::<(), DevFailed>(())
//!     }).allowed_in(&[DevState::Off]))
//!     .build();
//! assert_eq!(class.name(), "PowerSupply");
//! assert!(class.info.attribute("CURRENT").is_some());
//! ```
//!
//! Attribute and command types come from the Rust types of the closures: `f64` is a
//! `DevDouble` scalar, `Vec<f64>` a spectrum, [`Image<f64>`] an image; `()` is `DevVoid`,
//! `Vec<i32>` a `DevVarLongArray`, `(Vec<i32>, Vec<String>)` a `DevVarLongStringArray`.

use std::sync::Arc;

use crate::any::CommandData;
use crate::idl::{
    AttrDataFormat, AttrWriteType, CmdArgType, DevEncoded, DevFailed, DevState, DispLevel,
};
use crate::value::{AttrData, FromCommandData, Image, IntoCommandData, TangoElement, WriteValue};

use super::class::{default_config, AttrDef, Builtin, ClassInfo, CmdDef, DeviceClass, StateMask};
use super::{AttrReading, DeviceCtx, SyncDevice};

/// The Tango element type of a Rust type.
pub trait ElementType: TangoElement {
    /// `DevDouble` for `f64`...
    const TYPE: CmdArgType;
}

macro_rules! element_type {
    ($($t:ty => $c:ident),*) => {$( impl ElementType for $t { const TYPE: CmdArgType = CmdArgType::$c; } )*};
}
element_type!(bool => DevBoolean, i16 => DevShort, i32 => DevLong, i64 => DevLong64,
    f32 => DevFloat, f64 => DevDouble, u8 => DevUChar, u16 => DevUShort, u32 => DevULong,
    u64 => DevULong64, String => DevString, DevState => DevState, DevEncoded => DevEncoded);

/// A Rust type an attribute can hold: its Tango type and format, and the conversions.
pub trait AttrValueType: Sized {
    /// The Tango element type.
    const TYPE: CmdArgType;
    /// Scalar, spectrum or image.
    const FORMAT: AttrDataFormat;
    /// The value as a reading.
    fn into_reading(self) -> AttrReading;
    /// The value from a client's write (already converted to the attribute's type).
    fn from_write(v: WriteValue) -> Result<Self, DevFailed>;
}

fn wrong_write(what: &str) -> DevFailed {
    DevFailed::new(
        "API_IncompatibleAttrDataType",
        format!("the written value is not {what}"),
        "Attr::write",
    )
}

impl<E: ElementType> AttrValueType for E {
    const TYPE: CmdArgType = E::TYPE;
    const FORMAT: AttrDataFormat = AttrDataFormat::Scalar;
    fn into_reading(self) -> AttrReading {
        AttrReading::new(E::into_data(vec![self]), 1, 0)
    }
    fn from_write(v: WriteValue) -> Result<Self, DevFailed> {
        E::from_data(&v.data)
            .and_then(|v| v.into_iter().next())
            .ok_or_else(|| wrong_write("one value of the attribute's type"))
    }
}

impl<E: ElementType> AttrValueType for Vec<E> {
    const TYPE: CmdArgType = E::TYPE;
    const FORMAT: AttrDataFormat = AttrDataFormat::Spectrum;
    fn into_reading(self) -> AttrReading {
        let n = self.len();
        AttrReading::new(E::into_data(self), n, 0)
    }
    fn from_write(v: WriteValue) -> Result<Self, DevFailed> {
        E::from_data(&v.data).ok_or_else(|| wrong_write("a spectrum of the attribute's type"))
    }
}

impl<E: ElementType> AttrValueType for Image<E> {
    const TYPE: CmdArgType = E::TYPE;
    const FORMAT: AttrDataFormat = AttrDataFormat::Image;
    fn into_reading(self) -> AttrReading {
        AttrReading::new(E::into_data(self.data), self.dim_x, self.dim_y)
    }
    fn from_write(v: WriteValue) -> Result<Self, DevFailed> {
        let data =
            E::from_data(&v.data).ok_or_else(|| wrong_write("an image of the attribute's type"))?;
        Ok(Image {
            dim_x: v.dim_x,
            dim_y: v.dim_y,
            data,
        })
    }
}

/// A Rust type a command can take or return: its Tango type and the conversions.
pub trait CommandType: Sized {
    /// `DevDouble` for `f64`, `DevVarDoubleArray` for `Vec<f64>`, `DevVoid` for `()`...
    const TYPE: CmdArgType;
    /// From the (already converted) argument.
    fn from_command(d: CommandData) -> Result<Self, DevFailed>;
    /// To the result.
    fn into_command(self) -> CommandData;
}

macro_rules! command_type {
    ($($t:ty => $c:ident),* $(,)?) => {$(
        impl CommandType for $t {
            const TYPE: CmdArgType = CmdArgType::$c;
            fn from_command(d: CommandData) -> Result<Self, DevFailed> {
                <$t as FromCommandData>::from_command_data(d).map_err(|e| {
                    DevFailed::new("API_IncompatibleCmdArgumentType", e.to_string(), "Cmd::run")
                })
            }
            fn into_command(self) -> CommandData {
                self.into_command_data()
            }
        }
    )*};
}
command_type!(
    () => DevVoid, bool => DevBoolean, i16 => DevShort, i32 => DevLong, i64 => DevLong64,
    f32 => DevFloat, f64 => DevDouble, u8 => DevUChar, u16 => DevUShort, u32 => DevULong,
    u64 => DevULong64, String => DevString, DevState => DevState, DevEncoded => DevEncoded,
    Vec<bool> => DevVarBooleanArray, Vec<i16> => DevVarShortArray, Vec<i32> => DevVarLongArray,
    Vec<i64> => DevVarLong64Array, Vec<f32> => DevVarFloatArray, Vec<f64> => DevVarDoubleArray,
    Vec<u8> => DevVarCharArray, Vec<u16> => DevVarUShortArray, Vec<u32> => DevVarULongArray,
    Vec<u64> => DevVarULong64Array, Vec<String> => DevVarStringArray,
    Vec<DevState> => DevVarStateArray,
    (Vec<i32>, Vec<String>) => DevVarLongStringArray,
    (Vec<f64>, Vec<String>) => DevVarDoubleStringArray,
);

type ReadFn<T> = Arc<dyn Fn(&mut T, &DeviceCtx) -> Result<AttrReading, DevFailed> + Send + Sync>;
type WriteFn<T> =
    Arc<dyn Fn(&mut T, &DeviceCtx, WriteValue) -> Result<(), DevFailed> + Send + Sync>;
type RunFn<T> =
    Arc<dyn Fn(&mut T, &DeviceCtx, CommandData) -> Result<CommandData, DevFailed> + Send + Sync>;
type HookFn<T> = Arc<dyn Fn(&mut T, &DeviceCtx) -> Result<(), DevFailed> + Send + Sync>;
type StateFn<T> = Arc<dyn Fn(&mut T, &DeviceCtx) -> DevState + Send + Sync>;
type StatusFn<T> = Arc<dyn Fn(&mut T, &DeviceCtx) -> String + Send + Sync>;
type CreateFn<T> = Arc<dyn Fn(&DeviceCtx) -> T + Send + Sync>;

/// An attribute of the class whose devices hold a `T`.
pub struct Attr<T> {
    def: AttrDef,
    read: Option<ReadFn<T>>,
    write: Option<WriteFn<T>>,
}

impl<T: 'static> Attr<T> {
    /// A read-only attribute holding `V`: `f64` (scalar), `Vec<f64>` (spectrum, up to
    /// 4096 elements by default), `Image<f64>` (image, up to 4096x4096)...
    pub fn new<V: AttrValueType>(name: &str) -> Self {
        let (x, y) = match V::FORMAT {
            AttrDataFormat::Scalar => (1, 0),
            AttrDataFormat::Spectrum => (4096, 0),
            _ => (4096, 4096),
        };
        Attr {
            def: AttrDef {
                config: default_config(name, V::TYPE, V::FORMAT, AttrWriteType::Read, x, y),
                data_type: V::TYPE,
                read_allowed: StateMask::ALL,
                write_allowed: StateMask::ALL,
                polling_period_ms: None,
                builtin: None,
            },
            read: None,
            write: None,
        }
    }

    fn writable(mut self, w: AttrWriteType) -> Self {
        self.def.config.writable = w;
        // cppTango names the attribute itself for READ_WRITE and "None" for READ and WRITE.
        self.def.config.writable_attr_name = match w {
            AttrWriteType::ReadWrite => self.def.config.name.clone(),
            _ => "None".to_owned(),
        };
        self
    }

    /// Clients may read and write it.
    pub fn read_write(self) -> Self {
        self.writable(AttrWriteType::ReadWrite)
    }

    /// Clients may only write it (reads return the last written value).
    pub fn write_only(self) -> Self {
        self.writable(AttrWriteType::Write)
    }

    /// Read-only, with its set point taken from the writable attribute `w_attr`.
    pub fn read_with_write(mut self, w_attr: &str) -> Self {
        self = self.writable(AttrWriteType::ReadWithWrite);
        self.def.config.writable_attr_name = w_attr.to_owned();
        self
    }

    /// Maximum elements per row (spectra and images).
    pub fn max_dim_x(mut self, n: i32) -> Self {
        self.def.config.max_dim_x = n;
        self
    }

    /// Maximum rows (images).
    pub fn max_dim_y(mut self, n: i32) -> Self {
        self.def.config.max_dim_y = n;
        self
    }

    /// A `DevEnum` attribute: `i16` values indexing these labels.
    pub fn enum_labels<S: AsRef<str>>(mut self, labels: &[S]) -> Self {
        self.def.data_type = CmdArgType::DevEnum;
        self.def.config.data_type = CmdArgType::DevEnum as i32;
        self.def.config.format = "Not specified".to_owned();
        self.def.config.enum_labels = labels.iter().map(|s| s.as_ref().to_owned()).collect();
        self
    }

    /// Label.
    pub fn label(mut self, s: &str) -> Self {
        self.def.config.label = s.to_owned();
        self
    }

    /// Unit.
    pub fn unit(mut self, s: &str) -> Self {
        self.def.config.unit = s.to_owned();
        self
    }

    /// Description.
    pub fn description(mut self, s: &str) -> Self {
        self.def.config.description = s.to_owned();
        self
    }

    /// Display format (`%6.2f`...).
    pub fn format(mut self, s: &str) -> Self {
        self.def.config.format = s.to_owned();
        self
    }

    /// Smallest value clients may write (else `API_WAttrOutsideLimit`).
    pub fn min_value(mut self, v: f64) -> Self {
        self.def.config.min_value = v.to_string();
        self
    }

    /// Largest value clients may write (else `API_WAttrOutsideLimit`).
    pub fn max_value(mut self, v: f64) -> Self {
        self.def.config.max_value = v.to_string();
        self
    }

    /// Below this, the read quality is `ATTR_ALARM`.
    pub fn min_alarm(mut self, v: f64) -> Self {
        self.def.config.att_alarm.min_alarm = v.to_string();
        self
    }

    /// Above this, the read quality is `ATTR_ALARM`.
    pub fn max_alarm(mut self, v: f64) -> Self {
        self.def.config.att_alarm.max_alarm = v.to_string();
        self
    }

    /// Below this, the read quality is `ATTR_WARNING`.
    pub fn min_warning(mut self, v: f64) -> Self {
        self.def.config.att_alarm.min_warning = v.to_string();
        self
    }

    /// Above this, the read quality is `ATTR_WARNING`.
    pub fn max_warning(mut self, v: f64) -> Self {
        self.def.config.att_alarm.max_warning = v.to_string();
        self
    }

    /// Display level (`EXPERT` hides it from operators' GUIs).
    pub fn display_level(mut self, l: DispLevel) -> Self {
        self.def.config.level = l;
        self
    }

    /// The written value is memorized.
    pub fn memorized(mut self) -> Self {
        self.def.config.memorized = true;
        self
    }

    /// Reading (and writing) is allowed only in these states.
    pub fn allowed_in(mut self, states: &[DevState]) -> Self {
        self.def.read_allowed = StateMask::only(states);
        self.def.write_allowed = StateMask::only(states);
        self
    }

    /// Writing is allowed only in these states (reading is unaffected).
    pub fn write_allowed_in(mut self, states: &[DevState]) -> Self {
        self.def.write_allowed = StateMask::only(states);
        self
    }

    /// Polled from start-up every `ms` milliseconds.
    pub fn polling_period(mut self, ms: u32) -> Self {
        self.def.polling_period_ms = Some(ms);
        self
    }

    /// How the device reads it.
    pub fn read<V: AttrValueType>(
        mut self,
        f: impl Fn(&mut T, &DeviceCtx) -> Result<V, DevFailed> + Send + Sync + 'static,
    ) -> Self {
        self.read = Some(Arc::new(move |t, ctx| f(t, ctx).map(V::into_reading)));
        self
    }

    /// How the device reads it, with quality and time of its own.
    pub fn read_reading(
        mut self,
        f: impl Fn(&mut T, &DeviceCtx) -> Result<AttrReading, DevFailed> + Send + Sync + 'static,
    ) -> Self {
        self.read = Some(Arc::new(f));
        self
    }

    /// How the device takes a written value.
    pub fn write<V: AttrValueType>(
        mut self,
        f: impl Fn(&mut T, &DeviceCtx, V) -> Result<(), DevFailed> + Send + Sync + 'static,
    ) -> Self {
        self.write = Some(Arc::new(move |t, ctx, v| f(t, ctx, V::from_write(v)?)));
        self
    }

    /// How the device takes a written value, untyped (any shape of the declared type).
    pub fn write_value(
        mut self,
        f: impl Fn(&mut T, &DeviceCtx, WriteValue) -> Result<(), DevFailed> + Send + Sync + 'static,
    ) -> Self {
        self.write = Some(Arc::new(f));
        self
    }

    /// The attribute's description as the dispatcher sees it.
    pub fn def(&self) -> &AttrDef {
        &self.def
    }
}

/// A command of the class whose devices hold a `T`.
pub struct Cmd<T> {
    def: CmdDef,
    run: RunFn<T>,
}

impl<T: 'static> Cmd<T> {
    /// A command taking `I` and returning `O` (`()` for `DevVoid`).
    pub fn new<I: CommandType, O: CommandType>(
        name: &str,
        f: impl Fn(&mut T, &DeviceCtx, I) -> Result<O, DevFailed> + Send + Sync + 'static,
    ) -> Self {
        Self::raw(name, I::TYPE, O::TYPE, move |t, ctx, arg| {
            f(t, ctx, I::from_command(arg)?).map(O::into_command)
        })
    }

    /// A command on untyped data of the given Tango types (the argument arrives converted
    /// to `in_type`; the result must be of `out_type`).
    pub fn raw(
        name: &str,
        in_type: CmdArgType,
        out_type: CmdArgType,
        f: impl Fn(&mut T, &DeviceCtx, CommandData) -> Result<CommandData, DevFailed>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Cmd {
            def: CmdDef {
                name: name.to_owned(),
                in_type,
                out_type,
                in_desc: "Uninitialised".to_owned(),
                out_desc: "Uninitialised".to_owned(),
                level: DispLevel::Operator,
                allowed: StateMask::ALL,
                in_enum_labels: Vec::new(),
                out_enum_labels: Vec::new(),
                builtin: None,
            },
            run: Arc::new(f),
        }
    }

    /// Allowed only in these states (else `API_CommandNotAllowed`).
    pub fn allowed_in(mut self, states: &[DevState]) -> Self {
        self.def.allowed = StateMask::only(states);
        self
    }

    /// Allowed in every state but these.
    pub fn not_allowed_in(mut self, states: &[DevState]) -> Self {
        self.def.allowed = StateMask::except(states);
        self
    }

    /// Describes the argument.
    pub fn in_desc(mut self, s: &str) -> Self {
        self.def.in_desc = s.to_owned();
        self
    }

    /// Describes the result.
    pub fn out_desc(mut self, s: &str) -> Self {
        self.def.out_desc = s.to_owned();
        self
    }

    /// Display level.
    pub fn display_level(mut self, l: DispLevel) -> Self {
        self.def.level = l;
        self
    }

    /// The command's description as the dispatcher sees it.
    pub fn def(&self) -> &CmdDef {
        &self.def
    }
}

/// Defines a device class whose devices hold a `T`.
pub struct ClassBuilder<T> {
    name: String,
    description: String,
    create: CreateFn<T>,
    init: Option<HookFn<T>>,
    delete: Option<HookFn<T>>,
    state: Option<StateFn<T>>,
    status: Option<StatusFn<T>>,
    attrs: Vec<Attr<T>>,
    cmds: Vec<Cmd<T>>,
}

impl<T: Send + 'static> ClassBuilder<T> {
    /// A class named `name` whose devices start with the data `create` makes (called
    /// again by the `Init` command, so `Init` resets a device as cppTango's does).
    pub fn new(name: &str, create: impl Fn(&DeviceCtx) -> T + Send + Sync + 'static) -> Self {
        ClassBuilder {
            name: name.to_owned(),
            description: format!("A {name} device"),
            create: Arc::new(create),
            init: None,
            delete: None,
            state: None,
            status: None,
            attrs: Vec::new(),
            cmds: Vec::new(),
        }
    }

    /// Class description.
    pub fn description(mut self, s: &str) -> Self {
        self.description = s.to_owned();
        self
    }

    /// `init_device`, run after the data is (re)created.
    pub fn init(
        mut self,
        f: impl Fn(&mut T, &DeviceCtx) -> Result<(), DevFailed> + Send + Sync + 'static,
    ) -> Self {
        self.init = Some(Arc::new(f));
        self
    }

    /// `delete_device`, run before `Init` and at shutdown.
    pub fn delete(
        mut self,
        f: impl Fn(&mut T, &DeviceCtx) -> Result<(), DevFailed> + Send + Sync + 'static,
    ) -> Self {
        self.delete = Some(Arc::new(f));
        self
    }

    /// Computes the state clients see (default: the state last set).
    pub fn dev_state(
        mut self,
        f: impl Fn(&mut T, &DeviceCtx) -> DevState + Send + Sync + 'static,
    ) -> Self {
        self.state = Some(Arc::new(f));
        self
    }

    /// Computes the status clients see (default: the status last set).
    pub fn dev_status(
        mut self,
        f: impl Fn(&mut T, &DeviceCtx) -> String + Send + Sync + 'static,
    ) -> Self {
        self.status = Some(Arc::new(f));
        self
    }

    /// Adds an attribute.
    pub fn attr(mut self, a: Attr<T>) -> Self {
        self.attrs.push(a);
        self
    }

    /// Adds a command.
    pub fn command(mut self, c: Cmd<T>) -> Self {
        self.cmds.push(c);
        self
    }

    /// The class.
    pub fn build(self) -> DeviceClass {
        let mut attributes: Vec<AttrDef> = self.attrs.iter().map(|a| a.def.clone()).collect();
        for (name, t, b) in [
            ("State", CmdArgType::DevState, Builtin::State),
            ("Status", CmdArgType::DevString, Builtin::Status),
        ] {
            let mut def = Attr::<T>::new::<String>(name).def;
            def.config = default_config(name, t, AttrDataFormat::Scalar, AttrWriteType::Read, 1, 0);
            def.data_type = t;
            def.builtin = Some(b);
            attributes.push(def);
        }
        let mut commands: Vec<CmdDef> = Vec::new();
        for (name, out, out_desc, b) in [
            ("Init", CmdArgType::DevVoid, "Uninitialised", Builtin::Init),
            (
                "State",
                CmdArgType::DevState,
                "Device state",
                Builtin::State,
            ),
            (
                "Status",
                CmdArgType::DevString,
                "Device status",
                Builtin::Status,
            ),
        ] {
            let mut def = Cmd::<T>::raw(name, CmdArgType::DevVoid, out, |_, _, _| {
                Ok(CommandData::Void)
            })
            .def;
            def.out_desc = out_desc.to_owned();
            def.builtin = Some(b);
            commands.push(def);
        }
        commands.extend(self.cmds.iter().map(|c| c.def.clone()));
        commands.sort_by(|a, b| a.name.cmp(&b.name));
        let info = ClassInfo {
            name: self.name,
            description: self.description,
            attributes,
            commands,
        };
        // Handlers indexed like the ClassInfo lists (None for built-ins).
        let reads: Vec<Option<ReadFn<T>>> = self.attrs.iter().map(|a| a.read.clone()).collect();
        let writes: Vec<Option<WriteFn<T>>> = self.attrs.iter().map(|a| a.write.clone()).collect();
        let runs: Vec<Option<RunFn<T>>> = info
            .commands
            .iter()
            .map(|d| {
                self.cmds
                    .iter()
                    .find(|c| d.builtin.is_none() && c.def.name == d.name)
                    .map(|c| c.run.clone())
            })
            .collect();
        let handlers = Arc::new(Handlers {
            create: self.create,
            init: self.init,
            delete: self.delete,
            state: self.state,
            status: self.status,
            reads,
            writes,
            runs,
            names: info
                .attributes
                .iter()
                .map(|a| a.config.name.clone())
                .collect(),
            cmd_names: info.commands.iter().map(|c| c.name.clone()).collect(),
        });
        DeviceClass::from_parts(
            info,
            Arc::new(move |ctx: &DeviceCtx| {
                Box::new(TypedDevice {
                    data: (handlers.create)(ctx),
                    handlers: handlers.clone(),
                }) as Box<dyn SyncDevice>
            }),
        )
    }
}

struct Handlers<T> {
    create: CreateFn<T>,
    init: Option<HookFn<T>>,
    delete: Option<HookFn<T>>,
    state: Option<StateFn<T>>,
    status: Option<StatusFn<T>>,
    reads: Vec<Option<ReadFn<T>>>,
    writes: Vec<Option<WriteFn<T>>>,
    runs: Vec<Option<RunFn<T>>>,
    names: Vec<String>,
    cmd_names: Vec<String>,
}

struct TypedDevice<T> {
    data: T,
    handlers: Arc<Handlers<T>>,
}

fn no_handler(what: &str, name: &str, ctx: &DeviceCtx) -> DevFailed {
    DevFailed::new(
        "API_NotSupportedFeature",
        format!("{what} {name} has no implementation in this device"),
        ctx.name(),
    )
}

impl<T: Send + 'static> SyncDevice for TypedDevice<T> {
    fn init_device(&mut self, ctx: &DeviceCtx) -> Result<(), DevFailed> {
        self.data = (self.handlers.create)(ctx);
        match &self.handlers.init {
            Some(f) => f(&mut self.data, ctx),
            None => Ok(()),
        }
    }

    fn delete_device(&mut self, ctx: &DeviceCtx) {
        if let Some(f) = &self.handlers.delete {
            let _ = f(&mut self.data, ctx);
        }
    }

    fn read_attribute(&mut self, ctx: &DeviceCtx, attr: usize) -> Result<AttrReading, DevFailed> {
        match self.handlers.reads.get(attr).and_then(Option::as_ref) {
            Some(f) => f(&mut self.data, ctx),
            None => {
                let name = self.handlers.names.get(attr).map_or("?", String::as_str);
                Err(no_handler("reading attribute", name, ctx))
            }
        }
    }

    fn write_attribute(
        &mut self,
        ctx: &DeviceCtx,
        attr: usize,
        value: WriteValue,
    ) -> Result<(), DevFailed> {
        match self.handlers.writes.get(attr).and_then(Option::as_ref) {
            Some(f) => f(&mut self.data, ctx, value),
            // A writable attribute without a write handler just keeps the set point,
            // which the framework stores anyway.
            None => Ok(()),
        }
    }

    fn command(
        &mut self,
        ctx: &DeviceCtx,
        cmd: usize,
        arg: CommandData,
    ) -> Result<CommandData, DevFailed> {
        match self.handlers.runs.get(cmd).and_then(Option::as_ref) {
            Some(f) => f(&mut self.data, ctx, arg),
            None => {
                let name = self.handlers.cmd_names.get(cmd).map_or("?", String::as_str);
                Err(no_handler("command", name, ctx))
            }
        }
    }

    fn dev_state(&mut self, ctx: &DeviceCtx) -> DevState {
        match &self.handlers.state {
            Some(f) => f(&mut self.data, ctx),
            None => ctx.get_state(),
        }
    }

    fn dev_status(&mut self, ctx: &DeviceCtx) -> String {
        match &self.handlers.status {
            Some(f) => f(&mut self.data, ctx),
            None => ctx.get_status(),
        }
    }
}

/// The data of `AttrData` as one of the `T` a typed read closure may return (helper for
/// raw readers).
pub fn reading_of(
    data: AttrData,
    format: AttrDataFormat,
    dim_x: usize,
    dim_y: usize,
) -> AttrReading {
    match format {
        AttrDataFormat::Scalar => AttrReading::new(data, 1, 0),
        AttrDataFormat::Spectrum => {
            let n = data.len();
            AttrReading::new(data, n, 0)
        }
        _ => AttrReading::new(data, dim_x, dim_y),
    }
}
