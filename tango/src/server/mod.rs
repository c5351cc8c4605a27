//! A Tango device server in Synchronous green mode: the blocking adapter of the core's
//! [`Dispatcher`].
//!
//! One thread accepts connections, one thread per connection reads GIOP messages and
//! answers them, and each device has a monitor lock: requests to one device run one at a
//! time, requests to different devices in parallel (cppTango's default serialisation by
//! device). A polling thread reads polled attributes and commands at their period.
//!
//! ```no_run
//! use tango::server::DeviceServer;
//! # fn my_class() -> tango::tango_core::device::DeviceClass { unimplemented!() }
//! // `MyServer test -nodb -dlist my/dev/1 -ORBendPoint giop:tcp:127.0.0.1:0`
//! std::process::exit(DeviceServer::new("MyServer").class(my_class()).run_from_args());
//! ```

mod args;

pub use args::{usage, ArgsError, ServerArgs};

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use tango_core::device::{Call, DeviceClass, DeviceCtx, Outcome, SyncDevice};
use tango_core::giop::FrameDecoder;
use tango_core::idl::{DevFailed, TimeVal};
use tango_core::server::admin::Control;
use tango_core::server::polling::{PollRecord, PolledKind, PolledValue};
use tango_core::server::{DeviceId, Dispatcher, ServerConfig, Step};
use tango_core::value::AttrData;

/// The IDL version we implement.
const IDL_VERSION: u32 = 6;

/// The wall clock as Tango sends it.
fn now() -> TimeVal {
    TimeVal::from_system_time(SystemTime::now())
}

/// A device object with its context: what the monitor lock protects.
struct Slot {
    class: DeviceClass,
    ctx: DeviceCtx,
    device: Box<dyn SyncDevice>,
}

impl Slot {
    fn run(&mut self, call: Call) -> Outcome {
        Outcome::run_sync(&mut *self.device, &self.ctx, call)
    }
}

/// What the threads of a running server share.
struct Shared {
    dispatcher: Dispatcher,
    slots: RwLock<HashMap<DeviceId, Arc<Mutex<Slot>>>>,
    stopping: AtomicBool,
    /// Clones of the open connections, to wake their readers at shutdown.
    connections: Mutex<HashMap<u64, TcpStream>>,
    /// `-v[N]`: 1 and up logs connections to stderr, 4 and up every request.
    verbosity: u8,
}

impl Shared {
    fn slot(&self, id: DeviceId) -> Option<Arc<Mutex<Slot>>> {
        self.slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Runs the calls of a job under the device's monitor lock.
    fn run_calls(&self, id: DeviceId, calls: &[Call]) -> Vec<Outcome> {
        let Some(slot) = self.slot(id) else {
            let err = DevFailed::new("API_DeviceNotFound", "device is gone", "DeviceServer");
            return calls
                .iter()
                .map(|_| Outcome::Done(Err(err.clone())))
                .collect();
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        calls.iter().map(|c| slot.run(c.clone())).collect()
    }

    /// Processes one message to its end (device code included); returns what to write,
    /// and whether to close the connection.
    fn process(&self, msg: &tango_core::giop::Message, peer: &str) -> (Option<Vec<u8>>, bool) {
        let mut step = self.dispatcher.handle(msg, peer, now());
        loop {
            match step {
                Step::Reply(bytes) => return (Some(bytes), false),
                Step::NoReply => return (None, false),
                Step::Close => return (None, true),
                Step::Run(job) => {
                    let outcomes = self.run_calls(job.device, &job.calls);
                    step = self.dispatcher.finish(job, outcomes, now());
                }
            }
        }
    }

    fn apply_control(self: &Arc<Self>, control: Control) {
        match control {
            Control::Kill => {
                let me = self.clone();
                // Answer the Kill command first, then stop.
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(50));
                    me.stop();
                });
            }
            Control::RestartServer => {
                let ids: Vec<DeviceId> = self
                    .slots
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .keys()
                    .copied()
                    .collect();
                for id in ids {
                    if let Some(slot) = self.slot(id) {
                        let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
                        if s.class.name() != "DServer" {
                            let _ = s.run(Call::Init);
                        }
                    }
                }
            }
            Control::RestartDevice(id) => {
                if let Some(slot) = self.slot(id) {
                    let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
                    let s = &mut *guard;
                    s.device.delete_device(&s.ctx);
                    s.device = s.class.new_device(&s.ctx);
                    if let Outcome::Done(Err(e)) = s.run(Call::Init) {
                        tracing::warn!(device = s.ctx.name(), "init_device failed at restart: {e}");
                    }
                }
            }
        }
    }

    /// Stops accepting, wakes every connection, and lets in-flight requests finish.
    fn stop(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        for c in self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            let _ = c.shutdown(Shutdown::Read);
        }
    }
}

