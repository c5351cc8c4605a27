//! The blocking transport: one TCP connection per server endpoint, shared by every proxy of
//! the process that talks to that server, driving a [`ClientConnection`] state machine.
//!
//! Why shared: cppTango shares one omniORB connection per server the same way, and a
//! server with hundreds of devices should not see hundreds of sockets from one client.
//!
//! Failure handling follows what a Tango user expects from cppTango:
//! * a server that restarted is reached again by the next call: before each request the
//!   socket is checked for an end-of-file left by the dead server, and a fresh connection
//!   is made (the request was never sent on the dead one, so nothing runs twice);
//! * a timeout abandons the request (its late reply is dropped by the state machine) and
//!   keeps the connection;
//! * a broken connection fails the calls in flight and is replaced on the next call.
//!
//! Threads share the connection without waiting for each other's round trips: requests
//! are pipelined (one write each, under a short lock) and one waiting caller at a time
//! reads the socket and hands every reply to its caller (leader/follower), so a slow
//! command on one device does not hold up calls to other devices of the same server.
//!
//! The same connection also carries *queued* calls ([`Connection::call_queued`], in
//! `transport_queued.rs`): written at once, their futures completed by whoever reads (a
//! caller in [`Connection::drive`], else a reader thread of the connection), with no
//! thread parked per call. The green Futures mode runs on them.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use tango_core::client::{ClientConnection, Event, Reply, RequestId};
use tango_core::giop::Version;
use tango_core::ops::Operation;

use crate::error::{Error, Result};

#[path = "transport_queued.rs"]
mod queued;
use queued::wake_all;
pub use queued::{Drive, Offload};

/// Read buffer size: big enough that a typical reply arrives in one `read`.
const READ_CHUNK: usize = 64 * 1024;

/// A connection idle for longer than this is checked for a dead peer before it is used.
/// Back-to-back calls skip the check (it costs three system calls): a server that dies
/// within this window fails the next call with `ConnectionLost`, and the one after
/// reconnects.
const IDLE_CHECK: Duration = Duration::from_millis(5);

/// A live TCP connection and its protocol state.
struct Live {
    generation: u64,
    /// For writes (under the connection lock).
    stream: TcpStream,
    /// For reads, by one caller at a time, outside the lock; `None` while lent out.
    reader: Option<Reader>,
    proto: ClientConnection,
    write_timeout: Option<Duration>,
    last_used: Instant,
}

/// The reading half, lent to the caller that reads for everybody.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Option<Duration>,
}

impl Reader {
    fn read(&mut self, left: Duration) -> io::Result<usize> {
        let t = whole_millis(left);
        if self.timeout != Some(t) {
            self.stream.set_read_timeout(Some(t))?;
            self.timeout = Some(t);
        }
        self.stream.read(&mut self.buf)
    }
}

impl Live {
    fn connect(addr: &SocketAddr, timeout: Duration, generation: u64) -> io::Result<Live> {
        let stream = TcpStream::connect_timeout(addr, timeout)?;
        stream.set_nodelay(true)?;
        let reader = Reader {
            stream: stream.try_clone()?,
            buf: vec![0; READ_CHUNK],
            timeout: None,
        };
        Ok(Live {
            generation,
            stream,
            reader: Some(reader),
            proto: ClientConnection::new(Version::V1_0),
            write_timeout: None,
            last_used: Instant::now(),
        })
    }

    /// False if the peer has closed its end (a dead or restarted server). Data waiting
    /// (a late reply) counts as alive: the state machine will consume it.
    fn peer_still_there(&mut self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 1];
        let alive = match self.stream.peek(&mut probe) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        alive && self.stream.set_nonblocking(false).is_ok()
    }

    fn send(&mut self, bytes: &[u8], left: Duration) -> io::Result<()> {
        let t = whole_millis(left);
        if self.write_timeout != Some(t) {
            self.stream.set_write_timeout(Some(t))?;
            self.write_timeout = Some(t);
        }
        self.last_used = Instant::now();
        self.stream.write_all(bytes)
    }
}

/// Socket timeouts in whole milliseconds (at least one: zero means "forever" to the OS),
/// so that consecutive calls reuse the value already set instead of a setsockopt each.
fn whole_millis(t: Duration) -> Duration {
    Duration::from_millis((t.as_millis() as u64).max(1))
}

