//! Coroutine devices: device code that runs to completion on a stackful coroutine.
//!
//! A [`CoDevice`] is shared (`&self`, `Send + Sync`): a Coroutine server (PyTango's Gevent
//! server mode; `tango-coroutine` runs it on `may`) runs every request in a coroutine of
//! its own, without a monitor lock, so a command that sleeps (parking its coroutine)
//! does not hold up an attribute read of the same device. Device data therefore uses
//! interior mutability (atomics, locks held only for quick work).
//!
//! The core names no coroutine library: device code is plain blocking-looking Rust that
//! just runs; only the server knows it runs on a coroutine. Code that waits should use
//! the coroutine library's primitives (`may::coroutine::sleep`, `may::sync::Mutex`...),
//! which park the coroutine instead of the worker thread.
//!
//! [`CoClassBuilder`] is the typed way to define such a class, mirroring
//! [`super::ClassBuilder`] with closures over the shared device data `&T`:
//!
//! ```
//! use std::sync::atomic::{AtomicI32, Ordering};
//! use tango_core::device::{CoAttr, CoClassBuilder, CoCmd, ServerMode};
//! use tango_core::idl::{DevFailed, DevState};
//!
//! #[derive(Default)]
//! struct Valve {
//!     opened: AtomicI32,
//! }
//!
//! let class = CoClassBuilder::new("Valve", |_ctx| Valve::default())
//!     .init(|_v, ctx| {
//!         ctx.set_state(DevState::Close);
//!         Ok(())
//!     })
//!     .attr(CoAttr::new::<i32>("opened").read(|v: &Valve, _ctx| Ok(v.opened.load(Ordering::SeqCst))))
//!     .command(CoCmd::new("Open", |v: &Valve, ctx, (): ()| {
//!         // a real device would wait here with may::coroutine::sleep(..)
//!         v.opened.fetch_add(1, Ordering::SeqCst);
//!         ctx.set_state(DevState::Open);
//!         Ok::<(), DevFailed>(())
//!     }))
//!     .build();
//! assert_eq!(class.green_mode(), ServerMode::Coroutine);
//! assert!(class.info.command("open").is_some());
//! ```
//!
//! [`co_from_sync`] serves a Synchronous class from a Coroutine server.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, RwLock};

use crate::any::CommandData;
use crate::idl::{CmdArgType, DevFailed, DevState, DispLevel};
use crate::value::WriteValue;

use super::builder::{AttrValueType, CommandType};
use super::typed::{
    self, attr_config_methods, cmd_config_methods, panic_text, panicked, CallKind, Table,
};
use super::{Attr, AttrReading, Call, Cmd, DeviceClass, DeviceCtx, Outcome, SyncDevice};

/// A device whose code runs on a coroutine (Coroutine green mode), shared by the
/// requests running at the same time.
pub trait CoDevice: Send + Sync {
    /// `init_device`: called at start, by the `Init` command and at restart.
    fn init_device(&self, ctx: &DeviceCtx) -> Result<(), DevFailed>;
    /// `delete_device`: called before `Init` re-initialises and at shutdown.
    fn delete_device(&self, _ctx: &DeviceCtx) {}
    /// Runs one call (indices are positions in the class's `ClassInfo` lists). `Init` is
    /// `delete_device` then `init_device`.
    fn run(&self, ctx: &DeviceCtx, call: Call) -> Outcome;
    /// Runs the calls of one request, in order. The default runs each with
    /// [`Outcome::run_co`] (no lock); a device may override it to hold a lock around the
    /// whole request (as [`co_from_sync`] does). Must not unwind.
    fn run_job(&self, ctx: &DeviceCtx, calls: Vec<Call>) -> Vec<Outcome> {
        calls
            .into_iter()
            .map(|c| run_caught(self, ctx, c))
            .collect()
    }
}

/// Runs the calls of one request on a coroutine device ([`CoDevice::run_job`]), turning a
/// panic that escapes it into `API_DeviceCodePanicked` for every call.
pub fn run_job_co(dev: &dyn CoDevice, ctx: &DeviceCtx, calls: Vec<Call>) -> Vec<Outcome> {
    let kinds: Vec<CallKind> = calls.iter().map(CallKind::of).collect();
    match catch_unwind(AssertUnwindSafe(|| dev.run_job(ctx, calls))) {
        Ok(o) => o,
        Err(p) => {
            let what = panic_text(&*p);
            kinds.into_iter().map(|k| panicked(k, ctx, &what)).collect()
        }
    }
}