/// A device server: an executable name and the device classes it serves.
pub struct DeviceServer {
    exec_name: String,
    classes: Vec<DeviceClass>,
}

impl DeviceServer {
    /// A server named after its executable (`TangoTest`).
    pub fn new(exec_name: &str) -> Self {
        DeviceServer {
            exec_name: exec_name.to_owned(),
            classes: Vec::new(),
        }
    }

    /// Adds a device class. Devices of `-dlist` go to the first class unless prefixed
    /// `ClassName::`.
    pub fn class(mut self, class: DeviceClass) -> Self {
        self.classes.push(class);
        self
    }

    /// Runs as a process: parses `std::env::args()` as cppTango does, serves until the
    /// admin device's `Kill` or SIGINT/SIGTERM, and returns the exit code.
    pub fn run_from_args(self) -> i32 {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let parsed = match ServerArgs::parse(&self.exec_name, &args, &[]) {
            Ok(a) => a,
            Err(ArgsError::Help(u)) => {
                println!("{u}");
                return 0;
            }
            Err(ArgsError::Invalid(m)) => {
                eprintln!("{m}");
                return 2;
            }
        };
        match self.start(&parsed) {
            Ok(server) => {
                server.stop_on_signals();
                server.wait();
                0
            }
            Err(e) => {
                eprintln!("{}: {e}", parsed.instance);
                1
            }
        }
    }

    /// Starts serving in this process: binds, creates and initialises the devices, and
    /// prints the endpoint and `Ready to accept request` (what tools wait for).
    pub fn start(self, args: &ServerArgs) -> io::Result<RunningServer> {
        let other = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        if self.classes.is_empty() {
            return Err(other(
                "a device server needs at least one device class".into(),
            ));
        }
        let listener = TcpListener::bind((args.host.as_str(), args.port))?;
        let addr = listener.local_addr()?;
        let host_name = hostname();
        let dispatcher = Dispatcher::new(ServerConfig {
            exec_name: self.exec_name.clone(),
            instance: args.instance.clone(),
            host_name,
            pid: std::process::id(),
            idl_version: IDL_VERSION,
            version_info: vec![
                ("tango-rs".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
                ("idl".to_owned(), "6.0.4".to_owned()),
            ],
        });
        let shared = Arc::new(Shared {
            dispatcher,
            slots: RwLock::default(),
            stopping: AtomicBool::new(false),
            connections: Mutex::default(),
            verbosity: args.verbosity,
        });
        // The admin device first, then the -dlist devices.
        let (admin_id, admin_ctx, admin_class) = shared.dispatcher.admin_device();
        add_slot(&shared, admin_id, admin_class, admin_ctx).map_err(|e| other(e.to_string()))?;
        let mut names = Vec::new();
        for entry in &args.devices {
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
            let (id, ctx) = shared
                .dispatcher
                .add_device(class, name)
                .map_err(|e| other(e.to_string()))?;
            add_slot(&shared, id, class.clone(), ctx).map_err(|e| other(e.to_string()))?;
            names.push(name.to_owned());
        }
        let shown_host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        println!(
            "{}/{} listening on giop:tcp:{}:{}",
            self.exec_name,
            args.instance,
            shown_host,
            addr.port()
        );
        for n in &names {
            println!("  device tango://{shown_host}:{}/{n}#dbase=no", addr.port());
        }
        println!("Ready to accept request");
        let _ = io::stdout().flush();

        let accept = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("tango-accept".into())
                .spawn(move || accept_loop(&shared, listener))?
        };
        let poller = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("tango-polling".into())
                .spawn(move || polling_loop(&shared))?
        };
        Ok(RunningServer {
            shared,
            addr,
            shown_host,
            devices: names,
            threads: vec![accept, poller],
        })
    }
}

