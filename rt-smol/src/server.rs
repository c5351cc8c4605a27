//! A Tango device server in Asyncio green mode, written once for every async runtime: the
//! async adapter of the core's [`Dispatcher`](tango_core::server::Dispatcher), generic
//! over the client's [`AsyncRuntime`] (spawn, sleep) and a [`Listener`]. smol
//! ([`crate::Smol`]) and async-std (`tango_async_std::AsyncStd`) listen with async-io's
//! [`AsyncIoListener`]; tokio (`tango_tokio::Tokio`) with its own. Everything that is not I/O (the
//! devices, the admin device, controls, polling, framing) is the core's
//! [`ServerCore`].
//!
//! One task accepts connections and one task per connection reads GIOP messages. A
//! request that needs device code is run by the reading task itself as long as it does
//! not wait: a job whose future is ready at its first poll (a read of a plain attribute,
//! a quick command) is answered right there, with no task to spawn and no other task to
//! wake on the reply's path. A job that waits (a command that sleeps, does I/O or calls a
//! device) goes on in a task of its own, and the reading goes on; so requests pipelined
//! on one connection, and requests to one device, run concurrently: there is no monitor
//! lock, unless a class opts in with
//! [`AsyncClassBuilder::serialized`](tango_core::device::AsyncClassBuilder::serialized)
//! (an async lock: waiting for it never blocks the event loop). Replies are written under
//! a per-connection async lock, in the order they are ready. A polling task reads polled
//! attributes and commands at their period.
//!
//! Device code may spawn tasks that outlive the request (they get the device data as an
//! `Arc<T>` and its [`DeviceCtx`](tango_core::device::DeviceCtx)), and may call its own
//! device or another device of the server through [`crate::DeviceProxy`] without deadlock.
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

use std::future::{poll_fn, Future};
use std::io::{self, Write as _};
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use smol::channel::{self, Receiver, Sender};
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use smol::Async;
use tango_client::AsyncRuntime;
use tango_core::device::{AsyncDevice, DeviceClass};
use tango_core::server::adapter::{ControlTask, Listening, Log, ServerCore};
use tango_core::server::{Job, Step};

pub use tango_core::server::ServerOptions;

/// Read buffer per connection.
const READ_BUF: usize = 64 * 1024;

/// How the async server listens: a bound TCP socket that accepts connections as
/// `futures-io` streams. [`AsyncIoListener`] (async-io's reactor) serves smol and
/// async-std; `tango_tokio` has one on tokio's reactor.
pub trait Listener: Sized + Send + Sync + 'static {
    /// An accepted connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Listens on `addr` (port 0: a free one). Called from a task of the runtime.
    fn bind(addr: SocketAddr) -> io::Result<Self>;
    /// The address it listens on.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// The next connection, with TCP_NODELAY set (GIOP replies are small and
    /// latency-bound).
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
}

/// A TCP listener registered with async-io's reactor: how smol and async-std listen.
#[derive(Debug)]
pub struct AsyncIoListener(Async<TcpListener>);

impl Listener for AsyncIoListener {
    type Stream = crate::io::Stream;