/// What the reader hands to a waiting caller.
enum Delivery {
    Reply(Reply),
    /// The connection broke before the reply came.
    Failed(String),
    /// The server's `CloseConnection` listed the request as unanswered: it never ran.
    Retry,
    /// A queued request's deadline passed (its id is abandoned).
    TimedOut,
}

/// A caller waiting for a delivery.
enum Waiter {
    /// A blocking caller, asleep on its own condition variable.
    Thread(Arc<Condvar>),
    /// A future of [`Connection::call_queued`], woken when the delivery comes or its
    /// deadline passes.
    Task { waker: Waker, deadline: Instant },
}

#[derive(Default)]
struct State {
    live: Option<Live>,
    generation: u64,
    /// A caller is reading the socket for everybody.
    reading: bool,
    /// Requests whose callers wait for a delivery, each with the condition variable its
    /// caller sleeps on (or its future's waker): a reply wakes only its own caller, not
    /// every waiting thread.
    waiting: HashMap<RequestId, Waiter>,
    delivered: HashMap<RequestId, Delivery>,
    /// The queued requests (`transport_queued.rs`).
    queued: queued::Queued,
}

impl State {
    /// Hands `d` to the caller of `id` (if it still waits) and wakes that caller only.
    fn deliver(&mut self, id: RequestId, d: Delivery) {
        match self.waiting.remove(&id) {
            Some(Waiter::Thread(cv)) => {
                self.delivered.insert(id, d);
                cv.notify_one();
            }
            Some(Waiter::Task { waker, deadline }) => {
                self.delivered.insert(id, d);
                self.queued.done(id, deadline, waker);
            }
            None => {}
        }
    }

    /// The connection is gone: every waiting caller gets `detail`.
    fn fail_all(&mut self, detail: &str) {
        self.live = None;
        for (id, waiter) in self.waiting.drain() {
            self.delivered
                .insert(id, Delivery::Failed(detail.to_owned()));
            match waiter {
                Waiter::Thread(cv) => cv.notify_one(),
                Waiter::Task { waker, .. } => self.queued.to_wake.push(waker),
            }
        }
        self.queued.clear();
    }

    /// The futures to wake once the lock is released.
    fn take_wakers(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.queued.to_wake)
    }

    /// The reader is leaving: one waiting caller takes the reading over (the reader
    /// thread of the queued requests, if any wait).
    fn pass_reading_on(&self) {
        if self.reading {
            return;
        }
        if self.queued.any() {
            self.queued.reading_is_free();
            return;
        }
        // with no queued request waiting, every waiter is a thread
        if let Some(Waiter::Thread(cv)) = self.waiting.values().next() {
            cv.notify_one();
        }
    }
}

/// Connections by lower-cased host and port; weak, so a connection closes with its last proxy.
type Pool = Mutex<HashMap<(String, u16), Weak<Connection>>>;

/// One server endpoint's blocking connection, shared by proxies and threads. Calls from several
/// threads are pipelined on it: each writes its request, and whichever caller is waiting
/// reads the socket for all of them and hands each reply to its caller.
pub struct Connection {
    host: String,
    port: u16,
    endpoint: String,
    state: Mutex<State>,
}

/// Where a call goes and how long it may take.
#[derive(Debug, Clone, Copy)]
pub struct CallSite<'a> {
    /// The device name, for error messages.
    pub device: &'a str,
    /// The object key of the device.
    pub object_key: &'a [u8],
    /// The whole call (connect, send, receive) must finish within this.
    pub timeout: Duration,
}

impl CallSite<'_> {
    /// The error of this call when its whole timeout ran out during `operation`.
    pub fn timed_out(&self, operation: &str) -> Error {
        Error::Timeout {
            device: self.device.to_owned(),
            operation: operation.to_owned(),
            after: self.timeout,
        }
    }

    /// The address of `host:port` to connect to for this call: an IP literal needs no
    /// lookup; a host name is resolved by the system resolver (which blocks the thread).
    /// No address is [`Error::CannotConnect`] to `endpoint`.
    pub fn resolve(&self, host: &str, port: u16, endpoint: &str) -> Result<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| Error::CannotConnect {
                device: self.device.to_owned(),
                endpoint: endpoint.to_owned(),
                detail: format!("cannot resolve host {host:?}"),
            })
    }

    /// The error of this call when connecting to `endpoint` failed with `e`: refused is
    /// [`Error::ServerNotRunning`], timed out [`Error::Timeout`] (after the call's whole
    /// timeout, `operation` named as `connect for OPERATION`), anything else
    /// [`Error::CannotConnect`]. The same for every transport.
    pub fn connect_error(&self, endpoint: &str, e: io::Error, operation: &str) -> Error {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => Error::ServerNotRunning {
                device: self.device.to_owned(),
                endpoint: endpoint.to_owned(),
            },
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout {
                device: self.device.to_owned(),
                operation: format!("connect for {operation}"),
                after: self.timeout,
            },
            _ => Error::CannotConnect {
                device: self.device.to_owned(),
                endpoint: endpoint.to_owned(),
                detail: e.to_string(),
            },
        }
    }
}

