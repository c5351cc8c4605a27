//! The async transport, written once for every async runtime: one TCP connection per server
//! endpoint (per runtime type), with many requests in flight on it.
//!
//! A runtime crate (`tango-tokio`, `tango-smol`, `tango-async-std`) only implements
//! [`AsyncRuntime`]: connect a TCP stream, spawn a task, sleep. Everything else is here:
//!
//! * **Pipelining.** A call locks the connection's state (a std mutex, never held across an
//!   `.await`) just long enough to encode its request with the sans-IO
//!   [`ClientConnection`], register a oneshot channel for its request id and queue the bytes
//!   for the connection's writer task, which writes whatever is queued in one go (so the
//!   10,000 requests of 10,000 concurrent calls leave in a few large writes). The reader task
//!   feeds every byte it reads to the state machine and hands each reply to its caller, which
//!   decodes it. Replies may come in any order.
//! * **Timeouts cancel the request.** A call races its reply against [`AsyncRuntime::sleep`];
//!   on timeout its id is abandoned (the late reply is dropped by the state machine) and the
//!   connection stays up for everybody else. Dropping a call's future before the reply
//!   (e.g. `select!`, `JoinHandle::abort`) does the same.
//! * **Failures.** End of stream, a read or write error, or bytes that are not GIOP fail
//!   every call in flight with [`Error::ConnectionLost`] and retire the connection; the next
//!   call opens a new one (a restarted server is reached again at once). When the server
//!   sends GIOP `CloseConnection`, the calls it did not answer provably never ran, and are
//!   re-sent once on a new connection.
//! * **Where the connection is driven.** The reader and writer tasks run on the runtime that
//!   opened the connection (the caller's, for tokio). Calls from other runtimes of the same
//!   type share the connection; if the opening runtime shuts down, its tasks stop, the calls
//!   in flight fail with [`Error::ConnectionLost`] and the next call reconnects on its own
//!   runtime.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_channel::{mpsc, oneshot};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::future::{select, Either};
use futures_util::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use futures_util::StreamExt;
use tango_core::client::{ClientConnection, Event, Reply, RequestId};
use tango_core::giop::Version;
use tango_core::ops::Operation;

use crate::error::{Error, Result};
use crate::proxy_core::ProxyCore;
use crate::transport::{CallSite, Transport};

/// Read buffer size: big enough that a typical burst of replies arrives in one `read`.
const READ_CHUNK: usize = 64 * 1024;

/// The writer task gathers queued requests into one write up to about this many bytes.
const WRITE_BATCH: usize = 256 * 1024;

/// What an async runtime must provide to drive Tango connections.
pub trait AsyncRuntime: Send + Sync + 'static {
    /// A connected TCP stream (TCP_NODELAY set by `connect`).
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// "tokio", "smol", "async-std" (for messages).
    const NAME: &'static str;
    /// Opens a TCP connection to `addr`, with TCP_NODELAY set. The caller bounds the wait.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Runs `fut` in the background (the connection's reader task).
    fn spawn(fut: impl Future<Output = ()> + Send + 'static);
    /// Completes after `d`.
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send;
}

/// The async proxy on runtime `R`: every `DeviceProxy` operation as an `async fn`.
pub type AsyncDeviceProxy<R> = ProxyCore<AsyncConnection<R>>;

/// What the reader hands to a waiting call.
enum Delivery {
    Reply(Reply),
    /// The connection broke before the reply came.
    Failed(String),
    /// The server's `CloseConnection` left the request unanswered: it never ran.
    Retry,
}

/// The protocol state of one TCP connection, shared by its callers and its two tasks.
struct LinkState {
    proto: ClientConnection,
    /// The calls waiting for a reply, by request id.
    waiters: HashMap<RequestId, oneshot::Sender<Delivery>>,
    /// Requests for the writer task; `None` once the connection is dead.
    outgoing: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Dropped to stop the reader task.
    stop_reader: Option<oneshot::Sender<()>>,
    /// Dropped to stop the writer task, even in the middle of a write to a peer that
    /// does not read.
    stop_writer: Option<oneshot::Sender<()>>,
}

