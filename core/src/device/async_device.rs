//! Asyncio devices: device code as futures, run by an async adapter on its runtime.
//!
//! An [`AsyncDevice`] is shared (`&self`, `Send + Sync`): an async server runs requests to
//! one device concurrently, without a monitor lock, unless the class opts in to an
//! [`AsyncMonitor`] (a fair async lock that serialises requests without blocking the
//! event loop). The core names no runtime: futures are boxed ([`BoxFuture`]) and the
//! adapter (tokio, smol, async-std...) polls them.
//!
//! [`AsyncClassBuilder`] is the typed way to define such a class, mirroring
//! [`super::ClassBuilder`] with `async` closures that get the device data as an `Arc<T>`
//! and an owned [`DeviceCtx`] (so a command may move them into a background task that
//! outlives the request):
//!
//! ```
//! use std::sync::atomic::{AtomicI32, Ordering};
//! use std::sync::Arc;
//! use tango_core::device::{AsyncAttr, AsyncClassBuilder, AsyncCmd, ServerMode};
//! use tango_core::idl::{DevFailed, DevState};
//!
//! #[derive(Default)]
//! struct Valve {
//!     opened: AtomicI32,
//! }
//!
//! let class = AsyncClassBuilder::new("Valve", |_ctx| Valve::default())
//!     .init(|_v, ctx| async move {
//!         ctx.set_state(DevState::Close);
//!         Ok(())
//!     })
//!     .attr(AsyncAttr::new::<i32>("opened").read(|v: Arc<Valve>, _ctx| async move {
//!         Ok(v.opened.load(Ordering::SeqCst))
//!     }))
//!     .command(AsyncCmd::new("Open", |v: Arc<Valve>, ctx, (): ()| async move {
//!         v.opened.fetch_add(1, Ordering::SeqCst);
//!         ctx.set_state(DevState::Open);
//!         Ok::<(), DevFailed>(())
//!     }))
//!     .build();
//! assert_eq!(class.green_mode(), ServerMode::Asyncio);
//! assert!(class.info.command("open").is_some());
//! ```

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker};

use crate::any::CommandData;
use crate::idl::{CmdArgType, DevFailed, DevState, DispLevel};
use crate::value::WriteValue;

use super::builder::{AttrValueType, CommandType};
use super::typed::{self, attr_config_methods, cmd_config_methods, panic_text, CallKind, Table};
use super::{Attr, AttrReading, Call, Cmd, DeviceClass, DeviceCtx, Outcome};

/// A boxed, sendable future: what async device code returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A device whose code runs as futures (Asyncio green mode).
///
/// Requests run concurrently on the shared object unless [`AsyncDevice::monitor`] gives a
/// lock, which [`run_job_async`] then holds around each request's calls.
pub trait AsyncDevice: Send + Sync {
    /// `init_device`: called at start, by the `Init` command and at restart.
    fn init_device<'a>(&'a self, ctx: &'a DeviceCtx) -> BoxFuture<'a, Result<(), DevFailed>>;
    /// `delete_device`: called before `Init` re-initialises and at shutdown.
    fn delete_device<'a>(&'a self, _ctx: &'a DeviceCtx) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    /// Runs one call (indices are positions in the class's `ClassInfo` lists). `Init` is
    /// `delete_device` then `init_device`.
    fn run<'a>(&'a self, ctx: &'a DeviceCtx, call: Call) -> BoxFuture<'a, Outcome>;
    /// The lock serialising this device's requests, if its class opted in.
    fn monitor(&self) -> Option<&AsyncMonitor> {
        None
    }
}

/// Runs the calls of one request on an async device, in order, under its monitor if it
/// has one. A panic in device code becomes a `DevFailed` (`API_DeviceCodePanicked`) for
/// that call only.
pub async fn run_job_async(
    dev: &dyn AsyncDevice,
    ctx: &DeviceCtx,
    calls: Vec<Call>,
) -> Vec<Outcome> {
    let _guard = match dev.monitor() {
        Some(m) => Some(m.lock().await),
        None => None,
    };
    let mut out = Vec::with_capacity(calls.len());
    for call in calls {
        out.push(Outcome::run_async(dev, ctx, call).await);
    }
    out
}

