//! [`CoConnection`]: the coroutine transport. One TCP connection per server endpoint,
//! shared by every proxy of the process, with the failure handling of the blocking
//! [`tango_client::Connection`], but every wait parks only the calling coroutine.
//!
//! * Sockets are `may::net::TcpStream`s: a read or write that would block registers the
//!   coroutine with may's event loop and switches to another coroutine; the socket timeout
//!   is may's I/O timer, so a timeout also parks only the coroutine.
//! * Locks are `may::sync::Mutex`es (a contended lock parks the coroutine), and a caller
//!   waiting for its reply waits on its own `may::sync::mpsc` channel: without a timer
//!   when the reader's read ends by the caller's deadline (the reader reads until the
//!   earliest deadline of all waiting callers and wakes those whose deadline passed),
//!   else with `recv_timeout`. No std blocking primitive is ever waited on.
//! * Called from a plain thread (not a coroutine), the same primitives park the thread,
//!   so the transport works from both.
//!
//! Writes are combined: a caller queues its encoded request and, if nobody is writing,
//! writes everything queued (its own and other callers' requests) in one write, a few
//! rounds at most before handing the writing on to a waiting caller.
//!
//! Calls are pipelined as in the blocking transport: each caller writes its request (under
//! a write lock that is separate from the state lock, so that a writer stuck on a full
//! socket never stops the reader from handing out replies) and one waiting caller at a time
//! reads the socket for everybody (leader/follower). Unlike the blocking transport, which
//! wakes every waiter after each read, a reply wakes only its own caller, and when the
//! reader leaves (its reply came, or it timed out) it passes the reading on to one other
//! waiter: with ten thousand coroutines waiting, a read costs one wake-up, not ten thousand.
//!
//! Failure handling, as in the blocking transport:
//! * before a request on an idle connection, the socket is checked for an end-of-file left
//!   by a dead server, and a fresh connection is made (nothing runs twice);
//! * a timeout abandons the request (its late reply is dropped) and keeps the connection;
//! * a broken connection fails the calls in flight and is replaced on the next call;
//! * requests that a `CloseConnection` lists as unanswered are retried once on a new
//!   connection, as are requests that were never written.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use may::net::TcpStream;
use std::sync::mpsc::RecvTimeoutError;

use may::sync::mpsc::{self, Receiver, Sender};
use may::sync::{Mutex, MutexGuard};

use tango_client::{CallSite, Error, Result, Transport};
use tango_core::client::{ClientConnection, Event, Reply, RequestId};
use tango_core::giop::Version;
use tango_core::ops::Operation;

/// Read buffer size: big enough that a typical reply arrives in one `read`.
const READ_CHUNK: usize = 64 * 1024;

/// A connection idle for longer than this is checked for a dead peer before it is used
/// (as in the blocking transport).
const IDLE_CHECK: Duration = Duration::from_millis(5);

/// Socket timeouts in whole milliseconds (at least one), so that consecutive calls reuse
/// the value already set.
fn whole_millis(t: Duration) -> Duration {
    Duration::from_millis((t.as_millis() as u64).max(1))
}

/// The writing half: one writer at a time, outside the state lock.
struct Writer {
    stream: TcpStream,
    timeout: Option<Duration>,
    /// A write failed part-way: the byte stream is corrupt, nothing more may be written.
    broken: bool,
}

impl Writer {
    /// Writes all of `bytes`; on failure, says how many were written.
    fn send(
        &mut self,
        bytes: &[u8],
        left: Duration,
    ) -> std::result::Result<(), (usize, io::Error)> {
        let t = whole_millis(left);
        if self.timeout != Some(t) {
            self.stream.set_write_timeout(Some(t)).map_err(|e| (0, e))?;
            self.timeout = Some(t);
        }
        let mut written = 0;
        while written < bytes.len() {
            match self.stream.write(&bytes[written..]) {
                Ok(0) => return Err((written, io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err((written, e)),
            }
        }
        Ok(())
    }
}

/// How many batches one caller writes in a row before it hands the writing on.
const WRITE_ROUNDS: usize = 4;

/// The reading half, lent to the caller that reads for everybody. A separate
/// `may::net::TcpStream` (its own clone of the socket) from the writer: may keeps one
/// waiting coroutine per stream, so a reader and a writer must not share one.
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

    /// False if the peer has closed its end. Data waiting (a late reply) counts as alive.
    /// may's sockets are non-blocking underneath, so the peek on the inner std socket
    /// answers at once.
    fn peer_still_there(&self) -> bool {
        let mut probe = [0u8; 1];
        match self.stream.inner().peek(&mut probe) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }
}

/// A live TCP connection and its protocol state.
struct Live {
    generation: u64,
    writer: Arc<Mutex<Writer>>,
    /// `None` while lent to the reading caller.
    reader: Option<Reader>,
    proto: ClientConnection,
    last_used: Instant,
    /// Encoded requests not yet written, and where each one ends in it: one caller at a
    /// time writes everything queued in one write (the others' requests included).
    outbox: Vec<u8>,
    outbox_ids: Vec<(RequestId, usize)>,
    /// A caller is writing the outbox.
    writing: bool,
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
            writer: Arc::new(Mutex::new(Writer {
                stream,
                timeout: None,
                broken: false,
            })),
            reader: Some(reader),
            proto: ClientConnection::new(Version::V1_0),
            last_used: Instant::now(),
            outbox: Vec::new(),
            outbox_ids: Vec::new(),
            writing: false,
        })
    }
}