/// One TCP connection (the `AsyncConnection` opens a new one after a failure).
struct Link {
    state: Mutex<LinkState>,
    endpoint: String,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_dead(&self) -> bool {
        self.lock().outgoing.is_none()
    }

    /// Retires the connection: every waiting call gets `detail`, both tasks stop.
    fn fail(&self, detail: &str) {
        Self::fail_locked(&mut self.lock(), &self.endpoint, detail);
    }

    fn fail_locked(st: &mut LinkState, endpoint: &str, detail: &str) {
        if st.outgoing.take().is_some() {
            tracing::debug!(%endpoint, detail, "connection retired");
        }
        st.stop_reader = None;
        st.stop_writer = None;
        for (_, tx) in st.waiters.drain() {
            let _ = tx.send(Delivery::Failed(detail.to_owned()));
        }
    }

    /// Feeds bytes from the socket and hands out the replies. False once the connection
    /// is dead.
    fn absorb(&self, bytes: &[u8]) -> bool {
        let mut st = self.lock();
        st.proto.handle_input(bytes);
        loop {
            match st.proto.poll_event() {
                Ok(Some(Event::Reply(reply))) => {
                    if let Some(tx) = st.waiters.remove(&reply.request_id) {
                        let _ = tx.send(Delivery::Reply(reply));
                    }
                }
                Ok(Some(Event::Closed { unanswered })) => {
                    for id in unanswered {
                        if let Some(tx) = st.waiters.remove(&id) {
                            let _ = tx.send(Delivery::Retry);
                        }
                    }
                    Self::fail_locked(&mut st, &self.endpoint, "server closed the connection");
                    return false;
                }
                Ok(None) => return true,
                Err(e) => {
                    Self::fail_locked(&mut st, &self.endpoint, &e.to_string());
                    return false;
                }
            }
        }
    }
}

/// Retires the link if its task stops for any reason, including being dropped unfinished
/// by a runtime that shuts down.
struct TaskGuard(Arc<Link>, &'static str);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fail(self.1);
    }
}

async fn read_loop<S: AsyncRead + Unpin>(
    link: Arc<Link>,
    mut stream: ReadHalf<S>,
    mut stop: oneshot::Receiver<()>,
) {
    let _guard = TaskGuard(link.clone(), "the connection's reader task stopped");
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let read = poll_fn(|cx| {
            if Pin::new(&mut stop).poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Pin::new(&mut stream).poll_read(cx, &mut buf).map(Some)
        })
        .await;
        match read {
            None => return,
            Some(Ok(0)) => {
                link.fail("server closed the connection");
                return;
            }
            Some(Ok(n)) => {
                if !link.absorb(&buf[..n]) {
                    return;
                }
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Some(Err(e)) => {
                link.fail(&e.to_string());
                return;
            }
        }
    }
}

async fn write_loop<S: AsyncWrite + Unpin>(
    link: Arc<Link>,
    mut stream: WriteHalf<S>,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    mut stop: oneshot::Receiver<()>,
) {
    let _guard = TaskGuard(link.clone(), "the connection's writer task stopped");
    let mut batch = Vec::new();
    while let Some(first) = queue.next().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if link.is_dead() {
            break;
        }
        let write = async {
            stream.write_all(&batch).await?;
            stream.flush().await
        };
        let written = match select(pin!(write), &mut stop).await {
            Either::Left((written, _)) => written,
            Either::Right(_) => return,
        };
        if let Err(e) = written {
            link.fail(&format!("write failed: {e}"));
            return;
        }
    }
    let _ = stream.close().await;
}

/// A registered request: dropping it before the reply abandons the request id, so the
/// late reply is dropped and the connection stays usable.
struct PendingCall {
    link: Arc<Link>,
    id: RequestId,
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        let mut st = self.link.lock();
        if st.waiters.remove(&self.id).is_some() {
            st.proto.abandon(self.id);
        }
    }
}

enum Attempt<T> {
    Done(Result<T>),
    /// The request provably never ran: send it once more on a new connection.
    Retry,
}

/// Connections by runtime type, lower-cased host and port; weak, so a connection closes
/// with its last proxy.
type Pool = Mutex<HashMap<(TypeId, String, u16), Weak<dyn Any + Send + Sync>>>;

