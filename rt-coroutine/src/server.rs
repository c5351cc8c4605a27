//! A Tango device server in Coroutine green mode (PyTango's Gevent server) on `may`: the
//! coroutine adapter of the core's [`Dispatcher`](tango_core::server::Dispatcher). What
//! is not I/O (the devices, the admin device, controls, polling, framing) is the core's
//! [`ServerCore`], shared with the async server; its futures complete at once for
//! Coroutine devices and are driven with [`ready`].
//!
//! One coroutine accepts connections and one coroutine per connection at a time reads
//! GIOP messages. A request that needs device code runs on the coroutine that read it,
//! which first hands the reading on to an idle coroutine of the connection (kept for
//! reuse; a new one only when none is idle), so requests pipelined on one connection,
//! and requests to one device, run concurrently: there is no monitor lock. A sequential
//! client thus costs no coroutine start and no wake-up on the reply's path. A command
//! that parks its coroutine (`may::coroutine::sleep`, a `may` socket, a coroutine
//! [`crate::DeviceProxy`] call) does not hold up a read of an attribute of the same
//! device. Replies are written under a per-connection
//! `may::sync::Mutex` (a contended lock parks the coroutine), in the order they are
//! ready. A polling coroutine reads polled attributes and commands at their period.
//!
//! All classes of one server are Coroutine classes
//! ([`tango_core::device::CoClassBuilder`], or a Synchronous class adapted with
//! [`tango_core::device::co_from_sync`]): a class of another mode is refused at start.
//! The admin device (`dserver/<exec>/<instance>`, a Synchronous class of the core) runs
//! its quick calls under a std mutex.
//!
//! Coroutines get may's configured stack size, raised to at least [`SERVER_STACK_WORDS`]
//! at start (device code runs on them: size the stack for it with
//! `may::config().set_stack_size(words)` before starting the server).
//!
//! ```no_run
//! use tango_coroutine::server::{CoDeviceServer, ServerOptions};
//! # fn my_class() -> tango_core::device::DeviceClass { unimplemented!() }
//! let opts = ServerOptions::new("test", &["my/dev/1"]);
//! let server = CoDeviceServer::new("MyServer").class(my_class()).start(&opts)?;
//! server.wait(); // until the admin device's Kill
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use may::net::{TcpListener, TcpStream};
use tango_core::device::{CoDevice, DeviceClass};
use tango_core::server::adapter::{
    ready, server_config, Connection, ControlTask, Listening, Log, ServerCore,
};
use tango_core::server::{Job, Step};

/// The smallest stack, in words, of the server's coroutines (512 KiB on 64-bit): they
/// run the dispatcher and device code, measured well below this in debug builds.
pub const SERVER_STACK_WORDS: usize = 0x1_0000;

/// How often blocked loops look at the stop flag.
const TICK: Duration = Duration::from_millis(50);

/// Runs `f` in a new coroutine, detached.
fn go(f: impl FnOnce() + Send + 'static) {
    drop(crate::spawn(f));
}

pub use tango_core::server::ServerOptions;

/// What the coroutines of a running server share.
struct Shared {
    core: Arc<ServerCore<dyn CoDevice>>,
    stopping: AtomicBool,
    /// Open connections and jobs in flight, to let them finish at shutdown.
    busy: AtomicUsize,
    /// The accept, polling and connection coroutines still running.
    loops: AtomicUsize,
    /// The open connections, for the watchdog that hands on the reading of a connection
    /// whose coroutine runs a long job.
    conns: Mutex<Vec<std::sync::Weak<Conn>>>,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Runs a job to its reply, right here, on the job's coroutine.
    fn complete(&self, job: Job) -> Option<Vec<u8>> {
        ready(self.core.complete(job))
    }

    /// Does what the last admin command asked for, on a coroutine of its own.
    fn apply_pending_control(self: &Arc<Self>) {
        match self.core.take_control() {
            Some(ControlTask::Stop { after }) => {
                let me = self.clone();
                go(move || {
                    may::coroutine::sleep(after);
                    me.stop();
                });
            }
            Some(ControlTask::Run(task)) => go(move || ready(task)),
            None => {}
        }
    }
}

