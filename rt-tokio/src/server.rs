//! A Tango device server in Asyncio green mode on tokio: the async server written once for
//! every runtime ([`tango_smol::server`], generic over the client's
//! [`AsyncRuntime`](tango_client::AsyncRuntime) and a
//! [`Listener`]) with tokio's spawn and sleep ([`crate::Tokio`]) and a listener on tokio's
//! reactor ([`TokioListener`]). What is not I/O lives in the core
//! ([`tango_core::server::adapter::ServerCore`]).
//!
//! One task accepts connections and one task per connection reads GIOP messages; a
//! request that needs device code runs on the reading task unless it waits, and then in a
//! task of its own, so requests pipelined on one connection, and requests to one device,
//! run concurrently: there is no monitor lock, unless a class opts in with
//! [`AsyncClassBuilder::serialized`](tango_core::device::AsyncClassBuilder::serialized)
//! (an async lock: waiting for it never blocks the event loop). A polling task reads
//! polled attributes and commands at their period.
//!
//! Device code may spawn tokio tasks that outlive the request (they get the device data
//! as an `Arc<T>` and its [`DeviceCtx`](tango_core::device::DeviceCtx)), and may call its
//! own device or another device of the server through [`crate::DeviceProxy`] without
//! deadlock.
//!
//! All classes of one server are Asyncio classes: a Synchronous class is refused at start.
//! The admin device (`dserver/<exec>/<instance>`, a Synchronous class of the core) runs
//! its quick calls under a std mutex. `start` must be called inside a tokio runtime with
//! I/O and timers enabled.
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

use std::io;
use std::net::SocketAddr;

use tango_smol::server::{AsyncDeviceServerOn, Listener, RunningServerOn};
use tokio::net::{TcpListener, TcpSocket};

use crate::{Tokio, TokioStream, NO_RUNTIME};

pub use tango_core::server::ServerOptions;

/// A device server in Asyncio green mode on tokio: an executable name and its classes.
pub type AsyncDeviceServer = AsyncDeviceServerOn<Tokio, TokioListener>;

/// A server running on a tokio runtime of this process.
pub type RunningServer = RunningServerOn<Tokio, TokioListener>;

/// A TCP listener on tokio's reactor (of the runtime it was bound in).
#[derive(Debug)]
pub struct TokioListener(TcpListener);

impl Listener for TokioListener {
    type Stream = TokioStream;

    fn bind(addr: SocketAddr) -> io::Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(NO_RUNTIME));
        }
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // As tokio's own `TcpListener::bind`.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(1024).map(TokioListener)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    async fn accept(&self) -> io::Result<(TokioStream, SocketAddr)> {
        let (stream, peer) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok((TokioStream(stream), peer))
    }
}