impl Outcome {
    /// Runs `call` on an async device (without taking its monitor: see
    /// [`run_job_async`]). A panic while making or polling the future becomes a
    /// `DevFailed` (reason `API_DeviceCodePanicked`) for this call only.
    pub async fn run_async(dev: &dyn AsyncDevice, ctx: &DeviceCtx, call: Call) -> Outcome {
        let kind = CallKind::of(&call);
        let fut = match catch_unwind(AssertUnwindSafe(|| dev.run(ctx, call))) {
            Ok(f) => f,
            Err(p) => return panicked(kind, ctx, p),
        };
        match (CatchUnwind { fut }).await {
            Ok(o) => o,
            Err(p) => panicked(kind, ctx, p),
        }
    }
}

fn panicked(kind: CallKind, ctx: &DeviceCtx, panic: Box<dyn Any + Send>) -> Outcome {
    typed::panicked(kind, ctx, &panic_text(&*panic))
}

/// Polls a future, catching a panic as an error.
struct CatchUnwind<'a, T> {
    fut: BoxFuture<'a, T>,
}

impl<T> Future for CatchUnwind<'_, T> {
    type Output = Result<T, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.fut;
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The async monitor
// ---------------------------------------------------------------------------------------

/// A fair (first come, first served) async lock without data: what a `.serialized()`
/// class holds around each request. Waiting for it suspends the task, never the thread.
/// Runtime-agnostic (a std mutex and a queue of wakers).
#[derive(Debug, Default)]
pub struct AsyncMonitor {
    state: Mutex<MonitorState>,
}

#[derive(Debug, Default)]
struct MonitorState {
    locked: bool,
    next_id: u64,
    /// The waiter the lock was handed to, which has not seen it yet.
    granted: Option<u64>,
    waiters: VecDeque<(u64, Waker)>,
}

impl AsyncMonitor {
    /// An unlocked monitor.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, MonitorState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the lock (in arrival order).
    pub fn lock(&self) -> AsyncMonitorLock<'_> {
        AsyncMonitorLock {
            monitor: self,
            id: None,
            done: false,
        }
    }

    /// The lock if it is free and nobody waits for it.
    pub fn try_lock(&self) -> Option<AsyncMonitorGuard<'_>> {
        let mut st = self.state();
        if st.locked {
            return None;
        }
        st.locked = true;
        Some(AsyncMonitorGuard { monitor: self })
    }

    /// True while someone holds the lock.
    pub fn is_locked(&self) -> bool {
        self.state().locked
    }

    /// Hands the lock to the first waiter, or frees it.
    fn release(&self) {
        let mut st = self.state();
        match st.waiters.pop_front() {
            Some((id, waker)) => {
                st.granted = Some(id);
                drop(st);
                waker.wake();
            }
            None => st.locked = false,
        }
    }
}

/// The future of [`AsyncMonitor::lock`].
#[derive(Debug)]
pub struct AsyncMonitorLock<'a> {
    monitor: &'a AsyncMonitor,
    id: Option<u64>,
    done: bool,
}

impl<'a> Future for AsyncMonitorLock<'a> {
    type Output = AsyncMonitorGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let monitor = this.monitor;
        let mut st = monitor.state();
        match this.id {
            None if !st.locked => {
                st.locked = true;
                this.done = true;
                Poll::Ready(AsyncMonitorGuard { monitor })
            }
            None => {
                let id = st.next_id;
                st.next_id += 1;
                st.waiters.push_back((id, cx.waker().clone()));
                this.id = Some(id);
                Poll::Pending
            }
            Some(id) if st.granted == Some(id) => {
                st.granted = None;
                this.done = true;
                Poll::Ready(AsyncMonitorGuard { monitor })
            }
            Some(id) => {
                if let Some((_, w)) = st.waiters.iter_mut().find(|(i, _)| *i == id) {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for AsyncMonitorLock<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(id) = self.id else { return };
        let mut st = self.monitor.state();
        if st.granted == Some(id) {
            // Handed to us but never taken: pass it on.
            st.granted = None;
            drop(st);
            self.monitor.release();
        } else {
            st.waiters.retain(|(i, _)| *i != id);
        }
    }
}

/// Holds an [`AsyncMonitor`]; dropping it hands the lock to the next waiter.
#[derive(Debug)]
pub struct AsyncMonitorGuard<'a> {
    monitor: &'a AsyncMonitor,
}

impl Drop for AsyncMonitorGuard<'_> {
    fn drop(&mut self) {
        self.monitor.release();
    }
}

