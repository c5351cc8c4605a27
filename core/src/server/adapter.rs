//! What the device-server adapters of the Asyncio and Coroutine green modes share, without
//! I/O: everything about a running server but its sockets, tasks, timers and stop signal.
//!
//! An adapter (the async server of `tango-smol`, which serves smol, async-std and tokio,
//! and the may server of `tango-coroutine`) owns the runtime-specific parts: it binds and
//! accepts, reads and writes sockets, spawns tasks or coroutines, sleeps and stops. A
//! [`ServerCore`] owns the rest, written once:
//!
//! * **start**: [`ServerCore::new`] checks that every class is of the adapter's green mode,
//!   makes the [`Dispatcher`], the admin device and the devices (`Class::name` entries
//!   place a device in a class other than the first); [`ServerCore::init_devices`] runs
//!   their `init_device`; [`ServerCore::listening`] gives the names clients use and the
//!   banner tools wait for (`Ready to accept request`);
//! * **connections**: a [`Connection`] frames the bytes read from one client and turns
//!   each message into a [`Step`] (answer now, run a [`Job`], close);
//! * **jobs**: [`ServerCore::complete`] runs a job's calls (the admin device's under a
//!   mutex, a device's through [`HostedDevice::run_job`]) until its reply;
//! * **controls**: [`ServerCore::take_control`] turns what an admin command asked for
//!   (Kill, RestartServer, DevRestart) into a [`ControlTask`] the adapter runs after the
//!   reply;
//! * **polling**: [`ServerCore::poll_round`] reads what is due and says how long to sleep;
//! * **shutdown**: [`ServerCore::delete_devices`].
//!
//! Device code of both modes is driven as futures ([`HostedDevice::run_job`]). An Asyncio
//! device's futures are its own; a Coroutine device's run the device code to completion
//! inside their first poll (code that waits parks its coroutine, it never returns
//! `Pending`), so every future of a `ServerCore<dyn CoDevice>` completes at once and a
//! coroutine adapter drives it with [`ready`].
//!
//! Time: replies and polled values are stamped with the system's wall clock, and the
//! polling schedule follows [`crate::server::admin::ServerShared::now_ms`], as the
//! Synchronous server does.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use crate::device::{
    run_job_async, run_job_co, AsyncDevice, BoxFuture, Call, CoDevice, DeviceClass, DeviceCtx,
    Outcome, ServerMode, SyncDevice,
};
use crate::giop::{decode_request, FrameDecoder};
use crate::idl::{DevFailed, TimeVal};
use crate::server::admin::Control;
use crate::server::polling::{poll_call, polled_value, PollRecord};
use crate::server::{DeviceId, Dispatcher, Job, ServerConfig, ServerOptions, Step};

/// How long after answering `Kill` the server stops (the reply goes out first).
pub const KILL_DELAY: Duration = Duration::from_millis(50);

/// The longest sleep of a polling loop: configuration changes (`AddObjPolling`...) are
/// seen at least this often.
pub const POLL_TICK: Duration = Duration::from_millis(50);

/// The wall clock as Tango sends it.
fn now() -> TimeVal {
    TimeVal::from_system_time(SystemTime::now())
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The output of a future that completes at its first poll, as every future of a
/// `ServerCore<dyn CoDevice>` does (see the module documentation).
///
/// # Panics
/// If `fut` is not ready at once: a future that may wait needs an executor.
pub fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a future of a coroutine server waited (it must not)"),
    }
}

// ---------------------------------------------------------------------------------------
// The devices a server hosts
// ---------------------------------------------------------------------------------------

/// The devices of one green mode, as a server hosts them: implemented for
/// `dyn AsyncDevice` (Asyncio) and `dyn CoDevice` (Coroutine).
pub trait HostedDevice: Send + Sync + 'static {
    /// The green mode of the classes whose devices these are.
    const MODE: ServerMode;
    /// A new device of `class` (`None` if the class is of another green mode).
    fn create(class: &DeviceClass, ctx: &DeviceCtx) -> Option<Arc<Self>>;
    /// Runs the calls of one request in order (under the device's own lock if it has
    /// one); a panic in device code is that call's `API_DeviceCodePanicked` error.
    fn run_job<'a>(&'a self, ctx: &'a DeviceCtx, calls: Vec<Call>) -> BoxFuture<'a, Vec<Outcome>>;
    /// `delete_device`.
    fn delete<'a>(&'a self, ctx: &'a DeviceCtx) -> BoxFuture<'a, ()>;
}