fn add_slot(
    shared: &Shared,
    id: DeviceId,
    class: DeviceClass,
    ctx: DeviceCtx,
) -> Result<(), DevFailed> {
    let mut device = class.new_device(&ctx);
    device.init_device(&ctx)?;
    shared
        .slots
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, Arc::new(Mutex::new(Slot { class, ctx, device })));
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    let mut next_id = 0u64;
    listener.set_nonblocking(true).ok();
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                next_id += 1;
                let id = next_id;
                let _ = stream.set_nonblocking(false);
                if let Ok(clone) = stream.try_clone() {
                    shared
                        .connections
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id, clone);
                }
                let shared = shared.clone();
                let spawned = thread::Builder::new()
                    .name(format!("tango-conn-{id}"))
                    .spawn(move || {
                        serve_connection(&shared, stream, peer);
                        shared
                            .connections
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&id);
                    });
                if let Err(e) = spawned {
                    tracing::error!("cannot start a connection thread: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Most threads one connection may use to run requests at the same time.
const MAX_THREADS_PER_CONNECTION: usize = 64;

/// One client connection, served leader/follower style: the thread holding `reader`
/// reads the next request, hands the reader role to an idle thread of the connection
/// (starting one if none waits), runs the request and writes the reply. A slow command
/// therefore never stops the other requests a client pipelines on the same connection
/// (as omniORB serves them), while a lone request costs no thread hand-off.
struct ConnectionServer {
    shared: Arc<Shared>,
    peer: String,
    reader: Mutex<(TcpStream, FrameDecoder, Vec<u8>)>,
    writer: Mutex<TcpStream>,
    closed: AtomicBool,
    threads: std::sync::atomic::AtomicUsize,
    idle: std::sync::atomic::AtomicUsize,
}

impl ConnectionServer {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .shutdown(Shutdown::Both);
    }

    fn write(&self, bytes: &[u8]) -> bool {
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(bytes)
            .is_ok()
    }

    /// Takes the reader role and returns the next request; `None` when the connection ends.
    fn next_request(&self) -> Option<tango_core::giop::Message> {
        self.idle.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        self.idle.fetch_sub(1, Ordering::SeqCst);
        let (stream, framer, buf) = &mut *guard;
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            match framer.next_message() {
                Ok(Some(m)) => return Some(m),
                Ok(None) => {}
                Err(e) => {
                    if let Step::Reply(bytes) = self.shared.dispatcher.on_framing_error(&e) {
                        self.write(&bytes);
                    }
                    self.close();
                    return None;
                }
            }
            match stream.read(buf) {
                Ok(0) => {
                    self.close();
                    return None;
                }
                Ok(n) => framer.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close();
                    return None;
                }
            }
        }
    }

    /// The loop every thread of the connection runs.
    fn work(self: &Arc<Self>) {
        while let Some(msg) = self.next_request() {
            // Someone must read the next request while this one runs.
            if self.idle.load(Ordering::SeqCst) == 0
                && self.threads.load(Ordering::SeqCst) < MAX_THREADS_PER_CONNECTION
            {
                self.threads.fetch_add(1, Ordering::SeqCst);
                let me = self.clone();
                let spawned = thread::Builder::new()
                    .name("tango-conn".into())
                    .spawn(move || {
                        me.work();
                        me.threads.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    self.threads.fetch_sub(1, Ordering::SeqCst);
                }
            }
            if self.shared.verbosity >= 4 {
                if let Ok((h, _)) = tango_core::giop::decode_request(&msg) {
                    eprintln!(
                        "{} {} on {} (request {})",
                        self.peer,
                        h.operation,
                        String::from_utf8_lossy(&h.object_key),
                        h.request_id
                    );
                }
            }
            let (reply, close) = self.shared.process(&msg, &self.peer);
            if let Some(bytes) = reply {
                if !self.write(&bytes) {
                    self.close();
                }
            }
            if let Some(control) = self.shared.dispatcher.take_control() {
                self.shared.apply_control(control);
            }
            if close {
                self.close();
            }
        }
    }
}

fn serve_connection(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let conn = Arc::new(ConnectionServer {
        shared: shared.clone(),
        peer: peer.to_string(),
        reader: Mutex::new((stream, FrameDecoder::new(), vec![0u8; 64 * 1024])),
        writer: Mutex::new(writer),
        closed: AtomicBool::new(false),
        threads: std::sync::atomic::AtomicUsize::new(1),
        idle: std::sync::atomic::AtomicUsize::new(0),
    });
    if shared.verbosity >= 1 {
        eprintln!("{peer} connected");
    }
    conn.work();
    conn.close();
    if shared.verbosity >= 1 {
        eprintln!("{peer} disconnected");
    }
}

