//! A Tango device server in Asyncio green mode on async-io: the async adapter of the core's
//! [`Dispatcher`], written once for smol and async-std (which both drive sockets and timers
//! with async-io's reactor) and generic over how tasks are spawned: the
//! [`AsyncRuntime`] of the client ([`crate::Smol`] here, `tango_async_std::AsyncStd` in
//! `tango-async-std`, which reuses this module).
//!
//! One task accepts connections and one task per connection reads GIOP messages; every
//! request that needs device code runs in a task of its own, so requests pipelined on
//! one connection, and requests to one device, run concurrently: there is no monitor
//! lock, unless a class opts in with
//! [`AsyncClassBuilder::serialized`](tango_core::device::AsyncClassBuilder::serialized)
//! (an async lock: waiting for it never blocks the event loop). Replies go through a
//! per-connection writer task, in the order they are ready. A polling task reads polled
//! attributes and commands at their period.
//!
//! Device code may spawn tasks that outlive the request (they get the device data as an
//! `Arc<T>` and its [`DeviceCtx`]), and may call its own device or another device of the
//! server through [`crate::DeviceProxy`] without deadlock.
//!
//! All classes of one server are Asyncio classes: a Synchronous class is refused at start.
//! The admin device (`dserver/<exec>/<instance>`, a Synchronous class of the core) runs
//! its quick calls under a std mutex.
//!
//! ```no_run
//! use tango_smol::server::{AsyncDeviceServer, ServerOptions};
//! # fn my_class() -> tango_core::device::DeviceClass { unimplemented!() }
//! # async fn run() -> std::io::Result<()> {
//! let opts = ServerOptions::new("test", &["my/dev/1"]);
//! let server = AsyncDeviceServer::new("MyServer").class(my_class()).start(&opts).await?;
//! server.wait().await; // until the admin device's Kill
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::marker::PhantomData;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use smol::channel::{self, Receiver, Sender};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::Async;
use tango_client::AsyncRuntime;
use tango_core::device::{
    run_job_async, AsyncDevice, Call, DeviceClass, DeviceCtx, Outcome, ServerMode, SyncDevice,
};
use tango_core::giop::{FrameDecoder, Message};
use tango_core::idl::{DevFailed, TimeVal};
use tango_core::server::admin::Control;
use tango_core::server::polling::{poll_call, polled_value, PollRecord};
use tango_core::server::{DeviceId, Dispatcher, Job, ServerConfig, Step};

use crate::io::sleep;

/// The IDL version we implement.
const IDL_VERSION: u32 = 6;

/// The wall clock as Tango sends it.
fn now() -> TimeVal {
    TimeVal::from_system_time(SystemTime::now())
}

pub use tango_core::server::ServerOptions;

/// One Asyncio device: what `DevRestart` replaces.
struct AsyncSlot {
    class: DeviceClass,
    ctx: DeviceCtx,
    device: RwLock<Arc<dyn AsyncDevice>>,
}