impl HostedDevice for dyn AsyncDevice {
    const MODE: ServerMode = ServerMode::Asyncio;

    fn create(class: &DeviceClass, ctx: &DeviceCtx) -> Option<Arc<Self>> {
        class.new_async_device(ctx)
    }

    fn run_job<'a>(&'a self, ctx: &'a DeviceCtx, calls: Vec<Call>) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(run_job_async(self, ctx, calls))
    }

    fn delete<'a>(&'a self, ctx: &'a DeviceCtx) -> BoxFuture<'a, ()> {
        self.delete_device(ctx)
    }
}

/// Device code runs inside the first poll: ready at once.
impl HostedDevice for dyn CoDevice {
    const MODE: ServerMode = ServerMode::Coroutine;

    fn create(class: &DeviceClass, ctx: &DeviceCtx) -> Option<Arc<Self>> {
        class.new_co_device(ctx)
    }

    fn run_job<'a>(&'a self, ctx: &'a DeviceCtx, calls: Vec<Call>) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(async move { run_job_co(self, ctx, calls) })
    }

    fn delete<'a>(&'a self, ctx: &'a DeviceCtx) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = catch_unwind(AssertUnwindSafe(|| self.delete_device(ctx)));
        })
    }
}

/// One device: what `DevRestart` replaces.
struct Slot<D: ?Sized> {
    id: DeviceId,
    class: DeviceClass,
    ctx: DeviceCtx,
    device: RwLock<Arc<D>>,
}