fn polling_loop(shared: &Arc<Shared>) {
    // One time base with the admin device, which schedules what AddObjPolling adds.
    let server = shared.dispatcher.shared().clone();
    let polling = &server.polling;
    while !shared.stopping.load(Ordering::SeqCst) {
        let now_ms = server.now_ms();
        let due = polling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .due(now_ms);
        for (id, kind, name) in due {
            let info = shared.dispatcher.class_info(id);
            let call = match kind {
                PolledKind::Attribute => match info.attribute(&name) {
                    Some(i) => match info.attributes[i].builtin {
                        Some(tango_core::device::Builtin::State) => Call::State,
                        Some(tango_core::device::Builtin::Status) => Call::Status,
                        _ => Call::Read(i),
                    },
                    None => continue,
                },
                PolledKind::Command => match info.command(&name) {
                    Some(i) => match info.commands[i].builtin {
                        Some(tango_core::device::Builtin::State) => Call::State,
                        Some(tango_core::device::Builtin::Status) => Call::Status,
                        _ => Call::Command(i, tango_core::any::CommandData::Void),
                    },
                    None => continue,
                },
            };
            // cppTango stamps a polled value when its reading starts.
            let time = now();
            let started = Instant::now();
            let outcome = shared.run_calls(id, std::slice::from_ref(&call)).pop();
            let value = match (kind, outcome) {
                (PolledKind::Attribute, Some(Outcome::Read(r))) => PolledValue::Attr(r),
                (PolledKind::Attribute, Some(Outcome::State(s))) => PolledValue::Attr(Ok(
                    tango_core::device::AttrReading::new(AttrData::State(vec![s]), 1, 0),
                )),
                (PolledKind::Attribute, Some(Outcome::Status(s))) => PolledValue::Attr(Ok(
                    tango_core::device::AttrReading::new(AttrData::String(vec![s]), 1, 0),
                )),
                (PolledKind::Command, Some(Outcome::Command(r))) => PolledValue::Cmd(r),
                (PolledKind::Command, Some(Outcome::State(s))) => {
                    PolledValue::Cmd(Ok(tango_core::any::CommandData::State(s)))
                }
                (PolledKind::Command, Some(Outcome::Status(s))) => {
                    PolledValue::Cmd(Ok(tango_core::any::CommandData::String(s)))
                }
                (_, Some(Outcome::Done(Err(e)))) => match kind {
                    PolledKind::Attribute => PolledValue::Attr(Err(e)),
                    PolledKind::Command => PolledValue::Cmd(Err(e)),
                },
                _ => continue,
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
        thread::sleep(Duration::from_millis(wait.max(1)));
    }
}

/// A server running in this process.
pub struct RunningServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shown_host: String,
    devices: Vec<String>,
    threads: Vec<JoinHandle<()>>,
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

    /// True once `Kill`, a signal or [`RunningServer::shutdown`] stopped it.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// Stops on SIGINT or SIGTERM (for `run_from_args`).
    pub fn stop_on_signals(&self) {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
                tracing::warn!("cannot handle signal {sig}: {e}");
            }
        }
        let shared = self.shared.clone();
        thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) && !shared.stopping.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(50));
            }
            shared.stop();
        });
    }

    /// Blocks until the server is stopped (by `Kill` or a signal), then deletes the devices.
    pub fn wait(mut self) {
        while !self.shared.stopping.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(50));
        }
        self.finish();
    }

    /// Stops the server: in-flight requests are answered, connections closed, devices
    /// deleted.
    pub fn shutdown(mut self) {
        self.shared.stop();
        self.finish();
    }

    fn finish(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Give connection threads a moment to answer what they were doing.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && !self
                .shared
                .connections
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
        {
            thread::sleep(Duration::from_millis(10));
        }
        for slot in self
            .shared
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            let s = &mut *slot.lock().unwrap_or_else(|p| p.into_inner());
            s.device.delete_device(&s.ctx);
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shared.stop();
            self.finish();
        }
    }
}