// ---------------------------------------------------------------------------------------
// The typed builder
// ---------------------------------------------------------------------------------------

type ReadFn<T> = Arc<
    dyn Fn(Arc<T>, DeviceCtx) -> BoxFuture<'static, Result<AttrReading, DevFailed>> + Send + Sync,
>;
type WriteFn<T> = Arc<
    dyn Fn(Arc<T>, DeviceCtx, WriteValue) -> BoxFuture<'static, Result<(), DevFailed>>
        + Send
        + Sync,
>;
type RunFn<T> = Arc<
    dyn Fn(Arc<T>, DeviceCtx, CommandData) -> BoxFuture<'static, Result<CommandData, DevFailed>>
        + Send
        + Sync,
>;
type HookFn<T> =
    Arc<dyn Fn(Arc<T>, DeviceCtx) -> BoxFuture<'static, Result<(), DevFailed>> + Send + Sync>;
type StateFn<T> = Arc<dyn Fn(Arc<T>, DeviceCtx) -> BoxFuture<'static, DevState> + Send + Sync>;
type StatusFn<T> = Arc<dyn Fn(Arc<T>, DeviceCtx) -> BoxFuture<'static, String> + Send + Sync>;
type CreateFn<T> = Arc<dyn Fn(&DeviceCtx) -> T + Send + Sync>;

/// An attribute of an Asyncio class whose devices hold a `T` (see [`super::Attr`] for
/// the configuration methods, which are the same).
pub struct AsyncAttr<T> {
    inner: Attr<()>,
    read: Option<ReadFn<T>>,
    write: Option<WriteFn<T>>,
}

impl<T: Send + Sync + 'static> AsyncAttr<T> {
    /// A read-only attribute holding `V` (`f64` scalar, `Vec<f64>` spectrum, `Image<f64>`...).
    pub fn new<V: AttrValueType>(name: &str) -> Self {
        AsyncAttr {
            inner: Attr::new::<V>(name),
            read: None,
            write: None,
        }
    }

    attr_config_methods!();

    /// How the device reads it: `|dev: Arc<T>, ctx| async move { Ok(value) }`.
    pub fn read<V, F, Fut>(mut self, f: F) -> Self
    where
        V: AttrValueType + Send + 'static,
        F: Fn(Arc<T>, DeviceCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<V, DevFailed>> + Send + 'static,
    {
        self.read = Some(Arc::new(move |t, ctx| {
            let fut = f(t, ctx);
            Box::pin(async move { fut.await.map(V::into_reading) })
        }));
        self
    }

    /// How the device reads it, with quality and time of its own.
    pub fn read_reading<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<T>, DeviceCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<AttrReading, DevFailed>> + Send + 'static,
    {
        self.read = Some(Arc::new(move |t, ctx| Box::pin(f(t, ctx))));
        self
    }

    /// How the device takes a written value: `|dev, ctx, v: f64| async move { .. }`.
    pub fn write<V, F, Fut>(mut self, f: F) -> Self
    where
        V: AttrValueType + Send + 'static,
        F: Fn(Arc<T>, DeviceCtx, V) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), DevFailed>> + Send + 'static,
    {
        self.write = Some(Arc::new(move |t, ctx, v| match V::from_write(v) {
            Ok(v) => Box::pin(f(t, ctx, v)),
            Err(e) => Box::pin(async move { Err(e) }),
        }));
        self
    }

    /// How the device takes a written value, untyped.
    pub fn write_value<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<T>, DeviceCtx, WriteValue) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), DevFailed>> + Send + 'static,
    {
        self.write = Some(Arc::new(move |t, ctx, v| Box::pin(f(t, ctx, v))));
        self
    }
}

