//! A Tango device server in Synchronous green mode: the blocking adapter of the core's
//! [`Dispatcher`].
//!
//! One thread accepts connections, one thread per connection reads GIOP messages and
//! answers them, and each device has a monitor lock: requests to one device run one at a
//! time, requests to different devices in parallel (cppTango's default serialisation by
//! device). A polling thread reads polled attributes and commands at their period.
//!
//! # The monitor lock, its timeout, and devices calling themselves
//!
//! A request waits at most [`DeviceServer::monitor_timeout`] (cppTango's 3.2 s by
//! default) for its device's lock; past it, it fails with a `DevFailed` of reason
//! `API_CommandTimedOut` (cppTango's) and the server goes on serving.
//!
//! Device code holds its device's lock (and `&mut` access to the device) while it runs,
//! so a request that needs the same device and comes *from that code* (the device calls
//! itself through a client proxy, or calls a device that calls it back: A → B → A, in
//! this server or through other servers of ours) could only wait until the timeout. Such
//! a request is refused at once, with the same reason and a description that says why:
//! while device code runs, the requests our clients make on its thread (the
//! Synchronous `tango::DeviceProxy` and `tango::green` proxies in Synchronous, Futures
//! and Asyncio modes) carry a *call chain* (a GIOP service context, see
//! [`tango_core::server::call_chain`]), and the server finds its own device and lock
//! holder in it. Calls that need no device code (`ping`, `info`, queries, attribute
//! configuration, cached reads) never wait for the lock and work from the device's own
//! code, and so does calling *other* devices. A device whose code must call itself is
//! served in Asyncio or Coroutine green mode, which have no lock.
//!
//! Calls made without the chain (from a thread the device code spawned, from a may
//! coroutine it spawned, or by another client library) get the monitor timeout. A call
//! the code submits without waiting for it is refused too if it arrives while that code
//! still runs (it is served normally once the code has returned).
//!
//! ```no_run
//! use tango::server::DeviceServer;
//! # fn my_class() -> tango::tango_core::device::DeviceClass { unimplemented!() }
//! // `MyServer test -nodb -dlist my/dev/1 -ORBendPoint giop:tcp:127.0.0.1:0`
//! std::process::exit(DeviceServer::new("MyServer").class(my_class()).run_from_args());
//! ```

mod args;
mod monitor;

pub use args::{usage, ArgsError, ServerArgs};
pub use monitor::{DEFAULT_MONITOR_TIMEOUT, MONITOR_TIMEOUT_REASON};

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use tango_core::device::{Call, DeviceClass, DeviceCtx, Outcome, SyncDevice};
use tango_core::giop::FrameDecoder;
use tango_core::idl::{DevFailed, TimeVal};
use tango_core::server::adapter::Listening;
use tango_core::server::admin::Control;
use tango_core::server::call_chain::{CallChain, Link};
use tango_core::server::polling::{poll_call, polled_value, PollRecord};
use tango_core::server::{DeviceId, Dispatcher, ServerConfig, Step};

use monitor::Monitor;

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
    slots: RwLock<HashMap<DeviceId, Arc<Monitor<Slot>>>>,
    /// How long a request waits for a device's monitor lock.
    monitor_timeout: Duration,
    /// This server instance's random number in call chains.
    nonce: u64,
    /// The last activation given (each acquisition of a monitor gets the next).
    activations: AtomicU64,
    stopping: AtomicBool,
    /// Clones of the open connections, to wake their readers at shutdown.
    connections: Mutex<HashMap<u64, TcpStream>>,
    /// `-v[N]`: 1 and up logs connections to stderr, 4 and up every request.
    verbosity: u8,
    watchdog: Watchdog,
}

impl Shared {
    fn slot(&self, id: DeviceId) -> Option<Arc<Monitor<Slot>>> {
        self.slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn next_activation(&self) -> u64 {
        self.activations.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Takes `slot`'s monitor lock, waiting at most the monitor timeout.
    fn lock<'a>(&self, slot: &'a Monitor<Slot>) -> Option<monitor::Held<'a, Slot>> {
        slot.lock(self.next_activation(), Some(self.monitor_timeout))
    }