/// What the reader hands to a waiting caller.
enum Delivery {
    Reply(Reply),
    /// The connection broke before the reply came.
    Failed(String),
    /// The server's `CloseConnection` listed the request as unanswered: it never ran.
    Retry,
}

/// A message on a waiting caller's channel.
enum Wake {
    Done(Delivery),
    /// Nobody reads the socket any more: read it if still nobody does.
    Lead,
    /// Requests wait to be written and nobody writes: write them.
    Write,
}

#[derive(Default)]
struct State {
    live: Option<Live>,
    generation: u64,
    /// A caller is reading the socket for everybody.
    reading: bool,
    /// The request of the caller reading, if one is.
    reader_id: Option<RequestId>,
    /// The callers waiting for a reply, by request id: how to wake each one, and its
    /// deadline.
    waiting: HashMap<RequestId, (Sender<Wake>, Instant)>,
    /// The deadlines of the waiting callers, earliest first: the reader reads until the
    /// first and wakes the callers whose deadline passed (they wait without a timer).
    deadlines: BTreeSet<(Instant, RequestId)>,
    /// Until when the reader's current read lasts at most.
    read_until: Option<Instant>,
}

impl State {
    fn deliver(&mut self, id: RequestId, d: Delivery) {
        if let Some((tx, when)) = self.waiting.remove(&id) {
            self.deadlines.remove(&(when, id));
            let _ = tx.send(Wake::Done(d));
        }
    }

    /// The connection is gone: every waiting caller gets `detail`.
    fn fail_all(&mut self, detail: &str) {
        // Requests still queued never went out: they are retried on a new connection.
        if let Some(live) = self.live.take() {
            for (id, _) in live.outbox_ids {
                self.deliver(id, Delivery::Retry);
            }
        }
        self.deadlines.clear();
        for (_, (tx, _)) in self.waiting.drain() {
            let _ = tx.send(Wake::Done(Delivery::Failed(detail.to_owned())));
        }
    }

    fn wait(&mut self, id: RequestId, tx: Sender<Wake>, deadline: Instant) {
        self.waiting.insert(id, (tx, deadline));
        self.deadlines.insert((deadline, id));
    }

    fn unwait(&mut self, id: RequestId) {
        if let Some((_, when)) = self.waiting.remove(&id) {
            self.deadlines.remove(&(when, id));
        }
    }

    /// When the reader must stop reading at the latest: the earliest deadline.
    fn read_deadline(&self, own: Instant) -> Instant {
        self.deadlines.first().map_or(own, |&(d, _)| d.min(own))
    }

    /// Wakes the waiting callers (other than `me`) whose deadline has passed, to give up.
    fn wake_expired(&mut self, me: RequestId) {
        let now = Instant::now();
        let due: Vec<(Instant, RequestId)> = self
            .deadlines
            .iter()
            .take_while(|(d, _)| *d <= now)
            .filter(|(_, id)| *id != me)
            .copied()
            .collect();
        for entry in due {
            self.deadlines.remove(&entry);
            if let Some((tx, _)) = self.waiting.get(&entry.1) {
                let _ = tx.send(Wake::Lead);
            }
        }
    }

    /// If nobody reads the socket, asks one waiting caller to.
    fn hand_lead(&self) {
        if !self.reading {
            if let Some((tx, _)) = self.waiting.values().next() {
                let _ = tx.send(Wake::Lead);
            }
        }
    }
}

/// The delivery already sent to a caller that is no longer in `waiting`.
fn take_done(rx: &Receiver<Wake>) -> Delivery {
    while let Ok(w) = rx.try_recv() {
        if let Wake::Done(d) = w {
            return d;
        }
    }
    Delivery::Failed("the reply was lost".to_owned())
}

/// Connections by lower-cased host and port; weak, so a connection closes with its last proxy.
type Pool = Mutex<HashMap<(String, u16), Weak<CoConnection>>>;

/// One server endpoint's connection for coroutines, shared by proxies and coroutines (and
/// threads). Calls park the calling coroutine, never the OS thread it runs on.
pub struct CoConnection {
    host: String,
    port: u16,
    endpoint: String,
    state: Mutex<State>,
}