/// One server endpoint's async connection for runtime `R`, shared by the proxies of the
/// process (one pool per runtime type). Any number of calls, from any number of tasks, are
/// in flight on it at once.
pub struct AsyncConnection<R: AsyncRuntime> {
    host: String,
    port: u16,
    endpoint: String,
    /// The open connection, if any (dead ones are replaced on the next call).
    link: Mutex<Option<Arc<Link>>>,
    /// Held while connecting, so that concurrent first calls open one connection.
    connecting: futures_util::lock::Mutex<()>,
    connections_made: AtomicU64,
    _runtime: PhantomData<fn() -> R>,
}

impl<R: AsyncRuntime> std::fmt::Debug for AsyncConnection<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncConnection")
            .field("runtime", &R::NAME)
            .field("endpoint", &self.endpoint)
            .field("connections_made", &self.connections_made())
            .finish()
    }
}

impl<R: AsyncRuntime> Drop for AsyncConnection<R> {
    fn drop(&mut self) {
        let link = self
            .link
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(link) = link {
            link.fail("the connection was closed by the client");
        }
    }
}

impl<R: AsyncRuntime> Transport for AsyncConnection<R> {
    fn for_endpoint(host: &str, port: u16) -> Arc<Self> {
        Self::shared(host, port)
    }

    fn call<'a, O: Operation + Sync>(
        &'a self,
        site: CallSite<'a>,
        op: &'a O,
    ) -> impl Future<Output = Result<O::Output>> + Send + 'a
    where
        O::Output: Send,
    {
        self.call_async(site, op)
    }
}

impl<R: AsyncRuntime> AsyncConnection<R> {
    /// The connection to `host:port` on runtime `R` shared by the proxies of this process,
    /// created on first use. The TCP connection itself is opened by the first call.
    pub fn shared(host: &str, port: u16) -> Arc<Self> {
        static POOL: OnceLock<Pool> = OnceLock::new();
        let pool = POOL.get_or_init(Default::default);
        let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
        let key = (TypeId::of::<R>(), host.to_ascii_lowercase(), port);
        if let Some(c) = pool
            .get(&key)
            .and_then(Weak::upgrade)
            .and_then(|c| c.downcast::<Self>().ok())
        {
            return c;
        }
        pool.retain(|_, w| w.strong_count() > 0);
        let c = Arc::new(AsyncConnection::<R> {
            host: host.to_owned(),
            port,
            endpoint: format!("{host}:{port}"),
            link: Mutex::new(None),
            connecting: futures_util::lock::Mutex::new(()),
            connections_made: AtomicU64::new(0),
            _runtime: PhantomData,
        });
        let any: Arc<dyn Any + Send + Sync> = c.clone();
        pool.insert(key, Arc::downgrade(&any));
        c
    }

    /// `host:port`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How many TCP connections this endpoint's connection has opened so far (1 while the
    /// first one lives; one more after each server restart or lost connection).
    pub fn connections_made(&self) -> u64 {
        self.connections_made.load(Ordering::Relaxed)
    }

    /// Calls waiting for a reply right now.
    pub fn in_flight(&self) -> usize {
        self.live_link().map_or(0, |l| l.lock().waiters.len())
    }

    /// True while a TCP connection is open.
    pub fn is_connected(&self) -> bool {
        self.live_link().is_some()
    }

