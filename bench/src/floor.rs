//! The floor: what the loopback and the server allow with no client library at all. The
//! same request our client sends for each operation (`read_attributes_5`,
//! `command_inout_4`), encoded by `tango_core`'s `ClientConnection` (a fresh request id
//! each), written on one bare blocking `TcpStream` with N requests outstanding (new ones
//! written, one `write` per batch, as replies come back), the replies framed and matched to
//! their requests by `tango_core` and their status checked, their bodies not decoded.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tango_core::any::CommandData;
use tango_core::client::{ClientConnection, Event};
use tango_core::giop::{ReplyStatus, Version};
use tango_core::idl::{ClntIdent, DevSource};
use tango_core::ops::{CommandInout4, ReadAttributes5};

use crate::stats::ns_since;
use crate::{es, Op, Res, Runner, Sample};
use crate::{COMMAND, COMMAND_ARG, SCALAR_ATTR, SPECTRUM_ATTR};

/// No reply for this long means the server is stuck: an error, not a hang.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One bare connection to the device `name`.
pub struct Floor {
    stream: TcpStream,
    conn: ClientConnection,
    key: Vec<u8>,
    buf: Vec<u8>,
    out: Vec<u8>,
    sent: HashMap<u32, Instant>,
}

impl Floor {
    /// Connects to the server of the no-database device `name`.
    pub fn connect(name: &str) -> Res<Floor> {
        let parsed = tango_core::name::TangoName::parse_device(name).map_err(es)?;
        let (host, port) = match parsed.endpoint(None).map_err(es)? {
            tango_core::name::Endpoint::Device { host, port } => (host, port),
            other => return Err(format!("{other:?} is not a no-database device")),
        };
        let stream = TcpStream::connect((host.as_str(), port)).map_err(es)?;
        stream.set_nodelay(true).map_err(es)?;
        stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(es)?;
        Ok(Floor {
            stream,
            // Tango's no-database mode speaks GIOP 1.0, as our client does.
            conn: ClientConnection::new(Version::V1_0),
            key: parsed.object_key(),
            buf: vec![0u8; 256 * 1024],
            out: Vec::new(),
            sent: HashMap::new(),
        })
    }

    /// Appends one request for `op` to the output buffer and notes when it was made.
    fn push_request(&mut self, op: Op) {
        let ident = ClntIdent::Cpp(std::process::id());
        let source = DevSource::CacheDev;
        let attr = |name: &str| ReadAttributes5 {
            names: vec![name.to_owned()],
            source,
            ident: ident.clone(),
        };
        let (id, bytes) = match op {
            Op::ReadScalar => self.conn.encode_request(&self.key, &attr(SCALAR_ATTR)),
            Op::ReadSpectrum => self.conn.encode_request(&self.key, &attr(SPECTRUM_ATTR)),
            Op::Command => self.conn.encode_request(
                &self.key,
                &CommandInout4 {
                    command: COMMAND.to_owned(),
                    argin: CommandData::Double(COMMAND_ARG),
                    source,
                    ident: ident.clone(),
                },
            ),
        };
        self.out.extend_from_slice(&bytes);
        self.sent.insert(id, Instant::now());
    }

    /// Keeps `depth` requests for `op` outstanding for `dur`, then waits for the rest.
    pub fn turn(&mut self, op: Op, depth: usize, dur: Duration) -> Res<Sample> {
        let t0 = Instant::now();
        let stop = t0 + dur;
        let mut lat = Vec::with_capacity(1 << 14);
        self.out.clear();
        for _ in 0..depth {
            self.push_request(op);
        }
        self.stream.write_all(&self.out).map_err(es)?;
        while !self.sent.is_empty() {
            let n = self.stream.read(&mut self.buf).map_err(|e| {
                format!(
                    "no reply from the server ({} outstanding): {e}",
                    self.sent.len()
                )
            })?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            self.conn.handle_input(&self.buf[..n]);
            self.out.clear();
            while let Some(event) = self.conn.poll_event().map_err(es)? {
                let Event::Reply(reply) = event else {
                    return Err("the server closed the connection".into());
                };
                if reply.status != ReplyStatus::NoException {
                    return Err(format!("{op:?} answered {:?}", reply.status));
                }
                let started = self
                    .sent
                    .remove(&reply.request_id)
                    .ok_or("a reply to no request of ours")?;
                lat.push(ns_since(started));
                if Instant::now() < stop {
                    self.push_request(op);
                }
            }
            if !self.out.is_empty() {
                self.stream.write_all(&self.out).map_err(es)?;
            }
        }
        Ok(Sample::since(t0, lat))
    }

    /// Sizes in bytes of one request for `op` and of its reply (whole GIOP messages).
    pub fn message_sizes(&mut self, op: Op) -> Res<(usize, usize)> {
        self.out.clear();
        self.push_request(op);
        let request = self.out.len();
        self.stream.write_all(&self.out).map_err(es)?;
        let mut reply = 0;
        while !self.sent.is_empty() {
            let n = self.stream.read(&mut self.buf).map_err(es)?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            reply += n;
            self.conn.handle_input(&self.buf[..n]);
            while let Some(Event::Reply(r)) = self.conn.poll_event().map_err(es)? {
                self.sent.remove(&r.request_id);
            }
        }
        Ok((request, reply))
    }

    /// This connection as a [`Runner`].
    pub fn into_runner(mut self) -> Runner {
        Box::new(move |op, depth, dur| self.turn(op, depth, dur))
    }
}

/// Connects the floor to the device `name`.
pub fn connect(name: &str) -> Res<Runner> {
    Floor::connect(name).map(Floor::into_runner)
}