impl std::fmt::Debug for CoConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoConnection")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Transport for CoConnection {
    fn for_endpoint(host: &str, port: u16) -> Arc<Self> {
        CoConnection::shared(host, port)
    }

    /// Parks the calling coroutine (or thread) while it waits: the I/O is done before the
    /// (ready) future is returned.
    fn call<'a, O: Operation + Sync>(
        &'a self,
        site: CallSite<'a>,
        op: &'a O,
    ) -> impl std::future::Future<Output = Result<O::Output>> + Send + 'a
    where
        O::Output: Send,
    {
        std::future::ready(self.call_parked(&site, op))
    }
}

enum Attempt<T> {
    Done(Result<T>),
    /// The request provably never reached a server: try once more on a new connection.
    Retry,
}

impl CoConnection {
    /// The shared connection to `host:port`, created on first use.
    pub fn shared(host: &str, port: u16) -> Arc<CoConnection> {
        static POOL: OnceLock<Pool> = OnceLock::new();
        let pool = POOL.get_or_init(Default::default);
        let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
        let key = (host.to_ascii_lowercase(), port);
        if let Some(c) = pool.get(&key).and_then(Weak::upgrade) {
            return c;
        }
        pool.retain(|_, w| w.strong_count() > 0);
        let c = Arc::new(CoConnection {
            host: host.to_owned(),
            port,
            endpoint: format!("{host}:{port}"),
            state: Mutex::default(),
        });
        pool.insert(key, Arc::downgrade(&c));
        c
    }

    /// `host:port`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How many TCP connections this endpoint has opened so far (1 while the first one
    /// lives; each reconnection adds one).
    pub fn connections_made(&self) -> u64 {
        self.lock().generation
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The address to connect to. An IP literal needs no lookup; a host name is resolved
    /// with the system resolver, which blocks the OS thread (may has no asynchronous DNS).
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
    /// `site.timeout` in all (connect, send and receive together), parking the calling
    /// coroutine (or thread) while it waits.
    pub fn call_parked<O: Operation>(&self, site: &CallSite<'_>, op: &O) -> Result<O::Output> {
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

        // 1. A live connection (under the state lock, as the blocking transport does).
        let mut st = self.lock();
        let idle = st.waiting.is_empty() && !st.reading;
        if idle
            && st.live.as_ref().is_some_and(|l| {
                l.last_used.elapsed() > IDLE_CHECK
                    && !l.reader.as_ref().is_some_and(Reader::peer_still_there)
            })
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
        let live = st.live.as_mut().expect("connected above");
        live.last_used = Instant::now();
        let generation = live.generation;
        // The call chain of Synchronous device code running on this thread, if any (never
        // set on may's worker threads: `tango::green` does not carry it into coroutines).
        let chain = tango_client::call_chain::current_context();
        let (id, bytes) = live.proto.encode_request_with(site.object_key, op, chain);
        live.outbox.extend_from_slice(&bytes);
        live.outbox_ids.push((id, live.outbox.len()));
        let (tx, rx) = mpsc::channel();
        st.wait(id, tx, deadline);

        // 2. Write the queue (ours and whatever others queued) unless somebody already
        //    writes it: then it goes out with theirs.
        let (st_back, own) = self.flush(st, generation, Some(id), deadline);
        st = st_back;
        if let Some((e, alone)) = own {
            st.hand_lead();
            drop(st);
            return match e {
                // Another caller's write broke the connection before ours began.
                None => Ok(Attempt::Retry),
                Some(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Err(timed_out()),
                    // The peer reset a connection we had not used since it was checked:
                    // nothing of the request was processed.
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                        if !fresh && alone =>
                    {
                        Ok(Attempt::Retry)
                    }
                    _ => Err(self.lost(operation, e.to_string())),
                },
            };
        }

        // 3. Wait for the reply: read for everybody if nobody does, else wait to be woken.
        loop {
            // Requests queued and nobody writing (the writer moved on): write them.
            st = self.flush(st, generation, None, deadline).0;
            if !st.waiting.contains_key(&id) {
                st.hand_lead();
                drop(st);
                return Ok(self.finish::<O>(take_done(&rx), site, operation));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                st.unwait(id);
                if let Some(live) = st.live.as_mut().filter(|l| l.generation == generation) {
                    live.proto.abandon(id);
                }
                st.hand_lead();
                return Err(timed_out());
            }
            if !st.reading {
                let reader = st
                    .live
                    .as_mut()
                    .filter(|l| l.generation == generation)
                    .and_then(|l| l.reader.take());
                let Some(mut reader) = reader else {
                    // No connection to read from and no delivery: it broke without us.
                    st.unwait(id);
                    st.hand_lead();
                    return Err(self.lost(operation, "connection closed"));
                };
                // Read until the earliest deadline of all waiting callers, then wake
                // those whose deadline passed: they wait without a timer of their own.
                st.wake_expired(id);
                let until = st.read_deadline(deadline);
                st.reading = true;
                st.reader_id = Some(id);
                st.read_until = Some(until);
                drop(st);
                let read = reader.read(until.saturating_duration_since(Instant::now()));
                st = self.lock();
                st.reading = false;
                st.reader_id = None;
                st.read_until = None;
                self.absorb(&mut st, generation, reader, read);
                st.wake_expired(id);
                continue;
            }
            // The reader stops by our deadline: wait without a timer (it wakes us when
            // the deadline passes). Else wait with one.
            let untimed = st.read_until.is_some_and(|u| u <= deadline);
            drop(st);
            let woken = if untimed {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(left)
            };
            match woken {
                Ok(Wake::Done(d)) => return Ok(self.finish::<O>(d, site, operation)),
                // Lead: check under the lock whether to read; timeout: the loop gives up.
                Ok(Wake::Lead | Wake::Write) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let mut st = self.lock();
                    st.unwait(id);
                    st.hand_lead();
                    return Err(self.lost(operation, "the reply was lost"));
                }
            }
            st = self.lock();
        }
    }