    fn bind(addr: SocketAddr) -> io::Result<Self> {
        Async::<TcpListener>::bind(addr).map(AsyncIoListener)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    async fn accept(&self) -> io::Result<(crate::io::Stream, SocketAddr)> {
        let (stream, peer) = self.0.accept().await?;
        stream.get_ref().set_nodelay(true)?;
        Ok((stream, peer))
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

/// Runs `fut` unless `stopped` completes first (then `None`).
async fn unless<T>(
    stopped: &mut (impl Future<Output = ()> + Unpin),
    fut: impl Future<Output = T>,
) -> Option<T> {
    smol::future::or(async { Some(fut.await) }, async {
        stopped.await;
        None
    })
    .await
}

/// What the tasks of a running server share.
struct Shared<R> {
    core: Arc<ServerCore<dyn AsyncDevice>>,
    stop: StopSignal,
    /// Open connections (their reading tasks), to let them finish at shutdown.
    connections: AtomicUsize,
    runtime: PhantomData<fn() -> R>,
}

impl<R: AsyncRuntime> Shared<R> {
    fn is_stopping(&self) -> bool {
        self.stop.is_stopped()
    }

    fn stop(&self) {
        self.stop.stop();
    }

    /// Does what the last admin command asked for, in the background.
    fn apply_pending_control(self: &Arc<Self>) {
        match self.core.take_control() {
            Some(ControlTask::Stop { after }) => {
                let me = self.clone();
                R::spawn(async move {
                    R::sleep(after).await;
                    me.stop();
                });
            }
            Some(ControlTask::Run(task)) => R::spawn(task),
            None => {}
        }
    }
}

/// The logging of an async server: `-v` lines on stderr, warnings through `tracing`.
const LOG: Log = Log {
    info: |line| eprintln!("{line}"),
    warn: |line| tracing::warn!("{line}"),
};

/// A device server in Asyncio green mode on smol.
pub type AsyncDeviceServer = AsyncDeviceServerOn<crate::Smol>;

/// A server running on smol's executor.
pub type RunningServer = RunningServerOn<crate::Smol>;

/// A device server in Asyncio green mode on the runtime `R`, listening with `L`: an
/// executable name and its classes.
pub struct AsyncDeviceServerOn<R, L = AsyncIoListener> {
    exec_name: String,
    classes: Vec<DeviceClass>,
    runtime: PhantomData<fn() -> (R, L)>,
}

impl<R: AsyncRuntime, L: Listener> AsyncDeviceServerOn<R, L> {
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

    /// Starts serving, its tasks spawned with `R` (call it from a task of `R`): binds,
    /// creates and initialises the devices, and prints the endpoint and `Ready to accept
    /// request` (what tools wait for). A Synchronous class, or a device whose
    /// `init_device` fails, is an error.
    pub async fn start(self, opts: &ServerOptions) -> io::Result<RunningServerOn<R, L>> {
        let bind_to = (opts.host.as_str(), opts.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot resolve {}", opts.host),
                )
            })?;
        let listener = L::bind(bind_to)?;
        let addr = listener.local_addr()?;
        let config = tango_core::server::adapter::server_config(
            &self.exec_name,
            opts,
            &format!("Asyncio ({})", R::NAME),
            &hostname(),
            std::process::id(),
        );
        let core = ServerCore::<dyn AsyncDevice>::new(config, &self.classes, opts, LOG)?;
        core.init_devices().await?;
        let listening = core.listening(addr);
        print!("{}", listening.banner());
        let _ = io::stdout().flush();
        let shared = Arc::new(Shared::<R> {
            core: Arc::new(core),
            stop: StopSignal::new(),
            connections: AtomicUsize::new(0),
            runtime: PhantomData,
        });

        // The background tasks hold `done` senders: `wait` sees them all end.
        let (done_tx, done) = channel::bounded::<()>(1);
        {
            let (shared, done_tx) = (shared.clone(), done_tx.clone());
            R::spawn(async move {
                accept_loop::<R, L>(shared, listener).await;
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
            listening,
            done: Some(done),
            listener: PhantomData,
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

async fn accept_loop<R: AsyncRuntime, L: Listener>(shared: Arc<Shared<R>>, listener: L) {
    let mut stopped = pin!(shared.stop.stopped());
    loop {
        let Some(accepted) = unless(&mut stopped, listener.accept()).await else {
            return;
        };
        match accepted {
            Ok((stream, peer)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                R::spawn(serve_connection::<R, L::Stream>(
                    shared.clone(),
                    stream,
                    peer,
                ));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                R::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The writing half of a connection, shared by its reading task and the jobs that
/// answer in tasks of their own: one reply at a time.
struct Replies<S> {
    half: smol::lock::Mutex<WriteHalf<S>>,
}

impl<S: AsyncWrite + Unpin> Replies<S> {
    /// Writes one reply; a failed write is the reader's end of file to come.
    async fn send(&self, bytes: &[u8]) {
        let mut half = self.half.lock().await;
        let _ = half.write_all(bytes).await;
    }

    /// Shuts the connection down for writing (the client sees end of file).
    async fn close(&self) {
        let mut half = self.half.lock().await;
        let _ = half.close().await;
    }
}

/// Polls `fut` once within the current task: its output if it is ready.
async fn poll_here<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// Runs a job to its reply, writes it, then does what an admin command asked for.
async fn answer<R: AsyncRuntime, S: AsyncWrite + Unpin>(
    shared: Arc<Shared<R>>,
    job: Job,
    replies: Arc<Replies<S>>,
) {
    if let Some(bytes) = shared.core.complete(job).await {
        replies.send(&bytes).await;
    }
    shared.apply_pending_control();
}

/// One client connection: reads requests, answers what needs no device code at once,
/// runs each job here unless it waits (then in a task of its own).
async fn serve_connection<R: AsyncRuntime, S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: Arc<Shared<R>>,
    stream: S,
    peer: SocketAddr,
) {
    let mut conn = shared.core.connection(peer);
    let (mut reader, writer) = smol::io::split(stream);
    let replies = Arc::new(Replies {
        half: smol::lock::Mutex::new(writer),
    });
    // Every job that goes on in a task of its own holds a sender: the receiver sees them
    // all answered.
    let (jobs, answered) = channel::bounded::<()>(1);
    let mut stopped = pin!(shared.stop.stopped());
    let mut buf = vec![0u8; READ_BUF];
    'conn: loop {
        while let Some(step) = conn.next_step(&shared.core) {
            match step {
                Step::Reply(bytes) => replies.send(&bytes).await,
                Step::NoReply => {}
                Step::Close => break 'conn,
                Step::Run(job) => {
                    let mut job = Box::pin(answer(shared.clone(), job, replies.clone()));
                    if poll_here(&mut job).await.is_none() {
                        let jobs = jobs.clone();
                        R::spawn(async move {
                            job.await;
                            drop(jobs);
                        });
                    }
                    continue;
                }
            }
            shared.apply_pending_control();
        }
        match unless(&mut stopped, reader.read(&mut buf)).await {
            None | Some(Ok(0) | Err(_)) => break,
            Some(Ok(n)) => conn.push(&buf[..n]),
        }
    }
    drop(reader);
    drop(jobs);
    // Err once every job still running has answered.
    while answered.recv().await.is_ok() {}
    replies.close().await;
    shared.core.disconnected(&conn);
    shared.connections.fetch_sub(1, Ordering::SeqCst);
}

async fn polling_loop<R: AsyncRuntime>(shared: Arc<Shared<R>>) {
    let mut stopped = pin!(shared.stop.stopped());
    while !shared.is_stopping() {
        let wait = shared.core.poll_round().await;
        if unless(&mut stopped, R::sleep(wait)).await.is_none() {
            return;
        }
    }
}

/// A running server, its tasks spawned with `R`, listening with `L`.
pub struct RunningServerOn<R, L = AsyncIoListener> {
    shared: Arc<Shared<R>>,
    listening: Listening,
    /// Closed once the accept and polling tasks ended; `None` once waited for.
    done: Option<Receiver<()>>,
    listener: PhantomData<fn() -> L>,
}

impl<R, L> std::fmt::Debug for RunningServerOn<R, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.listening.addr())
            .field("devices", &self.listening.devices())
            .finish()
    }
}

impl<R: AsyncRuntime, L> RunningServerOn<R, L> {
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

    /// True once `Kill` or [`RunningServerOn::stop`] stopped it.
    pub fn is_stopping(&self) -> bool {
        self.shared.is_stopping()
    }

    /// Asks the server to stop (as the admin device's `Kill` does);
    /// [`RunningServerOn::wait`] then returns.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Waits until the server is stopped (by `Kill` or [`RunningServerOn::stop`]), lets
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
            R::sleep(Duration::from_millis(10)).await;
        }
        self.shared.core.delete_devices().await;
    }
}

impl<R, L> Drop for RunningServerOn<R, L> {
    fn drop(&mut self) {
        // Dropped without `wait`/`shutdown`: stop accepting and reading; devices are not
        // deleted (that needs an executor).
        if self.done.is_some() {
            self.shared.stop.stop();
        }
    }
}
