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
//! * a broken connection fails the call in flight and is replaced on the next call.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tango_core::client::{ClientConnection, Event};
use tango_core::giop::Version;
use tango_core::ops::Operation;

use crate::error::{Error, Result};

/// Read buffer size: big enough that a typical reply arrives in one `read`.
const READ_CHUNK: usize = 64 * 1024;

/// A connection idle for longer than this is checked for a dead peer before it is used.
/// Back-to-back calls skip the check (it costs three system calls): a server that dies
/// within this window fails the next call with `ConnectionLost`, and the one after
/// reconnects.
const IDLE_CHECK: Duration = Duration::from_millis(5);

/// A live TCP connection and its protocol state.
struct Live {
    stream: TcpStream,
    proto: ClientConnection,
    buf: Vec<u8>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    last_used: Instant,
}

impl Live {
    fn connect(addr: &SocketAddr, timeout: Duration) -> io::Result<Live> {
        let stream = TcpStream::connect_timeout(addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(Live {
            stream,
            proto: ClientConnection::new(Version::V1_0),
            buf: vec![0; READ_CHUNK],
            read_timeout: None,
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

    fn set_read_timeout(&mut self, t: Duration) -> io::Result<()> {
        let t = whole_millis(t);
        if self.read_timeout != Some(t) {
            self.stream.set_read_timeout(Some(t))?;
            self.read_timeout = Some(t);
        }
        Ok(())
    }

    fn set_write_timeout(&mut self, t: Duration) -> io::Result<()> {
        let t = whole_millis(t);
        if self.write_timeout != Some(t) {
            self.stream.set_write_timeout(Some(t))?;
            self.write_timeout = Some(t);
        }
        Ok(())
    }
}

/// Socket timeouts in whole milliseconds (at least one: zero means "forever" to the OS),
/// so that consecutive calls reuse the value already set instead of a setsockopt each.
fn whole_millis(t: Duration) -> Duration {
    Duration::from_millis((t.as_millis() as u64).max(1))
}

/// Connections by lower-cased host and port; weak, so a connection closes with its last proxy.
type Pool = Mutex<HashMap<(String, u16), Weak<Connection>>>;

/// One server endpoint's connection, shared by proxies.
pub(crate) struct Connection {
    host: String,
    port: u16,
    endpoint: String,
    live: Mutex<Option<Live>>,
}

/// What a call is for, to word errors.
pub(crate) struct CallSite<'a> {
    pub device: &'a str,
    pub object_key: &'a [u8],
    pub timeout: Duration,
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
            live: Mutex::new(None),
        });
        pool.insert(key, Arc::downgrade(&c));
        c
    }

    fn resolve(&self, site: &CallSite<'_>) -> Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| Error::CannotConnect {
                device: site.device.to_owned(),
                endpoint: self.endpoint.clone(),
                detail: format!("cannot resolve host {:?}", self.host),
            })
    }

    fn connect_error(&self, site: &CallSite<'_>, e: io::Error, operation: &str) -> Error {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => Error::ServerNotRunning {
                device: site.device.to_owned(),
                endpoint: self.endpoint.clone(),
            },
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout {
                device: site.device.to_owned(),
                operation: format!("connect for {operation}"),
                after: site.timeout,
            },
            _ => Error::CannotConnect {
                device: site.device.to_owned(),
                endpoint: self.endpoint.clone(),
                detail: e.to_string(),
            },
        }
    }

    /// Sends `op` to the object `site.object_key` and waits for its reply, at most
    /// `site.timeout` in all (connect, send and receive together).
    pub(crate) fn call<O: Operation>(&self, site: &CallSite<'_>, op: &O) -> Result<O::Output> {
        let deadline = Instant::now() + site.timeout;
        let mut guard = self.live.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..2 {
            match self.attempt(&mut guard, site, op, deadline)? {
                Attempt::Done(r) => return r,
                Attempt::Retry => continue,
            }
        }
        Err(Error::ConnectionLost {
            endpoint: self.endpoint.clone(),
            operation: op.name().to_owned(),
            detail: "the server closed two fresh connections in a row".to_owned(),
        })
    }

    fn attempt<O: Operation>(
        &self,
        slot: &mut Option<Live>,
        site: &CallSite<'_>,
        op: &O,
        deadline: Instant,
    ) -> Result<Attempt<O::Output>> {
        let operation = op.name();
        let timed_out = || Error::Timeout {
            device: site.device.to_owned(),
            operation: operation.to_owned(),
            after: site.timeout,
        };
        if slot
            .as_mut()
            .is_some_and(|l| l.last_used.elapsed() > IDLE_CHECK && !l.peer_still_there())
        {
            tracing::debug!(endpoint = %self.endpoint, "server closed the connection; reconnecting");
            *slot = None;
        }
        let fresh = slot.is_none();
        if fresh {
            let addr = self.resolve(site)?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            let live =
                Live::connect(&addr, left).map_err(|e| self.connect_error(site, e, operation))?;
            *slot = Some(live);
        }
        let live = slot.as_mut().expect("connected above");
        let (id, bytes) = live.proto.encode_request(site.object_key, op);
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        live.last_used = Instant::now();
        let sent = live
            .set_write_timeout(left)
            .and_then(|_| live.stream.write_all(&bytes));
        if let Err(e) = sent {
            *slot = None;
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Err(timed_out()),
                // The peer reset a connection we had not used since it was checked:
                // nothing of the request was processed.
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset if !fresh => {
                    Ok(Attempt::Retry)
                }
                _ => Err(Error::ConnectionLost {
                    endpoint: self.endpoint.clone(),
                    operation: operation.to_owned(),
                    detail: e.to_string(),
                }),
            };
        }
        loop {
            match live.proto.poll_event() {
                Ok(Some(Event::Reply(reply))) if reply.request_id == id => {
                    return Ok(Attempt::Done(reply.decode::<O>().map_err(|e| {
                        Error::from_call(e, site.device, &self.endpoint, operation)
                    })));
                }
                Ok(Some(Event::Reply(_))) => continue, // cannot happen: one caller at a time
                Ok(Some(Event::Closed { unanswered })) => {
                    *slot = None;
                    // GIOP: requests unanswered at CloseConnection were not processed.
                    return if unanswered.contains(&id) {
                        Ok(Attempt::Retry)
                    } else {
                        Err(Error::ConnectionLost {
                            endpoint: self.endpoint.clone(),
                            operation: operation.to_owned(),
                            detail: "server closed the connection".to_owned(),
                        })
                    };
                }
                Ok(None) => {}
                Err(e) => {
                    *slot = None;
                    return Err(Error::connection(e, &self.endpoint, operation));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                live.proto.abandon(id);
                return Err(timed_out());
            }
            let read = live
                .set_read_timeout(left)
                .and_then(|_| live.stream.read(&mut live.buf));
            match read {
                Ok(0) => {
                    *slot = None;
                    return Err(Error::ConnectionLost {
                        endpoint: self.endpoint.clone(),
                        operation: operation.to_owned(),
                        detail: "server closed the connection before replying".to_owned(),
                    });
                }
                Ok(n) => live.proto.handle_input(&live.buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    live.proto.abandon(id);
                    return Err(timed_out());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    *slot = None;
                    return Err(Error::ConnectionLost {
                        endpoint: self.endpoint.clone(),
                        operation: operation.to_owned(),
                        detail: e.to_string(),
                    });
                }
            }
        }
    }
}