/// The logging of the coroutine server: `-v` lines on stderr, warnings through `tracing`.
const LOG: Log = Log {
    info: |line| eprintln!("{line}"),
    warn: |line| tracing::warn!("{line}"),
};

/// A device server in Coroutine green mode on may: an executable name and its classes.
pub struct CoDeviceServer {
    exec_name: String,
    classes: Vec<DeviceClass>,
}

impl CoDeviceServer {
    /// A server named after its executable (`TangoTest`).
    pub fn new(exec_name: &str) -> Self {
        CoDeviceServer {
            exec_name: exec_name.to_owned(),
            classes: Vec::new(),
        }
    }

    /// Adds a device class (a Coroutine class: see
    /// [`tango_core::device::CoClassBuilder`]). Devices go to the first class unless
    /// prefixed `ClassName::`.
    pub fn class(mut self, class: DeviceClass) -> Self {
        self.classes.push(class);
        self
    }

    /// Starts serving on may's scheduler: binds, creates and initialises the devices,
    /// and prints the endpoint and `Ready to accept request` (what tools wait for). A
    /// class of another green mode, or a device whose `init_device` fails, is an error.
    /// Call it from a thread or a coroutine.
    pub fn start(self, opts: &ServerOptions) -> io::Result<RunningServer> {
        let config = server_config(
            &self.exec_name,
            opts,
            crate::GREEN_MODE,
            &hostname(),
            std::process::id(),
        );
        let core = ServerCore::<dyn CoDevice>::new(config, &self.classes, opts, LOG)?;
        if may::config().get_stack_size() < SERVER_STACK_WORDS {
            may::config().set_stack_size(SERVER_STACK_WORDS);
        }
        let listener = TcpListener::bind((opts.host.as_str(), opts.port))?;
        let addr = listener.local_addr()?;
        let core = Arc::new(core);
        // init_device on a coroutine: it may park.
        {
            let core = core.clone();
            crate::spawn(move || ready(core.init_devices())).get()?;
        }
        let listening = core.listening(addr);
        print!("{}", listening.banner());
        let _ = io::stdout().flush();
        let shared = Arc::new(Shared {
            core,
            stopping: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            loops: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
        });

        {
            let shared = shared.clone();
            shared.loops.fetch_add(1, Ordering::SeqCst);
            go(move || accept_loop(shared, listener));
        }
        {
            let shared = shared.clone();
            shared.loops.fetch_add(1, Ordering::SeqCst);
            go(move || polling_loop(shared));
        }
        {
            let shared = shared.clone();
            shared.loops.fetch_add(1, Ordering::SeqCst);
            go(move || watchdog(shared));
        }
        Ok(RunningServer {
            shared,
            listening,
            finished: false,
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

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    while !shared.is_stopping() {
        match listener.accept() {
            // The connection that wakes us at shutdown is dropped here.
            Ok(_) if shared.is_stopping() => break,
            Ok((stream, peer)) => {
                let shared = shared.clone();
                shared.loops.fetch_add(1, Ordering::SeqCst);
                go(move || serve_connection(shared, stream, peer));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                may::coroutine::sleep(Duration::from_millis(20));
            }
        }
    }
    drop(listener);
    shared.loops.fetch_sub(1, Ordering::SeqCst);
}

/// The writing half of a connection, shared by the jobs that answer on it.
type Writer = Arc<may::sync::Mutex<TcpStream>>;

fn send(writer: &Writer, bytes: &[u8]) {
    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
    let _ = w.write_all(bytes);
}

/// What reads a connection's requests: the socket, the core's side of the connection
/// (framing) and the buffer. It passes from coroutine to coroutine of the connection, so
/// that one always reads while others run device code.
struct ReadState {
    reader: TcpStream,
    conn: Connection,
    buf: Vec<u8>,
}

/// A connection's coroutines: the reply writer and the idle coroutines waiting to read.
struct Conn {
    shared: Arc<Shared>,
    writer: Writer,
    /// Closed (nothing reads any more) and the idle coroutines, each waiting for the
    /// reading role on its channel.
    idle: Mutex<(bool, Vec<may::sync::mpsc::Sender<ReadState>>)>,
    /// The reading role while its coroutine runs a job with nothing else pending, and
    /// since when: taken back after the job, or handed on by the [`watchdog`] if the job
    /// takes longer than [`INLINE_GRACE`].
    parked: Mutex<Option<(Instant, ReadState)>>,
}

impl Conn {
    /// Gives the reading role to an idle coroutine of the connection, or to a new one.
    fn hand_over(self: &Arc<Self>, rs: ReadState) {
        let mut rs = rs;
        loop {
            let tx = self.idle.lock().unwrap_or_else(|p| p.into_inner()).1.pop();
            match tx {
                Some(tx) => match tx.send(rs) {
                    Ok(()) => return,
                    Err(e) => rs = e.0, // that coroutine is gone: try another
                },
                None => {
                    let conn = self.clone();
                    go(move || conn_worker(conn, Some(rs)));
                    return;
                }
            }
        }
    }

    /// Waits for the reading role; `None` once the connection is closed.
    fn wait_for_turn(&self) -> Option<ReadState> {
        let (tx, rx) = may::sync::mpsc::channel();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.0 {
                return None;
            }
            idle.1.push(tx);
        }
        rx.recv().ok()
    }

    /// Nothing reads any more: the idle coroutines end.
    fn close(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.0 = true;
        idle.1.clear();
    }
}

/// One client connection: its first coroutine reads requests and answers what needs no
/// device code at once.
fn serve_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let connection = shared.core.connection(peer);
    let writer: Writer = match stream.try_clone() {
        Ok(w) => Arc::new(may::sync::Mutex::new(w)),
        Err(e) => {
            tracing::warn!("{}: {e}", connection.peer());
            shared.loops.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    };
    shared.busy.fetch_add(1, Ordering::SeqCst);
    // Wake up now and then to see the stop flag.
    let _ = stream.set_read_timeout(Some(TICK));
    let rs = ReadState {
        reader: stream,
        conn: connection,
        buf: vec![0u8; 64 * 1024],
    };
    let conn = Arc::new(Conn {
        shared,
        writer,
        idle: Mutex::new((false, Vec::new())),
        parked: Mutex::new(None),
    });
    {
        let mut conns = conn.shared.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|c| c.strong_count() > 0);
        conns.push(Arc::downgrade(&conn));
    }
    conn_worker(conn, Some(rs));
}

/// A coroutine of a connection. While it holds the reading role it reads requests; a
/// request that needs device code it runs itself, right here (no coroutine to start, no
/// other to wake on the reply's path), after handing the reading role to an idle
/// coroutine of the connection (or a new one): a long command never holds up the next
/// request. Then it waits, idle, for the reading role to come back.
fn conn_worker(conn: Arc<Conn>, mut turn: Option<ReadState>) {
    while let Some(mut rs) = turn.take() {
        match read_until_job(&conn, &mut rs) {
            Some(job) => {
                let shared = &conn.shared;
                shared.busy.fetch_add(1, Ordering::SeqCst);
                // Another request already here: let it be read at once. Else keep the
                // reading role for after this job (no wake-up on the reply's path)
                // unless the watchdog finds the job long and hands it on.
                let pending = rs.conn.buffered() > 0 || peer_has_data(&rs.reader);
                if pending {
                    conn.hand_over(rs);
                } else {
                    *conn.parked.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((Instant::now(), rs));
                }
                if let Some(bytes) = shared.complete(job) {
                    send(&conn.writer, &bytes);
                }
                shared.apply_pending_control();
                shared.busy.fetch_sub(1, Ordering::SeqCst);
                let back = conn.parked.lock().unwrap_or_else(|p| p.into_inner()).take();
                turn = match back {
                    Some((_, rs)) => Some(rs),
                    None => conn.wait_for_turn(),
                };
            }
            None => {
                // The connection is over: nobody reads any more.
                conn.close();
                let shared = &conn.shared;
                shared.core.disconnected(&rs.conn);
                drop(rs);
                shared.busy.fetch_sub(1, Ordering::SeqCst);
                shared.loops.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
    // Jobs still running hold the writer and answer; the socket closes with the last.
}

/// True if bytes wait on the socket (or it reached end-of-file): asks without waiting.
fn peer_has_data(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    stream.inner().peek(&mut probe).is_ok()
}

/// How long a job may hold its connection's reading role before the [`watchdog`] hands
/// the reading on to another coroutine.
const INLINE_GRACE: Duration = Duration::from_millis(1);

/// Hands on the reading role of every connection whose coroutine has been running a job
/// for longer than [`INLINE_GRACE`], so that a long command never holds up the requests
/// that come after it on its connection.
fn watchdog(shared: Arc<Shared>) {
    while !shared.is_stopping() {
        let conns: Vec<Arc<Conn>> = shared
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        let mut any = false;
        for conn in conns {
            let mut parked = conn.parked.lock().unwrap_or_else(|p| p.into_inner());
            let due = parked
                .as_ref()
                .map(|(since, _)| since.elapsed() >= INLINE_GRACE);
            match due {
                Some(true) => {
                    let (_, rs) = parked.take().expect("checked above");
                    drop(parked);
                    conn.hand_over(rs);
                }
                Some(false) => any = true,
                None => {}
            }
        }
        // Look often while a job holds a reading role, seldom otherwise.
        may::coroutine::sleep(if any { INLINE_GRACE } else { INLINE_GRACE * 4 });
    }
    shared.loops.fetch_sub(1, Ordering::SeqCst);
}

/// Reads and handles requests until one needs device code (returned) or the connection
/// ends (`None`).
fn read_until_job(conn: &Conn, rs: &mut ReadState) -> Option<Job> {
    let shared = &conn.shared;
    loop {
        while let Some(step) = rs.conn.next_step(&shared.core) {
            match step {
                Step::Reply(bytes) => send(&conn.writer, &bytes),
                Step::NoReply => {}
                Step::Run(job) => return Some(job),
                Step::Close => return None,
            }
            shared.apply_pending_control();
        }
        if shared.is_stopping() {
            return None;
        }
        match rs.reader.read(&mut rs.buf) {
            Ok(0) => return None,
            Ok(n) => rs.conn.push(&rs.buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return None,
        }
    }
}

fn polling_loop(shared: Arc<Shared>) {
    while !shared.is_stopping() {
        let wait = ready(shared.core.poll_round());
        may::coroutine::sleep(wait);
    }
    shared.loops.fetch_sub(1, Ordering::SeqCst);
}

/// A server running on may's scheduler in this process.
pub struct RunningServer {
    shared: Arc<Shared>,
    listening: Listening,
    finished: bool,
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

    /// True once `Kill` or [`RunningServer::stop`] stopped it.
    pub fn is_stopping(&self) -> bool {
        self.shared.is_stopping()
    }

    /// Asks the server to stop (as the admin device's `Kill` does); [`RunningServer::wait`]
    /// then returns.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Waits (parking the calling coroutine, or the thread) until the server is stopped
    /// (by `Kill` or [`RunningServer::stop`]), lets in-flight requests answer (up to
    /// 2 s), then deletes the devices.
    pub fn wait(mut self) {
        while !self.shared.is_stopping() {
            may::coroutine::sleep(Duration::from_millis(20));
        }
        self.finish();
    }

    /// Stops the server: in-flight requests are answered, connections closed, devices
    /// deleted.
    pub fn shutdown(self) {
        self.shared.stop();
        self.wait();
    }

    /// Wakes the accept loop, which then sees the stop flag.
    fn wake_accept(&self) {
        let addr = self.listening.addr();
        let ip = if addr.ip().is_unspecified() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            addr.ip()
        };
        let wake = SocketAddr::new(ip, addr.port());
        let _ = std::net::TcpStream::connect_timeout(&wake, Duration::from_millis(200));
    }

    fn finish(&mut self) {
        self.finished = true;
        self.wake_accept();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && (self.shared.loops.load(Ordering::SeqCst) > 0
                || self.shared.busy.load(Ordering::SeqCst) > 0)
        {
            may::coroutine::sleep(Duration::from_millis(10));
        }
        ready(self.shared.core.delete_devices());
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Dropped without `wait`/`shutdown`: stop accepting and reading; devices are not
        // deleted.
        if !self.finished {
            self.shared.stop();
            self.wake_accept();
        }
    }
}