impl<D: ?Sized + HostedDevice> Slot<D> {
    fn device(&self) -> Arc<D> {
        self.device
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `Init`: `delete_device` then `init_device`; the error of `init_device`, if any.
    async fn init(&self) -> Option<DevFailed> {
        let device = self.device();
        match device.run_job(&self.ctx, vec![Call::Init]).await.pop() {
            Some(Outcome::Done(Err(e))) => Some(e),
            _ => None,
        }
    }

    /// `DevRestart`: deletes the device and puts a new one of its class in its place.
    async fn restart(&self, log: &Log) {
        self.device().delete(&self.ctx).await;
        let Some(fresh) = D::create(&self.class, &self.ctx) else {
            return;
        };
        *self.device.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        if let Some(e) = self.init().await {
            (log.warn)(&format!(
                "{}: init_device failed at restart: {e}",
                self.ctx.name()
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// Where an adapter's messages go: `info` for the `-v` lines (connections from 1 up,
/// every request from 4 up; cppTango writes them to stderr), `warn` for failures nobody
/// waits for (a device that fails to initialise at restart).
#[derive(Debug, Clone, Copy)]
pub struct Log {
    /// A `-v` line.
    pub info: fn(&str),
    /// A warning.
    pub warn: fn(&str),
}

/// A server that cannot start: a class of another green mode, a device that fails to
/// initialise, a `Class::name` entry naming no class...
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl From<StartError> for std::io::Error {
    fn from(e: StartError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e.0)
    }
}

/// What a control request of the admin device asks the adapter to do after the reply.
pub enum ControlTask {
    /// Stop the server after this delay (`Kill`: its reply goes out first).
    Stop {
        /// How long to wait before stopping.
        after: Duration,
    },
    /// Run this in the background (`RestartServer`, `DevRestart`: a coroutine adapter
    /// drives it with [`ready`] on a coroutine of its own).
    Run(BoxFuture<'static, ()>),
}

impl fmt::Debug for ControlTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlTask::Stop { after } => f.debug_struct("Stop").field("after", after).finish(),
            ControlTask::Run(_) => f.write_str("Run(..)"),
        }
    }
}

/// The runtime-independent half of a running device server whose devices are `D`
/// (`dyn AsyncDevice` or `dyn CoDevice`): the dispatcher, the admin device (a
/// Synchronous device of the core, run under a std mutex: its calls are quick) and the
/// devices.
pub struct ServerCore<D: ?Sized> {
    dispatcher: Dispatcher,
    admin_id: DeviceId,
    admin_class: DeviceClass,
    admin: Mutex<(DeviceCtx, Box<dyn SyncDevice>)>,
    /// In the order of the command line; `slots[i].id == DeviceId(i + 1)`.
    slots: Vec<Arc<Slot<D>>>,
    verbosity: u8,
    log: Log,
}

impl<D: ?Sized> fmt::Debug for ServerCore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCore")
            .field("admin", &self.dispatcher.admin_name())
            .field("devices", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// What a server in `green_mode` says about itself (`info`, `info_6`): the core's
/// [`ServerConfig::new`] for `exec_name` and `opts.instance`, with the host name, the
/// process id and a `("green-mode", green_mode)` entry in `version_info`.
pub fn server_config(
    exec_name: &str,
    opts: &ServerOptions,
    green_mode: &str,
    host_name: &str,
    pid: u32,
) -> ServerConfig {
    let mut config = ServerConfig::new(exec_name, &opts.instance);
    config.host_name = host_name.to_owned();
    config.pid = pid;
    config
        .version_info
        .push(("green-mode".to_owned(), green_mode.to_owned()));
    config
}

impl<D: ?Sized + HostedDevice> ServerCore<D> {
    /// The server `config` serving `opts.devices` with `classes` (at least one, all of
    /// green mode `D::MODE`; a device goes to the first class unless prefixed
    /// `ClassName::`). The admin device is made and initialised; the devices are made,
    /// not initialised yet ([`ServerCore::init_devices`]).
    pub fn new(
        config: ServerConfig,
        classes: &[DeviceClass],
        opts: &ServerOptions,
        log: Log,
    ) -> Result<Self, StartError> {
        let err = |m: String| StartError(m);
        let Some(first) = classes.first() else {
            return Err(err("a device server needs at least one device class".into()));
        };
        for class in classes {
            if class.green_mode() != D::MODE {
                return Err(err(format!(
                    "device class {} is {}; this server runs {} classes only",
                    class.name(),
                    class.green_mode(),
                    D::MODE
                )));
            }
        }
        let dispatcher = Dispatcher::new(config);
        let (admin_id, admin_ctx, admin_class) = dispatcher.admin_device();
        let mut admin = admin_class.new_device(&admin_ctx);
        admin
            .init_device(&admin_ctx)
            .map_err(|e| err(e.to_string()))?;
        let mut slots = Vec::with_capacity(opts.devices.len());
        for entry in &opts.devices {
            let (class, name) = match entry.split_once("::") {
                Some((c, n)) => (
                    classes
                        .iter()
                        .find(|k| k.name().eq_ignore_ascii_case(c))
                        .ok_or_else(|| {
                            err(format!("{entry}: no class named {c} in this server"))
                        })?,
                    n,
                ),
                None => (first, entry.as_str()),
            };
            let (id, ctx) = dispatcher
                .add_device(class, name)
                .map_err(|e| err(e.to_string()))?;
            let device = D::create(class, &ctx)
                .ok_or_else(|| err(format!("device class {} is not {}", class.name(), D::MODE)))?;
            slots.push(Arc::new(Slot {
                id,
                class: class.clone(),
                ctx,
                device: RwLock::new(device),
            }));
        }
        Ok(ServerCore {
            dispatcher,
            admin_id,
            admin_class,
            admin: Mutex::new((admin_ctx, admin)),
            slots,
            verbosity: opts.verbosity,
            log,
        })
    }

    /// Runs `init_device` of every device, in order; the first failure is the error.
    pub async fn init_devices(&self) -> Result<(), StartError> {
        for slot in &self.slots {
            if let Some(e) = slot.init().await {
                return Err(StartError(format!(
                    "{}: init_device failed: {e}",
                    slot.ctx.name()
                )));
            }
        }
        Ok(())
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The `-v` level.
    pub fn verbosity(&self) -> u8 {
        self.verbosity
    }

    /// What the server listening on `addr` tells tools and clients.
    pub fn listening(&self, addr: SocketAddr) -> Listening {
        Listening::new(
            addr,
            &self.dispatcher,
            self.slots.iter().map(|s| s.ctx.name().to_owned()).collect(),
        )
    }

    fn slot(&self, id: DeviceId) -> Option<&Arc<Slot<D>>> {
        self.slots
            .get(id.0.wrapping_sub(1))
            .filter(|slot| slot.id == id)
    }

    /// Runs the calls of a job: the admin device's under its mutex, a device's through
    /// [`HostedDevice::run_job`].
    pub async fn run_calls(&self, id: DeviceId, calls: Vec<Call>) -> Vec<Outcome> {
        if id == self.admin_id {
            let mut admin = lock(&self.admin);
            let (ctx, dev) = &mut *admin;
            return calls
                .into_iter()
                .map(|c| Outcome::run_sync(&mut **dev, ctx, c))
                .collect();
        }
        let Some(slot) = self.slot(id) else {
            let err = DevFailed::new("API_DeviceNotFound", "device is gone", "DeviceServer");
            return calls
                .iter()
                .map(|_| Outcome::Done(Err(err.clone())))
                .collect();
        };
        let device = slot.device();
        device.run_job(&slot.ctx, calls).await
    }

    /// Runs a job to its reply (`None`: nothing to send).
    pub async fn complete(&self, mut job: Job) -> Option<Vec<u8>> {
        loop {
            let calls = std::mem::take(&mut job.calls);
            let outcomes = self.run_calls(job.device, calls).await;
            match self.dispatcher.finish(job, outcomes, now()) {
                Step::Run(next) => job = next,
                Step::Reply(bytes) => return Some(bytes),
                Step::NoReply | Step::Close => return None,
            }
        }
    }

    /// What the last admin command asked for, to do after its reply. A `DevRestart` of
    /// the admin device itself is done here and now (it is quick), giving `None`.
    pub fn take_control(self: &Arc<Self>) -> Option<ControlTask> {
        match self.dispatcher.take_control()? {
            Control::Kill => Some(ControlTask::Stop { after: KILL_DELAY }),
            Control::RestartServer => {
                let me = self.clone();
                Some(ControlTask::Run(Box::pin(async move {
                    for slot in &me.slots {
                        slot.init().await;
                    }
                })))
            }
            Control::RestartDevice(id) if id == self.admin_id => {
                let mut admin = lock(&self.admin);
                let (ctx, dev) = &mut *admin;
                dev.delete_device(ctx);
                *dev = self.admin_class.new_device(ctx);
                if let Err(e) = dev.init_device(ctx) {
                    (self.log.warn)(&format!(
                        "{}: init_device failed at restart: {e}",
                        ctx.name()
                    ));
                }
                None
            }
            Control::RestartDevice(id) => {
                let slot = self.slot(id)?.clone();
                let log = self.log;
                Some(ControlTask::Run(Box::pin(async move {
                    slot.restart(&log).await;
                })))
            }
        }
    }

    /// Reads the polled attributes and runs the polled commands that are due, stores
    /// what came, and says how long to sleep before the next round (until the next
    /// deadline, between 1 ms and [`POLL_TICK`]).
    pub async fn poll_round(&self) -> Duration {
        // One time base with the admin device, which schedules what AddObjPolling adds.
        let server = self.dispatcher.shared();
        let due = lock(&server.polling).due(server.now_ms());
        for (id, kind, name) in due {
            let info = self.dispatcher.class_info(id);
            let Some(call) = poll_call(&info, kind, &name) else {
                continue;
            };
            // cppTango stamps a polled value when its reading starts.
            let time = now();
            let started = Instant::now();
            let outcome = self.run_calls(id, vec![call]).await.pop();
            let Some(value) = outcome.and_then(|o| polled_value(kind, o)) else {
                continue;
            };
            let record = PollRecord {
                time,
                duration_us: started.elapsed().as_micros() as u64,
                value,
            };
            lock(&server.polling).store(id, kind, &name, record);
        }
        let next = lock(&server.polling).next_deadline();
        let tick = POLL_TICK.as_millis() as u64;
        let wait = next.map_or(tick, |d| d.saturating_sub(server.now_ms()).min(tick));
        Duration::from_millis(wait.max(1))
    }

    /// `delete_device` of every device, then of the admin device (at shutdown).
    pub async fn delete_devices(&self) {
        for slot in &self.slots {
            slot.device().delete(&slot.ctx).await;
        }
        let mut admin = lock(&self.admin);
        let (ctx, dev) = &mut *admin;
        dev.delete_device(ctx);
    }

    /// A new client connection from `peer` (logged from `-v1` up).
    pub fn connection(&self, peer: SocketAddr) -> Connection {
        let peer = peer.to_string();
        if self.verbosity >= 1 {
            (self.log.info)(&format!("{peer} connected"));
        }
        Connection {
            peer,
            framer: FrameDecoder::new(),
            closing: false,
        }
    }

    /// The end of a connection (logged from `-v1` up).
    pub fn disconnected(&self, conn: &Connection) {
        if self.verbosity >= 1 {
            (self.log.info)(&format!("{} disconnected", conn.peer));
        }
    }
}

/// One client connection, without its socket: feed it the bytes read, take the steps.
#[derive(Debug)]
pub struct Connection {
    peer: String,
    framer: FrameDecoder,
    /// A framing error was answered: only `Close` is left.
    closing: bool,
}

impl Connection {
    /// The client's address (`127.0.0.1:5555`).
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// Bytes received and not yet taken as a message (a request already here).
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// What to do with the next complete message, `None` until more bytes come:
    /// [`Step::Reply`] (write it), [`Step::NoReply`], [`Step::Run`] (run the job with
    /// [`ServerCore::complete`], write its reply) or [`Step::Close`] (close the
    /// connection; so is every step after a framing error and its answer).
    pub fn next_step<D: ?Sized + HostedDevice>(&mut self, core: &ServerCore<D>) -> Option<Step> {
        if self.closing {
            return Some(Step::Close);
        }
        match self.framer.next_message() {
            Ok(Some(msg)) => {
                if core.verbosity >= 4 {
                    if let Ok((h, _)) = decode_request(&msg) {
                        (core.log.info)(&format!(
                            "{} {} on {} (request {})",
                            self.peer,
                            h.operation,
                            String::from_utf8_lossy(&h.object_key),
                            h.request_id
                        ));
                    }
                }
                Some(core.dispatcher.handle(&msg, &self.peer, now()))
            }
            Ok(None) => None,
            Err(e) => {
                self.closing = true;
                Some(core.dispatcher.on_framing_error(&e))
            }
        }
    }
}

/// Where a started server listens, and the names clients use for its devices.
#[derive(Debug, Clone)]
pub struct Listening {
    addr: SocketAddr,
    shown_host: String,
    /// `exec/instance`.
    server: String,
    devices: Vec<String>,
    admin: String,
}

impl Listening {
    /// What a server of `dispatcher` listening on `addr` with `devices` shows (every
    /// server adapter, the Synchronous one included, builds its names here).
    pub fn new(addr: SocketAddr, dispatcher: &Dispatcher, devices: Vec<String>) -> Listening {
        let shown_host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        let config = dispatcher.config();
        Listening {
            addr,
            shown_host,
            server: format!("{}/{}", config.exec_name, config.instance),
            devices,
            admin: dispatcher.admin_name(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The devices it serves (not the admin device), as given.
    pub fn devices(&self) -> &[String] {
        &self.devices
    }

    /// The name clients use for `device`: `tango://host:port/device#dbase=no` (host
    /// `127.0.0.1` when listening on every interface).
    pub fn device_name(&self, device: &str) -> String {
        format!(
            "tango://{}:{}/{device}#dbase=no",
            self.shown_host,
            self.port()
        )
    }

    /// The admin device's client name.
    pub fn admin_device_name(&self) -> String {
        self.device_name(&self.admin)
    }

    /// What the server prints once it listens, as cppTango servers do: the endpoint, each
    /// device's name, and `Ready to accept request` (what tools wait for); one line each.
    pub fn banner(&self) -> String {
        let port = self.port();
        let mut text = format!(
            "{} listening on giop:tcp:{}:{port}\n",
            self.server, self.shown_host
        );
        for d in &self.devices {
            text.push_str(&format!(
                "  device tango://{}:{port}/{d}#dbase=no\n",
                self.shown_host
            ));
        }
        text.push_str("Ready to accept request\n");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    use crate::any::CommandData;
    use crate::client::{CallError, ClientConnection, Event};
    use crate::device::{
        AsyncAttr, AsyncClassBuilder, ClassBuilder, CoAttr, CoClassBuilder, CoCmd,
    };
    use crate::giop::Version;
    use crate::idl::{DevSource, DevState};
    use crate::ops::{CommandInout2, GetState, Operation};
    use crate::server::polling::{PolledKind, PolledValue};

    const LOG: Log = Log {
        info: |_| {},
        warn: |_| {},
    };

    struct Valve {
        x: AtomicI64,
        reads: Arc<AtomicUsize>,
    }

    /// A Coroutine class: `x` (read/write, polled every 10 ms if `polled`), `Twice`,
    /// `Boom` (panics); `init_device` fails for devices named `*/bad`.
    fn co_class(polled: bool, reads: Arc<AtomicUsize>) -> DeviceClass {
        let mut x = CoAttr::new::<i64>("x")
            .read_write()
            .read(|v: &Valve, _| {
                v.reads.fetch_add(1, Ordering::SeqCst);
                Ok(v.x.load(Ordering::SeqCst))
            })
            .write(|v: &Valve, _, n: i64| {
                v.x.store(n, Ordering::SeqCst);
                Ok(())
            });
        if polled {
            x = x.polling_period(10);
        }
        CoClassBuilder::new("Valve", move |_| Valve {
            x: AtomicI64::new(7),
            reads: reads.clone(),
        })
        .init(|_, ctx| {
            if ctx.name().ends_with("/bad") {
                return Err(DevFailed::new("Bad", "refuses to start", ctx.name()));
            }
            ctx.set_state(DevState::On);
            Ok(())
        })
        .attr(x)
        .command(CoCmd::new("Twice", |_: &Valve, _, v: f64| {
            Ok::<f64, DevFailed>(v * 2.0)
        }))
        .command(CoCmd::new("SetX", |v: &Valve, _, n: i64| {
            v.x.store(n, Ordering::SeqCst);
            Ok::<(), DevFailed>(())
        }))
        .command(CoCmd::new("GetX", |v: &Valve, _, (): ()| {
            Ok::<i64, DevFailed>(v.x.load(Ordering::SeqCst))
        }))
        .build()
    }

    fn opts(devices: &[&str]) -> ServerOptions {
        ServerOptions::new("test", devices)
    }

    fn co_core(devices: &[&str]) -> Arc<ServerCore<dyn CoDevice>> {
        let class = co_class(false, Arc::default());
        let config = server_config("Exec", &opts(devices), "Coroutine (test)", "host", 42);
        let core =
            ServerCore::<dyn CoDevice>::new(config, &[class], &opts(devices), LOG).expect("starts");
        ready(core.init_devices()).expect("initialised");
        Arc::new(core)
    }

    /// A client of one device of a core, without sockets.
    struct Client {
        proto: ClientConnection,
        key: Vec<u8>,
        conn: Connection,
    }

    impl Client {
        fn new<D: ?Sized + HostedDevice>(core: &ServerCore<D>, device: &str) -> Self {
            Client {
                proto: ClientConnection::new(Version::V1_0),
                key: device.to_lowercase().into_bytes(),
                conn: core.connection("127.0.0.1:5555".parse().unwrap()),
            }
        }

        /// Sends `op` (in two pieces, as a socket may deliver it) and runs what it needs.
        fn call<D: ?Sized + HostedDevice, O: Operation>(
            &mut self,
            core: &ServerCore<D>,
            op: &O,
        ) -> Result<O::Output, CallError> {
            let (_, bytes) = self.proto.encode_request(&self.key, op);
            let (a, b) = bytes.split_at(7);
            self.conn.push(a);
            assert!(self.conn.next_step(core).is_none(), "a message cut short");
            self.conn.push(b);
            let reply = match self.conn.next_step(core) {
                Some(Step::Reply(r)) => r,
                Some(Step::Run(job)) => ready(core.complete(job)).expect("a reply"),
                other => panic!("{} gave {other:?}", op.name()),
            };
            assert!(self.conn.next_step(core).is_none());
            self.proto.handle_input(&reply);
            match self.proto.poll_event() {
                Ok(Some(Event::Reply(r))) => r.decode::<O>(),
                other => panic!("{other:?}"),
            }
        }

        fn command<D: ?Sized + HostedDevice>(
            &mut self,
            core: &ServerCore<D>,
            name: &str,
            argin: CommandData,
        ) -> Result<CommandData, CallError> {
            let op = CommandInout2 {
                command: name.to_owned(),
                argin,
                source: DevSource::Dev,
            };
            self.call(core, &op)
        }
    }

    #[test]
    fn refuses_other_green_modes_and_bad_device_entries() {
        let sync = ClassBuilder::new("Plain", |_| ()).build();
        let co = co_class(false, Arc::default());
        let start = |classes: &[DeviceClass], devices: &[&str]| {
            let config = server_config("Exec", &opts(devices), "x", "host", 1);
            ServerCore::<dyn CoDevice>::new(config, classes, &opts(devices), LOG).map(|_| ())
        };
        assert_eq!(
            start(&[co.clone(), sync], &["a/b/c"]).unwrap_err().0,
            "device class Plain is Synchronous; this server runs Coroutine classes only"
        );
        assert_eq!(
            start(&[], &["a/b/c"]).unwrap_err().0,
            "a device server needs at least one device class"
        );
        assert_eq!(
            start(std::slice::from_ref(&co), &["Nope::a/b/c"])
                .unwrap_err()
                .0,
            "Nope::a/b/c: no class named Nope in this server"
        );
        let dup = start(std::slice::from_ref(&co), &["a/b/c", "A/B/C"])
            .unwrap_err()
            .0;
        assert!(dup.contains("already defined"), "{dup}");
        // the class may be named, in any case
        assert!(start(std::slice::from_ref(&co), &["valve::a/b/c"]).is_ok());
        // an Asyncio server refuses the Coroutine class
        let config = server_config("Exec", &opts(&["a/b/c"]), "x", "host", 1);
        let err =
            ServerCore::<dyn AsyncDevice>::new(config, &[co], &opts(&["a/b/c"]), LOG).unwrap_err();
        assert_eq!(
            err.0,
            "device class Valve is Coroutine; this server runs Asyncio classes only"
        );
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_failing_init_device_names_the_device() {
        let class = co_class(false, Arc::default());
        let devices = ["a/b/ok", "a/b/bad"];
        let config = server_config("Exec", &opts(&devices), "x", "host", 1);
        let core =
            ServerCore::<dyn CoDevice>::new(config, &[class], &opts(&devices), LOG).expect("made");
        let err = ready(core.init_devices()).unwrap_err().0;
        assert!(err.starts_with("a/b/bad: init_device failed: "), "{err}");
        assert!(err.contains("refuses to start"), "{err}");
    }

    #[test]
    fn requests_run_through_the_core() {
        let core = co_core(&["a/b/c"]);
        let mut c = Client::new(&core, "a/b/c");
        assert_eq!(c.call(&core, &GetState {}).unwrap(), DevState::On);
        assert_eq!(
            c.command(&core, "Twice", CommandData::Double(1.5)).unwrap(),
            CommandData::Double(3.0)
        );
        match c.command(&core, "NoSuchCommand", CommandData::Void) {
            Err(CallError::DevFailed(e)) => {
                assert_eq!(e.errors[0].reason, "API_CommandNotFound")
            }
            other => panic!("{other:?}"),
        }
        // what the server says about itself
        let info = c.call(&core, &crate::ops::Info6 {}).unwrap();
        assert_eq!(info.server_id, "Exec/test");
        assert_eq!(info.server_host, "host");
        assert!(info
            .version_info
            .iter()
            .any(|p| p.key == "green-mode" && p.value == "Coroutine (test)"));
    }

    #[test]
    fn a_framing_error_closes_the_connection() {
        let core = co_core(&["a/b/c"]);
        let mut conn = core.connection("127.0.0.1:5555".parse().unwrap());
        conn.push(b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(matches!(conn.next_step(&core), Some(Step::Close)));
        assert!(matches!(conn.next_step(&core), Some(Step::Close)));
    }

    #[test]
    fn admin_commands_become_control_tasks() {
        let core = co_core(&["a/b/c"]);
        let mut dev = Client::new(&core, "a/b/c");
        let mut admin = Client::new(&core, "dserver/Exec/test");
        assert!(core.take_control().is_none());

        // DevRestart: a new device whose data starts afresh and whose init runs
        dev.command(&core, "SetX", CommandData::Long64(99)).unwrap();
        admin
            .command(&core, "DevRestart", CommandData::String("a/b/c".into()))
            .unwrap();
        match core.take_control() {
            Some(ControlTask::Run(task)) => ready(task),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            dev.command(&core, "GetX", CommandData::Void).unwrap(),
            CommandData::Long64(7)
        );
        assert_eq!(dev.call(&core, &GetState {}).unwrap(), DevState::On);

        // RestartServer: every device is initialised again
        dev.command(&core, "SetX", CommandData::Long64(5)).unwrap();
        admin
            .command(&core, "RestartServer", CommandData::Void)
            .unwrap();
        match core.take_control() {
            Some(ControlTask::Run(task)) => ready(task),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            dev.command(&core, "GetX", CommandData::Void).unwrap(),
            CommandData::Long64(7)
        );

        // the admin device cannot be restarted by name (as cppTango)
        match admin.command(
            &core,
            "DevRestart",
            CommandData::String("dserver/Exec/test".into()),
        ) {
            Err(CallError::DevFailed(e)) => assert_eq!(e.errors[0].reason, "API_DeviceNotFound"),
            other => panic!("{other:?}"),
        }
        assert!(core.take_control().is_none());

        // Kill: stop after the reply
        admin.command(&core, "Kill", CommandData::Void).unwrap();
        match core.take_control() {
            Some(ControlTask::Stop { after }) => assert_eq!(after, KILL_DELAY),
            other => panic!("{other:?}"),
        }
        assert!(core.take_control().is_none());
    }

    #[test]
    fn a_polling_round_reads_what_is_due() {
        let reads = Arc::new(AtomicUsize::new(0));
        let class = co_class(true, reads.clone());
        let config = server_config("Exec", &opts(&["a/b/c"]), "x", "host", 1);
        let core = ServerCore::<dyn CoDevice>::new(config, &[class], &opts(&["a/b/c"]), LOG)
            .expect("starts");
        ready(core.init_devices()).unwrap();
        let wait = ready(core.poll_round());
        assert_eq!(reads.load(Ordering::SeqCst), 1, "x is due at start");
        assert!(wait >= Duration::from_millis(1) && wait <= Duration::from_millis(10));
        let table = core.dispatcher().shared().polling.lock().unwrap();
        let record = table
            .last(DeviceId(1), PolledKind::Attribute, "x")
            .expect("a polled value");
        match &record.value {
            PolledValue::Attr(Ok(r)) => {
                assert_eq!(r.data, crate::value::AttrData::Long64(vec![7]))
            }
            other => panic!("{other:?}"),
        }
        drop(table);
        // nothing is due again before its period
        ready(core.poll_round());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_asyncio_core_runs_async_devices() {
        let class = AsyncClassBuilder::new("Counter", |_| AtomicI64::new(3))
            .attr(
                AsyncAttr::new::<i64>("n")
                    .read(|n: Arc<AtomicI64>, _| async move { Ok(n.load(Ordering::SeqCst)) }),
            )
            .build();
        let config = server_config("Exec", &opts(&["a/b/c"]), "Asyncio (test)", "h", 1);
        let core = ServerCore::<dyn AsyncDevice>::new(config, &[class], &opts(&["a/b/c"]), LOG)
            .expect("starts");
        // these futures never wait: no executor needed
        ready(core.init_devices()).unwrap();
        let n = core
            .dispatcher()
            .class_info(DeviceId(1))
            .attribute("n")
            .unwrap();
        let out = ready(core.run_calls(DeviceId(1), vec![Call::Read(n)]));
        match &out[..] {
            [Outcome::Read(Ok(r))] => assert_eq!(r.data, crate::value::AttrData::Long64(vec![3])),
            other => panic!("{other:?}"),
        }
        // a device that is not there
        let out = ready(core.run_calls(DeviceId(9), vec![Call::State]));
        match &out[..] {
            [Outcome::Done(Err(e))] => assert_eq!(e.errors[0].reason, "API_DeviceNotFound"),
            other => panic!("{other:?}"),
        }
        ready(core.delete_devices());
    }

    #[test]
    fn names_and_banner() {
        let core = co_core(&["a/b/c", "Valve::d/e/f"]);
        let l = core.listening("0.0.0.0:1234".parse().unwrap());
        assert_eq!(l.port(), 1234);
        assert_eq!(l.devices(), ["a/b/c", "d/e/f"]);
        assert_eq!(
            l.device_name("a/b/c"),
            "tango://127.0.0.1:1234/a/b/c#dbase=no"
        );
        assert_eq!(
            l.admin_device_name(),
            "tango://127.0.0.1:1234/dserver/Exec/test#dbase=no"
        );
        assert_eq!(
            l.banner(),
            "Exec/test listening on giop:tcp:127.0.0.1:1234\n\
             \x20 device tango://127.0.0.1:1234/a/b/c#dbase=no\n\
             \x20 device tango://127.0.0.1:1234/d/e/f#dbase=no\n\
             Ready to accept request\n"
        );
        let l = core.listening("10.1.2.3:99".parse().unwrap());
        assert_eq!(l.device_name("x/y/z"), "tango://10.1.2.3:99/x/y/z#dbase=no");
    }
}