impl AsyncSlot {
    fn device(&self) -> Arc<dyn AsyncDevice> {
        self.device
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A stop signal every task can wait for: a channel nothing is sent on, closed to stop
/// (closing wakes every waiting receiver).
#[derive(Clone)]
struct StopSignal {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl StopSignal {
    fn new() -> Self {
        let (tx, rx) = channel::bounded(1);
        StopSignal { tx, rx }
    }

    fn stop(&self) {
        self.tx.close();
    }

    fn is_stopped(&self) -> bool {
        self.tx.is_closed()
    }

    /// Completes once stopped.
    async fn stopped(&self) {
        while self.rx.recv().await.is_ok() {}
    }
}

/// Runs `fut` unless the server stops first (then `None`).
async fn until_stopped<T>(
    stop: &StopSignal,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    smol::future::or(async { Some(fut.await) }, async {
        stop.stopped().await;
        None
    })
    .await
}

/// What the tasks of a running server share.
struct Shared<R> {
    dispatcher: Dispatcher,
    admin_id: DeviceId,
    admin_class: DeviceClass,
    admin: Mutex<(DeviceCtx, Box<dyn SyncDevice>)>,
    slots: RwLock<HashMap<DeviceId, Arc<AsyncSlot>>>,
    stop: StopSignal,
    /// Open connections (their writer tasks), to let them finish at shutdown.
    connections: AtomicUsize,
    verbosity: u8,
    runtime: PhantomData<fn() -> R>,
}

impl<R: AsyncRuntime> Shared<R> {
    fn slot(&self, id: DeviceId) -> Option<Arc<AsyncSlot>> {
        self.slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn is_stopping(&self) -> bool {
        self.stop.is_stopped()
    }

    fn stop(&self) {
        self.stop.stop();
    }

    /// Runs the calls of a job: the admin device's (quick, synchronous) under its mutex,
    /// an Asyncio device's as a future (under its async monitor if its class has one).
    async fn run_calls(&self, id: DeviceId, calls: Vec<Call>) -> Vec<Outcome> {
        if id == self.admin_id {
            let mut admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
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
        run_job_async(&*device, &slot.ctx, calls).await
    }

    /// Runs a job to its reply.
    async fn complete(&self, mut job: Job) -> Option<Vec<u8>> {
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

    fn apply_pending_control(self: &Arc<Self>) {
        if let Some(control) = self.dispatcher.take_control() {
            self.apply_control(control);
        }
    }

    fn apply_control(self: &Arc<Self>, control: Control) {
        let me = self.clone();
        match control {
            Control::Kill => {
                // Answer the Kill command first, then stop.
                R::spawn(async move {
                    sleep(Duration::from_millis(50)).await;
                    me.stop();
                });
            }
            Control::RestartServer => {
                R::spawn(async move {
                    let slots: Vec<Arc<AsyncSlot>> = me
                        .slots
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .values()
                        .cloned()
                        .collect();
                    for slot in slots {
                        let device = slot.device();
                        run_job_async(&*device, &slot.ctx, vec![Call::Init]).await;
                    }
                });
            }
            Control::RestartDevice(id) if id == self.admin_id => {
                let mut admin = me.admin.lock().unwrap_or_else(|p| p.into_inner());
                let (ctx, dev) = &mut *admin;
                dev.delete_device(ctx);
                *dev = me.admin_class.new_device(ctx);
                if let Err(e) = dev.init_device(ctx) {
                    tracing::warn!(device = ctx.name(), "init_device failed at restart: {e}");
                }
            }
            Control::RestartDevice(id) => {
                let Some(slot) = self.slot(id) else { return };
                R::spawn(async move {
                    let old = slot.device();
                    old.delete_device(&slot.ctx).await;
                    let Some(fresh) = slot.class.new_async_device(&slot.ctx) else {
                        return;
                    };
                    *slot.device.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                    if let Outcome::Done(Err(e)) =
                        Outcome::run_async(&*fresh, &slot.ctx, Call::Init).await
                    {
                        tracing::warn!(
                            device = slot.ctx.name(),
                            "init_device failed at restart: {e}"
                        );
                    }
                });
            }
        }
    }
}

/// A device server in Asyncio green mode on smol.
pub type AsyncDeviceServer = AsyncDeviceServerOn<crate::Smol>;

/// A server running on smol's executor.
pub type RunningServer = RunningServerOn<crate::Smol>;

/// A device server in Asyncio green mode on async-io, spawning its tasks with `R`: an
/// executable name and its classes.
pub struct AsyncDeviceServerOn<R> {
    exec_name: String,
    classes: Vec<DeviceClass>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: AsyncRuntime> AsyncDeviceServerOn<R> {
    /// A server named after its executable (`TangoTest`).
    pub fn new(exec_name: &str) -> Self {
        AsyncDeviceServerOn {
            exec_name: exec_name.to_owned(),
            classes: Vec::new(),
            runtime: PhantomData,
        }
    }

    /// Adds a device class (an Asyncio class: see
    /// [`tango_core::device::AsyncClassBuilder`]). Devices go to the first class unless
    /// prefixed `ClassName::`.
    pub fn class(mut self, class: DeviceClass) -> Self {
        self.classes.push(class);
        self
    }

    /// Starts serving, its tasks spawned with `R`: binds, creates and initialises the
    /// devices, and prints the endpoint and `Ready to accept request` (what tools wait
    /// for). A Synchronous class, or a device whose `init_device` fails, is an error.
    pub async fn start(self, opts: &ServerOptions) -> io::Result<RunningServerOn<R>> {
        let other = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        if self.classes.is_empty() {
            return Err(other(
                "a device server needs at least one device class".into(),
            ));
        }
        for class in &self.classes {
            if class.green_mode() != ServerMode::Asyncio {
                return Err(other(format!(
                    "device class {} is {}; this server runs Asyncio classes only",
                    class.name(),
                    class.green_mode()
                )));
            }
        }
        let bind_to = (opts.host.as_str(), opts.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| other(format!("cannot resolve {}", opts.host)))?;
        let listener = Async::<TcpListener>::bind(bind_to)?;
        let addr = listener.get_ref().local_addr()?;
        let dispatcher = Dispatcher::new(ServerConfig {
            exec_name: self.exec_name.clone(),
            instance: opts.instance.clone(),
            host_name: hostname(),
            pid: std::process::id(),
            idl_version: IDL_VERSION,
            version_info: vec![
                ("tango-rs".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
                ("idl".to_owned(), "6.0.4".to_owned()),
                ("green-mode".to_owned(), format!("Asyncio ({})", R::NAME)),
            ],
        });
        let (admin_id, admin_ctx, admin_class) = dispatcher.admin_device();
        let mut admin = admin_class.new_device(&admin_ctx);
        admin
            .init_device(&admin_ctx)
            .map_err(|e| other(e.to_string()))?;
        let mut slots = HashMap::new();
        let mut names = Vec::new();
        for entry in &opts.devices {
            let (class, name) = match entry.split_once("::") {
                Some((c, n)) => (
                    self.classes
                        .iter()
                        .find(|k| k.name().eq_ignore_ascii_case(c))
                        .ok_or_else(|| {
                            other(format!("{entry}: no class named {c} in this server"))
                        })?,
                    n,
                ),
                None => (&self.classes[0], entry.as_str()),
            };
            let (id, ctx) = dispatcher
                .add_device(class, name)
                .map_err(|e| other(e.to_string()))?;
            let device = class
                .new_async_device(&ctx)
                .ok_or_else(|| other(format!("device class {} is not Asyncio", class.name())))?;
            if let Outcome::Done(Err(e)) = Outcome::run_async(&*device, &ctx, Call::Init).await {
                return Err(other(format!("{name}: init_device failed: {e}")));
            }
            slots.insert(
                id,
                Arc::new(AsyncSlot {
                    class: class.clone(),
                    ctx,
                    device: RwLock::new(device),
                }),
            );
            names.push(name.to_owned());
        }
        let shared = Arc::new(Shared::<R> {
            dispatcher,
            admin_id,
            admin_class,
            admin: Mutex::new((admin_ctx, admin)),
            slots: RwLock::new(slots),
            stop: StopSignal::new(),
            connections: AtomicUsize::new(0),
            verbosity: opts.verbosity,
            runtime: PhantomData,
        });
        let shown_host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        println!(
            "{}/{} listening on giop:tcp:{}:{}",
            self.exec_name,
            opts.instance,
            shown_host,
            addr.port()
        );
        for n in &names {
            println!("  device tango://{shown_host}:{}/{n}#dbase=no", addr.port());
        }
        println!("Ready to accept request");
        let _ = io::stdout().flush();

        // The background tasks hold `done` senders: `wait` sees them all end.
        let (done_tx, done) = channel::bounded::<()>(1);
        {
            let (shared, done_tx) = (shared.clone(), done_tx.clone());
            R::spawn(async move {
                accept_loop(shared, listener).await;
                drop(done_tx);
            });
        }
        {
            let shared = shared.clone();
            R::spawn(async move {
                polling_loop(shared).await;
                drop(done_tx);
            });
        }
        Ok(RunningServerOn {
            shared,
            addr,
            shown_host,
            devices: names,
            done: Some(done),
        })
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

async fn accept_loop<R: AsyncRuntime>(shared: Arc<Shared<R>>, listener: Async<TcpListener>) {
    loop {
        let Some(accepted) = until_stopped(&shared.stop, listener.accept()).await else {
            return;
        };
        match accepted {
            Ok((stream, peer)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                R::spawn(serve_connection(shared.clone(), stream, peer));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One client connection: reads requests, answers what needs no device code at once and
/// runs each job in a task of its own; a writer task sends the replies.
async fn serve_connection<R: AsyncRuntime>(
    shared: Arc<Shared<R>>,
    stream: Async<TcpStream>,
    peer: SocketAddr,
) {
    let _ = stream.get_ref().set_nodelay(true);
    let peer = peer.to_string();
    if shared.verbosity >= 1 {
        eprintln!("{peer} connected");
    }
    let stream = Arc::new(stream);
    let (tx, rx) = channel::unbounded::<Vec<u8>>();
    {
        let shared = shared.clone();
        let peer = peer.clone();
        let stream = stream.clone();
        R::spawn(async move {
            let mut writer = &*stream;
            while let Ok(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = writer.flush().await;
            let _ = stream.get_ref().shutdown(Shutdown::Write);
            if shared.verbosity >= 1 {
                eprintln!("{peer} disconnected");
            }
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        });
    }
    let mut reader = &*stream;
    let mut framer = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    'conn: loop {
        loop {
            match framer.next_message() {
                Ok(Some(msg)) => {
                    if !on_message(&shared, &peer, &tx, &msg) {
                        break 'conn;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if let Step::Reply(bytes) = shared.dispatcher.on_framing_error(&e) {
                        let _ = tx.try_send(bytes);
                    }
                    break 'conn;
                }
            }
        }
        match until_stopped(&shared.stop, reader.read(&mut buf)).await {
            None | Some(Ok(0) | Err(_)) => break,
            Some(Ok(n)) => framer.push(&buf[..n]),
        }
    }
    // The writer ends once the jobs still running (which hold senders) have answered.
    drop(tx);
}

/// Handles one request; false closes the connection.
fn on_message<R: AsyncRuntime>(
    shared: &Arc<Shared<R>>,
    peer: &str,
    tx: &Sender<Vec<u8>>,
    msg: &Message,
) -> bool {
    if shared.verbosity >= 4 {
        if let Ok((h, _)) = tango_core::giop::decode_request(msg) {
            eprintln!(
                "{peer} {} on {} (request {})",
                h.operation,
                String::from_utf8_lossy(&h.object_key),
                h.request_id
            );
        }
    }
    match shared.dispatcher.handle(msg, peer, now()) {
        Step::Reply(bytes) => {
            // Unbounded: never full.
            let _ = tx.try_send(bytes);
            shared.apply_pending_control();
            true
        }
        Step::NoReply => {
            shared.apply_pending_control();
            true
        }
        Step::Close => false,
        Step::Run(job) => {
            let shared = shared.clone();
            let tx = tx.clone();
            R::spawn(async move {
                if let Some(bytes) = shared.complete(job).await {
                    let _ = tx.try_send(bytes);
                }
                shared.apply_pending_control();
            });
            true
        }
    }
}

async fn polling_loop<R: AsyncRuntime>(shared: Arc<Shared<R>>) {
    // One time base with the admin device, which schedules what AddObjPolling adds.
    let server = shared.dispatcher.shared().clone();
    let polling = &server.polling;
    while !shared.is_stopping() {
        let now_ms = server.now_ms();
        let due = polling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .due(now_ms);
        for (id, kind, name) in due {
            let info = shared.dispatcher.class_info(id);
            let Some(call) = poll_call(&info, kind, &name) else {
                continue;
            };
            // cppTango stamps a polled value when its reading starts.
            let time = now();
            let started = Instant::now();
            let outcome = shared.run_calls(id, vec![call]).await.pop();
            let Some(value) = outcome.and_then(|o| polled_value(kind, o)) else {
                continue;
            };
            let record = PollRecord {
                time,
                duration_us: started.elapsed().as_micros() as u64,
                value,
            };
            polling
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .store(id, kind, &name, record);
        }
        let next = polling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_deadline();
        let now_ms = server.now_ms();
        // Wake at the next deadline, but at least every 50 ms to see configuration changes.
        let wait = next.map_or(50, |d| d.saturating_sub(now_ms).min(50));
        if until_stopped(&shared.stop, sleep(Duration::from_millis(wait.max(1))))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// A running server, its tasks spawned with `R`.
pub struct RunningServerOn<R> {
    shared: Arc<Shared<R>>,
    addr: SocketAddr,
    shown_host: String,
    devices: Vec<String>,
    /// Closed once the accept and polling tasks ended; `None` once waited for.
    done: Option<Receiver<()>>,
}

impl<R> std::fmt::Debug for RunningServerOn<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .field("devices", &self.devices)
            .finish()
    }
}

impl<R: AsyncRuntime> RunningServerOn<R> {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The devices it serves (not the admin device).
    pub fn devices(&self) -> &[String] {
        &self.devices
    }

    /// The name clients use for `device`: `tango://host:port/device#dbase=no`.
    pub fn device_name(&self, device: &str) -> String {
        format!(
            "tango://{}:{}/{device}#dbase=no",
            self.shown_host,
            self.port()
        )
    }

    /// The admin device's client name.
    pub fn admin_device_name(&self) -> String {
        self.device_name(&self.shared.dispatcher.admin_name())
    }

    /// True once `Kill` or [`RunningServer::stop`] stopped it.
    pub fn is_stopping(&self) -> bool {
        self.shared.is_stopping()
    }

    /// Asks the server to stop (as the admin device's `Kill` does); [`RunningServer::wait`]
    /// then returns.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Waits until the server is stopped (by `Kill` or [`RunningServer::stop`]), lets
    /// in-flight requests answer (up to 2 s), then deletes the devices.
    pub async fn wait(mut self) {
        self.shared.stop.stopped().await;
        self.finish().await;
    }

    /// Stops the server: in-flight requests are answered, connections closed, devices
    /// deleted.
    pub async fn shutdown(self) {
        self.shared.stop();
        self.wait().await;
    }

    async fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            // Err once every background task dropped its sender.
            while done.recv().await.is_ok() {}
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && self.shared.connections.load(Ordering::SeqCst) > 0 {
            sleep(Duration::from_millis(10)).await;
        }
        let slots: Vec<Arc<AsyncSlot>> = self
            .shared
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for slot in slots {
            slot.device().delete_device(&slot.ctx).await;
        }
        let mut admin = self.shared.admin.lock().unwrap_or_else(|p| p.into_inner());
        let (ctx, dev) = &mut *admin;
        dev.delete_device(ctx);
    }
}

impl<R> Drop for RunningServerOn<R> {
    fn drop(&mut self) {
        // Dropped without `wait`/`shutdown`: stop accepting and reading; devices are not
        // deleted (that needs an executor).
        if self.done.is_some() {
            self.shared.stop.stop();
        }
    }
}