/// A command of an Asyncio class whose devices hold a `T`.
pub struct AsyncCmd<T> {
    inner: Cmd<()>,
    run: RunFn<T>,
}

impl<T: Send + Sync + 'static> AsyncCmd<T> {
    /// A command taking `I` and returning `O` (`()` for `DevVoid`):
    /// `AsyncCmd::new("Go", |dev: Arc<T>, ctx, arg: f64| async move { .. })`.
    pub fn new<I, O, F, Fut>(name: &str, f: F) -> Self
    where
        I: CommandType + Send + 'static,
        O: CommandType + Send + 'static,
        F: Fn(Arc<T>, DeviceCtx, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, DevFailed>> + Send + 'static,
    {
        AsyncCmd {
            inner: Cmd::raw(name, I::TYPE, O::TYPE, |_, _, _| Ok(CommandData::Void)),
            run: Arc::new(move |t, ctx, arg| match I::from_command(arg) {
                Ok(arg) => {
                    let fut = f(t, ctx, arg);
                    Box::pin(async move { fut.await.map(O::into_command) })
                }
                Err(e) => Box::pin(async move { Err(e) }),
            }),
        }
    }

    /// A command on untyped data of the given Tango types.
    pub fn raw<F, Fut>(name: &str, in_type: CmdArgType, out_type: CmdArgType, f: F) -> Self
    where
        F: Fn(Arc<T>, DeviceCtx, CommandData) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CommandData, DevFailed>> + Send + 'static,
    {
        AsyncCmd {
            inner: Cmd::raw(name, in_type, out_type, |_, _, _| Ok(CommandData::Void)),
            run: Arc::new(move |t, ctx, arg| Box::pin(f(t, ctx, arg))),
        }
    }

    cmd_config_methods!();
}

/// Defines an Asyncio device class whose devices hold a `T`, shared as an `Arc<T>` by the
/// requests running at the same time (use atomics or locks inside `T`).
pub struct AsyncClassBuilder<T> {
    name: String,
    description: Option<String>,
    create: CreateFn<T>,
    init: Option<HookFn<T>>,
    delete: Option<HookFn<T>>,
    state: Option<StateFn<T>>,
    status: Option<StatusFn<T>>,
    attrs: Vec<AsyncAttr<T>>,
    cmds: Vec<AsyncCmd<T>>,
    serialized: bool,
}