impl Outcome {
    /// Runs `call` on a coroutine device. A panic in device code becomes a `DevFailed`
    /// (reason `API_DeviceCodePanicked`) for this call only.
    pub fn run_co(dev: &dyn CoDevice, ctx: &DeviceCtx, call: Call) -> Outcome {
        run_caught(dev, ctx, call)
    }
}

fn run_caught<D: CoDevice + ?Sized>(dev: &D, ctx: &DeviceCtx, call: Call) -> Outcome {
    let kind = CallKind::of(&call);
    catch_unwind(AssertUnwindSafe(|| dev.run(ctx, call)))
        .unwrap_or_else(|p| panicked(kind, ctx, &panic_text(&*p)))
}

// ---------------------------------------------------------------------------------------
// A Synchronous class in a Coroutine server
// ---------------------------------------------------------------------------------------

/// The Coroutine twin of a Synchronous `class` (returned as is if it is not Synchronous).
///
/// Each device keeps its [`SyncDevice`] in a std mutex held around each request's calls,
/// as the Synchronous server's monitor lock is. Waiting for a std mutex blocks the
/// worker thread, not just the coroutine, so this suits classes whose calls are quick
/// and never park (TangoTest's: no sleeps, no I/O): a holder never yields, so a waiter
/// never waits long and never deadlocks. Device code that sleeps belongs in a
/// [`CoClassBuilder`] class.
pub fn co_from_sync(class: &DeviceClass) -> DeviceClass {
    let Some(factory) = class.sync_factory().cloned() else {
        return class.clone();
    };
    DeviceClass::from_co_parts(
        (*class.info).clone(),
        Arc::new(move |ctx: &DeviceCtx| -> Arc<dyn CoDevice> {
            Arc::new(SyncInCo {
                device: Mutex::new(factory(ctx)),
            })
        }),
    )
}

struct SyncInCo {
    device: Mutex<Box<dyn SyncDevice>>,
}