    /// Runs the calls of a job under the device's monitor lock, with `chain` (the call
    /// chain of the request) plus this activation as the thread's call chain. The
    /// request's error instead when the lock cannot be had: at once when the chain shows
    /// that the code holding the lock waits for this request, else after the monitor
    /// timeout.
    fn run_calls(
        &self,
        id: DeviceId,
        calls: &[Call],
        mut chain: CallChain,
    ) -> Result<Vec<Outcome>, DevFailed> {
        let Some(slot) = self.slot(id) else {
            return Err(DevFailed::new(
                "API_DeviceNotFound",
                "device is gone",
                "DeviceServer",
            ));
        };
        let device = u32::try_from(id.0).unwrap_or(u32::MAX);
        if !chain.is_empty() {
            let holder = slot.holder();
            if holder != 0
                && chain
                    .activations_of(self.nonce, device)
                    .any(|a| a == holder)
            {
                return Err(monitor::self_call(slot.name()));
            }
        }
        let activation = self.next_activation();
        let Some(mut held) = slot.lock(activation, Some(self.monitor_timeout)) else {
            return Err(monitor::timed_out(slot.name(), self.monitor_timeout));
        };
        chain.push(Link {
            server: self.nonce,
            activation,
            device,
        });
        Ok(tango_client::call_chain::with_call_chain(chain, || {
            calls.iter().map(|c| held.run(c.clone())).collect()
        }))
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
                    let Some(slot) = self.slot(id) else { continue };
                    let Some(mut s) = self.lock(&slot) else {
                        tracing::warn!(device = slot.name(), "busy: not restarted");
                        continue;
                    };
                    if s.class.name() != "DServer" {
                        let _ = s.run(Call::Init);
                    }
                }
            }
            Control::RestartDevice(id) => {
                if let Some(slot) = self.slot(id) {
                    let Some(mut guard) = self.lock(&slot) else {
                        tracing::warn!(device = slot.name(), "busy: not restarted");
                        return;
                    };
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
    monitor_timeout: Duration,
}

impl DeviceServer {
    /// A server named after its executable (`TangoTest`).
    pub fn new(exec_name: &str) -> Self {
        DeviceServer {
            exec_name: exec_name.to_owned(),
            classes: Vec::new(),
            monitor_timeout: DEFAULT_MONITOR_TIMEOUT,
        }
    }

    /// How long a request waits for a device's monitor lock before it fails with
    /// [`MONITOR_TIMEOUT_REASON`] (`API_CommandTimedOut`), as cppTango's monitor does;
    /// default [`DEFAULT_MONITOR_TIMEOUT`] (cppTango's 3.2 s). The server goes on serving.
    /// A request that comes from the code holding the lock (a device calling itself,
    /// directly or through other devices) does not wait: see the [module](self) docs.
    pub fn monitor_timeout(mut self, timeout: Duration) -> Self {
        self.monitor_timeout = timeout;
        self
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
            watchdog: Watchdog::default(),
            monitor_timeout: self.monitor_timeout,
            nonce: monitor::instance_nonce(),
            activations: AtomicU64::new(0),
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
        let listening = Listening::new(addr, &shared.dispatcher, names);
        print!("{}", listening.banner());
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
        let watchdog = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("tango-watchdog".into())
                .spawn(move || watchdog_loop(&shared))?
        };
        Ok(RunningServer {
            shared,
            listening,
            threads: vec![accept, poller, watchdog],
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
    let name = ctx.name().to_owned();
    shared
        .slots
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            id,
            Arc::new(Monitor::new(name, Slot { class, ctx, device })),
        );
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

/// `ConnectionServer::job` when no device job of the reading thread runs.
const NO_JOB: u64 = 0;
/// `ConnectionServer::job` once the watchdog has taken the reader role from a long job.
const STOLEN: u64 = u64::MAX;
/// Watchdog ticks (about a millisecond each) after which a running device job gives up
/// the reader role: it then lasted between one and two ticks.
const STEAL_AFTER_TICKS: u64 = 2;
/// Idle ticks after which the watchdog parks until a device job starts.
const WATCHDOG_PARK_AFTER_TICKS: u32 = 50;

/// Idle threads of a connection, waiting for the reader role.
#[derive(Default)]
struct Standby {
    /// Threads waiting in [`ConnectionServer::wait_for_reader_role`].
    idle: usize,
    /// The reader role is free: the next thread to wait takes it.
    offered: bool,
}

/// One client connection, served leader/follower style. Exactly one thread holds the
/// reader role: it reads the next request and, as long as that costs nothing, runs it
/// itself and writes the reply, so a lone request costs no thread hand-off. It hands the
/// role to an idle thread of the connection (starting one if none waits) when the framer
/// already holds another complete request, or when the watchdog finds its device job
/// running for more than a millisecond or so. A slow command therefore never stops the
/// other requests a client pipelines on the same connection (as omniORB serves them).
struct ConnectionServer {
    shared: Arc<Shared>,
    peer: String,
    /// Used only by the thread with the reader role; `Option` holds a request read
    /// ahead of the one being returned.
    reader: Mutex<ReaderState>,
    writer: Mutex<TcpStream>,
    closed: AtomicBool,
    threads: AtomicUsize,
    standby: Mutex<Standby>,
    wake: Condvar,
    /// [`NO_JOB`], [`STOLEN`], or the watchdog tick plus one at which the device job of
    /// the thread with the reader role started.
    job: AtomicU64,
}

struct ReaderState {
    stream: TcpStream,
    framer: FrameDecoder,
    buf: Vec<u8>,
    /// What the framer gave after the request last returned.
    ahead: Option<Result<tango_core::giop::Message, tango_core::giop::GiopError>>,
}

impl ConnectionServer {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .shutdown(Shutdown::Both);
        drop(self.standby.lock().unwrap_or_else(|p| p.into_inner()));
        self.wake.notify_all();
    }

    fn write(&self, bytes: &[u8]) -> bool {
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(bytes)
            .is_ok()
    }

    /// With the reader role: returns the next request, and whether the framer already
    /// holds a complete one after it; `None` when the connection ends.
    fn next_request(&self) -> Option<(tango_core::giop::Message, bool)> {
        let mut guard = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let ReaderState {
            stream,
            framer,
            buf,
            ahead,
        } = &mut *guard;
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            let next = match ahead.take() {
                Some(r) => r.map(Some),
                None => framer.next_message(),
            };
            match next {
                Ok(Some(m)) => {
                    *ahead = framer.next_message().transpose();
                    return Some((m, ahead.is_some()));
                }
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

    /// Gives the reader role away: to an idle thread, else to a new one, else to the
    /// next thread that finishes its request.
    fn hand_off(self: &Arc<Self>) {
        let mut standby = self.standby.lock().unwrap_or_else(|p| p.into_inner());
        if standby.idle == 0 && self.threads.load(Ordering::SeqCst) < MAX_THREADS_PER_CONNECTION {
            self.threads.fetch_add(1, Ordering::SeqCst);
            let me = self.clone();
            let spawned = thread::Builder::new()
                .name("tango-conn".into())
                .spawn(move || {
                    me.work(true);
                    me.threads.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_ok() {
                return;
            }
            self.threads.fetch_sub(1, Ordering::SeqCst);
        }
        standby.offered = true;
        drop(standby);
        self.wake.notify_one();
    }

    /// Waits until the reader role is offered; `false` when the connection ends first.
    fn wait_for_reader_role(&self) -> bool {
        let mut standby = self.standby.lock().unwrap_or_else(|p| p.into_inner());
        standby.idle += 1;
        while !standby.offered && !self.closed.load(Ordering::SeqCst) {
            standby = self.wake.wait(standby).unwrap_or_else(|p| p.into_inner());
        }
        standby.idle -= 1;
        std::mem::take(&mut standby.offered) && !self.closed.load(Ordering::SeqCst)
    }

    /// The watchdog's check: takes the reader role from a device job running for
    /// [`STEAL_AFTER_TICKS`] and hands it on.
    fn check_job(self: &Arc<Self>, tick: u64) {
        let job = self.job.load(Ordering::SeqCst);
        if job != NO_JOB
            && job != STOLEN
            && tick >= job - 1 + STEAL_AFTER_TICKS
            && self
                .job
                .compare_exchange(job, STOLEN, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.hand_off();
        }
    }

    /// Processes one message to its end (device code included); returns what to write,
    /// and whether to close the connection. `reader` says whether this thread holds the
    /// reader role, and turns `false` if the watchdog takes it during a device job.
    fn process(
        &self,
        msg: &tango_core::giop::Message,
        reader: &mut bool,
    ) -> (Option<Vec<u8>>, bool) {
        let shared = &self.shared;
        let mut step = shared.dispatcher.handle(msg, &self.peer, now());
        loop {
            match step {
                Step::Reply(bytes) => return (Some(bytes), false),
                Step::NoReply => return (None, false),
                Step::Close => return (None, true),
                Step::Run(job) => {
                    if *reader {
                        self.job.store(
                            shared.watchdog.tick.load(Ordering::SeqCst) + 1,
                            Ordering::SeqCst,
                        );
                        shared.watchdog.job_started();
                    }
                    let chain = CallChain::from_request(msg).unwrap_or_else(|e| {
                        // an ORB ignores a context it cannot read; so do we
                        tracing::debug!(peer = self.peer, "unreadable call chain: {e}");
                        CallChain::new()
                    });
                    let ran = shared.run_calls(job.device, &job.calls, chain);
                    if *reader && self.job.swap(NO_JOB, Ordering::SeqCst) == STOLEN {
                        *reader = false;
                    }
                    step = match ran {
                        Ok(outcomes) => shared.dispatcher.finish(job, outcomes, now()),
                        Err(err) => shared.dispatcher.fail(job, &err, now()),
                    };
                }
            }
        }
    }

    /// The loop every thread of the connection runs; `reader`: it starts with the
    /// reader role.
    fn work(self: &Arc<Self>, mut reader: bool) {
        loop {
            if !reader && !self.wait_for_reader_role() {
                return;
            }
            reader = true;
            let Some((msg, more)) = self.next_request() else {
                return;
            };
            if more {
                // Someone must read the next request while this one runs.
                self.hand_off();
                reader = false;
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
            let (reply, close) = self.process(&msg, &mut reader);
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

/// Takes the reader role from device jobs that run long, so that a connection's next
/// request never waits for them. It ticks about every millisecond while device jobs
/// run, and parks when none started for a while.
#[derive(Default)]
struct Watchdog {
    tick: AtomicU64,
    /// Device jobs started so far.
    jobs: AtomicU64,
    parked: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    /// The open connections.
    connections: Mutex<Vec<Weak<ConnectionServer>>>,
}

impl Watchdog {
    fn job_started(&self) {
        self.jobs.fetch_add(1, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.parked.store(false, Ordering::SeqCst);
            self.wake.notify_one();
        }
    }

    fn add(&self, conn: &Arc<ConnectionServer>) {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(conn));
    }
}

fn watchdog_loop(shared: &Arc<Shared>) {
    let dog = &shared.watchdog;
    let mut seen = dog.jobs.load(Ordering::SeqCst);
    let mut idle_ticks = 0u32;
    while !shared.stopping.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(1));
        let tick = dog.tick.fetch_add(1, Ordering::SeqCst) + 1;
        let mut running = false;
        let connections: Vec<Arc<ConnectionServer>> = {
            let mut list = dog.connections.lock().unwrap_or_else(|p| p.into_inner());
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for conn in &connections {
            let job = conn.job.load(Ordering::SeqCst);
            running |= job != NO_JOB && job != STOLEN;
            conn.check_job(tick);
        }
        drop(connections);
        let jobs = dog.jobs.load(Ordering::SeqCst);
        if running || jobs != seen {
            seen = jobs;
            idle_ticks = 0;
            continue;
        }
        idle_ticks += 1;
        if idle_ticks < WATCHDOG_PARK_AFTER_TICKS {
            continue;
        }
        let guard = dog.lock.lock().unwrap_or_else(|p| p.into_inner());
        dog.parked.store(true, Ordering::SeqCst);
        if dog.jobs.load(Ordering::SeqCst) == seen {
            // A timeout too, to notice `stopping`.
            let _ = dog
                .wake
                .wait_timeout(guard, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner());
        } else {
            drop(guard);
        }
        dog.parked.store(false, Ordering::SeqCst);
        idle_ticks = 0;
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
        reader: Mutex::new(ReaderState {
            stream,
            framer: FrameDecoder::new(),
            buf: vec![0u8; 64 * 1024],
            ahead: None,
        }),
        writer: Mutex::new(writer),
        closed: AtomicBool::new(false),
        threads: AtomicUsize::new(1),
        standby: Mutex::default(),
        wake: Condvar::new(),
        job: AtomicU64::new(NO_JOB),
    });
    shared.watchdog.add(&conn);
    if shared.verbosity >= 1 {
        eprintln!("{peer} connected");
    }
    conn.work(true);
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
            let Some(call) = poll_call(&info, kind, &name) else {
                continue;
            };
            // cppTango stamps a polled value when its reading starts.
            let time = now();
            let started = Instant::now();
            let outcome = match shared.run_calls(id, std::slice::from_ref(&call), CallChain::new())
            {
                Ok(mut outcomes) => outcomes.pop(),
                Err(err) => Some(Outcome::Done(Err(err))),
            };
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
        thread::sleep(Duration::from_millis(wait.max(1)));
    }
}

/// A server running in this process.
pub struct RunningServer {
    shared: Arc<Shared>,
    listening: Listening,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.listening.addr())
            .field("devices", &self.listening.devices())
            .finish()
    }
}

impl RunningServer {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.listening.port()
    }

    /// The devices it serves (not the admin device).
    pub fn devices(&self) -> &[String] {
        self.listening.devices()
    }

    /// The name clients use for `device`: `tango://host:port/device#dbase=no`.
    pub fn device_name(&self, device: &str) -> String {
        self.listening.device_name(device)
    }

    /// The admin device's client name.
    pub fn admin_device_name(&self) -> String {
        self.listening.admin_device_name()
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
            // as long as it takes: a device is deleted once its last request ends
            let Some(mut held) = slot.lock(self.shared.next_activation(), None) else {
                continue;
            };
            let s = &mut *held;
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