/// How a proxy's requests reach a server: the blocking shared connection of this crate,
/// or an async runtime's (the `rt-*` crates). [`crate::ProxyCore`] is written against
/// this trait once.
pub trait Transport: Send + Sync + Sized + 'static {
    /// The connection to `host:port` shared by the proxies of this process.
    fn for_endpoint(host: &str, port: u16) -> Arc<Self>;

    /// Sends `op` and waits for its reply (the transport decides how it waits),
    /// at most `site.timeout` in all.
    fn call<'a, O: Operation + Sync>(
        &'a self,
        site: CallSite<'a>,
        op: &'a O,
    ) -> impl std::future::Future<Output = Result<O::Output>> + Send + 'a
    where
        O::Output: Send;
}

impl Transport for Connection {
    fn for_endpoint(host: &str, port: u16) -> Arc<Self> {
        Connection::shared(host, port)
    }

    /// Blocks the calling thread: the I/O is done before the (ready) future is returned.
    fn call<'a, O: Operation + Sync>(
        &'a self,
        site: CallSite<'a>,
        op: &'a O,
    ) -> impl std::future::Future<Output = Result<O::Output>> + Send + 'a
    where
        O::Output: Send,
    {
        std::future::ready(self.call_blocking(&site, op))
    }
}

enum Attempt<T> {
    Done(Result<T>),
    /// The request provably never reached a server: try once more on a new connection.
    Retry,
}

