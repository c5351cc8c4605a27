//! # tango-tokio: the Tango client on tokio (PyTango's Asyncio green mode)
//!
//! The protocol lives in `tango-core` and the proxy logic in `tango-client`; this crate only
//! tells the shared async transport ([`tango_client::AsyncConnection`]) how to open a TCP
//! stream, sleep and spawn on tokio. One connection per server endpoint is shared by every
//! proxy of the process, and any number of requests are in flight on it at once: 10,000
//! concurrent `read_attribute` calls from one task travel on one TCP connection.
//!
//! ```no_run
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> tango_tokio::Result<()> {
//!     let dev = tango_tokio::connect("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no").await?;
//!     println!("state: {}", dev.state().await?);
//!     dev.write_attribute("double_scalar", 12.5).await?;
//!     let value: f64 = dev.read_attribute("double_scalar").await?.get()?;
//!     println!("double_scalar: {value}");
//!     let echo = dev.command_inout("DevString", "hello").await?;
//!     println!("DevString: {echo:?}");
//!     Ok(())
//! }
//! ```
//!
//! Calls must run inside a tokio runtime (with I/O and timers enabled, as `#[tokio::main]`
//! builds it): a call made elsewhere fails with [`Error::CannotConnect`] saying so. A call's
//! timeout (the proxy's, 3 s by default) cancels the request: the caller gets
//! [`Error::Timeout`], the late reply is dropped, and the connection stays up. Dropping a
//! call's future (`tokio::time::timeout`, `select!`, aborting its task) cancels it the same way.
//!
//! The connection's reader and writer tasks run on the runtime that opened it; if that
//! runtime shuts down, the calls still in flight on it (from other runtimes) fail with
//! [`Error::ConnectionLost`], and the next call reconnects on its own runtime.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tango_client::AsyncRuntime;

pub mod server;

#[doc(no_inline)]
pub use tango_client::{
    AsyncConnection, AttributeInfo, AttributeInfoEx, CommandInfo, DeviceAttribute, DeviceInfo,
    Error, FromAttrData, Result, DEFAULT_TIMEOUT,
};
#[doc(no_inline)]
pub use tango_core::any::CommandData;
#[doc(no_inline)]
pub use tango_core::idl::{
    AttrDataFormat, AttrQuality, AttrWriteType, CmdArgType, DevEncoded, DevFailed, DevSource,
    DevState, TimeVal,
};
#[doc(no_inline)]
pub use tango_core::value::{AttrData, FromCommandData, Image, IntoCommandData, WriteValue};

/// What a call made outside a tokio runtime is told.
const NO_RUNTIME: &str = "no tokio runtime: call from within a tokio runtime";

/// The tokio runtime for [`tango_client::AsyncConnection`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

/// A device proxy on tokio: every `DeviceProxy` operation as an `async fn`.
pub type DeviceProxy = tango_client::AsyncDeviceProxy<Tokio>;

/// The shared connection to one server endpoint on tokio.
pub type Connection = tango_client::AsyncConnection<Tokio>;

/// Connects to a device with the default timeout (3 s); see [`tango_client::ProxyCore::connect`]
/// for the accepted names. Same as `DeviceProxy::connect(name, DEFAULT_TIMEOUT)`.
pub async fn connect(name: &str) -> Result<DeviceProxy> {
    DeviceProxy::connect(name, DEFAULT_TIMEOUT).await
}

/// A tokio TCP stream seen through the `futures-io` traits.
#[derive(Debug)]
pub struct TokioStream(tokio::net::TcpStream);

impl TokioStream {
    /// The tokio stream.
    pub fn get_ref(&self) -> &tokio::net::TcpStream {
        &self.0
    }
}

impl futures_io::AsyncRead for TokioStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        match tokio::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl futures_io::AsyncWrite for TokioStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.0), cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}

impl AsyncRuntime for Tokio {
    type Stream = TokioStream;
    const NAME: &'static str = "tokio";

    async fn connect(addr: SocketAddr) -> io::Result<TokioStream> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(NO_RUNTIME));
        }
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(TokioStream(stream))
    }

    fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(fut)),
            Err(_) => panic!("tango-tokio: {NO_RUNTIME}"),
        }
    }

    /// The timer is made on first poll, so that a call outside tokio reaches `connect`
    /// and gets an error rather than a panic here.
    async fn sleep(d: Duration) {
        if tokio::runtime::Handle::try_current().is_err() {
            panic!("tango-tokio: {NO_RUNTIME}");
        }
        tokio::time::sleep(d).await
    }
}