impl SyncInCo {
    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn SyncDevice>> {
        // `run_sync` catches panics, so device code never poisons it.
        self.device.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CoDevice for SyncInCo {
    fn init_device(&self, ctx: &DeviceCtx) -> Result<(), DevFailed> {
        self.lock().init_device(ctx)
    }

    fn delete_device(&self, ctx: &DeviceCtx) {
        self.lock().delete_device(ctx)
    }

    fn run(&self, ctx: &DeviceCtx, call: Call) -> Outcome {
        Outcome::run_sync(&mut **self.lock(), ctx, call)
    }

    fn run_job(&self, ctx: &DeviceCtx, calls: Vec<Call>) -> Vec<Outcome> {
        let mut dev = self.lock();
        calls
            .into_iter()
            .map(|c| Outcome::run_sync(&mut **dev, ctx, c))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// The typed builder
// ---------------------------------------------------------------------------------------

type ReadFn<T> = Arc<dyn Fn(&T, &DeviceCtx) -> Result<AttrReading, DevFailed> + Send + Sync>;
type WriteFn<T> = Arc<dyn Fn(&T, &DeviceCtx, WriteValue) -> Result<(), DevFailed> + Send + Sync>;
type RunFn<T> =
    Arc<dyn Fn(&T, &DeviceCtx, CommandData) -> Result<CommandData, DevFailed> + Send + Sync>;
type HookFn<T> = Arc<dyn Fn(&T, &DeviceCtx) -> Result<(), DevFailed> + Send + Sync>;
type StateFn<T> = Arc<dyn Fn(&T, &DeviceCtx) -> DevState + Send + Sync>;
type StatusFn<T> = Arc<dyn Fn(&T, &DeviceCtx) -> String + Send + Sync>;
type CreateFn<T> = Arc<dyn Fn(&DeviceCtx) -> T + Send + Sync>;

/// An attribute of a Coroutine class whose devices hold a `T` (see [`super::Attr`] for
/// the configuration methods, which are the same).
pub struct CoAttr<T> {
    inner: Attr<()>,
    read: Option<ReadFn<T>>,
    write: Option<WriteFn<T>>,
}

impl<T: Send + Sync + 'static> CoAttr<T> {
    /// A read-only attribute holding `V` (`f64` scalar, `Vec<f64>` spectrum, `Image<f64>`...).
    pub fn new<V: AttrValueType>(name: &str) -> Self {
        CoAttr {
            inner: Attr::new::<V>(name),
            read: None,
            write: None,
        }
    }

    attr_config_methods!();

    /// How the device reads it: `|dev: &T, ctx| Ok(value)`.
    pub fn read<V, F>(mut self, f: F) -> Self
    where
        V: AttrValueType + 'static,
        F: Fn(&T, &DeviceCtx) -> Result<V, DevFailed> + Send + Sync + 'static,
    {
        self.read = Some(Arc::new(move |t, ctx| f(t, ctx).map(V::into_reading)));
        self
    }

    /// How the device reads it, with quality and time of its own.
    pub fn read_reading<F>(mut self, f: F) -> Self
    where
        F: Fn(&T, &DeviceCtx) -> Result<AttrReading, DevFailed> + Send + Sync + 'static,
    {
        self.read = Some(Arc::new(f));
        self
    }

    /// How the device takes a written value: `|dev: &T, ctx, v: f64| { .. }`.
    pub fn write<V, F>(mut self, f: F) -> Self
    where
        V: AttrValueType + 'static,
        F: Fn(&T, &DeviceCtx, V) -> Result<(), DevFailed> + Send + Sync + 'static,
    {
        self.write = Some(Arc::new(move |t, ctx, v| f(t, ctx, V::from_write(v)?)));
        self
    }

    /// How the device takes a written value, untyped.
    pub fn write_value<F>(mut self, f: F) -> Self
    where
        F: Fn(&T, &DeviceCtx, WriteValue) -> Result<(), DevFailed> + Send + Sync + 'static,
    {
        self.write = Some(Arc::new(f));
        self
    }
}

/// A command of a Coroutine class whose devices hold a `T`.
pub struct CoCmd<T> {
    inner: Cmd<()>,
    run: RunFn<T>,
}

impl<T: Send + Sync + 'static> CoCmd<T> {
    /// A command taking `I` and returning `O` (`()` for `DevVoid`):
    /// `CoCmd::new("Go", |dev: &T, ctx, arg: f64| { .. })`.
    pub fn new<I, O, F>(name: &str, f: F) -> Self
    where
        I: CommandType + 'static,
        O: CommandType + 'static,
        F: Fn(&T, &DeviceCtx, I) -> Result<O, DevFailed> + Send + Sync + 'static,
    {
        CoCmd {
            inner: Cmd::raw(name, I::TYPE, O::TYPE, |_, _, _| Ok(CommandData::Void)),
            run: Arc::new(move |t, ctx, arg| f(t, ctx, I::from_command(arg)?).map(O::into_command)),
        }
    }

    /// A command on untyped data of the given Tango types.
    pub fn raw<F>(name: &str, in_type: CmdArgType, out_type: CmdArgType, f: F) -> Self
    where
        F: Fn(&T, &DeviceCtx, CommandData) -> Result<CommandData, DevFailed>
            + Send
            + Sync
            + 'static,
    {
        CoCmd {
            inner: Cmd::raw(name, in_type, out_type, |_, _, _| Ok(CommandData::Void)),
            run: Arc::new(f),
        }
    }

    cmd_config_methods!();
}

/// Defines a Coroutine device class whose devices hold a `T`, shared (`&T`) by the
/// requests running at the same time (use atomics or locks inside `T`).
pub struct CoClassBuilder<T> {
    name: String,
    description: Option<String>,
    create: CreateFn<T>,
    init: Option<HookFn<T>>,
    delete: Option<HookFn<T>>,
    state: Option<StateFn<T>>,
    status: Option<StatusFn<T>>,
    attrs: Vec<CoAttr<T>>,
    cmds: Vec<CoCmd<T>>,
}

impl<T: Send + Sync + 'static> CoClassBuilder<T> {
    /// A class named `name` whose devices start with the data `create` makes (called
    /// again by `Init`, as in [`super::ClassBuilder`]; requests still running keep the
    /// data they started with).
    pub fn new(name: &str, create: impl Fn(&DeviceCtx) -> T + Send + Sync + 'static) -> Self {
        CoClassBuilder {
            name: name.to_owned(),
            description: None,
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
        self.description = Some(s.to_owned());
        self
    }

    /// `init_device`, run after the data is (re)created.
    pub fn init(
        mut self,
        f: impl Fn(&T, &DeviceCtx) -> Result<(), DevFailed> + Send + Sync + 'static,
    ) -> Self {
        self.init = Some(Arc::new(f));
        self
    }

    /// `delete_device`, run before `Init` and at shutdown.
    pub fn delete(
        mut self,
        f: impl Fn(&T, &DeviceCtx) -> Result<(), DevFailed> + Send + Sync + 'static,
    ) -> Self {
        self.delete = Some(Arc::new(f));
        self
    }

    /// Computes the state clients see (default: the state last set).
    pub fn dev_state(
        mut self,
        f: impl Fn(&T, &DeviceCtx) -> DevState + Send + Sync + 'static,
    ) -> Self {
        self.state = Some(Arc::new(f));
        self
    }

    /// Computes the status clients see (default: the status last set).
    pub fn dev_status(
        mut self,
        f: impl Fn(&T, &DeviceCtx) -> String + Send + Sync + 'static,
    ) -> Self {
        self.status = Some(Arc::new(f));
        self
    }

    /// Adds an attribute.
    pub fn attr(mut self, a: CoAttr<T>) -> Self {
        self.attrs.push(a);
        self
    }

    /// Adds a command.
    pub fn command(mut self, c: CoCmd<T>) -> Self {
        self.cmds.push(c);
        self
    }

    /// The class.
    pub fn build(self) -> DeviceClass {
        let (info, table) = typed::describe(
            &self.name,
            self.description.as_deref(),
            self.attrs
                .into_iter()
                .map(|a| (a.inner, a.read, a.write))
                .collect(),
            self.cmds.into_iter().map(|c| (c.inner, c.run)).collect(),
        );
        let handlers = Arc::new(Handlers {
            create: self.create,
            init: self.init,
            delete: self.delete,
            state: self.state,
            status: self.status,
            table,
        });
        DeviceClass::from_co_parts(
            info,
            Arc::new(move |ctx: &DeviceCtx| {
                Arc::new(TypedCoDevice {
                    data: RwLock::new(Arc::new((handlers.create)(ctx))),
                    handlers: handlers.clone(),
                }) as Arc<dyn CoDevice>
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
    table: Table<ReadFn<T>, WriteFn<T>, RunFn<T>>,
}

struct TypedCoDevice<T> {
    /// Swapped by `Init`; the lock is only held to clone the `Arc`.
    data: RwLock<Arc<T>>,
    handlers: Arc<Handlers<T>>,
}

impl<T> TypedCoDevice<T> {
    fn data(&self) -> Arc<T> {
        self.data.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<T: Send + Sync + 'static> CoDevice for TypedCoDevice<T> {
    fn init_device(&self, ctx: &DeviceCtx) -> Result<(), DevFailed> {
        let fresh = Arc::new((self.handlers.create)(ctx));
        *self.data.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        match &self.handlers.init {
            Some(f) => f(&fresh, ctx),
            None => Ok(()),
        }
    }

    fn delete_device(&self, ctx: &DeviceCtx) {
        if let Some(f) = &self.handlers.delete {
            let _ = f(&self.data(), ctx);
        }
    }

    fn run(&self, ctx: &DeviceCtx, call: Call) -> Outcome {
        let h = &self.handlers;
        match call {
            Call::Read(i) => Outcome::Read(h.table.read(i, ctx).and_then(|f| f(&self.data(), ctx))),
            Call::Write(i, v) => Outcome::Done(match h.table.write(i) {
                Some(f) => f(&self.data(), ctx, v),
                // The framework keeps the set point anyway.
                None => Ok(()),
            }),
            Call::Command(i, arg) => Outcome::Command(
                h.table
                    .command(i, ctx)
                    .and_then(|f| f(&self.data(), ctx, arg)),
            ),
            Call::State => Outcome::State(match &h.state {
                Some(f) => f(&self.data(), ctx),
                None => ctx.get_state(),
            }),
            Call::Status => Outcome::Status(match &h.status {
                Some(f) => f(&self.data(), ctx),
                None => ctx.get_status(),
            }),
            Call::Init => {
                self.delete_device(ctx);
                Outcome::Done(self.init_device(ctx))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{ClassBuilder, ServerMode};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Data {
        x: AtomicUsize,
    }

    fn class() -> DeviceClass {
        CoClassBuilder::new("CoThing", |_| Data {
            x: AtomicUsize::new(7),
        })
        .init(|_d, ctx| {
            ctx.set_state(DevState::On);
            Ok(())
        })
        .attr(
            CoAttr::new::<i64>("x")
                .read_write()
                .unit("mm")
                .read(|d: &Data, _| Ok(d.x.load(Ordering::SeqCst) as i64))
                .write(|d: &Data, _, v: i64| {
                    d.x.store(v as usize, Ordering::SeqCst);
                    Ok(())
                }),
        )
        .command(CoCmd::new("Twice", |_d: &Data, _, v: f64| {
            Ok::<f64, DevFailed>(v * 2.0)
        }))
        .command(CoCmd::new("Boom", |_d: &Data, _, (): ()| {
            if true {
                panic!("kaboom");
            }
            Ok::<(), DevFailed>(())
        }))
        .build()
    }

    #[test]
    fn typed_co_class_runs_calls() {
        let c = class();
        assert_eq!(c.green_mode(), ServerMode::Coroutine);
        assert!(c.sync_factory().is_none() && c.async_factory().is_none());
        let ctx = DeviceCtx::new("a/b/c");
        // other servers get a device that refuses to start
        let err = c.new_device(&ctx).init_device(&ctx).unwrap_err();
        assert_eq!(err.errors[0].reason, "API_WrongGreenMode");
        assert!(err.errors[0].desc.contains("CoThing is Coroutine"));
        assert!(c.new_async_device(&ctx).is_none());

        let dev = c.new_co_device(&ctx).unwrap();
        dev.init_device(&ctx).unwrap();
        assert_eq!(ctx.get_state(), DevState::On);
        let x = c.info.attribute("x").unwrap();
        assert_eq!(c.info.attributes[x].config.unit, "mm");
        let twice = c.info.command("Twice").unwrap();
        let boom = c.info.command("boom").unwrap();
        let calls = vec![
            Call::Write(
                x,
                WriteValue::scalar(crate::value::AttrData::Long64(vec![11])),
            ),
            Call::Read(x),
            Call::Command(twice, CommandData::Double(1.5)),
            Call::Command(boom, CommandData::Void),
            Call::State,
            Call::Status,
        ];
        let out = run_job_co(&*dev, &ctx, calls);
        assert_eq!(out[0], Outcome::Done(Ok(())));
        match &out[1] {
            Outcome::Read(Ok(r)) => assert_eq!(r.data, crate::value::AttrData::Long64(vec![11])),
            o => panic!("{o:?}"),
        }
        assert_eq!(out[2], Outcome::Command(Ok(CommandData::Double(3.0))));
        match &out[3] {
            Outcome::Command(Err(e)) => {
                assert_eq!(e.errors[0].reason, "API_DeviceCodePanicked");
                assert!(e.errors[0].desc.contains("kaboom"));
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(out[4], Outcome::State(DevState::On));
        // Init re-creates the data
        let out = run_job_co(&*dev, &ctx, vec![Call::Init, Call::Read(x)]);
        match &out[1] {
            Outcome::Read(Ok(r)) => assert_eq!(r.data, crate::value::AttrData::Long64(vec![7])),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_sync_class_served_as_coroutine() {
        let sync = ClassBuilder::new("Counter", |_| 0i64)
            .init(|_n, ctx| {
                ctx.set_state(DevState::On);
                Ok(())
            })
            .command(Cmd::new("Add", |n: &mut i64, _, d: i64| {
                *n += d;
                Ok::<i64, DevFailed>(*n)
            }))
            .build();
        let co = co_from_sync(&sync);
        assert_eq!(co.green_mode(), ServerMode::Coroutine);
        assert_eq!(co.info, sync.info);
        assert_eq!(co_from_sync(&co).green_mode(), ServerMode::Coroutine);
        let ctx = DeviceCtx::new("a/b/c");
        let dev = co.new_co_device(&ctx).unwrap();
        dev.init_device(&ctx).unwrap();
        let add = co.info.command("Add").unwrap();
        let out = run_job_co(
            &*dev,
            &ctx,
            vec![
                Call::Command(add, CommandData::Long64(2)),
                Call::Command(add, CommandData::Long64(3)),
                Call::State,
            ],
        );
        assert_eq!(
            out,
            vec![
                Outcome::Command(Ok(CommandData::Long64(2))),
                Outcome::Command(Ok(CommandData::Long64(5))),
                Outcome::State(DevState::On),
            ]
        );
    }
}