impl Connection {
    /// The shared connection to `host:port`, created on first use.
    pub(crate) fn shared(host: &str, port: u16) -> Arc<Connection> {
        static POOL: OnceLock<Pool> = OnceLock::new();
        let pool = POOL.get_or_init(Default::default);
        let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
        let key = (host.to_ascii_lowercase(), port);
        if let Some(c) = pool.get(&key).and_then(Weak::upgrade) {
            return c;
        }
        pool.retain(|_, w| w.strong_count() > 0);
        let c = Arc::new(Connection {
            host: host.to_owned(),
            port,
            endpoint: format!("{host}:{port}"),
            state: Mutex::default(),
        });
        pool.insert(key, Arc::downgrade(&c));
        c
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resolve(&self, site: &CallSite<'_>) -> Result<SocketAddr> {
        site.resolve(&self.host, self.port, &self.endpoint)
    }

    fn connect_error(&self, site: &CallSite<'_>, e: io::Error, operation: &str) -> Error {
        site.connect_error(&self.endpoint, e, operation)
    }

    fn lost(&self, operation: &str, detail: impl Into<String>) -> Error {
        Error::ConnectionLost {
            endpoint: self.endpoint.clone(),
            operation: operation.to_owned(),
            detail: detail.into(),
        }
    }

    /// Sends `op` to the object `site.object_key` and waits for its reply, at most
    /// `site.timeout` in all (connect, send and receive together).
    pub(crate) fn call_blocking<O: Operation>(
        &self,
        site: &CallSite<'_>,
        op: &O,
    ) -> Result<O::Output> {
        let deadline = Instant::now() + site.timeout;
        for _ in 0..2 {
            match self.attempt(site, op, deadline)? {
                Attempt::Done(r) => return r,
                Attempt::Retry => continue,
            }
        }
        Err(self.lost(
            op.name(),
            "the server closed two fresh connections in a row",
        ))
    }

    fn attempt<O: Operation>(
        &self,
        site: &CallSite<'_>,
        op: &O,
        deadline: Instant,
    ) -> Result<Attempt<O::Output>> {
        let operation = op.name();
        let timed_out = || site.timed_out(operation);
        let mut st = self.lock();
        let idle = st.waiting.is_empty() && !st.reading;
        if idle
            && st
                .live
                .as_mut()
                .is_some_and(|l| l.last_used.elapsed() > IDLE_CHECK && !l.peer_still_there())
        {
            tracing::debug!(endpoint = %self.endpoint, "server closed the connection; reconnecting");
            st.live = None;
        }
        let fresh = st.live.is_none();
        if fresh {
            let addr = self.resolve(site)?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            st.generation += 1;
            let live = Live::connect(&addr, left, st.generation)
                .map_err(|e| self.connect_error(site, e, operation))?;
            st.live = Some(live);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let live = st.live.as_mut().expect("connected above");
        let generation = live.generation;
        // the call chain of the device code making this call, if any (self-call detection)
        let chain = crate::call_chain::current_context();
        let (id, bytes) = live.proto.encode_request_with(site.object_key, op, chain);
        if let Err(e) = live.send(&bytes, left) {
            let alone = st.waiting.is_empty();
            st.fail_all(&e.to_string());
            let wakers = st.take_wakers();
            drop(st);
            wake_all(wakers);
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Err(timed_out()),
                // The peer reset a connection we had not used since it was checked:
                // nothing of the request was processed.
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset if !fresh && alone => {
                    Ok(Attempt::Retry)
                }
                _ => Err(self.lost(operation, e.to_string())),
            };
        }
        let wake = Arc::new(Condvar::new());
        st.waiting.insert(id, Waiter::Thread(wake.clone()));
        loop {
            if let Some(d) = st.delivered.remove(&id) {
                st.pass_reading_on();
                drop(st);
                return match d {
                    Delivery::Reply(reply) => {
                        Ok(Attempt::Done(reply.decode::<O>().map_err(|e| {
                            Error::from_call(e, site.device, &self.endpoint, operation)
                        })))
                    }
                    Delivery::Failed(detail) => Err(self.lost(operation, detail)),
                    Delivery::Retry => Ok(Attempt::Retry),
                    Delivery::TimedOut => Err(timed_out()),
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                st.waiting.remove(&id);
                if let Some(live) = st.live.as_mut().filter(|l| l.generation == generation) {
                    live.proto.abandon(id);
                }
                st.pass_reading_on();
                return Err(timed_out());
            }
            if st.reading {
                st = wake
                    .wait_timeout(st, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                continue;
            }
            let Some(mut reader) = st.live.as_mut().and_then(|l| l.reader.take()) else {
                // No connection to read from and no delivery: it broke without us.
                st.waiting.remove(&id);
                return Err(self.lost(operation, "connection closed"));
            };
            st.reading = true;
            drop(st);
            let read = reader.read(left);
            st = self.lock();
            st.reading = false;
            self.absorb(&mut st, generation, reader, read);
            if !st.queued.to_wake.is_empty() {
                // replies to queued requests came too: wake their futures unlocked
                let wakers = st.take_wakers();
                drop(st);
                wake_all(wakers);
                st = self.lock();
                st.queued.replies_handed_out();
            }
        }
    }

    /// Feeds what the reader got into the protocol state, hands replies to their callers,
    /// and gives the reader back to the connection.
    fn absorb(&self, st: &mut State, generation: u64, reader: Reader, read: io::Result<usize>) {
        let Some(live) = st.live.as_mut().filter(|l| l.generation == generation) else {
            return; // the connection was replaced meanwhile
        };
        match read {
            Ok(0) => st.fail_all("server closed the connection before replying"),
            Ok(n) => {
                live.proto.handle_input(&reader.buf[..n]);
                live.reader = Some(reader);
                loop {
                    let live = st.live.as_mut().expect("checked above");
                    match live.proto.poll_event() {
                        Ok(Some(Event::Reply(reply))) => {
                            st.deliver(reply.request_id, Delivery::Reply(reply));
                        }
                        Ok(Some(Event::Closed { unanswered })) => {
                            for id in unanswered {
                                st.deliver(id, Delivery::Retry);
                            }
                            st.fail_all("server closed the connection");
                            return;
                        }
                        Ok(None) => return,
                        Err(e) => {
                            st.fail_all(&e.to_string());
                            return;
                        }
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                live.reader = Some(reader);
            }
            Err(e) => st.fail_all(&e.to_string()),
        }
    }
}