    /// Writes the queued requests of connection `generation` if nobody does, a few
    /// batches at most, then hands the writing on to a waiting caller. A failed write
    /// breaks the connection: callers whose request went out whole get the failure,
    /// callers whose request did not are retried. For the caller `me`, a failure of its
    /// own request's write comes back (the error, `None` if the connection was already
    /// broken, and whether no other request was in flight); the caller is then no longer
    /// waiting.
    #[allow(clippy::type_complexity)]
    fn flush<'s>(
        &'s self,
        mut st: MutexGuard<'s, State>,
        generation: u64,
        me: Option<RequestId>,
        deadline: Instant,
    ) -> (MutexGuard<'s, State>, Option<(Option<io::Error>, bool)>) {
        let mut rounds = 0;
        loop {
            let Some(live) = st.live.as_mut().filter(|l| l.generation == generation) else {
                return (st, None);
            };
            if live.writing || live.outbox.is_empty() {
                return (st, None);
            }
            if rounds >= WRITE_ROUNDS {
                let reader = st.reader_id;
                let next = st
                    .waiting
                    .iter()
                    .find(|(k, _)| Some(**k) != me && Some(**k) != reader);
                if let Some((_, (tx, _))) = next {
                    let _ = tx.send(Wake::Write);
                    return (st, None);
                }
            }
            rounds += 1;
            let live = st.live.as_mut().expect("checked above");
            live.writing = true;
            let bytes = std::mem::take(&mut live.outbox);
            let ids = std::mem::take(&mut live.outbox_ids);
            let writer = live.writer.clone();
            drop(st);
            let sent = {
                let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
                if w.broken {
                    Err((0, None))
                } else {
                    let left = deadline.saturating_duration_since(Instant::now());
                    w.send(&bytes, left).map_err(|(n, e)| {
                        w.broken = true;
                        (n, Some(e))
                    })
                }
            };
            drop(writer);
            st = self.lock();
            if let Some(live) = st.live.as_mut().filter(|l| l.generation == generation) {
                live.writing = false;
                // A fresh buffer is cheaper to keep than to grow again.
                if live.outbox.is_empty() {
                    let mut bytes = bytes;
                    bytes.clear();
                    live.outbox = bytes;
                }
            }
            let Err((written, e)) = sent else { continue };
            let detail = e
                .as_ref()
                .map_or_else(|| "connection broken".to_owned(), ToString::to_string);
            let unsent = |end: usize| end > written;
            let mut own = None;
            for &(rid, end) in &ids {
                if Some(rid) == me && unsent(end) {
                    st.unwait(rid);
                    let alone = st
                        .waiting
                        .keys()
                        .all(|k| ids.iter().any(|&(r, e)| r == *k && unsent(e)));
                    own = Some(alone);
                } else if unsent(end) {
                    st.deliver(rid, Delivery::Retry);
                }
            }
            if st.live.as_ref().is_some_and(|l| l.generation == generation) {
                st.fail_all(&detail);
            }
            return (st, own.map(|alone| (e, alone)));
        }
    }

    fn finish<O: Operation>(
        &self,
        d: Delivery,
        site: &CallSite<'_>,
        operation: &str,
    ) -> Attempt<O::Output> {
        match d {
            Delivery::Reply(reply) => Attempt::Done(
                reply
                    .decode::<O>()
                    .map_err(|e| Error::from_call(e, site.device, &self.endpoint, operation)),
            ),
            Delivery::Failed(detail) => Attempt::Done(Err(self.lost(operation, detail))),
            Delivery::Retry => Attempt::Retry,
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