    fn live_link(&self) -> Option<Arc<Link>> {
        self.link
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|l| !l.is_dead())
            .cloned()
    }

    fn lost(&self, operation: &str, detail: impl Into<String>) -> Error {
        Error::ConnectionLost {
            endpoint: self.endpoint.clone(),
            operation: operation.to_owned(),
            detail: detail.into(),
        }
    }

    /// Host names are resolved by the system resolver (blocking, once per connection).
    fn resolve(&self, site: &CallSite<'_>) -> Result<SocketAddr> {
        site.resolve(&self.host, self.port, &self.endpoint)
    }

    fn connect_error(&self, site: &CallSite<'_>, e: io::Error, operation: &str) -> Error {
        site.connect_error(&self.endpoint, e, operation)
    }

    async fn call_async<O: Operation>(&self, site: CallSite<'_>, op: &O) -> Result<O::Output> {
        let deadline = Instant::now() + site.timeout;
        for _ in 0..2 {
            match self.attempt(&site, op, deadline).await? {
                Attempt::Done(r) => return r,
                Attempt::Retry => continue,
            }
        }
        Err(self.lost(
            op.name(),
            "the server closed two fresh connections in a row",
        ))
    }

    async fn attempt<O: Operation>(
        &self,
        site: &CallSite<'_>,
        op: &O,
        deadline: Instant,
    ) -> Result<Attempt<O::Output>> {
        let operation = op.name();
        let timed_out = || site.timed_out(operation);
        let (pending, reply) = {
            let link = self.open(site, operation, deadline).await?;
            let mut st = link.lock();
            let Some(outgoing) = st.outgoing.clone() else {
                // Died between the check and now; the request was not sent.
                return Ok(Attempt::Retry);
            };
            // the call chain of the device code making this call, if any (self-call detection)
            let chain = crate::call_chain::current_context();
            let (id, bytes) = st.proto.encode_request_with(site.object_key, op, chain);
            let (tx, rx) = oneshot::channel();
            st.waiters.insert(id, tx);
            drop(st);
            if outgoing.unbounded_send(bytes).is_err() {
                // The writer task is gone: the request was not sent.
                drop(PendingCall { link, id });
                return Ok(Attempt::Retry);
            }
            (PendingCall { link, id }, rx)
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let delivery = match select(reply, pin!(R::sleep(left))).await {
            Either::Left((Ok(d), _)) => d,
            Either::Left((Err(oneshot::Canceled), _)) => {
                Delivery::Failed("connection closed".to_owned())
            }
            // `pending` drops here: the request id is abandoned, the connection kept.
            Either::Right(_) => return Err(timed_out()),
        };
        drop(pending);
        Ok(match delivery {
            Delivery::Reply(reply) => Attempt::Done(
                reply
                    .decode::<O>()
                    .map_err(|e| Error::from_call(e, site.device, &self.endpoint, operation)),
            ),
            Delivery::Failed(detail) => return Err(self.lost(operation, detail)),
            Delivery::Retry => Attempt::Retry,
        })
    }

    /// The live connection, opened now if there is none (one caller connects; the others
    /// wait for it).
    async fn open(
        &self,
        site: &CallSite<'_>,
        operation: &str,
        deadline: Instant,
    ) -> Result<Arc<Link>> {
        if let Some(link) = self.live_link() {
            return Ok(link);
        }
        let timed_out = || Error::Timeout {
            device: site.device.to_owned(),
            operation: format!("connect for {operation}"),
            after: site.timeout,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let _gate = match select(self.connecting.lock(), pin!(R::sleep(left))).await {
            Either::Left((gate, _)) => gate,
            Either::Right(_) => return Err(timed_out()),
        };
        if let Some(link) = self.live_link() {
            return Ok(link);
        }
        let addr = self.resolve(site)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        let stream = match select(pin!(R::connect(addr)), pin!(R::sleep(left))).await {
            Either::Left((Ok(stream), _)) => stream,
            Either::Left((Err(e), _)) => return Err(self.connect_error(site, e, operation)),
            Either::Right(_) => return Err(timed_out()),
        };
        let (read_half, write_half) = futures_util::io::AsyncReadExt::split(stream);
        let (outgoing, queue) = mpsc::unbounded();
        let (stop_reader, stop_read) = oneshot::channel();
        let (stop_writer, stop_write) = oneshot::channel();
        let link = Arc::new(Link {
            state: Mutex::new(LinkState {
                proto: ClientConnection::new(Version::V1_0),
                waiters: HashMap::new(),
                outgoing: Some(outgoing),
                stop_reader: Some(stop_reader),
                stop_writer: Some(stop_writer),
            }),
            endpoint: self.endpoint.clone(),
        });
        R::spawn(read_loop(link.clone(), read_half, stop_read));
        R::spawn(write_loop(link.clone(), write_half, queue, stop_write));
        self.connections_made.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(endpoint = %self.endpoint, runtime = R::NAME, "connected");
        let old = self
            .link
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(link.clone());
        if let Some(old) = old {
            old.fail("replaced by a new connection");
        }
        Ok(link)
    }
}
