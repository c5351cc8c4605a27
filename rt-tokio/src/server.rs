//! A Tango device server in Asyncio green mode on tokio: the async adapter of the core's
//! [`Dispatcher`].
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
//! Device code may spawn tokio tasks that outlive the request (they get the device data
//! as an `Arc<T>` and its [`DeviceCtx`]), and may call its own device or another device of
//! the server through [`crate::DeviceProxy`] without deadlock.
//!
//! All classes of one server are Asyncio classes: a Synchronous class is refused at start.
//! The admin device (`dserver/<exec>/<instance>`, a Synchronous class of the core) runs
//! its quick calls under a std mutex.
//!
//! ```no_run
//! use tango_tokio::server::{AsyncDeviceServer, ServerOptions};
//! # fn my_class() -> tango_core::device::DeviceClass { unimplemented!() }
//! # async fn run() -> std::io::Result<()> {
//! let opts = ServerOptions::new("test", &["my/dev/1"]);
//! let server = AsyncDeviceServer::new("MyServer").class(my_class()).start(&opts).await?;
//! server.wait().await; // until the admin device's Kill
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tango_core::device::{
    run_job_async, AsyncDevice, Call, DeviceClass, DeviceCtx, Outcome, ServerMode, SyncDevice,
};
use tango_core::giop::{FrameDecoder, Message};
use tango_core::idl::{DevFailed, TimeVal};
use tango_core::server::admin::Control;
use tango_core::server::polling::{poll_call, polled_value, PollRecord};
use tango_core::server::{DeviceId, Dispatcher, Job, ServerConfig, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

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

/// What the tasks of a running server share.
struct Shared {
    dispatcher: Dispatcher,
    admin_id: DeviceId,
    admin_class: DeviceClass,
    admin: Mutex<(DeviceCtx, Box<dyn SyncDevice>)>,
    slots: RwLock<HashMap<DeviceId, Arc<AsyncSlot>>>,
    stop: watch::Sender<bool>,
    /// Open connections (their writer tasks), to let them finish at shutdown.
    connections: AtomicUsize,
    verbosity: u8,
}

impl Shared {
    fn slot(&self, id: DeviceId) -> Option<Arc<AsyncSlot>> {
        self.slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn stop(&self) {
        self.stop.send_replace(true);
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
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    me.stop();
                });
            }
            Control::RestartServer => {
                tokio::spawn(async move {
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
                tokio::spawn(async move {
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

/// A device server in Asyncio green mode on tokio: an executable name and its classes.
pub struct AsyncDeviceServer {
    exec_name: String,
    classes: Vec<DeviceClass>,
}

impl AsyncDeviceServer {
    /// A server named after its executable (`TangoTest`).
    pub fn new(exec_name: &str) -> Self {
        AsyncDeviceServer {
            exec_name: exec_name.to_owned(),
            classes: Vec::new(),
        }
    }

    /// Adds a device class (an Asyncio class: see
    /// [`tango_core::device::AsyncClassBuilder`]). Devices go to the first class unless
    /// prefixed `ClassName::`.
    pub fn class(mut self, class: DeviceClass) -> Self {
        self.classes.push(class);
        self
    }

    /// Starts serving on the current tokio runtime: binds, creates and initialises the
    /// devices, and prints the endpoint and `Ready to accept request` (what tools wait
    /// for). A Synchronous class, or a device whose `init_device` fails, is an error.
    pub async fn start(self, opts: &ServerOptions) -> io::Result<RunningServer> {
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
        let listener = TcpListener::bind((opts.host.as_str(), opts.port)).await?;
        let addr = listener.local_addr()?;
        let dispatcher = Dispatcher::new(ServerConfig {
            exec_name: self.exec_name.clone(),
            instance: opts.instance.clone(),
            host_name: hostname(),
            pid: std::process::id(),
            idl_version: IDL_VERSION,
            version_info: vec![
                ("tango-rs".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
                ("idl".to_owned(), "6.0.4".to_owned()),
                ("green-mode".to_owned(), "Asyncio (tokio)".to_owned()),
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
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            dispatcher,
            admin_id,
            admin_class,
            admin: Mutex::new((admin_ctx, admin)),
            slots: RwLock::new(slots),
            stop,
            connections: AtomicUsize::new(0),
            verbosity: opts.verbosity,
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

        let accept = tokio::spawn(accept_loop(shared.clone(), listener));
        let poller = tokio::spawn(polling_loop(shared.clone()));
        Ok(RunningServer {
            shared,
            addr,
            shown_host,
            devices: names,
            tasks: vec![accept, poller],
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

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut stop = shared.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_connection(shared.clone(), stream, peer));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One client connection: reads requests, answers what needs no device code at once and
/// runs each job in a task of its own; a writer task sends the replies.
async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let peer = peer.to_string();
    if shared.verbosity >= 1 {
        eprintln!("{peer} connected");
    }
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer_task = {
        let shared = shared.clone();
        let peer = peer.clone();
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = writer.shutdown().await;
            if shared.verbosity >= 1 {
                eprintln!("{peer} disconnected");
            }
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        })
    };
    let mut stop = shared.stop.subscribe();
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
                        let _ = tx.send(bytes);
                    }
                    break 'conn;
                }
            }
        }
        let read = tokio::select! {
            r = reader.read(&mut buf) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => framer.push(&buf[..n]),
        }
    }
    // The writer ends once the jobs still running (which hold senders) have answered.
    drop(tx);
    drop(writer_task);
}

/// Handles one request; false closes the connection.
fn on_message(
    shared: &Arc<Shared>,
    peer: &str,
    tx: &mpsc::UnboundedSender<Vec<u8>>,
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
            let _ = tx.send(bytes);
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
            tokio::spawn(async move {
                if let Some(bytes) = shared.complete(job).await {
                    let _ = tx.send(bytes);
                }
                shared.apply_pending_control();
            });
            true
        }
    }
}

async fn polling_loop(shared: Arc<Shared>) {
    // One time base with the admin device, which schedules what AddObjPolling adds.
    let server = shared.dispatcher.shared().clone();
    let polling = &server.polling;
    let mut stop = shared.stop.subscribe();
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
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait.max(1))) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// A server running on a tokio runtime of this process.
pub struct RunningServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shown_host: String,
    devices: Vec<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .field("devices", &self.devices)
            .finish()
    }
}

impl RunningServer {
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
        let mut stop = self.shared.stop.subscribe();
        let _ = stop.wait_for(|s| *s).await;
        self.finish().await;
    }

    /// Stops the server: in-flight requests are answered, connections closed, devices
    /// deleted.
    pub async fn shutdown(self) {
        self.shared.stop();
        self.wait().await;
    }

    async fn finish(&mut self) {
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && self.shared.connections.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
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

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Dropped without `wait`/`shutdown`: stop accepting and reading; devices are not
        // deleted (that needs the runtime).
        if !self.tasks.is_empty() {
            self.shared.stop();
        }
    }
}