impl<T: Send + Sync + 'static> AsyncClassBuilder<T> {
    /// A class named `name` whose devices start with the data `create` makes (called
    /// again by `Init`, as in [`super::ClassBuilder`]).
    pub fn new(name: &str, create: impl Fn(&DeviceCtx) -> T + Send + Sync + 'static) -> Self {
        AsyncClassBuilder {
            name: name.to_owned(),
            description: None,
            create: Arc::new(create),
            init: None,
            delete: None,
            state: None,
            status: None,
            attrs: Vec::new(),
            cmds: Vec::new(),
            serialized: false,
        }
    }

    /// Class description.
    pub fn description(mut self, s: &str) -> Self {
        self.description = Some(s.to_owned());
        self
    }

    /// Opts in to a per-device async lock: requests to one device run one at a time
    /// (waiting without blocking the event loop). A device of such a class that calls
    /// itself waits for its own lock until the client's timeout.
    pub fn serialized(mut self) -> Self {
        self.serialized = true;
        self
    }

    /// `init_device`, run after the data is (re)created.
    pub fn init<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<T>, DeviceCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), DevFailed>> + Send + 'static,
    {
        self.init = Some(Arc::new(move |t, ctx| Box::pin(f(t, ctx))));
        self
    }

    /// `delete_device`, run before `Init` and at shutdown.
    pub fn delete<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<T>, DeviceCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), DevFailed>> + Send + 'static,
    {
        self.delete = Some(Arc::new(move |t, ctx| Box::pin(f(t, ctx))));
        self
    }

    /// Computes the state clients see (default: the state last set).
    pub fn dev_state<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<T>, DeviceCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = DevState> + Send + 'static,
    {
        self.state = Some(Arc::new(move |t, ctx| Box::pin(f(t, ctx))));
        self
    }

    /// Computes the status clients see (default: the status last set).
    pub fn dev_status<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<T>, DeviceCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        self.status = Some(Arc::new(move |t, ctx| Box::pin(f(t, ctx))));
        self
    }

    /// Adds an attribute.
    pub fn attr(mut self, a: AsyncAttr<T>) -> Self {
        self.attrs.push(a);
        self
    }

    /// Adds a command.
    pub fn command(mut self, c: AsyncCmd<T>) -> Self {
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
        let serialized = self.serialized;
        DeviceClass::from_async_parts(
            info,
            Arc::new(move |ctx: &DeviceCtx| {
                Arc::new(TypedAsyncDevice {
                    data: RwLock::new(Arc::new((handlers.create)(ctx))),
                    handlers: handlers.clone(),
                    monitor: serialized.then(AsyncMonitor::new),
                }) as Arc<dyn AsyncDevice>
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

struct TypedAsyncDevice<T> {
    data: RwLock<Arc<T>>,
    handlers: Arc<Handlers<T>>,
    monitor: Option<AsyncMonitor>,
}

impl<T> TypedAsyncDevice<T> {
    fn data(&self) -> Arc<T> {
        self.data.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<T: Send + Sync + 'static> AsyncDevice for TypedAsyncDevice<T> {
    fn init_device<'a>(&'a self, ctx: &'a DeviceCtx) -> BoxFuture<'a, Result<(), DevFailed>> {
        Box::pin(async move {
            let fresh = Arc::new((self.handlers.create)(ctx));
            *self.data.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
            match &self.handlers.init {
                Some(f) => f(fresh, ctx.clone()).await,
                None => Ok(()),
            }
        })
    }

    fn delete_device<'a>(&'a self, ctx: &'a DeviceCtx) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(f) = &self.handlers.delete {
                let _ = f(self.data(), ctx.clone()).await;
            }
        })
    }

    fn run<'a>(&'a self, ctx: &'a DeviceCtx, call: Call) -> BoxFuture<'a, Outcome> {
        let h = &self.handlers;
        Box::pin(async move {
            match call {
                Call::Read(i) => Outcome::Read(match h.table.read(i, ctx) {
                    Ok(f) => f(self.data(), ctx.clone()).await,
                    Err(e) => Err(e),
                }),
                Call::Write(i, v) => Outcome::Done(match h.table.write(i) {
                    Some(f) => f(self.data(), ctx.clone(), v).await,
                    // The framework keeps the set point anyway.
                    None => Ok(()),
                }),
                Call::Command(i, arg) => Outcome::Command(match h.table.command(i, ctx) {
                    Ok(f) => f(self.data(), ctx.clone(), arg).await,
                    Err(e) => Err(e),
                }),
                Call::State => Outcome::State(match &h.state {
                    Some(f) => f(self.data(), ctx.clone()).await,
                    None => ctx.get_state(),
                }),
                Call::Status => Outcome::Status(match &h.status {
                    Some(f) => f(self.data(), ctx.clone()).await,
                    None => ctx.get_status(),
                }),
                Call::Init => {
                    self.delete_device(ctx).await;
                    Outcome::Done(self.init_device(ctx).await)
                }
            }
        })
    }

    fn monitor(&self) -> Option<&AsyncMonitor> {
        self.monitor.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Flag>, Waker) {
        let f = Arc::new(Flag(AtomicBool::new(false)));
        (f.clone(), Waker::from(f))
    }

    /// Polls a future that never waits to completion.
    fn ready<F: Future>(f: F) -> F::Output {
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut f = Box::pin(f);
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the future waited"),
        }
    }

    #[test]
    fn monitor_is_fair_and_hands_over() {
        let m = AsyncMonitor::new();
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let first = ready(m.lock());
        assert!(m.is_locked() && m.try_lock().is_none());
        let (f2, w2) = waker();
        let mut second = Box::pin(m.lock());
        assert!(second
            .as_mut()
            .poll(&mut Context::from_waker(&w2))
            .is_pending());
        let mut third = Box::pin(m.lock());
        assert!(third.as_mut().poll(&mut cx).is_pending());
        drop(first);
        assert!(f2.0.load(Ordering::SeqCst), "the first waiter is woken");
        // the third cannot jump the queue
        assert!(third.as_mut().poll(&mut cx).is_pending());
        let g2 = match second.as_mut().poll(&mut cx) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("handed over"),
        };
        drop(g2);
        assert!(matches!(third.as_mut().poll(&mut cx), Poll::Ready(_)));
        drop(third);
        assert!(!m.is_locked());
    }

    #[test]
    fn a_cancelled_waiter_passes_the_lock_on() {
        let m = AsyncMonitor::new();
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let g = ready(m.lock());
        let mut a = Box::pin(m.lock());
        let mut b = Box::pin(m.lock());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        drop(g); // granted to a
        drop(a); // a gives up: b gets it
        assert!(matches!(b.as_mut().poll(&mut cx), Poll::Ready(_)));
        drop(b);
        assert!(!m.is_locked());
    }

    struct Data {
        x: AtomicUsize,
    }

    fn class(serialized: bool) -> DeviceClass {
        let mut b = AsyncClassBuilder::new("AsyncThing", |_| Data {
            x: AtomicUsize::new(7),
        })
        .init(|_d, ctx| async move {
            ctx.set_state(DevState::On);
            Ok(())
        })
        .attr(
            AsyncAttr::new::<i64>("x")
                .read_write()
                .unit("mm")
                .read(|d: Arc<Data>, _| async move { Ok(d.x.load(Ordering::SeqCst) as i64) })
                .write(|d: Arc<Data>, _, v: i64| async move {
                    d.x.store(v as usize, Ordering::SeqCst);
                    Ok(())
                }),
        )
        .command(AsyncCmd::new(
            "Twice",
            |_d: Arc<Data>, _, v: f64| async move { Ok::<f64, DevFailed>(v * 2.0) },
        ))
        .command(AsyncCmd::new(
            "Boom",
            |_d: Arc<Data>, _, (): ()| async move {
                if true {
                    panic!("kaboom");
                }
                Ok::<(), DevFailed>(())
            },
        ));
        if serialized {
            b = b.serialized();
        }
        b.build()
    }

    #[test]
    fn typed_async_class_runs_calls() {
        let c = class(false);
        assert_eq!(c.green_mode(), super::super::ServerMode::Asyncio);
        assert!(c.sync_factory().is_none());
        let ctx = DeviceCtx::new("a/b/c");
        // a Synchronous server gets a device that refuses to start
        let err = c.new_device(&ctx).init_device(&ctx).unwrap_err();
        assert_eq!(err.errors[0].reason, "API_WrongGreenMode");
        assert!(err.errors[0].desc.contains("AsyncThing is Asyncio"));

        let dev = c.new_async_device(&ctx).unwrap();
        assert!(dev.monitor().is_none());
        ready(dev.init_device(&ctx)).unwrap();
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
        let out = ready(run_job_async(&*dev, &ctx, calls));
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
        let out = ready(run_job_async(&*dev, &ctx, vec![Call::Init, Call::Read(x)]));
        match &out[1] {
            Outcome::Read(Ok(r)) => assert_eq!(r.data, crate::value::AttrData::Long64(vec![7])),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn serialized_class_has_a_monitor() {
        let c = class(true);
        let ctx = DeviceCtx::new("a/b/c");
        let dev = c.new_async_device(&ctx).unwrap();
        let m = dev.monitor().expect("a monitor");
        let g = m.try_lock().unwrap();
        let (_, w) = waker();
        let mut job = Box::pin(run_job_async(&*dev, &ctx, vec![Call::State]));
        assert!(job.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        drop(g);
        assert!(matches!(
            job.as_mut().poll(&mut Context::from_waker(&w)),
            Poll::Ready(_)
        ));
    }
}
